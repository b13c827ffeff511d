//! The seed's story, end to end: the real binary in tmux against a real
//! server. alice creates a group; bob asks to join; alice types with the
//! focus on every pane (and only types), then approves through the menu
//! and its question; they chat; alice opens a second group without
//! reconnecting and lets bob in there too; bob writes to alice directly,
//! and alice finds his message again with the history search; alice sends
//! a file, which bob's client
//! saves by itself; bob quits, alice writes and sends another with the file
//! picker, bob returns and sees both after the divider (what he read before
//! above it), the file saved; alice sends 300 lines in a loop and types
//! while the server is down; bob quits and returns to the last messages,
//! pages back through the flood and lists the files (those his earlier
//! runs saved shown as saved, none saved twice); alice hands admin to
//! bob; bob kicks alice. At the end the log is read back to
//! check that every line alice typed is there once, in order.
//!
//! Needs `tmux` on the PATH. Every wait polls the screen with a generous
//! deadline, so a slow machine makes the test slower, not flaky.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use common::{DEADLINE, tmux::Tmux};

const BIN: &str = env!("CARGO_BIN_EXE_pyconchat");

/// The server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts a server listening on `listen` (`127.0.0.1:0` for any port).
    fn start(data_dir: &Path, config: &Path, listen: &str) -> Server {
        let (child, addr) = common::spawn_serve(
            Command::new(BIN)
                .args(["--config".as_ref(), config.as_os_str()])
                .args(["serve", "--listen", listen, "--data-dir"])
                .arg(data_dir),
        );
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_story_in_a_real_terminal() {
    let root = tempfile::tempdir().unwrap();
    // An empty config file, so a developer's own config does not leak in.
    let config = root.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let server_dir = dir(root.path(), "server");
    let mut server = Server::start(&server_dir, config.as_ref(), "127.0.0.1:0");
    let tmux = Tmux::new(root.path());
    let alice_dir = dir(root.path(), "alice");
    let bob_dir = dir(root.path(), "bob");
    let args = |name: &str, data: &Path| -> Vec<String> {
        vec![
            "--config".into(),
            config.clone(),
            "--server".into(),
            server.addr.clone(),
            "--name".into(),
            name.into(),
            "--group".into(),
            "rust".into(),
            "--data-dir".into(),
            data.to_str().unwrap().into(),
        ]
    };
    let alice_args = args("alice", &alice_dir);
    let bob_args = args("bob", &bob_dir);
    let alice_downloads = root.path().join("alice downloads");
    let bob_downloads = root.path().join("bob-dl");
    // Where the clients start, so alice's file picker opens here.
    let files = dir(root.path(), "files");

    // alice creates the group.
    tmux.join("alice", &files, &alice_downloads, &alice_args);
    tmux.wait_for(
        "alice",
        &["alice (admin)", "alice created #rust", "● connected"],
    );

    // bob asks to join and waits.
    tmux.join("bob", &files, &bob_downloads, &bob_args);
    tmux.wait_for(
        "bob",
        &["Waiting for approval", "You asked to join #rust as bob"],
    );
    tmux.wait_for("alice", &["bob asks to join", "Requests (1)"]);

    // Typing with the focus on any pane types, and does nothing else.
    let unchanged = ["Requests (1)", "Members 1/1"];
    tmux.keys("alice", &["Tab"]); // the messages
    tmux.type_only("alice", "go get it, gg", &unchanged);
    tmux.keys("alice", &["Tab", "Tab"]); // the members
    tmux.type_only("alice", "my way", &unchanged);
    tmux.keys("alice", &["F4"]); // the requests
    tmux.type_only("alice", "really nice", &unchanged);
    tmux.wait_for("bob", &["Waiting for approval"]);

    // alice approves: F4 to the requests, Enter for the menu, Enter on
    // "Approve", and yes to the question that names bob.
    tmux.keys("alice", &["F4", "Enter"]);
    tmux.wait_for("alice", &["bob asks to join #rust", "Approve: let bob in"]);
    tmux.keys("alice", &["Enter"]);
    tmux.wait_for("alice", &["Let bob into #rust?"]);
    tmux.keys("alice", &["y"]);
    tmux.wait_for("bob", &["alice let you into #rust", "bob (member)"]);
    tmux.wait_for("alice", &["bob joined (approved by alice)", "Requests (0)"]);
    tmux.keys("alice", &["Tab"]); // back to the input line

    // They chat.
    tmux.say("bob", "hello alice");
    tmux.wait_for("alice", &["bob hello alice"]);
    // Ctrl-L redraws everything, more than once, and the client goes on.
    for _ in 0..5 {
        tmux.keys("bob", &["C-l"]);
        tmux.type_text("bob", "x");
    }
    tmux.keys("bob", &["C-u"]);
    tmux.say("bob", "still here after a redraw");
    tmux.wait_for("alice", &["bob still here after a redraw"]);
    tmux.say("alice", "hi bob, welcome");
    tmux.wait_for("bob", &["alice hi bob, welcome"]);
    // Messages sent in quick succession arrive in the order they were sent.
    let burst: Vec<String> = (1..=5).map(|i| format!("quick {i}")).collect();
    for text in &burst {
        tmux.say("alice", text);
    }
    let lines: Vec<String> = burst.iter().map(|t| format!("alice {t}")).collect();
    let needles: Vec<&str> = lines.iter().map(String::as_str).collect();
    let screen = tmux.wait_for("bob", &needles);
    let at: Vec<usize> = needles.iter().map(|n| screen.find(n).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in order:\n{screen}");

    // alice opens a second group without reconnecting; bob asks to join
    // it from his client, and alice lets him in.
    tmux.say("alice", "/join go");
    tmux.wait_for(
        "alice",
        &[
            "You created #go and are its admin",
            "#go │ alice (admin)",
            "#rust",
        ],
    );
    tmux.say("bob", "/join go");
    tmux.wait_for("bob", &["You asked to join #go.", "◌#go"]);
    tmux.wait_for("alice", &["bob asks to join", "Requests (1)"]);
    tmux.keys("alice", &["F4", "Enter", "Enter", "y"]);
    tmux.wait_for("bob", &["alice let you into #go"]);
    tmux.say("bob", "hello go");
    tmux.wait_for("alice", &["bob hello go"]);

    // bob writes to alice directly; she sees it waiting in her list, goes
    // there with the switcher, and answers.
    tmux.say("bob", "/msg alice psst, a secret");
    tmux.wait_for("bob", &["to @alice: psst, a secret", "@alice"]);
    tmux.wait_for("alice", &["@bob"]);
    tmux.keys("alice", &["C-g"]);
    tmux.type_text("alice", "bob");
    tmux.wait_for("alice", &["Go to a conversation", "Name: bob"]);
    tmux.keys("alice", &["Enter"]);
    tmux.wait_for("alice", &["@bob │ alice", "bob psst, a secret"]);
    tmux.say("alice", "my lips are sealed");
    tmux.keys("bob", &["C-g"]);
    tmux.type_text("bob", "alice");
    tmux.keys("bob", &["Enter"]);
    tmux.wait_for("bob", &["alice my lips are sealed"]);

    // The history search finds it again from another conversation, and
    // goes there.
    tmux.keys("alice", &["M-1"]);
    tmux.wait_for("alice", &["#go │ alice (admin)"]);
    tmux.keys("alice", &["C-r"]);
    tmux.type_text("alice", "secret");
    tmux.keys("alice", &["Enter"]);
    tmux.wait_for(
        "alice",
        &["Search every conversation", "bob: psst, a secret"],
    );
    tmux.keys("alice", &["Enter"]);
    tmux.wait_for("alice", &["@bob │ alice", "bob psst, a secret"]);

    // Back to #rust, both.
    for who in ["alice", "bob"] {
        tmux.keys(who, &["C-g"]);
        tmux.type_text(who, "rust");
        tmux.keys(who, &["Enter"]);
        tmux.wait_for(who, &["#rust │", "hello alice"]);
    }

    // alice sends a file by its path; bob's client saves it by itself (it
    // is under the automatic limit) and says where.
    let notes: Vec<u8> = (0..5_000_u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(files.join("my notes.txt"), &notes).unwrap();
    tmux.say(
        "alice",
        &format!("/fileTransfer {}", files.join("my notes.txt").display()),
    );
    tmux.wait_for(
        "alice",
        &["Sent my notes.txt (19.5 KiB) in", "you shared my notes.txt"],
    );
    let saved = bob_downloads.join("my notes.txt");
    // The announcement says where it went (the path may wrap).
    let screen = tmux.wait_for(
        "bob",
        &["alice shared my notes.txt (19.5 KiB) · saved to /"],
    );
    assert!(
        !screen.contains("Saved my notes.txt"),
        "one line for a file saved by itself:\n{screen}"
    );
    assert_eq!(std::fs::read(&saved).unwrap(), notes, "the same bytes");
    assert!(
        !alice_downloads.exists(),
        "the sender does not download her own file"
    );

    // bob quits; alice writes and sends another file; bob returns and sees
    // both after the divider, the file already saved.
    tmux.keys("bob", &["C-c"]);
    tmux.wait_gone("bob");
    tmux.wait_for("alice", &["○ bob"]);
    tmux.say("alice", "you missed this one");
    tmux.wait_for("alice", &["alice you missed this one"]);
    // This one through the file picker: it opens where alice started,
    // typing filters it down, Enter sends.
    std::fs::write(files.join("later.txt"), b"sent while you were away").unwrap();
    tmux.keys("alice", &["C-o"]);
    tmux.wait_for(
        "alice",
        &["Send a file: ", "later.txt", "my notes.txt", "19.5 KiB"],
    );
    tmux.type_text("alice", "lat");
    let picker = tmux.wait_for("alice", &["Filter: lat"]);
    assert!(!picker.contains("my notes.txt"), "filtered:\n{picker}");
    tmux.keys("alice", &["Enter"]);
    tmux.wait_for("alice", &["you shared later.txt"]);
    tmux.join("bob2", &files, &bob_downloads, &bob_args);
    let later = bob_downloads.join("later.txt");
    let screen = tmux.wait_for(
        "bob2",
        &[
            "while you were away",
            "alice you missed this one",
            "alice shared later.txt (24 B) · saved to /",
        ],
    );
    assert_eq!(std::fs::read(&later).unwrap(), b"sent while you were away");
    let divider = screen.find("while you were away").unwrap();
    let missed = screen.find("alice you missed this one").unwrap();
    assert!(divider < missed, "the divider comes first:\n{screen}");
    // What bob read before is there above it, as history, once.
    let screen = tmux.wait_for("bob2", &["bob hello alice"]);
    assert_eq!(screen.matches("hello alice").count(), 1, "{screen}");
    assert!(
        screen.find("bob hello alice").unwrap() < divider,
        "history above the divider:\n{screen}"
    );

    // 300 lines in a loop: the queue paces them under the server's flood
    // limit; bob gets the last one, alice is told of no failure.
    let flood: Vec<String> = (1..=300).map(|i| format!("flood {i:03}")).collect();
    tmux.say_all("alice", &flood);
    tmux.wait_for("alice", &["queued ("]);
    tmux.wait_for_within("bob2", &["alice flood 300"], DEADLINE * 3);
    let screen = tmux.wait_for_within("alice", &["alice flood 300"], DEADLINE);
    assert!(!screen.contains("not sent"), "{screen}");
    assert!(
        !screen.contains("queued ("),
        "the queue is empty:\n{screen}"
    );

    // The server goes away: what alice types waits, and goes once it is
    // back (F5 tries at once instead of at the end of the backoff).
    let listen = server.addr.clone();
    drop(server);
    tmux.wait_for("alice", &["reconnecting in"]);
    tmux.say("alice", "while down 1");
    tmux.say("alice", "while down 2");
    tmux.wait_for("alice", &["queued (2)"]);
    server = Server::start(&server_dir, config.as_ref(), &listen);
    tmux.keys("alice", &["F5"]);
    tmux.keys("bob2", &["F5"]);
    tmux.wait_for("bob2", &["alice while down 1", "alice while down 2"]);
    let screen = tmux.wait_for("alice", &["● connected", "alice while down 2"]);
    assert!(!screen.contains("queued ("), "{screen}");

    // bob quits and comes back to nothing new: the last messages are on
    // screen, and Page Up goes back through the flood, page by page, as
    // far as he likes.
    tmux.keys("bob2", &["C-c"]);
    tmux.wait_gone("bob2");
    tmux.join("bob3", &files, &bob_downloads, &bob_args);
    let screen = tmux.wait_for(
        "bob3",
        &["● connected", "alice while down 1", "alice while down 2"],
    );
    assert!(!screen.contains("while you were away"), "{screen}");
    let start = Instant::now();
    while !tmux.screen("bob3").contains("alice flood 150") {
        assert!(
            start.elapsed() < DEADLINE,
            "Page Up never reached flood 150:\n{}",
            tmux.screen("bob3")
        );
        tmux.keys("bob3", &["PageUp"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Back to the newest: End in the messages, then typing returns to the line.
    tmux.keys("bob3", &["Tab", "End"]);
    tmux.type_only("bob3", "back", &["alice while down 2"]);
    // The files popup after a restart: the server's list, not this run's,
    // with the files saved by earlier runs shown as saved, not waiting.
    tmux.keys("bob3", &["C-f"]);
    let popup = tmux.wait_for(
        "bob3",
        &[
            "Files shared in #rust",
            "later.txt",
            "my notes.txt",
            "saved to",
        ],
    );
    assert!(!popup.contains("not downloaded"), "{popup}");
    tmux.keys("bob3", &["Escape"]);
    tmux.wait_for("bob3", &["alice while down 2"]);

    // alice hands admin to bob: focus the members, select bob, Alt-p, confirm.
    tmux.wait_for("alice", &["● bob"]);
    tmux.keys("alice", &["Tab", "Tab", "Down", "M-p"]);
    tmux.wait_for("alice", &["Make bob the admin of #rust?"]);
    tmux.keys("alice", &["y"]);
    tmux.wait_for("bob3", &["alice made you the admin", "bob (admin)"]);
    tmux.wait_for("alice", &["alice made bob the admin", "alice (member)"]);

    // bob kicks alice: focus the members, select alice, Alt-k, confirm.
    tmux.keys("bob3", &["Tab", "Tab", "Down", "M-k"]);
    tmux.wait_for("bob3", &["Remove alice from #rust?"]);
    tmux.keys("bob3", &["y"]);
    tmux.wait_for("bob3", &["bob removed alice from the group", "Members 1/1"]);
    // alice stays connected, in #go and her direct conversation; #rust
    // stays on her list, read-only.
    tmux.wait_for(
        "alice",
        &[
            "bob removed you from #rust",
            "alice (removed)",
            "● connected",
        ],
    );

    // Both leave cleanly: bob with Ctrl-C, alice by closing her window.
    tmux.keys("bob3", &["C-c"]);
    tmux.wait_gone("bob3");
    let out = tmux.tmux(&["kill-session", "-t", "alice"]);
    assert!(out.status.success());
    for dir in [&bob_dir, &alice_dir] {
        wait_for_log(&dir.join("pyconchat.log"), "client stopped");
    }

    // Each file bob's runs saved is there once: none was saved twice.
    let mut saved: Vec<_> = std::fs::read_dir(&bob_downloads)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    saved.sort();
    assert_eq!(saved, ["later.txt", "my notes.txt"]);

    // The log, read back as bob: every line alice typed is there once, in
    // the order she typed it.
    let texts = read_log(&server.addr, "bob", &bob_dir);
    let typed: Vec<&str> = texts
        .iter()
        .filter(|(from, text)| {
            from == "alice" && (text.starts_with("flood ") || text.starts_with("while down"))
        })
        .map(|(_, text)| text.as_str())
        .collect();
    let mut expected: Vec<String> = flood.clone();
    expected.extend(["while down 1".to_owned(), "while down 2".to_owned()]);
    assert_eq!(typed, expected);
}

/// The group's whole log of chat lines as (from, text), read by `name`
/// with the identity and pinned certificate in `data_dir`.
fn read_log(server: &str, name: &str, data_dir: &Path) -> Vec<(String, String)> {
    use pyconchat::{
        client::{ClientEvent, ConnectOptions, Identity, KnownServers, Transport},
        protocol::{Body, Event},
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let identity = Identity::load_or_create(&data_dir.join(Identity::FILE_NAME)).unwrap();
        let mut options = ConnectOptions::new(server, name, "rust", identity);
        options.last_seq = [("rust".to_owned(), 0)].into();
        options.transport = Transport::Tls {
            known_servers: Some(KnownServers::new(data_dir.join(KnownServers::FILE_NAME))),
        };
        let mut session = common::Session::connect(options).await.unwrap();
        let head = session.snapshot().expect("a member").head;
        let mut texts = Vec::new();
        loop {
            let entry = session
                .wait_for(|e| match e {
                    ClientEvent::Server(Event::Message { entry, .. }) => Some(entry.clone()),
                    _ => None,
                })
                .await;
            if let Body::Text { text } = entry.body {
                texts.push((entry.from, text));
            }
            if entry.seq >= head {
                return texts;
            }
        }
    })
}

/// Polls a client's log until it shows `needle`.
fn wait_for_log(path: &Path, needle: &str) {
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} never said {needle:?}:\n{log}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
