//! Capabilities as biscuit tokens: Ed25519-signed, Datalog-checked, and
//! attenuable offline.
//!
//! A [`Covenant`] is a bearer capability. Its authority block, signed by the
//! issuer's root key, lists [`Grant`]s (`right(action, resource_prefix)`).
//! Anyone holding it may append an [`Attenuation`] block that narrows it
//! (fewer actions, a narrower resource prefix, a bound holder, an expiry, a
//! per-call cost cap) and hand the result to a sub-agent; biscuit's signature
//! chain makes it impossible to remove or widen an earlier block.
//!
//! Every block this module writes also carries its own structured
//! description (`chrysalis_block(hex:…)`). When a token is loaded, each
//! block's printed Datalog is compared with the Datalog rendered from that
//! description; if every block matches exactly, the covenant is *compiled*
//! and checks run natively in well under a microsecond, with the same
//! decision the biscuit authorizer would reach (a property test holds the two
//! paths equal). Any other token still works, through the biscuit
//! authorizer; such a covenant remembers its recent decisions (see
//! `decision_cache`), so a repeated request skips the authorizer.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

use biscuit_auth::builder::{BlockBuilder, Policy, Term};
use biscuit_auth::{
    Algorithm, AuthorizerLimits, Biscuit, KeyPair, PrivateKey, PublicKey, datalog::SymbolTable,
};
use chrysalis_crypto::ed25519::{SigningKey, VerifyingKey};
use chrysalis_types::{AgentId, Decode, Encode, impl_codec};
use rand_core::{CryptoRng, RngCore};

use crate::decision_cache::DecisionCache;

/// A right granted by the authority block: `action` on every resource whose
/// name starts with `resource_prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    /// The action, for example `"tool.call"`.
    pub action: String,
    /// The resource prefix; `""` means every resource.
    pub resource_prefix: String,
}

impl_codec!(Grant {
    action,
    resource_prefix
});

/// A narrowing appended by a holder. Every present restriction must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attenuation {
    /// Only these actions remain allowed.
    pub actions: Option<BTreeSet<String>>,
    /// Only resources under this prefix remain allowed.
    pub resource_prefix: Option<String>,
    /// Only this agent may present the covenant.
    pub holder: Option<AgentId>,
    /// Refused after this instant (seconds since the Unix epoch, inclusive).
    pub not_after_s: Option<u64>,
    /// Refused when a single request's cost exceeds this.
    pub max_cost: Option<u64>,
}

impl_codec!(Attenuation {
    actions,
    resource_prefix,
    holder,
    not_after_s,
    max_cost
});

/// One action an agent asks to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The agent presenting the covenant.
    pub principal: AgentId,
    /// The action.
    pub action: &'a str,
    /// The resource acted on.
    pub resource: &'a str,
    /// The cost the action will reserve (checked against `max_cost`).
    pub cost: u64,
}

/// Why a covenant could not be issued, loaded or attenuated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CapabilityError {
    /// The issuing key could not be used by biscuit.
    #[error("invalid key: {0}")]
    Key(#[source] biscuit_auth::error::Format),
    /// The token bytes are malformed, or a signature does not verify
    /// against the root key.
    #[error("invalid token: {0}")]
    Token(#[source] biscuit_auth::error::Token),
    /// A value does not fit the token's Datalog (a cost cap above `i64::MAX`
    /// or an expiry out of range).
    #[error("{what} out of range: {value}")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
}

/// Why a request was refused by the capability check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// No grant in the authority block covers the action and resource.
    #[error("no grant covers this action on this resource")]
    NoGrant,
    /// Attenuation block `block` does not allow the action.
    #[error("block {block}: action not allowed")]
    ActionNotAllowed {
        /// Index of the refusing block.
        block: usize,
    },
    /// Attenuation block `block` restricts resources to another prefix.
    #[error("block {block}: resource outside the allowed prefix")]
    ResourceOutsidePrefix {
        /// Index of the refusing block.
        block: usize,
    },
    /// Attenuation block `block` binds the covenant to another holder.
    #[error("block {block}: presented by the wrong holder")]
    WrongHolder {
        /// Index of the refusing block.
        block: usize,
    },
    /// Attenuation block `block` has expired.
    #[error("block {block}: expired at {not_after_s} s")]
    Expired {
        /// Index of the refusing block.
        block: usize,
        /// The block's expiry.
        not_after_s: u64,
    },
    /// The request's cost is above attenuation block `block`'s cap.
    #[error("block {block}: cost above the cap of {max_cost}")]
    CostAboveCap {
        /// Index of the refusing block.
        block: usize,
        /// The block's cap.
        max_cost: u64,
    },
    /// The request's cost cannot be expressed in Datalog (above `i64::MAX`).
    #[error("request cost out of range")]
    CostOutOfRange,
    /// The biscuit authorizer refused (a non-compiled covenant).
    #[error("authorizer refused: {failed_checks} failed checks, allow policy matched: {allowed}")]
    Refused {
        /// How many checks failed.
        failed_checks: usize,
        /// Whether the allow policy matched.
        allowed: bool,
    },
    /// The biscuit authorizer could not run (limits exceeded, bad token).
    #[error("authorizer error: {0}")]
    Authorizer(#[source] biscuit_auth::error::Token),
}

/// The structured description embedded in each block we write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockSpec {
    Authority(Vec<Grant>),
    Attenuation(Attenuation),
}

