//! Data-parallel training on the GPU path (ranks as threads, each with its own device on
//! the adapter): the GPU path's shard gradient and update give the single GPU process's
//! model within 1e-12 in f64, on even, uneven and empty shards, with dropout (masks keyed
//! by the row of the global batch); every rank holds the same bits.

use crate::common::{gpu, ranks::Threads};
use bprop::dist::{DistEngine, Local};
use bprop::engine::Engine;
use bprop::gpu::{GpuEngine, KernelChoice};
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer};
use ndarray::Array2;
use std::rc::Rc;

const SAMPLES: usize = 30;

fn problem() -> (Network<f64>, Dataset<f64>) {
    let spec = NetworkSpec::new(4, Loss::CrossEntropy)
        .layer(6, Activation::Tanh)
        .layer(3, Activation::Softmax);
    let x = Array2::from_shape_fn((SAMPLES, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
    let y = Array2::from_shape_fn((SAMPLES, 3), |(i, k)| if i % 3 == k { 1.0 } else { 0.0 });
    (
        Network::random(&spec, Init::Auto, 3).unwrap(),
        Dataset::new(x, y).unwrap(),
    )
}

fn hyper() -> Hyper {
    Hyper {
        weight_decay: 1e-3,
        max_norm: Some(1.5),
        ..Hyper::sgd(0.02).with_optimizer(Optimizer::ADAM)
    }
}

fn order(steps: usize, batch: usize) -> Vec<u32> {
    (0..steps * batch)
        .map(|i| ((i * 11 + i / SAMPLES) % SAMPLES) as u32)
        .collect()
}

fn gpu_engine() -> GpuEngine<f64> {
    gpu_engine_with(KernelChoice::Auto)
}

fn gpu_engine_with(kernels: KernelChoice) -> GpuEngine<f64> {
    let (net, data) = problem();
    let mut e = GpuEngine::new(gpu(true), net, &data).unwrap();
    e.set_kernel_choice(kernels).unwrap();
    e
}

fn max_rel_diff(a: &Network<f64>, b: &Network<f64>) -> f64 {
    let mut worst = 0.0f64;
    for (la, lb) in a.layers().iter().zip(b.layers()) {
        let pairs = la.weights.iter().zip(&lb.weights);
        let bias = la.bias.iter().flatten().zip(lb.bias.iter().flatten());
        for (&x, &y) in pairs.chain(bias) {
            worst = worst.max((x - y).abs() / x.abs().max(y.abs()).max(1e-3));
        }
    }
    worst
}

#[test]
fn gpu_ranks_give_the_single_gpu_model() {
    let hyper = hyper();
    let steps = 6;
    for (ranks, batch) in [(2, 8), (3, 8), (3, 2)] {
        let order = order(steps, batch);
        let mut one = gpu_engine();
        let want_losses = one.train_with(&order, batch, &hyper).unwrap();
        let want = one.network().unwrap();
        let got: Vec<(Network<f64>, Vec<f64>)> = std::thread::scope(|s| {
            let hs: Vec<_> = Threads::group(ranks)
                .into_iter()
                .map(|comm| {
                    let (order, hyper) = (&order, &hyper);
                    s.spawn(move || {
                        let mut e = DistEngine::new(Box::new(gpu_engine()), Rc::new(comm), SAMPLES).unwrap();
                        let losses = e.train_with(order, batch, hyper).unwrap();
                        (e.network().unwrap(), losses)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let d = max_rel_diff(&got[0].0, &want);
        assert!(d <= 1e-12, "{ranks} GPU ranks, batch {batch}: {d:e} relative");
        for (l, w) in got[0].1.iter().zip(&want_losses) {
            assert!(
                (l - w).abs() <= 1e-12 * w.abs(),
                "{ranks} ranks, batch {batch}: loss {l} vs {w}"
            );
        }
        for (rank, r) in got.iter().enumerate().skip(1) {
            assert_eq!(r, &got[0], "rank {rank} differs from rank 0");
        }
    }
}

#[test]
fn one_gpu_rank_is_the_gpu_path() {
    let hyper = hyper();
    let order = order(5, 6);
    let mut one = gpu_engine();
    one.train_with(&order, 6, &hyper).unwrap();
    let mut e = DistEngine::new(Box::new(gpu_engine()), Rc::new(Local), SAMPLES).unwrap();
    e.train_with(&order, 6, &hyper).unwrap();
    let d = max_rel_diff(&e.network().unwrap(), &one.network().unwrap());
    assert!(d <= 1e-12, "{d:e}");
    // the optimizer state advanced as the GPU path's own steps advance it
    assert_eq!(e.optimizer_state().unwrap().unwrap().step, 5);
}

#[test]
fn gpu_shards_draw_the_single_gpu_dropout_masks() {
    // masks keyed by the row of the global batch: the shards drop what one GPU drops, in
    // the plain passes and in the tiled product passes alike
    for kernels in [KernelChoice::Plain, KernelChoice::Tiled] {
        shards_draw_the_single_gpu_masks(kernels);
    }
}

fn shards_draw_the_single_gpu_masks(kernels: KernelChoice) {
    let hyper = Hyper {
        dropout: Some(Dropout {
            input: 0.2,
            hidden: 0.3,
            seed: 5,
        }),
        ..hyper()
    };
    let (ranks, batch, steps) = (3, 8, 5);
    let order = order(steps, batch);
    let mut one = gpu_engine_with(kernels);
    one.train_with(&order, batch, &hyper).unwrap();
    let want = one.network().unwrap();
    let got: Vec<Network<f64>> = std::thread::scope(|s| {
        let hs: Vec<_> = Threads::group(ranks)
            .into_iter()
            .map(|comm| {
                let (order, hyper) = (&order, &hyper);
                s.spawn(move || {
                    let mut e = DistEngine::new(Box::new(gpu_engine_with(kernels)), Rc::new(comm), SAMPLES).unwrap();
                    e.train_with(order, batch, hyper).unwrap();
                    e.network().unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let d = max_rel_diff(&got[0], &want);
    assert!(
        d <= 1e-12,
        "{ranks} GPU ranks with dropout ({kernels:?}): {d:e} relative"
    );
    // and the CPU path's shards agree with them
    let (net, data) = problem();
    let mut cpu = bprop::cpu::CpuEngine::new(net, data).unwrap();
    cpu.train_with(&order, batch, &hyper).unwrap();
    let d = max_rel_diff(&got[0], &cpu.network().unwrap());
    assert!(d <= 1e-9, "GPU ranks against the CPU path with dropout: {d:e}");
}
