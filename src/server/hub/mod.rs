//! The hub: every conversation's state, who is online where, and the single
//! task that changes any of it.
//!
//! Sessions read state through [`Hub::read`] (a short lock), but every
//! change goes through one task, [`HubTask`], as a [`Job`]. That task takes
//! whatever jobs are queued, asks [`rules`] what each may do, commits all
//! their [`Change`]s in one store transaction (group commit), and only then
//! tells anyone: it fans new log entries out to online members, replies to
//! the requesters and moves sessions in and out of conversations. Because
//! one task assigns, commits and delivers, members see entries in sequence
//! order, and nothing is delivered or acknowledged before it is durable.
//!
//! A session enters a conversation at a known committed head; it then reads
//! everything up to that head from the store and everything after it
//! arrives live, so there is no gap and no duplicate. Entering is itself a
//! message on the session's queue ([`Outbound::Enter`]), so it always comes
//! before the conversation's live frames.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{
    Clock, Limits, blocking,
    files::{Shelf, Stored},
    lock,
    metrics::Metrics,
    rules::{self, Action, Grant, GroupState, JoinDecision, Query},
    signups::Signups,
};
use crate::{
    cluster::{Bus, bus::Inbound},
    protocol::{
        ConvKind, ErrorBody, ErrorCode, Event, GroupSnapshot, JoinStatus, LogEntry, Outcome, Reply,
        ReplyData, Seq, ServerFrame, direct_id, direct_peer, encode, encode_compact_message,
        encode_compact_sent,
    },
    store::{Change, ConversationRecord, Store},
};

mod group;
mod outbox;
mod remote;

use remote::Backlog;

use group::{Connection, Group, Users};
pub(crate) use outbox::Outbox;

/// How many queued jobs one store transaction takes at most.
const MAX_BATCH: usize = 1024;

/// Something queued for one session, in the order it must reach the client.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A frame to write. `entry` names the log entry it carries, so the
    /// session knows how far it has served each conversation.
    Frame {
        entry: Option<(Arc<str>, Seq)>,
        bytes: Bytes,
    },
    /// The session now belongs to a conversation: tell the client, serve
    /// the log up to the entered head, then the live frames behind this.
    Enter(Arc<Entered>),
    /// The session no longer belongs to `conv`; `event` tells the client why.
    Removed { conv: String, event: Bytes },
}

/// How a session came to be in a conversation, which decides what the
/// client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The answer to this session's own hello or request: nothing to announce.
    Asked,
    /// The admin let the user in.
    Approved { by: String },
    /// Opened elsewhere: a direct conversation someone started, or a group
    /// the user joined on another connection.
    Added,
}

/// A session's place in one conversation.
#[derive(Debug, Clone)]
pub(crate) struct Entered {
    pub conv: String,
    pub kind: ConvKind,
    pub status: JoinStatus,
    /// `None` while a join request is pending.
    pub snapshot: Option<GroupSnapshot>,
    /// What the member may read.
    pub grant: Grant,
    /// Serve the log after this sequence number...
    pub after: Seq,
    /// ...up to and including this one; later entries arrive live.
    pub head: Seq,
    /// The newest entry the user has read.
    pub read: Seq,
    pub arrival: Arrival,
}

/// How the hub reaches one connection.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub id: u64,
    pub outbox: Arc<Outbox>,
    /// The client reads the compact form of the hot frames.
    pub compact: bool,
}

impl SessionHandle {
    /// Queues `out`; see [`Outbox::offer`]. Returns whether the session
    /// is still usable.
    fn offer(&self, out: Outbound) -> bool {
        self.outbox.offer(out)
    }
}

/// Work for the hub task.
#[derive(Debug)]
pub(crate) enum Job {
    Connect(Connect),
    Join(Join),
    Direct(Direct),
    Ignore(Ignore),
    Leave(Leave),
    Act(Act),
    /// What another node of the cluster committed or reported.
    Remote(Inbound),
    /// Answers once every job queued before it is committed and its
    /// replies are queued: a draining session's last question.
    Settle(oneshot::Sender<()>),
}

/// A session arrives: it enters every conversation of the user.
#[derive(Debug)]
pub(crate) struct Connect {
    pub name: String,
    pub session: SessionHandle,
    /// Per conversation, the last sequence number the client has seen.
    pub seen: BTreeMap<String, Seq>,
    pub reply: oneshot::Sender<Vec<Entered>>,
}

/// A user opens a group: enters it, creates it or asks to join.
#[derive(Debug)]
pub(crate) struct Join {
    pub group: String,
    pub name: String,
    pub session: u64,
    /// Where the client connects from, should the join create the group.
    pub address: IpAddr,
    pub reply: oneshot::Sender<Result<Entered, ErrorBody>>,
}

