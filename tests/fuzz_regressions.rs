//! What the fuzz targets found (see `docs/fuzzing.md`), each pinned by the
//! input that found it.

mod common;

#[path = "../fuzz/shared/server_requests.rs"]
mod server_requests;

use common::{Raw, TestServer, User, without_rate_limits};
use pyconchat::protocol::{
    ClientFrame, ErrorCode, Outcome, ReplyData, Request, RequestFrame, ServerFrame,
};

/// `server_requests` crash-53e0ea18: the admin pipelines a post and a kick
/// of a non-member under the same id 0. The kick's error reply is sent as
/// soon as the hub checks it, the post's only once it is durable, so the
/// error can come first. The server was right (replies to different
/// requests may come in any order; the protocol asks for unique ids in
/// flight) and the harness was wrong: it matched the error to the post and
/// then called the post's reply an answer to nothing. It now stops telling
/// apart replies to requests that share an id. The race is timing
/// dependent, so the script runs several times.
const DUPLICATE_IDS_IN_FLIGHT: &[u8] = &[
    0x32, 0x01, 0xca, 0x9a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x5b, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x76, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0xff, 0xff,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb8, 0xb8, 0x00, 0x99, 0x99, 0x99, 0x99,
    0x99, 0x99, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x77,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd3, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x43, 0x47, 0x47, 0x47, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x4a, 0x35, 0xcd, 0x01,
];

#[tokio::test]
async fn duplicate_ids_in_flight_script_passes_the_checks() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let mut health = server_requests::Health::connect(server.addr).await.unwrap();
    let steps = server_requests::script(DUPLICATE_IDS_IN_FLIGHT);
    for run in 0..20 {
        server_requests::exercise(server.addr, &format!("dup{run}"), &steps)
            .await
            .unwrap_or_else(|broken| panic!("run {run}: {broken}"));
        health.check().await.unwrap();
    }
}

/// The behaviour behind it, on the wire: both requests get exactly one
/// reply each, the post a `sent` and the kick a `no_such_user` error.
#[tokio::test]
async fn a_failed_change_and_a_post_sharing_an_id_each_get_one_reply() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let mut raw = Raw::connect(&server).await;
    raw.hello(&User::new("ann"), "rust").await;
    for request in [
        Request::SendMessage {
            conv: "rust".into(),
            text: "hi".into(),
        },
        Request::KickMember {
            conv: "rust".into(),
            name: "nobody".into(),
        },
    ] {
        raw.send(&ClientFrame::Request(RequestFrame { id: 0, request }))
            .await;
    }
    let (mut sent, mut refused) = (0, 0);
    while sent + refused < 2 {
        match raw.read().await.expect("the connection stays open") {
            ServerFrame::Reply(reply) => {
                assert_eq!(reply.id, 0);
                match reply.outcome {
                    Outcome::Ok {
                        data: ReplyData::Sent { .. },
                    } => sent += 1,
                    Outcome::Error(error) if error.code == ErrorCode::NoSuchUser => refused += 1,
                    other => panic!("unexpected reply {other:?}"),
                }
            }
            ServerFrame::Event(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!((sent, refused), (1, 1));
}
