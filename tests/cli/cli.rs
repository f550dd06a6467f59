//! The `bprop` binary as a user runs it: help, the demo on each backend and precision,
//! the fallback when no adapter matches, `devices`, and argument errors.

use std::process::{Command, Output};

fn bprop(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bprop"));
    cmd.args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_commands_with_examples() {
    let out = bprop(&["--help"], &[]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for needle in ["demo", "devices", "Examples:", "WGPU_ADAPTER_NAME"] {
        assert!(stdout.contains(needle), "--help lacks {needle}:\n{stdout}");
    }
    for sub in ["demo", "devices"] {
        let out = bprop(&[sub, "--help"], &[]);
        assert!(out.status.success());
        assert!(text(&out).0.contains("Examples:"), "{sub} --help lacks examples");
    }
}

/// The final error the demo prints (the last `error` block).
fn final_error(stdout: &str) -> f64 {
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines.iter().rposition(|l| *l == "error").expect("an error block");
    lines[i + 1]
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .expect("a number")
}

#[test]
fn demo_on_the_cpu_path_in_f64() {
    let out = bprop(&["demo", "--backend", "cpu", "--precision", "f64"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("backend: CPU path (host, f64)"), "{stdout}");
    assert_eq!(
        stdout.matches("\nerror\n").count(),
        100,
        "one error block per iteration"
    );
    // Backpropagation after 100 iterations: 3.2672e-07 (the seed's faulty listing: 5.93e-07).
    let e = final_error(&stdout);
    assert!((e - 3.2672e-7).abs() < 1e-10, "final error {e}");
    assert!(stdout.contains("5.92944818e-07"), "the seed's figure is shown");
    assert!(
        stdout.contains("No biases") && stdout.contains("broadcast"),
        "the two flaws are explained"
    );
    assert!(stdout.contains("cross-check: not run"));
}

#[test]
fn demo_on_the_gpu_path_cross_checks_in_f32_and_f64() {
    for precision in ["f32", "f64"] {
        let out = bprop(
            &["demo", "--backend", "gpu", "--precision", precision, "--every", "50"],
            &[],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{precision}: {stderr}\n{stdout}");
        assert!(stdout.contains("backend: GPU path"), "{stdout}");
        assert!(stdout.contains("result: PASS"), "{stdout}");
        assert!(stdout.contains("layer 0 weights") && stdout.contains("loss"));
        let e = final_error(&stdout);
        assert!((e - 3.2672e-7).abs() < 1e-9, "{precision}: final error {e}");
    }
}

#[test]
fn auto_falls_back_to_the_cpu_path_and_gpu_fails_when_no_adapter_matches() {
    let env = [("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere")];
    let out = bprop(&["demo", "--backend", "auto", "--every", "100"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("backend: CPU path"), "{stdout}");
    assert!(
        stdout.contains("note: GPU path unavailable") && stdout.contains("no-such-adapter-anywhere"),
        "{stdout}"
    );

    let out = bprop(&["demo", "--backend", "gpu"], &env);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: no usable GPU adapter") && stderr.contains("WGPU_ADAPTER_NAME"),
        "{stderr}"
    );
}

#[test]
fn devices_lists_the_adapter_auto_uses() {
    let out = bprop(&["devices"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("--backend auto uses:"), "{stdout}");
    assert!(stdout.contains("f64") && stdout.contains("limits:"), "{stdout}");
}

#[test]
fn bad_arguments_are_refused_with_a_usage_error() {
    for args in [
        &["demo", "--iterations", "0"][..],
        &["demo", "--backend", "tpu"],
        &["demo", "--precision", "f16"],
        &["frobnicate"],
    ] {
        let out = bprop(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!text(&out).1.is_empty());
    }
}
