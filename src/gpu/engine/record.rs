//! Recording and submitting work: one training step's dispatches (plain or tiled), and a
//! submission that writes the sample order, records many steps (or the fused kernel's),
//! copies the requested buffers to staging and reads them back once at its end.

use super::kernels::TiledKernels;
use super::readback::read_mapped;
use super::{bytes_of, read_timestamps, GpuEngine, KernelChoice, Read, TILED_MIN_BATCH};
use crate::error::Result;
use crate::gpu::contract::SubmissionState;
use crate::gpu::shaders::WORKGROUP;
use crate::model::{Activation, Real};

/// What one submission records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Work {
    /// `steps` steps of separate passes; with `train` the updates too (else a trace).
    Steps { steps: usize, train: bool },
    /// `steps` training steps in one dispatch of the fused kernel.
    Fused { steps: usize },
    /// `steps` forward passes (inference): each step's output activations copied to the
    /// engine's `outputs` buffer at row `step · B`, and with `loss` the per-sample losses
    /// written to `loss` (`infer.rs`). With `external` the rows and targets are read from
    /// the inference buffers (`GpuEngine::infer_rows`) instead of the engine's dataset.
    Forward { steps: usize, loss: bool, external: bool },
    /// One step's update from the gradients already in the layers' gradient buffers
    /// (data-parallel training: a gradient summed over the ranks), then the step counter.
    Update,
}

impl<T: Real> GpuEngine<T> {
    /// The tiled kernels when the current kernel choice and batch size take them.
    fn tiled_for_batch(&self) -> Option<&TiledKernels> {
        match (self.kernel_choice, &self.kernels.tiled) {
            (KernelChoice::Plain, _) | (_, None) => None,
            (KernelChoice::Auto, Some(_)) if self.params_key.batch < TILED_MIN_BATCH => None,
            (_, Some(t)) => Some(t),
        }
    }

    /// Records the forward passes of one step for the current batch size (every layer,
    /// then the softmax of a softmax output), and with `loss` the output delta pass that
    /// writes the per-sample losses.
    /// With `external`, layer 0 and the output pass bind the inference buffers
    /// (`GpuEngine::infer_rows`: real-valued rows, so the plain kernels' real variants).
    fn record_forward(&self, pass: &mut wgpu::ComputePass<'_>, loss: bool, external: bool) {
        let groups = |n: usize| (n as u32).div_ceil(WORKGROUP);
        let tiles = |n: usize| (n as u32).div_ceil(self.kernels.tile.size());
        let batch = self.params_key.batch;
        let b = batch as u32;
        let layers = self.net.layers();
        let last = layers.len() - 1;
        let k = &self.kernels;
        let bg = match (&self.infer_bindings, external) {
            (Some(b), true) => b,
            _ => &self.bindings,
        };
        let tiled = self.tiled_for_batch();
        // Layer 0 of a byte-coded dataset reads bytes: its own pipelines (same layouts).
        let bytes = k.bytes.as_ref().filter(|_| !external);
        let bytes_tiled = bytes.and_then(|b| b.tiled.as_ref());
        match tiled {
            Some(t) => {
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = match bytes_tiled {
                        Some((forward, _)) if l == 0 => forward,
                        _ => &t.forward,
                    };
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, &bg.forward[l], &[]);
                    pass.dispatch_workgroups(tiles(layer.fan_out()), tiles(batch), 1);
                }
            }
            None => {
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = match bytes {
                        Some(b) if l == 0 => &b.forward,
                        _ => &k.forward,
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
        if loss {
            pass.set_pipeline(&k.output_delta.pipeline);
            pass.set_bind_group(0, &bg.output_delta, &[]);
            pass.dispatch_workgroups(groups(batch), 1, 1);
        }
    }

    /// Records one step for the current batch size: forward, output and hidden deltas,
    /// gradients, and with `train` the update and the step counter's advance.
    pub(super) fn record_step(&self, pass: &mut wgpu::ComputePass<'_>, train: bool) {
        self.record_forward(pass, true, false);
        let groups = |n: usize| (n as u32).div_ceil(WORKGROUP);
        let tiles = |n: usize| (n as u32).div_ceil(self.kernels.tile.size());
        let batch = self.params_key.batch;
        let b = batch as u32;
        let layers = self.net.layers();
        let last = layers.len() - 1;
        let k = &self.kernels;
        let bg = &self.bindings;
        let bytes = k.bytes.as_ref();
        let bytes_tiled = bytes.and_then(|b| b.tiled.as_ref());
        match self.tiled_for_batch() {
            Some(t) => {
                pass.set_pipeline(&t.hidden_delta.pipeline);
                for l in (0..last).rev() {
                    pass.set_bind_group(0, &bg.hidden_delta[l], &[]);
                    pass.dispatch_workgroups(tiles(layers[l].fan_out()), tiles(batch), 1);
                }
                for (l, layer) in layers.iter().enumerate() {
                    let kernel = match bytes_tiled {
                        Some((_, gradient)) if l == 0 => gradient,
                        _ => &t.gradient,
                    };
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
                    let kernel = match bytes {
                        Some(b) if l == 0 => &b.gradient,
                        _ => &k.gradient,
                    };
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, &bg.gradient[l], &[]);
                    pass.dispatch_workgroups(groups(layer.fan_in()), layer.fan_out() as u32, 1);
                }
            }
        }
        if train {
            self.record_update(pass);
        }
    }

