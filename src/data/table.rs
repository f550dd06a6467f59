//! Tables of samples from any reader, and how their columns become a network's inputs and
//! targets.
//!
//! CSV/TSV files ([`super::csv`]) and NumPy arrays ([`super::npy`]) are read into a
//! [`Grid`]: numbered (and, with a header, named) columns of numbers, with any field that
//! is not a finite number kept as text. [`table_from_grid`] then picks the target columns
//! (`--target label`, `--target 4`, several; the last column by default), checks that every
//! input field is a number (else a [`BpropError::Parse`] naming file, line and column),
//! and decides the task:
//!
//! - **classification** when one target column holds text labels (`setosa`), or integer
//!   codes with at most [`MAX_AUTO_CLASSES`] distinct values; the labels are sorted
//!   (numerically when they are all numbers) and one-hot encoded, and the list is kept in the
//!   [`Schema`] so that predictions print labels. Several numeric target columns whose
//!   rows are one-hot (FANN's and PROBEN1's coding) are classification too, the column
//!   names (if any) serving as labels.
//! - **regression** otherwise: the target columns as numbers.
//!
//! `--task` overrides the decision. A [`Schema`] saved with a model makes evaluation and
//! prediction read new files exactly as training did: the same columns (by name when there
//! is a header, by position otherwise), the same label list (an unknown label is an error),
//! and for prediction the target columns may be missing.
//!
//! FANN files and MNIST's IDX pairs come with their split into inputs and targets, and are
//! turned into tables by [`table_from_dataset`].

use super::prep::{is_missing, Impute, InputColumn, Preprocess, RawColumn, RawInputs};
use crate::error::{BpropError, Result};
use crate::model::{Dataset, Real};
use ndarray::Array2;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Integer-coded target columns with at most this many distinct values are taken as class
/// labels when the task is not given.
pub const MAX_AUTO_CLASSES: usize = 10;

/// A text target column with more distinct labels than this, and more than one per two
/// rows, is taken for an identifier and refused unless the task is given.
pub const MAX_AUTO_ID_CLASSES: usize = 20;

/// What the targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Classes: one-hot targets (or one 0/1 column), accuracy and a confusion matrix.
    Classification,
    /// Numbers: MSE, MAE and R².
    Regression,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        })
    }
}

impl FromStr for Task {
    type Err = BpropError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classification" | "classify" | "class" => Ok(Task::Classification),
            "regression" | "regress" => Ok(Task::Regression),
            _ => Err(BpropError::UnknownName {
                kind: "task",
                name: s.into(),
                expected: "classification, regression",
            }),
        }
    }
}

/// A column, by 0-based position or by its header name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnRef {
    /// 0-based position.
    Index(usize),
    /// Header name.
    Name(String),
}

impl FromStr for ColumnRef {
    type Err = BpropError;
    /// All digits: a 0-based index; anything else: a name.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.is_empty() {
            return Err(BpropError::InvalidArgument {
                name: "target",
                value: format!("\"{s}\""),
                why: "give a column name or a 0-based column index".into(),
            });
        }
        Ok(match t.parse::<usize>() {
            Ok(i) => ColumnRef::Index(i),
            Err(_) => ColumnRef::Name(t.to_string()),
        })
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Index(i) => write!(f, "{i}"),
            ColumnRef::Name(n) => write!(f, "`{n}`"),
        }
    }
}

/// How a file's columns map to a network's inputs and outputs; saved with a model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// Classification or regression.
    pub task: Task,
    /// Number of input columns.
    pub inputs: usize,
    /// Number of network outputs (one per class for encoded labels).
    pub outputs: usize,
    /// The input columns' names, when the file had a header.
    pub input_names: Option<Vec<String>>,
    /// The target columns' names, when the file had a header.
    pub target_names: Option<Vec<String>>,
    /// Total columns of the training table (CSV, NPY), for files without a header.
    pub columns: Option<usize>,
    /// Positions (0-based) of the target columns in the training table (CSV, NPY).
    pub target_columns: Option<Vec<usize>>,
    /// Class labels in output order, when known (text or integer labels, named one-hot
    /// columns, MNIST's digits).
    pub labels: Option<Vec<String>>,
    /// Whether one target column of labels was one-hot encoded (`labels` then lists them).
    pub encoded: bool,
    /// The input-preprocessing stage ([`super::prep`]: selected columns, imputation, text
    /// columns one-hot encoded), when the inputs are not simply every non-target column as
    /// numbers. `inputs` then counts the network inputs it produces, and `input_names`
    /// names its columns (one per [`Preprocess::columns`] entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
}

impl Schema {
    /// The name of class `k`: its label, or its index.
    pub fn class_name(&self, k: usize) -> String {
        self.labels
            .as_ref()
            .and_then(|l| l.get(k).cloned())
            .unwrap_or_else(|| k.to_string())
    }
    /// Number of classes: outputs, or 2 for a single 0/1 output.
    pub fn classes(&self) -> usize {
        if self.outputs == 1 {
            2
        } else {
            self.outputs
        }
    }

