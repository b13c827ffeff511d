use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc};

use clap::Parser;
use color_eyre::{
    config::{HookBuilder, Theme},
    eyre::{Result, WrapErr, bail},
};
use pyconchat::{
    cli::{
        Cli, CloseGroupArgs, Command, ForgetServerArgs, GroupsArgs, MigrateArgs, NamesArgs,
        ReleaseNameArgs, ServeArgs,
    },
    cluster::Bus,
    config::Config,
    server,
    store::{Maintenance, PostgresStore, SqliteStore, Store, now_ms, shown_url},
    tls::{self, KnownServers},
    tui,
};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error for the person who ran the command: one sentence with
/// its causes. Where it was raised and the backtrace are for developers,
/// shown only when they ask with `RUST_BACKTRACE`.
fn report(error: &color_eyre::Report) {
    if backtrace_wanted() {
        eprintln!("Error: {error:?}");
    } else {
        eprintln!("Error: {}", format!("{error:#}").trim_end());
    }
}

/// Rust's own rule for backtraces in error reports: `RUST_LIB_BACKTRACE`,
/// else `RUST_BACKTRACE`, set to anything but `0`.
fn backtrace_wanted() -> bool {
    std::env::var("RUST_LIB_BACKTRACE")
        .or_else(|_| std::env::var("RUST_BACKTRACE"))
        .is_ok_and(|value| value != "0")
}

/// Colour codes only reach a person at a terminal; in a file or a pipe
/// they are noise. `NO_COLOR` turns them off everywhere.
fn colours_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn run() -> Result<()> {
    let theme = if colours_on_stderr() {
        Theme::dark()
    } else {
        Theme::new()
    };
    HookBuilder::default().theme(theme).install()?;
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(config, args)),
        Command::Join(args) => {
            // The client draws a full screen on stdout: into a file or a
            // pipe that would be a stream of escape codes.
            if !std::io::stdout().is_terminal() {
                bail!("pyconchat join needs a terminal: its output is redirected");
            }
            runtime.block_on(tui::run(config, args))
        }
        Command::ForgetServer(args) => forget_server(&config, args),
        Command::ReleaseName(args) => release_name(config, args),
        Command::Names(args) => names(config, args),
        Command::Groups(args) => groups(config, args),
        Command::CloseGroup(args) => close_group(config, args),
        Command::Migrate(args) => migrate(&config, args),
        Command::Bench(options) => Ok(pyconchat::bench::main(options)?),
    }
}

