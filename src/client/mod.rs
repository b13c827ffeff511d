//! The client library: connect, say hello, make requests, receive events,
//! and reconnect on its own. Both the TUI and the tests use it; it knows
//! nothing about screens.
//!
//! [`Client::connect`] makes the first connection and returns a cheap
//! [`Client`] handle plus a channel of [`ClientEvent`]s. A background task
//! owns the socket: requests go to it over a channel and their replies come
//! back on oneshots, so no caller ever blocks on the network. One
//! connection carries every conversation of the user. When it drops, the
//! task reconnects with backoff and resumes each conversation from the last
//! sequence number it saw there, and drops whatever the server sends again
//! at or below it, so every log continues with no gap and no duplicate.
//!
//! The server may be a list (`a:7667,b:7667`, nodes of one cluster): each
//! attempt tries them in order from the current one, and a server that
//! says it is going down (`server_shutdown`) sends the client to the next.

mod identity;
mod pacer;
pub(crate) mod rate;
mod servers;
mod transfer;

pub use identity::Identity;
pub use servers::{LAST_SERVER_FILE, server_list};
pub use transfer::TransferError;

pub use crate::tls::KnownServers;
use crate::tls::{self, PinOutcome, Stream};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use tokio::{
    net::TcpStream,
    sync::{Notify, mpsc, oneshot},
    time::Instant,
};
use tokio_util::codec::Framed;

use servers::Servers;

use crate::protocol::{
    ClientFrame, ConvId, Conversation, DEFAULT_MAX_FRAME_BYTES, ErrorBody, ErrorCode, Event,
    FrameCodec, FrameError, Hello, JoinStatus, MemberInfo, Outcome, PROTOCOL_VERSION, ReplyData,
    Request, RequestFrame, SearchHit, Seq, ServerFrame, Welcome, decode, decode_server_frame,
    encode,
};

/// How to reach a server and who to be there.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port`, or several separated by commas, tried in order.
    pub server: String,
    /// A file that keeps which server of the list last worked, so that a
    /// later run starts there (the TUI's is [`LAST_SERVER_FILE`] in its
    /// data dir). Without it, every run starts at the first.
    pub remember: Option<PathBuf>,
    pub name: String,
    /// A group to open on the first connection, as `join_group` would
    /// (created, or a join request filed). Reconnects never send it again:
    /// a group left meanwhile stays left.
    pub group: Option<String>,
    pub identity: Identity,
    pub max_frame_bytes: usize,
    /// Reconnect after losing the connection; off, a loss ends the client.
    pub reconnect: bool,
    /// The first reconnect delay; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// After this long without sending, the client pings; after twice this
    /// long without hearing from the server, it counts the connection as
    /// dead and reconnects. Must stay below the server's idle timeout.
    pub heartbeat: Duration,
    /// Per conversation, resume after this sequence number on the first
    /// connection (for example where a previous run of the client stopped).
    /// A conversation left out resumes from the server's cursor.
    pub last_seq: BTreeMap<ConvId, Seq>,
    pub transport: Transport,
}

/// How the bytes travel.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS. A certificate the system's roots do not vouch for is pinned on
    /// first use: in `known_servers` when given (surviving restarts), else
    /// for this client's lifetime only.
    Tls { known_servers: Option<KnownServers> },
    /// Unencrypted TCP, for local development and tests; only when asked for.
    Plaintext,
}

impl ConnectOptions {
    /// Options to connect as `name`, opening `group` on arrival; an empty
    /// `group` (never a valid group name) opens none.
    pub fn new(
        server: impl Into<String>,
        name: impl Into<String>,
        group: impl Into<String>,
        identity: Identity,
    ) -> Self {
        let group = group.into();
        Self {
            server: server.into(),
            remember: None,
            name: name.into(),
            group: (!group.is_empty()).then_some(group),
            identity,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            reconnect: true,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            heartbeat: Duration::from_secs(30),
            last_seq: BTreeMap::new(),
            transport: Transport::Tls {
                known_servers: None,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {server}: {source}")]
    Connect {
        server: String,
        source: std::io::Error,
    },
    #[error("connection error: {0}")]
    Frame(#[from] FrameError),
    /// The server refused: a fatal hello error, or a request's error reply.
    #[error("{0}")]
    Server(ErrorBody),
    #[error("the server closed the connection")]
    Closed,
    #[error("TLS with {server} failed: {source}")]
    Tls {
        server: String,
        source: std::io::Error,
    },
    #[error(
        "the server at {server} presented a different certificate ({found}) from the one pinned \
         when you first connected ({pinned}). Someone may be intercepting the connection. If the \
         server's operator changed the certificate on purpose (compare with the fingerprint \
         `pyconchat serve` prints), run `pyconchat forget-server {server}` and connect again"
    )]
    PinMismatch {
        server: String,
        pinned: String,
        found: String,
    },
    #[error("cannot use the pinned-servers file: {0}")]
    Pins(std::io::Error),
    #[error("not connected to the server right now; retrying")]
    NotConnected,
    #[error("the server sent an unexpected frame: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// The server's error code, when the server said no.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(body) => Some(body.code),
            _ => None,
        }
    }
}

