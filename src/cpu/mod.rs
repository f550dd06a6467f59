//! The CPU path: forward, backward and update on ndarray, generic over f32 and f64.
//!
//! Samples are rows. For a batch A_0 of shape (B, n_inputs), layer l computes
//!
//! ```text
//! forward   Z_l = A_{l−1} W_lᵀ + 1 b_lᵀ        (B, fan_out)
//!           A_l = f_l(Z_l)                      row-wise for softmax
//! output    Δ_L = ∂E/∂Z_L                       see model::Loss::output_delta
//! hidden    Δ_l = (Δ_{l+1} W_{l+1}) ⊙ f_l'(Z_l)   f' from A_l, see model::Activation
//! gradient  ∂E/∂W_l = Δ_lᵀ A_{l−1} / B,  ∂E/∂b_l = 1ᵀ Δ_l / B   (means over the batch)
//! update    W_l −= η ∂E/∂W_l,  b_l −= η ∂E/∂b_l
//! ```
//!
//! All buffers live in a [`Workspace`] sized once per batch size, so a training step does
//! not allocate after the first one of a given batch size.

use crate::engine::{check_order, check_trace, BackendInfo, BackendKind, Engine, LayerTrace, StepTrace};
use crate::error::Result;
use crate::model::{Dataset, Dropout, Hyper, Network, OptimState, Real, StepValues};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Axis, Zip};

/// Per-layer buffers for one batch size: activations, pre-activations, deltas, gradients.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    /// a_0: the batch's inputs, (B, n_inputs).
    pub input: Array2<T>,
    /// y: the batch's targets, (B, n_outputs).
    pub target: Array2<T>,
    /// z_l per layer, (B, fan_out).
    pub z: Vec<Array2<T>>,
    /// a_l per layer, (B, fan_out).
    pub a: Vec<Array2<T>>,
    /// δ_l per layer, (B, fan_out).
    pub delta: Vec<Array2<T>>,
    /// ∂E/∂W_l per layer, (fan_out, fan_in).
    pub grad_w: Vec<Array2<T>>,
    /// ∂E/∂b_l per layer, (fan_out) (kept even for layers without bias; unused there).
    pub grad_b: Vec<Array1<T>>,
    /// The dropout masks and dropped inputs of the current step; `None` without dropout.
    pub dropout: Option<DropoutBuffers<T>>,
}

/// Per layer l under dropout: the mask m_l on the layer's input (0 or 1/(1 − p)) and the
/// dropped input ã_{l−1} = m_l ⊙ a_{l−1} the layer reads instead of a_{l−1}, (B, fan_in).
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutBuffers<T> {
    /// m_l per layer.
    pub masks: Vec<Array2<T>>,
    /// ã_{l−1} per layer.
    pub dropped: Vec<Array2<T>>,
}

impl<T: Real> Workspace<T> {
    /// Buffers for batches of `batch` samples through `net`.
    pub fn new(net: &Network<T>, batch: usize) -> Self {
        let layers = net.layers();
        let rows = |l: usize| Array2::zeros((batch, layers[l].fan_out()));
        Workspace {
            input: Array2::zeros((batch, net.inputs())),
            target: Array2::zeros((batch, net.outputs())),
            z: (0..layers.len()).map(rows).collect(),
            a: (0..layers.len()).map(rows).collect(),
            delta: (0..layers.len()).map(rows).collect(),
            grad_w: layers.iter().map(|l| Array2::zeros(l.weights.dim())).collect(),
            grad_b: layers.iter().map(|l| Array1::zeros(l.fan_out())).collect(),
            dropout: None,
        }
    }

    /// Draws the dropout masks of training step `step` (see model::Dropout), or switches
    /// dropout off with `None`. Call before [`forward`]; the masks stay for [`backward`].
    pub fn set_dropout(&mut self, net: &Network<T>, dropout: Option<&Dropout>, step: u32) {
        let Some(d) = dropout else {
            self.dropout = None;
            return;
        };
        let batch = self.batch();
        let buffers = self.dropout.get_or_insert_with(|| {
            let shapes: Vec<_> = net.layers().iter().map(|l| (batch, l.fan_in())).collect();
            DropoutBuffers {
                masks: shapes.iter().map(|&s| Array2::zeros(s)).collect(),
                dropped: shapes.iter().map(|&s| Array2::zeros(s)).collect(),
            }
        });
        for (l, mask) in buffers.masks.iter_mut().enumerate() {
            let scale = T::of(1.0 / (1.0 - d.p(l)));
            for ((r, j), m) in mask.indexed_iter_mut() {
                *m = if d.keep(step, l as u32, r as u32, j as u32) {
                    scale
                } else {
                    T::zero()
                };
            }
        }
    }

    /// The batch size these buffers hold.
    pub fn batch(&self) -> usize {
        self.input.nrows()
    }

