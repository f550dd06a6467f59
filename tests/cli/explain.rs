//! `bprop::explain` and `bprop explain`: the seed's first iteration as golden text (numbers
//! checked by hand below), JSON numbers bit-equal to `CpuEngine::trace`, finite
//! differences within 1e-8, a self-contained well-formed HTML page with an SVG, a batch
//! of 3 showing the averaging, the refusal of networks too large to show and the
//! restrictions that lift it, the seed's faulty w0 line, the GPU engine the driver opens
//! for it, and the CLI (text, JSON, GPU column, `-o`). GPU tests fail, never skip, without
//! an adapter.
//!
//! The seed's first iteration by hand (x = (0.35, 0.9), y = 0.5, no biases, sigmoid):
//!
//! ```text
//! z_1 = (0.1·0.35 + 0.8·0.9, 0.4·0.35 + 0.6·0.9) = (0.755, 0.68)
//! a_1 = σ(z_1) = (0.680267, 0.663739)
//! z_2 = 0.3·0.680267 + 0.9·0.663739 = 0.801445,  a_2 = σ(z_2) = 0.690283
//! E = ½ (0.5 − 0.690283)² = 0.018104
//! δ_2 = (a_2 − y)·a_2 (1 − a_2) = 0.190283·0.213792 = 0.040681
//! δ_1 = (W_2ᵀ δ_2) ⊙ a_1 (1 − a_1) = (0.3·0.040681·0.217504, 0.9·0.040681·0.223190)
//!     = (0.0026545, 0.0081716)
//! W_2 ← W_2 − δ_2 a_1ᵀ = (0.3 − 0.027674, 0.9 − 0.027002) = (0.272326, 0.872998)
//! ```

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::{self, AnyGpuEngine};
use bprop::engine::{Engine, StepTrace};
use bprop::explain::{self, ExplainGpu, ExplainOptions, Explanation, Format};
use bprop::gpu::AdapterRequest;
use bprop::model::{Activation, Dataset, Layer, Loss, Network, Precision};
use bprop::{seed, BpropError};
use ndarray::{array, Array1, Array2};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/explain_seed.txt")
}

