//! Side-by-side timing of the CPU path and the GPU path on the same work, in the same run.
//!
//! Each workload runs on every engine in turn, alternating, `ROUNDS` times
//! (`bprop::bench::alternate`); the report gives each engine's median wall time and its
//! ratio to the CPU path's median. Absolute times drift between machines and runs; the
//! ratios from one run are what to compare. Run with `cargo bench --bench paths` (add
//! `-- --quick` for fewer rounds). `bprop bench` runs the same comparison from the command
//! line, with more workloads.

use bprop::bench::{alternate, cpu_description, median, random_workload, seed_workload, Workload};
use bprop::cpu::CpuEngine;
use bprop::driver::open_gpu;
use bprop::engine::Engine;
use bprop::gpu::{AdapterRequest, GpuEngine, KernelChoice};
use bprop::model::Real;

fn bench<T: Real>(w: &Workload<T>, rounds: usize) {
    let mut cpu = CpuEngine::new(w.net.clone(), w.data.clone()).expect("fits");
    // The GPU path with the kernels it chooses, and with the plain kernels forced, so the
    // tiled kernels' gain shows in the same run.
    let mut gpus: Vec<(String, GpuEngine<T>)> = Vec::new();
    for choice in [KernelChoice::Auto, KernelChoice::Plain] {
        match open_gpu(&AdapterRequest::from_env(), &w.net, &w.data) {
            Ok(mut g) => {
                g.set_kernel_choice(choice).expect("plain kernels run everywhere");
                gpus.push((format!("GPU path, {choice:?} kernels"), g));
            }
            Err(e) => {
                println!("  (GPU path skipped in this benchmark: {e})");
                break;
            }
        }
    }
    println!("{}", w.name);
    if let Some((_, g)) = gpus.first() {
        println!("  (GPU: {})", g.info());
    }
    let mut names = vec!["CPU path".to_string()];
    names.extend(gpus.iter().map(|(n, _)| n.clone()));
    let mut engines: Vec<&mut dyn Engine<T>> = vec![&mut cpu];
    engines.extend(gpus.iter_mut().map(|(_, g)| g as &mut dyn Engine<T>));
    let times = alternate(w, &mut engines, rounds).expect("training runs");
    let cpu_median = median(&times[0]);
    for (name, t) in names.iter().zip(times) {
        let m = median(&t);
        println!(
            "  {:<32} median {:>10.3} ms  {:>10.2} us/step  {:>7.2}x the CPU path's time",
            name,
            m * 1e3,
            m * 1e6 / w.steps() as f64,
            m / cpu_median
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 3 } else { 11 };
    println!("bprop paths benchmark: {rounds} alternating rounds per workload, medians; ratios < 1 are faster than the CPU path");
    println!("CPU: {}", cpu_description());
    bench(&seed_workload::<f32>(bprop::seed::ITERATIONS), rounds);
    bench(&seed_workload::<f32>(10_000), rounds.min(5));
    bench(&random_workload::<f32>(64, 128, 10, 512, 32, 64), rounds.min(5));
    bench(&random_workload::<f32>(784, 256, 10, 256, 128, 8), rounds.min(5));
}
