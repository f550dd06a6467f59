//! FANN's text format for training data (the `.train`, `.test` and `.data` files of the
//! FANN library and its benchmarks).
//!
//! ```text
//! 4 2 1        <- header: n_samples n_inputs n_outputs
//! -1 -1        <- sample 1's inputs
//! -1           <- sample 1's outputs
//! -1 1
//! 1
//! ...
//! ```
//!
//! # How strictly it is read
//!
//! Like FANN's own reader (`fann_read_train_from_fd`, which calls `fscanf` once per
//! number), this one reads the file as a **stream of whitespace-separated numbers**: line
//! breaks carry no meaning, so blank lines, extra spaces or tabs, CRLF line ends, and
//! samples whose numbers wrap over several lines are all accepted, exactly where FANN
//! accepts them. The header is the first three numbers. A UTF-8 byte-order mark at the
//! start is skipped. Gzipped files (magic `1f 8b`) are decompressed on the fly.
//!
//! Unlike FANN, it treats every problem as an error rather than silently bad data, reported
//! as [`BpropError::Parse`] with the file and `line L, column C` (1-based; columns count
//! characters), and sample numbers are 1-based:
//!
//! - a header count that is not a positive integer, or counts whose total does not fit
//!   in memory's address space;
//! - a field that is not a number (`abc`, `1,5`, `0x10`), or is NaN or infinite, or
//!   overflows the target type (`1e39` as `f32`);
//! - too few numbers: `expected 4 numbers for sample 12's inputs, found end of file ...`;
//! - too many numbers: anything after the last declared sample (FANN ignores it).
//!
//! Since lines do not matter, a number missing in the middle of a file shifts the rest
//! and is reported where the numbers run out, at the end of the file.
//!
//! A header is not trusted for allocation: memory is reserved for at most
//! 2^20 numbers per array up front and grows only as numbers are actually read.

use super::{open, read_error, sniff, Input, MAX_LINE_BYTES};
use crate::error::{BpropError, Result};
use crate::model::{Dataset, Real};
use ndarray::Array2;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;

/// The most numbers reserved up front, whatever the header says (8 MiB of `f64`).
const PREALLOC_LIMIT: usize = 1 << 20;

/// Reads a FANN data file (raw or gzipped) into a dataset of `T`.
///
/// # Errors
/// [`BpropError::Io`] when the file cannot be opened or read; [`BpropError::Parse`] for a
/// malformed file (see the [module docs](self)).
pub fn read_fann<T: Real>(path: impl AsRef<Path>) -> Result<Dataset<T>> {
    let path = path.as_ref();
    parse_input(open(path)?, &path.display().to_string())
}

/// Parses FANN data from any buffered reader (gzip detected as for files); `name` stands
/// for the file in messages.
///
/// # Errors
/// As [`read_fann`], with `name` for the path.
pub fn parse_fann<T: Real, R: BufRead>(reader: R, name: &str) -> Result<Dataset<T>> {
    parse_input(sniff(reader, name)?, name)
}

/// Writes `data` in FANN's format to `path`, atomically: the text goes to a temporary file
/// in the same directory, which is flushed, synced and then renamed over `path`, so
/// readers see the old file or the whole new one, never a part. Numbers are written in
/// Rust's shortest round-trip form, so [`read_fann`] gives back the same values.
///
/// # Errors
/// [`BpropError::InvalidArgument`] when `path` names no file; [`BpropError::Io`] (naming
/// the temporary file where it failed) when writing or renaming fails; the temporary file
/// is removed then.
pub fn write_fann<T: Real>(path: impl AsRef<Path>, data: &Dataset<T>) -> Result<()> {
    crate::fsutil::write_atomic_with(path.as_ref(), |w| write_fann_to(w, data))
}

/// Writes `data` in FANN's format to any writer: the header line, then per sample one line
/// of inputs and one line of outputs, numbers separated by single spaces.
///
/// # Errors
/// The writer's.
pub fn write_fann_to<T: Real, W: Write + ?Sized>(w: &mut W, data: &Dataset<T>) -> io::Result<()> {
    let (inputs, targets) = (data.inputs(), data.targets());
    writeln!(w, "{} {} {}", data.len(), inputs.ncols(), targets.ncols())?;
    for (x, y) in inputs.rows().into_iter().zip(targets.rows()) {
        for row in [x, y] {
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    w.write_all(b" ")?;
                }
                write!(w, "{v}")?;
            }
            w.write_all(b"\n")?;
        }
    }
    w.flush()
}

