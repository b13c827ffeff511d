//! One task per connection: the hello, then requests in and frames out.
//!
//! A session owns its socket. It reads requests, answers queries from the
//! hub's state directly, hands changes to the hub, and writes whatever the
//! hub queues for it. Anything a client sends that is not valid ends only
//! this session, with an error frame where the socket still allows one.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::{mpsc, oneshot},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{
    SessionCtx,
    admission::Permit,
    blocking,
    hub::{
        Act, Control, Job, Join, Joined, Leave, Outbound, SessionHandle, event_frame, reply_frame,
    },
    internal,
    rate::TokenBucket,
    rules::{Action, Grant, Query},
    transfers::{Announcer, Transfers, newest_within},
    writer::FrameWriter,
};
use crate::protocol::{
    ClientFrame, ErrorBody, ErrorCode, Event, FrameCodec, FrameError, Hello, JoinStatus,
    PROTOCOL_VERSION, ReplyData, Request, Seq, ServerFrame, Welcome, decode, encode,
    validate_group, validate_name,
};
use crate::store::NameClaim;

/// How many queued frames one flush writes at most.
const WRITE_BATCH: usize = 256;
/// How long the last frame to a closing connection may take.
const GOODBYE: Duration = Duration::from_secs(2);
/// How many log entries one catch-up read takes.
const CATCH_UP_PAGE: usize = 512;
/// Most entries one history reply holds.
const HISTORY_PAGE: u32 = 200;
/// The read buffer a connection starts with; it grows for bigger frames.
/// Most clients send little, and an idle one keeps this much per connection.
const READ_BUFFER: usize = 1024;
/// A batch vector with room for more frames than this is given back when
/// the session goes idle.
const IDLE_BATCH: usize = 64;

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
    ctx: Arc<SessionCtx>,
    id: u64,
    peer: SocketAddr,
    /// When the client last sent a frame; see `Limits::idle_timeout`.
    last_heard: Instant,
    requests: TokenBucket,
    messages: TokenBucket,
    transfers: Transfers,
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
    match ctx.tls.clone() {
        None => {
            let (read, write) = socket.into_split();
            run(ctx, read, write, peer, id).await;
        }
        Some(acceptor) => match handshake(&acceptor, socket, ctx.limits.handshake_timeout).await {
            Some(stream) => {
                let (read, write) = tokio::io::split(stream);
                run(ctx, read, write, peer, id).await;
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
        requests: TokenBucket::new(limits.requests_per_second, limits.request_burst),
        messages: TokenBucket::new(limits.messages_per_second, limits.message_burst),
        transfers: Transfers::new(ctx.shelf.clone()),
        ctx: ctx.clone(),
    };
    let end = tokio::select! {
        hello = session.hello() => match hello {
            Ok(hello) => {
                let _connected = ctx.last_seen.hold(&hello.name);
                session.joined(hello).await
            }
            Err(end) => end,
        },
        () = ctx.shutdown.cancelled() => End::Event(Event::ServerShutdown),
    };
    session.finish(end).await;
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
    async fn hello(&mut self) -> Result<Hello, End> {
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
        tracing::info!(peer = %self.peer, name = %hello.name, group = %hello.group, new_name = claim == NameClaim::Claimed, "hello");
        Ok(hello)
    }

    /// Joins the group and serves the session in whatever state the join
    /// leaves it: pending, then (once approved) member.
    async fn joined(&mut self, hello: Hello) -> End {
        let (frames_tx, mut frames) = mpsc::channel(self.ctx.limits.outbound_queue);
        let (control_tx, mut control) = mpsc::unbounded_channel();
        let (reply, joined) = oneshot::channel();
        let join = Job::Join(Join {
            group: hello.group.clone(),
            name: hello.name.clone(),
            session: SessionHandle {
                id: self.id,
                frames: frames_tx.clone(),
                control: control_tx,
            },
            seen: hello.last_seq,
            address: self.peer.ip(),
            reply,
        });
        let joined = match self.ctx.hub.submit(join).await {
            Ok(()) => joined.await.unwrap_or_else(|_| Err(shutting_down())),
            Err(e) => Err(e),
        };
        let Joined {
            status,
            snapshot,
            grant,
            after,
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
            served: after,
            grant,
        };
        let end = async {
            self.write(encode(&welcome)).await?;
            let (after, head) = if status == JoinStatus::Pending {
                let (grant, head) = self.wait_for_approval(&member, &mut control).await?;
                member.grant = grant;
                (grant.floor(), head)
            } else {
                (after, head)
            };
            member.served = self.catch_up(&member.group, after, head).await?;
            self.serve_member(&mut member, &mut frames, &mut control)
                .await
        };
        let end = match end.await {
            Ok(never) => match never {},
            Err(end) => end,
        };
        let leave = Job::Leave(Leave {
            group: member.group,
            name: member.name,
            session: self.id,
            cursor: member.served,
        });
        let _ = self.ctx.hub.submit(leave).await;
        end
    }

    /// The pending state: only `ping` and `disconnect` are allowed until the
    /// admin decides. Returns the member's grant and the head to catch up
    /// to once approved.
    async fn wait_for_approval(
        &mut self,
        member: &Member,
        control: &mut mpsc::UnboundedReceiver<Box<Control>>,
    ) -> Result<(Grant, Seq), End> {
        let ctx = self.ctx.clone();
        loop {
            tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => return Err(End::Event(Event::ServerShutdown)),
                signal = control.recv() => match signal.map(|signal| *signal) {
                    Some(Control::Approved { by, snapshot, grant, head }) => {
                        self.write(event_frame(&Event::RequestApproved { by, snapshot: *snapshot }).frame).await?;
                        return Ok((grant, head));
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

    /// Writes the log entries after `after` up to `head` straight from the
    /// store. Returns the last sequence number written.
    async fn catch_up(&mut self, group: &str, after: Seq, head: Seq) -> Result<Seq, End> {
        let mut served = after;
        while served < head {
            let store = self.ctx.hub.store().clone();
            let (group_name, after) = (group.to_owned(), served);
            let limit = CATCH_UP_PAGE.min((head - served) as usize);
            let entries = blocking(move || store.read_log(&group_name, after, limit)).await?;
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
    ) -> Result<std::convert::Infallible, End> {
        let ctx = self.ctx.clone();
        // Queued frames are taken in batches: one `recv_many` returns the
        // queue's permits once, where a `try_recv` per frame paid for each.
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => return Err(End::Event(Event::ServerShutdown)),
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
                    (id, Ok(request)) if !self.transfers.is_bulk(&request) && !self.requests.take() => {
                        self.reply(id, Err(rate_limited("requests"))).await?;
                    }
                    (id, Ok(request)) => self.handle(member, id, request).await?,
                    (id, Err(error)) => self.reply(id, Err(error)).await?,
                }
            }
        }
    }

    /// Answers a member's request: queries from the hub's state now, group
    /// actions through the hub (whose reply arrives on the frame queue),
    /// file transfers through this connection's [`Transfers`].
    async fn handle(&mut self, member: &Member, id: u32, request: Request) -> Result<(), End> {
        let action = match request {
            Request::SendMessage { text } => match self.check_message(text) {
                Ok(text) => Action::Post { text },
                Err(error) => return self.reply(id, Err(error)).await,
            },
            Request::ApproveRequest { name } => Action::Approve { name },
            Request::RejectRequest { name } => Action::Reject { name },
            Request::KickMember { name } => Action::Kick { name },
            Request::ChangeAdmin { name } => Action::ChangeAdmin { name },
            Request::ViewRequests => return self.ask(member, id, Query::ViewRequests).await,
            Request::WhoAdmin => return self.ask(member, id, Query::WhoAdmin).await,
            Request::AllMembers => return self.ask(member, id, Query::AllMembers).await,
            Request::OnlineMembers => return self.ask(member, id, Query::OnlineMembers).await,
            Request::Ping => return self.reply(id, Ok(ReplyData::Done)).await,
            Request::Disconnect => {
                self.reply(id, Ok(ReplyData::Done)).await?;
                return Err(End::Gone);
            }
            Request::OfferFile { name, size, blake3 } => {
                let answer = self.transfers.offer(name, size, blake3).await;
                return self.reply(id, answer).await;
            }
            Request::FileChunk {
                upload,
                offset,
                data,
            } => {
                let answer = self.transfers.chunk(upload, offset, data).await;
                return self.reply(id, answer).await;
            }
            Request::CancelUpload { upload } => {
                let answer = self.transfers.cancel(upload);
                return self.reply(id, answer).await;
            }
            Request::CompleteUpload { upload } => {
                let to = Announcer {
                    hub: self.ctx.hub.clone(),
                    group: member.group.clone(),
                    name: member.name.clone(),
                    reply_to: member.frames.clone(),
                };
                return match self.transfers.complete(upload, id, to) {
                    Ok(()) => Ok(()),
                    Err(error) => self.reply(id, Err(error)).await,
                };
            }
            Request::History { before, limit } => {
                let answer = self.history(member, before, limit).await;
                return self.reply(id, answer).await;
            }
            Request::ListFiles => {
                let budget = self.reply_budget();
                let answer = (self.transfers)
                    .list(&member.group, member.grant, budget)
                    .await;
                return self.reply(id, answer).await;
            }
            Request::FetchFile { file, offset, len } => {
                let answer = (self.transfers)
                    .fetch(&member.group, member.grant, file, offset, len)
                    .await;
                return self.reply(id, answer).await;
            }
        };
        let job = Job::Act(Act {
            group: member.group.clone(),
            name: member.name.clone(),
            id,
            reply_to: member.frames.clone(),
            action,
            stored: None,
        });
        self.ctx.hub.submit(job).await.map_err(End::Error)
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

    /// Up to `limit` log entries before `before` that the member may
    /// read, oldest first, as many of the newest as fit in one reply.
    async fn history(
        &self,
        member: &Member,
        before: Seq,
        limit: u32,
    ) -> Result<ReplyData, ErrorBody> {
        let head = self.ctx.hub.read().head(&member.group);
        let newest = before.saturating_sub(1).min(head);
        let after = newest
            .saturating_sub(u64::from(limit.min(HISTORY_PAGE)))
            .max(member.grant.floor());
        if newest <= after {
            return Ok(ReplyData::History {
                entries: Vec::new(),
            });
        }
        let store = self.ctx.hub.store().clone();
        let group = member.group.clone();
        let count = (newest - after) as usize;
        let entries = blocking(move || store.read_log(&group, after, count)).await?;
        Ok(ReplyData::History {
            entries: newest_within(entries, self.reply_budget()),
        })
    }

    /// Room for the items of one reply: half a frame leaves plenty for the
    /// envelope around them.
    fn reply_budget(&self) -> usize {
        self.ctx.limits.max_frame_bytes / 2
    }

    async fn ask(&mut self, member: &Member, id: u32, query: Query) -> Result<(), End> {
        let answer = self
            .ctx
            .hub
            .read()
            .answer(&member.group, &member.name, query);
        self.reply(id, answer).await
    }

    async fn reply(&mut self, id: u32, answer: Result<ReplyData, ErrorBody>) -> Result<(), End> {
        self.write(reply_frame(id, answer).frame).await
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
            () = self.ctx.shutdown.cancelled() => return Err(End::Event(Event::ServerShutdown)),
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
struct Member {
    group: String,
    name: String,
    /// Where the hub queues this session's replies.
    frames: mpsc::Sender<Outbound>,
    /// The newest log entry written to this client.
    served: Seq,
    /// What this member may read.
    grant: Grant,
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
