//! A fully connected network: a chain of dense layers and a loss.
//!
//! Layer l maps a_{l−1} (fan_in values) to a_l = f_l(z_l), z_l = W_l a_{l−1} + b_l, with
//! W_l of shape (fan_out, fan_in) — the seed's orientation, one row per neuron.

use crate::error::{BpropError, Result};
use crate::model::{Activation, Loss, Real};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One dense layer: weights (fan_out, fan_in), an optional bias (fan_out), an activation.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer<T> {
    /// W, shape (fan_out, fan_in): row i holds neuron i's incoming weights.
    pub weights: Array2<T>,
    /// b, length fan_out, or `None` for a layer without biases (as in the seed).
    pub bias: Option<Array1<T>>,
    /// f, applied to z = W a + b.
    pub activation: Activation,
}

impl<T: Real> Layer<T> {
    /// Number of inputs (columns of W).
    pub fn fan_in(&self) -> usize {
        self.weights.ncols()
    }
    /// Number of neurons (rows of W).
    pub fn fan_out(&self) -> usize {
        self.weights.nrows()
    }
    /// Number of trainable numbers: fan_out · fan_in, plus fan_out with a bias.
    pub fn n_params(&self) -> usize {
        self.weights.len() + self.bias.as_ref().map_or(0, |b| b.len())
    }
}

/// The shape of one layer, for building a network with random weights.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerSpec {
    /// Number of neurons.
    pub units: usize,
    /// Activation function.
    pub activation: Activation,
    /// Whether the layer has a bias vector.
    pub bias: bool,
}

/// A whole architecture: input width, layers, loss. Build it with [`NetworkSpec::new`] and
/// [`NetworkSpec::layer`]:
///
/// ```
/// use bprop::model::{Activation, Loss, NetworkSpec};
/// let spec = NetworkSpec::new(2, Loss::HalfSse)
///     .layer(2, Activation::Sigmoid)
///     .layer(1, Activation::Sigmoid);
/// assert_eq!(spec.layers.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetworkSpec {
    /// Number of inputs.
    pub inputs: usize,
    /// The layers, input side first.
    pub layers: Vec<LayerSpec>,
    /// The loss.
    pub loss: Loss,
}

impl NetworkSpec {
    /// Layer sizes, inputs first (as [`Network::sizes`]).
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.inputs)
            .chain(self.layers.iter().map(|l| l.units))
            .collect()
    }

    /// A lower bound on the bytes training this network takes in numbers of `real_bytes`
    /// bytes at `batch` samples per step, computed from the sizes before anything is
    /// allocated: every weight and bias four times (the parameters, their gradient, the
    /// optimizer's two state slots) and, per sample of the batch, every layer's z, a and
    /// δ. Checkpoints, the dataset and the engine's copies come on top. `None` when the
    /// count overflows 64 bits, a size no machine holds.
    pub fn training_bytes(&self, real_bytes: usize, batch: usize) -> Option<u64> {
        let sizes = self.sizes();
        let mut params: u64 = 0;
        for (w, layer) in sizes.windows(2).zip(&self.layers) {
            let fan_in = (w[0] as u64).checked_add(u64::from(layer.bias))?;
            params = params.checked_add(fan_in.checked_mul(w[1] as u64)?)?;
        }
        let units = sizes.iter().try_fold(0u64, |acc, &n| acc.checked_add(n as u64))?;
        let per_value = real_bytes as u64;
        let parameters = params.checked_mul(4)?.checked_mul(per_value)?;
        let activations = units
            .checked_mul(3)?
            .checked_mul(batch as u64)?
            .checked_mul(per_value)?;
        parameters.checked_add(activations)
    }

    /// An architecture with `inputs` inputs, no layers yet, and `loss`.
    pub fn new(inputs: usize, loss: Loss) -> Self {
        NetworkSpec {
            inputs,
            layers: Vec::new(),
            loss,
        }
    }
    /// Appends a layer of `units` neurons with a bias.
    pub fn layer(mut self, units: usize, activation: Activation) -> Self {
        self.layers.push(LayerSpec {
            units,
            activation,
            bias: true,
        });
        self
    }
    /// Appends a layer of `units` neurons without a bias.
    pub fn layer_without_bias(mut self, units: usize, activation: Activation) -> Self {
        self.layers.push(LayerSpec {
            units,
            activation,
            bias: false,
        });
        self
    }
}

