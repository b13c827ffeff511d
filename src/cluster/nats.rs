//! The bus on NATS core (async-nats): at-most-once publish/subscribe, which
//! is all the cluster needs because the store is the truth and every gap is
//! read from it.
//!
//! Subjects, under the node's namespace `ns`:
//! - `ns.group.<hex of the conversation id>`: a [`GroupNote`] per commit,
//!   heard only by the nodes that listen to that conversation;
//! - `ns.invite.<hex of a name>`: a copy of a [`GroupNote`] for the people
//!   its commit brings into the conversation, heard by every node;
//! - `ns.user.<hex of the name>`: a [`UserNote`] (ignores), heard by every
//!   node;
//! - `ns.presence`: every node's heartbeat ([`PresenceNote`]).
//!
//! Conversation ids and names may hold characters NATS forbids in a
//! subject, hence hex. Each subject a node hears is one subscription whose
//! messages a task passes on in the order they came, so one publisher's
//! notes of one conversation arrive in the order it sent them.
//!
//! The hub never waits for the bus: it queues notes for a publishing task
//! and, should that queue be full (the bus is down), drops them. The other
//! nodes find the gap (from a later entry, a heartbeat's heads, the check
//! of their heads against the store, or their own reconnect) and read it
//! from the store.

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
use tokio::{sync::mpsc, task::AbortHandle};
use tokio_util::sync::CancellationToken;

