//! `weft export` and `weft import`. An export is written to a temporary folder beside the target and
//! renamed into place, so a crash never leaves half an export; an import reads and checks everything
//! before it writes anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use serde::{Deserialize, Serialize};

use super::{Context, ExportArgs};
use crate::model::{ExportedComment, ExportedItem, ItemKind, WorkspaceExport};

/// `workspace.json` of a JSON export: the structure, with each doc's and card's full content in its
/// own file.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    name: String,
    items: Vec<ManifestEntry>,
    #[serde(default)]
    detached_comments: Vec<ExportedComment>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestEntry {
    /// Relative path of the item's own file (docs and cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(flatten)]
    item: ExportedItem,
}

pub const MANIFEST: &str = "workspace.json";

pub fn export(ctx: &Context, args: ExportArgs) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let data = replica.workspace().export_all();
    if args.markdown && ctx.json {
        bail!("give one of --json DIR or --markdown DIR");
    }
    let (dir, markdown) = (args.dir, args.markdown);
    let files = if markdown {
        markdown_files(&data)
    } else {
        json_files(&data)?
    };
    write_folder(&dir, &files)?;
    #[derive(Serialize)]
    struct Out {
        dir: String,
        files: usize,
    }
    let out = Out {
        dir: dir.display().to_string(),
        files: files.len(),
    };
    ctx.print(&out, || format!("wrote {} files to {}", out.files, out.dir))
}

/// File-name-safe short form of a title.
fn slug(title: &str) -> String {
    let mut s: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s: String = s.trim_matches('-').chars().take(48).collect();
    if s.is_empty() {
        "untitled".into()
    } else {
        s
    }
}

fn item_stem(item: &ExportedItem) -> String {
    format!("{}-{}", slug(&item.title), item.id.replace('@', "_"))
}

fn json_files(data: &WorkspaceExport) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for item in &data.items {
        let file = match item.kind {
            ItemKind::Doc | ItemKind::Card => {
                let rel = format!("{}s/{}.json", item.kind, item_stem(item));
                files.push((PathBuf::from(&rel), serde_json::to_vec_pretty(item)?));
                Some(rel)
            }
            _ => None,
        };
        let mut summary = item.clone();
        if file.is_some() {
            summary.body.clear();
            summary.comments.clear();
            summary.attachments.clear();
        }
        entries.push(ManifestEntry {
            file,
            item: summary,
        });
    }
    let manifest = Manifest {
        format: data.format.clone(),
        version: data.version,
        name: data.name.clone(),
        items: entries,
        detached_comments: data.detached_comments.clone(),
    };
    files.push((
        PathBuf::from(MANIFEST),
        serde_json::to_vec_pretty(&manifest)?,
    ));
    Ok(files)
}

fn comments_markdown(title: &str, comments: &[ExportedComment]) -> String {
    let mut s = format!("# Comments on {title}\n\n");
    let ids: HashMap<&str, &ExportedComment> =
        comments.iter().map(|c| (c.id.as_str(), c)).collect();
    for c in comments.iter().filter(|c| !c.deleted) {
        let reply = c
            .parent
            .as_deref()
            .and_then(|p| ids.get(p))
            .map(|p| format!(" (reply to {})", p.author))
            .unwrap_or_default();
        let state = if c.resolved { " — resolved" } else { "" };
        s.push_str(&format!("## {}{reply}{state}\n\n", c.author));
        if !c.context.is_empty() {
            s.push_str(&format!("> {}\n\n", c.context.replace('\n', " ")));
        }
        s.push_str(&format!("{}\n\n", c.body));
    }
    s
}

