//! The data commands as a user runs them, on tiny files in a temporary directory: train →
//! eval → predict → info on the CPU path and on the GPU path (which must find an adapter:
//! these tests fail, never skip, without one), the bundled dataset, regression from .npy,
//! resuming that repeats an uninterrupted run exactly, divergence saving the last finite
//! model, the cross-check, explain --model, and errors for bad model files.

use crate::common;
use crate::spawn::bprop;
use bprop::io::{read_model, AnyModel};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs and asserts success; returns stdout.
#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "bprop {args:?} failed:\n{stderr}\n{stdout}");
    stdout
}

/// Runs and asserts failure with exit code 1; returns stderr.
#[track_caller]
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "bprop {args:?} should fail: {stderr}");
    stderr
}

/// Three separable classes in two inputs, `n` rows, with a header.
fn iris_like(n: usize, seed: u64) -> String {
    let names = ["setosa", "versicolor", "virginica"];
    let mut s = String::from("length,width,species\n");
    let mut x = seed as f64;
    for i in 0..n {
        let c = i % 3;
        x = (x * 9301.0 + 49297.0) % 233280.0;
        let noise = x / 233280.0 - 0.5;
        s += &format!(
            "{:.3},{:.3},{}\n",
            c as f64 + 0.3 * noise,
            1.0 - c as f64 - 0.2 * noise,
            names[c]
        );
    }
    s
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    std::fs::write(p.join("train.csv"), iris_like(30, 1)).unwrap();
    std::fs::write(p.join("test.csv"), iris_like(12, 2)).unwrap();
    (dir, p)
}

