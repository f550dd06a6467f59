//! Structure-aware: the input is a model file's JSON header (tensor entries and the
//! `__metadata__` with bprop's document), followed by a 0 byte and the tensor data. The
//! target computes the checksum bprop would, so mutants pass it and reach every check of
//! the header's meaning; a model that reads is then used to read a small CSV against its
//! schema, as `bprop eval` and `predict` do.
#![no_main]
use bprop::data::{parse_csv, table_from_grid, CsvOptions, TableOptions};
use bprop::io::{parse_model, AnyModel};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The container for `header` and `data`, with the checksum bprop computes, or `None`
/// when the header lacks what the checksum needs. The tests' copy is `tests/io/seal.rs`
/// (this crate cannot use theirs), which `tests/io/fuzz_regressions.rs` replays this
/// target's failures through.
fn seal(mut header: Value, data: &[u8]) -> Option<Vec<u8>> {
    let mut h = crc32fast::Hasher::new();
    h.update(b"bprop-model");
    h.update(header.get("__metadata__")?.get("bprop")?.as_str()?.as_bytes());
    let map = header.as_object()?;
    let mut names: Vec<&String> = map.keys().filter(|k| *k != "__metadata__").collect();
    names.sort();
    for name in names {
        let t = &map[name];
        let offsets = t.get("data_offsets")?.as_array()?;
        let (a, b) = (offsets.first()?.as_u64()? as usize, offsets.get(1)?.as_u64()? as usize);
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(t.get("dtype")?.as_str()?.as_bytes());
        for d in t.get("shape")?.as_array()? {
            h.update(&d.as_u64()?.to_le_bytes());
        }
        h.update(data.get(a..b)?);
    }
    let sum = format!("crc32:{:08x}", h.finalize());
    header
        .get_mut("__metadata__")?
        .as_object_mut()?
        .insert("checksum".into(), Value::String(sum));
    let mut hb = serde_json::to_vec(&header).ok()?;
    hb.resize(hb.len().next_multiple_of(8), b' ');
    let mut out = (hb.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&hb);
    out.extend_from_slice(data);
    Some(out)
}

const CSV: &[u8] = b"a,b,c,d,y\n0.5,1,2,3,x\n1.5,0,1,2,y\n2.5,1,0,1,x\n";
const CSV_NO_HEADER: &[u8] = b"0.5,1,2,3,x\n1.5,0,1,2,y\n";

fuzz_target!(|input: &[u8]| {
    let split = input.iter().position(|&b| b == 0).unwrap_or(input.len());
    let (json, data) = (&input[..split], input.get(split + 1..).unwrap_or(&[]));
    let Ok(header) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let Some(bytes) = seal(header, data) else {
        return;
    };
    let schema = match parse_model(&bytes, "fuzz.bprop") {
        Ok(AnyModel::F32(m)) => m.meta.schema,
        Ok(AnyModel::F64(m)) => m.meta.schema,
        Err(_) => return,
    };
    let Some(schema) = schema else { return };
    for csv in [CSV, CSV_NO_HEADER] {
        let grid = parse_csv(csv, "fuzz.csv", &CsvOptions::default()).expect("a fixed, valid CSV");
        for optional in [false, true] {
            let opts = TableOptions {
                schema: Some(schema.clone()),
                targets_optional: optional,
                ..TableOptions::default()
            };
            let _ = table_from_grid::<f32>(&grid, &opts);
        }
    }
});
