//! The workspace on Loro: docs, boards, cards, comments, trash, attachments.
//!
//! Pure: no I/O, no clock of its own (the caller supplies one), no async. Every caller goes through the
//! typed API here; nobody else names a Loro container by string. Root containers are the permission
//! domains (see DESIGN.md): `meta` (Map), `docs` (Tree), `boards` (Tree), `comments` (Map), `trash` (Map),
//! `profiles` (Map, see `profiles.rs`).
//! Attachments live in their doc's or card's node meta (see `attachments.rs`).

mod attachments;
mod boards;
mod comments;
mod docs;
mod export;
mod history;
mod inspect;
mod profiles;
mod schema;
mod trash;
mod values;

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use loro::{LoroDoc, LoroMap, LoroText, LoroTree, TreeID, VersionVector};

pub use attachments::{
    chunk_count, clean_attachment_name, guess_mime, human_size, safe_file_name, AttachmentId,
    AttachmentMeta, AttachmentView, DEFAULT_MIME, MAX_CHUNK_SIZE,
};
pub use boards::{BoardView, CardFields, CardView, ColumnView};
pub use comments::{CommentId, CommentView};
pub use docs::DocView;
pub use export::{
    ExportedAttachment, ExportedComment, ExportedItem, ImportReport, WorkspaceExport, EXPORT_FORMAT,
};
pub use history::DocVersion;
pub use profiles::{
    check_display_name, profile_owner_key, short_address, People, MAX_NAME_CHARS, NAME_FIELD,
    PROFILES_ROOT,
};
pub use schema::CURRENT_SCHEMA;
pub use trash::{TrashMark, TrashStatus, TrashedItem};

pub(crate) const META: &str = "meta";
pub(crate) const DOCS: &str = "docs";
pub(crate) const BOARDS: &str = "boards";
pub(crate) const COMMENTS: &str = "comments";
/// Name of the root map of comments (for code that reads change paths).
pub const COMMENTS_ROOT: &str = COMMENTS;
pub(crate) const TRASH: &str = "trash";

/// What went wrong with a model operation, in the domain's words.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no {kind} with id {id}")]
    NotFound { kind: &'static str, id: String },
    #[error("{id} is a {actual}, not a {expected}")]
    WrongKind {
        id: String,
        expected: &'static str,
        actual: &'static str,
    },
    #[error("{0} is in the trash; restore it first")]
    Trashed(String),
    #[error("{0} is not in the trash; only trashed items can be purged")]
    NotTrashed(String),
    #[error("this workspace was written by a newer weft (schema {found}, this weft knows {known}); it is open read-only — upgrade weft to edit it")]
    ReadOnly { found: i64, known: i64 },
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("not a valid weft workspace: {0}")]
    Corrupt(String),
    #[error("CRDT error: {0}")]
    Loro(#[from] loro::LoroError),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// The two carriers of a shared workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// The bucket that keeps every change.
    Bucket,
    /// The relay that carries changes live.
    Relay,
}

impl Carrier {
    fn key(self) -> &'static str {
        match self {
            Carrier::Bucket => "bucket_url",
            Carrier::Relay => "relay_url",
        }
    }
}

/// The id of a doc, board, column or card: a node in the `docs` or `boards` tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub TreeID);

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ItemId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        TreeID::try_from(s.trim())
            .map(ItemId)
            .map_err(|_| ModelError::Invalid {
                what: "item id",
                why: format!("{s:?} is not of the form COUNTER@PEER"),
            })
    }
}

impl serde::Serialize for ItemId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What kind of thing an [`ItemId`] names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Doc,
    Board,
    Column,
    Card,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Doc => "doc",
            ItemKind::Board => "board",
            ItemKind::Column => "column",
            ItemKind::Card => "card",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Source of "now" in milliseconds since the Unix epoch. Fixed in tests so output is deterministic.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(i64),
}

impl Clock {
    pub fn now_ms(self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            Clock::Fixed(t) => t,
        }
    }
}

/// One workspace: a LoroDoc plus who is writing and how to read the clock.
pub struct Workspace {
    doc: LoroDoc,
    actor: String,
    clock: Clock,
    read_only: Option<i64>,
    trash_cache: Mutex<Option<trash::TrashCache>>,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("name", &self.name())
            .field("actor", &self.actor)
            .field("peer", &self.doc.peer_id())
            .finish()
    }
}

