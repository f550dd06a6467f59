//! The host driver: chooses the engine (GPU, software GPU or CPU), falls back to the CPU
//! path when the GPU fails, runs training, and cross-checks the two paths.

mod crosscheck;
mod cv;
mod infer;
mod plan;
mod train;

pub use crosscheck::{compare_networks, cross_check, CrossCheckReport, TensorDiff, Tolerance};
pub use cv::{cross_validate, fold_rows, CvEvent, CvReport, FoldMetrics, FoldReport, MetricSummary};
pub use infer::{infer, Inference, INFER_BATCH};
pub use plan::{
    parse_activations, parse_hidden, stop_description, Resolved, RunOutcome, ScaleChoice, ScheduleSpec, TargetScale,
    TrainPlan, DEFAULT_BATCH, DEFAULT_EPOCHS, DEFAULT_HIDDEN, DEFAULT_LEARNING_RATE, DEFAULT_VALIDATION,
    DEFAULT_VALIDATION_MIN_SAMPLES,
};
pub use train::{CheckpointFn, EpochRecord, History, StopReason, TrainConfig, TrainReport, Trainer};

use crate::cpu::CpuEngine;
use crate::engine::Engine;
use crate::error::{BpropError, Result};
use crate::gpu::{AdapterRequest, AdapterSummary, GpuContext, GpuEngine};
use crate::model::{Dataset, Network, Precision, Real};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Which path to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The path expected to be faster, by [`auto_rule`]: a hardware GPU when there is one
    /// and the work is large enough to pay for starting it, else the CPU path (never a
    /// software adapter); GPU failures fall back to the CPU path with the reason reported.
    #[default]
    Auto,
    /// A GPU adapter (hardware or software) or an error.
    Gpu,
    /// The CPU path.
    Cpu,
}

impl FromStr for BackendChoice {
    type Err = BpropError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            _ => Err(BpropError::UnknownName {
                kind: "backend",
                name: s.into(),
                expected: "auto, gpu, cpu",
            }),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        })
    }
}

/// The work, in parameter-sample passes (parameters × samples × passes over them), below
/// which `auto` runs on the CPU path even when a hardware GPU is present.
///
/// Origin: not measured on a hardware GPU (none was available to the project when it was
/// set). The CPU path trains scikit-learn's digits (a 64-32-10 network, 2 410 parameters,
/// 1 617 training rows, 100 epochs: 3.9e8 parameter-sample passes) in 0.28 s on the 2-core
/// machine of BENCHMARKS.md, about 1.4e9 passes a second. A GPU run first creates a device
/// and compiles its pipelines, which costs a few tenths of a second before any step, and
/// small steps are bound by dispatch latency rather than arithmetic. 1e9 passes (about
/// 0.7 s of the CPU path there) is where that start-up stops dominating; re-measure with
/// `bprop bench` (or `benches/device.sh`) on a real GPU and change this one constant.
pub const GPU_MIN_WORK: f64 = 1e9;

/// How much computing a run asks for, the input of [`auto_rule`]'s cost model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The network's parameters (weights and biases).
    pub params: usize,
    /// Samples per pass (training rows, or rows to infer).
    pub rows: usize,
    /// Passes over them (epochs; 1 for inference).
    pub passes: usize,
}

impl Workload {
    /// The workload of `passes` passes of `net` over `rows` samples.
    pub fn of<T: Real>(net: &Network<T>, rows: usize, passes: usize) -> Self {
        Workload {
            params: net.n_params(),
            rows,
            passes,
        }
    }

    /// parameters × rows × passes.
    pub fn work(&self) -> f64 {
        self.params as f64 * self.rows as f64 * self.passes as f64
    }
}

/// Which path `auto` chose, and why, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoChoice {
    /// The GPU path (on the adapter [`crate::gpu::context::pick`] returns); else the CPU path.
    pub gpu: bool,
    /// Why, as one line: the adapter and what it is, and the work against [`GPU_MIN_WORK`].
    pub why: String,
}

impl fmt::Display for AutoChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.gpu { "GPU" } else { "CPU" };
        write!(f, "--backend auto chose the {path} path: {}", self.why)
    }
}

