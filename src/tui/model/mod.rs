//! The client's models: plain data with methods, no drawing and no I/O,
//! each unit-tested on its own. The chat screen is made of them.

pub mod composer;
pub mod conversation;
pub mod files;
pub mod line;
pub mod login;
pub mod outbox;
pub mod picker;
pub mod roster;
pub mod search;
pub mod switcher;
pub mod timeline;
pub mod transfer;

use std::{collections::BTreeMap, time::Instant};

use self::{
    composer::Composer,
    conversation::Conv,
    outbox::Pace,
    timeline::Timeline,
    transfer::{Transfer, TransferId},
};
use crate::protocol::{ConvId, ConvKind};

/// The panes of the chat screen that can have focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Input,
    Messages,
    Members,
    Requests,
}

/// The chat screen: every conversation of the user, the one shown, what is
/// being typed and sent, and the panes around it.
#[derive(Debug, Clone)]
pub struct Chat {
    me: String,
    convs: BTreeMap<ConvId, Conv>,
    /// The order of the conversations pane: groups by name, then direct
    /// conversations by the other person's name.
    order: Vec<ConvId>,
    selected: Option<ConvId>,
    pub composer: Composer,
    pub focus: Focus,
    /// The members and requests panes are shown (they can be hidden to
    /// give the messages the whole width).
    pub side_panes: bool,
    /// The conversations pane is shown.
    pub conv_pane: bool,
    /// When the read positions moved here are told to the server: a
    /// moment after the user reads, not at every frame.
    pub mark_due: Option<Instant>,
    /// What is said while no conversation is open (none joined yet).
    pub lobby: Timeline,
    last_transfer: TransferId,
}

