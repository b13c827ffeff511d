//! Every value that crosses the wire.
//!
//! All types serialize as MessagePack maps with snake_case field names
//! (`rmp_serde::to_vec_named`), and enums carry their variant in a string
//! field (`type`, `op`, `kind`, `status`), so a client in any language can
//! be written from `docs/protocol.md` alone. Adding an optional field is a
//! compatible change; anything else bumps [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

/// Bumped on every incompatible change to the types in this module.
pub const PROTOCOL_VERSION: u32 = 1;

/// Per-group sequence number of a log entry; the first entry of a group is 1.
pub type Seq = u64;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Must be the first frame of every connection, and only the first.
    Hello(Hello),
    /// Everything after the hello.
    Request(RequestFrame),
}

/// Opens a connection: who I am, how I prove it, and which group I want.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub name: String,
    /// The client's identity secret (32 random bytes). The server pins a
    /// name to a hash of the first secret it sees for it.
    #[serde(with = "serde_bytes")]
    pub secret: Vec<u8>,
    pub group: String,
    /// The last sequence number this client has seen in the group, so the
    /// server resumes right after it. `None` lets the server use the cursor
    /// it keeps for this member.
    #[serde(default)]
    pub last_seq: Option<Seq>,
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
    /// Post a chat message to the group.
    SendMessage {
        text: String,
    },
    /// Admin: list pending join requests.
    ViewRequests,
    /// Admin: let a pending user in.
    ApproveRequest {
        name: String,
    },
    /// Admin: turn a pending user away.
    RejectRequest {
        name: String,
    },
    /// Admin: remove a member from the group.
    KickMember {
        name: String,
    },
    /// Admin: hand the admin role to another member.
    ChangeAdmin {
        name: String,
    },
    WhoAdmin,
    AllMembers,
    OnlineMembers,
    /// Keep-alive; answered with `done`.
    Ping,
    /// Leave the chat (membership is kept); the server replies, then closes.
    Disconnect,
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

/// How a hello ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub status: JoinStatus,
    pub name: String,
    pub group: String,
    /// The group as it is now; `None` while the join request is pending.
    pub snapshot: Option<GroupSnapshot>,
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
}

/// What a member needs to draw the group on arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot {
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
}

/// Pushed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A new entry in the group's log, delivered in sequence order.
    Message {
        entry: LogEntry,
    },
    MemberOnline {
        name: String,
    },
    MemberOffline {
        name: String,
    },
    /// To the admin: someone asked to join.
    JoinRequested {
        request: JoinRequest,
    },
    /// To a pending user: you are in. Log entries follow.
    RequestApproved {
        by: String,
        snapshot: GroupSnapshot,
    },
    /// To a pending user: the admin said no. The connection closes; you may ask again later.
    RequestRejected {
        by: String,
    },
    /// To the kicked member. The connection closes; you may ask to join again.
    Kicked {
        by: String,
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
    Text { text: String },
    GroupCreated,
    MemberJoined { name: String },
    MemberKicked { name: String },
    AdminChanged { to: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code:?})")]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// For people; may change between versions. Programs match on `code`.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
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
    /// The request needs membership of the group.
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
    /// The same name joined the group from another connection.
    Replaced,
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
    /// The server failed (for example its disk is full); nothing was changed.
    Internal,
}
