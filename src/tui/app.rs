//! The app model: everything on screen is derived from this one value. `update` (in `update.rs`)
//! changes it in response to a [`Msg`]; `view` (in `view.rs`) draws it without changing it.

use ratatui::layout::Rect;

use super::board::BoardScreen;
use super::doc::DocScreen;
use super::history::HistoryScreen;
use super::keymap::Keymap;
use super::overlay::Overlay;
use super::sidebar::Sidebar;
use super::theme::Theme;
use super::trash::TrashScreen;
use crate::model::{ItemId, ItemKind, Workspace};
use crate::store::Replica;

/// Smallest terminal the app draws in. Below it the app says so and takes no input but quitting.
pub const MIN_SIZE: (u16, u16) = (40, 12);

/// Narrower than this, the sidebar and the main pane take turns at the full width: the one with
/// the focus is shown, and `tab` switches (the sidebar collapses to a toggle).
pub const SIDE_BY_SIDE: u16 = 80;

/// How many messages the message log keeps (the oldest go first, and the log says how many).
pub const MAX_MESSAGES: usize = 2000;

/// One message shown in the status bar, kept in the message log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedMessage {
    /// How it was shown.
    pub kind: StatusKind,
    /// The whole message.
    pub text: String,
    /// How many times in a row it was shown.
    pub repeats: usize,
}

/// How the app is set up: who is writing, with which theme and keys.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Workspace name shown in the status bar.
    pub workspace: String,
    /// The writer: a short wallet address, or "local".
    pub identity: String,
    /// Colours by meaning, already reduced to the terminal's colour depth.
    pub theme: Theme,
    /// Keys → commands, from the registry and `keys.toml`.
    pub keymap: Keymap,
    /// Problems found while starting (a bad theme or keymap file), shown in the status bar.
    pub notices: Vec<String>,
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The docs tree, boards and trash on the left.
    Sidebar,
    /// The doc, board, card, trash or history on the right.
    Main,
}

/// What the main pane shows.
#[derive(Debug)]
pub enum Screen {
    /// The welcome page with the main keys.
    Home,
    /// A document, read or edited.
    Doc(Box<DocScreen>),
    /// A board, or a card of it when its detail is open.
    Board(Box<BoardScreen>),
    /// Trashed items and detached comments.
    Trash(TrashScreen),
    /// A doc's earlier versions.
    History(Box<HistoryScreen>),
    /// Members and what was refused.
    Members(Box<super::members::MembersScreen>),
}

/// How a status message should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Something happened as asked.
    Info,
    /// Worth knowing (a limit passed, a setting not used).
    Warning,
    /// What was asked did not happen.
    Error,
}

/// A message in the status bar until the next key.
#[derive(Debug, Clone)]
pub struct Status {
    /// The message, in the domain's words.
    pub text: String,
    /// How it is shown.
    pub kind: StatusKind,
}

impl Status {
    /// Something happened as asked.
    pub fn info(text: String) -> Self {
        Status {
            text,
            kind: StatusKind::Info,
        }
    }
}

/// Where to go: what [`App::open`] can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A doc, in view mode.
    Doc(ItemId),
    /// A board.
    Board(ItemId),
    /// A card's detail, over its board.
    Card(ItemId),
    /// The trash.
    Trash,
    /// The history of a doc.
    History(ItemId),
    /// Members and the quarantine.
    Members,
}

