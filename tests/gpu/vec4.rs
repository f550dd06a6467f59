//! The four-wide product kernels against their element-wise twins: `Product::Vec4`
//! (`shaders/product_vec4_k.wgsl` for the forward product, `product_vec4_mn.wgsl` for the
//! gradient) against the subgroup kernels of the same block, and `Product::WorkgroupVec4`
//! (`tile_stage_k4.wgsl`, `tile_stage_mn4.wgsl`) against the workgroup tiles: the same bits
//! in every intermediate of a step and after training steps with dropout and Adam, with
//! real-valued and byte-coded inputs, in f32 and f64; and they run where the product's runs
//! are 4-aligned, their fallback elsewhere.

use crate::bits::{assert_networks_equal, assert_traces_equal, bits};
use crate::common;

use bprop::engine::Engine;
use bprop::gpu::{GpuEngine, KernelChoice, Product, ProductChoice, Tile};
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn spec(inputs: usize, hidden: usize, outputs: usize) -> NetworkSpec {
    NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Relu)
        .layer(outputs, Activation::Softmax)
}

/// `net` with every bias drawn from [−½, ½) (the initialisation's are zeros, which a bias
/// read from the wrong unit would leave unchanged in a traced step).
fn random_biases<T: Real>(net: Network<T>, seed: u64) -> Network<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = net
        .layers()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            if let Some(b) = &mut l.bias {
                b.mapv_inplace(|_| T::of(rng.random_range(-0.5..0.5)));
            }
            l
        })
        .collect();
    Network::new(layers, net.loss()).unwrap()
}

