//! Byte-coded datasets (MNIST's pixels, x = byte / 255): the GPU path stores the bytes
//! packed four to a word and converts them in layer 0's passes; its steps must agree with
//! the CPU path, which uses the f32/f64 inputs, with plain and tiled kernels, and its
//! traces must report the same inputs.

use crate::common;

use bprop::cpu::CpuEngine;
use bprop::data::load_mnist;
use bprop::driver::cross_check;
use bprop::engine::Engine;
use bprop::gpu::{GpuEngine, KernelChoice};
use bprop::model::{Activation, Dataset, Hyper, Init, Loss, Network, NetworkSpec, Optimizer, Real};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn byte_problem<T: Real>(inputs: usize, n: usize) -> (Network<T>, Dataset<T>) {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    // 7 inputs per row is not a multiple of 4: rows straddle the packed words.
    let bytes = Array2::from_shape_simple_fn((n, inputs), || rng.random::<u8>());
    let y = Array2::from_shape_fn((n, 3), |(i, k)| T::of(f64::from(u8::from(i % 3 == k))));
    let data = Dataset::from_bytes(bytes, 255.0, y).unwrap();
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(9, Activation::Relu)
        .layer(3, Activation::Softmax);
    (Network::random(&spec, Init::Auto, 2).unwrap(), data)
}

fn agree<T: Real>(f64_adapter: bool, choice: KernelChoice, batch: usize) {
    let (net, data) = byte_problem::<T>(7, 41);
    let mut gpu = GpuEngine::new(common::gpu(f64_adapter), net.clone(), &data).unwrap();
    gpu.set_kernel_choice(choice).unwrap();
    let mut cpu = CpuEngine::new(net, data.clone()).unwrap();
    let samples: Vec<u32> = (0..batch as u32).map(|i| (i * 3 + 2) % 41).collect();
    let (tg, tc) = (gpu.trace(&samples).unwrap(), cpu.trace(&samples).unwrap());
    assert_eq!(tg.inputs, tc.inputs, "the trace reports the dataset's inputs");
    let order: Vec<u32> = (0..4 * batch as u32).map(|i| (i * 7) % 41).collect();
    let hyper = Hyper::sgd(0.05).with_optimizer(Optimizer::Momentum { momentum: 0.9 });
    let report = cross_check(&mut gpu, &mut cpu, &order, batch, &hyper, 1).unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn byte_inputs_agree_with_the_cpu_path() {
    agree::<f32>(false, KernelChoice::Plain, 5);
    agree::<f32>(false, KernelChoice::Tiled, 17);
    agree::<f64>(true, KernelChoice::Plain, 3);
    agree::<f64>(true, KernelChoice::Tiled, 16);
}

#[test]
fn mnist_rows_train_the_same_on_both_paths() {
    let set = load_mnist(
        common::fixture("mnist/t1k-images-idx3-ubyte.gz"),
        common::fixture("mnist/t1k-labels-idx1-ubyte.gz"),
    )
    .unwrap()
    .first(64);
    let data: Dataset<f32> = set.to_dataset().unwrap();
    assert!(data.byte_inputs().is_some(), "MNIST datasets keep their bytes");
    let spec = NetworkSpec::new(784, Loss::CrossEntropy)
        .layer(20, Activation::Relu)
        .layer(10, Activation::Softmax);
    let net = Network::random(&spec, Init::Auto, 5).unwrap();
    let mut gpu = GpuEngine::new(common::gpu(false), net.clone(), &data).unwrap();
    let mut cpu = CpuEngine::new(net, data).unwrap();
    let order: Vec<u32> = (0..64).collect();
    let report = cross_check(&mut gpu, &mut cpu, &order, 32, &Hyper::sgd(0.1), 1).unwrap();
    assert!(report.passed(), "{report}");
}
