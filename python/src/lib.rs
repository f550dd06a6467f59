//! `bprop._native`: the Python extension module behind the `bprop` package.
//!
//! It is thin on purpose: settings are resolved by the library's [`TrainPlan`] (as `bprop
//! train` resolves them), backends are chosen, cross-checked and fallen back from by
//! [`bprop::driver`], and a fitted model is a [`ModelFile`] (a `.bprop` file's contents).
//! The scikit-learn conventions (label encoding, input validation, fitted attributes,
//! the `tol` stopping rule) live in the Python sources; they reach this module through
//! [`fit`], [`Model::predict`] and a per-epoch callback.
//!
//! The GIL is released while training and predicting. Each epoch's callback takes it back
//! briefly to check for signals (Ctrl-C) and to ask Python whether to stop.
//!
//! Built with the `mpi` cargo feature and started by `mpirun`, [`fit`] trains one model
//! data-parallel on every rank ([`bprop::dist::DistEngine`], as `mpirun -n N bprop train`
//! does); without it, a multi-rank launch is refused rather than training N models.

use bprop::cpu::CpuEngine;
use bprop::data::{table_from_dataset, TableOptions, Task};
use bprop::dist::{Collective, DistEngine};
use bprop::driver::{
    cross_check, infer, parse_activations, BackendChoice, EpochRecord, RunOutcome, ScaleChoice, ScheduleSpec,
    StopReason, TargetScale, TrainPlan, Trainer, INFER_BATCH,
};
use bprop::engine::{BackendKind, Engine};
use bprop::gpu::AdapterRequest;
use bprop::io::{parse_model, write_model, AnyModel, ModelFile};
use bprop::model::{Activation, Dataset, Loss, Optimizer, Real};
use bprop::BpropError;
use ndarray::{Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pyo3::create_exception!(
    _native,
    BpropError_,
    PyRuntimeError,
    "An error of bprop's that is not about the arguments: no GPU adapter under backend='gpu', a GPU failure, a failed cross-check, a diverged run, an unreadable model file."
);

/// `$body` with `$m` bound to the model of either precision (a `&ModelFile<f32>` or
/// `&ModelFile<f64>`): one expression for both arms of [`AnyModel`].
macro_rules! with_model {
    ($model:expr, $m:ident => $body:expr) => {
        match $model {
            AnyModel::F32($m) => $body,
            AnyModel::F64($m) => $body,
        }
    };
}

/// Maps a library error onto Python's: argument, shape and data errors are `ValueError`s
/// (what scikit-learn raises for bad input); I/O errors `OSError`; the rest `bprop.BpropError`.
fn to_py(e: BpropError) -> PyErr {
    let msg = e.to_string();
    match e {
        BpropError::Shape { .. }
        | BpropError::NonFinite { .. }
        | BpropError::UnknownName { .. }
        | BpropError::InvalidNetwork(_)
        | BpropError::LossActivation { .. }
        | BpropError::InvalidArgument { .. } => PyValueError::new_err(msg),
        BpropError::Io { .. } => PyOSError::new_err(msg),
        _ => BpropError_::new_err(msg),
    }
}

fn value_error(name: &str, value: impl std::fmt::Display, why: &str) -> PyErr {
    PyValueError::new_err(format!("{name} = {value}: {why}"))
}

/// A fitted network: the contents of a `.bprop` model file, in the precision it was
/// trained in. Pickles as the file's bytes.
#[pyclass(module = "bprop._native", frozen)]
struct Model {
    inner: AnyModel,
}

fn outputs_to_py<T: Real + numpy::Element>(py: Python<'_>, a: Array2<T>) -> Py<PyAny> {
    a.into_pyarray(py).into_any().unbind()
}

impl Model {
    fn predict_typed<T: Real + numpy::Element>(
        py: Python<'_>,
        m: &ModelFile<T>,
        x: ArrayView2<'_, T>,
        backend: BackendChoice,
    ) -> PyResult<Array2<T>> {
        py.detach(|| -> bprop::Result<Array2<T>> {
            let run = |x: ArrayView2<'_, T>| match backend {
                // The CPU path reads the caller's array in place.
                BackendChoice::Cpu => bprop::cpu::predict(&m.network, x, INFER_BATCH),
                choice => Ok(infer(choice, &AdapterRequest::from_env(), &m.network, &x.to_owned(), None)?.outputs),
            };
            let mut outputs = match &m.scaling {
                Some(s) => {
                    let mut owned = x.to_owned();
                    s.apply(&mut owned)?;
                    run(owned.view())?
                }
                None => run(x)?,
            };
            // A regressor trained on standardized targets: its outputs back in the
            // targets' units, as `bprop predict` does.
            if let Some(t) = &m.meta.target_scaling {
                t.undo(&mut outputs)?;
            }
            Ok(outputs)
        })
        .map_err(to_py)
    }
}

