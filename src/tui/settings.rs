//! What the client reads but never changes: keys, styles and limits. Built
//! once at start, then lent to `update` and the view by reference.

use std::path::PathBuf;

use super::{keymap::Keymap, model::outbox::Pace, theme::Theme};

/// How mentions and direct messages reach the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Off,
    /// The terminal bell only.
    Bell,
    /// The bell, and a desktop notification by this escape sequence.
    Desktop(Osc),
}

/// The escape sequences terminals read as desktop notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Osc {
    /// iTerm2's: `ESC ] 9 ; text BEL`, a message alone.
    Osc9,
    /// rxvt-unicode's: `ESC ] 777 ; notify ; title ; body BEL`.
    Osc777,
}

impl Osc {
    /// The sequence that raises a notification with `title` and `body`
    /// (control characters and the separator taken out, so the text
    /// cannot end the sequence or start another).
    pub fn sequence(self, title: &str, body: &str) -> String {
        let clean = |text: &str| -> String {
            text.chars()
                .map(|c| if c.is_control() || c == ';' { ' ' } else { c })
                .collect()
        };
        match self {
            Osc::Osc9 => format!("\x1b]9;{}: {}\x07", clean(title), clean(body)),
            Osc::Osc777 => format!("\x1b]777;notify;{};{}\x07", clean(title), clean(body)),
        }
    }
}

impl Notify {
    /// What `auto` means in this terminal, from the variables terminals
    /// set: a desktop notification where the terminal is known to show
    /// one, else the bell. Inside tmux or screen a sequence would not
    /// reach the terminal, so the bell it is.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> Notify {
        let term = env("TERM").unwrap_or_default();
        let program = env("TERM_PROGRAM").unwrap_or_default();
        if env("TMUX").is_some() || term.starts_with("screen") || term.starts_with("tmux") {
            return Notify::Bell;
        }
        let osc = match (program.as_str(), term.as_str()) {
            ("iTerm.app", _) => Osc::Osc9,
            (_, "xterm-kitty") => Osc::Osc9,
            ("WezTerm" | "ghostty", _) | (_, "xterm-ghostty") => Osc::Osc777,
            (_, term) if term.starts_with("foot") || term.starts_with("rxvt-unicode") => {
                Osc::Osc777
            }
            _ => return Notify::Bell,
        };
        Notify::Desktop(osc)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub keymap: Keymap,
    pub theme: Theme,
    /// Mentions and direct messages alert the user (by `notify`).
    pub bell_on_mention: bool,
    pub notify: Notify,
    pub bell_on_request: bool,
    /// Format times in UTC instead of local time (tests).
    pub utc: bool,
    /// How message times are written (a chrono format).
    pub timestamp_format: String,
    /// The connection is unencrypted: said in the status bar.
    pub plaintext: bool,
    /// Announced files up to this many MiB are fetched without asking; 0: never.
    pub auto_download_mb: u64,
    /// How fast chat messages leave.
    pub pace: Pace,
    /// Where the file picker starts and relative paths are taken from.
    pub cwd: PathBuf,
    /// What `~` stands for in typed paths.
    pub home: Option<PathBuf>,
}

/// Message times unless the config says otherwise.
pub const DEFAULT_TIMESTAMP_FORMAT: &str = "%H:%M";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            keymap: Keymap::default(),
            theme: Theme::default(),
            bell_on_mention: true,
            notify: Notify::Bell,
            bell_on_request: true,
            utc: false,
            timestamp_format: DEFAULT_TIMESTAMP_FORMAT.to_owned(),
            plaintext: false,
            auto_download_mb: 20,
            pace: Pace::default(),
            cwd: PathBuf::from("."),
            home: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_what_the_terminal_shows() {
        let detect = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Notify::detect(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        };
        for (vars, expected) in [
            (
                vec![("TERM_PROGRAM", "iTerm.app")],
                Notify::Desktop(Osc::Osc9),
            ),
            (vec![("TERM", "xterm-kitty")], Notify::Desktop(Osc::Osc9)),
            (
                vec![("TERM_PROGRAM", "WezTerm")],
                Notify::Desktop(Osc::Osc777),
            ),
            (vec![("TERM", "foot")], Notify::Desktop(Osc::Osc777)),
            (vec![("TERM", "xterm-256color")], Notify::Bell),
            (vec![], Notify::Bell),
            (
                vec![
                    ("TERM_PROGRAM", "iTerm.app"),
                    ("TMUX", "/tmp/tmux-1/default"),
                ],
                Notify::Bell,
            ),
            (vec![("TERM", "screen-256color")], Notify::Bell),
        ] {
            assert_eq!(detect(&vars), expected, "{vars:?}");
        }
    }

    #[test]
    fn the_text_cannot_break_out_of_the_sequence() {
        assert_eq!(
            Osc::Osc777.sequence("#rust", "alice: hi;\x07\x1b]0;x"),
            "\x1b]777;notify;#rust;alice: hi   ]0 x\x07"
        );
        assert_eq!(Osc::Osc9.sequence("@ann", "hey"), "\x1b]9;@ann: hey\x07");
    }
}
