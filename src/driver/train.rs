//! The training loop over engines: epochs, seeded shuffling, checkpoints, divergence
//! detection and, under `auto`, fallback from the GPU path to the CPU path.
//!
//! Steps run in chunks; after each chunk the parameters are read back as a checkpoint (on
//! the GPU path this is the only readback besides the losses). When a chunk fails on the
//! GPU under `auto`, the run continues on a CPU engine built from the last checkpoint and
//! repeats the failed chunk, so the result is as if the whole run had been on one path.
//! When a chunk produces a NaN or infinite loss, or ends with NaN or infinite parameters,
//! the parameters are restored to the checkpoint before it (the last finite weights) and
//! [`BpropError::Diverged`] names the first bad step (for parameters, the chunk's last step).

use crate::cpu::CpuEngine;
use crate::driver::{select, BackendChoice};
use crate::engine::{BackendInfo, BackendKind, Engine};
use crate::error::{BpropError, Result};
use crate::gpu::AdapterRequest;
use crate::metrics::Metrics;
use crate::model::{Dataset, Hyper, Network, OptimState, Optimizer, Real};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Options of [`Trainer::train`], with builder-style setters.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Update rule, learning rate and schedule, weight decay, max-norm.
    pub hyper: Hyper,
    /// Passes over the dataset, ≥ 1.
    pub epochs: usize,
    /// Samples per step, ≥ 1 (1 = online, as the seed). Each epoch uses
    /// ⌊n / batch_size⌋ full batches; with shuffling, left-over samples differ per epoch.
    pub batch_size: usize,
    /// Seed of the ChaCha8 generators that shuffle each epoch's order (epoch e, counted over
    /// all runs from 0, uses stream e of the generator seeded with it); `None` keeps the
    /// dataset's order.
    pub shuffle: Option<u64>,
    /// Steps between checkpoints (rounded up to whole epochs; every epoch when there is a
    /// validation set or a stopping rule).
    pub checkpoint_steps: usize,
    /// Early stopping: stop when the validation loss has not improved for this many
    /// epochs, and restore the parameters of the best epoch. Needs a validation set.
    pub patience: Option<usize>,
    /// Stop once an epoch's mean training loss is at most this.
    pub target_loss: Option<f64>,
    /// Epochs already trained before this run (when resuming from a saved model): the
    /// shuffles continue with the next epoch's stream and epoch numbers continue after
    /// them, so that a run resumed with the saved optimizer state repeats the uninterrupted
    /// run.
    pub start_epoch: usize,
    /// With a validation set, end the run holding the parameters and optimizer state of
    /// the epoch with the lowest validation loss (Keras's `restore_best_weights`,
    /// scikit-learn's early stopping), whether it ran all its epochs or was interrupted;
    /// early stopping restores them whatever this says, and a run stopped by the target
    /// loss keeps the epoch that reached it. [default: true]
    pub restore_best: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hyper: Hyper::sgd(0.1),
            epochs: 10,
            batch_size: 1,
            shuffle: None,
            checkpoint_steps: 1024,
            patience: None,
            target_loss: None,
            start_epoch: 0,
            restore_best: true,
        }
    }
}

impl TrainConfig {
    /// Sets the (base) learning rate.
    pub fn with_learning_rate(mut self, lr: f64) -> Self {
        self.hyper.learning_rate = lr;
        self
    }
    /// Sets the update rule.
    pub fn with_optimizer(mut self, optimizer: Optimizer) -> Self {
        self.hyper.optimizer = optimizer;
        self
    }
    /// Sets the number of epochs.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch: usize) -> Self {
        self.batch_size = batch;
        self
    }
    /// Shuffles each epoch with a ChaCha8 generator seeded by `seed`.
    pub fn with_shuffle(mut self, seed: u64) -> Self {
        self.shuffle = Some(seed);
        self
    }

    /// Checks every option against a dataset of `n` samples.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming the option.
    pub fn validate(&self, n: usize) -> Result<()> {
        let bad = |name, value: String, why: &str| {
            Err(BpropError::InvalidArgument {
                name,
                value,
                why: why.into(),
            })
        };
        self.hyper.validate()?;
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "must be at least 1");
        }
        if self.batch_size > n {
            return bad(
                "batch_size",
                self.batch_size.to_string(),
                &format!("must not exceed the {n} samples of the dataset"),
            );
        }
        if matches!(self.hyper.optimizer, Optimizer::IRpropMinus { .. }) && self.batch_size != n {
            return bad(
                "batch_size",
                self.batch_size.to_string(),
                &format!("irprop- needs full-batch training: batch_size = {n}"),
            );
        }
        // The epoch and step counters of the whole run (a resumed one included) must fit.
        let last_epoch = self.start_epoch.checked_add(self.epochs);
        if last_epoch.and_then(|e| e.checked_mul(n / self.batch_size)).is_none() {
            return bad(
                "epochs",
                self.epochs.to_string(),
                &format!(
                    "{} epochs after the {} already done, at {} steps each, overflow the step counter",
                    self.epochs,
                    self.start_epoch,
                    n / self.batch_size
                ),
            );
        }
        if self.checkpoint_steps == 0 {
            return bad("checkpoint_steps", "0".into(), "must be at least 1");
        }
        if self.patience == Some(0) {
            return bad("patience", "0".into(), "must be at least 1 epoch");
        }
        if let Some(t) = self.target_loss {
            if !t.is_finite() {
                return bad("target_loss", t.to_string(), "must be finite");
            }
        }
        Ok(())
    }
}

