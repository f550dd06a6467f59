//! Bind groups: each pass's buffers in the order `contract::bindings` gives, one set per
//! batch capacity (rebuilt when the capacity grows).

use super::{GpuEngine, GpuLayer, Kernels, Shared};
use crate::gpu::context::GpuContext;
use crate::gpu::shaders::Kernel;
use crate::model::Real;

/// Bind groups for one batch capacity (rebuilt when the capacity grows).
pub(super) struct Bindings {
    pub(super) forward: Vec<wgpu::BindGroup>,
    pub(super) softmax: wgpu::BindGroup,
    pub(super) output_delta: wgpu::BindGroup,
    pub(super) hidden_delta: Vec<wgpu::BindGroup>,
    pub(super) gradient: Vec<wgpu::BindGroup>,
    /// `bias_gradient.wgsl`'s, per layer (used with the subgroup reductions).
    pub(super) bias: Vec<wgpu::BindGroup>,
    pub(super) update: Vec<wgpu::BindGroup>,
    pub(super) max_norm: Vec<wgpu::BindGroup>,
    pub(super) advance: wgpu::BindGroup,
}

impl<T: Real> GpuEngine<T> {
    /// The bind groups for the current buffers.
    pub(super) fn bind_all(&self) -> Bindings {
        make_bindings(&self.ctx, &self.kernels, &self.layers, &self.shared)
    }
}

/// Every pass's bind groups over `layers` and `shared`, each listing its buffers in
/// [`contract::bindings`](crate::gpu::contract::bindings)' order (`tests/gpu/shaders.rs`
/// checks the WGSL side against that list).
pub(super) fn make_bindings(ctx: &GpuContext, k: &Kernels, layers: &[GpuLayer], shared: &Shared) -> Bindings {
    let Shared {
        x,
        y,
        scal,
        hyper,
        state,
        order,
        loss,
    } = shared;
    let group_in = |layout: &wgpu::BindGroupLayout, bufs: &[&wgpu::Buffer]| {
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
            layout,
            entries: &entries,
        })
    };
    let group = |kernel: &Kernel, bufs: &[&wgpu::Buffer]| group_in(&kernel.layout, bufs);
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
        bias: layers
            .iter()
            .map(|g| group_in(&k.bias_layout, &[&g.params, &g.delta, &g.gb]))
            .collect(),
        update: layers
            .iter()
            .map(|g| {
                group(
                    &k.update,
                    &[
                        &g.params, scal, hyper, state, &g.gw, &g.gb, &g.w, &g.b, &g.opt[0], &g.opt[1],
                    ],
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
