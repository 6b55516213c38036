//! What every command needs: the home, the config, which workspace, and how to print.

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use std::sync::{Arc, OnceLock};

use crate::acl::{DeviceIdentity, ReplicaConfig};
use crate::model::{CardFields, Clock, Workspace};
use crate::store::identity::IdentityStore;
use crate::store::secret::{self, HomeSecret, Requested, SecretError};
use crate::store::{check_workspace_name, migrate, Home, Replica};

/// The embedded default workspace, created on first run.
pub const DEFAULT_WORKSPACE: &str = "default";
/// Who writes when this device is paired with no wallet (only before first run).
pub const LOCAL_ACTOR: &str = "local";

/// `config.toml` in the config dir. Unknown keys are ignored so a newer weft's file still loads.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub default_workspace: Option<String>,
    /// Sync directly with teammates on the same network (mDNS discovery and direct links);
    /// on unless `lan = false`.
    #[serde(default)]
    pub lan: Option<bool>,
}

pub struct Context {
    pub home: Home,
    pub json: bool,
    pub config: Config,
    workspace: Option<String>,
    secret: OnceLock<Arc<HomeSecret>>,
    /// Set by `weft init --passphrase`: how a new home should be protected.
    pub requested: Option<Requested>,
}

impl Context {
    pub fn new(workspace: Option<String>, json: bool) -> anyhow::Result<Self> {
        let home = Home::from_env()?;
        let config = load_config(&home)?;
        Ok(Context {
            home,
            json,
            config,
            workspace: workspace.filter(|w| !w.is_empty()),
            secret: OnceLock::new(),
            requested: None,
        })
    }

    /// The home secret, unlocked once per process. A home without one is set up now (the keyring or
    /// a key file, or a passphrase with `WEFT_PASSPHRASE` / `init --passphrase`); a home from an
    /// older weft that kept plaintext files is encrypted in place first.
    pub fn secret(&self) -> anyhow::Result<Arc<HomeSecret>> {
        if let Some(s) = self.secret.get() {
            return Ok(s.clone());
        }
        let s = if secret::is_set_up(&self.home) {
            migrate::recover(&self.home)?;
            secret::unlock(&self.home, passphrase_for_unlock)?
        } else {
            let requested = match (&self.requested, std::env::var("WEFT_PASSPHRASE")) {
                (Some(r), _) => r.clone(),
                (None, Ok(p)) if !p.is_empty() => Requested::Passphrase(p),
                _ => Requested::Auto,
            };
            let s = secret::set_up(&self.home, requested)?;
            let done = migrate::encrypt_plaintext_databases(&self.home, &s.db_key())?;
            if !done.is_empty() {
                eprintln!(
                    "encrypted {} workspace database(s) written by an older weft",
                    done.len()
                );
            }
            s
        };
        for w in &s.warnings {
            eprintln!("warning: {w}");
        }
        let s = Arc::new(s);
        let _ = self.secret.set(s.clone());
        Ok(s)
    }

    /// The workspace this command is about: `-w`, then config, then the only one in the home.
    pub fn workspace_name(&self) -> anyhow::Result<String> {
        if let Some(w) = &self.workspace {
            return Ok(w.clone());
        }
        if let Some(w) = &self.config.default_workspace {
            return Ok(w.clone());
        }
        let all = self.home.workspaces();
        match all.as_slice() {
            [only] => Ok(only.clone()),
            [] => {
                bail!("no workspace yet: run `weft` to create the default one, or `weft init NAME`")
            }
            _ => bail!(
                "several workspaces ({}): choose one with -w NAME or set default_workspace in {}",
                all.join(", "),
                self.home.config_file().display()
            ),
        }
    }

    /// This home's identity files (device key created on first use).
    pub fn identity(&self) -> anyhow::Result<IdentityStore> {
        let ids = IdentityStore::open(&self.home, Some(self.secret()?))?;
        for w in &ids.warnings {
            eprintln!("warning: {w}");
        }
        Ok(ids)
    }

    /// The wallet address this device writes as, or "local" before any pairing.
    pub fn actor(&self) -> anyhow::Result<String> {
        let mut ids = self.identity()?;
        Ok(ids
            .active(time::OffsetDateTime::now_utc())?
            .map(|p| p.address)
            .unwrap_or_else(|| LOCAL_ACTOR.to_string()))
    }

    pub fn open(&self) -> anyhow::Result<Replica> {
        let name = self.workspace_name()?;
        self.open_named(&name)
    }

