//! WGSL sources and compute pipelines. Each pass is one file in `shaders/`; every compiled
//! variant is named by one [`ShaderKey`] (pass, precision, input kind, product variant,
//! reduction variant, fused capacities), whose [`ShaderKey::source`] assembles, in this
//! order: the precision
//! prelude
//! (`real_f32.wgsl` or `real_f64.wgsl`), the contract's generated header
//! ([`contract::wgsl_header`]), `common.wgsl`, the variant's constants (tile and register
//! block sizes, fused capacities, the input's element type, and for passes that read an
//! input the `Packed` element of the bindings the four-wide kernels read as `vec4<real>`),
//! the product variant's file for tiled passes ([`Product`]: its `main`), the pass, the
//! files it includes ([`Pass::includes`]), and for [`Product::Vec4`] the four-wide loads
//! (`input4.wgsl`, `load_*4.wgsl`, the pass's `*_vec4.wgsl`): listed explicitly, never
//! found by searching the text, and never edited by text replacement.

use crate::error::{BpropError, Result};
use crate::gpu::contract::{self, Access};
use crate::model::Precision;

/// The passes of a training step, one WGSL file each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// `update4.wgsl`: [`Pass::Update`] reading and writing W and its gradient four at a
    /// time, for layers whose rows are 16-byte aligned (fan_in % 4 = 0); same bits.
    UpdateWide,
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
    /// `bias_gradient.wgsl`: ∂E/∂b = mean δ, one subgroup per neuron, after
    /// [`Pass::GradientTiled`] with [`Reduce::Subgroup`] (which then leaves the bias out).
    BiasGradient,
}

impl Pass {
    /// Every pass, in the order a step runs them.
    pub const ALL: [Pass; 14] = [
        Pass::Forward,
        Pass::Softmax,
        Pass::OutputDelta,
        Pass::HiddenDelta,
        Pass::Gradient,
        Pass::Update,
        Pass::UpdateWide,
        Pass::MaxNorm,
        Pass::Advance,
        Pass::ForwardTiled,
        Pass::HiddenDeltaTiled,
        Pass::GradientTiled,
        Pass::Fused,
        Pass::BiasGradient,
    ];

    /// Group 0's bindings, in order ([`contract::bindings`]).
    pub fn bindings(self) -> &'static [contract::Slot] {
        contract::bindings(self)
    }

    /// The files appended after the pass's own (in this order): the shared input reader
    /// of the tiled forward and gradient passes, the input's element reader for the passes
    /// that bind `a_in`, and the optimizer's rule for the passes that update parameters.
    pub fn includes(self) -> &'static [Include] {
        match self {
            Pass::Forward | Pass::Gradient => &[Include::LoadIn],
            Pass::ForwardTiled | Pass::GradientTiled => &[Include::InputAt, Include::LoadIn],
            Pass::Update | Pass::UpdateWide | Pass::Fused => &[Include::Optim],
            Pass::Softmax
            | Pass::OutputDelta
            | Pass::HiddenDelta
            | Pass::HiddenDeltaTiled
            | Pass::MaxNorm
            | Pass::Advance
            | Pass::BiasGradient => &[],
        }
    }

    /// Whether the pass binds the layer's input `a_in`, and so has a byte-reading variant.
    pub fn reads_input(self) -> bool {
        self.includes().contains(&Include::LoadIn)
    }

    /// Whether this is a tiled pass (tile.wgsl, fixed 16 × 16 workgroups).
    pub fn is_tiled(self) -> bool {
        matches!(self, Pass::ForwardTiled | Pass::HiddenDeltaTiled | Pass::GradientTiled)
    }

    /// The reduction variants the pass has ([`Reduce`]; the first is [`ShaderKey::new`]'s).
    pub fn reductions(self) -> &'static [Reduce] {
        match self {
            Pass::Softmax | Pass::OutputDelta | Pass::GradientTiled => &Reduce::ALL,
            Pass::BiasGradient => &[Reduce::Subgroup],
            _ => &[Reduce::Serial],
        }
    }

    /// The file name in `shaders/` (of its [`Reduce::Serial`] variant where it has two;
    /// [`ShaderKey::file`] names each variant's).
    pub fn file(self) -> &'static str {
        match self {
            Pass::Forward => "forward.wgsl",
            Pass::Softmax => "softmax.wgsl",
            Pass::OutputDelta => "output_delta.wgsl",
            Pass::HiddenDelta => "hidden_delta.wgsl",
            Pass::Gradient => "gradient.wgsl",
            Pass::Update => "update.wgsl",
            Pass::UpdateWide => "update4.wgsl",
            Pass::MaxNorm => "max_norm.wgsl",
            Pass::Advance => "advance.wgsl",
            Pass::ForwardTiled => "forward_tiled.wgsl",
            Pass::HiddenDeltaTiled => "hidden_delta_tiled.wgsl",
            Pass::GradientTiled => "gradient_tiled.wgsl",
            Pass::Fused => "fused.wgsl",
            Pass::BiasGradient => "bias_gradient.wgsl",
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
            Pass::UpdateWide => include_str!("../../shaders/update4.wgsl"),
            Pass::MaxNorm => include_str!("../../shaders/max_norm.wgsl"),
            Pass::Advance => include_str!("../../shaders/advance.wgsl"),
            Pass::ForwardTiled => include_str!("../../shaders/forward_tiled.wgsl"),
            Pass::HiddenDeltaTiled => include_str!("../../shaders/hidden_delta_tiled.wgsl"),
            Pass::GradientTiled => include_str!("../../shaders/gradient_tiled.wgsl"),
            Pass::Fused => include_str!("../../shaders/fused.wgsl"),
            Pass::BiasGradient => include_str!("../../shaders/bias_gradient.wgsl"),
        }
    }
}

