//! The one way this crate takes a `std` mutex.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, also when a panic poisoned it: no code here panics while
/// holding a lock, and if it ever did, what the lock guards is still valid
/// (the server's state is a cache of the store, and a SQLite transaction
/// rolls back when dropped), so the program keeps serving.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
