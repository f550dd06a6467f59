//! The GPU twin: a GPU engine that traces the same step as the CPU path, from the same
//! parameters, so that its gradients can be shown beside the CPU path's.

use crate::driver::{self, AnyGpuEngine};
use crate::engine::{Engine, LayerTrace, StepTrace};
use crate::error::Result;
use crate::gpu::{AdapterRequest, GpuEngine};
use crate::model::{Dataset, Network};
use ndarray::Array2;

/// A GPU engine that traces the same steps as the CPU path, in the precision its adapter
/// offers. Its network is replaced by the CPU path's before each step, so it computes the
/// same step from the same parameters.
pub enum GpuTwin<'a> {
    /// An f32 engine (adapters without `SHADER_F64`).
    F32(&'a mut dyn Engine<f32>),
    /// An f64 engine.
    F64(&'a mut dyn Engine<f64>),
}

impl GpuTwin<'_> {
    /// `f32` or `f64`.
    pub fn precision(&self) -> &'static str {
        match self {
            GpuTwin::F32(_) => "f32",
            GpuTwin::F64(_) => "f64",
        }
    }

    /// What the engine runs on, printed.
    pub fn describe(&self) -> String {
        match self {
            GpuTwin::F32(e) => e.info().to_string(),
            GpuTwin::F64(e) => e.info().to_string(),
        }
    }

    /// The trace of one step of `net` on `samples`, widened to f64.
    pub(super) fn trace(&mut self, net: &Network<f64>, samples: &[u32]) -> Result<StepTrace<f64>> {
        match self {
            GpuTwin::F64(e) => {
                e.set_network(net)?;
                e.trace(samples)
            }
            GpuTwin::F32(e) => {
                e.set_network(&net.cast::<f32>())?;
                Ok(widen(e.trace(samples)?))
            }
        }
    }
}

/// A GPU engine opened for an explanation: f64 where the adapter has `SHADER_F64`, else f32.
pub enum ExplainGpu {
    /// An f32 engine.
    F32(GpuEngine<f32>),
    /// An f64 engine.
    F64(GpuEngine<f64>),
}

impl ExplainGpu {
    /// Asks the driver for a GPU engine for `net` and `data` on the adapter `req` selects,
    /// in f64 when it has `SHADER_F64`, else in f32 ([`driver::open_gpu_in`]).
    ///
    /// # Errors
    /// [`BpropError::NoAdapter`](crate::BpropError::NoAdapter) or
    /// [`BpropError::Gpu`](crate::BpropError::Gpu).
    pub fn open(req: &AdapterRequest, net: &Network<f64>, data: &Dataset<f64>) -> Result<Self> {
        Ok(match driver::open_gpu_in(req, None, net, data)? {
            AnyGpuEngine::F32(e) => ExplainGpu::F32(e),
            AnyGpuEngine::F64(e) => ExplainGpu::F64(e),
        })
    }

    /// The engine as a [`GpuTwin`] for [`explain`](super::explain).
    pub fn twin(&mut self) -> GpuTwin<'_> {
        match self {
            ExplainGpu::F32(e) => GpuTwin::F32(e),
            ExplainGpu::F64(e) => GpuTwin::F64(e),
        }
    }
}

fn widen(t: StepTrace<f32>) -> StepTrace<f64> {
    let w = |m: &Array2<f32>| m.mapv(f64::from);
    StepTrace {
        inputs: w(&t.inputs),
        targets: w(&t.targets),
        layers: t
            .layers
            .iter()
            .map(|l| LayerTrace {
                z: w(&l.z),
                a: w(&l.a),
                delta: w(&l.delta),
                grad_w: w(&l.grad_w),
                grad_b: l.grad_b.as_ref().map(|b| b.mapv(f64::from)),
            })
            .collect(),
        loss: f64::from(t.loss),
    }
}
