//! The IDX format of the MNIST database, raw or gzipped, and MNIST's images-plus-labels
//! pairing.
//!
//! An IDX file is a header and then the data, every multi-byte number big-endian:
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 2 | `0x00 0x00` |
//! | 2 | 1 | type code: `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64 |
//! | 3 | 1 | number of dimensions d (at least 1) |
//! | 4 | 4·d | the dimensions, u32 each, outermost first |
//! | 4 + 4·d | size·∏dims | the elements, row-major |
//!
//! MNIST's images are u8 with dims (n, 28, 28), its labels u8 with dims (n). Arrays are
//! kept in their element type ([`IdxData`]), so MNIST's pixels stay one byte each until a
//! caller converts them (e.g. to upload them compactly to the GPU).
//!
//! Files starting with the gzip magic `1f 8b` are decompressed on the fly; byte offsets in
//! errors are then offsets in the decompressed data. Reading stops at the first problem.
//! The size a header declares is checked against [`DEFAULT_MAX_IDX_BYTES`] before anything
//! is allocated, and buffers grow only with the data actually read, so a lying header
//! cannot make the reader allocate more than the file holds.

use super::{open, read_error, read_full, sniff, Input};
use crate::error::{BpropError, Result};
use crate::model::{Dataset, Real};
use ndarray::Array2;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// The largest data section (in bytes) [`read_idx`] accepts: 4 GiB, about 85 times
/// MNIST's training images. Larger declared sizes are refused before any allocation.
pub const DEFAULT_MAX_IDX_BYTES: u64 = 1 << 32;

/// The number of MNIST classes (digits 0 to 9), the width of
/// [`MnistSet::to_dataset`]'s one-hot targets.
pub const MNIST_CLASSES: usize = 10;

/// The initial capacity, in bytes, of the data buffer: more is allocated only as data
/// arrives.
const INITIAL_CAPACITY: u64 = 1 << 26;

/// An IDX element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdxType {
    /// Code `0x08`: unsigned byte (MNIST).
    U8,
    /// Code `0x09`: signed byte.
    I8,
    /// Code `0x0B`: big-endian signed 16-bit integer.
    I16,
    /// Code `0x0C`: big-endian signed 32-bit integer.
    I32,
    /// Code `0x0D`: big-endian IEEE 754 single.
    F32,
    /// Code `0x0E`: big-endian IEEE 754 double.
    F64,
}

impl IdxType {
    /// The type for a header's type code, if it is one of the six IDX defines.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }
    /// The header's type code.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
    /// The Rust name of the element type (`u8`, `f32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            IdxType::U8 => "u8",
            IdxType::I8 => "i8",
            IdxType::I16 => "i16",
            IdxType::I32 => "i32",
            IdxType::F32 => "f32",
            IdxType::F64 => "f64",
        }
    }
}

impl std::fmt::Display for IdxType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.code())
    }
}

/// An IDX file's elements, in their own type, row-major (host byte order).
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// Unsigned bytes (MNIST).
    U8(Vec<u8>),
    /// Signed bytes.
    I8(Vec<i8>),
    /// 16-bit integers.
    I16(Vec<i16>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// Singles.
    F32(Vec<f32>),
    /// Doubles.
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type.
    pub fn elem_type(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }
    /// Whether there are no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Converts every element to `T` (through `f64`, exact for all types but `i32`
    /// beyond 2^24 into `f32`). Float data may hold NaN or infinities; they are kept.
    pub fn to_real<T: Real>(&self) -> Vec<T> {
        match self {
            IdxData::U8(v) => v.iter().map(|&x| T::of(f64::from(x))).collect(),
            IdxData::I8(v) => v.iter().map(|&x| T::of(f64::from(x))).collect(),
            IdxData::I16(v) => v.iter().map(|&x| T::of(f64::from(x))).collect(),
            IdxData::I32(v) => v.iter().map(|&x| T::of(f64::from(x))).collect(),
            IdxData::F32(v) => v.iter().map(|&x| T::of(f64::from(x))).collect(),
            IdxData::F64(v) => v.iter().map(|&x| T::of(x)).collect(),
        }
    }
    /// Decodes `bytes` (big-endian, a whole number of elements) as elements of `ty`.
    fn from_be_bytes(ty: IdxType, bytes: Vec<u8>) -> Self {
        fn decode<const N: usize, E>(bytes: &[u8], f: impl Fn([u8; N]) -> E) -> Vec<E> {
            bytes
                .chunks_exact(N)
                .map(|c| f(c.try_into().expect("chunks of N bytes")))
                .collect()
        }
        match ty {
            IdxType::U8 => IdxData::U8(bytes),
            IdxType::I8 => IdxData::I8(bytes.into_iter().map(|b| b as i8).collect()),
            IdxType::I16 => IdxData::I16(decode(&bytes, i16::from_be_bytes)),
            IdxType::I32 => IdxData::I32(decode(&bytes, i32::from_be_bytes)),
            IdxType::F32 => IdxData::F32(decode(&bytes, f32::from_be_bytes)),
            IdxType::F64 => IdxData::F64(decode(&bytes, f64::from_be_bytes)),
        }
    }
}

