//! `weft doctor`: where things are, which versions, and whether each store is healthy.

use serde::Serialize;

use super::Context;
use crate::model::{Clock, CURRENT_SCHEMA};
use crate::store::{Replica, StoreHealth, STORE_VERSION};

#[derive(Serialize)]
struct Report {
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    protection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protection_error: Option<String>,
    home: Paths,
    config_file: String,
    default_workspace: Option<String>,
    sqlite: String,
    schema: i64,
    store_version: i64,
    workspaces: Vec<WorkspaceReport>,
}

#[derive(Serialize)]
struct Paths {
    data: String,
    config: String,
    state: String,
}

#[derive(Serialize)]
struct WorkspaceReport {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<StoreHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Lost or damaged objects in the bucket this device knows of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bucket_problems: Vec<crate::sync::share::Problem>,
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let mut workspaces = Vec::new();
    let mut failed = false;
    let secret = ctx.secret();
    let (protection, protection_error) = match &secret {
        Ok(s) => (
            Some(format!(
                "{:?}: {}",
                s.protection(),
                s.protection().explain()
            )),
            None,
        ),
        Err(e) => {
            failed = true;
            (None, Some(format!("{e:#}")))
        }
    };
    let key = secret.as_ref().ok().map(|s| s.db_key());
    for name in ctx.home.workspaces() {
        let path = ctx.home.workspace_db(&name);
        let opened = match key.as_ref() {
            Some(k) if path.is_file() && Replica::is_shared_db(&path, Some(k)).unwrap_or(false) => {
                ctx.open_named(&name)
            }
            _ => Replica::open_with(
                &path,
                key.as_ref(),
                super::context::LOCAL_ACTOR,
                Clock::System,
            )
            .map_err(anyhow::Error::from),
        };
        let mut bucket_problems = Vec::new();
        let (health, error) = match opened.and_then(|r| {
            if r.engine().is_some() {
                bucket_problems = crate::sync::share::open_problems(&r).unwrap_or_default();
            }
            r.health().map_err(anyhow::Error::from)
        }) {
            Ok(h) => {
                failed |= h.integrity != "ok";
                (Some(h), None)
            }
            Err(e) => {
                failed = true;
                (None, Some(format!("{e:#}")))
            }
        };
        workspaces.push(WorkspaceReport {
            name,
            health,
            error,
            bucket_problems,
        });
    }
    let report = Report {
        version: super::VERSION,
        protection,
        protection_error,
        home: Paths {
            data: ctx.home.data.display().to_string(),
            config: ctx.home.config.display().to_string(),
            state: ctx.home.state.display().to_string(),
        },
        config_file: ctx.home.config_file().display().to_string(),
        default_workspace: ctx.config.default_workspace.clone(),
        sqlite: rusqlite::version().to_string(),
        schema: CURRENT_SCHEMA,
        store_version: STORE_VERSION,
        workspaces,
    };
    ctx.print(&report, || {
        let mut s = format!(
            "weft {}\n  data    {}\n  config  {}\n  state   {}\n  sqlite  {}  (workspace schema {}, store version {})\n",
            report.version, report.home.data, report.config_file, report.home.state, report.sqlite,
            report.schema, report.store_version
        );
        match (&report.protection, &report.protection_error) {
            (Some(p), _) => s.push_str(&format!("  at rest {p}\n")),
            (None, Some(e)) => s.push_str(&format!("  at rest PROBLEM: {e}\n")),
            _ => {}
        }
        if report.workspaces.is_empty() {
            s.push_str("\nno workspaces yet: run `weft`\n");
        }
        for w in &report.workspaces {
            let default = if report.default_workspace.as_deref() == Some(w.name.as_str()) { " (default)" } else { "" };
            match (&w.health, &w.error) {
                (Some(h), _) => {
                    s.push_str(&format!(
                        "\n{}{default}\n  file       {} ({} KiB)\n  integrity  {}\n",
                        w.name,
                        h.path.display(),
                        h.bytes / 1024,
                        h.integrity,
                    ));
                    match &h.shared {
                        Some(sh) => s.push_str(&format!(
                            "  shared     id {}, you are {} ({})\n  members    {}\n  changes    {} envelope(s), {} membership op(s)\n  quarantine {}\n  pending    {}\n",
                            sh.workspace_id,
                            sh.address,
                            sh.role.as_deref().unwrap_or("not a member"),
                            sh.members,
                            sh.envelopes,
                            sh.membership_ops,
                            sh.quarantined,
                            sh.pending,
                        )),
                        None => s.push_str(&format!(
                            "  changes    {} in log, {} snapshot(s)\n  outbox     {}\n  quarantine {}\n",
                            h.changes, h.snapshots, h.outbox, h.quarantine,
                        )),
                    }
                    if h.read_only {
                        s.push_str("  read-only: written by a newer weft\n");
                    }
                    for p in &w.bucket_problems {
                        s.push_str(&format!("  bucket     {p}\n"));
                    }
                }
                (None, Some(e)) => s.push_str(&format!("\n{}{default}\n  PROBLEM: {e}\n", w.name)),
                _ => {}
            }
        }
        s
    })?;
    if failed {
        anyhow::bail!("some workspaces have problems (see above)");
    }
    Ok(())
}
