//! The chat server: accepts connections and runs one session task per
//! connection around a shared [`hub`](hub) that owns all group state.
//!
//! [`run`] follows mini-redis: the caller binds the listener and decides
//! what stops the server, so tests bind `127.0.0.1:0` and `main` passes
//! Ctrl-C/SIGTERM. Shutdown is graceful: stop accepting, tell every client,
//! let sessions save their cursors, drain the hub, return.

mod hub;
mod session;
mod writer;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    protocol::{DEFAULT_MAX_FRAME_BYTES, ErrorBody, ErrorCode},
    store::Store,
};

/// The server's limits, from the `[server]` section of the config.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    /// How many earlier log entries a newly approved member receives.
    pub history_on_join: u64,
    /// Frames queued for one client before it counts as too slow and is dropped.
    pub outbound_queue: usize,
    /// Changes queued for the hub before sessions wait to submit more.
    pub hub_queue: usize,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    /// How long a write to one client may take before it is dropped.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_message_bytes: 16 * 1024,
            history_on_join: 50,
            outbound_queue: 4096,
            hub_queue: 8192,
            max_connections: 20_000,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `listener` until `shutdown` completes, then shuts down gracefully.
pub async fn run(
    listener: TcpListener,
    store: Arc<dyn Store>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let (hub, hub_task) = hub::Hub::new(store, limits.clone());
    let hub_done = tokio::spawn(hub_task.run());
    let stop = CancellationToken::new();
    let sessions = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut next_id = 0_u64;
    tokio::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        next_id += 1;
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                sessions.spawn(session::serve(
                    socket,
                    peer,
                    next_id,
                    hub.clone(),
                    limits.clone(),
                    stop.clone(),
                    permit,
                ));
            }
            Err(_) => {
                tracing::warn!(%peer, "refused a connection: at the connection limit");
                let error = ErrorBody::new(
                    ErrorCode::TooManyConnections,
                    "the server is full; try again later",
                );
                sessions.spawn(session::refuse(socket, error, limits.max_frame_bytes));
            }
        }
    }
    tracing::info!("shutting down");
    drop(listener);
    stop.cancel();
    sessions.close();
    sessions.wait().await;
    drop(hub);
    if let Err(error) = hub_done.await {
        tracing::error!(%error, "the hub task failed");
    }
    tracing::info!("shut down cleanly");
}
