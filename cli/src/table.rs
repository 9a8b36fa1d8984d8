//! Column alignment in the style of Go's `text/tabwriter` (minimum width 4, padding 2, spaces),
//! which the reference uses for every table and for `info`.
//!
//! Input lines hold tab-separated cells. A cell followed by a tab belongs to a column; the last
//! cell of a line does not. A column is aligned over each run of consecutive lines that have a
//! cell in it, so a line without tabs (like `sdks:`) ends the alignment of the lines above it.

const MIN_WIDTH: usize = 4;
const PADDING: usize = 2;

/// Aligns tab-separated `lines`; columns listed in `right` are right-aligned.
pub fn align(lines: &[String], right: &[usize]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&cells, 0, cells.len(), &mut widths, right, &mut out);
    out
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Go's recursive column-block formatting over `cells[from..to]`.
fn format_block(
    cells: &[Vec<&str>],
    mut from: usize,
    to: usize,
    widths: &mut Vec<usize>,
    right: &[usize],
    out: &mut String,
) {
    let column = widths.len();
    let mut this = from;
    while this < to {
        if column + 1 >= cells[this].len() {
            this += 1;
            continue;
        }
        write_lines(cells, from, this, widths, right, out);
        from = this;
        let mut w = MIN_WIDTH;
        while this < to && column + 1 < cells[this].len() {
            w = w.max(width(cells[this][column]) + PADDING);
            this += 1;
        }
        widths.push(w);
        format_block(cells, from, this, widths, right, out);
        widths.pop();
        from = this;
    }
    write_lines(cells, from, to, widths, right, out);
}

fn write_lines(
    cells: &[Vec<&str>],
    from: usize,
    to: usize,
    widths: &[usize],
    right: &[usize],
    out: &mut String,
) {
    for line in &cells[from..to] {
        for (j, cell) in line.iter().enumerate() {
            match widths.get(j) {
                Some(&w) => {
                    let fill = w.saturating_sub(width(cell));
                    if right.contains(&j) {
                        // Right-aligned within the column, still followed by the padding.
                        let left = fill.saturating_sub(PADDING);
                        out.push_str(&" ".repeat(left));
                        out.push_str(cell);
                        out.push_str(&" ".repeat(fill - left));
                    } else {
                        out.push_str(cell);
                        out.push_str(&" ".repeat(fill));
                    }
                }
                None => out.push_str(cell),
            }
        }
        out.push('\n');
    }
}

/// A table with upper-case headers; empty cells are shown as `-`.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<usize>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| h.to_uppercase()).collect(), ..Self::default() }
    }

    /// Right-aligns column `index`.
    pub fn right_align(mut self, index: usize) -> Self {
        self.right.push(index);
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows as CSV lines, without headers; an empty cell stays empty.
    pub fn csv(&self) -> String {
        self.rows
            .iter()
            .map(|row| row.iter().map(|c| crate::output::csv_field(c)).collect::<Vec<_>>().join(",") + "\n")
            .collect()
    }

    /// The aligned table; `bold_header` wraps the header line in terminal bold.
    pub fn render(&self, headers: bool, bold_header: bool) -> String {
        let mut lines = Vec::new();
        if headers {
            lines.push(self.headers.join("\t"));
        }
        for row in &self.rows {
            let cells: Vec<&str> = row.iter().map(|c| if c.is_empty() { "-" } else { c.as_str() }).collect();
            lines.push(cells.join("\t"));
        }
        let text = align(&lines, &self.right);
        if headers
            && bold_header
            && let Some((first, rest)) = text.split_once('\n')
        {
            return format!("\x1b[1m{first}\x1b[0m\n{rest}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table_columns_are_two_spaces_apart() {
        let mut t = Table::new(&["workshop", "status", "notes"]);
        t.row(vec!["ws-one".into(), "Ready".into(), String::new()]);
        t.row(vec!["ws-launch-abort".into(), "Waiting".into(), "wait-on-error".into()]);
        assert_eq!(
            t.render(true, false),
            "WORKSHOP         STATUS   NOTES\n\
             ws-one           Ready    -\n\
             ws-launch-abort  Waiting  wait-on-error\n"
        );
        assert_eq!(t.render(false, false).lines().next(), Some("ws-one           Ready    -"));
    }

    #[test]
    fn minimum_width_is_four() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["x".into(), "y".into()]);
        assert_eq!(t.render(true, false), "A   B\nx   y\n");
        let mut t = Table::new(&["id", "summary"]);
        t.row(vec!["1".into(), "Launch".into()]);
        assert_eq!(t.render(true, false), "ID  SUMMARY\n1   Launch\n");
    }

    #[test]
    fn right_aligned_column() {
        let mut t = Table::new(&["status", "duration", "summary"]).right_align(1);
        t.row(vec!["Done".into(), "1.5s".into(), "a".into()]);
        t.row(vec!["Do".into(), String::new(), "b".into()]);
        assert_eq!(
            t.render(true, false),
            "STATUS  DURATION  SUMMARY\nDone        1.5s  a\nDo             -  b\n"
        );
    }

    #[test]
    fn lines_without_tabs_end_a_block() {
        let text = align(
            &lines(&[
                "name:\tws",
                "project:\t~/p",
                "sdks:",
                "  sdk:",
                "    tracking:\t~/p/.workshop/sdk",
                "    installed:\t1.0\t2024-05-01\t(x1)",
            ]),
            &[],
        );
        assert_eq!(
            text,
            "name:     ws\nproject:  ~/p\nsdks:\n  sdk:\n    tracking:   ~/p/.workshop/sdk\n    installed:  1.0  2024-05-01  (x1)\n"
        );
    }

    #[test]
    fn unicode_width_counts_chars() {
        let text = align(&lines(&["✓✓\tx", "abc\ty"]), &[]);
        assert_eq!(text, "✓✓   x\nabc  y\n");
    }

    #[test]
    fn bold_header() {
        let mut t = Table::new(&["a"]);
        t.row(vec!["b".into()]);
        assert_eq!(t.render(true, true), "\x1b[1mA\x1b[0m\nb\n");
    }
}
