//! The GPU path against the CPU path on random networks and inputs, in f32 and f64:
//! one step's forward quantities (z, a), deltas, gradients and loss through
//! `Engine::trace` on `GpuEngine` and `CpuEngine`, then several updates through
//! `bprop::driver::cross_check` (compared after every 2 steps from a shared state), and an
//! f64 run of several updates without re-synchronisation compared with `compare_networks`.
//!
//! Tolerance: `Tolerance::for_precision`, a value pair (g, c) passes when
//! |g − c| ≤ max(atol, rtol · max(|g|, |c|)) with
//!
//! - f32: atol 1e-5, rtol 1e-4;
//! - f64: atol 1e-12, rtol 1e-9.
//!
//! The cases use widths from {1, 7, 63, 64, 65, 257} (not multiples of the workgroup of 64,
//! and exact multiples), batches of 1, 3 and 5, every hidden activation, every output
//! activation with both sse and mse, sigmoid + bce and softmax + cross_entropy (one-hot
//! and probability targets), layers with and without bias. Finally a perturbed result (one
//! weight nudged by 1e-2) must make the comparison fail: `compare_networks` counts the
//! failure and `cross_check`'s report turns into `BpropError::CrossCheck`.

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::{compare_networks, cross_check, Tolerance};
use bprop::engine::{BackendInfo, Engine, StepTrace};
use bprop::gpu::{GpuContext, GpuEngine};
use bprop::model::{Activation, Dataset, Hyper, Layer, Loss, Network, OptimState, Real};
use bprop::BpropError;
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const LEAKY: Activation = Activation::LeakyRelu { slope: 0.1 };

/// One random case: layers as (units, activation, bias) after `inputs` inputs.
struct Case {
    inputs: usize,
    layers: &'static [(usize, Activation, bool)],
    loss: Loss,
    batch: usize,
    /// Cross-entropy targets: one-hot (false) or random probabilities (true).
    soft_targets: bool,
    seed: u64,
    /// Multiplies the weights' range: large values saturate sigmoid, tanh and softmax.
    scale: f64,
}

/// Samples in each case's dataset (trace batches pick from them, with repeats).
const N: usize = 6;

impl Case {
    fn build(&self) -> (Network<f64>, Dataset<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut fan_in = self.inputs;
        let mut layers = Vec::new();
        for &(units, activation, bias) in self.layers {
            // Glorot-like range, so that wide layers stay out of saturation unless scaled.
            let r = self.scale * (6.0 / (fan_in + units) as f64).sqrt();
            let weights = Array2::from_shape_simple_fn((units, fan_in), || rng.random_range(-r..r));
            let bias = bias.then(|| Array1::from_shape_simple_fn(units, || rng.random_range(-0.3..0.3)));
            layers.push(Layer {
                weights,
                bias,
                activation,
            });
            fan_in = units;
        }
        let net = Network::new(layers, self.loss).expect("valid case");
        let inputs = Array2::from_shape_simple_fn((N, self.inputs), || rng.random_range(-1.0..1.0));
        let no = fan_in;
        let targets = match self.loss {
            Loss::HalfSse | Loss::Mse | Loss::TanhError => {
                Array2::from_shape_simple_fn((N, no), || rng.random_range(-1.0..1.0))
            }
            Loss::BinaryCrossEntropy => Array2::from_shape_simple_fn((N, no), || rng.random_range(0.0..=1.0)),
            Loss::CrossEntropy => {
                let mut t = Array2::zeros((N, no));
                for mut row in t.rows_mut() {
                    if self.soft_targets {
                        row.mapv_inplace(|_| rng.random_range(0.01..1.0));
                        let s = row.sum();
                        row.mapv_inplace(|v| v / s);
                    } else {
                        row[rng.random_range(0..no)] = 1.0;
                    }
                }
                t
            }
        };
        (net, Dataset::new(inputs, targets).expect("finite data"))
    }

    fn label(&self) -> String {
        let layers: Vec<String> = self
            .layers
            .iter()
            .map(|(u, a, b)| format!("{u} {a}{}", if *b { "" } else { " (no bias)" }))
            .collect();
        format!(
            "{} -> {} with {}, batch {}, weights ×{}",
            self.inputs,
            layers.join(" -> "),
            self.loss,
            self.batch,
            self.scale
        )
    }
}

