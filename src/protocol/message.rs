//! Every value that crosses the wire.
//!
//! All types serialize as MessagePack maps with snake_case field names
//! (`rmp_serde::to_vec_named`), and enums carry their variant in a string
//! field (`type`, `op`, `kind`, `status`), so a client in any language can
//! be written from `docs/protocol.md` alone. Adding an optional field is a
//! compatible change; anything else bumps [`PROTOCOL_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped on every incompatible change to the types in this module.
pub const PROTOCOL_VERSION: u32 = 2;

/// File chunks and fetches moving at least this many bytes are paced by
/// the transfer itself, not by the server's request rate limit.
pub const BULK_PIECE_BYTES: u64 = 64 * 1024;

/// Per-conversation sequence number of a log entry; the first entry is 1.
pub type Seq = u64;

/// Names a conversation on the wire: a group's name, or for a direct
/// conversation the two user names in byte order joined by `+` (which no
/// name contains), so both people and the server spell it the same way.
pub type ConvId = String;

/// The id of the direct conversation between `a` and `b`.
pub fn direct_id(a: &str, b: &str) -> ConvId {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{first}+{second}")
}

/// The other person of the direct conversation `conv` as `me` sees it;
/// `None` when `conv` is a group or not one of `me`'s.
pub fn direct_peer<'a>(conv: &'a str, me: &str) -> Option<&'a str> {
    let (a, b) = conv.split_once('+')?;
    match (a == me, b == me) {
        (true, false) => Some(b),
        (false, true) => Some(a),
        _ => None,
    }
}

/// Whether `conv` names a direct conversation rather than a group.
pub fn is_direct(conv: &str) -> bool {
    conv.contains('+')
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Must be the first frame of every connection, and only the first.
    Hello(Hello),
    /// Everything after the hello.
    Request(RequestFrame),
}

/// Opens a connection: who I am and how I prove it. The connection is then
/// subscribed to every conversation of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub name: String,
    /// The client's identity secret (32 random bytes). The server pins a
    /// name to a hash of the first secret it sees for it.
    #[serde(with = "serde_bytes")]
    pub secret: Vec<u8>,
    /// A group to open on arrival, as `join_group` would: it is created
    /// (you are its admin) or a join request is filed, unless you are in it.
    #[serde(default)]
    pub group: Option<String>,
    /// Per conversation, the last sequence number this client has seen, so
    /// the server resumes right after it. A conversation left out resumes
    /// from the cursor the server keeps for this user. Nil counts as empty.
    #[serde(default, deserialize_with = "nil_as_empty")]
    pub last_seq: BTreeMap<ConvId, Seq>,
    /// Send text `message` events and `sent` replies in the compact form
    /// (see `protocol::decode_server_frame`). Left out when false, so a
    /// hello that does not ask is byte for byte what older clients send.
    #[serde(default, skip_serializing_if = "is_false")]
    pub compact: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// A map that may also arrive as nil, which reads as empty.
fn nil_as_empty<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    Ok(Option::<BTreeMap<K, V>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A request with the id its reply will echo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u32,
    pub request: Request,
}

