//! bprop's model files (`*.bprop`): a [safetensors](https://github.com/huggingface/safetensors)
//! file whose tensors are the parameters (and optimizer state and input scaling), and whose
//! header metadata says what they are.
//!
//! # Layout (format version 1, or 2 with an input-preprocessing stage)
//!
//! A safetensors file: an 8-byte little-endian header length, a JSON header, the tensor
//! data. Tensors, all little-endian, in the precision the network was trained in (`F32` or
//! `F64`) except the scaling (always `F64`):
//!
//! | tensor | shape | what |
//! |---|---|---|
//! | `layer.{l}.weight` | (fan_out, fan_in) | W_l, l = 0 for the layer reading the inputs |
//! | `layer.{l}.bias` | (fan_out) | b_l, for layers with biases |
//! | `optimizer.{l}.weight.{0,1}` | (fan_out, fan_in) | the optimizer's two state slots for W_l |
//! | `optimizer.{l}.bias.{0,1}` | (fan_out) | the same for b_l (kept for every layer) |
//! | `scaling.offset`, `scaling.scale` | (inputs) | input scaling x' = (x − offset) / scale |
//!
//! The header's `__metadata__` (string → string, as safetensors requires) holds:
//!
//! - `format`: `bprop-model`; `format_version`: `1`, or `2` ([`FORMAT_VERSION`]) when the
//!   schema holds an input-preprocessing stage (`schema.preprocess`: the input columns'
//!   positions, categories, fills and indicators; [`crate::data::prep`]), which version 1
//!   readers would not apply.
//! - `bprop`: a JSON document: `dtype` (`f32`/`f64`), `architecture` (inputs, layers with
//!   units, activation (with the leaky slope) and bias on/off, loss), `scaling` (its kind,
//!   or null), `optimizer` (the rule with every constant, and the step count, or null),
//!   `schema` (task, column names, class labels), `training` (optimizer, learning rate,
//!   schedule, weight decay, max-norm, dropout, epochs, batch size, seed, validation,
//!   patience, backend, ...), `history` (per-epoch losses), `written_by`, and for a model
//!   trained on standardized regression targets `target_scaling` (`offset` and `scale` per
//!   output: outputs are y'·scale + offset).
//! - `checksum`: `crc32:XXXXXXXX`, the CRC-32 of `bprop-model`, the `bprop` document, and
//!   for each tensor in name order its name, a 0 byte, its dtype, its dimensions (u64 LE)
//!   and its data.
//!
//! Any safetensors reader (Python's `safetensors.numpy.load_file`, PyTorch, candle) reads
//! the parameters; `json.loads(metadata["bprop"])` gives the rest.
//!
//! # Reading safely
//!
//! [`read_model`] checks the header length against the file's length before reading
//! anything else (a corrupt length cannot make it allocate), then reads the file, whose
//! length bounds every tensor (safetensors checks that the offsets cover exactly the data).
//! Then, in order: the format name; the version (a newer one is refused, naming it); the
//! container's consistency (truncation); the checksum; the JSON; each tensor's dtype and
//! shape against the architecture; and the network's own validation. Each failure is a
//! [`BpropError::ModelFile`] naming the file and saying what is wrong.
//!
//! # Writing
//!
//! [`write_model`] writes through [`super::write_atomic`]: a temporary file in the same
//! directory, flushed, synced and renamed, so an interrupted save leaves the previous model
//! file whole.

