//! The seam between the hub and the other nodes: what a node tells the
//! others after a commit, and what it hears from them.
//!
//! [`Bus::Local`] is a single server: there is nobody to tell, and the hub's
//! in-process fan-out is all there is. [`Bus::Nats`] joins a cluster. The
//! hub runs one code path either way: it publishes what it committed and
//! delivers what it hears through the same gap-checked delivery it uses for
//! its own commits, so the group rules are never forked per bus.

use std::{collections::BTreeSet, sync::Arc};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::nats::NatsBus;
use crate::{
    protocol::{LogEntry, Seq},
    store::Change,
};

/// How a node reaches the others.
#[derive(Clone, Default)]
pub enum Bus {
    /// One server alone.
    #[default]
    Local,
    /// A node of a cluster on a NATS server.
    Nats(Arc<NatsBus>),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::Local => f.write_str("Bus::Local"),
            Bus::Nats(nats) => write!(f, "Bus::Nats({})", nats.node()),
        }
    }
}

/// Where a node finds the bus and how it is known there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSettings {
    /// `nats://host:port`.
    pub url: String,
    /// Unique among the nodes: a node ignores what it published itself.
    pub node: String,
    /// Prefix of every subject, so that clusters (or tests) sharing one
    /// NATS server never meet.
    pub namespace: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus URL {url} is not a nats:// URL")]
    Url { url: String },
    #[error(
        "the bus namespace {namespace:?} may hold only letters, digits, '-' and '_' (dots between words)"
    )]
    Namespace { namespace: String },
    #[error("cannot reach the bus at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot subscribe to the bus: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
}

impl Bus {
    /// Connects to the cluster's bus; fails at once when it is unreachable.
    pub async fn connect(settings: BusSettings) -> Result<Bus, BusError> {
        Ok(Bus::Nats(Arc::new(NatsBus::connect(settings).await?)))
    }

    /// Whether there are other nodes to tell.
    pub fn is_local(&self) -> bool {
        matches!(self, Bus::Local)
    }

    /// Whether the node can reach the other nodes now (always, alone): for
    /// a readiness check.
    pub fn is_reachable(&self) -> bool {
        match self {
            Bus::Local => true,
            Bus::Nats(nats) => nats.is_connected(),
        }
    }

    /// What the node sent and heard on the bus; `None` alone.
    pub(crate) fn counters(&self) -> Option<&BusCounters> {
        match self {
            Bus::Local => None,
            Bus::Nats(nats) => Some(nats.counters()),
        }
    }

    /// Starts hearing the conversations of `convs` not heard yet, and
    /// returns once the NATS server has registered that: whatever another
    /// node commits after this returns reaches this node, so a read of the
    /// store made after it misses nothing. At once on a local bus.
    pub(crate) async fn listen(&self, convs: &[String]) {
        if let Bus::Nats(nats) = self {
            nats.listen(convs).await;
        }
    }

    /// Stops hearing `conv`.
    pub(crate) fn unlisten(&self, conv: &str) {
        if let Bus::Nats(nats) = self {
            nats.unlisten(conv);
        }
    }

    /// The conversations this node hears now (none on a local bus).
    pub(crate) fn listening(&self) -> Vec<String> {
        match self {
            Bus::Local => Vec::new(),
            Bus::Nats(nats) => nats.listening(),
        }
    }

    /// Tells the other nodes what one conversation committed; `invite`
    /// names the people the commit brings into it, whose nodes may not
    /// hear the conversation yet.
    pub(crate) fn publish_group(&self, conv: String, committed: Vec<Committed>, invite: &[String]) {
        if let Bus::Nats(nats) = self {
            nats.publish_group(conv, committed, invite);
        }
    }

    /// Tells the other nodes about a change that concerns one user.
    pub(crate) fn publish_user(&self, name: &str, change: Change) {
        if let Bus::Nats(nats) = self {
            nats.publish_user(name, change);
        }
    }