    /// Open workspace `name`: through its access-control engine when it is shared.
    pub fn open_named(&self, name: &str) -> anyhow::Result<Replica> {
        check_workspace_name(name)?;
        let path = self.home.workspace_db(name);
        let key = self.secret()?.db_key();
        let shared = path.is_file()
            && Replica::is_shared_db(&path, Some(&key))
                .with_context(|| format!("opening workspace {name:?}"))?;
        let replica = if shared {
            let me = self.signing_identity(&path, &key)?;
            Replica::open_shared(&path, Some(&key), me, ReplicaConfig::default())
                .with_context(|| format!("opening workspace {name:?}"))?
        } else {
            Replica::open_with(&path, Some(&key), &self.actor()?, Clock::System)
                .with_context(|| format!("opening workspace {name:?}"))?
        };
        if let Some(found) = replica.workspace().read_only() {
            eprintln!(
                "note: workspace {name:?} was written by a newer weft (schema {found}); it is open read-only"
            );
        }
        Ok(replica)
    }

    /// The identity this device signs a shared workspace's changes with: the wallet it joined
    /// the workspace as (kept in the workspace), else the active one.
    fn signing_identity(
        &self,
        path: &std::path::Path,
        key: &crate::store::DbKey,
    ) -> anyhow::Result<DeviceIdentity> {
        let member = Replica::member_address(path, Some(key))?;
        let mut ids = self.identity()?;
        let now = time::OffsetDateTime::now_utc();
        if let Some(me) = ids.signing_identity(member, now)? {
            return Ok(me);
        }
        match member {
            Some(a) => bail!(
                "this device has no valid pairing with {a}, the wallet it uses in this workspace; pair again with `weft pair {a}`"
            ),
            None => bail!("this device is not paired with a wallet; run `weft pair --local` or `weft pair ADDRESS`"),
        }
    }

    /// A background bucket sync for workspace `name` (its own connection, on its own thread).
    pub fn sync_worker(
        &self,
        name: &str,
        replica: &Replica,
    ) -> anyhow::Result<crate::sync::worker::SyncWorker> {
        let path = self.home.workspace_db(name);
        let key = self.secret()?.db_key();
        let me = self.signing_identity(&path, &key)?;
        let url = super::share::bucket_url(self, replica)?;
        let default = super::share::default_bucket(self);
        Ok(crate::sync::worker::SyncWorker::following(
            move || {
                Replica::open_shared(&path, Some(&key), me, ReplicaConfig::default())
                    .map_err(anyhow::Error::from)
            },
            url,
            Box::new(move |r| super::share::bucket_url_or(r, &default).ok()),
        ))
    }

    /// Whether to sync directly with teammates on the LAN: `flag` (`--lan`/`--no-lan`) if
    /// given, else `WEFT_LAN` (`on`/`off`), else `lan` in config.toml, else on.
    pub fn lan_enabled(&self, flag: Option<bool>) -> bool {
        let env = std::env::var("WEFT_LAN").ok().and_then(|v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "1" | "on" | "true" | "yes" => Some(true),
                "0" | "off" | "false" | "no" => Some(false),
                _ => None,
            }
        });
        flag.or(env).or(self.config.lan).unwrap_or(true)
    }

    /// What starts live sync for workspace `name`: through its relay, if it has one, and
    /// directly with teammates on the LAN if `lan`.
    pub fn live_starter(
        &self,
        name: &str,
        replica: &Replica,
        lan: bool,
    ) -> anyhow::Result<Option<crate::sync::live::LiveStarter>> {
        if replica.engine().is_none() {
            return Ok(None);
        }
        let relay = super::share::relay_url(replica)?;
        if relay.is_none() && !lan {
            return Ok(None);
        }
        let lan = lan.then(crate::sync::lan::LanOptions::default);
        let path = self.home.workspace_db(name);
        let key = self.secret()?.db_key();
        let me = self.signing_identity(&path, &key)?;
        Ok(Some(Box::new(move |changed| {
            crate::sync::live::LiveWorker::spawn_lanes(
                move || {
                    Replica::open_shared(&path, Some(&key), me, ReplicaConfig::default())
                        .map_err(anyhow::Error::from)
                },
                relay,
                lan,
                changed,
            )
        })))
    }

    /// Print `value` as JSON when `--json`, else the text `human` makes.
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        use std::io::Write;
        let text = if self.json {
            serde_json::to_string_pretty(value)?
        } else {
            human().trim_end_matches('\n').to_string()
        };
        if text.is_empty() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{text}").and_then(|_| out.flush()) {
            // `weft ls | head`: the reader left; that is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
}

