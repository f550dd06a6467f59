//! Files bprop writes and reads back: model files ([`model_file`]), FANN's network files
//! ([`fann_net`], export and import), ONNX models ([`onnx`], export), and the atomic
//! writer every output goes through ([`write_atomic`], defined in [`crate::fsutil`]).
//!
//! Every file is written **atomically**: the bytes go to a temporary file in the target's
//! directory (so the final rename stays on one file system), which is flushed and synced
//! to disk and then renamed over the target. A reader sees the old file or the whole new
//! one, never a part; a failed write removes its temporary file and leaves the old file as
//! it was.

pub mod fann_net;
pub mod model_file;
pub mod onnx;

pub use crate::fsutil::{write_atomic, write_atomic_with};
pub use fann_net::{parse_fann_net, read_fann_net, to_fann_net};
pub use model_file::{
    parse_model, read_model, write_model, AnyModel, History, ModelFile, ModelMeta, TrainingSettings, FORMAT_NAME,
    FORMAT_VERSION, FORMAT_VERSION_PLAIN,
};
pub use onnx::{to_onnx, write_onnx};
