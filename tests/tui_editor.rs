//! The editor bound to a doc's Loro text: after every kind of edit the textarea and the document hold
//! the same text, and the caret is where the user left it, also when another writer changed the text.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use loro::{ExportMode, LoroDoc};
use weft::model::{Clock, ItemId, Workspace};
use weft::tui::DocEditor;

const T0: i64 = 1_790_000_000_000;

fn setup(body: &str) -> (Workspace, ItemId, DocEditor) {
    let ws = Workspace::create("t", "local", Clock::Fixed(T0)).expect("workspace");
    let id = ws.create_doc("Doc", None).expect("doc");
    if !body.is_empty() {
        ws.set_body(id, body).expect("body");
    }
    let ed = DocEditor::open(&ws, id).expect("editor");
    (ws, id, ed)
}

fn press(ed: &mut DocEditor, ws: &Workspace, code: KeyCode, mods: KeyModifiers) {
    ed.input(ws, &KeyEvent::new(code, mods)).expect("input");
}

fn typ(ed: &mut DocEditor, ws: &Workspace, s: &str) {
    for c in s.chars() {
        let code = if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        press(ed, ws, code, KeyModifiers::NONE);
    }
}

/// The textarea and the Loro text agree, character for character.
fn assert_same(ws: &Workspace, id: ItemId, ed: &DocEditor) {
    let body = ws.body(id).expect("body");
    assert_eq!(ed.text(), body, "editor and document differ");
    assert_eq!(ed.len_chars(), body.chars().count());
}

/// Another replica of the same workspace (a teammate, or another process).
fn peer(ws: &Workspace) -> Workspace {
    let snap = ws.loro().export(ExportMode::Snapshot).expect("snapshot");
    Workspace::open(
        LoroDoc::from_snapshot(&snap).expect("load"),
        "bob",
        Clock::Fixed(T0),
    )
    .expect("open")
}

fn send(from: &Workspace, to: &Workspace) {
    from.commit();
    let bytes = from
        .loro()
        .export(ExportMode::updates(&to.version()))
        .expect("export");
    to.loro().import(&bytes).expect("import");
}

#[test]
fn typing_lands_in_the_document() {
    let (ws, id, mut ed) = setup("");
    typ(&mut ed, &ws, "hello\nworld");
    assert_same(&ws, id, &ed);
    assert_eq!(ws.body(id).expect("body"), "hello\nworld");
    assert_eq!(ed.caret(), (1, 5));
}

#[test]
fn multibyte_and_wide_characters_use_character_positions() {
    let (ws, id, mut ed) = setup("");
    typ(&mut ed, &ws, "é😀世界a");
    press(&mut ed, &ws, KeyCode::Left, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Left, KeyModifiers::NONE);
    typ(&mut ed, &ws, "X");
    assert_eq!(ws.body(id).expect("body"), "é😀世X界a");
    assert_same(&ws, id, &ed);
    assert_eq!(ed.caret(), (0, 4));
    press(&mut ed, &ws, KeyCode::Backspace, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Backspace, KeyModifiers::NONE);
    assert_eq!(ws.body(id).expect("body"), "é😀界a");
    press(&mut ed, &ws, KeyCode::Delete, KeyModifiers::NONE);
    assert_eq!(ws.body(id).expect("body"), "é😀a");
    assert_same(&ws, id, &ed);
    assert_eq!(ed.caret(), (0, 2));
}

#[test]
fn deleting_across_line_breaks_joins_lines() {
    let (ws, id, mut ed) = setup("one\ntwo\nthree");
    ed.set_caret_offset(4); // start of "two"
    press(&mut ed, &ws, KeyCode::Backspace, KeyModifiers::NONE);
    assert_eq!(ws.body(id).expect("body"), "onetwo\nthree");
    assert_eq!(ed.caret(), (0, 3));
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Delete, KeyModifiers::NONE);
    assert_eq!(ws.body(id).expect("body"), "onetwothree");
    assert_same(&ws, id, &ed);
    // Nothing before the start or after the end to delete: no change, no panic.
    ed.set_caret_offset(0);
    press(&mut ed, &ws, KeyCode::Backspace, KeyModifiers::NONE);
    ed.set_caret_offset(11);
    press(&mut ed, &ws, KeyCode::Delete, KeyModifiers::NONE);
    assert_eq!(ws.body(id).expect("body"), "onetwothree");
}

#[test]
fn word_and_line_deletes() {
    let (ws, id, mut ed) = setup("alpha beta gamma\nsecond line");
    ed.set_caret_offset(10); // after "beta"
    ed.delete_word_back(&ws).expect("delete word");
    assert_eq!(ws.body(id).expect("body"), "alpha  gamma\nsecond line");
    ed.kill_line(&ws).expect("kill line");
    assert_eq!(ws.body(id).expect("body"), "alpha \nsecond line");
    ed.kill_line(&ws).expect("kill line break");
    assert_eq!(ws.body(id).expect("body"), "alpha second line");
    ed.kill_to_start(&ws).expect("kill to start");
    assert_eq!(ws.body(id).expect("body"), "second line");
    assert_same(&ws, id, &ed);
}