impl Workspace {
    /// A brand-new workspace named `name`, written by `actor` (a wallet address, or "local").
    pub fn create(name: &str, actor: &str, clock: Clock) -> Result<Self> {
        Self::create_in(LoroDoc::new(), name, actor, clock)
    }

    /// As [`create`](Self::create), in `doc`: a new, empty document whose Loro peer id the
    /// caller chose (a shared workspace derives it from the device).
    pub fn create_in(doc: LoroDoc, name: &str, actor: &str, clock: Clock) -> Result<Self> {
        let ws = Self::wrap(doc, actor, clock);
        let meta = ws.meta();
        meta.insert("name", name)?;
        meta.insert("schema", CURRENT_SCHEMA)?;
        meta.insert("created_at", clock.now_ms())?;
        meta.insert("created_by", actor)?;
        ws.doc.commit();
        Ok(ws)
    }

    /// Wrap an existing document (loaded from a snapshot and updates) and run local migrations.
    ///
    /// A workspace written by a newer weft opens read-only instead of being rewritten.
    pub fn open(doc: LoroDoc, actor: &str, clock: Clock) -> Result<Self> {
        let mut ws = Self::wrap(doc, actor, clock);
        ws.read_only = schema::migrate(&ws)?;
        Ok(ws)
    }

    fn wrap(doc: LoroDoc, actor: &str, clock: Clock) -> Self {
        // Fractional indexes keep sibling order (cards in a column, pages under a page). They are a
        // per-instance setting in Loro, so every instance turns them on.
        doc.get_tree(DOCS).enable_fractional_index(0);
        doc.get_tree(BOARDS).enable_fractional_index(0);
        Workspace {
            doc,
            actor: actor.to_string(),
            clock,
            read_only: None,
            trash_cache: Mutex::new(None),
        }
    }

