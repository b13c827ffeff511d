//! What the server counts for Prometheus, in one [`Registry`] per server
//! (no process-wide recorder), so several servers in one test process keep
//! their numbers apart.
//!
//! The hot paths pay one atomic add per batch, not per frame: a session
//! counts the entries of a whole write batch at once, the hub times a whole
//! commit. Queue depths are read only when someone scrapes.

use std::{borrow::Cow, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use crate::cluster::Bus;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub(crate) enum SessionState {
    /// Accepted, before a valid hello (TLS handshake, hello, name check).
    Handshake,
    /// Welcomed: in its conversations.
    Online,
}

impl EncodeLabelValue for SessionState {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        encoder.write_str(match self {
            SessionState::Handshake => "handshake",
            SessionState::Online => "online",
        })
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: SessionState,
}

/// The server's metrics. Every field is a cheap handle onto the registry's
/// value (an `Arc` around an atomic), cloned freely into the sessions.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    sessions: Family<StateLabel, Gauge>,
    /// Chat messages and files committed to a log.
    pub messages: Counter,
    /// Log entries written to clients live (catch-up reads not included).
    pub deliveries: Counter,
    /// One store transaction (a batch of changes), in seconds.
    pub commit: Histogram,
    /// Handing one committed batch to the sessions' queues, in seconds.
    pub fanout: Histogram,
    /// Jobs waiting for the hub task, set when scraped.
    pub hub_queue: Gauge,
    /// Frames waiting in all sessions' outbound queues, set when scraped.
    pub outbound_queue: Gauge,
    /// Clients dropped because their outbound queue filled up.
    pub slow_drops: Counter,
    pub file_bytes_in: Counter,
    pub file_bytes_out: Counter,
    /// Log entries read from the store because their bus message was lost
    /// or late.
    pub gaps_filled: Counter,
}

impl Metrics {
    /// Metrics labelled `node="NAME"` when the server has a node name.
    pub fn new(node: Option<&str>, bus: &Bus) -> Self {
        let labels = node
            .map(|node| (Cow::Borrowed("node"), Cow::Owned(node.to_owned())))
            .into_iter();
        let mut registry = Registry::with_prefix_and_labels("pyconchat", labels);
        // 50 µs to about 3.3 s, doubling: a commit on a fast disk is well
        // under a millisecond, a stalled one takes seconds.
        let latency = || Histogram::new(exponential_buckets(0.000_05, 2.0, 17));
        let metrics = Self {
            connections: Gauge::default(),
            sessions: Family::default(),
            messages: Counter::default(),
            deliveries: Counter::default(),
            commit: latency(),
            fanout: latency(),
            hub_queue: Gauge::default(),
            outbound_queue: Gauge::default(),
            slow_drops: Counter::default(),
            file_bytes_in: Counter::default(),
            file_bytes_out: Counter::default(),
            gaps_filled: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Open client connections",
            metrics.connections.clone(),
        );
        registry.register(
            "sessions",
            "Client connections by state",
            metrics.sessions.clone(),
        );
        registry.register(
            "messages_accepted",
            "Chat messages and file announcements committed",
            metrics.messages.clone(),
        );
        registry.register(
            "deliveries",
            "Log entries written to clients live",
            metrics.deliveries.clone(),
        );
        registry.register_with_unit(
            "commit_latency",
            "Time of one store transaction (a batch of changes)",
            Unit::Seconds,
            metrics.commit.clone(),
        );
        registry.register_with_unit(
            "fanout_latency",
            "Time to queue one committed batch for every session it reaches",
            Unit::Seconds,
            metrics.fanout.clone(),
        );
        registry.register(
            "hub_queue_depth",
            "Changes waiting for the hub",
            metrics.hub_queue.clone(),
        );
        registry.register(
            "outbound_queue_depth",
            "Frames waiting in all clients' outbound queues",
            metrics.outbound_queue.clone(),
        );
        registry.register(
            "slow_reader_drops",
            "Clients dropped because they fell too far behind",
            metrics.slow_drops.clone(),
        );
        registry.register_with_unit(
            "file_in",
            "File bytes received from clients",
            Unit::Bytes,
            metrics.file_bytes_in.clone(),
        );
        registry.register_with_unit(
            "file_out",
            "File bytes sent to clients",
            Unit::Bytes,
            metrics.file_bytes_out.clone(),
        );
        registry.register(
            "bus_entries_filled",
            "Log entries read from the store because their bus message was lost or late",
            metrics.gaps_filled.clone(),
        );
        if let Some(bus) = bus.counters() {
            registry.register(
                "bus_messages_published",
                "Messages this node sent on the bus, by kind",
                bus.published.clone(),
            );
            registry.register(
                "bus_messages_received",
                "Messages this node received from the bus, by kind (its own included)",
                bus.received.clone(),
            );
            registry.register(
                "bus_conversations_heard",
                "Conversations whose subject this node subscribes to",
                bus.listened.clone(),
            );
        }
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts a connection in `state` until the guard is dropped.
    pub fn session(&self, state: SessionState) -> Held {
        let gauge = self.sessions.get_or_create(&StateLabel { state }).clone();
        gauge.inc();
        Held(gauge)
    }

    /// Counts an open connection until the guard is dropped.
    pub fn connection(&self) -> Held {
        self.connections.inc();
        Held(self.connections.clone())
    }

    /// Records one commit of `messages` chat messages that took `took`.
    pub fn committed(&self, messages: u64, took: Duration) {
        self.commit.observe(took.as_secs_f64());
        if messages > 0 {
            self.messages.inc_by(messages);
        }
    }

    /// The metrics in the Prometheus text format (OpenMetrics flavour).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A gauge held up by one while this lives.
#[derive(Debug)]
pub(crate) struct Held(Gauge);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_and_the_node() {
        let metrics = Metrics::new(Some("a"), &Bus::Local);
        let held = metrics.session(SessionState::Online);
        let _conn = metrics.connection();
        metrics.committed(3, Duration::from_millis(2));
        metrics.deliveries.inc_by(30);
        let text = metrics.encode();
        for line in [
            "pyconchat_connections{node=\"a\"} 1",
            "pyconchat_sessions{node=\"a\",state=\"online\"} 1",
            "pyconchat_messages_accepted_total{node=\"a\"} 3",
            "pyconchat_deliveries_total{node=\"a\"} 30",
            "pyconchat_commit_latency_seconds_count{node=\"a\"} 1",
            "pyconchat_fanout_latency_seconds_count{node=\"a\"} 0",
            "pyconchat_hub_queue_depth{node=\"a\"} 0",
            "pyconchat_outbound_queue_depth{node=\"a\"} 0",
            "pyconchat_slow_reader_drops_total{node=\"a\"} 0",
            "pyconchat_file_in_bytes_total{node=\"a\"} 0",
            "pyconchat_file_out_bytes_total{node=\"a\"} 0",
            "pyconchat_bus_entries_filled_total{node=\"a\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        drop(held);
        assert!(
            metrics
                .encode()
                .contains("pyconchat_sessions{node=\"a\",state=\"online\"} 0")
        );
    }

    #[test]
    fn a_single_server_has_no_node_label() {
        let text = Metrics::new(None, &Bus::Local).encode();
        assert!(text.contains("pyconchat_connections 0"), "{text}");
    }
}