/// A user opens the direct conversation with `peer` (who shares a group
/// with them: the session checked).
#[derive(Debug)]
pub(crate) struct Direct {
    pub name: String,
    pub peer: String,
    pub session: u64,
    pub reply: oneshot::Sender<Result<Entered, ErrorBody>>,
}

/// A user starts or stops ignoring `peer`'s direct messages.
#[derive(Debug)]
pub(crate) struct Ignore {
    pub name: String,
    pub peer: String,
    pub ignore: bool,
    pub id: u32,
    pub reply_to: ReplyTo,
}

/// The session ended; `served` is, per conversation, the last entry it delivered.
#[derive(Debug)]
pub(crate) struct Leave {
    pub name: String,
    pub session: u64,
    pub served: Vec<(String, Seq)>,
}

/// A member asks to change a conversation; the reply goes to `reply_to`.
#[derive(Debug)]
pub(crate) struct Act {
    pub conv: String,
    pub name: String,
    pub session: u64,
    pub id: u32,
    pub reply_to: ReplyTo,
    pub action: Action,
    /// A file's contents in place for a [`Action::PostFile`]; they are
    /// deleted again unless the announcement commits.
    pub stored: Option<Arc<Stored>>,
}

/// Whom each user ignores.
pub(super) type Ignores = HashMap<String, HashSet<String>>;

/// Whether `by` ignores `whom`.
pub(super) fn is_ignored(ignores: &Ignores, by: &str, whom: &str) -> bool {
    ignores.get(by).is_some_and(|i| i.contains(whom))
}

/// Everything the hub knows; see [`Hub::read`].
#[derive(Debug, Default)]
pub(crate) struct State {
    groups: HashMap<String, Group>,
    users: Users,
    ignores: Ignores,
    /// Names online on the other nodes of a cluster.
    elsewhere: Arc<BTreeSet<String>>,
}

impl State {
    /// The newest committed sequence number of `conv` (0 if unknown).
    pub fn head(&self, conv: &str) -> Seq {
        self.groups.get(conv).map_or(0, |g| g.rules.head)
    }

    /// Whom `name` ignores, sorted.
    pub fn ignored_by(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .ignores
            .get(name)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Where `name` stands in `conv` now, as a conversation list shows it.
    pub fn entered(&self, conv: &str, name: &str) -> Option<Entered> {
        let group = self.groups.get(conv)?;
        let grant = group
            .rules
            .members
            .get(name)
            .map(|m| m.grant)
            .unwrap_or_default();
        Some(group.entered(name, grant, group.rules.head, Arrival::Asked))
    }

    /// Frames waiting in every session's outbound queue.
    fn queued_frames(&self) -> usize {
        self.users
            .0
            .values()
            .flatten()
            .map(|c| c.handle.outbox.len())
            .sum()
    }

    fn ignores(&self, name: &str, peer: &str) -> bool {
        is_ignored(&self.ignores, name, peer)
    }

    /// The names with a connection to this node.
    pub fn connected(&self) -> Vec<String> {
        self.users.0.keys().cloned().collect()
    }

    /// A conversation as cached from `rules`, knowing who is online elsewhere.
    fn cache(&mut self, conv: &str, rules: GroupState) -> &mut Group {
        let group = Group::new(conv, rules, self.elsewhere.clone());
        self.groups.insert(conv.to_owned(), group);
        self.groups.get_mut(conv).expect("just inserted")
    }

    /// Answers `query` from `by` about `conv`, if the rules allow it.
    pub fn answer(&self, conv: &str, by: &str, query: Query) -> Result<ReplyData, ErrorBody> {
        let group = self.groups.get(conv).ok_or_else(rules::not_member)?;
        rules::may_ask(&group.rules, by, query)?;
        Ok(match query {
            Query::ViewRequests => ReplyData::Requests {
                requests: group.rules.requests.clone(),
            },
            Query::WhoAdmin => ReplyData::Admin {
                name: group.rules.admin.clone(),
            },
            Query::AllMembers => ReplyData::Members {
                members: group.member_list(),
            },
            Query::OnlineMembers => ReplyData::Members {
                members: group
                    .member_list()
                    .into_iter()
                    .filter(|m| m.online)
                    .collect(),
            },
        })
    }

    /// A conversation `opener` just created: every member's connections
    /// enter it (but `asking`, the opener's own, which gets the reply), and
    /// not those of a member who ignores the opener.
    fn open_everywhere(&mut self, conv: &str, opener: &str, asking: Option<u64>) {
        let Some(group) = self.groups.get(conv) else {
            return;
        };
        let people: Vec<String> = group
            .rules
            .members
            .keys()
            .filter(|person| !self.ignores(person, opener))
            .cloned()
            .collect();
        for person in people {
            let asking = asking.filter(|_| person == opener);
            self.enter_everywhere(conv, &person, asking, &Arrival::Added);
        }
    }

    /// Puts every connection of `name` into `conv` (but `asking`, which
    /// gets the reply instead), announcing it as `arrival`.
    fn enter_everywhere(&mut self, conv: &str, name: &str, asking: Option<u64>, arrival: &Arrival) {
        let Some(group) = self.groups.get_mut(conv) else {
            return;
        };
        let handles: Vec<SessionHandle> = self
            .users
            .connections(name)
            .map(|c| c.handle.clone())
            .filter(|h| Some(h.id) != asking)
            .collect();
        for handle in handles {
            self.users.note(name, handle.id, conv);
            let entered = match group.rules.members.get(name) {
                Some(member) => {
                    let grant = member.grant;
                    group.go_online(name, handle.clone());
                    group.entered(name, grant, grant.floor(), arrival.clone())
                }
                None => {
                    group.wait(name, handle.clone());
                    group.entered(name, Grant::default(), 0, arrival.clone())
                }
            };
            handle.offer(Outbound::Enter(Arc::new(entered)));
        }
    }
}

/// A cheap handle to the hub, one per session.
#[derive(Clone)]
pub(crate) struct Hub {
    jobs: mpsc::Sender<Job>,
    /// A `std` mutex: it is held only for short, non-async reads and updates
    /// and never across an `.await`, which is cheaper than an async mutex.
    state: Arc<Mutex<State>>,
    store: Arc<dyn Store>,
}

impl Hub {
    /// Creates the hub and the task that applies its jobs. The task ends when
    /// every `Hub` handle is dropped, after applying what was queued.
    pub fn new(
        store: Arc<dyn Store>,
        shelf: Arc<Shelf>,
        limits: Limits,
        clock: Clock,
        signups: Arc<Signups>,
        bus: Bus,
        metrics: Arc<Metrics>,
    ) -> (Hub, HubTask) {
        let (jobs, queue) = mpsc::channel(limits.hub_queue);
        let state = Arc::new(Mutex::new(State::default()));
        let hub = Hub {
            jobs,
            state: state.clone(),
            store: store.clone(),
        };
        let task = HubTask {
            queue,
            state,
            store,
            shelf,
            limits,
            clock,
            signups,
            bus,
            metrics,
        };
        (hub, task)
    }

