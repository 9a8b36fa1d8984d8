//! Whole-file tests: the acceptance definitions, unknown keys and every rule's message.

use std::path::Path;

use super::*;

const PATH: &str = "/p/.workshop/dev.yaml";

/// A definition that loads without warnings.
fn load_ok(text: &str) -> WorkshopFile {
    let (file, warnings) = load(text, Path::new(PATH)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(warnings, [], "{text}");
    file
}

/// The warnings of a definition that loads.
fn warnings(text: &str) -> Vec<String> {
    let (_, warnings) = load(text, Path::new(PATH)).unwrap_or_else(|e| panic!("{e}"));
    warnings.iter().map(ToString::to_string).collect()
}

fn parse_err(text: &str) -> String {
    parse(text, Path::new(PATH)).unwrap_err().to_string()
}

/// The rule message for a definition that parses but breaks a rule.
fn invalid(text: &str) -> String {
    let (file, _) = parse(text, Path::new(PATH)).unwrap_or_else(|e| panic!("{e}"));
    file.validate().unwrap_err().to_string()
}

pub(super) const TUNNEL: &str = r#"
name: ws-tunnel
base: ubuntu@22.04
sdks:
  - name: system
    plugs:
      auto-connect-by-name:
        interface: tunnel
        endpoint: '@workshopacbn'
      conflict:
        interface: tunnel
        endpoint: '0.0.0.0:8000'
      test-sdk-http:
        interface: tunnel
        endpoint: 8001
      tunnel:
      unix-path:
        interface: tunnel
        endpoint: $HOME/test-tunnel.sock
    slots:
      postgres:
        interface: tunnel
        endpoint: 54321
      unused:
        interface: tunnel
  - name: project-test-sdk-tunnel
connections:
  - plug: system:test-sdk-http
    slot: test-sdk-tunnel:http
"#;

pub(super) const BIND: &str = r#"
name: ws-bind
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-mount
    plugs:
      two:
        bind: test-sdk-multiple-plugs:two
  - name: project-test-sdk-multiple-plugs
    plugs:
      one:
        bind: test-sdk-mount:one
  - name: project-test-sdk-ssh-agent
    plugs:
      ssh-agent:
        bind: test-sdk-multiple-plugs:ssh-agent
"#;

pub(super) const MOUNT: &str = r#"
name: ws-mount
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-mount
    plugs:
      jobs:
        interface: mount
        workshop-target: /etc/cron.weekly
      ro-workshop:
        interface: mount
        workshop-target: /mnt/ro-plug
        read-only: true
      ro-host:
        interface: mount
        workshop-target: /test
        read-only: true
    slots:
      ro-source:
        interface: mount
        workshop-source: /opt/ro-slot
connections:
  - plug: test-sdk-mount:jobs
    slot: test-sdk-mount:jobs
  - plug: test-sdk-mount:ro-workshop
    slot: test-sdk-mount:ro-source
"#;

pub(super) const EXEC: &str = r#"
name: ws-exec
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-basic-2
  - name: project-test-sdk-environment
actions:
  oneline: echo one line
  multiline: |
    echo multi
    echo line
  fail: "false"
  file: ./script.sh
  env: env
"#;

pub(super) const USER_CONNS: &str = r#"
name: ws-user-conns
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-basic-2
    slots:
      user-slot:
        interface: mount
        workshop-source: /project/user-data-2
  - name: project-test-sdk-mount
    plugs:
      wp-plug:
        interface: mount
        workshop-target: /mnt/wp-plug
connections:
  - plug: test-sdk-mount:two
    slot: test-sdk-basic-2:user-slot
  - plug: test-sdk-mount:wp-plug
    slot: test-sdk-basic-2:user-slot
"#;

#[test]
fn tunnel_definition_loads() {
    let file = load_ok(TUNNEL);
    assert_eq!(file.name, "ws-tunnel");
    let system = &file.sdks[0];
    assert_eq!(system.sdk_name().unwrap().kind, SdkKind::System);
    let PlugDef::Inline(tunnel) = &system.plugs["tunnel"] else { panic!("tunnel is not inline") };
    assert_eq!(tunnel.interface_name("tunnel"), "tunnel");
    let PlugDef::Inline(http) = &system.plugs["test-sdk-http"] else { panic!("test-sdk-http is not inline") };
    assert_eq!(http.attributes["endpoint"], serde_json::json!(8001));
    assert_eq!(system.slots["unused"].interface_name("unused"), "tunnel");
    assert_eq!(
        file.connections[0],
        Connection {
            plug: EndpointRef::new("system", "test-sdk-http"),
            slot: EndpointRef::new("test-sdk-tunnel", "http"),
        }
    );
}

#[test]
fn bind_definition_loads() {
    let file = load_ok(BIND);
    assert_eq!(file.sdks[1].plugs["one"], PlugDef::Bind(EndpointRef::new("test-sdk-mount", "one")));
}

#[test]
fn mount_exec_and_user_connections_definitions_load() {
    let mount = load_ok(MOUNT);
    assert_eq!(mount.sdks[0].plugs.len(), 3);
    assert_eq!(mount.connections.len(), 2);
    let exec = load_ok(EXEC);
    assert_eq!(exec.actions["oneline"], "echo one line");
    assert_eq!(exec.actions["multiline"], "echo multi\necho line\n");
    assert_eq!(exec.actions["fail"], "false");
    let conns = load_ok(USER_CONNS);
    assert_eq!(conns.sdks[0].slots["user-slot"].attributes["workshop-source"], "/project/user-data-2");
}

#[test]
fn normalised_yaml_reads_back_the_same() {
    for text in [TUNNEL, BIND, MOUNT, EXEC, USER_CONNS] {
        let file = load_ok(text);
        let yaml = file.to_yaml();
        assert_eq!(load_ok(&yaml), file, "{yaml}");
        assert_eq!(file.to_string(), yaml);
    }
}

#[test]
fn init_output_is_indented_like_the_reference() {
    let file = WorkshopFile::new(
        "dev",
        "ubuntu@22.04",
        vec![SdkRecord::new("ollama", Some("cpu/stable")), SdkRecord::new("jupyter", None)],
    );
    assert_eq!(
        file.to_yaml(),
        "name: dev\nbase: ubuntu@22.04\nsdks:\n  - name: ollama\n    channel: cpu/stable\n  - name: jupyter\n"
    );
    let bare = WorkshopFile::new("dev", DEFAULT_BASE, Vec::new());
    assert_eq!(bare.to_yaml(), "name: dev\nbase: ubuntu@24.04\n");
}

#[test]
fn null_collections_are_empty() {
    let file = load_ok("name: a\nbase: ubuntu@24.04\nsdks:\nconnections:\nactions:\n");
    assert!(file.sdks.is_empty() && file.connections.is_empty() && file.actions.is_empty());
    let file = load_ok("name: a\nbase: ubuntu@24.04\nsdks:\n  - name: uv\n    plugs:\n");
    assert!(file.sdks[0].plugs.is_empty());
}

#[test]
fn unknown_keys_are_warnings_with_location_and_hint() {
    // Files written for the reference load: the key is ignored, and said where it is.
    let text = "name: dev\nbase: ubuntu@24.04\nsdks:\n  - name: uv\n    chanel: edge\nports: [8080]\n\
                connections:\n  - plug: uv:b\n    slot: :d\n    slto: c:d\n";
    let (file, _) = load(text, Path::new(PATH)).unwrap();
    assert_eq!(file.sdks[0].channel, None);
    assert_eq!(
        warnings(text),
        [
            r#"unknown key "chanel" in sdks[0] at line 5, column 5 (did you mean "channel"?) (in "/p/.workshop/dev.yaml")"#,
            r#"unknown key "ports" at line 6, column 1 (in "/p/.workshop/dev.yaml")"#,
            r#"unknown key "slto" in connections[0] at line 10, column 5 (did you mean "slot"?) (in "/p/.workshop/dev.yaml")"#,
        ]
    );
    // Free maps (actions, plug attributes) have no unknown keys.
    assert_eq!(warnings(&format!("{HEAD}actions:\n  anything: x\n")), Vec::<String>::new());
    // Past the ones located, the rest are counted.
    let many: String = (0..20).map(|i| format!("k{i}: 1\n")).collect();
    let listed = warnings(&format!("{HEAD}{many}"));
    assert_eq!(listed.len(), 17);
    assert_eq!(listed[16], r#"4 more unknown keys (in "/p/.workshop/dev.yaml")"#);
}

#[test]
fn an_error_lists_the_unknown_keys_that_may_explain_it() {
    assert_eq!(
        parse_err("name: dev\nbse: ubuntu@24.04\n"),
        "workshop definition YAML:\nmissing key \"base\" at line 1, column 1\n\
         unknown key \"bse\" at line 2, column 1 (did you mean \"base\"?) (in \"/p/.workshop/dev.yaml\")"
    );
}

#[test]
fn type_errors_have_location() {
    assert_eq!(
        parse_err("name: dev\nbase: ubuntu@24.04\nsdks: uv\n"),
        "workshop definition YAML:\nsdks: invalid type: string \"uv\", expected a sequence at line 3, column 7 (in \"/p/.workshop/dev.yaml\")"
    );
    // A key given twice: where the second one is.
    assert_eq!(
        parse_err("name: dev\nbase: ubuntu@24.04\nactions:\n  a: x\nbase: ubuntu@22.04\n"),
        "workshop definition YAML:\nduplicate entry with key \"base\" at line 5, column 1 (in \"/p/.workshop/dev.yaml\")"
    );
    // The expected shape is said in words, not as a type of the program.
    assert_eq!(
        parse_err("name: dev\nbase: ubuntu@24.04\nsdks: [uv]\n"),
        "workshop definition YAML:\nsdks[0]: invalid type: string \"uv\", expected an SDK: a map with its name (and channel) at line 3, column 8 (in \"/p/.workshop/dev.yaml\")"
    );
    assert_eq!(
        parse_err("name: dev\nbase: ubuntu@24.04\nconnections: [x]\n"),
        "workshop definition YAML:\nconnections[0]: invalid type: string \"x\", expected a connection: a map with its plug and slot at line 3, column 15 (in \"/p/.workshop/dev.yaml\")"
    );
    assert_eq!(
        parse_err("just text\n"),
        "workshop definition YAML:\ninvalid type: string \"just text\", expected a workshop definition: a map with its name, base, sdks, ... at line 1, column 1 (in \"/p/.workshop/dev.yaml\")"
    );
    assert_eq!(
        parse_err("base: ubuntu@24.04\n"),
        "workshop definition YAML:\nmissing key \"name\" at line 1, column 1 (in \"/p/.workshop/dev.yaml\")"
    );
    assert_eq!(
        parse_err("name: dev\nbase: [ubuntu\n"),
        "workshop definition YAML:\ndid not find expected ',' or ']' at line 3, column 1, while parsing a flow sequence at line 2, column 7 (in \"/p/.workshop/dev.yaml\")"
    );
    assert_eq!(
        parse_err("name: dev\nbase: ubuntu@24.04\nsdks:\n  - name: a\n    plugs:\n      p: [1]\n"),
        "workshop definition YAML:\nsdks[0].plugs.p: invalid type: sequence, expected a plug definition at line 6, column 10 (in \"/p/.workshop/dev.yaml\")"
    );
    let err = parse_err(
        "name: dev\nbase: ubuntu@24.04\nsdks:\n  - name: a\n    plugs:\n      p:\n        bind: b:c\n        label: x\n",
    );
    assert!(
        err.contains("sdks[0].plugs.p: plug is bound to \"b:c\" and must not define other attributes"),
        "{err}"
    );
}

#[test]
fn empty_files_are_refused() {
    for text in ["", "\n", "# nothing\n"] {
        assert_eq!(
            parse_err(text),
            r#"empty workshop definition (it needs at least "name" and "base") (in "/p/.workshop/dev.yaml")"#
        );
    }
}

#[test]
fn malformed_connection_reference() {
    let err = parse_err(
        "name: ws-ref\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-mount\nconnections:\n  - plug: test-sdk-mount\n    slot: system:mount\n",
    );
    assert!(
        err.ends_with("connections[0].plug: \"test-sdk-mount\" is not a valid plug or slot reference (use <sdk>:<plug or slot>) at line 6, column 11 (in \"/p/.workshop/dev.yaml\")"),
        "{err}"
    );
}

const HEAD: &str = "name: ws\nbase: ubuntu@22.04\n";

#[test]
fn name_rules() {
    assert_eq!(
        invalid("name: Dev\nbase: ubuntu@24.04\n"),
        "a workshop's name must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them (name)"
    );
    let long = "a".repeat(41);
    assert_eq!(
        invalid(&format!("name: {long}\nbase: ubuntu@24.04\n")),
        format!("workshop name \"{long}\" too long (name)")
    );
    load_ok(&format!("name: {}\nbase: ubuntu@24.04\n", "a".repeat(40)));
}

#[test]
fn base_rules() {
    for base in SUPPORTED_BASES {
        load_ok(&format!("name: ws\nbase: {base}\n"));
    }
    assert_eq!(
        invalid("name: ws\nbase: ubuntu@18.04\n"),
        format!("{} (base)", unsupported_base("ubuntu@18.04"))
    );
}

#[test]
fn sdk_name_rules() {
    let sdks = |entries: &str| format!("{HEAD}sdks:\n{entries}");
    assert_eq!(
        invalid(&sdks("  - name: uv\n  - name: try-system\n")),
        "\"system\" is a reserved SDK name (sdks[1].name)"
    );
    assert_eq!(invalid(&sdks("  - name: agent\n")), "\"agent\" is a reserved SDK name (sdks[0].name)");
    assert_eq!(invalid(&sdks("  - name: Bad_Name\n")), "invalid SDK name \"Bad_Name\" (sdks[0].name)");
    let long = "a".repeat(41);
    assert_eq!(
        invalid(&sdks(&format!("  - name: project-{long}\n"))),
        format!("SDK name \"{long}\" too long (sdks[0].name)")
    );
    assert_eq!(
        invalid(&sdks("  - name: project-test-sdk-basic-2\n  - name: project-test-sdk-basic-2\n")),
        "\"test-sdk-basic-2\" SDK must only be included once (sdks[1].name)"
    );
    assert_eq!(
        invalid(&sdks("  - name: uv\n  - name: try-uv\n")),
        "\"uv\" SDK must only be included once (sdks[1].name)"
    );
    load_ok(&sdks("  - name: system\n  - name: uv\n  - name: try-jq\n  - name: project-x\n"));
}

#[test]
fn channel_rules() {
    assert_eq!(
        invalid(&format!("{HEAD}sdks:\n  - name: uv\n    channel: cpu/unstable\n")),
        "\"uv\" SDK: invalid risk \"unstable\" in channel \"cpu/unstable\" (sdks[0].channel)"
    );
    // Validated even where it is ignored.
    assert!(
        invalid(&format!("{HEAD}sdks:\n  - name: project-x\n    channel: a/b/c/d\n"))
            .ends_with("has too many components (sdks[0].channel)")
    );
    load_ok(&format!("{HEAD}sdks:\n  - name: uv\n    channel: 22/edge/fix-1\n"));
}

#[test]
fn plug_and_slot_rules() {
    let with = |body: &str| format!("{HEAD}sdks:\n  - name: uv\n{body}");
    assert_eq!(invalid(&with("    plugs:\n      Bad:\n")), "invalid plug name: \"Bad\" (sdks[0].plugs.Bad)");
    assert_eq!(invalid(&with("    slots:\n      s_1:\n")), "invalid slot name: \"s_1\" (sdks[0].slots.s_1)");
    assert_eq!(
        invalid(&with("    plugs:\n      p:\n        interface: Mount\n")),
        "invalid interface name \"Mount\" for plug \"p\" (sdks[0].plugs.p)"
    );
    assert_eq!(
        invalid(&with("    slots:\n      s:\n        interface: mount\n        $x: 1\n")),
        "slot \"s\" uses reserved attribute \"$x\" (sdks[0].slots.s)"
    );
    assert_eq!(
        invalid(&with("    plugs:\n      p:\n        interface: mount\n        '': 1\n")),
        "plug \"p\" has an empty attribute key (sdks[0].plugs.p)"
    );
}

#[test]
fn bind_rules() {
    let sdks = |entries: &str| format!("{HEAD}sdks:\n{entries}");
    assert_eq!(
        invalid(&sdks("  - name: system\n    plugs:\n      p:\n        bind: a:q\n  - name: a\n")),
        "cannot bind system SDK plug \"system:p\" (sdks[0].plugs.p)"
    );
    assert_eq!(
        invalid(&sdks("  - name: a\n    plugs:\n      p:\n        bind: system:mount\n")),
        "cannot bind to system SDK plug \"system:mount\" (sdks[0].plugs.p)"
    );
    assert_eq!(
        invalid(&sdks("  - name: a\n    plugs:\n      p:\n        bind: :mount\n")),
        "cannot bind to system SDK plug \"system:mount\" (sdks[0].plugs.p)"
    );
    assert_eq!(
        invalid(&sdks("  - name: a\n    plugs:\n      p:\n        bind: b:q\n")),
        "cannot bind plug \"b:q\": SDK \"b\" not found (sdks[0].plugs.p)"
    );
    assert_eq!(
        invalid(&sdks("  - name: a\n    plugs:\n      p:\n        bind: a:p\n")),
        "cannot bind plug \"a:p\" to itself (sdks[0].plugs.p)"
    );
    assert_eq!(
        invalid(&sdks(
            "  - name: a\n    plugs:\n      p:\n        bind: b:q\n  - name: b\n    plugs:\n      q:\n        bind: c:r\n  - name: c\n"
        )),
        "cannot bind \"b:q\" to \"c:r\": plug \"b:q\" is already bound (sdks[1].plugs.q)"
    );
    // The sketch SDK is implicit, so it can be bound to.
    load_ok(&sdks("  - name: a\n    plugs:\n      p:\n        bind: sketch:q\n"));
}

#[test]
fn connection_rules() {
    let base = format!(
        "{HEAD}sdks:\n  - name: project-a\n    plugs:\n      p:\n        bind: b:q\n  - name: b\nconnections:\n"
    );
    assert_eq!(
        invalid(&format!("{base}  - plug: a:p\n    slot: system:mount\n")),
        "cannot connect plug \"a:p\" to slot \"system:mount\": plug is bound (connections[0].plug)"
    );
    assert_eq!(
        invalid(&format!("{base}  - plug: b:q\n    slot: c:s\n")),
        "cannot connect plug \"b:q\" to slot \"c:s\": workshop \"ws\" has no SDK named \"c\" (connections[0].slot)"
    );
    assert_eq!(
        invalid(&format!("{base}  - plug: b:q\n    slot: b:s\n  - plug: z:q\n    slot: :mount\n")),
        "cannot connect plug \"z:q\" to slot \"system:mount\": workshop \"ws\" has no SDK named \"z\" (connections[1].plug)"
    );
    assert_eq!(
        invalid(&format!("{base}  - plug: 'b:'\n    slot: :mount\n")),
        "invalid plug name: \"\" (connections[0].plug)"
    );
    // Implicit SDKs need not be listed, even with no SDK listed at all.
    load_ok(&format!("{HEAD}connections:\n  - plug: system:web\n    slot: sketch:http\n"));
}

#[test]
fn plugs_and_slots_fit_the_name_of_their_lxd_device() {
    let fits = "p".repeat(64 - "tools".len() - 1);
    load_ok(&format!(
        "{HEAD}sdks:\n  - name: project-tools\n    plugs:\n      {fits}: {{interface: mount, workshop-target: /x}}\n"
    ));
    let long = format!("{fits}q");
    let err = invalid(&format!(
        "{HEAD}sdks:\n  - name: project-tools\n    slots:\n      {long}: {{interface: mount, workshop-source: /x}}\n"
    ));
    assert!(
        err.starts_with(&format!("slot name \"{long}\" too long: of SDK \"tools\", at most 58 characters")),
        "{err}"
    );
}

#[test]
fn action_rules() {
    assert_eq!(
        invalid(&format!("{HEAD}actions:\n  Build: make\n")),
        "action name \"Build\" must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them (actions.Build)"
    );
    let empty = invalid(&format!("{HEAD}actions:\n  \"\": make\n"));
    assert!(empty.ends_with("(actions.\"\")"), "{empty}");
    let dotted = invalid(&format!("{HEAD}actions:\n  a.b: make\n"));
    assert!(dotted.ends_with("(actions.\"a.b\")"), "{dotted}");
}

#[test]
fn load_names_the_file_for_rule_errors() {
    let err = load("name: Dev\nbase: ubuntu@24.04\n", Path::new(PATH)).unwrap_err();
    assert!(
        err.to_string().starts_with("a workshop's name must: (1)")
            && err.to_string().ends_with(" (name in \"/p/.workshop/dev.yaml\")"),
        "{err}"
    );
}

#[test]
fn plain_scalars_read_as_strings() {
    let file = load_ok(
        "name: ws\nbase: ubuntu@24.04\nsdks:\n  - name: uv\n    channel: 22\nactions:\n  answer: 42\n",
    );
    assert_eq!(file.sdks[0].channel.as_deref(), Some("22"));
    assert_eq!(file.actions["answer"], "42");
}

#[test]
fn attributes_of_any_shape_survive_normalisation() {
    let file = load_ok(
        "name: dev\nbase: ubuntu@24.04\nsdks:\n  - name: a\n    plugs:\n      p:\n        interface: mount\n        nested: {a: [1, {b: c}]}\n        script: \"one\\ntwo\\n\"\n",
    );
    let yaml = file.to_yaml();
    assert!(yaml.contains("        script: |\n          one\n          two\n"), "{yaml}");
    assert!(yaml.contains("        nested:\n          a:\n            - 1\n            - b: c\n"), "{yaml}");
    assert_eq!(load_ok(&yaml), file);
}

#[test]
fn deeply_nested_flow_collections_are_refused_before_reading() {
    // Found by review of the property tests: a 1 MiB file of "[" kept the reader busy for
    // minutes (its time grows with nesting times length).
    let text = format!("name: ws\nbase: ubuntu@24.04\nx: {}", "[".repeat(1 << 20));
    let started = std::time::Instant::now();
    let err = crate::definition::load(&text, Path::new("/p/workshop.yaml")).unwrap_err().to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(
        err,
        "flow collections ([...], {...}) nested deeper than 256 levels at line 3, column 260 \
         (in \"/p/workshop.yaml\")"
    );
    // Balanced brackets in scripts are nothing to worry about.
    let script = "if [ -f x ]; then echo ${HOME}; fi; ".repeat(1000);
    load_ok(&format!("name: ws\nbase: ubuntu@24.04\nactions:\n  t: \"{script}\"\n"));
}

/// The reference's messages for definition files (§3, ER-01, ER-03, I-07), and the
/// definitions that get them: ours start with the reference's words (the key and the file
/// follow), both from the rules alone and when a file is loaded.
#[test]
fn reference_messages() {
    let sdks = |entries: &str| format!("{HEAD}sdks:\n{entries}");
    let table: Vec<(&str, String)> = vec![
        (
            "a workshop's name must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them",
            "name: Dev\nbase: ubuntu@24.04\n".into(),
        ),
        (
            "workshop name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" too long",
            format!("name: {}\nbase: ubuntu@24.04\n", "a".repeat(41)),
        ),
        (
            "base \"ubuntu@18.04\" not supported; valid bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, ubuntu@26.04, debian@12",
            "name: ws\nbase: ubuntu@18.04\n".into(),
        ),
        ("\"uv\" SDK must only be included once", sdks("  - name: uv\n  - name: uv\n")),
        (
            "\"test-sdk-basic-2\" SDK must only be included once",
            sdks("  - name: project-test-sdk-basic-2\n  - name: project-test-sdk-basic-2\n"),
        ),
        ("\"agent\" is a reserved SDK name", sdks("  - name: agent\n")),
        ("\"system\" is a reserved SDK name", sdks("  - name: try-system\n")),
        ("invalid SDK name \"Bad_Name\"", sdks("  - name: Bad_Name\n")),
        ("\"uv\" SDK: ", sdks("  - name: uv\n    channel: cpu/unstable\n")),
        ("invalid plug name: \"Bad\"", sdks("  - name: uv\n    plugs:\n      Bad:\n")),
        ("invalid slot name: \"s_1\"", sdks("  - name: uv\n    slots:\n      s_1:\n")),
        (
            "invalid interface name \"Mount\" for plug \"p\"",
            sdks("  - name: uv\n    plugs:\n      p:\n        interface: Mount\n"),
        ),
        (
            "cannot bind system SDK plug \"system:p\"",
            sdks("  - name: system\n    plugs:\n      p:\n        bind: a:q\n  - name: a\n"),
        ),
        (
            "cannot bind to system SDK plug \"system:mount\"",
            sdks("  - name: a\n    plugs:\n      p:\n        bind: system:mount\n"),
        ),
        (
            "cannot bind plug \"b:q\": SDK \"b\" not found",
            sdks("  - name: a\n    plugs:\n      p:\n        bind: b:q\n"),
        ),
        (
            "cannot bind plug \"a:p\" to itself",
            sdks("  - name: a\n    plugs:\n      p:\n        bind: a:p\n"),
        ),
        (
            "cannot bind \"b:q\" to \"c:r\": plug \"b:q\" is already bound",
            sdks(
                "  - name: a\n    plugs:\n      p:\n        bind: b:q\n  - name: b\n    plugs:\n      q:\n        bind: c:r\n  - name: c\n",
            ),
        ),
        (
            "cannot connect plug \"a:p\" to slot \"system:mount\": plug is bound",
            sdks(
                "  - name: a\n    plugs:\n      p:\n        bind: b:q\n  - name: b\nconnections:\n  - plug: a:p\n    slot: system:mount\n",
            ),
        ),
        (
            "cannot connect plug \"b:q\" to slot \"c:s\": workshop \"ws\" has no SDK named \"c\"",
            sdks("  - name: b\nconnections:\n  - plug: b:q\n    slot: c:s\n"),
        ),
        (
            "action name \"Build\" must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them",
            format!("{HEAD}actions:\n  Build: make\n"),
        ),
    ];
    for (reference, text) in &table {
        let rule = invalid(text);
        assert!(rule.starts_with(reference), "reference: {reference:?}\nours:      {rule:?}");
        let loaded = load(text, Path::new(PATH)).unwrap_err().to_string();
        assert!(loaded.starts_with(reference), "reference: {reference:?}\nours:      {loaded:?}");
        assert!(loaded.ends_with(&format!(" in \"{PATH}\")")), "{loaded}");
    }
    // Found while reading the file, so within the YAML reader's message (ER-03).
    let malformed = parse_err(&sdks(
        "  - name: project-test-sdk-mount\nconnections:\n  - plug: test-sdk-mount\n    slot: system:mount\n",
    ));
    assert!(malformed.starts_with("workshop definition YAML:\n"), "{malformed}");
    assert!(
        malformed
            .contains("\"test-sdk-mount\" is not a valid plug or slot reference (use <sdk>:<plug or slot>)"),
        "{malformed}"
    );
}
