//! The document screen: read with light Markdown styling (view mode) or edit (edit mode), with the
//! comment threads anchored in the text in a side panel.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use tui_textarea::CursorMove;

use super::app::{App, Screen, Target};
use super::commands::Command;
use super::editor::DocEditor;
use super::markdown;
use super::msg::Effect;
use super::overlay::PromptAction;
use super::theme::{Slot, Theme};
use super::threads;
use super::widgets::{fit, pane, put_line};
use crate::model::{
    AttachmentView, CommentView, ItemId, ModelError, People, TrashStatus, Workspace,
};

/// An open document.
#[derive(Debug)]
pub struct DocScreen {
    pub id: ItemId,
    pub title: String,
    pub editor: DocEditor,
    pub editing: bool,
    /// First source line shown in view mode.
    pub top: usize,
    pub comments: Vec<CommentView>,
    /// Rows that carry a comment anchor, and whether all comments there are resolved.
    pub comment_rows: Vec<(usize, bool)>,
    pub panel: bool,
    pub panel_focus: bool,
    pub selected_comment: usize,
    pub trashed: bool,
    pub note: Option<String>,
    /// Files attached to the doc, shown under its title.
    pub attachments: Vec<AttachmentView>,
}

impl DocScreen {
    /// Open doc `id` in view mode.
    pub fn open(ws: &Workspace, id: ItemId, theme: &Theme) -> Result<Self, ModelError> {
        let view = ws.doc(id)?;
        let mut editor = DocEditor::open(ws, id)?;
        editor.set_styles(
            theme.base(),
            theme.caret(),
            theme.selection(),
            theme.fg(Slot::Muted),
        );
        editor.set_placeholder("Empty doc: start typing");
        let mut d = DocScreen {
            id,
            title: view.title,
            editor,
            editing: false,
            top: 0,
            comments: Vec::new(),
            comment_rows: Vec::new(),
            panel: false,
            panel_focus: false,
            selected_comment: 0,
            trashed: false,
            note: None,
            attachments: Vec::new(),
        };
        d.reload(ws).map_err(|why| ModelError::NotFound {
            kind: "doc",
            id: format!("{id} ({why})"),
        })?;
        Ok(d)
    }

    /// Re-read title, trash state and comments. Errors when the doc no longer exists.
    pub fn reload(&mut self, ws: &Workspace) -> Result<(), String> {
        let view = ws
            .doc(self.id)
            .map_err(|_| "the doc was deleted".to_string())?;
        self.title = view.title;
        self.trashed = !ws.is_live(self.id);
        self.note = match view.trash {
            TrashStatus::Restored { reason, .. } => Some(format!("back from the trash: {reason}")),
            _ => None,
        };
        if self.trashed {
            self.editing = false;
        }
        self.attachments = ws.attachments(self.id);
        self.refresh_comments(ws);
        Ok(())
    }

    /// Re-read the threads and where their anchors are now.
    pub fn refresh_comments(&mut self, ws: &Workspace) {
        self.comments = ws.comments_on(self.id);
        let mut rows: Vec<(usize, bool)> = Vec::new();
        for c in &self.comments {
            if let Some(a) = c.anchor {
                let (row, _) = self.editor.pos_of(a);
                match rows.iter_mut().find(|(r, _)| *r == row) {
                    Some(entry) => entry.1 &= c.resolved,
                    None => rows.push((row, c.resolved)),
                }
            }
        }
        self.comment_rows = rows;
        self.selected_comment = self
            .selected_comment
            .min(self.comments.len().saturating_sub(1));
    }

    /// Put the caret on the first occurrence of the query's first word (case-insensitive).
    pub fn caret_to_text(&mut self, query: &str) {
        let Some(word) = query.split_whitespace().next() else {
            return;
        };
        let word = word.trim_matches('"').to_lowercase();
        let text = self.editor.text().to_lowercase();
        if let Some(byte) = text.find(&word) {
            let offset = text[..byte].chars().count();
            self.editor.set_caret_offset(offset);
            self.top = self.editor.caret().0.saturating_sub(2);
        }
    }

    /// Open the panel on comment `id` and put the caret at its anchor.
    pub fn show_comment(&mut self, id: &str) {
        self.panel = true;
        self.panel_focus = true;
        if let Some(i) = self.comments.iter().position(|c| c.id.as_str() == id) {
            self.selected_comment = i;
            if let Some(a) = self.comments[i].anchor {
                self.editor.set_caret_offset(a);
                self.top = self.editor.caret().0.saturating_sub(2);
            }
        }
    }

