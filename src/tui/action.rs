//! What the user means (an [`Action`], found through the keymap) and what
//! the runtime must do about it (an [`Effect`]). `update` turns events into
//! state changes plus effects; only the runtime touches the network or the
//! terminal.

use std::path::PathBuf;

pub use super::model::{login::Target, outbox::Failure};
use super::model::{outbox::MessageId, search::SEARCH_LIMIT, transfer::TransferId};
pub use super::settings::Osc;
use crate::protocol::{ConvId, FileInfo, Request, Seq};

/// Entries asked for per page of history: a few screens' worth.
pub const HISTORY_PAGE: u32 = 100;

/// Entries shown around a message a search jumps to: this many after it,
/// and the rest of [`CONTEXT_PAGE`] before it.
pub const CONTEXT_AFTER: Seq = 10;
pub const CONTEXT_PAGE: u32 = 30;

/// A user's intent, independent of the key that expressed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    Redraw,
    ToggleMouse,
    ToggleSidebar,
    Reconnect,
    ClosePopup,
    FocusNext,
    FocusPrev,
    FocusRequests,
    FilePicker,
    Files,
    CancelTransfer,
    Send,
    HistoryPrev,
    HistoryNext,
    Complete,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Choose,
    Approve,
    Reject,
    Kick,
    MakeAdmin,
    Confirm,
    Cancel,
    NextField,
    PrevField,
    AskAgain,
    Open,
    Parent,
    ToggleHidden,
    Download,
    ToggleConversations,
    NextConversation,
    PrevConversation,
    /// Show the conversation at this place (1 to 9) in the pane.
    GoTo(u8),
    Switcher,
    Search,
}

impl Action {
    /// Every action, in the order the config documents them.
    pub const ALL: &[Action] = &[
        Action::Quit,
        Action::Help,
        Action::Redraw,
        Action::ToggleMouse,
        Action::ToggleSidebar,
        Action::Reconnect,
        Action::ClosePopup,
        Action::FocusNext,
        Action::FocusPrev,
        Action::FocusRequests,
        Action::FilePicker,
        Action::Files,
        Action::CancelTransfer,
        Action::Send,
        Action::HistoryPrev,
        Action::HistoryNext,
        Action::Complete,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Choose,
        Action::Approve,
        Action::Reject,
        Action::Kick,
        Action::MakeAdmin,
        Action::Confirm,
        Action::Cancel,
        Action::NextField,
        Action::PrevField,
        Action::AskAgain,
        Action::Open,
        Action::Parent,
        Action::ToggleHidden,
        Action::Download,
        Action::ToggleConversations,
        Action::NextConversation,
        Action::PrevConversation,
        Action::GoTo(1),
        Action::GoTo(2),
        Action::GoTo(3),
        Action::GoTo(4),
        Action::GoTo(5),
        Action::GoTo(6),
        Action::GoTo(7),
        Action::GoTo(8),
        Action::GoTo(9),
        Action::Switcher,
        Action::Search,
    ];

    /// The name used in the `[keys]` section of the config file.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Redraw => "redraw",
            Action::ToggleMouse => "toggle_mouse",
            Action::ToggleSidebar => "toggle_sidebar",
            Action::Reconnect => "reconnect",
            Action::ClosePopup => "close_popup",
            Action::FocusNext => "focus_next",
            Action::FocusPrev => "focus_prev",
            Action::FocusRequests => "focus_requests",
            Action::FilePicker => "file_picker",
            Action::Files => "files",
            Action::CancelTransfer => "cancel_transfer",
            Action::Send => "send",
            Action::HistoryPrev => "history_prev",
            Action::HistoryNext => "history_next",
            Action::Complete => "complete",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Choose => "choose",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Kick => "kick",
            Action::MakeAdmin => "make_admin",
            Action::Confirm => "confirm",
            Action::Cancel => "cancel",
            Action::NextField => "next_field",
            Action::PrevField => "prev_field",
            Action::AskAgain => "ask_again",
            Action::Open => "open",
            Action::Parent => "parent",
            Action::ToggleHidden => "toggle_hidden",
            Action::Download => "download",
            Action::ToggleConversations => "toggle_conversations",
            Action::NextConversation => "next_conversation",
            Action::PrevConversation => "prev_conversation",
            Action::GoTo(1) => "go_to_1",
            Action::GoTo(2) => "go_to_2",
            Action::GoTo(3) => "go_to_3",
            Action::GoTo(4) => "go_to_4",
            Action::GoTo(5) => "go_to_5",
            Action::GoTo(6) => "go_to_6",
            Action::GoTo(7) => "go_to_7",
            Action::GoTo(8) => "go_to_8",
            Action::GoTo(_) => "go_to_9",
            Action::Switcher => "switcher",
            Action::Search => "search",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// Why a request was made, so its reply can be shown in context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A chat message from the send queue.
    Send {
        id: MessageId,
        conv: ConvId,
        text: String,
    },
    ViewRequests(ConvId),
    Approve {
        conv: ConvId,
        name: String,
    },
    Reject {
        conv: ConvId,
        name: String,
    },
    Kick {
        conv: ConvId,
        name: String,
    },
    ChangeAdmin {
        conv: ConvId,
        name: String,
    },
    WhoAdmin(ConvId),
    AllMembers(ConvId),
    OnlineMembers(ConvId),
    /// A page of the log's entries before `before`, for the top of the
    /// messages pane.
    History {
        conv: ConvId,
        before: Seq,
    },
    /// The entries around `seq`, which a search jumps to.
    Context {
        conv: ConvId,
        seq: Seq,
    },
    /// A page of entries before `before`, for the bottom of a timeline
    /// that shows an older stretch of the log.
    Newer {
        conv: ConvId,
        before: Seq,
    },
    /// The conversation's files the server still has, for the files
    /// popup; with `download`, the newest one waiting is then fetched
    /// (`/download`).
    ListFiles {
        conv: ConvId,
        download: bool,
    },
    /// `/join`: open a group (created, or asked to join).
    Join(String),
    /// `/leave`: leave a group, withdraw a request, or close the group.
    Leave(ConvId),
    /// `/query` or `/msg`: open the direct conversation with `name`; then
    /// show it (`/query`) or send `text` to it (`/msg`).
    OpenDirect {
        name: String,
        text: Option<String>,
    },
    Ignore(String),
    Unignore(String),
    ListIgnored,
    Search(String),
    /// Tell the server how far the user read.
    MarkRead {
        conv: ConvId,
        seq: Seq,
    },
}

