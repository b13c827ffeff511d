//! The hub: every group's state, who is online, and the single task that
//! changes any of it.
//!
//! Sessions read group state through [`Hub::read`] (a short lock), but every
//! change goes through one task, [`HubTask`], as a [`Job`]. That task takes
//! whatever jobs are queued, asks [`rules`] what each may do, commits all
//! their [`Change`]s in one store transaction (group commit), and only then
//! tells anyone: it fans new log entries out to online members, replies to
//! the requesters and moves sessions between states. Because one task
//! assigns, commits and delivers, members see entries in sequence order, and
//! nothing is delivered or acknowledged before it is durable.
//!
//! A session registers for live delivery at a known committed head; it then
//! reads everything up to that head from the store and everything after it
//! arrives live, so there is no gap and no duplicate.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{
    Clock, Limits, blocking,
    files::Stored,
    lock,
    rules::{self, Action, Grant, GroupState, JoinDecision, Query},
    signups::Signups,
};
use crate::{
    protocol::{
        ErrorBody, ErrorCode, Event, GroupSnapshot, JoinStatus, LogEntry, MemberInfo, Outcome,
        Reply, ReplyData, Seq, ServerFrame, encode,
    },
    store::{Change, Store},
};

/// How many queued jobs one store transaction takes at most.
const MAX_BATCH: usize = 1024;

/// A frame queued for one session. `seq` is set for log entries so the
/// session knows how far the member has been served.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub seq: Option<Seq>,
    pub frame: Bytes,
}

/// State changes the hub tells a session about, outside its frame queue so
/// they arrive even when that queue is full.
#[derive(Debug)]
pub(crate) enum Control {
    /// The pending join was approved: serve the log after `after` up to
    /// `head`, then live frames. The snapshot is boxed to keep `Control`
    /// small: every session's control channel allocates room for 32 of them
    /// up front.
    Approved {
        by: String,
        snapshot: Box<GroupSnapshot>,
        grant: Grant,
        head: Seq,
    },
    Rejected {
        by: String,
    },
    Kicked {
        by: String,
    },
    /// Close the connection with this error.
    Close(ErrorBody),
}

/// How the hub reaches one connection.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub id: u64,
    pub frames: mpsc::Sender<Outbound>,
    /// Boxed, so the channel's first block (32 slots, allocated with the
    /// channel) stays small on every connection.
    pub control: mpsc::UnboundedSender<Box<Control>>,
}

/// The answer to a join.
#[derive(Debug)]
pub(crate) struct Joined {
    pub status: JoinStatus,
    pub snapshot: Option<GroupSnapshot>,
    /// What the member may read.
    pub grant: Grant,
    /// Serve the log after this sequence number...
    pub after: Seq,
    /// ...up to and including this one; later entries arrive live.
    pub head: Seq,
}

impl Joined {
    fn pending() -> Self {
        Self {
            status: JoinStatus::Pending,
            snapshot: None,
            grant: Grant::default(),
            after: 0,
            head: 0,
        }
    }
}

/// Work for the hub task.
#[derive(Debug)]
pub(crate) enum Job {
    Join(Join),
    Leave(Leave),
    Act(Act),
}

/// A session arrives in a group.
#[derive(Debug)]
pub(crate) struct Join {
    pub group: String,
    pub name: String,
    pub session: SessionHandle,
    /// The last sequence number the client says it has seen.
    pub seen: Option<Seq>,
    /// Where the client connects from, should the join create the group.
    pub address: IpAddr,
    pub reply: oneshot::Sender<Result<Joined, ErrorBody>>,
}

/// The session ended; `cursor` is the last entry it delivered.
#[derive(Debug)]
pub(crate) struct Leave {
    pub group: String,
    pub name: String,
    pub session: u64,
    pub cursor: Seq,
}

/// A member asks to change the group; the reply goes to `reply_to`.
#[derive(Debug)]
pub(crate) struct Act {
    pub group: String,
    pub name: String,
    pub id: u32,
    pub reply_to: mpsc::Sender<Outbound>,
    pub action: Action,
    /// A file's contents in place for a [`Action::PostFile`]; they are
    /// deleted again unless the announcement commits.
    pub stored: Option<Arc<Stored>>,
}

