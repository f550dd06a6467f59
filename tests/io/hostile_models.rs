//! Model files that are valid containers with a valid checksum but lie in their header:
//! every field is checked against the network before anything is built from it, and each
//! lie is a `ModelFile` error naming the file, never a panic.

use bprop::data::{Schema, Task};
use bprop::io::{parse_model, ModelFile, ModelMeta, TrainingSettings};
use bprop::model::{Activation, Hyper, Init, Loss, Network, NetworkSpec, OptimState, Optimizer};
use bprop::BpropError;
use serde_json::{json, Value};

/// A small classification model with a schema, settings and optimizer state.
fn model() -> ModelFile<f32> {
    let spec = NetworkSpec::new(2, Loss::CrossEntropy)
        .layer(3, Activation::Tanh)
        .layer(2, Activation::Softmax);
    let network = Network::<f32>::random(&spec, Init::Auto, 3).unwrap();
    let optimizer = Some(OptimState::new(Optimizer::ADAM, &network));
    ModelFile {
        network,
        scaling: None,
        optimizer,
        meta: ModelMeta {
            schema: Some(Schema {
                task: Task::Classification,
                inputs: 2,
                outputs: 2,
                input_names: Some(vec!["a".into(), "b".into()]),
                target_names: Some(vec!["y".into()]),
                columns: Some(3),
                target_columns: Some(vec![2]),
                labels: Some(vec!["no".into(), "yes".into()]),
                encoded: true,
                preprocess: None,
            }),
            training: Some(TrainingSettings {
                hyper: Hyper::sgd(0.1),
                epochs: 3,
                epochs_done: 3,
                steps_done: 30,
                batch_size: 4,
                seed: 1,
                validation: None,
                patience: None,
                backend: "CPU".into(),
                data: None,
                samples: 40,
                stopped: "all epochs ran".into(),
                seconds: 0.5,
            }),
            history: Vec::new(),
            written_by: "test".into(),
            target_scaling: None,
        },
    }
}

/// Splits a model file into its JSON header and its tensor data.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        bytes[8 + n..].to_vec(),
    )
}

/// The container for a header and data, with the checksum bprop would compute
/// (`crate::seal`), so that the file passes every check up to the meaning of its fields.
fn seal(header: Value, data: &[u8]) -> Vec<u8> {
    crate::seal::seal(header, data).expect("the header has what the checksum needs")
}

/// The model with its `bprop` document edited, resealed.
fn with_doc(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, data) = split(&model().to_bytes().unwrap());
    let mut doc: Value = serde_json::from_str(header["__metadata__"]["bprop"].as_str().unwrap()).unwrap();
    edit(&mut doc);
    header["__metadata__"]["bprop"] = json!(doc.to_string());
    seal(header, &data)
}

#[track_caller]
fn refused(bytes: &[u8]) -> String {
    match parse_model(bytes, "hostile.bprop") {
        Err(BpropError::ModelFile { path, why }) => {
            assert_eq!(path, "hostile.bprop");
            why
        }
        other => panic!("expected a ModelFile error, got {other:?}"),
    }
}

#[test]
fn the_unedited_model_reads_back() {
    let bytes = with_doc(|_| {});
    assert!(parse_model(&bytes, "m").is_ok());
}

#[test]
fn a_layer_of_zero_inputs_and_absurd_units_is_refused_before_building() {
    // 0 inputs and 2^63 + 1 units: the weight tensor has no bytes, so the container and
    // the checksum accept it.
    let units = (1u64 << 63) + 1;
    let mut header = json!({"__metadata__": {"format": "bprop-model", "format_version": "1"}});
    let doc = json!({
        "dtype": "f32",
        "architecture": {"inputs": 1, "layers": [
            {"units": 0, "activation": {"name": "tanh"}, "bias": false},
            {"units": units, "activation": {"name": "tanh"}, "bias": false}
        ], "loss": "mse"},
        "scaling": null, "optimizer": null,
    });
    header["__metadata__"]["bprop"] = json!(doc.to_string());
    header["layer.0.weight"] = json!({"dtype": "F32", "shape": [0, 1], "data_offsets": [0, 0]});
    header["layer.1.weight"] = json!({"dtype": "F32", "shape": [units, 0], "data_offsets": [0, 0]});
    let why = refused(&seal(header, &[]));
    assert!(why.contains("layer 0 has 0 units"), "{why}");
}