/// How the reductions over a row of the batch are computed: the softmax's max and
/// Σ e^{z−m} (`softmax.wgsl`), the per-sample loss's Σ_k (`output_delta.wgsl`), and the
/// bias gradient's Σ_r δ[r, i] of the tiled gradient (`gradient_tiled.wgsl`). Both
/// variants add the same values in the same order, so they give the same bits
/// (`tests/gpu/reduce.rs`); only who loads and computes the terms differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduce {
    /// One invocation per row loops over it (the fallback, on any adapter).
    #[default]
    Serial,
    /// One subgroup per row (`softmax_subgroup.wgsl`, `output_delta_subgroup.wgsl`, and
    /// `bias_gradient.wgsl` after the tiled gradient, whose bias sum is then left out):
    /// the lanes load the row's elements and compute their terms side by side, and every
    /// lane adds the terms in the serial order, fetched with `subgroupShuffle`. Needs
    /// `SUBGROUP`, with subgroup sizes that are powers of two (any size: 8, 32, 64, …).
    Subgroup,
}

impl Reduce {
    /// Both variants.
    pub const ALL: [Reduce; 2] = [Reduce::Serial, Reduce::Subgroup];
}

impl std::fmt::Display for Reduce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reduce::Serial => "serial",
            Reduce::Subgroup => "subgroup",
        })
    }
}

impl std::str::FromStr for Reduce {
    type Err = crate::BpropError;
    fn from_str(s: &str) -> Result<Self> {
        Reduce::ALL
            .into_iter()
            .find(|r| r.to_string() == s)
            .ok_or_else(|| crate::BpropError::UnknownName {
                kind: "reduction",
                name: s.to_string(),
                expected: "serial, subgroup",
            })
    }
}

/// A WGSL file appended to a pass ([`Pass::includes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Include {
    /// `input.wgsl`: `input_at`, the layer's input with the gather and dropout applied.
    InputAt,
    /// `load_real.wgsl` or `load_bytes.wgsl` (by [`Input`]): `load_in`, one element of `a_in`.
    LoadIn,
    /// `optim.wgsl`: `step_rule` and `rule_*`, the optimizer's rules.
    Optim,
}

/// How a pass reads its input `a_in` (`InputWord`, `load_in`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Input {
    /// `array<real>`: activations, or a dataset stored in `real`.
    #[default]
    Real,
    /// `array<u32>` of packed bytes, x = byte / `scal.byte_divisor`: a byte-coded dataset
    /// (MNIST) kept at a quarter of f32's size, for layer 0's forward and gradient passes.
    Bytes,
}

impl Input {
    /// Both kinds.
    pub const ALL: [Input; 2] = [Input::Real, Input::Bytes];
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

