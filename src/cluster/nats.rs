//! The bus on NATS core (async-nats): at-most-once publish/subscribe, which
//! is all the cluster needs because the store is the truth and every gap is
//! read from it.
//!
//! Subjects, under the node's namespace `ns`:
//! - `ns.group.<hex of the conversation id>`: a [`GroupNote`] per commit;
//! - `ns.user.<hex of the name>`: a [`UserNote`] (ignores);
//! - `ns.presence`: every node's heartbeat ([`PresenceNote`]).
//!
//! Conversation ids and names may hold characters NATS forbids in a
//! subject, hence hex. Every node subscribes to all of `ns.>` with one
//! subscription, so the notes of one publisher arrive in the order it sent
//! them.
//!
//! The hub never waits for the bus: it queues notes for a publishing task
//! and, should that queue be full (the bus is down), drops them. The other
//! nodes find the gap (from a later entry, a heartbeat's heads, or their own
//! reconnect) and read it from the store.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    bus::{BusError, BusSettings, Committed, GroupNote, Inbound, PresenceNote, UserNote},
    presence::{EXPIRY, HEARTBEAT, Presence},
};
use crate::{
    protocol::{Seq, decode, encode},
    store::Change,
    sync::lock,
};

/// Notes waiting for the publishing task; past this the bus is down and
/// notes are dropped (the others gap-fill from the store).
const OUTBOX: usize = 16 * 1024;

/// Messages the NATS client buffers for our subscription before it drops
/// some (and says so, which makes this node resync from the store).
const SUBSCRIPTION_CAPACITY: usize = 256 * 1024;

/// A node's connection to the bus.
pub struct NatsBus {
    settings: BusSettings,
    client: async_nats::Client,
    outbox: mpsc::Sender<(String, Bytes)>,
    /// Whether notes are being dropped, so that is logged once per outage.
    dropping: AtomicBool,
    /// Taken by [`NatsBus::run`].
    parts: Mutex<Option<Parts>>,
    /// The newest entry this node committed per conversation, and when: the
    /// heartbeat repeats them for [`EXPIRY`].
    heads: Mutex<HashMap<String, (Seq, Instant)>>,
}

struct Parts {
    outbox: mpsc::Receiver<(String, Bytes)>,
    events: mpsc::UnboundedReceiver<async_nats::Event>,
}

