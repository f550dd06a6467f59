//! ONNX export (`bprop export --format onnx`): a model file as an ONNX model that
//! onnxruntime, or any runtime implementing the default domain's opset 17, runs with the
//! same outputs as bprop.
//!
//! # The graph
//!
//! ```text
//! input (N, d) ─Sub(scaling.offset)─▶ [input.centered_hi ─Sub(scaling.offset_lo)─▶] input.centered
//!   ─Div(scaling.scale)─▶ input.scaled
//!   ─Gemm(layer.0.weight, layer.0.bias; transB=1)─▶ layer.0.z ─f₀─▶ layer.0.a
//!   ─ ··· ─Gemm(layer.{L−1}.weight, layer.{L−1}.bias; transB=1)─▶ layer.{L−1}.z ─f_{L−1}─▶ output (N, k)
//!   [with standardized regression targets, the last layer writes output.standardized
//!    ─Mul(target_scaling.scale)─▶ output.scaled ─Add(target_scaling.offset)─▶ output]
//! ```
//!
//! | bprop | ONNX node |
//! |---|---|
//! | input scaling x' = (x − offset) / scale (only when the model has one) | `Sub` (two in f32 graphs, below), then `Div` |
//! | z = a Wᵀ + b, W (fan_out, fan_in) | `Gemm(a, W, b)`, `transB = 1`; without bias, no `C` input |
//! | `identity` | none (the `Gemm` writes the layer's output) |
//! | `sigmoid`, `tanh`, `relu` | `Sigmoid`, `Tanh`, `Relu` |
//! | `leaky_relu:s` | `LeakyRelu`, `alpha = s` |
//! | `softmax` | `Softmax`, `axis = −1`: the output is the class probabilities |
//! | target scaling y = y'·scale + offset (only when the model has one) | `Mul`, then `Add` |
//!
//! The graph's one input is `input`, shape (`N`, d) with a symbolic batch dimension `N`;
//! its one output is `output`, (`N`, k). Initializers keep the model file's tensor names
//! (`layer.{l}.weight`, `layer.{l}.bias`) and are not listed as graph inputs (IR ≥ 4), so
//! runtimes treat them as constants. The scaling is divided, not multiplied by 1/scale,
//! because bprop divides: in an f64 graph the scaled inputs are then bprop's bit for bit.
//!
//! # Text columns and missing values
//!
//! A model with an input-preprocessing stage ([`crate::data::prep`]) takes the table's
//! input columns as they are, in two graph inputs: `input` (`N`, numeric columns) in the
//! model's precision, NaN where a value is missing, and `categories` (`N`, text columns)
//! of strings (each only when there are such columns; the metadata `bprop.numeric_inputs`
//! and `bprop.text_inputs` name their columns in order). The stage becomes:
//!
//! | bprop | ONNX nodes |
//! |---|---|
//! | numeric fill (`--impute`) | `IsNaN(input)`, `Where(missing, prep.fill, input)` |
//! | a text column k | `Gather(categories, [k], axis=1)`, (N, 1) |
//! | its fill (`--impute`) | `LabelEncoder` (`ai.onnx.ml`): each [`MISSING_STRINGS`] spelling → the fill, each category → itself, anything else → `""` |
//! | one-hot, unseen → zeros | `OneHotEncoder(cats_strings, zeros=1)` (`ai.onnx.ml`), `Flatten(axis=1)`, (`Cast` to double) |
//! | missing indicators | numeric: `Gather` of `IsNaN` and `Cast`; text: `LabelEncoder` missing spellings → 1, else 0 |
//! | the network's inputs | `Concat(axis=1)`: numeric, categories, indicators (the stage's layout) |
//!
//! then the scaling and the network as above. The graph compares text exactly: it knows
//! the missing spellings in [`MISSING_STRINGS`], where bprop also ignores case and spaces
//! around a field; a missing value in a column the model fills none in gives NaN outputs
//! (numbers) or all-zero categories (text) where bprop refuses the file. Each text column
//! costs five nodes at most, and the `ai.onnx.ml` opset (version 2, for `LabelEncoder`'s
//! string-to-string and string-to-float maps) is imported only for models with text
//! columns. `tests/io/onnx.rs` runs such a model through onnxruntime in f32 and f64, with
//! every missing spelling and an unseen category, against bprop's own reading of the rows.
//!
//! Every activation bprop has maps to one ONNX operator, so nothing is refused today; the
//! `match` below is exhaustive, so a new activation cannot compile until it is mapped here
//! (or refused with a [`BpropError`]).
//!
//! # Precision
//!
//! Tensors are written in the model's precision: `FLOAT` for f32 models, `DOUBLE` for f64
//! ones (onnxruntime's CPU provider has double kernels for `Gemm`, `Sub`, `Div` and every
//! activation above; checked with onnxruntime 1.32), whose input must then be fed as
//! float64. `bprop export --precision f32` rounds an f64 model for runtimes without double
//! kernels. Two roundings differ from bprop's own:
//!
//! - an f32 graph scales in f32 where bprop scales in f64 and rounds once. Rounding an
//!   offset o to f32 alone would add an error of up to ulp(o) / (2·scale) to the scaled
//!   input — 6e-7 for o = 0.3, scale 0.01, and far more for columns like years or
//!   prices whose spread is small beside their mean. So in f32 graphs the offset is
//!   stored as an unevaluated sum of two floats, `scaling.offset` = f32(o) and
//!   `scaling.offset_lo` = f32(o − f32(o)), subtracted in turn (x − o_hi is exact when x
//!   is within a factor 2 of o_hi, and the small o_lo then corrects it): the scaled input
//!   is within a few f32 ulps of bprop's. The second `Sub` is left out when every offset
//!   is exact in f32. Scales are rounded to f32: one ulp, relative;
//! - `LeakyRelu`'s `alpha` is a `float` attribute, so in an f64 graph a slope not exact in
//!   f32 (0.01) is rounded: negative outputs differ by at most 2⁻²⁴ relative.
//!
//! tests/io/onnx.rs runs every activation, with biases on and off, with and without scaling,
//! in f32 and f64, through onnxruntime and compares with bprop, relative to the outputs'
//! scale max(1, max |y|): f32 graphs within 1e-6 (2.8e-7 measured), f64 graphs within
//! 1e-12 (4.5e-16 measured), or 1e-8 with a slope rounded by the f32 `alpha` (1.3e-9
//! measured for 0.01).
//!
//! # Versions
//!
//! IR version 8 with opset 17, pinned: ONNX 1.12 introduced opset 17 and writes IR 8 with
//! it. A file's IR version is the oldest IR format a reader must understand; nothing here
//! needs IR 9 or later (they add float8/int4/float4 types, function attributes, and
//! `metadata_props` on graphs, nodes and tensors, which is why metadata goes on the model
//! only), so IR 8 keeps the file loadable by every runtime that knows opset 17, rather
//! than only by those as new as the newest writer. Opset 17 has every operator used (`Softmax` with a
//! single-axis `axis` since opset 13; `Gemm` with an optional `C` since opset 11).
//!
//! # Metadata
//!
//! The model's `doc_string` describes the network; `metadata_props` hold `bprop.loss`,
//! `bprop.precision`, and when the model file has them `bprop.scaling` (the kind),
//! `bprop.task`, and JSON arrays `bprop.labels` (class names in output order),
//! `bprop.input_names` and `bprop.target_names`.
//!
//! # Encoding
//!
//! The protobuf is written by the small encoder in this module (no protobuf crate): the
//! wire format (varints, length-delimited fields, fixed32 floats) with the field numbers
//! of `onnx/onnx.proto` (proto2) cited beside each constant. Fields are written in
//! field-number order and repeated integers unpacked, as protobuf's own serializer
//! writes them, so `onnx.load(f).SerializeToString()` gives the file's bytes back (the
//! test checks this). Tensors use `raw_data` (little-endian). The bytes are deterministic.

