//! `workshopd`: the Workshop daemon.

mod api;
mod config;
mod guest;
mod listen;
mod standby;
mod systemd;

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix_web::web;
use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tracing::{error, info, warn};
use workshop_actors::activity::Activity;
use workshop_actors::backend::Backend;
use workshop_actors::backend::lxd::LxdBackend;
use workshop_actors::daemon::{Daemon, DaemonConfig};
use workshop_actors::health::CHECK_INTERVAL;
use workshop_actors::managers::workshop::{SHARED_SOCKET_NAME, WorkshopConfig};
use workshop_actors::store::StoreConfig;

use crate::api::AppState;
use crate::api::connections::Connections;
use crate::api::peer::Listener;
use crate::config::Paths;

/// How long SIGTERM waits for running tasks before exiting anyway (the units give the stop
/// 40 s: this, the servers' 5 s, and the final compaction of the state).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// While the daemon starts (a large state is migrated and compacted), it asks the service
/// manager for this much more time again and again, and for at most `STARTUP_EXTENSION_MAX`.
const STARTUP_EXTENSION: Duration = Duration::from_secs(10);
const STARTUP_EXTENSION_MAX: Duration = Duration::from_secs(15 * 60);
/// How long the start waits for the firewall check before it serves (it takes milliseconds;
/// a tool that hangs is not waited for longer).
const FIREWALL_CHECK_WAIT: Duration = Duration::from_millis(500);

#[derive(Parser)]
#[command(name = "workshopd", version, about = "The Workshop daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run(RunArgs),
    /// Print the version.
    Version,
    /// Point systemd-resolved at an LXD bridge's DNS for a domain, so that the host resolves
    /// workshop names (`<ws>.<project>.wp`); the configure-dns unit runs it whenever the
    /// bridge's device appears.
    ConfigureDns {
        /// The LXD bridge (and host link), e.g. workshopbr0.
        interface: String,
        /// The domain its dnsmasq serves, e.g. wp.
        domain: String,
    },
    /// Write the manual pages (workshopd.1 and one per command) into DIR (`make install`).
    #[command(hide = true)]
    GenerateManpages { dir: PathBuf },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Create the daemon's directories when missing.
    #[arg(long)]
    create_dirs: bool,
    /// Log at debug level (also set by WORKSHOP_DEBUG=1).
    #[arg(long)]
    verbose: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Exit after this long with nothing to do (no change in progress, no open connection),
    /// for systemd to start the daemon again on the next connection; only when systemd passes
    /// all three sockets. A Go duration; 0 never stands by.
    #[arg(long, env = "WORKSHOP_STANDBY_AFTER", value_name = "DURATION", default_value = standby::DEFAULT_AFTER, value_parser = parse_duration)]
    standby_after: Duration,
    /// Also listen on this TCP address (`host:port`); as the reference's, it serves no route
    /// (a TCP peer has no credentials): every request is refused.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    workshop_api::duration::parse(text).map_err(|e| e.to_string())
}

/// Why the daemon stops.
enum Stop {
    Signal,
    Standby,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("{}", workshop_api::VERSION);
            Ok(())
        }
        Command::ConfigureDns { interface, domain } => configure_dns(&interface, &domain),
        Command::GenerateManpages { dir } => {
            use clap::CommandFactory as _;
            Ok(clap_mangen::generate_to(Cli::command(), dir)?)
        }
        Command::Run(args) => {
            init_tracing(&args);
            actix_web::rt::System::new().block_on(run(args))
        }
    }
}

/// How often a link that does not exist yet is looked for again.
const CONFIGURE_DNS_TRIES: u32 = 5;

fn configure_dns(interface: &str, domain: &str) -> anyhow::Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || !domain.split('.').all(label_ok) {
        anyhow::bail!(
            "cannot configure DNS: invalid domain {domain:?}: expected DNS labels (letters, digits, '-') joined by '.'"
        );
    }
    let paths = Paths::from_env();
    let lxd = LxdBackend::from_env(&paths.base).context("cannot set up the LXD backend")?;
    let addresses = actix_web::rt::System::new()
        .block_on(lxd.network_dns_addresses(interface))
        .with_context(|| format!("cannot configure DNS: cannot read network {interface:?} from LXD"))?;
    workshop_actors::doctor::configure_host_dns(interface, &addresses, domain, CONFIGURE_DNS_TRIES)?;
    eprintln!("{interface}: DNS {} for ~{domain}", addresses.join(" "));
    Ok(())
}

