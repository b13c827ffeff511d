//! One task per connection: the hello, then requests in and frames out.
//!
//! A session owns its socket. It reads requests, answers queries from the
//! hub's state directly, hands changes to the hub, and writes whatever the
//! hub queues for it. Anything a client sends that is not valid ends only
//! this session, with an error frame where the socket still allows one.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::oneshot,
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{
    SessionCtx,
    admission::Permit,
    blocking,
    hub::{
        Act, Arrival, Connect, Direct, Entered, Ignore, Job, Join, Leave, Outbound, Outbox,
        ReplyTo, SessionHandle, reply_bytes,
    },
    internal,
    metrics::SessionState,
    rate::TokenBucket,
    rules::{self, Action, Grant, Query},
    transfers::{Announcer, Transfers, newest_within},
    writer::FrameWriter,
};
use crate::protocol::{
    ClientFrame, Conversation, ErrorBody, ErrorCode, Event, FrameCodec, FrameError, Hello,
    JoinStatus, PROTOCOL_VERSION, ReplyData, Request, SearchHit, Seq, ServerFrame,
    UNREAD_COUNT_MAX, Welcome, decode, encode, encode_compact_message, quote, validate_group,
    validate_name,
};
use crate::store::NameClaim;

/// How long the last frame to a closing connection may take.
const GOODBYE: Duration = Duration::from_secs(2);
/// How many log entries one catch-up read takes.
const CATCH_UP_PAGE: usize = 512;
/// Most entries one history reply holds.
const HISTORY_PAGE: u32 = 200;
/// Most hits one search reply holds.
const SEARCH_PAGE: u32 = 100;
/// Longest search text: a few words are a search, a page of them is a load.
const SEARCH_TEXT_MAX_BYTES: usize = 256;
/// The read buffer a connection starts with; it grows for bigger frames.
/// Most clients send little, and an idle one keeps this much per connection.
const READ_BUFFER: usize = 512;
/// A batch buffer with room for more frames than this is given back when
/// the session goes idle.
const IDLE_BATCH: usize = 16;

/// Why a session ended. Only `Error` is told to the client.
enum End {
    /// Send this error, then close.
    Error(ErrorBody),
    /// The server is going down: say so, then close.
    Shutdown,
    /// The client left or the socket failed: nothing more to say.
    Gone,
}

impl From<ErrorBody> for End {
    fn from(error: ErrorBody) -> Self {
        End::Error(error)
    }
}

impl From<FrameError> for End {
    fn from(error: FrameError) -> Self {
        match error {
            FrameError::TooLarge { len, max } => End::Error(ErrorBody::new(
                ErrorCode::FrameTooLarge,
                format!("a frame of {len} bytes is over this server's limit of {max} bytes"),
            )),
            FrameError::Decode(e) => End::Error(ErrorBody::new(
                ErrorCode::Malformed,
                format!("could not decode that frame: {e}"),
            )),
            FrameError::Io(_) => End::Gone,
        }
    }
}

/// A session over any transport: generic over the read and write halves so
/// plain TCP keeps its cheap owned halves and TLS uses split ones.
struct Session<R, W> {
    reader: FramedRead<R, FrameCodec>,
    writer: FrameWriter<W>,
    ctx: Arc<SessionCtx>,
    id: u64,
    peer: SocketAddr,
    /// When the client last sent a frame; see `Limits::idle_timeout`.
    last_heard: Instant,
    /// The client asked for the compact form of the hot frames.
    compact: bool,
    requests: TokenBucket,
    messages: TokenBucket,
    transfers: Transfers,
    /// Entries written but not yet flushed, the newest of each run of one
    /// conversation: they count as served once they reach the socket.
    written: Vec<(Arc<str>, Seq)>,
}

