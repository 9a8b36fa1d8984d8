//! Workshops are copies of a per-user template whose files LXD has already shifted to the
//! workshops' id mapping, so that their first start does not remap the root filesystem.

use std::time::{Duration, Instant};

use workshop_actors::backend::{Backend, CreateSpec};

use crate::common::{self, HOST_ID, UserGuard};

/// The instances of `project` whose names start with `tpl-`, with their config.
fn templates(project: &str) -> Vec<serde_json::Value> {
    let all = common::query(&format!("/1.0/instances?project={project}&recursion=1"));
    all.as_array()
        .expect("instance list")
        .iter()
        .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with("tpl-")))
        .cloned()
        .collect()
}

/// Waits (up to 60 s) until `project` has a stopped template that LXD has shifted and that
/// was set up.
async fn prepared_template(project: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = templates(project);
        if let [template] = &found[..]
            && template["status"] == "Stopped"
            && !matches!(template["config"]["volatile.last_state.idmap"].as_str(), None | Some("[]"))
            && template["config"]["user.workshop.template-setup"].is_string()
        {
            return template.clone();
        }
        assert!(Instant::now() < deadline, "no prepared template in {project}: {found:#?}");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_rt::test]
async fn workshops_are_copies_of_a_shifted_template() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let project = format!("workshop.{user}");
    let image = common::image(&backend).await;
    // The guest set-up runs once in the template, as its init, with no boot around it.
    let spec = CreateSpec {
        setup: "set -eu\n[ \"$$\" = 1 ]\necho set-up > /set-up-ran".into(),
        ..common::spec(&image)
    };

    // The first launch comes from the image and has the template prepared meanwhile.
    let first = common::target(&user, "one");
    backend.create(&first, &spec).await.expect("create one");
    // Once it is prepared, launches copy it. A launch may still fall back to the image while
    // LXD finishes with the template (by design): a copy must come within three launches.
    let mut copied = None;
    for attempt in 0..3 {
        let template = prepared_template(&project).await;
        let target = common::target(&user, &format!("two{attempt}"));
        backend.create(&target, &spec).await.expect("create two");
        let instance = backend.get(&target).await.unwrap().expect("workshop");
        if instance.config.get("volatile.last_state.idmap").map(String::as_str) != Some("[]") {
            copied = Some((target, template));
            break;
        }
        eprintln!("launch {attempt} came from the image; template: {template:#}");
        backend.delete(&target).await.expect("delete");
    }
    let (second, template) = copied.expect("no launch copied the template");

    // One template, stopped, shifted to the workshops' mapping, set up, never booted.
    assert_eq!(templates(&project).len(), 1);
    let config = &template["config"];
    assert_eq!(template["status"], "Stopped");
    assert!(config["user.workshop.template-setup"].as_str().is_some_and(|h| h.len() == 16), "{config:#}");
    assert_eq!(config["user.workshop.template"], image.as_str());
    assert_eq!(config["raw.idmap"], format!("uid {HOST_ID} 1000\ngid {HOST_ID} 1000"));
    assert_eq!(config["volatile.last_state.idmap"], config["volatile.idmap.next"]);
    assert_ne!(config["volatile.last_state.idmap"], "[]");

    // The copy carries none of the template's own keys, and starts without a remap.
    for target in [&second] {
        let instance = backend.get(target).await.unwrap().expect("workshop");
        let raw = instance.config.get("raw.lxc").map(String::as_str).unwrap_or_default();
        assert!(
            raw.starts_with("lxc.mount.entry = tmpfs tmp tmpfs defaults"),
            "the workshops' own raw.lxc: {raw}"
        );
        assert!(!raw.contains("lxc.init.cmd"), "not the template's: {raw}");
        assert!(!instance.config.contains_key("user.workshop.template"));
        assert!(!instance.config.contains_key("user.workshop.template-setup"));
        assert_eq!(
            instance.config.get("volatile.last_state.idmap").map(String::as_str),
            config["volatile.idmap.next"].as_str()
        );
    }
    assert_eq!(backend.list(&user, None).await.unwrap().len(), 2, "templates are not workshops");

    // Each copy boots as itself.
    let mut ids = Vec::new();
    for target in [&first, &second] {
        backend.start(target).await.expect("start");
        backend.wait_ready(target).await.expect("init system up");
        let out = backend
            .run(target, &common::command(&["sh", "-c", "hostname; cat /etc/machine-id; cat /set-up-ran || true; ls /workshop-template-setup || true"]))
            .await;
        let text = String::from_utf8_lossy(&out.expect("run").stdout).to_string();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(target.name.as_str()), "the host name is the workshop's");
        ids.push(lines.next().expect("machine id").to_string());
        // The copy has the template's set-up (which removed itself); the first, from the
        // image, has none.
        let set_up = lines.next();
        assert_eq!(set_up, (target == &second).then_some("set-up"), "{text}");
        assert_eq!(lines.next(), None, "{text}");
    }
    assert_ne!(ids[0], ids[1], "every workshop has its own machine id");
    for target in [&first, &second] {
        backend.delete(target).await.expect("delete");
    }
}

#[actix_rt::test]
async fn an_instance_in_the_templates_place_is_left_alone() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let project = format!("workshop.{user}");
    let image = common::image(&backend).await;
    backend.ensure_user(&user).await.expect("projects");

    // Not a template (no marker) but with a template's name: workshops come from the image.
    let first = common::target(&user, "one");
    backend.create(&first, &common::spec(&image)).await.expect("create one");
    let name = prepared_template(&project).await["name"].as_str().unwrap().to_string();
    backend.delete(&first).await.unwrap();
    // LXD may still be finishing the template's stop for a moment.
    let deleted = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        common::lxc(&["delete", "-f", "--project", &project, &name]).is_some()
    });
    assert!(deleted, "cannot delete the template");
    common::lxc(&["init", &image, &name, "--project", &project]).expect("a stray instance");

    let second = common::target(&user, "two");
    backend.create(&second, &common::spec(&image)).await.expect("create from the image");
    // Its background preparation gives up on the stray instance.
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let stray = templates(&project);
    assert_eq!(stray.len(), 1);
    assert!(stray[0]["config"].get("user.workshop.template").is_none(), "untouched: {stray:#?}");
    backend.start(&second).await.expect("start");
    backend.wait_ready(&second).await.expect("init system up");
}
