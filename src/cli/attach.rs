//! `weft attach`, `weft attachments`, `weft attachment save|rm|restore`: files on docs and cards.
//!
//! The content goes to the workspace's bucket (encrypted, see `sync::blobs`) before the
//! attachment is recorded, so a teammate never sees an attachment whose content is not there yet;
//! the record reaches them with the next sync.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::items::{clean, resolve};
use super::{AttachmentCmd, Context};
use crate::acl::Action;
use crate::model::{
    clean_attachment_name, human_size, AttachmentId, AttachmentView, ItemId, ItemKind, Workspace,
};
use crate::store::Replica;
use crate::sync::blobs::{BlobCache, BlobError, Blobs};

/// Key of the sync_state value naming a workspace that is not shared in its bucket folder.
const LOCAL_ID: &str = "attachments.local_id";

/// Where this workspace's attachments live: its bucket under its id, and this home's cache.
pub fn blobs(ctx: &Context, replica: &Replica) -> anyhow::Result<Blobs> {
    let url = super::share::bucket_url(ctx, replica)?;
    let workspace = match replica.engine() {
        Some(e) => hex::encode(e.workspace_id().as_bytes()),
        // A workspace made by an older weft has no id: give it a random one, kept with it.
        None => match replica.sync_value(LOCAL_ID)? {
            Some(id) => id,
            None => {
                let id = hex::encode(rand::random::<[u8; 16]>());
                replica.set_sync_value(LOCAL_ID, &id)?;
                id
            }
        },
    };
    let cache = BlobCache::in_home(&ctx.home, ctx.secret()?.as_ref());
    Ok(Blobs::open(&url, &workspace)
        .with_context(|| format!("opening the bucket {url}"))?
        .with_cache(cache))
}

/// A doc or card: what files are attached to.
fn resolve_attachable(ws: &Workspace, query: &str) -> anyhow::Result<ItemId> {
    let id = resolve(ws, query, None)?;
    match ws.kind_of(id) {
        Some(ItemKind::Doc | ItemKind::Card) => Ok(id),
        Some(k) => bail!("{query:?} is a {k}; files are attached to docs and cards"),
        None => bail!("no doc or card called {query:?}"),
    }
}

/// One attachment of `item` by id or name (exact, then ignoring case). `removed` chooses among
/// removed ones instead of attached ones.
fn find(
    ws: &Workspace,
    item: ItemId,
    query: &str,
    removed: bool,
) -> anyhow::Result<AttachmentView> {
    let candidates: Vec<AttachmentView> = ws
        .all_attachments(item)
        .into_iter()
        .filter(|a| a.removed.is_some() == removed)
        .collect();
    let what = if removed {
        "removed attachment"
    } else {
        "attachment"
    };
    if let Ok(id) = AttachmentId::parse(query) {
        if let Some(a) = candidates.iter().find(|a| a.id == id) {
            return Ok(a.clone());
        }
    }
    let q = query.trim();
    let mut found: Vec<&AttachmentView> = candidates.iter().filter(|a| a.name == q).collect();
    if found.is_empty() {
        found = candidates
            .iter()
            .filter(|a| a.name.to_lowercase() == q.to_lowercase())
            .collect();
    }
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let names: Vec<String> = candidates.iter().map(|a| clean(&a.name)).collect();
            if names.is_empty() {
                bail!(
                    "no {what} called {q:?} on {:?} (it has none)",
                    clean(&ws.title(item).unwrap_or_default())
                )
            }
            bail!(
                "no {what} called {q:?} on {:?} (it has: {})",
                clean(&ws.title(item).unwrap_or_default()),
                names.join(", ")
            )
        }
        many => bail!(
            "{} {what}s are called {q:?}; use an id: {}",
            many.len(),
            many.iter()
                .map(|a| a.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether this device may change `item` (read-only workspace, role).
fn may_change(replica: &Replica, item: ItemId) -> anyhow::Result<()> {
    let ws = replica.workspace();
    if let Some(found) = ws.read_only() {
        bail!("read-only: this workspace was written by a newer weft (schema {found})");
    }
    let action = match ws.kind_of(item) {
        Some(ItemKind::Doc) => Action::EditDocs,
        _ => Action::EditBoards,
    };
    if let Err(why) = replica.can(&action) {
        let role = replica
            .my_role()
            .map(|r| format!("you are {} here", r.with_article()))
            .unwrap_or_else(|| "you are not a member here".into());
        bail!("you may not attach files or remove them here: {role} ({why})");
    }
    if !ws.is_live(item) {
        bail!(
            "{:?} is in the trash; restore it first (weft trash restore)",
            clean(&ws.title(item).unwrap_or_default())
        );
    }
    Ok(())
}

fn date(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms / 1000) {
        Ok(t) if ms > 0 => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        _ => "—".into(),
    }
}

/// `weft attach FILE --to ITEM`.
pub fn attach(ctx: &Context, file: &Path, to: &str) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    let item = resolve_attachable(replica.workspace(), to)?;
    may_change(&replica, item)?;
    // Refuse what cannot be attached before anything is uploaded.
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BlobError::NoFile {
                path: file.to_path_buf(),
            }
            .into())
        }
        Ok(md) if md.is_dir() => {
            return Err(BlobError::Folder {
                path: file.to_path_buf(),
            }
            .into())
        }
        _ => {}
    }
    if let Some(name) = file.file_name() {
        clean_attachment_name(&name.to_string_lossy())
            .with_context(|| format!("{} cannot be attached", file.display()))?;
    } else {
        bail!("{} names no file", file.display());
    }
    let blobs = blobs(ctx, &replica)?;
    let meta = blobs.upload_blocking(file)?;
    let ws = replica.workspace();
    let id = ws.attach(item, meta)?;
    let att = ws.attachment(item, &id)?;
    replica
        .flush()
        .context("the file is in the bucket, but recording the attachment failed")?;
    #[derive(Serialize)]
    struct Out<'a> {
        item: ItemId,
        #[serde(flatten)]
        attachment: &'a AttachmentView,
    }
    let title = replica.workspace().title(item).unwrap_or_default();
    ctx.print(
        &Out {
            item,
            attachment: &att,
        },
        || {
            format!(
                "attached {} ({}, {}) to {:?} [{}]; teammates get it with the next sync",
                clean(&att.name),
                human_size(att.size),
                att.mime,
                clean(&title),
                att.id
            )
        },
    )
}

