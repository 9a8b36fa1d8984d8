//! Who is calling: the listener a connection came in on (tagged when it was bound), peer
//! credentials (SO_PEERCRED) and, on the socket shared with workshops, the workshop the peer
//! runs in, all read once per connection; and the request extractors that enforce each
//! route's access level.

use std::any::Any;
use std::ffi::CStr;
use std::future::{Ready, ready};
use std::os::fd::AsRawFd;

use actix_web::dev::{Extensions, Payload};
use actix_web::{FromRequest, HttpRequest, http::Method, web};
use workshop_actors::backend::lxd::origin::GuestWorkshop;

use super::AppState;
use super::error::ApiError;
use super::peer_workshop;

/// The listener a connection was accepted on: each has its own server, so this is known
/// from the listener itself and never guessed from the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The trusted socket (ours, or the one systemd passes).
    Trusted,
    /// The host's untrusted socket (`<socket>.untrusted`).
    HostUntrusted,
    /// The untrusted socket in the directory shared with every workshop.
    Guest,
}

/// The credentials of a connection, stored in its extensions by [`on_connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub listener: Listener,
}

/// The connection's socket, stored in its extensions by [`on_connect`]: a handler that waits
/// long looks at it to learn that its client went away ([`peer_gone`]).
#[derive(Debug, Clone, Copy)]
pub struct ConnFd(std::os::fd::RawFd);

/// Ends once the peer of the request's connection has hung up (looked at every `every`); never
/// when the connection is not known. The socket stays open while the request is handled, so
/// its descriptor names it for that long.
pub async fn peer_gone(req: &actix_web::HttpRequest, every: std::time::Duration) {
    let Some(ConnFd(fd)) = req.conn_data::<ConnFd>().copied() else {
        return std::future::pending().await;
    };
    loop {
        let mut poll = libc::pollfd { fd, events: libc::POLLRDHUP, revents: 0 };
        // SAFETY: one pollfd of a descriptor the connection holds open; no wait.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        if ready > 0 && poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
        {
            return;
        }
        actix_web::rt::time::sleep(every).await;
    }
}

/// On the guest listener: the workshop the peer process runs in, or why it is not known.
#[derive(Debug, Clone)]
struct GuestOrigin(Result<GuestWorkshop, String>);

/// actix-web `on_connect` hook of the server of `listener`: reads SO_PEERCRED and, on the guest
/// listener, which workshop the peer runs in. A connection whose credentials cannot be read
/// gets no [`Peer`], so every route refuses it.
pub fn on_connect(listener: Listener, conn: &dyn Any, ext: &mut Extensions) {
    let Some(sock) = conn.downcast_ref::<actix_web::rt::net::UnixStream>() else { return };
    ext.insert(ConnFd(sock.as_raw_fd()));
    let Ok(cred) = sock.peer_cred() else { return };
    if listener == Listener::Guest {
        let origin = peer_workshop::workshop_of_peer(sock.as_raw_fd(), cred.pid());
        if let Err(e) = &origin {
            tracing::debug!(pid = cred.pid(), uid = cred.uid(), error = %e, "guest connection from no workshop");
        }
        ext.insert(GuestOrigin(origin.map_err(|e| e.to_string())));
    }
    ext.insert(Peer { uid: cred.uid(), listener });
}

/// A caller on the trusted socket (any local user). Refuses both untrusted sockets (403),
/// connections without credentials (401), and non-GET requests in degraded mode (500).
#[derive(Debug, Clone)]
pub struct Caller {
    pub uid: u32,
    /// The user's primary group.
    pub gid: u32,
    pub user: String,
    /// The data directory the caller's environment names (`$XDG_DATA_HOME`), checked.
    pub data_home: Option<std::path::PathBuf>,
}

impl Caller {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The caller as the managers know users.
    pub fn user_ref(&self) -> workshop_actors::managers::UserRef {
        workshop_actors::managers::UserRef {
            name: self.user.clone(),
            uid: self.uid,
            gid: self.gid,
            data_home: self.data_home.clone(),
        }
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
    let refused = |from: &str| ApiError::Forbidden(format!("cannot access {:?} from {from}", req.path()));
    match peer.listener {
        Listener::Trusted => {}
        Listener::HostUntrusted => return Err(refused("the untrusted socket")),
        Listener::Guest => return Err(refused("inside a workshop")),
    }
    if req.method() != Method::GET
        && let Some(state) = req.app_data::<web::Data<AppState>>()
        && let Some(reason) = state.health.refuses_changes()
    {
        return Err(ApiError::Degraded(reason));
    }
    let (user, gid) = user_entry(peer.uid).ok_or(ApiError::NoUserName)?;
    let data_home = match req.headers().get(workshop_api::data_home::HEADER) {
        Some(value) => Some(workshop_api::data_home::decode(value.as_bytes()).map_err(ApiError::BadRequest)?),
        None => None,
    };
    Ok(Caller { uid: peer.uid, gid, user, data_home })
}

/// A process inside a workshop, on the socket shared with workshops: the workshop is the one
/// its process runs in, whatever the request says. Refuses the other sockets and a peer in no
/// workshop (403).
#[derive(Debug, Clone)]
pub struct GuestCaller {
    /// The peer's uid as the host sees it.
    pub uid: u32,
    pub workshop: GuestWorkshop,
}

impl FromRequest for GuestCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(guest_caller(req))
    }
}

