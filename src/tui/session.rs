//! What the client remembers between runs, in its data dir: the last
//! session (the server and name to prefill the login form with and, per
//! server and name, the conversation shown last, which `join` without a
//! group opens on, and where each conversation's log resumes, so a
//! restarted client continues where it stopped instead of replaying), and
//! the files it saved, so a restarted client never saves a file twice.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::protocol::{ConvId, Seq};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastSession {
    pub server: Option<String>,
    pub name: Option<String>,
    /// `"server name"` → what this client remembers of that account.
    pub accounts: BTreeMap<String, Account>,
}

/// One name on one server, as this client left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// The conversation shown last.
    pub conversation: Option<ConvId>,
    /// Per conversation, the newest entry both received here and read:
    /// the next run resumes after it, so what was not read comes again.
    pub resume: BTreeMap<ConvId, Seq>,
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

    /// Writes the file atomically.
    pub fn save(&self, data_dir: &Path) -> io::Result<()> {
        write_atomically(&Self::path(data_dir), self)
    }

    fn key(server: &str, name: &str) -> String {
        format!("{server} {name}")
    }

    fn account(&self, server: &str, name: &str) -> Option<&Account> {
        self.accounts.get(&Self::key(server, name))
    }

    /// Where each conversation of `name` on `server` resumes.
    pub fn resume(&self, server: &str, name: &str) -> BTreeMap<ConvId, Seq> {
        self.account(server, name)
            .map(|account| account.resume.clone())
            .unwrap_or_default()
    }

    /// The conversation `name` on `server` was shown last.
    pub fn conversation(&self, server: &str, name: &str) -> Option<&str> {
        self.account(server, name)?.conversation.as_deref()
    }

    /// Remembers where we are: the conversation shown and where each
    /// conversation resumes.
    pub fn record(
        &mut self,
        server: &str,
        name: &str,
        conversation: Option<ConvId>,
        resume: BTreeMap<ConvId, Seq>,
    ) {
        self.server = Some(server.to_owned());
        self.name = Some(name.to_owned());
        let account = self.accounts.entry(Self::key(server, name)).or_default();
        if conversation.is_some() {
            account.conversation = conversation;
        }
        account.resume = resume;
    }
}

/// The files this client saved, by the server's file id (128 random bits,
/// so unique across servers and groups), newest last and at most
/// [`SavedFiles::LIMIT`] of them. A file announced or listed again after a
/// restart is shown as saved instead of waiting, and is not fetched again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFiles {
    #[serde(default, rename = "file")]
    files: Vec<SavedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedFile {
    id: String,
    path: PathBuf,
}

impl SavedFiles {
    pub const FILE_NAME: &'static str = "saved-files.toml";
    /// Files are kept for a week on the server: a thousand is far more
    /// than a member meets again, and keeps the file small.
    pub const LIMIT: usize = 1_000;

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(Self::FILE_NAME)
    }

    /// Reads the record, keeping only files still where they were saved: a
    /// file the user deleted can be fetched again. A missing or damaged
    /// record is empty (a damaged one is logged).
    pub fn load(data_dir: &Path) -> SavedFiles {
        let path = Self::path(data_dir);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return SavedFiles::default();
        };
        let mut saved: SavedFiles = toml::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged record of saved files");
            SavedFiles::default()
        });
        saved.files.retain(|file| file.path.is_file());
        saved.trim();
        saved
    }

    /// Writes the record atomically.
    pub fn save(&self, data_dir: &Path) -> io::Result<()> {
        write_atomically(&Self::path(data_dir), self)
    }

    /// Where file `id` was saved, if it was.
    pub fn get(&self, id: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|file| file.id == id)
            .map(|file| file.path.as_path())
    }

    /// Remembers that file `id` was saved to `path`, as the newest; the
    /// oldest is forgotten beyond the limit. A path that is not UTF-8
    /// cannot be written in the record and is not remembered.
    pub fn record(&mut self, id: &str, path: &Path) {
        if path.to_str().is_none() {
            tracing::warn!(path = %path.display(), "a saved file's path is not UTF-8; not remembered");
            return;
        }
        self.files.retain(|file| file.id != id);
        self.files.push(SavedFile {
            id: id.to_owned(),
            path: path.to_owned(),
        });
        self.trim();
    }

    fn trim(&mut self) {
        let over = self.files.len().saturating_sub(Self::LIMIT);
        self.files.drain(..over);
    }
}

