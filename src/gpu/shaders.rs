//! WGSL sources and compute pipelines. Each pass is one file in `shaders/`, compiled with
//! the precision prelude (`real_f32.wgsl` or `real_f64.wgsl`) and `common.wgsl` in front.

use crate::error::{BpropError, Result};
use crate::model::{Precision, Real};

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
    /// `forward_tiled.wgsl`: [`Pass::Forward`] as a register-tiled matrix product, for batches.
    ForwardTiled,
    /// `hidden_delta_tiled.wgsl`: [`Pass::HiddenDelta`], tiled.
    HiddenDeltaTiled,
    /// `gradient_tiled.wgsl`: [`Pass::Gradient`], tiled.
    GradientTiled,
    /// `fused.wgsl`: every pass of many steps of a small network in one workgroup, its
    /// parameters in workgroup memory (compiled per network by [`build_fused`]).
    Fused,
}

impl Pass {
    /// Every pass, in the order a step runs them.
    pub const ALL: [Pass; 12] = [
        Pass::Forward,
        Pass::Softmax,
        Pass::OutputDelta,
        Pass::HiddenDelta,
        Pass::Gradient,
        Pass::Update,
        Pass::MaxNorm,
        Pass::Advance,
        Pass::ForwardTiled,
        Pass::HiddenDeltaTiled,
        Pass::GradientTiled,
        Pass::Fused,
    ];

    /// The kinds of group 0's bindings, in binding order, as the WGSL file declares them.
    /// Explicit (not derived from the shader) so that a plain pass and its tiled twin share
    /// one bind group layout, and so one bind group serves both pipelines.
    ///
    /// Binding 0, the layer's `LayerParams`, is a read-only *storage* buffer, not a uniform
    /// buffer: lavapipe (Mesa 22.3) inlines uniform values that steer loops and branches
    /// into specialised shader variants, and with these passes it recompiled the forward
    /// pass at every dispatch (5 ms and ~40 KB of JIT code each, never freed). Storage
    /// reads are not inlined. The cost is one more storage binding per pass (9 at most),
    /// which the adapter's own limits allow (checked when an engine is built).
    pub fn bindings(self) -> &'static [Binding] {
        use Binding::{Read as R, Write as W};
        match self {
            Pass::Forward | Pass::ForwardTiled => &[R, R, R, R, R, R, R, W, W],
            Pass::Softmax | Pass::MaxNorm => &[R, R, W],
            Pass::OutputDelta => &[R, R, R, R, R, R, R, W, W],
            Pass::HiddenDelta | Pass::HiddenDeltaTiled => &[R, R, R, R, R, W, R],
            Pass::Gradient | Pass::GradientTiled => &[R, R, R, R, R, W, W, R],
            Pass::Update => &[R, R, R, R, R, R, W, W, W],
            Pass::Advance => &[W],
            Pass::Fused => &[R, R, R, R, R, R, W, W, W],
        }
    }

    /// Whether this is a tiled pass (tile.wgsl, fixed 16 × 16 workgroups).
    pub fn is_tiled(self) -> bool {
        matches!(self, Pass::ForwardTiled | Pass::HiddenDeltaTiled | Pass::GradientTiled)
    }

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
            Pass::ForwardTiled => "forward_tiled.wgsl",
            Pass::HiddenDeltaTiled => "hidden_delta_tiled.wgsl",
            Pass::GradientTiled => "gradient_tiled.wgsl",
            Pass::Fused => "fused.wgsl",
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
            Pass::ForwardTiled => include_str!("../../shaders/forward_tiled.wgsl"),
            Pass::HiddenDeltaTiled => include_str!("../../shaders/hidden_delta_tiled.wgsl"),
            Pass::GradientTiled => include_str!("../../shaders/gradient_tiled.wgsl"),
            Pass::Fused => include_str!("../../shaders/fused.wgsl"),
        }
    }
}

/// How a pass reads its input `a_in` (see common.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// `array<real>`: activations, or a dataset stored in `real`.
    Real,
    /// `array<u32>` of packed bytes, x = byte / `scal[8]`: a byte-coded dataset (MNIST) kept
    /// at a quarter of f32's size, for layer 0's forward and gradient passes.
    Bytes,
}

/// The output block of a tiled pass's workgroup (`tile.wgsl`): 16 × 16 invocations, each
/// computing an RT × RT block of outputs, so a TILE × TILE block per workgroup with
/// TILE = 16 RT. Larger blocks load less from workgroup memory per multiply-add; smaller
/// ones give more workgroups to a small matrix (784-800-10 at batch 128 makes 2 × 13
/// workgroups of 64 × 64 for its forward product, too few for a GPU with 100+ cores).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tile {
    /// 32 × 32 outputs per workgroup, 2 × 2 per invocation.
    T32,
    /// 64 × 64 outputs per workgroup, 4 × 4 per invocation (the default; the only size
    /// measured so far, on lavapipe: ARCHITECTURE.md).
    #[default]
    T64,
    /// 128 × 128 outputs per workgroup, 8 × 8 per invocation.
    T128,
}

