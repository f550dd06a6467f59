//! The tuner of the product kernels (`src/gpu/engine/autotune.rs`), without depending on
//! which variant wins: its on-disk cache (round trip, a corrupt or foreign file ignored
//! with a warning and rewritten, the key's buckets and parts), the forced choice
//! (`BPROP_KERNEL`'s syntax), a tuned engine's results against the CPU path with every
//! choice cached, and a cached choice taken as it is, without timing.

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::driver::Tolerance;
use bprop::engine::Engine;
use bprop::gpu::{GpuEngine, KernelChoice, Product, ProductChoice, ProductPass, ShapeKey, Tile, TuneCache};
use bprop::model::{Activation, Dataset, Init, Loss, Network, NetworkSpec, Precision, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

fn key(pass: ProductPass, mnk: [usize; 3]) -> ShapeKey {
    ShapeKey::new("llvmpipe", "Vulkan Mesa 22.3.6", Precision::F32, pass, false, mnk)
}

#[test]
fn the_cache_round_trips_through_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = key(ProductPass::Forward, [128, 800, 784]);
    let k2 = key(ProductPass::Gradient, [800, 784, 128]);
    let mut cache = TuneCache::in_dir(dir.path());
    assert_eq!(cache.get(&k1), None);
    cache.insert(&k1, Product::Subgroup(2));
    cache.insert(&k2, Product::Workgroup(Tile::T32));
    assert!(cache.warnings().is_empty(), "{:?}", cache.warnings());
    let path = dir.path().join("kernels.json");
    assert_eq!(cache.path(), Some(path.as_path()));
    let mut again = TuneCache::in_dir(dir.path());
    assert_eq!(again.get(&k1), Some(Product::Subgroup(2)));
    assert_eq!(again.get(&k2), Some(Product::Workgroup(Tile::T32)));
    assert_eq!(again.get(&key(ProductPass::HiddenDelta, [128, 800, 10])), None);
    // A missing directory is created at the first write.
    let nested = dir.path().join("a").join("b");
    let mut fresh = TuneCache::in_dir(&nested);
    fresh.insert(&k1, Product::Register);
    assert!(nested.join("kernels.json").is_file());
}

#[test]
fn a_corrupt_cache_is_ignored_with_a_warning_and_rewritten() {
    let k = key(ProductPass::Forward, [128, 800, 784]);
    let bad = [
        "{ not json",
        r#"{"version": 99, "choices": {}}"#,
        r#"{"version": 1, "choices": {}}"#,
        r#"{"version": 2}"#,
        r#"{"version": 2, "choices": {"x": "warp-drive"}}"#,
        r#"{"version": 2, "choices": {"x": 7}}"#,
    ];
    for text in bad {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernels.json");
        std::fs::write(&path, text).unwrap();
        let mut cache = TuneCache::in_dir(dir.path());
        assert_eq!(cache.get(&k), None, "{text}");
        let w = cache.warnings().join("\n");
        assert!(w.contains("corrupt") && w.contains("kernels.json"), "{text}: {w}");
        cache.insert(&k, Product::Register);
        let mut reread = TuneCache::in_dir(dir.path());
        assert_eq!(reread.get(&k), Some(Product::Register), "{text}");
        assert!(reread.warnings().is_empty(), "{text}: {:?}", reread.warnings());
    }
}

#[test]
fn choices_timed_with_other_kernels_are_dropped_quietly() {
    let k = key(ProductPass::Forward, [128, 800, 784]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kernels.json");
    let mut cache = TuneCache::in_dir(dir.path());
    cache.insert(&k, Product::Register);
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ours = doc["kernels"].as_str().unwrap().to_string();
    assert_eq!(ours.len(), 16, "{text}");
    // The same file, as another build of the kernels would have written it.
    std::fs::write(&path, text.replace(&ours, "0123456789abcdef")).unwrap();
    let mut stale = TuneCache::in_dir(dir.path());
    assert_eq!(stale.get(&k), None);
    assert!(stale.warnings().is_empty(), "{:?}", stale.warnings());
    stale.insert(&k, Product::Workgroup(Tile::T32));
    let mut reread = TuneCache::in_dir(dir.path());
    assert_eq!(reread.get(&k), Some(Product::Workgroup(Tile::T32)));
}

#[test]
fn an_unwritable_cache_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache directory should be.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let mut cache = TuneCache::in_dir(&blocker.join("bprop"));
    let k = key(ProductPass::Forward, [1, 1, 1]);
    cache.insert(&k, Product::Register);
    assert_eq!(cache.get(&k), Some(Product::Register), "kept in memory");
    assert!(
        cache.warnings().iter().any(|w| w.contains("not saved")),
        "{:?}",
        cache.warnings()
    );
}

