//! Any bytes as FANN training data (raw or gzipped), in both precisions, then as a table.
#![no_main]
use bprop::data::{parse_fann, table_from_dataset, TableOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = parse_fann::<f32, _>(data, "fuzz.train") {
        let _ = table_from_dataset("fuzz.train", &d, None, &TableOptions::default());
    }
    let _ = parse_fann::<f64, _>(data, "fuzz.train");
});
