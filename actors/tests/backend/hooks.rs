//! SDK hooks run the way the hook manager runs them (`hook::invocation::exec_spec`), in a
//! real workshop: as whom and where, with which environment, errexit, pipefail and xtrace,
//! both output streams as one, and the hooks that are skipped (missing, not a regular file,
//! reached through a symlink). The guest contract the daemon provides at start (the
//! `workshop` user, `workshop-exec`, `/project`) is set up here by hand.

use std::time::Duration;

use workshop_actors::backend::lxd::LxdBackend;
use workshop_actors::backend::{Backend, BackendError, GuestFile, Target};
use workshop_actors::managers::hook::invocation::{self, Ran};
use workshop_actors::managers::hook::{Hook, HookSetup};

use crate::common::{self, UserGuard};

/// The daemon's user switch, installed by workshopd into every workshop.
const WORKSHOP_EXEC: &str = include_str!("../../../src/guest/workshop-exec");
const COOKIE: &str = "0123456789abcdefghijABCDEFGHIJxy";

async fn push(backend: &LxdBackend, target: &Target, path: &str, content: &str, mode: u32) {
    let file = GuestFile { path: path.into(), content: content.as_bytes().to_vec(), uid: 0, gid: 0, mode };
    backend.push_file(target, &file).await.unwrap_or_else(|e| panic!("push {path}: {e}"));
}

async fn sh(backend: &LxdBackend, target: &Target, script: &str) {
    let out = backend.run(target, &common::command(&["sh", "-ec", script])).await.unwrap();
    assert_eq!(out.exit_code, 0, "{script}: {}", out.combined());
}

/// Runs `hook` of `sdk` as the hook manager would.
async fn run(
    backend: &LxdBackend,
    target: &Target,
    sdk: &str,
    hook: Hook,
    verbose: bool,
) -> Result<Ran, BackendError> {
    run_within(backend, target, sdk, hook, verbose, Duration::from_secs(60)).await
}

async fn run_within(
    backend: &LxdBackend,
    target: &Target,
    sdk: &str,
    hook: Hook,
    verbose: bool,
    limit: Duration,
) -> Result<Ran, BackendError> {
    let setup = HookSetup { sdk: sdk.into(), hook, timeout: None };
    let spec = invocation::exec_spec(&setup, COOKIE, verbose, limit);
    backend.run(target, &spec).await.map(Ran::of)
}

fn finished(ran: Ran) -> (i32, String) {
    match ran {
        Ran::Finished { code, output, .. } => (code, String::from_utf8(output).unwrap()),
        Ran::Skipped => panic!("the hook was skipped"),
    }
}

#[actix_rt::test]
async fn hooks_run_as_the_reference_says() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;
    let target = common::target(&user, "hooks");
    backend.create(&target, &common::spec(&image)).await.expect("create");
    backend.start(&target).await.expect("start");
    backend.wait_ready(&target).await.expect("init system up");
    sh(&backend, &target, "id -u workshop >/dev/null 2>&1 || useradd --uid 1000 --user-group --create-home --shell /bin/bash workshop; mkdir -p /project").await;
    push(&backend, &target, "/var/lib/workshop/bin/workshop-exec", WORKSHOP_EXEC, 0o755).await;

    // Hooks are plain bash: no shebang, no execute bit.
    let hooks = "/var/lib/workshop/sdk/demo/sdk/hooks";
    push(&backend, &target, &format!("{hooks}/setup-base"), "echo \"base $(id -u):$(id -g) in $PWD SDK=$SDK cookie=$WORKSHOP_COOKIE\"\necho to-stderr >&2\necho after\n", 0o644).await;
    push(&backend, &target, &format!("{hooks}/setup-project"), "echo \"project $(id -un):$(id -gn) in $PWD HOME=$HOME USER=$USER LANG=$LANG XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR DBUS=$DBUS_SESSION_BUS_ADDRESS\"\n", 0o644).await;
    push(
        &backend,
        &target,
        &format!("{hooks}/save-state"),
        "test -d \"$SDK_STATE_DIR\"\necho \"state $SDK_STATE_DIR\"\n",
        0o644,
    )
    .await;
    push(
        &backend,
        &target,
        &format!("{hooks}/restore-state"),
        "false | true\necho pipefail-did-not-stop-me\n",
        0o644,
    )
    .await;
    push(
        &backend,
        &target,
        &format!("{hooks}/check-health"),
        "echo before\nfalse\necho errexit-did-not-stop-me\n",
        0o644,
    )
    .await;

    let (code, out) = finished(run(&backend, &target, "demo", Hook::SetupBase, false).await.unwrap());
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        format!("base 0:0 in {hooks} SDK=/var/lib/workshop/sdk/demo cookie={COOKIE}\nto-stderr\nafter\n"),
        "root, in the hooks directory, both streams in order"
    );
    let (code, out) = finished(run(&backend, &target, "demo", Hook::SetupProject, false).await.unwrap());
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "project workshop:workshop in /project HOME=/home/workshop USER=workshop LANG=C.UTF-8 XDG_RUNTIME_DIR=/run/user/1000 DBUS=unix:path=/run/user/1000/bus\n"
        )
    );
    let (code, out) = finished(run(&backend, &target, "demo", Hook::SaveState, false).await.unwrap());
    assert_eq!(
        (code, out.as_str()),
        (0, "state /var/lib/workshop/state/sdk/demo\n"),
        "save-state has its directory"
    );
    let (code, out) = finished(run(&backend, &target, "demo", Hook::RestoreState, false).await.unwrap());
    assert_eq!((code, out.as_str()), (1, ""), "pipefail");
    let (code, out) = finished(run(&backend, &target, "demo", Hook::CheckHealth, false).await.unwrap());
    assert_eq!((code, out.as_str()), (1, "before\n"), "errexit");

    // --verbose traces the hook's commands.
    let (code, out) = finished(run(&backend, &target, "demo", Hook::SetupBase, true).await.unwrap());
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l == "+ echo after"), "{out}");

    // Skipped: a missing hook, an SDK without hooks, a directory, a symlinked hook or a
    // hook reached through a symlinked directory (it could point anywhere the workshop writes).
    sh(&backend, &target, &format!("mkdir -p {hooks}/../../../other /var/lib/workshop/sdk/odd/sdk/hooks/setup-base /tmp/elsewhere\n\
         echo 'echo linked' > /tmp/elsewhere/setup-base\n\
         ln -sfn /tmp/elsewhere/setup-base /var/lib/workshop/sdk/odd/sdk/hooks/setup-project\n\
         mkdir -p /var/lib/workshop/sdk/viadir/sdk && ln -sfn /tmp/elsewhere /var/lib/workshop/sdk/viadir/sdk/hooks")).await;
    let skipped = [
        ("demo-missing", Hook::SetupBase),
        ("other", Hook::SetupBase),
        ("odd", Hook::SetupBase),
        ("odd", Hook::SetupProject),
        ("viadir", Hook::SetupBase),
    ];
    for (sdk, hook) in skipped {
        assert_eq!(run(&backend, &target, sdk, hook, false).await.unwrap(), Ran::Skipped, "{sdk} {hook:?}");
    }

    // A hook past its time is killed.
    push(&backend, &target, &format!("{hooks}/setup-base"), "sleep 30\n", 0o644).await;
    let slow = run_within(&backend, &target, "demo", Hook::SetupBase, false, Duration::from_secs(2)).await;
    assert!(matches!(slow, Err(BackendError::TimedOut { .. })), "{slow:?}");
}
