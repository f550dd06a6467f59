//! The GPU path as an [`Engine`]: parameters, activations, deltas, gradients and the
//! dataset live in device buffers created once; a call to `train_steps` records every
//! pass of many steps into one compute pass per submission, and reads back only the
//! per-sample losses at its end.

use crate::engine::{check_order, check_trace, BackendInfo, BackendKind, Engine, LayerTrace, StepTrace};
use crate::error::{BpropError, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::contract::{self, FusedHead, FusedLayer, LayerParams, Scalars, StepValues, SubmissionState};
use crate::gpu::shaders::{self, FusedCaps, Input, Kernel, Pass, ShaderKey, Tile, WORKGROUP};
use crate::model::{
    Activation, ByteInputs, Dataset, Dropout, Hyper, Loss, Network, OptimState, Optimizer, Precision, Real,
};
use ndarray::{Array1, Array2};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Steps recorded per submission. Bounds the command buffer's size (each step is about
/// 4 dispatches per layer) while keeping submissions, and their ≥ 1 ms of overhead, rare.
pub const STEPS_PER_SUBMISSION: usize = 1024;

/// A readback request: buffer, first element, element count.
type Read<'a> = (&'a wgpu::Buffer, usize, usize);

/// What the parameter blocks encode besides the architecture: batch size, optimizer code,
/// and the dropout keep thresholds of the input and the hidden layers (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ParamsKey {
    batch: usize,
    optimizer: u32,
    drop_input: u32,
    drop_hidden: u32,
}

/// One layer's device buffers.
struct GpuLayer {
    params: wgpu::Buffer,
    w: wgpu::Buffer,
    /// The bias, or a one-element placeholder for layers without one (never read then).
    b: wgpu::Buffer,
    z: wgpu::Buffer,
    a: wgpu::Buffer,
    delta: wgpu::Buffer,
    gw: wgpu::Buffer,
    gb: wgpu::Buffer,
    /// Optimizer state: [s₀ of W, s₁ of W, s₀ of b, s₁ of b] (`shaders/update.wgsl`).
    opt: wgpu::Buffer,
}

/// Bind groups for one batch capacity (rebuilt when the capacity grows).
struct Bindings {
    forward: Vec<wgpu::BindGroup>,
    softmax: wgpu::BindGroup,
    output_delta: wgpu::BindGroup,
    hidden_delta: Vec<wgpu::BindGroup>,
    gradient: Vec<wgpu::BindGroup>,
    update: Vec<wgpu::BindGroup>,
    max_norm: Vec<wgpu::BindGroup>,
    advance: wgpu::BindGroup,
}

struct Kernels {
    forward: Kernel,
    softmax: Kernel,
    output_delta: Kernel,
    hidden_delta: Kernel,
    gradient: Kernel,
    update: Kernel,
    max_norm: Kernel,
    advance: Kernel,
    /// The tiled twins of forward, hidden_delta and gradient (same bind group layouts),
    /// when the device's limits allow 16 × 16 workgroups and their workgroup memory.
    tiled: Option<[Kernel; 3]>,
    /// The output block the tiled kernels were built for.
    tile: Tile,
    /// For a byte-coded dataset (`Dataset::byte_inputs`): layer 0's forward and gradient
    /// passes reading packed bytes, plain then tiled ([forward, gradient, forward_tiled,
    /// gradient_tiled]; the tiled ones only with `tiled`).
    bytes: Option<Vec<Kernel>>,
}

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

/// The fused kernel's share of work per step, parameters × batch rows, up to which
/// [`KernelChoice::Auto`] takes it. One workgroup does all of a fused step, so past some
/// size the separate passes, spread over the whole device, are faster even with their
/// dispatch overhead (ARCHITECTURE.md records the measurement behind this value).
pub const FUSED_MAX_WORK: usize = 1 << 16;

/// Loop iterations one invocation of the fused kernel may run in one dispatch. Mesa's
/// lavapipe (22.3, gallivm) stops every loop of an invocation after 65 535 iterations in
/// all, nested ones counted too, and the dispatch then ends early without an error (found
/// with probe shaders: a single loop stopped at iteration 65 535; a loop around a
/// 4-iteration loop at 13 107 = 65 535 / 5). The separate passes stay below it (their
/// longest loop is over a batch, at most 65 535 rows); the fused kernel's loop over steps
/// does not, so a submission's steps are split into dispatches whose estimated iterations
/// ([`GpuEngine::fused_iterations_per_step`]) stay within this half of the limit. On other
/// adapters the split costs one more dispatch now and then.
pub const FUSED_LOOP_BUDGET: usize = 1 << 15;

/// The fused kernel built for one batch size: its pipeline, bind group, the network
/// description it reads (`spec`, one copy per dispatch at `spec_stride` bytes), and the
/// concatenated parameters and optimizer state it works on (copied from and back to the
/// per-layer buffers around each submission's dispatches).
struct Fused {
    batch: usize,
    kernel: Kernel,
    bind: wgpu::BindGroup,
    spec: wgpu::Buffer,
    /// The network's description; `steps` and `first_step` differ between dispatches.
    head: FusedHead,
    /// One entry per layer, after `head` in `spec`.
    spec_layers: Vec<FusedLayer>,
    /// Bytes between the dispatches' copies of `spec` (the adapter's offset alignment).
    spec_stride: u64,
    /// Steps per dispatch, within [`FUSED_LOOP_BUDGET`].
    steps_per_dispatch: usize,
    params: wgpu::Buffer,
    opt: wgpu::Buffer,
    /// Per layer: offsets (elements) of W and b in `params`, of the optimizer state in `opt`.
    offsets: Vec<[usize; 3]>,
}

