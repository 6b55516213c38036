//! Which workspaces a pairing covers, and how that is written as ReCap targets:
//! `urn:weft:workspace:<id>` per workspace, or `urn:weft:workspace:*` for all of them.

use std::collections::BTreeSet;

use super::pairing::{PairingError, SIGN_CHANGES_ABILITY, WORKSPACE_TARGET_PREFIX};
use super::recap::{Recap, RecapError};

/// Which workspaces a pairing lets the device sign changes for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkspaceScope {
    /// Every workspace of the wallet.
    All,
    /// Only these workspace ids.
    Only(BTreeSet<String>),
}

impl WorkspaceScope {
    /// A scope of the given workspace ids.
    pub fn only<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        WorkspaceScope::Only(ids.into_iter().map(Into::into).collect())
    }

    /// Whether the device may sign changes in `workspace`.
    pub fn covers(&self, workspace: &str) -> bool {
        match self {
            WorkspaceScope::All => true,
            WorkspaceScope::Only(ids) => ids.contains(workspace),
        }
    }

    pub(crate) fn to_recap(&self) -> Result<Recap, PairingError> {
        let ids: Vec<&str> = match self {
            WorkspaceScope::All => vec!["*"],
            WorkspaceScope::Only(ids) if ids.is_empty() => {
                return Err(PairingError::InvalidRequest(
                    "the workspace scope is empty; choose at least one workspace".into(),
                ))
            }
            WorkspaceScope::Only(ids) => ids.iter().map(String::as_str).collect(),
        };
        let mut recap = Recap::new();
        for id in ids {
            if id != "*" && !is_workspace_id(id) {
                return Err(PairingError::InvalidRequest(format!(
                    "{id:?} is not a workspace id (letters, digits, '.', '_', '~', '-')"
                )));
            }
            recap = recap.grant(
                &format!("{WORKSPACE_TARGET_PREFIX}{id}"),
                SIGN_CHANGES_ABILITY,
            );
        }
        Ok(recap)
    }

    pub(crate) fn from_recap(recap: &Recap) -> Result<Self, PairingError> {
        let mut ids = BTreeSet::new();
        for target in recap.att.keys() {
            let Some(id) = target.strip_prefix(WORKSPACE_TARGET_PREFIX) else {
                continue;
            };
            if !recap.grants_unrestricted(target, SIGN_CHANGES_ABILITY) {
                continue;
            }
            if id == "*" {
                return Ok(WorkspaceScope::All);
            }
            if !is_workspace_id(id) {
                return Err(PairingError::BadRecap(RecapError::BadTarget(
                    target.clone(),
                )));
            }
            ids.insert(id.to_string());
        }
        if ids.is_empty() {
            Err(PairingError::NoSignChangesGrant)
        } else {
            Ok(WorkspaceScope::Only(ids))
        }
    }
}

fn is_workspace_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'))
}