/// Writes `value` as TOML to a temporary file beside `path`, then renames
/// it over `path`, so a crash leaves the old file or the new, never half.
fn write_atomically(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let text = toml::to_string(value).map_err(io::Error::other)?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LastSession::load(dir.path()), LastSession::default());
        let mut session = LastSession::default();
        let server = "127.0.0.1:7667";
        let resume = BTreeMap::from([("rust".to_owned(), 42), ("ann+bob".to_owned(), 3)]);
        session.record(server, "ann", Some("ann+bob".into()), resume.clone());
        session.record(server, "ann", None, resume.clone());
        session.record(server, "bob", Some("go".into()), BTreeMap::new());
        session.save(dir.path()).unwrap();
        let loaded = LastSession::load(dir.path());
        assert_eq!(loaded, session);
        assert_eq!(loaded.resume(server, "ann"), resume);
        assert_eq!(loaded.conversation(server, "ann"), Some("ann+bob"));
        assert_eq!(loaded.conversation(server, "bob"), Some("go"));
        assert_eq!(loaded.name.as_deref(), Some("bob"));
        assert!(loaded.resume("elsewhere:1", "ann").is_empty());
        std::fs::write(LastSession::path(dir.path()), "server = [").unwrap();
        assert_eq!(LastSession::load(dir.path()), LastSession::default());
        // An older client's file keeps the server and name to prefill.
        let old =
            "server = \"h:1\"\nname = \"ann\"\ngroup = \"rust\"\n[seen]\n\"h:1 rust ann\" = 4\n";
        std::fs::write(LastSession::path(dir.path()), old).unwrap();
        let loaded = LastSession::load(dir.path());
        assert_eq!(loaded.name.as_deref(), Some("ann"));
        assert!(loaded.accounts.is_empty());
    }

    #[test]
    fn saved_files_round_trip_while_the_files_are_there() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SavedFiles::load(dir.path()), SavedFiles::default());
        let kept = dir.path().join("kept.txt");
        let deleted = dir.path().join("deleted.txt");
        std::fs::write(&kept, "k").unwrap();
        std::fs::write(&deleted, "d").unwrap();
        let mut saved = SavedFiles::default();
        saved.record("f1", &kept);
        saved.record("f2", &deleted);
        saved.save(dir.path()).unwrap();
        assert_eq!(SavedFiles::load(dir.path()), saved);
        std::fs::remove_file(&deleted).unwrap();
        let loaded = SavedFiles::load(dir.path());
        assert_eq!(loaded.get("f1"), Some(kept.as_path()));
        assert_eq!(loaded.get("f2"), None, "deleted since: fetch it again");
        #[cfg(unix)]
        {
            use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
            let mut unwritable = saved.clone();
            unwritable.record("f3", Path::new(OsStr::from_bytes(b"/dl/\xff.txt")));
            assert_eq!(unwritable, saved, "a path that is not UTF-8 is left out");
        }
        std::fs::write(SavedFiles::path(dir.path()), "[[file]]\nid = 3").unwrap();
        assert_eq!(SavedFiles::load(dir.path()), SavedFiles::default());
    }

    #[test]
    fn saved_files_keep_the_newest_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "a").unwrap();
        let mut saved = SavedFiles::default();
        for i in 0..=SavedFiles::LIMIT {
            saved.record(&format!("f{i}"), &file);
        }
        assert_eq!(saved.get("f0"), None, "the oldest made room");
        assert_eq!(saved.get("f1"), Some(file.as_path()));
        // Saved again, a file becomes the newest and is kept longest.
        saved.record("f1", &file);
        saved.record("new", &file);
        assert_eq!(saved.get("f1"), Some(file.as_path()));
        assert_eq!(saved.get("f2"), None);
        saved.save(dir.path()).unwrap();
        let loaded = SavedFiles::load(dir.path());
        assert_eq!(loaded, saved);
        assert_eq!(loaded.files.len(), SavedFiles::LIMIT);
    }
}
