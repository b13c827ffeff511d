//! The send queue: what the user typed leaves one message at a time, in
//! the order it was typed, paced under the server's flood limit (as irssi
//! and WeeChat pace their lines). Nothing typed is lost: a message the
//! server was too busy for, or that met a dropped connection, waits at the
//! head of the queue and goes again once the client may send.
//!
//! Every message belongs to a conversation, and waits for it: one still
//! catching up, or one joined but not open yet, holds back its own
//! messages only.
//!
//! Exactly once: a message whose connection dropped after it left may be
//! stored or not. It waits, marked unsure, until the catch-up of its
//! conversation after the reconnect shows it ([`Outbox::stored`]) or ends
//! without it, and only then goes again. Its failed reply and the reconnect travel apart and
//! may arrive in either order; the queue counts connections so that a
//! reply arriving after the catch-up is still judged right.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use crate::protocol::ConvId;

/// How fast messages may leave: a burst, then a steady rate. The defaults
/// stay under the server's default flood limit (a burst of 50, then 20 a
/// second); a server set lower answers `rate_limited`, and the queue waits
/// and tries the same message again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub burst: u32,
    pub per_second: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            burst: 40,
            per_second: 16,
        }
    }
}

/// Why a request got no useful reply, as far as trying again goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It never left: there was no connection.
    NotSent,
    /// The connection dropped after it left: the server may have done it.
    Lost,
    /// The server said not so fast; the same request may go again later.
    RateLimited,
    /// The server said no, for a reason trying again will not change.
    Refused,
}

/// How long the queue holds off after the server said `rate_limited`.
pub const HOLD_OFF: Duration = Duration::from_secs(1);

/// Names a queued message between the queue and its reply.
pub type MessageId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Queued {
    id: MessageId,
    conv: ConvId,
    text: String,
    /// It left once and its connection dropped before the reply: the
    /// server may have stored it.
    unsure: bool,
    /// The connection it last left on.
    sent_on: u64,
}

/// A message let out of the queue: send it to `conv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: MessageId,
    pub conv: ConvId,
    pub text: String,
}

/// What became of a message the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// Stored, or an answer to a message no longer in flight.
    Done,
    /// It waits at the head of the queue to go again.
    Again,
    /// The server refused it for good (too long, empty): here is its text.
    Refused(String),
}

/// The queue of every conversation: one message in flight at a time, one
/// pace for the connection, each conversation's messages in the order
/// typed. A conversation that cannot take messages now (catching up, not
/// joined yet) holds back only its own.
#[derive(Debug, Clone)]
pub struct Outbox {
    pace: Pace,
    waiting: VecDeque<Queued>,
    in_flight: Option<Queued>,
    next_id: MessageId,
    tokens: f64,
    refilled: Option<Instant>,
    hold_until: Option<Instant>,
    /// Connections so far (the first is 0).
    connection: u64,
    /// Per conversation, the connection whose catch-up is over.
    caught_up_on: BTreeMap<ConvId, u64>,
}

impl Outbox {
    pub fn new(pace: Pace) -> Outbox {
        Outbox {
            pace,
            waiting: VecDeque::new(),
            in_flight: None,
            next_id: 1,
            tokens: f64::from(pace.burst),
            refilled: None,
            hold_until: None,
            connection: 0,
            caught_up_on: BTreeMap::new(),
        }
    }

    /// Queues a message typed by the user for `conv`.
    pub fn push(&mut self, conv: &str, text: String) -> MessageId {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.push_back(Queued {
            id,
            conv: conv.to_owned(),
            text,
            unsure: false,
            sent_on: 0,
        });
        id
    }

    /// Messages typed and not sent yet (the one on its way is not counted).
    pub fn queued(&self) -> usize {
        self.waiting.len()
    }

    fn refill(&mut self, now: Instant) {
        if let Some(at) = self.refilled {
            let gained =
                now.saturating_duration_since(at).as_secs_f64() * f64::from(self.pace.per_second);
            self.tokens = (self.tokens + gained).min(f64::from(self.pace.burst));
        }
        self.refilled = Some(now);
    }

    /// The next message to send now, if one may go: `ready` says whether
    /// a conversation can take messages now (connected, caught up with
    /// its log, a member). A message that met a dropped connection holds
    /// back its conversation until the catch-up showed whether it was
    /// stored.
    pub fn next(&mut self, now: Instant, ready: impl Fn(&str) -> bool) -> Option<Outgoing> {
        if self.in_flight.is_some() || self.waiting.is_empty() {
            return None;
        }
        if self.hold_until.is_some_and(|until| until > now) {
            return None;
        }
        let mut held: Vec<&str> = Vec::new();
        let mut chosen = None;
        for (at, message) in self.waiting.iter().enumerate() {
            if held.contains(&message.conv.as_str()) {
                continue;
            }
            if message.unsure || !ready(&message.conv) {
                held.push(&message.conv);
                continue;
            }
            chosen = Some(at);
            break;
        }
        let at = chosen?;
        self.refill(now);
        if self.tokens < 1.0 {
            return None;
        }
        self.tokens -= 1.0;
        let mut message = self.waiting.remove(at)?;
        message.sent_on = self.connection;
        let next = Outgoing {
            id: message.id,
            conv: message.conv.clone(),
            text: message.text.clone(),
        };
        self.in_flight = Some(message);
        Some(next)
    }