impl Job {
    fn group(&self) -> &str {
        match self {
            Job::Join(Join { group, .. })
            | Job::Leave(Leave { group, .. })
            | Job::Act(Act { group, .. }) => group,
        }
    }
}

/// One group as the hub holds it: its state and its live sessions.
#[derive(Debug)]
pub(crate) struct Group {
    pub rules: GroupState,
    /// Members with a live session.
    online: HashMap<String, SessionHandle>,
    /// Pending users with a live session, waiting for the admin.
    waiting: HashMap<String, SessionHandle>,
}

impl Group {
    fn new(rules: GroupState) -> Self {
        Self {
            rules,
            online: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    pub fn member_list(&self) -> Vec<MemberInfo> {
        self.rules
            .members
            .keys()
            .map(|name| MemberInfo {
                name: name.clone(),
                role: self.rules.role_of(name),
                online: self.online.contains_key(name),
            })
            .collect()
    }

    /// What `viewer` sees on arrival; only the admin sees requests.
    pub fn snapshot_for(&self, viewer: &str) -> GroupSnapshot {
        GroupSnapshot {
            admin: self.rules.admin.clone(),
            members: self.member_list(),
            requests: if self.rules.admin == viewer {
                self.rules.requests.clone()
            } else {
                Vec::new()
            },
            head: self.rules.head,
        }
    }

    /// Queues a frame for every online member but `except`. Members whose
    /// queue is full are dropped (they catch up from the store when they
    /// come back) so that one slow reader never holds up the group.
    fn broadcast(&mut self, out: &Outbound, except: Option<&str>) {
        let mut slow = Vec::new();
        self.online.retain(|name, session| {
            if except == Some(name.as_str()) {
                return true;
            }
            match session.frames.try_send(out.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slow.push(name.clone());
                    let _ = session.control.send(Box::new(Control::Close(ErrorBody::new(
                        ErrorCode::TooSlow,
                        "you fell too far behind the group; reconnect to catch up",
                    ))));
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        for name in slow {
            tracing::info!(%name, "dropped a member that could not keep up");
            let offline = event_frame(&Event::MemberOffline { name: name.clone() });
            for session in self.online.values() {
                let _ = session.frames.try_send(offline.clone());
            }
        }
    }

    fn send_to(&self, name: &str, out: Outbound) {
        if let Some(session) = self.online.get(name) {
            let _ = session.frames.try_send(out);
        }
    }

    /// Registers a member's session for live delivery, telling the others
    /// when the member was offline before.
    fn go_online(&mut self, name: &str, session: SessionHandle) {
        let was_online = self.online.contains_key(name);
        replace_session(&mut self.online, name, session);
        if !was_online {
            let online = event_frame(&Event::MemberOnline {
                name: name.to_owned(),
            });
            self.broadcast(&online, Some(name));
        }
    }

    fn go_offline(&mut self, name: &str) {
        if self.online.remove(name).is_some() {
            let offline = event_frame(&Event::MemberOffline {
                name: name.to_owned(),
            });
            self.broadcast(&offline, None);
        }
    }

    /// Tells a pending user's session how the admin decided, and moves an
    /// approved one online.
    fn settle(&mut self, change: &Change, by: &str) {
        match change {
            Change::Approve { name, floor, .. } => {
                if let Some(session) = self.waiting.remove(name) {
                    let control = session.control.clone();
                    self.go_online(name, session);
                    let _ = control.send(Box::new(Control::Approved {
                        by: by.to_owned(),
                        snapshot: Box::new(self.snapshot_for(name)),
                        grant: Grant::after(*floor),
                        head: self.rules.head,
                    }));
                }
            }
            Change::RejectRequest { name, .. } => {
                if let Some(session) = self.waiting.remove(name) {
                    let rejected = Control::Rejected { by: by.to_owned() };
                    let _ = session.control.send(Box::new(rejected));
                }
            }
            Change::Kick { name, .. } => {
                if let Some(session) = self.online.get(name) {
                    let kicked = Control::Kicked { by: by.to_owned() };
                    let _ = session.control.send(Box::new(kicked));
                }
                self.go_offline(name);
            }
            Change::ChangeAdmin { to, .. } => {
                for request in &self.rules.requests {
                    let request = Event::JoinRequested {
                        request: request.clone(),
                    };
                    self.send_to(to, event_frame(&request));
                }
            }
            _ => {}
        }
    }

    /// Closes sessions that no longer match the group after a reload.
    fn drop_strays(&mut self) {
        let close = || {
            Control::Close(ErrorBody::new(
                ErrorCode::Internal,
                "the server lost a change; reconnect",
            ))
        };
        let Group {
            rules,
            online,
            waiting,
        } = self;
        let keep_if = |keep: bool, session: &SessionHandle| {
            if !keep {
                let _ = session.control.send(Box::new(close()));
            }
            keep
        };
        online.retain(|name, s| keep_if(rules.members.contains_key(name), s));
        waiting.retain(|name, s| keep_if(rules.requests.iter().any(|r| &r.name == name), s));
    }
}

/// One live session per name and state: a newer connection replaces an older one.
fn replace_session(
    sessions: &mut HashMap<String, SessionHandle>,
    name: &str,
    session: SessionHandle,
) {
    match sessions.entry(name.to_owned()) {
        Entry::Occupied(mut slot) => {
            let old = slot.insert(session);
            let _ = old.control.send(Box::new(Control::Close(ErrorBody::new(
                ErrorCode::Replaced,
                "you joined this group from another connection",
            ))));
        }
        Entry::Vacant(slot) => {
            slot.insert(session);
        }
    }
}

/// Everything the hub knows; see [`Hub::read`].
#[derive(Debug, Default)]
pub(crate) struct State {
    groups: HashMap<String, Group>,
}

impl State {
    /// The newest committed sequence number of `group` (0 if unknown).
    pub fn head(&self, group: &str) -> Seq {
        self.groups.get(group).map_or(0, |g| g.rules.head)
    }

    /// Answers `query` from `by` about `group`, if the rules allow it.
    pub fn answer(&self, group: &str, by: &str, query: Query) -> Result<ReplyData, ErrorBody> {
        let group = self.groups.get(group).ok_or_else(rules::not_member)?;
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
        limits: Limits,
        clock: Clock,
        signups: Arc<Signups>,
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
            limits,
            clock,
            signups,
        };
        (hub, task)
    }

    pub fn read(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
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

pub(crate) fn event_frame(event: &Event) -> Outbound {
    let seq = match event {
        Event::Message { entry } => Some(entry.seq),
        _ => None,
    };
    Outbound {
        seq,
        frame: encode(&ServerFrame::Event(event.clone())),
    }
}

pub(crate) fn reply_frame(id: u32, outcome: Result<ReplyData, ErrorBody>) -> Outbound {
    let outcome = match outcome {
        Ok(data) => Outcome::Ok { data },
        Err(error) => Outcome::Error(error),
    };
    Outbound {
        seq: None,
        frame: encode(&ServerFrame::Reply(Reply { id, outcome })),
    }
}

/// A change to commit and what to do once it is durable, kept together
/// from the moment it is planned.
struct Planned {
    change: Change,
    then: Effect,
}

/// What to do once a change is durable.
enum Effect {
    /// The join created the group: the joiner is its admin, online.
    Created {
        name: String,
        session: SessionHandle,
        reply: oneshot::Sender<Result<Joined, ErrorBody>>,
    },
    /// The join filed a request: the joiner waits, the admin is told.
    Requested {
        name: String,
        session: SessionHandle,
        reply: oneshot::Sender<Result<Joined, ErrorBody>>,
    },
    /// A member's action: fan its entry out, settle whom it concerns, reply.
    Acted {
        id: u32,
        reply_to: mpsc::Sender<Outbound>,
        by: String,
        stored: Option<Arc<Stored>>,
    },
    /// A cursor save: nothing to tell anyone.
    Quiet,
}

impl Effect {
    /// The commit failed: tell whoever waits for an answer.
    fn fail(self, error: &ErrorBody) {
        match self {
            Effect::Created { reply, .. } | Effect::Requested { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Effect::Acted { id, reply_to, .. } => {
                let _ = reply_to.try_send(reply_frame(id, Err(error.clone())));
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
    limits: Limits,
    clock: Clock,
    /// Limits new groups per address.
    signups: Arc<Signups>,
}

impl HubTask {
    pub async fn run(mut self) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while self.queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            self.load_groups(&jobs).await;
            let now_ms = self.clock.now_ms();
            let planned: Vec<Planned> = {
                let mut state = lock(&self.state);
                jobs.drain(..)
                    .filter_map(|job| self.plan(&mut state, job, now_ms))
                    .collect()
            };
            if planned.is_empty() {
                continue;
            }
            let store = self.store.clone();
            let batch: Vec<Change> = planned.iter().map(|p| p.change.clone()).collect();
            let committed = blocking(move || {
                let entries = store.apply(now_ms, &batch)?;
                // The store appends at most one entry per change, in order.
                assert_eq!(entries.len(), batch.len(), "one result per change");
                Ok::<_, crate::store::StoreError>(entries)
            })
            .await;
            match committed {
                Ok(entries) => {
                    let mut state = lock(&self.state);
                    for (planned, entry) in planned.into_iter().zip(entries) {
                        deliver(&mut state, planned, entry);
                    }
                }
                Err(error) => self.fail_batch(planned, &error).await,
            }
        }
        tracing::debug!("hub stopped");
    }

    /// Loads the groups the batch touches that are not cached yet. Groups
    /// that do not exist stay absent; a join then creates them.
    async fn load_groups(&self, jobs: &[Job]) {
        let missing: HashSet<String> = {
            let state = lock(&self.state);
            jobs.iter()
                .map(Job::group)
                .filter(|g| !state.groups.contains_key(*g))
                .map(str::to_owned)
                .collect()
        };
        for group in missing {
            let store = self.store.clone();
            let name = group.clone();
            match blocking(move || store.load_group(&name)).await {
                Ok(Some(record)) => {
                    let rules = GroupState::from_record(record);
                    lock(&self.state).groups.insert(group, Group::new(rules));
                }
                Ok(None) => {}
                Err(error) => tracing::error!(%group, error = %error.message, "cannot load group"),
            }
        }
    }

    /// Asks the rules what a job may do and applies it to the cached state,
    /// so later jobs in the batch see it. Returns the change to commit with
    /// what to do after the commit, or `None` when the job is fully handled.
    fn plan(&self, state: &mut State, job: Job, now_ms: i64) -> Option<Planned> {
        match job {
            Job::Join(join) => self.plan_join(state, join, now_ms),
            Job::Leave(leave) => self.plan_leave(state, leave, now_ms),
            Job::Act(act) => self.plan_act(state, act, now_ms),
        }
    }

    fn plan_join(&self, state: &mut State, join: Join, now_ms: i64) -> Option<Planned> {
        let Join {
            group: group_name,
            name,
            session,
            seen,
            address,
            reply,
        } = join;
        let rules = state.groups.get(&group_name).map(|g| &g.rules);
        let decision = rules::join(rules, &group_name, &name, seen, &self.limits, now_ms).and_then(
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
            .entry(group_name)
            .or_insert_with(|| Group::new(GroupState::created_by(&name)));
        match decision {
            JoinDecision::Create(change) => Some(Planned {
                change,
                then: Effect::Created {
                    name,
                    session,
                    reply,
                },
            }),
            JoinDecision::Enter {
                status,
                grant,
                after,
            } => {
                group.go_online(&name, session);
                let _ = reply.send(Ok(Joined {
                    status,
                    snapshot: Some(group.snapshot_for(&name)),
                    grant,
                    after,
                    head: group.rules.head,
                }));
                None
            }
            JoinDecision::Wait => {
                replace_session(&mut group.waiting, &name, session);
                let _ = reply.send(Ok(Joined::pending()));
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

    /// Takes the session out of the group and saves how far it was served.
    fn plan_leave(&self, state: &mut State, leave: Leave, now_ms: i64) -> Option<Planned> {
        let Leave {
            group: group_name,
            name,
            session,
            cursor,
        } = leave;
        let group = state.groups.get_mut(&group_name)?;
        if group.waiting.get(&name).is_some_and(|s| s.id == session) {
            group.waiting.remove(&name);
        }
        if group.online.get(&name).is_some_and(|s| s.id == session) {
            group.go_offline(&name);
        }
        if cursor <= group.rules.members.get(&name)?.cursor {
            return None;
        }
        let change = Change::SaveCursor {
            group: group_name,
            name,
            seq: cursor,
        };
        group.rules.apply(&change, now_ms, &self.limits);
        Some(Planned {
            change,
            then: Effect::Quiet,
        })
    }

    fn plan_act(&self, state: &mut State, act: Act, now_ms: i64) -> Option<Planned> {
        let Act {
            group: group_name,
            name,
            id,
            reply_to,
            action,
            stored,
        } = act;
        let decided = match state.groups.get_mut(&group_name) {
            Some(group) => rules::decide(&group.rules, &group_name, &name, &action, &self.limits)
                .inspect(|change| group.rules.apply(change, now_ms, &self.limits)),
            None => Err(rules::not_member()),
        };
        match decided {
            Ok(change) => Some(Planned {
                change,
                then: Effect::Acted {
                    id,
                    reply_to,
                    by: name,
                    stored,
                },
            }),
            Err(error) => {
                let _ = reply_to.try_send(reply_frame(id, Err(error)));
                None
            }
        }
    }

    /// The commit failed: nothing in the batch happened. Tell every requester,
    /// and reload the touched groups so the cache matches the store again.
    async fn fail_batch(&self, planned: Vec<Planned>, error: &ErrorBody) {
        tracing::error!(error = %error.message, batch = planned.len(), "store commit failed");
        let touched: HashSet<String> = planned
            .iter()
            .map(|p| p.change.group().to_owned())
            .collect();
        for Planned { then, .. } in planned {
            then.fail(error);
        }
        for group in touched {
            let store = self.store.clone();
            let name = group.clone();
            let reloaded = blocking(move || store.load_group(&name)).await;
            let mut state = lock(&self.state);
            match reloaded {
                Ok(Some(record)) => {
                    if let Some(cached) = state.groups.get_mut(&group) {
                        cached.rules.reload(GroupState::from_record(record));
                        cached.drop_strays();
                    }
                }
                Ok(None) => {
                    state.groups.remove(&group);
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
fn deliver(state: &mut State, Planned { change, then }: Planned, entry: Option<LogEntry>) {
    let Some(group) = state.groups.get_mut(change.group()) else {
        return;
    };
    if let Some(entry) = &entry {
        group.rules.head = entry.seq;
    }
    match then {
        Effect::Quiet => {}
        Effect::Created {
            name,
            session,
            reply,
        } => {
            group.go_online(&name, session);
            let _ = reply.send(Ok(Joined {
                status: JoinStatus::Created,
                snapshot: Some(group.snapshot_for(&name)),
                grant: Grant::default(),
                after: 0,
                head: group.rules.head,
            }));
        }
        Effect::Requested {
            name,
            session,
            reply,
        } => {
            replace_session(&mut group.waiting, &name, session);
            if let Some(request) = group.rules.requests.iter().find(|r| r.name == name) {
                let requested = Event::JoinRequested {
                    request: request.clone(),
                };
                group.send_to(&group.rules.admin, event_frame(&requested));
            }
            let _ = reply.send(Ok(Joined::pending()));
        }
        Effect::Acted {
            id,
            reply_to,
            by,
            stored,
        } => {
            let seq = entry.as_ref().map(|e| e.seq);
            if let Some(entry) = entry {
                group.broadcast(&event_frame(&Event::Message { entry }), None);
            }
            group.settle(&change, &by);
            if let Some(stored) = stored {
                stored.keep();
            }
            let data = match (&change, seq) {
                (Change::Post { .. } | Change::PostFile { .. }, Some(seq)) => {
                    ReplyData::Sent { seq }
                }
                _ => ReplyData::Done,
            };
            let _ = reply_to.try_send(reply_frame(id, Ok(data)));
        }
    }
}
