//! The chat server: accepts connections and runs one session task per
//! connection around a shared hub that owns all group state.
//!
//! [`run`] follows mini-redis: the caller binds the listener and decides
//! what stops the server, so tests bind `127.0.0.1:0` and `main` passes
//! Ctrl-C/SIGTERM. Shutdown is a drain: stop accepting, let each session
//! write the answers to what it was already asked, tell every client to
//! move (`server_shutdown`), let sessions save their cursors, let the hub
//! commit what is queued, return. [`run_with`] adds the operator's side:
//! TLS, the metrics listener with `/health` and `/ready`, a node name.

mod admission;
mod clock;
mod files;
mod hub;
mod last_seen;
mod metrics;
mod ops;
mod rate;
mod rules;
mod session;
mod signups;
mod transfers;
mod writer;

use std::{future::Future, sync::Arc, time::Duration};

use futures::future::OptionFuture;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    cluster::Bus,
    protocol::{DEFAULT_MAX_FRAME_BYTES, ErrorBody, ErrorCode},
    store::{Store, StoreError},
};

pub(crate) use crate::sync::lock;
use clock::Clock;
use metrics::Metrics;
pub use ops::{PROBE_DEADLINE, Readiness};

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
    pub max_connections_per_ip: usize,
    pub handshake_timeout: Duration,
    /// A connection that sends nothing (not even a ping) for this long is
    /// closed, so half-open connections do not pile up.
    pub idle_timeout: Duration,
    /// How long a write to one client may take before it is dropped.
    pub write_timeout: Duration,
    /// Steady rate and burst of requests of any kind per connection.
    pub requests_per_second: u32,
    pub request_burst: u32,
    /// Steady rate and burst of chat messages per connection.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// New names one address (an IPv6 /64) may create: a steady rate and a
    /// burst. Names already taken are never limited.
    pub new_names_per_minute: u32,
    pub new_name_burst: u32,
    /// New groups one address may create; joining an existing group is
    /// never limited.
    pub new_groups_per_minute: u32,
    pub new_group_burst: u32,
    /// Pending join requests one group may hold.
    pub max_pending_requests: usize,
    /// How long a rejected user waits before asking the same group again.
    pub rejoin_cooldown: Duration,
    /// How long a drain (SIGTERM) waits for sessions to answer what they
    /// were asked and say goodbye before it closes the rest.
    pub drain_timeout: Duration,
    /// Largest file a client may upload; 0 turns uploads off.
    pub max_file_bytes: u64,
    /// Room for all stored files together; the oldest go to make room.
    pub max_files_bytes: u64,
    /// How long an uploaded file stays available.
    pub file_retention: Duration,
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
            max_connections_per_ip: 20_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            write_timeout: Duration::from_secs(30),
            requests_per_second: 50,
            request_burst: 200,
            messages_per_second: 20,
            message_burst: 50,
            new_names_per_minute: 60,
            new_name_burst: 200,
            new_groups_per_minute: 6,
            new_group_burst: 30,
            max_pending_requests: 100,
            rejoin_cooldown: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
            max_file_bytes: 256 * 1024 * 1024,
            max_files_bytes: 4 * 1024 * 1024 * 1024,
            file_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Logs a failure the client cannot do anything about and says so in
/// general terms: details stay in the server's log.
pub(crate) fn internal(error: &dyn std::fmt::Display) -> ErrorBody {
    tracing::error!(%error, "internal error");
    ErrorBody::new(
        ErrorCode::Internal,
        "the server hit an internal error; try again",
    )
}

impl From<StoreError> for ErrorBody {
    /// A full disk, an unreachable database and a change made meanwhile by
    /// another server are worth telling the client; anything else is
    /// internal.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "the store is unreachable");
                ErrorBody::new(
                    ErrorCode::Unavailable,
                    "the server cannot reach its database right now; nothing changed; try again shortly",
                )
            }
            StoreError::Conflict(_) => {
                tracing::info!(%error, "a batch met another server's change");
                ErrorBody::new(
                    ErrorCode::Conflict,
                    "the conversation changed on another server at the same moment; nothing changed; try again",
                )
            }
            error if error.is_full() => {
                tracing::error!(%error, "the store is full");
                ErrorBody::new(
                    ErrorCode::Internal,
                    "the server could not save that: its disk is full",
                )
            }
            error => internal(&error),
        }
    }
}

