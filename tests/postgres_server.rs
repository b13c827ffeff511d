//! Servers on PostgreSQL, over real TCP with real frames: the seed's story
//! (a group created, a join request approved, a second group, a direct
//! message found again by search, a kick) and a restart on the same schema,
//! from which every conversation resumes without gap or duplicate; a change
//! made stale by another server on the same database, refused with
//! `conflict`; the database going away and coming back; and files kept in
//! the database, readable through any server, leaving nothing behind when
//! an upload or its announcement fails.

mod common;

use std::{net::SocketAddr, sync::Arc};

use common::{
    DEADLINE, TestServer, User,
    services::{Database, Postgres},
    text_of,
};
use pyconchat::{
    client::ClientEvent,
    protocol::{Body, ErrorCode, Event, JoinStatus, Request, Seq},
    store::{PostgresStore, Store},
};
use tokio::{
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_story_on_postgresql_and_a_restart_without_gap_or_duplicate() {
    let mut server = TestServer::on_postgres().await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let mut admin = alice.join(&server, "rust").await;
    assert_eq!(admin.status(), JoinStatus::Created);
    let mut member = bob.join(&server, "rust").await;
    assert_eq!(member.status(), JoinStatus::Pending);
    common::approve(&admin.client, "rust", "bob").await;
    admin.say("hello bob").await;
    member.read_until(&[("rust", "hello bob")]).await;
    member.say("hi alice").await;
    admin.read_until(&[("rust", "hi alice")]).await;

    let go = admin.client.join_group("go").await.unwrap();
    assert_eq!(go.status, JoinStatus::Created);
    let asked = member.client.join_group("go").await.unwrap();
    assert_eq!(asked.status, JoinStatus::Pending);
    common::approve(&admin.client, "go", "bob").await;
    admin.client.send_message("go", "g1").await.unwrap();
    let direct = member.client.open_direct("alice").await.unwrap();
    member
        .client
        .send_message(&direct.id, "psst: the Café at noon")
        .await
        .unwrap();
    member
        .read_until(&[
            ("rust", "hi alice"),
            ("go", "g1"),
            (&direct.id, "psst: the Café at noon"),
        ])
        .await;
    let hits = admin.client.search("CAFE noon", 10).await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].conv, direct.id);
    assert_eq!(
        hits[0].entry.body,
        Body::Text {
            text: "psst: the Café at noon".into()
        }
    );

    server.restart().await;
    for session in [&mut admin, &mut member] {
        session
            .wait_for(|e| matches!(e, ClientEvent::Reconnected(_)).then_some(()))
            .await;
    }
    for (conv, text) in [("rust", "r2"), ("go", "g2"), ("rust", "r3")] {
        admin.client.send_message(conv, text).await.unwrap();
    }
    let texts = member.read_until(&[("rust", "r3"), ("go", "g2")]).await;
    assert_eq!(texts["rust"], ["r2", "r3"], "{texts:?}");
    assert_eq!(texts["go"], ["g2"], "{texts:?}");

    let kick = Request::KickMember {
        conv: "go".into(),
        name: "bob".into(),
    };
    admin.client.request(kick).await.unwrap();
    member
        .wait_for(|e| match e {
            ClientEvent::Server(Event::Kicked { conv, by }) if conv == "go" => Some(by.clone()),
            _ => None,
        })
        .await;
    assert!(
        member
            .client
            .send_message("go", "let me back")
            .await
            .is_err()
    );
    member
        .client
        .send_message("rust", "still here")
        .await
        .unwrap();
    admin.read_until(&[("rust", "still here")]).await;
}

