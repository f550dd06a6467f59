//! Pieces the data commands share: column options, the bundled dataset, model loading,
//! the progress display, number formatting.

use bprop::data::{self, table_from_dataset, ColumnRef, Format, Grid, Impute, Table, TableOptions, Task};
use bprop::io::{read_model, AnyModel};
use bprop::model::Real;
use bprop::{BpropError, Result};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

/// The training file `bprop train` uses without DATA (PROBEN1's diabetes1, from FANN's
/// datasets; see data/README.md), compiled into the binary so that it works anywhere.
pub const BUNDLED_TRAIN: (&str, &str) = ("data/diabetes.train", include_str!("../../data/diabetes.train"));
/// Its test file.
pub const BUNDLED_TEST: (&str, &str) = ("data/diabetes.test", include_str!("../../data/diabetes.test"));

/// `--task`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TaskArg {
    /// Decide from the target column(s).
    Auto,
    /// Class labels (one-hot encoded when one column holds them).
    Classification,
    /// Numbers.
    Regression,
}

/// How to read the columns of CSV/TSV and .npy files.
#[derive(Debug, Args, Clone)]
pub struct ColumnArgs {
    /// Target column(s) of a CSV/TSV/.npy file, by header name or 0-based index; repeat or
    /// separate by commas for several [default: the last column].
    #[arg(long = "target", value_name = "COLUMN", value_delimiter = ',')]
    pub targets: Vec<String>,
    /// classification (labels one-hot encoded) or regression [default: auto: text labels,
    /// or integers with at most 10 distinct values, are classes].
    #[arg(long, value_enum, default_value = "auto")]
    pub task: TaskArg,
    /// The first line of a CSV file is a header [default: detected].
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// The first line of a CSV file is data.
    #[arg(long)]
    pub no_header: bool,
    /// CSV field delimiter, one character (`\t` or `tab` for tabs) [default: tab for .tsv,
    /// else detected from the first line].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
}

impl ColumnArgs {
    /// The table options these arguments give.
    pub fn options(&self) -> Result<TableOptions> {
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some("\\t" | "tab" | "\t") => Some(b'\t'),
            Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
            Some(d) => {
                return Err(BpropError::InvalidArgument {
                    name: "delimiter",
                    value: format!("\"{d}\""),
                    why: "must be one ASCII character, or \\t".into(),
                })
            }
        };
        Ok(TableOptions {
            targets: self
                .targets
                .iter()
                .map(|t| t.parse::<ColumnRef>())
                .collect::<Result<_>>()?,
            task: match self.task {
                TaskArg::Auto => None,
                TaskArg::Classification => Some(Task::Classification),
                TaskArg::Regression => Some(Task::Regression),
            },
            header: if self.header {
                Some(true)
            } else if self.no_header {
                Some(false)
            } else {
                None
            },
            delimiter,
            ..TableOptions::default()
        })
    }
}

/// `--impute`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImputeArg {
    /// The column's mean (text columns: the most frequent category).
    Mean,
    /// The column's median (text columns: the most frequent category).
    Median,
    /// The column's most frequent value.
    #[value(name = "most_frequent", alias = "most-frequent")]
    MostFrequent,
}

/// Which columns of a CSV/TSV/.npy file a training run takes as inputs, and how it fills
/// missing values; the model remembers both, so eval and predict read files the same way.
#[derive(Debug, Args, Clone, Default)]
pub struct InputArgs {
    /// Leave COLUMN (header name or 0-based index) out of the inputs; repeat, or separate by
    /// commas, for several.
    #[arg(long = "ignore", value_name = "COLUMN", value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Use only these input columns (header names or 0-based indexes, separated by commas)
    /// [default: every column but the targets, the ignored ones and a pandas index].
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Fill missing input values (empty, NA, N/A, NaN, ?, null) with the column's mean,
    /// median or most frequent value, fitted on the training part (text columns take their
    /// most frequent category) [default: a missing value is an error].
    #[arg(long, value_enum)]
    pub impute: Option<ImputeArg>,
    /// With --impute, add one 0/1 input per column that had missing values in the training
    /// part, 1 where the value was missing (scikit-learn's add_indicator).
    #[arg(long)]
    pub missing_indicator: bool,
}

