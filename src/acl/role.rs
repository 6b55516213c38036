//! Roles, from least to most trusted.

use std::fmt;
use std::str::FromStr;

/// What a wallet address may do in a workspace. Ordered: `Viewer < Commenter < Editor < Admin <
/// Owner`. Nobody acts on a member whose role is equal to or higher than their own.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, writes nothing.
    Viewer,
    /// Creates comments; edits and deletes only their own.
    Commenter,
    /// Edits docs and boards, moves things to and from the trash, resolves any comment.
    Editor,
    /// Manages members below admin, edits workspace settings, purges from the trash.
    Admin,
    /// Created the workspace; manages admins. There is exactly one.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Commenter,
        Role::Editor,
        Role::Admin,
        Role::Owner,
    ];

    /// The lowercase name (`"editor"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Commenter => "commenter",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// The name with an article, for sentences ("an editor").
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Commenter => "a commenter",
            Role::Editor => "an editor",
            Role::Admin => "an admin",
            Role::Owner => "the owner",
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Role::Viewer => 1,
            Role::Commenter => 2,
            Role::Editor => 3,
            Role::Admin => 4,
            Role::Owner => 5,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Role::Viewer,
            2 => Role::Commenter,
            3 => Role::Editor,
            4 => Role::Admin,
            5 => Role::Owner,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that is not a role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role (viewer, commenter, editor, admin, owner)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == t)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_names() {
        assert!(Role::Viewer < Role::Commenter && Role::Admin < Role::Owner);
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(Role::from_byte(r.to_byte()), Some(r));
        }
        assert!("boss".parse::<Role>().is_err());
    }
}
