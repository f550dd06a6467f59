//! The model and the CPU path: finite-difference gradients, optimizers, dropout, the seed's golden numbers, XOR, training control, and the passes against the fused routes.
//!
//! One test binary for these modules (each was a binary of its own): the crate is linked
//! once instead of once per file.

#[path = "../common/mod.rs"]
mod common;

mod dist;
mod dropout;
mod gradcheck;
mod optim;
mod passes;
mod seed;
mod training;
mod xor;
