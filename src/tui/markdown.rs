//! Light Markdown styling for reading a document: headings, lists, quotes, fenced and inline code,
//! emphasis, strong text and links. The source stays visible (markers are dimmed, not hidden), so what
//! you read is what you edit. Lines are wrapped at word boundaries to the pane's width.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use super::theme::{Slot, Theme};

/// Whether a line opens or closes a fenced code block.
pub fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

/// Whether line `row` starts inside a fenced code block (scans the lines above it).
pub fn in_fence_at(lines: &[String], row: usize) -> bool {
    lines[..row.min(lines.len())]
        .iter()
        .filter(|l| is_fence(l))
        .count()
        % 2
        == 1
}

/// The styled characters of one source line. `in_fence` says whether it is inside a code block.
pub fn style_line(line: &str, in_fence: bool, theme: &Theme) -> Vec<(char, Style)> {
    let text = theme.fg(Slot::Text);
    let muted = theme.fg(Slot::Muted);
    let code = theme.fg(Slot::Code);
    if in_fence || is_fence(line) {
        return line.chars().map(|c| (c, code)).collect();
    }
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let mut out: Vec<(char, Style)> = line[..indent].chars().map(|c| (c, text)).collect();
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let mut style = theme.fg(Slot::Heading).add_modifier(Modifier::BOLD);
        if hashes == 1 {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        out.extend(trimmed[..=hashes].chars().map(|c| (c, muted)));
        out.extend(inline(&trimmed[hashes + 1..], style, theme));
        return out;
    }
    if let Some(rest) = trimmed.strip_prefix('>') {
        let style = theme.fg(Slot::Quote).add_modifier(Modifier::ITALIC);
        out.push(('>', theme.fg(Slot::ListMarker)));
        out.extend(inline(rest, style, theme));
        return out;
    }
    if trimmed.len() >= 3 && trimmed.chars().all(|c| c == '-' || c == '*' || c == '_') {
        out.extend(trimmed.chars().map(|c| (c, muted)));
        return out;
    }
    if let Some(marker) = list_marker(trimmed) {
        out.extend(
            trimmed[..marker]
                .chars()
                .map(|c| (c, theme.fg(Slot::ListMarker))),
        );
        out.extend(inline(&trimmed[marker..], text, theme));
        return out;
    }
    out.extend(inline(trimmed, text, theme));
    out
}

/// Byte length of a list marker and its space (`- `, `* `, `+ `, `12. `, `3) `, `- [ ] `).
fn list_marker(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut len = match bytes.first()? {
        b'-' | b'*' | b'+' if bytes.get(1) == Some(&b' ') => 2,
        b'0'..=b'9' => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            match (bytes.get(digits), bytes.get(digits + 1)) {
                (Some(b'.' | b')'), Some(b' ')) => digits + 2,
                _ => return None,
            }
        }
        _ => return None,
    };
    if s[len..].starts_with("[ ] ") || s[len..].starts_with("[x] ") || s[len..].starts_with("[X] ")
    {
        len += 4;
    }
    Some(len)
}

/// Inline markup: `code`, **strong**, *emphasis* / _emphasis_, [text](url).
fn inline(s: &str, base: Style, theme: &Theme) -> Vec<(char, Style)> {
    let chars: Vec<char> = s.chars().collect();
    let muted = theme.fg(Slot::Muted);
    let mut out = Vec::with_capacity(chars.len());
    let find = |from: usize, pat: &[char]| -> Option<usize> {
        (from..chars.len().saturating_sub(pat.len() - 1)).find(|&i| chars[i..].starts_with(pat))
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            if let Some(end) = find(i + 1, &['`']) {
                let code = theme.fg(Slot::Code);
                out.extend(chars[i..=end].iter().map(|c| (*c, code)));
                i = end + 1;
                continue;
            }
        }
        if c == '*' && chars.get(i + 1) == Some(&'*') {
            if let Some(end) = find(i + 2, &['*', '*']).filter(|e| *e > i + 2) {
                out.push(('*', muted));
                out.push(('*', muted));
                let strong = base.add_modifier(Modifier::BOLD);
                out.extend(chars[i + 2..end].iter().map(|c| (*c, strong)));
                out.push(('*', muted));
                out.push(('*', muted));
                i = end + 2;
                continue;
            }
        }
        let word_start = i == 0 || !chars[i - 1].is_alphanumeric();
        if (c == '*' || c == '_')
            && word_start
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace())
        {
            if let Some(end) = find(i + 1, &[c]).filter(|e| *e > i + 1) {
                let em = theme
                    .fg(Slot::Emphasis)
                    .add_modifier(Modifier::ITALIC)
                    .add_modifier(base.add_modifier);
                out.push((c, muted));
                out.extend(chars[i + 1..end].iter().map(|c| (*c, em)));
                out.push((c, muted));
                i = end + 1;
                continue;
            }
        }
        if c == '[' {
            if let Some(close) = find(i + 1, &[']']) {
                if chars.get(close + 1) == Some(&'(') {
                    if let Some(paren) = find(close + 2, &[')']) {
                        let link = theme.fg(Slot::Link).add_modifier(Modifier::UNDERLINED);
                        out.push(('[', muted));
                        out.extend(chars[i + 1..close].iter().map(|c| (*c, link)));
                        out.extend(chars[close..=paren].iter().map(|c| (*c, muted)));
                        i = paren + 1;
                        continue;
                    }
                }
            }
        }
        out.push((c, base));
        i += 1;
    }
    out
}

