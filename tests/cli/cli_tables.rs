//! Tables as users have them, through the binary: text input columns one-hot encoded with
//! categories from the training part, unseen categories warned of and encoded as zeros,
//! `--ignore`/`--features` remembered by eval and predict, a pandas index column left out,
//! missing values counted per column or filled by `--impute` (with indicators). Predictions
//! are checked against the encoding computed here from the saved stage and the network.

use crate::spawn::bprop;
use bprop::data::{Impute, Schema};
use bprop::io::{read_model, AnyModel, ModelFile};
use ndarray::Array2;
use std::path::Path;

/// Runs and asserts success; returns (stdout, stderr).
#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    let out = bprop(dir, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "bprop {args:?} failed:\n{stderr}\n{stdout}");
    (stdout, stderr)
}

/// Runs and asserts failure with exit code 1; returns stderr.
#[track_caller]
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "bprop {args:?} should fail: {stderr}");
    stderr
}

fn model_f64(path: &Path) -> ModelFile<f64> {
    match read_model(path).unwrap() {
        AnyModel::F64(m) => m,
        AnyModel::F32(_) => panic!("an f64 model was trained"),
    }
}

fn schema(m: &ModelFile<f64>) -> &Schema {
    m.meta.schema.as_ref().expect("a schema")
}

/// `n` rows: a pandas index, a number `size`, a text `color` and a label that depends on
/// both.
fn shop(n: usize) -> String {
    let colors = ["red", "green", "blue"];
    let mut s = String::from(",size,color,label\n");
    for i in 0..n {
        let c = colors[(i * 7 + i / 3) % 3];
        let size = ((i * 37) % 100) as f64 / 10.0;
        let label = if c == "red" || size > 7.0 { "yes" } else { "no" };
        s += &format!("{i},{size},{c},{label}\n");
    }
    s
}

/// Parses predict's CSV: the header and the rows' fields.
fn predictions(csv: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    (
        header,
        lines.map(|l| l.split(',').map(String::from).collect()).collect(),
    )
}

/// The model's outputs for `x` (already encoded): the input scaling, the network, and the
/// targets' scaling undone.
fn outputs(m: &ModelFile<f64>, mut x: Array2<f64>) -> Array2<f64> {
    if let Some(s) = &m.scaling {
        s.apply(&mut x).unwrap();
    }
    let mut y = bprop::cpu::predict(&m.network, x.view(), 64).unwrap();
    if let Some(t) = &m.meta.target_scaling {
        t.undo(&mut y).unwrap();
    }
    y
}

#[track_caller]
fn assert_close(row: &[String], want: &[f64]) {
    let got: Vec<f64> = row[1..].iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12, "{got:?} != {want:?}");
    }
}

