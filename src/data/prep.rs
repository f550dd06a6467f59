//! The input-preprocessing stage: how a table's input columns become a network's inputs,
//! as a column transformer (scikit-learn's `ColumnTransformer` of a `SimpleImputer` and a
//! `OneHotEncoder`): **select → impute → one-hot** (the input scaling of [`super::scale`]
//! follows, on the numeric columns only).
//!
//! - **Select**: the table's input columns are those left after the targets, `--ignore`d
//!   columns and a pandas index column (an empty header name in the first column), or those
//!   `--features` lists; [`InputColumn::position`] keeps where each was in the training
//!   table, so files without a header are read the same way.
//! - **Missing values**: a field that is empty or one of `NA`, `N/A`, `NaN`, `?`, `null`,
//!   `<NA>` (any case; [`is_missing`]) is missing. With an [`Impute`] strategy fitted on the
//!   training part it is replaced by the column's mean, median or most frequent value
//!   (text columns always take their most frequent category, as means and medians do not
//!   exist for them); without one it is an error that counts every missing field per
//!   column.
//! - **One-hot**: a column whose fields (missing ones aside) are all text is categorical:
//!   its categories are learned on the training part, sorted, and each becomes one input
//!   that is 1 where the field holds it and 0 elsewhere. A category not seen in training
//!   encodes as all zeros (scikit-learn's `handle_unknown="ignore"`), and is counted so the
//!   user is warned.
//! - **Missing indicators** (`--missing-indicator`, scikit-learn's `add_indicator=True`):
//!   one more input per column that had missing values in the training part, 1 where the
//!   field is missing.
//!
//! The network's inputs are laid out as scikit-learn's `ColumnTransformer` lays out its
//! transformers' outputs: the numeric columns in table order, then each categorical
//! column's categories, then the indicators (table order). The fitted [`Preprocess`] is
//! part of the model's [`super::Schema`], so train, eval, predict, the library and the ONNX
//! export apply the same stage.

use crate::error::{BpropError, Result};
use crate::model::Real;
use ndarray::Array2;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Whether a field is a missing value: empty, or `NA`, `N/A`, `NaN`, `-NaN`, `?`, `null`,
/// `<NA>` in any case (pandas' markers, less its rarer ones).
pub fn is_missing(field: &str) -> bool {
    let f = field.trim();
    f.is_empty()
        || f == "?"
        || ["na", "n/a", "nan", "-nan", "null", "<na>"]
            .iter()
            .any(|m| f.eq_ignore_ascii_case(m))
}

/// How missing values are filled (`--impute`), from the training part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    /// The column's mean (text columns: the most frequent category).
    Mean,
    /// The column's median, the mean of the two middle values for an even count (text
    /// columns: the most frequent category).
    Median,
    /// The column's most frequent value, the smallest among ties.
    MostFrequent,
}

impl fmt::Display for Impute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Impute::Mean => "mean",
            Impute::Median => "median",
            Impute::MostFrequent => "most_frequent",
        })
    }
}

impl FromStr for Impute {
    type Err = BpropError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "mean" => Ok(Impute::Mean),
            "median" => Ok(Impute::Median),
            "most_frequent" | "mode" => Ok(Impute::MostFrequent),
            _ => Err(BpropError::UnknownName {
                kind: "imputation",
                name: s.into(),
                expected: "mean, median, most_frequent",
            }),
        }
    }
}

/// One input column of the table and its fitted state.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputColumn {
    /// Its 0-based position in the training table.
    pub position: usize,
    /// For a text column: its categories, sorted, one network input each; absent for a
    /// numeric column (one network input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// What a missing value becomes in a numeric column (fitted), when imputing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<f64>,
    /// What a missing value becomes in a text column (its most frequent category), when
    /// imputing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_category: Option<String>,
    /// Whether a missing-indicator input is added for it (it had missing values in the
    /// training part and indicators were asked for).
    #[serde(default)]
    pub indicator: bool,
}

