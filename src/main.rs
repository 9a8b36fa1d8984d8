//! `workshopd`: the Workshop daemon.

mod api;
mod config;
mod guest;
mod listen;
mod systemd;

use std::rc::Rc;
use std::time::Duration;

use actix_web::web;
use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tracing::{error, info, warn};
use workshop_actors::backend::Backend;
use workshop_actors::backend::lxd::LxdBackend;
use workshop_actors::daemon::{Daemon, DaemonConfig};
use workshop_actors::health::CHECK_INTERVAL;
use workshop_actors::managers::workshop::{SHARED_SOCKET_NAME, WorkshopConfig};
use workshop_actors::store::StoreConfig;

use crate::api::AppState;
use crate::api::peer::Listener;
use crate::config::Paths;

/// How long SIGTERM waits for running tasks before exiting anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

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
        Command::Run(args) => {
            init_tracing(&args);
            actix_web::rt::System::new().block_on(run(args))
        }
    }
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
    let paths = Paths::from_env();
    if args.create_dirs {
        for dir in paths.dirs() {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    } else if !paths.base.is_dir() {
        anyhow::bail!("cannot start: {} does not exist (use --create-dirs)", paths.base.display());
    }

    let guest_bin_dir = guest::install_guest_files(&paths.base)?;
    let store = StoreConfig::from_env(&paths.cache)?;
    info!(url = %store.url, "SDK Store");
    let mut daemon = Daemon::start(DaemonConfig {
        state_dir: paths.base.clone(),
        backend: backend(&paths)?,
        check_interval: CHECK_INTERVAL,
        workshop: WorkshopConfig {
            cache_dir: paths.cache.clone(),
            guest_bin_dir: guest_bin_dir.clone(),
            mounts_dir: paths.mounts(),
        },
        store,
    })
    .context("cannot start daemon")?;

    let untrusted_path = paths.untrusted_socket();
    let untrusted = listen::bind(&untrusted_path)?;
    // Workshops reach the untrusted API through this one: its directory is mounted into them.
    let guest_untrusted_path = guest_bin_dir.join(SHARED_SOCKET_NAME);
    let guest_untrusted = listen::bind(&guest_untrusted_path)?;
    // The trusted socket comes last: once it answers, every listener is there.
    let trusted = match listen::activated() {
        Some(l) => {
            info!("using socket-activated trusted socket");
            l
        }
        None => listen::bind(&paths.socket)?,
    };

    let data = web::Data::new(AppState::of(&daemon));
    // One server per listener, so that each connection's listener is known (see api::peer).
    let servers = [
        (trusted, Listener::Trusted, 2),
        (untrusted, Listener::HostUntrusted, 1),
        (guest_untrusted, Listener::Guest, 1),
    ]
    .into_iter()
    .map(|(listener, tag, workers)| api::serve(listener, tag, workers, data.clone()))
    .collect::<std::io::Result<Vec<_>>>()?;
    let handles: Vec<_> = servers.iter().map(|s| s.handle()).collect();
    info!(socket = %paths.socket.display(), untrusted = %untrusted_path.display(), version = workshop_api::VERSION, "workshopd started");
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
    tokio::select! {
        () = wait_for_signal() => {}
        failed = &mut daemon.failed => {
            let reason = failed.unwrap_or_else(|_| "the state engine is gone".into());
            // Without a durable state nothing may be acknowledged: exit at once, so that the
            // service manager starts the daemon again from what was saved.
            error!(%reason, "cannot go on without saving the state; exiting for the service manager to start workshopd again");
            systemd::notify("STOPPING=1");
            let _ = std::fs::remove_file(&untrusted_path);
            let _ = std::fs::remove_file(&guest_untrusted_path);
            std::process::exit(1);
        }
    }
    info!("stopping");
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
    let _ = std::fs::remove_file(&untrusted_path);
    let _ = std::fs::remove_file(&guest_untrusted_path);
    actix::System::current().stop();
    Ok(())
}

/// The container runtime: LXD, configured from the environment.
fn backend(paths: &Paths) -> anyhow::Result<Rc<dyn Backend>> {
    Ok(Rc::new(LxdBackend::from_env(&paths.base).context("cannot set up the LXD backend")?))
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