/// Serves one accepted connection until it ends, after the TLS handshake
/// when the server speaks TLS; `_permit` holds its slot under the
/// connection limit until then.
pub(crate) async fn serve(
    ctx: Arc<SessionCtx>,
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    _permit: Permit,
) {
    let _connection = ctx.metrics.connection();
    match ctx.tls.clone() {
        None => {
            let (read, write) = socket.into_split();
            run(ctx, read, write, peer, id).await;
        }
        // Boxed: the handshake holds a whole TLS connection state, which
        // would otherwise take room in every plain connection's task too.
        Some(acceptor) => {
            Box::pin(async move {
                let stream = tokio::select! {
                    stream = handshake(&acceptor, socket, ctx.limits.handshake_timeout) => stream,
                    // Nothing to tell a client that cannot read frames yet.
                    () = ctx.draining.cancelled() => return,
                };
                match stream {
                    Some(stream) => {
                        let (read, write) = tokio::io::split(stream);
                        run(ctx, read, write, peer, id).await;
                    }
                    None => tracing::info!(%peer, "TLS handshake failed or timed out"),
                }
            })
            .await
        }
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    socket: TcpStream,
    deadline: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(deadline, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

async fn run<R, W>(ctx: Arc<SessionCtx>, read: R, write: W, peer: SocketAddr, id: u64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let limits = &ctx.limits;
    let mut session = Session {
        reader: FramedRead::with_capacity(
            read,
            FrameCodec::new(limits.max_frame_bytes),
            READ_BUFFER,
        ),
        writer: FrameWriter::new(write, limits.max_frame_bytes),
        id,
        peer,
        last_heard: Instant::now(),
        compact: false,
        requests: TokenBucket::new(limits.requests_per_second, limits.request_burst),
        messages: TokenBucket::new(limits.messages_per_second, limits.message_burst),
        transfers: Transfers::new(ctx.shelf.clone()),
        written: Vec::new(),
        ctx: ctx.clone(),
    };
    let handshake = ctx.metrics.session(SessionState::Handshake);
    let end = tokio::select! {
        hello = Box::pin(session.hello()) => match hello {
            Ok(hello) => {
                drop(handshake);
                let _online = ctx.metrics.session(SessionState::Online);
                let _connected = ctx.last_seen.hold(&hello.name);
                session.joined(hello).await
            }
            Err(end) => end,
        },
        // Not welcomed yet: the client is told to go elsewhere as it would
        // be told of any other refusal it may retry.
        () = ctx.draining.cancelled() => End::Error(shutting_down()),
    };
    Box::pin(session.finish(end)).await;
}

/// Tells a connection over the limit why it is refused, then closes it.
/// Over TLS the refusal needs a (quick) handshake to be readable.
pub(crate) async fn refuse(ctx: Arc<SessionCtx>, socket: TcpStream, error: ErrorBody) {
    let frame = encode(&ServerFrame::Error(error));
    let quick = Duration::from_secs(1);
    let max_frame_bytes = ctx.limits.max_frame_bytes;
    match ctx.tls.clone() {
        None => {
            let mut writer = FramedWrite::new(socket, FrameCodec::new(max_frame_bytes));
            let _ = tokio::time::timeout(quick, writer.send(frame)).await;
        }
        Some(acceptor) => {
            if let Some(stream) = handshake(&acceptor, socket, quick).await {
                let mut writer = FramedWrite::new(stream, FrameCodec::new(max_frame_bytes));
                let _ = tokio::time::timeout(quick, writer.send(frame)).await;
            }
        }
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Waits for a valid hello and checks the identity it claims.
    /// The hello comes back boxed: it is moved through every layer of the
    /// session's future, and each layer would otherwise keep a slot of its
    /// size for as long as the connection lives.
    async fn hello(&mut self) -> Result<Box<Hello>, End> {
        let first = tokio::time::timeout(self.ctx.limits.handshake_timeout, self.reader.next())
            .await
            .map_err(|_| {
                ErrorBody::new(ErrorCode::Timeout, "no hello within the handshake timeout")
            })?;
        let hello = match parse(first)? {
            Inbound::Frame(ClientFrame::Hello(hello)) => hello,
            Inbound::Frame(ClientFrame::Request(_)) | Inbound::BadRequest { .. } => {
                return Err(ErrorBody::new(
                    ErrorCode::Malformed,
                    "the first frame must be a hello",
                )
                .into());
            }
        };
        if hello.version != PROTOCOL_VERSION {
            return Err(version_mismatch(hello.version).into());
        }
        validate_name(&hello.name)
            .map_err(|e| ErrorBody::new(ErrorCode::InvalidName, e.to_string()))?;
        if let Some(group) = &hello.group {
            validate_group(group)
                .map_err(|e| ErrorBody::new(ErrorCode::InvalidGroup, e.to_string()))?;
        }
        let secret: [u8; 32] = hello.secret.as_slice().try_into().map_err(|_| {
            ErrorBody::new(
                ErrorCode::InvalidSecret,
                "the identity secret must be exactly 32 bytes",
            )
        })?;
        let hash = *blake3::hash(&secret).as_bytes();
        let (store, ip) = (self.ctx.hub.store(), self.peer.ip());
        let claim = self
            .ctx
            .signups
            .claim_name(store, ip, &hello.name, hash)
            .await?;
        if claim == NameClaim::Taken {
            return Err(ErrorBody::new(
                ErrorCode::NameTaken,
                format!(
                    "the name {} belongs to someone else on this server; pick another",
                    hello.name
                ),
            )
            .into());
        }
        tracing::info!(peer = %self.peer, name = %hello.name, group = ?hello.group, new_name = claim == NameClaim::Claimed, "hello");
        Ok(Box::new(hello))
    }

    /// Enters every conversation of the user (and the hello's group), says
    /// welcome, serves each log from its resume point, then serves the
    /// connection until something ends it.
    async fn joined(&mut self, hello: Box<Hello>) -> End {
        // `{ hello }` moves the box into a temporary, freed at the end of
        // this statement rather than kept for the life of the connection.
        let Hello {
            name,
            group,
            last_seq,
            compact,
            ..
        } = *{ hello };
        self.compact = compact;
        let inbox = Inbox(Arc::new(Outbox::new(self.ctx.limits.outbound_queue)));
        let (reply, entered) = oneshot::channel();
        let connect = Job::Connect(Connect {
            name: name.clone(),
            session: SessionHandle {
                id: self.id,
                outbox: inbox.0.clone(),
                compact: self.compact,
            },
            seen: last_seq,
            reply,
        });
        // Hub jobs are large, and so are the futures that send them: boxed,
        // the two sent once per connection take no room in its task.
        let entered = match Box::pin(self.ctx.hub.submit(connect)).await {
            Ok(()) => entered.await.map_err(|_| shutting_down()),
            Err(e) => Err(e),
        };
        let mut user = User {
            name,
            reply_to: ReplyTo {
                outbox: inbox.0.clone(),
                compact: self.compact,
            },
            subs: HashMap::new(),
        };
        let end = async {
            let mut entered = entered?;
            Box::pin(self.welcome(&mut user, &mut entered, group)).await?;
            for e in entered {
                Box::pin(self.enter(&mut user, &e)).await?;
            }
            self.serve_user(&mut user, &inbox.0).await
        };
        let end = match end.await {
            Ok(never) => match never {},
            Err(end) => end,
        };
        let leave = Job::Leave(Leave {
            name: user.name,
            session: self.id,
            served: user
                .subs
                .into_iter()
                .filter(|(_, sub)| !sub.pending)
                .map(|(conv, sub)| (conv, sub.served))
                .collect(),
        });
        let _ = Box::pin(self.ctx.hub.submit(leave)).await;
        end
    }

    /// Opens the hello's group if the user is not in it yet, then says
    /// welcome with every conversation. Boxed by its caller: a connection
    /// says it once, and its futures need not take room in every idle
    /// session's task.
    async fn welcome(
        &mut self,
        user: &mut User,
        entered: &mut Vec<Entered>,
        group: Option<String>,
    ) -> Result<(), End> {
        if let Some(group) = group
            && !entered.iter().any(|e| e.conv == group)
        {
            entered.push(self.open_group(user, group).await?);
        }
        let mut conversations = Vec::with_capacity(entered.len());
        for e in entered.iter() {
            conversations.push(self.conversation(&user.name, e).await?);
        }
        let welcome = ServerFrame::Welcome(Welcome {
            name: user.name.clone(),
            conversations,
        });
        self.write(encode(&welcome)).await
    }

    /// Asks the hub to open a group for this connection: enter, create or
    /// request.
    async fn open_group(&self, user: &User, group: String) -> Result<Entered, ErrorBody> {
        validate_group(&group)
            .map_err(|e| ErrorBody::new(ErrorCode::InvalidGroup, e.to_string()))?;
        let (reply, opened) = oneshot::channel();
        let join = Job::Join(Join {
            group,
            name: user.name.clone(),
            session: self.id,
            address: self.peer.ip(),
            reply,
        });
        self.ctx.hub.submit(join).await?;
        opened.await.unwrap_or_else(|_| Err(shutting_down()))
    }

    /// Opens the direct conversation with `peer`, who must share a group
    /// with the user.
    async fn open_direct(&self, user: &User, peer: String) -> Result<Entered, ErrorBody> {
        let peer = self.other_person(user, peer)?;
        let store = self.ctx.hub.store().clone();
        let (me, them) = (user.name.clone(), peer.clone());
        if !blocking(move || store.shares_group(&me, &them)).await? {
            return Err(ErrorBody::new(
                ErrorCode::NoSuchUser,
                format!(
                    "you can only message people who share a group with you, and {} does not",
                    quote(&peer)
                ),
            ));
        }
        let (reply, opened) = oneshot::channel();
        let direct = Job::Direct(Direct {
            name: user.name.clone(),
            peer,
            session: self.id,
            reply,
        });
        self.ctx.hub.submit(direct).await?;
        opened.await.unwrap_or_else(|_| Err(shutting_down()))
    }

    /// `name` as the other person of a direct conversation or ignore: a
    /// valid name that is not the user's own.
    fn other_person(&self, user: &User, name: String) -> Result<String, ErrorBody> {
        validate_name(&name).map_err(|e| ErrorBody::new(ErrorCode::InvalidName, e.to_string()))?;
        if name == user.name {
            return Err(ErrorBody::new(
                ErrorCode::InvalidTarget,
                "that is you; pick someone else",
            ));
        }
        Ok(name)
    }

    /// A conversation as the client sees it, with its unread counts.
    async fn conversation(&self, name: &str, e: &Entered) -> Result<Conversation, ErrorBody> {
        let (unread, mentions) = if e.status == JoinStatus::Pending || e.read >= e.head {
            (0, 0)
        } else {
            let store = self.ctx.hub.store().clone();
            let (conv, name, after) =
                (e.conv.clone(), name.to_owned(), e.read.max(e.grant.floor()));
            blocking(move || store.unread(&conv, &name, after, UNREAD_COUNT_MAX)).await?
        };
        Ok(Conversation {
            id: e.conv.clone(),
            kind: e.kind,
            status: e.status,
            snapshot: e.snapshot.clone(),
            read: e.read,
            unread,
            mentions,
        })
    }

    /// Takes the session into a conversation: tells the client how it
    /// arrived, then serves the log up to the entered head. A conversation
    /// the session is already in is left as it is.
    async fn enter(&mut self, user: &mut User, e: &Entered) -> Result<(), End> {
        if user.subs.get(&e.conv).is_some_and(|sub| !sub.pending) {
            return Ok(());
        }
        match &e.arrival {
            Arrival::Asked => {}
            Arrival::Approved { by } => {
                if let Some(snapshot) = e.snapshot.clone() {
                    let conv = e.conv.clone();
                    let by = by.clone();
                    self.write_event(&Event::RequestApproved { conv, by, snapshot })
                        .await?;
                }
            }
            Arrival::Added => {
                let conversation = self.conversation(&user.name, e).await?;
                self.write_event(&Event::ConversationAdded { conversation })
                    .await?;
            }
        }
        let pending = e.status == JoinStatus::Pending;
        let served = if pending {
            0
        } else {
            self.catch_up(&e.conv, e.after, e.head).await?
        };
        let sub = Sub {
            served,
            grant: e.grant,
            pending,
        };
        user.subs.insert(e.conv.clone(), sub);
        Ok(())
    }

    async fn write_event(&mut self, event: &Event) -> Result<(), End> {
        self.write(encode(&ServerFrame::Event(event.clone()))).await
    }

    /// Writes the log entries after `after` up to `head` straight from the
    /// store. Returns the last sequence number written.
    async fn catch_up(&mut self, conv: &str, after: Seq, head: Seq) -> Result<Seq, End> {
        let mut served = after;
        while served < head {
            let store = self.ctx.hub.store().clone();
            let (group_name, after) = (conv.to_owned(), served);
            let limit = CATCH_UP_PAGE.min((head - served) as usize);
            let entries = blocking(move || store.read_log(&group_name, after, limit)).await?;
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                served = entry.seq;
                let compact = self
                    .compact
                    .then(|| encode_compact_message(conv, &entry))
                    .flatten();
                let frame = compact.unwrap_or_else(|| {
                    let conv = conv.to_owned();
                    encode(&ServerFrame::Event(Event::Message { conv, entry }))
                });
                self.feed(frame).await?;
            }
            self.flush().await?;
        }
        self.release_write_buffer();
        Ok(served)
    }

    /// How the session ends on the hub's word (counted when the client was
    /// too slow).
    fn closed(&self, error: ErrorBody) -> End {
        if error.code == ErrorCode::TooSlow {
            self.ctx.metrics.slow_drops.inc();
        }
        End::Error(error)
    }

    /// Requests in, queued frames out, until something ends it.
    async fn serve_user(
        &mut self,
        user: &mut User,
        outbox: &Outbox,
    ) -> Result<std::convert::Infallible, End> {
        let ctx = self.ctx.clone();
        // Queued frames are taken all at once, swapped for this buffer.
        let mut batch = VecDeque::new();
        loop {
            tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => return Err(End::Shutdown),
                // Boxed, as are the error replies below: rare paths whose
                // futures need not take room in every idle session's task.
                () = ctx.draining.cancelled() => return Err(Box::pin(self.drain(user, outbox)).await),
                taken = outbox.take(&mut batch) => {
                    taken.map_err(|error| self.closed(error))?;
                    self.write_batch(user, &mut batch).await?;
                    if outbox.is_empty() {
                        self.release_write_buffer();
                        if batch.capacity() > IDLE_BATCH {
                            batch = VecDeque::new();
                        }
                    }
                }
                () = tokio::time::sleep_until(self.idle_deadline()) => return Err(self.idle()),
                frame = self.reader.next() => match self.request_of(frame)? {
                    (id, Ok(request)) if !self.transfers.is_bulk(&request) && !self.requests.take() => {
                        Box::pin(self.reply(id, Err(rate_limited("requests")))).await?;
                    }
                    // Boxed: the futures of every kind of request need not
                    // take room in every idle session's task.
                    (id, Ok(request)) => Box::pin(self.handle(user, id, request)).await?,
                    (id, Err(error)) => Box::pin(self.reply(id, Err(error))).await?,
                }
            }
        }
    }

    /// Writes a batch of queued frames and flushes them. Live log entries
    /// count as served (and as deliveries, once per batch) when they have
    /// reached the socket.
    async fn write_batch(
        &mut self,
        user: &mut User,
        batch: &mut VecDeque<Outbound>,
    ) -> Result<(), End> {
        self.writer.reserve(batch.len());
        let mut delivered = 0;
        for out in batch.drain(..) {
            match out {
                Outbound::Frame {
                    entry: Some((conv, seq)),
                    bytes,
                } => {
                    if user.is_new(&mut self.written, conv, seq) {
                        self.feed(bytes).await?;
                        delivered += 1;
                    }
                }
                Outbound::Frame { entry: None, bytes } => self.feed(bytes).await?,
                Outbound::Enter(entered) => {
                    self.flush().await?;
                    user.served(self.written.drain(..));
                    Box::pin(self.enter(user, &entered)).await?;
                }
                Outbound::Removed { conv, event } => {
                    user.subs.remove(&conv);
                    self.written.retain(|(written, _)| **written != *conv);
                    self.feed(event).await?;
                }
            }
        }
        self.flush().await?;
        // Only what reached the socket counts as served.
        user.served(self.written.drain(..));
        if delivered > 0 {
            self.ctx.metrics.deliveries.inc_by(delivered);
        }
        Ok(())
    }

    /// The server is draining: read no more requests, let the hub finish
    /// what this session already handed it, write its answers and whatever
    /// else is queued, then tell the client to move.
    async fn drain(&mut self, user: &mut User, outbox: &Outbox) -> End {
        let (done, settled) = oneshot::channel();
        if self.ctx.hub.submit(Job::Settle(done)).await.is_err() {
            return End::Shutdown;
        }
        tokio::pin!(settled);
        let mut batch = VecDeque::new();
        let mut settled_yet = false;
        let shutdown = self.ctx.shutdown.clone();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return End::Shutdown,
                _ = &mut settled, if !settled_yet => settled_yet = true,
                taken = outbox.take(&mut batch) => {
                    if let Err(error) = taken {
                        return self.closed(error);
                    }
                }
            }
            if !batch.is_empty()
                && let Err(end) = self.write_batch(user, &mut batch).await
            {
                return end;
            }
            // Settled: everything the hub owes this session is queued.
            if settled_yet && outbox.is_empty() {
                return End::Shutdown;
            }
        }
    }

    /// Answers a request: queries from the hub's state now, changes
    /// through the hub (whose reply arrives on the frame queue), file
    /// transfers through this connection's [`Transfers`].
    async fn handle(&mut self, user: &mut User, id: u32, request: Request) -> Result<(), End> {
        let (conv, action) = match request {
            Request::SendMessage { conv, text } => match self.check_message(text) {
                Ok(text) => (conv, Action::Post { text }),
                Err(error) => return self.reply(id, Err(error)).await,
            },
            Request::ApproveRequest { conv, name } => (conv, Action::Approve { name }),
            Request::RejectRequest { conv, name } => (conv, Action::Reject { name }),
            Request::KickMember { conv, name } => (conv, Action::Kick { name }),
            Request::ChangeAdmin { conv, name } => (conv, Action::ChangeAdmin { name }),
            Request::LeaveGroup { group } => (group, Action::Leave),
            Request::MarkRead { conv, seq } => (conv, Action::MarkRead { seq }),
            Request::ViewRequests { conv } => {
                return self.ask(user, id, &conv, Query::ViewRequests).await;
            }
            Request::WhoAdmin { conv } => return self.ask(user, id, &conv, Query::WhoAdmin).await,
            Request::AllMembers { conv } => {
                return self.ask(user, id, &conv, Query::AllMembers).await;
            }
            Request::OnlineMembers { conv } => {
                return self.ask(user, id, &conv, Query::OnlineMembers).await;
            }
            Request::Ping => return self.reply(id, Ok(ReplyData::Done)).await,
            Request::Disconnect => {
                self.reply(id, Ok(ReplyData::Done)).await?;
                return Err(End::Gone);
            }
            Request::OfferFile {
                conv,
                name,
                size,
                blake3,
            } => {
                let answer = match user.grant(&conv) {
                    Ok(_) => self.transfers.offer(conv, name, size, blake3).await,
                    Err(error) => Err(error),
                };
                return self.reply(id, answer).await;
            }
            Request::FileChunk {
                upload,
                offset,
                data,
            } => {
                let bytes = data.len() as u64;
                let answer = self.transfers.chunk(upload, offset, data).await;
                if answer.is_ok() {
                    self.ctx.metrics.file_bytes_in.inc_by(bytes);
                }
                return self.reply(id, answer).await;
            }
            Request::CancelUpload { upload } => {
                let answer = self.transfers.cancel(upload);
                return self.reply(id, answer).await;
            }
            Request::CompleteUpload { upload } => {
                let to = Announcer {
                    hub: self.ctx.hub.clone(),
                    name: user.name.clone(),
                    session: self.id,
                    reply_to: user.reply_to.clone(),
                };
                return match self.transfers.complete(upload, id, to) {
                    Ok(()) => Ok(()),
                    Err(error) => self.reply(id, Err(error)).await,
                };
            }
            Request::History {
                conv,
                before,
                limit,
            } => {
                let answer = match user.grant(&conv) {
                    Ok(grant) => self.history(&conv, grant, before, limit).await,
                    Err(error) => Err(error),
                };
                return self.reply(id, answer).await;
            }
            Request::ListFiles { conv } => {
                let budget = self.reply_budget();
                let answer = match user.grant(&conv) {
                    Ok(grant) => self.transfers.list(&conv, grant, budget).await,
                    Err(error) => Err(error),
                };
                return self.reply(id, answer).await;
            }
            Request::FetchFile { file, offset, len } => {
                let grants = user.grants();
                let answer = self.transfers.fetch(grants, file, offset, len).await;
                if let Ok(ReplyData::FileData { data }) = &answer {
                    self.ctx.metrics.file_bytes_out.inc_by(data.len() as u64);
                }
                return self.reply(id, answer).await;
            }
            Request::JoinGroup { group } => {
                return match self.open_group(user, group).await {
                    Ok(entered) => self.opened(user, id, entered).await,
                    Err(error) => self.reply(id, Err(error)).await,
                };
            }
            Request::OpenDirect { name } => {
                return match self.open_direct(user, name).await {
                    Ok(entered) => self.opened(user, id, entered).await,
                    Err(error) => self.reply(id, Err(error)).await,
                };
            }
            Request::Ignore { name } | Request::Unignore { name } if name == user.name => {
                let error = self.other_person(user, name).err();
                return self
                    .reply(id, Err(error.unwrap_or_else(shutting_down)))
                    .await;
            }
            Request::Ignore { name } => return self.ignore(user, id, name, true).await,
            Request::Unignore { name } => return self.ignore(user, id, name, false).await,
            Request::ListIgnored => {
                let names = self.ctx.hub.read().ignored_by(&user.name);
                return self.reply(id, Ok(ReplyData::Names { names })).await;
            }
            Request::Search { text, limit } => {
                let answer = self.search(user, text, limit).await;
                return self.reply(id, answer).await;
            }
            Request::ListConversations => {
                let answer = self.conversations(user).await;
                return self.reply(id, answer).await;
            }
        };
        if let Some(sub) = user.subs.get(&conv)
            && sub.pending
            && action != Action::Leave
        {
            return self.reply(id, Err(pending(&conv))).await;
        }
        let job = Job::Act(Act {
            conv,
            name: user.name.clone(),
            session: self.id,
            id,
            reply_to: user.reply_to.clone(),
            action,
            stored: None,
        });
        self.ctx.hub.submit(job).await.map_err(End::Error)
    }

    /// Replies to `join_group` or `open_direct` with the conversation, then
    /// serves its log.
    async fn opened(&mut self, user: &mut User, id: u32, entered: Entered) -> Result<(), End> {
        let conversation = self.conversation(&user.name, &entered).await;
        let ok = conversation.is_ok();
        self.reply(
            id,
            conversation.map(|conversation| ReplyData::Conversation { conversation }),
        )
        .await?;
        if ok {
            self.enter(user, &entered).await?;
        }
        Ok(())
    }

    async fn ignore(
        &mut self,
        user: &User,
        id: u32,
        name: String,
        ignore: bool,
    ) -> Result<(), End> {
        let peer = match self.other_person(user, name) {
            Ok(peer) => peer,
            Err(error) => return self.reply(id, Err(error)).await,
        };
        let job = Job::Ignore(Ignore {
            name: user.name.clone(),
            peer,
            ignore,
            id,
            reply_to: user.reply_to.clone(),
        });
        self.ctx.hub.submit(job).await.map_err(End::Error)
    }

    /// Messages with every word of `text` the user may read, newest first,
    /// as many as fit in one reply.
    async fn search(&self, user: &User, text: String, limit: u32) -> Result<ReplyData, ErrorBody> {
        if text.len() > SEARCH_TEXT_MAX_BYTES {
            return Err(ErrorBody::new(
                ErrorCode::MessageTooLarge,
                format!("search for at most {SEARCH_TEXT_MAX_BYTES} bytes of text"),
            ));
        }
        let store = self.ctx.hub.store().clone();
        let name = user.name.clone();
        let limit = limit.min(SEARCH_PAGE) as usize;
        let found = blocking(move || store.search(&name, &text, limit)).await?;
        let mut hits: Vec<SearchHit> = found
            .into_iter()
            .map(|(conv, entry)| SearchHit { conv, entry })
            .rev()
            .collect();
        hits = newest_within(hits, self.reply_budget());
        hits.reverse();
        Ok(ReplyData::SearchHits { hits })
    }

    /// Every conversation this connection is in, with unread counts.
    async fn conversations(&self, user: &User) -> Result<ReplyData, ErrorBody> {
        let entered: Vec<Entered> = {
            let state = self.ctx.hub.read();
            user.subs
                .keys()
                .filter_map(|conv| state.entered(conv, &user.name))
                .collect()
        };
        let mut conversations = Vec::with_capacity(entered.len());
        for e in &entered {
            conversations.push(self.conversation(&user.name, e).await?);
        }
        conversations.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(ReplyData::Conversations { conversations })
    }

    /// A chat message as the server takes it: within the flood limit, not
    /// blank, not too long.
    fn check_message(&mut self, text: String) -> Result<String, ErrorBody> {
        if !self.messages.take() {
            return Err(rate_limited("messages"));
        }
        if text.trim().is_empty() {
            return Err(ErrorBody::new(
                ErrorCode::EmptyMessage,
                "the message is empty",
            ));
        }
        let max = self.ctx.limits.max_message_bytes;
        if text.len() > max {
            return Err(ErrorBody::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "the message is {} bytes; this server's limit is {max} bytes",
                    text.len()
                ),
            ));
        }
        Ok(text)
    }

    /// Up to `limit` log entries of `conv` before `before` that `grant`
    /// lets the member read, oldest first, as many of the newest as fit in
    /// one reply.
    async fn history(
        &self,
        conv: &str,
        grant: Grant,
        before: Seq,
        limit: u32,
    ) -> Result<ReplyData, ErrorBody> {
        let head = self.ctx.hub.read().head(conv);
        let newest = before.saturating_sub(1).min(head);
        let after = newest
            .saturating_sub(u64::from(limit.min(HISTORY_PAGE)))
            .max(grant.floor());
        if newest <= after {
            return Ok(ReplyData::History {
                entries: Vec::new(),
            });
        }
        let store = self.ctx.hub.store().clone();
        let conv = conv.to_owned();
        let count = (newest - after) as usize;
        let entries = blocking(move || store.read_log(&conv, after, count)).await?;
        Ok(ReplyData::History {
            entries: newest_within(entries, self.reply_budget()),
        })
    }

    /// Room for the items of one reply: half a frame leaves plenty for the
    /// envelope around them.
    fn reply_budget(&self) -> usize {
        self.ctx.limits.max_frame_bytes / 2
    }

    async fn ask(&mut self, user: &User, id: u32, conv: &str, query: Query) -> Result<(), End> {
        let answer = match user.subs.get(conv) {
            Some(sub) if sub.pending => Err(pending(conv)),
            _ => self.ctx.hub.read().answer(conv, &user.name, query),
        };
        self.reply(id, answer).await
    }

    async fn reply(&mut self, id: u32, answer: Result<ReplyData, ErrorBody>) -> Result<(), End> {
        self.write(reply_bytes(id, answer, self.compact)).await
    }

    /// Queues a frame the server built; one over the limit is the
    /// server's fault, not the client's.
    async fn feed(&mut self, frame: Bytes) -> Result<(), End> {
        self.writer
            .feed(frame)
            .map_err(|e| End::Error(internal(&e)))
    }

    /// Flushes with a deadline, so a client that stops reading cannot pin
    /// this task (and its socket) forever.
    async fn flush(&mut self) -> Result<(), End> {
        let flushed = tokio::select! {
            flushed = tokio::time::timeout(self.ctx.limits.write_timeout, self.writer.flush()) => flushed,
            () = self.ctx.shutdown.cancelled() => return Err(End::Shutdown),
        };
        match flushed {
            Ok(result) => result.map_err(End::from),
            Err(_) => {
                tracing::info!(peer = %self.peer, "write timed out; dropping the connection");
                Err(End::Gone)
            }
        }
    }

    /// Frees what a burst (catch-up, a busy group) grew, so ten thousand
    /// idle connections do not each keep their largest.
    fn release_write_buffer(&mut self) {
        self.writer.release_idle();
    }

    async fn write(&mut self, frame: Bytes) -> Result<(), End> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// Says the last word, if there is one, and closes.
    async fn finish(mut self, end: End) {
        let last = match end {
            End::Error(error) => {
                tracing::info!(peer = %self.peer, code = ?error.code, "closing: {}", error.message);
                Some(encode(&ServerFrame::Error(error)))
            }
            End::Shutdown => Some(encode(&ServerFrame::Event(Event::ServerShutdown))),
            End::Gone => None,
        };
        // The last word gets a short deadline of its own, so a client that
        // stopped reading cannot hold up a shutdown.
        let _ = tokio::time::timeout(GOODBYE, async {
            if let Some(frame) = last {
                self.writer.feed(frame)?;
                self.writer.flush().await?;
            }
            self.writer.close().await
        })
        .await;
    }
}

