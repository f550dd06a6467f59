//! Typed errors, never panics: every invalid input gives the right `BpropError` variant,
//! and its Display message names the argument, layer or shape involved.
//!
//! Covered: datasets with differing row counts or no samples; datasets that do not fit the
//! network (`check_fits`, through the engines, `select` and `Trainer`); NaN / infinity in
//! inputs or targets (`NonFinite` naming `inputs` / `targets` and the row and column) and in
//! weights; weights that do not chain, biases of the wrong length, empty networks; unknown
//! activation, loss and backend names; losses that do not fit the output activation; softmax
//! on a hidden layer; leaky slopes out of range; invalid `TrainConfig` values; bad sample
//! orders in `train_steps` / `trace` on both paths; architectures that differ in
//! `set_network`; GPU buffers and dispatches over the device's limits and f64 on a device
//! opened without `SHADER_F64`; and divergence under a huge learning rate, which returns
//! `Diverged` while the trainer keeps finite weights — including when the update that
//! overflows is the last of a checkpoint chunk.

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::{cross_check, select, BackendChoice, TrainConfig, Trainer};
use bprop::engine::Engine;
use bprop::gpu::{AdapterRequest, GpuEngine};
use bprop::model::{Activation, Dataset, Hyper, Init, Layer, Loss, Network, NetworkSpec, Real};
use bprop::BpropError;
use ndarray::{array, Array1, Array2};

/// Asserts that `r` is an error matching `pat` whose message contains every `parts`.
macro_rules! assert_err {
    ($r:expr, $pat:pat, [$($part:expr),* $(,)?]) => {{
        match $r {
            Err(e @ $pat) => {
                let msg = e.to_string();
                $(assert!(msg.contains($part), "message {msg:?} lacks {:?}", $part);)*
                e
            }
            Err(e) => panic!("expected {}, got {e:?}", stringify!($pat)),
            Ok(_) => panic!("expected {}, got Ok", stringify!($pat)),
        }
    }};
}

fn layer(rows: usize, cols: usize, activation: Activation) -> Layer<f64> {
    Layer {
        weights: Array2::from_elem((rows, cols), 0.1),
        bias: Some(Array1::zeros(rows)),
        activation,
    }
}

/// 2 → 3 tanh → 1 `out`, with `loss`.
fn net_with(out: Activation, loss: Loss) -> bprop::Result<Network<f64>> {
    Network::new(vec![layer(3, 2, Activation::Tanh), layer(1, 3, out)], loss)
}

fn net() -> Network<f64> {
    net_with(Activation::Sigmoid, Loss::HalfSse).unwrap()
}

fn data() -> Dataset<f64> {
    Dataset::new(
        array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
        array![[0.0], [1.0], [1.0], [0.0]],
    )
    .unwrap()
}

#[test]
fn dataset_shapes() {
    let e = assert_err!(
        Dataset::<f64>::new(Array2::zeros((3, 2)), Array2::zeros((2, 1))),
        BpropError::Shape { .. },
        ["dataset targets", "(3, 1)", "(2, 1)"]
    );
    assert!(matches!(e, BpropError::Shape { ref got, .. } if got == "(2, 1)"));
    assert_err!(
        Dataset::<f64>::new(Array2::zeros((0, 2)), Array2::zeros((0, 1))),
        BpropError::Shape { .. },
        ["dataset", "at least one sample", "(0, 2)"]
    );
    assert_err!(
        Dataset::<f32>::new(Array2::zeros((2, 0)), Array2::zeros((2, 1))),
        BpropError::Shape { .. },
        ["(2, 0)"]
    );
}

