//! Who is calling: peer credentials (SO_PEERCRED) read once per connection, and the request
//! extractors that enforce each route's access level.

use std::any::Any;
use std::ffi::CStr;
use std::future::{Ready, ready};
use std::path::PathBuf;

use actix_web::dev::{Extensions, Payload};
use actix_web::{FromRequest, HttpRequest, http::Method, web};

use super::AppState;
use super::error::ApiError;

/// The credentials of a connection, stored in its extensions by [`on_connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// Accepted on the untrusted (in-workshop) socket.
    pub untrusted: bool,
}

/// The paths of the untrusted sockets (the host's `<socket>.untrusted` and the one shared
/// with workshops), to tell them from the trusted listener.
#[derive(Debug, Clone)]
pub struct UntrustedPaths(pub Vec<PathBuf>);

/// actix-web `on_connect` hook: reads SO_PEERCRED and the local socket path.
pub fn on_connect(untrusted: &UntrustedPaths, conn: &dyn Any, ext: &mut Extensions) {
    let Some(sock) = conn.downcast_ref::<actix_web::rt::net::UnixStream>() else { return };
    let Ok(cred) = sock.peer_cred() else { return };
    let local = sock.local_addr().ok().and_then(|a| a.as_pathname().map(PathBuf::from));
    ext.insert(Peer { uid: cred.uid(), untrusted: local.is_some_and(|p| untrusted.0.contains(&p)) });
}

/// A caller on the trusted socket (any local user). Refuses the untrusted socket (403),
/// connections without credentials (401), and non-GET requests in degraded mode (500).
#[derive(Debug, Clone)]
pub struct Caller {
    pub uid: u32,
    /// The user's primary group.
    pub gid: u32,
    pub user: String,
}

impl Caller {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The caller as the managers know users.
    pub fn user_ref(&self) -> workshop_actors::managers::UserRef {
        workshop_actors::managers::UserRef { name: self.user.clone(), uid: self.uid, gid: self.gid }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(trusted_caller(req))
    }
}

fn trusted_caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    let peer = req.conn_data::<Peer>().copied().ok_or(ApiError::Unauthorized)?;
    if peer.untrusted {
        return Err(ApiError::Forbidden(format!("cannot access {:?} from inside a workshop", req.path())));
    }
    if req.method() != Method::GET
        && let Some(state) = req.app_data::<web::Data<AppState>>()
        && let Some(reason) = state.health.degraded()
    {
        return Err(ApiError::Degraded(reason));
    }
    let (user, gid) = user_entry(peer.uid).ok_or(ApiError::NoUserName)?;
    Ok(Caller { uid: peer.uid, gid, user })
}

/// A caller on either socket (only `/v1/workshopctl` accepts these).
#[derive(Debug, Clone, Copy)]
pub struct AnyCaller(pub Peer);

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.conn_data::<Peer>().copied().map(AnyCaller).ok_or(ApiError::Unauthorized))
    }
}

/// The login name and primary group of `uid` (NSS lookup).
pub fn user_entry(uid: u32) -> Option<(String, u32)> {
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    loop {
        // SAFETY: all pointers are valid for the call; buf outlives the use of pwd's fields.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points to a NUL-terminated string inside buf.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some((name.to_string_lossy().into_owned(), pwd.pw_gid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name() {
        assert_eq!(user_entry(0), Some(("root".to_string(), 0)));
    }

    #[test]
    fn unknown_uid_has_none() {
        assert_eq!(user_entry(3_999_999_999), None);
    }
}
