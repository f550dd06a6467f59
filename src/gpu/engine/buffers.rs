//! The engine's per-layer device buffers and the parameter blocks that describe them to
//! the passes, sized once per batch capacity.

use super::{bytes_of, GpuEngine, STEPS_PER_SUBMISSION};
use crate::error::{BpropError, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::contract::{self, LayerParams};
use crate::model::Real;
use wgpu::util::DeviceExt;

/// What the parameter blocks encode besides the architecture: batch size, optimizer code,
/// and the dropout keep thresholds of the input and the hidden layers (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ParamsKey {
    pub(super) batch: usize,
    pub(super) optimizer: u32,
    pub(super) drop_input: u32,
    pub(super) drop_hidden: u32,
}

/// The buffers every layer's passes share (handles: a clone names the same buffers).
#[derive(Clone)]
pub(super) struct Shared {
    /// The dataset's inputs (`real`, or packed bytes for a byte-coded dataset).
    pub(super) x: wgpu::Buffer,
    /// The dataset's targets.
    pub(super) y: wgpu::Buffer,
    /// [`contract::Scalars`] and the layers' slopes.
    pub(super) scal: wgpu::Buffer,
    /// Per-step [`contract::StepValues`] of one submission.
    pub(super) hyper: wgpu::Buffer,
    /// [`contract::SubmissionState`].
    pub(super) state: wgpu::Buffer,
    /// Per-step sample indices, `STEPS_PER_SUBMISSION · capacity` entries.
    pub(super) order: wgpu::Buffer,
    /// Per-sample losses of the steps of one submission, same length as `order`.
    pub(super) loss: wgpu::Buffer,
}

/// One layer's device buffers.
pub(super) struct GpuLayer {
    pub(super) params: wgpu::Buffer,
    pub(super) w: wgpu::Buffer,
    /// The bias, or a one-element placeholder for layers without one (never read then).
    pub(super) b: wgpu::Buffer,
    pub(super) z: wgpu::Buffer,
    pub(super) a: wgpu::Buffer,
    pub(super) delta: wgpu::Buffer,
    pub(super) gw: wgpu::Buffer,
    pub(super) gb: wgpu::Buffer,
    /// Optimizer state, one buffer per slot s: [s_s of W, s_s of b] (`shaders/update.wgsl`;
    /// per slot so that each binding holds one value per parameter).
    pub(super) opt: [wgpu::Buffer; 2],
}

impl<T: Real> GpuEngine<T> {
    /// Sizes the activation buffers for batches of `batch` and writes it and the
    /// optimizer's code into the parameter blocks. Buffers only grow, so alternating batch
    /// sizes allocate nothing.
    pub(super) fn ensure_params(&mut self, key: ParamsKey) -> Result<()> {
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
            self.shared.order = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("order"),
                size: (slots * 4) as u64,
                usage: storage,
                mapped_at_creation: false,
            });
            self.shared.loss = make("losses", slots)?;
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
}

/// A storage buffer holding `values` (16 zero bytes when there are none: wgpu refuses
/// empty buffers), after checking its size against the adapter's binding limit.
///
/// # Errors
/// [`crate::BpropError::Gpu`] naming `label` when the buffer is over the limit.
pub(super) fn upload<E: bytemuck::Pod>(
    ctx: &GpuContext,
    label: &str,
    values: &[E],
    usage: wgpu::BufferUsages,
) -> Result<wgpu::Buffer> {
    ctx.check_storage_size(label, bytes_of::<E>(values.len()))?;
    let contents: &[u8] = if values.is_empty() {
        &[0; 16]
    } else {
        bytemuck::cast_slice(values)
    };
    Ok(ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents,
        usage,
    }))
}
