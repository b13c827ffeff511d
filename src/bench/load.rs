//! The generator's clients: connecting and joining, one reader task per
//! connection, and one publisher task per publishing connection.
//!
//! Clients speak the documented protocol directly (the hello and requests are
//! encoded by [`crate::protocol`]'s types; server frames are read in place by
//! [`scan`](super::scan)), so the per-delivery cost on the generator's side is
//! one read per batch of frames and a few dozen instructions per frame.

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::{Buf, BufMut, BytesMut};
use hdrhistogram::Histogram;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::Notify,
};

use super::{
    BenchError,
    layout::{Layout, group_index},
    scan::{Scanned, scan},
};
use crate::protocol::{
    ClientFrame, DEFAULT_MAX_FRAME_BYTES, Hello, PROTOCOL_VERSION, Request, RequestFrame, encode,
};

/// Reply ids at or above this one answer `send_message`; below it, setup requests.
const MESSAGE_ID_BASE: u32 = 1 << 31;
/// Reply ids from this one up to [`MESSAGE_ID_BASE`] answer `join_group`.
const JOIN_ID_BASE: u32 = 1 << 30;
/// Bytes of a message's header: run tag, publisher, sequence number, send time.
pub(crate) const HEADER_BYTES: usize = 8 + 8 + 16 + 16;
/// Latency histograms are sharded so readers on different threads rarely meet.
const HISTOGRAM_SHARDS: usize = 16;
/// Latencies above this are recorded as this (saturating).
const MAX_LATENCY_NS: u64 = 60_000_000_000;
const READ_CHUNK: usize = 64 * 1024;
/// How late Tokio's millisecond timer may wake a publisher.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// What one publisher has done, shared with the readers of its group.
#[derive(Debug, Default)]
pub(crate) struct PublisherState {
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    /// In-order, first-time deliveries of this publisher's messages, summed
    /// over every member of its group.
    pub receipts: AtomicU64,
    /// Woken when receipts move, so a publisher with a full window can go on.
    pub notify: Notify,
    /// Sequence number (as its reply id carries it) and send stamp of
    /// each message not yet acknowledged, oldest first.
    unacknowledged: Mutex<VecDeque<(u32, u64)>>,
}

impl PublisherState {
    /// The send stamp of the message a `sent` reply with `id` answers.
    /// Replies come in the order of the requests; older entries left
    /// unanswered (an error reply) are dropped on the way.
    fn acknowledged(&self, id: u32) -> Option<u64> {
        let mut waiting = lock(&self.unacknowledged);
        while let Some((n, stamp)) = waiting.pop_front() {
            if n == id {
                return Some(stamp);
            }
        }
        None
    }
}

/// A count that set-up waits on.
#[derive(Debug, Default)]
pub(crate) struct Milestone {
    count: AtomicUsize,
    notify: Notify,
}

impl Milestone {
    fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::Relaxed);
        self.notify.notify_one();
    }

    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Returns once the count is at least `target`.
    pub async fn reach(&self, target: usize) {
        while self.get() < target {
            // A wake-up between the check and the wait is not lost for
            // long: the wait gives up after a tick and checks again.
            let _ = tokio::time::timeout(Duration::from_millis(100), self.notify.notified()).await;
        }
    }
}

/// Everything the generator's tasks share.
pub(crate) struct Shared {
    pub epoch: Instant,
    pub tag: [u8; 8],
    pub layout: Layout,
    pub publishers_per_group: usize,
    /// Indexed by global publisher number, `group * publishers_per_group + p`.
    pub publishers: Vec<PublisherState>,
    histograms: Vec<Mutex<Histogram<u64>>>,
    /// From a publisher's send stamp to its `sent` reply: the commit and
    /// the reply's way back, without the fan-out to the other members.
    accepts: Mutex<Histogram<u64>>,
    /// Log entries a member received again or out of order, and bench
    /// messages of one publisher that arrived again or after a later one.
    pub duplicates: AtomicU64,
    /// Bench messages that reached a member of another group or came in
    /// a conversation other than the one they were posted to: both would
    /// be server bugs.
    pub misrouted: AtomicU64,
    /// Error replies and error frames, by code.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Join requests filed with `join_group` (those filed by a hello are
    /// filed once it is welcomed).
    pub joined: Milestone,
    /// Join requests approved.
    pub approved: Milestone,
    /// Frames the readers have read, so set-up can tell when its traffic
    /// has drained.
    pub frames: AtomicU64,
    /// Connections the server closed during the run.
    pub closed: AtomicUsize,
}