use crate::data::scale::TargetScaling;
use crate::data::{ScaleKind, Scaling, Schema, Task};
pub use crate::driver::History;
use crate::error::{BpropError, Result};
use crate::model::{Hyper, Layer, Network, NetworkSpec, OptimState, Optimizer, Precision, Real};
use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The `format` value of bprop's model files.
pub const FORMAT_NAME: &str = "bprop-model";
/// The newest model file format version this bprop writes and reads: 2 for a model whose
/// schema has an input-preprocessing stage ([`Schema::preprocess`]), which a bprop that
/// reads only version 1 would ignore and so misread its inputs; 1 otherwise
/// ([`FORMAT_VERSION_PLAIN`]), so that such models stay readable by older bprops.
pub const FORMAT_VERSION: u32 = 2;
/// The version of a model file without an input-preprocessing stage.
pub const FORMAT_VERSION_PLAIN: u32 = 1;
/// The largest JSON header accepted (safetensors' own limit).
const MAX_HEADER: u64 = 100_000_000;
/// The most epochs a model file may say were trained or asked for (and history records it
/// may hold): 2^53, exact in every JSON reader. Nothing replays epochs (a resumed run
/// derives its epoch's shuffle directly), so a large count costs nothing; the bound keeps
/// counters where epoch and step arithmetic cannot overflow and rejects crafted values
/// such as 2^64 − 1.
pub const MAX_EPOCHS: u64 = 1 << 53;
/// The largest step count, batch size or sample count a model file may hold: 2^53, the
/// largest count an f64 (a schedule's or Adam's step) holds exactly.
pub const MAX_COUNTER: u64 = 1 << 53;

/// `what` = `v` is within `max`, else the message for a corrupt counter.
fn check_counter(what: &str, v: u64, max: u64) -> std::result::Result<(), String> {
    if v > max {
        return Err(format!("corrupt: {what} is {v}, over the limit of {max}"));
    }
    Ok(())
}

/// How a model was trained; saved with it for `bprop info` and `bprop train --resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSettings {
    /// Optimizer, learning rate and schedule, weight decay, max-norm, dropout.
    pub hyper: Hyper,
    /// Epochs asked for in the last run.
    pub epochs: usize,
    /// Epochs trained in all runs together.
    pub epochs_done: usize,
    /// Steps trained in all runs together.
    pub steps_done: u64,
    /// Samples per step.
    pub batch_size: usize,
    /// Seed of the initial weights, the shuffling and the validation split.
    pub seed: u64,
    /// Fraction of the training file held out for validation, if any.
    pub validation: Option<f64>,
    /// Early-stopping patience in epochs, if any.
    pub patience: Option<usize>,
    /// The engine that finished the last run, e.g. `GPU path: llvmpipe (Vulkan, Cpu, f32)`.
    pub backend: String,
    /// The training data file, as given.
    pub data: Option<String>,
    /// Training samples (after the validation split).
    pub samples: usize,
    /// Why the last run stopped.
    pub stopped: String,
    /// Seconds the runs took together.
    pub seconds: f64,
}

/// Everything in a model file besides tensors: what the columns are, how it was trained.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The data's columns, task and class labels.
    #[serde(default)]
    pub schema: Option<Schema>,
    /// The training settings.
    #[serde(default)]
    pub training: Option<TrainingSettings>,
    /// Per-epoch losses over all runs.
    #[serde(default)]
    pub history: Vec<History>,
    /// The program that wrote the file, e.g. `bprop 0.1.0`.
    #[serde(default)]
    pub written_by: String,
    /// The regression targets' standardization, when the network learned scaled targets
    /// (`target_scaling` in the document, absent otherwise: files written before it existed
    /// load with none, their outputs in the targets' units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_scaling: Option<TargetScaling>,
}

/// A model as saved: the network, and what is needed to use it on raw data and to resume
/// its training.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile<T> {
    /// Architecture and parameters.
    pub network: Network<T>,
    /// The input scaling fitted on the training data, if any.
    pub scaling: Option<Scaling>,
    /// The optimizer's state, to resume training exactly.
    pub optimizer: Option<OptimState<T>>,
    /// Columns, labels, settings, history.
    pub meta: ModelMeta,
}

/// A model file of either precision, as [`read_model`] finds it.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyModel {
    /// Trained in f32.
    F32(ModelFile<f32>),
    /// Trained in f64.
    F64(ModelFile<f64>),
}

