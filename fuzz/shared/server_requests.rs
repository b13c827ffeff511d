//! The body of the `server_requests` fuzz target, shared with the corpus
//! replay in `tests/fuzz_corpus.rs` (included there with `#[path]`).
//!
//! An input is a script: a few users connect to a fresh group (the first
//! one creates it and is its admin), send requests with arbitrary names,
//! texts and ids, hellos out of place, arbitrary payloads and raw bytes, and
//! disconnect. While it runs, every frame the server sends is checked
//! against the protocol; afterwards a separate client must still be able to
//! post and receive.

use std::{net::SocketAddr, time::Duration};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{BufMut, Bytes, BytesMut};
use futures::{FutureExt, SinkExt, StreamExt};
use pyconchat::protocol::{
    ClientFrame, Event, FrameCodec, FrameError, Hello, Outcome, PROTOCOL_VERSION, ReplyData,
    Request, RequestFrame, Seq, ServerFrame, decode, encode,
};
use tokio::{io::AsyncWriteExt, net::TcpStream, time::Instant};
use tokio_util::codec::Framed;

/// The script's cast. Index 0 connects first and creates the group.
pub const USERS: [&str; 4] = ["fzadmin", "fzann", "fzbob", "fzcy"];
/// Steps beyond this are ignored, which keeps one run short.
pub const MAX_STEPS: usize = 32;
/// How long the server may take to answer before it counts as a failure:
/// generous, for a loaded CI machine; a healthy run never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// Texts are cut to this many bytes (the server's default limit is 16 KiB).
const MAX_TEXT: usize = 40_000;