/// `weft attachments ITEM`.
pub fn list(ctx: &Context, item: &str, removed: bool) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let ws = replica.workspace();
    let id = resolve_attachable(ws, item)?;
    let list: Vec<AttachmentView> = if removed {
        ws.all_attachments(id)
    } else {
        ws.attachments(id)
    };
    ctx.print(&list, || {
        if list.is_empty() {
            return format!(
                "no files attached to {:?} (weft attach FILE --to {item:?})",
                clean(&ws.title(id).unwrap_or_default())
            );
        }
        let width = list
            .iter()
            .map(|a| clean(&a.name).chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        list.iter()
            .map(|a| {
                let gone = match &a.removed {
                    Some(m) => format!("  (removed by {} {})", clean(&m.by), date(m.at)),
                    None => String::new(),
                };
                format!(
                    "📎 {:<width$}  {:>9}  {}  {}  [{}]{gone}\n",
                    clean(&a.name),
                    human_size(a.size),
                    clean(&a.added_by),
                    date(a.added_at),
                    a.id
                )
            })
            .collect()
    })
}

/// `weft attachment save|rm|restore`.
pub fn attachment(ctx: &Context, cmd: AttachmentCmd) -> anyhow::Result<()> {
    match cmd {
        AttachmentCmd::Save {
            item,
            name,
            out,
            force,
        } => save(ctx, &item, &name, out, force),
        AttachmentCmd::Rm { item, name } => {
            let mut replica = ctx.open()?;
            let id = resolve_attachable(replica.workspace(), &item)?;
            may_change(&replica, id)?;
            let att = find(replica.workspace(), id, &name, false)?;
            replica.workspace().remove_attachment(id, &att.id)?;
            replica.flush()?;
            ctx.print(&att, || {
                format!(
                    "removed {} [{}]; `weft attachment restore {item:?} {:?}` brings it back",
                    clean(&att.name),
                    att.id,
                    att.id.as_str()
                )
            })
        }
        AttachmentCmd::Restore { item, name } => {
            let mut replica = ctx.open()?;
            let id = resolve_attachable(replica.workspace(), &item)?;
            may_change(&replica, id)?;
            let att = find(replica.workspace(), id, &name, true)?;
            replica.workspace().restore_attachment(id, &att.id)?;
            replica.flush()?;
            ctx.print(&att, || {
                format!("restored {} [{}]", clean(&att.name), att.id)
            })
        }
    }
}

fn save(
    ctx: &Context,
    item: &str,
    name: &str,
    out: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let ws = replica.workspace();
    let id = resolve_attachable(ws, item)?;
    let att = find(ws, id, name, false)?;
    let dest = match out {
        // Into a folder, like cp: under the attachment's own name.
        Some(p) if p.is_dir() => p.join(att.file_name()),
        Some(p) => p,
        None => PathBuf::from(att.file_name()),
    };
    let blobs = blobs(ctx, &replica)?;
    // The error may quote the attachment's name, which any member may have chosen.
    let saved = blobs
        .save_blocking(&att, &dest, force)
        .map_err(|e| anyhow::anyhow!(crate::tui::sanitize::line(&e.to_string()).into_owned()))?;
    ctx.print(&saved, || {
        format!(
            "saved {} ({}) to {}",
            clean(&att.name),
            human_size(saved.size),
            saved.path.display()
        )
    })
}