impl AnyModel {
    /// `f32` or `f64`.
    pub fn precision(&self) -> &'static str {
        match self {
            AnyModel::F32(_) => "f32",
            AnyModel::F64(_) => "f64",
        }
    }
    /// The metadata.
    pub fn meta(&self) -> &ModelMeta {
        match self {
            AnyModel::F32(m) => &m.meta,
            AnyModel::F64(m) => &m.meta,
        }
    }
    /// The model in precision `T`: exact for the file's own precision, f64 → f32 rounds.
    pub fn cast<T: Real>(&self) -> ModelFile<T> {
        match self {
            AnyModel::F32(m) => m.cast(),
            AnyModel::F64(m) => m.cast(),
        }
    }
}

fn cast_state<T: Real, U: Real>(s: &OptimState<T>) -> OptimState<U> {
    let c2 = |a: &Array2<T>| a.mapv(|v| U::of(v.f64()));
    let c1 = |a: &Array1<T>| a.mapv(|v| U::of(v.f64()));
    OptimState {
        optimizer: s.optimizer,
        step: s.step,
        weights: s.weights.iter().map(|[a, b]| [c2(a), c2(b)]).collect(),
        bias: s.bias.iter().map(|[a, b]| [c1(a), c1(b)]).collect(),
    }
}

impl<T: Real> ModelFile<T> {
    /// A model file holding `network` alone.
    pub fn new(network: Network<T>) -> Self {
        ModelFile {
            network,
            scaling: None,
            optimizer: None,
            meta: ModelMeta {
                written_by: written_by(),
                ..ModelMeta::default()
            },
        }
    }

    /// The same model in precision `U`.
    pub fn cast<U: Real>(&self) -> ModelFile<U> {
        ModelFile {
            network: self.network.cast(),
            scaling: self.scaling.clone(),
            optimizer: self.optimizer.as_ref().map(cast_state),
            meta: self.meta.clone(),
        }
    }

    /// The file's bytes (module doc).
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] when the optimizer state or the scaling does not fit
    /// the network.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let net = &self.network;
        let dtype = dtype_of::<T>();
        let mut tensors: Vec<(String, Owned)> = Vec::new();
        for (l, layer) in net.layers().iter().enumerate() {
            tensors.push((
                format!("layer.{l}.weight"),
                Owned::new(dtype, layer.weights.shape(), layer.weights.iter()),
            ));
            if let Some(b) = &layer.bias {
                tensors.push((format!("layer.{l}.bias"), Owned::new(dtype, b.shape(), b.iter())));
            }
        }
        if let Some(s) = &self.optimizer {
            let fits = s.fits(net)
                && s.bias.len() == net.layers().len()
                && s.bias
                    .iter()
                    .zip(net.layers())
                    .all(|([b, _], l)| b.len() == l.fan_out());
            if !fits {
                return Err(BpropError::InvalidArgument {
                    name: "optimizer state",
                    value: format!("{} layers", s.weights.len()),
                    why: format!("does not fit the network {:?}", net.sizes()),
                });
            }
            for (l, (w, b)) in s.weights.iter().zip(&s.bias).enumerate() {
                for k in 0..2 {
                    tensors.push((
                        format!("optimizer.{l}.weight.{k}"),
                        Owned::new(dtype, w[k].shape(), w[k].iter()),
                    ));
                    tensors.push((
                        format!("optimizer.{l}.bias.{k}"),
                        Owned::new(dtype, b[k].shape(), b[k].iter()),
                    ));
                }
            }
        }
        if let Some(sc) = &self.scaling {
            sc.validate()?;
            if sc.width() != net.inputs() {
                return Err(BpropError::InvalidArgument {
                    name: "scaling",
                    value: format!("{} columns", sc.width()),
                    why: format!("the network has {} inputs", net.inputs()),
                });
            }
            let shape = [sc.width()];
            tensors.push((
                "scaling.offset".into(),
                Owned::new(Dtype::F64, &shape, sc.offset.iter()),
            ));
            tensors.push(("scaling.scale".into(), Owned::new(Dtype::F64, &shape, sc.scale.iter())));
        }
        let header = Header {
            dtype: T::NAME.into(),
            architecture: net.spec(),
            scaling: self.scaling.as_ref().map(|s| s.kind),
            optimizer: self.optimizer.as_ref().map(|s| OptimHeader {
                optimizer: s.optimizer,
                step: s.step,
            }),
            meta: self.meta.clone(),
        };
        let json = serde_json::to_string(&header).expect("the header serialises");
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = checksum_start(&json);
        for (name, t) in &tensors {
            checksum_tensor(&mut h, name, t.dtype, &t.shape, &t.data);
        }
        let metadata: BTreeMap<&str, String> = [
            ("format", FORMAT_NAME.to_string()),
            ("format_version", self.format_version().to_string()),
            ("bprop", json),
            ("checksum", format!("crc32:{:08x}", h.finalize())),
        ]
        .into_iter()
        .collect();
        Ok(container(&metadata, tensors))
    }

    /// The format version this model is written with: [`FORMAT_VERSION`] when its schema
    /// has an input-preprocessing stage, else [`FORMAT_VERSION_PLAIN`].
    pub fn format_version(&self) -> u32 {
        if self.meta.schema.as_ref().is_some_and(|s| s.preprocess.is_some()) {
            FORMAT_VERSION
        } else {
            FORMAT_VERSION_PLAIN
        }
    }
}

