//! The board screen: columns side by side with card counts and WIP limits; cards move across columns
//! and up and down with keys. Enter opens a card's detail (see `card.rs`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Widget};

use super::app::{App, Screen};
use super::card::CardDetail;
use super::commands::Command;
use super::msg::Effect;
use super::overlay::PromptAction;
use super::theme::{Slot, Theme};
use super::widgets::{fit, list_row, pane, put_line};
use crate::model::People;
use crate::model::{BoardView, CardView, ColumnView, ItemId, ModelError, Workspace};

/// Columns narrower than this are scrolled instead of squeezed.
const MIN_COLUMN_WIDTH: u16 = 18;
/// Rows per card: title, details, gap.
const CARD_ROWS: u16 = 3;

/// An open board and which card is selected.
#[derive(Debug)]
pub struct BoardScreen {
    pub id: ItemId,
    pub view: BoardView,
    pub col: usize,
    pub card: usize,
    pub detail: Option<Box<CardDetail>>,
}

impl BoardScreen {
    /// Open board `id` with the first card of the first column selected.
    pub fn open(ws: &Workspace, id: ItemId) -> Result<Self, ModelError> {
        Ok(BoardScreen {
            id,
            view: ws.board(id, false)?,
            col: 0,
            card: 0,
            detail: None,
        })
    }

    /// Re-read the board, keeping the selection on the same card (or column).
    pub fn reload(&mut self, ws: &Workspace, theme: &Theme) -> Result<(), String> {
        let keep = self.current_card().map(|c| c.id);
        let keep_col = self.current_column().map(|c| c.id);
        self.view = ws
            .board(self.id, false)
            .map_err(|_| "the board was deleted".to_string())?;
        if !ws.is_live(self.id) {
            return Err("the board was moved to the trash".into());
        }
        if let Some(c) = keep_col.and_then(|c| self.view.columns.iter().position(|x| x.id == c)) {
            self.col = c;
        }
        match keep {
            Some(id) => self.select_card(id),
            None => self.clamp(),
        }
        if let Some(detail) = &mut self.detail {
            if detail.reload(ws).is_err() {
                self.detail = None;
            }
        }
        let _ = theme;
        Ok(())
    }

    fn clamp(&mut self) {
        self.col = self.col.min(self.view.columns.len().saturating_sub(1));
        let n = self.current_column().map(|c| c.cards.len()).unwrap_or(0);
        self.card = self.card.min(n.saturating_sub(1));
    }

    /// Select card `id` if it is on this board.
    pub fn select_card(&mut self, id: ItemId) {
        for (ci, col) in self.view.columns.iter().enumerate() {
            if let Some(i) = col.cards.iter().position(|c| c.id == id) {
                self.col = ci;
                self.card = i;
                return;
            }
        }
        self.clamp();
    }

    pub fn current_column(&self) -> Option<&ColumnView> {
        self.view.columns.get(self.col)
    }

    pub fn current_card(&self) -> Option<&CardView> {
        self.current_column()?.cards.get(self.card)
    }

    /// Open the selected card's detail.
    pub fn open_detail(&mut self, ws: &Workspace, theme: &Theme) -> Result<(), ModelError> {
        if let Some(card) = self.current_card() {
            self.detail = Some(Box::new(CardDetail::open(ws, card.id, theme)?));
        }
        Ok(())
    }
}

/// A link to a card that `weft` understands.
pub fn card_link(workspace: &str, card: ItemId) -> String {
    format!("weft://{workspace}/card/{card}")
}

