//! The engine's compiled passes: the plain kernels, their tiled twins (sharing their bind
//! group layouts, so one bind group serves both), and layer 0's variants reading a
//! byte-coded dataset. Every pipeline comes from one [`ShaderKey`].

use crate::error::{BpropError, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::shaders::{self, Input, Kernel, Pass, ShaderKey, Tile};
use crate::model::Real;

/// The three matrix products of a step as tiled kernels.
pub(super) struct TiledKernels {
    /// Z = A Wᵀ (`forward_tiled.wgsl`).
    pub(super) forward: Kernel,
    /// Δ_l = Δ_{l+1} W_{l+1} (`hidden_delta_tiled.wgsl`).
    pub(super) hidden_delta: Kernel,
    /// ∂E/∂W = Δᵀ A / B (`gradient_tiled.wgsl`).
    pub(super) gradient: Kernel,
}

/// Layer 0's forward and gradient passes reading a byte-coded dataset
/// ([`Input::Bytes`]), plain and, where the tiled kernels exist, tiled.
pub(super) struct ByteKernels {
    /// `forward.wgsl` reading bytes.
    pub(super) forward: Kernel,
    /// `gradient.wgsl` reading bytes.
    pub(super) gradient: Kernel,
    /// `forward_tiled.wgsl` and `gradient_tiled.wgsl` reading bytes (`hidden_delta` is
    /// unused: a layer-0 input never needs a delta).
    pub(super) tiled: Option<(Kernel, Kernel)>,
}

/// Every compiled pass of the separate-pass route (the fused kernel is built per batch
/// size, `fused.rs`).
pub(super) struct Kernels {
    pub(super) forward: Kernel,
    pub(super) softmax: Kernel,
    pub(super) output_delta: Kernel,
    pub(super) hidden_delta: Kernel,
    pub(super) gradient: Kernel,
    pub(super) update: Kernel,
    pub(super) max_norm: Kernel,
    pub(super) advance: Kernel,
    /// The tiled twins of forward, hidden_delta and gradient (same bind group layouts),
    /// when the device's limits allow 16 × 16 workgroups and their workgroup memory.
    pub(super) tiled: Option<TiledKernels>,
    /// The output block the tiled kernels were built for.
    pub(super) tile: Tile,
    /// For a byte-coded dataset (`Dataset::byte_inputs`): layer 0's passes reading bytes.
    pub(super) bytes: Option<ByteKernels>,
}

impl Kernels {
    /// Builds every pass in precision `T`, the tiled ones for `tile` where the device
    /// allows them, and with `bytes` layer 0's byte-reading variants.
    pub(super) fn build<T: Real>(ctx: &GpuContext, bytes: bool, tile: Tile) -> Result<Kernels> {
        let dev = &ctx.device;
        let build = |pass| shaders::build(dev, ShaderKey::new(pass, T::PRECISION), None);
        let forward = build(Pass::Forward)?;
        let gradient = build(Pass::Gradient)?;
        let mut kernels = Kernels {
            bytes: None,
            tiled: None,
            tile,
            softmax: build(Pass::Softmax)?,
            output_delta: build(Pass::OutputDelta)?,
            hidden_delta: build(Pass::HiddenDelta)?,
            update: build(Pass::Update)?,
            max_norm: build(Pass::MaxNorm)?,
            advance: build(Pass::Advance)?,
            forward,
            gradient,
        };
        if bytes {
            let variant = |pass, of: &Kernel| {
                let key = ShaderKey::new(pass, T::PRECISION).with_input(Input::Bytes);
                shaders::build(dev, key, Some(&of.layout))
            };
            kernels.bytes = Some(ByteKernels {
                forward: variant(Pass::Forward, &kernels.forward)?,
                gradient: variant(Pass::Gradient, &kernels.gradient)?,
                tiled: None,
            });
        }
        if tiled_fits::<T>(ctx, tile) {
            kernels.set_tiled::<T>(ctx, tile)?;
        }
        Ok(kernels)
    }

    /// Builds the tiled twins (and their byte-reading variants, where the plain ones exist)
    /// for `tile` and puts them in place; on an error the previous ones stay.
    pub(super) fn set_tiled<T: Real>(&mut self, ctx: &GpuContext, tile: Tile) -> Result<()> {
        let twin = |pass, of: &Kernel, input| {
            let key = ShaderKey::new(pass, T::PRECISION).with_input(input).with_tile(tile);
            shaders::build(&ctx.device, key, Some(&of.layout))
        };
        let tiled = TiledKernels {
            forward: twin(Pass::ForwardTiled, &self.forward, Input::Real)?,
            hidden_delta: twin(Pass::HiddenDeltaTiled, &self.hidden_delta, Input::Real)?,
            gradient: twin(Pass::GradientTiled, &self.gradient, Input::Real)?,
        };
        let bytes = match &self.bytes {
            Some(_) => Some((
                twin(Pass::ForwardTiled, &self.forward, Input::Bytes)?,
                twin(Pass::GradientTiled, &self.gradient, Input::Bytes)?,
            )),
            None => None,
        };
        ctx.check()?;
        self.tiled = Some(tiled);
        if let Some(b) = &mut self.bytes {
            b.tiled = bytes;
        }
        self.tile = tile;
        Ok(())
    }

    /// The error for a device that cannot run `tile`'s tiled kernels in precision `T`.
    pub(super) fn tiled_unavailable<T: Real>(ctx: &GpuContext, tile: Tile) -> BpropError {
        BpropError::Gpu(format!(
            "{} cannot run {tile} tiles (they need 16 × 16 workgroups and {} bytes of workgroup memory, it allows {})",
            ctx.summary.name,
            shaders::tiled_workgroup_bytes(T::PRECISION, tile),
            ctx.limits.max_compute_workgroup_storage_size
        ))
    }
}

/// Whether the device's limits allow the tiled kernels with `tile`: 16 × 16 workgroups
/// and the tile's workgroup memory.
pub(super) fn tiled_fits<T: Real>(ctx: &GpuContext, tile: Tile) -> bool {
    let lim = &ctx.limits;
    lim.max_compute_invocations_per_workgroup >= 256
        && lim.max_compute_workgroup_size_x >= 16
        && lim.max_compute_workgroup_size_y >= 16
        && lim.max_compute_workgroup_storage_size >= shaders::tiled_workgroup_bytes(T::PRECISION, tile)
}