impl InputArgs {
    /// Sets these options on `opts`.
    pub fn apply(&self, opts: &mut TableOptions) -> Result<()> {
        let refs = |v: &[String]| v.iter().map(|t| t.parse::<ColumnRef>()).collect::<Result<Vec<_>>>();
        opts.ignore = refs(&self.ignore)?;
        opts.features = self.features.as_deref().map(refs).transpose()?;
        opts.impute = self.impute.map(|i| match i {
            ImputeArg::Mean => Impute::Mean,
            ImputeArg::Median => Impute::Median,
            ImputeArg::MostFrequent => Impute::MostFrequent,
        });
        opts.missing_indicator = self.missing_indicator;
        Ok(())
    }
}

/// A bundled FANN file as a table.
pub fn bundled<T: Real>((name, text): (&str, &str), opts: &TableOptions) -> Result<Table<T>> {
    let data = data::parse_fann::<T, _>(text.as_bytes(), name)?;
    table_from_dataset(&format!("{name} (bundled)"), &data, None, opts)
}

/// Reads a model file. When the file is not one at all (its first 8 bytes do not give a
/// header length that fits the file, followed by a JSON header), the error says so, says
/// what the file looks like, and that commands take the model first.
pub fn load_model(path: &Path) -> Result<AnyModel> {
    read_model(path).map_err(|e| match (&e, not_a_model(path)) {
        (BpropError::ModelFile { .. }, Some(what)) => BpropError::ModelFile {
            path: path.display().to_string(),
            why: format!(
                "is not a bprop model file ({what}); the model comes first, then the data: \
                 bprop eval MODEL DATA, bprop predict MODEL DATA"
            ),
        },
        _ => e,
    })
}

/// What a file that is not a bprop model (safetensors) file looks like, from its first
/// bytes (at most 64 are read); `None` when it could be one.
fn not_a_model(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    let file = std::fs::File::open(path).ok()?;
    file.take(64).read_to_end(&mut head).ok()?;
    // A JSON header after the length field: a model file, if perhaps a damaged one.
    if head.len() >= 9 && head[8] == b'{' {
        return None;
    }
    let kind = if head.starts_with(b"\x93NUMPY") {
        "a NumPy .npy array"
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "gzip-compressed data"
    } else if head.starts_with(&[0x08]) && head.len() > 2 && head[1] < 32 && head[2] == 0x12 {
        // ONNX's ModelProto: field 1 (ir_version, a small varint), then field 2 (a string).
        "an ONNX model, which bprop writes but does not read"
    } else if head.starts_with(&[0, 0, 8]) {
        "an IDX (MNIST) file"
    } else if std::str::from_utf8(&head).is_ok_and(|t| t.chars().all(|c| !c.is_control() || c.is_whitespace())) {
        "a text file: CSV, TSV or FANN data?"
    } else {
        "its first bytes are not a safetensors header"
    };
    Some(kind.to_string())
}

