//! A whole workspace as plain data: what `weft export` writes and `weft import` reads. Ids in an export
//! are the source workspace's; importing creates new items and maps parents and comment targets over.

use std::collections::HashMap;

use loro::{LoroMap, LoroText};

use super::boards::CardFields;
use super::comments::CommentId;
use super::{ItemId, ItemKind, ModelError, Result, TrashMark, TrashStatus, Workspace};

pub const EXPORT_FORMAT: &str = "weft-export";
const EXPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportedComment {
    pub id: String,
    #[serde(default)]
    pub parent: Option<String>,
    pub author: String,
    pub body: String,
    pub created_at: i64,
    #[serde(default)]
    pub resolved: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub anchor: Option<usize>,
    #[serde(default)]
    pub context: String,
    /// Only for detached comments: the id of the item they were on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// What an export says about an attached file: its description, not its content or its key (an
/// export is plain text on disk; the content stays encrypted in the workspace's bucket).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportedAttachment {
    pub name: String,
    pub size: u64,
    #[serde(default)]
    pub mime: String,
    /// SHA-256 of the content, to check a copy of the file against.
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub added_by: String,
    #[serde(default)]
    pub added_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<TrashMark>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportedItem {
    pub id: String,
    pub kind: ItemKind,
    #[serde(default)]
    pub parent: Option<String>,
    pub title: String,
    /// Doc body or card description (Markdown).
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wip_limit: Option<u32>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed: Option<TrashMark>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<ExportedComment>,
    /// Descriptions of attached files (docs and cards). Import does not bring them back: the
    /// content belongs to the source workspace's bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ExportedAttachment>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkspaceExport {
    pub format: String,
    pub version: u32,
    pub name: String,
    /// Parents before children, siblings in order: docs first, then boards.
    pub items: Vec<ExportedItem>,
    #[serde(default)]
    pub detached_comments: Vec<ExportedComment>,
}

/// What an import created.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    pub docs: usize,
    pub boards: usize,
    pub columns: usize,
    pub cards: usize,
    pub comments: usize,
}

fn exported_comment(c: super::CommentView, with_target: bool) -> ExportedComment {
    ExportedComment {
        id: c.id.to_string(),
        parent: c.parent.map(|p| p.to_string()),
        author: c.author,
        body: c.body,
        created_at: c.created_at,
        resolved: c.resolved,
        deleted: c.deleted,
        anchor: c.anchor,
        context: c.context,
        target: with_target.then_some(c.target),
    }
}

impl Workspace {
    /// Everything in the workspace, trash included, as plain data.
    pub fn export_all(&self) -> WorkspaceExport {
        let all_comments = self.all_comments();
        let comments_for = |id: ItemId| -> Vec<ExportedComment> {
            let key = id.to_string();
            all_comments
                .iter()
                .filter(|c| c.target == key)
                .cloned()
                .map(|c| exported_comment(c, false))
                .collect()
        };
        let attachments_of = |id: ItemId| -> Vec<ExportedAttachment> {
            self.all_attachments(id)
                .into_iter()
                .map(|a| ExportedAttachment {
                    name: a.name,
                    size: a.size,
                    mime: a.mime,
                    sha256: a.sha256,
                    added_by: a.added_by,
                    added_at: a.added_at,
                    removed: a.removed,
                })
                .collect()
        };
        let trashed = |status: &TrashStatus| match status {
            TrashStatus::Trashed { by, at } => Some(TrashMark {
                by: by.clone(),
                at: *at,
            }),
            _ => None,
        };
        let mut items = Vec::new();
        for d in self.docs(true) {
            items.push(ExportedItem {
                id: d.id.to_string(),
                kind: ItemKind::Doc,
                parent: d.parent.map(|p| p.to_string()),
                title: d.title,
                body: self.body(d.id).unwrap_or_default(),
                labels: vec![],
                assignees: vec![],
                due: None,
                wip_limit: None,
                created_by: d.created_by,
                created_at: d.created_at,
                trashed: trashed(&d.trash),
                comments: comments_for(d.id),
                attachments: attachments_of(d.id),
            });
        }
        for b in self.boards(true) {
            items.push(ExportedItem {
                id: b.id.to_string(),
                kind: ItemKind::Board,
                parent: None,
                title: b.name.clone(),
                body: String::new(),
                labels: vec![],
                assignees: vec![],
                due: None,
                wip_limit: None,
                created_by: String::new(),
                created_at: 0,
                trashed: trashed(&b.trash),
                comments: vec![],
                attachments: vec![],
            });
            for col in b.columns {
                items.push(ExportedItem {
                    id: col.id.to_string(),
                    kind: ItemKind::Column,
                    parent: Some(b.id.to_string()),
                    title: col.name,
                    body: String::new(),
                    labels: vec![],
                    assignees: vec![],
                    due: None,
                    wip_limit: col.wip_limit,
                    created_by: String::new(),
                    created_at: 0,
                    trashed: trashed(&col.trash),
                    comments: vec![],
                    attachments: vec![],
                });
                for card in col.cards {
                    items.push(ExportedItem {
                        id: card.id.to_string(),
                        kind: ItemKind::Card,
                        parent: Some(col.id.to_string()),
                        title: card.title,
                        body: self.body(card.id).unwrap_or_default(),
                        labels: card.labels,
                        assignees: card.assignees,
                        due: card.due,
                        wip_limit: None,
                        created_by: card.created_by,
                        created_at: card.created_at,
                        trashed: trashed(&card.trash),
                        comments: comments_for(card.id),
                        attachments: attachments_of(card.id),
                    });
                }
            }
        }
        WorkspaceExport {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            name: self.name(),
            items,
            detached_comments: self
                .detached_comments()
                .into_iter()
                .map(|c| exported_comment(c, true))
                .collect(),
        }
    }

