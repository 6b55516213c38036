//! Content hashes that name things: workspaces, membership ops, envelopes.

use std::fmt;
use std::str::FromStr;

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The 32 hash bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// The first 12 hex digits, for messages meant for people.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..6])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", $label, self.short())
            }
        }

        impl FromStr for $name {
            type Err = hex::FromHexError;
            /// Parses 64 hex digits.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(s.trim(), &mut bytes)?;
                Ok(Self(bytes))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

hash_id!(
    /// A workspace: the hash of its genesis membership op. Written as 64 hex digits, which is
    /// also how pairing certificates scoped to one workspace name it.
    WorkspaceId,
    "WorkspaceId"
);
hash_id!(
    /// A membership op: the hash of its signed encoding.
    AclOpId,
    "AclOpId"
);
hash_id!(
    /// A change envelope: the hash of its header and payload (the digest its device signs).
    EnvelopeId,
    "EnvelopeId"
);
