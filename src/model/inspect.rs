//! Read-only lookups for code that inspects changes before they are applied (access control),
//! and opening a replica's document without local migrations.

use loro::{Container, LoroDoc, ValueOrContainer};

use super::{schema, values, Clock, Workspace, COMMENTS};

impl Workspace {
    /// The `author` field of comment `comment` in `doc`, if the comment exists and has one.
    /// Works on any document with the workspace layout (a shadow copy included).
    pub fn comment_author_in(doc: &LoroDoc, comment: &str) -> Option<String> {
        match doc.get_map(COMMENTS).get(comment)? {
            ValueOrContainer::Container(Container::Map(m)) => values::get_str(&m, "author"),
            _ => None,
        }
    }

    /// Wraps a document assembled from accepted changes without running migrations: on a
    /// replica, only an admin may write the migration, so opening must never write. A workspace
    /// from a newer weft still opens read-only.
    pub fn open_replica(doc: LoroDoc, actor: &str, clock: Clock) -> Self {
        let mut ws = Self::wrap(doc, actor, clock);
        let found = ws.schema();
        if found > schema::CURRENT_SCHEMA {
            ws.read_only = Some(found);
        }
        ws
    }
}