#[pymethods]
impl Model {
    /// A model from a `.bprop` file's bytes.
    #[staticmethod]
    #[pyo3(signature = (data, name = "bytes"))]
    fn from_bytes(py: Python<'_>, data: &[u8], name: &str) -> PyResult<Model> {
        let inner = py.detach(|| parse_model(data, name)).map_err(to_py)?;
        Ok(Model { inner })
    }

    /// The `.bprop` file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = with_model!(&self.inner, m => m.to_bytes()).map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Reads a `.bprop` file.
    #[staticmethod]
    fn read(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Model> {
        let inner = py.detach(|| bprop::io::read_model(&path)).map_err(to_py)?;
        Ok(Model { inner })
    }

    /// Writes a `.bprop` file, atomically.
    fn write(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.detach(|| with_model!(&self.inner, m => write_model(&path, m)))
            .map_err(to_py)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let py = slf.py();
        let ctor = py.get_type::<Model>().getattr("from_bytes")?;
        Ok((ctor, (slf.get().to_bytes(py)?,)))
    }

    /// `float32` or `float64`.
    #[getter]
    fn precision(&self) -> &'static str {
        match &self.inner {
            AnyModel::F32(_) => "float32",
            AnyModel::F64(_) => "float64",
        }
    }

    /// Layer sizes from the inputs to the outputs.
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        with_model!(&self.inner, m => m.network.sizes())
    }

    /// Each layer's activation, by bprop's names.
    #[getter]
    fn activations(&self) -> Vec<String> {
        let acts: Vec<Activation> =
            with_model!(&self.inner, m => m.network.layers().iter().map(|l| l.activation).collect());
        acts.iter().map(ToString::to_string).collect()
    }

    /// The loss, by bprop's name.
    #[getter]
    fn loss(&self) -> String {
        with_model!(&self.inner, m => m.network.loss().to_string())
    }

    /// The metadata (schema, training settings, history) as JSON text.
    #[getter]
    fn meta_json(&self) -> PyResult<String> {
        let meta = self.inner.meta();
        let v = serde_json::json!({
            "schema": meta.schema,
            "history": meta.history,
            "written_by": meta.written_by,
            "training": meta.training.as_ref().map(|t| serde_json::json!({
                "epochs": t.epochs,
                "epochs_done": t.epochs_done,
                "steps_done": t.steps_done,
                "batch_size": t.batch_size,
                "seed": t.seed,
                "validation": t.validation,
                "backend": t.backend,
                "samples": t.samples,
                "stopped": t.stopped,
                "seconds": t.seconds,
            })),
        });
        serde_json::to_string(&v).map_err(|e| BpropError_::new_err(e.to_string()))
    }

    /// The weights, one (fan_in, fan_out) float64 array per layer (scikit-learn's layout;
    /// bprop stores (fan_out, fan_in)).
    fn coefs<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray2<f64>>> {
        fn go<'py, T: Real>(py: Python<'py>, m: &ModelFile<T>) -> Vec<Bound<'py, PyArray2<f64>>> {
            let layers = m.network.layers();
            layers
                .iter()
                .map(|l| l.weights.t().mapv(|v| v.f64()).into_pyarray(py))
                .collect()
        }
        with_model!(&self.inner, m => go(py, m))
    }

    /// The biases, one float64 array per layer (zeros for a layer without bias).
    fn intercepts<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray1<f64>>> {
        fn go<'py, T: Real>(py: Python<'py>, m: &ModelFile<T>) -> Vec<Bound<'py, PyArray1<f64>>> {
            m.network
                .layers()
                .iter()
                .map(|l| match &l.bias {
                    Some(b) => b.mapv(|v| v.f64()).into_pyarray(py),
                    None => ndarray::Array1::<f64>::zeros(l.weights.nrows()).into_pyarray(py),
                })
                .collect()
        }
        with_model!(&self.inner, m => go(py, m))
    }

    /// Whether the input scaling is part of the model (models trained by `bprop train` on
    /// CSV or .npy files standardize their inputs).
    #[getter]
    fn has_scaling(&self) -> bool {
        with_model!(&self.inner, m => m.scaling.is_some())
    }

    /// The network's outputs for `x` (n, inputs), after the model's input scaling, as an
    /// array of the model's precision. `x` must be C-contiguous in that precision (it is
    /// read in place on the CPU path). `backend`: "cpu", "gpu" or "auto".
    fn predict(&self, py: Python<'_>, x: &Bound<'_, PyUntypedArray>, backend: &str) -> PyResult<Py<PyAny>> {
        let choice: BackendChoice = backend.parse().map_err(to_py)?;
        match &self.inner {
            AnyModel::F32(m) => {
                let x: PyReadonlyArray2<f32> = x.extract().map_err(|_| dtype_error(x, "float32"))?;
                let out = Self::predict_typed(py, m, x.as_array(), choice)?;
                Ok(outputs_to_py(py, out))
            }
            AnyModel::F64(m) => {
                let x: PyReadonlyArray2<f64> = x.extract().map_err(|_| dtype_error(x, "float64"))?;
                let out = Self::predict_typed(py, m, x.as_array(), choice)?;
                Ok(outputs_to_py(py, out))
            }
        }
    }
}

