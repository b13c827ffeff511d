//! File transfer against a real server: uploads checked before they are
//! announced, downloads checked before they are saved, and nothing left
//! behind by uploads that fail, are cancelled or are abandoned.

mod common;

use std::path::{Path, PathBuf};

use common::{Raw, Session, TestServer, User, without_rate_limits};
use pyconchat::{
    client::{Client, ClientError, TransferError},
    protocol::{
        Body, ClientFrame, ErrorCode, FileInfo, LogEntry, Outcome, ReplyData, Request,
        RequestFrame, ServerFrame, clean_file_name,
    },
    server::Limits,
};
use tokio_util::sync::CancellationToken;

/// Bytes that do not compress or repeat, from a seed.
fn contents(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// alice creates `files`, and each of `others` is let in and connected.
async fn group(server: &TestServer, others: &[&str]) -> (Session, Vec<Session>) {
    let mut admin = User::new("alice").join(server, "files").await;
    let mut sessions = Vec::new();
    for name in others {
        let user = User::new(name);
        drop(user.join(server, "files").await);
        common::approve(&admin.client, &admin.group, name).await;
        let mut session = user.join(server, "files").await;
        skip_past_joins(&mut session).await;
        sessions.push(session);
    }
    // Everyone reads up to a marker, so tests start with nothing unread.
    admin
        .client
        .send_message(&admin.group, "ready")
        .await
        .unwrap();
    for session in std::iter::once(&mut admin).chain(&mut sessions) {
        while common::text_of(&session.entry().await) != "ready" {}
    }
    (admin, sessions)
}

/// Reads entries up to this member's own join.
async fn skip_past_joins(session: &mut Session) {
    let me = session.welcome.name.clone();
    while !matches!(session.entry().await.body, Body::MemberJoined { ref name } if *name == me) {}
}

/// The next log entry, which must announce a file.
async fn announced(session: &mut Session) -> (LogEntry, FileInfo) {
    let entry = session.entry().await;
    match &entry.body {
        Body::File { file } => {
            let file = file.clone();
            (entry, file)
        }
        other => panic!("expected a file entry, got {other:?}"),
    }
}

async fn fetch(client: &Client, file: &FileInfo, dir: &Path) -> Result<PathBuf, TransferError> {
    client
        .fetch_file(file, dir, |_| {}, CancellationToken::new())
        .await
}

/// Sends the file at `path` to the group "files".
async fn send(client: &Client, path: &Path) -> Result<u64, TransferError> {
    client
        .send_file("files", path, |_| {}, CancellationToken::new())
        .await
}

fn code(error: &TransferError) -> Option<ErrorCode> {
    match error {
        TransferError::Client(error) => error.code(),
        _ => None,
    }
}

fn request_code(error: &ClientError) -> ErrorCode {
    error.code().expect("a server error")
}

/// Names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// This process's umask, from /proc.
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

fn files_dir(server: &TestServer) -> PathBuf {
    server.dir.path().join("files")
}

/// Waits until the server's partial uploads are gone (sessions clean up as
/// they end, which is after the socket closes).
async fn no_partial_uploads(server: &TestServer) {
    let partial = files_dir(server).join("partial");
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    while !listing(&partial).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "partial uploads left: {:?}",
            listing(&partial)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn offer(name: &str, data: &[u8]) -> Request {
    Request::OfferFile {
        conv: "files".to_owned(),
        name: name.to_owned(),
        size: data.len() as u64,
        blake3: blake3::hash(data).as_bytes().to_vec(),
    }
}

async fn start_upload(client: &Client, name: &str, data: &[u8]) -> (u64, usize) {
    match client.request(offer(name, data)).await.unwrap() {
        ReplyData::Upload {
            upload,
            chunk_bytes,
        } => (upload, chunk_bytes as usize),
        other => panic!("expected an upload, got {other:?}"),
    }
}

async fn send_chunk(
    client: &Client,
    upload: u64,
    offset: usize,
    data: &[u8],
) -> Result<ReplyData, ClientError> {
    client
        .request(Request::FileChunk {
            upload,
            offset: offset as u64,
            data: data.to_vec(),
        })
        .await
}

#[tokio::test]
async fn a_file_reaches_every_member_intact() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob", "carol"]).await;
    let work = tempfile::tempdir().unwrap();
    let data = contents(6 * 1024 * 1024 + 12_345, 1);
    let path = write_file(work.path(), "talk slides.pdf", &data);

    let mut reported = Vec::new();
    let seq = alice
        .client
        .send_file(
            &alice.group,
            &path,
            |n| reported.push(n),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(reported.last(), Some(&(data.len() as u64)));
    assert!(reported.windows(2).all(|w| w[0] < w[1]), "{reported:?}");

    let (entry, _) = announced(&mut alice).await;
    assert_eq!(entry.seq, seq);
    for (i, member) in others.iter_mut().enumerate() {
        let (entry, file) = announced(member).await;
        assert_eq!((entry.seq, entry.from.as_str()), (seq, "alice"));
        assert_eq!(file.name, "talk slides.pdf");
        assert_eq!(file.size, data.len() as u64);
        assert_eq!(file.blake3, blake3::hash(&data).as_bytes());
        let downloads = work.path().join(format!("downloads-{i}"));
        let saved = fetch(&member.client, &file, &downloads).await.unwrap();
        assert_eq!(saved, downloads.join("talk slides.pdf"));
        let got = std::fs::read(&saved).unwrap();
        assert_eq!(blake3::hash(&got), blake3::hash(&data));
        assert_eq!(listing(&downloads), ["talk slides.pdf"]);
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&saved.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o666 & !umask(), "{mode:o}");
    }
    // The stored copy is under a name the server chose.
    let stored = listing(&files_dir(&server));
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.contains(&"partial".to_owned()));
}

