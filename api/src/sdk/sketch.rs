//! The sketch SDK's YAML (reference-inventory §3.3, `SketchSDKYaml`): what `workshop
//! sketch-sdk` lets the user edit. Keys are limited to `name` (which must be `sketch`),
//! `title`, `summary`, `description`, `hooks` (hook → script, for the five hooks an SDK may
//! have), `plugs` and `slots`; anything else is refused with its line and column. A checked
//! sketch becomes an SDK directory: an `sdk.yaml` without the hooks ([`Sketch::sdk_yaml`],
//! which is also what `--eject` writes, under another name) and one file per hook
//! ([`Sketch::hook_files`]).

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
  #   port: 8080
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
    #[error("sketch SDK YAML contains unknown fields:\n{}", unknown_text(.fields, *.total))]
    UnknownFields { fields: Vec<UnknownField>, total: usize },
    #[error("sketch SDK YAML is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("flow collections nested too deep in sketch SDK YAML at line {line}, column {column}")]
    TooDeep { line: usize, column: usize },
    /// Malformed YAML or a value of the wrong type.
    #[error("invalid sketch SDK YAML:\n{0}")]
    Yaml(String),
    #[error("sketch SDK must be named \"sketch\" (now: {0:?})")]
    WrongName(String),
    #[error("unknown hook {hook:?} in sketch SDK YAML (hooks: {})", HOOKS.join(", "))]
    UnknownHook { hook: String },
    /// The SDK made from it is refused (a plug or slot).
    #[error("invalid sketch SDK: {0}")]
    Sdk(SdkYamlError),
}

fn unknown_text(fields: &[UnknownField], total: usize) -> String {
    let mut lines: Vec<String> =
        fields.iter().map(|f| format!("  {:?} at line {}, column {}", f.key, f.line, f.column)).collect();
    if total > fields.len() {
        lines.push(format!("  and {} more", total - fields.len()));
    }
    lines.join("\n")
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
        let document: Value = serde_yaml_ng::from_str(text).map_err(|e| SketchError::Yaml(e.to_string()))?;
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
            serde_yaml_ng::from_str(text).map_err(|e| SketchError::Yaml(e.to_string()))?
        };
        let name = raw.name.unwrap_or_default();
        if name != SKETCH_SDK {
            return Err(SketchError::WrongName(name));
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
        // The SDK it makes must be one the daemon installs.
        let info =
            SdkInfo::parse(&sketch.sdk_yaml(SKETCH_SDK), Strictness::Strict).map_err(SketchError::Sdk)?;
        info.check_installable().map_err(SketchError::Sdk)?;
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
            format!("sketch SDK YAML contains unknown fields:\n  \"base\" at line {line}, column 1")
        );
        let err = Sketch::parse("name: sketch\nversion: 1\nbase: x\n").unwrap_err().to_string();
        assert!(err.contains("\"version\" at line 2, column 1\n  \"base\" at line 3, column 1"), "{err}");
    }

    #[test]
    fn names_hooks_plugs_and_malformed_text_are_checked() {
        let err = |text: &str| Sketch::parse(text).unwrap_err().to_string();
        assert_eq!(err("name: other\n"), "sketch SDK must be named \"sketch\" (now: \"other\")");
        assert_eq!(err(""), "sketch SDK must be named \"sketch\" (now: \"\")");
        assert!(err("name: sketch\nhooks:\n  install: x\n").starts_with("unknown hook \"install\""));
        assert!(err("name: sketch\nhooks: [a]\n").starts_with("invalid sketch SDK YAML"));
        assert!(err("name: sketch\nplugs:\n  p:\n    interface: nosuch\n").contains("bad plugs or slots"));
        assert!(err("name: [\n").starts_with("invalid sketch SDK YAML"));
        assert!(err(&"[".repeat(1000)).starts_with("flow collections nested too deep"));
        assert!(err(&format!("name: sketch\n#{}\n", "x".repeat(MAX_SKETCH_TEXT))).contains("larger than"));
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
