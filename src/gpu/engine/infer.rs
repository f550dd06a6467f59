//! The forward-only route of inference (`bprop eval`, `bprop predict`,
//! `driver::infer`): the engine's dataset (uploaded once, when the engine was built) is
//! run through the forward passes in batches of [`INFER_ROWS`] rows, many batches in one
//! submission; after each batch its output rows are copied to an outputs buffer on the
//! device, and at the end of the submission only those outputs (and, when asked, the
//! per-sample losses from the output delta pass) are read back. No delta, gradient or
//! update pass runs, and no intermediate is read.

use super::buffers::upload;
use super::record::Work;
use super::{bytes_of, make_bindings, GpuEngine, ParamsKey, Shared, STEPS_PER_SUBMISSION};
use crate::error::{BpropError, Result};
use crate::model::Real;
use ndarray::{s, Array2, ArrayView2};

/// Rows per forward batch of the inference route: large enough that the tiled kernels'
/// 64-row tiles are full and a submission holds up to a million rows; its activation
/// buffers take `INFER_ROWS` × the widest layer × 3 values.
pub const INFER_ROWS: usize = 1024;

/// What [`GpuEngine::infer`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuInference<T> {
    /// The outputs of every sample of the engine's dataset, (n, outputs).
    pub outputs: Array2<T>,
    /// Each sample's loss against the dataset's targets, when asked for.
    pub losses: Option<Vec<T>>,
}

impl<T: Real> GpuEngine<T> {
    /// The network's outputs for every sample of the engine's dataset, in order, and with
    /// `with_loss` each sample's loss against its targets, computed by the same forward
    /// and output passes as training (no dropout).
    ///
    /// # Errors
    /// [`crate::BpropError::Gpu`] from the device or its limits.
    pub fn infer(&mut self, with_loss: bool) -> Result<GpuInference<T>> {
        self.forward_rows(self.n_samples, with_loss, false)
    }

    /// The network's outputs for the rows of `x` (n, inputs), and with targets `y`
    /// (n, outputs) each row's loss: [`GpuEngine::infer`] for rows that are not the
    /// engine's dataset. The rows are uploaded in chunks that fit the adapter's largest
    /// storage binding (lavapipe's is 128 MiB: 42 000 rows of 784 f32 inputs), each chunk
    /// run as `infer` runs the dataset.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when `x` or `y` does not fit the network;
    /// [`BpropError::Gpu`] from the device or its limits.
    pub fn infer_rows(&mut self, x: ArrayView2<'_, T>, y: Option<ArrayView2<'_, T>>) -> Result<GpuInference<T>> {
        let (n, n_in, n_out) = (x.nrows(), self.net.inputs(), self.net.outputs());
        if x.ncols() != n_in {
            return Err(BpropError::shape("inference rows (columns)", n_in, x.ncols()));
        }
        if let Some(y) = &y {
            if y.dim() != (n, n_out) {
                return Err(BpropError::shape("inference targets", (n, n_out), y.dim()));
            }
        }
        let size = std::mem::size_of::<T>();
        let limit = self.ctx.limits.max_storage_buffer_binding_size as usize;
        let chunk = (limit / (n_in.max(n_out) * size)).clamp(1, STEPS_PER_SUBMISSION * INFER_ROWS);
        let mut outputs = Array2::zeros((n, n_out));
        let mut losses = y.is_some().then(|| Vec::with_capacity(n));
        let mut first = 0;
        while first < n {
            let rows = chunk.min(n - first);
            self.ensure_params(ParamsKey {
                batch: INFER_ROWS.min(rows),
                drop_input: 0,
                drop_hidden: 0,
                ..self.params_key
            })?;
            let upload = |label: &str, values: ArrayView2<'_, T>| -> Result<wgpu::Buffer> {
                let v = values.as_standard_layout();
                let usage = wgpu::BufferUsages::STORAGE;
                upload(&self.ctx, label, v.as_slice().expect("standard layout"), usage)
            };
            let span = first..first + rows;
            let shared = Shared {
                x: upload("inference rows", x.slice(s![span.clone(), ..]))?,
                y: match &y {
                    Some(y) => upload("inference targets", y.slice(s![span.clone(), ..]))?,
                    None => upload("inference targets", Array2::<T>::zeros((1, 1)).view())?,
                },
                ..self.shared.clone()
            };
            self.infer_bindings = Some(make_bindings(&self.ctx, &self.kernels, &self.layers, &shared));
            let result = self.forward_rows(rows, y.is_some(), true);
            self.infer_bindings = None;
            let result = result?;
            outputs.slice_mut(s![span, ..]).assign(&result.outputs);
            if let (Some(l), Some(r)) = (&mut losses, result.losses) {
                l.extend(r);
            }
            first += rows;
        }
        Ok(GpuInference { outputs, losses })
    }

    /// Runs rows 0..n of the dataset (or, with `external`, of the inference buffers)
    /// through the forward passes in batches of [`INFER_ROWS`], many per submission.
    fn forward_rows(&mut self, n: usize, with_loss: bool, external: bool) -> Result<GpuInference<T>> {
        let n_out = self.net.outputs();
        let batch = INFER_ROWS.min(n.max(1));
        self.ensure_params(ParamsKey {
            batch,
            drop_input: 0,
            drop_hidden: 0,
            ..self.params_key
        })?;
        let mut outputs = Array2::zeros((n, n_out));
        let mut losses = with_loss.then(|| Vec::with_capacity(n));
        let per_submission = STEPS_PER_SUBMISSION * batch;
        let mut first = 0;
        while first < n {
            let rows = per_submission.min(n - first);
            let steps = rows.div_ceil(batch);
            // The last batch is padded with copies of its first row, whose results are
            // not read.
            let order: Vec<u32> = (0..steps * batch)
                .map(|i| (first + if i < rows { i } else { 0 }) as u32)
                .collect();
            let out_bytes = bytes_of::<T>(steps * batch * n_out);
            if self.outputs.as_ref().is_none_or(|b| b.size() < out_bytes) {
                self.ctx.check_storage_size("inference outputs", out_bytes)?;
                self.outputs = Some(self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("inference outputs"),
                    size: out_bytes,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }));
            }
            let out_buf = self.outputs.clone().expect("just sized");
            let loss_buf = self.shared.loss.clone();
            let mut reads = vec![(&out_buf, 0, rows * n_out)];
            if with_loss {
                reads.push((&loss_buf, 0, rows));
            }
            let values = self.submit(
                &order,
                Work::Forward {
                    steps,
                    loss: with_loss,
                    external,
                },
                &reads,
            )?;
            let block = Array2::from_shape_vec((rows, n_out), values[0].clone()).expect("rows × outputs read");
            outputs.slice_mut(s![first..first + rows, ..]).assign(&block);
            if let Some(l) = &mut losses {
                l.extend_from_slice(&values[1]);
            }
            first += rows;
        }
        Ok(GpuInference { outputs, losses })
    }
}
