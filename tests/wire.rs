//! Holds `docs/protocol.md` and the code together: every example frame in
//! the document is checked byte for byte against what the code encodes, and
//! decodes back to the same value.

use pyconchat::protocol::{
    Body, ClientFrame, ErrorBody, ErrorCode, Event, FileInfo, GroupSnapshot, Hello, JoinRequest,
    JoinStatus, LogEntry, MemberInfo, Outcome, Reply, ReplyData, Request, RequestFrame, Role,
    ServerFrame, Welcome, decode, encode,
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
    vec![
        example(
            "hello",
            ClientFrame::Hello(Hello {
                version: 1,
                name: "ann".into(),
                secret: vec![0xab; 32],
                group: "rust".into(),
                last_seq: Some(41),
            }),
        ),
        example(
            "welcome",
            ServerFrame::Welcome(Welcome {
                status: JoinStatus::Pending,
                name: "ann".into(),
                group: "rust".into(),
                snapshot: None,
            }),
        ),
        example(
            "send_message",
            ClientFrame::Request(RequestFrame {
                id: 7,
                request: Request::SendMessage { text: "hi".into() },
            }),
        ),
        example(
            "reply_sent",
            ServerFrame::Reply(Reply {
                id: 7,
                outcome: Outcome::Ok {
                    data: ReplyData::Sent { seq: 42 },
                },
            }),
        ),
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
                entry: LogEntry {
                    seq: 42,
                    at_ms: 1_700_000_000_000,
                    from: "ann".into(),
                    body: Body::Text { text: "hi".into() },
                },
            }),
        ),
        example(
            "event_join_requested",
            ServerFrame::Event(Event::JoinRequested {
                request: JoinRequest {
                    name: "bob".into(),
                    at_ms: 1_700_000_000_000,
                },
            }),
        ),
        example(
            "event_request_approved",
            ServerFrame::Event(Event::RequestApproved {
                by: "ann".into(),
                snapshot: GroupSnapshot {
                    admin: "ann".into(),
                    members: vec![
                        MemberInfo {
                            name: "ann".into(),
                            role: Role::Admin,
                            online: true,
                        },
                        MemberInfo {
                            name: "bob".into(),
                            role: Role::Member,
                            online: true,
                        },
                    ],
                    requests: Vec::new(),
                    head: 3,
                },
            }),
        ),
        example(
            "offer_file",
            ClientFrame::Request(RequestFrame {
                id: 9,
                request: Request::OfferFile {
                    name: "a.txt".into(),
                    size: 5,
                    blake3: blake3::hash(b"hello").as_bytes().to_vec(),
                },
            }),
        ),
        example(
            "reply_upload",
            ServerFrame::Reply(Reply {
                id: 9,
                outcome: Outcome::Ok {
                    data: ReplyData::Upload {
                        upload: 1,
                        chunk_bytes: 262_144,
                    },
                },
            }),
        ),
        example(
            "file_chunk",
            ClientFrame::Request(RequestFrame {
                id: 10,
                request: Request::FileChunk {
                    upload: 1,
                    offset: 0,
                    data: b"hello".to_vec(),
                },
            }),
        ),
        example(
            "event_file",
            ServerFrame::Event(Event::Message {
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
