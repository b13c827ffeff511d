//! The files of the chat: those announced in the group or listed by the
//! server, with what became of each here, and the uploads and downloads in
//! progress.
//!
//! A file is known by its id: announced again (a replay after being let
//! back in, a catch-up that overlaps) or listed again, it is the same
//! file, never a second download. The server's list is what makes a file
//! shared before this client started still fetchable; the record of saved
//! files is what keeps one saved in an earlier run from being saved again.

use std::{path::PathBuf, time::Instant};

use super::transfer::{Direction, FileState, Finish, SharedFile, Transfer, TransferId};
use crate::{
    protocol::{self, FileInfo, clean_file_name},
    tui::session::SavedFiles,
};

#[derive(Debug, Clone, Default)]
pub struct Files {
    /// Files shared, oldest first.
    shared: Vec<SharedFile>,
    /// The server's list has been asked for and has not come yet.
    pub listing: bool,
    /// Transfers in progress, oldest first. Their ids are the chat's,
    /// unique across conversations.
    transfers: Vec<Transfer>,
}

impl Files {
    pub fn shared(&self) -> &[SharedFile] {
        &self.shared
    }

    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    pub fn file(&self, id: &str) -> Option<&SharedFile> {
        self.shared.iter().find(|f| f.info.id == id)
    }

    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.transfers.iter().find(|t| t.id == id)
    }

    /// Remembers an announced file (saved already when `saved` says so);
    /// `None` if its announcement is already shown.
    pub fn announce(
        &mut self,
        info: FileInfo,
        from: String,
        at_ms: i64,
        me: &str,
        saved: &SavedFiles,
    ) -> Option<usize> {
        if let Some(index) = self.shared.iter().position(|f| f.info.id == info.id) {
            let file = &mut self.shared[index];
            return (!std::mem::replace(&mut file.shown, true)).then_some(index);
        }
        let state = initial_state(&info, &from, me, saved);
        Some(self.insert(info, from, at_ms, state, true))
    }

    /// The server's list of the files it still has: those not known here
    /// join the list (saved when `saved` says so, else waiting, or sent
    /// when they are one's own).
    pub fn listed(&mut self, files: Vec<protocol::SharedFile>, me: &str, saved: &SavedFiles) {
        self.listing = false;
        for file in files {
            let mut info = file.file;
            if self.file(&info.id).is_none() {
                // The server cleaned the name; a client trusts no one with its disk.
                info.name = clean_file_name(&info.name);
                let state = initial_state(&info, &file.from, me, saved);
                self.insert(info, file.from, file.at_ms, state, false);
            }
        }
    }

    /// Adds a file in order of time; returns where it went.
    fn insert(
        &mut self,
        info: FileInfo,
        from: String,
        at_ms: i64,
        state: FileState,
        shown: bool,
    ) -> usize {
        let at = self
            .shared
            .iter()
            .rposition(|f| f.at_ms <= at_ms)
            .map_or(0, |i| i + 1);
        let file = SharedFile {
            info,
            from,
            at_ms,
            state,
            shown,
        };
        self.shared.insert(at, file);
        at
    }

    /// Starts upload `id` of a file named `name`; `size` is 0 when not
    /// known yet.
    pub fn upload(&mut self, id: TransferId, name: String, size: u64, now: Instant) {
        self.transfers
            .push(Transfer::new(id, Direction::Upload, name, size, now));
    }

    /// Starts downloading `shared[index]` as transfer `id` (`auto`: by the
    /// automatic rule, not asked for), or says why it cannot be.
    pub fn download(
        &mut self,
        index: usize,
        id: TransferId,
        now: Instant,
        auto: bool,
    ) -> Result<FileInfo, String> {
        let file = &self.shared[index];
        if !file.can_download() {
            return Err(match &file.state {
                FileState::Saved(path) => {
                    format!("{} is already saved to {}", file.info.name, path.display())
                }
                FileState::Unavailable => format!("{} is no longer available", file.info.name),
                _ => format!("{} is already downloading", file.info.name),
            });
        }
        let file = &mut self.shared[index];
        file.state = FileState::Downloading(id);
        let mut transfer = Transfer::new(
            id,
            Direction::Download,
            file.info.name.clone(),
            file.info.size,
            now,
        );
        transfer.file_id = Some(file.info.id.clone());
        transfer.auto = auto;
        self.transfers.push(transfer);
        Ok(file.info.clone())
    }

    /// The newest file from someone else that waits (or failed), if any.
    pub fn newest_waiting(&self) -> Option<usize> {
        self.shared
            .iter()
            .rposition(|f| matches!(f.state, FileState::Waiting | FileState::Failed(_)))
    }

    /// Asks a transfer to stop; false if it is gone or already stopping.
    pub fn cancel(&mut self, id: TransferId) -> bool {
        match self.transfers.iter_mut().find(|t| t.id == id) {
            Some(transfer) if !transfer.cancelling => {
                transfer.cancelling = true;
                true
            }
            _ => false,
        }
    }

    /// The newest transfer not already stopping.
    pub fn newest_running(&self) -> Option<TransferId> {
        self.transfers
            .iter()
            .rev()
            .find(|t| !t.cancelling)
            .map(|t| t.id)
    }

    pub fn set_total(&mut self, id: TransferId, total: u64) {
        if let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) {
            t.total = total;
        }
    }

    pub fn progress(&mut self, id: TransferId, done: u64, now: Instant) {
        if let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) {
            t.progress(done, now);
        }
    }

    /// A transfer ended: it leaves the list, its file takes the new state.
    pub fn finish(&mut self, id: TransferId, finish: &Finish, me: &str) -> Option<Transfer> {
        let at = self.transfers.iter().position(|t| t.id == id)?;
        let transfer = self.transfers.remove(at);
        if let Some(file) = transfer
            .file_id
            .as_ref()
            .and_then(|id| self.shared.iter_mut().find(|f| &f.info.id == id))
        {
            file.state = match finish {
                Finish::Saved(path) => FileState::Saved(path.clone()),
                Finish::Unavailable => FileState::Unavailable,
                Finish::Failed(message) => FileState::Failed(message.clone()),
                Finish::Sent | Finish::Cancelled if file.from == me => FileState::Sent,
                Finish::Sent | Finish::Cancelled => FileState::Waiting,
            };
        }
        Some(transfer)
    }

    /// Where a saved file went, if it was saved here.
    pub fn saved_path(&self, id: &str) -> Option<&PathBuf> {
        match &self.file(id)?.state {
            FileState::Saved(path) => Some(path),
            _ => None,
        }
    }
}

