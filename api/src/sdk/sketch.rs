//! The sketch SDK's YAML (reference-inventory §3.3, `SketchSDKYaml`): what `workshop
//! sketch-sdk` lets the user edit. Keys are limited to `name` (which must be `sketch`),
//! `title`, `summary`, `description`, `hooks` (hook → script, for the five hooks an SDK may
//! have), `plugs` and `slots`; anything else is refused with its line and column, as are
//! malformed plug, slot and interface names. Whether an interface takes a plug or slot is
//! not checked here but when the SDK is installed: as in the reference, a sketch that an
//! interface refuses is kept and its refresh pauses, so that `refresh --abort` (or the next
//! edit) deals with it. A checked sketch becomes an SDK directory: an `sdk.yaml` without the
//! hooks ([`Sketch::sdk_yaml`]) and one file per hook ([`Sketch::hook_files`]);
//! [`project_sdk_yaml`] is what `--eject` writes, the user's own text under another name.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::{SdkInfo, SdkYamlError, Strictness, UnknownField};
use crate::definition::SKETCH_SDK;
use crate::yaml_checks::{self, Shape};

/// The hooks a sketch may define, in the order they run in a workshop's life.
pub const HOOKS: [&str; 5] = ["setup-base", "setup-project", "save-state", "restore-state", "check-health"];

/// The most text a sketch may hold.
pub const MAX_SKETCH_TEXT: usize = 1 << 20;

/// What the editor opens when a workshop has no sketch yet.
pub const TEMPLATE: &str = "\
# The sketch SDK of this workshop: hooks, plugs and slots to try out before they go into an
# SDK of their own. Save and quit to install it (the workshop is refreshed); when it cannot
# be used, the next \"workshop sketch-sdk\" opens your text again. \"workshop sketch-sdk --eject\"
# turns it into a project SDK in .workshop/.
name: sketch
# title: A short title
# summary: One line on what it sets up
# description: |
#   More about it.
hooks:
  # Runs as root once the base system is ready: system packages and settings.
  setup-base: |
    # apt-get update
    # apt-get install -y build-essential
  # Runs as the workshop's user once the project is mounted at /project.
  setup-project: |
    # cd /project
    # uv sync
  # Also possible: save-state and restore-state (keep files in $SDK_STATE_DIR across a
  # refresh) and check-health (report with \"workshopctl set-health\").
plugs:
  # data:
  #   interface: mount
  #   workshop-target: /home/workshop/data
slots:
  # web:
  #   interface: tunnel
  #   endpoint: 8080
";

/// The keys of a sketch.
static SKETCH_YAML: Shape = Shape::Map(&[
    ("name", &Shape::Free),
    ("title", &Shape::Free),
    ("summary", &Shape::Free),
    ("description", &Shape::Free),
    ("hooks", &Shape::Free),
    ("plugs", &Shape::Free),
    ("slots", &Shape::Free),
]);

/// Why a sketch cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SketchError {
    /// Keys a sketch does not have; `fields` holds the first ones located.
    #[error("sketch SDK YAML contains unknown fields: {}", unknown_text(.fields, *.total))]
    UnknownFields { fields: Vec<UnknownField>, total: usize },
    #[error("sketch SDK YAML is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("flow collections nested too deep in sketch SDK YAML at line {line}, column {column}")]
    TooDeep { line: usize, column: usize },
    /// Malformed YAML or a value of the wrong type.
    #[error("could not parse sketch SDK YAML: {0}")]
    Yaml(String),
    #[error("SDK must be named \"sketch\" (now: {now:?})")]
    WrongName { now: String },
    #[error("sketch SDK YAML contains unsupported hook {hook:?}; supported hooks: {}", HOOKS.join(", "))]
    UnknownHook { hook: String },
    /// The SDK made from it is malformed (a plug or slot name).
    #[error("invalid sketch SDK: {0}")]
    Sdk(SdkYamlError),
}

fn unknown_text(fields: &[UnknownField], total: usize) -> String {
    let mut parts: Vec<String> =
        fields.iter().map(|f| format!("{:?} at line {}, column {}", f.key, f.line, f.column)).collect();
    if total > fields.len() {
        parts.push(format!("and {} more", total - fields.len()));
    }
    parts.join(", ")
}

