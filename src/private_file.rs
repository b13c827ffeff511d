//! Files only their owner may read: the client's identity key, the
//! server's TLS key.

use std::{fs, io, path::Path};

/// Creates `path` with owner-only permissions (0600 on Unix) and writes
/// `bytes` durably. Fails if the file already exists, so a secret is never
/// silently replaced.
pub(crate) fn create(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
