//! Inspection: which parts of the workspace a Loro update writes, read from the update's own ops
//! after it has been imported into a shadow copy of the document.
//!
//! Every container an op writes is traced back to a root area (`meta`, `docs`, `boards`,
//! `comments`, `trash`, `profiles`) through the ops that created it: a normal container through the op that
//! inserted it (a map entry, a tree node's metadata, a list item), a mergeable container through
//! the parent its name encodes. This depends only on history, not on the current state, so a
//! container under a node that was deleted concurrently is placed the same way on every
//! replica. A creating op that is not in the change's causal past (or in the change itself)
//! makes the write [`Write::Unplaced`]: an honest client cannot write into a container it has
//! not seen.
//!
//! A new comment is recognised by its shape: an entry of the `comments` map whose key is the id
//! of the op that inserts it (`counter@peer`) and whose value is the map that op creates, so one
//! comment can never overwrite another. Its `author` field must be the signer's address.
//!
//! A profile entry is the signer's own when its key is `<signer address in lowercase>/<field>`
//! and it holds a plain value; a key naming another address is someone else's profile.

use std::collections::{BTreeMap, HashMap};

use loro::{
    ContainerID, ContainerType, IdSpan, JsonListOp as ListOp, JsonMapOp as MapOp,
    JsonMovableListOp as MovableListOp, JsonOp, JsonOpContent, JsonTreeOp as TreeOp, LoroDoc,
    LoroValue, TreeID, VersionVector, ID,
};

use super::policy::{Write, WriteSummary};
use crate::identity::Address;
use crate::model::Workspace;

/// Deepest container nesting traced; anything deeper is unplaced.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Area {
    Settings,
    Docs,
    Boards,
    Trash,
    /// The `comments` root map itself, or something hanging off it that is not a comment.
    CommentList,
    /// Inside comment `key`.
    Comment(String),
    /// The `profiles` root map, or something nested in it.
    Profiles,
    Unknown(String),
    Unplaced,
}

#[derive(Clone, Debug)]
struct Place {
    area: Area,
    /// This container is a comment's own map (not something nested in it).
    comment_map: bool,
    /// Ids of the ops that created the normal containers from the root down to this one.
    created: Vec<ID>,
}

impl Place {
    fn area(area: Area) -> Self {
        Self {
            area,
            comment_map: false,
            created: Vec::new(),
        }
    }
}

/// Traces containers to areas, caching what it learns (a container's origin never changes).
#[derive(Default, Debug)]
pub struct Inspector {
    places: HashMap<ContainerID, Place>,
}

/// The ops of one change, as a set of per-peer counter ranges.
#[derive(Clone, Debug, Default)]
pub struct Spans(pub BTreeMap<u64, (i32, i32)>);

impl Spans {
    /// The ranges between two partial version vectors (an update's start and end).
    pub fn between(start: &VersionVector, end: &VersionVector) -> Self {
        Self(
            end.iter()
                .map(|(p, e)| (*p, (start.get(p).copied().unwrap_or(0), *e)))
                .filter(|(_, (s, e))| s < e)
                .collect(),
        )
    }

    fn contains(&self, id: ID) -> bool {
        self.0
            .get(&id.peer)
            .is_some_and(|(s, e)| *s <= id.counter && id.counter < *e)
    }
}

impl Inspector {
    /// A fresh inspector.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the ops in `spans` write. `doc` must already hold them; `causal` is the version the
    /// change depends on (its deps and their ancestors); `signer` is the wallet behind it.
    pub fn inspect(
        &mut self,
        doc: &LoroDoc,
        spans: &Spans,
        causal: &VersionVector,
        signer: &Address,
    ) -> WriteSummary {
        let mut summary = WriteSummary::default();
        let mut new_comments: BTreeMap<String, Vec<Option<Address>>> = BTreeMap::new();
        for (&peer, &(start, end)) in &spans.0 {
            // Most changes (typing, moving cards) write only areas where the container alone
            // decides; read the ops themselves only when keys or deletions matter.
            let len = usize::try_from(end - start).unwrap_or(0);
            let mut needs_ops = false;
            for cid in doc.get_changed_containers_in(ID::new(peer, start), len) {
                match self.container_write(doc, &cid, spans, causal) {
                    Some(w) => {
                        summary.writes.insert(w);
                    }
                    None => needs_ops = true,
                }
            }
            if !needs_ops {
                continue;
            }
            for change in doc.export_json_in_id_span(IdSpan::new(peer, start, end)) {
                for op in &change.ops {
                    if op.counter < start || op.counter >= end {
                        continue;
                    }
                    let id = ID::new(peer, op.counter);
                    if let Some(w) =
                        self.classify(doc, id, op, spans, causal, signer, &mut new_comments)
                    {
                        summary.writes.insert(w);
                    }
                }
            }
        }
        for (comment, authors) in new_comments {
            let signed_as_author =
                !authors.is_empty() && authors.iter().all(|a| a == &Some(*signer));
            summary.writes.insert(Write::NewComment {
                comment,
                signed_as_author,
            });
        }
        summary
    }

