//! Uploaded files: where their bytes go, how much room they may take and
//! how long they stay.
//!
//! An upload writes to a local file of its own under `files/partial/` and
//! is hashed as it arrives. Only a complete upload whose size and BLAKE3
//! hash match the offer is handed to the store's [`Contents`] under an id
//! that is random and chosen here (the client's name for the file is never
//! a path): renamed to `files/<id>` on one server's disk, or written to the
//! shared database where every node of a cluster reads it. The record and
//! the log entry announcing it are committed together by the hub
//! afterwards, so a file is either announced and readable or gone. Every
//! type that holds unfinished bytes deletes them when dropped: a cancelled,
//! failed or abandoned upload (the client vanished) leaves nothing behind,
//! and neither does an announcement that fails.
//!
//! The quota counts the bytes of every stored file (from the records, so in
//! a cluster the whole cluster's) plus those reserved by this server's
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
    store::{Contents, Disk, FileRecord, Store, StoreError},
};
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
    partial: PathBuf,
    store: Arc<dyn Store>,
    max_file_bytes: u64,
    max_total_bytes: u64,
    retention: Duration,
    clock: Clock,
    chunk_bytes: u32,
    /// Bytes reserved by this server's uploads in progress (until their
    /// announcement commits); `None` until [`Shelf::prepare`] has set the
    /// files in order. Held while an offer makes room, so two offers here
    /// do not both count on the same room.
    reserved: Mutex<Option<u64>>,
}

impl Shelf {
    pub fn new(store: Arc<dyn Store>, limits: &Limits, clock: Clock) -> Self {
        let frame_room = limits.max_frame_bytes.saturating_sub(FRAME_OVERHEAD);
        Self {
            partial: store.files_dir().join(Disk::PARTIAL_DIR),
            store,
            max_file_bytes: limits.max_file_bytes,
            max_total_bytes: limits.max_files_bytes,
            retention: limits.file_retention,
            clock,
            chunk_bytes: MAX_CHUNK_BYTES.min(u32::try_from(frame_room).unwrap_or(u32::MAX)),
            reserved: Mutex::new(None),
        }
    }

    fn contents(&self) -> &dyn Contents {
        self.store.contents()
    }

    /// The chunk size uploads and fetches use on this server.
    pub fn chunk_bytes(&self) -> u32 {
        self.chunk_bytes
    }