/// The session's end of its [`Outbox`]: ended when the session is, however
/// it ends, so that the hub stops queueing for it.
struct Inbox(Arc<Outbox>);

impl Drop for Inbox {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The user a session serves and its place in each conversation.
struct User {
    name: String,
    /// Where the hub queues this session's replies.
    reply_to: ReplyTo,
    subs: HashMap<String, Sub>,
}

/// The session's place in one conversation.
struct Sub {
    /// The newest log entry written to this client.
    served: Seq,
    /// What the member may read.
    grant: Grant,
    /// Waiting for the admin: nothing to read yet.
    pending: bool,
}

impl User {
    /// What the user may read of `conv`, if they are in it.
    fn grant(&self, conv: &str) -> Result<Grant, ErrorBody> {
        match self.subs.get(conv) {
            Some(sub) if sub.pending => Err(pending(conv)),
            Some(sub) => Ok(sub.grant),
            None => Err(rules::not_member()),
        }
    }

    /// What the user may read of each conversation they are in.
    fn grants(&self) -> HashMap<String, Grant> {
        self.subs
            .iter()
            .filter(|(_, sub)| !sub.pending)
            .map(|(conv, sub)| (conv.clone(), sub.grant))
            .collect()
    }

    /// Whether the entry `seq` of `conv` is one to write: the session is
    /// in the conversation and has not served it yet. Records it in
    /// `written`. A batch mostly holds one conversation's entries in a
    /// row, in order, so after one of them only a newer one is new; that
    /// check compares a pointer, where looking the conversation up hashes
    /// its name.
    fn is_new(&self, written: &mut Vec<(Arc<str>, Seq)>, conv: Arc<str>, seq: Seq) -> bool {
        if let Some((last, newest)) = written.last_mut()
            && Arc::ptr_eq(last, &conv)
        {
            let new = seq > *newest;
            if new {
                *newest = seq;
            }
            return new;
        }
        let new = self
            .subs
            .get(&*conv)
            .is_some_and(|sub| !sub.pending && seq > sub.served);
        if new {
            written.push((conv, seq));
        }
        new
    }

