//! Files attached to docs and cards. The model holds only what describes a file — its name, size,
//! type, the SHA-256 of its content, where its encrypted chunks are (`blob`) and the key that opens
//! them; the content itself lives, encrypted, in the bucket (see `sync::blobs`). The key is safe
//! here because the whole workspace travels encrypted end to end: only members can read it.
//!
//! Each doc or card keeps its attachments in a mergeable map `attachments` in its node meta, one
//! entry per attachment under an id nobody else can pick (the id of the op that writes it), so two
//! devices attaching at once both keep theirs. Removing is soft: a `removed` mark that restoring
//! takes away; the content stays in the bucket.

use std::fmt;

use loro::{LoroMap, LoroValue, ValueOrContainer};

use super::values::{field_i64, field_str, get_i64, get_str, get_value};
use super::{ItemId, ItemKind, ModelError, Result, TrashMark, Workspace};

/// Node meta key of the attachments map.
const ATTACHMENTS: &str = "attachments";
/// Longest attachment name, in bytes (what most file systems allow for one name).
pub const MAX_NAME_BYTES: usize = 255;
/// Largest chunk a reader accepts: chunks are held in memory one or two at a time.
pub const MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
/// The type given to files whose extension says nothing.
pub const DEFAULT_MIME: &str = "application/octet-stream";

/// The id of an attachment: unique without coordination (the id of the op that wrote it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AttachmentId(pub(crate) String);

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AttachmentId {
    /// Reads an id as `weft attachments` prints it (`COUNTER@PEER`).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        loro::ID::try_from(s).map_err(|_| ModelError::Invalid {
            what: "attachment id",
            why: format!("{s:?} is not of the form COUNTER@PEER"),
        })?;
        Ok(AttachmentId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the uploader knows about a file once its content is in the bucket: everything an
/// attachment records except who added it and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachmentMeta {
    /// The file's name (no folders).
    pub name: String,
    /// Bytes of content.
    pub size: u64,
    /// Media type; `None` guesses it from the name's extension.
    pub mime: Option<String>,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// The id of the encrypted chunks in the bucket, lower-case hex.
    pub blob: String,
    /// The 32-byte content key, lower-case hex.
    pub key: String,
    /// Bytes of content per chunk (the last one may be shorter).
    pub chunk_size: u64,
    /// How many chunks (at least one: an empty file has one empty chunk).
    pub chunks: u32,
}

/// One attachment as read from the workspace. A peer may have written anything, so fields that
/// were missing or of the wrong type read as empty; [`AttachmentView::check`] says whether the
/// attachment can be fetched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttachmentView {
    pub id: AttachmentId,
    /// The doc or card it is attached to.
    pub item: ItemId,
    pub name: String,
    pub size: u64,
    pub mime: String,
    pub sha256: String,
    pub blob: String,
    /// The content key. Never printed: it opens the content for anyone who has the bucket.
    #[serde(skip)]
    pub key: String,
    pub chunk_size: u64,
    pub chunks: u32,
    pub added_by: String,
    pub added_at: i64,
    /// Who removed it and when; `None` while it is attached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<TrashMark>,
}

impl AttachmentView {
    /// Whether the description is complete and consistent enough to fetch and check the content:
    /// the shapes of the hash, blob id and key, and a chunk layout that matches the size.
    pub fn check(&self) -> Result<()> {
        check_shape(
            &self.sha256,
            &self.blob,
            &self.key,
            self.size,
            self.chunk_size,
            self.chunks,
        )
    }

    /// The name to save the file under: the last path segment of its name, without control or
    /// bidi characters, never empty, `.` or `..` (a peer may have written any name).
    pub fn file_name(&self) -> String {
        safe_file_name(&self.name)
    }
}