/// The code of a request's error reply.
#[tokio::test]
async fn a_change_another_server_made_stale_is_answered_with_conflict() {
    let database = Arc::new(Database::migrated());
    let a = TestServer::on_database(database.clone(), database.url.clone()).await;
    let b = TestServer::on_database(database.clone(), database.url.clone()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let admin_on_a = alice.join(&a, "rust").await;
    let member = bob.join(&a, "rust").await;
    common::approve(&admin_on_a.client, "rust", "bob").await;
    member.say("hi").await;

    // alice kicks bob through server b; server a, which has no word of it,
    // still holds bob for a member.
    let admin_on_b = alice.join(&b, "rust").await;
    let kick = Request::KickMember {
        conv: "rust".into(),
        name: "bob".into(),
    };
    admin_on_b.client.request(kick).await.unwrap();
    let refused = member
        .client
        .send_message("rust", "still here?")
        .await
        .expect_err("a stale post is refused");
    assert_eq!(refused.code(), Some(ErrorCode::Conflict), "{refused}");
    assert!(refused.to_string().contains("try again"), "{refused}");

    // Server a reloaded the group: bob is out of it there too.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match member.client.send_message("rust", "let me in").await {
            Err(error) if error.code() == Some(ErrorCode::NotMember) => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "bob still posts on server a: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let texts: Vec<String> = admin_on_b
        .client
        .search("still here", 10)
        .await
        .unwrap()
        .iter()
        .map(|hit| text_of(&hit.entry))
        .collect();
    assert!(texts.is_empty(), "nothing of the refused post: {texts:?}");
}

/// A TCP relay in front of PostgreSQL that can be cut, as if the database
/// went away, and restored on the same port.
struct Relay {
    listen: SocketAddr,
    target: String,
    task: Option<JoinHandle<()>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Self {
            listen: listener.local_addr().unwrap(),
            target,
            task: None,
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task, which cuts every link.
            let mut links = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                links.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    fn address(&self) -> String {
        self.listen.to_string()
    }

    /// Stops listening and closes every connection through the relay.
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(self.listen).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test]
async fn while_the_database_is_away_requests_get_unavailable_then_all_carries_on() {
    let database = Arc::new(Database::migrated());
    let mut relay = Relay::start(database.address()).await;
    let url = database.url_via(&relay.address());
    let server = TestServer::on_database(database, url).await;
    let alice = User::new("alice");
    let mut session = alice.join(&server, "rust").await;
    session.say("before").await;
    session.read_until(&[("rust", "before")]).await;

    relay.cut().await;
    let refused = session
        .client
        .send_message("rust", "during")
        .await
        .expect_err("nothing is saved while the database is away");
    // The reply says `unavailable`. The server, unable to reload the group
    // it had changed in memory, then closes the connection too; the reply
    // goes first.
    assert_eq!(refused.code(), Some(ErrorCode::Unavailable), "{refused:?}");

    relay.restore().await;
    // The connection may have been closed meanwhile (the server could not
    // reload the group) and come back by itself: send until it goes through.
    session.send_until_accepted("rust", "after").await;
    let texts = session.read_until(&[("rust", "after")]).await;
    assert_eq!(texts["rust"], ["after"], "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_answers_unavailable_meanwhile_then_all_carries_on() {
    let postgres = Postgres::start_own().await;
    let database = Arc::new(Database::migrated_on(&postgres.url()));
    let mut server = TestServer::on_database(database.clone(), database.url.clone()).await;
    let (alice, bob) = (User::new("alice"), User::new("bob"));
    let mut admin = alice.join(&server, "rust").await;
    let mut member = bob.join(&server, "rust").await;
    common::approve(&admin.client, "rust", "bob").await;
    admin.say("before").await;
    member.read_until(&[("rust", "before")]).await;

    postgres.stop_from_async().await;
    let refused = admin
        .client
        .send_message("rust", "during")
        .await
        .expect_err("nothing is saved while the database is down");
    assert_eq!(refused.code(), Some(ErrorCode::Unavailable), "{refused:?}");
    // A newcomer is told the same, in one clear error.
    match User::new("cid").try_join(&server, "rust").await {
        Err(refused) => assert_eq!(refused.code(), Some(ErrorCode::Unavailable), "{refused:?}"),
        Ok(_) => panic!("cid got in while the database was down"),
    }

    postgres.start_again_from_async().await;
    admin.send_until_accepted("rust", "after").await;
    member.send_until_accepted("rust", "and after").await;
    // Both read on without a gap or a duplicate (the check is in
    // `read_until`), over a reconnect if the outage closed theirs.
    let texts = admin.read_until(&[("rust", "and after")]).await;
    assert_eq!(
        texts["rust"][2..],
        ["before", "after", "and after"],
        "{texts:?}"
    );
    let texts = member.read_until(&[("rust", "and after")]).await;
    assert_eq!(texts["rust"], ["after", "and after"], "{texts:?}");

    // The log: every entry once, no gap, nothing of the refused post.
    let (url, files) = (database.url.clone(), server.dir.path().join("check"));
    let log = tokio::task::spawn_blocking(move || {
        PostgresStore::open(&url, files)
            .and_then(|store| store.read_log("rust", 0, 1_000))
            .expect("read the log back")
    })
    .await
    .unwrap();
    let seqs: Vec<Seq> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=log.len() as Seq).collect::<Vec<_>>(), "dense");
    let texts: Vec<String> = log
        .iter()
        .filter(|e| matches!(e.body, Body::Text { .. }))
        .map(text_of)
        .collect();
    assert_eq!(texts, ["before", "after", "and after"]);
    server.stop().await;
}

/// Bytes that do not repeat, from a seed.
fn noise(len: usize, seed: &str) -> Vec<u8> {
    let mut data = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut data);
    data
}

