//! Comment threads on docs and cards, optionally anchored at a text position that follows edits.
//! A comment whose target is gone is never dropped: it is listed as detached, with the context it was
//! written in.

use std::fmt;

use loro::cursor::{Cursor, Side};
use loro::{LoroMap, LoroText, ValueOrContainer, ID};

use super::values::{get_bool, get_bytes, get_i64, get_str};
use super::{ItemId, ModelError, Result, Workspace};

/// Characters of the anchored text kept as context, so a detached comment still says what it was about.
const CONTEXT_CHARS: usize = 80;
/// Longest comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct CommentId(pub(crate) String);

impl fmt::Display for CommentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CommentId {
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        ID::try_from(s).map_err(|_| ModelError::Invalid {
            what: "comment id",
            why: format!("{s:?} is not of the form COUNTER@PEER"),
        })?;
        Ok(CommentId(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CommentView {
    pub id: CommentId,
    /// The doc or card the thread is on (it may no longer exist: see `detached`).
    pub target: String,
    pub parent: Option<CommentId>,
    pub author: String,
    pub body: String,
    pub created_at: i64,
    pub resolved: bool,
    pub deleted: bool,
    /// Current character position of the anchor in the target's text, following edits.
    pub anchor: Option<usize>,
    /// Title of the target and the anchored text as they were when the comment was written.
    pub context: String,
    /// The target was purged: the comment is kept and shown on its own.
    pub detached: bool,
}

impl Workspace {
    /// Comment on a doc or card; `anchor` is a character position in its text; `reply_to` makes it
    /// a reply in that comment's thread (and puts it on the same target).
    pub fn add_comment(
        &self,
        target: ItemId,
        body: &str,
        anchor: Option<usize>,
        reply_to: Option<&CommentId>,
    ) -> Result<CommentId> {
        self.writable()?;
        let body = clean_body(body)?;
        let text: LoroText = self
            .body_text_existing(target)?
            .unwrap_or_else(LoroText::new);
        let mut context = self.title(target).unwrap_or_default();
        let cursor = match anchor {
            Some(pos) => {
                let len = text.len_unicode();
                if pos > len {
                    return Err(ModelError::Invalid {
                        what: "anchor",
                        why: format!(
                            "position {pos} is past the end of the text ({len} characters)"
                        ),
                    });
                }
                let end = (pos + CONTEXT_CHARS).min(len);
                let quote = text.slice(pos, end).unwrap_or_default();
                let quote = quote.lines().next().unwrap_or_default();
                if !quote.is_empty() {
                    context = format!("{context}: \u{201c}{quote}\u{201d}");
                }
                if len == 0 {
                    None
                } else {
                    text.get_cursor(pos, Side::Middle)
                }
            }
            None => None,
        };
        if let Some(parent) = reply_to {
            let p = self.comment(parent)?;
            if p.target != target.to_string() {
                return Err(ModelError::Invalid {
                    what: "reply",
                    why: format!("comment {parent} is on another item"),
                });
            }
        }
        let id = self.next_op_id().to_string();
        let map = self.comments_map().insert_container(&id, LoroMap::new())?;
        map.insert("target", target.to_string())?;
        if let Some(c) = cursor {
            map.insert("anchor", c.encode())?;
        }
        if let Some(p) = reply_to {
            map.insert("parent", p.0.clone())?;
        }
        map.insert("author", self.actor())?;
        map.insert("created_at", self.now())?;
        map.insert("context", context)?;
        map.insert("resolved", false)?;
        let t = map.insert_container("body", LoroText::new())?;
        t.insert(0, &body)?;
        self.commit();
        Ok(CommentId(id))
    }

    fn comment_map(&self, id: &CommentId) -> Result<LoroMap> {
        match self.comments_map().get(&id.0) {
            Some(ValueOrContainer::Container(loro::Container::Map(m))) => Ok(m),
            _ => Err(ModelError::NotFound {
                kind: "comment",
                id: id.0.clone(),
            }),
        }
    }

    /// One comment.
    pub fn comment(&self, id: &CommentId) -> Result<CommentView> {
        let m = self.comment_map(id)?;
        Ok(self.comment_view(id.clone(), &m))
    }

    fn comment_view(&self, id: CommentId, m: &LoroMap) -> CommentView {
        let target = get_str(m, "target").unwrap_or_default();
        let detached = target
            .parse::<ItemId>()
            .map(|t| self.kind_of(t).is_none())
            .unwrap_or(true);
        let anchor = get_bytes(m, "anchor")
            .and_then(|b| Cursor::decode(&b).ok())
            .and_then(|c| self.loro().get_cursor_pos(&c).ok())
            .map(|r| r.current.pos);
        let body = match m.get("body") {
            Some(ValueOrContainer::Container(loro::Container::Text(t))) => t.to_string(),
            _ => String::new(),
        };
        CommentView {
            id,
            target,
            parent: get_str(m, "parent").map(CommentId),
            author: get_str(m, "author").unwrap_or_default(),
            body,
            created_at: get_i64(m, "created_at").unwrap_or(0),
            resolved: get_bool(m, "resolved"),
            deleted: get_bool(m, "deleted"),
            anchor: if detached { None } else { anchor },
            context: get_str(m, "context").unwrap_or_default(),
            detached,
        }
    }

    /// Every comment (deleted ones too), oldest first.
    pub fn all_comments(&self) -> Vec<CommentView> {
        let mut out = Vec::new();
        self.comments_map().for_each(|key, v| {
            if let ValueOrContainer::Container(loro::Container::Map(m)) = v {
                out.push(self.comment_view(CommentId(key.to_string()), &m));
            }
        });
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    /// Live (not deleted) comments on one item, threads in order: each root followed by its replies.
    pub fn comments_on(&self, target: ItemId) -> Vec<CommentView> {
        let key = target.to_string();
        let all: Vec<CommentView> = self
            .all_comments()
            .into_iter()
            .filter(|c| c.target == key && !c.deleted)
            .collect();
        threads(all)
    }

    /// Comments whose target was purged, in thread order.
    pub fn detached_comments(&self) -> Vec<CommentView> {
        threads(
            self.all_comments()
                .into_iter()
                .filter(|c| c.detached && !c.deleted)
                .collect(),
        )
    }

    pub(crate) fn comment_count(&self, target: ItemId) -> usize {
        let key = target.to_string();
        let mut n = 0;
        self.comments_map().for_each(|_, v| {
            if let ValueOrContainer::Container(loro::Container::Map(m)) = v {
                if get_str(&m, "target").as_deref() == Some(key.as_str())
                    && !get_bool(&m, "deleted")
                {
                    n += 1;
                }
            }
        });
        n
    }

    /// Mark a thread resolved (or reopen it). Anyone who may edit may resolve.
    pub fn resolve_comment(&self, id: &CommentId, resolved: bool) -> Result<()> {
        self.writable()?;
        let m = self.comment_map(id)?;
        m.insert("resolved", resolved)?;
        self.commit();
        Ok(())
    }

    /// Rewrite one's own comment.
    pub fn edit_comment(&self, id: &CommentId, body: &str) -> Result<()> {
        self.writable()?;
        let body = clean_body(body)?;
        let m = self.comment_map(id)?;
        self.own_comment(&m, id)?;
        let t = match m.get("body") {
            Some(ValueOrContainer::Container(loro::Container::Text(t))) => t,
            _ => {
                return Err(ModelError::Corrupt(format!(
                    "comment {id} has no body text"
                )))
            }
        };
        t.update(&body, Default::default())
            .map_err(|e| ModelError::Invalid {
                what: "comment",
                why: format!("diff took too long: {e:?}"),
            })?;
        self.commit();
        Ok(())
    }

    /// Delete one's own comment (soft: replies keep their parent).
    pub fn delete_comment(&self, id: &CommentId) -> Result<()> {
        self.writable()?;
        let m = self.comment_map(id)?;
        self.own_comment(&m, id)?;
        m.insert("deleted", true)?;
        self.commit();
        Ok(())
    }

    fn own_comment(&self, m: &LoroMap, id: &CommentId) -> Result<()> {
        let author = get_str(m, "author").unwrap_or_default();
        if !author.eq_ignore_ascii_case(self.actor()) {
            return Err(ModelError::Invalid {
                what: "comment edit",
                why: format!("comment {id} was written by {author}; only its author may change it"),
            });
        }
        Ok(())
    }
}

fn clean_body(body: &str) -> Result<String> {
    let b = body.trim_end();
    if b.trim().is_empty() {
        return Err(ModelError::Invalid {
            what: "comment",
            why: "it is empty".into(),
        });
    }
    if b.chars().count() > MAX_COMMENT_CHARS {
        return Err(ModelError::Invalid {
            what: "comment",
            why: format!("it is longer than {MAX_COMMENT_CHARS} characters"),
        });
    }
    Ok(b.to_string())
}

/// Order comments as threads: roots oldest first, each followed by its replies (depth first). A reply
/// whose parent chain loops (only a hostile peer writes that) is still listed, never dropped.
fn threads(all: Vec<CommentView>) -> Vec<CommentView> {
    use std::collections::HashSet;
    let ids: HashSet<CommentId> = all.iter().map(|c| c.id.clone()).collect();
    let mut seen: HashSet<CommentId> = HashSet::new();
    let mut out = Vec::with_capacity(all.len());
    fn push(
        c: &CommentView,
        all: &[CommentView],
        seen: &mut HashSet<CommentId>,
        out: &mut Vec<CommentView>,
    ) {
        if !seen.insert(c.id.clone()) {
            return;
        }
        out.push(c.clone());
        for r in all.iter().filter(|r| r.parent.as_ref() == Some(&c.id)) {
            push(r, all, seen, out);
        }
    }
    for root in all
        .iter()
        .filter(|c| c.parent.as_ref().is_none_or(|p| !ids.contains(p)))
    {
        push(root, &all, &mut seen, &mut out);
    }
    for c in &all {
        push(c, &all, &mut seen, &mut out);
    }
    out
}
