//! The CPU path's weights are bit-identical whatever its thread count.
//!
//! Each count runs in a process of its own, so that the threads a process starts can be
//! counted: the test re-runs this test binary, filtered to the `child` test, once with
//! `BPROP_THREADS=1` and once choosing 2 threads through
//! `bprop::cpu::threads::set_threads` (with the variable unset). The child trains a few
//! mini-batch steps whose products are large enough for the packed product to split over
//! two threads, and prints a digest of every weight's bits, the count it ran with and the
//! threads the process gained. No timing is asserted.

use bprop::cpu::{threads, uses_loops, CpuEngine};
use bprop::engine::Engine;
use bprop::model::{Activation, Dataset, Hyper, Init, Loss, Network, NetworkSpec, Optimizer};
use ndarray::Array2;
use std::process::Command;

const CHILD: &str = "BPROP_THREADS_TEST_CHILD";

/// The number of threads of this process (Linux), or `None`.
fn os_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs in the child processes only (a no-op in an ordinary test run).
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    if let Some(n) = mode.strip_prefix("set:") {
        threads::set_threads(n.parse().unwrap()).unwrap();
    }
    // 300-128-10, batch 128: the first layer's forward and gradient products are far above
    // the loops' threshold, and large enough for the packed product to use two threads
    // (at least 2¹⁶ multiply-adds a thread).
    let (inputs, hidden, batch) = (300, 128, 128);
    assert!(!uses_loops(batch, inputs, hidden));
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Relu)
        .layer(10, Activation::Softmax);
    let net = Network::<f64>::random(&spec, Init::Auto, 3).unwrap();
    let n = 256;
    let x = Array2::from_shape_fn((n, inputs), |(i, j)| ((i * 13 + j * 7) % 29) as f64 / 29.0 - 0.5);
    let y = Array2::from_shape_fn((n, 10), |(i, k)| if i % 10 == k { 1.0 } else { 0.0 });
    let mut engine = CpuEngine::new(net, Dataset::new(x, y).unwrap()).unwrap();
    let order: Vec<u32> = (0..(4 * batch) as u32).map(|i| (i * 37) % n as u32).collect();
    let before = os_threads();
    let hyper = Hyper::sgd(0.05).with_optimizer(Optimizer::Momentum { momentum: 0.9 });
    let losses = engine.train_with(&order, batch, &hyper).unwrap();
    let gained = match (before, os_threads()) {
        (Some(b), Some(a)) => (a - b).to_string(),
        _ => "unknown".into(),
    };
    // FNV-1a over the losses' and parameters' bits.
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |v: f64| digest = (digest ^ v.to_bits()).wrapping_mul(0x0100_0000_01b3);
    losses.iter().for_each(|&l| eat(l));
    for layer in engine.network().unwrap().layers() {
        layer.weights.iter().for_each(|&w| eat(w));
        layer.bias.iter().flatten().for_each(|&b| eat(b));
    }
    let used = threads::threads();
    assert!(threads::set_threads(0).is_err() && threads::set_threads(threads::MAX_THREADS + 1).is_err());
    println!("RESULT digest={digest:016x} threads={used} gained={gained}");
}

fn run_child(mode: &str, env_threads: Option<&str>) -> (String, usize, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env(CHILD, mode);
    match env_threads {
        Some(n) => cmd.env(threads::ENV_VAR, n),
        None => cmd.env_remove(threads::ENV_VAR),
    };
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {mode} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no result from child {mode}:\n{stdout}"));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    (field("digest="), field("threads=").parse().unwrap(), field("gained="))
}

#[test]
fn weights_are_bit_identical_with_one_and_two_threads() {
    let (one, n1, gained1) = run_child("env", Some("1"));
    let (two, n2, gained2) = run_child("set:2", None);
    assert_eq!((n1, n2), (1, 2), "thread counts the children ran with");
    // The pool: no thread for one, one more for two (where /proc tells).
    if gained1 != "unknown" {
        assert_eq!((gained1.as_str(), gained2.as_str()), ("0", "1"), "threads started");
    }
    assert_eq!(one, two, "weights after 4 steps with 1 and with 2 threads");
}