impl App {
    pub(crate) fn board_command(&mut self, cmd: Command) -> Vec<Effect> {
        let moves = [
            Command::BoardMoveLeft,
            Command::BoardMoveRight,
            Command::BoardMoveUp,
            Command::BoardMoveDown,
            Command::BoardColumnLeft,
            Command::BoardColumnRight,
        ];
        if moves.contains(&cmd) && !self.may(&crate::acl::Action::EditBoards) {
            return Vec::new();
        }
        let Screen::Board(b) = &mut self.screen else {
            self.info(format!(
                "{} works on a board",
                super::commands::spec(cmd).name
            ));
            return Vec::new();
        };
        let ws = self.replica.workspace();
        let card = b.current_card().map(|c| (c.id, c.title.clone()));
        let column = b
            .current_column()
            .map(|c| (c.id, c.name.clone(), c.wip_limit));
        let ncols = b.view.columns.len();
        let ncards = b.current_column().map(|c| c.cards.len()).unwrap_or(0);
        let mut effects = Vec::new();
        let mut moved: Option<Result<(), ModelError>> = None;
        match cmd {
            Command::BoardLeft => {
                b.col = b.col.saturating_sub(1);
                b.clamp();
            }
            Command::BoardRight => {
                b.col = (b.col + 1).min(ncols.saturating_sub(1));
                b.clamp();
            }
            Command::BoardDown => b.card = (b.card + 1).min(ncards.saturating_sub(1)),
            Command::BoardUp => b.card = b.card.saturating_sub(1),
            Command::BoardMoveLeft | Command::BoardMoveRight => {
                let target = if cmd == Command::BoardMoveLeft {
                    b.col.checked_sub(1)
                } else {
                    Some(b.col + 1).filter(|c| *c < ncols)
                };
                if let (Some((id, _)), Some(t)) = (&card, target) {
                    let dest = &b.view.columns[t];
                    let index = b.card.min(dest.cards.len());
                    moved = Some(ws.move_card(*id, dest.id, Some(index)));
                }
            }
            Command::BoardMoveDown | Command::BoardMoveUp => {
                let index = if cmd == Command::BoardMoveUp {
                    b.card.checked_sub(1)
                } else {
                    Some(b.card + 1).filter(|i| *i < ncards)
                };
                if let (Some((id, _)), Some((col, _, _)), Some(i)) = (&card, &column, index) {
                    moved = Some(ws.move_card(*id, *col, Some(i)));
                }
            }
            Command::BoardColumnLeft | Command::BoardColumnRight => {
                let index = if cmd == Command::BoardColumnLeft {
                    b.col.checked_sub(1)
                } else {
                    Some(b.col + 1).filter(|i| *i < ncols)
                };
                if let (Some((col, _, _)), Some(i)) = (&column, index) {
                    moved = Some(ws.move_column(*col, i));
                }
            }
            Command::BoardOpenCard => {
                let theme = &self.opts.theme;
                if let Err(e) = b.open_detail(ws, theme) {
                    self.error(e.to_string());
                }
                return effects;
            }
            Command::BoardCopyLink => {
                if let Some((id, title)) = &card {
                    effects.push(Effect::Copy(card_link(&self.opts.workspace, *id)));
                    self.info(format!("copied a link to “{}”", fit(title, 40)));
                }
                return effects;
            }
            _ => {}
        }
        if let Some(result) = moved {
            self.unsaved = true;
            match result {
                Ok(()) => self.after_move(card.map(|c| c.0)),
                Err(e) => self.error(e.to_string()),
            }
            return effects;
        }
        let board = self.board_id();
        match (cmd, card, column) {
            (Command::BoardNewCard, _, Some((col, name, _))) => self.prompt(
                &format!("New card in {}", fit(&name, 30)),
                "",
                PromptAction::NewCard(col),
            ),
            (Command::BoardNewColumn, _, _) => {
                if let Some(board) = board {
                    self.prompt("New column name", "", PromptAction::NewColumn(board))
                }
            }
            (Command::BoardRenameCard, Some((id, title)), _) => {
                self.prompt("Rename card", &title, PromptAction::Rename(id))
            }
            (Command::BoardRenameColumn, _, Some((col, name, _))) => {
                self.prompt("Rename column", &name, PromptAction::Rename(col))
            }
            (Command::BoardSetWip, _, Some((col, name, wip))) => self.prompt(
                &format!("WIP limit for {} (0 for none)", fit(&name, 30)),
                &wip.map(|w| w.to_string()).unwrap_or_default(),
                PromptAction::SetWip(col),
            ),
            (Command::BoardTrashCard, Some((id, title)), _)
            | (Command::BoardTrashColumn, _, Some((id, title, _)))
                if self.writable() && self.change(|ws| ws.trash(id)).is_some() =>
            {
                self.info(format!("trashed “{}” (T opens the trash)", fit(&title, 24)));
                self.reload();
            }
            (
                Command::BoardNewCard | Command::BoardRenameColumn | Command::BoardSetWip,
                _,
                None,
            ) => self.info("this board has no columns yet: C adds one"),
            (Command::BoardRenameCard | Command::BoardTrashCard, None, _) => {
                self.info("no card selected")
            }
            _ => {}
        }
        effects
    }