#[test]
fn a_schema_that_does_not_fit_the_network_is_refused() {
    let cases: Vec<(&str, Value)> = vec![
        ("target_columns", json!([])),
        ("target_columns", json!([99])),
        ("target_columns", json!([2, 2])),
        ("columns", json!(7)),
        ("columns", json!(null)),
        ("input_names", json!(["a"])),
        ("target_names", json!(["y", "z"])),
        ("labels", json!(["only"])),
        ("labels", json!(null)),
    ];
    for (field, value) in cases {
        let bytes = with_doc(|d| d["schema"][field] = value.clone());
        let why = refused(&bytes);
        assert!(why.contains("schema"), "{field} = {value}: {why}");
    }
}

#[test]
fn a_preprocessing_stage_that_lies_is_refused() {
    // The model's two inputs from a numeric column and a text column of one category:
    // consistent, it reads.
    let stage = json!({"columns": [
        {"position": 0, "fill": 1.5, "indicator": false},
        {"position": 1, "categories": ["x"], "fill_category": "x"}
    ], "impute": "mean"});
    let good = with_doc(|d| d["schema"]["preprocess"] = stage.clone());
    let m = parse_model(&good, "m").unwrap();
    assert!(matches!(m, bprop::io::AnyModel::F32(ref f) if f.meta.schema.as_ref().unwrap().preprocess.is_some()));
    let edits: Vec<(&str, Value)> = vec![
        ("/columns/1/categories", json!(["x", "y"])),
        ("/columns/1/categories", json!(["x", "x"])),
        ("/columns/1/categories", json!(["NA"])),
        ("/columns/1/fill_category", json!("z")),
        ("/columns/0/fill", json!(null)),
        ("/columns/1/position", json!(0)),
        ("/columns/1/position", json!(2)),
        ("/columns/1/position", json!(9)),
        ("/columns/0/indicator", json!(true)),
        ("/impute", json!(null)),
        ("/columns", json!([])),
    ];
    for (at, value) in edits {
        let mut s = stage.clone();
        *s.pointer_mut(at).unwrap_or_else(|| panic!("{at}")) = value.clone();
        let why = refused(&with_doc(|d| d["schema"]["preprocess"] = s.clone()));
        assert!(why.contains("schema"), "{at} = {value}: {why}");
    }
}

#[test]
fn non_finite_parameters_or_state_are_corrupt() {
    for target in ["layer.0.weight", "optimizer.1.bias.1"] {
        let (header, mut data) = split(&model().to_bytes().unwrap());
        let at = header[target]["data_offsets"][0].as_u64().unwrap() as usize;
        data[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let why = refused(&seal(header, &data));
        assert!(
            why.contains("corrupt") && why.contains(target) && why.contains("NaN"),
            "{why}"
        );
    }
}

#[test]
fn a_non_string_format_version_says_what_it_is() {
    let (mut header, data) = split(&model().to_bytes().unwrap());
    header["__metadata__"]["format_version"] = json!(1);
    let why = refused(&seal(header, &data));
    assert!(why.contains("the number 1") && !why.contains("None"), "{why}");
}

#[test]
fn appended_bytes_are_trailing_data_not_truncation() {
    let mut bytes = model().to_bytes().unwrap();
    bytes.extend_from_slice(b"appended");
    let why = refused(&bytes);
    assert!(why.contains("trailing data") && why.contains("8 bytes"), "{why}");
    assert!(!why.contains("truncated"), "{why}");
}

#[test]
fn absurd_counters_are_refused() {
    for (field, value) in [
        ("epochs_done", json!(u64::MAX)),
        ("epochs", json!(1u64 << 54)),
        ("steps_done", json!(u64::MAX)),
        ("seconds", json!(-1.0)),
    ] {
        let bytes = with_doc(|d| d["training"][field] = value.clone());
        let why = refused(&bytes);
        assert!(why.contains(field), "{field}: {why}");
    }
    let bytes = with_doc(|d| d["optimizer"]["step"] = json!(u64::MAX));
    assert!(refused(&bytes).contains("optimizer step"));
}