/// One epoch's record in a [`TrainReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number, counted after [`TrainConfig::start_epoch`].
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (each taken before its step's update).
    pub train_loss: f64,
    /// Loss and accuracy on the validation set after the epoch, when there is one.
    pub validation: Option<Metrics>,
    /// Steps run so far.
    pub steps: usize,
    /// Seconds since training started.
    pub elapsed: f64,
}

/// One epoch of a model's training history, as its model file keeps it (the `history`
/// array of the metadata, with these field names): an [`EpochRecord`]'s epoch and losses,
/// without the run's step count and timing, which mean nothing to a later run.
/// `History::from(&record)` converts; the validation accuracy is kept when there is one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// 1-based epoch over all runs.
    pub epoch: usize,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Validation loss after the epoch.
    pub val_loss: Option<f64>,
    /// Validation accuracy after the epoch (classification).
    pub val_accuracy: Option<f64>,
}

impl From<&EpochRecord> for History {
    fn from(r: &EpochRecord) -> Self {
        History {
            epoch: r.epoch,
            train_loss: r.train_loss,
            val_loss: r.validation.map(|v| v.loss),
            val_accuracy: r.validation.and_then(|v| v.accuracy),
        }
    }
}

/// Why training stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// All epochs ran.
    Epochs,
    /// The validation loss stopped improving; the best epoch's parameters were restored.
    EarlyStopping {
        /// The epoch whose parameters were kept.
        best_epoch: usize,
    },
    /// The training loss reached the target.
    TargetLoss,
    /// The stop flag ([`Trainer::set_stop_flag`]) was raised, e.g. by Ctrl-C; training
    /// stopped after the epoch in progress.
    Interrupted,
}

/// What [`Trainer::train`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Per epoch: training loss, validation metrics.
    pub history: Vec<EpochRecord>,
    /// Steps run.
    pub steps: usize,
    /// The engine that finished the run.
    pub backend: BackendInfo,
    /// Why training stopped.
    pub stopped: StopReason,
    /// The epoch whose parameters the trainer holds at the end, when that is not the last
    /// epoch run (an earlier epoch with a lower validation loss, restored).
    pub kept_epoch: Option<usize>,
}

impl TrainReport {
    /// The mean training loss of each epoch.
    pub fn epoch_losses(&self) -> Vec<f64> {
        self.history.iter().map(|r| r.train_loss).collect()
    }
}

/// What [`Trainer::train_checkpointed`] calls every so many epochs: the trainer (its
/// parameters and optimizer state are those of the epoch just ended) and the run's
/// records so far.
pub type CheckpointFn<'a, T> = dyn FnMut(&Trainer<T>, &[EpochRecord]) -> Result<()> + 'a;

/// Parameters and optimizer state at the end of a chunk.
type Checkpoint<T> = (Network<T>, Option<OptimState<T>>);

