//! One conversation as the chat holds it: a group or a direct
//! conversation with its roster, timeline and files, where the user stands
//! in it, and how much of it is unread.
//!
//! Read positions live on the server, per user and conversation, so every
//! client of the user agrees on them. [`Unread`] starts from the counts the
//! server sends with the conversation and follows the entries that arrive
//! here and the reads made here or elsewhere.

use std::time::Instant;

use tui_input::Input;

use super::{files::Files, roster::Roster, timeline::Timeline};
use crate::protocol::{
    ConvId, ConvKind, Conversation, GroupSnapshot, JoinStatus, Seq, UNREAD_COUNT_MAX, direct_peer,
};

/// Where the user stands in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// A member of the group (the roster says whether the admin).
    Member,
    /// One of the two people of a direct conversation.
    Direct,
    /// Asked to join; the admin decides.
    Pending,
    /// The admin turned the request down; asking again may have to wait
    /// until `again_at`.
    Rejected {
        by: String,
        again_at: Option<Instant>,
    },
    /// No longer in it: removed by this admin, or (`None`) gone while away
    /// (removed, or the group closed). What was said stays, read-only.
    Removed { by: Option<String> },
}

/// What is unread in a conversation: entries counted by the server and not
/// received here, plus those received here, after the read position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unread {
    /// The newest entry the user has read, here or on another client.
    read: Seq,
    /// The read position the server knows (told by us, or by it).
    told: Seq,
    /// Unread entries the server counted up to `counted_to` that have not
    /// arrived here, and how many of them mention the user.
    hidden: u32,
    hidden_mentions: u32,
    counted_to: Seq,
    /// Unread entries received here: their seq and whether they mention
    /// the user.
    news: Vec<(Seq, bool)>,
}

impl Unread {
    /// The server's counts: `unread` entries (`mentions` of them mention
    /// the user) after `read`, in a log whose newest entry is `head`.
    pub fn new(read: Seq, unread: u32, mentions: u32, head: Seq) -> Unread {
        Unread {
            read,
            told: read,
            hidden: unread,
            hidden_mentions: mentions,
            counted_to: head,
            news: Vec::new(),
        }
    }

    pub fn read(&self) -> Seq {
        self.read
    }

    /// A message or file from someone else arrived.
    pub fn arrived(&mut self, seq: Seq, mention: bool) {
        if seq <= self.read {
            return;
        }
        if seq <= self.counted_to {
            // The server counted it already.
            self.hidden = self.hidden.saturating_sub(1);
            if mention {
                self.hidden_mentions = self.hidden_mentions.saturating_sub(1);
            }
        }
        self.news.push((seq, mention));
    }

    /// Read up to `seq`, here or elsewhere; false if that is no news.
    pub fn read_up_to(&mut self, seq: Seq) -> bool {
        if seq <= self.read {
            return false;
        }
        self.read = seq;
        self.news.retain(|&(s, _)| s > seq);
        if seq >= self.counted_to {
            self.hidden = 0;
            self.hidden_mentions = 0;
        }
        true
    }

    /// The server knows the read position is at least `seq`.
    pub fn told(&mut self, seq: Seq) {
        self.told = self.told.max(seq);
    }

    /// A read position the server does not know yet.
    pub fn to_tell(&self) -> Option<Seq> {
        (self.read > self.told).then_some(self.read)
    }

    pub fn count(&self) -> u32 {
        (self.hidden as usize + self.news.len()).min(UNREAD_COUNT_MAX as usize) as u32
    }

    pub fn mentions(&self) -> u32 {
        let here = self.news.iter().filter(|(_, mention)| *mention).count();
        (self.hidden_mentions as usize + here).min(UNREAD_COUNT_MAX as usize) as u32
    }
}

/// One conversation of the chat.
#[derive(Debug, Clone)]
pub struct Conv {
    pub id: ConvId,
    pub kind: ConvKind,
    /// The other person, in a direct conversation.
    pub peer: Option<String>,
    pub standing: Standing,
    pub roster: Roster,
    pub timeline: Timeline,
    pub files: Files,
    pub unread: Unread,
    /// The newest entry received here, whatever the timeline shows.
    pub seen: Option<Seq>,
    /// The newest entry there is, as far as this client knows.
    pub head: Seq,
    /// What was typed here when another conversation was chosen.
    pub draft: Input,
    /// The user asked to leave it (or to ignore its other person): what
    /// to say once it is gone, whichever comes first, the answer or the
    /// server's word that it went.
    pub going: Option<String>,
}