/// A safetensors container, laid out deterministically (the same model gives the same
/// bytes): the header's keys in sorted order (serde_json's map is ordered), the f64 tensors
/// first and then the f32 ones, each group by name, so that every tensor starts at a
/// multiple of its element size (the header is padded with spaces to a multiple of 8, as
/// the safetensors crate does).
fn container(metadata: &BTreeMap<&str, String>, mut tensors: Vec<(String, Owned)>) -> Vec<u8> {
    tensors.sort_by(|a, b| {
        (b.1.dtype == Dtype::F64)
            .cmp(&(a.1.dtype == Dtype::F64))
            .then(a.0.cmp(&b.0))
    });
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offset = 0usize;
    for (name, t) in &tensors {
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": t.dtype.to_string(),
                "shape": t.shape,
                "data_offsets": [offset, offset + t.data.len()],
            }),
        );
        offset += t.data.len();
    }
    let mut h = serde_json::to_vec(&header).expect("the header serialises");
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, t) in &tensors {
        out.extend_from_slice(&t.data);
    }
    out
}

/// `bprop VERSION`.
fn written_by() -> String {
    format!("bprop {}", env!("CARGO_PKG_VERSION"))
}

/// The JSON document under the `bprop` metadata key.
#[derive(Serialize, Deserialize)]
struct Header {
    dtype: String,
    architecture: NetworkSpec,
    scaling: Option<ScaleKind>,
    optimizer: Option<OptimHeader>,
    #[serde(flatten)]
    meta: ModelMeta,
}

#[derive(Serialize, Deserialize)]
struct OptimHeader {
    optimizer: Optimizer,
    step: u64,
}

/// A tensor's bytes, for safetensors' serialiser.
struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Owned {
    fn new<'a, R: Real>(dtype: Dtype, shape: &[usize], values: impl Iterator<Item = &'a R>) -> Self {
        let mut data = Vec::new();
        for v in values {
            if dtype == Dtype::F32 {
                data.extend_from_slice(&(v.f64() as f32).to_le_bytes());
            } else {
                data.extend_from_slice(&v.f64().to_le_bytes());
            }
        }
        Owned {
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }
}

