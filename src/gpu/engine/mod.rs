//! The GPU path as an [`Engine`]: parameters, activations, deltas, gradients and the
//! dataset live in device buffers created once; a call to `train_steps` records every
//! pass of many steps into one compute pass per submission, and reads back only the
//! per-sample losses at its end.
//!
//! The rooms: [`GpuEngine`] and its [`Engine`] implementation here; `kernels` (the compiled
//! passes), `buffers` (per-layer buffers and parameter blocks), `bindings` (bind groups),
//! `record` (a step's dispatches and a submission), `readback` (mapping staging buffers),
//! `autotune` (choosing each product's kernel variant by timing them, cached on disk),
//! `fused` (the whole-step kernel of small networks), `infer` (the forward-only route of
//! inference) and `timing` (timestamp queries).

mod autotune;
mod bindings;
mod buffers;
mod fused;
mod infer;
mod kernels;
mod readback;
mod record;
mod timing;

pub use autotune::{ProductChoice, ProductTiming, ShapeKey, TuneCache, KERNEL_ENV};
pub use fused::{FUSED_LOOP_BUDGET, FUSED_MAX_WORK};
pub use infer::{GpuInference, INFER_ROWS};
pub use kernels::{ProductPass, REDUCE_ENV};

use crate::engine::{check_order, check_shard, check_trace, BackendInfo, BackendKind, Engine, LayerTrace, StepTrace};
use crate::error::{BpropError, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::contract::{self, LayerParams, Scalars, StepValues, SubmissionState};
use crate::gpu::shaders::{self, Product, Reduce, Tile};
use crate::model::{ByteInputs, Dataset, Dropout, Hyper, Network, OptimState, Optimizer, Precision, Real};
use bindings::{make_bindings, Bindings};
use buffers::{GpuLayer, ParamsKey, Shared};
use fused::Fused;
use kernels::{check_reduce, product_fits, reduce_fits, Kernels};
use ndarray::{Array1, Array2};
use record::Work;
use std::sync::Arc;
use timing::{read_timestamps, Timing};
use wgpu::util::DeviceExt;

/// Steps recorded per submission. Bounds the command buffer's size (each step is about
/// 4 dispatches per layer) while keeping submissions, and their ≥ 1 ms of overhead, rare.
pub const STEPS_PER_SUBMISSION: usize = 1024;

/// A readback request: buffer, first element, element count.
type Read<'a> = (&'a wgpu::Buffer, usize, usize);

/// Which kernels run a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KernelChoice {
    /// For training, the fused kernel where the network and batch fit it
    /// ([`GpuEngine::fused_plan`]); otherwise separate passes, tiled from
    /// [`TILED_MIN_BATCH`] samples per step on, plain below.
    #[default]
    Auto,
    /// Always the separate plain (one invocation per output, matrix-vector) kernels.
    Plain,
    /// Always the separate tiled kernels (an error where the device cannot run them).
    Tiled,
    /// The fused kernel for every training step (`shaders/fused.wgsl`: all passes of many
    /// steps in one dispatch); a training call whose network, batch or settings it cannot
    /// take is an error. Traces use the plain kernels.
    Fused,
}

/// The batch size from which [`KernelChoice::Auto`] uses the tiled kernels: below it a
/// 64-row tile would be mostly empty, and the plain kernels (one invocation per output)
/// waste nothing.
pub const TILED_MIN_BATCH: usize = 16;