    /// The constants `tile.wgsl` is written over, as WGSL.
    pub fn constants(self) -> String {
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

/// How a product pass ([`Pass::is_tiled`]: the forward, hidden-delta and gradient matrix
/// products of a batch) computes its product: one WGSL file per variant, each defining the
/// pass's `main` over the element loads and epilogue the pass defines (`tile.wgsl` states
/// the interface). Every variant sums k in order from 0 into one accumulator per output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// `tile.wgsl`: 16 × 16 invocations stage TILE × 16 slices of both operands in
    /// workgroup memory between barriers (the default, [`Tile::T64`]).
    Workgroup(Tile),
    /// `product_register.wgsl`: a 4 × 4 register block per invocation loaded straight from
    /// global memory, 8 × 8 invocations (32 × 32 outputs): no workgroup memory, no barrier.
    Register,
    /// `product_subgroup.wgsl`: one subgroup of 8 invocations per workgroup, (8·RA) × 32
    /// outputs for RA = 2, 4 or 8 rows of A per lane; the subgroup broadcasts each lane's A
    /// elements, so 6 loads feed 64 multiply-adds per lane (RA = 2), 8 feed 128, 12 feed 256. Needs
    /// `SUBGROUP` and subgroups of exactly 8 invocations (lavapipe; Intel's SIMD8).
    Subgroup(u32),
    /// [`Product::Subgroup`]'s block with four-wide loads (`vec4<real>` bindings), RA = 4 or
    /// 8: `product_vec4_k.wgsl` for the forward product (A and B both run along k in
    /// memory; needs K % 4 = 0) and `product_vec4_mn.wgsl` for the gradient (A runs along
    /// m, B along n; needs M % 4 = N % 4 = 0): a quarter of the loads. The hidden-delta
    /// product (A along k, B along n) and shapes that are not 4-aligned run its
    /// [`Product::fallback`], the subgroup kernel of the same block ([`Product::fits`]).
    Vec4(u32),
    /// [`Product::Workgroup`] staging its slices in four-wide runs, consecutive invocations
    /// on consecutive 16 bytes, transposed on store where the layout asks
    /// (`tile_stage_k4.wgsl` for the forward product, `tile_stage_mn4.wgsl` for the
    /// gradient): the coalesced, vectorised loads GPUs with wide memory transactions want.
    /// The same shapes as [`Product::Vec4`] [fit](Product::fits); the rest run
    /// [`Product::Workgroup`] at the same tile.
    WorkgroupVec4(Tile),
}

impl Default for Product {
    fn default() -> Self {
        Product::Workgroup(Tile::default())
    }
}

/// The register variant's workgroup side (`WGX` = `WGY` overrides of
/// `product_register.wgsl`): 64 invocations, a multiple of every vendor's SIMD width.
pub const REGISTER_WG: u32 = 8;

/// The subgroup size `product_subgroup.wgsl` is written for.
pub const SUBGROUP_LANES: u32 = 8;

impl Product {
    /// Every variant there is.
    pub const ALL: [Product; 11] = [
        Product::Workgroup(Tile::T32),
        Product::Workgroup(Tile::T64),
        Product::Workgroup(Tile::T128),
        Product::Register,
        Product::Subgroup(2),
        Product::Subgroup(4),
        Product::Subgroup(8),
        Product::Vec4(4),
        Product::Vec4(8),
        Product::WorkgroupVec4(Tile::T64),
        Product::WorkgroupVec4(Tile::T128),
    ];

    /// Whether the variant has a kernel for `pass` at the shape M × N × K (`mnk`):
    /// [`Product::Vec4`]'s four-wide loads need 16-byte aligned runs (K % 4 = 0 for the
    /// forward product, M % 4 = N % 4 = 0 for the gradient) and it has no hidden-delta
    /// kernel; [`Product::WorkgroupVec4`] also needs 4 or more outputs per invocation along
    /// a row (its element-wise epilogue rewrites one element of a vec4 of ∂E/∂W, so one
    /// invocation must own each vec4: never at [`Tile::T32`], 2 per invocation); every
    /// other variant runs every pass at every shape.
    pub fn fits(self, pass: Pass, mnk: [usize; 3]) -> bool {
        let [m, n, k] = mnk;
        match self {
            Product::WorkgroupVec4(t) if t.per_invocation() < 4 => false,
            Product::Vec4(_) | Product::WorkgroupVec4(_) => match pass {
                Pass::ForwardTiled => k % 4 == 0,
                Pass::GradientTiled => m % 4 == 0 && n % 4 == 0,
                _ => false,
            },
            _ => true,
        }
    }

    /// The variant that runs a product this one does not [fit](Product::fits): the subgroup
    /// kernel of the same block for [`Product::Vec4`], the element-wise staging of the same
    /// tile for [`Product::WorkgroupVec4`] (the same sums in the same order, so the same
    /// bits); itself for the others.
    pub fn fallback(self) -> Product {
        match self {
            Product::Vec4(ra) => Product::Subgroup(ra),
            Product::WorkgroupVec4(t) => Product::Workgroup(t),
            p => p,
        }
    }

    /// The variant that runs `pass` at `mnk`: this one where it [fits](Product::fits), else
    /// its [fallback](Product::fallback).
    pub fn for_shape(self, pass: Pass, mnk: [usize; 3]) -> Product {
        if self.fits(pass, mnk) {
            self
        } else {
            self.fallback()
        }
    }

