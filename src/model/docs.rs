//! Pages: a tree of documents, each with a title and a Markdown body.

use loro::{LoroTree, TreeID, TreeParentId};

use super::values::{clean_title, get_i64, get_str};
use super::{ItemId, ItemKind, ModelError, Result, TrashStatus, Workspace};

/// A document as listed: where it sits in the page tree and whether it is in the trash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DocView {
    pub id: ItemId,
    pub title: String,
    pub parent: Option<ItemId>,
    pub depth: usize,
    pub created_by: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "TrashStatus::is_live")]
    pub trash: TrashStatus,
}

impl Workspace {
    /// Create a page under `parent` (or at the top level), appended after its siblings.
    pub fn create_doc(&self, title: &str, parent: Option<ItemId>) -> Result<ItemId> {
        self.writable()?;
        let title = clean_title(title)?;
        if let Some(p) = parent {
            self.expect_kind(p, ItemKind::Doc)?;
            self.ensure_live(p)?;
        }
        let tree = self.docs_tree();
        let node = tree.create(parent.map(|p| p.0))?;
        let meta = tree.get_meta(node)?;
        meta.insert("title", title)?;
        meta.insert("created_by", self.actor())?;
        meta.insert("created_at", self.now())?;
        self.commit();
        Ok(ItemId(node))
    }

    /// One doc, trashed or not.
    pub fn doc(&self, id: ItemId) -> Result<DocView> {
        self.expect_kind(id, ItemKind::Doc)?;
        let tree = self.docs_tree();
        Ok(self.doc_view(&tree, id.0, depth_of(&tree, id.0)))
    }

    fn doc_view(&self, tree: &LoroTree, node: TreeID, depth: usize) -> DocView {
        let meta = tree.get_meta(node).ok();
        let parent = match tree.parent(node) {
            Some(TreeParentId::Node(p)) => Some(ItemId(p)),
            _ => None,
        };
        DocView {
            id: ItemId(node),
            title: meta
                .as_ref()
                .and_then(|m| get_str(m, "title"))
                .unwrap_or_default(),
            parent,
            depth,
            created_by: meta
                .as_ref()
                .and_then(|m| get_str(m, "created_by"))
                .unwrap_or_default(),
            created_at: meta
                .as_ref()
                .and_then(|m| get_i64(m, "created_at"))
                .unwrap_or(0),
            trash: self.trash_status(ItemId(node)),
        }
    }

    /// All docs in page-tree order (depth first). Trashed docs and everything under them are left
    /// out unless `include_trashed`.
    pub fn docs(&self, include_trashed: bool) -> Vec<DocView> {
        let tree = self.docs_tree();
        let mut out = Vec::new();
        let mut stack: Vec<(TreeID, usize)> =
            tree.roots().into_iter().rev().map(|n| (n, 0)).collect();
        while let Some((node, depth)) = stack.pop() {
            let view = self.doc_view(&tree, node, depth);
            if view.trash.is_trashed() && !include_trashed {
                continue;
            }
            out.push(view);
            if let Some(children) = tree.children(node) {
                stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
            }
        }
        out
    }

    /// Move a page under another page (or to the top level) at `index` among its new siblings
    /// (`None` = last).
    pub fn move_doc(&self, id: ItemId, parent: Option<ItemId>, index: Option<usize>) -> Result<()> {
        self.writable()?;
        self.expect_kind(id, ItemKind::Doc)?;
        self.ensure_live(id)?;
        let tree = self.docs_tree();
        if let Some(p) = parent {
            self.expect_kind(p, ItemKind::Doc)?;
            self.ensure_live(p)?;
            if p == id || is_ancestor(&tree, id.0, p.0) {
                return Err(ModelError::Invalid {
                    what: "move",
                    why: "a page cannot be moved under itself".into(),
                });
            }
        }
        let target: TreeParentId = parent.map(|p| p.0).into();
        let siblings = tree.children(target).unwrap_or_default();
        let others = siblings.iter().filter(|n| **n != id.0).count();
        let index = index.unwrap_or(others).min(others);
        tree.mov_to(id.0, target, index)?;
        self.commit();
        Ok(())
    }
}

pub(super) fn depth_of(tree: &LoroTree, mut node: TreeID) -> usize {
    let mut depth = 0;
    while let Some(TreeParentId::Node(p)) = tree.parent(node) {
        depth += 1;
        node = p;
    }
    depth
}

/// Whether `ancestor` is above `node` in the tree.
pub(super) fn is_ancestor(tree: &LoroTree, ancestor: TreeID, mut node: TreeID) -> bool {
    while let Some(TreeParentId::Node(p)) = tree.parent(node) {
        if p == ancestor {
            return true;
        }
        node = p;
    }
    false
}