#[test]
fn dataset_that_does_not_fit_the_network() {
    let net = net();
    let wide = Dataset::new(Array2::<f64>::zeros((4, 3)), Array2::zeros((4, 1))).unwrap();
    assert_err!(
        wide.check_fits(&net),
        BpropError::Shape { .. },
        ["dataset inputs", "(4, 2)", "(4, 3)"]
    );
    let two_targets = Dataset::new(Array2::<f64>::zeros((4, 2)), Array2::zeros((4, 2))).unwrap();
    assert_err!(
        two_targets.check_fits(&net),
        BpropError::Shape { .. },
        ["dataset targets", "(4, 1)", "(4, 2)"]
    );
    // Through every way of building an engine.
    assert_err!(
        CpuEngine::new(net.clone(), wide.clone()),
        BpropError::Shape { .. },
        ["dataset inputs"]
    );
    assert_err!(
        GpuEngine::new(common::gpu(true), net.clone(), &wide),
        BpropError::Shape { .. },
        ["dataset inputs"]
    );
    for choice in [BackendChoice::Cpu, BackendChoice::Gpu, BackendChoice::Auto] {
        let req = AdapterRequest::from_env();
        assert_err!(
            select(choice, &req, &net, &wide),
            BpropError::Shape { .. },
            ["dataset inputs"]
        );
        assert_err!(
            Trainer::new(choice, &req, net.clone(), two_targets.clone()),
            BpropError::Shape { .. },
            ["dataset targets"]
        );
    }
    // Cross-entropy losses need targets in [0, 1].
    let bce = net_with(Activation::Sigmoid, Loss::BinaryCrossEntropy).unwrap();
    let out_of_range = Dataset::new(Array2::<f64>::zeros((3, 2)), array![[0.0], [1.0], [1.5]]).unwrap();
    assert_err!(
        out_of_range.check_fits(&bce),
        BpropError::InvalidArgument { name: "targets", .. },
        ["targets", "1.5", "row 2, column 0", "bce"]
    );
    assert!(out_of_range.check_fits(&net).is_ok(), "sse takes any finite target");
}