fn dtype_of<T: Real>() -> Dtype {
    if T::PRECISION == Precision::F32 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

fn checksum_start(json: &str) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(FORMAT_NAME.as_bytes());
    h.update(json.as_bytes());
    h
}

fn checksum_tensor(h: &mut crc32fast::Hasher, name: &str, dtype: Dtype, shape: &[usize], data: &[u8]) {
    h.update(name.as_bytes());
    h.update(&[0]);
    h.update(dtype.to_string().as_bytes());
    for &d in shape {
        h.update(&(d as u64).to_le_bytes());
    }
    h.update(data);
}

/// Writes `model` to `path` atomically (module doc).
///
/// # Errors
/// Those of [`ModelFile::to_bytes`] and [`super::write_atomic`].
pub fn write_model<T: Real>(path: impl AsRef<Path>, model: &ModelFile<T>) -> Result<()> {
    let path = path.as_ref();
    let bytes = model.to_bytes().map_err(|e| match e {
        BpropError::ModelFile { why, .. } => BpropError::ModelFile {
            path: path.display().to_string(),
            why,
        },
        other => other,
    })?;
    super::write_atomic(path, &bytes)
}

/// Checks the header length field against the file length and the limit.
fn check_header_len(n: u64, file_len: u64, path: &str) -> Result<()> {
    let after = file_len.saturating_sub(8);
    if n > after {
        return Err(BpropError::ModelFile {
            path: path.into(),
            why: format!(
                "truncated or not a model file: the header length field says {n} bytes, but only {after} \
                 bytes follow it"
            ),
        });
    }
    if n > MAX_HEADER {
        return Err(BpropError::ModelFile {
            path: path.into(),
            why: format!("corrupt: a header of {n} bytes exceeds the limit of {MAX_HEADER}"),
        });
    }
    Ok(())
}

/// Reads a model file, checking its header length against the file's length before
/// reading the rest (module doc).
///
/// # Errors
/// [`BpropError::Io`] when the file cannot be read; [`BpropError::ModelFile`] for anything
/// wrong with its contents.
pub fn read_model(path: impl AsRef<Path>) -> Result<AnyModel> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let io = |source| BpropError::Io {
        path: name.clone(),
        source,
    };
    let (mut file, len) = crate::data::open_regular(path)?;
    let limit = crate::data::input_limits(Some(len))?.0;
    if len > limit {
        return Err(BpropError::InputLimit {
            path: name,
            what: format!("the model file's {len} bytes"),
            limit,
            hint: crate::data::limit_hint(),
        });
    }
    if len < 8 {
        return Err(BpropError::ModelFile {
            path: name,
            why: format!("truncated: {len} bytes; a model file starts with an 8-byte header length"),
        });
    }
    let mut pre = [0u8; 8];
    file.read_exact(&mut pre).map_err(io)?;
    check_header_len(u64::from_le_bytes(pre), len, &name)?;
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend_from_slice(&pre);
    file.take(len - 8).read_to_end(&mut bytes).map_err(io)?;
    parse_model(&bytes, &name)
}