    /// The output block of one workgroup, (rows BM, columns BN): the dispatch is
    /// (⌈N / BN⌉, ⌈M / BM⌉, 1).
    pub fn block(self) -> (u32, u32) {
        match self {
            Product::Workgroup(t) | Product::WorkgroupVec4(t) => (t.size(), t.size()),
            Product::Register => (4 * REGISTER_WG, 4 * REGISTER_WG),
            Product::Subgroup(ra) | Product::Vec4(ra) => (ra * SUBGROUP_LANES, 4 * SUBGROUP_LANES),
        }
    }

    /// The workgroup's shape (x, y).
    pub fn workgroup(self) -> (u32, u32) {
        match self {
            Product::Workgroup(_) | Product::WorkgroupVec4(_) => (16, 16),
            Product::Register => (REGISTER_WG, REGISTER_WG),
            Product::Subgroup(_) | Product::Vec4(_) => (SUBGROUP_LANES, 1),
        }
    }

    /// Invocations per workgroup.
    pub fn invocations(self) -> u32 {
        let (x, y) = self.workgroup();
        x * y
    }

    /// Workgroup memory the variant needs in `precision` (bytes; 0 for all but
    /// [`Product::Workgroup`]).
    pub fn workgroup_bytes(self, precision: Precision) -> u32 {
        match self {
            Product::Workgroup(t) | Product::WorkgroupVec4(t) => tiled_workgroup_bytes(precision, t),
            _ => 0,
        }
    }

    /// The constants the variant's file is written over, as WGSL (the workgroup tile's,
    /// the subgroup kernel's rows per lane).
    pub fn constants(self) -> String {
        match self {
            Product::Workgroup(t) | Product::WorkgroupVec4(t) => t.constants(),
            Product::Register => String::new(),
            Product::Subgroup(ra) | Product::Vec4(ra) => format!("const RA: u32 = {ra}u;\n"),
        }
    }

    /// Whether the variant's kernels use subgroup operations (need `SUBGROUP`).
    pub fn uses_subgroups(self) -> bool {
        matches!(self, Product::Subgroup(_) | Product::Vec4(_))
    }

    /// The variant's WGSL file for `pass` (only [`Product::Vec4`]'s depends on it; the
    /// forward product's for a pass it does not [fit](Product::fits)).
    pub fn file(self, pass: Pass) -> &'static str {
        match self {
            Product::Workgroup(_) | Product::WorkgroupVec4(_) => "tile.wgsl",
            Product::Register => "product_register.wgsl",
            Product::Subgroup(_) => "product_subgroup.wgsl",
            Product::Vec4(_) if pass == Pass::GradientTiled => "product_vec4_mn.wgsl",
            Product::Vec4(_) => "product_vec4_k.wgsl",
        }
    }

    /// Whether the variant reads `w`, `delta` and a real-valued `a_in` four-wide, bound as
    /// `vec4<real>` (`Packed`).
    pub fn packs4(self) -> bool {
        matches!(self, Product::Vec4(_) | Product::WorkgroupVec4(_))
    }

    /// The file appended to the variant's own for `pass`: the staging of the workgroup
    /// variants (`tile.wgsl` calls `tile_stage`), the block edges the 8-lane subgroup
    /// kernels share (`product_lanes8.wgsl`: `sg_row`, `sg_col`, `sg_store_block`,
    /// `sg_rows_done`).
    fn companion(self, pass: Pass) -> Option<&'static str> {
        match self {
            Product::Workgroup(_) => Some(include_str!("../../shaders/tile_stage.wgsl")),
            Product::WorkgroupVec4(_) if pass == Pass::GradientTiled => {
                Some(include_str!("../../shaders/tile_stage_mn4.wgsl"))
            }
            Product::WorkgroupVec4(_) => Some(include_str!("../../shaders/tile_stage_k4.wgsl")),
            Product::Subgroup(_) => Some(include_str!("../../shaders/product_lanes8.wgsl")),
            Product::Vec4(_) if pass != Pass::GradientTiled => Some(include_str!("../../shaders/product_lanes8.wgsl")),
            _ => None,
        }
    }

    fn body(self, pass: Pass) -> &'static str {
        match self {
            Product::Workgroup(_) | Product::WorkgroupVec4(_) => include_str!("../../shaders/tile.wgsl"),
            Product::Register => include_str!("../../shaders/product_register.wgsl"),
            Product::Subgroup(_) => include_str!("../../shaders/product_subgroup.wgsl"),
            Product::Vec4(_) if pass == Pass::GradientTiled => include_str!("../../shaders/product_vec4_mn.wgsl"),
            Product::Vec4(_) => include_str!("../../shaders/product_vec4_k.wgsl"),
        }
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Product::Workgroup(t) => write!(f, "workgroup-{}", t.size()),
            Product::Register => write!(f, "register-4x4"),
            Product::Subgroup(ra) => write!(f, "subgroup-{}x32", 8 * ra),
            Product::Vec4(ra) => write!(f, "subgroup-vec4-{}x32", 8 * ra),
            Product::WorkgroupVec4(t) => write!(f, "workgroup-vec4-{}", t.size()),
        }
    }
}

