//! The seed's step (2-2-1 sigmoid network, no biases, E = ½(y − o)², learning rate 1, one
//! sample, online) as burn writes it: `nn::Linear` layers, autodiff, `optim::Sgd`, on
//! burn's ndarray backend (f64, the CPU) or its wgpu backend (f32, the first adapter).
//!
//!   burn_peer ndarray STEPS | burn_peer wgpu STEPS
//!
//! Prints `burn-<backend> steps=N ns_per_step=T e=E` (E: the loss of the last step), the
//! format of benches/peers.sh.
//!
//!   burn_peer mnist-epoch MNIST_DIR
//!
//! One epoch of benches/mnist_epoch.sh's work on the ndarray backend, f32: 784-800-10,
//! ReLU, softmax cross-entropy, batch 128, SGD with momentum 0.9 (no dampening), the
//! 60 000 training images in a fixed shuffled order; prints `epoch_s=T loss=L` (L: the
//! epoch's mean training loss).
//!
//!   burn_peer mnist-step-wgpu STEPS
//!
//! `bprop bench`'s MNIST-sized step on burn's wgpu backend (f32, the first adapter):
//! 784-800-10, ReLU, softmax cross-entropy, batch 128, plain SGD at 0.01, on 256 random
//! samples in [−1, 1) with one-hot targets; 5 untimed steps first (cubecl's autotune and
//! pipeline compilation happen there), then STEPS timed ones with the weights read back
//! at the end; prints `burn-wgpu mnist-step steps=N ns_per_step=T loss=L`.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::LinearConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::{log_softmax, relu, sigmoid};
use burn::tensor::{Device, DeviceKind, FloatDType, Tensor, TensorData};
use std::io::Read;
use std::path::Path;
use std::time::Instant;

#[derive(Module, Debug)]
struct Net {
    l1: Linear,
    l2: Linear,
}

impl Net {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        sigmoid(self.l2.forward(sigmoid(self.l1.forward(x))))
    }
}

/// A bias-free layer with the given weights; burn stores them (inputs, outputs), the
/// transpose of the seed's W.
fn layer<const I: usize, const O: usize>(w_t: [[f64; O]; I], device: &Device) -> Linear {
    Linear {
        weight: Param::from_tensor(Tensor::from_floats(w_t, device)),
        bias: None,
    }
}

fn run(name: &str, steps: usize, device: &Device) {
    // The seed: W0 = [[0.1, 0.8], [0.4, 0.6]], W1 = [[0.3, 0.9]], x = (0.35, 0.9), y = 0.5.
    let mut net = Net {
        l1: layer([[0.1, 0.4], [0.8, 0.6]], device),
        l2: layer([[0.3], [0.9]], device),
    };
    let mut opt = SgdConfig::new().init();
    let x = Tensor::<2>::from_floats([[0.35, 0.9]], device);
    let y = Tensor::<2>::from_floats([[0.5]], device);
    let mut e = 0.0;
    let t = Instant::now();
    for i in 0..steps {
        let o = net.forward(x.clone());
        let loss = (y.clone() - o).powf_scalar(2.0).sum().mul_scalar(0.5);
        if i + 1 == steps {
            e = loss.clone().into_scalar::<f64>();
        }
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(1.0, net, grads);
    }
    // The last step's weights, read back: the work is done (wgpu runs asynchronously).
    let _ = net.l1.weight.val().into_data();
    let ns = t.elapsed().as_secs_f64() * 1e9 / steps as f64;
    println!("burn-{name} steps={steps} ns_per_step={ns:.1} e={e:.3e}");
}

/// An IDX file's payload after its header of `header` bytes, gunzipped.
fn idx(path: &Path, header: usize) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.split_off(header)
}

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    output: Linear,
}

