//! The training loop over engines: epochs, seeded shuffling, checkpoints, divergence
//! detection and, under `auto`, fallback from the GPU path to the CPU path.
//!
//! Steps run in chunks; after each chunk the parameters are read back as a checkpoint (on
//! the GPU path this is the only readback besides the losses). When a chunk fails on the
//! GPU under `auto`, the run continues on a CPU engine built from the last checkpoint and
//! repeats the failed chunk, so the result is as if the whole run had been on one path.
//! When a chunk produces a NaN or infinite loss, the parameters are restored to the
//! checkpoint before it (the last finite weights) and [`BpropError::Diverged`] names the
//! first bad step.

use crate::cpu::CpuEngine;
use crate::driver::{select, BackendChoice};
use crate::engine::{BackendInfo, BackendKind, Engine};
use crate::error::{BpropError, Result};
use crate::gpu::AdapterRequest;
use crate::model::{Dataset, Network, Real};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Options of [`Trainer::train`] (plain gradient descent), with builder-style setters.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// η > 0.
    pub learning_rate: f64,
    /// Passes over the dataset, ≥ 1.
    pub epochs: usize,
    /// Samples per step, ≥ 1 (1 = online, as the seed). Each epoch uses
    /// ⌊n / batch_size⌋ full batches; with shuffling, left-over samples differ per epoch.
    pub batch_size: usize,
    /// Seed of the ChaCha8 generator that shuffles each epoch's order; `None` keeps the
    /// dataset's order.
    pub shuffle: Option<u64>,
    /// Steps between checkpoints (rounded up to whole epochs).
    pub checkpoint_steps: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            learning_rate: 0.1,
            epochs: 10,
            batch_size: 1,
            shuffle: None,
            checkpoint_steps: 1024,
        }
    }
}

impl TrainConfig {
    /// Sets the learning rate.
    pub fn with_learning_rate(mut self, lr: f64) -> Self {
        self.learning_rate = lr;
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
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "must be a positive finite number",
            );
        }
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
        if self.checkpoint_steps == 0 {
            return bad("checkpoint_steps", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// What [`Trainer::train`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Mean loss per epoch (over its steps, each taken before that step's update).
    pub epoch_losses: Vec<f64>,
    /// Steps run.
    pub steps: usize,
    /// The engine that finished the run.
    pub backend: BackendInfo,
}

/// A training run on the engine [`select`] chose, with checkpoints and fallback.
pub struct Trainer<T: Real> {
    engine: Box<dyn Engine<T>>,
    choice: BackendChoice,
    data: Dataset<T>,
    checkpoint: Network<T>,
    steps_done: usize,
    notes: Vec<String>,
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
            steps_done: 0,
            notes,
        })
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

    /// Runs the steps of `order` (see [`Engine::train_steps`]) as one chunk, then
    /// checkpoints. GPU failures under `auto` switch to the CPU path and repeat the chunk.
    ///
    /// # Errors
    /// [`BpropError::Diverged`] (parameters restored to the checkpoint before the chunk);
    /// engine errors, GPU ones only when not under `auto`.
    pub fn run_steps(&mut self, order: &[u32], batch: usize, lr: T) -> Result<Vec<T>> {
        let attempt = |engine: &mut dyn Engine<T>| -> Result<(Vec<T>, Network<T>)> {
            let losses = engine.train_steps(order, batch, lr)?;
            Ok((losses, engine.network()?))
        };
        let (losses, net) = match attempt(self.engine.as_mut()) {
            Ok(done) => done,
            Err(e @ (BpropError::Gpu(_) | BpropError::NoAdapter(_)))
                if self.choice == BackendChoice::Auto && self.engine.info().kind == BackendKind::Gpu =>
            {
                self.notes.push(format!(
                    "the GPU path failed after {} steps; continuing on the CPU path from the last checkpoint: {e}",
                    self.steps_done
                ));
                self.engine = Box::new(CpuEngine::new(self.checkpoint.clone(), self.data.clone())?);
                attempt(self.engine.as_mut())?
            }
            Err(e) => return Err(e),
        };
        if let Some((s, bad)) = losses.iter().enumerate().find(|(_, l)| !l.is_finite()) {
            self.engine.set_network(&self.checkpoint)?;
            return Err(BpropError::Diverged {
                step: self.steps_done + s,
                loss: bad.to_string(),
            });
        }
        self.steps_done += losses.len();
        self.checkpoint = net;
        Ok(losses)
    }

    /// Trains for `cfg.epochs` epochs of plain gradient descent.
    ///
    /// # Errors
    /// [`TrainConfig::validate`]'s errors, then those of [`Trainer::run_steps`].
    pub fn train(&mut self, cfg: &TrainConfig) -> Result<TrainReport> {
        let n = self.data.len();
        cfg.validate(n)?;
        let mut rng = cfg.shuffle.map(ChaCha8Rng::seed_from_u64);
        let steps_per_epoch = n / cfg.batch_size;
        let epochs_per_chunk = cfg.checkpoint_steps.div_ceil(steps_per_epoch).max(1);
        let lr = T::of(cfg.learning_rate);
        let mut epoch_losses = Vec::with_capacity(cfg.epochs);
        let mut epoch = 0;
        while epoch < cfg.epochs {
            let chunk_epochs = epochs_per_chunk.min(cfg.epochs - epoch);
            let mut order = Vec::with_capacity(chunk_epochs * steps_per_epoch * cfg.batch_size);
            for _ in 0..chunk_epochs {
                let mut perm: Vec<u32> = (0..n as u32).collect();
                if let Some(rng) = rng.as_mut() {
                    perm.shuffle(rng);
                }
                order.extend_from_slice(&perm[..steps_per_epoch * cfg.batch_size]);
            }
            let losses = self.run_steps(&order, cfg.batch_size, lr)?;
            for e in losses.chunks(steps_per_epoch) {
                epoch_losses.push(e.iter().map(|l| l.f64()).sum::<f64>() / e.len() as f64);
            }
            epoch += chunk_epochs;
        }
        Ok(TrainReport {
            epoch_losses,
            steps: self.steps_done,
            backend: self.engine.info().clone(),
        })
    }
}