impl Tile {
    /// Every size, smallest first.
    pub const ALL: [Tile; 3] = [Tile::T32, Tile::T64, Tile::T128];

    /// RT: the outputs per invocation along each side.
    pub fn per_invocation(self) -> u32 {
        match self {
            Tile::T32 => 2,
            Tile::T64 => 4,
            Tile::T128 => 8,
        }
    }

    /// TILE: the outputs per workgroup along each side (16 RT).
    pub fn size(self) -> u32 {
        16 * self.per_invocation()
    }

    /// The constants `tile.wgsl` is written over.
    fn constants(self) -> String {
        let rt = self.per_invocation();
        format!(
            "const RT: u32 = {rt}u;\nconst TILE: u32 = {}u;\nconst TK: u32 = 16u;\n\
             const TILE_TK: u32 = {}u;\nconst RT_RT: u32 = {}u;\n",
            16 * rt,
            16 * rt * 16,
            rt * rt
        )
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.size();
        write!(f, "{n}x{n}")
    }
}

impl std::str::FromStr for Tile {
    type Err = crate::BpropError;
    fn from_str(s: &str) -> Result<Self> {
        Tile::ALL
            .into_iter()
            .find(|t| s == t.size().to_string() || s == t.to_string())
            .ok_or_else(|| crate::BpropError::UnknownName {
                kind: "tile size",
                name: s.to_string(),
                expected: "32, 64, 128",
            })
    }
}

/// The complete WGSL source of `pass` in precision `T`, reading real-valued inputs.
pub fn source<T: Real>(pass: Pass) -> String {
    source_with::<T>(pass, Input::Real)
}

/// [`source_tiled`] with the default tile.
pub fn source_with<T: Real>(pass: Pass, input: Input) -> String {
    source_tiled::<T>(pass, input, Tile::default())
}

/// The complete WGSL source of `pass` in precision `T`: prelude, common definitions, the
/// tile helpers for tiled passes (with `tile`'s constants), the pass, for passes that read
/// the layer's input through `input_at` that function (`input.wgsl`), for passes that read
/// `a_in` its `load_in`, and for the passes that update parameters the optimizer's rule
/// (`optim.wgsl`).
pub fn source_tiled<T: Real>(pass: Pass, input: Input, tile: Tile) -> String {
    let prelude = if T::PRECISION == Precision::F64 {
        include_str!("../../shaders/real_f64.wgsl")
    } else {
        include_str!("../../shaders/real_f32.wgsl")
    };
    let tile = if pass.is_tiled() {
        format!("{}{}", tile.constants(), include_str!("../../shaders/tile.wgsl"))
    } else {
        String::new()
    };
    let mut body = pass.body().to_string();
    if body.contains("input_at(") {
        body.push('\n');
        body.push_str(include_str!("../../shaders/input.wgsl"));
    }
    if body.contains("load_in(") {
        let load_in = match input {
            Input::Real => "\nfn load_in(i: u32) -> real {\n    return a_in[i];\n}\n",
            Input::Bytes => {
                body = body.replace("a_in: array<real>;", "a_in: array<u32>;");
                "\n// x = byte i of the packed array / d (d = scal[8], e.g. 255 for pixels)\n\
                 fn load_in(i: u32) -> real {\n    \
                 return real((a_in[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu) / scal[8];\n}\n"
            }
        };
        body.push_str(load_in);
    }
    if matches!(pass, Pass::Update | Pass::Fused) {
        body.push('\n');
        body.push_str(include_str!("../../shaders/optim.wgsl"));
    }
    format!(
        "{prelude}\n{}\n{tile}\n{body}",
        include_str!("../../shaders/common.wgsl")
    )
}

/// The most storage buffers any pass binds (forward, output delta, update: 9).
pub fn max_storage_bindings() -> u32 {
    Pass::ALL.iter().map(|p| p.bindings().len() as u32).max().unwrap_or(0)
}

/// Workgroup memory a tiled pass with `tile` needs: two slices of TILE × 16 elements
/// (`tile.wgsl`).
pub fn tiled_workgroup_bytes<T: Real>(tile: Tile) -> u32 {
    2 * tile.size() * 16 * std::mem::size_of::<T>() as u32
}

/// Index of layer 0's leaky slope in the `scal` buffer (`SLOPE_BASE` in common.wgsl); the
/// optimizer's constants, λ, the max-norm, the dropout scales and the byte divisor come first.
pub const SLOPE_BASE: usize = 9;

/// The workgroup size used for every 1-D and 2-D pass (the `WG` override constant).
/// 64 is a multiple of every vendor's SIMD width (32 NVIDIA, 64 AMD, 8–16 Intel, 8 lavapipe).
pub const WORKGROUP: u32 = 64;

/// The kind of one binding of a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    Write,
}

