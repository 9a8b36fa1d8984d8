//! Which workshop a process runs in, from the text of its `/proc/<pid>/cgroup`. Every workshop
//! shares one guest socket, so the daemon tells its callers apart by the LXD container the
//! calling process belongs to.
//!
//! LXC puts a container's processes below `lxc.payload.<container>` at the top of every cgroup
//! hierarchy (`lxc.payload.<container>-<n>` when a stale cgroup of that name is in the way), and
//! LXD names the container `<project>_<instance>` outside its default project. Only root makes
//! top-level cgroups, and whatever a container (or a host user with a delegated subtree) makes
//! stays below its own, so only the first component of a path is believed. Every line that
//! names a container must name the same one: a cgroup name may hold a newline and so forge a
//! line of its own, but only after the real container's name. This holds while no workshop's
//! `raw.lxc` moves its cgroup (`lxc.cgroup.dir.*`): the daemon sets none and users cannot.

use workshop_api::definition::is_valid_name;
use workshop_api::ids::is_project_id;

use super::layout;

/// Longest `/proc/<pid>/cgroup` accepted (a deep tree inside a container makes it long).
pub const MAX_CGROUP_FILE: usize = 64 * 1024;
/// Longest container name believed; LXD's instance names have at most 63 characters.
const MAX_CONTAINER_NAME: usize = 256;
/// Longest line quoted in an error.
const MAX_QUOTED: usize = 80;
/// The top-level cgroup of a container's processes, before the container's name.
const PAYLOAD_PREFIX: &str = "lxc.payload.";
/// LXD's separator of project and instance in a container name: instance names cannot hold
/// it, project names can, so a name splits at its last one.
const PROJECT_SEPARATOR: char = '_';
/// Longest `-<n>` LXC appends to a cgroup name that is taken (it tries up to 999).
const MAX_RETRY_DIGITS: usize = 3;

/// The workshop a process runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestWorkshop {
    /// The LXD project of the workshop's user (`workshop.<user key>`).
    pub lxd_project: String,
    pub project_id: String,
    /// The workshop's name.
    pub workshop: String,
}

impl GuestWorkshop {
    /// Whether this is the instance of `target` (its user's LXD project, project id and name).
    pub fn is(&self, target: &crate::backend::Target) -> bool {
        self.workshop == target.name
            && self.project_id == target.project_id
            && self.lxd_project == layout::instances_project(&target.user)
    }
}

/// Why a process is not known to run in a workshop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("the process is not in a container")]
    NotInContainer,
    #[error("the process's cgroups name more than one container")]
    Ambiguous,
    #[error("malformed cgroup line {0:?}")]
    Malformed(String),
    #[error("the cgroup list is longer than {MAX_CGROUP_FILE} bytes")]
    TooLong,
    #[error("container {0:?} is not a workshop")]
    NotAWorkshop(String),
}

/// The workshop whose container holds the process with this `/proc/<pid>/cgroup` text.
pub fn workshop_of_cgroups(text: &str) -> Result<GuestWorkshop, OriginError> {
    if text.len() > MAX_CGROUP_FILE {
        return Err(OriginError::TooLong);
    }
    workshop_of_container(container_of_cgroups(text)?)
}

/// The one container named at the top of the cgroup paths, if any.
fn container_of_cgroups(text: &str) -> Result<&str, OriginError> {
    let mut found = None;
    for line in text.split_terminator('\n') {
        let Some(container) = top_container(cgroup_path(line)?)? else { continue };
        match found {
            None => found = Some(container),
            Some(previous) if previous == container => {}
            Some(_) => return Err(OriginError::Ambiguous),
        }
    }
    found.ok_or(OriginError::NotInContainer)
}

