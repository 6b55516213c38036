//! Teammates' carets (from their presence) in a doc while the local user edits it: each is drawn
//! where the editor shows their character (on its wrapped row), in their colour with their name as
//! a flag on the row above (below, on the top row), never on their own row nor the local caret's
//! row, follows the editor as it scrolls, is not drawn when scrolled out of view, and never covers
//! or moves the local caret.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use tui_support::*;
use weft::model::ItemId;
use weft::sync::live::Peer;
use weft::tui::theme::Slot;
use weft::tui::{App, Msg, Target};

const ANA: &str = "0xa11ce0000000000000000000000000000000a11c";
const BO: &str = "0xb0b00000000000000000000000000000000000b0";

/// A teammate whose caret is at character `offset` of `doc`.
fn teammate(app: &App, address: &str, doc: ItemId, offset: usize) -> Peer {
    let caret = app
        .workspace()
        .caret_at(doc, offset)
        .expect("a caret in the text");
    Peer {
        address: address.into(),
        device: format!("{address}-laptop"),
        view: "doc".into(),
        caret: Some((doc.to_string(), caret)),
        seen: std::time::Instant::now(),
    }
}

/// The character offset of the start of `line` (0-based) in `text`.
fn line_start(text: &str, line: usize) -> usize {
    text.split('\n')
        .take(line)
        .map(|l| l.chars().count() + 1)
        .sum()
}

/// Asserts a name flag sits next to the caret's row `y` (above, or below on the top row), never on
/// it, and never on the local caret's row `local`.
fn assert_flag_beside(flag_y: u16, y: u16, local: Option<u16>) {
    assert!(
        flag_y + 1 == y || flag_y == y + 1,
        "the name flag is on the row above or below the caret ({flag_y} vs {y})"
    );
    assert_ne!(Some(flag_y), local, "never on the row being typed");
}

fn snap(name: &str, app: &mut App) -> Buffer {
    let t = draw(app, 80, 24);
    insta::assert_snapshot!(format!("{name}_80x24"), t.backend());
    t.backend().buffer().clone()
}

#[test]
fn a_teammates_caret_shows_while_editing_without_touching_the_local_caret() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    app.update(ch('i'));
    for _ in 0..4 {
        app.update(key(KeyCode::Down));
    }
    app.update(key(KeyCode::End));
    assert!(app.is_editing());
    // The local caret is at the end of "## Getting around".
    let before = draw(&mut app, 80, 24).backend().buffer().clone();
    let (hx, hy) = find(&before, "## Getting around").expect("heading");
    let local = (hx + 17, hy);
    assert_eq!(before[local].fg, dark().color(Slot::Caret));
    assert!(before[local].modifier.contains(Modifier::REVERSED));
    let caret = app.editor().map(|e| e.caret()).expect("editor");

    let body = app.workspace().body(s.ids.welcome).expect("body");
    // Ana is at the end of the title line; Bo on the "G" of "## Getting around".
    let ana = teammate(&app, ANA, s.ids.welcome, "# Welcome to weft".len());
    let getting = body.find("Getting").expect("heading");
    let bo = teammate(&app, BO, s.ids.welcome, body[..getting].chars().count());
    app.set_presence(vec![ana, bo]);
    let buf = snap("remote_carets_editing", &mut app);

    // Ana's caret is a bar after "weft", in the colour of her name at the end of that row.
    let (tx, ty) = find(&buf, "# Welcome to weft").expect("title line");
    let bar = &buf[(tx + 17, ty)];
    assert_eq!(bar.symbol(), "▏");
    assert!(bar.modifier.contains(Modifier::REVERSED));
    let (lx, ly) = find(&buf, "‸0xa11c…a11c").expect("Ana's name");
    assert_flag_beside(ly, ty, Some(local.1));
    assert_eq!(buf[(lx, ly)].fg, bar.fg);
    // Bo's caret colours the "G" itself, in his colour, without hiding it.
    let (gx, gy) = find(&buf, "## Getting around").expect("heading");
    let g = &buf[(gx + 3, gy)];
    assert_eq!(g.symbol(), "G");
    assert!(g.modifier.contains(Modifier::REVERSED));
    let (bx, by) = find(&buf, "‸0xb0b0…00b0").expect("Bo's name");
    assert_eq!(buf[(bx, by)].fg, g.fg);
    assert_flag_beside(by, gy, Some(local.1));
    // The local caret is where it was, drawn as it was, and has not moved in the text.
    assert_eq!(buf[local], before[local]);
    assert_eq!(app.editor().map(|e| e.caret()), Some(caret));
}

