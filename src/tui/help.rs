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
use super::widgets::{fit, pad, popup, put_line};

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

/// The help overlay's scroll position.
#[derive(Debug, Clone, Default)]
pub struct Help {
    pub scroll: usize,
}

impl Help {
    /// Handle a key; returns whether the overlay stays open.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        match key.code {
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

/// The help text: one heading per scope, one row per command.
pub fn lines(keymap: &Keymap, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let key_w = if width >= 100 { 24 } else { 18.min(width / 3) };
    // Names are what keys.toml uses; on a narrow screen the palette (:) shows them instead.
    let name_w = if width >= 100 { 24 } else { 0 };
    let desc_w = width.saturating_sub(key_w + name_w + 4);
    let mut out = Vec::new();
    for scope in Scope::ALL {
        if !out.is_empty() {
            out.push(Line::default());
        }
        out.push(Line::from(Span::styled(
            scope.title().to_string(),
            theme.fg(Slot::Accent).add_modifier(Modifier::BOLD),
        )));
        for spec in COMMANDS.iter().filter(|s| s.scope == *scope) {
            let keys = keymap.describe(spec.command);
            let keys = if keys.is_empty() {
                "—".to_string()
            } else {
                keys
            };
            out.push(Line::from(vec![
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
                out.push(Line::from(vec![
                    Span::raw("  "),
                    Span::styled(pad(keys, key_w), theme.fg(Slot::Title)),
                    Span::raw(" "),
                    Span::styled(fit(what, desc_w + name_w + 1), theme.fg(Slot::Text)),
                ]));
            }
        }
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
    let all = lines(&app.opts.keymap, theme, usize::from(inner.width));
    let body_h = usize::from(inner.height - 1);
    let top = help.scroll.min(all.len().saturating_sub(body_h));
    for (row, line) in all.iter().skip(top).take(body_h).enumerate() {
        put_line(buf, inner, row as u16, line);
    }
    let footer = format!(
        " j/k scroll · esc close · {}–{} of {}",
        top + 1,
        (top + body_h).min(all.len()),
        all.len()
    );
    put_line(
        buf,
        inner,
        inner.height - 1,
        &Line::from(Span::styled(footer, theme.fg(Slot::Muted))),
    );
}
