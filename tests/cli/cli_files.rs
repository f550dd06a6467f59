//! Files, signals and standard output through the CLI binary: outputs that are symbolic
//! links, device nodes, FIFOs, directories or under missing directories; SIGTERM, SIGHUP
//! and SIGINT during training; a closed or full standard output; a divergence that must
//! not replace a trained model; control characters from files. Training cases run on the
//! CPU path and the GPU path (which must find an adapter: these fail, never skip, without
//! one).

use crate::spawn::{bprop, cmd};
use bprop::io::read_model;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const BACKENDS: [&str; 2] = ["cpu", "gpu"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    assert!(
        out.status.success(),
        "bprop {args:?} failed:\n{}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// Runs, asserts exit code 1 and that nothing was trained (no summary); returns stderr.
#[track_caller]
fn fails_before_training(dir: &Path, args: &[&str]) -> String {
    let out = bprop(dir, args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "bprop {args:?} should fail: {stderr}\n{stdout}"
    );
    assert!(
        !stdout.contains("done:") && !stdout.contains("network:"),
        "trained first:\n{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A short run on the bundled set.
fn train_args<'a>(backend: &'a str, epochs: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["train", "--backend", backend, "--epochs", epochs, "-q", "-o", out]
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    (dir, d)
}

/// Waits for `child` at most `limit` (a bound against hanging, not a timing assertion).
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("bprop did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_char_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).unwrap().file_type().is_char_device()
}

#[test]
fn a_symlink_to_a_model_is_followed_and_its_target_replaced() {
    for backend in BACKENDS {
        let (_keep, d) = setup();
        ok(&d, &train_args(backend, "1", "m.bprop"));
        std::os::unix::fs::symlink("m.bprop", d.join("link.bprop")).unwrap();
        ok(&d, &train_args(backend, "2", "link.bprop"));
        assert!(std::fs::symlink_metadata(d.join("link.bprop"))
            .unwrap()
            .file_type()
            .is_symlink());
        let m = read_model(d.join("m.bprop")).unwrap().cast::<f32>();
        assert_eq!(
            m.meta.training.unwrap().epochs_done,
            2,
            "{backend}: the link's target is stale"
        );
        // A dangling link creates its target.
        std::os::unix::fs::symlink("new.bprop", d.join("dangling.bprop")).unwrap();
        ok(&d, &train_args(backend, "1", "dangling.bprop"));
        read_model(d.join("new.bprop")).unwrap();
        assert!(std::fs::symlink_metadata(d.join("dangling.bprop"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn a_character_device_is_written_into_never_replaced() {
    let (_keep, d) = setup();
    // A node of our own where we may create one (as root), so that a regression cannot
    // replace the system's; /dev/null otherwise.
    let own = d.join("null");
    let made = Command::new("mknod")
        .arg(&own)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    let null = if made { own.clone() } else { PathBuf::from("/dev/null") };
    for backend in BACKENDS {
        ok(&d, &train_args(backend, "1", null.to_str().unwrap()));
        assert!(is_char_device(&null), "{backend}: {} was replaced", null.display());
    }
    // A full device: a clear error, the device left alone.
    let full = if made {
        let f = d.join("full");
        assert!(Command::new("mknod")
            .arg(&f)
            .args(["c", "1", "7"])
            .status()
            .unwrap()
            .success());
        f
    } else {
        PathBuf::from("/dev/full")
    };
    let out = bprop(&d, &train_args("cpu", "1", full.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("No space left"), "{}", text(&out.stderr));
    assert!(is_char_device(&full));
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_fifo_is_written_into() {
    for backend in BACKENDS {
        let (_keep, d) = setup();
        let fifo = d.join("pipe");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                std::fs::File::open(fifo).unwrap().read_to_end(&mut bytes).unwrap();
                bytes
            })
        };
        ok(&d, &train_args(backend, "1", "pipe"));
        use std::os::unix::fs::FileTypeExt;
        // (Checked before joining the reader, which a replaced FIFO would leave waiting.)
        assert!(
            std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
            "{backend}"
        );
        let bytes = reader.join().unwrap();
        std::fs::write(d.join("copy.bprop"), &bytes).unwrap();
        read_model(d.join("copy.bprop")).unwrap();
    }
}

#[test]
fn output_locations_are_checked_before_training() {
    for backend in BACKENDS {
        let (_keep, d) = setup();
        std::fs::write(d.join("file"), "x").unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
        let err = fails_before_training(&d, &train_args(backend, "1", "no/such/dir/m.bprop"));
        assert!(err.contains("no/such/dir") && err.contains("does not exist"), "{err}");
        // A path under a regular file (what a read-only directory cannot show to root).
        let err = fails_before_training(&d, &train_args(backend, "1", "file/m.bprop"));
        assert!(err.contains("file/m.bprop"), "{err}");
        let err = fails_before_training(&d, &train_args(backend, "1", "dir"));
        assert!(err.contains("is a directory"), "{err}");
        let err = fails_before_training(&d, &train_args(backend, "1", "-"));
        assert!(err.contains("binary"), "{err}");
        let mut args = train_args(backend, "1", "m.bprop");
        args.extend(["--plot", "no/such/dir/loss.svg"]);
        let err = fails_before_training(&d, &args);
        assert!(err.contains("no/such/dir"), "{err}");
        assert!(!d.join("m.bprop").exists());
    }
    // A read-only directory, where permissions bind (not as root).
    let (_keep, d) = setup();
    std::fs::create_dir(d.join("ro")).unwrap();
    let mut perms = std::fs::metadata(d.join("ro")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(d.join("ro"), perms).unwrap();
    if std::fs::write(d.join("ro/probe"), "x").is_err() {
        let err = fails_before_training(&d, &train_args("cpu", "1", "ro/m.bprop"));
        assert!(err.contains("cannot create a file in ro"), "{err}");
    }
}

#[test]
fn plot_and_fann_export_to_standard_output() {
    let (_keep, d) = setup();
    let out = bprop(&d, &["train", "--backend", "cpu", "--epochs", "2", "-q", "--plot", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = text(&out.stdout);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    assert!(text(&out.stderr).contains("done:"), "the summary goes to stderr");
    assert!(!d.join("-").exists());
}

/// Starts a long training run, waits for its first epoch, sends `signal`, and checks the
/// exit status and the saved model.
fn interrupted(backend: &str, signal: &str, status: i32, epochs: &str) {
    let (_keep, d) = setup();
    let mut command = cmd(
        &d,
        &["train", "--backend", backend, "--epochs", epochs, "-o", "m.bprop"],
    );
    // bprop keeps a signal that was ignored when it started ignored (as under `nohup`, or
    // SIGINT in a background job), so the test gives the child the default dispositions
    // whatever this test process inherited.
    // SAFETY: `signal` is async-signal-safe, and the closure touches nothing else of the
    // forked process.
    unsafe {
        command.pre_exec(|| {
            for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while !line.starts_with("epoch") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no progress: {seen}");
        seen += &line;
    }
    assert!(Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let s = wait_bounded(&mut child, Duration::from_secs(120));
    let rest = reader.join().unwrap();
    assert_eq!(s.code(), Some(status), "{backend} {signal}: {seen}{rest}");
    let m = read_model(d.join("m.bprop")).unwrap().cast::<f32>();
    let t = m.meta.training.unwrap();
    assert!(t.epochs_done >= 1 && t.epochs_done < 100000, "{}", t.epochs_done);
    assert!(
        !seen.contains("memory allocation") && !rest.contains("panicked"),
        "{seen}{rest}"
    );
    assert!(t.stopped.contains("interrupt"), "{}", t.stopped);
}

#[test]
fn sigterm_saves_the_model_and_exits_143() {
    for backend in BACKENDS {
        interrupted(backend, "TERM", 143, "100000");
    }
}

#[test]
fn sighup_and_sigint_save_the_model_and_exit_129_and_130() {
    interrupted("cpu", "HUP", 129, "100000");
    // An epoch count nothing could reserve room for: training starts all the same.
    interrupted("gpu", "INT", 130, "1000000000000");
}

/// Runs with standard output a pipe whose reading end is closed at once.
fn closed_stdout(dir: &Path, args: &[&str]) -> Output {
    let mut child = cmd(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(300));
    Output {
        status,
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    }
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_and_train_still_saves() {
    let (_keep, d) = setup();
    for backend in BACKENDS {
        let name = format!("m-{backend}.bprop");
        let out = closed_stdout(&d, &train_args(backend, "2", &name));
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", text(&out.stderr));
        read_model(d.join(&name)).unwrap();
    }
    std::fs::write(d.join("t.csv"), "a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n").unwrap();
    ok(
        &d,
        &[
            "train",
            "t.csv",
            "--task",
            "regression",
            "--backend",
            "cpu",
            "--epochs",
            "1",
            "-q",
            "-o",
            "x.bprop",
        ],
    );
    for args in [
        &["info", "m-cpu.bprop"][..],
        &["eval", "m-cpu.bprop", "t.csv"],
        &["predict", "x.bprop", "t.csv"],
        &["demo", "--backend", "cpu"],
        &["devices"],
        &["explain"],
        &["export", "x.bprop", "--format", "fann", "-o", "-"],
    ] {
        let out = closed_stdout(&d, args);
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // eval of the diabetes model on t.csv fails on its columns; the others succeed.
        if args[0] != "eval" {
            assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        }
    }
}

#[test]
fn a_full_stdout_is_an_error_after_the_model_is_saved() {
    for backend in BACKENDS {
        let (_keep, d) = setup();
        let out = cmd(&d, &train_args(backend, "2", "m.bprop"))
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("standard output") && err.contains("No space left"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        read_model(d.join("m.bprop")).unwrap();
    }
    let (_keep, d) = setup();
    ok(&d, &train_args("cpu", "1", "m.bprop"));
    let out = cmd(&d, &["info", "m.bprop"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("standard output"), "{}", text(&out.stderr));
}

#[test]
fn a_divergence_in_the_first_chunk_keeps_the_trained_model() {
    for backend in BACKENDS {
        let (_keep, d) = setup();
        std::fs::write(d.join("t.csv"), "a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n").unwrap();
        ok(
            &d,
            &[
                "train",
                "t.csv",
                "--backend",
                backend,
                "--epochs",
                "5",
                "-q",
                "-o",
                "m.bprop",
            ],
        );
        let before = std::fs::read(d.join("m.bprop")).unwrap();
        let out = bprop(
            &d,
            &[
                "train",
                "t.csv",
                "--backend",
                backend,
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
                "--task",
                "regression",
                "--epochs",
                "20",
                "--validation",
                "0",
                "-q",
                "-o",
                "m.bprop",
            ],
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("diverged") && stdout.contains("nothing saved"),
            "{stdout}{stderr}"
        );
        assert_eq!(std::fs::read(d.join("m.bprop")).unwrap(), before, "{backend}");
    }
}

#[test]
fn control_characters_from_files_are_escaped() {
    let (_keep, d) = setup();
    let mut csv = String::from("a,b,y\n");
    for i in 0..20 {
        csv += &format!(
            "{},{},{}\n",
            i % 2,
            i % 3,
            if i % 2 == 0 { "\x1b[31mred" } else { "blue\x07" }
        );
    }
    std::fs::write(d.join("t\x1b]0;title\x07.csv"), csv).unwrap();
    let stdout = ok(
        &d,
        &[
            "train",
            "t\x1b]0;title\x07.csv",
            "--backend",
            "cpu",
            "--epochs",
            "1",
            "-q",
            "-o",
            "m.bprop",
        ],
    );
    assert!(!stdout.contains('\x1b') && !stdout.contains('\x07'), "{stdout:?}");
    assert!(stdout.contains("\\u{1b}]0;title"), "{stdout}");
    let info = ok(&d, &["info", "m.bprop"]);
    assert!(!info.contains('\x1b') && info.contains("\\u{1b}[31mred"), "{info:?}");
    let err = text(&bprop(&d, &["eval", "m.bprop", "missing\x1b[2J.csv"]).stderr);
    assert!(!err.contains('\x1b') && err.contains("\\u{1b}[2J"), "{err:?}");
}

/// Writes `m.bprop` (one epoch on `backend`) with its `epochs_done` replaced.
fn with_epochs_done(d: &Path, backend: &str, epochs_done: usize) {
    ok(d, &train_args(backend, "1", "m.bprop"));
    let mut m = read_model(d.join("m.bprop")).unwrap().cast::<f32>();
    m.meta.training.as_mut().unwrap().epochs_done = epochs_done;
    bprop::io::write_model(d.join("m.bprop"), &m).unwrap();
}

/// Runs to the end within a bound; returns the status and stderr.
fn run_bounded(dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut child = cmd(dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    (status, reader.join().unwrap())
}

#[test]
fn resuming_after_any_number_of_epochs_starts_at_once() {
    for backend in BACKENDS {
        // Replaying 10^12 epochs' shuffles would never end (bounded wait).
        let (_keep, d) = setup();
        with_epochs_done(&d, backend, 1_000_000_000_000);
        let (status, err) = run_bounded(
            &d,
            &[
                "train",
                "--resume",
                "m.bprop",
                "--epochs",
                "1",
                "-q",
                "--backend",
                backend,
            ],
        );
        assert!(status.success(), "{backend}: {err}");
        let m = read_model(d.join("m.bprop")).unwrap().cast::<f32>();
        assert_eq!(m.meta.training.unwrap().epochs_done, 1_000_000_000_001);

        // A counter at the top of its range: a clear error, not a spin or an overflow.
        let (_keep, d) = setup();
        with_epochs_done(&d, backend, usize::MAX);
        let (status, err) = run_bounded(&d, &["train", "--resume", "m.bprop", "-q", "--backend", backend]);
        assert_eq!(status.code(), Some(1), "{backend}: {err}");
        // The model file's decoder refuses the counter (over its 2^53 limit) with a
        // typed error naming the field.
        assert!(err.contains("epochs_done") && err.contains("over the limit"), "{err}");
    }
}

#[test]
fn user_numbers_never_size_an_allocation() {
    let (_keep, d) = setup();
    for (args, name) in [
        (&["train", "--epochs", "18446744073709551615", "-q"][..], "epochs"),
        (&["train", "--layers", "4294967296", "-q"], "layers"),
        (&["train", "--layers", "50000,50000,50000", "-q"], "layers"),
        (&["train", "--schedule", "step:18446744073709551616", "-q"], "schedule"),
        (&["train", "--schedule", "step:18446744073709551615", "-q"], "schedule"),
    ] {
        for backend in BACKENDS {
            let mut a = args.to_vec();
            a.extend(["--backend", backend]);
            let out = bprop(&d, &a);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{a:?}: {err}");
            assert!(err.contains(&format!("`{name}`")), "{a:?}: {err}");
        }
    }
    let err = text(&bprop(&d, &["train", "--layers", "4294967296", "-q"]).stderr);
    assert!(err.contains("GiB") && err.contains("MemAvailable"), "{err}");
    let out = bprop(&d, &["bench", "--seed-step", "--steps", "100000000000"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--steps"));
}

#[test]
fn an_unknown_wgpu_backend_is_named() {
    let (_keep, d) = setup();
    let out = cmd(&d, &["train", "--backend", "gpu", "--epochs", "1", "-q"])
        .env("WGPU_BACKEND", "bogus")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("WGPU_BACKEND=`bogus`") && !err.contains("Backends("),
        "{err}"
    );
    let out = cmd(&d, &["devices"]).env("WGPU_BACKEND", "bogus").output().unwrap();
    assert!(
        text(&out.stdout).contains("WGPU_BACKEND=`bogus`"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_link_to_an_open_descriptor_is_written_through() {
    let (_keep, d) = setup();
    std::fs::write(d.join("t.csv"), "a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n").unwrap();
    ok(
        &d,
        &[
            "train",
            "t.csv",
            "--task",
            "regression",
            "--backend",
            "cpu",
            "--epochs",
            "1",
            "-q",
            "-o",
            "x.bprop",
        ],
    );
    std::os::unix::fs::symlink("/proc/self/fd/1", d.join("out")).unwrap();
    let stdout = ok(&d, &["export", "x.bprop", "--format", "fann", "-o", "out"]);
    assert!(stdout.starts_with("FANN_FLO"), "{stdout}");
    assert!(std::fs::symlink_metadata(d.join("out"))
        .unwrap()
        .file_type()
        .is_symlink());
    // predict checks its output before reading the data.
    let out = bprop(&d, &["predict", "x.bprop", "missing.csv", "-o", "no/such/dir/p.csv"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no/such/dir") && !err.contains("missing.csv"), "{err}");
}
