//! ONNX export against onnxruntime: every activation, biases on and off, with and without
//! input scaling (and, for identity outputs, target scaling), f32 and f64 models are exported, run through onnxruntime (CPU provider)
//! by `tests/onnx_check.py`, and compared with bprop's own predictions; the same script
//! validates each file with `onnx.checker` (full check) and reports its structure (IR
//! version, opset, input and output names, types and shapes, operators), which is checked
//! here, as is that the bytes are protobuf's canonical serialization.
//!
//! The Python packages come from PyPI (`python3 -m pip install onnxruntime numpy onnx`;
//! `.ci/run` installs them). Without them these tests **fail**, saying what to install;
//! they never skip.

use bprop::cpu;
use bprop::data::scale::TargetScaling;
use bprop::data::{read_npy, ScaleKind, Scaling, Schema, Task};
use bprop::io::onnx::{IR_VERSION, OPSET_VERSION};
use bprop::io::{to_onnx, write_model, write_onnx, ModelFile};
use bprop::model::{Activation, Init, Loss, Network, NetworkSpec, Real};
use bprop::BpropError;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INSTALL: &str = "python3 -m pip install onnxruntime numpy onnx";
const ROWS: usize = 64;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx_check.py")
}

fn python(args: &[&std::ffi::OsStr]) -> Output {
    Command::new("python3").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}); the ONNX tests need Python 3 with onnxruntime: {INSTALL}")
    })
}

/// Runs `tests/onnx_check.py` on (model, inputs, outputs) triples: one JSON report each.
fn onnxruntime(triples: &[[PathBuf; 3]]) -> Vec<Value> {
    let mut args = vec![script().into_os_string()];
    args.extend(triples.iter().flatten().map(|p| p.clone().into_os_string()));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = python(&args);
    assert!(
        out.status.success(),
        "tests/onnx_check.py failed ({}); the ONNX tests need onnxruntime, numpy and onnx ({INSTALL}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON report per model"))
        .collect();
    assert_eq!(reports.len(), triples.len());
    reports
}

/// `ROWS` × `width` inputs in [−3, 3], exact in f32 so both precisions see the same numbers.
fn inputs(width: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((ROWS, width), |_| rng.random_range(-3.0f32..3.0) as f64)
}

/// What `bprop predict` computes: scale the inputs, run the network (CPU path).
fn bprop_outputs<T: Real>(m: &ModelFile<T>, x: &Array2<f64>) -> Array2<f64> {
    let mut x = x.mapv(T::of);
    if let Some(s) = &m.scaling {
        s.apply(&mut x).unwrap();
    }
    let mut y = cpu::predict(&m.network, x.view(), ROWS).unwrap();
    if let Some(t) = &m.meta.target_scaling {
        t.undo(&mut y).unwrap();
    }
    y.mapv(|v| v.f64())
}

fn model<T: Real>(act: Activation, bias: bool, scaled: bool, seed: u64) -> ModelFile<T> {
    let (hidden, out, loss) = match act {
        Activation::Softmax => (Activation::Tanh, 4, Loss::CrossEntropy),
        a => (a, 2, Loss::Mse),
    };
    let spec = NetworkSpec::new(3, loss);
    let spec = if bias {
        spec.layer(5, hidden).layer(out, act)
    } else {
        spec.layer_without_bias(5, hidden).layer_without_bias(out, act)
    };
    let mut m = ModelFile::new(Network::<T>::random(&spec, Init::Auto, seed).unwrap());
    if scaled {
        m.scaling = Some(Scaling {
            kind: ScaleKind::Standardize,
            offset: vec![5.0, -120.0, 0.3],
            scale: vec![2.0, 40.0, 0.01],
        });
        if act == Activation::Identity {
            // A regression model trained on standardized targets (linnerud-like ranges).
            m.meta.target_scaling = Some(TargetScaling {
                offset: vec![178.6, 35.4],
                scale: vec![24.69, 3.2],
            });
        }
    }
    if act == Activation::Softmax {
        m.meta.schema = Some(Schema {
            task: Task::Classification,
            inputs: 3,
            outputs: 4,
            input_names: Some(vec!["x".into(), "y".into(), "z".into()]),
            target_names: Some(vec!["class".into()]),
            columns: Some(4),
            target_columns: Some(vec![3]),
            labels: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
            encoded: true,
            preprocess: None,
        });
    }
    m
}