    /// Keep the caret's line inside a view `height` rows tall.
    pub fn follow_caret(&mut self, height: usize) {
        let row = self.editor.caret().0;
        let height = height.max(1);
        if row < self.top {
            self.top = row;
        } else if row >= self.top + height {
            self.top = row + 1 - height;
        }
    }
}

/// The text area and (when shown) the comments panel inside the doc pane.
pub fn rects(main: Rect, panel: bool) -> (Rect, Option<Rect>) {
    let inner = Rect::new(
        main.x + 1,
        main.y + 1,
        main.width.saturating_sub(2),
        main.height.saturating_sub(2),
    );
    if !panel {
        return (inner, None);
    }
    let pw = (inner.width * 2 / 5).clamp(24.min(inner.width), 44);
    let text = Rect::new(
        inner.x,
        inner.y,
        inner.width.saturating_sub(pw),
        inner.height,
    );
    let side = Rect::new(inner.x + text.width, inner.y, pw, inner.height);
    (text, Some(side))
}

impl App {
    fn doc_page(&self, panel: bool) -> usize {
        usize::from(rects(self.layout().main, panel).0.height)
    }

    pub(crate) fn doc_command(&mut self, cmd: Command) -> Vec<Effect> {
        let Screen::Doc(d) = &self.screen else {
            self.info(format!(
                "{} works in a document",
                super::commands::spec(cmd).name
            ));
            return Vec::new();
        };
        let (id, panel) = (d.id, d.panel);
        let page = self.doc_page(panel);
        let ws = self.replica.workspace();
        let Screen::Doc(d) = &mut self.screen else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let mut then: Option<Then> = None;
        match cmd {
            Command::DocEdit => {
                if d.trashed {
                    then = Some(Then::Error(
                        "this doc is in the trash; restore it to edit".into(),
                    ));
                } else if let Some(found) = ws.read_only() {
                    then = Some(Then::Error(format!(
                        "read-only: written by a newer weft (schema {found})"
                    )));
                } else if let Err(why) = self.replica.can(&crate::acl::Action::EditDocs) {
                    then = Some(Then::Error(super::app::read_only_because(
                        &self.replica,
                        &why,
                    )));
                } else {
                    d.editing = true;
                    d.panel_focus = false;
                }
            }
            Command::DocDown => d.editor.move_caret(CursorMove::Down),
            Command::DocUp => d.editor.move_caret(CursorMove::Up),
            Command::DocPageDown | Command::DocPageUp => {
                let m = if cmd == Command::DocPageDown {
                    CursorMove::Down
                } else {
                    CursorMove::Up
                };
                for _ in 0..page.saturating_sub(1).max(1) {
                    d.editor.move_caret(m);
                }
            }
            Command::DocTop => d.editor.caret_to_edge(false),
            Command::DocBottom => d.editor.caret_to_edge(true),
            Command::DocComments => {
                d.panel = !d.panel || !d.panel_focus;
                d.panel_focus = d.panel;
            }
            Command::DocAddComment | Command::CommentsNew | Command::EditorComment => {
                then = Some(Then::Prompt(
                    "Comment on this position".into(),
                    PromptAction::Comment {
                        target: id,
                        anchor: Some(d.editor.caret_offset()),
                    },
                ));
            }
            Command::DocHistory => then = Some(Then::Open(Target::History(id))),
            Command::DocSaveAttachment => then = Some(Then::SaveAttachment),
            Command::DocCopy => {
                effects.push(Effect::Copy(ws.body(id).unwrap_or_default()));
                then = Some(Then::Info("copied the doc's text to the clipboard".into()));
            }
            Command::DocRename => {
                then = Some(Then::Prompt("Rename doc".into(), PromptAction::Rename(id)));
            }
            Command::DocUndo | Command::DocRedo => {
                let undo = cmd == Command::DocUndo;
                let r = if undo {
                    d.editor.undo(ws)
                } else {
                    d.editor.redo(ws)
                };
                then = Some(match r {
                    Ok(true) => Then::Changed,
                    Ok(false) => Then::Info(
                        if undo {
                            "nothing to undo"
                        } else {
                            "nothing to redo"
                        }
                        .into(),
                    ),
                    Err(e) => Then::Error(e.to_string()),
                });
                d.refresh_comments(ws);
            }
            Command::CommentsDown => {
                d.selected_comment =
                    (d.selected_comment + 1).min(d.comments.len().saturating_sub(1))
            }
            Command::CommentsUp => d.selected_comment = d.selected_comment.saturating_sub(1),
            Command::CommentsJump => {
                if let Some(a) = d.comments.get(d.selected_comment).and_then(|c| c.anchor) {
                    d.editor.set_caret_offset(a);
                    d.panel_focus = false;
                }
            }
            Command::CommentsReply => {
                if let Some(c) = d.comments.get(d.selected_comment) {
                    then = Some(Then::Prompt(
                        format!(
                            "Reply to {}",
                            crate::tui::person(&self.replica.workspace().people(), &c.author)
                        ),
                        PromptAction::Reply {
                            target: id,
                            parent: c.id.clone(),
                        },
                    ));
                }
            }
            Command::CommentsResolve => {
                if let Some(c) = d.comments.get(d.selected_comment) {
                    let r = ws.resolve_comment(&c.id, !c.resolved);
                    then = Some(match r {
                        Ok(()) => Then::Info(
                            if c.resolved {
                                "thread reopened"
                            } else {
                                "thread resolved"
                            }
                            .into(),
                        ),
                        Err(e) => Then::Error(e.to_string()),
                    });
                    d.refresh_comments(ws);
                    self.unsaved = true;
                }
            }
            _ => {}
        }
        if let Screen::Doc(d) = &mut self.screen {
            d.follow_caret(page);
        }
        match then {
            Some(Then::Error(e)) => self.error(e),
            Some(Then::Info(i)) => self.info(i),
            Some(Then::Prompt(title, action)) => {
                let initial = match &action {
                    PromptAction::Rename(_) => self.workspace().title(id).unwrap_or_default(),
                    _ => String::new(),
                };
                self.prompt(&title, &initial, action);
            }
            Some(Then::Open(t)) => self.open(t),
            Some(Then::Changed) => self.unsaved = true,
            Some(Then::SaveAttachment) => self.ask_save_attachment(id),
            None => {}
        }
        effects
    }
}

