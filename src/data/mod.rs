//! Readers (and a writer) for the data files bprop trains on.
//!
//! - [`idx`]: the IDX binary format of MNIST (`train-images-idx3-ubyte.gz`, ...), raw or
//!   gzipped, kept compactly in its element type ([`IdxArray`]); [`load_mnist`] pairs an
//!   images file with a labels file into a [`MnistSet`], whose
//!   [`to_dataset`](MnistSet::to_dataset) scales pixels to [0, 1] and one-hot encodes the
//!   labels.
//! - [`fann`]: FANN's text format (`n_samples n_inputs n_outputs`, then each sample's
//!   inputs and outputs), read into a [`Dataset`] by [`read_fann`] and written atomically by
//!   [`write_fann`].
//! - [`csv`]: CSV and TSV files with a header (detected) or without, read by
//!   [`read_csv`] into a [`Grid`] of columns.
//! - [`npy`]: NumPy `.npy` arrays (f32, f64, u8, i64), read by [`read_npy`].
//! - [`table`]: how a grid's columns become inputs and targets (target columns by name or
//!   index, class labels one-hot encoded, the [`Schema`] a model keeps); [`load_table`]
//!   reads any of the formats into a [`Table`].
//! - [`prep`]: the input-preprocessing stage (column selection, missing values, one-hot
//!   encoding of text columns), fitted on the training part and kept in the [`Schema`].
//! - [`scale`]: input scaling fitted on training data (standardize, min-max).
//! - [`load`] picks the reader from the file name.
//!
//! Every reader detects gzip by its magic bytes (`1f 8b`), whatever the file is called.
//! Malformed files give [`BpropError::Parse`] naming the file and the place: `line L,
//! column C` for text, `byte offset N` for binary (counted in the decompressed stream for
//! gzipped files). No reader allocates from a header's claims alone: memory grows with
//! the data actually read, and declared sizes beyond sane bounds are refused up front.
//!
//! Inputs are bounded ([`BpropError::InputLimit`]): readers open regular files only
//! ([`BpropError::NotRegularFile`] for FIFOs, devices, directories, checked before opening
//! so that nothing blocks); one file gives at most [`DEFAULT_MAX_INPUT_BYTES`] (1 GiB) of
//! data, and a gzipped one at most [`MAX_GZIP_RATIO`] times its size (but at least
//! [`GZIP_RATIO_FLOOR`]) once decompressed; [`MAX_INPUT_BYTES_VAR`]
//! (`BPROP_MAX_INPUT_BYTES`) replaces both. Text lines are bounded by [`MAX_LINE_BYTES`].

pub mod csv;
pub mod fann;
pub mod idx;
pub mod npy;
pub mod prep;
pub mod scale;
pub mod table;

pub use self::csv::{parse_csv, read_csv, read_csv_with_column, CsvOptions};
pub use fann::{parse_fann, read_fann, write_fann, write_fann_to};
pub use idx::{
    load_mnist, read_idx, read_idx_from, IdxArray, IdxData, IdxType, MnistSet, DEFAULT_MAX_IDX_BYTES, MNIST_CLASSES,
};
pub use npy::{parse_npy, read_npy, NpyArray};
pub use prep::{Impute, Preprocess};
pub use scale::{ScaleKind, Scaling};
pub use table::{table_from_dataset, table_from_grid, ColumnRef, Grid, Schema, Table, TableOptions, Task};

use crate::error::{BpropError, Result};
use crate::model::{Dataset, Real};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

/// The file formats [`load`] knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// IDX binary arrays (MNIST): `.idx*`, `*ubyte`, and any other `.gz` name.
    Idx,
    /// FANN text training data: `.train`, `.test`, `.data` (optionally followed by `.gz`).
    Fann,
    /// Comma- or tab-separated values: `.csv`, `.tsv`, `.tab` (optionally followed by `.gz`).
    Csv,
    /// A NumPy array: `.npy`.
    Npy,
}

/// What [`load`] read: an IDX array (one file holds images *or* labels, so it is not a
/// dataset by itself; see [`load_mnist`]) or a FANN dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded<T> {
    /// An IDX file's array.
    Idx(IdxArray),
    /// A FANN file's samples.
    Fann(Dataset<T>),
    /// A CSV/TSV file's columns.
    Csv(Grid),
    /// A NumPy array.
    Npy(NpyArray),
}

/// The names [`format_of`] accepts, for its error message.
const KNOWN_NAMES: &str = "*.idx*, *ubyte, *.gz (IDX); *.train, *.test, *.data (FANN); *.csv, *.tsv, *.tab (CSV); \
                           *.npy (NumPy); each optionally followed by .gz";

