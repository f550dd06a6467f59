//! Data-parallel training (`bprop::dist`) without MPI: N ranks as N threads joined by a
//! communicator that sums in rank order. N ranks with a global batch B give the parameters
//! of one process with batch B (within 1e-12 relative in f64), with dropout, Adam, L2 and
//! max-norm, on even and uneven splits and on batches with fewer rows than ranks; every
//! rank holds the same bits; one rank is the single process bit for bit.

use crate::common::ranks::Threads;
use bprop::cpu::CpuEngine;
use bprop::dist::{check_agree, shard, Collective, DistEngine, Local};
use bprop::engine::Engine;
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real, Schedule};
use bprop::BpropError;
use ndarray::Array2;
use std::rc::Rc;

const SAMPLES: usize = 40;

fn problem<T: Real>() -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(5, Loss::CrossEntropy)
        .layer(9, Activation::Tanh)
        .layer(7, Activation::Relu)
        .layer(3, Activation::Softmax);
    let x = Array2::from_shape_fn((SAMPLES, 5), |(i, j)| {
        T::of(((i * 17 + j * 5) % 23) as f64 / 11.0 - 1.0)
    });
    let y = Array2::from_shape_fn(
        (SAMPLES, 3),
        |(i, k)| if (i * 7) % 3 == k { T::one() } else { T::zero() },
    );
    (
        Network::random(&spec, Init::Auto, 5).unwrap(),
        Dataset::new(x, y).unwrap(),
    )
}

fn hyper() -> Hyper {
    Hyper {
        dropout: Some(Dropout {
            input: 0.1,
            hidden: 0.3,
            seed: 11,
        }),
        weight_decay: 1e-3,
        max_norm: Some(2.0),
        schedule: Schedule::Cosine {
            total: 40,
            min_lr: 1e-4,
        },
        ..Hyper::sgd(0.01).with_optimizer(Optimizer::ADAM)
    }
}

/// Shuffled sample order for `steps` steps of `batch`.
fn order(steps: usize, batch: usize) -> Vec<u32> {
    (0..steps * batch)
        .map(|i| ((i * 13 + i / SAMPLES) % SAMPLES) as u32)
        .collect()
}

