//! Recording and submitting work: one training step's dispatches (plain or tiled), and a
//! submission that writes the sample order, records many steps (or the fused kernel's),
//! copies the requested buffers to staging and reads them back once at its end.

use super::kernels::{ProductKernels, ProductPass};
use super::readback::read_mapped;
use super::{bytes_of, read_timestamps, GpuEngine, KernelChoice, Read, TILED_MIN_BATCH};
use crate::error::Result;
use crate::gpu::contract::SubmissionState;
use crate::gpu::shaders::{update_run, Product, WORKGROUP};
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
    /// Whether the current kernel choice and batch size take the product (tiled) passes,
    /// and their variants are compiled.
    pub(super) fn tiled_for_batch(&self) -> bool {
        match self.kernel_choice {
            KernelChoice::Plain => false,
            KernelChoice::Auto if self.params_key.batch < TILED_MIN_BATCH => false,
            _ => self.missing_product().is_none(),
        }
    }

    /// Layer `l`'s kernels for `pass` (compiled: [`Self::tiled_for_batch`] checked).
    fn product_kernels(&self, l: usize, pass: ProductPass) -> (&ProductKernels, (u32, u32)) {
        let p = self.product_for_shape(l, pass);
        (&self.kernels.products[&p], p.block())
    }

    /// The variant that runs layer `l`'s `pass` product at the current batch size: the one
    /// chosen for it, or that one's fallback where it does not fit the shape
    /// ([`Product::for_shape`]; compiled alongside it).
    pub(super) fn product_for_shape(&self, l: usize, pass: ProductPass) -> Product {
        self.products[l][pass as usize].for_shape(pass.pass(), self.product_mnk(l, pass))
    }

    /// The (M, N, K) of layer `l`'s `pass` product at the current batch size.
    pub(super) fn product_mnk(&self, l: usize, pass: ProductPass) -> [usize; 3] {
        let (m, n) = self.product_mn(l, pass);
        let layers = self.net.layers();
        let k = match pass {
            ProductPass::Forward => layers[l].fan_in(),
            ProductPass::HiddenDelta => layers[l + 1].fan_out(),
            ProductPass::Gradient => self.params_key.batch,
        };
        [m, n, k]
    }

    /// The (M, N) of layer `l`'s `pass` product at the current batch size.
    pub(super) fn product_mn(&self, l: usize, pass: ProductPass) -> (usize, usize) {
        let layers = self.net.layers();
        let b = self.params_key.batch;
        match pass {
            // Zᵀ = W Ãᵀ (forward_tiled.wgsl).
            ProductPass::Forward => (layers[l].fan_out(), b),
            ProductPass::HiddenDelta => (b, layers[l].fan_out()),
            ProductPass::Gradient => (layers[l].fan_out(), layers[l].fan_in()),
        }
    }

    /// Records layer `l`'s `pass` product with its chosen variant (`bytes`: layer 0 reading
    /// a byte-coded dataset).
    pub(super) fn dispatch_product(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        l: usize,
        which: ProductPass,
        bind_group: &wgpu::BindGroup,
        bytes: bool,
    ) {
        let (k, (bm, bn)) = self.product_kernels(l, which);
        // Compiled before recording: by set_product_choice (every pass of a fixed variant
        // and its fallback) or tune_products (each product's pass at its shape).
        let kernel = k
            .get(which, bytes)
            .expect("the product kernel is compiled before the step is recorded");
        let (m, n) = self.product_mn(l, which);
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups((n as u32).div_ceil(bn), (m as u32).div_ceil(bm), 1);
    }

    /// Records the forward passes of one step for the current batch size (every layer,
    /// then the softmax of a softmax output), and with `loss` the output delta pass that
    /// writes the per-sample losses.
    /// With `external`, layer 0 and the output pass bind the inference buffers
    /// (`GpuEngine::infer_rows`: real-valued rows, so the plain kernels' real variants).
    fn record_forward(&self, pass: &mut wgpu::ComputePass<'_>, loss: bool, external: bool) {
        let groups = |n: usize| (n as u32).div_ceil(WORKGROUP);
        let batch = self.params_key.batch;
        let b = batch as u32;
        let layers = self.net.layers();
        let last = layers.len() - 1;
        let k = &self.kernels;
        let bg = match (&self.infer_bindings, external) {
            (Some(b), true) => b,
            _ => &self.bindings,
        };
        // Layer 0 of a byte-coded dataset reads bytes: its own pipelines (same layouts).
        let bytes = k.bytes.as_ref().filter(|_| !external);
        match self.tiled_for_batch() {
            true => {
                for l in 0..layers.len() {
                    let on_bytes = l == 0 && bytes.is_some();
                    self.dispatch_product(pass, l, ProductPass::Forward, &bg.forward[l], on_bytes);
                }
            }
            false => {
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
        // One row per invocation, or per subgroup (the reductions' variant).
        if layers[last].activation == Activation::Softmax {
            pass.set_pipeline(&k.softmax.pipeline);
            pass.set_bind_group(0, &bg.softmax, &[]);
            pass.dispatch_workgroups(k.reduce_groups(batch), 1, 1);
        }
        if loss {
            pass.set_pipeline(&k.output_delta.pipeline);
            pass.set_bind_group(0, &bg.output_delta, &[]);
            pass.dispatch_workgroups(k.reduce_groups(batch), 1, 1);
        }
    }

    /// Records one step for the current batch size: forward, output and hidden deltas,
    /// gradients, and with `train` the update and the step counter's advance.
    pub(super) fn record_step(&self, pass: &mut wgpu::ComputePass<'_>, train: bool) {
        self.record_forward(pass, true, false);
        let groups = |n: usize| (n as u32).div_ceil(WORKGROUP);
        let b = self.params_key.batch as u32;
        let layers = self.net.layers();
        let last = layers.len() - 1;
        let k = &self.kernels;
        let bg = &self.bindings;
        let bytes = k.bytes.as_ref();
        match self.tiled_for_batch() {
            true => {
                for l in (0..last).rev() {
                    self.dispatch_product(pass, l, ProductPass::HiddenDelta, &bg.hidden_delta[l], false);
                }
                for (l, layer) in layers.iter().enumerate() {
                    let on_bytes = l == 0 && bytes.is_some();
                    self.dispatch_product(pass, l, ProductPass::Gradient, &bg.gradient[l], on_bytes);
                    // With the subgroup reductions the product leaves the bias sum to this.
                    if let (Some(bias), Some(_)) = (&k.bias, &layer.bias) {
                        pass.set_pipeline(&bias.pipeline);
                        pass.set_bind_group(0, &bg.bias[l], &[]);
                        pass.dispatch_workgroups(k.reduce_groups(layer.fan_out()), 1, 1);
                    }
                }
            }
            false => {
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
        for (l, layer) in layers.iter().enumerate() {
            // Rows 16-byte aligned: W and its gradient four at a time (the same bits).
            let wide = self.wide_update && layer.fan_in() % 4 == 0;
            pass.set_pipeline(&if wide { &k.update_wide } else { &k.update }.pipeline);
            pass.set_bind_group(0, &bg.update[l], &[]);
            let runs = layer.fan_in().div_ceil(update_run(wide) as usize);
            pass.dispatch_workgroups(groups(runs), layer.fan_out() as u32, 1);
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
        // Under tuning, the product variants for this batch size (the writes above land
        // before the tuning submissions, which change no buffer the work reads first).
        match work {
            Work::Steps { steps, .. } if steps > 0 => self.tune_products(false)?,
            Work::Forward { .. } => self.tune_products(true)?,
            _ => {}
        }
        let q = &self.ctx.queue;
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