#[test]
fn non_finite_inputs_and_targets() {
    let x = array![[0.0, 1.0], [f64::NAN, 0.0], [1.0, 1.0]];
    let y = array![[0.0], [1.0], [1.0]];
    let e = assert_err!(
        Dataset::new(x, y.clone()),
        BpropError::NonFinite { .. },
        ["inputs", "row 1, column 0", "NaN"]
    );
    assert!(matches!(e, BpropError::NonFinite { ref what, .. } if what == "inputs"));
    let x = array![[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    let e = assert_err!(
        Dataset::new(x.clone(), array![[0.0], [1.0], [f64::INFINITY]]),
        BpropError::NonFinite { .. },
        ["targets", "row 2, column 0", "inf"]
    );
    assert!(matches!(e, BpropError::NonFinite { ref what, .. } if what == "targets"));
    let x32 = array![[0.0f32, 1.0], [1.0, f32::NEG_INFINITY]];
    assert_err!(
        Dataset::new(x32, array![[0.0f32], [1.0]]),
        BpropError::NonFinite { .. },
        ["inputs", "row 1, column 1", "-inf"]
    );
    // Parameters too.
    let mut bad = layer(3, 2, Activation::Tanh);
    bad.weights[[2, 1]] = f64::NAN;
    assert_err!(
        Network::new(vec![bad, layer(1, 3, Activation::Sigmoid)], Loss::HalfSse),
        BpropError::NonFinite { .. },
        ["layer 0 weights", "row 2, column 1"]
    );
    let mut bad = layer(1, 3, Activation::Sigmoid);
    bad.bias = Some(array![f64::INFINITY]);
    assert_err!(
        Network::new(vec![layer(3, 2, Activation::Tanh), bad], Loss::HalfSse),
        BpropError::NonFinite { .. },
        ["layer 1 bias"]
    );
}

#[test]
fn weights_that_do_not_chain() {
    assert_err!(
        Network::new(
            vec![layer(3, 2, Activation::Tanh), layer(1, 4, Activation::Sigmoid)],
            Loss::HalfSse
        ),
        BpropError::InvalidNetwork(_),
        ["layer 1", "(1, 4)", "4 inputs", "layer 0 has 3 neurons"]
    );
    let mut short_bias = layer(3, 2, Activation::Tanh);
    short_bias.bias = Some(Array1::zeros(2));
    assert_err!(
        Network::new(vec![short_bias, layer(1, 3, Activation::Sigmoid)], Loss::HalfSse),
        BpropError::Shape { .. },
        ["layer 0 bias", "(3,)", "(2,)"]
    );
    assert_err!(
        Network::<f64>::new(vec![], Loss::HalfSse),
        BpropError::InvalidNetwork(_),
        ["at least one layer"]
    );
    assert_err!(
        Network::new(vec![layer(0, 2, Activation::Tanh)], Loss::HalfSse),
        BpropError::InvalidNetwork(_),
        ["layer 0", "(0, 2)"]
    );
    let zero_inputs = NetworkSpec::new(0, Loss::HalfSse).layer(1, Activation::Sigmoid);
    assert_err!(
        Network::<f64>::random(&zero_inputs, Init::Auto, 1),
        BpropError::InvalidNetwork(_),
        ["input"]
    );
    let zero_units = NetworkSpec::new(2, Loss::HalfSse)
        .layer(0, Activation::Tanh)
        .layer(1, Activation::Sigmoid);
    assert_err!(
        Network::<f64>::random(&zero_units, Init::Auto, 1),
        BpropError::InvalidNetwork(_),
        ["layer 0", "0 units"]
    );
}

#[test]
fn unknown_names() {
    let e = assert_err!(
        "sigmoidd".parse::<Activation>(),
        BpropError::UnknownName { kind: "activation", .. },
        ["activation", "`sigmoidd`", "sigmoid", "leaky_relu"]
    );
    assert!(matches!(e, BpropError::UnknownName { ref name, .. } if name == "sigmoidd"));
    assert_err!(
        "leaky_relu:abc".parse::<Activation>(),
        BpropError::UnknownName { kind: "activation", .. },
        ["leaky_relu:abc"]
    );
    assert_err!(
        "msee".parse::<Loss>(),
        BpropError::UnknownName { kind: "loss", .. },
        ["loss", "`msee`", "cross_entropy"]
    );
    assert_err!(
        "tpu".parse::<BackendChoice>(),
        BpropError::UnknownName { kind: "backend", .. },
        ["backend", "`tpu`", "auto, gpu, cpu"]
    );
    // The accepted spellings parse.
    assert_eq!(
        "Leaky_ReLU:0.2".parse::<Activation>().unwrap(),
        Activation::LeakyRelu { slope: 0.2 }
    );
    assert_eq!("ce".parse::<Loss>().unwrap(), Loss::CrossEntropy);
}

#[test]
fn loss_that_does_not_fit_the_output_activation() {
    let cases = [
        (Activation::Sigmoid, Loss::CrossEntropy, "cross_entropy", "sigmoid"),
        (Activation::Softmax, Loss::Mse, "mse", "softmax"),
        (Activation::Softmax, Loss::HalfSse, "sse", "softmax"),
        (Activation::Tanh, Loss::BinaryCrossEntropy, "bce", "tanh"),
        (Activation::Softmax, Loss::BinaryCrossEntropy, "bce", "softmax"),
    ];
    for (act, loss, loss_name, act_name) in cases {
        let e = assert_err!(
            net_with(act, loss),
            BpropError::LossActivation { .. },
            [loss_name, act_name]
        );
        assert!(
            matches!(&e, BpropError::LossActivation { loss, activation, .. } if loss == loss_name && activation == act_name),
            "{e:?}"
        );
        let spec = NetworkSpec::new(2, loss).layer(3, Activation::Tanh).layer(2, act);
        assert_err!(
            Network::<f32>::random(&spec, Init::Auto, 1),
            BpropError::LossActivation { .. },
            [loss_name, act_name]
        );
    }
}

#[test]
fn softmax_on_a_hidden_layer() {
    assert_err!(
        Network::new(
            vec![layer(3, 2, Activation::Softmax), layer(1, 3, Activation::Sigmoid)],
            Loss::HalfSse
        ),
        BpropError::InvalidNetwork(_),
        ["softmax", "output layer", "layer 0"]
    );
}

#[test]
fn leaky_slope_out_of_range() {
    for text in ["leaky_relu:1.5", "leaky_relu:-0.1", "leaky_relu:1", "leaky_relu:inf"] {
        assert_err!(
            text.parse::<Activation>(),
            BpropError::InvalidArgument {
                name: "leaky_relu slope",
                ..
            },
            ["leaky_relu slope", "[0, 1)"]
        );
    }
    for slope in [-0.1, 1.0, f64::NAN] {
        let hidden = layer(3, 2, Activation::LeakyRelu { slope });
        assert_err!(
            Network::new(vec![hidden, layer(1, 3, Activation::Sigmoid)], Loss::HalfSse),
            BpropError::InvalidArgument {
                name: "leaky_relu slope",
                ..
            },
            ["leaky_relu slope"]
        );
    }
    assert!("leaky_relu:0".parse::<Activation>().is_ok());
}

#[test]
fn invalid_train_config() {
    let ok = TrainConfig::default().with_batch_size(4);
    assert!(ok.validate(4).is_ok());
    let cases = [
        (ok.clone().with_learning_rate(0.0), "learning_rate", "0"),
        (ok.clone().with_learning_rate(-0.5), "learning_rate", "-0.5"),
        (ok.clone().with_learning_rate(f64::NAN), "learning_rate", "NaN"),
        (ok.clone().with_learning_rate(f64::INFINITY), "learning_rate", "inf"),
        (ok.clone().with_epochs(0), "epochs", "0"),
        (ok.clone().with_batch_size(0), "batch_size", "0"),
        (ok.clone().with_batch_size(5), "batch_size", "4 samples"),
        (
            TrainConfig {
                checkpoint_steps: 0,
                ..ok.clone()
            },
            "checkpoint_steps",
            "0",
        ),
    ];
    for (cfg, name, part) in cases {
        let e = assert_err!(cfg.validate(4), BpropError::InvalidArgument { .. }, [name, part]);
        assert!(matches!(e, BpropError::InvalidArgument { name: n, .. } if n == name));
        // Trainer::train checks before it trains.
        let mut trainer = Trainer::new(BackendChoice::Cpu, &AdapterRequest::default(), net(), data()).unwrap();
        assert_err!(trainer.train(&cfg), BpropError::InvalidArgument { .. }, [name]);
        assert_eq!(trainer.network(), &net());
    }
}

/// Bad orders on one engine: nothing is trained, the parameters are unchanged.
fn bad_orders<E: Engine<T> + ?Sized, T: Real>(engine: &mut E) {
    let before = engine.network().unwrap();
    let lr = T::of(0.1);
    assert_err!(
        engine.train_steps(&[0, 1, 4, 2], 1, lr),
        BpropError::InvalidArgument { name: "order", .. },
        ["order", "= 4", "out of range", "4 samples"]
    );
    assert_err!(
        engine.train_steps(&[0, 1, 2], 2, lr),
        BpropError::InvalidArgument { name: "order", .. },
        ["multiple", "2"]
    );
    assert_err!(
        engine.train_steps(&[0, 1], 0, lr),
        BpropError::InvalidArgument { name: "batch_size", .. },
        ["batch_size"]
    );
    assert_err!(
        engine.trace(&[3, 99]),
        BpropError::InvalidArgument { name: "order", .. },
        ["99", "4 samples"]
    );
    assert_eq!(engine.network().unwrap(), before);
    // And the engine still works.
    assert_eq!(engine.train_steps(&[0, 1, 2, 3], 2, lr).unwrap().len(), 2);
}

#[test]
fn out_of_range_sample_indices() {
    bad_orders(&mut CpuEngine::new(net(), data()).unwrap());
    bad_orders(&mut CpuEngine::new(net().cast::<f32>(), cast(&data())).unwrap());
    bad_orders(&mut GpuEngine::new(common::gpu(false), net().cast::<f32>(), &cast(&data())).unwrap());
    bad_orders(&mut GpuEngine::new(common::gpu(true), net(), &data()).unwrap());
}

fn cast<T: Real>(d: &Dataset<f64>) -> Dataset<T> {
    Dataset::new(d.inputs().mapv(T::of), d.targets().mapv(T::of)).unwrap()
}

#[test]
fn set_network_with_another_architecture() {
    let other = Network::new(
        vec![layer(4, 2, Activation::Tanh), layer(1, 4, Activation::Sigmoid)],
        Loss::HalfSse,
    )
    .unwrap();
    let mut cpu = CpuEngine::new(net(), data()).unwrap();
    assert_err!(
        cpu.set_network(&other),
        BpropError::Shape { .. },
        ["network architecture", "[2, 3, 1]", "[2, 4, 1]"]
    );
    let mut gpu = GpuEngine::new(common::gpu(true), net(), &data()).unwrap();
    assert_err!(
        gpu.set_network(&other),
        BpropError::Shape { .. },
        ["network architecture"]
    );
    // Same sizes, another activation: still another architecture.
    let relu = net_with(Activation::Relu, Loss::HalfSse).unwrap();
    assert_err!(
        gpu.set_network(&relu),
        BpropError::Shape { .. },
        ["network architecture"]
    );
    assert_err!(
        cross_check(&mut gpu, &mut cpu, &[0, 1], 1, &Hyper::sgd(0.1), 0),
        BpropError::InvalidArgument { name: "sync_every", .. },
        ["sync_every"]
    );
}

#[test]
fn gpu_limits() {
    let ctx = common::gpu(false);
    assert_err!(
        ctx.check_storage_size("a huge buffer", u64::MAX),
        BpropError::Gpu(_),
        [
            "a huge buffer",
            &u64::MAX.to_string(),
            "max_storage_buffer_binding_size"
        ]
    );
    assert!(ctx.check_storage_size("a small buffer", 1024).is_ok());
    // A layer with more neurons than workgroups per dimension (the gradient pass's grid).
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    let wide = Layer {
        weights: Array2::from_elem((max + 1, 1), 0.01f32),
        bias: None,
        activation: Activation::Identity,
    };
    let wide_net = Network::new(
        vec![
            wide,
            Layer {
                weights: Array2::zeros((1, max + 1)),
                bias: None,
                activation: Activation::Identity,
            },
        ],
        Loss::HalfSse,
    )
    .unwrap();
    let d = Dataset::new(array![[1.0f32]], array![[0.0f32]]).unwrap();
    assert_err!(
        GpuEngine::new(ctx.clone(), wide_net, &d),
        BpropError::Gpu(_),
        ["layer 0", &format!("{} neurons", max + 1)]
    );
    // A batch over the same limit.
    let mut gpu = GpuEngine::new(ctx.clone(), net().cast::<f32>(), &cast(&data())).unwrap();
    let order = vec![0u32; max + 1];
    assert_err!(
        gpu.train_steps(&order, max + 1, 0.1),
        BpropError::InvalidArgument { name: "batch_size", .. },
        ["batch_size", &(max + 1).to_string()]
    );
    // f64 on a device opened without SHADER_F64.
    assert_err!(GpuEngine::new(ctx, net(), &data()), BpropError::Gpu(_), ["SHADER_F64"]);
}

/// A relu/identity regression network and a learning rate large enough to overflow.
fn regression<T: Real>() -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(2, Loss::Mse)
        .layer(8, Activation::Relu)
        .layer(1, Activation::Identity);
    let net = Network::<f64>::random(&spec, Init::Auto, 3).unwrap();
    let x = array![
        [0.5, 1.0],
        [1.0, -0.5],
        [-1.0, 0.8],
        [0.3, 0.9],
        [0.9, 0.9],
        [-0.2, 0.7]
    ];
    let y = array![[1.0], [-2.0], [0.5], [3.0], [2.0], [-1.0]];
    (net.cast(), Dataset::new(x.mapv(T::of), y.mapv(T::of)).unwrap())
}

fn all_finite<T: Real>(net: &Network<T>) -> bool {
    net.layers()
        .iter()
        .all(|l| l.weights.iter().all(|w| w.is_finite()) && l.bias.iter().flatten().all(|b| b.is_finite()))
}

fn diverges<T: Real>(choice: BackendChoice) {
    let (net, data) = regression::<T>();
    let mut trainer = Trainer::new(choice, &AdapterRequest::from_env(), net.clone(), data).unwrap();
    let cfg = TrainConfig::default()
        .with_learning_rate(1e3)
        .with_epochs(100)
        .with_shuffle(1);
    let e = assert_err!(trainer.train(&cfg), BpropError::Diverged { .. }, ["diverged at step"]);
    let BpropError::Diverged { step, loss } = e else {
        unreachable!()
    };
    assert!(step > 0 && step < 600, "{choice}: diverged at step {step}");
    assert!(loss.contains("inf") || loss.contains("NaN"), "{loss}");
    // The trainer keeps the last finite weights, here the start, and so does the engine.
    assert!(all_finite(trainer.network()), "{choice}: {:?}", trainer.network());
    assert_eq!(trainer.network(), &net);
    assert_eq!(&trainer.engine_mut().network().unwrap(), trainer.network());
    // A sane learning rate trains on from there.
    trainer
        .train(&TrainConfig::default().with_learning_rate(0.01).with_epochs(2))
        .unwrap();
}

#[test]
fn divergence_on_the_cpu() {
    diverges::<f64>(BackendChoice::Cpu);
    diverges::<f32>(BackendChoice::Cpu);
}

#[test]
fn divergence_on_the_gpu() {
    let _ = common::gpu(true);
    diverges::<f32>(BackendChoice::Gpu);
    diverges::<f64>(BackendChoice::Gpu);
}

/// The update that overflows is the last step of a checkpoint chunk: its loss is finite,
/// the parameters after it are not. The trainer must not keep them as its checkpoint.
fn overflow_at_a_chunk_boundary<T: Real>(choice: BackendChoice) {
    // E = ½ (w x)², x = 1e5: ∂E/∂w = w x² = 1e10, and η = 1e300 overflows the update.
    let one = Layer {
        weights: array![[T::one()]],
        bias: None,
        activation: Activation::Identity,
    };
    let net = Network::new(vec![one], Loss::HalfSse).unwrap();
    let data = Dataset::new(array![[T::of(1e5)]], array![[T::zero()]]).unwrap();
    for epochs in [1, 3] {
        let mut trainer = Trainer::new(choice, &AdapterRequest::from_env(), net.clone(), data.clone()).unwrap();
        let cfg = TrainConfig {
            checkpoint_steps: 1,
            ..TrainConfig::default().with_learning_rate(1e300).with_epochs(epochs)
        };
        let e = assert_err!(
            trainer.train(&cfg),
            BpropError::Diverged { .. },
            ["diverged at step 0", "layer 0 weights", "not finite"]
        );
        assert!(
            matches!(e, BpropError::Diverged { step: 0, .. }),
            "{choice} {}: {e:?}",
            T::NAME
        );
        assert!(
            all_finite(trainer.network()),
            "{choice} {}: kept {:?}",
            T::NAME,
            trainer.network()
        );
        assert_eq!(trainer.network(), &net);
        assert_eq!(&trainer.engine_mut().network().unwrap(), &net);
    }
}

#[test]
fn overflowing_update_at_a_chunk_boundary() {
    overflow_at_a_chunk_boundary::<f64>(BackendChoice::Cpu);
    overflow_at_a_chunk_boundary::<f32>(BackendChoice::Cpu);
    let _ = common::gpu(true);
    overflow_at_a_chunk_boundary::<f32>(BackendChoice::Gpu);
    overflow_at_a_chunk_boundary::<f64>(BackendChoice::Gpu);
}
