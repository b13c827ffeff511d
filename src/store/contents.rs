//! Uploaded files' bytes, by file id, behind one seam: the server's
//! [`Shelf`](crate::server) uses the same code for a directory on one
//! server's disk ([`Disk`], beside the embedded store) and for the shared
//! database every node of a cluster reads (the PostgreSQL store).
//!
//! An upload is received into a local file and checked there first, so
//! nothing partial or unchecked ever reaches [`Contents::put`]. Contents are
//! written before the record that announces them is committed; whatever
//! ends without that commit deletes them again, and
//! [`Contents::remove_orphans`] clears what a crash left between the two.

use std::{
    collections::HashSet,
    fs::File,
    io::ErrorKind,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::StoreError;

/// Where files' contents live. Called from blocking threads.
pub trait Contents: Send + Sync {
    /// Makes the complete, checked bytes of the local file `from` durable
    /// as file `id`. The caller deletes `from` afterwards if it is still
    /// there.
    fn put(&self, id: &str, from: &Path) -> Result<(), StoreError>;

    /// Up to `len` bytes of file `id` from `offset` (fewer only past the
    /// end); `None` when there are no contents for `id`.
    fn read(&self, id: &str, offset: u64, len: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes the contents of these files; ids without contents are
    /// skipped.
    fn delete(&self, ids: &[String]) -> Result<(), StoreError>;

    /// Which of `ids` have no contents.
    fn lost(&self, ids: &[String]) -> Result<Vec<String>, StoreError>;

    /// Deletes contents whose id is not in `known` (the stored records)
    /// and that no upload in progress can still announce.
    fn remove_orphans(&self, known: &HashSet<&str>) -> Result<(), StoreError>;
}

/// Contents as files named by their id in one server's own directory
/// (uploads in progress are in its `partial/` directory, which this leaves
/// alone).
pub struct Disk {
    dir: PathBuf,
    /// When this server opened the directory: a file without a record
    /// written before then was left by a crash, while a newer one may be an
    /// upload of this server waiting for its announcement.
    opened: SystemTime,
}

impl Disk {
    /// The directory, under the files directory, of uploads in progress.
    pub const PARTIAL_DIR: &'static str = "partial";

    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            opened: SystemTime::now(),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Files { path, source }
}

impl Contents for Disk {
    /// Syncs the file, renames it into place and syncs the directory.
    fn put(&self, id: &str, from: &Path) -> Result<(), StoreError> {
        File::open(from)
            .and_then(|file| file.sync_all())
            .map_err(io_error(from))?;
        let path = self.dir.join(id);
        std::fs::rename(from, &path).map_err(io_error(&path))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(&self.dir))
    }

    fn read(&self, id: &str, offset: u64, len: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir.join(id);
        let file = match File::open(&path) {
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            opened => opened.map_err(io_error(&path))?,
        };
        let mut data = vec![0; len as usize];
        let mut filled = 0;
        while filled < data.len() {
            match file.read_at(&mut data[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(io_error(&path)(error)),
            }
        }
        data.truncate(filled);
        Ok(Some(data))
    }

    fn delete(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            let path = self.dir.join(id);
            match std::fs::remove_file(&path) {
                Err(error) if error.kind() != ErrorKind::NotFound => {
                    return Err(io_error(&path)(error));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn lost(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(ids
            .iter()
            .filter(|id| !self.dir.join(id).exists())
            .cloned()
            .collect())
    }

    fn remove_orphans(&self, known: &HashSet<&str>) -> Result<(), StoreError> {
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let entry = entry.map_err(io_error(&self.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == Self::PARTIAL_DIR || known.contains(name.as_ref()) {
                continue;
            }
            let written = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(io_error(&entry.path()))?;
            if written < self.opened {
                tracing::info!(file = %name, "removing a stored file with no record");
                std::fs::remove_file(entry.path()).map_err(io_error(&entry.path()))?;
            }
        }
        Ok(())
    }
}