/// A checked sketch.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    pub title: String,
    pub summary: String,
    pub description: String,
    /// Hook name → script; hooks given no script are left out.
    pub hooks: BTreeMap<String, String>,
    pub plugs: Option<Value>,
    pub slots: Option<Value>,
}

/// The text as written; null reads as absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[serde(expecting = "a sketch SDK: a map with its name, summary, hooks, ...")]
struct Raw {
    name: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    hooks: Option<BTreeMap<String, Option<String>>>,
    plugs: Option<Value>,
    slots: Option<Value>,
}

impl Sketch {
    /// Reads and checks a sketch's text.
    pub fn parse(text: &str) -> Result<Sketch, SketchError> {
        if text.len() > MAX_SKETCH_TEXT {
            return Err(SketchError::TooLarge { limit: MAX_SKETCH_TEXT });
        }
        if let Some((line, column)) = yaml_checks::too_deep(text) {
            return Err(SketchError::TooDeep { line, column });
        }
        let document: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| SketchError::Yaml(yaml_checks::error_text(text, &e)))?;
        let (located, total) = yaml_checks::unknown_keys(text, &document, &SKETCH_YAML);
        if total > 0 {
            let fields = located
                .into_iter()
                .map(|k| UnknownField { key: k.key, line: k.line, column: k.column })
                .collect();
            return Err(SketchError::UnknownFields { fields, total });
        }
        let raw: Raw = if document.is_null() {
            Raw::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| SketchError::Yaml(yaml_checks::error_text(text, &e)))?
        };
        if raw.name.as_deref() != Some(SKETCH_SDK) {
            return Err(SketchError::WrongName { now: raw.name.unwrap_or_default() });
        }
        let mut hooks = BTreeMap::new();
        for (hook, script) in raw.hooks.unwrap_or_default() {
            if !HOOKS.contains(&hook.as_str()) {
                return Err(SketchError::UnknownHook { hook });
            }
            if let Some(script) = script {
                hooks.insert(hook, script);
            }
        }
        let sketch = Sketch {
            title: raw.title.unwrap_or_default(),
            summary: raw.summary.unwrap_or_default(),
            description: raw.description.unwrap_or_default(),
            hooks,
            plugs: raw.plugs.filter(|v| !v.is_null()),
            slots: raw.slots.filter(|v| !v.is_null()),
        };
        // The SDK it makes must read as one; whether its interfaces take its plugs and slots
        // is for the refresh to find out.
        SdkInfo::parse(&sketch.sdk_yaml(SKETCH_SDK), Strictness::Strict).map_err(SketchError::Sdk)?;
        Ok(sketch)
    }

    /// The `sdk.yaml` of the SDK named `name` made from the sketch: its keys but the hooks.
    pub fn sdk_yaml(&self, name: &str) -> String {
        let mut map = serde_yaml_ng::Mapping::new();
        map.insert("name".into(), name.into());
        for (key, value) in
            [("title", &self.title), ("summary", &self.summary), ("description", &self.description)]
        {
            if !value.is_empty() {
                map.insert(key.into(), value.as_str().into());
            }
        }
        for (key, value) in [("plugs", &self.plugs), ("slots", &self.slots)] {
            if let Some(value) = value {
                map.insert(key.into(), value.clone());
            }
        }
        serde_yaml_ng::to_string(&Value::Mapping(map)).unwrap_or_else(|_| format!("name: {name}\n"))
    }

    /// The hook files: name and script (ending with a newline).
    pub fn hook_files(&self) -> Vec<(String, String)> {
        self.hooks
            .iter()
            .map(|(hook, script)| {
                let mut text = script.clone();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                (hook.clone(), text)
            })
            .collect()
    }
}

/// What `--eject` writes as the `sdk.yaml` of the project SDK `name`: the user's `text` (its
/// comments and order kept) with `name` set and the `hooks` key left out. A text that cannot
/// be edited line by line into exactly that (flow style, anchors, a key spread over lines) is
/// written anew from `sketch`.
pub fn project_sdk_yaml(text: &str, sketch: &Sketch, name: &str) -> String {
    edit_top_level(text, name)
        .filter(|edited| means_the_same(text, edited, name))
        .unwrap_or_else(|| sketch.sdk_yaml(name))
}

