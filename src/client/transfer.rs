//! Sending and fetching files over the chat connection.
//!
//! Both directions move the file in pieces, each its own request, with a
//! few in flight at once: enough to keep the link busy, few enough that a
//! chat message sent meanwhile does not wait long behind them (see
//! [`Pacer`]).
//! Uploads are checked by the server against the BLAKE3 hash offered up
//! front; downloads are checked here against the hash in the announcement,
//! in a temporary file that becomes visible only once it matches.

use std::{
    future::Future,
    io::ErrorKind,
    path::{Path, PathBuf},
    time::Instant,
};

use futures::{StreamExt, stream::FuturesOrdered};
use tempfile::NamedTempFile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{Client, ClientError, pacer::Pacer, unexpected};
use crate::protocol::{FileInfo, ReplyData, Request, Seq, clean_file_name};

/// The most one fetch asks for: well under the default frame limit.
const FETCH_BYTES: u32 = 256 * 1024;
/// How many `name (n).ext` variants a download tries before giving up.
const MAX_VARIANTS: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The connection failed or the server said no; `code()` tells why.
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("the file arrived damaged (its BLAKE3 hash does not match); nothing was saved")]
    Corrupt,
}

impl TransferError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TransferError + '_ {
        move |source| TransferError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl Client {
    /// Uploads the file at `path` to `conv` under its file name;
    /// `progress` gets the bytes the server has acknowledged so far.
    /// Returns the sequence number of the entry announcing the file.
    pub async fn send_file(
        &self,
        conv: &str,
        path: &Path,
        progress: impl FnMut(u64) + Send,
        cancel: CancellationToken,
    ) -> Result<Seq, TransferError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.upload(conv, &name, path, progress, cancel).await
    }

    /// Uploads the file at `path` to `conv`, offering it as `name` (which
    /// the server cleans before announcing it).
    pub async fn upload(
        &self,
        conv: &str,
        name: &str,
        path: &Path,
        mut progress: impl FnMut(u64) + Send,
        cancel: CancellationToken,
    ) -> Result<Seq, TransferError> {
        let (size, blake3) = hash_file(path).await?;
        let offer = Request::OfferFile {
            conv: conv.to_owned(),
            name: name.to_owned(),
            size,
            blake3: blake3.to_vec(),
        };
        let (upload, chunk_bytes) = match self.request(offer).await? {
            ReplyData::Upload {
                upload,
                chunk_bytes,
            } => (upload, u64::from(chunk_bytes)),
            other => return Err(unexpected(other).into()),
        };
        let sent = async {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(TransferError::io(path))?;
            let mut pacer = Pacer::new(chunk_bytes, Instant::now());
            let mut in_flight = FuturesOrdered::new();
            let (mut offset, mut acknowledged) = (0_u64, 0_u64);
            loop {
                while offset < size && pacer.may_send(offset - acknowledged) {
                    let mut data = vec![0; pacer.piece().min(size - offset) as usize];
                    file.read_exact(&mut data)
                        .await
                        .map_err(TransferError::io(path))?;
                    let len = data.len() as u64;
                    let chunk = Request::FileChunk {
                        upload,
                        offset,
                        data,
                    };
                    // Queued here, in order: the server takes chunks only
                    // in offset order.
                    let reply = self.queue(chunk)?;
                    let sent = Instant::now();
                    in_flight.push_back(async move { (len, sent, reply.await) });
                    offset += len;
                }
                let Some((len, sent, reply)) = in_flight.next().await else {
                    break;
                };
                reply?;
                pacer.acked(len, sent, Instant::now());
                acknowledged += len;
                progress(acknowledged);
            }
            match self.request(Request::CompleteUpload { upload }).await? {
                ReplyData::Sent { seq } => Ok(seq),
                other => Err(unexpected(other).into()),
            }
        };
        match cancellable(&cancel, sent).await {
            Err(error @ (TransferError::Cancelled | TransferError::Io { .. })) => {
                // The server drops the upload on its own if this fails.
                let _ = self.request(Request::CancelUpload { upload }).await;
                Err(error)
            }
            other => other,
        }
    }

    /// Downloads `file` into `dir` under its cleaned name, never replacing
    /// a file already there (`name (1).ext` instead). The bytes go to a
    /// temporary file that is renamed into place only once its hash
    /// matches. `progress` gets the bytes received so far.
    pub async fn fetch_file(
        &self,
        file: &FileInfo,
        dir: &Path,
        mut progress: impl FnMut(u64) + Send,
        cancel: CancellationToken,
    ) -> Result<PathBuf, TransferError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(TransferError::io(dir))?;
        // A saved file gets the usual permissions for new files (0666 less
        // the umask), not a temporary file's owner-only ones.
        let temp = tempfile::Builder::new()
            .prefix(".pyconchat-")
            .suffix(".part")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(TransferError::io(dir))?;
        let std_file = temp.reopen().map_err(TransferError::io(temp.path()))?;
        let fetched = async {
            let mut out = tokio::fs::File::from_std(std_file);
            let mut hasher = blake3::Hasher::new();
            let mut pacer = Pacer::new(u64::from(FETCH_BYTES), Instant::now());
            let mut in_flight = FuturesOrdered::new();
            let (mut offset, mut received) = (0_u64, 0_u64);
            loop {
                while offset < file.size && pacer.may_send(offset - received) {
                    let len = pacer.piece().min(file.size - offset);
                    let fetch = Request::FetchFile {
                        file: file.id.clone(),
                        offset,
                        len: len as u32,
                    };
                    let reply = self.queue(fetch)?;
                    let sent = Instant::now();
                    in_flight.push_back(async move { (sent, reply.await) });
                    offset += len;
                }
                let Some((sent, reply)) = in_flight.next().await else {
                    break;
                };
                let data = match reply? {
                    ReplyData::FileData { data } => data,
                    other => return Err(unexpected(other).into()),
                };
                pacer.acked(data.len() as u64, sent, Instant::now());
                if data.is_empty() {
                    // Shorter than announced: the hash check below says so.
                    break;
                }
                hasher.update(&data);
                out.write_all(&data)
                    .await
                    .map_err(TransferError::io(temp.path()))?;
                received += data.len() as u64;
                progress(received);
            }
            if received != file.size || hasher.finalize().as_bytes()[..] != file.blake3[..] {
                return Err(TransferError::Corrupt);
            }
            out.sync_all()
                .await
                .map_err(TransferError::io(temp.path()))?;
            Ok(())
        };
        cancellable(&cancel, fetched).await?;
        let dir = dir.to_owned();
        let name = clean_file_name(&file.name);
        tokio::task::spawn_blocking(move || persist_new(temp, &dir, &name))
            .await
            .map_err(|e| TransferError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })?
    }
}

