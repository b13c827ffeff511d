//! File transfers as the client shows them: every upload and download in
//! progress with its byte counts, speed and time left, and every file
//! announced in the group with what became of it here. Only numbers and
//! names: the runtime moves the bytes and reports back.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::{client::rate::RecentRate, protocol::FileInfo};

/// Names a transfer between `update` and the runtime.
pub type TransferId = u64;

/// How often the screen follows progress: at most ten frames a second,
/// however many chunks arrive in between.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// The speed is measured over this much recent time, so it follows a
/// change of pace instead of averaging the whole transfer.
const SPEED_WINDOW: Duration = Duration::from_secs(3);

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upload,
    Download,
}

/// One upload or download in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    pub direction: Direction,
    /// The file name as shown (clean).
    pub name: String,
    /// Bytes in all; 0 until an upload's size is known.
    pub total: u64,
    /// Bytes acknowledged (upload) or received (download).
    pub done: u64,
    pub started: Instant,
    /// For a download: the announced file's id.
    pub file_id: Option<String>,
    /// Cancel was asked for; the runtime's answer is still to come.
    pub cancelling: bool,
    /// A download nobody asked for (the automatic rule): when it is saved,
    /// its announcement says so and no other line does.
    pub auto: bool,
    /// Bytes done, recently, for the speed.
    rate: RecentRate,
}

impl Transfer {
    pub fn new(
        id: TransferId,
        direction: Direction,
        name: String,
        total: u64,
        now: Instant,
    ) -> Transfer {
        Transfer {
            id,
            direction,
            name,
            total,
            done: 0,
            started: now,
            file_id: None,
            cancelling: false,
            auto: false,
            rate: {
                let mut rate = RecentRate::default();
                rate.record(now, 0, SPEED_WINDOW);
                rate
            },
        }
    }

    /// Records that `done` bytes are through at `now`.
    pub fn progress(&mut self, done: u64, now: Instant) {
        if self.done == 0 {
            // The speed counts from the first bytes: an upload spends a
            // moment hashing its file before any byte moves.
            self.rate.restart();
        }
        self.done = done;
        self.rate.record(now, done, SPEED_WINDOW);
    }

    /// Whole percent done, 0 while the size is unknown.
    pub fn percent(&self) -> u64 {
        percent(self.done, self.total)
    }

    /// Bytes per second over the recent window; `None` before a tenth of a
    /// second has passed (too early to say).
    pub fn speed(&self) -> Option<f64> {
        self.rate.per_second(Duration::from_millis(100))
    }

    /// Time left at the current speed; `None` when unknown or stalled.
    pub fn eta(&self) -> Option<Duration> {
        eta(self.total.saturating_sub(self.done), self.speed()?)
    }
}

pub fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        0
    } else {
        (u128::from(done.min(total)) * 100 / u128::from(total)) as u64
    }
}

/// How long `left` bytes take at `speed` bytes a second.
pub fn eta(left: u64, speed: f64) -> Option<Duration> {
    (speed > 0.0)
        .then(|| Duration::try_from_secs_f64(left as f64 / speed).ok())
        .flatten()
}

/// Does a file announced by `from` get fetched without asking? Only
/// others' files, only when automatic downloads are on (`limit_mb` > 0),
/// and only up to the limit.
pub fn auto_download(size: u64, limit_mb: u64, from: &str, me: &str) -> bool {
    limit_mb > 0 && from != me && size <= limit_mb.saturating_mul(MIB)
}

/// `2.4 MiB`, `512 B`: binary units, one decimal from KiB up.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `40 ms`, `1.2 s`, `45 s`, `3 min 05 s`, `2 h 10 min`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 0.1 {
        return format!("{} ms", duration.as_millis());
    }
    if secs < 10.0 {
        return format!("{secs:.1} s");
    }
    let whole = duration.as_secs();
    match whole {
        0..60 => format!("{whole} s"),
        60..3600 => format!("{} min {:02} s", whole / 60, whole % 60),
        _ => format!("{} h {:02} min", whole / 3600, whole % 3600 / 60),
    }
}

