//! What the client reads but never changes: keys, styles and limits. Built
//! once at start, then lent to `update` and the view by reference.

use std::path::PathBuf;

use super::{keymap::Keymap, model::outbox::Pace, theme::Theme};

#[derive(Debug, Clone)]
pub struct Settings {
    pub keymap: Keymap,
    pub theme: Theme,
    pub bell_on_mention: bool,
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
