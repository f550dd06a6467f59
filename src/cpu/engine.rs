//! The CPU path as an [`Engine`]: [`CpuEngine`] and its training loop, and [`predict`].

use super::arith::{has_fma, Fma, MulAdd, Separate};
use super::buffers::Flat;
use super::buffers::{Aligned, Buffers, Rows, VecBuffers, Workspace};
use super::online::online_step;
use super::passes::{backward, backward_scaled, forward, forward_with, loss, sample_losses};
use super::update::{backward_update_with, optimizer_update};
use crate::engine::{check_order, check_shard, check_trace, BackendInfo, Engine, LayerTrace, StepTrace};
use crate::error::Result;
use crate::model::{Dataset, Hyper, Network, OptimState, Real};
use ndarray::{Array1, Array2};

/// The training loop of [`CpuEngine::train_into`], with the products' rounding `R`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn train_steps_with<R: MulAdd, T: Real>(
    net: &mut Network<T>,
    buf: &mut VecBuffers<T>,
    (x, y, n_in, n_out): Rows<'_, T>,
    order: &[u32],
    batch: usize,
    hyper: &Hyper,
    state: &mut OptimState<T>,
    losses: &mut Vec<T>,
) {
    // η and Adam's bias corrections change from step to step only under a schedule or
    // with Adam; otherwise the values of step 0 serve every step.
    let varies = hyper.step_values_vary();
    let mut k = hyper.step_values(state.step).cast::<T>();
    if batch == 1 && hyper.dropout.is_none() {
        for idx in order.chunks_exact(1) {
            buf.gather_rows(x, y, n_in, n_out, idx);
            if varies {
                k = hyper.step_values(state.step).cast::<T>();
            }
            losses.push(online_step::<R, T>(net, buf, hyper, state, &k));
        }
        return;
    }
    for idx in order.chunks_exact(batch) {
        buf.gather_rows(x, y, n_in, n_out, idx);
        if let Some(d) = &hyper.dropout {
            buf.set_dropout(net, Some(d), state.step as u32);
        }
        forward_with::<R, T, _, _>(net, buf);
        losses.push(loss(net, buf));
        if varies {
            k = hyper.step_values(state.step).cast::<T>();
        }
        backward_update_with::<R, T>(net, buf, hyper, state, &k);
    }
}

/// Inference: the network's outputs for every row of `x` (n, n_inputs), computed in
/// batches of `batch` rows with nothing kept but the outputs (n, n_outputs).
///
/// # Errors
/// [`crate::BpropError::Shape`] when `x` has the wrong number of columns.
pub fn predict<T: Real>(net: &Network<T>, x: ndarray::ArrayView2<'_, T>, batch: usize) -> Result<Array2<T>> {
    if x.ncols() != net.inputs() {
        return Err(crate::BpropError::shape(
            "inputs (columns = network inputs)",
            (x.nrows(), net.inputs()),
            x.dim(),
        ));
    }
    let batch = batch.max(1);
    let mut out = Array2::zeros((x.nrows(), net.outputs()));
    let mut ws = Workspace::new(net, batch.min(x.nrows().max(1)));
    for (start, rows) in (0..x.nrows()).step_by(batch).map(|s| (s, batch.min(x.nrows() - s))) {
        if ws.batch() != rows {
            ws = Workspace::new(net, rows);
        }
        ws.input.assign(&x.slice(ndarray::s![start..start + rows, ..]));
        forward(net, &mut ws);
        out.slice_mut(ndarray::s![start..start + rows, ..])
            .assign(&ws.a[ws.a.len() - 1]);
    }
    Ok(out)
}

/// The CPU path as an [`Engine`].
#[derive(Clone, Debug)]
pub struct CpuEngine<T: Real> {
    net: Network<T>,
    data: Dataset<T>,
    buf: VecBuffers<T>,
    info: BackendInfo,
    opt: Option<OptimState<T>>,
}

impl<T: Real> CpuEngine<T> {
    /// An engine training `net` on `data`.
    ///
    /// # Errors
    /// The errors of [`Dataset::check_fits`].
    pub fn new(net: Network<T>, data: Dataset<T>) -> Result<Self> {
        data.check_fits(&net)?;
        let buf = Buffers::new(&net, 1);
        let info = BackendInfo::cpu::<T>();
        Ok(CpuEngine {
            net,
            data,
            buf,
            info,
            opt: None,
        })
    }