#[tokio::test]
async fn a_second_download_of_the_same_name_does_not_overwrite() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::write(downloads.join("notes.txt"), "bob's own notes").unwrap();
    let path = write_file(work.path(), "notes.txt", b"alice's notes");
    send(&alice.client, &path).await.unwrap();
    announced(&mut alice).await;
    let (_, file) = announced(&mut others[0]).await;
    let first = fetch(&others[0].client, &file, &downloads).await.unwrap();
    let second = fetch(&others[0].client, &file, &downloads).await.unwrap();
    assert_eq!(first, downloads.join("notes (1).txt"));
    assert_eq!(second, downloads.join("notes (2).txt"));
    assert_eq!(
        std::fs::read_to_string(downloads.join("notes.txt")).unwrap(),
        "bob's own notes"
    );
    assert_eq!(std::fs::read(&second).unwrap(), b"alice's notes");
}

#[tokio::test]
async fn chat_keeps_flowing_both_ways_during_a_transfer() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, mut others) = group(&server, &["bob"]).await;
    let mut alice = alice;
    let bob = &mut others[0];
    let data = contents(8 * 1024 * 1024, 2);
    let (upload, chunk) = start_upload(&alice.client, "big.bin", &data).await;
    let half = data.len() / 2 / chunk * chunk;
    for offset in (0..half).step_by(chunk) {
        send_chunk(&alice.client, upload, offset, &data[offset..offset + chunk])
            .await
            .unwrap();
    }
    // Half the file is on the server and the upload is open: chat goes on
    // in both directions on the same connections.
    for i in 0..20 {
        alice
            .client
            .send_message(&alice.group, format!("a{i}"))
            .await
            .unwrap();
        bob.client
            .send_message(&bob.group, format!("b{i}"))
            .await
            .unwrap();
    }
    let expected: Vec<String> = (0..20)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    assert_eq!(alice.texts(40).await, expected);
    assert_eq!(bob.texts(40).await, expected);

    for offset in (half..data.len()).step_by(chunk) {
        let end = (offset + chunk).min(data.len());
        send_chunk(&alice.client, upload, offset, &data[offset..end])
            .await
            .unwrap();
    }
    alice
        .client
        .request(Request::CompleteUpload { upload })
        .await
        .unwrap();
    let (_, file) = announced(bob).await;
    announced(&mut alice).await;

    // And while bob downloads, a message from alice still gets through
    // between his chunks.
    let (bob_client, file_id) = (bob.client.clone(), file.id.clone());
    let fetches = tokio::spawn(async move {
        let mut received = 0;
        while received < data.len() {
            let read = Request::FetchFile {
                file: file_id.clone(),
                offset: received as u64,
                len: 64 * 1024,
            };
            match bob_client.request(read).await.unwrap() {
                ReplyData::FileData { data } => received += data.len(),
                other => panic!("{other:?}"),
            }
        }
        received
    });
    alice
        .client
        .send_message(&alice.group, "during the download")
        .await
        .unwrap();
    assert_eq!(bob.texts(1).await, ["during the download"]);
    assert_eq!(fetches.await.unwrap(), 8 * 1024 * 1024);
}