    /// Checks that the schema is consistent in itself (a schema read from a model file may
    /// have been altered): names as many as their columns, target columns distinct and
    /// within the table, inputs plus targets making up the table, labels as many as the
    /// classes. [`table_from_grid`] relies on this when it reads a file against a schema.
    ///
    /// # Errors
    /// A message saying which field disagrees with which.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.inputs == 0 || self.outputs == 0 {
            return Err(format!("{} inputs and {} outputs", self.inputs, self.outputs));
        }
        // The table's input columns: the stage's, or one per network input.
        let input_columns = match &self.preprocess {
            Some(p) => {
                p.validate()?;
                if p.width() != self.inputs {
                    return Err(format!(
                        "a preprocessing stage of {} inputs for {} inputs",
                        p.width(),
                        self.inputs
                    ));
                }
                p.columns.len()
            }
            None => self.inputs,
        };
        if let Some(n) = &self.input_names {
            if n.len() != input_columns {
                return Err(format!("{} input names for {input_columns} input columns", n.len()));
            }
        }
        // The target columns: one of labels when encoded, else one per output.
        let targets = if self.encoded { 1 } else { self.outputs };
        if let Some(n) = &self.target_names {
            if n.len() != targets {
                return Err(format!("{} target names for {targets} target column(s)", n.len()));
            }
        }
        match (self.columns, &self.target_columns) {
            (None, None) => {}
            (Some(cols), Some(t)) => {
                if t.len() != targets {
                    return Err(format!("{} target columns, expected {targets}", t.len()));
                }
                if let Some(&c) = t.iter().find(|&&c| c >= cols) {
                    return Err(format!("target column {c} of a table of {cols} columns"));
                }
                if t.iter().enumerate().any(|(i, c)| t[..i].contains(c)) {
                    return Err(format!("target columns {t:?} repeat a column"));
                }
                match &self.preprocess {
                    Some(p) => {
                        if let Some(c) = p.columns.iter().find(|c| c.position >= cols || t.contains(&c.position)) {
                            return Err(format!(
                                "input column {} is a target or beyond the table's {cols} columns",
                                c.position
                            ));
                        }
                    }
                    None if self.inputs.checked_add(t.len()) != Some(cols) => {
                        return Err(format!(
                            "{} inputs and {} target columns, but a table of {cols} columns",
                            self.inputs,
                            t.len()
                        ));
                    }
                    None => {}
                }
            }
            (c, t) => return Err(format!("columns {c:?} without target columns {t:?}, or the reverse")),
        }
        if self.preprocess.is_some() && self.columns.is_none() {
            return Err("a preprocessing stage without the table's columns".into());
        }
        match &self.labels {
            // Encoded labels: one per class (a single output codes two classes, 0 and 1).
            Some(l) if self.encoded && l.len() != self.classes() => Err(format!(
                "{} labels for {} classes ({} outputs)",
                l.len(),
                self.classes(),
                self.outputs
            )),
            Some(l) if self.task == Task::Classification && l.len() != self.classes() => {
                Err(format!("{} labels for {} classes", l.len(), self.classes()))
            }
            None if self.encoded => Err("encoded labels, but no label list".into()),
            _ => Ok(()),
        }
    }
}

/// Numbered (and maybe named) columns read from a CSV/TSV file or a NumPy array. Fields
/// that are not finite numbers (text, empty, `nan`, `inf`) are NaN in `values` and kept
/// as text in `text`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The file, for messages.
    pub source: String,
    /// The header's names, if the file has one.
    pub names: Option<Vec<String>>,
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row-major values, NaN where the field is text.
    pub values: Vec<f64>,
    /// Per column: (row, field) of every field that is not a finite number, in row order.
    pub text: Vec<Vec<(usize, String)>>,
    /// Per row: its 1-based line in the file (text files).
    pub lines: Option<Vec<u64>>,
}

impl Grid {
    /// Where row `row`, column `col` is, for messages: `line 12, column 3 (`width`)` for
    /// text files (columns 1-based), `row 5, column 2` (0-based) for arrays.
    pub fn locate(&self, row: usize, col: usize) -> String {
        let name = self
            .names
            .as_ref()
            .and_then(|n| n.get(col))
            .map(|n| format!(" (`{n}`)"))
            .unwrap_or_default();
        match &self.lines {
            Some(lines) => format!("line {}, column {}{name}", lines[row], col + 1),
            None => format!("row {row}, column {col}{name}"),
        }
    }

    /// Row `row`'s number for messages: its 1-based line in a text file, else the 0-based
    /// row.
    fn row_number(&self, row: usize) -> String {
        match &self.lines {
            Some(lines) => lines[row].to_string(),
            None => row.to_string(),
        }
    }

    fn parse_err(&self, row: usize, col: usize, message: String) -> BpropError {
        BpropError::Parse {
            path: self.source.clone(),
            location: self.locate(row, col),
            message,
        }
    }

    fn column_name(&self, col: usize) -> String {
        match self.names.as_ref().and_then(|n| n.get(col)) {
            Some(n) => format!("`{n}` (column {col})"),
            None => format!("column {col}"),
        }
    }

    /// The index of the column `r` names, as a target column.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `target` for an index out of range, a name
    /// without a header, or an unknown name (listing the header).
    pub fn resolve(&self, r: &ColumnRef) -> Result<usize> {
        self.resolve_as(r, "target")
    }

