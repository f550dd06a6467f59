//! No allocation per training step on the CPU path: a counting global allocator (per
//! thread, so that the test harness's own allocations on other threads do not count) runs
//! a few steps to warm up, then many more steps, and asserts that those allocated nothing —
//! online and mini-batch, with and without dropout, for sgd, momentum and adam.
//!
//! The sizes here keep every matrix product below the loops' threshold
//! (`bprop::cpu::uses_loops`); `tests/alloc_pool.rs` checks steps whose products go to the
//! packed product on two threads.
//!
//! Also here: the fused online step and the general passes give bit-identical results.

use bprop::cpu::{uses_loops, CpuEngine};
use bprop::engine::Engine;
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real, Schedule};
use ndarray::Array2;
#[path = "common/counting.rs"]
mod counting;
use counting::{allocations_in, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A 6-9-3 network (tanh, softmax, cross-entropy) with biases, and 16 samples.
fn problem<T: Real>(inputs: usize, hidden: usize) -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Tanh)
        .layer(3, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 11).unwrap();
    let n = 16;
    let x = Array2::from_shape_fn((n, inputs), |(i, j)| T::of(((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5));
    let y = Array2::from_shape_fn((n, 3), |(i, k)| if i % 3 == k { T::one() } else { T::zero() });
    (net, Dataset::new(x, y).unwrap())
}

fn hypers() -> Vec<(&'static str, Hyper)> {
    let base = Hyper::sgd(0.05);
    let dropout = Some(Dropout {
        input: 0.1,
        hidden: 0.3,
        seed: 7,
    });
    let mut out = Vec::new();
    for (name, opt) in [
        ("sgd", Optimizer::Sgd),
        ("momentum", Optimizer::Momentum { momentum: 0.9 }),
        ("adam", Optimizer::ADAM),
    ] {
        out.push((name, base.with_optimizer(opt)));
        out.push((
            name,
            Hyper {
                dropout,
                ..base.with_optimizer(opt)
            },
        ));
    }
    // A schedule, weight decay and max-norm on top.
    out.push((
        "adam, cosine, L2, max-norm",
        Hyper {
            schedule: Schedule::Cosine {
                total: 100,
                min_lr: 0.001,
            },
            weight_decay: 1e-3,
            max_norm: Some(2.0),
            ..base.with_optimizer(Optimizer::ADAM)
        },
    ));
    out
}

fn steps_allocate_nothing<T: Real>(inputs: usize, hidden: usize, batch: usize) {
    let (net, data) = problem::<T>(inputs, hidden);
    // Every product of a step stays on the loops' side of the threshold.
    for (m, k, n) in [
        (batch, inputs, hidden),
        (batch, hidden, 3),
        (batch, 3, hidden),
        (hidden, batch, inputs),
    ] {
        assert!(uses_loops(m, k, n), "{m}x{k}x{n} would go to the packed product");
    }
    let steps = 50;
    let order: Vec<u32> = (0..(steps * batch) as u32).map(|i| (i * 5) % 16).collect();
    for (name, hyper) in hypers() {
        let mut engine = CpuEngine::new(net.clone(), data.clone()).unwrap();
        let mut losses = Vec::with_capacity(steps + 3);
        // Warm-up: the first steps size the buffers and the optimizer state.
        engine
            .train_into(&order[..3 * batch], batch, &hyper, &mut losses)
            .unwrap();
        let during = allocations_in(|| engine.train_into(&order, batch, &hyper, &mut losses).unwrap());
        let what = format!(
            "{name}{}, batch {batch}, {}",
            if hyper.dropout.is_some() { " with dropout" } else { "" },
            T::NAME
        );
        assert_eq!(during, 0, "{what}: {steps} steps allocated {during} times");
        assert_eq!(losses.len(), steps + 3, "{what}");
        assert!(losses.iter().all(|l| l.is_finite()), "{what}");
    }
}

#[test]
fn online_steps_allocate_nothing() {
    steps_allocate_nothing::<f64>(6, 9, 1);
    steps_allocate_nothing::<f32>(6, 9, 1);
}

#[test]
fn mini_batch_steps_allocate_nothing() {
    steps_allocate_nothing::<f64>(6, 9, 4);
    steps_allocate_nothing::<f32>(6, 9, 4);
}

/// Batch 1 is a matrix-vector product at any size, so online training of a network with
/// MNIST's input width allocates nothing either.
#[test]
fn online_steps_of_a_wide_network_allocate_nothing() {
    steps_allocate_nothing::<f32>(784, 64, 1);
}

/// Through the `Engine` trait a call allocates its vector of losses, once, however many
/// steps it runs.
#[test]
fn train_with_allocates_once_per_call() {
    let (net, data) = problem::<f64>(6, 9);
    let mut engine = CpuEngine::new(net, data).unwrap();
    let hyper = Hyper::sgd(0.1).with_optimizer(Optimizer::ADAM);
    engine.train_with(&[0, 1, 2, 3], 2, &hyper).unwrap();
    let order: Vec<u32> = (0..400).map(|i| i % 16).collect();
    for steps in [1, 10, 200] {
        let n = allocations_in(|| {
            engine.train_with(&order[..2 * steps], 2, &hyper).unwrap();
        });
        assert_eq!(n, 1, "{steps} steps");
    }
}

/// Online training without dropout takes the fused step (`cpu::online_step`); with dropout
/// of probability 0 (masks of exactly 1) it takes the general passes. Both give the same
/// bits, for every activation, loss, optimizer, bias setting and regulariser here.
#[test]
fn fused_online_step_equals_the_general_passes() {
    let zero_dropout = Some(Dropout {
        input: 0.0,
        hidden: 0.0,
        seed: 1,
    });
    let nets: Vec<(NetworkSpec, &str)> = vec![
        (
            NetworkSpec::new(5, Loss::HalfSse)
                .layer_without_bias(4, Activation::Sigmoid)
                .layer(2, Activation::Sigmoid),
            "sse",
        ),
        (
            NetworkSpec::new(5, Loss::Mse)
                .layer(7, Activation::Relu)
                .layer(3, Activation::LeakyRelu { slope: 0.1 })
                .layer(2, Activation::Identity),
            "mse",
        ),
        (
            NetworkSpec::new(5, Loss::BinaryCrossEntropy)
                .layer(6, Activation::Tanh)
                .layer(2, Activation::Sigmoid),
            "bce",
        ),
        (
            NetworkSpec::new(5, Loss::CrossEntropy)
                .layer(300, Activation::Relu)
                .layer(2, Activation::Softmax),
            "ce, 300 hidden",
        ),
    ];
    let n = 12;
    let x = Array2::from_shape_fn((n, 5), |(i, j)| ((i * 5 + j * 7) % 13) as f64 / 13.0 - 0.4);
    let y = Array2::from_shape_fn((n, 2), |(i, k)| if i % 2 == k { 1.0 } else { 0.0 });
    let data = Dataset::new(x, y).unwrap();
    let order: Vec<u32> = (0..60).map(|i| (i * 7) % n as u32).collect();
    for (spec, name) in nets {
        let net = Network::<f64>::random(&spec, Init::Auto, 5).unwrap();
        for (opt_name, hyper) in hypers().into_iter().filter(|(_, h)| h.dropout.is_none()) {
            let mut fused = CpuEngine::new(net.clone(), data.clone()).unwrap();
            let mut general = CpuEngine::new(net.clone(), data.clone()).unwrap();
            let a = fused.train_with(&order, 1, &hyper).unwrap();
            let b = general
                .train_with(
                    &order,
                    1,
                    &Hyper {
                        dropout: zero_dropout,
                        ..hyper
                    },
                )
                .unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{name}, {opt_name}: losses");
            assert_eq!(
                fused.network().unwrap(),
                general.network().unwrap(),
                "{name}, {opt_name}"
            );
            assert_eq!(
                fused.optimizer_state().unwrap(),
                general.optimizer_state().unwrap(),
                "{name}, {opt_name}: optimizer state"
            );
        }
    }
}
