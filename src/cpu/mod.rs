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

use crate::engine::{check_order, BackendInfo, BackendKind, Engine, LayerTrace, StepTrace};
use crate::error::Result;
use crate::model::{Dataset, Network, Real};
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

/// Forward pass: fills `ws.z` and `ws.a` from `ws.input`.
pub fn forward<T: Real>(net: &Network<T>, ws: &mut Workspace<T>) {
    for (l, layer) in net.layers().iter().enumerate() {
        let z = &mut ws.z[l];
        let a_prev = if l == 0 { &ws.input } else { &ws.a[l - 1] };
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
        // ⊙ f_l'(z_l), computed from a_l
        let act = layers[l].activation;
        Zip::from(&mut lower[l])
            .and(&ws.a[l])
            .for_each(|d, &a| *d = *d * act.derivative_from_output(a));
    }
    let inv_b = T::one() / T::of(ws.batch() as f64);
    for l in 0..=last {
        let a_prev = if l == 0 { &ws.input } else { &ws.a[l - 1] };
        // ∂E/∂W_l = Δ_lᵀ A_{l−1} / B
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

/// The CPU path as an [`Engine`].
#[derive(Clone, Debug)]
pub struct CpuEngine<T: Real> {
    net: Network<T>,
    data: Dataset<T>,
    ws: Workspace<T>,
    info: BackendInfo,
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
        Ok(CpuEngine { net, data, ws, info })
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

    fn train_steps(&mut self, order: &[u32], batch: usize, lr: T) -> Result<Vec<T>> {
        check_order(order, batch, self.data.len())?;
        self.workspace_for(batch);
        let mut losses = Vec::with_capacity(order.len() / batch);
        for idx in order.chunks_exact(batch) {
            self.ws.gather(&self.data, idx);
            forward(&self.net, &mut self.ws);
            losses.push(loss(&self.net, &self.ws));
            backward(&self.net, &mut self.ws);
            sgd_update(&mut self.net, &self.ws, lr);
        }
        Ok(losses)
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
        check_order(samples, samples.len().max(1), self.data.len())?;
        self.workspace_for(samples.len());
        self.ws.gather(&self.data, samples);
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
