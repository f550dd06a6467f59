//! Any bytes as a model file: an error or a model, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bprop::io::parse_model(data, "fuzz.bprop");
});