/// Everything a connected client can ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Post a chat message to a conversation.
    SendMessage {
        conv: ConvId,
        text: String,
    },
    /// Admin: list the group's pending join requests.
    ViewRequests {
        conv: ConvId,
    },
    /// Admin: let a pending user in.
    ApproveRequest {
        conv: ConvId,
        name: String,
    },
    /// Admin: turn a pending user away.
    RejectRequest {
        conv: ConvId,
        name: String,
    },
    /// Admin: remove a member from the group.
    KickMember {
        conv: ConvId,
        name: String,
    },
    /// Admin: hand the admin role to another member.
    ChangeAdmin {
        conv: ConvId,
        name: String,
    },
    WhoAdmin {
        conv: ConvId,
    },
    AllMembers {
        conv: ConvId,
    },
    OnlineMembers {
        conv: ConvId,
    },
    /// Keep-alive; answered with `done`.
    Ping,
    /// Start sending a file to a conversation: its name, exact size and BLAKE3
    /// hash. The server checks the size against its limits before any byte
    /// moves and answers `upload` with the id and chunk size to use.
    OfferFile {
        conv: ConvId,
        name: String,
        size: u64,
        #[serde(with = "serde_bytes")]
        blake3: Vec<u8>,
    },
    /// The bytes of an upload at `offset`, in order with no gap or overlap;
    /// answered with `done` once written. At most `chunk_bytes` at a time.
    FileChunk {
        upload: u64,
        offset: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// All bytes are sent: the server checks size and hash, keeps the file
    /// and announces it in the conversation's log; answered with `sent`.
    CompleteUpload {
        upload: u64,
    },
    /// Abandon an upload; the server deletes what it received.
    CancelUpload {
        upload: u64,
    },
    /// Read up to `len` bytes of a stored file from `offset`; answered with
    /// `file_data` (empty at the end of the file).
    FetchFile {
        file: String,
        offset: u64,
        len: u32,
    },
    /// Leave the chat (membership is kept); the server replies, then closes.
    Disconnect,
    /// Earlier log entries, for scrolling back: those before `before`, at
    /// most `limit` (and at most 200), never from before what your
    /// membership lets you read. Answered with `history`.
    History {
        conv: ConvId,
        before: Seq,
        limit: u32,
    },
    /// The conversation's files that can still be fetched (that your
    /// membership lets you read); answered with `files`.
    ListFiles {
        conv: ConvId,
    },
    /// Open a group without reconnecting: it is created (you are its admin)
    /// or a join request is filed. Answered with `conversation`; the log
    /// you may read follows as `message` events.
    JoinGroup {
        group: String,
    },
    /// Leave a group: a member leaves, a pending user withdraws the request,
    /// and the last member closes the group (its log and files are
    /// deleted). An admin with other members must hand the role over first.
    LeaveGroup {
        group: String,
    },
    /// Open (or find) the direct conversation with `name`, who must share a
    /// group with you. Answered with `conversation`.
    OpenDirect {
        name: String,
    },
    /// Stop seeing `name`'s direct messages; they are not told. Their
    /// direct conversation disappears from your list until `unignore`.
    Ignore {
        name: String,
    },
    /// Undo `ignore`; the conversation returns with what was sent meanwhile.
    Unignore {
        name: String,
    },
    /// Whom you ignore; answered with `names`.
    ListIgnored,
    /// Messages containing every word of `text`, across the conversations
    /// you may read, newest first, at most `limit` (and at most 100);
    /// answered with `search_hits`.
    Search {
        text: String,
        limit: u32,
    },
    /// You have read `conv` up to `seq`. Positions only move forward; your
    /// other connections are told with `read_up_to`.
    MarkRead {
        conv: ConvId,
        seq: Seq,
    },
    /// Your conversations with their unread counts; answered with
    /// `conversations`.
    ListConversations,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to a successful hello.
    Welcome(Welcome),
    /// The answer to one request.
    Reply(Reply),
    /// Something happened; pushed when it happens.
    Event(Event),
    /// The connection is over; the server closes it after this frame.
    Error(ErrorBody),
}

/// How a hello ended: every conversation of the user. The log entries
/// each one has after the resume point follow as `message` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub name: String,
    pub conversations: Vec<Conversation>,
}

/// One conversation as its member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConvId,
    pub kind: ConvKind,
    pub status: JoinStatus,
    /// The conversation as it is now; `None` while a join request is pending.
    pub snapshot: Option<GroupSnapshot>,
    /// The newest entry this user has read, on any connection.
    pub read: Seq,
    /// Messages and files from others after `read`, counted up to
    /// [`UNREAD_COUNT_MAX`].
    pub unread: u32,
    /// How many of those mention this user (`@name`).
    pub mentions: u32,
}

