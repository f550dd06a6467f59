//! CSV and TSV files: a table of fields, one sample per line, read into a [`Grid`].
//!
//! - **Delimiter**: `--delimiter`, else a tab for `.tsv`/`.tab` files, else the first of
//!   `,`, tab, `;` that the first line contains (a comma when it has none of them).
//! - **Header**: `--header`/`--no-header`, else detected: the first line is a header when
//!   every one of its fields is text, or when a field is text (not a missing value such as
//!   `NA`) where the second line holds a number (so `x1,x2,label` above `0.5,1.2,setosa` is
//!   a header and `0.5,1.2,setosa` above `0.7,1.1,virginica` is not), or when it is
//!   `0,1,2,…,n−1` (n ≥ 3: pandas' default column names) above a line that is not.
//! - **Fields** are trimmed; quotes (`"a, b"`) follow RFC 4180 (the `csv` crate). A field
//!   that is not a finite number is kept as text (class labels); [`super::table`] decides
//!   whether that is allowed where it is.
//! - Blank lines are skipped; a UTF-8 byte-order mark is dropped; gzipped files (`1f 8b`)
//!   are decompressed on the fly.
//!
//! Errors are [`BpropError::Parse`] with the file and `line L` (1-based): a row with more
//! or fewer fields than the first (`ragged`), malformed quoting, or a quote never closed
//! (at the line where it opens; the `csv` crate alone would read the rest of the file
//! into one field).
//!
//! The file is read as a stream, straight into the grid, so memory follows the table, not
//! the text. Bounded ([`BpropError::InputLimit`]): a line to [`super::MAX_LINE_BYTES`],
//! columns to [`MAX_COLUMNS`], the data and the grid's memory to the input's limit
//! ([`super::input_limits`]).

use super::table::Grid;
use super::{open, sniff, Input};
use crate::error::{BpropError, Result};
use std::io::{BufRead, Read};
use std::path::Path;

/// How to read a CSV file; `None` fields are detected (module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter.
    pub delimiter: Option<u8>,
    /// Whether the first line is a header.
    pub header: Option<bool>,
}

