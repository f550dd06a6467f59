//! `bprop cv`: k-fold cross-validation with `bprop train`'s options: stratified folds for
//! classification, plain folds for regression; each fold's scores and their mean ± sample
//! standard deviation.

use super::common::{self, num, pct, plural, Progress, BUNDLED_TRAIN};
use super::train::{plan, TrainArgs};
use super::OutputFormat;
use bprop::cpu;
use bprop::data::{load_table, Table, Task};
use bprop::driver::{cross_validate, BackendChoice, CvEvent, CvReport, FoldMetrics};
use bprop::gpu::AdapterRequest;
use bprop::model::Real;
use bprop::{BpropError, Result};
use clap::Args;

pub const EXAMPLES: &str = "\
Examples:
  bprop cv iris.csv --target species --folds 5
  bprop cv iris.csv --target species --folds 10 --layers 16 --epochs 200 --seed 3
  bprop cv housing.csv --target price --folds 5 --json
  bprop cv --folds 5                         the bundled diabetes set (PROBEN1)

Classification gets stratified folds (each class spread over the folds as evenly as its
count allows), regression plain ones; both are shuffled with --seed, which also seeds every
fold's run. Each fold trains on the other folds' rows exactly as `bprop train` would on
those rows alone (validation split, input scaling and target standardization fitted on
them, never on the held-out fold), and is scored on its held-out rows with the metrics
`bprop eval` prints: accuracy, macro F1, balanced accuracy and ROC-AUC, or MSE, MAE and R²
(averaged over the targets). The summary is each metric's mean ± sample standard
deviation over the folds. No model is saved: train the final one with `bprop train`.";

#[derive(Debug, Args)]
pub struct CvArgs {
    /// Number of folds, from 2 to the number of samples (for classification, to the
    /// smallest class's count).
    #[arg(long, value_name = "K")]
    folds: usize,
    /// Print the results as JSON (the same as --format json).
    #[arg(long)]
    json: bool,
    /// Output format of the results.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    #[command(flatten)]
    train: TrainArgs,
}

pub fn run(args: &CvArgs) -> Result<()> {
    let view = args.train.cv_view();
    if let Some(&first) = view.train_only.first() {
        return Err(BpropError::InvalidArgument {
            name: "cv",
            value: view.train_only.join(" "),
            why: format!(
                "{first} belongs to a single training run; bprop cv trains one network per fold and keeps \
                 none (train the final model with bprop train)"
            ),
        });
    }
    if let Some(n) = view.threads {
        cpu::threads::set_threads(n as usize)?;
    }
    if view.f64 {
        run_typed::<f64>(args)
    } else {
        run_typed::<f32>(args)
    }
}

/// A metric's value as the text report prints it.
fn show(name: &str, v: f64) -> String {
    match name {
        "accuracy" | "balanced_accuracy" => pct(v),
        "macro_f1" | "roc_auc" => format!("{v:.4}"),
        _ => num(v),
    }
}

/// A metric's name as the text report prints it.
fn label(name: &str) -> &str {
    match name {
        "accuracy" => "accuracy",
        "macro_f1" => "macro F1",
        "balanced_accuracy" => "balanced accuracy",
        "roc_auc" => "ROC-AUC",
        "mse" => "MSE",
        "mae" => "MAE",
        "r2" => "R²",
        other => other,
    }
}

