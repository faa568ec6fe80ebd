//! A node's TLS identity: a self-signed X.509 certificate whose key is the
//! node's Ed25519 key, and the way back from a certificate to a [`NodeId`].
//!
//! No certificate authority is involved: a certificate is trusted because
//! its key *is* an admitted node id (see [`crate::Admission`]), and the TLS
//! handshake signature proves the peer holds that key. Names, dates and
//! the self-signature are not consulted.

use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::NodeId;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): a
/// SEQUENCE of the id-Ed25519 algorithm and a 32-byte BIT STRING.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The PKCS#8 v2 (RFC 5958 OneAsymmetricKey) prefix before an Ed25519 seed.
const PKCS8_SEED_PREFIX: [u8; 16] = [
    0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The server name every node presents and dials: identity comes from the
/// pinned key, never from a name.
pub const SERVER_NAME: &str = "chrysalis.node";

/// Why a node's certificate could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// rcgen refused the key or the certificate parameters.
    #[error("could not build the node certificate: {0}")]
    Certificate(#[from] rcgen::Error),
}

/// A node's certificate and its private key in the form rustls takes.
pub(crate) struct TlsIdentity {
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// The node's key as PKCS#8 v2 DER, built in memory from the seed (never
/// written anywhere; the buffer is wiped when dropped).
fn pkcs8(key: &SigningKey) -> Zeroizing<Vec<u8>> {
    let seed = key.to_seed();
    let public = key.verifying_key().to_bytes();
    let mut der = Zeroizing::new(Vec::with_capacity(85));
    der.extend_from_slice(&PKCS8_SEED_PREFIX);
    der.extend_from_slice(&seed[..]);
    // publicKey [1]: a BIT STRING of 33 bytes, no unused bits.
    der.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
    der.extend_from_slice(&public);
    debug_assert_eq!(der.len(), 85);
    der
}

/// Builds the node's self-signed certificate over its Ed25519 key.
pub(crate) fn tls_identity(key: &SigningKey) -> Result<TlsIdentity, IdentityError> {
    let der = pkcs8(key);
    let pkcs8 = PrivatePkcs8KeyDer::from(der.as_slice());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, key.verifying_key().to_string());
    let cert = params.self_signed(&key_pair)?;
    // rustls keeps its own copy of the key for the endpoint's lifetime.
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec()));
    Ok(TlsIdentity {
        cert: cert.der().clone(),
        key,
    })
}

/// Why a certificate does not name a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertKeyError {
    /// The bytes are not an X.509 certificate.
    #[error("not a parseable X.509 certificate")]
    NotACertificate,
    /// The certificate's key is not Ed25519.
    #[error("the certificate's key is not Ed25519")]
    NotEd25519,
}

/// The node id a certificate's Ed25519 key names.
pub fn node_id_from_cert(cert: &CertificateDer<'_>) -> Result<NodeId, CertKeyError> {
    let parsed =
        webpki::EndEntityCert::try_from(cert).map_err(|_| CertKeyError::NotACertificate)?;
    let spki = parsed.subject_public_key_info();
    let key = spki
        .strip_prefix(&ED25519_SPKI_PREFIX[..])
        .ok_or(CertKeyError::NotEd25519)?;
    let key: [u8; 32] = key.try_into().map_err(|_| CertKeyError::NotEd25519)?;
    Ok(NodeId::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_the_node() {
        let key = SigningKey::from_seed(&[7; 32]);
        let identity = tls_identity(&key).unwrap();
        let id = node_id_from_cert(&identity.cert).unwrap();
        assert_eq!(id, NodeId::new(key.verifying_key().to_bytes()));
    }

    #[test]
    fn pkcs8_carries_seed_and_public_key() {
        let key = SigningKey::from_seed(&[3; 32]);
        let der = pkcs8(&key);
        assert_eq!(&der[16..48], &[3; 32]);
        assert_eq!(&der[53..], &key.verifying_key().to_bytes());
    }

    #[test]
    fn garbage_and_foreign_keys_are_refused() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert_eq!(
            node_id_from_cert(&garbage),
            Err(CertKeyError::NotACertificate)
        );
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&p256)
            .unwrap();
        assert_eq!(node_id_from_cert(cert.der()), Err(CertKeyError::NotEd25519));
    }
}
