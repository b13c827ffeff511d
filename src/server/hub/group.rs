//! One conversation's live sessions and the fan-out to them, and every
//! user's connections: what the hub task changes when it delivers.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use super::{Arrival, Entered, EventFrame, Ignores, Outbound, SessionHandle, is_ignored};
use crate::{
    protocol::{
        Body, ErrorBody, ErrorCode, Event, GroupSnapshot, LogEntry, MemberInfo, Seq, ServerFrame,
        encode,
    },
    server::rules::{Grant, GroupState},
    store::{Change, GroupRecord},
};

/// One conversation as the hub holds it: its state and its live sessions.
#[derive(Debug)]
pub(super) struct Group {
    id: Arc<str>,
    pub rules: GroupState,
    /// Members with at least one live session.
    online: HashMap<String, Vec<SessionHandle>>,
    /// Pending users' live sessions, waiting for the admin.
    waiting: HashMap<String, Vec<SessionHandle>>,
    /// Names online on other nodes of a cluster (shared by every group).
    elsewhere: Arc<BTreeSet<String>>,
}

impl Group {
    pub(super) fn new(id: &str, rules: GroupState, elsewhere: Arc<BTreeSet<String>>) -> Self {
        Self {
            id: id.into(),
            rules,
            online: HashMap::new(),
            waiting: HashMap::new(),
            elsewhere,
        }
    }

    /// Takes the stored state of the group, keeping the head: what this
    /// node has delivered, which only delivery moves on.
    pub(super) fn refresh(&mut self, record: GroupRecord) {
        let head = self.rules.head;
        self.rules.reload(GroupState::from_record(record));
        self.rules.head = head;
    }

    /// Whether no session here is in it, online or waiting.
    pub(super) fn is_idle(&self) -> bool {
        self.online.is_empty() && self.waiting.is_empty()
    }

    fn is_online(&self, name: &str) -> bool {
        self.online.contains_key(name) || self.elsewhere.contains(name)
    }

    /// Other nodes report `elsewhere` online now: members who came or went
    /// there, and are not online here, are announced.
    pub(super) fn presence_changed(&mut self, elsewhere: Arc<BTreeSet<String>>) {
        let before = std::mem::replace(&mut self.elsewhere, elsewhere);
        let changed: Vec<(String, bool)> = self
            .rules
            .members
            .keys()
            .filter(|name| !self.online.contains_key(*name))
            .filter(|name| before.contains(*name) != self.elsewhere.contains(*name))
            .map(|name| (name.clone(), self.elsewhere.contains(name)))
            .collect();
        for (name, online) in changed {
            let conv = self.id.to_string();
            let event = if online {
                Event::MemberOnline { conv, name }
            } else {
                Event::MemberOffline { conv, name }
            };
            let frame = self.frame(&event);
            self.broadcast(&frame, None);
        }
    }

    pub(super) fn member_list(&self) -> Vec<MemberInfo> {
        self.rules
            .members
            .keys()
            .map(|name| MemberInfo {
                name: name.clone(),
                role: self.rules.role_of(name),
                online: self.is_online(name),
            })
            .collect()
    }