#[test]
fn shape_keys_bucket_dimensions_and_name_every_part() {
    let base = key(ProductPass::Forward, [100, 800, 784]);
    // Each dimension is rounded up to a power of two.
    assert_eq!(base, key(ProductPass::Forward, [128, 1024, 1024]));
    assert_eq!(base, key(ProductPass::Forward, [68, 516, 516]));
    // Which dimensions 4 divides is part of the key (the four-wide kernels need it).
    assert_ne!(base, key(ProductPass::Forward, [101, 800, 784]));
    assert_ne!(base, key(ProductPass::Forward, [100, 800, 783]));
    assert_ne!(base, key(ProductPass::Forward, [129, 800, 784]));
    assert_ne!(base, key(ProductPass::Forward, [100, 800, 1025]));
    assert_ne!(base, key(ProductPass::Gradient, [100, 800, 784]));
    let other = |adapter: &str, driver: &str, precision, bytes| {
        ShapeKey::new(adapter, driver, precision, ProductPass::Forward, bytes, [100, 800, 784])
    };
    assert_eq!(base, other("llvmpipe", "Vulkan Mesa 22.3.6", Precision::F32, false));
    assert_ne!(base, other("NVIDIA H200", "Vulkan Mesa 22.3.6", Precision::F32, false));
    assert_ne!(base, other("llvmpipe", "Vulkan Mesa 24.0", Precision::F32, false));
    assert_ne!(base, other("llvmpipe", "Vulkan Mesa 22.3.6", Precision::F64, false));
    assert_ne!(base, other("llvmpipe", "Vulkan Mesa 22.3.6", Precision::F32, true));
    assert!(base.as_str().contains("128x1024x1024"), "{}", base.as_str());
}

#[test]
fn forced_choices_parse_and_name_the_variants() {
    assert_eq!(ProductChoice::parse("auto").unwrap(), ProductChoice::Tuned);
    assert_eq!(ProductChoice::parse("").unwrap(), ProductChoice::Tuned);
    for p in Product::ALL {
        assert_eq!(ProductChoice::parse(&p.to_string()).unwrap(), ProductChoice::Fixed(p));
        assert_eq!(p.to_string().parse::<Product>().unwrap(), p);
    }
    let err = ProductChoice::parse("turbo").unwrap_err().to_string();
    assert!(err.contains("turbo") && err.contains("subgroup-16x32"), "{err}");
}

