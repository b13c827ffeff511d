//! Uploaded files: where their bytes go, how much room they may take and
//! how long they stay.
//!
//! An upload writes to a file of its own under `files/partial/` and is
//! hashed as it arrives. Only a complete upload whose size and BLAKE3 hash
//! match the offer is synced and renamed to `files/<id>`, where `id` is
//! random and chosen here; the client's name for the file is never a path.
//! The record and the log entry announcing it are committed together by the
//! hub afterwards, so a file is either announced and readable or gone. Every
//! type that holds unfinished bytes deletes them when dropped: a cancelled,
//! failed or abandoned upload (the client vanished) leaves nothing behind.
//!
//! The shelf counts the bytes of stored files plus those reserved by
//! uploads in progress, and makes room for an offer by removing the oldest
//! files before it accepts a byte. Files older than the retention time are
//! swept away by [`Shelf::expire`] and are refused to fetches even before
//! the sweep.
//!
//! All methods here block (file I/O, store calls): call them from
//! `spawn_blocking`.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    io::{ErrorKind, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use super::{Clock, Limits, internal, lock, rules::Grant};
use crate::{
    protocol::{ErrorBody, ErrorCode, FileInfo, SharedFile, clean_file_name},
    store::{FileRecord, Store},
};

/// The directory, under the files directory, of uploads in progress.
const PARTIAL_DIR: &str = "partial";
/// Largest chunk a client may send or fetch at once (the frame limit may
/// lower it).
const MAX_CHUNK_BYTES: u32 = 256 * 1024;
/// Room a chunk frame needs besides its data.
const FRAME_OVERHEAD: usize = 1024;
/// Free disk space an upload must leave, so the database (and everything
/// else on that disk) can still write.
const DISK_MARGIN: u64 = 64 * 1024 * 1024;

/// The server's file store; one per server, shared by every session.
pub(crate) struct Shelf {
    dir: PathBuf,
    partial: PathBuf,
    store: Arc<dyn Store>,
    max_file_bytes: u64,
    max_total_bytes: u64,
    retention: Duration,
    clock: Clock,
    chunk_bytes: u32,
    /// Bytes of stored files plus bytes reserved by uploads in progress;
    /// `None` until [`Shelf::prepare`] has counted them.
    used: Mutex<Option<u64>>,
}

impl Shelf {
    pub fn new(store: Arc<dyn Store>, limits: &Limits, clock: Clock) -> Self {
        let dir = store.files_dir();
        let frame_room = limits.max_frame_bytes.saturating_sub(FRAME_OVERHEAD);
        Self {
            partial: dir.join(PARTIAL_DIR),
            dir,
            store,
            max_file_bytes: limits.max_file_bytes,
            max_total_bytes: limits.max_files_bytes,
            retention: limits.file_retention,
            clock,
            chunk_bytes: MAX_CHUNK_BYTES.min(u32::try_from(frame_room).unwrap_or(u32::MAX)),
            used: Mutex::new(None),
        }
    }

    /// The chunk size uploads and fetches use on this server.
    pub fn chunk_bytes(&self) -> u32 {
        self.chunk_bytes
    }