fn dtype_error(x: &Bound<'_, PyUntypedArray>, want: &str) -> PyErr {
    PyValueError::new_err(format!(
        "X: expected a 2-D {want} array, got {}-D {}",
        x.ndim(),
        x.dtype()
    ))
}

/// What `fit` is asked for, in scikit-learn's terms (see `bprop/_estimators.py`).
struct FitArgs {
    task: Task,
    hidden: Vec<usize>,
    activation: String,
    output: Option<(Activation, Loss)>,
    solver: String,
    alpha: f64,
    batch_size: Option<usize>,
    learning_rate_init: f64,
    learning_rate: String,
    momentum: f64,
    nesterovs_momentum: bool,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    max_iter: usize,
    early_stopping: bool,
    validation_fraction: f64,
    n_iter_no_change: usize,
    seed: u64,
    shuffle: bool,
    backend: BackendChoice,
    dropout: Option<f64>,
    max_norm: Option<f64>,
    cross_check: Option<usize>,
    labels: Option<Vec<String>>,
    input_names: Option<Vec<String>>,
    partial: bool,
}

/// The update rule for scikit-learn's `solver` and its settings.
fn optimizer(a: &FitArgs) -> PyResult<Optimizer> {
    Ok(match a.solver.as_str() {
        "sgd" if a.momentum == 0.0 => Optimizer::Sgd,
        "sgd" if a.nesterovs_momentum => Optimizer::Nesterov { momentum: a.momentum },
        "sgd" => Optimizer::Momentum { momentum: a.momentum },
        "adam" | "adamw" => Optimizer::Adam {
            beta1: a.beta_1,
            beta2: a.beta_2,
            eps: a.epsilon,
            // AdamW: alpha is the decoupled decay; Adam: alpha is an L2 penalty (below).
            decoupled_decay: if a.solver == "adamw" { a.alpha } else { 0.0 },
        },
        "irprop-" => Optimizer::IRPROP,
        other => {
            return Err(value_error(
                "solver",
                format!("'{other}'"),
                "expected 'sgd', 'adam', 'adamw' or 'irprop-' (bprop has no 'lbfgs')",
            ))
        }
    })
}

/// scikit-learn's `learning_rate` names, and bprop's schedules.
fn schedule(s: &str) -> PyResult<ScheduleSpec> {
    match s {
        "constant" => Ok(ScheduleSpec::Constant),
        "invscaling" | "adaptive" => Err(value_error(
            "learning_rate",
            format!("'{s}'"),
            "bprop has 'constant', 'cosine[:MIN_LR]', 'step:EPOCHS[:GAMMA]' and 'exponential:GAMMA' schedules, not scikit-learn's 'invscaling' or 'adaptive'",
        )),
        other => other.parse().map_err(to_py),
    }
}

/// Per-epoch record handed to Python: (epoch, train loss, validation loss, validation accuracy).
type EpochTuple = (usize, f64, Option<f64>, Option<f64>);

