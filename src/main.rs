use std::sync::Arc;

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr};
use pyconchat::{
    cli::{Cli, Command, ServeArgs},
    config::Config,
    server,
    store::SqliteStore,
};
use tokio::net::TcpListener;

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(config, args)),
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
    config.server.listen = args.listen.unwrap_or(config.server.listen);
    config.server.data_dir = args.data_dir.or(config.server.data_dir);
    let limits = config.server.limits()?;
    let data_dir = config.server.data_dir()?;
    let store = SqliteStore::open(&data_dir)?;
    tracing::info!(database = %store.path().display(), "store open");
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .wrap_err_with(|| format!("cannot listen on {}", config.server.listen))?;
    println!(
        "pyconchat {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?
    );
    server::run(listener, Arc::new(store), limits, shutdown_signal()).await;
    Ok(())
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
