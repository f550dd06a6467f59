//! Files bprop writes and reads back: model files ([`model_file`]), FANN's network files
//! ([`fann_net`], export and import), ONNX models ([`onnx`], export), and the atomic
//! writer every output goes through ([`write_atomic`]).
//!
//! Every file is written **atomically**: the bytes go to a temporary file in the target's
//! directory (so the final rename stays on one file system), which is flushed and synced
//! to disk and then renamed over the target. A reader sees the old file or the whole new
//! one, never a part; a failed write removes its temporary file and leaves the old file as
//! it was.

pub mod fann_net;
pub mod model_file;
pub mod onnx;

pub use fann_net::{parse_fann_net, read_fann_net, to_fann_net};
pub use model_file::{
    parse_model, read_model, write_model, AnyModel, History, ModelFile, ModelMeta, TrainingSettings, FORMAT_NAME,
    FORMAT_VERSION,
};
pub use onnx::{to_onnx, write_onnx};

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