fn fit_typed<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, f64>,
    a: &FitArgs,
    warm: Option<&ModelFile<T>>,
    callback: Option<&Bound<'_, PyAny>>,
) -> PyResult<(ModelFile<T>, Bound<'py, PyDict>)> {
    let plan = TrainPlan {
        hidden: a.hidden.clone(),
        activations: parse_activations(&a.activation).map_err(to_py)?,
        output_activation: a.output.map(|o| o.0),
        loss: a.output.map(|o| o.1),
        optimizer: optimizer(a)?,
        learning_rate: Some(a.learning_rate_init),
        schedule: schedule(&a.learning_rate)?,
        weight_decay: 0.0,
        max_norm: a.max_norm,
        dropout: a.dropout,
        input_dropout: None,
        epochs: Some(a.max_iter),
        batch_size: a.batch_size,
        seed: shared_seed(a.seed).map_err(to_py)?,
        validation: Some(if a.early_stopping && !a.partial {
            a.validation_fraction
        } else {
            0.0
        }),
        patience: (a.early_stopping && !a.partial).then_some(a.n_iter_no_change),
        // scikit-learn's MLPs train on the inputs and targets as given (a user who wants
        // scaled targets wraps the regressor in TransformedTargetRegressor), so coefs_ and
        // intercepts_ compute predict's outputs exactly.
        scale: ScaleChoice::Off,
        target_scale: TargetScale::Off,
        ..TrainPlan::default()
    };
    let callback = callback.map(|c| c.clone().unbind());
    let stop = Arc::new(AtomicBool::new(false));
    // An exception raised in the callback (or by a signal handler: KeyboardInterrupt),
    // returned once training has stopped.
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let mut records: Vec<EpochRecord> = Vec::new();

    let run = py.detach(|| -> bprop::Result<_> {
        let started = Instant::now();
        let data = Dataset::new(x.to_owned(), y.mapv(T::of))?;
        let opts = TableOptions {
            task: Some(a.task),
            ..TableOptions::default()
        };
        let mut table = table_from_dataset("X", &data, a.labels.clone(), &opts)?;
        drop(data);
        table.schema.input_names = a.input_names.clone();
        let n = table.len();
        let mut resumed = warm.cloned();
        let mut r = match resumed.as_mut() {
            Some(m) => {
                if let Some(t) = m.meta.training.as_mut() {
                    if a.partial {
                        // partial_fit: one pass over this data, no validation split, the
                        // batch cut to the data as scikit-learn's partial_fit does.
                        t.validation = None;
                        t.batch_size = match t.hyper.optimizer {
                            Optimizer::IRpropMinus { .. } => n,
                            _ => t.batch_size.min(n),
                        };
                    }
                }
                if m.network.inputs() != table.inputs.ncols() || m.network.outputs() != table.schema.outputs {
                    return Err(BpropError::shape(
                        "X and y (inputs, outputs) against the fitted network's",
                        (m.network.inputs(), m.network.outputs()),
                        (table.inputs.ncols(), table.schema.outputs),
                    ));
                }
                plan.resume(&table, m, "the fitted model")?
            }
            None => plan.resolve(&table, None)?,
        };
        // scikit-learn's alpha is an L2 penalty α/(2 n_batch)·‖W‖² on each batch's loss: a
        // gradient term α/n_batch · W.
        if a.solver != "adamw" && warm.is_none() {
            r.config.hyper.weight_decay = a.alpha / r.config.batch_size as f64;
        }
        if !a.shuffle {
            r.config.shuffle = None;
        }
        // A checkpoint after every epoch: the callback's stop (tol, Ctrl-C) takes effect
        // at the end of the epoch it is raised in.
        r.config.checkpoint_steps = 1;
        r.config.validate(r.train.len())?;
        let comm = world()?;
        let req = AdapterRequest::from_env();
        let mut trainer = match &comm {
            Some(c) => on_every_rank(c.as_ref(), || {
                bprop::dist::check_agree(c.as_ref(), "training data (X, y)", &[checksum(&r.train)])?;
                let work = Some(r.workload());
                let (local, note) = bprop::dist::rank_engine(c.as_ref(), a.backend, &req, &r.network, &r.train, work)?;
                let mut engine = DistEngine::new(local, c.clone(), r.train.len())?;
                let start = engine.network()?;
                let mut trainer = Trainer::from_engine(Box::new(engine), start, r.train.clone());
                if let Some(note) = note {
                    trainer.add_note(note);
                }
                Ok(trainer)
            })?,
            None => Trainer::new(a.backend, &req, r.network.clone(), r.train.clone())?,
        };
        if let Some(state) = resumed.as_ref().and_then(|m| m.optimizer.clone()) {
            trainer.set_optimizer_state(Some(state))?;
        }
        let mut notes: Vec<String> = trainer.notes().to_vec();
        if let Some(steps) = a.cross_check {
            if comm.is_some() {
                notes.push("cross-check not run under mpirun (run it in one process)".into());
            } else if trainer.info().kind != BackendKind::Gpu {
                notes.push("cross-check not run: training runs on the CPU path".into());
            } else {
                let batch = r.config.batch_size;
                let spe = r.train.len() / batch;
                let steps = if steps == 0 { spe } else { steps };
                let order: Vec<u32> = (0..steps * batch).map(|i| (i % r.train.len()) as u32).collect();
                let mut reference = CpuEngine::new(r.network.clone(), r.train.clone())?;
                let before = trainer.optimizer_state().cloned();
                let report = cross_check(trainer.engine_mut(), &mut reference, &order, batch, &r.config.hyper, 1)?;
                notes.push(report.to_string());
                trainer.engine_mut().set_network(&r.network)?;
                trainer.set_optimizer_state(before)?;
                report.into_result()?;
            }
        }
        trainer.set_stop_flag(stop.clone());
        let notes_seen = trainer.notes().len();
        let backend_before = trainer.info().to_string();
        let mut observe = |rec: &EpochRecord| {
            records.push(rec.clone());
            let halt = Python::attach(|py| -> PyResult<bool> {
                py.check_signals()?;
                match &callback {
                    Some(cb) => {
                        let v = rec.validation;
                        cb.call1(
                            py,
                            (rec.epoch, rec.train_loss, v.map(|m| m.loss), v.and_then(|m| m.accuracy)),
                        )?
                        .is_truthy(py)
                    }
                    None => Ok(false),
                }
            });
            match halt {
                Ok(false) => {}
                Ok(true) => stop.store(true, Ordering::SeqCst),
                Err(e) => {
                    *raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    stop.store(true, Ordering::SeqCst);
                }
            }
        };
        let result = match &comm {
            // Every rank sees the same losses and the OR of the ranks' stop flags, so they
            // stop at the same epoch; a rank's own failure ends them all.
            Some(c) => on_every_rank(c.as_ref(), || {
                let report = trainer.train_observed(&r.config, r.validation.as_ref(), &mut observe)?;
                bprop::dist::check_same_parameters(c.as_ref(), trainer.network())?;
                Ok(report)
            }),
            None => trainer.train_observed(&r.config, r.validation.as_ref(), &mut observe),
        };
        // A fallback to the CPU path during the run.
        notes.extend(trainer.notes()[notes_seen..].iter().cloned());
        let outcome = RunOutcome {
            trainer: &trainer,
            result: &result,
            records: &records,
            schema: &table.schema,
            data: Some("NumPy arrays (Python)".into()),
            resumed: resumed.as_ref(),
            seconds: started.elapsed().as_secs_f64(),
        };
        let mut model = r.model_file(&outcome);
        let report = result?;
        let converged = report.stopped == StopReason::Interrupted;
        if let (true, Some(t)) = (converged, model.meta.training.as_mut()) {
            t.stopped = "stopped by the Python front end (tol reached, or interrupted)".into();
        }
        let best_epoch = match report.stopped {
            StopReason::EarlyStopping { best_epoch } => Some(best_epoch),
            _ => None,
        };
        Ok((
            model,
            notes,
            backend_before,
            report.backend.to_string(),
            best_epoch,
            report.steps,
        ))
    });
    if let Some(e) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (model, notes, backend_start, backend_end, best_epoch, steps) = run.map_err(to_py)?;
    let report = PyDict::new(py);
    let epochs: Vec<EpochTuple> = records
        .iter()
        .map(|r| {
            (
                r.epoch,
                r.train_loss,
                r.validation.map(|m| m.loss),
                r.validation.and_then(|m| m.accuracy),
            )
        })
        .collect();
    report.set_item("epochs", PyList::new(py, epochs)?)?;
    report.set_item("notes", notes)?;
    report.set_item("backend_start", backend_start)?;
    report.set_item("backend", backend_end)?;
    report.set_item("best_epoch", best_epoch)?;
    report.set_item("steps", steps)?;
    Ok((model, report))
}

