//! Side-by-side timing of the CPU path and the GPU path on the same work, in the same run.
//!
//! Each workload runs on every engine in turn, alternating, `ROUNDS` times; the report
//! gives each engine's median wall time and its ratio to the CPU path's median. Absolute
//! times drift between machines and runs; the ratios from one run are what to compare.
//! Run with `cargo bench --bench paths` (add `-- --quick` for fewer rounds).

use bprop::cpu::CpuEngine;
use bprop::driver::open_gpu;
use bprop::engine::Engine;
use bprop::gpu::{AdapterRequest, KernelChoice};
use bprop::model::{Activation, Dataset, Init, Loss, Network, NetworkSpec, Real};
use bprop::seed;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

struct Workload<T: Real> {
    name: String,
    net: Network<T>,
    data: Dataset<T>,
    order: Vec<u32>,
    batch: usize,
    lr: T,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn random_workload<T: Real>(
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
    let net = Network::random(&spec, Init::Auto, 1).expect("valid spec");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = Array2::from_shape_simple_fn((n, inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn(
        (n, outputs),
        |(i, k)| if i % outputs == k { T::one() } else { T::zero() },
    );
    let order = (0..steps * batch).map(|i| (i % n) as u32).collect();
    Workload {
        name: format!(
            "{inputs}-{hidden}-{outputs} relu/softmax, batch {batch}, {steps} steps, {}",
            T::NAME
        ),
        net,
        data: Dataset::new(x, y).expect("finite data"),
        order,
        batch,
        lr: T::of(0.01),
    }
}

fn bench<T: Real>(w: &Workload<T>, rounds: usize) {
    let mut engines: Vec<(String, Box<dyn Engine<T>>)> = vec![(
        "CPU path".into(),
        Box::new(CpuEngine::new(w.net.clone(), w.data.clone()).expect("fits")),
    )];
    // The GPU path with the kernels it chooses, and with the plain kernels forced, so the
    // tiled kernels' gain shows in the same run.
    for choice in [KernelChoice::Auto, KernelChoice::Plain] {
        match open_gpu(&AdapterRequest::from_env(), &w.net, &w.data) {
            Ok(mut g) => {
                g.set_kernel_choice(choice).expect("plain kernels run everywhere");
                let name = format!("GPU path, {choice:?} kernels");
                engines.push((name, Box::new(g)));
            }
            Err(e) => println!("  (GPU path skipped in this benchmark: {e})"),
        }
    }
    let mut times = vec![Vec::new(); engines.len()];
    for _ in 0..rounds {
        for ((_, e), t) in engines.iter_mut().zip(&mut times) {
            e.set_network(&w.net).expect("same shape");
            let start = Instant::now();
            e.train_steps(&w.order, w.batch, w.lr).expect("training runs");
            t.push(start.elapsed().as_secs_f64());
        }
    }
    println!("{}", w.name);
    if let Some((_, g)) = engines.get(1) {
        println!("  (GPU: {})", g.info());
    }
    let cpu = median(times[0].clone());
    for ((name, _), t) in engines.iter().zip(times) {
        let m = median(t);
        let steps = w.order.len() / w.batch;
        println!(
            "  {:<32} median {:>10.3} ms  {:>10.2} us/step  {:>7.2}x the CPU path's time",
            name,
            m * 1e3,
            m * 1e6 / steps as f64,
            m / cpu
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 11 };
    println!("bprop paths benchmark: {rounds} alternating rounds per workload, medians; ratios < 1 are faster than the CPU path");
    let seed_work = |steps| Workload::<f32> {
        name: format!("seed 2-2-1, online, {steps} steps in one call (f32)"),
        net: seed::network(),
        data: seed::dataset(),
        order: vec![0; steps],
        batch: 1,
        lr: 1.0,
    };
    bench(&seed_work(seed::ITERATIONS), rounds);
    bench(&seed_work(10_000), rounds.min(5));
    bench(&random_workload::<f32>(64, 128, 10, 512, 32, 64), rounds.min(5));
    bench(&random_workload::<f32>(784, 256, 10, 256, 128, 8), rounds.min(5));
}