/// The GPU path: training on one device, in precision `T` (f64 needs `SHADER_F64`).
pub struct GpuEngine<T: Real> {
    ctx: Arc<GpuContext>,
    info: BackendInfo,
    /// The architecture, and the parameters as last written or read.
    net: Network<T>,
    n_samples: usize,
    kernels: Kernels,
    layers: Vec<GpuLayer>,
    /// The buffers every layer's passes share (dataset, constants, counters, losses).
    shared: Shared,
    /// Batch size the activation buffers are sized for.
    capacity: usize,
    /// Batch size and optimizer code the parameter blocks currently say.
    params_key: ParamsKey,
    /// The dropout seed of the current run (written into `state` with each submission).
    dropout_seed: u64,
    /// The optimizer whose state the `opt` buffers hold, and the steps it has taken.
    opt: Option<(Optimizer, u64)>,
    /// The row of a larger batch this engine's batch row 0 is, for the dropout masks
    /// (`SubmissionState::first_row`): a shard's first row while `shard_gradient` runs,
    /// else 0.
    first_row: u32,
    /// Whether the last `train_with` asked for max-norm.
    max_norm: bool,
    /// Whether layers with fan_in % 4 = 0 update through `update4.wgsl` (the default).
    wide_update: bool,
    /// Plain or tiled kernels.
    kernel_choice: KernelChoice,
    /// Per layer, the product variant of its forward, hidden-delta and gradient products
    /// ([`ProductPass`] order).
    products: Vec<[Product; 3]>,
    /// Fixed product variants, or timed on first use per shape ([`ProductChoice`]).
    product_choice: ProductChoice,
    /// The tuner's cache of choices (memory and disk), once tuning is on.
    tune_cache: Option<TuneCache>,
    /// The dataset's byte-coded inputs, when `x` holds them as packed bytes.
    byte_inputs: Option<Arc<ByteInputs>>,
    /// The fused kernel, once a training call has used it (rebuilt when the batch changes).
    fused: Option<Fused>,
    /// Device timing of training submissions, when turned on.
    timing: Option<Timing>,
    bindings: Bindings,
    staging: Option<wgpu::Buffer>,
    /// The output rows of an inference submission ([`GpuEngine::infer`]), grown as needed.
    outputs: Option<wgpu::Buffer>,
    /// Bind groups over the inference buffers of [`GpuEngine::infer_rows`] (rows and
    /// targets in place of the dataset), while it runs.
    infer_bindings: Option<Bindings>,
}

/// Bytes of `n` elements of `T`, at least one element (wgpu refuses empty buffers).
fn bytes_of<T>(n: usize) -> u64 {
    (n.max(1) * std::mem::size_of::<T>()) as u64
}