/// The ranks `mpirun` started this process among (MPI is initialised on the first call),
/// or `None` in one process.
///
/// # Errors
/// Without the `mpi` feature, [`BpropError::InvalidArgument`] under a launcher of more
/// than one process; with it, [`BpropError::Distributed`] when MPI was initialised by
/// someone else (e.g. mpi4py) or by another thread of this process.
fn world() -> bprop::Result<Option<Rc<dyn Collective>>> {
    #[cfg(feature = "mpi")]
    {
        if !bprop::dist::Mpi::launched() {
            return Ok(None);
        }
        WORLD.with(|w| {
            let mut w = w.borrow_mut();
            if w.is_none() {
                *w = Some(Rc::new(bprop::dist::Mpi::init().map_err(|e| match e {
                    BpropError::Distributed { rank, why } => BpropError::Distributed {
                        rank,
                        why: format!(
                            "{why}: under mpirun, bprop initialises MPI itself, on the first thread that \
                             fits (or calls mpi_rank/mpi_size); do not import mpi4py before it"
                        ),
                    },
                    e => e,
                })?));
            }
            Ok(w.clone().map(|m| m as Rc<dyn Collective>))
        })
    }
    #[cfg(not(feature = "mpi"))]
    match bprop::dist::launcher_size().filter(|&n| n > 1) {
        // N copies would each train a model of their own.
        Some(n) => Err(BpropError::InvalidArgument {
            name: "mpirun",
            value: format!("{n} processes"),
            why: "this bprop Python package was built without MPI; reinstall it with the `mpi` feature \
                  (MATURIN_PEP517_ARGS=\"--features mpi\" pip install ./python) to train one model on \
                  several processes"
                .into(),
        }),
        None => Ok(None),
    }
}