impl NatsBus {
    pub(super) async fn connect(settings: BusSettings) -> Result<NatsBus, BusError> {
        if !settings.url.starts_with("nats://") {
            return Err(BusError::Url { url: settings.url });
        }
        let valid = |word: &str| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !settings.namespace.split('.').all(valid) {
            return Err(BusError::Namespace {
                namespace: settings.namespace,
            });
        }
        let (events_in, events) = mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::new()
            .name(format!("pyconchat {}", settings.node))
            .connection_timeout(Duration::from_secs(5))
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let _ = events_in.send(event);
                async {}
            })
            .connect(settings.url.as_str())
            .await
            .map_err(|source| BusError::Connect {
                url: settings.url.clone(),
                source,
            })?;
        let (outbox, queued) = mpsc::channel(OUTBOX);
        Ok(NatsBus {
            settings,
            client,
            outbox,
            dropping: AtomicBool::new(false),
            parts: Mutex::new(Some(Parts {
                outbox: queued,
                events,
            })),
            heads: Mutex::default(),
        })
    }

    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// Whether the connection to the NATS server is up.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn subject(&self, kind: &str, key: &str) -> String {
        format!("{}.{kind}.{}", self.settings.namespace, hex(key))
    }

    fn send(&self, subject: String, payload: Bytes) {
        match self.outbox.try_send((subject, payload)) {
            Ok(()) => {
                if self.dropping.swap(false, Ordering::Relaxed) {
                    tracing::info!("the bus keeps up again");
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the bus is not keeping up; dropping notes, other nodes read them from the store"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    pub(super) fn publish_group(&self, conv: String, committed: Vec<Committed>) {
        let note = GroupNote {
            node: self.settings.node.clone(),
            conv,
            committed,
        };
        if let Some(head) = note.seqs().last() {
            lock(&self.heads).insert(note.conv.clone(), (*head, Instant::now()));
        }
        let subject = self.subject("group", &note.conv);
        self.send(subject, encode(&note));
    }

    pub(super) fn publish_user(&self, name: &str, change: Change) {
        let note = UserNote {
            node: self.settings.node.clone(),
            change,
        };
        self.send(self.subject("user", name), encode(&note));
    }

    /// The heartbeat: who is here, and what this node committed lately.
    fn heartbeat(&self, online: Vec<String>, leaving: bool) -> Bytes {
        let now = Instant::now();
        let heads = {
            let mut heads = lock(&self.heads);
            heads.retain(|_, (_, at)| now.saturating_duration_since(*at) <= EXPIRY);
            heads
                .iter()
                .map(|(conv, (seq, _))| (conv.clone(), *seq))
                .collect()
        };
        encode(&PresenceNote {
            node: self.settings.node.clone(),
            online,
            heads,
            leaving,
        })
    }

    pub(super) async fn run(
        &self,
        online: impl Fn() -> Vec<String> + Send,
        inbound: mpsc::Sender<Inbound>,
        stop: CancellationToken,
    ) {
        let Some(Parts {
            mut outbox,
            mut events,
        }) = lock(&self.parts).take()
        else {
            return;
        };
        let all = format!("{}.>", self.settings.namespace);
        let mut subscription = match self.client.subscribe(all).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::error!(%error, "cannot subscribe to the bus; this node hears nobody");
                return;
            }
        };
        let presence_subject = format!("{}.presence", self.settings.namespace);
        let mut presence = Presence::default();
        let mut told = presence.online();
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some((subject, payload)) = outbox.recv() => {
                    if let Err(error) = self.client.publish(subject, payload).await {
                        tracing::warn!(%error, "cannot publish on the bus");
                    }
                }
                Some(event) = events.recv() => {
                    tracing::info!(%event, "bus");
                    if matches!(event, async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)) {
                        let _ = inbound.send(Inbound::Resync).await;
                    }
                }
                message = subscription.next() => {
                    let Some(message) = message else {
                        tracing::error!("the bus subscription ended; this node hears nobody");
                        break;
                    };
                    let Some(heard) = self.hear(&message, &mut presence) else {
                        continue;
                    };
                    for one in heard {
                        let _ = inbound.send(one).await;
                    }
                }
                _ = beat.tick() => {
                    let payload = self.heartbeat(online(), false);
                    if let Err(error) = self.client.publish(presence_subject.clone(), payload).await {
                        tracing::warn!(%error, "cannot publish the heartbeat");
                    }
                    for node in presence.expire(Instant::now()) {
                        tracing::warn!(%node, "a node fell silent; its members go offline");
                    }
                }
            }
            let now_online = presence.online();
            if now_online != told {
                told.clone_from(&now_online);
                let _ = inbound.send(Inbound::Online(now_online)).await;
            }
        }
        while let Ok((subject, payload)) = outbox.try_recv() {
            let _ = self.client.publish(subject, payload).await;
        }
        let goodbye = self.heartbeat(Vec::new(), true);
        let _ = self.client.publish(presence_subject, goodbye).await;
        let _ = self.client.flush().await;
    }

    /// Decodes one message from the bus, leaving out this node's own.
    fn hear(&self, message: &async_nats::Message, presence: &mut Presence) -> Option<Vec<Inbound>> {
        let ns = self.settings.namespace.as_str();
        let rest = message.subject.strip_prefix(ns)?.strip_prefix('.')?;
        let kind = rest.split('.').next()?;
        let payload = &message.payload;
        match kind {
            "group" => {
                let note: GroupNote = decoded(payload)?;
                (note.node != self.settings.node).then(|| vec![Inbound::Group(note)])
            }
            "user" => {
                let note: UserNote = decoded(payload)?;
                (note.node != self.settings.node).then(|| vec![Inbound::User(note)])
            }
            "presence" => {
                let note: PresenceNote = decoded(payload)?;
                if note.node == self.settings.node {
                    return None;
                }
                if note.leaving {
                    presence.left(&note.node);
                } else {
                    presence.heard(&note.node, note.online, Instant::now());
                }
                Some(
                    note.heads
                        .into_iter()
                        .map(|(conv, head)| Inbound::Tip { conv, head })
                        .collect(),
                )
            }
            _ => None,
        }
    }
}

fn decoded<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Option<T> {
    decode(payload)
        .inspect_err(|error| tracing::warn!(%error, "an unreadable message on the bus"))
        .ok()
}

/// Conversation ids and names as subject tokens.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
