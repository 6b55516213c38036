//! Kanban boards: a tree of board → column → card. A tree, because cards move between columns and a
//! movable list only moves within one list; fractional indexes keep the order.

use loro::{LoroTree, TreeID, TreeParentId};

use super::values::{clean_title, get_i64, get_str, get_str_list, str_list};
use super::{ItemId, ItemKind, ModelError, Result, TrashStatus, Workspace};

/// Everything a card holds besides its description text.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardFields {
    pub title: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    #[serde(default)]
    pub due: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CardView {
    pub id: ItemId,
    pub board: ItemId,
    pub column: ItemId,
    pub title: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub due: Option<String>,
    pub comments: usize,
    pub created_by: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "TrashStatus::is_live")]
    pub trash: TrashStatus,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ColumnView {
    pub id: ItemId,
    pub name: String,
    pub wip_limit: Option<u32>,
    pub cards: Vec<CardView>,
    #[serde(skip_serializing_if = "TrashStatus::is_live")]
    pub trash: TrashStatus,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BoardView {
    pub id: ItemId,
    pub name: String,
    pub columns: Vec<ColumnView>,
    #[serde(skip_serializing_if = "TrashStatus::is_live")]
    pub trash: TrashStatus,
}

/// A due date is a calendar day, `YYYY-MM-DD`.
fn check_due(due: &Option<String>) -> Result<Option<String>> {
    let Some(d) = due else { return Ok(None) };
    let d = d.trim();
    if d.is_empty() {
        return Ok(None);
    }
    let bad = || ModelError::Invalid {
        what: "due date",
        why: format!("{d:?} is not a date like 2026-12-31"),
    };
    let parts: Vec<&str> = d.split('-').collect();
    let [y, m, day] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let (y, m, day): (i32, u8, u8) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        day.parse().map_err(|_| bad())?,
    );
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    time::Date::from_calendar_date(y, month, day).map_err(|_| bad())?;
    Ok(Some(d.to_string()))
}