#[tokio::test]
async fn a_concurrent_upload_and_chat_both_finish() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (alice, mut others) = group(&server, &["bob"]).await;
    let bob = &mut others[0];
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "video.mp4", &contents(32 * 1024 * 1024, 3));
    let client = alice.client.clone();
    let upload = tokio::spawn(async move { send(&client, &path).await });
    let mut seqs = Vec::new();
    for i in 0..50 {
        seqs.push(
            alice
                .client
                .send_message(&alice.group, format!("m{i}"))
                .await
                .unwrap(),
        );
    }
    let file_seq = upload.await.unwrap().unwrap();
    let mut texts = Vec::new();
    let mut file_seen = false;
    while texts.len() < 50 || !file_seen {
        let entry = bob.entry().await;
        match entry.body {
            Body::Text { text } => texts.push(text),
            Body::File { file } => {
                assert_eq!((entry.seq, file.name.as_str()), (file_seq, "video.mp4"));
                file_seen = true;
            }
            other => panic!("{other:?}"),
        }
    }
    let expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn an_oversize_offer_is_refused_before_any_byte_moves() {
    let server = TestServer::with_limits(Limits {
        max_file_bytes: 1024 * 1024,
        ..Limits::default()
    })
    .await;
    let (mut alice, _) = group(&server, &[]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "huge.iso", &contents(1024 * 1024 + 1, 4));
    let mut progress = 0;
    let error = alice
        .client
        .send_file(
            &alice.group,
            &path,
            |n| progress = n,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::FileTooLarge), "{error}");
    assert!(error.to_string().contains("1048576"), "{error}");
    assert_eq!(progress, 0);
    assert_eq!(listing(&files_dir(&server)), ["partial"]);
    assert!(listing(&files_dir(&server).join("partial")).is_empty());
    alice.assert_no_entry().await;

    // Exactly the limit is fine.
    let path = write_file(work.path(), "fits.iso", &contents(1024 * 1024, 5));
    send(&alice.client, &path).await.unwrap();
}

#[tokio::test]
async fn hostile_names_are_saved_as_plain_names_inside_the_download_dir() {
    let server = TestServer::start().await;
    let (alice, mut others) = group(&server, &["bob"]).await;
    let bob = &mut others[0];
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("downloads");
    let path = write_file(work.path(), "payload", b"not what the name says");
    let long = "A".repeat(10_000);
    let hostile = [
        "../x",
        "/etc/passwd",
        "C:\\x",
        "a\0b",
        "line\nbreak.txt",
        long.as_str(),
        ".",
        "..",
        "../../.ssh/authorized_keys",
        ".bashrc",
        "CON",
    ];
    for name in hostile {
        alice
            .client
            .upload(&alice.group, name, &path, |_| {}, CancellationToken::new())
            .await
            .unwrap();
        let (_, file) = announced(bob).await;
        assert_eq!(file.name, clean_file_name(name), "{name:?}");
        let saved = fetch(&bob.client, &file, &downloads).await.unwrap();
        assert_eq!(saved.parent(), Some(downloads.as_path()), "{name:?}");
        let saved_name = saved.file_name().unwrap().to_str().unwrap();
        assert!(!saved_name.starts_with('.'), "{saved_name:?}");
        assert!(saved_name.len() <= 210, "{}", saved_name.len());
        assert_eq!(std::fs::read(&saved).unwrap(), b"not what the name says");
    }
    // Everything landed in the download dir and nowhere else.
    assert_eq!(listing(&downloads).len(), hostile.len());
    assert_eq!(listing(work.path()), ["downloads", "payload"]);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_upload_leaves_nothing() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let data = contents(2 * 1024 * 1024, 6);

    let mut raw = Raw::connect(&server).await;
    let carol = User::new("carol");
    drop(carol.join(&server, "files").await);
    common::approve(&alice.client, &alice.group, "carol").await;
    assert!(matches!(
        raw.hello(&carol, "files").await,
        ServerFrame::Welcome(_)
    ));
    raw.send(&ClientFrame::Request(RequestFrame {
        id: 1,
        request: offer("half.bin", &data),
    }))
    .await;
    let upload = loop {
        match raw.read().await {
            Some(ServerFrame::Reply(reply)) => match reply.outcome {
                Outcome::Ok {
                    data: ReplyData::Upload { upload, .. },
                } => break upload,
                other => panic!("{other:?}"),
            },
            Some(_) => {}
            None => panic!("closed"),
        }
    };
    raw.send(&ClientFrame::Request(RequestFrame {
        id: 2,
        request: Request::FileChunk {
            upload,
            offset: 0,
            data: data[..200_000].to_vec(),
        },
    }))
    .await;
    assert_eq!(listing(&files_dir(&server).join("partial")).len(), 1);
    drop(raw);

    no_partial_uploads(&server).await;
    assert_eq!(listing(&files_dir(&server)), ["partial"]);
    assert!(matches!(
        alice.entry().await.body,
        Body::MemberJoined { .. }
    ));
    alice.assert_no_entry().await;
    assert!(matches!(
        others[0].entry().await.body,
        Body::MemberJoined { .. }
    ));
    others[0].assert_no_entry().await;
}

