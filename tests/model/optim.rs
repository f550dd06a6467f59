//! Optimizers, schedules and regularisation: each rule against steps computed
//! independently in the test (scalar recurrences on a one-weight network, and frozen
//! numbers worked out by hand), the GPU path against the CPU path for every rule, and
//! resuming from saved optimizer state.

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::cross_check;
use bprop::engine::Engine;
use bprop::gpu::GpuEngine;
use bprop::model::{Activation, Dataset, Hyper, Init, Layer, Loss, Network, NetworkSpec, Optimizer, Real, Schedule};
use ndarray::{array, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One weight w, identity output, no bias, E = ½ (w·1 − 0)²: the gradient is g = w, so
/// every optimizer's trajectory is a scalar recurrence the test can write out.
fn one_weight(w0: f64) -> CpuEngine<f64> {
    let layer = Layer {
        weights: array![[w0]],
        bias: None,
        activation: Activation::Identity,
    };
    let net = Network::new(vec![layer], Loss::HalfSse).unwrap();
    CpuEngine::new(net, Dataset::new(array![[1.0]], array![[0.0]]).unwrap()).unwrap()
}

fn run_one_weight(opt: Optimizer, lr: f64, steps: usize) -> Vec<f64> {
    let mut e = one_weight(0.5);
    let hyper = Hyper::sgd(lr).with_optimizer(opt);
    (0..steps)
        .map(|_| {
            e.train_with(&[0], 1, &hyper).unwrap();
            e.network().unwrap().layers()[0].weights[[0, 0]]
        })
        .collect()
}

#[test]
fn two_adam_steps_match_numbers_worked_by_hand() {
    // Step 1: g = 0.5, m = 0.1·0.5 = 0.05, v = 0.001·0.25 = 0.00025, c1 = 0.1, c2 = 0.001,
    //   m/c1 = 0.5, √(v/c2) = 0.5, w = 0.5 − 0.1·0.5/(0.5 + 1e-8) = 0.4 (+2e-9).
    // Step 2: g = 0.4, m = 0.045 + 0.04 = 0.085, v = 0.00024975 + 0.00016 = 0.00040975,
    //   c1 = 0.19, c2 = 0.001999, m/c1 = 0.4473684, √(v/c2) = √0.2049775 = 0.4527444,
    //   w = 0.4 − 0.1·0.4473684/0.4527444 = 0.4 − 0.0988126 = 0.3011874.
    let w = run_one_weight(Optimizer::ADAM, 0.1, 2);
    assert!((w[0] - 0.4).abs() < 1e-8, "{w:?}");
    assert!((w[1] - 0.3011874).abs() < 1e-7, "{w:?}");
}

#[test]
fn every_rule_follows_its_recurrence() {
    let (lr, mu) = (0.1, 0.9);
    // momentum: v ← μ v + g, w ← w − η v
    let (mut w, mut v) = (0.5, 0.0);
    let expect: Vec<f64> = (0..5)
        .map(|_| {
            v = mu * v + w;
            w -= lr * v;
            w
        })
        .collect();
    assert_eq!(run_one_weight(Optimizer::Momentum { momentum: mu }, lr, 5), expect);
    // nesterov: v ← μ v + g, w ← w − η (g + μ v)
    let (mut w, mut v) = (0.5f64, 0.0);
    let expect: Vec<f64> = (0..5)
        .map(|_| {
            let g = w;
            v = mu * v + g;
            w -= lr * (g + mu * v);
            w
        })
        .collect();
    assert_eq!(run_one_weight(Optimizer::Nesterov { momentum: mu }, lr, 5), expect);
    // adamw: w ← w − η λ w, then adam
    let (mut w, mut m, mut s) = (0.5f64, 0.0, 0.0);
    let expect: Vec<f64> = (1..=5)
        .map(|t| {
            let g = w;
            w -= lr * 0.01 * w;
            m = 0.9 * m + 0.1 * g;
            s = 0.999 * s + 0.001 * g * g;
            let (c1, c2) = (1.0 - 0.9f64.powf(t as f64), 1.0 - 0.999f64.powf(t as f64));
            w -= lr * (m / c1) / ((s / c2).sqrt() + 1e-8);
            w
        })
        .collect();
    let got = run_one_weight(
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            decoupled_decay: 0.01,
        },
        lr,
        5,
    );
    for (a, b) in got.iter().zip(&expect) {
        assert!((a - b).abs() < 1e-15, "{got:?} vs {expect:?}");
    }
    // irprop-: step 1 has no previous gradient (g₋ = 0), so Δ stays 0.1: w = 0.4. Then g = w
    // keeps its sign and Δ grows by 1.2: w = 0.4 − 0.12 = 0.28, 0.28 − 0.144 = 0.136,
    // 0.136 − 0.1728 = −0.0368. Step 5: g = −0.0368 changed sign, Δ ← 0.5 · 0.1728 = 0.0864,
    // g ← 0, no move. Step 6: g₋ = 0, Δ unchanged, w = −0.0368 + 0.0864 = 0.0496.
    let got = run_one_weight(Optimizer::IRPROP, 1.0, 6);
    let expect = [0.4, 0.28, 0.136, -0.0368, -0.0368, 0.0496];
    for (a, b) in got.iter().zip(&expect) {
        assert!((a - b).abs() < 1e-12, "{got:?} vs {expect:?}");
    }
}