fn metrics_text(m: &FoldMetrics) -> String {
    m.named()
        .iter()
        .map(|(name, v)| format!("{} {}", label(name), v.map_or("-".into(), |v| show(name, v))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_typed<T: Real>(args: &CvArgs) -> Result<()> {
    let view = args.train.cv_view();
    let json = args.json || matches!(args.format, OutputFormat::Json);
    let plan = plan(&args.train)?;
    let mut opts = view.columns.options()?;
    view.inputs.apply(&mut opts)?;
    let table: Table<T> = match view.data {
        Some(p) => load_table(p, &opts)?,
        None => common::bundled(BUNDLED_TRAIN, &opts)?,
    };
    let format = view.data.map(bprop::data::format_of).transpose()?;
    let task = table.schema.task;
    // With --json, standard output holds the document alone; the messages go to stderr.
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "data: {} ({}, {}, {}, {}{})",
        table.source,
        plural(table.len(), "sample"),
        plural(table.schema.inputs, "input"),
        plural(table.schema.outputs, "output"),
        task,
        if matches!(view.columns.task, common::TaskArg::Auto) {
            " inferred, --task to change"
        } else {
            ""
        }
    ));
    for note in &table.notes {
        say(format!("  {note}"));
    }
    say(format!(
        "cross-validation: {} {}folds, shuffled with seed {}",
        args.folds,
        if task == Task::Classification {
            "stratified "
        } else {
            ""
        },
        plan.seed
    ));
    let mut progress: Option<Progress> = None;
    let folds = args.folds;
    let mut announced = false;
    let report: CvReport = cross_validate(
        &plan,
        &table,
        format,
        folds,
        BackendChoice::from(view.backend),
        &AdapterRequest::from_env(),
        &mut |event| match event {
            CvEvent::Start {
                epochs,
                samples_per_epoch,
                auto,
                ..
            } => {
                if let Some(a) = auto {
                    say(a.to_string());
                }
                progress = Some(Progress::new(epochs, samples_per_epoch, view.quiet));
            }
            CvEvent::Epoch(rec) => {
                if let Some(p) = progress.as_mut() {
                    p.epoch(rec, 1);
                }
            }
            CvEvent::Done(f) => {
                if let Some(p) = progress.as_mut() {
                    p.finish();
                }
                if !announced {
                    say(format!("backend: {}", f.backend));
                    announced = true;
                }
                for note in &f.notes {
                    say(format!("note: fold {}: {note}", f.fold + 1));
                }
                say(format!(
                    "fold {}/{folds}: trained on {}{}, {} held out; {} epoch(s){}: {}",
                    f.fold + 1,
                    f.train_samples,
                    if f.validation_samples > 0 {
                        format!(" (+{} for validation)", f.validation_samples)
                    } else {
                        String::new()
                    },
                    f.held_out.len(),
                    f.epochs,
                    f.kept_epoch.map_or(String::new(), |e| format!(", epoch {e} kept")),
                    metrics_text(&f.metrics)
                ));
            }
        },
    )?;
    if json {
        let folds_doc: Vec<serde_json::Value> = report
            .folds
            .iter()
            .map(|f| {
                let mut m = serde_json::Map::new();
                for (name, v) in f.metrics.named() {
                    m.insert(name.into(), serde_json::to_value(v).expect("number"));
                }
                serde_json::json!({
                    "fold": f.fold + 1,
                    "held_out_rows": f.held_out,
                    "train_samples": f.train_samples,
                    "validation_samples": f.validation_samples,
                    "epochs": f.epochs,
                    "kept_epoch": f.kept_epoch,
                    "backend": f.backend,
                    "metrics": m,
                })
            })
            .collect();
        let mut summary = serde_json::Map::new();
        for s in &report.summary {
            summary.insert(
                s.name.into(),
                serde_json::json!({ "mean": s.mean, "sd": s.sd, "folds": s.values.len() }),
            );
        }
        let doc = serde_json::json!({
            "data": table.source,
            "samples": table.len(),
            "task": task.to_string(),
            "n_folds": folds,
            "stratified": task == Task::Classification,
            "seed": report.seed,
            "folds": folds_doc,
            "summary": summary,
            "sd_ddof": 1,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
    } else {
        println!("mean ± sample sd over {folds} folds:");
        let w = report
            .summary
            .iter()
            .map(|s| label(s.name).chars().count())
            .max()
            .unwrap_or(0);
        for s in &report.summary {
            let value = match (s.mean, s.sd) {
                (Some(m), Some(sd)) => format!("{} ± {}", show(s.name, m), show(s.name, sd)),
                (Some(m), None) => show(s.name, m),
                _ => "-".into(),
            };
            let partial = if s.values.len() < folds {
                format!("  (defined in {} of {folds} folds)", s.values.len())
            } else {
                String::new()
            };
            println!("  {:<w$}  {value}{partial}", label(s.name));
        }
    }
    Ok(())
}