#[tokio::test]
async fn a_cancelled_upload_leaves_nothing_and_says_nothing() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let data = contents(1024 * 1024, 7);
    let (upload, chunk) = start_upload(&alice.client, "draft.txt", &data).await;
    send_chunk(&alice.client, upload, 0, &data[..chunk])
        .await
        .unwrap();
    alice
        .client
        .request(Request::CancelUpload { upload })
        .await
        .unwrap();
    assert!(listing(&files_dir(&server).join("partial")).is_empty());
    let error = send_chunk(&alice.client, upload, chunk, &data[chunk..2 * chunk])
        .await
        .unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::BadUpload);

    // Cancelling through the client library, before it starts.
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "never.bin", &data);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let error = alice
        .client
        .send_file(&alice.group, &path, |_| {}, cancel)
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::Cancelled), "{error}");
    no_partial_uploads(&server).await;
    alice.assert_no_entry().await;
    others[0].assert_no_entry().await;
}

#[tokio::test]
async fn a_corrupted_chunk_is_caught_by_the_checksum() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let data = contents(600_000, 8);
    let (upload, chunk) = start_upload(&alice.client, "photo.jpg", &data).await;
    let mut corrupted = data.clone();
    corrupted[300_000] ^= 0x40;
    for offset in (0..data.len()).step_by(chunk) {
        let end = (offset + chunk).min(data.len());
        send_chunk(&alice.client, upload, offset, &corrupted[offset..end])
            .await
            .unwrap();
    }
    let error = alice
        .client
        .request(Request::CompleteUpload { upload })
        .await
        .unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::ChecksumMismatch);
    assert_eq!(listing(&files_dir(&server)), ["partial"]);
    assert!(listing(&files_dir(&server).join("partial")).is_empty());
    alice.assert_no_entry().await;
    others[0].assert_no_entry().await;

    // Out of order or too much is refused as it arrives.
    let (upload, _) = start_upload(&alice.client, "photo.jpg", &data).await;
    let error = send_chunk(&alice.client, upload, 10, &data[10..20])
        .await
        .unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::BadUpload);
    let (upload, _) = start_upload(&alice.client, "tiny", b"abc").await;
    let error = send_chunk(&alice.client, upload, 0, b"abcd")
        .await
        .unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::BadUpload);
    no_partial_uploads(&server).await;
}

#[tokio::test]
async fn a_download_damaged_on_the_way_is_not_saved() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "data.csv", &contents(500_000, 9));
    send(&alice.client, &path).await.unwrap();
    announced(&mut alice).await;
    let (_, file) = announced(&mut others[0]).await;
    // Damage the server's copy behind its back.
    let stored = files_dir(&server).join(&file.id);
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[1234] ^= 1;
    std::fs::write(&stored, bytes).unwrap();

    let downloads = work.path().join("downloads");
    let error = fetch(&others[0].client, &file, &downloads)
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::Corrupt), "{error}");
    assert!(listing(&downloads).is_empty(), "{:?}", listing(&downloads));
}