/// Reads a CSV/TSV file (raw or gzipped) into a grid.
///
/// # Errors
/// [`BpropError::Io`] when the file cannot be read; [`BpropError::Parse`] for ragged rows,
/// bad quoting or a file without data rows.
pub fn read_csv(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Grid> {
    let path = path.as_ref();
    let name = path.display().to_string();
    Ok(parse_input(open(path)?, &name, opts, None)?.0)
}

/// A column's index and its fields as written, one per row ([`read_csv_with_column`]).
pub type KeptColumn = (usize, Vec<String>);

/// Reads a CSV/TSV file as [`read_csv`] does, and keeps the fields of the column `column`
/// (a header name, else a 0-based index) as their text, numbers included (`007` stays
/// `007`, an identifier beyond 2^53 keeps its digits), with the column's index; `None`
/// when the file has no such column. The kept text counts against the input's limit like
/// the grid.
///
/// # Errors
/// As [`read_csv`].
pub fn read_csv_with_column(
    path: impl AsRef<Path>,
    opts: &CsvOptions,
    column: &str,
) -> Result<(Grid, Option<KeptColumn>)> {
    let path = path.as_ref();
    let name = path.display().to_string();
    parse_input(open(path)?, &name, opts, Some(column))
}

/// Parses CSV from any buffered reader (gzip detected as for files); `name` stands for the
/// file in messages and chooses the default delimiter by its extension.
///
/// # Errors
/// As [`read_csv`].
pub fn parse_csv<R: BufRead>(reader: R, name: &str, opts: &CsvOptions) -> Result<Grid> {
    Ok(parse_input(sniff(reader, name)?, name, opts, None)?.0)
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Whether `fields` are `0,1,2,…,n−1` for n ≥ 3: the column names pandas gives a frame
/// built from an array (`pd.DataFrame(x).to_csv(index=False)`). Two columns `0,1` are
/// as likely a row of binary data, so they are not taken for names.
fn is_counting(fields: &[String]) -> bool {
    fields.len() >= 3 && fields.iter().enumerate().all(|(i, f)| *f == i.to_string())
}

/// The delimiter `name`'s extension implies, else the first of `,` `\t` `;` in `first_line`.
fn pick_delimiter(name: &str, first_line: &[u8]) -> u8 {
    let lower = name.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    if lower.ends_with(".tsv") || lower.ends_with(".tab") {
        return b'\t';
    }
    [b',', b'\t', b';']
        .into_iter()
        .find(|d| first_line.contains(d))
        .unwrap_or(b',')
}

/// The most columns a table may have (a line of 2^20 one-character fields is 2 MiB).
pub const MAX_COLUMNS: usize = 1 << 20;
/// The most lines one record may span (inside a quoted field) before the reader gives up.
const MAX_PENDING_RUNS: usize = 1 << 20;

/// Why [`Tracker`] stopped the stream (inside an `io::Error`).
#[derive(Debug)]
enum Stop {
    /// A line longer than [`super::MAX_LINE_BYTES`].
    LongLine(u64),
    /// A quote opened at this line and never closed.
    OpenQuote(u64),
    /// A record spanning too many lines, starting at this line.
    LongRecord(u64),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Stop {}

/// Where the quote rules of RFC 4180 (as the `csv` crate applies them) stand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    /// At the start of a field.
    Start,
    /// In an unquoted field.
    Plain,
    /// In a quoted field.
    Quoted,
    /// After a quote in a quoted field: its end, or the first of `""`.
    AfterQuote,
}

/// What [`Tracker`] has seen, shared with the parser.
struct Seen {
    /// Bytes given so far.
    pos: u64,
    /// The current line (1-based) and the bytes in it so far.
    line: u64,
    line_bytes: u64,
    quote: QuoteState,
    /// The line where the quoted field now open started.
    quote_line: u64,
    /// Runs of line-end bytes (`\r`, `\n`) not yet passed by a record: (first byte, end
    /// byte, newlines), in order.
    runs: std::collections::VecDeque<(u64, u64, u64)>,
    /// Newlines before every byte that records have passed.
    passed: u64,
}

/// A reader between the input and the `csv` crate that bounds line length, notices a
/// quote left open at the end, and keeps the line ends from which records' line numbers
/// are found (memory grows only with the bytes read ahead).
struct Tracker<R> {
    inner: R,
    delimiter: u8,
    seen: std::rc::Rc<std::cell::RefCell<Seen>>,
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.seen.borrow_mut();
        if n == 0 && !buf.is_empty() && matches!(s.quote, QuoteState::Quoted) {
            return Err(std::io::Error::other(Stop::OpenQuote(s.quote_line)));
        }
        for &b in &buf[..n] {
            let at = s.pos;
            s.pos += 1;
            let end = b == b'\n' || b == b'\r';
            if end {
                let nl = u64::from(b == b'\n');
                match s.runs.back_mut() {
                    Some(r) if r.1 == at => {
                        r.1 += 1;
                        r.2 += nl;
                    }
                    _ => s.runs.push_back((at, at + 1, nl)),
                }
                if s.runs.len() > MAX_PENDING_RUNS {
                    let line = s.quote_line;
                    return Err(std::io::Error::other(Stop::LongRecord(line)));
                }
            }
            if b == b'\n' {
                s.line += 1;
                s.line_bytes = 0;
            } else {
                s.line_bytes += 1;
                if s.line_bytes > super::MAX_LINE_BYTES {
                    let line = s.line;
                    return Err(std::io::Error::other(Stop::LongLine(line)));
                }
            }
            s.quote = match (s.quote, b) {
                (QuoteState::Start, b'"') => {
                    s.quote_line = s.line;
                    QuoteState::Quoted
                }
                (QuoteState::Quoted, b'"') => QuoteState::AfterQuote,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::AfterQuote, b'"') => QuoteState::Quoted,
                (_, d) if d == self.delimiter || end => QuoteState::Start,
                _ => QuoteState::Plain,
            };
        }
        Ok(n)
    }
}