/// Unread counts stop here; a client shows more as "999+".
pub const UNREAD_COUNT_MAX: u32 = 999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvKind {
    Group,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinStatus {
    /// The group did not exist: it was created and you are its admin.
    Created,
    /// You are the group's admin.
    Admin,
    /// You are a member.
    Member,
    /// You asked to join; the admin decides. Approval arrives as an event.
    Pending,
    /// One of the two people of a direct conversation.
    Direct,
}

/// What a member needs to draw a conversation on arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// Empty in a direct conversation, which has no admin.
    pub admin: String,
    pub members: Vec<MemberInfo>,
    /// Pending join requests, oldest first; empty unless you are the admin.
    pub requests: Vec<JoinRequest>,
    /// The newest sequence number in the group's log.
    pub head: Seq,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub name: String,
    pub role: Role,
    pub online: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub name: String,
    /// Unix time in milliseconds.
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u32,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok { data: ReplyData },
    Error(ErrorBody),
}

/// The data a successful request returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplyData {
    /// Nothing to return.
    Done,
    /// The message is durable and has this sequence number.
    Sent {
        seq: Seq,
    },
    Requests {
        requests: Vec<JoinRequest>,
    },
    Members {
        members: Vec<MemberInfo>,
    },
    Admin {
        name: String,
    },
    /// An offer was accepted: send `file_chunk`s for this upload, each at
    /// most `chunk_bytes` long.
    Upload {
        upload: u64,
        chunk_bytes: u32,
    },
    /// Bytes of a stored file.
    FileData {
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Log entries, oldest first: the newest ones before the asked point
    /// that fit in one reply. Empty when there is nothing earlier to read.
    History {
        entries: Vec<LogEntry>,
    },
    /// Files that can still be fetched, oldest first.
    Files {
        files: Vec<SharedFile>,
    },
    /// A conversation opened by `join_group` or `open_direct`.
    Conversation {
        conversation: Conversation,
    },
    Conversations {
        conversations: Vec<Conversation>,
    },
    Names {
        names: Vec<String>,
    },
    /// Matches, newest first.
    SearchHits {
        hits: Vec<SearchHit>,
    },
}

/// One message found by `search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub conv: ConvId,
    pub entry: LogEntry,
}

/// A file that can be fetched, with the entry that announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    pub seq: Seq,
    pub at_ms: i64,
    pub from: String,
    pub file: FileInfo,
}

/// Pushed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A new entry in a conversation's log, delivered in sequence order.
    Message {
        conv: ConvId,
        entry: LogEntry,
    },
    MemberOnline {
        conv: ConvId,
        name: String,
    },
    MemberOffline {
        conv: ConvId,
        name: String,
    },
    /// To the admin: someone asked to join.
    JoinRequested {
        conv: ConvId,
        request: JoinRequest,
    },
    /// To a pending user: you are in. Log entries follow.
    RequestApproved {
        conv: ConvId,
        by: String,
        snapshot: GroupSnapshot,
    },
    /// To a pending user: the admin said no. You may ask again later.
    RequestRejected {
        conv: ConvId,
        by: String,
    },
    /// To the kicked member; no more of the group reaches you. You may ask
    /// to join again.
    Kicked {
        conv: ConvId,
        by: String,
    },
    /// A conversation joined you: a direct conversation someone opened
    /// with you, or one you opened or joined on another connection. Its
    /// log follows as `message` events.
    ConversationAdded {
        conversation: Conversation,
    },
    /// You left the conversation (on another connection), or it closed.
    ConversationRemoved {
        conv: ConvId,
    },
    /// You read `conv` up to `seq` on another connection.
    ReadUpTo {
        conv: ConvId,
        seq: Seq,
    },
    /// The server is going down; reconnect later.
    ServerShutdown,
}

/// One entry of a group's durable, ordered log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: Seq,
    /// Unix time in milliseconds, from the server's clock.
    pub at_ms: i64,
    /// Who caused the entry: the poster, or the admin for membership changes.
    pub from: String,
    pub body: Body,
}