/// The whole state of the terminal UI.
pub struct App {
    pub(crate) replica: Replica,
    pub(crate) opts: AppOptions,
    pub(crate) size: (u16, u16),
    pub(crate) focus: Focus,
    pub(crate) sidebar: Sidebar,
    pub(crate) screen: Screen,
    pub(crate) overlays: Vec<Overlay>,
    pub(crate) status: Option<Status>,
    /// Local changes not yet written to the store.
    pub(crate) unsaved: bool,
    pub(crate) flush_scheduled: bool,
    pub(crate) quit: bool,
    pub(crate) mouse: bool,
    /// Something on screen changed since the last draw.
    pub(crate) dirty: bool,
    /// The sync text last seen by a refresh: when it changes (connected, failed over, synced),
    /// the status bar is drawn again even if no content changed.
    pub(crate) shown_sync: String,
    /// The home's identity files, for pairing a wallet from the app (absent in tests that don't pair).
    pub(crate) pairer: Option<Box<dyn super::pairing::Pairer>>,
    /// Background bucket sync, when the workspace is shared.
    pub(crate) sync: Option<crate::sync::worker::SyncWorker>,
    /// Live sync through the relay, when the workspace has one.
    pub(crate) live: Option<crate::sync::live::LiveWorker>,
    /// Woken when something arrived live, so the loop looks at once.
    pub(crate) wakeup: std::sync::Arc<tokio::sync::Notify>,
    /// Teammates in the room at the last look, freshest first (drawn from here, so a frame
    /// never waits on the live worker).
    pub(crate) presence: Vec<crate::sync::live::Peer>,
    /// How many inputs were refused, counted when the workspace changed (not on every frame).
    pub(crate) refused: usize,
    /// Attachments being saved in the background, and where their content comes from.
    pub(crate) downloads: super::attachments::Downloads,
    /// Every message of the session, oldest first (at most [`MAX_MESSAGES`]).
    pub(crate) messages: std::collections::VecDeque<LoggedMessage>,
    /// Messages dropped from the front of the log to keep it bounded.
    pub(crate) messages_dropped: usize,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("workspace", &self.opts.workspace)
            .field("screen", &self.screen_name())
            .finish()
    }
}

impl App {
    /// An app on an open replica, showing the sidebar and the home screen.
    pub fn new(replica: Replica, opts: AppOptions) -> Self {
        if matches!(replica.workspace().clock(), crate::model::Clock::System) {
            // Change timestamps let the history screen say when each version was written.
            replica.workspace().loro().set_record_timestamp(true);
        }
        let mut sidebar = Sidebar::build(replica.workspace());
        sidebar.set_members(member_labels(&replica));
        sidebar.rebuild(replica.workspace());
        let status = if !opts.notices.is_empty() {
            Some(Status {
                text: opts.notices.join("; "),
                kind: StatusKind::Warning,
            })
        } else {
            replica.workspace().read_only().map(|found| Status {
                text: format!(
                    "read-only: written by a newer weft (schema {found}); upgrade to edit"
                ),
                kind: StatusKind::Warning,
            })
        };
        let refused = replica.quarantine().len();
        let mut app = App {
            replica,
            opts,
            size: MIN_SIZE,
            focus: Focus::Sidebar,
            sidebar,
            screen: Screen::Home,
            overlays: Vec::new(),
            status: None,
            unsaved: false,
            flush_scheduled: false,
            quit: false,
            mouse: false,
            dirty: true,
            shown_sync: String::new(),
            pairer: None,
            sync: None,
            live: None,
            wakeup: std::sync::Arc::default(),
            presence: Vec::new(),
            refused,
            downloads: Default::default(),
            messages: Default::default(),
            messages_dropped: 0,
        };
        if let Some(status) = status {
            app.set_status(status);
        }
        app
    }

    /// Show `status` in the status bar and keep it in the message log.
    pub(crate) fn set_status(&mut self, status: Status) {
        match self.messages.back_mut() {
            Some(last) if last.kind == status.kind && last.text == status.text => {
                last.repeats += 1;
            }
            _ => {
                if self.messages.len() >= MAX_MESSAGES {
                    self.messages.pop_front();
                    self.messages_dropped += 1;
                }
                self.messages.push_back(LoggedMessage {
                    kind: status.kind,
                    text: status.text.clone(),
                    repeats: 1,
                });
            }
        }
        self.status = Some(status);
    }

    /// Every message of the session still in the log, oldest first, and how many older ones
    /// were dropped to keep it bounded.
    pub fn messages(&self) -> (Vec<LoggedMessage>, usize) {
        (
            self.messages.iter().cloned().collect(),
            self.messages_dropped,
        )
    }

    /// Whether the local user may do `action` here now (the workspace is not from a newer weft
    /// and the role allows it), without saying anything: footers offer only what this allows.
    pub(crate) fn allows(&self, action: &crate::acl::Action) -> bool {
        self.workspace().read_only().is_none() && self.replica.can(action).is_ok()
    }

