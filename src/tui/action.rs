//! What the user means (an [`Action`], found through the keymap) and what
//! the runtime must do about it (an [`Effect`]). `update` turns events into
//! state changes plus effects; only the runtime touches the network or the
//! terminal.

use std::path::PathBuf;

pub use super::model::{login::Target, outbox::Failure};
use super::model::{outbox::MessageId, transfer::TransferId};
use crate::protocol::{FileInfo, Request, Seq};

/// Entries asked for per page of history: a few screens' worth.
pub const HISTORY_PAGE: u32 = 100;

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
        text: String,
    },
    ViewRequests,
    Approve(String),
    Reject(String),
    Kick(String),
    ChangeAdmin(String),
    WhoAdmin,
    AllMembers,
    OnlineMembers,
    /// A page of the log's entries before `before`, for the top of the
    /// messages pane.
    History {
        before: Seq,
    },
    /// The group's files the server still has, for the files popup; with
    /// `download`, the newest one waiting is then fetched (`/download`).
    ListFiles {
        download: bool,
    },
}

impl Purpose {
    /// The request that serves this purpose.
    pub fn request(&self) -> Request {
        match self {
            Purpose::Send { text, .. } => Request::SendMessage { text: text.clone() },
            Purpose::ViewRequests => Request::ViewRequests,
            Purpose::Approve(name) => Request::ApproveRequest { name: name.clone() },
            Purpose::Reject(name) => Request::RejectRequest { name: name.clone() },
            Purpose::Kick(name) => Request::KickMember { name: name.clone() },
            Purpose::ChangeAdmin(name) => Request::ChangeAdmin { name: name.clone() },
            Purpose::WhoAdmin => Request::WhoAdmin,
            Purpose::AllMembers => Request::AllMembers,
            Purpose::OnlineMembers => Request::OnlineMembers,
            Purpose::History { before } => Request::History {
                before: *before,
                limit: HISTORY_PAGE,
            },
            Purpose::ListFiles { .. } => Request::ListFiles,
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
    /// Clear the terminal and draw everything again.
    Redraw,
    /// Capture the mouse (wheel and clicks) or leave it to the terminal
    /// (so text can be selected and copied).
    CaptureMouse(bool),
    /// Write the remembered session (server, name, group, last seqs) to
    /// the data dir.
    SaveSession,
    /// Write the record of saved files to the data dir.
    SaveSavedFiles,
    /// Read a directory for the file picker on a blocking task; the
    /// entries come back as `AppEvent::Listed`.
    ListDir(PathBuf),
    /// Upload a file; progress and the end come back as `AppEvent::Transfer`.
    SendFile { id: TransferId, path: PathBuf },
    /// Download an announced file into the download directory; progress
    /// and the end come back as `AppEvent::Transfer`.
    FetchFile { id: TransferId, file: FileInfo },
    /// Stop a transfer; its end still comes back, as cancelled.
    CancelTransfer(TransferId),
    /// Say goodbye to the server and leave.
    Quit,
}