/// Timestamp queries around each training submission's compute pass, and the device
/// time they add up to (`GpuEngine::set_timing`).
struct Timing {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
    /// Device nanoseconds since the last `take_device_time`.
    total_ns: f64,
}

/// What one submission records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// `steps` steps of separate passes; with `train` the updates too (else a trace).
    Steps { steps: usize, train: bool },
    /// `steps` training steps in one dispatch of the fused kernel.
    Fused { steps: usize },
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
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    scal: wgpu::Buffer,
    /// Per-step values [η, c₁, c₂, 0] of one submission's steps.
    hyper: wgpu::Buffer,
    state: wgpu::Buffer,
    /// Per-step sample indices, `STEPS_PER_SUBMISSION · capacity` entries.
    order: wgpu::Buffer,
    /// Per-sample losses of the steps of one submission, same length as `order`.
    loss: wgpu::Buffer,
    /// Batch size the activation buffers are sized for.
    capacity: usize,
    /// Batch size and optimizer code the parameter blocks currently say.
    params_key: ParamsKey,
    /// The dropout seed of the current run (written into `state` with each submission).
    dropout_seed: u64,
    /// The optimizer whose state the `opt` buffers hold, and the steps it has taken.
    opt: Option<(Optimizer, u64)>,
    /// Whether the last `train_with` asked for max-norm.
    max_norm: bool,
    /// Plain or tiled kernels.
    kernel_choice: KernelChoice,
    /// The dataset's byte-coded inputs, when `x` holds them as packed bytes.
    byte_inputs: Option<Arc<ByteInputs>>,
    /// The fused kernel, once a training call has used it (rebuilt when the batch changes).
    fused: Option<Fused>,
    /// Device timing of training submissions, when turned on.
    timing: Option<Timing>,
    bindings: Bindings,
    staging: Option<wgpu::Buffer>,
}

/// The tiled twins of `forward`, `hidden_delta` and `gradient` for `tile` (sharing their
/// bind group layouts) and, with `bytes`, layer 0's tiled forward and gradient reading a
/// byte-coded dataset; `None` where the device's limits do not allow 16 × 16 workgroups
/// and the tile's workgroup memory.
fn tiled_kernels<T: Real>(
    ctx: &GpuContext,
    forward: &Kernel,
    hidden_delta: &Kernel,
    gradient: &Kernel,
    bytes: bool,
    tile: Tile,
) -> Result<Option<([Kernel; 3], Vec<Kernel>)>> {
    let lim = &ctx.limits;
    if lim.max_compute_invocations_per_workgroup < 256
        || lim.max_compute_workgroup_size_x < 16
        || lim.max_compute_workgroup_size_y < 16
        || lim.max_compute_workgroup_storage_size < shaders::tiled_workgroup_bytes(T::PRECISION, tile)
    {
        return Ok(None);
    }
    let twin = |pass, of: &Kernel, input| {
        let key = ShaderKey::new(pass, T::PRECISION).with_input(input).with_tile(tile);
        shaders::build(&ctx.device, key, Some(&of.layout))
    };
    let kernels = [
        twin(Pass::ForwardTiled, forward, Input::Real)?,
        twin(Pass::HiddenDeltaTiled, hidden_delta, Input::Real)?,
        twin(Pass::GradientTiled, gradient, Input::Real)?,
    ];
    let bytes = if bytes {
        vec![
            twin(Pass::ForwardTiled, forward, Input::Bytes)?,
            twin(Pass::GradientTiled, gradient, Input::Bytes)?,
        ]
    } else {
        Vec::new()
    };
    Ok(Some((kernels, bytes)))
}

fn bytes_of<T>(n: usize) -> u64 {
    (n.max(1) * std::mem::size_of::<T>()) as u64
}

