//! `bprop cv` end to end through the binary: the folds partition the rows and keep the
//! class proportions; every fold's scores are those of `bprop train` on that fold's
//! training rows alone followed by `bprop eval` on its held-out rows (classification and
//! regression, CPU path and GPU path); bad fold counts and single-run options are clear
//! errors.

use crate::spawn::bprop;
use serde_json::Value;
use std::path::Path;

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bprop {args:?} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[track_caller]
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "bprop {args:?} should fail: {stderr}");
    stderr
}

/// A header and `n` rows of three noisy classes in two inputs (`i % 3` is the class).
fn classes_csv(n: usize) -> String {
    let names = ["setosa", "versicolor", "virginica"];
    let mut s = String::from("length,width,species\n");
    let mut x = 7.0f64;
    for i in 0..n {
        let c = i % 3;
        x = (x * 9301.0 + 49297.0) % 233280.0;
        let noise = x / 233280.0 - 0.5;
        s += &format!(
            "{:.3},{:.3},{}\n",
            c as f64 + 1.5 * noise,
            1.0 - c as f64 - noise,
            names[c]
        );
    }
    s
}

/// A header and `n` rows of a target in the hundreds from two inputs and noise.
fn regression_csv(n: usize) -> String {
    let mut s = String::from("a,b,price\n");
    let mut x = 3.0f64;
    for i in 0..n {
        x = (x * 9301.0 + 49297.0) % 233280.0;
        let noise = x / 233280.0 - 0.5;
        let (a, b) = (i as f64 * 0.37 % 5.0, (i * 7 % 11) as f64);
        s += &format!("{a:.3},{b:.3},{:.3}\n", 150.0 + 20.0 * a - 6.0 * b + 10.0 * noise);
    }
    s
}

/// The file's header and the data lines of `rows` (0-based data rows), as a CSV.
fn rows_of(csv: &str, rows: &[usize]) -> String {
    let lines: Vec<&str> = csv.lines().collect();
    let mut s = format!("{}\n", lines[0]);
    for &r in rows {
        s += lines[r + 1];
        s.push('\n');
    }
    s
}

