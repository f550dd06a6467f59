//! Any bytes as CSV (comma and tab names), then as a table with the default options.
#![no_main]
use bprop::data::{parse_csv, table_from_grid, CsvOptions, TableOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["fuzz.csv", "fuzz.tsv"] {
        if let Ok(grid) = parse_csv(data, name, &CsvOptions::default()) {
            let _ = table_from_grid::<f32>(&grid, &TableOptions::default());
        }
    }
});
