//! `bprop bench`: the same work on the CPU path and the GPU path, alternating, with medians
//! and ratios from the same run; the seed's step alone (for `benches/peers.sh`); the CPU
//! path's scaling from one thread to two.

use bprop::bench::{alternate_timed, cpu_description, median, random_workload, seed_step_ns, seed_workload, Workload};
use bprop::cpu::{threads, CpuEngine, LOOPS_MAX_WORK};
use bprop::driver::open_gpu;
use bprop::engine::Engine;
use bprop::gpu::{AdapterRequest, GpuEngine, KernelChoice, Product, ProductChoice, TILED_MIN_BATCH};
use bprop::model::Real;
use bprop::{BpropError, Result};
use clap::Args;

pub const EXAMPLES: &str = "\
Examples:
  bprop bench                        every workload on the CPU path and the GPU path, alternating
  bprop bench --quick                fewer rounds and shorter workloads
  bprop bench --cpu-only --threads 1 the CPU path alone, its large products on one thread
  bprop bench --only seed            the workloads whose name contains `seed`
  bprop bench --seed-step            ns per step of the seed's network (f64, online), CPU path
  bprop bench --seed-step --steps 10000000 --rounds 7
  bprop bench --thread-scaling       MNIST-sized steps with 1 and 2 threads, alternating
  bprop bench --large                4096-wide layers at batch 1024: matrix-product GFLOP/s (a real GPU)
  bprop bench --only 784 --tiles     the MNIST-sized step with every product kernel variant side by side,
                                     and each product of the step timed in every variant
  BPROP_KERNEL=subgroup-16x32 bprop bench --large --no-plain    one product variant, no plain passes
  WGPU_ADAPTER_NAME=llvmpipe bprop bench    choose the adapter

Each workload runs on every engine in turn, ROUNDS times, each run starting from the same
parameters; the medians are printed with their ratio to the CPU path's (below 1: faster
than the CPU path). Absolute times drift between runs on a busy machine; the ratios of one
run are what to compare. On a software adapter (lavapipe) the GPU path runs its shaders on
the CPU, so it is slower than the CPU path; the ratios that matter come from a real GPU.
GPU lines name the route Auto took (fused kernel, tiled or plain passes) and, where the
adapter has timestamp queries, the device time of the compute passes per step.
benches/peers.sh runs `--seed-step` beside a hand-written C loop, FANN, NumPy and PyTorch.";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer rounds and shorter workloads.
    #[arg(long)]
    quick: bool,
    /// Rounds per workload [default: 5; with --quick 3].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: Option<u32>,
    /// Only the CPU path.
    #[arg(long)]
    cpu_only: bool,
    /// Only the workloads whose name contains TEXT (e.g. seed, 784, f64).
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// Threads for the CPU path's large matrix products, 1 to 64 [default: BPROP_THREADS,
    /// else the number of physical cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: Option<u32>,
    /// Only the seed's step: nanoseconds per step of the CPU path on the seed's 2-2-1
    /// network in f64, online, STEPS steps in one engine call per round.
    #[arg(long, conflicts_with_all = ["cpu_only", "only", "thread_scaling"])]
    seed_step: bool,
    /// Steps per round for --seed-step, at most 100000000 (the step order and the losses
    /// take 12 bytes a step) [default: 1000000].
    #[arg(long, requires = "seed_step", value_parser = clap::value_parser!(u64).range(1..=MAX_SEED_STEPS))]
    steps: Option<u64>,
    /// The CPU path on MNIST-sized steps (784-800-10, batch 128, f32) with 1 and with 2
    /// threads, alternating; prints the speedup and checks the weights are the same bits.
    #[arg(long, conflicts_with_all = ["cpu_only", "only", "threads"])]
    thread_scaling: bool,
    /// Large matrix products instead of the usual workloads: 4096-4096-4096 at batch 1024
    /// (f32), to read the GPU's matrix-product throughput (GFLOP/s from device time).
    #[arg(long, conflicts_with_all = ["seed_step", "thread_scaling", "only"])]
    large: bool,
    /// Also run the tiled passes with every product kernel variant the adapter can run
    /// (workgroup tiles of 32, 64 and 128, register blocks 4 and 8, subgroup broadcasts, with four-wide loads)
    /// beside Auto (tuned per product) and Plain.
    #[arg(long, conflicts_with_all = ["seed_step", "thread_scaling", "cpu_only"])]
    tiles: bool,
    /// Leave out the GPU path's plain passes (minutes per step on large products on a
    /// software adapter); the CPU path and Auto stay.
    #[arg(long, conflicts_with_all = ["seed_step", "thread_scaling", "cpu_only"])]
    no_plain: bool,
    /// Print one line per engine and round, `RAW<TAB>workload<TAB>engine<TAB>seconds`
    /// (what --thread-scaling reads from its child processes).
    #[arg(long, hide = true)]
    raw: bool,
}

