//! A dataset held in memory: one row per sample, inputs and targets side by side.

use crate::error::{BpropError, Result};
use crate::model::network::check_finite;
use crate::model::{Network, Real};
use ndarray::{Array2, Axis};
use std::sync::Arc;

/// Samples as rows: `inputs` of shape (n, n_inputs), `targets` of shape (n, n_outputs).
/// Every value is finite (checked on construction).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T> {
    inputs: Array2<T>,
    targets: Array2<T>,
    /// The inputs as bytes, when they are byte-coded (see [`ByteInputs`]).
    bytes: Option<Arc<ByteInputs>>,
}

/// Inputs that are bytes scaled by a divisor, x = byte / divisor (MNIST's pixels, /255).
/// A dataset built by [`Dataset::from_bytes`] keeps them, so that the GPU path can store
/// the inputs at a quarter of their f32 size and convert while reading.
#[derive(Clone, Debug, PartialEq)]
pub struct ByteInputs {
    /// The bytes, shape (n, n_inputs).
    pub bytes: Array2<u8>,
    /// The divisor d in x = byte / d.
    pub divisor: f64,
}

impl<T: Real> Dataset<T> {
    /// Builds a dataset.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when the row counts differ or there are no samples or columns;
    /// [`BpropError::NonFinite`] naming `inputs` or `targets` and the row and column of the
    /// first NaN or infinity.
    pub fn new(inputs: Array2<T>, targets: Array2<T>) -> Result<Self> {
        if inputs.nrows() != targets.nrows() {
            return Err(BpropError::shape(
                "dataset targets (one row per input row)",
                (inputs.nrows(), targets.ncols()),
                targets.dim(),
            ));
        }
        if inputs.nrows() == 0 || inputs.ncols() == 0 || targets.ncols() == 0 {
            return Err(BpropError::Shape {
                what: "dataset".into(),
                expected: "at least one sample, one input and one target".into(),
                got: format!("inputs {:?}, targets {:?}", inputs.dim(), targets.dim()),
            });
        }
        check_finite("inputs", inputs.iter().copied(), inputs.ncols())?;
        check_finite("targets", targets.iter().copied(), targets.ncols())?;
        // Standard layout makes the rows contiguous, which both paths rely on.
        Ok(Dataset {
            inputs: inputs.as_standard_layout().into_owned(),
            targets: targets.as_standard_layout().into_owned(),
            bytes: None,
        })
    }

    /// A dataset whose inputs are `bytes` / `divisor` (computed in f64, then rounded to
    /// `T`), keeping the bytes too (see [`ByteInputs`]).
    ///
    /// # Errors
    /// As [`Dataset::new`]; [`BpropError::InvalidArgument`] for a divisor that is not a
    /// positive finite number.
    pub fn from_bytes(bytes: Array2<u8>, divisor: f64, targets: Array2<T>) -> Result<Self> {
        if !(divisor.is_finite() && divisor > 0.0) {
            return Err(BpropError::InvalidArgument {
                name: "divisor",
                value: divisor.to_string(),
                why: "must be a positive finite number".into(),
            });
        }
        let table: Vec<T> = (0..=255u8).map(|b| T::of(f64::from(b) / divisor)).collect();
        let mut data = Dataset::new(bytes.mapv(|b| table[usize::from(b)]), targets)?;
        data.bytes = Some(Arc::new(ByteInputs {
            bytes: bytes.as_standard_layout().into_owned(),
            divisor,
        }));
        Ok(data)
    }

    /// The same samples with `targets` (n, any width) instead of this dataset's targets;
    /// the inputs, and their byte form if any, are kept.
    ///
    /// # Errors
    /// As [`Dataset::new`].
    pub fn with_targets(&self, targets: Array2<T>) -> Result<Self> {
        let mut data = Dataset::new(self.inputs.clone(), targets)?;
        data.bytes = self.bytes.clone();
        Ok(data)
    }

    /// The byte form of the inputs, when the dataset was built from bytes.
    pub fn byte_inputs(&self) -> Option<&Arc<ByteInputs>> {
        self.bytes.as_ref()
    }

