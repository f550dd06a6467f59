//! The GPU path: adapter selection and device ([`context`]), the host–shader contract
//! ([`contract`]: codes, shared structs, bindings), WGSL variants and pipelines
//! ([`shaders`]), and the training engine ([`engine`]). The shaders themselves are in
//! `shaders/`, one file per pass.

pub mod context;
pub mod contract;
pub mod engine;
pub mod shaders;

pub use context::{AdapterRequest, AdapterSummary, GpuContext};
pub use engine::{
    GpuEngine, GpuInference, KernelChoice, ProductChoice, ProductPass, ProductTiming, ShapeKey, TuneCache,
    FUSED_MAX_WORK, INFER_ROWS, KERNEL_ENV, REDUCE_ENV, TILED_MIN_BATCH,
};
pub use shaders::FusedCaps;
pub use shaders::{Product, Reduce, Tile};