#[tokio::test]
async fn a_member_who_was_away_fetches_the_file_later_even_after_a_restart() {
    let mut server = TestServer::start().await;
    let alice = User::new("alice");
    let bob = User::new("bob");
    let admin = alice.join(&server, "files").await;
    drop(bob.join(&server, "files").await);
    common::approve(&admin.client, &admin.group, "bob").await;
    let work = tempfile::tempdir().unwrap();
    let data = contents(3 * 1024 * 1024, 10);
    let path = write_file(work.path(), "minutes.md", &data);
    admin
        .client
        .send_message(&admin.group, "before")
        .await
        .unwrap();
    send(&admin.client, &path).await.unwrap();
    admin
        .client
        .send_message(&admin.group, "after")
        .await
        .unwrap();
    drop(admin);
    server.restart().await;

    let mut bob_session = bob.join(&server, "files").await;
    skip_past_joins(&mut bob_session).await;
    assert_eq!(bob_session.texts(1).await, ["before"]);
    let (entry, file) = announced(&mut bob_session).await;
    assert_eq!(entry.from, "alice");
    assert_eq!(bob_session.texts(1).await, ["after"]);
    let downloads = work.path().join("bob");
    let saved = fetch(&bob_session.client, &file, &downloads).await.unwrap();
    assert_eq!(std::fs::read(saved).unwrap(), data);
}

#[tokio::test]
async fn expired_and_evicted_files_are_no_longer_available() {
    let server = TestServer::with_limits(Limits {
        max_file_bytes: 1024 * 1024,
        max_files_bytes: 2 * 1024 * 1024,
        ..Limits::default()
    })
    .await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..3 {
        let path = write_file(
            work.path(),
            &format!("f{i}.bin"),
            &contents(1024 * 1024, 20 + i),
        );
        send(&alice.client, &path).await.unwrap();
        announced(&mut alice).await;
        files.push(announced(&mut others[0]).await.1);
    }
    // Room for two: the oldest made way for the third.
    let downloads = work.path().join("downloads");
    let error = fetch(&others[0].client, &files[0], &downloads)
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::FileUnavailable), "{error}");
    assert!(error.to_string().contains("no longer available"), "{error}");
    for file in &files[1..] {
        fetch(&others[0].client, file, &downloads).await.unwrap();
    }
    assert!(listing(&downloads).iter().all(|n| !n.starts_with('.')));

    let retention = std::time::Duration::from_secs(30);
    let short = TestServer::with_limits(Limits {
        file_retention: retention,
        ..Limits::default()
    })
    .await;
    let (mut alice, mut others) = group(&short, &["bob"]).await;
    let path = write_file(work.path(), "soon.txt", b"gone soon");
    send(&alice.client, &path).await.unwrap();
    announced(&mut alice).await;
    let (_, file) = announced(&mut others[0]).await;
    // The server shares this test's clock: move it past the retention.
    tokio::time::pause();
    tokio::time::advance(retention + std::time::Duration::from_secs(1)).await;
    tokio::time::resume();
    let error = fetch(&others[0].client, &file, &downloads)
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::FileUnavailable), "{error}");
    // The sweeper removes its contents too.
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    while listing(&files_dir(&short)) != ["partial"] {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn files_of_another_group_cannot_be_fetched() {
    let server = TestServer::start().await;
    let (mut alice, _) = group(&server, &[]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "secret.txt", b"for the files group only");
    send(&alice.client, &path).await.unwrap();
    let (_, file) = announced(&mut alice).await;
    let mallory = User::new("mallory").join(&server, "elsewhere").await;
    let error = fetch(&mallory.client, &file, work.path())
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::FileUnavailable), "{error}");
}

#[tokio::test]
async fn a_write_error_reaches_the_sender_and_nothing_is_announced() {
    let server = TestServer::start().await;
    let (mut alice, _) = group(&server, &[]).await;
    // Make the server's upload directory unusable.
    let partial = files_dir(&server).join("partial");
    std::fs::remove_dir_all(&partial).unwrap();
    std::fs::write(&partial, "in the way").unwrap();
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "report.pdf", &contents(100_000, 11));
    let error = send(&alice.client, &path).await.unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::Internal), "{error}");
    assert!(error.to_string().contains("could not write"), "{error}");
    alice.assert_no_entry().await;
    // The connection is fine and chat goes on.
    alice
        .client
        .send_message(&alice.group, "still here")
        .await
        .unwrap();
    assert_eq!(alice.texts(1).await, ["still here"]);
}

