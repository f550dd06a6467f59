//! The one interface both paths implement: [`Engine`]. An engine owns a network and a
//! dataset, runs training steps on them, and can report every intermediate of a step
//! ([`StepTrace`]) for cross-checks and explanations.

use crate::error::Result;
use crate::model::{Hyper, Network, OptimState, Real};
use ndarray::{Array1, Array2};
use std::fmt;

/// Which path computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The CPU path.
    Cpu,
    /// The GPU path (wgpu, WGSL).
    Gpu,
}

/// What an engine runs on, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// CPU or GPU path.
    pub kind: BackendKind,
    /// The adapter's name (GPU) or a description of the CPU path.
    pub name: String,
    /// The graphics API (`Vulkan`, `Metal`, ...) or `ndarray`.
    pub api: String,
    /// The adapter's device type (`DiscreteGpu`, `Cpu` for a software adapter, ...) or `host`.
    pub device_type: String,
    /// `f32` or `f64`.
    pub precision: &'static str,
}

impl BackendInfo {
    /// The CPU path's description in precision `T` (shown as `CPU path (host, f64)`). Its
    /// name was "ndarray" until the path came to compute with its own loops and packed
    /// product; model files written before keep that word in their `backend` text, which
    /// is only descriptive.
    pub fn cpu<T: crate::model::Real>() -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Cpu,
            name: "host".into(),
            api: "bprop's loops and packed product".into(),
            device_type: "host".into(),
            precision: T::NAME,
        }
    }
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BackendKind::Cpu => write!(f, "CPU path ({}, {})", self.name, self.precision),
            BackendKind::Gpu => write!(
                f,
                "GPU path: {} ({}, {}, {})",
                self.name, self.api, self.device_type, self.precision
            ),
        }
    }
}

/// Everything one training step computes for one layer, batch rows first.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerTrace<T> {
    /// Pre-activations z = a_{l−1} Wᵀ + b, shape (batch, fan_out).
    pub z: Array2<T>,
    /// Activations a = f(z), shape (batch, fan_out).
    pub a: Array2<T>,
    /// Deltas δ = ∂E/∂z, shape (batch, fan_out).
    pub delta: Array2<T>,
    /// ∂E/∂W = mean over the batch of δ a_{l−1}ᵀ, shape (fan_out, fan_in).
    pub grad_w: Array2<T>,
    /// ∂E/∂b = mean over the batch of δ, length fan_out (`None` without a bias).
    pub grad_b: Option<Array1<T>>,
}

/// One step's forward and backward quantities, computed without changing the network.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTrace<T> {
    /// The inputs a_0, shape (batch, n_inputs).
    pub inputs: Array2<T>,
    /// The targets y, shape (batch, n_outputs).
    pub targets: Array2<T>,
    /// Per layer, input side first.
    pub layers: Vec<LayerTrace<T>>,
    /// The batch's mean loss.
    pub loss: T,
}

/// A training engine: the CPU path or the GPU path, behind one interface.
///
/// An engine is built from a network and a dataset (see `CpuEngine::new`, `GpuEngine::new`)
/// and keeps both; parameters stay where the engine computes (on the device for the GPU)
/// until [`Engine::network`] reads them back.
pub trait Engine<T: Real> {
    /// What this engine runs on.
    fn info(&self) -> &BackendInfo;

    /// Runs `order.len() / batch` training steps: step s uses samples
    /// `order[s·batch .. (s+1)·batch]`, computes the gradients averaged over the batch and
    /// applies `hyper`'s update rule (see [`crate::model::Hyper`]). Optimizer state and the
    /// step count persist across calls; a different optimizer than the state's starts a
    /// fresh state. Returns each step's mean loss, computed in the forward pass before
    /// that step's update (as the seed prints it).
    ///
    /// # Errors
    /// [`crate::BpropError::InvalidArgument`] when `batch` is 0, `order.len()` is not a
    /// multiple of it, an index is out of range, or a hyperparameter is invalid; GPU errors
    /// from the GPU path.
    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>>;

    /// [`Engine::train_with`] with plain gradient descent at rate `lr`: W −= lr · ∂E/∂W,
    /// b −= lr · ∂E/∂b.
    fn train_steps(&mut self, order: &[u32], batch: usize, lr: T) -> Result<Vec<T>> {
        self.train_with(order, batch, &Hyper::sgd(lr.f64()))
    }

    /// The optimizer state (a readback on the GPU path), `None` before the first step.
    fn optimizer_state(&mut self) -> Result<Option<OptimState<T>>>;

    /// Replaces the optimizer state (`None` resets it: the next step starts fresh at t = 0).
    ///
    /// # Errors
    /// [`crate::BpropError::Shape`] when the state does not fit the network.
    fn set_optimizer_state(&mut self, state: Option<&OptimState<T>>) -> Result<()>;

    /// The current parameters (a readback on the GPU path).
    fn network(&mut self) -> Result<Network<T>>;

    /// Replaces the parameters with `net`'s, which must have the same architecture.
    fn set_network(&mut self, net: &Network<T>) -> Result<()>;

    /// The forward and backward quantities of one step on the batch `samples`, without
    /// updating the parameters.
    fn trace(&mut self, samples: &[u32]) -> Result<StepTrace<T>>;

