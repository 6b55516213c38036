//! `update`: the one place the app changes. Keys go to the top overlay first; otherwise they are
//! looked up in the keymap for the focused scope, then the global scope, and what is left is typed
//! into the editor when one has the keyboard.

use crossterm::event::{KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use tui_textarea::CursorMove;

use super::app::{App, Focus, Screen, Target};
use super::commands::{spec, Command, Scope};
use super::editor::{DocEditor, Outcome};
use super::help::Help;
use super::keymap::KeyCombo;
use super::msg::{Effect, Msg};
use super::overlay::{Overlay, PromptAction};
use super::palette::Palette;

/// The editor that has the keyboard, and its "editing" flag.
fn active_editor(screen: &mut Screen) -> Option<(&mut DocEditor, &mut bool)> {
    match screen {
        Screen::Doc(d) => Some((&mut d.editor, &mut d.editing)),
        Screen::Board(b) => b.detail.as_mut().map(|c| (&mut c.editor, &mut c.editing)),
        _ => None,
    }
}

impl App {
    /// React to one message; returns what the event loop should do next.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        // A refresh that finds nothing new changes nothing on screen; everything else may.
        if !matches!(msg, Msg::Refresh) {
            self.dirty = true;
        }
        let mut effects = match msg {
            // Nothing is drawn below the smallest size, so no input may reach a screen there
            // (only quitting, suspending and redrawing work).
            Msg::Key(key) if !self.drawn() => self.on_key_undrawn(key),
            Msg::Paste(_) | Msg::Mouse(_) if !self.drawn() => Vec::new(),
            Msg::Key(key) => self.on_key(key),
            Msg::Paste(text) => self.on_paste(&text),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Msg::Refresh => self.on_refresh(),
            Msg::Flush => self.on_flush(),
            Msg::Resumed => vec![Effect::ClearScreen],
            Msg::Terminate => {
                self.quit = true;
                vec![Effect::Quit]
            }
            Msg::Run(cmd) => self.run_command(cmd),
        };
        if self.unsaved && !self.flush_scheduled {
            self.flush_scheduled = true;
            effects.push(Effect::ScheduleFlush);
        }
        if let Some(l) = &self.live {
            l.set_here(self.here());
        }
        effects
    }

    /// Which scope gets keys first, from focus and what is on screen.
    pub fn scope(&self) -> Scope {
        if self.focus == Focus::Sidebar {
            return Scope::Sidebar;
        }
        match &self.screen {
            Screen::Home => Scope::Global,
            Screen::Doc(d) if d.editing => Scope::Editor,
            Screen::Doc(d) if d.panel && d.panel_focus => Scope::Comments,
            Screen::Doc(_) => Scope::Doc,
            Screen::Board(b) => match &b.detail {
                Some(c) if c.editing => Scope::Editor,
                Some(_) => Scope::Card,
                None => Scope::Board,
            },
            Screen::Trash(_) => Scope::Trash,
            Screen::History(_) => Scope::History,
            Screen::Members(_) => Scope::Members,
        }
    }

    /// A key while the terminal is too small to draw anything but a notice: quitting, suspending
    /// and redrawing (with their modifier keys) work; everything else is dropped.
    fn on_key_undrawn(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let combo = KeyCombo::from_event(&key);
        if !combo
            .mods
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return Vec::new();
        }
        match self.opts.keymap.lookup(Scope::Global, combo) {
            Some(cmd @ (Command::Quit | Command::Suspend | Command::Redraw)) => {
                self.run_command(cmd)
            }
            _ => Vec::new(),
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.status = None;
        let combo = KeyCombo::from_event(&key);
        let keymap = &self.opts.keymap;
        let modified = combo
            .mods
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
            || matches!(combo.code, crossterm::event::KeyCode::F(_));
        // Quitting, suspending and redrawing work everywhere, even over overlays and while typing.
        if modified {
            if let Some(cmd @ (Command::Quit | Command::Suspend | Command::Redraw)) =
                keymap.lookup(Scope::Global, combo)
            {
                return self.run_command(cmd);
            }
        }
        if let Some(top) = self.overlays.pop() {
            return self.overlay_key(top, key);
        }
        let scope = self.scope();
        if scope == Scope::Editor {
            if let Some(cmd) = keymap.lookup(Scope::Editor, combo) {
                return self.run_command(cmd);
            }
            if modified {
                if let Some(cmd) = keymap.lookup(Scope::Global, combo) {
                    return self.run_command(cmd);
                }
            }
            return self.editor_key(key);
        }
        let found = keymap
            .lookup(scope, combo)
            .or_else(|| {
                // The comments panel sits in the doc: the doc's keys work there too.
                (scope == Scope::Comments)
                    .then(|| keymap.lookup(Scope::Doc, combo))
                    .flatten()
            })
            .or_else(|| keymap.lookup(Scope::Global, combo));
        match found {
            Some(cmd) => self.run_command(cmd),
            None => Vec::new(),
        }
    }

    /// Run a registered command, wherever it came from (a key, the palette, a test).
    pub fn run_command(&mut self, cmd: Command) -> Vec<Effect> {
        match spec(cmd).scope {
            Scope::Global => self.global_command(cmd),
            Scope::Sidebar => self.sidebar_command(cmd),
            Scope::Doc | Scope::Comments => self.doc_command(cmd),
            Scope::Editor => self.editor_command(cmd),
            Scope::Board => self.board_command(cmd),
            Scope::Card => self.card_command(cmd),
            Scope::Trash => self.trash_command(cmd),
            Scope::History => self.history_command(cmd),
            Scope::Members => self.members_command(cmd),
        }
    }

    fn global_command(&mut self, cmd: Command) -> Vec<Effect> {
        match cmd {
            Command::Quit => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            Command::Suspend => return vec![Effect::Suspend],
            Command::Redraw => return vec![Effect::ClearScreen],
            Command::Help => self.overlays.push(Overlay::Help(Help::default())),
            Command::Messages => self
                .overlays
                .push(Overlay::Messages(super::messages::MessageLog::default())),
            Command::Palette => self.overlays.push(Overlay::Palette(Palette::default())),
            Command::Search => self.overlays.push(Overlay::Search(Box::default())),
            Command::FocusNext => {
                self.focus = match self.focus {
                    Focus::Sidebar => Focus::Main,
                    Focus::Main => Focus::Sidebar,
                }
            }
            Command::OpenTrash => self.open(Target::Trash),
            Command::OpenMembers => self.open(Target::Members),
            Command::Pair => self.overlays.push(Overlay::Pairing(Box::default())),
            Command::SetName => self.ask_display_name(),
            Command::Back => self.back(),
            _ => {}
        }
        Vec::new()
    }

    fn back(&mut self) {
        if self.focus == Focus::Sidebar {
            return;
        }
        let mut to_doc = None;
        match &mut self.screen {
            Screen::Doc(d) if d.panel_focus => d.panel_focus = false,
            Screen::Doc(d) if d.panel => d.panel = false,
            Screen::Board(b) if b.detail.is_some() => b.detail = None,
            Screen::History(h) => to_doc = Some(h.doc),
            _ => self.focus = Focus::Sidebar,
        }
        if let Some(doc) = to_doc {
            self.open(Target::Doc(doc));
        }
    }

    fn editor_command(&mut self, cmd: Command) -> Vec<Effect> {
        if cmd == Command::EditorComment {
            return match &self.screen {
                Screen::Doc(_) => self.doc_command(cmd),
                Screen::Board(b) => {
                    if let Some(c) = &b.detail {
                        let target = c.id;
                        self.prompt(
                            "Comment on the card",
                            "",
                            PromptAction::Comment {
                                target,
                                anchor: None,
                            },
                        );
                    }
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        let ws = self.replica.workspace();
        let Some((ed, editing)) = active_editor(&mut self.screen) else {
            self.info(format!("{} works while editing text", spec(cmd).name));
            return Vec::new();
        };
        let result = match cmd {
            Command::EditorLeave => {
                *editing = false;
                Ok(())
            }
            Command::EditorUndo => ed.undo(ws).map(|_| ()),
            Command::EditorRedo => ed.redo(ws).map(|_| ()),
            Command::EditorDeleteWord => ed.delete_word_back(ws),
            Command::EditorDeleteWordForward => ed.delete_word_forward(ws),
            Command::EditorKillLine => ed.kill_line(ws),
            Command::EditorKillToStart => ed.kill_to_start(ws),
            _ => Ok(()),
        };
        if cmd != Command::EditorLeave {
            self.unsaved = true;
        }
        if let Err(e) = result {
            self.error(e.to_string());
        }
        self.after_text_change();
        Vec::new()
    }

    /// Keep what is derived from the text (comment anchors, scroll) in step after an edit.
    fn after_text_change(&mut self) {
        let page = usize::from(super::doc::rects(self.layout().main, false).0.height);
        let ws = self.replica.workspace();
        if let Screen::Doc(d) = &mut self.screen {
            if !d.editing || d.panel {
                d.refresh_comments(ws);
            }
            d.follow_caret(page);
        }
    }

    fn editor_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ws = self.replica.workspace();
        let Some((ed, _)) = active_editor(&mut self.screen) else {
            return Vec::new();
        };
        match ed.input(ws, &key) {
            Ok(Outcome::Edited) => self.unsaved = true,
            Ok(_) => {}
            Err(e) => self.error(e.to_string()),
        }
        Vec::new()
    }

    fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        if !self.overlays.is_empty() {
            self.overlay_paste(text);
            return Vec::new();
        }
        // Only into text on screen with the keyboard (a narrow layout hides the main pane while
        // the sidebar has the focus).
        let editing = self.is_editing() && self.focus == Focus::Main;
        let ws = self.replica.workspace();
        match active_editor(&mut self.screen) {
            Some((ed, _)) if editing => match ed.paste(ws, text) {
                Ok(()) => self.unsaved = true,
                Err(e) => self.error(e.to_string()),
            },
            _ => self.info("paste goes into text: press i (or e) to edit first"),
        }
        self.after_text_change();
        Vec::new()
    }

    fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if !self.mouse {
            return Vec::new();
        }
        let step = match m.kind {
            MouseEventKind::ScrollDown => CursorMove::Down,
            MouseEventKind::ScrollUp => CursorMove::Up,
            _ => return Vec::new(),
        };
        if self.focus != Focus::Main {
            return Vec::new();
        }
        if let Some((ed, _)) = active_editor(&mut self.screen) {
            for _ in 0..3 {
                ed.move_caret(step);
            }
        }
        self.after_text_change();
        Vec::new()
    }

    /// Pick up what other processes committed; editors keep their carets on the same characters.
    fn on_refresh(&mut self) -> Vec<Effect> {
        self.poll_downloads();
        if let Some(l) = &self.live {
            let peers = l.peers();
            self.set_presence(peers);
        }
        self.exchange(self.unsaved);
        Vec::new()
    }

    /// Write pending local changes. On failure they stay queued and are tried again.
    fn on_flush(&mut self) -> Vec<Effect> {
        self.flush_scheduled = false;
        if self.unsaved {
            self.exchange(true);
        }
        Vec::new()
    }

    /// Bring the search index up to date with what was written (live editing leaves it for a
    /// quiet moment), before a search reads it.
    pub(crate) fn index_owed(&mut self) {
        if let Err(e) = self.replica.index_now() {
            tracing::warn!(error = %e, "the search index could not be updated");
        }
    }

    /// Talk to the store: import other processes' commits and, when `write`, write ours (in the
    /// way `Replica::sync_local` does, so our edits still reach the search index).
    fn exchange(&mut self, write: bool) {
        if let Some((ed, _)) = active_editor(&mut self.screen) {
            ed.anchor_caret();
        }
        let result = if write {
            self.replica.sync_local()
        } else {
            self.replica.refresh()
        };
        match result {
            Ok(arrived) => {
                if write {
                    self.unsaved = false;
                    if let Some(w) = &self.sync {
                        w.poke();
                    }
                    if let Some(l) = &self.live {
                        l.send_now(self.replica.take_sealed());
                        // Typing without a pause: the index still keeps up every 2 s.
                        if let Err(e) = self
                            .replica
                            .index_if_older(std::time::Duration::from_secs(2))
                        {
                            tracing::warn!(error = %e, "the search index could not be updated");
                        }
                    }
                } else {
                    // Indexed on a tick with nothing to write: off the path of the keystroke.
                    self.index_owed();
                }
                if arrived {
                    self.dirty = true;
                    let ws = self.replica.workspace();
                    if let Some((ed, _)) = active_editor(&mut self.screen) {
                        if let Err(e) = ed.sync(ws) {
                            tracing::warn!(error = %e, "could not apply a change to the open text");
                        }
                    }
                    self.reload();
                    self.after_text_change();
                }
            }
            Err(crate::store::StoreError::NotAllowed(why)) => {
                // The engine undid the edit: show the document without it, and why.
                self.dirty = true;
                self.unsaved = false;
                self.error(format!("not allowed: {why}; your edit was undone"));
                self.reload();
            }
            Err(e) => {
                self.dirty = true;
                if write {
                    self.error(format!("not saved yet (will retry): {e}"));
                } else {
                    self.error(format!("could not read changes from the store: {e}"));
                }
            }
        }
    }
}
