//! Soft delete. Trashing writes a mark into the root `trash` map; the item itself is untouched, so a
//! restore is just removing the mark. Whether an item *counts* as trashed is derived: a mark is void
//! while any activity on the item (an edit, a new comment) is concurrent with it — a teammate who had not
//! seen the trash was still working on it. Every replica derives the same answer from the same history,
//! with no extra writes, and a commenter's comment can revive a doc without the right to edit it.

use std::collections::{HashMap, HashSet};

use loro::{Frontiers, Index, LoroTree, LoroValue, TreeID, ID};

use super::values::{field_i64, field_str};
use super::{ItemId, ItemKind, ModelError, Result, Workspace};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrashMark {
    pub by: String,
    pub at: i64,
}

/// Where an item stands with respect to the trash.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum TrashStatus {
    #[default]
    Live,
    Trashed {
        by: String,
        at: i64,
    },
    /// Trashed, but someone worked on it concurrently, so it is back; `reason` says why.
    Restored {
        by: String,
        at: i64,
        reason: String,
    },
}

impl TrashStatus {
    pub fn is_live(&self) -> bool {
        matches!(self, TrashStatus::Live)
    }
    pub fn is_trashed(&self) -> bool {
        matches!(self, TrashStatus::Trashed { .. })
    }
}

/// A row of `weft trash ls`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrashedItem {
    pub id: ItemId,
    pub kind: ItemKind,
    pub title: String,
    pub by: String,
    pub at: i64,
}

pub(super) struct TrashCache {
    frontiers: Frontiers,
    statuses: HashMap<ItemId, TrashStatus>,
}

struct Mark {
    by: String,
    at: i64,
    op: ID,
}

fn parse_mark(v: &LoroValue) -> Option<Mark> {
    let peer: u64 = field_str(v, "peer")?.parse().ok()?;
    let counter = i32::try_from(field_i64(v, "counter")?).ok()?;
    Some(Mark {
        by: field_str(v, "by").unwrap_or_default(),
        at: field_i64(v, "at").unwrap_or(0),
        op: ID::new(peer, counter),
    })
}

impl Workspace {
    /// Move an item (doc, board, column, card) and everything under it to the trash.
    pub fn trash(&self, id: ItemId) -> Result<()> {
        self.writable()?;
        self.ensure_live(id)?;
        self.write_trash_mark(id, self.actor(), self.now())?;
        self.commit();
        Ok(())
    }

    /// Write a trash mark for `id`, recording the id of the op that writes it (the next op of this peer
    /// once pending work is committed), so causality against the mark can be derived later.
    pub(super) fn write_trash_mark(&self, id: ItemId, by: &str, at: i64) -> Result<()> {
        let op = self.next_op_id();
        let mut mark = loro::LoroMapValue::default();
        {
            let m = mark.make_mut();
            m.insert("by".into(), by.into());
            m.insert("at".into(), at.into());
            m.insert("peer".into(), op.peer.to_string().into());
            m.insert("counter".into(), (op.counter as i64).into());
        }
        self.trash_map()
            .insert(&id.to_string(), LoroValue::Map(mark))?;
        Ok(())
    }

    /// Take an item out of the trash.
    pub fn restore(&self, id: ItemId) -> Result<()> {
        self.writable()?;
        if self.kind_of(id).is_none() {
            return Err(ModelError::NotFound {
                kind: "item",
                id: id.to_string(),
            });
        }
        let key = id.to_string();
        if self.trash_map().get(&key).is_none() {
            return Err(ModelError::NotTrashed(key));
        }
        self.trash_map().delete(&key)?;
        self.commit();
        Ok(())
    }

    /// Delete an item for good. Only from the trash; comments on it stay, as detached comments.
    pub fn purge(&self, id: ItemId) -> Result<()> {
        self.writable()?;
        let kind = self.kind_of(id).ok_or_else(|| ModelError::NotFound {
            kind: "item",
            id: id.to_string(),
        })?;
        if !self.trash_status(id).is_trashed() {
            return Err(ModelError::NotTrashed(id.to_string()));
        }
        self.tree_of(kind).delete(id.0)?;
        self.trash_map().delete(&id.to_string())?;
        self.commit();
        Ok(())
    }

    /// Whether an item exists and neither it nor anything above it is in the trash.
    pub fn is_live(&self, id: ItemId) -> bool {
        self.ensure_live(id).is_ok()
    }

    /// Error if the item or anything above it is in the trash.
    pub(crate) fn ensure_live(&self, id: ItemId) -> Result<()> {
        let Some(kind) = self.kind_of(id) else {
            return Err(ModelError::NotFound {
                kind: "item",
                id: id.to_string(),
            });
        };
        let tree = self.tree_of(kind);
        let mut node = Some(id.0);
        while let Some(n) = node {
            if self.trash_status(ItemId(n)).is_trashed() {
                return Err(ModelError::Trashed(id.to_string()));
            }
            node = match tree.parent(n) {
                Some(loro::TreeParentId::Node(p)) => Some(p),
                _ => None,
            };
        }
        Ok(())
    }

