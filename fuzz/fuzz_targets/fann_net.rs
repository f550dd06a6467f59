//! Any text as a FANN `.net` file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = bprop::io::parse_fann_net(&text, "fuzz.net");
});
