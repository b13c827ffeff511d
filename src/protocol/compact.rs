//! The compact form of the two frames that carry nearly all the traffic:
//! a text `message` event and the `sent` reply.
//!
//! A client that says `compact: true` in its hello gets these two as
//! MessagePack arrays whose first element is a small integer tag, instead
//! of maps with every field name spelled out: a text message with 64 bytes
//! of text shrinks from about 160 to about 100 bytes, which both the
//! server's writes and every receiver's reads pay for. Every other frame
//! stays a map, so a payload's first byte tells the forms apart (an array
//! is compact, a map is named). `docs/protocol.md` specifies both.

use bytes::Bytes;
use serde::{Deserialize, de::IgnoredAny};

use super::{
    Body, ConvId, Event, FrameError, LogEntry, Outcome, Reply, ReplyData, Seq, ServerFrame,
    codec::ENCODE_CAPACITY, decode,
};

/// The tag of a compact text `message` event:
/// `[0, conv, seq, at_ms, from, text]`.
pub const COMPACT_MESSAGE: u8 = 0;
/// The tag of a compact `sent` reply: `[1, id, seq]`.
pub const COMPACT_SENT: u8 = 1;

/// The compact form of a `message` event, if it has one: text entries do,
/// membership changes and files are sent named.
pub fn encode_compact_message(conv: &str, entry: &LogEntry) -> Option<Bytes> {
    let Body::Text { text } = &entry.body else {
        return None;
    };
    let value = (
        COMPACT_MESSAGE,
        conv,
        entry.seq,
        entry.at_ms,
        entry.from.as_str(),
        text.as_str(),
    );
    Some(encode_array(&value))
}

/// The compact form of a `sent` reply.
pub fn encode_compact_sent(id: u32, seq: Seq) -> Bytes {
    encode_array(&(COMPACT_SENT, id, seq))
}

fn encode_array(value: &impl serde::Serialize) -> Bytes {
    let mut payload = Vec::with_capacity(ENCODE_CAPACITY);
    // A tuple of strings and integers always serializes; rmp-serde writes
    // a tuple as an array.
    rmp_serde::encode::write(&mut payload, value).expect("a tuple of scalars always serializes");
    Bytes::from(payload)
}

/// Decodes a server frame in either form: what a client that asked for the
/// compact form reads.
pub fn decode_server_frame(payload: &[u8]) -> Result<ServerFrame, FrameError> {
    if !is_compact(payload) {
        return decode(payload);
    }
    let Tagged(tag) = decode(payload)?;
    match tag {
        COMPACT_MESSAGE => {
            let (_, conv, seq, at_ms, from, text): (u8, ConvId, Seq, i64, String, String) =
                decode(payload)?;
            Ok(ServerFrame::Event(Event::Message {
                conv,
                entry: LogEntry {
                    seq,
                    at_ms,
                    from,
                    body: Body::Text { text },
                },
            }))
        }
        COMPACT_SENT => {
            let (_, id, seq): (u8, u32, Seq) = decode(payload)?;
            Ok(ServerFrame::Reply(Reply {
                id,
                outcome: Outcome::Ok {
                    data: ReplyData::Sent { seq },
                },
            }))
        }
        other => Err(FrameError::Decode(rmp_serde::decode::Error::Syntax(
            format!("unknown compact frame tag {other}"),
        ))),
    }
}

/// Whether a payload is in the compact form: a MessagePack array.
pub fn is_compact(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(0x90..=0x9f | 0xdc | 0xdd))
}

/// Just the tag of a compact frame of any length.
struct Tagged(u8);

impl<'de> Deserialize<'de> for Tagged {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Tagged;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array whose first element is a tag")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Tagged, A::Error> {
                let tag = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Tagged(tag))
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}
