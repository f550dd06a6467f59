//! FANN's network files (`.net`, `FANN_FLO_2.1`): export a bprop model for the FANN
//! library (`fann_create_from_file`) and import a network FANN saved (`fann_save`).
//!
//! # What maps to what
//!
//! FANN computes each neuron as f(s · Σ w x) with a per-neuron **steepness** s, and its
//! sigmoids are written with a factor 2: FANN_SIGMOID is 1 / (1 + e^{−2 s z}) and
//! FANN_SIGMOID_SYMMETRIC is tanh(s z). Every layer but the output ends with a **bias
//! neuron** whose value is 1; the weight from it is the neuron's bias.
//!
//! | bprop | FANN (code, steepness) on export | read back on import |
//! |---|---|---|
//! | `identity` | FANN_LINEAR (0), s = 1 | FANN_LINEAR, any s: weights × s |
//! | `sigmoid` | FANN_SIGMOID (3), s = 0.5 | FANN_SIGMOID (and _STEPWISE, 4), any s: weights × 2s |
//! | `tanh` | FANN_SIGMOID_SYMMETRIC (5), s = 1 | FANN_SIGMOID_SYMMETRIC (and _STEPWISE, 6), any s: weights × s |
//! | `relu` | FANN_LINEAR_PIECE_RECT (17), s = 1 | the same, any s > 0: weights × s |
//! | `leaky_relu:0.01` | FANN_LINEAR_PIECE_RECT_LEAKY (18), s = 1 | the same, any s > 0: weights × s |
//! | `softmax`, `leaky_relu` with another slope | refused (FANN has no such function) | — |
//!
//! On import the steepness is folded into each neuron's weights and bias (exact up to one
//! rounding), the stepwise sigmoids are read as the exact ones they approximate, and the
//! other FANN functions (threshold, Gaussian, Elliot, bounded linear pieces, sine, cosine)
//! are refused, naming the function. All neurons of a layer must use one function (their
//! steepnesses may differ). Only fully connected layered networks are read
//! (`network_type=0`, every neuron connected to the whole previous layer and its bias);
//! shortcut and sparse networks are refused. FANN stores its training error function,
//! not a loss: `train_error_function=1` (FANN_ERRORFUNC_TANH, FANN's default) imports as
//! the loss `tanh_error` (whose gradient is that training error), `0` (FANN_ERRORFUNC_LINEAR)
//! as `mse`, and export writes 1 for `tanh_error` and 0 for any other loss. Imported models
//! hold no training settings, so `bprop train --resume` cannot use them, but eval,
//! predict, info and explain can.
//!
//! **Caveats of FANN itself.** FANN clamps the weighted sum s · Σ w x to ±150 / s before
//! the activation, so a linear output saturates at ±150 in FANN where bprop's does not.
//! Input scaling is exported as FANN's scaling parameters (`scale_included=1`, with
//! mean = offset, deviation = scale, new_min = −1, factor = 1, which makes FANN's
//! ((x − mean) / deviation + 1) · factor + new_min equal bprop's (x − offset) / scale),
//! but FANN applies it only when the program calls `fann_scale_input`; FANN's input scaling is
//! read back into bprop's form on import (output scaling must be the identity, since
//! bprop does not scale outputs). For ONNX, see [`crate::io::onnx`].

use crate::error::{BpropError, Result};
use crate::io::{ModelFile, ModelMeta};
use crate::model::{Activation, Layer, Loss, Network, Real};
use ndarray::{Array1, Array2};
use std::fmt::Write;
use std::path::Path;

/// The version line FANN's float and double builds write.
pub const FANN_VERSION: &str = "FANN_FLO_2.1";

/// FANN's activation codes (`enum fann_activationfunc_enum`), by name, for messages.
const FANN_NAMES: [&str; 19] = [
    "FANN_LINEAR",
    "FANN_THRESHOLD",
    "FANN_THRESHOLD_SYMMETRIC",
    "FANN_SIGMOID",
    "FANN_SIGMOID_STEPWISE",
    "FANN_SIGMOID_SYMMETRIC",
    "FANN_SIGMOID_SYMMETRIC_STEPWISE",
    "FANN_GAUSSIAN",
    "FANN_GAUSSIAN_SYMMETRIC",
    "FANN_ELLIOT",
    "FANN_ELLIOT_SYMMETRIC",
    "FANN_LINEAR_PIECE",
    "FANN_LINEAR_PIECE_SYMMETRIC",
    "FANN_SIN_SYMMETRIC",
    "FANN_COS_SYMMETRIC",
    "FANN_SIN",
    "FANN_COS",
    "FANN_LINEAR_PIECE_RECT",
    "FANN_LINEAR_PIECE_RECT_LEAKY",
];

