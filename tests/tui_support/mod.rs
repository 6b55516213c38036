//! Shared by the terminal UI tests: a sample workspace on a real store with a fixed clock, an app on
//! it, keys, and rendering into ratatui's TestBackend.
#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use tempfile::TempDir;
use weft::model::{CardFields, Clock, ItemId, Workspace};
use weft::store::Replica;
use weft::tui::{App, AppOptions, ColorMode, Keymap, Msg, Theme};

/// 2026-09-21 09:46:40 UTC.
pub const T0: i64 = 1_790_000_000_000;
/// The sizes every screen is pinned at: the smallest drawn, a small pane, the classic terminal
/// and a roomy one.
pub const SIZES: [(u16, u16); 4] = [(40, 12), (60, 15), (80, 24), (120, 40)];

pub const WELCOME: &str = "# Welcome to weft

weft keeps your team's **documents**, **boards** and *comments* in one workspace.

## Getting around

- `j`/`k` move, `enter` opens
- Read the [guide](https://example.com/guide)
1. Numbered items work too

> Quotes are dimmed and italic.

```rust
fn main() { println!(\"code is green\"); }
```

Last line of the welcome page.";

/// Ids of the interesting things in the sample.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub welcome: ItemId,
    pub notes: ItemId,
    pub meeting: ItemId,
    pub roadmap: ItemId,
    pub board: ItemId,
    pub todo: ItemId,
    pub doing: ItemId,
    pub done: ItemId,
    pub invite: ItemId,
    pub write_docs: ItemId,
}

/// A sample workspace in a temporary home: nested docs, a board with WIP limits (one column over its
/// limit), labels, assignees, due dates, anchored and resolved comments with replies, trashed items,
/// a detached comment, and a second writer ("bob") whose edits give the welcome page a history.
pub struct Sample {
    pub dir: TempDir,
    pub path: std::path::PathBuf,
    pub ids: Ids,
}

