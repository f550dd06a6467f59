//! The tiled matrix-product kernels (`shaders/*_tiled.wgsl`) against their plain twins
//! and the CPU path, in every product variant the adapter can run (`bprop::gpu::Product`:
//! workgroup tiles of 32, 64 and 128 outputs a side, 4 × 4 register blocks, subgroup
//! broadcasts), on edge shapes: 1, tile − 1, tile, tile + 1 for each tile, tall
//! (many rows, few columns) and skinny (one row, many columns) layers and batches, a long
//! reduction (2500 inputs: more loop iterations than lavapipe runs when inner loops are not
//! unrolled), with and without dropout. Zero-sized layers and batches are refused before any kernel runs
//! (tests/io/errors.rs). Tolerance: `Tolerance::for_precision` (f32 atol 1e-5, rtol 1e-4;
//! f64 atol 1e-12, rtol 1e-9).

use crate::bits::assert_traces_equal;
use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::{cross_check, Tolerance};
use bprop::engine::{Engine, StepTrace};
use bprop::gpu::{GpuEngine, KernelChoice, Product, ProductChoice, Tile};
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn problem<T: Real>(inputs: usize, hidden: usize, outputs: usize, n: usize) -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Tanh)
        .layer(outputs, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 21).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x = Array2::from_shape_simple_fn((n, inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn((n, outputs), |(i, k)| T::of(f64::from(u8::from(i % outputs == k))));
    (net, Dataset::new(x, y).unwrap())
}

fn assert_close<T: Real>(what: &str, a: &Array2<T>, b: &Array2<T>) {
    let tol = Tolerance::for_precision::<T>();
    assert_eq!(a.dim(), b.dim(), "{what}");
    for ((idx, x), y) in a.indexed_iter().zip(b.iter()) {
        assert!(tol.accepts(x.f64(), y.f64()), "{what}{idx:?}: {x} vs {y}");
    }
}

fn assert_traces_close<T: Real>(shape: &str, a: &StepTrace<T>, b: &StepTrace<T>) {
    for (l, (la, lb)) in a.layers.iter().zip(&b.layers).enumerate() {
        assert_close(&format!("{shape} layer {l} z"), &la.z, &lb.z);
        assert_close(&format!("{shape} layer {l} a"), &la.a, &lb.a);
        assert_close(&format!("{shape} layer {l} delta"), &la.delta, &lb.delta);
        assert_close(&format!("{shape} layer {l} grad_w"), &la.grad_w, &lb.grad_w);
        let gb = |t: &Option<ndarray::Array1<T>>| t.clone().unwrap().insert_axis(ndarray::Axis(0));
        assert_close(&format!("{shape} layer {l} grad_b"), &gb(&la.grad_b), &gb(&lb.grad_b));
    }
}

fn twins_agree<T: Real>(f64_adapter: bool) {
    let ctx = common::gpu(f64_adapter);
    // (inputs, hidden, outputs, batch): 1, tile − 1, tile, tile + 1, tall, skinny.
    let shapes = [
        (1, 1, 2, 1),
        (31, 32, 33, 17),
        (63, 64, 65, 16),
        (65, 63, 3, 63),
        (3, 5, 2, 129),
        (257, 65, 2, 1),
        (7, 130, 64, 65),
        (129, 127, 128, 33),
        (2500, 9, 2, 5),
        // 4-aligned fan-ins and fan-outs, where the four-wide kernels run (not the
        // subgroup fallback): over 64 rows, partial column blocks, odd batches.
        (36, 68, 12, 37),
        (128, 64, 4, 9),
        // Aligned only in part: layer 0's forward product four-wide, the rest falls back.
        (36, 66, 8, 20),
    ];
    for (inputs, hidden, outputs, batch) in shapes {
        let shape = format!("{inputs}-{hidden}-{outputs} batch {batch} ({})", T::NAME);
        let (net, data) = problem::<T>(inputs, hidden, outputs, batch.max(3));
        let samples: Vec<u32> = (0..batch as u32).map(|i| (i * 5 + 1) % data.len() as u32).collect();
        let mut plain = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        plain.set_kernel_choice(KernelChoice::Plain).unwrap();
        let mut tiled = GpuEngine::new(ctx.clone(), net.clone(), &data).unwrap();
        tiled.set_kernel_choice(KernelChoice::Tiled).unwrap();
        let mut cpu = CpuEngine::new(net, data).unwrap();
        let (t_plain, t_cpu) = (plain.trace(&samples).unwrap(), cpu.trace(&samples).unwrap());
        for tile in Tile::ALL {
            tiled.set_tile(tile).unwrap();
            assert_eq!(tiled.tile(), tile);
            let t_tiled = tiled.trace(&samples).unwrap();
            let shape = format!("{shape}, {tile} tiles");
            assert_traces_close(&shape, &t_tiled, &t_plain);
            assert_traces_close(&shape, &t_tiled, &t_cpu);
        }
        let mut first: Option<(Product, StepTrace<T>)> = None;
        for product in available(&tiled) {
            tiled.set_product_choice(ProductChoice::Fixed(product)).unwrap();
            assert!(tiled.products().iter().flatten().all(|&p| p == product));
            let t_tiled = tiled.trace(&samples).unwrap();
            let shape = format!("{shape}, {product}");
            assert_traces_close(&shape, &t_tiled, &t_plain);
            assert_traces_close(&shape, &t_tiled, &t_cpu);
            // Every variant sums k in the same order with the same operations, so the
            // tuner's choice (which depends on timings) never changes a number.
            match &first {
                None => first = Some((product, t_tiled)),
                Some((p0, t0)) => assert_traces_equal(&format!("{shape} against {p0}"), &t_tiled, t0),
            }
        }
    }
}

/// The product variants `gpu`'s adapter can run (every workgroup and register variant on
/// any adapter that runs the tiled passes; the subgroup one where its size matches).
fn available<T: Real>(gpu: &GpuEngine<T>) -> Vec<Product> {
    let v: Vec<Product> = Product::ALL.into_iter().filter(|&p| gpu.product_available(p)).collect();
    assert!(v.len() >= 4, "{v:?}");
    v
}

#[test]
fn tiled_kernels_match_their_plain_twins_f32() {
    twins_agree::<f32>(false);
}

#[test]
fn tiled_kernels_match_their_plain_twins_f64() {
    twins_agree::<f64>(true);
}

#[test]
fn tiled_training_with_dropout_matches_the_cpu_path() {
    let (net, data) = problem::<f32>(20, 72, 4, 40);
    let hyper = Hyper {
        dropout: Some(Dropout {
            input: 0.1,
            hidden: 0.4,
            seed: 77,
        }),
        ..Hyper::sgd(0.05).with_optimizer(Optimizer::ADAM)
    };
    let order: Vec<u32> = (0..80).map(|i| (i * 3 % 40) as u32).collect();
    let probe = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    for product in available(&probe) {
        let mut gpu = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
        gpu.set_kernel_choice(KernelChoice::Tiled).unwrap();
        gpu.set_product_choice(ProductChoice::Fixed(product)).unwrap();
        let mut cpu = CpuEngine::new(net.clone(), data.clone()).unwrap();
        let report = cross_check(&mut gpu, &mut cpu, &order, 20, &hyper, 1).unwrap();
        assert!(report.passed(), "{product}: {report}");
    }
}

#[test]
fn tile_sizes_parse_and_print() {
    for tile in Tile::ALL {
        assert_eq!(tile.to_string().parse::<Tile>().unwrap(), tile);
        assert_eq!(tile.size().to_string().parse::<Tile>().unwrap(), tile);
        assert_eq!(tile.size(), 16 * tile.per_invocation());
    }
    let err = "48".parse::<Tile>().unwrap_err().to_string();
    assert!(err.contains("48") && err.contains("tile"), "{err}");
}