impl Shared {
    pub fn new(tag: [u8; 8], layout: Layout, publishers_per_group: usize) -> Self {
        Self {
            epoch: Instant::now(),
            tag,
            publishers: (0..layout.groups() * publishers_per_group)
                .map(|_| PublisherState::default())
                .collect(),
            histograms: (0..HISTOGRAM_SHARDS)
                .map(|_| {
                    Mutex::new(
                        Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
                            .expect("valid histogram bounds"),
                    )
                })
                .collect(),
            accepts: Mutex::new(
                Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            ),
            layout,
            publishers_per_group,
            duplicates: AtomicU64::new(0),
            misrouted: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            joined: Milestone::default(),
            approved: Milestone::default(),
            frames: AtomicU64::new(0),
            closed: AtomicUsize::new(0),
        }
    }

    fn record_error(&self, code: &[u8]) {
        let code = String::from_utf8_lossy(code).into_owned();
        *lock(&self.errors).entry(code).or_default() += 1;
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    /// All shards merged.
    pub fn latency(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid bounds");
        for shard in &self.histograms {
            all.add(&*lock(shard)).expect("same bounds");
        }
        all
    }

    pub fn accept_latency(&self) -> Histogram<u64> {
        lock(&self.accepts).clone()
    }

    /// Nanoseconds since the run's epoch: the clock of every send stamp.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn totals(&self) -> (u64, u64, u64) {
        self.publishers.iter().fold((0, 0, 0), |(s, a, r), p| {
            (
                s + p.sent.load(Ordering::Relaxed),
                a + p.accepted.load(Ordering::Relaxed),
                r + p.receipts.load(Ordering::Relaxed),
            )
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One connected client, after its hello was answered.
pub(crate) struct Connected {
    pub read: OwnedReadHalf,
    pub write: OwnedWriteHalf,
    /// Bytes read after the welcome.
    pub buffered: BytesMut,
    /// The welcome's `status`.
    pub status: String,
}

/// Connects and says hello; returns once the welcome has arrived.
pub(crate) async fn connect(
    addr: SocketAddr,
    name: &str,
    group: &str,
    secret: [u8; 32],
    compact: bool,
) -> Result<Connected, BenchError> {
    let socket = TcpStream::connect(addr)
        .await
        .map_err(|source| BenchError::Connect { addr, source })?;
    let _ = socket.set_nodelay(true);
    let (mut read, mut write) = socket.into_split();
    let hello = ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: name.to_owned(),
        secret: secret.to_vec(),
        group: Some(group.to_owned()),
        last_seq: Default::default(),
        compact,
    });
    let mut out = BytesMut::new();
    put_frame(&mut out, &encode(&hello));
    write.write_all(&out).await.map_err(BenchError::Io)?;
    let mut buffered = BytesMut::with_capacity(4096);
    loop {
        if let Some(len) = frame_len(&buffered)? {
            let status = match scan(&buffered[4..4 + len]) {
                Some(Scanned::Welcome { status }) => String::from_utf8_lossy(status).into_owned(),
                Some(Scanned::Error { code }) => {
                    return Err(BenchError::Refused {
                        name: name.to_owned(),
                        code: String::from_utf8_lossy(code).into_owned(),
                    });
                }
                _ => return Err(BenchError::Protocol("expected a welcome".into())),
            };
            buffered.advance(4 + len);
            return Ok(Connected {
                read,
                write,
                buffered,
                status,
            });
        }
        if read.read_buf(&mut buffered).await.map_err(BenchError::Io)? == 0 {
            return Err(BenchError::Protocol(
                "the server closed the connection during the hello".into(),
            ));
        }
    }
}

/// The length of the complete frame at the start of `buf`, if there is one.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, BenchError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > DEFAULT_MAX_FRAME_BYTES {
        return Err(BenchError::Protocol(format!(
            "the server announced a frame of {len} bytes"
        )));
    }
    Ok((buf.len() >= 4 + len).then_some(len))
}

