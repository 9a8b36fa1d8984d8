//! Property tests: no input makes the definition reader panic, and what it accepts reads
//! back the same after normalisation. `PROPTEST_CASES` raises the number of cases.

use std::path::Path;

use proptest::prelude::*;

use super::tests::{BIND, EXEC, MOUNT, TUNNEL, USER_CONNS};
use super::{WorkshopFile, load, parse};

const PATH: &str = "/p/.workshop/dev.yaml";

/// The valid definitions the mutations start from: the test fixtures and the examples.
const VALID: &[&str] =
    &[TUNNEL, BIND, MOUNT, EXEC, USER_CONNS, include_str!("../../../examples/hello/.workshop/hello.yaml")];

/// Pieces of YAML and of the format's vocabulary, so that random documents get past the
/// tokenizer often enough to reach the deserializer and the rules.
const TOKENS: &[&str] = &[
    "name",
    "base",
    "sdks",
    "connections",
    "actions",
    "plugs",
    "slots",
    "channel",
    "plug",
    "slot",
    "interface",
    "bind",
    "endpoint",
    "auto-port",
    "workshop-target",
    "workshop-source",
    "system",
    "sketch",
    "project-x",
    "try-x",
    "ubuntu@22.04",
    "latest/stable",
    "a:b",
    ":",
    ": ",
    "- ",
    "-",
    "\n",
    "  ",
    "    ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!map ",
    "!tag ",
    "|",
    "|-",
    ">",
    "'",
    "\"",
    "#",
    "~",
    "null",
    "true",
    "0x1f",
    "1e999",
    "-0",
    ".inf",
    "? ",
    "---",
    "...",
    "%YAML 1.2",
    "<<: ",
    "\\",
    "é",
    "\u{0}",
    "\u{feff}",
];

/// Mutations of a valid text, at byte positions taken modulo its length (snapped to char
/// boundaries).
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..16usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), proptest::sample::select(TOKENS)).prop_map(|(at, t)| Mutation::Insert(at, t.into())),
        (any::<usize>(), any::<String>()).prop_map(|(at, s)| Mutation::Insert(at, s)),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Mutation::Replace(at, c)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// The char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut out = text.to_string();
    match mutation {
        Mutation::Delete(at, len) => {
            let start = boundary(&out, *at);
            let end = boundary(&out, (start + len).min(out.len()));
            out.replace_range(start..end.max(start), "");
        }
        Mutation::Insert(at, piece) => out.insert_str(boundary(&out, *at), piece),
        Mutation::Replace(at, c) => {
            let start = boundary(&out, *at);
            if let Some(old) = out[start..].chars().next() {
                out.replace_range(start..start + old.len_utf8(), &c.to_string());
            }
        }
        Mutation::DuplicateLine(n) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = n % lines.len();
                lines.insert(i, lines[i]);
            }
            out = lines.join("\n");
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let len = lines.len();
                lines.swap(a % len, b % len);
            }
            out = lines.join("\n");
        }
        Mutation::Truncate(at) => out.truncate(boundary(text, *at)),
    }
    out
}

/// Reads `text` as the daemon does; whatever loads must survive normalisation unchanged.
fn check(text: &str) -> Result<(), TestCaseError> {
    let path = Path::new(PATH);
    let _ = parse(text, path).map(|(file, _)| file.validate());
    if let Ok((file, _)) = load(text, path) {
        let yaml = file.to_yaml();
        let again: Result<WorkshopFile, _> = load(&yaml, path).map(|(file, _)| file);
        prop_assert_eq!(
            again.as_ref().ok(),
            Some(&file),
            "normalised:\n{}\nerror: {:?}",
            yaml,
            again.as_ref().err()
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..64)) {
        check(&tokens.concat())?;
    }

    #[test]
    fn mutated_definitions_never_panic(
        base in proptest::sample::select(VALID),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let text = mutations.iter().fold(base.to_string(), |text, m| apply(&text, m));
        check(&text)?;
    }
}
