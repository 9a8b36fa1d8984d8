//! The installed form of an action: its script, shifted so that the line numbers bash reports
//! in errors are those of the definition file.

/// Where the script of action `name` starts in the YAML text of a definition (1-based), when
/// it can be told: a plain or quoted value on the key's line, or a block (`|`, `>`) or
/// multi-line value on the next line.
pub fn script_line(yaml: &str, name: &str) -> Option<usize> {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines.iter().position(|l| is_top_key(l, "actions"))?;
    let mut indent = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let this_indent = line.len() - body.len();
        if this_indent == 0 {
            return None;
        }
        if *indent.get_or_insert(this_indent) != this_indent {
            continue;
        }
        let Some(value) = body.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')) else { continue };
        if !(value.is_empty() || value.starts_with([' ', '\t'])) {
            continue;
        }
        let value = value.trim();
        let on_next_line = value.is_empty() || value.starts_with(['|', '>']) || value.starts_with('#');
        return Some(if on_next_line { i + 2 } else { i + 1 });
    }
    None
}

fn is_top_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
}

/// The file written for an action: `script`, preceded by blank lines when it starts on line
/// `line` of the definition.
pub fn installed_script(script: &str, line: Option<usize>) -> String {
    let padding = line.unwrap_or(1).saturating_sub(1);
    let mut text = "\n".repeat(padding);
    text.push_str(script);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: &str = "name: ws-exec\nbase: ubuntu@22.04\nactions:\n  oneline: echo one line\n  multiline: |\n    echo multi\n    echo line\n  # a comment\n  fail: \"false\"\n  nested:\n    echo a\nsdks: []\n";

    #[test]
    fn finds_where_each_script_starts() {
        assert_eq!(script_line(EXEC, "oneline"), Some(4));
        assert_eq!(script_line(EXEC, "multiline"), Some(6));
        assert_eq!(script_line(EXEC, "fail"), Some(9));
        assert_eq!(script_line(EXEC, "nested"), Some(11));
        assert_eq!(script_line(EXEC, "one"), None);
        assert_eq!(script_line(EXEC, "sdks"), None);
        assert_eq!(script_line("actions: {}\n", "x"), None);
    }

    #[test]
    fn pads_the_script_to_its_line() {
        assert_eq!(installed_script("echo one line", Some(4)), "\n\n\necho one line\n");
        assert_eq!(installed_script("echo multi\necho line\n", None), "echo multi\necho line\n");
    }
}