fn put_frame(out: &mut BytesMut, payload: &[u8]) {
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
}

/// Appends a request frame.
fn put_request(out: &mut BytesMut, id: u32, request: Request) {
    let frame = ClientFrame::Request(RequestFrame { id, request });
    put_frame(out, &encode(&frame));
}

/// Writes `approve_request` for each name, pipelined.
pub(crate) async fn approve_all(
    write: &mut OwnedWriteHalf,
    group: &str,
    names: impl IntoIterator<Item = String>,
) -> Result<(), BenchError> {
    let requests = names.into_iter().map(|name| Request::ApproveRequest {
        conv: group.to_owned(),
        name,
    });
    write_all_requests(write, 1, requests).await
}

/// Writes `join_group` for each group, pipelined; the readers count the
/// replies in [`Shared::joined`].
pub(crate) async fn join_all(
    write: &mut OwnedWriteHalf,
    groups: impl IntoIterator<Item = String>,
) -> Result<(), BenchError> {
    let requests = groups.into_iter().map(|group| Request::JoinGroup { group });
    write_all_requests(write, JOIN_ID_BASE, requests).await
}

/// Writes requests with consecutive ids from `first_id`, a chunk at a time.
async fn write_all_requests(
    write: &mut OwnedWriteHalf,
    first_id: u32,
    requests: impl IntoIterator<Item = Request>,
) -> Result<(), BenchError> {
    let mut out = BytesMut::new();
    for (id, request) in (first_id..).zip(requests) {
        put_request(&mut out, id, request);
        if out.len() > READ_CHUNK {
            write.write_all(&out).await.map_err(BenchError::Io)?;
            out.clear();
        }
    }
    write.write_all(&out).await.map_err(BenchError::Io)
}

/// Who a reader works for.
pub(crate) struct ReaderRole {
    /// The client's home group; see [`Layout`] for the others.
    pub home: usize,
    /// Set if this connection publishes: its global publisher number.
    pub publisher: Option<usize>,
}

