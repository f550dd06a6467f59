//! The CPU engine's mini-batch training loop, which applies the optimizer's update to a
//! layer's weights block by block as their gradient comes out of the packed product
//! (`cpu::gemm::gemm`'s `then`), gives the bits of the public passes run one after the
//! other: `forward`, `loss`, `backward`, then `optimizer_update` over the whole gradient.
//! For every optimizer, with and without dropout, with a schedule, L2 decay and max-norm,
//! in f32 and f64, on a network whose first layer's gradient goes through the packed
//! product and whose second layer's runs as loops.

use bprop::cpu::{self, uses_loops, CpuEngine, Workspace};
use bprop::engine::Engine;
use bprop::model::{
    Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, OptimState, Optimizer, Real, Schedule,
};
use ndarray::{s, Array2};

const INPUTS: usize = 300;
const HIDDEN: usize = 96;
const OUTPUTS: usize = 2;
const BATCH: usize = 40;
const STEPS: usize = 4;

fn hypers() -> Vec<(&'static str, Hyper)> {
    let base = Hyper::sgd(0.05);
    let dropout = Some(Dropout {
        input: 0.2,
        hidden: 0.5,
        seed: 3,
    });
    let mut out = Vec::new();
    for (name, opt) in [
        ("sgd", Optimizer::Sgd),
        ("momentum", Optimizer::Momentum { momentum: 0.9 }),
        ("nesterov", Optimizer::Nesterov { momentum: 0.9 }),
        ("adam", Optimizer::ADAM),
        (
            "adamw",
            Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                decoupled_decay: 0.01,
            },
        ),
    ] {
        out.push((name, base.with_optimizer(opt)));
        out.push((
            name,
            Hyper {
                dropout,
                ..base.with_optimizer(opt)
            },
        ));
    }
    out.push((
        "momentum, step schedule, L2, max-norm",
        Hyper {
            schedule: Schedule::Step { every: 2, gamma: 0.5 },
            weight_decay: 1e-3,
            max_norm: Some(0.5),
            ..base.with_optimizer(Optimizer::Momentum { momentum: 0.9 })
        },
    ));
    out
}

fn check<T: Real>() {
    // The first layer's gradient (HIDDEN × INPUTS over BATCH terms) is packed, the
    // second's (OUTPUTS × HIDDEN) runs as loops.
    assert!(!uses_loops(HIDDEN, BATCH, INPUTS));
    assert!(uses_loops(OUTPUTS, BATCH, HIDDEN));
    let spec = NetworkSpec::new(INPUTS, Loss::CrossEntropy)
        .layer(HIDDEN, Activation::Relu)
        .layer(OUTPUTS, Activation::Softmax);
    let n = 64;
    let x = Array2::from_shape_fn((n, INPUTS), |(i, j)| T::of(((i * 13 + j * 7) % 31) as f64 / 31.0 - 0.5));
    let y = Array2::from_shape_fn(
        (n, OUTPUTS),
        |(i, k)| {
            if i % OUTPUTS == k {
                T::one()
            } else {
                T::zero()
            }
        },
    );
    let data = Dataset::new(x.clone(), y.clone()).unwrap();
    let order: Vec<u32> = (0..(STEPS * BATCH) as u32).map(|i| (i * 23) % n as u32).collect();
    for (name, hyper) in hypers() {
        let net = Network::<T>::random(&spec, Init::Auto, 9).unwrap();
        let mut engine = CpuEngine::new(net.clone(), data.clone()).unwrap();
        let losses = engine.train_with(&order, BATCH, &hyper).unwrap();

        let mut reference = net;
        let mut state = OptimState::new(hyper.optimizer, &reference);
        let mut ws = Workspace::new(&reference, BATCH);
        let mut expected = Vec::new();
        for (step, idx) in order.chunks_exact(BATCH).enumerate() {
            for (r, &i) in idx.iter().enumerate() {
                ws.input.row_mut(r).assign(&x.slice(s![i as usize, ..]));
                ws.target.row_mut(r).assign(&y.slice(s![i as usize, ..]));
            }
            ws.set_dropout(&reference, hyper.dropout.as_ref(), step as u32);
            cpu::forward(&reference, &mut ws);
            expected.push(cpu::loss(&reference, &ws));
            cpu::backward(&reference, &mut ws);
            let k = hyper.step_values(state.step).cast::<T>();
            cpu::optimizer_update(&mut reference, &ws, &hyper, &mut state, &k);
        }
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().unwrap().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&losses), bits(&expected), "{name}: losses");
        assert_eq!(engine.network().unwrap(), reference, "{name}: weights");
        assert_eq!(
            engine.optimizer_state().unwrap(),
            Some(state),
            "{name}: optimizer state"
        );
    }
}

#[test]
fn engine_steps_equal_the_public_passes_f64() {
    check::<f64>();
}

#[test]
fn engine_steps_equal_the_public_passes_f32() {
    check::<f32>();
}