    /// The index of the column `r` names, given for the option `role` (`target`, `ignore`,
    /// `features`).
    ///
    /// # Errors
    /// As [`Grid::resolve`], naming `role`.
    pub fn resolve_as(&self, r: &ColumnRef, role: &'static str) -> Result<usize> {
        match r {
            ColumnRef::Index(i) if *i < self.cols => Ok(*i),
            ColumnRef::Index(i) => Err(BpropError::InvalidArgument {
                name: role,
                value: i.to_string(),
                why: format!("{} has {} columns, numbered from 0", self.source, self.cols),
            }),
            ColumnRef::Name(n) => match &self.names {
                None => Err(BpropError::InvalidArgument {
                    name: role,
                    value: n.clone(),
                    why: format!("{} has no header, so give the column's 0-based index", self.source),
                }),
                Some(names) => names
                    .iter()
                    .position(|c| c == n)
                    .ok_or_else(|| BpropError::InvalidArgument {
                        name: role,
                        value: n.clone(),
                        why: format!(
                            "{} has no column of that name{}; its columns: {}",
                            self.source,
                            suggest(n, names).map_or(String::new(), |s| format!(" (did you mean `{s}`?)")),
                            names.join(", ")
                        ),
                    }),
            },
        }
    }

    /// For an error in the first row of a text file read without a header: the hint that
    /// the line may be one.
    fn header_hint(&self, row: usize) -> String {
        match (&self.names, &self.lines) {
            (None, Some(lines)) if row == 0 => {
                format!(" (if line {} is a header, give --header)", lines[0])
            }
            _ => String::new(),
        }
    }

    fn has_text(&self, col: usize) -> bool {
        !self.text[col].is_empty()
    }

    /// Column `col` as numbers, or an error at its first field that is not one.
    fn numbers(&self, col: usize, role: &str) -> Result<Vec<f64>> {
        if let Some((row, field)) = self.text[col].first() {
            let what = if field.is_empty() {
                "an empty field (a missing value)".to_string()
            } else {
                format!("`{field}`, which is not a finite number")
            };
            return Err(self.parse_err(
                *row,
                col,
                format!(
                    "found {what}; {} is {role} and must hold numbers{}",
                    self.column_name(col),
                    self.header_hint(*row)
                ),
            ));
        }
        Ok((0..self.rows).map(|r| self.values[r * self.cols + col]).collect())
    }

    /// Column `col` as label strings (numbers printed in their shortest form).
    fn labels(&self, col: usize) -> Vec<String> {
        let mut out: Vec<String> = (0..self.rows)
            .map(|r| {
                let v = self.values[r * self.cols + col];
                if v.is_nan() {
                    String::new()
                } else {
                    format!("{v}")
                }
            })
            .collect();
        for (r, t) in &self.text[col] {
            out[*r] = t.clone();
        }
        out
    }
}

/// How to turn a file into a [`Table`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableOptions {
    /// The target columns (CSV, NPY); empty: the last column.
    pub targets: Vec<ColumnRef>,
    /// The task, when not to be decided from the data.
    pub task: Option<Task>,
    /// CSV: whether the first line is a header (`None`: detect).
    pub header: Option<bool>,
    /// CSV: the field delimiter (`None`: tab for `.tsv`/`.tab`, else detected from the first line).
    pub delimiter: Option<u8>,
    /// A saved model's schema: read the columns, task and labels as in training.
    pub schema: Option<Schema>,
    /// Prediction: the target columns are not read. Against a schema, a file may lack
    /// them, and where it has them they are left out of the inputs and never parsed
    /// (empty cells, labels unseen in training), so the table has no targets.
    pub targets_optional: bool,
    /// Columns that are not inputs (`--ignore`); training only.
    pub ignore: Vec<ColumnRef>,
    /// The only input columns (`--features`), when given; training only.
    pub features: Option<Vec<ColumnRef>>,
    /// How missing input values are filled (`--impute`), fitted on the training part;
    /// training only.
    pub impute: Option<Impute>,
    /// Whether missing-indicator inputs are added (`--missing-indicator`); training only.
    pub missing_indicator: bool,
}

/// Samples ready for a network: inputs, targets (unless absent in a prediction file), and
/// the [`Schema`] that says what they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Table<T> {
    /// The file, for messages.
    pub source: String,
    /// Inputs, (n, inputs).
    pub inputs: Array2<T>,
    /// Targets, (n, outputs), when the file has them.
    pub targets: Option<Array2<T>>,
    /// What the columns are.
    pub schema: Schema,
    /// Decisions made while reading that a user should see (header detected, labels encoded).
    pub notes: Vec<String>,
    /// What a user should be warned of (categories a model has not seen, encoded as zeros).
    pub warnings: Vec<String>,
    /// The raw input columns, kept when the schema's preprocessing stage is to be fitted
    /// again on the training part ([`crate::driver::TrainPlan::resolve`] does, once it has
    /// split off the validation rows; `inputs` are encoded by a stage fitted on every row
    /// until then).
    pub raw: Option<RawInputs>,
}