#[test]
fn text_columns_are_one_hot_encoded_and_unseen_categories_are_zeros_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("shop.csv"), shop(60)).unwrap();
    let (out, _) = ok(
        d,
        &[
            "train",
            "shop.csv",
            "--precision",
            "f64",
            "--backend",
            "cpu",
            "--epochs",
            "30",
            "-q",
            "-o",
            "m.bprop",
        ],
    );
    assert!(
        out.contains("column 0 has no name in the header (a pandas index): not an input"),
        "{out}"
    );
    assert!(out.contains("2 input columns"), "{out}");
    assert!(
        out.contains("`color`: text, 3 categories one-hot encoded (blue, green, red)"),
        "{out}"
    );
    let m = model_f64(&d.join("m.bprop"));
    let s = schema(&m);
    assert_eq!(
        s.input_names.as_deref(),
        Some(&["size".to_string(), "color".to_string()][..])
    );
    let p = s.preprocess.as_ref().expect("a preprocessing stage");
    assert_eq!(p.columns.iter().map(|c| c.position).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(p.columns[1].categories.as_deref().unwrap(), ["blue", "green", "red"]);
    assert_eq!((p.width(), s.inputs, m.network.inputs()), (4, 4, 4));
    // The numeric column is standardized, the codes are left as 0/1.
    let sc = m.scaling.as_ref().unwrap();
    assert_eq!((&sc.offset[1..], &sc.scale[1..]), (&[0.0; 3][..], &[1.0; 3][..]));
    assert!(sc.scale[0] != 1.0);
    // The model file says it needs a reader that knows the stage.
    let (info, _) = ok(d, &["info", "m.bprop"]);
    assert!(info.contains("format version 2"), "{info}");

    // Predict: by name, columns in another order, an unseen category.
    std::fs::write(
        d.join("new.csv"),
        "color,size\nred,2.5\npurple,8.0\nblue,9.5\npurple,1.0\n",
    )
    .unwrap();
    let (csv, err) = ok(d, &["predict", "m.bprop", "new.csv"]);
    assert!(
        err.contains("warning: `color` (column 0): 2 row(s) hold categories the model was not trained on (purple)"),
        "{err}"
    );
    let (header, rows) = predictions(&csv);
    assert_eq!(header, ["prediction", "p_no", "p_yes"]);
    // size, blue, green, red: purple is all zeros.
    let x = ndarray::array![
        [2.5, 0.0, 0.0, 1.0],
        [8.0, 0.0, 0.0, 0.0],
        [9.5, 1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0]
    ];
    let y = outputs(&m, x);
    for (r, row) in rows.iter().enumerate() {
        assert_close(row, &y.row(r).to_vec());
    }
    // The GPU path reads the same encoding (f64 on the device: the same numbers to
    // rounding).
    let (csv, _) = ok(d, &["predict", "m.bprop", "new.csv", "--backend", "gpu"]);
    for (r, row) in predictions(&csv).1.iter().enumerate() {
        let got: Vec<f64> = row[1..].iter().map(|v| v.parse().unwrap()).collect();
        for (g, w) in got.iter().zip(y.row(r)) {
            assert!((g - w).abs() <= 1e-9, "GPU {got:?} against {:?}", y.row(r));
        }
    }
    // ONNX takes the columns as they are; FANN cannot hold the encoding.
    let (msg, _) = ok(d, &["export", "m.bprop", "--format", "onnx", "-o", "m.onnx"]);
    assert!(
        msg.contains("`input` (N, 1) float64, NaN where missing and `categories` (N, 1) strings"),
        "{msg}"
    );
    let err = fails(d, &["export", "m.bprop", "--format", "fann", "-o", "m.net"]);
    assert!(err.contains("FANN .net file") && err.contains("ONNX"), "{err}");
    assert!(!d.join("m.net").exists());
    // Eval reads the training file the same way; its accuracy recomputes from predict.
    let (ev, err) = ok(d, &["eval", "m.bprop", "shop.csv"]);
    assert!(!err.contains("warning"), "{err}");
    assert!(ev.contains("accuracy:"), "{ev}");
}

#[test]
fn categories_and_fills_come_from_the_training_part_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 120 rows: a tenth is held out for validation (stratified, seed 0). A category and a
    // large value that only validation rows hold must not reach the fitted stage.
    let n = 120;
    let label = |i: usize| ["a", "b"][i % 2];
    let classes: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let (train, val) = bprop::model::split_rows_stratified(0.1, 0, &classes).unwrap();
    let mut s = String::from("x,kind,label\n");
    for i in 0..n {
        let (x, kind) = if i == val[0] {
            ("1000".to_string(), "rare")
        } else if i % 5 == 0 {
            (String::new(), ["p", "q"][i % 2])
        } else {
            ((i % 10).to_string(), ["p", "q"][i % 2])
        };
        s += &format!("{x},{kind},{}\n", label(i));
    }
    std::fs::write(d.join("t.csv"), s).unwrap();
    ok(
        d,
        &[
            "train",
            "t.csv",
            "--precision",
            "f64",
            "--backend",
            "cpu",
            "--epochs",
            "2",
            "-q",
            "--impute",
            "mean",
            "-o",
            "m.bprop",
        ],
    );
    let m = model_f64(&d.join("m.bprop"));
    let p = schema(&m).preprocess.clone().unwrap();
    assert_eq!(p.impute, Some(Impute::Mean));
    assert_eq!(p.columns[1].categories.as_deref().unwrap(), ["p", "q"]);
    let present: Vec<f64> = train
        .iter()
        .filter(|&&i| i % 5 != 0)
        .map(|&i| (i % 10) as f64)
        .collect();
    let mean = present.iter().sum::<f64>() / present.len() as f64;
    assert_eq!(p.columns[0].fill, Some(mean));
    assert!(!p.columns[0].indicator, "no indicators unless asked for");
}

