//! One conversation's live sessions and the fan-out to them, and every
//! user's connections: what the hub task changes when it delivers.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use super::{Arrival, Entered, EventFrame, Outbound, SessionHandle};
use crate::{
    protocol::{ErrorBody, ErrorCode, Event, GroupSnapshot, MemberInfo, Seq, ServerFrame, encode},
    server::rules::{Grant, GroupState},
    store::Change,
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
}

impl Group {
    pub(super) fn new(id: &str, rules: GroupState) -> Self {
        Self {
            id: id.into(),
            rules,
            online: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    pub(super) fn member_list(&self) -> Vec<MemberInfo> {
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
        let mut gone = Vec::new();
        for (name, sessions) in &mut self.online {
            if except == Some(name.as_str()) {
                continue;
            }
            sessions.retain(|session| session.offer(out.to(session)));
            if sessions.is_empty() {
                gone.push(name.clone());
            }
        }
        for name in gone {
            tracing::info!(%name, group = %self.id, "dropped a member that could not keep up");
            self.online.remove(&name);
            self.announce_offline(&name);
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
        if !was_online {
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
