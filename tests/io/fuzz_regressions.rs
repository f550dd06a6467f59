//! Every input that ever made a parser fail (panic, abort, or memory beyond its bound),
//! from the fuzz targets in `fuzz/` and from the hostile-input campaign of issue 15, kept
//! as a file in `tests/fixtures/fuzz/<target>/` and run here through the same calls as
//! its target. Each must now give a typed error (files named `ok-*`: a result), and none
//! may panic.

use bprop::data::{
    parse_csv, parse_fann, parse_npy, read_idx_from, table_from_dataset, table_from_grid, CsvOptions, TableOptions,
};
use bprop::io::{parse_fann_net, parse_model, AnyModel};
use bprop::BpropError;
use std::path::Path;

/// What the fuzz target `target` does with `bytes`, as one result.
fn run(target: &str, bytes: &[u8]) -> Result<(), BpropError> {
    match target {
        "model_file" | "model_header" => {
            let bytes = if target == "model_header" {
                match crate::seal::seal_input(bytes) {
                    Some(b) => b,
                    // Not a header the target seals: the target skips it.
                    None => return Ok(()),
                }
            } else {
                bytes.to_vec()
            };
            let schema = match parse_model(&bytes, "fuzz.bprop")? {
                AnyModel::F32(m) => m.meta.schema,
                AnyModel::F64(m) => m.meta.schema,
            };
            if let Some(schema) = schema {
                let grid = parse_csv(
                    &b"a,b,c,d,y\n0.5,1,2,3,x\n1.5,0,1,2,y\n"[..],
                    "f.csv",
                    &CsvOptions::default(),
                )?;
                let opts = TableOptions {
                    schema: Some(schema),
                    ..TableOptions::default()
                };
                table_from_grid::<f32>(&grid, &opts)?;
            }
            Ok(())
        }
        "csv" => {
            let grid = parse_csv(bytes, "fuzz.csv", &CsvOptions::default())?;
            table_from_grid::<f32>(&grid, &TableOptions::default()).map(drop)
        }
        "npy" => {
            let grid = parse_npy(bytes, "fuzz.npy")?.into_grid("fuzz.npy")?;
            table_from_grid::<f64>(&grid, &TableOptions::default()).map(drop)
        }
        "idx" => read_idx_from(bytes, "fuzz.idx", 1 << 24).map(drop),
        "fann" => {
            let d = parse_fann::<f32, _>(bytes, "fuzz.train")?;
            table_from_dataset("fuzz.train", &d, None, &TableOptions::default()).map(drop)
        }
        "fann_net" => parse_fann_net(&String::from_utf8_lossy(bytes), "fuzz.net").map(drop),
        other => panic!("no fuzz target {other}"),
    }
}

#[test]
fn every_input_that_ever_failed_gives_a_typed_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut count = 0;
    for target in ["model_file", "model_header", "csv", "npy", "idx", "fann", "fann_net"] {
        let dir = root.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let r = std::panic::catch_unwind(|| run(target, &bytes));
            match r {
                Err(_) => panic!("{target}/{name}: panicked"),
                Ok(Ok(())) if !name.starts_with("ok-") => panic!("{target}/{name}: read without an error"),
                Ok(Err(e)) if name.starts_with("ok-") => panic!("{target}/{name}: {e}"),
                _ => {}
            }
            count += 1;
        }
    }
    assert!(count >= 8, "only {count} regression inputs found");
}