use super::{
    bus::{
        BusCounters, BusError, BusSettings, Committed, GroupNote, Inbound, Kind, PresenceNote,
        UserNote,
    },
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

/// Messages the NATS client buffers for each subscription before it drops
/// some (and says so, which makes this node resync from the store).
const SUBSCRIPTION_CAPACITY: usize = 256 * 1024;

/// Messages heard and waiting for the node's bus task.
const HEARD: usize = 1024;

/// How long listening waits for the NATS server to confirm a subscription.
const ROUND_TRIP: Duration = Duration::from_secs(2);

/// Every how many heartbeats the node compares its conversations' heads
/// with the store's: the bound on how late a lost last message (one no
/// later entry or heartbeat reveals) is delivered.
const CHECK_HEADS_EVERY: u32 = 10;

/// A node's connection to the bus.
pub struct NatsBus {
    settings: BusSettings,
    client: async_nats::Client,
    outbox: mpsc::Sender<(Kind, String, Bytes)>,
    /// Whether notes are being dropped, so that is logged once per outage.
    dropping: AtomicBool,
    /// Taken by [`NatsBus::run`].
    parts: Mutex<Option<Parts>>,
    /// The newest entry this node committed per conversation, and when: the
    /// heartbeat repeats them for [`EXPIRY`].
    heads: Mutex<HashMap<String, (Seq, Instant)>>,
    /// The conversations this node hears, each with the task passing on
    /// what its subscription receives.
    listening: Mutex<HashMap<String, AbortHandle>>,
    /// Where those tasks pass it.
    heard: mpsc::Sender<async_nats::Message>,
    counters: BusCounters,
}

struct Parts {
    outbox: mpsc::Receiver<(Kind, String, Bytes)>,
    events: mpsc::UnboundedReceiver<async_nats::Event>,
    heard: mpsc::Receiver<async_nats::Message>,
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
        let (heard, heard_out) = mpsc::channel(HEARD);
        Ok(NatsBus {
            settings,
            client,
            outbox,
            dropping: AtomicBool::new(false),
            parts: Mutex::new(Some(Parts {
                outbox: queued,
                events,
                heard: heard_out,
            })),
            heads: Mutex::default(),
            listening: Mutex::default(),
            heard,
            counters: BusCounters::default(),
        })
    }

    pub(super) fn counters(&self) -> &BusCounters {
        &self.counters
    }

    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// Whether the connection to the NATS server is up.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn subject(&self, kind: Kind, key: &str) -> String {
        format!("{}.{}.{}", self.settings.namespace, kind.token(), hex(key))
    }

    /// Subscribes to `subject`; a task passes what it receives on to
    /// [`NatsBus::run`] until aborted (which unsubscribes).
    async fn subscribe(&self, subject: String) -> Result<AbortHandle, BusError> {
        let mut subscriber = self.client.subscribe(subject).await?;
        let heard = self.heard.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                if heard.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(task.abort_handle())
    }

    pub(super) async fn listen(&self, convs: &[String]) {
        let mut added = false;
        for conv in convs {
            if lock(&self.listening).contains_key(conv) {
                continue;
            }
            match self.subscribe(self.subject(Kind::Group, conv)).await {
                Ok(task) => {
                    lock(&self.listening).insert(conv.clone(), task);
                    added = true;
                }
                Err(error) => {
                    tracing::error!(%conv, %error, "cannot hear a conversation; its entries come from the store");
                }
            }
        }
        self.counters
            .listened
            .set(lock(&self.listening).len() as i64);
        // While the bus is down there is nothing to wait for: the
        // subscriptions are made on the reconnect, after which the node
        // checks every conversation it holds against the store.
        if added
            && self.is_connected()
            && let Err(why) = self.round_trip().await
        {
            tracing::warn!(%why, "the bus did not confirm a subscription in time");
        }
    }

    /// Returns once the NATS server has handled everything this client sent
    /// before: the server handles a connection's messages in order, so a
    /// message to a fresh inbox of ours comes back only after them.
    async fn round_trip(&self) -> Result<(), String> {
        let inbox = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.client
            .publish(inbox, Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(ROUND_TRIP, echo.next()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("the subscription ended".to_owned()),
            Err(_) => Err(format!("no answer within {ROUND_TRIP:?}")),
        }
    }

    pub(super) fn unlisten(&self, conv: &str) {
        let mut listening = lock(&self.listening);
        if let Some(task) = listening.remove(conv) {
            task.abort();
        }
        self.counters.listened.set(listening.len() as i64);
    }

    pub(super) fn listening(&self) -> Vec<String> {
        lock(&self.listening).keys().cloned().collect()
    }

    fn send(&self, kind: Kind, subject: String, payload: Bytes) {
        match self.outbox.try_send((kind, subject, payload)) {
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

    /// Publishes the note on the conversation's subject first, then on
    /// each invited person's: a node that starts hearing the conversation
    /// because of an invitation subscribes after the note went out, so it
    /// never gets both.
    pub(super) fn publish_group(&self, conv: String, committed: Vec<Committed>, invite: &[String]) {
        let note = GroupNote {
            node: self.settings.node.clone(),
            conv,
            committed,
        };
        if let Some(head) = note.seqs().last() {
            lock(&self.heads).insert(note.conv.clone(), (*head, Instant::now()));
        }
        let payload = encode(&note);
        self.send(
            Kind::Group,
            self.subject(Kind::Group, &note.conv),
            payload.clone(),
        );
        for name in invite {
            let subject = self.subject(Kind::Invite, name);
            self.send(Kind::Invite, subject, payload.clone());
        }
    }

    pub(super) fn publish_user(&self, name: &str, change: Change) {
        let note = UserNote {
            node: self.settings.node.clone(),
            change,
        };
        self.send(Kind::User, self.subject(Kind::User, name), encode(&note));
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
            mut heard,
        }) = lock(&self.parts).take()
        else {
            return;
        };
        let ns = &self.settings.namespace;
        let everyone = [
            format!("{ns}.{}.>", Kind::Invite.token()),
            format!("{ns}.{}.>", Kind::User.token()),
            format!("{ns}.{}", Kind::Presence.token()),
        ];
        let mut always = Vec::new();
        for subject in everyone {
            match self.subscribe(subject).await {
                Ok(task) => always.push(task),
                Err(error) => {
                    tracing::error!(%error, "cannot subscribe to the bus; this node hears nobody");
                    return;
                }
            }
        }
        let presence_subject = format!("{ns}.{}", Kind::Presence.token());
        let mut presence = Presence::default();
        let mut told = presence.online();
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beats = 0_u32;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some((kind, subject, payload)) = outbox.recv() => self.publish(kind, subject, payload).await,
                Some(event) = events.recv() => {
                    tracing::info!(%event, "bus");
                    if matches!(event, async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)) {
                        let _ = inbound.send(Inbound::Resync).await;
                    }
                }
                Some(message) = heard.recv() => {
                    for one in self.hear(&message, &mut presence).into_iter().flatten() {
                        let _ = inbound.send(one).await;
                    }
                }
                _ = beat.tick() => {
                    let payload = self.heartbeat(online(), false);
                    self.publish(Kind::Presence, presence_subject.clone(), payload).await;
                    for node in presence.expire(Instant::now()) {
                        tracing::warn!(%node, "a node fell silent; its members go offline");
                    }
                    beats = beats.wrapping_add(1);
                    let check_heads = beats.is_multiple_of(CHECK_HEADS_EVERY);
                    let _ = inbound.send(Inbound::Beat { check_heads }).await;
                }
            }
            let now_online = presence.online();
            if now_online != told {
                told.clone_from(&now_online);
                let _ = inbound.send(Inbound::Online(now_online)).await;
            }
        }
        for task in always.iter().chain(lock(&self.listening).values()) {
            task.abort();
        }
        while let Ok((kind, subject, payload)) = outbox.try_recv() {
            self.publish(kind, subject, payload).await;
        }
        let goodbye = self.heartbeat(Vec::new(), true);
        self.publish(Kind::Presence, presence_subject, goodbye)
            .await;
        let _ = self.client.flush().await;
    }

    async fn publish(&self, kind: Kind, subject: String, payload: Bytes) {
        match self.client.publish(subject, payload).await {
            Ok(()) => self.counters.sent(kind),
            Err(error) => tracing::warn!(%error, ?kind, "cannot publish on the bus"),
        }
    }

    /// Decodes one message from the bus, leaving out this node's own.
    fn hear(&self, message: &async_nats::Message, presence: &mut Presence) -> Option<Vec<Inbound>> {
        let ns = self.settings.namespace.as_str();
        let rest = message.subject.strip_prefix(ns)?.strip_prefix('.')?;
        let kind = Kind::from_token(rest.split('.').next()?)?;
        self.counters.heard(kind);
        let payload = &message.payload;
        match kind {
            Kind::Group | Kind::Invite => {
                let note: GroupNote = decoded(payload)?;
                (note.node != self.settings.node).then(|| {
                    vec![match kind {
                        Kind::Group => Inbound::Group(note),
                        _ => Inbound::Invite(note),
                    }]
                })
            }
            Kind::User => {
                let note: UserNote = decoded(payload)?;
                (note.node != self.settings.node).then(|| vec![Inbound::User(note)])
            }
            Kind::Presence => {
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
