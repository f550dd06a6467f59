//! Inference on either path: a network's outputs (and mean loss, given targets) for many
//! samples, for `bprop eval` and `bprop predict`.
//!
//! The CPU path runs [`crate::cpu::predict`] and [`crate::metrics::evaluate`]. The GPU path
//! uploads the samples once and runs [`GpuEngine::infer`](crate::gpu::GpuEngine::infer):
//! the forward passes only (and the output pass for the losses, given targets), many
//! batches per submission, reading back only the outputs and per-sample losses.

use crate::cpu;
use crate::driver::{auto_choice, open_gpu, BackendChoice, Workload};
use crate::engine::{BackendInfo, Engine};
use crate::error::{BpropError, Result};
use crate::gpu::AdapterRequest;
use crate::metrics;
use crate::model::{Dataset, Network, Precision, Real};
use ndarray::Array2;

/// Rows per forward batch of the CPU path's inference (the GPU path's is
/// [`crate::gpu::INFER_ROWS`]).
pub const INFER_BATCH: usize = 256;

/// What [`infer`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Inference<T> {
    /// The network's outputs, (n, outputs).
    pub outputs: Array2<T>,
    /// The mean loss, when targets were given.
    pub loss: Option<f64>,
    /// The path that computed.
    pub backend: BackendInfo,
    /// Why `auto` computed on the CPU path: its choice ([`crate::driver::auto_rule`]) or the
    /// GPU path's failure.
    pub fallback: Option<String>,
}

fn on_cpu<T: Real>(net: &Network<T>, data: &Dataset<T>, with_targets: bool) -> Result<(Array2<T>, Option<f64>)> {
    let outputs = cpu::predict(net, data.inputs().view(), INFER_BATCH)?;
    let loss = if with_targets {
        Some(metrics::evaluate(net, data)?.loss)
    } else {
        None
    };
    Ok((outputs, loss))
}

fn on_gpu<T: Real>(
    req: &AdapterRequest,
    net: &Network<T>,
    inputs: &Array2<T>,
    targets: Option<&Array2<T>>,
) -> Result<(Array2<T>, Option<f64>, BackendInfo)> {
    if inputs.nrows() == 0 {
        return Err(BpropError::InvalidArgument {
            name: "inputs",
            value: "0 rows".into(),
            why: "inference needs at least one row".into(),
        });
    }
    // The engine's own dataset is one row; the rows to infer go through infer_rows, which
    // uploads them in chunks that fit the adapter's storage bindings.
    let first = Dataset::new(
        inputs.slice(ndarray::s![..1, ..]).to_owned(),
        Array2::zeros((1, net.outputs())),
    )?;
    let mut engine = open_gpu(req, net, &first)?;
    let result = engine.infer_rows(inputs.view(), targets.map(|t| t.view()))?;
    // The mean in f64, summed in sample order.
    let loss = result
        .losses
        .map(|l| l.iter().map(|v| v.f64()).sum::<f64>() / inputs.nrows().max(1) as f64);
    Ok((result.outputs, loss, engine.info().clone()))
}

/// The outputs of `net` for `inputs` (n, inputs), and the mean loss against `targets`
/// when given, on the path `choice` asks for (`auto`: the path [`auto_choice`] chooses for
/// one pass over the rows, and the CPU path when the GPU path fails to open or run; the
/// reason for the CPU path is in [`Inference::fallback`]).
///
/// # Errors
/// [`BpropError::Shape`] when the widths do not fit the network; under `gpu`, GPU errors.
pub fn infer<T: Real>(
    choice: BackendChoice,
    req: &AdapterRequest,
    net: &Network<T>,
    inputs: &Array2<T>,
    targets: Option<&Array2<T>>,
) -> Result<Inference<T>> {
    let with_targets = targets.is_some();
    let y = match targets {
        Some(t) => t.clone(),
        None => Array2::zeros((inputs.nrows(), net.outputs())),
    };
    let data = Dataset::new(inputs.clone(), y)?;
    data.check_fits(net)?;
    let cpu_result = |fallback: Option<String>| -> Result<Inference<T>> {
        let (outputs, loss) = on_cpu(net, &data, with_targets)?;
        Ok(Inference {
            outputs,
            loss,
            backend: BackendInfo::cpu::<T>(),
            fallback,
        })
    };
    if choice == BackendChoice::Auto {
        let work = Workload::of(net, data.len(), 1);
        let auto = auto_choice(req, T::PRECISION == Precision::F64, Some(work));
        if !auto.gpu {
            return cpu_result(Some(auto.why));
        }
    }
    match choice {
        BackendChoice::Cpu => cpu_result(None),
        BackendChoice::Gpu | BackendChoice::Auto => match on_gpu(req, net, inputs, targets) {
            Ok((outputs, loss, backend)) => Ok(Inference {
                outputs,
                loss,
                backend,
                fallback: None,
            }),
            Err(e @ (BpropError::Gpu(_) | BpropError::NoAdapter(_))) if choice == BackendChoice::Auto => {
                cpu_result(Some(e.to_string()))
            }
            Err(e) => Err(e),
        },
    }
}
