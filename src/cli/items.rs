//! Docs, boards, cards, comments, trash and search from the shell.

use std::io::Read;

use anyhow::{anyhow, bail, Context as _};
use serde::Serialize;

use super::{BoardCmd, CardCmd, Command, CommentCmd, Context, DocCmd, TrashCmd};
use crate::acl::Action;
use crate::model::{CardFields, CommentId, ItemId, ItemKind, People, TrashStatus, Workspace};
use crate::store::Replica;

pub fn run(ctx: &Context, cmd: Command) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    // Refuse what the local role does not allow before anything is written or printed (the store
    // would undo it anyway, but only after the command had said it was done).
    if let Some(action) = needed_permission(&cmd) {
        replica
            .can(&action)
            .map_err(|why| anyhow!("not allowed: {why}; nothing was changed"))?;
    }
    match cmd {
        Command::Ls => ls(ctx, replica.workspace())?,
        Command::Doc(c) => doc(ctx, &mut replica, c)?,
        Command::Board(c) => board(ctx, &mut replica, c)?,
        Command::Card(c) => card(ctx, &mut replica, c)?,
        Command::Comment(c) => comment(ctx, &mut replica, c)?,
        Command::Trash(c) => trash(ctx, &mut replica, c)?,
        Command::Search { query, limit } => {
            let q = query.join(" ");
            let hits = replica.search(&q, limit)?;
            ctx.print(&hits, || {
                if hits.is_empty() {
                    return format!("no matches for {q:?}");
                }
                hits.iter()
                    .map(|h| {
                        format!(
                            "{:<7} {}  {}\n        {}\n",
                            h.kind,
                            h.id,
                            clean(&h.title),
                            clean(&h.snippet.replace('\n', " "))
                        )
                    })
                    .collect()
            })?;
        }
        _ => unreachable!("dispatched in cli::run"),
    }
    replica.flush()?;
    Ok(())
}

/// What the local role must allow for `cmd` to write; `None` for reads.
fn needed_permission(cmd: &Command) -> Option<Action> {
    Some(match cmd {
        Command::Doc(DocCmd::New { .. } | DocCmd::Edit { .. } | DocCmd::Mv { .. }) => {
            Action::EditDocs
        }
        Command::Board(BoardCmd::New { .. } | BoardCmd::Column { .. })
        | Command::Card(CardCmd::Add { .. } | CardCmd::Mv { .. } | CardCmd::Edit { .. }) => {
            Action::EditBoards
        }
        Command::Doc(DocCmd::Rm { .. })
        | Command::Board(BoardCmd::Rm { .. })
        | Command::Card(CardCmd::Rm { .. })
        | Command::Trash(TrashCmd::Restore { .. }) => Action::Trash,
        Command::Trash(TrashCmd::Purge { .. }) => Action::Purge,
        Command::Comment(CommentCmd::Add { .. }) => Action::Comment,
        // An id that does not parse is reported by the command itself.
        Command::Comment(CommentCmd::Resolve { id, .. }) => {
            Action::ResolveComment(CommentId::parse(id).ok()?)
        }
        _ => return None,
    })
}

/// Text from the workspace may come from any peer: on a terminal, drop control characters and bidi
/// overrides before they reach it (the same rule as the app). Piped output is not filtered, so
/// `weft doc cat X > file` keeps every character of the document.
pub fn clean(s: &str) -> String {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return s.to_string();
    }
    s.chars()
        .filter(|c| !crate::tui::sanitize::is_unsafe(*c))
        .collect()
}

