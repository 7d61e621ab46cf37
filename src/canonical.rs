//! RFC 8785 (JCS) canonical JSON and the `sha256:<hex>` digests scoregate
//! puts on profiles, evidence packets and history snapshots.
//!
//! Canonicalisation is delegated to `serde_json_canonicalizer`, which sorts
//! object keys by UTF-16 code units and prints numbers as ECMAScript does.

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// A `sha256:<64 lowercase hex>` digest: a profile revision id, an evidence
/// digest or a snapshot fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$",
            "description": "`sha256:` and 64 lowercase hex digits: a revision id, evidence digest or commit digest"
        })
    }
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Parse `sha256:<64 lowercase hex>`; `None` when it is not that shape.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("sha256:")?;
        let ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Digest(s.to_string()))
    }

    /// The 64 hex digits without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for human output.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Digest::parse(&s).ok_or_else(|| format!("expected `sha256:` followed by 64 lowercase hex digits, found `{s}`"))
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

/// The lowercase hex sha256 of `bytes`, without prefix.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// RFC 8785 canonical JSON bytes of `value`.
pub fn to_jcs<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own types cannot fail: they hold no maps with non-string
    // keys and no non-finite floats (both are rejected at the input boundary).
    serde_json_canonicalizer::to_vec(value).expect("canonical JSON of a validated value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_shape_is_checked() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::parse(d.as_str()), Some(d.clone()));
        assert_eq!(d.short(), "ba7816bf8f01");
        assert!(Digest::parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD").is_none());
        assert!(Digest::parse("sha512:00").is_none());
        assert!(Digest::parse("sha256:abc").is_none());
    }

    #[test]
    fn jcs_sorts_keys_and_prints_numbers_like_ecmascript() {
        let v: serde_json::Value = serde_json::from_str(r#"{"b": 1.0, "a": [1e21, 0.1, -0.0], "c": "\u00e9"}"#).unwrap();
        assert_eq!(String::from_utf8(to_jcs(&v)).unwrap(), r#"{"a":[1e+21,0.1,0],"b":1,"c":"é"}"#);
    }
}
