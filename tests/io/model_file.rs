//! Model files: bit-exact round trips in f32 and f64 (parameters, optimizer state, scaling,
//! schema, settings, history); files refused with a clear `ModelFile` error when written by
//! a newer format version, truncated anywhere, corrupted (checksum), or declaring absurd
//! sizes (refused at once, without allocating); saves that fail part-way leave the previous
//! file whole and no temporary file behind.

use bprop::data::{ScaleKind, Scaling, Schema, Task};
use bprop::io::{
    parse_model, read_model, write_atomic_with, write_model, AnyModel, History, ModelFile, ModelMeta, TrainingSettings,
    FORMAT_VERSION, FORMAT_VERSION_PLAIN,
};
use bprop::model::{
    Activation, Dropout, Hyper, Init, Loss, Network, NetworkSpec, OptimState, Optimizer, Real, Schedule,
};
use bprop::BpropError;
use std::collections::HashMap;

fn net<T: Real>() -> Network<T> {
    let spec = NetworkSpec::new(3, Loss::CrossEntropy)
        .layer(5, Activation::LeakyRelu { slope: 0.125 })
        .layer_without_bias(4, Activation::Tanh)
        .layer(3, Activation::Softmax);
    Network::random(&spec, Init::Auto, 11).unwrap()
}