/// Find an item by id or by (case-insensitive) title, optionally of one kind.
pub fn resolve(ws: &Workspace, query: &str, kind: Option<ItemKind>) -> anyhow::Result<ItemId> {
    let want = kind.map(|k| k.as_str()).unwrap_or("item");
    if let Ok(id) = query.parse::<ItemId>() {
        match (ws.kind_of(id), kind) {
            (Some(k), Some(want_k)) if k != want_k => bail!("{id} is a {k}, not a {want_k}"),
            (Some(_), _) => return Ok(id),
            (None, _) => bail!("no {want} with id {id}"),
        }
    }
    let found: Vec<(ItemId, ItemKind)> = ws
        .find_by_title(query)
        .into_iter()
        .filter(|(_, k)| kind.is_none_or(|want| *k == want))
        .collect();
    match found.as_slice() {
        [(id, _)] => Ok(*id),
        [] => bail!("no {want} called {query:?} (see `weft ls`)"),
        many => bail!(
            "{} {want}s are called {query:?}; use an id: {}",
            many.len(),
            many.iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A doc or a card: what comments and bodies belong to.
fn resolve_commentable(ws: &Workspace, query: &str) -> anyhow::Result<ItemId> {
    let id = resolve(ws, query, None)?;
    match ws.kind_of(id) {
        Some(ItemKind::Doc | ItemKind::Card) => Ok(id),
        Some(k) => bail!("{query:?} is a {k}; comments go on docs and cards"),
        None => bail!("no doc or card called {query:?}"),
    }
}

/// A column by id, by name on `board`, or as BOARD/COLUMN.
fn resolve_column(ws: &Workspace, board: Option<ItemId>, query: &str) -> anyhow::Result<ItemId> {
    if let Ok(id) = query.parse::<ItemId>() {
        if ws.kind_of(id) == Some(ItemKind::Column) {
            return Ok(id);
        }
    }
    let (board, name) = match query.split_once('/') {
        Some((b, c)) if board.is_none() || ws.find_by_title(query).is_empty() => {
            (resolve(ws, b, Some(ItemKind::Board))?, c)
        }
        _ => (
            board.ok_or_else(|| anyhow!("say which board: BOARD/COLUMN"))?,
            query,
        ),
    };
    let view = ws.board(board, false)?;
    view.columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name.trim()))
        .map(|c| c.id)
        .ok_or_else(|| {
            anyhow!(
                "board {:?} has no column {name:?} (columns: {})",
                view.name,
                view.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

#[derive(Serialize)]
struct Created {
    id: String,
}

fn created(ctx: &Context, what: &str, id: impl ToString) -> anyhow::Result<()> {
    let id = id.to_string();
    ctx.print(&Created { id: id.clone() }, || format!("{what} {id}"))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading standard input (is it UTF-8 text?)")?;
    Ok(s)
}

/// Secrets in weft's environment that the editor (any program the user named) must not inherit.
const SECRET_VARS: [&str; 2] = ["WEFT_PASSPHRASE", "WEFT_NEW_PASSPHRASE"];

fn edit_in_editor(initial: &str) -> anyhow::Result<Option<String>> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .map_err(|_| {
            anyhow!("nothing to change: give --title, --body, --append or --stdin, or set $EDITOR")
        })?;
    let dir = PrivateDir::new()?;
    let path = dir.0.join("weft-edit.md");
    write_private(&path, initial)?;
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path);
    for var in SECRET_VARS {
        command.env_remove(var);
    }
    let status = command
        .status()
        .with_context(|| format!("starting editor {editor:?}"))?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if !status.success() {
        bail!("editor exited with {status}; the doc was not changed");
    }
    Ok((text != initial).then_some(text))
}

/// A folder only this user can enter (0700 on Unix), removed with what it holds when dropped: the
/// doc's text sits there while the editor runs, and the temp dir is shared with every user.
struct PrivateDir(std::path::PathBuf);

impl PrivateDir {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "weft-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // `create`, not `create_all`: a folder already there (planted by someone else) is an error.
        builder
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates `path` (it must not exist) readable and writable by this user only, holding `text`.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn ls(ctx: &Context, ws: &Workspace) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Out {
        name: String,
        docs: Vec<crate::model::DocView>,
        boards: Vec<crate::model::BoardView>,
    }
    let out = Out {
        name: ws.name(),
        docs: ws.docs(false),
        boards: ws.boards(false),
    };
    ctx.print(&out, || {
        let mut s = format!("{}\n\nDocs\n", clean(&out.name));
        if out.docs.is_empty() {
            s.push_str("  (none)\n");
        }
        for d in &out.docs {
            s.push_str(&doc_line(d));
        }
        s.push_str("\nBoards\n");
        if out.boards.is_empty() {
            s.push_str("  (none)\n");
        }
        for b in &out.boards {
            let cards: usize = b.columns.iter().map(|c| c.cards.len()).sum();
            s.push_str(&format!(
                "  {}  [{}]  {} columns, {} cards\n",
                clean(&b.name),
                b.id,
                b.columns.len(),
                cards
            ));
        }
        s
    })
}

fn doc_line(d: &crate::model::DocView) -> String {
    let note = match &d.trash {
        TrashStatus::Restored { reason, .. } => format!("  (restored: {reason})"),
        _ => String::new(),
    };
    format!(
        "  {}{}  [{}]{note}\n",
        "  ".repeat(d.depth),
        clean(&d.title),
        d.id
    )
}

fn doc(ctx: &Context, replica: &mut Replica, cmd: DocCmd) -> anyhow::Result<()> {
    let ws = replica.workspace();
    match cmd {
        DocCmd::New {
            title,
            parent,
            body,
            stdin,
        } => {
            let parent = parent
                .map(|p| resolve(ws, &p, Some(ItemKind::Doc)))
                .transpose()?;
            let body = if stdin { Some(read_stdin()?) } else { body };
            let id = ws.create_doc(&title, parent)?;
            if let Some(b) = body {
                ws.set_body(id, &b)?;
            }
            created(ctx, "created doc", id)
        }
        DocCmd::Ls => {
            let docs = ws.docs(false);
            ctx.print(&docs, || docs.iter().map(doc_line).collect())
        }
        DocCmd::Cat { doc } => {
            let id = resolve(ws, &doc, Some(ItemKind::Doc))?;
            let view = ws.doc(id)?;
            let body = ws.body(id)?;
            #[derive(Serialize)]
            struct Out {
                #[serde(flatten)]
                doc: crate::model::DocView,
                body: String,
            }
            ctx.print(
                &Out {
                    doc: view,
                    body: body.clone(),
                },
                || clean(&body),
            )
        }
        DocCmd::Edit {
            doc,
            title,
            body,
            append,
            stdin,
        } => {
            let id = resolve(ws, &doc, Some(ItemKind::Doc))?;
            let mut changed = false;
            if let Some(t) = title {
                ws.set_title(id, &t)?;
                changed = true;
            }
            let new_body = if stdin {
                Some(read_stdin()?)
            } else if let Some(b) = body {
                Some(b)
            } else if let Some(a) = append {
                ws.append_body(id, &a)?;
                changed = true;
                None
            } else if !changed {
                edit_in_editor(&ws.body(id)?)?
            } else {
                None
            };
            if let Some(b) = new_body {
                ws.set_body(id, &b)?;
                changed = true;
            }
            if !ctx.json && !changed {
                eprintln!("no change");
            }
            created(ctx, "edited doc", id)
        }
        DocCmd::Mv {
            doc,
            parent,
            root,
            index,
        } => {
            let id = resolve(ws, &doc, Some(ItemKind::Doc))?;
            let parent = if root {
                None
            } else {
                match parent {
                    Some(p) => Some(resolve(ws, &p, Some(ItemKind::Doc))?),
                    None => ws.doc(id)?.parent,
                }
            };
            ws.move_doc(id, parent, index)?;
            created(ctx, "moved doc", id)
        }
        DocCmd::Rm { doc } => {
            let id = resolve(ws, &doc, Some(ItemKind::Doc))?;
            ws.trash(id)?;
            created(ctx, "trashed doc", id)
        }
    }
}

fn board(ctx: &Context, replica: &mut Replica, cmd: BoardCmd) -> anyhow::Result<()> {
    let ws = replica.workspace();
    let people = ws.people();
    match cmd {
        BoardCmd::New { name, columns } => {
            let cols: Vec<&str> = columns
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let id = ws.create_board(&name, &cols)?;
            created(ctx, "created board", id)
        }
        BoardCmd::Ls { board: None } => {
            let boards = ws.boards(false);
            ctx.print(&boards, || {
                boards
                    .iter()
                    .map(|b| {
                        format!(
                            "{}  [{}]  {} columns\n",
                            clean(&b.name),
                            b.id,
                            b.columns.len()
                        )
                    })
                    .collect()
            })
        }
        BoardCmd::Ls { board: Some(b) } => {
            let id = resolve(ws, &b, Some(ItemKind::Board))?;
            let view = ws.board(id, false)?;
            ctx.print(&view, || {
                let mut s = format!("{}  [{}]\n", clean(&view.name), view.id);
                for c in &view.columns {
                    let wip = c.wip_limit.map(|w| format!("/{w}")).unwrap_or_default();
                    s.push_str(&format!(
                        "\n{} ({}{wip})  [{}]\n",
                        clean(&c.name),
                        c.cards.len(),
                        c.id
                    ));
                    for card in &c.cards {
                        s.push_str(&format!(
                            "  - {}{}  [{}]\n",
                            clean(&card.title),
                            card_tags(card, &people),
                            card.id
                        ));
                    }
                }
                s
            })
        }
        BoardCmd::Column { board, name, wip } => {
            let id = resolve(ws, &board, Some(ItemKind::Board))?;
            let col = ws.add_column(id, &name, wip)?;
            created(ctx, "created column", col)
        }
        BoardCmd::Rm { board } => {
            let id = resolve(ws, &board, Some(ItemKind::Board))?;
            ws.trash(id)?;
            created(ctx, "trashed board", id)
        }
    }
}

fn card_tags(card: &crate::model::CardView, people: &People) -> String {
    let mut s = String::new();
    for l in &card.labels {
        s.push_str(&format!(" #{}", clean(l)));
    }
    for a in &card.assignees {
        s.push_str(&format!(" @{}", clean(&people.label(a))));
    }
    if let Some(d) = &card.due {
        s.push_str(&format!(" due {d}"));
    }
    if card.comments > 0 {
        s.push_str(&format!(" ({} comments)", card.comments));
    }
    s
}

fn card(ctx: &Context, replica: &mut Replica, cmd: CardCmd) -> anyhow::Result<()> {
    // Assignees are members, named by address or display name: resolve before anything is
    // written, so a typo changes nothing.
    let cmd = match cmd {
        CardCmd::Add {
            board,
            title,
            column,
            description,
            mut fields,
        } => {
            fields.assignees = super::members::resolve_assignees(replica, &fields.assignees)?;
            CardCmd::Add {
                board,
                title,
                column,
                description,
                fields,
            }
        }
        CardCmd::Edit {
            card,
            title,
            description,
            labels,
            assignees: Some(assignees),
            due,
        } => CardCmd::Edit {
            card,
            title,
            description,
            labels,
            assignees: Some(super::members::resolve_assignees(replica, &assignees)?),
            due,
        },
        other => other,
    };
    let ws = replica.workspace();
    let people = ws.people();
    match cmd {
        CardCmd::Add {
            board,
            title,
            column,
            description,
            fields,
        } => {
            let board = resolve(ws, &board, Some(ItemKind::Board))?;
            let column = match column {
                Some(c) => resolve_column(ws, Some(board), &c)?,
                None => ws
                    .board(board, false)?
                    .columns
                    .first()
                    .map(|c| c.id)
                    .ok_or_else(|| {
                        anyhow!("the board has no columns; add one with `weft board column`")
                    })?,
            };
            let fields = CardFields {
                title,
                labels: fields.labels,
                assignees: fields.assignees,
                due: fields.due,
            };
            let id = ws.add_card(column, &fields, description.as_deref().unwrap_or(""))?;
            created(ctx, "created card", id)
        }
        CardCmd::Show { card } => {
            let id = resolve(ws, &card, Some(ItemKind::Card))?;
            let view = ws.card(id)?;
            let description = ws.body(id)?;
            let comments = ws.comments_on(id);
            #[derive(Serialize)]
            struct Out {
                #[serde(flatten)]
                card: crate::model::CardView,
                description: String,
                comments: Vec<crate::model::CommentView>,
            }
            let column = ws.title(view.column).unwrap_or_default();
            let out = Out {
                card: view,
                description,
                comments,
            };
            ctx.print(&out, || {
                let mut s = format!(
                    "{}{}\n[{}] in {}\n",
                    clean(&out.card.title),
                    card_tags(&out.card, &people),
                    out.card.id,
                    clean(&column)
                );
                if !out.description.is_empty() {
                    s.push_str(&format!("\n{}\n", clean(&out.description)));
                }
                s.push_str(&comment_lines(&out.comments, &people));
                s
            })
        }
        CardCmd::Mv {
            card,
            column,
            index,
        } => {
            let id = resolve(ws, &card, Some(ItemKind::Card))?;
            let board = ws.card(id)?.board;
            let col = resolve_column(ws, Some(board), &column)?;
            ws.move_card(id, col, index)?;
            created(ctx, "moved card", id)
        }
        CardCmd::Edit {
            card,
            title,
            description,
            labels,
            assignees,
            due,
        } => {
            let id = resolve(ws, &card, Some(ItemKind::Card))?;
            let old = ws.card(id)?;
            let fields = CardFields {
                title: title.unwrap_or(old.title),
                labels: labels.unwrap_or(old.labels),
                assignees: assignees.unwrap_or(old.assignees),
                due: match due {
                    Some(d) if d.trim().is_empty() => None,
                    Some(d) => Some(d),
                    None => old.due,
                },
            };
            ws.edit_card(id, &fields)?;
            if let Some(d) = description {
                ws.set_body(id, &d)?;
            }
            created(ctx, "edited card", id)
        }
        CardCmd::Rm { card } => {
            let id = resolve(ws, &card, Some(ItemKind::Card))?;
            ws.trash(id)?;
            created(ctx, "trashed card", id)
        }
    }
}

fn comment_lines(comments: &[crate::model::CommentView], people: &People) -> String {
    let mut s = String::new();
    for c in comments {
        let indent = if c.parent.is_some() { "    " } else { "  " };
        let state = if c.resolved { " (resolved)" } else { "" };
        let at = c.anchor.map(|a| format!(" @{a}")).unwrap_or_default();
        s.push_str(&format!(
            "{indent}[{}] {}{at}{state}: {}\n",
            c.id,
            clean(&people.label(&c.author)),
            clean(&c.body).replace('\n', &format!("\n{indent}  "))
        ));
    }
    s
}

fn comment(ctx: &Context, replica: &mut Replica, cmd: CommentCmd) -> anyhow::Result<()> {
    let ws = replica.workspace();
    let people = ws.people();
    match cmd {
        CommentCmd::Add {
            target,
            text,
            at,
            quote,
            reply_to,
        } => {
            let reply_to = reply_to.map(|r| CommentId::parse(&r)).transpose()?;
            let target = match (&reply_to, target.as_str()) {
                (Some(p), _) if target.is_empty() => ws.comment(p)?.target.parse()?,
                _ => resolve_commentable(ws, &target)?,
            };
            let anchor = match quote {
                Some(q) => {
                    let body = ws.body(target)?;
                    let byte = body
                        .find(&q)
                        .ok_or_else(|| anyhow!("the text {q:?} does not occur in it"))?;
                    Some(body[..byte].chars().count())
                }
                None => at,
            };
            let id = ws.add_comment(target, &text, anchor, reply_to.as_ref())?;
            created(ctx, "added comment", id)
        }
        CommentCmd::Ls { target } => {
            let comments = match target {
                Some(t) => {
                    let id = resolve_commentable(ws, &t)?;
                    ws.comments_on(id)
                }
                None => ws
                    .all_comments()
                    .into_iter()
                    .filter(|c| !c.deleted)
                    .collect(),
            };
            ctx.print(&comments, || {
                let mut s = String::new();
                for c in &comments {
                    if c.detached {
                        s.push_str(&format!("detached (was on {}):\n", clean(&c.context)));
                    }
                    s.push_str(&comment_lines(std::slice::from_ref(c), &people));
                }
                if s.is_empty() {
                    s.push_str("no comments");
                }
                s
            })
        }
        CommentCmd::Resolve { id, reopen } => {
            let id = CommentId::parse(&id)?;
            ws.resolve_comment(&id, !reopen)?;
            created(
                ctx,
                if reopen {
                    "reopened comment"
                } else {
                    "resolved comment"
                },
                id,
            )
        }
    }
}

fn trash(ctx: &Context, replica: &mut Replica, cmd: TrashCmd) -> anyhow::Result<()> {
    let ws = replica.workspace();
    let people = ws.people();
    match cmd {
        TrashCmd::Ls => {
            let items = ws.trashed_items();
            ctx.print(&items, || {
                if items.is_empty() {
                    return "the trash is empty".into();
                }
                items
                    .iter()
                    .map(|i| {
                        format!(
                            "{:<6} {}  [{}]  by {}\n",
                            i.kind,
                            clean(&i.title),
                            i.id,
                            clean(&people.label(&i.by))
                        )
                    })
                    .collect()
            })
        }
        TrashCmd::Restore { item } => {
            let id = resolve_trashed(ws, &item)?;
            ws.restore(id)?;
            created(ctx, "restored", id)
        }
        TrashCmd::Purge { item } => {
            let id = resolve_trashed(ws, &item)?;
            ws.purge(id)?;
            created(ctx, "purged", id)
        }
    }
}

/// Items in the trash by id or title (titles of live items don't compete).
fn resolve_trashed(ws: &Workspace, query: &str) -> anyhow::Result<ItemId> {
    if let Ok(id) = query.parse::<ItemId>() {
        return Ok(id);
    }
    let q = query.trim().to_lowercase();
    let found: Vec<ItemId> = ws
        .trashed_items()
        .into_iter()
        .filter(|i| i.title.to_lowercase() == q)
        .map(|i| i.id)
        .collect();
    match found.as_slice() {
        [id] => Ok(*id),
        [] => bail!("nothing called {query:?} in the trash (see `weft trash ls`)"),
        many => bail!(
            "{} trashed items are called {query:?}; use an id: {}",
            many.len(),
            many.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