    /// The parameters, without a copy.
    pub fn network_ref(&self) -> &Network<T> {
        &self.net
    }

    fn buffers_for(&mut self, batch: usize) {
        if self.buf.batch() != batch {
            self.buf = Buffers::new(&self.net, batch);
        }
    }

    /// [`Engine::train_with`], appending each step's loss to `losses` instead of returning
    /// a new vector. When `losses` has room for them, a call allocates nothing after the
    /// first call with the same batch size, optimizer and dropout setting, however many
    /// steps it runs (on CPUs with AVX2 and FMA; elsewhere large products go to
    /// matrixmultiply, which allocates a packing buffer per product).
    ///
    /// # Errors
    /// As [`Engine::train_with`].
    pub fn train_into(&mut self, order: &[u32], batch: usize, hyper: &Hyper, losses: &mut Vec<T>) -> Result<()> {
        check_order(order, batch, self.data.len())?;
        hyper.validate()?;
        self.buffers_for(batch);
        let state = match &mut self.opt {
            Some(s) if s.optimizer == hyper.optimizer => s,
            slot => slot.insert(OptimState::new(hyper.optimizer, &self.net)),
        };
        losses.reserve(order.len() / batch);
        if hyper.dropout.is_none() {
            self.buf.set_dropout(&self.net, None, 0);
        }
        let (x, y) = (self.data.inputs(), self.data.targets());
        let (n_in, n_out) = (x.ncols(), y.ncols());
        let x = x.as_slice().expect("datasets are in standard layout");
        let y = y.as_slice().expect("datasets are in standard layout");
        let (net, buf) = (&mut self.net, &mut self.buf);
        let data = (x, y, n_in, n_out);
        #[cfg(target_arch = "x86_64")]
        if has_fma() {
            // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
            unsafe { avx2_fma::train_steps(net, buf, data, order, batch, hyper, state, losses) };
            return Ok(());
        }
        if has_fma() {
            train_steps_with::<Fma, T>(net, buf, data, order, batch, hyper, state, losses);
        } else {
            train_steps_with::<Separate, T>(net, buf, data, order, batch, hyper, state, losses);
        }
        Ok(())
    }
}

impl<T: Real> Engine<T> for CpuEngine<T> {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>> {
        let mut losses = Vec::with_capacity(order.len() / batch.max(1));
        self.train_into(order, batch, hyper, &mut losses)?;
        Ok(losses)
    }

    fn optimizer_state(&mut self) -> Result<Option<OptimState<T>>> {
        Ok(self.opt.clone())
    }

    fn set_optimizer_state(&mut self, state: Option<&OptimState<T>>) -> Result<()> {
        if let Some(s) = state {
            if !s.fits(&self.net) {
                return Err(crate::BpropError::shape(
                    "optimizer state (per-layer weight shapes)",
                    self.net.sizes(),
                    s.weights.iter().map(|[w, _]| w.dim()).collect::<Vec<_>>(),
                ));
            }
        }
        // The update reads the slots as contiguous slices.
        let standard2 = |a: &Array2<T>| a.as_standard_layout().into_owned();
        let standard1 = |a: &Array1<T>| a.as_standard_layout().into_owned();
        self.opt = state.map(|s| OptimState {
            optimizer: s.optimizer,
            step: s.step,
            weights: s.weights.iter().map(|[a, b]| [standard2(a), standard2(b)]).collect(),
            bias: s.bias.iter().map(|[a, b]| [standard1(a), standard1(b)]).collect(),
        });
        Ok(())
    }

    fn network(&mut self) -> Result<Network<T>> {
        Ok(self.net.clone())
    }

    fn set_network(&mut self, net: &Network<T>) -> Result<()> {
        self.net.check_same_shape(net)?;
        self.net = net.clone();
        Ok(())
    }

