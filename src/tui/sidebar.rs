//! The sidebar: the docs tree (nested pages), boards, members, trash and sync status.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::app::{App, Focus, Target};
use super::commands::Command;
use super::msg::Effect;
use super::overlay::{Overlay, Prompt, PromptAction};
use super::theme::{Slot, Theme};
use super::widgets::{fit, list_row, pane, put_line};
use crate::model::{ItemId, TrashStatus, Workspace};

/// One row of the sidebar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Section(&'static str),
    Doc {
        id: ItemId,
        title: String,
        depth: usize,
        /// Brought back from the trash because someone worked on it concurrently.
        restored: bool,
    },
    Board {
        id: ItemId,
        name: String,
        cards: usize,
    },
    Member(String),
    Trash(usize),
    /// Sync status: drawn from the app's state when the sidebar is drawn.
    Sync,
    Empty(&'static str),
}

impl Entry {
    fn selectable(&self) -> bool {
        matches!(
            self,
            Entry::Doc { .. } | Entry::Board { .. } | Entry::Trash(_) | Entry::Member(_)
        )
    }

    fn target(&self) -> Option<Target> {
        match self {
            Entry::Doc { id, .. } => Some(Target::Doc(*id)),
            Entry::Board { id, .. } => Some(Target::Board(*id)),
            Entry::Trash(_) => Some(Target::Trash),
            Entry::Member(_) => Some(Target::Members),
            _ => None,
        }
    }
}

/// The sidebar's rows and which one is selected.
#[derive(Debug, Clone)]
pub struct Sidebar {
    pub entries: Vec<Entry>,
    pub selected: usize,
    identity: String,
    /// Members as shown (short address and role); empty for a workspace that is not shared.
    members: Vec<String>,
}

impl Sidebar {
    /// Rows for the workspace as it is now.
    pub fn build(ws: &Workspace) -> Self {
        let mut s = Sidebar {
            entries: Vec::new(),
            selected: 0,
            identity: super::short_identity(ws.actor()),
            members: Vec::new(),
        };
        s.rebuild(ws);
        s
    }

    /// Re-read the rows, keeping the selection on the same item.
    pub fn rebuild(&mut self, ws: &Workspace) {
        let keep = self.entries.get(self.selected).and_then(Entry::target);
        let mut e = vec![Entry::Section("DOCS")];
        let docs = ws.docs(false);
        if docs.is_empty() {
            e.push(Entry::Empty("no docs yet (n)"));
        }
        e.extend(docs.into_iter().map(|d| Entry::Doc {
            id: d.id,
            restored: matches!(d.trash, TrashStatus::Restored { .. }),
            title: d.title,
            depth: d.depth,
        }));
        e.push(Entry::Section("BOARDS"));
        let boards = ws.boards(false);
        if boards.is_empty() {
            e.push(Entry::Empty("no boards yet (b)"));
        }
        e.extend(boards.into_iter().map(|b| Entry::Board {
            id: b.id,
            cards: b.columns.iter().map(|c| c.cards.len()).sum(),
            name: b.name,
        }));
        e.push(Entry::Section("MEMBERS"));
        if self.members.is_empty() {
            e.push(Entry::Member(format!("{} (you)", self.identity)));
        } else {
            // One row opens the members screen; the first few members are listed on it.
            e.extend(self.members.iter().take(5).cloned().map(Entry::Member));
            if self.members.len() > 5 {
                e.push(Entry::Member(format!("+{} more", self.members.len() - 5)));
            }
        }
        e.push(Entry::Section("TRASH"));
        e.push(Entry::Trash(ws.trashed_items().len()));
        e.push(Entry::Section("SYNC"));
        e.push(Entry::Sync);
        self.entries = e;
        self.selected = keep
            .and_then(|t| self.position(t))
            .or_else(|| self.entries.iter().position(Entry::selectable))
            .unwrap_or(0)
            .min(self.entries.len().saturating_sub(1));
        if !self.entries[self.selected].selectable() {
            self.step(1);
        }
    }

    /// The members to list (call [`rebuild`](Self::rebuild) after).
    pub fn set_members(&mut self, members: Vec<String>) {
        self.members = members;
    }

    fn position(&self, target: Target) -> Option<usize> {
        self.entries.iter().position(|e| e.target() == Some(target))
    }

    /// Select the row for `target`, if the sidebar has one.
    pub fn select_target(&mut self, target: Target) {
        if let Some(i) = self.position(target) {
            self.selected = i;
        }
    }

    fn step(&mut self, delta: isize) {
        let n = self.entries.len() as isize;
        let mut i = self.selected as isize;
        for _ in 0..n {
            i += delta;
            if i < 0 || i >= n {
                return;
            }
            if self.entries[i as usize].selectable() {
                self.selected = i as usize;
                return;
            }
        }
    }

    /// The doc or board under the selection.
    pub fn selected_item(&self) -> Option<(ItemId, String)> {
        match self.entries.get(self.selected)? {
            Entry::Doc { id, title, .. } => Some((*id, title.clone())),
            Entry::Board { id, name, .. } => Some((*id, name.clone())),
            _ => None,
        }
    }

