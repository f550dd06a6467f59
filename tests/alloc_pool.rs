//! No allocation per training step on the CPU path when its products are large: a step of
//! a 200-96-10 network at batch 32 sends its forward, delta and gradient products to the
//! packed product (`bprop::cpu::gemm`), split over two threads of the CPU path's pool.
//! After a few warm-up steps (which size the buffers, start the pool's worker and grow its
//! packing buffers), many more steps must allocate nothing on any thread. This binary has
//! one test, so the count over all threads is this test's alone.

#[path = "common/counting.rs"]
mod counting;
use counting::{all_allocations_in, Counting};

use bprop::cpu::{threads, uses_loops, CpuEngine};
use bprop::model::{Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec, Optimizer};
use ndarray::Array2;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn steps_with_large_products_on_two_threads_allocate_nothing() {
    threads::set_threads(2).unwrap();
    let (inputs, hidden, batch) = (200, 96, 32);
    for (m, k, n) in [(batch, inputs, hidden), (hidden, batch, inputs)] {
        assert!(!uses_loops(m, k, n), "{m}x{k}x{n} runs as loops");
    }
    let spec = NetworkSpec::new(inputs, Loss::CrossEntropy)
        .layer(hidden, Activation::Relu)
        .layer(10, Activation::Softmax);
    let n = 128;
    let x = Array2::from_shape_fn((n, inputs), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.5);
    let y = Array2::from_shape_fn((n, 10), |(i, k)| if i % 10 == k { 1.0 } else { 0.0 });
    let data = Dataset::new(x, y).unwrap();
    let steps = 40;
    let order: Vec<u32> = (0..(steps * batch) as u32).map(|i| (i * 5) % n as u32).collect();
    let dropout = Some(Dropout {
        input: 0.1,
        hidden: 0.3,
        seed: 7,
    });
    for (name, hyper) in [
        (
            "momentum",
            Hyper::sgd(0.05).with_optimizer(Optimizer::Momentum { momentum: 0.9 }),
        ),
        (
            "adam with dropout",
            Hyper {
                dropout,
                ..Hyper::sgd(0.01).with_optimizer(Optimizer::ADAM)
            },
        ),
    ] {
        let net = Network::<f32>::random(&spec, Init::Auto, 5).unwrap();
        let mut engine = CpuEngine::new(net, data.clone()).unwrap();
        let mut losses = Vec::with_capacity(steps + 3);
        engine
            .train_into(&order[..3 * batch], batch, &hyper, &mut losses)
            .unwrap();
        let during = all_allocations_in(|| engine.train_into(&order, batch, &hyper, &mut losses).unwrap());
        assert_eq!(during, 0, "{name}: {steps} steps allocated {during} times");
        assert!(losses.iter().all(|l| l.is_finite()), "{name}");
    }
}
