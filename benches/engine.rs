//! Criterion benchmarks of the CPU path's training step on a few sizes: the seed's 2-2-1
//! network online (f64, the comparison with the hand-written C loop in benches/peers.sh),
//! a small network online and in mini-batches (the loops), and an MNIST-sized mini-batch
//! (matrixmultiply). Run with `cargo bench --bench engine`; `cargo test` neither builds
//! nor runs them. Side-by-side timings of the CPU and GPU paths are `bprop bench` and
//! `cargo bench --bench paths`.

use bprop::bench::{random_workload, seed_workload, Workload};
use bprop::cpu::CpuEngine;
use bprop::engine::Engine;
use bprop::model::Real;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

/// Times one call of `w.steps()` steps, reported per step (throughput in elements = steps).
fn bench_steps<T: Real>(c: &mut Criterion, group: &str, id: &str, w: &Workload<T>, samples: usize) {
    let mut g = c.benchmark_group(group);
    g.sample_size(samples);
    g.throughput(Throughput::Elements(w.steps() as u64));
    let mut engine = CpuEngine::new(w.net.clone(), w.data.clone()).expect("the workload fits");
    let mut losses = Vec::with_capacity(w.steps());
    g.bench_function(BenchmarkId::from_parameter(id), |b| {
        b.iter(|| {
            losses.clear();
            engine
                .train_into(black_box(&w.order), w.batch, &w.hyper, &mut losses)
                .expect("training runs");
            black_box(losses.last().copied())
        })
    });
    g.finish();
    // Keep the parameters finite whatever the number of iterations criterion chose.
    engine.set_network(&w.net).expect("same shape");
}

fn seed_step(c: &mut Criterion) {
    bench_steps(
        c,
        "seed 2-2-1 online",
        "f64, 10000 steps",
        &seed_workload::<f64>(10_000),
        20,
    );
    bench_steps(
        c,
        "seed 2-2-1 online",
        "f32, 10000 steps",
        &seed_workload::<f32>(10_000),
        20,
    );
}

fn small(c: &mut Criterion) {
    for batch in [1, 8] {
        let w = random_workload::<f32>(16, 32, 4, 256, batch, 256);
        bench_steps(c, "16-32-4 relu/softmax f32", &format!("batch {batch}"), &w, 20);
    }
}

fn mnist_sized(c: &mut Criterion) {
    for (batch, steps) in [(1, 16), (128, 2)] {
        let w = random_workload::<f32>(784, 800, 10, 256, batch, steps);
        bench_steps(c, "784-800-10 relu/softmax f32", &format!("batch {batch}"), &w, 10);
    }
}

criterion_group!(benches, seed_step, small, mnist_sized);
criterion_main!(benches);
