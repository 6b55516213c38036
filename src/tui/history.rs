//! The history screen: a doc's earlier versions, newest first, each shown read-only; restoring one
//! writes its text as a new change (after asking), so nothing in the history is rewritten.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::app::{App, Screen, Target};
use super::commands::Command;
use super::markdown;
use super::msg::Effect;
use super::overlay::ConfirmAction;
use super::sanitize;
use super::theme::Slot;
use super::widgets::{fit, list_row, pane, put_line, when};
use crate::model::{DocVersion, ItemId, ModelError, Workspace};

/// A doc's versions and the one being looked at.
#[derive(Debug, Clone)]
pub struct HistoryScreen {
    pub doc: ItemId,
    pub title: String,
    /// Oldest first.
    pub versions: Vec<DocVersion>,
    /// Index into `versions`.
    pub selected: usize,
    /// The selected version's text.
    pub preview: String,
    /// Characters added and removed by each version, compared with the one before it.
    pub stats: Vec<(usize, usize)>,
    /// Versions older than the ones listed.
    pub older: usize,
}

/// How many versions the screen lists (the newest ones): each costs a fork of the history to read.
pub const MAX_VERSIONS: usize = 50;

/// Characters inserted and deleted between two texts (outside their common prefix and suffix).
pub fn char_diff(old: &str, new: &str) -> (usize, usize) {
    let a: Vec<char> = old.chars().collect();
    let b: Vec<char> = new.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (b.len() - prefix - suffix, a.len() - prefix - suffix)
}

impl HistoryScreen {
    /// The history of doc `id`, with the newest version selected.
    pub fn open(ws: &Workspace, id: ItemId) -> Result<Self, ModelError> {
        let mut all = ws.doc_history(id)?;
        let older = all.len().saturating_sub(MAX_VERSIONS);
        let mut before = match older.checked_sub(1) {
            Some(i) => ws.body_at(id, &all[i])?,
            None => String::new(),
        };
        let versions = all.split_off(older);
        let mut stats = Vec::with_capacity(versions.len());
        for v in &versions {
            let text = ws.body_at(id, v)?;
            stats.push(char_diff(&before, &text));
            before = text;
        }
        let mut h = HistoryScreen {
            doc: id,
            title: ws.title(id)?,
            selected: versions.len().saturating_sub(1),
            versions,
            preview: String::new(),
            stats,
            older,
        };
        h.load(ws)?;
        Ok(h)
    }

    fn load(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        if let Some(v) = self.versions.get(self.selected) {
            self.preview = ws.body_at(self.doc, v)?;
        }
        Ok(())
    }
}

impl App {
    pub(crate) fn history_command(&mut self, cmd: Command) -> Vec<Effect> {
        let Screen::History(h) = &mut self.screen else {
            self.info(format!(
                "{} works in a doc's history (H)",
                super::commands::spec(cmd).name
            ));
            return Vec::new();
        };
        let ws = self.replica.workspace();
        let before = h.selected;
        match cmd {
            Command::HistoryDown => h.selected = h.selected.saturating_sub(1),
            Command::HistoryUp => {
                h.selected = (h.selected + 1).min(h.versions.len().saturating_sub(1))
            }
            Command::HistoryRestore => {
                if let Some(v) = h.versions.get(h.selected) {
                    let question = format!(
                        "Make “{}” read as version {} again? (a new change; history is kept)",
                        fit(&h.title, 24),
                        v.number
                    );
                    let action = ConfirmAction::RestoreVersion {
                        doc: h.doc,
                        index: h.selected,
                    };
                    if self.writable() {
                        self.confirm(question, action);
                    }
                }
                return Vec::new();
            }
            _ => {}
        }
        if h.selected != before {
            if let Err(e) = h.load(ws) {
                self.error(e.to_string());
            }
        }
        Vec::new()
    }

    pub(crate) fn restore_version(&mut self, doc: ItemId, index: usize) {
        let Screen::History(h) = &self.screen else {
            return;
        };
        let Some(v) = h.versions.get(index).cloned() else {
            return;
        };
        if self.change(|ws| ws.restore_version(doc, &v)).is_some() {
            self.open(Target::Doc(doc));
            self.info(format!("restored version {} as a new change", v.number));
            self.reload();
        }
    }
}

