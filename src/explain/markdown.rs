//! GitHub-flavoured Markdown: headings, prose, formula lines in `text` code blocks (so
//! that subscripts and products are not taken for emphasis), and pipe tables with the
//! numbers right-aligned.

use super::doc::{Block, Table};

/// Escapes what would end a table cell or start emphasis outside code spans.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('*', "\\*")
}

fn table(t: &Table, out: &mut String) {
    let row = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        )
    };
    out.push_str(&row(&t.header));
    let align: Vec<&str> = super::text::right_aligned(t)
        .into_iter()
        .map(|r| if r { "---:" } else { ":---" })
        .collect();
    out.push_str(&format!("|{}|\n", align.join("|")));
    for r in &t.rows {
        out.push_str(&row(r));
    }
}

/// Renders `blocks` as Markdown.
pub(crate) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        if matches!(block, Block::Network(_)) {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        match block {
            Block::Title(t) => out.push_str(&format!("# {t}\n")),
            Block::Heading(t) => out.push_str(&format!("## {t}\n")),
            Block::Subheading(t) => out.push_str(&format!("### {t}\n")),
            Block::Para(p) => out.push_str(&format!("{p}\n")),
            Block::Math(lines) => {
                out.push_str("```text\n");
                for l in lines {
                    out.push_str(l);
                    out.push('\n');
                }
                out.push_str("```\n");
            }
            Block::Table(t) => table(t, &mut out),
            Block::Network(_) => {}
        }
    }
    out.replace('\u{a0}', " ")
}