    /// The write a container implies whatever the op, or `None` if the ops must be read (tree
    /// roots, where deleting is purging; the comment list and comments, where keys matter).
    fn container_write(
        &mut self,
        doc: &LoroDoc,
        cid: &ContainerID,
        spans: &Spans,
        causal: &VersionVector,
    ) -> Option<Write> {
        let place = self.locate(doc, cid, 0);
        if place
            .created
            .iter()
            .any(|c| !causal.includes_id(*c) && !spans.contains(*c))
        {
            return Some(Write::Unplaced);
        }
        let is_root = matches!(cid, ContainerID::Root { .. }) && !cid.is_mergeable();
        match place.area {
            Area::Settings => Some(Write::Settings),
            Area::Docs | Area::Boards if is_root => None,
            Area::Docs => Some(Write::Docs),
            Area::Boards => Some(Write::Boards),
            Area::Trash => Some(Write::Trash),
            Area::Unknown(name) => Some(Write::UnknownArea(name)),
            Area::Unplaced => Some(Write::Unplaced),
            Area::CommentList | Area::Comment(_) => None,
            Area::Profiles if is_root => None,
            Area::Profiles => Some(Write::ProfileShape { key: String::new() }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn classify(
        &mut self,
        doc: &LoroDoc,
        id: ID,
        op: &JsonOp,
        spans: &Spans,
        causal: &VersionVector,
        signer: &Address,
        new_comments: &mut BTreeMap<String, Vec<Option<Address>>>,
    ) -> Option<Write> {
        let place = self.locate(doc, &op.container, 0);
        if place
            .created
            .iter()
            .any(|c| !causal.includes_id(*c) && !spans.contains(*c))
        {
            return Some(Write::Unplaced);
        }
        let is_root =
            matches!(op.container, ContainerID::Root { .. }) && !op.container.is_mergeable();
        Some(match place.area {
            Area::Settings => Write::Settings,
            Area::Docs | Area::Boards
                if is_root && matches!(op.content, JsonOpContent::Tree(TreeOp::Delete { .. })) =>
            {
                Write::Purge
            }
            Area::Docs => Write::Docs,
            Area::Boards => Write::Boards,
            Area::Trash => Write::Trash,
            Area::Unknown(name) => Write::UnknownArea(name),
            Area::Unplaced => Write::Unplaced,
            Area::Profiles => profile_write(op, is_root, signer),
            Area::CommentList => {
                let key = map_key(op).unwrap_or_default();
                let fresh = matches!(&op.content,
                    JsonOpContent::Map(MapOp::Insert { key, value: LoroValue::Container(c) })
                        if is_root
                        && *key == id.to_string()
                        && *c == ContainerID::new_normal(id, ContainerType::Map));
                if fresh {
                    new_comments.entry(key).or_default();
                    return None;
                }
                Write::CommentReplaced { key }
            }
            Area::Comment(comment) => {
                let created_here = place.created.first().is_some_and(|c| spans.contains(*c));
                if created_here {
                    let authors = new_comments.entry(comment).or_default();
                    if place.comment_map && map_key(op).as_deref() == Some("author") {
                        authors.push(match &op.content {
                            JsonOpContent::Map(MapOp::Insert {
                                value: LoroValue::String(s),
                                ..
                            }) => s.parse().ok(),
                            _ => None,
                        });
                    }
                    return None;
                }
                let own = author_of(doc, &comment).as_ref() == Some(signer);
                match (place.comment_map, map_key(op).as_deref()) {
                    (true, Some("resolved")) => Write::CommentResolved { comment, own },
                    (true, Some("deleted")) => Write::CommentDeleted { comment, own },
                    (true, Some("author")) => Write::CommentAuthor { comment },
                    _ => Write::CommentText { comment, own },
                }
            }
        })
    }

    fn locate(&mut self, doc: &LoroDoc, cid: &ContainerID, depth: usize) -> Place {
        if let Some(p) = self.places.get(cid) {
            return p.clone();
        }
        let place = if depth > MAX_DEPTH {
            Place::area(Area::Unplaced)
        } else {
            self.trace(doc, cid, depth)
        };
        // "Unplaced" may only mean the creating op has not arrived yet; never remember it, or a
        // forged reference to a future container would poison the cache.
        if place.area != Area::Unplaced {
            self.places.insert(cid.clone(), place.clone());
        }
        place
    }

    fn trace(&mut self, doc: &LoroDoc, cid: &ContainerID, depth: usize) -> Place {
        match cid {
            ContainerID::Root { .. } if cid.is_mergeable() => {
                let Some((parent, _key, _)) = cid.parse_mergeable() else {
                    return Place::area(Area::Unplaced);
                };
                let mut place = self.locate(doc, &parent, depth + 1);
                place.comment_map = false;
                place
            }
            ContainerID::Root {
                name,
                container_type,
            } => Place::area(match (name.as_str(), container_type) {
                ("meta", ContainerType::Map) => Area::Settings,
                ("docs", ContainerType::Tree) => Area::Docs,
                ("boards", ContainerType::Tree) => Area::Boards,
                ("trash", ContainerType::Map) => Area::Trash,
                ("comments", ContainerType::Map) => Area::CommentList,
                ("profiles", ContainerType::Map) => Area::Profiles,
                (other, _) => Area::Unknown(other.chars().take(64).collect()),
            }),
            ContainerID::Normal {
                peer,
                counter,
                container_type,
            } => {
                let id = ID::new(*peer, *counter);
                let Some(op) = creating_op(doc, id) else {
                    return Place::area(Area::Unplaced);
                };
                let inserted_here = match &op.content {
                    JsonOpContent::Map(MapOp::Insert {
                        value: LoroValue::Container(c),
                        ..
                    }) => c == cid,
                    JsonOpContent::List(ListOp::Insert { value, .. })
                    | JsonOpContent::MovableList(MovableListOp::Insert { value, .. }) => value
                        .iter()
                        .any(|v| matches!(v, LoroValue::Container(c) if c == cid)),
                    JsonOpContent::Tree(TreeOp::Create { target, .. }) => {
                        *target == TreeID::new(*peer, *counter)
                            && *container_type == ContainerType::Map
                    }
                    _ => false,
                };
                if !inserted_here {
                    return Place::area(Area::Unplaced);
                }
                let parent = self.locate(doc, &op.container, depth + 1);
                let mut created = parent.created.clone();
                created.push(id);
                match (&parent.area, &op.content) {
                    (Area::CommentList, JsonOpContent::Map(MapOp::Insert { key, .. }))
                        if parent.created.is_empty() =>
                    {
                        Place {
                            area: Area::Comment(key.clone()),
                            comment_map: true,
                            created,
                        }
                    }
                    _ => Place {
                        area: parent.area,
                        comment_map: false,
                        created,
                    },
                }
            }
        }
    }
}

/// What an op on the `profiles` map writes: the signer's own profile only under a key
/// `<signer in lowercase hex>/<field>` holding a plain value (or deleting such a key).
fn profile_write(op: &JsonOp, is_root: bool, signer: &Address) -> Write {
    let cut = |k: &str| k.chars().take(64).collect::<String>();
    let (key, plain) = match &op.content {
        JsonOpContent::Map(MapOp::Insert { key, value }) if is_root => {
            (key.as_str(), !matches!(value, LoroValue::Container(_)))
        }
        JsonOpContent::Map(MapOp::Delete { key }) if is_root => (key.as_str(), true),
        _ => return Write::ProfileShape { key: String::new() },
    };
    let own = signer.to_checksum().to_ascii_lowercase();
    match key.split_once('/') {
        Some((owner, field)) if plain && !field.is_empty() && owner == own => Write::OwnProfile,
        Some((owner, _)) => match owner.parse::<Address>() {
            Ok(a) if a != *signer => Write::OthersProfile {
                owner: a.to_checksum(),
            },
            _ => Write::ProfileShape { key: cut(key) },
        },
        None => Write::ProfileShape { key: cut(key) },
    }
}

fn map_key(op: &JsonOp) -> Option<String> {
    match &op.content {
        JsonOpContent::Map(MapOp::Insert { key, .. } | MapOp::Delete { key }) => Some(key.clone()),
        _ => None,
    }
}

fn creating_op(doc: &LoroDoc, id: ID) -> Option<JsonOp> {
    doc.export_json_in_id_span(IdSpan::new(id.peer, id.counter, id.counter + 1))
        .into_iter()
        .flat_map(|c| c.ops)
        .find(|op| op.counter == id.counter)
}

/// The author recorded in an existing comment. Only the comment's creating change may write
/// that field (anything later is refused), so the current value is the creation value.
fn author_of(doc: &LoroDoc, comment: &str) -> Option<Address> {
    Workspace::comment_author_in(doc, comment)?.parse().ok()
}
