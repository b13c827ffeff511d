//! The last session, remembered in the client's data dir: the server, name
//! and group to prefill the login form with, and the last sequence number
//! seen per server, group and name, so a restarted client resumes where it
//! stopped instead of replaying.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::protocol::Seq;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastSession {
    pub server: Option<String>,
    pub name: Option<String>,
    pub group: Option<String>,
    /// `"server group name"` → the last seq seen there.
    pub seen: BTreeMap<String, Seq>,
}

impl LastSession {
    pub const FILE_NAME: &'static str = "last-session.toml";

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(Self::FILE_NAME)
    }

    /// Reads the file; a missing or damaged file is an empty session (a
    /// damaged one is logged, never fatal: it only saves typing).
    pub fn load(data_dir: &Path) -> LastSession {
        let path = Self::path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged session file");
                LastSession::default()
            }),
            Err(_) => LastSession::default(),
        }
    }

    /// Writes the file atomically (a temporary file, then a rename).
    pub fn save(&self, data_dir: &Path) -> io::Result<()> {
        let text = toml::to_string(self).map_err(io::Error::other)?;
        let path = Self::path(data_dir);
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)
    }

    fn key(server: &str, group: &str, name: &str) -> String {
        format!("{server} {group} {name}")
    }

    pub fn last_seq(&self, server: &str, group: &str, name: &str) -> Option<Seq> {
        self.seen.get(&Self::key(server, group, name)).copied()
    }

    /// Remembers where we are.
    pub fn record(&mut self, server: &str, group: &str, name: &str, last_seq: Option<Seq>) {
        self.server = Some(server.to_owned());
        self.name = Some(name.to_owned());
        self.group = Some(group.to_owned());
        if let Some(seq) = last_seq {
            self.seen.insert(Self::key(server, group, name), seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LastSession::load(dir.path()), LastSession::default());
        let mut session = LastSession::default();
        session.record("127.0.0.1:7667", "rust", "ann", Some(42));
        session.record("127.0.0.1:7667", "go", "ann", None);
        session.save(dir.path()).unwrap();
        let loaded = LastSession::load(dir.path());
        assert_eq!(loaded, session);
        assert_eq!(loaded.last_seq("127.0.0.1:7667", "rust", "ann"), Some(42));
        assert_eq!(loaded.last_seq("127.0.0.1:7667", "go", "ann"), None);
        assert_eq!(loaded.group.as_deref(), Some("go"));
        std::fs::write(LastSession::path(dir.path()), "server = [").unwrap();
        assert_eq!(LastSession::load(dir.path()), LastSession::default());
    }
}
