//! The GPU path against the CPU path (per pass, per step, the fused kernel, the tiled kernels, byte inputs, inference), the fallback, and the host–shader contract checked without a device.
//!
//! One test binary for these modules (each was a binary of its own): the crate is linked
//! once instead of once per file.

#[path = "../common/mod.rs"]
mod common;

mod autotune;
mod bits;
mod bytes;
mod dist;
mod fallback;
mod fused;
mod gpu_vs_cpu;
mod infer;
mod reduce;
mod shaders;
mod tiled;
mod vec4;