fn init_tracing(args: &RunArgs) {
    use tracing_subscriber::EnvFilter;
    let debug = args.verbose || std::env::var("WORKSHOP_DEBUG").is_ok_and(|v| v == "1" || v == "true");
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let startup = systemd::StartupExtension::start(STARTUP_EXTENSION, STARTUP_EXTENSION_MAX);
    let paths = Paths::from_env();
    if args.create_dirs {
        for dir in paths.dirs() {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    } else if !paths.base.is_dir() {
        anyhow::bail!("cannot start: {} does not exist (use --create-dirs)", paths.base.display());
    }

    // A daemon already running keeps its state, and the guest files every workshop of its
    // mounts: another one stops here, before it writes anything (the engine takes the lock
    // for good below).
    drop(workshop_actors::state::checkpoint::StateLock::acquire(&paths.base).context("cannot start daemon")?);
    let guest_bin_dir = guest::install_guest_files(&paths.base)?;
    let store = StoreConfig::from_env(&paths.cache)?;
    info!(url = %store.url, "SDK Store");
    let activity = Activity::default();
    let mut daemon = Daemon::start(DaemonConfig {
        state_dir: paths.base.clone(),
        backend: backend(&paths, &activity)?,
        check_interval: CHECK_INTERVAL,
        workshop: WorkshopConfig {
            cache_dir: paths.cache.clone(),
            guest_bin_dir: guest_bin_dir.clone(),
            mounts_dir: paths.mounts(),
            // The daemon opens its tree store and hands it over (`Daemon::start`).
            trees: None,
        },
        store,
        activity,
    })
    .context("cannot start daemon")?;

    // The first requests see what the firewall check finds (a few milliseconds).
    daemon.firewall_checked(FIREWALL_CHECK_WAIT).await;

    let untrusted_path = paths.untrusted_socket();
    // Workshops reach the untrusted API through this one: its directory is mounted into them.
    let guest_untrusted_path = guest_bin_dir.join(SHARED_SOCKET_NAME);
    let activated = listen::activated(&untrusted_path, &guest_untrusted_path)?;
    let standby = standby_after(&args, &activated);
    // The socket files this daemon made itself, removed when it exits; systemd's stay.
    let mut own: Vec<PathBuf> = Vec::new();
    let mut listener = |passed: Option<std::os::unix::net::UnixListener>, path: &std::path::Path| match passed
    {
        Some(l) => Ok(l),
        None => {
            let l = listen::bind(path)?;
            own.push(path.to_path_buf());
            Ok::<_, listen::ListenError>(l)
        }
    };
    let untrusted = listener(activated.untrusted, &untrusted_path)?;
    let guest_untrusted = listener(activated.guest, &guest_untrusted_path)?;
    // The trusted socket comes last: once it answers, every listener is there.
    let trusted = listener(activated.trusted, &paths.socket)?;

    let data = web::Data::new(AppState {
        guest_socket: Some(guest_untrusted_path.clone()),
        ..AppState::of(&daemon)
    });
    let connections = Connections::default();
    // One server per listener, so that each connection's listener is known (see api::peer).
    let mut binds = vec![
        (api::Bind::Unix(trusted), Listener::Trusted, 2),
        (api::Bind::Unix(untrusted), Listener::HostUntrusted, 1),
        (api::Bind::Unix(guest_untrusted), Listener::Guest, 1),
    ];
    if let Some(addr) = args.http {
        let tcp = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        binds.push((api::Bind::Tcp(tcp), Listener::Trusted, 1));
    }
    let servers = binds
        .into_iter()
        .map(|(listener, tag, workers)| api::serve(listener, tag, workers, data.clone(), connections.clone()))
        .collect::<std::io::Result<Vec<_>>>()?;
    let handles: Vec<_> = servers.iter().map(|s| s.handle()).collect();
    info!(
        socket = %paths.socket.display(),
        untrusted = %untrusted_path.display(),
        activated = own.is_empty(),
        standby_after_ms = standby.map(|d| d.as_millis() as u64),
        version = workshop_api::VERSION,
        "workshopd started"
    );
    drop(startup);
    systemd::notify("READY=1");
    if let Some(every) = systemd::watchdog_interval() {
        actix_web::rt::spawn(async move {
            loop {
                systemd::notify("WATCHDOG=1");
                tokio::time::sleep(every).await;
            }
        });
    }

    let server_tasks: Vec<_> = servers.into_iter().map(actix_web::rt::spawn).collect();
    let workload = daemon.workload();
    let idle = async {
        match standby {
            Some(after) => standby::wait_until_idle(after, &workload, &connections, &handles).await,
            None => std::future::pending().await,
        }
    };
    let remove_own = || {
        for path in &own {
            let _ = std::fs::remove_file(path);
        }
    };
    let stop = tokio::select! {
        () = wait_for_signal() => Stop::Signal,
        () = idle => Stop::Standby,
        failed = &mut daemon.failed => {
            let reason = failed.unwrap_or_else(|_| "the state engine is gone".into());
            // Without a durable state nothing may be acknowledged: exit at once, so that the
            // service manager starts the daemon again from what was saved.
            error!(%reason, "cannot go on without saving the state; exiting for the service manager to start workshopd again");
            systemd::notify("STOPPING=1");
            remove_own();
            std::process::exit(1);
        }
    };
    match stop {
        Stop::Signal => info!("stopping"),
        Stop::Standby => info!(
            idle_ms = standby.unwrap_or_default().as_millis() as u64,
            "standing by: nothing to do; the next connection starts workshopd again"
        ),
    }
    systemd::notify("STOPPING=1");
    // Each stop is sent at once; then wait for all of them.
    let stopping: Vec<_> = handles.iter().map(|h| h.stop(true)).collect();
    for stopped in stopping {
        stopped.await;
    }
    let left = daemon.drain(SHUTDOWN_GRACE).await;
    if left > 0 {
        warn!(running = left, "tasks still running at exit; they resume after restart");
    }
    for task in server_tasks {
        let _ = task.await;
    }
    remove_own();
    actix::System::current().stop();
    Ok(())
}

/// How long to wait idle before standing by, if the daemon may: only when systemd holds all
/// three sockets, since it is what brings the daemon back (a workshop reaching the guest socket
/// of a daemon that is gone would otherwise find nothing).
fn standby_after(args: &RunArgs, activated: &listen::Activated) -> Option<Duration> {
    if args.standby_after.is_zero() {
        return None;
    }
    if !activated.all() {
        if activated.trusted.is_some() {
            info!("no standby: systemd passed only some of the sockets (see workshopd.socket)");
        }
        return None;
    }
    Some(args.standby_after)
}

/// The container runtime: LXD, configured from the environment.
fn backend(paths: &Paths, activity: &Activity) -> anyhow::Result<Rc<dyn Backend>> {
    let lxd = LxdBackend::from_env(&paths.base).context("cannot set up the LXD backend")?;
    Ok(Rc::new(lxd.with_activity(activity.clone())))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
