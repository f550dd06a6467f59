//! The training loop's control: validation split, metrics, early stopping with the best
//! weights restored, the target loss, and per-epoch history.

use bprop::driver::{BackendChoice, StopReason, TrainConfig, Trainer};
use bprop::gpu::AdapterRequest;
use bprop::metrics::evaluate;
use bprop::model::{Activation, Dataset, Init, Loss, Network, NetworkSpec, Optimizer};
use ndarray::{array, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn xor() -> Dataset<f64> {
    Dataset::new(
        array![[0., 0.], [0., 1.], [1., 0.], [1., 1.]],
        array![[0.], [1.], [1.], [0.]],
    )
    .unwrap()
}

#[test]
fn accuracy_counts_argmax_and_thresholded_classes() {
    let spec = NetworkSpec::new(2, Loss::HalfSse).layer(1, Activation::Sigmoid);
    let net = Network::<f64>::random(&spec, Init::Glorot, 1).unwrap();
    let m = evaluate(&net, &xor()).unwrap();
    assert_eq!(m.n, 4);
    let acc = m.accuracy.expect("0/1 targets are classes");
    assert!((0.0..=1.0).contains(&acc) && (acc * 4.0).fract() == 0.0);
    // Regression targets have no accuracy.
    let reg = Dataset::new(array![[0., 1.]], array![[0.3]]).unwrap();
    assert_eq!(evaluate(&net, &reg).unwrap().accuracy, None);
}

#[test]
fn split_is_seeded_disjoint_and_complete() {
    let x = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
    let data = Dataset::new(x.clone(), x).unwrap();
    let (train, val) = data.split(0.3, 9).unwrap();
    assert_eq!((train.len(), val.len()), (7, 3));
    let mut all: Vec<f64> = train.inputs().iter().chain(val.inputs().iter()).copied().collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(all, (0..10).map(f64::from).collect::<Vec<_>>());
    assert_eq!(data.split(0.3, 9).unwrap(), (train, val));
    for bad in [0.0, 1.0, -0.5, 0.95] {
        let err = data.split(bad, 1).unwrap_err();
        assert!(err.to_string().contains("validation"), "{err}");
    }
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    // A wide network on 12 noisy samples overfits; the validation loss turns up.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_simple_fn((40, 3), || rng.random_range(-1.0..1.0));
    let y = Array2::from_shape_fn((40, 1), |(i, _)| x[[i, 0]] * 0.5 + rng.random_range(-0.5..0.5));
    let (train, val) = Dataset::new(x, y).unwrap().split(0.7, 1).unwrap();
    let spec = NetworkSpec::new(3, Loss::Mse)
        .layer(64, Activation::Tanh)
        .layer(1, Activation::Identity);
    let net = Network::random(&spec, Init::Auto, 4).unwrap();
    let mut trainer = Trainer::new(BackendChoice::Cpu, &AdapterRequest::default(), net, train).unwrap();
    let cfg = TrainConfig {
        patience: Some(5),
        epochs: 2000,
        ..TrainConfig::default()
    }
    .with_optimizer(Optimizer::ADAM)
    .with_learning_rate(0.02)
    .with_batch_size(4)
    .with_shuffle(2);
    let mut seen = 0;
    let report = trainer.train_observed(&cfg, Some(&val), &mut |_| seen += 1).unwrap();
    assert_eq!(seen, report.history.len());
    let StopReason::EarlyStopping { best_epoch } = report.stopped else {
        panic!(
            "expected early stopping, got {:?} after {} epochs",
            report.stopped,
            report.history.len()
        )
    };
    assert_eq!(report.history.len(), best_epoch + 5);
    let best = report.history[best_epoch - 1].validation.unwrap().loss;
    assert!(report.history.iter().all(|r| r.validation.unwrap().loss >= best));
    let now = evaluate(trainer.network(), &val).unwrap().loss;
    assert_eq!(now, best, "the best epoch's weights are restored");
}

#[test]
fn a_run_with_validation_keeps_its_best_epoch_unless_told_otherwise() {
    // The overfitting set of the early-stopping test, without patience: every epoch runs.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_simple_fn((40, 3), || rng.random_range(-1.0..1.0));
    let y = Array2::from_shape_fn((40, 1), |(i, _)| x[[i, 0]] * 0.5 + rng.random_range(-0.5..0.5));
    let (train, val) = Dataset::new(x, y).unwrap().split(0.7, 1).unwrap();
    let spec = NetworkSpec::new(3, Loss::Mse)
        .layer(64, Activation::Tanh)
        .layer(1, Activation::Identity);
    let net = Network::random(&spec, Init::Auto, 4).unwrap();
    let cfg = TrainConfig {
        epochs: 150,
        ..TrainConfig::default()
    }
    .with_optimizer(Optimizer::ADAM)
    .with_learning_rate(0.02)
    .with_batch_size(4)
    .with_shuffle(2);
    assert!(cfg.restore_best, "the default");
    let run = |cfg: &TrainConfig| {
        let mut trainer = Trainer::new(
            BackendChoice::Cpu,
            &AdapterRequest::default(),
            net.clone(),
            train.clone(),
        )
        .unwrap();
        let report = trainer.train_observed(cfg, Some(&val), &mut |_| {}).unwrap();
        let now = evaluate(trainer.network(), &val).unwrap().loss;
        (report, now)
    };
    let (report, now) = run(&cfg);
    assert_eq!((report.stopped, report.history.len()), (StopReason::Epochs, 150));
    let losses: Vec<f64> = report.history.iter().map(|r| r.validation.unwrap().loss).collect();
    let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let best_epoch = losses.iter().position(|&l| l == best).unwrap() + 1;
    assert!(best_epoch < 150, "the set overfits: best epoch {best_epoch}");
    assert_eq!(report.kept_epoch, Some(best_epoch));
    assert_eq!(now, best, "the best epoch's weights are kept");
    // restore_best: false keeps the last epoch's.
    let (report, now) = run(&TrainConfig {
        restore_best: false,
        ..cfg.clone()
    });
    assert_eq!(report.kept_epoch, None);
    assert_eq!(now, losses[149]);
    assert!(now > best);
}

#[test]
fn target_loss_stops_training() {
    let spec = NetworkSpec::new(2, Loss::BinaryCrossEntropy)
        .layer(4, Activation::Tanh)
        .layer(1, Activation::Sigmoid);
    let net = Network::<f64>::random(&spec, Init::Auto, 42).unwrap();
    let mut trainer = Trainer::new(BackendChoice::Cpu, &AdapterRequest::default(), net, xor()).unwrap();
    let cfg = TrainConfig {
        target_loss: Some(0.05),
        epochs: 100_000,
        ..TrainConfig::default()
    }
    .with_learning_rate(0.5)
    .with_shuffle(1);
    let report = trainer.train(&cfg).unwrap();
    assert_eq!(report.stopped, StopReason::TargetLoss);
    assert!(*report.epoch_losses().last().unwrap() <= 0.05);
    assert!(report.history.len() < 100_000);
    assert_eq!(report.history.last().unwrap().steps, report.history.len() * 4);
    assert_eq!(evaluate(trainer.network(), &xor()).unwrap().accuracy, Some(1.0));
}

#[test]
fn stopping_rules_are_validated() {
    let net = Network::<f64>::random(
        &NetworkSpec::new(2, Loss::Mse).layer(1, Activation::Identity),
        Init::Auto,
        1,
    )
    .unwrap();
    let mut trainer = Trainer::new(BackendChoice::Cpu, &AdapterRequest::default(), net, xor()).unwrap();
    let err = trainer
        .train(&TrainConfig {
            patience: Some(3),
            ..TrainConfig::default()
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("patience") && err.to_string().contains("validation"),
        "{err}"
    );
    assert!(err.to_string().contains("`patience` = 3"), "the value as text: {err}");
    let err = trainer
        .train(&TrainConfig {
            patience: Some(0),
            ..TrainConfig::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("patience"), "{err}");
    let cfg = TrainConfig::default()
        .with_optimizer(Optimizer::IRPROP)
        .with_batch_size(2);
    let err = trainer.train(&cfg).unwrap_err();
    assert!(err.to_string().contains("full-batch"), "{err}");
}

#[test]
fn uniform_init_draws_weights_and_biases_in_its_range() {
    let spec = NetworkSpec::new(8, Loss::Mse)
        .layer(40, Activation::Sigmoid)
        .layer(2, Activation::Sigmoid);
    let net = Network::<f64>::random(&spec, Init::Uniform { range: 0.1 }, 3).unwrap();
    for layer in net.layers() {
        let bias = layer.bias.as_ref().expect("the spec's layers have biases");
        let all: Vec<f64> = layer.weights.iter().chain(bias.iter()).copied().collect();
        assert!(all.iter().all(|v| v.abs() < 0.1), "inside U(−0.1, 0.1)");
        // Not a constant: the draws spread over most of the range, biases included.
        assert!(bias.iter().any(|&b| b != 0.0));
        let (lo, hi) = all
            .iter()
            .fold((1.0f64, -1.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(lo < -0.05 && hi > 0.05, "spread {lo}..{hi}");
    }
    // The same seed, the same bits; another seed, other weights.
    assert_eq!(net, Network::random(&spec, Init::Uniform { range: 0.1 }, 3).unwrap());
    assert_ne!(net, Network::random(&spec, Init::Uniform { range: 0.1 }, 4).unwrap());
    for bad in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let err = Network::<f64>::random(&spec, Init::Uniform { range: bad }, 3).unwrap_err();
        assert!(err.to_string().contains("range"), "{err}");
    }
}
