//! Input scaling fitted on training data: x' = (x − offset) / scale, per column.
//!
//! | kind          | offset          | scale                   | result on the fitted data |
//! |---------------|-----------------|-------------------------|---------------------------|
//! | `standardize` | the column mean | its standard deviation  | mean 0, variance 1        |
//! | `minmax`      | the column min  | max − min               | values in [0, 1]          |
//!
//! A constant column (standard deviation or range 0) gets scale 1, so it maps to 0 rather
//! than to a division by zero. The standard deviation is the population one (divided by n),
//! as scikit-learn's `StandardScaler`. Offsets and scales are kept in f64 whatever the
//! network's precision, and saved with the model so that evaluation and prediction scale
//! new data exactly as training did.

use crate::error::{BpropError, Result};
use crate::model::{Dataset, Real};
use ndarray::Array2;
use std::fmt;
use std::str::FromStr;

/// Which scaling to fit (`--scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleKind {
    /// Subtract the mean, divide by the standard deviation.
    Standardize,
    /// Subtract the minimum, divide by the range: [0, 1] on the training data.
    #[serde(rename = "minmax")]
    MinMax,
}

impl fmt::Display for ScaleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScaleKind::Standardize => "standardize",
            ScaleKind::MinMax => "minmax",
        })
    }
}

impl FromStr for ScaleKind {
    type Err = BpropError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standardize" | "standard" | "zscore" => Ok(ScaleKind::Standardize),
            "minmax" | "min-max" | "min_max" => Ok(ScaleKind::MinMax),
            _ => Err(BpropError::UnknownName {
                kind: "scaling",
                name: s.into(),
                expected: "standardize, minmax",
            }),
        }
    }
}

/// A fitted per-column scaling: x' = (x − offset\[j\]) / scale\[j\].
#[derive(Clone, Debug, PartialEq)]
pub struct Scaling {
    /// How it was fitted.
    pub kind: ScaleKind,
    /// Per input column: the value mapped to 0.
    pub offset: Vec<f64>,
    /// Per input column: the divisor, finite and non-zero.
    pub scale: Vec<f64>,
}

impl Scaling {
    /// Fits `kind` to the columns of `inputs` (n, d) (in f64, whatever `T`).
    ///
    /// # Errors
    /// [`BpropError::Shape`] when `inputs` has no rows or no columns.
    pub fn fit<T: Real>(kind: ScaleKind, inputs: &Array2<T>) -> Result<Self> {
        let (n, d) = inputs.dim();
        if n == 0 || d == 0 {
            return Err(BpropError::shape(
                "inputs to fit a scaling to",
                "(n ≥ 1, d ≥ 1)",
                (n, d),
            ));
        }
        let mut offset = Vec::with_capacity(d);
        let mut scale = Vec::with_capacity(d);
        for col in inputs.columns() {
            let (o, s) = match kind {
                ScaleKind::Standardize => {
                    let mean = col.iter().map(|v| v.f64()).sum::<f64>() / n as f64;
                    let var = col.iter().map(|v| (v.f64() - mean).powi(2)).sum::<f64>() / n as f64;
                    (mean, var.sqrt())
                }
                ScaleKind::MinMax => {
                    let lo = col.iter().map(|v| v.f64()).fold(f64::INFINITY, f64::min);
                    let hi = col.iter().map(|v| v.f64()).fold(f64::NEG_INFINITY, f64::max);
                    (lo, hi - lo)
                }
            };
            offset.push(o);
            scale.push(if s > 0.0 && s.is_finite() { s } else { 1.0 });
        }
        Ok(Scaling { kind, offset, scale })
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.offset.len()
    }

    /// Checks that offsets and scales are finite, scales non-zero, and both of one length.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `scaling`.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| BpropError::InvalidArgument {
            name: "scaling",
            value: format!("{} columns", self.offset.len()),
            why,
        };
        if self.offset.len() != self.scale.len() {
            return Err(bad(format!(
                "{} offsets but {} scales",
                self.offset.len(),
                self.scale.len()
            )));
        }
        if let Some(j) = (0..self.width()).find(|&j| !self.offset[j].is_finite()) {
            return Err(bad(format!("offset of column {j} is {}", self.offset[j])));
        }
        if let Some(j) = (0..self.width()).find(|&j| !(self.scale[j].is_finite() && self.scale[j] != 0.0)) {
            return Err(bad(format!(
                "scale of column {j} is {}; it must be finite and non-zero",
                self.scale[j]
            )));
        }
        Ok(())
    }

    /// Scales `inputs` (n, width) in place.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when the widths differ.
    pub fn apply<T: Real>(&self, inputs: &mut Array2<T>) -> Result<()> {
        if inputs.ncols() != self.width() {
            return Err(BpropError::shape(
                "inputs to scale (columns = the scaling's columns)",
                (inputs.nrows(), self.width()),
                inputs.dim(),
            ));
        }
        for mut row in inputs.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = T::of((v.f64() - self.offset[j]) / self.scale[j]);
            }
        }
        Ok(())
    }

    /// A copy of `data` with its inputs scaled.
    ///
    /// # Errors
    /// As [`Scaling::apply`], and [`Dataset::new`]'s when scaling overflows to infinity.
    pub fn apply_dataset<T: Real>(&self, data: &Dataset<T>) -> Result<Dataset<T>> {
        let mut x = data.inputs().clone();
        self.apply(&mut x)?;
        Dataset::new(x, data.targets().clone())
    }
}

