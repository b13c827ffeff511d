//! Who has been connected lately, for the operator's `pyconchat names` and
//! `pyconchat groups`, which look for names and groups nobody uses.
//!
//! A session holds a [`Connected`] for its name while it lasts; [`record`]
//! writes the names connected since its last round to the store once a
//! minute and at shutdown. One small transaction a minute costs less than
//! a write per connection, and "seen" needs no finer grain than that.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use super::{blocking, lock};
use crate::store::{Store, now_ms};

/// How often the names seen are written to the store.
const RECORD_EVERY: Duration = Duration::from_secs(60);

/// The names connected now or since they were last recorded.
#[derive(Debug, Default)]
pub(crate) struct LastSeen {
    names: Mutex<Names>,
}

#[derive(Debug, Default)]
struct Names {
    /// Connected names and how many connections each has.
    online: HashMap<String, usize>,
    /// Names whose last connection ended since the last round.
    left: HashSet<String>,
}

/// A connection under a name; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Connected {
    seen: Arc<LastSeen>,
    name: String,
}

impl LastSeen {
    /// Counts `name` as connected until the returned value is dropped.
    pub fn hold(self: &Arc<Self>, name: &str) -> Connected {
        *lock(&self.names).online.entry(name.to_owned()).or_default() += 1;
        Connected {
            seen: self.clone(),
            name: name.to_owned(),
        }
    }

    /// The names connected now or since the last call.
    fn take(&self) -> Vec<String> {
        let mut names = lock(&self.names);
        let left = std::mem::take(&mut names.left);
        names.online.keys().cloned().chain(left).collect()
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        let mut names = lock(&self.seen.names);
        if let Some(count) = names.online.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
                names.online.remove(&self.name);
                names.left.insert(std::mem::take(&mut self.name));
            }
        }
    }
}

/// Writes the names seen to the store every minute, and once more when
/// `stop` is cancelled.
pub(crate) async fn record(seen: Arc<LastSeen>, store: Arc<dyn Store>, stop: CancellationToken) {
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(RECORD_EVERY) => false,
        };
        let names = seen.take();
        if !names.is_empty() {
            let store = store.clone();
            if let Err(error) = blocking(move || store.mark_seen(&names, now_ms())).await {
                tracing::warn!(error = %error.message, "recording who was connected failed");
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Maintenance, SqliteStore};

    #[test]
    fn a_name_counts_while_any_of_its_connections_lasts_and_once_after() {
        let seen = Arc::new(LastSeen::default());
        let first = seen.hold("ann");
        let second = seen.hold("ann");
        let bob = seen.hold("bob");
        drop(bob);
        let mut names = seen.take();
        names.sort();
        assert_eq!(names, ["ann", "bob"]);
        drop(first);
        assert_eq!(seen.take(), ["ann"]);
        drop(second);
        assert_eq!(seen.take(), ["ann"], "left since the last round");
        assert!(seen.take().is_empty());
    }

    #[tokio::test]
    async fn shutdown_records_who_was_connected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        store.claim_name("ann", &[1; 32]).unwrap();
        rusqlite::Connection::open(store.path())
            .unwrap()
            .execute("UPDATE users SET last_seen_ms = 1", [])
            .unwrap();
        let seen = Arc::new(LastSeen::default());
        let _ann = seen.hold("ann");
        let stop = CancellationToken::new();
        stop.cancel();
        let before = now_ms();
        record(seen, store.clone(), stop).await;
        let recorded = store.unused_names(i64::MAX).unwrap()[0].last_seen_ms;
        assert!(recorded >= before, "{recorded}");
    }
}