/// Creates the bind group layout `bindings` describe (visible to compute shaders).
pub fn bind_group_layout(device: &wgpu::Device, label: &str, bindings: &[Binding]) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match b {
                    Binding::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Binding::Write => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

/// One compiled pass: its pipeline and the bind group layout its bindings follow.
#[derive(Debug)]
pub struct Kernel {
    /// The compute pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Group 0's layout ([`Pass::bindings`]).
    pub layout: wgpu::BindGroupLayout,
}

/// Compiles `pass` for precision `T` on `device`, turning validation errors into
/// [`BpropError::Gpu`] that names the file.
pub fn build<T: Real>(device: &wgpu::Device, pass: Pass) -> Result<Kernel> {
    build_with_layout::<T>(device, pass, None)
}

/// Compiles `pass` with group 0 laid out as `layout` (a twin's, so that one bind group
/// serves both pipelines), or as [`Pass::bindings`] describes when `None`.
pub fn build_with_layout<T: Real>(
    device: &wgpu::Device,
    pass: Pass,
    layout: Option<&wgpu::BindGroupLayout>,
) -> Result<Kernel> {
    build_variant::<T>(device, pass, layout, Input::Real)
}

/// [`build_with_layout`] for a given way of reading the input.
pub fn build_variant<T: Real>(
    device: &wgpu::Device,
    pass: Pass,
    layout: Option<&wgpu::BindGroupLayout>,
    input: Input,
) -> Result<Kernel> {
    build_tiled::<T>(device, pass, layout, input, Tile::default())
}

/// [`build_variant`] with the tile size of a tiled pass (ignored by the others).
pub fn build_tiled<T: Real>(
    device: &wgpu::Device,
    pass: Pass,
    layout: Option<&wgpu::BindGroupLayout>,
    input: Input,
    tile: Tile,
) -> Result<Kernel> {
    let wg = if pass == Pass::Advance || pass.is_tiled() {
        None
    } else {
        Some(WORKGROUP)
    };
    compile::<T>(device, pass, source_tiled::<T>(pass, input, tile), layout, wg)
}

/// The workgroup arrays of [`Pass::Fused`], in elements (`CAP_*` in fused.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedCaps {
    /// Every weight and bias of the network.
    pub params: usize,
    /// The batch's input rows and every layer's activations: B · (n_in + Σ units).
    pub activations: usize,
    /// Every layer's deltas: B · Σ units.
    pub deltas: usize,
    /// The output layer's z: B · n_out.
    pub z: usize,
}

impl FusedCaps {
    /// Workgroup memory the arrays take in precision `T`.
    pub fn bytes<T: Real>(&self) -> usize {
        (self.params + self.activations + self.deltas + self.z) * std::mem::size_of::<T>()
    }
}

/// The WGSL source of [`Pass::Fused`] with its workgroup arrays sized by `caps`.
pub fn fused_source<T: Real>(caps: FusedCaps) -> String {
    let mut src = source::<T>(Pass::Fused);
    for (name, n) in [
        ("CAP_P", caps.params),
        ("CAP_ACT", caps.activations),
        ("CAP_DELTA", caps.deltas),
        ("CAP_Z", caps.z),
    ] {
        let line = format!("const {name}: u32 = 1u;");
        debug_assert!(src.contains(&line), "fused.wgsl declares {line}");
        src = src.replace(&line, &format!("const {name}: u32 = {}u;", n.max(1)));
    }
    src
}

/// Compiles [`Pass::Fused`] for arrays of `caps` and workgroups of `wg` invocations. Its
/// binding 0 (`spec`) takes a dynamic offset (one copy per dispatch of a submission) and
/// `spec_bytes` bytes from there.
pub fn build_fused<T: Real>(device: &wgpu::Device, caps: FusedCaps, wg: u32, spec_bytes: u64) -> Result<Kernel> {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = Pass::Fused
        .bindings()
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: *b == Binding::Read,
                },
                has_dynamic_offset: i == 0,
                min_binding_size: if i == 0 {
                    wgpu::BufferSize::new(spec_bytes)
                } else {
                    None
                },
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(Pass::Fused.file()),
        entries: &entries,
    });
    compile::<T>(device, Pass::Fused, fused_source::<T>(caps), Some(&layout), Some(wg))
}

/// Compiles `source` as `pass`, with the override `WG` set to `wg` when given, turning
/// validation errors into [`BpropError::Gpu`] that names the file.
fn compile<T: Real>(
    device: &wgpu::Device,
    pass: Pass,
    source: String,
    layout: Option<&wgpu::BindGroupLayout>,
    wg: Option<u32>,
) -> Result<Kernel> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(pass.file()),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let wg_constant = [("WG", f64::from(wg.unwrap_or(WORKGROUP)))];
    let constants: &[(&str, f64)] = if wg.is_some() { &wg_constant } else { &[] };
    let layout = match layout {
        Some(l) => l.clone(),
        None => bind_group_layout(device, pass.file(), pass.bindings()),
    };
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(pass.file()),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(pass.file()),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    });
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(BpropError::Gpu(format!(
            "shaders/{} ({}) does not build: {err}",
            pass.file(),
            T::NAME
        )));
    }
    Ok(Kernel { pipeline, layout })
}