/// A fitted scaling of regression targets: each target column standardized on the
/// training part, y' = (y − offset\[j\]) / scale\[j\] (mean and population standard
/// deviation; a constant column gets scale 1). The network learns y'; its outputs are
/// mapped back with [`TargetScaling::undo`], y = y'·scale + offset, wherever they leave
/// bprop (eval's errors, predict, the ONNX graph). Saved in the model's metadata.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TargetScaling {
    /// Per target column: its mean on the training part.
    pub offset: Vec<f64>,
    /// Per target column: its standard deviation there, finite and non-zero.
    pub scale: Vec<f64>,
}

impl TargetScaling {
    /// Standardizes the columns of `targets` (n, k).
    ///
    /// # Errors
    /// [`BpropError::Shape`] when `targets` has no rows or no columns.
    pub fn fit<T: Real>(targets: &Array2<T>) -> Result<Self> {
        let s = Scaling::fit(ScaleKind::Standardize, targets)?;
        Ok(TargetScaling {
            offset: s.offset,
            scale: s.scale,
        })
    }

    /// Number of target columns.
    pub fn width(&self) -> usize {
        self.offset.len()
    }

    fn as_scaling(&self) -> Scaling {
        Scaling {
            kind: ScaleKind::Standardize,
            offset: self.offset.clone(),
            scale: self.scale.clone(),
        }
    }

    /// Checks that it has `outputs` columns, finite offsets and finite non-zero scales.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `target_scaling`.
    pub fn validate(&self, outputs: usize) -> Result<()> {
        let bad = |why: String| BpropError::InvalidArgument {
            name: "target_scaling",
            value: format!("{} columns", self.width()),
            why,
        };
        if self.width() != outputs {
            return Err(bad(format!("the network has {outputs} outputs")));
        }
        self.as_scaling().validate().map_err(|e| match e {
            BpropError::InvalidArgument { why, .. } => bad(why),
            other => other,
        })
    }

    /// Scales `targets` (n, width) in place: y' = (y − offset) / scale.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when the widths differ.
    pub fn apply<T: Real>(&self, targets: &mut Array2<T>) -> Result<()> {
        self.as_scaling().apply(targets)
    }

    /// Maps network outputs (n, width) back to the targets' units in place:
    /// y = y'·scale + offset.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when the widths differ.
    pub fn undo<T: Real>(&self, outputs: &mut Array2<T>) -> Result<()> {
        if outputs.ncols() != self.width() {
            return Err(BpropError::shape(
                "outputs to unscale (columns = the target scaling's columns)",
                (outputs.nrows(), self.width()),
                outputs.dim(),
            ));
        }
        for mut row in outputs.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = T::of(v.f64() * self.scale[j] + self.offset[j]);
            }
        }
        Ok(())
    }

    /// A copy of `data` with its targets scaled.
    ///
    /// # Errors
    /// As [`TargetScaling::apply`], and [`Dataset::new`]'s.
    pub fn apply_dataset<T: Real>(&self, data: &Dataset<T>) -> Result<Dataset<T>> {
        let mut y = data.targets().clone();
        self.apply(&mut y)?;
        Dataset::new(data.inputs().clone(), y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn target_scaling_standardizes_and_undoes() {
        let y = array![[35.0, 1.0], [180.0, 1.0], [100.0, 1.0], [85.0, 1.0]];
        let t = TargetScaling::fit(&y).unwrap();
        assert_eq!(t.offset, vec![100.0, 1.0]);
        // Population deviation: sqrt((65² + 80² + 0 + 15²) / 4) = sqrt(2712.5).
        assert_eq!(t.scale, vec![2712.5f64.sqrt(), 1.0]);
        let mut s = y.clone();
        t.apply(&mut s).unwrap();
        assert!((s[[0, 0]] + 65.0 / 2712.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(s[[2, 0]], 0.0);
        assert_eq!(s.column(1).to_vec(), vec![0.0; 4]);
        t.undo(&mut s).unwrap();
        for (a, b) in s.iter().zip(y.iter()) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
        assert!(t.validate(2).is_ok());
        assert!(t.validate(3).is_err());
        let bad = TargetScaling {
            offset: vec![0.0],
            scale: vec![0.0],
        };
        assert!(bad.validate(1).is_err());
        assert!(t.undo(&mut Array2::<f64>::zeros((1, 3))).is_err());
    }
}
