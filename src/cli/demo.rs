//! `bprop demo`: the seed's 2-2-1 network trained as backpropagation does it, printed in
//! the seed's style, cross-checked, and set beside the seed's own figures.

use super::{BackendArg, PrecisionArg};
use bprop::cpu::CpuEngine;
use bprop::driver::{cross_check, Trainer};
use bprop::engine::BackendKind;
use bprop::gpu::AdapterRequest;
use bprop::model::{Hyper, Network, Precision, Real};
use bprop::{seed, Result};
use clap::Args;

pub const EXAMPLES: &str = "Examples:\n  bprop demo                          every iteration, on the best backend\n  bprop demo --backend gpu --precision f64\n  bprop demo --backend cpu --every 10 one iteration in ten";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to compute.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Floating-point precision.
    #[arg(long, value_enum, default_value = "f32")]
    precision: PrecisionArg,
    /// Number of iterations (the seed runs 100).
    #[arg(long, default_value_t = seed::ITERATIONS as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    iterations: u32,
    /// Print one iteration in N (the last one always).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    every: u32,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    match args.precision {
        PrecisionArg::F32 => run_typed::<f32>(args),
        PrecisionArg::F64 => run_typed::<f64>(args),
    }
}

/// A number as numpy prints it in scientific notation: `8.22616248e-06`.
fn sci(x: f64) -> String {
    let s = format!("{x:.8e}");
    let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    let exp: i32 = exp.parse().expect("integer exponent");
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// A parameter with the digits its precision carries: 8 decimals in f64 (as the seed
/// prints), 7 in f32 (so that 0.8f32 prints as 0.8000000, not its binary 0.80000001).
fn num<T: Real>(v: T) -> String {
    let decimals = if T::PRECISION == Precision::F32 { 7 } else { 8 };
    format!("{:.*}", decimals, v.f64())
}

/// A matrix as numpy prints it: `[[0.1 0.8]\n [0.4 0.6]]`.
fn matrix<T: Real>(m: &ndarray::Array2<T>) -> String {
    let rows: Vec<String> = m
        .rows()
        .into_iter()
        .map(|r| format!("[{}]", r.iter().map(|&v| num(v)).collect::<Vec<_>>().join(" ")))
        .collect();
    format!("[{}]", rows.join("\n "))
}

fn run_typed<T: Real>(args: &DemoArgs) -> Result<()> {
    let (iterations, every) = (args.iterations as usize, args.every as usize);
    let req = AdapterRequest::from_env();
    let net = seed::network::<T>();
    let data = seed::dataset::<T>();
    let mut trainer = Trainer::new(args.backend.into(), &req, net.clone(), data.clone())?;
    println!("bprop demo: the seed's network done right");
    println!("  2-2-1, sigmoid hidden and output layers, no biases; x = (0.35, 0.9), y = 0.5");
    println!("  E = 1/2 (y - y_hat)^2; plain gradient descent, learning rate 1, {iterations} online iterations");
    println!("backend: {}", trainer.info());
    for note in trainer.notes() {
        println!("note: {note}");
    }
    let notes_seen = trainer.notes().len();
    println!("input_layer\n[[{}]\n [{}]]", seed::INPUT[0], seed::INPUT[1]);
    println!("output\n[[{}]]", seed::TARGET);
    println!("w0\n{}", matrix(&net.layers()[0].weights));
    println!("w1\n{}", matrix(&net.layers()[1].weights));

    let hyper = Hyper::sgd(seed::LEARNING_RATE);
    let mut last_error = 0.0;
    for it in 1..=iterations {
        last_error = trainer.run_steps(&[0], 1, &hyper)?[0].f64();
        if it % every == 0 || it == iterations {
            let now = trainer.network();
            if every > 1 {
                println!("iteration {it}");
            }
            println!("error\n[[{}]]", sci(last_error));
            println!("w0\n{}", matrix(&now.layers()[0].weights));
            println!("w1\n{}", matrix(&now.layers()[1].weights));
        }
    }
    for note in &trainer.notes()[notes_seen..] {
        println!("note: {note}");
    }
    let trained: Network<T> = trainer.network().clone();
    println!();

    let ran_on_gpu = trainer.info().kind == BackendKind::Gpu;
    let mut cross_check_failed = None;
    if ran_on_gpu {
        let mut cpu = CpuEngine::new(net.clone(), data)?;
        let gpu = trainer.engine_mut();
        gpu.set_network(&net)?;
        let order = vec![0u32; iterations];
        let report = cross_check(gpu, &mut cpu, &order, 1, &hyper, 1)?;
        println!("{report}");
        cross_check_failed = report.into_result().err();
    } else {
        println!("cross-check: not run; the demo ran on the CPU path, and the cross-check compares");
        println!("  the GPU path against it (run `bprop demo --backend gpu` where an adapter exists)");
    }
    println!();
    closing(&trained, last_error, iterations);
    match cross_check_failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The seed's printed figures beside bprop's, and the seed's two flaws in plain words.
fn closing<T: Real>(trained: &Network<T>, last_error: f64, iterations: usize) {
    let w0 = &trained.layers()[0].weights;
    let w1 = &trained.layers()[1].weights;
    let p = seed::printed::W0;
    println!("The seed's figures beside bprop's (after iteration 100):");
    if iterations != seed::ITERATIONS {
        println!("  (this run had {iterations} iterations, so bprop's column is not after iteration 100)");
    }
    println!(
        "  {:<10} {:>28}   {:>28}",
        "", "seed's listing (as printed)", "bprop (backpropagation)"
    );
    println!(
        "  {:<10} {:>28}   {:>28}",
        "error",
        sci(seed::printed::ERROR),
        sci(last_error)
    );
    for i in 0..2 {
        println!(
            "  {:<10} {:>28}   {:>28}",
            format!("w0 row {i}"),
            format!("{:.8} {:.8}", p[i][0], p[i][1]),
            format!("{} {}", num(w0[[i, 0]]), num(w0[[i, 1]]))
        );
    }
    println!(
        "  {:<10} {:>28}   {:>28}",
        "w1",
        format!("{:.8} {:.8}", seed::printed::W1[0][0], seed::printed::W1[0][1]),
        format!("{} {}", num(w1[[0, 0]]), num(w1[[0, 1]]))
    );
    println!();
    println!("Why they differ: the seed's listing has two flaws.");
    println!("  1. No biases. The text says backpropagation adjusts weights and biases, but the");
    println!("     listing's network has weights only (z = W a). bprop's layers have a bias b");
    println!("     (z = W a + b) unless, as in this demo, it is switched off to match the seed.");
    println!("  2. A broadcasting bug in the w0 update. `l1_error = l2_delta * w1` is a 1x2 row and");
    println!("     `nonlin(l1, deriv=True)` a 2x1 column, so numpy broadcasts their product to a 2x2");
    println!("     matrix, and `w0 += l0.T.dot(l1_delta)` then adds one and the same row to both rows");
    println!("     of w0: row 1 - row 0 stays (0.3, -0.2), as in the seed's output. The");
    println!("     chain rule gives each hidden neuron its own delta, d1 = (W1^T d2) * a1 (1 - a1),");
    println!("     and the update W0 -= lr * d1 x^T, an outer product, which is what bprop computes.");
    println!(
        "  With the correct update the error falls faster: {} here against the seed's {}.",
        sci(last_error),
        sci(seed::printed::ERROR)
    );
}
