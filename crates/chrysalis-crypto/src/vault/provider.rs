//! API providers, their key formats, and redaction.

use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::fmt;
use std::str::FromStr;

/// The longest custom provider name, in bytes.
pub const MAX_PROVIDER_NAME_BYTES: usize = 64;

/// The longest API key accepted, in bytes.
pub const MAX_API_KEY_BYTES: usize = 4096;

/// Keys shorter than this (in characters) are redacted entirely: showing a
/// prefix and four characters of them would show too much.
pub const MIN_PARTIAL_REDACTION_CHARS: usize = 12;

/// A service an API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// OpenAI.
    OpenAI,
    /// Anthropic.
    Anthropic,
    /// Nomic (embeddings).
    Nomic,
    /// Cohere.
    Cohere,
    /// Mistral AI.
    Mistral,
    /// Groq.
    Groq,
    /// Hugging Face.
    HuggingFace,
    /// Any other service, by a lowercase name of `[a-z0-9._-]` characters.
    Custom(String),
}

/// Why a provider name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderParseError {
    /// The name is empty.
    #[error("provider name is empty")]
    Empty,
    /// The name is longer than [`MAX_PROVIDER_NAME_BYTES`].
    #[error("provider name is longer than {max_bytes} bytes")]
    TooLong {
        /// The limit.
        max_bytes: usize,
    },
    /// The name holds a character outside `[A-Za-z0-9._-]`.
    #[error("provider name holds {found:?}; use letters, digits, '.', '_' or '-'")]
    BadCharacter {
        /// The offending character.
        found: char,
    },
}

impl Provider {
    /// The canonical lowercase name (what [`Provider::from_str`] reads back).
    pub fn name(&self) -> &str {
        match self {
            Self::OpenAI => "openai",
            Self::Anthropic => "anthropic",
            Self::Nomic => "nomic",
            Self::Cohere => "cohere",
            Self::Mistral => "mistral",
            Self::Groq => "groq",
            Self::HuggingFace => "huggingface",
            Self::Custom(name) => name,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Self::OpenAI => 1,
            Self::Anthropic => 2,
            Self::Nomic => 3,
            Self::Cohere => 4,
            Self::Mistral => 5,
            Self::Groq => 6,
            Self::HuggingFace => 7,
            Self::Custom(_) => 8,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Case-insensitive. Known names (and the aliases `hf`, `hugging-face`,
/// `hugging_face`, `mistralai`) give the named variants; any other valid
/// name gives [`Provider::Custom`] in lowercase.
impl FromStr for Provider {
    type Err = ProviderParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ProviderParseError::Empty);
        }
        if s.len() > MAX_PROVIDER_NAME_BYTES {
            return Err(ProviderParseError::TooLong {
                max_bytes: MAX_PROVIDER_NAME_BYTES,
            });
        }
        if let Some(found) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(ProviderParseError::BadCharacter { found });
        }
        let lower = s.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "openai" => Self::OpenAI,
            "anthropic" => Self::Anthropic,
            "nomic" => Self::Nomic,
            "cohere" => Self::Cohere,
            "mistral" | "mistralai" => Self::Mistral,
            "groq" => Self::Groq,
            "huggingface" | "hugging-face" | "hugging_face" | "hf" => Self::HuggingFace,
            _ => Self::Custom(lower),
        })
    }
}

impl Encode for Provider {
    fn encode(&self, w: &mut Writer) {
        w.put_u8(self.tag());
        if let Self::Custom(name) = self {
            w.put(name);
        }
    }
}

impl Decode for Provider {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let provider = match r.u8()? {
            1 => Self::OpenAI,
            2 => Self::Anthropic,
            3 => Self::Nomic,
            4 => Self::Cohere,
            5 => Self::Mistral,
            6 => Self::Groq,
            7 => Self::HuggingFace,
            8 => {
                let name: String = r.get()?;
                // Only the canonical (parsed, lowercase, custom) form is accepted.
                match name.parse::<Provider>() {
                    Ok(Self::Custom(parsed)) if parsed == name => Self::Custom(name),
                    _ => {
                        return Err(DecodeError::Invalid {
                            what: "provider",
                            reason: "custom name not in canonical form",
                        });
                    }
                }
            }
            tag => return Err(r.invalid_tag("provider", tag)),
        };
        Ok(provider)
    }
}