    /// What `viewer` sees on arrival; only the admin sees requests.
    pub(super) fn snapshot_for(&self, viewer: &str) -> GroupSnapshot {
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

    /// Where `name` stands, for a session entering now.
    pub(super) fn entered(
        &self,
        name: &str,
        grant: Grant,
        after: Seq,
        arrival: Arrival,
    ) -> Entered {
        let member = self.rules.members.get(name);
        Entered {
            conv: self.id.to_string(),
            kind: self.rules.kind,
            status: self.rules.status_of(name),
            snapshot: member.map(|_| self.snapshot_for(name)),
            grant,
            after,
            head: self.rules.head,
            read: member.map_or(0, |m| m.read),
            arrival,
        }
    }

    pub(super) fn frame(&self, event: &Event) -> EventFrame {
        EventFrame::new(event, Some(&self.id))
    }

    /// Queues a frame for every online member but `except`. Sessions whose
    /// queue is full are dropped (they catch up from the store when they
    /// come back) so that one slow reader never holds up the group.
    pub(super) fn broadcast(&mut self, out: &EventFrame, except: Option<&str>) {
        let gone = self.offer_online(out, except);
        self.drop_gone(gone);
    }

    /// Offers `out` to every online member but `except`; returns the
    /// members left with no usable session, and whether one fell behind.
    fn offer_online(&mut self, out: &EventFrame, except: Option<&str>) -> Vec<(String, bool)> {
        let mut gone = Vec::new();
        for (name, sessions) in &mut self.online {
            if except == Some(name.as_str()) {
                continue;
            }
            let fell_behind = offer_each(sessions, out);
            if sessions.is_empty() {
                gone.push((name.clone(), fell_behind));
            }
        }
        gone
    }

    /// Takes the members [`Group::offer_online`] found gone (their last
    /// session here took no more frames) out of `online`; the others hear
    /// that each went offline.
    fn drop_gone(&mut self, gone: Vec<(String, bool)>) {
        for (name, fell_behind) in gone {
            // An announcement made for someone earlier in `gone` may have
            // dropped this one already, and announced it.
            if self.online.remove(&name).is_none() {
                continue;
            }
            if fell_behind {
                tracing::info!(%name, group = %self.id, "dropped a member that could not keep up");
            } else {
                tracing::debug!(%name, group = %self.id, "a member's last session ended before it said so");
            }
            self.announce_offline(&name);
        }
    }

    /// Tells the admin's sessions that `name` asks to join.
    pub(super) fn announce_request(&self, name: &str) {
        if let Some(request) = self.rules.requests.iter().find(|r| r.name == name) {
            let requested = Event::JoinRequested {
                conv: self.id.to_string(),
                request: request.clone(),
            };
            self.send_to(&self.rules.admin, &self.frame(&requested));
        }
    }

    pub(super) fn send_to(&self, name: &str, out: &EventFrame) {
        for session in self.online.get(name).into_iter().flatten() {
            session.offer(out.to(session));
        }
    }

    /// Registers a member's session for live delivery, telling the others
    /// when the member was offline before.
    pub(super) fn go_online(&mut self, name: &str, session: SessionHandle) {
        let sessions = self.online.entry(name.to_owned()).or_default();
        let was_online = !sessions.is_empty();
        sessions.retain(|s| s.id != session.id);
        sessions.push(session);
        if !was_online && !self.elsewhere.contains(name) {
            let online = self.frame(&Event::MemberOnline {
                conv: self.id.to_string(),
                name: name.to_owned(),
            });
            self.broadcast(&online, Some(name));
        }
    }

    /// Takes one session of `name` out of the conversation, online or waiting.
    pub(super) fn drop_session(&mut self, name: &str, session: u64) {
        self.go_offline(name, Some(session));
        if let Some(waiting) = self.waiting.get_mut(name) {
            take_sessions(waiting, Some(session));
            if waiting.is_empty() {
                self.waiting.remove(name);
            }
        }
    }

    /// Takes one session (or, with `None`, every session) of `name` out of
    /// live delivery; returns the sessions taken.
    pub(super) fn go_offline(&mut self, name: &str, session: Option<u64>) -> Vec<SessionHandle> {
        let Some(sessions) = self.online.get_mut(name) else {
            return Vec::new();
        };
        let taken = take_sessions(sessions, session);
        if sessions.is_empty() {
            self.online.remove(name);
            self.announce_offline(name);
        }
        taken
    }

    fn announce_offline(&mut self, name: &str) {
        if self.elsewhere.contains(name) {
            return;
        }
        let offline = self.frame(&Event::MemberOffline {
            conv: self.id.to_string(),
            name: name.to_owned(),
        });
        self.broadcast(&offline, None);
    }

    pub(super) fn wait(&mut self, name: &str, session: SessionHandle) {
        let sessions = self.waiting.entry(name.to_owned()).or_default();
        sessions.retain(|s| s.id != session.id);
        sessions.push(session);
    }

    /// Tells every session of `name` it left the conversation, with
    /// `event`; the others see `name` go offline.
    pub(super) fn remove(&mut self, users: &mut Users, name: &str, event: &Event) {
        let sessions = self.go_offline(name, None);
        self.dismiss(users, name, sessions, event);
    }

    /// [`Group::remove`] without telling the others: to them `name` stays
    /// as they last saw them.
    pub(super) fn remove_quietly(&mut self, users: &mut Users, name: &str, event: &Event) {
        let sessions = self.online.remove(name).unwrap_or_default();
        self.dismiss(users, name, sessions, event);
    }

    /// Sends `event` to `sessions` and every waiting session of `name`,
    /// and takes the conversation off their connections.
    fn dismiss(
        &mut self,
        users: &mut Users,
        name: &str,
        mut sessions: Vec<SessionHandle>,
        event: &Event,
    ) {
        sessions.extend(self.waiting.remove(name).unwrap_or_default());
        let bytes = encode(&ServerFrame::Event(event.clone()));
        for session in sessions {
            users.forget(name, session.id, &self.id);
            session.offer(Outbound::Removed {
                conv: self.id.to_string(),
                event: bytes.clone(),
            });
        }
    }

    /// Tells a pending user's sessions how the admin decided, moves
    /// approved ones online, and tells whoever else a change concerns.
    pub(super) fn settle(&mut self, users: &mut Users, change: &Change, by: &str, session: u64) {
        let conv = self.id.to_string();
        match change {
            Change::Approve { name, floor, .. } => {
                for waiting in self.waiting.remove(name).unwrap_or_default() {
                    self.go_online(name, waiting.clone());
                    let arrival = Arrival::Approved { by: by.to_owned() };
                    let grant = Grant::after(*floor);
                    let entered = self.entered(name, grant, *floor, arrival);
                    waiting.offer(Outbound::Enter(Arc::new(entered)));
                }
                // Waiting on another node: the members here learn from this
                // node that the new member is online, as presence will not
                // change to tell them.
                if !self.online.contains_key(name) && self.elsewhere.contains(name) {
                    let online = self.frame(&Event::MemberOnline {
                        conv,
                        name: name.clone(),
                    });
                    self.broadcast(&online, Some(name));
                }
            }
            Change::RejectRequest { name, .. } => {
                let by = by.to_owned();
                self.remove(users, name, &Event::RequestRejected { conv, by });
            }
            Change::Kick { name, .. } => {
                let by = by.to_owned();
                self.remove(users, name, &Event::Kicked { conv, by });
            }
            Change::Leave { name, .. } | Change::WithdrawRequest { name, .. } => {
                self.remove(users, name, &Event::ConversationRemoved { conv });
            }
            Change::CloseGroup { .. } => {
                let everyone: Vec<String> = self
                    .online
                    .keys()
                    .chain(self.waiting.keys())
                    .cloned()
                    .collect();
                for name in everyone {
                    let conv = conv.clone();
                    self.remove(users, &name, &Event::ConversationRemoved { conv });
                }
            }
            Change::ChangeAdmin { to, .. } => {
                for request in &self.rules.requests {
                    let request = Event::JoinRequested {
                        conv: conv.clone(),
                        request: request.clone(),
                    };
                    self.send_to(to, &self.frame(&request));
                }
            }
            Change::SetRead { name, .. } => {
                let seq = self.rules.members.get(name).map_or(0, |m| m.read);
                let read = self.frame(&Event::ReadUpTo { conv, seq });
                for other in self.online.get(name).into_iter().flatten() {
                    if other.id != session {
                        other.offer(read.to(other));
                    }
                }
            }
            _ => {}
        }
    }

    /// Queues a log entry for every online member, but not, in a direct
    /// conversation, for a member who ignores its sender (`ignores` tells
    /// whom someone ignores).
    pub(super) fn fan_out(&mut self, entry: LogEntry, ignores: &Ignores) {
        self.fan_out_answering(entry, ignores, || {});
    }

    /// [`Group::fan_out`], the sender's own connections first: `answer`
    /// runs right after them, so the sender's reply is queued before the
    /// rest of the group's copies and the sender hears first that its post
    /// is durable, not after a random share of the fan-out.
    pub(super) fn fan_out_answering(
        &mut self,
        entry: LogEntry,
        ignores: &Ignores,
        answer: impl FnOnce(),
    ) {
        let ignoring = crate::protocol::direct_peer(&self.id, &entry.from)
            .filter(|peer| is_ignored(ignores, peer, &entry.from))
            .map(str::to_owned);
        // The sender's sessions are out of `online` while the others are
        // offered the entry, so that no name is compared per delivery;
        // they are back before anyone found gone is announced.
        let sender = self.online.remove_entry(&entry.from);
        let message = self.frame(&Event::Message {
            conv: self.id.to_string(),
            entry,
        });
        let sender = sender.map(|(name, mut sessions)| {
            let fell_behind = offer_each(&mut sessions, &message);
            (name, sessions, fell_behind)
        });
        answer();
        let mut gone = self.offer_online(&message, ignoring.as_deref());
        if let Some((name, sessions, fell_behind)) = sender {
            if sessions.is_empty() {
                gone.push((name.clone(), fell_behind));
            }
            self.online.insert(name, sessions);
        }
        self.drop_gone(gone);
    }

    /// After a reload that found changes this node was not told of (their
    /// bus message was lost): moves the sessions that no longer match the
    /// group in or out, with the events [`Group::settle`] sends. `seen`
    /// are the log entries read with the reload, which tell who kicked whom
    /// and who let whom in.
    pub(super) fn reconcile(&mut self, users: &mut Users, seen: &[LogEntry]) {
        let conv = self.id.to_string();
        let by = |name: &str, kicked: bool| {
            seen.iter().rev().find_map(|e| match &e.body {
                Body::MemberKicked { name: n } if kicked && n == name => Some(e.from.clone()),
                Body::MemberJoined { name: n } if !kicked && n == name => Some(e.from.clone()),
                _ => None,
            })
        };
        let gone: Vec<String> = self
            .online
            .keys()
            .filter(|name| !self.rules.members.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            let event = match by(&name, true) {
                Some(by) => Event::Kicked {
                    conv: conv.clone(),
                    by,
                },
                None => Event::ConversationRemoved { conv: conv.clone() },
            };
            self.remove(users, &name, &event);
        }
        let waiting: Vec<String> = self.waiting.keys().cloned().collect();
        for name in waiting {
            if let Some(member) = self.rules.members.get(&name) {
                let approve = Change::Approve {
                    group: conv.clone(),
                    name: name.clone(),
                    by: String::new(),
                    floor: member.grant.floor(),
                };
                let by = by(&name, false).unwrap_or_else(|| self.rules.admin.clone());
                self.settle(users, &approve, &by, 0);
            } else if !self.rules.requests.iter().any(|r| r.name == name) {
                let event = Event::RequestRejected {
                    conv: conv.clone(),
                    by: self.rules.admin.clone(),
                };
                self.remove(users, &name, &event);
            }
        }
    }

    /// Closes sessions that no longer match the group after a reload.
    pub(super) fn drop_strays(&mut self) {
        let close = || ErrorBody::new(ErrorCode::Internal, "the server lost a change; reconnect");
        let Group {
            rules,
            online,
            waiting,
            ..
        } = self;
        let keep_if = |keep: bool, sessions: &Vec<SessionHandle>| {
            if !keep {
                for session in sessions {
                    session.outbox.close(close());
                }
            }
            keep
        };
        online.retain(|name, s| keep_if(rules.members.contains_key(name), s));
        waiting.retain(|name, s| keep_if(rules.requests.iter().any(|r| &r.name == name), s));
    }
}

/// Offers `out` to each of one member's sessions and keeps those still
/// usable; says whether one was dropped for falling behind.
fn offer_each(sessions: &mut Vec<SessionHandle>, out: &EventFrame) -> bool {
    let mut fell_behind = false;
    sessions.retain(|session| {
        let usable = session.offer(out.to(session));
        fell_behind |= !usable && session.outbox.fell_behind();
        usable
    });
    fell_behind
}

/// Takes the session `id` (or every session, with `None`) out of `sessions`.
fn take_sessions(sessions: &mut Vec<SessionHandle>, id: Option<u64>) -> Vec<SessionHandle> {
    match id {
        None => std::mem::take(sessions),
        Some(id) => {
            let (taken, kept) = std::mem::take(sessions)
                .into_iter()
                .partition(|s| s.id == id);
            *sessions = kept;
            taken
        }
    }
}

/// One live connection of a user and the conversations it is in.
#[derive(Debug)]
pub(super) struct Connection {
    pub handle: SessionHandle,
    pub convs: HashSet<String>,
}

/// Every user's live connections.
#[derive(Debug, Default)]
pub(super) struct Users(pub HashMap<String, Vec<Connection>>);

impl Users {
    pub(super) fn connections(&self, name: &str) -> impl Iterator<Item = &Connection> {
        self.0.get(name).into_iter().flatten()
    }

