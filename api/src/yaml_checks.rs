//! What the YAML readers check besides serde: nesting of flow collections, and keys a
//! file's format does not know, with where they are.
//!
//! The reference reads `workshop.yaml` leniently (an unknown key is ignored) and an in-project
//! `sdk.yaml` strictly (an unknown top-level key is an error); both say where the key is.
//! serde stops at the first unknown field, so the keys are found on the parsed document
//! against a [`Shape`] of the format, and each one's line and column is then found by reading
//! the text again up to that key (a parse whose only job is to fail there, so that the YAML
//! reader names the position). At most [`MAX_LOCATED`] keys are looked for.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml_ng::Value;

/// Deepest nesting of flow collections (`[`, `{`) a file may hold.
pub(crate) const MAX_FLOW_DEPTH: usize = 256;

/// The YAML reader's time grows with the nesting of flow collections times the length of the
/// text (a 1 MiB file of `[` takes minutes): deep nesting is refused before reading. Brackets
/// are counted wherever they are (in quotes and scripts too), an upper bound of the real
/// nesting that only a file with hundreds of unclosed brackets can reach. Returns the line
/// and column of the first bracket too deep.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    for c in text.chars() {
        column += 1;
        match c {
            '\n' => (line, column) = (line + 1, 0),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some((line, column));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The start of the YAML reader's message for a key given twice in a map.
const DUPLICATE: &str = "duplicate entry with key \"";

/// The text of a YAML reader's error. The reader places a key given twice at the start of
/// its map (or nowhere): it is placed at the second key instead, when the map is a block
/// map whose keys start lines (else at the map, as the reader said).
pub(crate) fn error_text(text: &str, error: &serde_yaml_ng::Error) -> String {
    let message = error.to_string();
    let (Some(key), Some(at)) = (duplicate_key(&message), error.location()) else { return message };
    let bare = message.split(" at line ").next().unwrap_or(&message);
    let (line, column) = second_key(text, key, at.line(), at.column()).unwrap_or((at.line(), at.column()));
    format!("{bare} at line {line}, column {column}")
}

/// The key of a duplicate-key message.
fn duplicate_key(message: &str) -> Option<&str> {
    let rest = &message[message.find(DUPLICATE)? + DUPLICATE.len()..];
    Some(&rest[..rest.find('"')?])
}

/// Where `key` is written a second time in the block map whose first key is at `line` and
/// `column` (1-based): the lines whose text starts at that column, until a line starts
/// left of it.
fn second_key(text: &str, key: &str, line: usize, column: usize) -> Option<(usize, usize)> {
    let indent = column.checked_sub(1)?;
    let forms = [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")];
    let is_key = |rest: &str| {
        forms.iter().any(|form| {
            rest.strip_prefix(form.as_str())
                .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
        })
    };
    let mut seen = 0;
    for (at, text) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = text.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let starts = text.len() - trimmed.len();
        // The first line may start with the dash of a list item before its first key.
        let rest = if at + 1 == line { text.get(indent..) } else { (starts == indent).then_some(trimmed) };
        if at + 1 > line && starts < indent {
            return None;
        }
        if rest.is_some_and(is_key) {
            seen += 1;
            if seen == 2 {
                return Some((at + 1, column));
            }
        }
    }
    None
}

/// Most unknown keys located in one file (each costs one more read of the text).
pub(crate) const MAX_LOCATED: usize = 16;

/// The keys a format knows at one place of a document.
pub(crate) enum Shape {
    /// A map with these keys (and the shape of each value).
    Map(&'static [(&'static str, &'static Shape)]),
    /// A list whose items have this shape.
    List(&'static Shape),
    /// Anything: free maps (actions, plug attributes) and scalars.
    Free,
}

/// An unknown key: its name, the path of the map holding it (`None` at the top), where it
/// is, and the known key of that map closest to it (at most two edits away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    pub key: String,
    pub within: Option<String>,
    pub line: usize,
    pub column: usize,
    pub suggestion: Option<String>,
}

/// The unknown keys of `document` (the parsed form of `text`) in document order: at most
/// [`MAX_LOCATED`], with the number of all of them.
pub(crate) fn unknown_keys(text: &str, document: &Value, shape: &Shape) -> (Vec<UnknownKey>, usize) {
    let mut found = Vec::new();
    walk(document, shape, &mut Vec::new(), &mut found);
    let total = found.len();
    let located = found
        .into_iter()
        .take(MAX_LOCATED)
        .map(|(path, known)| {
            let (line, column) = locate(text, &path).unwrap_or((0, 0));
            let Some((Step::Key(key), parents)) = path.split_last() else {
                unreachable!("an unknown key's path ends with the key")
            };
            UnknownKey {
                key: key.clone(),
                within: (!parents.is_empty()).then(|| path_text(parents)),
                line,
                column,
                suggestion: closest(key, known).map(str::to_string),
            }
        })
        .collect();
    (located, total)
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

type Found = Vec<(Vec<Step>, &'static [(&'static str, &'static Shape)])>;

fn walk(value: &Value, shape: &Shape, path: &mut Vec<Step>, found: &mut Found) {
    match (shape, value) {
        (Shape::Map(known), Value::Mapping(map)) => {
            for (key, value) in map {
                // Keys that are not strings are refused by the typed read.
                let Value::String(key) = key else { continue };
                path.push(Step::Key(key.clone()));
                match known.iter().find(|(name, _)| name == key) {
                    Some((_, inner)) => walk(value, inner, path, found),
                    None => found.push((path.clone(), known)),
                }
                path.pop();
            }
        }
        (Shape::List(item), Value::Sequence(items)) => {
            for (i, value) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk(value, item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `sdks[1]`, `a.b`: the path of a map, as serde names it.
fn path_text(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) if text.is_empty() => text.push_str(key),
            Step::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// The message of the error that marks the wanted key (never shown).
const FOUND: &str = "\u{0}found";

/// The line and column of the key at the end of `path`.
fn locate(text: &str, path: &[Step]) -> Option<(usize, usize)> {
    let error = Seek { path }.deserialize(serde_yaml_ng::Deserializer::from_str(text)).err()?;
    if !error.to_string().contains(FOUND) {
        return None;
    }
    error.location().map(|l| (l.line(), l.column()))
}

/// Reads the document along `path` and fails on its last key, so that the error carries
/// the key's position.
struct Seek<'a> {
    path: &'a [Step],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map or a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(wanted), rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(matched) = map.next_key_seed(KeySeek { wanted, last: rest.is_empty() })? {
            if matched {
                map.next_value_seed(Seek { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (wanted, rest) = match self.path.split_first() {
            Some((Step::Index(i), rest)) => (Some(*i), rest),
            _ => (None, self.path),
        };
        let mut index = 0;
        loop {
            let more = if Some(index) == wanted {
                seq.next_element_seed(Seek { path: rest })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// Reads a key: whether it is the wanted one, failing on it when it ends the path.
struct KeySeek<'a> {
    wanted: &'a str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeek<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The error is raised while the key is being read, so that the reader marks it with the
/// key's position. Keys of other types are read whole and are never the wanted one.
impl<'de> Visitor<'de> for KeySeek<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        match key == self.wanted {
            true if self.last => Err(E::custom(FOUND)),
            matched => Ok(matched),
        }
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// The allowed key nearest to `key`, if it is at most two edits away.
fn closest(key: &str, allowed: &[(&'static str, &'static Shape)]) -> Option<&'static str> {
    allowed
        .iter()
        .map(|(candidate, _)| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    static ITEM: Shape = Shape::Map(&[("name", &Shape::Free), ("channel", &Shape::Free)]);
    static TOP: Shape =
        Shape::Map(&[("name", &Shape::Free), ("base", &Shape::Free), ("sdks", &Shape::List(&ITEM))]);

    fn keys(text: &str) -> (Vec<UnknownKey>, usize) {
        let document: Value = serde_yaml_ng::from_str(text).unwrap();
        unknown_keys(text, &document, &TOP)
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("bse", "base"), 1);
        assert_eq!(edit_distance("chanel", "channel"), 1);
        assert_eq!(edit_distance("sdk", "sdks"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn unknown_keys_are_found_with_their_place_and_a_hint() {
        let text = "name: ws\nbsae: x\nsdks:\n  - name: a\n  - name: b\n    chanel: edge\n    runtime: 1\n";
        let (found, total) = keys(text);
        assert_eq!(total, 3);
        let key = |key: &str, within: Option<&str>, line, column, suggestion: Option<&str>| UnknownKey {
            key: key.into(),
            within: within.map(String::from),
            line,
            column,
            suggestion: suggestion.map(String::from),
        };
        assert_eq!(
            found,
            [
                key("bsae", None, 2, 1, Some("base")),
                key("chanel", Some("sdks[1]"), 6, 5, Some("channel")),
                key("runtime", Some("sdks[1]"), 7, 5, None),
            ]
        );
    }

    #[test]
    fn flow_style_and_odd_keys_are_located_too() {
        let (found, _) = keys("{name: ws, 3: x, [a]: b, extra: {deep: 1}}\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].key.as_str(), found[0].line, found[0].column), ("extra", 1, 26));
        // A known key's free value is not looked into.
        let (found, total) = keys("name: {anything: 1}\nbase: b\n");
        assert_eq!((found, total), (vec![], 0));
    }

    #[test]
    fn at_most_a_bounded_number_are_located() {
        let text: String = (0..100).map(|i| format!("k{i}: 1\n")).collect();
        let (found, total) = keys(&text);
        assert_eq!(total, 100);
        assert_eq!(found.len(), MAX_LOCATED);
        assert_eq!((found[15].key.as_str(), found[15].line), ("k15", 16));
    }

    #[test]
    fn a_key_given_twice_is_placed_at_its_second_place() {
        let err = |text: &str| {
            let e = serde_yaml_ng::from_str::<Value>(text).unwrap_err();
            error_text(text, &e)
        };
        assert_eq!(
            err("name: x\nbase: a\n# base again\nbase: b\n"),
            "duplicate entry with key \"base\" at line 4, column 1"
        );
        assert_eq!(
            err("name: x\nactions:\n  a: one\n  b: two\n  \"a\": three\n"),
            "actions: duplicate entry with key \"a\" at line 5, column 3"
        );
        let in_list = err("sdks:\n  - name: a\n    plugs: {}\n    name: b\n  - name: c\n");
        assert!(in_list.ends_with("duplicate entry with key \"name\" at line 4, column 5"), "{in_list}");
        // A flow map: where the reader said.
        assert!(err("a: {b: 1, b: 2}\n").contains("duplicate entry with key \"b\" at line 1, column "));
    }
}
