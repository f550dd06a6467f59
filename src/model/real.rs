//! The floating-point types bprop computes in: `f32` (both paths) and `f64` (the CPU path,
//! and the GPU path on adapters with `SHADER_F64`).

use std::fmt::{Debug, Display, LowerExp};

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
    /// The type's name as the CLI spells it (`f32`, `f64`).
    const NAME: &'static str;
    /// Converts from `f64`, rounding to nearest.
    fn of(x: f64) -> Self;
    /// Widens to `f64` (exact).
    fn f64(self) -> f64;
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
}