fn round_trip(backend: &str) {
    let (_keep, d) = setup();
    let out = ok(
        &d,
        &[
            "train",
            "train.csv",
            "--test",
            "test.csv",
            "--target",
            "species",
            "--layers",
            "4",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--backend",
            backend,
            "-o",
            "m.bprop",
            "--plot",
            "loss.svg",
            "-q",
        ],
    );
    let path_name = if backend == "gpu" {
        "backend: GPU path"
    } else {
        "backend: CPU path"
    };
    assert!(out.contains(path_name), "{out}");
    for needle in [
        "3 classes (setosa, versicolor, virginica)",
        "network: 2-4-3 (relu, softmax; cross_entropy)",
        "training set:",
        "test set:",
        "model: wrote m.bprop",
        "plot: wrote loss.svg",
    ] {
        assert!(out.contains(needle), "train output lacks {needle:?}:\n{out}");
    }
    let svg = std::fs::read_to_string(d.join("loss.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.trim_end().ends_with("</svg>"));
    match read_model(d.join("m.bprop")).unwrap() {
        AnyModel::F32(m) => {
            assert_eq!(m.network.sizes(), [2, 4, 3]);
            assert!(m.scaling.is_some(), "CSV inputs are standardized by default");
            assert_eq!(m.optimizer.unwrap().step, 9, "3 epochs of 3 steps");
        }
        other => panic!("expected an f32 model, got {}", other.precision()),
    }

    let eval = ok(&d, &["eval", "m.bprop", "test.csv", "--backend", backend]);
    for needle in [
        "loss (cross_entropy):",
        "accuracy:",
        "precision",
        "confusion matrix",
        "virginica",
        "balanced accuracy: ",
        "F1: macro ",
        "ROC-AUC: ",
        "(one-vs-rest, macro average)",
    ] {
        assert!(eval.contains(needle), "eval lacks {needle:?}:\n{eval}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(
        &d,
        &["eval", "m.bprop", "test.csv", "--format", "json", "--backend", backend],
    ))
    .unwrap();
    assert_eq!(json["samples"], 12);
    assert_eq!(json["classes"][1], "versicolor");
    let confusion: u64 = json["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(confusion, 12);
    assert!(json["loss"].as_f64().unwrap().is_finite());
    // The summary metrics recompute from the confusion matrix and per-class figures.
    let f1: Vec<f64> = json["f1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let macro_f1 = json["macro_f1"].as_f64().unwrap();
    assert!((macro_f1 - f1.iter().sum::<f64>() / 3.0).abs() < 1e-12, "{json}");
    let recall: Vec<f64> = json["recall"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let balanced = json["balanced_accuracy"].as_f64().unwrap();
    assert!((balanced - recall.iter().sum::<f64>() / 3.0).abs() < 1e-12, "{json}");
    for key in ["roc_auc", "pr_auc", "weighted_f1"] {
        let v = json[key].as_f64().unwrap_or_else(|| panic!("{key}: {json}"));
        assert!((0.0..=1.0).contains(&v), "{key} {v}");
    }
    assert_eq!(json["ranking_average"], "one-vs-rest macro");

    ok(
        &d,
        &["predict", "m.bprop", "test.csv", "-o", "pred.csv", "--backend", backend],
    );
    let pred = std::fs::read_to_string(d.join("pred.csv")).unwrap();
    let lines: Vec<&str> = pred.lines().collect();
    assert_eq!(lines[0], "prediction,p_setosa,p_versicolor,p_virginica");
    assert_eq!(lines.len(), 13);
    for l in &lines[1..] {
        let f: Vec<&str> = l.split(',').collect();
        assert!(["setosa", "versicolor", "virginica"].contains(&f[0]), "{l}");
        let sum: f64 = f[1..].iter().map(|p| p.parse::<f64>().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to 1: {l}");
    }
    // Inputs only, no header: by position.
    let x: String = iris_like(12, 2)
        .lines()
        .skip(1)
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(d.join("x.csv"), x).unwrap();
    let stdout = ok(&d, &["predict", "m.bprop", "x.csv", "--backend", backend]);
    assert_eq!(stdout.lines().count(), 13);

    let info = ok(&d, &["info", "m.bprop"]);
    for needle in [
        "format version 1",
        "2-4-3",
        "classes (3): setosa, versicolor, virginica",
        "scaling: standardize",
        "3 epochs done (9 steps), batch 8",
        "step 9",
        "optimizer adam (beta1 0.9, beta2 0.999, eps 1e-8)",
        "schedule constant",
    ] {
        assert!(info.contains(needle), "info lacks {needle:?}:\n{info}");
    }
    assert!(!info.contains('{'), "Rust's debug formatting in info:\n{info}");
    let info: serde_json::Value = serde_json::from_str(&ok(&d, &["info", "m.bprop", "--format", "json"])).unwrap();
    assert_eq!(info["parameters"], 2 * 4 + 4 + 4 * 3 + 3);
}

#[test]
fn train_eval_predict_info_on_the_cpu_path() {
    round_trip("cpu");
}

#[test]
fn train_eval_predict_info_on_the_gpu_path() {
    round_trip("gpu");
}

#[test]
fn the_gpu_cross_check_passes_before_training() {
    let (_keep, d) = setup();
    let out = ok(
        &d,
        &[
            "train",
            "train.csv",
            "--layers",
            "3",
            "--epochs",
            "1",
            "--batch-size",
            "5",
            "--backend",
            "gpu",
            "--cross-check",
            "3",
            "--dropout",
            "0.2",
            "-q",
        ],
    );
    assert!(
        out.contains("cross-check: GPU path") && out.contains("3 steps"),
        "{out}"
    );
    assert!(out.contains("result: PASS"), "{out}");
    assert!(out.contains("model: not saved"), "{out}");
}

#[test]
fn auto_runs_on_the_cpu_path_beside_a_software_adapter_and_says_why() {
    // This machine's only adapter is a software one (lavapipe in CI): `auto` must not train
    // on it, and says so in one line; `--backend gpu` still does.
    let (_keep, d) = setup();
    let args = ["train", "train.csv", "--target", "species", "--epochs", "3", "-q"];
    let out = ok(&d, &[&args[..], &["--backend", "auto"]].concat());
    let line = out
        .lines()
        .find(|l| l.starts_with("--backend auto chose"))
        .unwrap_or_else(|| panic!("no choice line:\n{out}"));
    assert!(
        line.starts_with("--backend auto chose the CPU path: ") && line.contains("software renderer"),
        "{line}"
    );
    assert!(out.contains("backend: CPU path"), "{out}");
    let out = ok(&d, &[&args[..], &["--backend", "gpu", "-o", "m.bprop"]].concat());
    assert!(out.contains("backend: GPU path"), "{out}");
    assert!(!out.contains("--backend auto chose"), "{out}");
    // eval and predict follow the same rule.
    let eval = ok(&d, &["eval", "m.bprop", "test.csv", "--backend", "auto"]);
    assert!(eval.contains("backend: CPU path"), "{eval}");
    assert!(
        eval.contains("note: --backend auto runs on the CPU path: ") && eval.contains("software renderer"),
        "{eval}"
    );
    let out = bprop(&d, &["predict", "m.bprop", "test.csv", "--backend", "auto"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("software renderer"), "{stderr}");
}

/// 20 rows like scikit-learn's linnerud: three exercise counts, and three body
/// measurements as targets in the tens to hundreds (weight 110–220, waist 32–42, pulse
/// 45–65), each a noisy linear function of the inputs.
fn linnerud_like() -> String {
    let mut s = String::from("chins,situps,jumps,weight,waist,pulse\n");
    let mut x = 7.0f64;
    let mut rnd = || {
        x = (x * 9301.0 + 49297.0) % 233280.0;
        x / 233280.0
    };
    for _ in 0..20 {
        let (c, u, j) = (1.0 + 16.0 * rnd(), 50.0 + 200.0 * rnd(), 25.0 + 225.0 * rnd());
        let weight = 170.0 + 40.0 * (c - 9.0) / 8.0 - 20.0 * (u - 150.0) / 100.0 + 10.0 * (rnd() - 0.5);
        let waist = 37.0 + 5.0 * (u - 150.0) / 100.0 + 2.0 * (rnd() - 0.5);
        let pulse = 55.0 + 8.0 * (j - 137.0) / 112.0 + 3.0 * (rnd() - 0.5);
        s += &format!("{c:.0},{u:.0},{j:.0},{weight:.1},{waist:.1},{pulse:.1}\n");
    }
    s
}

/// The R² values of a `training set:` line (`R² 0.99 0.98 0.97`).
fn r2s(out: &str) -> Vec<f64> {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("training set:"))
        .unwrap_or_else(|| panic!("no training set line:\n{out}"));
    let after = line.split("R² ").nth(1).expect("R² values");
    after
        .split_whitespace()
        .take_while(|w| !w.starts_with('('))
        .map(|w| w.parse().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn regression_targets_are_standardized_so_large_targets_train() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("lin.csv"), linnerud_like()).unwrap();
    let base = [
        "train",
        "lin.csv",
        "--target",
        "weight,waist,pulse",
        "--epochs",
        "300",
        "--backend",
        "cpu",
        "-q",
    ];
    let out = ok(d, &[&base[..], &["-o", "std.bprop"]].concat());
    assert!(out.contains("targets standardized (weight: mean"), "{out}");
    let r2 = r2s(&out);
    assert_eq!(r2.len(), 3, "{out}");
    assert!(r2.iter().all(|&r| r > 0.8), "standardized: R² {r2:?}\n{out}");
    // Without it, the same run fails to fit (the linnerud: R² around −0.8).
    let out = ok(d, &[&base[..], &["--target-scale", "none", "-o", "raw.bprop"]].concat());
    assert!(!out.contains("targets standardized"), "{out}");
    let raw = r2s(&out);
    assert!(raw.iter().any(|&r| r < 0.8), "unscaled: R² {raw:?}\n{out}");

    // The scaling is saved; a model without one writes no field (the format older files have).
    let AnyModel::F32(m) = read_model(d.join("std.bprop")).unwrap() else {
        panic!("an f32 model")
    };
    let t = m.meta.target_scaling.as_ref().expect("saved target scaling");
    assert_eq!(t.width(), 3);
    assert!((150.0..190.0).contains(&t.offset[0]), "{t:?}");
    let AnyModel::F32(m) = read_model(d.join("raw.bprop")).unwrap() else {
        panic!("an f32 model")
    };
    assert_eq!(m.meta.target_scaling, None);
    let raw_bytes = std::fs::read(d.join("raw.bprop")).unwrap();
    assert!(!String::from_utf8_lossy(&raw_bytes).contains("target_scaling"));

    // eval reports the errors in the targets' units, as train did; predict's values are too.
    let eval = ok(d, &["eval", "std.bprop", "lin.csv", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(doc["loss_on_standardized_targets"], true);
    let names: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["weight", "waist", "pulse"]);
    let text = ok(d, &["eval", "std.bprop", "lin.csv"]);
    assert!(text.contains("R² (waist): ") && text.contains("(MSE "), "{text}");
    for (j, r) in r2.iter().enumerate() {
        let e = doc["r2"][j].as_f64().unwrap();
        assert!((e - r).abs() < 1e-3, "eval R² {e}, train {r}");
    }
    let pred = ok(d, &["predict", "std.bprop", "lin.csv"]);
    let mut lines = pred.lines();
    assert_eq!(lines.next(), Some("weight,waist,pulse"));
    let weights: Vec<f64> = lines.map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    let mean = weights.iter().sum::<f64>() / weights.len() as f64;
    assert!((t.offset[0] - mean).abs() < 5.0, "mean predicted weight {mean}");
    // --resume keeps the saved scaling and refuses a new one.
    let err = fails(
        d,
        &["train", "lin.csv", "--resume", "std.bprop", "--target-scale", "none"],
    );
    assert!(err.contains("--target-scale"), "{err}");
}

#[test]
fn a_validation_run_keeps_its_best_epoch_and_the_plot_marks_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The bundled diabetes set holds out 39 samples; a wide network overfits before 60 epochs.
    let args = ["train", "--backend", "cpu", "--epochs", "60", "--layers", "64", "-q"];
    let out = ok(d, &[&args[..], &["--plot", "p.svg", "-o", "m.bprop"]].concat());
    let stopped = out.lines().find(|l| l.contains("stopped:")).unwrap();
    let kept: usize = stopped
        .split("epoch ")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("no kept epoch: {stopped}"));
    assert!(kept < 60, "{stopped}");
    assert!(stopped.contains("model kept (the lowest validation loss)"), "{stopped}");
    let svg = std::fs::read_to_string(d.join("p.svg")).unwrap();
    assert!(svg.contains(&format!(">kept: epoch {kept}<")), "{svg}");
    let AnyModel::F32(m) = read_model(d.join("m.bprop")).unwrap() else {
        panic!("f32")
    };
    assert_eq!(m.meta.training.as_ref().unwrap().epochs_done, kept);
    // --keep-last keeps the 60th.
    let out = ok(d, &[&args[..], &["--keep-last", "--plot", "q.svg"]].concat());
    assert!(out.contains("stopped: all epochs ran\n"), "{out}");
    assert!(!std::fs::read_to_string(d.join("q.svg")).unwrap().contains("kept:"));
}

#[test]
fn the_inferred_task_is_named_with_how_to_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = |classes: usize| {
        let mut s = String::from("a,b,label\n");
        for i in 0..60 {
            s += &format!("{:.1},{},{}\n", i as f64 * 0.1, (i * 7) % 13, i % classes);
        }
        s
    };
    std::fs::write(d.join("twelve.csv"), rows(12)).unwrap();
    std::fs::write(d.join("three.csv"), rows(3)).unwrap();
    let args = |f: &'static str| ["train", f, "--epochs", "1", "--backend", "cpu", "-q"];
    // 12 distinct integers: regression, and the data line says it was inferred and how to
    // change it.
    let out = ok(d, &args("twelve.csv"));
    assert!(
        out.contains("1 output, regression inferred, --task to change)"),
        "{out}"
    );
    assert!(
        out.contains("its 12 distinct integer values are more than the 10 taken as class labels")
            && out.contains("--task classification"),
        "{out}"
    );
    let out = ok(d, &[&args("twelve.csv")[..], &["--task", "classification"]].concat());
    assert!(out.contains("12 outputs, classification)"), "{out}");
    // 3 distinct integers: classes, saying so.
    let out = ok(d, &args("three.csv"));
    assert!(out.contains("classification inferred, --task to change)"), "{out}");
    assert!(out.contains("--task regression treats them as numbers"), "{out}");
}

#[test]
fn a_data_file_or_onnx_export_given_as_the_model_is_named_for_what_it_is() {
    let (_keep, d) = setup();
    ok(
        &d,
        &[
            "train",
            "train.csv",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "-q",
            "-o",
            "m.bprop",
        ],
    );
    let err = fails(&d, &["eval", "test.csv", "m.bprop"]);
    assert!(
        err.contains("test.csv: is not a bprop model file (a text file")
            && err.contains("the model comes first, then the data"),
        "{err}"
    );
    assert!(!err.contains("header length"), "{err}");
    ok(&d, &["export", "m.bprop", "-o", "m.onnx"]);
    let err = fails(&d, &["predict", "m.onnx", "test.csv"]);
    assert!(err.contains("is not a bprop model file (an ONNX model"), "{err}");
    // A model file cut short is still reported as one.
    let bytes = std::fs::read(d.join("m.bprop")).unwrap();
    std::fs::write(d.join("cut.bprop"), &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&d, &["eval", "cut.bprop", "test.csv"]);
    assert!(!err.contains("is not a bprop model file"), "{err}");
}

#[test]
fn a_negative_learning_rate_parses_and_is_refused() {
    let (_keep, d) = setup();
    let err = fails(&d, &["train", "train.csv", "--lr", "-0.1", "--backend", "cpu"]);
    assert!(!err.contains("unexpected argument"), "{err}");
    assert!(err.contains("-0.1") && err.contains("positive"), "{err}");
}

#[test]
fn class_weights_lift_a_rare_class_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 200 rows, one in ten `rare`, whose first input is shifted up by 0.6: the classes
    // overlap, so an unweighted loss favours `common`.
    let mut s = String::from("u,v,label\n");
    let mut x = 3.0f64;
    let mut rnd = || {
        x = (x * 9301.0 + 49297.0) % 233280.0;
        x / 233280.0
    };
    for i in 0..200 {
        let rare = i % 10 == 0;
        let a = if rare { 0.6 } else { 0.0 } + rnd();
        s += &format!("{a:.3},{:.3},{}\n", rnd(), if rare { "rare" } else { "common" });
    }
    std::fs::write(d.join("imb.csv"), s).unwrap();
    let balanced = |backend: &str, weights: &[&str]| -> f64 {
        let args = [
            "train",
            "imb.csv",
            "--epochs",
            "30",
            "--validation",
            "0",
            "-q",
            "-o",
            "m.bprop",
        ];
        let out = ok(d, &[&args[..], &["--backend", backend], weights].concat());
        assert_eq!(
            out.contains("class weights in the training loss: common 0.1111, rare 1.000"),
            !weights.is_empty(),
            "{out}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&ok(d, &["eval", "m.bprop", "imb.csv", "--format", "json"])).unwrap();
        json["balanced_accuracy"].as_f64().unwrap()
    };
    let plain = balanced("cpu", &[]);
    for backend in ["cpu", "gpu"] {
        let weighted = balanced(backend, &["--class-weight", "balanced"]);
        assert!(
            weighted > plain + 0.05,
            "{backend}: balanced accuracy {weighted} weighted, {plain} not"
        );
    }
    let err = fails(
        d,
        &["train", "imb.csv", "--class-weight", "rarest=3", "--backend", "cpu"],
    );
    assert!(err.contains("class_weight") && err.contains("common, rare"), "{err}");
}

#[test]
fn a_mistyped_target_name_gets_a_suggestion() {
    let (_keep, d) = setup();
    let err = fails(&d, &["train", "train.csv", "--target", "Species", "--backend", "cpu"]);
    assert!(err.contains("did you mean `species`?"), "{err}");
}

#[test]
fn the_bundled_dataset_trains_without_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["train", "--backend", "cpu", "--epochs", "2", "-q"]);
    assert!(
        out.contains("data/diabetes.train (bundled) (384 samples, 8 inputs, 2 outputs"),
        "{out}"
    );
    assert!(out.contains("validation set:") && out.contains("test set:"), "{out}");
    assert!(out.contains("data/diabetes.test (bundled)"), "{out}");
}

#[test]
fn regression_from_a_npy_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // y = 2 x0 - x1, 20 rows, y in column 0.
    let mut v = Vec::new();
    for i in 0..20 {
        let (a, b) = (i as f64 / 10.0, (i % 7) as f64 / 3.0);
        v.extend_from_slice(&[2.0 * a - b + 0.01 * i as f64, a, b]);
    }
    std::fs::write(d.join("r.npy"), bprop::data::npy::npy_f64_bytes(&v, 20, 3)).unwrap();
    let out = ok(
        d,
        &[
            "train",
            "r.npy",
            "--target",
            "0",
            "--task",
            "regression",
            "--layers",
            "none",
            "--epochs",
            "5",
            "--backend",
            "cpu",
            "--precision",
            "f64",
            "--scale",
            "minmax",
            "-o",
            "r.bprop",
            "-q",
        ],
    );
    assert!(out.contains("network: 2-1 (identity; mse)"), "{out}");
    assert!(out.contains("MSE") && out.contains("R²"), "{out}");
    assert!(matches!(read_model(d.join("r.bprop")).unwrap(), AnyModel::F64(_)));
    let eval = ok(d, &["eval", "r.bprop", "r.npy"]);
    assert!(
        eval.contains("MSE:") && eval.contains("MAE:") && eval.contains("R² (output 0)"),
        "{eval}"
    );
    let pred = ok(d, &["predict", "r.bprop", "r.npy"]);
    assert_eq!(pred.lines().next(), Some("output_0"));
    assert_eq!(pred.lines().count(), 21);
}

#[test]
fn resuming_repeats_the_uninterrupted_run_exactly() {
    let (_keep, d) = setup();
    let common = [
        "train.csv",
        "--layers",
        "5",
        "--batch-size",
        "4",
        "--validation",
        "0.2",
        "--dropout",
        "0.25",
        "--optimizer",
        "adam",
        "--backend",
        "cpu",
        "-q",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["train"];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        ok(&d, &args)
    };
    run(&["--epochs", "4", "-o", "full.bprop"]);
    run(&["--epochs", "2", "-o", "half.bprop"]);
    let out = ok(
        &d,
        &[
            "train",
            "train.csv",
            "--resume",
            "half.bprop",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "-q",
        ],
    );
    assert!(out.contains("resuming half.bprop after epoch 2"), "{out}");
    let (full, resumed) = match (
        read_model(d.join("full.bprop")).unwrap(),
        read_model(d.join("half.bprop")).unwrap(),
    ) {
        (AnyModel::F32(a), AnyModel::F32(b)) => (a, b),
        _ => panic!("f32 models expected"),
    };
    assert_eq!(resumed.network, full.network, "same parameters, bit for bit");
    assert_eq!(resumed.optimizer, full.optimizer, "same optimizer state");
    assert_eq!(resumed.meta.history.len(), 4);
    assert_eq!(resumed.meta.history, full.meta.history, "same per-epoch losses");
    assert_eq!(resumed.meta.training.unwrap().epochs_done, 4);

    // Settings cannot change on resume; the precision must match.
    let err = fails(&d, &["train", "train.csv", "--resume", "full.bprop", "--lr", "0.5"]);
    assert!(err.contains("--lr") && err.contains("resume"), "{err}");
    let err = fails(
        &d,
        &["train", "train.csv", "--resume", "full.bprop", "--precision", "f64"],
    );
    assert!(err.contains("f32"), "{err}");
}

#[test]
fn divergence_saves_the_last_finite_model() {
    let (_keep, d) = setup();
    let err = fails(
        &d,
        &[
            "train",
            "train.csv",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--activation",
            "identity",
            "--loss",
            "mse",
            "--output-activation",
            "identity",
            "--epochs",
            "20",
            "--batch-size",
            "30",
            "--validation",
            "0",
            "--backend",
            "cpu",
            "-o",
            "d.bprop",
            "-q",
        ],
    );
    assert!(err.contains("diverged"), "{err}");
    assert!(
        err.contains("hint: a lower learning rate") && err.contains("--lr 1e29"),
        "{err}"
    );
    let m = read_model(d.join("d.bprop")).unwrap().cast::<f64>();
    assert!(m
        .network
        .layers()
        .iter()
        .all(|l| l.weights.iter().all(|w| w.is_finite())));
    assert!(m.meta.training.unwrap().stopped.contains("diverged"));
}

#[test]
fn explain_a_saved_model() {
    let (_keep, d) = setup();
    ok(
        &d,
        &[
            "train",
            "train.csv",
            "--layers",
            "2",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "-o",
            "m.bprop",
            "-q",
        ],
    );
    let out = ok(
        &d,
        &[
            "explain", "--model", "m.bprop", "--input", "1.0,0.0", "--target", "0,1,0",
        ],
    );
    assert!(out.contains("2-2-3 network") && out.contains("softmax"), "{out}");
    let err = fails(&d, &["explain", "--model", "m.bprop"]);
    assert!(err.contains("--input"), "{err}");
}

#[test]
fn bad_model_files_and_data_are_reported() {
    let (_keep, d) = setup();
    ok(
        &d,
        &[
            "train",
            "train.csv",
            "--layers",
            "2",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "-o",
            "m.bprop",
            "-q",
        ],
    );
    let bytes = std::fs::read(d.join("m.bprop")).unwrap();
    std::fs::write(d.join("cut.bprop"), &bytes[..bytes.len() - 10]).unwrap();
    let err = fails(&d, &["eval", "cut.bprop", "test.csv"]);
    assert!(err.contains("cut.bprop") && err.contains("truncated"), "{err}");
    let err = fails(&d, &["info", "train.csv"]);
    assert!(err.contains("train.csv"), "{err}");
    std::fs::write(d.join("wrong.csv"), "a,b,c,d\n1,2,3,4\n").unwrap();
    let err = fails(&d, &["eval", "m.bprop", "wrong.csv"]);
    assert!(err.contains("length"), "{err}");
    std::fs::write(d.join("ragged.csv"), "length,width,species\n1,2,setosa\n3,virginica\n").unwrap();
    let err = fails(&d, &["train", "ragged.csv"]);
    assert!(err.contains("ragged.csv:line 3") && err.contains("ragged"), "{err}");
}

#[test]
fn init_chooses_the_starting_weights_and_bad_values_name_the_argument() {
    let (_keep, d) = setup();
    // One epoch at a negligible learning rate: the saved model is the starting one to 1e-6.
    let train = |init: &str, out: &str| {
        let args = [
            "train",
            "train.csv",
            "--layers",
            "4",
            "--epochs",
            "1",
            "--lr",
            "1e-9",
            "--backend",
            "cpu",
            "--init",
            init,
            "-o",
            out,
            "-q",
        ];
        ok(&d, &args);
        match read_model(d.join(out)).unwrap() {
            AnyModel::F32(m) => m.network.cast::<f64>(),
            AnyModel::F64(m) => m.network,
        }
    };
    // FANN's start: every weight and bias inside U(−0.1, 0.1), the biases not all 0.
    let net = train("uniform:0.1", "u.bprop");
    for layer in net.layers() {
        assert!(layer.weights.iter().all(|w| w.abs() < 0.1 + 1e-6));
        let b = layer.bias.as_ref().unwrap();
        assert!(b.iter().all(|b| b.abs() < 0.1 + 1e-6) && b.iter().any(|b| b.abs() > 1e-3));
    }
    // The default (auto) starts the biases at 0.
    let net = train("auto", "a.bprop");
    assert!(net
        .layers()
        .iter()
        .all(|l| l.bias.as_ref().unwrap().iter().all(|b| b.abs() < 1e-6)));
    for (bad, says) in [
        ("bogus", "unknown initialisation"),
        ("uniform:x", "unknown initialisation"),
        ("uniform:0", "positive"),
    ] {
        let err = fails(&d, &["train", "train.csv", "--backend", "cpu", "--init", bad]);
        assert!(
            err.contains("`init`") && err.contains(bad) && err.contains(says),
            "{err}"
        );
    }
}

#[test]
fn every_new_command_has_help_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["train", "eval", "predict", "info", "export", "import"] {
        let out = ok(dir.path(), &[cmd, "--help"]);
        assert!(out.contains("Examples:"), "{cmd} --help:\n{out}");
    }
    let out = ok(dir.path(), &["--help"]);
    for cmd in ["train", "eval", "predict", "info"] {
        assert!(out.contains(cmd), "{out}");
    }
}

