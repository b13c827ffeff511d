//! PyconChat: terminal group chat. One crate holds the server, the client
//! library and the full-screen client, so the tests drive the same code
//! users run.
//!
//! # Layout
//! - [`bench`](mod@bench): `pyconchat bench`, the load generator.
//! - [`cluster`]: several nodes on one store, with a bus between them.
//! - [`cli`] and [`config`]: flags, the TOML file and `PYCONCHAT_*` variables, layered.
//! - [`client`]: connect, requests, events and reconnection, for the TUI and tests alike.
//! - [`protocol`]: the wire messages and the length-prefixed MessagePack framing.
//! - [`server`]: the Tokio server; [`server::run`] serves a bound listener.
//! - [`store`]: durable state behind the [`store::Store`] trait; SQLite by default.
//! - [`tls`]: the server's certificate and the client's pinned fingerprints.
//! - [`tui`]: `pyconchat join`, the full-screen client: state, update, view.

pub mod bench;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
mod private_file;
pub mod protocol;
pub mod server;
pub mod store;
mod sync;
pub mod tls;
pub mod tui;
