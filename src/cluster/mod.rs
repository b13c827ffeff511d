//! Several `pyconchat serve` nodes as one server: the store (PostgreSQL)
//! holds the truth and the order, and a bus (NATS) only makes delivery
//! between the nodes fast.
//!
//! - [`bus`]: the seam, [`Bus::Local`] for one server and [`Bus::Nats`]
//!   for a cluster, and the notes the nodes exchange.
//! - `nats`: the NATS implementation.
//! - [`gapfill`]: what to read from the store before delivering what arrived.
//! - [`presence`]: who is online on the other nodes, and when a silent node
//!   counts as gone.
//!
//! `docs/cluster.md` gives the design and the argument for its order.

pub mod bus;
pub mod gapfill;
mod nats;
pub mod presence;

pub use bus::{Bus, BusError, BusSettings};
pub use nats::NatsBus;

/// The namespace of the subjects when none is configured.
pub const DEFAULT_NAMESPACE: &str = "pyconchat";
