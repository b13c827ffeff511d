//! Property test: random and mutated frames against one live server. Each
//! case is a fresh connection; whatever it sends, the server must answer
//! with at most an error and a close, and afterwards a well-behaved client
//! still chats.

mod common;

use std::time::Duration;

use common::{TestServer, User, text_of, without_rate_limits};
use proptest::prelude::*;
use pyconchat::protocol::{ClientFrame, Hello, PROTOCOL_VERSION, Request, RequestFrame, encode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
};

/// Valid frames to start mutating from.
fn seeds(user: &User) -> Vec<Vec<u8>> {
    let hello = ClientFrame::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: user.name.clone(),
        secret: user.identity.secret().to_vec(),
        group: Some("rust".into()),
        last_seq: [("rust".to_owned(), 3)].into(),
        compact: false,
    });
    let requests = [
        Request::SendMessage {
            conv: "rust".into(),
            text: "hi".into(),
        },
        Request::KickMember {
            conv: "rust".into(),
            name: "alice".into(),
        },
        Request::ApproveRequest {
            conv: "rust".into(),
            name: "x".into(),
        },
        Request::AllMembers {
            conv: "rust".into(),
        },
        Request::Search {
            text: "hi".into(),
            limit: 5,
        },
        Request::OpenDirect { name: "ann".into() },
    ];
    std::iter::once(hello)
        .chain(requests.into_iter().enumerate().map(|(i, request)| {
            ClientFrame::Request(RequestFrame {
                id: i as u32,
                request,
            })
        }))
        .map(|frame| {
            let payload = encode(&frame);
            let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&payload);
            bytes
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Flip { at, bits } => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte ^= bits;
                }
            }
            Mutation::Truncate { at } => bytes.truncate(at % len),
            Mutation::Insert { at, byte } => bytes.insert(at % len.min(bytes.len() + 1), byte),
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255_u8).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
    ]
}

/// What a case sends: raw noise, or a valid hello and then a mutated seed.
#[derive(Debug, Clone)]
enum Case {
    Noise(Vec<u8>),
    Mutated {
        hello_first: bool,
        seed: usize,
        mutations: Vec<Mutation>,
    },
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512).prop_map(Case::Noise),
        (
            any::<bool>(),
            0..5_usize,
            proptest::collection::vec(mutation(), 1..6)
        )
            .prop_map(|(hello_first, seed, mutations)| Case::Mutated {
                hello_first,
                seed,
                mutations,
            }),
    ]
}

/// Sends a case and reads until the server closes or goes quiet.
async fn send(server: &TestServer, user: &User, case: &Case) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let seeds = seeds(user);
    let bytes = match case {
        Case::Noise(bytes) => bytes.clone(),
        Case::Mutated {
            hello_first,
            seed,
            mutations,
        } => {
            let mut bytes = if *hello_first {
                seeds[0].clone()
            } else {
                Vec::new()
            };
            bytes.extend(mutate(seeds[*seed].clone(), mutations));
            bytes
        }
    };
    let _ = stream.write_all(&bytes).await;
    let mut sink = vec![0; 1 << 16];
    // A case ends when the server closes or has nothing more to say.
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(50), stream.read(&mut sink)).await
    {
        if n == 0 {
            break;
        }
    }
}

#[test]
fn random_and_mutated_frames_never_hurt_the_server() {
    let runtime = Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::with_limits(without_rate_limits()));
    let alice = User::new("alice");
    let mut admin = runtime.block_on(alice.join(&server, "rust"));
    let mallory = User::new("mallory");

    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(case in case())| {
        runtime.block_on(send(&server, &mallory, &case));
    });

    runtime.block_on(async {
        admin
            .client
            .send_message("rust", "still standing")
            .await
            .expect("the server is up");
        while text_of(&admin.entry().await) != "still standing" {}
        let fresh = User::new("bob").join(&server, "rust").await;
        assert!(matches!(
            fresh.status(),
            pyconchat::protocol::JoinStatus::Pending
        ));
    });
}