    fn selected_doc(&self) -> Option<ItemId> {
        match self.entries.get(self.selected)? {
            Entry::Doc { id, .. } => Some(*id),
            _ => None,
        }
    }
}

impl App {
    pub(crate) fn sidebar_command(&mut self, cmd: Command) -> Vec<Effect> {
        match cmd {
            Command::SidebarDown => self.sidebar.step(1),
            Command::SidebarUp => self.sidebar.step(-1),
            Command::SidebarOpen => {
                if let Some(t) = self
                    .sidebar
                    .entries
                    .get(self.sidebar.selected)
                    .and_then(Entry::target)
                {
                    self.open(t);
                }
            }
            Command::NewDoc => self.prompt("New doc title", "", PromptAction::NewDoc(None)),
            Command::NewSubpage => match self.sidebar.selected_doc() {
                Some(parent) => self.prompt(
                    "New page under the selected doc",
                    "",
                    PromptAction::NewDoc(Some(parent)),
                ),
                None => self.info("select a doc first: the new page goes under it"),
            },
            Command::NewBoard => self.prompt(
                "New board name (columns: To do, Doing, Done)",
                "",
                PromptAction::NewBoard,
            ),
            Command::RenameItem => match self.sidebar.selected_item() {
                Some((id, title)) => self.prompt("Rename", &title, PromptAction::Rename(id)),
                None => self.info("select a doc or board to rename"),
            },
            Command::TrashItem => {
                if let Some((id, title)) = self.sidebar.selected_item() {
                    if self.writable() && self.change(|ws| ws.trash(id)).is_some() {
                        self.info(format!("trashed “{}” (T opens the trash)", fit(&title, 24)));
                        if self.shows(id) {
                            self.screen = super::app::Screen::Home;
                        }
                        self.reload();
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Whether the main pane shows `id`.
    pub(crate) fn shows(&self, id: ItemId) -> bool {
        use super::app::Screen;
        match &self.screen {
            Screen::Doc(d) => d.id == id,
            Screen::Board(b) => b.id == id,
            Screen::History(h) => h.doc == id,
            _ => false,
        }
    }

    pub(crate) fn prompt(&mut self, title: &str, initial: &str, action: PromptAction) {
        let allowed = if matches!(
            action,
            PromptAction::Reply { .. } | PromptAction::Comment { .. }
        ) {
            self.may(&crate::acl::Action::Comment)
        } else {
            self.writable()
        };
        if allowed {
            self.overlays
                .push(Overlay::Prompt(Prompt::new(title, initial, action)));
        }
    }
}

/// Draw the sidebar.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let focused = app.focus == Focus::Sidebar && app.overlays.is_empty();
    let block = pane(&app.workspace().name(), focused, theme);
    let inner = block.inner(area);
    block.render(area, buf);
    let s = &app.sidebar;
    let h = usize::from(inner.height);
    let top = (s.selected + 2).saturating_sub(h);
    let sync = if app.sync.is_none() && app.live.is_none() {
        "not set up".to_string()
    } else {
        app.sync_text()
    };
    for (row, (i, entry)) in s.entries.iter().enumerate().skip(top).take(h).enumerate() {
        let line = entry_line(
            entry,
            &sync,
            i == s.selected && focused,
            i == s.selected,
            inner.width,
            theme,
        );
        put_line(buf, inner, row as u16, &line);
    }
}

fn entry_line<'a>(
    e: &Entry,
    sync: &str,
    focused_sel: bool,
    selected: bool,
    width: u16,
    theme: &Theme,
) -> Line<'a> {
    let w = usize::from(width).saturating_sub(2);
    let muted = theme.fg(Slot::Muted);
    let text = match e {
        Entry::Section(name) => {
            return Line::from(Span::styled(
                fit(name, usize::from(width)),
                theme.fg(Slot::Accent).add_modifier(Modifier::BOLD),
            ))
        }
        Entry::Doc {
            title,
            depth,
            restored,
            ..
        } => {
            let indent = "  ".repeat((*depth).min(6));
            let mark = if *restored { " ↺" } else { "" };
            let t = fit(title, w.saturating_sub(indent.len() + mark.len()));
            vec![
                Span::raw(indent),
                Span::styled(t, theme.fg(Slot::Text)),
                Span::styled(mark, theme.fg(Slot::Warning)),
            ]
        }
        Entry::Board { name, cards, .. } => {
            let count = format!(" {cards}");
            let t = fit(name, w.saturating_sub(count.len()));
            vec![
                Span::styled(t, theme.fg(Slot::Text)),
                Span::styled(count, muted),
            ]
        }
        Entry::Member(name) => vec![Span::styled(fit(name, w), theme.fg(Slot::Assignee))],
        Entry::Trash(n) => vec![Span::styled(format!("Trash ({n})"), theme.fg(Slot::Text))],
        Entry::Sync => vec![Span::styled(fit(sync, w), muted)],
        Entry::Empty(s) => vec![Span::styled(fit(s, w), muted)],
    };
    if selected && !focused_sel {
        // Selected but the sidebar lacks focus: keep the marker, drop the highlight.
        let mut spans = vec![Span::styled("› ", theme.fg(Slot::Accent))];
        spans.extend(text);
        return Line::from(spans);
    }
    list_row(text, focused_sel, width, theme)
}