    /// Add everything in `export` to this workspace as new items. Checks the whole export first, so a
    /// broken one adds nothing.
    pub fn import_all(&self, export: &WorkspaceExport) -> Result<ImportReport> {
        self.writable()?;
        validate(export)?;
        let mut ids: HashMap<&str, ItemId> = HashMap::new();
        let mut report = ImportReport::default();
        for item in &export.items {
            let parent = item.parent.as_deref().map(|p| ids[p]);
            let id = match item.kind {
                ItemKind::Doc => {
                    report.docs += 1;
                    let id = self.create_doc(&item.title, parent)?;
                    if !item.body.is_empty() {
                        self.set_body(id, &item.body)?;
                    }
                    id
                }
                ItemKind::Board => {
                    report.boards += 1;
                    self.create_board(&item.title, &[])?
                }
                ItemKind::Column => {
                    report.columns += 1;
                    self.add_column(
                        ids[item.parent.as_deref().unwrap_or_default()],
                        &item.title,
                        item.wip_limit,
                    )?
                }
                ItemKind::Card => {
                    report.cards += 1;
                    let fields = CardFields {
                        title: item.title.clone(),
                        labels: item.labels.clone(),
                        assignees: item.assignees.clone(),
                        due: item.due.clone(),
                    };
                    self.add_card(
                        ids[item.parent.as_deref().unwrap_or_default()],
                        &fields,
                        &item.body,
                    )?
                }
            };
            ids.insert(item.id.as_str(), id);
            let mut comment_ids: HashMap<&str, CommentId> = HashMap::new();
            for c in &item.comments {
                let parent = c
                    .parent
                    .as_deref()
                    .and_then(|p| comment_ids.get(p))
                    .cloned();
                let new = self.write_comment(&id.to_string(), c, parent.as_ref())?;
                comment_ids.insert(c.id.as_str(), new);
                report.comments += 1;
            }
        }
        // Trash after everything exists, children before parents do not matter: marks are independent.
        for item in &export.items {
            if let Some(mark) = &item.trashed {
                self.write_trash_mark(ids[item.id.as_str()], &mark.by, mark.at)?;
            }
        }
        let mut comment_ids: HashMap<&str, CommentId> = HashMap::new();
        for c in &export.detached_comments {
            let parent = c
                .parent
                .as_deref()
                .and_then(|p| comment_ids.get(p))
                .cloned();
            let target = c.target.clone().unwrap_or_default();
            let new = self.write_comment(&target, c, parent.as_ref())?;
            comment_ids.insert(c.id.as_str(), new);
            report.comments += 1;
        }
        self.commit();
        Ok(report)
    }

    /// Write a comment as it was (author, time, state), for import.
    fn write_comment(
        &self,
        target: &str,
        c: &ExportedComment,
        parent: Option<&CommentId>,
    ) -> Result<CommentId> {
        let id = self.next_op_id().to_string();
        let map: LoroMap = self.comments_map().insert_container(&id, LoroMap::new())?;
        map.insert("target", target)?;
        if let Some(p) = parent {
            map.insert("parent", p.as_str())?;
        }
        if let (Some(pos), Ok(t)) = (c.anchor, target.parse::<ItemId>()) {
            if let Ok(Some(text)) = self.body_text_existing(t) {
                if let Some(cur) =
                    text.get_cursor(pos.min(text.len_unicode()), loro::cursor::Side::Middle)
                {
                    map.insert("anchor", cur.encode())?;
                }
            }
        }
        map.insert("author", c.author.as_str())?;
        map.insert("created_at", c.created_at)?;
        map.insert("context", c.context.as_str())?;
        map.insert("resolved", c.resolved)?;
        if c.deleted {
            map.insert("deleted", true)?;
        }
        let t = map.insert_container("body", LoroText::new())?;
        t.insert(0, &c.body)?;
        Ok(CommentId(id))
    }
}

/// The shape checks an import needs before it writes anything.
fn validate(export: &WorkspaceExport) -> Result<()> {
    let bad = |why: String| ModelError::Invalid {
        what: "export",
        why,
    };
    if export.format != EXPORT_FORMAT {
        return Err(bad(format!(
            "format is {:?}, expected {EXPORT_FORMAT:?}",
            export.format
        )));
    }
    if export.version > EXPORT_VERSION {
        return Err(bad(format!(
            "written by a newer weft (export version {}, this weft reads up to {EXPORT_VERSION})",
            export.version
        )));
    }
    let mut kinds: HashMap<&str, ItemKind> = HashMap::new();
    for item in &export.items {
        let parent_kind = match item.parent.as_deref() {
            None => None,
            Some(p) => Some(*kinds.get(p).ok_or_else(|| {
                bad(format!(
                    "item {} ({:?}) names parent {p}, which does not come before it",
                    item.id, item.title
                ))
            })?),
        };
        let ok = matches!(
            (item.kind, parent_kind),
            (ItemKind::Doc, None | Some(ItemKind::Doc))
                | (ItemKind::Board, None)
                | (ItemKind::Column, Some(ItemKind::Board))
                | (ItemKind::Card, Some(ItemKind::Column))
        );
        if !ok {
            return Err(bad(format!(
                "{} {} ({:?}) cannot sit under {}",
                item.kind,
                item.id,
                item.title,
                parent_kind.map(|k| k.as_str()).unwrap_or("the top level")
            )));
        }
        super::values::clean_title(&item.title)
            .map_err(|e| bad(format!("item {}: {e}", item.id)))?;
        if kinds.insert(item.id.as_str(), item.kind).is_some() {
            return Err(bad(format!("item id {} appears twice", item.id)));
        }
    }
    Ok(())
}
