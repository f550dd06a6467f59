//! The host–shader contract, stated once.
//!
//! Everything the Rust host and the WGSL passes must agree on is defined here and nowhere
//! else: the numeric codes of activations, losses and optimizers; the layout of every
//! structured buffer (the per-layer [`LayerParams`], the [`Scalars`] block, the per-step
//! [`StepValues`], the submission's [`SubmissionState`], the fused kernel's [`FusedHead`]
//! and [`FusedLayer`]); and each pass's bindings, in order, with their names and access
//! ([`bindings`]). [`wgsl_header`] writes the codes and structs as WGSL, and every pass is
//! compiled with that header in front (`shaders::ShaderKey::source`), so the shaders never
//! spell a code or an offset as a bare number.
//!
//! The structs are `#[repr(C)]` plain-old-data on the Rust side and the same members in
//! the same order on the WGSL side; since every member of a struct has one type (`u32`,
//! or `real`), neither side inserts padding. `tests/gpu/shaders.rs` checks this without a
//! device: naga parses and validates every shader variant, its layouter's size and member
//! offsets of each struct must equal the Rust ones, and each pass's `@binding` declarations
//! must match [`bindings`] by index, name and access.
//!
//! Codes come only from the `*_code` functions, whose matches are exhaustive, so a new
//! variant of a model type does not compile until it has a code. Every WGSL `switch` over a
//! code has one `case` per code; its `default` arm is unreachable, and returns NaN
//! (`unreachable_code` in `shaders/common.wgsl`) so that a drift would show in every
//! result instead of as a plausible number.

use crate::model::{Activation, Loss, Optimizer, Real};
use std::fmt::Write as _;