/// Draw the history screen into the main pane.
pub fn render(app: &App, h: &HistoryScreen, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let block = pane(&format!("History · {}", h.title), focused, theme).title_bottom(Line::from(
        Span::styled(
            fit(
                " j/k older/newer · r restore · esc back ",
                usize::from(area.width.saturating_sub(4)),
            ),
            theme.fg(Slot::Muted),
        ),
    ));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width < 20 || inner.height < 3 {
        return;
    }
    let list_w = 24.min(inner.width / 3);
    let list = Rect::new(inner.x, inner.y, list_w, inner.height);
    let h_rows = usize::from(list.height);
    if h.versions.is_empty() {
        put_line(
            buf,
            list,
            0,
            &Line::from(Span::styled(" no versions", theme.fg(Slot::Muted))),
        );
        return;
    }
    // Newest first.
    let order: Vec<usize> = (0..h.versions.len()).rev().collect();
    let pos = order.iter().position(|i| *i == h.selected).unwrap_or(0);
    let top = (pos + 1).saturating_sub(h_rows);
    for (row, i) in order.iter().skip(top).take(h_rows).enumerate() {
        let v = &h.versions[*i];
        let (plus, minus) = h.stats.get(*i).copied().unwrap_or_default();
        let stamp = if v.timestamp > 0 {
            format!("{} ", when(v.timestamp * 1000))
        } else {
            String::new()
        };
        let latest = if *i + 1 == h.versions.len() {
            " now"
        } else {
            ""
        };
        let stamp = format!("{stamp}+{plus} −{minus}{latest}");
        let line = list_row(
            vec![
                Span::styled(
                    format!("v{}", v.number),
                    theme.fg(Slot::Title).add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    fit(&format!(" {stamp}"), usize::from(list_w).saturating_sub(6)),
                    theme.fg(Slot::Muted),
                ),
            ],
            *i == h.selected,
            list_w,
            theme,
        );
        put_line(buf, list, row as u16, &line);
    }
    let sep_x = inner.x + list_w;
    for y in inner.y..inner.y + inner.height {
        buf.set_string(sep_x, y, "│", theme.fg(Slot::Border));
    }
    let view = Rect::new(
        sep_x + 2,
        inner.y,
        inner.width.saturating_sub(list_w + 2),
        inner.height,
    );
    let number = h.versions.get(h.selected).map(|v| v.number).unwrap_or(0);
    let mut notes: Vec<String> = Vec::new();
    if h.older > 0 {
        notes.push(format!("{} older not listed", h.older));
    }
    if let Some(msg) = h
        .versions
        .get(h.selected)
        .and_then(|v| v.message.as_deref())
    {
        notes.push(format!("“{msg}”"));
    }
    let head = format!("v{number} of {} · read-only", h.versions.len() + h.older);
    let room = usize::from(view.width).saturating_sub(head.chars().count());
    put_line(
        buf,
        view,
        0,
        &Line::from(vec![
            Span::styled(head, theme.fg(Slot::Accent)),
            Span::styled(
                if notes.is_empty() {
                    String::new()
                } else {
                    fit(&format!(" · {}", notes.join(" · ")), room)
                },
                theme.fg(Slot::Muted),
            ),
        ]),
    );
    let text = sanitize::text(&h.preview);
    let mut row = 2u16;
    let mut fence = false;
    for line in text.split('\n') {
        let cells: Vec<(char, Style)> = markdown::style_line(line, fence, theme);
        if markdown::is_fence(line) {
            fence = !fence;
        }
        for l in markdown::wrap(&cells, usize::from(view.width)) {
            if row >= view.height {
                return;
            }
            put_line(buf, view, row, &l);
            row += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::char_diff;

    #[test]
    fn diff_counts_changed_characters() {
        assert_eq!(char_diff("hello world", "hello brave world"), (6, 0));
        assert_eq!(char_diff("abc", "ac"), (0, 1));
        assert_eq!(char_diff("", "é😀"), (2, 0));
        assert_eq!(char_diff("same", "same"), (0, 0));
    }
}