/// The path of a `<hierarchy id>:<controllers>:<path>` line (cgroup v2's is `0::<path>`).
fn cgroup_path(line: &str) -> Result<&str, OriginError> {
    let mut fields = line.splitn(3, ':');
    let (Some(id), Some(_controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(malformed(line));
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || !path.starts_with('/') {
        return Err(malformed(line));
    }
    Ok(path)
}

/// The container whose payload cgroup is the path's first component.
fn top_container(path: &str) -> Result<Option<&str>, OriginError> {
    let first = path[1..].split('/').next().unwrap_or_default();
    let Some(name) = first.strip_prefix(PAYLOAD_PREFIX) else { return Ok(None) };
    if name.is_empty() || name.len() > MAX_CONTAINER_NAME {
        return Err(malformed(path));
    }
    Ok(Some(name))
}

fn malformed(line: &str) -> OriginError {
    OriginError::Malformed(line.chars().take(MAX_QUOTED).collect())
}

/// The workshop of LXC container `name`: LXD project `workshop.<user key>`, instance
/// `<workshop>-<project id>`.
fn workshop_of_container(name: &str) -> Result<GuestWorkshop, OriginError> {
    let not_a_workshop = || OriginError::NotAWorkshop(name.to_string());
    let (project, instance) = name.rsplit_once(PROJECT_SEPARATOR).ok_or_else(not_a_workshop)?;
    layout::user_key_of_instances_project(project).ok_or_else(not_a_workshop)?;
    let (workshop, project_id) = split_instance(instance)
        .or_else(|| without_retry_suffix(instance).and_then(split_instance))
        .ok_or_else(not_a_workshop)?;
    Ok(GuestWorkshop {
        lxd_project: project.to_string(),
        project_id: project_id.to_string(),
        workshop: workshop.to_string(),
    })
}

/// `<workshop>-<project id>` (the form of `Target::instance_name`) split in two.
fn split_instance(instance: &str) -> Option<(&str, &str)> {
    let (workshop, project_id) = instance.rsplit_once('-')?;
    (is_valid_name(workshop) && is_project_id(project_id)).then_some((workshop, project_id))
}

/// `instance` without the `-<n>` LXC appends to a cgroup name already taken. A project id is
/// longer than any `<n>`, so a name never reads both ways.
fn without_retry_suffix(instance: &str) -> Option<&str> {
    let (rest, n) = instance.rsplit_once('-')?;
    (!n.is_empty() && n.len() <= MAX_RETRY_DIGITS && n.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Target;

    fn alice_dev() -> GuestWorkshop {
        GuestWorkshop {
            lxd_project: "workshop.alice".into(),
            project_id: "0123abcd".into(),
            workshop: "dev".into(),
        }
    }

    #[test]
    fn cgroup2_processes_of_a_workshop() {
        for text in [
            "0::/lxc.payload.workshop.alice_dev-0123abcd/init.scope\n",
            "0::/lxc.payload.workshop.alice_dev-0123abcd/user.slice/user-1000.slice/session-c2.scope\n",
            "0::/lxc.payload.workshop.alice_dev-0123abcd/.lxc\n",
            "0::/lxc.payload.workshop.alice_dev-0123abcd\n",
            // A cgroup left over from a crash makes LXC take the name with `-1`.
            "0::/lxc.payload.workshop.alice_dev-0123abcd-1/system.slice/cron.service\n",
        ] {
            assert_eq!(workshop_of_cgroups(text), Ok(alice_dev()), "{text}");
        }
    }

    #[test]
    fn cgroup1_and_hybrid_processes_of_a_workshop() {
        let text = "\
12:hugetlb:/lxc.payload.workshop.alice_dev-0123abcd
11:net_cls,net_prio:/lxc.payload.workshop.alice_dev-0123abcd
10:cpu,cpuacct:/lxc.payload.workshop.alice_dev-0123abcd/system.slice/ssh.service
9:rdma:/
4:memory:/lxc.payload.workshop.alice_dev-0123abcd/system.slice/ssh.service
1:name=systemd:/lxc.payload.workshop.alice_dev-0123abcd/system.slice/ssh.service
0::/lxc.payload.workshop.alice_dev-0123abcd/system.slice/ssh.service
";
        assert_eq!(workshop_of_cgroups(text), Ok(alice_dev()));
    }

    #[test]
    fn the_naming_of_the_backend_reads_back() {
        for user in ["alice", "john_doe", "1000"] {
            let id = crate::project::new_project_id();
            let target = Target::new(user, &id, "my-ws2");
            let project = layout::instances_project(user);
            let text = format!("0::/lxc.payload.{project}_{}/init.scope\n", target.instance_name());
            let found = workshop_of_cgroups(&text).unwrap();
            assert_eq!(
                found,
                GuestWorkshop { lxd_project: project, project_id: id, workshop: "my-ws2".into() }
            );
        }
    }

    #[test]
    fn a_guest_is_its_own_workshop_only() {
        let guest = alice_dev();
        assert!(guest.is(&Target::new("alice", "0123abcd", "dev")));
        assert!(!guest.is(&Target::new("bob", "0123abcd", "dev")), "another user's workshop");
        assert!(!guest.is(&Target::new("alice", "0123abce", "dev")), "another project");
        assert!(!guest.is(&Target::new("alice", "0123abcd", "prod")), "another workshop");
        // A user whose name needs a key.
        let odd = Target::new("john_doe", "0123abcd", "dev");
        let text =
            format!("0::/lxc.payload.{}_{}\n", layout::instances_project("john_doe"), odd.instance_name());
        let found = workshop_of_cgroups(&text).unwrap();
        assert!(found.is(&odd));
    }

    #[test]
    fn host_processes_are_in_no_workshop() {
        for text in [
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "0::/system.slice/snap.lxd.daemon.service\n",
            "0::/\n",
            "",
            "12:pids:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n0::/user.slice\n",
            // LXC's monitor of the container runs on the host.
            "0::/lxc.monitor.workshop.alice_dev-0123abcd\n",
            // A host user names a cgroup of their delegated subtree after someone's workshop.
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/lxc.payload.workshop.bob_ws-11111111\n",
            // The daemon in another cgroup namespace than the process: not believed.
            "0::/../lxc.payload.workshop.alice_dev-0123abcd\n",
        ] {
            assert_eq!(workshop_of_cgroups(text), Err(OriginError::NotInContainer), "{text:?}");
        }
    }

    #[test]
    fn a_nested_container_belongs_to_the_outer_workshop() {
        let text =
            "0::/lxc.payload.workshop.alice_dev-0123abcd/lxc.payload.workshop.bob_ws-11111111/init.scope\n";
        assert_eq!(workshop_of_cgroups(text), Ok(alice_dev()));
        let text = "0::/lxc.payload.workshop.alice_dev-0123abcd/lxc.payload.inner/system.slice\n";
        assert_eq!(workshop_of_cgroups(text), Ok(alice_dev()));
    }

    #[test]
    fn a_forged_line_makes_the_caller_ambiguous() {
        // A cgroup named "x\n0::/lxc.payload.workshop.bob_ws-11111111" inside alice's workshop.
        let text =
            "0::/lxc.payload.workshop.alice_dev-0123abcd/x\n0::/lxc.payload.workshop.bob_ws-11111111\n";
        assert_eq!(workshop_of_cgroups(text), Err(OriginError::Ambiguous));
        let text =
            "4:memory:/lxc.payload.workshop.bob_ws-11111111\n0::/lxc.payload.workshop.alice_dev-0123abcd\n";
        assert_eq!(workshop_of_cgroups(text), Err(OriginError::Ambiguous));
        // Garbage forged the same way is refused as such.
        let text = "0::/lxc.payload.workshop.alice_dev-0123abcd/x\ngarbage\n";
        assert!(matches!(workshop_of_cgroups(text), Err(OriginError::Malformed(_))));
    }

    #[test]
    fn containers_that_are_not_workshops() {
        for name in [
            // The default project, another project, the snapshots project.
            "c1",
            "myproject_c1",
            "workshop-snapshots.alice_dev-0123abcd",
            // An instance name cannot hold `_`: the project would be `workshop.alice_evil`.
            "workshop.alice_evil_dev-0123abcd",
            "workshop._dev-0123abcd",
            "workshop..._dev-0123abcd",
            "workshop.alice_..",
            "workshop.alice_../dev-0123abcd",
            "workshop.alice_dev-0123ABCD",
            "workshop.alice_dev-0123abc",
            "workshop.alice_-0123abcd",
            "workshop.alice_Dev-0123abcd",
            "workshop.alice_dev--0123abcd",
            "workshop.alice_dev-0123abcd-1234",
            "workshop.alice_dev-0123abcd-x",
            "workshop.alice_0123abcd",
            "workshop.alice_",
        ] {
            let text = format!("0::/lxc.payload.{name}/init.scope\n");
            let expected = name.split('/').next().unwrap();
            assert_eq!(workshop_of_cgroups(&text), Err(OriginError::NotAWorkshop(expected.into())), "{name}");
        }
    }

    #[test]
    fn malformed_and_overlong_input_is_refused() {
        for text in
            ["garbage\n", "0::relative/path\n", "x::/lxc.payload.workshop.alice_dev-0123abcd\n", ":/\n"]
        {
            assert!(matches!(workshop_of_cgroups(text), Err(OriginError::Malformed(_))), "{text:?}");
        }
        let text = format!("0::/lxc.payload.{}\n", "a".repeat(MAX_CONTAINER_NAME + 1));
        let Err(OriginError::Malformed(quoted)) = workshop_of_cgroups(&text) else { panic!("accepted") };
        assert!(quoted.len() <= MAX_QUOTED);
        let text = format!("0::/lxc.payload.workshop.alice_dev-0123abcd/{}\n", "d/".repeat(MAX_CGROUP_FILE));
        assert_eq!(workshop_of_cgroups(&text), Err(OriginError::TooLong));
        assert_eq!(workshop_of_cgroups("0::/lxc.payload.\n"), Err(malformed("/lxc.payload.")));
    }
}