    pub fn read(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Jobs waiting for the hub task and frames waiting in the sessions'
    /// queues, for the metrics.
    pub fn queued(&self) -> (usize, usize) {
        let jobs = self.jobs.max_capacity() - self.jobs.capacity();
        (jobs, self.read().queued_frames())
    }

    /// Queues a job, waiting while the hub is busy (which slows only the
    /// calling session). Fails only when the hub has stopped.
    pub async fn submit(&self, job: Job) -> Result<(), ErrorBody> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| ErrorBody::new(ErrorCode::ShuttingDown, "the server is shutting down"))
    }
}

/// An event encoded once for every session it goes to: named, and for a
/// text message also compact, so each session gets its form as a refcount
/// bump.
#[derive(Debug)]
pub(crate) struct EventFrame {
    /// The log entry it carries, if any.
    entry: Option<(Arc<str>, Seq)>,
    named: Bytes,
    compact: Option<Bytes>,
}

impl EventFrame {
    /// `event`, marked with its conversation's entry when it carries one.
    pub fn new(event: &Event, conv: Option<&Arc<str>>) -> Self {
        let (entry, compact) = match (event, conv) {
            (Event::Message { entry, .. }, Some(id)) => (
                Some((id.clone(), entry.seq)),
                encode_compact_message(id, entry),
            ),
            _ => (None, None),
        };
        Self {
            entry,
            named: encode(&ServerFrame::Event(event.clone())),
            compact,
        }
    }

    /// The frame in the form `session` reads.
    pub fn to(&self, session: &SessionHandle) -> Outbound {
        let bytes = match &self.compact {
            Some(compact) if session.compact => compact,
            _ => &self.named,
        };
        Outbound::Frame {
            entry: self.entry.clone(),
            bytes: bytes.clone(),
        }
    }
}

/// Where a request's reply goes: the asking session's queue, in the form
/// that session reads.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    pub outbox: Arc<Outbox>,
    pub compact: bool,
}

impl ReplyTo {
    /// Queues the reply; a session too far behind to take it is closed
    /// as too slow (see [`Outbox::offer`]).
    pub fn send(&self, id: u32, outcome: Result<ReplyData, ErrorBody>) {
        self.outbox.offer(Outbound::Frame {
            entry: None,
            bytes: reply_bytes(id, outcome, self.compact),
        });
    }
}