impl<T: Real> GpuEngine<T> {
    /// Uploads `net` and `data` to `ctx`'s device and builds the pipelines, with the
    /// subgroup reductions where the device can run them unless [`REDUCE_ENV`] says
    /// otherwise ([`GpuEngine::set_reduce`]).
    ///
    /// # Errors
    /// The errors of [`Dataset::check_fits`]; [`BpropError::Gpu`] when a buffer exceeds the
    /// adapter's limits, a shader fails to build, `f64` is asked of a device without
    /// `SHADER_F64`, or [`REDUCE_ENV`] asks for subgroup reductions the device cannot run;
    /// [`BpropError::UnknownName`] for another value of [`REDUCE_ENV`].
    pub fn new(ctx: Arc<GpuContext>, net: Network<T>, data: &Dataset<T>) -> Result<Self> {
        data.check_fits(&net)?;
        if T::PRECISION == Precision::F64 && !ctx.device.features().contains(wgpu::Features::SHADER_F64) {
            return Err(BpropError::Gpu(format!(
                "{} was opened without SHADER_F64; f64 is not available",
                ctx.summary.name
            )));
        }
        let have = ctx.limits.max_storage_buffers_per_shader_stage;
        if have < shaders::max_storage_bindings() {
            return Err(BpropError::Gpu(format!(
                "{} allows {have} storage buffers per shader stage; the GPU path binds up to {}",
                ctx.summary.name,
                shaders::max_storage_bindings()
            )));
        }
        let dev = &ctx.device;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let upload = |label: &str, values: &[T]| buffers::upload(&ctx, label, values, storage);
        // A byte-coded dataset (MNIST) is stored as its bytes, a quarter of f32's size, and
        // converted by layer 0's passes while they read (shaders::Input::Bytes).
        let byte_inputs = data.byte_inputs().cloned();
        let x = match &byte_inputs {
            Some(b) => {
                let mut bytes = b
                    .bytes
                    .as_standard_layout()
                    .as_slice()
                    .expect("standard layout")
                    .to_vec();
                bytes.resize(bytes.len().div_ceil(4).max(1) * 4, 0);
                ctx.check_storage_size("dataset inputs (bytes)", bytes.len() as u64)?;
                dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("dataset inputs (bytes)"),
                    contents: &bytes,
                    usage: storage,
                })
            }
            None => upload("dataset inputs", data.inputs().as_slice().expect("standard layout"))?,
        };
        let y = upload("dataset targets", data.targets().as_slice().expect("standard layout"))?;
        let scalars = Scalars {
            byte_divisor: T::of(byte_inputs.as_ref().map_or(1.0, |b| b.divisor)),
            ..Scalars::default()
        };
        let slopes: Vec<T> = net.layers().iter().map(|l| T::of(l.activation.slope())).collect();
        let scal = upload("scalars", &scalars.to_buffer(&slopes))?;
        let state = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("state"),
            size: std::mem::size_of::<SubmissionState>() as u64,
            usage: storage,
            mapped_at_creation: false,
        });

        let reduce = kernels::reduce_from_env(&ctx)?;
        let kernels = Kernels::build::<T>(&ctx, byte_inputs.is_some(), Tile::default(), reduce)?;

        let max_groups = ctx.limits.max_compute_workgroups_per_dimension as usize;
        let mut layers = Vec::new();
        for (l, layer) in net.layers().iter().enumerate() {
            if layer.fan_out() > max_groups {
                return Err(BpropError::Gpu(format!(
                    "layer {l} has {} neurons, over {}'s {max_groups} workgroups per dimension",
                    layer.fan_out(),
                    ctx.summary.name
                )));
            }
            let empty = vec![T::zero(); 1];
            let bias = layer.bias.as_ref().map(|b| b.to_vec()).unwrap_or_else(|| empty.clone());
            layers.push(GpuLayer {
                params: dev.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("layer params"),
                    size: std::mem::size_of::<LayerParams>() as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                w: upload(
                    &format!("layer {l} weights"),
                    layer.weights.as_standard_layout().as_slice().expect("standard layout"),
                )?,
                b: upload(&format!("layer {l} bias"), &bias)?,
                z: upload("z", &empty)?,
                a: upload("a", &empty)?,
                delta: upload("delta", &empty)?,
                gw: upload(
                    &format!("layer {l} weight gradient"),
                    &vec![T::zero(); layer.weights.len()],
                )?,
                gb: upload(&format!("layer {l} bias gradient"), &bias)?,
                opt: [
                    upload(
                        &format!("layer {l} optimizer state s0"),
                        &vec![T::zero(); layer.weights.len() + layer.fan_out()],
                    )?,
                    upload(
                        &format!("layer {l} optimizer state s1"),
                        &vec![T::zero(); layer.weights.len() + layer.fan_out()],
                    )?,
                ],
            });
        }
        let order = upload("order", &[])?;
        let hyper = upload(
            "per-step values",
            bytemuck::cast_slice(&[StepValues::<T>::default(); STEPS_PER_SUBMISSION]),
        )?;
        let loss = upload("loss", &[])?;
        let info = BackendInfo {
            kind: BackendKind::Gpu,
            name: ctx.summary.name.clone(),
            api: ctx.summary.backend.clone(),
            device_type: ctx.summary.device_type.clone(),
            precision: T::NAME,
        };
        let shared = Shared {
            x,
            y,
            scal,
            hyper,
            state,
            order,
            loss,
        };
        let bindings = make_bindings(&ctx, &kernels, &layers, &shared);
        let n_layers = layers.len();
        let mut engine = GpuEngine {
            ctx,
            info,
            net,
            n_samples: data.len(),
            kernels,
            layers,
            shared,
            capacity: 0,
            params_key: ParamsKey {
                batch: 0,
                optimizer: u32::MAX,
                drop_input: 0,
                drop_hidden: 0,
            },
            dropout_seed: 0,
            opt: None,
            first_row: 0,
            max_norm: false,
            wide_update: true,
            kernel_choice: KernelChoice::Auto,
            products: vec![[Product::default(); 3]; n_layers],
            product_choice: ProductChoice::Fixed(Product::default()),
            tune_cache: None,
            byte_inputs,
            fused: None,
            timing: None,
            bindings,
            staging: None,
            outputs: None,
            infer_bindings: None,
        };
        engine.ensure_params(ParamsKey {
            batch: 1,
            optimizer: contract::OPT_SGD,
            drop_input: 0,
            drop_hidden: 0,
        })?;
        engine.ctx.check()?;
        Ok(engine)
    }

    /// Chooses plain or tiled kernels for the matrix products (default [`KernelChoice::Auto`]).
    ///
    /// # Errors
    /// [`BpropError::Gpu`] for [`KernelChoice::Tiled`] on a device whose limits do not
    /// allow the chosen product kernels.
    pub fn set_kernel_choice(&mut self, choice: KernelChoice) -> Result<()> {
        if choice == KernelChoice::Tiled {
            if let Some(p) = self.missing_product() {
                return Err(Kernels::product_unavailable::<T>(&self.ctx, p));
            }
        }
        self.kernel_choice = choice;
        Ok(())
    }

    /// A product variant some layer is set to that is not compiled (the device cannot run it).
    fn missing_product(&self) -> Option<Product> {
        self.products
            .iter()
            .flatten()
            .find(|p| !self.kernels.products.contains_key(p))
            .copied()
    }

    /// Uses [`Product::Workgroup`] with `tile`'s output blocks (default [`Tile::T64`]) for
    /// every product, and stops tuning; the results agree with every other variant within
    /// the cross-check's tolerance (`tests/gpu/tiled.rs`), only the speed differs.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when the device's limits do not allow the tile (its workgroup
    /// memory), or when compiling fails; the previous kernels stay in use.
    pub fn set_tile(&mut self, tile: Tile) -> Result<()> {
        self.set_product_choice(ProductChoice::Fixed(Product::Workgroup(tile)))?;
        self.kernels.tile = tile;
        Ok(())
    }

    /// The output block of [`Product::Workgroup`] last set by [`GpuEngine::set_tile`].
    pub fn tile(&self) -> Tile {
        self.kernels.tile
    }

    /// Fixes every product to one variant, or turns on tuning: each product shape's
    /// variant timed on first use among those the device can run, the choice cached
    /// in memory and in the on-disk cache ([`TuneCache`]) per adapter, driver and shape
    /// bucket. The default is `Fixed(Product::default())`; `driver::open_gpu` applies
    /// [`KERNEL_ENV`] (tuning unless it names a variant).
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when the device cannot run a fixed variant or compiling fails;
    /// the previous choice stays.
    pub fn set_product_choice(&mut self, choice: ProductChoice) -> Result<()> {
        match choice {
            ProductChoice::Fixed(p) => {
                self.kernels.ensure_product::<T>(&self.ctx, p)?;
                for l in &mut self.products {
                    *l = [p; 3];
                }
            }
            ProductChoice::Tuned => {
                if self.tune_cache.is_none() {
                    self.tune_cache = Some(TuneCache::open_default());
                }
            }
        }
        self.product_choice = choice;
        Ok(())
    }

    /// Uses `cache` for tuned choices instead of the one in the user's cache directory
    /// (tests; a per-project cache).
    pub fn set_tune_cache(&mut self, cache: TuneCache) {
        self.tune_cache = Some(cache);
    }

    /// The tuner's cache, once tuning has been turned on.
    pub fn tune_cache(&self) -> Option<&TuneCache> {
        self.tune_cache.as_ref()
    }

    /// How product variants are chosen.
    pub fn product_choice(&self) -> ProductChoice {
        self.product_choice
    }

    /// The product variant each layer's forward, hidden-delta and gradient products run
    /// with now ([`ProductPass`] order; under tuning, what the last tuned call chose).
    pub fn products(&self) -> &[[Product; 3]] {
        &self.products
    }

    /// The product variant each layer's forward, hidden-delta and gradient products run
    /// with at the batch size of the last call: [`GpuEngine::products`], or their
    /// fallbacks where a variant does not fit the shape ([`Product::for_shape`]). The output
    /// layer has no hidden-delta product; its entry is the variant chosen.
    pub fn running_products(&self) -> Vec<[Product; 3]> {
        (0..self.products.len())
            .map(|l| {
                ProductPass::ALL.map(|pass| {
                    if pass == ProductPass::HiddenDelta && l + 1 == self.products.len() {
                        self.products[l][pass as usize]
                    } else {
                        self.product_for_shape(l, pass)
                    }
                })
            })
            .collect()
    }

    /// Chooses how the reductions over a row are computed — the softmax, the per-sample
    /// loss and the tiled gradient's bias sum ([`Reduce`]): with subgroup operations (the
    /// default where the device has them) or serial loops (the fallback). Both add the same
    /// values in the same order, so they give the same bits; only the speed differs.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] for [`Reduce::Subgroup`] on a device that cannot run it, or when
    /// compiling fails; the previous variant stays.
    pub fn set_reduce(&mut self, reduce: Reduce) -> Result<()> {
        check_reduce(&self.ctx, reduce)?;
        self.kernels.set_reduce::<T>(&self.ctx, reduce)
    }

    /// The reductions' variant in use ([`GpuEngine::set_reduce`]).
    pub fn reduce(&self) -> Reduce {
        self.kernels.reduce
    }

    /// Whether the device can run the subgroup reductions ([`Reduce::Subgroup`]).
    pub fn reduce_available(&self) -> bool {
        reduce_fits(&self.ctx)
    }

    /// Whether layers whose fan-in is a multiple of 4 update their weights four at a time
    /// (`update4.wgsl`, the default) or one at a time (`update.wgsl`); both give the same
    /// bits, so this is for tests and measurements.
    pub fn set_wide_update(&mut self, on: bool) {
        self.wide_update = on;
    }

    /// Whether the device can run `product` in this engine's precision.
    pub fn product_available(&self, product: Product) -> bool {
        product_fits::<T>(&self.ctx, product)
    }

    /// The device context this engine runs on.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }
}

