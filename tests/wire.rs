//! Holds `docs/protocol.md` and the code together: every example frame in
//! the document is checked byte for byte against what the code encodes, and
//! decodes back to the same value.

use std::collections::BTreeMap;

use bytes::Bytes;

use pyconchat::protocol::{
    Body, ClientFrame, ConvKind, Conversation, ErrorBody, ErrorCode, Event, FileInfo,
    GroupSnapshot, Hello, JoinRequest, JoinStatus, LogEntry, MemberInfo, Outcome, Reply, ReplyData,
    Request, RequestFrame, Role, SearchHit, ServerFrame, Welcome, decode, decode_server_frame,
    encode, encode_compact_message, encode_compact_sent, is_compact,
};
use serde::{Serialize, de::DeserializeOwned};

/// An example's name in the document, its encoded frame, and a check that
/// a frame decodes back to the example's value.
type Example = (&'static str, Vec<u8>, Box<dyn Fn(&[u8])>);

/// The examples, by the name the document gives them.
fn examples() -> Vec<Example> {
    fn example<T>(name: &'static str, value: T) -> Example
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static,
    {
        let payload = encode(&value).to_vec();
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let check = Box::new(move |bytes: &[u8]| {
            assert_eq!(
                decode::<T>(&bytes[4..]).unwrap(),
                value,
                "{name} decodes back"
            );
        });
        (name, frame, check)
    }
    /// A frame in the compact form, which decodes to the same value as
    /// its named twin.
    fn compact(name: &'static str, payload: Bytes, value: ServerFrame) -> Example {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let check = Box::new(move |bytes: &[u8]| {
            assert!(is_compact(&bytes[4..]), "{name} is an array");
            assert_eq!(
                decode_server_frame(&bytes[4..]).unwrap(),
                value,
                "{name} decodes to its named twin"
            );
        });
        (name, frame, check)
    }
    let ann_online = || MemberInfo {
        name: "ann".into(),
        role: Role::Admin,
        online: true,
    };
    let online = |name: &str| MemberInfo {
        name: name.into(),
        role: Role::Member,
        online: true,
    };
    let text = |seq, from: &str, text: &str| LogEntry {
        seq,
        at_ms: 1_700_000_000_000,
        from: from.into(),
        body: Body::Text { text: text.into() },
    };
    let request = |id, request| ClientFrame::Request(RequestFrame { id, request });
    let ok = |id, data| {
        ServerFrame::Reply(Reply {
            id,
            outcome: Outcome::Ok { data },
        })
    };
    vec![
        example(
            "hello",
            ClientFrame::Hello(Hello {
                version: 2,
                name: "ann".into(),
                secret: vec![0xab; 32],
                group: None,
                last_seq: BTreeMap::from([("rust".into(), 39), ("ann+bob".into(), 3)]),
                compact: false,
            }),
        ),
        example(
            "welcome",
            ServerFrame::Welcome(Welcome {
                name: "ann".into(),
                conversations: vec![
                    Conversation {
                        id: "rust".into(),
                        kind: ConvKind::Group,
                        status: JoinStatus::Admin,
                        snapshot: Some(GroupSnapshot {
                            admin: "ann".into(),
                            members: vec![ann_online(), online("bob")],
                            requests: Vec::new(),
                            head: 41,
                        }),
                        read: 39,
                        unread: 2,
                        mentions: 1,
                    },
                    Conversation {
                        id: "ann+bob".into(),
                        kind: ConvKind::Direct,
                        status: JoinStatus::Direct,
                        snapshot: Some(GroupSnapshot {
                            admin: String::new(),
                            members: vec![online("ann"), online("bob")],
                            requests: Vec::new(),
                            head: 3,
                        }),
                        read: 3,
                        unread: 0,
                        mentions: 0,
                    },
                ],
            }),
        ),
        example(
            "send_message",
            request(
                7,
                Request::SendMessage {
                    conv: "rust".into(),
                    text: "hi".into(),
                },
            ),
        ),
        example("reply_sent", ok(7, ReplyData::Sent { seq: 42 })),
        example(
            "reply_error",
            ServerFrame::Reply(Reply {
                id: 8,
                outcome: Outcome::Error(ErrorBody::new(ErrorCode::NotAdmin, "admin only")),
            }),
        ),
        example(
            "event_message",
            ServerFrame::Event(Event::Message {
                conv: "rust".into(),
                entry: text(42, "ann", "hi"),
            }),
        ),
        compact(
            "compact_message",
            encode_compact_message("rust", &text(42, "ann", "hi")).unwrap(),
            ServerFrame::Event(Event::Message {
                conv: "rust".into(),
                entry: text(42, "ann", "hi"),
            }),
        ),
        compact(
            "compact_sent",
            encode_compact_sent(7, 42),
            ok(7, ReplyData::Sent { seq: 42 }),
        ),
        example(
            "hello_compact",
            ClientFrame::Hello(Hello {
                version: 2,
                name: "ann".into(),
                secret: vec![0xab; 32],
                group: Some("rust".into()),
                last_seq: BTreeMap::new(),
                compact: true,
            }),
        ),
        example(
            "event_join_requested",
            ServerFrame::Event(Event::JoinRequested {
                conv: "rust".into(),
                request: JoinRequest {
                    name: "bob".into(),
                    at_ms: 1_700_000_000_000,
                },
            }),
        ),
        example(
            "event_request_approved",
            ServerFrame::Event(Event::RequestApproved {
                conv: "rust".into(),
                by: "ann".into(),
                snapshot: GroupSnapshot {
                    admin: "ann".into(),
                    members: vec![ann_online(), online("bob")],
                    requests: Vec::new(),
                    head: 3,
                },
            }),
        ),
        example(
            "join_group",
            request(11, Request::JoinGroup { group: "go".into() }),
        ),
        example(
            "reply_conversation",
            ok(
                11,
                ReplyData::Conversation {
                    conversation: Conversation {
                        id: "go".into(),
                        kind: ConvKind::Group,
                        status: JoinStatus::Created,
                        snapshot: Some(GroupSnapshot {
                            admin: "ann".into(),
                            members: vec![ann_online()],
                            requests: Vec::new(),
                            head: 1,
                        }),
                        read: 0,
                        unread: 0,
                        mentions: 0,
                    },
                },
            ),
        ),
        example(
            "leave_group",
            request(12, Request::LeaveGroup { group: "go".into() }),
        ),
        example(
            "event_conversation_removed",
            ServerFrame::Event(Event::ConversationRemoved { conv: "go".into() }),
        ),
        example(
            "open_direct",
            request(13, Request::OpenDirect { name: "cid".into() }),
        ),
        example(
            "event_conversation_added",
            ServerFrame::Event(Event::ConversationAdded {
                conversation: Conversation {
                    id: "ann+cid".into(),
                    kind: ConvKind::Direct,
                    status: JoinStatus::Direct,
                    snapshot: Some(GroupSnapshot {
                        admin: String::new(),
                        members: vec![online("ann"), online("cid")],
                        requests: Vec::new(),
                        head: 1,
                    }),
                    read: 0,
                    unread: 0,
                    mentions: 0,
                },
            }),
        ),
        example(
            "search",
            request(
                14,
                Request::Search {
                    text: "cafe lait".into(),
                    limit: 20,
                },
            ),
        ),
        example(
            "reply_search_hits",
            ok(
                14,
                ReplyData::SearchHits {
                    hits: vec![SearchHit {
                        conv: "rust".into(),
                        entry: text(40, "bob", "Café au lait?"),
                    }],
                },
            ),
        ),
        example(
            "mark_read",
            request(
                15,
                Request::MarkRead {
                    conv: "rust".into(),
                    seq: 42,
                },
            ),
        ),
        example(
            "event_read_up_to",
            ServerFrame::Event(Event::ReadUpTo {
                conv: "rust".into(),
                seq: 42,
            }),
        ),
        example(
            "list_conversations",
            request(16, Request::ListConversations),
        ),
        example(
            "offer_file",
            request(
                9,
                Request::OfferFile {
                    conv: "rust".into(),
                    name: "a.txt".into(),
                    size: 5,
                    blake3: blake3::hash(b"hello").as_bytes().to_vec(),
                },
            ),
        ),
        example(
            "reply_upload",
            ok(
                9,
                ReplyData::Upload {
                    upload: 1,
                    chunk_bytes: 262_144,
                },
            ),
        ),
        example(
            "file_chunk",
            request(
                10,
                Request::FileChunk {
                    upload: 1,
                    offset: 0,
                    data: b"hello".to_vec(),
                },
            ),
        ),
        example(
            "event_file",
            ServerFrame::Event(Event::Message {
                conv: "rust".into(),
                entry: LogEntry {
                    seq: 43,
                    at_ms: 1_700_000_000_000,
                    from: "ann".into(),
                    body: Body::File {
                        file: FileInfo {
                            id: "5f0e".into(),
                            name: "a.txt".into(),
                            size: 5,
                            blake3: blake3::hash(b"hello").as_bytes().to_vec(),
                        },
                    },
                },
            }),
        ),
    ]
}