/// One exported model and what onnxruntime must give for it.
struct Case {
    name: String,
    files: [PathBuf; 3],
    want: Array2<f64>,
    /// |onnx − bprop| ≤ tol · max(1, |bprop|).
    tol: f64,
    elem_type: u64,
    ops: Vec<&'static str>,
    initializers: Vec<String>,
    outputs: usize,
    labels: Option<&'static str>,
}

fn case<T: Real>(dir: &Path, act: Activation, bias: bool, scaled: bool, seed: u64) -> Case {
    let m = model::<T>(act, bias, scaled, seed);
    let name = format!(
        "{}_{}_{}_{}",
        act.to_string().replace([':', '.'], "_"),
        if bias { "bias" } else { "nobias" },
        if scaled { "scaled" } else { "raw" },
        T::NAME
    );
    let files = ["onnx", "in.npy", "out.npy"].map(|ext| dir.join(format!("{name}.{ext}")));
    write_onnx(&files[0], &m).unwrap();
    // Raw inputs that the scaling maps to [−3, 3], as standardized data would be.
    let mut x = inputs(3, seed);
    if let Some(s) = &m.scaling {
        for mut row in x.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (s.offset[j] + s.scale[j] * *v) as f32 as f64;
            }
        }
    }
    std::fs::write(
        &files[1],
        bprop::data::npy::npy_f64_bytes(x.as_slice().unwrap(), ROWS, 3),
    )
    .unwrap();
    let f32_exact_slope = match act {
        Activation::LeakyRelu { slope } => slope as f32 as f64 == slope,
        _ => true,
    };
    let mut ops = Vec::new();
    let mut initializers = Vec::new();
    if let Some(s) = &m.scaling {
        // f32 graphs subtract an offset that f32 cannot hold as f32(o), then the remainder.
        let split = T::NAME == "f32" && s.offset.iter().any(|&o| o as f32 as f64 != o);
        ops.extend(if split {
            &["Sub", "Sub", "Div"][..]
        } else {
            &["Sub", "Div"]
        });
        initializers.push("scaling.offset".to_string());
        if split {
            initializers.push("scaling.offset_lo".to_string());
        }
        initializers.push("scaling.scale".to_string());
    }
    for (l, layer) in m.network.layers().iter().enumerate() {
        ops.push("Gemm");
        initializers.push(format!("layer.{l}.weight"));
        if bias {
            initializers.push(format!("layer.{l}.bias"));
        }
        ops.extend(match layer.activation {
            Activation::Identity => None,
            Activation::Sigmoid => Some("Sigmoid"),
            Activation::Tanh => Some("Tanh"),
            Activation::Relu => Some("Relu"),
            Activation::LeakyRelu { .. } => Some("LeakyRelu"),
            Activation::Softmax => Some("Softmax"),
        });
    }
    if m.meta.target_scaling.is_some() {
        ops.extend(["Mul", "Add"]);
        initializers.extend(["target_scaling.scale".to_string(), "target_scaling.offset".to_string()]);
    }
    Case {
        want: bprop_outputs(&m, &x),
        // f32 graphs: the 1e-6 promised (measured: up to 2.8e-7; summation order, ORT's
        // f32 exp/tanh). f64 graphs compute as bprop does (measured: up to 4.5e-16), except that
        // LeakyRelu's alpha is an f32 attribute: a slope not exact in f32 changes negative
        // outputs by up to 2⁻²⁴·s·|z| (measured: 1.3e-9 for s = 0.01).
        tol: match (T::NAME, f32_exact_slope) {
            ("f32", _) => 1e-6,
            (_, false) => 1e-8,
            _ => 1e-12,
        },
        elem_type: if T::NAME == "f32" { 1 } else { 11 },
        outputs: m.network.outputs(),
        labels: (act == Activation::Softmax).then_some(r#"["a","b","c","d"]"#),
        name,
        files,
        ops,
        initializers,
    }
}

