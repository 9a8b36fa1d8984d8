//! Shared helpers: opt-in switch, unique names, and a cleanup guard that removes what a test
//! created even when it panics.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lxd_client::{Client, ConfigPut, Devices, InstanceCreate, InstanceSource};

/// Pool and image the machine's setup script provides.
pub const POOL: &str = "workshop";
pub const IMAGE: &str = "debian@12";

/// The client, or None (after saying so) when LXD tests are not enabled.
pub fn lxd() -> Option<Client> {
    if std::env::var("WORKSHOP_TEST_LXD").as_deref() != Ok("1") {
        eprintln!("skipped: WORKSHOP_TEST_LXD not set");
        return None;
    }
    Some(Client::local().expect("LXD client"))
}

/// `wst-<test>-<random>`.
pub fn name(test: &str) -> String {
    format!("wst-{test}-{:08x}", rand::random::<u32>())
}

/// Runs `lxc` and returns its stdout; panics on failure.
pub fn lxc(args: &[&str]) -> String {
    let out = Command::new("lxc").args(args).output().expect("run lxc");
    assert!(out.status.success(), "lxc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Cleanup commands (lxc argument lists) run in reverse order on drop, errors ignored.
#[derive(Default)]
pub struct Cleanup {
    commands: RefCell<Vec<Vec<String>>>,
}

impl Cleanup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an `lxc` command to run at the end.
    pub fn lxc(&self, args: &[&str]) {
        self.commands.borrow_mut().push(args.iter().map(|s| s.to_string()).collect());
    }

    /// Deletes an instance (forced) at the end.
    pub fn instance(&self, project: &str, name: &str) {
        self.lxc(&["delete", "-f", "--project", project, name]);
    }

    /// Deletes a project at the end (register it before what lives in it).
    pub fn project(&self, name: &str) {
        self.lxc(&["project", "delete", name]);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in self.commands.borrow().iter().rev() {
            // An instance can still be busy with an operation a failed test left running.
            for attempt in 0..5 {
                match Command::new("lxc").args(args).output() {
                    Ok(out) if !out.status.success() => {
                        let err = String::from_utf8_lossy(&out.stderr);
                        if err.contains("busy") && attempt < 4 {
                            std::thread::sleep(Duration::from_secs(1));
                            continue;
                        }
                        if !err.contains("not found") && !err.contains("doesn't exist") {
                            eprintln!("cleanup: lxc {args:?}: {}", err.trim());
                        }
                    }
                    Err(e) => eprintln!("cleanup: lxc {args:?}: {e}"),
                    Ok(_) => {}
                }
                break;
            }
        }
    }
}

/// Creates a project like Workshop's (images shared from `default`, own profiles, volumes in
/// `default`), registered for cleanup; returns its name and a client scoped to it.
pub async fn project(lxd: &Client, cleanup: &Cleanup, test: &str) -> (String, Client) {
    let name = name(test);
    let config = BTreeMap::from([
        ("features.images".to_owned(), "false".to_owned()),
        ("features.profiles".to_owned(), "true".to_owned()),
        ("features.storage.volumes".to_owned(), "false".to_owned()),
    ]);
    cleanup.project(&name);
    lxd.create_project(&name, &ConfigPut { config, description: format!("test {test}") })
        .await
        .expect("create project");
    let scoped = lxd.project(&name);
    (name, scoped)
}

/// Root disk on the test pool.
pub fn root_device() -> Devices {
    Devices::from([(
        "root".to_owned(),
        BTreeMap::from([
            ("type".to_owned(), "disk".to_owned()),
            ("path".to_owned(), "/".to_owned()),
            ("pool".to_owned(), POOL.to_owned()),
        ]),
    )])
}

/// A container definition from the test image with a root disk.
pub fn container(name: &str) -> InstanceCreate {
    let mut create = InstanceCreate::new(name, InstanceSource::ImageAlias(IMAGE.to_owned()));
    create.devices = root_device();
    create
}

/// Creates and starts a container in `project` (registered for cleanup).
pub async fn launch(lxd: &Client, cleanup: &Cleanup, project: &str, name: &str) {
    cleanup.instance(project, name);
    lxd.create_instance(&container(name)).await.expect("create instance");
    lxd.start_instance(name).await.expect("start instance");
}

/// Writes a tiny split image (metadata tarball + rootfs tarball with a unique file) into `dir`.
pub fn tiny_image(dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let metadata = format!(
        "architecture: {}\ncreation_date: {now}\nproperties:\n  description: wst tiny image {tag}\n  os: wst\n",
        std::env::consts::ARCH
    );
    let meta = dir.join("meta.tar");
    write_tar(&meta, &[("metadata.yaml", metadata.as_bytes(), 0o644)]);
    let rootfs = dir.join("rootfs.tar");
    write_tar(
        &rootfs,
        &[("etc/wst-tag", tag.as_bytes(), 0o644), ("bin/wst", b"#!/bin/sh\necho wst\n", 0o755)],
    );
    (meta, rootfs)
}

/// Writes an uncompressed tarball of regular files (parent directories added).
pub fn write_tar(path: &Path, files: &[(&str, &[u8], u32)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut dirs = std::collections::BTreeSet::new();
    for (name, _, _) in files {
        let mut parent = Path::new(name).parent();
        while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(dir.to_path_buf());
            parent = dir.parent();
        }
    }
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder.append_data(&mut header, &dir, std::io::empty()).unwrap();
    }
    for (name, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.finish().unwrap();
}