/// A server's answer to hello, and which address of the server list gave
/// it: a user of several nodes sees which one they are on.
#[derive(Debug, Clone, PartialEq)]
pub struct Connected {
    pub server: String,
    pub welcome: Welcome,
}

/// What the client tells its user, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Connected again after a loss (to the same server or the next of the
    /// list); the hello's answer.
    Reconnected(Connected),
    /// Something the server pushed. A log entry at or below the last one
    /// seen in its conversation (a resume's overlap) is not passed on.
    Server(Event),
    /// First TLS connection to a server whose certificate the system does
    /// not vouch for: its fingerprint is now pinned. Show it to the user to
    /// compare with the one the server printed.
    ServerPinned { server: String, fingerprint: String },
    /// The connection dropped; the next attempt comes after `delay`.
    /// `moving` says the server is shutting down on purpose (a restart or
    /// a drain), so the next attempt starts with the next server of the
    /// list.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        reason: String,
        moving: bool,
    },
    /// The client is finished; no more events follow.
    Closed(CloseReason),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CloseReason {
    /// We asked to leave.
    Disconnected,
    /// The server ended the session for a reason reconnecting will not fix.
    Refused(ErrorBody),
    /// The connection dropped and reconnecting is off.
    Lost(String),
    /// The server's certificate changed since it was pinned; see
    /// [`ClientError::PinMismatch`] for the message to show.
    Untrusted(String),
}

type ReplyTx = oneshot::Sender<Result<ReplyData, ClientError>>;

/// A handle to a connection's background task. Clone it freely; the task
/// stops when every handle is dropped or after [`Client::disconnect`].
#[derive(Debug, Clone)]
pub struct Client {
    /// Unbounded so that queueing never waits, even from sync code; what
    /// is queued is bounded by the callers (a transfer keeps a window of
    /// chunks in flight, the UI sends one message at a time).
    requests: mpsc::UnboundedSender<(Request, ReplyTx)>,
    /// Cuts a reconnect delay short.
    hurry: Arc<Notify>,
}

impl Client {
    /// Connects, says hello and starts the background task. Fails if the
    /// first connection or its hello fails (a bad name, a taken name...).
    pub async fn connect(
        options: ConnectOptions,
    ) -> Result<(Client, Connected, mpsc::Receiver<ClientEvent>), ClientError> {
        let mut pins = PinStore::new(&options.transport);
        let (requests, queue) = mpsc::unbounded_channel();
        let hurry = Arc::new(Notify::new());
        let (events_tx, events) = mpsc::channel(1024);
        let mut servers = Servers::new(&options.server, options.remember.clone());
        let (framed, connected) = open_any(&options, &mut servers, &mut pins, &events_tx).await?;
        let worker = Worker {
            servers,
            last_seq: options.last_seq.clone(),
            pins,
            options,
            queue,
            events: events_tx,
            next_id: 0,
            waiting: HashMap::new(),
            hurry: hurry.clone(),
        };
        tokio::spawn(worker.run(framed));
        Ok((Client { requests, hurry }, connected, events))
    }

    /// Sends a request and waits for its reply.
    pub async fn request(&self, request: Request) -> Result<ReplyData, ClientError> {
        self.queue(request)?.await
    }

