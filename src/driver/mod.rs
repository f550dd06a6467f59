//! The host driver: chooses the engine (GPU, software GPU or CPU), falls back to the CPU
//! path when the GPU fails, runs training, and cross-checks the two paths.

mod crosscheck;
mod infer;
mod plan;
mod train;

pub use crosscheck::{compare_networks, cross_check, CrossCheckReport, TensorDiff, Tolerance};
pub use infer::{infer, Inference, INFER_BATCH};
pub use plan::{
    parse_activations, parse_hidden, stop_description, Resolved, RunOutcome, ScaleChoice, ScheduleSpec, TrainPlan,
    DEFAULT_BATCH, DEFAULT_EPOCHS, DEFAULT_HIDDEN, DEFAULT_LEARNING_RATE, DEFAULT_VALIDATION,
    DEFAULT_VALIDATION_MIN_SAMPLES,
};
pub use train::{EpochRecord, History, StopReason, TrainConfig, TrainReport, Trainer};

use crate::cpu::CpuEngine;
use crate::engine::Engine;
use crate::error::{BpropError, Result};
use crate::gpu::{AdapterRequest, GpuContext, GpuEngine};
use crate::model::{Dataset, Network, Precision, Real};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Which path to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else a software adapter, else the CPU path; GPU
    /// failures fall back to the CPU path with the reason reported.
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
    GpuEngine::new(ctx, net.clone(), data)
}

/// Builds the engine `choice` asks for.
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
        BackendChoice::Auto => match open_gpu(req, net, data) {
            Ok(gpu) => Ok(Selected {
                engine: Box::new(gpu),
                fallback: None,
            }),
            Err(e) => Ok(Selected {
                engine: cpu()?,
                fallback: Some(e.to_string()),
            }),
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
