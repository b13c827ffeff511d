//! Just enough MessagePack to read the server frames a load generator cares
//! about, without allocating.
//!
//! The generator must measure the server, not its own decoding, so frames are
//! read in place: [`scan`] walks the map once, picks out the few fields the
//! generator needs and skips everything else. It follows the decoding rules
//! of `docs/protocol.md` (fields in any order, unknown fields ignored, any
//! integer width), and the unit tests below check it against frames encoded
//! by the real protocol types.

use crate::protocol::{COMPACT_MESSAGE, COMPACT_SENT, is_compact};

/// What one server frame is, as far as the generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scanned<'a> {
    /// A `message` event: the conversation it belongs to, the entry's
    /// sequence number and, for a text entry, its text.
    Message {
        conv: &'a [u8],
        seq: u64,
        text: Option<&'a [u8]>,
    },
    /// Any other event, by `kind`.
    Event { kind: &'a [u8] },
    /// A reply; `code` is set for an error outcome.
    Reply { id: u32, code: Option<&'a [u8]> },
    /// A welcome, with the status of its last conversation: the group the
    /// hello opened, for a user new to it.
    Welcome { status: &'a [u8] },
    /// The server's last word before it closes.
    Error { code: &'a [u8] },
}

/// Reads one frame payload, or `None` if it is not a frame we understand.
pub(crate) fn scan(payload: &[u8]) -> Option<Scanned<'_>> {
    let mut c = Cursor {
        buf: payload,
        pos: 0,
    };
    if is_compact(payload) {
        return scan_compact(c);
    }
    let fields = c.map_len()?;
    let (mut ty, mut kind, mut status, mut code, mut conv) = (None, None, None, None, None);
    let (mut id, mut entry, mut outcome_code, mut outcome_ok) = (None, None, None, false);
    for _ in 0..fields {
        match c.str()? {
            b"type" => ty = Some(c.str()?),
            b"kind" => kind = Some(c.str()?),
            b"code" => code = Some(c.str()?),
            b"conv" => conv = Some(c.str()?),
            b"conversations" => status = c.last_status()?,
            b"id" => id = Some(u32::try_from(c.uint()?).ok()?),
            b"entry" => entry = Some(c.entry()?),
            b"outcome" => {
                let (ok, code) = c.outcome()?;
                outcome_ok = ok;
                outcome_code = code;
            }
            _ => c.skip()?,
        }
    }
    match ty? {
        b"event" => match kind? {
            b"message" => {
                let (seq, text) = entry?;
                Some(Scanned::Message {
                    conv: conv?,
                    seq,
                    text,
                })
            }
            kind => Some(Scanned::Event { kind }),
        },
        b"reply" => Some(Scanned::Reply {
            id: id?,
            code: if outcome_ok {
                None
            } else {
                Some(outcome_code.unwrap_or(b"unknown"))
            },
        }),
        b"welcome" => Some(Scanned::Welcome { status: status? }),
        b"error" => Some(Scanned::Error { code: code? }),
        _ => None,
    }
}

/// Reads a frame in the compact form: a text message or a `sent` reply.
fn scan_compact(mut c: Cursor<'_>) -> Option<Scanned<'_>> {
    let items = c.array_len()?;
    let tag = c.uint()?;
    match (u8::try_from(tag).ok()?, items) {
        (COMPACT_MESSAGE, 6) => {
            let conv = c.str()?;
            let seq = c.uint()?;
            c.skip()?; // at_ms
            c.skip()?; // from
            let text = c.str()?;
            Some(Scanned::Message {
                conv,
                seq,
                text: Some(text),
            })
        }
        (COMPACT_SENT, 3) => Some(Scanned::Reply {
            id: u32::try_from(c.uint()?).ok()?,
            code: None,
        }),
        _ => None,
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0_u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x80..=0x8f => Some(usize::from(b & 0x0f)),
            0xde => self.be(2).map(|n| n as usize),
            0xdf => self.be(4).map(|n| n as usize),
            _ => None,
        }
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(usize::from(b & 0x0f)),
            0xdc => self.be(2).map(|n| n as usize),
            0xdd => self.be(4).map(|n| n as usize),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        self.take(len)
    }

    /// An unsigned integer in any encoding (a non-negative signed one too).
    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            b @ 0xd0..=0xd3 => {
                let width = 1 << (b - 0xd0);
                let raw = self.be(width)?;
                let shift = 64 - 8 * width as u32;
                let value = ((raw << shift) as i64) >> shift;
                u64::try_from(value).ok()
            }
            _ => None,
        }
    }

    /// Skips one value of any type.
    fn skip(&mut self) -> Option<()> {
        let b = self.byte()?;
        let (len, items) = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * usize::from(b & 0x0f)),
            0x90..=0x9f => (0, usize::from(b & 0x0f)),
            0xa0..=0xbf => (usize::from(b & 0x1f), 0),
            0xc4 | 0xd9 => (self.be(1)? as usize, 0),
            0xc5 | 0xda => (self.be(2)? as usize, 0),
            0xc6 | 0xdb => (self.be(4)? as usize, 0),
            0xc7 => (self.be(1)? as usize + 1, 0),
            0xc8 => (self.be(2)? as usize + 1, 0),
            0xc9 => (self.be(4)? as usize + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.be(2)? as usize),
            0xdd => (0, self.be(4)? as usize),
            0xde => (0, 2 * self.be(2)? as usize),
            0xdf => (0, 2 * self.be(4)? as usize),
            0xc1 => return None,
        };
        self.take(len)?;
        for _ in 0..items {
            self.skip()?;
        }
        Some(())
    }

    /// A log entry: its `seq` and, for a text body, the text.
    fn entry(&mut self) -> Option<(u64, Option<&'a [u8]>)> {
        let (mut seq, mut text) = (None, None);
        for _ in 0..self.map_len()? {
            match self.str()? {
                b"seq" => seq = Some(self.uint()?),
                b"body" => {
                    let (mut kind, mut body_text) = (None, None);
                    for _ in 0..self.map_len()? {
                        match self.str()? {
                            b"kind" => kind = Some(self.str()?),
                            b"text" => body_text = Some(self.str()?),
                            _ => self.skip()?,
                        }
                    }
                    if kind == Some(b"text") {
                        text = body_text;
                    }
                }
                _ => self.skip()?,
            }
        }
        Some((seq?, text))
    }

    /// The `status` of the last map in an array of conversations.
    fn last_status(&mut self) -> Option<Option<&'a [u8]>> {
        let items = self.array_len()?;
        let mut status = None;
        for _ in 0..items {
            for _ in 0..self.map_len()? {
                match self.str()? {
                    b"status" => status = Some(self.str()?),
                    _ => self.skip()?,
                }
            }
        }
        Some(status)
    }

    /// A reply's outcome: whether it is ok, and the error code if not.
    fn outcome(&mut self) -> Option<(bool, Option<&'a [u8]>)> {
        let (mut status, mut code) = (None, None);
        for _ in 0..self.map_len()? {
            match self.str()? {
                b"status" => status = Some(self.str()?),
                b"code" => code = Some(self.str()?),
                _ => self.skip()?,
            }
        }
        Some((status? == b"ok", code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        Body, ConvKind, Conversation, ErrorBody, ErrorCode, Event, GroupSnapshot, JoinRequest,
        JoinStatus, LogEntry, MemberInfo, Outcome, Reply, ReplyData, Role, ServerFrame, Welcome,
        encode, encode_compact_message, encode_compact_sent,
    };

    fn message(seq: u64, body: Body) -> ServerFrame {
        message_in("rust", seq, body)
    }

    fn message_in(conv: &str, seq: u64, body: Body) -> ServerFrame {
        ServerFrame::Event(Event::Message {
            conv: conv.into(),
            entry: LogEntry {
                seq,
                at_ms: 1_700_000_000_000,
                from: "ann".into(),
                body,
            },
        })
    }

    #[test]
    fn reads_frames_encoded_by_the_protocol_types() {
        let text = message(
            300_000,
            Body::Text {
                text: "x".repeat(40_000),
            },
        );
        let payload = encode(&text);
        let expected = "x".repeat(40_000);
        assert_eq!(
            scan(&payload),
            Some(Scanned::Message {
                conv: b"rust",
                seq: 300_000,
                text: Some(expected.as_bytes())
            })
        );
        let joined = encode(&message(3, Body::MemberJoined { name: "bob".into() }));
        assert_eq!(
            scan(&joined),
            Some(Scanned::Message {
                conv: b"rust",
                seq: 3,
                text: None
            })
        );
        let approved = encode(&ServerFrame::Event(Event::RequestApproved {
            conv: "rust".into(),
            by: "ann".into(),
            snapshot: GroupSnapshot {
                admin: "ann".into(),
                members: vec![MemberInfo {
                    name: "ann".into(),
                    role: Role::Admin,
                    online: true,
                }],
                requests: vec![JoinRequest {
                    name: "cy".into(),
                    at_ms: -5,
                }],
                head: 9,
            },
        }));
        assert_eq!(
            scan(&approved),
            Some(Scanned::Event {
                kind: b"request_approved"
            })
        );
        let sent = encode(&ServerFrame::Reply(Reply {
            id: u32::MAX,
            outcome: Outcome::Ok {
                data: ReplyData::Sent { seq: 42 },
            },
        }));
        assert_eq!(
            scan(&sent),
            Some(Scanned::Reply {
                id: u32::MAX,
                code: None
            })
        );
        let refused = encode(&ServerFrame::Reply(Reply {
            id: 8,
            outcome: Outcome::Error(ErrorBody::new(ErrorCode::NotAdmin, "admin only")),
        }));
        assert_eq!(
            scan(&refused),
            Some(Scanned::Reply {
                id: 8,
                code: Some(b"not_admin")
            })
        );
        let conversation = |id: &str, status| Conversation {
            id: id.into(),
            kind: ConvKind::Group,
            status,
            snapshot: None,
            read: 0,
            unread: 0,
            mentions: 0,
        };
        let welcome = encode(&ServerFrame::Welcome(Welcome {
            name: "ann".into(),
            conversations: vec![
                conversation("go", JoinStatus::Admin),
                conversation("rust", JoinStatus::Pending),
            ],
        }));
        assert_eq!(
            scan(&welcome),
            Some(Scanned::Welcome { status: b"pending" })
        );
        let error = encode(&ServerFrame::Error(ErrorBody::new(ErrorCode::TooSlow, "")));
        assert_eq!(scan(&error), Some(Scanned::Error { code: b"too_slow" }));
    }

    #[test]
    fn reads_the_compact_form() {
        let text = "x".repeat(40_000);
        let entry = LogEntry {
            seq: 300_000,
            at_ms: 1_700_000_000_000,
            from: "ann".into(),
            body: Body::Text { text: text.clone() },
        };
        let payload = encode_compact_message("rust", &entry).unwrap();
        assert_eq!(
            scan(&payload),
            Some(Scanned::Message {
                conv: b"rust",
                seq: 300_000,
                text: Some(text.as_bytes())
            })
        );
        assert_eq!(
            scan(&encode_compact_sent(u32::MAX, 42)),
            Some(Scanned::Reply {
                id: u32::MAX,
                code: None
            })
        );
        assert_eq!(scan(&[0x93, 0x07, 0x01, 0x02]), None, "an unknown tag");
        assert_eq!(scan(&payload[..payload.len() - 1]), None, "truncated");
    }

    #[test]
    fn picks_out_the_conversation_of_each_message() {
        let long = "g".repeat(300);
        for conv in ["0badf00d-g4021", "ann+bob", "r", long.as_str()] {
            let text = encode(&message_in(conv, 5, Body::Text { text: "hi".into() }));
            assert_eq!(
                scan(&text),
                Some(Scanned::Message {
                    conv: conv.as_bytes(),
                    seq: 5,
                    text: Some(b"hi")
                }),
                "{conv}"
            );
            let created = encode(&message_in(conv, 1, Body::GroupCreated));
            assert_eq!(
                scan(&created),
                Some(Scanned::Message {
                    conv: conv.as_bytes(),
                    seq: 1,
                    text: None
                })
            );
        }
        // Other events name their conversation too; only the kind matters.
        let online = encode(&ServerFrame::Event(Event::MemberOnline {
            conv: "rust".into(),
            name: "bob".into(),
        }));
        assert_eq!(
            scan(&online),
            Some(Scanned::Event {
                kind: b"member_online"
            })
        );
        // A message that does not say where it belongs cannot be checked.
        // {"type": "event", "kind": "message", "entry": {"seq": 1, "body": {"kind": "group_created"}}}
        let payload = [
            &[0x83, 0xa4][..],
            b"type",
            &[0xa5],
            b"event",
            &[0xa4],
            b"kind",
            &[0xa7],
            b"message",
            &[0xa5],
            b"entry",
            &[0x82, 0xa3],
            b"seq",
            &[0x01, 0xa4],
            b"body",
            &[0x81, 0xa4],
            b"kind",
            &[0xad],
            b"group_created",
        ]
        .concat();
        assert_eq!(scan(&payload), None);
    }

    #[test]
    fn accepts_any_field_order_integer_width_and_unknown_fields() {
        // {"extra": [nil, 1.5], "entry": {"body": {"text": "hi", "kind": "text"},
        //  "seq": int64 7}, "kind": "message", "conv": str8 "go", "type": "event"}
        let payload = [
            &[0x85, 0xa5][..],
            b"extra",
            &[0x92, 0xc0, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
            &[0xa5],
            b"entry",
            &[0x82, 0xa4],
            b"body",
            &[0x82, 0xa4],
            b"text",
            &[0xa2],
            b"hi",
            &[0xa4],
            b"kind",
            &[0xa4],
            b"text",
            &[0xa3],
            b"seq",
            &[0xd3, 0, 0, 0, 0, 0, 0, 0, 7],
            &[0xa4],
            b"kind",
            &[0xa7],
            b"message",
            &[0xa4],
            b"conv",
            &[0xd9, 2],
            b"go",
            &[0xa4],
            b"type",
            &[0xa5],
            b"event",
        ]
        .concat();
        assert_eq!(
            scan(&payload),
            Some(Scanned::Message {
                conv: b"go",
                seq: 7,
                text: Some(b"hi")
            })
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_payloads() {
        let payload = encode(&message(1, Body::Text { text: "hi".into() }));
        for cut in 0..payload.len() {
            assert_eq!(scan(&payload[..cut]), None, "cut at {cut}");
        }
        assert_eq!(scan(&[0xc1]), None);
        assert_eq!(
            scan(&[0x81, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'x']),
            None
        );
    }
}