/// An IDX array: its dimensions (outermost first) and its elements, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: IdxData,
}

impl IdxArray {
    /// Builds an array.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when `dims` is empty or its product is not the number of
    /// elements.
    pub fn new(dims: Vec<usize>, data: IdxData) -> Result<Self> {
        let product = dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
        if dims.is_empty() || product != Some(data.len()) {
            return Err(BpropError::Shape {
                what: "IDX array (at least one dimension, product = number of elements)".into(),
                expected: format!("dims with product {}", data.len()),
                got: format!("dims {dims:?}"),
            });
        }
        Ok(IdxArray { dims, data })
    }
    /// The dimensions, outermost first (MNIST images: `[n, 28, 28]`).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    /// The elements.
    pub fn data(&self) -> &IdxData {
        &self.data
    }
    /// The elements, by value.
    pub fn into_data(self) -> IdxData {
        self.data
    }
    /// The element type.
    pub fn elem_type(&self) -> IdxType {
        self.data.elem_type()
    }
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The elements as bytes, if the type is u8.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match &self.data {
            IdxData::U8(v) => Some(v),
            _ => None,
        }
    }
}

/// Reads an IDX file, raw or gzipped, with the [`DEFAULT_MAX_IDX_BYTES`] bound.
///
/// # Errors
/// [`BpropError::Io`] when the file cannot be opened or read; [`BpropError::Parse`]
/// naming the file and the byte offset for a bad magic number, an unsupported type code,
/// no dimensions, dimensions whose product overflows or whose data exceeds the bound
/// (refused before allocating), truncated data (`truncated at byte offset N: expected M
/// bytes of data for dims [..]`), data after the declared elements, or corrupt gzip data.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let mut src = Source::open(path)?;
    let header = src.header(DEFAULT_MAX_IDX_BYTES)?;
    src.body(&header)
}

/// Reads an IDX array from any reader (gzip detected as for files); `name` stands for the
/// file in messages, and `max_bytes` bounds the data section a header may declare.
///
/// # Errors
/// As [`read_idx`], with `name` for the path.
pub fn read_idx_from<R: Read>(reader: R, name: &str, max_bytes: u64) -> Result<IdxArray> {
    let input = sniff(BufReader::new(reader), name)?;
    let mut src = Source {
        name: name.into(),
        input,
        pos: 0,
    };
    let header = src.header(max_bytes)?;
    src.body(&header)
}

/// A parsed IDX header.
struct Header {
    ty: IdxType,
    dims: Vec<usize>,
    /// Bytes of data the dims declare.
    data_bytes: u64,
}

/// An open IDX stream and the number of (decompressed) bytes read from it so far.
struct Source<'a> {
    name: String,
    input: Input<'a>,
    pos: u64,
}

