//! Command-line definitions. Flags override the config file and the
//! environment (see [`crate::config`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  pyconchat serve                                 listen on 127.0.0.1:7667
  pyconchat serve --listen 0.0.0.0:7667           accept connections from other machines
  pyconchat serve --listen 127.0.0.1:0            any free port (the address is printed)
  pyconchat migrate --store postgres://db/chat    create or upgrade a PostgreSQL store's schema
  pyconchat serve --store postgres://db/chat      keep everything in PostgreSQL
  pyconchat serve --metrics 127.0.0.1:9667        Prometheus metrics, /health and /ready
  pyconchat join --name ann --group rust          join (or create) the group 'rust'
  pyconchat join --server chat.example.org:7667   ask for name and group in a form
  pyconchat join --server a:7667,b:7667           the first that answers; the others if it goes";

#[derive(Debug, Parser)]
#[command(name = "pyconchat", version, about = "Terminal group chat", after_help = EXAMPLES)]
pub struct Cli {
    /// Config file [default: the platform's config dir, e.g. ~/.config/pyconchat/config.toml].
    #[arg(long, global = true, env = "PYCONCHAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a chat server.
    #[command(after_help = EXAMPLES)]
    Serve(ServeArgs),
    /// Join a group in the full-screen client (asks for what is missing).
    #[command(after_help = EXAMPLES)]
    Join(JoinArgs),
    /// Forget the certificate pinned for a server, after its operator changed it.
    ForgetServer(ForgetServerArgs),
    /// Server side: free a name whose owner lost their identity key.
    ReleaseName(ReleaseNameArgs),
    /// Server side: list (and release) names in no group, unused for a while.
    Names(NamesArgs),
    /// Server side: list groups nobody has been in for a while.
    Groups(GroupsArgs),
    /// Server side, with the server stopped: remove a group, its log and its files.
    CloseGroup(CloseGroupArgs),
    /// Server side: create or upgrade the schema of a PostgreSQL store.
    Migrate(MigrateArgs),
    /// Load-test a server: many clients, many messages; reports throughput and latency.
    Bench(crate::bench::BenchOptions),
}

#[derive(Debug, Args)]
pub struct ReleaseNameArgs {
    /// The user name to free; the next join under it claims it.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The server's data dir [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store, if not the embedded one in the data dir: a postgres:// URL
    /// [default: the config's `[cluster] store`].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// List names in no group (and not asking to join one) that nobody has
    /// connected with for this many days.
    #[arg(long, value_name = "DAYS")]
    pub unused_days: u32,
    /// Release the names listed, so anyone may claim them again.
    #[arg(long)]
    pub release: bool,
    /// The server's data dir [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store, if not the embedded one in the data dir: a postgres:// URL
    /// [default: the config's `[cluster] store`].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// List groups with no message and no member connected for this many days.
    #[arg(long, value_name = "DAYS")]
    pub idle_days: u32,
    /// The server's data dir [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store, if not the embedded one in the data dir: a postgres:// URL
    /// [default: the config's `[cluster] store`].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct CloseGroupArgs {
    /// The group to remove, with its members, requests, log and files.
    #[arg(value_name = "GROUP")]
    pub group: String,
    /// The server's data dir [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store, if not the embedded one in the data dir: a postgres:// URL
    /// [default: the config's `[cluster] store`].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The PostgreSQL store, postgres://user@host/database
    /// [default: the config's `[cluster] store`].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct ForgetServerArgs {
    /// The server address, exactly as given to join (host:port).
    #[arg(value_name = "ADDR")]
    pub server: String,
    /// The client's data dir [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Server address, host:port, or several separated by commas: they are
    /// tried in order, and the next on losing one [default: 127.0.0.1:7667].
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    pub server: Option<String>,
    /// Your name in the group.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The group to join; it is created, with you as admin, if it does not exist.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Where your identity, log and last session live [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Connect without TLS, to a server started with --plaintext (local development only).
    #[arg(long)]
    pub plaintext: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7667].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where the database lives [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in PostgreSQL instead of the data dir's database:
    /// postgres://user@host/database [default: the config's `[cluster] store`].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// TLS certificate chain (PEM) [default: a self-signed one made in the data dir].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve without TLS: for local development and tests only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub plaintext: bool,
    /// Join a cluster: the NATS bus between the nodes (nats://host:port).
    #[arg(long, value_name = "URL")]
    pub bus: Option<String>,
    /// This node's name in the cluster, unique among its nodes [default: random].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Serve Prometheus metrics (/metrics), liveness (/health) and
    /// readiness (/ready) over HTTP on this address [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
}
