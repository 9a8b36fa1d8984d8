//! Taking on a user's filesystem identity on the current thread only.
//!
//! Linux keeps credentials per thread; the C library's `setgroups` and `setuid` family change
//! every thread of the process, but the raw system calls used here (`setgroups`, `setfsgid`,
//! `setfsuid`) change only the calling one. Moving the filesystem uid away from 0 also clears
//! the file capabilities (`CAP_DAC_OVERRIDE`, `CAP_FOWNER`, ...) from the thread's effective
//! set, so the kernel checks every path the thread touches exactly as it would for the user.
//! Threads that called [`become_user`] are never given back to a pool: they end with their
//! one job ([`super::as_user`]).

use std::ffi::CString;

use super::UserFsError;
use crate::managers::UserRef;

/// Most supplementary groups a user may have here (the kernel's own limit is 65536).
const MAX_GROUPS: usize = 65536;

/// Makes the calling thread check file access as `user` (uid, primary group and supplementary
/// groups). A daemon that is not root can only act as itself.
pub(super) fn become_user(user: &UserRef) -> Result<(), UserFsError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid == user.uid {
        return Ok(());
    }
    let refuse = |why: String| UserFsError::Identity { user: user.name.clone(), why };
    if euid != 0 {
        return Err(refuse(format!("the daemon runs as uid {euid}, not root")));
    }
    let groups = group_list(user).map_err(refuse)?;
    // SAFETY: the pointer and length describe `groups`, which outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    if rc != 0 {
        return Err(refuse(format!("setgroups: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: setfsgid and setfsuid have no memory preconditions; both return the previous
    // value, so calling them with an invalid id (-1) reads the current one back.
    unsafe {
        libc::setfsgid(user.gid);
        libc::setfsuid(user.uid);
        if libc::setfsgid(u32::MAX) as u32 != user.gid || libc::setfsuid(u32::MAX) as u32 != user.uid {
            return Err(refuse("the kernel kept the daemon's identity".into()));
        }
    }
    Ok(())
}

/// The user's primary and supplementary groups, from the system's group database.
fn group_list(user: &UserRef) -> Result<Vec<libc::gid_t>, String> {
    let name = CString::new(user.name.as_bytes()).map_err(|_| "user name holds a NUL byte".to_string())?;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = groups.len() as libc::c_int;
        // SAFETY: `name` is NUL-terminated; `groups` has room for `count` entries, and
        // getgrouplist writes at most that many (it reports the needed size otherwise).
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), user.gid, groups.as_mut_ptr(), &mut count) };
        let count = usize::try_from(count).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(count);
            return Ok(groups);
        }
        if count <= groups.len() || count > MAX_GROUPS {
            return Err(format!("cannot list the groups of {:?}", user.name));
        }
        groups.resize(count, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_its_groups() {
        let root = UserRef { name: "root".into(), uid: 0, gid: 0, data_home: None };
        assert!(group_list(&root).unwrap().contains(&0));
    }

    #[test]
    fn acting_as_oneself_changes_nothing() {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let me = UserRef { name: "me".into(), uid, gid, data_home: None };
        std::thread::spawn(move || become_user(&me)).join().unwrap().unwrap();
    }
}