impl Source<'_> {
    fn open(path: &Path) -> Result<Source<'static>> {
        Ok(Source {
            name: path.display().to_string(),
            input: open(path)?,
            pos: 0,
        })
    }

    /// A parse error at `offset`.
    fn err(&self, offset: u64, message: impl Into<String>) -> BpropError {
        let location = if self.input.gz {
            format!("byte offset {offset} (of the decompressed data)")
        } else {
            format!("byte offset {offset}")
        };
        BpropError::Parse {
            path: self.name.clone(),
            location,
            message: message.into(),
        }
    }

    /// The error for a failed read at the current position: a Parse error for corrupt
    /// or cut-short gzip data, an Io error otherwise.
    fn read_err(&self, e: io::Error) -> BpropError {
        let location = match self.err(self.pos, "") {
            BpropError::Parse { location, .. } => location,
            _ => unreachable!("err gives Parse errors"),
        };
        read_error(&self.name, self.input.gz, || location, e)
    }

    /// Fills `buf` or fails with "truncated ...: expected {what}".
    fn exact(&mut self, buf: &mut [u8], what: impl FnOnce() -> String) -> Result<()> {
        let n = read_full(&mut self.input.reader, buf).map_err(|e| self.read_err(e))?;
        self.pos += n as u64;
        if n < buf.len() {
            return Err(self.err(
                self.pos,
                format!("truncated at byte offset {}: expected {}", self.pos, what()),
            ));
        }
        Ok(())
    }

    fn header(&mut self, max_bytes: u64) -> Result<Header> {
        let mut magic = [0u8; 4];
        self.exact(&mut magic, || {
            "a 4-byte magic number (0x00 0x00, type code, number of dimensions)".into()
        })?;
        if magic[0] != 0 || magic[1] != 0 {
            return Err(self.err(
                0,
                format!(
                    "bad magic number {:02X} {:02X} {:02X} {:02X}: an IDX file starts with 00 00, a type \
                     code and the number of dimensions",
                    magic[0], magic[1], magic[2], magic[3]
                ),
            ));
        }
        let ty = IdxType::from_code(magic[2]).ok_or_else(|| {
            self.err(
                2,
                format!(
                    "unsupported type code 0x{:02X}; IDX defines 0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32), \
                     0x0D (f32), 0x0E (f64)",
                    magic[2]
                ),
            )
        })?;
        let ndims = usize::from(magic[3]);
        if ndims == 0 {
            return Err(self.err(3, "the header declares 0 dimensions; at least 1 is required"));
        }
        let mut raw = vec![0u8; 4 * ndims];
        self.exact(&mut raw, || {
            format!("{ndims} 4-byte big-endian dimensions (a {}-byte header)", 4 + 4 * ndims)
        })?;
        let dims32: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let elems = dims32.iter().try_fold(1u64, |p, &d| p.checked_mul(u64::from(d)));
        let data_bytes = elems.and_then(|e| e.checked_mul(ty.size() as u64));
        let data_bytes = match data_bytes {
            // What a gzipped stream may expand to is bounded too: refuse a header declaring
            // more now, rather than after decompressing up to the bound. (A plain file that
            // is shorter than its header says is reported as truncated.)
            Some(b) if self.input.gz && b > self.input.limit && b <= max_bytes => {
                return Err(BpropError::InputLimit {
                    path: self.name.clone(),
                    what: format!("the {b} bytes of data that dims {dims32:?} of {ty} declare"),
                    limit: self.input.limit,
                    hint: super::limit_hint(),
                });
            }
            Some(b) if b <= max_bytes && usize::try_from(b).is_ok() => b,
            _ => {
                let size = match elems {
                    Some(e) => format!("{e} elements of {ty}"),
                    None => "more than 2^64 elements".into(),
                };
                return Err(self.err(
                    4,
                    format!(
                        "dims {dims32:?} declare {size}, over the limit of {max_bytes} bytes of data; the header \
                         is corrupt or the file is not IDX"
                    ),
                ));
            }
        };
        let dims = dims32.iter().map(|&d| d as usize).collect();
        Ok(Header { ty, dims, data_bytes })
    }

    fn body(&mut self, h: &Header) -> Result<IdxArray> {
        let start = self.pos;
        // Bounded initial capacity: the buffer grows only as data really arrives.
        let mut bytes = Vec::with_capacity(h.data_bytes.min(INITIAL_CAPACITY) as usize);
        let got = (&mut self.input.reader).take(h.data_bytes).read_to_end(&mut bytes);
        self.pos = start + bytes.len() as u64;
        match got {
            Err(e) if e.kind() != io::ErrorKind::UnexpectedEof || !self.input.gz => return Err(self.read_err(e)),
            _ => {}
        }
        if (bytes.len() as u64) < h.data_bytes {
            return Err(self.err(
                self.pos,
                format!(
                    "truncated at byte offset {}: expected {} bytes of data for dims {:?} of {} after the {start}-byte \
                     header, found {}",
                    self.pos,
                    h.data_bytes,
                    h.dims,
                    h.ty,
                    bytes.len()
                ),
            ));
        }
        let mut extra = [0u8; 1];
        if read_full(&mut self.input.reader, &mut extra).map_err(|e| self.read_err(e))? > 0 {
            return Err(self.err(
                self.pos,
                format!(
                    "trailing data at byte offset {}: dims {:?} of {} account for {} bytes of data after the \
                     {start}-byte header, but the file goes on",
                    self.pos, h.dims, h.ty, h.data_bytes
                ),
            ));
        }
        let data = IdxData::from_be_bytes(h.ty, bytes);
        IdxArray::new(h.dims.clone(), data)
    }
}

/// MNIST-style images and labels, compact: one byte per pixel, one byte per label.
#[derive(Clone, Debug, PartialEq)]
pub struct MnistSet {
    images: Array2<u8>,
    labels: Vec<u8>,
    image_dims: Vec<usize>,
}