impl<T: Real> Table<T> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.inputs.nrows()
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.inputs.nrows() == 0
    }

    /// The rows `rows` of the table (a fold, say), with its raw input columns cut to the
    /// same rows, so that [`crate::driver::TrainPlan::resolve`] fits the preprocessing
    /// stage on that part's training rows.
    ///
    /// # Errors
    /// [`BpropError::Shape`] for a row beyond the table.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Table<T>> {
        if let Some(&r) = rows.iter().find(|&&r| r >= self.len()) {
            return Err(BpropError::shape(format!("{} (rows)", self.source), self.len(), r + 1));
        }
        let raw = self.raw.as_ref().map(|raw| raw.select_rows(rows));
        Ok(Table {
            source: self.source.clone(),
            inputs: self.inputs.select(ndarray::Axis(0), rows),
            targets: self.targets.as_ref().map(|y| y.select(ndarray::Axis(0), rows)),
            schema: self.schema.clone(),
            notes: self.notes.clone(),
            warnings: self.warnings.clone(),
            raw,
        })
    }

    /// The samples as a dataset.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `data` when the file has no targets;
    /// [`Dataset::new`]'s errors.
    pub fn dataset(&self) -> Result<Dataset<T>> {
        let targets = self.targets.clone().ok_or_else(|| BpropError::InvalidArgument {
            name: "data",
            value: self.source.clone(),
            why: "has no target columns; training and evaluation need them".into(),
        })?;
        Dataset::new(self.inputs.clone(), targets)
    }
}

/// Whether every row of `y` (≥ 2 columns) is one-hot: one 1, the rest 0.
fn is_one_hot<T: Real>(y: &Array2<T>) -> bool {
    y.ncols() >= 2
        && y.rows().into_iter().all(|r| {
            r.iter().all(|&v| v == T::zero() || v == T::one()) && r.iter().filter(|&&v| v == T::one()).count() == 1
        })
}

/// Sorts labels: numerically when all are numbers, else as strings.
fn sort_labels(set: BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    let nums: Option<Vec<f64>> = v.iter().map(|s| s.parse::<f64>().ok()).collect();
    if let Some(nums) = nums {
        let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(v).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        v = pairs.into_iter().map(|p| p.1).collect();
    }
    v
}