fn fann_name(code: u32) -> String {
    FANN_NAMES
        .get(code as usize)
        .map_or_else(|| format!("activation code {code}"), |s| s.to_string())
}

/// FANN's code and steepness for a bprop activation.
fn to_fann(act: Activation, layer: usize) -> Result<(u32, f64)> {
    Ok(match act {
        Activation::Identity => (0, 1.0),
        Activation::Sigmoid => (3, 0.5),
        Activation::Tanh => (5, 1.0),
        Activation::Relu => (17, 1.0),
        Activation::LeakyRelu { slope: 0.01 } => (18, 1.0),
        other => {
            return Err(BpropError::InvalidArgument {
                name: "model",
                value: format!("layer {} activation {other}", layer + 1),
                why: "FANN has no such function (it has identity, sigmoid, tanh, relu and leaky_relu:0.01); \
                      softmax outputs cannot be exported"
                    .into(),
            })
        }
    })
}

/// The text of a FANN `.net` file for `model` (module doc).
///
/// # Errors
/// [`BpropError::InvalidArgument`] for an activation FANN lacks, or a model whose inputs
/// go through a fitted preprocessing stage (text columns, filled missing values), which
/// FANN cannot express.
pub fn to_fann_net<T: Real>(model: &ModelFile<T>) -> Result<String> {
    if let Some(p) = model
        .meta
        .schema
        .as_ref()
        .and_then(|s| s.preprocess.as_ref())
        .filter(|p| p.fits())
    {
        return Err(BpropError::InvalidArgument {
            name: "model",
            value: format!("{} input columns, {} network inputs", p.columns.len(), p.width()),
            why: "encodes text columns or fills missing values before the network, which a FANN .net file \
                  cannot hold; export it as ONNX (bprop export MODEL -o model.onnx), whose graph does"
                .into(),
        });
    }
    let net = &model.network;
    let codes: Vec<(u32, f64)> = net
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| to_fann(layer.activation, l))
        .collect::<Result<_>>()?;
    let sizes = net.sizes();
    let mut s = String::new();
    let _ = writeln!(s, "{FANN_VERSION}");
    let _ = writeln!(s, "num_layers={}", sizes.len());
    // FANN's defaults for the training parameters it stores (bprop's are in its own files),
    // in the order FANN reads them, and the training error function the loss stands for.
    for line in [
        "learning_rate=0.700000",
        "connection_rate=1.000000",
        "network_type=0",
        "learning_momentum=0.000000",
        "training_algorithm=2",
    ] {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "train_error_function={}", u32::from(net.loss() == Loss::TanhError));
    for line in [
        "train_stop_function=0",
        "cascade_output_change_fraction=0.010000",
        "quickprop_decay=-0.000100",
        "quickprop_mu=1.750000",
        "rprop_increase_factor=1.200000",
        "rprop_decrease_factor=0.500000",
        "rprop_delta_min=0.000000",
        "rprop_delta_max=50.000000",
        "rprop_delta_zero=0.100000",
        "cascade_output_stagnation_epochs=12",
        "cascade_candidate_change_fraction=0.010000",
        "cascade_candidate_stagnation_epochs=12",
        "cascade_max_out_epochs=150",
        "cascade_min_out_epochs=50",
        "cascade_max_cand_epochs=150",
        "cascade_min_cand_epochs=50",
        "cascade_num_candidate_groups=2",
        "bit_fail_limit=3.49999994039535522461e-01",
        "cascade_candidate_limit=1.00000000000000000000e+03",
        "cascade_weight_multiplier=4.00000005960464477539e-01",
        "cascade_activation_functions_count=10",
        "cascade_activation_functions=3 5 7 8 10 11 14 15 16 17 ",
        "cascade_activation_steepnesses_count=4",
        "cascade_activation_steepnesses=2.50000000000000000000e-01 5.00000000000000000000e-01 \
         7.50000000000000000000e-01 1.00000000000000000000e+00 ",
    ] {
        let _ = writeln!(s, "{line}");
    }
    // Every layer has a bias neuron in FANN's count, the output layer's unused.
    s += "layer_sizes=";
    for n in &sizes {
        let _ = write!(s, "{} ", n + 1);
    }
    s += "\n";
    match &model.scaling {
        None => s += "scale_included=0\n",
        Some(sc) => {
            s += "scale_included=1\n";
            let row = |s: &mut String, key: &str, vals: &mut dyn Iterator<Item = f64>| {
                let _ = write!(s, "{key}=");
                for v in vals {
                    let _ = write!(s, "{v:e} ");
                }
                s.push('\n');
            };
            let o = net.outputs();
            row(&mut s, "scale_mean_in", &mut sc.offset.iter().copied());
            row(&mut s, "scale_deviation_in", &mut sc.scale.iter().copied());
            row(&mut s, "scale_new_min_in", &mut std::iter::repeat_n(-1.0, sc.width()));
            row(&mut s, "scale_factor_in", &mut std::iter::repeat_n(1.0, sc.width()));
            row(&mut s, "scale_mean_out", &mut std::iter::repeat_n(0.0, o));
            row(&mut s, "scale_deviation_out", &mut std::iter::repeat_n(1.0, o));
            row(&mut s, "scale_new_min_out", &mut std::iter::repeat_n(-1.0, o));
            row(&mut s, "scale_factor_out", &mut std::iter::repeat_n(1.0, o));
        }
    }
    s += "neurons (num_inputs, activation_function, activation_steepness)=";
    for _ in 0..=sizes[0] {
        s += "(0, 0, 0.00000000000000000000e+00) ";
    }
    for (l, layer) in net.layers().iter().enumerate() {
        let (code, steep) = codes[l];
        for _ in 0..layer.fan_out() {
            let _ = write!(s, "({}, {code}, {steep:e}) ", layer.fan_in() + 1);
        }
        let _ = write!(s, "(0, {code}, {steep:e}) ");
    }
    s += "\nconnections (connected_to_neuron, weight)=";
    // Neuron indices are global, counting every layer's bias neuron.
    let mut first = 0usize;
    for layer in net.layers() {
        let fan_in = layer.fan_in();
        for i in 0..layer.fan_out() {
            for j in 0..fan_in {
                let _ = write!(s, "({}, {:e}) ", first + j, layer.weights[(i, j)].f64());
            }
            let b = layer.bias.as_ref().map_or(0.0, |b| b[i].f64());
            let _ = write!(s, "({}, {b:e}) ", first + fan_in);
        }
        first += fan_in + 1;
    }
    s += "\n";
    Ok(s)
}

