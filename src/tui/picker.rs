//! The assignee picker: the card's assignees chosen from the workspace's members (by name, with
//! their short address), toggled with space or enter. Assignees stay addresses underneath. An
//! assignee who is not a member (an old free-text entry, a removed member) is listed too, so it
//! can be taken off.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::app::App;
use super::overlay::Overlay;
use super::theme::Slot;
use super::widgets::{centered, fit, list_row, pad, popup, put_line};
use crate::model::{CardFields, ItemId};
use crate::store::Replica;

/// One person the card may be assigned to.
#[derive(Debug, Clone)]
pub struct PickRow {
    /// What is stored: the member's address (or the old text of a non-member entry).
    pub address: String,
    /// Name (or short address) as shown.
    pub label: String,
    /// Their role, or `None` when they are not a member.
    pub role: Option<crate::acl::Role>,
    pub assigned: bool,
}

/// The picker over a card.
#[derive(Debug, Clone)]
pub struct AssigneePicker {
    pub card: ItemId,
    pub rows: Vec<PickRow>,
    pub selected: usize,
}

impl AssigneePicker {
    /// The members of `replica`'s workspace against `card`'s assignees; `None` when the
    /// workspace has no members (it is not shared) or the card is gone.
    pub fn build(replica: &Replica, card: ItemId) -> Option<Self> {
        replica.engine()?;
        let view = replica.workspace().card(card).ok()?;
        let people = replica.workspace().people();
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let mut rows: Vec<PickRow> = replica
            .member_list()
            .into_iter()
            .map(|m| {
                let address = m.address.to_checksum();
                PickRow {
                    label: super::person(&people, &address),
                    assigned: view.assignees.iter().any(|a| same(a, &address)),
                    role: Some(m.role),
                    address,
                }
            })
            .collect();
        for a in &view.assignees {
            if !rows.iter().any(|r| same(&r.address, a)) {
                rows.push(PickRow {
                    address: a.clone(),
                    label: super::person(&people, a),
                    role: None,
                    assigned: true,
                });
            }
        }
        Some(AssigneePicker {
            card,
            rows,
            selected: 0,
        })
    }
}

impl App {
    /// Open the assignee picker over `card` (a prompt for names, in a workspace without members).
    pub(crate) fn pick_assignees(&mut self, card: ItemId) {
        match AssigneePicker::build(&self.replica, card) {
            Some(p) => self.overlays.push(Overlay::Assignees(Box::new(p))),
            None => {
                let current = self
                    .replica
                    .workspace()
                    .card(card)
                    .map(|c| c.assignees.join(", "))
                    .unwrap_or_default();
                self.overlays
                    .push(Overlay::Prompt(super::overlay::Prompt::new(
                        "Assignees, comma-separated",
                        &current,
                        super::overlay::PromptAction::CardAssignees(card),
                    )));
            }
        }
    }

    /// Keys in the picker: move, toggle (written at once), close.
    pub(crate) fn picker_key(&mut self, mut p: Box<AssigneePicker>, key: KeyEvent) {
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return,
            KeyCode::Down | KeyCode::Char('j') => {
                p.selected = (p.selected + 1).min(p.rows.len().saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => p.selected = p.selected.saturating_sub(1),
            KeyCode::Char(' ') | KeyCode::Enter => {
                if let Some(row) = p.rows.get(p.selected).cloned() {
                    self.toggle_assignee(&mut p, &row);
                }
            }
            _ => {}
        }
        self.overlays.push(Overlay::Assignees(p));
    }

    fn toggle_assignee(&mut self, p: &mut AssigneePicker, row: &PickRow) {
        let ws = self.replica.workspace();
        let card = match ws.card(p.card) {
            Ok(c) => c,
            Err(e) => return self.error(e.to_string()),
        };
        let mut assignees = card.assignees.clone();
        let had = assignees
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&row.address));
        if had {
            assignees.retain(|a| !a.eq_ignore_ascii_case(&row.address));
        } else {
            assignees.push(row.address.clone());
        }
        let fields = CardFields {
            title: card.title,
            labels: card.labels,
            assignees,
            due: card.due,
        };
        match ws.edit_card(p.card, &fields) {
            Ok(()) => {
                self.unsaved = true;
                if let Some(r) = p.rows.iter_mut().find(|r| r.address == row.address) {
                    r.assigned = !had;
                }
                self.info(if had {
                    format!("{} unassigned", row.label)
                } else {
                    format!("assigned to {}", row.label)
                });
                self.reload();
            }
            Err(e) => self.error(e.to_string()),
        }
    }
}

/// Draw the picker.
pub fn render(app: &App, p: &AssigneePicker, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let want_h = u16::try_from(p.rows.len())
        .unwrap_or(u16::MAX)
        .saturating_add(4);
    let rect = centered(area, 60, want_h.min(area.height));
    let inner = popup(rect, "Assignees", theme, buf);
    if inner.height == 0 {
        return;
    }
    let w = usize::from(inner.width);
    let list_h = usize::from(inner.height.saturating_sub(2)).max(1);
    let top = p.selected.saturating_sub(list_h.saturating_sub(1));
    for (n, (i, r)) in p.rows.iter().enumerate().skip(top).take(list_h).enumerate() {
        let mark = if r.assigned { "[x]" } else { "[ ]" };
        let role = r.role.map(|r| r.as_str()).unwrap_or("not a member");
        let short = crate::model::short_address(&r.address);
        // The name, then the address when the name is not already it, then the role.
        let who = if r.label == short {
            r.label.clone()
        } else {
            format!("{}  {short}", r.label)
        };
        let name_w = w.saturating_sub(6 + 13);
        let text = format!("{mark} {}  {}", pad(&who, name_w), fit(role, 12));
        put_line(
            buf,
            inner,
            n as u16,
            &list_row(
                vec![Span::raw(fit(&text, w.saturating_sub(2)))],
                i == p.selected,
                inner.width,
                theme,
            ),
        );
    }
    let keys = Line::from(vec![
        Span::styled(" space", theme.fg(Slot::Accent)),
        Span::raw(": assign/unassign  "),
        Span::styled("esc", theme.fg(Slot::Accent)),
        Span::raw(": done"),
    ]);
    put_line(buf, inner, inner.height.saturating_sub(1), &keys);
}