impl<T: Real> GpuEngine<T> {
    /// Uploads `net` and `data` to `ctx`'s device and builds the pipelines.
    ///
    /// # Errors
    /// The errors of [`Dataset::check_fits`]; [`BpropError::Gpu`] when a buffer exceeds the
    /// adapter's limits, a shader fails to build, or `f64` is asked of a device without
    /// `SHADER_F64`.
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
        let upload = |label: &str, values: &[T]| -> Result<wgpu::Buffer> {
            ctx.check_storage_size(label, bytes_of::<T>(values.len()))?;
            let contents: &[u8] = if values.is_empty() {
                &[0; 16]
            } else {
                bytemuck::cast_slice(values)
            };
            Ok(dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: storage,
            }))
        };
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

        let build = |pass| shaders::build(dev, ShaderKey::new(pass, T::PRECISION), None);
        let forward = build(Pass::Forward)?;
        let hidden_delta = build(Pass::HiddenDelta)?;
        let gradient = build(Pass::Gradient)?;
        let tile = Tile::default();
        let (tiled, tiled_bytes) =
            match tiled_kernels::<T>(&ctx, &forward, &hidden_delta, &gradient, byte_inputs.is_some(), tile)? {
                Some((k, b)) => (Some(k), b),
                None => (None, Vec::new()),
            };
        let bytes = match &byte_inputs {
            Some(_) => {
                let variant = |pass, of: &Kernel| {
                    let key = ShaderKey::new(pass, T::PRECISION).with_input(Input::Bytes);
                    shaders::build(dev, key, Some(&of.layout))
                };
                let mut k = vec![variant(Pass::Forward, &forward)?, variant(Pass::Gradient, &gradient)?];
                k.extend(tiled_bytes);
                Some(k)
            }
            None => None,
        };
        let kernels = Kernels {
            tiled,
            tile,
            bytes,
            forward,
            softmax: build(Pass::Softmax)?,
            output_delta: build(Pass::OutputDelta)?,
            hidden_delta,
            gradient,
            update: build(Pass::Update)?,
            max_norm: build(Pass::MaxNorm)?,
            advance: build(Pass::Advance)?,
        };

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
                opt: upload(
                    &format!("layer {l} optimizer state"),
                    &vec![T::zero(); 2 * (layer.weights.len() + layer.fan_out())],
                )?,
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
        let bindings = make_bindings(&ctx, &kernels, &layers, &x, &y, &scal, &hyper, &state, &order, &loss);
        let mut engine = GpuEngine {
            ctx,
            info,
            net,
            n_samples: data.len(),
            kernels,
            layers,
            x,
            y,
            scal,
            hyper,
            state,
            order,
            loss,
            capacity: 0,
            params_key: ParamsKey {
                batch: 0,
                optimizer: u32::MAX,
                drop_input: 0,
                drop_hidden: 0,
            },
            dropout_seed: 0,
            opt: None,
            max_norm: false,
            kernel_choice: KernelChoice::Auto,
            byte_inputs,
            fused: None,
            timing: None,
            bindings,
            staging: None,
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
    /// allow the tiled kernels.
    pub fn set_kernel_choice(&mut self, choice: KernelChoice) -> Result<()> {
        if choice == KernelChoice::Tiled && self.kernels.tiled.is_none() {
            return Err(BpropError::Gpu(format!(
                "{} cannot run the tiled kernels (they need 16 × 16 workgroups and {} bytes of workgroup memory)",
                self.ctx.summary.name,
                shaders::tiled_workgroup_bytes(T::PRECISION, self.kernels.tile)
            )));
        }
        self.kernel_choice = choice;
        Ok(())
    }

    /// Rebuilds the tiled kernels for `tile`'s output blocks (default [`Tile::T64`]); the
    /// results agree with every other tile size within the cross-check's tolerance
    /// (`tests/tiled.rs`), only the speed differs.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] when the device's limits do not allow the tile (its workgroup
    /// memory), or when compiling fails; the previous kernels stay in use.
    pub fn set_tile(&mut self, tile: Tile) -> Result<()> {
        if tile == self.kernels.tile && self.kernels.tiled.is_some() {
            return Ok(());
        }
        let k = &self.kernels;
        let built = tiled_kernels::<T>(
            &self.ctx,
            &k.forward,
            &k.hidden_delta,
            &k.gradient,
            k.bytes.is_some(),
            tile,
        )?;
        self.ctx.check()?;
        let Some((tiled, bytes)) = built else {
            return Err(BpropError::Gpu(format!(
                "{} cannot run {tile} tiles (they need 16 × 16 workgroups and {} bytes of workgroup memory, it allows {})",
                self.ctx.summary.name,
                shaders::tiled_workgroup_bytes(T::PRECISION, tile),
                self.ctx.limits.max_compute_workgroup_storage_size
            )));
        };
        self.kernels.tiled = Some(tiled);
        if let Some(v) = &mut self.kernels.bytes {
            v.truncate(2);
            v.extend(bytes);
        }
        self.kernels.tile = tile;
        Ok(())
    }

    /// The output block the tiled kernels compute per workgroup.
    pub fn tile(&self) -> Tile {
        self.kernels.tile
    }

    /// Whether the fused kernel (`shaders/fused.wgsl`) can run training steps of `batch`
    /// rows with `hyper`: the workgroup arrays it needs, or why it cannot (dropout,
    /// max-norm, byte-coded inputs, or more workgroup memory than the adapter offers).
    /// [`KernelChoice::Auto`] also requires parameters × batch ≤ [`FUSED_MAX_WORK`].
    pub fn fused_plan(&self, batch: usize, hyper: &Hyper) -> std::result::Result<FusedCaps, String> {
        if hyper
            .dropout
            .is_some_and(|d| Dropout::threshold(d.input) != 0 || Dropout::threshold(d.hidden) != 0)
        {
            return Err("the fused kernel has no dropout".into());
        }
        if hyper.max_norm.is_some() {
            return Err("the fused kernel has no max-norm".into());
        }
        if self.byte_inputs.is_some() {
            return Err("the fused kernel reads real-valued inputs, not byte-coded ones".into());
        }
        let layers = self.net.layers();
        let units: usize = layers.iter().map(|l| l.fan_out()).sum();
        let caps = FusedCaps {
            params: layers
                .iter()
                .map(|l| l.weights.len() + l.bias.as_ref().map_or(0, |b| b.len()))
                .sum(),
            activations: batch * (self.net.inputs() + units),
            deltas: batch * units,
            z: batch * self.net.outputs(),
        };
        let per_step = self.fused_iterations_per_step(batch, self.fused_workgroup(batch));
        if per_step > FUSED_LOOP_BUDGET {
            return Err(format!(
                "one step of the network with a batch of {batch} takes about {per_step} loop iterations in one \
                 invocation, over the fused kernel's {FUSED_LOOP_BUDGET} per dispatch"
            ));
        }
        let have = self.ctx.limits.max_compute_workgroup_storage_size as usize;
        if caps.bytes(T::PRECISION) > have {
            return Err(format!(
                "the network and a batch of {batch} need {} bytes of workgroup memory; {} offers {have}",
                caps.bytes(T::PRECISION),
                self.ctx.summary.name
            ));
        }
        Ok(caps)
    }

    /// Whether a training call of `batch` rows with `hyper` runs on the fused kernel under
    /// the current [`KernelChoice`], and the workgroup arrays it would take.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] for [`KernelChoice::Fused`] when the kernel cannot take the
    /// call, with the reason ([`GpuEngine::fused_plan`]).
    pub fn fused_route(&self, batch: usize, hyper: &Hyper) -> Result<Option<FusedCaps>> {
        Ok(match self.kernel_choice {
            KernelChoice::Plain | KernelChoice::Tiled => None,
            KernelChoice::Auto => self
                .fused_plan(batch, hyper)
                .ok()
                .filter(|caps| caps.params * batch <= FUSED_MAX_WORK),
            KernelChoice::Fused => Some(self.fused_plan(batch, hyper).map_err(|why| {
                BpropError::Gpu(format!(
                    "the fused kernel was asked for but cannot run this training: {why}"
                ))
            })?),
        })
    }

    /// An upper bound on the loop iterations the busiest invocation of the fused kernel
    /// (invocation 0) runs per step with workgroups of `wg`, following fused.wgsl's loops:
    /// each phase's loop strides over its items by `wg`, and each item's inner loop runs
    /// over a fan-in, a fan-out, the batch or the outputs. f64's `exp_r` and `ln_r` are
    /// written with loops (real_f64.wgsl, ≤ 25 and ≤ 52 iterations), counted per call.
    pub fn fused_iterations_per_step(&self, batch: usize, wg: u32) -> usize {
        let per = |items: usize| items.div_ceil(wg as usize);
        let exp = if T::PRECISION == Precision::F64 { 25 } else { 0 };
        let layers = self.net.layers();
        let mut n = 1 + per(batch * self.net.inputs());
        for (l, layer) in layers.iter().enumerate() {
            let act = match layer.activation {
                Activation::Sigmoid | Activation::Tanh => exp,
                _ => 0,
            };
            n += 1 + per(batch * layer.fan_out()) * (layer.fan_in() + 1 + act);
            if l > 0 {
                n += 1 + per(batch * layer.fan_in()) * (layer.fan_out() + 1);
            }
            n += 1 + (per(layer.weights.len()) + per(layer.fan_out())) * (batch + 1);
        }
        let n_out = self.net.outputs();
        // tanh_error: up to four ln_1p_r a output (common.wgsl), each a 15-term series or
        // an ln_r (two exp_r in f64)
        let tanh_error = if self.net.loss() == Loss::TanhError {
            n_out * 4 * (15 + 2 * exp)
        } else {
            0
        };
        n + per(batch) * (n_out * (4 + 2 * exp) + 3 * exp + 4 + tanh_error)
    }

    /// The fused kernel's workgroup size for `batch`: the widest phase's invocations
    /// (batch × units of a layer, or a layer's weights) as a power of two, at least one
    /// subgroup (the adapter's largest: 32 on NVIDIA, 8 on lavapipe) and at most 256 and
    /// the adapter's limits. Idle invocations cost at every barrier: on lavapipe the
    /// seed's fused step took 15.6 µs with 32 invocations and 5.4 µs with 8.
    fn fused_workgroup(&self, batch: usize) -> u32 {
        let widest = self
            .net
            .layers()
            .iter()
            .map(|l| (batch * l.fan_in()).max(batch * l.fan_out()).max(l.weights.len()))
            .max()
            .unwrap_or(1);
        let lim = &self.ctx.limits;
        let cap = lim
            .max_compute_invocations_per_workgroup
            .min(lim.max_compute_workgroup_size_x)
            .min(256);
        let subgroup = self.ctx.adapter.get_info().subgroup_max_size.max(1);
        (widest.next_power_of_two() as u32).clamp(subgroup.min(cap), cap)
    }

    /// Builds the fused kernel and its buffers for `batch` (when not built for it yet).
    fn ensure_fused(&mut self, batch: usize, caps: FusedCaps) -> Result<()> {
        if self.fused.as_ref().is_some_and(|f| f.batch == batch) {
            return Ok(());
        }
        let dev = &self.ctx.device;
        let layers = self.net.layers();
        let head = FusedHead {
            n_layers: layers.len() as u32,
            batch: batch as u32,
            loss: contract::loss_code(self.net.loss()),
            n_params: caps.params as u32,
            n_in: self.net.inputs() as u32,
            n_out: self.net.outputs() as u32,
            ..FusedHead::default()
        };
        let spec_bytes = (std::mem::size_of::<FusedHead>() + layers.len() * std::mem::size_of::<FusedLayer>()) as u64;
        let align = u64::from(self.ctx.limits.min_storage_buffer_offset_alignment);
        let spec_stride = spec_bytes.div_ceil(align) * align;
        let wg = self.fused_workgroup(batch);
        let steps_per_dispatch = (FUSED_LOOP_BUDGET / self.fused_iterations_per_step(batch, wg)).max(1);
        let dispatches = STEPS_PER_SUBMISSION.div_ceil(steps_per_dispatch) as u64;
        let kernel = shaders::build_fused(dev, T::PRECISION, caps, wg, spec_bytes)?;
        let mut offsets = Vec::new();
        let mut spec_layers = Vec::new();
        let (mut p, mut o, mut a) = (0, 0, batch * self.net.inputs());
        for layer in layers {
            let (n_w, n_b) = (layer.weights.len(), layer.bias.as_ref().map_or(0, |b| b.len()));
            offsets.push([p, p + n_w, o]);
            spec_layers.push(FusedLayer {
                fan_in: layer.fan_in() as u32,
                fan_out: layer.fan_out() as u32,
                activation: contract::activation_code(layer.activation),
                has_bias: u32::from(layer.bias.is_some()),
                w_offset: p as u32,
                b_offset: (p + n_w) as u32,
                opt_offset: o as u32,
                act_offset: a as u32,
            });
            p += n_w + n_b;
            o += 2 * (n_w + layer.fan_out());
            a += batch * layer.fan_out();
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let make = |label: &str, bytes: u64| -> Result<wgpu::Buffer> {
            self.ctx.check_storage_size(label, bytes)?;
            Ok(dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: storage,
                mapped_at_creation: false,
            }))
        };
        let spec = make("fused network description", dispatches * spec_stride)?;
        let params = make("fused parameters", bytes_of::<T>(p))?;
        let opt = make("fused optimizer state", bytes_of::<T>(o))?;
        let mut entries: Vec<_> = [
            &spec,
            &self.scal,
            &self.hyper,
            &self.x,
            &self.y,
            &self.order,
            &params,
            &opt,
            &self.loss,
        ]
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
        entries[0].resource = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &spec,
            offset: 0,
            size: wgpu::BufferSize::new(spec_bytes),
        });
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("fused"),
            layout: &kernel.layout,
            entries: &entries,
        });
        self.fused = Some(Fused {
            batch,
            kernel,
            bind,
            spec,
            head,
            spec_layers,
            spec_stride,
            steps_per_dispatch,
            params,
            opt,
            offsets,
        });
        self.ctx.check()
    }

    /// Records the fused kernel's `steps` steps: the per-layer parameters and optimizer
    /// state copied into its concatenated buffers, one dispatch per share of at most
    /// `steps_per_dispatch` steps, and the copies back.
    fn record_fused(
        &self,
        enc: &mut wgpu::CommandEncoder,
        steps: usize,
        stamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
    ) {
        let f = self.fused.as_ref().expect("ensure_fused ran");
        let shares = steps.div_ceil(f.steps_per_dispatch);
        let layers: &[u8] = bytemuck::cast_slice(&f.spec_layers);
        for k in 0..shares {
            let first = k * f.steps_per_dispatch;
            let head = FusedHead {
                optimizer: self.params_key.optimizer,
                steps: (steps - first).min(f.steps_per_dispatch) as u32,
                first_step: first as u32,
                ..f.head
            };
            let spec = [bytemuck::bytes_of(&head), layers].concat();
            self.ctx.queue.write_buffer(&f.spec, k as u64 * f.spec_stride, &spec);
        }
        let size = |n: usize| (n * std::mem::size_of::<T>()) as u64;
        // (per-layer buffer, fused buffer, element offset there, elements) for every tensor.
        let pairs: Vec<(&wgpu::Buffer, &wgpu::Buffer, usize, usize)> = self
            .net
            .layers()
            .iter()
            .zip(&self.layers)
            .zip(&f.offsets)
            .flat_map(|((l, g), &[w_off, b_off, o_off])| {
                let n_b = l.bias.as_ref().map_or(0, |b| b.len());
                [
                    (&g.w, &f.params, w_off, l.weights.len()),
                    (&g.b, &f.params, b_off, n_b),
                    (&g.opt, &f.opt, o_off, 2 * (l.weights.len() + l.fan_out())),
                ]
            })
            .filter(|&(_, _, _, n)| n > 0)
            .collect();
        for &(from, to, off, n) in &pairs {
            enc.copy_buffer_to_buffer(from, 0, to, size(off), size(n));
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bprop fused steps"),
                timestamp_writes: stamps,
            });
            pass.set_pipeline(&f.kernel.pipeline);
            for k in 0..shares {
                pass.set_bind_group(0, &f.bind, &[(k as u64 * f.spec_stride) as u32]);
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        for &(layer_buf, fused_buf, off, n) in &pairs {
            enc.copy_buffer_to_buffer(fused_buf, size(off), layer_buf, 0, size(n));
        }
    }

    /// Turns device timing of training calls on or off: with it on, each training
    /// submission's compute pass is bracketed by timestamp queries, read back with the
    /// losses, and summed for [`Engine::take_device_time`]. Returns whether timing is on:
    /// false when the device has no `TIMESTAMP_QUERY`.
    pub fn set_timing(&mut self, on: bool) -> bool {
        match (on, self.ctx.timestamp_period) {
            (true, Some(period)) => {
                if self.timing.is_none() {
                    let dev = &self.ctx.device;
                    self.timing = Some(Timing {
                        queries: dev.create_query_set(&wgpu::QuerySetDescriptor {
                            label: Some("pass timestamps"),
                            ty: wgpu::QueryType::Timestamp,
                            count: 2,
                        }),
                        resolve: dev.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("timestamps"),
                            size: 16,
                            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                            mapped_at_creation: false,
                        }),
                        staging: dev.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("timestamps staging"),
                            size: 16,
                            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                            mapped_at_creation: false,
                        }),
                        period,
                        total_ns: 0.0,
                    });
                }
                true
            }
            _ => {
                self.timing = None;
                false
            }
        }
    }

    /// The device context this engine runs on.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Sizes the activation buffers for batches of `batch` and writes it and the
    /// optimizer's code into the parameter blocks. Buffers only grow, so alternating batch
    /// sizes allocate nothing.
    fn ensure_params(&mut self, key: ParamsKey) -> Result<()> {
        let batch = key.batch;
        let max_groups = self.ctx.limits.max_compute_workgroups_per_dimension as usize;
        if batch > max_groups {
            return Err(BpropError::InvalidArgument {
                name: "batch_size",
                value: batch.to_string(),
                why: format!(
                    "the GPU path dispatches one workgroup row per sample; {} allows {max_groups}",
                    self.ctx.summary.name
                ),
            });
        }
        if batch > self.capacity {
            let dev = &self.ctx.device;
            let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
            let make = |label: &str, n: usize| -> Result<wgpu::Buffer> {
                self.ctx.check_storage_size(label, bytes_of::<T>(n))?;
                Ok(dev.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes_of::<T>(n),
                    usage: storage,
                    mapped_at_creation: false,
                }))
            };
            for (l, layer) in self.net.layers().iter().enumerate() {
                let n = batch * layer.fan_out();
                self.layers[l].z = make(&format!("layer {l} z"), n)?;
                self.layers[l].a = make(&format!("layer {l} activations"), n)?;
                self.layers[l].delta = make(&format!("layer {l} deltas"), n)?;
            }
            let slots = STEPS_PER_SUBMISSION * batch;
            self.ctx.check_storage_size("sample order", (slots * 4) as u64)?;
            self.order = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("order"),
                size: (slots * 4) as u64,
                usage: storage,
                mapped_at_creation: false,
            });
            self.loss = make("losses", slots)?;
            self.capacity = batch;
            self.bindings = self.bind_all();
        }
        if key != self.params_key {
            let last = self.net.layers().len() - 1;
            for (l, layer) in self.net.layers().iter().enumerate() {
                let p = LayerParams {
                    fan_in: layer.fan_in() as u32,
                    fan_out: layer.fan_out() as u32,
                    batch: batch as u32,
                    activation: contract::activation_code(layer.activation),
                    has_bias: u32::from(layer.bias.is_some()),
                    gather: u32::from(l == 0),
                    next_fan_out: if l < last {
                        self.net.layers()[l + 1].fan_out() as u32
                    } else {
                        0
                    },
                    loss: contract::loss_code(self.net.loss()),
                    layer: l as u32,
                    optimizer: key.optimizer,
                    drop_in: if l == 0 { key.drop_input } else { key.drop_hidden },
                    drop_next: if l < last { key.drop_hidden } else { 0 },
                };
                self.ctx
                    .queue
                    .write_buffer(&self.layers[l].params, 0, bytemuck::bytes_of(&p));
            }
            self.params_key = key;
        }
        Ok(())
    }

    fn bind_all(&self) -> Bindings {
        make_bindings(
            &self.ctx,
            &self.kernels,
            &self.layers,
            &self.x,
            &self.y,
            &self.scal,
            &self.hyper,
            &self.state,
            &self.order,
            &self.loss,
        )
    }

    /// Records one step for the current batch size: forward, output and hidden deltas,
    /// gradients, and with `train` the update and the step counter's advance.
    fn record_step(&self, pass: &mut wgpu::ComputePass<'_>, train: bool) {
        let groups = |n: usize| (n as u32).div_ceil(WORKGROUP);
        let tiles = |n: usize| (n as u32).div_ceil(self.kernels.tile.size());
        let batch = self.params_key.batch;
        let b = batch as u32;
        let layers = self.net.layers();
        let last = layers.len() - 1;
        let k = &self.kernels;
        let bg = &self.bindings;
        let tiled = match (self.kernel_choice, &k.tiled) {
            (KernelChoice::Plain, _) | (_, None) => None,
            (KernelChoice::Auto, Some(_)) if batch < TILED_MIN_BATCH => None,
            (_, Some(t)) => Some(t),
        };
        // Layer 0 of a byte-coded dataset reads bytes: its own pipelines (same layouts).
        let layer0 = |i: usize| k.bytes.as_ref().map(|v| &v[i]);
        match tiled {
            Some([fwd, _, _]) => {
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = if l == 0 { layer0(2).unwrap_or(fwd) } else { fwd };
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, &bg.forward[l], &[]);
                    pass.dispatch_workgroups(tiles(layer.fan_out()), tiles(batch), 1);
                }
            }
            None => {
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = if l == 0 {
                        layer0(0).unwrap_or(&k.forward)
                    } else {
                        &k.forward
                    };
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, &bg.forward[l], &[]);
                    pass.dispatch_workgroups(groups(layer.fan_out()), b, 1);
                }
            }
        }
        if layers[last].activation == Activation::Softmax {
            pass.set_pipeline(&k.softmax.pipeline);
            pass.set_bind_group(0, &bg.softmax, &[]);
            pass.dispatch_workgroups(groups(batch), 1, 1);
        }
        pass.set_pipeline(&k.output_delta.pipeline);
        pass.set_bind_group(0, &bg.output_delta, &[]);
        pass.dispatch_workgroups(groups(batch), 1, 1);
        match tiled {
            Some([_, hid, grad]) => {
                pass.set_pipeline(&hid.pipeline);
                for l in (0..last).rev() {
                    pass.set_bind_group(0, &bg.hidden_delta[l], &[]);
                    pass.dispatch_workgroups(tiles(layers[l].fan_out()), tiles(batch), 1);
                }
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = if l == 0 { layer0(3).unwrap_or(grad) } else { grad };
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, &bg.gradient[l], &[]);
                    pass.dispatch_workgroups(tiles(layer.fan_in()), tiles(layer.fan_out()), 1);
                }
            }
            None => {
                pass.set_pipeline(&k.hidden_delta.pipeline);
                for l in (0..last).rev() {
                    pass.set_bind_group(0, &bg.hidden_delta[l], &[]);
                    pass.dispatch_workgroups(groups(layers[l].fan_out()), b, 1);
                }
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = if l == 0 {
                        layer0(1).unwrap_or(&k.gradient)
                    } else {
                        &k.gradient
                    };
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, &bg.gradient[l], &[]);
                    pass.dispatch_workgroups(groups(layer.fan_in()), layer.fan_out() as u32, 1);
                }
            }
        }
        if train {
            pass.set_pipeline(&k.update.pipeline);
            for (l, layer) in layers.iter().enumerate() {
                pass.set_bind_group(0, &bg.update[l], &[]);
                pass.dispatch_workgroups(groups(layer.fan_in()), layer.fan_out() as u32, 1);
            }
            if self.max_norm {
                pass.set_pipeline(&k.max_norm.pipeline);
                for (l, layer) in layers.iter().enumerate() {
                    pass.set_bind_group(0, &bg.max_norm[l], &[]);
                    pass.dispatch_workgroups(groups(layer.fan_out()), 1, 1);
                }
            }
            pass.set_pipeline(&k.advance.pipeline);
            pass.set_bind_group(0, &bg.advance, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
    }

    /// Writes `order` and resets the step counter, records `work` (separate passes for
    /// training or a trace, or the fused kernel), copies `reads` into the staging buffer,
    /// submits, waits and returns the read values, one vector per entry of `reads`
    /// (buffer, first element, element count).
    fn submit(&mut self, order: &[u32], work: Work, reads: &[Read<'_>]) -> Result<Vec<Vec<T>>> {
        let q = &self.ctx.queue;
        q.write_buffer(&self.order, 0, bytemuck::cast_slice(order));
        let t0 = self.opt.map_or(0, |(_, t)| t) as u32;
        let seed = self.dropout_seed;
        let state = SubmissionState {
            step: 0,
            first_step: t0,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
        };
        q.write_buffer(&self.state, 0, bytemuck::bytes_of(&state));
        let mut enc = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("bprop steps"),
        });
        let timed = match (&self.timing, work) {
            (Some(t), Work::Fused { .. } | Work::Steps { train: true, .. }) => Some(&t.queries),
            _ => None,
        };
        let stamps = timed.map(|q| wgpu::ComputePassTimestampWrites {
            query_set: q,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        });
        match work {
            Work::Steps { steps, train } => {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("bprop steps"),
                    timestamp_writes: stamps,
                });
                for _ in 0..steps {
                    self.record_step(&mut pass, train);
                }
            }
            Work::Fused { steps } => self.record_fused(&mut enc, steps, stamps),
        }
        if let (Some(t), Some(_)) = (&self.timing, timed) {
            enc.resolve_query_set(&t.queries, 0..2, &t.resolve, 0);
            enc.copy_buffer_to_buffer(&t.resolve, 0, &t.staging, 0, 16);
        }
        let total: u64 = reads.iter().map(|&(_, _, n)| bytes_of::<T>(n)).sum();
        if self.staging.as_ref().is_none_or(|s| s.size() < total) {
            self.staging = Some(self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("staging"),
                size: total.max(256),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let staging = self.staging.as_ref().expect("just created");
        let mut offset = 0;
        for &(buf, first, n) in reads {
            let size = (n * std::mem::size_of::<T>()) as u64;
            if size > 0 {
                enc.copy_buffer_to_buffer(buf, (first * std::mem::size_of::<T>()) as u64, staging, offset, size);
            }
            offset += bytes_of::<T>(n);
        }
        let index = q.submit([enc.finish()]);
        self.ctx.wait(index)?;
        if timed.is_some() {
            if let Some(t) = self.timing.as_mut() {
                read_timestamps(&self.ctx, t)?;
            }
        }
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let slice = staging.slice(..total);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.ctx
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(crate::gpu::context::SUBMISSION_TIMEOUT),
            })
            .map_err(|e| BpropError::Gpu(format!("waiting for the readback: {e}")))?;
        rx.recv()
            .map_err(|_| BpropError::Gpu("the readback was dropped".into()))?
            .map_err(|e| BpropError::Gpu(format!("mapping the readback buffer: {e}")))?;
        let mut out = Vec::with_capacity(reads.len());
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| BpropError::Gpu(format!("reading the readback buffer: {e}")))?;
            let mut offset = 0usize;
            for &(_, _, n) in reads {
                let size = n * std::mem::size_of::<T>();
                out.push(bytemuck::pod_collect_to_vec::<u8, T>(&view[offset..offset + size]));
                offset += bytes_of::<T>(n) as usize;
            }
        }
        staging.unmap();
        self.ctx.check()?;
        Ok(out)
    }
}

