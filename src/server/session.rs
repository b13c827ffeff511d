//! One task per connection: the hello, then requests in and frames out.
//!
//! A session owns its socket. It reads requests, answers queries from the
//! hub's state directly, hands changes to the hub, and writes whatever the
//! hub queues for it. Anything a client sends that is not valid ends only
//! this session, with an error frame where the socket still allows one.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::{mpsc, oneshot},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::{
    codec::{FramedRead, FramedWrite},
    sync::CancellationToken,
};

use super::{
    Limits,
    admission::Permit,
    files::Upload,
    hub::{Control, Hub, Job, Joined, Mutation, Outbound, SessionHandle, event_frame, reply_frame},
    internal,
    rate::TokenBucket,
    writer::FrameWriter,
};
use crate::protocol::{
    BULK_PIECE_BYTES, ClientFrame, ErrorBody, ErrorCode, Event, FrameCodec, FrameError, Hello,
    JoinStatus, PROTOCOL_VERSION, ReplyData, Request, Seq, ServerFrame, Welcome, decode, encode,
    validate_group, validate_name,
};
use crate::store::{FileRecord, NameClaim};

/// How many queued frames one flush writes at most.
const WRITE_BATCH: usize = 256;
/// How long the last frame to a closing connection may take.
const GOODBYE: Duration = Duration::from_secs(2);
/// How many log entries one catch-up read takes.
const CATCH_UP_PAGE: usize = 512;
/// The read buffer a connection starts with; it grows for bigger frames.
/// Most clients send little, and an idle one keeps this much per connection.
const READ_BUFFER: usize = 1024;
/// A batch vector with room for more frames than this is given back when
/// the session goes idle.
const IDLE_BATCH: usize = 64;
/// Uploads one connection may have open at once.
const MAX_UPLOADS: usize = 4;
/// File records one connection keeps for its fetches.
const FETCHING: usize = 16;

/// Why a session ended. Only `Error` is told to the client.
enum End {
    /// Send this error, then close.
    Error(ErrorBody),
    /// Send this event, then close.
    Event(Event),
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
    hub: Hub,
    id: u64,
    peer: SocketAddr,
    /// When the client last sent a frame; see `Limits::idle_timeout`.
    last_heard: Instant,
    requests: TokenBucket,
    messages: TokenBucket,
    limits: Limits,
    /// Cancelled when the server shuts down: a write to a client that does
    /// not read must not hold the shutdown up.
    stopping: CancellationToken,
    /// This connection's uploads in progress; dropping one deletes its bytes,
    /// so whatever ends the session cleans them up.
    uploads: HashMap<u64, Upload>,
    next_upload: u64,
    /// Records of the files this connection fetches from.
    fetching: HashMap<String, Arc<FileRecord>>,
}

