//! Synchronous data-parallel training: N processes (ranks) train one model, as PyTorch's
//! DistributedDataParallel and Horovod do.
//!
//! Every rank holds the whole dataset and the same parameters. Each step's global batch
//! of B rows (the same order on every rank, from the seed) is split into N contiguous
//! shards ([`shard`]); each rank computes the gradient of its rows, summed and divided by B
//! ([`Engine::shard_gradient`]); one all-reduce sums the shards' gradients, and with them
//! the per-sample losses (each rank fills its rows' slots, the others hold 0, so every
//! loss arrives exactly); every rank then applies the same update to the same gradient
//! ([`Engine::apply_gradient`]), so the parameters stay identical, step after step. The
//! batch's mean gradient is the single process's up to the order of its sums (within
//! 1e-12 relative in f64), and its losses are bit for bit the single process's. Dropout
//! masks are keyed by the row of the global batch, so they are the single process's too.
//!
//! [`DistEngine`] wraps a rank's own engine (the CPU path, or any engine that implements
//! the split) as an [`Engine`], so the training loop, checkpoints, validation, early
//! stopping and resuming of [`crate::driver::Trainer`] run unchanged on every rank
//! ([`crate::driver::Trainer::from_engine`]). The communication is behind [`Collective`]:
//! [`Local`] is one process; with the `mpi` cargo feature, `Mpi` is MPI's world
//! communicator (rsmpi over the system's MPI, under `mpirun`).

#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;

use crate::cpu::CpuEngine;
use crate::driver::{auto_choice, BackendChoice, Workload};
use crate::engine::{BackendInfo, Engine, StepTrace};
use crate::error::{BpropError, Result};
use crate::gpu::{AdapterRequest, GpuContext, GpuEngine};
use crate::metrics::{self, Metrics};
use crate::model::{Dataset, Hyper, Network, OptimState, Precision, Real};
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The number of processes an MPI launcher (`mpirun`, `mpiexec`, `srun`) started this one
/// among, from the variables it sets: Open MPI's `OMPI_COMM_WORLD_SIZE`, or `PMI_SIZE` of
/// the process managers MPICH and Slurm use; `None` outside a launcher.
pub fn launcher_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
}

/// The collective operations data-parallel training needs, over a group of ranks that
/// all call them in the same order.
pub trait Collective {
    /// This process's rank, 0-based.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn size(&self) -> usize;

    /// This process's rank among the ranks on its node (machine), which picks its GPU.
    fn node_rank(&self) -> usize {
        self.rank()
    }

    /// Replaces `buf` on every rank by the element-wise sum of every rank's `buf`.
    ///
    /// # Errors
    /// [`BpropError::Distributed`] when the communication fails.
    fn sum_f32(&self, buf: &mut [f32]) -> Result<()>;

    /// [`Collective::sum_f32`] in f64.
    ///
    /// # Errors
    /// As [`Collective::sum_f32`].
    fn sum_f64(&self, buf: &mut [f64]) -> Result<()>;

    /// Replaces `buf` on every rank by rank 0's.
    ///
    /// # Errors
    /// As [`Collective::sum_f32`].
    fn broadcast_f64(&self, buf: &mut [f64]) -> Result<()>;

    /// Ends every rank of the group with exit status `code` (MPI_Abort), after this rank
    /// has printed why.
    fn abort(&self, code: i32) -> !;
}

/// One process: sums and broadcasts leave the buffer as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn sum_f64(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn broadcast_f64(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// [`Collective::sum_f32`] or [`Collective::sum_f64`], by `T`.
///
/// # Errors
/// As [`Collective::sum_f32`].
pub fn sum<T: Real>(comm: &dyn Collective, buf: &mut [T]) -> Result<()> {
    match T::PRECISION {
        Precision::F32 => comm.sum_f32(bytemuck::cast_slice_mut(buf)),
        Precision::F64 => comm.sum_f64(bytemuck::cast_slice_mut(buf)),
    }
}

