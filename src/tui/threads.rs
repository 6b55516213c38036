//! Comment threads as rows of text, shared by the doc's comments panel, the card detail and the trash
//! (detached comments): each comment is a header (where, who, when, resolved) and up to three lines of
//! its body; replies are indented under their parent.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::markdown;
use super::sanitize;
use super::theme::{Slot, Theme};
use super::widgets::{day, fit, list_row};
use crate::model::{CommentView, People};

/// Rows for `comments`, each tagged with the index of the comment it belongs to. `line_of` turns an
/// anchor (character offset) into a 1-based line number for the header.
pub fn thread_lines(
    comments: &[CommentView],
    width: u16,
    selected: Option<usize>,
    theme: &Theme,
    people: &People,
    line_of: impl Fn(usize) -> usize,
) -> Vec<(usize, Line<'static>)> {
    let w = usize::from(width);
    let mut rows = Vec::new();
    for (i, c) in comments.iter().enumerate() {
        let depth = if c.parent.is_some() { 2 } else { 0 };
        let at = c
            .anchor
            .map(|a| format!("L{} ", line_of(a)))
            .unwrap_or_default();
        let arrow = if depth > 0 { "↳ " } else { "" };
        let who = format!(
            "{}{arrow}{at}{}",
            " ".repeat(depth),
            crate::tui::person(people, &c.author)
        );
        let (head_slot, state) = if c.resolved {
            (Slot::Resolved, " ✓")
        } else {
            (Slot::Comment, "")
        };
        let room = w.saturating_sub(2 + state.chars().count());
        let dated = format!("{who} · {}", day(c.created_at));
        // The date goes when the panel is too narrow for it; who and where matter more.
        let head = if dated.chars().count() <= room {
            dated
        } else {
            who
        };
        rows.push((
            i,
            list_row(
                vec![
                    Span::styled(fit(&head, room), theme.fg(head_slot)),
                    Span::styled(state, theme.fg(Slot::Resolved)),
                ],
                selected == Some(i),
                width,
                theme,
            ),
        ));
        let body_style = if c.resolved {
            theme.fg(Slot::Resolved)
        } else {
            theme.fg(Slot::Text)
        };
        let cells: Vec<(char, Style)> = sanitize::line(&c.body)
            .chars()
            .map(|ch| (ch, body_style))
            .collect();
        let indent = 4 + depth;
        let wrapped = markdown::wrap(&cells, w.saturating_sub(indent));
        let more = wrapped.len() > 3;
        for (n, l) in wrapped.into_iter().take(3).enumerate() {
            let mut spans = vec![Span::raw(" ".repeat(indent))];
            spans.extend(l.spans);
            if more && n == 2 {
                spans.push(Span::styled("…", theme.fg(Slot::Muted)));
            }
            rows.push((i, Line::from(spans)));
        }
    }
    rows
}

/// The first row to show so that the selected comment's header and a few lines after it fit.
pub fn scroll_to(rows: &[(usize, Line<'_>)], selected: usize, height: usize) -> usize {
    let first = rows.iter().position(|(i, _)| *i == selected).unwrap_or(0);
    let last = rows
        .iter()
        .rposition(|(i, _)| *i == selected)
        .unwrap_or(first);
    (last + 1).saturating_sub(height).min(first)
}
