//! Overlays are a stack over the screens: the top one gets each key first and either handles it or
//! closes; they are drawn bottom-up over the screen. Prompts (one line of text) and confirmations live
//! here; help, the palette and search have their own modules.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::{App, Screen, Target};
use super::help::Help;
use super::msg::Effect;
use super::palette::Palette;
use super::search::Search;
use super::theme::Slot;
use super::widgets::{centered, fit, popup, put_line, LineInput};
use crate::model::{CardFields, CommentId, ItemId};

/// What a prompt's text is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptAction {
    NewDoc(Option<ItemId>),
    NewBoard,
    Rename(ItemId),
    NewCard(ItemId),
    NewColumn(ItemId),
    SetWip(ItemId),
    CardTitle(ItemId),
    CardLabels(ItemId),
    CardAssignees(ItemId),
    CardDue(ItemId),
    Comment {
        target: ItemId,
        anchor: Option<usize>,
    },
    Reply {
        target: ItemId,
        parent: CommentId,
    },
    AddMember,
    MemberRole(crate::identity::Address),
    /// One's own display name (empty removes it).
    DisplayName,
    /// Save the named attachment of this doc or card into the current folder.
    SaveAttachment(ItemId),
}

/// One line of text asked for, with an error line when the last try was refused.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub title: String,
    pub input: LineInput,
    pub action: PromptAction,
    pub error: Option<String>,
}

impl Prompt {
    pub fn new(title: &str, initial: &str, action: PromptAction) -> Self {
        Prompt {
            title: title.to_string(),
            input: LineInput::new(initial),
            action,
            error: None,
        }
    }
}

/// What a yes/no question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmAction {
    Purge(ItemId),
    RestoreVersion { doc: ItemId, index: usize },
    RemoveMember(crate::identity::Address),
}

/// A yes/no question.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub question: String,
    pub action: ConfirmAction,
}

/// One layer over the screen.
#[derive(Debug)]
pub enum Overlay {
    Help(Help),
    Palette(Palette),
    Search(Box<Search>),
    Prompt(Prompt),
    Confirm(Confirm),
    Pairing(Box<super::pairing::Pairing>),
    Messages(super::messages::MessageLog),
    Assignees(Box<super::picker::AssigneePicker>),
}

impl Overlay {
    /// Mode name for the status bar.
    pub fn name(&self) -> &'static str {
        match self {
            Overlay::Help(_) => "HELP",
            Overlay::Palette(_) => "COMMAND",
            Overlay::Search(_) => "SEARCH",
            Overlay::Prompt(_) => "INPUT",
            Overlay::Confirm(_) => "CONFIRM",
            Overlay::Pairing(_) => "PAIR",
            Overlay::Messages(_) => "MESSAGES",
            Overlay::Assignees(_) => "ASSIGN",
        }
    }
}

