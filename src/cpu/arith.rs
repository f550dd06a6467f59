//! The CPU path's arithmetic contract, shared by the loops (`kernels.rs`) and the packed
//! product (`gemm.rs`) and imported by both from here (neither imports it from the other):
//! which instructions this CPU offers ([`fused`], [`isa`]), how a multiply-add is rounded
//! ([`MulAdd`]: [`Fused`] or [`Separate`]), and the length [`KC`] of the blocks every sum
//! is split into. Both routes compute every output of a product as the same chain of
//! multiply-adds under this contract, so a product gives the same bits whichever route
//! computes it (`kernels.rs`'s module doc).

use crate::model::Real;
use std::sync::OnceLock;

/// The length of the blocks a sum is split into, by the loops and the packed product alike
/// (matrixmultiply 0.3's `KC`, 256 for f32 and f64, which fixed the results bprop gave
/// before).
pub const KC: usize = 256;

/// Whether matrixmultiply's microkernels fuse multiply-adds on this CPU, as its own
/// run-time selection decides: on x86-64, its FMA kernels need FMA and AVX2 (a CPU with
/// AVX-512 has both); on aarch64 its NEON kernels fuse (read from its source, not tested
/// here); elsewhere it rounds the product and the sum separately. Detected once.
pub fn fused() -> bool {
    static FUSED: OnceLock<bool> = OnceLock::new();
    *FUSED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
        }
        #[cfg(target_arch = "aarch64")]
        {
            true
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            false
        }
    })
}

/// The instruction sets the microkernel is compiled for, chosen once at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F with FMA: 512-bit vectors.
    Avx512,
    /// AVX2 with FMA: 256-bit vectors.
    Avx2,
    /// Neither: matrixmultiply computes the product.
    Portable,
}

/// The microkernel this CPU runs.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if fused() {
            return if std::arch::is_x86_feature_detected!("avx512f") {
                Isa::Avx512
            } else {
                Isa::Avx2
            };
        }
        Isa::Portable
    })
}

/// How the loops round a multiply-add c + a·b: [`Fused`] or [`Separate`], chosen by [`fused`].
pub trait MulAdd {
    /// c + a·b.
    fn madd<T: Real>(a: T, b: T, c: T) -> T;
}

/// One rounding: `a.mul_add(b, c)`.
pub struct Fused;

/// Two roundings: `a * b + c`.
pub struct Separate;

impl MulAdd for Fused {
    #[inline(always)]
    fn madd<T: Real>(a: T, b: T, c: T) -> T {
        a.mul_add(b, c)
    }
}

impl MulAdd for Separate {
    #[inline(always)]
    fn madd<T: Real>(a: T, b: T, c: T) -> T {
        a * b + c
    }
}