#[tokio::test]
async fn pending_users_cannot_send_files() {
    let server = TestServer::start().await;
    let _admin = User::new("alice").join(&server, "files").await;
    let pending = User::new("eve").join(&server, "files").await;
    let error = pending.client.request(offer("x", b"x")).await.unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::Pending);
}

#[tokio::test]
async fn a_full_database_refuses_the_announcement_and_the_file_goes_too() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "late.pdf", &contents(300_000, 12));
    // The contents fit on disk, but the record and the entry cannot be
    // committed, as when the disk fills up between the two. Capped at its
    // current size, the database still has some slack in its pages: fill
    // it with small messages first.
    server.cap_database(1);
    let mut fillers = None;
    for i in 0..10_000 {
        let filler = format!("filler {i:>40}");
        if let Err(error) = alice.client.send_message(&alice.group, filler).await {
            assert_eq!(error.code(), Some(ErrorCode::Internal), "{error}");
            fillers = Some(i);
            break;
        }
    }
    let fillers = fillers.expect("the database fills up");
    for session in [&mut alice, &mut others[0]] {
        session.texts(fillers).await;
    }
    let error = send(&alice.client, &path).await.unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::Internal), "{error}");
    assert!(error.to_string().contains("full"), "{error}");
    // The refused file's contents are deleted on a blocking thread, which
    // may finish just after the reply.
    common::wait_until("the refused file's contents are gone", || {
        listing(&files_dir(&server)) == ["partial"]
    })
    .await;
    assert_eq!(listing(&files_dir(&server)), ["partial"]);
    alice.assert_no_entry().await;
    others[0].assert_no_entry().await;

    server.cap_database(0);
    send(&alice.client, &path).await.unwrap();
    let file = loop {
        if let Body::File { file } = others[0].entry().await.body {
            break file;
        }
    };
    assert_eq!(file.name, "late.pdf");
}

#[tokio::test]
async fn leftovers_of_a_crash_are_cleared_at_start_and_stored_files_kept() {
    let mut server = TestServer::start().await;
    let alice = User::new("alice");
    let session = alice.join(&server, "files").await;
    let work = tempfile::tempdir().unwrap();
    let files = files_dir(&server);
    let lost_path = write_file(work.path(), "lost.txt", b"its contents will go");
    send(&session.client, &lost_path).await.unwrap();
    let lost_id = listing(&files)
        .into_iter()
        .find(|n| n != "partial")
        .unwrap();
    let data = contents(100_000, 13);
    let path = write_file(work.path(), "keep.txt", &data);
    send(&session.client, &path).await.unwrap();
    drop(session);
    server.stop().await;
    // What a crash or an operator can leave: an unfinished upload, contents
    // renamed into place whose announcement never committed, and a record
    // whose contents were deleted by hand.
    std::fs::remove_file(files.join(&lost_id)).unwrap();
    std::fs::write(files.join("partial").join("0123"), "unfinished").unwrap();
    std::fs::write(files.join("4567"), "never announced").unwrap();
    server.restart().await;

    // The server accepts connections only once it has tidied up.
    let mut options = alice.options(&server, "files");
    options.last_seq = [("files".to_owned(), 0)].into();
    let mut session = Session::connect(options).await.unwrap();
    let stored = listing(&files);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(!stored.contains(&"4567".to_owned()));
    assert!(listing(&files.join("partial")).is_empty());
    assert!(matches!(session.entry().await.body, Body::GroupCreated));
    let (_, lost) = announced(&mut session).await;
    let error = fetch(&session.client, &lost, &work.path().join("again"))
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::FileUnavailable), "{error}");
    let (_, file) = announced(&mut session).await;
    let saved = fetch(&session.client, &file, &work.path().join("again"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(saved).unwrap(), data);
}

