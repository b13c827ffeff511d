//! Transport security: TLS with rustls (the `ring` provider only), a
//! self-signed server certificate made on first start (kept in the data
//! directory, or in a cluster's database so every node serves the same
//! one), and certificate pinning on the client, like SSH's `known_hosts`.
//!
//! A server certificate that validates against the system's roots (an
//! operator's real certificate) is trusted as usual. Any other certificate
//! is pinned by its SHA-256 fingerprint the first time a client sees it,
//! and a later change is refused with a clear warning.

mod pins;
mod verifier;

pub use pins::KnownServers;

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};

pub use verifier::{PinCheck, PinOutcome, client_config};

/// Anything a connection can run over: a TCP stream, or TLS on top of one.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{origin} holds no {what} in PEM form")]
    Pem { origin: String, what: &'static str },
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("give both a TLS certificate and its key, or neither")]
    HalfPair,
    #[error("the certificate and key do not work together: {0}")]
    Config(#[from] rustls::Error),
}

/// The server's certificate chain and key, ready to serve.
pub struct ServerIdentity {
    pub config: Arc<rustls::ServerConfig>,
    /// The fingerprint of the leaf certificate, for people to compare.
    pub fingerprint: String,
    /// Where the certificate came from: a path, or the database.
    pub origin: String,
    /// True when this start created the certificate.
    pub created: bool,
}

/// The certificate and key file names inside the server's data directory.
pub const CERT_FILE: &str = "server-cert.pem";
pub const KEY_FILE: &str = "server-key.pem";

/// The crypto provider everywhere: `ring`, so no second C crypto library is
/// built and no process-wide default provider is needed.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate (chain) and its private key, in PEM form.
pub struct PemPair {
    pub cert: String,
    pub key: String,
}

/// Loads the operator's certificate and key if given, otherwise the
/// self-signed pair in `data_dir`, creating it on first use.
pub fn server_identity(
    data_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<ServerIdentity, TlsError> {
    let (cert_path, key_path, created) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.to_owned(), key.to_owned(), false),
        (Some(_), None) | (None, Some(_)) => return Err(TlsError::HalfPair),
        (None, None) => {
            let (cert, key) = (data_dir.join(CERT_FILE), data_dir.join(KEY_FILE));
            let created = !cert.exists() && !key.exists();
            if created {
                write_pair(&self_signed()?, &cert, &key)?;
            }
            (cert, key, created)
        }
    };
    let read = |path: &Path| {
        fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_origin = cert_path.display().to_string();
    let chain = chain(&read(&cert_path)?, &cert_origin)?;
    load(
        chain,
        &cert_origin,
        (&read(&key_path)?, &key_path.display().to_string()),
        created,
    )
}

/// The identity of a pair kept elsewhere than in files (a cluster's
/// database, named by `origin`); `created` when this start made it.
pub fn identity_from_pem(
    pair: &PemPair,
    origin: &str,
    created: bool,
) -> Result<ServerIdentity, TlsError> {
    let chain = chain(pair.cert.as_bytes(), origin)?;
    load(chain, origin, (pair.key.as_bytes(), origin), created)
}

/// A new self-signed certificate for `localhost` and `pyconchat`.
pub fn self_signed() -> Result<PemPair, TlsError> {
    let names = vec!["localhost".to_owned(), "pyconchat".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names)?;
    Ok(PemPair {
        cert: certified.cert.pem(),
        key: certified.signing_key.serialize_pem(),
    })
}

/// The certificates of a PEM chain (at least one), from `origin`.
fn chain(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let no_cert = || TlsError::Pem {
        origin: origin.to_owned(),
        what: "certificate",
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|_| no_cert())?;
    if chain.is_empty() {
        return Err(no_cert());
    }
    Ok(chain)
}

/// A server configuration from a chain and a PEM key, each with where it
/// came from for error messages.
fn load(
    chain: Vec<CertificateDer<'static>>,
    cert_origin: &str,
    (key, key_origin): (&[u8], &str),
    created: bool,
) -> Result<ServerIdentity, TlsError> {
    let fingerprint = fingerprint(&chain[0]);
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::Pem {
        origin: key_origin.to_owned(),
        what: "private key",
    })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(ServerIdentity {
        config: Arc::new(config),
        fingerprint,
        origin: cert_origin.to_owned(),
        created,
    })
}

fn write_pair(pair: &PemPair, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { path, source }
    };
    if let Some(dir) = key_path.parent() {
        fs::create_dir_all(dir).map_err(write_error(dir))?;
    }
    crate::private_file::create(key_path, pair.key.as_bytes()).map_err(write_error(key_path))?;
    fs::write(cert_path, &pair.cert).map_err(write_error(cert_path))?;
    Ok(())
}

/// `SHA256:` and the certificate's SHA-256 digest as colon-separated hex,
/// the form `openssl x509 -noout -fingerprint -sha256` prints.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = server_identity(dir.path(), None, None).unwrap();
        assert!(first.created);
        assert!(first.fingerprint.starts_with("SHA256:") && first.fingerprint.len() == 7 + 95);
        let again = server_identity(dir.path(), None, None).unwrap();
        assert!(!again.created);
        assert_eq!(again.fingerprint, first.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let err = server_identity(dir.path(), Some(&cert), None)
            .err()
            .unwrap();
        assert!(matches!(err, TlsError::HalfPair), "{err}");
    }

    #[test]
    fn a_missing_or_bad_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        fs::write(&cert, "not pem").unwrap();
        let err = server_identity(dir.path(), Some(&cert), Some(&dir.path().join("k.pem")));
        let message = err.err().unwrap().to_string();
        assert!(message.contains("c.pem"), "{message}");
    }
}
