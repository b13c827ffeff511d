//! The real binary: `serve` prints its address, serves, and shuts down
//! cleanly on SIGTERM; bad configuration is reported plainly.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{DEADLINE, Session, User};
use pyconchat::{client::ConnectOptions, protocol::JoinStatus};

fn pyconchat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyconchat"));
    // Keep the developer's own config and environment out of the test.
    command
        .env_remove("PYCONCHAT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    command
}

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
    assert_eq!(session.welcome.status, JoinStatus::Created);
    session.client.send_message("hello").await.unwrap();
    session.entry().await;

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
    assert!(dir.path().join("pyconchat.db").exists());
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
