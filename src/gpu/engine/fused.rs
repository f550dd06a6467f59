//! The whole-step (fused) kernel for small networks: whether a call can take it, its
//! workgroup size and loop budget, building it for a batch size, and recording its
//! dispatches (`shaders/fused.wgsl`, ARCHITECTURE.md "The fused kernel").

use super::{bytes_of, GpuEngine, KernelChoice, STEPS_PER_SUBMISSION};
use crate::error::{BpropError, Result};
use crate::gpu::contract::{self, FusedHead, FusedLayer};
use crate::gpu::shaders::{self, FusedCaps, Kernel};
use crate::model::{Activation, Dropout, Hyper, Loss, Precision, Real};

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
pub(super) struct Fused {
    pub(super) batch: usize,
    pub(super) kernel: Kernel,
    pub(super) bind: wgpu::BindGroup,
    pub(super) spec: wgpu::Buffer,
    /// The network's description; `steps` and `first_step` differ between dispatches.
    pub(super) head: FusedHead,
    /// One entry per layer, after `head` in `spec`.
    pub(super) spec_layers: Vec<FusedLayer>,
    /// Bytes between the dispatches' copies of `spec` (the adapter's offset alignment).
    pub(super) spec_stride: u64,
    /// Steps per dispatch, within [`FUSED_LOOP_BUDGET`].
    pub(super) steps_per_dispatch: usize,
    pub(super) params: wgpu::Buffer,
    /// The optimizer state, one buffer per slot (as the per-layer `opt` buffers).
    pub(super) opt: [wgpu::Buffer; 2],
    /// Per layer: offsets (elements) of W and b in `params`, of the optimizer state in each
    /// of `opt`'s slots.
    pub(super) offsets: Vec<[usize; 3]>,
}

impl<T: Real> GpuEngine<T> {
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
    pub(super) fn fused_workgroup(&self, batch: usize) -> u32 {
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
    pub(super) fn ensure_fused(&mut self, batch: usize, caps: FusedCaps) -> Result<()> {
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
            o += n_w + layer.fan_out();
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
        let opt = [
            make("fused optimizer state s0", bytes_of::<T>(o))?,
            make("fused optimizer state s1", bytes_of::<T>(o))?,
        ];
        let mut entries: Vec<_> = [
            &spec,
            &self.shared.scal,
            &self.shared.hyper,
            &self.shared.x,
            &self.shared.y,
            &self.shared.order,
            &params,
            &opt[0],
            &opt[1],
            &self.shared.loss,
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
    pub(super) fn record_fused(
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
                    (&g.opt[0], &f.opt[0], o_off, l.weights.len() + l.fan_out()),
                    (&g.opt[1], &f.opt[1], o_off, l.weights.len() + l.fan_out()),
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
}