pub(crate) fn reply_bytes(id: u32, outcome: Result<ReplyData, ErrorBody>, compact: bool) -> Bytes {
    let outcome = match outcome {
        Ok(ReplyData::Sent { seq }) if compact => return encode_compact_sent(id, seq),
        Ok(data) => Outcome::Ok { data },
        Err(error) => Outcome::Error(error),
    };
    encode(&ServerFrame::Reply(Reply { id, outcome }))
}

/// A change to commit and what to do once it is durable, kept together
/// from the moment it is planned.
struct Planned {
    change: Change,
    then: Effect,
}

/// What to do once a change is durable.
enum Effect {
    /// The join or direct message created the conversation: its people
    /// are in it, the asker is answered.
    Opened {
        name: String,
        session: u64,
        reply: oneshot::Sender<Result<Entered, ErrorBody>>,
    },
    /// The join filed a request: the joiner waits, the admin is told.
    Requested {
        name: String,
        session: u64,
        reply: oneshot::Sender<Result<Entered, ErrorBody>>,
    },
    /// A member's action: fan its entry out, settle whom it concerns, reply.
    Acted {
        id: u32,
        reply_to: ReplyTo,
        by: String,
        session: u64,
        stored: Option<Arc<Stored>>,
    },
    /// An ignore list changed: move the user's sessions out of (or back
    /// into) the direct conversation, then reply.
    Ignored { id: u32, reply_to: ReplyTo },
    /// A cursor save: nothing to tell anyone.
    Quiet,
}

impl Effect {
    /// The commit failed: tell whoever waits for an answer.
    fn fail(self, error: &ErrorBody) {
        match self {
            Effect::Opened { reply, .. } | Effect::Requested { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Effect::Acted { id, reply_to, .. } | Effect::Ignored { id, reply_to } => {
                reply_to.send(id, Err(error.clone()));
            }
            Effect::Quiet => {}
        }
    }
}

/// The one task that changes hub state; see the module docs.
pub(crate) struct HubTask {
    queue: mpsc::Receiver<Job>,
    state: Arc<Mutex<State>>,
    store: Arc<dyn Store>,
    /// Deletes the files of a group that closes.
    shelf: Arc<Shelf>,
    limits: Limits,
    clock: Clock,
    /// Limits new groups per address.
    signups: Arc<Signups>,
    /// Tells the other nodes what this one committed.
    bus: Bus,
    metrics: Arc<Metrics>,
}

impl HubTask {
    pub async fn run(mut self) {
        let store = self.store.clone();
        match blocking(move || store.ignores()).await {
            Ok(pairs) => {
                let mut state = lock(&self.state);
                for (name, ignored) in pairs {
                    state.ignores.entry(name).or_default().insert(ignored);
                }
            }
            Err(error) => tracing::error!(error = %error.message, "cannot load ignore lists"),
        }
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while self.queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            for job in jobs.extract_if(.., |job| matches!(job, Job::Remote(_))) {
                if let Job::Remote(inbound) = job {
                    self.hear(inbound).await;
                }
            }
            let conversations = self.conversations_of(&jobs).await;
            self.load_groups(&jobs, &conversations).await;
            let now_ms = self.clock.now_ms();
            let mut planned = Vec::new();
            let mut doubtful = Vec::new();
            let mut settled = Vec::new();
            {
                let mut state = lock(&self.state);
                for job in jobs.drain(..) {
                    match job {
                        Job::Settle(done) => settled.push(done),
                        job => self.plan(
                            &mut state,
                            job,
                            &conversations,
                            now_ms,
                            &mut planned,
                            &mut doubtful,
                        ),
                    }
                }
            }
            if !planned.is_empty() {
                self.commit(planned, now_ms).await;
            }
            if !doubtful.is_empty() {
                self.second_look(doubtful).await;
            }
            for done in settled {
                let _ = done.send(());
            }
        }
        tracing::debug!("hub stopped");
    }

    /// Commits one batch, then delivers it (or fails it as a whole).
    async fn commit(&self, planned: Vec<Planned>, now_ms: i64) {
        self.remove_closed_files(&planned).await;
        let store = self.store.clone();
        let batch: Vec<Change> = planned.iter().map(|p| p.change.clone()).collect();
        let messages = batch
            .iter()
            .filter(|c| matches!(c, Change::Post { .. } | Change::PostFile { .. }))
            .count() as u64;
        let started = std::time::Instant::now();
        let committed = blocking(move || {
            let entries = store.apply(now_ms, &batch)?;
            // The store appends at most one entry per change, in order.
            assert_eq!(entries.len(), batch.len(), "one result per change");
            Ok::<_, crate::store::StoreError>(entries)
        })
        .await;
        match committed {
            Ok(entries) => {
                self.metrics.committed(messages, started.elapsed());
                let started = std::time::Instant::now();
                self.publish(&planned, &entries);
                let mut backlog = self.backlog(&planned, &entries).await;
                let unsettled = {
                    let mut state = lock(&self.state);
                    for (planned, entry) in planned.into_iter().zip(entries) {
                        deliver(&mut state, planned, entry, &mut backlog);
                    }
                    backlog.finish(&mut state)
                };
                self.metrics.fanout.observe(started.elapsed().as_secs_f64());
                self.resettle(unsettled).await;
            }
            Err(error) => self.fail_batch(planned, &error).await,
        }
    }