fn markdown_files(data: &WorkspaceExport) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs: HashMap<&str, PathBuf> = HashMap::new();
    let mut index = format!("# {}\n\nExported from weft.\n\n", data.name);
    for item in &data.items {
        let trashed = item.trashed.is_some();
        let base = match item.parent.as_deref().and_then(|p| dirs.get(p)) {
            Some(d) => d.clone(),
            None if trashed => PathBuf::from("trash"),
            None => PathBuf::from(match item.kind {
                ItemKind::Doc => "docs",
                _ => "boards",
            }),
        };
        let base = if trashed && !base.starts_with("trash") {
            Path::new("trash").join(base)
        } else {
            base
        };
        let here = base.join(item_stem(item));
        dirs.insert(item.id.as_str(), here.clone());
        match item.kind {
            ItemKind::Doc | ItemKind::Card => {
                let mut text = format!("# {}\n\n", item.title);
                let mut facts = Vec::new();
                if !item.labels.is_empty() {
                    facts.push(format!("Labels: {}", item.labels.join(", ")));
                }
                if !item.assignees.is_empty() {
                    facts.push(format!("Assignees: {}", item.assignees.join(", ")));
                }
                if let Some(d) = &item.due {
                    facts.push(format!("Due: {d}"));
                }
                if let Some(t) = &item.trashed {
                    facts.push(format!("In the trash (by {})", t.by));
                }
                if !facts.is_empty() {
                    text.push_str(&format!("{}\n\n", facts.join(" · ")));
                }
                text.push_str(&item.body);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                let md = here.with_extension("md");
                index.push_str(&format!("- [{}]({})\n", item.title, md.display()));
                files.push((md, text.into_bytes()));
                if !item.comments.is_empty() {
                    files.push((
                        here.with_extension("comments.md"),
                        comments_markdown(&item.title, &item.comments).into_bytes(),
                    ));
                }
            }
            _ => {}
        }
    }
    if !data.detached_comments.is_empty() {
        files.push((
            PathBuf::from("detached-comments.md"),
            comments_markdown("items that no longer exist", &data.detached_comments).into_bytes(),
        ));
    }
    files.push((PathBuf::from("README.md"), index.into_bytes()));
    files
}

/// Write all files into a fresh folder next to `dir`, then rename it into place. `dir` must not exist
/// or be empty: an export never overwrites files.
fn write_folder(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            bail!(
                "{} exists and is not empty; choose a new folder",
                dir.display()
            );
        }
        std::fs::remove_dir(dir).with_context(|| format!("replacing empty {}", dir.display()))?;
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.weft-tmp-{}",
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        for (rel, bytes) in files {
            let path = tmp.join(rel);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        std::fs::rename(&tmp, dir)
            .with_context(|| format!("moving the export into {}", dir.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

pub fn import(ctx: &Context, dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let data = if dir.join(MANIFEST).is_file() {
        read_json_export(dir)?
    } else {
        read_markdown_folder(dir)?
    };
    let mut replica = ctx.open()?;
    // An import writes docs and boards: refuse it up front when the role does not allow that.
    for action in [crate::acl::Action::EditDocs, crate::acl::Action::EditBoards] {
        replica
            .can(&action)
            .map_err(|why| anyhow::anyhow!("not allowed: {why}; nothing was imported"))?;
    }
    let report = replica
        .workspace()
        .import_all(&data)
        .with_context(|| format!("importing {}", dir.display()))?;
    replica.flush()?;
    ctx.print(&report, || {
        format!(
            "imported {} docs, {} boards, {} columns, {} cards, {} comments",
            report.docs, report.boards, report.columns, report.cards, report.comments
        )
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid: {e}", path.display()))
}

fn read_json_export(dir: &Path) -> anyhow::Result<WorkspaceExport> {
    let manifest: Manifest = read_json(&dir.join(MANIFEST))?;
    let mut items = Vec::with_capacity(manifest.items.len());
    for entry in manifest.items {
        let item = match &entry.file {
            Some(rel) => {
                let rel_path = Path::new(rel);
                if rel_path.is_absolute()
                    || rel_path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    bail!(
                        "{}: item {} names a file outside the export: {rel}",
                        dir.join(MANIFEST).display(),
                        entry.item.id
                    );
                }
                let path = dir.join(rel_path);
                Within::new(dir)?.check(&path)?;
                let full: ExportedItem = read_json(&path)?;
                if full.id != entry.item.id {
                    bail!(
                        "{}: holds item {}, but {MANIFEST} expects {}",
                        path.display(),
                        full.id,
                        entry.item.id
                    );
                }
                ExportedItem {
                    parent: entry.item.parent,
                    ..full
                }
            }
            None => entry.item,
        };
        items.push(item);
    }
    Ok(WorkspaceExport {
        format: manifest.format,
        version: manifest.version,
        name: manifest.name,
        items,
        detached_comments: manifest.detached_comments,
    })
}

/// A folder of Markdown files becomes pages: sub-folders become parent pages, a leading `# Title`
/// line becomes the title.
fn read_markdown_folder(dir: &Path) -> anyhow::Result<WorkspaceExport> {
    let mut items = Vec::new();
    let mut counter = 0usize;
    fn walk(
        dir: &Path,
        parent: Option<String>,
        items: &mut Vec<ExportedItem>,
        counter: &mut usize,
        within: &mut Within,
    ) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .map(|n| n.to_string_lossy().starts_with('.'))
                    .unwrap_or(true)
            })
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let real = within.check(&path)?;
            if real.is_dir() {
                *counter += 1;
                let id = format!("{counter}@0");
                items.push(doc_item(&id, parent.clone(), &name, String::new()));
                within.enter(&real, &path)?;
                walk(&path, Some(id), items, counter, within)?;
                within.leave();
            } else if path.extension().is_some_and(|e| e == "md") && !name.ends_with(".comments") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {} (is it UTF-8 text?)", path.display()))?;
                let (title, body) = match text.strip_prefix("# ") {
                    Some(rest) => {
                        let (t, b) = rest.split_once('\n').unwrap_or((rest, ""));
                        (t.trim().to_string(), b.trim_start_matches('\n').to_string())
                    }
                    None => (name.clone(), text),
                };
                *counter += 1;
                items.push(doc_item(
                    &format!("{counter}@0"),
                    parent.clone(),
                    if title.is_empty() { &name } else { &title },
                    body,
                ));
            }
        }
        Ok(())
    }
    let mut within = Within::new(dir)?;
    walk(dir, None, &mut items, &mut counter, &mut within)?;
    if items.is_empty() {
        bail!(
            "{} holds neither {MANIFEST} (a weft JSON export) nor any .md files",
            dir.display()
        );
    }
    Ok(WorkspaceExport {
        format: crate::model::EXPORT_FORMAT.into(),
        version: 1,
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        items,
        detached_comments: Vec::new(),
    })
}

