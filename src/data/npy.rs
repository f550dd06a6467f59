//! NumPy's `.npy` files (format versions 1, 2 and 3): one array, read as a table.
//!
//! Layout: the magic `\x93NUMPY`, the version (major, minor), the header length (u16 LE
//! for version 1, u32 LE for 2 and 3), then a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (150, 5), }` padded with spaces, then
//! the data.
//!
//! Supported element types (`descr`, little- or big-endian): `f4` (f32), `f8` (f64), `u1`
//! (u8) and `i8` (i64, exact up to 2⁵³). Anything else (`<i4`, `<U10`, object arrays, ...)
//! is refused, naming the type; so is `fortran_order: True` (save with
//! `np.ascontiguousarray`). A 1-D array of n values is one column; an (n, ...) array has n
//! rows and the product of the other dimensions as columns (an MNIST-like (n, 28, 28)
//! becomes (n, 784)).
//!
//! The data's size is computed from the shape with overflow checks and compared with the
//! file's length **before** anything is allocated: a header declaring absurd sizes or a
//! truncated file is an error, and so are bytes after the data. Errors are
//! [`BpropError::Parse`] with the file and a byte offset.

use super::table::Grid;
use crate::error::{BpropError, Result};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The largest header accepted (NumPy writes a few hundred bytes; version 2 allows 4 GiB).
const MAX_HEADER: usize = 1 << 20;

/// An array read from a `.npy` file, widened to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The dimensions, as in the header.
    pub shape: Vec<usize>,
    /// The values in C order.
    pub values: Vec<f64>,
    /// The element type as the header names it, e.g. `<f4`.
    pub descr: String,
}

impl NpyArray {
    /// The array as a table: rows are the first dimension, columns the product of the others.
    ///
    /// # Errors
    /// [`BpropError::Shape`] for a 0-dimensional array.
    pub fn into_grid(self, source: &str) -> Result<Grid> {
        let (rows, cols) = match self.shape.as_slice() {
            [] => {
                return Err(BpropError::Shape {
                    what: format!("{source} (array)"),
                    expected: "at least 1 dimension: (n,) or (n, columns)".into(),
                    got: "a scalar, shape ()".into(),
                })
            }
            [n] => (*n, 1),
            [n, rest @ ..] => {
                // With a zero dimension the data is empty whatever the others say, so
                // their product is bounded here, not by the data's size.
                let cols = rest.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                match cols {
                    Some(c) if c <= super::csv::MAX_COLUMNS => (*n, c),
                    _ => {
                        return Err(BpropError::Shape {
                            what: format!("{source} (array)"),
                            expected: format!(
                                "at most {} columns (the product of the dimensions after the first)",
                                super::csv::MAX_COLUMNS
                            ),
                            got: format!("shape {:?}", self.shape),
                        })
                    }
                }
            }
        };
        if rows.checked_mul(cols) != Some(self.values.len()) {
            return Err(BpropError::Shape {
                what: format!("{source} (array)"),
                expected: format!("{} values for shape {:?}", rows.saturating_mul(cols), self.shape),
                got: format!("{} values", self.values.len()),
            });
        }
        let mut text = vec![Vec::new(); cols];
        for (i, v) in self.values.iter().enumerate() {
            if !v.is_finite() {
                text[i % cols.max(1)].push((i / cols.max(1), v.to_string()));
            }
        }
        Ok(Grid {
            source: source.into(),
            names: None,
            rows,
            cols,
            values: self.values,
            text,
            lines: None,
        })
    }
}

fn err(name: &str, offset: usize, message: impl Into<String>) -> BpropError {
    BpropError::Parse {
        path: name.into(),
        location: format!("byte offset {offset}"),
        message: message.into(),
    }
}

