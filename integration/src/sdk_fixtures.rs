//! The local SDK fixtures of the acceptance scenarios ("Local SDK fixtures" in
//! ../shared/spec/acceptance-public.md, and the SDKs that cases H-01, H-03, H-05, K-01, K-05
//! and K-07 define inline), written into a project's `.workshop/` directory. Hooks are plain
//! bash fragments: no shebang, no execute bit.

use std::os::unix::fs::PermissionsExt;

use crate::Project;

/// A local SDK: its directory under `.workshop/` and its files.
#[derive(Debug, Clone)]
pub struct LocalSdk {
    pub dir: &'static str,
    files: Vec<(String, String, u32)>,
}

impl LocalSdk {
    fn new(dir: &'static str) -> Self {
        Self { dir, files: Vec::new() }
    }

    /// Adds `rel` (relative to the SDK's directory), not executable.
    fn file(mut self, rel: &str, content: &str) -> Self {
        self.files.push((rel.to_string(), content.to_string(), 0o644));
        self
    }

    /// Adds an executable `rel`.
    fn executable(mut self, rel: &str, content: &str) -> Self {
        self.files.push((rel.to_string(), content.to_string(), 0o755));
        self
    }

    /// Writes the SDK to `P/.workshop/<dir>/`, owned by the project's user.
    pub fn install(&self, p: &Project) {
        for (rel, content, mode) in &self.files {
            let rel = format!(".workshop/{}/{rel}", self.dir);
            p.write(&rel, content);
            std::fs::set_permissions(p.path.join(&rel), std::fs::Permissions::from_mode(*mode)).unwrap();
        }
    }

    /// `project-<dir>`, as a definition names it.
    pub fn project_name(&self) -> String {
        format!("project-{}", self.dir)
    }
}

/// A definition of workshop `name` on `base` with `sdks` (their `name:` entries as given).
pub fn definition(name: &str, base: &str, sdks: &[&str]) -> String {
    let mut text = format!("name: {name}\nbase: {base}\n");
    if !sdks.is_empty() {
        text.push_str("sdks:\n");
        for sdk in sdks {
            text.push_str(&format!("  - name: {sdk}\n"));
        }
    }
    text
}

/// FX-basic: a setup-project hook that prints a line.
pub fn basic() -> LocalSdk {
    LocalSdk::new("test-sdk-basic-2")
        .file("sdk.yaml", "name: test-sdk-basic-2\nversion: \"1.0\"\nsummary: A basic test SDK\n")
        .file("hooks/setup-project", "echo \"setup-project ran successfully!\"\n")
}

/// FX-setup-fail: `setup-base` fails unless `/home/workshop/setup-base-pass` exists.
pub fn setup_fail() -> LocalSdk {
    LocalSdk::new("test-sdk-setup-fail").file("sdk.yaml", "name: test-sdk-setup-fail\n").file(
        "hooks/setup-base",
        "if [ ! -e /home/workshop/setup-base-pass ]; then\n    echo \"Set up base failed!\"\n    exit 1\nfi\n",
    )
}

/// FX-health-ok: reports okay.
pub fn health_ok() -> LocalSdk {
    LocalSdk::new("test-sdk-health-ok")
        .file("sdk.yaml", "name: test-sdk-health-ok\n")
        .file("hooks/setup-base", "echo \"setup-base of test-sdk-health-ok\"\n")
        .file("hooks/check-health", "workshopctl set-health okay\n")
}

/// FX-health-waiting: `waiting` on its first three runs (each after 2 s), then okay.
pub fn health_waiting() -> LocalSdk {
    LocalSdk::new("test-sdk-health-waiting").file("sdk.yaml", "name: test-sdk-health-waiting\n").file(
        "hooks/check-health",
        r#"n=$(cat /root/counter 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > /root/counter
if [ "$n" -le 3 ]; then
    sleep 2
    workshopctl set-health waiting --code try-later "Cannot finish health check"
else
    workshopctl set-health okay
fi
"#,
    )
}

/// FX-health-error: reports an error.
pub fn health_error() -> LocalSdk {
    LocalSdk::new("test-sdk-health-error").file("sdk.yaml", "name: test-sdk-health-error\n").file(
        "hooks/check-health",
        "workshopctl set-health error --code unknown-problem \"Health check failed\"\n",
    )
}

