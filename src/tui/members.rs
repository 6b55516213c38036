//! The members screen: who may do what (add, change role, remove), each member's devices and when
//! they were paired, and below, what was refused and why (the quarantine).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::app::{App, Screen};
use super::commands::Command;
use super::msg::Effect;
use super::overlay::{ConfirmAction, PromptAction};
use super::theme::Slot;
use super::widgets::{fit, list_row, pad, pane, put_line};
use crate::acl::{QuarantinedItem, Role};
use crate::identity::Address;
use crate::store::{MemberInfo, Replica};

/// One refused item as the screen shows it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub what: &'static str,
    pub from: String,
    pub reason: String,
}

/// Members and the quarantine, with the selected member.
#[derive(Debug, Clone)]
pub struct MembersScreen {
    pub shared: bool,
    pub members: Vec<MemberInfo>,
    pub refused: Vec<Refused>,
    pub selected: usize,
    /// Full addresses under each name (toggled with `.`); on a wide pane they always show.
    pub addresses: bool,
}

impl MembersScreen {
    pub fn build(replica: &Replica) -> Self {
        let refused = replica
            .quarantine()
            .into_iter()
            .map(|e| Refused {
                what: match e.item {
                    QuarantinedItem::Envelope(_) => "change",
                    QuarantinedItem::AclOp(_) => "membership op",
                    QuarantinedItem::Unreadable => "unreadable input",
                },
                from: e
                    .address
                    .map(|a| a.to_checksum())
                    .or_else(|| e.device.map(|d| d.to_string()))
                    .unwrap_or_else(|| "unknown".into()),
                reason: e.reason.to_string(),
            })
            .collect();
        MembersScreen {
            shared: replica.engine().is_some(),
            members: replica.member_list(),
            refused,
            selected: 0,
            addresses: false,
        }
    }

    pub fn build_keeping(replica: &Replica, old: &MembersScreen) -> Self {
        let mut m = Self::build(replica);
        m.selected = old.selected.min(m.members.len().saturating_sub(1));
        m.addresses = old.addresses;
        m
    }
}

/// Parse what the add prompt took: `0xADDRESS ROLE`.
pub fn parse_add(text: &str) -> Result<(Address, Role), String> {
    let mut parts = text.split_whitespace();
    let (Some(a), Some(r), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("type the address and the role, e.g. 0x1234… editor".into());
    };
    let address = a.parse::<Address>().map_err(|e| e.to_string())?;
    let role = parse_role(r)?;
    Ok((address, role))
}

/// Parse a role name.
pub fn parse_role(text: &str) -> Result<Role, String> {
    text.trim().parse::<Role>().map_err(|_| {
        format!(
            "{:?} is not a role; roles are {}",
            text.trim(),
            Role::ALL.map(|r| r.as_str()).join(", ")
        )
    })
}

impl App {
    /// Ask for one's own display name, the current one filled in.
    pub(crate) fn ask_display_name(&mut self) {
        if self.replica.engine().is_none() {
            return self.error("this workspace is not shared: nobody else sees a name here");
        }
        let ws = self.replica.workspace();
        let current = ws.display_name(ws.actor()).unwrap_or_default();
        self.overlays.push(super::overlay::Overlay::Prompt(
            super::overlay::Prompt::new(
                &format!(
                    "Your display name (at most {} characters; empty removes it)",
                    crate::model::MAX_NAME_CHARS
                ),
                &current,
                PromptAction::DisplayName,
            ),
        ));
    }

