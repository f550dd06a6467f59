//! Any bytes as a `.npy` file, then as a table.
#![no_main]
use bprop::data::{parse_npy, table_from_grid, TableOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = parse_npy(data, "fuzz.npy") {
        if let Ok(grid) = a.into_grid("fuzz.npy") {
            let _ = table_from_grid::<f64>(&grid, &TableOptions::default());
        }
    }
});
