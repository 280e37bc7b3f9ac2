//! The self-contained HTML report: one file with its figures embedded as base64 PNG
//! (`data:` URIs), its styles inline and no script, so it opens anywhere, offline, and
//! can be mailed or archived as is.
//!
//! A report is a title and a list of [`Section`]s; a section holds [`Block`]s (text,
//! key–value lists, tables, rows of figures, preformatted text). Every piece of text is
//! HTML-escaped here, so callers pass plain strings.

use base64::Engine as _;

/// One piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A paragraph of plain text.
    Text(String),
    /// A two-column list of `(name, value)`.
    KeyValues(Vec<(String, String)>),
    /// A table: optional caption, header row, body rows (cells as text).
    Table {
        /// Caption above the table (empty for none).
        caption: String,
        /// Header cells.
        header: Vec<String>,
        /// Body rows; each as long as the header.
        rows: Vec<Vec<String>>,
    },
    /// Figures side by side in equal columns (each shrunk to its column, never enlarged;
    /// wrapping on narrow screens): `(caption, PNG bytes)`.
    Figures(Vec<(String, Vec<u8>)>),
    /// Figures in a grid of `columns` equal columns, cell by cell (`None`: an empty cell),
    /// so that rows of related figures line up (e.g. one column per method).
    FigureGrid {
        /// Columns of the grid.
        columns: usize,
        /// Cells, row by row: `(caption, PNG bytes)` or an empty cell.
        cells: Vec<Option<(String, Vec<u8>)>>,
    },
    /// Preformatted text (a command line, a config file), shown verbatim.
    Code(String),
}

/// A titled section of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Content, in order.
    pub blocks: Vec<Block>,
}

impl Section {
    /// An empty section.
    pub fn new(heading: &str) -> Self {
        Self { heading: heading.into(), blocks: Vec::new() }
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) -> &mut Self {
        self.blocks.push(block);
        self
    }
}

/// A report: build with [`HtmlReport::new`] and [`HtmlReport::section`], then
/// [`HtmlReport::to_html`].
///
/// ```
/// use ulm_report::{Block, HtmlReport, Section};
/// let mut s = Section::new("Metrics");
/// s.push(Block::Table { caption: String::new(), header: vec!["F1".into()], rows: vec![vec!["0.9".into()]] });
/// s.push(Block::Figures(vec![("a figure".into(), vec![0x89, b'P', b'N', b'G'])]));
/// let html = HtmlReport::new("run <1>").section(s).to_html();
/// assert!(html.contains("<title>run &lt;1&gt;</title>"));
/// assert!(html.contains("src=\"data:image/png;base64,iVBORw==\""));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HtmlReport {
    /// Title (page title and top heading).
    pub title: String,
    /// Line under the title (e.g. when and by what it was made).
    pub subtitle: String,
    /// Sections, in order.
    pub sections: Vec<Section>,
}