    pub(crate) fn members_command(&mut self, cmd: Command) -> Vec<Effect> {
        let Screen::Members(m) = &mut self.screen else {
            return Vec::new();
        };
        let selected = m.members.get(m.selected).cloned();
        let shared = m.shared;
        match cmd {
            Command::MembersDown => {
                m.selected = (m.selected + 1).min(m.members.len().saturating_sub(1))
            }
            Command::MembersUp => m.selected = m.selected.saturating_sub(1),
            Command::MembersAddresses => m.addresses = !m.addresses,
            _ if !shared => self.error("this workspace is not shared: it has no members"),
            Command::MembersName => self.ask_display_name(),
            Command::MembersAdd => self.overlays.push(super::overlay::Overlay::Prompt(
                super::overlay::Prompt::new(
                    "Add member: 0xADDRESS ROLE",
                    "",
                    PromptAction::AddMember,
                ),
            )),
            Command::MembersRole => {
                if let Some(m) = selected {
                    self.overlays.push(super::overlay::Overlay::Prompt(
                        super::overlay::Prompt::new(
                            &format!("New role for {}", fit(&m.address.to_checksum(), 20)),
                            m.role.as_str(),
                            PromptAction::MemberRole(m.address),
                        ),
                    ))
                }
            }
            Command::MembersRemove => {
                if let Some(m) = selected {
                    if m.you {
                        self.error("you cannot remove yourself");
                    } else {
                        self.confirm(
                            format!(
                                "Remove {}? Their changes you have not seen will be refused.",
                                m.address.to_checksum()
                            ),
                            ConfirmAction::RemoveMember(m.address),
                        );
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Run a membership change and show its outcome.
    pub(crate) fn member_change(
        &mut self,
        done: String,
        act: impl FnOnce(&mut Replica) -> Result<crate::acl::AclOp, crate::store::ShareError>,
    ) {
        match act(self.replica_mut()) {
            Ok(_) => {
                self.info(done);
                self.reload();
            }
            Err(e) => self.error(e.to_string()),
        }
    }
}

/// Draw the members screen into the main pane.
pub fn render(app: &App, m: &MembersScreen, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let people = app.replica().workspace().people();
    // Only admins and owners change the membership.
    let admin = app.replica().my_role().is_some_and(|r| r >= Role::Admin);
    let k = |c: Command| app.key_for(c);
    let hints = [
        (k(Command::MembersAdd), "add", admin),
        (k(Command::MembersRole), "change role", admin),
        (k(Command::MembersRemove), "remove", admin),
        (k(Command::Back), "back", true),
        (k(Command::MembersName), "your name", m.shared),
        (k(Command::MembersAddresses), "addresses", m.shared),
    ];
    let block = pane("Members", focused, theme).title_bottom(Line::from(Span::styled(
        app.footer(&hints, area.width),
        theme.fg(Slot::Muted),
    )));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 {
        return;
    }
    let w = usize::from(inner.width);
    let head = |s: String| {
        Line::from(Span::styled(
            s,
            theme.fg(Slot::Accent).add_modifier(Modifier::BOLD),
        ))
    };
    let muted = |s: String| Line::from(Span::styled(s, theme.fg(Slot::Muted)));
    let mut row = 0u16;
    if !m.shared {
        put_line(
            buf,
            inner,
            row,
            &muted("This workspace is not shared: only you can open it.".into()),
        );
        return;
    }
    put_line(
        buf,
        inner,
        row,
        &head(format!("Members ({})", m.members.len())),
    );
    row += 1;
    // Full addresses where they fit, the short form otherwise.
    let full = w >= 80;
    // Who is in the room now, and what they have open.
    let peers = app.peers_here();
    // Their devices reached directly on the LAN.
    let lan = app.lan_linked();
    for (i, member) in m.members.iter().enumerate() {
        if row >= inner.height {
            return;
        }
        let checksum = member.address.to_checksum();
        let named = people.name(&checksum).is_some();
        // A name and the short address; the full address when it fits, or on a line of its
        // own when asked (`.`).
        let detail = m.addresses && !full;
        let address = if full {
            checksum.clone()
        } else {
            super::short_identity(&checksum)
        };
        let who = if named {
            format!("{}  {address}", super::person(&people, &checksum))
        } else {
            address
        };
        let you = if member.you { "  (you)" } else { "" };
        let here = peers
            .iter()
            .find(|(a, _)| *a == checksum)
            .map(|(_, v)| format!("  ● {v}"))
            .unwrap_or_default();
        let direct = if member.devices.iter().any(|d| lan.contains(&d.device)) {
            "  ⇄ LAN"
        } else {
            ""
        };
        let text = format!("{:<10}{who}{you}{direct}{here}", member.role.as_str());
        put_line(
            buf,
            inner,
            row,
            &list_row(
                vec![Span::raw(pad(&text, w.saturating_sub(2)))],
                i == m.selected && focused,
                inner.width,
                theme,
            ),
        );
        row += 1;
        if detail && row < inner.height {
            put_line(
                buf,
                inner,
                row,
                &muted(fit(&format!("{:10}{checksum}", ""), w)),
            );
            row += 1;
        }
        for d in &member.devices {
            if row >= inner.height {
                return;
            }
            let when = d
                .paired_at
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
                .unwrap_or_else(|| "?".into());
            let revoked = if d.revoked { "  revoked" } else { "" };
            let direct = if lan.contains(&d.device) {
                "  on the LAN"
            } else {
                ""
            };
            let line = format!(
                "            {}  paired {when}{revoked}{direct}",
                fit(&d.device, if full { 40 } else { 24 })
            );
            put_line(buf, inner, row, &muted(fit(&line, w)));
            row += 1;
        }
    }
    row += 1;
    if row >= inner.height {
        return;
    }
    put_line(
        buf,
        inner,
        row,
        &head(format!("Refused ({})", m.refused.len())),
    );
    row += 1;
    if m.refused.is_empty() {
        if row < inner.height {
            put_line(buf, inner, row, &muted("Nothing was refused.".into()));
        }
        return;
    }
    for r in &m.refused {
        if row >= inner.height {
            return;
        }
        let from = if r.from.starts_with("0x") {
            super::person(&people, &r.from)
        } else {
            fit(&r.from, 24)
        };
        put_line(
            buf,
            inner,
            row,
            &Line::from(Span::styled(
                fit(&format!("{} from {from}", r.what), w),
                theme.fg(Slot::Warning).add_modifier(Modifier::BOLD),
            )),
        );
        row += 1;
        for piece in wrap(&r.reason, w.saturating_sub(2)) {
            if row >= inner.height {
                return;
            }
            put_line(buf, inner, row, &muted(format!("  {piece}")));
            row += 1;
        }
    }
}

/// Break `text` into lines of at most `width` columns at spaces (long words are cut by `fit`).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed =
            if line.is_empty() { 0 } else { 1 } + unicode_width::UnicodeWidthStr::width(word);
        if !line.is_empty() && unicode_width::UnicodeWidthStr::width(line.as_str()) + needed > width
        {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| fit(&l, width)).collect()
}
