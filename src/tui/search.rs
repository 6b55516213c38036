//! The search overlay: full-text search over titles, bodies and comments as you type; enter jumps to
//! the hit (a doc opens with the caret on the match, a card opens in its board, a comment opens where
//! it was written).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::app::{App, Screen, Target};
use super::msg::Effect;
use super::overlay::Overlay;
use super::theme::{Slot, Theme};
use super::widgets::{centered, fit, list_row, pad, popup, put_line, LineInput};
use crate::model::{ItemId, ItemKind};
use crate::store::{Replica, SearchHit};

/// How many hits to show.
const LIMIT: usize = 30;

/// The query, its hits and the selected one.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub input: LineInput,
    pub hits: Vec<SearchHit>,
    pub selected: usize,
    pub error: Option<String>,
}

impl Search {
    /// Run the query against the store's index. A local FTS5 query with a small limit takes well
    /// under a millisecond, so it runs on every keystroke.
    pub fn run(&mut self, replica: &Replica) {
        self.selected = 0;
        match replica.search(self.input.value(), LIMIT) {
            Ok(hits) => {
                self.hits = hits;
                self.error = None;
            }
            Err(e) => {
                self.hits.clear();
                self.error = Some(e.to_string());
            }
        }
    }
}

impl App {
    pub(crate) fn search_key(&mut self, mut s: Box<Search>, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Enter => {
                if let Some(hit) = s.hits.get(s.selected).cloned() {
                    self.jump_to(&hit, s.input.value());
                    return Vec::new();
                }
            }
            KeyCode::Down => s.selected = (s.selected + 1).min(s.hits.len().saturating_sub(1)),
            KeyCode::Up => s.selected = s.selected.saturating_sub(1),
            _ => {
                if s.input.key(&key) {
                    self.index_owed();
                    s.run(&self.replica);
                }
            }
        }
        self.overlays.push(Overlay::Search(s));
        Vec::new()
    }

    fn jump_to(&mut self, hit: &SearchHit, query: &str) {
        let (id_text, is_comment) = match (&hit.target, hit.kind.as_str()) {
            (Some(t), "comment") => (t.as_str(), true),
            _ => (hit.id.as_str(), false),
        };
        let Ok(id) = id_text.parse::<ItemId>() else {
            self.error("that comment's doc or card no longer exists (see the trash)");
            return;
        };
        match self.kind_of(id) {
            Some(ItemKind::Doc) => {
                self.open(Target::Doc(id));
                if let Screen::Doc(d) = &mut self.screen {
                    if is_comment {
                        d.show_comment(&hit.id);
                    } else {
                        d.caret_to_text(query);
                    }
                }
            }
            Some(ItemKind::Card) => self.open(Target::Card(id)),
            Some(ItemKind::Board) => self.open(Target::Board(id)),
            Some(ItemKind::Column) => {
                let board = self
                    .workspace()
                    .boards(false)
                    .into_iter()
                    .find(|b| b.columns.iter().any(|c| c.id == id));
                match board {
                    Some(b) => self.open(Target::Board(b.id)),
                    None => self.error("that column is in the trash"),
                }
            }
            None => self.error("that item no longer exists"),
        }
    }
}

/// The snippet with the `[matched]` parts highlighted.
fn snippet_spans(snippet: &str, width: usize, theme: &Theme) -> Vec<Span<'static>> {
    let text = fit(snippet, width);
    let mut spans = Vec::new();
    let mut inside = false;
    let mut buf = String::new();
    let hit = theme
        .fg(Slot::Accent)
        .add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    for c in text.chars() {
        match c {
            '[' if !inside => {
                spans.push(Span::styled(
                    std::mem::take(&mut buf),
                    theme.fg(Slot::Muted),
                ));
                inside = true;
            }
            ']' if inside => {
                spans.push(Span::styled(std::mem::take(&mut buf), hit));
                inside = false;
            }
            c => buf.push(c),
        }
    }
    spans.push(Span::styled(
        buf,
        if inside { hit } else { theme.fg(Slot::Muted) },
    ));
    spans
}

/// Draw the search overlay.
pub fn render(app: &App, s: &Search, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let rect = centered(
        area,
        area.width.saturating_sub(8).min(100),
        area.height.saturating_sub(4).min(24),
    );
    let inner = popup(rect, "Search", theme, buf);
    if inner.height < 3 {
        return;
    }
    put_line(
        buf,
        inner,
        0,
        &Line::from(Span::styled("/", theme.fg(Slot::Accent))),
    );
    let field = Rect::new(inner.x + 2, inner.y, inner.width.saturating_sub(2), 1);
    s.input.render(field, buf, theme.base(), theme);
    let w = usize::from(inner.width);
    let status = match (&s.error, s.hits.len(), s.input.value().trim().is_empty()) {
        (Some(e), _, _) => Line::from(Span::styled(fit(e, w), theme.error())),
        (None, _, true) => Line::from(Span::styled(
            "  type to search titles, text and comments",
            theme.fg(Slot::Muted),
        )),
        (None, 0, false) => Line::from(Span::styled("  no matches", theme.fg(Slot::Muted))),
        (None, n, false) => Line::from(Span::styled(
            format!(
                "  {n} match{} · enter opens · esc closes",
                if n == 1 { "" } else { "es" }
            ),
            theme.fg(Slot::Muted),
        )),
    };
    put_line(buf, inner, 1, &status);
    let per = 2;
    let h = usize::from(inner.height - 2) / per;
    let top = (s.selected + 1).saturating_sub(h.max(1));
    for (slot, (i, hit)) in s.hits.iter().enumerate().skip(top).take(h).enumerate() {
        let row = (2 + slot * per) as u16;
        let kind = pad(&hit.kind, 8);
        let head = list_row(
            vec![
                Span::styled(kind, theme.fg(Slot::Label)),
                Span::styled(fit(&hit.title, w.saturating_sub(12)), theme.fg(Slot::Text)),
            ],
            i == s.selected,
            inner.width,
            theme,
        );
        put_line(buf, inner, row, &head);
        let mut snip = vec![Span::raw("          ")];
        snip.extend(snippet_spans(&hit.snippet, w.saturating_sub(10), theme));
        put_line(buf, inner, row + 1, &Line::from(snip));
    }
}