    /// Items in the trash (not those only under a trashed parent), newest first.
    pub fn trashed_items(&self) -> Vec<TrashedItem> {
        let mut out = Vec::new();
        for (id, status) in self.trash_statuses() {
            if let TrashStatus::Trashed { by, at } = status {
                if let Some(kind) = self.kind_of(id) {
                    out.push(TrashedItem {
                        id,
                        kind,
                        title: self.title(id).unwrap_or_default(),
                        by,
                        at,
                    });
                }
            }
        }
        out.sort_by_key(|i| std::cmp::Reverse((i.at, i.id)));
        out
    }

    /// The trash status of one item (not counting its parents).
    pub fn trash_status(&self, id: ItemId) -> TrashStatus {
        self.trash_statuses().remove(&id).unwrap_or_default()
    }

    /// Derived trash state of every marked item, cached per version of the document.
    fn trash_statuses(&self) -> HashMap<ItemId, TrashStatus> {
        let frontiers = self.loro().oplog_frontiers();
        let mut cache = self
            .trash_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = cache.as_ref() {
            if c.frontiers == frontiers {
                return c.statuses.clone();
            }
        }
        let mut statuses = HashMap::new();
        self.trash_map().for_each(|key, v| {
            let (Ok(id), loro::ValueOrContainer::Value(v)) = (key.parse::<ItemId>(), v) else {
                return;
            };
            if let Some(mark) = parse_mark(&v) {
                statuses.insert(id, self.derive_status(id, mark));
            }
        });
        *cache = Some(TrashCache {
            frontiers,
            statuses: statuses.clone(),
        });
        statuses
    }

    fn derive_status(&self, id: ItemId, mark: Mark) -> TrashStatus {
        match self.concurrent_activity(id, mark.op) {
            Some(reason) => TrashStatus::Restored {
                by: mark.by,
                at: mark.at,
                reason,
            },
            None => TrashStatus::Trashed {
                by: mark.by,
                at: mark.at,
            },
        }
    }

    /// Activity on the item (or anything under it) that is concurrent with the trash op `t`: not in its
    /// causal past, and not made after seeing it.
    fn concurrent_activity(&self, id: ItemId, t: ID) -> Option<String> {
        let doc = self.loro();
        let kind = self.kind_of(id)?;
        let subtree = subtree(&self.tree_of(kind), id.0);
        let diff = doc.find_id_spans_between(&Frontiers::from_id(t), &doc.oplog_frontiers());
        for (peer, span) in diff.forward.iter() {
            let mut ctr = span.start;
            while ctr < span.end {
                let change = doc.get_change(ID::new(*peer, ctr))?;
                let (cstart, cend) = (change.id.counter, change.id.counter + change.len as i32);
                let (s, e) = (ctr.max(cstart), span.end.min(cend));
                let same_txn = change.id.peer == t.peer && cstart <= t.counter && t.counter < cend;
                let saw_trash = same_txn
                    || doc
                        .frontiers_to_vv(&change.deps)
                        .is_some_and(|vv| vv.includes_id(t));
                if !saw_trash {
                    let touched =
                        doc.get_changed_containers_in(ID::new(*peer, s), (e - s) as usize);
                    for cid in touched {
                        if let Some(reason) = self.activity_on(&cid, &subtree) {
                            return Some(reason);
                        }
                    }
                }
                if e <= ctr {
                    break;
                }
                ctr = e;
            }
        }
        None
    }

    fn activity_on(&self, cid: &loro::ContainerID, subtree: &HashSet<TreeID>) -> Option<String> {
        let path = self.loro().get_path_to_container(cid)?;
        for (_, index) in &path {
            if let Index::Node(n) = index {
                if subtree.contains(n) {
                    return Some("edited on another device while it was being trashed".into());
                }
            }
        }
        // Paths run from the root: [(comments, Key("comments")), (comment map, Key(comment id)), …].
        let (root, _) = path.first()?;
        if !root.is_root() || root.name().as_str() != super::COMMENTS {
            return None;
        }
        let (_, Index::Key(key)) = path.get(1)? else {
            return None;
        };
        let comment = super::CommentId(key.to_string());
        let c = self.comment(&comment).ok()?;
        let target: ItemId = c.target.parse().ok()?;
        if subtree.contains(&target.0) {
            let who = if c.author.is_empty() {
                "someone".into()
            } else {
                c.author
            };
            return Some(format!("{who} commented on it while it was being trashed"));
        }
        None
    }

    /// Every node in the trees that is marked in the trash, by the legacy (schema 1) field.
    pub(super) fn legacy_trash_marks(&self) -> Vec<(ItemId, TrashMark)> {
        let mut out = Vec::new();
        for tree in [self.docs_tree(), self.boards_tree()] {
            for node in tree.nodes() {
                let Ok(meta) = tree.get_meta(node) else {
                    continue;
                };
                if let Some(loro::ValueOrContainer::Value(v)) = meta.get("trashed") {
                    if let LoroValue::Map(_) = v {
                        out.push((
                            ItemId(node),
                            TrashMark {
                                by: field_str(&v, "by").unwrap_or_default(),
                                at: field_i64(&v, "at").unwrap_or(0),
                            },
                        ));
                    }
                }
            }
        }
        out
    }
}

fn subtree(tree: &LoroTree, root: TreeID) -> HashSet<TreeID> {
    let mut out = HashSet::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if out.insert(n) {
            stack.extend(tree.children(n).unwrap_or_default());
        }
    }
    out
}
