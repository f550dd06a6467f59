//! Gradient check of the CPU path in f64: the analytic gradients of `CpuEngine::trace`
//! (`LayerTrace::grad_w` / `grad_b`, batch means) against central finite differences of
//! the batch-mean loss, on random architectures (depth 1–3, widths 1–5, batch 1–3, biases
//! on and off) for every hidden activation and every valid output activation × loss pair:
//! (identity | sigmoid | tanh | relu | leaky_relu) × (sse | mse), sigmoid × bce and
//! softmax × cross_entropy, plus cross-entropy with probability targets and with targets
//! that do not sum to 1 (the general δ = a·Σy − y).
//!
//! Each parameter θ is perturbed by h = 1e-6 on a copy of the network loaded with
//! `set_network`; the numeric gradient is (E(θ + h) − E(θ − h)) / 2h, and the check is
//!
//! ```text
//! |analytic − numeric| ≤ 1e-6 · max(1, |analytic|, |numeric|)
//! ```
//!
//! (the central difference's truncation error is O(h²) ≈ 1e-12 and its rounding error
//! about ε·|E|/h ≈ 1e-10·|E|). Cases where a relu/leaky_relu pre-activation lies within
//! 1e-4 of its kink are redrawn, since a perturbation could cross it.
//!
//! The property tests (proptest) check softmax rows sum to 1 and are invariant to adding
//! a constant, and that the stable bce / cross-entropy values and deltas stay finite and
//! non-negative for pre-activations as extreme as ±1e3.

use bprop::cpu::CpuEngine;
use bprop::engine::Engine;
use bprop::model::{Activation, Dataset, Layer, Loss, Network};
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const H: f64 = 1e-6;
const REL: f64 = 1e-6;
const KINK: f64 = 1e-4;

const HIDDEN: [Activation; 5] = [
    Activation::Identity,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu,
    Activation::LeakyRelu { slope: 0.1 },
];

/// Every valid output activation × loss pair.
fn output_pairs() -> Vec<(Activation, Loss)> {
    let mut pairs = Vec::new();
    for act in HIDDEN {
        for loss in [Loss::HalfSse, Loss::Mse, Loss::TanhError] {
            pairs.push((act, loss));
        }
    }
    pairs.push((Activation::Sigmoid, Loss::BinaryCrossEntropy));
    pairs.push((Activation::Softmax, Loss::CrossEntropy));
    pairs
}

/// How cross-entropy targets are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum CeTargets {
    /// One 1 per row.
    OneHot,
    /// Positive, summing to 1.
    Probabilities,
    /// Uniform in [0, 1], not normalised.
    Unnormalised,
}

/// A random network and dataset: `sizes[0]` inputs, then one layer per further size.
fn random_case(
    rng: &mut ChaCha8Rng,
    sizes: &[usize],
    hidden: Activation,
    (out_act, loss): (Activation, Loss),
    n: usize,
    ce: CeTargets,
) -> (Network<f64>, Dataset<f64>) {
    let depth = sizes.len() - 1;
    let layers = (0..depth)
        .map(|l| {
            let (fan_in, fan_out) = (sizes[l], sizes[l + 1]);
            let weights = Array2::from_shape_simple_fn((fan_out, fan_in), || rng.random_range(-1.0..1.0));
            let bias = rng
                .random_bool(0.6)
                .then(|| Array1::from_shape_simple_fn(fan_out, || rng.random_range(-0.5..0.5)));
            let activation = if l + 1 == depth { out_act } else { hidden };
            Layer {
                weights,
                bias,
                activation,
            }
        })
        .collect();
    let net = Network::new(layers, loss).expect("a valid random network");
    let (ni, no) = (sizes[0], sizes[depth]);
    let inputs = Array2::from_shape_simple_fn((n, ni), || rng.random_range(-1.0..1.0));
    let targets = match loss {
        Loss::HalfSse | Loss::Mse | Loss::TanhError => {
            Array2::from_shape_simple_fn((n, no), || rng.random_range(-1.0..1.0))
        }
        Loss::BinaryCrossEntropy => Array2::from_shape_simple_fn((n, no), || rng.random_range(0.0..=1.0)),
        Loss::CrossEntropy => {
            let mut t = Array2::zeros((n, no));
            for mut row in t.rows_mut() {
                match ce {
                    CeTargets::OneHot => row[rng.random_range(0..no)] = 1.0,
                    CeTargets::Probabilities => {
                        row.mapv_inplace(|_| rng.random_range(0.05..1.0));
                        let s = row.sum();
                        row.mapv_inplace(|v| v / s);
                    }
                    CeTargets::Unnormalised => row.mapv_inplace(|_| rng.random_range(0.0..=1.0)),
                }
            }
            t
        }
    };
    (net, Dataset::new(inputs, targets).expect("finite data"))
}