/// The inputs and targets of a [`Grid`], as `opts` says (module doc).
///
/// # Errors
/// [`BpropError::InvalidArgument`] for unknown target columns or columns missing against a
/// schema; [`BpropError::Parse`] naming the file, line and column of a non-numeric input
/// (or regression target) field, or of a label the schema does not know; and
/// [`BpropError::Shape`] for a table with no rows or no input columns.
pub fn table_from_grid<T: Real>(grid: &Grid, opts: &TableOptions) -> Result<Table<T>> {
    let mut notes = Vec::new();
    if grid.rows == 0 {
        return Err(BpropError::Shape {
            what: format!("{} (samples)", grid.source),
            expected: "at least one row of data".into(),
            got: "none".into(),
        });
    }
    // Which columns are targets and which inputs; None: no targets in the file.
    let (target_cols, input_cols): (Option<Vec<usize>>, Vec<usize>) = match &opts.schema {
        Some(s) => schema_columns(grid, s, opts.targets_optional)?,
        None => {
            let refs = if opts.targets.is_empty() {
                vec![ColumnRef::Index(grid.cols.saturating_sub(1))]
            } else {
                opts.targets.clone()
            };
            let mut t: Vec<usize> = Vec::new();
            for r in &refs {
                let c = grid.resolve(r)?;
                if !t.contains(&c) {
                    t.push(c);
                }
            }
            let inputs = select_inputs(grid, &t, opts, &mut notes)?;
            (Some(t), inputs)
        }
    };
    if input_cols.is_empty() {
        return Err(BpropError::Shape {
            what: format!("{} (columns)", grid.source),
            expected: "at least one input column besides the targets".into(),
            got: format!("{} columns, all targets", grid.cols),
        });
    }
    let Inputs {
        x: inputs,
        preprocess,
        raw: raw_inputs,
        warnings,
    } = encode_inputs::<T>(
        grid,
        &input_cols,
        input_cols.len() + target_cols.as_ref().map_or(0, Vec::len) != grid.cols,
        opts,
        &mut notes,
    )?;
    let names_of = |cols: &[usize]| {
        grid.names
            .as_ref()
            .map(|n| cols.iter().map(|&c| n[c].clone()).collect())
    };
    let input_names: Option<Vec<String>> = names_of(&input_cols);

    let Some(target_cols) = target_cols else {
        let schema = opts.schema.clone().expect("targets are only optional against a schema");
        notes.push(format!("{}: inputs only (target columns not read)", grid.source));
        return Ok(Table {
            source: grid.source.clone(),
            inputs,
            targets: None,
            schema,
            notes,
            warnings,
            raw: raw_inputs,
        });
    };
    let target_names: Option<Vec<String>> = names_of(&target_cols);
    let saved = opts.schema.as_ref();
    let task = saved.map(|s| s.task).or(opts.task);
    let single = target_cols.len() == 1;
    let tc = target_cols[0];

    // With the task left to bprop, how many distinct integers one numeric target holds.
    let integer_codes: Option<usize> = (saved.is_none() && task.is_none() && single && !grid.has_text(tc))
        .then(|| {
            let vals: Vec<f64> = (0..grid.rows).map(|r| grid.values[r * grid.cols + tc]).collect();
            let integral = vals.iter().all(|v| v.fract() == 0.0 && v.abs() < 1e15);
            integral.then(|| vals.iter().map(|&v| v as i64).collect::<BTreeSet<i64>>().len())
        })
        .flatten();
    // Classification from one column of labels?
    let encode = match saved {
        Some(s) => s.encoded,
        None => {
            single
                && match task {
                    Some(Task::Classification) => true,
                    Some(Task::Regression) => false,
                    None => grid.has_text(tc) || integer_codes.is_some_and(|d| d <= MAX_AUTO_CLASSES),
                }
        }
    };
    if encode {
        let raw = grid.labels(tc);
        let labels: Vec<String> = match saved.and_then(|s| s.labels.clone()) {
            Some(l) => l,
            None => {
                if let Some(r) = raw.iter().position(String::is_empty) {
                    return Err(grid.parse_err(r, tc, "an empty class label (a missing value)".into()));
                }
                let set: BTreeSet<String> = raw.iter().cloned().collect();
                if set.len() < 2 {
                    return Err(BpropError::InvalidArgument {
                        name: "target",
                        value: grid.column_name(tc),
                        why: format!(
                            "holds a single class ({}); classification needs at least two \
                             (use --task regression for numbers)",
                            set.iter().next().cloned().unwrap_or_default()
                        ),
                    });
                }
                // An identifier column (the default target is the last column) would make
                // nearly every row a class of its own: refused unless asked for.
                if task.is_none() && set.len() > MAX_AUTO_ID_CLASSES && set.len() * 2 > grid.rows {
                    return Err(BpropError::InvalidArgument {
                        name: "target",
                        value: grid.column_name(tc),
                        why: format!(
                            "holds {} distinct labels in {} rows, nearly one per row (an identifier?); choose the \
                             target column with --target, or give --task classification to encode it anyway",
                            set.len(),
                            grid.rows
                        ),
                    });
                }
                sort_labels(set)
            }
        };
        let one_hot = (grid.rows as u64)
            .saturating_mul(labels.len() as u64)
            .saturating_mul(std::mem::size_of::<T>() as u64);
        if one_hot > super::DEFAULT_MAX_INPUT_BYTES {
            return Err(BpropError::InputLimit {
                path: grid.source.clone(),
                what: format!(
                    "one-hot targets of {} rows by {} classes of target {} ({one_hot} bytes)",
                    grid.rows,
                    labels.len(),
                    grid.column_name(tc)
                ),
                limit: super::DEFAULT_MAX_INPUT_BYTES,
                hint: "choose another target column with --target, or regression with --task regression".into(),
            });
        }
        let mut y = Array2::<T>::zeros((grid.rows, labels.len()));
        for (r, l) in raw.iter().enumerate() {
            let k = labels.iter().position(|x| x == l).ok_or_else(|| {
                grid.parse_err(
                    r,
                    tc,
                    format!(
                        "class label `{l}` is not one of the model's classes: {}{}",
                        labels.join(", "),
                        grid.header_hint(r)
                    ),
                )
            })?;
            y[(r, k)] = T::one();
        }
        if saved.is_none() {
            notes.push(format!(
                "target {}: {} classes ({}), one-hot encoded{}",
                grid.column_name(tc),
                labels.len(),
                preview(&labels),
                if integer_codes.is_some() {
                    format!(
                        "; classification inferred: integers with at most {MAX_AUTO_CLASSES} distinct \
                         values are class labels (--task regression treats them as numbers)"
                    )
                } else {
                    String::new()
                }
            ));
        }
        let schema = Schema {
            task: Task::Classification,
            inputs: inputs.ncols(),
            outputs: labels.len(),
            input_names,
            target_names,
            columns: Some(grid.cols),
            target_columns: Some(target_cols),
            labels: Some(labels),
            encoded: true,
            preprocess,
        };
        return Ok(Table {
            source: grid.source.clone(),
            inputs,
            targets: Some(y),
            schema,
            notes,
            warnings,
            raw: raw_inputs,
        });
    }

    let mut y = Array2::<T>::zeros((grid.rows, target_cols.len()));
    for (j, &c) in target_cols.iter().enumerate() {
        for (r, v) in grid.numbers(c, "a target")?.into_iter().enumerate() {
            y[(r, j)] = T::of(v);
        }
    }
    let task = task.unwrap_or(if is_one_hot(&y) {
        Task::Classification
    } else {
        Task::Regression
    });
    let labels = match saved {
        Some(s) => s.labels.clone(),
        None if task == Task::Classification && target_cols.len() > 1 => target_names.clone(),
        None => None,
    };
    if saved.is_none() {
        let which: Vec<String> = target_cols.iter().map(|&c| grid.column_name(c)).collect();
        let why = match integer_codes {
            Some(d) if task == Task::Regression => format!(
                ": its {d} distinct integer values are more than the {MAX_AUTO_CLASSES} taken as \
                 class labels; --task classification treats them as classes"
            ),
            _ => String::new(),
        };
        notes.push(format!("targets: {} ({task}{why})", which.join(", ")));
    }
    let schema = Schema {
        task,
        inputs: inputs.ncols(),
        outputs: target_cols.len(),
        input_names,
        target_names,
        columns: Some(grid.cols),
        target_columns: Some(target_cols),
        labels,
        encoded: false,
        preprocess,
    };
    Ok(Table {
        source: grid.source.clone(),
        inputs,
        targets: Some(y),
        schema,
        notes,
        warnings,
        raw: raw_inputs,
    })
}