/// A name that is safe as the last component of a path on any system weft runs on.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi(*c))
        .collect();
    let cleaned = cleaned.trim();
    let mut out = if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "attachment".to_string()
    } else {
        cleaned.to_string()
    };
    while out.len() > MAX_NAME_BYTES {
        out.pop();
    }
    out
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How many chunks hold `size` bytes at `chunk_size` per chunk (at least one). `None` for a zero
/// chunk size.
pub fn chunk_count(size: u64, chunk_size: u64) -> Option<u64> {
    if chunk_size == 0 {
        return None;
    }
    Some(size.div_ceil(chunk_size).max(1))
}

fn is_lower_hex(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len())
        && s.len() % 2 == 0
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_shape(
    sha256: &str,
    blob: &str,
    key: &str,
    size: u64,
    chunk_size: u64,
    chunks: u32,
) -> Result<()> {
    let bad = |why: String| ModelError::Invalid {
        what: "attachment",
        why,
    };
    if !is_lower_hex(sha256, 64..=64) {
        return Err(bad("its SHA-256 is not 64 hex digits".into()));
    }
    if !is_lower_hex(blob, 16..=128) {
        return Err(bad("its blob id is not lower-case hex".into()));
    }
    if !is_lower_hex(key, 64..=64) {
        return Err(bad("its key is not 32 bytes of hex".into()));
    }
    if size > i64::MAX as u64 {
        return Err(bad(format!("a size of {size} bytes")));
    }
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
        return Err(bad(format!(
            "a chunk size of {chunk_size} bytes (weft reads chunks of 1 to {MAX_CHUNK_SIZE} bytes)"
        )));
    }
    if chunk_count(size, chunk_size) != Some(u64::from(chunks)) {
        return Err(bad(format!(
            "{chunks} chunks of {chunk_size} bytes cannot hold {size} bytes"
        )));
    }
    Ok(())
}

/// An attachment name: one trimmed line, no folders, not `.` or `..`, at most 255 bytes.
pub fn clean_attachment_name(name: &str) -> Result<String> {
    let n = name.trim();
    let bad = |why: &str| ModelError::Invalid {
        what: "attachment name",
        why: why.to_string(),
    };
    if n.is_empty() {
        return Err(bad("it is empty"));
    }
    if n.contains(['/', '\\']) {
        return Err(bad("it names a folder; give the file's name only"));
    }
    if n == "." || n == ".." {
        return Err(bad("it is not a file name"));
    }
    if n.chars().any(|c| c.is_control() || is_bidi(c)) {
        return Err(bad("it contains control characters"));
    }
    if n.len() > MAX_NAME_BYTES {
        return Err(bad("it is longer than 255 bytes"));
    }
    Ok(n.to_string())
}

/// A media type as `type/subtype`, or `None` when `mime` is not one.
fn clean_mime(mime: &str) -> Option<String> {
    let m = mime.trim().to_ascii_lowercase();
    let (t, s) = m.split_once('/')?;
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (m.len() <= 127 && token(t) && token(s)).then_some(m)
}

/// The media type of a file called `name`, from its extension; [`DEFAULT_MIME`] when unknown.
pub fn guess_mime(name: &str) -> &'static str {
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => return DEFAULT_MIME,
    };
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "7z" => "application/x-7z-compressed",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "ico" => "image/vnd.microsoft.icon",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "rs" => "text/x-rust",
        "py" => "text/x-python",
        "sh" => "application/x-sh",
        _ => DEFAULT_MIME,
    }
}

/// A size for people: `512 B`, `1.2 KB`, `3.4 MB`, `1.0 GB` (powers of 1000, like file managers).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn removal_mark(v: &LoroValue) -> Option<TrashMark> {
    matches!(v, LoroValue::Map(_)).then(|| TrashMark {
        by: field_str(v, "by").unwrap_or_default(),
        at: field_i64(v, "at").unwrap_or(0),
    })
}

impl Workspace {
    /// The doc or card `item`, checked to be one.
    fn attachable(&self, item: ItemId) -> Result<()> {
        match self.kind_of(item) {
            Some(ItemKind::Doc | ItemKind::Card) => Ok(()),
            Some(k) => Err(ModelError::WrongKind {
                id: item.to_string(),
                expected: "doc or card",
                actual: k.as_str(),
            }),
            None => Err(ModelError::NotFound {
                kind: "doc or card",
                id: item.to_string(),
            }),
        }
    }