impl InputColumn {
    /// Whether the column is categorical (one-hot encoded).
    pub fn is_categorical(&self) -> bool {
        self.categories.is_some()
    }

    /// Whether a missing value in it can be filled.
    pub fn imputes(&self) -> bool {
        self.fill.is_some() || self.fill_category.is_some()
    }
}

/// The fitted input-preprocessing stage (module doc): per input column its place in the
/// table, its categories and its fill.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    /// The input columns, in table order.
    pub columns: Vec<InputColumn>,
    /// The imputation strategy, when missing values are filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impute: Option<Impute>,
    /// Whether missing-indicator inputs are added.
    #[serde(default)]
    pub missing_indicator: bool,
}

/// The raw input columns of a table, before the stage: numbers (NaN where missing) or text
/// (`None` where missing).
#[derive(Clone, Debug, PartialEq)]
pub struct RawInputs {
    /// Number of rows.
    pub rows: usize,
    /// One per input column, in table order.
    pub columns: Vec<RawColumn>,
    /// Each column's description for messages (`` `color` (column 2) ``).
    pub names: Vec<String>,
}

impl RawInputs {
    /// The rows `rows` (each below [`RawInputs::rows`]), in that order.
    pub fn select_rows(&self, rows: &[usize]) -> RawInputs {
        RawInputs {
            rows: rows.len(),
            columns: self
                .columns
                .iter()
                .map(|c| match c {
                    RawColumn::Numbers(v) => RawColumn::Numbers(rows.iter().map(|&r| v[r]).collect()),
                    RawColumn::Text(v) => RawColumn::Text(rows.iter().map(|&r| v[r].clone()).collect()),
                })
                .collect(),
            names: self.names.clone(),
        }
    }
}

/// One raw input column.
#[derive(Clone, Debug, PartialEq)]
pub enum RawColumn {
    /// Numbers, NaN where the field is missing.
    Numbers(Vec<f64>),
    /// Text, `None` where the field is missing.
    Text(Vec<Option<String>>),
}

impl RawColumn {
    /// Rows whose field is missing.
    pub fn missing(&self) -> usize {
        match self {
            RawColumn::Numbers(v) => v.iter().filter(|x| x.is_nan()).count(),
            RawColumn::Text(v) => v.iter().filter(|x| x.is_none()).count(),
        }
    }
}

/// The encoded inputs and what the user should be told about them.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded<T> {
    /// The network's inputs, (rows, width).
    pub inputs: Array2<T>,
    /// Per input column: how many rows held a category not seen in training (encoded as
    /// all zeros), and up to four of those categories (distinct, in order of appearance).
    pub unseen: Vec<(usize, Vec<String>)>,
    /// Per input column: how many missing fields were filled.
    pub filled: Vec<usize>,
}

