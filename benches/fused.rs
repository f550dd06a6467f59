//! The fused kernel (`shaders/fused.wgsl`, one workgroup runs every pass of many steps)
//! against the separate passes (plain below `TILED_MIN_BATCH` rows, tiled from there), on
//! small networks of growing size, alternating in one run. Prints per-step medians and
//! the ratio fused / separate (below 1: the fused kernel is faster), with the work per
//! step (parameters × batch) that `FUSED_MAX_WORK` bounds for the automatic choice.
//! Run with `cargo bench --bench fused`.

use bprop::bench::{alternate, median, random_workload};
use bprop::driver::open_gpu;
use bprop::engine::Engine;
use bprop::gpu::{AdapterRequest, GpuEngine, KernelChoice, TILED_MIN_BATCH};

fn main() {
    let rounds = if std::env::args().any(|a| a == "--quick") { 2 } else { 3 };
    // (inputs, hidden, outputs, batch, steps); every shape fits 32 KiB of workgroup memory.
    let shapes = [
        (2, 4, 2, 1, 200),
        (8, 16, 4, 4, 200),
        (16, 32, 4, 8, 100),
        (16, 64, 10, 16, 50),
        (32, 64, 10, 16, 50),
        (64, 64, 10, 8, 50),
    ];
    for (inputs, hidden, outputs, batch, steps) in shapes {
        let w = random_workload::<f32>(inputs, hidden, outputs, 64, batch, steps);
        let open = |choice| -> bprop::Result<GpuEngine<f32>> {
            let mut g = open_gpu(&AdapterRequest::from_env(), &w.net, &w.data)?;
            g.set_kernel_choice(choice)?;
            Ok(g)
        };
        let separate = if batch >= TILED_MIN_BATCH {
            KernelChoice::Tiled
        } else {
            KernelChoice::Plain
        };
        let (mut fused, mut sep) = match (open(KernelChoice::Fused), open(separate)) {
            (Ok(f), Ok(s)) => (f, s),
            (Err(e), _) | (_, Err(e)) => {
                println!("GPU path not run: {e}");
                return;
            }
        };
        let mut engines: Vec<&mut dyn Engine<f32>> = vec![&mut fused, &mut sep];
        let t = alternate(&w, &mut engines, rounds).expect("the workload runs");
        let per_step = |v: &[f64]| median(v) * 1e6 / steps as f64;
        println!(
            "{}, params x batch {}: fused {:.1} us/step, separate ({separate:?}) {:.1} us/step, fused/separate {:.2}",
            w.name,
            w.net.n_params() * batch,
            per_step(&t[0]),
            per_step(&t[1]),
            median(&t[0]) / median(&t[1])
        );
    }
}