    /// The first key bound to `cmd` now ("—" when none is).
    pub(crate) fn key_for(&self, cmd: super::commands::Command) -> String {
        self.opts
            .keymap
            .keys_for(cmd)
            .first()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "—".into())
    }

    /// A pane's footer: the hints that are `offered` (what the role allows), in order, as many
    /// as fit in `width` columns, `key what` joined by " · ".
    pub(crate) fn footer(&self, hints: &[(String, &str, bool)], width: u16) -> String {
        use unicode_width::UnicodeWidthStr;
        let room = usize::from(width.saturating_sub(4));
        let mut out = String::new();
        for (key, what, offered) in hints {
            if !offered {
                continue;
            }
            let item = format!("{key} {what}");
            let next = if out.is_empty() {
                format!(" {item} ")
            } else {
                format!("{}· {item} ", out)
            };
            if next.width() > room {
                break;
            }
            out = next;
        }
        out
    }

    /// Whether the screen is big enough to be drawn (below [`MIN_SIZE`] input is not taken).
    pub fn drawn(&self) -> bool {
        self.size.0 >= MIN_SIZE.0 && self.size.1 >= MIN_SIZE.1
    }

    /// Let the app pair this device with a wallet (`P`), through `pairer`.
    pub fn set_pairer(&mut self, pairer: Box<dyn super::pairing::Pairer>) {
        self.pairer = Some(pairer);
    }

    /// Sync in the background with this worker (shown in the status bar, poked after writes).
    pub fn set_sync(&mut self, worker: crate::sync::worker::SyncWorker) {
        self.sync = Some(worker);
    }

    /// Sync live with this worker (shown in the status bar, poked after writes).
    pub fn set_live(&mut self, worker: crate::sync::live::LiveWorker) {
        // What this app writes goes to the worker straight away, and is indexed after.
        self.replica.defer_index(true);
        self.live = Some(worker);
    }

    /// What this device has open, as teammates see it ("doc: Plan").
    pub fn view_label(&self) -> String {
        match &self.screen {
            Screen::Home => "home".into(),
            Screen::Doc(d) => format!("doc: {}", d.title),
            Screen::Board(b) => match &b.detail {
                Some(c) => format!("card: {}", c.card.title),
                None => format!("board: {}", b.view.name),
            },
            Screen::Trash(_) => "trash".into(),
            Screen::Members(_) => "members".into(),
            Screen::History(h) => format!("history: {}", h.title),
        }
    }

    /// What this device tells teammates: what is open, and the caret in its text.
    pub fn here(&self) -> crate::sync::live::Here {
        let ws = self.replica.workspace();
        let caret = match &self.screen {
            Screen::Doc(d) => ws
                .caret_at(d.id, d.editor.caret_offset())
                .map(|c| (d.id.to_string(), c)),
            Screen::Board(b) => b.detail.as_ref().and_then(|c| {
                ws.caret_at(c.id, c.editor.caret_offset())
                    .map(|bytes| (c.id.to_string(), bytes))
            }),
            _ => None,
        };
        crate::sync::live::Here {
            view: self.view_label(),
            caret,
        }
    }

    /// Show these teammates as in the room (what the live worker reports, freshest first);
    /// the screen is redrawn if anything it shows of them changed.
    pub fn set_presence(&mut self, peers: Vec<crate::sync::live::Peer>) {
        // When each said so last does not show.
        let shown = |a: &crate::sync::live::Peer, b: &crate::sync::live::Peer| {
            (&a.address, &a.device, &a.view, &a.caret) == (&b.address, &b.device, &b.view, &b.caret)
        };
        if peers.len() != self.presence.len()
            || !peers.iter().zip(&self.presence).all(|(a, b)| shown(a, b))
        {
            self.dirty = true;
        }
        self.presence = peers;
    }

    /// Teammates in the room now: (address, what they have open).
    pub fn peers_here(&self) -> Vec<(String, String)> {
        self.presence
            .iter()
            .map(|p| (p.address.clone(), p.view.clone()))
            .collect()
    }

    /// What wakes the event loop when something arrived live.
    pub fn wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.wakeup.clone()
    }

    /// Devices of teammates reached directly on the LAN now (as the members screen names
    /// devices).
    pub fn lan_linked(&self) -> Vec<String> {
        self.live
            .as_ref()
            .and_then(|l| l.status().lan)
            .map(|s| s.linked.iter().map(|d| d.to_string()).collect())
            .unwrap_or_default()
    }

    /// The status bar's sync text: live or not, teammates reached on the LAN, when the bucket
    /// last synced, what is pending.
    pub fn sync_text(&self) -> String {
        let live = self.live.as_ref().map(|l| l.status());
        let bucket = self.bucket_text();
        let lan = match live.as_ref().and_then(|l| l.lan.as_ref()) {
            Some(s) if !s.linked.is_empty() => format!("LAN: {} · ", s.linked.len()),
            _ => String::new(),
        };
        match live {
            None => bucket,
            Some(l) if l.stopped.is_some() => format!("relay: stopped · {bucket}"),
            Some(l) if l.online => {
                let here = self.peers_here().len();
                // With several relays, which one (the worker fails over between them).
                let live = match &l.relay {
                    Some(r) if l.relays > 1 => {
                        format!("live on {}", r.split("://").nth(1).unwrap_or(r))
                    }
                    _ => "live".to_string(),
                };
                if here > 0 {
                    format!("{live}, {here} here · {lan}{bucket}")
                } else {
                    format!("{live} · {lan}{bucket}")
                }
            }
            // No relay: the LAN and the bucket are all there is.
            Some(l) if l.relays == 0 => format!("{lan}{bucket}"),
            Some(_) => format!("reconnecting · {lan}{bucket}"),
        }
    }

    fn bucket_text(&self) -> String {
        let Some(w) = &self.sync else {
            return "sync: off".into();
        };
        let s = w.status();
        let mut pending = if s.pending > 0 {
            format!(" ↑{}", s.pending)
        } else {
            String::new()
        };
        if s.damaged > 0 {
            pending.push_str(&format!(" · {} damaged in bucket (weft doctor)", s.damaged));
        }
        if s.stopped {
            return "sync: stopped".into();
        }
        if crate::sync::moves::unapproved_move(&self.replica)
            .ok()
            .flatten()
            .is_some()
        {
            // The admin moved the workspace to another endpoint: `weft sync` says where and how
            // to follow.
            return format!("bucket moved: weft sync{pending}");
        }
        if s.error.is_some() {
            return format!("offline{pending}");
        }
        match s.last_ok {
            None => format!("syncing…{pending}"),
            Some(t) => {
                let ago = t.elapsed().map(|d| d.as_secs()).unwrap_or(0);
                let when = if ago < 60 {
                    format!("{ago}s")
                } else if ago < 3600 {
                    format!("{}m", ago / 60)
                } else {
                    format!("{}h", ago / 3600)
                };
                format!("synced {when} ago{pending}")
            }
        }
    }

    /// The workspace being shown.
    pub fn workspace(&self) -> &Workspace {
        self.replica.workspace()
    }

    /// The replica (store) behind the app.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Mutable access to the replica, for the event loop's flushes.
    pub fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }

    /// Whether the app has been asked to quit.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// The theme in use.
    pub fn theme(&self) -> &Theme {
        &self.opts.theme
    }

    /// Whether mouse events are wanted (off by default).
    pub fn set_mouse(&mut self, on: bool) {
        self.mouse = on;
    }

    /// Whether mouse capture was asked for in config.toml.
    pub fn mouse_enabled(&self) -> bool {
        self.mouse
    }

    /// Whether the screen needs drawing; clears the flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Show a message from outside `update` (the event loop's own problems).
    pub fn notice(&mut self, text: &str, error: bool) {
        if error {
            self.error(text);
        } else {
            self.info(text);
        }
        self.dirty = true;
    }

    /// The status bar message, if any.
    pub fn status_text(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.text.as_str())
    }

    /// Whether local changes are waiting to be flushed.
    pub fn has_unsaved(&self) -> bool {
        self.unsaved
    }

    /// The editor with the keyboard or on screen: the doc's, or the open card's description.
    pub fn editor(&self) -> Option<&super::editor::DocEditor> {
        match &self.screen {
            Screen::Doc(d) => Some(&d.editor),
            Screen::Board(b) => b.detail.as_ref().map(|c| &c.editor),
            _ => None,
        }
    }

    /// Whether text is being edited (keys type into the editor).
    pub fn is_editing(&self) -> bool {
        match &self.screen {
            Screen::Doc(d) => d.editing,
            Screen::Board(b) => b.detail.as_ref().is_some_and(|c| c.editing),
            _ => false,
        }
    }

    /// A short name of what is on screen, for the status bar and tests.
    pub fn screen_name(&self) -> &'static str {
        if let Some(o) = self.overlays.last() {
            return o.name();
        }
        match &self.screen {
            Screen::Home => "HOME",
            Screen::Doc(d) if d.editing => "EDIT",
            Screen::Doc(_) => "VIEW",
            Screen::Board(b) => match &b.detail {
                Some(c) if c.editing => "EDIT",
                Some(_) => "CARD",
                None => "BOARD",
            },
            Screen::Trash(_) => "TRASH",
            Screen::Members(_) => "MEMBERS",
            Screen::History(_) => "HISTORY",
        }
    }

    pub(crate) fn info(&mut self, text: impl Into<String>) {
        self.set_status(Status {
            text: text.into(),
            kind: StatusKind::Info,
        });
    }

    pub(crate) fn warn(&mut self, text: impl Into<String>) {
        self.set_status(Status {
            text: text.into(),
            kind: StatusKind::Warning,
        });
    }

    pub(crate) fn error(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(%text, "shown to the user");
        self.set_status(Status {
            text,
            kind: StatusKind::Error,
        });
    }

    /// Run a workspace change; on failure say why in the status bar. Marks the store as behind.
    pub(crate) fn change<T>(
        &mut self,
        f: impl FnOnce(&Workspace) -> Result<T, crate::model::ModelError>,
    ) -> Option<T> {
        let result = f(self.replica.workspace());
        self.unsaved = true;
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(e.to_string());
                None
            }
        }
    }

    /// Whether the workspace may be written (not from a newer weft) and the local user's role
    /// lets them edit docs and boards; says why not in the status bar.
    pub(crate) fn writable(&mut self) -> bool {
        if let Some(found) = self.workspace().read_only() {
            self.error(format!(
                "read-only: this workspace was written by a newer weft (schema {found})"
            ));
            return false;
        }
        self.may(&crate::acl::Action::EditDocs)
    }

    /// How many inputs were refused (shown in the status bar; the members screen lists them).
    pub fn refused_count(&self) -> usize {
        self.refused
    }

    /// Whether the local user's role permits `action`; says why not in the status bar.
    pub(crate) fn may(&mut self, action: &crate::acl::Action) -> bool {
        match self.replica.can(action) {
            Ok(()) => true,
            Err(refusal) => {
                self.error(read_only_because(&self.replica, &refusal));
                false
            }
        }
    }

    /// Show `target` in the main pane and give it the keyboard.
    pub fn open(&mut self, target: Target) {
        self.focus = Focus::Main;
        let ws = self.replica.workspace();
        let theme = &self.opts.theme;
        let result = match target {
            Target::Doc(id) => DocScreen::open(ws, id, theme).map(|d| Screen::Doc(Box::new(d))),
            Target::Board(id) => BoardScreen::open(ws, id).map(|b| Screen::Board(Box::new(b))),
            Target::Card(id) => match ws.card(id) {
                Ok(card) => BoardScreen::open(ws, card.board).and_then(|mut b| {
                    b.select_card(id);
                    b.open_detail(ws, theme)?;
                    Ok(Screen::Board(Box::new(b)))
                }),
                Err(e) => Err(e),
            },
            Target::Trash => Ok(Screen::Trash(TrashScreen::build(ws))),
            Target::Members => Ok(Screen::Members(Box::new(
                super::members::MembersScreen::build(&self.replica),
            ))),
            Target::History(id) => {
                HistoryScreen::open_in(&self.replica, id).map(|h| Screen::History(Box::new(h)))
            }
        };
        match result {
            Ok(screen) => {
                self.screen = screen;
                self.sidebar.select_target(target);
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    /// Re-read everything derived from the workspace after it changed.
    pub(crate) fn reload(&mut self) {
        self.refused = self.replica.quarantine().len();
        self.sidebar.set_members(member_labels(&self.replica));
        let ws = self.replica.workspace();
        self.sidebar.rebuild(ws);
        let gone = match &mut self.screen {
            Screen::Home => None,
            Screen::Doc(d) => d.reload(ws).err(),
            Screen::Board(b) => b.reload(ws, &self.opts.theme).err(),
            Screen::Trash(t) => {
                *t = TrashScreen::build_keeping(ws, t);
                None
            }
            Screen::Members(m) => {
                **m = super::members::MembersScreen::build_keeping(&self.replica, m);
                None
            }
            Screen::History(h) => ws
                .kind_of(h.doc)
                .is_none()
                .then(|| "the doc was deleted".to_string()),
        };
        if let Some(why) = gone {
            self.screen = Screen::Home;
            self.focus = Focus::Sidebar;
            self.warn(why);
        }
    }

    /// The kind of a live item, if it exists.
    pub(crate) fn kind_of(&self, id: ItemId) -> Option<ItemKind> {
        self.workspace().kind_of(id)
    }

    /// Where the sidebar, main pane and status bar go at the current size.
    pub(crate) fn layout(&self) -> AppLayout {
        layout(Rect::new(0, 0, self.size.0, self.size.1), self.focus)
    }
}

/// The three regions of the screen.
#[derive(Debug, Clone, Copy)]
pub struct AppLayout {
    /// Left column: docs, boards, members, trash, sync.
    pub sidebar: Rect,
    /// Right: the open screen.
    pub main: Rect,
    /// Bottom row.
    pub status: Rect,
}

/// Split the screen: sidebar on the left (about a quarter, 22–32 columns), main pane, status bar.
/// Narrower than [`SIDE_BY_SIDE`], the pane with the focus takes the whole width and the other
/// gets an empty rectangle (it is not drawn).
pub fn layout(area: Rect, focus: Focus) -> AppLayout {
    let body_h = area.height.saturating_sub(1);
    let status = Rect::new(area.x, area.y + body_h, area.width, area.height.min(1));
    if area.width < SIDE_BY_SIDE {
        let full = Rect::new(area.x, area.y, area.width, body_h);
        let none = Rect::new(area.x, area.y, 0, 0);
        let (sidebar, main) = match focus {
            Focus::Sidebar => (full, none),
            Focus::Main => (none, full),
        };
        return AppLayout {
            sidebar,
            main,
            status,
        };
    }
    let side_w = (area.width / 4).clamp(22, 32).min(area.width);
    AppLayout {
        sidebar: Rect::new(area.x, area.y, side_w, body_h),
        main: Rect::new(
            area.x + side_w,
            area.y,
            area.width.saturating_sub(side_w),
            body_h,
        ),
        status: Rect::new(area.x, area.y + body_h, area.width, area.height.min(1)),
    }
}

/// Sidebar rows for the members of a shared workspace: name (or short address), role, and "you".
fn member_labels(replica: &Replica) -> Vec<String> {
    let people = replica.workspace().people();
    replica
        .member_list()
        .iter()
        .map(|m| {
            format!(
                "{} {}{}",
                super::person(&people, &m.address.to_checksum()),
                m.role,
                if m.you { " (you)" } else { "" }
            )
        })
        .collect()
}

/// Why the local user may not do something, in the words of the status bar: the role and what is
/// needed first (so it still reads on a narrow terminal), not the user's own address.
pub(crate) fn read_only_because(replica: &Replica, refusal: &crate::acl::Refusal) -> String {
    use crate::acl::Refusal;
    match refusal {
        Refusal::RoleTooLow {
            role, needed, what, ..
        } => format!(
            "read-only: you are {}; {what} needs {}",
            role.with_article(),
            needed.with_article()
        ),
        Refusal::NotAMember(_) => "read-only: you are not a member of this workspace".into(),
        other => {
            let role = replica
                .my_role()
                .map(|r| format!("you are {} here", r.with_article()))
                .unwrap_or_else(|| "you are not a member here".into());
            format!("read-only: {role} ({other})")
        }
    }
}