/// Rebuilds `net` with one parameter changed by `dh`: layer `l`, weight (i, j), or bias i
/// when `j` is `None`.
fn perturbed(net: &Network<f64>, l: usize, i: usize, j: Option<usize>, dh: f64) -> Network<f64> {
    let mut layers = net.layers().to_vec();
    match j {
        Some(j) => layers[l].weights[[i, j]] += dh,
        None => layers[l].bias.as_mut().expect("a bias")[i] += dh,
    }
    Network::new(layers, net.loss()).expect("still valid")
}

/// Whether any relu / leaky_relu pre-activation of the batch is within [`KINK`] of 0.
fn near_kink(net: &Network<f64>, engine: &mut CpuEngine<f64>, samples: &[u32]) -> bool {
    let trace = engine.trace(samples).unwrap();
    net.layers().iter().zip(&trace.layers).any(|(layer, t)| {
        matches!(layer.activation, Activation::Relu | Activation::LeakyRelu { .. })
            && t.z.iter().any(|z| z.abs() < KINK)
    })
}

/// Checks every analytic gradient of `net` on `samples` against central differences.
/// Returns the number of parameters checked.
fn gradcheck(net: &Network<f64>, data: &Dataset<f64>, samples: &[u32], label: &str) -> usize {
    let mut engine = CpuEngine::new(net.clone(), data.clone()).unwrap();
    let trace = engine.trace(samples).unwrap();
    let mut loss_at = |candidate: Network<f64>| {
        engine.set_network(&candidate).unwrap();
        engine.trace(samples).unwrap().loss
    };
    let mut checked = 0;
    for (l, layer) in net.layers().iter().enumerate() {
        let lt = &trace.layers[l];
        assert_eq!(lt.grad_w.dim(), layer.weights.dim(), "{label}: layer {l} grad_w shape");
        assert_eq!(
            lt.grad_b.is_some(),
            layer.bias.is_some(),
            "{label}: layer {l} grad_b presence"
        );
        let mut params: Vec<(usize, Option<usize>, f64)> = Vec::new();
        for ((i, j), &g) in lt.grad_w.indexed_iter() {
            params.push((i, Some(j), g));
        }
        if let Some(gb) = &lt.grad_b {
            params.extend(gb.iter().enumerate().map(|(i, &g)| (i, None, g)));
        }
        for (i, j, analytic) in params {
            let numeric = (loss_at(perturbed(net, l, i, j, H)) - loss_at(perturbed(net, l, i, j, -H))) / (2.0 * H);
            let bound = REL * 1f64.max(analytic.abs()).max(numeric.abs());
            let what = match j {
                Some(j) => format!("W[{i}, {j}]"),
                None => format!("b[{i}]"),
            };
            assert!(
                (analytic - numeric).abs() <= bound,
                "{label}: layer {l} {what}: analytic {analytic:e} vs numeric {numeric:e} (diff {:e} > {bound:e})",
                (analytic - numeric).abs()
            );
            checked += 1;
        }
    }
    checked
}