#[tokio::test]
async fn small_pieces_pay_the_request_budget_and_bulk_ones_do_not() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "big.bin", &contents(1024 * 1024, 14));
    send(&alice.client, &path).await.unwrap();
    announced(&mut alice).await;
    let (_, file) = announced(&mut others[0]).await;
    let bob = others[0].client.clone();
    let fetch_all = |len: u32| {
        let (bob, id) = (bob.clone(), file.id.clone());
        async move {
            let fetches = (0..400).map(|i| {
                let request = Request::FetchFile {
                    file: id.clone(),
                    offset: (i % 4) * 256 * 1024,
                    len,
                };
                let bob = bob.clone();
                async move { bob.request(request).await }
            });
            futures::future::join_all(fetches).await
        }
    };
    // 400 full pieces at once: far over the burst of 200 requests, but
    // bulk, so all are served.
    let bulk = fetch_all(256 * 1024).await;
    assert!(bulk.iter().all(Result::is_ok));
    // 400 one-byte pieces: the flood is limited like any other.
    let tiny = fetch_all(1).await;
    let limited = tiny
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code() == Some(ErrorCode::RateLimited)))
        .count();
    assert!(limited > 0, "no tiny fetch was limited");
    assert!(tiny.iter().any(Result::is_ok));
}

#[tokio::test]
async fn two_uploads_and_chat_share_one_connection() {
    let server = TestServer::with_limits(without_rate_limits()).await;
    let (mut alice, _) = group(&server, &[]).await;
    let work = tempfile::tempdir().unwrap();
    let data = contents(24 * 1024 * 1024, 15);
    let path = write_file(work.path(), "busy.bin", &data);
    // Two uploads and a stream of messages share one connection; each
    // upload's chunks must still reach the server in order.
    let (a, b, chat) = tokio::join!(
        send(&alice.client, &path),
        send(&alice.client, &path),
        async {
            for i in 0..300 {
                alice
                    .client
                    .send_message(&alice.group, format!("m{i}"))
                    .await
                    .unwrap();
            }
        }
    );
    a.unwrap();
    b.unwrap();
    let () = chat;
    let mut files = 0;
    while files < 2 {
        if let Body::File { file } = alice.entry().await.body {
            assert_eq!(file.blake3, blake3::hash(&data).as_bytes());
            files += 1;
        }
    }
}

#[tokio::test]
async fn an_empty_file_goes_through() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "empty.txt", b"");
    send(&alice.client, &path).await.unwrap();
    announced(&mut alice).await;
    let (_, file) = announced(&mut others[0]).await;
    assert_eq!(file.size, 0);
    let saved = fetch(&others[0].client, &file, &work.path().join("dl"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(saved).unwrap(), b"");
}

#[tokio::test]
async fn uploads_are_limited_per_connection_and_can_be_turned_off() {
    let server = TestServer::start().await;
    let (alice, _) = group(&server, &[]).await;
    let data = contents(600_000, 16);
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(start_upload(&alice.client, "x.bin", &data).await);
    }
    let error = alice
        .client
        .request(offer("x.bin", &data))
        .await
        .unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::RateLimited);
    assert!(error.to_string().contains("at most 4 uploads"), "{error}");
    // A chunk over the announced chunk size cancels its upload.
    let (upload, chunk) = open[0];
    let error = send_chunk(&alice.client, upload, 0, &data[..chunk + 1])
        .await
        .unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::BadUpload);
    assert!(error.to_string().contains("at most"), "{error}");
    // That freed a slot.
    start_upload(&alice.client, "x.bin", &data).await;

    let off = TestServer::with_limits(Limits {
        max_file_bytes: 0,
        ..Limits::default()
    })
    .await;
    let (alice, _) = group(&off, &[]).await;
    let error = alice.client.request(offer("x", b"x")).await.unwrap_err();
    assert_eq!(request_code(&error), ErrorCode::FileTooLarge);
    assert!(error.to_string().contains("does not take files"), "{error}");
}

#[tokio::test]
async fn an_unusable_download_dir_is_reported_and_nothing_is_left() {
    let server = TestServer::start().await;
    let (mut alice, mut others) = group(&server, &["bob"]).await;
    let work = tempfile::tempdir().unwrap();
    let path = write_file(work.path(), "a.txt", b"abc");
    send(&alice.client, &path).await.unwrap();
    announced(&mut alice).await;
    let (_, file) = announced(&mut others[0]).await;
    let not_a_dir = write_file(work.path(), "downloads", b"a file in the way");
    let error = fetch(&others[0].client, &file, &not_a_dir)
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::Io { .. }), "{error}");
    assert!(error.to_string().contains("downloads"), "{error}");
    assert_eq!(listing(work.path()), ["a.txt", "downloads"]);
    // The connection is fine: the same file saves elsewhere.
    fetch(&others[0].client, &file, &work.path().join("dl"))
        .await
        .unwrap();
}
