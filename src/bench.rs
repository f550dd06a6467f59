//! Side-by-side timing of engines on the same work, in the same run: the harness behind
//! `bprop bench` and `benches/paths.rs`.
//!
//! Each workload runs on every engine in turn, alternating, for a number of rounds; every
//! round starts from the workload's initial parameters. Medians of the rounds are
//! reported, and ratios between engines are taken from the same run: absolute times drift
//! between machines and between runs on a shared machine, ratios much less. Nothing here
//! asserts a time.

use crate::cpu::CpuEngine;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::{Activation, Dataset, Hyper, Init, Loss, Network, NetworkSpec, Real};
use crate::seed;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// One piece of work: a network, its data, the sample order and the update rule.
#[derive(Clone, Debug)]
pub struct Workload<T: Real> {
    /// What it is, for reports.
    pub name: String,
    /// The initial parameters (every round starts from them).
    pub net: Network<T>,
    /// The samples.
    pub data: Dataset<T>,
    /// The samples of each step, `batch` at a time.
    pub order: Vec<u32>,
    /// Samples per step.
    pub batch: usize,
    /// The update rule.
    pub hyper: Hyper,
}

impl<T: Real> Workload<T> {
    /// Training steps per round.
    pub fn steps(&self) -> usize {
        self.order.len() / self.batch
    }

    /// Floating-point operations in the matrix products of one training step, 2 per
    /// multiply-add: B · fan_in · fan_out multiply-adds for each layer's forward product
    /// and for its weight gradient, and for each layer after the first its share of the
    /// previous layer's delta (Δ_l = Δ_{l+1} W_{l+1}). Element-wise work is not counted.
    pub fn flops_per_step(&self) -> f64 {
        let b = self.batch as f64;
        self.net
            .layers()
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let mn = (layer.fan_in() * layer.fan_out()) as f64;
                2.0 * b * mn * if l == 0 { 2.0 } else { 3.0 }
            })
            .sum()
    }
}

/// The seed's 2-2-1 network trained online (batch 1) on its one sample, `steps` steps at
/// learning rate 1, all in one engine call.
pub fn seed_workload<T: Real>(steps: usize) -> Workload<T> {
    Workload {
        name: format!("seed 2-2-1, online, {steps} steps in one call ({})", T::NAME),
        net: seed::network(),
        data: seed::dataset(),
        order: vec![0; steps],
        batch: 1,
        hyper: Hyper::sgd(seed::LEARNING_RATE),
    }
}

/// A `inputs`-`hidden`-`outputs` relu/softmax network (seeded He initialisation) on `n`
/// random samples in [−1, 1) with one-hot targets, `steps` steps of `batch` samples, plain
/// SGD at 0.01.
pub fn random_workload<T: Real>(
    inputs: usize,
    hidden: usize,
    outputs: usize,
    n: usize,
    batch: usize,
    steps: usize,
) -> Workload<T> {
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Relu)
        .layer(outputs, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 1).expect("a valid spec");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = Array2::from_shape_simple_fn((n, inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn(
        (n, outputs),
        |(i, k)| if i % outputs == k { T::one() } else { T::zero() },
    );
    Workload {
        name: format!(
            "{inputs}-{hidden}-{outputs} relu/softmax, batch {batch}, {steps} steps ({})",
            T::NAME
        ),
        net,
        data: Dataset::new(x, y).expect("finite data"),
        order: (0..steps * batch).map(|i| (i % n) as u32).collect(),
        batch,
        hyper: Hyper::sgd(0.01),
    }
}

/// The median of `v` (the upper one for an even count); NaN for none.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `w` on every engine in turn, `rounds` times (after one untimed step on each), and
/// returns each engine's wall times in seconds, one per round, in the engines' order. Each
/// run restores the initial parameters first. The optimizer state is kept (plain SGD, as
/// in this module's workloads, has none to reset; a reset would put the state's
/// allocation in the timing).
///
/// # Errors
/// The first engine error.
pub fn alternate<T: Real>(w: &Workload<T>, engines: &mut [&mut dyn Engine<T>], rounds: usize) -> Result<Vec<Vec<f64>>> {
    Ok(alternate_timed(w, engines, rounds)?.0)
}

/// [`alternate`], also returning each engine's device times per round in seconds
/// ([`Engine::take_device_time`]; `None` where the engine has no device clock or timing
/// is off).
///
/// # Errors
/// The first engine error.
#[allow(clippy::type_complexity)]
pub fn alternate_timed<T: Real>(
    w: &Workload<T>,
    engines: &mut [&mut dyn Engine<T>],
    rounds: usize,
) -> Result<(Vec<Vec<f64>>, Vec<Vec<Option<f64>>>)> {
    // Untimed: one step on each engine, so that first-use costs (buffers, optimizer state,
    // thread pools, pipelines) stay out of the rounds.
    for e in engines.iter_mut() {
        e.train_with(&w.order[..w.batch], w.batch, &w.hyper)?;
        e.take_device_time();
    }
    let mut times = vec![Vec::with_capacity(rounds); engines.len()];
    let mut device = vec![Vec::with_capacity(rounds); engines.len()];
    for _ in 0..rounds {
        for ((e, t), d) in engines.iter_mut().zip(&mut times).zip(&mut device) {
            e.set_network(&w.net)?;
            e.take_device_time();
            let start = Instant::now();
            e.train_with(&w.order, w.batch, &w.hyper)?;
            t.push(start.elapsed().as_secs_f64());
            d.push(e.take_device_time().map(|x| x.as_secs_f64()));
        }
    }
    Ok((times, device))
}

/// Nanoseconds per step of the CPU path on the seed's step in f64, online: `steps` steps
/// in one call to the engine, repeated `rounds` times (one value per round).
///
/// # Errors
/// None in practice (the seed's network and data are valid).
pub fn seed_step_ns(steps: usize, rounds: usize) -> Result<Vec<f64>> {
    let w = seed_workload::<f64>(steps);
    let mut cpu = CpuEngine::new(w.net.clone(), w.data.clone())?;
    let times = alternate(&w, &mut [&mut cpu], rounds)?;
    Ok(times[0].iter().map(|s| s * 1e9 / steps as f64).collect())
}

/// The CPU's model name and the number of logical CPUs, from `/proc/cpuinfo` (Linux), or
/// what the standard library knows elsewhere.
pub fn cpu_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    let model = model.unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH));
    format!("{model}, {cpus} logical CPUs")
}
