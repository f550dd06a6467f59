//! Every line the binary prints goes through here: `println!`, `print!`, `eprintln!` and
//! `eprint!` are redefined in `main.rs` to call [`stdout`] and [`stderr`], so that no
//! subcommand can panic on a closed or full standard output, and no text read from a file
//! (a label, a column name, a file name) reaches the terminal with its control characters.
//!
//! - **A closed pipe** (`bprop info m.bprop | head -1`): the first write that meets EPIPE
//!   ends the process quietly with status 0, as if the reader had read everything; `train`
//!   instead ([`keep_going_on_closed_stdout`]) drops the rest of its output and finishes
//!   its work, so that the model is still saved.
//! - **Any other write error** (`> /dev/full`): the rest of the output is dropped, the
//!   command finishes, and [`finish`] returns the error as a typed
//!   [`BpropError::Io`] naming standard output, so the process exits with status 1.
//! - **Control characters** other than newline and tab are printed escaped (`\u{1b}`), by
//!   [`escape_controls`].

use bprop::{BpropError, Result};
use std::borrow::Cow;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A write to standard output failed: drop the rest.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Keep working (but drop output) on EPIPE instead of exiting.
static KEEP_GOING: AtomicBool = AtomicBool::new(false);
/// Standard output carries data (`-o -`): messages go to standard error.
static STDOUT_IS_DATA: AtomicBool = AtomicBool::new(false);
/// Print nothing (the ranks of a data-parallel run other than rank 0).
static SILENT: AtomicBool = AtomicBool::new(false);
/// The first write error other than EPIPE.
static FIRST_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

/// On a closed standard output, drop further output and carry on instead of exiting (for
/// `train`, whose model must be saved whoever reads its summary).
pub fn keep_going_on_closed_stdout() {
    KEEP_GOING.store(true, Ordering::SeqCst);
}

/// Standard output carries the command's data (a plot or predictions written to `-`):
/// from now on messages go to standard error.
pub fn stdout_is_data() {
    STDOUT_IS_DATA.store(true, Ordering::SeqCst);
}

/// Drops every message and every byte of data from now on (`silent`), or prints again:
/// under `mpirun`, only rank 0 speaks.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub fn set_silent(silent: bool) {
    SILENT.store(silent, Ordering::SeqCst);
}

/// Whether [`set_silent`] silenced this process (read in signal handlers: one atomic load).
pub fn is_silent() -> bool {
    SILENT.load(Ordering::SeqCst)
}

/// `text` with every control character except newline and tab, and the Unicode
/// bidirectional overrides, written as a Rust escape (`\u{1b}`), so that text from files
/// cannot move the cursor, recolour or retitle a terminal.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            s.extend(c.escape_unicode());
        } else {
            s.push(c);
        }
    }
    Cow::Owned(s)
}

/// What `print!`/`println!` call: writes `args` (control characters escaped) to standard
/// output, or to standard error once standard output carries data.
pub fn stdout(args: fmt::Arguments) {
    if SILENT.load(Ordering::SeqCst) {
        return;
    }
    if STDOUT_IS_DATA.load(Ordering::SeqCst) {
        return stderr(args);
    }
    if STDOUT_GONE.load(Ordering::SeqCst) {
        return;
    }
    let text = args.to_string();
    let text = escape_controls(&text);
    let mut lock = io::stdout().lock();
    if let Err(e) = lock.write_all(text.as_bytes()).and_then(|()| lock.flush()) {
        drop(lock);
        failed(e);
    }
}

/// Writes the command's data to standard output through `fill`, with the same handling of
/// a closed or failing output as [`stdout`] (errors are reported by [`finish`]). Into a
/// pipe or a file the bytes go as they are (they are data: a CSV's labels, an SVG); on a
/// terminal, control characters are escaped as in messages.
pub fn data(fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
    if STDOUT_GONE.load(Ordering::SeqCst) || SILENT.load(Ordering::SeqCst) {
        return;
    }
    let mut lock = io::stdout().lock();
    let r = if lock.is_terminal() {
        let mut buf = Vec::new();
        fill(&mut buf).and_then(|()| {
            let text = String::from_utf8_lossy(&buf);
            lock.write_all(escape_controls(&text).as_bytes())
        })
    } else {
        fill(&mut lock)
    }
    .and_then(|()| lock.flush());
    drop(lock);
    if let Err(e) = r {
        failed(e);
    }
}

fn failed(e: io::Error) {
    STDOUT_GONE.store(true, Ordering::SeqCst);
    if e.kind() == io::ErrorKind::BrokenPipe {
        if !KEEP_GOING.load(Ordering::SeqCst) {
            std::process::exit(0);
        }
        return;
    }
    let mut first = FIRST_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    if first.is_none() {
        *first = Some(e);
    }
}

/// What `eprint!`/`eprintln!` call: writes `args` (control characters escaped) to
/// standard error, ignoring failures (there is nowhere left to report them).
pub fn stderr(args: fmt::Arguments) {
    if SILENT.load(Ordering::SeqCst) {
        return;
    }
    let text = args.to_string();
    let _ = io::stderr().lock().write_all(escape_controls(&text).as_bytes());
}

/// Flushes standard output and reports the first write error the run met.
///
/// # Errors
/// [`BpropError::Io`] naming standard output, for a failure other than a closed pipe.
pub fn finish() -> Result<()> {
    if !STDOUT_GONE.load(Ordering::SeqCst) {
        if let Err(e) = io::stdout().lock().flush() {
            failed(e);
        }
    }
    match FIRST_ERROR.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(source) => Err(BpropError::Io {
            path: "standard output".into(),
            source,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("a\tb\nc"), "a\tb\nc");
        assert_eq!(escape_controls("\x1b[31mred\x07"), "\\u{1b}[31mred\\u{7}");
        assert_eq!(escape_controls("x\ry\u{202e}z\u{9b}"), "x\\u{d}y\\u{202e}z\\u{9b}");
    }
}