fn guest_caller(req: &HttpRequest) -> Result<GuestCaller, ApiError> {
    let peer = req.conn_data::<Peer>().copied().ok_or(ApiError::Unauthorized)?;
    if peer.listener != Listener::Guest {
        return Err(ApiError::Forbidden(format!("cannot access {:?} from outside a workshop", req.path())));
    }
    match req.conn_data::<GuestOrigin>() {
        Some(GuestOrigin(Ok(workshop))) => Ok(GuestCaller { uid: peer.uid, workshop: workshop.clone() }),
        Some(GuestOrigin(Err(why))) => {
            Err(ApiError::Forbidden(format!("cannot identify the calling workshop: {why}")))
        }
        None => Err(ApiError::Forbidden("cannot identify the calling workshop".into())),
    }
}

/// A caller on any socket (only `/v1/workshopctl` accepts these): a host process on the
/// trusted or the host's untrusted socket, or an identified workshop on the guest socket.
#[derive(Debug, Clone)]
pub enum AnyCaller {
    Host(Peer),
    Guest(GuestCaller),
}

impl FromRequest for AnyCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.conn_data::<Peer>().copied() {
            None => Err(ApiError::Unauthorized),
            Some(peer) if peer.listener == Listener::Guest => guest_caller(req).map(AnyCaller::Guest),
            Some(peer) => Ok(AnyCaller::Host(peer)),
        })
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
    use std::io::BufReader;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

    use actix_web::{App, HttpServer};

    use super::*;

    /// Serves `GET /caller` (a [`Caller`]) and `GET /any` (an [`AnyCaller`]) with connections
    /// tagged `tag`, on an abstract socket: its connections have no local path, which the
    /// untrusted check used to compare with a list and so took for the trusted socket (L1).
    fn serve_abstract(tag: Listener) -> SocketAddr {
        // One name per server: the tests of this module run at once in one process.
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("workshopd-peer-test-{}-{tag:?}-{n}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixListener::bind_addr(&address).unwrap();
        let server = HttpServer::new(|| {
            App::new()
                .route("/caller", web::get().to(|c: Caller| async move { c.user }))
                .route(
                    "/data-home",
                    web::get().to(|c: Caller| async move { format!("{:?}", c.user_ref().data_home) }),
                )
                .route("/any", web::get().to(|_: AnyCaller| async { "any" }))
        })
        .on_connect(move |conn, ext| on_connect(tag, conn, ext))
        .workers(1)
        .disable_signals()
        .listen_uds(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        address
    }

    async fn get(address: &SocketAddr, path: &'static str) -> (u16, String) {
        get_with(address, path, None).await
    }

    async fn get_with(address: &SocketAddr, path: &'static str, data_home: Option<&str>) -> (u16, String) {
        let (address, data_home) = (address.clone(), data_home.map(str::to_string));
        tokio::task::spawn_blocking(move || {
            let stream = UnixStream::connect_addr(&address).unwrap();
            workshop_client::http::write_request(&mut &stream, "GET", path, None, data_home.as_deref())
                .unwrap();
            let response = workshop_client::http::read_response(&mut BufReader::new(&stream)).unwrap();
            (response.status, String::from_utf8_lossy(&response.body).into_owned())
        })
        .await
        .unwrap()
    }

    #[actix_web::test]
    async fn the_listener_decides_even_without_a_local_address() {
        let untrusted = serve_abstract(Listener::HostUntrusted);
        let (status, body) = get(&untrusted, "/caller").await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains(r#"cannot access \"/caller\" from the untrusted socket"#), "{body}");
        assert_eq!(get(&untrusted, "/any").await, (200, "any".to_string()));

        let guest = serve_abstract(Listener::Guest);
        let (status, body) = get(&guest, "/caller").await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("from inside a workshop"), "{body}");
        // The test process is in no workshop.
        let (status, body) = get(&guest, "/any").await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body.contains("cannot identify the calling workshop: the process is not in a container"),
            "{body}"
        );

        let trusted = serve_abstract(Listener::Trusted);
        let (status, body) = get(&trusted, "/caller").await;
        assert_eq!(status, 200, "{body}");
    }

    /// The caller's data directory comes from its header, checked: a bad one is refused by
    /// what is wrong with it, before any handler runs.
    #[actix_web::test]
    async fn the_callers_data_directory_is_checked() {
        let trusted = serve_abstract(Listener::Trusted);
        assert_eq!(get(&trusted, "/data-home").await, (200, "None".to_string()));
        let encoded = workshop_api::data_home::encode(std::path::Path::new("/home/u/my data"));
        assert_eq!(
            get_with(&trusted, "/data-home", Some(&encoded)).await,
            (200, r#"Some("/home/u/my data")"#.to_string())
        );
        for (value, why) in [
            ("relative", "not an absolute path"),
            ("/a/../../etc", r#"\"..\" is not allowed"#),
            ("/a%00", "NUL byte"),
            ("/a%zz", "bad %-escape"),
        ] {
            let (status, body) = get_with(&trusted, "/data-home", Some(value)).await;
            assert_eq!(status, 400, "{value}: {body}");
            assert!(body.contains("cannot use data directory") && body.contains(why), "{value}: {body}");
        }
    }

    #[test]
    fn root_has_a_name() {
        assert_eq!(user_entry(0), Some(("root".to_string(), 0)));
    }

    #[test]
    fn unknown_uid_has_none() {
        assert_eq!(user_entry(3_999_999_999), None);
    }
}
