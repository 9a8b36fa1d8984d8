//! The v1 REST API front: routes, access levels and the envelope. This is the only place that
//! knows HTTP; it converts between wire types (`workshop_api`) and the actors' messages.

pub mod connections;
pub mod error;
pub mod peer;
mod peer_workshop;
pub mod response;
mod v1;

use std::os::unix::net::UnixListener;

use actix::Addr;
use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use workshop_actors::engine::{Query, StateEngine};
use workshop_actors::health::SharedHealth;
use workshop_actors::managers::command::CommandManager;
use workshop_actors::managers::hook::HookManager;
use workshop_actors::managers::interface::InterfaceManager;
use workshop_actors::managers::workshop::WorkshopManager;
use workshop_actors::store::StoreActor;
use workshop_actors::store::installed::ListInstalled;

use self::connections::Connections;
use self::error::ApiError;
use self::peer::{Caller, Listener};
use self::response::WarningMeta;

/// What every handler can reach.
pub struct AppState {
    pub engine: Addr<StateEngine>,
    pub workshops: Addr<WorkshopManager>,
    pub commands: Addr<CommandManager>,
    pub store: Addr<StoreActor>,
    /// The tree store, once there is one (see `Daemon::installed`).
    pub installed: Option<actix::Recipient<ListInstalled>>,
    pub hooks: Addr<HookManager>,
    pub interfaces: Addr<InterfaceManager>,
    pub health: SharedHealth,
    /// `workshop du` and `workshop prune`.
    pub space: Addr<workshop_actors::space::SpaceManager>,
    /// For `workshop doctor`.
    pub backend: Addr<workshop_actors::backend::BackendActor>,
    /// The socket workshops reach the daemon on, once it is bound (for `workshop doctor`).
    pub guest_socket: Option<std::path::PathBuf>,
    /// The change waits in progress, per user (`v1::changes::wait`).
    pub waits: v1::Waits,
}

impl AppState {
    /// What the routes need of a started daemon.
    pub fn of(daemon: &workshop_actors::daemon::Daemon) -> Self {
        Self {
            engine: daemon.engine.clone(),
            workshops: daemon.workshops.clone(),
            commands: daemon.commands.clone(),
            store: daemon.store.clone(),
            installed: daemon.installed.clone(),
            hooks: daemon.hooks.clone(),
            interfaces: daemon.interfaces.clone(),
            health: daemon.health.clone(),
            space: daemon.space.clone(),
            backend: daemon.backend.clone(),
            guest_socket: None,
            waits: v1::Waits::default(),
        }
    }

    /// The warnings pending for `caller` (their own and daemon-wide ones), for the envelope
    /// of non-error responses.
    pub async fn warning_meta(&self, caller: &Caller) -> WarningMeta {
        let uid = caller.uid;
        self.engine
            .send(Query(Box::new(move |st| {
                let (count, latest) = st.warnings_summary(uid, chrono::Utc::now());
                WarningMeta { count: count as u64, latest }
            })))
            .await
            .unwrap_or_default()
    }
}

/// What a server listens on.
pub enum Bind {
    Unix(UnixListener),
    /// `workshopd run --http`: no peer has credentials there, so every route refuses (401), as
    /// the reference's listener does.
    Tcp(std::net::TcpListener),
}

/// The v1 API on `listener`, with its own server so that every connection it accepts is known
/// to come from that listener; each connection counts in `connections` while it is open.
pub fn serve(
    listener: Bind,
    tag: Listener,
    workers: usize,
    data: web::Data<AppState>,
    connections: Connections,
) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap_fn(log_request)
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .on_connect(move |conn, ext| {
        connections.open(ext);
        peer::on_connect(tag, conn, ext);
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(5);
    Ok(match listener {
        Bind::Unix(listener) => server.listen_uds(listener)?,
        Bind::Tcp(listener) => server.listen(listener)?,
    }
    .run())
}

/// Registers every v1 route. Each resource answers 405 for verbs it does not serve.
pub fn configure(cfg: &mut web::ServiceConfig) {
    v1::configure(cfg);
}

/// The app-wide fallback: unknown paths.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoEndpoint)
}

/// The per-resource fallback: known path, wrong verb.
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

/// Logs `METHOD URL status duration`, except the frequently polled `GET /v1/changes/{id}`.
pub fn log_request<S>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse, actix_web::Error>> + use<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().to_string();
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        let polled = method == actix_web::http::Method::GET
            && path.starts_with("/v1/changes/")
            && !path.contains("/wait");
        if !polled {
            tracing::debug!(%method, %path, status = res.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
        }
        Ok(res)
    }
}

/// A daemon on the fake backend under `root`, serving the API on `root/workshop.socket`
/// (the trusted listener, its connections counted in `connections`), for the API front's tests;
/// with the server's change waits.
#[cfg(test)]
pub(crate) fn test_server(
    root: &std::path::Path,
    backend: std::rc::Rc<workshop_actors::backend::fake::FakeBackend>,
    connections: Connections,
) -> (workshop_actors::daemon::Daemon, std::path::PathBuf, v1::Waits) {
    test_server_with(root, backend, connections, |_| {})
}

/// [`test_server`] with the daemon's configuration adjusted first (e.g. its SDK Store).
#[cfg(test)]
pub(crate) fn test_server_with(
    root: &std::path::Path,
    backend: std::rc::Rc<workshop_actors::backend::fake::FakeBackend>,
    connections: Connections,
    adjust: impl FnOnce(&mut workshop_actors::daemon::DaemonConfig),
) -> (workshop_actors::daemon::Daemon, std::path::PathBuf, v1::Waits) {
    use workshop_actors::daemon::{Daemon, DaemonConfig};
    std::fs::create_dir_all(root.join("state")).unwrap();
    let mut config = DaemonConfig::for_tests(root, backend);
    adjust(&mut config);
    let daemon = Daemon::start(config).unwrap();
    let socket = root.join("workshop.socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let data = web::Data::new(AppState::of(&daemon));
    let waits = data.waits.clone();
    let server = serve(Bind::Unix(listener), peer::Listener::Trusted, 1, data, connections).unwrap();
    actix_web::rt::spawn(server);
    (daemon, socket, waits)
}