/// The top-level key a line starts, if it starts one (`key:` at column 0).
fn top_level_key(line: &str) -> Option<&str> {
    let (key, rest) = line.split_once(':')?;
    let is_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (is_key && (rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']))).then_some(key)
}

/// `text` with its `name:` line replaced and its `hooks:` block dropped; None without a
/// `name:` line.
fn edit_top_level(text: &str, name: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_hooks = false;
    let mut named = false;
    for line in text.split_inclusive('\n') {
        match top_level_key(line) {
            Some("hooks") => in_hooks = true,
            Some("name") => {
                in_hooks = false;
                named = true;
                out.push_str(&format!("name: {name}\n"));
            }
            Some(_) => {
                in_hooks = false;
                out.push_str(line);
            }
            // What belongs to the hooks (indented lines, blank lines) goes with them; a
            // comment at column 0 is the user's and stays.
            None if in_hooks && !line.starts_with('#') => {}
            None => out.push_str(line),
        }
    }
    named.then_some(out)
}

/// Whether `edited` reads as `text` with `name` set and without hooks.
fn means_the_same(text: &str, edited: &str, name: &str) -> bool {
    let Ok(Value::Mapping(mut want)) = serde_yaml_ng::from_str::<Value>(text) else { return false };
    want.remove("hooks");
    want.insert("name".into(), name.into());
    matches!(serde_yaml_ng::from_str::<Value>(edited), Ok(Value::Mapping(got)) if got == want)
}

impl fmt::Display for Sketch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sdk_yaml(SKETCH_SDK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_an_empty_sketch_with_what_scripts_rely_on() {
        let sketch = Sketch::parse(TEMPLATE).unwrap();
        assert!(TEMPLATE.lines().any(|l| l == "name: sketch"));
        assert_eq!(TEMPLATE.matches("name: sketch").count(), 1);
        assert!(TEMPLATE.lines().any(|l| l == "plugs:") && TEMPLATE.lines().any(|l| l == "slots:"));
        assert_eq!(TEMPLATE.lines().filter(|l| *l == "    # apt-get update").count(), 1);
        assert!(sketch.hooks["setup-base"].lines().any(|l| l == "# apt-get update"));
        assert!(sketch.hooks["setup-project"].lines().any(|l| l == "# uv sync"));
        assert_eq!((sketch.plugs.as_ref(), sketch.slots.as_ref()), (None, None));
        assert_eq!(sketch.sdk_yaml("sketch"), "name: sketch\n");
        let files: Vec<String> = sketch.hook_files().into_iter().map(|(n, _)| n).collect();
        assert_eq!(files, ["setup-base", "setup-project"]);
    }

    #[test]
    fn unknown_keys_are_refused_with_where_they_are() {
        let text = TEMPLATE.replace("name: sketch\n", "name: sketch\nbase: ubuntu@24.04\n");
        let err = Sketch::parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.starts_with("base:")).unwrap() + 1;
        assert_eq!(
            err.to_string(),
            format!("sketch SDK YAML contains unknown fields: \"base\" at line {line}, column 1")
        );
        let err = Sketch::parse("name: sketch\nversion: 1\nbase: x\n").unwrap_err().to_string();
        assert!(err.ends_with(": \"version\" at line 2, column 1, \"base\" at line 3, column 1"), "{err}");
        let err = Sketch::parse("name: sketch\nsummary: a\nname: again\n").unwrap_err().to_string();
        assert!(err.ends_with("duplicate entry with key \"name\" at line 3, column 1"), "{err}");
        let err = Sketch::parse("just text\n").unwrap_err().to_string();
        assert!(err.contains("expected a sketch SDK: a map with its name"), "{err}");
    }

    #[test]
    fn names_hooks_plugs_and_malformed_text_are_checked() {
        let err = |text: &str| Sketch::parse(text).unwrap_err().to_string();
        assert_eq!(err("name: other\n"), "SDK must be named \"sketch\" (now: \"other\")");
        assert_eq!(err(""), "SDK must be named \"sketch\" (now: \"\")");
        assert_eq!(
            err("name: sketch\nhooks:\n  install: x\n"),
            "sketch SDK YAML contains unsupported hook \"install\"; supported hooks: setup-base, \
             setup-project, save-state, restore-state, check-health"
        );
        assert!(err("name: sketch\nhooks: [a]\n").starts_with("could not parse sketch SDK YAML: "));
        assert!(err("name: [\n").starts_with("could not parse sketch SDK YAML: "));
        assert!(
            err("name: sketch\nplugs:\n  Bad_Name: mount\n").contains("invalid plug name"),
            "{}",
            err("name: sketch\nplugs:\n  Bad_Name: mount\n")
        );
        assert!(err(&"[".repeat(1000)).starts_with("flow collections nested too deep"));
        assert!(err(&format!("name: sketch\n#{}\n", "x".repeat(MAX_SKETCH_TEXT))).contains("larger than"));
    }

    #[test]
    fn what_an_interface_refuses_is_left_to_the_refresh() {
        // The reference's sketch-sdk test: a plug its interface refuses is installed, and
        // the refresh that installs it pauses.
        for plug in ["workshop-typo: /mnt", "workshop-target: /mnt\n    unknown-attribute: true"] {
            let text = format!("name: sketch\nplugs:\n  p:\n    interface: mount\n    {plug}\n");
            let sketch = Sketch::parse(&text).unwrap();
            let info = SdkInfo::parse(&sketch.sdk_yaml(SKETCH_SDK), Strictness::Strict).unwrap();
            assert!(info.check_installable().is_err(), "{text}");
        }
        assert!(Sketch::parse("name: sketch\nplugs:\n  p:\n    interface: nosuch\n").is_ok());
    }

    #[test]
    fn an_ejected_sketch_keeps_the_users_text_but_its_hooks() {
        let text = "# My tools.\nname: sketch # was\nsummary: S\nhooks:\n  setup-base: |\n    mkdir /x\n\n\
                    \n# The plugs.\nplugs:\n  # a comment\n  data:\n    interface: mount\n    \
                    workshop-target: /home/workshop/data\nslots:\n";
        let sketch = Sketch::parse(text).unwrap();
        assert_eq!(
            project_sdk_yaml(text, &sketch, "tools"),
            "# My tools.\nname: tools\nsummary: S\n# The plugs.\nplugs:\n  # a comment\n  data:\n    \
             interface: mount\n    workshop-target: /home/workshop/data\nslots:\n"
        );
        // Hooks first, no final newline, Windows line ends.
        let text = "hooks:\r\n  check-health: x\r\nname: sketch\r\ntitle: T";
        let sketch = Sketch::parse(text).unwrap();
        assert_eq!(project_sdk_yaml(text, &sketch, "t"), "name: t\ntitle: T");
        // What cannot be edited line by line is written anew.
        for text in ["{name: sketch, title: T, hooks: {setup-base: x}}\n", "name: &n sketch\ntitle: *n\n"] {
            let sketch = Sketch::parse(text).unwrap();
            let yaml = project_sdk_yaml(text, &sketch, "t");
            assert_eq!(yaml, sketch.sdk_yaml("t"), "{text}");
        }
    }

    #[test]
    fn a_sketch_makes_an_sdk_yaml_without_its_hooks() {
        let text = "name: sketch\ntitle: T\nhooks:\n  setup-base: |\n    mkdir -p /x\n  check-health:\n\
                    plugs:\n  sketch-plug:\n    interface: mount\n    workshop-target: /home/workshop/x\n";
        let sketch = Sketch::parse(text).unwrap();
        assert_eq!(sketch.hook_files(), [("setup-base".to_string(), "mkdir -p /x\n".to_string())]);
        let yaml = sketch.sdk_yaml("tools");
        assert!(yaml.starts_with("name: tools\ntitle: T\nplugs:\n  sketch-plug:\n"), "{yaml}");
        assert!(!yaml.contains("hooks"));
        let info = SdkInfo::parse(&yaml, Strictness::Strict).unwrap();
        assert!(info.plugs.contains_key("sketch-plug"));
    }
}
