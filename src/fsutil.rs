//! The writer every file bprop writes goes through ([`write_atomic`],
//! [`write_atomic_with`]), and the check of an output location before work that would be
//! lost if the write failed ([`check_output`]).
//!
//! What a path names decides how it is written:
//!
//! - **A regular file, or nothing yet**: atomic replacement. The bytes go to a new
//!   temporary file beside the target (so that the final rename stays on one file system),
//!   which is flushed and synced to disk and then renamed over the target, with the
//!   target's permissions. A reader sees the old file or the whole new one, never a part;
//!   a failed write removes its temporary file and leaves the old file as it was.
//! - **A symbolic link** is followed to its final target (at most 40 links, as the kernel
//!   does), and that target is replaced: the link stays a link, and a dangling link
//!   creates its target.
//! - **A character device or a FIFO** (`/dev/null`, `/dev/stdout` on a terminal, a named
//!   pipe) is written straight into: it is never replaced by a regular file. A FIFO's open
//!   waits for its reader, as any writer's does.
//! - **A link under `/proc/*/fd` or `/dev/fd`** (`/dev/stdout`, `/proc/self/fd/1`) names an
//!   open file rather than a path; it is written through as the shell would (a regular
//!   file behind it is truncated), never replaced.
//! - **A directory, a block device or a socket** is refused with a clear error.
//!
//! Temporary files are named `.NAME.tmp-PID-N-T` (N a per-process counter, T the clock's
//! nanoseconds) and created with `O_EXCL`, retrying with the next name when one exists: a
//! stale temporary file left by a killed process with the same PID (PID 1 in containers)
//! is skipped, and only a temporary file this process created is ever removed.
//!
//! A leaf module: it depends on nothing in bprop but the error type, so the readers
//! (`data`) and the writers (`io`) both use it without depending on each other. It is
//! re-exported as `bprop::io::write_atomic` and `bprop::io::write_atomic_with`.

use crate::error::{BpropError, Result};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many symbolic links are followed before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;
/// How many temporary names are tried before giving up.
const MAX_TEMP_TRIES: usize = 1000;

/// What an output path resolves to.
enum Target {
    /// A regular file or no file yet, at this final path: replaced atomically.
    Replace(PathBuf),
    /// A character device, a FIFO, or an open file behind a `/proc/*/fd` link: written
    /// straight into (truncated when it is a regular file).
    Stream { path: PathBuf, truncate: bool },
}

fn io_err(path: &Path, source: io::Error) -> BpropError {
    BpropError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn refuse(path: &Path, why: &str) -> BpropError {
    BpropError::InvalidArgument {
        name: "output",
        value: path.display().to_string(),
        why: why.into(),
    }
}

/// A link whose target is an open file of a process rather than a path.
fn is_fd_link(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.starts_with("/dev/fd/") || (s.starts_with("/proc/") && s.contains("/fd/"))
}

/// Follows `path` to what it finally names (see the module's documentation).
fn resolve(path: &Path) -> Result<Target> {
    if path.file_name().is_none() {
        return Err(refuse(path, "must name a file to write"));
    }
    let mut p = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Replace(p)),
            Err(e) => return Err(io_err(&p, e)),
            Ok(m) => m,
        };
        if meta.file_type().is_symlink() {
            if is_fd_link(&p) {
                // The kernel opens what the descriptor holds; its "path" may be `pipe:[N]`.
                let truncate = fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false);
                return Ok(Target::Stream { path: p, truncate });
            }
            let link = fs::read_link(&p).map_err(|e| io_err(&p, e))?;
            p = match p.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            continue;
        }
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(Target::Replace(p));
        }
        if kind.is_dir() {
            return Err(io_err(
                path,
                io::Error::new(io::ErrorKind::IsADirectory, "is a directory; name a file to write"),
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_char_device() || kind.is_fifo() {
                return Ok(Target::Stream {
                    path: p,
                    truncate: false,
                });
            }
        }
        return Err(refuse(
            path,
            "is neither a regular file, a character device nor a FIFO (a block device or a socket is never written)",
        ));
    }
    Err(refuse(path, &format!("more than {MAX_LINKS} symbolic links to follow")))
}

/// The directory a file at `target` lives in.
fn dir_of(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a new temporary file beside `target` (`O_EXCL`), trying further names while
/// one exists. Only the path returned is this process's to remove.
fn create_temp(target: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = dir_of(target);
    let name = target.file_name().unwrap_or(OsStr::new("output")).to_string_lossy();
    let mut last = None;
    for _ in 0..MAX_TEMP_TRIES {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                let what = if dir.is_dir() {
                    format!("{} (cannot create a file in {})", target.display(), dir.display())
                } else {
                    format!("{} (its directory {} does not exist)", target.display(), dir.display())
                };
                return Err(BpropError::Io { path: what, source: e });
            }
        }
    }
    Err(io_err(
        target,
        last.unwrap_or_else(|| io::Error::other("no free temporary file name")),
    ))
}

/// Checks, before work whose result would be lost if the write failed (training), that
/// `path` can be written as [`write_atomic_with`] would write it: it resolves to a regular
/// file, a new file, a character device or a FIFO (which is not opened), and a file can be
/// created in the target's directory (tried with a temporary file, removed at once).
///
/// # Errors
/// [`BpropError::InvalidArgument`] for a block device, a socket or too many links;
/// [`BpropError::Io`] naming the path for a directory, or when its directory is missing or
/// not writable.
pub fn check_output(path: &Path) -> Result<()> {
    match resolve(path)? {
        Target::Stream { .. } => Ok(()),
        Target::Replace(target) => {
            let (tmp, file) = create_temp(&target)?;
            drop(file);
            let _ = fs::remove_file(&tmp);
            Ok(())
        }
    }
}

/// Writes `path` with whatever `fill` writes (see the module's documentation for what each
/// kind of path gets). For a regular or new file: to a new temporary file
/// `.NAME.tmp-PID-N-T` beside the final target, flushed, `sync_all`ed, then renamed over
/// it; if `fill`, the flush, the sync or the rename fails, that temporary file is removed
/// and the target is left as it was.
///
/// # Errors
/// [`BpropError::InvalidArgument`] when `path` names no file, a block device or a socket;
/// [`BpropError::Io`] naming `path` (and the temporary file) for a directory and with the
/// first failure.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let target = match resolve(path)? {
        Target::Stream { path: p, truncate } => {
            let write = || -> io::Result<()> {
                let file = OpenOptions::new().write(true).truncate(truncate).open(&p)?;
                let mut w = BufWriter::new(file);
                fill(&mut w)?;
                w.flush()
            };
            return write().map_err(|e| io_err(path, e));
        }
        Target::Replace(t) => t,
    };
    let (tmp, file) = create_temp(&target)?;
    let dir = dir_of(&target);
    let write = || -> io::Result<()> {
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file: File = w.into_inner().map_err(|e| e.into_error())?;
        // A replaced file keeps its permissions.
        if let Ok(m) = fs::metadata(&target) {
            file.set_permissions(m.permissions())?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &target)?;
        // The rename is durable once the directory entry is: sync the directory too
        // (best effort; not every platform can open a directory).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|source| {
        // The temporary file is this process's own (created with O_EXCL above).
        let _ = fs::remove_file(&tmp);
        let shown = if target == path {
            format!("{} (via {})", path.display(), tmp.display())
        } else {
            format!("{} (→ {}, via {})", path.display(), target.display(), tmp.display())
        };
        BpropError::Io { path: shown, source }
    })
}

/// Writes `bytes` to `path` (see [`write_atomic_with`]).
///
/// # Errors
/// As [`write_atomic_with`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}