fn held_out(fold: &Value) -> Vec<usize> {
    fold["held_out_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// Runs `bprop cv` with `opts` on `csv` and checks each of the first `check` folds against
/// `bprop train` (same options) on its training rows and `bprop eval` on its held-out rows:
/// the metrics `names` must be equal, bit for bit. Returns the cv document.
fn recompute(csv: &str, folds: &str, opts: &[&str], names: &[&str], check: usize) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.csv"), csv).unwrap();
    let mut args = vec!["cv", "data.csv", "--folds", folds, "--json", "-q"];
    args.extend(opts);
    let doc: Value = serde_json::from_str(&ok(d, &args)).expect("cv --json prints JSON alone");
    let n = csv.lines().count() - 1;
    let folds_doc = doc["folds"].as_array().unwrap();
    assert_eq!(folds_doc.len().to_string(), folds);
    // The held-out rows partition the data.
    let mut all: Vec<usize> = folds_doc.iter().flat_map(held_out).collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
    for fold in folds_doc.iter().take(check) {
        let held = held_out(fold);
        let train_rows: Vec<usize> = (0..n).filter(|r| !held.contains(r)).collect();
        std::fs::write(d.join("part.csv"), rows_of(csv, &train_rows)).unwrap();
        std::fs::write(d.join("held.csv"), rows_of(csv, &held)).unwrap();
        let mut train = vec!["train", "part.csv", "-q", "-o", "m.bprop"];
        train.extend(opts);
        ok(d, &train);
        let eval: Value = serde_json::from_str(&ok(d, &["eval", "m.bprop", "held.csv", "--format", "json"])).unwrap();
        for &name in names {
            let expected = match &eval[name] {
                Value::Array(per_target) => per_target[0].clone(),
                v => v.clone(),
            };
            assert_eq!(fold["metrics"][name], expected, "fold {} {name}", fold["fold"]);
        }
    }
    doc
}

#[test]
fn classification_folds_are_stratified_and_recompute_from_train_and_eval() {
    let csv = classes_csv(60);
    // A validation split inside each fold, and scaled inputs (CSV), both fitted there.
    let opts = [
        "--layers",
        "4",
        "--epochs",
        "12",
        "--seed",
        "5",
        "--validation",
        "0.2",
        "--backend",
        "cpu",
    ];
    let doc = recompute(
        &csv,
        "4",
        &opts,
        &["accuracy", "macro_f1", "balanced_accuracy", "roc_auc"],
        4,
    );
    assert_eq!(
        (doc["task"].as_str(), doc["stratified"].as_bool()),
        (Some("classification"), Some(true))
    );
    for fold in doc["folds"].as_array().unwrap() {
        // 20 rows of each class over 4 folds: 5 of each in every fold.
        let held = held_out(fold);
        let per_class: Vec<usize> = (0..3).map(|c| held.iter().filter(|&&r| r % 3 == c).count()).collect();
        assert_eq!(per_class, vec![5, 5, 5], "fold {}", fold["fold"]);
        assert_eq!(
            (fold["train_samples"].as_u64(), fold["validation_samples"].as_u64()),
            (Some(36), Some(9))
        );
    }
    // The summary is the mean and sample sd of the folds' values.
    let acc: Vec<f64> = doc["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["metrics"]["accuracy"].as_f64().unwrap())
        .collect();
    let mean = acc.iter().sum::<f64>() / 4.0;
    let sd = (acc.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / 3.0).sqrt();
    let s = &doc["summary"]["accuracy"];
    assert!((s["mean"].as_f64().unwrap() - mean).abs() < 1e-12, "{s}");
    assert!((s["sd"].as_f64().unwrap() - sd).abs() < 1e-12, "{s}");
    // Reproducible: the same seed, the same document.
    let again = recompute(&csv, "4", &opts, &[], 0);
    assert_eq!(doc, again);
}

#[test]
fn regression_folds_recompute_in_the_targets_units() {
    // Targets in the hundreds: standardized on each fold's training rows, errors in units.
    let opts = ["--layers", "6", "--epochs", "15", "--seed", "2", "--backend", "cpu"];
    let doc = recompute(&regression_csv(40), "4", &opts, &["mse", "mae", "r2"], 2);
    assert_eq!(
        (doc["task"].as_str(), doc["stratified"].as_bool()),
        (Some("regression"), Some(false))
    );
    let sizes: Vec<usize> = doc["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| held_out(f).len())
        .collect();
    assert_eq!(sizes, vec![10, 10, 10, 10]);
}

/// `classes_csv` with a text column (`color`) and missing numbers (`NA`) in `length`.
fn mixed_csv(n: usize) -> String {
    let colors = ["red", "green", "blue", "red"];
    let mut s = String::from("length,width,color,species\n");
    for (i, line) in classes_csv(n).lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let length = if i % 7 == 3 { "NA" } else { f[0] };
        s += &format!("{length},{},{},{}\n", f[1], colors[(i % 3 + i / 5) % 4], f[2]);
    }
    s
}

#[test]
fn folds_fit_the_preprocessing_stage_on_their_training_rows() {
    // One-hot categories and the imputed mean come from each fold's training rows: every
    // fold still recomputes from `train` on those rows and `eval` on the held-out ones.
    let opts = [
        "--layers",
        "4",
        "--epochs",
        "8",
        "--seed",
        "3",
        "--impute",
        "mean",
        "--missing-indicator",
        "--backend",
        "cpu",
    ];
    recompute(&mixed_csv(45), "3", &opts, &["accuracy", "macro_f1", "roc_auc"], 3);
}

#[test]
fn a_fold_trained_on_the_gpu_path_recomputes_from_train_and_eval() {
    let opts = ["--layers", "4", "--epochs", "5", "--seed", "1", "--backend", "gpu"];
    recompute(&classes_csv(30), "3", &opts, &["accuracy", "macro_f1", "roc_auc"], 1);
}

#[test]
fn the_text_report_gives_each_fold_and_mean_and_sd() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), classes_csv(30)).unwrap();
    let out = ok(
        dir.path(),
        &[
            "cv",
            "data.csv",
            "--folds",
            "3",
            "--epochs",
            "3",
            "--backend",
            "cpu",
            "-q",
        ],
    );
    assert!(out.contains("3 stratified folds, shuffled with seed 0"), "{out}");
    for k in 1..=3 {
        assert!(
            out.contains(&format!("fold {k}/3: trained on 20, 10 held out")),
            "{out}"
        );
    }
    assert!(out.contains("mean ± sample sd over 3 folds:"), "{out}");
    for name in ["accuracy", "macro F1", "balanced accuracy", "ROC-AUC"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(name) && l.contains(" ± ")),
            "{name}: {out}"
        );
    }
}

#[test]
fn bad_fold_counts_and_single_run_options_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 9 rows of classes a, b (7 and 2 rows).
    let mut csv = String::from("x,y\n");
    for i in 0..9 {
        csv += &format!("{i},{}\n", if i % 4 == 1 { "b" } else { "a" });
    }
    std::fs::write(d.join("small.csv"), &csv).unwrap();
    std::fs::write(d.join("reg.csv"), regression_csv(6)).unwrap();
    for (file, k, says) in [
        ("small.csv", "0", "at least 2 folds"),
        ("small.csv", "1", "at least 2 folds"),
        ("reg.csv", "7", "more than the 6 samples"),
        ("small.csv", "3", "smallest class, `b`"),
    ] {
        let err = fails(d, &["cv", file, "--folds", k, "--epochs", "1", "--backend", "cpu"]);
        assert!(err.contains("folds") && err.contains(says), "--folds {k}: {err}");
    }
    let err = fails(d, &["cv", "small.csv", "--folds", "2", "-o", "m.bprop"]);
    assert!(err.contains("--output") && err.contains("bprop train"), "{err}");
    assert!(!d.join("m.bprop").exists());
    // Without --folds, clap's usage error (status 2) names it.
    let out = bprop(d, &["cv", "small.csv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("--folds"), "{err}");
}
