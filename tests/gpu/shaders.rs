//! The host–shader contract, checked without a device (milliseconds, on any machine):
//! every shader variant the engine can build ([`ShaderKey::all`], plus the fused kernel at
//! several capacities) is parsed and validated by naga, the compiler wgpu itself uses;
//! each pass's `@binding` declarations match the Rust side's list ([`contract::bindings`])
//! by index, name and access; every shared struct has the Rust struct's member names,
//! offsets and size ([`contract::struct_layouts`]); and every `switch` over a code has a
//! case for each code of one family and no other, with no case written as a bare number.

use bprop::gpu::contract::{self, Access};
use bprop::gpu::shaders::{FusedCaps, Pass, Product, Reduce, ShaderKey};
use bprop::gpu::Tile;
use bprop::model::{Precision, Real};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use std::collections::BTreeSet;

/// Parses and validates `key`'s source, failing with naga's report on the source.
fn module(key: &ShaderKey) -> naga::Module {
    let src = key.source();
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{} does not parse:\n{}", key.label(), e.emit_to_string(&src)));
    let mut caps = match key.precision {
        Precision::F32 => Capabilities::empty(),
        Precision::F64 => Capabilities::FLOAT64,
    };
    if key.uses_subgroups() {
        caps |= Capabilities::SUBGROUP;
    }
    Validator::new(ValidationFlags::all(), caps)
        .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
        .subgroup_operations(naga::valid::SubgroupOperationSet::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{} is invalid:\n{}", key.label(), e.emit_to_string(&src)));
    module
}

/// Every key, and the fused kernel at a few capacities besides [`FusedCaps::MIN`].
fn every_key() -> Vec<ShaderKey> {
    let mut keys = ShaderKey::all();
    for precision in [Precision::F32, Precision::F64] {
        for caps in [
            FusedCaps {
                params: 9,
                activations: 5,
                deltas: 3,
                z: 1,
            },
            FusedCaps {
                params: 4000,
                activations: 700,
                deltas: 300,
                z: 40,
            },
        ] {
            keys.push(ShaderKey::fused(precision, caps));
        }
    }
    keys
}

#[test]
fn every_variant_parses_and_validates() {
    let keys = every_key();
    // Per precision: seven passes with one variant each (hidden delta, update and its
    // four-wide twin, max-norm, advance, the fused kernel, the subgroup bias gradient); softmax and the output delta in both
    // reductions (serial, subgroup); forward and gradient with two inputs; the tiled
    // forward with two inputs in every product variant (three workgroup tiles, the register
    // block, the subgroup one at three heights, the four-wide twins of the subgroup one at
    // two heights and of the workgroup one at two tiles), the tiled gradient likewise, each
    // with its bias sum in the product or left to the bias pass; the tiled hidden delta in
    // every product variant but the four four-wide ones (it runs their fallbacks). Plus the
    // fused kernel's extra capacities.
    let products = Product::ALL.len();
    assert_eq!(products, 11);
    assert_eq!(Reduce::ALL.len(), 2);
    assert_eq!(
        keys.len(),
        2 * (7 + 2 * 2 + 2 * 2 + 2 * products + 2 * products * 2 + (products - 4)) + 4,
        "{keys:#?}"
    );
    let subgroup_reductions = keys
        .iter()
        .filter(|k| k.reduce == Reduce::Subgroup && k.pass != Pass::GradientTiled)
        .count();
    assert_eq!(subgroup_reductions, 2 * 3, "softmax, output delta, bias gradient");
    // uses_subgroups (which asks the device for SUBGROUP) says whether the code calls a
    // subgroup operation.
    for key in &keys {
        let src = key.source();
        let calls = ["subgroupShuffle(", "subgroupBroadcast(", "subgroupMax("]
            .iter()
            .any(|op| src.contains(op));
        assert_eq!(key.uses_subgroups(), calls, "{}", key.label());
    }
    let distinct: BTreeSet<String> = keys.iter().map(|k| k.source()).collect();
    assert_eq!(distinct.len(), keys.len(), "two keys gave the same source");
    for key in &keys {
        module(key);
    }
}

#[test]
fn bindings_match_the_rust_layout() {
    for key in every_key() {
        let module = module(&key);
        let mut declared: Vec<(u32, String, Access)> = Vec::new();
        for (_, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else { continue };
            assert_eq!(binding.group, 0, "{}: {:?}", key.label(), var.name);
            let access = match var.space {
                naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE) => {
                    Access::ReadWrite
                }
                naga::AddressSpace::Storage { .. } => Access::Read,
                other => panic!("{}: {:?} is in {other:?}, not storage", key.label(), var.name),
            };
            declared.push((binding.binding, var.name.clone().unwrap_or_default(), access));
        }
        declared.sort_by_key(|d| d.0);
        let expected: Vec<(u32, String, Access)> = key
            .pass
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, &(name, access))| (i as u32, name.to_string(), access))
            .collect();
        assert_eq!(declared, expected, "{}", key.label());
    }
}