/// The input columns of a training table: those `--features` lists, or every column but
/// the targets, the `--ignore`d ones and a pandas index (an empty header name in the first
/// column), in table order.
fn select_inputs(grid: &Grid, targets: &[usize], opts: &TableOptions, notes: &mut Vec<String>) -> Result<Vec<usize>> {
    let resolve = |refs: &[ColumnRef], role: &'static str| -> Result<Vec<usize>> {
        let mut cols = Vec::with_capacity(refs.len());
        for r in refs {
            let c = grid.resolve_as(r, role)?;
            if targets.contains(&c) {
                return Err(BpropError::InvalidArgument {
                    name: role,
                    value: grid.column_name(c),
                    why: "is a target column; inputs are the other columns".into(),
                });
            }
            cols.push(c);
        }
        Ok(cols)
    };
    let ignored = resolve(&opts.ignore, "ignore")?;
    let mut inputs: Vec<usize> = match &opts.features {
        Some(f) => {
            let mut cols = resolve(f, "features")?;
            cols.sort_unstable();
            cols.dedup();
            cols
        }
        None => (0..grid.cols).filter(|c| !targets.contains(c)).collect(),
    };
    inputs.retain(|c| !ignored.contains(c));
    let index = grid.names.as_ref().is_some_and(|n| n[0].is_empty());
    if index && opts.features.is_none() && inputs.first() == Some(&0) && inputs.len() > 1 {
        inputs.remove(0);
        notes.push(
            "column 0 has no name in the header (a pandas index): not an input (--features chooses the inputs)".into(),
        );
    }
    if !ignored.is_empty() {
        let names: Vec<String> = ignored.iter().map(|&c| grid.column_name(c)).collect();
        notes.push(format!("ignored: {}", names.join(", ")));
    }
    Ok(inputs)
}

/// A table's network inputs and how they were made.
struct Inputs<T> {
    x: Array2<T>,
    preprocess: Option<Preprocess>,
    raw: Option<RawInputs>,
    warnings: Vec<String>,
}