use crate::data::prep::{InputColumn, Preprocess};
use crate::error::{BpropError, Result};
use crate::io::{write_atomic, ModelFile};
use crate::model::{Activation, Precision, Real};
use std::path::Path;

/// The ONNX IR version written (see the module doc for why 8).
pub const IR_VERSION: i64 = 8;
/// The default domain's operator set version written.
pub const OPSET_VERSION: i64 = 17;
/// The graph input's name.
pub const INPUT_NAME: &str = "input";
/// The graph output's name.
pub const OUTPUT_NAME: &str = "output";
/// The symbolic batch dimension of the input and output.
pub const BATCH_DIM: &str = "N";
/// The graph input holding the text (categorical) input columns, as strings, when the
/// model has any.
pub const CATEGORIES_NAME: &str = "categories";
/// The domain of the traditional-ML operators (`LabelEncoder`, `OneHotEncoder`).
pub const ML_DOMAIN: &str = "ai.onnx.ml";
/// The `ai.onnx.ml` operator set version written when the graph encodes text columns
/// (`LabelEncoder` with string, float and string-valued maps since version 2).
pub const ML_OPSET_VERSION: i64 = 2;
/// The spellings of a missing value the graph recognises in a text column (the graph
/// compares exactly, where bprop ignores case and surrounding spaces).
pub const MISSING_STRINGS: [&str; 17] = [
    "", "?", "NA", "na", "Na", "N/A", "n/a", "NaN", "nan", "NAN", "-nan", "-NaN", "null", "NULL", "Null", "<NA>",
    "<na>",
];

/// A protobuf encoder: just what ONNX's messages need.
///
/// Wire format (protobuf's "Encoding" documentation): each field is a key
/// `(field_number << 3) | wire_type` as a varint, then the value: wire type 0, a varint
/// (7 bits per byte, least significant group first, high bit set on all but the last byte;
/// int32/int64/enum values are sign-extended to 64 bits, so a negative one takes 10 bytes);
/// 2, a varint length then that many bytes (strings, bytes, nested messages); 5, four
/// little-endian bytes (float).
mod pb {
    const VARINT: u32 = 0;
    const LEN: u32 = 2;
    const FIXED32: u32 = 5;