/// The rows of a global batch of `batch` rows that rank `rank` of `ranks` computes: N
/// contiguous shards, the first `batch mod N` one row longer (as NumPy's `array_split`),
/// so that B not divisible by N still uses every row once. Ranks beyond B rows get none.
pub fn shard(batch: usize, ranks: usize, rank: usize) -> Range<usize> {
    let (base, extra) = (batch / ranks, batch % ranks);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// Checks that every rank holds the same `values` (rank 0's are broadcast and compared);
/// the error names the first rank that differs, and what.
///
/// # Errors
/// [`BpropError::Distributed`] naming the first rank whose values differ from rank 0's,
/// with `what`; communication errors.
pub fn check_agree(comm: &dyn Collective, what: &str, values: &[f64]) -> Result<()> {
    // rank 0's length first, so that every rank broadcasts a buffer of the same size
    let mut len = [values.len() as f64];
    comm.broadcast_f64(&mut len)?;
    let mut theirs = values.to_vec();
    theirs.resize(len[0] as usize, 0.0);
    comm.broadcast_f64(&mut theirs)?;
    // one slot per rank: 1 where that rank differs from rank 0
    let mut differs = vec![0.0; comm.size()];
    differs[comm.rank()] = f64::from(u8::from(theirs != values));
    comm.sum_f64(&mut differs)?;
    match differs.iter().position(|&d| d != 0.0) {
        None => Ok(()),
        Some(rank) => Err(BpropError::Distributed {
            rank,
            why: format!("its {what} differ from rank 0's: every rank must train the same model on the same data"),
        }),
    }
}

/// Checks that every rank holds `net` bit for bit (a checksum of the parameters' bits,
/// compared with rank 0's), as data-parallel training promises; the trainer's caller
/// runs it before rank 0 saves the model. A rank that died makes this wait until the
/// launcher ends the job, so a model is never saved from a broken group.
///
/// # Errors
/// As [`check_agree`].
pub fn check_same_parameters<T: Real>(comm: &dyn Collective, net: &Network<T>) -> Result<()> {
    let mut h = 0u64;
    for layer in net.layers() {
        for v in layer.weights.iter().chain(layer.bias.iter().flatten()) {
            h = (h.wrapping_mul(0x100_0000_01b3) ^ v.f64().to_bits()) % (1 << 52);
        }
    }
    check_agree(comm, "trained parameters", &[h as f64])
}

/// Every rank's `text`, in rank order (at most 512 bytes each, cut at a character
/// boundary), for rank 0 to report what each rank runs on.
///
/// # Errors
/// Communication errors.
pub fn gather_text(comm: &dyn Collective, text: &str) -> Result<Vec<String>> {
    const MAX: usize = 512;
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // one slot of MAX + 1 values per rank: the length, then the bytes; zeros elsewhere
    let mut buf = vec![0.0; comm.size() * (MAX + 1)];
    let slot = &mut buf[comm.rank() * (MAX + 1)..][..MAX + 1];
    slot[0] = end as f64;
    for (v, &b) in slot[1..].iter_mut().zip(&text.as_bytes()[..end]) {
        *v = f64::from(b);
    }
    comm.sum_f64(&mut buf)?;
    Ok(buf
        .chunks_exact(MAX + 1)
        .map(|s| {
            let bytes: Vec<u8> = s[1..=s[0] as usize].iter().map(|&v| v as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect())
}

/// This rank's own engine for data-parallel training, and a note when `auto` fell back:
/// under [`BackendChoice::Gpu`] the GPU path on the adapter of this rank's node-local
/// rank ([`crate::gpu::context::pick_nth`]: rank r of a node with k GPUs takes GPU r mod k);
/// under `Auto` the same when [`crate::driver::auto_choice`] chooses the GPU for `work`,
/// else (or when the GPU cannot be opened) the CPU path; under `Cpu` the CPU path.
///
/// # Errors
/// Under `Gpu`: [`BpropError::NoAdapter`], [`BpropError::Gpu`]; dataset errors.
pub fn rank_engine<T: Real>(
    comm: &dyn Collective,
    choice: BackendChoice,
    req: &AdapterRequest,
    net: &Network<T>,
    data: &Dataset<T>,
    work: Option<Workload>,
) -> Result<(Box<dyn Engine<T>>, Option<String>)> {
    let cpu = || -> Result<Box<dyn Engine<T>>> { Ok(Box::new(CpuEngine::new(net.clone(), data.clone())?)) };
    let f64 = T::PRECISION == Precision::F64;
    let gpu = || -> Result<Box<dyn Engine<T>>> {
        let ctx = GpuContext::new_nth(req, f64, comm.node_rank())?;
        Ok(Box::new(GpuEngine::new(Arc::new(ctx), net.clone(), data)?))
    };
    match choice {
        BackendChoice::Cpu => Ok((cpu()?, None)),
        BackendChoice::Gpu => Ok((gpu()?, None)),
        BackendChoice::Auto => {
            let auto = auto_choice(req, f64, work);
            if !auto.gpu {
                return Ok((cpu()?, Some(auto.why)));
            }
            match gpu() {
                Ok(e) => Ok((e, None)),
                Err(e) => Ok((cpu()?, Some(format!("GPU path unavailable, using the CPU path: {e}")))),
            }
        }
    }
}

/// Time spent in the steps of a [`DistEngine`], for reports and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTiming {
    /// Steps timed.
    pub steps: u64,
    /// Computing the shard's gradient (forward and backward passes).
    pub gradient: Duration,
    /// The all-reduce of gradients and losses (waiting for the slowest rank included).
    pub all_reduce: Duration,
    /// Applying the update.
    pub update: Duration,
}

/// A rank's engine in data-parallel training: an [`Engine`] whose training steps compute
/// the gradient of this rank's shard of each batch on `local`, sum it over the ranks and
/// apply the same update on every rank. Everything else (parameters, optimizer state,
/// traces) is `local`'s.
pub struct DistEngine<T: Real> {
    local: Box<dyn Engine<T>>,
    comm: Rc<dyn Collective>,
    /// The gradient (n_params values), then one loss slot per row of the global batch.
    buf: Vec<T>,
    losses: Vec<T>,
    timing: StepTiming,
}

impl<T: Real> DistEngine<T> {
    /// Wraps this rank's engine. Every rank must call it (it communicates): the ranks
    /// check that they hold networks of the same shape and datasets of the same size, and
    /// rank 0's parameters are copied to every rank (as DistributedDataParallel does), so
    /// that the ranks start from the same point whatever each one initialised.
    ///
    /// # Errors
    /// [`BpropError::Distributed`] when the ranks' networks or datasets differ in shape;
    /// communication and engine errors.
    pub fn new(mut local: Box<dyn Engine<T>>, comm: Rc<dyn Collective>, samples: usize) -> Result<Self> {
        let mut net = local.network()?;
        let mut shape: Vec<f64> = net.sizes().iter().map(|&s| s as f64).collect();
        shape.push(net.n_params() as f64);
        shape.push(samples as f64);
        check_agree(comm.as_ref(), "network shape or dataset size", &shape)?;
        let mut flat: Vec<f64> = Vec::with_capacity(net.n_params());
        for layer in net.layers() {
            flat.extend(layer.weights.iter().map(|w| w.f64()));
            flat.extend(layer.bias.iter().flatten().map(|b| b.f64()));
        }
        comm.broadcast_f64(&mut flat)?;
        let mut values = flat.into_iter().map(T::of);
        for layer in net.layers_mut() {
            layer
                .weights
                .iter_mut()
                .for_each(|w| *w = values.next().expect("as many values"));
            layer
                .bias
                .iter_mut()
                .flatten()
                .for_each(|b| *b = values.next().expect("as many values"));
        }
        local.set_network(&net)?;
        Ok(DistEngine {
            local,
            comm,
            buf: Vec::new(),
            losses: Vec::new(),
            timing: StepTiming::default(),
        })
    }

    /// The communicator.
    pub fn comm(&self) -> &dyn Collective {
        self.comm.as_ref()
    }

    /// The time spent in the steps so far.
    pub fn timing(&self) -> StepTiming {
        self.timing
    }
}

impl<T: Real> Engine<T> for DistEngine<T> {
    fn info(&self) -> &BackendInfo {
        self.local.info()
    }

    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>> {
        if batch == 0 || !order.len().is_multiple_of(batch) {
            // the local engine's check, with its message
            crate::engine::check_order(order, batch, usize::MAX)?;
        }
        hyper.validate()?;
        // Ranks that would train different steps would deadlock or diverge silently.
        let checksum = order.iter().enumerate().fold(0u64, |h, (i, &s)| {
            (h.wrapping_mul(31) ^ (u64::from(s) + i as u64)) % (1 << 52)
        });
        let step = self.local.optimizer_state()?.map_or(0, |s| s.step);
        check_agree(
            self.comm.as_ref(),
            "training steps (order, batch size or step count)",
            &[order.len() as f64, batch as f64, checksum as f64, step as f64],
        )?;
        let p = self.local.network()?.n_params();
        let (ranks, rank) = (self.comm.size(), self.comm.rank());
        let mine = shard(batch, ranks, rank);
        self.buf.resize(p + batch, T::zero());
        self.losses.resize(mine.len(), T::zero());
        let mut out = Vec::with_capacity(order.len() / batch);
        for rows in order.chunks_exact(batch) {
            let t0 = Instant::now();
            let (grad, slots) = self.buf.split_at_mut(p);
            self.local
                .shard_gradient(&rows[mine.clone()], batch, mine.start, hyper, grad, &mut self.losses)?;
            slots.fill(T::zero());
            slots[mine.clone()].copy_from_slice(&self.losses);
            let t1 = Instant::now();
            sum(self.comm.as_ref(), &mut self.buf)?;
            let t2 = Instant::now();
            self.local.apply_gradient(&self.buf[..p], hyper)?;
            self.timing.steps += 1;
            self.timing.gradient += t1 - t0;
            self.timing.all_reduce += t2 - t1;
            self.timing.update += t2.elapsed();
            // The batch's mean loss, summed in row order as one process sums it.
            let slots = &self.buf[p..];
            out.push(if batch == 1 {
                slots[0]
            } else {
                slots.iter().copied().sum::<T>() / T::of(batch as f64)
            });
        }
        Ok(out)
    }

    fn optimizer_state(&mut self) -> Result<Option<OptimState<T>>> {
        self.local.optimizer_state()
    }

    fn set_optimizer_state(&mut self, state: Option<&OptimState<T>>) -> Result<()> {
        self.local.set_optimizer_state(state)
    }

    fn network(&mut self) -> Result<Network<T>> {
        self.local.network()
    }

    fn set_network(&mut self, net: &Network<T>) -> Result<()> {
        self.local.set_network(net)
    }

    fn trace(&mut self, samples: &[u32]) -> Result<StepTrace<T>> {
        self.local.trace(samples)
    }

    fn evaluate(&mut self, net: &Network<T>, data: &Dataset<T>) -> Result<Metrics> {
        // Each rank sums the losses and hits of its contiguous shard of the rows.
        let rows = shard(data.len(), self.comm.size(), self.comm.rank());
        let part = metrics::evaluate_part(net, data, rows)?;
        let mut sums = [part.loss_sum, part.correct.unwrap_or(0) as f64];
        self.comm.sum_f64(&mut sums)?;
        let n = data.len();
        Ok(Metrics {
            loss: sums[0] / n as f64,
            accuracy: part.correct.map(|_| sums[1] / n as f64),
            n,
        })
    }

    fn any_stop(&mut self, flag: bool) -> Result<bool> {
        let mut raised = [f64::from(u8::from(flag))];
        self.comm.sum_f64(&mut raised)?;
        Ok(raised[0] > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_once_in_order() {
        for batch in 0..40 {
            for ranks in 1..9 {
                let mut next = 0;
                for rank in 0..ranks {
                    let r = shard(batch, ranks, rank);
                    assert_eq!(r.start, next, "batch {batch}, {ranks} ranks, rank {rank}");
                    assert!(r.len() == batch / ranks || r.len() == batch / ranks + 1);
                    next = r.end;
                }
                assert_eq!(next, batch);
            }
        }
        assert_eq!(shard(10, 3, 0), 0..4);
        assert_eq!(shard(10, 3, 1), 4..7);
        assert_eq!(shard(10, 3, 2), 7..10);
    }
}