    /// Records entries that reached the socket.
    fn served(&mut self, written: impl Iterator<Item = (Arc<str>, Seq)>) {
        for (conv, seq) in written {
            if let Some(sub) = self.subs.get_mut(&*conv) {
                sub.served = sub.served.max(seq);
            }
        }
    }
}

fn pending(conv: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Pending,
        format!("your request to join {conv} is waiting for the admin"),
    )
}

/// What one inbound frame turned out to be.
enum Inbound {
    Frame(ClientFrame),
    /// A request this server cannot decode (an unknown op, a missing field)
    /// whose id it could read: it is answered with an error and the
    /// connection carries on, so newer clients degrade gracefully.
    BadRequest {
        id: u32,
        error: ErrorBody,
    },
}

/// Just enough of a frame to answer it when the whole does not decode: a
/// request's id, or an older or newer client's protocol version.
#[derive(serde::Deserialize)]
struct FrameHead {
    #[serde(rename = "type")]
    kind: String,
    id: Option<u32>,
    version: Option<u32>,
}

fn parse(frame: Option<Result<Bytes, FrameError>>) -> Result<Inbound, End> {
    let payload = match frame {
        None => return Err(End::Gone),
        Some(Err(e)) => return Err(e.into()),
        Some(Ok(payload)) => payload,
    };
    match decode::<ClientFrame>(&payload) {
        Ok(frame) => Ok(Inbound::Frame(frame)),
        Err(error) => match decode::<FrameHead>(&payload) {
            Ok(FrameHead {
                kind,
                version: Some(version),
                ..
            }) if kind == "hello" && version != PROTOCOL_VERSION => {
                Err(version_mismatch(version).into())
            }
            Ok(FrameHead {
                kind, id: Some(id), ..
            }) if kind == "request" => Ok(Inbound::BadRequest {
                id,
                error: ErrorBody::new(
                    ErrorCode::UnknownRequest,
                    format!("this server does not understand that request: {error}"),
                ),
            }),
            _ => Err(error.into()),
        },
    }
}