#[test]
fn missing_values_are_counted_per_column_or_imputed_with_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("gaps.csv"),
        "a,b,c,y\n1,NA,x,0.5\n,2,y,1.5\n3,4,?,2.5\n,6,x,3.5\nNaN,8,y,4.5\n5,10,x,5.5\n",
    )
    .unwrap();
    let err = fails(d, &["train", "gaps.csv", "--task", "regression"]);
    assert!(
        err.contains("5 missing value(s)")
            && err.contains("`a` (column 0): 3 (lines 3, 5, 6)")
            && err.contains("`b` (column 1): 1 (line 2)")
            && err.contains("`c` (column 2): 1 (line 4)")
            && err.contains("--impute"),
        "{err}"
    );
    let err = fails(d, &["train", "gaps.csv", "--missing-indicator"]);
    assert!(err.contains("missing_indicator") && err.contains("--impute"), "{err}");

    ok(
        d,
        &[
            "train",
            "gaps.csv",
            "--precision",
            "f64",
            "--backend",
            "cpu",
            "--epochs",
            "3",
            "-q",
            "--impute",
            "median",
            "--missing-indicator",
            "-o",
            "m.bprop",
        ],
    );
    let m = model_f64(&d.join("m.bprop"));
    let p = schema(&m).preprocess.clone().unwrap();
    // Medians of the present values (1, 3, 5) and (2, 4, 6, 8, 10); `c`'s most frequent is x.
    assert_eq!(p.columns[0].fill, Some(3.0));
    assert_eq!(p.columns[1].fill, Some(6.0));
    assert_eq!(p.columns[2].fill_category.as_deref(), Some("x"));
    assert!(p.columns.iter().all(|c| c.indicator));
    // a, b, then c's x and y, then the three indicators.
    assert_eq!(m.network.inputs(), 2 + 2 + 3);

    std::fs::write(d.join("new.csv"), "a,b,c\n,1,y\n2,,\n7,7,z\n").unwrap();
    let (csv, err) = ok(d, &["predict", "m.bprop", "new.csv"]);
    assert!(err.contains("`c` (column 2): 1 row(s)") && err.contains("(z)"), "{err}");
    let x = ndarray::array![
        [3.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        [2.0, 6.0, 1.0, 0.0, 0.0, 1.0, 1.0],
        [7.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    ];
    let y = outputs(&m, x);
    let (_, rows) = predictions(&csv);
    for (r, row) in rows.iter().enumerate() {
        let got: f64 = row[0].parse().unwrap();
        assert!(
            (got - y[[r, 0]]).abs() <= 1e-12 * y[[r, 0]].abs().max(1.0),
            "{got} {}",
            y[[r, 0]]
        );
    }

    // A model trained without imputation counts the missing values of new files too.
    std::fs::write(d.join("full.csv"), "a,b,y\n1,2,3\n2,3,5\n3,5,8\n4,7,11\n").unwrap();
    ok(d, &["train", "full.csv", "--epochs", "1", "-q", "-o", "plain.bprop"]);
    std::fs::write(d.join("holes.csv"), "a,b\n1,\n,?\n").unwrap();
    let err = fails(d, &["predict", "plain.bprop", "holes.csv"]);
    assert!(
        err.contains("`a` (column 0): 1 (line 3)") && err.contains("`b` (column 1): 2 (lines 2, 3)"),
        "{err}"
    );
    assert!(err.contains("the model fills none"), "{err}");
}

#[test]
fn ignore_and_features_choose_the_inputs_and_the_model_remembers_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = String::from("id,a,b,noise,label\n");
    for i in 0..40 {
        let (a, b) = ((i % 7) as f64, (i % 5) as f64);
        s += &format!(
            "row{i},{a},{b},{},{}\n",
            (i * 13) % 17,
            if a + b > 5.0 { "hi" } else { "lo" }
        );
    }
    std::fs::write(d.join("t.csv"), &s).unwrap();
    // Without --ignore, the identifier column is refused as a text input.
    let err = fails(d, &["train", "t.csv"]);
    assert!(err.contains("`id` (column 0)") && err.contains("--ignore"), "{err}");
    let (out, _) = ok(
        d,
        &[
            "train", "t.csv", "--ignore", "id", "--ignore", "noise", "--epochs", "2", "-q", "-o", "i.bprop",
        ],
    );
    assert!(out.contains("ignored: `id` (column 0), `noise` (column 3)"), "{out}");
    ok(
        d,
        &[
            "train",
            "t.csv",
            "--features",
            "b,a",
            "--epochs",
            "2",
            "-q",
            "-o",
            "f.bprop",
        ],
    );
    for model in ["i.bprop", "f.bprop"] {
        let m = match read_model(d.join(model)).unwrap() {
            AnyModel::F32(m) => m,
            AnyModel::F64(_) => panic!("f32 by default"),
        };
        let s = m.meta.schema.unwrap();
        assert_eq!(s.input_names.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert_eq!(m.network.inputs(), 2);
        // Eval and predict find the columns by name, whatever else the file holds.
        ok(d, &["eval", model, "t.csv"]);
        std::fs::write(d.join("p.csv"), "b,other,a\n1,x,2\n3,y,4\n").unwrap();
        let (csv, _) = ok(d, &["predict", model, "p.csv"]);
        assert_eq!(csv.lines().count(), 3, "{csv}");
    }
    // Headerless files: by position, the model keeps the positions of its inputs.
    let plain: String = s
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.replacen("row", "", 1)))
        .collect();
    std::fs::write(d.join("n.csv"), &plain).unwrap();
    ok(
        d,
        &[
            "train",
            "n.csv",
            "--no-header",
            "--ignore",
            "0",
            "--ignore",
            "3",
            "--epochs",
            "2",
            "-q",
            "-o",
            "n.bprop",
        ],
    );
    let m = read_model(d.join("n.bprop")).unwrap();
    let AnyModel::F32(m) = m else { panic!("f32") };
    let p = m.meta.schema.as_ref().unwrap().preprocess.as_ref().unwrap();
    assert_eq!(p.columns.iter().map(|c| c.position).collect::<Vec<_>>(), [1, 2]);
    let (ev, _) = ok(d, &["eval", "n.bprop", "n.csv", "--no-header"]);
    assert!(ev.contains("(40 samples)"), "{ev}");

    // Errors name the option.
    let err = fails(d, &["train", "t.csv", "--ignore", "nope"]);
    assert!(err.contains("ignore") && err.contains("nope"), "{err}");
    let err = fails(d, &["train", "t.csv", "--features", "a,label"]);
    assert!(err.contains("features") && err.contains("is a target column"), "{err}");
    let err = fails(d, &["train", "t.csv", "--resume", "i.bprop", "--ignore", "a"]);
    assert!(err.contains("--ignore"), "{err}");
}

#[test]
fn models_without_a_stage_keep_format_version_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("full.csv"), "a,b,y\n1,2,3\n2,3,5\n3,5,8\n4,7,11\n").unwrap();
    ok(d, &["train", "full.csv", "--epochs", "1", "-q", "-o", "plain.bprop"]);
    let (info, _) = ok(d, &["info", "plain.bprop", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert!(doc["schema"].get("preprocess").is_none(), "{info}");
}