/// Reads a `.npy` file, checking its declared size against the file's length before
/// reading the data.
///
/// # Errors
/// [`BpropError::Io`]; [`BpropError::Parse`] as in the module doc.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let io = |source| BpropError::Io {
        path: name.clone(),
        source,
    };
    let (mut file, len) = super::open_regular(path)?;
    let mut pre = [0u8; 12];
    let got = super::read_full(&mut file, &mut pre).map_err(io)?;
    if got >= 2 && pre[..2] == [0x1f, 0x8b] {
        // Gzipped (`.npy.gz`): decompressed within the input's limit, then parsed whole.
        drop(file);
        let mut input = super::open(path)?;
        let mut bytes = Vec::new();
        input
            .reader
            .read_to_end(&mut bytes)
            .map_err(|e| super::read_error(&name, true, || "gzip stream".into(), e))?;
        return parse_npy(&bytes, &name);
    }
    let limit = super::input_limits(Some(len))?.0;
    let (header_len, prefix) = prefix(&pre[..got], &name)?;
    let data_start = prefix + header_len;
    if (data_start as u64) > len {
        return Err(err(
            &name,
            len as usize,
            format!("truncated header: it declares {header_len} bytes, the file ends at byte {len}"),
        ));
    }
    file.seek(SeekFrom::Start(prefix as u64)).map_err(io)?;
    let mut head = vec![0u8; header_len];
    file.read_exact(&mut head).map_err(io)?;
    let header = parse_header(&head, &name, prefix)?;
    let needed = header.data_bytes(&name, data_start)?;
    header.check_decoded(&name, needed, limit)?;
    let available = len.saturating_sub(data_start as u64);
    if (needed as u64) > available {
        return Err(err(
            &name,
            data_start,
            format!(
                "truncated: shape {:?} of {} needs {needed} bytes of data, the file has {available}",
                header.shape, header.descr
            ),
        ));
    }
    if (needed as u64) < available {
        return Err(err(
            &name,
            data_start + needed,
            format!(
                "{} bytes after the data of shape {:?} (not a single .npy array?)",
                available - needed as u64,
                header.shape
            ),
        ));
    }
    let mut data = vec![0u8; needed];
    file.read_exact(&mut data).map_err(io)?;
    Ok(NpyArray {
        values: header.decode(&data),
        shape: header.shape,
        descr: header.descr,
    })
}

/// Parses a whole `.npy` file held in memory.
///
/// # Errors
/// [`BpropError::Parse`] as in the module doc.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    let (header_len, prefix) = prefix(&bytes[..bytes.len().min(12)], name)?;
    let data_start = prefix + header_len;
    let head = bytes
        .get(prefix..data_start)
        .ok_or_else(|| err(name, bytes.len(), "truncated header"))?;
    let header = parse_header(head, name, prefix)?;
    let needed = header.data_bytes(name, data_start)?;
    header.check_decoded(name, needed, super::input_limits(None)?.0)?;
    let data = &bytes[data_start..];
    if data.len() != needed {
        return Err(err(
            name,
            data_start,
            format!(
                "shape {:?} of {} needs {needed} bytes of data, found {}{}",
                header.shape,
                header.descr,
                data.len(),
                if data.len() < needed { " (truncated)" } else { "" }
            ),
        ));
    }
    Ok(NpyArray {
        values: header.decode(data),
        shape: header.shape,
        descr: header.descr,
    })
}

/// The header length and the prefix size (magic, version, length field) from the first bytes.
fn prefix(pre: &[u8], name: &str) -> Result<(usize, usize)> {
    if pre.len() < 8 || &pre[..6] != MAGIC {
        return Err(err(name, 0, "not a .npy file: it must start with the magic \\x93NUMPY"));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (len, prefix) = match major {
        1 if pre.len() >= 10 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10),
        2 | 3 if pre.len() >= 12 => (u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize, 12),
        1..=3 => return Err(err(name, pre.len(), "truncated header")),
        _ => {
            return Err(err(
                name,
                6,
                format!("unsupported .npy format version {major}.{minor} (1.0 to 3.0 are read)"),
            ))
        }
    };
    if len > MAX_HEADER {
        return Err(err(name, 8, format!("header length {len} exceeds {MAX_HEADER} bytes")));
    }
    Ok((len, prefix))
}