/// The member names, offsets and size of the WGSL struct `name` (the offset of a trailing
/// runtime-sized array standing for the fixed part's size).
fn wgsl_struct(module: &naga::Module, name: &str) -> (Vec<(String, u32)>, u32) {
    for (_, ty) in module.types.iter() {
        if ty.name.as_deref() == Some(name) {
            if let naga::TypeInner::Struct { members, span } = &ty.inner {
                let m = members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                    .collect();
                return (m, *span);
            }
        }
    }
    panic!("no struct {name}");
}

fn check_layouts<T: Real>() {
    // The fused kernel declares every struct the contract has.
    let module = module(&ShaderKey::new(Pass::Fused, T::PRECISION));
    let layouts = contract::struct_layouts::<T>();
    assert_eq!(layouts.len(), 6);
    for (name, members, rust_size) in layouts {
        let (wgsl, span) = wgsl_struct(&module, name);
        let elem = if matches!(name, "Scalars" | "StepValues") {
            std::mem::size_of::<T>()
        } else {
            4
        };
        let fixed: Vec<(String, u32)> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.to_string(), (i * elem) as u32))
            .collect();
        assert_eq!(&wgsl[..members.len()], &fixed[..], "{name} ({})", T::NAME);
        match wgsl.len() - members.len() {
            // A fixed struct: the same size on both sides.
            0 => assert_eq!(span as usize, rust_size, "{name} ({})", T::NAME),
            // A struct with a runtime-sized tail: it starts where the Rust struct ends.
            1 => assert_eq!(wgsl[members.len()].1 as usize, rust_size, "{name} ({})", T::NAME),
            n => panic!("{name} has {n} members the Rust side lacks"),
        }
    }
}

#[test]
fn shared_structs_have_the_rust_layout() {
    check_layouts::<f32>();
    check_layouts::<f64>();
    // The Rust sizes themselves: one member per 4 (u32) or size_of::<T>() bytes.
    assert_eq!(
        std::mem::size_of::<contract::LayerParams>(),
        4 * contract::LayerParams::MEMBERS.len()
    );
    assert_eq!(
        std::mem::size_of::<contract::Scalars<f64>>(),
        8 * contract::Scalars::<f64>::MEMBERS.len()
    );
}

/// The `u32` case values of every `switch` in `block`, one set per switch.
fn switches(block: &naga::Block, out: &mut Vec<(BTreeSet<u32>, bool)>) {
    for stmt in block.iter() {
        match stmt {
            naga::Statement::Block(b) => switches(b, out),
            naga::Statement::If { accept, reject, .. } => {
                switches(accept, out);
                switches(reject, out);
            }
            naga::Statement::Loop { body, continuing, .. } => {
                switches(body, out);
                switches(continuing, out);
            }
            naga::Statement::Switch { cases, .. } => {
                let mut values = BTreeSet::new();
                let mut default = false;
                for case in cases {
                    match case.value {
                        naga::SwitchValue::U32(v) => assert!(values.insert(v), "case {v} twice"),
                        naga::SwitchValue::I32(v) => panic!("signed case {v}"),
                        naga::SwitchValue::Default => default = true,
                    }
                    switches(&case.body, out);
                }
                out.push((values, default));
            }
            _ => {}
        }
    }
}