/// Random cases for one hidden activation and output pair; returns parameters checked.
fn check_pair(hidden: Activation, pair: (Activation, Loss), ce: CeTargets, cases: usize, seed: u64) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut done, mut redrawn, mut checked) = (0, 0, 0);
    while done < cases {
        // Depths 1, 2, 3 in turn, so every hidden activation is exercised.
        let depth = 1 + done % 3;
        let sizes: Vec<usize> = (0..=depth).map(|_| rng.random_range(1..=5)).collect();
        let batch = rng.random_range(1..=3);
        let n = 4;
        let (net, data) = random_case(&mut rng, &sizes, hidden, pair, n, ce);
        let samples: Vec<u32> = (0..batch).map(|_| rng.random_range(0..n as u32)).collect();
        let mut engine = CpuEngine::new(net.clone(), data.clone()).unwrap();
        if near_kink(&net, &mut engine, &samples) {
            redrawn += 1;
            assert!(redrawn < 10 * cases, "too many cases near a relu kink");
            continue;
        }
        let label = format!(
            "hidden {hidden}, output {} with {}, sizes {sizes:?}, batch {samples:?}, {ce:?}",
            pair.0, pair.1
        );
        checked += gradcheck(&net, &data, &samples, &label);
        done += 1;
    }
    checked
}

#[test]
fn every_hidden_activation_and_output_pair() {
    let mut total = 0;
    for (p, pair) in output_pairs().into_iter().enumerate() {
        for (h, hidden) in HIDDEN.into_iter().enumerate() {
            total += check_pair(hidden, pair, CeTargets::OneHot, 6, (100 * p + h) as u64);
        }
    }
    // 12 pairs × 5 hidden activations × 6 networks of at least one parameter each.
    assert!(total >= 12 * 5 * 6, "only {total} parameters checked");
}

#[test]
fn cross_entropy_with_probability_targets() {
    for (h, hidden) in HIDDEN.into_iter().enumerate() {
        check_pair(
            hidden,
            (Activation::Softmax, Loss::CrossEntropy),
            CeTargets::Probabilities,
            6,
            7000 + h as u64,
        );
    }
}

