//! The forward-only route of inference (`bprop eval`, `bprop predict`,
//! `driver::infer`): the engine's dataset (uploaded once, when the engine was built) is
//! run through the forward passes in batches of [`INFER_ROWS`] rows, many batches in one
//! submission; after each batch its output rows are copied to an outputs buffer on the
//! device, and at the end of the submission only those outputs (and, when asked, the
//! per-sample losses from the output delta pass) are read back. No delta, gradient or
//! update pass runs, and no intermediate is read.

use super::record::Work;
use super::{bytes_of, GpuEngine, ParamsKey, STEPS_PER_SUBMISSION};
use crate::error::Result;
use crate::model::Real;
use ndarray::Array2;

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
        let n = self.n_samples;
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
            let values = self.submit(&order, Work::Forward { steps, loss: with_loss }, &reads)?;
            let block = Array2::from_shape_vec((rows, n_out), values[0].clone()).expect("rows × outputs read");
            outputs.slice_mut(ndarray::s![first..first + rows, ..]).assign(&block);
            if let Some(l) = &mut losses {
                l.extend_from_slice(&values[1]);
            }
            first += rows;
        }
        Ok(GpuInference { outputs, losses })
    }
}
