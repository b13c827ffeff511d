//! The body of the `frame_decoder` fuzz target, shared with the corpus
//! replay in `tests/fuzz_corpus.rs` (included there with `#[path]`).
//!
//! Input layout: byte 0 picks the codec's frame limit, byte 1 how many bytes
//! arrive per read, the rest is the byte stream a peer sends.

use bytes::BytesMut;
use pyconchat::protocol::{ClientFrame, FrameCodec, FrameError, ServerFrame, decode, encode};
use tokio_util::codec::Decoder;

/// What decoding a stream produced: the payloads in order, then how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub payloads: Vec<Vec<u8>>,
    /// `Some(len)` if the stream ended on an oversized length prefix.
    pub too_large: Option<usize>,
}

/// Runs every check on one input; panics if one fails.
pub fn check(data: &[u8]) {
    let (max, chunk, stream) = match data {
        [a, b, rest @ ..] => (usize::from(*a) * 4, usize::from(*b % 16) + 1, rest),
        _ => return,
    };
    let whole = decode_stream(max, stream, stream.len().max(1));
    let chunked = decode_stream(max, stream, chunk);
    assert_eq!(
        whole, chunked,
        "decoding must not depend on how the bytes are split into reads"
    );

    // The payloads and the stream agree: every payload is within the limit
    // and sits behind its own length prefix, in order.
    let mut at = 0;
    for payload in &whole.payloads {
        assert!(payload.len() <= max, "a payload over the frame limit");
        let len = u32::from_be_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(len, payload.len());
        assert_eq!(&stream[at + 4..at + 4 + len], payload.as_slice());
        at += 4 + len;
    }
    if let Some(len) = whole.too_large {
        assert!(len > max, "a length within the limit was refused");
        let announced = u32::from_be_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(announced, len);
    } else {
        // Whatever is left is an incomplete frame, never a complete one.
        let rest = &stream[at..];
        if rest.len() >= 4 {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            assert!(
                len <= max && rest.len() < 4 + len,
                "a complete frame was left unread"
            );
        }
    }

    for payload in whole.payloads.iter().map(Vec::as_slice).chain([stream]) {
        check_payload(payload);
    }
}

/// Decodes `stream` fed `chunk` bytes at a time, as a socket would.
pub fn decode_stream(max: usize, stream: &[u8], chunk: usize) -> Decoded {
    let mut codec = FrameCodec::new(max);
    let mut buffer = BytesMut::new();
    let mut decoded = Decoded {
        payloads: Vec::new(),
        too_large: None,
    };
    for piece in stream.chunks(chunk) {
        buffer.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(payload)) => decoded.payloads.push(payload.to_vec()),
                Ok(None) => break,
                Err(FrameError::TooLarge { len, max: limit }) => {
                    assert_eq!(limit, max);
                    decoded.too_large = Some(len);
                    return decoded;
                }
                Err(other) => panic!("the frame codec failed with {other}"),
            }
        }
    }
    // The end of the stream: what is buffered stays an incomplete frame.
    if let Ok(Some(payload)) = codec.decode_eof(&mut buffer) {
        panic!("decode_eof produced a payload the stream never completed: {payload:?}");
    }
    decoded
}

/// Decodes a payload as either side's frame; whatever decodes must encode
/// back to a payload that decodes to the same value.
pub fn check_payload(payload: &[u8]) {
    if let Ok(frame) = decode::<ClientFrame>(payload) {
        let again = decode::<ClientFrame>(&encode(&frame))
            .unwrap_or_else(|e| panic!("{frame:?} re-encodes to something undecodable: {e}"));
        assert_eq!(frame, again);
    }
    if let Ok(frame) = decode::<ServerFrame>(payload) {
        let again = decode::<ServerFrame>(&encode(&frame))
            .unwrap_or_else(|e| panic!("{frame:?} re-encodes to something undecodable: {e}"));
        assert_eq!(frame, again);
    }
}