    /// Makes the contents and the stored records agree, before any
    /// session runs: deletes unfinished uploads and contents without a
    /// record (left by a crash between writing the contents and committing
    /// the announcement), and forgets records whose contents are gone.
    pub fn prepare(&self) -> Result<(), StoreError> {
        let io = |source| StoreError::Files {
            path: self.partial.clone(),
            source,
        };
        match std::fs::remove_dir_all(&self.partial) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        std::fs::create_dir_all(&self.partial).map_err(io)?;
        let records = self.store.files()?;
        self.remove_orphans(&records)?;
        let ids: Vec<String> = records.iter().map(|r| r.info.id.clone()).collect();
        let lost = self.contents().lost(&ids)?;
        if !lost.is_empty() {
            tracing::warn!(
                count = lost.len(),
                "forgetting files whose contents are gone"
            );
            self.store.delete_files(&lost)?;
        }
        *lock(&self.reserved) = Some(0);
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
            partial: PartialFile(partial),
            reservation,
        })
    }

    /// Reserves `size` bytes, removing the oldest stored files if that makes
    /// enough room.
    fn reserve(&self, size: u64) -> Result<(), ErrorBody> {
        let mut reserved = lock(&self.reserved);
        let Some(in_progress) = *reserved else {
            return Err(ErrorBody::new(
                ErrorCode::StorageFull,
                "the server's file store is unavailable (see the server log)",
            ));
        };
        let records = self.store.files()?;
        let stored: u64 = records.iter().map(|r| r.info.size).sum();
        let over = stored
            .saturating_add(in_progress)
            .saturating_add(size)
            .saturating_sub(self.max_total_bytes);
        if over > 0 {
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
                return Err(ErrorBody::new(
                    ErrorCode::StorageFull,
                    "the server has no room for this file right now; try again later",
                ));
            }
            tracing::info!(
                count = oldest.len(),
                "removing the oldest files to make room"
            );
            self.remove(&oldest)?;
        }
        *reserved = Some(in_progress.saturating_add(size));
        Ok(())
    }

    fn release(&self, bytes: u64) {
        if let Some(reserved) = lock(&self.reserved).as_mut() {
            *reserved = reserved.saturating_sub(bytes);
        }
    }

    /// Forgets these files and deletes their contents.
    fn remove(&self, ids: &[String]) -> Result<(), ErrorBody> {
        if ids.is_empty() {
            return Ok(());
        }
        let removed = self.store.delete_files(ids)?;
        let ids: Vec<String> = removed.into_iter().map(|r| r.info.id).collect();
        if let Err(error) = self.contents().delete(&ids) {
            tracing::warn!(%error, "cannot delete stored files' contents");
        }
        Ok(())
    }

    /// Removes the files of `group`, which is closing.
    pub fn remove_group_files(&self, group: &str) -> Result<(), ErrorBody> {
        let files = self.store.group_files(group)?;
        self.remove(&files.into_iter().map(|r| r.info.id).collect::<Vec<_>>())
    }

    /// Removes files past the retention time, and contents left without
    /// a record (see [`Contents::remove_orphans`]).
    pub fn expire(&self) -> Result<(), ErrorBody> {
        let records = self.store.files()?;
        let expired: Vec<String> = records
            .iter()
            .filter(|r| self.expired(r))
            .map(|r| r.info.id.clone())
            .collect();
        self.remove(&expired)?;
        if !expired.is_empty() {
            tracing::info!(count = expired.len(), "removed expired files");
        }
        // The expired records' contents are gone already: naming them
        // as known keeps nothing.
        self.remove_orphans(&records)?;
        Ok(())
    }

    /// Deletes contents none of `records` names (see
    /// [`Contents::remove_orphans`] for which are safe to go).
    fn remove_orphans(&self, records: &[FileRecord]) -> Result<(), StoreError> {
        let known: HashSet<&str> = records.iter().map(|r| r.info.id.as_str()).collect();
        self.contents().remove_orphans(&known)
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
            .file(id)?
            .filter(|r| grants.get(&r.group).is_some_and(|g| g.may_read(r.seq)) && !self.expired(r))
            .ok_or_else(unavailable)
    }

    /// The files of `group` that `grant` lets a member read and that can
    /// still be fetched, oldest first.
    pub fn available(&self, group: &str, grant: Grant) -> Result<Vec<SharedFile>, ErrorBody> {
        let records = self.store.files()?;
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
        let data = self
            .contents()
            .read(&record.info.id, offset, len)?
            .ok_or_else(unavailable)?;
        if data.len() != len as usize {
            return Err(internal(&format_args!(
                "file {} has {} bytes at {offset}, not the {len} its record promises",
                record.info.id,
                data.len()
            )));
        }
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
        let id = random_id()?;
        let Upload {
            name,
            size,
            blake3,
            partial,
            reservation,
            ..
        } = self;
        shelf.contents().put(&id, &partial.0).map_err(keep_failed)?;
        drop(partial);
        let info = FileInfo {
            id: id.clone(),
            name,
            size,
            blake3: blake3.to_vec(),
        };
        let stored = Stored {
            id,
            reservation,
            kept: AtomicBool::new(false),
        };
        Ok((info, stored))
    }
}

/// A finished file waiting for its announcement to commit: deleted on drop
/// unless [`Stored::keep`] was called.
#[derive(Debug)]
pub(crate) struct Stored {
    id: String,
    reservation: Reservation,
    kept: AtomicBool,
}

impl Stored {
    /// The announcement is durable: the file stays, and its record counts
    /// its bytes from now on.
    pub fn keep(&self) {
        self.kept.store(true, Ordering::Release);
    }
}

impl Drop for Stored {
    /// Deletes the contents unless kept: on a blocking thread when dropped
    /// in async code (the hub drops it), as the store may block.
    fn drop(&mut self) {
        if self.kept.load(Ordering::Acquire) {
            return;
        }
        let (shelf, id) = (self.reservation.shelf.clone(), std::mem::take(&mut self.id));
        let delete = move || {
            if let Err(error) = shelf.contents().delete(std::slice::from_ref(&id)) {
                tracing::warn!(%id, %error, "cannot delete an unannounced file");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(delete)),
            Err(_) => delete(),
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

/// An upload's local bytes, deleted on drop (after [`Contents::put`] has
/// copied or moved them, or when the upload ends without it).
struct PartialFile(PathBuf);

impl Drop for PartialFile {
    fn drop(&mut self) {
        remove_quietly(&self.0);
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

/// Why a checked upload could not be kept: a local write error as
/// [`write_failed`] says, the database's as [`ErrorBody::from`] does.
fn keep_failed(error: StoreError) -> ErrorBody {
    match error {
        StoreError::Files { source, .. } => write_failed(&source),
        other => other.into(),
    }
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
        assert_eq!(*lock(&shelf.reserved), Some(0));
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
        assert_eq!(*lock(&shelf.reserved), Some(0));
    }

    #[test]
    fn the_room_reserved_by_an_upload_is_given_back_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = shelf(dir.path());
        let upload = shelf.offer("a", 1000, &[0; 32]).unwrap();
        assert_eq!(*lock(&shelf.reserved), Some(1000));
        drop(upload);
        assert_eq!(*lock(&shelf.reserved), Some(0));
        let error = shelf.offer("a", 1000, &[0; 31]).err().unwrap();
        assert_eq!(error.code, ErrorCode::BadUpload);
    }
}