    /// When a message could go next, if one waits for the pace (not for
    /// the connection or for a reply).
    pub fn wake_at(&self, now: Instant) -> Option<Instant> {
        if self.in_flight.is_some() || self.waiting.iter().all(|m| m.unsure) {
            return None;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        let refill = self
            .refilled
            .map(|at| {
                at + Duration::from_secs_f64(missing / f64::from(self.pace.per_second.max(1)))
            })
            .unwrap_or(now);
        Some(refill.max(self.hold_until.unwrap_or(now)))
    }

    /// The server answered message `id`: `Ok` stored it.
    pub fn answered(
        &mut self,
        id: MessageId,
        result: Result<(), Failure>,
        now: Instant,
    ) -> Answered {
        if self.in_flight.as_ref().is_none_or(|m| m.id != id) {
            return Answered::Done;
        }
        let Some(mut message) = self.in_flight.take() else {
            return Answered::Done;
        };
        match result {
            Ok(()) => Answered::Done,
            Err(Failure::Refused) => Answered::Refused(message.text),
            Err(failure) => {
                match failure {
                    Failure::RateLimited => {
                        self.hold_until = Some(now + HOLD_OFF);
                        self.tokens = 0.0;
                        self.refilled = Some(now);
                    }
                    // The reconnect and its catch-up came first, and the
                    // log did not show it: it was not stored.
                    Failure::Lost
                        if message.sent_on < self.connection
                            && self.caught_up_on.get(&message.conv) == Some(&self.connection) => {}
                    Failure::Lost => message.unsure = true,
                    // The connection is gone and the screen does not know
                    // yet: wait a moment rather than try again at once.
                    Failure::NotSent => self.hold_until = Some(now + HOLD_OFF),
                    Failure::Refused => {}
                }
                self.waiting.push_front(message);
                Answered::Again
            }
        }
    }

    /// One of our own messages arrived in `conv`'s log: if it is the one
    /// on its way or one that may have been stored, it needs no sending
    /// again.
    pub fn stored(&mut self, conv: &str, text: &str) {
        let same = |m: &Queued| m.conv == conv && m.text == text;
        if self.in_flight.as_ref().is_some_and(same) {
            self.in_flight = None;
        } else if let Some(at) = self.waiting.iter().position(|m| m.conv == conv)
            && self.waiting[at].unsure
            && same(&self.waiting[at])
        {
            self.waiting.remove(at);
        }
    }

    /// Connected again: catch-ups follow.
    pub fn reconnected(&mut self) {
        self.connection += 1;
        self.hold_until = None;
    }

    /// `conv` caught up: its unsure messages not seen were not stored.
    pub fn caught_up(&mut self, conv: &str) {
        self.caught_up_on.insert(conv.to_owned(), self.connection);
        for message in self.waiting.iter_mut().filter(|m| m.conv == conv) {
            message.unsure = false;
        }
    }

    /// Gives up on everything not stored for `conv` (it is closed to us
    /// for good): the texts, oldest first.
    pub fn abandon(&mut self, conv: &str) -> Vec<String> {
        let mut texts = Vec::new();
        if self.in_flight.as_ref().is_some_and(|m| m.conv == conv) {
            texts.extend(self.in_flight.take().map(|m| m.text));
        }
        self.waiting.retain(|m| {
            let mine = m.conv == conv;
            if mine {
                texts.push(m.text.clone());
            }
            !mine
        });
        texts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A default-paced outbox holding `texts`, and the time it starts at.
    fn holding(texts: &[&str]) -> (Outbox, Instant) {
        let mut outbox = Outbox::new(Pace::default());
        for text in texts {
            outbox.push("g", (*text).to_owned());
        }
        (outbox, Instant::now())
    }

    fn drain(outbox: &mut Outbox, now: Instant) -> Vec<String> {
        let mut sent = Vec::new();
        while let Some(out) = outbox.next(now, |_| true) {
            assert_eq!(outbox.answered(out.id, Ok(()), now), Answered::Done);
            sent.push(out.text);
        }
        sent
    }

    #[test]
    fn a_burst_then_the_steady_pace_in_order() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(Pace {
            burst: 3,
            per_second: 2,
        });
        for i in 0..6 {
            outbox.push("g", format!("m{i}"));
        }
        assert_eq!(drain(&mut outbox, t0), ["m0", "m1", "m2"]);
        assert_eq!(outbox.queued(), 3);
        assert_eq!(outbox.wake_at(t0), Some(t0 + Duration::from_millis(500)));
        assert!(drain(&mut outbox, t0 + Duration::from_millis(400)).is_empty());
        assert_eq!(drain(&mut outbox, t0 + Duration::from_millis(500)), ["m3"]);
        assert_eq!(
            drain(&mut outbox, t0 + Duration::from_secs(3)),
            ["m4", "m5"]
        );
        assert_eq!(outbox.wake_at(t0), None, "nothing waits");
    }

    #[test]
    fn one_message_at_a_time() {
        let (mut outbox, t0) = holding(&["a", "b"]);
        let a = outbox.next(t0, |_| true).unwrap().id;
        assert_eq!(outbox.next(t0, |_| true), None, "a is on its way");
        assert_eq!(outbox.wake_at(t0), None);
        outbox.answered(a, Ok(()), t0);
        assert_eq!(outbox.next(t0, |_| true).unwrap().text, "b");
    }

    #[test]
    fn rate_limited_waits_and_sends_the_same_message_again_first() {
        let (mut outbox, t0) = holding(&["a", "b"]);
        let a = outbox.next(t0, |_| true).unwrap().id;
        assert_eq!(
            outbox.answered(a, Err(Failure::RateLimited), t0),
            Answered::Again
        );
        assert_eq!(outbox.next(t0 + Duration::from_millis(999), |_| true), None);
        assert_eq!(outbox.queued(), 2);
        assert!(outbox.wake_at(t0).unwrap() >= t0 + HOLD_OFF);
        let again = outbox.next(t0 + HOLD_OFF, |_| true).unwrap();
        assert_eq!((again.id, again.text.as_str()), (a, "a"));
    }

    #[test]
    fn nothing_leaves_until_ready() {
        let (mut outbox, t0) = holding(&["typed offline"]);
        assert_eq!(outbox.next(t0, |_| false), None);
        assert_eq!(outbox.queued(), 1);
        assert_eq!(outbox.next(t0, |_| true).unwrap().text, "typed offline");
    }

    #[test]
    fn a_message_lost_with_its_connection_goes_again_only_if_the_log_lacks_it() {
        let (mut outbox, t0) = holding(&["stored", "next"]);
        let id = outbox.next(t0, |_| true).unwrap().id;
        assert_eq!(outbox.answered(id, Err(Failure::Lost), t0), Answered::Again);
        assert_eq!(outbox.next(t0, |_| true), None, "not before the catch-up");
        // The catch-up shows it was stored: it is not sent twice.
        outbox.stored("g", "stored");
        outbox.caught_up("g");
        assert_eq!(outbox.next(t0, |_| true).unwrap().text, "next");

        let mut outbox = Outbox::new(Pace::default());
        outbox.push("g", "lost".into());
        let id = outbox.next(t0, |_| true).unwrap().id;
        outbox.answered(id, Err(Failure::Lost), t0);
        outbox.stored("g", "something else");
        outbox.caught_up("g");
        let again = outbox.next(t0, |_| true).unwrap();
        assert_eq!((again.id, again.text.as_str()), (id, "lost"));
        // The log showing it before the reply came also settles it.
        outbox.stored("g", "lost");
        assert_eq!(
            outbox.answered(again.id, Err(Failure::Lost), t0),
            Answered::Done
        );
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_lost_reply_after_the_reconnect_and_its_catch_up_is_judged_right() {
        let (mut outbox, t0) = holding(&["late news"]);
        outbox.caught_up("g");
        let id = outbox.next(t0, |_| true).unwrap().id;
        // The reconnect and an empty catch-up are seen before the reply.
        outbox.reconnected();
        outbox.caught_up("g");
        assert_eq!(outbox.answered(id, Err(Failure::Lost), t0), Answered::Again);
        assert_eq!(
            outbox.next(t0, |_| true).map(|out| out.text).as_deref(),
            Some("late news"),
            "not stored, so it goes again without waiting for a catch-up that is over"
        );
    }

    #[test]
    fn refused_messages_come_back_and_the_rest_goes_on() {
        let (mut outbox, t0) = holding(&["too long", "fine"]);
        let id = outbox.next(t0, |_| true).unwrap().id;
        assert_eq!(
            outbox.answered(id, Err(Failure::Refused), t0),
            Answered::Refused("too long".into())
        );
        let id = outbox.next(t0, |_| true).unwrap().id;
        assert_eq!(outbox.answered(id + 7, Ok(()), t0), Answered::Done);
        assert_eq!(outbox.abandon("g"), ["fine"], "still on its way");
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_conversation_that_cannot_take_messages_holds_back_only_its_own() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(Pace::default());
        outbox.push("closed", "first".into());
        outbox.push("open", "second".into());
        outbox.push("closed", "third".into());
        let out = outbox.next(t0, |conv| conv == "open").unwrap();
        assert_eq!((out.conv.as_str(), out.text.as_str()), ("open", "second"));
        outbox.answered(out.id, Ok(()), t0);
        assert_eq!(outbox.next(t0, |conv| conv == "open"), None);
        // Open now: its messages go in the order typed.
        assert_eq!(drain(&mut outbox, t0), ["first", "third"]);
        // Given up for good: what was not stored comes back.
        outbox.push("gone", "a".into());
        outbox.push("open", "b".into());
        outbox.push("gone", "c".into());
        assert_eq!(outbox.abandon("gone"), ["a", "c"]);
        assert_eq!(drain(&mut outbox, t0), ["b"]);
    }
}
