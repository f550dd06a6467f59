//! Readers and writers: MNIST IDX, FANN, CSV/TSV, .npy, model files, FANN .net, ONNX against onnxruntime, and typed errors.
//!
//! One test binary for these modules (each was a binary of its own): the crate is linked
//! once instead of once per file.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/counting.rs"]
mod counting;

mod csv;
mod data;
mod errors;
mod fann_net;
mod fsutil;
mod fuzz_regressions;
mod header;
mod hostile_inputs;
mod hostile_models;
mod model_file;
mod onnx;
mod seal;