/// Trains on `ranks` threads; returns every rank's network and losses.
fn train_ranks<T: Real>(ranks: usize, batch: usize, steps: usize, hyper: &Hyper) -> Vec<(Network<T>, Vec<T>)> {
    let order = order(steps, batch);
    std::thread::scope(|s| {
        let handles: Vec<_> = Threads::group(ranks)
            .into_iter()
            .map(|comm| {
                let order = &order;
                s.spawn(move || {
                    let (net, data) = problem::<T>();
                    let local = CpuEngine::new(net, data).unwrap();
                    let mut e = DistEngine::new(Box::new(local), Rc::new(comm), SAMPLES).unwrap();
                    // two calls, as the trainer makes one per chunk of epochs
                    let half = (steps / 2) * batch;
                    let mut losses = e.train_with(&order[..half], batch, hyper).unwrap();
                    losses.extend(e.train_with(&order[half..], batch, hyper).unwrap());
                    (e.network().unwrap(), losses)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn single<T: Real>(batch: usize, steps: usize, hyper: &Hyper) -> (Network<T>, Vec<T>) {
    let (net, data) = problem::<T>();
    let mut e = CpuEngine::new(net, data).unwrap();
    let losses = e.train_with(&order(steps, batch), batch, hyper).unwrap();
    (e.network().unwrap(), losses)
}

/// The largest |a − b| / max(|a|, |b|, 1e-3) over every parameter.
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
fn ranks_give_the_single_process_model_f64() {
    let hyper = hyper();
    let steps = 12;
    // even, uneven, and fewer rows than ranks (empty shards)
    for (ranks, batch) in [(2, 10), (3, 10), (4, 7), (3, 2), (4, 1)] {
        let (want, want_losses) = single::<f64>(batch, steps, &hyper);
        let got = train_ranks::<f64>(ranks, batch, steps, &hyper);
        let d = max_rel_diff(&got[0].0, &want);
        assert!(
            d <= 1e-12,
            "{ranks} ranks, batch {batch}: parameters differ by {d:e} relative"
        );
        for (l, w) in got[0].1.iter().zip(&want_losses) {
            assert!(
                (l - w).abs() <= 1e-12 * w.abs(),
                "{ranks} ranks, batch {batch}: loss {l} vs {w}"
            );
        }
        // the first step's forward pass sees the same parameters: its loss is exact
        assert_eq!(got[0].1[0].to_bits(), want_losses[0].to_bits());
        for (rank, (net, losses)) in got.iter().enumerate().skip(1) {
            assert_eq!(net, &got[0].0, "rank {rank} holds other parameters than rank 0");
            assert_eq!(losses, &got[0].1, "rank {rank} saw other losses than rank 0");
        }
    }
}

#[test]
fn ranks_give_the_single_process_model_f32() {
    let hyper = hyper();
    let (want, _) = single::<f32>(10, 8, &hyper);
    let got = train_ranks::<f32>(3, 10, 8, &hyper);
    for (la, lb) in got[0].0.layers().iter().zip(want.layers()) {
        for (&x, &y) in la.weights.iter().zip(&lb.weights) {
            assert!((x - y).abs() <= 1e-4 * x.abs().max(1e-2), "{x} vs {y}");
        }
    }
    assert_eq!(got[1].0, got[0].0);
}

#[test]
fn one_rank_is_the_single_process_bit_for_bit() {
    let hyper = hyper();
    for batch in [4, 10] {
        let (want, want_losses) = single::<f64>(batch, 10, &hyper);
        let (net, data) = problem::<f64>();
        let mut e = DistEngine::new(Box::new(CpuEngine::new(net, data).unwrap()), Rc::new(Local), SAMPLES).unwrap();
        let losses = e.train_with(&order(10, batch), batch, &hyper).unwrap();
        assert_eq!(e.network().unwrap(), want, "batch {batch}");
        assert_eq!(losses, want_losses, "batch {batch}");
        assert_eq!(e.timing().steps, 10);
    }
}

#[test]
fn runs_repeat_bit_for_bit() {
    let hyper = hyper();
    let a = train_ranks::<f64>(3, 10, 6, &hyper);
    let b = train_ranks::<f64>(3, 10, 6, &hyper);
    assert_eq!(a[0], b[0]);
}

#[test]
fn rank_zero_parameters_are_everyones_start() {
    // rank 1 initialises other weights: DistEngine::new copies rank 0's to it
    let got: Vec<Network<f64>> = std::thread::scope(|s| {
        let hs: Vec<_> = Threads::group(2)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let (_, data) = problem::<f64>();
                    let spec = problem::<f64>().0.spec();
                    let net = Network::random(&spec, Init::Auto, 100 + comm.rank() as u64).unwrap();
                    let mut e =
                        DistEngine::new(Box::new(CpuEngine::new(net, data).unwrap()), Rc::new(comm), SAMPLES).unwrap();
                    e.network().unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(got[0], got[1]);
    let spec = problem::<f64>().0.spec();
    assert_eq!(got[0], Network::random(&spec, Init::Auto, 100).unwrap());
}

#[test]
fn ranks_that_disagree_are_named() {
    let results: Vec<bprop::Result<()>> = std::thread::scope(|s| {
        let hs: Vec<_> = Threads::group(3)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    // rank 2 holds other values, rank 1 more of them
                    let mine: &[f64] = match comm.rank() {
                        0 => &[1.0, 4.0],
                        1 => &[1.0, 4.0, 0.0],
                        _ => &[1.0, 5.0],
                    };
                    check_agree(&comm, "settings", mine)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        match r {
            Err(BpropError::Distributed { rank: 1, why }) => assert!(why.contains("settings"), "{why}"),
            other => panic!("expected rank 1 named, got {other:?}"),
        }
    }
    // different orders on two ranks are refused before any step
    let results: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = Threads::group(2)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let rank = comm.rank();
                    let (net, data) = problem::<f64>();
                    let mut e =
                        DistEngine::new(Box::new(CpuEngine::new(net, data).unwrap()), Rc::new(comm), SAMPLES).unwrap();
                    let mut order = order(2, 4);
                    order[rank] = 39;
                    e.train_with(&order, 4, &Hyper::sgd(0.1)).unwrap_err().to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results[0].starts_with("rank 1:"), "{}", results[0]);
}

#[test]
fn shards_split_a_batch_as_array_split() {
    let lens: Vec<usize> = (0..4).map(|r| shard(10, 4, r).len()).collect();
    assert_eq!(lens, [3, 3, 2, 2]);
    assert_eq!(shard(2, 3, 2), 2..2);
}

#[test]
fn validation_is_evaluated_over_shards_and_summed() {
    let (net, data) = problem::<f64>();
    let want = bprop::metrics::evaluate(&net, &data).unwrap();
    for ranks in [2, 3, 41] {
        let got: Vec<bprop::metrics::Metrics> = std::thread::scope(|s| {
            let hs: Vec<_> = Threads::group(ranks)
                .into_iter()
                .map(|comm| {
                    let (net, data) = (&net, &data);
                    s.spawn(move || {
                        let local = CpuEngine::new(net.clone(), data.clone()).unwrap();
                        let mut e = DistEngine::new(Box::new(local), Rc::new(comm), SAMPLES).unwrap();
                        e.evaluate(net, data).unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // 41 ranks for 40 rows: one rank evaluates none
        assert!(
            (got[0].loss - want.loss).abs() <= 1e-12 * want.loss,
            "{ranks} ranks: {got:?} vs {want:?}"
        );
        assert_eq!(got[0].accuracy, want.accuracy, "{ranks} ranks");
        assert_eq!(got[0].n, want.n);
        assert!(got.iter().all(|m| m == &got[0]), "ranks disagree: {got:?}");
    }
}