/// The hex block that follows `<!-- wire: NAME -->` in the document.
fn documented(doc: &str, name: &str) -> Vec<u8> {
    let marker = format!("<!-- wire: {name} -->");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/protocol.md has no example {name}"));
    let block = &doc[start + marker.len()..];
    let block = &block[block.find("```").unwrap() + 3..];
    let block = &block[block.find('\n').unwrap() + 1..];
    let block = &block[..block.find("```").unwrap()];
    block
        .split_whitespace()
        .map(|byte| {
            u8::from_str_radix(byte, 16).unwrap_or_else(|_| panic!("{name}: bad hex {byte:?}"))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|row| {
            row.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// After a deliberate change to the protocol, `PRINT_WIRE=1 cargo test
/// --test wire -- --nocapture` prints every example's new bytes.
#[test]
fn the_documented_frames_are_the_ones_on_the_wire() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap();
    for (name, encoded, check) in examples() {
        if std::env::var_os("PRINT_WIRE").is_some() {
            println!("<!-- wire: {name} -->\n```text\n{}\n```\n", hex(&encoded));
            continue;
        }
        let written = documented(&doc, name);
        assert!(
            written == encoded,
            "docs/protocol.md example {name} differs from the encoder; it should read:\n{}",
            hex(&encoded)
        );
        check(&written);
    }
}