/// The fixed identity secret of `USERS[user]`.
pub fn secret(user: usize) -> Vec<u8> {
    vec![user as u8 + 1; 32]
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Step {
    /// `USERS[user % 4]` says hello to the group on a new connection,
    /// replacing its previous one.
    Connect {
        user: u8,
        last_seq: Option<Seq>,
    },
    Send {
        user: u8,
        frame: Frame,
    },
    /// The client goes away (no disconnect request).
    Close {
        user: u8,
    },
    /// Wait for the replies to everything sent so far.
    Settle,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Frame {
    Request {
        id: u32,
        request: Op,
    },
    /// A request with an op this server does not know.
    Unknown {
        id: u32,
        op: String,
    },
    /// A second hello, which is not allowed.
    Hello {
        version: u32,
        name: Name,
        secret: Vec<u8>,
        last_seq: Option<Seq>,
    },
    /// Any payload, correctly framed.
    Payload(Vec<u8>),
    /// Raw bytes: the stream may no longer split into the frames we meant.
    Bytes(Vec<u8>),
}

/// Mirrors `Request`, with names and texts chosen to hit the group's rules.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    SendMessage(Text),
    ViewRequests,
    ApproveRequest(Name),
    RejectRequest(Name),
    KickMember(Name),
    ChangeAdmin(Name),
    WhoAdmin,
    AllMembers,
    OnlineMembers,
    Ping,
    Disconnect,
    OfferFile {
        name: String,
        size: u16,
        blake3: Vec<u8>,
    },
    FileChunk {
        upload: u8,
        offset: u16,
        data: Vec<u8>,
    },
    CompleteUpload(u8),
    CancelUpload(u8),
    FetchFile {
        file: String,
        offset: u64,
        len: u32,
    },
    History {
        before: u16,
        limit: u16,
    },
    ListFiles,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Name {
    /// One of the cast.
    User(u8),
    Other(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Given(String),
    /// Long texts, around the server's size limit.
    Repeated {
        text: String,
        times: u16,
    },
}

impl Name {
    fn resolve(&self) -> String {
        match self {
            Name::User(i) => USERS[usize::from(*i) % USERS.len()].to_owned(),
            Name::Other(name) => name.clone(),
        }
    }
}

impl Text {
    fn resolve(&self) -> String {
        let mut text = match self {
            Text::Given(text) => text.clone(),
            Text::Repeated { text, times } => {
                text.repeat(usize::from(*times).min(MAX_TEXT / text.len().max(1)))
            }
        };
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }
}

impl Op {
    /// The request, about `group` where it names a conversation.
    pub fn request(&self, group: &str) -> Request {
        let conv = group.to_owned();
        match self {
            Op::SendMessage(text) => Request::SendMessage {
                conv,
                text: text.resolve(),
            },
            Op::ViewRequests => Request::ViewRequests { conv },
            Op::ApproveRequest(name) => Request::ApproveRequest {
                conv,
                name: name.resolve(),
            },
            Op::RejectRequest(name) => Request::RejectRequest {
                conv,
                name: name.resolve(),
            },
            Op::KickMember(name) => Request::KickMember {
                conv,
                name: name.resolve(),
            },
            Op::ChangeAdmin(name) => Request::ChangeAdmin {
                conv,
                name: name.resolve(),
            },
            Op::WhoAdmin => Request::WhoAdmin { conv },
            Op::AllMembers => Request::AllMembers { conv },
            Op::OnlineMembers => Request::OnlineMembers { conv },
            Op::Ping => Request::Ping,
            Op::Disconnect => Request::Disconnect,
            Op::OfferFile { name, size, blake3 } => Request::OfferFile {
                conv,
                name: name.clone(),
                size: u64::from(*size),
                blake3: blake3.clone(),
            },
            Op::FileChunk {
                upload,
                offset,
                data,
            } => Request::FileChunk {
                upload: u64::from(*upload),
                offset: u64::from(*offset),
                data: data.clone(),
            },
            Op::History { before, limit } => Request::History {
                conv,
                before: u64::from(*before),
                limit: u32::from(*limit),
            },
            Op::ListFiles => Request::ListFiles { conv },
            Op::CompleteUpload(upload) => Request::CompleteUpload {
                upload: u64::from(*upload),
            },
            Op::CancelUpload(upload) => Request::CancelUpload {
                upload: u64::from(*upload),
            },
            Op::FetchFile { file, offset, len } => Request::FetchFile {
                file: file.clone(),
                offset: *offset,
                len: *len,
            },
        }
    }
}

/// Reads a script from fuzz input: as many steps as the bytes make, up to
/// [`MAX_STEPS`].
pub fn script(data: &[u8]) -> Vec<Step> {
    let mut input = Unstructured::new(data);
    let mut steps = Vec::new();
    while steps.len() < MAX_STEPS && !input.is_empty() {
        match Step::arbitrary(&mut input) {
            Ok(step) => steps.push(step),
            Err(_) => break,
        }
    }
    steps
}

fn framed(payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(4 + payload.len());
    frame.put_u32(payload.len() as u32);
    frame.put_slice(payload);
    frame.freeze()
}

fn hello(user: usize, group: &str, last_seq: Option<Seq>) -> Bytes {
    framed(&encode(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: USERS[user].to_owned(),
        secret: secret(user),
        group: Some(group.to_owned()),
        last_seq: last_seq
            .map(|seq| [(group.to_owned(), seq)].into())
            .unwrap_or_default(),
        compact: false,
    })))
}

/// What a successful reply to a request carries (`docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Done,
    Sent,
    Requests,
    Members,
    Admin,
    Upload,
    FileData,
    History,
    Files,
    /// A request the server may or may not understand.
    Any,
}

impl Answer {
    fn to(request: &Request) -> Self {
        match request {
            Request::SendMessage { .. } | Request::CompleteUpload { .. } => Answer::Sent,
            Request::OfferFile { .. } => Answer::Upload,
            Request::FetchFile { .. } => Answer::FileData,
            Request::History { .. } => Answer::History,
            Request::ListFiles { .. } => Answer::Files,
            Request::ViewRequests { .. } => Answer::Requests,
            Request::AllMembers { .. } | Request::OnlineMembers { .. } => Answer::Members,
            Request::WhoAdmin { .. } => Answer::Admin,
            Request::ApproveRequest { .. }
            | Request::RejectRequest { .. }
            | Request::KickMember { .. }
            | Request::ChangeAdmin { .. }
            | Request::FileChunk { .. }
            | Request::CancelUpload { .. }
            | Request::Ping
            | Request::Disconnect
            | Request::LeaveGroup { .. }
            | Request::Ignore { .. }
            | Request::Unignore { .. }
            | Request::MarkRead { .. } => Answer::Done,
            Request::JoinGroup { .. }
            | Request::OpenDirect { .. }
            | Request::ListIgnored
            | Request::Search { .. }
            | Request::ListConversations => Answer::Any,
        }
    }

