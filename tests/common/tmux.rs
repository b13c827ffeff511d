//! The terminal client in tmux: a private tmux server (its own socket),
//! sessions running `pyconchat join`, keys typed into them and their
//! screens read back, every wait polling with a generous deadline.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use super::DEADLINE;

const BIN: &str = env!("CARGO_BIN_EXE_pyconchat");

/// A private tmux server (its own socket in the test's temp dir), killed
/// when dropped.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    pub fn new(dir: &Path) -> Tmux {
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

    pub fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts `pyconchat join ...` in `cwd` in a new 120×30 session named
    /// `name`, saving received files in `downloads`.
    pub fn join(&self, session: &str, cwd: &Path, downloads: &Path, join_args: &[String]) {
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
            "120",
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

    pub fn keys(&self, session: &str, keys: &[&str]) {
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
    pub fn type_text(&self, session: &str, text: &str) {
        let out = self.tmux(&["send-keys", "-t", session, "-l", text]);
        assert!(out.status.success());
    }

    /// Types `text`, then Enter.
    pub fn say(&self, session: &str, text: &str) {
        self.type_text(session, text);
        self.keys(session, &["Enter"]);
    }

    pub fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }

    /// Polls until the screen shows every one of `needles`; returns the screen.
    pub fn wait_for(&self, session: &str, needles: &[&str]) -> String {
        self.wait_for_within(session, needles, DEADLINE)
    }

    pub fn wait_for_within(&self, session: &str, needles: &[&str], deadline: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(session);
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                start.elapsed() < deadline,
                "{session}'s screen never showed {needles:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types each line and Enter, many to a tmux call, as fast as a paste.
    pub fn say_all(&self, session: &str, lines: &[String]) {
        for batch in lines.chunks(50) {
            let mut args = vec!["send-keys", "-t", session];
            for line in batch {
                args.push(line);
                args.push("Enter");
            }
            let out = self.tmux(&args);
            assert!(out.status.success());
        }
    }

    /// Types `text` with the focus where it is, and checks that the text
    /// reached the input line and nothing else happened; then clears it.
    pub fn type_only(&self, session: &str, text: &str, unchanged: &[&str]) {
        self.type_text(session, text);
        let screen = self.wait_for(session, &[&format!("│{text}")]);
        for needle in unchanged {
            assert!(screen.contains(needle), "{needle:?} went:\n{screen}");
        }
        for popup in ["Kick", "Make ", "Approve", "Reject", "Turn down", "Let "] {
            assert!(
                !screen.contains(popup),
                "typing opened {popup:?}:\n{screen}"
            );
        }
        self.keys(session, &["C-u"]);
    }

    pub fn wait_gone(&self, session: &str) {
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