impl std::str::FromStr for Product {
    type Err = crate::BpropError;
    fn from_str(s: &str) -> Result<Self> {
        Product::ALL
            .into_iter()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| crate::BpropError::UnknownName {
                kind: "product kernel",
                name: s.to_string(),
                expected: "workgroup-32, workgroup-64, workgroup-128, register-4x4, subgroup-16x32, subgroup-32x32, subgroup-64x32, subgroup-vec4-32x32, subgroup-vec4-64x32, workgroup-vec4-64, workgroup-vec4-128",
            })
    }
}

/// Everything that makes one compiled variant of a pass different from another. Every
/// pipeline the engine builds comes from one key, and `tests/gpu/shaders.rs` validates the
/// source of every key [`ShaderKey::all`] lists, with no device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShaderKey {
    /// The pass.
    pub pass: Pass,
    /// `real`'s type.
    pub precision: Precision,
    /// How `a_in` is read (only for passes that [read an input](Pass::reads_input); else
    /// [`Input::Real`]).
    pub input: Input,
    /// The product variant of a tiled pass (only for [`Pass::is_tiled`]; else the default).
    pub product: Product,
    /// The reduction variant (one of [`Pass::reductions`]).
    pub reduce: Reduce,
    /// The workgroup arrays of [`Pass::Fused`] (only for it; else `None`).
    pub caps: Option<FusedCaps>,
}

impl ShaderKey {
    /// `pass` in `precision`, reading real-valued inputs, with the default tile; the
    /// fused kernel with one-element arrays (use [`ShaderKey::fused`] for a network).
    pub fn new(pass: Pass, precision: Precision) -> Self {
        ShaderKey {
            pass,
            precision,
            input: Input::Real,
            product: Product::default(),
            reduce: pass.reductions()[0],
            caps: (pass == Pass::Fused).then_some(FusedCaps::MIN),
        }
    }

    /// The fused kernel for arrays of `caps`.
    pub fn fused(precision: Precision, caps: FusedCaps) -> Self {
        ShaderKey {
            caps: Some(caps),
            ..ShaderKey::new(Pass::Fused, precision)
        }
    }

    /// This key reading `input` (ignored by passes without `a_in`).
    pub fn with_input(self, input: Input) -> Self {
        let input = if self.pass.reads_input() { input } else { Input::Real };
        ShaderKey { input, ..self }
    }

    /// This key with [`Product::Workgroup`] at `tile` (ignored by passes that are not tiled).
    pub fn with_tile(self, tile: Tile) -> Self {
        self.with_product(Product::Workgroup(tile))
    }

    /// This key with the product variant `product` (ignored by passes that are not tiled;
    /// a variant with no kernel for the pass, [`Product::Vec4`]'s hidden delta, gives its
    /// [fallback](Product::fallback)).
    pub fn with_product(self, product: Product) -> Self {
        let product = match (self.pass.is_tiled(), product) {
            (false, _) => Product::default(),
            (true, p) if p.packs4() && self.pass == Pass::HiddenDeltaTiled => p.fallback(),
            (true, p) => p,
        };
        ShaderKey { product, ..self }
    }

    /// This key with the reduction variant `reduce` (ignored by passes that have one
    /// variant only, [`Pass::reductions`]).
    pub fn with_reduce(self, reduce: Reduce) -> Self {
        let reductions = self.pass.reductions();
        let reduce = if reductions.contains(&reduce) {
            reduce
        } else {
            reductions[0]
        };
        ShaderKey { reduce, ..self }
    }

    /// Every variant there is, up to the fused kernel's capacities (taken once, at
    /// [`FusedCaps::MIN`]): each pass × precision × input kind it can read × product
    /// variant it can take × reduction variant it has.
    pub fn all() -> Vec<ShaderKey> {
        let mut keys = Vec::new();
        for precision in [Precision::F32, Precision::F64] {
            for pass in Pass::ALL {
                let inputs: &[Input] = if pass.reads_input() {
                    &Input::ALL
                } else {
                    &[Input::Real]
                };
                let products: &[Product] = if pass.is_tiled() {
                    &Product::ALL
                } else {
                    &[Product::Workgroup(Tile::T64)]
                };
                for &input in inputs {
                    for &product in products {
                        for &reduce in pass.reductions() {
                            let key = ShaderKey::new(pass, precision)
                                .with_input(input)
                                .with_product(product)
                                .with_reduce(reduce);
                            // A four-wide variant's hidden delta is its fallback, listed already.
                            if key.product == product {
                                keys.push(key);
                            }
                        }
                    }
                }
            }
        }
        keys
    }

