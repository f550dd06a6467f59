//! Golden tests on the seed's 2-2-1 network: its 100 iterations on both paths against an
//! independent plain implementation, the seed's faulty listing against its printed
//! figures, and one step worked by hand.

// Index loops mirror the subscripts of the math (w0[i][j]) on these 2x2 arrays.
#![allow(clippy::needless_range_loop)]

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::engine::Engine;
use bprop::gpu::GpuEngine;
use bprop::seed;

/// Backpropagation on the seed's network written out by hand, independently of bprop:
/// returns the error of each iteration (before its update) and the final weights.
fn plain_backprop(iterations: usize) -> (Vec<f64>, [[f64; 2]; 2], [f64; 2]) {
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let (x, y) = (seed::INPUT, seed::TARGET);
    let mut w0 = seed::W0;
    let mut w1 = seed::W1[0];
    let mut errors = Vec::new();
    for _ in 0..iterations {
        let h = [
            sig(w0[0][0] * x[0] + w0[0][1] * x[1]),
            sig(w0[1][0] * x[0] + w0[1][1] * x[1]),
        ];
        let o = sig(w1[0] * h[0] + w1[1] * h[1]);
        errors.push(0.5 * (y - o) * (y - o));
        let d2 = (o - y) * o * (1.0 - o);
        let d1 = [w1[0] * d2 * h[0] * (1.0 - h[0]), w1[1] * d2 * h[1] * (1.0 - h[1])];
        for j in 0..2 {
            w1[j] -= d2 * h[j];
        }
        for i in 0..2 {
            for j in 0..2 {
                w0[i][j] -= d1[i] * x[j];
            }
        }
    }
    (errors, w0, w1)
}

fn run_seed<E: Engine<f64> + ?Sized>(engine: &mut E) -> (Vec<f64>, bprop::model::Network<f64>) {
    let order = vec![0u32; seed::ITERATIONS];
    let losses = engine.train_steps(&order, 1, seed::LEARNING_RATE).unwrap();
    (losses, engine.network().unwrap())
}

fn assert_matches_plain(losses: &[f64], net: &bprop::model::Network<f64>, tol: f64) {
    let (errors, w0, w1) = plain_backprop(seed::ITERATIONS);
    for (i, (a, b)) in losses.iter().zip(&errors).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1e-300),
            "iteration {i}: error {a} vs plain {b}"
        );
    }
    let l = net.layers();
    for i in 0..2 {
        for j in 0..2 {
            assert!((l[0].weights[[i, j]] - w0[i][j]).abs() < tol, "w0[{i}][{j}]");
        }
        assert!((l[1].weights[[0, i]] - w1[i]).abs() < tol, "w1[{i}]");
    }
}

#[test]
fn cpu_f64_matches_plain_backprop_over_100_iterations() {
    let mut cpu = CpuEngine::new(seed::network::<f64>(), seed::dataset()).unwrap();
    let (losses, net) = run_seed(&mut cpu);
    assert_matches_plain(&losses, &net, 1e-12);
}

#[test]
fn gpu_f64_matches_plain_backprop_over_100_iterations() {
    let mut gpu = GpuEngine::new(common::gpu(true), seed::network::<f64>(), &seed::dataset()).unwrap();
    let (losses, net) = run_seed(&mut gpu);
    assert_matches_plain(&losses, &net, 1e-12);
}

#[test]
fn gpu_f32_matches_plain_backprop_over_100_iterations() {
    let mut gpu = GpuEngine::new(common::gpu(false), seed::network::<f32>(), &seed::dataset()).unwrap();
    let losses = gpu.train_steps(&[0; 100], 1, 1.0).unwrap();
    let net = gpu.network().unwrap().cast::<f64>();
    let losses: Vec<f64> = losses.iter().map(|&l| l as f64).collect();
    // f32 over 100 steps: the errors fall from 1e-2 to 1e-7, where f32 resolves about
    // 1e-7 relative in the output it squares; compare with an absolute tolerance.
    let (errors, w0, w1) = plain_backprop(seed::ITERATIONS);
    for (i, (a, b)) in losses.iter().zip(&errors).enumerate() {
        assert!((a - b).abs() <= 1e-6, "iteration {i}: error {a} vs plain {b}");
    }
    let l = net.layers();
    for i in 0..2 {
        for j in 0..2 {
            assert!((l[0].weights[[i, j]] - w0[i][j]).abs() < 1e-4);
        }
        assert!((l[1].weights[[0, i]] - w1[i]).abs() < 1e-4);
    }
}