/// The network inputs from `grid`'s input columns `cols` (`chosen`: not simply every
/// column but the targets): through the saved schema's
/// preprocessing stage, or for training through a stage fitted on every row (kept in
/// `raw` for the training part's refit) when the columns were chosen, a column holds text,
/// or missing values are to be filled; otherwise the columns as numbers.
fn encode_inputs<T: Real>(
    grid: &Grid,
    cols: &[usize],
    chosen: bool,
    opts: &TableOptions,
    notes: &mut Vec<String>,
) -> Result<Inputs<T>> {
    let saved = opts.schema.as_ref();
    // Per input column: the rows of its missing fields, and whether it holds other text.
    let missing: Vec<Vec<usize>> = cols
        .iter()
        .map(|&c| {
            grid.text[c]
                .iter()
                .filter(|(_, f)| is_missing(f))
                .map(|(r, _)| *r)
                .collect()
        })
        .collect();
    let texts: Vec<usize> = cols
        .iter()
        .zip(&missing)
        .map(|(&c, m)| grid.text[c].len() - m.len())
        .collect();
    let stage: Option<Preprocess> = match saved {
        Some(s) => s.preprocess.clone(),
        None => {
            if opts.missing_indicator && opts.impute.is_none() {
                return Err(BpropError::InvalidArgument {
                    name: "missing_indicator",
                    value: "on".into(),
                    why: "adds indicators beside imputed values; give --impute mean|median|most_frequent too".into(),
                });
            }
            let mut columns = Vec::with_capacity(cols.len());
            for (j, &c) in cols.iter().enumerate() {
                // Mostly text: categories (numbers among them by their text); mostly
                // numbers: a text field is an error.
                let numbers = grid.rows - grid.text[c].len();
                if texts[j] > 0 && numbers >= texts[j] {
                    let (r, f) = grid.text[c]
                        .iter()
                        .find(|(_, f)| !is_missing(f))
                        .expect("a text field was counted");
                    return Err(grid.parse_err(
                        *r,
                        c,
                        format!(
                            "found `{}`, which is not a finite number; {} is an input and must hold numbers: \
                             {numbers} of its fields are numbers, {} text (a column of text categories holds \
                             mostly text; correct the field, or leave the column out with --ignore){}",
                            super::preview_text(f, 40),
                            grid.column_name(c),
                            texts[j],
                            grid.header_hint(*r)
                        ),
                    ));
                }
                columns.push(InputColumn {
                    position: c,
                    categories: (texts[j] > 0).then(Vec::new),
                    fill: None,
                    fill_category: None,
                    indicator: false,
                });
            }
            let plain = !chosen && opts.impute.is_none() && columns.iter().all(|c| !c.is_categorical());
            (!plain).then_some(Preprocess {
                columns,
                impute: opts.impute,
                missing_indicator: opts.missing_indicator,
            })
        }
    };
    // Missing values nothing fills: every one counted, per column.
    let unfilled: Vec<usize> = (0..cols.len())
        .filter(|&j| !missing[j].is_empty())
        .filter(|&j| match (&stage, saved) {
            (Some(p), Some(_)) => !p.columns[j].imputes(),
            (Some(p), None) => p.impute.is_none(),
            (None, _) => true,
        })
        .collect();
    if let Some(&first) = unfilled.first() {
        let total: usize = unfilled.iter().map(|&j| missing[j].len()).sum();
        let each: Vec<String> = unfilled
            .iter()
            .map(|&j| {
                let rows = &missing[j];
                let at: Vec<String> = rows.iter().take(3).map(|&r| grid.row_number(r)).collect();
                format!(
                    "{}: {} ({} {}{})",
                    grid.column_name(cols[j]),
                    rows.len(),
                    match (grid.lines.is_some(), rows.len()) {
                        (true, 1) => "line",
                        (true, _) => "lines",
                        (false, 1) => "row",
                        (false, _) => "rows",
                    },
                    at.join(", "),
                    if rows.len() > 3 { ", ..." } else { "" }
                )
            })
            .collect();
        let fix = if saved.is_some() {
            "the model fills none in these columns (train it with --impute to fill missing values)"
        } else {
            "give --impute mean|median|most_frequent to fill them (fitted on the training part), or leave the \
             columns out with --ignore"
        };
        return Err(grid.parse_err(
            missing[first][0],
            cols[first],
            format!(
                "{total} missing value(s) (empty, NA, NaN or ?) in the input columns: {}; {fix}",
                each.join("; ")
            ),
        ));
    }
    let Some(stage) = stage else {
        let mut x = Array2::<T>::zeros((grid.rows, cols.len()));
        for (j, &c) in cols.iter().enumerate() {
            let col = grid.numbers(c, "an input")?;
            for (r, v) in col.into_iter().enumerate() {
                let t = T::of(v);
                if !t.is_finite() {
                    return Err(grid.parse_err(r, c, format!("{v} overflows {}", T::NAME)));
                }
                x[(r, j)] = t;
            }
        }
        return Ok(Inputs {
            x,
            preprocess: None,
            raw: None,
            warnings: Vec::new(),
        });
    };
    // The raw columns, as the stage reads them.
    let mut columns = Vec::with_capacity(cols.len());
    for (j, &c) in cols.iter().enumerate() {
        columns.push(if stage.columns[j].is_categorical() {
            RawColumn::Text(
                grid.labels(c)
                    .into_iter()
                    .map(|f| (!is_missing(&f)).then_some(f))
                    .collect(),
            )
        } else {
            if let Some((r, f)) = grid.text[c].iter().find(|(_, f)| !is_missing(f)) {
                return Err(grid.parse_err(
                    *r,
                    c,
                    format!(
                        "found `{}`, which is not a finite number; {} is a numeric input and must hold numbers{}",
                        super::preview_text(f, 40),
                        grid.column_name(c),
                        grid.header_hint(*r)
                    ),
                ));
            }
            RawColumn::Numbers((0..grid.rows).map(|r| grid.values[r * grid.cols + c]).collect())
        });
    }
    let raw = RawInputs {
        rows: grid.rows,
        columns,
        names: cols.iter().map(|&c| grid.column_name(c)).collect(),
    };
    let stage = match saved {
        Some(_) => stage,
        None => {
            let all: Vec<usize> = (0..grid.rows).collect();
            let fitted = stage.refit(&raw, &all)?;
            for (j, c) in fitted.columns.iter().enumerate() {
                let k = c.categories.as_ref().map_or(0, Vec::len);
                if k > MAX_AUTO_ID_CLASSES && k * 2 > grid.rows {
                    return Err(BpropError::InvalidArgument {
                        name: "data",
                        value: raw.names[j].clone(),
                        why: format!(
                            "holds {k} distinct text values in {} rows, nearly one per row (an identifier, or \
                             free text?); leave it out with --ignore",
                            grid.rows
                        ),
                    });
                }
            }
            let filled: Vec<String> = (0..cols.len())
                .filter(|&j| !missing[j].is_empty())
                .map(|j| format!("{} {}", raw.names[j], missing[j].len()))
                .collect();
            if !filled.is_empty() {
                notes.push(format!(
                    "missing values: {}; filled by --impute {} (fitted on the training part)",
                    filled.join(", "),
                    fitted.impute.map_or(String::new(), |i| i.to_string()),
                ));
            }
            fitted
        }
    };
    let enc = stage.transform::<T>(&raw)?;
    let mut warnings = Vec::new();
    if saved.is_some() {
        for (j, (n, examples)) in enc.unseen.iter().enumerate() {
            if *n > 0 {
                warnings.push(format!(
                    "{}: {n} row(s) hold categories the model was not trained on ({}{}), encoded as all zeros",
                    raw.names[j],
                    examples[..examples.len().min(3)].join(", "),
                    if examples.len() > 3 { ", ..." } else { "" }
                ));
            }
        }
    }
    let keep = saved.is_none() && stage.fits();
    Ok(Inputs {
        x: enc.inputs,
        preprocess: Some(stage),
        raw: keep.then_some(raw),
        warnings,
    })
}