/// A check-health hook that never reports within the 5 s a launch gives each run.
pub fn health_slow() -> LocalSdk {
    LocalSdk::new("test-sdk-health-slow")
        .file("sdk.yaml", "name: test-sdk-health-slow\n")
        .file("hooks/check-health", "sleep 20\nworkshopctl set-health okay\n")
}

/// A setup-project hook that calls `set-health`, which only check-health may.
pub fn health_from_setup_project() -> LocalSdk {
    LocalSdk::new("test-sdk-health-misplaced")
        .file("sdk.yaml", "name: test-sdk-health-misplaced\n")
        .file("hooks/setup-project", "workshopctl set-health okay\n")
}

/// A check-health hook that publishes its cookie in `/project/cookie`, waits up to 4 s for
/// `/project/go`, then reports okay: other workshops and users can be handed the cookie of
/// a running hook.
pub fn health_cookie_holder() -> LocalSdk {
    LocalSdk::new("test-sdk-health-cookie").file("sdk.yaml", "name: test-sdk-health-cookie\n").file(
        "hooks/check-health",
        r#"printf '%s' "$WORKSHOP_COOKIE" > /project/cookie
for _ in $(seq 1 40); do
    [ -e /project/go ] && break
    sleep 0.1
done
workshopctl set-health okay
"#,
    )
}

/// K-01: three SDKs in the three layouts (top-level `sdk.yaml` and `hooks/`; `sdk/hooks/`;
/// `meta/sdk.yaml`), whose hooks check their identity, environment and order.
pub fn k01() -> [LocalSdk; 3] {
    let one = LocalSdk::new("one")
        .file("sdk.yaml", "name: one\nplugs:\n  ssh-agent:\n")
        .file("hooks/setup-base", "mkdir /one\n")
        .file(
            "hooks/setup-project",
            r#"test -d /one/two/three
test "$(id -un)" = workshop
test "$(id -gn)" = workshop
test "$(pwd)" = /project
test "$HOME" = /home/workshop
test "$USER" = workshop
test "$LANG" = C.UTF-8
test "$SDK" = /var/lib/workshop/sdk/one
sudo touch /setup-project.log
"#,
        );
    let two = LocalSdk::new("two")
        .file("sdk.yaml", "name: two\nslots:\n  http:\n    interface: tunnel\n    endpoint: 8888\n")
        .file("sdk/hooks/setup-base", "mkdir /one/two\n");
    let three = LocalSdk::new("three")
        .file("meta/sdk.yaml", "name: three\n")
        .file("hooks/setup-base", "mkdir /one/two/three\n")
        .file(
            "hooks/save-state",
            "test \"$SDK_STATE_DIR\" = /var/lib/workshop/state/sdk/three\n\
             test \"$(stat -c %U:%G \"$SDK_STATE_DIR\" \"${SDK_STATE_DIR%/*}\")\" = \"workshop:workshop\nworkshop:workshop\"\n\
             touch \"$SDK_STATE_DIR/saved\"\n",
        )
        .file(
            "hooks/restore-state",
            "test \"$SDK_STATE_DIR\" = /var/lib/workshop/state/sdk/three\ncp \"$SDK_STATE_DIR/saved\" /restored-state\n",
        );
    [one, two, three]
}

/// K-01's definition: the three SDKs, `three` with a `desktop` plug of the definition's.
pub const K01_DEFINITION: &str = "\
name: dev
base: ubuntu@22.04
sdks:
  - name: project-one
  - name: project-two
  - name: project-three
    plugs:
      desktop:
";