/// `auto`'s rule, on the adapter `auto` would use (or why there is none) and the work:
///
/// - no usable adapter: the CPU path;
/// - a software adapter ([`AdapterSummary::is_software`]: lavapipe, WARP, SwiftShader),
///   which trains many times slower than the CPU path: the CPU path (`--backend gpu` may
///   still use it);
/// - a hardware GPU and work under [`GPU_MIN_WORK`]: the CPU path, since the GPU's
///   start-up would cost more than the work;
/// - a hardware GPU otherwise, or when the work is not known (`None`): the GPU path.
pub fn auto_rule(adapter: std::result::Result<&AdapterSummary, &str>, work: Option<Workload>) -> AutoChoice {
    let s = match adapter {
        Ok(s) => s,
        Err(why) => {
            return AutoChoice {
                gpu: false,
                why: why.to_string(),
            }
        }
    };
    let name = format!("{} ({})", s.name, s.backend);
    if s.is_software() {
        return AutoChoice {
            gpu: false,
            why: format!(
                "{name} is a software renderer and no hardware GPU is usable; the CPU path is \
                 faster (--backend gpu uses it anyway)"
            ),
        };
    }
    let Some(w) = work else {
        return AutoChoice {
            gpu: true,
            why: format!("{name} is a hardware GPU"),
        };
    };
    let sum = format!(
        "{} parameters × {} samples × {} {} = {:.1e} parameter-sample passes",
        w.params,
        w.rows,
        w.passes,
        if w.passes == 1 { "pass" } else { "passes" },
        w.work()
    );
    if w.work() < GPU_MIN_WORK {
        AutoChoice {
            gpu: false,
            why: format!(
                "{sum}, under the {GPU_MIN_WORK:.0e} that pay for starting the hardware GPU {name} \
                 (--backend gpu uses it anyway)"
            ),
        }
    } else {
        AutoChoice {
            gpu: true,
            why: format!("{name} is a hardware GPU, and {sum} are at least {GPU_MIN_WORK:.0e}"),
        }
    }
}

/// [`auto_rule`] on the adapter that `req` (and `need_f64`) selects on this machine.
pub fn auto_choice(req: &AdapterRequest, need_f64: bool, work: Option<Workload>) -> AutoChoice {
    match crate::gpu::context::pick(req, need_f64) {
        Ok((_, s)) => auto_rule(Ok(&s), work),
        Err(e) => auto_rule(Err(&e.to_string()), work),
    }
}

/// An engine chosen by [`select`], with the reason when `auto` fell back to the CPU.
pub struct Selected<T: Real> {
    /// The engine.
    pub engine: Box<dyn Engine<T>>,
    /// Why the GPU path is not used, when `auto` fell back to the CPU path.
    pub fallback: Option<String>,
}

/// Opens a GPU engine for `net` and `data` on the adapter `req` selects.
///
/// # Errors
/// [`BpropError::NoAdapter`] or [`BpropError::Gpu`].
pub fn open_gpu<T: Real>(req: &AdapterRequest, net: &Network<T>, data: &Dataset<T>) -> Result<GpuEngine<T>> {
    let ctx = Arc::new(GpuContext::new(req, T::PRECISION == Precision::F64)?);
    let mut engine = GpuEngine::new(ctx, net.clone(), data)?;
    // Product kernels tuned per shape unless BPROP_KERNEL names one (src/gpu/engine/autotune.rs).
    engine.set_product_choice(crate::gpu::ProductChoice::from_env()?)?;
    Ok(engine)
}

/// Builds the engine `choice` asks for. Under `Auto` the run's length is not known here, so
/// [`auto_rule`] is applied without a workload (a software adapter gives the CPU path, a
/// hardware GPU the GPU path); front ends that know the epochs decide with
/// [`auto_choice`] first, or call [`select_for`].
///
/// # Errors
/// Dataset/network mismatches from [`Dataset::check_fits`]; under [`BackendChoice::Gpu`],
/// [`BpropError::NoAdapter`] or [`BpropError::Gpu`]. Under `Auto`, GPU errors are not
/// returned: the CPU engine is, with the reason in [`Selected::fallback`].
pub fn select<T: Real>(
    choice: BackendChoice,
    req: &AdapterRequest,
    net: &Network<T>,
    data: &Dataset<T>,
) -> Result<Selected<T>> {
    select_for(choice, req, net, data, None)
}

/// [`select`] for a run of known `work`: under `Auto`, [`auto_rule`] with it decides.
///
/// # Errors
/// As [`select`].
pub fn select_for<T: Real>(
    choice: BackendChoice,
    req: &AdapterRequest,
    net: &Network<T>,
    data: &Dataset<T>,
    work: Option<Workload>,
) -> Result<Selected<T>> {
    data.check_fits(net)?;
    let cpu = || -> Result<Box<dyn Engine<T>>> { Ok(Box::new(CpuEngine::new(net.clone(), data.clone())?)) };
    match choice {
        BackendChoice::Cpu => Ok(Selected {
            engine: cpu()?,
            fallback: None,
        }),
        BackendChoice::Gpu => Ok(Selected {
            engine: Box::new(open_gpu(req, net, data)?),
            fallback: None,
        }),
        BackendChoice::Auto => match auto_choice(req, T::PRECISION == Precision::F64, work) {
            AutoChoice { gpu: false, why } => Ok(Selected {
                engine: cpu()?,
                fallback: Some(why),
            }),
            AutoChoice { gpu: true, .. } => match open_gpu(req, net, data) {
                Ok(gpu) => Ok(Selected {
                    engine: Box::new(gpu),
                    fallback: None,
                }),
                Err(e) => Ok(Selected {
                    engine: cpu()?,
                    fallback: Some(e.to_string()),
                }),
            },
        },
    }
}

