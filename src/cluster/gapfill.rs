//! Which log entries a node must read from the store before it may deliver
//! what just arrived, as a pure function of what it has delivered.
//!
//! A node delivers each conversation's entries in sequence order, and keeps
//! the newest it delivered (its *head*). Entries reach it from its own
//! commits and from the bus; the bus may lose or reorder nothing within one
//! subscription, but it may lose whole messages (a reconnect, a slow
//! consumer). Sequence numbers are dense (the store assigns them under the
//! conversation's lock), so any number between the head and an arriving
//! entry that has not arrived is a gap: it is committed, and the store has
//! it. Reading it first keeps the order; skipping what is at or below the
//! head keeps anything from being delivered twice.

use crate::protocol::Seq;

/// A range of sequence numbers to read from the store: after `after`, up to
/// and including `upto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub after: Seq,
    pub upto: Seq,
}

/// The gaps to fill before delivering `arrived` (ascending sequence numbers)
/// to a conversation delivered up to `head`, when `tip` is known to be
/// committed (0 when nothing more is known). Entries at or below `head` are
/// not gaps: they were delivered and are skipped.
pub fn gaps(head: Seq, arrived: &[Seq], tip: Seq) -> Vec<Gap> {
    let mut found = Vec::new();
    let mut next = head + 1;
    for &seq in arrived {
        if seq < next {
            continue;
        }
        if seq > next {
            found.push(Gap {
                after: next - 1,
                upto: seq - 1,
            });
        }
        next = seq + 1;
    }
    if tip >= next {
        found.push(Gap {
            after: next - 1,
            upto: tip,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(after: Seq, upto: Seq) -> Gap {
        Gap { after, upto }
    }

    #[test]
    fn gaps_table() {
        // (delivered head, arrived, known tip, gaps to read first)
        let rows: &[(Seq, &[Seq], Seq, &[Gap])] = &[
            (0, &[1, 2, 3], 0, &[]),
            (5, &[6], 6, &[]),
            // Already delivered: skipped, nothing to read.
            (5, &[3, 4, 5], 0, &[]),
            (5, &[4, 5, 6, 7], 7, &[]),
            // One bus message lost before this one.
            (5, &[9, 10], 10, &[gap(5, 8)]),
            // Holes inside what arrived (another node's entries in between).
            (5, &[6, 8, 11], 0, &[gap(6, 7), gap(8, 10)]),
            // Nothing arrived, but the store is known to be ahead: a lost
            // last message, found by a heartbeat or a reconnect.
            (5, &[], 9, &[gap(5, 9)]),
            (5, &[], 5, &[]),
            (5, &[], 3, &[]),
            // Arrived entries past the known tip: the tip adds nothing.
            (5, &[6, 7], 6, &[]),
            (0, &[3], 4, &[gap(0, 2), gap(3, 4)]),
        ];
        for (head, arrived, tip, want) in rows {
            assert_eq!(
                gaps(*head, arrived, *tip),
                *want,
                "head {head}, arrived {arrived:?}, tip {tip}"
            );
        }
    }

    #[test]
    fn filling_every_gap_leaves_a_dense_run_from_the_head() {
        let (head, arrived, tip) = (10, [12, 13, 17, 20], 23);
        let mut all: Vec<Seq> = arrived.to_vec();
        for g in gaps(head, &arrived, tip) {
            assert!(g.upto > g.after);
            all.extend(g.after + 1..=g.upto);
        }
        all.sort_unstable();
        assert_eq!(all, (head + 1..=tip).collect::<Vec<_>>());
    }
}
