//! Small drawing helpers shared by the screens: width-aware truncation, pane borders, popups, and a
//! one-line text input.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Widget};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::sanitize;
use super::theme::{Slot, Theme};

/// `s` cut to at most `width` columns, ending in `…` when cut. Workspace text is sanitised here.
pub fn fit(s: &str, width: usize) -> String {
    let s = sanitize::line(s);
    if s.width() <= width {
        return s.into_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// `s` fitted to exactly `width` columns (cut with `…` or padded with spaces).
pub fn pad(s: &str, width: usize) -> String {
    let mut out = fit(s, width);
    let w = out.width();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    out
}

/// A pane's frame: focused panes get a thick border in the focus colour and a bold title, so focus
/// shows without colour.
pub fn pane<'a>(title: &str, focused: bool, theme: &Theme) -> Block<'a> {
    let border = theme.border(focused);
    let title_style = if focused {
        theme.fg(Slot::Title).add_modifier(Modifier::BOLD)
    } else {
        theme.fg(Slot::Title)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(Span::styled(format!(" {} ", fit(title, 60)), title_style))
        .style(theme.base())
}

/// A rectangle of `w`×`h` centred in `area` (shrunk to fit).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Clear `area` and draw a popup frame in it; returns the inside.
pub fn popup(area: Rect, title: &str, theme: &Theme, buf: &mut Buffer) -> Rect {
    Clear.render(area, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" {} ", fit(title, 60)),
            theme.fg(Slot::Title).add_modifier(Modifier::BOLD),
        ))
        .style(theme.base().bg(theme.color(Slot::PopupBg)));
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// Write a line into one row of `area`, clipped to its width.
pub fn put_line(buf: &mut Buffer, area: Rect, row: u16, line: &Line<'_>) {
    if row >= area.height || area.width == 0 {
        return;
    }
    buf.set_line(area.x, area.y + row, line, area.width);
}

/// A row of a list: a `›` marker and the selection style when selected, so the selection shows
/// without colour too.
pub fn list_row<'a>(text: Vec<Span<'a>>, selected: bool, width: u16, theme: &Theme) -> Line<'a> {
    if !selected {
        let mut spans = vec![Span::raw("  ")];
        spans.extend(text);
        return Line::from(spans);
    }
    let mut spans = vec![Span::raw("› ")];
    spans.extend(text.into_iter().map(|s| Span::raw(s.content)));
    let used: usize = spans.iter().map(|s| s.width()).sum();
    spans.push(Span::raw(
        " ".repeat(usize::from(width).saturating_sub(used)),
    ));
    Line::from(spans).style(theme.selection())
}

/// A time from the workspace (milliseconds since the epoch) as `2026-09-21 14:05` in UTC; `—` when
/// unknown.
pub fn when(ms: i64) -> String {
    if ms <= 0 {
        return "—".into();
    }
    match time::OffsetDateTime::from_unix_timestamp(ms / 1000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "—".into(),
    }
}

/// The day of a time from the workspace, `2026-09-21` (UTC); `—` when unknown.
pub fn day(ms: i64) -> String {
    let full = when(ms);
    full.split(' ').next().unwrap_or("—").to_string()
}

/// A one-line text input with a caret, for prompts, search and the palette.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    text: String,
    /// Caret position in characters.
    caret: usize,
}

impl LineInput {
    /// An input holding `initial`, caret at the end.
    pub fn new(initial: &str) -> Self {
        let text = sanitize::line(initial).into_owned();
        let caret = text.chars().count();
        LineInput { text, caret }
    }

    pub fn value(&self) -> &str {
        &self.text
    }

    fn byte_at(&self, ch: usize) -> usize {
        self.text
            .char_indices()
            .nth(ch)
            .map(|(i, _)| i)
            .unwrap_or(self.text.len())
    }

    /// Insert pasted or typed text (newlines become spaces). Returns whether the text changed.
    pub fn insert(&mut self, s: &str) -> bool {
        let s = sanitize::line(s);
        if s.is_empty() {
            return false;
        }
        let at = self.byte_at(self.caret);
        self.text.insert_str(at, &s);
        self.caret += s.chars().count();
        true
    }

    /// Handle an editing or movement key. Returns whether the text changed.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let len = self.text.chars().count();
        match key.code {
            KeyCode::Char('u') if ctrl => {
                let at = self.byte_at(self.caret);
                self.text.drain(..at);
                self.caret = 0;
                true
            }
            KeyCode::Char('w') if ctrl => {
                let chars: Vec<char> = self.text.chars().collect();
                let mut start = self.caret;
                while start > 0 && chars[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && chars[start - 1] != ' ' {
                    start -= 1;
                }
                let (a, b) = (self.byte_at(start), self.byte_at(self.caret));
                self.text.drain(a..b);
                self.caret = start;
                a != b
            }
            KeyCode::Char('a') if ctrl => {
                self.caret = 0;
                false
            }
            KeyCode::Char('e') if ctrl => {
                self.caret = len;
                false
            }
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                self.insert(c.encode_utf8(&mut [0; 4]))
            }
            KeyCode::Backspace if self.caret > 0 => {
                let (a, b) = (self.byte_at(self.caret - 1), self.byte_at(self.caret));
                self.text.drain(a..b);
                self.caret -= 1;
                true
            }
            KeyCode::Delete if self.caret < len => {
                let (a, b) = (self.byte_at(self.caret), self.byte_at(self.caret + 1));
                self.text.drain(a..b);
                true
            }
            KeyCode::Left => {
                self.caret = self.caret.saturating_sub(1);
                false
            }
            KeyCode::Right => {
                self.caret = (self.caret + 1).min(len);
                false
            }
            KeyCode::Home => {
                self.caret = 0;
                false
            }
            KeyCode::End => {
                self.caret = len;
                false
            }
            _ => false,
        }
    }

    /// Draw the input in one row, scrolled so the caret is visible; the caret is reversed.
    pub fn render(&self, area: Rect, buf: &mut Buffer, style: Style, theme: &Theme) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let chars: Vec<char> = self.text.chars().collect();
        let width = usize::from(area.width);
        // Start far enough right that the caret (one column) fits.
        let mut start = 0;
        let cols = |from: usize, to: usize| -> usize {
            chars[from..to].iter().map(|c| c.width().unwrap_or(0)).sum()
        };
        while start < self.caret && cols(start, self.caret) + 1 > width {
            start += 1;
        }
        let mut spans = Vec::new();
        let before: String = chars[start..self.caret].iter().collect();
        spans.push(Span::styled(before, style));
        let at: String = chars
            .get(self.caret)
            .map(|c| c.to_string())
            .unwrap_or(" ".into());
        spans.push(Span::styled(at, theme.caret()));
        let after: String = chars.iter().skip(self.caret + 1).collect();
        spans.push(Span::styled(after, style));
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_counts_columns_not_bytes() {
        assert_eq!(fit("hello", 5), "hello");
        assert_eq!(fit("hello world", 6), "hello…");
        assert_eq!(fit("日本語テキスト", 7), "日本語…");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(fit("x\u{1b}[2Jy", 10), "x[2Jy");
    }

    #[test]
    fn line_input_edits_by_character() {
        let mut i = LineInput::new("héllo");
        i.key(&KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        i.key(&KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
        i.key(&KeyEvent::new(KeyCode::Char('😀'), KeyModifiers::NONE));
        assert_eq!(i.value(), "😀héll");
        i.key(&KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
        i.key(&KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(i.value(), "");
    }
}