/// Runs blocking work (store calls, file I/O) on Tokio's blocking threads;
/// a panic there becomes an internal error for this request alone.
pub(crate) async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ErrorBody>
where
    T: Send + 'static,
    E: Into<ErrorBody> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done.map_err(Into::into),
        Err(panicked) => Err(internal(&panicked)),
    }
}

/// What every session of one server shares; built once in `serve`.
pub(crate) struct SessionCtx {
    pub hub: hub::Hub,
    pub shelf: Arc<files::Shelf>,
    pub limits: Limits,
    /// Cancelled when the server starts to drain: sessions stop reading
    /// requests, write what the hub answers, say goodbye.
    pub draining: CancellationToken,
    /// Cancelled when the drain is over (or takes too long): a write to a
    /// client that does not read must not hold the shutdown up.
    pub shutdown: CancellationToken,
    pub metrics: Arc<Metrics>,
    pub tls: Option<TlsAcceptor>,
    pub signups: Arc<signups::Signups>,
    pub last_seen: Arc<last_seen::LastSeen>,
}

/// Removes expired files now and then until `stop`.
async fn expire_files(shelf: Arc<files::Shelf>, retention: Duration, stop: CancellationToken) {
    let every = retention.clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let shelf = shelf.clone();
        if let Err(error) = blocking(move || shelf.expire()).await {
            tracing::warn!(error = %error.message, "expiring files failed");
        }
    }
}

/// How a server runs beyond its [`Limits`]; the default is plain TCP, no
/// metrics listener and no node name.
#[derive(Default)]
pub struct Options {
    /// Serve TLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Serve `/metrics`, `/health` and `/ready` over HTTP here.
    pub metrics: Option<TcpListener>,
    /// This node's name in a cluster: the `node` label of every metric.
    pub node_name: Option<String>,
    /// What `/ready` checks besides the store (which it always checks)
    /// and the drain: in a cluster, the bus.
    pub readiness: Vec<Arc<dyn Readiness>>,
    /// How this node reaches the other nodes of its cluster, if any.
    pub bus: Bus,
}

/// Serves `listener` over plain TCP until `shutdown` completes, then shuts
/// down gracefully. For local development and tests; see [`run_tls`].
pub async fn run(
    listener: TcpListener,
    store: Arc<dyn Store>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    run_with(listener, store, limits, Options::default(), shutdown).await;
}

/// Serves `listener` over TLS until `shutdown` completes, then shuts down
/// gracefully.
pub async fn run_tls(
    listener: TcpListener,
    store: Arc<dyn Store>,
    limits: Limits,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) {
    let options = Options {
        tls: Some(tls),
        ..Options::default()
    };
    run_with(listener, store, limits, options, shutdown).await;
}

/// Hears the other nodes until the server shuts down, handing what it
/// hears to the hub.
fn join_cluster(bus: Bus, ctx: &Arc<SessionCtx>, tasks: &TaskTracker) {
    if bus.is_local() {
        return;
    }
    let (inbound, mut heard) = tokio::sync::mpsc::channel(ctx.limits.hub_queue);
    let hub = ctx.hub.clone();
    let stop = ctx.shutdown.clone();
    tasks.spawn(async move {
        bus.run(move || hub.read().connected(), inbound, stop).await;
    });
    let hub = ctx.hub.clone();
    tasks.spawn(async move {
        while let Some(one) = heard.recv().await {
            if hub.submit(hub::Job::Remote(one)).await.is_err() {
                break;
            }
        }
    });
}