    /// The workgroup size to give the `WG` override, for passes that have it: the tiled
    /// passes and `advance.wgsl` fix theirs; the fused kernel's is chosen per network.
    fn default_workgroup(self) -> Option<u32> {
        match self.pass {
            Pass::Advance | Pass::ForwardTiled | Pass::HiddenDeltaTiled | Pass::GradientTiled => None,
            _ => Some(WORKGROUP),
        }
    }

    /// Whether the variant uses subgroup operations (needs `SUBGROUP`): the subgroup
    /// product kernel, and the subgroup reductions — except the tiled gradient's variant
    /// for them, which only leaves its bias sum to [`Pass::BiasGradient`].
    pub fn uses_subgroups(&self) -> bool {
        let product = self.pass.is_tiled() && self.product.uses_subgroups();
        let reduce = self.reduce == Reduce::Subgroup && self.pass != Pass::GradientTiled;
        product || reduce
    }

    /// Whether `a_in` and the product's other operand are read four at a time
    /// ([`Product::Vec4`], [`Product::WorkgroupVec4`]): bound as arrays of `vec4<real>`
    /// (`Packed`).
    fn packs4(&self) -> bool {
        self.pass.is_tiled() && self.product.packs4()
    }

    /// The pass's file in `shaders/` for this variant.
    pub fn file(&self) -> &'static str {
        match (self.pass, self.reduce) {
            (Pass::Softmax, Reduce::Subgroup) => "softmax_subgroup.wgsl",
            (Pass::OutputDelta, Reduce::Subgroup) => "output_delta_subgroup.wgsl",
            (pass, _) => pass.file(),
        }
    }

    fn body(&self) -> &'static str {
        match (self.pass, self.reduce) {
            (Pass::Softmax, Reduce::Subgroup) => include_str!("../../shaders/softmax_subgroup.wgsl"),
            (Pass::OutputDelta, Reduce::Subgroup) => include_str!("../../shaders/output_delta_subgroup.wgsl"),
            (pass, _) => pass.body(),
        }
    }

    /// The complete WGSL source of this variant (the module's doc gives the order).
    pub fn source(&self) -> String {
        let prelude = match self.precision {
            Precision::F32 => include_str!("../../shaders/real_f32.wgsl"),
            Precision::F64 => include_str!("../../shaders/real_f64.wgsl"),
        };
        let mut s = format!(
            "{prelude}\n{}\n{}\n",
            contract::wgsl_header(),
            include_str!("../../shaders/common.wgsl")
        );
        s.push_str("// Constants of this variant (src/gpu/shaders.rs, ShaderKey).\n");
        if self.pass.is_tiled() {
            s.push_str(&self.product.constants());
        }
        if let Some(caps) = self.caps {
            s.push_str(&caps.constants());
        }
        if matches!(self.pass, Pass::Update | Pass::UpdateWide) {
            let run = update_run(self.pass == Pass::UpdateWide);
            s.push_str(&format!("const UPDATE_RUN: u32 = {run}u;\n"));
        }
        if self.pass == Pass::GradientTiled {
            let in_product = self.reduce == Reduce::Serial;
            s.push_str(&format!("const BIAS_IN_PRODUCT: bool = {in_product};\n"));
        }
        if self.pass.reads_input() {
            // How a binding read four at a time is declared: `Packed` elements, one `real`
            // (or four, for the vec4 kernels) each; `unpack` gives element c of one,
            // `packed_with` one with element c replaced.
            s.push_str(if self.packs4() {
                "alias Packed = vec4<real>;\nconst PACK_SHIFT: u32 = 2u;\nconst PACK_MASK: u32 = 3u;\n\
                 fn unpack(v: Packed, c: u32) -> real {\n    return v[c];\n}\n\
                 fn packed_with(v: Packed, c: u32, x: real) -> Packed {\n    var p = v;\n    p[c] = x;\n    return p;\n}\n"
            } else {
                "alias Packed = real;\nconst PACK_SHIFT: u32 = 0u;\nconst PACK_MASK: u32 = 0u;\n\
                 fn unpack(v: Packed, c: u32) -> real {\n    return v;\n}\n\
                 fn packed_with(v: Packed, c: u32, x: real) -> Packed {\n    return x;\n}\n"
            });
            let word = match self.input {
                Input::Real => "Packed",
                Input::Bytes => "u32",
            };
            s.push_str(&format!("alias InputWord = {word};\n"));
        }
        if self.pass.is_tiled() {
            s.push('\n');
            s.push_str(self.product.body(self.pass));
            if let Some(part) = self.product.companion(self.pass) {
                s.push('\n');
                s.push_str(part);
            }
        }
        s.push('\n');
        s.push_str(self.body());
        for include in self.pass.includes() {
            s.push('\n');
            s.push_str(match (include, self.input) {
                (Include::InputAt, _) => include_str!("../../shaders/input.wgsl"),
                (Include::LoadIn, Input::Real) => include_str!("../../shaders/load_real.wgsl"),
                (Include::LoadIn, Input::Bytes) => include_str!("../../shaders/load_bytes.wgsl"),
                (Include::Optim, _) => include_str!("../../shaders/optim.wgsl"),
            });
        }
        if self.packs4() {
            // The four-wide loads: the input's (input4.wgsl over load_*4.wgsl) and the
            // pass's own (forward_tiled_vec4.wgsl, gradient_tiled_vec4.wgsl).
            for part in [
                include_str!("../../shaders/input4.wgsl"),
                match self.input {
                    Input::Real => include_str!("../../shaders/load_real4.wgsl"),
                    Input::Bytes => include_str!("../../shaders/load_bytes4.wgsl"),
                },
                match self.pass {
                    Pass::GradientTiled => include_str!("../../shaders/gradient_tiled_vec4.wgsl"),
                    _ => include_str!("../../shaders/forward_tiled_vec4.wgsl"),
                },
            ] {
                s.push('\n');
                s.push_str(part);
            }
        }
        s
    }

    /// A label naming the variant (file, precision, input, tile, reduction), for pipelines
    /// and errors.
    pub fn label(&self) -> String {
        let mut l = format!("shaders/{} ({}", self.file(), self.precision);
        if self.input == Input::Bytes {
            l.push_str(", byte inputs");
        }
        if self.pass.is_tiled() {
            l.push_str(&format!(", {}", self.product));
        }
        if self.pass == Pass::GradientTiled && self.reduce == Reduce::Subgroup {
            l.push_str(", bias in bias_gradient.wgsl");
        }
        l.push(')');
        l
    }
}

