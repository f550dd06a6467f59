//! A model container sealed with the checksum bprop computes, written here from the file
//! format's description (`src/io/model_file.rs`'s module doc), so that a hostile header
//! passes the checksum and reaches every check of its meaning. The same sealing as the
//! structure-aware fuzz target's (`fuzz/fuzz_targets/model_header.rs`, a crate of its own).

use serde_json::Value;

/// The container for `header` and `data`: the header with `checksum` set to the CRC-32 of
/// `bprop-model`, the `bprop` document and each tensor (name, 0, dtype, shape, bytes; in
/// name order), padded to 8 bytes, after its length; `None` when the header lacks what the
/// checksum needs.
pub fn seal(mut header: Value, data: &[u8]) -> Option<Vec<u8>> {
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

/// The structure-aware fuzz target's input (a JSON header, a 0 byte, the tensor data),
/// sealed as the target seals it; `None` for an input the target skips.
pub fn seal_input(input: &[u8]) -> Option<Vec<u8>> {
    let split = input.iter().position(|&b| b == 0).unwrap_or(input.len());
    let (json, data) = (&input[..split], input.get(split + 1..).unwrap_or(&[]));
    seal(serde_json::from_slice(json).ok()?, data)
}
