//! The client's models: plain data with methods, no drawing and no I/O,
//! each unit-tested on its own. The chat screen is made of them.

pub mod composer;
pub mod files;
pub mod line;
pub mod login;
pub mod outbox;
pub mod picker;
pub mod roster;
pub mod timeline;
pub mod transfer;

use self::{composer::Composer, files::Files, outbox::Pace, roster::Roster, timeline::Timeline};
use crate::protocol::GroupSnapshot;

/// The panes of the chat screen that can have focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Input,
    Messages,
    Members,
    Requests,
}

/// The chat screen: who is there, what was said, what is being typed and
/// sent, and the files.
#[derive(Debug, Clone)]
pub struct Chat {
    pub roster: Roster,
    pub timeline: Timeline,
    pub composer: Composer,
    pub files: Files,
    pub focus: Focus,
    /// The members and requests panes are shown (they can be hidden to
    /// give the messages the whole width).
    pub side_panes: bool,
    /// Removed from the group by this admin: nothing is heard until asked back.
    pub kicked_by: Option<String>,
}

impl Chat {
    pub fn new(me: &str, snapshot: GroupSnapshot, pace: Pace) -> Chat {
        Chat {
            roster: Roster::new(me, snapshot),
            timeline: Timeline::default(),
            composer: Composer::new(pace),
            files: Files::default(),
            focus: Focus::Input,
            side_panes: true,
            kicked_by: None,
        }
    }
}