impl<T: Real> GpuEngine<T> {
    /// Uploads `state` into the `opt` buffers (each layer: s₀ W, s₁ W, s₀ b, s₁ b).
    fn write_optimizer_state(&mut self, state: &OptimState<T>) {
        for (l, g) in self.layers.iter().enumerate() {
            let [w0, w1] = &state.weights[l];
            let [b0, b1] = &state.bias[l];
            let flat: Vec<T> = w0
                .iter()
                .chain(w1.iter())
                .chain(b0.iter())
                .chain(b1.iter())
                .copied()
                .collect();
            self.ctx.queue.write_buffer(&g.opt, 0, bytemuck::cast_slice(&flat));
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
        self.ctx.queue.write_buffer(&self.scal, 0, bytemuck::bytes_of(&scalars));
        self.max_norm = hyper.max_norm.is_some();
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
                .write_buffer(&self.hyper, 0, bytemuck::cast_slice(&per_step));
            let loss = self.loss.clone();
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
            .map(|(l, g)| (g.opt.clone(), 2 * (l.weights.len() + l.fan_out())))
            .collect();
        let refs: Vec<Read<'_>> = bufs.iter().map(|(b, n)| (b, 0, *n)).collect();
        let values = self.submit(&[0], Work::Steps { steps: 0, train: false }, &refs)?;
        let mut state = OptimState::new(optimizer, &self.net);
        state.step = step;
        for (l, v) in values.iter().enumerate() {
            let (nw, fo) = (self.net.layers()[l].weights.len(), self.net.layers()[l].fan_out());
            let dim = self.net.layers()[l].weights.dim();
            state.weights[l] = [
                Array2::from_shape_vec(dim, v[..nw].to_vec()).expect("shape as allocated"),
                Array2::from_shape_vec(dim, v[nw..2 * nw].to_vec()).expect("shape as allocated"),
            ];
            state.bias[l] = [
                Array1::from(v[2 * nw..2 * nw + fo].to_vec()),
                Array1::from(v[2 * nw + fo..].to_vec()),
            ];
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
        reads.push((self.loss.clone(), batch));
        let mut refs: Vec<Read<'_>> = reads.iter().map(|(b, n)| (b, 0, *n)).collect();
        let (ni, no) = (self.net.inputs(), self.net.outputs());
        let (x, y) = (self.x.clone(), self.y.clone());
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

/// Adds the last timed submission's pass time (end − beginning timestamp) to the total.
fn read_timestamps(ctx: &GpuContext, t: &mut Timing) -> Result<()> {
    let slice = t.staging.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(crate::gpu::context::SUBMISSION_TIMEOUT),
        })
        .map_err(|e| BpropError::Gpu(format!("waiting for the timestamps: {e}")))?;
    rx.recv()
        .map_err(|_| BpropError::Gpu("the timestamp readback was dropped".into()))?
        .map_err(|e| BpropError::Gpu(format!("mapping the timestamps: {e}")))?;
    let ticks: [u64; 2] = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| BpropError::Gpu(format!("reading the timestamps: {e}")))?;
        bytemuck::pod_read_unaligned(&view[..16])
    };
    t.staging.unmap();
    t.total_ns += ticks[1].saturating_sub(ticks[0]) as f64 * t.period;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_bindings(
    ctx: &GpuContext,
    k: &Kernels,
    layers: &[GpuLayer],
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    scal: &wgpu::Buffer,
    hyper: &wgpu::Buffer,
    state: &wgpu::Buffer,
    order: &wgpu::Buffer,
    loss: &wgpu::Buffer,
) -> Bindings {
    let group = |kernel: &Kernel, bufs: &[&wgpu::Buffer]| {
        let entries: Vec<_> = bufs
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        })
    };
    let last = layers.len() - 1;
    let a_in = |l: usize| if l == 0 { x } else { &layers[l - 1].a };
    let out = &layers[last];
    Bindings {
        forward: (0..layers.len())
            .map(|l| {
                let g = &layers[l];
                group(
                    &k.forward,
                    &[&g.params, &g.w, &g.b, a_in(l), order, state, scal, &g.z, &g.a],
                )
            })
            .collect(),
        softmax: group(&k.softmax, &[&out.params, &out.z, &out.a]),
        output_delta: group(
            &k.output_delta,
            &[&out.params, &out.z, &out.a, y, order, state, scal, &out.delta, loss],
        ),
        hidden_delta: (0..last)
            .map(|l| {
                let (g, next) = (&layers[l], &layers[l + 1]);
                group(
                    &k.hidden_delta,
                    &[&g.params, &next.w, &next.delta, &g.a, scal, &g.delta, state],
                )
            })
            .collect(),
        gradient: (0..layers.len())
            .map(|l| {
                let g = &layers[l];
                group(
                    &k.gradient,
                    &[&g.params, &g.delta, a_in(l), order, state, &g.gw, &g.gb, scal],
                )
            })
            .collect(),
        update: layers
            .iter()
            .map(|g| {
                group(
                    &k.update,
                    &[&g.params, scal, hyper, state, &g.gw, &g.gb, &g.w, &g.b, &g.opt],
                )
            })
            .collect(),
        max_norm: layers
            .iter()
            .map(|g| group(&k.max_norm, &[&g.params, scal, &g.w]))
            .collect(),
        advance: group(&k.advance, &[state]),
    }
}