impl Chat {
    pub fn new(me: &str, pace: Pace) -> Chat {
        Chat {
            me: me.to_owned(),
            convs: BTreeMap::new(),
            order: Vec::new(),
            selected: None,
            composer: Composer::new(pace),
            focus: Focus::Input,
            side_panes: true,
            conv_pane: true,
            mark_due: None,
            lobby: Timeline::default(),
            last_transfer: 0,
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn conv(&self, id: &str) -> Option<&Conv> {
        self.convs.get(id)
    }

    pub fn conv_mut(&mut self, id: &str) -> Option<&mut Conv> {
        self.convs.get_mut(id)
    }

    /// The conversation shown, if there is one.
    pub fn current(&self) -> Option<&Conv> {
        self.convs.get(self.selected.as_deref()?)
    }

    pub fn current_mut(&mut self) -> Option<&mut Conv> {
        self.convs.get_mut(self.selected.as_deref()?)
    }

    /// The timeline shown: the conversation's, else the lobby's.
    pub fn timeline(&self) -> &Timeline {
        self.current().map_or(&self.lobby, |conv| &conv.timeline)
    }

    pub fn timeline_mut(&mut self) -> &mut Timeline {
        match self
            .selected
            .as_deref()
            .and_then(|id| self.convs.get_mut(id))
        {
            Some(conv) => &mut conv.timeline,
            None => &mut self.lobby,
        }
    }

    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// The conversations in the pane's order.
    pub fn convs(&self) -> impl Iterator<Item = &Conv> {
        self.order.iter().filter_map(|id| self.convs.get(id))
    }

    pub fn convs_mut(&mut self) -> impl Iterator<Item = &mut Conv> {
        self.convs.values_mut()
    }

    pub fn len(&self) -> usize {
        self.convs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.convs.is_empty()
    }

    /// Where `id` is in the pane's order.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.order.iter().position(|o| o == id)
    }

    /// Adds a conversation, or replaces the one with its id. The first
    /// one is selected.
    pub fn insert(&mut self, conv: Conv) -> &mut Conv {
        let id = conv.id.clone();
        self.convs.insert(id.clone(), conv);
        if !self.order.contains(&id) {
            self.order.push(id.clone());
            let convs = &self.convs;
            self.order.sort_by_cached_key(|id| {
                let conv = &convs[id];
                (
                    conv.kind == ConvKind::Direct,
                    conv.label().to_lowercase(),
                    id.clone(),
                )
            });
        }
        if self.selected.is_none() {
            self.selected = Some(id.clone());
        }
        self.convs.get_mut(&id).expect("just inserted")
    }

    /// Takes a conversation out; when it was shown, its neighbour is.
    pub fn remove(&mut self, id: &str) -> Option<Conv> {
        let conv = self.convs.remove(id)?;
        let at = self.position(id).unwrap_or(0);
        self.order.retain(|o| o != id);
        if self.selected.as_deref() == Some(id) {
            self.selected = None;
            let next = at.min(self.order.len().saturating_sub(1));
            if let Some(next) = self.order.get(next).cloned() {
                // What was being typed stays in the line, unless the
                // conversation shown now has its own.
                let typed = std::mem::take(&mut self.composer.input);
                self.show(next);
                if self.composer.input.value().is_empty() {
                    self.composer.input = typed;
                }
            }
        }
        Some(conv)
    }

    /// Shows conversation `id`; false if there is none. What was typed
    /// stays with the conversation it was typed in.
    pub fn select(&mut self, id: &str) -> bool {
        if !self.convs.contains_key(id) {
            return false;
        }
        if self.selected.as_deref() != Some(id) {
            if let Some(old) = self.selected.take()
                && let Some(conv) = self.convs.get_mut(&old)
            {
                conv.draft = std::mem::take(&mut self.composer.input);
            }
            self.show(id.to_owned());
        }
        true
    }

    fn show(&mut self, id: ConvId) {
        if let Some(conv) = self.convs.get_mut(&id) {
            self.composer.input = std::mem::take(&mut conv.draft);
            self.composer.edited();
            if self.focus == Focus::Requests && !conv.is_admin() {
                self.focus = Focus::Input;
            }
        }
        self.selected = Some(id);
    }

    /// Shows the conversation `delta` places away in the pane, wrapping.
    pub fn select_by(&mut self, delta: isize) {
        let len = self.order.len() as isize;
        if len == 0 {
            return;
        }
        let at = self.selected.as_deref().and_then(|id| self.position(id));
        let next = at.map_or(0, |at| (at as isize + delta).rem_euclid(len));
        let id = self.order[next as usize].clone();
        self.select(&id);
    }

    /// Shows the conversation at `index` in the pane; false if none is there.
    pub fn select_index(&mut self, index: usize) -> bool {
        match self.order.get(index).cloned() {
            Some(id) => self.select(&id),
            None => false,
        }
    }

    /// A new id for a transfer, unique across conversations.
    pub fn next_transfer(&mut self) -> TransferId {
        self.last_transfer += 1;
        self.last_transfer
    }

    /// Every transfer in progress, in every conversation.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.convs.values().flat_map(|conv| conv.files.transfers())
    }

    /// The conversation transfer `id` belongs to.
    pub fn conv_of_transfer(&mut self, id: TransferId) -> Option<&mut Conv> {
        self.convs
            .values_mut()
            .find(|conv| conv.files.transfer(id).is_some())
    }

    /// Join requests waiting, in every group this user runs.
    pub fn requests_waiting(&self) -> usize {
        self.convs.values().map(Conv::requests_waiting).sum()
    }

    /// Where a decision on `name`'s join request goes: the group shown
    /// when they wait there, else the one group this user runs where they
    /// wait, so `/approveRequest bob` works from any conversation.
    pub fn asked_in(&self, name: &str) -> Option<&Conv> {
        let waits =
            |conv: &&Conv| conv.is_admin() && conv.roster.requests().iter().any(|r| r.name == name);
        if let Some(conv) = self.current().filter(waits) {
            return Some(conv);
        }
        let mut convs = self.convs.values().filter(waits);
        match (convs.next(), convs.next()) {
            (Some(conv), None) => Some(conv),
            _ => None,
        }
    }

    /// Unread messages in every conversation.
    pub fn unread(&self) -> u32 {
        self.convs.values().map(|conv| conv.unread.count()).sum()
    }

    /// The only conversation there is, when it waits for an admin: the
    /// waiting screen shows it.
    pub fn lone_waiting(&self) -> Option<&Conv> {
        let mut convs = self.convs.values();
        match (convs.next(), convs.next()) {
            (Some(conv), None) if conv.waiting() => Some(conv),
            _ => None,
        }
    }
}
