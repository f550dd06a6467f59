//! `bprop predict` on files as users have them: the target column present but empty or
//! holding labels unseen in training (not read), an identifier column carried to the
//! output with `--id` (by name or index), and the errors `--id` gives.

use crate::spawn::bprop;
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

/// `n` rows of (length, width, species), three classes.
fn rows(n: usize) -> Vec<(f64, f64, &'static str)> {
    let names = ["setosa", "versicolor", "virginica"];
    (0..n)
        .map(|i| {
            let c = i % 3;
            let wobble = (i * 37 % 11) as f64 / 20.0;
            (c as f64 + wobble, 1.0 - c as f64 + wobble / 2.0, names[c])
        })
        .collect()
}

fn trained(d: &Path) {
    let mut train = String::from("length,width,species\n");
    for (l, w, s) in rows(30) {
        train += &format!("{l},{w},{s}\n");
    }
    std::fs::write(d.join("train.csv"), train).unwrap();
    ok(
        d,
        &[
            "train",
            "train.csv",
            "--epochs",
            "20",
            "--layers",
            "4",
            "--backend",
            "cpu",
            "-q",
            "-o",
            "m.bprop",
        ],
    );
}

#[test]
fn the_target_column_is_not_read_and_id_leads_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    // The inputs alone: the reference predictions.
    let mut inputs = String::from("length,width\n");
    // An identifier first, the target column empty, unseen or known, in another order.
    let mut kaggle = String::from("PassengerId,species,width,length\n");
    for (i, (l, w, _)) in rows(9).into_iter().enumerate() {
        inputs += &format!("{l},{w}\n");
        let target = ["", "rose", "setosa"][i % 3];
        kaggle += &format!("{},{target},{w},{l}\n", 892 + i);
    }
    std::fs::write(d.join("x.csv"), inputs).unwrap();
    std::fs::write(d.join("test.csv"), kaggle).unwrap();
    let reference = ok(d, &["predict", "m.bprop", "x.csv"]);
    // Targets empty or unseen: not read, the same predictions.
    let plain = ok(d, &["predict", "m.bprop", "test.csv"]);
    assert_eq!(plain, reference);
    let with_id = ok(d, &["predict", "m.bprop", "test.csv", "--id", "PassengerId"]);
    let lines: Vec<&str> = with_id.lines().collect();
    let expected: Vec<String> = reference
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("PassengerId,{l}")
            } else {
                format!("{},{l}", 891 + i)
            }
        })
        .collect();
    assert_eq!(lines, expected);
    assert!(lines[0].starts_with("PassengerId,prediction,p_setosa"), "{}", lines[0]);
    // By index, to a file.
    ok(d, &["predict", "m.bprop", "test.csv", "--id", "0", "-o", "out.csv"]);
    assert_eq!(std::fs::read_to_string(d.join("out.csv")).unwrap(), with_id);
    // Eval still reads the targets, and names the first it cannot.
    let err = fails(d, &["eval", "m.bprop", "test.csv"]);
    assert!(err.contains("line 2, column 2 (`species`)"), "{err}");
}

