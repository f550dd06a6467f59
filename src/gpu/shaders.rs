//! WGSL sources and compute pipelines. Each pass is one file in `shaders/`, compiled with
//! the precision prelude (`real_f32.wgsl` or `real_f64.wgsl`) and `common.wgsl` in front.

use crate::error::{BpropError, Result};
use crate::model::Real;

/// The passes of a training step, one WGSL file each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// `forward.wgsl`: z = W a + b, a = f(z).
    Forward,
    /// `softmax.wgsl`: row-wise softmax of the output layer.
    Softmax,
    /// `output_delta.wgsl`: δ_L and the per-sample loss.
    OutputDelta,
    /// `hidden_delta.wgsl`: δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l).
    HiddenDelta,
    /// `gradient.wgsl`: ∂E/∂W = mean δ aᵀ, ∂E/∂b = mean δ.
    Gradient,
    /// `update.wgsl`: the optimizer's update of W and b.
    Update,
    /// `max_norm.wgsl`: ‖W[i, :]‖₂ ≤ c.
    MaxNorm,
    /// `advance.wgsl`: step counter + 1.
    Advance,
}

impl Pass {
    /// Every pass, in the order a step runs them.
    pub const ALL: [Pass; 8] = [
        Pass::Forward,
        Pass::Softmax,
        Pass::OutputDelta,
        Pass::HiddenDelta,
        Pass::Gradient,
        Pass::Update,
        Pass::MaxNorm,
        Pass::Advance,
    ];

    /// The file name in `shaders/`.
    pub fn file(self) -> &'static str {
        match self {
            Pass::Forward => "forward.wgsl",
            Pass::Softmax => "softmax.wgsl",
            Pass::OutputDelta => "output_delta.wgsl",
            Pass::HiddenDelta => "hidden_delta.wgsl",
            Pass::Gradient => "gradient.wgsl",
            Pass::Update => "update.wgsl",
            Pass::MaxNorm => "max_norm.wgsl",
            Pass::Advance => "advance.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Pass::Forward => include_str!("../../shaders/forward.wgsl"),
            Pass::Softmax => include_str!("../../shaders/softmax.wgsl"),
            Pass::OutputDelta => include_str!("../../shaders/output_delta.wgsl"),
            Pass::HiddenDelta => include_str!("../../shaders/hidden_delta.wgsl"),
            Pass::Gradient => include_str!("../../shaders/gradient.wgsl"),
            Pass::Update => include_str!("../../shaders/update.wgsl"),
            Pass::MaxNorm => include_str!("../../shaders/max_norm.wgsl"),
            Pass::Advance => include_str!("../../shaders/advance.wgsl"),
        }
    }
}

/// The complete WGSL source of `pass` in precision `T`: prelude, common definitions, pass.
pub fn source<T: Real>(pass: Pass) -> String {
    let prelude = if T::NAME == "f64" {
        include_str!("../../shaders/real_f64.wgsl")
    } else {
        include_str!("../../shaders/real_f32.wgsl")
    };
    format!(
        "{prelude}\n{}\n{}",
        include_str!("../../shaders/common.wgsl"),
        pass.body()
    )
}

/// Index of layer 0's leaky slope in the `scal` buffer (`SLOPE_BASE` in common.wgsl); the
/// optimizer's constants, λ and the max-norm come first.
pub const SLOPE_BASE: usize = 8;

/// The workgroup size used for every 1-D and 2-D pass (the `WG` override constant).
/// 64 is a multiple of every vendor's SIMD width (32 NVIDIA, 64 AMD, 8–16 Intel, 8 lavapipe).
pub const WORKGROUP: u32 = 64;

/// One compiled pass: its pipeline and the bind group layout its bindings follow.
#[derive(Debug)]
pub struct Kernel {
    /// The compute pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Group 0's layout, derived from the shader.
    pub layout: wgpu::BindGroupLayout,
}

/// Compiles `pass` for precision `T` on `device`, turning validation errors into
/// [`BpropError::Gpu`] that names the file.
pub fn build<T: Real>(device: &wgpu::Device, pass: Pass) -> Result<Kernel> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(pass.file()),
        source: wgpu::ShaderSource::Wgsl(source::<T>(pass).into()),
    });
    let constants: &[(&str, f64)] = if pass == Pass::Advance {
        &[]
    } else {
        &[("WG", WORKGROUP as f64)]
    };
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(pass.file()),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    });
    let layout = pipeline.get_bind_group_layout(0);
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(BpropError::Gpu(format!(
            "shaders/{} ({}) does not build: {err}",
            pass.file(),
            T::NAME
        )));
    }
    Ok(Kernel { pipeline, layout })
}