/// Rows of files' contents in the database.
fn chunk_rows(database: &Database) -> i64 {
    database.number("SELECT count(*) FROM file_chunks")
}

/// Waits until `database` holds `rows` rows of contents.
async fn chunk_rows_become(database: &Database, rows: i64) {
    common::wait_until(&format!("{rows} rows of contents"), || {
        chunk_rows(database) == rows
    })
    .await;
}

#[tokio::test]
async fn a_server_serves_the_files_another_server_stored() {
    use pyconchat::{
        protocol::FileInfo,
        store::{Change, PostgresStore, Store, now_ms},
    };
    let database = Arc::new(Database::migrated());
    // A file sent through another server: its record and its contents are
    // in the shared database (nothing of it on this server's disk).
    let data = noise(700_000, "elsewhere");
    let (url, elsewhere) = (database.url.clone(), tempfile::tempdir().unwrap());
    let sent = data.clone();
    let (other, file) = tokio::task::spawn_blocking(move || {
        let store = PostgresStore::open(&url, elsewhere.path().to_owned()).unwrap();
        let file = FileInfo {
            id: "f1".into(),
            name: "notes.bin".into(),
            size: sent.len() as u64,
            blake3: blake3::hash(&sent).as_bytes().to_vec(),
        };
        let path = elsewhere.path().join("upload");
        std::fs::write(&path, &sent).unwrap();
        store.contents().put(&file.id, &path).unwrap();
        let changes = [
            Change::CreateGroup {
                group: "rust".into(),
                admin: "alice".into(),
            },
            Change::PostFile {
                group: "rust".into(),
                from: "alice".into(),
                file: file.clone(),
            },
        ];
        store.apply(now_ms(), &changes).unwrap();
        (store, file)
    })
    .await
    .unwrap();
    // Contents a node wrote and never announced: an hour old (a crash
    // between the two steps), and just now (another node about to commit).
    let old = now_ms() - 2 * 60 * 60 * 1000;
    database.execute(&format!(
        "INSERT INTO file_chunks (id, n, at_ms, data) VALUES
             ('crashed', 0, {old}, '\\x00'), ('on-its-way', 0, {}, '\\x00')",
        now_ms()
    ));
    let server = TestServer::on_database(database.clone(), database.url.clone()).await;
    // Sessions start once the server has set its files in order.
    let session = User::new("alice").join(&server, "rust").await;
    let other = Arc::new(other);
    let records = tokio::task::spawn_blocking(move || other.files().unwrap())
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "the record stays: {records:?}");
    let orphans: Vec<i64> = ["crashed", "on-its-way"]
        .iter()
        .map(|id| {
            database.number(&format!(
                "SELECT count(*) FROM file_chunks WHERE id = '{id}'"
            ))
        })
        .collect();
    assert_eq!(orphans, [0, 1], "only the old orphan goes");

    let downloads = tempfile::tempdir().unwrap();
    let saved = session
        .client
        .fetch_file(&file, downloads.path(), |_| {}, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(std::fs::read(saved).unwrap(), data);
}

