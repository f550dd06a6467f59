//! The atomic writer every file bprop writes goes through ([`write_atomic`],
//! [`write_atomic_with`]): the bytes go to a temporary file in the target's directory (so
//! the final rename stays on one file system), which is flushed and synced to disk and then
//! renamed over the target. A reader sees the old file or the whole new one, never a part;
//! a failed write removes its temporary file and leaves the old file as it was.
//!
//! A leaf module: it depends on nothing in bprop but the error type, so the readers
//! (`data`) and the writers (`io`) both use it without depending on each other. It is
//! re-exported as `bprop::io::write_atomic` and `bprop::io::write_atomic_with`.

use crate::error::{BpropError, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `path` atomically with whatever `fill` writes: to a temporary file
/// `.NAME.tmp-PID-N` in the same directory, flushed, `sync_all`ed, then renamed over
/// `path`. If `fill`, the flush, the sync or the rename fails, the temporary file is
/// removed and `path` is left as it was.
///
/// # Errors
/// [`BpropError::InvalidArgument`] when `path` names no file; [`BpropError::Io`] naming
/// `path` (and the temporary file) with the first failure.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().ok_or_else(|| BpropError::InvalidArgument {
        name: "output",
        value: path.display().to_string(),
        why: "must name a file to write".into(),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> io::Result<()> {
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file: File = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // The rename is durable once the directory entry is: sync the directory too
        // (best effort; not every platform can open a directory).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|source| {
        let _ = fs::remove_file(&tmp);
        BpropError::Io {
            path: format!("{} (via {})", path.display(), tmp.display()),
            source,
        }
    })
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
///
/// # Errors
/// As [`write_atomic_with`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}
