//! Terminal and signal plumbing over libc: TTY checks, raw mode, window size, and signals
//! delivered through a self-pipe.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use libc::c_int;

/// Whether `fd` is a terminal.
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Width and height of the terminal on `fd`.
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a plain `winsize`.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) != 0 || ws.ws_col == 0 {
            return None;
        }
        Some((ws.ws_col, ws.ws_row))
    }
}

/// A terminal switched to raw mode; [`RawMode::restore`] (or drop) puts the old settings back.
pub struct RawMode {
    fd: RawFd,
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Switches the terminal on `fd` to raw mode.
    pub fn enable(fd: RawFd) -> io::Result<Self> {
        // SAFETY: termios is plain data filled by tcgetattr and only passed back to libc.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Self { fd, saved: Some(saved) })
        }
    }

    /// Restores the settings saved by [`RawMode::enable`] (once).
    pub fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            // SAFETY: restores settings read from the same descriptor.
            unsafe {
                libc::tcsetattr(self.fd, libc::TCSANOW, &saved);
            }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Write end of the pipe each caught signal goes to, by signal number, for the handler.
static PIPE_WRITE: [AtomicI32; 65] = [const { AtomicI32::new(-1) }; 65];

extern "C" fn on_signal(sig: c_int) {
    let Some(slot) = usize::try_from(sig).ok().and_then(|i| PIPE_WRITE.get(i)) else { return };
    let fd = slot.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: only async-signal-safe calls; errno is saved and restored around write(2).
    unsafe {
        let errno = *libc::__errno_location();
        let byte = sig as u8;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// Signals caught by this process, readable one at a time. Each signal goes to the most
/// recent `Signals` that caught it.
pub struct Signals {
    read: RawFd,
}

impl Signals {
    /// Catches `signals` from now on (replacing their default actions).
    pub fn catch(signals: &[c_int]) -> io::Result<Self> {
        let mut fds = [0 as c_int; 2];
        // SAFETY: pipe2 fills two descriptors; sigaction gets a zeroed, then filled, struct.
        unsafe {
            if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
                return Err(io::Error::last_os_error());
            }
            for &sig in signals {
                let slot = usize::try_from(sig).ok().and_then(|i| PIPE_WRITE.get(i));
                let Some(slot) = slot else {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no such signal {sig}")));
                };
                slot.store(fds[1], Ordering::Relaxed);
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                if sig == libc::SIGSEGV {
                    // A real fault must still kill the process the second time round.
                    action.sa_flags |= libc::SA_RESETHAND;
                }
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(Self { read: fds[0] })
    }

    /// The next caught signal, waiting at most `timeout` (forever when `None`).
    pub fn next(&self, timeout: Option<Duration>) -> Option<c_int> {
        let ms = timeout.map_or(-1, |t| c_int::try_from(t.as_millis()).unwrap_or(c_int::MAX));
        let mut pfd = libc::pollfd { fd: self.read, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll and read on our own pipe descriptor with a one-byte buffer.
        unsafe {
            if libc::poll(&mut pfd, 1, ms) <= 0 {
                return None;
            }
            let mut byte = 0u8;
            if libc::read(self.read, (&mut byte as *mut u8).cast(), 1) == 1 {
                Some(c_int::from(byte))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_signals_come_through_the_pipe() {
        let signals = Signals::catch(&[libc::SIGUSR2]).unwrap();
        assert_eq!(signals.next(Some(Duration::ZERO)), None);
        // SAFETY: sends a caught signal to this process.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGUSR2);
        }
        assert_eq!(signals.next(Some(Duration::from_secs(5))), Some(libc::SIGUSR2));
    }
}