    /// The underlying CRDT document, for the store and sync layers (export, import, subscriptions).
    pub fn loro(&self) -> &LoroDoc {
        &self.doc
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn set_actor(&mut self, actor: &str) {
        self.actor = actor.to_string();
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// `Some(schema)` when this workspace was written by a newer weft and is open read-only.
    pub fn read_only(&self) -> Option<i64> {
        self.read_only
    }

    pub fn name(&self) -> String {
        values::get_str(&self.meta(), "name").unwrap_or_default()
    }

    pub fn schema(&self) -> i64 {
        values::get_i64(&self.meta(), "schema").unwrap_or(0)
    }

    /// Where the workspace's changes are kept (`Carrier::Bucket`) or carried live
    /// (`Carrier::Relay`), as its admins set it for every member.
    pub fn carrier(&self, which: Carrier) -> Option<String> {
        values::get_str(&self.meta(), which.key()).filter(|u| !u.is_empty())
    }

    /// Set (or with `None`, clear) a carrier's URL for every member. A settings write: only
    /// admins and the owner may, and other members' devices refuse it from anyone else.
    pub fn set_carrier(&self, which: Carrier, url: Option<&str>) -> Result<()> {
        self.writable()?;
        match url {
            Some(url) => self.meta().insert(which.key(), url)?,
            None => self.meta().delete(which.key())?,
        }
        Ok(())
    }

    pub fn version(&self) -> VersionVector {
        self.doc.oplog_vv()
    }

    /// Commit whatever is pending as one change (one undo step, one envelope).
    pub fn commit(&self) {
        self.doc.commit();
    }

    /// The id the next op of this replica will get, once pending work is committed: comment ids and
    /// trash marks are named after the op that writes them, unique without coordination.
    pub(crate) fn next_op_id(&self) -> loro::ID {
        self.commit();
        let peer = self.loro().peer_id();
        let counter = self.loro().oplog_vv().get(&peer).copied().unwrap_or(0);
        loro::ID::new(peer, counter)
    }

    pub(crate) fn meta(&self) -> LoroMap {
        self.doc.get_map(META)
    }
    pub(crate) fn docs_tree(&self) -> LoroTree {
        self.doc.get_tree(DOCS)
    }
    pub(crate) fn boards_tree(&self) -> LoroTree {
        self.doc.get_tree(BOARDS)
    }
    pub(crate) fn comments_map(&self) -> LoroMap {
        self.doc.get_map(COMMENTS)
    }
    pub(crate) fn trash_map(&self) -> LoroMap {
        self.doc.get_map(TRASH)
    }

    pub(crate) fn writable(&self) -> Result<()> {
        match self.read_only {
            Some(found) => Err(ModelError::ReadOnly {
                found,
                known: CURRENT_SCHEMA,
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// What an id names, if it exists in either tree (trashed items included, purged ones not).
    pub fn kind_of(&self, id: ItemId) -> Option<ItemKind> {
        let docs = self.docs_tree();
        if docs.contains(id.0) && !docs.is_node_deleted(&id.0).unwrap_or(true) {
            return Some(ItemKind::Doc);
        }
        let boards = self.boards_tree();
        if boards.contains(id.0) && !boards.is_node_deleted(&id.0).unwrap_or(true) {
            return match docs::depth_of(&boards, id.0) {
                0 => Some(ItemKind::Board),
                1 => Some(ItemKind::Column),
                _ => Some(ItemKind::Card),
            };
        }
        None
    }

    pub(crate) fn expect_kind(&self, id: ItemId, expected: ItemKind) -> Result<()> {
        match self.kind_of(id) {
            Some(k) if k == expected => Ok(()),
            Some(k) => Err(ModelError::WrongKind {
                id: id.to_string(),
                expected: expected.as_str(),
                actual: k.as_str(),
            }),
            None => Err(ModelError::NotFound {
                kind: expected.as_str(),
                id: id.to_string(),
            }),
        }
    }

    pub(crate) fn tree_of(&self, kind: ItemKind) -> LoroTree {
        match kind {
            ItemKind::Doc => self.docs_tree(),
            _ => self.boards_tree(),
        }
    }

    pub(crate) fn node_meta(&self, id: ItemId) -> Result<LoroMap> {
        let kind = self.kind_of(id).ok_or_else(|| ModelError::NotFound {
            kind: "item",
            id: id.to_string(),
        })?;
        Ok(self.tree_of(kind).get_meta(id.0)?)
    }

    /// Which meta key holds the text of a doc (body) or card (description).
    fn body_key(&self, id: ItemId) -> Result<&'static str> {
        match self.kind_of(id) {
            Some(ItemKind::Doc) => Ok("body"),
            Some(ItemKind::Card) => Ok("description"),
            Some(k) => Err(ModelError::WrongKind {
                id: id.to_string(),
                expected: "doc or card",
                actual: k.as_str(),
            }),
            None => Err(ModelError::NotFound {
                kind: "doc or card",
                id: id.to_string(),
            }),
        }
    }

    /// The text body of a doc or the description of a card, created on first use. Only for writes:
    /// creating it is an op, and reads must never write.
    pub(crate) fn body_text(&self, id: ItemId) -> Result<LoroText> {
        let key = self.body_key(id)?;
        // Mergeable: two replicas that create the body concurrently get the same text container.
        Ok(self.node_meta(id)?.ensure_mergeable_text(key)?)
    }

    /// The text body if it has been created; `None` for a doc nobody has written in yet.
    pub(crate) fn body_text_existing(&self, id: ItemId) -> Result<Option<LoroText>> {
        let key = self.body_key(id)?;
        Ok(match self.node_meta(id)?.get(key) {
            Some(loro::ValueOrContainer::Container(loro::Container::Text(t))) => Some(t),
            _ => None,
        })
    }

    /// The title of any item (a board's and a column's name count as titles).
    pub fn title(&self, id: ItemId) -> Result<String> {
        let meta = self.node_meta(id)?;
        Ok(values::get_str(&meta, "title").unwrap_or_default())
    }

    /// Rename any item.
    pub fn set_title(&self, id: ItemId, title: &str) -> Result<()> {
        self.writable()?;
        self.ensure_live(id)?;
        let title = values::clean_title(title)?;
        self.node_meta(id)?.insert("title", title)?;
        self.commit();
        Ok(())
    }

    /// The full text of a doc body or card description.
    pub fn body(&self, id: ItemId) -> Result<String> {
        Ok(self
            .body_text_existing(id)?
            .map(|t| t.to_string())
            .unwrap_or_default())
    }

    /// Replace a body with `text`, as a character-level diff so concurrent edits elsewhere survive.
    pub fn set_body(&self, id: ItemId, text: &str) -> Result<()> {
        self.writable()?;
        self.ensure_live(id)?;
        let body = self.body_text(id)?;
        body.update(text, Default::default())
            .map_err(|e| ModelError::Invalid {
                what: "text",
                why: format!("diff took too long: {e:?}"),
            })?;
        self.commit();
        Ok(())
    }

    /// Add text at the end of a body.
    pub fn append_body(&self, id: ItemId, text: &str) -> Result<()> {
        self.writable()?;
        self.ensure_live(id)?;
        let body = self.body_text(id)?;
        body.insert(body.len_unicode(), text)?;
        self.commit();
        Ok(())
    }

    /// A stable caret position in `id`'s body, as bytes to send to teammates (an encoded Loro
    /// cursor, which follows concurrent edits). `None` for an empty or missing body.
    pub fn caret_at(&self, id: ItemId, offset: usize) -> Option<Vec<u8>> {
        let text = self.body_text_existing(id).ok()??;
        let offset = offset.min(text.len_unicode());
        text.get_cursor(offset, loro::cursor::Side::Middle)
            .map(|c| c.encode())
    }

    /// Where a caret from [`caret_at`](Self::caret_at) is now (a character offset), if it can
    /// be found; bytes from a peer that are not a cursor give `None`.
    pub fn caret_pos(&self, bytes: &[u8]) -> Option<usize> {
        let c = loro::cursor::Cursor::decode(bytes).ok()?;
        self.doc.get_cursor_pos(&c).ok().map(|r| r.current.pos)
    }

    /// A typed handle on a body for an editor that sends single keystrokes.
    pub fn text(&self, id: ItemId) -> Result<BodyText> {
        Ok(BodyText {
            existing: self.body_text_existing(id)?,
            meta: self.node_meta(id)?,
            key: self.body_key(id)?,
        })
    }

    /// Every live item whose title matches `query` exactly (case-insensitive), for CLI lookups.
    pub fn find_by_title(&self, query: &str) -> Vec<(ItemId, ItemKind)> {
        let q = query.trim().to_lowercase();
        let mut out = Vec::new();
        for tree in [self.docs_tree(), self.boards_tree()] {
            for node in tree.nodes() {
                let id = ItemId(node);
                let Some(kind) = self.kind_of(id) else {
                    continue;
                };
                if let Ok(meta) = tree.get_meta(node) {
                    if values::get_str(&meta, "title")
                        .map(|t| t.to_lowercase() == q)
                        .unwrap_or(false)
                    {
                        out.push((id, kind));
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// A doc body or card description, addressed in Unicode scalar values (chars), as an editor sees it.
/// Reading never writes; the first insert creates the text.
pub struct BodyText {
    existing: Option<LoroText>,
    meta: LoroMap,
    key: &'static str,
}

impl BodyText {
    fn for_write(&mut self) -> Result<&LoroText> {
        if self.existing.is_none() {
            self.existing = Some(self.meta.ensure_mergeable_text(self.key)?);
        }
        self.existing
            .as_ref()
            .ok_or_else(|| ModelError::Corrupt("text vanished".into()))
    }
    pub fn len_chars(&self) -> usize {
        self.existing.as_ref().map(|t| t.len_unicode()).unwrap_or(0)
    }
    pub fn insert(&mut self, pos: usize, s: &str) -> Result<()> {
        Ok(self.for_write()?.insert(pos, s)?)
    }
    pub fn delete(&mut self, pos: usize, len: usize) -> Result<()> {
        Ok(self.for_write()?.delete(pos, len)?)
    }
    pub fn to_string_lossless(&self) -> String {
        self.existing
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
    /// A stable position that follows concurrent edits; `None` on an empty text.
    pub fn cursor(&self, pos: usize) -> Option<loro::cursor::Cursor> {
        self.existing
            .as_ref()?
            .get_cursor(pos, loro::cursor::Side::Middle)
    }
}
