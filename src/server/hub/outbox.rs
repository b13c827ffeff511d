//! A session's queue of outbound frames: the hub (and the session's own
//! replies) put frames in, the session takes them out a whole batch at a
//! time.
//!
//! It replaces a bounded Tokio channel plus an unbounded one for orders to
//! close. Those allocate their first blocks (3 KiB) when the connection
//! opens and keep every block a burst grew; this queue is a `VecDeque`
//! that holds memory only while frames wait, and the session takes a batch
//! by swapping it for its own empty buffer (one lock, not one atomic
//! handshake per frame). The session is woken when the queue goes from
//! empty to not empty, not on every frame.

use std::{
    collections::VecDeque,
    sync::Mutex,
    task::{Context, Poll},
};

use futures::task::AtomicWaker;

use super::Outbound;
use crate::{
    protocol::{ErrorBody, ErrorCode},
    sync::lock,
};

/// One session's outbound queue; shared by the hub's handle, the
/// session's reply address and the session itself.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// A `std` mutex: held for a push or a swap, never across an `.await`.
    state: Mutex<State>,
    waker: AtomicWaker,
    /// Most frames that may wait; a session further behind is too slow.
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Outbound>,
    /// The session must close with this error at once, before any frame
    /// (it fell too far behind).
    close: Option<ErrorBody>,
    /// The session must close with this error once the frames queued
    /// before it are taken.
    last: Option<ErrorBody>,
    /// The session has ended: nothing more is queued.
    ended: bool,
    /// Its queue was once full: it was told to close as too slow.
    fell_behind: bool,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            waker: AtomicWaker::new(),
            capacity,
        }
    }

    /// Queues `out`. A session whose queue is full is told to close (it
    /// catches up when it comes back), so that it never holds others up.
    /// Returns whether the session is still usable.
    pub fn offer(&self, out: Outbound) -> bool {
        let mut state = lock(&self.state);
        if state.ended || state.close.is_some() || state.last.is_some() {
            return false;
        }
        if state.queue.len() >= self.capacity {
            state.fell_behind = true;
            state.close = Some(ErrorBody::new(
                ErrorCode::TooSlow,
                "you fell too far behind; reconnect to catch up",
            ));
            drop(state);
            self.waker.wake();
            return false;
        }
        let was_empty = state.queue.is_empty();
        state.queue.push_back(out);
        drop(state);
        // A session that has frames waiting has been woken already and
        // takes them all at once.
        if was_empty {
            self.waker.wake();
        }
        true
    }

    /// Tells the session to close with `error` after the frames already
    /// queued (a reply it is owed goes first); nothing is queued after it.
    pub fn close(&self, error: ErrorBody) {
        let mut state = lock(&self.state);
        if state.close.is_none() && state.last.is_none() && !state.ended {
            state.last = Some(error);
        }
        drop(state);
        self.waker.wake();
    }

    /// Waits for frames and swaps them into `batch` (which must be empty),
    /// or returns the error the session must close with.
    pub async fn take(&self, batch: &mut VecDeque<Outbound>) -> Result<(), ErrorBody> {
        std::future::poll_fn(|cx| self.poll_take(cx, batch)).await
    }

    fn poll_take(
        &self,
        cx: &mut Context<'_>,
        batch: &mut VecDeque<Outbound>,
    ) -> Poll<Result<(), ErrorBody>> {
        debug_assert!(batch.is_empty(), "the last batch was written");
        let mut state = lock(&self.state);
        if let Some(error) = state.close.take() {
            state.ended = true;
            state.queue = VecDeque::new();
            return Poll::Ready(Err(error));
        }
        if state.queue.is_empty() {
            if let Some(error) = state.last.take() {
                state.ended = true;
                return Poll::Ready(Err(error));
            }
            // Registered under the lock: a frame queued after this check
            // finds the waker.
            self.waker.register(cx.waker());
            return Poll::Pending;
        }
        std::mem::swap(&mut state.queue, batch);
        Poll::Ready(Ok(()))
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.state).queue.is_empty()
    }

    /// Frames waiting now, for the queue depth metric.
    pub fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Whether [`Outbox::offer`] refused because the queue was full, not
    /// because the session had ended or was closing: only then did the
    /// member fail to keep up (when many leave at once, the hub meets
    /// many ended sessions before it hears that they left).
    pub fn fell_behind(&self) -> bool {
        lock(&self.state).fell_behind
    }

    /// The session has ended: drop what waits and refuse what comes.
    pub fn end(&self) {
        let mut state = lock(&self.state);
        state.ended = true;
        state.queue = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(n: u8) -> Outbound {
        Outbound::Frame {
            entry: None,
            bytes: Bytes::from(vec![n]),
        }
    }

    fn bytes(batch: &VecDeque<Outbound>) -> Vec<u8> {
        batch
            .iter()
            .map(|out| match out {
                Outbound::Frame { bytes, .. } => bytes[0],
                other => panic!("not a frame: {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn takes_everything_queued_in_order_and_holds_nothing_when_drained() {
        let outbox = Outbox::new(8);
        for n in 0..3 {
            assert!(outbox.offer(frame(n)));
        }
        let mut batch = VecDeque::new();
        outbox.take(&mut batch).await.unwrap();
        assert_eq!(bytes(&batch), [0, 1, 2]);
        assert!(outbox.is_empty());
        assert_eq!(lock(&outbox.state).queue.capacity(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_closes_the_session_ahead_of_its_frames() {
        let outbox = Outbox::new(2);
        assert!(outbox.offer(frame(0)));
        assert!(outbox.offer(frame(1)));
        assert!(!outbox.offer(frame(2)));
        assert!(!outbox.offer(frame(3)), "a closing session takes nothing");
        assert!(outbox.fell_behind());
        let mut batch = VecDeque::new();
        let error = outbox.take(&mut batch).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::TooSlow);
        assert!(batch.is_empty());
        assert!(!outbox.offer(frame(4)));
        assert!(outbox.fell_behind(), "still, once it has ended");
    }

    #[tokio::test]
    async fn a_close_comes_after_the_frames_queued_before_it() {
        let outbox = Outbox::new(8);
        assert!(outbox.offer(frame(0)));
        outbox.close(ErrorBody::new(ErrorCode::Internal, "reconnect"));
        assert!(!outbox.offer(frame(1)), "a closing session takes nothing");
        let mut batch = VecDeque::new();
        outbox.take(&mut batch).await.unwrap();
        assert_eq!(bytes(&batch), [0], "the reply it was owed first");
        batch.clear();
        let error = outbox.take(&mut batch).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(!outbox.offer(frame(2)));
        assert!(!outbox.fell_behind(), "closed, not too slow");
    }

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_the_first_frame() {
        let outbox = std::sync::Arc::new(Outbox::new(8));
        let taker = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut batch = VecDeque::new();
                outbox.take(&mut batch).await.map(|()| bytes(&batch))
            })
        };
        tokio::task::yield_now().await;
        assert!(outbox.offer(frame(7)));
        assert_eq!(taker.await.unwrap().unwrap(), [7]);
    }

    #[test]
    fn an_ended_session_takes_nothing_more() {
        let outbox = Outbox::new(8);
        assert!(outbox.offer(frame(0)));
        outbox.end();
        assert!(!outbox.offer(frame(1)));
        assert!(outbox.is_empty());
        assert!(!outbox.fell_behind(), "it left, it was not too slow");
    }
}
