//! The input limit set through the environment (`BPROP_MAX_INPUT_BYTES`): one test, since
//! the variable is the process's.

use bprop::data::{read_csv, CsvOptions, MAX_INPUT_BYTES_VAR};
use bprop::io::read_model;
use bprop::BpropError;

#[test]
fn the_environment_sets_the_input_limit() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    std::fs::write(&p, "a,b\n".to_string() + &"1,2\n".repeat(500)).unwrap();
    assert_eq!(read_csv(&p, &CsvOptions::default()).unwrap().rows, 500);

    std::env::set_var(MAX_INPUT_BYTES_VAR, "1000");
    match read_csv(&p, &CsvOptions::default()) {
        Err(e @ BpropError::InputLimit { limit: 1000, .. }) => {
            assert!(e.to_string().contains(MAX_INPUT_BYTES_VAR), "{e}");
        }
        other => panic!("expected an InputLimit error, got {other:?}"),
    }
    let m = dir.path().join("m.bprop");
    std::fs::write(&m, vec![0u8; 2000]).unwrap();
    assert!(matches!(
        read_model(&m),
        Err(BpropError::InputLimit { limit: 1000, .. })
    ));

    std::env::set_var(MAX_INPUT_BYTES_VAR, "lots");
    match read_csv(&p, &CsvOptions::default()) {
        Err(BpropError::InvalidArgument { name, .. }) => assert_eq!(name, MAX_INPUT_BYTES_VAR),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    std::env::remove_var(MAX_INPUT_BYTES_VAR);
    assert_eq!(read_csv(&p, &CsvOptions::default()).unwrap().rows, 500);
}
