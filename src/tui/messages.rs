//! The message log (`:messages`, like vim's and helix's): every message the status bar showed this
//! session, whole and wrapped, newest at the bottom. The status bar shortens what does not fit and
//! names the key that opens this.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::{App, StatusKind};
use super::markdown;
use super::theme::Slot;
use super::widgets::{fit, popup, put_line};

/// How far the log is scrolled up from its newest row.
#[derive(Debug, Clone, Default)]
pub struct MessageLog {
    pub up: usize,
}

impl MessageLog {
    /// Handle a key; returns whether the log stays open.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => false,
            KeyCode::Up | KeyCode::Char('k') => {
                self.up += 1;
                true
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.up = self.up.saturating_sub(1);
                true
            }
            KeyCode::PageUp => {
                self.up += 10;
                true
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.up = self.up.saturating_sub(10);
                true
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.up = usize::MAX / 2;
                true
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.up = 0;
                true
            }
            _ => true,
        }
    }
}

/// The log's rows at `width`: each message wrapped, marked by kind, repeats counted.
pub fn rows(app: &App, width: usize) -> Vec<Line<'static>> {
    let theme = &app.opts.theme;
    let (messages, dropped) = app.messages();
    let mut out = Vec::new();
    if dropped > 0 {
        out.push(Line::from(Span::styled(
            fit(&format!("({dropped} older messages not kept)"), width),
            theme.fg(Slot::Muted),
        )));
    }
    for m in messages {
        let (mark, style) = match m.kind {
            StatusKind::Error => ("✗ ", theme.error()),
            StatusKind::Warning => ("! ", theme.fg(Slot::Warning)),
            StatusKind::Info => ("· ", theme.fg(Slot::Info)),
        };
        let text = if m.repeats > 1 {
            format!("{} (×{})", m.text, m.repeats)
        } else {
            m.text.clone()
        };
        let cells: Vec<(char, ratatui::style::Style)> = super::sanitize::line(&text)
            .chars()
            .map(|c| (c, style))
            .collect();
        for (i, mut line) in markdown::wrap(&cells, width.saturating_sub(2))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { mark } else { "  " };
            line.spans.insert(0, Span::styled(lead, style));
            out.push(line);
        }
    }
    out
}

/// Draw the message log.
pub fn render(app: &App, log: &MessageLog, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let rect = Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    );
    let inner = popup(rect, "Messages", theme, buf);
    if inner.height < 2 || inner.width < 4 {
        return;
    }
    let all = rows(app, usize::from(inner.width));
    let body_h = usize::from(inner.height - 1);
    let bottom = all
        .len()
        .saturating_sub(log.up.min(all.len().saturating_sub(body_h)));
    let top = bottom.saturating_sub(body_h);
    if all.is_empty() {
        put_line(
            buf,
            inner,
            0,
            &Line::from(Span::styled("no messages yet", theme.fg(Slot::Muted))),
        );
    }
    for (row, line) in all[top..bottom].iter().enumerate() {
        put_line(buf, inner, row as u16, line);
    }
    let footer = if all.len() > body_h {
        format!(
            " j/k scroll · esc close · {}–{} of {}",
            top + 1,
            bottom,
            all.len()
        )
    } else {
        " esc close".to_string()
    };
    put_line(
        buf,
        inner,
        inner.height - 1,
        &Line::from(Span::styled(
            fit(&footer, usize::from(inner.width)),
            theme.fg(Slot::Muted),
        )),
    );
}
