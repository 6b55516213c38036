//! `view`: draws the app without changing it. Below 40×12 it only says that the terminal is too
//! small (and `update` takes no input then); below 80 columns the sidebar and the main pane take
//! turns at the full width.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::app::{layout, App, Focus, Screen, StatusKind, MIN_SIZE};
use super::commands::Command;
use super::theme::Slot;
use super::widgets::{fit, pad, pane, put_line};
use super::{board, card, doc, history, overlay, sidebar, trash};

/// Draw the whole app into a frame.
pub fn view(app: &App, frame: &mut Frame) {
    let area = frame.area();
    render(app, area, frame.buffer_mut());
}

/// Draw the whole app into a buffer area.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let theme = &app.opts.theme;
    buf.set_style(area, theme.base());
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        too_small(app, area, buf);
        return;
    }
    let l = layout(area, app.focus);
    if !l.sidebar.is_empty() {
        sidebar::render(app, l.sidebar, buf);
    }
    let focused = app.focus == Focus::Main && app.overlays.is_empty();
    if !l.main.is_empty() {
        main_pane(app, l.main, buf, focused);
    }
    status_bar(app, l.status, buf);
    overlay::render(app, area, buf);
}

fn main_pane(app: &App, main: Rect, buf: &mut Buffer, focused: bool) {
    match &app.screen {
        Screen::Home => home(app, main, buf, focused),
        Screen::Doc(d) => doc::render(app, d, main, buf, focused),
        Screen::Board(b) => match &b.detail {
            Some(c) => card::render(app, &b.view.name, c, main, buf, focused),
            None => board::render(app, b, main, buf, focused),
        },
        Screen::Trash(t) => trash::render(app, t, main, buf, focused),
        Screen::Members(m) => super::members::render(app, m, main, buf, focused),
        Screen::History(h) => history::render(app, h, main, buf, focused),
    }
}

fn too_small(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let text = format!(
        "terminal too small (need {}×{}, have {}×{})",
        MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
    );
    let lines = (text.width() as u16).div_ceil(area.width.max(1));
    let y = area.y + area.height.saturating_sub(lines) / 2;
    let rect = Rect::new(area.x, y, area.width, area.height - (y - area.y));
    Paragraph::new(Line::from(Span::styled(text, theme.error())))
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(rect, buf);
}

