//! # bprop
//!
//! Fully connected neural networks trained by backpropagation, on the GPU (WGSL compute
//! shaders through wgpu) and on the CPU (its own SIMD loops and packed matrix product), with a driver that picks a backend,
//! falls back to the CPU when the GPU fails, and cross-checks the two paths.
//!
//! Read `ARCHITECTURE.md` first. The layers of the crate:
//!
//! - [`model`]: the network and its math (activations, losses, initialisation, datasets);
//!   no backend.
//! - [`cpu`]: the CPU path. [`gpu`]: the GPU path. Both implement [`engine::Engine`].
//! - [`driver`]: backend selection, fallback, training loop, cross-check, k-fold
//!   cross-validation.
//! - [`data`]: readers (IDX, FANN, CSV/TSV, NumPy) and input scaling; [`io`]: model files
//!   (safetensors with bprop's metadata), atomic writes; [`plot`]: loss curves as SVG.
//! - [`seed`]: the seed's 2-2-1 network and its published figures.
//! - [`explain`]: one step of backpropagation laid out with its numbers, gradients checked
//!   against finite differences.
//! - [`mod@bench`]: side-by-side timing of the paths (`bprop bench`, `benches/`).
//!
//! ```
//! use bprop::model::{Activation, Dataset, Init, Loss, Network, NetworkSpec};
//! use bprop::cpu::CpuEngine;
//! use bprop::engine::Engine;
//! use ndarray::array;
//!
//! let spec = NetworkSpec::new(2, Loss::HalfSse).layer(3, Activation::Tanh).layer(1, Activation::Sigmoid);
//! let net = Network::<f64>::random(&spec, Init::Auto, 7).unwrap();
//! let data = Dataset::new(array![[0.0, 1.0], [1.0, 0.0]], array![[1.0], [1.0]]).unwrap();
//! let mut engine = CpuEngine::new(net, data).unwrap();
//! let losses = engine.train_steps(&[0, 1, 0, 1], 1, 0.5).unwrap();
//! assert_eq!(losses.len(), 4);
//! ```

// Every public item carries a doc (clippy's -D warnings in .ci/run makes this an error).
#![warn(missing_docs)]
// Every unsafe operation sits in an `unsafe` block of its own, with its SAFETY comment,
// also inside `unsafe fn`s (whose contract is the caller's side, not a licence).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod bench;
pub mod cpu;
pub mod data;
pub mod dist;
pub mod driver;
pub mod engine;
pub mod error;
pub mod explain;
pub mod fsutil;
pub mod gpu;
pub mod io;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod seed;

pub use error::{BpropError, Result};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