    fn shard_gradient(
        &mut self,
        rows: &[u32],
        batch: usize,
        first_row: usize,
        hyper: &Hyper,
        grad: &mut [T],
        losses: &mut [T],
    ) -> Result<()> {
        check_shard(rows, batch, first_row, self.data.len())?;
        let n_params = self.net.n_params();
        if grad.len() != n_params {
            return Err(crate::BpropError::shape("gradient (parameters)", n_params, grad.len()));
        }
        if losses.len() != rows.len() {
            return Err(crate::BpropError::shape(
                "losses (shard rows)",
                rows.len(),
                losses.len(),
            ));
        }
        hyper.validate()?;
        if rows.is_empty() {
            grad.fill(T::zero());
            return Ok(());
        }
        let step = match &self.opt {
            Some(s) if s.optimizer == hyper.optimizer => s.step,
            _ => 0,
        };
        self.buffers_for(rows.len());
        self.buf.gather(&self.data, rows);
        self.buf
            .set_dropout_at(&self.net, hyper.dropout.as_ref(), step as u32, first_row);
        forward(&self.net, &mut self.buf);
        sample_losses(&self.net, &self.buf, losses);
        // ∂E/∂θ of the batch's mean loss, restricted to these rows: Σ_rows / B
        backward_scaled(&self.net, &mut self.buf, T::one() / T::of(batch as f64));
        let mut at = 0;
        for (l, layer) in self.net.layers().iter().enumerate() {
            let w = self.buf.grad_w[l].flat();
            grad[at..at + w.len()].copy_from_slice(w);
            at += w.len();
            if layer.bias.is_some() {
                let b = self.buf.grad_b[l].flat();
                grad[at..at + b.len()].copy_from_slice(b);
                at += b.len();
            }
        }
        Ok(())
    }

    fn apply_gradient(&mut self, grad: &[T], hyper: &Hyper) -> Result<()> {
        let n_params = self.net.n_params();
        if grad.len() != n_params {
            return Err(crate::BpropError::shape("gradient (parameters)", n_params, grad.len()));
        }
        hyper.validate()?;
        let state = match &mut self.opt {
            Some(s) if s.optimizer == hyper.optimizer => s,
            slot => slot.insert(OptimState::new(hyper.optimizer, &self.net)),
        };
        let mut at = 0;
        for (l, layer) in self.net.layers().iter().enumerate() {
            let w = self.buf.grad_w[l].flat_mut();
            let len = w.len();
            w.copy_from_slice(&grad[at..at + len]);
            at += len;
            if layer.bias.is_some() {
                let b = self.buf.grad_b[l].flat_mut();
                let len = b.len();
                b.copy_from_slice(&grad[at..at + len]);
                at += len;
            }
        }
        let k = hyper.step_values(state.step).cast::<T>();
        optimizer_update(&mut self.net, &self.buf, hyper, state, &k);
        Ok(())
    }

    fn trace(&mut self, samples: &[u32]) -> Result<StepTrace<T>> {
        check_trace(samples, self.data.len())?;
        self.buffers_for(samples.len());
        self.buf.gather(&self.data, samples);
        self.buf.set_dropout(&self.net, None, 0);
        forward(&self.net, &mut self.buf);
        let loss = loss(&self.net, &self.buf);
        backward(&self.net, &mut self.buf);
        let buf = &self.buf;
        let matrix = |v: &Aligned<T>, cols: usize| {
            Array2::from_shape_vec((v.len() / cols, cols), v.to_vec()).expect("buffers hold whole rows")
        };
        Ok(StepTrace {
            inputs: matrix(&buf.input, self.net.inputs()),
            targets: matrix(&buf.target, self.net.outputs()),
            layers: self
                .net
                .layers()
                .iter()
                .enumerate()
                .map(|(l, layer)| LayerTrace {
                    z: matrix(&buf.z[l], layer.fan_out()),
                    a: matrix(&buf.a[l], layer.fan_out()),
                    delta: matrix(&buf.delta[l], layer.fan_out()),
                    grad_w: matrix(&buf.grad_w[l], layer.fan_in()),
                    grad_b: layer.bias.as_ref().map(|_| Array1::from(buf.grad_b[l].to_vec())),
                })
                .collect(),
            loss,
        })
    }
}

/// The training loop compiled with AVX2 and FMA, as the passes are (`passes.rs`): the
/// products' multiply-adds rounded once ([`Fma`]) become single instructions, with the
/// same arithmetic. Call only after [`has_fma`] returned true.
#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn train_steps<T: Real>(
        net: &mut Network<T>,
        buf: &mut VecBuffers<T>,
        data: Rows<'_, T>,
        order: &[u32],
        batch: usize,
        hyper: &Hyper,
        state: &mut OptimState<T>,
        losses: &mut Vec<T>,
    ) {
        train_steps_with::<Fma, T>(net, buf, data, order, batch, hyper, state, losses);
    }
}
