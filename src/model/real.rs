//! The floating-point types bprop computes in: `f32` (both paths) and `f64` (the CPU path,
//! and the GPU path on adapters with `SHADER_F64`).

use std::fmt::{Debug, Display, LowerExp};

/// The two precisions bprop computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// IEEE 754 binary32 (`f32`): both paths.
    F32,
    /// IEEE 754 binary64 (`f64`): the CPU path, and the GPU path on adapters with
    /// `SHADER_F64`.
    F64,
}

impl Precision {
    /// The name as the CLI, model files and messages spell it (`f32`, `f64`).
    pub const fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes per element.
    pub const fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A floating-point scalar usable by both paths: ndarray arithmetic on the CPU, a
/// plain-old-data buffer element on the GPU.
pub trait Real:
    num_traits::Float
    + num_traits::FromPrimitive
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + bytemuck::Pod
    + Debug
    + Display
    + LowerExp
    + Default
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + 'static
{
    /// The type's name as the CLI spells it (`f32`, `f64`): `Self::PRECISION.name()`.
    const NAME: &'static str;
    /// The precision as a value, for decisions that depend on it (which WGSL prelude, which
    /// adapter feature, which tolerance); compare this, not [`Real::NAME`].
    const PRECISION: Precision;
    /// Converts from `f64`, rounding to nearest.
    fn of(x: f64) -> Self;
    /// Widens to `f64` (exact).
    fn f64(self) -> f64;
}

impl Real for f32 {
    const NAME: &'static str = Precision::F32.name();
    const PRECISION: Precision = Precision::F32;
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const NAME: &'static str = Precision::F64.name();
    const PRECISION: Precision = Precision::F64;
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
}
