//! Dropout: masks drawn by the counter-based hash keep the stated fraction, the gradient
//! under fixed masks agrees with finite differences, the GPU path drops exactly the units
//! the CPU path drops (cross-check), and runs are reproducible from the seed.

use crate::common;

use bprop::cpu::{self, CpuEngine, Workspace};
use bprop::driver::cross_check;
use bprop::engine::Engine;
use bprop::gpu::GpuEngine;
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn problem<T: Real>(n: usize) -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(6, Loss::CrossEntropy)
        .layer(33, Activation::Relu)
        .layer(9, Activation::Sigmoid)
        .layer(3, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = Array2::from_shape_simple_fn((n, 6), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn((n, 3), |(i, k)| T::of(f64::from(u8::from(i % 3 == k))));
    (net, Dataset::new(x, y).unwrap())
}

const DROPOUT: Dropout = Dropout {
    input: 0.2,
    hidden: 0.5,
    seed: 0x1234_5678_9abc_def0,
};

#[test]
fn masks_keep_the_stated_fraction_and_scale_the_kept() {
    let (net, _) = problem::<f64>(1);
    let mut ws = Workspace::new(&net, 200);
    ws.set_dropout(&net, Some(&DROPOUT), 17);
    let masks = &ws.dropout.as_ref().unwrap().masks;
    for (l, m) in masks.iter().enumerate() {
        let p = DROPOUT.p(l);
        let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        // 200 rows × ≥ 6 units: the dropped fraction is within 4 standard deviations of p.
        let sd = (p * (1.0 - p) / m.len() as f64).sqrt();
        assert!((dropped - p).abs() < 4.0 * sd, "layer {l}: dropped {dropped}, p {p}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / (1.0 - p)).abs() < 1e-15));
    }
    // Another step draws other masks; the same step the same ones.
    let first = masks.clone();
    ws.set_dropout(&net, Some(&DROPOUT), 18);
    assert_ne!(ws.dropout.as_ref().unwrap().masks, first);
    ws.set_dropout(&net, Some(&DROPOUT), 17);
    assert_eq!(ws.dropout.as_ref().unwrap().masks, first);
}

#[test]
fn gradient_under_fixed_masks_matches_finite_differences() {
    let (net, data) = problem::<f64>(4);
    let idx = [0u32, 1, 2, 3];
    let loss_of = |net: &Network<f64>| {
        let mut ws = Workspace::new(net, 4);
        ws.gather(&data, &idx);
        ws.set_dropout(net, Some(&DROPOUT), 5);
        cpu::forward(net, &mut ws);
        cpu::loss(net, &ws)
    };
    let mut ws = Workspace::new(&net, 4);
    ws.gather(&data, &idx);
    ws.set_dropout(&net, Some(&DROPOUT), 5);
    cpu::forward(&net, &mut ws);
    cpu::backward(&net, &mut ws);
    let h = 1e-6;
    for l in 0..net.layers().len() {
        for (i, j) in [(0, 0), (1, 2), (2, 5)] {
            if i >= net.layers()[l].fan_out() || j >= net.layers()[l].fan_in() {
                continue;
            }
            let mut plus = net.clone();
            let mut minus = net.clone();
            bump(&mut plus, l, i, j, h);
            bump(&mut minus, l, i, j, -h);
            let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h);
            let analytic = ws.grad_w[l][[i, j]];
            assert!(
                (numeric - analytic).abs() <= 1e-6 * numeric.abs().max(analytic.abs()).max(1.0),
                "layer {l} W[{i},{j}]: analytic {analytic} numeric {numeric}"
            );
        }
    }
}

/// Adds `h` to weight (i, j) of layer `l` (rebuilding the network through its public API).
fn bump(net: &mut Network<f64>, l: usize, i: usize, j: usize, h: f64) {
    let mut layers = net.layers().to_vec();
    layers[l].weights[[i, j]] += h;
    *net = Network::new(layers, net.loss()).unwrap();
}

#[test]
fn p_zero_is_no_dropout() {
    let (net, data) = problem::<f64>(6);
    let order: Vec<u32> = (0..12).map(|i| i % 6).collect();
    let hyper = Hyper::sgd(0.1);
    let mut plain = CpuEngine::new(net.clone(), data.clone()).unwrap();
    plain.train_with(&order, 2, &hyper).unwrap();
    let mut zero = CpuEngine::new(net, data).unwrap();
    zero.train_with(
        &order,
        2,
        &Hyper {
            dropout: Some(Dropout {
                input: 0.0,
                hidden: 0.0,
                seed: 9,
            }),
            ..hyper
        },
    )
    .unwrap();
    assert_eq!(plain.network().unwrap(), zero.network().unwrap());
}

fn gpu_drops_what_cpu_drops<T: Real>(f64_adapter: bool) {
    let (net, data) = problem::<T>(10);
    let order: Vec<u32> = (0..40).map(|i| (i * 7 % 10) as u32).collect();
    let hyper = Hyper {
        dropout: Some(DROPOUT),
        ..Hyper::sgd(0.05).with_optimizer(Optimizer::Momentum { momentum: 0.9 })
    };
    let mut gpu = GpuEngine::new(common::gpu(f64_adapter), net.clone(), &data).unwrap();
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let report = cross_check(&mut gpu, &mut cpu, &order, 4, &hyper, 2).unwrap();
    assert!(report.passed(), "{report}");
    // Dropout changed the run: the trace (no dropout) of the result differs from a run
    // without dropout.
    assert_eq!(report.steps, 10);
}

#[test]
fn gpu_drops_exactly_what_cpu_drops_f32() {
    gpu_drops_what_cpu_drops::<f32>(false);
}

#[test]
fn gpu_drops_exactly_what_cpu_drops_f64() {
    gpu_drops_what_cpu_drops::<f64>(true);
}

#[test]
fn runs_are_reproducible_from_the_seed() {
    let (net, data) = problem::<f64>(8);
    let order: Vec<u32> = (0..16).map(|i| i % 8).collect();
    let run = |seed| {
        let mut e = CpuEngine::new(net.clone(), data.clone()).unwrap();
        let hyper = Hyper {
            dropout: Some(Dropout { seed, ..DROPOUT }),
            ..Hyper::sgd(0.1)
        };
        e.train_with(&order, 2, &hyper).unwrap();
        e.network().unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let err = Hyper {
        dropout: Some(Dropout { input: 1.0, ..DROPOUT }),
        ..Hyper::sgd(0.1)
    }
    .validate()
    .unwrap_err();
    assert!(err.to_string().contains("dropout"), "{err}");
}
