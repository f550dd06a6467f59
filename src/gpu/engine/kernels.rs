//! The engine's compiled passes: the plain kernels, the product variants of their tiled
//! twins (sharing their bind group layouts, so one bind group serves all), compiled on
//! first use, layer 0's variants reading a byte-coded dataset, and the reductions' variant
//! ([`Reduce`]: subgroup reductions where the device has `SUBGROUP`, serial loops
//! otherwise or when [`REDUCE_ENV`] or `GpuEngine::set_reduce` ask for them). Every
//! pipeline comes from one [`ShaderKey`].

use crate::error::{BpropError, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::shaders::{self, Input, Kernel, Pass, Product, Reduce, ShaderKey, Tile};
use crate::model::Real;
use std::collections::HashMap;

/// The three matrix products of a step in one product variant ([`Product`]), each
/// compiled when first asked for ([`Kernels::ensure_pass`]): inference needs only the
/// forward product, and the tuner times one product of each candidate (on lavapipe a
/// written-out product kernel takes about a second to compile).
#[derive(Default)]
pub(super) struct ProductKernels {
    /// Per [`ProductPass`] (forward: Z = A Wᵀ, `forward_tiled.wgsl`; hidden delta:
    /// Δ_l = Δ_{l+1} W_{l+1}, `hidden_delta_tiled.wgsl`; gradient: ∂E/∂W = Δᵀ A / B,
    /// `gradient_tiled.wgsl`), reading real-valued inputs.
    real: [Option<Kernel>; 3],
    /// The same reading a byte-coded dataset, for layer 0's forward and gradient products
    /// when the engine has one (a layer-0 input never needs a delta).
    bytes: [Option<Kernel>; 3],
}

impl ProductKernels {
    /// The compiled kernel of `pass` (`bytes`: layer 0 reading a byte-coded dataset).
    pub(super) fn get(&self, pass: ProductPass, bytes: bool) -> Option<&Kernel> {
        let slot = if bytes && pass != ProductPass::HiddenDelta {
            &self.bytes
        } else {
            &self.real
        };
        slot[pass as usize].as_ref()
    }
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

/// The environment variable that chooses the reductions' variant ([`Reduce`]) of engines
/// built afterwards: `serial` forces the fallback, `subgroup` asks for the subgroup
/// variant (an error where the device cannot run it), `auto` or unset takes it where the
/// device can. Both give the same bits; the variable is for tests and measurements.
pub const REDUCE_ENV: &str = "BPROP_REDUCE";

/// The reductions' variant [`REDUCE_ENV`] asks for on `ctx`'s device.
///
/// # Errors
/// [`BpropError::UnknownName`] for a value other than `auto`, `serial`, `subgroup`;
/// [`BpropError::Gpu`] for `subgroup` on a device that cannot run it.
pub(super) fn reduce_from_env(ctx: &GpuContext) -> Result<Reduce> {
    let value = std::env::var(REDUCE_ENV).unwrap_or_default();
    let value = value.trim();
    if value.is_empty() || value == "auto" {
        return Ok(if reduce_fits(ctx) {
            Reduce::Subgroup
        } else {
            Reduce::Serial
        });
    }
    let reduce: Reduce = value.parse().map_err(|_| BpropError::UnknownName {
        kind: REDUCE_ENV,
        name: value.to_string(),
        expected: "auto, serial, subgroup",
    })?;
    check_reduce(ctx, reduce)?;
    Ok(reduce)
}

/// Whether the device can run the subgroup reductions: `SUBGROUP`, subgroup sizes that
/// are powers of two (so the reductions' workgroup, [`shaders::reduce_workgroup`], is a
/// multiple of every size the device may pick), and that workgroup within its limits.
pub(super) fn reduce_fits(ctx: &GpuContext) -> bool {
    let info = ctx.adapter.get_info();
    let (min, max) = (info.subgroup_min_size, info.subgroup_max_size);
    let (wg, _) = shaders::reduce_workgroup(max);
    ctx.device.features().contains(wgpu::Features::SUBGROUP)
        && min >= 1
        && min <= max
        && min.is_power_of_two()
        && max.is_power_of_two()
        && ctx.limits.max_compute_invocations_per_workgroup >= wg
        && ctx.limits.max_compute_workgroup_size_x >= wg
}

/// `Ok` where the device can run `reduce`.
pub(super) fn check_reduce(ctx: &GpuContext, reduce: Reduce) -> Result<()> {
    if reduce == Reduce::Subgroup && !reduce_fits(ctx) {
        let info = ctx.adapter.get_info();
        return Err(BpropError::Gpu(format!(
            "{} cannot run the subgroup reductions: they need SUBGROUP and subgroup sizes that are powers of two (it has {}–{}{})",
            ctx.summary.name,
            info.subgroup_min_size,
            info.subgroup_max_size,
            if ctx.device.features().contains(wgpu::Features::SUBGROUP) {
                ""
            } else {
                ", without SUBGROUP"
            }
        )));
    }
    Ok(())
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
    /// `update4.wgsl` over `update`'s layout, for layers with fan_in % 4 = 0.
    pub(super) update_wide: Kernel,
    pub(super) max_norm: Kernel,
    pub(super) advance: Kernel,
    /// The reductions' variant of `softmax`, `output_delta` and the tiled gradients.
    pub(super) reduce: Reduce,
    /// The largest subgroup size of the device (the subgroup reductions' workgroup).
    lanes: u32,
    /// `bias_gradient.wgsl`'s bind group layout (its bind groups exist whichever variant).
    pub(super) bias_layout: wgpu::BindGroupLayout,
    /// `bias_gradient.wgsl`, after each tiled gradient, with [`Reduce::Subgroup`].
    pub(super) bias: Option<Kernel>,
    /// The product variants compiled so far (same bind group layouts as the plain twins),
    /// each built on first use.
    pub(super) products: HashMap<Product, ProductKernels>,
    /// The output block [`GpuEngine::set_tile`](super::GpuEngine::set_tile) last chose.
    pub(super) tile: Tile,
    /// For a byte-coded dataset (`Dataset::byte_inputs`): layer 0's passes reading bytes.
    pub(super) bytes: Option<ByteKernels>,
}

impl Kernels {
    /// Builds every plain pass in precision `T` with the reductions `reduce` (checked by
    /// the caller: [`check_reduce`]), with `bytes` layer 0's byte-reading variants, and the
    /// workgroup product at `tile` where the device allows it.
    pub(super) fn build<T: Real>(ctx: &GpuContext, bytes: bool, tile: Tile, reduce: Reduce) -> Result<Kernels> {
        let dev = &ctx.device;
        let lanes = ctx.adapter.get_info().subgroup_max_size;
        let build = |pass| shaders::build(dev, ShaderKey::new(pass, T::PRECISION), None);
        let reduction = |pass| {
            let key = ShaderKey::new(pass, T::PRECISION).with_reduce(reduce);
            shaders::build_reduction(dev, key, None, lanes)
        };
        let bias_layout = shaders::bind_group_layout(dev, Pass::BiasGradient.file(), Pass::BiasGradient.bindings());
        let bias = match reduce {
            Reduce::Serial => None,
            Reduce::Subgroup => Some(shaders::build_reduction(
                dev,
                ShaderKey::new(Pass::BiasGradient, T::PRECISION),
                Some(&bias_layout),
                lanes,
            )?),
        };
        let forward = build(Pass::Forward)?;
        let gradient = build(Pass::Gradient)?;
        let update = build(Pass::Update)?;
        let update_wide = shaders::build(
            dev,
            ShaderKey::new(Pass::UpdateWide, T::PRECISION),
            Some(&update.layout),
        )?;
        let mut kernels = Kernels {
            bytes: None,
            products: HashMap::new(),
            tile,
            reduce,
            lanes,
            bias_layout,
            bias,
            softmax: reduction(Pass::Softmax)?,
            output_delta: reduction(Pass::OutputDelta)?,
            hidden_delta: build(Pass::HiddenDelta)?,
            update,
            update_wide,
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
    /// ones exist), and its fallback's, unless they are already there.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when the device cannot run the variant or compiling fails.
    pub(super) fn ensure_product<T: Real>(&mut self, ctx: &GpuContext, product: Product) -> Result<()> {
        for pass in ProductPass::ALL {
            self.ensure_pass::<T>(ctx, product, pass, true)?;
            if product.fallback() != product {
                // It runs the shapes it does not fit with its fallback.
                self.ensure_pass::<T>(ctx, product.fallback(), pass, true)?;
            }
        }
        Ok(())
    }

    /// Compiles `product`'s kernel of `pass` unless it is already there, and with `bytes`
    /// its byte-reading variant too (layer 0's, where the engine has a byte-coded dataset;
    /// the other layers read real activations, so their products need only the first).
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when the device cannot run the variant or compiling fails.
    pub(super) fn ensure_pass<T: Real>(
        &mut self,
        ctx: &GpuContext,
        product: Product,
        pass: ProductPass,
        bytes: bool,
    ) -> Result<()> {
        let bytes = bytes && self.bytes.is_some() && pass != ProductPass::HiddenDelta;
        let have = self.products.get(&product);
        let need_real = have.is_none_or(|k| k.real[pass as usize].is_none());
        let need_bytes = bytes && have.is_none_or(|k| k.bytes[pass as usize].is_none());
        if !need_real && !need_bytes {
            return Ok(());
        }
        if !product_fits::<T>(ctx, product) {
            return Err(Kernels::product_unavailable::<T>(ctx, product));
        }
        let build = |input| self.build_pass::<T>(ctx, product, pass, input, self.reduce);
        let real = need_real.then(|| build(Input::Real)).transpose()?;
        let byte_kernel = need_bytes.then(|| build(Input::Bytes)).transpose()?;
        ctx.check()?;
        let entry = self.products.entry(product).or_default();
        if real.is_some() {
            entry.real[pass as usize] = real;
        }
        if byte_kernel.is_some() {
            entry.bytes[pass as usize] = byte_kernel;
        }
        Ok(())
    }

    /// Compiles `product`'s kernel of `pass` reading `input`, with the reductions `reduce`
    /// (the tiled gradient's bias sum), over its plain twin's bind group layout.
    fn build_pass<T: Real>(
        &self,
        ctx: &GpuContext,
        product: Product,
        pass: ProductPass,
        input: Input,
        reduce: Reduce,
    ) -> Result<Kernel> {
        let twin = match pass {
            ProductPass::Forward => &self.forward,
            ProductPass::HiddenDelta => &self.hidden_delta,
            ProductPass::Gradient => &self.gradient,
        };
        let key = ShaderKey::new(pass.pass(), T::PRECISION)
            .with_input(input)
            .with_product(product)
            .with_reduce(reduce);
        shaders::build(&ctx.device, key, Some(&twin.layout))
    }

    /// Switches the reductions to `reduce` (checked by the caller: [`check_reduce`]):
    /// rebuilds the softmax and output passes over their layouts (so the bind groups stay
    /// valid), the bias pass, and every product variant compiled so far (the tiled
    /// gradient's bias sum is in or out of it).
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when compiling fails; the previous kernels stay.
    pub(super) fn set_reduce<T: Real>(&mut self, ctx: &GpuContext, reduce: Reduce) -> Result<()> {
        if reduce == self.reduce {
            return Ok(());
        }
        let dev = &ctx.device;
        let reduction = |pass, of: &Kernel| {
            let key = ShaderKey::new(pass, T::PRECISION).with_reduce(reduce);
            shaders::build_reduction(dev, key, Some(&of.layout), self.lanes)
        };
        let softmax = reduction(Pass::Softmax, &self.softmax)?;
        let output_delta = reduction(Pass::OutputDelta, &self.output_delta)?;
        let bias = match reduce {
            Reduce::Serial => None,
            Reduce::Subgroup => Some(shaders::build_reduction(
                dev,
                ShaderKey::new(Pass::BiasGradient, T::PRECISION),
                Some(&self.bias_layout),
                self.lanes,
            )?),
        };
        let mut products: HashMap<Product, ProductKernels> = HashMap::new();
        for (&product, compiled) in &self.products {
            let rebuilt = products.entry(product).or_default();
            for pass in ProductPass::ALL {
                let i = pass as usize;
                if compiled.real[i].is_some() {
                    rebuilt.real[i] = Some(self.build_pass::<T>(ctx, product, pass, Input::Real, reduce)?);
                }
                if compiled.bytes[i].is_some() {
                    rebuilt.bytes[i] = Some(self.build_pass::<T>(ctx, product, pass, Input::Bytes, reduce)?);
                }
            }
        }
        ctx.check()?;
        (self.softmax, self.output_delta, self.bias, self.reduce) = (softmax, output_delta, bias, reduce);
        self.products = products;
        Ok(())
    }

    /// Workgroups for a reduction pass over `items` rows (batch rows, or neurons for the
    /// bias pass): one row per invocation with [`Reduce::Serial`], PER_WG rows per
    /// workgroup with [`Reduce::Subgroup`] ([`shaders::reduce_workgroup`]).
    pub(super) fn reduce_groups(&self, items: usize) -> u32 {
        let per = match self.reduce {
            Reduce::Serial => shaders::WORKGROUP,
            Reduce::Subgroup => shaders::reduce_workgroup(self.lanes).1,
        };
        (items as u32).div_ceil(per)
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