fn version_mismatch(version: u32) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::VersionMismatch,
        format!(
            "this server speaks protocol version {PROTOCOL_VERSION}, the client {version}; update the older side"
        ),
    )
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Unpacks a frame read after the hello.
    fn request_of(
        &mut self,
        frame: Option<Result<Bytes, FrameError>>,
    ) -> Result<(u32, Result<Request, ErrorBody>), End> {
        self.last_heard = Instant::now();
        match parse(frame)? {
            Inbound::Frame(ClientFrame::Hello(_)) => Err(ErrorBody::new(
                ErrorCode::Malformed,
                "hello may be sent only once, first",
            )
            .into()),
            Inbound::Frame(ClientFrame::Request(frame)) => Ok((frame.id, Ok(frame.request))),
            Inbound::BadRequest { id, error } => Ok((id, Err(error))),
        }
    }

    fn idle_deadline(&self) -> Instant {
        self.last_heard + self.ctx.limits.idle_timeout
    }

    fn idle(&self) -> End {
        End::Error(ErrorBody::new(
            ErrorCode::Timeout,
            format!(
                "nothing heard from you for {} s; clients send a ping when idle",
                self.ctx.limits.idle_timeout.as_secs()
            ),
        ))
    }
}

fn rate_limited(what: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::RateLimited,
        format!("too many {what} too fast; slow down and try again"),
    )
}

fn shutting_down() -> ErrorBody {
    ErrorBody::new(ErrorCode::ShuttingDown, "the server is shutting down")
}