    /// One message's encoded fields, built by chaining.
    #[derive(Clone, Debug, Default)]
    pub struct Msg(Vec<u8>);

    fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    impl Msg {
        pub fn new() -> Self {
            Msg(Vec::new())
        }
        fn key(&mut self, field: u32, wire: u32) {
            varint(&mut self.0, u64::from((field << 3) | wire));
        }
        /// An int32, int64 or enum field.
        pub fn int(mut self, field: u32, v: i64) -> Self {
            self.key(field, VARINT);
            varint(&mut self.0, v as u64);
            self
        }
        /// A float field.
        pub fn float(mut self, field: u32, v: f32) -> Self {
            self.key(field, FIXED32);
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        /// A bytes field.
        pub fn bytes(mut self, field: u32, b: &[u8]) -> Self {
            self.key(field, LEN);
            varint(&mut self.0, b.len() as u64);
            self.0.extend_from_slice(b);
            self
        }
        /// A string field (UTF-8).
        pub fn string(self, field: u32, s: &str) -> Self {
            self.bytes(field, s.as_bytes())
        }
        /// An embedded message.
        pub fn message(self, field: u32, m: &Msg) -> Self {
            self.bytes(field, &m.0)
        }
        /// The encoded bytes.
        pub fn into_bytes(self) -> Vec<u8> {
            self.0
        }
    }
}

/// Field numbers and enum values of `onnx/onnx.proto` (github.com/onnx/onnx), by message.
mod proto {
    /// `message ModelProto`.
    pub mod model {
        pub const IR_VERSION: u32 = 1; // optional int64 ir_version = 1;
        pub const PRODUCER_NAME: u32 = 2; // optional string producer_name = 2;
        pub const PRODUCER_VERSION: u32 = 3; // optional string producer_version = 3;
        pub const DOC_STRING: u32 = 6; // optional string doc_string = 6;
        pub const GRAPH: u32 = 7; // optional GraphProto graph = 7;
        pub const OPSET_IMPORT: u32 = 8; // repeated OperatorSetIdProto opset_import = 8;
        pub const METADATA_PROPS: u32 = 14; // repeated StringStringEntryProto metadata_props = 14;
    }
    /// `message OperatorSetIdProto`.
    pub mod opset {
        pub const DOMAIN: u32 = 1; // optional string domain = 1;
        pub const VERSION: u32 = 2; // optional int64 version = 2;
    }
    /// `message StringStringEntryProto`.
    pub mod entry {
        pub const KEY: u32 = 1; // optional string key = 1;
        pub const VALUE: u32 = 2; // optional string value = 2;
    }
    /// `message GraphProto`.
    pub mod graph {
        pub const NODE: u32 = 1; // repeated NodeProto node = 1;
        pub const NAME: u32 = 2; // optional string name = 2;
        pub const INITIALIZER: u32 = 5; // repeated TensorProto initializer = 5;
        pub const DOC_STRING: u32 = 10; // optional string doc_string = 10;
        pub const INPUT: u32 = 11; // repeated ValueInfoProto input = 11;
        pub const OUTPUT: u32 = 12; // repeated ValueInfoProto output = 12;
    }
    /// `message NodeProto`.
    pub mod node {
        pub const INPUT: u32 = 1; // repeated string input = 1;
        pub const OUTPUT: u32 = 2; // repeated string output = 2;
        pub const NAME: u32 = 3; // optional string name = 3;
        pub const OP_TYPE: u32 = 4; // optional string op_type = 4;
        pub const ATTRIBUTE: u32 = 5; // repeated AttributeProto attribute = 5;
        pub const DOMAIN: u32 = 7; // optional string domain = 7;
    }
    /// `message AttributeProto` and its `enum AttributeType`.
    pub mod attribute {
        pub const NAME: u32 = 1; // optional string name = 1;
        pub const F: u32 = 2; // optional float f = 2;
        pub const I: u32 = 3; // optional int64 i = 3;
        pub const S: u32 = 4; // optional bytes s = 4;
        pub const FLOATS: u32 = 7; // repeated float floats = 7;
        pub const STRINGS: u32 = 9; // repeated bytes strings = 9;
        pub const TYPE: u32 = 20; // optional AttributeType type = 20;
        pub const TYPE_FLOAT: i64 = 1; // AttributeType FLOAT = 1;
        pub const TYPE_INT: i64 = 2; // AttributeType INT = 2;
        pub const TYPE_STRING: i64 = 3; // AttributeType STRING = 3;
        pub const TYPE_FLOATS: i64 = 6; // AttributeType FLOATS = 6;
        pub const TYPE_STRINGS: i64 = 8; // AttributeType STRINGS = 8;
    }
    /// `message TensorProto` (its `enum DataType` is [`super::Elem`]).
    pub mod tensor {
        pub const DIMS: u32 = 1; // repeated int64 dims = 1;
        pub const DATA_TYPE: u32 = 2; // optional int32 data_type = 2;
        pub const NAME: u32 = 8; // optional string name = 8;
        pub const RAW_DATA: u32 = 9; // optional bytes raw_data = 9;
    }
    /// `message ValueInfoProto`.
    pub mod value_info {
        pub const NAME: u32 = 1; // optional string name = 1;
        pub const TYPE: u32 = 2; // optional TypeProto type = 2;
    }
    /// `message TypeProto`, `TypeProto.Tensor`, `TensorShapeProto` and its `Dimension`.
    pub mod type_proto {
        pub const TENSOR_TYPE: u32 = 1; // TypeProto: Tensor tensor_type = 1; (oneof value)
        pub const ELEM_TYPE: u32 = 1; // TypeProto.Tensor: optional int32 elem_type = 1;
        pub const SHAPE: u32 = 2; // TypeProto.Tensor: optional TensorShapeProto shape = 2;
        pub const DIM: u32 = 1; // TensorShapeProto: repeated Dimension dim = 1;
        pub const DIM_VALUE: u32 = 1; // Dimension: int64 dim_value = 1; (oneof value)
        pub const DIM_PARAM: u32 = 2; // Dimension: string dim_param = 2; (oneof value)
    }
}

/// `TensorProto.DataType` `INT64 = 7` (index tensors).
const INT64: i64 = 7;
/// `TensorProto.DataType` `STRING = 8` (the text columns' input).
const STRING: i64 = 8;

/// The element type: `TensorProto.DataType` (`FLOAT = 1`, `DOUBLE = 11`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    Float = 1,
    Double = 11,
}

