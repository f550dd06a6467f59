//! The CPU path's packed matrix product (`bprop::cpu::gemm`) beside matrixmultiply (through
//! ndarray's `general_mat_mul`, the route the CPU path took before, single-threaded here)
//! and beside itself on 1 and 2 threads, on the products of an MNIST 784-800-10 step at
//! batch 128 (the first layer's three, the second layer's forward, hidden delta and
//! gradient) and on a square one. Every contender runs in turn, alternating, for `ROUNDS` rounds; the report gives
//! medians in GFLOP/s (2·m·k·n per product) and ratios from this one run.
//! `cargo bench --bench gemm` (add `-- --quick` for fewer rounds).

use bprop::bench::{cpu_description, median};
use bprop::cpu::gemm::{gemm_on, isa, Strided};
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;
use std::time::Instant;

/// One product C (m, n) = A (m, k) B (k, n), with the strides of the CPU path's use.
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    /// A is stored transposed (the gradient's Δᵀ).
    a_t: bool,
    /// B is stored transposed (the forward pass's Wᵀ).
    b_t: bool,
}

fn filled(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 15 };
    let shapes = [
        Shape {
            name: "forward  Z = A Wᵀ  128×784 · 784×800",
            m: 128,
            k: 784,
            n: 800,
            a_t: false,
            b_t: true,
        },
        Shape {
            name: "delta    D = Δ W   128×800 · 800×784",
            m: 128,
            k: 800,
            n: 784,
            a_t: false,
            b_t: false,
        },
        Shape {
            name: "gradient G = Δᵀ A  800×128 · 128×784",
            m: 800,
            k: 128,
            n: 784,
            a_t: true,
            b_t: false,
        },
        Shape {
            // A short sum: split by rows on two threads (gemm.rs's `split`)
            name: "hidden δ D = Δ W   128×10 · 10×800",
            m: 128,
            k: 10,
            n: 800,
            a_t: false,
            b_t: false,
        },
        Shape {
            // The output layer's forward product: 10 columns, computed as Zᵀ (gemm.rs's
            // `transposed_is_smaller`), whose 10 × 128 fill 16 × 128 of the tiles
            name: "out fwd  Z = A Wᵀ  128×800 · 800×10",
            m: 128,
            k: 800,
            n: 10,
            a_t: false,
            b_t: true,
        },
        Shape {
            name: "out grad G = Δᵀ A  10×128 · 128×800",
            m: 10,
            k: 128,
            n: 800,
            a_t: true,
            b_t: false,
        },
        Shape {
            name: "square             1024×1024 · 1024×1024",
            m: 1024,
            k: 1024,
            n: 1024,
            a_t: false,
            b_t: false,
        },
    ];
    println!("packed product vs matrixmultiply, f32, {rounds} alternating rounds, medians");
    println!("CPU: {}; microkernel: {:?}", cpu_description(), isa());
    for s in &shapes {
        let (m, k, n) = (s.m, s.k, s.n);
        let a = filled(m * k, 1);
        let b = filled(k * n, 2);
        let mut c = vec![0.0f32; m * n];
        let av = if s.a_t {
            Strided::transposed(&a, m)
        } else {
            Strided::rows(&a, k)
        };
        let bv = if s.b_t {
            Strided::transposed(&b, k)
        } else {
            Strided::rows(&b, n)
        };
        let a_nd = if s.a_t {
            Array2::from_shape_vec((k, m), a.clone()).unwrap().reversed_axes()
        } else {
            Array2::from_shape_vec((m, k), a.clone()).unwrap()
        };
        let b_nd = if s.b_t {
            Array2::from_shape_vec((n, k), b.clone()).unwrap().reversed_axes()
        } else {
            Array2::from_shape_vec((k, n), b.clone()).unwrap()
        };
        let mut c_nd = Array2::<f32>::zeros((m, n));
        // Repeat each timing to about 20 ms.
        let reps = (20e6 / (m * k * n) as f64 * 20.0).ceil().max(1.0) as usize;
        let flop = 2.0 * (m * k * n) as f64 * reps as f64;
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..=rounds {
            let time = |f: &mut dyn FnMut()| {
                let t = Instant::now();
                for _ in 0..reps {
                    f();
                }
                t.elapsed().as_secs_f64()
            };
            let t_mm = time(&mut || general_mat_mul(1.0, &a_nd, &b_nd, 0.0, &mut c_nd));
            let t_1 = time(&mut || gemm_on(1, 1.0, av, bv, &mut c, m, k, n, None));
            let t_2 = time(&mut || gemm_on(2, 1.0, av, bv, &mut c, m, k, n, None));
            if round > 0 {
                times[0].push(t_mm);
                times[1].push(t_1);
                times[2].push(t_2);
            }
        }
        assert!(
            c.iter().zip(c_nd.iter()).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}: not the same bits",
            s.name
        );
        let g: Vec<f64> = times.iter().map(|t| flop / median(t) / 1e9).collect();
        println!("{}", s.name);
        println!(
            "  matrixmultiply (1 thread) {:>6.1} GFLOP/s | packed, 1 thread {:>6.1} ({:.2}x) | packed, 2 threads {:>6.1} ({:.2}x of 1 thread)",
            g[0],
            g[1],
            g[1] / g[0],
            g[2],
            g[2] / g[1]
        );
    }
}