/// `WEFT_PASSPHRASE` for scripts, else ask on the terminal (works over SSH: no GUI prompt).
pub fn passphrase_for_unlock() -> Result<String, SecretError> {
    if let Ok(p) = std::env::var("WEFT_PASSPHRASE") {
        return Ok(p);
    }
    super::prompt::hidden("weft passphrase: ").map_err(|_| SecretError::PassphraseRequired)
}

fn load_config(home: &Home) -> anyhow::Result<Config> {
    let path = home.config_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Create workspace `name`; the first one in a home becomes the default.
pub fn create_workspace(ctx: &Context, name: &str, sample: bool) -> anyhow::Result<Replica> {
    check_workspace_name(name)?;
    // The embedded default needs no wallet: weft's own local wallet pairs this device.
    let mut ids = ctx.identity()?;
    super::identity::ensure_paired(&mut ids)?;
    let now = time::OffsetDateTime::now_utc();
    let Some(me) = ids.signing_identity(None, now)? else {
        bail!("this device's pairing does not cover new workspaces; pair again with `weft pair`");
    };
    let path = ctx.home.workspace_db(name);
    let key = ctx.secret()?.db_key();
    let mut replica =
        Replica::create_shared(&path, Some(&key), name, me, ReplicaConfig::default())?;
    if sample {
        add_sample(replica.workspace())?;
        replica.flush()?;
    }
    if ctx.config.default_workspace.is_none() {
        set_default_workspace(ctx, name)?;
    }
    Ok(replica)
}

pub fn init(
    ctx: &Context,
    name: &str,
    sample: bool,
    bucket: Option<&str>,
    relay: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(url) = bucket {
        crate::sync::bucket::Bucket::open(url).context("the bucket URL is not usable")?;
    }
    if let Some(url) = relay {
        crate::sync::room::room_url(url, &[0; 32]).context("the relay URL is not usable")?;
    }
    let mut replica = create_workspace(ctx, name, sample)?;
    // Workspace settings: every member's device follows them.
    if bucket.is_some() || relay.is_some() {
        let ws = replica.workspace();
        if let Some(url) = bucket {
            ws.set_carrier(crate::model::Carrier::Bucket, Some(url))?;
        }
        if let Some(url) = relay {
            ws.set_carrier(crate::model::Carrier::Relay, Some(url))?;
        }
        replica.flush()?;
    }
    #[derive(Serialize)]
    struct Out<'a> {
        name: &'a str,
        path: String,
    }
    let path = replica.path().display().to_string();
    ctx.print(
        &Out {
            name,
            path: path.clone(),
        },
        || format!("created workspace {name:?} at {path}"),
    )
}

pub fn list_workspaces(ctx: &Context) -> anyhow::Result<()> {
    let all = ctx.home.workspaces();
    let current = ctx.workspace_name().ok();
    ctx.print(&all, || {
        all.iter()
            .map(|w| {
                let mark = if Some(w) == current.as_ref() {
                    "*"
                } else {
                    " "
                };
                format!("{mark} {w}\n")
            })
            .collect()
    })
}

/// `weft` with no subcommand: make sure the default workspace exists, then open the terminal UI on
/// it when stdout is a terminal, or say where it is when it is not (a pipe, a script).
pub fn first_run(ctx: &Context, theme: Option<&str>) -> anyhow::Result<()> {
    let created = ctx.home.workspaces().is_empty();
    if created {
        create_workspace(ctx, DEFAULT_WORKSPACE, true)?;
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && !ctx.json {
        let name = ctx.workspace_name()?;
        let replica = ctx.open()?;
        let pairer: Box<dyn crate::tui::Pairer> = Box::new(ctx.identity()?);
        let sync = if replica.engine().is_some() {
            Some(ctx.sync_worker(&name, &replica)?)
        } else {
            None
        };
        let blobs = match super::attach::blobs(ctx, &replica) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!(error = %e, "attachments cannot be fetched in this session");
                None
            }
        };
        let live = ctx.live_starter(&name, &replica, ctx.lan_enabled(None))?;
        let session = crate::tui::Session {
            pairer: Some(pairer),
            sync,
            live,
            blobs,
        };
        return crate::tui::run_with(replica, &ctx.home, &name, theme, session);
    }
    let replica = ctx.open()?;
    let ws = replica.workspace();
    println!(
        "{} workspace {:?} at {}",
        if created { "Created" } else { "Using" },
        ws.name(),
        replica.path().display()
    );
    println!(
        "{} docs, {} boards. Try:\n  weft ls\n  weft doc cat Welcome\n  weft card add \"{}\" \"My first card\"\n  weft --help",
        ws.docs(false).len(),
        ws.boards(false).len(),
        ws.boards(false).first().map(|b| b.name.clone()).unwrap_or_else(|| "Board".into()),
    );
    Ok(())
}

