//! A card's detail, over its board: title, labels, assignees, due date, the description (an editor
//! bound to the card's Loro text, like a doc's) and the comment thread with replies.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::app::{App, Screen};
use super::board::card_link;
use super::commands::Command;
use super::editor::DocEditor;
use super::markdown;
use super::msg::Effect;
use super::overlay::PromptAction;
use super::theme::{Slot, Theme};
use super::threads;
use super::widgets::{fit, pane, put_line};
use crate::model::{AttachmentView, CardView, CommentView, ItemId, ModelError, Workspace};

/// An open card.
#[derive(Debug)]
pub struct CardDetail {
    pub id: ItemId,
    pub card: CardView,
    pub column: String,
    pub editor: DocEditor,
    pub editing: bool,
    pub comments: Vec<CommentView>,
    pub selected: usize,
    /// Files attached to the card.
    pub attachments: Vec<AttachmentView>,
}

impl CardDetail {
    /// Open card `id`.
    pub fn open(ws: &Workspace, id: ItemId, theme: &Theme) -> Result<Self, ModelError> {
        let card = ws.card(id)?;
        let mut editor = DocEditor::open(ws, id)?;
        editor.set_styles(
            theme.base(),
            theme.caret(),
            theme.selection(),
            theme.fg(Slot::Muted),
        );
        editor.set_placeholder("No description: start typing");
        let column = ws.title(card.column).unwrap_or_default();
        Ok(CardDetail {
            id,
            attachments: ws.attachments(id),
            comments: ws.comments_on(id),
            card,
            column,
            editor,
            editing: false,
            selected: 0,
        })
    }

    /// Re-read fields and comments. Errors when the card is gone or trashed.
    pub fn reload(&mut self, ws: &Workspace) -> Result<(), ModelError> {
        self.card = ws.card(self.id)?;
        if !ws.is_live(self.id) {
            return Err(ModelError::Trashed(self.id.to_string()));
        }
        self.column = ws.title(self.card.column).unwrap_or_default();
        self.comments = ws.comments_on(self.id);
        self.attachments = ws.attachments(self.id);
        self.selected = self.selected.min(self.comments.len().saturating_sub(1));
        Ok(())
    }
}

impl App {
    pub(crate) fn card_command(&mut self, cmd: Command) -> Vec<Effect> {
        let Screen::Board(b) = &mut self.screen else {
            return Vec::new();
        };
        let Some(d) = b.detail.as_mut() else {
            self.info(format!(
                "{} works on an open card",
                super::commands::spec(cmd).name
            ));
            return Vec::new();
        };
        let id = d.id;
        let card = d.card.clone();
        let selected = d.comments.get(d.selected).cloned();
        match cmd {
            Command::CardDown => {
                d.selected = (d.selected + 1).min(d.comments.len().saturating_sub(1))
            }
            Command::CardUp => d.selected = d.selected.saturating_sub(1),
            Command::CardEdit => {
                if self.replica.workspace().read_only().is_some() {
                    self.error("read-only: written by a newer weft");
                } else if let Err(why) = self.replica.can(&crate::acl::Action::EditBoards) {
                    self.error(super::app::read_only_because(&self.replica, &why));
                } else {
                    d.editing = true;
                }
            }
            Command::CardTitle => {
                self.prompt("Card title", &card.title, PromptAction::CardTitle(id))
            }
            Command::CardLabels => self.prompt(
                "Labels, comma-separated",
                &card.labels.join(", "),
                PromptAction::CardLabels(id),
            ),
            Command::CardAssignees => self.pick_assignees(id),
            Command::CardDue => self.prompt(
                "Due date YYYY-MM-DD (empty clears it)",
                card.due.as_deref().unwrap_or(""),
                PromptAction::CardDue(id),
            ),
            Command::CardComment => self.prompt(
                "Comment on the card",
                "",
                PromptAction::Comment {
                    target: id,
                    anchor: None,
                },
            ),
            Command::CardReply => match selected {
                Some(c) => self.prompt(
                    &format!(
                        "Reply to {}",
                        crate::tui::person(&self.replica.workspace().people(), &c.author)
                    ),
                    "",
                    PromptAction::Reply {
                        target: id,
                        parent: c.id,
                    },
                ),
                None => self.info("no comment to reply to: c adds one"),
            },
            Command::CardResolve => {
                if let Some(c) = selected {
                    if self
                        .change(|ws| ws.resolve_comment(&c.id, !c.resolved))
                        .is_some()
                    {
                        self.info(if c.resolved {
                            "thread reopened"
                        } else {
                            "thread resolved"
                        });
                        self.reload();
                    }
                }
            }
            Command::CardSaveAttachment => self.ask_save_attachment(id),
            Command::CardCopyLink => {
                self.info(format!("copied a link to “{}”", fit(&card.title, 40)));
                return vec![Effect::Copy(card_link(&self.opts.workspace, id))];
            }
            _ => {}
        }
        Vec::new()
    }
}