impl<T: Real> GpuEngine<T> {
    /// Sets up the buffers, bind groups, optimizer state (fresh for another optimizer)
    /// and scalars of training steps with `batch` rows and `hyper`'s rule.
    fn prepare(&mut self, batch: usize, hyper: &Hyper) -> Result<()> {
        let optimizer = hyper.optimizer;
        let (drop_input, drop_hidden) = match &hyper.dropout {
            Some(d) => (Dropout::threshold(d.input), Dropout::threshold(d.hidden)),
            None => (0, 0),
        };
        self.dropout_seed = hyper.dropout.map_or(0, |d| d.seed);
        self.ensure_params(ParamsKey {
            batch,
            optimizer: contract::optimizer_code(&optimizer),
            drop_input,
            drop_hidden,
        })?;
        if self.opt.is_none_or(|(o, _)| o != optimizer) {
            self.write_optimizer_state(&OptimState::new(optimizer, &self.net));
        }
        let [k0, k1, k2, k3] = contract::optimizer_constants(&optimizer).map(T::of);
        let scale = |p: f64| 1.0 / (1.0 - p);
        let (s_in, s_hidden) = hyper.dropout.map_or((1.0, 1.0), |d| (scale(d.input), scale(d.hidden)));
        let scalars = Scalars {
            k0,
            k1,
            k2,
            k3,
            l2: T::of(hyper.weight_decay),
            max_norm: T::of(hyper.max_norm.unwrap_or(0.0)),
            drop_in_scale: T::of(s_in),
            drop_hidden_scale: T::of(s_hidden),
            byte_divisor: T::of(self.byte_inputs.as_ref().map_or(1.0, |b| b.divisor)),
        };
        self.ctx
            .queue
            .write_buffer(&self.shared.scal, 0, bytemuck::bytes_of(&scalars));
        self.max_norm = hyper.max_norm.is_some();
        Ok(())
    }

