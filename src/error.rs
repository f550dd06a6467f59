//! The crate's one error type: every failure names the argument, shape, file or adapter
//! involved, so that a caller (or the CLI) can print it as is.

use thiserror::Error;

/// Everything that can go wrong in bprop.
///
/// Variants carry the names and shapes needed for a message that tells the user what to fix.
#[derive(Debug, Error)]
pub enum BpropError {
    /// Two arrays that must agree in shape do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// The argument or operation, e.g. `layer 1 weights`.
        what: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A value is NaN or infinite where finite numbers are required.
    #[error("{what} contains a non-finite value ({value}) at {index}")]
    NonFinite {
        /// The argument, e.g. `inputs`.
        what: String,
        /// Where, e.g. `row 3, column 1`.
        index: String,
        /// The offending value, printed.
        value: String,
    },
    /// A name (activation, loss, backend, ...) that bprop does not know.
    #[error("unknown {kind} `{name}`; expected one of: {expected}")]
    UnknownName {
        /// What kind of name, e.g. `activation`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A network that cannot be built as described.
    #[error("invalid network: {0}")]
    InvalidNetwork(String),
    /// A loss that does not fit the output layer's activation.
    #[error("loss `{loss}` does not fit output activation `{activation}`: {why}")]
    LossActivation {
        /// The loss name.
        loss: String,
        /// The output activation name.
        activation: String,
        /// Which pairs are allowed.
        why: &'static str,
    },
    /// A hyperparameter or option outside its range.
    #[error("invalid argument `{name}` = {value}: {why}")]
    InvalidArgument {
        /// The option's name, e.g. `learning_rate`.
        name: &'static str,
        /// The value given, printed.
        value: String,
        /// What is allowed.
        why: String,
    },
    /// No GPU adapter could be used; the string says what was looked for and found.
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    /// The GPU path failed after an adapter was found (device creation, a lost device,
    /// a shader or pipeline error, a buffer over the adapter's limits, a readback failure).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// The cross-check found GPU and CPU results further apart than the tolerance allows.
    #[error("cross-check failed: {0}")]
    CrossCheck(String),
    /// Training produced a NaN or infinite loss, or NaN or infinite parameters.
    #[error("training diverged at step {step}: loss is {loss}")]
    Diverged {
        /// The step (0-based, counted over the whole run) whose loss was not finite, or
        /// the last step of a chunk that ended with non-finite parameters.
        step: usize,
        /// The loss value, printed (with the non-finite parameter in the second case).
        loss: String,
    },
    /// A data file (IDX, FANN) that is malformed: a bad magic number or header, a field that
    /// is not a finite number, too little or too much data, a label out of range.
    #[error("{path}:{location}: {message}")]
    Parse {
        /// The file path (or the name given to a reader that is not a file).
        path: String,
        /// Where in the file, e.g. `line 12, column 3` (text; 1-based) or `byte offset 16`
        /// (binary; 0-based, counted in the decompressed data for gzipped files).
        location: String,
        /// What is wrong and what was expected there.
        message: String,
    },
    /// A model file that cannot be used: not a bprop model, written by a newer format
    /// version, truncated or corrupt (checksum mismatch), or describing a network that does
    /// not match its tensors.
    #[error("{path}: {why}")]
    ModelFile {
        /// The model file's path.
        path: String,
        /// What is wrong, and what to do about it where there is something to do.
        why: String,
    },
    /// An input larger than bprop reads by default (a line, a file, its decompressed
    /// data, or what its header declares), refused before memory grows with it.
    #[error("{path}: {what} exceeds the limit of {limit} bytes; {hint}")]
    InputLimit {
        /// The file (or the name given to a reader that is not a file).
        path: String,
        /// What is too large, e.g. `line 3` or `the decompressed data`.
        what: String,
        /// The limit that applied, in bytes.
        limit: u64,
        /// How to raise the limit, or why it cannot be.
        hint: String,
    },
    /// A path that is not a regular file (a FIFO, a device, a directory, a socket):
    /// readers read regular files only, so a pipe without a writer cannot block them and a
    /// device without end cannot fill memory.
    #[error("{path}: not a regular file ({kind}); give a regular file (decompress or save a stream first)")]
    NotRegularFile {
        /// The path.
        path: String,
        /// What it is instead, e.g. `a FIFO`.
        kind: &'static str,
    },
    /// Data-parallel training ([`crate::dist`]) failed on a rank: a communication error,
    /// or ranks that do not agree on what they train.
    #[error("rank {rank}: {why}")]
    Distributed {
        /// The rank (0-based) that found the failure.
        rank: usize,
        /// What failed.
        why: String,
    },
    /// An I/O failure, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results in bprop.
pub type Result<T, E = BpropError> = std::result::Result<T, E>;

impl BpropError {
    /// A shape error from anything printable.
    pub fn shape(what: impl Into<String>, expected: impl std::fmt::Debug, got: impl std::fmt::Debug) -> Self {
        BpropError::Shape {
            what: what.into(),
            expected: format!("{expected:?}"),
            got: format!("{got:?}"),
        }
    }
}
