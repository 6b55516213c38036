//! The trash screen: trashed items (restore, or purge after asking), and comments whose doc or card
//! was purged (detached comments), shown with the context they were written in.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::app::{App, Screen};
use super::commands::Command;
use super::msg::Effect;
use super::overlay::ConfirmAction;
use super::theme::Slot;
use super::threads;
use super::widgets::{fit, list_row, pad, pane, put_line, when};
use crate::model::{CommentView, TrashedItem, Workspace};

/// What is in the trash, and which item is selected.
#[derive(Debug, Clone)]
pub struct TrashScreen {
    pub items: Vec<TrashedItem>,
    pub detached: Vec<CommentView>,
    pub selected: usize,
}

impl TrashScreen {
    pub fn build(ws: &Workspace) -> Self {
        TrashScreen {
            items: ws.trashed_items(),
            detached: ws.detached_comments(),
            selected: 0,
        }
    }

    /// Rebuild, keeping the selection near where it was.
    pub fn build_keeping(ws: &Workspace, old: &TrashScreen) -> Self {
        let mut t = Self::build(ws);
        t.selected = old.selected.min(t.items.len().saturating_sub(1));
        t
    }
}

impl App {
    pub(crate) fn trash_command(&mut self, cmd: Command) -> Vec<Effect> {
        let Screen::Trash(t) = &mut self.screen else {
            self.info(format!(
                "{} works in the trash (T)",
                super::commands::spec(cmd).name
            ));
            return Vec::new();
        };
        let item = t.items.get(t.selected).cloned();
        match cmd {
            Command::TrashDown => {
                t.selected = (t.selected + 1).min(t.items.len().saturating_sub(1))
            }
            Command::TrashUp => t.selected = t.selected.saturating_sub(1),
            Command::TrashRestore => {
                if let Some(item) = item {
                    if self.writable() && self.change(|ws| ws.restore(item.id)).is_some() {
                        self.info(format!("restored “{}”", fit(&item.title, 40)));
                        self.reload();
                    }
                }
            }
            Command::TrashPurge => {
                if let Some(item) = item {
                    if self.writable() {
                        self.confirm(
                            format!(
                                "Delete {} “{}” for good? This cannot be undone.",
                                item.kind,
                                fit(&item.title, 30)
                            ),
                            ConfirmAction::Purge(item.id),
                        );
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// Draw the trash into the main pane.
pub fn render(app: &App, t: &TrashScreen, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let people = app.replica.workspace().people();
    let k = |c: Command| app.key_for(c);
    let hints = [
        (
            k(Command::TrashRestore),
            "restore",
            app.allows(&crate::acl::Action::Trash),
        ),
        (
            k(Command::TrashPurge),
            "delete for good",
            app.allows(&crate::acl::Action::Purge),
        ),
        (k(Command::Back), "back", true),
    ];
    let block = pane("Trash", focused, theme).title_bottom(Line::from(Span::styled(
        app.footer(&hints, area.width),
        theme.fg(Slot::Muted),
    )));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 {
        return;
    }
    let w = usize::from(inner.width);
    let mut row = 0u16;
    let head = |s: String| {
        Line::from(Span::styled(
            s,
            theme.fg(Slot::Accent).add_modifier(Modifier::BOLD),
        ))
    };
    put_line(
        buf,
        inner,
        row,
        &head(format!("Trashed items ({})", t.items.len())),
    );
    row += 1;
    if t.items.is_empty() {
        put_line(
            buf,
            inner,
            row,
            &Line::from(Span::styled("  the trash is empty", theme.fg(Slot::Muted))),
        );
        row += 1;
    }
    let list_h = usize::from(inner.height / 2).max(3);
    let top = (t.selected + 1).saturating_sub(list_h);
    let kind_w = 7;
    // On a narrow pane the title keeps the room: who and when go first.
    let narrow = w < 56;
    let when_w = if narrow { 0 } else { 17 };
    let by_w = if narrow { 0 } else { 12.min(w / 6) };
    let title_w = w.saturating_sub(kind_w + when_w + by_w + 5);
    for (i, item) in t.items.iter().enumerate().skip(top).take(list_h) {
        let line = list_row(
            vec![
                Span::styled(pad(item.kind.as_str(), kind_w), theme.fg(Slot::Label)),
                Span::styled(pad(&item.title, title_w), theme.fg(Slot::Text)),
                Span::raw(" "),
                Span::styled(
                    pad(&crate::tui::person(&people, &item.by), by_w),
                    theme.fg(Slot::Assignee),
                ),
                Span::styled(fit(&when(item.at), when_w), theme.fg(Slot::Muted)),
            ],
            focused && i == t.selected,
            inner.width,
            theme,
        );
        put_line(buf, inner, row, &line);
        row += 1;
    }
    row += 1;
    if row >= inner.height {
        return;
    }
    put_line(
        buf,
        inner,
        row,
        &head(format!(
            "Detached comments ({}): their doc or card was deleted",
            t.detached.len()
        )),
    );
    row += 1;
    if t.detached.is_empty() {
        put_line(
            buf,
            inner,
            row,
            &Line::from(Span::styled("  none", theme.fg(Slot::Muted))),
        );
        return;
    }
    let rest = Rect::new(
        inner.x,
        inner.y + row,
        inner.width,
        inner.height.saturating_sub(row),
    );
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut last_context = None;
    for (i, c) in t.detached.iter().enumerate() {
        if c.parent.is_none() && last_context.as_ref() != Some(&c.context) {
            lines.push(Line::from(Span::styled(
                format!("  on {}", fit(&c.context, w.saturating_sub(5))),
                theme.fg(Slot::Quote).add_modifier(Modifier::ITALIC),
            )));
            last_context = Some(c.context.clone());
        }
        let rows = threads::thread_lines(
            std::slice::from_ref(c),
            inner.width,
            None,
            theme,
            &people,
            |a| a + 1,
        );
        lines.extend(rows.into_iter().map(|(_, l)| l));
        let _ = i;
    }
    for (n, l) in lines.iter().take(usize::from(rest.height)).enumerate() {
        put_line(buf, rest, n as u16, l);
    }
}
