//! `mpirun -n N bprop train` end to end (built with `--features mpi`; needs Open MPI's
//! `mpirun` on the PATH): the model of N ranks is the single process's within 1e-12 in f64
//! (even and uneven splits of the batch, dropout, validation), the same N repeats it bit for
//! bit, only rank 0 prints and writes, a run resumes with another N, and a rank that fails
//! or is killed ends the job with a message naming it, without a hang. Every mpirun is
//! bounded in time; processes are placed on loopback, oversubscribed, one thread each.

use bprop::io::read_model;
use bprop::model::Network;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(300);

fn mpirun(dir: &Path, ranks: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-n", &ranks.to_string()])
        .arg(env!("CARGO_BIN_EXE_bprop"))
        .args(args);
    env(&mut c, dir);
    c
}

fn env(c: &mut Command, dir: &Path) {
    c.current_dir(dir)
        .env("BPROP_THREADS", "1")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("WGPU_BACKEND", "vulkan")
        // the shared-memory transport's files in the test's directory, not /dev/shm
        .env("OMPI_MCA_btl_vader_backing_directory", dir)
        .stdin(Stdio::null());
}

fn single(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bprop"));
    c.args(args);
    env(&mut c, dir);
    c
}

/// Waits for `child` within [`BOUND`], killing it past that (a hang fails the test).
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {BOUND:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `c` to its end within the bound: status, stdout, stderr.
fn run(mut c: Command) -> (ExitStatus, String, String) {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child);
    (status, out.join().unwrap(), err.join().unwrap())
}

#[track_caller]
fn ok(c: Command) -> String {
    let what = format!("{c:?}");
    let (status, out, err) = run(c);
    assert!(status.success(), "{what} failed:\n{err}\n{out}");
    out
}

fn network(path: &Path) -> Network<f64> {
    read_model(path).unwrap().cast::<f64>().network
}

/// The largest |a − b| / max(|a|, |b|, 1e-3) over every parameter.
fn max_rel_diff(a: &Network<f64>, b: &Network<f64>) -> f64 {
    let mut worst = 0.0f64;
    for (la, lb) in a.layers().iter().zip(b.layers()) {
        let pairs = la.weights.iter().zip(&lb.weights);
        let bias = la.bias.iter().flatten().zip(lb.bias.iter().flatten());
        for (&x, &y) in pairs.chain(bias) {
            worst = worst.max((x - y).abs() / x.abs().max(y.abs()).max(1e-3));
        }
    }
    worst
}

/// The bundled diabetes set (384 rows), f64, Adam, dropout, a validation split.
fn train_args<'a>(batch: &'a str, epochs: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--backend",
        "cpu",
        "--precision",
        "f64",
        "--batch-size",
        batch,
        "--epochs",
        epochs,
        "--dropout",
        "0.2",
        "--layers",
        "16,8",
        "-o",
        out,
    ]
}

#[test]
fn ranks_train_the_single_process_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // batch 10: 2 ranks split it evenly, 3 ranks as 4 + 3 + 3
    ok(single(d, &train_args("10", "3", "one.bprop")));
    let one = network(&d.join("one.bprop"));
    for ranks in [2, 3] {
        let name = format!("n{ranks}.bprop");
        let out = ok(mpirun(d, ranks, &train_args("10", "3", &name)));
        let got = network(&d.join(&name));
        let diff = max_rel_diff(&got, &one);
        assert!(diff <= 1e-12, "{ranks} ranks: parameters differ by {diff:e} relative");
        // rank 0 alone prints
        assert_eq!(out.matches("network: ").count(), 1, "{out}");
        let all: Vec<String> = (0..ranks).map(|r| r.to_string()).collect();
        assert!(out.contains(&format!("rank {}: CPU path", all.join(", "))), "{out}");
    }
    // a batch of 7 on 3 ranks (3 + 2 + 2), and the same N again: the same bits
    ok(single(d, &train_args("7", "2", "one7.bprop")));
    ok(mpirun(d, 3, &train_args("7", "2", "a.bprop")));
    ok(mpirun(d, 3, &train_args("7", "2", "b.bprop")));
    let (a, b) = (network(&d.join("a.bprop")), network(&d.join("b.bprop")));
    assert_eq!(a, b, "two runs on 3 ranks differ");
    let diff = max_rel_diff(&a, &network(&d.join("one7.bprop")));
    assert!(diff <= 1e-12, "batch 7 on 3 ranks: {diff:e}");
}

