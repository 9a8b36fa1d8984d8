//! `workshop-tty` (workshopctl started under that name): the first process of a terminal
//! session in a workshop. It runs its arguments as a child, relays to it the signals sent to
//! it (LXD delivers the client's signals to the session's first process), waits for it, and
//! stays a moment longer before it exits with the child's status.
//!
//! Why it stays: LXD 5.0 may drop the last output of a terminal session whose first process
//! exits at once (measured: 8 of 200 `exec -i -- echo foo` under load printed nothing; none
//! when the process outlived its output by 50 ms). LXD reads the terminal while this process
//! lingers.
//!
//! Signals the terminal itself raises (Ctrl-C, a hang-up) reach the whole foreground process
//! group, the child included, so only those another process sent are relayed.

use std::ffi::CString;
use std::process::ExitCode;
use std::time::Duration;

/// How long the session outlives its command.
const LINGER: Duration = Duration::from_millis(100);

/// The signals relayed: those the `workshop` client forwards, and SIGCHLD, which ends the wait.
const RELAYED: [libc::c_int; 12] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGABRT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGCONT,
    libc::SIGWINCH,
];

/// Whether a signal with this `si_code` was sent by a process (kill, sigqueue, tkill), not
/// raised by the kernel for the terminal.
fn sent_by_a_process(code: i32) -> bool {
    code <= 0
}

/// Runs `argv` as described above; returns the code to exit with (125 when it cannot start).
pub fn run(argv: &[String]) -> ExitCode {
    if argv.is_empty() {
        eprintln!("usage: workshop-tty COMMAND [ARG...]");
        return ExitCode::from(125);
    }
    let args: Vec<CString> = match argv.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(args) => args,
        Err(_) => {
            eprintln!("workshop-tty: an argument holds a NUL byte");
            return ExitCode::from(125);
        }
    };
    // SAFETY: plain libc calls on values owned here; the child only calls async-signal-safe
    // functions (sigprocmask, execvp, write, _exit) between fork and exec.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in RELAYED.iter().chain([&libc::SIGCHLD]) {
            libc::sigaddset(&mut set, *sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        if libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
            return fail("cannot block signals");
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return fail("cannot read signals");
        }
        let mut pointers: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        pointers.push(std::ptr::null());
        let child = libc::fork();
        if child < 0 {
            return fail("cannot start the command");
        }
        if child == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::execvp(pointers[0], pointers.as_ptr());
            let message = b"workshop-tty: cannot run the command\n";
            libc::write(2, message.as_ptr().cast(), message.len());
            libc::_exit(127);
        }
        let status = relay_until_exit(fd, child);
        std::thread::sleep(LINGER);
        exit_as(status)
    }
}

/// Relays the signals read from `fd` to `child` until it exits; returns its wait status.
unsafe fn relay_until_exit(fd: libc::c_int, child: libc::pid_t) -> libc::c_int {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        if unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) } == child {
            return status;
        }
        // SAFETY: `info` is the size signalfd writes.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let read = unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
        if read != size as isize {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // Signals can no longer be read: wait for the child without relaying.
            let mut status = 0;
            // SAFETY: as above.
            unsafe { libc::waitpid(child, &mut status, 0) };
            return status;
        }
        let sig = info.ssi_signo as libc::c_int;
        if sig != libc::SIGCHLD && sent_by_a_process(info.ssi_code) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child, sig) };
        }
    }
}

/// The exit code the child's wait status gives: its own, or 128 and its signal (what LXD
/// reports for a command a signal ended).
fn exit_as(status: libc::c_int) -> ExitCode {
    if libc::WIFEXITED(status) {
        return ExitCode::from(libc::WEXITSTATUS(status) as u8);
    }
    ExitCode::from(128u8.wrapping_add(libc::WTERMSIG(status) as u8))
}

fn fail(what: &str) -> ExitCode {
    eprintln!("workshop-tty: {what}: {}", std::io::Error::last_os_error());
    ExitCode::from(125)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_childs_status_is_the_exit_code() {
        let code = |status| format!("{:?}", exit_as(status));
        assert_eq!(code(3 << 8), format!("{:?}", ExitCode::from(3)));
        assert_eq!(code(libc::SIGTERM), format!("{:?}", ExitCode::from(143)));
    }

    #[test]
    fn only_signals_a_process_sent_are_relayed() {
        assert!(sent_by_a_process(libc::SI_USER));
        assert!(sent_by_a_process(libc::SI_QUEUE));
        assert!(sent_by_a_process(libc::SI_TKILL));
        assert!(!sent_by_a_process(libc::SI_KERNEL));
    }
}