#[test]
fn typing_over_a_selection_replaces_it() {
    let (ws, id, mut ed) = setup("héllo wörld");
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::NONE);
    for _ in 0..5 {
        press(&mut ed, &ws, KeyCode::Left, KeyModifiers::SHIFT);
    }
    typ(&mut ed, &ws, "😀");
    assert_eq!(ws.body(id).expect("body"), "héllo 😀");
    assert_same(&ws, id, &ed);
}

#[test]
fn paste_of_a_thousand_lines_is_one_change() {
    let (ws, id, mut ed) = setup("start\nend");
    ed.set_caret_offset(6); // start of "end"
    let pasted: String = (0..1000)
        .map(|i| format!("line {i} — ünïcode 世界\r\n"))
        .collect();
    ed.paste(&ws, &pasted).expect("paste");
    let body = ws.body(id).expect("body");
    assert_eq!(body.lines().count(), 1002);
    assert!(!body.contains('\r'), "CRLF is normalised");
    assert!(body.ends_with("line 999 — ünïcode 世界\nend"));
    assert_same(&ws, id, &ed);
    assert_eq!(ed.caret(), (1001, 0), "caret after the pasted text");
    assert!(ed.undo(&ws).expect("undo"));
    assert_eq!(ws.body(id).expect("body"), "start\nend");
    assert_same(&ws, id, &ed);
}

#[test]
fn undo_and_redo_go_word_by_word() {
    let (ws, id, mut ed) = setup("");
    typ(&mut ed, &ws, "one two three");
    assert!(ed.undo(&ws).expect("undo"));
    assert_eq!(ws.body(id).expect("body"), "one two ");
    assert_same(&ws, id, &ed);
    assert!(ed.undo(&ws).expect("undo"));
    assert_eq!(ws.body(id).expect("body"), "one ");
    assert_eq!(ed.caret(), (0, 4), "caret where the undone text was");
    assert!(ed.redo(&ws).expect("redo"));
    assert_eq!(ws.body(id).expect("body"), "one two ");
    assert_same(&ws, id, &ed);
    typ(&mut ed, &ws, "2");
    assert!(!ed.redo(&ws).expect("redo"), "new typing clears redo");
    press(&mut ed, &ws, KeyCode::Backspace, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Backspace, KeyModifiers::NONE);
    assert_eq!(ws.body(id).expect("body"), "one two");
    assert!(ed.undo(&ws).expect("undo the deletes"));
    assert_eq!(ws.body(id).expect("body"), "one two 2");
    assert_same(&ws, id, &ed);
}

#[test]
fn undo_only_reverts_local_changes() {
    let (ws, id, mut ed) = setup("base");
    let bob = peer(&ws);
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::NONE);
    typ(&mut ed, &ws, "MINE");
    send(&ws, &bob);
    bob.text(id)
        .expect("text")
        .insert(0, "BOB ")
        .expect("insert");
    bob.commit();
    ed.anchor_caret();
    send(&bob, &ws);
    assert!(ed.sync(&ws).expect("sync"));
    assert_eq!(ws.body(id).expect("body"), "BOB baseMINE");
    assert!(ed.undo(&ws).expect("undo"));
    assert_eq!(ws.body(id).expect("body"), "BOB base");
    assert_same(&ws, id, &ed);
}

#[test]
fn remote_insert_before_the_caret_keeps_the_caret_on_its_character() {
    let (ws, id, mut ed) = setup("first line\nsecond line\nthird");
    let bob = peer(&ws);
    ed.set_caret_offset("first line\nsecond ".chars().count()); // on the "l" of "line"
    assert_eq!(ed.caret(), (1, 7));
    bob.text(id)
        .expect("text")
        .insert(0, "Inserted by Bob 😀\nand a second line\n")
        .expect("insert");
    bob.commit();
    ed.anchor_caret();
    send(&bob, &ws);
    assert!(ed.sync(&ws).expect("sync"));
    assert_same(&ws, id, &ed);
    assert_eq!(ed.caret(), (3, 7), "two lines were added above");
    // Typing continues where the user was.
    typ(&mut ed, &ws, "X");
    assert!(ws.body(id).expect("body").contains("second Xline"));
    // An insert earlier on the caret's own line moves it right.
    send(&ws, &bob);
    let text = bob.body(id).expect("body");
    let pos = text.find("second X").map(|b| text[..b].chars().count());
    bob.text(id)
        .expect("text")
        .insert(pos.expect("found"), "très ")
        .expect("insert");
    bob.commit();
    ed.anchor_caret();
    send(&bob, &ws);
    ed.sync(&ws).expect("sync");
    assert_same(&ws, id, &ed);
    assert_eq!(ed.caret(), (3, 13));
}