/// The column name closest to `wanted`, if one is close: the same but for case, else
/// within two edits (insertions, deletions, substitutions) of it, ignoring case.
fn suggest<'a>(wanted: &str, names: &'a [String]) -> Option<&'a str> {
    let w = wanted.to_lowercase();
    if let Some(n) = names.iter().find(|n| n.to_lowercase() == w) {
        return Some(n);
    }
    names
        .iter()
        .map(|n| (edit_distance(&w, &n.to_lowercase()), n))
        .filter(|(d, _)| *d <= 2.min(w.chars().count() / 2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The first few labels, for notes.
pub(crate) fn preview(labels: &[String]) -> String {
    if labels.len() <= 8 {
        labels.join(", ")
    } else {
        format!("{}, ... {}", labels[..6].join(", "), labels[labels.len() - 1])
    }
}

/// The target and input columns of `grid` that `schema` (from a model) calls for.
fn schema_columns(grid: &Grid, schema: &Schema, optional: bool) -> Result<(Option<Vec<usize>>, Vec<usize>)> {
    let missing = |why: String| BpropError::InvalidArgument {
        name: "data",
        value: grid.source.clone(),
        why,
    };
    // By name, when both the model and the file know the names.
    if let (Some(names), Some(inames)) = (&grid.names, &schema.input_names) {
        let find = |n: &String| names.iter().position(|c| c == n);
        let inputs: Vec<usize> = inames
            .iter()
            .map(|n| find(n).ok_or_else(|| missing(format!("has no column `{n}`, an input the model was trained on"))))
            .collect::<Result<_>>()?;
        let tnames = schema.target_names.clone().unwrap_or_default();
        let found: Vec<Option<usize>> = tnames.iter().map(find).collect();
        let targets = if optional {
            None
        } else if !found.is_empty() && found.iter().all(Option::is_some) {
            Some(found.into_iter().flatten().collect())
        } else {
            return Err(missing(format!(
                "lacks the target column(s) the model was trained on: {}",
                tnames.join(", ")
            )));
        };
        return Ok((targets, inputs));
    }
    // By position.
    let n_targets = schema.target_columns.as_ref().map_or(0, Vec::len);
    if let (Some(cols), Some(tcols)) = (schema.columns, &schema.target_columns) {
        if grid.cols == cols {
            let inputs = match &schema.preprocess {
                Some(p) => p.columns.iter().map(|c| c.position).collect(),
                None => (0..cols).filter(|c| !tcols.contains(c)).collect(),
            };
            return Ok(((!optional).then(|| tcols.clone()), inputs));
        }
    }
    let n_inputs = schema.preprocess.as_ref().map_or(schema.inputs, |p| p.columns.len());
    if grid.cols == n_inputs && optional {
        return Ok((None, (0..grid.cols).collect()));
    }
    let expected = match schema.columns {
        Some(c) if optional => format!("{c} columns (inputs and targets) or {n_inputs} (inputs only)"),
        Some(c) if schema.preprocess.is_some() => format!("{c} columns ({n_inputs} of them inputs)"),
        Some(c) => format!("{c} columns ({n_inputs} inputs and {n_targets} targets)"),
        None => format!("{n_inputs} input columns"),
    };
    Err(missing(format!(
        "has {} columns, but the model was trained on {expected}",
        grid.cols
    )))
}

/// A table from a dataset whose inputs and targets are already split (FANN, IDX). The
/// task is decided as for numeric target columns (one-hot rows, or a single 0/1 column:
/// classification), unless `opts` gives it or a schema.
///
/// # Errors
/// [`BpropError::Shape`] when the widths differ from the schema's.
pub fn table_from_dataset<T: Real>(
    source: &str,
    data: &Dataset<T>,
    labels: Option<Vec<String>>,
    opts: &TableOptions,
) -> Result<Table<T>> {
    let y = data.targets();
    let mut notes = Vec::new();
    if !opts.targets.is_empty() {
        notes.push(format!(
            "{source} gives its own inputs and targets; --target is ignored"
        ));
    }
    if !opts.ignore.is_empty() || opts.features.is_some() || opts.impute.is_some() {
        notes.push(format!(
            "{source} has no named or text columns: --ignore, --features and --impute apply to CSV/TSV and .npy \
             files, and are ignored"
        ));
    }
    let schema = match &opts.schema {
        Some(s) => {
            if data.inputs().ncols() != s.inputs || y.ncols() != s.outputs {
                return Err(BpropError::shape(
                    format!("{source} (inputs, outputs) against the model's"),
                    (s.inputs, s.outputs),
                    (data.inputs().ncols(), y.ncols()),
                ));
            }
            s.clone()
        }
        None => {
            let binary = y.ncols() == 1 && y.iter().all(|&v| v == T::zero() || v == T::one());
            let task = opts.task.unwrap_or(if is_one_hot(y) || binary {
                Task::Classification
            } else {
                Task::Regression
            });
            notes.push(format!(
                "{} inputs, {} target column(s) ({task})",
                data.inputs().ncols(),
                y.ncols()
            ));
            Schema {
                task,
                inputs: data.inputs().ncols(),
                outputs: y.ncols(),
                input_names: None,
                target_names: None,
                columns: None,
                target_columns: None,
                encoded: labels.is_some(),
                labels,
                preprocess: None,
            }
        }
    };
    Ok(Table {
        source: source.into(),
        inputs: data.inputs().clone(),
        targets: Some(y.clone()),
        schema,
        notes,
        warnings: Vec::new(),
        raw: None,
    })
}

#[cfg(test)]
mod suggestion_tests {
    use super::*;

    #[test]
    fn a_mistyped_column_name_gets_the_closest_one() {
        let names: Vec<String> = ["sepal_length", "petal_width", "species"].map(String::from).to_vec();
        assert_eq!(suggest("Species", &names), Some("species"));
        assert_eq!(suggest("SPECIES", &names), Some("species"));
        assert_eq!(suggest("specie", &names), Some("species"));
        assert_eq!(suggest("petal-width", &names), Some("petal_width"));
        assert_eq!(suggest("price", &names), None);
        assert_eq!(suggest("x", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