/// The golden text; `BPROP_UPDATE_GOLDEN=1` rewrites it from the current output.
fn golden(actual: &str) -> String {
    let path = golden_path();
    if std::env::var_os("BPROP_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    std::fs::read_to_string(&path).expect("tests/golden/explain_seed.txt exists")
}

fn seed_explanation() -> Explanation {
    explain::explain_seed(1, &ExplainOptions::default(), None).expect("the seed explains")
}

/// A 2-3-2 network with biases, tanh hidden layer, sigmoid output, bce; and a batch of 3.
fn biased_net() -> (Network<f64>, Dataset<f64>) {
    let net = Network::new(
        vec![
            Layer {
                weights: array![[0.1, -0.8], [0.4, 0.6], [-0.3, 0.2]],
                bias: Some(array![0.1, -0.2, 0.05]),
                activation: Activation::Tanh,
            },
            Layer {
                weights: array![[0.3, 0.9, -0.5], [-0.7, 0.2, 0.4]],
                bias: Some(array![0.05, -0.1]),
                activation: Activation::Sigmoid,
            },
        ],
        Loss::BinaryCrossEntropy,
    )
    .unwrap();
    let data = Dataset::new(
        array![[0.35, 0.9], [0.1, -0.2], [0.9, 0.4]],
        array![[0.5, 1.0], [0.1, 0.0], [0.9, 1.0]],
    )
    .unwrap();
    (net, data)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn same_bits(what: &str, json: f64, engine: f64) {
    assert_eq!(
        json.to_bits(),
        engine.to_bits(),
        "{what}: JSON {json:e} vs engine {engine:e}"
    );
}

/// Every number of step 0 of `json` that the engine computed equals `trace`'s, bit for bit.
fn check_json_against_trace(json: &Value, trace: &StepTrace<f64>, after: &Network<f64>) {
    let step = &json["steps"][0];
    same_bits("loss", num(&step["loss"]), trace.loss);
    for layer in step["layers"].as_array().unwrap() {
        let l = layer["layer"].as_u64().unwrap() as usize - 1;
        let t = &trace.layers[l];
        let neurons: Vec<usize> = layer["neurons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap() as usize)
            .collect();
        for (s, row) in layer["delta"].as_array().unwrap().iter().enumerate() {
            for (p, &i) in neurons.iter().enumerate() {
                same_bits(&format!("δ_{}[{s},{i}]", l + 1), num(&row[p]), t.delta[[s, i]]);
                same_bits(&format!("z_{}[{s},{i}]", l + 1), num(&layer["z"][s][p]), t.z[[s, i]]);
                same_bits(&format!("a_{}[{s},{i}]", l + 1), num(&layer["a"][s][p]), t.a[[s, i]]);
            }
        }
        let grads = layer["weight_gradients"].as_array().unwrap();
        assert_eq!(grads.len(), neurons.len() * t.grad_w.ncols());
        for g in grads {
            let (i, j) = (g["row"].as_u64().unwrap() as usize, g["col"].as_u64().unwrap() as usize);
            same_bits(g["name"].as_str().unwrap(), num(&g["gradient"]), t.grad_w[[i, j]]);
            same_bits("new weight", num(&g["after"]), after.layers()[l].weights[[i, j]]);
        }
        for g in layer["bias_gradients"].as_array().unwrap() {
            let i = g["row"].as_u64().unwrap() as usize;
            same_bits(
                g["name"].as_str().unwrap(),
                num(&g["gradient"]),
                t.grad_b.as_ref().unwrap()[i],
            );
            same_bits(
                "new bias",
                num(&g["after"]),
                after.layers()[l].bias.as_ref().unwrap()[i],
            );
        }
    }
}

/// The engine's own trace and one-step result for `net` on `samples`.
fn engine_step(net: &Network<f64>, data: &Dataset<f64>, samples: &[u32], lr: f64) -> (StepTrace<f64>, Network<f64>) {
    let mut cpu = CpuEngine::new(net.clone(), data.clone()).unwrap();
    let trace = cpu.trace(samples).unwrap();
    cpu.train_steps(samples, samples.len(), lr).unwrap();
    (trace, cpu.network().unwrap())
}

#[test]
fn golden_text_for_the_seeds_first_iteration() {
    let text = seed_explanation().render(Format::Text);
    let expected = golden(&text);
    assert_eq!(text, expected, "the text differs from tests/golden/explain_seed.txt");
    // The hand-computed figures of the module doc, as printed (7 significant digits).
    for needle in [
        "z_1[0] = 0.1·0.35 + 0.8·0.9 = 0.755",
        "z_1[1] = 0.4·0.35 + 0.6·0.9 = 0.68",
        "a_1[0] = 0.6802672",
        "a_1[1] = 0.6637387",
        "a_2[0] = 0.6902835",
        "E = 0.0181039",
        "= 0.04068113",
        "= 0.002654489",
        "= 0.008171645",
        "W_2[0,0] = 0.3 - 1·0.02767403 = 0.272326",
        "W_2[0,1] = 0.9 - 1·0.02700164 = 0.8729984",
        "the listing adds to both rows of w0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "line wider than 80 columns: {line:?}");
    }
}

#[test]
fn json_numbers_equal_the_engines_exactly() {
    let e = seed_explanation();
    let json: Value = serde_json::from_str(&e.render(Format::Json)).unwrap();
    let (trace, after) = engine_step(&seed::network(), &seed::dataset(), &[0], 1.0);
    check_json_against_trace(&json, &trace, &after);

    let (net, data) = biased_net();
    let e = explain::explain(&net, &data, &[0, 1, 2], 1, 0.5, &ExplainOptions::default(), None).unwrap();
    let json: Value = serde_json::from_str(&e.render(Format::Json)).unwrap();
    let (trace, after) = engine_step(&net, &data, &[0, 1, 2], 0.5);
    check_json_against_trace(&json, &trace, &after);
}

#[test]
fn finite_differences_agree_within_1e_8() {
    let e = seed_explanation();
    let step = &e.steps[0];
    assert!(step.fd_agrees);
    let params: Vec<_> = step
        .layers
        .iter()
        .flat_map(|l| l.weight_gradients.iter().chain(&l.bias_gradients))
        .collect();
    assert_eq!(params.len(), 6, "the seed has 6 weights and no biases");
    for p in params {
        assert!(
            (p.gradient - p.finite_difference).abs() <= 1e-8,
            "{}: {} vs {}",
            p.name,
            p.gradient,
            p.finite_difference
        );
        assert_eq!(p.difference, p.gradient - p.finite_difference);
        assert!(p.h >= 1e-5 && p.h <= 1e-5 * p.before.abs().max(1.0));
    }
    assert!(step.max_fd_difference <= 1e-8);

    // Biases, tanh, bce, a batch; and several steps (each checked from its own parameters).
    let (net, data) = biased_net();
    let e = explain::explain(&net, &data, &[0, 1, 2], 3, 0.5, &ExplainOptions::default(), None).unwrap();
    assert_eq!(e.steps.len(), 3);
    for step in &e.steps {
        assert!(step.fd_agrees, "step {}: {}", step.step, step.max_fd_difference);
        assert!(step.max_fd_difference <= 1e-8);
        assert!(step.loss_after < step.loss, "a small step lowers the loss");
    }
    // The next step starts from the previous step's new weights.
    let w = |s: usize| e.steps[s].layers[0].weight_gradients[0].before;
    assert_eq!(w(1), e.steps[0].layers[0].weight_gradients[0].after);
    assert_ne!(w(1), w(0));
}

/// Checks that every tag of an XML-like document is closed in order; returns the tag names.
fn balanced_tags(doc: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("every < has a >") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            assert!(tag.to_ascii_uppercase().starts_with("!DOCTYPE"), "unexpected <{tag}>");
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
        } else {
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap()
                .to_string();
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "bad tag <{tag}>"
            );
            seen.push(name.clone());
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        // Text between tags must not hold a bare < (it would have been read as a tag) or &
        // that is not an entity.
        let text_end = rest.find('<').unwrap_or(rest.len());
        for (k, _) in rest[..text_end].match_indices('&') {
            let entity = &rest[k..text_end];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "bare & in {:?}",
                &entity[..entity.len().min(20)]
            );
        }
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    seen
}

#[test]
fn html_is_self_contained_well_formed_and_draws_the_network() {
    let (net, data) = biased_net();
    for e in [
        seed_explanation(),
        explain::explain(&net, &data, &[0, 1, 2], 2, 0.5, &ExplainOptions::default(), None).unwrap(),
    ] {
        let html = e.render(Format::Html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        for banned in ["http://", "https://", "src=", "<link", "<script", "url("] {
            assert!(
                !html.contains(banned),
                "the page refers to something outside it: {banned}"
            );
        }
        let tags = balanced_tags(&html);
        for needed in [
            "html", "head", "style", "body", "svg", "circle", "line", "title", "table",
        ] {
            assert!(tags.iter().any(|t| t == needed), "no <{needed}>");
        }
        let n_weights: usize = e.network.layers.iter().map(|l| l.fan_in * l.fan_out).sum();
        assert_eq!(
            html.matches("<line ").count(),
            n_weights * e.steps.len(),
            "one line per weight per step"
        );
        let n_neurons: usize = e.network.sizes.iter().sum();
        assert_eq!(html.matches("<circle ").count(), n_neurons * e.steps.len());
        // Each connection carries its gradient in its tooltip.
        let g = &e.steps[0].layers[0].weight_gradients[0];
        assert!(
            html.contains(&format!("∂E/∂W = {}", short_num(g.gradient))),
            "gradient tooltip"
        );
    }
    // Colour by sign: the seed's weights are all positive, the biased net has negative ones.
    let html = explain::explain(&net, &data, &[0], 1, 0.5, &ExplainOptions::default(), None)
        .unwrap()
        .render(Format::Html);
    assert!(html.contains("stroke=\"#2563eb\"") && html.contains("stroke=\"#dc2626\""));
}

/// The 7-significant-digit form the renderers print.
fn short_num(x: f64) -> String {
    let e = x.abs().log10().floor() as i32;
    let d = (6 - e).max(0) as usize;
    let s = format!("{x:.d$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[test]
fn a_batch_of_three_shows_the_averaging() {
    let (net, data) = biased_net();
    let e = explain::explain(&net, &data, &[0, 1, 2], 1, 0.5, &ExplainOptions::default(), None).unwrap();
    let step = &e.steps[0];
    // The loss is the mean of the per-sample losses.
    let losses: Vec<f64> = step.output.samples.iter().map(|s| s.loss).collect();
    assert_eq!(losses.len(), 3);
    assert!((losses.iter().sum::<f64>() / 3.0 - step.loss).abs() < 1e-15);
    // Each gradient is the mean of its three per-sample terms δ_l[s,i]·a_{l−1}[s,j].
    for layer in &step.layers {
        for g in layer.weight_gradients.iter().chain(&layer.bias_gradients) {
            assert_eq!(g.per_sample.len(), 3);
            let mean = g.per_sample.iter().sum::<f64>() / 3.0;
            assert!(
                (mean - g.gradient).abs() <= 1e-15,
                "{}: {mean} vs {}",
                g.name,
                g.gradient
            );
        }
        let p = layer.neurons.iter().position(|&n| n == 0).unwrap();
        let g = &layer.weight_gradients[0];
        for s in 0..3 {
            assert_eq!(g.per_sample[s], layer.delta[s][p] * layer.inputs[s][0]);
        }
    }
    let text = e.render(Format::Text);
    for needle in [
        "The batch is 3 samples",
        "E = 1/3 (",
        "means over the batch",
        "∂E/∂W_2[i,j] = 1/3 Σ_s",
        "sample 2:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let md = e.render(Format::Markdown);
    assert!(md.contains("1/3 Σ_s") && md.contains("| parameter |") && md.contains("```text"));
}

/// An 8-8-8-1 network: 64 + 64 + 8 = 136 weights.
fn big_net() -> (Network<f64>, Dataset<f64>) {
    let layer = |out: usize, inp: usize, act| Layer {
        weights: Array2::from_shape_fn((out, inp), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 10.0 - 0.5),
        bias: Some(Array1::zeros(out)),
        activation: act,
    };
    let net = Network::new(
        vec![
            layer(8, 8, Activation::Tanh),
            layer(8, 8, Activation::Sigmoid),
            layer(1, 8, Activation::Identity),
        ],
        Loss::Mse,
    )
    .unwrap();
    let data = Dataset::new(Array2::from_shape_fn((1, 8), |(_, j)| j as f64 / 8.0), array![[0.3]]).unwrap();
    (net, data)
}

#[test]
fn a_network_too_large_to_show_is_refused_and_can_be_restricted() {
    let (net, data) = big_net();
    let err = explain::explain(&net, &data, &[0], 1, 0.1, &ExplainOptions::default(), None).unwrap_err();
    match &err {
        BpropError::InvalidArgument { name, value, why } => {
            assert_eq!(*name, "network");
            assert!(value.contains("136"), "{value}");
            assert!(
                why.contains("--layer") && why.contains("--neurons") && why.contains("64"),
                "{why}"
            );
            // The message names the CLI's flags, not Rust fields.
            assert!(
                why.contains("--max-weights") && !why.contains("ExplainOptions"),
                "{why}"
            );
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // One layer: 64 weights, exactly the limit.
    let opts = ExplainOptions {
        layer: Some(2),
        ..ExplainOptions::default()
    };
    let e = explain::explain(&net, &data, &[0], 1, 0.1, &opts, None).unwrap();
    assert_eq!(e.view.layers, vec![2]);
    assert_eq!(e.view.weights_shown, 64);
    assert_eq!(e.steps[0].layers.len(), 1);
    assert!(e.steps[0].fd_agrees);
    // Neurons 2..4 of every layer: 2·8 + 2·8 (+ none of the 1-neuron output layer).
    let opts = ExplainOptions {
        neurons: Some(2..4),
        ..ExplainOptions::default()
    };
    let e = explain::explain(&net, &data, &[0], 1, 0.1, &opts, None).unwrap();
    assert_eq!(e.view.layers, vec![1, 2]);
    assert_eq!(e.view.weights_shown, 32);
    assert_eq!(e.steps[0].layers[0].neurons, vec![2, 3]);
    let text = e.render(Format::Text);
    assert!(text.contains("Shown: layers 1, 2, neurons 2..4"), "{text}");
    assert!(text.contains("W_2[3,7]") && !text.contains("W_2[4,0]"));
    // Both, and the JSON numbers still equal the engine's.
    let opts = ExplainOptions {
        layer: Some(3),
        neurons: Some(0..1),
        ..ExplainOptions::default()
    };
    let e = explain::explain(&net, &data, &[0], 1, 0.1, &opts, None).unwrap();
    let json: Value = serde_json::from_str(&e.render(Format::Json)).unwrap();
    let (trace, after) = engine_step(&net, &data, &[0], 0.1);
    check_json_against_trace(&json, &trace, &after);
    // A higher limit shows it all.
    let opts = ExplainOptions {
        max_weights: 200,
        ..ExplainOptions::default()
    };
    assert_eq!(
        explain::explain(&net, &data, &[0], 1, 0.1, &opts, None)
            .unwrap()
            .view
            .weights_shown,
        136
    );
    // Bad restrictions are typed errors too.
    for (layer, neurons, what) in [
        (Some(0), None, "layer"),
        (Some(4), None, "layer"),
        (None, Some(8..9), "neurons"),
        (None, Some(3..3), "neurons"),
    ] {
        let opts = ExplainOptions {
            layer,
            neurons,
            ..ExplainOptions::default()
        };
        match explain::explain(&net, &data, &[0], 1, 0.1, &opts, None) {
            Err(BpropError::InvalidArgument { name, .. }) => assert_eq!(name, what),
            other => panic!("{layer:?} {:?}: expected InvalidArgument, got {other:?}", opts.neurons),
        }
    }
}

#[test]
fn the_seeds_faulty_w0_line_is_shown_beside_the_correct_update() {
    let e = seed_explanation();
    let s = e.seed.as_ref().expect("the seed's network gets the comparison");
    let (mut w0, mut w1) = (seed::W0, seed::W1);
    let error = seed::faulty_step(&mut w0, &mut w1);
    assert_eq!(s.faulty_w0, w0);
    assert_eq!(s.faulty_w1, w1);
    assert_eq!(s.faulty_error, error);
    // The listing moves both rows of w0 by the same row; backpropagation does not.
    let d = |r: usize, c: usize| s.faulty_w0[r][c] - seed::W0[r][c];
    assert!((d(0, 0) - d(1, 0)).abs() < 1e-15 && (d(0, 1) - d(1, 1)).abs() < 1e-15);
    assert!((s.correct_update[0][0] - s.correct_update[1][0]).abs() > 1e-3);
    // Its w1 update is backpropagation's.
    assert!((s.faulty_w1[0][0] - s.correct_w1[0][0]).abs() < 1e-15);
    // Not for other networks or learning rates.
    let (net, data) = biased_net();
    assert!(
        explain::explain(&net, &data, &[0], 1, 1.0, &ExplainOptions::default(), None)
            .unwrap()
            .seed
            .is_none()
    );
    let e = explain::explain(
        &seed::network(),
        &seed::dataset(),
        &[0],
        1,
        0.5,
        &ExplainOptions::default(),
        None,
    )
    .unwrap();
    assert!(e.seed.is_none());
}

#[test]
fn bad_arguments_are_typed_errors() {
    let (net, data) = biased_net();
    let opts = ExplainOptions::default();
    let name = |r: Result<Explanation, BpropError>| match r {
        Err(BpropError::InvalidArgument { name, .. }) => name,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert_eq!(name(explain::explain(&net, &data, &[], 1, 0.5, &opts, None)), "samples");
    assert_eq!(name(explain::explain(&net, &data, &[0], 0, 0.5, &opts, None)), "steps");
    assert_eq!(
        name(explain::explain(&net, &data, &[0], 1, f64::NAN, &opts, None)),
        "learning_rate"
    );
    assert_eq!(name(explain::explain(&net, &data, &[7], 1, 0.5, &opts, None)), "order");
}

#[test]
fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
    let dir = std::env::temp_dir().join(format!("bprop-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.txt");
    bprop::io::write_atomic(&path, b"first").unwrap();
    bprop::io::write_atomic(&path, b"second").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out.txt")]);
    assert!(matches!(
        bprop::io::write_atomic(&dir.join("missing/out.txt"), b"x"),
        Err(BpropError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gpu_column_matches_the_cpu_gradients() {
    common::gpu(false); // fails (never skips) without an adapter
    let (net, data) = biased_net();
    let mut gpu = ExplainGpu::open(&AdapterRequest::from_env(), &net, &data).expect("a GPU adapter");
    let e = explain::explain(
        &net,
        &data,
        &[0, 1, 2],
        2,
        0.5,
        &ExplainOptions::default(),
        Some(gpu.twin()),
    )
    .unwrap();
    let g = e.gpu.as_ref().expect("a GPU summary");
    let tol = if g.precision == "f64" { 1e-12 } else { 1e-5 };
    for step in &e.steps {
        let d = step.max_gpu_difference.expect("a GPU difference");
        assert!(d <= tol, "step {}: |GPU − CPU| = {d:e} ({})", step.step, g.precision);
        assert!((step.gpu_loss.unwrap() - step.loss).abs() <= tol);
        for layer in &step.layers {
            assert!(layer.weight_gradients.iter().all(|p| p.gpu.is_some()));
        }
    }
    let text = e.render(Format::Text);
    assert!(
        text.contains(&format!("GPU ({})", g.precision)) && text.contains("GPU − CPU"),
        "{text}"
    );
}

#[test]
fn the_driver_opens_the_gpu_engine_in_the_precision_asked() {
    common::gpu(false); // fails (never skips) without an adapter
    let (net, data) = biased_net();
    let req = AdapterRequest::from_env();
    assert!(matches!(
        driver::open_gpu_in(&req, Some(Precision::F32), &net, &data),
        Ok(AnyGpuEngine::F32(_))
    ));
    // None: f64 exactly when the adapter has SHADER_F64, as ExplainGpu::open uses it.
    let has_f64 = bprop::gpu::context::pick(&req, false).unwrap().1.f64;
    match driver::open_gpu_in(&req, None, &net, &data).unwrap() {
        AnyGpuEngine::F64(_) => assert!(has_f64),
        AnyGpuEngine::F32(_) => assert!(!has_f64),
    }
}

fn bprop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bprop"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("the binary runs")
}

fn stdout_of(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn cli_explain_prints_the_golden_text() {
    let text = stdout_of(&bprop(&["explain"]));
    assert_eq!(text, golden(&seed_explanation().render(Format::Text)));
    let help = stdout_of(&bprop(&["explain", "--help"]));
    for needle in [
        "Examples:",
        "--layers",
        "--weights",
        "--neurons",
        "--layer",
        "--format",
        "--model",
    ] {
        assert!(help.contains(needle), "explain --help lacks {needle}:\n{help}");
    }
    assert!(stdout_of(&bprop(&["--help"])).contains("explain"));
}

#[test]
fn cli_explain_json_equals_the_engine() {
    let json: Value = serde_json::from_str(&stdout_of(&bprop(&["explain", "--format", "json"]))).unwrap();
    let (trace, after) = engine_step(&seed::network(), &seed::dataset(), &[0], 1.0);
    check_json_against_trace(&json, &trace, &after);

    // A network given on the command line, a batch, biases.
    let args = [
        "explain",
        "--format",
        "json",
        "--layers",
        "2,3,2",
        "--weights",
        "0.1,-0.8;0.4,0.6;-0.3,0.2|0.3,0.9,-0.5;-0.7,0.2,0.4",
        "--biases",
        "0.1,-0.2,0.05|0.05,-0.1",
        "--activation",
        "tanh",
        "--loss",
        "bce",
        "--input",
        "0.35,0.9;0.1,-0.2",
        "--input",
        "0.9,0.4",
        "--target",
        "0.5,1;0.1,0;0.9,1",
        "--lr",
        "0.5",
    ];
    let json: Value = serde_json::from_str(&stdout_of(&bprop(&args))).unwrap();
    let (net, data) = biased_net();
    let (trace, after) = engine_step(&net, &data, &[0, 1, 2], 0.5);
    check_json_against_trace(&json, &trace, &after);
}

#[test]
fn cli_explain_writes_files_and_refuses_bad_input() {
    let dir = std::env::temp_dir().join(format!("bprop-explain-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.html");
    let out = bprop(&["explain", "--format", "html", "-o", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "-o writes the page to the file only");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("<svg") && html.ends_with("</html>\n"));
    std::fs::remove_dir_all(&dir).unwrap();

    let md = stdout_of(&bprop(&["explain", "--format", "markdown", "--steps", "2"]));
    assert!(md.starts_with("# Backpropagation") && md.contains("## Step 2 of 2"));

    // Too large: a typed error naming the restrictions; then restricted.
    let big = [
        "explain",
        "--layers",
        "8,8,8,1",
        "--input",
        "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7",
        "--target",
        "0.3",
    ];
    let out = bprop(&big);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--layer") && err.contains("--neurons") && err.contains("--max-weights"),
        "{err}"
    );
    assert!(!err.contains("ExplainOptions"), "{err}");
    let restricted = [&big[..], &["--layer", "2", "--neurons", "0..=1"]].concat();
    let text = stdout_of(&bprop(&restricted));
    assert!(
        text.contains("Shown: layer 2, neurons 0..2") && text.contains("W_2[1,7]"),
        "{text}"
    );

    for bad in [
        &["explain", "--weights", "0.1,0.8;0.4|0.3,0.9"][..],
        &["explain", "--input", "0.35,0.9"],
        &["explain", "--loss", "bce", "--output-activation", "tanh"],
        &["explain", "--neurons", "a..b"],
        &["explain", "--layers", "2,2,1", "--weights", "0.1,0.8|0.3"],
    ] {
        let out = bprop(bad);
        assert!(!out.status.success(), "{bad:?} should fail");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "), "{bad:?}");
    }
}

#[test]
fn cli_explain_backend_gpu_shows_the_gpu_column() {
    let out = bprop(&["explain", "--backend", "gpu"]);
    assert!(
        out.status.success(),
        "explain --backend gpu needs a GPU adapter (install lavapipe): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GPU (f64)") || text.contains("GPU (f32)"), "{text}");
    assert!(text.contains("GPU − CPU") && text.contains("GPU path"), "{text}");
    let json: Value =
        serde_json::from_str(&stdout_of(&bprop(&["explain", "--backend", "gpu", "--format", "json"]))).unwrap();
    let g = &json["steps"][0]["layers"][0]["weight_gradients"][0];
    assert!(g["gpu"].is_f64());
    assert!((num(&g["gpu"]) - num(&g["gradient"])).abs() < 1e-6);
}
