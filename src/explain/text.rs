//! Plain text: headings underlined, prose wrapped and formula lines indented to fit 80
//! columns, tables aligned (numbers right, the rest left).

use super::doc::{Block, Table};

/// The widest line this renderer aims for (80 columns, less a margin).
pub(crate) const WIDTH: usize = 78;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// The words of `s`, a short bracketed group such as the `(1 − a)` of `a (1 − a)` kept as
/// one word, so that a formula is not broken inside its brackets.
fn words(s: &str) -> Vec<String> {
    let tokens: Vec<&str> = s.split(' ').filter(|w| !w.is_empty()).collect();
    let depth_change = |t: &str| -> i32 {
        t.chars()
            .map(|c| match c {
                '(' | '[' | '{' => 1,
                ')' | ']' | '}' => -1,
                _ => 0,
            })
            .sum()
    };
    let mut out = Vec::new();
    let mut k = 0;
    while k < tokens.len() {
        let mut depth = depth_change(tokens[k]);
        let mut end = k;
        while depth > 0 && end + 1 < tokens.len() {
            end += 1;
            depth += depth_change(tokens[end]);
        }
        let group = tokens[k..=end].join(" ");
        if end > k && depth <= 0 && width(&group) <= 30 {
            out.push(group);
            k = end + 1;
        } else {
            out.push(tokens[k].to_string());
            k += 1;
        }
    }
    out
}

/// Greedy word wrap of `s` to `WIDTH` columns: the first line starts with `first`, the
/// others with `rest`. A word longer than a line stays whole.
pub(crate) fn wrap(s: &str, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in words(s) {
        let word = word.as_str();
        if !empty && width(&line) + 1 + width(word) > WIDTH {
            lines.push(line);
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// Whether `s` reads as a number (`0.0277`, `-1.2e-12`), for right alignment.
pub(crate) fn numeric(s: &str) -> bool {
    s.parse::<f64>().is_ok() || s == "NaN"
}

/// Per column: right-align it (every body cell is a number)?
pub(crate) fn right_aligned(t: &Table) -> Vec<bool> {
    (0..t.header.len())
        .map(|c| !t.rows.is_empty() && t.rows.iter().all(|r| numeric(&r[c])))
        .collect()
}

fn table(t: &Table, out: &mut String) {
    let cols = t.header.len();
    let right = right_aligned(t);
    let mut w = vec![0; cols];
    for row in std::iter::once(&t.header).chain(&t.rows) {
        for (c, cell) in row.iter().enumerate() {
            w[c] = w[c].max(width(cell));
        }
    }
    let line = |row: &[String]| -> String {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = " ".repeat(w[c] - width(cell));
                if !right[c] {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect();
        format!("  {}", cells.join("  ")).trim_end().to_string()
    };
    out.push_str(&line(&t.header));
    out.push('\n');
    let rule: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
    out.push_str(&format!("  {}\n", rule.join("  ")));
    for row in &t.rows {
        out.push_str(&line(row));
        out.push('\n');
    }
}

/// Renders `blocks` as text.
pub(crate) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut attached = false;
    for block in blocks {
        if !out.is_empty() && !attached && !matches!(block, Block::Network(_)) {
            out.push('\n');
        }
        attached = false;
        match block {
            Block::Title(t) => {
                out.push_str(&format!("{t}\n{}\n", "=".repeat(width(t))));
            }
            Block::Heading(t) => {
                out.push_str(&format!("{t}\n{}\n", "-".repeat(width(t))));
            }
            Block::Subheading(t) => {
                for l in wrap(t, "", "  ") {
                    out.push_str(&l);
                    out.push('\n');
                }
                attached = true;
            }
            Block::Para(p) => {
                for l in wrap(p, "", "") {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            Block::Math(lines) => {
                for m in lines {
                    if width(m) + 2 <= WIDTH {
                        out.push_str(&format!("  {m}\n"));
                        continue;
                    }
                    let indent = m.len() - m.trim_start().len();
                    let first = " ".repeat(indent + 2);
                    let rest = " ".repeat(indent + 6);
                    for l in wrap(m.trim_start(), &first, &rest) {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
            }
            Block::Table(t) => table(t, &mut out),
            Block::Network(_) => {}
        }
    }
    out.replace('\u{a0}', " ")
}
