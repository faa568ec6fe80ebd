//! X.509 certificate chain validation, on `rustls-webpki` (ring backend).
//!
//! A [`ChainVerifier`] holds a set of trust anchors (root certificates) and
//! checks that a leaf certificate, helped by the intermediates a peer sent,
//! chains to one of them at a given time, for a given purpose, and (for
//! servers) for a given DNS host name.
//!
//! The time is an argument, never read from a clock: this module is layer L0,
//! and tests can check expiry deterministically. Revocation (CRLs, OCSP) is
//! out of scope here; Chrysalis nodes pin peers to their node keys on top of
//! chain validation (see `chrysalis-net`).

use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use std::time::Duration;
use webpki::{EndEntityCert, KeyUsage};

/// Why a certificate chain, a trust anchor or a host name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Bytes that should be a DER certificate are not one.
    #[error("malformed {what}: not a valid DER X.509 certificate")]
    BadEncoding {
        /// Which input was malformed ("leaf certificate", "trust anchor", …).
        what: &'static str,
    },
    /// The verifier was built with no trust anchors, so nothing can chain.
    #[error("no trust anchors were given")]
    NoTrustAnchors,
    /// The host name is not a syntactically valid DNS name.
    #[error("invalid DNS host name")]
    InvalidHostName,
    /// A certificate in the chain had expired at the given time.
    #[error("certificate expired at unix time {not_after_unix_s}s (checked at {now_unix_s}s)")]
    Expired {
        /// The certificate's `notAfter`, in seconds since the Unix epoch.
        not_after_unix_s: u64,
        /// The time the chain was checked at.
        now_unix_s: u64,
    },
    /// A certificate in the chain was not yet valid at the given time.
    #[error(
        "certificate not valid before unix time {not_before_unix_s}s (checked at {now_unix_s}s)"
    )]
    NotYetValid {
        /// The certificate's `notBefore`, in seconds since the Unix epoch.
        not_before_unix_s: u64,
        /// The time the chain was checked at.
        now_unix_s: u64,
    },
    /// No path from the leaf to any trust anchor could be built.
    #[error("certificate chain does not lead to a trusted root (unknown issuer)")]
    UnknownIssuer,
    /// The leaf is valid but not for the requested host name.
    #[error("certificate is not valid for the requested host name")]
    NameMismatch,
    /// A signature in the chain does not verify.
    #[error("a certificate signature in the chain does not verify")]
    BadSignature,
    /// A signature uses an algorithm this verifier does not accept.
    #[error("a certificate uses an unsupported signature algorithm")]
    UnsupportedSignatureAlgorithm,
    /// The leaf's extended key usage does not allow the requested purpose.
    #[error("certificate is not allowed for this purpose (extended key usage)")]
    WrongPurpose,
    /// A CA certificate was presented as the leaf, or a leaf used as a CA.
    #[error("certificate used in the wrong role (CA as leaf or leaf as CA)")]
    WrongRole,
    /// Any other refusal by the path validator.
    #[error("certificate chain refused: {0}")]
    Rejected(webpki::Error),
}

impl TlsError {
    fn from_webpki(err: webpki::Error, now_unix_s: u64) -> Self {
        use webpki::Error as E;
        match err {
            E::BadDer | E::BadDerTime | E::TrailingData(_) => Self::BadEncoding {
                what: "certificate in the chain",
            },
            E::CertExpired { not_after, .. } => Self::Expired {
                not_after_unix_s: not_after.as_secs(),
                now_unix_s,
            },
            E::CertNotValidYet { not_before, .. } => Self::NotYetValid {
                not_before_unix_s: not_before.as_secs(),
                now_unix_s,
            },
            E::UnknownIssuer => Self::UnknownIssuer,
            E::CertNotValidForName(_) => Self::NameMismatch,
            E::InvalidSignatureForPublicKey => Self::BadSignature,
            E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | E::SignatureAlgorithmMismatch => Self::UnsupportedSignatureAlgorithm,
            E::RequiredEkuNotFoundContext(_) => Self::WrongPurpose,
            E::CaUsedAsEndEntity | E::EndEntityUsedAsCa => Self::WrongRole,
            other => Self::Rejected(other),
        }
    }
}