    fn board_id(&self) -> Option<ItemId> {
        match &self.screen {
            Screen::Board(b) => Some(b.id),
            _ => None,
        }
    }

    fn after_move(&mut self, card: Option<ItemId>) {
        self.reload();
        if let (Screen::Board(b), Some(id)) = (&mut self.screen, card) {
            b.select_card(id);
            if let Some(col) = b.current_column() {
                if let Some(limit) = col.wip_limit.filter(|l| col.cards.len() > *l as usize) {
                    let msg = format!(
                        "{} is over its WIP limit ({}/{limit})",
                        fit(&col.name, 30),
                        col.cards.len()
                    );
                    self.warn(msg);
                }
            }
        }
    }
}

/// Draw the board into the main pane.
pub fn render(app: &App, b: &BoardScreen, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let people = app.replica.workspace().people();
    let n = b.view.columns.len();
    let edit = app.allows(&crate::acl::Action::EditBoards);
    let k = |c: Command| app.key_for(c);
    let hints = [
        ("h/l j/k".to_string(), "select", true),
        (k(Command::BoardOpenCard), "open", true),
        (k(Command::BoardNewCard), "new", edit),
        ("H/L/J/K".to_string(), "move", edit),
        (k(Command::Help), "help", true),
    ];
    let block = pane(&b.view.name, focused, theme).title_bottom(Line::from(Span::styled(
        app.footer(&hints, area.width),
        theme.fg(Slot::Muted),
    )));
    let inner = block.inner(area);
    block.render(area, buf);
    if n == 0 {
        put_line(
            buf,
            inner,
            0,
            &Line::from(Span::styled(
                " no columns yet: C adds one",
                theme.fg(Slot::Muted),
            )),
        );
        return;
    }
    let visible = usize::from((inner.width / MIN_COLUMN_WIDTH).max(1)).min(n);
    let first = b.col.saturating_sub(visible - 1).min(n - visible);
    let col_w = inner.width / visible as u16;
    for (slot, ci) in (first..first + visible).enumerate() {
        let x = inner.x + slot as u16 * col_w;
        let w = if slot + 1 == visible {
            inner.width - slot as u16 * col_w
        } else {
            col_w
        };
        let rect = Rect::new(x, inner.y, w, inner.height);
        render_column(
            &b.view.columns[ci],
            ci == b.col,
            b.card,
            focused,
            rect,
            buf,
            theme,
            &people,
        );
    }
    if visible < n {
        let label = format!(" columns {}–{} of {n} ", first + 1, first + visible);
        let x = area.x + area.width.saturating_sub(label.chars().count() as u16 + 2);
        buf.set_string(x, area.y, &label, theme.fg(Slot::Muted));
    }
}