#[cfg(feature = "mpi")]
thread_local! {
    /// MPI's world communicator, once [`world`] has initialised it; MPI is finalised when
    /// it is dropped ([`mpi_finalize`], at the interpreter's exit).
    static WORLD: std::cell::RefCell<Option<Rc<bprop::dist::Mpi>>> = const { std::cell::RefCell::new(None) };
}

/// `seed`, or under mpirun rank 0's: every rank must shuffle and split alike, and an
/// estimator with `random_state=None` draws a seed of its own on each rank.
///
/// # Errors
/// Those of [`world`].
fn shared_seed(seed: u64) -> bprop::Result<u64> {
    let Some(c) = world()? else { return Ok(seed) };
    // two 32-bit halves: an f64 holds each exactly
    let mut halves = [(seed >> 32) as f64, (seed & 0xffff_ffff) as f64];
    c.broadcast_f64(&mut halves)?;
    Ok(((halves[0] as u64) << 32) | halves[1] as u64)
}

/// A checksum of a dataset's values (their bits), for the ranks to check that they were
/// given the same data.
fn checksum<T: Real>(data: &Dataset<T>) -> f64 {
    let values = data.inputs().iter().chain(data.targets().iter());
    let h = values.fold(data.len() as u64, |h, v| {
        (h.wrapping_mul(0x100_0000_01b3) ^ v.f64().to_bits()) % (1 << 52)
    });
    h as f64
}

/// Runs `f`, a step every rank takes together: when it fails on this rank with an error of
/// its own (not a [`BpropError::Distributed`] that every rank returns alike), the other
/// ranks would wait for this one forever, so every rank is ended (MPI_Abort) after saying
/// which failed and why, as `mpirun -n N bprop train` does.
fn on_every_rank<R>(comm: &dyn Collective, f: impl FnOnce() -> bprop::Result<R>) -> bprop::Result<R> {
    let result = f();
    if let Err(e) = &result {
        if comm.size() > 1 && !matches!(e, BpropError::Distributed { .. }) {
            eprintln!(
                "bprop: error on rank {} of {}: {e}; ending all ranks",
                comm.rank(),
                comm.size()
            );
            comm.abort(1);
        }
    }
    result
}

/// This process's rank among those `mpirun` started (0 outside mpirun). Initialises MPI
/// under mpirun; in a build without the `mpi` feature, a multi-process mpirun is refused
/// ([`world`]).
#[pyfunction]
fn mpi_rank() -> PyResult<usize> {
    Ok(world().map_err(to_py)?.map_or(0, |c| c.rank()))
}

/// The number of processes training together: `mpirun`'s N, 1 outside mpirun. As
/// [`mpi_rank`].
#[pyfunction]
fn mpi_size() -> PyResult<usize> {
    Ok(world().map_err(to_py)?.map_or(1, |c| c.size()))
}

/// Finalises MPI if this thread initialised it (registered with `atexit` by the package);
/// afterwards a fit under mpirun fails with a typed error.
#[pyfunction]
fn mpi_finalize() {
    #[cfg(feature = "mpi")]
    WORLD.with(|w| drop(w.borrow_mut().take()));
}

