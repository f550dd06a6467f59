//! The fused kernel (`shaders/fused.wgsl`: every pass of many training steps in one
//! dispatch of one workgroup) against the CPU path and against the separate plain passes,
//! on random networks: depth 1 to 4, widths 1, 2, 7, 31, 33 and 65 (one workgroup of 32
//! to 256 invocations loops over wider phases), batches 1 to 6, every optimizer, every
//! loss with its activations, schedules and L2; runs longer than one submission; the
//! automatic choice; and its refusals. Tolerance: `Tolerance::for_precision` (f32 atol
//! 1e-5, rtol 1e-4; f64 atol 1e-12, rtol 1e-9), compared every `SYNC` steps from a shared
//! state by `bprop::driver::cross_check`.

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::{compare_networks, cross_check, Tolerance};
use bprop::engine::Engine;
use bprop::gpu::{GpuEngine, KernelChoice, FUSED_MAX_WORK};
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real, Schedule};
use bprop::BpropError;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Steps between comparisons (and re-synchronisation) in `cross_check`.
const SYNC: usize = 4;

struct Case {
    inputs: usize,
    layers: &'static [(usize, Activation)],
    loss: Loss,
    batch: usize,
    optimizer: Optimizer,
    weight_decay: f64,
    schedule: Schedule,
}

