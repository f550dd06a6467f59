//! CSV and TSV files: a table of fields, one sample per line, read into a [`Grid`].
//!
//! - **Delimiter**: `--delimiter`, else a tab for `.tsv`/`.tab` files, else the first of
//!   `,`, tab, `;` that the first line contains (a comma when it has none of them).
//! - **Header**: `--header`/`--no-header`, else detected: the first line is a header when
//!   every one of its fields is text, or when a field is text where the second line holds a
//!   number (so `x1,x2,label` above `0.5,1.2,setosa` is a header and `0.5,1.2,setosa` above
//!   `0.7,1.1,virginica` is not).
//! - **Fields** are trimmed; quotes (`"a, b"`) follow RFC 4180 (the `csv` crate). A field
//!   that is not a finite number is kept as text (class labels); [`super::table`] decides
//!   whether that is allowed where it is.
//! - Blank lines are skipped; a UTF-8 byte-order mark is dropped; gzipped files (`1f 8b`)
//!   are decompressed on the fly.
//!
//! Errors are [`BpropError::Parse`] with the file and `line L` (1-based): a row with more
//! or fewer fields than the first (`ragged`), or malformed quoting.

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
    parse_input(open(path)?, &name, opts)
}

/// Parses CSV from any buffered reader (gzip detected as for files); `name` stands for the
/// file in messages and chooses the default delimiter by its extension.
///
/// # Errors
/// As [`read_csv`].
pub fn parse_csv<R: BufRead>(reader: R, name: &str, opts: &CsvOptions) -> Result<Grid> {
    let input = sniff(reader).map_err(|source| BpropError::Io {
        path: name.into(),
        source,
    })?;
    parse_input(input, name, opts)
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok_and(f64::is_finite)
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

fn parse_input(mut input: Input<'_>, name: &str, opts: &CsvOptions) -> Result<Grid> {
    let mut bytes = Vec::new();
    input.reader.read_to_end(&mut bytes).map_err(|e| {
        if super::is_gzip_data_error(input.gz, &e) {
            BpropError::Parse {
                path: name.into(),
                location: "gzip stream".into(),
                message: format!("corrupt or truncated gzip data: {e}"),
            }
        } else {
            BpropError::Io {
                path: name.into(),
                source: e,
            }
        }
    })?;
    let body: &[u8] = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let first_line = body
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace));
    let delimiter = opts
        .delimiter
        .unwrap_or_else(|| pick_delimiter(name, first_line.unwrap_or(b"")));
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(body);
    let parse_err = |line: u64, message: String| BpropError::Parse {
        path: name.into(),
        location: format!("line {line}"),
        message,
    };
    let mut records = reader.records();
    // Line numbers counted from the records' byte offsets (the csv crate's own line count
    // skips blank lines): newlines before the record's first byte, plus 1.
    let (mut counted_to, mut newlines) = (0usize, 0u64);
    let mut line_at = |byte: u64| -> u64 {
        // A record's position can be that of blank lines the reader skipped before it.
        let mut byte = (byte as usize).min(body.len());
        while byte < body.len() && (body[byte] == b'\n' || body[byte] == b'\r') {
            byte += 1;
        }
        if byte > counted_to {
            newlines += body[counted_to..byte].iter().filter(|&&b| b == b'\n').count() as u64;
            counted_to = byte;
        }
        newlines + 1
    };
    let mut next = || -> Result<Option<(u64, Vec<String>)>> {
        loop {
            match records.next() {
                None => return Ok(None),
                Some(Ok(rec)) => {
                    let line = rec.position().map_or(0, |p| line_at(p.byte()));
                    // A line of only whitespace reads as one empty field: skip it.
                    if rec.len() == 1 && rec[0].is_empty() {
                        continue;
                    }
                    return Ok(Some((line, rec.iter().map(str::to_string).collect())));
                }
                Some(Err(e)) => {
                    let line = e.position().map_or(0, |p| line_at(p.byte()));
                    return Err(parse_err(line, format!("malformed CSV: {e}")));
                }
            }
        }
    };
    let Some((first_no, first)) = next()? else {
        return Err(parse_err(1, "no data: the file is empty".into()));
    };
    let second = next()?;
    let header = opts.header.unwrap_or_else(|| {
        let all_text = first.iter().all(|f| !is_number(f));
        let text_over_number = second
            .as_ref()
            .is_some_and(|(_, s)| first.iter().zip(s).any(|(a, b)| !is_number(a) && is_number(b)));
        all_text || text_over_number
    });
    let cols = first.len();
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
    let push = |grid: &mut Grid, line: u64, fields: Vec<String>| -> Result<()> {
        if fields.len() != cols {
            return Err(parse_err(
                line,
                format!(
                    "ragged row: {} fields, but {what} (line {first_no}) has {cols}",
                    fields.len()
                ),
            ));
        }
        let row = grid.rows;
        for (c, f) in fields.into_iter().enumerate() {
            match f.parse::<f64>() {
                Ok(v) if v.is_finite() => grid.values.push(v),
                _ => {
                    grid.values.push(f64::NAN);
                    grid.text[c].push((row, f));
                }
            }
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
        push(&mut grid, first_no, first)?;
    }
    if let Some((line, fields)) = second {
        push(&mut grid, line, fields)?;
    }
    while let Some((line, fields)) = next()? {
        push(&mut grid, line, fields)?;
    }
    if grid.rows == 0 {
        return Err(parse_err(first_no, "a header but no data rows".into()));
    }
    Ok(grid)
}