fn parse_output(s: Option<&str>) -> PyResult<Option<(Activation, Loss)>> {
    match s {
        None => Ok(None),
        Some(s) => {
            let (a, l) = s
                .split_once(':')
                .ok_or_else(|| value_error("output", s, "expected ACTIVATION:LOSS"))?;
            Ok(Some((a.parse().map_err(to_py)?, l.parse().map_err(to_py)?)))
        }
    }
}

/// Trains a network on `x` (n, inputs; C-contiguous float32 or float64, read without a
/// conversion) and `y` (n, outputs; float64, already encoded: one-hot classes, 0/1 labels
/// or values). Returns the fitted `Model` and a report dict.
#[pyfunction]
#[pyo3(signature = (
    x, y, *, task, hidden_layer_sizes, activation, output, solver, alpha, batch_size,
    learning_rate_init, learning_rate, momentum, nesterovs_momentum, beta_1, beta_2, epsilon,
    max_iter, early_stopping, validation_fraction, n_iter_no_change, seed, shuffle, backend,
    dropout, max_norm, cross_check, labels, input_names, warm, partial, callback
))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyUntypedArray>,
    y: PyReadonlyArray2<'py, f64>,
    task: &str,
    hidden_layer_sizes: Vec<usize>,
    activation: &str,
    output: Option<&str>,
    solver: &str,
    alpha: f64,
    batch_size: Option<usize>,
    learning_rate_init: f64,
    learning_rate: &str,
    momentum: f64,
    nesterovs_momentum: bool,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    max_iter: usize,
    early_stopping: bool,
    validation_fraction: f64,
    n_iter_no_change: usize,
    seed: u64,
    shuffle: bool,
    backend: &str,
    dropout: Option<f64>,
    max_norm: Option<f64>,
    cross_check: Option<usize>,
    labels: Option<Vec<String>>,
    input_names: Option<Vec<String>>,
    warm: Option<PyRef<'py, Model>>,
    partial: bool,
    callback: Option<Bound<'py, PyAny>>,
) -> PyResult<(Model, Bound<'py, PyDict>)> {
    let args = FitArgs {
        task: task.parse().map_err(to_py)?,
        hidden: hidden_layer_sizes,
        activation: activation.to_string(),
        output: parse_output(output)?,
        solver: solver.to_string(),
        alpha,
        batch_size,
        learning_rate_init,
        learning_rate: learning_rate.to_string(),
        momentum,
        nesterovs_momentum,
        beta_1,
        beta_2,
        epsilon,
        max_iter,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        seed,
        shuffle,
        backend: backend.parse().map_err(to_py)?,
        dropout,
        max_norm,
        cross_check,
        labels,
        input_names,
        partial,
    };
    let y = y.as_array();
    let cb = callback.as_ref();
    if let Ok(x32) = x.extract::<PyReadonlyArray2<f32>>() {
        let warm = match warm.as_ref().map(|m| &m.inner) {
            Some(AnyModel::F32(m)) => Some(m.clone()),
            Some(AnyModel::F64(m)) => Some(m.cast::<f32>()),
            None => None,
        };
        let (m, report) = fit_typed(py, x32.as_array(), y, &args, warm.as_ref(), cb)?;
        return Ok((
            Model {
                inner: AnyModel::F32(m),
            },
            report,
        ));
    }
    if let Ok(x64) = x.extract::<PyReadonlyArray2<f64>>() {
        let warm = match warm.as_ref().map(|m| &m.inner) {
            Some(AnyModel::F64(m)) => Some(m.clone()),
            Some(AnyModel::F32(m)) => Some(m.cast::<f64>()),
            None => None,
        };
        let (m, report) = fit_typed(py, x64.as_array(), y, &args, warm.as_ref(), cb)?;
        return Ok((
            Model {
                inner: AnyModel::F64(m),
            },
            report,
        ));
    }
    Err(dtype_error(x, "float32 or float64"))
}

