//! Accuracy runs on real data, for BENCHMARKS.md: MNIST (official 60k/10k split) and the
//! PROBEN1/DELVE problems shipped as FANN files. Not a test: it trains for minutes.
//!
//! ```text
//! cargo run --release --example accuracy -- mnist [--hidden 800[,800]] [--epochs 20] [--backend cpu|gpu|auto]
//!                                                 [--train-limit N] [--dropout P] [--batch 128]
//!                                                 [--lr 0.05] [--no-eval]
//! cargo run --release --example accuracy -- proben NAME [--backend ...] [--hidden 16,8] [--seed 1]
//!                                                 [--optimizer irprop-] [--validation 0.25] [--init uniform:0.1]
//!                                                 [--curve] ...
//! ```
//!
//! Data is read from `../shared/data` beside the repository (or `$BPROP_DATA`).

use bprop::data::{load_mnist, read_fann};
use bprop::driver::{BackendChoice, EpochRecord, TrainConfig, Trainer};
use bprop::gpu::AdapterRequest;
use bprop::metrics::{evaluate, regress};
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Schedule};
use std::path::PathBuf;
use std::time::Instant;

fn data_dir() -> PathBuf {
    std::env::var_os("BPROP_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value for {name}: {v}")))
        .unwrap_or(default)
}

fn report(rec: &EpochRecord) {
    let v = rec.validation.map_or(String::new(), |m| {
        format!(
            "  test loss {:.4}  test error {:.2}%",
            m.loss,
            100.0 * m.error_rate().unwrap_or(f64::NAN)
        )
    });
    println!(
        "epoch {:>3}  train loss {:.5}{v}  ({:.1} s)",
        rec.epoch, rec.train_loss, rec.elapsed
    );
}

fn mnist(args: &[String]) -> bprop::Result<()> {
    let dir = data_dir().join("mnist");
    let hidden: String = arg(args, "--hidden", "800".to_string());
    let epochs: usize = arg(args, "--epochs", 20);
    let limit: usize = arg(args, "--train-limit", 60_000);
    let backend: String = arg(args, "--backend", "cpu".to_string());
    let lr: f64 = arg(args, "--lr", 0.05);
    let batch: usize = arg(args, "--batch", 128);
    let decay: f64 = arg(args, "--weight-decay", 0.0);
    let p_hidden: f64 = arg(args, "--dropout", 0.0);
    let p_input: f64 = arg(args, "--input-dropout", 0.0);
    let max_norm: f64 = arg(args, "--max-norm", 0.0);
    let train = load_mnist(
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
    )?;
    let test = load_mnist(
        dir.join("t10k-images-idx3-ubyte.gz"),
        dir.join("t10k-labels-idx1-ubyte.gz"),
    )?;
    let train: Dataset<f32> = train.first(limit).to_dataset()?;
    let test: Dataset<f32> = test.to_dataset()?;
    let n_train = train.len();
    let mut spec = NetworkSpec::new(784, Loss::CrossEntropy);
    for h in hidden.split(',') {
        spec = spec.layer(h.parse().expect("hidden sizes"), Activation::Relu);
    }
    spec = spec.layer(10, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 1)?;
    let steps = epochs * (train.len() / batch);
    let hyper = Hyper {
        optimizer: Optimizer::Momentum { momentum: 0.9 },
        learning_rate: lr,
        schedule: Schedule::Cosine {
            total: steps,
            min_lr: 0.0,
        },
        weight_decay: decay,
        max_norm: (max_norm > 0.0).then_some(max_norm),
        dropout: (p_hidden > 0.0 || p_input > 0.0).then_some(Dropout {
            input: p_input,
            hidden: p_hidden,
            seed: 7,
        }),
    };
    let cfg = TrainConfig {
        hyper,
        epochs,
        batch_size: batch,
        shuffle: Some(1),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        backend.parse::<BackendChoice>()?,
        &AdapterRequest::from_env(),
        net,
        train,
    )?;
    println!(
        "MNIST {} on {} ({} train, {} test); {} epochs, batch {batch}, momentum 0.9, lr {lr} cosine, weight decay {decay}, dropout {p_input}/{p_hidden}, max-norm {max_norm}",
        spec_name(&spec),
        trainer.info(),
        n_train,
        test.len(),
        epochs
    );
    for n in trainer.notes() {
        println!("note: {n}");
    }
    let start = Instant::now();
    // --no-eval: no test-set pass after each epoch, so that epoch times are training alone
    // (for speed comparisons, e.g. benches/device.sh against benches/torch_mnist.py).
    let eval_each = !args.iter().any(|a| a == "--no-eval");
    // One chunk of steps per epoch either way (without a validation set the trainer would
    // otherwise run several epochs per chunk), so each epoch's time is its own.
    let cfg = TrainConfig {
        checkpoint_steps: n_train / batch,
        ..cfg
    };
    let mut last = 0.0;
    let mut observe = |rec: &EpochRecord| {
        report(rec);
        println!("EPOCH_S {} {:.4}", rec.epoch, rec.elapsed - last);
        last = rec.elapsed;
    };
    let r = trainer.train_observed(&cfg, eval_each.then_some(&test), &mut observe)?;
    let m = evaluate(trainer.network(), &test)?;
    println!(
        "RESULT mnist {} epochs {} test_error {:.2}% test_loss {:.4} wall {:.0} s backend {}",
        spec_name(&spec),
        r.history.len(),
        100.0 * m.error_rate().unwrap_or(f64::NAN),
        m.loss,
        start.elapsed().as_secs_f64(),
        r.backend
    );
    Ok(())
}