    pub(super) fn handle(&self, name: &str, session: u64) -> Option<SessionHandle> {
        self.connections(name)
            .find(|c| c.handle.id == session)
            .map(|c| c.handle.clone())
    }

    /// Records that the connection is in `conv`.
    pub(super) fn note(&mut self, name: &str, session: u64, conv: &str) {
        if let Some(connection) = self.connection_mut(name, session) {
            connection.convs.insert(conv.to_owned());
        }
    }

    /// Records that the connection has left `conv`.
    pub(super) fn forget(&mut self, name: &str, session: u64, conv: &str) {
        if let Some(connection) = self.connection_mut(name, session) {
            connection.convs.remove(conv);
        }
    }

    fn connection_mut(&mut self, name: &str, session: u64) -> Option<&mut Connection> {
        self.0
            .get_mut(name)?
            .iter_mut()
            .find(|c| c.handle.id == session)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::{
        protocol::{ConvKind, decode},
        server::hub::Outbox,
        store::MemberRecord,
    };

    fn group_of(names: &[&str]) -> Group {
        let member = |name: &&str| MemberRecord {
            name: (*name).to_owned(),
            cursor: 0,
            floor: 0,
            read: 0,
        };
        let record = GroupRecord {
            kind: ConvKind::Group,
            admin: names[0].to_owned(),
            members: names.iter().map(member).collect(),
            requests: Vec::new(),
            head: 0,
        };
        Group::new("rust", GroupState::from_record(record), Arc::default())
    }

    /// The group of `names`, each online with one session, in that order.
    fn online_group(names: &[&str]) -> (Group, Vec<SessionHandle>) {
        let mut group = group_of(names);
        let sessions: Vec<_> = (0..)
            .zip(names)
            .map(|(id, name)| {
                let session = SessionHandle {
                    id,
                    outbox: Arc::new(Outbox::new(1024)),
                    compact: false,
                };
                group.go_online(name, session.clone());
                session
            })
            .collect();
        (group, sessions)
    }

    /// The names in the `member_offline` events queued for `session`.
    async fn went_offline(session: &SessionHandle) -> Vec<String> {
        let mut batch = VecDeque::new();
        session.outbox.take(&mut batch).await.unwrap();
        batch
            .into_iter()
            .filter_map(|out| match out {
                Outbound::Frame { bytes, .. } => match decode(&bytes).unwrap() {
                    ServerFrame::Event(Event::MemberOffline { name, .. }) => Some(name),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Many members leave at once (a network blip): the hub meets their
    /// ended sessions in a broadcast before it hears they left. Each is
    /// announced offline once, however the announcements nest.
    #[tokio::test]
    async fn members_whose_sessions_ended_together_go_offline_once_each() {
        let (mut group, sessions) = online_group(&["ann", "bob", "carol", "dave", "erin"]);
        let ann = &sessions[0];
        for gone in &sessions[1..] {
            gone.outbox.end();
        }
        let hello = group.frame(&Event::MemberOnline {
            conv: "rust".into(),
            name: "someone".into(),
        });
        group.broadcast(&hello, None);
        let mut offline = went_offline(ann).await;
        offline.sort();
        assert_eq!(offline, ["bob", "carol", "dave", "erin"]);
        assert!(group.is_online("ann"));
    }

    /// The sender's own sessions are served apart from the rest of the
    /// group; a member whose session ended, met on the way, is still
    /// announced offline to everyone, the sender included.
    #[tokio::test]
    async fn a_member_found_gone_by_a_post_is_announced_to_the_sender_too() {
        let (mut group, sessions) = online_group(&["ann", "bob", "carol"]);
        let [ann, bob, carol] = &sessions[..] else {
            unreachable!()
        };
        bob.outbox.end();
        let entry = LogEntry {
            seq: 1,
            at_ms: 1,
            from: "ann".into(),
            body: Body::Text {
                text: "hello".into(),
            },
        };
        group.fan_out(entry, &Ignores::default());
        assert_eq!(went_offline(carol).await, ["bob"]);
        assert_eq!(went_offline(ann).await, ["bob"]);
        assert!(group.is_online("ann") && !group.is_online("bob"));
    }
}
