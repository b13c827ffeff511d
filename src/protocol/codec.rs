//! Framing: a 4-byte big-endian length, then one MessagePack value.
//!
//! [`FrameCodec`] wraps `LengthDelimitedCodec` so that an oversized length is
//! a typed error raised before any of its bytes are buffered. It yields raw
//! payloads, which callers [`decode`]: a server that cannot decode a request
//! can still read its id and answer it. Encoding takes already-encoded
//! payloads ([`Bytes`]) so a broadcast is encoded once and shared by every
//! recipient.

use bytes::{Buf, Bytes, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The default limit on one frame's payload: large enough for a file chunk
/// plus headers, small enough that a hostile length cannot exhaust memory.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("undecodable frame: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The buffer an encoding starts with.
pub(super) const ENCODE_CAPACITY: usize = 256;

/// Encodes a value as a frame payload (a MessagePack map with field names).
pub fn encode<T: Serialize>(value: &T) -> Bytes {
    // Our message types contain only strings, integers, byte strings and
    // maps, which rmp-serde always serializes; a failure here is a bug.
    // Most frames are small: starting with room for a typical chat message
    // saves the reallocations of growing from empty.
    let mut payload = Vec::with_capacity(ENCODE_CAPACITY);
    rmp_serde::encode::write_named(&mut payload, value).expect("protocol types always serialize");
    Bytes::from(payload)
}

/// Decodes one frame payload.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    Ok(rmp_serde::from_slice(payload)?)
}

/// Reads and writes length-prefixed payloads with a size limit.
#[derive(Debug)]
pub struct FrameCodec {
    inner: LengthDelimitedCodec,
    max: usize,
    /// Set once the current frame's length has been checked; the inner
    /// codec consumes the length prefix before the payload is complete.
    in_frame: bool,
}

impl FrameCodec {
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            inner: LengthDelimitedCodec::builder()
                .big_endian()
                .length_field_length(4)
                .max_frame_length(max_frame_bytes)
                .new_codec(),
            max: max_frame_bytes,
            in_frame: false,
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if !self.in_frame && src.len() >= 4 {
            let len = (&src[..4]).get_u32() as usize;
            if len > self.max {
                return Err(FrameError::TooLarge { len, max: self.max });
            }
            self.in_frame = true;
        }
        match self.inner.decode(src)? {
            Some(payload) => {
                self.in_frame = false;
                Ok(Some(payload.freeze()))
            }
            None => Ok(None),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        if payload.len() > self.max {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: self.max,
            });
        }
        Ok(self.inner.encode(payload, dst)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientFrame, Request, RequestFrame};

    fn frame(payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(payload);
        buf
    }

    #[test]
    fn round_trips_a_request() {
        let sent = ClientFrame::Request(RequestFrame {
            id: 7,
            request: Request::SendMessage {
                conv: "rust".into(),
                text: "héllo".into(),
            },
        });
        let mut buf = frame(&encode(&sent));
        let mut codec = FrameCodec::new(1024);
        let payload = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(decode::<ClientFrame>(&payload).unwrap(), sent);
        assert!(buf.is_empty());
    }

    #[test]
    fn waits_for_a_whole_frame() {
        let full = frame(&encode(&ClientFrame::Request(RequestFrame {
            id: 1,
            request: Request::Ping,
        })));
        let mut codec = FrameCodec::new(1024);
        let mut partial = BytesMut::from(&full[..full.len() - 1]);
        assert!(codec.decode(&mut partial).unwrap().is_none());
        partial.extend_from_slice(&full[full.len() - 1..]);
        assert!(codec.decode(&mut partial).unwrap().is_some());
    }

    #[test]
    fn rejects_an_oversized_length_before_its_bytes_arrive() {
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let mut codec = FrameCodec::new(1024);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len, max: 1024 } if len == u32::MAX as usize));
    }

    #[test]
    fn rejects_garbage_and_unknown_kinds() {
        assert!(matches!(
            decode::<ClientFrame>(&[0xc1, 0xff, 0x00]),
            Err(FrameError::Decode(_))
        ));
        let unknown =
            rmp_serde::to_vec_named(&std::collections::BTreeMap::from([("type", "launch")]))
                .unwrap();
        assert!(matches!(
            decode::<ClientFrame>(&unknown),
            Err(FrameError::Decode(_))
        ));
    }
}