/// Break styled characters into rows of at most `width` columns, at spaces where possible. An empty
/// line is one empty row.
pub fn wrap(cells: &[(char, Style)], width: usize) -> Vec<Line<'static>> {
    let expanded;
    let cells = if cells.iter().any(|(c, _)| *c == '\t') {
        expanded = expand_tabs(cells);
        &expanded[..]
    } else {
        cells
    };
    let width = width.max(1);
    let mut rows: Vec<&[(char, Style)]> = Vec::new();
    let mut start = 0;
    while start < cells.len() {
        let mut w = 0;
        let mut end = start;
        let mut last_space = None;
        while end < cells.len() {
            let cw = cells[end].0.width().unwrap_or(0);
            if w + cw > width {
                break;
            }
            if cells[end].0 == ' ' {
                last_space = Some(end);
            }
            w += cw;
            end += 1;
        }
        if end < cells.len() {
            if let Some(sp) = last_space.filter(|s| *s > start) {
                end = sp + 1;
            }
        }
        if end == start {
            // A character wider than the pane: show it alone rather than loop.
            end = start + 1;
        }
        rows.push(&cells[start..end]);
        start = end;
    }
    if rows.is_empty() {
        return vec![Line::default()];
    }
    rows.into_iter().map(to_line).collect()
}

/// Columns between tab stops, as the editor draws them.
pub const TAB: usize = 4;

/// A line's tabs as spaces up to the next tab stop (each space in the tab's style).
pub fn expand_tabs(cells: &[(char, Style)]) -> Vec<(char, Style)> {
    let mut out = Vec::with_capacity(cells.len());
    let mut col = 0;
    for &(c, style) in cells {
        if c == '\t' {
            let n = TAB - col % TAB;
            out.extend(std::iter::repeat_n((' ', style), n));
            col += n;
        } else {
            out.push((c, style));
            col += c.width().unwrap_or(0);
        }
    }
    out
}

/// The display column of character `col` of `line`, with tabs expanded as [`wrap`] draws them.
pub fn display_col(line: &str, col: usize) -> usize {
    line.chars().take(col).fold(0, |w, c| {
        if c == '\t' {
            w + TAB - w % TAB
        } else {
            w + c.width().unwrap_or(0)
        }
    })
}

fn to_line(cells: &[(char, Style)]) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut buf = String::new();
    let mut style = None;
    for (c, s) in cells {
        if style != Some(*s) {
            if let Some(prev) = style {
                spans.push(Span::styled(std::mem::take(&mut buf), prev));
            }
            style = Some(*s);
        }
        buf.push(*c);
    }
    if let Some(prev) = style {
        spans.push(Span::styled(buf, prev));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;

    fn theme() -> Theme {
        Theme::builtin("dark", ColorMode::TrueColor).expect("dark")
    }

    fn style_of(cells: &[(char, Style)], at: usize) -> Style {
        cells[at].1
    }

    #[test]
    fn headings_are_bold() {
        let t = theme();
        let cells = style_line("## Getting around", false, &t);
        assert!(style_of(&cells, 4).add_modifier.contains(Modifier::BOLD));
        assert_eq!(cells.len(), "## Getting around".chars().count());
    }

    #[test]
    fn inline_markup_is_styled_and_kept() {
        let t = theme();
        let src = "a **b** *c* `d` [e](f)";
        let cells = style_line(src, false, &t);
        let text: String = cells.iter().map(|(c, _)| *c).collect();
        assert_eq!(text, src);
        assert!(style_of(&cells, 4).add_modifier.contains(Modifier::BOLD));
        assert!(style_of(&cells, 9).add_modifier.contains(Modifier::ITALIC));
        assert_eq!(style_of(&cells, 13), t.fg(Slot::Code));
        assert!(style_of(&cells, 17)
            .add_modifier
            .contains(Modifier::UNDERLINED));
    }

    #[test]
    fn fences_toggle_code() {
        let lines: Vec<String> = ["x", "```", "let a = 1;", "```", "y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(!in_fence_at(&lines, 1));
        assert!(in_fence_at(&lines, 2));
        assert!(!in_fence_at(&lines, 4));
    }

    #[test]
    fn unmatched_markers_are_plain() {
        let t = theme();
        let cells = style_line("2 * 3 = 6 and snake_case", false, &t);
        assert!(cells.iter().all(|(_, s)| *s == t.fg(Slot::Text)));
    }

    #[test]
    fn wrap_breaks_at_spaces_and_counts_wide_chars() {
        let cells: Vec<(char, Style)> = "hello wide 世界 world"
            .chars()
            .map(|c| (c, Style::new()))
            .collect();
        let rows = wrap(&cells, 11);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["hello wide ", "世界 world"]);
        assert!(rows.iter().all(|l| l.width() <= 11));
        assert_eq!(wrap(&[], 5).len(), 1);
    }
}