impl Preprocess {
    /// The network inputs the stage produces.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.categories.as_ref().map_or(1, Vec::len) + usize::from(c.indicator))
            .sum()
    }

    /// The network inputs that hold 0/1 codes (one-hot categories and indicators), which
    /// the input scaling leaves as they are.
    pub fn code_inputs(&self) -> Vec<usize> {
        let numeric = self.columns.iter().filter(|c| !c.is_categorical()).count();
        (numeric..self.width()).collect()
    }

    /// Whether the stage does anything beyond selecting columns (it has categorical columns
    /// or fills), so that it must be fitted.
    pub fn fits(&self) -> bool {
        self.impute.is_some() || self.columns.iter().any(InputColumn::is_categorical)
    }

    /// Checks the stage's own consistency (one read from a model file may have been
    /// altered): positions distinct; categories non-empty, distinct, none a missing
    /// marker; fills finite, of the column's kind, a text fill one of the categories;
    /// indicators only with `missing_indicator`.
    ///
    /// # Errors
    /// A message saying what disagrees.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.columns.is_empty() {
            return Err("a preprocessing stage without input columns".into());
        }
        for (j, c) in self.columns.iter().enumerate() {
            if self.columns[..j].iter().any(|d| d.position == c.position) {
                return Err(format!("input column {} appears twice", c.position));
            }
            if c.indicator && !self.missing_indicator {
                return Err(format!(
                    "input column {} has an indicator, but indicators are off",
                    c.position
                ));
            }
            match &c.categories {
                Some(cats) => {
                    if cats.is_empty() {
                        return Err(format!("input column {} has no categories", c.position));
                    }
                    if let Some(k) = (1..cats.len()).find(|&k| cats[..k].contains(&cats[k])) {
                        return Err(format!("input column {} repeats category {:?}", c.position, cats[k]));
                    }
                    if let Some(m) = cats.iter().find(|s| is_missing(s)) {
                        return Err(format!(
                            "input column {}'s category {m:?} is a missing value",
                            c.position
                        ));
                    }
                    if c.fill.is_some() {
                        return Err(format!("text input column {} has a numeric fill", c.position));
                    }
                    if let Some(f) = &c.fill_category {
                        if !cats.contains(f) {
                            return Err(format!("input column {}'s fill {f:?} is not a category", c.position));
                        }
                    }
                }
                None => {
                    if c.fill_category.is_some() {
                        return Err(format!("numeric input column {} has a text fill", c.position));
                    }
                    if c.fill.is_some_and(|f| !f.is_finite()) {
                        return Err(format!("input column {}'s fill is not finite", c.position));
                    }
                }
            }
            if self.impute.is_some() != c.imputes() {
                return Err(format!(
                    "input column {} {} a fill, but imputation is {}",
                    c.position,
                    if c.imputes() { "has" } else { "lacks" },
                    self.impute.map_or("off".into(), |i| i.to_string())
                ));
            }
        }
        Ok(())
    }

    /// The stage with its categories, fills and indicators fitted on `rows` of `raw` (the
    /// training part), keeping this stage's columns, their kinds and its settings.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `impute` for a column with no value at all in
    /// those rows (nothing to fill it from, and nothing to learn categories from).
    pub fn refit(&self, raw: &RawInputs, rows: &[usize]) -> Result<Preprocess> {
        let mut columns = Vec::with_capacity(self.columns.len());
        for (j, c) in self.columns.iter().enumerate() {
            let empty = |what: &str| BpropError::InvalidArgument {
                name: if self.impute.is_some() { "impute" } else { "data" },
                value: raw.names[j].clone(),
                why: format!(
                    "has no {what} in the {} training rows; leave it out with --ignore",
                    rows.len()
                ),
            };
            let mut col = InputColumn {
                position: c.position,
                categories: None,
                fill: None,
                fill_category: None,
                indicator: false,
            };
            let missing = match &raw.columns[j] {
                RawColumn::Numbers(v) => {
                    let present: Vec<f64> = rows.iter().map(|&r| v[r]).filter(|x| !x.is_nan()).collect();
                    if let Some(how) = self.impute {
                        if present.is_empty() {
                            return Err(empty("value"));
                        }
                        col.fill = Some(numeric_fill(how, present.clone()));
                    }
                    rows.len() - present.len()
                }
                RawColumn::Text(v) => {
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for &r in rows {
                        if let Some(s) = &v[r] {
                            *counts.entry(s).or_default() += 1;
                        }
                    }
                    if counts.is_empty() {
                        return Err(empty("category"));
                    }
                    if self.impute.is_some() {
                        // The most frequent, the first (smallest) among ties.
                        let top = counts.values().copied().max().unwrap_or(0);
                        col.fill_category = counts.iter().find(|(_, &n)| n == top).map(|(s, _)| s.to_string());
                    }
                    let present: usize = counts.values().sum();
                    col.categories = Some(counts.into_keys().map(str::to_string).collect());
                    rows.len() - present
                }
            };
            col.indicator = self.missing_indicator && missing > 0;
            columns.push(col);
        }
        Ok(Preprocess {
            columns,
            impute: self.impute,
            missing_indicator: self.missing_indicator,
        })
    }

    /// Encodes `raw` (whose columns are this stage's, in order): the network's inputs, laid
    /// out as the module doc says.
    ///
    /// # Errors
    /// [`BpropError::Shape`] when `raw` has other columns or kinds than the stage;
    /// [`BpropError::InvalidArgument`] for a missing value in a column the stage cannot
    /// fill (the table reader reports these first, counted); [`BpropError::InputLimit`]
    /// when the encoded inputs would exceed the input limit.
    pub fn transform<T: Real>(&self, raw: &RawInputs) -> Result<Encoded<T>> {
        if raw.columns.len() != self.columns.len() {
            return Err(BpropError::shape(
                "raw input columns (the preprocessing stage's)",
                self.columns.len(),
                raw.columns.len(),
            ));
        }
        let width = self.width();
        let bytes = (raw.rows as u64)
            .saturating_mul(width as u64)
            .saturating_mul(std::mem::size_of::<T>() as u64);
        if bytes > super::DEFAULT_MAX_INPUT_BYTES {
            return Err(BpropError::InputLimit {
                path: raw.names.first().cloned().unwrap_or_default(),
                what: format!("encoded inputs of {} rows by {width} columns ({bytes} bytes)", raw.rows),
                limit: super::DEFAULT_MAX_INPUT_BYTES,
                hint: "leave out text columns with many categories (--ignore COLUMN)".into(),
            });
        }
        let mut x = Array2::<T>::zeros((raw.rows, width));
        let mut unseen = vec![(0usize, Vec::new()); self.columns.len()];
        let mut filled = vec![0usize; self.columns.len()];
        let unfillable = |j: usize| BpropError::InvalidArgument {
            name: "data",
            value: raw.names[j].clone(),
            why: "holds a missing value, and the model fills none in this column (train with --impute)".into(),
        };
        // Numeric columns first, then categories, then indicators.
        let mut at = 0;
        for (j, c) in self.columns.iter().enumerate().filter(|(_, c)| !c.is_categorical()) {
            let RawColumn::Numbers(v) = &raw.columns[j] else {
                return Err(BpropError::shape(
                    format!("{} (numbers)", raw.names[j]),
                    "numbers",
                    "text",
                ));
            };
            for (r, &val) in v.iter().enumerate() {
                let val = if val.is_nan() {
                    filled[j] += 1;
                    c.fill.ok_or_else(|| unfillable(j))?
                } else {
                    val
                };
                let t = T::of(val);
                if !t.is_finite() {
                    return Err(BpropError::InvalidArgument {
                        name: "data",
                        value: raw.names[j].clone(),
                        why: format!("row {r} holds {val}, which overflows {}", T::NAME),
                    });
                }
                x[(r, at)] = t;
            }
            at += 1;
        }
        for (j, c) in self.columns.iter().enumerate() {
            let Some(cats) = &c.categories else { continue };
            let RawColumn::Text(v) = &raw.columns[j] else {
                return Err(BpropError::shape(format!("{} (text)", raw.names[j]), "text", "numbers"));
            };
            let index: BTreeMap<&str, usize> = cats.iter().enumerate().map(|(k, s)| (s.as_str(), k)).collect();
            for (r, field) in v.iter().enumerate() {
                let s = match field {
                    Some(s) => s.as_str(),
                    None => {
                        filled[j] += 1;
                        c.fill_category.as_deref().ok_or_else(|| unfillable(j))?
                    }
                };
                match index.get(s) {
                    Some(&k) => x[(r, at + k)] = T::one(),
                    None => {
                        let u = &mut unseen[j];
                        u.0 += 1;
                        if u.1.len() < 4 && !u.1.iter().any(|e| e == s) {
                            u.1.push(s.to_string());
                        }
                    }
                }
            }
            at += cats.len();
        }
        for j in (0..self.columns.len()).filter(|&j| self.columns[j].indicator) {
            match &raw.columns[j] {
                RawColumn::Numbers(v) => {
                    for (r, val) in v.iter().enumerate() {
                        if val.is_nan() {
                            x[(r, at)] = T::one();
                        }
                    }
                }
                RawColumn::Text(v) => {
                    for (r, field) in v.iter().enumerate() {
                        if field.is_none() {
                            x[(r, at)] = T::one();
                        }
                    }
                }
            }
            at += 1;
        }
        debug_assert_eq!(at, width);
        Ok(Encoded {
            inputs: x,
            unseen,
            filled,
        })
    }

    /// One line per column that is not a plain number column: its categories, its fill,
    /// its indicator. `names[j]` describes column `j`.
    pub fn describe(&self, names: &[String]) -> Vec<String> {
        let mut lines = Vec::new();
        for (j, c) in self.columns.iter().enumerate() {
            let name = names
                .get(j)
                .cloned()
                .unwrap_or_else(|| format!("column {}", c.position));
            let mut parts = Vec::new();
            if let Some(cats) = &c.categories {
                parts.push(format!(
                    "text, {} categories one-hot encoded ({})",
                    cats.len(),
                    super::table::preview(cats)
                ));
            }
            if let Some(f) = c.fill {
                parts.push(format!(
                    "missing values filled with {f} ({})",
                    self.impute.unwrap_or(Impute::Mean)
                ));
            }
            if let Some(f) = &c.fill_category {
                parts.push(format!("missing values filled with `{f}` (most frequent)"));
            }
            if c.indicator {
                parts.push("a missing-value indicator input".into());
            }
            if !parts.is_empty() {
                lines.push(format!("{name}: {}", parts.join("; ")));
            }
        }
        lines
    }
}