fn problem<T: Real>(inputs: usize, hidden: usize, outputs: usize, n: usize) -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Relu)
        .layer(outputs, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 5).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = Array2::from_shape_simple_fn((n, inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn((n, outputs), |(i, k)| T::of(f64::from(u8::from(i % outputs == k))));
    (net, Dataset::new(x, y).unwrap())
}

/// A GPU engine running tiled products tuned per shape, its choices cached in `cache`.
fn tuned_engine<T: Real>(f64_adapter: bool, cache: &Path, net: &Network<T>, data: &Dataset<T>) -> GpuEngine<T> {
    let mut gpu = GpuEngine::new(common::gpu(f64_adapter), net.clone(), data).unwrap();
    gpu.set_tune_cache(TuneCache::in_dir(cache));
    gpu.set_product_choice(ProductChoice::Tuned).unwrap();
    gpu.set_kernel_choice(KernelChoice::Tiled).unwrap();
    gpu
}

fn tuned_engine_matches_the_cpu_path<T: Real>(f64_adapter: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (net, data) = problem::<T>(37, 70, 5, 40);
    let mut gpu = tuned_engine(f64_adapter, dir.path(), &net, &data);
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let samples: Vec<u32> = (0..33).map(|i| (i * 7 % 40) as u32).collect();
    let (g, c) = (gpu.trace(&samples).unwrap(), cpu.trace(&samples).unwrap());
    let tol = Tolerance::for_precision::<T>();
    for (l, (lg, lc)) in g.layers.iter().zip(&c.layers).enumerate() {
        for (what, a, b) in [
            ("z", &lg.z, &lc.z),
            ("delta", &lg.delta, &lc.delta),
            ("grad_w", &lg.grad_w, &lc.grad_w),
        ] {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!(tol.accepts(x.f64(), y.f64()), "layer {l} {what}: {x} vs {y}");
            }
        }
    }
    // Every product of the step was tuned, to a variant this adapter runs, and cached:
    // two forward, one hidden-delta and two gradient products.
    let chosen: Vec<Product> = gpu.products().iter().flatten().copied().collect();
    assert!(chosen.iter().all(|&p| gpu.product_available(p)), "{chosen:?}");
    let text = std::fs::read_to_string(dir.path().join("kernels.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["choices"].as_object().unwrap().len(), 5, "{text}");
    assert!(text.contains(T::NAME), "{text}");
}

#[test]
fn a_tuned_engine_matches_the_cpu_path_f32() {
    tuned_engine_matches_the_cpu_path::<f32>(false);
}

#[test]
fn a_tuned_engine_matches_the_cpu_path_f64() {
    tuned_engine_matches_the_cpu_path::<f64>(true);
}

#[test]
fn a_cached_choice_is_taken_without_timing() {
    let dir = tempfile::tempdir().unwrap();
    let (net, data) = problem::<f32>(20, 30, 3, 40);
    let samples: Vec<u32> = (0..24).collect();
    let mut first = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    first.set_tune_cache(TuneCache::in_dir(dir.path()));
    first.set_product_choice(ProductChoice::Tuned).unwrap();
    first.trace(&samples).unwrap();
    // Rewrite every cached choice to one variant; a fresh engine takes them as they are
    // (whichever won the timing, a cached entry is never timed again).
    let path = dir.path().join("kernels.json");
    for forced in [Product::Register, Product::Workgroup(Tile::T128)] {
        let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (_, v) in doc["choices"].as_object_mut().unwrap() {
            *v = serde_json::Value::String(forced.to_string());
        }
        std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
        let mut second = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
        second.set_tune_cache(TuneCache::in_dir(dir.path()));
        second.set_product_choice(ProductChoice::Tuned).unwrap();
        second.trace(&samples).unwrap();
        let chosen: Vec<Product> = second.products().iter().flatten().copied().collect();
        // The last layer has no hidden delta: its slot keeps the default.
        assert!(
            chosen.iter().all(|&p| p == forced || p == Product::default()),
            "{chosen:?}"
        );
        assert_eq!(chosen.iter().filter(|&&p| p == forced).count(), 5, "{chosen:?}");
    }
}

/// A tuned engine on a byte-coded dataset: layer 0's products are tuned and run reading
/// the bytes (their byte-reading kernels compiled for layer 0 alone), the others reading
/// real activations, and the steps agree with the CPU path.
#[test]
fn a_tuned_engine_on_byte_inputs_matches_the_cpu_path() {
    use bprop::driver::cross_check;
    use bprop::model::{Hyper, Optimizer};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let bytes = Array2::from_shape_simple_fn((40, 16), || rng.random::<u8>());
    let y = Array2::from_shape_fn((40, 3), |(i, k)| f32::of(f64::from(u8::from(i % 3 == k))));
    let data = Dataset::from_bytes(bytes, 255.0, y).unwrap();
    let spec = NetworkSpec::new(16, Loss::CrossEntropy)
        .layer(24, Activation::Relu)
        .layer(3, Activation::Softmax);
    let net = Network::<f32>::random(&spec, Init::Auto, 4).unwrap();
    let mut gpu = tuned_engine(false, dir.path(), &net, &data);
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let order: Vec<u32> = (0..96).map(|i| (i * 7 % 40) as u32).collect();
    let hyper = Hyper::sgd(0.05).with_optimizer(Optimizer::Momentum { momentum: 0.9 });
    let report = cross_check(&mut gpu, &mut cpu, &order, 24, &hyper, 1).unwrap();
    assert!(report.passed(), "{report}");
    let chosen: Vec<Product> = gpu.products().iter().flatten().copied().collect();
    assert!(chosen.iter().all(|&p| gpu.product_available(p)), "{chosen:?}");
}