#[test]
fn schedules_give_the_documented_rates() {
    assert_eq!(Schedule::Constant.lr_at(0.1, 100), 0.1);
    let step = Schedule::Step { every: 10, gamma: 0.5 };
    assert_eq!(
        (step.lr_at(0.1, 9), step.lr_at(0.1, 10), step.lr_at(0.1, 25)),
        (0.1, 0.05, 0.025)
    );
    let exp = Schedule::Exponential { gamma: 0.9 };
    assert!((exp.lr_at(1.0, 2) - 0.81).abs() < 1e-15);
    let cos = Schedule::Cosine {
        total: 100,
        min_lr: 0.0,
    };
    assert_eq!(cos.lr_at(1.0, 0), 1.0);
    assert!((cos.lr_at(1.0, 50) - 0.5).abs() < 1e-12);
    assert_eq!(cos.lr_at(1.0, 100), 0.0);
    assert!(Schedule::Step { every: 0, gamma: 0.5 }.validate().is_err());
}

#[test]
fn weight_decay_and_max_norm_act_as_documented() {
    // SGD with λ: g = w + λ w, so w ← w (1 − η (1 + λ)).
    let mut e = one_weight(0.5);
    let hyper = Hyper {
        weight_decay: 0.5,
        ..Hyper::sgd(0.1)
    };
    e.train_with(&[0], 1, &hyper).unwrap();
    assert!((e.network().unwrap().layers()[0].weights[[0, 0]] - 0.5 * (1.0 - 0.1 * 1.5)).abs() < 1e-15);
    // max-norm: every row of every layer ends with norm ≤ c.
    let (net, data) = random_problem::<f64>(5, 6, 3, 7, Activation::Relu, false);
    let mut e = CpuEngine::new(net, data).unwrap();
    let hyper = Hyper {
        max_norm: Some(0.3),
        ..Hyper::sgd(0.5)
    };
    e.train_with(&[0, 1, 2, 3], 2, &hyper).unwrap();
    for layer in e.network().unwrap().layers() {
        for row in layer.weights.rows() {
            assert!(row.dot(&row).sqrt() <= 0.3 + 1e-12);
        }
    }
}