    /// Writes the per-step values (η, Adam's bias corrections) of `steps` steps from
    /// step `t0` to the `hyper` buffer.
    fn write_step_values(&self, hyper: &Hyper, t0: u64, steps: usize) {
        let per_step: Vec<StepValues<T>> = (0..steps as u64)
            .map(|s| {
                let v = hyper.step_values(t0 + s);
                StepValues {
                    lr: T::of(v.lr),
                    c1: T::of(v.c1),
                    c2: T::of(v.c2),
                    pad: T::zero(),
                }
            })
            .collect();
        self.ctx
            .queue
            .write_buffer(&self.shared.hyper, 0, bytemuck::cast_slice(&per_step));
    }

    /// Uploads `state` into the `opt` buffers (each layer, slot s: s_s of W, s_s of b).
    fn write_optimizer_state(&mut self, state: &OptimState<T>) {
        for (l, g) in self.layers.iter().enumerate() {
            for (s, buffer) in g.opt.iter().enumerate() {
                let flat: Vec<T> = state.weights[l][s]
                    .iter()
                    .chain(state.bias[l][s].iter())
                    .copied()
                    .collect();
                self.ctx.queue.write_buffer(buffer, 0, bytemuck::cast_slice(&flat));
            }
        }
        self.opt = Some((state.optimizer, state.step));
    }
}