/// What a log entry says. Membership changes are log entries too, so a
/// member who was away sees them in order with the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    Text {
        text: String,
    },
    GroupCreated,
    MemberJoined {
        name: String,
    },
    MemberKicked {
        name: String,
    },
    MemberLeft {
        name: String,
    },
    AdminChanged {
        to: String,
    },
    /// A file was uploaded to the group; fetch it with `fetch_file`.
    File {
        file: FileInfo,
    },
}

/// A file the server keeps for a group, as announced in its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The server's id for the file; not a path anywhere.
    pub id: String,
    /// The sender's file name, cleaned by the server. Receivers clean it
    /// again before using it as a path.
    pub name: String,
    pub size: u64,
    /// BLAKE3 hash of the contents (32 bytes), checked by the server on
    /// upload and by receivers after download.
    #[serde(with = "serde_bytes")]
    pub blake3: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code:?})")]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// For people; may change between versions. Programs match on `code`.
    pub message: String,
}

/// Longest error message, in bytes: errors stay small frames whatever
/// input they describe.
pub const ERROR_MESSAGE_MAX_BYTES: usize = 512;

/// How many characters of a client's input an error message quotes.
pub const QUOTE_MAX_CHARS: usize = 64;

impl ErrorBody {
    /// An error with `message` cut to [`ERROR_MESSAGE_MAX_BYTES`].
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > ERROR_MESSAGE_MAX_BYTES {
            let mut end = ERROR_MESSAGE_MAX_BYTES - '…'.len_utf8();
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Self { code, message }
    }
}

/// `input` from a client, cut to [`QUOTE_MAX_CHARS`] for an error message:
/// a reply never echoes what it cannot afford to.
pub fn quote(input: &str) -> std::borrow::Cow<'_, str> {
    match input.char_indices().nth(QUOTE_MAX_CHARS) {
        None => input.into(),
        Some((end, _)) => format!("{}…", &input[..end]).into(),
    }
}

/// Stable error codes: programs match on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The hello's protocol version is not the server's.
    VersionMismatch,
    /// The frame could not be decoded, or is not allowed in this state.
    Malformed,
    /// A request with an id but an op (or fields) this server does not
    /// know. Only this request fails; the connection stays open.
    UnknownRequest,
    /// The frame's declared length is over the server's limit.
    FrameTooLarge,
    InvalidName,
    InvalidGroup,
    /// The secret is missing or of the wrong length.
    InvalidSecret,
    /// The name belongs to another identity.
    NameTaken,
    /// The request needs membership of the conversation.
    NotMember,
    /// Your join request is still waiting for the admin.
    Pending,
    /// The request is for the group's admin only.
    NotAdmin,
    /// The named user is not in the state the request needs (not pending, not a member).
    NoSuchUser,
    /// The request makes no sense for its target (kick yourself, make the admin admin).
    InvalidTarget,
    MessageTooLarge,
    EmptyMessage,
    /// The connection could not keep up with the group and was dropped; reconnect to catch up.
    TooSlow,
    TooManyConnections,
    /// Too much too fast: too many requests or messages from this
    /// connection, too many pending join requests for the group, or asking
    /// again too soon after a rejection. Wait and retry.
    RateLimited,
    /// The client took too long to say hello.
    Timeout,
    ShuttingDown,
    /// The offered file is bigger than this server accepts.
    FileTooLarge,
    /// The server has no room for the file right now (its file store or
    /// disk is full); nothing was kept.
    StorageFull,
    /// An offer without a 32-byte hash, no such upload on this connection,
    /// or a chunk at the wrong offset, too long or past the offered size
    /// (which cancels the upload).
    BadUpload,
    /// The bytes received do not match the offered size or hash; nothing
    /// was kept.
    ChecksumMismatch,
    /// The file expired or was removed to make room; it cannot be fetched.
    FileUnavailable,
    /// The server failed (for example its disk is full); nothing was changed.
    Internal,
    /// The server cannot reach its database right now; nothing was
    /// changed. Try again shortly.
    Unavailable,
    /// Another server of the same cluster changed the conversation at the
    /// same moment; nothing was changed. Try again.
    Conflict,
}
