//! The text editor: a tui-textarea kept identical to a doc body's (or card description's) Loro text.
//!
//! - A local keystroke becomes one Loro insert or delete at the caret's Unicode-scalar position,
//!   committed at once, then the same edit is made to the textarea. Positions come from a per-line
//!   length cache that each edit updates locally, so no keystroke diffs or re-reads the whole text.
//! - Changes that did not come from this editor (another process's commit picked up by
//!   [`Replica::refresh`](crate::store::Replica::refresh), an undo) arrive as Loro text deltas through a
//!   subscription and are replayed into the textarea. The caret is pinned with a Loro
//!   [`Cursor`](loro::cursor::Cursor) taken just before the import, so it stays on the character it was
//!   on however the text around it changed.
//! - Undo and redo go through Loro's `UndoManager`, which only reverts this peer's own changes. Typing
//!   is grouped by word, deleting by run, so one undo step is one word or one burst of deletes.
//! - Characters that must not reach the terminal are shown as visible stand-ins, one for one, so caret
//!   positions still line up with the document.
//! - The textarea is the editing model only (lines, caret, selection, word moves); the editor draws
//!   the text itself, soft-wrapped at the pane's width by display width ([`wrap`]), because
//!   tui-textarea 0.7 cannot wrap. Nothing scrolls sideways. Up and down move by screen row and keep
//!   the column they started from; home and end go to the start and end of the source line. The
//!   view scrolls by screen rows just enough to show the caret, and each frame wraps only the lines it
//!   shows (plus, after a jump, at most a screen of lines above the caret), never the whole text. The
//!   rows drawn last are kept, so teammates' carets and comment markers are placed on the row and
//!   cell that show their character ([`DocEditor::cell_of`], [`DocEditor::rows_shown`]).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use loro::event::{Diff, DiffEvent};
use loro::{Index, Subscription, TextDelta, UndoManager};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use tui_textarea::{CursorMove, TextArea};

use super::sanitize;
use super::wrap;
use crate::model::{BodyText, ItemId, ModelError, Workspace};

/// One step of a text change, in Unicode scalar values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delta {
    Retain(usize),
    Insert(String),
    Delete(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Idle,
    Typing,
    Deleting,
}

/// What a key did to the editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The text changed (and was committed).
    Edited,
    /// Only the caret or selection moved.
    Moved,
    /// The editor has no use for the key.
    Ignored,
}

type Inbox = Arc<Mutex<Vec<Vec<Delta>>>>;

/// A screen row as last drawn: the line it belongs to, the characters of that line it showed, and
/// whether it is the line's last row (the one that shows the caret at the end of the line).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    line: usize,
    chars: Range<usize>,
    last: bool,
}

/// What the editor showed at its last draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct View {
    /// The first row shown: a line, and which of its wrapped rows.
    top: (usize, usize),
    /// Size of the text area drawn into (the width the lines were wrapped at).
    width: u16,
    height: u16,
    /// Each screen row, top to bottom.
    rows: Vec<Shown>,
}

/// A textarea bound to the text of one doc or card.
pub struct DocEditor {
    target: ItemId,
    body: BodyText,
    area: TextArea<'static>,
    /// Characters per line, kept in step with the textarea by every edit.
    line_lens: Vec<usize>,
    inbox: Inbox,
    _subscription: Subscription,
    undo: UndoManager,
    run: Run,
    anchor: Option<loro::cursor::Cursor>,
    /// What the last draw showed, and where the view starts.
    view: RefCell<View>,
    /// The display column up and down keep to (within a screen row) while they are pressed in a row.
    goal: Option<usize>,
    /// How the selection looks (the textarea only lends its own through `&mut`).
    selection: Style,
}