#[test]
fn faulty_listing_reproduces_the_seeds_printed_figures() {
    let mut w0 = seed::W0;
    let mut w1 = seed::W1;
    let mut error = 0.0;
    for _ in 0..seed::ITERATIONS {
        error = seed::faulty_step(&mut w0, &mut w1);
    }
    // The seed prints 9 significant digits.
    assert!((error - seed::printed::ERROR).abs() < 1e-14, "{error}");
    for i in 0..2 {
        for j in 0..2 {
            assert!(
                (w0[i][j] - seed::printed::W0[i][j]).abs() < 1e-8,
                "w0[{i}][{j}] = {}",
                w0[i][j]
            );
        }
        assert!(
            (w1[0][i] - seed::printed::W1[0][i]).abs() < 1e-8,
            "w1[{i}] = {}",
            w1[0][i]
        );
    }
    // The flaw's signature: both rows of w0 moved by the same amount.
    assert!(((w0[1][0] - w0[0][0]) - 0.3).abs() < 1e-12);
    // And correct backprop does not give these figures.
    let (_, pw0, _) = plain_backprop(seed::ITERATIONS);
    assert!((pw0[1][0] - pw0[0][0] - 0.3).abs() > 1e-3);
}

/// The first iteration of the seed, by hand (values rounded in the comments; the
/// assertions recompute nothing bprop computes, they use the literal arithmetic).
#[test]
fn first_step_worked_by_hand() {
    // z1 = W0 x = (0.1·0.35 + 0.8·0.9, 0.4·0.35 + 0.6·0.9) = (0.755, 0.68)
    // a1 = σ(z1) = (1/(1+e^-0.755), 1/(1+e^-0.68)) = (0.680267, 0.663739)
    // z2 = 0.3·0.680267 + 0.9·0.663739 = 0.801445;  a2 = σ(0.801445) = 0.690283
    // E = ½ (0.5 − 0.690283)² = 0.018104
    // δ2 = (a2 − y) a2 (1 − a2) = 0.190283 · 0.690283 · 0.309717 = 0.040681
    // δ1 = W1ᵀ δ2 ⊙ a1 (1 − a1) = (0.3·0.040681·0.217502, 0.9·0.040681·0.223190)
    //    = (0.0026545, 0.0081716)
    // W1 ← W1 − δ2 a1ᵀ = (0.3 − 0.027674, 0.9 − 0.027002) = (0.272326, 0.872998)
    // W0 ← W0 − δ1 xᵀ = [[0.1 − 0.000929, 0.8 − 0.002389], [0.4 − 0.002860, 0.6 − 0.007354]]
    let mut cpu = CpuEngine::new(seed::network::<f64>(), seed::dataset()).unwrap();
    let trace = cpu.trace(&[0]).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 5e-6;
    assert!(close(trace.layers[0].z[[0, 0]], 0.755) && close(trace.layers[0].z[[0, 1]], 0.68));
    assert!(close(trace.layers[0].a[[0, 0]], 0.680267) && close(trace.layers[0].a[[0, 1]], 0.663739));
    assert!(close(trace.layers[1].z[[0, 0]], 0.801445) && close(trace.layers[1].a[[0, 0]], 0.690283));
    assert!(close(trace.loss, 0.018104));
    assert!(close(trace.layers[1].delta[[0, 0]], 0.040681));
    assert!(close(trace.layers[0].delta[[0, 0]], 0.0026545) && close(trace.layers[0].delta[[0, 1]], 0.0081716));
    cpu.train_steps(&[0], 1, 1.0).unwrap();
    let net = cpu.network().unwrap();
    let (w0, w1) = (&net.layers()[0].weights, &net.layers()[1].weights);
    assert!(close(w1[[0, 0]], 0.272326) && close(w1[[0, 1]], 0.872998));
    assert!(close(w0[[0, 0]], 0.099071) && close(w0[[0, 1]], 0.797611));
    assert!(close(w0[[1, 0]], 0.397140) && close(w0[[1, 1]], 0.592646));
}