/// A training run on the engine [`select`] chose, with checkpoints and fallback.
pub struct Trainer<T: Real> {
    engine: Box<dyn Engine<T>>,
    choice: BackendChoice,
    data: Dataset<T>,
    checkpoint: Network<T>,
    checkpoint_opt: Option<OptimState<T>>,
    steps_done: usize,
    notes: Vec<String>,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: Real> Trainer<T> {
    /// A trainer for `net` on `data` on the backend `choice` (adapters from `req`).
    ///
    /// # Errors
    /// As [`select`].
    pub fn new(choice: BackendChoice, req: &AdapterRequest, net: Network<T>, data: Dataset<T>) -> Result<Self> {
        let selected = select(choice, req, &net, &data)?;
        let mut notes = Vec::new();
        if let Some(why) = selected.fallback {
            notes.push(format!("GPU path unavailable, using the CPU path: {why}"));
        }
        Ok(Trainer {
            engine: selected.engine,
            choice,
            data,
            checkpoint: net,
            checkpoint_opt: None,
            steps_done: 0,
            notes,
            stop: None,
        })
    }

    /// A trainer on an engine built by the caller, such as a rank's
    /// [`crate::dist::DistEngine`] in data-parallel training; `net` must be the engine's
    /// parameters. There is no fallback to another path during the run: an engine error
    /// ends it.
    pub fn from_engine(engine: Box<dyn Engine<T>>, net: Network<T>, data: Dataset<T>) -> Self {
        let choice = match engine.info().kind {
            BackendKind::Gpu => BackendChoice::Gpu,
            BackendKind::Cpu => BackendChoice::Cpu,
        };
        Trainer {
            engine,
            choice,
            data,
            checkpoint: net,
            checkpoint_opt: None,
            steps_done: 0,
            notes: Vec::new(),
            stop: None,
        }
    }

    /// Adds a note for the user (a fallback's reason), reported with [`Trainer::notes`].
    pub fn add_note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// The engine in use now.
    pub fn info(&self) -> &BackendInfo {
        self.engine.info()
    }

    /// What happened that the user should know: fallbacks and their reasons.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The engine, for cross-checks and traces.
    pub fn engine_mut(&mut self) -> &mut dyn Engine<T> {
        self.engine.as_mut()
    }

    /// The parameters at the last checkpoint (after the last successful call).
    pub fn network(&self) -> &Network<T> {
        &self.checkpoint
    }

    /// The optimizer state at the last checkpoint.
    pub fn optimizer_state(&self) -> Option<&OptimState<T>> {
        self.checkpoint_opt.as_ref()
    }

    /// A flag that, once raised (by a Ctrl-C handler, another thread), stops
    /// [`Trainer::train_observed`] at the end of the current epoch (or multi-epoch chunk)
    /// with [`StopReason::Interrupted`], its checkpoint complete.
    pub fn set_stop_flag(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Replaces the optimizer state (engine and checkpoint), e.g. with a saved model's to
    /// resume its training: the step count (and so the schedule, Adam's bias corrections
    /// and the dropout masks) continues from the state's.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when the state does not fit the network; engine errors.
    pub fn set_optimizer_state(&mut self, state: Option<OptimState<T>>) -> Result<()> {
        self.engine.set_optimizer_state(state.as_ref())?;
        self.checkpoint_opt = state;
        Ok(())
    }

    /// Runs the steps of `order` (see [`Engine::train_with`]) as one chunk, then
    /// checkpoints parameters and optimizer state. GPU failures under `auto` switch to the
    /// CPU path and repeat the chunk from the checkpoint.
    ///
    /// # Errors
    /// [`BpropError::Diverged`] when a loss or, at the chunk's end, a parameter is not
    /// finite (parameters and optimizer state restored to the checkpoint before the chunk);
    /// engine errors, GPU ones only when not under `auto`.
    pub fn run_steps(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>> {
        let attempt = |engine: &mut dyn Engine<T>| -> Result<(Vec<T>, Checkpoint<T>)> {
            let losses = engine.train_with(order, batch, hyper)?;
            Ok((losses, (engine.network()?, engine.optimizer_state()?)))
        };
        let (losses, (net, opt)) = match attempt(self.engine.as_mut()) {
            Ok(done) => done,
            Err(e @ (BpropError::Gpu(_) | BpropError::NoAdapter(_)))
                if self.choice == BackendChoice::Auto && self.engine.info().kind == BackendKind::Gpu =>
            {
                self.notes.push(format!(
                    "the GPU path failed after {} steps; continuing on the CPU path from the last checkpoint: {e}",
                    self.steps_done
                ));
                let mut cpu = CpuEngine::new(self.checkpoint.clone(), self.data.clone())?;
                cpu.set_optimizer_state(self.checkpoint_opt.as_ref())?;
                self.engine = Box::new(cpu);
                attempt(self.engine.as_mut())?
            }
            Err(e) => return Err(e),
        };
        if let Some((s, bad)) = losses.iter().enumerate().find(|(_, l)| !l.is_finite()) {
            self.engine.set_network(&self.checkpoint)?;
            self.engine.set_optimizer_state(self.checkpoint_opt.as_ref())?;
            return Err(BpropError::Diverged {
                step: self.steps_done + s,
                loss: bad.to_string(),
            });
        }
        // Each loss is taken before its step's update, so the chunk's last update can
        // overflow with every loss finite: such parameters must not become the checkpoint.
        if let (Some(what), Some(last)) = (non_finite(&net), losses.last()) {
            self.engine.set_network(&self.checkpoint)?;
            self.engine.set_optimizer_state(self.checkpoint_opt.as_ref())?;
            return Err(BpropError::Diverged {
                step: self.steps_done + losses.len() - 1,
                loss: format!("{last}, but the parameters after its update are not finite ({what})"),
            });
        }
        self.steps_done += losses.len();
        self.checkpoint = net;
        self.checkpoint_opt = opt;
        Ok(losses)
    }

    /// Trains for `cfg.epochs` epochs with `cfg.hyper`'s update rule, no validation set.
    ///
    /// # Errors
    /// As [`Trainer::train_observed`].
    pub fn train(&mut self, cfg: &TrainConfig) -> Result<TrainReport> {
        self.train_observed(cfg, None, &mut |_| {})
    }

    /// Trains for up to `cfg.epochs` epochs, evaluating `validation` (if any) after each
    /// epoch, applying early stopping and the target loss, and calling `observe` with each
    /// epoch's record as it completes (for progress displays).
    ///
    /// # Errors
    /// [`TrainConfig::validate`]'s errors; [`BpropError::InvalidArgument`] for `patience`
    /// without a validation set; [`Dataset::check_fits`] for the validation set; then those
    /// of [`Trainer::run_steps`].
    pub fn train_observed(
        &mut self,
        cfg: &TrainConfig,
        validation: Option<&Dataset<T>>,
        observe: &mut dyn FnMut(&EpochRecord),
    ) -> Result<TrainReport> {
        self.train_checkpointed(cfg, validation, observe, None)
    }

    /// [`Trainer::train_observed`], calling `checkpoint.1` with the trainer and the
    /// records so far after every `checkpoint.0` epochs of this run (the chunks of steps
    /// between parameter readbacks are cut there, so the trainer holds those epochs'
    /// parameters and optimizer state): for a model file written during training, from
    /// which a run that dies later can resume.
    ///
    /// # Errors
    /// As [`Trainer::train_observed`], and the checkpoint function's; an interval of 0 is
    /// [`BpropError::InvalidArgument`].
    pub fn train_checkpointed(
        &mut self,
        cfg: &TrainConfig,
        validation: Option<&Dataset<T>>,
        observe: &mut dyn FnMut(&EpochRecord),
        mut checkpoint: Option<(usize, &mut CheckpointFn<'_, T>)>,
    ) -> Result<TrainReport> {
        if checkpoint.as_ref().is_some_and(|(every, _)| *every == 0) {
            return Err(BpropError::InvalidArgument {
                name: "checkpoint_every",
                value: "0".into(),
                why: "must be at least 1 epoch".into(),
            });
        }
        let n = self.data.len();
        cfg.validate(n)?;
        if cfg.patience.is_some() && validation.is_none() {
            return Err(BpropError::InvalidArgument {
                name: "patience",
                value: cfg.patience.map_or_else(String::new, |p| p.to_string()),
                why: "early stopping needs a validation set".into(),
            });
        }
        if let Some(v) = validation {
            v.check_fits(&self.checkpoint)?;
        }
        let start = Instant::now();
        let steps_per_epoch = n / cfg.batch_size;
        let per_epoch = validation.is_some() || cfg.target_loss.is_some();
        let epochs_per_chunk = if per_epoch {
            1
        } else {
            cfg.checkpoint_steps.div_ceil(steps_per_epoch).max(1)
        };
        let epochs_per_chunk = match &checkpoint {
            Some((every, _)) => epochs_per_chunk.min(*every),
            None => epochs_per_chunk,
        };
        // Grown as epochs complete: `epochs` is the user's number, not a size to reserve.
        let mut history: Vec<EpochRecord> = Vec::new();
        // The best validation loss so far, its epoch, and that epoch's checkpoint.
        let mut best: Option<(f64, usize, Checkpoint<T>)> = None;
        let mut stopped = StopReason::Epochs;
        let mut epoch = 0;
        'run: while epoch < cfg.epochs {
            let chunk_epochs = epochs_per_chunk.min(cfg.epochs - epoch);
            let mut order = Vec::with_capacity(chunk_epochs * steps_per_epoch * cfg.batch_size);
            for e in epoch..epoch + chunk_epochs {
                let mut perm: Vec<u32> = (0..n as u32).collect();
                if let Some(seed) = cfg.shuffle {
                    perm.shuffle(&mut epoch_rng(seed, cfg.start_epoch + e));
                }
                order.extend_from_slice(&perm[..steps_per_epoch * cfg.batch_size]);
            }
            let losses = self.run_steps(&order, cfg.batch_size, &cfg.hyper)?;
            let steps_before = self.steps_done - losses.len();
            for (i, e) in losses.chunks(steps_per_epoch).enumerate() {
                epoch += 1;
                let number = cfg.start_epoch + epoch;
                let train_loss = e.iter().map(|l| l.f64()).sum::<f64>() / e.len() as f64;
                let metrics = match validation {
                    Some(v) => Some(self.engine.evaluate(&self.checkpoint, v)?),
                    None => None,
                };
                let record = EpochRecord {
                    epoch: number,
                    train_loss,
                    validation: metrics,
                    steps: steps_before + (i + 1) * steps_per_epoch,
                    elapsed: start.elapsed().as_secs_f64(),
                };
                observe(&record);
                history.push(record);
                if let Some(m) = metrics {
                    if best.as_ref().is_none_or(|b| m.loss < b.0) {
                        best = Some((m.loss, number, (self.checkpoint.clone(), self.checkpoint_opt.clone())));
                    }
                }
                if let (Some(patience), Some((_, best_epoch, (net, opt)))) = (cfg.patience, &best) {
                    if number - best_epoch >= patience {
                        self.checkpoint = net.clone();
                        self.checkpoint_opt = opt.clone();
                        self.engine.set_network(net)?;
                        self.engine.set_optimizer_state(opt.as_ref())?;
                        stopped = StopReason::EarlyStopping {
                            best_epoch: *best_epoch,
                        };
                        break 'run;
                    }
                }
                if cfg.target_loss.is_some_and(|t| train_loss <= t) {
                    stopped = StopReason::TargetLoss;
                    break 'run;
                }
            }
            if let Some((every, save)) = &mut checkpoint {
                if epoch % *every == 0 {
                    save(self, &history)?;
                }
            }
            let raised = self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst));
            // Data-parallel ranks stop together, after the same chunk.
            if self.engine.any_stop(raised)? {
                stopped = StopReason::Interrupted;
                break 'run;
            }
        }
        let last_epoch = history.last().map(|r| r.epoch);
        let kept_epoch = match (stopped, &best) {
            (StopReason::EarlyStopping { best_epoch }, _) => Some(best_epoch),
            (StopReason::Epochs | StopReason::Interrupted, Some((_, best_epoch, (net, opt))))
                if cfg.restore_best && Some(*best_epoch) != last_epoch =>
            {
                self.checkpoint = net.clone();
                self.checkpoint_opt = opt.clone();
                self.engine.set_network(net)?;
                self.engine.set_optimizer_state(opt.as_ref())?;
                Some(*best_epoch)
            }
            _ => None,
        }
        .filter(|&e| Some(e) != last_epoch);
        Ok(TrainReport {
            history,
            steps: self.steps_done,
            backend: self.engine.info().clone(),
            stopped,
            kept_epoch,
        })
    }
}

/// The generator of the shuffle of epoch `epoch` (0-based over all runs): ChaCha8 seeded
/// with `seed`, on stream `epoch`. Each epoch's permutation is derived directly, so a run
/// resumed after any number of epochs starts at once (no replay of earlier shuffles), and
/// epoch 0 draws the stream a generator seeded with `seed` alone draws.
fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    rng
}

/// Names the first NaN or infinite parameter of `net`, if any.
fn non_finite<T: Real>(net: &Network<T>) -> Option<String> {
    for (l, layer) in net.layers().iter().enumerate() {
        if let Some(w) = layer.weights.iter().find(|w| !w.is_finite()) {
            return Some(format!("layer {l} weights hold {w}"));
        }
        if let Some(b) = layer.bias.iter().flatten().find(|b| !b.is_finite()) {
            return Some(format!("layer {l} bias holds {b}"));
        }
    }
    None
}
