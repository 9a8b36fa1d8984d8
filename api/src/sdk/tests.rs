use super::*;

fn strict(text: &str) -> Result<SdkInfo, SdkYamlError> {
    SdkInfo::parse(text, Strictness::Strict)
}

fn error(text: &str) -> String {
    strict(text).unwrap_err().to_string()
}

#[test]
fn every_key_is_read() {
    let text = r#"
name: dotfiles-sdk
base: ubuntu@22.04
architecture: all
version: 1.0
title: Dotfiles
summary: A summary
description: |
  Longer.
license: MIT
type: regular
sdkcraft-started-at: "2026-05-14T00:00:00.000000+00:00"
plugs:
  ssh-agent:
  data: camera
  one:
    interface: mount
    label: One
    workshop-target: /mnt/one
slots:
  jobs:
    interface: mount
    workshop-source: $SDK/jobs
"#;
    let info = strict(text).unwrap();
    assert_eq!(info.name, "dotfiles-sdk");
    assert_eq!(info.base, "ubuntu@22.04");
    assert_eq!(info.architecture, "all");
    // A number is read as it is written, like the reference (not as 1).
    assert_eq!(info.version, "1.0");
    assert_eq!((info.title.as_str(), info.summary.as_str()), ("Dotfiles", "A summary"));
    assert_eq!((info.description.as_str(), info.license.as_str()), ("Longer.\n", "MIT"));
    assert_eq!(info.sdk_type, SdkType::Regular);
    assert_eq!(info.built_at.unwrap().to_rfc3339(), "2026-05-14T00:00:00+00:00");
    assert_eq!(info.plugs["ssh-agent"].interface_name("ssh-agent"), "ssh-agent");
    assert_eq!(info.plugs["data"].interface.as_deref(), Some("camera"));
    let one = &info.plugs["one"];
    assert_eq!((one.interface.as_deref(), one.label.as_deref()), (Some("mount"), Some("One")));
    assert_eq!(one.attributes["workshop-target"], Value::from("/mnt/one"));
    assert_eq!(info.slots["jobs"].attributes["workshop-source"], Value::from("$SDK/jobs"));
    assert!(info.bad.is_empty());
    assert_eq!(info.check_installable(), Ok(()));
}

#[test]
fn empty_and_null_values_read_as_empty() {
    let info = strict("name: x\nbase:\nplugs:\nslots: ~\n").unwrap();
    assert_eq!(info.base, "");
    assert!(info.plugs.is_empty() && info.slots.is_empty());
    // An empty file has no name, which the workshop then refuses.
    assert_eq!(error(""), "invalid SDK name \"\"");
    assert_eq!(error("# nothing\n"), "invalid SDK name \"\"");
}

#[test]
fn strict_reading_names_every_unknown_key_with_its_place() {
    assert_eq!(
        error("name: valid\nzzz-field: later\naaa-field: first\n"),
        "unknown SDK YAML fields: zzz-field (line 2, column 1), aaa-field (line 3, column 1)"
    );
    // No `hooks:` key: hooks are files.
    assert_eq!(
        error("name: x\nhooks:\n  setup-base: echo\n"),
        "unknown SDK YAML fields: hooks (line 2, column 1)"
    );
    let many: String = (0..20).map(|i| format!("k{i}: 1\n")).collect();
    assert!(error(&format!("name: x\n{many}")).ends_with("k15 (line 17, column 1) and 4 more"));
}

#[test]
fn lenient_reading_ignores_unknown_keys() {
    let info = SdkInfo::parse("name: x\nhooks: 1\nextra: [a]\n", Strictness::Lenient).unwrap();
    assert_eq!(info.name, "x");
}

#[test]
fn plug_names_fit_the_name_of_their_lxd_device() {
    let long = "p".repeat(60);
    let err = error(&format!("name: tools\nplugs:\n  {long}: mount\n"));
    assert!(
        err.contains(&format!("plug name \"{long}\" too long: of SDK \"tools\", at most 58 characters")),
        "{err}"
    );
}

#[test]
fn yaml_and_type_errors() {
    assert!(error("name: [x").starts_with("SDK definition YAML:\n"), "{}", error("name: [x"));
    let typed = error("name: x\nplugs: [a]\n");
    assert!(typed.starts_with("SDK definition YAML:\nplugs: invalid type: sequence"), "{typed}");
    let scalar = error("just text\n");
    assert!(scalar.contains("expected an SDK definition: a map with its name"), "{scalar}");
    let deep = format!("name: {}", "[".repeat(300));
    assert!(error(&deep).starts_with("flow collections ([...], {...}) nested deeper than 256 levels"));
}

