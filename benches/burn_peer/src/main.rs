//! The seed's step (2-2-1 sigmoid network, no biases, E = ½(y − o)², learning rate 1, one
//! sample, online) as burn writes it: `nn::Linear` layers, autodiff, `optim::Sgd`, on
//! burn's ndarray backend (f64, the CPU) or its wgpu backend (f32, the first adapter).
//!
//!   burn_peer ndarray STEPS | burn_peer wgpu STEPS
//!
//! Prints `burn-<backend> steps=N ns_per_step=T e=E` (E: the loss of the last step), the
//! format of benches/peers.sh.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, DeviceKind, FloatDType, Tensor};
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
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