    /// Makes the directories and the stored records agree, before any
    /// session runs: deletes unfinished uploads and contents without a
    /// record (a crash between rename and commit), forgets records whose
    /// contents are gone (unless the store is shared: they may be on
    /// another server's disk), and counts the bytes in use here.
    pub fn prepare(&self) -> Result<(), std::io::Error> {
        std::fs::create_dir_all(&self.dir)?;
        match std::fs::remove_dir_all(&self.partial) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&self.partial)?;
        let records = self.store.files().map_err(std::io::Error::other)?;
        let known: HashSet<&str> = records.iter().map(|r| r.info.id.as_str()).collect();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name != PARTIAL_DIR && !known.contains(name.as_ref()) {
                tracing::info!(file = %name, "removing a stored file with no record");
                std::fs::remove_file(entry.path())?;
            }
        }
        let (lost, kept): (Vec<&FileRecord>, Vec<&FileRecord>) = records
            .iter()
            .partition(|r| !self.dir.join(&r.info.id).exists());
        if !lost.is_empty() && !self.store.is_shared() {
            tracing::warn!(
                count = lost.len(),
                "forgetting files whose contents are gone"
            );
            let ids: Vec<String> = lost.iter().map(|r| r.info.id.clone()).collect();
            self.store
                .delete_files(&ids)
                .map_err(std::io::Error::other)?;
        }
        let used = kept.iter().map(|r| r.info.size).sum();
        *lock(&self.used) = Some(used);
        Ok(())
    }

    /// Accepts an offer: checks the size against the limits, makes room,
    /// and opens a partial file for the bytes.
    pub fn offer(
        self: &Arc<Self>,
        name: &str,
        size: u64,
        blake3: &[u8],
    ) -> Result<Upload, ErrorBody> {
        let blake3: [u8; 32] = blake3.try_into().map_err(|_| {
            ErrorBody::new(
                ErrorCode::BadUpload,
                "blake3 must be the 32-byte hash of the file",
            )
        })?;
        if self.max_file_bytes == 0 {
            return Err(ErrorBody::new(
                ErrorCode::FileTooLarge,
                "this server does not take files",
            ));
        }
        if size > self.max_file_bytes {
            return Err(ErrorBody::new(
                ErrorCode::FileTooLarge,
                format!(
                    "the file is {} bytes; this server takes files up to {} bytes",
                    size, self.max_file_bytes
                ),
            ));
        }
        if let Some(free) = free_bytes(&self.partial)
            && size.saturating_add(DISK_MARGIN) > free
        {
            return Err(ErrorBody::new(
                ErrorCode::StorageFull,
                format!(
                    "the server's disk has {free} bytes free, not enough for a file of {size} bytes; nothing was sent"
                ),
            ));
        }
        self.reserve(size)?;
        let reservation = Reservation {
            shelf: self.clone(),
            bytes: size,
        };
        let partial = self.partial.join(random_id()?);
        let file = File::create_new(&partial).map_err(|e| write_failed(&e))?;
        Ok(Upload {
            name: clean_file_name(name),
            size,
            blake3,
            received: 0,
            hasher: blake3::Hasher::new(),
            file,
            partial: PartialFile(Some(partial)),
            reservation,
        })
    }

    /// Reserves `size` bytes, removing the oldest stored files if that makes
    /// enough room.
    fn reserve(&self, size: u64) -> Result<(), ErrorBody> {
        let mut used = lock(&self.used);
        let Some(in_use) = *used else {
            return Err(ErrorBody::new(
                ErrorCode::StorageFull,
                "the server's file store is unavailable (see the server log)",
            ));
        };
        let full = || {
            ErrorBody::new(
                ErrorCode::StorageFull,
                "the server has no room for this file right now; try again later",
            )
        };
        let over = in_use
            .saturating_add(size)
            .saturating_sub(self.max_total_bytes);
        if over > 0 {
            let records = self.store.files().map_err(|e| internal(&e))?;
            let mut freed = 0;
            let oldest: Vec<String> = records
                .iter()
                .take_while(|r| {
                    let take = freed < over;
                    freed += r.info.size;
                    take
                })
                .map(|r| r.info.id.clone())
                .collect();
            if freed < over {
                return Err(full());
            }
            tracing::info!(
                count = oldest.len(),
                "removing the oldest files to make room"
            );
            let removed = self.remove(&oldest)?;
            *used = Some(in_use.saturating_sub(removed));
        }
        let in_use = used.unwrap_or_default();
        if in_use.saturating_add(size) > self.max_total_bytes {
            return Err(full());
        }
        *used = Some(in_use.saturating_add(size));
        Ok(())
    }

    fn release(&self, bytes: u64) {
        if let Some(used) = lock(&self.used).as_mut() {
            *used = used.saturating_sub(bytes);
        }
    }

    /// Forgets these files and deletes their contents; returns the bytes freed.
    fn remove(&self, ids: &[String]) -> Result<u64, ErrorBody> {
        let removed = self.store.delete_files(ids).map_err(|e| internal(&e))?;
        for record in &removed {
            match std::fs::remove_file(self.dir.join(&record.info.id)) {
                // On a shared store, another server may hold the contents.
                Err(error) if error.kind() != ErrorKind::NotFound => {
                    tracing::warn!(id = %record.info.id, %error, "cannot delete a stored file");
                }
                _ => {}
            }
        }
        Ok(removed.iter().map(|r| r.info.size).sum())
    }

    /// Removes the files of `group`, which is closing.
    pub fn remove_group_files(&self, group: &str) -> Result<(), ErrorBody> {
        self.remove_where(|r| r.group == group).map(drop)
    }

    /// Removes files past the retention time.
    pub fn expire(&self) -> Result<(), ErrorBody> {
        let count = self.remove_where(|r| self.expired(r))?;
        if count > 0 {
            tracing::info!(count, "removed expired files");
        }
        Ok(())
    }

    /// Removes the files `doomed` picks; returns how many.
    fn remove_where(&self, doomed: impl Fn(&FileRecord) -> bool) -> Result<usize, ErrorBody> {
        let records = self.store.files().map_err(|e| internal(&e))?;
        let ids: Vec<String> = records
            .into_iter()
            .filter(|r| doomed(r))
            .map(|r| r.info.id)
            .collect();
        if !ids.is_empty() {
            let freed = self.remove(&ids)?;
            self.release(freed);
        }
        Ok(ids.len())
    }

    fn expired(&self, record: &FileRecord) -> bool {
        let age = self.clock.now_ms().saturating_sub(record.at_ms);
        u128::try_from(age).unwrap_or(0) > self.retention.as_millis()
    }

    /// The record of file `id` for a member of `group` who may read what
    /// `grant` allows. Files of other groups, from before the grant,
    /// expired and unknown ones all look the same.
    pub fn lookup(
        &self,
        grants: &HashMap<String, Grant>,
        id: &str,
    ) -> Result<FileRecord, ErrorBody> {
        self.store
            .file(id)
            .map_err(|e| internal(&e))?
            .filter(|r| grants.get(&r.group).is_some_and(|g| g.may_read(r.seq)) && !self.expired(r))
            .ok_or_else(unavailable)
    }

    /// The files of `group` that `grant` lets a member read and that can
    /// still be fetched, oldest first.
    pub fn available(&self, group: &str, grant: Grant) -> Result<Vec<SharedFile>, ErrorBody> {
        let records = self.store.files().map_err(|e| internal(&e))?;
        Ok(records
            .into_iter()
            .filter(|r| r.group == group && grant.may_read(r.seq) && !self.expired(r))
            .map(|r| SharedFile {
                seq: r.seq,
                at_ms: r.at_ms,
                from: r.from,
                file: r.info,
            })
            .collect())
    }

    /// How many bytes a fetch of `len` at `offset` returns: at most a
    /// chunk, nothing past the end. Does not block.
    pub fn span(&self, record: &FileRecord, offset: u64, len: u32) -> Result<u32, ErrorBody> {
        if self.expired(record) {
            return Err(unavailable());
        }
        let left = record.info.size.saturating_sub(offset);
        Ok(len
            .min(self.chunk_bytes)
            .min(u32::try_from(left).unwrap_or(u32::MAX)))
    }

    /// `len` bytes of a file from `offset`, as [`Shelf::span`] allows.
    pub fn read(&self, record: &FileRecord, offset: u64, len: u32) -> Result<Vec<u8>, ErrorBody> {
        let mut data = vec![0; len as usize];
        let file = File::open(self.dir.join(&record.info.id)).map_err(|_| unavailable())?;
        file.read_exact_at(&mut data, offset)
            .map_err(|e| internal(&e))?;
        Ok(data)
    }
}