impl<T: Real> Engine<T> for GpuEngine<T> {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>> {
        check_order(order, batch, self.n_samples)?;
        hyper.validate()?;
        self.prepare(batch, hyper)?;
        let optimizer = hyper.optimizer;
        let fused = self.fused_route(batch, hyper)?;
        if let Some(caps) = fused {
            self.ensure_fused(batch, caps)?;
        }
        let work = |steps| match fused {
            Some(_) => Work::Fused { steps },
            None => Work::Steps { steps, train: true },
        };
        let mut losses = Vec::with_capacity(order.len() / batch);
        for chunk in order.chunks(STEPS_PER_SUBMISSION * batch) {
            let steps = chunk.len() / batch;
            let t0 = self.opt.map_or(0, |(_, t)| t);
            self.write_step_values(hyper, t0, steps);
            let loss = self.shared.loss.clone();
            let per_sample = self.submit(chunk, work(steps), &[(&loss, 0, chunk.len())])?;
            self.opt = Some((optimizer, t0 + steps as u64));
            let inv_b = T::one() / T::of(batch as f64);
            losses.extend(
                per_sample[0]
                    .chunks_exact(batch)
                    .map(|c| c.iter().copied().sum::<T>() * inv_b),
            );
        }
        Ok(losses)
    }

    fn shard_gradient(
        &mut self,
        rows: &[u32],
        batch: usize,
        first_row: usize,
        hyper: &Hyper,
        grad: &mut [T],
        losses: &mut [T],
    ) -> Result<()> {
        check_shard(rows, batch, first_row, self.n_samples)?;
        let n_params = self.net.n_params();
        if grad.len() != n_params {
            return Err(BpropError::shape("gradient (parameters)", n_params, grad.len()));
        }
        if losses.len() != rows.len() {
            return Err(BpropError::shape("losses (shard rows)", rows.len(), losses.len()));
        }
        hyper.validate()?;
        if rows.is_empty() {
            grad.fill(T::zero());
            return Ok(());
        }
        self.prepare(rows.len(), hyper)?;
        let mut reads: Vec<(wgpu::Buffer, usize)> = Vec::new();
        for (l, g) in self.net.layers().iter().zip(&self.layers) {
            reads.push((g.gw.clone(), l.weights.len()));
            reads.push((g.gb.clone(), l.bias.as_ref().map_or(0, |b| b.len())));
        }
        reads.push((self.shared.loss.clone(), rows.len()));
        let refs: Vec<Read<'_>> = reads.iter().map(|(b, n)| (b, 0, *n)).collect();
        // The masks of the global batch's rows (dropout is keyed by the row).
        self.first_row = first_row as u32;
        let values = self.submit(rows, Work::Steps { steps: 1, train: false }, &refs);
        self.first_row = 0;
        let values = values?;
        // The passes average over the shard's R rows; the batch's gradient is Σ / B:
        // ∂E/∂θ (shard) = mean_shard · R / B.
        let factor = T::of(rows.len() as f64) / T::of(batch as f64);
        let (per_sample, gradients) = values.split_last().expect("the losses were read");
        for (g, v) in grad.iter_mut().zip(gradients.iter().flatten()) {
            *g = *v * factor;
        }
        losses.copy_from_slice(per_sample);
        Ok(())
    }