#[test]
fn teammates_carets_follow_the_textarea_as_it_scrolls() {
    let s = Sample::new();
    let long: String = (1..=60)
        .map(|i| format!("Step {i:02} of the long plan."))
        .collect::<Vec<_>>()
        .join("\n");
    let mut other = s.other_process("script");
    other
        .workspace()
        .set_body(s.ids.roadmap, &long)
        .expect("body");
    other.flush().expect("flush");
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    // Ana at the end of step 21, Bo at the end of step 51.
    let end_of = |step: usize| line_start(&long, step) - 1;
    let ana = teammate(&app, ANA, s.ids.roadmap, end_of(21));
    let bo = teammate(&app, BO, s.ids.roadmap, end_of(51));
    app.set_presence(vec![ana, bo]);

    // At the top, Ana's caret is in view and Bo's is below it.
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    assert!(find(&buf, "‸0xa11c…a11c").is_some());
    assert!(find(&buf, "‸0xb0b0…00b0").is_none());

    // To the end: the textarea scrolls down; Ana's caret is above the view, Bo's in it.
    app.update(Msg::Key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL)));
    let buf = snap("remote_carets_scrolled_to_the_end", &mut app);
    assert!(find(&buf, "Step 21").is_none(), "step 21 is above the view");
    assert!(find(&buf, "‸0xa11c…a11c").is_none(), "so is Ana's caret");
    let (x, y) = find(&buf, "Step 51 of the long plan.").expect("step 51 in view");
    let bar = &buf[(x + "Step 51 of the long plan.".len() as u16, y)];
    assert_eq!(bar.symbol(), "▏");
    assert!(bar.modifier.contains(Modifier::REVERSED));
    let (_, by) = find(&buf, "‸0xb0b0…00b0").expect("Bo's name");
    assert_flag_beside(by, y, None);

    // A page up: the textarea moves its view by a page; both carets are where their lines are.
    app.update(key(KeyCode::PageUp));
    let buf = snap("remote_carets_a_page_up", &mut app);
    let (x, y) = find(&buf, "Step 21 of the long plan.").expect("step 21 in view");
    assert_eq!(
        buf[(x + "Step 21 of the long plan.".len() as u16, y)].symbol(),
        "▏"
    );
    let (_, ay) = find(&buf, "‸0xa11c…a11c").expect("Ana's name");
    assert_flag_beside(ay, y, None);
    assert!(find(&buf, "Step 51").is_none(), "step 51 is below the view");
    assert!(find(&buf, "‸0xb0b0…00b0").is_none(), "so is Bo's caret");
}

#[test]
fn a_teammates_caret_on_a_long_line_with_a_tab_is_on_its_wrapped_row() {
    let s = Sample::new();
    // A tab (drawn four cells wide), then letters, with a "#" at character 60: one word longer
    // than the pane is wide, so it is broken across rows.
    let line: String = std::iter::once('\t')
        .chain((1..100).map(|i| {
            if i == 60 {
                '#'
            } else {
                char::from(b'a' + (i % 26) as u8)
            }
        }))
        .collect();
    let mut other = s.other_process("script");
    other
        .workspace()
        .set_body(s.ids.roadmap, &format!("Short first line.\n{line}"))
        .expect("body");
    other.flush().expect("flush");
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    // The local caret goes to the start of the long line, whose rows wrap: nothing scrolls
    // sideways.
    app.update(key(KeyCode::Down));
    let start = "Short first line.\n".len();
    let ana = teammate(&app, ANA, s.ids.roadmap, start + 60);
    app.set_presence(vec![ana]);
    let buf = snap("remote_caret_on_a_wrapped_row_with_a_tab", &mut app);
    let (sx, sy) = find(&buf, "Short first line.").expect("the first line stays in view");
    // The long line starts under the first one (after its tab) and goes on on the next rows.
    let (_, ly) = find(&buf, "bcdefgh").expect("the long line");
    assert_eq!(ly, sy + 1);
    assert_eq!(buf[(sx + 4, ly)].symbol(), "b");
    let (x, y) = find(&buf, "#").expect("the # in view");
    assert!(y > ly, "the # is on a wrapped row");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    assert_eq!(
        buf[(x, y)].fg,
        buf[find(&buf, "‸0xa11c").expect("Ana's name")].fg
    );
    let (_, ay) = find(&buf, "‸0xa11c…a11c").expect("Ana's name");
    assert_flag_beside(ay, y, None);
}