fn real_problem<T: Real>(inputs: usize, hidden: usize, outputs: usize, n: usize) -> (Network<T>, Dataset<T>) {
    let net = Network::random(&spec(inputs, hidden, outputs), Init::Auto, 8).unwrap();
    let net = random_biases(net, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = Array2::from_shape_simple_fn((n, inputs), || T::of(rng.random_range(-1.0..1.0)));
    let y = Array2::from_shape_fn((n, outputs), |(i, k)| T::of(f64::from(u8::from(i % outputs == k))));
    (net, Dataset::new(x, y).unwrap())
}

/// Four hidden layers with every element-wise activation, the first without a bias, and
/// an identity output under the MSE: every width a multiple of 4, none of 32 or 64.
fn deep_problem<T: Real>(n: usize) -> (Network<T>, Dataset<T>) {
    let spec = NetworkSpec::new(20, Loss::Mse)
        .layer_without_bias(44, Activation::Tanh)
        .layer(28, Activation::Sigmoid)
        .layer(12, Activation::LeakyRelu { slope: 0.1 })
        .layer(36, Activation::Relu)
        .layer(8, Activation::Identity);
    let net = random_biases(Network::random(&spec, Init::Auto, 10).unwrap(), 3);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = Array2::from_shape_simple_fn((n, 20), || T::of(rng.random_range(-2.0..2.0)));
    let y = Array2::from_shape_simple_fn((n, 8), || T::of(rng.random_range(-1.0..1.0)));
    (net, Dataset::new(x, y).unwrap())
}

fn byte_problem<T: Real>(inputs: usize, hidden: usize, outputs: usize, n: usize) -> (Network<T>, Dataset<T>) {
    let net = Network::random(&spec(inputs, hidden, outputs), Init::Auto, 9).unwrap();
    let net = random_biases(net, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let bytes = Array2::from_shape_simple_fn((n, inputs), || rng.random::<u8>());
    let y = Array2::from_shape_fn((n, outputs), |(i, k)| T::of(f64::from(u8::from(i % outputs == k))));
    (net, Dataset::from_bytes(bytes, 255.0, y).unwrap())
}

fn engine<T: Real>(f64_adapter: bool, net: &Network<T>, data: &Dataset<T>, product: Product) -> GpuEngine<T> {
    let mut gpu = GpuEngine::new(common::gpu(f64_adapter), net.clone(), data).unwrap();
    gpu.set_kernel_choice(KernelChoice::Tiled).unwrap();
    gpu.set_product_choice(ProductChoice::Fixed(product)).unwrap();
    gpu
}

/// Traces a batch and trains 3 steps of Adam with dropout with the four-wide variant
/// `wide` and its fallback, asserting the same bits, and returns the variants the
/// four-wide engine ran (per layer: forward, hidden delta, gradient).
fn same_bits<T: Real>(
    f64_adapter: bool,
    net: &Network<T>,
    data: &Dataset<T>,
    batch: usize,
    wide: Product,
) -> Vec<[Product; 3]> {
    let what = format!("{} rows of {} ({}), {wide}", batch, data.len(), T::NAME);
    let mut narrow = engine(f64_adapter, net, data, wide.fallback());
    let mut wide = engine(f64_adapter, net, data, wide);
    let samples: Vec<u32> = (0..batch as u32).map(|i| (i * 5 + 3) % data.len() as u32).collect();
    assert_traces_equal(&what, &wide.trace(&samples).unwrap(), &narrow.trace(&samples).unwrap());
    let ran = wide.running_products();
    let hyper = Hyper {
        dropout: Some(Dropout {
            input: 0.2,
            hidden: 0.3,
            seed: 5,
        }),
        ..Hyper::sgd(0.01).with_optimizer(Optimizer::ADAM)
    };
    let order: Vec<u32> = (0..3 * batch as u32).map(|i| (i * 7 + 1) % data.len() as u32).collect();
    let (lw, ln) = (
        wide.train_with(&order, batch, &hyper).unwrap(),
        narrow.train_with(&order, batch, &hyper).unwrap(),
    );
    assert_eq!(bits(&lw), bits(&ln), "{what}: losses differ");
    assert_networks_equal(
        &format!("{what}, after training"),
        &wide.network().unwrap(),
        &narrow.network().unwrap(),
    );
    ran
}

fn four_wide_kernels_give_their_fallbacks_bits<T: Real>(f64_adapter: bool) {
    let probe = {
        let (net, data) = real_problem::<T>(4, 4, 4, 4);
        GpuEngine::new(common::gpu(f64_adapter), net, &data).unwrap()
    };
    if !probe.product_available(Product::Vec4(8)) {
        // Adapters without subgroups of 8 refuse the variant, by name.
        let (net, data) = real_problem::<T>(4, 4, 4, 4);
        let mut gpu = GpuEngine::new(common::gpu(f64_adapter), net, &data).unwrap();
        let err = gpu
            .set_product_choice(ProductChoice::Fixed(Product::Vec4(8)))
            .unwrap_err();
        assert!(err.to_string().contains("SUBGROUP"), "{err}");
        return;
    }
    let wides = [
        Product::Vec4(4),
        Product::Vec4(8),
        Product::WorkgroupVec4(Tile::T64),
        Product::WorkgroupVec4(Tile::T128),
    ];
    for v in wides {
        let s = v.fallback();
        assert_ne!(s, v);
        // Every product 4-aligned: the forward and gradient products run four-wide (over
        // 64 rows, a partial column block, an odd batch; a batch past one block of 32).
        let (net, data) = real_problem::<T>(36, 68, 12, 50);
        let ran = same_bits(f64_adapter, &net, &data, 37, v);
        assert_eq!(ran, vec![[v, s, v], [v, v, v]], "{v}");
        // Layer 0 aligned, the hidden layer not: its products fall back.
        let (net, data) = real_problem::<T>(36, 66, 8, 30);
        let ran = same_bits(f64_adapter, &net, &data, 20, v);
        // (The output layer has no hidden-delta product: its entry is the choice.)
        assert_eq!(ran, vec![[v, s, s], [s, v, s]], "{v}");
        // Every activation of a hidden layer, a layer without a bias, an identity output.
        let (net, data) = deep_problem::<T>(60);
        let ran = same_bits(f64_adapter, &net, &data, 41, v);
        assert_eq!(ran, vec![[v, s, v], [v, s, v], [v, s, v], [v, s, v], [v, v, v]], "{v}");
        // Byte-coded inputs: one packed word is four inputs.
        let (net, data) = byte_problem::<T>(12, 40, 4, 45);
        let ran = same_bits(f64_adapter, &net, &data, 33, v);
        assert_eq!(ran, vec![[v, s, v], [v, v, v]], "{v}");
    }
}

/// Where the four-wide variants run (no device needed): the forward product needs K a
/// multiple of 4, the gradient M and N; the workgroup variant also needs 4 or more outputs
/// per invocation (its element-wise epilogue rewrites one element of a vec4 of ∂E/∂W, so
/// one invocation must own each vec4), so never at tiles of 32.
#[test]
fn four_wide_variants_fit_aligned_shapes_only() {
    use bprop::gpu::shaders::Pass;
    for v in [Product::Vec4(4), Product::Vec4(8), Product::WorkgroupVec4(Tile::T64)] {
        assert!(v.fits(Pass::ForwardTiled, [800, 128, 784]), "{v}");
        assert!(v.fits(Pass::ForwardTiled, [10, 37, 68]), "{v}");
        assert!(!v.fits(Pass::ForwardTiled, [800, 128, 30]), "{v}");
        assert!(v.fits(Pass::GradientTiled, [800, 784, 37]), "{v}");
        assert!(!v.fits(Pass::GradientTiled, [10, 800, 128]), "{v}");
        assert!(!v.fits(Pass::HiddenDeltaTiled, [128, 800, 12]), "{v}");
        assert_eq!(v.for_shape(Pass::ForwardTiled, [800, 128, 30]), v.fallback());
    }
    let t32 = Product::WorkgroupVec4(Tile::T32);
    assert!(!t32.fits(Pass::ForwardTiled, [800, 128, 784]));
    assert!(!t32.fits(Pass::GradientTiled, [800, 784, 128]));
    assert_eq!(
        t32.for_shape(Pass::GradientTiled, [800, 784, 128]),
        Product::Workgroup(Tile::T32)
    );
}

#[test]
fn four_wide_kernels_give_their_fallbacks_bits_f32() {
    four_wide_kernels_give_their_fallbacks_bits::<f32>(false);
}

#[test]
fn four_wide_kernels_give_their_fallbacks_bits_f64() {
    four_wide_kernels_give_their_fallbacks_bits::<f64>(true);
}

/// `update4.wgsl` (W and its gradient four at a time, for layers with fan_in % 4 = 0)
/// against `update.wgsl`: every optimizer, with weight decay and max-norm, gives the same
/// bits; the first layer (fan-in 36: runs of 32 and 4) updates four-wide, the second
/// (fan-in 6, not a multiple of 4) keeps the scalar pass.
fn wide_update_gives_the_scalar_updates_bits<T: Real>(f64_adapter: bool) {
    let (net, data) = real_problem::<T>(36, 6, 3, 20);
    let optimizers = [
        Optimizer::Sgd,
        Optimizer::Momentum { momentum: 0.9 },
        Optimizer::Nesterov { momentum: 0.8 },
        Optimizer::ADAM,
        Optimizer::IRPROP,
    ];
    let order: Vec<u32> = (0..40).map(|i| (i * 3 + 1) % 20).collect();
    for optimizer in optimizers {
        let hyper = Hyper {
            weight_decay: 1e-3,
            max_norm: Some(2.0),
            ..Hyper::sgd(0.05).with_optimizer(optimizer)
        };
        let run = |wide: bool| {
            let mut gpu = GpuEngine::new(common::gpu(f64_adapter), net.clone(), &data).unwrap();
            gpu.set_kernel_choice(KernelChoice::Plain).unwrap();
            gpu.set_wide_update(wide);
            let losses = gpu.train_with(&order, 5, &hyper).unwrap();
            (bits(&losses), gpu.network().unwrap())
        };
        let ((lw, nw), (ln, nn)) = (run(true), run(false));
        let what = format!("{optimizer:?} ({})", T::NAME);
        assert_eq!(lw, ln, "{what}: losses differ");
        assert_networks_equal(&what, &nw, &nn);
        // The run moved the weights (the comparison is not of two untouched networks).
        assert_ne!(bits(&nw.layers()[0].weights), bits(&net.layers()[0].weights));
    }
}

#[test]
fn wide_update_gives_the_scalar_updates_bits_f32() {
    wide_update_gives_the_scalar_updates_bits::<f32>(false);
}

#[test]
fn wide_update_gives_the_scalar_updates_bits_f64() {
    wide_update_gives_the_scalar_updates_bits::<f64>(true);
}