    fn apply_gradient(&mut self, grad: &[T], hyper: &Hyper) -> Result<()> {
        let n_params = self.net.n_params();
        if grad.len() != n_params {
            return Err(BpropError::shape("gradient (parameters)", n_params, grad.len()));
        }
        hyper.validate()?;
        self.prepare(self.params_key.batch.max(1), hyper)?;
        let mut at = 0;
        for (l, g) in self.net.layers().iter().zip(&self.layers) {
            let w = l.weights.len();
            let q = &self.ctx.queue;
            q.write_buffer(&g.gw, 0, bytemuck::cast_slice(&grad[at..at + w]));
            at += w;
            if let Some(b) = &l.bias {
                q.write_buffer(&g.gb, 0, bytemuck::cast_slice(&grad[at..at + b.len()]));
                at += b.len();
            }
        }
        let t0 = self.opt.map_or(0, |(_, t)| t);
        self.write_step_values(hyper, t0, 1);
        self.submit(&[0], Work::Update, &[])?;
        self.opt = Some((hyper.optimizer, t0 + 1));
        Ok(())
    }

    fn take_device_time(&mut self) -> Option<std::time::Duration> {
        let t = self.timing.as_mut()?;
        let ns = std::mem::take(&mut t.total_ns);
        Some(std::time::Duration::from_nanos(ns.round() as u64))
    }

    fn optimizer_state(&mut self) -> Result<Option<OptimState<T>>> {
        let Some((optimizer, step)) = self.opt else {
            return Ok(None);
        };
        let bufs: Vec<(wgpu::Buffer, usize)> = self
            .net
            .layers()
            .iter()
            .zip(&self.layers)
            .flat_map(|(l, g)| g.opt.iter().map(|b| (b.clone(), l.weights.len() + l.fan_out())))
            .collect();
        let refs: Vec<Read<'_>> = bufs.iter().map(|(b, n)| (b, 0, *n)).collect();
        let values = self.submit(&[0], Work::Steps { steps: 0, train: false }, &refs)?;
        let mut state = OptimState::new(optimizer, &self.net);
        state.step = step;
        for (i, v) in values.iter().enumerate() {
            let (l, s) = (i / 2, i % 2);
            let nw = self.net.layers()[l].weights.len();
            let dim = self.net.layers()[l].weights.dim();
            state.weights[l][s] = Array2::from_shape_vec(dim, v[..nw].to_vec()).expect("shape as allocated");
            state.bias[l][s] = Array1::from(v[nw..].to_vec());
        }
        Ok(Some(state))
    }

    fn set_optimizer_state(&mut self, state: Option<&OptimState<T>>) -> Result<()> {
        match state {
            Some(s) if !s.fits(&self.net) => Err(BpropError::shape(
                "optimizer state (per-layer weight shapes)",
                self.net.sizes(),
                s.weights.iter().map(|[w, _]| w.dim()).collect::<Vec<_>>(),
            )),
            Some(s) => {
                self.write_optimizer_state(s);
                Ok(())
            }
            None => {
                self.opt = None;
                Ok(())
            }
        }
    }

    fn network(&mut self) -> Result<Network<T>> {
        let reads: Vec<(wgpu::Buffer, usize)> = self
            .net
            .layers()
            .iter()
            .zip(&self.layers)
            .flat_map(|(l, g)| {
                [
                    (g.w.clone(), l.weights.len()),
                    (g.b.clone(), l.bias.as_ref().map_or(0, |b| b.len())),
                ]
            })
            .collect();
        let refs: Vec<_> = reads.iter().map(|(b, n)| (b, 0, *n)).collect();
        let mut values = self
            .submit(&[0], Work::Steps { steps: 0, train: false }, &refs)?
            .into_iter();
        for layer in self.net.layers_mut() {
            let w = values.next().expect("one read per tensor");
            let b = values.next().expect("one read per tensor");
            layer.weights = Array2::from_shape_vec(layer.weights.dim(), w).expect("shape as uploaded");
            if let Some(bias) = &mut layer.bias {
                *bias = Array1::from(b);
            }
        }
        Ok(self.net.clone())
    }

