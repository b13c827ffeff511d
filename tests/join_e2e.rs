//! The seed's story, end to end: the real binary in tmux against a real
//! server. alice creates a group; bob asks to join; alice approves with the
//! key; they chat; alice sends a file, which bob's client saves by itself;
//! bob quits, alice writes and sends another with the file picker, bob
//! returns and sees both after the divider, the file saved; alice hands admin to bob; bob kicks
//! alice.
//!
//! Needs `tmux` on the PATH. Every wait polls the screen with a generous
//! deadline, so a slow machine makes the test slower, not flaky.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use common::DEADLINE;

const BIN: &str = env!("CARGO_BIN_EXE_pyconchat");

/// The server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data_dir: &Path, config: &Path) -> Server {
        let (child, addr) = common::spawn_serve(
            Command::new(BIN)
                .args(["--config".as_ref(), config.as_os_str()])
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
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

/// A private tmux server (its own socket in the test's temp dir), killed
/// when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .map(|o| o.status.success());
        assert!(
            matches!(ok, Ok(true)),
            "this test drives the client in tmux, which is not installed (apt-get install -y tmux)"
        );
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts `pyconchat join ...` in `cwd` in a new 100×30 session named
    /// `name`, saving received files in `downloads`.
    fn join(&self, session: &str, cwd: &Path, downloads: &Path, join_args: &[String]) {
        let mut command = format!(
            "cd '{}' && exec env PYCONCHAT_CLIENT_DOWNLOAD_DIR='{}' {BIN} join",
            cwd.display(),
            downloads.display()
        );
        for arg in join_args {
            command.push_str(&format!(" '{arg}'"));
        }
        let out = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "100",
            "-y",
            "30",
            &command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        for key in keys {
            let out = self.tmux(&["send-keys", "-t", session, key]);
            assert!(
                out.status.success(),
                "send-keys {key}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Types `text` literally.
    fn type_text(&self, session: &str, text: &str) {
        let out = self.tmux(&["send-keys", "-t", session, "-l", text]);
        assert!(out.status.success());
    }

    /// Types `text`, then Enter.
    fn say(&self, session: &str, text: &str) {
        self.type_text(session, text);
        self.keys(session, &["Enter"]);
    }

    fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }

    /// Polls until the screen shows every one of `needles`; returns the screen.
    fn wait_for(&self, session: &str, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(session);
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{session}'s screen never showed {needles:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_gone(&self, session: &str) {
        let start = Instant::now();
        while self.tmux(&["has-session", "-t", session]).status.success() {
            assert!(
                start.elapsed() < DEADLINE,
                "{session} did not quit:\n{}",
                self.screen(session)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
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
    let server = Server::start(&dir(root.path(), "server"), config.as_ref());
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

    // alice approves with the key: Shift-Tab focuses the requests, `a` approves.
    tmux.keys("alice", &["BTab", "a"]);
    tmux.wait_for("bob", &["alice let you into #rust", "bob (member)"]);
    tmux.wait_for("alice", &["bob joined (approved by alice)", "Requests (0)"]);
    tmux.keys("alice", &["Tab"]); // back to the input line

    // They chat.
    tmux.say("bob", "hello alice");
    tmux.wait_for("alice", &["bob hello alice"]);
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
    tmux.wait_for(
        "bob",
        &[
            "alice shared my notes.txt (19.5 KiB)",
            &format!("Saved my notes.txt to {}", saved.display()),
        ],
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
            &format!("Saved later.txt to {}", later.display()),
        ],
    );
    assert_eq!(std::fs::read(&later).unwrap(), b"sent while you were away");
    let divider = screen.find("while you were away").unwrap();
    let missed = screen.find("alice you missed this one").unwrap();
    assert!(divider < missed, "the divider comes first:\n{screen}");
    assert!(
        !screen.contains("hello alice"),
        "nothing seen before is replayed:\n{screen}"
    );

    // alice hands admin to bob: focus the members, select bob, `m`, confirm.
    tmux.wait_for("alice", &["● bob"]);
    tmux.keys("alice", &["Tab", "Tab", "Down", "m"]);
    tmux.wait_for("alice", &["Make bob the admin of #rust?"]);
    tmux.keys("alice", &["y"]);
    tmux.wait_for("bob2", &["alice made you the admin", "bob (admin)"]);
    tmux.wait_for("alice", &["alice made bob the admin", "alice (member)"]);

    // bob kicks alice: focus the members, select alice, `x`, confirm.
    tmux.keys("bob2", &["Tab", "Tab", "Down", "x"]);
    tmux.wait_for("bob2", &["Remove alice from #rust?"]);
    tmux.keys("bob2", &["y"]);
    tmux.wait_for("bob2", &["bob removed alice from the group", "Members 1/1"]);
    tmux.wait_for(
        "alice",
        &["bob removed you from #rust", "offline: kicked by bob"],
    );

    // Both leave cleanly: bob with Ctrl-C, alice by closing her window.
    tmux.keys("bob2", &["C-c"]);
    tmux.wait_gone("bob2");
    let out = tmux.tmux(&["kill-session", "-t", "alice"]);
    assert!(out.status.success());
    for dir in [&bob_dir, &alice_dir] {
        wait_for_log(&dir.join("pyconchat.log"), "client stopped");
    }
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