    /// Whether `outcome` can be the reply to such a request: an error always
    /// can, a success only with the right data.
    fn fits(self, outcome: &Outcome) -> bool {
        let data = match outcome {
            Outcome::Error(_) => return true,
            Outcome::Ok { data } => data,
        };
        matches!(
            (self, data),
            (Answer::Any, _)
                | (Answer::Done, ReplyData::Done)
                | (Answer::Sent, ReplyData::Sent { .. })
                | (Answer::Requests, ReplyData::Requests { .. })
                | (Answer::Members, ReplyData::Members { .. })
                | (Answer::Admin, ReplyData::Admin { .. })
                | (Answer::Upload, ReplyData::Upload { .. })
                | (Answer::FileData, ReplyData::FileData { .. })
                | (Answer::History, ReplyData::History { .. })
                | (Answer::Files, ReplyData::Files { .. })
        )
    }
}

/// One client connection and what the protocol says it may see next.
struct Conn {
    user: usize,
    framed: Framed<TcpStream, FrameCodec>,
    /// Requests sent and not answered yet: their ids and what a success
    /// reply to each carries.
    awaiting: Vec<(u32, Answer)>,
    /// False once we sent something the server may read as other requests
    /// than the ones we meant: replies to unknown ids are then allowed.
    exact: bool,
    /// False once raw bytes may have glued our frames together differently:
    /// we then no longer wait for replies.
    synced: bool,
    open: bool,
    /// The connection got its last word (an error, or a final event).
    finished: bool,
    /// The newest log entry received.
    last_seq: Option<Seq>,
}