    /// Queues a request for sending and returns its reply to come. Requests
    /// go out in the order they are queued (which file chunks and chat
    /// messages rely on); queueing never waits, so sync code may call it.
    pub fn queue(
        &self,
        request: Request,
    ) -> Result<impl Future<Output = Result<ReplyData, ClientError>> + Send + use<>, ClientError>
    {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((request, tx))
            .map_err(|_| ClientError::Closed)?;
        Ok(async move { rx.await.map_err(|_| ClientError::Closed)? })
    }

    /// While waiting to reconnect, tries now instead of at the end of the
    /// delay; otherwise does nothing.
    pub fn reconnect_now(&self) {
        self.hurry.notify_one();
    }

    /// Posts a message to `conv`; returns its sequence number once it is
    /// durable.
    pub async fn send_message(
        &self,
        conv: impl Into<ConvId>,
        text: impl Into<String>,
    ) -> Result<Seq, ClientError> {
        let request = Request::SendMessage {
            conv: conv.into(),
            text: text.into(),
        };
        match self.request(request).await? {
            ReplyData::Sent { seq } => Ok(seq),
            other => Err(unexpected(other)),
        }
    }

    pub async fn members(&self, conv: impl Into<ConvId>) -> Result<Vec<MemberInfo>, ClientError> {
        let conv = conv.into();
        self.members_of(Request::AllMembers { conv }).await
    }

    pub async fn online_members(
        &self,
        conv: impl Into<ConvId>,
    ) -> Result<Vec<MemberInfo>, ClientError> {
        let conv = conv.into();
        self.members_of(Request::OnlineMembers { conv }).await
    }

    async fn members_of(&self, request: Request) -> Result<Vec<MemberInfo>, ClientError> {
        match self.request(request).await? {
            ReplyData::Members { members } => Ok(members),
            other => Err(unexpected(other)),
        }
    }

    pub async fn who_admin(&self, conv: impl Into<ConvId>) -> Result<String, ClientError> {
        let conv = conv.into();
        match self.request(Request::WhoAdmin { conv }).await? {
            ReplyData::Admin { name } => Ok(name),
            other => Err(unexpected(other)),
        }
    }

    /// Opens a group without reconnecting: creates it, files a join
    /// request, or finds it when already in it.
    pub async fn join_group(&self, group: impl Into<String>) -> Result<Conversation, ClientError> {
        let group = group.into();
        self.conversation(Request::JoinGroup { group }).await
    }

    /// Opens (or finds) the direct conversation with `name`.
    pub async fn open_direct(&self, name: impl Into<String>) -> Result<Conversation, ClientError> {
        let name = name.into();
        self.conversation(Request::OpenDirect { name }).await
    }

    async fn conversation(&self, request: Request) -> Result<Conversation, ClientError> {
        match self.request(request).await? {
            ReplyData::Conversation { conversation } => Ok(conversation),
            other => Err(unexpected(other)),
        }
    }

    /// Messages containing every word of `text`, newest first.
    pub async fn search(
        &self,
        text: impl Into<String>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, ClientError> {
        let text = text.into();
        match self.request(Request::Search { text, limit }).await? {
            ReplyData::SearchHits { hits } => Ok(hits),
            other => Err(unexpected(other)),
        }
    }

    /// Asks the server to end the session, then stops the background task.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.request(Request::Disconnect).await.map(drop)
    }
}

fn unexpected(data: ReplyData) -> ClientError {
    ClientError::Unexpected(format!("{data:?}"))
}

type Connection = Framed<Box<dyn Stream>, FrameCodec>;

/// Where this client keeps pinned certificate fingerprints.
#[derive(Debug)]
struct PinStore {
    file: Option<KnownServers>,
    /// The pin when there is no file: kept for this client's lifetime.
    remembered: Option<String>,
    tls: bool,
}

impl PinStore {
    fn new(transport: &Transport) -> Self {
        let (file, tls) = match transport {
            Transport::Tls { known_servers } => (known_servers.clone(), true),
            Transport::Plaintext => (None, false),
        };
        Self {
            file,
            remembered: None,
            tls,
        }
    }

    fn get(&self, server: &str) -> Result<Option<String>, ClientError> {
        match &self.file {
            Some(file) => file.get(server).map_err(ClientError::Pins),
            None => Ok(self.remembered.clone()),
        }
    }

    fn pin(&mut self, server: &str, fingerprint: &str) -> Result<(), ClientError> {
        match &self.file {
            Some(file) => file.pin(server, fingerprint).map_err(ClientError::Pins),
            None => {
                self.remembered = Some(fingerprint.to_owned());
                Ok(())
            }
        }
    }
}