#[test]
fn remote_delete_around_the_caret() {
    let (ws, id, mut ed) = setup("abcdef");
    let bob = peer(&ws);
    ed.set_caret_offset(4); // before "e"
    bob.text(id).expect("text").delete(1, 2).expect("delete"); // "bc"
    bob.commit();
    ed.anchor_caret();
    send(&bob, &ws);
    ed.sync(&ws).expect("sync");
    assert_eq!(ws.body(id).expect("body"), "adef");
    assert_eq!(ed.caret(), (0, 2), "still before the e");
    assert_same(&ws, id, &ed);
}

#[test]
fn control_characters_from_a_peer_are_shown_but_positions_line_up() {
    let (ws, id, mut ed) = setup("ok");
    let bob = peer(&ws);
    bob.text(id)
        .expect("text")
        .insert(0, "\u{1b}[31m\u{202e}")
        .expect("insert");
    bob.commit();
    ed.anchor_caret();
    send(&bob, &ws);
    ed.sync(&ws).expect("sync");
    assert_eq!(
        ed.text(),
        "\u{241b}[31m\u{fffd}ok",
        "shown as visible symbols"
    );
    assert!(!ed.text().chars().any(|c| c.is_control()));
    ed.set_caret_offset(ed.len_chars());
    typ(&mut ed, &ws, "!");
    assert_eq!(ws.body(id).expect("body"), "\u{1b}[31m\u{202e}ok!");
}

#[test]
fn a_doc_without_a_body_gets_one_on_the_first_key() {
    let (ws, id, mut ed) = setup("");
    assert_eq!(ws.body(id).expect("body"), "");
    typ(&mut ed, &ws, "x");
    assert_eq!(ws.body(id).expect("body"), "x");
}

#[test]
fn a_card_description_is_edited_the_same_way() {
    let ws = Workspace::create("t", "local", Clock::Fixed(T0)).expect("workspace");
    let board = ws.create_board("B", &["Col"]).expect("board");
    let col = ws.board(board, false).expect("board").columns[0].id;
    let fields = weft::model::CardFields {
        title: "Card".into(),
        ..Default::default()
    };
    let card = ws.add_card(col, &fields, "desc").expect("card");
    let mut ed = DocEditor::open(&ws, card).expect("editor");
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::NONE);
    typ(&mut ed, &ws, "ription ✓");
    assert_eq!(ws.body(card).expect("body"), "description ✓");
    assert!(DocEditor::open(&ws, board).is_err(), "a board has no text");
}

#[test]
fn ctrl_end_goes_to_the_end_of_the_text_and_ctrl_home_to_its_start() {
    let (ws, id, mut ed) = setup("first line\nsecond line\nlast, and longer than the others");
    // From the middle of a short line: ctrl-End is the end of the document, not the start (or
    // the same column) of its last line.
    press(&mut ed, &ws, KeyCode::Down, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Right, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::CONTROL);
    assert_eq!(ed.caret(), (2, 32));
    assert_eq!(ed.caret_offset(), ed.len_chars());
    typ(&mut ed, &ws, "!");
    assert!(ws.body(id).expect("body").ends_with("others!"));
    // ctrl-Home is the very start, whatever column the caret was in.
    press(&mut ed, &ws, KeyCode::Home, KeyModifiers::CONTROL);
    assert_eq!(ed.caret(), (0, 0));
    typ(&mut ed, &ws, ">");
    assert!(ws.body(id).expect("body").starts_with(">first"));
    // With shift it selects to the end; typing replaces the selection.
    press(
        &mut ed,
        &ws,
        KeyCode::End,
        KeyModifiers::CONTROL | KeyModifiers::SHIFT,
    );
    typ(&mut ed, &ws, "x");
    assert_eq!(ws.body(id).expect("body"), ">x");
    assert_same(&ws, id, &ed);
}

#[test]
fn ctrl_end_on_a_last_line_with_a_tab_and_wide_characters() {
    let (ws, id, mut ed) = setup("a\n\tb世界😀");
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::CONTROL);
    assert_eq!(ed.caret(), (1, 5));
    typ(&mut ed, &ws, "z");
    assert_eq!(ws.body(id).expect("body"), "a\n\tb世界😀z");
    assert_same(&ws, id, &ed);
}

/// Draw the editor into a `w`×`h` buffer (what the doc screen does each frame).
fn render(ed: &DocEditor, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let area = ratatui::layout::Rect::new(0, 0, w, h);
    let mut buf = ratatui::buffer::Buffer::empty(area);
    ed.render(area, &mut buf);
    buf
}

