//! The client's state: which screen shows (each screen carries its own
//! state), the popup over it, and the connection. `update` changes it; the
//! view only reads it. Settings live apart, in [`super::settings`].

use std::time::{Duration, Instant};

use ratatui::layout::Size;

use super::{
    action::{Purpose, Target},
    model::{Chat, login::LoginForm, picker::Picker, transfer::PROGRESS_INTERVAL},
    session::{LastSession, SavedFiles},
};
use crate::protocol::Seq;

#[derive(Debug, Clone)]
pub enum Screen {
    Login(Box<LoginForm>),
    /// Waiting for the first connection to answer.
    Connecting,
    /// Asked to join; the admin decides.
    Pending(Waiting),
    Chat(Box<Chat>),
}

/// The waiting screen's state.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    /// Set by a rejection: who said no.
    pub rejected_by: Option<String>,
    /// Asking again was refused until then (a cooldown after a rejection).
    pub again_at: Option<Instant>,
    /// The chat of a member who was removed and asks to come back: let in
    /// again, they find it as they left it (what they read, the files they
    /// saved).
    pub earlier: Option<Box<Chat>>,
}

/// The connection as the status bar tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Reconnecting { attempt: u32, at: Instant },
    Offline(String),
}

/// A question before a consequential action; it carries what it confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub title: String,
    pub question: String,
    pub purpose: Purpose,
}

/// What can be done to the selected member or request; each choice asks
/// before it acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub title: String,
    pub choices: Vec<(String, Confirm)>,
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    Confirm(Confirm),
    Menu(Menu),
    /// Pick a file to send.
    Picker(Picker),
    /// The files shared, newest first; `selected` counts from the newest.
    Files {
        selected: usize,
    },
}

pub struct App {
    pub screen: Screen,
    pub popup: Option<Popup>,
    /// Where we connect (or are connected) and as whom.
    pub target: Target,
    pub conn: Conn,
    /// The newest log entry seen here: where the next run resumes.
    pub last_seq: Option<Seq>,
    /// What is remembered between runs; the runtime writes it.
    pub session: LastSession,
    /// The files saved here, in this run and earlier ones; the runtime
    /// writes it.
    pub saved: SavedFiles,
    pub window_focused: bool,
    /// The mouse is captured (wheel, clicks); off, the terminal selects text.
    pub mouse_captured: bool,
    /// The terminal's size, for layout-dependent decisions (scrolling, clicks).
    pub size: Size,
    pub now: Instant,
    pub quit: bool,
}

impl App {
    pub fn new(target: Target, session: LastSession, saved: SavedFiles) -> App {
        let last_seq = session.last_seq(&target.server, &target.group, &target.name);
        App {
            screen: Screen::Login(Box::new(LoginForm::new(&target))),
            popup: None,
            target,
            conn: Conn::Connecting,
            last_seq,
            session,
            saved,
            window_focused: true,
            mouse_captured: true,
            size: Size::new(80, 24),
            now: Instant::now(),
            quit: false,
        }
    }

    pub fn chat(&self) -> Option<&Chat> {
        match &self.screen {
            Screen::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    pub fn chat_mut(&mut self) -> Option<&mut Chat> {
        match &mut self.screen {
            Screen::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    /// The chat, with the record of saved files to look files up in.
    pub fn chat_and_saved(&mut self) -> Option<(&mut Chat, &SavedFiles)> {
        match &mut self.screen {
            Screen::Chat(chat) => Some((chat, &self.saved)),
            _ => None,
        }
    }

    /// Connects somewhere else from now on: what was read there is what
    /// the remembered session says.
    pub fn retarget(&mut self, target: Target) {
        if target != self.target {
            self.last_seq = self
                .session
                .last_seq(&target.server, &target.group, &target.name);
            self.target = target;
        }
    }

    /// Notes in the remembered session where we are.
    pub fn remember(&mut self) {
        let Target {
            server,
            name,
            group,
        } = &self.target;
        if !name.is_empty() && !group.is_empty() {
            self.session.record(server, group, name, self.last_seq);
        }
    }

    /// Seconds until `at`, rounded up.
    pub fn seconds_until(&self, at: Instant) -> u64 {
        let left = at.saturating_duration_since(self.now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }

    /// Seconds until the next reconnect attempt.
    pub fn reconnect_in(&self) -> Option<u64> {
        match self.conn {
            Conn::Reconnecting { at, .. } => Some(self.seconds_until(at)),
            _ => None,
        }
    }

    /// When the screen needs an update with no event: a countdown's next
    /// second, transfer progress (which the runtime collects at these
    /// ticks, so a fast transfer costs ten frames a second at most), and
    /// the next message the send queue may let out.
    pub fn next_tick(&self) -> Option<Instant> {
        let second = |at: Instant| {
            (at > self.now).then(|| {
                let left = at - self.now;
                let sub = Duration::from_nanos(u64::from(left.subsec_nanos()));
                self.now
                    + if sub.is_zero() {
                        Duration::from_secs(1)
                    } else {
                        sub
                    }
            })
        };
        let countdown = match self.conn {
            Conn::Reconnecting { at, .. } => second(at),
            _ => None,
        };
        let (progress, queue) = match &self.screen {
            Screen::Chat(chat) => (
                (!chat.files.transfers().is_empty()).then(|| self.now + PROGRESS_INTERVAL),
                chat.composer
                    .outbox
                    .wake_at(self.now)
                    .filter(|&at| at > self.now),
            ),
            _ => (None, None),
        };
        let again = match &self.screen {
            Screen::Pending(Waiting {
                again_at: Some(at), ..
            }) => second(*at),
            _ => None,
        };
        [countdown, progress, queue, again]
            .into_iter()
            .flatten()
            .min()
    }

    /// The terminal window's title: the group and the unread count.
    pub fn title(&self) -> String {
        match self.chat().map(|chat| chat.timeline.unread()) {
            Some(0) => format!("pyconchat · {}", self.target.group),
            Some(n) => format!("({n}) pyconchat · {}", self.target.group),
            None => "pyconchat".to_owned(),
        }
    }
}
