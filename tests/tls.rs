//! TLS: the client pins a self-signed certificate on first connect, keeps
//! using it, refuses a changed one with a clear warning, and plaintext and
//! TLS never silently mix.

mod common;

use std::{net::SocketAddr, path::Path, sync::Arc};

use common::{Session, User, without_rate_limits};
use pyconchat::{
    client::{ClientError, ClientEvent, CloseReason, ConnectOptions, KnownServers, Transport},
    protocol::JoinStatus,
    server,
    store::SqliteStore,
    tls,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A TLS server on `addr` whose certificate lives in `cert_dir`.
struct TlsServer {
    addr: SocketAddr,
    fingerprint: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TlsServer {
    async fn start(data: &Path, cert_dir: &Path, addr: &str) -> Self {
        let identity = tls::server_identity(cert_dir, None, None).unwrap();
        let store = Arc::new(SqliteStore::open(data).unwrap());
        let listener = TcpListener::bind(addr).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(server::run_tls(
            listener,
            store,
            without_rate_limits(),
            identity.config,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            fingerprint: identity.fingerprint,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

fn options(user: &User, addr: SocketAddr, pins: &KnownServers) -> ConnectOptions {
    let mut options =
        ConnectOptions::new(addr.to_string(), &user.name, "rust", user.identity.clone());
    options.transport = Transport::Tls {
        known_servers: Some(pins.clone()),
    };
    options
}

#[tokio::test]
async fn the_first_certificate_is_pinned_and_then_required() {
    let (data, certs, client_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let server = TlsServer::start(data.path(), certs.path(), "127.0.0.1:0").await;
    let (addr, fingerprint) = (server.addr, server.fingerprint.clone());
    let pins = KnownServers::new(client_dir.path().join(KnownServers::FILE_NAME));
    let alice = User::new("alice");

    let mut first = Session::connect(options(&alice, addr, &pins))
        .await
        .unwrap();
    assert_eq!(first.status(), JoinStatus::Created);
    let pinned = first
        .wait_for(|e| match e {
            ClientEvent::ServerPinned { fingerprint, .. } => Some(fingerprint.clone()),
            _ => None,
        })
        .await;
    assert_eq!(pinned, fingerprint);
    assert_eq!(
        pins.get(&addr.to_string()).unwrap(),
        Some(fingerprint.clone())
    );
    first
        .client
        .send_message(&first.group, "over TLS")
        .await
        .unwrap();
    first.client.disconnect().await.unwrap();

    // The same certificate again: accepted quietly.
    let again = Session::connect(options(&alice, addr, &pins))
        .await
        .unwrap();
    assert_eq!(again.client.who_admin(&again.group).await.unwrap(), "alice");
    again.client.disconnect().await.unwrap();

    // The server comes back with another certificate on the same address.
    server.stop().await;
    let other_certs = tempfile::tempdir().unwrap();
    let replaced = TlsServer::start(data.path(), other_certs.path(), &addr.to_string()).await;
    let new_fingerprint = replaced.fingerprint.clone();
    let error = Session::connect(options(&alice, addr, &pins))
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, ClientError::PinMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&new_fingerprint) && message.contains("pyconchat forget-server"),
        "{message}"
    );

    // After the user forgets the old pin, the new certificate is pinned.
    assert!(pins.forget(&addr.to_string()).unwrap());
    Session::connect(options(&alice, addr, &pins))
        .await
        .unwrap();
    assert_eq!(pins.get(&addr.to_string()).unwrap(), Some(new_fingerprint));
}

#[tokio::test]
async fn a_certificate_change_during_a_session_stops_the_reconnects() {
    let (data, certs, client_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let server = TlsServer::start(data.path(), certs.path(), "127.0.0.1:0").await;
    let addr = server.addr;
    let pins = KnownServers::new(client_dir.path().join(KnownServers::FILE_NAME));
    let mut options = options(&User::new("alice"), addr, &pins);
    options.min_backoff = std::time::Duration::from_millis(50);
    let mut session = Session::connect(options).await.unwrap();

    server.stop().await;
    let other_certs = tempfile::tempdir().unwrap();
    let _replaced = TlsServer::start(data.path(), other_certs.path(), &addr.to_string()).await;
    let reason = session
        .wait_for(|e| match e {
            ClientEvent::Closed(reason) => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(
        matches!(&reason, CloseReason::Untrusted(m) if m.contains("forget-server")),
        "{reason:?}"
    );
}

#[tokio::test]
async fn plaintext_and_tls_do_not_mix() {
    let (data, certs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = TlsServer::start(data.path(), certs.path(), "127.0.0.1:0").await;
    let addr = server.addr;
    let mut plain = ConnectOptions::new(
        addr.to_string(),
        "ann",
        "rust",
        pyconchat::client::Identity::generate(),
    );
    plain.transport = Transport::Plaintext;
    assert!(
        Session::connect(plain).await.is_err(),
        "a plaintext client is not served by a TLS server"
    );

    let server = common::TestServer::start().await;
    let tls_to_plain = ConnectOptions::new(
        server.address(),
        "ann",
        "rust",
        pyconchat::client::Identity::generate(),
    );
    let error = Session::connect(tls_to_plain).await.err().expect("refused");
    assert!(matches!(error, ClientError::Tls { .. }), "{error}");
}
