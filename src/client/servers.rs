//! The servers a client may use (`--server a:7667,b:7667`): tried in
//! order, starting with the one that last worked. That one is kept in a
//! small file in the client's data dir, so the next run starts there too
//! instead of knocking on a node that is down first.

use std::path::PathBuf;

/// The name of the file, in the client's data dir, that holds the server
/// that last worked.
pub const LAST_SERVER_FILE: &str = "last-server";

/// The addresses in a server list: comma-separated, blanks ignored.
pub fn server_list(spec: &str) -> Vec<String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The list and where in it the client is.
#[derive(Debug)]
pub(crate) struct Servers {
    list: Vec<String>,
    at: usize,
    /// The file that remembers the server that worked, and what it holds.
    memory: Option<(PathBuf, Option<String>)>,
}

impl Servers {
    /// The servers of `spec`, starting with the one `memory` names if it is
    /// in the list.
    pub fn new(spec: &str, memory: Option<PathBuf>) -> Self {
        let mut list = server_list(spec);
        if list.is_empty() {
            // Let the connect fail on the address as it was given.
            list.push(spec.to_owned());
        }
        let memory = memory.map(|path| {
            let remembered = std::fs::read_to_string(&path)
                .ok()
                .map(|text| text.trim().to_owned());
            (path, remembered)
        });
        let at = memory
            .as_ref()
            .and_then(|(_, remembered)| remembered.as_ref())
            .and_then(|remembered| list.iter().position(|s| s == remembered))
            .unwrap_or(0);
        Self { list, at, memory }
    }

    pub fn current(&self) -> &str {
        &self.list[self.at]
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Moves on to the next server, after the last back to the first.
    pub fn advance(&mut self) {
        self.at = (self.at + 1) % self.list.len();
    }

    /// The current server answered: remember it (once, not on every
    /// reconnect to the same one).
    pub fn worked(&mut self) {
        let current = self.list[self.at].clone();
        let Some((path, remembered)) = &mut self.memory else {
            return;
        };
        if remembered.as_ref() == Some(&current) {
            return;
        }
        match std::fs::write(&*path, format!("{current}\n")) {
            Ok(()) => *remembered = Some(current),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "cannot remember the server that worked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_split_on_commas_and_blanks_are_dropped() {
        assert_eq!(server_list("a:1, b:2,,"), ["a:1", "b:2"]);
        assert_eq!(server_list("a:1"), ["a:1"]);
        assert!(server_list(" , ").is_empty());
    }

    #[test]
    fn servers_go_in_order_and_wrap() {
        let mut servers = Servers::new("a:1,b:2,c:3", None);
        assert_eq!(servers.len(), 3);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(servers.current().to_owned());
            servers.advance();
        }
        assert_eq!(seen, ["a:1", "b:2", "c:3", "a:1"]);
    }

    #[test]
    fn the_server_that_worked_is_tried_first_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(LAST_SERVER_FILE);
        let mut servers = Servers::new("a:1,b:2", Some(file.clone()));
        assert_eq!(servers.current(), "a:1", "nothing remembered yet");
        servers.advance();
        servers.worked();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "b:2\n");
        let next_run = Servers::new("a:1,b:2", Some(file.clone()));
        assert_eq!(next_run.current(), "b:2");
        let other_list = Servers::new("c:3,d:4", Some(file));
        assert_eq!(
            other_list.current(),
            "c:3",
            "a server not in the list is ignored"
        );
    }
}