fn spec_name(spec: &NetworkSpec) -> String {
    std::iter::once(spec.inputs)
        .chain(spec.layers.iter().map(|l| l.units))
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

fn proben(args: &[String]) -> bprop::Result<()> {
    let name = args.get(1).expect("proben NAME").clone();
    let dir = data_dir().join("fann");
    let train: Dataset<f64> = read_fann(dir.join(format!("{name}.train")))?;
    let test: Dataset<f64> = read_fann(dir.join(format!("{name}.test")))?;
    let hidden: String = arg(args, "--hidden", "16,8".to_string());
    let epochs: usize = arg(args, "--epochs", 1000);
    let backend: String = arg(args, "--backend", "cpu".to_string());
    let opt: String = arg(args, "--optimizer", "irprop-".to_string());
    let lr: f64 = arg(args, "--lr", 0.01);
    let act: String = arg(args, "--activation", "tanh".to_string());
    let out: String = arg(args, "--output", "sigmoid".to_string());
    let loss: Loss = arg(args, "--loss", "mse".to_string()).parse()?;
    let mut spec = NetworkSpec::new(train.inputs().ncols(), loss);
    for h in hidden.split(',').filter(|h| !h.is_empty()) {
        spec = spec.layer(h.parse().expect("hidden sizes"), act.parse()?);
    }
    spec = spec.layer(train.targets().ncols(), out.parse()?);
    // --init uniform:0.1 is FANN's start, weights and biases in U(−0.1, 0.1)
    let init: Init = arg(args, "--init", "auto".to_string()).parse()?;
    let net = Network::random(&spec, init, arg(args, "--seed", 1))?;
    let optimizer: Optimizer = opt.parse()?;
    let full = matches!(optimizer, Optimizer::IRpropMinus { .. });
    // Early stopping on a split of the training set (never on the test set).
    let validation: f64 = arg(args, "--validation", 0.0);
    let patience: usize = arg(args, "--patience", 50);
    let (train, val) = if validation > 0.0 {
        let (t, v) = train.split(validation, 1)?;
        (t, Some(v))
    } else {
        (train, None)
    };
    let batch = if full { train.len() } else { arg(args, "--batch", 16) };
    let cfg = TrainConfig {
        hyper: Hyper {
            weight_decay: arg(args, "--weight-decay", 0.0),
            ..Hyper::sgd(lr).with_optimizer(optimizer)
        },
        epochs,
        batch_size: batch,
        shuffle: Some(1),
        patience: val.as_ref().map(|_| patience),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        backend.parse::<BackendChoice>()?,
        &AdapterRequest::from_env(),
        net,
        train,
    )?;
    // --curve: the test set's MSE after every epoch, printed as "CURVE epoch mse", for
    // FANN's benchmark protocol (which reports the lowest point of that curve, chosen on the
    // test set: a reference, never a result). The test set then only observes training; it
    // stops nothing and restores nothing. Training runs one epoch per call, unshuffled as
    // FANN's is, so that the MSE is measured whatever the training loss (the wall time then
    // includes a test-set pass per epoch).
    let curve = args.iter().any(|a| a == "--curve");
    if curve && (val.is_some() || !full) {
        eprintln!("--curve needs a full-batch optimizer (irprop-) and no --validation");
        std::process::exit(2);
    }
    // FANN's MSE (mean over samples and outputs of (y − ŷ)²) whatever the training loss.
    let mse = |net: &Network<f64>, d: &Dataset<f64>| -> bprop::Result<f64> {
        let out = bprop::cpu::predict(net, d.inputs().view(), 256)?;
        Ok(regress(&out, d.targets()).mse)
    };
    let start = Instant::now();
    let (epochs_run, backend) = if curve {
        let one = TrainConfig {
            epochs: 1,
            shuffle: None,
            ..cfg
        };
        for epoch in 1..=epochs {
            trainer.train(&one)?;
            println!("CURVE {epoch} {:.6}", mse(trainer.network(), &test)?);
        }
        (epochs, trainer.info().clone())
    } else {
        let r = trainer.train_observed(&cfg, val.as_ref(), &mut |_| {})?;
        (r.history.len(), r.backend)
    };
    let m = evaluate(trainer.network(), &test)?;
    // The MSE on the test set and on the validation split (of the network early stopping
    // restored: the number to choose settings by without looking at the test set).
    let val_mse = val
        .as_ref()
        .map(|v| mse(trainer.network(), v))
        .transpose()?
        .map_or("-".into(), |v| format!("{v:.5}"));
    let test_mse = mse(trainer.network(), &test)?;
    println!(
        "RESULT {name} {} {act}/{out} {} {opt} batch {batch} validation {validation} val_mse {val_mse} epochs {} test_mse {:.5} test_error {} wall {:.1} s backend {}",
        spec_name(&spec),
        spec.loss,
        epochs_run,
        test_mse,
        m.error_rate().map_or("-".into(), |e| format!("{:.2}%", 100.0 * e)),
        start.elapsed().as_secs_f64(),
        backend
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mnist") => mnist(&args),
        Some("proben") => proben(&args),
        _ => {
            eprintln!("usage: accuracy mnist [options] | accuracy proben NAME [options]");
            std::process::exit(2)
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
