//! Replays the committed fuzz corpora (`fuzz/corpus/`) under plain `cargo
//! test`, with the same checks as the fuzz targets: the targets' bodies live
//! in `fuzz/shared/` and are compiled into this test too. Fuzzing itself
//! needs cargo-fuzz; see `docs/fuzzing.md`.

mod common;

#[path = "../fuzz/shared/frame_decoder.rs"]
mod frame_decoder;
#[path = "../fuzz/shared/server_requests.rs"]
mod server_requests;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use common::{TestServer, User, text_of, without_rate_limits};
use server_requests::{Health, exercise, script};

/// Every input of one target's corpus, in a stable order.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "the {target} corpus is empty");
    inputs
}

#[test]
fn frame_decoder_corpus_passes_the_decoder_checks() {
    for (path, data) in corpus("frame_decoder") {
        if std::panic::catch_unwind(|| frame_decoder::check(&data)).is_err() {
            panic!("{} fails the frame decoder checks", path.display());
        }
    }
}

/// Set by any panic in this process, including one inside a server task
/// (which Tokio would otherwise swallow).
static PANICKED: AtomicBool = AtomicBool::new(false);

#[test]
fn server_requests_corpus_leaves_the_server_serving() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        previous(info);
    }));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = TestServer::with_limits(without_rate_limits()).await;
        let mut health = Health::connect(server.addr).await.unwrap();
        for (i, (path, data)) in corpus("server_requests").into_iter().enumerate() {
            let steps = script(&data);
            if let Err(broken) = exercise(server.addr, &format!("g{i}"), &steps).await {
                panic!("{}: {broken}\nscript: {steps:#?}", path.display());
            }
            if let Err(down) = health.check().await {
                panic!("{}: the server is down: {down}", path.display());
            }
            assert!(
                !PANICKED.load(Ordering::SeqCst),
                "{} made the server panic",
                path.display()
            );
        }

        // A well-behaved client still gets the full service.
        let alice = User::new("alice");
        let mut admin = alice.join(&server, "after-the-corpus").await;
        admin
            .client
            .send_message(&admin.group, "still standing")
            .await
            .unwrap();
        while text_of(&admin.entry().await) != "still standing" {}
    });
    assert!(!PANICKED.load(Ordering::SeqCst), "something panicked");
}