/// How a transfer ended, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The upload is announced in the group.
    Sent,
    /// The download passed its hash check and is here.
    Saved(PathBuf),
    Cancelled,
    /// The server no longer has the file (it expired or made room).
    Unavailable,
    /// Anything else, in a sentence (the server's own words when it said no).
    Failed(String),
}

/// What the runtime tells `update` about a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferUpdate {
    /// An upload's size, once the file is opened.
    Size(u64),
    /// Bytes through so far.
    Progress(u64),
    Finished(Finish),
}

/// What became of an announced file on this side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Not fetched: waits for the user.
    Waiting,
    /// This client sent it.
    Sent,
    Downloading(TransferId),
    Saved(PathBuf),
    Unavailable,
    Failed(String),
}

/// A file shared in the group: announced in the log, or listed by the
/// server as one it still has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// As announced, with the name cleaned again on arrival.
    pub info: FileInfo,
    pub from: String,
    pub at_ms: i64,
    pub state: FileState,
    /// Its announcement is in the messages pane (a file known only from
    /// the server's list is not, until its entry comes).
    pub shown: bool,
}

impl SharedFile {
    /// Can a download start now? Not while one runs, not once saved, and
    /// not when the server no longer has it.
    pub fn can_download(&self) -> bool {
        matches!(
            self.state,
            FileState::Waiting | FileState::Sent | FileState::Failed(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_a_person_writes_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(2_516_582), "2.4 MiB");
        assert_eq!(human_size(1024 * MIB - 1), "1.0 GiB");
        assert_eq!(human_size(u64::MAX), "16384.0 PiB");
        assert_eq!(human_duration(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(human_duration(Duration::from_micros(40_500)), "40 ms");
        assert_eq!(human_duration(Duration::from_secs(45)), "45 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 05 s");
        assert_eq!(human_duration(Duration::from_secs(7800)), "2 h 10 min");
    }

    #[test]
    fn percent_speed_and_time_left() {
        let t0 = Instant::now();
        let mut t = Transfer::new(1, Direction::Upload, "a.bin".into(), 10 * MIB, t0);
        assert_eq!(t.percent(), 0);
        assert_eq!(t.speed(), None, "no reading yet");
        assert_eq!(t.eta(), None);
        // An upload hashes its file first: the speed counts from the
        // first bytes, not from the start.
        t.progress(MIB, t0 + Duration::from_secs(2));
        assert_eq!(t.speed(), None, "too early to say");
        t.progress(3 * MIB, t0 + Duration::from_secs(3));
        assert_eq!(t.percent(), 30);
        assert_eq!(t.speed(), Some(2.0 * MIB as f64));
        assert_eq!(t.eta(), Some(Duration::from_millis(3_500)));
        // The pace drops: after the window only recent readings count.
        for s in 4..=8 {
            t.progress(3 * MIB + (s - 3) * MIB / 2, t0 + Duration::from_secs(s));
        }
        let speed = t.speed().unwrap();
        assert!((speed - MIB as f64 / 2.0).abs() < 1.0, "{speed}");
        assert_eq!(t.percent(), 55);
        assert_eq!(t.eta(), Some(Duration::from_secs(9)));
        // Stalled: no time left can be given.
        assert_eq!(eta(100, 0.0), None);
        // Unknown size.
        assert_eq!(percent(5, 0), 0);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn only_others_small_files_come_by_themselves() {
        assert!(auto_download(20 * MIB, 20, "alice", "bob"));
        assert!(!auto_download(20 * MIB + 1, 20, "alice", "bob"));
        assert!(!auto_download(1, 0, "alice", "bob"), "0 means never");
        assert!(!auto_download(1, 20, "bob", "bob"), "not my own");
        assert!(auto_download(u64::MAX, u64::MAX, "alice", "bob"));
    }
}