/// Parses a model file held in memory; `name` stands for the file in messages.
///
/// # Errors
/// [`BpropError::ModelFile`] (module doc).
pub fn parse_model(bytes: &[u8], name: &str) -> Result<AnyModel> {
    let bad = |why: String| BpropError::ModelFile { path: name.into(), why };
    if bytes.len() < 8 {
        return Err(bad(format!(
            "truncated: {} bytes; a model file starts with an 8-byte header length",
            bytes.len()
        )));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    check_header_len(n, bytes.len() as u64, name)?;
    let header_bytes = &bytes[8..8 + n as usize];
    let value: serde_json::Value = serde_json::from_slice(header_bytes)
        .map_err(|e| bad(format!("corrupt or not a model file: its header is not JSON ({e})")))?;
    let md = value
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("not a bprop model: a safetensors file without bprop's metadata".into()))?;
    let get = |k: &str| md.get(k).and_then(|v| v.as_str());
    if get("format") != Some(FORMAT_NAME) {
        return Err(bad(format!(
            "not a bprop model: metadata `format` is {}, expected \"{FORMAT_NAME}\"",
            describe_json(md.get("format"))
        )));
    }
    let version: u32 = get("format_version")
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            bad(format!(
                "invalid format_version: {}, expected a string holding a positive integer such as \"1\"",
                describe_json(md.get("format_version"))
            ))
        })?;
    if version > FORMAT_VERSION {
        return Err(bad(format!(
            "written by a newer bprop: model file format version {version}; this bprop ({}) reads format \
             version {FORMAT_VERSION} and older. Upgrade bprop to read it",
            env!("CARGO_PKG_VERSION")
        )));
    }
    check_data_extent(&value, 8 + n, bytes.len() as u64, name)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("truncated or corrupt: {e}")))?;
    let json = get("bprop").ok_or_else(|| bad("no `bprop` metadata".into()))?;
    let stored = get("checksum").ok_or_else(|| bad("no checksum".into()))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    let mut h = checksum_start(json);
    for t in &names {
        let view = st.tensor(t).map_err(|e| bad(format!("corrupt: {e}")))?;
        checksum_tensor(&mut h, t, view.dtype(), view.shape(), view.data());
    }
    let computed = format!("crc32:{:08x}", h.finalize());
    if stored != computed {
        return Err(bad(format!(
            "corrupt: checksum mismatch (stored {stored}, computed {computed}); the file was damaged after \
             it was written"
        )));
    }
    let header: Header =
        serde_json::from_str(json).map_err(|e| bad(format!("its `bprop` metadata is not valid: {e}")))?;
    match header.dtype.as_str() {
        "f32" => Ok(AnyModel::F32(decode(&st, header, name)?)),
        "f64" => Ok(AnyModel::F64(decode(&st, header, name)?)),
        other => Err(bad(format!("unknown dtype {other:?} (expected f32 or f64)"))),
    }
}

/// The values of tensor `tname`, which must have dtype `D` and shape `shape`.
fn tensor<D: Real>(st: &SafeTensors<'_>, tname: &str, shape: &[usize], path: &str) -> Result<Vec<D>> {
    let bad = |why: String| BpropError::ModelFile { path: path.into(), why };
    let t = st
        .tensor(tname)
        .map_err(|_| bad(format!("tensor `{tname}` is missing")))?;
    if t.dtype() != dtype_of::<D>() {
        return Err(bad(format!(
            "tensor `{tname}` has dtype {}, expected {}",
            t.dtype(),
            dtype_of::<D>()
        )));
    }
    if t.shape() != shape {
        return Err(bad(format!(
            "tensor `{tname}` has shape {:?}, but the architecture says {shape:?}",
            t.shape()
        )));
    }
    let size = if D::NAME == "f32" { 4 } else { 8 };
    let values: Vec<D> = t
        .data()
        .chunks_exact(size)
        .map(|c| {
            if size == 4 {
                D::of(f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
            } else {
                D::of(f64::from_le_bytes(c.try_into().expect("8 bytes")))
            }
        })
        .collect();
    // A saved model never holds NaN or infinities (a diverged run is not saved), so one
    // here is damage, reported now rather than later as a divergence.
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "corrupt: tensor `{tname}` holds a non-finite value ({}) at element {i}",
            values[i]
        )));
    }
    Ok(values)
}

/// A JSON value described for a message: `missing`, a string quoted, anything else by its
/// kind and text (`the number 1`).
fn describe_json(v: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    let text = |v: &Value| crate::data::preview_text(&v.to_string(), 40);
    match v {
        None => "missing".into(),
        Some(Value::String(s)) => format!("{:?}", crate::data::preview_text(s, 40)),
        Some(v @ Value::Number(_)) => format!("the number {} (not a string)", text(v)),
        Some(v @ Value::Bool(_)) => format!("the boolean {} (not a string)", text(v)),
        Some(Value::Null) => "null (not a string)".into(),
        Some(v @ Value::Array(_)) => format!("an array {} (not a string)", text(v)),
        Some(v @ Value::Object(_)) => format!("an object {} (not a string)", text(v)),
    }
}