    /// The gradient of one shard of a training step, for data-parallel training
    /// ([`crate::dist`]): the step's global batch has `batch` rows, of which `rows` are
    /// this shard's, starting at row `first_row` of the batch (the row their dropout masks
    /// are drawn for). Writes ∂E/∂θ summed over the shard's rows and divided by `batch`
    /// into `grad` (every parameter, [`Network::n_params`] values: each layer's weights
    /// row-major, then its bias), so that the shards' gradients sum to the batch's mean
    /// gradient, and each row's loss into `losses` (`rows.len()` values). The parameters
    /// and the optimizer state are not changed; the step's dropout masks are those of the
    /// optimizer state's step (0 for a fresh state or another optimizer's). An empty shard
    /// gives a zero gradient.
    ///
    /// # Errors
    /// [`crate::BpropError::InvalidArgument`] for indices out of range, a shard that does
    /// not fit in the batch, or an engine that cannot split a step (the default);
    /// [`crate::BpropError::Shape`] for `grad` or `losses` of the wrong length.
    #[allow(unused_variables)]
    fn shard_gradient(
        &mut self,
        rows: &[u32],
        batch: usize,
        first_row: usize,
        hyper: &Hyper,
        grad: &mut [T],
        losses: &mut [T],
    ) -> Result<()> {
        Err(crate::error::BpropError::InvalidArgument {
            name: "backend",
            value: self.info().to_string(),
            why: "this engine cannot compute the gradient of a shard of a step".into(),
        })
    }

    /// Applies one step of `hyper`'s update rule with the gradient `grad` (laid out as
    /// [`Engine::shard_gradient`] writes it): coupled L2, the optimizer's rule, max-norm,
    /// as [`Engine::train_with`] does after its backward pass, and advances the step.
    ///
    /// # Errors
    /// As [`Engine::shard_gradient`].
    #[allow(unused_variables)]
    fn apply_gradient(&mut self, grad: &[T], hyper: &Hyper) -> Result<()> {
        Err(crate::error::BpropError::InvalidArgument {
            name: "backend",
            value: self.info().to_string(),
            why: "this engine cannot apply a gradient it is given".into(),
        })
    }

    /// Loss and accuracy of `net` on `data` ([`crate::metrics::evaluate`]), which the
    /// trainer calls for its validation set; data-parallel engines
    /// ([`crate::dist::DistEngine`]) evaluate a shard of the rows on each rank and sum.
    ///
    /// # Errors
    /// As [`crate::metrics::evaluate`]; communication errors.
    fn evaluate(&mut self, net: &Network<T>, data: &crate::model::Dataset<T>) -> Result<crate::metrics::Metrics> {
        crate::metrics::evaluate(net, data)
    }

    /// Whether any of the processes training together raised its stop flag: `flag` itself
    /// for one process; data-parallel engines ([`crate::dist::DistEngine`]) agree across
    /// their ranks, so that every rank stops after the same epoch.
    ///
    /// # Errors
    /// Communication errors.
    fn any_stop(&mut self, flag: bool) -> Result<bool> {
        Ok(flag)
    }

    /// The device time of the training calls since the last call of this method, from
    /// the device's timestamp queries: `None` for engines without a device clock (the CPU
    /// path), for devices without timestamp queries, and while timing is off
    /// ([`crate::gpu::GpuEngine::set_timing`]).
    fn take_device_time(&mut self) -> Option<std::time::Duration> {
        None
    }
}

/// Checks the arguments of [`Engine::train_steps`] against a dataset of `n` samples.
pub(crate) fn check_order(order: &[u32], batch: usize, n: usize) -> Result<()> {
    use crate::error::BpropError;
    if batch == 0 {
        return Err(BpropError::InvalidArgument {
            name: "batch_size",
            value: "0".into(),
            why: "must be at least 1".into(),
        });
    }
    if !order.len().is_multiple_of(batch) {
        return Err(BpropError::InvalidArgument {
            name: "order",
            value: format!("{} sample indices", order.len()),
            why: format!("must be a multiple of the batch size {batch}"),
        });
    }
    if let Some(&bad) = order.iter().find(|&&i| i as usize >= n) {
        return Err(BpropError::InvalidArgument {
            name: "order",
            value: bad.to_string(),
            why: format!("sample index out of range for a dataset of {n} samples"),
        });
    }
    Ok(())
}

/// Checks the samples of [`Engine::trace`]: at least one, all in range.
pub(crate) fn check_trace(samples: &[u32], n: usize) -> Result<()> {
    if samples.is_empty() {
        return Err(crate::error::BpropError::InvalidArgument {
            name: "samples",
            value: "[]".into(),
            why: "a trace needs at least one sample".into(),
        });
    }
    check_order(samples, samples.len(), n)
}

/// Checks the arguments of [`Engine::shard_gradient`]: a shard of `rows.len()` rows from
/// row `first_row` inside a batch of `batch`, every index within a dataset of `n` samples.
pub(crate) fn check_shard(rows: &[u32], batch: usize, first_row: usize, n: usize) -> Result<()> {
    use crate::error::BpropError;
    if first_row.checked_add(rows.len()).is_none_or(|end| end > batch) {
        return Err(BpropError::InvalidArgument {
            name: "first_row",
            value: first_row.to_string(),
            why: format!(
                "a shard of {} rows from it does not fit in a batch of {batch}",
                rows.len()
            ),
        });
    }
    if let Some(&bad) = rows.iter().find(|&&i| i as usize >= n) {
        return Err(BpropError::InvalidArgument {
            name: "rows",
            value: bad.to_string(),
            why: format!("sample index out of range for a dataset of {n} samples"),
        });
    }
    Ok(())
}