/// What the leaf certificate is being accepted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A TLS server (the `serverAuth` extended key usage, when the leaf lists any).
    ServerAuth,
    /// A TLS client (the `clientAuth` extended key usage, when the leaf lists any).
    ClientAuth,
}

impl Purpose {
    fn key_usage(self) -> KeyUsage {
        match self {
            Self::ServerAuth => KeyUsage::server_auth(),
            Self::ClientAuth => KeyUsage::client_auth(),
        }
    }
}

/// Validates certificate chains against a fixed set of trust anchors.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    anchors: Vec<TrustAnchor<'static>>,
}

impl ChainVerifier {
    /// A verifier trusting the given DER root certificates.
    ///
    /// Refuses malformed certificates and an empty list (which would refuse
    /// every chain, almost certainly a configuration mistake).
    pub fn new<C: AsRef<[u8]>>(trust_anchor_ders: &[C]) -> Result<Self, TlsError> {
        if trust_anchor_ders.is_empty() {
            return Err(TlsError::NoTrustAnchors);
        }
        let anchors = trust_anchor_ders
            .iter()
            .map(|der| {
                let der = CertificateDer::from(der.as_ref());
                webpki::anchor_from_trusted_cert(&der)
                    .map(|anchor| anchor.to_owned())
                    .map_err(|_| TlsError::BadEncoding {
                        what: "trust anchor",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { anchors })
    }

    /// How many trust anchors this verifier holds.
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// Checks that `leaf_der`, with the peer's `intermediate_ders`, chains to
    /// a trust anchor at `now_unix_s` and is valid for TLS server `host`.
    pub fn verify_server<C: AsRef<[u8]>>(
        &self,
        leaf_der: &[u8],
        intermediate_ders: &[C],
        host: &str,
        now_unix_s: u64,
    ) -> Result<(), TlsError> {
        let name = ServerName::try_from(host).map_err(|_| TlsError::InvalidHostName)?;
        if !matches!(name, ServerName::DnsName(_)) {
            return Err(TlsError::InvalidHostName);
        }
        let leaf = CertificateDer::from(leaf_der);
        let cert = parse_leaf(&leaf)?;
        self.verify_path(&cert, intermediate_ders, Purpose::ServerAuth, now_unix_s)?;
        cert.verify_is_valid_for_subject_name(&name)
            .map_err(|err| TlsError::from_webpki(err, now_unix_s))
    }

    /// Checks that `leaf_der`, with `intermediate_ders`, chains to a trust
    /// anchor at `now_unix_s` and may authenticate a TLS client. No name is
    /// checked: client identity is the caller's business (e.g. a pinned key).
    pub fn verify_client<C: AsRef<[u8]>>(
        &self,
        leaf_der: &[u8],
        intermediate_ders: &[C],
        now_unix_s: u64,
    ) -> Result<(), TlsError> {
        let leaf = CertificateDer::from(leaf_der);
        let cert = parse_leaf(&leaf)?;
        self.verify_path(&cert, intermediate_ders, Purpose::ClientAuth, now_unix_s)
    }

    fn verify_path<C: AsRef<[u8]>>(
        &self,
        cert: &EndEntityCert<'_>,
        intermediate_ders: &[C],
        purpose: Purpose,
        now_unix_s: u64,
    ) -> Result<(), TlsError> {
        let intermediates: Vec<CertificateDer<'_>> = intermediate_ders
            .iter()
            .map(|der| CertificateDer::from(der.as_ref()))
            .collect();
        let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix_s));
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.anchors,
            &intermediates,
            now,
            purpose.key_usage(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|err| TlsError::from_webpki(err, now_unix_s))
    }
}

fn parse_leaf<'a>(leaf: &'a CertificateDer<'a>) -> Result<EndEntityCert<'a>, TlsError> {
    EndEntityCert::try_from(leaf).map_err(|_| TlsError::BadEncoding {
        what: "leaf certificate",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose, date_time_ymd,
    };

    /// 2025-06-01T00:00:00Z, inside every default validity window below.
    const NOW_UNIX_S: u64 = 1_748_736_000;

    struct Issued {
        cert: Certificate,
        key: KeyPair,
    }

    fn ca_params(common_name: &str) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(2030, 1, 1);
        params
    }

    fn root(common_name: &str) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = ca_params(common_name).self_signed(&key).unwrap();
        Issued { cert, key }
    }