/// A file newly known here: saved in this run or an earlier one, else
/// sent when it is one's own, else waiting.
fn initial_state(info: &FileInfo, from: &str, me: &str, saved: &SavedFiles) -> FileState {
    match saved.get(&info.id) {
        Some(path) => FileState::Saved(path.to_owned()),
        None if from == me => FileState::Sent,
        None => FileState::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn info(id: &str) -> FileInfo {
        FileInfo {
            id: id.into(),
            name: format!("{id}.bin"),
            size: 10,
            blake3: vec![0; 32],
        }
    }

    /// File `id` as the server lists it, under a name to clean.
    fn listed(id: &str, from: &str, at_ms: i64) -> protocol::SharedFile {
        protocol::SharedFile {
            seq: 0,
            at_ms,
            from: from.into(),
            file: FileInfo {
                name: format!("../{id}.bin"),
                ..info(id)
            },
        }
    }

    #[test]
    fn a_file_announced_again_is_the_same_file_and_never_saved_twice() {
        let now = Instant::now();
        let mut files = Files::default();
        let at = files
            .announce(info("f1"), "alice".into(), 0, "bob", &SavedFiles::default())
            .unwrap();
        let id = 1;
        files.download(at, id, now, true).unwrap();
        files.finish(id, &Finish::Saved("/dl/f1.bin".into()), "bob");
        assert_eq!(files.saved_path("f1"), Some(&PathBuf::from("/dl/f1.bin")));
        // Let back in, the log replays the announcement.
        assert_eq!(
            files.announce(info("f1"), "alice".into(), 0, "bob", &SavedFiles::default()),
            None
        );
        assert_eq!(files.shared().len(), 1);
        assert!(
            files
                .download(0, 2, now, false)
                .unwrap_err()
                .contains("already saved")
        );
        assert!(files.transfers().is_empty());
    }

    #[test]
    fn the_servers_list_adds_what_is_not_known_in_order_of_time() {
        let mut files = Files::default();
        files.announce(
            info("f2"),
            "alice".into(),
            20,
            "bob",
            &SavedFiles::default(),
        );
        files.listing = true;
        files.listed(
            vec![
                listed("f1", "bob", 10),
                listed("f2", "alice", 20),
                listed("f3", "alice", 30),
            ],
            "bob",
            &SavedFiles::default(),
        );
        assert!(!files.listing);
        let known: Vec<_> = files
            .shared()
            .iter()
            .map(|f| (f.info.name.as_str(), &f.state, f.shown))
            .collect();
        assert_eq!(
            known,
            [
                ("f1.bin", &FileState::Sent, false),
                ("f2.bin", &FileState::Waiting, true),
                ("f3.bin", &FileState::Waiting, false),
            ],
            "names cleaned; the announced one kept as it was"
        );
        // An announcement of a listed file is shown once.
        assert_eq!(
            files.announce(
                info("f3"),
                "alice".into(),
                30,
                "bob",
                &SavedFiles::default()
            ),
            Some(2)
        );
        assert_eq!(
            files.announce(
                info("f3"),
                "alice".into(),
                30,
                "bob",
                &SavedFiles::default()
            ),
            None
        );
    }

    #[test]
    fn a_file_saved_in_an_earlier_run_is_known_as_saved_however_it_comes() {
        let now = Instant::now();
        let mut saved = SavedFiles::default();
        saved.record("f1", Path::new("/dl/f1.bin"));
        saved.record("f2", Path::new("/dl/f2 (1).bin"));
        let mut files = Files::default();
        let at = files
            .announce(info("f1"), "alice".into(), 10, "bob", &saved)
            .unwrap();
        files.listed(
            vec![listed("f2", "bob", 20), listed("f3", "alice", 30)],
            "bob",
            &saved,
        );
        let states: Vec<_> = files.shared().iter().map(|f| &f.state).collect();
        assert_eq!(
            states,
            [
                &FileState::Saved("/dl/f1.bin".into()),
                &FileState::Saved("/dl/f2 (1).bin".into()),
                &FileState::Waiting,
            ],
            "one's own file saved here too is saved, not only sent"
        );
        assert!(
            files
                .download(at, 1, now, true)
                .unwrap_err()
                .contains("already saved to /dl/f1.bin")
        );
        assert_eq!(files.newest_waiting(), Some(2));
    }

    #[test]
    fn transfers_start_stop_and_end_in_their_file() {
        let now = Instant::now();
        let mut files = Files::default();
        let up = 1;
        files.upload(up, "mine.txt".into(), 0, now);
        files.set_total(up, 99);
        assert_eq!(files.transfer(up).unwrap().total, 99);
        files.announce(info("f1"), "bob".into(), 0, "bob", &SavedFiles::default());
        assert_eq!(files.shared()[0].state, FileState::Sent);
        files.announce(info("f2"), "alice".into(), 0, "bob", &SavedFiles::default());
        assert_eq!(files.newest_waiting(), Some(1));
        let down = 2;
        let file = files.download(1, down, now, false).unwrap();
        assert_eq!(file.id, "f2");
        assert_eq!(files.newest_running(), Some(down));
        assert!(files.cancel(down));
        assert!(!files.cancel(down), "once");
        assert_eq!(files.newest_running(), Some(up));
        files.finish(down, &Finish::Cancelled, "bob");
        assert_eq!(
            files.shared()[1].state,
            FileState::Waiting,
            "fetch it later"
        );
        assert!(files.finish(down, &Finish::Cancelled, "bob").is_none());
    }
}