    /// The conversations of each user who connects in this batch, read
    /// here so that no change can slip between the read and the entering.
    async fn conversations_of(&self, jobs: &[Job]) -> HashMap<String, Vec<ConversationRecord>> {
        let mut found = HashMap::new();
        for job in jobs {
            let Job::Connect(connect) = job else { continue };
            if found.contains_key(&connect.name) {
                continue;
            }
            let (store, name) = (self.store.clone(), connect.name.clone());
            match blocking(move || store.conversations_of(&name)).await {
                Ok(records) => {
                    found.insert(connect.name.clone(), records);
                }
                Err(error) => {
                    tracing::error!(name = %connect.name, error = %error.message, "cannot list conversations");
                }
            }
        }
        found
    }

    /// Loads the conversations the batch touches that are not cached yet.
    /// Those that do not exist stay absent; a join then creates them.
    async fn load_groups(
        &self,
        jobs: &[Job],
        conversations: &HashMap<String, Vec<ConversationRecord>>,
    ) {
        let missing: HashSet<String> = {
            let state = lock(&self.state);
            let touched = jobs.iter().flat_map(|job| -> Vec<String> {
                match job {
                    Job::Connect(c) => conversations
                        .get(&c.name)
                        .into_iter()
                        .flatten()
                        .map(|r| r.id.clone())
                        .collect(),
                    Job::Join(j) => vec![j.group.clone()],
                    Job::Direct(d) => vec![direct_id(&d.name, &d.peer)],
                    Job::Ignore(i) => vec![direct_id(&i.name, &i.peer)],
                    Job::Act(a) => vec![a.conv.clone()],
                    Job::Leave(_) | Job::Remote(_) | Job::Settle(_) => Vec::new(),
                }
            });
            touched.filter(|g| !state.groups.contains_key(g)).collect()
        };
        // Heard before read: what another node commits after the read
        // arrives on the bus (see `Bus::listen`).
        let missing: Vec<String> = missing.into_iter().collect();
        self.bus.listen(&missing).await;
        for group in missing {
            self.reload(&group).await;
        }
    }

    /// Asks the rules what a job may do and applies it to the cached state,
    /// so later jobs in the batch see it. Pushes the changes to commit with
    /// what to do after the commit; jobs fully handled push nothing, and
    /// acts whose refusal may be stale go to `doubtful` (see
    /// [`HubTask::second_look`]).
    fn plan(
        &self,
        state: &mut State,
        job: Job,
        conversations: &HashMap<String, Vec<ConversationRecord>>,
        now_ms: i64,
        planned: &mut Vec<Planned>,
        doubtful: &mut Vec<Act>,
    ) {
        match job {
            Job::Connect(connect) => {
                let records = conversations
                    .get(&connect.name)
                    .map_or(&[][..], Vec::as_slice);
                self.plan_connect(state, connect, records);
            }
            Job::Join(join) => planned.extend(self.plan_join(state, join, now_ms)),
            Job::Direct(direct) => planned.extend(self.plan_direct(state, direct, now_ms)),
            Job::Ignore(ignore) => planned.push(self.plan_ignore(state, ignore)),
            Job::Leave(leave) => self.plan_leave(state, leave, now_ms, planned),
            Job::Act(act) => planned.extend(self.plan_act(state, act, now_ms, Some(doubtful))),
            // Heard before the batch is planned, settled after it commits; see `run`.
            Job::Remote(_) | Job::Settle(_) => {}
        }
    }

    /// Registers the connection and enters it into each of the user's
    /// conversations (but direct ones with people they ignore).
    fn plan_connect(&self, state: &mut State, connect: Connect, records: &[ConversationRecord]) {
        let Connect {
            name,
            session,
            seen,
            reply,
        } = connect;
        let mut entered = Vec::new();
        let mut convs = HashSet::new();
        for record in records {
            if direct_peer(&record.id, &name).is_some_and(|peer| state.ignores(&name, peer)) {
                continue;
            }
            let Some(group) = state.groups.get_mut(&record.id) else {
                continue;
            };
            let seen = seen.get(&record.id).copied();
            match rules::join(Some(&group.rules), &record.id, &name, seen, &self.limits, 0) {
                Ok(JoinDecision::Enter { grant, after, .. }) => {
                    group.go_online(&name, session.clone());
                    entered.push(group.entered(&name, grant, after, Arrival::Asked));
                }
                Ok(JoinDecision::Wait) => {
                    group.wait(&name, session.clone());
                    entered.push(group.entered(&name, Grant::default(), 0, Arrival::Asked));
                }
                _ => continue,
            }
            convs.insert(record.id.clone());
        }
        state.users.0.entry(name).or_default().push(Connection {
            handle: session,
            convs,
        });
        let _ = reply.send(entered);
    }

