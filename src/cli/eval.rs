//! `bprop eval`: a saved model on a data file: loss, and accuracy, per-class precision and
//! recall and the confusion matrix for classification, or MSE, MAE and R² for regression.

use super::common::{self, num, pct, ColumnArgs};
use super::train::describe;
use super::{BackendArg, OutputFormat};
use bprop::data::Task;
use bprop::driver::infer;
use bprop::gpu::AdapterRequest;
use bprop::io::{AnyModel, ModelFile};
use bprop::metrics::{classify, output_activation, regress};
use bprop::model::Real;
use bprop::{BpropError, Result};
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  bprop eval model.bprop test.csv
  bprop eval model.bprop test.csv --format json
  bprop eval model.bprop ../shared/data/fann/thyroid.test --backend gpu

The file is read with the columns, class labels and input scaling the model was trained
with (a CSV file by column names when it has a header, else by position).";

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model file.
    model: PathBuf,
    /// The data, with targets.
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Where to compute the outputs.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    #[command(flatten)]
    columns: ColumnArgs,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let model = common::load_model(&args.model)?;
    match &model {
        AnyModel::F32(m) => run_typed(args, m),
        AnyModel::F64(m) => run_typed(args, m),
    }
}

fn run_typed<T: Real>(args: &EvalArgs, model: &ModelFile<T>) -> Result<()> {
    let net = &model.network;
    let table = common::model_table(model, &args.data, &args.columns, false)?;
    let targets = table.targets.as_ref().ok_or_else(|| BpropError::InvalidArgument {
        name: "data",
        value: table.source.clone(),
        why: "has no targets to evaluate against".into(),
    })?;
    let inf = infer(
        args.backend.into(),
        &AdapterRequest::from_env(),
        net,
        &table.inputs,
        Some(targets),
    )
    .map_err(common::model_precision_error)?;
    let loss = inf.loss.unwrap_or(f64::NAN);
    let schema = &table.schema;
    let n = table.len();
    let json = matches!(args.format, OutputFormat::Json);
    let mut doc = serde_json::json!({
        "model": args.model.display().to_string(),
        "data": table.source,
        "samples": n,
        "backend": inf.backend.to_string(),
        "task": schema.task.to_string(),
        "loss_name": net.loss().to_string(),
        "loss": loss,
    });
    if !json {
        println!("model: {} ({})", args.model.display(), describe(net));
        println!("data: {} ({n} samples)", table.source);
        println!("backend: {}", inf.backend);
        if let Some(f) = &inf.fallback {
            println!("note: GPU path unavailable, using the CPU path: {f}");
        }
        println!("loss ({}): {}", net.loss(), num(loss));
    }
    match schema.task {
        Task::Classification => {
            let r = classify(&inf.outputs, targets, output_activation(net));
            let names: Vec<String> = (0..r.classes).map(|k| schema.class_name(k)).collect();
            if json {
                doc["accuracy"] = r.accuracy.into();
                doc["classes"] = serde_json::to_value(&names).expect("strings");
                doc["precision"] = serde_json::to_value(&r.precision).expect("numbers");
                doc["recall"] = serde_json::to_value(&r.recall).expect("numbers");
                doc["support"] = serde_json::to_value(&r.support).expect("numbers");
                doc["confusion"] = serde_json::to_value(&r.confusion).expect("numbers");
            } else {
                let correct: usize = (0..r.classes).map(|k| r.confusion[k][k]).sum();
                println!("accuracy: {} ({correct} of {n})", pct(r.accuracy));
                let w = names.iter().map(String::len).max().unwrap_or(5).max(5);
                println!(
                    "  {:<w$}  {:>9}  {:>9}  {:>7}",
                    "class", "precision", "recall", "support"
                );
                let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
                for (k, name) in names.iter().enumerate() {
                    println!(
                        "  {:<w$}  {:>9}  {:>9}  {:>7}",
                        name,
                        opt(r.precision[k]),
                        opt(r.recall[k]),
                        r.support[k]
                    );
                }
                println!("confusion matrix (rows: true class, columns: predicted class):");
                let cw = names
                    .iter()
                    .map(String::len)
                    .chain(r.confusion.iter().flatten().map(|c| c.to_string().len()))
                    .max()
                    .unwrap_or(1);
                println!(
                    "  {:<w$}  {}",
                    "",
                    names.iter().map(|s| format!("{s:>cw$}")).collect::<Vec<_>>().join(" ")
                );
                for (k, row) in r.confusion.iter().enumerate() {
                    println!(
                        "  {:<w$}  {}",
                        names[k],
                        row.iter().map(|c| format!("{c:>cw$}")).collect::<Vec<_>>().join(" ")
                    );
                }
            }
        }
        Task::Regression => {
            let r = regress(&inf.outputs, targets);
            if json {
                doc["mse"] = r.mse.into();
                doc["mae"] = r.mae.into();
                doc["r2"] = serde_json::to_value(&r.r2).expect("numbers");
            } else {
                println!("MSE: {}", num(r.mse));
                println!("MAE: {}", num(r.mae));
                let names = schema
                    .target_names
                    .clone()
                    .unwrap_or_else(|| (0..r.r2.len()).map(|k| format!("output {k}")).collect());
                for (name, r2) in names.iter().zip(&r.r2) {
                    println!("R² ({name}): {}", r2.map_or("- (constant target)".into(), num));
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
    }
    Ok(())
}
