//! One connection's file transfers: its uploads in progress and the
//! records of the files it fetches from. The bytes themselves live on the
//! [`Shelf`]; this is the per-connection bookkeeping around it.

use std::{collections::HashMap, sync::Arc};

use super::{
    blocking,
    files::{Shelf, Upload},
    hub::{Act, Hub, Job, ReplyTo},
    rules::{Action, Grant},
};
use crate::{
    protocol::{BULK_PIECE_BYTES, ErrorBody, ErrorCode, ReplyData, Request},
    store::FileRecord,
};

/// Uploads one connection may have open at once.
const MAX_UPLOADS: usize = 4;
/// File records one connection keeps for its fetches.
const FETCHING: usize = 16;

pub(crate) struct Transfers {
    shelf: Arc<Shelf>,
    /// Uploads in progress with the conversation each is for; dropping one
    /// deletes its bytes, so whatever ends the session cleans them up.
    uploads: HashMap<u64, (String, Upload)>,
    next_upload: u64,
    /// Records of the files this connection fetches from.
    fetching: HashMap<String, Arc<FileRecord>>,
}

/// Who announces a finished upload, and where the reply goes.
#[derive(Clone)]
pub(crate) struct Announcer {
    pub hub: Hub,
    pub name: String,
    pub session: u64,
    pub reply_to: ReplyTo,
}

impl Transfers {
    pub fn new(shelf: Arc<Shelf>) -> Self {
        Self {
            shelf,
            uploads: HashMap::new(),
            next_upload: 0,
            fetching: HashMap::new(),
        }
    }

    /// Whether a request moves enough file bytes to be paced by the
    /// transfer itself (an upload is bounded by its offer, fetches by how
    /// fast the client reads the replies) rather than by the request
    /// budget. Small chunks and fetches pay like any request, so a flood of
    /// them is limited like a flood of pings.
    pub fn is_bulk(&self, request: &Request) -> bool {
        match request {
            Request::FileChunk { data, .. } => data.len() as u64 >= BULK_PIECE_BYTES,
            Request::FetchFile { file, offset, len } => {
                self.fetching.get(file).is_some_and(|record| {
                    self.shelf
                        .span(record, *offset, *len)
                        .is_ok_and(|n| u64::from(n) >= BULK_PIECE_BYTES)
                })
            }
            _ => false,
        }
    }

    /// Accepts an offer of a file for `conv`.
    pub async fn offer(
        &mut self,
        conv: String,
        name: String,
        size: u64,
        blake3: Vec<u8>,
    ) -> Result<ReplyData, ErrorBody> {
        if self.uploads.len() >= MAX_UPLOADS {
            return Err(ErrorBody::new(
                ErrorCode::RateLimited,
                format!("at most {MAX_UPLOADS} uploads at once per connection"),
            ));
        }
        let shelf = self.shelf.clone();
        let chunk_bytes = shelf.chunk_bytes();
        let upload = blocking(move || shelf.offer(&name, size, &blake3)).await?;
        self.next_upload += 1;
        self.uploads.insert(self.next_upload, (conv, upload));
        Ok(ReplyData::Upload {
            upload: self.next_upload,
            chunk_bytes,
        })
    }

    /// Writes a chunk on a blocking thread. Any failure cancels the upload.
    pub async fn chunk(
        &mut self,
        id: u64,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<ReplyData, ErrorBody> {
        let (conv, mut upload) = self.uploads.remove(&id).ok_or_else(|| no_upload(id))?;
        let max = self.shelf.chunk_bytes() as usize;
        if data.len() > max {
            return Err(ErrorBody::new(
                ErrorCode::BadUpload,
                format!("chunks may be at most {max} bytes; the upload is cancelled"),
            ));
        }
        let upload = blocking(move || upload.write(offset, &data).map(|()| upload)).await?;
        self.uploads.insert(id, (conv, upload));
        Ok(ReplyData::Done)
    }

    pub fn cancel(&mut self, id: u64) -> Result<ReplyData, ErrorBody> {
        self.uploads
            .remove(&id)
            .map(|_| ReplyData::Done)
            .ok_or_else(|| no_upload(id))
    }

    /// Hands a finished upload to a task of its own that checks it, keeps
    /// it and has the hub announce it; the reply to request `id` reaches
    /// the member through its frame queue. Syncing a large file can take a
    /// while, and the session must go on delivering chat meanwhile.
    pub fn complete(&mut self, upload: u64, id: u32, to: Announcer) -> Result<(), ErrorBody> {
        let (conv, upload) = self
            .uploads
            .remove(&upload)
            .ok_or_else(|| no_upload(upload))?;
        let shelf = self.shelf.clone();
        tokio::spawn(async move {
            let failed = match blocking(move || upload.finish(&shelf)).await {
                Ok((file, stored)) => {
                    let announce = Job::Act(Act {
                        conv,
                        name: to.name,
                        session: to.session,
                        id,
                        reply_to: to.reply_to.clone(),
                        action: Action::PostFile { file },
                        stored: Some(Arc::new(stored)),
                    });
                    to.hub.submit(announce).await.err()
                }
                Err(error) => Some(error),
            };
            if let Some(error) = failed {
                to.reply_to.send(id, Err(error));
            }
        });
        Ok(())
    }

    /// Reads a piece of a file that `grants` (what the member may read of
    /// each of their conversations) allow. The file's record is looked up
    /// once per connection, not once per piece.
    pub async fn fetch(
        &mut self,
        grants: HashMap<String, Grant>,
        file: String,
        offset: u64,
        len: u32,
    ) -> Result<ReplyData, ErrorBody> {
        let record = match self.fetching.get(&file) {
            Some(record)
                if grants
                    .get(&record.group)
                    .is_some_and(|g| g.may_read(record.seq)) =>
            {
                record.clone()
            }
            _ => {
                let shelf = self.shelf.clone();
                let record = Arc::new(blocking(move || shelf.lookup(&grants, &file)).await?);
                if self.fetching.len() >= FETCHING {
                    self.fetching.clear();
                }
                self.fetching.insert(record.info.id.clone(), record.clone());
                record
            }
        };
        let len = self.shelf.span(&record, offset, len)?;
        let shelf = self.shelf.clone();
        let data = blocking(move || shelf.read(&record, offset, len)).await?;
        Ok(ReplyData::FileData { data })
    }

    /// The files of `group` that `grant` lets the member fetch: the newest
    /// that fit in one reply of at most `budget` bytes.
    pub async fn list(
        &self,
        group: &str,
        grant: Grant,
        budget: usize,
    ) -> Result<ReplyData, ErrorBody> {
        let (shelf, group) = (self.shelf.clone(), group.to_owned());
        let files = blocking(move || shelf.available(&group, grant)).await?;
        Ok(ReplyData::Files {
            files: newest_within(files, budget),
        })
    }
}

/// The newest items (the end of `items`) whose encoded size adds up to at
/// most `budget` bytes, so a reply always fits in a frame.
pub(crate) fn newest_within<T: serde::Serialize>(mut items: Vec<T>, budget: usize) -> Vec<T> {
    let mut used = 0;
    let first = items
        .iter()
        .rposition(|item| {
            used += crate::protocol::encode(item).len();
            used > budget
        })
        .map_or(0, |over| over + 1);
    items.split_off(first)
}

fn no_upload(id: u64) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::BadUpload,
        format!("there is no upload {id} on this connection"),
    )
}
