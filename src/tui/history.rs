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
use super::widgets::{fit, list_row, pad, pane, put_line, when};
use crate::model::{DocVersion, ItemId, ModelError, Workspace};
use crate::store::Replica;
use unicode_width::UnicodeWidthStr;

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
    /// The first words each version added (or, when it only removed text, removed), and
    /// whether there was more.
    pub snippets: Vec<(String, bool)>,
    /// Who wrote each version: "you", a short wallet address, or "unknown".
    pub authors: Vec<String>,
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

/// How many characters of changed text a version keeps for its summary.
const SNIPPET: usize = 48;

/// The first words of what changed between two texts (what was inserted, or what was deleted
/// when nothing was), on one line, and whether there was more.
pub fn changed_words(old: &str, new: &str) -> (String, bool) {
    let a: Vec<char> = old.chars().collect();
    let b: Vec<char> = new.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let changed = if b.len() > prefix + suffix {
        &b[prefix..b.len() - suffix]
    } else {
        &a[prefix..a.len() - suffix]
    };
    let text: String = changed.iter().take(SNIPPET * 4).collect();
    let words = sanitize::line(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let cut = words.chars().count() > SNIPPET || changed.len() > SNIPPET * 4;
    (words.chars().take(SNIPPET).collect(), cut)
}

/// `words` in quotes in at most `width` columns, "…" where they were cut; empty when no words
/// (or no room for at least a few characters).
pub fn quote(words: &str, cut: bool, width: usize) -> String {
    if words.is_empty() || width < 5 {
        return String::new();
    }
    let inner = if cut || words.width() + 2 > width {
        let shown = fit(&format!("{words}  "), width - 2);
        let shown = shown.trim_end_matches('…').trim_end();
        format!("{shown}…")
    } else {
        words.to_string()
    };
    format!("‘{inner}’")
}

/// Who wrote `version`: in a shared workspace the member whose device's peer made the change
/// ("you" for the local user, "unknown" while no signed change has claimed the peer); in a
/// workspace that is not shared, everything was written here ("you").
pub fn author(replica: &Replica, version: &DocVersion) -> String {
    let Some(engine) = replica.engine() else {
        return "you".into();
    };
    let Some(peer) = version.frontiers.iter().next().map(|id| id.peer) else {
        return "unknown".into();
    };
    match engine.peer_author(peer) {
        Some(a) if a == engine.identity().address() => "you".into(),
        Some(a) => super::person(&replica.workspace().people(), &a.to_checksum()),
        None => "unknown".into(),
    }
}

impl HistoryScreen {
    /// The history of doc `id` in `replica`, with the newest version selected.
    pub fn open_in(replica: &Replica, id: ItemId) -> Result<Self, ModelError> {
        let mut h = Self::open(replica.workspace(), id)?;
        h.authors = h.versions.iter().map(|v| author(replica, v)).collect();
        Ok(h)
    }

    /// The history of doc `id`, with the newest version selected (authors not looked up).
    pub fn open(ws: &Workspace, id: ItemId) -> Result<Self, ModelError> {
        let mut all = ws.doc_history(id)?;
        let older = all.len().saturating_sub(MAX_VERSIONS);
        let mut before = match older.checked_sub(1) {
            Some(i) => ws.body_at(id, &all[i])?,
            None => String::new(),
        };
        let versions = all.split_off(older);
        let mut stats = Vec::with_capacity(versions.len());
        let mut snippets = Vec::with_capacity(versions.len());
        for v in &versions {
            let text = ws.body_at(id, v)?;
            stats.push(char_diff(&before, &text));
            snippets.push(changed_words(&before, &text));
            before = text;
        }
        let mut h = HistoryScreen {
            doc: id,
            title: ws.title(id)?,
            selected: versions.len().saturating_sub(1),
            versions,
            preview: String::new(),
            stats,
            snippets,
            authors: Vec::new(),
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
    let hints = [
        ("j/k".to_string(), "older/newer", true),
        (
            app.key_for(Command::HistoryRestore),
            "restore",
            app.allows(&crate::acl::Action::EditDocs),
        ),
        (app.key_for(Command::Back), "back", true),
    ];
    let block = pane(&format!("History · {}", h.title), focused, theme).title_bottom(Line::from(
        Span::styled(app.footer(&hints, area.width), theme.fg(Slot::Muted)),
    ));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width < 20 || inner.height < 3 {
        return;
    }
    let list_w = 40.min(inner.width / 2);
    let list = Rect::new(inner.x, inner.y, list_w, inner.height);
    if h.versions.is_empty() {
        put_line(
            buf,
            list,
            0,
            &Line::from(Span::styled(" no versions", theme.fg(Slot::Muted))),
        );
        return;
    }
    // Newest first, two rows each: who and when, then what changed.
    let per_page = (usize::from(list.height) / 2).max(1);
    let order: Vec<usize> = (0..h.versions.len()).rev().collect();
    let pos = order.iter().position(|i| *i == h.selected).unwrap_or(0);
    let top = (pos + 1).saturating_sub(per_page);
    let text_w = usize::from(list_w).saturating_sub(2);
    for (n, i) in order.iter().skip(top).take(per_page).enumerate() {
        let v = &h.versions[*i];
        let (plus, minus) = h.stats.get(*i).copied().unwrap_or_default();
        let who = h.authors.get(*i).map(String::as_str).unwrap_or("");
        let mut head = format!("v{}", v.number);
        let mut rest = String::new();
        if !who.is_empty() {
            rest.push_str(&format!(" {who}"));
        }
        if v.timestamp > 0 {
            rest.push_str(&format!(" · {}", when(v.timestamp * 1000)));
        }
        if *i + 1 == h.versions.len() {
            rest.push_str(" · now");
        }
        let rest = fit(&rest, text_w.saturating_sub(head.chars().count()));
        let selected = *i == h.selected;
        let first = list_row(
            vec![
                Span::styled(
                    std::mem::take(&mut head),
                    theme.fg(Slot::Title).add_modifier(Modifier::BOLD),
                ),
                Span::styled(rest, theme.fg(Slot::Text)),
            ],
            selected,
            list_w,
            theme,
        );
        let counts = format!("  +{plus} −{minus}");
        let snippet = h
            .snippets
            .get(*i)
            .map(|(words, cut)| quote(words, *cut, text_w.saturating_sub(counts.width() + 1)))
            .unwrap_or_default();
        let summary = if snippet.is_empty() {
            counts
        } else {
            format!("{counts} {snippet}")
        };
        // The second row of the selected version is highlighted without a second marker.
        let second = if selected {
            Line::from(vec![Span::raw("  "), Span::raw(pad(&summary, text_w))])
                .style(theme.selection())
        } else {
            list_row(
                vec![Span::styled(fit(&summary, text_w), theme.fg(Slot::Muted))],
                false,
                list_w,
                theme,
            )
        };
        let y = (n * 2) as u16;
        put_line(buf, list, y, &first);
        if y + 1 < list.height {
            put_line(buf, list, y + 1, &second);
        }
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
    // Tabs stay (wrapping draws them to the next tab stop); what must not reach the terminal goes.
    let text: String = h
        .preview
        .chars()
        .filter(|c| !sanitize::is_unsafe(*c))
        .collect();
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
    use super::{changed_words, char_diff, quote};

    /// The quoted first words of a change, for a summary of about 26 columns.
    fn snippet(old: &str, new: &str) -> String {
        let (words, cut) = changed_words(old, new);
        quote(&words, cut, 26)
    }

    #[test]
    fn snippet_quotes_the_first_words_of_a_change() {
        assert_eq!(snippet("hello world", "hello brave world"), "‘brave’");
        // Only a deletion: what was removed.
        assert_eq!(
            snippet("keep this, drop that", "keep this"),
            "‘, drop that’"
        );
        assert_eq!(snippet("same", "same"), "");
        // Long insertions are cut, on one line, with an ellipsis.
        let long = "first words of a long paragraph\nthat goes on and on";
        assert_eq!(snippet("", long), "‘first words of a long p…’");
        assert_eq!(quote("short", false, 4), "", "no room");
        // Control characters never reach the screen.
        assert_eq!(snippet("", "\u{1b}[2Jhi"), "‘[2Jhi’");
    }

    #[test]
    fn diff_counts_changed_characters() {
        assert_eq!(char_diff("hello world", "hello brave world"), (6, 0));
        assert_eq!(char_diff("abc", "ac"), (0, 1));
        assert_eq!(char_diff("", "é😀"), (2, 0));
        assert_eq!(char_diff("same", "same"), (0, 0));
    }
}
