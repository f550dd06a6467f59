//! Training curves as a self-contained SVG image (no scripts, no external fonts or files):
//! the training loss and, when there is a validation set, the validation loss per epoch on
//! the left axis, and the validation accuracy (classification) on the right axis in percent.
//!
//! The loss axis is linear, or logarithmic (base 10) when the losses span more than two
//! decades, so that a loss falling from 2 to 0.001 stays readable. Ticks are "nice" numbers
//! (1, 2, 5 × 10ᵏ).

use crate::driver::History;
use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 56.0;
const TRAIN_COLOR: &str = "#1f77b4";
const VAL_COLOR: &str = "#ff7f0e";
const ACC_COLOR: &str = "#2ca02c";

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Nice tick positions covering [lo, hi], about `n` of them.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// A tick label: few digits, scientific for very small or large values.
fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The SVG document for `history`, titled `title`.
pub fn loss_svg(history: &[History], title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    let (px0, px1, py0, py1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let finite: Vec<f64> = history
        .iter()
        .flat_map(|h| std::iter::once(h.train_loss).chain(h.val_loss))
        .filter(|v| v.is_finite())
        .collect();
    if history.is_empty() || finite.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">no epochs to plot</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let (e0, e1) = (history[0].epoch as f64, history[history.len() - 1].epoch as f64);
    let (e0, e1) = if e1 > e0 { (e0, e1) } else { (e0 - 0.5, e0 + 0.5) };
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log = lo > 0.0 && hi / lo > 100.0;
    let f = |v: f64| if log { v.log10() } else { v };
    let (mut ylo, mut yhi) = if log {
        (lo.log10().floor(), hi.log10().ceil())
    } else {
        (lo.min(0.0), hi)
    };
    if yhi <= ylo {
        yhi = ylo + 1.0;
    }
    if !log {
        // Round the top up to a tick.
        let t = ticks(ylo, yhi, 6);
        let step = if t.len() > 1 { t[1] - t[0] } else { 1.0 };
        yhi = (yhi / step).ceil() * step;
        ylo = (ylo / step).floor() * step;
    }
    let x = |e: f64| px0 + (e - e0) / (e1 - e0) * (px1 - px0);
    let y = |v: f64| py0 - (f(v) - ylo) / (yhi - ylo) * (py0 - py1);
    // Frame and grid.
    let _ = writeln!(
        svg,
        r##"<rect x="{px0}" y="{py1}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        px1 - px0,
        py0 - py1
    );
    let yt: Vec<f64> = if log {
        (ylo as i32..=yhi as i32).map(f64::from).collect()
    } else {
        ticks(ylo, yhi, 6)
    };
    for t in yt {
        let yy = py0 - (t - ylo) / (yhi - ylo) * (py0 - py1);
        let text = if log { label(10f64.powf(t)) } else { label(t) };
        let _ = writeln!(
            svg,
            r##"<line x1="{px0}" x2="{px1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{text}</text>"##,
            px0 - 6.0,
            yy + 4.0
        );
    }
    for t in ticks(e0, e1, 10).into_iter().filter(|t| t.fract() == 0.0) {
        let xx = x(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{py0}" y2="{}" stroke="#444"/><text x="{xx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            py0 + 5.0,
            py0 + 19.0,
            label(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#,
        (px0 + px1) / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">loss{}</text>"#,
        (py0 + py1) / 2.0,
        if log { " (log scale)" } else { "" }
    );
    let polyline = |svg: &mut String, pts: Vec<(f64, f64)>, color: &str, dash: &str| {
        if pts.is_empty() {
            return;
        }
        let p: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            p.join(" ")
        );
        if pts.len() == 1 {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                pts[0].0, pts[0].1
            );
        }
    };
    let pts = |get: &dyn Fn(&History) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|h| get(h).filter(|v| v.is_finite()).map(|v| (x(h.epoch as f64), y(v))))
            .collect()
    };
    let train = pts(&|h| Some(h.train_loss));
    let val = pts(&|h| h.val_loss);
    let acc: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|h| {
            h.val_accuracy
                .map(|a| (x(h.epoch as f64), py0 - a.clamp(0.0, 1.0) * (py0 - py1)))
        })
        .collect();
    polyline(&mut svg, train, TRAIN_COLOR, "");
    let has_val = !val.is_empty();
    polyline(&mut svg, val, VAL_COLOR, r#" stroke-dasharray="6 3""#);
    let has_acc = !acc.is_empty();
    if has_acc {
        polyline(&mut svg, acc, ACC_COLOR, r#" stroke-dasharray="2 3""#);
        for p in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let yy = py0 - p * (py0 - py1);
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{:.1}" fill="{ACC_COLOR}">{}%</text>"#,
                px1 + 6.0,
                yy + 4.0,
                (p * 100.0) as u32
            );
        }
        let _ = writeln!(
            svg,
            r#"<text transform="translate({} {}) rotate(90)" text-anchor="middle" fill="{ACC_COLOR}">validation accuracy</text>"#,
            W - 16.0,
            (py0 + py1) / 2.0
        );
    }
    // Legend.
    let mut ly = py1 + 16.0;
    let lx = px1 - 170.0;
    let mut entry = |svg: &mut String, color: &str, dash: &str, text: &str| {
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{text}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0
        );
        ly += 18.0;
    };
    entry(&mut svg, TRAIN_COLOR, "", "training loss");
    if has_val {
        entry(&mut svg, VAL_COLOR, r#" stroke-dasharray="6 3""#, "validation loss");
    }
    if has_acc {
        entry(&mut svg, ACC_COLOR, r#" stroke-dasharray="2 3""#, "validation accuracy");
    }
    svg.push_str("</svg>\n");
    svg
}