fn card(title: &str, labels: &[&str], assignees: &[&str], due: Option<&str>) -> CardFields {
    CardFields {
        title: title.into(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        assignees: assignees.iter().map(|s| s.to_string()).collect(),
        due: due.map(str::to_string),
    }
}

fn build(ws: &Workspace) -> Ids {
    let welcome = ws.create_doc("Welcome", None).expect("doc");
    ws.set_body(welcome, WELCOME).expect("body");
    let notes = ws.create_doc("Team notes", None).expect("doc");
    ws.set_body(notes, "# Team notes\n\nWhat we decided, and why.\n")
        .expect("body");
    let meeting = ws
        .create_doc("Meeting 2026-09-21", Some(notes))
        .expect("doc");
    ws.set_body(meeting, "- ship the TUI\n- write the guide\n")
        .expect("body");
    let roadmap = ws.create_doc("Roadmap", None).expect("doc");
    ws.set_body(roadmap, "Q4: sync over the relay.\n")
        .expect("body");
    let board = ws
        .create_board("Launch", &["To do", "Doing", "Done"])
        .expect("board");
    let cols: Vec<ItemId> = ws
        .board(board, false)
        .expect("board")
        .columns
        .iter()
        .map(|c| c.id)
        .collect();
    let (todo, doing, done) = (cols[0], cols[1], cols[2]);
    ws.set_wip_limit(doing, Some(2)).expect("wip");
    ws.set_wip_limit(todo, Some(5)).expect("wip");
    let invite = ws
        .add_card(
            todo,
            &card(
                "Invite a teammate",
                &["team"],
                &["alice"],
                Some("2026-10-01"),
            ),
            "Send the join code to **Bob**.\n\nThen pair a device.",
        )
        .expect("card");
    let write_docs = ws
        .add_card(todo, &card("Write the first doc", &["docs"], &[], None), "")
        .expect("card");
    ws.add_card(
        todo,
        &card(
            "A card with a rather long title that will not fit",
            &["ux", "later"],
            &["carol", "dave"],
            None,
        ),
        "",
    )
    .expect("card");
    for t in ["Design the board", "Theme support", "Keymap file"] {
        ws.add_card(doing, &card(t, &["tui"], &["bob"], None), "")
            .expect("card");
    }
    ws.add_card(done, &card("Install weft", &["done"], &[], None), "")
        .expect("card");
    let c = ws
        .add_comment(invite, "Who has the join code?", None, None)
        .expect("comment");
    ws.add_comment(invite, "I do, sending it today.", None, Some(&c))
        .expect("reply");
    let anchor = WELCOME
        .find("## Getting")
        .map(|b| WELCOME[..b].chars().count());
    let c1 = ws
        .add_comment(welcome, "Should this section list the keys?", anchor, None)
        .expect("comment");
    ws.add_comment(
        welcome,
        "Yes, the help overlay has them all.",
        None,
        Some(&c1),
    )
    .expect("reply");
    let c2 = ws
        .add_comment(welcome, "Typo fixed in the title.", Some(2), None)
        .expect("comment");
    ws.resolve_comment(&c2, true).expect("resolve");
    let draft = ws.create_doc("Old draft", None).expect("doc");
    ws.trash(draft).expect("trash");
    let stale = ws
        .add_card(done, &card("Stale card", &[], &[], None), "")
        .expect("card");
    ws.trash(stale).expect("trash");
    let scratch = ws.create_doc("Scratch", None).expect("doc");
    ws.set_body(scratch, "temporary text").expect("body");
    ws.add_comment(scratch, "This was about the scratch page.", Some(0), None)
        .expect("comment");
    ws.trash(scratch).expect("trash");
    ws.purge(scratch).expect("purge");
    Ids {
        welcome,
        notes,
        meeting,
        roadmap,
        board,
        todo,
        doing,
        done,
        invite,
        write_docs,
    }
}

impl Sample {
    /// Build the sample and give the welcome page two later versions written by another process.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ws").join("weft.db");
        let mut r = Replica::create(&path, "team", "local", Clock::Fixed(T0)).expect("create");
        let ids = build(r.workspace());
        r.flush().expect("flush");
        drop(r);
        let mut bob = Replica::open(&path, "bob", Clock::Fixed(T0 + 60_000)).expect("open");
        bob.workspace()
            .append_body(ids.welcome, "\n\nBob added this paragraph.")
            .expect("append");
        bob.flush().expect("flush");
        drop(bob);
        let mut bob = Replica::open(&path, "bob", Clock::Fixed(T0 + 120_000)).expect("open");
        let ws = bob.workspace();
        let body = ws.body(ids.welcome).expect("body");
        ws.set_body(ids.welcome, &body.replace("Last line", "Final line"))
            .expect("edit");
        bob.flush().expect("flush");
        Sample { dir, path, ids }
    }

    /// Another process on the same store (what a script running `weft` would be).
    pub fn other_process(&self, actor: &str) -> Replica {
        Replica::open(&self.path, actor, Clock::Fixed(T0 + 300_000)).expect("open")
    }

    /// The app on this sample, with the given theme and keymap.
    pub fn app_with(&self, theme: Theme, keymap: Keymap, notices: Vec<String>) -> App {
        let replica = Replica::open(&self.path, "local", Clock::Fixed(T0 + 600_000)).expect("open");
        let mut app = App::new(
            replica,
            AppOptions {
                workspace: "team".into(),
                identity: "local".into(),
                theme,
                keymap,
                notices,
            },
        );
        app.update(Msg::Resize(80, 24));
        app
    }

    /// The app with the dark theme in truecolor and the default keys.
    pub fn app(&self) -> App {
        self.app_with(dark(), Keymap::defaults(), Vec::new())
    }
}

pub fn dark() -> Theme {
    Theme::builtin("dark", ColorMode::TrueColor).expect("dark theme")
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Msg {
    let mods = if c.is_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Msg::Key(KeyEvent::new(KeyCode::Char(c), mods))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn alt(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT))
}

/// Send each character as a key press (newlines as Enter).
pub fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        if c == '\n' {
            app.update(key(KeyCode::Enter));
        } else {
            app.update(ch(c));
        }
    }
}

/// Draw the app at `w`×`h` into a test terminal.
pub fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    app.update(Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| weft::tui::view(app, f)).expect("draw");
    t
}

/// The text of one row of a buffer.
pub fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

/// Where `needle` first appears on screen, as (x, y).
pub fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let cells: Vec<String> = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        let row: String = cells.concat();
        if let Some(byte) = row.find(needle) {
            // Map the byte offset back to a column.
            let mut acc = 0;
            for (x, s) in cells.iter().enumerate() {
                if acc == byte {
                    return Some((x as u16, y));
                }
                acc += s.len();
            }
        }
    }
    None
}

/// The whole screen as text.
pub fn screen(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| row_text(buf, y))
        .collect::<Vec<_>>()
        .join("\n")
}
