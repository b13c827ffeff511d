//! Bad input ends only the connection that sent it, with an error frame
//! where one can still be sent, and never disturbs anyone else.

mod common;

use std::time::Duration;

use common::{Raw, Session, TestServer, User, text_of};
use pyconchat::{
    client::ClientEvent,
    protocol::{
        ClientFrame, ErrorCode, Hello, Outcome, PROTOCOL_VERSION, Request, RequestFrame,
        ServerFrame,
    },
    server::Limits,
};
use serde::Serialize;

fn error_code(frame: Option<ServerFrame>) -> ErrorCode {
    match frame {
        Some(ServerFrame::Error(error)) => error.code,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// A group with a member online, to prove others are undisturbed.
async fn bystander(server: &TestServer) -> Session {
    let mut alice = User::new("alice").join(server, "rust").await;
    alice.entry().await;
    alice
}

async fn still_chatting(alice: &mut Session, text: &str) {
    alice
        .client
        .send_message(&alice.group, text)
        .await
        .expect("the bystander can still post");
    while text_of(&alice.entry().await) != text {}
}

#[derive(Serialize)]
struct Map<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
}

#[tokio::test]
async fn malformed_frames_close_only_their_own_connection() {
    let server = TestServer::start().await;
    let mut alice = bystander(&server).await;

    // Not MessagePack at all.
    let mut raw = Raw::connect(&server).await;
    raw.send_payload(&[0xc1, 0xc1, 0xc1]).await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::Malformed);
    still_chatting(&mut alice, "after garbage").await;

    // MessagePack, but not a message we know.
    let mut raw = Raw::connect(&server).await;
    raw.send_payload(&rmp_serde::to_vec_named(&Map { kind: "launch" }).unwrap())
        .await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::Malformed);

    // A length far over the limit: refused before the bytes are read.
    let mut raw = Raw::connect(&server).await;
    raw.send_bytes(&u32::MAX.to_be_bytes()).await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::FrameTooLarge);
    still_chatting(&mut alice, "after an oversized length").await;

    // A frame cut off by the client going away.
    let mut raw = Raw::connect(&server).await;
    raw.send_bytes(&[0, 0, 0, 100, 0x81, 0xa4]).await;
    raw.shutdown().await;
    assert_eq!(
        raw.last_words().await,
        None,
        "closed without a word: nobody is listening"
    );
    still_chatting(&mut alice, "after a truncated frame").await;

    // Random bytes from the first byte on.
    let mut raw = Raw::connect(&server).await;
    let noise: Vec<u8> = (0..4096_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    raw.send_bytes(&noise).await;
    raw.last_words().await;
    still_chatting(&mut alice, "after noise").await;
}

#[tokio::test]
async fn the_handshake_is_checked() {
    let server = TestServer::with_limits(Limits {
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut alice = bystander(&server).await;
    let bob = User::new("bob");

    // A request before the hello.
    let mut raw = Raw::connect(&server).await;
    raw.send(&ClientFrame::Request(RequestFrame {
        id: 1,
        request: Request::WhoAdmin {
            conv: "rust".into(),
        },
    }))
    .await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::Malformed);

    // Another protocol version.
    let mut raw = Raw::connect(&server).await;
    raw.send(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION + 1,
        name: "bob".into(),
        secret: bob.identity.secret().to_vec(),
        group: Some("rust".into()),
        last_seq: Default::default(),
        compact: false,
    }))
    .await;
    let Some(ServerFrame::Error(error)) = raw.last_words().await else {
        panic!("no error")
    };
    assert_eq!(error.code, ErrorCode::VersionMismatch);
    assert!(
        error
            .message
            .contains(&format!("protocol version {PROTOCOL_VERSION}")),
        "{}",
        error.message
    );

    // A secret of the wrong size.
    let mut raw = Raw::connect(&server).await;
    raw.send(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: "bob".into(),
        secret: vec![1, 2, 3],
        group: Some("rust".into()),
        last_seq: Default::default(),
        compact: false,
    }))
    .await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::InvalidSecret);

    // Silence.
    let mut raw = Raw::connect(&server).await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::Timeout);

    // A second hello.
    let mut raw = Raw::connect(&server).await;
    assert!(matches!(
        raw.hello(&bob, "rust").await,
        ServerFrame::Welcome(_)
    ));
    raw.send(&ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: "bob".into(),
        secret: bob.identity.secret().to_vec(),
        group: Some("rust".into()),
        last_seq: Default::default(),
        compact: false,
    }))
    .await;
    assert_eq!(error_code(raw.last_words().await), ErrorCode::Malformed);

    still_chatting(&mut alice, "still here").await;
}

#[derive(Serialize)]
struct FutureRequest<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: u32,
    request: FutureOp<'a>,
}

#[derive(Serialize)]
struct FutureOp<'a> {
    op: &'a str,
}

#[tokio::test]
async fn an_unknown_request_gets_an_error_reply_and_the_connection_goes_on() {
    let server = TestServer::start().await;
    let alice = User::new("alice");
    let mut raw = Raw::connect(&server).await;
    assert!(matches!(
        raw.hello(&alice, "rust").await,
        ServerFrame::Welcome(_)
    ));
    raw.send_payload(
        &rmp_serde::to_vec_named(&FutureRequest {
            kind: "request",
            id: 41,
            request: FutureOp {
                op: "self_destruct",
            },
        })
        .unwrap(),
    )
    .await;
    raw.send(&ClientFrame::Request(RequestFrame {
        id: 42,
        request: Request::WhoAdmin {
            conv: "rust".into(),
        },
    }))
    .await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        if let Some(ServerFrame::Reply(reply)) = raw.read().await {
            replies.push(reply);
        }
    }
    assert_eq!(replies[0].id, 41);
    assert!(
        matches!(&replies[0].outcome, Outcome::Error(e) if e.code == ErrorCode::UnknownRequest)
    );
    assert_eq!(replies[1].id, 42);
    assert!(matches!(&replies[1].outcome, Outcome::Ok { .. }));
}

