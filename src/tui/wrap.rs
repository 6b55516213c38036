//! Soft wrapping of one source line into screen rows, by display width: what the editor draws and
//! moves the caret over. The rows break where view mode's [`markdown::wrap`](super::markdown::wrap)
//! breaks them: after the last space that fits, and inside a word only when the word alone is wider
//! than the row. CJK and emoji count two columns, a tab runs to the next tab stop (counted from the
//! start of the line, as view mode counts it).
//!
//! Only one line is wrapped at a time, so the cost of a frame follows what is on screen, never the
//! length of the document.

use std::ops::Range;

use unicode_width::UnicodeWidthChar;

use super::markdown::TAB;

/// The display width of each character of `line`: tabs to the next tab stop, control and
/// zero-width characters 0.
pub fn widths(line: &str) -> Vec<usize> {
    let mut col = 0;
    line.chars()
        .map(|c| {
            let w = if c == '\t' {
                TAB - col % TAB
            } else {
                c.width().unwrap_or(0)
            };
            col += w;
            w
        })
        .collect()
}

/// Whether the row may break after `c`.
fn breaks_after(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The rows of `line` at `width` columns, as character ranges: contiguous, covering the line, each
/// at most `width` wide (a character wider than the row gets a row of its own). When the last row
/// is exactly full, an empty row follows it, so the caret at the end of the line has a cell.
/// An empty line is one empty row.
pub fn rows(line: &str, width: usize) -> Vec<Range<usize>> {
    let chars: Vec<char> = line.chars().collect();
    rows_of(&chars, &widths(line), width)
}

/// [`rows`] over a line already split into characters and their widths.
pub fn rows_of(chars: &[char], widths: &[usize], width: usize) -> Vec<Range<usize>> {
    let width = width.max(1);
    let n = chars.len();
    let mut out = Vec::new();
    let mut start = 0;
    let mut last_width = 0;
    while start < n {
        let mut w = 0;
        let mut end = start;
        let mut last_space = None;
        while end < n {
            let cw = widths[end];
            if w + cw > width {
                break;
            }
            if breaks_after(chars[end]) {
                last_space = Some(end);
            }
            w += cw;
            end += 1;
        }
        if end < n {
            if let Some(sp) = last_space.filter(|s| *s > start) {
                end = sp + 1;
                w = widths[start..end].iter().sum();
            }
        }
        if end == start {
            // A character wider than the row: alone on its row rather than never placed.
            end = start + 1;
            w = width;
        }
        out.push(start..end);
        last_width = w;
        start = end;
    }
    if out.is_empty() || last_width >= width {
        out.push(n..n);
    }
    out
}

/// Which of `rows` shows the caret at character `col` (the end of the line is on the last row).
pub fn row_of(rows: &[Range<usize>], col: usize) -> usize {
    rows.iter().rposition(|r| r.start <= col).unwrap_or(0)
}

/// The character of row `row` whose cells cover display column `goal` (counted from the row's
/// start), or the row's last position when the row is narrower: its end on the line's last row,
/// its last character on the others (their end is the next row's first character).
pub fn col_at(rows: &[Range<usize>], widths: &[usize], row: usize, goal: usize) -> usize {
    let Some(r) = rows.get(row) else {
        return 0;
    };
    let mut x = 0;
    for c in r.clone() {
        let w = widths.get(c).copied().unwrap_or(0);
        if goal < x + w {
            return c;
        }
        x += w;
    }
    if row + 1 < rows.len() && r.end > r.start {
        r.end - 1
    } else {
        r.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Style;

    fn text(line: &str, width: usize) -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        rows(line, width)
            .into_iter()
            .map(|r| chars[r].iter().collect())
            .collect()
    }

    #[test]
    fn breaks_at_spaces_and_counts_wide_characters_as_two() {
        assert_eq!(
            text("hello wide 世界 world", 11),
            ["hello wide ", "世界 world"]
        );
        assert_eq!(text("😀😀😀", 4), ["😀😀", "😀"]);
        // A wide character never straddles the edge.
        assert_eq!(text("ab世界", 3), ["ab", "世", "界"]);
    }

    #[test]
    fn a_word_longer_than_the_row_is_broken() {
        assert_eq!(text("abcdefghij xy", 4), ["abcd", "efgh", "ij ", "xy"]);
    }

    #[test]
    fn a_full_last_row_is_followed_by_an_empty_row_for_the_caret() {
        assert_eq!(text("abcd", 4), ["abcd", ""]);
        assert_eq!(text("ab cd", 3), ["ab ", "cd"]);
        assert_eq!(text("", 4), [""]);
        assert_eq!(rows("abcd", 4), [0..4, 4..4]);
        assert_eq!(row_of(&rows("abcd", 4), 4), 1);
        assert_eq!(row_of(&rows("abc", 4), 3), 0);
    }

    #[test]
    fn rows_are_the_rows_view_mode_draws() {
        let samples = [
            "The quick brown fox jumps over the lazy dog and keeps running far away",
            "世界 is wide, 😀 too: and a verylongwordthatdoesnotfitinarowatall, then more.",
            "  indented text with  double  spaces and a tail",
        ];
        for line in samples {
            for width in [5, 9, 17, 30] {
                let cells: Vec<(char, Style)> = line.chars().map(|c| (c, Style::new())).collect();
                let view: Vec<String> = super::super::markdown::wrap(&cells, width)
                    .iter()
                    .map(|l| l.to_string())
                    .collect();
                let mut edit = text(line, width);
                if edit.len() > 1 && edit.last().is_some_and(|s| s.is_empty()) {
                    edit.pop();
                }
                assert_eq!(edit, view, "{line:?} at {width}");
            }
        }
    }

    #[test]
    fn the_goal_column_picks_the_character_under_it() {
        let line = "ab世界 cd";
        let w = widths(line);
        let r = rows(line, 4);
        assert_eq!(r, [0..3, 3..5, 5..7]);
        // Row 1 is "界 ": columns 0 and 1 are both halves of 界.
        assert_eq!(col_at(&r, &w, 1, 1), 3);
        assert_eq!(col_at(&r, &w, 1, 2), 4);
        // Past a row's end: its last character, except on the last row, where it is the end.
        assert_eq!(col_at(&r, &w, 1, 3), 4);
        assert_eq!(col_at(&r, &w, 0, 9), 2);
        assert_eq!(col_at(&r, &w, 2, 9), 7);
        assert_eq!(widths("a\tb"), [1, 3, 1]);
    }
}
