//! The send queue: what the user typed leaves one message at a time, in
//! the order it was typed, paced under the server's flood limit (as irssi
//! and WeeChat pace their lines). Nothing typed is lost: a message the
//! server was too busy for, or that met a dropped connection, waits at the
//! head of the queue and goes again once the client may send.
//!
//! Exactly once: a message whose connection dropped after it left may be
//! stored or not. It waits, marked unsure, until the catch-up after the
//! reconnect shows it ([`Outbox::stored`]) or ends without it, and only
//! then goes again. Its failed reply and the reconnect travel apart and
//! may arrive in either order; the queue counts connections so that a
//! reply arriving after the catch-up is still judged right.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

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
    text: String,
    /// It left once and its connection dropped before the reply: the
    /// server may have stored it.
    unsure: bool,
    /// The connection it last left on.
    sent_on: u64,
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

#[derive(Debug, Clone)]
pub struct Outbox {
    pace: Pace,
    waiting: VecDeque<Queued>,
    in_flight: Option<Queued>,
    next_id: MessageId,
    tokens: f64,
    refilled: Option<Instant>,
    hold_until: Option<Instant>,
    /// A message met a dropped connection: nothing goes until the catch-up
    /// after the reconnect has shown whether it was stored.
    unsettled: bool,
    /// Connections so far (the first is 0).
    connection: u64,
    /// The connection whose catch-up is over, if any.
    caught_up_on: Option<u64>,
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
            unsettled: false,
            connection: 0,
            caught_up_on: None,
        }
    }

    /// Queues a message typed by the user.
    pub fn push(&mut self, text: String) -> MessageId {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.push_back(Queued {
            id,
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

    /// The next message to send now, if one may go: `ready` says the
    /// connection is up and caught up with the log.
    pub fn next(&mut self, now: Instant, ready: bool) -> Option<(MessageId, String)> {
        if !ready || self.unsettled || self.in_flight.is_some() || self.waiting.is_empty() {
            return None;
        }
        if self.hold_until.is_some_and(|until| until > now) {
            return None;
        }
        self.refill(now);
        if self.tokens < 1.0 {
            return None;
        }
        self.tokens -= 1.0;
        let mut message = self.waiting.pop_front()?;
        message.sent_on = self.connection;
        let next = (message.id, message.text.clone());
        self.in_flight = Some(message);
        Some(next)
    }

    /// When a message could go next, if one waits for the pace (not for
    /// the connection or for a reply).
    pub fn wake_at(&self, now: Instant) -> Option<Instant> {
        if self.unsettled || self.in_flight.is_some() || self.waiting.is_empty() {
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
                            && self.caught_up_on == Some(self.connection) => {}
                    Failure::Lost => {
                        message.unsure = true;
                        self.unsettled = true;
                    }
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

    /// One of our own messages arrived in the log: if it is the one on its
    /// way or one that may have been stored, it needs no sending again.
    pub fn stored(&mut self, text: &str) {
        if self.in_flight.as_ref().is_some_and(|m| m.text == text) {
            self.in_flight = None;
        } else if self
            .waiting
            .front()
            .is_some_and(|m| m.unsure && m.text == text)
        {
            self.waiting.pop_front();
        }
    }

    /// Connected again: a catch-up follows.
    pub fn reconnected(&mut self) {
        self.connection += 1;
        self.hold_until = None;
    }

    /// Catching up ended: unsure messages not seen were not stored.
    pub fn caught_up(&mut self) {
        self.caught_up_on = Some(self.connection);
        self.unsettled = false;
        for message in &mut self.waiting {
            message.unsure = false;
        }
    }

    /// Gives up on everything not stored (the session is over for good):
    /// the texts, oldest first.
    pub fn abandon(&mut self) -> Vec<String> {
        let in_flight = self.in_flight.take();
        in_flight
            .into_iter()
            .chain(self.waiting.drain(..))
            .map(|m| m.text)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A default-paced outbox holding `texts`, and the time it starts at.
    fn holding(texts: &[&str]) -> (Outbox, Instant) {
        let mut outbox = Outbox::new(Pace::default());
        for text in texts {
            outbox.push((*text).to_owned());
        }
        (outbox, Instant::now())
    }

    fn drain(outbox: &mut Outbox, now: Instant) -> Vec<String> {
        let mut sent = Vec::new();
        while let Some((id, text)) = outbox.next(now, true) {
            assert_eq!(outbox.answered(id, Ok(()), now), Answered::Done);
            sent.push(text);
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
            outbox.push(format!("m{i}"));
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
        let (a, _) = outbox.next(t0, true).unwrap();
        assert_eq!(outbox.next(t0, true), None, "a is on its way");
        assert_eq!(outbox.wake_at(t0), None);
        outbox.answered(a, Ok(()), t0);
        assert_eq!(outbox.next(t0, true).unwrap().1, "b");
    }

    #[test]
    fn rate_limited_waits_and_sends_the_same_message_again_first() {
        let (mut outbox, t0) = holding(&["a", "b"]);
        let (a, _) = outbox.next(t0, true).unwrap();
        assert_eq!(
            outbox.answered(a, Err(Failure::RateLimited), t0),
            Answered::Again
        );
        assert_eq!(outbox.next(t0 + Duration::from_millis(999), true), None);
        assert_eq!(outbox.queued(), 2);
        assert!(outbox.wake_at(t0).unwrap() >= t0 + HOLD_OFF);
        let (again, text) = outbox.next(t0 + HOLD_OFF, true).unwrap();
        assert_eq!((again, text.as_str()), (a, "a"));
    }

    #[test]
    fn nothing_leaves_until_ready() {
        let (mut outbox, t0) = holding(&["typed offline"]);
        assert_eq!(outbox.next(t0, false), None);
        assert_eq!(outbox.queued(), 1);
        assert_eq!(outbox.next(t0, true).unwrap().1, "typed offline");
    }

    #[test]
    fn a_message_lost_with_its_connection_goes_again_only_if_the_log_lacks_it() {
        let (mut outbox, t0) = holding(&["stored", "next"]);
        let (id, _) = outbox.next(t0, true).unwrap();
        assert_eq!(outbox.answered(id, Err(Failure::Lost), t0), Answered::Again);
        assert_eq!(outbox.next(t0, true), None, "not before the catch-up");
        // The catch-up shows it was stored: it is not sent twice.
        outbox.stored("stored");
        outbox.caught_up();
        assert_eq!(outbox.next(t0, true).unwrap().1, "next");

        let mut outbox = Outbox::new(Pace::default());
        outbox.push("lost".into());
        let (id, _) = outbox.next(t0, true).unwrap();
        outbox.answered(id, Err(Failure::Lost), t0);
        outbox.stored("something else");
        outbox.caught_up();
        let (again, text) = outbox.next(t0, true).unwrap();
        assert_eq!((again, text.as_str()), (id, "lost"));
        // The log showing it before the reply came also settles it.
        outbox.stored("lost");
        assert_eq!(
            outbox.answered(again, Err(Failure::Lost), t0),
            Answered::Done
        );
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_lost_reply_after_the_reconnect_and_its_catch_up_is_judged_right() {
        let (mut outbox, t0) = holding(&["late news"]);
        outbox.caught_up();
        let (id, _) = outbox.next(t0, true).unwrap();
        // The reconnect and an empty catch-up are seen before the reply.
        outbox.reconnected();
        outbox.caught_up();
        assert_eq!(outbox.answered(id, Err(Failure::Lost), t0), Answered::Again);
        assert_eq!(
            outbox.next(t0, true).map(|(_, text)| text).as_deref(),
            Some("late news"),
            "not stored, so it goes again without waiting for a catch-up that is over"
        );
    }

    #[test]
    fn refused_messages_come_back_and_the_rest_goes_on() {
        let (mut outbox, t0) = holding(&["too long", "fine"]);
        let (id, _) = outbox.next(t0, true).unwrap();
        assert_eq!(
            outbox.answered(id, Err(Failure::Refused), t0),
            Answered::Refused("too long".into())
        );
        let (id, _) = outbox.next(t0, true).unwrap();
        assert_eq!(outbox.answered(id + 7, Ok(()), t0), Answered::Done);
        assert_eq!(outbox.abandon(), ["fine"], "still on its way");
        assert_eq!(outbox.queued(), 0);
    }
}