fn home(app: &App, area: Rect, buf: &mut Buffer, focused: bool) {
    let theme = &app.opts.theme;
    let block = pane("weft", focused, theme);
    let inner = block.inner(area);
    block.render(area, buf);
    let ws = app.workspace();
    let keys = |c: Command| app.opts.keymap.describe(c);
    let accent = theme.fg(Slot::Accent).add_modifier(Modifier::BOLD);
    let muted = theme.fg(Slot::Muted);
    let docs = ws.docs(false).len();
    let boards = ws.boards(false).len();
    let mut lines = vec![
        Line::from(Span::styled(
            "Docs, boards and comments for your team.",
            theme.fg(Slot::Heading).add_modifier(Modifier::BOLD),
        )),
        Line::default(),
        Line::from(vec![
            Span::styled(pad("Workspace", 11), muted),
            Span::raw(fit(&ws.name(), 40)),
        ]),
        Line::from(vec![
            Span::styled(pad("You", 11), muted),
            Span::raw(fit(&app.opts.identity, 40)),
        ]),
        Line::from(vec![
            Span::styled(pad("Contents", 11), muted),
            Span::raw(format!(
                "{docs} doc{}, {boards} board{}",
                plural(docs),
                plural(boards)
            )),
        ]),
        Line::default(),
        Line::from(Span::styled("Getting around", accent)),
    ];
    let rows = [
        (Command::SidebarDown, "move in the sidebar"),
        (Command::SidebarOpen, "open the doc or board"),
        (Command::FocusNext, "switch between the panes"),
        (Command::Search, "search everything"),
        (Command::Palette, "run any command by name"),
        (Command::NewDoc, "new doc"),
        (Command::NewBoard, "new board"),
        (Command::Help, "all keys"),
        (Command::Quit, "quit (everything is saved as you go)"),
    ];
    let key_w = 18;
    for (cmd, what) in rows {
        let offered = match cmd {
            Command::NewDoc => app.allows(&crate::acl::Action::EditDocs),
            Command::NewBoard => app.allows(&crate::acl::Action::EditBoards),
            _ => true,
        };
        if !offered {
            continue;
        }
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(pad(&keys(cmd), key_w), theme.fg(Slot::Title)),
            Span::styled(what, theme.fg(Slot::Text)),
        ]));
    }
    for (row, line) in lines.iter().enumerate() {
        put_line(
            buf,
            Rect::new(
                inner.x + 1,
                inner.y,
                inner.width.saturating_sub(2),
                inner.height,
            ),
            row as u16,
            line,
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The status bar: the mode, then the message (or the main keys), then the sync state on the right.
/// A message gets the room first: the workspace and identity are shown only when they fit beside
/// it, and a message that still does not fit is shortened and says which key shows it whole.
fn status_bar(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.opts.theme;
    let bar = theme.fg(Slot::StatusFg).bg(theme.color(Slot::StatusBg));
    buf.set_style(area, bar);
    let width = usize::from(area.width);
    let mode = format!(" {} ", app.screen_name());
    let mode_style = theme
        .fg(Slot::ModeFg)
        .bg(theme.color(Slot::ModeBg))
        .add_modifier(Modifier::BOLD);
    let refused = app.refused_count();
    let right = format!(
        "{}{}{} ",
        if refused > 0 {
            format!("⚠ {refused} refused · ")
        } else {
            String::new()
        },
        if app.unsaved { "● " } else { "" },
        app.sync_text()
    );
    // On a narrow bar the right side gets at most a third of it.
    let right = fit(&right, (width / 3).max(right.width().min(24)));
    let fixed = mode.width() + 1 + right.width() + 1;
    let (message, style) = match &app.status {
        Some(s) => {
            let style = match s.kind {
                StatusKind::Error => theme.error().bg(theme.color(Slot::StatusBg)),
                StatusKind::Warning => bar.fg(theme.color(Slot::Warning)),
                StatusKind::Info => bar.fg(theme.color(Slot::Info)),
            };
            let prefix = if s.kind == StatusKind::Error {
                "✗ "
            } else {
                ""
            };
            (format!("{prefix}{}", s.text), style)
        }
        None => (
            hints(app, width, width.saturating_sub(fixed)),
            bar.fg(theme.color(Slot::Muted)),
        ),
    };
    let workspace = format!(" {} │", fit(&app.opts.workspace, 20));
    let identity = format!(" {} │", fit(&app.opts.identity, 16));
    let wanted = fixed + message.width();
    let show_workspace = wanted + workspace.width() <= width;
    let show_identity = show_workspace && wanted + workspace.width() + identity.width() <= width;
    let mut spans = vec![Span::styled(mode, mode_style)];
    if show_workspace {
        spans.push(Span::styled(
            workspace.trim_end_matches('│').to_string(),
            bar.add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled("│", bar));
    }
    if show_identity {
        spans.push(Span::styled(identity, bar));
    }
    spans.push(Span::raw(" "));
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let room = width.saturating_sub(used + right.width() + 1);
    let shown = if message.width() <= room || app.status.is_none() {
        pad(&message, room)
    } else {
        // Shortened: the start (the important part) and where to read the rest.
        let key = first_key(app, Command::Messages);
        let more = if room >= 40 {
            format!(" ({key} all)")
        } else {
            format!(" ({key})")
        };
        if room > more.width() + 8 {
            pad(
                &format!("{}{more}", fit(&message, room - more.width())),
                room,
            )
        } else {
            pad(&message, room)
        }
    };
    spans.push(Span::styled(shown, style));
    spans.push(Span::raw(" "));
    spans.push(Span::styled(right, bar.fg(theme.color(Slot::Muted))));
    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
}

/// The main keys, as many as fit (the sidebar toggle first when the panes take turns).
fn hints(app: &App, width: usize, room: usize) -> String {
    let mut items = Vec::new();
    if width < usize::from(super::app::SIDE_BY_SIDE) {
        let what = match app.focus {
            Focus::Sidebar => "main",
            Focus::Main => "sidebar",
        };
        items.push(format!("{} {what}", first_key(app, Command::FocusNext)));
    }
    items.push(format!("{} help", first_key(app, Command::Help)));
    items.push(format!("{} commands", first_key(app, Command::Palette)));
    items.push(format!("{} search", first_key(app, Command::Search)));
    let mut out = String::new();
    for item in items {
        let next = if out.is_empty() {
            item
        } else {
            format!("{out} · {item}")
        };
        if next.width() > room {
            break;
        }
        out = next;
    }
    out
}

fn first_key(app: &App, cmd: Command) -> String {
    app.opts
        .keymap
        .keys_for(cmd)
        .first()
        .map(|k| k.to_string())
        .unwrap_or_else(|| "—".into())
}
