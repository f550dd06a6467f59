//! FANN network files: a file written by FANN 2.2 itself (`fann_save` of a 2-3-2 network,
//! tanh hidden layer with steepness 0.7, sigmoid output) imports to a network whose outputs
//! equal the ones FANN printed (`fann_run`, doublefann); export → import gives the same
//! network back; what FANN cannot represent is refused, and malformed files are reported.

use bprop::cpu;
use bprop::data::{ScaleKind, Scaling};
use bprop::io::{parse_fann_net, to_fann_net, ModelFile};
use bprop::model::{Activation, Init, Loss, Network, NetworkSpec};
use bprop::BpropError;
use ndarray::array;

const FANN_FILE: &str = include_str!("../golden/fann_2_3_2.net");

/// Inputs and the outputs FANN 2.2's `fann_run` (doublefann) gave for them, as it printed
/// them (`%.17g`).
#[allow(clippy::excessive_precision)]
const FANN_RUNS: [[f64; 4]; 4] = [
    [0.0, 0.0, 0.46238801324841317, 0.25379293628783911],
    [1.0, -1.0, 0.36378385611249381, 0.25934936485073817],
    [0.25, 0.5, 0.51112729302296933, 0.24865138871104431],
    [-0.8, 0.3, 0.48981871484779493, 0.24961120049856031],
];

#[test]
fn a_network_saved_by_fann_gives_fann_s_outputs() {
    let m = parse_fann_net(FANN_FILE, "fann_2_3_2.net").unwrap();
    assert_eq!(m.network.sizes(), [2, 3, 2]);
    assert_eq!(m.network.layers()[0].activation, Activation::Tanh);
    assert_eq!(m.network.layers()[1].activation, Activation::Sigmoid);
    // train_error_function=1, FANN's default FANN_ERRORFUNC_TANH
    assert_eq!(m.network.loss(), Loss::TanhError);
    for run in FANN_RUNS {
        let out = cpu::predict(&m.network, array![[run[0], run[1]]].view(), 1).unwrap();
        for k in 0..2 {
            assert!((out[(0, k)] - run[2 + k]).abs() < 1e-14, "{run:?}: {out}");
        }
    }
}

fn model(act: Activation, out: Activation) -> ModelFile<f64> {
    let spec = NetworkSpec::new(3, Loss::Mse).layer(4, act).layer(2, out);
    let mut m = ModelFile::new(Network::random(&spec, Init::Auto, 5).unwrap());
    m.scaling = Some(Scaling {
        kind: ScaleKind::Standardize,
        offset: vec![1.0, -2.0, 0.5],
        scale: vec![2.0, 0.25, 3.0],
    });
    m
}

#[test]
fn export_then_import_gives_the_same_network() {
    for (act, out) in [
        (Activation::Tanh, Activation::Sigmoid),
        (Activation::Relu, Activation::Identity),
        (Activation::LeakyRelu { slope: 0.01 }, Activation::Tanh),
        (Activation::Sigmoid, Activation::Sigmoid),
    ] {
        let m = model(act, out);
        let text = to_fann_net(&m).unwrap();
        assert!(text.starts_with("FANN_FLO_2.1\nnum_layers=3\n"));
        assert!(text.contains("layer_sizes=4 5 3 \n"), "bias neurons counted");
        let back = parse_fann_net(&text, "x.net").unwrap();
        assert_eq!(back.network.loss(), Loss::Mse, "train_error_function=0");
        for (a, b) in back.network.layers().iter().zip(m.network.layers()) {
            assert_eq!(a.activation, b.activation);
            // Sigmoid's steepness 0.5 folds back as × 2 · 0.5 = 1: exact.
            assert_eq!(a.weights, b.weights, "{act} {out}");
            assert_eq!(a.bias, b.bias);
        }
        let (s, t) = (back.scaling.unwrap(), m.scaling.as_ref().unwrap());
        for j in 0..3 {
            assert!((s.offset[j] - t.offset[j]).abs() < 1e-15 && (s.scale[j] - t.scale[j]).abs() < 1e-15);
        }
    }
}

#[test]
fn the_tanh_error_is_fanns_tanh_error_function() {
    let spec = NetworkSpec::new(3, Loss::TanhError)
        .layer(4, Activation::Sigmoid)
        .layer(2, Activation::Sigmoid);
    let m = ModelFile::new(Network::<f64>::random(&spec, Init::Auto, 2).unwrap());
    let text = to_fann_net(&m).unwrap();
    assert!(
        text.contains("\ntraining_algorithm=2\ntrain_error_function=1\n"),
        "{text}"
    );
    assert_eq!(parse_fann_net(&text, "x.net").unwrap().network.loss(), Loss::TanhError);
    let other = text.replace("train_error_function=1", "train_error_function=7");
    match parse_fann_net(&other, "x.net") {
        Err(e) => assert!(e.to_string().contains("train_error_function=7"), "{e}"),
        Ok(_) => panic!("an unknown error function was read"),
    }
}

#[test]
fn what_fann_lacks_is_refused_on_export() {
    let spec = NetworkSpec::new(2, Loss::CrossEntropy)
        .layer(3, Activation::Tanh)
        .layer(2, Activation::Softmax);
    let m = ModelFile::new(Network::<f32>::random(&spec, Init::Auto, 1).unwrap());
    match to_fann_net(&m) {
        Err(BpropError::InvalidArgument { value, why, .. }) => {
            assert!(value.contains("softmax") && why.contains("FANN"), "{value} {why}")
        }
        other => panic!("{other:?}"),
    }
    let m = model(Activation::LeakyRelu { slope: 0.2 }, Activation::Identity);
    assert!(to_fann_net(&m).is_err());
}

#[track_caller]
fn refused(text: &str, part: &str) {
    match parse_fann_net(text, "bad.net") {
        Err(BpropError::ModelFile { path, why }) => {
            assert_eq!(path, "bad.net");
            assert!(why.contains(part), "{why:?} should contain {part:?}");
        }
        other => panic!("expected a ModelFile error, got {other:?}"),
    }
}

#[test]
fn malformed_or_unsupported_fann_files_are_refused() {
    refused("FANN_FIX_2.0\n", "fixed-point");
    refused("hello\n", "not a FANN network file");
    refused(&FANN_FILE.replace("network_type=0", "network_type=1"), "shortcut");
    // A Gaussian output layer.
    let gauss = FANN_FILE.replace("(4, 3, 5.", "(4, 7, 5.");
    refused(&gauss, "FANN_GAUSSIAN");
    // Mixed functions in one layer.
    let mixed = FANN_FILE.replacen("(3, 5, 6.9", "(3, 0, 6.9", 1);
    refused(&mixed, "mixes");
    // Sizes that do not match the neurons listed, absurd sizes, a dropped connection.
    refused(
        &FANN_FILE.replace("layer_sizes=3 4 3 ", "layer_sizes=3 5 3 "),
        "neurons",
    );
    refused(
        &FANN_FILE.replace("layer_sizes=3 4 3 ", "layer_sizes=3 4000000000000 3000000000000 "),
        "neurons",
    );
    let cut = FANN_FILE.replacen("(0, ", "(9, ", 1);
    assert!(parse_fann_net(&cut, "bad.net").is_err());
    let conns_at = FANN_FILE.find("connections").unwrap();
    let mut fewer = FANN_FILE.to_string();
    let last_open = fewer.rfind('(').unwrap();
    assert!(last_open > conns_at);
    fewer.truncate(last_open);
    refused(&fewer, "connections");
    refused(&FANN_FILE.replacen("e-01)", "e-01x)", 1), "not a finite number");
}
