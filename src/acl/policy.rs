//! What each role may write.
//!
//! | Write                                   | Needs       |
//! |-----------------------------------------|-------------|
//! | any change at all (but see below)       | commenter   |
//! | one's own profile (`profiles`, keys `<own address>/…`), alone in a change | viewer |
//! | a new comment signed with one's own address | commenter |
//! | one's own comment: text, resolved, deleted | commenter |
//! | docs, boards, the trash                 | editor      |
//! | someone else's comment: resolved flag   | editor      |
//! | someone else's comment: deleted flag    | admin       |
//! | workspace settings (`meta`), purge, unknown areas | admin |
//! | a snapshot                              | admin       |
//! | someone else's comment text or fields, a comment's author, replacing or removing a comment entry, a new comment in someone else's name, a container the change could not have seen | nobody |
//! | someone else's profile, a profile entry that is not a plain value under a canonical key | nobody |
//!
//! Viewers write nothing but their own profile: a display name is their identity, not workspace
//! content. A change that writes anything else needs a commenter, as before. The check is on what a change *writes*, as found by
//! [`super::inspect`], never on what it claims.

use std::collections::BTreeSet;

use super::refusal::Refusal;
use super::resolve::ChangeAuthority;
use super::role::Role;

/// One kind of thing a change writes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Write {
    /// Workspace settings (`meta`).
    Settings,
    /// Documents: the page tree, titles, bodies.
    Docs,
    /// Boards, columns, cards.
    Boards,
    /// Trash marks (moving to and from the trash).
    Trash,
    /// Deleting a doc or board node for good.
    Purge,
    /// A root area weft does not know.
    UnknownArea(String),
    /// A new comment; `signed_as_author` says its `author` field is the signer's own address.
    NewComment {
        /// The comment id.
        comment: String,
        /// Whether the author field is the signer.
        signed_as_author: bool,
    },
    /// A comment's text or fields other than `resolved`, `deleted`, `author`.
    CommentText {
        /// The comment id.
        comment: String,
        /// Whether the signer wrote the comment.
        own: bool,
    },
    /// A comment's `resolved` flag.
    CommentResolved {
        /// The comment id.
        comment: String,
        /// Whether the signer wrote the comment.
        own: bool,
    },
    /// A comment's `deleted` flag.
    CommentDeleted {
        /// The comment id.
        comment: String,
        /// Whether the signer wrote the comment.
        own: bool,
    },
    /// A comment's `author` field after creation.
    CommentAuthor {
        /// The comment id.
        comment: String,
    },
    /// Overwriting or removing an entry of the comment list.
    CommentReplaced {
        /// The entry key.
        key: String,
    },
    /// A container that cannot be traced to a root area through the change's causal past.
    Unplaced,
    /// A whole-document snapshot.
    Snapshot,
    /// An entry of the signer's own profile (`profiles`, key `<signer>/<field>`, a plain value).
    OwnProfile,
    /// An entry of someone else's profile; `owner` is the key's address part as written.
    OthersProfile {
        /// Whose profile (as the key names it, cut short).
        owner: String,
    },
    /// Anything in `profiles` that is not a plain value under a `<address>/<field>` key in
    /// lowercase (a nested container, a key without an address).
    ProfileShape {
        /// The key written, cut short.
        key: String,
    },
}

impl Write {
    /// The lowest role allowed to write this; `None` if nobody may.
    pub fn required(&self) -> Option<Role> {
        Some(match self {
            Write::Settings | Write::Purge | Write::UnknownArea(_) | Write::Snapshot => Role::Admin,
            Write::Docs | Write::Boards | Write::Trash => Role::Editor,
            Write::OwnProfile => Role::Viewer,
            Write::NewComment {
                signed_as_author: true,
                ..
            } => Role::Commenter,
            Write::CommentText { own: true, .. }
            | Write::CommentResolved { own: true, .. }
            | Write::CommentDeleted { own: true, .. } => Role::Commenter,
            Write::CommentResolved { own: false, .. } => Role::Editor,
            Write::CommentDeleted { own: false, .. } => Role::Admin,
            Write::NewComment {
                signed_as_author: false,
                ..
            }
            | Write::CommentText { own: false, .. }
            | Write::CommentAuthor { .. }
            | Write::CommentReplaced { .. }
            | Write::OthersProfile { .. }
            | Write::ProfileShape { .. }
            | Write::Unplaced => return None,
        })
    }