/// Inline style sheet: readable on screen and in print, figures at their natural size
/// up to the page width.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1360px;\
padding:12px 24px;color:#222}h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ccc;\
padding-bottom:2px;margin-top:1.6em}p.sub{color:#666;margin-top:4px}table{border-collapse:collapse;margin:8px 0 14px}\
caption{text-align:left;font-weight:600;padding:4px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}table.kv td{text-align:left}\
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px;align-items:start}\
figure{margin:0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.9em;color:#444;max-width:640px}\
pre{background:#f6f6f6;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:.85em}";

impl HtmlReport {
    /// An empty report titled `title`.
    pub fn new(title: &str) -> Self {
        Self { title: title.into(), subtitle: String::new(), sections: Vec::new() }
    }

    /// Sets the line under the title.
    pub fn subtitle(mut self, text: &str) -> Self {
        self.subtitle = text.into();
        self
    }

    /// Appends a section.
    pub fn section(mut self, section: Section) -> Self {
        self.sections.push(section);
        self
    }

    /// The whole document.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(1 << 16);
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str(&format!("<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n", escape(&self.title)));
        h.push_str(&format!("<h1>{}</h1>\n", escape(&self.title)));
        if !self.subtitle.is_empty() {
            h.push_str(&format!("<p class=\"sub\">{}</p>\n", escape(&self.subtitle)));
        }
        for s in &self.sections {
            h.push_str(&format!("<section>\n<h2>{}</h2>\n", escape(&s.heading)));
            for b in &s.blocks {
                block_html(b, &mut h);
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

fn block_html(b: &Block, h: &mut String) {
    match b {
        Block::Text(t) => h.push_str(&format!("<p>{}</p>\n", escape(t))),
        Block::KeyValues(kv) => {
            h.push_str("<table class=\"kv\">\n");
            for (k, v) in kv {
                h.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v)));
            }
            h.push_str("</table>\n");
        }
        Block::Table { caption, header, rows } => {
            h.push_str("<table>\n");
            if !caption.is_empty() {
                h.push_str(&format!("<caption>{}</caption>\n", escape(caption)));
            }
            h.push_str("<tr>");
            for c in header {
                h.push_str(&format!("<th>{}</th>", escape(c)));
            }
            h.push_str("</tr>\n");
            for r in rows {
                h.push_str("<tr>");
                for c in r {
                    h.push_str(&format!("<td>{}</td>", escape(c)));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }
        Block::Figures(figs) => {
            h.push_str("<div class=\"figs\">\n");
            for (caption, png) in figs {
                figure_html(caption, png, h);
            }
            h.push_str("</div>\n");
        }
        Block::FigureGrid { columns, cells } => {
            h.push_str(&format!(
                "<div class=\"figs\" style=\"grid-template-columns:repeat({},minmax(0,1fr))\">\n",
                columns.max(&1)
            ));
            for cell in cells {
                match cell {
                    Some((caption, png)) => figure_html(caption, png, h),
                    None => h.push_str("<figure></figure>\n"),
                }
            }
            h.push_str("</div>\n");
        }
        Block::Code(t) => h.push_str(&format!("<pre>{}</pre>\n", escape(t))),
    }
}

fn figure_html(caption: &str, png: &[u8], h: &mut String) {
    let alt = escape(caption);
    h.push_str(&format!(
        "<figure><img alt=\"{alt}\" src=\"data:image/png;base64,{}\"><figcaption>{alt}</figcaption></figure>\n",
        base64::engine::general_purpose::STANDARD.encode(png)
    ));
}

/// `text` with `& < > " '` replaced by entities (safe in element content and in quoted
/// attribute values).
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinePlot;

    #[test]
    fn figures_are_embedded_and_decode_to_the_same_png() {
        let x = [0.0, 1.0, 2.0];
        let png = LinePlot::new("t", "x (mm)", "y").series("s", &x, &x).render().unwrap().to_png().unwrap();
        let mut s = Section::new("Figures & tables");
        s.push(Block::Figures(vec![("curve <a>".into(), png.clone())]));
        s.push(Block::Code("ulm run --config \"p.toml\"".into()));
        let html = HtmlReport::new("r").subtitle("made today").section(s).to_html();
        assert!(html.contains("<h2>Figures &amp; tables</h2>"));
        assert!(html.contains("<pre>ulm run --config &quot;p.toml&quot;</pre>"));
        assert!(!html.contains("src=\"http") && !html.contains("<script"), "self-contained");
        let start = html.find("base64,").unwrap() + 7;
        let end = start + html[start..].find('"').unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(&html[start..end]).unwrap();
        assert_eq!(decoded, png);
        assert!(html.contains("alt=\"curve &lt;a&gt;\""));
        // A grid keeps its columns, with empty cells where a figure is missing.
        let mut s = Section::new("grid");
        s.push(Block::FigureGrid { columns: 2, cells: vec![None, Some(("b".into(), png))] });
        let html = HtmlReport::new("r").section(s).to_html();
        assert!(html.contains("repeat(2,minmax(0,1fr))") && html.contains("<figure></figure>"));
        assert_eq!(html.matches("base64,").count(), 1);
    }

    #[test]
    fn tables_have_one_cell_per_value() {
        let mut s = Section::new("M");
        s.push(Block::Table {
            caption: "per band".into(),
            header: vec!["depth".into(), "F1".into()],
            rows: vec![vec!["3–4".into(), "0.5".into()], vec!["4–5".into(), "0.25".into()]],
        });
        s.push(Block::KeyValues(vec![("frames".into(), "10".into())]));
        let html = HtmlReport::new("r").section(s).to_html();
        assert_eq!(html.matches("<td>").count(), 5);
        assert_eq!(html.matches("<th>").count(), 3);
        assert!(html.contains("<caption>per band</caption>"));
    }
}