/// Each row's text as drawn (a wide character once, not with the cell it covers).
fn rows_of(buf: &ratatui::buffer::Buffer) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    (0..buf.area.height)
        .map(|y| {
            let mut row = String::new();
            let mut x = 0;
            while x < buf.area.width {
                let sym = buf[(x, y)].symbol();
                row.push_str(sym);
                x += sym.width().max(1) as u16;
            }
            row.trim_end().to_string()
        })
        .collect()
}

#[test]
fn long_lines_wrap_at_spaces_by_display_width() {
    let (_ws, _id, ed) = setup("one two three four five six\n世界世界世界 ab\nend");
    let buf = render(&ed, 10, 8);
    assert_eq!(
        rows_of(&buf),
        [
            "one two",
            "three",
            "four five",
            "six",
            "世界世界世",
            "界 ab",
            "end",
            ""
        ]
    );
    assert_eq!(ed.cell_of(0, 8), Some((0, 1)), "the t of three");
    assert_eq!(
        ed.cell_of(1, 5),
        Some((0, 5)),
        "the second row of the CJK line"
    );
    assert_eq!(ed.cell_of(1, 4), Some((8, 4)));
}

#[test]
fn up_and_down_go_by_screen_row_and_keep_the_goal_column() {
    let (ws, _id, mut ed) = setup("abcdefghijklmnopqrstuvwxyz\nxy\nabcdefghijklmnopqrstuvwxyz");
    render(&ed, 10, 10);
    press(&mut ed, &ws, KeyCode::Right, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Right, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Right, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Right, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (0, 4));
    // Down twice: the next two rows of the same line, column 4 on each.
    press(&mut ed, &ws, KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (0, 14));
    press(&mut ed, &ws, KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (0, 24));
    // Through a short line (its end) and on: the goal column comes back.
    press(&mut ed, &ws, KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (1, 2));
    press(&mut ed, &ws, KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (2, 4));
    press(&mut ed, &ws, KeyCode::Up, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (0, 24));
    // Any other key ends the run: the next goal is where the caret is then.
    press(&mut ed, &ws, KeyCode::Left, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (0, 13));
    // Nothing above the first row: up stays.
    press(&mut ed, &ws, KeyCode::Up, KeyModifiers::NONE);
    press(&mut ed, &ws, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(ed.caret(), (0, 3));
    // Shift selects across the wrap; typing replaces it.
    press(&mut ed, &ws, KeyCode::Down, KeyModifiers::SHIFT);
    typ(&mut ed, &ws, "_");
    assert_eq!(
        ws.body(_id).expect("body"),
        "abc_nopqrstuvwxyz\nxy\nabcdefghijklmnopqrstuvwxyz"
    );
    assert_same(&ws, _id, &ed);
}

#[test]
fn the_view_scrolls_by_rows_to_keep_the_caret_in_sight() {
    let long: String = (0..40).map(|i| format!("w{i:02} ")).collect();
    let (ws, id, mut ed) = setup(&format!("top\n{}", long.trim_end()));
    render(&ed, 8, 3);
    press(&mut ed, &ws, KeyCode::End, KeyModifiers::CONTROL);
    let buf = render(&ed, 8, 3);
    // 40 words, two per row: the last rows show, the line's start is scrolled up (not sideways).
    assert_eq!(rows_of(&buf), ["w34 w35", "w36 w37", "w38 w39"]);
    assert_eq!(ed.cell_of(1, long.trim_end().chars().count()), Some((7, 2)));
    // Typing at the end keeps the caret in view on every frame, at the end of what was typed.
    for c in "xyzxyzxyzxyz".chars() {
        typ(&mut ed, &ws, &c.to_string());
        render(&ed, 8, 3);
        let (row, col) = ed.caret();
        let (x, y) = ed.cell_of(row, col).expect("caret in view");
        assert!(x < 8 && y < 3);
    }
    assert_eq!(rows_of(&render(&ed, 8, 3)), ["w38", "w39xyzxy", "zxyzxyz"]);
    // Page up: a screen of rows up; the caret keeps its column.
    press(&mut ed, &ws, KeyCode::PageUp, KeyModifiers::NONE);
    let buf = render(&ed, 8, 3);
    let (row, col) = ed.caret();
    assert_eq!(ed.cell_of(row, col).map(|(x, _)| x), Some(7));
    assert_eq!(rows_of(&buf).len(), 3);
    // ctrl-Home: the view goes back to the first row.
    press(&mut ed, &ws, KeyCode::Home, KeyModifiers::CONTROL);
    assert_eq!(rows_of(&render(&ed, 8, 3))[0], "top");
    assert_same(&ws, id, &ed);
}
