//! The GPU path's forward-only inference route (`GpuEngine::infer`, used by `bprop eval`,
//! `bprop predict` and `driver::infer`): its outputs are bit for bit those of a trace of
//! the same rows (the same forward kernels), they agree with the CPU path, and its
//! per-sample losses agree with the CPU path's — on row counts below, at and across the
//! route's batch size (a padded last batch), with plain and tiled kernels, a softmax
//! output, byte-coded inputs, in f32 and f64.

use crate::common;

use bprop::cpu;
use bprop::driver::{infer, BackendChoice};
use bprop::engine::{BackendKind, Engine};
use bprop::gpu::{AdapterRequest, GpuEngine, INFER_ROWS};
use bprop::metrics;
use bprop::model::{Activation, Dataset, Init, Loss, Network, NetworkSpec, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn problem<T: Real>(n: usize, bytes: bool, softmax: bool, seed: u64) -> (Network<T>, Dataset<T>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n_in, n_out) = (13, 3);
    let y = Array2::from_shape_fn((n, n_out), |(i, k)| {
        T::of(f64::from(u8::from((i * 7 + 1) % n_out == k)))
    });
    let data = if bytes {
        let x = Array2::from_shape_simple_fn((n, n_in), || rng.random::<u8>());
        Dataset::from_bytes(x, 255.0, y).unwrap()
    } else {
        let x = Array2::from_shape_simple_fn((n, n_in), || T::of(rng.random_range(-1.0..1.0)));
        Dataset::new(x, y).unwrap()
    };
    let spec = if softmax {
        NetworkSpec::new(n_in, Loss::CrossEntropy)
            .layer(37, Activation::Tanh)
            .layer(n_out, Activation::Softmax)
    } else {
        NetworkSpec::new(n_in, Loss::Mse)
            .layer(37, Activation::Relu)
            .layer(19, Activation::Sigmoid)
            .layer(n_out, Activation::Identity)
    };
    (Network::random(&spec, Init::Auto, seed).unwrap(), data)
}

fn check<T: Real>(f64_adapter: bool, n: usize, bytes: bool, softmax: bool) {
    let (net, data) = problem::<T>(n, bytes, softmax, n as u64);
    let mut engine = GpuEngine::new(common::gpu(f64_adapter), net.clone(), &data).unwrap();
    let got = engine.infer(true).unwrap();
    let what = format!("{} n={n} bytes={bytes} softmax={softmax}", T::NAME);
    assert_eq!(got.outputs.dim(), (n, net.outputs()), "{what}");
    let losses = got.losses.unwrap();
    assert_eq!(losses.len(), n, "{what}");

    // The same forward kernels as a trace of the same rows (batches of INFER_ROWS take the
    // same kernel route): the same bits.
    let rows: Vec<u32> = (0..n as u32).collect();
    for (k, chunk) in rows.chunks(INFER_ROWS).enumerate() {
        let trace = engine.trace(chunk).unwrap();
        let a = &trace.layers.last().unwrap().a;
        let start = k * INFER_ROWS;
        for r in 0..chunk.len() {
            for j in 0..net.outputs() {
                assert_eq!(
                    got.outputs[(start + r, j)].f64().to_bits(),
                    a[(r, j)].f64().to_bits(),
                    "{what}: row {}",
                    start + r
                );
            }
        }
    }

    // Against the CPU path.
    let cpu_out = cpu::predict(&net, data.inputs().view(), 256).unwrap();
    let tol = if T::NAME == "f64" { 1e-12 } else { 2e-5 };
    for (g, c) in got.outputs.iter().zip(cpu_out.iter()) {
        assert!(
            (g.f64() - c.f64()).abs() <= tol * (1.0 + c.f64().abs()),
            "{what}: {g} vs {c}"
        );
    }
    let mean = losses.iter().map(|l| l.f64()).sum::<f64>() / n as f64;
    let cpu_loss = metrics::evaluate(&net, &data).unwrap().loss;
    assert!(
        (mean - cpu_loss).abs() <= 10.0 * tol * (1.0 + cpu_loss.abs()),
        "{what}: {mean} vs {cpu_loss}"
    );

    // Without targets, no losses.
    assert!(engine.infer(false).unwrap().losses.is_none());
}

#[test]
fn forward_only_inference_matches_traces_and_the_cpu_path_f32() {
    for n in [1, 5, 17, INFER_ROWS, INFER_ROWS + 3, 2 * INFER_ROWS + 300] {
        check::<f32>(false, n, false, false);
    }
    check::<f32>(false, INFER_ROWS + 11, false, true);
    check::<f32>(false, INFER_ROWS + 11, true, true);
    check::<f32>(false, 9, true, false);
}

#[test]
fn forward_only_inference_matches_traces_and_the_cpu_path_f64() {
    check::<f64>(true, 3, false, true);
    check::<f64>(true, INFER_ROWS + 5, false, false);
    check::<f64>(true, 300, true, true);
}

#[test]
fn driver_infer_uses_the_gpu_route() {
    let (net, data) = problem::<f32>(700, false, true, 4);
    let req = AdapterRequest::from_env();
    let got = infer(BackendChoice::Gpu, &req, &net, data.inputs(), Some(data.targets())).unwrap();
    assert_eq!(got.backend.kind, BackendKind::Gpu);
    let mut engine = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    let direct = engine.infer(true).unwrap();
    assert_eq!(got.outputs, direct.outputs);
    let mean = direct.losses.unwrap().iter().map(|l| l.f64()).sum::<f64>() / 700.0;
    assert_eq!(got.loss, Some(mean));
    let no_targets = infer(BackendChoice::Gpu, &req, &net, data.inputs(), None).unwrap();
    assert_eq!(no_targets.outputs, direct.outputs);
    assert_eq!(no_targets.loss, None);
}

#[test]
fn rows_given_at_call_time_match_the_dataset_route() {
    let (net, data) = problem::<f32>(INFER_ROWS + 77, false, true, 9);
    let mut on_data = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    let expected = on_data.infer(true).unwrap();
    // An engine opened on other rows (here, two of them) infers the given rows.
    let (_, other) = problem::<f32>(2, false, true, 10);
    let mut engine = GpuEngine::new(common::gpu(false), net.clone(), &other).unwrap();
    let got = engine
        .infer_rows(data.inputs().view(), Some(data.targets().view()))
        .unwrap();
    assert_eq!(got, expected);
    let no_targets = engine.infer_rows(data.inputs().view(), None).unwrap();
    assert_eq!(no_targets.outputs, expected.outputs);
    assert!(no_targets.losses.is_none());
    // The engine's own dataset route is unaffected afterwards.
    assert_eq!(engine.infer(false).unwrap().outputs.nrows(), 2);
    // Rows of the wrong width, targets of the wrong shape: typed errors.
    let narrow = Array2::<f32>::zeros((3, net.inputs() - 1));
    assert!(matches!(
        engine.infer_rows(narrow.view(), None),
        Err(bprop::BpropError::Shape { .. })
    ));
    let y = Array2::<f32>::zeros((4, net.outputs()));
    assert!(matches!(
        engine.infer_rows(data.inputs().view(), Some(y.view())),
        Err(bprop::BpropError::Shape { .. })
    ));
}