/// Every adapter wgpu sees (as `bprop devices` lists them), and which one `auto` uses.
#[pyfunction]
fn devices(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (all, picked) = py.detach(|| {
        let req = AdapterRequest::from_env();
        let all: Vec<_> = bprop::gpu::context::enumerate(&AdapterRequest {
            name: None,
            ..req.clone()
        })
        .into_iter()
        .map(|(_, s)| s)
        .collect();
        let picked = bprop::gpu::context::pick(&req, false).map(|(_, s)| s);
        (all, picked)
    });
    let list = PyList::empty(py);
    for s in &all {
        let d = PyDict::new(py);
        d.set_item("name", &s.name)?;
        d.set_item("backend", &s.backend)?;
        d.set_item("device_type", &s.device_type)?;
        d.set_item("driver", &s.driver)?;
        d.set_item("compute", s.compute)?;
        d.set_item("f64", s.f64)?;
        d.set_item("f16", s.f16)?;
        d.set_item("subgroups", s.subgroup)?;
        d.set_item("timestamps", s.timestamp)?;
        d.set_item("max_storage_binding", s.max_storage_binding)?;
        d.set_item("max_buffer", s.max_buffer)?;
        d.set_item("max_workgroup_storage", s.max_workgroup_storage)?;
        d.set_item("max_invocations", s.max_invocations)?;
        d.set_item("max_storage_buffers_per_stage", s.max_storage_buffers_per_stage)?;
        d.set_item("software", s.is_software())?;
        list.append(d)?;
    }
    let out = PyDict::new(py);
    out.set_item("adapters", list)?;
    match picked {
        Ok(s) => {
            out.set_item("auto", s.name.clone())?;
            out.set_item("auto_reason", py.None())?;
        }
        Err(e) => {
            out.set_item("auto", "cpu")?;
            out.set_item("auto_reason", e.to_string())?;
        }
    }
    Ok(out)
}

/// `bprop explain --format json` as text: `steps` steps of plain gradient descent at
/// learning rate `lr` on the batch `x`, `y` from the parameters of `model` (f64), or the
/// seed's when `model` is None; with `gpu`, the GPU path's values beside.
#[pyfunction]
#[pyo3(signature = (model, x, y, steps, lr, layer, neurons, max_weights, gpu))]
#[allow(clippy::too_many_arguments)]
fn explain_json(
    py: Python<'_>,
    model: Option<PyRef<'_, Model>>,
    x: Option<PyReadonlyArray2<'_, f64>>,
    y: Option<PyReadonlyArray2<'_, f64>>,
    steps: usize,
    lr: Option<f64>,
    layer: Option<usize>,
    neurons: Option<(usize, usize)>,
    max_weights: usize,
    gpu: bool,
) -> PyResult<String> {
    use bprop::explain::{ExplainGpu, ExplainOptions, Format};
    let opts = ExplainOptions {
        layer,
        neurons: neurons.map(|(a, b)| a..b),
        max_weights,
        ..ExplainOptions::default()
    };
    let model: Option<ModelFile<f64>> = model.map(|m| m.inner.cast());
    let x = x.map(|a| a.as_array().to_owned());
    let y = y.map(|a| a.as_array().to_owned());
    py.detach(|| -> bprop::Result<String> {
        let (net, data) = match (model, x, y) {
            (None, None, None) => (bprop::seed::network(), bprop::seed::dataset()),
            (Some(m), Some(x), Some(y)) => {
                let mut x = x;
                if let Some(s) = &m.scaling {
                    s.apply(&mut x)?;
                }
                (m.network, Dataset::new(x, y)?)
            }
            _ => {
                return Err(BpropError::InvalidArgument {
                    name: "estimator",
                    value: "given without X and y (or X and y without it)".into(),
                    why: "give a fitted estimator with X and y, or none of them for the seed".into(),
                })
            }
        };
        let samples: Vec<u32> = (0..data.len() as u32).collect();
        let lr = lr.unwrap_or(bprop::seed::LEARNING_RATE);
        let mut twin = if gpu {
            Some(ExplainGpu::open(&AdapterRequest::from_env(), &net, &data)?)
        } else {
            None
        };
        let e = bprop::explain::explain(&net, &data, &samples, steps, lr, &opts, twin.as_mut().map(|t| t.twin()))?;
        Ok(e.render(Format::Json))
    })
    .map_err(to_py)
}

/// Sets the CPU path's thread count (default: the physical cores).
#[pyfunction]
fn set_threads(n: usize) -> PyResult<()> {
    bprop::cpu::threads::set_threads(n).map_err(to_py)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add_function(wrap_pyfunction!(explain_json, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_rank, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_size, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_finalize, m)?)?;
    // Whether this build trains data-parallel under mpirun (the `mpi` feature).
    m.add("HAS_MPI", cfg!(feature = "mpi"))?;
    m.add("BpropError", m.py().get_type::<BpropError_>())?;
    Ok(())
}