/// Serves `listener` as `options` say until `shutdown` completes, then
/// drains: see the module docs.
pub async fn run_with(
    listener: TcpListener,
    store: Arc<dyn Store>,
    limits: Limits,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    let metrics = Arc::new(Metrics::new(options.node_name.as_deref(), &options.bus));
    let clock = Clock::new();
    let shelf = Arc::new(files::Shelf::new(store.clone(), &limits, clock));
    let signups = Arc::new(signups::Signups::new(&limits));
    let (hub, hub_task) = hub::Hub::new(
        store.clone(),
        shelf.clone(),
        limits.clone(),
        clock,
        signups.clone(),
        options.bus.clone(),
        metrics.clone(),
    );
    let hub_done = tokio::spawn(hub_task.run());
    let sessions = TaskTracker::new();
    let background = TaskTracker::new();
    let prepare = shelf.clone();
    if let Err(error) = blocking(move || prepare.prepare().map_err(|e| internal(&e))).await {
        tracing::error!(error = %error.message, "the file store is unusable; uploads are refused");
    }
    let ctx = Arc::new(SessionCtx {
        hub,
        shelf,
        limits,
        draining: CancellationToken::new(),
        shutdown: CancellationToken::new(),
        metrics,
        tls: options.tls.map(TlsAcceptor::from),
        signups,
        last_seen: Arc::default(),
    });
    // The cluster's tasks hold hub handles and hear other nodes until
    // shutdown, through the drain: they end before the hub can.
    let cluster = TaskTracker::new();
    join_cluster(options.bus.clone(), &ctx, &cluster);
    let ops_stop = CancellationToken::new();
    // Its own task, not in `background`: it holds a hub handle, so it must
    // end before the hub can.
    let mut ops_task = None;
    if let Some(http) = options.metrics {
        let mut probes: Vec<Arc<dyn Readiness>> = vec![Arc::new(ops::StoreProbe(store.clone()))];
        probes.extend(options.readiness);
        if !options.bus.is_local() {
            probes.push(Arc::new(options.bus.clone()));
        }
        let ops = Arc::new(ops::Ops {
            metrics: ctx.metrics.clone(),
            hub: ctx.hub.clone(),
            ready: ops::Ready {
                probes,
                draining: ctx.draining.clone(),
            },
        });
        ops_task = Some(tokio::spawn(ops::serve(http, ops, ops_stop.clone())));
    }
    background.spawn(last_seen::record(
        ctx.last_seen.clone(),
        store,
        ctx.shutdown.clone(),
    ));
    background.spawn(expire_files(
        ctx.shelf.clone(),
        ctx.limits.file_retention,
        ctx.shutdown.clone(),
    ));
    let admission = admission::Admission::new(
        ctx.limits.max_connections,
        ctx.limits.max_connections_per_ip,
    );
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
        match admission.admit(peer.ip()) {
            Ok(permit) => {
                sessions.spawn(session::serve(ctx.clone(), socket, peer, next_id, permit));
            }
            Err(error) => {
                tracing::warn!(%peer, "refused a connection: {}", error.message);
                sessions.spawn(session::refuse(ctx.clone(), socket, error));
            }
        }
    }
    drop(listener);
    drain(&ctx, &sessions).await;
    cluster.close();
    cluster.wait().await;
    ops_stop.cancel();
    if let Some(Err(error)) = OptionFuture::from(ops_task).await {
        tracing::error!(%error, "the metrics listener failed");
    }
    drop(ctx);
    if let Err(error) = hub_done.await {
        tracing::error!(%error, "the hub task failed");
    }
    background.close();
    background.wait().await;
    tracing::info!("shut down cleanly");
}

/// Lets every session answer what it was asked and say goodbye, for at
/// most the drain timeout; then closes what is left.
async fn drain(ctx: &SessionCtx, sessions: &TaskTracker) {
    tracing::info!(
        connections = sessions.len(),
        "draining: no new connections, telling clients to move"
    );
    ctx.draining.cancel();
    sessions.close();
    if tokio::time::timeout(ctx.limits.drain_timeout, sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = sessions.len(),
            "the drain timed out; closing the connections left"
        );
    }
    ctx.shutdown.cancel();
    sessions.wait().await;
}
