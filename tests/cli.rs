//! The real binary: `serve` prints its address, serves, and shuts down
//! cleanly on SIGTERM; bad configuration is reported plainly.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{DEADLINE, Session, User};
use pyconchat::{client::ConnectOptions, protocol::JoinStatus, store::PostgresStore};

fn pyconchat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyconchat"));
    // Keep the developer's own config and environment out of the test.
    command
        .env_remove("PYCONCHAT_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    command
}

/// The escape byte that starts every colour and terminal control sequence.
const ESC: u8 = 0x1b;

#[tokio::test]
async fn serve_prints_its_address_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, address) = common::spawn_serve(
        pyconchat()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path()),
    );
    assert!(address.starts_with("127.0.0.1:"), "{address}");

    let alice = User::new("alice");
    let options = ConnectOptions::new(&address, "alice", "rust", alice.identity.clone());
    let mut session = Session::connect(options).await.unwrap();
    assert_eq!(session.status(), JoinStatus::Created);
    session
        .client
        .send_message(&session.group, "hello")
        .await
        .unwrap();
    session.entry().await;

    stop_with_sigterm(&mut server);
    assert!(dir.path().join("pyconchat.db").exists());
}

/// Sends SIGTERM and waits for the server to exit, which it must do
/// cleanly (status 0).
fn stop_with_sigterm(server: &mut std::process::Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < DEADLINE, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_logs_to_a_file_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (mut server, _) = common::spawn_serve_logging_to(
        pyconchat()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path()),
        log.into(),
    );
    // A signal sent as soon as the address is printed already stops the
    // server cleanly: its handlers are in place before it says anything.
    stop_with_sigterm(&mut server);
    let log = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains(" INFO pyconchat: store open database="),
        "{text}"
    );
    assert!(text.contains("shut down cleanly"), "{text}");
    assert!(!log.contains(&ESC), "{text:?}");
}

/// Runs `pyconchat serve` with `args` after the global ones, expecting it
/// to fail; returns what it printed on stderr.
fn failed_serve(global: &[&str], args: &[&str], backtrace: bool) -> String {
    let mut command = pyconchat();
    if backtrace {
        command.env("RUST_BACKTRACE", "1");
    }
    let output = command
        .args(global)
        .arg("serve")
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn errors_are_plain_sentences_without_location_or_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[server]\nmax_message_bytes = -1\n").unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let config = ["--config", bad_config.to_str().unwrap()];
    let listen = ["--listen", "nowhere", "--plaintext", "--data-dir", data_dir];
    let metrics = [
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "nowhere",
        "--plaintext",
        "--data-dir",
        data_dir,
    ];
    for (global, args, sentence) in [
        (&config[..], &[][..], "Error: in the config file "),
        (&[][..], &listen[..], "Error: cannot listen on nowhere: "),
        (
            &[][..],
            &metrics[..],
            "Error: cannot listen for metrics on nowhere: ",
        ),
    ] {
        let stderr = failed_serve(global, args, false);
        assert!(
            stderr.lines().any(|line| line.starts_with(sentence)),
            "{stderr}"
        );
        assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
        assert!(
            !stderr.contains("Location") && !stderr.contains("Backtrace"),
            "{stderr}"
        );

        let stderr = failed_serve(global, args, true);
        assert!(stderr.contains("Location:\n"), "{stderr}");
        assert!(stderr.contains("src/main.rs"), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    }
}

#[test]
fn serve_stops_at_start_with_one_sentence_when_the_bus_is_wrong_or_away() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let away = format!("nats://{}", closed.local_addr().unwrap());
    drop(closed);
    for (bus, sentence) in [
        (
            "http://bus:4222",
            "Error: the bus URL http://bus:4222 is not a nats:// URL".to_owned(),
        ),
        (
            away.as_str(),
            format!("Error: cannot reach the bus at {away}: "),
        ),
    ] {
        let args = ["--plaintext", "--data-dir", data_dir, "--bus", bus];
        let stderr = failed_serve(&[], &args, false);
        assert!(
            stderr.lines().any(|line| line.starts_with(&sentence)),
            "{stderr}"
        );
    }
}

#[test]
fn join_refuses_output_that_is_not_a_terminal_without_writing_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut join = pyconchat()
        .args(["join", "--plaintext", "--name", "ann", "--group", "rust"])
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while join.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            join.kill().unwrap();
            panic!("join kept running with its output in a pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = join.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
    assert!(stderr.contains("terminal"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn help_shows_examples() {
    let output = pyconchat().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains("--listen") && help.contains("Examples:"),
        "{help}"
    );
}

#[test]
fn a_bad_config_file_is_reported_with_its_name_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nmax_message_bytes = -1\n").unwrap();
    let output = pyconchat()
        .arg("--config")
        .arg(&path)
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml") && stderr.contains("max_message_bytes"),
        "{stderr}"
    );
}