/// Reads one connection until it closes: counts and checks bench messages
/// per conversation, tallies setup events and replies.
pub(crate) async fn read_loop(
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    shared: Arc<Shared>,
    role: ReaderRole,
    shard: usize,
) {
    let per_group = shared.publishers_per_group;
    let layout = &shared.layout;
    // Per conversation (by slot): the newest log entry seen...
    let mut last_seq = vec![0_u64; layout.per_client()];
    // ...and per publisher of it (slot * per_group + p), the next sequence
    // number expected and the receipts not yet added to the shared count.
    let mut expected = vec![1_u64; layout.per_client() * per_group];
    let mut counts = vec![0_u64; layout.per_client() * per_group];
    let mut latencies = Vec::new();
    let mut accepts = Vec::new();
    loop {
        let now = shared.now_ns();
        let (mut at, mut frames) = (0, 0);
        loop {
            let len = match frame_len(&buf[at..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(_) => {
                    shared.record_error(b"oversized_frame");
                    return;
                }
            };
            let payload = &buf[at + 4..at + 4 + len];
            at += 4 + len;
            frames += 1;
            match scan(payload) {
                Some(Scanned::Message { conv, seq, text }) => {
                    let stamp = text.and_then(|text| parse_header(&shared.tag, text));
                    let group = group_index(&shared.tag, conv)
                        .and_then(|g| Some((g, layout.slot(role.home, g)?)));
                    let Some((g, slot)) = group else {
                        if stamp.is_some() {
                            shared.misrouted.fetch_add(1, Ordering::Relaxed);
                        }
                        continue; // not one of this client's conversations
                    };
                    if seq <= last_seq[slot] {
                        shared.duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    last_seq[slot] = seq;
                    let Some(stamp) = stamp else {
                        continue; // membership entries, someone else's text
                    };
                    let Some(p) = stamp
                        .publisher
                        .checked_sub(g * per_group)
                        .filter(|&p| p < per_group)
                    else {
                        shared.misrouted.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let i = slot * per_group + p;
                    if stamp.seq >= expected[i] {
                        // A jump shows up at the end as receipts short of
                        // what was sent: those are the gaps.
                        expected[i] = stamp.seq + 1;
                        counts[i] += 1;
                        latencies.push(now.saturating_sub(stamp.sent_ns));
                    } else {
                        shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Scanned::Event { kind }) => {
                    if kind == b"request_approved" {
                        shared.approved.add(1);
                    }
                }
                Some(Scanned::Reply { id, code }) => match (role.publisher, code) {
                    (Some(p), None) if id >= MESSAGE_ID_BASE => {
                        let publisher = &shared.publishers[p];
                        publisher.accepted.fetch_add(1, Ordering::Relaxed);
                        if let Some(stamp) = publisher.acknowledged(id) {
                            accepts.push(now.saturating_sub(stamp));
                        }
                    }
                    (_, None) if (JOIN_ID_BASE..MESSAGE_ID_BASE).contains(&id) => {
                        shared.joined.add(1)
                    }
                    (_, Some(code)) => shared.record_error(code),
                    _ => {}
                },
                Some(Scanned::Error { code }) => {
                    shared.record_error(code);
                    shared.closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Scanned::Welcome { .. }) | None => {
                    shared.record_error(b"undecodable_frame");
                }
            }
        }
        buf.advance(at);
        shared.frames.fetch_add(frames, Ordering::Relaxed);
        for (i, count) in counts.iter_mut().enumerate() {
            if *count > 0 {
                let (slot, p) = (i / per_group, i % per_group);
                let g = (role.home + slot) % layout.groups();
                let publisher = &shared.publishers[g * per_group + p];
                publisher.receipts.fetch_add(*count, Ordering::Release);
                publisher.notify.notify_one();
                *count = 0;
            }
        }
        if !latencies.is_empty() {
            let mut histogram = lock(&shared.histograms[shard % HISTOGRAM_SHARDS]);
            for latency in latencies.drain(..) {
                histogram.saturating_record(latency.max(1));
            }
        }
        if !accepts.is_empty() {
            let mut histogram = lock(&shared.accepts);
            for latency in accepts.drain(..) {
                histogram.saturating_record(latency.max(1));
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                shared.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(_) => {}
        }
    }
}

/// How a publisher paces itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Text bytes per message.
    pub size: usize,
    /// The most messages this publisher may have sent that have not yet
    /// reached every member of its group.
    pub window: u64,
    /// Time between two sends of this publisher; `None`: flat out.
    pub interval: Option<Duration>,
    /// When this publisher's first message is due at a fixed rate.
    /// Publishers are spread over one interval rather than sending in step.
    pub first: Instant,
    pub deadline: Instant,
}

/// Sends messages until the deadline. Returns the writer, which must stay
/// open until the last replies and deliveries are in: closing it would end
/// the session.
pub(crate) async fn publish(
    mut write: OwnedWriteHalf,
    group: String,
    shared: Arc<Shared>,
    publisher: usize,
    members: u64,
    pace: Pace,
) -> Result<OwnedWriteHalf, BenchError> {
    let state = &shared.publishers[publisher];
    let mut seq = 0_u64;
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let mut text = String::with_capacity(pace.size);
    loop {
        let now = Instant::now();
        if now >= pace.deadline {
            return Ok(write);
        }
        let delivered = state.receipts.load(Ordering::Acquire) / members.max(1);
        let room = (delivered + pace.window).saturating_sub(seq);
        if room == 0 {
            let _ = tokio::time::timeout_at(pace.deadline.into(), state.notify.notified()).await;
            continue;
        }
        let due_at =
            |n: u64| pace.first + pace.interval.unwrap_or_default().mul_f64((n - 1) as f64);
        let burst = match pace.interval {
            None => room,
            Some(interval) => {
                let due = match now.checked_duration_since(pace.first) {
                    Some(since) => (since.as_nanos() / interval.as_nanos().max(1)) as u64 + 1,
                    None => 0,
                };
                if due <= seq {
                    tokio::time::sleep_until(due_at(seq + 1).min(pace.deadline).into()).await;
                    continue;
                }
                (due - seq).min(room)
            }
        };
        out.clear();
        let sent_now = shared.now_ns();
        for k in 1..=burst {
            let n = seq + k;
            // At a fixed rate, a message that goes out later than the
            // timer's granularity after it was due (because the window was
            // full or a write blocked: the server was slow) is stamped with
            // the time it was due, so the stall shows up in the latency
            // instead of quietly lowering the offered load.
            let stamp = match pace.interval {
                None => sent_now,
                Some(_) => {
                    let due = (due_at(n) - shared.epoch).as_nanos() as u64;
                    if sent_now.saturating_sub(due) > TIMER_SLACK.as_nanos() as u64 {
                        due
                    } else {
                        sent_now
                    }
                }
            };
            write_header(&mut text, &shared.tag, publisher, n, stamp, pace.size);
            let id = MESSAGE_ID_BASE | (n as u32 & !MESSAGE_ID_BASE);
            lock(&state.unacknowledged).push_back((id, stamp));
            let conv = group.clone();
            put_request(
                &mut out,
                id,
                Request::SendMessage {
                    conv,
                    text: text.clone(),
                },
            );
        }
        write.write_all(&out).await.map_err(BenchError::Io)?;
        seq += burst;
        state.sent.store(seq, Ordering::Relaxed);
    }
}

/// What a bench message's text carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub publisher: usize,
    pub seq: u64,
    pub sent_ns: u64,
}

/// Fills `text` with a message of exactly `size` bytes: the run tag, the
/// publisher, its sequence number and the send time in fixed-width hex, then
/// padding.
pub(crate) fn write_header(
    text: &mut String,
    tag: &[u8; 8],
    publisher: usize,
    seq: u64,
    sent_ns: u64,
    size: usize,
) {
    use std::fmt::Write;
    text.clear();
    text.push_str(std::str::from_utf8(tag).expect("the tag is hex"));
    let _ = write!(text, "{:08x}{seq:016x}{sent_ns:016x}", publisher as u32);
    while text.len() < size {
        text.push('.');
    }
}

/// Reads a text written by [`write_header`] with this run's tag.
pub(crate) fn parse_header(tag: &[u8; 8], text: &[u8]) -> Option<Stamp> {
    if text.len() < HEADER_BYTES || &text[..8] != tag {
        return None;
    }
    Some(Stamp {
        publisher: hex(&text[8..16])? as usize,
        seq: hex(&text[16..32])?,
        sent_ns: hex(&text[32..48])?,
    })
}

fn hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0_u64, |acc, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some((acc << 4) | u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_at_the_requested_size() {
        let mut text = String::new();
        write_header(&mut text, b"0badf00d", 12, 99, 123_456_789, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(
            parse_header(b"0badf00d", text.as_bytes()),
            Some(Stamp {
                publisher: 12,
                seq: 99,
                sent_ns: 123_456_789
            })
        );
        assert_eq!(parse_header(b"feedbeef", text.as_bytes()), None);
        assert_eq!(parse_header(b"0badf00d", b"0badf00d short"), None);
    }
}