impl Encode for BlockSpec {
    fn encode(&self, w: &mut chrysalis_types::Writer) {
        match self {
            BlockSpec::Authority(grants) => {
                w.put_u8(0);
                w.put(grants);
            }
            BlockSpec::Attenuation(a) => {
                w.put_u8(1);
                w.put(a);
            }
        }
    }
}

impl Decode for BlockSpec {
    fn decode(r: &mut chrysalis_types::Reader<'_>) -> Result<Self, chrysalis_types::DecodeError> {
        match r.u8()? {
            0 => Ok(BlockSpec::Authority(r.get()?)),
            1 => Ok(BlockSpec::Attenuation(r.get()?)),
            tag => Err(r.invalid_tag("covenant block", tag)),
        }
    }
}

const SPEC_FACT: &str = "chrysalis_block";

/// The biscuit root key pair of an issuer, derived from its Ed25519 key.
pub struct Issuer {
    root: KeyPair,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer signing with `key`.
    pub fn new(key: &SigningKey) -> Result<Issuer, CapabilityError> {
        let private = PrivateKey::from_bytes(key.to_seed().as_ref(), Algorithm::Ed25519)
            .map_err(CapabilityError::Key)?;
        Ok(Issuer {
            root: KeyPair::from(&private),
        })
    }

    /// Issues a covenant granting `grants`. `rng` supplies the key of the
    /// next block in the signature chain.
    pub fn issue(
        &self,
        grants: &[Grant],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Covenant, CapabilityError> {
        let spec = BlockSpec::Authority(grants.to_vec());
        let mut builder = Biscuit::builder();
        builder = builder.merge(render(&spec)?);
        let token = builder
            .build_with_rng(&self.root, SymbolTable::new(), rng)
            .map_err(CapabilityError::Token)?;
        Ok(Covenant::from_verified(token))
    }
}

fn root_public_key(root: &VerifyingKey) -> Result<PublicKey, CapabilityError> {
    PublicKey::from_bytes(root.as_bytes(), Algorithm::Ed25519).map_err(CapabilityError::Key)
}

/// Renders a block description as the biscuit block we sign.
fn render(spec: &BlockSpec) -> Result<BlockBuilder, CapabilityError> {
    use biscuit_auth::builder::{fact, string};
    let tag = fact(SPEC_FACT, &[Term::Bytes(spec.encode_body())]);
    let mut block = BlockBuilder::new()
        .fact(tag)
        .map_err(CapabilityError::Token)?;
    let add_check = |block: BlockBuilder, code: &str, params: HashMap<String, Term>| {
        block
            .code_with_params(code, params, HashMap::new())
            .map_err(CapabilityError::Token)
    };
    match spec {
        BlockSpec::Authority(grants) => {
            for g in grants {
                let right = fact("right", &[string(&g.action), string(&g.resource_prefix)]);
                block = block.fact(right).map_err(CapabilityError::Token)?;
            }
        }
        BlockSpec::Attenuation(a) => {
            if let Some(actions) = &a.actions {
                for action in actions {
                    let allowed = fact("allowed_action", &[string(action)]);
                    block = block.fact(allowed).map_err(CapabilityError::Token)?;
                }
                let code = "check if operation($op), allowed_action($op)";
                block = add_check(block, code, HashMap::new())?;
            }
            if let Some(prefix) = &a.resource_prefix {
                let params = HashMap::from([("p".to_owned(), string(prefix))]);
                let code = "check if resource($r), $r.starts_with({p})";
                block = add_check(block, code, params)?;
            }
            if let Some(holder) = &a.holder {
                let params = HashMap::from([("h".to_owned(), string(&holder.to_string()))]);
                block = add_check(block, "check if principal({h})", params)?;
            }
            if let Some(not_after_s) = a.not_after_s {
                let params = HashMap::from([("t".to_owned(), Term::Date(not_after_s))]);
                block = add_check(block, "check if time($t), $t <= {t}", params)?;
            }
            if let Some(max_cost) = a.max_cost {
                let max = i64::try_from(max_cost).map_err(|_| CapabilityError::OutOfRange {
                    what: "max_cost",
                    value: max_cost,
                })?;
                let params = HashMap::from([("c".to_owned(), Term::Integer(max))]);
                block = add_check(block, "check if cost($c), $c <= {c}", params)?;
            }
        }
    }
    Ok(block)
}

/// A verified capability token, compiled for native checks when every block
/// is in this module's vocabulary.
#[derive(Debug, Clone)]
pub struct Covenant {
    token: Biscuit,
    token_id: Vec<u8>,
    compiled: Option<Compiled>,
    /// Recent authorizer decisions, used only when not compiled.
    decisions: DecisionCache,
}

/// The native form of a covenant whose blocks all match their descriptions.
#[derive(Debug, Clone)]
struct Compiled {
    grants: Vec<Grant>,
    attenuations: Vec<Attenuation>,
}

impl Covenant {
    /// Loads a serialized covenant, verifying every block's signature
    /// against the issuer's root key.
    pub fn from_bytes(bytes: &[u8], root: &VerifyingKey) -> Result<Covenant, CapabilityError> {
        let token = Biscuit::from(bytes, root_public_key(root)?).map_err(CapabilityError::Token)?;
        Ok(Covenant::from_verified(token))
    }