#[test]
fn release_name_frees_a_name_for_a_new_identity() {
    use pyconchat::store::{NameClaim, SqliteStore, Store};
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path())
        .unwrap()
        .claim_name("ann", &[1; 32])
        .unwrap();
    let output = pyconchat()
        .args(["release-name", "ann", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("Released ann"));
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.claim_name("ann", &[2; 32]).unwrap(),
        NameClaim::Claimed
    );
}

#[test]
fn forget_server_removes_only_that_pin() {
    use pyconchat::client::KnownServers;
    let dir = tempfile::tempdir().unwrap();
    let pins = KnownServers::new(dir.path().join(KnownServers::FILE_NAME));
    pins.pin("a:1", "SHA256:AA").unwrap();
    pins.pin("b:2", "SHA256:BB").unwrap();
    let forget = |server: &str| {
        let output = pyconchat()
            .args(["forget-server", server, "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(forget("a:1").contains("Forgot the certificate pinned for a:1"));
    assert!(forget("a:1").contains("No certificate was pinned for a:1"));
    assert_eq!(pins.get("a:1").unwrap(), None);
    assert_eq!(pins.get("b:2").unwrap().as_deref(), Some("SHA256:BB"));
}

/// Runs the binary with `args` and `--data-dir dir`; returns its stdout,
/// or its stderr if it failed.
fn operator(args: &[&str], dir: &std::path::Path) -> Result<String, String> {
    let output = pyconchat()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    let text = |bytes| String::from_utf8(bytes).unwrap();
    if output.status.success() {
        Ok(text(output.stdout))
    } else {
        Err(text(output.stderr))
    }
}

/// `ann` is admin of `rust`, which has a message and a file; `cat` is in
/// no group.
fn a_server_with_a_group(dir: &std::path::Path) {
    use pyconchat::{
        protocol::FileInfo,
        store::{Change, SqliteStore, Store},
    };
    let store = SqliteStore::open(dir).unwrap();
    store.claim_name("ann", &[1; 32]).unwrap();
    store.claim_name("cat", &[2; 32]).unwrap();
    let group = || "rust".to_owned();
    let file = FileInfo {
        id: "f1".into(),
        name: "notes.txt".into(),
        size: 3,
        blake3: blake3::hash(b"abc").as_bytes().to_vec(),
    };
    std::fs::create_dir_all(store.files_dir()).unwrap();
    std::fs::write(store.files_dir().join("f1"), b"abc").unwrap();
    store
        .apply(
            pyconchat::store::now_ms(),
            &[
                Change::CreateGroup {
                    group: group(),
                    admin: "ann".into(),
                },
                Change::Post {
                    group: group(),
                    from: "ann".into(),
                    text: "hi".into(),
                },
                Change::PostFile {
                    group: group(),
                    from: "ann".into(),
                    file,
                },
            ],
        )
        .unwrap();
}

#[test]
fn names_lists_and_releases_only_names_in_no_group() {
    use pyconchat::store::{SqliteStore, Store};
    let dir = tempfile::tempdir().unwrap();
    a_server_with_a_group(dir.path());
    let listed = operator(&["names", "--unused-days", "1"], dir.path()).unwrap();
    assert!(listed.contains("0 names in no group"), "{listed}");
    // Both names were seen moments ago: only a 0-day cut-off reaches them.
    let listed = operator(&["names", "--unused-days", "0"], dir.path()).unwrap();
    assert!(
        listed.starts_with("cat ") && listed.contains("1 names in no group"),
        "{listed}"
    );
    let released = operator(&["names", "--unused-days", "0", "--release"], dir.path()).unwrap();
    assert_eq!(released, "cat\nReleased 1 unused names.\n");
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.verify_name("cat", &[2; 32]).unwrap(), None);
    assert!(store.verify_name("ann", &[1; 32]).unwrap().is_some());
}

#[test]
fn groups_lists_those_idle_for_the_given_days() {
    let dir = tempfile::tempdir().unwrap();
    a_server_with_a_group(dir.path());
    let listed = operator(&["groups", "--idle-days", "1"], dir.path()).unwrap();
    assert!(listed.starts_with("0 groups idle for 1 days"), "{listed}");
    let listed = operator(&["groups", "--idle-days", "0"], dir.path()).unwrap();
    assert!(
        listed.starts_with("rust ") && listed.contains("admin ann") && listed.contains("1 members"),
        "{listed}"
    );
}

#[test]
fn close_group_refuses_while_the_server_runs_then_removes_everything() {
    use pyconchat::store::{SqliteStore, Store};
    let dir = tempfile::tempdir().unwrap();
    a_server_with_a_group(dir.path());
    let (mut server, _) = common::spawn_serve(
        pyconchat()
            .args([
                "serve",
                "--plaintext",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path()),
    );
    let refused = operator(&["close-group", "rust"], dir.path()).unwrap_err();
    assert!(refused.contains("stop it first"), "{refused}");
    server.kill().unwrap();
    server.wait().unwrap();

    let closed = operator(&["close-group", "rust"], dir.path()).unwrap();
    assert_eq!(
        closed,
        "Closed rust: removed 1 members, 3 log entries and 1 files.\n"
    );
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.load_group("rust").unwrap(), None);
    assert!(store.files().unwrap().is_empty());
    assert!(!store.files_dir().join("f1").exists());
    let again = operator(&["close-group", "rust"], dir.path()).unwrap();
    assert!(again.contains("There is no group rust"), "{again}");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _) = common::spawn_serve(
        pyconchat()
            .args([
                "serve",
                "--plaintext",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path()),
    );
    let refused = operator(
        &["serve", "--plaintext", "--listen", "127.0.0.1:0"],
        dir.path(),
    )
    .unwrap_err();
    assert!(
        refused.contains("in use by another pyconchat process"),
        "{refused}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn serve_refuses_a_postgresql_store_it_cannot_use_in_one_sentence() {
    use common::services::Database;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let empty = Database::empty();
    let newer = Database::migrated();
    newer.execute("UPDATE schema_version SET version = 99");
    let too_new = format!(
        "has schema version 99, newer than this build understands ({}); upgrade PyconChat",
        PostgresStore::SCHEMA_VERSION
    );
    for (store, sentence) in [
        (
            empty.url.as_str(),
            "has no PyconChat schema; create it with `pyconchat migrate --store URL`",
        ),
        (newer.url.as_str(), too_new.as_str()),
        (
            "postgres://chat:secret@127.0.0.1:1/pyconchat",
            "Error: cannot connect to the database at postgres://chat:***@127.0.0.1:1/pyconchat: ",
        ),
        ("postgres://127.0.0.1:port/db", "is not a PostgreSQL URL"),
        (
            "mysql://db/chat",
            "Error: the store must be a postgres:// URL, not mysql://db/chat",
        ),
    ] {
        let args = [
            "--plaintext",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
            "--store",
            store,
        ];
        let stderr = failed_serve(&[], &args, false);
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
        assert!(
            stderr.starts_with("Error: ") && stderr.contains(sentence),
            "{stderr}"
        );
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}

#[tokio::test]
async fn migrate_then_serve_and_the_operator_commands_on_postgresql() {
    use common::services::Database;
    let database = Database::empty();
    let migrate = || {
        let output = pyconchat()
            .args(["migrate", "--store", &database.url])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(migrate().starts_with("Created the schema at "));
    let current = format!("is up to date (version {})", PostgresStore::SCHEMA_VERSION);
    assert!(migrate().contains(&current));

    let dir = tempfile::tempdir().unwrap();
    let (mut server, address) = common::spawn_serve(
        pyconchat()
            .args([
                "serve",
                "--plaintext",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path())
            .env("PYCONCHAT_CLUSTER_STORE", &database.url),
    );
    let alice = User::new("alice");
    let mut options = ConnectOptions::new(&address, "alice", "rust", alice.identity.clone());
    options.transport = pyconchat::client::Transport::Plaintext;
    let mut session = Session::connect(options).await.unwrap();
    assert_eq!(session.status(), JoinStatus::Created);
    session.say("hello").await;
    session.entry().await;
    stop_with_sigterm(&mut server);
    assert!(
        !dir.path().join("pyconchat.db").exists(),
        "nothing stored in the data dir"
    );

    let store = ["--store", database.url.as_str()];
    let listed = operator(
        &[&["groups", "--idle-days", "0"][..], &store].concat(),
        dir.path(),
    )
    .unwrap();
    assert!(
        listed.starts_with("rust ") && listed.contains("admin alice"),
        "{listed}"
    );
    let released = operator(
        &[&["release-name", "alice"][..], &store].concat(),
        dir.path(),
    )
    .unwrap();
    assert!(released.starts_with("Released alice"), "{released}");
    let closed = operator(&[&["close-group", "rust"][..], &store].concat(), dir.path()).unwrap();
    assert!(
        closed.starts_with("Closed rust: removed 1 members, 2 log entries"),
        "{closed}"
    );
}
