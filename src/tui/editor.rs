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
//! - tui-textarea does not tell where it has scrolled to, so the editor follows its scrolling by the
//!   same rules (`Viewport`) to know which cell shows which character: teammates' carets are drawn
//!   over the textarea.
//!
//! Limits: tui-textarea addresses rows and columns with 16 bits when scrolling, so documents over 65,535
//! lines scroll imperfectly (edits stay correct).

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use loro::event::{Diff, DiffEvent};
use loro::{Index, Subscription, TextDelta, UndoManager};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;
use tui_textarea::{CursorMove, Scrolling, TextArea};
use unicode_width::UnicodeWidthChar;

use super::sanitize;
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

/// The part of the text the textarea showed at its last draw: its first row and column, and its
/// size. tui-textarea 0.7 keeps this private, so it is tracked here by the textarea's own rules:
/// a draw scrolls just enough to show the caret (`next_top`), paging moves the top by the last
/// drawn height, and nothing else moves it. The editor's textarea has no block and no line
/// numbers, and text is not wrapped, which those rules assume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Viewport {
    /// First line shown.
    row: u16,
    /// Display columns scrolled off to the left.
    col: u16,
    /// Width of the last draw.
    width: u16,
    /// Height of the last draw.
    height: u16,
}

/// tui-textarea's rule for a new top (row or column): the smallest move that shows `caret` in
/// `len` cells.
fn next_top(prev: u16, caret: u16, len: u16) -> u16 {
    if caret < prev {
        caret
    } else if prev.saturating_add(len) <= caret {
        caret.saturating_add(1).saturating_sub(len)
    } else {
        prev
    }
}

/// tui-textarea's scroll by a signed number of rows, stopping at 0 and `u16::MAX`.
fn scrolled(top: u16, rows: i16) -> u16 {
    if rows >= 0 {
        top.saturating_add(rows.unsigned_abs())
    } else {
        top.saturating_sub(rows.unsigned_abs())
    }
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
    /// Where the textarea was scrolled at its last draw.
    viewport: Cell<Viewport>,
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
            viewport: Cell::default(),
        })
    }

    /// The doc or card this editor writes to.
    pub fn target(&self) -> ItemId {
        self.target
    }

    /// Draw the textarea into `area`, scrolled as tui-textarea scrolls it (just enough to show
    /// the caret), and remember where that left the view.
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let prev = self.viewport.get();
        let (row, col) = self.area.cursor();
        // Truncated to 16 bits as tui-textarea does (see the limits above).
        let next = Viewport {
            row: next_top(prev.row, row as u16, area.height),
            col: next_top(prev.col, col as u16, area.width),
            width: area.width,
            height: area.height,
        };
        (&self.area).render(area, buf);
        self.viewport.set(next);
    }

    /// The cell (column, row from the top left of the area last drawn into) that shows the
    /// character at (`row`, `col`) — or the end of the line, when `col` is its length — if
    /// it was in view.
    pub fn cell_of(&self, row: usize, col: usize) -> Option<(u16, u16)> {
        let v = self.viewport.get();
        let y = row.checked_sub(usize::from(v.row))?;
        if y >= usize::from(v.height) {
            return None;
        }
        let line = self.area.lines().get(row)?;
        // Display columns before the character, tabs expanded as the textarea draws them.
        let tab = usize::from(self.area.tab_length());
        let mut width = 0;
        for c in line.chars().take(col) {
            width += if c == '\t' && tab > 0 {
                tab - width % tab
            } else {
                c.width().unwrap_or(0)
            };
        }
        let x = width.checked_sub(usize::from(v.col))?;
        if x >= usize::from(v.width) {
            return None;
        }
        Some((u16::try_from(x).ok()?, u16::try_from(y).ok()?))
    }

    /// Set how the caret, selection and placeholder look.
    pub fn set_styles(&mut self, text: Style, caret: Style, selection: Style, placeholder: Style) {
        self.area.set_style(text);
        self.area.set_cursor_style(caret);
        self.area.set_selection_style(selection);
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
        self.area.cancel_selection();
        self.jump(r, c);
    }

    /// Move the caret without editing (view mode).
    pub fn move_caret(&mut self, m: CursorMove) {
        self.end_run();
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
                    (KeyCode::Up, _) => CursorMove::Up,
                    (KeyCode::Down, _) => CursorMove::Down,
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
                        self.page(shift, false);
                        return Ok(Outcome::Moved);
                    }
                    (KeyCode::PageDown, _) => {
                        self.end_run();
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

    fn page(&mut self, shift: bool, down: bool) {
        self.select_if(shift);
        self.area.scroll(if down {
            Scrolling::PageDown
        } else {
            Scrolling::PageUp
        });
        // The textarea moved its top by the height it was last drawn at.
        let mut v = self.viewport.get();
        let rows = v.height as i16;
        v.row = scrolled(v.row, if down { rows } else { -rows });
        self.viewport.set(v);
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
        self.set_caret_offset(caret);
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
        self.viewport.set(Viewport::default());
        self.line_lens = fresh.line_lens;
        self.set_styles(style.0, style.1, style.2, style.3);
        self.set_caret_offset(caret);
        Ok(())
    }
}