#[tokio::test]
async fn connections_over_the_limit_are_told_why() {
    let server = TestServer::with_limits(Limits {
        max_connections: 1,
        ..Limits::default()
    })
    .await;
    let _alice = bystander(&server).await;
    let error = User::new("bob").refused(&server, "rust").await;
    assert_eq!(error.code(), Some(ErrorCode::TooManyConnections));
}

#[tokio::test]
async fn a_client_that_vanishes_is_marked_offline() {
    let server = TestServer::start().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin = alice.join(&server, "rust").await;
    drop(bob.join(&server, "rust").await);
    common::approve(&admin.client, &admin.group, "bob").await;
    let mut raw = Raw::connect(&server).await;
    assert!(matches!(
        raw.hello(&bob, "rust").await,
        ServerFrame::Welcome(_)
    ));
    drop(raw);
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        let online = admin.client.online_members(&admin.group).await.unwrap();
        if online.iter().all(|m| m.name != "bob") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "bob still online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::with_limits(Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut raw = Raw::connect(&server).await;
    assert!(matches!(
        raw.hello(&User::new("ann"), "rust").await,
        ServerFrame::Welcome(_)
    ));
    assert_eq!(error_code(raw.last_words().await), ErrorCode::Timeout);
}

/// On Tokio's paused clock: time moves only when nothing else can run, so
/// a busy machine cannot make a ping look late.
#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_quiet_client_connected() {
    let server = TestServer::with_limits(Limits {
        idle_timeout: Duration::from_millis(400),
        ..Limits::default()
    })
    .await;
    let ann = User::new("ann");
    let mut options = ann.options(&server, "rust");
    options.heartbeat = Duration::from_millis(100);
    let mut session = Session::connect(options).await.unwrap();
    session.entry().await;
    let quiet = tokio::time::timeout(Duration::from_millis(1500), session.events.recv()).await;
    assert!(quiet.is_err(), "no reconnect while quiet: {quiet:?}");
    session
        .client
        .send_message(&session.group, "still here")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_client_notices_a_server_that_stops_answering() {
    use futures::{SinkExt, StreamExt};
    use pyconchat::{
        client::{ConnectOptions, Identity, Transport},
        protocol::{FrameCodec, Welcome, encode},
    };
    // A peer that completes the hello and then never says another word,
    // like a server behind a dead link.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut peers = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let mut framed = tokio_util::codec::Framed::new(socket, FrameCodec::new(1 << 20));
            framed.next().await;
            let welcome = ServerFrame::Welcome(Welcome {
                name: "ann".into(),
                conversations: Vec::new(),
            });
            framed.send(encode(&welcome)).await.unwrap();
            peers.push(framed);
        }
    });
    let mut options = ConnectOptions::new(address, "ann", "rust", Identity::generate());
    options.heartbeat = Duration::from_millis(100);
    options.transport = Transport::Plaintext;
    let mut session = Session::connect(options).await.unwrap();
    let reason = session
        .wait_for(|e| match e {
            ClientEvent::Reconnecting { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(reason.contains("no word from the server"), "{reason}");
}

#[tokio::test]
async fn a_flood_is_refused_politely_and_only_for_the_flooder() {
    // No tokens come back, so exactly the burst gets through however long
    // the flood takes to arrive.
    let burst = 10;
    let server = TestServer::with_limits(Limits {
        messages_per_second: 0,
        message_burst: burst,
        ..Limits::default()
    })
    .await;
    let mut alice = bystander(&server).await;
    let flooder = User::new("flo");
    drop(flooder.join(&server, "rust").await);
    common::approve(&alice.client, &alice.group, "flo").await;
    let mut flo = flooder.join(&server, "rust").await;

    let results = futures::future::join_all(
        (0..40).map(|i| flo.client.send_message(&flo.group, format!("spam {i}"))),
    )
    .await;
    let limited = results
        .iter()
        .filter(|r| r.as_ref().err().and_then(|e| e.code()) == Some(ErrorCode::RateLimited))
        .count();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        (accepted, limited),
        (burst as usize, 40 - burst as usize),
        "the burst gets through, the rest is refused: {results:?}"
    );

    // Still connected: a request is answered on the same connection.
    flo.client.online_members(&flo.group).await.unwrap();
    while let Ok(event) = flo.events.try_recv() {
        assert!(
            !matches!(
                event,
                ClientEvent::Reconnecting { .. } | ClientEvent::Closed(_)
            ),
            "the flooder stays connected: {event:?}"
        );
    }
    still_chatting(&mut alice, "unbothered").await;

    // A long multi-line paste is one message: it takes one token of a
    // fresh connection's burst, not one per line.
    drop(flo);
    let flo = flooder.join(&server, "rust").await;
    let paste = (0..50)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    flo.client
        .send_message(&flo.group, paste.clone())
        .await
        .unwrap();
    while text_of(&alice.entry().await) != paste {}
}