#[test]
fn export_to_fann_and_import_back() {
    let (_keep, d) = setup();
    ok(
        &d,
        &[
            "train",
            "train.csv",
            "--layers",
            "3",
            "--activation",
            "tanh",
            "--loss",
            "mse",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "-o",
            "m.bprop",
            "-q",
        ],
    );
    let out = ok(&d, &["export", "m.bprop", "--format", "fann", "-o", "m.net"]);
    assert!(out.contains("wrote m.net"), "{out}");
    let net = std::fs::read_to_string(d.join("m.net")).unwrap();
    assert!(
        net.starts_with("FANN_FLO_2.1\n") && net.contains("scale_included=1"),
        "{net}"
    );
    let out = ok(&d, &["import", "m.net", "-o", "back.bprop"]);
    assert!(out.contains("2-3-3 (tanh, identity; mse)"), "{out}");
    let a = read_model(d.join("m.bprop")).unwrap().cast::<f64>();
    let b = read_model(d.join("back.bprop")).unwrap().cast::<f64>();
    for (x, y) in a.network.layers().iter().zip(b.network.layers()) {
        assert_eq!(x.weights, y.weights);
    }
    // FANN's tanh error function travels as train_error_function=1, both ways.
    ok(
        &d,
        &[
            "train",
            "train.csv",
            "--layers",
            "3",
            "--output-activation",
            "sigmoid",
            "--loss",
            "tanh_error",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "-o",
            "t.bprop",
            "-q",
        ],
    );
    ok(&d, &["export", "t.bprop", "--format", "fann", "-o", "t.net"]);
    let net = std::fs::read_to_string(d.join("t.net")).unwrap();
    assert!(net.contains("\ntrain_error_function=1\n"), "{net}");
    let out = ok(&d, &["import", "t.net", "-o", "t_back.bprop"]);
    assert!(out.contains("2-3-3 (relu, sigmoid; tanh_error)"), "{out}");
    // A softmax model has no FANN form.
    ok(
        &d,
        &[
            "train",
            "train.csv",
            "--layers",
            "2",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "-o",
            "s.bprop",
            "-q",
        ],
    );
    let err = fails(&d, &["export", "s.bprop", "-o", "s.net"]);
    assert!(err.contains("softmax"), "{err}");
    assert!(!d.join("s.net").exists());
}