#[test]
fn every_activation_with_and_without_bias_and_scaling_in_f32_and_f64_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::LeakyRelu { slope: 0.25 },
        Activation::Softmax,
    ];
    let mut cases = Vec::new();
    let mut seed = 1;
    for act in acts {
        for bias in [true, false] {
            for scaled in [false, true] {
                seed += 1;
                cases.push(case::<f32>(dir.path(), act, bias, scaled, seed));
                cases.push(case::<f64>(dir.path(), act, bias, scaled, seed));
            }
        }
    }
    let triples: Vec<[PathBuf; 3]> = cases.iter().map(|c| c.files.clone()).collect();
    let reports = onnxruntime(&triples);

    for (c, r) in cases.iter().zip(&reports) {
        let n = &c.name;
        assert_eq!(r["ir_version"], json!(IR_VERSION), "{n}");
        assert_eq!(r["opsets"], json!({ "": OPSET_VERSION }), "{n}");
        assert_eq!(r["producer"], "bprop", "{n}");
        assert_eq!(r["canonical"], true, "{n}: bytes differ from protobuf's serialization");
        assert_eq!(
            r["inputs"],
            json!([{"name": "input", "elem_type": c.elem_type, "shape": ["N", 3]}]),
            "{n}"
        );
        assert_eq!(
            r["outputs"],
            json!([{"name": "output", "elem_type": c.elem_type, "shape": ["N", c.outputs]}]),
            "{n}"
        );
        assert_eq!(r["ops"], json!(c.ops), "{n}");
        assert_eq!(r["initializers"], json!(c.initializers), "{n}");
        let dtype = if c.elem_type == 1 { "float32" } else { "float64" };
        assert_eq!(r["output_dtype"], dtype, "{n}");
        assert_eq!(
            r["metadata"]["bprop.precision"],
            if c.elem_type == 1 { "f32" } else { "f64" }
        );
        if let Some(labels) = c.labels {
            assert_eq!(r["metadata"]["bprop.labels"], labels, "{n}");
        }

        let got = read_npy(&c.files[2]).unwrap();
        assert_eq!(got.shape, [ROWS, c.outputs], "{n}");
        // The largest difference relative to the output's scale, max(1, max |y|): sums in
        // another order differ in the last f32 bits of their largest terms, not of their
        // result.
        let scale = c.want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
        let worst = got
            .values
            .iter()
            .zip(c.want.iter())
            .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()))
            / scale;
        assert!(
            worst <= c.tol,
            "{n}: onnxruntime differs from bprop by {worst:e} (relative to max(1, max |y|) = {scale}); allowed {:e}",
            c.tol
        );
    }
}

/// `bprop export --format onnx` (or `-o NAME.onnx`) writes what [`to_onnx`] gives, for the
/// model's precision or the one asked for; `--precision` is refused for FANN.
#[test]
fn the_command_writes_the_library_s_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let m = model::<f64>(Activation::Softmax, true, true, 7);
    let path = dir.path().join("m.bprop");
    write_model(&path, &m).unwrap();
    let bprop = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bprop"))
            .args(args)
            .output()
            .expect("the binary runs")
    };
    let p = path.to_str().unwrap();
    let onnx = dir.path().join("m.onnx");
    let o = onnx.to_str().unwrap();

    let out = bprop(&["export", p, "--format", "onnx", "-o", o]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("opset 17") && stdout.contains("double"), "{stdout}");
    assert_eq!(std::fs::read(&onnx).unwrap(), to_onnx(&m).unwrap());

    // The format follows a .onnx name when not given.
    let plain = dir.path().join("plain.onnx");
    let out = bprop(&["export", p, "-o", plain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&plain).unwrap(), to_onnx(&m).unwrap());

    let out = bprop(&["export", p, "--format", "onnx", "--precision", "f32", "-o", o]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&onnx).unwrap(), to_onnx(&m.cast::<f32>()).unwrap());

    let out = bprop(&["export", p, "--format", "fann", "--precision", "f32", "-o", o]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format onnx only"));
    // The failed export left the earlier file as it was.
    assert_eq!(std::fs::read(&onnx).unwrap(), to_onnx(&m.cast::<f32>()).unwrap());
}

