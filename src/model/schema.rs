//! Schema versions and local migrations. Additive only: code reads every older shape, migrations run on
//! open, are idempotent, and never strip fields they do not know (a newer weft's fields survive).
//!
//! - 1: first release. Trash marks lived in each node's meta as `trashed: {by, at}`.
//! - 2: trash marks moved to the root `trash` map with the id of the trash op, so "is it trashed" can
//!   be derived from causality (see `trash.rs`).

use super::{Result, Workspace};

/// The schema this weft writes.
pub const CURRENT_SCHEMA: i64 = 2;

/// Bring an older workspace up to date. Returns `Some(found)` when the workspace is from a newer weft
/// and must stay read-only.
pub(super) fn migrate(ws: &Workspace) -> Result<Option<i64>> {
    let found = ws.schema();
    if found > CURRENT_SCHEMA {
        return Ok(Some(found));
    }
    if found == CURRENT_SCHEMA {
        return Ok(None);
    }
    // An empty document (a replica still waiting for its first sync) has nothing to migrate.
    if ws.meta().is_empty()
        && ws.docs_tree().nodes().is_empty()
        && ws.boards_tree().nodes().is_empty()
    {
        return Ok(None);
    }
    if found < 2 {
        for (id, mark) in ws.legacy_trash_marks() {
            if ws.trash_map().get(&id.to_string()).is_none() {
                // Keep who trashed it and when; the op id is the migration's own.
                let by = if mark.by.is_empty() {
                    ws.actor().to_string()
                } else {
                    mark.by
                };
                ws.write_trash_mark(id, &by, mark.at)?;
            }
            ws.node_meta(id)?.delete("trashed")?;
        }
    }
    ws.meta().insert("schema", CURRENT_SCHEMA)?;
    ws.commit();
    Ok(None)
}