#[test]
fn ctrl_c_stops_after_an_epoch_and_saves() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_bprop"));
    // bprop keeps SIGINT ignored when it starts ignored (a background job, nohup); the test
    // gives the child the default disposition whatever this process inherited.
    // SAFETY: `signal` is async-signal-safe, and the closure touches nothing else of the
    // forked process.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = command
        .args(["train", "--backend", "cpu", "--epochs", "1000000", "-o", "int.bprop"])
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A child that ignored the signal would keep both pipes open: the reads below end
    // when the watchdog kills it, and the exit status then fails the test.
    let _watchdog = common::Watchdog::arm(child.id(), std::time::Duration::from_secs(300));
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("epoch") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no progress line before the end");
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let status = child.wait().unwrap();
    // Saved, and the status says it was interrupted (128 + SIGINT).
    assert_eq!(status.code(), Some(130), "{rest}\n{stdout}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(
        stdout.contains("stopped: interrupted") && stdout.contains("model: wrote int.bprop"),
        "{stdout}"
    );
    let m = read_model(dir.path().join("int.bprop")).unwrap().cast::<f32>();
    let t = m.meta.training.unwrap();
    assert!(t.epochs_done >= 1 && t.epochs_done < 1_000_000, "{}", t.epochs_done);
}

/// A single tanh output on ±1 targets: eval's accuracy, recomputed from predict's labels,
/// is the same number (one class-decision rule: a tanh output is split at 0).
#[test]
fn eval_and_predict_label_a_tanh_output_alike() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 40;
    let mut fann = format!("{n} 2 1\n");
    let mut truth = Vec::new();
    for i in 0..n {
        let (a, b) = ((i * 7 % 11) as f64 / 11.0, (i * 5 % 13) as f64 / 13.0);
        let y = if a + 0.3 * b > 0.55 { 1 } else { -1 };
        fann += &format!("{a:.4} {b:.4}\n{y}\n");
        truth.push(if y > 0 { "1" } else { "0" });
    }
    std::fs::write(d.join("pm.train"), fann).unwrap();
    // Little training, so that outputs fall between the two rules' thresholds (0, 0.5].
    let out = ok(
        d,
        &[
            "train",
            "pm.train",
            "--task",
            "classification",
            "--output-activation",
            "tanh",
            "--layers",
            "3",
            "--epochs",
            "2",
            "--lr",
            "0.01",
            "--optimizer",
            "sgd",
            "--seed",
            "3",
            "-o",
            "t.bprop",
            "-q",
        ],
    );
    assert!(
        out.contains("(40 samples, 2 inputs, 1 output, classification)"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(d, &["eval", "t.bprop", "pm.train", "--format", "json"])).unwrap();
    let accuracy = json["accuracy"].as_f64().unwrap();
    let pred = ok(d, &["predict", "t.bprop", "pm.train"]);
    let rows: Vec<Vec<&str>> = pred.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), n);
    let correct = rows.iter().zip(&truth).filter(|(r, t)| r[0] == **t).count();
    assert_eq!(accuracy, correct as f64 / n as f64, "{pred}");
    // The score of class 1 is (1 + y) / 2: some outputs lie in (0, 0.5], where a 0.5
    // threshold would have labelled them otherwise.
    let between = rows
        .iter()
        .filter(|r| (0.5..=0.75).contains(&r[2].parse::<f64>().unwrap()) && r[0] == "1")
        .count();
    assert!(between > 0, "no output in (0, 0.5]: {pred}");
}