/// What to do once the screen is no longer borrowed.
enum Then {
    Error(String),
    Info(String),
    Prompt(String, PromptAction),
    Open(Target),
    Changed,
    SaveAttachment,
}

/// Draw the doc screen into the main pane.
pub fn render(app: &App, d: &DocScreen, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let people = app.replica.workspace().people();
    let mut title = d.title.clone();
    if d.trashed {
        title.push_str(" (in the trash)");
    }
    use crate::acl::Action;
    let k = |c: Command| app.key_for(c);
    let comment = app.allows(&Action::Comment);
    let hints = if d.editing {
        vec![
            (k(Command::EditorLeave), "done", true),
            (k(Command::EditorUndo), "undo", true),
            (k(Command::EditorComment), "comment", comment),
        ]
    } else {
        vec![
            (
                k(Command::DocEdit),
                "edit",
                !d.trashed && app.allows(&Action::EditDocs),
            ),
            (k(Command::DocComments), "comments", true),
            (k(Command::DocAddComment), "comment", comment),
            (k(Command::DocHistory), "history", true),
            (k(Command::Help), "help", true),
        ]
    };
    let block = pane(&title, focused && !d.panel_focus, theme).title_bottom(Line::from(
        Span::styled(app.footer(&hints, area.width), theme.fg(Slot::Muted)),
    ));
    block.render(area, buf);
    let (text, side) = rects(area, d.panel);
    let carets = remote_carets(app, d);
    if d.editing {
        // The same two-column gutter and wrap width as view mode, so the text stays in place
        // when editing starts or stops.
        let gutter = 2.min(text.width);
        let body = Rect::new(text.x + gutter, text.y, text.width - gutter, text.height);
        d.editor.render(body, buf);
        mark_comments_in_editor(d, text, buf, theme);
        mark_carets_in_editor(d, body, buf, &carets);
    } else {
        render_view(d, text, buf, theme, &carets);
    }
    if let Some(side) = side {
        render_panel(d, side, buf, theme, &people, focused && d.panel_focus);
    }
}

