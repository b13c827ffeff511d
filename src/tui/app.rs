//! The client's state. `update` changes it; the view only reads it.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use ratatui::layout::Size;
use tui_input::Input;

use super::{
    keymap::Keymap,
    picker::Picker,
    theme::Theme,
    transfer::{PROGRESS_INTERVAL, SharedFile, Transfer, TransferId},
};
use crate::protocol::{JoinRequest, MemberInfo, Role, Seq};

/// Which screen is showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Login,
    /// Waiting for the first connection to answer.
    Connecting,
    Pending,
    Chat,
}

/// The panes of the chat screen that can have focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Input,
    Messages,
    Members,
    Requests,
}

/// The connection as the status bar tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Reconnecting { attempt: u32, at: Instant },
    Offline(String),
}

/// One entry of the messages pane. Kept apart from how it is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Unix time in milliseconds; `None` for local notes.
    pub at_ms: Option<i64>,
    pub kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    Chat {
        from: String,
        text: String,
        own: bool,
        mention: bool,
    },
    /// Something that happened in the group (joined, kicked, admin changed, request arrived).
    Event(String),
    /// An answer to a command.
    Info(String),
    Error(String),
    /// "while you were away".
    Divider(String),
    /// A file announced in the group: the id of its [`SharedFile`] in
    /// `App::files`, where its state changes as it is fetched.
    File(String),
}

/// The login form: server, name, group.
#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    pub fields: [Input; 3],
    pub focus: usize,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

impl LoginForm {
    pub const LABELS: [&'static str; 3] = ["Server", "Name", "Group"];

    pub fn new(server: &str, name: &str, group: &str) -> Self {
        let mut form = LoginForm {
            fields: [server, name, group].map(|v| Input::new(v.to_owned())),
            focus: 0,
            error: None,
        };
        form.focus = form.first_problem().unwrap_or(1);
        form
    }

    pub fn value(&self, i: usize) -> &str {
        self.fields[i].value().trim()
    }

    /// What is wrong with field `i`, in the server's words.
    pub fn problem(&self, i: usize) -> Option<String> {
        let value = self.value(i);
        match i {
            0 if value.is_empty() => Some("server is empty (host:port)".to_owned()),
            0 => None,
            1 => crate::protocol::validate_name(value)
                .err()
                .map(|e| e.to_string()),
            _ => crate::protocol::validate_group(value)
                .err()
                .map(|e| e.to_string()),
        }
    }

    pub fn first_problem(&self) -> Option<usize> {
        (0..3).find(|&i| self.problem(i).is_some())
    }
}

/// Scrollback of the messages pane, counted in screen lines from the bottom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scroll {
    /// 0 follows the newest message.
    pub offset: usize,
    /// Messages that arrived while scrolled up.
    pub new_below: usize,
}

impl Scroll {
    /// Scrolls by `delta` lines (positive = back in time), within `0..=max`.
    pub fn by(&mut self, delta: isize, max: usize) {
        self.offset = self.offset.saturating_add_signed(delta).min(max);
        if self.offset == 0 {
            self.new_below = 0;
        }
    }

    pub fn to_bottom(&mut self) {
        *self = Scroll::default();
    }

    /// A message of `height` lines arrived: keep the view still when scrolled up.
    pub fn arrived(&mut self, height: usize) {
        if self.offset > 0 {
            self.offset += height;
            self.new_below += 1;
        }
    }
}

/// A question before a consequential action; it carries what it confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub title: String,
    pub question: String,
    pub purpose: super::action::Purpose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    Confirm(Confirm),
    /// Pick a file to send.
    Picker(Picker),
    /// The files shared in this session, newest first; `selected` counts
    /// from the newest.
    Files {
        selected: usize,
    },
}

/// Tab completion in progress: pressing Tab again cycles the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub start: usize,
    pub candidates: Vec<String>,
    pub index: usize,
}

/// Settings the app reads but never changes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub keymap: Keymap,
    pub theme: Theme,
    pub bell_on_mention: bool,
    pub bell_on_request: bool,
    /// Format times in UTC instead of local time (tests).
    pub utc: bool,
    /// The connection is unencrypted: said in the status bar.
    pub plaintext: bool,
    /// Announced files up to this many MiB are fetched without asking; 0: never.
    pub auto_download_mb: u64,
    /// Where the file picker starts and relative paths are taken from.
    pub cwd: PathBuf,
    /// What `~` stands for in typed paths.
    pub home: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            keymap: Keymap::default(),
            theme: Theme::default(),
            bell_on_mention: true,
            bell_on_request: true,
            utc: false,
            plaintext: false,
            auto_download_mb: 20,
            cwd: PathBuf::from("."),
            home: None,
        }
    }
}

/// How many items the messages pane keeps.
pub const MAX_ITEMS: usize = 100_000;

pub struct App {
    pub settings: Settings,
    pub screen: Screen,
    pub login: LoginForm,
    pub server: String,
    pub name: String,
    pub group: String,
    pub conn: Conn,
    /// Set by a rejection: who said no.
    pub rejected_by: Option<String>,
    pub items: Vec<Item>,
    pub scroll: Scroll,
    pub members: Vec<MemberInfo>,
    pub admin: String,
    pub requests: Vec<JoinRequest>,
    pub focus: Focus,
    pub selected_member: usize,
    pub selected_request: usize,
    pub input: Input,
    pub history: Vec<String>,
    /// Where Up/Down is in `history`; `None` while editing a new line.
    pub history_pos: Option<usize>,
    /// The line being typed before history browsing started.
    pub draft: String,
    pub completion: Option<Completion>,
    pub popup: Option<Popup>,
    /// The newest log entry seen: where the next run resumes.
    pub last_seq: Option<Seq>,
    /// While catching up after a (re)connect: the head the server reported.
    pub catch_up_to: Option<Seq>,
    pub divider_shown: bool,
    /// Others' messages not seen yet (the window lost focus, or scrolled up).
    pub unread: usize,
    pub window_focused: bool,
    /// Uploads and downloads in progress, oldest first.
    pub transfers: Vec<Transfer>,
    /// Files announced in this session, oldest first.
    pub files: Vec<SharedFile>,
    pub next_transfer: TransferId,
    /// The terminal's size, for layout-dependent decisions (scrolling, clicks).
    pub size: Size,
    pub now: Instant,
    pub quit: bool,
}