    /// Inputs, shape (n, n_inputs).
    pub fn inputs(&self) -> &Array2<T> {
        &self.inputs
    }
    /// Targets, shape (n, n_outputs).
    pub fn targets(&self) -> &Array2<T> {
        &self.targets
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.inputs.nrows()
    }
    /// Always false: a dataset has at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The samples `indices`, in that order.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] for an index out of range or no indices.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(BpropError::InvalidArgument {
                name: "sample index",
                value: bad.to_string(),
                why: format!("out of range for a dataset of {} samples", self.len()),
            });
        }
        let mut data = Dataset::new(
            self.inputs.select(Axis(0), indices),
            self.targets.select(Axis(0), indices),
        )?;
        data.bytes = self.bytes.as_ref().map(|b| {
            Arc::new(ByteInputs {
                bytes: b.bytes.select(Axis(0), indices),
                divisor: b.divisor,
            })
        });
        Ok(data)
    }

    /// Splits off a validation set: the samples are shuffled by a ChaCha8 generator seeded
    /// with `seed`, the first ⌈fraction · n⌉ become the validation set and the rest the
    /// training set, both in the dataset's original order.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `validation` when `fraction` is outside (0, 1)
    /// or leaves either part empty.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Self, Self)> {
        let (train, val) = split_rows(self.len(), fraction, seed)?;
        Ok((self.select(&train)?, self.select(&val)?))
    }

    /// Splits off a validation set of the same size as [`Dataset::split`]'s, stratified by
    /// `classes` (one class code per sample): each class contributes its share of the
    /// ⌈fraction · n⌉ validation samples (the share's integer part, then one more to the
    /// classes with the largest remainders, lower codes first on ties), drawn in the order
    /// of the same seeded shuffle; both parts keep the dataset's original order. As
    /// scikit-learn's `train_test_split(stratify=...)`, class proportions are kept in both.
    ///
    /// # Errors
    /// As [`Dataset::split`]; [`BpropError::Shape`] when `classes` does not have one code
    /// per sample.
    pub fn split_stratified(&self, fraction: f64, seed: u64, classes: &[usize]) -> Result<(Self, Self)> {
        if classes.len() != self.len() {
            return Err(BpropError::shape(
                "class codes (one per sample)",
                self.len(),
                classes.len(),
            ));
        }
        let (train, val) = split_rows_stratified(fraction, seed, classes)?;
        Ok((self.select(&train)?, self.select(&val)?))
    }

    /// Checks that this dataset fits `net`: input and output widths, and targets in [0, 1]
    /// for the cross-entropy losses.
    ///
    /// # Errors
    /// [`BpropError::Shape`] naming the mismatched width; [`BpropError::InvalidArgument`]
    /// for a target outside [0, 1] under `bce` or `cross_entropy`.
    pub fn check_fits(&self, net: &Network<T>) -> Result<()> {
        if self.inputs.ncols() != net.inputs() {
            return Err(BpropError::shape(
                "dataset inputs (columns = network inputs)",
                (self.len(), net.inputs()),
                self.inputs.dim(),
            ));
        }
        if self.targets.ncols() != net.outputs() {
            return Err(BpropError::shape(
                "dataset targets (columns = network outputs)",
                (self.len(), net.outputs()),
                self.targets.dim(),
            ));
        }
        if net.loss().needs_unit_targets() {
            if let Some((i, v)) = self
                .targets
                .iter()
                .enumerate()
                .find(|(_, &v)| !(T::zero()..=T::one()).contains(&v))
            {
                let c = self.targets.ncols();
                return Err(BpropError::InvalidArgument {
                    name: "targets",
                    value: format!("{v} at row {}, column {}", i / c, i % c),
                    why: format!("the {} loss needs targets in [0, 1]", net.loss()),
                });
            }
        }
        Ok(())
    }
}

/// The rows (training, validation) of [`Dataset::split`] for `n` samples, each part in
/// ascending order.
///
/// # Errors
/// As [`Dataset::split`].
pub fn split_rows(n: usize, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let n_val = (fraction * n as f64).ceil() as usize;
    if !(fraction > 0.0 && fraction < 1.0) || n_val == 0 || n_val >= n {
        return Err(BpropError::InvalidArgument {
            name: "validation",
            value: fraction.to_string(),
            why: format!("must be in (0, 1) and leave both a training and a validation sample of the {n}"),
        });
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let (val, train) = idx.split_at_mut(n_val);
    val.sort_unstable();
    train.sort_unstable();
    Ok((train.to_vec(), val.to_vec()))
}

/// The rows (training, validation) of [`Dataset::split_stratified`] for one class code per
/// sample, each part in ascending order.
///
/// # Errors
/// As [`Dataset::split`].
pub fn split_rows_stratified(fraction: f64, seed: u64, classes: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let n = classes.len();
    let n_val = (fraction * n as f64).ceil() as usize;
    if !(fraction > 0.0 && fraction < 1.0) || n_val == 0 || n_val >= n {
        return Err(BpropError::InvalidArgument {
            name: "validation",
            value: fraction.to_string(),
            why: format!("must be in (0, 1) and leave both a training and a validation sample of the {n}"),
        });
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let k = classes.iter().max().map_or(0, |&c| c + 1);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
    for &i in &idx {
        groups[classes[i]].push(i);
    }
    // Shares of n_val in proportion to the class sizes (largest remainder method).
    let exact: Vec<f64> = groups.iter().map(|g| (g.len() * n_val) as f64 / n as f64).collect();
    let mut quota: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut left = n_val - quota.iter().sum::<usize>();
    for &c in order.iter().cycle().take(2 * k) {
        if left == 0 {
            break;
        }
        if quota[c] < groups[c].len() {
            quota[c] += 1;
            left -= 1;
        }
    }
    let mut val: Vec<usize> = groups
        .iter()
        .zip(&quota)
        .flat_map(|(g, &q)| g[..q].iter().copied())
        .collect();
    let mut in_val = vec![false; n];
    for &i in &val {
        in_val[i] = true;
    }
    let train: Vec<usize> = (0..n).filter(|&i| !in_val[i]).collect();
    val.sort_unstable();
    Ok((train, val))
}