/// Picks the format from the file name (case-insensitively): a trailing `.gz` is set
/// aside; then `.train`, `.test` and `.data` mean FANN; `.npy` NumPy (gzipped or not);
/// `.csv`, `.tsv`, `.tab` CSV; extensions starting with `idx` and names ending in `ubyte`
/// (MNIST's `train-images-idx3-ubyte`, `t10k-images.idx3-ubyte`) mean IDX; any other
/// `.gz` name means IDX too (MNIST's distribution files are gzipped IDX).
///
/// # Errors
/// [`BpropError::UnknownName`] for any other name; [`BpropError::InvalidArgument`] when
/// the path has no file name (e.g. `..`).
pub fn format_of(path: impl AsRef<Path>) -> Result<Format> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .ok_or_else(|| BpropError::InvalidArgument {
            name: "path",
            value: path.display().to_string(),
            why: "must name a data file".into(),
        })?
        .to_string_lossy()
        .to_ascii_lowercase();
    let (inner, gz) = match name.strip_suffix(".gz") {
        Some(inner) => (inner, true),
        None => (name.as_str(), false),
    };
    let ext = Path::new(inner).extension().map(|e| e.to_string_lossy().into_owned());
    match ext.as_deref() {
        Some("train" | "test" | "data") => return Ok(Format::Fann),
        Some("csv" | "tsv" | "tab") => return Ok(Format::Csv),
        Some("npy") => return Ok(Format::Npy),
        Some(e) if e.starts_with("idx") => return Ok(Format::Idx),
        _ => {}
    }
    if inner.ends_with("ubyte") || gz {
        return Ok(Format::Idx);
    }
    Err(BpropError::UnknownName {
        kind: "data file type",
        name: path.display().to_string(),
        expected: KNOWN_NAMES,
    })
}

/// Reads a data file, choosing the reader by [`format_of`]: [`read_idx`] for IDX,
/// [`read_fann`] (as `T`) for FANN.
///
/// # Errors
/// Those of [`format_of`] and of the chosen reader.
pub fn load<T: Real>(path: impl AsRef<Path>) -> Result<Loaded<T>> {
    let path = path.as_ref();
    Ok(match format_of(path)? {
        Format::Idx => Loaded::Idx(read_idx(path)?),
        Format::Fann => Loaded::Fann(read_fann(path)?),
        Format::Csv => Loaded::Csv(read_csv(path, &CsvOptions::default())?),
        Format::Npy => Loaded::Npy(read_npy(path)?),
    })
}

/// The labels file that goes with an IDX images file: `images` replaced by `labels` in the
/// name, and `idx3` by `idx1` (`train-images-idx3-ubyte.gz` → `train-labels-idx1-ubyte.gz`).
///
/// # Errors
/// [`BpropError::InvalidArgument`] when the name has no `images`, or the labels file is
/// not there.
pub fn idx_labels_for(images: &Path) -> Result<std::path::PathBuf> {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad = |why: String| BpropError::InvalidArgument {
        name: "data",
        value: images.display().to_string(),
        why,
    };
    if !name.contains("images") {
        return Err(bad(
            "an IDX file is one array; training needs an images file (name containing `images`) whose \
             labels file sits beside it"
                .into(),
        ));
    }
    let labels = images.with_file_name(name.replace("images", "labels").replace("idx3", "idx1"));
    if !labels.exists() {
        return Err(bad(format!("its labels file {} is not there", labels.display())));
    }
    Ok(labels)
}

/// Reads any data file into a [`Table`] (by [`format_of`]): CSV/TSV and NPY through
/// [`table_from_grid`] with `opts`; FANN files with their own inputs and targets; an IDX
/// images file with its labels file beside it ([`idx_labels_for`]; pixels scaled to [0, 1],
/// labels `0`..`9` one-hot).
///
/// # Errors
/// Those of the readers and of [`table_from_grid`] / [`table_from_dataset`].
pub fn load_table<T: Real>(path: impl AsRef<Path>, opts: &TableOptions) -> Result<Table<T>> {
    let path = path.as_ref();
    let source = path.display().to_string();
    match format_of(path)? {
        Format::Csv => {
            let csv_opts = CsvOptions {
                delimiter: opts.delimiter,
                header: opts.header,
            };
            let grid = read_csv(path, &csv_opts)?;
            let mut t = table_from_grid(&grid, opts)?;
            if opts.schema.is_none() && opts.header.is_none() {
                let h = match &grid.names {
                    Some(n) => format!("a header ({} columns)", n.len()),
                    None => format!("no header ({} columns)", grid.cols),
                };
                t.notes.insert(0, format!("{source}: {h}, {} rows", grid.rows));
            }
            Ok(t)
        }
        Format::Npy => table_from_grid(&read_npy(path)?.into_grid(&source)?, opts),
        Format::Fann => table_from_dataset(&source, &read_fann::<T>(path)?, None, opts),
        Format::Idx => {
            let labels = idx_labels_for(path)?;
            let set = load_mnist(path, &labels)?;
            let digits = (0..MNIST_CLASSES).map(|d| d.to_string()).collect();
            let mut t = table_from_dataset(&source, &set.to_dataset::<T>()?, Some(digits), opts)?;
            t.notes
                .push(format!("labels from {}; pixels scaled to [0, 1]", labels.display()));
            Ok(t)
        }
    }
}