const WELCOME: &str = "# Welcome to weft

weft keeps your team's **documents**, **boards** and **comments** in one workspace that lives on
your machine and syncs with your teammates' — no server, no account.

## Getting around

- `weft ls` shows every doc and board.
- `weft doc new \"Meeting notes\"` creates a page; `weft doc edit` changes it.
- `weft card add \"Getting started\" \"Try weft\"` adds a card; `weft card mv` moves it.
- `weft comment add Welcome \"Looks good\"` starts a thread.
- `weft search WORDS` finds anything.

Everything you delete goes to the trash first (`weft trash ls`).
";

fn add_sample(ws: &Workspace) -> anyhow::Result<()> {
    let welcome = ws.create_doc("Welcome", None)?;
    ws.set_body(welcome, WELCOME)?;
    let notes = ws.create_doc("Team notes", None)?;
    ws.set_body(
        notes,
        "# Team notes\n\nWrite down what the team decided, and why.\n",
    )?;
    let board = ws.create_board("Getting started", &["To do", "Doing", "Done"])?;
    let columns: Vec<_> = ws
        .board(board, false)?
        .columns
        .iter()
        .map(|c| c.id)
        .collect();
    let card = |title: &str, labels: &[&str]| CardFields {
        title: title.into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        ..Default::default()
    };
    ws.add_card(
        columns[0],
        &card("Invite a teammate", &["team"]),
        "Share the workspace with someone.",
    )?;
    ws.add_card(columns[0], &card("Write the first doc", &["docs"]), "")?;
    ws.add_card(columns[1], &card("Read the welcome page", &[]), "")?;
    ws.add_card(columns[2], &card("Install weft", &["done"]), "")?;
    ws.add_comment(
        welcome,
        "Comments anchor to text and follow it as it is edited.",
        Some(0),
        None,
    )?;
    Ok(())
}

/// `weft init --passphrase`: only a new home can choose; an existing one uses `weft passphrase set`.
pub fn request_passphrase(ctx: &mut Context) -> anyhow::Result<()> {
    if secret::is_set_up(&ctx.home) {
        let current = ctx.secret()?.protection();
        if current != secret::Protection::Passphrase {
            anyhow::bail!(
                "this home is already protected ({current:?}); use `weft passphrase set` to switch to a passphrase"
            );
        }
        return Ok(());
    }
    let p = match std::env::var("WEFT_PASSPHRASE") {
        Ok(p) if !p.is_empty() => p,
        _ => super::prompt::new_passphrase().context("asking for the new passphrase")?,
    };
    ctx.requested = Some(Requested::Passphrase(p));
    Ok(())
}

/// `weft passphrase set|change|remove`: re-protect the home's master key; one atomic file swap.
pub fn passphrase(ctx: &Context, cmd: super::PassphraseCmd) -> anyhow::Result<()> {
    use super::PassphraseCmd;
    use secret::Protection;
    let s = ctx.secret()?;
    let now = match (cmd, s.protection()) {
        (PassphraseCmd::Set, Protection::Passphrase) => {
            anyhow::bail!("a passphrase is already set; use `weft passphrase change`")
        }
        (PassphraseCmd::Change | PassphraseCmd::Remove, p) if p != Protection::Passphrase => {
            anyhow::bail!("this home has no passphrase (it uses {p:?})")
        }
        (PassphraseCmd::Set | PassphraseCmd::Change, _) => {
            let p = super::prompt::new_passphrase().context("asking for the new passphrase")?;
            secret::reprotect(&ctx.home, &s, Requested::Passphrase(p))?
        }
        (PassphraseCmd::Remove, _) => secret::reprotect(&ctx.home, &s, Requested::Auto)?,
    };
    #[derive(Serialize)]
    struct Out {
        protection: secret::Protection,
        meaning: &'static str,
    }
    let out = Out {
        protection: now,
        meaning: now.explain(),
    };
    ctx.print(&out, || {
        format!("protection: {:?}\n  {}", out.protection, out.meaning)
    })
}

/// Make `name` the workspace commands use when none is given. The rest of `config.toml` (the app's
/// settings, the user's comments) is kept as it was.
pub fn set_default_workspace(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let path = ctx.home.config_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut config: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("reading {}", path.display()))?;
    config["default_workspace"] = toml_edit::value(name);
    crate::identity::keyfile::write_atomic(&path, config.to_string().as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