/// The fill for a numeric column from its present values (at least one).
fn numeric_fill(how: Impute, mut v: Vec<f64>) -> f64 {
    match how {
        Impute::Mean => v.iter().sum::<f64>() / v.len() as f64,
        Impute::Median => {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        }
        Impute::MostFrequent => {
            v.sort_by(f64::total_cmp);
            // Runs of equal values in sorted order: the first longest is the smallest mode.
            let (mut best, mut best_n) = (v[0], 0);
            let mut i = 0;
            while i < v.len() {
                let run = v[i..].iter().take_while(|&&x| x == v[i]).count();
                if run > best_n {
                    (best, best_n) = (v[i], run);
                }
                i += run;
            }
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawInputs {
        RawInputs {
            rows: 5,
            columns: vec![
                RawColumn::Numbers(vec![1.0, f64::NAN, 3.0, 4.0, 3.0]),
                RawColumn::Text(vec![
                    Some("red".into()),
                    Some("blue".into()),
                    None,
                    Some("red".into()),
                    Some("green".into()),
                ]),
            ],
            names: vec!["`x`".into(), "`color`".into()],
        }
    }

    fn stage(impute: Option<Impute>, indicator: bool) -> Preprocess {
        Preprocess {
            columns: vec![
                InputColumn {
                    position: 0,
                    categories: None,
                    fill: None,
                    fill_category: None,
                    indicator: false,
                },
                InputColumn {
                    position: 2,
                    categories: Some(vec![]),
                    fill: None,
                    fill_category: None,
                    indicator: false,
                },
            ],
            impute,
            missing_indicator: indicator,
        }
    }

    #[test]
    fn missing_markers() {
        for m in [
            "", " ", "NA", "na", "N/A", "NaN", "nan", "-nan", "?", "null", "NULL", "<NA>",
        ] {
            assert!(is_missing(m), "{m:?}");
        }
        for m in ["0", "None", "n", "a", "??", "inf"] {
            assert!(!is_missing(m), "{m:?}");
        }
    }

    #[test]
    fn fills_follow_scikit_learn() {
        assert_eq!(numeric_fill(Impute::Mean, vec![1.0, 3.0, 4.0, 3.0]), 2.75);
        assert_eq!(numeric_fill(Impute::Median, vec![1.0, 3.0, 4.0, 3.0]), 3.0);
        assert_eq!(numeric_fill(Impute::Median, vec![4.0, 1.0, 2.0]), 2.0);
        assert_eq!(numeric_fill(Impute::Median, vec![4.0, 1.0]), 2.5);
        assert_eq!(numeric_fill(Impute::MostFrequent, vec![1.0, 3.0, 4.0, 3.0]), 3.0);
        // Ties: the smallest.
        assert_eq!(numeric_fill(Impute::MostFrequent, vec![5.0, 2.0, 5.0, 2.0, 7.0]), 2.0);
    }

    #[test]
    fn fitted_on_the_given_rows_and_encoded() {
        let raw = raw();
        // Fitted on rows 0..4 (row 4, `green`, is not seen).
        let p = stage(Some(Impute::Mean), true).refit(&raw, &[0, 1, 2, 3]).unwrap();
        p.validate().unwrap();
        assert_eq!(p.columns[0].fill, Some((1.0 + 3.0 + 4.0) / 3.0));
        assert_eq!(
            p.columns[1].categories.as_deref(),
            Some(&["blue".to_string(), "red".to_string()][..])
        );
        assert_eq!(p.columns[1].fill_category.as_deref(), Some("red"));
        assert!(p.columns[0].indicator && p.columns[1].indicator);
        // x, blue, red, x missing, color missing.
        assert_eq!(p.width(), 5);
        assert_eq!(p.code_inputs(), vec![1, 2, 3, 4]);
        let e = p.transform::<f64>(&raw).unwrap();
        let m = 8.0 / 3.0;
        let want = ndarray::array![
            [1.0, 0.0, 1.0, 0.0, 0.0],
            [m, 1.0, 0.0, 1.0, 0.0],
            [3.0, 0.0, 1.0, 0.0, 1.0],
            [4.0, 0.0, 1.0, 0.0, 0.0],
            [3.0, 0.0, 0.0, 0.0, 0.0],
        ];
        assert_eq!(e.inputs, want);
        assert_eq!(e.unseen[1], (1, vec!["green".to_string()]));
        assert_eq!(e.filled, vec![1, 1]);
    }

    #[test]
    fn without_imputation_a_missing_value_is_refused_and_indicators_need_missing_rows() {
        let raw = raw();
        let p = stage(None, true).refit(&raw, &[0, 3, 4]).unwrap();
        p.validate().unwrap();
        assert!(!p.columns[0].indicator && !p.columns[1].indicator);
        assert_eq!(p.width(), 1 + 2);
        assert!(matches!(
            p.transform::<f32>(&raw),
            Err(BpropError::InvalidArgument { name: "data", .. })
        ));
        // A column with nothing to learn from in the training rows.
        let e = stage(Some(Impute::Median), false).refit(&raw, &[1]).unwrap_err();
        assert!(e.to_string().contains("`x`"), "{e}");
    }

    #[test]
    fn validation_catches_altered_stages() {
        let good = stage(Some(Impute::MostFrequent), false)
            .refit(&raw(), &[0, 1, 2, 3, 4])
            .unwrap();
        good.validate().unwrap();
        let mut bad = good.clone();
        bad.columns[1].fill_category = Some("purple".into());
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.columns[0].fill = Some(f64::INFINITY);
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.columns[1].position = 0;
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.columns[1].categories = Some(vec!["a".into(), "a".into()]);
        assert!(bad.validate().is_err());
        let mut bad = good;
        bad.impute = None;
        assert!(bad.validate().is_err());
    }
}