/// Targets that do not sum to 1: the softmax delta is a·Σy − y, not a − y. The gradient
/// check passes, and the trace's output delta is the general form and differs from a − y.
#[test]
fn cross_entropy_with_targets_not_summing_to_one() {
    for (h, hidden) in HIDDEN.into_iter().enumerate() {
        check_pair(
            hidden,
            (Activation::Softmax, Loss::CrossEntropy),
            CeTargets::Unnormalised,
            6,
            8000 + h as u64,
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (net, data) = random_case(
        &mut rng,
        &[3, 4],
        Activation::Tanh,
        (Activation::Softmax, Loss::CrossEntropy),
        2,
        CeTargets::OneHot,
    );
    let targets = ndarray::array![[0.9, 0.8, 0.7, 0.6], [0.1, 0.0, 0.2, 0.0]];
    let data = Dataset::new(data.inputs().clone(), targets.clone()).unwrap();
    let mut engine = CpuEngine::new(net, data).unwrap();
    let trace = engine.trace(&[0, 1]).unwrap();
    let out = &trace.layers[0];
    let mut naive_gap: f64 = 0.0;
    for r in 0..2 {
        let ysum = targets.row(r).sum();
        for k in 0..4 {
            let (a, y) = (out.a[[r, k]], targets[[r, k]]);
            assert!((out.delta[[r, k]] - (a * ysum - y)).abs() < 1e-15, "row {r} output {k}");
            naive_gap = naive_gap.max((out.delta[[r, k]] - (a - y)).abs());
        }
    }
    assert!(naive_gap > 0.1, "the targets should make a·Σy − y differ from a − y");
}

/// The seed's case: a layer without bias on both layers, identical inputs in the batch.
#[test]
fn repeated_samples_and_no_bias() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (net, data) = random_case(
        &mut rng,
        &[2, 3, 2],
        Activation::Sigmoid,
        (Activation::Sigmoid, Loss::HalfSse),
        3,
        CeTargets::OneHot,
    );
    let layers: Vec<_> = net
        .layers()
        .iter()
        .cloned()
        .map(|l| Layer { bias: None, ..l })
        .collect();
    let net = Network::new(layers, Loss::HalfSse).unwrap();
    assert_eq!(gradcheck(&net, &data, &[1, 1, 2], "no bias, repeated sample"), 6 + 6);
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

proptest! {
    #[test]
    fn softmax_rows_sum_to_one_and_ignore_a_shift(
        z in prop::collection::vec(-1e3f64..1e3, 1..8),
        c in -100.0f64..100.0,
    ) {
        let mut a = vec![0.0; z.len()];
        Activation::Softmax.apply_row(&z, &mut a);
        let sum: f64 = a.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-12, "sum {}", sum);
        prop_assert!(a.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let shifted: Vec<f64> = z.iter().map(|&v| v + c).collect();
        let mut b = vec![0.0; z.len()];
        Activation::Softmax.apply_row(&shifted, &mut b);
        for (x, y) in a.iter().zip(&b) {
            prop_assert!((x - y).abs() < 1e-11, "{} vs {} after shifting by {}", x, y, c);
        }
    }

    #[test]
    fn stable_losses_are_finite_for_extreme_pre_activations(
        z in prop::collection::vec(prop_oneof![Just(-1e3f64), Just(1e3f64), -1e3f64..1e3], 1..6),
        y01 in prop::collection::vec(0.0f64..=1.0, 6),
    ) {
        let n = z.len();
        let y = &y01[..n];
        // bce with sigmoid outputs
        let a: Vec<f64> = z.iter().map(|&v| sigmoid(v)).collect();
        let e = Loss::BinaryCrossEntropy.value(Activation::Sigmoid, &z, &a, y);
        prop_assert!(e.is_finite() && e >= 0.0, "bce {} for z {:?}", e, z);
        let mut d = vec![0.0; n];
        Loss::BinaryCrossEntropy.output_delta(Activation::Sigmoid, &a, y, &mut d);
        prop_assert!(d.iter().all(|v| v.is_finite()));
        // cross-entropy with softmax outputs
        let mut a = vec![0.0; n];
        Activation::Softmax.apply_row(&z, &mut a);
        let e = Loss::CrossEntropy.value(Activation::Softmax, &z, &a, y);
        prop_assert!(e.is_finite() && e >= 0.0, "cross_entropy {} for z {:?}", e, z);
        Loss::CrossEntropy.output_delta(Activation::Softmax, &a, y, &mut d);
        prop_assert!(d.iter().all(|v| v.is_finite()));
        // the same in f32
        let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        let mut af = vec![0.0f32; n];
        Activation::Softmax.apply_row(&zf, &mut af);
        prop_assert!(Loss::CrossEntropy.value(Activation::Softmax, &zf, &af, &yf).is_finite());
        let af: Vec<f32> = zf.iter().map(|&v| Activation::Sigmoid.apply(v)).collect();
        prop_assert!(Loss::BinaryCrossEntropy.value(Activation::Sigmoid, &zf, &af, &yf).is_finite());
    }

    #[test]
    fn tanh_error_slope_is_the_derivative_of_its_value(
        e in -3.0f64..3.0,
        y in -1.0f64..1.0,
    ) {
        // One identity output: E = φ(a − y) and δ = φ'(a − y). Central differences of E
        // against δ, away from φ's turn to linear at |e| = c (where φ'' jumps from ~10⁶
        // to 0) and from the steep region just below it.
        prop_assume!((e.abs() - 1.0).abs() > 1e-3);
        let h = 1e-6;
        let at = |e: f64| Loss::TanhError.value(Activation::Identity, &[e + y], &[e + y], &[y]);
        let mut d = [0.0];
        Loss::TanhError.output_delta(Activation::Identity, &[e + y], &[y], &mut d);
        let fd = (at(e + h) - at(e - h)) / (2.0 * h);
        let tol = 1e-6 * d[0].abs().max(1.0) / (1.0 - e.abs()).abs().min(1.0);
        prop_assert!((fd - d[0]).abs() <= tol, "e {}: φ' {} vs fd {}", e, d[0], fd);
        prop_assert!(at(e) >= 0.0 && at(e).is_finite());
    }

    #[test]
    fn tanh_error_is_finite_for_any_output(
        z in prop::collection::vec(prop_oneof![Just(-1e30f64), Just(1e30f64), -1e3f64..1e3], 1..6),
        y in prop::collection::vec(-1.0f64..=1.0, 6),
    ) {
        let n = z.len();
        let y = &y[..n];
        let mut d = vec![0.0; n];
        for act in [Activation::Identity, Activation::Sigmoid, Activation::Tanh] {
            let a: Vec<f64> = z.iter().map(|&v| act.apply(v)).collect();
            let e = Loss::TanhError.value(act, &z, &a, y);
            prop_assert!(e.is_finite() && e >= 0.0, "{} tanh_error {} for z {:?}", act, e, z);
            Loss::TanhError.output_delta(act, &a, y, &mut d);
            prop_assert!(d.iter().all(|v| v.is_finite()), "{} δ {:?}", act, d);
            let (zf, yf): (Vec<f32>, Vec<f32>) = (z.iter().map(|&v| v as f32).collect(), y.iter().map(|&v| v as f32).collect());
            let af: Vec<f32> = zf.iter().map(|&v| act.apply(v)).collect();
            prop_assert!(Loss::TanhError.value(act, &zf, &af, &yf).is_finite());
        }
    }
}

/// The tanh error against FANN's own formulas, written out here: FANN's output error for
/// a sigmoid unit is ln((1 + d)/(1 − d)) · a(1 − a) with d = y − a (halved first for a
/// tanh unit, and then 1 − a² its slope, no factor ½ back), the negative of bprop's δ,
/// whose φ'(e)/w ⊙ f' carries the chain rule's 1/w.
#[test]
fn tanh_error_matches_fanns_formula_and_frozen_values() {
    for (act, a, y) in [
        (Activation::Sigmoid, 0.8, 0.0),
        (Activation::Sigmoid, 0.3, 1.0),
        (Activation::Sigmoid, 0.5, 0.55),
        (Activation::Tanh, -0.9, 1.0),
        (Activation::Tanh, 0.2, -1.0),
    ] {
        let w: f64 = if act == Activation::Tanh { 2.0 } else { 1.0 };
        let d = (y - a) / w;
        let fann = ((1.0 + d) / (1.0 - d)).ln() * act.derivative_from_output(a);
        let mut delta = [0.0];
        Loss::TanhError.output_delta(act, &[a], &[y], &mut delta);
        assert!(
            (delta[0] + fann / w).abs() < 1e-14,
            "{act} a {a} y {y}: δ {} vs FANN {fann}",
            delta[0]
        );
    }
    // φ(e) = (1 + e) ln(1 + e) + (1 − e) ln(1 − e): φ(0.5) = 1.5 ln 1.5 + 0.5 ln 0.5.
    let phi = |e: f64| Loss::TanhError.value(Activation::Identity, &[e], &[e], &[0.0]);
    assert!(
        (phi(0.5) - 0.261_624_071_882_273_9).abs() < 1e-15,
        "φ(0.5) = {}",
        phi(0.5)
    );
    assert!((phi(-0.5) - phi(0.5)).abs() < 1e-16);
    // φ(1) is 2 ln 2 up to the clip; beyond it the value grows by φ'(c) = ln(2²⁴ − 1) per unit.
    assert!((phi(1.0) - 2.0 * 2f64.ln()).abs() < 1e-5, "φ(1) = {}", phi(1.0));
    let slope = (phi(3.0) - phi(2.0)) / 1.0;
    assert!((slope - (16_777_215f64).ln()).abs() < 1e-9, "slope beyond c {slope}");
    // Small errors keep their digits in f32: φ(e) = e² + e⁴/6 + …
    let phi32 = |e: f32| Loss::TanhError.value(Activation::Identity, &[e], &[e], &[0.0]);
    for e in [1e-4f32, 3e-3, -2e-2] {
        let want = f64::from(e).powi(2) * (1.0 + f64::from(e).powi(2) / 6.0);
        let got = f64::from(phi32(e));
        assert!((got - want).abs() <= 1e-6 * want, "f32 φ({e}) = {got}, want {want}");
    }
}
