//! The CPU path's arithmetic contract, shared by the loops (`kernels.rs`) and the packed
//! product (`gemm.rs`) and imported by both from here (neither imports it from the other):
//! which instructions this CPU offers ([`has_fma`], [`isa`]), how a multiply-add is rounded
//! ([`MulAdd`]: [`Fma`] or [`Separate`]), and the length [`KC`] of the blocks every sum
//! is split into. Both routes compute every output of a product as the same chain of
//! multiply-adds under this contract, so a product gives the same bits whichever route
//! computes it (`kernels.rs`'s module doc).

use crate::model::Real;
use std::sync::OnceLock;

/// The length of the blocks a sum is split into, by the loops and the packed product alike
/// (matrixmultiply 0.3's `KC`, 256 for f32 and f64, which fixed the results bprop gave
/// before).
pub const KC: usize = 256;

/// Whether the products' multiply-adds are FMAs (one rounding, [`Fma`]) on this CPU, as
/// matrixmultiply's own run-time selection decides for its microkernels: on x86-64, its
/// FMA kernels need FMA and AVX2 (a CPU with AVX-512 has both); on aarch64 its NEON
/// kernels use FMA (read from its source, not tested here); elsewhere it rounds the
/// product and the sum separately ([`Separate`]). Detected once.
pub fn has_fma() -> bool {
    static HAS_FMA: OnceLock<bool> = OnceLock::new();
    *HAS_FMA.get_or_init(|| {
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
        if has_fma() {
            return if std::arch::is_x86_feature_detected!("avx512f") {
                Isa::Avx512
            } else {
                Isa::Avx2
            };
        }
        Isa::Portable
    })
}

/// How the loops round a multiply-add c + a·b: [`Fma`] or [`Separate`], chosen by [`has_fma`].
pub trait MulAdd {
    /// c + a·b.
    fn madd<T: Real>(a: T, b: T, c: T) -> T;
}

/// One rounding: `a.mul_add(b, c)`.
pub struct Fma;

/// Two roundings: `a * b + c`.
pub struct Separate;

impl MulAdd for Fma {
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