/// A model with every part filled, the optimizer state holding distinct values.
fn model<T: Real>() -> ModelFile<T> {
    let network = net::<T>();
    let mut state = OptimState::new(Optimizer::ADAM, &network);
    state.step = 77;
    let mut x = 0.0f64;
    for [a, b] in state.weights.iter_mut() {
        for v in a.iter_mut().chain(b.iter_mut()) {
            x += 0.37;
            *v = T::of(x.sin() / 3.0);
        }
    }
    for [a, b] in state.bias.iter_mut() {
        for v in a.iter_mut().chain(b.iter_mut()) {
            x += 0.11;
            *v = T::of(x.cos());
        }
    }
    let hyper = Hyper {
        optimizer: Optimizer::ADAM,
        learning_rate: 0.003,
        schedule: Schedule::Cosine {
            total: 1000,
            min_lr: 1e-5,
        },
        weight_decay: 1e-4,
        max_norm: Some(3.5),
        dropout: Some(Dropout {
            input: 0.2,
            hidden: 0.5,
            seed: u64::MAX - 3,
        }),
    };
    ModelFile {
        network,
        scaling: Some(Scaling {
            kind: ScaleKind::Standardize,
            offset: vec![0.1, -2.5, 1e-300],
            scale: vec![3.0, 0.1, 7.25],
        }),
        optimizer: Some(state),
        meta: ModelMeta {
            schema: Some(Schema {
                task: Task::Classification,
                inputs: 3,
                outputs: 3,
                input_names: Some(vec!["a".into(), "b, with comma".into(), "ç".into()]),
                target_names: Some(vec!["label".into()]),
                columns: Some(4),
                target_columns: Some(vec![3]),
                labels: Some(vec!["x".into(), "y".into(), "z\"q".into()]),
                encoded: true,
                preprocess: None,
            }),
            training: Some(TrainingSettings {
                hyper,
                epochs: 10,
                epochs_done: 10,
                steps_done: 77,
                batch_size: 8,
                seed: 5,
                validation: Some(0.1),
                patience: Some(3),
                backend: "CPU path (ndarray, f64)".into(),
                data: Some("train.csv".into()),
                samples: 60,
                stopped: "all epochs ran".into(),
                seconds: 1.25,
            }),
            history: vec![History {
                epoch: 1,
                train_loss: 0.1 + 0.2,
                val_loss: Some(1.0 / 3.0),
                val_accuracy: None,
            }],
            written_by: "bprop test".into(),
            target_scaling: None,
        },
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The `ModelFile` error's message, asserting the variant and that it names the file.
#[track_caller]
fn model_err<T: std::fmt::Debug>(r: Result<T, BpropError>, name: &str) -> String {
    match r {
        Err(BpropError::ModelFile { path, why }) => {
            assert!(path.contains(name), "{path} should name {name}");
            why
        }
        other => panic!("expected a ModelFile error, got {other:?}"),
    }
}

#[test]
fn round_trip_is_bit_exact_in_f32_and_f64() {
    let dir = tmp();
    let p32 = dir.path().join("m32.bprop");
    let p64 = dir.path().join("m64.bprop");
    let (m32, m64) = (model::<f32>(), model::<f64>());
    write_model(&p32, &m32).unwrap();
    write_model(&p64, &m64).unwrap();
    match read_model(&p32).unwrap() {
        AnyModel::F32(back) => assert_eq!(back, m32),
        other => panic!("expected f32, got {}", other.precision()),
    }
    match read_model(&p64).unwrap() {
        AnyModel::F64(back) => {
            // PartialEq on f64 is exact; check the bits as well for the parameters.
            for (a, b) in back.network.layers().iter().zip(m64.network.layers()) {
                assert!(a
                    .weights
                    .iter()
                    .zip(b.weights.iter())
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
            }
            assert_eq!(back, m64);
        }
        other => panic!("expected f64, got {}", other.precision()),
    }
    // The same model writes the same bytes.
    assert_eq!(m64.to_bytes().unwrap(), m64.to_bytes().unwrap());
}

#[test]
fn a_model_with_nothing_but_a_network_round_trips() {
    let m = ModelFile::new(net::<f64>());
    let bytes = m.to_bytes().unwrap();
    assert_eq!(parse_model(&bytes, "x").unwrap(), AnyModel::F64(m));
}

#[test]
fn the_file_is_a_safetensors_file_with_the_documented_names() {
    let bytes = model::<f32>().to_bytes().unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    for n in [
        "layer.0.weight",
        "layer.0.bias",
        "layer.1.weight",
        "layer.2.bias",
        "optimizer.1.weight.1",
        "optimizer.2.bias.0",
        "scaling.offset",
        "scaling.scale",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"layer.1.bias"), "layer 1 has no bias");
    assert_eq!(st.tensor("layer.0.weight").unwrap().shape(), &[5, 3]);
    assert_eq!(st.tensor("layer.0.weight").unwrap().dtype(), safetensors::Dtype::F32);
    assert_eq!(st.tensor("scaling.scale").unwrap().dtype(), safetensors::Dtype::F64);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let md = meta.metadata().as_ref().unwrap();
    assert_eq!(md["format"], "bprop-model");
    assert_eq!(md["format_version"], FORMAT_VERSION_PLAIN.to_string());
    assert!(md["checksum"].starts_with("crc32:"));
    let doc: serde_json::Value = serde_json::from_str(&md["bprop"]).unwrap();
    assert_eq!(doc["architecture"]["layers"][0]["activation"]["slope"], 0.125);
    assert_eq!(doc["training"]["hyper"]["optimizer"]["rule"], "adam");
}

/// Rewrites the JSON header of a model file with `edit` (keeping it a valid container).
fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn a_newer_format_version_is_refused_naming_it() {
    let bytes = model::<f32>().to_bytes().unwrap();
    let newer = with_header(&bytes, |h| {
        h["__metadata__"]["format_version"] = serde_json::Value::String("7".into());
    });
    let why = model_err(parse_model(&newer, "future.bprop"), "future.bprop");
    assert!(
        why.contains("newer") && why.contains("version 7") && why.contains("Upgrade"),
        "{why}"
    );
    // Even when the rest of the file is something this version cannot read.
    let mut strange = with_header(&bytes, |h| {
        h["__metadata__"]["format_version"] = serde_json::Value::String((FORMAT_VERSION + 1).to_string());
        h["__metadata__"]["bprop"] = serde_json::Value::String("{\"new\": true}".into());
    });
    strange.truncate(strange.len() - 4);
    let why = model_err(parse_model(&strange, "f"), "f");
    assert!(why.contains(&format!("version {}", FORMAT_VERSION + 1)), "{why}");
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let dir = tmp();
    let path = dir.path().join("cut.bprop");
    let bytes = model::<f32>().to_bytes().unwrap();
    let mut cuts: Vec<usize> = (0..64).collect();
    cuts.extend((64..bytes.len()).step_by(97));
    cuts.push(bytes.len() - 1);
    for cut in cuts {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let why = model_err(read_model(&path), "cut.bprop");
        assert!(
            why.contains("truncated") || why.contains("corrupt"),
            "cut at {cut} of {}: {why}",
            bytes.len()
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_in_the_data_fails_the_checksum() {
    let bytes = model::<f64>().to_bytes().unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for at in (8 + n..bytes.len()).step_by(53) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let why = model_err(parse_model(&bad, "flip"), "flip");
        assert!(why.contains("checksum mismatch"), "byte {at}: {why}");
    }
    // A changed setting in the header (still valid JSON) fails it too.
    let edited = with_header(&bytes, |h| {
        let doc = h["__metadata__"]["bprop"].as_str().unwrap().replace("0.003", "0.004");
        h["__metadata__"]["bprop"] = serde_json::Value::String(doc);
    });
    assert!(model_err(parse_model(&edited, "e"), "e").contains("checksum mismatch"));
}

#[test]
fn absurd_sizes_are_refused_without_allocating() {
    let dir = tmp();
    let path = dir.path().join("absurd.bprop");
    // A header length of 2^63: refused from the first 8 bytes.
    let mut bytes = (1u64 << 63).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, &bytes).unwrap();
    let why = model_err(read_model(&path), "absurd.bprop");
    assert!(why.contains("header length") && why.contains("truncated"), "{why}");

    // A tensor declaring 2^40 x 2^20 elements in 8 bytes of data.
    let header = serde_json::json!({
        "__metadata__": {"format": "bprop-model", "format_version": "1", "bprop": "{}", "checksum": "crc32:0"},
        "layer.0.weight": {"dtype": "F32", "shape": [1u64 << 40, 1u64 << 20], "data_offsets": [0, 8]}
    });
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&[0; 8]);
    std::fs::write(&path, &bytes).unwrap();
    let why = model_err(read_model(&path), "absurd.bprop");
    assert!(why.contains("corrupt"), "{why}");

    // An architecture claiming a billion units, with its real (small) tensors: the
    // tensors' shapes are checked against it before any use.
    let good = model::<f32>().to_bytes().unwrap();
    let huge = with_header(&good, |h| {
        let doc = h["__metadata__"]["bprop"]
            .as_str()
            .unwrap()
            .replacen("\"units\":5", "\"units\":1000000000", 1);
        h["__metadata__"]["bprop"] = serde_json::Value::String(doc);
    });
    assert!(model_err(parse_model(&huge, "h"), "h").contains("checksum"));
}

#[test]
fn other_files_are_not_models() {
    // A safetensors file without bprop's metadata.
    let data = vec![0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
    let bytes = safetensors::serialize([("w", view)], None::<HashMap<String, String>>).unwrap();
    assert!(model_err(parse_model(&bytes, "st"), "st").contains("not a bprop model"));
    // Text.
    let why = model_err(parse_model(b"4 2 1\n0 0\n0\n", "text"), "text");
    assert!(why.contains("truncated") || why.contains("not"), "{why}");
    // Tiny.
    assert!(model_err(parse_model(b"abc", "tiny"), "tiny").contains("truncated"));
}

#[test]
fn a_failed_save_leaves_the_previous_model_whole() {
    let dir = tmp();
    let path = dir.path().join("model.bprop");
    let old = model::<f32>();
    write_model(&path, &old).unwrap();
    let before = std::fs::read(&path).unwrap();

    // The writer fails half-way through (a full disk, a killed process's last write).
    let new_bytes = ModelFile::new(net::<f32>()).to_bytes().unwrap();
    let r = write_atomic_with(&path, |w| {
        w.write_all(&new_bytes[..new_bytes.len() / 2])?;
        Err(std::io::Error::other("disk full"))
    });
    assert!(matches!(r, Err(BpropError::Io { .. })), "{r:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the old file is untouched");
    assert_eq!(read_model(&path).unwrap(), AnyModel::F32(old.clone()));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("model.bprop")],
        "no temporary file left"
    );

    // The rename fails (the target is a directory): the directory stays, no temp file.
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("inside"), b"keep").unwrap();
    assert!(matches!(write_model(&target, &old), Err(BpropError::Io { .. })));
    assert_eq!(std::fs::read(target.join("inside")).unwrap(), b"keep");
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn saving_over_a_model_replaces_it_whole() {
    let dir = tmp();
    let path = dir.path().join("m.bprop");
    write_model(&path, &model::<f64>()).unwrap();
    let small = ModelFile::new(net::<f32>());
    write_model(&path, &small).unwrap();
    assert_eq!(read_model(&path).unwrap(), AnyModel::F32(small));
}

#[test]
fn casting_a_model_between_precisions() {
    let m = model::<f32>();
    let back: ModelFile<f32> = AnyModel::F64(m.cast::<f64>()).cast();
    assert_eq!(back, m, "f32 -> f64 -> f32 is exact");
    assert_eq!(AnyModel::F32(m.clone()).precision(), "f32");
}

#[test]
fn a_state_or_scaling_that_does_not_fit_is_refused_on_save() {
    let mut m = model::<f32>();
    m.scaling.as_mut().unwrap().offset.pop();
    m.scaling.as_mut().unwrap().scale.pop();
    assert!(matches!(
        m.to_bytes(),
        Err(BpropError::InvalidArgument { name: "scaling", .. })
    ));
    let mut m = model::<f32>();
    m.optimizer.as_mut().unwrap().weights.pop();
    assert!(matches!(m.to_bytes(), Err(BpropError::InvalidArgument { .. })));
}