async fn serve(mut config: Config, args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(colours_on_stderr())
        .with_writer(std::io::stderr)
        .init();
    let server = &mut config.server;
    server.listen = args.listen.unwrap_or(server.listen.clone());
    server.data_dir = args.data_dir.or(server.data_dir.take());
    server.tls_cert = args.tls_cert.or(server.tls_cert.take());
    server.tls_key = args.tls_key.or(server.tls_key.take());
    server.plaintext |= args.plaintext;
    server.metrics = args.metrics.or(server.metrics.take());
    let cluster = &mut config.cluster;
    cluster.bus = args.bus.or(cluster.bus.take());
    cluster.node_name = args.node_name.or(cluster.node_name.take());
    let limits = config.server.limits()?;
    let (bus, node_name) = match config.cluster.bus_settings()? {
        Some(settings) => {
            let node = settings.node.clone();
            let bus = Bus::connect(settings).await?;
            tracing::info!(%node, "joined the cluster's bus");
            (bus, Some(node))
        }
        None => (Bus::Local, None),
    };
    let data_dir = config.server.data_dir()?;
    // The cluster's database, when the nodes share one.
    let mut shared = None;
    let store: Arc<dyn Store> = match postgres_url(args.store, &config)? {
        Some(url) => {
            let files = data_dir.join(SqliteStore::FILES_DIR);
            let shown = shown_url(&url);
            let store = Arc::new(
                tokio::task::spawn_blocking(move || PostgresStore::open(&url, files)).await??,
            );
            tracing::info!(database = %shown, "store open");
            shared = Some(store.clone());
            store
        }
        None => {
            let store = SqliteStore::open_exclusive(&data_dir)?;
            store.set_max_bytes(config.server.max_database_mb * 1024 * 1024)?;
            tracing::info!(database = %store.path().display(), "store open");
            Arc::new(store)
        }
    };
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .wrap_err_with(|| format!("cannot listen on {}", config.server.listen))?;
    let metrics = match &config.server.metrics {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .wrap_err_with(|| format!("cannot listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    announce(format_args!(
        "pyconchat {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?
    ));
    if let Some(http) = &metrics {
        announce(format_args!(
            "metrics, /health and /ready on http://{}",
            http.local_addr()?
        ));
    }
    let mut options = server::Options {
        metrics,
        node_name,
        bus,
        ..server::Options::default()
    };
    if config.server.plaintext {
        announce(format_args!(
            "WARNING: TLS is off (--plaintext): names, secrets and messages travel in the clear"
        ));
    } else {
        let (cert, key) = (
            config.server.tls_cert.as_deref(),
            config.server.tls_key.as_deref(),
        );
        let tls = match (&shared, cert, key) {
            (Some(store), None, None) => shared_identity(store.clone()).await?,
            _ => tls::server_identity(&data_dir, cert, key)?,
        };
        let made = if tls.created { "created " } else { "" };
        announce(format_args!("TLS certificate {made}{}", tls.origin));
        announce(format_args!("certificate fingerprint {}", tls.fingerprint));
        options.tls = Some(tls.config);
    }
    server::run_with(listener, store, limits, options, shutdown).await;
    Ok(())
}

/// The certificate every node of a cluster serves, so a client's pin
/// holds on each: the one the first node stored in the database, made and
/// stored by this node if there is none yet.
async fn shared_identity(store: Arc<PostgresStore>) -> Result<tls::ServerIdentity> {
    let made = tls::self_signed()?;
    let (made, (cert, key)) = tokio::task::spawn_blocking(move || {
        let stored = store.shared_identity(&made.cert, &made.key)?;
        Ok::<_, pyconchat::store::StoreError>((made, stored))
    })
    .await??;
    let created = cert == made.cert;
    let pair = tls::PemPair { cert, key };
    Ok(tls::identity_from_pem(&pair, "in the database", created)?)
}

/// Whether an operator command may run beside a server on the same data dir.
enum Access {
    /// Safe beside a running server.
    Shared,
    /// Refused while a server holds the data dir.
    Exclusive,
}

/// The PostgreSQL store a server-side command names: `--store`, else the
/// config's `[cluster] store`; `None` for the embedded one.
fn postgres_url(flag: Option<String>, config: &Config) -> Result<Option<String>> {
    match flag.or_else(|| config.cluster.store.clone()) {
        None => Ok(None),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Some(url))
        }
        Some(other) => bail!(
            "the store must be a postgres:// URL, not {}",
            shown_url(&other)
        ),
    }
}

/// The store an operator command names: PostgreSQL (see [`postgres_url`]),
/// else the database of the data dir (`--data-dir`, else the config's).
/// On PostgreSQL nothing holds other commands off: stop the servers first
/// where the command says so.
fn operator_store(
    config: &Config,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    access: Access,
) -> Result<Box<dyn Maintenance>> {
    let dir = match data_dir {
        Some(dir) => dir,
        None => config.server.data_dir()?,
    };
    Ok(match (postgres_url(store, config)?, access) {
        (Some(url), _) => Box::new(PostgresStore::open(&url, dir.join(SqliteStore::FILES_DIR))?),
        (None, Access::Shared) => Box::new(SqliteStore::open(&dir)?),
        (None, Access::Exclusive) => Box::new(SqliteStore::open_exclusive(&dir)?),
    })
}

/// Creates or upgrades a PostgreSQL store's schema.
fn migrate(config: &Config, args: MigrateArgs) -> Result<()> {
    let Some(url) = postgres_url(args.store, config)? else {
        bail!(
            "migrate needs a PostgreSQL store: --store postgres://... or [cluster] store in the config"
        );
    };
    let shown = shown_url(&url);
    let done = PostgresStore::migrate(&url)?;
    match done.from {
        0 => println!("Created the schema at {shown} (version {}).", done.to),
        from if from == done.to => {
            println!("The schema at {shown} is up to date (version {from}).");
        }
        from => println!(
            "Upgraded the schema at {shown} from version {from} to {}.",
            done.to
        ),
    }
    Ok(())
}