#[tokio::test]
async fn failed_uploads_leave_no_contents_in_the_database_and_closing_removes_them() {
    let database = Arc::new(Database::migrated());
    let server = TestServer::on_database(database.clone(), database.url.clone()).await;
    let alice = User::new("alice").join(&server, "files").await;
    let work = tempfile::tempdir().unwrap();
    let data = noise(600_000, "refused");
    let path = work.path().join("refused.bin");
    std::fs::write(&path, &data).unwrap();

    // The announcement is refused after the contents were written.
    database.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON files
             FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    let error = alice
        .client
        .send_file("files", &path, |_| {}, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("internal error"), "{error}");
    chunk_rows_become(&database, 0).await;
    database.execute("DROP TRIGGER refuse ON files");

    // An upload cut mid-way: the connection goes after one chunk.
    {
        let cut = User::new("bob").join(&server, "elsewhere").await;
        let offer = Request::OfferFile {
            conv: "elsewhere".into(),
            name: "cut.bin".into(),
            size: data.len() as u64,
            blake3: blake3::hash(&data).as_bytes().to_vec(),
        };
        let pyconchat::protocol::ReplyData::Upload { upload, .. } =
            cut.client.request(offer).await.unwrap()
        else {
            panic!("an upload");
        };
        let chunk = Request::FileChunk {
            upload,
            offset: 0,
            data: data[..100_000].to_vec(),
        };
        cut.client.request(chunk).await.unwrap();
    }
    let partial = server.dir.path().join("files").join("partial");
    common::wait_until("the cut upload is gone", || {
        std::fs::read_dir(&partial).unwrap().count() == 0
    })
    .await;
    assert_eq!(chunk_rows(&database), 0);

    // A file that goes through is in the database; closing the group
    // (its last member leaves) removes it.
    alice
        .client
        .send_file("files", &path, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(chunk_rows(&database), 3, "600,000 bytes in rows of 256 KiB");
    alice
        .client
        .request(Request::LeaveGroup {
            group: "files".into(),
        })
        .await
        .unwrap();
    chunk_rows_become(&database, 0).await;
    assert_eq!(database.number("SELECT count(*) FROM files"), 0);
}

#[tokio::test]
async fn while_the_database_is_away_files_get_unavailable_and_nothing_is_left() {
    let database = Arc::new(Database::migrated());
    let mut relay = Relay::start(database.address()).await;
    let url = database.url_via(&relay.address());
    let server = TestServer::on_database(database.clone(), url).await;
    let mut alice = User::new("alice").join(&server, "files").await;
    let work = tempfile::tempdir().unwrap();
    let data = noise(300_000, "kept");
    let path = work.path().join("kept.bin");
    std::fs::write(&path, &data).unwrap();
    alice
        .client
        .send_file("files", &path, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    let file = loop {
        if let Body::File { file } = alice.entry().await.body {
            break file;
        }
    };
    // An upload whose bytes are all in when the database goes.
    let offer = Request::OfferFile {
        conv: "files".into(),
        name: "late.bin".into(),
        size: data.len() as u64,
        blake3: blake3::hash(&data).as_bytes().to_vec(),
    };
    let pyconchat::protocol::ReplyData::Upload { upload, .. } =
        alice.client.request(offer).await.unwrap()
    else {
        panic!("an upload");
    };
    for (n, piece) in data.chunks(256 * 1024).enumerate() {
        let chunk = Request::FileChunk {
            upload,
            offset: (n * 256 * 1024) as u64,
            data: piece.to_vec(),
        };
        alice.client.request(chunk).await.unwrap();
    }

    relay.cut().await;
    let refused = alice
        .client
        .request(Request::CompleteUpload { upload })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::Unavailable), "{refused}");
    let refused = alice
        .client
        .fetch_file(
            &file,
            &work.path().join("away"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let code = match &refused {
        pyconchat::client::TransferError::Client(error) => error.code(),
        _ => None,
    };
    assert_eq!(code, Some(ErrorCode::Unavailable), "{refused}");
    let partial = server.dir.path().join("files").join("partial");
    assert_eq!(std::fs::read_dir(&partial).unwrap().count(), 0);

    relay.restore().await;
    assert_eq!(chunk_rows(&database), 2, "only the file kept before");
    let saved = alice
        .client
        .fetch_file(
            &file,
            &work.path().join("back"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(saved).unwrap(), data);
}

#[tokio::test]
async fn expired_files_leave_the_database() {
    let database = Arc::new(Database::migrated());
    let retention = std::time::Duration::from_secs(30);
    let limits = pyconchat::server::Limits {
        file_retention: retention,
        ..pyconchat::server::Limits::default()
    };
    let server =
        TestServer::on_database_with_limits(database.clone(), database.url.clone(), limits).await;
    let alice = User::new("alice").join(&server, "files").await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("soon.bin");
    std::fs::write(&path, noise(300_000, "soon")).unwrap();
    alice
        .client
        .send_file("files", &path, |_| {}, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(chunk_rows(&database), 2);
    // The server shares this test's clock: move it past the retention.
    tokio::time::pause();
    tokio::time::advance(retention + std::time::Duration::from_secs(1)).await;
    tokio::time::resume();
    chunk_rows_become(&database, 0).await;
    assert_eq!(database.number("SELECT count(*) FROM files"), 0);
}