    /// Copies the samples `idx` of `data` into `input` and `target`.
    pub fn gather(&mut self, data: &Dataset<T>, idx: &[u32]) {
        for (r, &i) in idx.iter().enumerate() {
            self.input.row_mut(r).assign(&data.inputs().row(i as usize));
            self.target.row_mut(r).assign(&data.targets().row(i as usize));
        }
    }
}

/// Forward pass: fills `ws.z` and `ws.a` from `ws.input` (and, under dropout, the
/// dropped inputs ã_{l−1} = m_l ⊙ a_{l−1} each layer reads instead of a_{l−1}).
pub fn forward<T: Real>(net: &Network<T>, ws: &mut Workspace<T>) {
    for (l, layer) in net.layers().iter().enumerate() {
        let z = &mut ws.z[l];
        let mut a_prev = if l == 0 { &ws.input } else { &ws.a[l - 1] };
        if let Some(DropoutBuffers { masks, dropped }) = &mut ws.dropout {
            Zip::from(&mut dropped[l])
                .and(&masks[l])
                .and(a_prev)
                .for_each(|d, &m, &a| *d = m * a);
            a_prev = &dropped[l];
        }
        // Z = A_prev Wᵀ (+ b on every row)
        general_mat_mul(T::one(), a_prev, &layer.weights.t(), T::zero(), z);
        if let Some(b) = &layer.bias {
            *z += b;
        }
        let a = &mut ws.a[l];
        for (zr, mut ar) in z.rows().into_iter().zip(a.rows_mut()) {
            layer.activation.apply_row(
                zr.as_slice().expect("standard layout"),
                ar.as_slice_mut().expect("standard layout"),
            );
        }
    }
}

/// The batch's mean loss, from `ws.z`, `ws.a` and `ws.target` after [`forward`].
pub fn loss<T: Real>(net: &Network<T>, ws: &Workspace<T>) -> T {
    let last = net.layers().len() - 1;
    let (z, a, y) = (&ws.z[last], &ws.a[last], &ws.target);
    let total: T = (0..ws.batch())
        .map(|r| {
            net.loss().value(
                z.row(r).as_slice().expect("standard layout"),
                a.row(r).as_slice().expect("standard layout"),
                y.row(r).as_slice().expect("standard layout"),
            )
        })
        .sum();
    total / T::of(ws.batch() as f64)
}

/// Backward pass after [`forward`]: fills `ws.delta`, `ws.grad_w` and `ws.grad_b`.
pub fn backward<T: Real>(net: &Network<T>, ws: &mut Workspace<T>) {
    let layers = net.layers();
    let last = layers.len() - 1;
    let out_act = layers[last].activation;
    for r in 0..ws.batch() {
        net.loss().output_delta(
            out_act,
            ws.a[last].row(r).as_slice().expect("standard layout"),
            ws.target.row(r).as_slice().expect("standard layout"),
            ws.delta[last].row_mut(r).into_slice().expect("standard layout"),
        );
    }
    for l in (0..last).rev() {
        let (lower, upper) = ws.delta.split_at_mut(l + 1);
        // Δ_l = Δ_{l+1} W_{l+1}: (B, fan_out_{l+1}) · (fan_out_{l+1}, fan_out_l)
        general_mat_mul(T::one(), &upper[0], &layers[l + 1].weights, T::zero(), &mut lower[l]);
        // ⊙ m_{l+1} under dropout: ã_l = m_{l+1} ⊙ a_l, so ∂ã_l/∂a_l = m_{l+1}
        if let Some(DropoutBuffers { masks, .. }) = &ws.dropout {
            Zip::from(&mut lower[l])
                .and(&masks[l + 1])
                .for_each(|d, &m| *d = *d * m);
        }
        // ⊙ f_l'(z_l), computed from a_l
        let act = layers[l].activation;
        Zip::from(&mut lower[l])
            .and(&ws.a[l])
            .for_each(|d, &a| *d = *d * act.derivative_from_output(a));
    }
    let inv_b = T::one() / T::of(ws.batch() as f64);
    for l in 0..=last {
        let a_prev = match &ws.dropout {
            Some(DropoutBuffers { dropped, .. }) => &dropped[l],
            None if l == 0 => &ws.input,
            None => &ws.a[l - 1],
        };
        // ∂E/∂W_l = Δ_lᵀ A_{l−1} / B  (the dropped input under dropout)
        general_mat_mul(inv_b, &ws.delta[l].t(), a_prev, T::zero(), &mut ws.grad_w[l]);
        // ∂E/∂b_l = column sums of Δ_l / B
        let gb = &mut ws.grad_b[l];
        gb.fill(T::zero());
        for row in ws.delta[l].axis_iter(Axis(0)) {
            *gb += &row;
        }
        gb.mapv_inplace(|v| v * inv_b);
    }
}

