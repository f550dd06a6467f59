//! Bit-for-bit comparisons shared by the tests whose variants promise the same bits
//! (product kernels, four-wide kernels and update, subgroup reductions).

use bprop::engine::StepTrace;
use bprop::model::{Network, Real};

/// Each value's bits (through f64, which holds every f32 exactly).
pub fn bits<'a, T: Real + 'a>(v: impl IntoIterator<Item = &'a T>) -> Vec<u64> {
    v.into_iter().map(|x| x.f64().to_bits()).collect()
}

/// `a` and `b` hold the same bits in every intermediate of the step and its loss.
pub fn assert_traces_equal<T: Real>(what: &str, a: &StepTrace<T>, b: &StepTrace<T>) {
    for (l, (la, lb)) in a.layers.iter().zip(&b.layers).enumerate() {
        assert!(bits(&la.z) == bits(&lb.z), "{what}: layer {l} z differs");
        assert!(bits(&la.a) == bits(&lb.a), "{what}: layer {l} a differs");
        assert!(bits(&la.delta) == bits(&lb.delta), "{what}: layer {l} delta differs");
        assert!(bits(&la.grad_w) == bits(&lb.grad_w), "{what}: layer {l} grad_w differs");
        let gb = |t: &Option<ndarray::Array1<T>>| t.as_ref().map(|v| bits(v));
        assert_eq!(gb(&la.grad_b), gb(&lb.grad_b), "{what}: layer {l} grad_b differs");
    }
    assert_eq!(a.loss.f64().to_bits(), b.loss.f64().to_bits(), "{what}: loss differs");
}

/// Every parameter of `a` and `b`, bit for bit.
pub fn assert_networks_equal<T: Real>(what: &str, a: &Network<T>, b: &Network<T>) {
    for (l, (la, lb)) in a.layers().iter().zip(b.layers()).enumerate() {
        assert!(
            bits(&la.weights) == bits(&lb.weights),
            "{what}: layer {l} weights differ"
        );
        let bias = |x: &bprop::model::Layer<T>| x.bias.as_ref().map(|v| bits(v));
        assert!(bias(la) == bias(lb), "{what}: layer {l} bias differs");
    }
}
