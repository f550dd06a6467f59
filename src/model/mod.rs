//! The network and its math, independent of any backend: scalar types, activations,
//! losses, layers, initialisation and datasets. The CPU path (`crate::cpu`) and the GPU
//! path (`crate::gpu`) both read these definitions; nothing here knows about either.

mod activation;
mod dataset;
mod dropout;
pub(crate) mod loss;
mod network;
mod optim;
mod real;

pub use activation::Activation;
pub use dataset::{split_rows, split_rows_stratified, ByteInputs, Dataset};
pub use dropout::{lowbias32, Dropout};
pub use loss::Loss;
pub use network::{Init, Layer, LayerSpec, Network, NetworkSpec};
pub use optim::{Hyper, OptimState, Optimizer, Schedule, StepValues};
pub use real::{Precision, Real};
