//! The hub: every group's state, who is online, and the single task that
//! changes any of it.
//!
//! Sessions read group state through [`Hub::read`] (a short lock), but every
//! change goes through one task, [`HubTask`], as a [`Job`]. That task takes
//! whatever jobs are queued, checks each against the group's rules, commits
//! all their [`Change`]s in one store transaction (group commit), and only
//! then tells anyone: it fans new log entries out to online members, replies
//! to the requesters and moves sessions between states. Because one task
//! assigns, commits and delivers, members see entries in sequence order, and
//! nothing is delivered or acknowledged before it is durable.
//!
//! A session registers for live delivery at a known committed head; it then
//! reads everything up to that head from the store and everything after it
//! arrives live, so there is no gap and no duplicate.

use std::{
    collections::{BTreeMap, HashMap, HashSet, hash_map::Entry},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{
    Limits,
    files::{Shelf, Stored},
    lock,
};
use crate::{
    protocol::{
        ErrorBody, ErrorCode, Event, FileInfo, GroupSnapshot, JoinRequest, JoinStatus, LogEntry,
        MemberInfo, Outcome, Reply, ReplyData, Role, Seq, ServerFrame, encode,
    },
    store::{Change, GroupRecord, Store, now_ms},
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
    /// The pending join was approved: serve the log from `from` up to `head`,
    /// then live frames. The snapshot is boxed to keep `Control` small: every
    /// session's control channel allocates room for 32 of them up front.
    Approved {
        by: String,
        snapshot: Box<GroupSnapshot>,
        from: Seq,
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
    /// Serve the log after this sequence number...
    pub from: Seq,
    /// ...up to and including this one; later entries arrive live.
    pub head: Seq,
}

/// A request that changes group state, checked and applied by the hub task.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Post {
        text: String,
    },
    Approve {
        name: String,
    },
    Reject {
        name: String,
    },
    Kick {
        name: String,
    },
    ChangeAdmin {
        name: String,
    },
    /// Announce a file whose contents are in place; `stored` deletes them
    /// again unless the announcement commits.
    PostFile {
        file: FileInfo,
        stored: Arc<Stored>,
    },
}

/// Work for the hub task.
#[derive(Debug)]
pub(crate) enum Job {
    Join {
        group: String,
        name: String,
        session: SessionHandle,
        last_seq: Option<Seq>,
        reply: oneshot::Sender<Result<Joined, ErrorBody>>,
    },
    /// The session ended; `cursor` is the last entry it delivered.
    Leave {
        group: String,
        name: String,
        session: u64,
        cursor: Seq,
    },
    Mutate {
        group: String,
        name: String,
        id: u32,
        reply_to: mpsc::Sender<Outbound>,
        mutation: Mutation,
    },
}

impl Job {
    fn group(&self) -> &str {
        match self {
            Job::Join { group, .. } | Job::Leave { group, .. } | Job::Mutate { group, .. } => group,
        }
    }
}

/// One group as the hub holds it.
#[derive(Debug)]
pub(crate) struct Group {
    pub admin: String,
    /// Member name to stored delivery cursor.
    pub members: BTreeMap<String, Seq>,
    /// Oldest first.
    pub requests: Vec<JoinRequest>,
    /// The newest committed and delivered sequence number.
    pub head: Seq,
    /// Members with a live session.
    online: HashMap<String, SessionHandle>,
    /// Pending users with a live session, waiting for the admin.
    waiting: HashMap<String, SessionHandle>,
    /// When each recently rejected user was turned down, to hold off
    /// immediate re-requests. Kept in memory only.
    rejected: HashMap<String, Instant>,
}

impl Group {
    fn from_record(record: GroupRecord) -> Self {
        Self {
            admin: record.admin,
            members: record
                .members
                .into_iter()
                .map(|m| (m.name, m.cursor))
                .collect(),
            requests: record.requests,
            head: record.head,
            online: HashMap::new(),
            waiting: HashMap::new(),
            rejected: HashMap::new(),
        }
    }

    pub fn role_of(&self, name: &str) -> Role {
        if self.admin == name {
            Role::Admin
        } else {
            Role::Member
        }
    }

    pub fn is_online(&self, name: &str) -> bool {
        self.online.contains_key(name)
    }

    pub fn member_list(&self) -> Vec<MemberInfo> {
        self.members
            .keys()
            .map(|name| MemberInfo {
                name: name.clone(),
                role: self.role_of(name),
                online: self.is_online(name),
            })
            .collect()
    }

