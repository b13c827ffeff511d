//! The rules of `docs/protocol.md` that a client written from the document
//! relies on and that the example frames in `tests/wire.rs` cannot show:
//! what the server does with frames it cannot decode, the leniencies it
//! documents, the order of the first frames, and what the idle timeout
//! counts. Frames are built by hand, as a client in another language would.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{DEADLINE, Raw, TestServer, User};
use futures::StreamExt;
use pyconchat::{
    protocol::{
        Body, ClientFrame, ErrorCode, Event, FrameCodec, Hello, JoinStatus, LogEntry, Outcome,
        PROTOCOL_VERSION, Reply, ReplyData, Request, RequestFrame, ServerFrame, decode,
        decode_server_frame, encode, is_compact,
    },
    server::Limits,
};
use serde::Serialize;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpStream, tcp::OwnedReadHalf},
};
use tokio_util::codec::FramedRead;

/// A MessagePack value built by hand, to send what our own types never do.
#[derive(Serialize)]
#[serde(untagged)]
enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bin(#[serde(with = "serde_bytes")] Vec<u8>),
    Map(BTreeMap<&'static str, Value>),
}

fn map<const N: usize>(fields: [(&'static str, Value); N]) -> Value {
    Value::Map(BTreeMap::from(fields))
}

fn payload(value: &Value) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("encodable")
}

/// `ann`'s hello to `rust`, with `version` and `secret` as given.
fn hello(version: Value, secret: Value) -> Value {
    map([
        ("type", Value::Str("hello")),
        ("version", version),
        ("name", Value::Str("ann")),
        ("secret", secret),
        ("group", Value::Str("rust")),
    ])
}

fn error_code(frame: Option<ServerFrame>) -> ErrorCode {
    match frame {
        Some(ServerFrame::Error(error)) => error.code,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// A connection that has said hello and been welcomed.
async fn welcomed(server: &TestServer, user: &User) -> Raw {
    let mut raw = Raw::connect(server).await;
    let welcome = raw.hello(user, "rust").await;
    assert!(matches!(welcome, ServerFrame::Welcome(_)), "{welcome:?}");
    raw
}

/// Replies until the one to `last`, skipping events.
async fn replies_through(raw: &mut Raw, last: u32) -> Vec<Reply> {
    let mut replies = Vec::new();
    while replies.last().is_none_or(|r: &Reply| r.id != last) {
        match raw.read().await {
            Some(ServerFrame::Reply(reply)) => replies.push(reply),
            Some(_) => {}
            None => panic!("closed after {replies:?}"),
        }
    }
    replies
}

#[tokio::test]
async fn a_request_whose_id_cannot_be_read_closes_the_connection_as_malformed() {
    let server = TestServer::start().await;
    let ann = User::new("ann");
    let ids: [(&str, Option<Value>); 5] = [
        ("missing", None),
        ("a string", Some(Value::Str("7"))),
        ("negative", Some(Value::Int(-1))),
        ("over u32", Some(Value::Uint(1 << 32))),
        ("a float", Some(Value::Float(7.0))),
    ];
    for (what, id) in ids {
        let mut raw = welcomed(&server, &ann).await;
        let mut request = BTreeMap::from([
            ("type", Value::Str("request")),
            ("request", map([("op", Value::Str("ping"))])),
        ]);
        if let Some(id) = id {
            request.insert("id", id);
        }
        raw.send_payload(&payload(&Value::Map(request))).await;
        assert_eq!(
            error_code(raw.last_words().await),
            ErrorCode::Malformed,
            "id {what}"
        );
    }
}

#[tokio::test]
async fn a_request_body_of_the_wrong_shape_gets_unknown_request_and_the_connection_goes_on() {
    let server = TestServer::start().await;
    let mut raw = welcomed(&server, &User::new("ann")).await;
    let bodies: [(&str, Option<Value>); 8] = [
        ("no request", None),
        ("a request that is not a map", Some(Value::Str("ping"))),
        (
            "an unknown op",
            Some(map([("op", Value::Str("self_destruct"))])),
        ),
        (
            "a missing field",
            Some(map([("op", Value::Str("send_message"))])),
        ),
        (
            "a field of the wrong type",
            Some(map([
                ("op", Value::Str("send_message")),
                ("text", Value::Uint(5)),
            ])),
        ),
        (
            "bin text that is not UTF-8",
            Some(map([
                ("op", Value::Str("send_message")),
                ("text", Value::Bin(vec![0xff, 0xfe])),
            ])),
        ),
        (
            "a len over u32",
            Some(map([
                ("op", Value::Str("fetch_file")),
                ("file", Value::Str("x")),
                ("offset", Value::Uint(0)),
                ("len", Value::Uint(1 << 32)),
            ])),
        ),
        (
            "a negative offset",
            Some(map([
                ("op", Value::Str("fetch_file")),
                ("file", Value::Str("x")),
                ("offset", Value::Int(-1)),
                ("len", Value::Uint(1)),
            ])),
        ),
    ];
    let whats: Vec<&str> = bodies.iter().map(|(what, _)| *what).collect();
    for (id, (_, body)) in (1..).zip(bodies) {
        let mut request =
            BTreeMap::from([("type", Value::Str("request")), ("id", Value::Uint(id))]);
        if let Some(body) = body {
            request.insert("request", body);
        }
        raw.send_payload(&payload(&Value::Map(request))).await;
    }
    // Fields the server does not know are ignored, at every level.
    let ping = map([
        ("type", Value::Str("request")),
        ("id", Value::Uint(100)),
        ("sent_by", Value::Str("a newer client")),
        (
            "request",
            map([("op", Value::Str("ping")), ("urgent", Value::Uint(1))]),
        ),
    ]);
    raw.send_payload(&payload(&ping)).await;
    let replies = replies_through(&mut raw, 100).await;
    let (ping, refused) = replies.split_last().expect("replies");
    assert_eq!(refused.len(), whats.len(), "{replies:?}");
    for ((reply, what), id) in refused.iter().zip(&whats).zip(1..) {
        assert_eq!(reply.id, id, "{what}");
        assert!(
            matches!(&reply.outcome, Outcome::Error(e) if e.code == ErrorCode::UnknownRequest),
            "{what}: {reply:?}"
        );
    }
    assert!(
        matches!(
            ping.outcome,
            Outcome::Ok {
                data: ReplyData::Done
            }
        ),
        "{ping:?}"
    );
}

#[tokio::test]
async fn the_hello_version_is_a_uint32() {
    let server = TestServer::start().await;
    let secret = User::new("ann").identity.secret().to_vec();
    for (version, code) in [
        (Value::Uint(1), ErrorCode::VersionMismatch),
        (Value::Uint(3), ErrorCode::VersionMismatch),
        (Value::Uint(u64::from(u32::MAX)), ErrorCode::VersionMismatch),
        (Value::Uint(1 << 40), ErrorCode::Malformed),
        (Value::Int(-1), ErrorCode::Malformed),
        (Value::Str("1"), ErrorCode::Malformed),
    ] {
        let mut raw = Raw::connect(&server).await;
        raw.send_payload(&payload(&hello(version, Value::Bin(secret.clone()))))
            .await;
        assert_eq!(error_code(raw.last_words().await), code);
    }
}

#[tokio::test]
async fn a_str_secret_and_bin_text_are_accepted() {
    let server = TestServer::start().await;
    let secret = "0123456789abcdef0123456789abcdef";
    let version = || Value::Uint(PROTOCOL_VERSION.into());
    let mut raw = Raw::connect(&server).await;
    raw.send_payload(&payload(&hello(version(), Value::Str(secret))))
        .await;
    assert!(matches!(raw.read().await, Some(ServerFrame::Welcome(_))));
    let post = map([
        ("type", Value::Str("request")),
        ("id", Value::Uint(1)),
        (
            "request",
            map([
                ("op", Value::Str("send_message")),
                ("conv", Value::Str("rust")),
                ("text", Value::Bin(b"hi".to_vec())),
            ]),
        ),
    ]);
    raw.send_payload(&payload(&post)).await;
    let posted = loop {
        match raw.read().await {
            Some(ServerFrame::Event(Event::Message { entry, .. })) if entry.seq == 2 => {
                break entry;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    };
    assert_eq!(posted.body, Body::Text { text: "hi".into() });

    // The str secret was read as its bytes: the same bytes as bin are the
    // same identity, not someone else's claim on the name.
    let mut again = Raw::connect(&server).await;
    let as_bin = hello(version(), Value::Bin(secret.as_bytes().to_vec()));
    again.send_payload(&payload(&as_bin)).await;
    assert!(matches!(again.read().await, Some(ServerFrame::Welcome(_))));
}

#[tokio::test]
async fn the_creator_hears_group_created_then_its_own_message_before_the_reply() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(&server).await;
    let ServerFrame::Welcome(welcome) = raw.hello(&User::new("ann"), "rust").await else {
        panic!("no welcome");
    };
    let [rust] = &welcome.conversations[..] else {
        panic!("one conversation: {welcome:?}");
    };
    assert_eq!(rust.status, JoinStatus::Created);
    assert_eq!(rust.snapshot.as_ref().expect("a snapshot").head, 1);
    let entry = |frame: Option<ServerFrame>| match frame {
        Some(ServerFrame::Event(Event::Message { entry, .. })) => entry,
        other => panic!("expected a log entry, got {other:?}"),
    };
    let LogEntry {
        seq, from, body, ..
    } = entry(raw.read().await);
    assert_eq!((seq, from.as_str(), body), (1, "ann", Body::GroupCreated));

    raw.send(&ClientFrame::Request(RequestFrame {
        id: 7,
        request: Request::SendMessage {
            conv: "rust".into(),
            text: "hi".into(),
        },
    }))
    .await;
    let own = entry(raw.read().await);
    assert_eq!((own.seq, own.body), (2, Body::Text { text: "hi".into() }));
    assert_eq!(
        raw.read().await,
        Some(ServerFrame::Reply(Reply {
            id: 7,
            outcome: Outcome::Ok {
                data: ReplyData::Sent { seq: 2 }
            },
        }))
    );
}

/// The compact form goes only to a connection that asked for it, for the
/// live fan-out, the catch-up and its own `sent` replies alike, and says
/// exactly what the named form says.
#[tokio::test]
async fn the_compact_form_goes_only_to_connections_that_ask_for_it() {
    let server = TestServer::start().await;
    let ann = User::new("ann");
    let mut named = Raw::connect(&server).await;
    assert!(matches!(
        named.hello(&ann, "rust").await,
        ServerFrame::Welcome(_)
    ));
    let post = |id, text: &str| {
        ClientFrame::Request(RequestFrame {
            id,
            request: Request::SendMessage {
                conv: "rust".into(),
                text: text.into(),
            },
        })
    };
    let message = |seq, text: &str| {
        ServerFrame::Event(Event::Message {
            conv: "rust".into(),
            entry: LogEntry {
                seq,
                at_ms: 0,
                from: "ann".into(),
                body: Body::Text { text: text.into() },
            },
        })
    };
    let sent = |id, seq| {
        ServerFrame::Reply(Reply {
            id,
            outcome: Outcome::Ok {
                data: ReplyData::Sent { seq },
            },
        })
    };
    // Reads the next frame, checks its form, and zeroes the time stamp.
    async fn next(raw: &mut Raw, compact: bool) -> ServerFrame {
        let payload = raw.read_payload().await.expect("a frame");
        assert_eq!(is_compact(&payload), compact, "{payload:02x?}");
        match decode_server_frame(&payload).expect("decodable") {
            ServerFrame::Event(Event::Message { conv, mut entry }) => {
                entry.at_ms = 0;
                ServerFrame::Event(Event::Message { conv, entry })
            }
            other => other,
        }
    }
    assert!(matches!(
        next(&mut named, false).await,
        ServerFrame::Event(_)
    ));
    named.send(&post(1, "one")).await;
    assert_eq!(next(&mut named, false).await, message(2, "one"));
    assert_eq!(next(&mut named, false).await, sent(1, 2));

    // A second connection of ann's asks for the compact form: the
    // catch-up sends text entries compact, the rest named.
    let mut compact = Raw::connect(&server).await;
    assert!(matches!(
        compact.hello_asking(&ann, "rust", true).await,
        ServerFrame::Welcome(_)
    ));
    assert!(matches!(
        next(&mut compact, false).await,
        ServerFrame::Event(Event::Message { .. })
    ));
    assert_eq!(next(&mut compact, true).await, message(2, "one"));

    named.send(&post(2, "two")).await;
    assert_eq!(next(&mut named, false).await, message(3, "two"));
    assert_eq!(next(&mut named, false).await, sent(2, 3));
    assert_eq!(next(&mut compact, true).await, message(3, "two"));

    compact.send(&post(9, "three")).await;
    assert_eq!(next(&mut compact, true).await, message(4, "three"));
    assert_eq!(next(&mut compact, true).await, sent(9, 4));
    assert_eq!(next(&mut named, false).await, message(4, "three"));
}

/// Bytes of a frame that has not arrived whole are not a sign of life:
/// a client trickling one byte at a time is closed as idle, long before
/// its frame would be complete.
#[tokio::test]
async fn a_frame_trickled_a_byte_at_a_time_is_closed_by_the_idle_timeout() {
    let server = TestServer::with_limits(Limits {
        idle_timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    let ann = User::new("ann");
    let (read, mut write) = TcpStream::connect(server.addr)
        .await
        .expect("connect")
        .into_split();
    let hello = encode(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: ann.name.clone(),
        secret: ann.identity.secret().to_vec(),
        group: Some("rust".into()),
        last_seq: Default::default(),
        compact: false,
    }));
    write
        .write_all(&frame(&hello))
        .await
        .expect("send the hello");
    let mut frames = FramedRead::new(read, FrameCodec::new(1 << 20));
    assert!(matches!(
        next_frame(&mut frames).await,
        ServerFrame::Welcome(_)
    ));
    assert!(matches!(
        next_frame(&mut frames).await,
        ServerFrame::Event(_)
    ));

    // A ping padded to 300 bytes takes 6 s at a byte per 20 ms.
    let ping = payload(&map([
        ("type", Value::Str("request")),
        ("id", Value::Uint(1)),
        ("request", map([("op", Value::Str("ping"))])),
        ("padding", Value::Bin(vec![0; 260])),
    ]));
    let trickling = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        for byte in frame(&ping) {
            pace.tick().await;
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    match next_frame(&mut frames).await {
        ServerFrame::Error(error) => assert_eq!(error.code, ErrorCode::Timeout),
        other => panic!("expected the idle timeout, got {other:?}"),
    }
    trickling.abort();
}

/// `payload` with its length prefix.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

async fn next_frame(frames: &mut FramedRead<OwnedReadHalf, FrameCodec>) -> ServerFrame {
    let payload = tokio::time::timeout(DEADLINE, frames.next())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("a whole frame");
    decode(&payload).expect("a decodable frame")
}

#[tokio::test]
async fn connections_over_the_per_address_limit_are_refused_before_the_hello() {
    let server = TestServer::with_limits(Limits {
        max_connections_per_ip: 1,
        ..Limits::default()
    })
    .await;
    let _first = welcomed(&server, &User::new("ann")).await;
    let mut second = Raw::connect(&server).await;
    assert_eq!(
        error_code(second.last_words().await),
        ErrorCode::TooManyConnections
    );
}
