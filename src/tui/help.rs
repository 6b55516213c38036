//! The help overlay: every command in the registry, grouped by where it applies, with the keys the
//! keymap gives it now (so remapped keys show as remapped).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::app::App;
use super::commands::{Scope, COMMANDS};
use super::keymap::Keymap;
use super::theme::{Slot, Theme};
use super::widgets::{fit, pad, popup, put_line, LineInput};

/// Keys that edit text in the editor without being commands.
const TEXT_KEYS: &[(&str, &str)] = &[
    (
        "arrows, home, end",
        "move the caret (ctrl: by word, to the start or end)",
    ),
    (
        "shift + movement",
        "select text; typing or deleting replaces the selection",
    ),
    ("backspace, delete", "delete a character (or the selection)"),
    ("pageup, pagedown", "scroll a page"),
    ("paste", "bracketed paste inserts text as one change"),
];

/// The help overlay's scroll position and filter. `/` starts typing a filter; while typing,
/// keys go into it, enter keeps it and esc clears it.
#[derive(Debug, Clone, Default)]
pub struct Help {
    pub scroll: usize,
    /// Only rows whose keys, description or name hold every word of this are listed.
    pub filter: LineInput,
    /// Keys go into the filter.
    pub typing: bool,
}

impl Help {
    /// Handle a key; returns whether the overlay stays open.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        if self.typing {
            match key.code {
                KeyCode::Esc => {
                    self.filter = LineInput::default();
                    self.typing = false;
                }
                KeyCode::Enter | KeyCode::Down | KeyCode::Up => self.typing = false,
                _ => {
                    if self.filter.key(key) {
                        self.scroll = 0;
                    }
                }
            }
            return true;
        }
        match key.code {
            KeyCode::Char('/') => {
                self.typing = true;
                true
            }
            KeyCode::Esc if !self.filter.value().is_empty() => {
                self.filter = LineInput::default();
                self.scroll = 0;
                true
            }
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::F(1) => false,
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll += 1;
                true
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1);
                true
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.scroll += 10;
                true
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
                true
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.scroll = 0;
                true
            }
            _ => true,
        }
    }
}

/// Whether a row with these texts is kept by `filter` (every word, case-insensitive).
fn kept(filter: &[String], texts: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let hay = texts.join(" ").to_lowercase();
    filter.iter().all(|w| hay.contains(w.as_str()))
}

/// The help text: one heading per scope, one row per command; with a filter, only the rows that
/// match it (and the headings of their scopes).
pub fn lines(keymap: &Keymap, theme: &Theme, width: usize, filter: &str) -> Vec<Line<'static>> {
    let words: Vec<String> = filter.split_whitespace().map(str::to_lowercase).collect();
    let key_w = if width >= 100 { 24 } else { 18.min(width / 3) };
    // Names are what keys.toml uses; on a narrow screen the palette (:) shows them instead.
    let name_w = if width >= 100 { 24 } else { 0 };
    let desc_w = width.saturating_sub(key_w + name_w + 4);
    let mut out = Vec::new();
    for scope in Scope::ALL {
        let mut rows = Vec::new();
        for spec in COMMANDS.iter().filter(|s| s.scope == *scope) {
            let keys = keymap.describe(spec.command);
            let keys = if keys.is_empty() {
                "—".to_string()
            } else {
                keys
            };
            if !kept(&words, &[&keys, spec.description, spec.name, scope.title()]) {
                continue;
            }
            rows.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(pad(&keys, key_w), theme.fg(Slot::Title)),
                Span::raw(" "),
                Span::styled(pad(spec.description, desc_w), theme.fg(Slot::Text)),
                Span::raw(" "),
                Span::styled(fit(spec.name, name_w), theme.fg(Slot::Muted)),
            ]));
        }
        if *scope == Scope::Editor {
            for (keys, what) in TEXT_KEYS {
                if !kept(&words, &[keys, what, scope.title()]) {
                    continue;
                }
                rows.push(Line::from(vec![
                    Span::raw("  "),
                    Span::styled(pad(keys, key_w), theme.fg(Slot::Title)),
                    Span::raw(" "),
                    Span::styled(fit(what, desc_w + name_w + 1), theme.fg(Slot::Text)),
                ]));
            }
        }
        if rows.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(Line::default());
        }
        out.push(Line::from(Span::styled(
            scope.title().to_string(),
            theme.fg(Slot::Accent).add_modifier(Modifier::BOLD),
        )));
        out.extend(rows);
    }
    out
}

/// Draw the help overlay.
pub fn render(app: &App, help: &Help, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let rect = Rect::new(
        area.x + 2,
        area.y + 1,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let inner = popup(rect, "Help — keys (remap them in keys.toml)", theme, buf);
    if inner.height < 2 {
        return;
    }
    let filter = help.filter.value();
    let all = lines(&app.opts.keymap, theme, usize::from(inner.width), filter);
    let body_h = usize::from(inner.height - 1);
    let top = help.scroll.min(all.len().saturating_sub(body_h));
    for (row, line) in all.iter().skip(top).take(body_h).enumerate() {
        put_line(buf, inner, row as u16, line);
    }
    if all.is_empty() {
        put_line(
            buf,
            inner,
            0,
            &Line::from(Span::styled(
                fit(
                    &format!("  no key matches “{filter}” (esc clears)"),
                    usize::from(inner.width),
                ),
                theme.fg(Slot::Muted),
            )),
        );
    }
    let y = inner.height - 1;
    let w = usize::from(inner.width);
    if help.typing || !filter.is_empty() {
        // The filter line: "/" and what was typed, then the keys that apply.
        let hint = if help.typing {
            " · enter keep · esc clear"
        } else {
            " · / change · esc clear"
        };
        let field_w = w.saturating_sub(hint.chars().count() + 2).max(1);
        put_line(
            buf,
            inner,
            y,
            &Line::from(Span::styled("/", theme.fg(Slot::Accent))),
        );
        let field = Rect::new(inner.x + 1, inner.y + y, field_w as u16, 1);
        if help.typing {
            help.filter.render(field, buf, theme.base(), theme);
        } else {
            buf.set_string(field.x, field.y, fit(filter, field_w), theme.base());
        }
        let hint_x = inner.x + 1 + field_w as u16;
        buf.set_string(
            hint_x,
            inner.y + y,
            fit(hint, w.saturating_sub(field_w + 1)),
            theme.fg(Slot::Muted),
        );
        return;
    }
    let footer = if all.len() > body_h {
        format!(
            " / filter · j/k scroll · esc close · {}–{} of {}",
            top + 1,
            (top + body_h).min(all.len()),
            all.len()
        )
    } else {
        " / filter · esc close".to_string()
    };
    put_line(
        buf,
        inner,
        y,
        &Line::from(Span::styled(fit(&footer, w), theme.fg(Slot::Muted))),
    );
}