impl Seen {
    /// The 1-based line of the record starting at byte `at` (a record's position may be
    /// that of the line ends the reader skipped before it).
    fn line_at(&mut self, at: u64) -> u64 {
        while let Some(&(start, end, nl)) = self.runs.front() {
            if start > at {
                break;
            }
            // A run wholly before the record, or one the record's position falls in
            // (blank lines skipped before it): its newlines are all before the record.
            let _ = end;
            self.passed += nl;
            self.runs.pop_front();
        }
        self.passed + 1
    }
}

fn parse_input(
    input: Input<'_>,
    name: &str,
    opts: &CsvOptions,
    keep: Option<&str>,
) -> Result<(Grid, Option<KeptColumn>)> {
    let gz = input.gz;
    let limit = input.limit;
    let mut reader = input.reader;
    let parse_err = |line: u64, message: String| BpropError::Parse {
        path: name.into(),
        location: format!("line {line}"),
        message,
    };
    // Blank lines before the first line with content are skipped here (counted), so that
    // the delimiter can be picked from that line without holding more than it.
    let mut skipped = 0u64;
    let mut first = Vec::new();
    loop {
        first.clear();
        let got = Read::take(&mut reader, super::MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut first)
            .map_err(|e| super::read_error(name, gz, || format!("line {}", skipped + 1), e))?;
        if first.len() as u64 > super::MAX_LINE_BYTES {
            return Err(BpropError::InputLimit {
                path: name.into(),
                what: format!("line {}", skipped + 1),
                limit: super::MAX_LINE_BYTES,
                hint: "a CSV line holds one row".into(),
            });
        }
        if skipped == 0 && first.starts_with(b"\xef\xbb\xbf") {
            first.drain(..3);
        }
        if got == 0 || !first.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        skipped += 1;
    }
    let delimiter = opts.delimiter.unwrap_or_else(|| pick_delimiter(name, &first));
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Seen {
        pos: 0,
        line: skipped + 1,
        line_bytes: 0,
        quote: QuoteState::Start,
        quote_line: skipped + 1,
        runs: std::collections::VecDeque::new(),
        passed: skipped,
    }));
    let tracker = Tracker {
        inner: std::io::Cursor::new(first).chain(reader),
        delimiter,
        seen: seen.clone(),
    };
    let mut csv_reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(tracker);
    let stream_err = |e: ::csv::Error, line: u64| -> BpropError {
        if !matches!(e.kind(), ::csv::ErrorKind::Io(_)) {
            return parse_err(line, format!("malformed CSV: {e}"));
        }
        let ::csv::ErrorKind::Io(io) = e.into_kind() else {
            unreachable!("matched above")
        };
        match io.get_ref().and_then(|r| r.downcast_ref::<Stop>()) {
            Some(Stop::LongLine(l)) => BpropError::InputLimit {
                path: name.into(),
                what: format!("line {l}"),
                limit: super::MAX_LINE_BYTES,
                hint: "a CSV line holds one row".into(),
            },
            Some(Stop::OpenQuote(l)) => parse_err(
                *l,
                "a quoted field opens here and is never closed (an unbalanced `\"`)".into(),
            ),
            Some(Stop::LongRecord(l)) => parse_err(
                *l,
                format!(
                    "a record spans more than {MAX_PENDING_RUNS} lines (a quoted field opened here and never \
                     closed?)"
                ),
            ),
            None => super::read_error(name, gz, || format!("line {line}"), io),
        }
    };
    let mut record = ::csv::StringRecord::new();
    let mut next = |record: &mut ::csv::StringRecord| -> Result<Option<u64>> {
        loop {
            match csv_reader.read_record(record) {
                Ok(false) => return Ok(None),
                Ok(true) => {
                    let line = record.position().map_or(0, |p| seen.borrow_mut().line_at(p.byte()));
                    // A line of only whitespace reads as one empty field: skip it.
                    if record.len() == 1 && record[0].is_empty() {
                        continue;
                    }
                    return Ok(Some(line));
                }
                Err(e) => {
                    let line = e
                        .position()
                        .map_or_else(|| seen.borrow().line, |p| seen.borrow_mut().line_at(p.byte()));
                    return Err(stream_err(e, line));
                }
            }
        }
    };
    let Some(first_no) = next(&mut record)? else {
        return Err(parse_err(1, "no data: the file is empty".into()));
    };
    let first: Vec<String> = record.iter().map(str::to_string).collect();
    let cols = first.len();
    if cols > MAX_COLUMNS {
        return Err(BpropError::InputLimit {
            path: name.into(),
            what: format!("line {first_no}'s {cols} columns"),
            limit: MAX_COLUMNS as u64,
            hint: "the limit is on columns, not bytes; a table this wide is not a CSV bprop reads".into(),
        });
    }
    let second_no = next(&mut record)?;
    let second: Option<Vec<String>> = second_no.map(|_| record.iter().map(str::to_string).collect());
    let header = opts.header.unwrap_or_else(|| {
        let all_text = first.iter().all(|f| !is_number(f));
        let text_over_number = second.as_ref().is_some_and(|s| {
            // A missing value (`NA`, empty) above a number is data, not a column name.
            first
                .iter()
                .zip(s)
                .any(|(a, b)| !is_number(a) && !super::prep::is_missing(a) && is_number(b))
        });
        all_text || text_over_number || (second.as_ref().is_some_and(|s| !is_counting(s)) && is_counting(&first))
    });
    let mut grid = Grid {
        source: name.into(),
        names: None,
        rows: 0,
        cols,
        values: Vec::new(),
        text: vec![Vec::new(); cols],
        lines: Some(Vec::new()),
    };
    let what = if header { "the header" } else { "the first row" };
    // The column kept as text: by header name, else by 0-based index.
    let keep_col: Option<usize> = keep.and_then(|k| {
        let by_name = header.then(|| first.iter().position(|f| f == k)).flatten();
        by_name.or_else(|| k.trim().parse::<usize>().ok().filter(|&c| c < cols))
    });
    let mut kept: Vec<String> = Vec::new();
    // Memory the grid holds, bounded by the input's limit: 8 bytes a value, a text field
    // its length and its bookkeeping.
    let mut held = 0u64;
    let mut push = |grid: &mut Grid, line: u64, n: usize, fields: &mut dyn Iterator<Item = &str>| -> Result<()> {
        if n != cols {
            return Err(parse_err(
                line,
                format!("ragged row: {n} fields, but {what} (line {first_no}) has {cols}"),
            ));
        }
        let row = grid.rows;
        for (c, f) in fields.enumerate() {
            held += 8;
            if keep_col == Some(c) {
                held += 40 + f.len() as u64;
                kept.push(f.to_string());
            }
            match f.parse::<f64>() {
                Ok(v) if v.is_finite() => grid.values.push(v),
                _ => {
                    held += 40 + f.len() as u64;
                    grid.values.push(f64::NAN);
                    grid.text[c].push((row, f.to_string()));
                }
            }
        }
        if held > limit {
            return Err(BpropError::InputLimit {
                path: name.into(),
                what: format!("the table read up to line {line} (about {held} bytes in memory)"),
                limit,
                hint: super::limit_hint(),
            });
        }
        grid.rows += 1;
        if let Some(lines) = grid.lines.as_mut() {
            lines.push(line);
        }
        Ok(())
    };
    if header {
        grid.names = Some(first);
    } else {
        push(&mut grid, first_no, first.len(), &mut first.iter().map(String::as_str))?;
    }
    if let (Some(line), Some(fields)) = (second_no, &second) {
        push(&mut grid, line, fields.len(), &mut fields.iter().map(String::as_str))?;
    }
    drop(second);
    while let Some(line) = next(&mut record)? {
        push(&mut grid, line, record.len(), &mut record.iter())?;
    }
    if grid.rows == 0 {
        return Err(parse_err(first_no, "a header but no data rows".into()));
    }
    Ok((grid, keep_col.map(|c| (c, kept))))
}
