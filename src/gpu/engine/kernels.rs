//! The engine's compiled passes: the plain kernels, the product variants of their tiled
//! twins (sharing their bind group layouts, so one bind group serves all), compiled on
//! first use, and layer 0's variants reading a byte-coded dataset. Every pipeline comes
//! from one [`ShaderKey`].

use crate::error::{BpropError, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::shaders::{self, Input, Kernel, Pass, Product, ShaderKey, Tile};
use crate::model::Real;
use std::collections::HashMap;

/// The three matrix products of a step in one product variant ([`Product`]).
pub(super) struct ProductKernels {
    /// Z = A Wᵀ (`forward_tiled.wgsl`).
    pub(super) forward: Kernel,
    /// Δ_l = Δ_{l+1} W_{l+1} (`hidden_delta_tiled.wgsl`).
    pub(super) hidden_delta: Kernel,
    /// ∂E/∂W = Δᵀ A / B (`gradient_tiled.wgsl`).
    pub(super) gradient: Kernel,
    /// Layer 0's forward and gradient products reading a byte-coded dataset, when the
    /// engine has one (a layer-0 input never needs a delta).
    pub(super) bytes: Option<(Kernel, Kernel)>,
}

/// The three product passes of a step, as indices into a layer's choice
/// ([`super::GpuEngine`]'s `products`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductPass {
    /// Zᵀ = W Aᵀ (Z = A Wᵀ computed transposed): M = fan_out, N = batch, K = fan_in.
    Forward = 0,
    /// Δ_l = Δ_{l+1} W_{l+1}: M = batch, N = fan_out of l, K = fan_out of l + 1.
    HiddenDelta = 1,
    /// ∂E/∂W = Δᵀ A / B: M = fan_out, N = fan_in, K = batch.
    Gradient = 2,
}

impl ProductPass {
    /// The three, in a step's order.
    pub const ALL: [ProductPass; 3] = [ProductPass::Forward, ProductPass::HiddenDelta, ProductPass::Gradient];

    /// The pass's shader.
    pub fn pass(self) -> Pass {
        match self {
            ProductPass::Forward => Pass::ForwardTiled,
            ProductPass::HiddenDelta => Pass::HiddenDeltaTiled,
            ProductPass::Gradient => Pass::GradientTiled,
        }
    }
}

/// Layer 0's plain forward and gradient passes reading a byte-coded dataset
/// ([`Input::Bytes`]); the product variants hold their own.
pub(super) struct ByteKernels {
    /// `forward.wgsl` reading bytes.
    pub(super) forward: Kernel,
    /// `gradient.wgsl` reading bytes.
    pub(super) gradient: Kernel,
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
    /// The product variants compiled so far (same bind group layouts as the plain twins),
    /// each built on first use.
    pub(super) products: HashMap<Product, ProductKernels>,
    /// The output block [`GpuEngine::set_tile`](super::GpuEngine::set_tile) last chose.
    pub(super) tile: Tile,
    /// For a byte-coded dataset (`Dataset::byte_inputs`): layer 0's passes reading bytes.
    pub(super) bytes: Option<ByteKernels>,
}

impl Kernels {
    /// Builds every plain pass in precision `T`, with `bytes` layer 0's byte-reading
    /// variants, and the workgroup product at `tile` where the device allows it.
    pub(super) fn build<T: Real>(ctx: &GpuContext, bytes: bool, tile: Tile) -> Result<Kernels> {
        let dev = &ctx.device;
        let build = |pass| shaders::build(dev, ShaderKey::new(pass, T::PRECISION), None);
        let forward = build(Pass::Forward)?;
        let gradient = build(Pass::Gradient)?;
        let mut kernels = Kernels {
            bytes: None,
            products: HashMap::new(),
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
            });
        }
        if product_fits::<T>(ctx, Product::Workgroup(tile)) {
            kernels.ensure_product::<T>(ctx, Product::Workgroup(tile))?;
        }
        Ok(kernels)
    }

    /// Compiles `product`'s three passes (and their byte-reading variants, where the plain
    /// ones exist) unless they are already there.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when the device cannot run the variant or compiling fails.
    pub(super) fn ensure_product<T: Real>(&mut self, ctx: &GpuContext, product: Product) -> Result<()> {
        if self.products.contains_key(&product) {
            return Ok(());
        }
        if !product_fits::<T>(ctx, product) {
            return Err(Kernels::product_unavailable::<T>(ctx, product));
        }
        if product.fallback() != product {
            // It runs the shapes it does not fit with its fallback.
            self.ensure_product::<T>(ctx, product.fallback())?;
        }
        let twin = |pass, of: &Kernel, input| {
            let key = ShaderKey::new(pass, T::PRECISION)
                .with_input(input)
                .with_product(product);
            shaders::build(&ctx.device, key, Some(&of.layout))
        };
        let bytes = match &self.bytes {
            Some(_) => Some((
                twin(Pass::ForwardTiled, &self.forward, Input::Bytes)?,
                twin(Pass::GradientTiled, &self.gradient, Input::Bytes)?,
            )),
            None => None,
        };
        let kernels = ProductKernels {
            forward: twin(Pass::ForwardTiled, &self.forward, Input::Real)?,
            hidden_delta: twin(Pass::HiddenDeltaTiled, &self.hidden_delta, Input::Real)?,
            gradient: twin(Pass::GradientTiled, &self.gradient, Input::Real)?,
            bytes,
        };
        ctx.check()?;
        self.products.insert(product, kernels);
        Ok(())
    }

    /// The error for a device that cannot run `product` in precision `T`.
    pub(super) fn product_unavailable<T: Real>(ctx: &GpuContext, product: Product) -> BpropError {
        let need = match product {
            Product::Subgroup(_) | Product::Vec4(_) => format!(
                "SUBGROUP and subgroups of exactly {} invocations (it has {}–{}{})",
                shaders::SUBGROUP_LANES,
                ctx.adapter.get_info().subgroup_min_size,
                ctx.adapter.get_info().subgroup_max_size,
                if ctx.device.features().contains(wgpu::Features::SUBGROUP) {
                    ""
                } else {
                    ", without SUBGROUP"
                }
            ),
            _ => format!(
                "{} invocations per workgroup and {} bytes of workgroup memory (it allows {} and {})",
                product.invocations(),
                product.workgroup_bytes(T::PRECISION),
                ctx.limits.max_compute_invocations_per_workgroup,
                ctx.limits.max_compute_workgroup_storage_size
            ),
        };
        BpropError::Gpu(format!(
            "{} cannot run the {product} product kernels: they need {need}",
            ctx.summary.name
        ))
    }
}

/// Whether the device can run `product` in precision `T`: its workgroup shape and memory,
/// and for [`Product::Subgroup`] the `SUBGROUP` feature with subgroups of exactly its size.
pub(super) fn product_fits<T: Real>(ctx: &GpuContext, product: Product) -> bool {
    let lim = &ctx.limits;
    let (x, y) = product.workgroup();
    let shape = lim.max_compute_invocations_per_workgroup >= product.invocations()
        && lim.max_compute_workgroup_size_x >= x
        && lim.max_compute_workgroup_size_y >= y
        && lim.max_compute_workgroup_storage_size >= product.workgroup_bytes(T::PRECISION);
    match product {
        Product::Subgroup(_) | Product::Vec4(_) => {
            let info = ctx.adapter.get_info();
            shape
                && ctx.device.features().contains(wgpu::Features::SUBGROUP)
                && info.subgroup_min_size == shaders::SUBGROUP_LANES
                && info.subgroup_max_size == shaders::SUBGROUP_LANES
        }
        _ => shape,
    }
}