/// Gradient-descent update W −= η ∂E/∂W, b −= η ∂E/∂b from the gradients in `ws`.
pub fn sgd_update<T: Real>(net: &mut Network<T>, ws: &Workspace<T>, lr: T) {
    for (l, layer) in net.layers_mut().iter_mut().enumerate() {
        layer.weights.scaled_add(-lr, &ws.grad_w[l]);
        if let Some(b) = &mut layer.bias {
            b.scaled_add(-lr, &ws.grad_b[l]);
        }
    }
}

/// One update by `hyper`'s rule (model::optim) from the gradients in `ws`, with the step's
/// values `k`: coupled L2 decay g ← g + λ W on weights, the optimizer's per-parameter rule,
/// then max-norm ‖W[i, :]‖₂ ≤ c per neuron. Advances `state.step`.
pub fn optimizer_update<T: Real>(
    net: &mut Network<T>,
    ws: &Workspace<T>,
    hyper: &Hyper,
    state: &mut OptimState<T>,
    k: &StepValues<T>,
) {
    let opt = hyper.optimizer;
    let lambda = T::of(hyper.weight_decay);
    for (l, layer) in net.layers_mut().iter_mut().enumerate() {
        let [s0, s1] = &mut state.weights[l];
        Zip::from(&mut layer.weights)
            .and(&ws.grad_w[l])
            .and(s0)
            .and(s1)
            .for_each(|p, &g, s0, s1| {
                // ∂(E + ½λ‖W‖²)/∂W = ∂E/∂W + λ W
                let g = g + lambda * *p;
                opt.apply(p, g, s0, s1, k, true);
            });
        if let Some(b) = &mut layer.bias {
            let [s0, s1] = &mut state.bias[l];
            Zip::from(b)
                .and(&ws.grad_b[l])
                .and(s0)
                .and(s1)
                .for_each(|p, &g, s0, s1| opt.apply(p, g, s0, s1, k, false));
        }
        if let Some(c) = hyper.max_norm {
            let c = T::of(c);
            for mut row in layer.weights.rows_mut() {
                let norm = row.iter().map(|&w| w * w).sum::<T>().sqrt();
                if norm > c {
                    row.mapv_inplace(|w| w * (c / norm));
                }
            }
        }
    }
    state.step += 1;
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
    ws: Workspace<T>,
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
        let ws = Workspace::new(&net, 1);
        let info = BackendInfo {
            kind: BackendKind::Cpu,
            name: "ndarray".into(),
            api: "ndarray".into(),
            device_type: "host".into(),
            precision: T::NAME,
        };
        Ok(CpuEngine {
            net,
            data,
            ws,
            info,
            opt: None,
        })
    }

    /// The parameters, without a copy.
    pub fn network_ref(&self) -> &Network<T> {
        &self.net
    }

    fn workspace_for(&mut self, batch: usize) {
        if self.ws.batch() != batch {
            self.ws = Workspace::new(&self.net, batch);
        }
    }
}

impl<T: Real> Engine<T> for CpuEngine<T> {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>> {
        check_order(order, batch, self.data.len())?;
        hyper.validate()?;
        self.workspace_for(batch);
        let state = match &mut self.opt {
            Some(s) if s.optimizer == hyper.optimizer => s,
            slot => slot.insert(OptimState::new(hyper.optimizer, &self.net)),
        };
        let mut losses = Vec::with_capacity(order.len() / batch);
        for idx in order.chunks_exact(batch) {
            self.ws.gather(&self.data, idx);
            self.ws
                .set_dropout(&self.net, hyper.dropout.as_ref(), state.step as u32);
            forward(&self.net, &mut self.ws);
            losses.push(loss(&self.net, &self.ws));
            backward(&self.net, &mut self.ws);
            let k = hyper.step_values(state.step).cast::<T>();
            optimizer_update(&mut self.net, &self.ws, hyper, state, &k);
        }
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
        self.opt = state.cloned();
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

    fn trace(&mut self, samples: &[u32]) -> Result<StepTrace<T>> {
        check_trace(samples, self.data.len())?;
        self.workspace_for(samples.len());
        self.ws.gather(&self.data, samples);
        self.ws.set_dropout(&self.net, None, 0);
        forward(&self.net, &mut self.ws);
        let loss = loss(&self.net, &self.ws);
        backward(&self.net, &mut self.ws);
        let ws = &self.ws;
        Ok(StepTrace {
            inputs: ws.input.clone(),
            targets: ws.target.clone(),
            layers: (0..ws.z.len())
                .map(|l| LayerTrace {
                    z: ws.z[l].clone(),
                    a: ws.a[l].clone(),
                    delta: ws.delta[l].clone(),
                    grad_w: ws.grad_w[l].clone(),
                    grad_b: self.net.layers()[l].bias.as_ref().map(|_| ws.grad_b[l].clone()),
                })
                .collect(),
            loss,
        })
    }
}