/// Frees a name on the server so its owner can claim it with a new identity.
fn release_name(config: Config, args: ReleaseNameArgs) -> Result<()> {
    let store = operator_store(&config, args.data_dir, args.store, Access::Shared)?;
    if store.release_name(&args.name)? {
        println!(
            "Released {}: the next join under that name claims it.",
            args.name
        );
    } else {
        println!("No one holds the name {} on this server.", args.name);
    }
    Ok(())
}

/// Lists the names in no group not used for the given days, and releases
/// them if asked. Safe while the server runs: it looks names up afresh on
/// every hello.
fn names(config: Config, args: NamesArgs) -> Result<()> {
    let store = operator_store(&config, args.data_dir, args.store, Access::Shared)?;
    let before = days_ago(args.unused_days);
    if args.release {
        let released = store.release_unused_names(before)?;
        for name in &released {
            println!("{name}");
        }
        println!("Released {} unused names.", released.len());
        return Ok(());
    }
    let unused = store.unused_names(before)?;
    for name in &unused {
        println!("{:<32}  last seen {}", name.name, date(name.last_seen_ms));
    }
    println!(
        "{} names in no group, unused for {} days; --release frees them.",
        unused.len(),
        args.unused_days
    );
    Ok(())
}

/// Lists the groups with nothing logged and no member connected for the
/// given days.
fn groups(config: Config, args: GroupsArgs) -> Result<()> {
    let store = operator_store(&config, args.data_dir, args.store, Access::Shared)?;
    let idle = store.idle_groups(days_ago(args.idle_days))?;
    for group in &idle {
        println!(
            "{:<32}  admin {:<32}  {:>5} members  last active {}",
            group.name,
            group.admin,
            group.members,
            date(group.active_ms)
        );
    }
    println!(
        "{} groups idle for {} days; close-group GROUP removes one (with the server stopped).",
        idle.len(),
        args.idle_days
    );
    Ok(())
}

/// Removes a group and everything of it. The server keeps groups in
/// memory, so this refuses to run beside it.
fn close_group(config: Config, args: CloseGroupArgs) -> Result<()> {
    let store = operator_store(&config, args.data_dir, args.store, Access::Exclusive)?;
    let Some(closed) = store.close_group(&args.group)? else {
        println!("There is no group {} on this server.", args.group);
        return Ok(());
    };
    let ids: Vec<String> = closed.files.iter().map(|r| r.info.id.clone()).collect();
    if let Err(error) = store.contents().delete(&ids) {
        eprintln!(
            "cannot delete the files' contents ({error}); the server removes them when it next starts"
        );
    }
    println!(
        "Closed {}: removed {} members, {} log entries and {} files.",
        args.group,
        closed.members,
        closed.entries,
        closed.files.len()
    );
    Ok(())
}

/// The Unix time in ms `days` days ago.
fn days_ago(days: u32) -> i64 {
    now_ms().saturating_sub(i64::from(days) * 24 * 3600 * 1000)
}

/// A stored time as a UTC date and time, for the operator's listings.
fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// Removes a server's pinned certificate so the next join pins it anew.
fn forget_server(config: &Config, args: ForgetServerArgs) -> Result<()> {
    let data_dir = args.data_dir.map_or_else(|| config.client.data_dir(), Ok)?;
    let known = KnownServers::new(data_dir.join(KnownServers::FILE_NAME));
    if known.forget(&args.server)? {
        println!(
            "Forgot the certificate pinned for {}; the next join pins the one it sees.",
            args.server
        );
    } else {
        println!(
            "No certificate was pinned for {} in {}.",
            args.server,
            known.path().display()
        );
    }
    Ok(())
}

/// Prints a line for the operator (or a script) on stdout. A closed stdout
/// (`pyconchat serve | head -1`) must not take the server down.
fn announce(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Completes on Ctrl-C or SIGTERM.
/// Listens for Ctrl-C and SIGTERM from the moment it is called, so a
/// signal sent right after the address is printed already stops the server
/// gracefully.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).wrap_err("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).wrap_err("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