impl Conv {
    /// `conversation` as the server sent it to `me`; `resume`: where the
    /// server was asked to resume its log, if anywhere.
    pub fn new(me: &str, conversation: Conversation, resume: Option<Seq>) -> Conv {
        let peer = direct_peer(&conversation.id, me).map(str::to_owned);
        let snapshot = conversation.snapshot.clone().unwrap_or_else(empty_snapshot);
        let mut conv = Conv {
            id: conversation.id.clone(),
            kind: conversation.kind,
            peer,
            standing: Standing::Pending,
            roster: Roster::new(me, snapshot),
            timeline: Timeline::default(),
            files: Files::default(),
            unread: Unread::default(),
            seen: None,
            head: 0,
            draft: Input::default(),
            going: None,
        };
        conv.reset(conversation, resume);
        conv
    }

    /// The server's view of the conversation, fresh (a reconnect, or
    /// joined again): standing, roster and unread counts. When the server
    /// was told where to `resume`, the entries up to its head that follow
    /// are a catch-up.
    pub fn reset(&mut self, conversation: Conversation, resume: Option<Seq>) {
        self.standing = match conversation.status {
            JoinStatus::Pending => Standing::Pending,
            JoinStatus::Direct => Standing::Direct,
            JoinStatus::Created | JoinStatus::Admin | JoinStatus::Member => Standing::Member,
        };
        self.kind = conversation.kind;
        let head = conversation.snapshot.as_ref().map_or(0, |s| s.head);
        if let Some(snapshot) = conversation.snapshot {
            self.roster.reset(snapshot);
        }
        self.head = self.head.max(head);
        // What was read here and not told yet stays read.
        let local = self.unread.read();
        self.unread = Unread::new(
            conversation.read,
            conversation.unread,
            conversation.mentions,
            head,
        );
        self.unread.read_up_to(local);
        self.seen = self.seen.max(resume);
        self.timeline.start_catch_up(head, resume);
        if conversation.unread > 0 {
            self.timeline.away_until(head);
        }
    }

    /// How the conversation is named on screen: `#group` or `@peer`.
    pub fn label(&self) -> String {
        label(&self.id, self.peer.as_deref())
    }

    /// Can its log be read and written now?
    pub fn readable(&self) -> bool {
        matches!(self.standing, Standing::Member | Standing::Direct)
    }

    /// Waiting for the admin, or turned down.
    pub fn waiting(&self) -> bool {
        matches!(self.standing, Standing::Pending | Standing::Rejected { .. })
    }

    pub fn is_admin(&self) -> bool {
        self.standing == Standing::Member && self.roster.is_admin()
    }

    /// Join requests waiting for this user, as the group's admin.
    pub fn requests_waiting(&self) -> usize {
        if self.is_admin() {
            self.roster.requests().len()
        } else {
            0
        }
    }

    /// A log entry arrived here.
    pub fn saw(&mut self, seq: Seq) {
        self.seen = self.seen.max(Some(seq));
        self.head = self.head.max(seq);
    }
}

/// `#group`, or `@peer` for a direct conversation.
pub fn label(id: &str, peer: Option<&str>) -> String {
    match peer {
        Some(peer) => format!("@{peer}"),
        None => format!("#{id}"),
    }
}

/// The roster of a conversation the server has not shown yet (pending).
fn empty_snapshot() -> GroupSnapshot {
    GroupSnapshot {
        admin: String::new(),
        members: Vec::new(),
        requests: Vec::new(),
        head: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_counts_join_the_servers_with_what_arrives() {
        // Read up to 10; the server counted 3 unread (1 mention) up to 13.
        let mut unread = Unread::new(10, 3, 1, 13);
        assert_eq!((unread.count(), unread.mentions()), (3, 1));
        // Two of them arrive here in the catch-up, then a live one.
        unread.arrived(11, false);
        unread.arrived(12, true);
        unread.arrived(14, false);
        assert_eq!((unread.count(), unread.mentions()), (4, 1));
        // Something already read arrives again: no change.
        unread.arrived(9, true);
        assert_eq!(unread.count(), 4);
        // Read up to 12 on another client: 13 (not here) and 14 are left.
        assert!(unread.read_up_to(12));
        unread.told(12);
        assert_eq!((unread.count(), unread.mentions()), (2, 0));
        assert_eq!(unread.to_tell(), None);
        assert!(!unread.read_up_to(11), "positions only move forward");
        assert!(unread.read_up_to(14));
        assert_eq!(unread.count(), 0);
        assert_eq!(unread.to_tell(), Some(14), "read here: tell the server");
    }

    #[test]
    fn counts_stop_at_the_cap() {
        let mut unread = Unread::new(0, UNREAD_COUNT_MAX, 0, 5_000);
        unread.arrived(5_001, true);
        assert_eq!(unread.count(), UNREAD_COUNT_MAX);
        assert_eq!(unread.mentions(), 1);
    }

    #[test]
    fn a_direct_conversation_is_named_after_the_other_person() {
        assert_eq!(label("ann+bob", Some("ann")), "@ann");
        assert_eq!(label("rust", None), "#rust");
    }
}
