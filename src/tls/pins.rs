//! The client's pinned server certificates: one line per server,
//! `ADDRESS FINGERPRINT`, in the client's data directory.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// The file of pinned fingerprints.
#[derive(Debug, Clone)]
pub struct KnownServers {
    path: PathBuf,
}

impl KnownServers {
    /// The file name inside the client's data directory.
    pub const FILE_NAME: &'static str = "known_servers";

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fingerprint pinned for `server`, if any.
    pub fn get(&self, server: &str) -> io::Result<Option<String>> {
        Ok(self
            .entries()?
            .into_iter()
            .find(|(address, _)| address == server)
            .map(|(_, fingerprint)| fingerprint))
    }

    /// Pins `server` to `fingerprint`, replacing any earlier pin.
    pub fn pin(&self, server: &str, fingerprint: &str) -> io::Result<()> {
        let mut entries = self.entries()?;
        entries.retain(|(address, _)| address != server);
        entries.push((server.to_owned(), fingerprint.to_owned()));
        self.save(&entries)
    }

    /// Removes the pin for `server`; true if there was one.
    pub fn forget(&self, server: &str) -> io::Result<bool> {
        let mut entries = self.entries()?;
        let before = entries.len();
        entries.retain(|(address, _)| address != server);
        if entries.len() == before {
            return Ok(false);
        }
        self.save(&entries)?;
        Ok(true)
    }

    fn entries(&self) -> io::Result<Vec<(String, String)>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(address, fingerprint)| (address.to_owned(), fingerprint.trim().to_owned()))
            .collect())
    }

    /// Writes all entries to a temporary file, then renames it into place,
    /// so a crash never leaves a half-written file.
    fn save(&self, entries: &[(String, String)]) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let text: String = entries.iter().map(|(a, f)| format!("{a} {f}\n")).collect();
        let temporary = self.path.with_extension("tmp");
        fs::write(&temporary, text)?;
        fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_replaces_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownServers::new(dir.path().join(KnownServers::FILE_NAME));
        assert_eq!(known.get("a:1").unwrap(), None);
        known.pin("a:1", "SHA256:AA").unwrap();
        known.pin("b:2", "SHA256:BB").unwrap();
        known.pin("a:1", "SHA256:CC").unwrap();
        assert_eq!(known.get("a:1").unwrap().as_deref(), Some("SHA256:CC"));
        assert!(known.forget("a:1").unwrap());
        assert!(!known.forget("a:1").unwrap());
        assert_eq!(known.get("b:2").unwrap().as_deref(), Some("SHA256:BB"));
    }
}