/// K-05: a five-hook SDK (profile snippet, user files, health, state).
pub fn dotfiles() -> LocalSdk {
    LocalSdk::new("dotfiles-sdk")
        .file(
            "sdk.yaml",
            r#"name: dotfiles-sdk
base: ubuntu@22.04
summary: Dotfiles for the workshop user
description: Installs a bash alias and records who set the project up.
sdkcraft-started-at: "2026-05-14T00:00:00.000000+00:00"
"#,
        )
        .file("skel/.bash_aliases", "alias dotfiles-version='echo dotfiles-sdk'\n")
        .file("hooks/setup-base", "printf 'export DOTFILES_SDK=\"%s\"\\n' \"$SDK\" > /etc/profile.d/dotfiles.sh\n")
        .file(
            "hooks/setup-project",
            "id -u > \"$HOME/.dotfiles-uid\"\ninstall -m 644 \"$SDK/skel/.bash_aliases\" \"$HOME/.bash_aliases\"\n",
        )
        .file(
            "hooks/check-health",
            r#"if ! sudo -u workshop --login bash -c 'test -f "$HOME/.dotfiles-uid"'; then
    workshopctl set-health error "setup-project marker missing"
else
    workshopctl set-health okay
fi
"#,
        )
        .file(
            "hooks/save-state",
            "if [ -f /home/workshop/.dotfiles-uid ]; then cp /home/workshop/.dotfiles-uid \"$SDK_STATE_DIR/\"; fi\n",
        )
        .file(
            "hooks/restore-state",
            "if [ -f \"$SDK_STATE_DIR/.dotfiles-uid\" ]; then\n    install -o 1000 -g 1000 -m 644 \"$SDK_STATE_DIR/.dotfiles-uid\" /home/workshop/.dotfiles-restored-uid\nfi\n",
        )
}

/// K-07: an SDK whose payload goes on the PATH and whose check-health gates Ready.
pub fn build_demo() -> LocalSdk {
    LocalSdk::new("build-demo")
        .file("sdk.yaml", "name: build-demo\nversion: \"0.1.0\"\n")
        .executable("bin/hello-build-demo", "#!/bin/sh\necho hello-build-demo\n")
        .file(
            "hooks/setup-base",
            r#"mkdir -p /var/lib/build-demo
printf 'export PATH="%s/bin:$PATH"\n' "$SDK" > /etc/profile.d/build-demo.sh
echo "setup-base ran" > /var/lib/build-demo/setup-base.marker
"#,
        )
        .file(
            "hooks/setup-project",
            "[ -e \"$HOME/.build-demo.marker\" ] || echo \"setup-project ran\" > \"$HOME/.build-demo.marker\"\n",
        )
        .file(
            "hooks/check-health",
            r#"if [ ! -f /var/lib/build-demo/setup-base.marker ]; then
    workshopctl set-health error "setup-base marker is missing"
elif [ ! -f /home/workshop/.build-demo.marker ]; then
    workshopctl set-health error "setup-project marker is missing"
elif ! sudo -u workshop --login hello-build-demo >/dev/null; then
    workshopctl set-health error "hello-build-demo is not on the PATH"
else
    workshopctl set-health okay
fi
"#,
        )
        .file(
            "hooks/save-state",
            "if [ -f /home/workshop/.build-demo.marker ]; then cp /home/workshop/.build-demo.marker \"$SDK_STATE_DIR/marker\"; fi\n",
        )
        .file(
            "hooks/restore-state",
            "if [ -f \"$SDK_STATE_DIR/marker\" ]; then\n    install -o workshop -g workshop -m 644 \"$SDK_STATE_DIR/marker\" /home/workshop/.build-demo.marker\nfi\n",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_list_their_sdks() {
        assert_eq!(definition("ws", "ubuntu@22.04", &[]), "name: ws\nbase: ubuntu@22.04\n");
        assert_eq!(
            definition("ws-ok", "ubuntu@22.04", &[&health_ok().project_name()]),
            "name: ws-ok\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-health-ok\n"
        );
    }

    #[test]
    fn every_fixture_names_itself_and_hooks_are_not_executable() {
        let mut all = vec![
            basic(),
            health_ok(),
            health_waiting(),
            health_error(),
            health_slow(),
            dotfiles(),
            build_demo(),
        ];
        all.extend(k01());
        for sdk in all {
            let meta =
                sdk.files.iter().find(|(rel, ..)| rel == "sdk.yaml" || rel == "meta/sdk.yaml").unwrap();
            assert!(meta.1.starts_with(&format!("name: {}\n", sdk.dir)), "{}", sdk.dir);
            for (rel, _, mode) in &sdk.files {
                if rel.contains("hooks/") {
                    assert_eq!(*mode, 0o644, "{} {rel}", sdk.dir);
                }
            }
        }
    }
}
