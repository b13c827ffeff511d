//! A connection that speaks protocol frames by hand, holding every
//! conversation of its user, for tests of what crosses the wire.

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
};

use pyconchat::protocol::{
    ClientFrame, ErrorBody, Event, Hello, LogEntry, Outcome, PROTOCOL_VERSION, ReplyData, Request,
    RequestFrame, Seq, ServerFrame, Welcome,
};

use super::{Raw, TestServer, User, text_of};

/// One connection of a user: requests out, replies matched by id, events
/// kept in arrival order until a test asks for them.
pub struct Peer {
    raw: Raw,
    next_id: u32,
    events: VecDeque<Event>,
    pub welcome: Welcome,
}

impl Peer {
    /// Connects `user`, opening `group` if given, resuming each listed
    /// conversation after its sequence number.
    pub async fn connect(
        server: &TestServer,
        user: &User,
        group: Option<&str>,
        last_seq: &[(&str, Seq)],
    ) -> Self {
        Self::try_connect(server, user, group, last_seq)
            .await
            .expect("a welcome")
    }

    pub async fn try_connect(
        server: &TestServer,
        user: &User,
        group: Option<&str>,
        last_seq: &[(&str, Seq)],
    ) -> Result<Self, ErrorBody> {
        Self::try_connect_to(server.addr, user, group, last_seq).await
    }

    /// [`Peer::connect`] to the server at `addr` (a node of a cluster).
    pub async fn connect_to(
        addr: SocketAddr,
        user: &User,
        group: Option<&str>,
        last_seq: &[(&str, Seq)],
    ) -> Self {
        Self::try_connect_to(addr, user, group, last_seq)
            .await
            .expect("a welcome")
    }

    pub async fn try_connect_to(
        addr: SocketAddr,
        user: &User,
        group: Option<&str>,
        last_seq: &[(&str, Seq)],
    ) -> Result<Self, ErrorBody> {
        let mut raw = Raw::connect_to(addr).await;
        raw.send(&ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            name: user.name.clone(),
            secret: user.identity.secret().to_vec(),
            group: group.map(str::to_owned),
            last_seq: last_seq
                .iter()
                .map(|(conv, seq)| ((*conv).to_owned(), *seq))
                .collect::<BTreeMap<_, _>>(),
            compact: false,
        }))
        .await;
        match raw.read().await.expect("an answer to hello") {
            ServerFrame::Welcome(welcome) => Ok(Self {
                raw,
                next_id: 0,
                events: VecDeque::new(),
                welcome,
            }),
            ServerFrame::Error(error) => Err(error),
            other => panic!("unexpected answer to hello: {other:?}"),
        }
    }

    /// Sends `request` and waits for its reply, keeping events that arrive
    /// meanwhile.
    pub async fn ask(&mut self, request: Request) -> Result<ReplyData, ErrorBody> {
        self.next_id += 1;
        let id = self.next_id;
        self.raw
            .send(&ClientFrame::Request(RequestFrame { id, request }))
            .await;
        loop {
            match self.raw.read().await.expect("the reply before a close") {
                ServerFrame::Reply(reply) if reply.id == id => {
                    return match reply.outcome {
                        Outcome::Ok { data } => Ok(data),
                        Outcome::Error(error) => Err(error),
                    };
                }
                ServerFrame::Event(event) => self.events.push_back(event),
                other => panic!("unexpected frame while waiting for reply {id}: {other:?}"),
            }
        }
    }

    /// [`Peer::ask`], expecting success.
    pub async fn ok(&mut self, request: Request) -> ReplyData {
        let what = format!("{request:?}");
        self.ask(request)
            .await
            .unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }

    /// Posts `text` to `conv`; returns its sequence number.
    pub async fn say(&mut self, conv: &str, text: &str) -> Seq {
        let request = Request::SendMessage {
            conv: conv.to_owned(),
            text: text.to_owned(),
        };
        match self.ok(request).await {
            ReplyData::Sent { seq } => seq,
            other => panic!("unexpected reply to a message: {other:?}"),
        }
    }

    /// The first event (kept or still to come) that `pick` accepts; the
    /// events before it stay kept.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        if let Some(at) = self.events.iter().position(|e| pick(e).is_some()) {
            let event = self.events.remove(at).expect("a kept event");
            return pick(&event).expect("picked");
        }
        loop {
            match self.raw.read().await.expect("an event before a close") {
                ServerFrame::Event(event) => match pick(&event) {
                    Some(found) => return found,
                    None => self.events.push_back(event),
                },
                other => panic!("unexpected frame while waiting for an event: {other:?}"),
            }
        }
    }

    /// The next event, kept or read; `None` once the server has closed
    /// the connection.
    pub async fn next_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        loop {
            match self.raw.read().await? {
                ServerFrame::Event(event) => return Some(event),
                ServerFrame::Error(_) => {}
                other => panic!("unexpected frame while waiting for an event: {other:?}"),
            }
        }
    }

    /// The next log entry of `conv`.
    pub async fn entry(&mut self, conv: &str) -> LogEntry {
        self.wait_for(|e| match e {
            Event::Message { conv: c, entry } if c == conv => Some(entry.clone()),
            _ => None,
        })
        .await
    }

    /// The texts of the next `n` chat messages of `conv`, skipping other entries.
    pub async fn texts(&mut self, conv: &str, n: usize) -> Vec<String> {
        let mut texts = Vec::new();
        while texts.len() < n {
            let entry = self.entry(conv).await;
            if matches!(entry.body, pyconchat::protocol::Body::Text { .. }) {
                texts.push(text_of(&entry));
            }
        }
        texts
    }

    /// Asserts that no log entry arrives, in any conversation, before a
    /// ping's reply: everything the server queued before it has arrived.
    /// Entries that arrived before this call are dropped first.
    pub async fn assert_no_entry(&mut self) {
        self.events.retain(|e| !matches!(e, Event::Message { .. }));
        self.ok(Request::Ping).await;
        let stray: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .collect();
        assert!(stray.is_empty(), "unexpected entries: {stray:?}");
    }

    /// The conversation ids in the welcome, sorted.
    pub fn conversations(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .welcome
            .conversations
            .iter()
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub async fn close(mut self) {
        self.raw.shutdown().await;
        while self.raw.read().await.is_some() {}
    }
}
