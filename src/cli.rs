//! Command-line definitions. Flags override the config file and the
//! environment (see [`crate::config`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  pyconchat serve                                 listen on 127.0.0.1:7667
  pyconchat serve --listen 0.0.0.0:7667           accept connections from other machines
  pyconchat serve --listen 127.0.0.1:0            any free port (the address is printed)
  pyconchat join --name ann --group rust          join (or create) the group 'rust'
  pyconchat join --server chat.example.org:7667   ask for name and group in a form";

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
    /// Load-test a server: many clients, many messages; reports throughput and latency.
    Bench(crate::bench::BenchOptions),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7667].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where the database lives [default: the platform's data dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}