fn cast_data<T: Real>(d: &Dataset<f64>) -> Dataset<T> {
    Dataset::new(d.inputs().mapv(T::of), d.targets().mapv(T::of)).unwrap()
}

/// Compares two arrays value by value under `tol`; pushes a line per failing tensor.
fn compare<T: Real>(
    name: &str,
    g: impl IntoIterator<Item = T>,
    c: impl IntoIterator<Item = T>,
    tol: &Tolerance,
    bad: &mut Vec<String>,
) {
    let (g, c): (Vec<f64>, Vec<f64>) = (
        g.into_iter().map(Real::f64).collect(),
        c.into_iter().map(Real::f64).collect(),
    );
    assert_eq!(g.len(), c.len(), "{name}: lengths differ");
    let mut worst: Option<(usize, f64, f64)> = None;
    let mut failures = 0;
    for (k, (&x, &y)) in g.iter().zip(&c).enumerate() {
        if !tol.accepts(x, y) || !x.is_finite() || !y.is_finite() {
            failures += 1;
            if worst.is_none_or(|(_, a, b)| (x - y).abs() > (a - b).abs()) {
                worst = Some((k, x, y));
            }
        }
    }
    if let Some((k, x, y)) = worst {
        bad.push(format!(
            "{name}: {failures} of {} values off, worst [{k}] gpu {x:e} vs cpu {y:e}",
            g.len()
        ));
    }
}

fn compare_traces<T: Real>(g: &StepTrace<T>, c: &StepTrace<T>, tol: &Tolerance) -> Vec<String> {
    let mut bad = Vec::new();
    assert_eq!(g.inputs, c.inputs, "the GPU trace's input rows are the dataset's");
    assert_eq!(g.targets, c.targets, "the GPU trace's target rows are the dataset's");
    assert_eq!(g.layers.len(), c.layers.len());
    for (l, (gl, cl)) in g.layers.iter().zip(&c.layers).enumerate() {
        assert_eq!(gl.z.dim(), cl.z.dim());
        assert_eq!(gl.grad_w.dim(), cl.grad_w.dim());
        compare(
            &format!("layer {l} z"),
            gl.z.iter().copied(),
            cl.z.iter().copied(),
            tol,
            &mut bad,
        );
        compare(
            &format!("layer {l} a"),
            gl.a.iter().copied(),
            cl.a.iter().copied(),
            tol,
            &mut bad,
        );
        compare(
            &format!("layer {l} delta"),
            gl.delta.iter().copied(),
            cl.delta.iter().copied(),
            tol,
            &mut bad,
        );
        compare(
            &format!("layer {l} grad_w"),
            gl.grad_w.iter().copied(),
            cl.grad_w.iter().copied(),
            tol,
            &mut bad,
        );
        assert_eq!(
            gl.grad_b.is_some(),
            cl.grad_b.is_some(),
            "layer {l} bias gradient presence"
        );
        if let (Some(gb), Some(cb)) = (&gl.grad_b, &cl.grad_b) {
            compare(
                &format!("layer {l} grad_b"),
                gb.iter().copied(),
                cb.iter().copied(),
                tol,
                &mut bad,
            );
        }
    }
    compare("loss", [g.loss], [c.loss], tol, &mut bad);
    bad
}

