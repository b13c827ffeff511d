use std::sync::Arc;

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr};
use pyconchat::{
    cli::{Cli, Command, ForgetServerArgs, ReleaseNameArgs, ServeArgs},
    config::Config,
    server,
    store::SqliteStore,
    tls::{self, KnownServers},
    tui,
};
use tokio::net::TcpListener;

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(config, args)),
        Command::Join(args) => runtime.block_on(tui::run(config, args)),
        Command::ForgetServer(args) => forget_server(&config, args),
        Command::ReleaseName(args) => release_name(config, args),
        Command::Bench(options) => Ok(pyconchat::bench::main(options)?),
    }
}

async fn serve(mut config: Config, args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let server = &mut config.server;
    server.listen = args.listen.unwrap_or(server.listen.clone());
    server.data_dir = args.data_dir.or(server.data_dir.take());
    server.tls_cert = args.tls_cert.or(server.tls_cert.take());
    server.tls_key = args.tls_key.or(server.tls_key.take());
    server.plaintext |= args.plaintext;
    let limits = config.server.limits()?;
    let data_dir = config.server.data_dir()?;
    let store = SqliteStore::open(&data_dir)?;
    store.set_max_bytes(config.server.max_database_mb * 1024 * 1024)?;
    tracing::info!(database = %store.path().display(), "store open");
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .wrap_err_with(|| format!("cannot listen on {}", config.server.listen))?;
    announce(format_args!(
        "pyconchat {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?
    ));
    let store = Arc::new(store);
    if config.server.plaintext {
        announce(format_args!(
            "WARNING: TLS is off (--plaintext): names, secrets and messages travel in the clear"
        ));
        server::run(listener, store, limits, shutdown_signal()).await;
    } else {
        let (cert, key) = (
            config.server.tls_cert.as_deref(),
            config.server.tls_key.as_deref(),
        );
        let tls = tls::server_identity(&data_dir, cert, key)?;
        let made = if tls.created { "created " } else { "" };
        announce(format_args!(
            "TLS certificate {made}{}",
            tls.cert_path.display()
        ));
        announce(format_args!("certificate fingerprint {}", tls.fingerprint));
        server::run_tls(listener, store, limits, tls.config, shutdown_signal()).await;
    }
    Ok(())
}

/// Frees a name on the server so its owner can claim it with a new identity.
fn release_name(mut config: Config, args: ReleaseNameArgs) -> Result<()> {
    config.server.data_dir = args.data_dir.or(config.server.data_dir);
    let store = SqliteStore::open(&config.server.data_dir()?)?;
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
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