impl App {
    /// Give a key to the top overlay (already taken off the stack); it goes back unless it closed.
    pub(crate) fn overlay_key(&mut self, top: Overlay, key: KeyEvent) -> Vec<Effect> {
        match top {
            Overlay::Help(mut h) => {
                if h.key(&key) {
                    self.overlays.push(Overlay::Help(h));
                }
                Vec::new()
            }
            Overlay::Messages(mut m) => {
                if m.key(&key) {
                    self.overlays.push(Overlay::Messages(m));
                }
                Vec::new()
            }
            Overlay::Palette(p) => self.palette_key(p, key),
            Overlay::Search(s) => self.search_key(s, key),
            Overlay::Prompt(mut p) => match key.code {
                KeyCode::Esc => Vec::new(),
                KeyCode::Enter => {
                    let text = p.input.value().to_string();
                    match self.submit(&p.action, &text) {
                        Ok(()) => {
                            self.unsaved = true;
                            self.reload();
                        }
                        Err(e) => {
                            p.error = Some(e);
                            self.overlays.push(Overlay::Prompt(p));
                        }
                    }
                    Vec::new()
                }
                _ => {
                    if p.input.key(&key) {
                        p.error = None;
                    }
                    self.overlays.push(Overlay::Prompt(p));
                    Vec::new()
                }
            },
            Overlay::Pairing(p) => self.pairing_key(p, key),
            Overlay::Assignees(p) => {
                self.picker_key(p, key);
                Vec::new()
            }
            Overlay::Confirm(c) => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                    self.confirmed(c.action);
                    Vec::new()
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => Vec::new(),
                _ => {
                    self.overlays.push(Overlay::Confirm(c));
                    Vec::new()
                }
            },
        }
    }

    /// Pasted text goes to the top overlay's input, if it has one.
    pub(crate) fn overlay_paste(&mut self, text: &str) {
        if matches!(self.overlays.last(), Some(Overlay::Pairing(_))) {
            self.pairing_paste(text);
            return;
        }
        let mut refresh_search = false;
        match self.overlays.last_mut() {
            Some(Overlay::Prompt(p)) => {
                p.input.insert(text);
            }
            Some(Overlay::Search(s)) => refresh_search = s.input.insert(text),
            Some(Overlay::Palette(p)) => {
                p.input.insert(text);
                p.selected = 0;
            }
            _ => {}
        }
        if refresh_search {
            if let Some(Overlay::Search(mut s)) = self.overlays.pop() {
                self.index_owed();
                s.run(&self.replica);
                self.overlays.push(Overlay::Search(s));
            }
        }
    }

    /// Do what a prompt asked. An error keeps the prompt open with the reason under it.
    fn submit(&mut self, action: &PromptAction, text: &str) -> Result<(), String> {
        let ws = self.replica.workspace();
        let text = text.trim();
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        };
        let e = |e: crate::model::ModelError| e.to_string();
        match action {
            PromptAction::NewDoc(parent) => {
                let id = ws.create_doc(text, *parent).map_err(e)?;
                self.sidebar.rebuild(ws);
                self.open(Target::Doc(id));
            }
            PromptAction::NewBoard => {
                let id = ws
                    .create_board(text, &["To do", "Doing", "Done"])
                    .map_err(e)?;
                self.sidebar.rebuild(ws);
                self.open(Target::Board(id));
            }
            PromptAction::Rename(id) => ws.set_title(*id, text).map_err(e)?,
            PromptAction::NewCard(column) => {
                let fields = CardFields {
                    title: text.to_string(),
                    ..Default::default()
                };
                let id = ws.add_card(*column, &fields, "").map_err(e)?;
                if let Screen::Board(b) = &mut self.screen {
                    b.reload(ws, &self.opts.theme).map_err(|w| w.to_string())?;
                    b.select_card(id);
                }
            }
            PromptAction::NewColumn(board) => {
                ws.add_column(*board, text, None).map_err(e)?;
            }
            PromptAction::SetWip(column) => {
                let limit = if text.is_empty() || text == "0" {
                    None
                } else {
                    Some(text.parse::<u32>().map_err(|_| {
                        format!("{text:?} is not a number; give a limit like 3, or 0 for none")
                    })?)
                };
                ws.set_wip_limit(*column, limit).map_err(e)?;
            }
            PromptAction::CardTitle(id)
            | PromptAction::CardLabels(id)
            | PromptAction::CardAssignees(id)
            | PromptAction::CardDue(id) => {
                let card = ws.card(*id).map_err(e)?;
                let mut fields = CardFields {
                    title: card.title,
                    labels: card.labels,
                    assignees: card.assignees,
                    due: card.due,
                };
                match action {
                    PromptAction::CardTitle(_) => fields.title = text.to_string(),
                    PromptAction::CardLabels(_) => fields.labels = list(text),
                    PromptAction::CardAssignees(_) => fields.assignees = list(text),
                    _ => fields.due = (!text.is_empty()).then(|| text.to_string()),
                }
                ws.edit_card(*id, &fields).map_err(e)?;
            }
            PromptAction::Comment { target, anchor } => {
                ws.add_comment(*target, text, *anchor, None).map_err(e)?;
                self.info("comment added");
            }
            PromptAction::Reply { target, parent } => {
                ws.add_comment(*target, text, None, Some(parent))
                    .map_err(e)?;
                self.info("reply added");
            }
            PromptAction::AddMember => {
                let (address, role) = super::members::parse_add(text)?;
                self.replica_mut()
                    .add_member(address, role)
                    .map_err(|e| e.to_string())?;
                self.info(format!(
                    "added {} as {}",
                    address.to_checksum(),
                    role.with_article()
                ));
                self.reload();
            }
            PromptAction::SaveAttachment(item) => self.start_save(*item, text)?,
            PromptAction::DisplayName => {
                if let Err(why) = self.replica.can(&crate::acl::Action::SetOwnProfile) {
                    return Err(super::app::read_only_because(&self.replica, &why));
                }
                let name = ws
                    .set_display_name((!text.is_empty()).then_some(text))
                    .map_err(e)?;
                self.info(match name {
                    Some(n) => format!("teammates now see you as {n}"),
                    None => "display name removed: teammates see your address".into(),
                });
                self.reload();
            }
            PromptAction::MemberRole(address) => {
                let role = super::members::parse_role(text)?;
                self.replica_mut()
                    .change_role(*address, role)
                    .map_err(|e| e.to_string())?;
                self.info(format!(
                    "{} is now {}",
                    address.to_checksum(),
                    role.with_article()
                ));
                self.reload();
            }
        }
        Ok(())
    }

    fn confirmed(&mut self, action: ConfirmAction) {
        match action {
            ConfirmAction::Purge(id) => {
                if self.change(|ws| ws.purge(id)).is_some() {
                    self.info("deleted for good; comments on it are kept as detached comments");
                    self.reload();
                }
            }
            ConfirmAction::RestoreVersion { doc, index } => self.restore_version(doc, index),
            ConfirmAction::RemoveMember(a) => self
                .member_change(format!("removed {}", a.to_checksum()), |r| {
                    r.remove_member(a)
                }),
        }
    }

    /// Ask a yes/no question before doing `action`.
    pub(crate) fn confirm(&mut self, question: String, action: ConfirmAction) {
        self.overlays
            .push(Overlay::Confirm(Confirm { question, action }));
    }
}