/// The most bytes of data bprop reads from one input by default: 1 GiB, counted after
/// decompression. [`MAX_INPUT_BYTES_VAR`] changes it.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 1 << 30;
/// The environment variable that sets the most bytes read from one input (decompressed),
/// replacing both [`DEFAULT_MAX_INPUT_BYTES`] and the ratio bound of gzipped files.
pub const MAX_INPUT_BYTES_VAR: &str = "BPROP_MAX_INPUT_BYTES";
/// Unless [`MAX_INPUT_BYTES_VAR`] is set, a gzipped file may expand to at most this many
/// times its compressed size (MNIST's files expand 2 to 5 times; a file of zeros, 1000).
pub const MAX_GZIP_RATIO: u64 = 100;
/// ... but always to at least this many bytes (64 MiB), so small files are not held to
/// the ratio.
pub const GZIP_RATIO_FLOOR: u64 = 64 << 20;
/// The longest line the text readers (CSV/TSV, FANN) accept: 16 MiB.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// The hint of a [`BpropError::InputLimit`] that the environment can raise.
pub fn limit_hint() -> String {
    format!("set {MAX_INPUT_BYTES_VAR} to a larger number of bytes to read it")
}

/// The limits on one input's data: (plain, gzipped), from [`MAX_INPUT_BYTES_VAR`] when set,
/// else the defaults, the gzipped one bounded by [`MAX_GZIP_RATIO`] times `compressed`
/// (the file's size, when known).
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming the variable when it is set but not a positive
/// integer.
pub fn input_limits(compressed: Option<u64>) -> Result<(u64, u64)> {
    if let Some(v) = std::env::var_os(MAX_INPUT_BYTES_VAR) {
        let text = v.to_string_lossy();
        return match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok((n, n)),
            _ => Err(BpropError::InvalidArgument {
                name: MAX_INPUT_BYTES_VAR,
                value: format!("{text:?}"),
                why: "must be a positive number of bytes".into(),
            }),
        };
    }
    let gz = compressed.map_or(DEFAULT_MAX_INPUT_BYTES, |c| {
        c.saturating_mul(MAX_GZIP_RATIO)
            .clamp(GZIP_RATIO_FLOOR, DEFAULT_MAX_INPUT_BYTES)
    });
    Ok((DEFAULT_MAX_INPUT_BYTES, gz))
}

/// An input stream with gzip already undone where the data started with `1f 8b`.
pub(crate) struct Input<'a> {
    /// The decompressed (or plain) bytes, ending in an error past `limit` bytes.
    pub reader: Box<dyn BufRead + 'a>,
    /// Whether the data was gzipped (positions are then in the decompressed stream).
    pub gz: bool,
    /// The most bytes `reader` gives.
    pub limit: u64,
}

/// The error a [`Capped`] reader gives past its limit (inside an `io::Error`).
#[derive(Debug)]
pub(crate) struct LimitExceeded(pub u64);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes of data", self.0)
    }
}

impl std::error::Error for LimitExceeded {}