fn unavailable() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::FileUnavailable,
        "that file is no longer available on the server",
    )
}

/// Bytes free for this process on the file system holding `dir`, if it
/// can tell.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stats` is writable
    // memory of the type statvfs(3) fills in; it is read only on success.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// An upload in progress. Dropping it deletes what was received.
pub(crate) struct Upload {
    /// Cleaned, as it will be announced.
    name: String,
    size: u64,
    blake3: [u8; 32],
    received: u64,
    hasher: blake3::Hasher,
    file: File,
    partial: PartialFile,
    reservation: Reservation,
}

impl Upload {
    /// Appends a chunk, which must start where the last one ended.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), ErrorBody> {
        if offset != self.received {
            return Err(ErrorBody::new(
                ErrorCode::BadUpload,
                format!(
                    "expected the chunk at offset {}, got one at {offset}; the upload is cancelled",
                    self.received
                ),
            ));
        }
        if self.received + data.len() as u64 > self.size {
            return Err(ErrorBody::new(
                ErrorCode::BadUpload,
                format!(
                    "more bytes than the {} offered; the upload is cancelled",
                    self.size
                ),
            ));
        }
        self.file.write_all(data).map_err(|e| write_failed(&e))?;
        self.hasher.update(data);
        self.received += data.len() as u64;
        Ok(())
    }

    /// Checks size and hash, then makes the file durable under its id.
    /// The returned [`Stored`] deletes it again unless the announcement
    /// commits.
    pub fn finish(self, shelf: &Shelf) -> Result<(FileInfo, Stored), ErrorBody> {
        if self.received != self.size {
            return Err(ErrorBody::new(
                ErrorCode::ChecksumMismatch,
                format!(
                    "received {} of the {} bytes offered; nothing was kept",
                    self.received, self.size
                ),
            ));
        }
        if self.hasher.finalize().as_bytes() != &self.blake3 {
            return Err(ErrorBody::new(
                ErrorCode::ChecksumMismatch,
                "the bytes received do not match the offered BLAKE3 hash; nothing was kept",
            ));
        }
        self.file.sync_all().map_err(|e| write_failed(&e))?;
        let id = random_id()?;
        let path = shelf.dir.join(&id);
        let Upload {
            name,
            size,
            blake3,
            mut partial,
            reservation,
            ..
        } = self;
        let from = partial.0.take().unwrap_or_default();
        if let Err(error) = std::fs::rename(&from, &path) {
            remove_quietly(&from);
            return Err(write_failed(&error));
        }
        let stored = Stored {
            path,
            reservation,
            kept: AtomicBool::new(false),
        };
        File::open(&shelf.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| write_failed(&e))?;
        let info = FileInfo {
            id,
            name,
            size,
            blake3: blake3.to_vec(),
        };
        Ok((info, stored))
    }
}