#[test]
fn every_switch_over_a_code_has_one_case_per_code() {
    let family = |codes: &[contract::Code]| codes.iter().map(|c| c.1).collect::<BTreeSet<u32>>();
    let families = [
        family(&contract::ACTIVATION_CODES),
        family(&contract::LOSS_CODES),
        family(&contract::OPTIMIZER_CODES),
    ];
    let mut seen = 0;
    for key in ShaderKey::all() {
        let src = key.source();
        // Cases are written with the contract's names, never as numbers.
        for line in src.lines() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix("case ") {
                assert!(
                    !rest.starts_with(|c: char| c.is_ascii_digit()),
                    "{}: `{t}` spells a code as a number",
                    key.label()
                );
            }
        }
        let module = module(&key);
        let mut found = Vec::new();
        for (_, f) in module.functions.iter() {
            switches(&f.body, &mut found);
        }
        for ep in &module.entry_points {
            switches(&ep.function.body, &mut found);
        }
        for (values, default) in found {
            assert!(default, "{}: a switch without default", key.label());
            assert!(
                families.contains(&values),
                "{}: a switch with cases {values:?} is not one family of codes",
                key.label()
            );
            seen += 1;
        }
    }
    // activate and activate_deriv in every variant, step_rule in update and fused, the
    // loss switch in output_delta and fused: the walk did find them.
    assert!(seen > 2 * ShaderKey::all().len(), "{seen}");
}

#[test]
fn the_header_names_every_code_once() {
    let header = contract::wgsl_header();
    for codes in [
        &contract::ACTIVATION_CODES[..],
        &contract::LOSS_CODES[..],
        &contract::OPTIMIZER_CODES[..],
    ] {
        let values: BTreeSet<u32> = codes.iter().map(|c| c.1).collect();
        assert_eq!(values.len(), codes.len(), "two codes of one family share a value");
        for (name, value) in codes {
            assert_eq!(
                header.matches(&format!("const {name}: u32 = {value}u;")).count(),
                1,
                "{name}"
            );
        }
    }
    // Each model type maps onto its family.
    use bprop::model::{Activation, Loss, Optimizer};
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::Softmax,
    ];
    let got: BTreeSet<u32> = acts.iter().map(|&a| contract::activation_code(a)).collect();
    assert_eq!(got.len(), contract::ACTIVATION_CODES.len());
    let losses = [
        Loss::HalfSse,
        Loss::Mse,
        Loss::BinaryCrossEntropy,
        Loss::CrossEntropy,
        Loss::TanhError,
    ];
    let got: BTreeSet<u32> = losses.iter().map(|&l| contract::loss_code(l)).collect();
    assert_eq!(got.len(), contract::LOSS_CODES.len());
    let opts = [
        Optimizer::Sgd,
        Optimizer::Momentum { momentum: 0.9 },
        Optimizer::Nesterov { momentum: 0.9 },
        Optimizer::ADAM,
        Optimizer::IRPROP,
    ];
    let got: BTreeSet<u32> = opts.iter().map(contract::optimizer_code).collect();
    assert_eq!(got.len(), contract::OPTIMIZER_CODES.len());
}

#[test]
fn tile_and_input_variants_differ_only_where_they_apply() {
    let plain = ShaderKey::new(Pass::Softmax, Precision::F32);
    assert_eq!(plain.with_tile(Tile::T128), plain, "a plain pass has no tile");
    assert_eq!(
        plain.with_input(bprop::gpu::shaders::Input::Bytes),
        plain,
        "softmax reads no input"
    );
    let tiled = ShaderKey::new(Pass::ForwardTiled, Precision::F32);
    assert_ne!(tiled.with_tile(Tile::T128).source(), tiled.source());
}