/// Element types read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    F32,
    F64,
    U8,
    I64,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F64 | Elem::I64 => 8,
            Elem::U8 => 1,
        }
    }
}

struct Header {
    descr: String,
    elem: Elem,
    big_endian: bool,
    shape: Vec<usize>,
}

impl Header {
    fn data_bytes(&self, name: &str, at: usize) -> Result<usize> {
        self.shape
            .iter()
            .try_fold(self.elem.size(), |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| {
                err(
                    name,
                    at,
                    format!("shape {:?} declares more data than memory can hold", self.shape),
                )
            })
    }

    /// Refuses data whose values, widened to f64, would take more than `limit` bytes.
    fn check_decoded(&self, name: &str, needed: usize, limit: u64) -> Result<()> {
        let decoded = (needed / self.elem.size()) as u64 * 8;
        if decoded > limit {
            return Err(BpropError::InputLimit {
                path: name.into(),
                what: format!(
                    "shape {:?} of {} ({decoded} bytes as f64 values)",
                    self.shape, self.descr
                ),
                limit,
                hint: super::limit_hint(),
            });
        }
        Ok(())
    }

    fn decode(&self, data: &[u8]) -> Vec<f64> {
        let size = self.elem.size();
        data.chunks_exact(size)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..size].copy_from_slice(c);
                if self.big_endian {
                    b[..size].reverse();
                }
                match self.elem {
                    Elem::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                    Elem::F64 => f64::from_le_bytes(b),
                    Elem::U8 => b[0] as f64,
                    Elem::I64 => i64::from_le_bytes(b) as f64,
                }
            })
            .collect()
    }
}

/// The value after `'key':` in a dict literal, up to the next top-level `,` or `}`.
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let pat_single = format!("'{key}'");
    let pat_double = format!("\"{key}\"");
    let start = dict.find(&pat_single).or_else(|| dict.find(&pat_double))? + key.len() + 2;
    let rest = dict[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

fn parse_header(head: &[u8], name: &str, at: usize) -> Result<Header> {
    let dict = std::str::from_utf8(head)
        .map_err(|_| err(name, at, "the header is not text"))?
        .trim();
    let bad = |what: &str| err(name, at, format!("malformed header {dict:?}: {what}"));
    let descr = dict_value(dict, "descr").ok_or_else(|| bad("no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_string();
    // The byte-order mark is one character, which need not be one byte in a hostile file.
    let (order, code) = descr.split_at(descr.chars().next().map_or(0, char::len_utf8));
    let big_endian = order == ">";
    let elem = match (order, code) {
        ("<" | ">" | "=", "f4") => Elem::F32,
        ("<" | ">" | "=", "f8") => Elem::F64,
        ("<" | ">" | "=", "i8") => Elem::I64,
        ("|" | "<" | ">" | "=", "u1") => Elem::U8,
        _ => {
            return Err(err(
                name,
                at,
                format!("unsupported element type '{descr}': bprop reads f4 (f32), f8 (f64), u1 (u8) and i8 (i64)"),
            ))
        }
    };
    match dict_value(dict, "fortran_order") {
        Some("False") => {}
        Some("True") => {
            return Err(err(
                name,
                at,
                "fortran_order is True (column-major data); save the array with np.ascontiguousarray(a) \
                 so that it is in C order",
            ))
        }
        _ => return Err(bad("no 'fortran_order' True/False")),
    }
    let shape = dict_value(dict, "shape").ok_or_else(|| bad("no 'shape'"))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad("'shape' is not a tuple"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("'shape' holds something other than non-negative integers"))?;
    Ok(Header {
        descr,
        elem,
        big_endian,
        shape,
    })
}

/// Writes `values` (rows × cols, C order) as a version 1.0 `.npy` array of `<f8`, for tests
/// and for exporting tables.
pub fn npy_f64_bytes(values: &[f64], rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let mut header = dict.into_bytes();
    // Pad with spaces so that the data starts at a multiple of 64 bytes, ending with \n.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.resize(total - 10 - 1, b' ');
    header.push(b'\n');
    let mut out = Vec::with_capacity(total + values.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