    /// Records one step's update from the gradient buffers: the optimizer's rule per
    /// layer, max-norm when set, and the step counter's advance.
    fn record_update(&self, pass: &mut wgpu::ComputePass<'_>) {
        let groups = |n: usize| (n as u32).div_ceil(WORKGROUP);
        let (k, bg, layers) = (&self.kernels, &self.bindings, self.net.layers());
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

    /// Writes `order` and resets the step counter, records `work` (separate passes for
    /// training or a trace, or the fused kernel), copies `reads` into the staging buffer,
    /// submits, waits and returns the read values, one vector per entry of `reads`
    /// (buffer, first element, element count).
    pub(super) fn submit(&mut self, order: &[u32], work: Work, reads: &[Read<'_>]) -> Result<Vec<Vec<T>>> {
        let q = &self.ctx.queue;
        q.write_buffer(&self.shared.order, 0, bytemuck::cast_slice(order));
        let t0 = self.opt.map_or(0, |(_, t)| t) as u32;
        let seed = self.dropout_seed;
        let state = SubmissionState {
            step: 0,
            first_step: t0,
            first_row: self.first_row,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
        };
        q.write_buffer(&self.shared.state, 0, bytemuck::bytes_of(&state));
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
            Work::Update => {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("bprop update"),
                    timestamp_writes: None,
                });
                self.record_update(&mut pass);
            }
            Work::Forward { steps, loss, external } => {
                let outputs = self.outputs.as_ref().expect("infer sizes the outputs buffer");
                let last = &self.layers[self.layers.len() - 1];
                let row_bytes = (self.net.outputs() * std::mem::size_of::<T>()) as u64;
                let step_bytes = self.params_key.batch as u64 * row_bytes;
                for step in 0..steps {
                    {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("bprop forward"),
                            timestamp_writes: None,
                        });
                        self.record_forward(&mut pass, loss, external);
                        pass.set_pipeline(&self.kernels.advance.pipeline);
                        pass.set_bind_group(0, &self.bindings.advance, &[]);
                        pass.dispatch_workgroups(1, 1, 1);
                    }
                    enc.copy_buffer_to_buffer(&last.a, 0, outputs, step as u64 * step_bytes, step_bytes);
                }
            }
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
        let out = read_mapped(&self.ctx, staging, total, "the readback buffer", |view| {
            let mut offset = 0usize;
            reads
                .iter()
                .map(|&(_, _, n)| {
                    let size = n * std::mem::size_of::<T>();
                    let v = bytemuck::pod_collect_to_vec::<u8, T>(&view[offset..offset + size]);
                    offset += bytes_of::<T>(n) as usize;
                    v
                })
                .collect::<Vec<Vec<T>>>()
        })?;
        self.ctx.check()?;
        Ok(out)
    }
}
