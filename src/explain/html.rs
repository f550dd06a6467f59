//! A self-contained HTML page: inline CSS, and for every step an inline SVG drawing of the
//! network (neurons as circles, weights as lines coloured by sign and as thick as their
//! magnitude, each labelled or titled with its gradient), followed by the same sections as
//! the text format. Nothing is loaded from anywhere: the page opens offline.
//!
//! The markup is well-formed XML apart from the doctype (void elements are written `<x/>`),
//! so that a strict parser or a simple tag-balance check accepts it.

use super::doc::{num, small, Block, Table};
use super::{Explanation, Step};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Prose: escaped, with `code` spans.
fn prose(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in s.split('`').enumerate() {
        if k % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; color: #1f2937; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #e5e7eb; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 1px solid #e5e7eb; }
h3 { font-size: 1.05rem; margin-bottom: .3rem; }
pre { background: #f8fafc; border: 1px solid #e5e7eb; border-radius: 6px; padding: .6rem .9rem;
      overflow-x: auto; font-size: .9rem; }
code { background: #f1f5f9; padding: 0 .2rem; border-radius: 3px; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #e5e7eb; padding: .2rem .6rem; }
th { background: #f8fafc; }
td.num { text-align: right; font-family: ui-monospace, monospace; }
figure { margin: 1rem 0; }
figcaption { font-size: .85rem; color: #4b5563; }
svg { max-width: 100%; height: auto; }
svg text { font-family: ui-monospace, monospace; }
";

fn table(t: &Table, out: &mut String) {
    out.push_str("<table>\n<thead><tr>");
    for h in &t.header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let right = super::text::right_aligned(t);
    for r in &t.rows {
        out.push_str("<tr>");
        for (c, cell) in r.iter().enumerate() {
            if !right[c] {
                let _ = write!(out, "<td>{}</td>", esc(cell));
            } else {
                let _ = write!(out, "<td class=\"num\">{}</td>", esc(cell));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Renders `e`, laid out as `blocks`, as an HTML page.
pub(crate) fn render(e: &Explanation, blocks: &[Block]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    let _ = write!(
        out,
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&e.title)
    );
    for block in blocks {
        match block {
            Block::Title(t) => {
                let _ = writeln!(out, "<h1>{}</h1>", esc(t));
            }
            Block::Heading(t) => {
                let _ = writeln!(out, "<h2>{}</h2>", esc(t));
            }
            Block::Subheading(t) => {
                let _ = writeln!(out, "<h3>{}</h3>", esc(t));
            }
            Block::Para(p) => {
                let _ = writeln!(out, "<p>{}</p>", prose(p));
            }
            Block::Math(lines) => {
                out.push_str("<pre>");
                for l in lines {
                    out.push_str(&esc(l));
                    out.push('\n');
                }
                out.push_str("</pre>\n");
            }
            Block::Table(t) => table(t, &mut out),
            Block::Network(k) => svg(e, &e.steps[*k], &mut out),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A number short enough to sit inside a circle: 4 significant digits.
fn short(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let e = x.abs().log10().floor() as i32;
    if (-3..4).contains(&e) {
        let d = (3 - e).max(0) as usize;
        let s = format!("{x:.d$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.1e}")
    }
}

/// What is known about one drawn neuron: its label and tooltip lines.
struct Node {
    label: String,
    tip: Vec<String>,
}

const COL: f64 = 230.0;
const ROW: f64 = 64.0;
const R: f64 = 22.0;
const TOP: f64 = 60.0;
const LEFT: f64 = 110.0;

/// The network at the start of `step`: the shown layers, their inputs, and their weights.
fn svg(e: &Explanation, step: &Step, out: &mut String) {
    let multi = e.samples.len() > 1;
    // Column c holds a_c; collect the neurons drawn in each and what to say about them.
    let mut cols: BTreeMap<usize, BTreeMap<usize, Node>> = BTreeMap::new();
    for layer in &step.layers {
        let l = layer.layer;
        let input_col = cols.entry(l - 1).or_default();
        for j in 0..layer.inputs[0].len() {
            input_col.entry(j).or_insert_with(|| {
                let name = if l == 1 {
                    format!("x[{j}] = a_0[{j}]")
                } else {
                    format!("a_{}[{j}]", l - 1)
                };
                let vals: Vec<String> = layer.inputs.iter().map(|r| num(r[j])).collect();
                Node {
                    label: short(layer.inputs[0][j]),
                    tip: vec![format!("{name} = {}", vals.join(", "))],
                }
            });
        }
        let col = cols.entry(l).or_default();
        for (p, &i) in layer.neurons.iter().enumerate() {
            let per = |m: &Vec<Vec<f64>>| m.iter().map(|r| num(r[p])).collect::<Vec<_>>().join(", ");
            let mut tip = vec![
                format!("layer {l}, neuron {i} ({})", layer.activation),
                format!("z_{l}[{i}] = {}", per(&layer.z)),
                format!("a_{l}[{i}] = {}", per(&layer.a)),
                format!("δ_{l}[{i}] = {}", per(&layer.delta)),
            ];
            if let Some(b) = &layer.bias {
                let g = &layer.bias_gradients[p];
                tip.push(format!(
                    "b_{l}[{i}] = {}, ∂E/∂b = {}, finite diff. {}, new {}",
                    num(b[p]),
                    num(g.gradient),
                    num(g.finite_difference),
                    num(g.after)
                ));
            }
            if multi {
                tip.push("(values per sample of the batch)".into());
            }
            col.insert(
                i,
                Node {
                    label: short(layer.a[0][p]),
                    tip,
                },
            );
        }
    }
    let order: Vec<usize> = cols.keys().copied().collect();
    let tallest = cols.values().map(|c| c.len()).max().unwrap_or(1);
    let height = TOP + tallest as f64 * ROW + 30.0;
    let width = LEFT * 2.0 + (order.len().saturating_sub(1)) as f64 * COL;
    // Positions: column k of `order` at x = LEFT + k·COL, its neurons centred vertically.
    let mut pos: BTreeMap<(usize, usize), (f64, f64)> = BTreeMap::new();
    for (k, c) in order.iter().enumerate() {
        let n = cols[c].len();
        let y0 = TOP + (tallest - n) as f64 * ROW / 2.0 + ROW / 2.0;
        for (r, &i) in cols[c].keys().enumerate() {
            pos.insert((*c, i), (LEFT + k as f64 * COL, y0 + r as f64 * ROW));
        }
    }
    let max_w = step
        .layers
        .iter()
        .flat_map(|l| l.weights.iter().flatten())
        .fold(0.0f64, |m, &w| m.max(w.abs()));
    let n_edges: usize = step.layers.iter().map(|l| l.weight_gradients.len()).sum();
    let label_edges = n_edges <= 16;

    let _ = writeln!(
        out,
        "<figure>\n<svg viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"the network at the start of step {}\">",
        step.step
    );
    for (k, c) in order.iter().enumerate() {
        let title = if *c == 0 {
            "a_0 = x".to_string()
        } else {
            let act = &e.network.layers[c - 1].activation;
            format!("layer {c}: a_{c} ({act})")
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"24\" text-anchor=\"middle\" font-size=\"13\" fill=\"#374151\">{}</text>",
            LEFT + k as f64 * COL,
            esc(&title)
        );
    }
    // Connections first, so that the neurons are drawn over them.
    for layer in &step.layers {
        let l = layer.layer;
        for g in &layer.weight_gradients {
            let (i, j) = (g.row, g.col.expect("a weight has a column"));
            let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(&(l - 1, j)), pos.get(&(l, i))) else {
                continue;
            };
            let w = g.before;
            let colour = if w >= 0.0 { "#2563eb" } else { "#dc2626" };
            let stroke = if max_w > 0.0 { 1.0 + 5.0 * w.abs() / max_w } else { 1.0 };
            let mut tip = format!(
                "W_{l}[{i},{j}] = {} (from a_{}[{j}] to neuron {i} of layer {l})\n∂E/∂W = {}\nfinite difference {} \
                 (difference {})",
                num(w),
                l - 1,
                num(g.gradient),
                num(g.finite_difference),
                small(g.difference)
            );
            if let Some(gpu) = g.gpu {
                let _ = write!(tip, "\nGPU {}", num(gpu));
            }
            let _ = write!(tip, "\nnew W = {} - η·{} = {}", num(w), num(g.gradient), num(g.after));
            let _ = writeln!(
                out,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{colour}\" \
                 stroke-width=\"{stroke:.2}\" stroke-opacity=\"0.75\"><title>{}</title></line>",
                esc(&tip)
            );
            if label_edges {
                // Near the target end, where the lines into one neuron are still apart and
                // lines into different neurons are far apart.
                let t = 0.7;
                let (lx, ly) = (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t - 4.0);
                let _ = writeln!(
                    out,
                    "<text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#111827\" \
                     stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}<title>{}</title></text>",
                    esc(&short(g.gradient)),
                    esc(&tip)
                );
            }
        }
    }
    for (c, nodes) in &cols {
        for (i, node) in nodes {
            let (x, y) = pos[&(*c, *i)];
            let fill = if *c == 0 { "#f3f4f6" } else { "#fef3c7" };
            let _ = writeln!(
                out,
                "<g><title>{}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{R}\" fill=\"{fill}\" \
                 stroke=\"#374151\" stroke-width=\"1.5\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 font-size=\"10\" fill=\"#111827\">{}</text></g>",
                esc(&node.tip.join("\n")),
                y + 3.5,
                esc(&node.label)
            );
        }
    }
    out.push_str("</svg>\n");
    let labels = if label_edges {
        " The number on each line is its gradient ∂E/∂W."
    } else {
        ""
    };
    let sample = if multi {
        " Circles show the activation a of the batch's first sample."
    } else {
        " Circles show the activation a."
    };
    let _ = writeln!(
        out,
        "<figcaption>The network at the start of step {}: blue lines are positive weights, red ones negative, \
         thicker for larger |w|.{labels}{sample} Hover over a line or a circle for its numbers.</figcaption>\n</figure>",
        step.step
    );
}
