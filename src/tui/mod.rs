//! The terminal UI: `weft` with no subcommand opens it on the default workspace.
//!
//! Elm architecture: one [`App`] model, one [`Msg`] enum, [`App::update`] that returns [`Effect`]s for
//! the event loop, and a pure [`view`]. The event loop (`runtime.rs`) is one `tokio::select!` over
//! signals, terminal input and timers; it redraws only when something changed, coalesced and inside a
//! synchronized update. Commands are registered once (`commands.rs`); the keymap, the help overlay
//! and the command palette all derive from that registry. Overlays (help, palette, search, prompts)
//! are a stack over the screens. Colours come from themes by meaning (`theme.rs`); everything the
//! workspace holds is sanitised before it is drawn (`sanitize.rs`).
//!
//! Screens: sidebar (docs tree, boards, members, trash, sync status), document (view with Markdown
//! styling, edit with an editor bound to the Loro text, anchored comment threads), board (columns,
//! WIP limits, moving cards by key), card detail (fields, description, thread), search, trash
//! (restore, purge, detached comments), a doc's history (browse, restore as a new change).

pub mod app;
mod attachments;
mod board;
mod card;
pub mod commands;
mod doc;
pub mod editor;
mod help;
mod history;
pub mod keymap;
pub mod logging;
mod markdown;
mod members;
mod messages;
pub mod msg;
mod overlay;
mod pairing;
mod palette;
mod picker;
mod runtime;
pub mod sanitize;
mod search;
mod sidebar;
pub mod terminal;
pub mod theme;
mod threads;
mod trash;
mod update;
pub mod view;
mod widgets;
mod wrap;

use std::io::IsTerminal;

use anyhow::Context as _;

pub use app::{App, AppOptions, Target};
pub use commands::{Command, Scope};
pub use editor::DocEditor;
pub use keymap::Keymap;
pub use msg::{Effect, Msg};
pub use pairing::{Pairer, Pairing};
pub use theme::{ColorMode, Theme};
pub use view::view;

use crate::store::{Home, Replica};

/// Settings the TUI reads from `config.toml` (other keys there belong to other parts of weft).
#[derive(Debug, Default, serde::Deserialize)]
struct TuiConfig {
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    mouse: bool,
}

fn read_config(home: &Home) -> (TuiConfig, Option<String>) {
    let path = home.config_file();
    match std::fs::read_to_string(&path) {
        Ok(src) => match toml::from_str::<TuiConfig>(&src) {
            Ok(c) => (c, None),
            Err(e) => (
                TuiConfig::default(),
                Some(format!(
                    "{}: {}; using defaults",
                    path.display(),
                    e.message()
                )),
            ),
        },
        Err(_) => (TuiConfig::default(), None),
    }
}

/// Build the app for `replica`: theme (`--theme`, else `theme` in config.toml, else the default for
/// the terminal), keymap (`keys.toml`) and identity. Problems with those files become notices in the
/// status bar, never errors.
pub fn build_app(replica: Replica, home: &Home, workspace: &str, theme: Option<&str>) -> App {
    let (config, config_notice) = read_config(home);
    let mode = ColorMode::detect();
    let wanted = theme.map(str::to_string).or(config.theme.clone());
    let (theme, theme_notice) = Theme::load(wanted.as_deref(), &home.config, mode);
    let (keymap, keys_notice) = Keymap::load(&home.config);
    let identity = short_identity(replica.workspace().actor());
    let notices = [config_notice, theme_notice, keys_notice]
        .into_iter()
        .flatten()
        .collect();
    let mut app = App::new(
        replica,
        AppOptions {
            workspace: workspace.to_string(),
            identity,
            theme,
            keymap,
            notices,
        },
    );
    app.set_mouse(config.mouse);
    app
}

/// How a person is shown on screen: their display name (with a short address suffix when
/// another member has the same name), or their short address when they set none.
pub fn person(people: &crate::model::People, actor: &str) -> String {
    sanitize::line(&people.label(actor)).into_owned()
}

/// How the writer is shown in the status bar: a wallet address shortened to `0x1234…abcd`, anything
/// else ("local") as it is.
pub fn short_identity(actor: &str) -> String {
    let is_address = actor.len() == 42
        && actor.starts_with("0x")
        && actor[2..].chars().all(|c| c.is_ascii_hexdigit());
    if is_address {
        format!("{}…{}", &actor[..6], &actor[38..])
    } else {
        sanitize::line(actor).into_owned()
    }
}

/// Open the full-screen app on `replica` and run it until the user quits. The terminal is restored
/// however this ends (quit, error, panic), and local changes are flushed before it returns.
pub fn run(
    replica: Replica,
    home: &Home,
    workspace: &str,
    theme: Option<&str>,
) -> anyhow::Result<()> {
    run_with(replica, home, workspace, theme, Session::default())
}

/// What the app is given besides the workspace, every part optional: the home's identity files
/// so it can pair a wallet (`P`), background bucket sync, live sync, and where attachments are
/// fetched from.
#[derive(Default)]
pub struct Session {
    /// Pairs this device with a wallet from the app.
    pub pairer: Option<Box<dyn Pairer>>,
    /// Bucket sync in the background.
    pub sync: Option<crate::sync::worker::SyncWorker>,
    /// Starts live sync through the relay.
    pub live: Option<crate::sync::live::LiveStarter>,
    /// Where attachments are fetched from.
    pub blobs: Option<crate::sync::blobs::Blobs>,
}

/// Open the full-screen app on `replica` with `session`'s parts; see [`run`].
pub fn run_with(
    replica: Replica,
    home: &Home,
    workspace: &str,
    theme: Option<&str>,
    session: Session,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the terminal UI needs a terminal; use the subcommands (weft --help) in scripts"
        );
    }
    let _log = logging::init(&home.state);
    tracing::info!(workspace, "starting the terminal UI");
    let mut app = build_app(replica, home, workspace, theme);
    if let Some(p) = session.pairer {
        app.set_pairer(p);
    }
    if let Some(w) = session.sync {
        app.set_sync(w);
    }
    if let Some(start) = session.live {
        let wakeup = app.wakeup();
        app.set_live(start(Box::new(move || wakeup.notify_one())));
    }
    if let Some(b) = session.blobs {
        app.set_blobs(b);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    let mut term =
        terminal::TerminalGuard::enter(app.mouse_enabled()).context("setting up the terminal")?;
    let result = rt.block_on(runtime::run(&mut app, &mut term));
    drop(term);
    if let Err(e) = &result {
        tracing::error!(error = %e, "the terminal UI stopped");
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn wallet_addresses_are_shortened() {
        assert_eq!(
            super::short_identity("0x52908400098527886E0F7030069857D2E4169EE7"),
            "0x5290…9EE7"
        );
        assert_eq!(super::short_identity("local"), "local");
    }
}