fn problem<T: Real>(case: &Case, n: usize, seed: u64) -> (Network<T>, Dataset<T>) {
    let mut spec = NetworkSpec::new(case.inputs, case.loss);
    for &(units, act) in case.layers {
        spec = spec.layer(units, act);
    }
    let net = Network::random(&spec, Init::Auto, seed).unwrap();
    let outputs = case.layers.last().unwrap().0;
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let x = Array2::from_shape_simple_fn((n, case.inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = match case.loss {
        Loss::CrossEntropy => {
            Array2::from_shape_fn((n, outputs), |(i, k)| T::of(f64::from(u8::from(i % outputs == k))))
        }
        Loss::BinaryCrossEntropy => Array2::from_shape_simple_fn((n, outputs), || T::of(rng.random_range(0.0..=1.0))),
        _ => Array2::from_shape_simple_fn((n, outputs), || T::of(rng.random_range(-0.9..0.9))),
    };
    (net, Dataset::new(x, y).unwrap())
}

fn hyper(case: &Case) -> Hyper {
    Hyper {
        schedule: case.schedule,
        weight_decay: case.weight_decay,
        ..Hyper::sgd(0.05).with_optimizer(case.optimizer)
    }
}

const LEAKY: Activation = Activation::LeakyRelu { slope: 0.1 };

fn cases() -> Vec<Case> {
    use Activation::*;
    let momentum = Optimizer::Momentum { momentum: 0.9 };
    let nesterov = Optimizer::Nesterov { momentum: 0.8 };
    let adamw = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        decoupled_decay: 0.01,
    };
    let cosine = Schedule::Cosine {
        total: 30,
        min_lr: 0.001,
    };
    vec![
        // The seed's shape: 2-2-1, sigmoid, ½ SSE, online.
        Case {
            inputs: 2,
            layers: &[(2, Sigmoid), (1, Sigmoid)],
            loss: Loss::HalfSse,
            batch: 1,
            optimizer: Optimizer::Sgd,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
        },
        Case {
            inputs: 1,
            layers: &[(1, Identity)],
            loss: Loss::Mse,
            batch: 1,
            optimizer: Optimizer::ADAM,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
        },
        Case {
            inputs: 3,
            layers: &[(7, Tanh), (4, Softmax)],
            loss: Loss::CrossEntropy,
            batch: 3,
            optimizer: momentum,
            weight_decay: 1e-3,
            schedule: cosine,
        },
        Case {
            inputs: 4,
            layers: &[(7, Relu), (7, LEAKY), (2, Sigmoid)],
            loss: Loss::BinaryCrossEntropy,
            batch: 4,
            optimizer: nesterov,
            weight_decay: 0.0,
            schedule: Schedule::Step { every: 5, gamma: 0.5 },
        },
        Case {
            inputs: 5,
            layers: &[(31, Tanh), (33, Sigmoid), (2, Identity)],
            loss: Loss::HalfSse,
            batch: 2,
            optimizer: adamw,
            weight_decay: 1e-4,
            schedule: Schedule::Exponential { gamma: 0.99 },
        },
        Case {
            inputs: 3,
            layers: &[(4, Tanh), (4, Relu), (4, Sigmoid), (2, Softmax)],
            loss: Loss::CrossEntropy,
            batch: 5,
            optimizer: Optimizer::Sgd,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
        },
        // FANN's tanh error (with momentum: iRPROP− would only see the gradients' signs).
        Case {
            inputs: 3,
            layers: &[(5, Sigmoid), (2, Sigmoid)],
            loss: Loss::TanhError,
            batch: 6,
            optimizer: momentum,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
        },
        // Wider than a 64-invocation workgroup, full batch, iRPROP−.
        Case {
            inputs: 2,
            layers: &[(65, Tanh), (1, Sigmoid)],
            loss: Loss::Mse,
            batch: 6,
            optimizer: Optimizer::IRPROP,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
        },
    ]
}

fn fused_matches<T: Real>(f64_adapter: bool) {
    let ctx = common::gpu(f64_adapter);
    for (c, case) in cases().iter().enumerate() {
        let n = 6;
        let (net, data) = problem::<T>(case, n, 10 + c as u64);
        let what = format!("case {c} ({}, batch {})", T::NAME, case.batch);
        let h = hyper(case);
        // Full batch for iRPROP− (every step sees all samples), else a cycling order.
        let steps = 24;
        let order: Vec<u32> = (0..steps * case.batch).map(|i| (i % n) as u32).collect();
        let order = if matches!(case.optimizer, Optimizer::IRpropMinus { .. }) {
            (0..steps * n).map(|i| (i % n) as u32).collect()
        } else {
            order
        };

        let mut fused = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        fused.set_kernel_choice(KernelChoice::Fused).unwrap();
        assert!(fused.fused_route(case.batch, &h).unwrap().is_some(), "{what}");
        let mut cpu = CpuEngine::new(net.clone(), data.clone()).unwrap();
        let report = cross_check(&mut fused, &mut cpu, &order, case.batch, &h, SYNC).unwrap();
        assert!(report.passed(), "{what}: fused vs CPU\n{report}");

        let mut fused = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        fused.set_kernel_choice(KernelChoice::Fused).unwrap();
        let mut plain = GpuEngine::new(ctx.clone(), net, &data).unwrap();
        plain.set_kernel_choice(KernelChoice::Plain).unwrap();
        let report = cross_check(&mut fused, &mut plain, &order, case.batch, &h, SYNC).unwrap();
        assert!(report.passed(), "{what}: fused vs plain\n{report}");
    }
}

#[test]
fn fused_kernel_matches_the_cpu_path_and_the_separate_passes_f32() {
    fused_matches::<f32>(false);
}

#[test]
fn fused_kernel_matches_the_cpu_path_and_the_separate_passes_f64() {
    fused_matches::<f64>(true);
}

/// More steps than one submission holds (`STEPS_PER_SUBMISSION` = 1024): parameters and
/// Adam's state must carry over between dispatches. f64, compared without re-syncing.
#[test]
fn fused_runs_continue_across_submissions() {
    let case = &cases()[2];
    let (net, data) = problem::<f64>(case, 6, 3);
    let h = Hyper {
        learning_rate: 0.01,
        ..hyper(case).with_optimizer(Optimizer::ADAM)
    };
    let order: Vec<u32> = (0..1030 * case.batch).map(|i| (i * 5 % 6) as u32).collect();
    let mut gpu = GpuEngine::new(common::gpu(true), net.clone(), &data).unwrap();
    gpu.set_kernel_choice(KernelChoice::Fused).unwrap();
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let lg = gpu.train_with(&order, case.batch, &h).unwrap();
    let lc = cpu.train_with(&order, case.batch, &h).unwrap();
    let tol = Tolerance {
        atol: 1e-10,
        rtol: 1e-8,
    };
    assert_eq!(lg.len(), 1030);
    for (s, (a, b)) in lg.iter().zip(&lc).enumerate() {
        assert!(tol.accepts(*a, *b), "step {s}: loss {a} vs {b}");
    }
    let diffs = compare_networks(&gpu.network().unwrap(), &cpu.network().unwrap(), &tol).unwrap();
    assert!(diffs.iter().all(|d| d.failures == 0), "{diffs:?}");
    let (sg, sc) = (
        gpu.optimizer_state().unwrap().unwrap(),
        cpu.optimizer_state().unwrap().unwrap(),
    );
    assert_eq!(sg.step, 1030);
    assert_eq!(sc.step, 1030);
}

#[test]
fn auto_fuses_small_networks_only_when_it_can() {
    let ctx = common::gpu(false);
    let case = &cases()[0];
    let (net, data) = problem::<f32>(case, 4, 1);
    let gpu = GpuEngine::new(ctx.clone(), net, &data).unwrap();
    let plain = Hyper::sgd(0.5);
    assert!(
        gpu.fused_route(1, &plain).unwrap().is_some(),
        "the seed's network is fused"
    );
    let dropout = Hyper {
        dropout: Some(Dropout {
            input: 0.0,
            hidden: 0.5,
            seed: 1,
        }),
        ..plain
    };
    assert!(
        gpu.fused_route(1, &dropout).unwrap().is_none(),
        "no dropout in the fused kernel"
    );
    let max_norm = Hyper {
        max_norm: Some(2.0),
        ..plain
    };
    assert!(
        gpu.fused_route(1, &max_norm).unwrap().is_none(),
        "no max-norm in the fused kernel"
    );

    // A network past FUSED_MAX_WORK goes to the separate passes under Auto.
    let big = Case {
        inputs: 64,
        layers: &[(128, Activation::Relu), (10, Activation::Softmax)],
        loss: Loss::CrossEntropy,
        batch: 32,
        optimizer: Optimizer::Sgd,
        weight_decay: 0.0,
        schedule: Schedule::Constant,
    };
    let (net, data) = problem::<f32>(&big, 32, 2);
    assert!(net.n_params() * 32 > FUSED_MAX_WORK);
    let gpu = GpuEngine::new(ctx, net, &data).unwrap();
    assert!(gpu.fused_route(32, &plain).unwrap().is_none());
}

#[test]
fn asking_for_the_fused_kernel_where_it_cannot_run_is_an_error() {
    let ctx = common::gpu(false);
    let case = &cases()[0];
    let (net, data) = problem::<f32>(case, 4, 1);
    let mut gpu = GpuEngine::new(ctx.clone(), net, &data).unwrap();
    gpu.set_kernel_choice(KernelChoice::Fused).unwrap();
    let dropout = Hyper {
        dropout: Some(Dropout {
            input: 0.2,
            hidden: 0.0,
            seed: 1,
        }),
        ..Hyper::sgd(0.5)
    };
    match gpu.train_with(&[0, 1], 1, &dropout) {
        Err(BpropError::Gpu(msg)) => assert!(msg.contains("dropout"), "{msg}"),
        other => panic!("expected a GPU error naming dropout, got {other:?}"),
    }
    // More workgroup memory than any adapter offers.
    let wide = Case {
        inputs: 512,
        layers: &[(512, Activation::Tanh), (2, Activation::Sigmoid)],
        loss: Loss::HalfSse,
        batch: 1,
        optimizer: Optimizer::Sgd,
        weight_decay: 0.0,
        schedule: Schedule::Constant,
    };
    let (net, data) = problem::<f32>(&wide, 2, 2);
    let mut gpu = GpuEngine::new(ctx, net, &data).unwrap();
    gpu.set_kernel_choice(KernelChoice::Fused).unwrap();
    match gpu.train_with(&[0], 1, &Hyper::sgd(0.1)) {
        Err(BpropError::Gpu(msg)) => assert!(msg.contains("workgroup memory"), "{msg}"),
        other => panic!("expected a GPU error naming workgroup memory, got {other:?}"),
    }
}

/// Timestamp queries around the training passes (fused and separate), where the adapter
/// has them (lavapipe does): device time is reported, positive, and reset by each take.
#[test]
fn device_time_from_timestamp_queries() {
    let ctx = common::gpu(false);
    let case = &cases()[2];
    let (net, data) = problem::<f32>(case, 6, 5);
    let order: Vec<u32> = (0..30 * case.batch).map(|i| (i % 6) as u32).collect();
    for choice in [KernelChoice::Fused, KernelChoice::Plain] {
        let mut gpu = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        gpu.set_kernel_choice(choice).unwrap();
        assert_eq!(gpu.take_device_time(), None, "timing is off by default");
        let on = gpu.set_timing(true);
        assert_eq!(on, ctx.timestamp_period.is_some(), "timing follows TIMESTAMP_QUERY");
        gpu.train_with(&order, case.batch, &hyper(case)).unwrap();
        match gpu.take_device_time() {
            Some(t) => {
                assert!(on);
                assert!(t.as_nanos() > 0, "{choice:?}: {t:?}");
                assert_eq!(gpu.take_device_time(), Some(std::time::Duration::ZERO));
            }
            None => assert!(!on),
        }
        gpu.set_timing(false);
        assert_eq!(gpu.take_device_time(), None);
    }
}