async fn cancellable<T>(
    cancel: &CancellationToken,
    work: impl Future<Output = Result<T, TransferError>>,
) -> Result<T, TransferError> {
    tokio::select! {
        () = cancel.cancelled() => Err(TransferError::Cancelled),
        done = work => done,
    }
}

/// The size and BLAKE3 hash of a file, read on a blocking thread.
async fn hash_file(path: &Path) -> Result<(u64, [u8; 32]), TransferError> {
    let owned = path.to_owned();
    let hashed = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&owned)?;
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let mut hasher = blake3::Hasher::new();
        let size = std::io::copy(&mut &file, &mut hasher)?;
        Ok((size, *hasher.finalize().as_bytes()))
    })
    .await
    .map_err(std::io::Error::other);
    hashed.and_then(|h| h).map_err(TransferError::io(path))
}

/// Moves `temp` to `dir/name`, or the first free `name (n).ext`, without
/// ever replacing an existing file (the rename refuses to).
fn persist_new(mut temp: NamedTempFile, dir: &Path, name: &str) -> Result<PathBuf, TransferError> {
    for n in 0..MAX_VARIANTS {
        let path = dir.join(numbered(name, n));
        match temp.persist_noclobber(&path) {
            Ok(_) => return Ok(path),
            Err(error) if error.error.kind() == ErrorKind::AlreadyExists => temp = error.file,
            Err(error) => return Err(TransferError::io(&path)(error.error)),
        }
    }
    Err(TransferError::Io {
        path: dir.join(name),
        source: std::io::Error::new(
            ErrorKind::AlreadyExists,
            "too many files with this name already",
        ),
    })
}

/// `name` for 0, else `stem (n).ext`.
fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered("a.txt", 0), "a.txt");
        assert_eq!(numbered("a.txt", 1), "a (1).txt");
        assert_eq!(numbered("a.tar.gz", 2), "a.tar (2).gz");
        assert_eq!(numbered("README", 3), "README (3)");
    }

    #[test]
    fn saving_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "old").unwrap();
        for expected in ["a (1).txt", "a (2).txt"] {
            let mut temp = NamedTempFile::new_in(dir.path()).unwrap();
            std::io::Write::write_all(&mut temp, b"new").unwrap();
            let saved = persist_new(temp, dir.path(), "a.txt").unwrap();
            assert_eq!(saved, dir.path().join(expected));
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "old"
        );
    }
}