/// A number to 4 significant digits (scientific outside [1e-3, 1e5)).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.abs() < 1e-3 || x.abs() >= 1e5 {
        return format!("{x:.3e}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// A value for a command line: 4 significant digits, scientific outside [1e-4, 1e4), no
/// trailing zeros (`0.001`, `1e29`).
pub fn arg_num(x: f64) -> String {
    let sci = format!("{x:.3e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    if x != 0.0 && (x.abs() >= 1e4 || x.abs() < 1e-4) {
        format!("{mantissa}e{exp}")
    } else {
        format!("{mantissa}e{exp}")
            .parse::<f64>()
            .map_or(sci.clone(), |v| v.to_string())
    }
}

/// `1 output`, `3 outputs`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A fraction as a percentage: `76.04%`.
pub fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// Seconds as `4.2 s`, `3 min 12 s`.
pub fn duration(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{} h {:02} min", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    }
}

/// The per-epoch display: one line rewritten in place on a terminal, plain lines (at most
/// about one a second, and the first and last epochs) otherwise. Written to stderr, so that
/// stdout holds the results.
pub struct Progress {
    tty: bool,
    quiet: bool,
    last_epoch: usize,
    samples_per_epoch: usize,
    last_line: Option<Instant>,
    width: usize,
    /// The first epoch shown and the seconds at its end: later rates and ETAs are measured
    /// from there, so the pipeline's set-up (device, shaders, first allocations) in the
    /// first epoch does not inflate them.
    first: Option<(usize, f64)>,
}

/// Seconds left after `epoch` of a run ending at `last_epoch`, at the pace of the epochs
/// since the first one shown (`first`: its number and the seconds at its end); `None`
/// until an epoch after the first has been timed.
pub fn eta_seconds(first: (usize, f64), epoch: usize, elapsed: f64, last_epoch: usize) -> Option<f64> {
    let (e0, t0) = first;
    let timed = epoch.checked_sub(e0).filter(|&d| d > 0)?;
    let per_epoch = (elapsed - t0).max(0.0) / timed as f64;
    Some(per_epoch * last_epoch.saturating_sub(epoch) as f64)
}

impl Progress {
    /// A display for a run ending at epoch `last_epoch`, `samples_per_epoch` samples each.
    pub fn new(last_epoch: usize, samples_per_epoch: usize, quiet: bool) -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            quiet,
            last_epoch,
            samples_per_epoch,
            last_line: None,
            width: 0,
            first: None,
        }
    }

    /// Shows one epoch; `first_epoch` is the run's first (for the rate and ETA).
    pub fn epoch(&mut self, rec: &bprop::driver::EpochRecord, first_epoch: usize) {
        if self.quiet {
            return;
        }
        let done = rec.epoch + 1 - first_epoch;
        let left = self.last_epoch.saturating_sub(rec.epoch);
        let elapsed = rec.elapsed.max(1e-9);
        let first = *self.first.get_or_insert((rec.epoch, rec.elapsed));
        let eta = eta_seconds(first, rec.epoch, rec.elapsed, self.last_epoch);
        // The rate, too, from the epochs after the first once there are any.
        let rate = match rec.epoch - first.0 {
            0 => (done * self.samples_per_epoch) as f64 / elapsed,
            d => (d * self.samples_per_epoch) as f64 / (rec.elapsed - first.1).max(1e-9),
        };
        let mut line = format!(
            "epoch {:>w$}/{}  loss {}",
            rec.epoch,
            self.last_epoch,
            num(rec.train_loss),
            w = self.last_epoch.to_string().len()
        );
        if let Some(v) = &rec.validation {
            line += &format!("  val loss {}", num(v.loss));
            if let Some(a) = v.accuracy {
                line += &format!("  val acc {}", pct(a));
            }
        }
        line += &format!("  {} samples/s", rate.round());
        if let (true, Some(eta)) = (left > 0, eta) {
            line += &format!("  ETA {}", duration(eta));
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            // At most ten redraws a second, and always the last epoch.
            if left > 0 && self.last_line.is_some_and(|t| t.elapsed().as_secs_f64() < 0.1) {
                return;
            }
            self.last_line = Some(Instant::now());
            let pad = self.width.saturating_sub(line.chars().count());
            let _ = write!(err, "\r{line}{}", " ".repeat(pad));
            let _ = err.flush();
            self.width = line.chars().count();
        } else {
            let due = self.last_line.is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0);
            if due || left == 0 || rec.epoch == first_epoch {
                let _ = writeln!(err, "{line}");
                self.last_line = Some(Instant::now());
            }
        }
    }

    /// Ends the display (a newline after the in-place line).
    pub fn finish(&mut self) {
        if self.tty && !self.quiet && self.width > 0 {
            let _ = writeln!(std::io::stderr());
        }
        self.width = 0;
    }
}

/// The schema a model was trained with, or for a model without one (imported), one
/// inferred from its network: inputs first, then the outputs as the last columns;
/// classification for the cross-entropy losses.
pub fn schema_of<T: Real>(model: &bprop::io::ModelFile<T>) -> bprop::data::Schema {
    if let Some(s) = &model.meta.schema {
        return s.clone();
    }
    let net = &model.network;
    let (i, o) = (net.inputs(), net.outputs());
    bprop::data::Schema {
        task: if net.loss().needs_unit_targets() {
            Task::Classification
        } else {
            Task::Regression
        },
        inputs: i,
        outputs: o,
        input_names: None,
        target_names: None,
        columns: Some(i + o),
        target_columns: Some((i..i + o).collect()),
        labels: None,
        encoded: false,
        preprocess: None,
    }
}