/// A named `u32` code shared with WGSL.
pub type Code = (&'static str, u32);

/// Activation: a = z.
pub const ACT_IDENTITY: u32 = 0;
/// Activation: σ(z) = 1 / (1 + e^−z).
pub const ACT_SIGMOID: u32 = 1;
/// Activation: tanh z.
pub const ACT_TANH: u32 = 2;
/// Activation: max(0, z).
pub const ACT_RELU: u32 = 3;
/// Activation: z > 0 ? z : s z, with the layer's slope s from [`Scalars`]' `slope`.
pub const ACT_LEAKY_RELU: u32 = 4;
/// Activation: softmax. The forward passes write a = z; `softmax.wgsl` (or the fused
/// kernel's output phase) normalises the row.
pub const ACT_SOFTMAX: u32 = 5;

/// Every activation code, as WGSL names it.
pub const ACTIVATION_CODES: [Code; 6] = [
    ("ACT_IDENTITY", ACT_IDENTITY),
    ("ACT_SIGMOID", ACT_SIGMOID),
    ("ACT_TANH", ACT_TANH),
    ("ACT_RELU", ACT_RELU),
    ("ACT_LEAKY_RELU", ACT_LEAKY_RELU),
    ("ACT_SOFTMAX", ACT_SOFTMAX),
];

/// Loss: E = ½ Σ_k (a_k − y_k)².
pub const LOSS_SSE: u32 = 0;
/// Loss: E = (1/n) Σ_k (a_k − y_k)².
pub const LOSS_MSE: u32 = 1;
/// Loss: binary cross-entropy of a sigmoid output, from z.
pub const LOSS_BCE: u32 = 2;
/// Loss: cross-entropy of a softmax output, from z.
pub const LOSS_CROSS_ENTROPY: u32 = 3;
/// Loss: FANN's tanh error, Σ_k φ((a_k − y_k)/w).
pub const LOSS_TANH_ERROR: u32 = 4;

/// Every loss code, as WGSL names it.
pub const LOSS_CODES: [Code; 5] = [
    ("LOSS_SSE", LOSS_SSE),
    ("LOSS_MSE", LOSS_MSE),
    ("LOSS_BCE", LOSS_BCE),
    ("LOSS_CROSS_ENTROPY", LOSS_CROSS_ENTROPY),
    ("LOSS_TANH_ERROR", LOSS_TANH_ERROR),
];

/// Optimizer: p ← p − η g.
pub const OPT_SGD: u32 = 0;
/// Optimizer: heavy-ball momentum.
pub const OPT_MOMENTUM: u32 = 1;
/// Optimizer: Nesterov momentum.
pub const OPT_NESTEROV: u32 = 2;
/// Optimizer: Adam, and AdamW with a decoupled decay.
pub const OPT_ADAM: u32 = 3;
/// Optimizer: iRPROP−.
pub const OPT_IRPROP_MINUS: u32 = 4;

/// Every optimizer code, as WGSL names it.
pub const OPTIMIZER_CODES: [Code; 5] = [
    ("OPT_SGD", OPT_SGD),
    ("OPT_MOMENTUM", OPT_MOMENTUM),
    ("OPT_NESTEROV", OPT_NESTEROV),
    ("OPT_ADAM", OPT_ADAM),
    ("OPT_IRPROP_MINUS", OPT_IRPROP_MINUS),
];

/// The code the shaders switch on for `a` (`activate`, `activate_deriv` in common.wgsl).
pub fn activation_code(a: Activation) -> u32 {
    match a {
        Activation::Identity => ACT_IDENTITY,
        Activation::Sigmoid => ACT_SIGMOID,
        Activation::Tanh => ACT_TANH,
        Activation::Relu => ACT_RELU,
        Activation::LeakyRelu { .. } => ACT_LEAKY_RELU,
        Activation::Softmax => ACT_SOFTMAX,
    }
}

/// The code the shaders switch on for `loss` (output_delta.wgsl, fused.wgsl).
pub fn loss_code(loss: Loss) -> u32 {
    match loss {
        Loss::HalfSse => LOSS_SSE,
        Loss::Mse => LOSS_MSE,
        Loss::BinaryCrossEntropy => LOSS_BCE,
        Loss::CrossEntropy => LOSS_CROSS_ENTROPY,
        Loss::TanhError => LOSS_TANH_ERROR,
    }
}

/// The code the shaders switch on for `o` (`step_rule` in optim.wgsl).
pub fn optimizer_code(o: &Optimizer) -> u32 {
    match o {
        Optimizer::Sgd => OPT_SGD,
        Optimizer::Momentum { .. } => OPT_MOMENTUM,
        Optimizer::Nesterov { .. } => OPT_NESTEROV,
        Optimizer::Adam { .. } => OPT_ADAM,
        Optimizer::IRpropMinus { .. } => OPT_IRPROP_MINUS,
    }
}

/// The optimizer's constants as `opt_consts` reads them from [`Scalars`]' `k`:
/// [μ | β₁ | η⁺, β₂ | η⁻, ε | Δ_max, λ_w | Δ_min] (zeros where a rule has fewer).
pub fn optimizer_constants(o: &Optimizer) -> [f64; 4] {
    match *o {
        Optimizer::Sgd => [0.0; 4],
        Optimizer::Momentum { momentum } | Optimizer::Nesterov { momentum } => [momentum, 0.0, 0.0, 0.0],
        Optimizer::Adam {
            beta1,
            beta2,
            eps,
            decoupled_decay,
        } => [beta1, beta2, eps, decoupled_decay],
        Optimizer::IRpropMinus {
            eta_plus,
            eta_minus,
            delta_max,
            delta_min,
            ..
        } => [eta_plus, eta_minus, delta_max, delta_min],
    }
}

/// Declares a `#[repr(C)]` struct of `u32` members shared with WGSL, and its member names
/// (`MEMBERS`, in order) for [`wgsl_header`] and the layout test.
macro_rules! u32_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$fm])* pub $field: u32,)*
        }
        impl $name {
            /// The members in declaration order, as both sides name them.
            pub const MEMBERS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

/// Declares a `#[repr(C)]` struct of `real` members shared with WGSL (generic over the
/// precision), its member names (`MEMBERS`) and its `Pod` implementation.
macro_rules! real_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name<T> {
            $($(#[$fm])* pub $field: T,)*
        }
        impl<T> $name<T> {
            /// The members in declaration order, as both sides name them.
            pub const MEMBERS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
        // SAFETY: `#[repr(C)]` with every member of the one type T, which is Pod: no
        // padding, every bit pattern valid, all zeros a valid value.
        unsafe impl<T: bytemuck::Zeroable> bytemuck::Zeroable for $name<T> {}
        // SAFETY: as above; T: Pod is Copy and 'static.
        unsafe impl<T: bytemuck::Pod> bytemuck::Pod for $name<T> {}
    };
}

u32_struct! {
    /// One layer's parameter block (`p` in the per-layer passes), written when the batch
    /// size, the optimizer or the dropout rates change. A read-only storage buffer, not a
    /// uniform one: ARCHITECTURE.md says why.
    pub struct LayerParams {
        /// Inputs of the layer (columns of W).
        fan_in,
        /// Units of the layer (rows of W).
        fan_out,
        /// Rows of the batch.
        batch,
        /// The layer's activation, an `ACT_*` code.
        activation,
        /// 1 when the layer has a bias.
        has_bias,
        /// 1 when the layer's input rows come from the dataset through `order` (layer 0).
        gather,
        /// `fan_out` of layer l + 1 (the hidden delta pass), else 0.
        next_fan_out,
        /// The network's loss, a `LOSS_*` code (read by the output layer's pass).
        loss,
        /// This layer's index l; its slope is `scal.slope[l]`.
        layer,
        /// The optimizer, an `OPT_*` code.
        optimizer,
        /// Dropout keep threshold ⌊p · 2³²⌋ on this layer's input (0: none).
        drop_in,
        /// The same for layer l + 1's input (the hidden delta pass).
        drop_next,
    }
}

u32_struct! {
    /// The submission's counters (`state`), written by the host before each submission;
    /// `advance.wgsl` increments `step` after each step's passes.
    pub struct SubmissionState {
        /// The step within the current submission: the passes read batch rows
        /// `order[step · B + r]` and write loss slots `step · B + r`.
        step,
        /// The run's step count at the submission's start (the dropout masks' step is
        /// `first_step + step`).
        first_step,
        /// The dropout seed's low word.
        seed_lo,
        /// The dropout seed's high word.
        seed_hi,
        /// The place of the batch's row 0 in a larger batch, for the dropout masks' row
        /// (a shard of a data-parallel step: `dist`); 0 otherwise.
        first_row,
    }
}

u32_struct! {
    /// The fused kernel's description of one layer ([`FusedHead`] is followed by one per
    /// layer).
    pub struct FusedLayer {
        /// Inputs of the layer.
        fan_in,
        /// Units of the layer.
        fan_out,
        /// The activation, an `ACT_*` code.
        activation,
        /// 1 when the layer has a bias.
        has_bias,
        /// Offset of W_l in the kernel's `params` (elements).
        w_offset,
        /// Offset of b_l in `params`.
        b_offset,
        /// Offset of the layer's optimizer state in each of `opt0` and `opt1` (one state
        /// slot each: the layer's n_w weights', then its fan_out biases').
        opt_offset,
        /// Offset of a_l in the workgroup array `act` (the inputs a_{−1} are at 0).
        act_offset,
    }
}

u32_struct! {
    /// The fused kernel's description of the network and of one dispatch (`spec`, bound
    /// with a dynamic offset, one copy per dispatch of a submission), followed by one
    /// [`FusedLayer`] per layer.
    pub struct FusedHead {
        /// Layers L.
        n_layers,
        /// Rows of the batch B.
        batch,
        /// Steps this dispatch runs.
        steps,
        /// The loss, a `LOSS_*` code.
        loss,
        /// The optimizer, an `OPT_*` code.
        optimizer,
        /// Parameters of the network P (every W and b).
        n_params,
        /// Inputs of the network.
        n_in,
        /// Outputs of the network.
        n_out,
        /// The submission's step this dispatch starts at.
        first_step,
    }
}

real_struct! {
    /// Constants of a training call (`scal`), followed in the buffer by each layer's
    /// leaky slope (`slope`, a runtime-sized array on the WGSL side).
    pub struct Scalars {
        /// The optimizer's first constant ([`optimizer_constants`]: μ | β₁ | η⁺).
        k0,
        /// Its second (β₂ | η⁻).
        k1,
        /// Its third (ε | Δ_max).
        k2,
        /// Its fourth (λ_w | Δ_min).
        k3,
        /// Coupled L2 weight decay λ.
        l2,
        /// Max-norm bound c (0: none).
        max_norm,
        /// The input dropout's scale 1/(1 − p_in) (1: none).
        drop_in_scale,
        /// The hidden dropout's scale 1/(1 − p_h) (1: none).
        drop_hidden_scale,
        /// The divisor d of byte-coded inputs, x = byte / d (1 otherwise).
        byte_divisor,
    }
}

real_struct! {
    /// Values of one step of a submission (`hyper`, one per step, computed on the host in
    /// f64 so that both paths use the same numbers and the shaders need no `pow`).
    pub struct StepValues {
        /// The learning rate η of this step (the schedule's value).
        lr,
        /// Adam's bias correction c₁ = 1 − β₁ᵗ.
        c1,
        /// Adam's bias correction c₂ = 1 − β₂ᵗ.
        c2,
        /// Unused: keeps the record four values long.
        pad,
    }
}

impl<T: Real> Scalars<T> {
    /// The `scal` buffer's contents: these constants, then `slopes` (one per layer).
    pub fn to_buffer(&self, slopes: &[T]) -> Vec<T> {
        let mut v: Vec<T> = bytemuck::cast_slice::<Scalars<T>, T>(std::slice::from_ref(self)).to_vec();
        v.extend_from_slice(slopes);
        v
    }
}

/// How one binding of a pass is accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// One binding of a pass: the name its WGSL variable has, and its access.
pub type Slot = (&'static str, Access);

/// Group 0's bindings of `pass`, in binding order, with the names its WGSL file declares.
/// The engine's bind groups list their buffers in this order (`gpu::engine`), and
/// `tests/gpu/shaders.rs` checks every variant of every pass against it. Explicit (not taken
/// from the shader) so that a plain pass and its tiled twin share one bind group layout.
pub fn bindings(pass: super::shaders::Pass) -> &'static [Slot] {
    use super::shaders::Pass;
    use Access::{Read as R, ReadWrite as W};
    match pass {
        Pass::Forward | Pass::ForwardTiled => &[
            ("p", R),
            ("w", R),
            ("b", R),
            ("a_in", R),
            ("order", R),
            ("state", R),
            ("scal", R),
            ("z", W),
            ("a", W),
        ],
        Pass::Softmax => &[("p", R), ("z", R), ("a", W)],
        Pass::MaxNorm => &[("p", R), ("scal", R), ("w", W)],
        Pass::OutputDelta => &[
            ("p", R),
            ("z", R),
            ("a", R),
            ("y_data", R),
            ("order", R),
            ("state", R),
            ("scal", R),
            ("delta", W),
            ("loss_out", W),
        ],
        Pass::HiddenDelta | Pass::HiddenDeltaTiled => &[
            ("p", R),
            ("w_next", R),
            ("delta_next", R),
            ("a", R),
            ("scal", R),
            ("delta", W),
            ("state", R),
        ],
        Pass::Gradient | Pass::GradientTiled => &[
            ("p", R),
            ("delta", R),
            ("a_in", R),
            ("order", R),
            ("state", R),
            ("gw", W),
            ("gb", W),
            ("scal", R),
        ],
        Pass::Update | Pass::UpdateWide => &[
            ("p", R),
            ("scal", R),
            ("hyper", R),
            ("state", R),
            ("gw", R),
            ("gb", R),
            ("w", W),
            ("b", W),
            ("opt0", W),
            ("opt1", W),
        ],
        Pass::Advance => &[("state", W)],
        Pass::BiasGradient => &[("p", R), ("delta", R), ("gb", W)],
        Pass::Fused => &[
            ("spec", R),
            ("scal", R),
            ("hyper", R),
            ("x_data", R),
            ("y_data", R),
            ("order", R),
            ("params", W),
            ("opt0", W),
            ("opt1", W),
            ("loss_out", W),
        ],
    }
}

/// The WGSL of the contract: every code as a named constant, and every shared struct.
/// Compiled after the precision prelude (which defines `real`) and before
/// `shaders/common.wgsl` and the pass.
pub fn wgsl_header() -> String {
    let mut s = String::from("// Generated from src/gpu/contract.rs: the host–shader contract.\n");
    for codes in [&ACTIVATION_CODES[..], &LOSS_CODES[..], &OPTIMIZER_CODES[..]] {
        for (name, value) in codes {
            let _ = writeln!(s, "const {name}: u32 = {value}u;");
        }
    }
    let mut structure = |name: &str, ty: &str, members: &[&str], tail: Option<(&str, &str)>| {
        let _ = writeln!(s, "struct {name} {{");
        for m in members {
            let _ = writeln!(s, "    {m}: {ty},");
        }
        if let Some((m, t)) = tail {
            let _ = writeln!(s, "    {m}: {t},");
        }
        s.push_str("}\n");
    };
    structure("LayerParams", "u32", LayerParams::MEMBERS, None);
    structure("SubmissionState", "u32", SubmissionState::MEMBERS, None);
    structure("FusedLayer", "u32", FusedLayer::MEMBERS, None);
    structure(
        "FusedSpec",
        "u32",
        FusedHead::MEMBERS,
        Some(("layers", "array<FusedLayer>")),
    );
    structure(
        "Scalars",
        "real",
        Scalars::<f32>::MEMBERS,
        Some(("slope", "array<real>")),
    );
    structure("StepValues", "real", StepValues::<f32>::MEMBERS, None);
    s
}

/// The WGSL structs of the contract and the Rust sizes of their fixed parts in precision
/// `T` (bytes), for the layout test: (WGSL name, members, size of the Rust struct).
pub fn struct_layouts<T: Real>() -> Vec<(&'static str, &'static [&'static str], usize)> {
    use std::mem::size_of;
    vec![
        ("LayerParams", LayerParams::MEMBERS, size_of::<LayerParams>()),
        (
            "SubmissionState",
            SubmissionState::MEMBERS,
            size_of::<SubmissionState>(),
        ),
        ("FusedLayer", FusedLayer::MEMBERS, size_of::<FusedLayer>()),
        ("FusedSpec", FusedHead::MEMBERS, size_of::<FusedHead>()),
        ("Scalars", Scalars::<T>::MEMBERS, size_of::<Scalars<T>>()),
        ("StepValues", StepValues::<T>::MEMBERS, size_of::<StepValues<T>>()),
    ]
}
