//! One MNIST epoch trained data-parallel over MPI, side by side with one process, in one
//! run: 784-800-10 (ReLU, softmax cross-entropy), batch 128, SGD with momentum 0.9, f32,
//! 60 000 images, the same shuffled order everywhere. Each round times, in turn:
//!
//! - one process (rank 0 alone, the others waiting): the CPU path's fused step;
//! - one process through the split step (gradient, then update: what each rank runs);
//! - every rank of the launch together ([`bprop::dist::DistEngine`]), with each step's
//!   time split into the gradient of the rank's shard, the all-reduce of gradients and
//!   losses (waiting for the slowest rank included) and the update.
//!
//! - the all-reduce alone: 20 all-reduces of the step's buffer (P gradient values and B
//!   loss slots, f32) back to back after a barrier, the transfer without waiting for a
//!   slower rank.
//!
//! Rank 0 prints each round and the medians, and the epoch's speed-up over one process.
//!
//! ```text
//! cargo build --release --features mpi --example dist_epoch
//! BPROP_THREADS=1 mpirun --oversubscribe -n 2 target/release/examples/dist_epoch [ROUNDS]
//! ```
//!
//! Data from `$BPROP_DATA/mnist` (default `../shared/data/mnist`).

use bprop::cpu::CpuEngine;
use bprop::data::load_mnist;
use bprop::dist::{Collective, DistEngine, Local, Mpi};
use bprop::engine::Engine;
use bprop::model::{Activation, Dataset, Hyper, Init, Loss, Network, NetworkSpec, Optimizer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

const BATCH: usize = 128;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> bprop::Result<()> {
    let mpi: Rc<dyn Collective> = Rc::new(Mpi::init()?);
    let (rank, size) = (mpi.rank(), mpi.size());
    let rounds: usize = std::env::args().nth(1).map_or(3, |r| r.parse().expect("ROUNDS"));
    let dir = PathBuf::from(std::env::var("BPROP_DATA").unwrap_or_else(|_| "../shared/data".into())).join("mnist");
    let train: Dataset<f32> = load_mnist(
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
    )?
    .to_dataset()?;
    let spec = NetworkSpec::new(784, Loss::CrossEntropy)
        .layer(800, Activation::Relu)
        .layer(10, Activation::Softmax);
    let net = Network::<f32>::random(&spec, Init::Auto, 1)?;
    let hyper = Hyper::sgd(0.05).with_optimizer(Optimizer::Momentum { momentum: 0.9 });
    let n = train.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    order.truncate(n / BATCH * BATCH);
    let steps = order.len() / BATCH;
    let barrier = || mpi.sum_f64(&mut [0.0]);
    if rank == 0 {
        println!(
            "examples/dist_epoch: MNIST epoch, 784-800-10, batch {BATCH}, momentum, f32, {steps} steps, {} parameters ({:.2} MB of f32 gradient per all-reduce), {rounds} rounds, {size} ranks, BPROP_THREADS={}",
            net.n_params(),
            net.n_params() as f64 * 4e-6,
            std::env::var("BPROP_THREADS").unwrap_or_else(|_| "(default)".into())
        );
        println!(
            "{:>5} {:>12} {:>12} {:>12} {:>9} {:>14} {:>14} {:>14} {:>14}",
            "round",
            "1 fused s",
            "1 split s",
            "N ranks s",
            "speed-up",
            "gradient ms",
            "all-reduce ms",
            "update ms",
            "alone ms"
        );
    }
    let (mut fused, mut split, mut ranks, mut grad, mut reduce, mut update, mut alone) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut buf = vec![0.0f32; net.n_params() + BATCH];
    for round in 0..rounds {
        if rank == 0 {
            let mut e = CpuEngine::new(net.clone(), train.clone())?;
            let t = Instant::now();
            e.train_with(&order, BATCH, &hyper)?;
            fused.push(t.elapsed().as_secs_f64());
            let local = CpuEngine::new(net.clone(), train.clone())?;
            let mut e = DistEngine::new(Box::new(local), Rc::new(Local), n)?;
            let t = Instant::now();
            e.train_with(&order, BATCH, &hyper)?;
            split.push(t.elapsed().as_secs_f64());
        }
        barrier()?;
        let local = CpuEngine::new(net.clone(), train.clone())?;
        let mut e = DistEngine::new(Box::new(local), mpi.clone(), n)?;
        barrier()?;
        let t = Instant::now();
        e.train_with(&order, BATCH, &hyper)?;
        barrier()?;
        let secs = t.elapsed().as_secs_f64();
        let timing = e.timing();
        let per_step = |d: std::time::Duration| d.as_secs_f64() * 1e3 / timing.steps as f64;
        barrier()?;
        let t = Instant::now();
        for _ in 0..20 {
            bprop::dist::sum(mpi.as_ref(), &mut buf)?;
        }
        let reduce_ms = t.elapsed().as_secs_f64() * 1e3 / 20.0;
        if rank == 0 {
            alone.push(reduce_ms);
            ranks.push(secs);
            grad.push(per_step(timing.gradient));
            reduce.push(per_step(timing.all_reduce));
            update.push(per_step(timing.update));
            println!(
                "{round:>5} {:>12.3} {:>12.3} {:>12.3} {:>8.2}× {:>14.3} {:>14.3} {:>14.3} {:>14.3}",
                fused[round],
                split[round],
                secs,
                fused[round] / secs,
                grad[round],
                reduce[round],
                update[round],
                reduce_ms
            );
        }
    }
    if rank == 0 {
        let (f, s, r) = (median(&mut fused), median(&mut split), median(&mut ranks));
        println!(
            "median {:>11.3} {:>12.3} {:>12.3} {:>8.2}× {:>14.3} {:>14.3} {:>14.3} {:>14.3}",
            f,
            s,
            r,
            f / r,
            median(&mut grad),
            median(&mut reduce),
            median(&mut update),
            median(&mut alone)
        );
        println!(
            "RESULT ranks {size} fused_s {f:.3} split_s {s:.3} ranks_s {r:.3} speedup {:.2}",
            f / r
        );
    }
    Ok(())
}