/// Serves one accepted connection until it ends, after the TLS handshake
/// when `tls` is set; `_permit` holds its slot under the connection limit
/// until then.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    hub: Hub,
    limits: Limits,
    shutdown: CancellationToken,
    _permit: Permit,
    tls: Option<TlsAcceptor>,
) {
    match tls {
        None => {
            let (read, write) = socket.into_split();
            run(read, write, peer, id, hub, limits, shutdown).await;
        }
        Some(acceptor) => match handshake(&acceptor, socket, limits.handshake_timeout).await {
            Some(stream) => {
                let (read, write) = tokio::io::split(stream);
                run(read, write, peer, id, hub, limits, shutdown).await;
            }
            None => tracing::info!(%peer, "TLS handshake failed or timed out"),
        },
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

async fn run<R, W>(
    read: R,
    write: W,
    peer: SocketAddr,
    id: u64,
    hub: Hub,
    limits: Limits,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut session = Session {
        reader: FramedRead::with_capacity(
            read,
            FrameCodec::new(limits.max_frame_bytes),
            READ_BUFFER,
        ),
        writer: FrameWriter::new(write, limits.max_frame_bytes),
        hub,
        id,
        peer,
        last_heard: Instant::now(),
        requests: TokenBucket::new(limits.requests_per_second, limits.request_burst),
        messages: TokenBucket::new(limits.messages_per_second, limits.message_burst),
        limits,
        stopping: shutdown.clone(),
        uploads: HashMap::new(),
        next_upload: 0,
        fetching: HashMap::new(),
    };
    let end = tokio::select! {
        hello = session.hello() => match hello {
            Ok(hello) => session.joined(hello, &shutdown).await,
            Err(end) => end,
        },
        () = shutdown.cancelled() => End::Event(Event::ServerShutdown),
    };
    session.finish(end).await;
}

/// Tells a connection over the limit why it is refused, then closes it.
/// Over TLS the refusal needs a (quick) handshake to be readable.
pub(crate) async fn refuse(
    socket: TcpStream,
    error: ErrorBody,
    max_frame_bytes: usize,
    tls: Option<TlsAcceptor>,
) {
    let frame = encode(&ServerFrame::Error(error));
    let quick = Duration::from_secs(1);
    match tls {
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
    async fn hello(&mut self) -> Result<Hello, End> {
        let first = tokio::time::timeout(self.limits.handshake_timeout, self.reader.next())
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
            return Err(ErrorBody::new(
                ErrorCode::VersionMismatch,
                format!(
                    "this server speaks protocol version {PROTOCOL_VERSION}, the client {}; update the older side",
                    hello.version
                ),
            )
            .into());
        }
        validate_name(&hello.name)
            .map_err(|e| ErrorBody::new(ErrorCode::InvalidName, e.to_string()))?;
        validate_group(&hello.group)
            .map_err(|e| ErrorBody::new(ErrorCode::InvalidGroup, e.to_string()))?;
        let secret: [u8; 32] = hello.secret.as_slice().try_into().map_err(|_| {
            ErrorBody::new(
                ErrorCode::InvalidSecret,
                "the identity secret must be exactly 32 bytes",
            )
        })?;
        let store = self.hub.store().clone();
        let name = hello.name.clone();
        let hash = *blake3::hash(&secret).as_bytes();
        let claim = tokio::task::spawn_blocking(move || store.claim_name(&name, &hash))
            .await
            .map_err(|e| internal(&e))?
            .map_err(|e| internal(&e))?;
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
        tracing::info!(peer = %self.peer, name = %hello.name, group = %hello.group, new_name = claim == NameClaim::Claimed, "hello");
        Ok(hello)
    }

    /// Joins the group and serves the session in whatever state the join
    /// leaves it: pending, then (once approved) member.
    async fn joined(&mut self, hello: Hello, shutdown: &CancellationToken) -> End {
        let (frames_tx, mut frames) = mpsc::channel(self.limits.outbound_queue);
        let (control_tx, mut control) = mpsc::unbounded_channel();
        let (reply, joined) = oneshot::channel();
        let join = Job::Join {
            group: hello.group.clone(),
            name: hello.name.clone(),
            session: SessionHandle {
                id: self.id,
                frames: frames_tx.clone(),
                control: control_tx,
            },
            last_seq: hello.last_seq,
            reply,
        };
        let joined = match self.hub.submit(join).await {
            Ok(()) => joined.await.unwrap_or_else(|_| Err(shutting_down())),
            Err(e) => Err(e),
        };
        let Joined {
            status,
            snapshot,
            from,
            head,
        } = match joined {
            Ok(joined) => joined,
            Err(error) => return End::Error(error),
        };
        let welcome = ServerFrame::Welcome(Welcome {
            status,
            name: hello.name.clone(),
            group: hello.group.clone(),
            snapshot,
        });
        let mut member = Member {
            group: hello.group,
            name: hello.name,
            frames: frames_tx,
            served: from,
        };
        let end = async {
            self.write(encode(&welcome)).await?;
            let (from, head) = if status == JoinStatus::Pending {
                self.wait_for_approval(&member, &mut control, shutdown)
                    .await?
            } else {
                (from, head)
            };
            member.served = self.catch_up(&member.group, from, head).await?;
            self.serve_member(&mut member, &mut frames, &mut control, shutdown)
                .await
        };
        let end = match end.await {
            Ok(never) => match never {},
            Err(end) => end,
        };
        let leave = Job::Leave {
            group: member.group,
            name: member.name,
            session: self.id,
            cursor: member.served,
        };
        let _ = self.hub.submit(leave).await;
        end
    }

    /// The pending state: only `ping` and `disconnect` are allowed until the
    /// admin decides. Returns the log range to serve once approved.
    async fn wait_for_approval(
        &mut self,
        member: &Member,
        control: &mut mpsc::UnboundedReceiver<Box<Control>>,
        shutdown: &CancellationToken,
    ) -> Result<(Seq, Seq), End> {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(End::Event(Event::ServerShutdown)),
                signal = control.recv() => match signal.map(|signal| *signal) {
                    Some(Control::Approved { by, snapshot, from, head }) => {
                        self.write(event_frame(&Event::RequestApproved { by, snapshot: *snapshot }).frame).await?;
                        return Ok((from, head));
                    }
                    Some(Control::Rejected { by }) => return Err(End::Event(Event::RequestRejected { by })),
                    Some(Control::Kicked { by }) => return Err(End::Event(Event::Kicked { by })),
                    Some(Control::Close(error)) => return Err(End::Error(error)),
                    None => return Err(End::Error(shutting_down())),
                },
                () = tokio::time::sleep_until(self.idle_deadline()) => return Err(self.idle()),
                frame = self.reader.next() => {
                    let (id, request) = self.request_of(frame)?;
                    let answer = match request {
                        Err(error) => Err(error),
                        Ok(_) if !self.requests.take() => Err(rate_limited("requests")),
                        Ok(Request::Ping) => Ok(ReplyData::Done),
                        Ok(Request::Disconnect) => {
                            self.write(reply_frame(id, Ok(ReplyData::Done)).frame).await?;
                            return Err(End::Gone);
                        }
                        Ok(_) => Err(ErrorBody::new(
                            ErrorCode::Pending,
                            format!("your request to join {} is waiting for the admin", member.group),
                        )),
                    };
                    self.write(reply_frame(id, answer).frame).await?;
                }
            }
        }
    }

    /// Writes the log entries after `from` up to `head` straight from the
    /// store. Returns the last sequence number written.
    async fn catch_up(&mut self, group: &str, from: Seq, head: Seq) -> Result<Seq, End> {
        let mut served = from;
        while served < head {
            let store = self.hub.store().clone();
            let (group_name, after) = (group.to_owned(), served);
            let limit = CATCH_UP_PAGE.min((head - served) as usize);
            let entries =
                tokio::task::spawn_blocking(move || store.read_log(&group_name, after, limit))
                    .await
                    .map_err(|e| internal(&e))?
                    .map_err(|e| internal(&e))?;
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                served = entry.seq;
                self.feed(event_frame(&Event::Message { entry }).frame)
                    .await?;
            }
            self.flush().await?;
        }
        self.release_write_buffer();
        Ok(served)
    }

    /// The member state: requests in, queued frames out, until something ends it.
    async fn serve_member(
        &mut self,
        member: &mut Member,
        frames: &mut mpsc::Receiver<Outbound>,
        control: &mut mpsc::UnboundedReceiver<Box<Control>>,
        shutdown: &CancellationToken,
    ) -> Result<std::convert::Infallible, End> {
        // Queued frames are taken in batches: one `recv_many` returns the
        // queue's permits once, where a `try_recv` per frame paid for each.
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(End::Event(Event::ServerShutdown)),
                signal = control.recv() => match signal.map(|signal| *signal) {
                    Some(Control::Kicked { by }) => return Err(End::Event(Event::Kicked { by })),
                    Some(Control::Close(error)) => return Err(End::Error(error)),
                    Some(Control::Approved { .. } | Control::Rejected { .. }) => {}
                    None => return Err(End::Error(shutting_down())),
                },
                received = frames.recv_many(&mut batch, WRITE_BATCH), if !frames.is_closed() => {
                    if received == 0 {
                        continue;
                    }
                    self.writer.reserve(received);
                    let mut newest = None;
                    for out in batch.drain(..) {
                        newest = out.seq.or(newest);
                        self.feed(out.frame).await?;
                    }
                    self.flush().await?;
                    // Only what reached the socket counts as served.
                    member.served = newest.unwrap_or(member.served);
                    if frames.is_empty() {
                        self.release_write_buffer();
                        if batch.capacity() > IDLE_BATCH {
                            batch = Vec::new();
                        }
                    }
                }
                () = tokio::time::sleep_until(self.idle_deadline()) => return Err(self.idle()),
                frame = self.reader.next() => match self.request_of(frame)? {
                    (id, Ok(request)) if !self.is_bulk(&request) && !self.requests.take() => {
                        self.reply(id, Err(rate_limited("requests"))).await?;
                    }
                    (id, Ok(request)) => self.handle(member, id, request).await?,
                    (id, Err(error)) => self.reply(id, Err(error)).await?,
                }
            }
        }
    }

    /// Answers a member's request: queries from the hub's state now, changes
    /// through the hub (whose reply arrives on the frame queue).
    async fn handle(&mut self, member: &Member, id: u32, request: Request) -> Result<(), End> {
        let mutation = match request {
            Request::SendMessage { text } => {
                if !self.messages.take() {
                    return self.reply(id, Err(rate_limited("messages"))).await;
                }
                if text.trim().is_empty() {
                    return self
                        .reply(
                            id,
                            Err(ErrorBody::new(
                                ErrorCode::EmptyMessage,
                                "the message is empty",
                            )),
                        )
                        .await;
                }
                if text.len() > self.limits.max_message_bytes {
                    let error = ErrorBody::new(
                        ErrorCode::MessageTooLarge,
                        format!(
                            "the message is {} bytes; this server's limit is {} bytes",
                            text.len(),
                            self.limits.max_message_bytes
                        ),
                    );
                    return self.reply(id, Err(error)).await;
                }
                Mutation::Post { text }
            }
            Request::ApproveRequest { name } => Mutation::Approve { name },
            Request::RejectRequest { name } => Mutation::Reject { name },
            Request::KickMember { name } => Mutation::Kick { name },
            Request::ChangeAdmin { name } => Mutation::ChangeAdmin { name },
            Request::Disconnect => {
                self.reply(id, Ok(ReplyData::Done)).await?;
                return Err(End::Gone);
            }
            Request::OfferFile { name, size, blake3 } => {
                let answer = self.offer(name, size, blake3).await;
                return self.reply(id, answer).await;
            }
            Request::FileChunk {
                upload,
                offset,
                data,
            } => {
                let answer = self.chunk(upload, offset, data).await;
                return self.reply(id, answer).await;
            }
            Request::CancelUpload { upload } => {
                let answer = match self.uploads.remove(&upload) {
                    Some(_) => Ok(ReplyData::Done),
                    None => Err(no_upload(upload)),
                };
                return self.reply(id, answer).await;
            }
            Request::FetchFile { file, offset, len } => {
                let answer = self.fetch(member, file, offset, len).await;
                return self.reply(id, answer).await;
            }
            Request::CompleteUpload { upload } => {
                let Some(upload) = self.uploads.remove(&upload) else {
                    return self.reply(id, Err(no_upload(upload))).await;
                };
                tokio::spawn(complete(self.hub.clone(), member.clone(), id, upload));
                return Ok(());
            }
            query => {
                let answer = self.query(member, query);
                return self.reply(id, answer).await;
            }
        };
        let job = member.job(id, mutation);
        self.hub.submit(job).await.map_err(End::Error)
    }

    fn query(&self, member: &Member, query: Request) -> Result<ReplyData, ErrorBody> {
        let state = self.hub.read();
        let group = state
            .group(&member.group)
            .filter(|g| g.members.contains_key(&member.name))
            .ok_or_else(|| {
                ErrorBody::new(ErrorCode::NotMember, "you are not a member of this group")
            })?;
        Ok(match query {
            Request::ViewRequests if group.admin == member.name => ReplyData::Requests {
                requests: group.requests.clone(),
            },
            Request::ViewRequests => {
                return Err(ErrorBody::new(
                    ErrorCode::NotAdmin,
                    format!("only the admin ({}) can see join requests", group.admin),
                ));
            }
            Request::WhoAdmin => ReplyData::Admin {
                name: group.admin.clone(),
            },
            Request::AllMembers => ReplyData::Members {
                members: group.member_list(),
            },
            Request::OnlineMembers => ReplyData::Members {
                members: group
                    .member_list()
                    .into_iter()
                    .filter(|m| m.online)
                    .collect(),
            },
            Request::Ping => ReplyData::Done,
            Request::SendMessage { .. }
            | Request::ApproveRequest { .. }
            | Request::RejectRequest { .. }
            | Request::KickMember { .. }
            | Request::ChangeAdmin { .. }
            | Request::OfferFile { .. }
            | Request::FileChunk { .. }
            | Request::CompleteUpload { .. }
            | Request::CancelUpload { .. }
            | Request::FetchFile { .. }
            | Request::Disconnect => unreachable!("changes are handled by the caller"),
        })
    }

    async fn reply(&mut self, id: u32, answer: Result<ReplyData, ErrorBody>) -> Result<(), End> {
        self.write(reply_frame(id, answer).frame).await
    }

    async fn feed(&mut self, frame: Bytes) -> Result<(), End> {
        self.writer.feed(frame).map_err(End::from)
    }

    /// Flushes with a deadline, so a client that stops reading cannot pin
    /// this task (and its socket) forever.
    async fn flush(&mut self) -> Result<(), End> {
        let flushed = tokio::select! {
            flushed = tokio::time::timeout(self.limits.write_timeout, self.writer.flush()) => flushed,
            () = self.stopping.cancelled() => return Err(End::Event(Event::ServerShutdown)),
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
            End::Event(event) => Some(event_frame(&event).frame),
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

/// What a member session needs to know about itself.
#[derive(Clone)]
struct Member {
    group: String,
    name: String,
    /// Where the hub queues this session's replies.
    frames: mpsc::Sender<Outbound>,
    /// The newest log entry written to this client.
    served: Seq,
}

impl Member {
    /// A change on this member's behalf, answering request `id`.
    fn job(&self, id: u32, mutation: Mutation) -> Job {
        Job::Mutate {
            group: self.group.clone(),
            name: self.name.clone(),
            id,
            reply_to: self.frames.clone(),
            mutation,
        }
    }
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

/// Just enough of a request to answer it.
#[derive(serde::Deserialize)]
struct RequestId {
    #[serde(rename = "type")]
    kind: String,
    id: u32,
}

fn parse(frame: Option<Result<Bytes, FrameError>>) -> Result<Inbound, End> {
    let payload = match frame {
        None => return Err(End::Gone),
        Some(Err(e)) => return Err(e.into()),
        Some(Ok(payload)) => payload,
    };
    match decode::<ClientFrame>(&payload) {
        Ok(frame) => Ok(Inbound::Frame(frame)),
        Err(error) => match decode::<RequestId>(&payload) {
            Ok(RequestId { kind, id }) if kind == "request" => Ok(Inbound::BadRequest {
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
        self.last_heard + self.limits.idle_timeout
    }

    fn idle(&self) -> End {
        End::Error(ErrorBody::new(
            ErrorCode::Timeout,
            format!(
                "nothing heard from you for {} s; clients send a ping when idle",
                self.limits.idle_timeout.as_secs()
            ),
        ))
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    async fn offer(
        &mut self,
        name: String,
        size: u64,
        blake3: Vec<u8>,
    ) -> Result<ReplyData, ErrorBody> {
        if self.uploads.len() >= MAX_UPLOADS {
            return Err(ErrorBody::new(
                ErrorCode::RateLimited,
                format!("at most {MAX_UPLOADS} uploads at once per connection"),
            ));
        }
        let shelf = self.hub.shelf().clone();
        let chunk_bytes = shelf.chunk_bytes();
        let upload = blocking(move || shelf.offer(&name, size, &blake3)).await?;
        self.next_upload += 1;
        self.uploads.insert(self.next_upload, upload);
        Ok(ReplyData::Upload {
            upload: self.next_upload,
            chunk_bytes,
        })
    }

    /// Writes a chunk on a blocking thread. Any failure cancels the upload.
    async fn chunk(&mut self, id: u64, offset: u64, data: Vec<u8>) -> Result<ReplyData, ErrorBody> {
        let mut upload = self.uploads.remove(&id).ok_or_else(|| no_upload(id))?;
        let max = self.hub.shelf().chunk_bytes() as usize;
        if data.len() > max {
            return Err(ErrorBody::new(
                ErrorCode::BadUpload,
                format!("chunks may be at most {max} bytes; the upload is cancelled"),
            ));
        }
        let upload = blocking(move || upload.write(offset, &data).map(|()| upload)).await?;
        self.uploads.insert(id, upload);
        Ok(ReplyData::Done)
    }

    /// Whether a request moves enough file bytes to be paced by the
    /// transfer itself (an upload is bounded by its offer, fetches by how
    /// fast the client reads the replies) rather than by the request
    /// budget. Small chunks and fetches pay like any request, so a flood of
    /// them is limited like a flood of pings.
    fn is_bulk(&self, request: &Request) -> bool {
        match request {
            Request::FileChunk { data, .. } => data.len() as u64 >= BULK_PIECE_BYTES,
            Request::FetchFile { file, offset, len } => {
                self.fetching.get(file).is_some_and(|record| {
                    self.hub
                        .shelf()
                        .span(record, *offset, *len)
                        .is_ok_and(|n| u64::from(n) >= BULK_PIECE_BYTES)
                })
            }
            _ => false,
        }
    }

    /// Reads a piece of a file of this member's group. The file's record is
    /// looked up once per connection, not once per piece.
    async fn fetch(
        &mut self,
        member: &Member,
        file: String,
        offset: u64,
        len: u32,
    ) -> Result<ReplyData, ErrorBody> {
        let shelf = self.hub.shelf().clone();
        let record = match self.fetching.get(&file) {
            Some(record) => record.clone(),
            None => {
                let (lookup, group) = (shelf.clone(), member.group.clone());
                let record = Arc::new(blocking(move || lookup.lookup(&group, &file)).await?);
                if self.fetching.len() >= FETCHING {
                    self.fetching.clear();
                }
                self.fetching.insert(record.info.id.clone(), record.clone());
                record
            }
        };
        let len = shelf.span(&record, offset, len)?;
        let data = blocking(move || shelf.read(&record, offset, len)).await?;
        Ok(ReplyData::FileData { data })
    }
}

/// Checks and keeps a finished upload, then has the hub announce it; the
/// reply reaches the member through its frame queue. A task of its own, as
/// syncing a large file can take a while and the session must go on
/// delivering chat meanwhile.
async fn complete(hub: Hub, member: Member, id: u32, upload: Upload) {
    let shelf = hub.shelf().clone();
    let failed = match blocking(move || upload.finish(&shelf)).await {
        Ok((file, stored)) => {
            let stored = Arc::new(stored);
            hub.submit(member.job(id, Mutation::PostFile { file, stored }))
                .await
                .err()
        }
        Err(error) => Some(error),
    };
    if let Some(error) = failed {
        let _ = member.frames.send(reply_frame(id, Err(error))).await;
    }
}

fn no_upload(id: u64) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::BadUpload,
        format!("there is no upload {id} on this connection"),
    )
}

/// Runs file work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErrorBody> + Send + 'static,
) -> Result<T, ErrorBody> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(internal(&e)))
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
