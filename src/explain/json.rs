//! JSON: the [`Explanation`] serialised with serde_json. Every number is the f64 the engine
//! (or the finite-difference check) computed, written in the shortest form that reads back
//! to the same bits.

use super::Explanation;

/// Renders `e` as pretty-printed JSON, ending in a newline.
pub(crate) fn render(e: &Explanation) -> String {
    // Plain structs with string keys always serialise; a NaN would become `null`.
    let mut s = serde_json::to_string_pretty(e).expect("an explanation is plain data");
    s.push('\n');
    s
}