/// Deepest folder nesting an import follows.
const MAX_IMPORT_DEPTH: usize = 64;

/// Keeps an import inside the folder it was given: a link may point elsewhere inside it, but not
/// out of it, and not back into a folder being read (a loop).
struct Within {
    root: PathBuf,
    /// The real paths of the folders being read, outermost first.
    open: Vec<PathBuf>,
}

impl Within {
    fn new(dir: &Path) -> anyhow::Result<Self> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("reading {}", dir.display()))?;
        Ok(Self {
            open: vec![root.clone()],
            root,
        })
    }

    /// The real path of `path`, refused if it leads out of the folder being imported.
    fn check(&self, path: &Path) -> anyhow::Result<PathBuf> {
        let real = path
            .canonicalize()
            .with_context(|| format!("reading {} (a broken link?)", path.display()))?;
        if !real.starts_with(&self.root) {
            bail!(
                "{} leads to {}, outside the folder being imported; nothing was imported",
                path.display(),
                real.display()
            );
        }
        Ok(real)
    }

    /// Enters the folder at `real` (reached as `path`), refusing loops and deep nesting.
    fn enter(&mut self, real: &Path, path: &Path) -> anyhow::Result<()> {
        if self.open.iter().any(|p| p == real) {
            bail!(
                "{} links back to {}, which is being imported already (a loop); nothing was imported",
                path.display(),
                real.display()
            );
        }
        if self.open.len() > MAX_IMPORT_DEPTH {
            bail!(
                "{} is nested more than {MAX_IMPORT_DEPTH} folders deep; nothing was imported",
                path.display()
            );
        }
        self.open.push(real.to_path_buf());
        Ok(())
    }

    fn leave(&mut self) {
        self.open.pop();
    }
}

fn doc_item(id: &str, parent: Option<String>, title: &str, body: String) -> ExportedItem {
    ExportedItem {
        id: id.to_string(),
        kind: ItemKind::Doc,
        parent,
        title: title.to_string(),
        body,
        labels: vec![],
        assignees: vec![],
        due: None,
        wip_limit: None,
        created_by: String::new(),
        created_at: 0,
        trashed: None,
        comments: vec![],
        attachments: vec![],
    }
}
