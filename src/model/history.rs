//! A doc's past: the versions its body and title went through, read back from the Loro history
//! without changing the workspace. A version is "the doc as its author saw it right after one change":
//! the change's own causal past, materialised in a throwaway fork.

use loro::{ContainerTrait, Frontiers, LoroDoc, ID};

use super::{ItemId, ItemKind, Result, Workspace, DOCS};

/// One version of a doc: the end of a change that touched its body or title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocVersion {
    /// Position in the history, 1 = oldest.
    pub number: usize,
    /// Where in the history it is (for reading the version back).
    pub frontiers: Frontiers,
    /// Lamport time of the change's last op (orders versions).
    pub lamport: u32,
    /// Seconds since the epoch when the change was made, if the writer recorded it (0 = unknown).
    pub timestamp: i64,
    /// Operations in the change (all containers, not only this doc).
    pub ops: usize,
    /// The change's commit message, if it has one (a restore says which version it restored).
    pub message: Option<String>,
}

impl Workspace {
    /// The versions of doc `id`, oldest first: one per change to its body or title.
    pub fn doc_history(&self, id: ItemId) -> Result<Vec<DocVersion>> {
        self.expect_kind(id, ItemKind::Doc)?;
        let meta = self.node_meta(id)?.id();
        let body = self.body_text_existing(id)?.map(|t| t.id());
        let doc = self.loro();
        let mut out = Vec::new();
        for (peer, end) in doc.oplog_vv().iter() {
            let mut counter = 0;
            while counter < *end {
                let Some(change) = doc.get_change(ID::new(*peer, counter)) else {
                    // Trimmed from a shallow snapshot, or not yet arrived: skip ahead.
                    counter += 1;
                    continue;
                };
                let len = change.len.max(1);
                let touched = doc.get_changed_containers_in(change.id, len);
                if touched.contains(&meta) || body.as_ref().is_some_and(|b| touched.contains(b)) {
                    let last = change.id.counter + len as i32 - 1;
                    out.push(DocVersion {
                        number: 0,
                        frontiers: Frontiers::from_id(ID::new(*peer, last)),
                        lamport: change.lamport + len as u32 - 1,
                        timestamp: change.timestamp,
                        ops: change.len,
                        message: change.message.as_deref().map(str::to_string),
                    });
                }
                counter = change.id.counter + len as i32;
            }
        }
        out.sort_by_key(|v| v.lamport);
        for (i, v) in out.iter_mut().enumerate() {
            v.number = i + 1;
        }
        Ok(out)
    }

    /// The body of doc `id` as it was at `version` (empty if it had none yet).
    pub fn body_at(&self, id: ItemId, version: &DocVersion) -> Result<String> {
        let past: LoroDoc = self.loro().fork_at(&version.frontiers)?;
        let tree = past.get_tree(DOCS);
        if !tree.contains(id.0) {
            return Ok(String::new());
        }
        let meta = tree.get_meta(id.0)?;
        Ok(match meta.get(self.body_key(id)?) {
            Some(loro::ValueOrContainer::Container(loro::Container::Text(t))) => t.to_string(),
            _ => String::new(),
        })
    }

    /// Make doc `id`'s body what it was at `version`, as a new change on top of the present (nothing
    /// is rewritten; the restore is a version of its own, so the text before it can be restored too).
    pub fn restore_version(&self, id: ItemId, version: &DocVersion) -> Result<()> {
        let text = self.body_at(id, version)?;
        // A commit message keeps Loro from merging the restore into the writer's previous change,
        // which would make the text just before the restore unreachable from the history.
        self.commit();
        self.loro()
            .set_next_commit_message(&format!("restore version {}", version.number));
        self.set_body(id, &text)
    }
}

#[cfg(test)]
mod tests {
    use loro::{ExportMode, LoroDoc};

    use super::super::{Clock, Workspace};

    #[test]
    fn versions_read_back_and_restore_as_a_new_change() {
        let a = Workspace::create("t", "alice", Clock::Fixed(1)).expect("create");
        let doc = a.create_doc("Doc", None).expect("doc");
        a.set_body(doc, "one").expect("body");
        let snap = a.loro().export(ExportMode::Snapshot).expect("snapshot");
        let b = Workspace::open(
            LoroDoc::from_snapshot(&snap).expect("load"),
            "bob",
            Clock::Fixed(2),
        )
        .expect("open");
        b.set_body(doc, "one two").expect("edit");
        b.set_body(doc, "one two three").expect("edit");
        let other = b.create_doc("Other", None).expect("other doc");
        b.set_body(other, "unrelated").expect("body");
        let history = b.doc_history(doc).expect("history");
        let texts: Vec<String> = history
            .iter()
            .map(|v| b.body_at(doc, v).expect("read"))
            .collect();
        assert_eq!(texts.first().map(String::as_str), Some("one"));
        assert_eq!(texts.last().map(String::as_str), Some("one two three"));
        assert!(history.windows(2).all(|w| w[0].lamport < w[1].lamport));
        assert_eq!(
            b.body(doc).expect("body"),
            "one two three",
            "reading changed nothing"
        );
        b.restore_version(doc, &history[0]).expect("restore");
        assert_eq!(b.body(doc).expect("body"), "one");
        assert_eq!(
            b.doc_history(doc).expect("history").len(),
            history.len() + 1
        );
        assert!(b
            .doc_history(b.boards(false).first().map(|x| x.id).unwrap_or(other))
            .is_ok());
    }
}
