//! ReCaps (EIP-5573): capabilities granted inside a Sign-In with Ethereum message.
//!
//! A ReCap is a JSON object `{"att":{"<target uri>":{"<namespace>/<ability>":[{…}]}},"prf":[]}`
//! carried as the last SIWE resource, `urn:recap:` + unpadded base64url of the JSON, and mirrored
//! in human-readable form at the end of the SIWE statement ("I further authorize the stated URI
//! to perform the following actions on my behalf: (1) 'weft': 'sign-changes' for '…'.").
//!
//! weft encodes the JSON canonically (keys sorted by byte value, no whitespace, as JCS does for
//! these ASCII strings) and accepts only canonical encodings, so one grant has one encoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The scheme prefix of a ReCap resource URI.
pub const RECAP_URI_PREFIX: &str = "urn:recap:";
/// The fixed opening of the ReCap statement.
pub const RECAP_STATEMENT_PREAMBLE: &str =
    "I further authorize the stated URI to perform the following actions on my behalf:";
/// Largest ReCap resource weft will decode.
const MAX_RECAP_URI_LEN: usize = 4096;

/// Why a ReCap resource could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecapError {
    /// The resource does not start with `urn:recap:`.
    #[error("the resource is not a ReCap (it does not start with \"urn:recap:\")")]
    NotRecapUri,
    /// The resource is implausibly long.
    #[error("the ReCap resource is too long ({len} characters)")]
    TooLong {
        /// Characters found.
        len: usize,
    },
    /// The payload is not unpadded base64url.
    #[error("the ReCap payload is not unpadded base64url: {0}")]
    BadBase64(String),
    /// The payload is not the ReCap JSON shape.
    #[error("the ReCap payload is not a valid ReCap object: {0}")]
    BadJson(String),
    /// The JSON is valid but not in canonical form (sorted keys, no whitespace).
    #[error("the ReCap payload is not canonically encoded (keys must be sorted, no whitespace)")]
    NotCanonical,
    /// An ability key is not `namespace/name` with the allowed characters.
    #[error("the ReCap ability {0:?} is not of the form namespace/name")]
    BadAbility(String),
    /// A target is not a URI.
    #[error("the ReCap target {0:?} is not a URI")]
    BadTarget(String),
    /// Nothing is granted.
    #[error("the ReCap grants nothing")]
    Empty,
}

/// A ReCap details object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recap {
    /// Target URI → ability (`namespace/name`) → restrictions ("nota bene" objects;
    /// `[{}]` means unrestricted).
    pub att: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
    /// Parent capabilities (CIDs); weft never uses any.
    pub prf: Vec<String>,
}

impl Recap {
    /// An empty ReCap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an unrestricted `ability` (`namespace/name`) on `target`.
    pub fn grant(mut self, target: &str, ability: &str) -> Self {
        self.att
            .entry(target.to_string())
            .or_default()
            .insert(ability.to_string(), vec![Value::Object(Default::default())]);
        self
    }

    /// Whether `ability` on `target` is granted without restrictions.
    pub fn grants_unrestricted(&self, target: &str, ability: &str) -> bool {
        self.att
            .get(target)
            .and_then(|abilities| abilities.get(ability))
            .is_some_and(|nb| {
                nb.iter()
                    .any(|v| v.as_object().is_some_and(|o| o.is_empty()))
            })
    }

    /// The canonical JSON text.
    pub fn to_json(&self) -> String {
        // Maps are BTreeMaps, so keys come out sorted; serialising plain data cannot fail.
        serde_json::to_string(self).expect("a ReCap always serialises")
    }

    /// The `urn:recap:…` resource URI.
    pub fn to_resource_uri(&self) -> String {
        format!(
            "{RECAP_URI_PREFIX}{}",
            base64url_encode(self.to_json().as_bytes())
        )
    }

    /// Decodes and checks a `urn:recap:…` resource URI.
    ///
    /// Fails if the payload is not unpadded base64url of a canonical ReCap object with at least
    /// one grant, with well-formed ability strings and URI-like targets.
    pub fn from_resource_uri(uri: &str) -> Result<Self, RecapError> {
        let payload = uri
            .strip_prefix(RECAP_URI_PREFIX)
            .ok_or(RecapError::NotRecapUri)?;
        if uri.len() > MAX_RECAP_URI_LEN {
            return Err(RecapError::TooLong { len: uri.len() });
        }
        let json = base64url_decode(payload).map_err(RecapError::BadBase64)?;
        let recap: Recap =
            serde_json::from_slice(&json).map_err(|e| RecapError::BadJson(e.to_string()))?;
        if recap.att.is_empty() || recap.att.values().any(|a| a.is_empty()) {
            return Err(RecapError::Empty);
        }
        for (target, abilities) in &recap.att {
            if !is_uri_like(target) {
                return Err(RecapError::BadTarget(target.clone()));
            }
            if let Some(bad) = abilities.keys().find(|a| !is_ability(a)) {
                return Err(RecapError::BadAbility(bad.clone()));
            }
            for restrictions in abilities.values() {
                if restrictions.iter().any(|v| !v.is_object()) {
                    return Err(RecapError::BadJson(
                        "restrictions must be JSON objects".into(),
                    ));
                }
            }
        }
        if recap.to_json().as_bytes() != json.as_slice() {
            return Err(RecapError::NotCanonical);
        }
        Ok(recap)
    }

    /// The human-readable statement EIP-5573 derives from this ReCap: the preamble followed by
    /// one numbered entry per (target, namespace).
    pub fn statement(&self) -> String {
        let mut out = String::from(RECAP_STATEMENT_PREAMBLE);
        let mut number = 1;
        for (target, abilities) in &self.att {
            let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for ability in abilities.keys() {
                let (namespace, name) = ability.split_once('/').unwrap_or((ability, ""));
                by_namespace.entry(namespace).or_default().push(name);
            }
            for (namespace, names) in by_namespace {
                let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                out.push_str(&format!(
                    " ({number}) '{namespace}': {} for '{target}'.",
                    names.join(", ")
                ));
                number += 1;
            }
        }
        out
    }
}

/// `scheme:rest` with an RFC 3986 scheme and no whitespace, quotes or control characters
/// (they would make the statement ambiguous).
fn is_uri_like(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '\'' && c != '"')
}

fn is_ability_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '_' | '+' | '-'))
}

fn is_ability(s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(ns, name)| is_ability_part(ns) && is_ability_part(name))
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url (RFC 4648 §5).
pub(crate) fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..chunk.len() + 1 {
            out.push(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Strict unpadded base64url: rejects padding, other alphabets and non-zero trailing bits.
pub(crate) fn base64url_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for (i, c) in text.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(format!("unexpected {:?} at position {}", c as char, i + 1)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("the length is not possible for base64".into());
    }
    if acc != 0 {
        return Err("the last character has stray bits set".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_every_length() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(250))
                .collect();
            let encoded = base64url_encode(&data);
            assert!(!encoded.contains('='));
            assert_eq!(base64url_decode(&encoded).unwrap(), data);
        }
        assert_eq!(base64url_encode(b"\xfb\xff"), "-_8");
        assert!(base64url_decode("-_9").is_err(), "stray trailing bits");
        assert!(base64url_decode("abc=").is_err(), "padding");
        assert!(base64url_decode("a").is_err(), "impossible length");
        assert!(base64url_decode("ab+/").is_err(), "standard alphabet");
    }
}
