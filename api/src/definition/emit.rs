//! Writing a definition back as YAML, laid out like the reference's files: indent 2, with
//! block sequences indented under their key (`sdks:\n  - name: x`).

use super::WorkshopFile;

pub(super) fn to_yaml(file: &WorkshopFile) -> String {
    // Every key is a string and there are no bytes or nested enums: serialising cannot fail.
    let plain = serde_yaml_ng::to_string(file).expect("a workshop definition serialises to YAML");
    let indented = indent_sequences(&plain);
    // The layout change must not change the document; keep the plain form if it would.
    let same = |a: &str, b: &str| {
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(a).ok()
            == serde_yaml_ng::from_str::<serde_yaml_ng::Value>(b).ok()
    };
    if same(&plain, &indented) { indented } else { plain }
}

/// Indents the block sequences that libyaml writes at the same column as their parent key.
fn indent_sequences(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + yaml.len() / 4);
    // Columns of the sequences being indented, innermost last.
    let mut sequences: Vec<usize> = Vec::new();
    // Column of the key on the previous line when that line opened a nested block.
    let mut open_key: Option<usize> = None;
    // Column of the line that started a block scalar whose content lines follow.
    let mut scalar_parent: Option<usize> = None;
    for line in yaml.lines() {
        let column = line.len() - line.trim_start_matches(' ').len();
        let content = &line[column..];
        if let Some(parent) = scalar_parent {
            if content.is_empty() || column > parent {
                push_line(&mut out, sequences.len(), line);
                continue;
            }
            scalar_parent = None;
        }
        if content.is_empty() {
            out.push('\n');
            continue;
        }
        while let Some(&top) = sequences.last() {
            if column < top || (column == top && !is_item(content)) {
                sequences.pop();
            } else {
                break;
            }
        }
        if is_item(content) && sequences.last() != Some(&column) && open_key == Some(column) {
            sequences.push(column);
        }
        push_line(&mut out, sequences.len(), line);
        let (key_column, rest) = strip_items(column, content);
        open_key = rest.ends_with(':').then_some(key_column);
        if starts_block_scalar(rest) {
            scalar_parent = Some(column);
        }
    }
    out
}

fn push_line(out: &mut String, depth: usize, line: &str) {
    if !line.is_empty() {
        out.extend(std::iter::repeat_n("  ", depth));
        out.push_str(line);
    }
    out.push('\n');
}

fn is_item(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// Skips the `- ` item markers that start a line, returning the column after them.
fn strip_items(mut column: usize, mut content: &str) -> (usize, &str) {
    while let Some(rest) = content.strip_prefix("- ") {
        content = rest;
        column += 2;
    }
    (column, content)
}

/// Whether the line ends with a block scalar header (`|`, `|-`, `>+`, `|2-` …).
fn starts_block_scalar(rest: &str) -> bool {
    let last = rest.rsplit(' ').next().unwrap_or(rest);
    let mut chars = last.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| c.is_ascii_digit() || c == '+' || c == '-')
        && (last.len() == rest.len() || rest[..rest.len() - last.len()].ends_with(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_move_under_their_key() {
        let plain = "name: dev\nsdks:\n- name: a\n  plugs:\n    p:\n      list:\n      - x\n      - y\n- name: b\nactions:\n  a: b\n";
        let want = "name: dev\nsdks:\n  - name: a\n    plugs:\n      p:\n        list:\n          - x\n          - y\n  - name: b\nactions:\n  a: b\n";
        assert_eq!(indent_sequences(plain), want);
    }

    #[test]
    fn block_scalars_are_shifted_whole() {
        let plain = "sdks:\n- name: a\n  plugs:\n    p:\n      script: |\n        echo a:\n        - b\n\n        done\n- name: b\n";
        let want = "sdks:\n  - name: a\n    plugs:\n      p:\n        script: |\n          echo a:\n          - b\n\n          done\n  - name: b\n";
        assert_eq!(indent_sequences(plain), want);
    }

    #[test]
    fn block_scalar_headers_are_recognised() {
        assert!(starts_block_scalar("key: |"));
        assert!(starts_block_scalar("key: |2-"));
        assert!(starts_block_scalar(">-"));
        assert!(!starts_block_scalar("key: a|"));
        assert!(!starts_block_scalar("key: '|'"));
    }
}