/// How random weights are drawn. Biases start at 0, except under [`Init::Uniform`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Init {
    /// Glorot/Xavier uniform: W ~ U(−r, r), r = √(6 / (fan_in + fan_out)).
    Glorot,
    /// He/Kaiming uniform: W ~ U(−r, r), r = √(6 / fan_in).
    He,
    /// He for relu/leaky_relu layers, Glorot for the others.
    #[default]
    Auto,
    /// Weights and biases ~ U(−range, range) whatever the layer's size: FANN's
    /// `fann_randomize_weights` (its networks start in U(−0.1, 0.1)), for comparing with it.
    Uniform {
        /// The bound r of U(−r, r), positive.
        range: f64,
    },
}

impl std::str::FromStr for Init {
    type Err = BpropError;

    /// `auto`, `glorot`, `he`, or `uniform:R` (R positive and finite).
    fn from_str(s: &str) -> Result<Self> {
        let unknown = || BpropError::UnknownName {
            kind: "initialisation",
            name: s.to_string(),
            expected: "auto, glorot, he, uniform:R",
        };
        match s {
            "auto" => Ok(Init::Auto),
            "glorot" => Ok(Init::Glorot),
            "he" => Ok(Init::He),
            _ => {
                let range: f64 = s
                    .strip_prefix("uniform:")
                    .ok_or_else(unknown)?
                    .parse()
                    .map_err(|_| unknown())?;
                if range.is_finite() && range > 0.0 {
                    Ok(Init::Uniform { range })
                } else {
                    Err(BpropError::InvalidNetwork(format!(
                        "the initial weights' range must be positive and finite, got {range}"
                    )))
                }
            }
        }
    }
}

impl std::fmt::Display for Init {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Init::Auto => f.write_str("auto"),
            Init::Glorot => f.write_str("glorot"),
            Init::He => f.write_str("he"),
            Init::Uniform { range } => write!(f, "uniform:{range}"),
        }
    }
}

/// A validated network: layers that chain, an output activation that fits the loss,
/// finite parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Network<T> {
    layers: Vec<Layer<T>>,
    loss: Loss,
}

impl<T: Real> Network<T> {
    /// Builds a network from explicit layers (their arrays are stored in standard,
    /// row-major, layout).
    ///
    /// # Errors
    /// [`BpropError::InvalidNetwork`] for no layers, an empty layer, weights that do not
    /// chain (layer l's fan_in ≠ layer l−1's fan_out), a bias of the wrong length, or softmax
    /// on a hidden layer; [`BpropError::LossActivation`] when the loss does not fit the
    /// output activation; [`BpropError::NonFinite`] for NaN or infinite parameters.
    pub fn new(layers: Vec<Layer<T>>, loss: Loss) -> Result<Self> {
        if layers.is_empty() {
            return Err(BpropError::InvalidNetwork("a network needs at least one layer".into()));
        }
        let last = layers.len() - 1;
        for (l, layer) in layers.iter().enumerate() {
            layer.activation.validate()?;
            let (rows, cols) = layer.weights.dim();
            if rows == 0 || cols == 0 {
                return Err(BpropError::InvalidNetwork(format!(
                    "layer {l} weights have shape ({rows}, {cols}); every layer needs at least one input and one neuron"
                )));
            }
            if l > 0 {
                let prev = layers[l - 1].fan_out();
                if cols != prev {
                    return Err(BpropError::InvalidNetwork(format!(
                        "weights do not chain: layer {l} weights have shape ({rows}, {cols}) so expect {cols} inputs, \
                         but layer {} has {prev} neurons",
                        l - 1
                    )));
                }
            }
            if let Some(b) = &layer.bias {
                if b.len() != rows {
                    return Err(BpropError::shape(format!("layer {l} bias"), (rows,), (b.len(),)));
                }
            }
            if layer.activation == Activation::Softmax && l != last {
                return Err(BpropError::InvalidNetwork(format!(
                    "softmax is only allowed on the output layer, found on layer {l} of {}",
                    layers.len()
                )));
            }
            check_finite(&format!("layer {l} weights"), layer.weights.iter().copied(), cols)?;
            if let Some(b) = &layer.bias {
                check_finite(&format!("layer {l} bias"), b.iter().copied(), b.len())?;
            }
        }
        loss.check_output(layers[last].activation)?;
        // Row-major storage: the CPU path reads parameters as contiguous slices.
        let mut layers = layers;
        for layer in &mut layers {
            if !layer.weights.is_standard_layout() {
                layer.weights = layer.weights.as_standard_layout().into_owned();
            }
            if let Some(b) = &mut layer.bias {
                if !b.is_standard_layout() {
                    *b = b.as_standard_layout().into_owned();
                }
            }
        }
        Ok(Network { layers, loss })
    }