/// The most steps `--seed-step` runs per round: its workload holds the sample order and
/// one loss per step (12 bytes a step, 1.2 GB here), allocated from this number.
const MAX_SEED_STEPS: u64 = 100_000_000;

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(n) = args.threads {
        threads::set_threads(n as usize)?;
    }
    let rounds = args.rounds.map_or(if args.quick { 3 } else { 5 }, |r| r as usize);
    if args.seed_step {
        return seed_step(args.steps.unwrap_or(1_000_000) as usize, rounds);
    }
    if args.thread_scaling {
        return thread_scaling(args.quick, rounds);
    }
    let only = |name: &str| args.only.as_ref().is_none_or(|o| name.contains(o.as_str()));
    let mut out = Report {
        raw: args.raw,
        cpu_only: args.cpu_only,
        tiles: args.tiles,
        no_plain: args.no_plain,
        rounds,
        printed_header: false,
    };
    let q = args.quick;
    if args.large {
        let mut w = random_workload::<f32>(4096, 4096, 4096, 4096, 1024, if q { 2 } else { 8 });
        w.name = format!("large products: {}", w.name);
        return out.workload(&w);
    }
    let f32_loads = [
        seed_workload::<f32>(100),
        seed_workload::<f32>(if q { 2_000 } else { 10_000 }),
        random_workload::<f32>(64, 128, 10, 512, 32, if q { 16 } else { 64 }),
        random_workload::<f32>(784, 256, 10, 256, 128, if q { 2 } else { 8 }),
        mnist_sized(if q { 2 } else { 4 }),
    ];
    let f64_loads = [seed_workload::<f64>(if q { 2_000 } else { 10_000 })];
    for w in f32_loads.iter().filter(|w| only(&w.name)) {
        out.workload(w)?;
    }
    for w in f64_loads.iter().filter(|w| only(&w.name)) {
        out.workload(w)?;
    }
    if !out.printed_header {
        return Err(BpropError::InvalidArgument {
            name: "only",
            value: args.only.clone().unwrap_or_default(),
            why: "no workload's name contains it".into(),
        });
    }
    Ok(())
}

/// 784-800-10 (MNIST's input, the hidden layer of the MNIST example), batch 128, f32.
fn mnist_sized(steps: usize) -> Workload<f32> {
    let mut w = random_workload::<f32>(784, 800, 10, 256, 128, steps);
    w.name = format!("MNIST-sized {}", w.name);
    w
}

struct Report {
    raw: bool,
    cpu_only: bool,
    /// Every product kernel variant as well (`--tiles`).
    tiles: bool,
    /// No plain-pass GPU engine (`--no-plain`).
    no_plain: bool,
    rounds: usize,
    printed_header: bool,
}

impl Report {
    fn header(&mut self, gpu: Option<&str>) {
        if self.printed_header || self.raw {
            self.printed_header = true;
            return;
        }
        self.printed_header = true;
        println!(
            "bprop bench: {} alternating rounds per workload, medians; ratios are to the CPU path's median (below 1: faster)",
            self.rounds
        );
        println!("CPU: {}", cpu_description());
        println!(
            "CPU path: own loops for products of up to {LOOPS_MAX_WORK} multiply-adds or with a dimension of at most 2, \
             the packed product above ({:?} microkernel), on {} thread(s)",
            bprop::cpu::gemm::isa(),
            threads::threads()
        );
        match gpu {
            Some(g) => println!("GPU: {g}"),
            None if self.cpu_only => println!("GPU: not run (--cpu-only)"),
            None => {}
        }
    }