    fn plan_join(&self, state: &mut State, join: Join, now_ms: i64) -> Option<Planned> {
        let Join {
            group: group_name,
            name,
            session,
            address,
            reply,
        } = join;
        let elsewhere = state.elsewhere.clone();
        let rules = state.groups.get(&group_name).map(|g| &g.rules);
        let decision = rules::join(rules, &group_name, &name, None, &self.limits, now_ms).and_then(
            |decision| match decision {
                JoinDecision::Create(_) => self.signups.new_group(address).map(|()| decision),
                _ => Ok(decision),
            },
        );
        let decision = match decision {
            Ok(decision) => decision,
            Err(error) => {
                let _ = reply.send(Err(error));
                return None;
            }
        };
        // Every decision but `Create` is about a group that exists.
        let group = state
            .groups
            .entry(group_name.clone())
            .or_insert_with(|| Group::new(&group_name, GroupState::created_by(&name), elsewhere));
        match decision {
            JoinDecision::Create(change) => Some(Planned {
                change,
                then: Effect::Opened {
                    name,
                    session,
                    reply,
                },
            }),
            JoinDecision::Enter { grant, .. } => {
                // Already in it: every connection of the user is, too.
                let head = group.rules.head;
                let _ = reply.send(Ok(group.entered(&name, grant, head, Arrival::Asked)));
                None
            }
            JoinDecision::Wait => {
                let _ = reply.send(Ok(group.entered(
                    &name,
                    Grant::default(),
                    0,
                    Arrival::Asked,
                )));
                None
            }
            JoinDecision::Request(change) => {
                group.rules.apply(&change, now_ms, &self.limits);
                let then = Effect::Requested {
                    name,
                    session,
                    reply,
                };
                Some(Planned { change, then })
            }
        }
    }

    /// Finds or creates the direct conversation of two people.
    fn plan_direct(&self, state: &mut State, direct: Direct, now_ms: i64) -> Option<Planned> {
        let Direct {
            name,
            peer,
            session,
            reply,
        } = direct;
        if state.ignores(&name, &peer) {
            let _ = reply.send(Err(ignoring(&peer)));
            return None;
        }
        let conv = direct_id(&name, &peer);
        if let Some(group) = state.groups.get(&conv) {
            let head = group.rules.head;
            let answer = match group.rules.members.get(&name) {
                Some(member) => Ok(group.entered(&name, member.grant, head, Arrival::Asked)),
                None => Err(rules::not_member()),
            };
            let _ = reply.send(answer);
            return None;
        }
        let change = Change::CreateDirect {
            group: conv.clone(),
            opener: name.clone(),
            peer: peer.clone(),
        };
        state
            .cache(&conv, GroupState::direct(&name, &peer))
            .rules
            .apply(&change, now_ms, &self.limits);
        Some(Planned {
            change,
            then: Effect::Opened {
                name,
                session,
                reply,
            },
        })
    }

    fn plan_ignore(&self, state: &mut State, ignore: Ignore) -> Planned {
        let Ignore {
            name,
            peer,
            ignore,
            id,
            reply_to,
        } = ignore;
        let ignored = state.ignores.entry(name.clone()).or_default();
        let change = if ignore {
            ignored.insert(peer.clone());
            Change::Ignore {
                name,
                ignored: peer,
            }
        } else {
            ignored.remove(&peer);
            Change::Unignore {
                name,
                ignored: peer,
            }
        };
        Planned {
            change,
            then: Effect::Ignored { id, reply_to },
        }
    }

    /// Takes the session out of every conversation and saves how far it
    /// was served.
    fn plan_leave(&self, state: &mut State, leave: Leave, now_ms: i64, planned: &mut Vec<Planned>) {
        let Leave {
            name,
            session,
            served,
        } = leave;
        let convs = state
            .users
            .0
            .get_mut(&name)
            .and_then(|all| {
                let at = all.iter().position(|c| c.handle.id == session)?;
                Some(all.swap_remove(at).convs)
            })
            .unwrap_or_default();
        if state.users.0.get(&name).is_some_and(Vec::is_empty) {
            state.users.0.remove(&name);
        }
        for conv in &convs {
            if let Some(group) = state.groups.get_mut(conv) {
                group.drop_session(&name, session);
            }
        }
        for (conv, seq) in served {
            let Some(group) = state.groups.get_mut(&conv) else {
                continue;
            };
            if group
                .rules
                .members
                .get(&name)
                .is_none_or(|m| seq <= m.cursor)
            {
                continue;
            }
            let change = Change::SaveCursor {
                group: conv,
                name: name.clone(),
                seq,
            };
            group.rules.apply(&change, now_ms, &self.limits);
            planned.push(Planned {
                change,
                then: Effect::Quiet,
            });
        }
    }

