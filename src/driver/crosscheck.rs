//! Cross-check: the same training on two engines, compared tensor by tensor.
//!
//! Two engines that start equal drift apart in the last bits at every step (different
//! summation orders, `exp` implementations), and training amplifies drift, so comparing
//! only the end of a long run would measure chaos, not correctness. The cross-check
//! therefore compares **step by step from a shared state**: both engines start from the
//! same parameters, run `sync_every` steps on the same samples, their losses and
//! parameters are compared, and the reference engine (the CPU) is then reset to the
//! checked engine's parameters before the next stretch. The error measured is the error
//! of `sync_every` steps, whatever the run's length.
//!
//! A value pair (g, c) passes when |g − c| ≤ max(atol, rtol · max(|g|, |c|)) (burn's rule);
//! the report keeps, per tensor, the largest absolute and relative differences seen.

use crate::engine::Engine;
use crate::error::{BpropError, Result};
use crate::model::{Hyper, Network, Precision, Real};
use std::fmt;

/// Absolute and relative tolerance: |a − b| ≤ max(atol, rtol · max(|a|, |b|)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute tolerance, for values near 0.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Tolerance {
    /// The stated tolerance for one step in precision `T`: f32 atol 1e-5, rtol 1e-4
    /// (a few hundred ulps: dot products of a few hundred terms summed in another order,
    /// and `exp`/`tanh` differing by an ulp or two between drivers and libm); f64 atol 1e-12,
    /// rtol 1e-9.
    pub fn for_precision<T: Real>() -> Self {
        if T::PRECISION == Precision::F64 {
            Tolerance {
                atol: 1e-12,
                rtol: 1e-9,
            }
        } else {
            Tolerance { atol: 1e-5, rtol: 1e-4 }
        }
    }

    /// Whether `a` and `b` agree.
    pub fn accepts(&self, a: f64, b: f64) -> bool {
        (a - b).abs() <= self.atol.max(self.rtol * a.abs().max(b.abs())) || (a.is_nan() && b.is_nan())
    }
}

/// The largest differences seen for one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDiff {
    /// e.g. `layer 0 weights`, `loss`.
    pub name: String,
    /// Number of values compared (over all comparisons).
    pub count: usize,
    /// Largest |a − b|.
    pub max_abs: f64,
    /// Largest |a − b| / max(|a|, |b|) (0 where both are 0).
    pub max_rel: f64,
    /// Number of value pairs outside the tolerance.
    pub failures: usize,
}

impl TensorDiff {
    fn new(name: impl Into<String>) -> Self {
        TensorDiff {
            name: name.into(),
            count: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            failures: 0,
        }
    }

    fn add<T: Real>(&mut self, a: impl Iterator<Item = T>, b: impl Iterator<Item = T>, tol: &Tolerance) {
        for (x, y) in a.zip(b) {
            let (x, y) = (x.f64(), y.f64());
            let abs = if x == y { 0.0 } else { (x - y).abs() };
            let scale = x.abs().max(y.abs());
            let rel = if scale > 0.0 { abs / scale } else { 0.0 };
            self.count += 1;
            self.max_abs = self.max_abs.max(if abs.is_nan() { f64::INFINITY } else { abs });
            self.max_rel = self.max_rel.max(if rel.is_nan() { f64::INFINITY } else { rel });
            if !tol.accepts(x, y) {
                self.failures += 1;
            }
        }
    }
}

/// Differences between every tensor of `a` and `b` (same architecture), under `tol`.
///
/// # Errors
/// [`BpropError::Shape`] when the architectures differ.
pub fn compare_networks<T: Real>(a: &Network<T>, b: &Network<T>, tol: &Tolerance) -> Result<Vec<TensorDiff>> {
    a.check_same_shape(b)?;
    let mut out = Vec::new();
    for (l, (la, lb)) in a.layers().iter().zip(b.layers()).enumerate() {
        let mut d = TensorDiff::new(format!("layer {l} weights"));
        d.add(la.weights.iter().copied(), lb.weights.iter().copied(), tol);
        out.push(d);
        if let (Some(ba), Some(bb)) = (&la.bias, &lb.bias) {
            let mut d = TensorDiff::new(format!("layer {l} bias"));
            d.add(ba.iter().copied(), bb.iter().copied(), tol);
            out.push(d);
        }
    }
    Ok(out)
}

/// The result of [`cross_check`].
#[derive(Clone, Debug, PartialEq)]
pub struct CrossCheckReport {
    /// The engine checked, e.g. the GPU path's description.
    pub checked: String,
    /// The reference engine.
    pub reference: String,
    /// Steps run.
    pub steps: usize,
    /// Steps between re-synchronisations.
    pub sync_every: usize,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// Per tensor: the loss history first, then each layer's weights and bias.
    pub tensors: Vec<TensorDiff>,
}

