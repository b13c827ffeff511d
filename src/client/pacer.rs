//! How much of a file to have on the wire at once.
//!
//! A transfer shares its connection with chat, and every byte of a file in
//! flight is a byte that a chat message sent now waits behind. So the pacer
//! keeps just enough in flight to fill the link (its rate times the round
//! trip) plus [`QUEUE`] worth of slack, measuring both from the replies: the
//! round trip as the quickest reply seen, the rate over the last few round
//! trips. It starts with two small pieces and grows as the replies show the
//! link takes more, so a slow link never has megabytes queued ahead of a
//! chat message, and loopback reaches the full budget within milliseconds.

use std::time::{Duration, Instant};

use super::rate::RecentRate;
use crate::protocol::BULK_PIECE_BYTES;

/// The smallest piece: the server paces pieces this big by the transfer,
/// not by its request budget.
const MIN_PIECE: u64 = BULK_PIECE_BYTES;
/// How long a chat message may wait behind file data, roughly.
const QUEUE: Duration = Duration::from_millis(25);
/// Aim a little above the measured rate so the rate can grow.
const GAIN: f64 = 1.25;
/// Pieces in flight at most, whatever the link.
const MAX_PIECES: u64 = 32;
/// The rate is measured over at least this long, or four round trips.
const RATE_SPAN: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Pacer {
    max_piece: u64,
    min_rtt: Option<Duration>,
    /// Bytes acknowledged, over recent round trips.
    rate: RecentRate,
    acked: u64,
    replies: u32,
}

impl Pacer {
    /// A pacer for pieces of at most `max_piece` bytes (the server's chunk size).
    pub fn new(max_piece: u64, now: Instant) -> Self {
        let mut rate = RecentRate::default();
        rate.record(now, 0, RATE_SPAN);
        Self {
            max_piece: max_piece.max(1),
            min_rtt: None,
            rate,
            acked: 0,
            replies: 0,
        }
    }

    /// Bytes to keep in flight now.
    pub fn budget(&self) -> u64 {
        let floor = 2 * MIN_PIECE.min(self.max_piece);
        let Some(rate) = self.rate() else {
            return floor;
        };
        let rtt = self.min_rtt.unwrap_or_default();
        let wanted = rate * (rtt + QUEUE).as_secs_f64() * GAIN;
        (wanted as u64).clamp(floor, MAX_PIECES * self.max_piece)
    }

    /// How big the next piece should be: a quarter of the budget, so
    /// several are in flight, within the sizes the server takes.
    pub fn piece(&self) -> u64 {
        (self.budget() / 4).clamp(MIN_PIECE.min(self.max_piece), self.max_piece)
    }

    /// Whether another piece may go out with `in_flight` bytes unanswered.
    pub fn may_send(&self, in_flight: u64) -> bool {
        in_flight == 0 || in_flight + self.piece() <= self.budget()
    }

    /// A reply for `bytes` sent at `sent` arrived at `now`.
    pub fn acked(&mut self, bytes: u64, sent: Instant, now: Instant) {
        let rtt = now.saturating_duration_since(sent);
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |min| min.min(rtt)));
        self.acked += bytes;
        let span = RATE_SPAN.max(self.min_rtt.unwrap_or_default() * 4);
        self.rate.record(now, self.acked, span);
        self.replies = self.replies.saturating_add(1);
    }

    /// Bytes per second acknowledged recently; `None` before two replies.
    fn rate(&self) -> Option<f64> {
        if self.replies < 2 {
            return None;
        }
        self.rate.per_second(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;
    const CHUNK: u64 = 256 * 1024;

    /// What a simulated transfer of `total` bytes over a link of `rate`
    /// bytes/s and round trip `rtt` saw: its throughput, and the longest a
    /// chat message sent at any moment would have waited behind file data
    /// already on the link.
    struct Run {
        throughput: f64,
        worst_chat_wait: Duration,
    }

    /// Pieces cross the link one after another at `rate`, then their reply
    /// takes the round trip. Virtual time: no sleeping, same result always.
    fn simulate(rate: f64, rtt: Duration, total: u64) -> Run {
        let start = Instant::now();
        let mut pacer = Pacer::new(CHUNK, start);
        let (mut now, mut link_free) = (start, start);
        let mut in_flight: VecDeque<(Instant, Instant, u64)> = VecDeque::new();
        let (mut sent, mut worst) = (0, Duration::ZERO);
        loop {
            while sent < total && pacer.may_send(in_flight.iter().map(|p| p.2).sum()) {
                let piece = pacer.piece().min(total - sent);
                link_free = link_free.max(now) + Duration::from_secs_f64(piece as f64 / rate);
                in_flight.push_back((now, link_free + rtt, piece));
                sent += piece;
            }
            // A chat message sent now leaves once the link is free.
            worst = worst.max(link_free.saturating_duration_since(now));
            let Some((sent_at, acked_at, piece)) = in_flight.pop_front() else {
                break;
            };
            now = acked_at;
            pacer.acked(piece, sent_at, now);
        }
        Run {
            throughput: total as f64 / now.duration_since(start).as_secs_f64(),
            worst_chat_wait: worst,
        }
    }

    #[test]
    fn a_slow_link_is_kept_busy_without_a_long_queue() {
        let rate = 1_000_000.0;
        let run = simulate(rate, Duration::from_millis(30), 20_000_000);
        assert!(run.throughput > 0.95 * rate, "{}", run.throughput);
        // Two minimum pieces: about 0.13 s, where a fixed window of eight
        // full chunks would be 2 s.
        assert!(
            run.worst_chat_wait < Duration::from_millis(200),
            "{:?}",
            run.worst_chat_wait
        );
    }

    #[test]
    fn a_fast_far_link_gets_enough_in_flight() {
        let rate = 100.0 * MIB;
        let run = simulate(rate, Duration::from_millis(80), 1_000_000_000);
        assert!(run.throughput > 0.7 * rate, "{}", run.throughput / MIB);
        assert!(
            run.worst_chat_wait < Duration::from_millis(100),
            "{:?}",
            run.worst_chat_wait
        );
    }

    #[test]
    fn loopback_reaches_full_pieces_and_a_short_queue() {
        let rate = 800.0 * MIB;
        let run = simulate(rate, Duration::from_micros(200), 500_000_000);
        assert!(run.throughput > 0.9 * rate, "{}", run.throughput / MIB);
        assert!(
            run.worst_chat_wait < Duration::from_millis(15),
            "{:?}",
            run.worst_chat_wait
        );
    }

    #[test]
    fn pieces_stay_within_what_the_server_takes() {
        let now = Instant::now();
        let pacer = Pacer::new(1000, now);
        assert_eq!(pacer.piece(), 1000);
        assert!(pacer.may_send(0));
        let pacer = Pacer::new(CHUNK, now);
        assert_eq!(pacer.piece(), MIN_PIECE);
        assert!(pacer.may_send(MIN_PIECE));
        assert!(!pacer.may_send(2 * MIN_PIECE));
    }
}