    /// What `viewer` sees on arrival; only the admin sees requests.
    pub fn snapshot_for(&self, viewer: &str) -> GroupSnapshot {
        GroupSnapshot {
            admin: self.admin.clone(),
            members: self.member_list(),
            requests: if self.admin == viewer {
                self.requests.clone()
            } else {
                Vec::new()
            },
            head: self.head,
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
}

/// Everything the hub knows; see [`Hub::read`].
#[derive(Debug, Default)]
pub(crate) struct State {
    groups: HashMap<String, Group>,
}

impl State {
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
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
    shelf: Arc<Shelf>,
}

impl Hub {
    /// Creates the hub and the task that applies its jobs. The task ends when
    /// every `Hub` handle is dropped, after applying what was queued.
    pub fn new(store: Arc<dyn Store>, limits: Limits) -> (Hub, HubTask) {
        let (jobs, queue) = mpsc::channel(limits.hub_queue);
        let state = Arc::new(Mutex::new(State::default()));
        let hub = Hub {
            jobs,
            state: state.clone(),
            shelf: Arc::new(Shelf::new(store.clone(), &limits)),
            store: store.clone(),
        };
        (
            hub,
            HubTask {
                queue,
                state,
                store,
                limits,
            },
        )
    }

    pub fn read(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn shelf(&self) -> &Arc<Shelf> {
        &self.shelf
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

/// What to do once a job's change (if any) is durable.
enum Effect {
    /// A join that created the group or filed a request.
    Join {
        name: String,
        session: SessionHandle,
        reply: oneshot::Sender<Result<Joined, ErrorBody>>,
    },
    Reply {
        id: u32,
        reply_to: mpsc::Sender<Outbound>,
        name: String,
        mutation: Mutation,
    },
    /// A cursor save: nothing to tell anyone.
    Quiet,
}

/// The one task that changes hub state; see the module docs.
pub(crate) struct HubTask {
    queue: mpsc::Receiver<Job>,
    state: Arc<Mutex<State>>,
    store: Arc<dyn Store>,
    limits: Limits,
}

impl HubTask {
    pub async fn run(mut self) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        while self.queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            self.load_groups(&jobs).await;
            let mut changes = Vec::new();
            let mut effects = Vec::new();
            {
                let mut state = lock(&self.state);
                for job in jobs.drain(..) {
                    if let Some((change, effect)) = self.plan(&mut state, job) {
                        changes.push(change);
                        effects.push(effect);
                    }
                }
            }
            if changes.is_empty() {
                continue;
            }
            let store = self.store.clone();
            let batch = changes.clone();
            match tokio::task::spawn_blocking(move || store.apply(now_ms(), &batch)).await {
                Ok(Ok(entries)) => {
                    let mut state = lock(&self.state);
                    for ((change, effect), entry) in changes.into_iter().zip(effects).zip(entries) {
                        self.deliver(&mut state, change, effect, entry);
                    }
                }
                Ok(Err(error)) => self.fail_batch(&changes, effects, &error).await,
                Err(panicked) => self.fail_batch(&changes, effects, &panicked).await,
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
            match tokio::task::spawn_blocking(move || store.load_group(&name)).await {
                Ok(Ok(Some(record))) => {
                    lock(&self.state)
                        .groups
                        .insert(group, Group::from_record(record));
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => tracing::error!(%group, %error, "cannot load group"),
                Err(error) => tracing::error!(%group, %error, "group loader panicked"),
            }
        }
    }

    /// Checks a job against the group's rules and applies it to the cached
    /// state. Returns the change to commit and what to do after the commit,
    /// or `None` when the job is already fully handled.
    fn plan(&self, state: &mut State, job: Job) -> Option<(Change, Effect)> {
        match job {
            Job::Join {
                group: group_name,
                name,
                session,
                last_seq,
                reply,
            } => {
                let Some(group) = state.groups.get_mut(&group_name) else {
                    state.groups.insert(
                        group_name.clone(),
                        Group {
                            admin: name.clone(),
                            members: BTreeMap::from([(name.clone(), 0)]),
                            requests: Vec::new(),
                            head: 0,
                            online: HashMap::new(),
                            waiting: HashMap::new(),
                            rejected: HashMap::new(),
                        },
                    );
                    let change = Change::CreateGroup {
                        group: group_name,
                        admin: name.clone(),
                    };
                    return Some((
                        change,
                        Effect::Join {
                            name,
                            session,
                            reply,
                        },
                    ));
                };
                if let Some(&cursor) = group.members.get(&name) {
                    let from = last_seq.unwrap_or(cursor).min(group.head);
                    go_online(group, &name, session);
                    let joined = Joined {
                        status: if group.admin == name {
                            JoinStatus::Admin
                        } else {
                            JoinStatus::Member
                        },
                        snapshot: Some(group.snapshot_for(&name)),
                        from,
                        head: group.head,
                    };
                    let _ = reply.send(Ok(joined));
                    return None;
                }
                if group.requests.iter().any(|r| r.name == name) {
                    replace_session(&mut group.waiting, &name, session);
                    let _ = reply.send(Ok(pending()));
                    return None;
                }
                if let Err(error) = may_request(group, &name, &self.limits) {
                    let _ = reply.send(Err(error));
                    return None;
                }
                group.requests.push(JoinRequest {
                    name: name.clone(),
                    at_ms: now_ms(),
                });
                let change = Change::AddRequest {
                    group: group_name,
                    name: name.clone(),
                };
                Some((
                    change,
                    Effect::Join {
                        name,
                        session,
                        reply,
                    },
                ))
            }
            Job::Leave {
                group: group_name,
                name,
                session,
                cursor,
            } => {
                let group = state.groups.get_mut(&group_name)?;
                if group.waiting.get(&name).is_some_and(|s| s.id == session) {
                    group.waiting.remove(&name);
                }
                if group.online.get(&name).is_some_and(|s| s.id == session) {
                    group.online.remove(&name);
                    group.broadcast(
                        &event_frame(&Event::MemberOffline { name: name.clone() }),
                        None,
                    );
                }
                let seq = cursor;
                let stored = group.members.get_mut(&name)?;
                if seq <= *stored {
                    return None;
                }
                *stored = seq;
                Some((
                    Change::SaveCursor {
                        group: group_name,
                        name,
                        seq,
                    },
                    Effect::Quiet,
                ))
            }
            Job::Mutate {
                group: group_name,
                name,
                id,
                reply_to,
                mutation,
            } => {
                let checked = match state.groups.get_mut(&group_name) {
                    Some(group) => check(
                        group,
                        &group_name,
                        &name,
                        &mutation,
                        self.limits.history_on_join,
                    ),
                    None => Err(ErrorBody::new(
                        ErrorCode::Internal,
                        "the group is not available right now",
                    )),
                };
                match checked {
                    Ok(change) => Some((
                        change,
                        Effect::Reply {
                            id,
                            reply_to,
                            name,
                            mutation,
                        },
                    )),
                    Err(error) => {
                        let _ = reply_to.try_send(reply_frame(id, Err(error)));
                        None
                    }
                }
            }
        }
    }

    /// Runs after the commit: moves the head, fans the entry out, and tells
    /// whoever the change concerns.
    fn deliver(&self, state: &mut State, change: Change, effect: Effect, entry: Option<LogEntry>) {
        let Some(group) = state.groups.get_mut(change.group()) else {
            return;
        };
        if let Some(entry) = &entry {
            group.head = entry.seq;
        }
        let seq = entry.as_ref().map(|e| e.seq);
        match (&change, effect) {
            (_, Effect::Quiet) => {}
            (
                Change::CreateGroup { .. },
                Effect::Join {
                    name,
                    session,
                    reply,
                    ..
                },
            ) => {
                go_online(group, &name, session);
                let _ = reply.send(Ok(Joined {
                    status: JoinStatus::Created,
                    snapshot: Some(group.snapshot_for(&name)),
                    from: 0,
                    head: group.head,
                }));
            }
            (
                _,
                Effect::Join {
                    name,
                    session,
                    reply,
                    ..
                },
            ) => {
                replace_session(&mut group.waiting, &name, session);
                if let Some(request) = group.requests.iter().find(|r| r.name == name) {
                    let admin = group.admin.clone();
                    group.send_to(
                        &admin,
                        event_frame(&Event::JoinRequested {
                            request: request.clone(),
                        }),
                    );
                }
                let _ = reply.send(Ok(pending()));
            }
            (
                change,
                Effect::Reply {
                    id,
                    reply_to,
                    name: by,
                    mutation,
                },
            ) => {
                if let Some(entry) = entry {
                    group.broadcast(&event_frame(&Event::Message { entry }), None);
                }
                apply_effect(group, change, &by);
                if let Mutation::PostFile { stored, .. } = &mutation {
                    stored.keep();
                }
                let data = match (mutation, seq) {
                    (Mutation::Post { .. } | Mutation::PostFile { .. }, Some(seq)) => {
                        ReplyData::Sent { seq }
                    }
                    _ => ReplyData::Done,
                };
                let _ = reply_to.try_send(reply_frame(id, Ok(data)));
            }
        }
    }
}

/// What an admin action does to sessions, after its entry is fanned out.
fn apply_effect(group: &mut Group, change: &Change, by: &str) {
    match change {
        Change::Approve { name, cursor, .. } => {
            if let Some(session) = group.waiting.remove(name) {
                let control = session.control.clone();
                go_online(group, name, session);
                let _ = control.send(Box::new(Control::Approved {
                    by: by.to_owned(),
                    snapshot: Box::new(group.snapshot_for(name)),
                    from: *cursor,
                    head: group.head,
                }));
            }
        }
        Change::RejectRequest { name, .. } => {
            group.rejected.insert(name.clone(), Instant::now());
            if let Some(session) = group.waiting.remove(name) {
                let _ = session
                    .control
                    .send(Box::new(Control::Rejected { by: by.to_owned() }));
            }
        }
        Change::Kick { name, .. } => {
            if let Some(session) = group.online.remove(name) {
                let _ = session
                    .control
                    .send(Box::new(Control::Kicked { by: by.to_owned() }));
                group.broadcast(
                    &event_frame(&Event::MemberOffline { name: name.clone() }),
                    None,
                );
            }
        }
        Change::ChangeAdmin { to, .. } => {
            for request in group.requests.clone() {
                group.send_to(to, event_frame(&Event::JoinRequested { request }));
            }
        }
        _ => {}
    }
}

impl HubTask {
    /// The commit failed: nothing in the batch happened. Tell every requester,
    /// and reload the touched groups so the cache matches the store again.
    async fn fail_batch(
        &self,
        changes: &[Change],
        effects: Vec<Effect>,
        error: &(dyn std::fmt::Display + Sync),
    ) {
        tracing::error!(%error, batch = changes.len(), "store commit failed");
        let failure = || {
            ErrorBody::new(
                ErrorCode::Internal,
                format!("the server could not save that: {error}"),
            )
        };
        for effect in effects {
            match effect {
                Effect::Join { reply, .. } => {
                    let _ = reply.send(Err(failure()));
                }
                Effect::Reply { id, reply_to, .. } => {
                    let _ = reply_to.try_send(reply_frame(id, Err(failure())));
                }
                Effect::Quiet => {}
            }
        }
        let touched: HashSet<&str> = changes.iter().map(Change::group).collect();
        for group in touched {
            let store = self.store.clone();
            let name = group.to_owned();
            let reloaded = tokio::task::spawn_blocking(move || store.load_group(&name)).await;
            let mut state = lock(&self.state);
            match reloaded {
                Ok(Ok(Some(record))) => {
                    let fresh = Group::from_record(record);
                    if let Some(cached) = state.groups.get_mut(group) {
                        cached.admin = fresh.admin;
                        cached.members = fresh.members;
                        cached.requests = fresh.requests;
                        cached.head = fresh.head;
                        drop_strays(cached);
                    }
                }
                Ok(Ok(None)) => {
                    state.groups.remove(group);
                }
                _ => {
                    // The store cannot even be read: forget the group so the
                    // next job loads it afresh, and close its sessions.
                    if let Some(mut cached) = state.groups.remove(group) {
                        cached.members.clear();
                        cached.requests.clear();
                        drop_strays(&mut cached);
                    }
                }
            }
        }
    }
}

/// Closes sessions that no longer match the group after a reload.
fn drop_strays(group: &mut Group) {
    let close = || {
        Control::Close(ErrorBody::new(
            ErrorCode::Internal,
            "the server lost a change; reconnect",
        ))
    };
    let Group {
        members,
        requests,
        online,
        waiting,
        ..
    } = group;
    let keep_if = |keep: bool, session: &SessionHandle| {
        if !keep {
            let _ = session.control.send(Box::new(close()));
        }
        keep
    };
    online.retain(|name, s| keep_if(members.contains_key(name), s));
    waiting.retain(|name, s| keep_if(requests.iter().any(|r| &r.name == name), s));
}

/// Flood control for join requests: a bounded queue per group, and a pause
/// after a rejection.
fn may_request(group: &mut Group, name: &str, limits: &Limits) -> Result<(), ErrorBody> {
    group
        .rejected
        .retain(|_, at| at.elapsed() < limits.rejoin_cooldown);
    if let Some(at) = group.rejected.get(name) {
        let wait = limits
            .rejoin_cooldown
            .saturating_sub(at.elapsed())
            .as_secs()
            + 1;
        return Err(ErrorBody::new(
            ErrorCode::RateLimited,
            format!("the admin turned down your request; you can ask again in {wait} s"),
        ));
    }
    if group.requests.len() >= limits.max_pending_requests {
        return Err(ErrorBody::new(
            ErrorCode::RateLimited,
            "this group has too many pending join requests; try again later",
        ));
    }
    Ok(())
}

fn pending() -> Joined {
    Joined {
        status: JoinStatus::Pending,
        snapshot: None,
        from: 0,
        head: 0,
    }
}

/// Registers a member's session for live delivery, telling the others when
/// the member was offline before.
fn go_online(group: &mut Group, name: &str, session: SessionHandle) {
    let was_online = group.online.contains_key(name);
    replace_session(&mut group.online, name, session);
    if !was_online {
        group.broadcast(
            &event_frame(&Event::MemberOnline {
                name: name.to_owned(),
            }),
            Some(name),
        );
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

/// Removes `name`'s pending request, which must exist.
fn take_request(group: &mut Group, name: &str) -> Result<JoinRequest, ErrorBody> {
    let at = group
        .requests
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::NoSuchUser,
                format!("{name} has no pending request"),
            )
        })?;
    Ok(group.requests.remove(at))
}

/// The group's rules for one mutation. On success, the cached state already
/// reflects the change, so later jobs in the same batch see it.
fn check(
    group: &mut Group,
    group_name: &str,
    by: &str,
    mutation: &Mutation,
    history: u64,
) -> Result<Change, ErrorBody> {
    let group_name = group_name.to_owned();
    if !group.members.contains_key(by) {
        return Err(ErrorBody::new(
            ErrorCode::NotMember,
            "you are not a member of this group",
        ));
    }
    match mutation {
        Mutation::Post { text } => {
            return Ok(Change::Post {
                group: group_name,
                from: by.to_owned(),
                text: text.clone(),
            });
        }
        Mutation::PostFile { file, .. } => {
            return Ok(Change::PostFile {
                group: group_name,
                from: by.to_owned(),
                file: file.clone(),
            });
        }
        _ => {}
    }
    if group.admin != by {
        return Err(ErrorBody::new(
            ErrorCode::NotAdmin,
            format!("only the admin ({}) can do that", group.admin),
        ));
    }
    let no_member =
        |name: &str| ErrorBody::new(ErrorCode::NoSuchUser, format!("{name} is not a member"));
    match mutation {
        Mutation::Post { .. } | Mutation::PostFile { .. } => unreachable!("handled above"),
        Mutation::Approve { name } => {
            take_request(group, name)?;
            let cursor = group.head.saturating_sub(history);
            group.members.insert(name.clone(), cursor);
            Ok(Change::Approve {
                group: group_name,
                name: name.clone(),
                by: by.to_owned(),
                cursor,
            })
        }
        Mutation::Reject { name } => {
            take_request(group, name)?;
            Ok(Change::RejectRequest {
                group: group_name,
                name: name.clone(),
            })
        }
        Mutation::Kick { name } => {
            if name == by {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidTarget,
                    "you cannot kick yourself; hand the admin role to someone first",
                ));
            }
            group.members.remove(name).ok_or_else(|| no_member(name))?;
            Ok(Change::Kick {
                group: group_name,
                name: name.clone(),
                by: by.to_owned(),
            })
        }
        Mutation::ChangeAdmin { name } => {
            if name == by {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidTarget,
                    "you are already the admin",
                ));
            }
            if !group.members.contains_key(name) {
                return Err(no_member(name));
            }
            group.admin = name.clone();
            Ok(Change::ChangeAdmin {
                group: group_name,
                from: by.to_owned(),
                to: name.clone(),
            })
        }
    }
}