fn mnist_epoch(dir: &Path) {
    let pixels = idx(&dir.join("train-images-idx3-ubyte.gz"), 16);
    let labels = idx(&dir.join("train-labels-idx1-ubyte.gz"), 8);
    let (n, batch) = (labels.len(), 128);
    let x: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    // A fixed shuffle (a 64-bit LCG driving Fisher–Yates).
    let mut order: Vec<usize> = (0..n).collect();
    let mut s: u64 = 1;
    for i in (1..n).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, (s >> 33) as usize % (i + 1));
    }
    #[allow(deprecated)] // burn-ndarray is burn's long-standing CPU backend
    let device = Device::ndarray().autodiff();
    let mut net = Mlp {
        hidden: LinearConfig::new(784, 800).init(&device),
        output: LinearConfig::new(800, 10).init(&device),
    };
    let mut opt = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
        .init();
    let (mut xb, mut yb) = (vec![0f32; batch * 784], vec![0f32; batch * 10]);
    let mut total = 0.0;
    let steps = n / batch;
    let t = Instant::now();
    for step in 0..steps {
        yb.fill(0.0);
        for (r, &i) in order[step * batch..(step + 1) * batch].iter().enumerate() {
            xb[r * 784..(r + 1) * 784].copy_from_slice(&x[i * 784..(i + 1) * 784]);
            yb[r * 10 + usize::from(labels[i])] = 1.0;
        }
        let xt = Tensor::<2>::from_data(TensorData::new(xb.clone(), [batch, 784]), &device);
        let yt = Tensor::<2>::from_data(TensorData::new(yb.clone(), [batch, 10]), &device);
        let logits = net.output.forward(relu(net.hidden.forward(xt)));
        // E = −mean over the batch of Σ_k y_k log softmax(z)_k
        let loss = (log_softmax(logits, 1) * yt).sum_dim(1).mean().neg();
        total += loss.clone().into_scalar::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(0.05, net, grads);
    }
    let _ = net.hidden.weight.val().into_data();
    let secs = t.elapsed().as_secs_f64();
    println!("burn-ndarray mnist epoch_s={secs:.4} loss={:.4}", total / steps as f64);
}

fn mnist_step_wgpu(steps: usize) {
    let (n, batch, inputs, outputs) = (256, 128, 784, 10);
    // A 64-bit LCG for the inputs in [−1, 1).
    let mut s: u64 = 2;
    let x: Vec<f32> = (0..n * inputs)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let y: Vec<f32> = (0..n * outputs)
        .map(|i| f32::from(u8::from((i / outputs) % outputs == i % outputs)))
        .collect();
    let device = Device::wgpu(DeviceKind::DefaultDevice).autodiff();
    let mut net = Mlp {
        hidden: LinearConfig::new(inputs, 800).init(&device),
        output: LinearConfig::new(800, outputs).init(&device),
    };
    let mut opt = SgdConfig::new().init();
    let batches: Vec<(Tensor<2>, Tensor<2>)> = (0..n / batch)
        .map(|b| {
            let xb = x[b * batch * inputs..(b + 1) * batch * inputs].to_vec();
            let yb = y[b * batch * outputs..(b + 1) * batch * outputs].to_vec();
            (
                Tensor::<2>::from_data(TensorData::new(xb, [batch, inputs]), &device),
                Tensor::<2>::from_data(TensorData::new(yb, [batch, outputs]), &device),
            )
        })
        .collect();
    let mut loss_value = 0.0;
    let mut run = |net: Mlp, count: usize, last: &mut f64| -> Mlp {
        let mut net = net;
        for i in 0..count {
            let (xb, yb) = &batches[i % batches.len()];
            let logits = net.output.forward(relu(net.hidden.forward(xb.clone())));
            // E = −mean over the batch of Σ_k y_k log softmax(z)_k
            let loss = (log_softmax(logits, 1) * yb.clone()).sum_dim(1).mean().neg();
            if i + 1 == count {
                *last = loss.clone().into_scalar::<f64>();
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(0.01, net, grads);
        }
        let _ = net.hidden.weight.val().into_data();
        net
    };
    net = run(net, 5, &mut loss_value);
    let t = Instant::now();
    let _ = run(net, steps, &mut loss_value);
    let ns = t.elapsed().as_secs_f64() * 1e9 / steps as f64;
    println!("burn-wgpu mnist-step steps={steps} ns_per_step={ns:.1} loss={loss_value:.4}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("mnist-step-wgpu") {
        let steps = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
        return mnist_step_wgpu(steps);
    }
    if args.get(1).map(String::as_str) == Some("mnist-epoch") {
        let dir = args.get(2).expect("usage: burn_peer mnist-epoch MNIST_DIR");
        return mnist_epoch(Path::new(dir));
    }
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let (name, device) = match args.get(1).map(String::as_str) {
        Some("ndarray") => {
            #[allow(deprecated)] // burn-ndarray is burn's long-standing CPU backend
            let mut d = Device::ndarray();
            d.configure(FloatDType::F64).expect("ndarray computes in f64");
            ("ndarray", d)
        }
        Some("wgpu") => ("wgpu", Device::wgpu(DeviceKind::DefaultDevice)),
        _ => {
            eprintln!("usage: burn_peer ndarray|wgpu STEPS");
            std::process::exit(2);
        }
    };
    run(name, steps, &device.autodiff());
}