#[test]
fn id_by_position_in_a_headerless_regression_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut train = String::new();
    for i in 0..24 {
        let (a, b) = (i as f64 / 4.0, (i % 5) as f64);
        train += &format!("{a},{b},{}\n", 100.0 + 3.0 * a - 2.0 * b);
    }
    std::fs::write(d.join("r.csv"), &train).unwrap();
    ok(
        d,
        &[
            "train",
            "r.csv",
            "--no-header",
            "--epochs",
            "5",
            "--backend",
            "cpu",
            "-q",
            "-o",
            "r.bprop",
        ],
    );
    // The target column present and empty.
    std::fs::write(d.join("new.csv"), "7,1,\n9,2,\n").unwrap();
    std::fs::write(d.join("new_x.csv"), "7,1\n9,2\n").unwrap();
    let reference = ok(d, &["predict", "r.bprop", "new_x.csv", "--no-header"]);
    let out = ok(d, &["predict", "r.bprop", "new.csv", "--no-header", "--id", "0"]);
    let got: Vec<&str> = out.lines().collect();
    let want: Vec<String> = reference
        .lines()
        .zip(["id", "7", "9"])
        .map(|(l, id)| format!("{id},{l}"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_bad_id_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    std::fs::write(d.join("x.csv"), "Id,length,width\n1,0.5,1.0\n").unwrap();
    let err = fails(d, &["predict", "m.bprop", "x.csv", "--id", "PassengerId"]);
    assert!(err.contains("id") && err.contains("Id, length, width"), "{err}");
    let err = fails(d, &["predict", "m.bprop", "x.csv", "--id", "3"]);
    assert!(err.contains("no such column"), "{err}");
    std::fs::write(d.join("x.data"), "1 2 3\n0.5 1.0\n1 0 0\n").unwrap();
    let err = fails(d, &["predict", "m.bprop", "x.data", "--id", "0"]);
    assert!(err.contains("not a CSV/TSV or .npy file"), "{err}");
}

#[test]
fn eval_and_predict_read_a_header_as_the_training_file_had_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Years as column names: numbers over numbers, which detection takes for data.
    let mut csv = String::from("1990,1991,label\n");
    for i in 0..24 {
        let c = i % 2;
        csv += &format!("{},{},{}\n", c as f64 + (i % 5) as f64 / 10.0, 1 - c, ["a", "b"][c]);
    }
    std::fs::write(d.join("y.csv"), &csv).unwrap();
    ok(
        d,
        &[
            "train",
            "y.csv",
            "--header",
            "--epochs",
            "3",
            "--backend",
            "cpu",
            "-q",
            "-o",
            "y.bprop",
        ],
    );
    // No --header needed: the model had one, so the first line is names, found by name.
    let reordered: String = csv
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{}\n", f[2], f[1], f[0])
        })
        .collect();
    std::fs::write(d.join("r.csv"), &reordered).unwrap();
    let eval = ok(d, &["eval", "y.bprop", "r.csv"]);
    assert!(eval.contains("(24 samples)"), "{eval}");
    let p = ok(d, &["predict", "y.bprop", "r.csv"]);
    assert_eq!(p.lines().count(), 25);
    // Without --header, detection alone would take that line for data.
    let err = fails(d, &["eval", "y.bprop", "r.csv", "--no-header"]);
    assert!(err.contains("line 1") && err.contains("give --header"), "{err}");
    // A file of inputs without a header is still read by position.
    std::fs::write(d.join("bare.csv"), "0.5,1\n1.2,0\n").unwrap();
    assert_eq!(ok(d, &["predict", "y.bprop", "bare.csv"]).lines().count(), 3);

    // A model from a file without a header reads files without one; a header there fails
    // as data, with the hint to give --header.
    let body: String = csv.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("n.csv"), &body).unwrap();
    ok(
        d,
        &[
            "train",
            "n.csv",
            "--epochs",
            "3",
            "--backend",
            "cpu",
            "-q",
            "-o",
            "n.bprop",
        ],
    );
    std::fs::write(d.join("h.csv"), format!("x,y,label\n{body}")).unwrap();
    let err = fails(d, &["eval", "n.bprop", "h.csv"]);
    assert!(err.contains("line 1") && err.contains("give --header"), "{err}");
    assert!(ok(d, &["eval", "n.bprop", "h.csv", "--header"]).contains("(24 samples)"));
}

#[test]
fn identifiers_are_carried_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    // Leading zeros, digits beyond f64's 2^53, text, an empty one: each as written.
    let ids = ["007", "12345678901234567890123", "a-17", "", "1e3"];
    let mut csv = String::from("length,width,key\n");
    for (i, id) in ids.iter().enumerate() {
        csv += &format!("{},{},{id}\n", i as f64 / 2.0, 1.0 - i as f64 / 4.0);
    }
    std::fs::write(d.join("k.csv"), csv).unwrap();
    let out = ok(d, &["predict", "m.bprop", "k.csv", "--id", "key"]);
    let got: Vec<&str> = out.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(got, ids, "{out}");
}
