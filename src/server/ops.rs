//! The operator's HTTP listener (`--metrics ADDR`): `/metrics` for
//! Prometheus, `/health` for "the process answers", `/ready` for "send
//! clients here".
//!
//! It is plain hyper (HTTP/1.1, three fixed paths): no router, no
//! middleware. It runs until the server has drained, so a balancer polling
//! `/ready` sees the node go unready the moment a drain starts.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    header::{CONTENT_TYPE, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{hub::Hub, metrics::Metrics};
use crate::store::Store;

/// Something `/ready` waits for besides the server itself: the store, and
/// in a cluster the bus. Give the server more with
/// [`Options::readiness`](super::Options::readiness).
pub trait Readiness: Send + Sync + 'static {
    /// The part's name, as `/ready` reports it: `store`, `bus`.
    fn name(&self) -> &str;

    /// Whether the part can serve now, or why not. Called on a blocking
    /// thread under [`PROBE_DEADLINE`], so one quick round trip is fine.
    fn check(&self) -> Result<(), String>;
}

/// How long one readiness check may take before it counts as a failure.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// The store is ready when it answers a lookup: the empty name is never a
/// group, so this reads one index page and finds nothing.
pub(crate) struct StoreProbe(pub Arc<dyn Store>);

impl Readiness for StoreProbe {
    fn name(&self) -> &str {
        "store"
    }

    fn check(&self) -> Result<(), String> {
        self.0.load_group("").map(drop).map_err(|e| e.to_string())
    }
}

/// What the listener reads to answer.
pub(crate) struct Ops {
    pub metrics: Arc<Metrics>,
    pub hub: Hub,
    pub ready: Ready,
}

/// What `/ready` checks.
pub(crate) struct Ready {
    pub probes: Vec<Arc<dyn Readiness>>,
    /// Cancelled when the server starts to drain.
    pub draining: CancellationToken,
}

impl Ready {
    /// Ready, or every reason why not.
    async fn check(&self) -> Result<(), String> {
        if self.draining.is_cancelled() {
            return Err("draining: this node is shutting down".to_owned());
        }
        let mut failures = Vec::new();
        for probe in &self.probes {
            let check = {
                let probe = probe.clone();
                tokio::task::spawn_blocking(move || probe.check())
            };
            let failure = match tokio::time::timeout(PROBE_DEADLINE, check).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(why))) => why,
                Ok(Err(panicked)) => panicked.to_string(),
                Err(_) => format!("no answer within {} s", PROBE_DEADLINE.as_secs()),
            };
            failures.push(format!("{}: {failure}", probe.name()));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }
}

impl Ops {
    fn metrics_text(&self) -> String {
        let (jobs, frames) = self.hub.queued();
        self.metrics.hub_queue.set(gauge_value(jobs));
        self.metrics.outbound_queue.set(gauge_value(frames));
        self.metrics.encode()
    }

    async fn answer(&self, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        const TEXT: &str = "text/plain; charset=utf-8";
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n");
        }
        match request.uri().path() {
            "/metrics" => respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.metrics_text(),
            ),
            "/health" => respond(StatusCode::OK, TEXT, "live\n"),
            "/ready" => match self.ready.check().await {
                Ok(()) => respond(StatusCode::OK, TEXT, "ready\n"),
                Err(why) => {
                    tracing::info!(%why, "not ready");
                    respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n"))
                }
            },
            _ => respond(
                StatusCode::NOT_FOUND,
                TEXT,
                "try /metrics, /health or /ready\n",
            ),
        }
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves `listener` until `stop` is cancelled.
pub(crate) async fn serve(listener: TcpListener, ops: Arc<Ops>, stop: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let socket = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(error) => {
                    tracing::warn!(%error, "accepting a metrics connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (ops, stop) = (ops.clone(), stop.clone());
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let ops = ops.clone();
                async move { Ok::<_, Infallible>(ops.answer(&request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(socket), service);
            tokio::select! {
                served = connection => if let Err(error) = served {
                    tracing::debug!(%error, "metrics connection failed");
                },
                () = stop.cancelled() => {}
            }
        });
    }
    connections.close();
    connections.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fails;

    impl Readiness for Fails {
        fn name(&self) -> &str {
            "bus"
        }

        fn check(&self) -> Result<(), String> {
            Err("not connected".to_owned())
        }
    }

    #[tokio::test]
    async fn a_draining_node_is_not_ready_whatever_its_parts_say() {
        let ready = Ready {
            probes: Vec::new(),
            draining: CancellationToken::new(),
        };
        assert_eq!(ready.check().await, Ok(()));
        ready.draining.cancel();
        assert_eq!(
            ready.check().await,
            Err("draining: this node is shutting down".to_owned())
        );
    }

    #[tokio::test]
    async fn every_failing_part_is_named() {
        let ready = Ready {
            probes: vec![Arc::new(Fails), Arc::new(Fails)],
            draining: CancellationToken::new(),
        };
        assert_eq!(
            ready.check().await,
            Err("bus: not connected\nbus: not connected".to_owned())
        );
    }
}