#[test]
fn a_scaling_that_does_not_fit_is_a_typed_error() {
    let mut m = model::<f32>(Activation::Tanh, true, true, 3);
    m.scaling.as_mut().unwrap().scale[1] = 0.0;
    assert!(matches!(
        to_onnx(&m),
        Err(BpropError::InvalidArgument { name: "scaling", .. })
    ));
    m.scaling = Some(Scaling {
        kind: ScaleKind::MinMax,
        offset: vec![0.0; 2],
        scale: vec![1.0; 2],
    });
    assert!(matches!(to_onnx(&m), Err(BpropError::Shape { .. })));
}

/// Without the Python packages the helper exits with what to install (and the tests above
/// fail with its message): `-S -E` hides site-packages and PYTHONPATH from it.
#[test]
fn missing_onnxruntime_fails_saying_what_to_install() {
    let script = script().into_os_string();
    let out = python(&["-S".as_ref(), "-E".as_ref(), script.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pip install onnxruntime numpy"), "{stderr}");
}

/// A `.npy` file of strings (`<U{n}`: UTF-32LE code points, padded with zeros).
fn npy_strings(rows: &[Vec<String>]) -> Vec<u8> {
    let cols = rows.first().map_or(0, Vec::len);
    let n = rows
        .iter()
        .flatten()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut header = format!(
        "{{'descr': '<U{n}', 'fortran_order': False, 'shape': ({}, {cols}), }}",
        rows.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for s in rows.iter().flatten() {
        let mut chars: Vec<u32> = s.chars().map(u32::from).collect();
        chars.resize(n, 0);
        out.extend(chars.iter().flat_map(|c| c.to_le_bytes()));
    }
    out
}

/// A table with numeric and text columns, missing values in both: the preprocessing stage
/// (median imputation, indicators, one-hot categories, an unseen category) exported with
/// the network, its scaling and target scaling, in f32 and f64, against bprop's own
/// reading of the same rows through the model's schema.
#[test]
fn text_columns_and_missing_values_match_onnxruntime() {
    use bprop::data::{load_table, ColumnRef, Format, Impute, TableOptions};
    use bprop::driver::TrainPlan;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let colors = ["red", "green", "blue", "NA", ""];
    let sizes = ["S", "M", "L", "?"];
    // Columns a, color, b, size, y.
    let row = |i: usize| -> Vec<String> {
        let a = if i % 7 == 3 {
            String::new()
        } else {
            format!("{}", (i * 37 % 50) as f64 / 4.0)
        };
        let b = if i % 11 == 5 {
            "NaN".to_string()
        } else {
            format!("{}", 100.0 + (i * 13 % 29) as f64)
        };
        let y = format!("{}", 150.0 + (i * 17 % 41) as f64);
        vec![a, colors[i % 5].to_string(), b, sizes[i % 4].to_string(), y]
    };
    let mut train = String::from("a,color,b,size,y\n");
    for i in 0..80 {
        train += &(row(i).join(",") + "\n");
    }
    std::fs::write(d.join("train.csv"), train).unwrap();
    // New rows: every missing spelling, an unseen category, plain values.
    let mut fresh: Vec<Vec<String>> = (80..100).map(row).collect();
    for (k, m) in ["", "?", "NA", "nan", "null", "<NA>", "N/A"].iter().enumerate() {
        fresh.push(vec![
            if k % 2 == 0 { String::new() } else { "2.5".into() },
            m.to_string(),
            "NaN".into(),
            ["XL", m, "S"][k % 3].to_string(),
            "0".into(),
        ]);
    }
    let csv: String = std::iter::once("a,color,b,size,y".to_string())
        .chain(fresh.iter().map(|r| r.join(",")))
        .map(|l| l + "\n")
        .collect();
    std::fs::write(d.join("new.csv"), csv).unwrap();

    fn export<T: Real>(d: &Path, fresh: &[Vec<String>]) -> ([PathBuf; 3], Array2<f64>, Vec<usize>) {
        let opts = TableOptions {
            targets: vec![ColumnRef::Name("y".into())],
            impute: Some(Impute::Median),
            missing_indicator: true,
            ..TableOptions::default()
        };
        let table = load_table::<T>(d.join("train.csv"), &opts).unwrap();
        let run = TrainPlan::default().resolve(&table, Some(Format::Csv)).unwrap();
        let mut m = ModelFile::new(run.network.clone());
        m.scaling = run.scaling.clone();
        m.meta.target_scaling = run.target_scaling.clone();
        m.meta.schema = Some(run.schema.clone());
        let p = run.schema.preprocess.clone().unwrap();
        let files = ["onnx", "num.npy", "out.npy"].map(|e| d.join(format!("tables_{}.{e}", T::NAME)));
        write_onnx(&files[0], &m).unwrap();
        // bprop: the new file read through the model's schema, as eval and predict do.
        let read = TableOptions {
            schema: Some(run.schema.clone()),
            targets_optional: true,
            ..TableOptions::default()
        };
        let t = load_table::<T>(d.join("new.csv"), &read).unwrap();
        assert!(t.warnings.iter().any(|w| w.contains("(XL)")), "{:?}", t.warnings);
        let want = bprop_outputs(&m, &t.inputs.mapv(|v| v.f64()));
        // onnxruntime: the numeric columns as numbers (NaN where missing), the text ones
        // as given.
        let positions: Vec<usize> = p.columns.iter().map(|c| c.position).collect();
        let numeric: Vec<usize> = p
            .columns
            .iter()
            .filter(|c| !c.is_categorical())
            .map(|c| c.position)
            .collect();
        let text: Vec<usize> = p
            .columns
            .iter()
            .filter(|c| c.is_categorical())
            .map(|c| c.position)
            .collect();
        let nums: Vec<f64> = fresh
            .iter()
            .flat_map(|r| numeric.iter().map(|&c| r[c].parse::<f64>().unwrap_or(f64::NAN)))
            .collect();
        std::fs::write(
            &files[1],
            bprop::data::npy::npy_f64_bytes(&nums, fresh.len(), numeric.len()),
        )
        .unwrap();
        let strings: Vec<Vec<String>> = fresh
            .iter()
            .map(|r| text.iter().map(|&c| r[c].clone()).collect())
            .collect();
        let cat = d.join(format!("tables_{}_cat.npy", T::NAME));
        std::fs::write(&cat, npy_strings(&strings)).unwrap();
        let mut feed = files[1].clone().into_os_string();
        feed.push("+");
        feed.push(&cat);
        let files = [files[0].clone(), PathBuf::from(feed), files[2].clone()];
        (files, want, positions)
    }
    let (f32_files, f32_want, positions) = export::<f32>(d, &fresh);
    let (f64_files, f64_want, _) = export::<f64>(d, &fresh);
    assert_eq!(positions, [0, 1, 2, 3], "the stage keeps the table's order");
    let reports = onnxruntime(&[f32_files.clone(), f64_files.clone()]);
    for ((files, want, tol, elem), r) in [(f32_files, f32_want, 1e-6, 1), (f64_files, f64_want, 1e-12, 11)]
        .into_iter()
        .zip(&reports)
    {
        assert_eq!(r["canonical"], true, "bytes differ from protobuf's serialization");
        assert_eq!(r["opsets"], json!({ "": OPSET_VERSION, "ai.onnx.ml": 2 }));
        assert_eq!(
            r["inputs"],
            json!([
                {"name": "input", "elem_type": elem, "shape": ["N", 2]},
                {"name": "categories", "elem_type": 8, "shape": ["N", 2]}
            ])
        );
        assert_eq!(r["metadata"]["bprop.numeric_inputs"], r#"["a","b"]"#);
        assert_eq!(r["metadata"]["bprop.text_inputs"], r#"["color","size"]"#);
        let ops: Vec<&str> = r["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        for op in ["IsNaN", "Where", "LabelEncoder", "OneHotEncoder", "Concat"] {
            assert!(ops.contains(&op), "{op} in {ops:?}");
        }
        let got = read_npy(&files[2]).unwrap();
        assert_eq!(got.shape, [want.nrows(), 1]);
        let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
        let worst = got
            .values
            .iter()
            .zip(want.iter())
            .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()))
            / scale;
        assert!(
            worst <= tol,
            "onnxruntime differs from bprop by {worst:e} (allowed {tol:e})"
        );
    }
}