/// The most storage buffers any pass binds (update and the fused kernel: 10).
pub fn max_storage_bindings() -> u32 {
    Pass::ALL.iter().map(|p| p.bindings().len() as u32).max().unwrap_or(0)
}

/// Workgroup memory a tiled pass with `tile` needs in `precision`: two slices of
/// TILE × 16 elements (`tile.wgsl`).
pub fn tiled_workgroup_bytes(precision: Precision, tile: Tile) -> u32 {
    2 * tile.size() * 16 * precision.bytes() as u32
}

/// The workgroup size used for every 1-D and 2-D pass (the `WG` override constant).
/// 64 is a multiple of every vendor's SIMD width (32 NVIDIA, 64 AMD, 8–16 Intel, 8 lavapipe).
pub const WORKGROUP: u32 = 64;

/// The consecutive weights of a row each invocation of `update.wgsl` updates (its
/// `UPDATE_RUN`): the layer's parameters and the optimizer's constants are read once per
/// run, not once per weight (on lavapipe every storage read is a loop over the subgroup's
/// lanes). The dispatch is ⌈⌈fan_in / UPDATE_RUN⌉ / [`WORKGROUP`]⌉ × fan_out.
pub const UPDATE_RUN: u32 = 8;

/// [`UPDATE_RUN`] of `update4.wgsl` (eight vec4s): with the weights' loads four-wide, the
/// per-invocation reads of the parameters and constants dominated at 8; 32 made the
/// MNIST-sized step 15% faster on lavapipe (BENCHMARKS.md). Unmeasured on real GPUs, where
/// shorter runs keep neighbouring invocations' accesses closer together.
pub const UPDATE_RUN_WIDE: u32 = 32;

/// The weights per invocation of the update pass, `update4.wgsl`'s when `wide`: the
/// `UPDATE_RUN` its source is given, and the run its dispatch is sized by.
pub fn update_run(wide: bool) -> u32 {
    if wide {
        UPDATE_RUN_WIDE
    } else {
        UPDATE_RUN
    }
}