    /// What the write is, as a phrase ("editing documents").
    pub fn describe(&self) -> String {
        match self {
            Write::Settings => "changing workspace settings".into(),
            Write::Docs => "editing documents".into(),
            Write::Boards => "editing boards".into(),
            Write::Trash => "moving things to or from the trash".into(),
            Write::Purge => "deleting items for good".into(),
            Write::UnknownArea(name) => format!("writing to the unknown area {name:?}"),
            Write::NewComment {
                signed_as_author: true,
                ..
            } => "commenting".into(),
            Write::NewComment { comment, .. } => {
                format!("writing comment {comment} in someone else's name")
            }
            Write::CommentText { comment, own: true } => format!("editing their comment {comment}"),
            Write::CommentText { comment, .. } => {
                format!("editing someone else's comment {comment}")
            }
            Write::CommentResolved { comment, own } => format!(
                "resolving {} comment {comment}",
                if *own { "their" } else { "someone else's" }
            ),
            Write::CommentDeleted { comment, own } => format!(
                "deleting {} comment {comment}",
                if *own { "their" } else { "someone else's" }
            ),
            Write::CommentAuthor { comment } => format!("changing the author of comment {comment}"),
            Write::CommentReplaced { key } => format!("replacing or removing comment {key}"),
            Write::Unplaced => "writing to a part of the document it could not have seen".into(),
            Write::Snapshot => "sending a whole-workspace snapshot".into(),
            Write::OwnProfile => "setting their display name".into(),
            Write::OthersProfile { owner } => {
                format!("setting the profile of {owner}, someone else")
            }
            Write::ProfileShape { key } => {
                format!("writing profile entry {key:?} in a shape weft does not accept")
            }
        }
    }
}

/// Everything one change writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// The distinct writes.
    pub writes: BTreeSet<Write>,
}

/// The least role that may send a change at all: a commenter, or any member for a change that
/// writes only their own profile.
pub fn floor(summary: &WriteSummary) -> Role {
    let own_profile_only =
        !summary.writes.is_empty() && summary.writes.iter().all(|w| *w == Write::OwnProfile);
    if own_profile_only {
        Role::Viewer
    } else {
        Role::Commenter
    }
}

/// Decides whether `authority` permits every write in `summary`.
///
/// Fails with the first write the role does not allow, saying whether a concurrent demotion is
/// the reason.
pub fn check(summary: &WriteSummary, authority: &ChangeAuthority) -> Result<(), Refusal> {
    let anything = std::iter::once((Some(floor(summary)), "changing anything".to_string()));
    let writes = summary.writes.iter().map(|w| (w.required(), w.describe()));
    for (required, what) in anything.chain(writes) {
        let Some(needed) = required else {
            return Err(Refusal::Forbidden {
                address: authority.address,
                what,
            });
        };
        if authority.effective >= needed {
            continue;
        }
        return Err(match authority.lowered_by {
            Some(by) if authority.role_at_heads >= needed => Refusal::DemotedConcurrently {
                address: authority.address,
                role: authority.effective,
                needed,
                what,
                by,
            },
            _ => Refusal::RoleTooLow {
                address: authority.address,
                role: authority.effective,
                needed,
                what,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Address;

    fn authority(role: Role) -> ChangeAuthority {
        ChangeAuthority {
            address: Address::from_bytes([1; 20]),
            role_at_heads: role,
            effective: role,
            lowered_by: None,
        }
    }

    fn summary(writes: impl IntoIterator<Item = Write>) -> WriteSummary {
        WriteSummary {
            writes: writes.into_iter().collect(),
        }
    }

    #[test]
    fn roles_against_writes() {
        let own = |own| Write::CommentText {
            comment: "1@2".into(),
            own,
        };
        assert!(check(&summary([]), &authority(Role::Viewer)).is_err());
        assert!(check(&summary([own(true)]), &authority(Role::Commenter)).is_ok());
        assert!(check(&summary([own(false)]), &authority(Role::Owner)).is_err());
        assert!(check(&summary([Write::Docs]), &authority(Role::Commenter)).is_err());
        assert!(check(&summary([Write::Docs]), &authority(Role::Editor)).is_ok());
        assert!(check(&summary([Write::Purge]), &authority(Role::Editor)).is_err());
        assert!(check(&summary([Write::Settings]), &authority(Role::Admin)).is_ok());
        let resolve_other = Write::CommentResolved {
            comment: "1@2".into(),
            own: false,
        };
        assert!(check(
            &summary([resolve_other.clone()]),
            &authority(Role::Commenter)
        )
        .is_err());
        assert!(check(&summary([resolve_other]), &authority(Role::Editor)).is_ok());
        // Own profile: any member, alone; mixed with content it needs the content's role.
        assert!(check(&summary([Write::OwnProfile]), &authority(Role::Viewer)).is_ok());
        assert!(check(
            &summary([Write::OwnProfile, Write::Docs]),
            &authority(Role::Viewer)
        )
        .is_err());
        let others = Write::OthersProfile {
            owner: "0xab".into(),
        };
        assert!(matches!(
            check(&summary([others]), &authority(Role::Owner)),
            Err(Refusal::Forbidden { .. })
        ));
    }
}