impl CrossCheckReport {
    /// Whether every value pair was within tolerance.
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(|t| t.failures == 0)
    }

    /// `Ok(self)` when passed, else [`BpropError::CrossCheck`] naming the failing tensors.
    pub fn into_result(self) -> Result<Self> {
        if self.passed() {
            return Ok(self);
        }
        let bad: Vec<String> = self
            .tensors
            .iter()
            .filter(|t| t.failures > 0)
            .map(|t| {
                format!(
                    "{}: {} of {} values off, max abs diff {:.3e}, max rel diff {:.3e}",
                    t.name, t.failures, t.count, t.max_abs, t.max_rel
                )
            })
            .collect();
        Err(BpropError::CrossCheck(format!(
            "{} vs {} beyond atol {:e} / rtol {:e}: {}",
            self.checked,
            self.reference,
            self.tolerance.atol,
            self.tolerance.rtol,
            bad.join("; ")
        )))
    }
}

impl fmt::Display for CrossCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cross-check: {} against {}", self.checked, self.reference)?;
        writeln!(
            f,
            "  {} steps, compared after every {} step(s) from a shared state",
            self.steps, self.sync_every
        )?;
        writeln!(
            f,
            "  tolerance: |gpu - cpu| <= max({:e}, {:e} * max(|gpu|, |cpu|))",
            self.tolerance.atol, self.tolerance.rtol
        )?;
        writeln!(
            f,
            "  {:<18} {:>8} {:>14} {:>14}  status",
            "tensor", "values", "max abs diff", "max rel diff"
        )?;
        for t in &self.tensors {
            let status = if t.failures == 0 {
                "ok".to_string()
            } else {
                format!("FAIL ({} values)", t.failures)
            };
            writeln!(
                f,
                "  {:<18} {:>8} {:>14.3e} {:>14.3e}  {status}",
                t.name, t.count, t.max_abs, t.max_rel
            )?;
        }
        write!(f, "  result: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// Runs `order` (steps of `batch` samples, updates by `hyper`) on `checked` and on
/// `reference`, comparing losses and parameters after every `sync_every` steps and then
/// resetting `reference` to `checked`'s parameters and optimizer state (see the module
/// doc). Both engines start from `checked`'s current state, and `checked` ends as an
/// ordinary run would.
///
/// The report is returned whether or not it passed; use [`CrossCheckReport::into_result`]
/// to turn a failure into an error.
///
/// # Errors
/// Errors of either engine; [`BpropError::InvalidArgument`] when `sync_every` is 0.
pub fn cross_check<T: Real>(
    checked: &mut dyn Engine<T>,
    reference: &mut dyn Engine<T>,
    order: &[u32],
    batch: usize,
    hyper: &Hyper,
    sync_every: usize,
) -> Result<CrossCheckReport> {
    if sync_every == 0 {
        return Err(BpropError::InvalidArgument {
            name: "sync_every",
            value: "0".into(),
            why: "must be at least 1 step".into(),
        });
    }
    let tol = Tolerance::for_precision::<T>();
    let sync = |checked: &mut dyn Engine<T>, reference: &mut dyn Engine<T>, net: &Network<T>| -> Result<()> {
        reference.set_network(net)?;
        reference.set_optimizer_state(checked.optimizer_state()?.as_ref())
    };
    let start = checked.network()?;
    sync(checked, reference, &start)?;
    let mut loss = TensorDiff::new("loss");
    let mut params: Vec<TensorDiff> = Vec::new();
    let mut steps = 0;
    for chunk in order.chunks(sync_every * batch.max(1)) {
        let lc = checked.train_with(chunk, batch, hyper)?;
        let lr = reference.train_with(chunk, batch, hyper)?;
        loss.add(lc.into_iter(), lr.into_iter(), &tol);
        let nc = checked.network()?;
        let nr = reference.network()?;
        let diffs = compare_networks(&nc, &nr, &tol)?;
        if params.is_empty() {
            params = diffs.iter().map(|d| TensorDiff::new(d.name.clone())).collect();
        }
        for (acc, d) in params.iter_mut().zip(diffs) {
            acc.count += d.count;
            acc.max_abs = acc.max_abs.max(d.max_abs);
            acc.max_rel = acc.max_rel.max(d.max_rel);
            acc.failures += d.failures;
        }
        sync(checked, reference, &nc)?;
        steps += chunk.len() / batch.max(1);
    }
    let mut tensors = vec![loss];
    tensors.extend(params);
    Ok(CrossCheckReport {
        checked: checked.info().to_string(),
        reference: reference.info().to_string(),
        steps,
        sync_every,
        tolerance: tol,
        tensors,
    })
}
