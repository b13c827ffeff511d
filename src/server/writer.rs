//! Writes queued frames to a socket without copying them.
//!
//! A broadcast is encoded once into a shared [`Bytes`]; copying it into a
//! per-connection write buffer (as a `FramedWrite` does) was a quarter of
//! the server's user-space instructions per delivery. [`FrameWriter`]
//! instead keeps the queued payloads and their 4-byte length prefixes and
//! hands them to the kernel with one vectored write (`writev`) per batch.

use std::{
    collections::VecDeque,
    io::IoSlice,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::protocol::FrameError;

/// Slices per `writev` (Linux accepts up to 1024, `IOV_MAX`): 128 frames
/// per system call, and 4 KiB of stack.
const MAX_SLICES: usize = 256;
/// A queue with room for more frames than this is given back when idle.
const IDLE_QUEUE: usize = 64;

/// Frames queued with [`feed`](FrameWriter::feed) go out on
/// [`flush`](FrameWriter::flush), as few system calls as the kernel allows.
#[derive(Debug)]
pub(crate) struct FrameWriter<W> {
    io: W,
    max_frame_bytes: usize,
    /// Payloads not yet fully written, each with its length prefix.
    queue: VecDeque<([u8; 4], Bytes)>,
    /// Bytes of the front frame (prefix, then payload) already written.
    written: usize,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(io: W, max_frame_bytes: usize) -> Self {
        Self {
            io,
            max_frame_bytes,
            queue: VecDeque::new(),
            written: 0,
        }
    }

    /// Makes room for `frames` more without growing the queue step by step.
    pub fn reserve(&mut self, frames: usize) {
        self.queue.reserve(frames);
    }

    /// Queues one frame; nothing is written until [`flush`](Self::flush).
    pub fn feed(&mut self, payload: Bytes) -> Result<(), FrameError> {
        // The server builds every frame it sends, and none may be over its
        // own limit: tests stop here, a release build refuses the frame.
        debug_assert!(
            payload.len() <= self.max_frame_bytes,
            "the server built a frame of {} bytes, over its limit of {}",
            payload.len(),
            self.max_frame_bytes
        );
        if payload.len() > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: self.max_frame_bytes,
            });
        }
        // The limit is at most u32::MAX (checked with the config).
        let prefix = (payload.len() as u32).to_be_bytes();
        self.queue.push_back((prefix, payload));
        Ok(())
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), FrameError> {
        while !self.queue.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_write(cx)).await?;
            if n == 0 {
                return Err(FrameError::Io(std::io::ErrorKind::WriteZero.into()));
            }
            self.advance(n);
        }
        Ok(())
    }

    /// One vectored write of the front of the queue. The slices live on
    /// the stack of this call, not in the session's future, and cost no
    /// allocation per write.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut used = 0;
        for (i, (prefix, payload)) in self.queue.iter().enumerate() {
            if used + 2 > MAX_SLICES {
                break;
            }
            // Only the front frame can be partly written.
            let (prefix, payload): (&[u8], &[u8]) = match (i, self.written) {
                (0, w) if w >= 4 => (&[], &payload[w - 4..]),
                (0, w) => (&prefix[w..], payload),
                _ => (prefix, payload),
            };
            for part in [prefix, payload] {
                if !part.is_empty() {
                    slices[used] = IoSlice::new(part);
                    used += 1;
                }
            }
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..used])
    }

    /// Drops what the kernel took.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some((_, payload)) = self.queue.front() else {
                return;
            };
            let left = 4 + payload.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            self.queue.pop_front();
        }
    }

    /// Flushes, then shuts the sending side down.
    pub async fn close(&mut self) -> Result<(), FrameError> {
        self.flush().await?;
        self.io.shutdown().await?;
        Ok(())
    }

    /// Gives back the queue's memory after a burst, once it is empty.
    pub fn release_idle(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > IDLE_QUEUE {
            self.queue = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use tokio::{
        io::AsyncReadExt,
        net::{TcpListener, TcpStream},
    };
    use tokio_util::codec::Encoder;

    use crate::protocol::FrameCodec;

    /// Many frames, some large, so the kernel takes them in pieces: the
    /// bytes on the wire must be exactly what the framing codec produces.
    #[tokio::test]
    async fn writes_what_the_codec_would_across_partial_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (mut read, _keep) = client.unwrap().into_split();
        let (_keep_read, write) = accepted.unwrap().0.into_split();
        let frames: Vec<Bytes> = (0..3000)
            .map(|i| Bytes::from(vec![(i % 251) as u8; (i * 37) % 2000 + 1]))
            .collect();
        let mut expected = BytesMut::new();
        let mut codec = FrameCodec::new(1 << 20);
        for frame in &frames {
            codec.encode(frame.clone(), &mut expected).unwrap();
        }
        let mut writer = FrameWriter::new(write, 1 << 20);
        let total = expected.len();
        let reading = tokio::spawn(async move {
            let mut got = vec![0; total];
            read.read_exact(&mut got).await.unwrap();
            got
        });
        for chunk in frames.chunks(700) {
            for frame in chunk {
                writer.feed(frame.clone()).unwrap();
            }
            writer.flush().await.unwrap();
        }
        writer.release_idle();
        assert_eq!(reading.await.unwrap(), expected.to_vec());
    }

    #[test]
    #[should_panic(expected = "over its limit")]
    fn a_frame_over_the_limit_is_a_bug_caught_where_it_is_queued() {
        let mut writer = FrameWriter::new(Vec::new(), 1 << 20);
        let _ = writer.feed(Bytes::from(vec![0; (1 << 20) + 1]));
    }
}