#[test]
fn gpu_ranks_train_the_single_gpu_model() {
    // each rank opens its own device on the adapter (lavapipe in CI)
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = |out: &'static str| {
        vec![
            "train",
            "--backend",
            "gpu",
            "--precision",
            "f64",
            "--batch-size",
            "10",
            "--epochs",
            "2",
            "--layers",
            "12",
            "-o",
            out,
        ]
    };
    ok(single(d, &args("one.bprop")));
    let out = ok(mpirun(d, 2, &args("two.bprop")));
    assert!(out.contains("rank 0, 1: GPU path"), "{out}");
    let diff = max_rel_diff(&network(&d.join("two.bprop")), &network(&d.join("one.bprop")));
    assert!(diff <= 1e-12, "2 GPU ranks: parameters differ by {diff:e} relative");
    // with dropout: the masks of the global batch's rows, as one process draws them
    let mut one = args("one_d.bprop");
    one.extend(["--dropout", "0.2"]);
    ok(single(d, &one));
    let mut two = args("two_d.bprop");
    two.extend(["--dropout", "0.2"]);
    ok(mpirun(d, 2, &two));
    let diff = max_rel_diff(&network(&d.join("two_d.bprop")), &network(&d.join("one_d.bprop")));
    assert!(diff <= 1e-12, "2 GPU ranks with dropout: {diff:e} relative");
}

#[test]
fn a_run_resumes_with_another_number_of_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(single(d, &train_args("12", "4", "straight.bprop")));
    ok(mpirun(d, 2, &train_args("12", "2", "m.bprop")));
    let out = ok(mpirun(
        d,
        3,
        &["train", "--resume", "m.bprop", "--epochs", "2", "--backend", "cpu"],
    ));
    assert!(out.contains("resuming m.bprop after epoch 2"), "{out}");
    let diff = max_rel_diff(&network(&d.join("m.bprop")), &network(&d.join("straight.bprop")));
    assert!(diff <= 1e-12, "2 ranks then 3 against one process: {diff:e}");
    let m = read_model(d.join("m.bprop")).unwrap().cast::<f64>();
    assert_eq!(m.meta.training.unwrap().epochs_done, 4);
}

#[test]
fn a_rank_that_fails_ends_the_job_naming_it() {
    // rank 1 is given a file that does not exist; rank 0 would wait for it in its first
    // collective operation
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut c = Command::new("mpirun");
    let exe = env!("CARGO_BIN_EXE_bprop");
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-n",
        "1",
        exe,
        "train",
        "-q",
        "--backend",
        "cpu",
    ])
    .args([":", "-n", "1", exe, "train", "missing.csv", "-q", "--backend", "cpu"]);
    env(&mut c, d);
    let (status, out, err) = run(c);
    assert!(!status.success(), "{out}");
    assert!(
        err.contains("error on rank 1 of 2") && err.contains("missing.csv"),
        "no message naming rank 1 and its reason:\n{err}"
    );
    // ranks that would train different networks are refused before any step
    let mut c = Command::new("mpirun");
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-n",
        "1",
        exe,
        "train",
        "-q",
        "--backend",
        "cpu",
    ])
    .args([
        "--layers",
        "8",
        ":",
        "-n",
        "1",
        exe,
        "train",
        "-q",
        "--backend",
        "cpu",
        "--layers",
        "8,4",
    ]);
    env(&mut c, d);
    let (status, _, err) = run(c);
    assert!(!status.success());
    assert!(err.contains("rank 1: its network shape"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_killed_rank_ends_the_job_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tag = format!("BPROP_MPI_TEST={}", std::process::id());
    let mut c = mpirun(
        d,
        3,
        &["train", "--backend", "cpu", "--epochs", "1000000", "-o", "k.bprop"],
    );
    c.env("BPROP_MPI_TEST", std::process::id().to_string());
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    // training is under way once rank 0 reports its first epoch
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("mpirun ended before training:\n{seen}");
        }
        seen += &line;
        if line.starts_with("epoch") {
            break;
        }
    }
    let rank1 = ranks_tagged(&tag, "1");
    assert_eq!(rank1.len(), 1, "rank 1's process among {rank1:?}");
    // SAFETY: kill(2) on a process this test started.
    assert_eq!(unsafe { libc::kill(rank1[0], libc::SIGKILL) }, 0);
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let status = wait_bounded(&mut child);
    let rest = seen + &reader.join().unwrap();
    assert!(!status.success());
    assert!(
        rest.contains("rank 1") && rest.contains("signal 9"),
        "no message naming rank 1 and its end:\n{rest}"
    );
    // nothing was saved from the broken group
    assert!(!d.join("k.bprop").exists());
    assert!(ranks_tagged(&tag, "0").is_empty() && ranks_tagged(&tag, "2").is_empty());
}