/// A build without the `mpi` feature started by mpirun refuses to train instead of
/// running N separate trainings that race to write the same files.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_run_as_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bprop"))
        .args(["train", "-q", "--backend", "cpu", "--epochs", "1", "-o", "m.bprop"])
        .current_dir(dir.path())
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("built without MPI") && err.contains("--features mpi"),
        "{err}"
    );
    assert!(!dir.path().join("m.bprop").exists());
    // one process under a launcher trains as usual
    let out = Command::new(env!("CARGO_BIN_EXE_bprop"))
        .args(["train", "-q", "--backend", "cpu", "--epochs", "1", "-o", "m.bprop"])
        .current_dir(dir.path())
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--checkpoint-every` writes the model during training without changing the run: the
/// final model is the one a run without it saves; without -o it is refused.
#[test]
fn checkpoints_change_nothing_and_need_an_output() {
    let (_keep, d) = setup();
    let args = |out: &'static str| {
        vec![
            "train",
            "-q",
            "--backend",
            "cpu",
            "--precision",
            "f64",
            "--epochs",
            "5",
            "--validation",
            "0",
            "-o",
            out,
        ]
    };
    ok(&d, &args("plain.bprop"));
    let mut every = args("every.bprop");
    every.extend(["--checkpoint-every", "2"]);
    ok(&d, &every);
    let model = |p: &str| read_model(d.join(p)).unwrap().cast::<f64>();
    let (a, b) = (model("plain.bprop"), model("every.bprop"));
    assert_eq!(a.network, b.network);
    assert_eq!(a.optimizer, b.optimizer);
    assert_eq!(b.meta.training.unwrap().epochs_done, 5);
    let out = bprop(&d, &["train", "-q", "--checkpoint-every", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("checkpoint-every") && err.contains("-o"), "{err}");
}

/// Trains with `--backend gpu` a network too large for the fused kernel (400 hidden units:
/// its activations exceed lavapipe's workgroup memory) in batches of up to 32, which take
/// the tiled product passes, under the environment `env`; returns the output.
fn train_gpu_with_env(d: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bprop"));
    c.args([
        "train",
        "train.csv",
        "--layers",
        "400",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--backend",
        "gpu",
        "--cross-check",
        "2",
        "-q",
    ])
    .current_dir(d)
    .env("XDG_RUNTIME_DIR", std::env::temp_dir());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

#[test]
fn the_gpu_path_tunes_its_product_kernels_into_the_cache_or_takes_the_one_forced() {
    let (_keep, d) = setup();
    let cache = d.join("kernel cache");
    let cache_s = cache.to_str().unwrap();
    // Tuned (the default): every product shape's choice lands in the cache file, and the
    // cross-check against the CPU path passes whichever variant won.
    let out = train_gpu_with_env(&d, &[("BPROP_CACHE_DIR", cache_s)]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("result: PASS"), "{stdout}");
    let text = std::fs::read_to_string(cache.join("kernels.json")).unwrap();
    assert!(
        text.contains("forward_tiled.wgsl") && text.contains("gradient_tiled.wgsl"),
        "{text}"
    );
    // A corrupt cache: a warning, the run goes on, the file is rewritten.
    std::fs::write(cache.join("kernels.json"), "{ torn").unwrap();
    let out = train_gpu_with_env(&d, &[("BPROP_CACHE_DIR", cache_s)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("corrupt"), "{stderr}");
    assert!(std::fs::read_to_string(cache.join("kernels.json"))
        .unwrap()
        .contains("\"version\""));
    // Forced: no tuning, so nothing is written to an empty cache directory.
    let forced = d.join("forced cache");
    let out = train_gpu_with_env(
        &d,
        &[
            ("BPROP_CACHE_DIR", forced.to_str().unwrap()),
            ("BPROP_KERNEL", "register-4x4"),
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("result: PASS"), "{stdout}");
    assert!(!forced.join("kernels.json").exists());
    // A name that is no variant: a clear error naming the variable and the choices.
    let out = train_gpu_with_env(&d, &[("BPROP_KERNEL", "warp-drive")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("BPROP_KERNEL") && stderr.contains("warp-drive") && stderr.contains("workgroup-64"),
        "{stderr}"
    );
}