/// Runs `case` in precision `T` on `ctx`: traces, a cross-checked run, and (f64) a run
/// without re-synchronisation.
fn run_case<T: Real>(ctx: &Arc<GpuContext>, case: &Case) {
    let label = format!("{} [{}]", case.label(), T::NAME);
    let (net64, data64) = case.build();
    let (net, data) = (net64.cast::<T>(), cast_data::<T>(&data64));
    let tol = Tolerance::for_precision::<T>();
    let mut gpu = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap_or_else(|e| panic!("{label}: {e}"));
    let mut cpu = CpuEngine::new(net.clone(), data.clone()).unwrap();

    // One step's quantities, on two different batches (the second with a repeated sample).
    let mut rng = ChaCha8Rng::seed_from_u64(case.seed ^ 0x5eed);
    for _ in 0..2 {
        let mut samples: Vec<u32> = (0..case.batch).map(|_| rng.random_range(0..N as u32)).collect();
        if case.batch > 1 {
            samples[case.batch - 1] = samples[0];
        }
        let g = gpu.trace(&samples).unwrap_or_else(|e| panic!("{label}: {e}"));
        let c = cpu.trace(&samples).unwrap();
        let bad = compare_traces(&g, &c, &tol);
        assert!(bad.is_empty(), "{label}, samples {samples:?}:\n  {}", bad.join("\n  "));
    }
    // A trace does not change the parameters.
    assert_eq!(gpu.network().unwrap(), net, "{label}: trace changed the GPU parameters");

    // Several updates, compared every 2 steps from a shared state.
    let steps = 4;
    let order: Vec<u32> = (0..steps * case.batch).map(|_| rng.random_range(0..N as u32)).collect();
    let lr = T::of(0.1);
    let report = cross_check(&mut gpu, &mut cpu, &order, case.batch, &Hyper::sgd(lr.f64()), 2).unwrap();
    assert_eq!(report.steps, steps);
    assert_eq!(report.tolerance, tol);
    let report = report.into_result().unwrap_or_else(|e| panic!("{label}: {e}"));
    assert!(report.tensors.iter().all(|t| t.count > 0));

    // f64 is tight enough to compare several updates without re-synchronising.
    if T::NAME == "f64" {
        let start = gpu.network().unwrap();
        cpu.set_network(&start).unwrap();
        let lg = gpu.train_steps(&order, case.batch, lr).unwrap();
        let lc = cpu.train_steps(&order, case.batch, lr).unwrap();
        let mut bad = Vec::new();
        compare("losses", lg, lc, &tol, &mut bad);
        for d in compare_networks(&gpu.network().unwrap(), &cpu.network().unwrap(), &tol).unwrap() {
            if d.failures > 0 {
                bad.push(format!(
                    "{}: {} of {} values off, max abs {:e}",
                    d.name, d.failures, d.count, d.max_abs
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "{label}, {steps} steps without re-sync:\n  {}",
            bad.join("\n  ")
        );
    }
}

fn run_both(case: Case) {
    run_case::<f32>(&common::gpu(false), &case);
    run_case::<f64>(&common::gpu(true), &case);
}

#[test]
fn tanh_hidden_sigmoid_sse() {
    run_both(Case {
        inputs: 7,
        layers: &[(65, Activation::Tanh, true), (1, Activation::Sigmoid, true)],
        loss: Loss::HalfSse,
        batch: 3,
        soft_targets: false,
        seed: 1,
        scale: 1.0,
    });
}

#[test]
fn relu_hidden_identity_mse() {
    run_both(Case {
        inputs: 1,
        layers: &[(64, Activation::Relu, true), (7, Activation::Identity, true)],
        loss: Loss::Mse,
        batch: 5,
        soft_targets: false,
        seed: 2,
        scale: 1.0,
    });
}

#[test]
fn wide_leaky_hidden_leaky_sse() {
    run_both(Case {
        inputs: 63,
        layers: &[(257, LEAKY, true), (1, LEAKY, true)],
        loss: Loss::HalfSse,
        batch: 1,
        soft_targets: false,
        seed: 3,
        scale: 1.0,
    });
}

#[test]
fn sigmoid_hidden_softmax_cross_entropy() {
    run_both(Case {
        inputs: 65,
        layers: &[(7, Activation::Sigmoid, true), (63, Activation::Softmax, true)],
        loss: Loss::CrossEntropy,
        batch: 3,
        soft_targets: false,
        seed: 4,
        scale: 1.0,
    });
}

#[test]
fn relu_hidden_softmax_cross_entropy_with_probability_targets() {
    run_both(Case {
        inputs: 7,
        layers: &[(7, Activation::Relu, true), (7, Activation::Softmax, false)],
        loss: Loss::CrossEntropy,
        batch: 5,
        soft_targets: true,
        seed: 5,
        scale: 1.0,
    });
}

#[test]
fn identity_hidden_without_bias_sigmoid_bce() {
    run_both(Case {
        inputs: 7,
        layers: &[(63, Activation::Identity, false), (65, Activation::Sigmoid, true)],
        loss: Loss::BinaryCrossEntropy,
        batch: 5,
        soft_targets: false,
        seed: 6,
        scale: 1.0,
    });
}

#[test]
fn single_layer_sigmoid_bce_without_bias() {
    run_both(Case {
        inputs: 63,
        layers: &[(7, Activation::Sigmoid, false)],
        loss: Loss::BinaryCrossEntropy,
        batch: 1,
        soft_targets: false,
        seed: 7,
        scale: 1.0,
    });
}

#[test]
fn wide_input_tanh_bottleneck_tanh_mse() {
    run_both(Case {
        inputs: 257,
        layers: &[(1, Activation::Tanh, true), (7, Activation::Tanh, true)],
        loss: Loss::Mse,
        batch: 1,
        soft_targets: false,
        seed: 8,
        scale: 1.0,
    });
}

#[test]
fn tanh_hidden_sigmoid_tanh_error() {
    // Targets in [−1, 1] against sigmoid outputs: errors both inside (−1, 1), on φ's
    // logarithmic part, and beyond, on its linear continuation.
    run_both(Case {
        inputs: 5,
        layers: &[(9, Activation::Tanh, true), (4, Activation::Sigmoid, true)],
        loss: Loss::TanhError,
        batch: 4,
        soft_targets: false,
        seed: 21,
        scale: 1.0,
    });
}

#[test]
fn relu_hidden_tanh_output_tanh_error() {
    // A tanh output: errors scaled by w = 2.
    run_both(Case {
        inputs: 3,
        layers: &[(65, Activation::Relu, true), (3, Activation::Tanh, false)],
        loss: Loss::TanhError,
        batch: 2,
        soft_targets: false,
        seed: 22,
        scale: 1.0,
    });
}

#[test]
fn single_neuron_relu_mse() {
    run_both(Case {
        inputs: 1,
        layers: &[(1, Activation::Relu, true)],
        loss: Loss::Mse,
        batch: 3,
        soft_targets: false,
        seed: 9,
        scale: 1.0,
    });
}

#[test]
fn deep_relu_leaky_relu_sse() {
    run_both(Case {
        inputs: 64,
        layers: &[
            (7, Activation::Relu, true),
            (65, LEAKY, false),
            (7, Activation::Relu, true),
        ],
        loss: Loss::HalfSse,
        batch: 5,
        soft_targets: false,
        seed: 10,
        scale: 1.0,
    });
}

#[test]
fn deep_sigmoid_tanh_identity_sse() {
    run_both(Case {
        inputs: 7,
        layers: &[
            (65, Activation::Sigmoid, true),
            (7, Activation::Tanh, true),
            (1, Activation::Identity, true),
        ],
        loss: Loss::HalfSse,
        batch: 3,
        soft_targets: false,
        seed: 11,
        scale: 1.0,
    });
}

#[test]
fn leaky_hidden_leaky_mse() {
    run_both(Case {
        inputs: 65,
        layers: &[(63, LEAKY, true), (64, LEAKY, true)],
        loss: Loss::Mse,
        batch: 1,
        soft_targets: false,
        seed: 12,
        scale: 1.0,
    });
}

#[test]
fn wide_identity_hidden_sigmoid_mse() {
    run_both(Case {
        inputs: 1,
        layers: &[(257, Activation::Identity, true), (7, Activation::Sigmoid, true)],
        loss: Loss::Mse,
        batch: 3,
        soft_targets: false,
        seed: 13,
        scale: 1.0,
    });
}

#[test]
fn tanh_hidden_tanh_sse() {
    run_both(Case {
        inputs: 7,
        layers: &[(64, Activation::Tanh, true), (7, Activation::Tanh, true)],
        loss: Loss::HalfSse,
        batch: 5,
        soft_targets: false,
        seed: 14,
        scale: 1.0,
    });
}

/// Saturated units: pre-activations in the hundreds, where e^{−z} overflows f32 and the
/// stable loss forms matter (sigmoid outputs of 0 and 1 under bce, softmax under
/// cross-entropy, tanh at ±1).
#[test]
fn saturated_tanh_hidden_sigmoid_bce() {
    run_both(Case {
        inputs: 7,
        layers: &[(7, Activation::Tanh, true), (7, Activation::Sigmoid, true)],
        loss: Loss::BinaryCrossEntropy,
        batch: 3,
        soft_targets: false,
        seed: 15,
        scale: 80.0,
    });
}

#[test]
fn saturated_softmax_cross_entropy() {
    run_both(Case {
        inputs: 7,
        layers: &[(65, Activation::Softmax, true)],
        loss: Loss::CrossEntropy,
        batch: 5,
        soft_targets: true,
        seed: 16,
        scale: 200.0,
    });
}

#[test]
fn saturated_sigmoid_sse() {
    run_both(Case {
        inputs: 7,
        layers: &[(7, Activation::Sigmoid, true), (7, Activation::Sigmoid, true)],
        loss: Loss::HalfSse,
        batch: 1,
        soft_targets: false,
        seed: 17,
        scale: 50.0,
    });
}

/// More steps than one submission holds (`STEPS_PER_SUBMISSION`), and batch sizes that
/// grow and shrink on one engine (buffers are reallocated, parameter blocks rewritten),
/// compared without re-synchronisation in f64. The network is small: on lavapipe with 2
/// cores, a dispatch of more than 4 workgroups costs milliseconds, and this runs 2000 steps.
#[test]
fn long_runs_and_changing_batch_sizes() {
    use bprop::gpu::engine::STEPS_PER_SUBMISSION;
    let case = Case {
        inputs: 3,
        layers: &[(4, Activation::Tanh, true), (3, Activation::Sigmoid, true)],
        loss: Loss::Mse,
        batch: 1,
        soft_targets: false,
        seed: 18,
        scale: 1.0,
    };
    let (net, data) = case.build();
    let tol = Tolerance::for_precision::<f64>();
    let mut gpu = GpuEngine::new(common::gpu(true), net.clone(), &data).unwrap();
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    for (batch, steps) in [
        (5, 0),
        (1, STEPS_PER_SUBMISSION + 3),
        (3, 2),
        (2, STEPS_PER_SUBMISSION + 1),
        (6, 1),
        (1, 0),
    ] {
        let samples: Vec<u32> = (0..batch).map(|_| rng.random_range(0..N as u32)).collect();
        let bad = compare_traces(&gpu.trace(&samples).unwrap(), &cpu.trace(&samples).unwrap(), &tol);
        assert!(bad.is_empty(), "trace of batch {batch}:\n  {}", bad.join("\n  "));
        let order: Vec<u32> = (0..steps * batch).map(|_| rng.random_range(0..N as u32)).collect();
        let lg = gpu.train_steps(&order, batch, 0.1).unwrap();
        let lc = cpu.train_steps(&order, batch, 0.1).unwrap();
        assert_eq!(lg.len(), steps);
        let mut bad = Vec::new();
        compare("losses", lg, lc, &tol, &mut bad);
        for d in compare_networks(&gpu.network().unwrap(), &cpu.network().unwrap(), &tol).unwrap() {
            if d.failures > 0 {
                bad.push(format!(
                    "{}: {} values off, max abs {:e}",
                    d.name, d.failures, d.max_abs
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "{steps} steps of batch {batch}:\n  {}",
            bad.join("\n  ")
        );
    }
}

/// An engine that nudges one weight after every chunk of training: a stand-in for a GPU
/// path with a bug, to show the cross-check catches it.
struct Nudged<E> {
    inner: E,
    by: f64,
}

impl<T: Real, E: Engine<T>> Engine<T> for Nudged<E> {
    fn info(&self) -> &BackendInfo {
        self.inner.info()
    }
    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> bprop::Result<Vec<T>> {
        let losses = self.inner.train_with(order, batch, hyper)?;
        let net = nudge(&self.inner.network()?, 0, self.by);
        self.inner.set_network(&net)?;
        Ok(losses)
    }
    fn optimizer_state(&mut self) -> bprop::Result<Option<OptimState<T>>> {
        self.inner.optimizer_state()
    }
    fn set_optimizer_state(&mut self, state: Option<&OptimState<T>>) -> bprop::Result<()> {
        self.inner.set_optimizer_state(state)
    }
    fn network(&mut self) -> bprop::Result<Network<T>> {
        self.inner.network()
    }
    fn set_network(&mut self, net: &Network<T>) -> bprop::Result<()> {
        self.inner.set_network(net)
    }
    fn trace(&mut self, samples: &[u32]) -> bprop::Result<StepTrace<T>> {
        self.inner.trace(samples)
    }
}

/// `net` with weight [0, 0] of layer `l` changed by `by`.
fn nudge<T: Real>(net: &Network<T>, l: usize, by: f64) -> Network<T> {
    let mut layers = net.layers().to_vec();
    layers[l].weights[[0, 0]] += T::of(by);
    Network::new(layers, net.loss()).unwrap()
}

#[test]
fn a_perturbed_result_fails_the_cross_check() {
    let case = Case {
        inputs: 7,
        layers: &[(65, Activation::Tanh, true), (7, Activation::Sigmoid, true)],
        loss: Loss::HalfSse,
        batch: 3,
        soft_targets: false,
        seed: 21,
        scale: 1.0,
    };
    let (net64, data64) = case.build();
    let (net, data) = (net64.cast::<f32>(), cast_data::<f32>(&data64));
    let tol = Tolerance::for_precision::<f32>();

    // compare_networks: exactly the nudged tensor fails, by exactly one value.
    let diffs = compare_networks(&net, &nudge(&net, 1, 1e-2), &tol).unwrap();
    for d in &diffs {
        let expected = usize::from(d.name == "layer 1 weights");
        assert_eq!(d.failures, expected, "{}: {d:?}", d.name);
    }
    assert!(diffs
        .iter()
        .any(|d| d.name == "layer 1 weights" && (d.max_abs - 1e-2).abs() < 1e-6));
    assert!(compare_networks(&net, &net, &tol)
        .unwrap()
        .iter()
        .all(|d| d.failures == 0 && d.max_abs == 0.0));

    // cross_check: a GPU engine whose updates are off by 1e-2 in one weight fails.
    let gpu = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    let mut bad = Nudged { inner: gpu, by: 1e-2 };
    let mut cpu = CpuEngine::new(net.clone(), data.clone()).unwrap();
    let order: Vec<u32> = (0..4 * 3).map(|i| (i % N) as u32).collect();
    let report = cross_check(&mut bad, &mut cpu, &order, 3, &Hyper::sgd(0.1), 2).unwrap();
    assert!(!report.passed(), "{report}");
    let w0 = report.tensors.iter().find(|t| t.name == "layer 0 weights").unwrap();
    assert_eq!(w0.failures, 2, "one nudged value per comparison: {report}");
    assert!(report.to_string().contains("FAIL"), "{report}");
    match report.into_result() {
        Err(BpropError::CrossCheck(msg)) => {
            assert!(msg.contains("layer 0 weights"), "{msg}");
            assert!(msg.contains("rtol"), "{msg}");
        }
        other => panic!("expected BpropError::CrossCheck, got {other:?}"),
    }

    // The same run without the nudge passes.
    let mut gpu = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    let report = cross_check(&mut gpu, &mut cpu, &order, 3, &Hyper::sgd(0.1), 2).unwrap();
    assert!(report.passed(), "{report}");
}

/// The tanh error of small and large errors, on one identity output with zero weights and
/// bias (a = 0, so e = −y): the GPU's loss and δ = φ'(e) against the CPU's to a relative
/// 1e-5 in f32 (2e-13 in f64), where `Tolerance`'s absolute floor would let a small loss
/// be wrong by its whole size. The shaders' ln(1 + x) must keep x's digits near 0.
fn tanh_error_to_relative_precision<T: Real>(f64_adapter: bool, rel: f64) {
    let ctx = common::gpu(f64_adapter);
    for e in [1e-4, -3e-3, 2e-2, 0.3, -0.6, 0.9999, -1.5] {
        let layer = Layer {
            weights: Array2::zeros((1, 1)),
            bias: Some(Array1::zeros(1)),
            activation: Activation::Identity,
        };
        let net = Network::<T>::new(vec![layer], Loss::TanhError).unwrap();
        let data = Dataset::new(Array2::zeros((1, 1)), Array2::from_elem((1, 1), T::of(-e))).unwrap();
        let mut gpu = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        let mut cpu = CpuEngine::new(net, data).unwrap();
        let (g, c) = (gpu.trace(&[0]).unwrap(), cpu.trace(&[0]).unwrap());
        let close = |x: T, y: T| (x.f64() - y.f64()).abs() <= rel * y.f64().abs();
        assert!(
            close(g.loss, c.loss),
            "e {e}: GPU loss {} vs CPU {}",
            g.loss.f64(),
            c.loss.f64()
        );
        let (gd, cd) = (g.layers[0].delta[[0, 0]], c.layers[0].delta[[0, 0]]);
        assert!(close(gd, cd), "e {e}: GPU δ {} vs CPU {}", gd.f64(), cd.f64());
    }
}

#[test]
fn tanh_error_keeps_small_errors_digits_f32() {
    tanh_error_to_relative_precision::<f32>(false, 1e-5);
}

#[test]
fn tanh_error_keeps_small_errors_digits_f64() {
    tanh_error_to_relative_precision::<f64>(true, 2e-13);
}