    /// Decides an act against the cached group. A refusal that news from
    /// another node may not have reached yet (see [`HubTask::second_look`])
    /// goes to `doubtful` instead, when given and in a cluster.
    fn plan_act(
        &self,
        state: &mut State,
        act: Act,
        now_ms: i64,
        doubtful: Option<&mut Vec<Act>>,
    ) -> Option<Planned> {
        let ignored =
            direct_peer(&act.conv, &act.name).filter(|peer| state.ignores(&act.name, peer));
        let decided = match (state.groups.get_mut(&act.conv), ignored) {
            (_, Some(peer)) => Err(ignoring(peer)),
            (Some(group), None) => rules::decide(
                &group.rules,
                &act.conv,
                &act.name,
                &act.action,
                &self.limits,
            )
            .inspect(|change| group.rules.apply(change, now_ms, &self.limits)),
            (None, None) => Err(rules::not_member()),
        };
        match decided {
            Ok(change) => Some(Planned {
                change,
                then: Effect::Acted {
                    id: act.id,
                    reply_to: act.reply_to,
                    by: act.name,
                    session: act.session,
                    stored: act.stored,
                },
            }),
            Err(error) => {
                match doubtful {
                    Some(doubtful) if !self.bus.is_local() && may_be_stale(&error) => {
                        doubtful.push(act);
                    }
                    _ => act.reply_to.send(act.id, Err(error)),
                }
                None
            }
        }
    }

    /// In a cluster, the cached group may not have heard yet what another
    /// node committed a moment ago (a join request made there, a member
    /// let in, the admin role handed over), so a refusal that rests on it
    /// is checked once more against the store: the groups of such acts are
    /// read again and the acts decided for good. One node alone never gets
    /// here; its cache is the store's state.
    async fn second_look(&self, doubtful: Vec<Act>) {
        let convs: HashSet<String> = doubtful.iter().map(|act| act.conv.clone()).collect();
        for conv in convs {
            // One not held here was just read from the store by `load_groups`.
            if lock(&self.state).groups.contains_key(&conv) {
                self.reload(&conv).await;
            }
        }
        let now_ms = self.clock.now_ms();
        let planned: Vec<Planned> = {
            let mut state = lock(&self.state);
            doubtful
                .into_iter()
                .filter_map(|act| self.plan_act(&mut state, act, now_ms, None))
                .collect()
        };
        if !planned.is_empty() {
            self.commit(planned, now_ms).await;
        }
    }

    /// Deletes the files of the groups this batch closes, before the
    /// commit forgets which they were.
    async fn remove_closed_files(&self, planned: &[Planned]) {
        for p in planned {
            if let Change::CloseGroup { group } = &p.change {
                let (shelf, group) = (self.shelf.clone(), group.clone());
                if let Err(error) = blocking(move || shelf.remove_group_files(&group)).await {
                    tracing::warn!(error = %error.message, "cannot delete a closed group's files");
                }
            }
        }
    }

    /// The commit failed: nothing in the batch happened. Tell every requester,
    /// and reload the touched groups so the cache matches the store again.
    async fn fail_batch(&self, planned: Vec<Planned>, error: &ErrorBody) {
        tracing::error!(error = %error.message, batch = planned.len(), "store commit failed");
        let touched: HashSet<String> = planned
            .iter()
            .filter_map(|p| p.change.group().map(str::to_owned))
            .collect();
        let mut ignores = Vec::new();
        for Planned { change, then } in planned {
            if let Change::Ignore { name, ignored } | Change::Unignore { name, ignored } = change {
                ignores.push((name, ignored));
            }
            then.fail(error);
        }
        let store = self.store.clone();
        if !ignores.is_empty()
            && let Ok(pairs) = blocking(move || store.ignores()).await
        {
            let mut state = lock(&self.state);
            for (name, _) in &ignores {
                state.ignores.remove(name);
            }
            for (name, ignored) in pairs {
                if ignores.iter().any(|(n, _)| *n == name) {
                    state.ignores.entry(name).or_default().insert(ignored);
                }
            }
        }
        for group in touched {
            let store = self.store.clone();
            let name = group.clone();
            let reloaded = blocking(move || store.load_group(&name)).await;
            let mut state = lock(&self.state);
            match reloaded {
                Ok(Some(record)) => {
                    if let Some(cached) = state.groups.get_mut(&group) {
                        cached.refresh(record);
                        cached.drop_strays();
                    }
                }
                Ok(None) => {
                    if let Some(mut cached) = state.groups.remove(&group) {
                        cached.rules.members.clear();
                        cached.rules.requests.clear();
                        cached.drop_strays();
                    }
                }
                Err(_) => {
                    // The store cannot even be read: forget the group so the
                    // next job loads it afresh, and close its sessions.
                    if let Some(mut cached) = state.groups.remove(&group) {
                        cached.rules.members.clear();
                        cached.rules.requests.clear();
                        cached.drop_strays();
                    }
                }
            }
        }
    }
}