impl Conn {
    async fn connect(
        addr: SocketAddr,
        user: usize,
        group: &str,
        last_seq: Option<Seq>,
    ) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mut conn = Conn {
            user,
            framed: Framed::new(stream, FrameCodec::new(16 << 20)),
            awaiting: Vec::new(),
            exact: true,
            synced: true,
            open: true,
            finished: false,
            last_seq: None,
        };
        conn.write(hello(user, group, last_seq)).await;
        match tokio::time::timeout(DEADLINE, conn.framed.next()).await {
            Err(_) => return Err(format!("{} got no answer to hello", USERS[user])),
            Ok(None | Some(Err(_))) => {
                return Err(format!(
                    "{} was closed without an answer to hello",
                    USERS[user]
                ));
            }
            Ok(Some(Ok(payload))) => match decode::<ServerFrame>(&payload) {
                Ok(ServerFrame::Welcome(welcome)) => {
                    if welcome.name != USERS[user]
                        || !welcome.conversations.iter().any(|c| c.id == group)
                    {
                        return Err(format!("a welcome for someone else: {welcome:?}"));
                    }
                }
                Ok(ServerFrame::Error(_)) => conn.finished = true,
                other => return Err(format!("hello was answered with {other:?}")),
            },
        }
        Ok(conn)
    }

    async fn write(&mut self, bytes: Bytes) {
        if !self.open {
            return;
        }
        let sent = tokio::time::timeout(DEADLINE, self.framed.get_mut().write_all(&bytes)).await;
        if !matches!(sent, Ok(Ok(()))) {
            // The server closed the connection (or stopped reading, which
            // the checks after the script notice).
            self.open = false;
        }
    }

    async fn send(&mut self, frame: &Frame, group: &str) {
        let bytes = match frame {
            Frame::Request { id, request } => {
                let request = request.request(group);
                self.awaiting.push((*id, Answer::to(&request)));
                framed(&encode(&ClientFrame::Request(RequestFrame {
                    id: *id,
                    request,
                })))
            }
            Frame::Unknown { id, op } => {
                #[derive(serde::Serialize)]
                struct Unknown<'a> {
                    op: &'a str,
                }
                #[derive(serde::Serialize)]
                struct Outer<'a> {
                    r#type: &'a str,
                    id: u32,
                    request: Unknown<'a>,
                }
                // Answered once whether or not `op` turns out to be known.
                self.awaiting.push((*id, Answer::Any));
                framed(&encode(&Outer {
                    r#type: "request",
                    id: *id,
                    request: Unknown { op },
                }))
            }
            Frame::Hello {
                version,
                name,
                secret,
                last_seq,
            } => framed(&encode(&ClientFrame::Hello(Hello {
                version: *version,
                name: name.resolve(),
                secret: secret.clone(),
                group: Some(group.to_owned()),
                last_seq: last_seq
                    .map(|seq| [(group.to_owned(), seq)].into())
                    .unwrap_or_default(),
                compact: false,
            }))),
            Frame::Payload(payload) => {
                self.exact = false;
                framed(payload)
            }
            Frame::Bytes(bytes) => {
                self.exact = false;
                self.synced = false;
                Bytes::copy_from_slice(bytes)
            }
        };
        self.write(bytes).await;
    }

    /// Checks one frame (or the end of the stream) against the protocol.
    fn absorb(&mut self, frame: Option<Result<Bytes, FrameError>>) -> Result<(), String> {
        let who = USERS[self.user];
        let payload = match frame {
            None | Some(Err(_)) => {
                self.open = false;
                return Ok(());
            }
            Some(Ok(payload)) => payload,
        };
        let frame = decode::<ServerFrame>(&payload)
            .map_err(|e| format!("{who} got an undecodable frame {payload:?}: {e}"))?;
        if self.finished {
            return Err(format!("{who} got {frame:?} after the server's last word"));
        }
        match frame {
            ServerFrame::Welcome(welcome) => {
                return Err(format!("{who} got a second welcome: {welcome:?}"));
            }
            ServerFrame::Reply(reply) => {
                let fits =
                    |&(id, answer): &(u32, Answer)| id == reply.id && answer.fits(&reply.outcome);
                if let Some(at) = self.awaiting.iter().position(fits) {
                    self.awaiting.remove(at);
                    // With several requests of this id in flight (which the
                    // protocol asks clients not to do), replies may come in
                    // any order and an error fits any of them: the others
                    // can no longer be told apart.
                    for (id, answer) in &mut self.awaiting {
                        if *id == reply.id {
                            *answer = Answer::Any;
                        }
                    }
                } else if self.exact {
                    return Err(format!(
                        "{who} got a reply that answers none of {:?}: {reply:?}",
                        self.awaiting
                    ));
                }
                if let Outcome::Ok {
                    data: ReplyData::Sent { seq },
                } = reply.outcome
                    && self.last_seq.is_some_and(|last| seq > last + 1)
                    && self.synced
                {
                    // A sent message is delivered to its sender before
                    // the reply, so the reply never runs ahead of the log.
                    return Err(format!(
                        "{who} got the reply for entry {seq} before the entries up to it (last {:?})",
                        self.last_seq
                    ));
                }
            }
            ServerFrame::Event(Event::Message { entry, .. }) => {
                if let Some(last) = self.last_seq
                    && entry.seq != last + 1
                {
                    return Err(format!(
                        "{who} got entry {} after entry {last}: the log must arrive in order without gaps",
                        entry.seq
                    ));
                }
                self.last_seq = Some(entry.seq);
            }
            // Out of the group, the connection stays: its log for the
            // group starts afresh should the user be let in again.
            ServerFrame::Event(Event::Kicked { .. } | Event::RequestRejected { .. }) => {
                self.last_seq = None;
            }
            ServerFrame::Event(Event::ServerShutdown) | ServerFrame::Error(_) => {
                self.finished = true;
            }
            ServerFrame::Event(_) => {}
        }
        Ok(())
    }

    /// Takes in whatever has already arrived, without waiting.
    fn poll(&mut self) -> Result<(), String> {
        while self.open {
            match self.framed.next().now_or_never() {
                Some(frame) => self.absorb(frame)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Reads until `done` holds or the connection closes.
    async fn read_until(&mut self, done: impl Fn(&Conn) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        while self.open && !done(self) {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Ok(frame) => self.absorb(frame)?,
                Err(_) => return Err(format!("{} waited {DEADLINE:?} in vain", USERS[self.user])),
            }
        }
        Ok(())
    }

    /// Waits for the replies to every request sent.
    async fn settle(&mut self) -> Result<(), String> {
        if !self.synced || self.finished {
            return self.poll();
        }
        self.read_until(|conn| conn.awaiting.is_empty() || conn.finished)
            .await
            .map_err(|e| format!("{e}: no reply to requests {:?}", self.awaiting))
    }
}

/// Runs `steps` against the server at `addr` in the new group `group`.
/// Returns what went wrong if the server broke the protocol.
pub async fn exercise(addr: SocketAddr, group: &str, steps: &[Step]) -> Result<(), String> {
    let mut conns: Vec<Option<Conn>> = (0..USERS.len()).map(|_| None).collect();
    let mut retired = Vec::new();
    conns[0] = Some(Conn::connect(addr, 0, group, None).await?);
    for step in steps {
        match step {
            Step::Connect { user, last_seq } => {
                let user = usize::from(*user) % USERS.len();
                // Take in what the old connection has before the new one
                // replaces it.
                if let Some(mut old) = conns[user].take() {
                    old.settle().await?;
                    retired.push(old);
                }
                conns[user] = Some(Conn::connect(addr, user, group, *last_seq).await?);
            }
            Step::Send { user, frame } => {
                if let Some(conn) = &mut conns[usize::from(*user) % USERS.len()] {
                    conn.send(frame, group).await;
                }
            }
            Step::Close { user } => {
                if let Some(mut conn) = conns[usize::from(*user) % USERS.len()].take() {
                    conn.poll()?;
                }
            }
            Step::Settle => {
                for conn in conns.iter_mut().flatten() {
                    conn.settle().await?;
                }
            }
        }
        for conn in conns.iter_mut().flatten().chain(retired.iter_mut()) {
            conn.poll()?;
        }
    }
    for conn in conns.iter_mut().flatten().chain(retired.iter_mut()) {
        conn.settle().await?;
        if conn.finished {
            // After its last word the server closes the connection.
            conn.read_until(|_| false)
                .await
                .map_err(|e| format!("{e}: the connection stayed open after the last word"))?;
        }
    }
    Ok(())
}

/// A client in its own group that checks the server still works: it posts
/// a message and must get both the reply and the message back.
pub struct Health {
    framed: Framed<TcpStream, FrameCodec>,
    next_id: u32,
}

impl Health {
    pub const NAME: &str = "fzhealth";
    pub const GROUP: &str = "health";

    pub async fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("the health check cannot connect: {e}"))?;
        let mut framed = Framed::new(stream, FrameCodec::new(16 << 20));
        let hello = encode(&ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            name: Self::NAME.to_owned(),
            secret: vec![0xee; 32],
            group: Some(Self::GROUP.to_owned()),
            last_seq: Default::default(),
            compact: false,
        }));
        framed
            .send(hello)
            .await
            .map_err(|e| format!("the health check cannot say hello: {e}"))?;
        let mut health = Health { framed, next_id: 0 };
        match health.next().await? {
            ServerFrame::Welcome(_) => Ok(health),
            other => Err(format!("the health check's hello got {other:?}")),
        }
    }

    async fn next(&mut self) -> Result<ServerFrame, String> {
        match tokio::time::timeout(DEADLINE, self.framed.next()).await {
            Ok(Some(Ok(payload))) => decode(&payload).map_err(|e| format!("health: {e}")),
            Ok(other) => Err(format!("the health check's connection ended: {other:?}")),
            Err(_) => Err("the server did not answer the health check in time".to_owned()),
        }
    }

    /// Posts a message and waits for its reply and its delivery.
    pub async fn check(&mut self) -> Result<(), String> {
        self.next_id += 1;
        let id = self.next_id;
        let text = format!("still here {id}");
        let request = encode(&ClientFrame::Request(RequestFrame {
            id,
            request: Request::SendMessage {
                conv: Self::GROUP.to_owned(),
                text: text.clone(),
            },
        }));
        self.framed
            .send(request)
            .await
            .map_err(|e| format!("the health check cannot send: {e}"))?;
        let (mut delivered, mut replied) = (false, false);
        while !(delivered && replied) {
            match self.next().await? {
                ServerFrame::Event(Event::Message { entry, .. }) => {
                    delivered |= matches!(entry.body, pyconchat::protocol::Body::Text { text: ref t } if *t == text);
                }
                ServerFrame::Reply(reply) if reply.id == id => match reply.outcome {
                    Outcome::Ok {
                        data: ReplyData::Sent { .. },
                    } => replied = true,
                    other => return Err(format!("the health check's post failed: {other:?}")),
                },
                ServerFrame::Event(_) => {}
                other => return Err(format!("the health check got {other:?}")),
            }
        }
        Ok(())
    }
}
