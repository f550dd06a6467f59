//! Backend selection and fallback. With an adapter name no adapter has
//! (`AdapterRequest { name: Some("no-such-adapter-xyz"), .. }`): `select(Auto)` returns
//! the CPU engine with the reason (naming the adapter looked for) in `fallback`,
//! `select(Gpu)` fails with `BpropError::NoAdapter` naming `WGPU_ADAPTER_NAME`, and a
//! `Trainer` under `Auto` notes the fallback and trains on the CPU path. With the
//! environment's request an adapter is found and `Gpu` picks the GPU path, `Auto` too on a
//! hardware GPU but the CPU path, with the reason, on a software adapter — this fails,
//! never skips, on a machine without one (CI installs lavapipe).

use crate::common;

use bprop::driver::{open_gpu, select, BackendChoice, TrainConfig, Trainer};
use bprop::engine::BackendKind;
use bprop::gpu::context::{enumerate, pick};
use bprop::gpu::AdapterRequest;
use bprop::model::{Activation, Dataset, Init, Loss, Network, NetworkSpec};
use bprop::BpropError;
use ndarray::array;

const MISSING: &str = "no-such-adapter-xyz";

fn impossible() -> AdapterRequest {
    AdapterRequest {
        name: Some(MISSING.into()),
        ..AdapterRequest::from_env()
    }
}

fn net() -> Network<f32> {
    let spec = NetworkSpec::new(2, Loss::HalfSse)
        .layer(3, Activation::Tanh)
        .layer(1, Activation::Sigmoid);
    Network::random(&spec, Init::Auto, 5).unwrap()
}

fn data() -> Dataset<f32> {
    Dataset::new(
        array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
        array![[0.0], [1.0], [1.0], [0.0]],
    )
    .unwrap()
}

#[test]
fn auto_falls_back_to_the_cpu_with_the_reason() {
    let selected = select(BackendChoice::Auto, &impossible(), &net(), &data()).unwrap();
    assert_eq!(selected.engine.info().kind, BackendKind::Cpu);
    let why = selected.fallback.expect("a fallback reason");
    assert!(why.contains(MISSING), "{why}");
    assert!(why.contains("WGPU_ADAPTER_NAME"), "{why}");
    // The reason lists what was found instead.
    assert!(why.contains("found:"), "{why}");
}

#[test]
fn gpu_without_a_matching_adapter_is_an_error() {
    let err = select(BackendChoice::Gpu, &impossible(), &net(), &data())
        .err()
        .expect("no engine");
    let BpropError::NoAdapter(ref msg) = err else {
        panic!("expected BpropError::NoAdapter, got {err:?}")
    };
    assert!(msg.contains("WGPU_ADAPTER_NAME"), "{msg}");
    assert!(msg.contains(MISSING), "{msg}");
    assert!(err.to_string().starts_with("no usable GPU adapter"), "{err}");
    assert!(matches!(
        open_gpu(&impossible(), &net(), &data()),
        Err(BpropError::NoAdapter(_))
    ));
    assert!(matches!(pick(&impossible(), false), Err(BpropError::NoAdapter(_))));
    // Trainer::new under Gpu does not fall back either.
    assert!(matches!(
        Trainer::new(BackendChoice::Gpu, &impossible(), net(), data()),
        Err(BpropError::NoAdapter(_))
    ));
}

#[test]
fn trainer_notes_the_fallback_and_trains_on_the_cpu() {
    let mut trainer = Trainer::new(BackendChoice::Auto, &impossible(), net(), data()).unwrap();
    assert_eq!(trainer.info().kind, BackendKind::Cpu);
    assert_eq!(trainer.notes().len(), 1, "{:?}", trainer.notes());
    let note = &trainer.notes()[0];
    assert!(note.contains("CPU path"), "{note}");
    assert!(note.contains(MISSING), "{note}");
    let report = trainer.train(&TrainConfig::default().with_epochs(3)).unwrap();
    assert_eq!(report.backend.kind, BackendKind::Cpu);
    assert_eq!(report.steps, 12);
    // The CPU choice never looks for an adapter and notes nothing.
    let cpu = Trainer::new(BackendChoice::Cpu, &impossible(), net(), data()).unwrap();
    assert_eq!(cpu.info().kind, BackendKind::Cpu);
    assert!(cpu.notes().is_empty());
}

#[test]
fn the_default_request_finds_an_adapter() {
    let req = AdapterRequest::from_env();
    assert!(
        !enumerate(&req).is_empty(),
        "wgpu found no adapter (CI installs lavapipe)"
    );
    let ctx = common::gpu(false);
    assert!(ctx.summary.compute);
    let selected = select(BackendChoice::Gpu, &req, &net(), &data()).unwrap_or_else(|e| panic!("gpu: {e}"));
    assert_eq!(selected.engine.info().kind, BackendKind::Gpu);
    assert_eq!(selected.engine.info().name, ctx.summary.name);
    assert!(selected.fallback.is_none(), "{:?}", selected.fallback);
    // `auto` never takes a software adapter (lavapipe, in CI): the CPU path is faster.
    let selected = select(BackendChoice::Auto, &req, &net(), &data()).unwrap_or_else(|e| panic!("auto: {e}"));
    let trainer = Trainer::new(BackendChoice::Auto, &req, net(), data()).unwrap();
    if ctx.summary.is_software() {
        assert_eq!(selected.engine.info().kind, BackendKind::Cpu);
        let why = selected.fallback.expect("the reason");
        assert!(why.contains("software") && why.contains(&ctx.summary.name), "{why}");
        assert_eq!(trainer.info().kind, BackendKind::Cpu);
        assert_eq!(trainer.notes().len(), 1, "{:?}", trainer.notes());
    } else {
        assert_eq!(selected.engine.info().kind, BackendKind::Gpu);
        assert!(selected.fallback.is_none(), "{:?}", selected.fallback);
        assert_eq!(trainer.info().kind, BackendKind::Gpu);
        assert!(trainer.notes().is_empty(), "{:?}", trainer.notes());
    }
    // A name that the adapter found does contain is accepted, in any case.
    let upper = AdapterRequest {
        name: Some(ctx.summary.name.to_uppercase()),
        ..req
    };
    let (_, found) = pick(&upper, false).unwrap();
    assert_eq!(found.name, ctx.summary.name);
}