#[cfg(unix)]
#[test]
fn sigterm_to_mpirun_stops_every_rank_after_the_same_epoch_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut c = mpirun(
        d,
        2,
        &["train", "--backend", "cpu", "--epochs", "1000000", "-o", "s.bprop"],
    );
    // Open MPI sends SIGKILL this many seconds after forwarding SIGTERM (1 by default,
    // and it waits them out): time for the ranks to finish their epoch and save
    c.env("OMPI_MCA_odls_base_sigkill_timeout", "5");
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("epoch") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "mpirun ended before training");
    }
    // mpirun forwards SIGTERM to the ranks; they agree to stop after the same chunk (one
    // epoch: there is a validation set)
    // SAFETY: kill(2) on the mpirun this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    wait_bounded(&mut child);
    let rest = reader.join().unwrap();
    let m = read_model(d.join("s.bprop")).unwrap_or_else(|e| panic!("no model saved: {e}\n{rest}"));
    assert!(m.cast::<f64>().meta.training.unwrap().epochs_done >= 1);
}

#[cfg(target_os = "linux")]
#[test]
fn a_checkpoint_resumes_a_killed_run_with_another_number_of_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tag = format!("BPROP_MPI_CHECKPOINT={}", std::process::id());
    let mut args = train_args("12", "1000000", "c.bprop");
    args.extend(["--validation", "0", "--checkpoint-every", "2", "-q"]);
    let mut c = mpirun(d, 2, &args);
    c.env("BPROP_MPI_CHECKPOINT", std::process::id().to_string());
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // wait for rank 0's first checkpoint, then kill rank 1
    let start = Instant::now();
    while read_model(d.join("c.bprop")).is_err() {
        assert!(start.elapsed() < BOUND, "no checkpoint written");
        assert!(child.try_wait().unwrap().is_none(), "mpirun ended before a checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rank1 = ranks_tagged(&tag, "1");
    assert_eq!(rank1.len(), 1, "rank 1's process among {rank1:?}");
    // SAFETY: kill(2) on a process this test started.
    assert_eq!(unsafe { libc::kill(rank1[0], libc::SIGKILL) }, 0);
    assert!(!wait_bounded(&mut child).success());
    let saved = read_model(d.join("c.bprop")).unwrap().cast::<f64>();
    let done = saved.meta.training.as_ref().unwrap().epochs_done;
    assert!(done >= 2 && done.is_multiple_of(2), "checkpoint after epoch {done}");
    assert!(saved.meta.training.unwrap().stopped.contains("checkpoint"));
    // resumed on 3 ranks: the one process's run of as many epochs
    ok(mpirun(
        d,
        3,
        &[
            "train",
            "--resume",
            "c.bprop",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "-q",
        ],
    ));
    let total = (done + 2).to_string();
    let mut straight = train_args("12", &total, "straight.bprop");
    straight.extend(["--validation", "0"]);
    ok(single(d, &straight));
    let diff = max_rel_diff(&network(&d.join("c.bprop")), &network(&d.join("straight.bprop")));
    assert!(
        diff <= 1e-12,
        "checkpoint of 2 ranks resumed on 3 against one process: {diff:e}"
    );
}

/// The processes whose environment holds `tag` and `OMPI_COMM_WORLD_RANK=rank`.
#[cfg(target_os = "linux")]
fn ranks_tagged(tag: &str, rank: &str) -> Vec<i32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
        if vars.contains(&tag.as_bytes()) && vars.contains(&want.as_bytes()) {
            found.push(pid);
        }
    }
    found
}
