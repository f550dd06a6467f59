//! Training curves as a self-contained SVG image (no scripts, no external fonts or files):
//! the training loss and, when there is a validation set, the validation loss per epoch on
//! the left axis, and the validation accuracy (classification) on the right axis in percent.
//!
//! The loss axis is linear, or logarithmic (base 10) when the losses span more than two
//! decades, so that a loss falling from 2 to 0.001 stays readable. Ticks are "nice" numbers
//! (1, 2, 5 × 10ᵏ). When the run kept an earlier epoch's weights (the lowest validation
//! loss), a vertical line marks that epoch. The legend sits above the plot area, so no
//! curve runs through it.

use crate::driver::History;
use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 56.0;
const TRAIN_COLOR: &str = "#1f77b4";
const VAL_COLOR: &str = "#ff7f0e";
const ACC_COLOR: &str = "#2ca02c";
const KEPT_COLOR: &str = "#7f7f7f";

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

/// A tick label: few digits, scientific for very small or large values (15000 is `1.5e4`,
/// with as many digits as the value needs, up to four).
fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        let s = format!("{v:.3e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exp}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The SVG document for `history`, titled `title`, marking the epoch `kept` (the one whose
/// weights the model holds) when given.
pub fn loss_svg(history: &[History], title: &str, kept: Option<usize>) -> String {
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
    let kept = kept.filter(|&k| (e0..=e1).contains(&(k as f64)));
    if let Some(k) = kept {
        let xx = x(k as f64);
        let _ = writeln!(
            svg,
            r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{py1}" y2="{py0}" stroke="{KEPT_COLOR}" stroke-width="1.5" stroke-dasharray="4 4"/>"#
        );
    }
    // Legend: one row above the plot area, where no curve runs.
    // Entries are laid left to right, 7 px per character: the four longest fit the width.
    let ly = py1 - 14.0;
    let mut lx = px0;
    let mut entry = |svg: &mut String, color: &str, dash: &str, text: &str| {
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            esc(text)
        );
        lx += 30.0 + 7.0 * text.chars().count() as f64 + 18.0;
    };
    entry(&mut svg, TRAIN_COLOR, "", "training loss");
    if has_val {
        entry(&mut svg, VAL_COLOR, r#" stroke-dasharray="6 3""#, "validation loss");
    }
    if has_acc {
        entry(&mut svg, ACC_COLOR, r#" stroke-dasharray="2 3""#, "validation accuracy");
    }
    if let Some(k) = kept {
        entry(
            &mut svg,
            KEPT_COLOR,
            r#" stroke-dasharray="4 4""#,
            &format!("kept: epoch {k}"),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_ticks_keep_their_digits() {
        assert_eq!(label(15000.0), "1.5e4");
        assert_eq!(label(25000.0), "2.5e4");
        assert_eq!(label(20000.0), "2e4");
        assert_eq!(label(15000.000000002), "1.5e4");
        assert_eq!(label(123456.0), "1.235e5");
        assert_eq!(label(0.00025), "2.5e-4");
        assert_eq!(label(2.5), "2.5");
        assert_eq!(label(0.0), "0");
        // Ticks from 0 to 30 000 are all distinct labels.
        let t: Vec<String> = ticks(0.0, 30000.0, 6).into_iter().map(label).collect();
        let mut unique = t.clone();
        unique.dedup();
        assert_eq!(t, unique, "{t:?}");
    }

    fn history(n: usize) -> Vec<History> {
        (1..=n)
            .map(|e| History {
                epoch: e,
                train_loss: 1.0 / e as f64,
                val_loss: Some(0.5 + (e as f64 - 6.0).abs() * 0.05),
                val_accuracy: Some(0.99),
            })
            .collect()
    }

    #[test]
    fn the_kept_epoch_is_marked_and_the_legend_is_above_the_curves() {
        let svg = loss_svg(&history(10), "t", Some(6));
        assert!(svg.contains(">kept: epoch 6<"), "{svg}");
        assert_eq!(svg.matches(KEPT_COLOR).count(), 2, "the line and its legend entry");
        assert!(!loss_svg(&history(10), "t", None).contains("kept"));
        // Every legend entry is above the plot area (y < TOP), where the validation
        // accuracy (99%, near the top of the plot) cannot cross it.
        let entries: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<line") && l.contains("stroke-width") && l.contains("<text"))
            .collect();
        assert_eq!(entries.len(), 4, "{svg}");
        for line in entries {
            let text = line.split("<text").nth(1).unwrap();
            let y: f64 = text
                .split("y=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
                .parse()
                .unwrap();
            assert!(y < TOP, "{line}");
        }
    }
}
