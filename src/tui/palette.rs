//! The command palette: type to filter the registry by name and description, enter to run.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::App;
use super::commands::{CommandSpec, COMMANDS};
use super::msg::Effect;
use super::overlay::Overlay;
use super::theme::Slot;
use super::widgets::{centered, fit, list_row, pad, popup, put_line, LineInput};

/// The palette's query and selected row.
#[derive(Debug, Clone, Default)]
pub struct Palette {
    pub input: LineInput,
    pub selected: usize,
}

/// Commands whose name or description contains every word of `query` (case-insensitive).
pub fn matches(query: &str) -> Vec<&'static CommandSpec> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    COMMANDS
        .iter()
        .filter(|s| {
            let hay = format!("{} {}", s.name, s.description).to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .collect()
}

impl App {
    pub(crate) fn palette_key(&mut self, mut p: Palette, key: KeyEvent) -> Vec<Effect> {
        let found = matches(p.input.value());
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Enter => {
                return match found.get(p.selected) {
                    Some(spec) => self.run_command(spec.command),
                    None => Vec::new(),
                }
            }
            KeyCode::Down => p.selected = (p.selected + 1).min(found.len().saturating_sub(1)),
            KeyCode::Char('n') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                p.selected = (p.selected + 1).min(found.len().saturating_sub(1))
            }
            KeyCode::Up => p.selected = p.selected.saturating_sub(1),
            KeyCode::Char('p') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                p.selected = p.selected.saturating_sub(1)
            }
            _ => {
                if p.input.key(&key) {
                    p.selected = 0;
                }
            }
        }
        self.overlays.push(Overlay::Palette(p));
        Vec::new()
    }
}

/// Draw the palette.
pub fn render(app: &App, p: &Palette, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let rect = centered(
        area,
        area.width.saturating_sub(8).min(100),
        area.height.saturating_sub(4).min(20),
    );
    let inner = popup(rect, "Commands", theme, buf);
    if inner.height < 3 {
        return;
    }
    put_line(
        buf,
        inner,
        0,
        &Line::from(Span::styled(":", theme.fg(Slot::Accent))),
    );
    let field = Rect::new(inner.x + 2, inner.y, inner.width.saturating_sub(2), 1);
    p.input.render(field, buf, theme.base(), theme);
    let found = matches(p.input.value());
    let h = usize::from(inner.height - 2);
    let top = (p.selected + 1).saturating_sub(h);
    let w = usize::from(inner.width);
    let name_w = 24.min(w / 3);
    let key_w = 16.min(w / 5);
    let desc_w = w.saturating_sub(name_w + key_w + 4);
    if found.is_empty() {
        put_line(
            buf,
            inner,
            2,
            &Line::from(Span::styled("  no command matches", theme.fg(Slot::Muted))),
        );
    }
    for (row, (i, spec)) in found.iter().enumerate().skip(top).take(h).enumerate() {
        let keys = app.opts.keymap.describe(spec.command);
        let line = list_row(
            vec![
                Span::styled(pad(spec.name, name_w), theme.fg(Slot::Text)),
                Span::styled(pad(&keys, key_w), theme.fg(Slot::Title)),
                Span::raw(" "),
                Span::styled(fit(spec.description, desc_w), theme.fg(Slot::Muted)),
            ],
            i == p.selected,
            inner.width,
            theme,
        );
        put_line(buf, inner, row as u16 + 2, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_by_words() {
        let found = matches("move card");
        assert!(found.iter().any(|s| s.name == "board.move-card-right"));
        assert!(found
            .iter()
            .all(|s| s.name.contains("move") || s.description.contains("Move")));
        assert_eq!(matches("").len(), COMMANDS.len());
        assert!(matches("zzzz").is_empty());
    }
}