    /// Runs the node's side of the bus until `stop`: hears the others and
    /// passes what it heard to `inbound`, and tells them every heartbeat
    /// who is connected here (`online`). Returns at once on a local bus.
    pub(crate) async fn run(
        &self,
        online: impl Fn() -> Vec<String> + Send,
        inbound: mpsc::Sender<Inbound>,
        stop: CancellationToken,
    ) {
        if let Bus::Nats(nats) = self {
            nats.run(online, inbound, stop).await;
        }
    }
}

/// `/ready` holds a node out of its balancer while it cannot reach the bus.
impl crate::server::Readiness for Bus {
    fn name(&self) -> &str {
        "bus"
    }

    fn check(&self) -> Result<(), String> {
        if self.is_reachable() {
            Ok(())
        } else {
            Err("not connected to the NATS server".to_owned())
        }
    }
}

/// One conversation's share of one commit, published once and delivered
/// by every other node with members online.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GroupNote {
    pub node: String,
    pub conv: String,
    /// In commit order.
    pub committed: Vec<Committed>,
}

impl GroupNote {
    /// The sequence numbers of its entries, ascending.
    pub fn seqs(&self) -> Vec<Seq> {
        self.committed
            .iter()
            .filter_map(|c| c.entry.as_ref().map(|e| e.seq))
            .collect()
    }
}

/// One committed change and the entry it appended. A post's change is left
/// out: its entry says all of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Committed {
    pub change: Option<Change>,
    pub entry: Option<LogEntry>,
}

/// A change between two people (an ignore), for the nodes of `name`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserNote {
    pub node: String,
    pub change: Change,
}

/// A node's heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PresenceNote {
    pub node: String,
    /// The names connected to the node.
    pub online: Vec<String>,
    /// The newest entry the node committed in each conversation it wrote
    /// to lately: whoever is behind reads the rest from the store, so a
    /// lost last message is found within a heartbeat.
    pub heads: Vec<(String, Seq)>,
    /// The node is stopping: its names go offline now.
    pub leaving: bool,
}

/// What a node hears from the others, for its hub.
#[derive(Debug)]
pub(crate) enum Inbound {
    Group(GroupNote),
    /// A copy of a [`GroupNote`] sent to the people it brings into the
    /// conversation: for a node that does not hear the conversation yet.
    Invite(GroupNote),
    User(UserNote),
    /// The names online on other nodes changed; here is the new set.
    Online(BTreeSet<String>),
    /// `conv` is committed up to `head` somewhere.
    Tip {
        conv: String,
        head: Seq,
    },
    /// The bus reconnected or dropped messages: check every conversation
    /// against the store.
    Resync,
    /// A heartbeat went out: stop hearing conversations nobody here is in
    /// any more, and, when `check_heads`, compare every conversation's
    /// head with the store's.
    Beat {
        check_heads: bool,
    },
}

/// What a bus message carries, as the metrics label it.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A conversation's commit ([`GroupNote`]).
    Group,
    /// A commit's copy for the people it brings in.
    Invite,
    /// A change between two people ([`UserNote`]).
    User,
    /// A heartbeat ([`PresenceNote`]).
    Presence,
}

impl Kind {
    /// The subject token after the namespace.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::Invite => "invite",
            Kind::User => "user",
            Kind::Presence => "presence",
        }
    }

    pub(crate) fn from_token(token: &str) -> Option<Kind> {
        [Kind::Group, Kind::Invite, Kind::User, Kind::Presence]
            .into_iter()
            .find(|kind| kind.token() == token)
    }
}

impl EncodeLabelValue for Kind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        encoder.write_str(self.token())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabel {
    pub kind: Kind,
}

/// What a node sent and heard on the bus, for its metrics: cheap handles
/// onto atomics the server's registry shares.
#[derive(Debug, Clone, Default)]
pub(crate) struct BusCounters {
    pub published: Family<KindLabel, Counter>,
    pub received: Family<KindLabel, Counter>,
    /// Conversations whose subject the node hears now.
    pub listened: Gauge,
}

impl BusCounters {
    pub(crate) fn sent(&self, kind: Kind) {
        self.published.get_or_create(&KindLabel { kind }).inc();
    }

    pub(crate) fn heard(&self, kind: Kind) {
        self.received.get_or_create(&KindLabel { kind }).inc();
    }
}
