//! Every screen and overlay, pinned as text at 40×12, 60×15, 80×24 and 120×40 (reviewed by eye for
//! alignment and truncation), on a sample workspace with a fixed clock. No raw ids are drawn, so the snapshots do
//! not depend on Loro's random peer ids.

mod tui_support;

use crossterm::event::KeyCode;
use tui_support::*;
use weft::tui::{App, Command, Msg, Target};

/// Snapshot the app at both sizes.
fn snap(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        let t = draw(app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

#[test]
fn home() {
    let s = Sample::new();
    let mut app = s.app();
    snap("home", &mut app);
}

#[test]
fn doc_view() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    snap("doc_view", &mut app);
}

#[test]
fn doc_nested_page() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.meeting));
    snap("doc_nested", &mut app);
}

#[test]
fn doc_edit() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    app.update(ch('i'));
    for _ in 0..4 {
        app.update(key(KeyCode::Down));
    }
    app.update(key(KeyCode::End));
    assert!(app.is_editing());
    snap("doc_edit", &mut app);
}

#[test]
fn doc_comments_panel() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    app.update(ch('c'));
    app.update(ch('j'));
    snap("doc_comments", &mut app);
}

#[test]
fn board() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    snap("board", &mut app);
}

#[test]
fn board_second_column_selected() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    app.update(ch('l'));
    app.update(ch('j'));
    snap("board_doing", &mut app);
}

#[test]
fn card_detail() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    snap("card", &mut app);
}

/// Two files attached to the welcome page and one to a card (descriptions only: drawing them
/// needs no content).
fn with_attachments(s: &Sample) {
    let mut r = s.other_process("local");
    let ws = r.workspace();
    let meta = |name: &str, size: u64| weft::model::AttachmentMeta {
        name: name.into(),
        size,
        mime: None,
        sha256: "ab".repeat(32),
        blob: "cd".repeat(16),
        key: "ef".repeat(32),
        chunk_size: 4 << 20,
        chunks: weft::model::chunk_count(size, 4 << 20).unwrap_or(1) as u32,
    };
    ws.attach(s.ids.welcome, meta("roadmap-2026.pdf", 1_234_567))
        .expect("attach");
    ws.attach(s.ids.welcome, meta("whiteboard photo.jpg", 3_400_000))
        .expect("attach");
    ws.attach(s.ids.invite, meta("join-code.txt", 312))
        .expect("attach");
    r.flush().expect("flush");
}

#[test]
fn doc_with_attachments() {
    let s = Sample::new();
    with_attachments(&s);
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    snap("doc_attachments", &mut app);
}

#[test]
fn card_with_attachments() {
    let s = Sample::new();
    with_attachments(&s);
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    snap("card_attachments", &mut app);
}

#[test]
fn card_description_editing() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    app.update(ch('e'));
    assert!(app.is_editing());
    snap("card_edit", &mut app);
}

#[test]
fn trash() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Trash);
    snap("trash", &mut app);
}

#[test]
fn history() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::History(s.ids.welcome));
    app.update(ch('j'));
    snap("history", &mut app);
}

#[test]
fn search_overlay() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('/'));
    // Hits with equal rank come back in no particular order: this query has none.
    type_text(&mut app, "join");
    snap("search", &mut app);
}

#[test]
fn help_overlay() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('?'));
    snap("help", &mut app);
}

#[test]
fn palette_overlay() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    app.update(ch(':'));
    type_text(&mut app, "move");
    app.update(key(KeyCode::Down));
    snap("palette", &mut app);
}

#[test]
fn prompt_with_an_error() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    app.update(ch('D'));
    app.update(ctrl('u'));
    type_text(&mut app, "someday");
    app.update(key(KeyCode::Enter));
    snap("prompt_error", &mut app);
}

#[test]
fn confirm_overlay() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Trash);
    app.update(ch('p'));
    snap("confirm", &mut app);
}

#[test]
fn error_in_the_status_bar() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    // Another process trashes the doc while it is open; editing it is then refused.
    let mut other = s.other_process("bob");
    other.workspace().trash(s.ids.roadmap).expect("trash");
    other.flush().expect("flush");
    app.update(Msg::Refresh);
    app.update(ch('i'));
    assert!(!app.is_editing());
    snap("status_error", &mut app);
}

#[test]
fn sidebar_focus_after_tab() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    app.update(Msg::Run(Command::FocusNext));
    app.update(ch('j'));
    snap("sidebar_focus", &mut app);
}

#[test]
fn too_small() {
    let s = Sample::new();
    let mut app = s.app();
    for (w, h) in [(39, 12), (40, 11), (30, 10)] {
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("too_small_{w}x{h}"), t.backend());
    }
}

#[test]
fn tiny_sizes_do_not_panic() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    for (w, h) in [(0, 0), (1, 1), (10, 5), (0, 24), (80, 0), (79, 1)] {
        let t = draw(&mut app, w, h);
        let text = screen(t.backend().buffer());
        if w >= 10 && h >= 5 {
            assert!(text.contains("too"), "{w}x{h}: {text}");
        }
    }
    // Every overlay over a small screen, too.
    for m in [
        ch('?'),
        key(KeyCode::Esc),
        ch(':'),
        key(KeyCode::Esc),
        ch('/'),
        key(KeyCode::Esc),
    ] {
        app.update(m);
        draw(&mut app, 10, 5);
        draw(&mut app, 0, 0);
    }
}

#[test]
fn help_filtered() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('?'));
    app.update(ch('/'));
    type_text(&mut app, "card");
    snap("help_filtered", &mut app);
}

#[test]
fn message_log() {
    let s = Sample::new();
    let mut app = s.app();
    app.notice("opened the workspace", false);
    app.notice(
        "could not reach the bucket at https://storage.example.com/team-bucket: connection \
         refused after 3 tries; changes stay queued and are sent later",
        true,
    );
    snap("status_long_message", &mut app);
    app.update(ctrl('g'));
    snap("messages", &mut app);
}

#[test]
fn doc_view_with_tabs() {
    let s = Sample::new();
    let mut r = s.other_process("local");
    r.workspace()
        .set_body(
            s.ids.roadmap,
            "Plan\tOwner\tWhen\nsync\trelay\tQ4\n\t- indented item",
        )
        .expect("body");
    r.flush().expect("flush");
    drop(r);
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    snap("doc_tabs", &mut app);
}

#[test]
fn pairing_overlay() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('P'));
    type_text(&mut app, "0x12");
    snap("pairing", &mut app);
}

#[test]
fn every_overlay_shows_its_input_at_the_smallest_size() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    // What is typed into an overlay is on screen at 40×12.
    for (open, typed) in [
        (ch('/'), "kestrel"),
        (ch(':'), "kestrel"),
        (ch('t'), "kestrel"),
        (ch('P'), "0xkestrel"),
    ] {
        app.update(open);
        type_text(&mut app, typed);
        let shown = screen(draw(&mut app, 40, 12).backend().buffer());
        assert!(
            shown.contains(typed),
            "{typed} while in {}:\n{shown}",
            app.screen_name()
        );
        app.update(key(KeyCode::Esc));
    }
}