/// How to read a file as the model's data: its columns and labels (`targets_optional`:
/// prediction, where the target columns are not read).
pub fn model_options<T: Real>(
    model: &bprop::io::ModelFile<T>,
    columns: &ColumnArgs,
    targets_optional: bool,
) -> Result<TableOptions> {
    let mut opts = columns.options()?;
    if !opts.targets.is_empty() || opts.task.is_some() {
        eprintln!("note: --target and --task are ignored: the model's own columns and task are used");
    }
    let schema = schema_of(model);
    // A table read by columns (CSV, .npy) without names had no header: a CSV file is read
    // without one too, unless --header says otherwise (a header line then fails as data,
    // with that hint). A model with names recognises them ([`model_grid`]).
    if opts.header.is_none() && schema.columns.is_some() && schema.input_names.is_none() {
        opts.header = Some(false);
    }
    opts.schema = Some(schema);
    opts.targets_optional = targets_optional;
    Ok(opts)
}

/// Whether the first row of `grid` (read without a header) holds every one of `names`:
/// the header of a model's training file, even when its names are numbers that detection
/// takes for data (`1990,1991`, pandas' `0,1,2`).
fn first_row_has(grid: &Grid, names: &[String]) -> bool {
    if grid.rows == 0 {
        return false;
    }
    let first: Vec<String> = (0..grid.cols)
        .map(|c| match grid.text[c].first() {
            Some((0, t)) => t.clone(),
            _ => grid.values[c].to_string(),
        })
        .collect();
    names.iter().all(|n| first.contains(n))
}

/// A column of a data file as text, carried beside its table (`predict --id`).
pub struct TextColumn {
    /// Its header name, or `id` in a file without a header.
    pub name: String,
    /// One field per row, as written (CSV) or in shortest form (.npy numbers).
    pub values: Vec<String>,
}

/// The grid of a CSV/TSV or .npy file read as the model's data (`opts` from
/// [`model_options`]), and the column `keep` names (`--id`: header name, else 0-based
/// index) as text; `None` for other formats. A CSV file's first line is a header when
/// `--header`/`--no-header` or the model says so ([`model_options`]), else when detection
/// finds one or the line holds the model's input names.
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `id` when the file has no column `keep`; the
/// readers' errors.
pub fn model_grid<T: Real>(
    model: &bprop::io::ModelFile<T>,
    path: &Path,
    opts: &TableOptions,
    keep: Option<&str>,
) -> Result<Option<(Grid, Option<TextColumn>)>> {
    let named = |grid: &Grid, found: Option<(usize, Vec<String>)>| -> Result<Option<TextColumn>> {
        let Some(k) = keep else { return Ok(None) };
        match found {
            Some((c, values)) => Ok(Some(TextColumn {
                name: grid.names.as_ref().map_or_else(|| "id".to_string(), |n| n[c].clone()),
                values,
            })),
            None => Err(BpropError::InvalidArgument {
                name: "id",
                value: k.to_string(),
                why: match &grid.names {
                    Some(n) => format!("{} has no such column; its columns: {}", grid.source, n.join(", ")),
                    None => format!(
                        "{} has no header, so give the column's 0-based index (it has {} columns)",
                        grid.source, grid.cols
                    ),
                },
            }),
        }
    };
    Ok(match data::format_of(path)? {
        Format::Csv => {
            let read = |header| {
                let csv = data::CsvOptions {
                    delimiter: opts.delimiter,
                    header,
                };
                match keep {
                    Some(k) => data::read_csv_with_column(path, &csv, k),
                    None => data::read_csv(path, &csv).map(|g| (g, None)),
                }
            };
            let (mut grid, mut kept) = read(opts.header)?;
            let names = model.meta.schema.as_ref().and_then(|s| s.input_names.as_deref());
            if let Some(n) = names {
                if opts.header.is_none() && grid.names.is_none() && first_row_has(&grid, n) {
                    (grid, kept) = read(Some(true))?;
                }
            }
            let kept = named(&grid, kept)?;
            Some((grid, kept))
        }
        Format::Npy => {
            let grid = data::read_npy(path)?.into_grid(&path.display().to_string())?;
            let found = keep
                .and_then(|k| k.trim().parse::<usize>().ok())
                .filter(|&c| c < grid.cols)
                .map(|c| {
                    let values = (0..grid.rows)
                        .map(|r| grid.values[r * grid.cols + c].to_string())
                        .collect();
                    (c, values)
                });
            let kept = named(&grid, found)?;
            Some((grid, kept))
        }
        _ => None,
    })
}