impl Elem {
    fn of<T: Real>() -> Result<Self> {
        Ok(match T::PRECISION {
            Precision::F32 => Elem::Float,
            Precision::F64 => Elem::Double,
        })
    }

    /// Values as little-endian bytes of this type (`raw_data`).
    fn raw(self, values: impl Iterator<Item = f64>) -> Vec<u8> {
        match self {
            Elem::Float => values.flat_map(|v| (v as f32).to_le_bytes()).collect(),
            Elem::Double => values.flat_map(f64::to_le_bytes).collect(),
        }
    }
}

/// A `TensorProto` initializer.
fn tensor(name: &str, elem: Elem, dims: &[usize], values: impl Iterator<Item = f64>) -> pb::Msg {
    use proto::tensor::*;
    let mut t = pb::Msg::new();
    for &d in dims {
        t = t.int(DIMS, d as i64);
    }
    t.int(DATA_TYPE, elem as i64)
        .string(NAME, name)
        .bytes(RAW_DATA, &elem.raw(values))
}

/// An `INT64` `TensorProto` initializer.
fn tensor_i64(name: &str, dims: &[usize], values: &[i64]) -> pb::Msg {
    use proto::tensor::*;
    let mut t = pb::Msg::new();
    for &d in dims {
        t = t.int(DIMS, d as i64);
    }
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.int(DATA_TYPE, INT64).string(NAME, name).bytes(RAW_DATA, &raw)
}

/// A `ValueInfoProto` for a (`N`, width) tensor.
fn value_info(name: &str, elem: Elem, width: usize) -> pb::Msg {
    value_info_of(name, elem as i64, width)
}

/// A `ValueInfoProto` for a (`N`, width) tensor of data type `elem_type`.
fn value_info_of(name: &str, elem_type: i64, width: usize) -> pb::Msg {
    use proto::type_proto::*;
    let shape = pb::Msg::new()
        .message(DIM, &pb::Msg::new().string(DIM_PARAM, BATCH_DIM))
        .message(DIM, &pb::Msg::new().int(DIM_VALUE, width as i64));
    let tensor_type = pb::Msg::new().int(ELEM_TYPE, elem_type).message(SHAPE, &shape);
    let ty = pb::Msg::new().message(TENSOR_TYPE, &tensor_type);
    pb::Msg::new()
        .string(proto::value_info::NAME, name)
        .message(proto::value_info::TYPE, &ty)
}

fn attr_int(name: &str, v: i64) -> pb::Msg {
    use proto::attribute::*;
    pb::Msg::new().string(NAME, name).int(I, v).int(TYPE, TYPE_INT)
}

fn attr_float(name: &str, v: f32) -> pb::Msg {
    use proto::attribute::*;
    pb::Msg::new().string(NAME, name).float(F, v).int(TYPE, TYPE_FLOAT)
}

fn attr_string(name: &str, v: &str) -> pb::Msg {
    use proto::attribute::*;
    pb::Msg::new().string(NAME, name).string(S, v).int(TYPE, TYPE_STRING)
}

fn attr_strings(name: &str, v: &[&str]) -> pb::Msg {
    use proto::attribute::*;
    let mut a = pb::Msg::new().string(NAME, name);
    for s in v {
        a = a.string(STRINGS, s);
    }
    a.int(TYPE, TYPE_STRINGS)
}