/// How long one server may take to accept the connection before the
/// next in the list is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Tries each server once, in order from the current one, and stays on the
/// first whose hello succeeds. A refusal that another node would repeat
/// (a name taken, a changed certificate) ends the round at once.
async fn open_any(
    options: &ConnectOptions,
    servers: &mut Servers,
    pins: &mut PinStore,
    events: &mpsc::Sender<ClientEvent>,
) -> Result<(Connection, Connected), ClientError> {
    let mut tries = servers.len();
    loop {
        match open(options, servers.current(), pins, events).await {
            Ok((framed, welcome)) => {
                servers.worked();
                let server = servers.current().to_owned();
                return Ok((framed, Connected { server, welcome }));
            }
            Err(error) if tries > 1 && elsewhere(&error) => {
                tracing::info!(server = servers.current(), %error, "trying the next server");
                servers.advance();
                tries -= 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether another server of the list may succeed where one failed.
fn elsewhere(error: &ClientError) -> bool {
    match error {
        ClientError::Server(body) => retryable(body.code),
        ClientError::PinMismatch { .. } | ClientError::Pins(_) => false,
        _ => true,
    }
}

/// Connects to `server` (with TLS unless told otherwise), then completes
/// the hello. A newly pinned certificate is announced on `events`.
async fn open(
    options: &ConnectOptions,
    server: &str,
    pins: &mut PinStore,
    events: &mpsc::Sender<ClientEvent>,
) -> Result<(Connection, Welcome), ClientError> {
    let connect_error = |source: std::io::Error| ClientError::Connect {
        server: server.to_owned(),
        source,
    };
    let socket = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server))
        .await
        .map_err(|_| {
            connect_error(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            ))
        })?
        .map_err(connect_error)?;
    let _ = socket.set_nodelay(true);
    let stream: Box<dyn Stream> = if pins.tls {
        let (config, check) = tls::client_config(pins.get(server)?);
        let connected = TlsConnector::from(config)
            .connect(server_name(server), socket)
            .await;
        match (connected, check.outcome()) {
            (Ok(stream), outcome) => {
                if let Some(PinOutcome::New(fingerprint)) = outcome {
                    pins.pin(server, &fingerprint)?;
                    let pinned = ClientEvent::ServerPinned {
                        server: server.to_owned(),
                        fingerprint,
                    };
                    let _ = events.send(pinned).await;
                }
                Box::new(stream)
            }
            (Err(_), Some(PinOutcome::Mismatch { pinned, found })) => {
                return Err(ClientError::PinMismatch {
                    server: server.to_owned(),
                    pinned,
                    found,
                });
            }
            (Err(source), _) => {
                return Err(ClientError::Tls {
                    server: server.to_owned(),
                    source,
                });
            }
        }
    } else {
        Box::new(socket)
    };
    let mut framed = Framed::new(stream, FrameCodec::new(options.max_frame_bytes));
    let hello = ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: options.name.clone(),
        secret: options.identity.secret().to_vec(),
        group: options.group.clone(),
        last_seq: options.last_seq.clone(),
        compact: true,
    });
    framed.send(encode(&hello)).await?;
    match read_frame(&mut framed).await? {
        Some(ServerFrame::Welcome(welcome)) => Ok((framed, welcome)),
        Some(ServerFrame::Error(error)) => Err(ClientError::Server(error)),
        Some(other) => Err(ClientError::Unexpected(format!("{other:?}"))),
        None => Err(ClientError::Closed),
    }
}

/// The next frame, decoded; `None` at a clean end of stream. Events of a
/// kind this client does not know (from a newer server) are skipped, as the
/// protocol asks.
async fn read_frame(framed: &mut Connection) -> Result<Option<ServerFrame>, FrameError> {
    #[derive(serde::Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: String,
    }
    loop {
        let Some(payload) = framed.next().await else {
            return Ok(None);
        };
        let payload = payload?;
        match decode_server_frame(&payload) {
            Ok(frame) => return Ok(Some(frame)),
            Err(error) if decode::<Tag>(&payload).is_ok_and(|t| t.kind == "event") => {
                tracing::debug!(%error, "skipping an event this client does not know");
            }
            Err(error) => return Err(error),
        }
    }
}

