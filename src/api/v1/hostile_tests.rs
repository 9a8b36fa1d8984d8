//! Hostile names and ids in every route's path, query and body: each is a 400 that names what
//! is wrong, before any lookup (the project ids used here do not exist, so a lookup would be a
//! 404). The daemon runs on the fake backend, as in the exec tests.

use super::exec::tests::{blocking, http, server};

/// Path segments that no name or id may be, percent-encoded as a client would send them, and
/// the text the daemon should quote for each.
const HOSTILE: &[(&str, &str)] = &[
    ("..%2F", r#"\"../\""#),
    ("..%2F..%2Fetc%2Fshadow", r#"\"../../etc/shadow\""#),
    ("..", r#"\"..\""#),
    ("%00", r#"\"\\0\""#),
    ("a%00b", r#"\"a\\0b\""#),
    ("", r#"\"\""#),
    ("UPPER", r#"\"UPPER\""#),
    ("a%2Fb", r#"\"a/b\""#),
    ("a%20b", r#"\"a b\""#),
    ("%C3%A9", r#"\"é\""#),
    ("a--b", r#"\"a--b\""#),
];

/// A project id that is well formed but unknown.
const UNKNOWN_PROJECT: &str = "00000000";

fn assert_400(method: &str, path: &str, body: &str, (status, text): (u16, String), want: &str) {
    assert_eq!(status, 400, "{method} {path} {body}: {text}");
    assert!(text.contains(want), "{method} {path} {body}: want {want:?} in {text}");
}

#[actix_web::test]
async fn hostile_path_segments_are_refused_by_name() {
    let s = server().await;
    let socket = s.socket.clone();
    blocking(move || {
        for (segment, quoted) in HOSTILE {
            let project = format!("invalid project id {quoted}");
            let name = format!("invalid workshop name {quoted}");
            // (The id is quoted as the route has it: a reserved character stays encoded.)
            let change = "cannot find change with id ".to_string();
            let routes = [
                ("GET", format!("/v1/projects/{segment}/workshops"), project.clone()),
                ("POST", format!("/v1/projects/{segment}/workshops"), project.clone()),
                ("GET", format!("/v1/projects/{segment}/workshops/dev"), project.clone()),
                ("GET", format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/{segment}"), name.clone()),
                ("GET", format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/{segment}/actions"), name.clone()),
                ("GET", format!("/v1/projects/{segment}/workshops/dev/actions"), project.clone()),
                (
                    "GET",
                    format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/{segment}/refresh-plan"),
                    name.clone(),
                ),
                ("GET", format!("/v1/projects/{segment}/workshops/dev/refresh-plan"), project.clone()),
                ("POST", format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/{segment}/exec"), name.clone()),
                ("POST", format!("/v1/projects/{segment}/workshops/dev/exec"), project.clone()),
                ("POST", format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/{segment}/mounts"), name.clone()),
                ("POST", format!("/v1/projects/{segment}/workshops/dev/mounts"), project.clone()),
                ("GET", format!("/v1/changes/{segment}"), change.clone()),
                ("POST", format!("/v1/changes/{segment}"), change.clone()),
                ("GET", format!("/v1/changes/{segment}/wait"), change.clone()),
                ("GET", format!("/v1/tasks/{segment}/websocket/stdio"), format!("invalid task id {quoted}")),
                ("GET", format!("/v1/changes?project-id={segment}"), format!("invalid query: {project}")),
                ("GET", format!("/v1/sdks/{segment}"), format!("invalid SDK name {quoted}")),
                ("GET", format!("/v1/connections?project-id={segment}"), format!("invalid query: {project}")),
                (
                    "GET",
                    format!("/v1/connections?project-id={UNKNOWN_PROJECT}&workshop={segment}"),
                    format!("invalid query: {name}"),
                ),
            ];
            for (method, path, want) in routes {
                let body = if method == "POST" {
                    r#"{"action":"abort","names":["dev"],"command":["true"]}"#
                } else {
                    ""
                };
                let (status, text) = http(&socket, method, &path, body);
                // As the reference's, a change id that names no change is not found.
                let expected = if path.starts_with("/v1/changes/") { 404 } else { 400 };
                assert_eq!(status, expected, "{method} {path} {body}: {text}");
                assert!(text.contains(&want), "{method} {path} {body}: want {want:?} in {text}");
            }
        }
        // The name of a fork's copy is a workshop name, checked when the body is read.
        let path = format!("/v1/projects/{UNKNOWN_PROJECT}/workshops");
        for copy in ["../x", "a\\u0000b", "", "UPPER", "a--b", &"a".repeat(41)] {
            let body = format!(r#"{{"action":"fork","names":["dev"],"options":{{"fork-name":"{copy}"}}}}"#);
            assert_400("POST", &path, &body, http(&socket, "POST", &path, &body), "invalid workshop name");
        }
        // A well-formed but unknown id gets as far as the lookup.
        let path = format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/dev");
        assert_eq!(http(&socket, "GET", &path, "").0, 404);
        // A plan is only read: a POST is not served, and a plan of an unknown project is a 404.
        let plan = format!("{path}/refresh-plan");
        assert_eq!(http(&socket, "GET", &plan, "").0, 404);
        assert_eq!(http(&socket, "POST", &plan, r#"{"action":"refresh"}"#).0, 405);
        // Too long, for each kind.
        let long = "a".repeat(41);
        let path = format!("/v1/projects/{UNKNOWN_PROJECT}/workshops/{long}");
        let want = format!("invalid workshop name \\\"{long}\\\": longer than 40 characters");
        assert_400("GET", &path, "", http(&socket, "GET", &path, ""), &want);
        let path = format!("/v1/changes/{}", "1".repeat(21));
        let (status, text) = http(&socket, "GET", &path, "");
        assert_eq!(status, 404, "{text}");
        assert!(text.contains("cannot find change with id"), "{text}");
        let path = "/v1/projects/0a1b2c3d4/workshops";
        assert_400("GET", path, "", http(&socket, "GET", path, ""), "invalid project id");
    })
    .await;
}

/// `GET /v1/connections`: a project id is required and must be the caller's; interface names
/// and selections are checked.
#[actix_web::test]
async fn hostile_connection_queries_are_refused() {
    let s = server().await;
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        let long = "a".repeat(100);
        let refused = [
            ("/v1/connections".to_string(), "project-id must not be empty".to_string()),
            (
                format!("/v1/connections?project-id={project_id}&select=some"),
                "unsupported select qualifier".into(),
            ),
            (
                format!("/v1/connections?project-id={project_id}&interface=..%2Fx"),
                r#"invalid interface name \"../x\""#.into(),
            ),
            (
                format!("/v1/connections?project-id={project_id}&interface={long}"),
                format!(r#"invalid interface name \"{}\""#, "a".repeat(64)),
            ),
        ];
        for (path, want) in refused {
            assert_400("GET", &path, "", http(&socket, "GET", &path, ""), &want);
        }
        // Another user's (or no) project is not found; the caller's own lists nothing yet.
        let path = format!("/v1/connections?project-id={UNKNOWN_PROJECT}");
        assert_eq!(http(&socket, "GET", &path, "").0, 404);
        let path = format!("/v1/connections?project-id={project_id}&select=all");
        let (status, text) = http(&socket, "GET", &path, "");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains(r#""established":[]"#), "{text}");
        // A workshop that is not launched is not found, as the reference's.
        let path = format!("/v1/connections?project-id={project_id}&workshop=nope");
        let (status, text) = http(&socket, "GET", &path, "");
        assert_eq!(status, 404, "{text}");
        assert!(
            text.contains(r#"cannot access \"nope\" workshop: workshop \"nope\" is not launched"#),
            "{text}"
        );
        // POST: names checked before any lookup; one plug and slot at a time.
        let plug = |ws: &str, sdk: &str, name: &str| {
            format!(r#"{{"project-id":"{project_id}","workshop":"{ws}","sdk":"{sdk}","plug":"{name}"}}"#)
        };
        let slot = |ws: &str| {
            format!(r#"{{"project-id":"{project_id}","workshop":"{ws}","sdk":"system","slot":"mount"}}"#)
        };
        let refused = [
            (
                format!(r#"{{"action":"connect","plugs":[{}]}}"#, plug("../x", "s", "p")),
                "invalid workshop name".to_string(),
            ),
            (
                format!(r#"{{"action":"connect","plugs":[{}]}}"#, plug("ws", "S%", "p")),
                r#"invalid SDK name \"S%\""#.into(),
            ),
            (
                format!(r#"{{"action":"connect","plugs":[{}]}}"#, plug("ws", "s", "../p")),
                r#"invalid plug or slot name \"../p\""#.into(),
            ),
            (
                format!(r#"{{"action":"delete","plugs":[{}]}}"#, plug("ws", "s", "p")),
                r#"unsupported interface action: \"delete\""#.into(),
            ),
            (r#"{"action":"connect"}"#.to_string(), "at least one plug and slot is required".into()),
            (r#"{"action":"","plugs":[]}"#.to_string(), "interface action not specified".into()),
            (
                format!(
                    r#"{{"action":"connect","plugs":[{}],"slots":[{}]}}"#,
                    plug("ws", "s", "p"),
                    slot("other")
                ),
                "cannot connect plugs and slots across different workshops".into(),
            ),
            (
                format!(
                    r#"{{"action":"connect","plugs":[{}],"environment":{{"LD_PRELOAD":"/x"}}}}"#,
                    plug("ws", "s", "p")
                ),
                r#"unsupported environment variable \"LD_PRELOAD\""#.into(),
            ),
            (
                format!(
                    r#"{{"action":"connect","plugs":[{}],"environment":{{"DISPLAY":":0\u0000x"}}}}"#,
                    plug("ws", "s", "p")
                ),
                "invalid value of environment variable DISPLAY".into(),
            ),
            (
                format!(
                    r#"{{"action":"connect","plugs":[{}],"environment":{{"SSH_AUTH_SOCK":"/{}"}}}}"#,
                    plug("ws", "s", "p"),
                    "a".repeat(5000)
                ),
                "invalid value of environment variable SSH_AUTH_SOCK".into(),
            ),
            (
                format!(r#"{{"action":"disconnect","plugs":[{}],"auto-port":true}}"#, plug("ws", "s", "p")),
                "auto-port applies to connect only".into(),
            ),
            (
                format!(r#"{{"action":"connect","plugs":[{}],"auto-port":"yes"}}"#, plug("ws", "s", "p")),
                r#"cannot decode request body into an interface action: invalid type: string \"yes\", expected a boolean"#.into(),
            ),
        ];
        for (body, want) in refused {
            assert_400(
                "POST",
                "/v1/connections",
                &body,
                http(&socket, "POST", "/v1/connections", &body),
                &want,
            );
        }
        let two =
            format!(r#"{{"action":"connect","plugs":[{},{}]}}"#, plug("ws", "s", "p"), plug("ws", "s", "q"));
        assert_eq!(http(&socket, "POST", "/v1/connections", &two).0, 501);
        // A workshop that is not launched is not found.
        let body = format!(r#"{{"action":"connect","plugs":[{}]}}"#, plug("ws", "s", "p"));
        assert_eq!(http(&socket, "POST", "/v1/connections", &body).0, 404);
        // Remount: the plug of the workshop in the path, an absolute host path.
        let mounts = format!("/v1/projects/{project_id}/workshops/ws/mounts");
        let remount = |plug: String, source: &str| {
            format!(r#"{{"action":"remount","plug":{plug},"host-source":"{source}"}}"#)
        };
        let refused = [
            (
                remount(plug("ws", "s", "p"), "relative/dir"),
                r#"invalid host source \"relative/dir\": an absolute path is required"#,
            ),
            (remount(plug("ws", "s", "p"), "/a\\u0000b"), "\": it holds a NUL byte"),
            (remount(plug("other", "s", "p"), "/x"), "the plug is not of this workshop"),
            (remount(plug("ws", "s", "../p"), "/x"), r#"invalid plug or slot name \"../p\""#),
            (
                format!(r#"{{"action":"mount","plug":{},"host-source":"/x"}}"#, plug("ws", "s", "p")),
                r#"unsupported action \"mount\""#,
            ),
        ];
        for (body, want) in refused {
            assert_400("POST", &mounts, &body, http(&socket, "POST", &mounts, &body), want);
        }
        let long = remount(plug("ws", "s", "p"), &format!("/{}", "a".repeat(5000)));
        assert_400("POST", &mounts, "long", http(&socket, "POST", &mounts, &long), ": longer than 4096 bytes");
        assert_eq!(http(&socket, "POST", &mounts, &remount(plug("ws", "s", "p"), "/x")).0, 404);
    })
    .await;
}

/// Searches and SDK names that never reach the Store (its requests are counted), and answers
/// from the Store that are refused.
#[actix_web::test]
async fn hostile_sdk_requests_are_refused_before_the_store() {
    use workshop_actors::store::fixture::{Fault, FixtureSdk, FixtureStore, Route};
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 1));
    let s = super::sdks::tests::sdk_server(&store.url());
    let socket = s.socket.clone();
    let store = std::sync::Arc::new(store);
    let fixture = store.clone();
    blocking(move || {
        let long = "a".repeat(257);
        let refused = [
            (format!("/v1/find?q={long}"), "invalid query: longer than 256 characters"),
            ("/v1/find?q=a%00b".to_string(), "invalid query: control characters"),
            ("/v1/find?q=%1B%5B2J".to_string(), "invalid query: control characters"),
            ("/v1/sdks/try-go".to_string(), r#"invalid SDK name \"try-go\""#),
            (format!("/v1/sdks/{}", "a".repeat(41)), "longer than 40 characters"),
        ];
        for (path, want) in refused {
            assert_400("GET", &path, "", http(&socket, "GET", &path, ""), want);
        }
        assert!(fixture.requests().is_empty(), "{:?}", fixture.requests());
        // A search with every byte a client may send reaches the Store percent-encoded.
        let (status, _) = http(&socket, "GET", "/v1/find?q=%22%2F..%2F%3F%26x%3D", "");
        assert_eq!(status, 200);
        let sent = fixture.requests().pop().unwrap();
        assert!(sent.starts_with("GET /v2/sdks/find?q=%22%2F..%2F%3F%26x%3D&fields="), "{sent}");
        // A Store that answers nonsense is the Store's failure (502), never the daemon's.
        for fault in [Fault::Huge, Fault::Malformed, Fault::Short, Fault::Status(500)] {
            fixture.fault(Route::Info, Some(fault));
            let (status, text) = http(&socket, "GET", "/v1/sdks/go", "");
            assert_eq!(status, 502, "{fault:?}: {text}");
        }
    })
    .await;
    drop(store);
}

/// `POST /v1/doctor` takes one known action and nothing else; fixing is root's.
#[actix_web::test]
async fn doctor_bodies_are_checked_and_fixing_is_roots() {
    let s = server().await;
    let socket = s.socket.clone();
    blocking(move || {
        let refused = [
            ("{}", "missing field `action`"),
            (r#"{"action":"wipe-disk"}"#, "unknown variant `wipe-disk`"),
            (r#"{"action":"fix","also":"rm -rf /"}"#, "unknown field `also`"),
            ("fix", "cannot decode request body"),
        ];
        for (body, want) in refused {
            assert_400("POST", "/v1/doctor", body, http(&socket, "POST", "/v1/doctor", body), want);
        }
        let (status, text) = http(&socket, "GET", "/v1/doctor", "");
        assert_eq!(status, 200, "{text}");
        let checks: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> =
            checks["result"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "lxd",
                "storage-pool",
                "network",
                "images",
                "id-map",
                "firewall",
                "host-dns",
                "kernel-limits",
                "guest-socket"
            ]
        );
        let (status, text) = http(&socket, "POST", "/v1/doctor", r#"{"action":"fix"}"#);
        // SAFETY: a plain getter.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(status, 200, "{text}");
        } else {
            assert_eq!(status, 403, "{text}");
            assert!(text.contains("cannot fix: only root may apply fixes"), "{text}");
        }
    })
    .await;
}

/// A full storage pool refuses what takes space (launch, start) but never what frees it
/// (stop, remove): the user can get out of it.
#[actix_web::test]
async fn a_full_pool_still_stops_and_removes() {
    let fake = std::rc::Rc::new(workshop_actors::backend::fake::FakeBackend::default());
    fake.set_pool_full(true);
    let s = super::exec::tests::server_with(fake).await;
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !http(&socket, "GET", "/v1/system-info", "").1.contains("95% full") {
            assert!(std::time::Instant::now() < deadline, "the health check never ran");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let workshops = format!("/v1/projects/{project_id}/workshops");
        for action in ["launch", "start"] {
            let body = format!(r#"{{"action":"{action}","names":["ws"]}}"#);
            let (status, text) = http(&socket, "POST", &workshops, &body);
            assert_eq!(status, 500, "{action}: {text}");
            assert!(text.contains(r#""kind":"degraded""#) && text.contains("95% full"), "{action}: {text}");
        }
        for action in ["stop", "remove"] {
            let body = format!(r#"{{"action":"{action}","names":["ws"]}}"#);
            let (status, text) = http(&socket, "POST", &workshops, &body);
            assert_eq!(status, 202, "{action}: {text}");
            let change = serde_json::from_str::<serde_json::Value>(&text).unwrap()["change"]
                .as_str()
                .unwrap()
                .to_string();
            let (status, text) = http(&socket, "GET", &format!("/v1/changes/{change}/wait"), "");
            assert_eq!(status, 200, "{text}");
            assert!(text.contains(r#""status":"Done""#), "{action}: {text}");
        }
    })
    .await;
}

#[actix_web::test]
async fn hostile_names_in_bodies_are_refused_by_name() {
    let s = server().await;
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        let workshops = format!("/v1/projects/{project_id}/workshops");
        for bad in ["../x", "", "Dev", "a/b", "a\\u0000", "-a", &"a".repeat(41)] {
            let body = format!(r#"{{"action":"start","names":["ws","{bad}"]}}"#);
            let shown = bad.replace("\\u0000", "\\\\0");
            let want = format!(r#"cannot decode request body: invalid workshop name \"{shown}\""#);
            assert_400("POST", &workshops, &body, http(&socket, "POST", &workshops, &body), &want);
        }
        // An option for another action is refused, naming it.
        let body = r#"{"action":"start","names":["ws"],"options":{"skip-save-state":true}}"#;
        let want = r#"cannot start: \"skip-save-state\" is only for a new refresh or restore"#;
        assert_400("POST", &workshops, body, http(&socket, "POST", &workshops, body), want);
        let body = r#"{"action":"launch","names":["ws"],"options":{"refresh-option":"update"}}"#;
        let want = r#"cannot launch: \"refresh-option\" is only valid for refresh actions"#;
        assert_400("POST", &workshops, body, http(&socket, "POST", &workshops, body), want);
        let body =
            r#"{"action":"refresh","names":["ws"],"options":{"mode":"continue","refresh-option":"update"}}"#;
        let want = r#"only applicable to \"transactional\" and \"wait-on-error\" modes; given: \"continue\""#;
        assert_400("POST", &workshops, body, http(&socket, "POST", &workshops, body), want);
        let exec = format!("/v1/projects/{project_id}/workshops/ws/exec");
        for bad in ["../../../etc/passwd", "Greet", "a/b"] {
            let body = format!(r#"{{"command":["{bad}"],"action":true}}"#);
            let want = format!(r#"cannot run: invalid action name \"{bad}\""#);
            assert_400("POST", &exec, &body, http(&socket, "POST", &exec, &body), &want);
        }
        // L2 through the API: was a panic in the daemon.
        let body = r#"{"command":["true"],"timeout":"9999999999999999999h"}"#;
        let want = r#"cannot exec: cannot parse duration \"9999999999999999999h\": out of range"#;
        assert_400("POST", &exec, body, http(&socket, "POST", &exec, body), want);
        // Environment names that would change what sudo keeps, and NUL in values.
        for (env, want) in [
            (r#"{"X,PATH":"1"}"#, r#"cannot exec: invalid environment variable name \"X,PATH\""#),
            (r#"{"":"1"}"#, r#"cannot exec: invalid environment variable name \"\""#),
            (r#"{"A":"x\u0000y"}"#, r#"cannot exec: invalid value of environment variable \"A\": NUL byte"#),
        ] {
            let body = format!(r#"{{"command":["true"],"environment":{env}}}"#);
            assert_400("POST", &exec, &body, http(&socket, "POST", &exec, &body), want);
        }
        let wait = "/v1/changes/1/wait?timeout=9999999999999999999h";
        assert_400("GET", wait, "", http(&socket, "GET", wait, ""), "out of range");
    })
    .await;
}

/// `POST /v1/workshopctl` from the host: no cookie is valid from a process in no workshop
/// (not even a live one), and oversized requests are refused before anything is looked up.
#[actix_web::test]
async fn workshopctl_refuses_host_callers_forged_cookies_and_oversized_requests() {
    let s = server().await;
    let (change, cookie) = running_check_health(&s).await;
    let socket = s.socket.clone();
    let live = cookie.clone();
    blocking(move || {
        let post = |body: &str| http(&socket, "POST", "/v1/workshopctl", body);
        let request = |cookie: &str, args: &str| format!(r#"{{"context-id":"{cookie}","args":{args}}}"#);
        let okay = r#"["set-health","okay"]"#;
        for cookie in [live.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "../../x", "%00"] {
            let body = request(cookie, okay);
            assert_400("POST", "/v1/workshopctl", &body, post(&body), "invalid workshop cookie");
        }
        let body = request("", okay);
        let outside = r#"cannot invoke workshopctl operation commands (here \"set-health\") from outside of a workshop"#;
        assert_400("POST", "/v1/workshopctl", &body, post(&body), outside);
        let many = serde_json::to_string(&vec!["okay"; 17]).unwrap();
        let body = request("", &many);
        assert_400("POST", "/v1/workshopctl", &body, post(&body), "17 arguments given, at most 16");
        let long = serde_json::to_string(&["set-health", "error", &"m".repeat(5000)]).unwrap();
        let body = request(&live, &long);
        assert_400("POST", "/v1/workshopctl", &body, post(&body), "argument 3 is longer than 4096 bytes");
        let huge = serde_json::to_string(&["set-health", "error", &"m".repeat(9 << 20)]).unwrap();
        let body = request("", &huge);
        assert_400("POST", "/v1/workshopctl", &body, post(&body), "cannot decode request body");
        let body = format!(r#"{{"context-id":"","args":{okay},"stdin":"eA=="}}"#);
        assert_400("POST", "/v1/workshopctl", &body, post(&body), "no command reads standard input");
    })
    .await;
    end(&s, &change).await;
}

/// The route with the identity the guest socket gives: a hook's cookie works from its own
/// workshop only, and only while the hook runs.
#[actix_web::test]
async fn workshopctl_speaks_for_a_running_hook_of_the_callers_own_workshop_only() {
    use actix_web::web::{Data, Json};
    use workshop_actors::backend::lxd::origin::{GuestWorkshop, workshop_of_cgroups};
    use workshop_api::workshopctl::WorkshopctlRequest;

    use crate::api::peer::{AnyCaller, GuestCaller};

    let s = server().await;
    let (change, cookie) = running_check_health(&s).await;
    let state = Data::new(crate::api::AppState::of(&s.daemon));
    let user = current_user();
    let own = workshop_of_cgroups(&format!("0::/lxc.payload.workshop.{user}_ws-{}\n", s.project_id)).unwrap();
    let call = |workshop: GuestWorkshop| {
        let request = WorkshopctlRequest {
            context_id: cookie.clone(),
            args: vec!["set-health".into(), "okay".into()],
            stdin: None,
        };
        let caller = AnyCaller::Guest(GuestCaller { uid: 100_000, workshop });
        super::workshopctl::post(caller, state.clone(), Json(request))
    };
    let status = |r: Result<actix_web::HttpResponse, crate::api::error::ApiError>| match r {
        Ok(response) => (response.status().as_u16(), String::new()),
        Err(e) => (actix_web::ResponseError::status_code(&e).as_u16(), e.to_string()),
    };
    let other = GuestWorkshop { workshop: "other".into(), ..own.clone() };
    assert_eq!(status(call(other).await), (400, "invalid workshop cookie".to_string()));
    let others_user = GuestWorkshop { lxd_project: "workshop.someone-else".into(), ..own.clone() };
    assert_eq!(status(call(others_user).await), (400, "invalid workshop cookie".to_string()));
    assert_eq!(status(call(own.clone()).await), (200, String::new()));
    end(&s, &change).await;
    assert_eq!(status(call(own).await), (400, "invalid workshop cookie".to_string()), "the hook has ended");
}

/// `GET /v1/changes/{id}?verbose=true`: a paused hook's whole output in its task's log (the
/// plain view keeps the last lines); a verbose value that is no boolean is refused.
#[actix_web::test]
async fn verbose_changes_show_whole_hook_output() {
    use futures_util::FutureExt;
    use workshop_actors::backend::RunOutput;
    use workshop_actors::engine::Transact;
    use workshop_actors::managers::hook::{Hook, plan};
    use workshop_actors::managers::task::{self, TaskTarget, WaitSetup, keys};

    let s = server().await;
    let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    let output = text.clone();
    s.fake.on_run("/hooks/setup-base", move |_| {
        let stdout = output.clone().into_bytes();
        async move { RunOutput { exit_code: 3, stdout, ..RunOutput::default() } }.boxed_local()
    });
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let user = workshop_actors::managers::UserRef { name: current_user(), uid, gid, data_home: None };
    let target =
        TaskTarget { name: "ws".into(), project_id: s.project_id.clone(), project_path: "/".into(), user };
    let change = s
        .daemon
        .engine
        .send(Transact(Box::new(move |st| {
            let now = chrono::Utc::now();
            let change = task::new_change(
                st,
                "launch",
                "Launch \"ws\" workshop",
                &target.user,
                &target.project_id,
                now,
            );
            let mode = WaitSetup { mode: "wait-on-error".into() };
            st.change_mut(&change).unwrap().write(&keys::WAIT_SETUP, &mode);
            plan::add_hook(st, &change, &target, "db", Hook::SetupBase, None, now);
            change
        })))
        .await
        .unwrap()
        .unwrap();
    let socket = s.socket.clone();
    let id = change.clone();
    blocking(move || {
        let client = workshop_client::Client::new(&socket);
        let log = |verbose: bool| loop {
            let info = client.change(&id, verbose).unwrap();
            if info.status == "Wait" {
                return info.tasks[0].log.clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let plain = log(false);
        assert!(plain[0].ends_with(" INFO line 21\nline 22\nline 23\nline 24\nline 25\nline 26\nline 27\nline 28\nline 29\nline 30"), "{plain:?}");
        let verbose = log(true);
        assert!(verbose[0].ends_with(&format!(" INFO {}", text.trim_end())), "{verbose:?}");
        assert_eq!(plain[1..], verbose[1..]);
        let path = format!("/v1/changes/{id}?verbose=yes");
        assert_400("GET", &path, "", http(&socket, "GET", &path, ""), r#"invalid value for verbose: \"yes\""#);
    })
    .await;
    end(&s, &change).await;
}

/// A wait whose client hung up ends at once (it held the connection for as long as the change
/// ran: a paused change, for ever), so no one fills the daemon's connections with them.
#[actix_web::test]
async fn a_wait_whose_client_hung_up_ends() {
    use std::io::Write;
    let s = server().await;
    let (change, _cookie) = running_check_health(&s).await;
    // SAFETY: a plain getter.
    let uid = unsafe { libc::geteuid() };
    let (socket, waits) = (s.socket.clone(), s.waits.clone());
    let path = format!("/v1/changes/{change}/wait");
    blocking(move || {
        let streams: Vec<_> = (0..20)
            .map(|_| {
                let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
                write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                stream
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while waits.of(uid) < 20 {
            assert!(std::time::Instant::now() < deadline, "{} waits", waits.of(uid));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(streams);
        // Well before the change ends by itself (the health check's time-out, 5 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while waits.of(uid) > 0 {
            assert!(std::time::Instant::now() < deadline, "{} waits left", waits.of(uid));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await;
    end(&s, &change).await;
}

/// The name of the user the test server's workshop belongs to.
fn current_user() -> String {
    // SAFETY: a plain getter.
    crate::api::peer::user_entry(unsafe { libc::geteuid() }).unwrap().0
}

/// Plans a check-health hook in the test server's workshop `ws` that runs until its change is
/// aborted; returns the change and the hook's cookie once it runs.
async fn running_check_health(s: &super::exec::tests::Server) -> (String, String) {
    use futures_util::FutureExt;
    use workshop_actors::engine::Transact;
    use workshop_actors::managers::hook::{Hook, plan};
    use workshop_actors::managers::task::{self, TaskTarget};

    s.fake.on_run("/hooks/check-health", |_| std::future::pending().boxed_local());
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let user = workshop_actors::managers::UserRef { name: current_user(), uid, gid, data_home: None };
    let target =
        TaskTarget { name: "ws".into(), project_id: s.project_id.clone(), project_path: "/".into(), user };
    let change = s
        .daemon
        .engine
        .send(Transact(Box::new(move |st| {
            let now = chrono::Utc::now();
            let change = task::new_change(
                st,
                "launch",
                "Launch \"ws\" workshop",
                &target.user,
                &target.project_id,
                now,
            );
            plan::add_hook(st, &change, &target, "db", Hook::CheckHealth, None, now);
            change
        })))
        .await
        .unwrap()
        .unwrap();
    for _ in 0..1000 {
        if let Some(spec) = s.fake.runs().into_iter().find(|r| r.env.contains_key("WORKSHOP_COOKIE")) {
            return (change, spec.env["WORKSHOP_COOKIE"].clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the hook did not start");
}

/// Aborts `change` and waits until it is ready.
async fn end(s: &super::exec::tests::Server, change: &str) {
    use workshop_actors::engine::{AbortChange, WatchChange};
    let ready = s.daemon.engine.send(WatchChange(change.to_string())).await.unwrap().unwrap();
    s.daemon.engine.send(AbortChange(change.to_string())).await.unwrap().unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), ready).await.unwrap().unwrap();
}

mod properties {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::super::exec::tests::{blocking, http, server};

    /// Keys of the request bodies, so that generated objects reach the field checks.
    const KEYS: &[&str] = &[
        "names",
        "action",
        "options",
        "command",
        "timeout",
        "user-id",
        "group-id",
        "working-dir",
        "terminal",
        "interactive",
        "timestamp",
        "context-id",
        "args",
        "stdin",
        "width",
    ];

    /// A JSON leaf as text: strings hostile and benign, numbers at the edges, the odd literal.
    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,12}".prop_map(|s| serde_json::Value::String(s).to_string()),
            proptest::sample::select(
                &["\"start\"", "\"okay\"", "\"abort\"", "\"9999999999999999999h\"", "\"1s\"", "true", "null"]
                    [..]
            )
            .prop_map(str::to_string),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("1e999".to_string()),
            proptest::collection::vec(".{0,8}", 0..3).prop_map(|v| serde_json::json!(v).to_string()),
        ]
    }

    /// A body: arbitrary bytes (as text), or an object with some real keys.
    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            proptest::collection::vec((proptest::sample::select(KEYS), leaf()), 0..6).prop_map(|pairs| {
                let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    }

    /// Every byte outside the unreserved set percent-encoded, as a client would.
    fn encode(segment: &str) -> String {
        segment
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    fn cases(default: u32) -> u32 {
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
    }

    /// The SDK routes on arbitrary names and searches, with a Store that knows one SDK: an
    /// answer (200, 400 or 404), never a server error.
    #[actix_web::test]
    async fn arbitrary_sdk_requests_get_an_answer() {
        let store = workshop_actors::store::fixture::FixtureStore::start();
        store.publish(workshop_actors::store::fixture::FixtureSdk::new("go", 1));
        let s = super::super::sdks::tests::sdk_server(&store.url());
        let socket = s.socket.clone();
        blocking(move || {
            let mut runner =
                TestRunner::new(Config { cases: cases(64), failure_persistence: None, ..Config::default() });
            runner
                .run(&".{0,24}", |segment| {
                    let seg = encode(&segment);
                    for path in [format!("/v1/sdks/{seg}"), format!("/v1/find?q={seg}")] {
                        let (status, text) = http(&socket, "GET", &path, "");
                        prop_assert!(
                            matches!(status, 200 | 400 | 404),
                            "{} {:?}: {} {}",
                            path,
                            segment,
                            status,
                            text
                        );
                    }
                    Ok(())
                })
                .unwrap();
        })
        .await;
        drop(store);
    }

    /// Every route with a typed parameter or a body, on arbitrary input: the daemon answers
    /// (a panic would drop the connection) with a client error or success, never a 5xx.
    /// `POST /v1/projects` is left out: its path is the user-file access of issue 8 item 1,
    /// and this daemon runs as root.
    #[actix_web::test]
    async fn arbitrary_requests_get_an_answer_and_no_server_error() {
        let s = server().await;
        let socket = s.socket.clone();
        blocking(move || {
            let mut runner =
                TestRunner::new(Config { cases: cases(128), failure_persistence: None, ..Config::default() });
            let input = (".{0,12}", "[0-9a-f]{8}", body());
            runner
                .run(&input, |(segment, project, body)| {
                    let seg = encode(&segment);
                    let requests = [
                        ("POST", format!("/v1/projects/{project}/workshops"), body.as_str()),
                        ("POST", format!("/v1/projects/{seg}/workshops"), body.as_str()),
                        ("POST", format!("/v1/projects/{project}/workshops/{seg}/exec"), body.as_str()),
                        ("POST", format!("/v1/projects/{project}/workshops/dev/exec"), body.as_str()),
                        ("GET", format!("/v1/projects/{project}/workshops/{seg}/actions"), ""),
                        ("GET", format!("/v1/projects/{project}/workshops/{seg}/refresh-plan"), ""),
                        ("POST", format!("/v1/changes/{seg}"), body.as_str()),
                        ("GET", format!("/v1/changes/{seg}/wait?timeout={seg}"), ""),
                        ("GET", format!("/v1/changes?project-id={seg}&select={seg}"), ""),
                        (
                            "GET",
                            format!("/v1/connections?project-id={project}&workshop={seg}&interface={seg}"),
                            "",
                        ),
                        ("GET", format!("/v1/tasks/{seg}/websocket/{seg}"), ""),
                        ("POST", "/v1/warnings".to_string(), body.as_str()),
                        ("POST", "/v1/workshopctl".to_string(), body.as_str()),
                    ];
                    for (method, path, body) in requests {
                        let (status, text) = http(&socket, method, &path, body);
                        prop_assert!(
                            matches!(status, 200..=299 | 400 | 404 | 405 | 409),
                            "{} {} {:?}: {} {}",
                            method,
                            path,
                            body,
                            status,
                            text
                        );
                    }
                    Ok(())
                })
                .unwrap();
        })
        .await;
    }
}

/// `GET /v1/changes` with the reference's defaults and checks (every change unless a
/// selection is asked for; `workshops` needs a project id), a `workshops` filter that finds
/// the changes of those workshops, and the reference's words for a change that cannot be
/// aborted and a timeout that cannot be read.
#[actix_web::test]
async fn change_lists_are_filtered_and_their_queries_checked() {
    let s = server().await;
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        let body = r#"{"action":"stop","names":["ws"]}"#;
        let (status, text) = http(&socket, "POST", &format!("/v1/projects/{project_id}/workshops"), body);
        assert_eq!(status, 202, "{text}");
        let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
        let change = reply["change"].as_str().unwrap().to_string();
        let (status, text) = http(&socket, "GET", &format!("/v1/changes/{change}/wait"), "");
        assert_eq!(status, 200, "{text}");
        let ids = |path: &str| -> Vec<String> {
            let (status, text) = http(&socket, "GET", path, "");
            assert_eq!(status, 200, "{path}: {text}");
            let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
            reply["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect()
        };
        // Ready changes are listed when no selection is asked for.
        assert_eq!(ids("/v1/changes"), vec![change.clone()]);
        assert!(ids("/v1/changes?select=in-progress").is_empty());
        assert_eq!(ids(&format!("/v1/changes?project-id={project_id}&workshops=ws")), vec![change.clone()]);
        assert_eq!(
            ids(&format!("/v1/changes?project-id={project_id}&workshops=other,ws")),
            vec![change.clone()]
        );
        assert!(ids(&format!("/v1/changes?project-id={project_id}&workshops=other")).is_empty());
        let many = vec!["a"; 65].join(",");
        for (path, want) in [
            ("/v1/changes?workshops=ws".to_string(), "project-id required if workshops are specified"),
            (format!("/v1/changes?project-id={project_id}&workshops=ws,,b"), r#"invalid workshop name \"\""#),
            (
                format!("/v1/changes?project-id={project_id}&workshops=../x"),
                r#"invalid workshop name \"../x\""#,
            ),
            (format!("/v1/changes?project-id={project_id}&workshops={many}"), "more than 64 names"),
            ("/v1/changes?select=bogus".to_string(), "select should be one of: all,in-progress,ready"),
            (format!("/v1/changes/{change}/wait?timeout=bogus"), r#"invalid timeout \"bogus\""#),
        ] {
            assert_400("GET", &path, "", http(&socket, "GET", &path, ""), want);
        }
        let path = format!("/v1/changes/{change}");
        let want = format!("cannot abort change {change} with nothing pending");
        assert_400("POST", &path, "", http(&socket, "POST", &path, r#"{"action":"abort"}"#), &want);
        let want = "cannot decode data from request body";
        assert_400("POST", &path, "", http(&socket, "POST", &path, "{"), want);
    })
    .await;
}