fn random_problem<T: Real>(
    inputs: usize,
    hidden: usize,
    outputs: usize,
    n: usize,
    act: Activation,
    softmax: bool,
) -> (Network<T>, Dataset<T>) {
    let spec = if softmax {
        NetworkSpec::new(inputs, Loss::CrossEntropy)
            .layer(hidden, act)
            .layer(outputs, Activation::Softmax)
    } else {
        NetworkSpec::new(inputs, Loss::Mse)
            .layer(hidden, act)
            .layer_without_bias(outputs, Activation::Tanh)
    };
    let net = Network::random(&spec, Init::Auto, 11).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = Array2::from_shape_simple_fn((n, inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn((n, outputs), |(i, k)| {
        if softmax {
            T::of(f64::from(u8::from(i % outputs == k)))
        } else {
            T::of(((i * 7 + k * 3) % 5) as f64 / 5.0 - 0.4)
        }
    });
    (net, Dataset::new(x, y).unwrap())
}

fn all_rules() -> Vec<(Hyper, usize)> {
    let base = Hyper::sgd(0.05);
    vec![
        (base, 3),
        (base.with_optimizer(Optimizer::Momentum { momentum: 0.9 }), 3),
        (base.with_optimizer(Optimizer::Nesterov { momentum: 0.8 }), 3),
        (
            Hyper {
                weight_decay: 0.01,
                schedule: Schedule::Cosine {
                    total: 6,
                    min_lr: 0.001,
                },
                ..base.with_optimizer(Optimizer::ADAM)
            },
            3,
        ),
        (base.with_optimizer("adamw:0.1".parse().unwrap()), 3),
        (
            Hyper {
                max_norm: Some(0.5),
                schedule: Schedule::Step { every: 2, gamma: 0.5 },
                ..base
            },
            3,
        ),
        // iRPROP− is full batch: every step uses all 9 samples.
        (base.with_optimizer(Optimizer::IRPROP), 9),
    ]
}

fn gpu_matches_cpu<T: Real>(f64_adapter: bool) {
    let ctx = common::gpu(f64_adapter);
    for (softmax, act) in [(false, Activation::Tanh), (true, Activation::LeakyRelu { slope: 0.1 })] {
        let (net, data) = random_problem::<T>(7, 65, 3, 9, act, softmax);
        for (hyper, batch) in all_rules() {
            let mut gpu = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
            let mut cpu = CpuEngine::new(net.clone(), data.clone()).unwrap();
            let order: Vec<u32> = (0..6 * batch).map(|i| (i % 9) as u32).collect();
            let report = cross_check(&mut gpu, &mut cpu, &order, batch, &hyper, 2).unwrap();
            assert!(report.passed(), "{} {hyper:?}:\n{report}", T::NAME);
            assert_eq!(report.steps, 6);
        }
    }
}

#[test]
fn gpu_matches_cpu_for_every_rule_f32() {
    gpu_matches_cpu::<f32>(false);
}

#[test]
fn gpu_matches_cpu_for_every_rule_f64() {
    gpu_matches_cpu::<f64>(true);
}

fn resume_is_exact<E: Engine<f64>>(mut make: impl FnMut() -> E) {
    let hyper = Hyper::sgd(0.01).with_optimizer(Optimizer::ADAM);
    let order: Vec<u32> = (0..10).map(|i| i % 7).collect();
    let mut straight = make();
    straight.train_with(&order, 1, &hyper).unwrap();
    let mut first = make();
    first.train_with(&order[..4], 1, &hyper).unwrap();
    let (net, state) = (first.network().unwrap(), first.optimizer_state().unwrap());
    assert_eq!(state.as_ref().map(|s| s.step), Some(4));
    let mut resumed = make();
    resumed.set_network(&net).unwrap();
    resumed.set_optimizer_state(state.as_ref()).unwrap();
    resumed.train_with(&order[4..], 1, &hyper).unwrap();
    assert_eq!(resumed.network().unwrap(), straight.network().unwrap());
    assert_eq!(resumed.optimizer_state().unwrap(), straight.optimizer_state().unwrap());
}

#[test]
fn resuming_from_saved_optimizer_state_is_exact_on_both_paths() {
    let (net, data) = random_problem::<f64>(4, 5, 2, 7, Activation::Sigmoid, false);
    resume_is_exact(|| CpuEngine::new(net.clone(), data.clone()).unwrap());
    let ctx = common::gpu(true);
    resume_is_exact(|| GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap());
}

#[test]
fn invalid_optimizer_settings_are_refused() {
    for bad in ["momentum:1.5", "adamw:-1", "nesterov:x", "lbfgs", "sgd:3"] {
        assert!(bad.parse::<Optimizer>().is_err(), "{bad}");
    }
    let mut e = one_weight(0.5);
    let err = e.train_with(&[0], 1, &Hyper::sgd(-1.0)).unwrap_err();
    assert!(err.to_string().contains("learning_rate"), "{err}");
    let err = e
        .train_with(
            &[0],
            1,
            &Hyper {
                max_norm: Some(0.0),
                ..Hyper::sgd(0.1)
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("max_norm"), "{err}");
}

/// A velocity that decays below the smallest normal number is stored as 0 on both paths
/// (model::optim's module doc: subnormal state would stick at the smallest subnormal and
/// slow every later update on x86), and a normal one is kept.
fn subnormal_state_is_flushed<T: Real, E: Engine<T>>(make: impl Fn(Network<T>, Dataset<T>) -> E) {
    // Input 0 is always 0, so its weight's gradient is exactly 0 and v ← μ v alone.
    let layer = Layer {
        weights: Array2::from_elem((1, 2), T::of(0.25)),
        bias: None,
        activation: Activation::Identity,
    };
    let net = Network::new(vec![layer], Loss::HalfSse).unwrap();
    let data = Dataset::new(array![[T::zero(), T::one()]], array![[T::zero()]]).unwrap();
    let opt = Optimizer::Momentum { momentum: 0.5 };
    let mut state = bprop::model::OptimState::new(opt, &net);
    let just_normal = T::min_positive_value() * T::of(1.5);
    state.weights[0][0][[0, 0]] = just_normal;
    state.weights[0][0][[0, 1]] = T::of(0.3);
    let mut engine = make(net, data);
    engine.set_optimizer_state(Some(&state)).unwrap();
    engine
        .train_with(&[0], 1, &Hyper::sgd(0.1).with_optimizer(opt))
        .unwrap();
    let after = engine.optimizer_state().unwrap().unwrap();
    let v = &after.weights[0][0];
    // 0.5 · 1.5 · min_normal is subnormal: flushed; the other velocity is 0.5·0.3 + g.
    assert_eq!(v[[0, 0]], T::zero(), "{} velocity {:?}", T::NAME, v[[0, 0]]);
    assert!(v[[0, 1]].abs() > T::of(0.1), "{:?}", v[[0, 1]]);
}

#[test]
fn subnormal_optimizer_state_is_flushed_on_both_paths() {
    subnormal_state_is_flushed::<f32, _>(|n, d| CpuEngine::new(n, d).unwrap());
    subnormal_state_is_flushed::<f64, _>(|n, d| CpuEngine::new(n, d).unwrap());
    let ctx = common::gpu(false);
    subnormal_state_is_flushed::<f32, _>(|n, d| GpuEngine::new(ctx.clone(), n, &d).unwrap());
    let ctx = common::gpu(true);
    subnormal_state_is_flushed::<f64, _>(|n, d| GpuEngine::new(ctx.clone(), n, &d).unwrap());
}