    /// The attachments map of an item if anyone has created it (reads never write).
    fn attachments_map(&self, item: ItemId) -> Option<LoroMap> {
        match self.node_meta(item).ok()?.get(ATTACHMENTS)? {
            ValueOrContainer::Container(loro::Container::Map(m)) => Some(m),
            _ => None,
        }
    }

    fn attachment_entry(&self, item: ItemId, id: &AttachmentId) -> Result<LoroMap> {
        let not_found = || ModelError::NotFound {
            kind: "attachment",
            id: id.to_string(),
        };
        match self.attachments_map(item).ok_or_else(not_found)?.get(&id.0) {
            Some(ValueOrContainer::Container(loro::Container::Map(m))) => Ok(m),
            _ => Err(not_found()),
        }
    }

    /// Record a file whose content is already in the bucket as an attachment of the doc or card
    /// `item`. Fails, writing nothing, when the item is not a live doc or card or when `meta` is
    /// not a complete description (a bad name, hash, key, or a chunk layout that does not match
    /// the size).
    pub fn attach(&self, item: ItemId, meta: AttachmentMeta) -> Result<AttachmentId> {
        self.writable()?;
        self.attachable(item)?;
        self.ensure_live(item)?;
        let name = clean_attachment_name(&meta.name)?;
        check_shape(
            &meta.sha256,
            &meta.blob,
            &meta.key,
            meta.size,
            meta.chunk_size,
            meta.chunks,
        )?;
        let mime = meta
            .mime
            .as_deref()
            .and_then(clean_mime)
            .unwrap_or_else(|| guess_mime(&name).to_string());
        let id = self.next_op_id().to_string();
        // Mergeable: two devices attaching to the same item at once get the same map.
        let all = self.node_meta(item)?.ensure_mergeable_map(ATTACHMENTS)?;
        let entry = all.insert_container(&id, LoroMap::new())?;
        entry.insert("name", name)?;
        entry.insert("size", meta.size as i64)?;
        entry.insert("mime", mime)?;
        entry.insert("sha256", meta.sha256)?;
        entry.insert("blob", meta.blob)?;
        entry.insert("key", meta.key)?;
        entry.insert("chunk_size", meta.chunk_size as i64)?;
        entry.insert("chunks", i64::from(meta.chunks))?;
        entry.insert("added_by", self.actor())?;
        entry.insert("added_at", self.now())?;
        self.commit();
        Ok(AttachmentId(id))
    }