fn clean_list(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let t = i.trim();
        if !t.is_empty() && !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

impl Workspace {
    /// Create a board with the given columns, in order.
    pub fn create_board(&self, name: &str, columns: &[&str]) -> Result<ItemId> {
        self.writable()?;
        let name = clean_title(name)?;
        let tree = self.boards_tree();
        let board = tree.create(None)?;
        let meta = tree.get_meta(board)?;
        meta.insert("title", name)?;
        meta.insert("created_by", self.actor())?;
        meta.insert("created_at", self.now())?;
        for c in columns {
            let col = tree.create(board)?;
            let m = tree.get_meta(col)?;
            m.insert("title", clean_title(c)?)?;
            m.insert("created_at", self.now())?;
        }
        self.commit();
        Ok(ItemId(board))
    }

    /// Append a column to a board.
    pub fn add_column(&self, board: ItemId, name: &str, wip_limit: Option<u32>) -> Result<ItemId> {
        self.writable()?;
        self.expect_kind(board, ItemKind::Board)?;
        self.ensure_live(board)?;
        let tree = self.boards_tree();
        let col = tree.create(board.0)?;
        let m = tree.get_meta(col)?;
        m.insert("title", clean_title(name)?)?;
        m.insert("created_at", self.now())?;
        if let Some(w) = wip_limit {
            m.insert("wip_limit", w as i64)?;
        }
        self.commit();
        Ok(ItemId(col))
    }

    /// Set or clear a column's work-in-progress limit.
    pub fn set_wip_limit(&self, column: ItemId, wip_limit: Option<u32>) -> Result<()> {
        self.writable()?;
        self.expect_kind(column, ItemKind::Column)?;
        let m = self.node_meta(column)?;
        match wip_limit {
            Some(w) => m.insert("wip_limit", w as i64)?,
            None => m.delete("wip_limit")?,
        }
        self.commit();
        Ok(())
    }

    /// Add a card at the bottom of `column`.
    pub fn add_card(
        &self,
        column: ItemId,
        fields: &CardFields,
        description: &str,
    ) -> Result<ItemId> {
        self.writable()?;
        self.expect_kind(column, ItemKind::Column)?;
        self.ensure_live(column)?;
        let title = clean_title(&fields.title)?;
        let due = check_due(&fields.due)?;
        let tree = self.boards_tree();
        let card = tree.create(column.0)?;
        let m = tree.get_meta(card)?;
        m.insert("title", title)?;
        m.insert("labels", str_list(&clean_list(&fields.labels)))?;
        m.insert("assignees", str_list(&clean_list(&fields.assignees)))?;
        if let Some(d) = due {
            m.insert("due", d)?;
        }
        m.insert("created_by", self.actor())?;
        m.insert("created_at", self.now())?;
        if !description.is_empty() {
            let text = m.ensure_mergeable_text("description")?;
            text.insert(0, description)?;
        }
        self.commit();
        Ok(ItemId(card))
    }

    /// Change a card's fields; each field is last-writer-wins on its own, so only changed ones are
    /// written (a concurrent edit of another field is kept).
    pub fn edit_card(&self, card: ItemId, fields: &CardFields) -> Result<()> {
        self.writable()?;
        self.expect_kind(card, ItemKind::Card)?;
        self.ensure_live(card)?;
        let old = self.card(card)?;
        let m = self.node_meta(card)?;
        let title = clean_title(&fields.title)?;
        if title != old.title {
            m.insert("title", title)?;
        }
        let labels = clean_list(&fields.labels);
        if labels != old.labels {
            m.insert("labels", str_list(&labels))?;
        }
        let assignees = clean_list(&fields.assignees);
        if assignees != old.assignees {
            m.insert("assignees", str_list(&assignees))?;
        }
        let due = check_due(&fields.due)?;
        if due != old.due {
            match due {
                Some(d) => m.insert("due", d)?,
                None => m.delete("due")?,
            }
        }
        self.commit();
        Ok(())
    }

    /// Move a card to `column` (on any board) at `index` among that column's cards (`None` = bottom).
    pub fn move_card(&self, card: ItemId, column: ItemId, index: Option<usize>) -> Result<()> {
        self.writable()?;
        self.expect_kind(card, ItemKind::Card)?;
        self.expect_kind(column, ItemKind::Column)?;
        self.ensure_live(card)?;
        self.ensure_live(column)?;
        let tree = self.boards_tree();
        let siblings = tree.children(column.0).unwrap_or_default();
        let others = siblings.iter().filter(|n| **n != card.0).count();
        let index = index.unwrap_or(others).min(others);
        tree.mov_to(card.0, column.0, index)?;
        self.commit();
        Ok(())
    }

    /// Move a column left or right within its board.
    pub fn move_column(&self, column: ItemId, index: usize) -> Result<()> {
        self.writable()?;
        self.expect_kind(column, ItemKind::Column)?;
        let tree = self.boards_tree();
        let Some(TreeParentId::Node(board)) = tree.parent(column.0) else {
            return Err(ModelError::Corrupt(format!("column {column} has no board")));
        };
        let others = tree
            .children(board)
            .unwrap_or_default()
            .len()
            .saturating_sub(1);
        tree.mov_to(column.0, board, index.min(others))?;
        self.commit();
        Ok(())
    }

    /// One card.
    pub fn card(&self, id: ItemId) -> Result<CardView> {
        self.expect_kind(id, ItemKind::Card)?;
        let tree = self.boards_tree();
        Ok(self.card_view(&tree, id.0))
    }

    fn card_view(&self, tree: &LoroTree, node: TreeID) -> CardView {
        let meta = tree.get_meta(node).ok();
        let column = match tree.parent(node) {
            Some(TreeParentId::Node(c)) => c,
            _ => node,
        };
        let board = match tree.parent(column) {
            Some(TreeParentId::Node(b)) => b,
            _ => column,
        };
        let s = |k: &str| meta.as_ref().and_then(|m| get_str(m, k));
        CardView {
            id: ItemId(node),
            board: ItemId(board),
            column: ItemId(column),
            title: s("title").unwrap_or_default(),
            labels: meta
                .as_ref()
                .map(|m| get_str_list(m, "labels"))
                .unwrap_or_default(),
            assignees: meta
                .as_ref()
                .map(|m| get_str_list(m, "assignees"))
                .unwrap_or_default(),
            due: s("due"),
            comments: self.comment_count(ItemId(node)),
            created_by: s("created_by").unwrap_or_default(),
            created_at: meta
                .as_ref()
                .and_then(|m| get_i64(m, "created_at"))
                .unwrap_or(0),
            trash: self.trash_status(ItemId(node)),
        }
    }

    /// A board with its columns and cards; trashed columns and cards left out unless asked for.
    pub fn board(&self, id: ItemId, include_trashed: bool) -> Result<BoardView> {
        self.expect_kind(id, ItemKind::Board)?;
        let tree = self.boards_tree();
        Ok(self.board_view(&tree, id.0, include_trashed))
    }

    fn board_view(&self, tree: &LoroTree, board: TreeID, include_trashed: bool) -> BoardView {
        let mut columns = Vec::new();
        for col in tree.children(board).unwrap_or_default() {
            let trash = self.trash_status(ItemId(col));
            if trash.is_trashed() && !include_trashed {
                continue;
            }
            let meta = tree.get_meta(col).ok();
            let cards = tree
                .children(col)
                .unwrap_or_default()
                .into_iter()
                .map(|c| self.card_view(tree, c))
                .filter(|c| include_trashed || !c.trash.is_trashed())
                .collect();
            columns.push(ColumnView {
                id: ItemId(col),
                name: meta
                    .as_ref()
                    .and_then(|m| get_str(m, "title"))
                    .unwrap_or_default(),
                wip_limit: meta
                    .as_ref()
                    .and_then(|m| get_i64(m, "wip_limit"))
                    .and_then(|w| u32::try_from(w).ok()),
                cards,
                trash,
            });
        }
        let meta = tree.get_meta(board).ok();
        BoardView {
            id: ItemId(board),
            name: meta
                .as_ref()
                .and_then(|m| get_str(m, "title"))
                .unwrap_or_default(),
            columns,
            trash: self.trash_status(ItemId(board)),
        }
    }

    /// All boards in order; trashed ones (and trashed columns and cards) left out unless asked for.
    pub fn boards(&self, include_trashed: bool) -> Vec<BoardView> {
        let tree = self.boards_tree();
        tree.roots()
            .into_iter()
            .map(|b| self.board_view(&tree, b, include_trashed))
            .filter(|b| include_trashed || !b.trash.is_trashed())
            .collect()
    }
}