    fn intermediate(issuer: &Issued) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = ca_params("Chrysalis Test Intermediate")
            .signed_by(&key, &issuer.cert, &issuer.key)
            .unwrap();
        Issued { cert, key }
    }

    fn leaf_with(issuer: &Issued, host: &str, edit: impl FnOnce(&mut CertificateParams)) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![host.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, host);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(2026, 1, 1);
        edit(&mut params);
        let cert = params.signed_by(&key, &issuer.cert, &issuer.key).unwrap();
        Issued { cert, key }
    }

    struct Pki {
        inter: Issued,
        leaf: Issued,
        verifier: ChainVerifier,
    }

    fn pki() -> Pki {
        let root = root("Chrysalis Test Root");
        let inter = intermediate(&root);
        let leaf = leaf_with(&inter, "node1.chrysalis.test", |_| {});
        let verifier = ChainVerifier::new(&[root.cert.der()]).unwrap();
        Pki {
            inter,
            leaf,
            verifier,
        }
    }

    #[test]
    fn a_good_chain_passes() {
        let p = pki();
        assert_eq!(p.verifier.anchor_count(), 1);
        let chain = [p.inter.cert.der()];
        let host = "node1.chrysalis.test";
        assert_eq!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &chain, host, NOW_UNIX_S),
            Ok(())
        );
        // Without the intermediate there is no path to the root.
        assert_eq!(
            p.verifier
                .verify_server::<&[u8]>(p.leaf.cert.der(), &[], host, NOW_UNIX_S),
            Err(TlsError::UnknownIssuer)
        );
    }

    #[test]
    fn wrong_host_is_refused() {
        let p = pki();
        let chain = [p.inter.cert.der()];
        assert_eq!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &chain, "evil.example", NOW_UNIX_S),
            Err(TlsError::NameMismatch)
        );
        assert_eq!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &chain, "not a host!", NOW_UNIX_S),
            Err(TlsError::InvalidHostName)
        );
        assert_eq!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &chain, "10.0.0.1", NOW_UNIX_S),
            Err(TlsError::InvalidHostName)
        );
    }

    #[test]
    fn expiry_and_not_yet_valid_follow_the_given_time() {
        let p = pki();
        let chain = [p.inter.cert.der()];
        let host = "node1.chrysalis.test";
        let after_expiry_unix_s = 1_800_000_000; // 2027-01-15
        assert!(matches!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &chain, host, after_expiry_unix_s),
            Err(TlsError::Expired { now_unix_s, .. }) if now_unix_s == after_expiry_unix_s
        ));
        let before_issue_unix_s = 1_700_000_000; // 2023-11-14
        assert!(matches!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &chain, host, before_issue_unix_s),
            Err(TlsError::NotYetValid { .. })
        ));
        // An already-expired leaf, checked at NOW.
        let old = leaf_with(&p.inter, host, |params| {
            params.not_before = date_time_ymd(2024, 1, 1);
            params.not_after = date_time_ymd(2024, 6, 1);
        });
        assert!(matches!(
            p.verifier
                .verify_server(old.cert.der(), &chain, host, NOW_UNIX_S),
            Err(TlsError::Expired { .. })
        ));
    }

    #[test]
    fn unknown_ca_is_refused() {
        let p = pki();
        let stranger = root("Someone Else's Root");
        let stranger_inter = intermediate(&stranger);
        let leaf = leaf_with(&stranger_inter, "node1.chrysalis.test", |_| {});
        let chain = [stranger_inter.cert.der()];
        assert_eq!(
            p.verifier
                .verify_server(leaf.cert.der(), &chain, "node1.chrysalis.test", NOW_UNIX_S),
            Err(TlsError::UnknownIssuer)
        );
        // A self-signed leaf is no better.
        let own = root("node1.chrysalis.test");
        assert!(
            p.verifier
                .verify_server::<&[u8]>(own.cert.der(), &[], "node1.chrysalis.test", NOW_UNIX_S)
                .is_err()
        );
    }

    #[test]
    fn garbage_bytes_are_refused() {
        let p = pki();
        let garbage = [0x30u8, 0x82, 0xff, 0xff, 1, 2, 3];
        assert_eq!(
            p.verifier
                .verify_server::<&[u8]>(&garbage, &[], "node1.chrysalis.test", NOW_UNIX_S),
            Err(TlsError::BadEncoding {
                what: "leaf certificate"
            })
        );
        assert_eq!(
            p.verifier.verify_client::<&[u8]>(&[], &[], NOW_UNIX_S),
            Err(TlsError::BadEncoding {
                what: "leaf certificate"
            })
        );
        assert_eq!(
            ChainVerifier::new(&[&garbage[..]]).map(|v| v.anchor_count()),
            Err(TlsError::BadEncoding {
                what: "trust anchor"
            })
        );
        assert_eq!(
            ChainVerifier::new::<&[u8]>(&[]).map(|v| v.anchor_count()),
            Err(TlsError::NoTrustAnchors)
        );
        // Garbage in the intermediates cannot build a path.
        let junk: [&[u8]; 1] = [&garbage];
        assert!(
            p.verifier
                .verify_server(p.leaf.cert.der(), &junk, "node1.chrysalis.test", NOW_UNIX_S)
                .is_err()
        );
    }

    #[test]
    fn a_tampered_leaf_is_refused() {
        let p = pki();
        let mut der = p.leaf.cert.der().to_vec();
        // The last byte is the end of the issuer's ECDSA signature.
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let chain = [p.inter.cert.der()];
        let result = p
            .verifier
            .verify_server(&der, &chain, "node1.chrysalis.test", NOW_UNIX_S);
        assert_eq!(result, Err(TlsError::BadSignature));
        // A changed subject (inside the signed part) is caught the same way.
        let name_at = der.windows(4).position(|w| w == b"node").unwrap();
        let mut der = p.leaf.cert.der().to_vec();
        der[name_at] = b'm';
        let result = p
            .verifier
            .verify_server(&der, &chain, "mode1.chrysalis.test", NOW_UNIX_S);
        assert_eq!(result, Err(TlsError::BadSignature));
    }

    #[test]
    fn purpose_and_role_are_enforced() {
        let p = pki();
        let chain = [p.inter.cert.der()];
        // A server-only leaf may not authenticate a client.
        assert!(matches!(
            p.verifier
                .verify_client(p.leaf.cert.der(), &chain, NOW_UNIX_S),
            Err(TlsError::WrongPurpose)
        ));
        let client = leaf_with(&p.inter, "agent-7", |params| {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        });
        assert_eq!(
            p.verifier
                .verify_client(client.cert.der(), &chain, NOW_UNIX_S),
            Ok(())
        );
        // The intermediate CA is not a leaf.
        let root_chain: [&[u8]; 0] = [];
        let result = p
            .verifier
            .verify_client(p.inter.cert.der(), &root_chain, NOW_UNIX_S);
        assert_eq!(result, Err(TlsError::WrongRole));
    }
}