fn attr_floats(name: &str, v: &[f32]) -> pb::Msg {
    use proto::attribute::*;
    let mut a = pb::Msg::new().string(NAME, name);
    for &f in v {
        a = a.float(FLOATS, f);
    }
    a.int(TYPE, TYPE_FLOATS)
}

/// A `NodeProto` of the `ai.onnx.ml` domain with one output.
fn ml_node(inputs: &[&str], output: &str, name: &str, op_type: &str, attributes: &[pb::Msg]) -> pb::Msg {
    node(inputs, output, name, op_type, attributes).string(proto::node::DOMAIN, ML_DOMAIN)
}

/// A `NodeProto` of the default domain with one output.
fn node(inputs: &[&str], output: &str, name: &str, op_type: &str, attributes: &[pb::Msg]) -> pb::Msg {
    use proto::node::*;
    let mut n = pb::Msg::new();
    for i in inputs {
        n = n.string(INPUT, i);
    }
    n = n.string(OUTPUT, output).string(NAME, name).string(OP_TYPE, op_type);
    for a in attributes {
        n = n.message(ATTRIBUTE, a);
    }
    n
}

/// The ONNX operator (and its attributes) for an activation; `None` for identity.
fn activation_node(act: Activation) -> Option<(&'static str, Vec<pb::Msg>)> {
    match act {
        Activation::Identity => None,
        Activation::Sigmoid => Some(("Sigmoid", vec![])),
        Activation::Tanh => Some(("Tanh", vec![])),
        Activation::Relu => Some(("Relu", vec![])),
        Activation::LeakyRelu { slope } => Some(("LeakyRelu", vec![attr_float("alpha", slope as f32)])),
        Activation::Softmax => Some(("Softmax", vec![attr_int("axis", -1)])),
    }
}