impl MnistSet {
    /// Pixels, shape (n, pixels per image), one row per image (row-major within the image).
    pub fn images(&self) -> &Array2<u8> {
        &self.images
    }
    /// Labels, one per image, each in 0..=9.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
    /// One image's dimensions as the file gave them (MNIST: `[28, 28]`).
    pub fn image_dims(&self) -> &[usize] {
        &self.image_dims
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The first `n` images and labels (all of them if there are fewer).
    pub fn first(&self, n: usize) -> MnistSet {
        let n = n.min(self.len());
        MnistSet {
            images: self.images.slice(ndarray::s![..n, ..]).to_owned(),
            labels: self.labels[..n].to_vec(),
            image_dims: self.image_dims.clone(),
        }
    }

    /// A dataset for training: inputs are the pixels scaled to [0, 1] (x / 255), shape
    /// (n, pixels); targets one-hot encode the labels, shape (n, [`MNIST_CLASSES`]).
    ///
    /// # Errors
    /// [`BpropError::Shape`] when the set is empty or images have no pixels.
    pub fn to_dataset<T: Real>(&self) -> Result<Dataset<T>> {
        let mut targets = Array2::<T>::zeros((self.len(), MNIST_CLASSES));
        for (row, &label) in self.labels.iter().enumerate() {
            targets[(row, usize::from(label))] = T::one();
        }
        // x = pixel / 255, with the bytes kept so the GPU path can store them compactly.
        Dataset::from_bytes(self.images.clone(), 255.0, targets)
    }
}

/// Reads an MNIST pair: an images file (u8, dims (n, rows, cols) or any (n, ...)) and a
/// labels file (u8, dims (n)), raw or gzipped. The labels are read first and the images'
/// header checked against them before the image data is read.
///
/// # Errors
/// Those of [`read_idx`], and [`BpropError::Parse`] naming the file and byte offset when a
/// file's type is not u8 or its dimensions do not fit, when the counts differ (at the
/// labels file's count), or when a label is above 9 (at that label's byte).
pub fn load_mnist(images_path: impl AsRef<Path>, labels_path: impl AsRef<Path>) -> Result<MnistSet> {
    let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());

    // Both headers first: the counts are compared before either file's data is read.
    let mut src = Source::open(labels_path)?;
    let header = src.header(DEFAULT_MAX_IDX_BYTES)?;
    if header.ty != IdxType::U8 {
        return Err(src.err(2, format!("MNIST labels must be u8 (0x08), found {}", header.ty)));
    }
    if header.dims.len() != 1 {
        return Err(src.err(
            3,
            format!("MNIST labels must have 1 dimension (n), found dims {:?}", header.dims),
        ));
    }
    let mut img = Source::open(images_path)?;
    let h = img.header(DEFAULT_MAX_IDX_BYTES)?;
    if h.ty != IdxType::U8 {
        return Err(img.err(2, format!("MNIST images must be u8 (0x08), found {}", h.ty)));
    }
    if h.dims.len() < 2 {
        return Err(img.err(
            3,
            format!(
                "MNIST images need at least 2 dimensions (n, pixels...), found dims {:?}",
                h.dims
            ),
        ));
    }
    if h.dims[0] != header.dims[0] {
        return Err(src.err(
            4,
            format!(
                "holds {} labels but {} holds {} images (dims {:?})",
                header.dims[0],
                images_path.display(),
                h.dims[0],
                h.dims
            ),
        ));
    }
    let labels_offset = 4 + 4 * header.dims.len() as u64;
    let labels = match src.body(&header)?.into_data() {
        IdxData::U8(v) => v,
        _ => unreachable!("type checked above"),
    };
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= MNIST_CLASSES)
    {
        return Err(src.err(
            labels_offset + i as u64,
            format!("label {l} (label index {i}) is outside 0..=9"),
        ));
    }
    // Bounded by the data's size, except when a dimension is 0: then checked here.
    let pixels = h.dims[1..]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&p| p <= isize::MAX as usize)
        .ok_or_else(|| img.err(4, format!("image dims {:?} overflow", &h.dims[1..])))?;
    let bytes = match img.body(&h)?.into_data() {
        IdxData::U8(v) => v,
        _ => unreachable!("type checked above"),
    };
    let images = Array2::from_shape_vec((labels.len(), pixels), bytes)
        .map_err(|e| img.err(4, format!("dims {:?} do not make an array: {e}", h.dims)))?;
    Ok(MnistSet {
        images,
        labels,
        image_dims: h.dims[1..].to_vec(),
    })
}