/// Draw every overlay, bottom-up.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    for o in &app.overlays {
        match o {
            Overlay::Help(h) => super::help::render(app, h, area, buf),
            Overlay::Palette(p) => super::palette::render(app, p, area, buf),
            Overlay::Search(s) => super::search::render(app, s, area, buf),
            Overlay::Prompt(p) => render_prompt(app, p, area, buf),
            Overlay::Confirm(c) => render_confirm(app, c, area, buf),
            Overlay::Pairing(p) => super::pairing::render(app, p, area, buf),
            Overlay::Assignees(p) => super::picker::render(app, p, area, buf),
            Overlay::Messages(m) => super::messages::render(app, m, area, buf),
        }
    }
}

fn render_prompt(app: &App, p: &Prompt, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let rect = centered(area, 64, 6);
    let inner = popup(rect, &p.title, theme, buf);
    if inner.height == 0 {
        return;
    }
    render_input(
        inner,
        &p.input,
        p.error.as_deref(),
        " enter: ok · esc: cancel",
        theme,
        buf,
    );
}

/// A one-line input on the second row of a popup, and under it either the refusal of the last try or
/// the keys that apply.
pub(super) fn render_input(
    inner: Rect,
    input: &LineInput,
    error: Option<&str>,
    hint: &str,
    theme: &super::theme::Theme,
    buf: &mut Buffer,
) {
    let field = Rect::new(inner.x + 1, inner.y + 1, inner.width.saturating_sub(2), 1);
    input.render(field, buf, theme.base(), theme);
    let line = match error {
        Some(err) => Line::from(Span::styled(
            fit(
                &format!("✗ {err}"),
                usize::from(inner.width.saturating_sub(2)),
            ),
            theme.error(),
        )),
        None => Line::from(Span::styled(hint.to_string(), theme.fg(Slot::Muted))),
    };
    put_line(buf, inner, 3, &line);
}

fn render_confirm(app: &App, c: &Confirm, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let rect = centered(area, 64, 6);
    let inner = popup(rect, "Are you sure?", theme, buf);
    let w = usize::from(inner.width.saturating_sub(2));
    put_line(
        buf,
        inner,
        1,
        &Line::from(format!(" {}", fit(&c.question, w))),
    );
    let keys = Line::from(vec![
        Span::styled(" y", theme.fg(Slot::Accent)),
        Span::raw(": yes   "),
        Span::styled("n", theme.fg(Slot::Accent)),
        Span::raw(": no"),
    ]);
    put_line(buf, inner, 3, &keys);
}