    fn from_verified(token: Biscuit) -> Covenant {
        let compiled = compile(&token);
        let token_id = token.revocation_identifiers().pop().unwrap_or_default();
        Covenant {
            token,
            token_id,
            compiled,
            decisions: DecisionCache::new(),
        }
    }

    /// The serialized token.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CapabilityError> {
        self.token.to_vec().map_err(CapabilityError::Token)
    }

    /// Number of blocks (the authority block plus attenuations).
    pub fn block_count(&self) -> usize {
        self.token.block_count()
    }

    /// Whether checks run natively (see the module documentation).
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// How many authorizer decisions this covenant remembers now.
    #[cfg(test)]
    pub(crate) fn cached_decisions(&self) -> usize {
        self.decisions.len()
    }

    /// The revocation id of the last block, which names this exact token.
    pub fn token_id(&self) -> &[u8] {
        &self.token_id
    }

    /// Appends `attenuation`, signed with a fresh key drawn from `rng`.
    /// The result can only do less than `self`.
    pub fn attenuate(
        &self,
        attenuation: &Attenuation,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Covenant, CapabilityError> {
        let block = render(&BlockSpec::Attenuation(attenuation.clone()))?;
        let next = KeyPair::new_with_rng(Algorithm::Ed25519, rng);
        let token = self
            .token
            .append_with_keypair(&next, block)
            .map_err(CapabilityError::Token)?;
        Ok(Covenant::from_verified(token))
    }

    /// Decides `request` at `now_ms` (milliseconds since the Unix epoch),
    /// natively when compiled, else through the biscuit authorizer, whose
    /// decision for the same request in the same second is remembered.
    pub fn authorize(&self, request: &Request<'_>, now_ms: u64) -> Result<(), Denial> {
        let now_s = now_ms / 1000;
        if let Some(compiled) = &self.compiled {
            return compiled.authorize(request, now_s);
        }
        if let Some(decision) = self.decisions.get(request, now_s) {
            return decision;
        }
        let decision = self.authorize_datalog(request, now_ms);
        self.decisions.put(request, now_s, &decision);
        decision
    }

    /// Decides `request` with the biscuit authorizer, whatever the token
    /// (no cache: every call runs the Datalog).
    pub fn authorize_datalog(&self, request: &Request<'_>, now_ms: u64) -> Result<(), Denial> {
        use biscuit_auth::builder::{fact, string};
        let cost = i64::try_from(request.cost).map_err(|_| Denial::CostOutOfRange)?;
        let facts = [
            fact("principal", &[string(&request.principal.to_string())]),
            fact("operation", &[string(request.action)]),
            fact("resource", &[string(request.resource)]),
            fact("time", &[Term::Date(now_ms / 1000)]),
            fact("cost", &[Term::Integer(cost)]),
        ];
        let authorizer_error = Denial::Authorizer;
        let mut builder = biscuit_auth::AuthorizerBuilder::new();
        for f in facts {
            builder = builder.fact(f).map_err(authorizer_error)?;
        }
        let mut authorizer = builder
            .policy(allow_policy()?)
            .map_err(authorizer_error)?
            .set_limits(AuthorizerLimits {
                max_facts: 1000,
                max_iterations: 100,
                max_time: Duration::from_millis(100),
            })
            .build(&self.token)
            .map_err(authorizer_error)?;
        match authorizer.authorize() {
            Ok(_) => Ok(()),
            Err(e) => Err(datalog_denial(e)),
        }
    }
}

/// The one allow policy, parsed once per process rather than per decision.
fn allow_policy() -> Result<Policy, Denial> {
    static POLICY: OnceLock<Result<Policy, biscuit_auth::error::Token>> = OnceLock::new();
    let source = "allow if operation($op), resource($r), right($op, $p), $r.starts_with($p)";
    POLICY
        .get_or_init(|| Policy::try_from(source))
        .clone()
        .map_err(Denial::Authorizer)
}

fn datalog_denial(e: biscuit_auth::error::Token) -> Denial {
    use biscuit_auth::error::{Logic, MatchedPolicy, Token};
    match e {
        Token::FailedLogic(Logic::Unauthorized { policy, checks }) => Denial::Refused {
            failed_checks: checks.len(),
            allowed: matches!(policy, MatchedPolicy::Allow(_)),
        },
        Token::FailedLogic(Logic::NoMatchingPolicy { checks }) => Denial::Refused {
            failed_checks: checks.len(),
            allowed: false,
        },
        other => Denial::Authorizer(other),
    }
}

/// Compiles `token` if every block is exactly the rendering of its embedded
/// description; `None` otherwise.
fn compile(token: &Biscuit) -> Option<Compiled> {
    let mut grants = None;
    let mut attenuations = Vec::new();
    for index in 0..token.block_count() {
        let source = token.print_block_source(index).ok()?;
        let spec = embedded_spec(&source)?;
        let expected = render(&spec).ok()?.to_string();
        if expected != source {
            return None;
        }
        match (index, spec) {
            (0, BlockSpec::Authority(g)) => grants = Some(g),
            (i, BlockSpec::Attenuation(a)) if i > 0 => attenuations.push(a),
            _ => return None,
        }
    }
    Some(Compiled {
        grants: grants?,
        attenuations,
    })
}

/// Extracts the description from a block's printed source.
fn embedded_spec(source: &str) -> Option<BlockSpec> {
    let first = source.lines().next()?;
    let hex_body = first
        .strip_prefix(SPEC_FACT)?
        .strip_prefix("(hex:")?
        .strip_suffix(");")?;
    let bytes = hex::decode(hex_body).ok()?;
    BlockSpec::from_body(&bytes).ok()
}

impl Compiled {
    fn authorize(&self, request: &Request<'_>, now_s: u64) -> Result<(), Denial> {
        if i64::try_from(request.cost).is_err() {
            return Err(Denial::CostOutOfRange);
        }
        let granted = self.grants.iter().any(|g| {
            g.action == request.action && request.resource.starts_with(g.resource_prefix.as_str())
        });
        for (offset, a) in self.attenuations.iter().enumerate() {
            check_attenuation(a, offset + 1, request, now_s)?;
        }
        if granted {
            Ok(())
        } else {
            Err(Denial::NoGrant)
        }
    }
}

fn check_attenuation(
    a: &Attenuation,
    block: usize,
    request: &Request<'_>,
    now_s: u64,
) -> Result<(), Denial> {
    if let Some(actions) = &a.actions
        && !actions.contains(request.action)
    {
        return Err(Denial::ActionNotAllowed { block });
    }
    if let Some(prefix) = &a.resource_prefix
        && !request.resource.starts_with(prefix.as_str())
    {
        return Err(Denial::ResourceOutsidePrefix { block });
    }
    if let Some(holder) = &a.holder
        && *holder != request.principal
    {
        return Err(Denial::WrongHolder { block });
    }
    if let Some(not_after_s) = a.not_after_s
        && now_s > not_after_s
    {
        return Err(Denial::Expired { block, not_after_s });
    }
    if let Some(max_cost) = a.max_cost
        && request.cost > max_cost
    {
        return Err(Denial::CostAboveCap { block, max_cost });
    }
    Ok(())
}