/// A reader that gives at most `limit` bytes, then an error (not a silent end: data cut
/// short must not parse as a shorter file).
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(LimitExceeded(self.limit))),
            };
        }
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// Peeks at the first two bytes of `reader` and inserts a gzip decoder if they are `1f 8b`.
/// Concatenated gzip members are read as one stream, as `gzip -d` does. The stream gives at
/// most `limits.0` bytes (plain) or `limits.1` bytes (decompressed), then an error.
pub(crate) fn sniff_limited<'a, R: BufRead + 'a>(mut reader: R, limits: (u64, u64)) -> io::Result<Input<'a>> {
    let mut magic = [0u8; 2];
    let n = read_full(&mut reader, &mut magic)?;
    let chained = Cursor::new(magic[..n].to_vec()).chain(reader);
    if n == 2 && magic == [0x1f, 0x8b] {
        let decoder = flate2::bufread::MultiGzDecoder::new(chained);
        let capped = Capped {
            inner: decoder,
            left: limits.1,
            limit: limits.1,
        };
        Ok(Input {
            reader: Box::new(BufReader::with_capacity(1 << 16, capped)),
            gz: true,
            limit: limits.1,
        })
    } else {
        let capped = Capped {
            inner: chained,
            left: limits.0,
            limit: limits.0,
        };
        Ok(Input {
            reader: Box::new(BufReader::with_capacity(1 << 16, capped)),
            gz: false,
            limit: limits.0,
        })
    }
}

/// [`sniff_limited`] with the limits of an input of unknown size ([`input_limits`]).
pub(crate) fn sniff<'a, R: BufRead + 'a>(reader: R, name: &str) -> Result<Input<'a>> {
    let limits = input_limits(None)?;
    sniff_limited(reader, limits).map_err(|source| BpropError::Io {
        path: name.into(),
        source,
    })
}

/// What a file type is, for [`BpropError::NotRegularFile`].
fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO or pipe";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if it is a regular file (checked before opening, so a FIFO
/// without a writer cannot block), with its length.
///
/// # Errors
/// [`BpropError::Io`]; [`BpropError::NotRegularFile`].
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    let io_err = |source| BpropError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(BpropError::NotRegularFile {
            path: path.display().to_string(),
            kind: kind_of(meta.file_type()),
        });
    }
    let file = File::open(path).map_err(io_err)?;
    // The file may have been replaced between the two calls: check what was opened.
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(BpropError::NotRegularFile {
            path: path.display().to_string(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `limit` bytes (model files, FANN `.net` files).
///
/// # Errors
/// Those of [`open_regular`]; [`BpropError::InputLimit`] when the file is longer.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > limit {
        return Err(BpropError::InputLimit {
            path: path.display().to_string(),
            what: format!("the file's {len} bytes"),
            limit,
            hint: limit_hint(),
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // The file may grow while it is read: read one byte more than the limit at most.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| BpropError::Io {
            path: path.display().to_string(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(BpropError::InputLimit {
            path: path.display().to_string(),
            what: "the file (it grew while read)".into(),
            limit,
            hint: limit_hint(),
        });
    }
    Ok(bytes)
}

/// Opens a regular file for reading through [`sniff_limited`], with the limits of
/// [`input_limits`] for its size.
pub(crate) fn open(path: &Path) -> Result<Input<'static>> {
    let (file, len) = open_regular(path)?;
    let limits = input_limits(Some(len))?;
    sniff_limited(BufReader::with_capacity(1 << 16, file), limits).map_err(|source| BpropError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The error for a failed read of `input` at `location`: [`BpropError::InputLimit`] past
/// the input's limit, [`BpropError::Parse`] for corrupt or cut-short gzip data, else
/// [`BpropError::Io`].
pub(crate) fn read_error(name: &str, input_gz: bool, location: impl FnOnce() -> String, e: io::Error) -> BpropError {
    if let Some(LimitExceeded(limit)) = e.get_ref().and_then(|r| r.downcast_ref::<LimitExceeded>()) {
        return BpropError::InputLimit {
            path: name.into(),
            what: if input_gz {
                "the decompressed data".into()
            } else {
                "the data".into()
            },
            limit: *limit,
            hint: if input_gz && std::env::var_os(MAX_INPUT_BYTES_VAR).is_none() {
                format!(
                    "a gzipped file may expand to {MAX_GZIP_RATIO} times its size (at least {GZIP_RATIO_FLOOR} \
                     bytes, at most {DEFAULT_MAX_INPUT_BYTES}); {}",
                    limit_hint()
                )
            } else {
                limit_hint()
            },
        };
    }
    if is_gzip_data_error(input_gz, &e) {
        return BpropError::Parse {
            path: name.into(),
            location: location(),
            message: format!("corrupt or truncated gzip data: {e}"),
        };
    }
    BpropError::Io {
        path: name.into(),
        source: e,
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether an I/O error from a gzipped stream means the compressed data is corrupt or cut
/// short (a data problem, reported as [`BpropError::Parse`]) rather than an OS failure.
pub(crate) fn is_gzip_data_error(gz: bool, e: &io::Error) -> bool {
    gz && matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

/// At most `max` characters of `text` (cut at a character boundary, never inside one),
/// with `...` when something was cut: for quoting file text in messages.
pub(crate) fn preview_text(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
