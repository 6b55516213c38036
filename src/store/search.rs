//! The full-text index (FTS5) over titles, bodies and comments, kept current from Loro events: only
//! items whose text changed are re-indexed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use loro::event::{Diff, DiffEvent};
use loro::{Index, LoroDoc, Subscription};
use rusqlite::{params, Connection};

use crate::model::{CommentId, ItemId, ItemKind, Workspace, COMMENTS_ROOT};

/// What needs re-indexing.
#[derive(Debug, Default)]
pub(super) struct Dirty {
    items: HashSet<ItemId>,
    comments: HashSet<String>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.comments.is_empty()
    }
    pub fn merge(&mut self, other: Dirty) {
        self.items.extend(other.items);
        self.comments.extend(other.comments);
    }
    pub fn everything(ws: &Workspace) -> Self {
        let mut d = Dirty::default();
        for doc in ws.docs(true) {
            d.items.insert(doc.id);
        }
        for b in ws.boards(true) {
            d.items.insert(b.id);
            for c in b.columns {
                d.items.insert(c.id);
                d.items.extend(c.cards.iter().map(|card| card.id));
            }
        }
        for c in ws.all_comments() {
            d.comments.insert(c.id.to_string());
        }
        d
    }
}

/// Record which items and comments each change touches.
pub(super) fn track_dirty(doc: &LoroDoc, dirty: Arc<Mutex<Dirty>>) -> Subscription {
    doc.subscribe_root(Arc::new(move |event: DiffEvent| {
        let mut d = dirty.lock().unwrap_or_else(|p| p.into_inner());
        for cd in &event.events {
            // Paths run from the root: [(root, Key(root name)), (child, its index in the parent), …].
            for (_, index) in cd.path {
                if let Index::Node(t) = index {
                    d.items.insert(ItemId(*t));
                }
            }
            if let [(root, _), (_, Index::Key(k)), ..] = cd.path {
                if root.is_root() && root.name().as_str() == COMMENTS_ROOT {
                    d.comments.insert(k.to_string());
                }
            }
            match &cd.diff {
                Diff::Tree(tree) => {
                    d.items.extend(tree.diff.iter().map(|i| ItemId(i.target)));
                }
                Diff::Map(map)
                    if cd.target.is_root() && cd.target.name().as_str() == COMMENTS_ROOT =>
                {
                    d.comments.extend(map.updated.keys().map(|k| k.to_string()));
                }
                _ => {}
            }
        }
    }))
}

pub(super) fn reindex(conn: &Connection, ws: &Workspace, dirty: &Dirty) -> rusqlite::Result<()> {
    let mut del = conn.prepare_cached("DELETE FROM search_index WHERE item_id = ?1")?;
    let mut ins = conn.prepare_cached(
        "INSERT INTO search_index (item_id, kind, title, body) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for id in &dirty.items {
        let key = id.to_string();
        del.execute([&key])?;
        let Some(kind) = ws.kind_of(*id) else {
            continue;
        };
        let title = ws.title(*id).unwrap_or_default();
        let body = match kind {
            ItemKind::Doc | ItemKind::Card => ws.body(*id).unwrap_or_default(),
            _ => String::new(),
        };
        ins.execute(params![key, kind.as_str(), title, body])?;
    }
    for key in &dirty.comments {
        del.execute([key])?;
        let Ok(id) = CommentId::parse(key) else {
            continue;
        };
        let Ok(c) = ws.comment(&id) else { continue };
        if !c.deleted {
            ins.execute(params![key, "comment", c.context, c.body])?;
        }
    }
    Ok(())
}

/// One search result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SearchHit {
    pub id: String,
    pub kind: String,
    pub title: String,
    /// Matching text with the hit in [brackets].
    pub snippet: String,
    /// For a comment: the doc or card it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Turn what a person typed into an FTS5 query that cannot be a syntax error: every word quoted, all
/// required, the last one as a prefix.
fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!("{}*", words.join(" ")))
}

pub(super) fn query(
    conn: &Connection,
    ws: &Workspace,
    input: &str,
    limit: usize,
) -> rusqlite::Result<Vec<SearchHit>> {
    let Some(q) = fts_query(input) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT item_id, kind, title, snippet(search_index, 3, '[', ']', '…', 12)
         FROM search_index WHERE search_index MATCH ?1 ORDER BY rank LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![q, (limit * 4 + 16) as i64], |r| {
        Ok(SearchHit {
            id: r.get(0)?,
            kind: r.get(1)?,
            title: r.get(2)?,
            snippet: r.get(3)?,
            target: None,
        })
    })?;
    let mut out = Vec::new();
    for hit in rows {
        let mut hit = hit?;
        let live = if hit.kind == "comment" {
            match CommentId::parse(&hit.id)
                .ok()
                .and_then(|c| ws.comment(&c).ok())
            {
                Some(c) => {
                    let target_live = c.detached
                        || c.target
                            .parse::<ItemId>()
                            .map(|t| ws.is_live(t))
                            .unwrap_or(false);
                    hit.target = Some(c.target);
                    !c.deleted && target_live
                }
                None => false,
            }
        } else {
            hit.id
                .parse::<ItemId>()
                .map(|t| ws.is_live(t))
                .unwrap_or(false)
        };
        if live {
            out.push(hit);
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}