/// The bytes of an ONNX model computing `model`'s outputs from raw (unscaled) inputs
/// (module doc).
///
/// # Errors
/// [`BpropError::Shape`] when the model's input scaling does not have one column per
/// network input; [`BpropError::InvalidArgument`] for a scaling with a non-finite offset
/// or a zero or non-finite scale, or a precision other than f32 and f64.
pub fn to_onnx<T: Real>(model: &ModelFile<T>) -> Result<Vec<u8>> {
    let elem = Elem::of::<T>()?;
    let net = &model.network;
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut x = INPUT_NAME.to_string();
    let stage = model.meta.schema.as_ref().and_then(|s| s.preprocess.as_ref());
    let mut graph_inputs = vec![value_info(INPUT_NAME, elem, net.inputs())];
    if let Some(p) = stage {
        p.validate().map_err(|why| BpropError::InvalidArgument {
            name: "preprocess",
            value: format!("{} columns", p.columns.len()),
            why,
        })?;
        if p.width() != net.inputs() {
            return Err(BpropError::shape(
                "preprocessing stage (outputs = the network's inputs)",
                net.inputs(),
                p.width(),
            ));
        }
        (x, graph_inputs) = preprocess_nodes(p, elem, &mut nodes, &mut initializers);
    }

    if let Some(s) = &model.scaling {
        s.validate()?;
        if s.width() != net.inputs() {
            return Err(BpropError::shape(
                "input scaling (columns = the network's inputs)",
                net.inputs(),
                s.width(),
            ));
        }
        let w = s.width();
        initializers.push(tensor("scaling.offset", elem, &[w], s.offset.iter().copied()));
        // What rounding the offsets to f32 lost (module doc); none in f64 graphs.
        let offset_lo: Vec<f64> = s.offset.iter().map(|&o| o - f64::from(o as f32)).collect();
        let split = elem == Elem::Float && offset_lo.iter().any(|&lo| lo != 0.0);
        if split {
            initializers.push(tensor("scaling.offset_lo", elem, &[w], offset_lo.into_iter()));
        }
        initializers.push(tensor("scaling.scale", elem, &[w], s.scale.iter().copied()));
        if split {
            nodes.push(node(
                &[&x, "scaling.offset"],
                "input.centered_hi",
                "scaling.sub",
                "Sub",
                &[],
            ));
            nodes.push(node(
                &["input.centered_hi", "scaling.offset_lo"],
                "input.centered",
                "scaling.sub_lo",
                "Sub",
                &[],
            ));
        } else {
            nodes.push(node(
                &[&x, "scaling.offset"],
                "input.centered",
                "scaling.sub",
                "Sub",
                &[],
            ));
        }
        nodes.push(node(
            &["input.centered", "scaling.scale"],
            "input.scaled",
            "scaling.div",
            "Div",
            &[],
        ));
        x = "input.scaled".into();
    }

    let target_scaling = &model.meta.target_scaling;
    if let Some(t) = target_scaling {
        t.validate(net.outputs())?;
    }
    // With a target scaling the last layer computes the standardized outputs, mapped back.
    let last_out = if target_scaling.is_some() {
        "output.standardized"
    } else {
        OUTPUT_NAME
    };
    let last = net.layers().len() - 1;
    for (l, layer) in net.layers().iter().enumerate() {
        let weight = format!("layer.{l}.weight");
        initializers.push(tensor(
            &weight,
            elem,
            &[layer.fan_out(), layer.fan_in()],
            layer.weights.iter().map(|v| v.f64()),
        ));
        let mut gemm_inputs = vec![x.as_str(), weight.as_str()];
        let bias = format!("layer.{l}.bias");
        if let Some(b) = &layer.bias {
            initializers.push(tensor(&bias, elem, &[b.len()], b.iter().map(|v| v.f64())));
            gemm_inputs.push(&bias);
        }
        let out = if l == last {
            last_out.to_string()
        } else {
            format!("layer.{l}.a")
        };
        let act = activation_node(layer.activation);
        let z = if act.is_some() {
            format!("layer.{l}.z")
        } else {
            out.clone()
        };
        nodes.push(node(
            &gemm_inputs,
            &z,
            &format!("layer.{l}.gemm"),
            "Gemm",
            &[attr_int("transB", 1)],
        ));
        if let Some((op, attributes)) = act {
            let name = format!("layer.{l}.{}", op.to_ascii_lowercase());
            nodes.push(node(&[&z], &out, &name, op, &attributes));
        }
        x = out;
    }
    if let Some(t) = target_scaling {
        let k = t.width();
        initializers.push(tensor("target_scaling.scale", elem, &[k], t.scale.iter().copied()));
        initializers.push(tensor("target_scaling.offset", elem, &[k], t.offset.iter().copied()));
        nodes.push(node(
            &[&x, "target_scaling.scale"],
            "output.scaled",
            "target_scaling.mul",
            "Mul",
            &[],
        ));
        nodes.push(node(
            &["output.scaled", "target_scaling.offset"],
            OUTPUT_NAME,
            "target_scaling.add",
            "Add",
            &[],
        ));
    }

    let description = describe(model);
    let mut graph = pb::Msg::new();
    for n in &nodes {
        graph = graph.message(proto::graph::NODE, n);
    }
    graph = graph.string(proto::graph::NAME, "bprop");
    for t in &initializers {
        graph = graph.message(proto::graph::INITIALIZER, t);
    }
    graph = graph.string(proto::graph::DOC_STRING, &description);
    for i in &graph_inputs {
        graph = graph.message(proto::graph::INPUT, i);
    }
    graph = graph.message(proto::graph::OUTPUT, &value_info(OUTPUT_NAME, elem, net.outputs()));

    let opset = pb::Msg::new()
        .string(proto::opset::DOMAIN, "")
        .int(proto::opset::VERSION, OPSET_VERSION);
    let mut m = pb::Msg::new()
        .int(proto::model::IR_VERSION, IR_VERSION)
        .string(proto::model::PRODUCER_NAME, "bprop")
        .string(proto::model::PRODUCER_VERSION, env!("CARGO_PKG_VERSION"))
        .string(proto::model::DOC_STRING, &description)
        .message(proto::model::GRAPH, &graph)
        .message(proto::model::OPSET_IMPORT, &opset);
    if stage.is_some_and(|p| p.columns.iter().any(InputColumn::is_categorical)) {
        let ml = pb::Msg::new()
            .string(proto::opset::DOMAIN, ML_DOMAIN)
            .int(proto::opset::VERSION, ML_OPSET_VERSION);
        m = m.message(proto::model::OPSET_IMPORT, &ml);
    }
    for (key, value) in metadata(model) {
        let entry = pb::Msg::new()
            .string(proto::entry::KEY, &key)
            .string(proto::entry::VALUE, &value);
        m = m.message(proto::model::METADATA_PROPS, &entry);
    }
    Ok(m.into_bytes())
}