    fn attachment_view(&self, item: ItemId, id: &str, m: &LoroMap) -> AttachmentView {
        let u64_of = |k: &str| {
            get_i64(m, k)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0)
        };
        AttachmentView {
            id: AttachmentId(id.to_string()),
            item,
            name: get_str(m, "name").unwrap_or_default(),
            size: u64_of("size"),
            mime: get_str(m, "mime").unwrap_or_else(|| DEFAULT_MIME.to_string()),
            sha256: get_str(m, "sha256").unwrap_or_default(),
            blob: get_str(m, "blob").unwrap_or_default(),
            key: get_str(m, "key").unwrap_or_default(),
            chunk_size: u64_of("chunk_size"),
            chunks: u32::try_from(u64_of("chunks")).unwrap_or(0),
            added_by: get_str(m, "added_by").unwrap_or_default(),
            added_at: get_i64(m, "added_at").unwrap_or(0),
            removed: get_value(m, "removed").as_ref().and_then(removal_mark),
        }
    }

    /// Every attachment of a doc or card, removed ones included, oldest first. Empty for an item
    /// that does not exist or has none.
    pub fn all_attachments(&self, item: ItemId) -> Vec<AttachmentView> {
        let Some(map) = self.attachments_map(item) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        map.for_each(|key, v| {
            if let ValueOrContainer::Container(loro::Container::Map(m)) = v {
                out.push(self.attachment_view(item, key, &m));
            }
        });
        out.sort_by(|a, b| (a.added_at, &a.id).cmp(&(b.added_at, &b.id)));
        out
    }

    /// The attachments of a doc or card that are not removed, oldest first.
    pub fn attachments(&self, item: ItemId) -> Vec<AttachmentView> {
        self.all_attachments(item)
            .into_iter()
            .filter(|a| a.removed.is_none())
            .collect()
    }

    /// One attachment of `item`, removed or not.
    pub fn attachment(&self, item: ItemId, id: &AttachmentId) -> Result<AttachmentView> {
        let m = self.attachment_entry(item, id)?;
        Ok(self.attachment_view(item, &id.0, &m))
    }

    /// Take an attachment off its doc or card. Soft: it is marked removed (who, when) and can be
    /// restored; its content stays in the bucket. Fails when it is already removed.
    pub fn remove_attachment(&self, item: ItemId, id: &AttachmentId) -> Result<()> {
        self.writable()?;
        self.attachable(item)?;
        self.ensure_live(item)?;
        let entry = self.attachment_entry(item, id)?;
        if get_value(&entry, "removed").is_some() {
            return Err(ModelError::Invalid {
                what: "attachment",
                why: format!("{id} is already removed"),
            });
        }
        let mut mark = loro::LoroMapValue::default();
        {
            let m = mark.make_mut();
            m.insert("by".into(), self.actor().into());
            m.insert("at".into(), self.now().into());
        }
        entry.insert("removed", LoroValue::Map(mark))?;
        self.commit();
        Ok(())
    }

    /// Put a removed attachment back.
    pub fn restore_attachment(&self, item: ItemId, id: &AttachmentId) -> Result<()> {
        self.writable()?;
        self.attachable(item)?;
        self.ensure_live(item)?;
        let entry = self.attachment_entry(item, id)?;
        if get_value(&entry, "removed").is_none() {
            return Err(ModelError::Invalid {
                what: "attachment",
                why: format!("{id} is not removed"),
            });
        }
        entry.delete("removed")?;
        self.commit();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CardFields, Clock};
    use loro::{ExportMode, LoroDoc};

    fn meta(name: &str, size: u64) -> AttachmentMeta {
        let chunk_size = 4;
        AttachmentMeta {
            name: name.into(),
            size,
            mime: None,
            sha256: "ab".repeat(32),
            blob: "cd".repeat(16),
            key: "ef".repeat(32),
            chunk_size,
            chunks: chunk_count(size, chunk_size).unwrap() as u32,
        }
    }

    fn two() -> (Workspace, Workspace) {
        let a = Workspace::create("team", "alice", Clock::Fixed(10)).unwrap();
        let b = Workspace::open(
            LoroDoc::from_snapshot(&a.loro().export(ExportMode::Snapshot).unwrap()).unwrap(),
            "bob",
            Clock::Fixed(20),
        )
        .unwrap();
        (a, b)
    }

    fn send(from: &Workspace, to: &Workspace) {
        let bytes = from
            .loro()
            .export(ExportMode::updates(&to.loro().oplog_vv()))
            .unwrap();
        to.loro().import(&bytes).unwrap();
    }

    #[test]
    fn attach_list_remove_restore() {
        let (ws, _) = two();
        let doc = ws.create_doc("Spec", None).unwrap();
        let id = ws.attach(doc, meta("Report.PDF", 9)).unwrap();
        let list = ws.attachments(doc);
        assert_eq!(list.len(), 1);
        let a = &list[0];
        assert_eq!(
            (a.name.as_str(), a.size, a.mime.as_str(), a.chunks),
            ("Report.PDF", 9, "application/pdf", 3)
        );
        assert_eq!((a.added_by.as_str(), a.added_at), ("alice", 10));
        assert!(a.check().is_ok());
        ws.remove_attachment(doc, &id).unwrap();
        assert!(ws.attachments(doc).is_empty());
        let all = ws.all_attachments(doc);
        assert_eq!(
            all[0].removed.as_ref().map(|m| m.by.as_str()),
            Some("alice")
        );
        assert!(ws.remove_attachment(doc, &id).is_err(), "already removed");
        ws.restore_attachment(doc, &id).unwrap();
        assert_eq!(ws.attachments(doc).len(), 1);
    }

    #[test]
    fn works_on_cards_not_boards_and_refuses_bad_descriptions() {
        let (ws, _) = two();
        let board = ws.create_board("B", &["Todo"]).unwrap();
        let col = ws.board(board, false).unwrap().columns[0].id;
        let card = ws
            .add_card(
                col,
                &CardFields {
                    title: "C".into(),
                    ..Default::default()
                },
                "",
            )
            .unwrap();
        ws.attach(card, meta("notes.txt", 0)).unwrap();
        assert_eq!(ws.attachments(card)[0].mime, "text/plain");
        assert_eq!(
            ws.attachments(card)[0].chunks,
            1,
            "an empty file has one chunk"
        );
        assert!(matches!(
            ws.attach(board, meta("x", 1)),
            Err(ModelError::WrongKind { .. })
        ));
        for bad in [
            AttachmentMeta {
                name: "../etc/passwd".into(),
                ..meta("x", 1)
            },
            AttachmentMeta {
                name: "  ".into(),
                ..meta("x", 1)
            },
            AttachmentMeta {
                key: "00".into(),
                ..meta("x", 1)
            },
            AttachmentMeta {
                chunks: 7,
                ..meta("x", 1)
            },
            AttachmentMeta {
                chunk_size: 0,
                ..meta("x", 1)
            },
            AttachmentMeta {
                sha256: "AB".repeat(32),
                ..meta("x", 1)
            },
        ] {
            assert!(ws.attach(card, bad.clone()).is_err(), "{bad:?}");
        }
        assert_eq!(ws.attachments(card).len(), 1, "nothing written by refusals");
        ws.trash(card).unwrap();
        assert!(matches!(
            ws.attach(card, meta("y", 1)),
            Err(ModelError::Trashed(_))
        ));
    }

    #[test]
    fn two_devices_attaching_at_once_both_keep_theirs() {
        let (a, b) = two();
        let doc = a.create_doc("Spec", None).unwrap();
        send(&a, &b);
        // Neither has an attachments map yet: both create it concurrently.
        a.attach(doc, meta("from-alice.txt", 3)).unwrap();
        b.attach(doc, meta("from-bob.txt", 5)).unwrap();
        send(&a, &b);
        send(&b, &a);
        for ws in [&a, &b] {
            let names: Vec<String> = ws.attachments(doc).into_iter().map(|x| x.name).collect();
            assert_eq!(names, ["from-alice.txt", "from-bob.txt"]);
        }
    }

    #[test]
    fn hostile_names_are_saved_under_a_safe_one() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("a\\b\\..\\c.txt"), "c.txt");
        assert_eq!(safe_file_name(".."), "attachment");
        assert_eq!(safe_file_name("evil\u{202e}txt.exe"), "eviltxt.exe");
        assert_eq!(safe_file_name("x/"), "attachment");
    }

    #[test]
    fn sizes_and_types_for_people() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_234), "1.2 KB");
        assert_eq!(human_size(1_200_000), "1.2 MB");
        assert_eq!(human_size(104_857_600), "104.9 MB");
        assert_eq!(human_size(999_990), "1.0 MB");
        assert_eq!(guess_mime("photo.JPG"), "image/jpeg");
        assert_eq!(guess_mime("Makefile"), DEFAULT_MIME);
        assert_eq!(guess_mime(".bashrc"), DEFAULT_MIME);
        assert_eq!(clean_mime("Text/Plain").as_deref(), Some("text/plain"));
        assert_eq!(clean_mime("nonsense"), None);
    }
}