impl std::fmt::Debug for DocEditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocEditor")
            .field("target", &self.target)
            .field("lines", &self.line_lens.len())
            .finish()
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl DocEditor {
    /// Bind an editor to the text of `target` (a doc or a card). Fails if it is neither.
    pub fn open(ws: &Workspace, target: ItemId) -> Result<Self, ModelError> {
        let body = ws.text(target)?;
        let text = body.to_string_lossless();
        let lines: Vec<String> = text
            .split('\n')
            .map(|l| sanitize::visible(l).into_owned())
            .collect();
        let line_lens = lines.iter().map(|l| chars(l)).collect();
        let mut area = TextArea::new(lines);
        area.set_max_histories(0);
        area.set_tab_length(4);
        area.set_cursor_line_style(Style::default());
        let inbox: Inbox = Arc::default();
        let sink = inbox.clone();
        let node = target.0;
        let subscription = ws.loro().subscribe_root(Arc::new(move |event: DiffEvent| {
            for cd in &event.events {
                let Diff::Text(delta) = &cd.diff else {
                    continue;
                };
                // The text is a child of the item's node: [.., (meta, Node(item)), (text, Key(..))].
                let ours = cd.path.len() >= 2
                    && matches!(cd.path[cd.path.len() - 2].1, Index::Node(n) if n == node);
                if ours {
                    let steps = delta
                        .iter()
                        .map(|d| match d {
                            TextDelta::Retain { retain, .. } => Delta::Retain(*retain),
                            TextDelta::Insert { insert, .. } => Delta::Insert(insert.clone()),
                            TextDelta::Delete { delete } => Delta::Delete(*delete),
                        })
                        .collect();
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(steps);
                }
            }
        }));
        let mut undo = UndoManager::new(ws.loro());
        undo.set_max_undo_steps(500);
        Ok(DocEditor {
            target,
            body,
            area,
            line_lens,
            inbox,
            _subscription: subscription,
            undo,
            run: Run::Idle,
            anchor: None,
            view: RefCell::default(),
            goal: None,
            selection: Style::default(),
        })
    }

    /// The doc or card this editor writes to.
    pub fn target(&self) -> ItemId {
        self.target
    }

    /// Draw the text into `area`, wrapped at its width, scrolled just enough to show the caret, and
    /// remember which rows that showed.
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.area.style());
        let mut view = self.view.borrow_mut();
        if view.width != area.width {
            // The rows of the top line changed with the width: start the view at that line.
            view.top.1 = 0;
        }
        view.width = area.width;
        view.height = area.height;
        view.rows.clear();
        if area.width == 0 || area.height == 0 {
            return;
        }
        let width = usize::from(area.width);
        let height = usize::from(area.height);
        view.top = self.follow(view.top, width, height);
        let lines = self.area.lines();
        let caret = self.area.cursor();
        if lines.len() == 1 && lines[0].is_empty() && !self.area.placeholder_text().is_empty() {
            let hint = Line::from(vec![
                Span::styled(" ", self.area.cursor_style()),
                Span::styled(
                    self.area.placeholder_text(),
                    self.area.placeholder_style().unwrap_or_default(),
                ),
            ]);
            buf.set_line(area.x, area.y, &hint, area.width);
            view.rows.push(Shown {
                line: 0,
                chars: 0..0,
                last: true,
            });
            return;
        }
        let selection = self.area.selection_range();
        let (mut line, mut skip) = view.top;
        let mut y = 0;
        while y < height && line < lines.len() {
            let text = &lines[line];
            let chars: Vec<char> = text.chars().collect();
            let widths = wrap::widths(text);
            let rows = wrap::rows_of(&chars, &widths, width);
            let count = rows.len();
            for (i, r) in rows.into_iter().enumerate().skip(skip) {
                if y >= height {
                    break;
                }
                let last = i + 1 == count;
                let spans =
                    self.row_spans(line, &chars, &widths, r.clone(), last, caret, selection);
                buf.set_line(area.x, area.y + y as u16, &Line::from(spans), area.width);
                view.rows.push(Shown {
                    line,
                    chars: r,
                    last,
                });
                y += 1;
            }
            skip = 0;
            line += 1;
        }
    }

    /// The styled text of one screen row: characters `r` of line `line`, tabs as spaces, the caret
    /// and the selection in their styles (the caret at the end of the line as a styled blank).
    #[allow(clippy::too_many_arguments)]
    fn row_spans(
        &self,
        line: usize,
        chars: &[char],
        widths: &[usize],
        r: Range<usize>,
        last: bool,
        caret: (usize, usize),
        selection: Option<((usize, usize), (usize, usize))>,
    ) -> Vec<Span<'static>> {
        let base = self.area.style();
        let selected = |c: usize| selection.is_some_and(|(a, b)| a <= (line, c) && (line, c) < b);
        let mut spans: Vec<Span<'static>> = Vec::new();
        let mut run = String::new();
        let mut style = base;
        for c in r.clone() {
            let s = if (line, c) == caret {
                self.area.cursor_style()
            } else if selected(c) {
                self.selection
            } else {
                base
            };
            if s != style && !run.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut run), style));
            }
            style = s;
            if chars[c] == '\t' {
                run.extend(std::iter::repeat_n(' ', widths[c]));
            } else {
                run.push(chars[c]);
            }
        }
        if !run.is_empty() {
            spans.push(Span::styled(run, style));
        }
        if last && caret == (line, r.end) {
            spans.push(Span::styled(" ", self.area.cursor_style()));
        }
        spans
    }

    /// The new first row of the view: `top`, unless the caret is above it or more than `height`
    /// rows below it; then the nearest row that shows the caret. Wraps at most `height` lines.
    fn follow(&self, top: (usize, usize), width: usize, height: usize) -> (usize, usize) {
        let lines = self.area.lines();
        let (line, col) = self.area.cursor();
        let caret = (line, wrap::row_of(&wrap::rows(&lines[line], width), col));
        let top_line = top.0.min(lines.len().saturating_sub(1));
        let top_rows = wrap::rows(&lines[top_line], width).len();
        let top = (top_line, top.1.min(top_rows.saturating_sub(1)));
        if caret <= top {
            return caret;
        }
        // Walk up from the caret's row; if the top is reached within a screen, it stays.
        let mut pos = caret;
        for _ in 1..height {
            if pos <= top {
                return top;
            }
            pos = match pos {
                (l, r) if r > 0 => (l, r - 1),
                (0, _) => return top,
                (l, _) => (
                    l - 1,
                    wrap::rows(&lines[l - 1], width).len().saturating_sub(1),
                ),
            };
        }
        pos.max(top)
    }

    /// The cell (column, row from the top left of the area last drawn into) that shows the
    /// character at (`row`, `col`) — or the end of the line, when `col` is its length — if
    /// it was in view.
    pub fn cell_of(&self, row: usize, col: usize) -> Option<(u16, u16)> {
        let view = self.view.borrow();
        let (y, shown) = view.rows.iter().enumerate().find(|(_, s)| {
            s.line == row && (s.chars.contains(&col) || (s.last && col == s.chars.end))
        })?;
        let widths = wrap::widths(self.area.lines().get(row)?);
        let x: usize = widths.get(shown.chars.start..col)?.iter().sum();
        if x >= usize::from(view.width) {
            return None;
        }
        Some((u16::try_from(x).ok()?, u16::try_from(y).ok()?))
    }

    /// The screen rows of the last draw, top to bottom: each as (line, its first character).
    /// A row whose first character is 0 starts its line.
    pub fn rows_shown(&self) -> Vec<(usize, usize)> {
        self.view
            .borrow()
            .rows
            .iter()
            .map(|s| (s.line, s.chars.start))
            .collect()
    }

    /// Set how the caret, selection and placeholder look.
    pub fn set_styles(&mut self, text: Style, caret: Style, selection: Style, placeholder: Style) {
        self.area.set_style(text);
        self.area.set_cursor_style(caret);
        self.area.set_selection_style(selection);
        self.selection = selection;
        self.area.set_placeholder_style(placeholder);
    }

    /// Text shown when the document is empty.
    pub fn set_placeholder(&mut self, text: &str) {
        self.area.set_placeholder_text(text);
    }

    /// The lines as shown (unsafe characters replaced one for one).
    pub fn lines(&self) -> &[String] {
        self.area.lines()
    }

    /// The text as shown, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// Caret as (row, column), both counted in characters.
    pub fn caret(&self) -> (usize, usize) {
        self.area.cursor()
    }

    /// Caret as a character offset into the text.
    pub fn caret_offset(&self) -> usize {
        let (r, c) = self.area.cursor();
        self.offset_of(r, c)
    }

    /// Length of the text in characters.
    pub fn len_chars(&self) -> usize {
        self.line_lens.iter().sum::<usize>() + self.line_lens.len().saturating_sub(1)
    }

    /// Character offset of (row, column).
    pub fn offset_of(&self, row: usize, col: usize) -> usize {
        let row = row.min(self.line_lens.len().saturating_sub(1));
        self.line_lens[..row].iter().sum::<usize>() + row + col
    }

    /// (row, column) of a character offset, clamped to the text.
    pub fn pos_of(&self, mut offset: usize) -> (usize, usize) {
        for (row, len) in self.line_lens.iter().enumerate() {
            if offset <= *len {
                return (row, offset);
            }
            offset -= len + 1;
        }
        let last = self.line_lens.len().saturating_sub(1);
        (last, self.line_lens.get(last).copied().unwrap_or(0))
    }

    /// Put the caret at a character offset (clamped).
    pub fn set_caret_offset(&mut self, offset: usize) {
        let (r, c) = self.pos_of(offset.min(self.len_chars()));
        self.goal = None;
        self.area.cancel_selection();
        self.jump(r, c);
    }

    /// Move the caret without editing (view mode).
    pub fn move_caret(&mut self, m: CursorMove) {
        self.end_run();
        self.goal = None;
        self.area.cancel_selection();
        self.area.move_cursor(m);
    }

    fn jump(&mut self, row: usize, col: usize) {
        let r = row.min(usize::from(u16::MAX));
        let c = col.min(usize::from(u16::MAX));
        self.area.move_cursor(CursorMove::Jump(r as u16, c as u16));
        for _ in r..row {
            self.area.move_cursor(CursorMove::Down);
        }
        for _ in c..col {
            self.area.move_cursor(CursorMove::Forward);
        }
    }

    fn begin(&mut self, run: Run) {
        if self.run != run {
            self.end_run();
            if self.undo.group_start().is_ok() {
                self.run = run;
            }
        }
    }

    fn end_run(&mut self) {
        if self.run != Run::Idle {
            self.undo.group_end();
            self.run = Run::Idle;
        }
    }

    /// Commit what this editor wrote; its own change events are already in the textarea.
    fn commit(&mut self, ws: &Workspace) {
        ws.commit();
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn relen(&mut self, first: usize, old_rows: usize, new_rows: usize) {
        let lines = self.area.lines();
        let lens: Vec<usize> = (first..first + new_rows)
            .map(|r| lines.get(r).map(|l| chars(l)).unwrap_or(0))
            .collect();
        let end = (first + old_rows).min(self.line_lens.len());
        self.line_lens.splice(first.min(end)..end, lens);
    }

    /// Insert `s` at the caret (replacing the selection, if any).
    fn insert(&mut self, ws: &Workspace, s: &str) -> Result<(), ModelError> {
        self.goal = None;
        self.delete_selection(ws)?;
        if s.is_empty() {
            return Ok(());
        }
        let (row, col) = self.area.cursor();
        let off = self.offset_of(row, col);
        self.body.insert(off, s)?;
        self.commit(ws);
        self.area.insert_str(sanitize::visible(s));
        let breaks = s.matches('\n').count();
        self.relen(row, 1, breaks + 1);
        Ok(())
    }

    /// Delete characters `[from, to)`.
    fn delete_range(&mut self, ws: &Workspace, from: usize, to: usize) -> Result<(), ModelError> {
        self.goal = None;
        let to = to.min(self.len_chars());
        if to <= from {
            return Ok(());
        }
        let (r0, c0) = self.pos_of(from);
        let (r1, _) = self.pos_of(to);
        self.body.delete(from, to - from)?;
        self.commit(ws);
        self.area.cancel_selection();
        self.jump(r0, c0);
        self.area.delete_str(to - from);
        self.relen(r0, r1 - r0 + 1, 1);
        Ok(())
    }

    fn delete_selection(&mut self, ws: &Workspace) -> Result<bool, ModelError> {
        let Some((a, b)) = self.area.selection_range() else {
            return Ok(false);
        };
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let (from, to) = (self.offset_of(a.0, a.1), self.offset_of(b.0, b.1));
        self.area.cancel_selection();
        self.delete_range(ws, from, to)?;
        Ok(true)
    }

    /// Handle a key in edit mode: typing, deleting, moving and selecting (shift + movement).
    pub fn input(&mut self, ws: &Workspace, key: &KeyEvent) -> Result<Outcome, ModelError> {
        self.sync(ws)?;
        // Only up and down (and paging) keep the column they started from.
        let goal = self.goal.take();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Char(c) if !ctrl && !alt => {
                self.begin(Run::Typing);
                self.insert(ws, c.encode_utf8(&mut [0; 4]))?;
                if c.is_whitespace() {
                    self.end_run();
                }
                Ok(Outcome::Edited)
            }
            KeyCode::Enter if !ctrl && !alt => {
                self.begin(Run::Typing);
                self.insert(ws, "\n")?;
                self.end_run();
                Ok(Outcome::Edited)
            }
            KeyCode::Tab if !ctrl && !alt => {
                let (row, col) = self.area.cursor();
                let width: usize = self.area.lines()[row]
                    .chars()
                    .take(col)
                    .map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0))
                    .sum();
                let n = 4 - width % 4;
                self.begin(Run::Typing);
                self.insert(ws, &" ".repeat(n))?;
                self.end_run();
                Ok(Outcome::Edited)
            }
            KeyCode::Backspace if !ctrl && !alt => {
                self.begin(Run::Deleting);
                if !self.delete_selection(ws)? {
                    let off = self.caret_offset();
                    if off > 0 {
                        self.delete_range(ws, off - 1, off)?;
                    }
                }
                Ok(Outcome::Edited)
            }
            KeyCode::Delete if !ctrl && !alt => {
                self.begin(Run::Deleting);
                if !self.delete_selection(ws)? {
                    let off = self.caret_offset();
                    self.delete_range(ws, off, off + 1)?;
                }
                Ok(Outcome::Edited)
            }
            code => {
                let m = match (code, ctrl || alt) {
                    (KeyCode::Left, false) => CursorMove::Back,
                    (KeyCode::Right, false) => CursorMove::Forward,
                    (KeyCode::Left, true) => CursorMove::WordBack,
                    (KeyCode::Right, true) => CursorMove::WordForward,
                    (KeyCode::Up, _) | (KeyCode::Down, _) => {
                        self.end_run();
                        self.select_if(shift);
                        self.goal = goal;
                        self.move_rows(1, code == KeyCode::Down);
                        return Ok(Outcome::Moved);
                    }
                    (KeyCode::Home, false) => CursorMove::Head,
                    (KeyCode::End, false) => CursorMove::End,
                    (KeyCode::Home, true) | (KeyCode::End, true) => {
                        // The start or the end of the text, not only its first or last line.
                        self.end_run();
                        self.select_if(shift);
                        self.jump_to_edge(code == KeyCode::End);
                        return Ok(Outcome::Moved);
                    }
                    (KeyCode::PageUp, _) => {
                        self.end_run();
                        self.goal = goal;
                        self.page(shift, false);
                        return Ok(Outcome::Moved);
                    }
                    (KeyCode::PageDown, _) => {
                        self.end_run();
                        self.goal = goal;
                        self.page(shift, true);
                        return Ok(Outcome::Moved);
                    }
                    _ => return Ok(Outcome::Ignored),
                };
                self.end_run();
                self.select_if(shift);
                self.area.move_cursor(m);
                Ok(Outcome::Moved)
            }
        }
    }

    /// Put the caret at the very start (`end` false) or the very end of the text.
    fn jump_to_edge(&mut self, end: bool) {
        if end {
            self.area.move_cursor(CursorMove::Bottom);
            self.area.move_cursor(CursorMove::End);
        } else {
            self.area.move_cursor(CursorMove::Top);
            self.area.move_cursor(CursorMove::Head);
        }
    }

    /// Move the caret to the start or the end of the text without editing (view mode).
    pub fn caret_to_edge(&mut self, end: bool) {
        self.end_run();
        self.goal = None;
        self.area.cancel_selection();
        self.jump_to_edge(end);
    }

    fn select_if(&mut self, shift: bool) {
        if shift && !self.area.is_selecting() {
            self.area.start_selection();
        } else if !shift {
            self.area.cancel_selection();
        }
    }

    /// Move the view and the caret a screen of rows up or down (as far as the text goes); the
    /// caret keeps its column.
    fn page(&mut self, shift: bool, down: bool) {
        self.select_if(shift);
        let (width, height) = {
            let v = self.view.borrow();
            (usize::from(v.width), usize::from(v.height).max(1))
        };
        if width > 0 {
            let mut top = self.view.borrow().top;
            let lines = self.area.lines();
            for _ in 0..height {
                top = match (top, down) {
                    ((l, r), false) if r > 0 => (l, r - 1),
                    ((0, _), false) => break,
                    ((l, _), false) => (l - 1, wrap::rows(&lines[l - 1], width).len() - 1),
                    ((l, r), true) if r + 1 < wrap::rows(&lines[l], width).len() => (l, r + 1),
                    ((l, _), true) if l + 1 < lines.len() => (l + 1, 0),
                    (_, true) => break,
                };
            }
            self.view.borrow_mut().top = top;
        }
        self.move_rows(height, down);
    }

    /// Move the caret `n` screen rows down (or up), to the character under the goal column (the
    /// caret's column when the moves began), as wrapped at the width of the last draw. Before the
    /// first draw, rows are lines. Wraps only the lines the caret passes.
    fn move_rows(&mut self, n: usize, down: bool) {
        let width = usize::from(self.view.borrow().width);
        if width == 0 {
            let m = if down {
                CursorMove::Down
            } else {
                CursorMove::Up
            };
            for _ in 0..n {
                self.area.move_cursor(m);
            }
            return;
        }
        let lines = self.area.lines();
        let (mut line, col) = self.area.cursor();
        let mut widths = wrap::widths(&lines[line]);
        let mut rows = wrap::rows(&lines[line], width);
        let mut row = wrap::row_of(&rows, col);
        let x: usize = widths
            .get(rows[row].start..col)
            .map_or(0, |w| w.iter().sum());
        let goal = *self.goal.get_or_insert(x);
        let mut moved = false;
        for _ in 0..n {
            if down && row + 1 < rows.len() {
                row += 1;
            } else if down && line + 1 < lines.len() {
                line += 1;
                widths = wrap::widths(&lines[line]);
                rows = wrap::rows(&lines[line], width);
                row = 0;
            } else if !down && row > 0 {
                row -= 1;
            } else if !down && line > 0 {
                line -= 1;
                widths = wrap::widths(&lines[line]);
                rows = wrap::rows(&lines[line], width);
                row = rows.len() - 1;
            } else {
                break;
            }
            moved = true;
        }
        if moved {
            let col = wrap::col_at(&rows, &widths, row, goal);
            self.jump(line, col);
        }
    }

    /// Paste text at the caret as one change (and one undo step).
    pub fn paste(&mut self, ws: &Workspace, s: &str) -> Result<(), ModelError> {
        self.sync(ws)?;
        self.end_run();
        self.insert(ws, &sanitize::input(s))?;
        self.end_run();
        Ok(())
    }

    /// Delete the word before the caret.
    pub fn delete_word_back(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        self.word_delete(ws, CursorMove::WordBack)
    }

    /// Delete from the caret to the start of the next word.
    pub fn delete_word_forward(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        self.word_delete(ws, CursorMove::WordForward)
    }

    fn word_delete(&mut self, ws: &Workspace, m: CursorMove) -> Result<(), ModelError> {
        self.sync(ws)?;
        self.begin(Run::Deleting);
        if self.delete_selection(ws)? {
            return Ok(());
        }
        let here = self.area.cursor();
        let a = self.offset_of(here.0, here.1);
        self.area.move_cursor(m);
        let there = self.area.cursor();
        let b = self.offset_of(there.0, there.1);
        self.jump(here.0, here.1);
        self.delete_range(ws, a.min(b), a.max(b))
    }

    /// Delete to the end of the line (or the line break, at the end of a line).
    pub fn kill_line(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        self.sync(ws)?;
        self.begin(Run::Deleting);
        let (row, col) = self.area.cursor();
        let off = self.offset_of(row, col);
        let rest = self.line_lens[row].saturating_sub(col);
        self.delete_range(ws, off, off + rest.max(1))
    }

    /// Delete from the start of the line to the caret.
    pub fn kill_to_start(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        self.sync(ws)?;
        self.begin(Run::Deleting);
        let (row, col) = self.area.cursor();
        let off = self.offset_of(row, col);
        self.delete_range(ws, off - col, off)
    }

    /// Undo this editor's peer's last change. Returns whether anything changed.
    pub fn undo(&mut self, ws: &Workspace) -> Result<bool, ModelError> {
        self.sync(ws)?;
        self.end_run();
        let did = self.undo.undo()?;
        self.replay(ws, false)?;
        Ok(did)
    }

    /// Redo what was undone. Returns whether anything changed.
    pub fn redo(&mut self, ws: &Workspace) -> Result<bool, ModelError> {
        self.sync(ws)?;
        self.end_run();
        let did = self.undo.redo()?;
        self.replay(ws, false)?;
        Ok(did)
    }

    /// Remember where the caret is as a Loro cursor; call before importing changes from elsewhere.
    pub fn anchor_caret(&mut self) {
        self.anchor = self.body.cursor(self.caret_offset());
    }

    /// Replay changes that arrived from elsewhere, keeping the caret where [`Self::anchor_caret`] put
    /// it. Returns whether the text changed.
    pub fn sync(&mut self, ws: &Workspace) -> Result<bool, ModelError> {
        self.replay(ws, true)
    }

    fn replay(&mut self, ws: &Workspace, keep_caret: bool) -> Result<bool, ModelError> {
        let batch: Vec<Vec<Delta>> =
            std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(false);
        }
        let before = self.caret_offset();
        self.area.cancel_selection();
        let mut last = None;
        for steps in batch {
            let mut pos = 0;
            for step in steps {
                match step {
                    Delta::Retain(n) => pos += n,
                    Delta::Insert(s) => {
                        let (r, c) = self.pos_of(pos);
                        self.jump(r, c);
                        self.area.insert_str(sanitize::visible(&s));
                        self.relen(r, 1, s.matches('\n').count() + 1);
                        pos += chars(&s);
                        last = Some(pos);
                    }
                    Delta::Delete(n) => {
                        let (r0, c0) = self.pos_of(pos);
                        let (r1, _) = self.pos_of(pos + n);
                        self.jump(r0, c0);
                        self.area.delete_str(n);
                        self.relen(r0, r1 - r0 + 1, 1);
                        last = Some(pos);
                    }
                }
            }
        }
        // A body created elsewhere after this editor opened: bind to it.
        self.body = ws.text(self.target)?;
        if self.len_chars() != self.body.len_chars() {
            tracing::warn!(target = %self.target, "editor and document disagree; reloading the text");
            self.reload_from(ws)?;
        }
        let caret = if keep_caret {
            self.anchor
                .take()
                .and_then(|c| ws.loro().get_cursor_pos(&c).ok())
                .map(|r| r.current.pos)
                .unwrap_or(before)
        } else {
            last.unwrap_or(before)
        };
        // Text changed elsewhere does not end a run of up and down presses.
        let goal = if keep_caret { self.goal } else { None };
        self.set_caret_offset(caret);
        self.goal = goal;
        Ok(true)
    }

    fn reload_from(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        let caret = self.caret_offset();
        let fresh = Self::open(ws, self.target)?;
        let style = (
            self.area.style(),
            self.area.cursor_style(),
            self.area.selection_style(),
            self.area.placeholder_style().unwrap_or_default(),
        );
        self.area = fresh.area;
        self.view.replace(View::default());
        self.line_lens = fresh.line_lens;
        self.set_styles(style.0, style.1, style.2, style.3);
        self.set_caret_offset(caret);
        Ok(())
    }
}