/// The format rule for one provider's keys.
struct KeyRule {
    /// Required prefix ("" for none).
    prefix: &'static str,
    /// A prefix that must *not* follow (e.g. an Anthropic key pasted as OpenAI's).
    not_prefix: Option<&'static str>,
    /// Shortest key, in bytes, prefix included.
    min_len: usize,
    /// Whether only ASCII letters and digits are allowed (else also `-` and `_`).
    alphanumeric_only: bool,
}

fn rule(provider: &Provider) -> Option<KeyRule> {
    let rule = |prefix, not_prefix, min_len, alphanumeric_only| KeyRule {
        prefix,
        not_prefix,
        min_len,
        alphanumeric_only,
    };
    match provider {
        Provider::OpenAI => Some(rule("sk-", Some("sk-ant-"), 40, false)),
        Provider::Anthropic => Some(rule("sk-ant-", None, 40, false)),
        Provider::Nomic => Some(rule("nk-", None, 20, false)),
        Provider::Groq => Some(rule("gsk_", None, 40, false)),
        Provider::HuggingFace => Some(rule("hf_", None, 30, false)),
        Provider::Cohere | Provider::Mistral => Some(rule("", None, 32, true)),
        Provider::Custom(_) => None,
    }
}

/// The rules documented on [`super::validate_key_format`]; the error is the reason.
pub(crate) fn check_key_format(provider: &Provider, key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("the key is empty");
    }
    if key.len() > MAX_API_KEY_BYTES {
        return Err("the key is longer than 4096 bytes");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the key holds whitespace, a control character or non-ASCII text");
    }
    let Some(rule) = rule(provider) else {
        return Ok(());
    };
    let Some(rest) = key.strip_prefix(rule.prefix) else {
        return Err(match provider {
            Provider::OpenAI => "OpenAI keys start with \"sk-\"",
            Provider::Anthropic => "Anthropic keys start with \"sk-ant-\"",
            Provider::Nomic => "Nomic keys start with \"nk-\"",
            Provider::Groq => "Groq keys start with \"gsk_\"",
            _ => "Hugging Face tokens start with \"hf_\"",
        });
    };
    if rule.not_prefix.is_some_and(|p| key.starts_with(p)) {
        return Err("this looks like an Anthropic key (\"sk-ant-\"), not an OpenAI key");
    }
    if key.len() < rule.min_len {
        return Err("the key is too short for this provider");
    }
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || (!rule.alphanumeric_only && b"-_".contains(&b));
    if !rest.bytes().all(allowed) {
        return Err(if rule.alphanumeric_only {
            "keys for this provider are letters and digits only"
        } else {
            "the key holds a character other than letters, digits, '-' or '_'"
        });
    }
    Ok(())
}

/// A key shown safely: its type prefix, `...`, and its last four characters
/// (`sk-proj-abc…wxyz` → `sk-...wxyz`, `hf_abc…wxyz` → `hf_...wxyz`).
///
/// The prefix is everything up to and including the first `-` or `_`, when
/// that falls within the first 8 characters (a provider tag, not key
/// material); otherwise there is none (`...wxyz`). Keys shorter than
/// [`MIN_PARTIAL_REDACTION_CHARS`] characters, or that would show fewer than
/// 8 hidden characters, become `[REDACTED]` entirely.
pub fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < MIN_PARTIAL_REDACTION_CHARS {
        return "[REDACTED]".to_owned();
    }
    let prefix_len = chars
        .iter()
        .take(8)
        .position(|c| matches!(c, '-' | '_'))
        .map_or(0, |i| i + 1);
    if chars.len() < prefix_len + 4 + 8 {
        return "[REDACTED]".to_owned();
    }
    let prefix: String = chars[..prefix_len].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}...{tail}")
}