    fn workload<T: Real>(&mut self, w: &Workload<T>) -> Result<()> {
        let mut cpu = CpuEngine::new(w.net.clone(), w.data.clone())?;
        let mut gpus: Vec<(String, GpuEngine<T>)> = Vec::new();
        let mut skipped = None;
        if !self.cpu_only {
            let mut choices = vec![(KernelChoice::Auto, None)];
            if !self.no_plain {
                choices.push((KernelChoice::Plain, None));
            }
            if self.tiles {
                choices.extend(Product::ALL.map(|p| (KernelChoice::Tiled, Some(p))));
            }
            for (choice, product) in choices {
                match open_gpu(&AdapterRequest::from_env(), &w.net, &w.data) {
                    Ok(mut g) => {
                        if let Some(p) = product {
                            if !g.product_available(p) {
                                continue;
                            }
                            g.set_product_choice(ProductChoice::Fixed(p))?;
                        }
                        g.set_kernel_choice(choice)?;
                        g.set_timing(true);
                        let products = match g.product_choice() {
                            ProductChoice::Fixed(p) => p.to_string(),
                            ProductChoice::Tuned => "tuned per product".into(),
                        };
                        let route = match g.fused_route(w.batch, &w.hyper)? {
                            _ if choice == KernelChoice::Tiled => format!("tiled passes, {products}"),
                            Some(_) => "fused kernel".into(),
                            None if choice == KernelChoice::Plain => "plain passes".into(),
                            None if w.batch >= TILED_MIN_BATCH => format!("tiled passes, {products}"),
                            None => "plain passes".into(),
                        };
                        gpus.push((format!("GPU, {choice:?}: {route}"), g));
                    }
                    Err(e) => {
                        skipped = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        let adapter = gpus.first().map(|(_, g)| describe_gpu(g.info()));
        self.header(adapter.as_deref());
        let mut names = vec!["CPU path".to_string()];
        names.extend(gpus.iter().map(|(n, _)| n.clone()));
        let mut engines: Vec<&mut dyn Engine<T>> = vec![&mut cpu];
        engines.extend(gpus.iter_mut().map(|(_, g)| g as &mut dyn Engine<T>));
        let (times, device) = alternate_timed(w, &mut engines, self.rounds)?;
        if self.raw {
            for (name, t) in names.iter().zip(&times) {
                for s in t {
                    println!("RAW\t{}\t{name}\t{s:.9}", w.name);
                }
            }
            return Ok(());
        }
        println!("\n{}", w.name);
        if let Some(why) = skipped {
            println!("  (GPU path not run: {why})");
        }
        if self.tiles {
            if let Some((_, g)) = gpus.first_mut() {
                print_product_timings(g, w.batch, self.rounds)?;
            }
        }
        let cpu_median = median(&times[0]);
        for ((name, t), d) in names.iter().zip(&times).zip(&device) {
            let m = median(t);
            // Device time from timestamp queries around the compute passes, where present.
            let dev: Vec<f64> = d.iter().flatten().copied().collect();
            // Throughput of the step's matrix products, from device time where there is one.
            let (dev, secs) = if dev.len() == d.len() && !dev.is_empty() {
                let m = median(&dev);
                (format!("  device {:>10.3} us/step", m * 1e6 / w.steps() as f64), m)
            } else {
                (String::new(), m)
            };
            let gflops = w.flops_per_step() * w.steps() as f64 / secs / 1e9;
            println!(
                "  {name:<38} median {:>10.3} ms {:>12.3} us/step {:>9.2}x{dev} {gflops:>10.2} GFLOP/s",
                m * 1e3,
                m * 1e6 / w.steps() as f64,
                m / cpu_median
            );
        }
        Ok(())
    }
}

/// `--tiles`: each product of one step at `batch`, every variant side by side (median per
/// dispatch of `rounds` alternating rounds), with GFLOP/s and the ratio to the default
/// variant's time (below 1: faster than it).
fn print_product_timings<T: Real>(g: &mut GpuEngine<T>, batch: usize, rounds: usize) -> Result<()> {
    let timings = g.product_timings(batch, rounds, 2)?;
    println!(
        "  products of one step, each variant's median per dispatch ({} rounds; ratios to {}, below 1: faster):",
        rounds,
        Product::default()
    );
    for t in &timings {
        let [m, n, k] = t.mnk;
        let flops = 2.0 * (m * n * k) as f64;
        let base = t
            .seconds
            .iter()
            .find(|(p, _)| *p == Product::default())
            .map_or(f64::NAN, |(_, s)| *s);
        let best = t.seconds.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|(p, _)| *p);
        println!(
            "    layer {} {:?} product, M x N x K = {m} x {n} x {k}:",
            t.layer, t.pass
        );
        for (p, s) in &t.seconds {
            let mark = if Some(*p) == best { "  <- fastest" } else { "" };
            println!(
                "      {:<16} {:>10.3} ms {:>9.2} GFLOP/s {:>7.2}x{mark}",
                p.to_string(),
                s * 1e3,
                flops / s / 1e9,
                s / base
            );
        }
    }
    Ok(())
}

fn describe_gpu(info: &bprop::engine::BackendInfo) -> String {
    let software = if info.device_type == "Cpu" {
        " — a software adapter: its shaders run on the CPU"
    } else {
        ""
    };
    format!("{} ({}, {}){software}", info.name, info.api, info.device_type)
}

/// `--seed-step`.
fn seed_step(steps: usize, rounds: usize) -> Result<()> {
    let ns = seed_step_ns(steps, rounds)?;
    let min = ns.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "bprop seed step (CPU path, f64, online, {steps} steps per engine call, {rounds} rounds): median {:.2} ns/step, min {min:.2}",
        median(&ns)
    );
    println!("CPU: {}", cpu_description());
    println!("bprop-seed steps={steps} ns_per_step={:.2}", median(&ns));
    Ok(())
}

/// `--thread-scaling`: the MNIST-sized workload on two CPU engines, one run with 1 thread
/// and one with 2 in each round (the count may change between products, never a result),
/// with the weights of both compared bit for bit at the end.
fn thread_scaling(quick: bool, rounds: usize) -> Result<()> {
    let w = mnist_sized(if quick { 2 } else { 4 });
    println!(
        "bprop bench --thread-scaling: {}, CPU path, {rounds} alternating rounds",
        w.name
    );
    println!("CPU: {}", cpu_description());
    let before = threads::threads();
    let mut engines = [
        CpuEngine::new(w.net.clone(), w.data.clone())?,
        CpuEngine::new(w.net.clone(), w.data.clone())?,
    ];
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (t, (engine, out)) in [1, 2].into_iter().zip(engines.iter_mut().zip(times.iter_mut())) {
            threads::set_threads(t)?;
            let one: &mut dyn Engine<f32> = engine;
            out.push(alternate_timed(&w, &mut [one], 1)?.0[0][0]);
        }
    }
    threads::set_threads(before)?;
    let [one_thread, two_threads] = &mut engines;
    let bits = |net: bprop::model::Network<f32>| -> Vec<u32> {
        net.layers()
            .iter()
            .flat_map(|l| {
                l.weights
                    .iter()
                    .chain(l.bias.iter().flatten())
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let same = bits(one_thread.network()?) == bits(two_threads.network()?);
    let (one, two) = (median(&times[0]), median(&times[1]));
    let per_step = |s: f64| s * 1e3 / w.steps() as f64;
    println!("  1 thread   median {:>9.3} ms/step", per_step(one));
    println!("  2 threads  median {:>9.3} ms/step", per_step(two));
    println!("  speedup {:.2}x (1 thread's median time / 2 threads')", one / two);
    println!(
        "  weights after the runs: {}",
        if same {
            "bit-identical"
        } else {
            "DIFFERENT (a bug: the count must not change a result)"
        }
    );
    if !same {
        return Err(BpropError::InvalidArgument {
            name: "thread-scaling",
            value: "1 and 2 threads".into(),
            why: "the weights differ between thread counts".into(),
        });
    }
    Ok(())
}
