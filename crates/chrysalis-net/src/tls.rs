//! Mutual TLS 1.3 pinned to node keys: the two rustls verifiers and the
//! quinn configs built around them.
//!
//! Both verifiers do the same four things: require an Ed25519 key in the
//! peer's certificate, check the handshake signature with it (rustls'
//! `verify_tls13_signature` and the ring provider), derive the peer's
//! [`NodeId`] from that key, and refuse the peer unless the [`Admission`]
//! policy admits it. The client verifier also refuses any key but the one
//! it was told to expect, so a server at a known address that presents
//! another key (an impersonator) is refused. CA chains, names and
//! validity dates play no part.

use crate::admission::Admission;
use crate::identity::{TlsIdentity, node_id_from_cert};
use crate::metrics::{Counters, bump};
use chrysalis_types::NodeId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error as TlsError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// The ALPN protocol every connection negotiates.
pub const ALPN: &[u8] = b"chrysalis/1";

/// Why the TLS or QUIC configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] TlsError),
    /// quinn refused the rustls configuration for QUIC.
    #[error("QUIC TLS configuration: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The checks both sides make of a peer's certificate and signatures.
#[derive(Debug)]
struct PeerCheck {
    admission: Admission,
    algorithms: WebPkiSupportedAlgorithms,
    counters: Arc<Counters>,
}

impl PeerCheck {
    /// The peer's node id, if its certificate holds an Ed25519 key, it is
    /// the `expected` one (when pinned), and admission admits it.
    fn admit(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        expected: Option<NodeId>,
    ) -> Result<NodeId, TlsError> {
        let refused = |why: &str, error: CertificateError| {
            bump(&self.counters.handshakes_refused);
            tracing::warn!(why, "refused a TLS peer");
            Err(TlsError::InvalidCertificate(error))
        };
        if !intermediates.is_empty() {
            return refused(
                "certificate chain instead of one self-signed certificate",
                CertificateError::BadEncoding,
            );
        }
        let node = match node_id_from_cert(end_entity) {
            Ok(node) => node,
            Err(e) => return refused(&e.to_string(), CertificateError::BadEncoding),
        };
        if let Some(expected) = expected.filter(|e| *e != node) {
            tracing::warn!(%node, %expected, "peer presented another node's key");
            return refused(
                "not the pinned node",
                CertificateError::ApplicationVerificationFailure,
            );
        }
        if !self.admission.is_admitted(&node) {
            tracing::warn!(%node, "peer is not admitted");
            return refused(
                "not admitted",
                CertificateError::ApplicationVerificationFailure,
            );
        }
        Ok(node)
    }

    fn verify_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        if dss.scheme != SignatureScheme::ED25519 {
            bump(&self.counters.handshakes_refused);
            return Err(TlsError::PeerIncompatible(
                rustls::PeerIncompatible::NoSignatureSchemesInCommon,
            ));
        }
        verify_tls13_signature(message, cert, dss, &self.algorithms).inspect_err(|error| {
            bump(&self.counters.handshakes_refused);
            tracing::warn!(%error, "refused a TLS peer's handshake signature");
        })
    }
}

/// Verifies the server's certificate on dials.
#[derive(Debug)]
struct PinnedServerVerifier {
    check: PeerCheck,
    expected: Option<NodeId>,
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.check.admit(end_entity, intermediates, self.expected)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        // TLS 1.2 is never negotiated: the configs allow 1.3 only.
        Err(TlsError::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.check.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Verifies client certificates on accepted connections (mandatory).
#[derive(Debug)]
struct AdmittingClientVerifier {
    check: PeerCheck,
}

impl ClientCertVerifier for AdmittingClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        self.check.admit(end_entity, intermediates, None)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        Err(TlsError::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.check.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Builds the TLS configs for one endpoint: its identity, its admission
/// policy and the counters refusals are recorded in.
#[derive(Debug)]
pub(crate) struct TlsConfigs {
    identity: TlsIdentity,
    admission: Admission,
    counters: Arc<Counters>,
}

impl TlsConfigs {
    pub(crate) fn new(
        identity: TlsIdentity,
        admission: Admission,
        counters: Arc<Counters>,
    ) -> Self {
        TlsConfigs {
            identity,
            admission,
            counters,
        }
    }

    fn check(&self) -> PeerCheck {
        PeerCheck {
            admission: self.admission.clone(),
            algorithms: provider().signature_verification_algorithms,
            counters: Arc::clone(&self.counters),
        }
    }

    /// The QUIC server side: client certificates required and checked.
    pub(crate) fn server(&self) -> Result<quinn::crypto::rustls::QuicServerConfig, TlsConfigError> {
        let verifier = AdmittingClientVerifier {
            check: self.check(),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(
                vec![self.identity.cert.clone()],
                self.identity.key.clone_key(),
            )?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(quinn::crypto::rustls::QuicServerConfig::try_from(config)?)
    }

    /// The QUIC client side for one dial, pinned to `expected` when given.
    pub(crate) fn client(
        &self,
        expected: Option<NodeId>,
    ) -> Result<quinn::crypto::rustls::QuicClientConfig, TlsConfigError> {
        let verifier = PinnedServerVerifier {
            check: self.check(),
            expected,
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(
                vec![self.identity.cert.clone()],
                self.identity.key.clone_key(),
            )?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(quinn::crypto::rustls::QuicClientConfig::try_from(config)?)
    }
}

/// A quinn client config presenting `key`'s certificate and accepting only
/// a server that `admission` admits (and that is `expected`, when given):
/// for tools and tests that speak to a node without an
/// [`Endpoint`](crate::Endpoint). Dial with server name `chrysalis.node`.
pub fn client_config(
    key: &chrysalis_crypto::ed25519::SigningKey,
    admission: Admission,
    expected: Option<NodeId>,
) -> Result<quinn::ClientConfig, crate::NetError> {
    let identity = crate::identity::tls_identity(key)?;
    let configs = TlsConfigs::new(identity, admission, Arc::new(Counters::default()));
    Ok(quinn::ClientConfig::new(Arc::new(
        configs.client(expected)?,
    )))
}

/// A quinn server config presenting `key`'s certificate and requiring
/// client certificates that `admission` admits: the server half of
/// [`client_config`], for tools and benchmarks that run raw quinn.
pub fn server_config(
    key: &chrysalis_crypto::ed25519::SigningKey,
    admission: Admission,
) -> Result<quinn::ServerConfig, crate::NetError> {
    let identity = crate::identity::tls_identity(key)?;
    let configs = TlsConfigs::new(identity, admission, Arc::new(Counters::default()));
    Ok(quinn::ServerConfig::with_crypto(Arc::new(
        configs.server()?,
    )))
}