/// Runs after the commit: moves the head, fans the entry out, and tells
/// whoever the change concerns.
fn deliver(
    state: &mut State,
    Planned { change, then }: Planned,
    entry: Option<LogEntry>,
    backlog: &mut Backlog,
) {
    if let Effect::Ignored { id, reply_to } = then {
        settle_ignore(state, &change);
        reply_to.send(id, Ok(ReplyData::Done));
        return;
    }
    let Some(conv) = change.group().map(str::to_owned) else {
        return;
    };
    let seq = entry.as_ref().map(|e| e.seq);
    let fresh = match seq {
        Some(seq) => backlog
            .deliver_before(state, &conv, seq)
            .then_some(entry)
            .flatten(),
        None => None,
    };
    let State {
        groups,
        users,
        ignores,
        ..
    } = state;
    let Some(group) = groups.get_mut(&conv) else {
        return;
    };
    match then {
        Effect::Quiet | Effect::Ignored { .. } => {}
        Effect::Opened {
            name,
            session,
            reply,
        } => {
            if let Some(handle) = users.handle(&name, session) {
                users.note(&name, session, &conv);
                group.go_online(&name, handle);
            }
            let mut opened = group.entered(&name, Grant::default(), 0, Arrival::Asked);
            if matches!(change, Change::CreateGroup { .. }) {
                opened.status = JoinStatus::Created;
            }
            let _ = reply.send(Ok(opened));
            state.open_everywhere(&conv, &name, Some(session));
        }
        Effect::Requested {
            name,
            session,
            reply,
        } => {
            if let Some(handle) = users.handle(&name, session) {
                users.note(&name, session, &conv);
                group.wait(&name, handle);
            }
            group.announce_request(&name);
            let _ = reply.send(Ok(group.entered(
                &name,
                Grant::default(),
                0,
                Arrival::Asked,
            )));
            state.enter_everywhere(&conv, &name, Some(session), &Arrival::Added);
        }
        Effect::Acted {
            id,
            reply_to,
            by,
            session,
            stored,
        } => {
            if let Some(stored) = &stored {
                stored.keep();
            }
            let (data, posted) = match (&change, seq) {
                (Change::Post { .. } | Change::PostFile { .. }, Some(seq)) => {
                    (ReplyData::Sent { seq }, true)
                }
                _ => (ReplyData::Done, false),
            };
            let mut reply = Some(data);
            let mut answer = || {
                if let Some(data) = reply.take() {
                    reply_to.send(id, Ok(data));
                }
            };
            if let Some(entry) = fresh {
                // A post's reply follows the sender's own copy at once; any
                // other act is answered after all the events it causes.
                group.fan_out_answering(entry, ignores, || {
                    if posted {
                        answer();
                    }
                });
            }
            group.settle(users, &change, &by, session);
            if matches!(change, Change::CloseGroup { .. }) {
                groups.remove(&conv);
            }
            answer();
        }
    }
}

fn ignoring(peer: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidTarget,
        format!("you ignore {peer}; /unignore {peer} first"),
    )
}

/// After an ignore list changed: the user's connections leave the direct
/// conversation with the ignored person, or come back to it.
fn settle_ignore(state: &mut State, change: &Change) {
    match change {
        Change::Ignore { name, ignored } => {
            let conv = direct_id(name, ignored);
            let State { groups, users, .. } = state;
            if let Some(group) = groups.get_mut(&conv) {
                // The ignored person is not told, not even by seeing the
                // other go offline.
                let event = Event::ConversationRemoved { conv: conv.clone() };
                group.remove_quietly(users, name, &event);
            }
        }
        Change::Unignore { name, ignored } => {
            let conv = direct_id(name, ignored);
            state.enter_everywhere(&conv, name, None, &Arrival::Added);
        }
        _ => {}
    }
}

/// Refusals that rest on who is in a group, who waits and who decides:
/// what another node may have changed a moment ago.
fn may_be_stale(error: &ErrorBody) -> bool {
    matches!(
        error.code,
        ErrorCode::NoSuchUser | ErrorCode::NotMember | ErrorCode::NotAdmin
    )
}