#[allow(clippy::too_many_arguments)]
fn render_column(
    col: &ColumnView,
    selected: bool,
    card_sel: usize,
    focused: bool,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
    people: &People,
) {
    let count = col.cards.len();
    let over = col.wip_limit.is_some_and(|l| count > l as usize);
    let counter = match col.wip_limit {
        Some(l) => format!("{count}/{l}"),
        None => count.to_string(),
    };
    let name_w = usize::from(area.width.saturating_sub(6)).saturating_sub(counter.len() + 3);
    let mut title = vec![
        Span::raw(" "),
        Span::styled(fit(&col.name, name_w), theme.fg(Slot::Title)),
        Span::raw(" "),
    ];
    if over {
        title.push(Span::styled(format!("{counter} !"), theme.error()));
    } else {
        title.push(Span::styled(counter, theme.fg(Slot::Muted)));
    }
    title.push(Span::raw(" "));
    let active = selected && focused;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if active {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(if over && !active {
            theme.fg(Slot::Error)
        } else {
            theme.border(active)
        })
        .title(Line::from(title).style(if active {
            Modifier::BOLD.into()
        } else {
            ratatui::style::Style::new()
        }));
    let inner = block.inner(area);
    block.render(area, buf);
    if col.cards.is_empty() {
        put_line(
            buf,
            inner,
            0,
            &Line::from(Span::styled("  (empty)", theme.fg(Slot::Muted))),
        );
        return;
    }
    let per = usize::from((inner.height / CARD_ROWS).max(1));
    let top = if selected {
        (card_sel + 1).saturating_sub(per)
    } else {
        0
    };
    for (slot, (i, card)) in col.cards.iter().enumerate().skip(top).take(per).enumerate() {
        let row = slot as u16 * CARD_ROWS;
        let is_sel = selected && i == card_sel;
        let (l1, l2) = card_lines(card, inner.width, is_sel && focused, is_sel, theme, people);
        put_line(buf, inner, row, &l1);
        put_line(buf, inner, row + 1, &l2);
    }
    if top + per < col.cards.len() {
        let more = format!(" ▼ {} more ", col.cards.len() - top - per);
        put_line(
            buf,
            area,
            area.height.saturating_sub(1),
            &Line::from(Span::styled(more, theme.fg(Slot::Muted))),
        );
    }
}

fn card_lines(
    card: &CardView,
    width: u16,
    highlight: bool,
    selected: bool,
    theme: &Theme,
    people: &People,
) -> (Line<'static>, Line<'static>) {
    let w = usize::from(width).saturating_sub(2);
    // The comment count sits at the end of the title row, where truncation cannot hide it.
    let count = if card.comments > 0 {
        format!(" ✉{}", card.comments)
    } else {
        String::new()
    };
    let count_w = unicode_width::UnicodeWidthStr::width(count.as_str());
    let title_text = fit(&card.title, w.saturating_sub(count_w));
    let gap =
        w.saturating_sub(unicode_width::UnicodeWidthStr::width(title_text.as_str()) + count_w);
    let title = vec![
        Span::styled(
            title_text,
            theme.fg(Slot::Text).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" ".repeat(gap)),
        Span::styled(count, theme.fg(Slot::Comment)),
    ];
    let mut meta: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    let mut push = |text: String, slot: Slot, meta: &mut Vec<Span<'static>>| {
        let t = fit(&text, w.saturating_sub(used));
        if t.is_empty() {
            return;
        }
        used += unicode_width::UnicodeWidthStr::width(t.as_str()) + 1;
        meta.push(Span::styled(t, theme.fg(slot)));
        meta.push(Span::raw(" "));
    };
    for l in &card.labels {
        push(format!("#{l}"), Slot::Label, &mut meta);
    }
    for a in &card.assignees {
        push(
            format!("@{}", super::person(people, a)),
            Slot::Assignee,
            &mut meta,
        );
    }
    if let Some(d) = &card.due {
        push(format!("due {d}"), Slot::Due, &mut meta);
    }
    if highlight {
        let mut m = vec![Span::raw("  ")];
        m.extend(meta.into_iter().map(|s| Span::raw(s.content)));
        let used: usize = m.iter().map(|s| s.width()).sum();
        m.push(Span::raw(
            " ".repeat(usize::from(width).saturating_sub(used)),
        ));
        (
            list_row(title, true, width, theme),
            Line::from(m).style(theme.selection()),
        )
    } else {
        let marker = if selected { "› " } else { "  " };
        let mut t = vec![Span::styled(marker, theme.fg(Slot::Accent))];
        t.extend(title);
        let mut m = vec![Span::raw("  ")];
        m.extend(meta);
        (Line::from(t), Line::from(m))
    }
}
