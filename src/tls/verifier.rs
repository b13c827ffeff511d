//! The client's certificate check: the system's roots first, then the pin.

use std::sync::{Arc, Mutex, OnceLock};

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use super::{fingerprint, provider};

/// What the certificate check concluded for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The certificate validates against the system's roots.
    Trusted,
    /// The certificate matches the pinned fingerprint.
    Matched,
    /// No pin existed; this fingerprint was accepted and should be pinned.
    New(String),
    /// The certificate differs from the pinned one; the connection was refused.
    Mismatch { pinned: String, found: String },
}

/// Reads what the verifier decided once the handshake is over.
#[derive(Debug, Default)]
pub struct PinCheck {
    outcome: Mutex<Option<PinOutcome>>,
}

impl PinCheck {
    pub fn outcome(&self) -> Option<PinOutcome> {
        self.outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, outcome: PinOutcome) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }
}

#[derive(Debug)]
struct PinningVerifier {
    pinned: Option<String>,
    roots: Option<Arc<WebPkiServerVerifier>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    check: Arc<PinCheck>,
}

/// A client TLS config for one server, given the fingerprint pinned for
/// it (if any). The returned [`PinCheck`] tells how the check went.
pub fn client_config(pinned: Option<String>) -> (Arc<rustls::ClientConfig>, Arc<PinCheck>) {
    let check = Arc::new(PinCheck::default());
    let provider = provider();
    let verifier = PinningVerifier {
        pinned,
        roots: system_roots(),
        algorithms: provider.signature_verification_algorithms,
        check: check.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    (Arc::new(config), check)
}

/// A verifier against the system's trust store, loaded once per process.
fn system_roots() -> Option<Arc<WebPkiServerVerifier>> {
    static ROOTS: OnceLock<Option<Arc<WebPkiServerVerifier>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return None;
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider())
                .build()
                .ok()
        })
        .clone()
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots
            && roots
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .is_ok()
        {
            self.check.record(PinOutcome::Trusted);
            return Ok(ServerCertVerified::assertion());
        }
        let found = fingerprint(end_entity);
        match &self.pinned {
            Some(pinned) if *pinned == found => self.check.record(PinOutcome::Matched),
            Some(pinned) => {
                self.check.record(PinOutcome::Mismatch {
                    pinned: pinned.clone(),
                    found,
                });
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
            None => self.check.record(PinOutcome::New(found)),
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
