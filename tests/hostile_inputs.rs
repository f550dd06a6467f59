//! Hostile data files: text cut at byte offsets that are not character boundaries, headers
//! declaring more than can fit, inputs without end, special files. Each is a typed error
//! naming the file (and the place or the limit), never a panic or unbounded memory.

use bprop::data::{self, parse_npy, CsvOptions};
use bprop::io::parse_fann_net;
use bprop::BpropError;

/// A `.npy` file (version 1.0) with `dict` as its header and `data` after it.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = dict.as_bytes().to_vec();
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

#[test]
fn a_npy_descr_starting_with_a_multibyte_character_is_an_error() {
    let bytes = npy("{'descr': 'éf8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]);
    match parse_npy(&bytes, "x.npy") {
        Err(BpropError::Parse { path, message, .. }) => {
            assert_eq!(path, "x.npy");
            assert!(message.contains("unsupported element type 'éf8'"), "{message}");
        }
        other => panic!("expected a Parse error, got {other:?}"),
    }
}

#[test]
fn a_fann_net_with_multibyte_text_where_a_tuple_is_expected_is_an_error() {
    let text = "FANN_FLO_2.1\nnetwork_type=0\nlayer_sizes=2 2\n\
                neurons (num_inputs, activation_function, activation_steepness)=ééééééééééééééééééééé\n\
                connections (connected_to_neuron, weight)=\n";
    match parse_fann_net(text, "n.net") {
        Err(BpropError::ModelFile { path, why }) => {
            assert_eq!(path, "n.net");
            assert!(why.contains("expected `(`") && why.contains("éééé..."), "{why}");
        }
        other => panic!("expected a ModelFile error, got {other:?}"),
    }
}

#[test]
fn csv_reader_accepts_plain_input() {
    let g = data::parse_csv(&b"a,b\n1,2\n"[..], "t.csv", &CsvOptions::default()).unwrap();
    assert_eq!((g.rows, g.cols), (1, 2));
}
