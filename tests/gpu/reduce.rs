//! The subgroup reductions (`shaders::Reduce::Subgroup`: `softmax_subgroup.wgsl`,
//! `output_delta_subgroup.wgsl`, `bias_gradient.wgsl`) against the serial fallback, bit for
//! bit: a few training steps and a trace with each, from the same network, on awkward
//! shapes — output widths 1, 3, 10 and 33 (more than a subgroup of 8 or 32), batches that
//! are not multiples of 8 on the plain (below 16 rows) and the tiled route (the bias pass),
//! more rows than one workgroup takes, softmax + cross-entropy, sigmoid + bce, mse, sse and
//! the tanh error, layers with and without a bias — in f32 and f64. Both variants add the
//! same values in the same order, so losses, parameters and every intermediate must hold
//! the same bits; reversing the order of the softmax's, the bias gradient's or the mse's
//! sum fails these tests (checked by hand when they were written). Against the CPU path
//! within the usual tolerance too.

use crate::bits::{assert_networks_equal, assert_traces_equal};
use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::cross_check;
use bprop::engine::{Engine, StepTrace};
use bprop::gpu::{GpuEngine, KernelChoice, Reduce, REDUCE_ENV};
use bprop::model::{Activation, Dataset, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An output layer and its loss, and how targets are drawn.
#[derive(Clone, Copy, Debug)]
enum Head {
    SoftmaxCe,
    SigmoidBce,
    IdentityMse,
    TanhMse,
    SigmoidSse,
    TanhError,
}

impl Head {
    fn parts(self) -> (Activation, Loss) {
        match self {
            Head::SoftmaxCe => (Activation::Softmax, Loss::CrossEntropy),
            Head::SigmoidBce => (Activation::Sigmoid, Loss::BinaryCrossEntropy),
            Head::IdentityMse => (Activation::Identity, Loss::Mse),
            Head::TanhMse => (Activation::Tanh, Loss::Mse),
            Head::SigmoidSse => (Activation::Sigmoid, Loss::HalfSse),
            Head::TanhError => (Activation::Tanh, Loss::TanhError),
        }
    }
}

/// inputs 7 → 20 tanh (bias) → 9 relu (no bias) → `outputs` with `head` (bias).
fn problem<T: Real>(head: Head, outputs: usize, n: usize) -> (Network<T>, Dataset<T>) {
    let (act, loss) = head.parts();
    let spec = NetworkSpec::new(7, loss)
        .layer(20, Activation::Tanh)
        .layer_without_bias(9, Activation::Relu)
        .layer(outputs, act);
    let net = Network::random(&spec, Init::Auto, 5).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = Array2::from_shape_simple_fn((n, 7), || T::of(rng.random_range(-2.0..2.0)));
    let y = Array2::from_shape_fn((n, outputs), |(i, k)| match head {
        Head::SoftmaxCe => T::of(f64::from(u8::from((i * 7 + 3) % outputs == k))),
        Head::SigmoidBce => T::of(f64::from(u8::from((i + k) % 3 == 0))),
        Head::TanhMse | Head::TanhError => T::of(((i * 13 + k * 7) % 19) as f64 / 10.0 - 0.9),
        _ => T::of(((i * 13 + k * 7) % 19) as f64 / 7.0 - 1.2),
    });
    (net, Dataset::new(x, y).unwrap())
}

/// What one variant produced: per-step losses, the trained network, a trace after it.
type Run<T> = (Vec<T>, Network<T>, StepTrace<T>);

fn run<T: Real>(gpu: &mut GpuEngine<T>, net: &Network<T>, order: &[u32], batch: usize, reduce: Reduce) -> Run<T> {
    gpu.set_reduce(reduce).unwrap();
    assert_eq!(gpu.reduce(), reduce);
    gpu.set_network(net).unwrap();
    gpu.set_optimizer_state(None).unwrap();
    let hyper = Hyper::sgd(0.1).with_optimizer(Optimizer::ADAM);
    let losses = gpu.train_with(order, batch, &hyper).unwrap();
    let trained = gpu.network().unwrap();
    let trace = gpu.trace(&order[..batch]).unwrap();
    (losses, trained, trace)
}

fn same_bits<T: Real>(f64_adapter: bool) {
    let ctx = common::gpu(f64_adapter);
    let configs = [
        (Head::SoftmaxCe, 3),
        (Head::SoftmaxCe, 10),
        (Head::SoftmaxCe, 33),
        (Head::SigmoidBce, 1),
        (Head::SigmoidBce, 33),
        (Head::IdentityMse, 1),
        (Head::IdentityMse, 10),
        (Head::TanhMse, 33),
        (Head::SigmoidSse, 3),
        (Head::TanhError, 10),
    ];
    // Plain route (< 16 rows) and tiled route (the bias pass), none a multiple of 8; 75
    // rows is more than one workgroup of the subgroup passes takes (8 rows on lavapipe).
    let batches = [5, 13, 17, 37, 75];
    for (head, outputs) in configs {
        let n = 80;
        let (net, data) = problem::<T>(head, outputs, n);
        let mut gpu = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        assert!(gpu.reduce_available(), "lavapipe has SUBGROUP");
        for batch in batches {
            // Three steps, rows drawn out of order.
            let order: Vec<u32> = (0..3 * batch).map(|i| ((i * 37 + 11) % n) as u32).collect();
            for choice in [KernelChoice::Plain, KernelChoice::Tiled] {
                if choice == KernelChoice::Plain && batch > 40 {
                    continue;
                }
                gpu.set_kernel_choice(choice).unwrap();
                let what = format!("{head:?} width {outputs}, batch {batch}, {choice:?} ({})", T::NAME);
                let (l0, n0, t0) = run(&mut gpu, &net, &order, batch, Reduce::Serial);
                let (l1, n1, t1) = run(&mut gpu, &net, &order, batch, Reduce::Subgroup);
                let bits = |v: &[T]| v.iter().map(|x| x.f64().to_bits()).collect::<Vec<_>>();
                assert!(l0.iter().all(|x| x.f64().is_finite()), "{what}: {l0:?}");
                assert_eq!(bits(&l0), bits(&l1), "{what}: losses differ: {l0:?} vs {l1:?}");
                assert_networks_equal(&what, &n0, &n1);
                assert_traces_equal(&what, &t0, &t1);
            }
        }
    }
}

#[test]
fn subgroup_reductions_give_the_fallbacks_bits_f32() {
    same_bits::<f32>(false);
}

#[test]
fn subgroup_reductions_give_the_fallbacks_bits_f64() {
    same_bits::<f64>(true);
}

/// Engines take the subgroup reductions where the device has them (unless `BPROP_REDUCE`
/// says otherwise), so every other GPU test — the per-pass and per-step comparisons with
/// the CPU path among them — runs them on lavapipe; and they pass the cross-check.
#[test]
fn subgroup_reductions_are_the_default_and_match_the_cpu_path() {
    let (net, data) = problem::<f32>(Head::SoftmaxCe, 10, 60);
    let mut gpu = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    if std::env::var_os(REDUCE_ENV).is_none() {
        assert_eq!(gpu.reduce(), Reduce::Subgroup);
    }
    gpu.set_reduce(Reduce::Subgroup).unwrap();
    gpu.set_kernel_choice(KernelChoice::Tiled).unwrap();
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let order: Vec<u32> = (0..120).map(|i| (i * 7 % 60) as u32).collect();
    let hyper = Hyper::sgd(0.05).with_optimizer(Optimizer::ADAM);
    let report = cross_check(&mut gpu, &mut cpu, &order, 20, &hyper, 1).unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn reduce_names_parse_and_print() {
    for r in Reduce::ALL {
        assert_eq!(r.to_string().parse::<Reduce>().unwrap(), r);
    }
    let err = "tree".parse::<Reduce>().unwrap_err().to_string();
    assert!(err.contains("tree") && err.contains("serial"), "{err}");
}
