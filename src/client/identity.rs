//! The client's identity: a random secret that proves "this is the same
//! person" to a server, so nobody else can use a name once it is taken.

use std::{fs, io, path::Path};

/// 32 random bytes. The server keeps only a hash of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    secret: [u8; 32],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(..)")
    }
}

impl Identity {
    /// The file name inside the client's data directory.
    pub const FILE_NAME: &'static str = "identity.key";

    pub fn generate() -> Self {
        let mut secret = [0; 32];
        getrandom::fill(&mut secret).expect("the operating system's random source is available");
        Self { secret }
    }

    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// Reads the identity from `path`, creating it (readable by the owner
    /// only) on first use.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        match fs::read(path) {
            Ok(bytes) => {
                let secret = bytes.as_slice().try_into().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} is not an identity file (expected 32 bytes)",
                            path.display()
                        ),
                    )
                })?;
                Ok(Self { secret })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let identity = Self::generate();
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                crate::private_file::create(path, &identity.secret)?;
                Ok(identity)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_created_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(Identity::FILE_NAME);
        let first = Identity::load_or_create(&path).unwrap();
        assert_eq!(Identity::load_or_create(&path).unwrap(), first);
        assert_ne!(Identity::generate(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn refuses_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Identity::FILE_NAME);
        fs::write(&path, b"short").unwrap();
        assert_eq!(
            Identity::load_or_create(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
