//! What one member names, others see as it is: a file name announced to the
//! group carries no character that reorders or hides part of it.

mod common;

use common::{Session, TestServer, User};
use pyconchat::{
    client::ClientEvent,
    protocol::{Body, ErrorCode, Event, FileInfo},
};
use tokio_util::sync::CancellationToken;

/// alice creates `shown` and lets bob in; bob has read up to his own join.
async fn alice_and_bob(server: &TestServer) -> (Session, Session) {
    let alice = User::new("alice").join(server, "shown").await;
    let bob = User::new("bob");
    drop(bob.join(server, "shown").await);
    common::approve(&alice.client, &alice.group, "bob").await;
    let mut bob = bob.join(server, "shown").await;
    while !matches!(bob.entry().await.body, Body::MemberJoined { ref name } if name == "bob") {}
    (alice, bob)
}

/// The next file bob hears of.
async fn announced(bob: &mut Session) -> FileInfo {
    bob.wait_for(|event| match event {
        ClientEvent::Server(Event::Message { entry, .. }) => match &entry.body {
            Body::File { file } => Some(file.clone()),
            _ => None,
        },
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_file_name_reaches_others_without_direction_controls() {
    let server = TestServer::start().await;
    let (alice, mut bob) = alice_and_bob(&server).await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("payload");
    std::fs::write(&path, b"a program, not a document").unwrap();

    for (offered, shown) in [
        // Right-to-left override: displays as "invoiceexe.pdf".
        ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
        // An isolate, a mark and a zero-width space around the extension.
        (
            "photo\u{2067}\u{200F}.jpg\u{2069}\u{200B}.sh",
            "photo.jpg.sh",
        ),
        // Tag characters carry text that is never displayed.
        ("notes\u{E0069}\u{E0067}.txt", "notes.txt"),
    ] {
        alice
            .client
            .upload(
                &alice.group,
                offered,
                &path,
                |_| {},
                CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(announced(&mut bob).await.name, shown, "{offered:?}");
    }
}

#[tokio::test]
async fn a_name_that_only_looks_like_another_is_refused() {
    let server = TestServer::start().await;
    let _alice = User::new("alice").join(&server, "shown").await;
    // A Hangul filler is a letter to Unicode and is drawn as nothing.
    let error = User::new("alice\u{3164}").refused(&server, "shown").await;
    assert_eq!(error.code(), Some(ErrorCode::InvalidName));
}
