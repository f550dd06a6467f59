//! The atomic writer's temporary files: a stale one with this process's PID (what a killed
//! save leaves, and PID 1 in a container meets again) neither blocks a save nor is removed
//! by one, and a failed save removes only the temporary file it created.

use bprop::io::{write_atomic, write_atomic_with};

#[test]
fn stale_temporary_files_are_skipped_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.bprop");
    let pid = std::process::id();
    // The names the writer used to give its first temporary files in this process.
    let stale: Vec<_> = (0..4)
        .map(|n| dir.path().join(format!(".m.bprop.tmp-{pid}-{n}")))
        .collect();
    for s in &stale {
        std::fs::write(s, "not ours").unwrap();
    }
    write_atomic(&out, b"one").unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"one");
    let failed = write_atomic_with(&out, |w| {
        w.write_all(b"partial")?;
        Err(std::io::Error::other("disk on fire"))
    });
    assert!(failed.unwrap_err().to_string().contains("disk on fire"));
    assert_eq!(std::fs::read(&out).unwrap(), b"one");
    for s in &stale {
        assert_eq!(std::fs::read(s).unwrap(), b"not ours", "{}", s.display());
    }
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n, 1 + stale.len(), "a temporary file was left behind");
}