/// Teammates' carets in this doc: (line, column, short name, style), from their presence.
fn remote_carets(app: &App, d: &DocScreen) -> Vec<(usize, usize, String, Style)> {
    if app.presence.is_empty() {
        return Vec::new();
    }
    let palette = [
        Slot::Accent,
        Slot::Assignee,
        Slot::Warning,
        Slot::Info,
        Slot::Comment,
    ];
    let ws = app.replica.workspace();
    let people = ws.people();
    let id = d.id.to_string();
    app.presence
        .iter()
        .filter_map(|p| {
            let (item, bytes) = p.caret.as_ref()?;
            if *item != id {
                return None;
            }
            let pos = ws.caret_pos(bytes)?;
            let (line, col) = d.editor.pos_of(pos);
            let slot = palette[p.address.bytes().map(usize::from).sum::<usize>() % palette.len()];
            let style = theme_style(app, slot);
            Some((line, col, super::person(&people, &p.address), style))
        })
        .collect()
}

fn theme_style(app: &App, slot: Slot) -> Style {
    app.opts.theme.fg(slot).add_modifier(Modifier::REVERSED)
}

/// A teammate's caret on row `y` of `area`: their cell (at `x`, if it is in view) in their
/// colour, and their name as a small flag on the row above (below, on the top row), starting at
/// their column. The flag never covers their own row, nor the row of the cell `keep` (the local
/// caret, while editing): nobody's typing is hidden under a name. With no such row, only the
/// cell is marked.
fn mark_caret(
    buf: &mut Buffer,
    area: Rect,
    (x, y): (Option<u16>, u16),
    name: &str,
    style: Style,
    keep: Option<(u16, u16)>,
) {
    if let Some(x) = x.filter(|x| keep != Some((*x, y))) {
        if let Some(cell) = buf.cell_mut((x, y)) {
            cell.set_style(style);
            if cell.symbol().trim().is_empty() {
                cell.set_symbol("▏");
            }
        }
    }
    if area.width < 6 {
        return;
    }
    let label = fit(&format!("‸{name}"), usize::from(area.width.min(24)));
    let lw = unicode_width::UnicodeWidthStr::width(label.as_str()) as u16;
    let above = y.checked_sub(1).filter(|r| *r >= area.y);
    let below = Some(y + 1).filter(|r| *r < area.y + area.height);
    let Some(row) = [above, below]
        .into_iter()
        .flatten()
        .find(|r| keep.is_none_or(|(_, ky)| ky != *r))
    else {
        return;
    };
    let lx = x
        .unwrap_or(area.x)
        .min(area.x + area.width - lw)
        .max(area.x);
    buf.set_string(lx, row, &label, style);
}

/// Comment markers in the gutter while editing, on the first screen row of each line that has
/// a comment anchor (as in view mode).
fn mark_comments_in_editor(d: &DocScreen, area: Rect, buf: &mut Buffer, theme: &Theme) {
    if d.comment_rows.is_empty() || area.width < 2 {
        return;
    }
    for (y, (line, first)) in d.editor.rows_shown().into_iter().enumerate() {
        if first != 0 {
            continue;
        }
        let mark = match d.comment_rows.iter().find(|(r, _)| *r == line) {
            Some((_, false)) => ("●", theme.fg(Slot::Comment)),
            Some((_, true)) => ("○", theme.fg(Slot::Resolved)),
            None => continue,
        };
        buf.set_string(area.x + 1, area.y + y as u16, mark.0, mark.1);
    }
}

/// Teammates' carets over the text while editing, on the wrapped row and cell that show their
/// characters; those scrolled out of view are not drawn.
fn mark_carets_in_editor(
    d: &DocScreen,
    area: Rect,
    buf: &mut Buffer,
    carets: &[(usize, usize, String, Style)],
) {
    if carets.is_empty() {
        return;
    }
    let at = |(x, y): (u16, u16)| (area.x + x, area.y + y);
    let (row, col) = d.editor.caret();
    let local = d.editor.cell_of(row, col).map(at);
    for (line, col, name, style) in carets {
        if let Some((x, y)) = d.editor.cell_of(*line, *col).map(at) {
            mark_caret(buf, area, (Some(x), y), name, *style, local);
        }
    }
}

