//! `bprop predict`: a saved model's outputs for a data file, as CSV: for classification the
//! predicted label and one probability per class; for regression the predicted values.

use super::common::{self, ColumnArgs, TextColumn};
use super::BackendArg;
use bprop::data::{format_of, Format, Table, Task};
use bprop::driver::infer;
use bprop::gpu::AdapterRequest;
use bprop::io::{write_atomic_with, AnyModel, ModelFile};
use bprop::metrics::{class_of_row, class_scores, output_activation};
use bprop::model::{Activation, Real};
use bprop::{BpropError, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  bprop predict model.bprop new.csv -o predictions.csv
  bprop predict model.bprop new.csv                      to standard output
  bprop predict model.bprop images.npy --backend gpu -o out.csv
  bprop predict model.bprop test.csv --id PassengerId -o submission.csv

The data needs the model's input columns (by name with a header, else by position); its
target columns are not read (they may be missing, empty, or hold labels unseen in
training). One output row per input row, in order (with --id, the identifier first):
  classification: prediction,p_<class 1>,p_<class 2>,...   (probabilities of each class; a
                  single tanh output y gives (1 − y)/2, (1 + y)/2; the label is the class
                  eval counts: the largest output, or one output above 0.5 (tanh: 0))
  regression:     one column per output, named as the training targets were";

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model file.
    model: PathBuf,
    /// The data (inputs; targets may be missing).
    data: PathBuf,
    /// Write the predictions to FILE (atomically) instead of standard output (`-`: standard
    /// output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// Copy this column of the data (by header name or 0-based index; CSV/TSV and .npy) to
    /// the output as its first column, as submissions keyed by an identifier expect.
    #[arg(long, value_name = "COLUMN")]
    id: Option<String>,
    #[command(flatten)]
    columns: ColumnArgs,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if let Some(p) = &args.output {
        common::check_output(p, "output", true)?;
    }
    let model = common::load_model(&args.model)?;
    match &model {
        AnyModel::F32(m) => run_typed(args, m),
        AnyModel::F64(m) => run_typed(args, m),
    }
}

/// The predictions as CSV rows: for classification the class [`class_of_row`] gives (the
/// rule eval's accuracy uses) and the per-class scores of [`class_scores`].
fn render<T: Real>(
    w: &mut dyn Write,
    schema: &bprop::data::Schema,
    outputs: &ndarray::Array2<T>,
    output: Activation,
    ids: Option<&TextColumn>,
) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    let k = outputs.ncols();
    let first = |i: usize| ids.map(|c| c.values[i].clone());
    let head = ids.map(|c| c.name.clone());
    match schema.task {
        Task::Classification => {
            let classes = schema.classes();
            let mut header: Vec<String> = head.into_iter().collect();
            header.push("prediction".to_string());
            header.extend((0..classes).map(|c| format!("p_{}", schema.class_name(c))));
            csv.write_record(&header)?;
            for (i, row) in outputs.rows().into_iter().enumerate() {
                let mut rec: Vec<String> = first(i).into_iter().collect();
                rec.push(schema.class_name(class_of_row(row, output)));
                rec.extend(class_scores(row, output).iter().map(|p| format!("{}", T::of(*p))));
                csv.write_record(&rec)?;
            }
        }
        Task::Regression => {
            let mut header: Vec<String> = head.into_iter().collect();
            match &schema.target_names {
                Some(n) if n.len() == k => header.extend(n.iter().cloned()),
                _ => header.extend((0..k).map(|j| format!("output_{j}"))),
            }
            csv.write_record(&header)?;
            for (i, row) in outputs.rows().into_iter().enumerate() {
                let mut rec: Vec<String> = first(i).into_iter().collect();
                rec.extend(row.iter().map(|v| v.to_string()));
                csv.write_record(&rec)?;
            }
        }
    }
    csv.flush()
}

/// Reads `path` (CSV/TSV or .npy) as the model's data, and the column `id` names from the
/// same read: by header name, else by 0-based index. CSV fields are carried as written
/// (`007`, 20-digit identifiers); .npy numbers in their shortest form.
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `id` for another format or a column the file
/// does not have; the readers' errors.
fn read_with_id<T: Real>(
    model: &ModelFile<T>,
    path: &std::path::Path,
    columns: &ColumnArgs,
    id: &str,
) -> Result<(Table<T>, TextColumn)> {
    let source = path.display().to_string();
    let bad = |why: String| BpropError::InvalidArgument {
        name: "id",
        value: id.to_string(),
        why,
    };
    if !matches!(format_of(path)?, Format::Csv | Format::Npy) {
        return Err(bad(format!(
            "{source} is not a CSV/TSV or .npy file; --id copies a column of a table"
        )));
    }
    let (table, kept) = common::model_table_keeping(model, path, columns, true, Some(id))?;
    let ids = kept.expect("model_grid finds the column or fails");
    Ok((table, ids))
}

fn run_typed<T: Real>(args: &PredictArgs, model: &ModelFile<T>) -> Result<()> {
    let (table, ids) = match &args.id {
        Some(id) => {
            let (t, c) = read_with_id(model, &args.data, &args.columns, id)?;
            (t, Some(c))
        }
        None => (common::model_table(model, &args.data, &args.columns, true)?, None),
    };
    let mut inf = infer(
        args.backend.into(),
        &AdapterRequest::from_env(),
        &model.network,
        &table.inputs,
        None,
    )
    .map_err(common::model_precision_error)?;
    if let Some(t) = &model.meta.target_scaling {
        // The network learned standardized targets: its outputs back in the targets' units.
        t.undo(&mut inf.outputs)?;
    }
    let output = output_activation(&model.network);
    if let Some(f) = &inf.fallback {
        eprintln!("note: --backend auto runs on the CPU path: {f}");
    }
    match args.output.as_ref().filter(|p| !common::is_stdout(p)) {
        Some(path) => {
            write_atomic_with(path, |w| render(w, &table.schema, &inf.outputs, output, ids.as_ref()))?;
            eprintln!(
                "wrote {} predictions to {} ({})",
                table.len(),
                path.display(),
                inf.backend
            );
        }
        None => super::out::data(|w| render(w, &table.schema, &inf.outputs, output, ids.as_ref())),
    }
    Ok(())
}