/// Draw the card detail into the main pane.
pub fn render(app: &App, board: &str, d: &CardDetail, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let people = app.replica.workspace().people();
    use crate::acl::Action;
    let k = |c: Command| app.key_for(c);
    let edit = app.allows(&Action::EditBoards);
    let comment = app.allows(&Action::Comment);
    let hints = if d.editing {
        vec![
            (k(Command::EditorLeave), "done", true),
            (k(Command::EditorUndo), "undo", true),
        ]
    } else {
        vec![
            (k(Command::CardEdit), "describe", edit),
            (k(Command::CardComment), "comment", comment),
            (k(Command::CardReply), "reply", comment),
            (k(Command::CardTitle), "title", edit),
            (k(Command::CardLabels), "labels", edit),
            (k(Command::CardAssignees), "assignees", edit),
            (k(Command::CardDue), "due", edit),
            (k(Command::CardResolve), "resolve", comment),
        ]
    };
    let block =
        pane(&format!("{} / {}", board, d.column), focused, theme).title_bottom(Line::from(
            Span::styled(app.footer(&hints, area.width), theme.fg(Slot::Muted)),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height < 6 || inner.width < 10 {
        return;
    }
    let w = usize::from(inner.width);
    let x = Rect::new(inner.x + 1, inner.y, inner.width - 2, inner.height);
    let wx = usize::from(x.width);
    put_line(
        buf,
        x,
        0,
        &Line::from(Span::styled(
            fit(&d.card.title, wx),
            theme.fg(Slot::Heading).add_modifier(Modifier::BOLD),
        )),
    );
    let field = |name: &str, values: Vec<(String, Slot)>| -> Vec<Span<'static>> {
        let mut spans = vec![Span::styled(format!("{name}: "), theme.fg(Slot::Muted))];
        if values.is_empty() {
            spans.push(Span::styled("—", theme.fg(Slot::Muted)));
        }
        for (v, slot) in values {
            spans.push(Span::styled(fit(&v, 30), theme.fg(slot)));
            spans.push(Span::raw(" "));
        }
        spans
    };
    let groups = [
        field(
            "Due",
            d.card.due.iter().map(|v| (v.clone(), Slot::Due)).collect(),
        ),
        field(
            "Assignees",
            d.card
                .assignees
                .iter()
                .map(|a| (format!("@{}", super::person(&people, a)), Slot::Assignee))
                .collect(),
        ),
        field(
            "Labels",
            d.card
                .labels
                .iter()
                .map(|l| (format!("#{l}"), Slot::Label))
                .collect(),
        ),
    ];
    // The fields flow onto as many rows as they need (a field is never cut in the middle
    // unless it alone is wider than the pane).
    let mut rows: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    for group in groups {
        let gw: usize = group.iter().map(|s| s.width()).sum();
        let Some(row) = rows.last_mut() else { break };
        let used: usize = row.iter().map(|s| s.width()).sum();
        if !row.is_empty() && used + 2 + gw > wx {
            rows.push(group);
        } else {
            if !row.is_empty() {
                row.push(Span::raw("  "));
            }
            row.extend(group);
        }
    }
    // Never so many rows that the description has no room.
    rows.truncate(usize::from(x.height.saturating_sub(6)).max(1));
    let meta_rows = rows.len() as u16;
    for (i, row) in rows.into_iter().enumerate() {
        put_line(buf, x, 1 + i as u16, &Line::from(row));
    }
    // Attachments get a row of their own under the fields, only when there are any.
    let extra = u16::from(!d.attachments.is_empty()) + meta_rows - 1;
    if !d.attachments.is_empty() {
        put_line(
            buf,
            x,
            1 + meta_rows,
            &super::attachments::attachment_line(&d.attachments, wx, theme),
        );
    }
    let rest = x.height - 3 - extra;
    let desc_h = (rest / 2).max(3);
    let rule = |label: &str| {
        Line::from(Span::styled(
            format!(
                "── {label} {}",
                "─".repeat(w.saturating_sub(label.chars().count() + 6))
            ),
            theme.fg(Slot::Border),
        ))
    };
    put_line(buf, x, 2 + extra, &rule("Description"));
    let desc = Rect::new(
        x.x,
        x.y + 3 + extra,
        x.width,
        desc_h.saturating_sub(1).min(rest),
    );
    if d.editing {
        d.editor.render(desc, buf);
    } else {
        let mut row = 0u16;
        let mut fence = false;
        let lines = d.editor.lines();
        if lines.len() == 1 && lines[0].is_empty() {
            put_line(
                buf,
                desc,
                0,
                &Line::from(Span::styled(
                    "no description (e to write one)",
                    theme.fg(Slot::Muted),
                )),
            );
        }
        for line in lines {
            let cells = markdown::style_line(line, fence, theme);
            if markdown::is_fence(line) {
                fence = !fence;
            }
            for l in markdown::wrap(&cells, wx) {
                if row >= desc.height {
                    break;
                }
                put_line(buf, desc, row, &l);
                row += 1;
            }
        }
    }
    let cy = 3 + extra + desc_h;
    if cy >= x.height {
        return;
    }
    put_line(
        buf,
        x,
        cy,
        &rule(&format!("Comments ({})", d.comments.len())),
    );
    let list = Rect::new(inner.x, x.y + cy + 1, inner.width, x.height - cy - 1);
    if d.comments.is_empty() {
        put_line(
            buf,
            list,
            0,
            &Line::from(Span::styled("  no comments yet (c)", theme.fg(Slot::Muted))),
        );
        return;
    }
    let sel = (focused && !d.editing).then_some(d.selected);
    let rows = threads::thread_lines(&d.comments, list.width, sel, theme, &people, |a| a + 1);
    let h = usize::from(list.height);
    let top = threads::scroll_to(&rows, d.selected, h);
    for (n, (_, line)) in rows.iter().skip(top).take(h).enumerate() {
        put_line(buf, list, n as u16, line);
    }
}