fn render_view(
    d: &DocScreen,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
    carets: &[(usize, usize, String, Style)],
) {
    if area.width < 3 || area.height == 0 {
        return;
    }
    let lines = d.editor.lines();
    let width = usize::from(area.width - 2);
    // The note and the attachments line sit above the text and take its rows.
    let header = u16::from(d.note.is_some()) + u16::from(!d.attachments.is_empty());
    let height = usize::from(area.height.saturating_sub(header)).max(1);
    let caret = d.editor.caret().0;
    let plain = |r: usize| -> usize {
        let cells: Vec<(char, Style)> = lines[r].chars().map(|c| (c, Style::new())).collect();
        markdown::wrap(&cells, width).len()
    };
    let mut start = d.top.min(caret).min(lines.len().saturating_sub(1));
    let mut heights: Vec<usize> = (start..=caret.min(lines.len().saturating_sub(1)))
        .map(plain)
        .collect();
    while heights.iter().sum::<usize>() > height && start < caret {
        heights.remove(0);
        start += 1;
    }
    let mut in_fence = markdown::in_fence_at(lines, start);
    let mut row = 0u16;
    if let Some(note) = &d.note {
        put_line(
            buf,
            area,
            0,
            &Line::from(Span::styled(fit(note, width + 2), theme.fg(Slot::Warning))),
        );
        row = 1;
    }
    if !d.attachments.is_empty() {
        let mut line = super::attachments::attachment_line(&d.attachments, width, theme);
        line.spans.insert(0, Span::raw("  "));
        put_line(buf, area, row, &line);
        row += 1;
    }
    let height = height + usize::from(row);
    if lines.len() == 1 && lines[0].is_empty() {
        put_line(
            buf,
            area,
            row,
            &Line::from(Span::styled(
                "  Empty doc: press i to write",
                theme.fg(Slot::Muted),
            )),
        );
        return;
    }
    for (r, line) in lines.iter().enumerate().skip(start) {
        if usize::from(row) >= height {
            break;
        }
        let fence = markdown::is_fence(line);
        let cells = markdown::style_line(line, in_fence, theme);
        if fence {
            in_fence = !in_fence;
        }
        let marker = d
            .comment_rows
            .iter()
            .find(|(cr, _)| *cr == r)
            .map(|(_, resolved)| *resolved);
        for (i, wrapped) in markdown::wrap(&cells, width).into_iter().enumerate() {
            if usize::from(row) >= height {
                break;
            }
            let caret_mark = if i == 0 && r == caret {
                Span::styled("›", theme.fg(Slot::Accent).add_modifier(Modifier::BOLD))
            } else {
                Span::raw(" ")
            };
            let comment_mark = match (i, marker) {
                (0, Some(false)) => Span::styled("●", theme.fg(Slot::Comment)),
                (0, Some(true)) => Span::styled("○", theme.fg(Slot::Resolved)),
                _ => Span::raw(" "),
            };
            let mut spans = vec![caret_mark, comment_mark];
            spans.extend(wrapped.spans);
            put_line(buf, area, row, &Line::from(spans));
            if i == 0 {
                // Teammates' carets on this line: their cell in their colour, their name at the
                // right edge.
                for (line, col, name, style) in carets {
                    if *line != r || area.height <= row {
                        continue;
                    }
                    let dx = markdown::display_col(&lines[r], *col);
                    let x = (dx < width).then(|| area.x + 2 + dx as u16);
                    mark_caret(buf, area, (x, area.y + row), name, *style, None);
                }
            }
            row += 1;
        }
    }
}

fn render_panel(
    d: &DocScreen,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
    people: &People,
    focused: bool,
) {
    let block = pane(
        &format!(
            "Comments · {} open",
            d.comments.iter().filter(|c| !c.resolved).count()
        ),
        focused,
        theme,
    );
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width < 4 {
        return;
    }
    if d.comments.is_empty() {
        let w = usize::from(inner.width);
        put_line(
            buf,
            inner,
            0,
            &Line::from(Span::styled(
                fit("no comments yet (a)", w),
                theme.fg(Slot::Muted),
            )),
        );
        return;
    }
    let sel = focused.then_some(d.selected_comment);
    let rows = threads::thread_lines(&d.comments, inner.width, sel, theme, people, |a| {
        d.editor.pos_of(a).0 + 1
    });
    let h = usize::from(inner.height);
    let top = threads::scroll_to(&rows, d.selected_comment, h);
    for (n, (_, line)) in rows.iter().skip(top).take(h).enumerate() {
        put_line(buf, inner, n as u16, line);
    }
}