/// The name TLS asks for: the host part of `host:port`.
fn server_name(server: &str) -> ServerName<'static> {
    let host = server
        .rsplit_once(':')
        .map_or(server, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .unwrap_or_else(|_| ServerName::try_from("pyconchat").expect("a valid DNS name"))
}

/// The background task that owns the connection.
struct Worker {
    options: ConnectOptions,
    servers: Servers,
    pins: PinStore,
    queue: mpsc::UnboundedReceiver<(Request, ReplyTx)>,
    events: mpsc::Sender<ClientEvent>,
    hurry: Arc<Notify>,
    /// Per conversation, the newest log entry received: where a reconnect
    /// resumes. A conversation not here resumes from the server's cursor.
    last_seq: BTreeMap<ConvId, Seq>,
    next_id: u32,
    waiting: HashMap<u32, ReplyTx>,
}

/// How one connection ended.
enum Ending {
    /// Over for good.
    Closed(CloseReason),
    /// Worth reconnecting.
    Lost(String),
    /// The server is going down: reconnect, to the next server first.
    Moved(String),
    /// Every handle is gone.
    Abandoned,
}

impl Worker {
    async fn run(mut self, mut framed: Connection) {
        let mut attempt = 0;
        loop {
            let ending = self.serve(&mut framed).await;
            for (_, reply) in self.waiting.drain() {
                let _ = reply.send(Err(ClientError::Closed));
            }
            let (reason, moving) = match ending {
                Ending::Abandoned => return,
                Ending::Closed(reason) => return self.close(reason).await,
                Ending::Lost(reason) | Ending::Moved(reason) if !self.options.reconnect => {
                    return self.close(CloseReason::Lost(reason)).await;
                }
                Ending::Lost(reason) => (reason, false),
                Ending::Moved(reason) => {
                    self.servers.advance();
                    (reason, true)
                }
            };
            framed = loop {
                attempt += 1;
                let delay = backoff(&self.options, attempt);
                let notice = ClientEvent::Reconnecting {
                    attempt,
                    delay,
                    reason: reason.clone(),
                    moving,
                };
                if self.events.send(notice).await.is_err() || !self.wait(delay).await {
                    return;
                }
                // The group to open was opened by the first hello; the
                // conversations come back through what was seen.
                self.options.group = None;
                self.options.last_seq = self.last_seq.clone();
                let opened = open_any(
                    &self.options,
                    &mut self.servers,
                    &mut self.pins,
                    &self.events,
                )
                .await;
                match opened {
                    Ok((framed, connected)) => {
                        attempt = 0;
                        if self
                            .events
                            .send(ClientEvent::Reconnected(connected))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        break framed;
                    }
                    Err(ClientError::Server(error)) if !retryable(error.code) => {
                        return self.close(CloseReason::Refused(error)).await;
                    }
                    Err(error @ ClientError::PinMismatch { .. }) => {
                        return self.close(CloseReason::Untrusted(error.to_string())).await;
                    }
                    Err(error) => tracing::debug!(%error, attempt, "reconnect failed"),
                }
            };
        }
    }