/// Whitespace as C's `isspace` (and so `fscanf`) sees it.
fn is_space(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

/// A token's place: 1-based line, and its byte range in that line.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// Splits a stream into whitespace-separated tokens, tracking lines.
struct Tokens<'a> {
    input: Input<'a>,
    name: &'a str,
    line: Vec<u8>,
    /// 1-based number of the line in `line`; 0 before the first.
    line_no: usize,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(input: Input<'a>, name: &'a str) -> Self {
        Tokens {
            input,
            name,
            line: Vec::new(),
            line_no: 0,
            pos: 0,
        }
    }

    /// The next token, or `None` at the end of the stream.
    fn next(&mut self) -> Result<Option<Span>> {
        loop {
            while self.pos < self.line.len() && is_space(self.line[self.pos]) {
                self.pos += 1;
            }
            if self.pos < self.line.len() {
                let start = self.pos;
                while self.pos < self.line.len() && !is_space(self.line[self.pos]) {
                    self.pos += 1;
                }
                return Ok(Some(Span { start, end: self.pos }));
            }
            self.line.clear();
            self.pos = 0;
            // One byte over the limit tells a line of exactly the limit from a longer one.
            let n = match Read::take(&mut self.input.reader, MAX_LINE_BYTES + 1).read_until(b'\n', &mut self.line) {
                Ok(n) => n,
                Err(e) => {
                    let line = self.line_no + 1;
                    return Err(read_error(self.name, self.input.gz, || format!("line {line}"), e));
                }
            };
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            if self.line.len() as u64 > MAX_LINE_BYTES {
                return Err(BpropError::InputLimit {
                    path: self.name.into(),
                    what: format!("line {}", self.line_no),
                    limit: MAX_LINE_BYTES,
                    hint: "FANN files hold one sample's inputs or outputs per line".into(),
                });
            }
            if self.line_no == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
            }
        }
    }

    /// The token's text, lossily decoded for messages.
    fn text(&self, s: Span) -> String {
        const MAX: usize = 40;
        let t = String::from_utf8_lossy(&self.line[s.start..s.end]);
        if t.chars().count() > MAX {
            format!("{}...", t.chars().take(MAX).collect::<String>())
        } else {
            t.into_owned()
        }
    }

    /// An error at a token: `line L, column C`.
    fn err_at(&self, s: Span, message: String) -> BpropError {
        let column = String::from_utf8_lossy(&self.line[..s.start]).chars().count() + 1;
        BpropError::Parse {
            path: self.name.into(),
            location: format!("line {}, column {column}", self.line_no),
            message,
        }
    }

    /// An error at the current line (used at the end of the file).
    fn err_line(&self, message: String) -> BpropError {
        BpropError::Parse {
            path: self.name.into(),
            location: format!("line {}", self.line_no.max(1)),
            message,
        }
    }

    /// A header count: a positive integer.
    fn count(&mut self, what: &str, index: usize) -> Result<usize> {
        let Some(s) = self.next()? else {
            let message = if index == 0 {
                "expected a header `n_samples n_inputs n_outputs`, found end of file".to_string()
            } else {
                format!("expected 3 header numbers (n_samples n_inputs n_outputs), found end of file after {index}")
            };
            return Err(self.err_line(message));
        };
        let bytes = &self.line[s.start..s.end];
        let digits = bytes.strip_prefix(b"+").unwrap_or(bytes);
        let why = if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            "is not a positive integer"
        } else {
            match std::str::from_utf8(digits).ok().and_then(|d| d.parse::<usize>().ok()) {
                Some(0) => "is not positive",
                Some(n) => return Ok(n),
                None => "is absurdly large",
            }
        };
        Err(self.err_at(s, format!("header: the number of {what} `{}` {why}", self.text(s))))
    }

    /// One finite number, converted to `T`; `what` says which, e.g. `sample 3's input 2`.
    fn number<T: Real>(&self, s: Span, what: impl FnOnce() -> String) -> Result<T> {
        let parsed = std::str::from_utf8(&self.line[s.start..s.end])
            .ok()
            .and_then(|t| t.parse::<f64>().ok());
        let why = match parsed {
            Some(v) if v.is_finite() => {
                let t = T::of(v);
                if t.is_finite() {
                    return Ok(t);
                }
                format!("is out of range for {}", T::NAME)
            }
            Some(_) => "is not finite (NaN and infinities are refused)".into(),
            None => "is not a number".into(),
        };
        Err(self.err_at(s, format!("{} `{}` {why}", what(), self.text(s))))
    }
}

/// The reader behind [`read_fann`] and [`parse_fann`].
fn parse_input<T: Real>(input: Input<'_>, name: &str) -> Result<Dataset<T>> {
    let mut tok = Tokens::new(input, name);
    let n = tok.count("samples", 0)?;
    let header_line = tok.line_no;
    let n_in = tok.count("inputs", 1)?;
    let n_out = tok.count("outputs", 2)?;
    let sizes = n.checked_mul(n_in).zip(n.checked_mul(n_out)).filter(|&(a, b)| {
        a.checked_add(b)
            .is_some_and(|t| t <= isize::MAX as usize / std::mem::size_of::<T>())
    });
    let Some((in_total, out_total)) = sizes else {
        return Err(BpropError::Parse {
            path: name.into(),
            location: format!("line {header_line}"),
            message: format!(
                "header: n_samples = {n}, n_inputs = {n_in}, n_outputs = {n_out} declare more numbers than \
                 memory can hold; the header is corrupt"
            ),
        });
    };
    let mut inputs: Vec<T> = Vec::with_capacity(in_total.min(PREALLOC_LIMIT));
    let mut targets: Vec<T> = Vec::with_capacity(out_total.min(PREALLOC_LIMIT));
    for sample in 1..=n {
        for (width, part, out) in [(n_in, "input", &mut inputs), (n_out, "output", &mut targets)] {
            for j in 1..=width {
                let Some(s) = tok.next()? else {
                    return Err(tok.err_line(format!(
                        "expected {width} numbers for sample {sample}'s {part}s, found end of file after {} \
                         (header: n_samples = {n}, n_inputs = {n_in}, n_outputs = {n_out})",
                        j - 1
                    )));
                };
                out.push(tok.number(s, || format!("sample {sample}'s {part} {j} of {width}"))?);
            }
        }
    }
    if let Some(s) = tok.next()? {
        return Err(tok.err_at(
            s,
            format!(
                "trailing data `{}` after the last sample (header: n_samples = {n}, n_inputs = {n_in}, \
                 n_outputs = {n_out})",
                tok.text(s)
            ),
        ));
    }
    let inputs = Array2::from_shape_vec((n, n_in), inputs).expect("n * n_in numbers were read");
    let targets = Array2::from_shape_vec((n, n_out), targets).expect("n * n_out numbers were read");
    Dataset::new(inputs, targets)
}