/// Creates the bind group layout `bindings` describe (visible to compute shaders).
pub fn bind_group_layout(device: &wgpu::Device, label: &str, bindings: &[contract::Slot]) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
        .iter()
        .enumerate()
        .map(|(i, (_, access))| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: *access == Access::Read,
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

/// Compiles the variant `key` on `device`, with group 0 laid out as `layout` (a twin's, so
/// that one bind group serves both pipelines) or as [`Pass::bindings`] describes when
/// `None`, turning validation errors into [`BpropError::Gpu`] that names the variant.
pub fn build(device: &wgpu::Device, key: ShaderKey, layout: Option<&wgpu::BindGroupLayout>) -> Result<Kernel> {
    let wg = key.default_workgroup().map(|wg| ("WG", f64::from(wg)));
    compile(device, key, layout, wg.as_slice())
}

/// The subgroup reductions' workgroup on an adapter whose subgroups have at most
/// `max_lanes` invocations: (WG, PER_WG) = ([`WORKGROUP`] or `max_lanes` if larger, WG /
/// `max_lanes`). With power-of-two subgroup sizes WG is a multiple of every size, so
/// subgroups are whole, and a workgroup has at least PER_WG subgroups for its PER_WG rows
/// (`softmax_subgroup.wgsl`). The dispatch is ⌈rows / PER_WG⌉ workgroups.
pub fn reduce_workgroup(max_lanes: u32) -> (u32, u32) {
    let wg = WORKGROUP.max(max_lanes);
    (wg, wg / max_lanes.max(1))
}

/// Compiles `key`, a [`Reduce::Subgroup`] variant of [`Pass::Softmax`],
/// [`Pass::OutputDelta`] or [`Pass::BiasGradient`], for subgroups of at most `max_lanes`
/// invocations ([`reduce_workgroup`]); otherwise as [`build`].
pub fn build_reduction(
    device: &wgpu::Device,
    key: ShaderKey,
    layout: Option<&wgpu::BindGroupLayout>,
    max_lanes: u32,
) -> Result<Kernel> {
    if key.reduce != Reduce::Subgroup || key.pass == Pass::GradientTiled {
        return build(device, key, layout);
    }
    let (wg, per_wg) = reduce_workgroup(max_lanes);
    compile(
        device,
        key,
        layout,
        &[("WG", f64::from(wg)), ("PER_WG", f64::from(per_wg))],
    )
}

/// The workgroup arrays of [`Pass::Fused`], in elements (`CAP_*` in fused.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// One element each: the smallest arrays (for validating the kernel's source).
    pub const MIN: FusedCaps = FusedCaps {
        params: 1,
        activations: 1,
        deltas: 1,
        z: 1,
    };

    /// Workgroup memory the arrays take in `precision`.
    pub fn bytes(&self, precision: Precision) -> usize {
        (self.params + self.activations + self.deltas + self.z) * precision.bytes()
    }

    /// The arrays' sizes as the WGSL constants `fused.wgsl` declares its arrays with
    /// (`CAP_*`, at least 1).
    pub fn constants(&self) -> String {
        [
            ("CAP_P", self.params),
            ("CAP_ACT", self.activations),
            ("CAP_DELTA", self.deltas),
            ("CAP_Z", self.z),
        ]
        .iter()
        .map(|(name, n)| format!("const {name}: u32 = {}u;\n", n.max(&1)))
        .collect()
    }
}

/// Compiles [`Pass::Fused`] for arrays of `caps` and workgroups of `wg` invocations. Its
/// binding 0 (`spec`) takes a dynamic offset (one copy per dispatch of a submission) and
/// `spec_bytes` bytes from there.
pub fn build_fused(
    device: &wgpu::Device,
    precision: Precision,
    caps: FusedCaps,
    wg: u32,
    spec_bytes: u64,
) -> Result<Kernel> {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = Pass::Fused
        .bindings()
        .iter()
        .enumerate()
        .map(|(i, (_, access))| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: *access == Access::Read,
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
    compile(
        device,
        ShaderKey::fused(precision, caps),
        Some(&layout),
        &[("WG", f64::from(wg))],
    )
}

/// Compiles `key`'s source with the pipeline-overridable constants `overrides` (`WG`,
/// `PER_WG`), turning validation errors into [`BpropError::Gpu`] that names the variant.
fn compile(
    device: &wgpu::Device,
    key: ShaderKey,
    layout: Option<&wgpu::BindGroupLayout>,
    overrides: &[(&'static str, f64)],
) -> Result<Kernel> {
    let label = key.label();
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&label),
        source: wgpu::ShaderSource::Wgsl(key.source().into()),
    });
    let mut constants: Vec<(&str, f64)> = overrides.to_vec();
    if key.pass.is_tiled() && key.product == Product::Register {
        constants.extend([("WGX", f64::from(REGISTER_WG)), ("WGY", f64::from(REGISTER_WG))]);
    }
    let layout = match layout {
        Some(l) => l.clone(),
        None => bind_group_layout(device, key.pass.file(), key.pass.bindings()),
    };
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&label),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &constants,
            ..Default::default()
        },
        cache: None,
    });
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(BpropError::Gpu(format!("{label} does not build: {err}")));
    }
    Ok(Kernel { pipeline, layout })
}