    /// Builds a network of `spec`'s shape with random weights drawn by `init` from the
    /// ChaCha8 generator seeded with `seed`. The same seed gives bit-identical weights, and
    /// f32 weights are the f64 draws rounded (layer by layer, row-major).
    ///
    /// # Errors
    /// As [`Network::new`], plus [`BpropError::InvalidNetwork`] for zero inputs or units,
    /// or an [`Init::Uniform`] range that is not positive and finite.
    pub fn random(spec: &NetworkSpec, init: Init, seed: u64) -> Result<Self> {
        if spec.inputs == 0 {
            return Err(BpropError::InvalidNetwork(
                "the network needs at least one input".into(),
            ));
        }
        if let Init::Uniform { range } = init {
            if !(range.is_finite() && range > 0.0) {
                return Err(BpropError::InvalidNetwork(format!(
                    "the initial weights' range must be positive and finite, got {range}"
                )));
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut fan_in = spec.inputs;
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (l, ls) in spec.layers.iter().enumerate() {
            if ls.units == 0 {
                return Err(BpropError::InvalidNetwork(format!("layer {l} has 0 units")));
            }
            let glorot = (6.0 / (fan_in + ls.units) as f64).sqrt();
            let he = (6.0 / fan_in as f64).sqrt();
            let r = match init {
                Init::He => he,
                Init::Glorot => glorot,
                Init::Auto if matches!(ls.activation, Activation::Relu | Activation::LeakyRelu { .. }) => he,
                Init::Auto => glorot,
                Init::Uniform { range } => range,
            };
            let weights = Array2::from_shape_simple_fn((ls.units, fan_in), || T::of(rng.random_range(-r..r)));
            let bias = ls.bias.then(|| match init {
                Init::Uniform { range } => {
                    Array1::from_shape_simple_fn(ls.units, || T::of(rng.random_range(-range..range)))
                }
                _ => Array1::zeros(ls.units),
            });
            layers.push(Layer {
                weights,
                bias,
                activation: ls.activation,
            });
            fan_in = ls.units;
        }
        Network::new(layers, spec.loss)
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }
    /// Mutable access to the parameters. Shapes must not change; engines rely on them.
    pub(crate) fn layers_mut(&mut self) -> &mut [Layer<T>] {
        &mut self.layers
    }
    /// The loss.
    pub fn loss(&self) -> Loss {
        self.loss
    }
    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.layers[0].fan_in()
    }
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].fan_out()
    }
    /// Total number of trainable parameters.
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(Layer::n_params).sum()
    }
    /// Layer sizes, inputs first: e.g. `[2, 2, 1]` for the seed.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.inputs())
            .chain(self.layers.iter().map(Layer::fan_out))
            .collect()
    }
    /// The architecture as a spec (drops the weights).
    pub fn spec(&self) -> NetworkSpec {
        NetworkSpec {
            inputs: self.inputs(),
            layers: self
                .layers
                .iter()
                .map(|l| LayerSpec {
                    units: l.fan_out(),
                    activation: l.activation,
                    bias: l.bias.is_some(),
                })
                .collect(),
            loss: self.loss,
        }
    }

    /// The same network in another precision (f64 → f32 rounds to nearest).
    pub fn cast<U: Real>(&self) -> Network<U> {
        Network {
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    weights: l.weights.mapv(|w| U::of(w.f64())),
                    bias: l.bias.as_ref().map(|b| b.mapv(|v| U::of(v.f64()))),
                    activation: l.activation,
                })
                .collect(),
            loss: self.loss,
        }
    }

    /// Checks that `other` has exactly this network's architecture (sizes, biases,
    /// activations, loss), as needed to load its parameters into an engine built for this one.
    pub fn check_same_shape(&self, other: &Network<T>) -> Result<()> {
        if self.spec() != other.spec() {
            return Err(BpropError::shape("network architecture", self.sizes(), other.sizes()));
        }
        Ok(())
    }
}

/// Errors with the first non-finite value of `values`, located by row and column.
pub(crate) fn check_finite<T: Real>(what: &str, values: impl Iterator<Item = T>, cols: usize) -> Result<()> {
    for (i, v) in values.enumerate() {
        if !v.is_finite() {
            return Err(BpropError::NonFinite {
                what: what.to_string(),
                index: format!("row {}, column {}", i / cols.max(1), i % cols.max(1)),
                value: format!("{v}"),
            });
        }
    }
    Ok(())
}