    fn set_network(&mut self, net: &Network<T>) -> Result<()> {
        self.net.check_same_shape(net)?;
        for (layer, g) in net.layers().iter().zip(&self.layers) {
            self.ctx.queue.write_buffer(
                &g.w,
                0,
                bytemuck::cast_slice(layer.weights.as_standard_layout().as_slice().expect("standard layout")),
            );
            if let Some(b) = &layer.bias {
                self.ctx
                    .queue
                    .write_buffer(&g.b, 0, bytemuck::cast_slice(b.as_slice().expect("contiguous")));
            }
        }
        self.net = net.clone();
        Ok(())
    }

    fn trace(&mut self, samples: &[u32]) -> Result<StepTrace<T>> {
        check_trace(samples, self.n_samples)?;
        let batch = samples.len();
        self.ensure_params(ParamsKey {
            batch,
            drop_input: 0,
            drop_hidden: 0,
            ..self.params_key
        })?;
        let mut reads: Vec<(wgpu::Buffer, usize)> = Vec::new();
        for (l, g) in self.net.layers().iter().zip(&self.layers) {
            let n = batch * l.fan_out();
            reads.extend([
                (g.z.clone(), n),
                (g.a.clone(), n),
                (g.delta.clone(), n),
                (g.gw.clone(), l.weights.len()),
            ]);
            reads.push((g.gb.clone(), l.bias.as_ref().map_or(0, |b| b.len())));
        }
        reads.push((self.shared.loss.clone(), batch));
        let mut refs: Vec<Read<'_>> = reads.iter().map(|(b, n)| (b, 0, *n)).collect();
        let (ni, no) = (self.net.inputs(), self.net.outputs());
        let (x, y) = (self.shared.x.clone(), self.shared.y.clone());
        if self.byte_inputs.is_none() {
            refs.extend(samples.iter().map(|&s| (&x, s as usize * ni, ni)));
        }
        refs.extend(samples.iter().map(|&s| (&y, s as usize * no, no)));
        let mut values = self
            .submit(samples, Work::Steps { steps: 1, train: false }, &refs)?
            .into_iter();
        let mut layers = Vec::new();
        for l in self.net.layers() {
            let rows = |v: Vec<T>| Array2::from_shape_vec((batch, l.fan_out()), v).expect("shape as allocated");
            let z = rows(values.next().expect("z"));
            let a = rows(values.next().expect("a"));
            let delta = rows(values.next().expect("delta"));
            let grad_w =
                Array2::from_shape_vec(l.weights.dim(), values.next().expect("gw")).expect("shape as allocated");
            let gb = values.next().expect("gb");
            layers.push(LayerTrace {
                z,
                a,
                delta,
                grad_w,
                grad_b: l.bias.as_ref().map(|_| Array1::from(gb)),
            });
        }
        let per_sample = values.next().expect("loss");
        let loss = per_sample.iter().copied().sum::<T>() / T::of(batch as f64);
        // The dataset rows the step used, read from the device (no host copy is kept), or
        // for byte-coded inputs from the bytes the engine shares with the dataset.
        let rest: Vec<T> = values.flatten().collect();
        let (inputs, ys) = match &self.byte_inputs {
            Some(b) => {
                let rows: Vec<usize> = samples.iter().map(|&s| s as usize).collect();
                let x = b
                    .bytes
                    .select(ndarray::Axis(0), &rows)
                    .mapv(|v| T::of(f64::from(v) / b.divisor));
                (x, &rest[..])
            }
            None => {
                let (xs, ys) = rest.split_at(batch * ni);
                (
                    Array2::from_shape_vec((batch, ni), xs.to_vec()).expect("rows of the inputs"),
                    ys,
                )
            }
        };
        let targets = Array2::from_shape_vec((batch, no), ys.to_vec()).expect("rows of the targets");
        Ok(StepTrace {
            inputs,
            targets,
            layers,
            loss,
        })
    }
}