impl Purpose {
    /// The request that serves this purpose.
    pub fn request(&self) -> Request {
        match self {
            Purpose::Send { conv, text, .. } => Request::SendMessage {
                conv: conv.clone(),
                text: text.clone(),
            },
            Purpose::ViewRequests(conv) => Request::ViewRequests { conv: conv.clone() },
            Purpose::Approve { conv, name } => Request::ApproveRequest {
                conv: conv.clone(),
                name: name.clone(),
            },
            Purpose::Reject { conv, name } => Request::RejectRequest {
                conv: conv.clone(),
                name: name.clone(),
            },
            Purpose::Kick { conv, name } => Request::KickMember {
                conv: conv.clone(),
                name: name.clone(),
            },
            Purpose::ChangeAdmin { conv, name } => Request::ChangeAdmin {
                conv: conv.clone(),
                name: name.clone(),
            },
            Purpose::WhoAdmin(conv) => Request::WhoAdmin { conv: conv.clone() },
            Purpose::AllMembers(conv) => Request::AllMembers { conv: conv.clone() },
            Purpose::OnlineMembers(conv) => Request::OnlineMembers { conv: conv.clone() },
            Purpose::History { conv, before } => Request::History {
                conv: conv.clone(),
                before: *before,
                limit: HISTORY_PAGE,
            },
            Purpose::Context { conv, seq } => Request::History {
                conv: conv.clone(),
                before: seq + CONTEXT_AFTER + 1,
                limit: CONTEXT_PAGE,
            },
            Purpose::Newer { conv, before } => Request::History {
                conv: conv.clone(),
                before: *before,
                limit: HISTORY_PAGE,
            },
            Purpose::ListFiles { conv, .. } => Request::ListFiles { conv: conv.clone() },
            Purpose::Join(group) => Request::JoinGroup {
                group: group.clone(),
            },
            Purpose::Leave(group) => Request::LeaveGroup {
                group: group.clone(),
            },
            Purpose::OpenDirect { name, .. } => Request::OpenDirect { name: name.clone() },
            Purpose::Ignore(name) => Request::Ignore { name: name.clone() },
            Purpose::Unignore(name) => Request::Unignore { name: name.clone() },
            Purpose::ListIgnored => Request::ListIgnored,
            Purpose::Search(text) => Request::Search {
                text: text.clone(),
                limit: SEARCH_LIMIT,
            },
            Purpose::MarkRead { conv, seq } => Request::MarkRead {
                conv: conv.clone(),
                seq: *seq,
            },
        }
    }
}

/// A request's failure: what kind, and a sentence for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub failure: Failure,
    pub message: String,
}

/// Something for the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Open a connection (dropping any previous one); the result comes back
    /// as `AppEvent::Connected`.
    Connect(Target),
    /// While waiting to reconnect, try now.
    Hurry,
    /// Queue a request with the connection, in order; the reply comes back
    /// as `AppEvent::Reply`.
    Request(Purpose),
    /// Ring the terminal bell.
    Bell,
    /// Raise a desktop notification through the terminal's own escape
    /// sequence.
    Notify {
        osc: Osc,
        title: String,
        body: String,
    },
    /// Clear the terminal and draw everything again.
    Redraw,
    /// Capture the mouse (wheel and clicks) or leave it to the terminal
    /// (so text can be selected and copied).
    CaptureMouse(bool),
    /// Write the remembered session (server, name, the conversation shown,
    /// where each resumes) to the data dir.
    SaveSession,
    /// Write the record of saved files to the data dir.
    SaveSavedFiles,
    /// Read a directory for the file picker on a blocking task; the
    /// entries come back as `AppEvent::Listed`.
    ListDir(PathBuf),
    /// Upload a file to a conversation; progress and the end come back as
    /// `AppEvent::Transfer`.
    SendFile {
        id: TransferId,
        conv: ConvId,
        path: PathBuf,
    },
    /// Download an announced file into the download directory; progress
    /// and the end come back as `AppEvent::Transfer`.
    FetchFile { id: TransferId, file: FileInfo },
    /// Stop a transfer; its end still comes back, as cancelled.
    CancelTransfer(TransferId),
    /// Say goodbye to the server and leave.
    Quit,
}