fn bad(name: &str, why: impl Into<String>) -> BpropError {
    BpropError::ModelFile {
        path: name.into(),
        why: why.into(),
    }
}

/// The `(a, b, ...)` groups of a line's value.
fn tuples<'a>(value: &'a str, name: &str, what: &str) -> Result<Vec<Vec<&'a str>>> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let open = rest.strip_prefix('(').ok_or_else(|| {
            bad(
                name,
                format!("{what}: expected `(`, found {:?}", crate::data::preview_text(rest, 20)),
            )
        })?;
        let close = open
            .find(')')
            .ok_or_else(|| bad(name, format!("{what}: a `(` without `)`")))?;
        out.push(open[..close].split(',').map(str::trim).collect());
        rest = open[close + 1..].trim_start();
    }
    Ok(out)
}

/// bprop's scaling from FANN's: ((x − mean) / dev + 1) · factor + new_min
/// = (x − offset) / scale with scale = dev / factor, offset = mean − (factor + new_min) · scale.
/// FANN's output scaling must be the identity (bprop does not scale outputs).
fn import_scaling<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<crate::data::Scaling> {
    let row = |key: &str, n: usize| -> Result<Vec<f64>> {
        let v: Vec<f64> = get(key)
            .ok_or_else(|| bad(name, format!("scale_included=1 but no `{key}=` line")))?
            .split_whitespace()
            .map(|t| t.parse::<f64>().ok().filter(|x| x.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(name, format!("`{key}` holds something that is not a finite number")))?;
        if v.len() != n {
            return Err(bad(name, format!("`{key}` has {} values, expected {n}", v.len())));
        }
        Ok(v)
    };
    let (mean, dev, new_min, factor) = (
        row("scale_mean_in", inputs)?,
        row("scale_deviation_in", inputs)?,
        row("scale_new_min_in", inputs)?,
        row("scale_factor_in", inputs)?,
    );
    let identity_out = row("scale_mean_out", outputs)?.iter().all(|&v| v == 0.0)
        && row("scale_deviation_out", outputs)?.iter().all(|&v| v == 1.0)
        && row("scale_new_min_out", outputs)?.iter().all(|&v| v == -1.0)
        && row("scale_factor_out", outputs)?.iter().all(|&v| v == 1.0);
    if !identity_out {
        return Err(bad(
            name,
            "the file scales the outputs, which bprop does not do; clear the output scaling and save again",
        ));
    }
    let mut offset = Vec::with_capacity(inputs);
    let mut scale = Vec::with_capacity(inputs);
    for j in 0..inputs {
        if factor[j] == 0.0 || dev[j] == 0.0 {
            return Err(bad(name, format!("input {j}: a scale factor or deviation of 0")));
        }
        let sc = dev[j] / factor[j];
        scale.push(sc);
        offset.push(mean[j] - (factor[j] + new_min[j]) * sc);
    }
    let s = crate::data::Scaling {
        kind: crate::data::ScaleKind::Standardize,
        offset,
        scale,
    };
    s.validate().map_err(|e| bad(name, e.to_string()))?;
    Ok(s)
}

/// Reads a FANN `.net` file into a model (f64, loss `tanh_error` or `mse`; module doc).
///
/// # Errors
/// [`BpropError::Io`]; [`BpropError::ModelFile`] for anything bprop cannot represent or a
/// malformed file.
pub fn read_fann_net(path: impl AsRef<Path>) -> Result<ModelFile<f64>> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = crate::data::read_regular(path, crate::data::input_limits(None)?.0)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        bad(
            &name,
            format!(
                "not a FANN network file: not UTF-8 text (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    parse_fann_net(&text, &name)
}

/// Parses the text of a FANN `.net` file; `name` stands for the file in messages.
///
/// # Errors
/// As [`read_fann_net`].
pub fn parse_fann_net(text: &str, name: &str) -> Result<ModelFile<f64>> {
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().trim();
    match version {
        "FANN_FLO_2.1" | "FANN_FLO_2.0" => {}
        v if v.starts_with("FANN_FIX") => {
            return Err(bad(
                name,
                format!("{v} is FANN's fixed-point format; save the network with fann_save"),
            ))
        }
        v => {
            return Err(bad(
                name,
                format!("not a FANN network file: the first line is {v:?}, expected FANN_FLO_2.1"),
            ))
        }
    }
    let mut kv: Vec<(&str, &str)> = Vec::new();
    for line in lines {
        if let Some((k, v)) = line.split_once('=') {
            kv.push((k.trim(), v));
        }
    }
    let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let need = |k: &str| get(k).ok_or_else(|| bad(name, format!("no `{k}=` line")));
    let network_type: u32 = need("network_type")?
        .trim()
        .parse()
        .map_err(|_| bad(name, "bad network_type"))?;
    if network_type != 0 {
        return Err(bad(
            name,
            "a shortcut network (network_type=1); bprop reads layered networks only",
        ));
    }
    let sizes: Vec<usize> = need("layer_sizes")?
        .split_whitespace()
        .map(|v| v.parse::<usize>().ok().filter(|&n| n >= 2))
        .collect::<Option<_>>()
        .ok_or_else(|| bad(name, "layer_sizes must be integers ≥ 2 (each counts its bias neuron)"))?;
    if sizes.len() < 2 {
        return Err(bad(name, "layer_sizes needs at least an input and an output layer"));
    }
    let neurons = tuples(
        need("neurons (num_inputs, activation_function, activation_steepness)")?,
        name,
        "neurons",
    )?;
    let conns = tuples(need("connections (connected_to_neuron, weight)")?, name, "connections")?;
    // Counts from the declared sizes, checked against what the file holds before any
    // array is built from them.
    let total_neurons = sizes.iter().try_fold(0usize, |a, &n| a.checked_add(n));
    if total_neurons != Some(neurons.len()) {
        return Err(bad(
            name,
            format!(
                "layer_sizes {sizes:?} declare {total_neurons:?} neurons, the file lists {}",
                neurons.len()
            ),
        ));
    }
    let expected_conns = sizes.windows(2).try_fold(0usize, |a, w| {
        (w[1] - 1).checked_mul(w[0]).and_then(|c| a.checked_add(c))
    });
    if expected_conns != Some(conns.len()) {
        return Err(bad(
            name,
            format!(
                "a fully connected network of layer_sizes {sizes:?} has {expected_conns:?} connections, the file \
                 lists {} (sparse networks are not read)",
                conns.len()
            ),
        ));
    }
    // Input neurons and every layer's bias neuron take no inputs.
    let mut start = 0;
    for (l, &n) in sizes.iter().enumerate() {
        let free = if l == 0 {
            start..start + n
        } else {
            start + n - 1..start + n
        };
        if let Some(i) = free.clone().find(|&i| neurons[i].first() != Some(&"0")) {
            return Err(bad(
                name,
                format!("neuron {i} (an input or bias neuron) lists inputs; only layered networks are read"),
            ));
        }
        start += n;
    }
    let num = |s: &str, what: &str| -> Result<f64> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(name, format!("{what}: {s:?} is not a finite number")))
    };
    let mut layers = Vec::with_capacity(sizes.len() - 1);
    let (mut first_prev, mut neuron, mut conn) = (0usize, sizes[0], 0usize);
    for l in 1..sizes.len() {
        let (fan_in, fan_out) = (sizes[l - 1] - 1, sizes[l] - 1);
        let mut weights = Array2::<f64>::zeros((fan_out, fan_in));
        let mut bias = Array1::<f64>::zeros(fan_out);
        let mut code = None;
        for i in 0..fan_out {
            let t = &neurons[neuron + i];
            if t.len() != 3 {
                return Err(bad(
                    name,
                    format!("neuron {}: expected (num_inputs, function, steepness)", neuron + i),
                ));
            }
            let c: u32 = t[1]
                .parse()
                .map_err(|_| bad(name, format!("neuron {}: bad function", neuron + i)))?;
            let steep = num(t[2], &format!("neuron {} steepness", neuron + i))?;
            if t[0] != (fan_in + 1).to_string() {
                return Err(bad(
                    name,
                    format!("neuron {} has {} inputs, expected {}", neuron + i, t[0], fan_in + 1),
                ));
            }
            if code.is_some_and(|k| k != c) {
                return Err(bad(
                    name,
                    format!(
                        "layer {l} mixes {} and {}; bprop has one activation per layer",
                        fann_name(code.unwrap_or(0)),
                        fann_name(c)
                    ),
                ));
            }
            code = Some(c);
            // The factor folded into this neuron's weights: f(s z) = g(k z).
            let k = match c {
                0 | 5 | 6 | 17 | 18 => steep,
                3 | 4 => 2.0 * steep,
                _ => {
                    return Err(bad(
                        name,
                        format!("layer {l} uses {}, which bprop does not have", fann_name(c)),
                    ))
                }
            };
            if matches!(c, 17 | 18) && k <= 0.0 {
                return Err(bad(
                    name,
                    format!("layer {l}: steepness {steep} must be positive for a rectifier"),
                ));
            }
            for j in 0..=fan_in {
                let t = &conns[conn];
                conn += 1;
                if t.len() != 2 {
                    return Err(bad(name, format!("connection {}: expected (neuron, weight)", conn - 1)));
                }
                let from: usize = t[0]
                    .parse()
                    .map_err(|_| bad(name, format!("connection {}: bad neuron", conn - 1)))?;
                if from != first_prev + j {
                    return Err(bad(
                        name,
                        format!(
                            "connection {} comes from neuron {from}, expected {} (only fully connected layered \
                             networks are read)",
                            conn - 1,
                            first_prev + j
                        ),
                    ));
                }
                let w = k * num(t[1], &format!("connection {} weight", conn - 1))?;
                if j < fan_in {
                    weights[(i, j)] = w;
                } else {
                    bias[i] = w;
                }
            }
        }
        let activation = match code.unwrap_or(0) {
            0 => Activation::Identity,
            3 | 4 => Activation::Sigmoid,
            5 | 6 => Activation::Tanh,
            17 => Activation::Relu,
            _ => Activation::LeakyRelu { slope: 0.01 },
        };
        layers.push(Layer {
            weights,
            bias: Some(bias),
            activation,
        });
        first_prev += sizes[l - 1];
        neuron += sizes[l];
    }
    let loss = match get("train_error_function").map(str::trim) {
        Some("1") => Loss::TanhError,
        Some("0") | None => Loss::Mse,
        Some(v) => {
            return Err(bad(
                name,
                format!("train_error_function={v}: FANN knows 0 (linear) and 1 (tanh)"),
            ))
        }
    };
    let network = Network::new(layers, loss).map_err(|e| bad(name, format!("invalid network: {e}")))?;
    let scaling = if get("scale_included").map(str::trim) == Some("1") {
        Some(import_scaling(&get, name, network.inputs(), network.outputs())?)
    } else {
        None
    };
    Ok(ModelFile {
        network,
        scaling,
        optimizer: None,
        meta: ModelMeta {
            written_by: format!("bprop {} (imported from FANN {name})", env!("CARGO_PKG_VERSION")),
            ..ModelMeta::default()
        },
    })
}