/// A GPU engine in the precision it computes in, as [`open_gpu_in`] opens it.
pub enum AnyGpuEngine {
    /// An f32 engine.
    F32(GpuEngine<f32>),
    /// An f64 engine.
    F64(GpuEngine<f64>),
}

/// Opens a GPU engine for `net` and `data`, given in f64, on the adapter `req` selects,
/// computing in `precision`; with `None`, in f64 when that adapter has `SHADER_F64` and in
/// f32 otherwise. For f32 the parameters and data are rounded to f32 first.
///
/// # Errors
/// As [`open_gpu`]: [`BpropError::NoAdapter`] (also for `Some(Precision::F64)` when no
/// matching adapter has `SHADER_F64`) or [`BpropError::Gpu`].
pub fn open_gpu_in(
    req: &AdapterRequest,
    precision: Option<Precision>,
    net: &Network<f64>,
    data: &Dataset<f64>,
) -> Result<AnyGpuEngine> {
    let precision = match precision {
        Some(p) => p,
        None if crate::gpu::context::pick(req, false)?.1.f64 => Precision::F64,
        None => Precision::F32,
    };
    match precision {
        Precision::F64 => Ok(AnyGpuEngine::F64(open_gpu(req, net, data)?)),
        Precision::F32 => {
            let data32 = Dataset::new(data.inputs().mapv(|v| v as f32), data.targets().mapv(|v| v as f32))?;
            Ok(AnyGpuEngine::F32(open_gpu(req, &net.cast::<f32>(), &data32)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An adapter as `AdapterSummary::of` would describe it.
    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "Vulkan".into(),
            device_type: device_type.into(),
            driver: String::new(),
            compute: true,
            f64: true,
            f16: false,
            subgroup: false,
            timestamp: true,
            max_storage_binding: 1 << 30,
            max_buffer: 1 << 30,
            max_workgroup_storage: 32768,
            max_invocations: 1024,
            max_storage_buffers_per_stage: 16,
            rank: 0,
        }
    }

    /// digits with the defaults: 64-32-10, 1 617 training rows, 100 epochs.
    const DIGITS: Workload = Workload {
        params: 2410,
        rows: 1617,
        passes: 100,
    };
    /// MNIST, 784-128-10, 54 000 training rows, 5 epochs.
    const MNIST: Workload = Workload {
        params: 101_770,
        rows: 54_000,
        passes: 5,
    };

    #[test]
    fn a_software_adapter_is_never_auto() {
        for (name, ty) in [
            ("llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu"),
            ("Microsoft Basic Render Driver", "Other"),
            ("SwiftShader Device (Subzero)", "Cpu"),
            ("Google SwiftShader", "IntegratedGpu"),
            ("softpipe", "Other"),
        ] {
            let a = adapter(name, ty);
            assert!(a.is_software(), "{name}");
            for work in [None, Some(DIGITS), Some(MNIST)] {
                let c = auto_rule(Ok(&a), work);
                assert!(!c.gpu, "{name} {work:?}");
                assert!(c.why.contains("software") && c.why.contains(name), "{}", c.why);
            }
        }
    }

    #[test]
    fn a_hardware_gpu_is_auto_for_large_work_only() {
        for (name, ty) in [
            ("NVIDIA GeForce RTX 4090", "DiscreteGpu"),
            ("AMD Radeon Graphics (RADV GFX1103_R1)", "IntegratedGpu"),
            ("Apple M2", "IntegratedGpu"),
        ] {
            let a = adapter(name, ty);
            assert!(!a.is_software(), "{name}");
            let small = auto_rule(Ok(&a), Some(DIGITS));
            assert!(!small.gpu, "{name}: {}", small.why);
            assert!(
                small.why.contains("3.9e8") && small.why.contains("1e9"),
                "{}",
                small.why
            );
            let big = auto_rule(Ok(&a), Some(MNIST));
            assert!(big.gpu, "{name}: {}", big.why);
            assert!(big.why.contains("2.7e10") && big.why.contains(name), "{}", big.why);
            assert!(auto_rule(Ok(&a), None).gpu, "{name}");
        }
        // The threshold itself is enough work.
        let a = adapter("NVIDIA H100", "DiscreteGpu");
        let at = Workload {
            params: 1000,
            rows: 1000,
            passes: 1000,
        };
        assert!(auto_rule(Ok(&a), Some(at)).gpu);
        assert!(!auto_rule(Ok(&a), Some(Workload { passes: 999, ..at })).gpu);
    }

    #[test]
    fn no_adapter_is_the_cpu_path_with_the_reason() {
        let c = auto_rule(Err("no usable GPU adapter: found nothing"), Some(MNIST));
        assert!(!c.gpu);
        assert_eq!(c.why, "no usable GPU adapter: found nothing");
        assert!(c.to_string().starts_with("--backend auto chose the CPU path: "));
    }
}