/// Compares the end of the tensor data the header declares with the file's length, so that
/// bytes appended after the data are called trailing data, and missing ones truncation.
/// Headers too malformed to say are left to safetensors' own checks.
fn check_data_extent(header: &serde_json::Value, data_start: u64, len: u64, name: &str) -> Result<()> {
    let Some(map) = header.as_object() else {
        return Ok(());
    };
    let mut end = 0u64;
    for (k, v) in map {
        if k == "__metadata__" {
            continue;
        }
        let Some(e) = v
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| o.get(1))
            .and_then(serde_json::Value::as_u64)
        else {
            return Ok(());
        };
        end = end.max(e);
    }
    let Some(declared) = data_start.checked_add(end) else {
        return Ok(());
    };
    if declared < len {
        return Err(BpropError::ModelFile {
            path: name.into(),
            why: format!(
                "trailing data: {} bytes after the end of the tensor data (byte {declared}); the file was \
                 appended to or is not one model file",
                len - declared
            ),
        });
    }
    if declared > len {
        return Err(BpropError::ModelFile {
            path: name.into(),
            why: format!("truncated: the tensor data ends at byte {declared}, the file at byte {len}"),
        });
    }
    Ok(())
}

fn decode<T: Real>(st: &SafeTensors<'_>, header: Header, path: &str) -> Result<ModelFile<T>> {
    let bad = |why: String| BpropError::ModelFile { path: path.into(), why };
    let spec = header.architecture;
    if spec.layers.is_empty() || spec.inputs == 0 {
        return Err(bad("the architecture has no layers or no inputs".into()));
    }
    // Every size is checked before anything is built from it: each layer has units, and
    // its weights fit in memory (a tensor of a zero dimension holds no bytes, so the file's
    // length alone would not bound the other dimension).
    let mut fan_in = spec.inputs;
    for (l, ls) in spec.layers.iter().enumerate() {
        let fits = ls
            .units
            .checked_mul(fan_in)
            .and_then(|n| n.checked_mul(std::mem::size_of::<T>()))
            .is_some_and(|b| b <= isize::MAX as usize);
        if ls.units == 0 || !fits {
            return Err(bad(format!(
                "corrupt architecture: layer {l} has {} units on {fan_in} inputs",
                ls.units
            )));
        }
        fan_in = ls.units;
    }
    let mut layers = Vec::with_capacity(spec.layers.len());
    let mut opt_w = Vec::new();
    let mut opt_b = Vec::new();
    let mut fan_in = spec.inputs;
    for (l, ls) in spec.layers.iter().enumerate() {
        let wshape = [ls.units, fan_in];
        let w = tensor::<T>(st, &format!("layer.{l}.weight"), &wshape, path)?;
        let weights = Array2::from_shape_vec((ls.units, fan_in), w).expect("shape checked");
        let bias = if ls.bias {
            Some(Array1::from(tensor::<T>(
                st,
                &format!("layer.{l}.bias"),
                &[ls.units],
                path,
            )?))
        } else {
            None
        };
        if header.optimizer.is_some() {
            let mut w2 = Vec::with_capacity(2);
            let mut b2 = Vec::with_capacity(2);
            for k in 0..2 {
                let w = tensor::<T>(st, &format!("optimizer.{l}.weight.{k}"), &wshape, path)?;
                w2.push(Array2::from_shape_vec((ls.units, fan_in), w).expect("shape checked"));
                b2.push(Array1::from(tensor::<T>(
                    st,
                    &format!("optimizer.{l}.bias.{k}"),
                    &[ls.units],
                    path,
                )?));
            }
            let (w1, w0) = (w2.pop().expect("2"), w2.pop().expect("2"));
            let (b1, b0) = (b2.pop().expect("2"), b2.pop().expect("2"));
            opt_w.push([w0, w1]);
            opt_b.push([b0, b1]);
        }
        layers.push(Layer {
            weights,
            bias,
            activation: ls.activation,
        });
        fan_in = ls.units;
    }
    let network = Network::new(layers, spec.loss).map_err(|e| bad(format!("it describes an invalid network: {e}")))?;
    let optimizer = match header.optimizer {
        Some(h) => {
            h.optimizer
                .validate()
                .map_err(|e| bad(format!("invalid optimizer: {e}")))?;
            Some(OptimState {
                optimizer: h.optimizer,
                step: h.step,
                weights: opt_w,
                bias: opt_b,
            })
        }
        None => None,
    };
    let scaling = match header.scaling {
        Some(kind) => {
            let n = network.inputs();
            let s = Scaling {
                kind,
                offset: tensor::<f64>(st, "scaling.offset", &[n], path)?,
                scale: tensor::<f64>(st, "scaling.scale", &[n], path)?,
            };
            s.validate().map_err(|e| bad(format!("invalid scaling: {e}")))?;
            Some(s)
        }
        None => None,
    };
    if let Some(o) = &optimizer {
        check_counter("optimizer step", o.step, MAX_COUNTER).map_err(bad)?;
    }
    let meta = header.meta;
    if let Some(t) = &meta.target_scaling {
        t.validate(network.outputs())
            .map_err(|e| bad(format!("invalid target scaling: {e}")))?;
    }
    if let Some(t) = &meta.training {
        t.hyper
            .validate()
            .map_err(|e| bad(format!("invalid training settings: {e}")))?;
        check_counter("training.epochs", t.epochs as u64, MAX_EPOCHS).map_err(bad)?;
        check_counter("training.epochs_done", t.epochs_done as u64, MAX_EPOCHS).map_err(bad)?;
        check_counter("training.steps_done", t.steps_done, MAX_COUNTER).map_err(bad)?;
        check_counter("training.batch_size", t.batch_size as u64, MAX_COUNTER).map_err(bad)?;
        check_counter("training.samples", t.samples as u64, MAX_COUNTER).map_err(bad)?;
        if let Some(p) = t.patience {
            check_counter("training.patience", p as u64, MAX_EPOCHS).map_err(bad)?;
        }
        if !(t.seconds.is_finite() && t.seconds >= 0.0) {
            return Err(bad(format!("corrupt: training.seconds is {}", t.seconds)));
        }
        if t.validation
            .is_some_and(|v| !(v.is_finite() && (0.0..1.0).contains(&v)))
        {
            return Err(bad(format!(
                "corrupt: training.validation is {:?}, expected a fraction in [0, 1)",
                t.validation
            )));
        }
    }
    if meta.history.len() as u64 > MAX_EPOCHS {
        return Err(bad(format!(
            "corrupt: {} history records, over the limit of {MAX_EPOCHS} epochs",
            meta.history.len()
        )));
    }
    if let Some(s) = &meta.schema {
        s.validate()
            .map_err(|e| bad(format!("its schema is inconsistent: {e}")))?;
        let labels_ok = match (&s.labels, s.task) {
            (Some(l), Task::Classification) => l.len() == s.classes(),
            _ => true,
        };
        if s.inputs != network.inputs() || s.outputs != network.outputs() || !labels_ok {
            return Err(bad(format!(
                "its schema ({} inputs, {} outputs, {} labels) does not fit the network {:?}",
                s.inputs,
                s.outputs,
                s.labels.as_ref().map_or(0, Vec::len),
                network.sizes()
            )));
        }
    }
    Ok(ModelFile {
        network,
        scaling,
        optimizer,
        meta,
    })
}