#[test]
fn rules_of_every_sdk() {
    let cases = [
        ("name: invalid.name", "invalid SDK name \"invalid.name\""),
        ("name: try-x", "\"try-x\" is a reserved SDK name"),
        ("name: agent", "\"agent\" is a reserved SDK name"),
        (
            "name: x\nbase: ubuntu@18.04",
            "invalid SDK base \"ubuntu@18.04\"; supported bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, ubuntu@26.04, debian@12",
        ),
        (
            "name: x\narchitecture: x86_64",
            "invalid SDK architecture \"x86_64\"; supported architectures: amd64, arm64, armhf, i386, ppc64el, riscv64, s390x",
        ),
        ("name: x\ntype: system", "type \"system\" is reserved for the system SDK"),
        ("name: x\ntype: app", "invalid SDK type \"app\" (want \"regular\")"),
        (
            "name: x\nsdkcraft-started-at: yesterday",
            "invalid sdkcraft-started-at \"yesterday\": not an RFC 3339 time",
        ),
        ("name: x\nplugs:\n  Bad:", "invalid plug name: \"Bad\""),
        ("name: x\nslots:\n  a--b:", "invalid slot name: \"a--b\""),
        ("name: x\nplugs:\n  p: Mount", "invalid interface name \"Mount\" for plug \"p\""),
        ("name: x\nplugs:\n  p:\n    $x: 1", "plug \"p\" uses reserved attribute \"$x\""),
        ("name: x\nslots:\n  s:\n    '': 1", "slot \"s\" has an empty attribute key"),
        (
            "name: x\nplugs:\n  p:\n    interface: 3",
            "interface name on plug \"p\" is not a string (found a number)",
        ),
        ("name: x\nplugs:\n  p:\n    label: [x]", "label of plug \"p\" is not a string (found a list)"),
        ("name: x\nplugs:\n  p: [mount]", "plug \"p\" has malformed definition (found a list)"),
        ("name: x\nslots:\n  s: 3", "slot \"s\" has malformed definition (found a number)"),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), want, "{text}");
    }
    assert_eq!(strict("name: system\ntype: system").unwrap().sdk_type, SdkType::System);
}

#[test]
fn bad_plugs_and_slots_are_set_aside_and_refuse_installation() {
    let text = "name: test-sdk\nplugs:\n  one:\n    interface: mount\n    workshop-target: /mnt/one\n  \
                printer:\n  network:\n  two:\n    interface: mount\nslots:\n  db: database\n  ok: tunnel\n";
    let info = strict(text).unwrap();
    assert_eq!(info.plugs.keys().collect::<Vec<_>>(), ["one"]);
    assert_eq!(info.slots.keys().collect::<Vec<_>>(), ["ok"]);
    assert_eq!(info.bad.len(), 4);
    assert_eq!(
        info.check_installable().unwrap_err().to_string(),
        "\"test-sdk\" SDK has bad plugs or slots: two (mount plug must contain \"workshop-target\"); \
         db (unknown interface \"database\"); network (unknown interface \"network\"); \
         printer (unknown interface \"printer\")"
    );
}

#[test]
fn an_sdk_is_held_to_its_workshop() {
    let info = strict("name: uv\nbase: ubuntu@24.04\narchitecture: amd64\n").unwrap();
    assert_eq!(info.check_for("uv", "ubuntu@24.04", "amd64"), Ok(()));
    assert_eq!(
        info.check_for("python", "ubuntu@24.04", "amd64").unwrap_err().to_string(),
        "SDK must be named \"python\" (now: \"uv\")"
    );
    assert_eq!(
        info.check_for("uv", "ubuntu@22.04", "amd64").unwrap_err().to_string(),
        "\"uv\" SDK has \"ubuntu@24.04\" base; required: \"ubuntu@22.04\""
    );
    assert_eq!(
        info.check_for("uv", "ubuntu@24.04", "arm64").unwrap_err().to_string(),
        "\"uv\" SDK has \"amd64\" architecture; required: \"arm64\" or \"all\""
    );
    let any = strict("name: uv\narchitecture: all\n").unwrap();
    assert_eq!(any.check_for("uv", "debian@12", "riscv64"), Ok(()));
}

#[test]
fn load_names_the_sdk_in_reading_errors() {
    let err =
        SdkInfo::load("name: x\nbogus: 1\n", Strictness::Strict, "x", "ubuntu@24.04", "amd64").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid \"x\" SDK definition: unknown SDK YAML fields: bogus (line 2, column 1)"
    );
    let err = SdkInfo::load("name: y\n", Strictness::Lenient, "x", "ubuntu@24.04", "amd64").unwrap_err();
    assert_eq!(err.to_string(), "SDK must be named \"x\" (now: \"y\")");
}

#[test]
fn the_host_architecture_is_a_debian_one() {
    assert!(ARCHITECTURES.contains(&host_architecture()), "{}", host_architecture());
}