    /// Sleeps before a reconnect, failing requests that arrive meanwhile.
    /// Returns false if every handle was dropped.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                () = self.hurry.notified() => return true,
                request = self.queue.recv() => match request {
                    Some((_, reply)) => { let _ = reply.send(Err(ClientError::NotConnected)); }
                    None => return false,
                },
            }
        }
    }

    async fn close(self, reason: CloseReason) {
        let _ = self.events.send(ClientEvent::Closed(reason)).await;
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, framed: &mut Connection) -> Ending {
        let beat = self.options.heartbeat;
        let mut leaving = false;
        let mut last_sent = Instant::now();
        let mut last_heard = Instant::now();
        loop {
            let wake = (last_sent + beat).min(last_heard + beat * 2);
            tokio::select! {
                request = self.queue.recv(), if !leaving => {
                    let Some((request, reply)) = request else { return Ending::Abandoned };
                    leaving = request == Request::Disconnect;
                    if let Err(ending) = self.send(framed, request, reply).await {
                        return ending;
                    }
                    last_sent = Instant::now();
                }
                frame = read_frame(framed) => {
                    last_heard = Instant::now();
                    let frame = match frame {
                        Ok(None) if leaving => return Ending::Closed(CloseReason::Disconnected),
                        Ok(None) => return Ending::Lost("the server closed the connection".into()),
                        Err(e) => return Ending::Lost(e.to_string()),
                        Ok(Some(frame)) => frame,
                    };
                    if let Some(ending) = self.receive(frame).await {
                        return ending;
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if last_heard.elapsed() >= beat * 2 {
                        return Ending::Lost(format!("no word from the server for {} s", (beat * 2).as_secs()));
                    }
                    // Nobody waits for the pong: any frame back proves the link.
                    let (pong, _) = oneshot::channel();
                    if let Err(ending) = self.send(framed, Request::Ping, pong).await {
                        return ending;
                    }
                    last_sent = Instant::now();
                }
            }
        }
    }

    async fn send(
        &mut self,
        framed: &mut Connection,
        request: Request,
        reply: ReplyTx,
    ) -> Result<(), Ending> {
        self.next_id = self.next_id.wrapping_add(1);
        let frame = ClientFrame::Request(RequestFrame {
            id: self.next_id,
            request,
        });
        if let Err(e) = framed.send(encode(&frame)).await {
            let _ = reply.send(Err(e.into()));
            return Err(Ending::Lost("the connection failed".into()));
        }
        self.waiting.insert(self.next_id, reply);
        Ok(())
    }

    /// A conversation opened: a group just created has a log of its own,
    /// whatever one of the same name held before.
    fn opened(&mut self, conversation: &Conversation) {
        if conversation.status == JoinStatus::Created {
            self.last_seq.remove(&conversation.id);
        }
    }

    async fn receive(&mut self, frame: ServerFrame) -> Option<Ending> {
        match frame {
            ServerFrame::Reply(reply) => {
                if let Outcome::Ok {
                    data: ReplyData::Conversation { conversation },
                } = &reply.outcome
                {
                    self.opened(conversation);
                }
                if let Some(waiter) = self.waiting.remove(&reply.id) {
                    let _ = waiter.send(match reply.outcome {
                        Outcome::Ok { data } => Ok(data),
                        Outcome::Error(error) => Err(ClientError::Server(error)),
                    });
                }
                None
            }
            ServerFrame::Event(event) => {
                let ending = match &event {
                    Event::Message { conv, entry } => {
                        let seen = self.last_seq.entry(conv.clone()).or_default();
                        if entry.seq <= *seen {
                            return None;
                        }
                        *seen = entry.seq;
                        None
                    }
                    Event::ConversationAdded { conversation } => {
                        self.opened(conversation);
                        None
                    }
                    // A closed group's name may be taken again, its log
                    // starting over at 1.
                    Event::ConversationRemoved { conv } => {
                        self.last_seq.remove(conv);
                        None
                    }
                    Event::ServerShutdown => {
                        Some(Ending::Moved("the server is shutting down".into()))
                    }
                    _ => None,
                };
                if self.events.send(ClientEvent::Server(event)).await.is_err() {
                    return Some(Ending::Abandoned);
                }
                ending
            }
            ServerFrame::Error(error) if error.code == ErrorCode::ShuttingDown => {
                Some(Ending::Moved(error.message))
            }
            ServerFrame::Error(error) if retryable(error.code) => Some(Ending::Lost(error.message)),
            ServerFrame::Error(error) => Some(Ending::Closed(CloseReason::Refused(error))),
            ServerFrame::Welcome(_) => {
                Some(Ending::Lost("the server sent a second welcome".into()))
            }
        }
    }
}

/// Errors that a later connection may not meet.
fn retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::TooSlow
            | ErrorCode::ShuttingDown
            | ErrorCode::Timeout
            | ErrorCode::Internal
            | ErrorCode::Unavailable
            | ErrorCode::TooManyConnections
    )
}

/// Exponential backoff with jitter, so clients dropped together do not
/// all return in the same instant.
fn backoff(options: &ConnectOptions, attempt: u32) -> Duration {
    let base = options
        .min_backoff
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(options.max_backoff);
    let mut jitter = [0_u8; 2];
    let _ = getrandom::fill(&mut jitter);
    let fraction = f64::from(u16::from_le_bytes(jitter)) / f64::from(u16::MAX);
    base.mul_f64(0.5 + fraction / 2.0)
}