/// Reads `path` as the model's data: its columns, labels and scaling; with `keep`, also
/// that column as text ([`model_grid`]; `None` when the file has no such column or is
/// not a CSV/TSV or .npy file).
pub fn model_table_keeping<T: Real>(
    model: &bprop::io::ModelFile<T>,
    path: &Path,
    columns: &ColumnArgs,
    targets_optional: bool,
    keep: Option<&str>,
) -> Result<(Table<T>, Option<TextColumn>)> {
    let opts = model_options(model, columns, targets_optional)?;
    let (mut table, kept) = match model_grid(model, path, &opts, keep)? {
        Some((grid, kept)) => (data::table_from_grid(&grid, &opts)?, kept),
        None => (data::load_table(path, &opts)?, None),
    };
    for w in &table.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(s) = &model.scaling {
        s.apply(&mut table.inputs)?;
    }
    Ok((table, kept))
}

/// Reads `path` as the model's data: its columns, labels and scaling.
pub fn model_table<T: Real>(
    model: &bprop::io::ModelFile<T>,
    path: &Path,
    columns: &ColumnArgs,
    targets_optional: bool,
) -> Result<Table<T>> {
    Ok(model_table_keeping(model, path, columns, targets_optional, None)?.0)
}

/// Whether an output path is `-`, standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Checks an output path before the work it will hold is done (see
/// [`bprop::fsutil::check_output`]); `-` (standard output) is accepted when the output is
/// text, refused for binary outputs (model files, ONNX) that a terminal would garble.
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `option` for `-` as a binary output; the
/// location's errors.
pub fn check_output(path: &Path, option: &'static str, text: bool) -> Result<()> {
    if is_stdout(path) {
        return if text {
            Ok(())
        } else {
            Err(BpropError::InvalidArgument {
                name: option,
                value: "-".into(),
                why: "this output is binary; `-` (standard output) is accepted for text outputs only".into(),
            })
        };
    }
    bprop::fsutil::check_output(path)
}

/// Writes a text output: to standard output for `-` (messages then go to standard error),
/// else through the atomic writer.
///
/// # Errors
/// The writer's errors.
pub fn write_text(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    if is_stdout(path) {
        super::out::stdout_is_data();
        super::out::data(fill);
        Ok(())
    } else {
        bprop::io::write_atomic_with(path, fill)
    }
}

/// An inference error as `eval` and `predict` should word it: the GPU path's refusal of an
/// adapter without `SHADER_F64` names `--precision f64`, which these commands do not have;
/// for them the precision is the model's.
pub fn model_precision_error(e: BpropError) -> BpropError {
    match e {
        BpropError::NoAdapter(why) if why.contains("--precision f64") => BpropError::NoAdapter(why.replace(
            "for --precision f64",
            "to compute this f64 model (use --backend cpu, or export it with --precision f32)",
        )),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_print_as_a_user_types_them() {
        assert_eq!(arg_num(0.01 / 10.0), "0.001");
        assert_eq!(arg_num(1e30 / 10.0), "1e29");
        assert_eq!(arg_num(0.5), "0.5");
        assert_eq!(arg_num(1.5e-5), "1.5e-5");
        assert_eq!(arg_num(123.456), "123.5");
    }

    #[test]
    fn the_eta_leaves_out_the_first_epoch_s_set_up() {
        // iris: the first epoch took 0.6 s (mostly set-up), each later one 4 ms.
        let first = (1, 0.6);
        assert_eq!(eta_seconds(first, 1, 0.6, 100), None);
        let eta = eta_seconds(first, 3, 0.608, 100).unwrap();
        assert!((eta - 0.004 * 97.0).abs() < 1e-9, "{eta}");
        assert_eq!(eta_seconds(first, 100, 0.996, 100), Some(0.0));
        // Resumed runs number epochs from where they left off.
        assert!((eta_seconds((51, 2.0), 61, 3.0, 100).unwrap() - 3.9).abs() < 1e-9);
    }

    #[test]
    fn eval_and_predict_do_not_blame_a_flag_they_lack() {
        let e = BpropError::NoAdapter("llvmpipe (Vulkan) lacks SHADER_F64 for --precision f64".into());
        let msg = model_precision_error(e).to_string();
        assert!(
            !msg.contains("--precision f64") && msg.contains("this f64 model"),
            "{msg}"
        );
    }
}