/// A finished file waiting for its announcement to commit: deleted on drop
/// unless [`Stored::keep`] was called.
#[derive(Debug)]
pub(crate) struct Stored {
    path: PathBuf,
    reservation: Reservation,
    kept: AtomicBool,
}

impl Stored {
    /// The announcement is durable: the file stays, and its reserved bytes
    /// now count as stored.
    pub fn keep(&self) {
        self.kept.store(true, Ordering::Release);
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        if self.kept.load(Ordering::Acquire) {
            self.reservation.bytes = 0;
        } else {
            remove_quietly(&self.path);
        }
    }
}

/// Bytes counted against the shelf until dropped.
struct Reservation {
    shelf: Arc<Shelf>,
    bytes: u64,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({} bytes)", self.bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shelf.release(self.bytes);
    }
}

/// An unfinished upload's bytes, deleted on drop unless taken.
struct PartialFile(Option<PathBuf>);

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            remove_quietly(path);
        }
    }
}

fn remove_quietly(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "cannot delete a file");
    }
}

/// 128 random bits in hex: file ids and partial file names.
fn random_id() -> Result<String, ErrorBody> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| internal(&e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_failed(error: &std::io::Error) -> ErrorBody {
    if error.kind() == ErrorKind::StorageFull {
        ErrorBody::new(
            ErrorCode::StorageFull,
            "the server's disk is full; nothing of the file was kept",
        )
    } else {
        tracing::error!(%error, "cannot write an uploaded file");
        ErrorBody::new(
            ErrorCode::Internal,
            format!("the server could not write the file ({error}); nothing of it was kept"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn shelf(dir: &Path) -> Arc<Shelf> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).unwrap());
        let shelf = Arc::new(Shelf::new(store, &Limits::default(), Clock::new()));
        shelf.prepare().unwrap();
        shelf
    }

    #[test]
    fn a_full_disk_fails_the_chunk_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = shelf(dir.path());
        let data = vec![7_u8; 64 * 1024];
        let mut upload = shelf
            .offer("big.bin", data.len() as u64, blake3::hash(&data).as_bytes())
            .unwrap();
        assert_eq!(std::fs::read_dir(&shelf.partial).unwrap().count(), 1);
        // Writes to /dev/full fail as a full disk does (ENOSPC).
        upload.file = File::options().write(true).open("/dev/full").unwrap();
        let error = upload.write(0, &data).unwrap_err();
        assert_eq!(error.code, ErrorCode::StorageFull);
        assert!(error.message.contains("disk is full"), "{}", error.message);
        drop(upload);
        assert_eq!(std::fs::read_dir(&shelf.partial).unwrap().count(), 0);
        assert_eq!(*lock(&shelf.used), Some(0));
    }

    #[test]
    fn an_offer_bigger_than_the_free_disk_is_refused_before_any_byte() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).expect("statvfs works on a temp dir");
        assert!(free > 0);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let limits = Limits {
            max_file_bytes: u64::MAX,
            max_files_bytes: u64::MAX,
            ..Limits::default()
        };
        let shelf = Arc::new(Shelf::new(store, &limits, Clock::new()));
        shelf.prepare().unwrap();
        let error = shelf.offer("huge", free, &[0; 32]).err().unwrap();
        assert_eq!(error.code, ErrorCode::StorageFull);
        assert!(error.message.contains("bytes free"), "{}", error.message);
        assert_eq!(std::fs::read_dir(&shelf.partial).unwrap().count(), 0);
        assert_eq!(*lock(&shelf.used), Some(0));
    }

    #[test]
    fn the_room_reserved_by_an_upload_is_given_back_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = shelf(dir.path());
        let upload = shelf.offer("a", 1000, &[0; 32]).unwrap();
        assert_eq!(*lock(&shelf.used), Some(1000));
        drop(upload);
        assert_eq!(*lock(&shelf.used), Some(0));
        let error = shelf.offer("a", 1000, &[0; 31]).err().unwrap();
        assert_eq!(error.code, ErrorCode::BadUpload);
    }
}