impl App {
    pub fn new(settings: Settings, server: &str, name: &str, group: &str) -> App {
        App {
            settings,
            screen: Screen::Login,
            login: LoginForm::new(server, name, group),
            server: server.to_owned(),
            name: name.to_owned(),
            group: group.to_owned(),
            conn: Conn::Connecting,
            rejected_by: None,
            items: Vec::new(),
            scroll: Scroll::default(),
            members: Vec::new(),
            admin: String::new(),
            requests: Vec::new(),
            focus: Focus::Input,
            selected_member: 0,
            selected_request: 0,
            input: Input::default(),
            history: Vec::new(),
            history_pos: None,
            draft: String::new(),
            completion: None,
            popup: None,
            last_seq: None,
            catch_up_to: None,
            divider_shown: false,
            unread: 0,
            window_focused: true,
            transfers: Vec::new(),
            files: Vec::new(),
            next_transfer: 1,
            size: Size::new(80, 24),
            now: Instant::now(),
            quit: false,
        }
    }

    pub fn is_admin(&self) -> bool {
        !self.name.is_empty() && self.admin == self.name
    }

    pub fn role(&self) -> Role {
        if self.is_admin() {
            Role::Admin
        } else {
            Role::Member
        }
    }

    /// Members in display order: the admin, then online, then by name.
    pub fn sorted_members(&self) -> Vec<&MemberInfo> {
        let mut members: Vec<&MemberInfo> = self.members.iter().collect();
        members.sort_by(|a, b| {
            (b.name == self.admin)
                .cmp(&(a.name == self.admin))
                .then(b.online.cmp(&a.online))
                .then_with(|| a.name.cmp(&b.name))
        });
        members
    }

    pub fn selected_member_name(&self) -> Option<String> {
        self.sorted_members()
            .get(self.selected_member)
            .map(|m| m.name.clone())
    }

    pub fn selected_request_name(&self) -> Option<String> {
        self.requests
            .get(self.selected_request)
            .map(|r| r.name.clone())
    }

    /// Seconds until the next reconnect attempt, rounded up.
    pub fn reconnect_in(&self) -> Option<u64> {
        match self.conn {
            Conn::Reconnecting { at, .. } => {
                let left = at.saturating_duration_since(self.now);
                Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
            _ => None,
        }
    }

    /// When the screen needs redrawing with no event: the reconnect
    /// countdown, and transfer progress (which the runtime collects at
    /// these ticks, so a fast transfer costs ten frames a second at most).
    pub fn next_tick(&self) -> Option<Instant> {
        let progress = (!self.transfers.is_empty()).then(|| self.now + PROGRESS_INTERVAL);
        let countdown = match self.conn {
            Conn::Reconnecting { at, .. } if at > self.now => {
                let left = at - self.now;
                let sub = Duration::from_nanos(u64::from(left.subsec_nanos()));
                Some(
                    self.now
                        + if sub.is_zero() {
                            Duration::from_secs(1)
                        } else {
                            sub
                        },
                )
            }
            _ => None,
        };
        [progress, countdown].into_iter().flatten().min()
    }

    pub fn file(&self, id: &str) -> Option<&SharedFile> {
        self.files.iter().find(|f| f.info.id == id)
    }

    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.id == id)
    }

    /// The terminal window's title: the group and the unread count.
    pub fn title(&self) -> String {
        match (&self.screen, self.unread) {
            (Screen::Chat, 0) => format!("pyconchat · {}", self.group),
            (Screen::Chat, n) => format!("({n}) pyconchat · {}", self.group),
            _ => "pyconchat".to_owned(),
        }
    }

    pub fn push(&mut self, item: Item) {
        self.items.push(item);
        if self.items.len() > MAX_ITEMS {
            self.items.drain(..self.items.len() - MAX_ITEMS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scroll_stays_in_bounds_and_holds_still_when_messages_arrive() {
        let mut scroll = Scroll::default();
        scroll.arrived(3);
        assert_eq!(scroll, Scroll::default(), "following the bottom");
        scroll.by(10, 6);
        assert_eq!(scroll.offset, 6);
        scroll.arrived(2);
        assert_eq!(
            scroll,
            Scroll {
                offset: 8,
                new_below: 1
            }
        );
        scroll.by(-100, 8);
        assert_eq!(
            scroll,
            Scroll::default(),
            "back at the bottom, the marker goes"
        );
    }

    #[test]
    fn the_login_form_checks_like_the_server() {
        let form = LoginForm::new("127.0.0.1:7667", "ann", "");
        assert_eq!(form.focus, 2, "focus starts on what is missing");
        assert_eq!(form.problem(2).as_deref(), Some("group name is empty"));
        let form = LoginForm::new("h:1", "a b", "rust");
        assert_eq!(
            form.problem(1).as_deref(),
            Some("name may contain only letters, digits, '_', '-' and '.' (found ' ')")
        );
    }
}
