//! Any bytes as an IDX file (raw or gzipped), with a 16 MiB bound on declared data.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bprop::data::read_idx_from(data, "fuzz.idx", 1 << 24);
});