/// The nodes that turn the graph's raw inputs into the network's inputs as `p` does
/// (module doc): the name of the encoded tensor, and the graph's inputs (`input` for the
/// numeric columns, `categories` for the text ones, each when there are any).
fn preprocess_nodes(
    p: &Preprocess,
    elem: Elem,
    nodes: &mut Vec<pb::Msg>,
    initializers: &mut Vec<pb::Msg>,
) -> (String, Vec<pb::Msg>) {
    let numeric: Vec<usize> = (0..p.columns.len())
        .filter(|&j| !p.columns[j].is_categorical())
        .collect();
    let text: Vec<usize> = (0..p.columns.len())
        .filter(|&j| p.columns[j].is_categorical())
        .collect();
    let mut inputs = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    // OneHotEncoder and LabelEncoder write floats: cast for a double graph.
    let to_elem = |nodes: &mut Vec<pb::Msg>, from: String, to: String, name: &str| -> String {
        if elem == Elem::Float {
            return from;
        }
        nodes.push(node(&[&from], &to, name, "Cast", &[attr_int("to", elem as i64)]));
        to
    };
    if !numeric.is_empty() {
        inputs.push(value_info(INPUT_NAME, elem, numeric.len()));
        let mut num = INPUT_NAME.to_string();
        if p.impute.is_some() || numeric.iter().any(|&j| p.columns[j].indicator) {
            nodes.push(node(&[INPUT_NAME], "prep.missing", "prep.isnan", "IsNaN", &[]));
        }
        if p.impute.is_some() {
            let fills = numeric.iter().map(|&j| p.columns[j].fill.unwrap_or(0.0));
            initializers.push(tensor("prep.fill", elem, &[numeric.len()], fills));
            nodes.push(node(
                &["prep.missing", "prep.fill", INPUT_NAME],
                "prep.numeric",
                "prep.where",
                "Where",
                &[],
            ));
            num = "prep.numeric".into();
        }
        parts.push(num);
    }
    if !text.is_empty() {
        inputs.push(value_info_of(CATEGORIES_NAME, STRING, text.len()));
    }
    for (k, &j) in text.iter().enumerate() {
        let c = &p.columns[j];
        let cats: Vec<&str> = c.categories.iter().flatten().map(String::as_str).collect();
        let index = format!("prep.{k}.column");
        initializers.push(tensor_i64(&index, &[1], &[k as i64]));
        let field = format!("prep.{k}.text");
        nodes.push(node(
            &[CATEGORIES_NAME, &index],
            &field,
            &format!("prep.{k}.gather"),
            "Gather",
            &[attr_int("axis", 1)],
        ));
        let mut source = field.clone();
        if let Some(fill) = &c.fill_category {
            // Missing spellings become the fill; categories stay; anything else becomes ""
            // (not a category: all zeros below).
            let keys: Vec<&str> = MISSING_STRINGS.iter().copied().chain(cats.iter().copied()).collect();
            let values: Vec<&str> = MISSING_STRINGS
                .iter()
                .map(|_| fill.as_str())
                .chain(cats.iter().copied())
                .collect();
            source = format!("prep.{k}.filled");
            nodes.push(ml_node(
                &[&field],
                &source,
                &format!("prep.{k}.impute"),
                "LabelEncoder",
                &[
                    attr_string("default_string", ""),
                    attr_strings("keys_strings", &keys),
                    attr_strings("values_strings", &values),
                ],
            ));
        }
        let onehot3 = format!("prep.{k}.onehot3");
        nodes.push(ml_node(
            &[&source],
            &onehot3,
            &format!("prep.{k}.onehot"),
            "OneHotEncoder",
            &[attr_strings("cats_strings", &cats), attr_int("zeros", 1)],
        ));
        let flat = format!("prep.{k}.codes");
        nodes.push(node(
            &[&onehot3],
            &flat,
            &format!("prep.{k}.flatten"),
            "Flatten",
            &[attr_int("axis", 1)],
        ));
        parts.push(to_elem(
            nodes,
            flat,
            format!("prep.{k}.codes_cast"),
            &format!("prep.{k}.cast"),
        ));
    }
    for (j, c) in p.columns.iter().enumerate().filter(|(_, c)| c.indicator) {
        let out = if c.is_categorical() {
            let k = text.iter().position(|&t| t == j).expect("a text column");
            let flag = format!("prep.{k}.missing");
            nodes.push(ml_node(
                &[&format!("prep.{k}.text")],
                &flag,
                &format!("prep.{k}.indicator"),
                "LabelEncoder",
                &[
                    attr_float("default_float", 0.0),
                    attr_strings("keys_strings", &MISSING_STRINGS),
                    attr_floats("values_floats", &[1.0; MISSING_STRINGS.len()]),
                ],
            ));
            to_elem(
                nodes,
                flag,
                format!("prep.{k}.missing_cast"),
                &format!("prep.{k}.indicator_cast"),
            )
        } else {
            let i = numeric.iter().position(|&n| n == j).expect("a numeric column");
            let index = format!("prep.indicator.{i}.column");
            initializers.push(tensor_i64(&index, &[1], &[i as i64]));
            let flag = format!("prep.indicator.{i}.missing");
            nodes.push(node(
                &["prep.missing", &index],
                &flag,
                &format!("prep.indicator.{i}.gather"),
                "Gather",
                &[attr_int("axis", 1)],
            ));
            let out = format!("prep.indicator.{i}");
            nodes.push(node(
                &[&flag],
                &out,
                &format!("prep.indicator.{i}.cast"),
                "Cast",
                &[attr_int("to", elem as i64)],
            ));
            out
        };
        parts.push(out);
    }
    if parts.len() == 1 {
        return (parts.remove(0), inputs);
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    nodes.push(node(
        &refs,
        "input.encoded",
        "prep.concat",
        "Concat",
        &[attr_int("axis", 1)],
    ));
    ("input.encoded".into(), inputs)
}

/// Writes [`to_onnx`]'s bytes to `path` atomically.
///
/// # Errors
/// As [`to_onnx`], and [`BpropError::Io`] when writing fails.
pub fn write_onnx<T: Real>(path: impl AsRef<Path>, model: &ModelFile<T>) -> Result<()> {
    write_atomic(path.as_ref(), &to_onnx(model)?)
}

/// One line saying what the graph computes.
fn describe<T: Real>(model: &ModelFile<T>) -> String {
    let net = &model.network;
    let sizes: Vec<String> = net.sizes().iter().map(usize::to_string).collect();
    let acts: Vec<String> = net.layers().iter().map(|l| l.activation.to_string()).collect();
    let scaling = match &model.scaling {
        Some(s) => format!("; inputs scaled (x - offset) / scale ({})", s.kind),
        None => String::new(),
    };
    format!(
        "bprop network {} ({}; trained with {}, {}){scaling}",
        sizes.join("-"),
        acts.join(", "),
        net.loss(),
        T::NAME
    )
}

/// `metadata_props` (module doc), in a fixed order.
fn metadata<T: Real>(model: &ModelFile<T>) -> Vec<(String, String)> {
    let json = |v: &Vec<String>| serde_json::to_string(v).expect("strings serialise");
    let mut props = vec![
        ("bprop.loss".to_string(), model.network.loss().to_string()),
        ("bprop.precision".to_string(), T::NAME.to_string()),
    ];
    if let Some(s) = &model.scaling {
        props.push(("bprop.scaling".into(), s.kind.to_string()));
    }
    if let Some(schema) = &model.meta.schema {
        props.push(("bprop.task".into(), schema.task.to_string()));
        if let Some(l) = &schema.labels {
            props.push(("bprop.labels".into(), json(l)));
        }
        if let Some(n) = &schema.input_names {
            props.push(("bprop.input_names".into(), json(n)));
        }
        if let Some(n) = &schema.target_names {
            props.push(("bprop.target_names".into(), json(n)));
        }
        if let Some(p) = &schema.preprocess {
            // Which table columns feed `input` and `categories`, in order.
            let name = |j: usize| match &schema.input_names {
                Some(n) => n[j].clone(),
                None => format!("column {}", p.columns[j].position),
            };
            let (text, numeric): (Vec<usize>, Vec<usize>) =
                (0..p.columns.len()).partition(|&j| p.columns[j].is_categorical());
            if !numeric.is_empty() {
                props.push((
                    "bprop.numeric_inputs".into(),
                    json(&numeric.into_iter().map(name).collect()),
                ));
            }
            if !text.is_empty() {
                props.push(("bprop.text_inputs".into(), json(&text.into_iter().map(name).collect())));
            }
        }
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Loss, Network, NetworkSpec};

    fn enc(f: impl FnOnce(pb::Msg) -> pb::Msg) -> Vec<u8> {
        f(pb::Msg::new()).into_bytes()
    }

    #[test]
    fn varints_and_keys_follow_the_wire_format() {
        // Protobuf's documented examples: 1 -> 08 01 (field 1, varint); 150 -> 08 96 01.
        assert_eq!(enc(|m| m.int(1, 1)), [0x08, 0x01]);
        assert_eq!(enc(|m| m.int(1, 150)), [0x08, 0x96, 0x01]);
        assert_eq!(enc(|m| m.int(1, 300)), [0x08, 0xac, 0x02]);
        // A negative int64 is sign-extended: ten bytes.
        assert_eq!(
            enc(|m| m.int(3, -1)),
            [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        // Field 20 needs a two-byte key: (20 << 3) | 0 = 160.
        assert_eq!(enc(|m| m.int(20, 2)), [0xa0, 0x01, 0x02]);
        // "testing" in field 2 -> 12 07 74 65 73 74 69 6e 67.
        assert_eq!(enc(|m| m.string(2, "testing")), b"\x12\x07testing");
        assert_eq!(enc(|m| m.float(2, 1.0)), [0x15, 0x00, 0x00, 0x80, 0x3f]);
        let inner = pb::Msg::new().int(1, 150);
        assert_eq!(enc(|m| m.message(3, &inner)), [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }

    #[test]
    fn the_graph_s_missing_spellings_are_bprop_s() {
        assert!(MISSING_STRINGS.iter().all(|m| crate::data::prep::is_missing(m)));
    }

    #[test]
    fn attributes_carry_their_type() {
        // name "axis", i = -1, type INT (2).
        let mut want = b"\x0a\x04axis\x18".to_vec();
        want.extend([0xff; 9]);
        want.extend([0x01, 0xa0, 0x01, 0x02]);
        assert_eq!(attr_int("axis", -1).into_bytes(), want);
    }

    #[test]
    fn a_model_starts_with_its_ir_version_and_names_its_graph_ends() {
        let spec = NetworkSpec::new(2, Loss::Mse).layer(1, Activation::Identity);
        let m = ModelFile::new(Network::<f32>::random(&spec, crate::model::Init::Auto, 1).unwrap());
        let bytes = to_onnx(&m).unwrap();
        assert_eq!(&bytes[..2], [0x08, IR_VERSION as u8]);
        let has = |s: &[u8]| bytes.windows(s.len()).any(|w| w == s);
        assert!(has(b"\x0a\x05input") && has(b"\x0a\x06output") && has(b"\x12\x01N"));
        assert!(has(b"Gemm") && !has(b"Sub"));
        assert_eq!(bytes, to_onnx(&m).unwrap(), "deterministic");
    }
}
