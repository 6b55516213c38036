//! Edit mode wraps as view mode does: long lines soft-wrap at the pane's width by display width
//! (CJK and emoji two columns), at spaces where possible. Nothing scrolls sideways: the caret, the
//! selection, teammates' carets and comment markers are on the wrapped rows that show their
//! characters, up and down move by screen row, and the view scrolls by rows to keep the caret in
//! sight. Pinned at 80×24 and 40×12.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use tui_support::*;
use unicode_width::UnicodeWidthStr;
use weft::model::ItemId;
use weft::sync::live::Peer;
use weft::tui::theme::Slot;
use weft::tui::{App, Msg, Target};

const ANA: &str = "0xa11ce0000000000000000000000000000000a11c";

const PARAGRAPH: &str = "Soft wrapping keeps a long paragraph readable while it is \
edited: every word stays on screen, the caret follows the rows, and nothing scrolls sideways \
when a line grows longer than the pane is wide.";

const WIDE: &str = "世界の言葉 😀 emoji and 漢字 count two columns each 🎉🎉 so rows break early.";

/// The roadmap doc with a short line, the long paragraph, a CJK and emoji line, and a short tail.
fn body() -> String {
    format!("Short first line.\n{PARAGRAPH}\n{WIDE}\nThe end.")
}

fn setup(s: &Sample) -> App {
    let mut other = s.other_process("script");
    other
        .workspace()
        .set_body(s.ids.roadmap, &body())
        .expect("body");
    other.flush().expect("flush");
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    assert!(app.is_editing());
    app
}

fn shift(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::SHIFT))
}

/// Snapshot at 80×24 and 40×12; the buffers, in that order.
fn snap(name: &str, app: &mut App) -> Vec<Buffer> {
    [(80, 24), (40, 12)]
        .into_iter()
        .map(|(w, h)| {
            let t = draw(app, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
            t.backend().buffer().clone()
        })
        .collect()
}

/// Row `y` as drawn: each character once (a wide one without the cell it covers), with its column.
fn cells(buf: &Buffer, y: u16) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    let mut x = 0;
    while x < buf.area.width {
        let sym = buf[(x, y)].symbol();
        out.push((x, sym.to_string()));
        x += sym.width().max(1) as u16;
    }
    out
}

/// Where `needle` first appears on screen (wide characters counted once), as (x, y).
fn find_text(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let cs = cells(buf, y);
        let row: String = cs.iter().map(|(_, s)| s.as_str()).collect();
        if let Some(byte) = row.find(needle) {
            let mut acc = 0;
            for (x, s) in &cs {
                if acc == byte {
                    return Some((*x, y));
                }
                acc += s.len();
            }
        }
    }
    None
}

/// The cells drawn in the caret's style (the local caret).
fn caret_cells(buf: &Buffer) -> Vec<(u16, u16)> {
    let fg = dark().color(Slot::Caret);
    let mut out = Vec::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            if c.fg == fg && c.modifier.contains(Modifier::REVERSED) {
                out.push((x, y));
            }
        }
    }
    out
}

/// The editor's text column range on screen: from the first cell of `first` to the pane's
/// right border.
fn text_rows(buf: &Buffer, first: &str) -> (u16, u16, u16) {
    let (x, y) = find(buf, first).expect("first row of the text");
    let right = (x..buf.area.width)
        .find(|&bx| buf[(bx, y)].symbol() == "┃")
        .expect("right border");
    (x, y, right)
}

/// The text shown on rows `y0..y1` between columns `x0..x1`, each row trimmed at its end and
/// joined as the wrapped rows of one line are (no separator).
fn joined(buf: &Buffer, x0: u16, x1: u16, y0: u16, y1: u16) -> String {
    (y0..y1)
        .map(|y| {
            (x0..x1)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_long_paragraph_wraps_with_the_caret_at_a_rows_end() {
    let s = Sample::new();
    let mut app = setup(&s);
    // To the end of the paragraph: the last character of the line.
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::End));
    let bufs = snap("edit_wrapped_caret_at_end", &mut app);
    for buf in &bufs {
        // The short line above is still there: nothing scrolled sideways.
        assert!(find(buf, "Short first line.").is_some(), "{}", screen(buf));
        // Every word of the paragraph is on screen, in order, on consecutive rows.
        let (x0, y0, right) = text_rows(buf, "Soft wrapping");
        let (_, wide_row) = find_text(buf, "世界").expect("CJK row");
        let shown = joined(buf, x0, right, y0, wide_row);
        let words: Vec<&str> = PARAGRAPH.split_whitespace().collect();
        assert_eq!(shown.split_whitespace().collect::<Vec<_>>(), words);
        // The caret is one cell, right after "wide." on the paragraph's last row.
        let carets = caret_cells(buf);
        assert_eq!(carets.len(), 1, "{carets:?}");
        let (cx, cy) = carets[0];
        assert_eq!(cy, wide_row - 1);
        let before: String = (cx - 5..cx).map(|x| buf[(x, cy)].symbol()).collect();
        assert_eq!(before, "wide.");
    }
}

#[test]
fn wide_characters_take_two_columns_and_never_straddle_the_edge() {
    let s = Sample::new();
    let mut app = setup(&s);
    // The caret at the end of the CJK line.
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::End));
    let bufs = snap("edit_wrapped_cjk_emoji", &mut app);
    for buf in &bufs {
        let (x0, y0) = find_text(buf, "世界の言葉").expect("the CJK line");
        let right = (x0..buf.area.width)
            .find(|&bx| buf[(bx, y0)].symbol() == "┃")
            .expect("right border");
        let y_end = find_text(buf, "early.").expect("its end").1 + 1;
        assert!(y_end - y0 >= 2, "the line wraps");
        // Rows joined back give the line's words (the breaks are at spaces or between wide
        // characters).
        let shown: String = (y0..y_end)
            .map(|y| {
                (x0..right)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<String>();
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(squeeze(&shown), squeeze(WIDE));
        // No wide character starts in the last column (its second half would be cut off).
        for y in y0..y_end {
            assert!(buf[(right - 1, y)].symbol().width() < 2);
        }
        // The caret is just after the last character.
        let (ex, ey) = find_text(buf, "early.").expect("end");
        assert_eq!(caret_cells(buf), [(ex + 6, ey)]);
    }
}

#[test]
fn a_selection_across_a_wrap_covers_both_rows() {
    let s = Sample::new();
    let mut app = setup(&s);
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Home));
    // Select from the paragraph's start to 70 characters in: past the first row at both sizes.
    for _ in 0..70 {
        app.update(shift(KeyCode::Right));
    }
    let bufs = snap("edit_wrapped_selection", &mut app);
    let sel = dark().selection();
    for buf in &bufs {
        let (x0, y0, right) = text_rows(buf, "Soft wrapping");
        let selected = |x: u16, y: u16| buf[(x, y)].bg == sel.bg.expect("selection colour");
        // The whole first row (up to its last word) and the start of the second are selected.
        assert!(selected(x0, y0) && selected(x0 + 3, y0));
        assert!(
            selected(x0, y0 + 1),
            "the selection continues on the next row"
        );
        let on_row2 = (x0..right).filter(|&x| selected(x, y0 + 1)).count();
        let on_row1 = (x0..right).filter(|&x| selected(x, y0)).count();
        assert_eq!(
            on_row1 + on_row2 + (x0..right).filter(|&x| selected(x, y0 + 2)).count(),
            70,
            "70 characters selected"
        );
    }
    // Typing replaces exactly the selection.
    type_text(&mut app, "X");
    let text = app.workspace().body(s.ids.roadmap).expect("body");
    let para: String = PARAGRAPH.chars().skip(70).collect();
    assert!(text.contains(&format!("\nX{para}\n")), "{text}");
}

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

#[test]
fn a_teammates_caret_on_a_wrapped_row_is_on_that_row() {
    let s = Sample::new();
    let mut app = setup(&s);
    // Ana on the "n" of "nothing scrolls", late in the paragraph (a wrapped row at both sizes).
    let start = "Short first line.\n".chars().count();
    let at = PARAGRAPH.find("nothing scrolls").expect("word");
    let ana = teammate(
        &app,
        ANA,
        s.ids.roadmap,
        start + PARAGRAPH[..at].chars().count(),
    );
    app.set_presence(vec![ana]);
    let bufs = snap("edit_wrapped_remote_caret", &mut app);
    for buf in &bufs {
        let (_, y0, _) = text_rows(buf, "Soft wrapping");
        let (x, y) = find(buf, "nothing").expect("the word in view");
        assert!(y > y0, "on a wrapped row, not the line's first");
        let n = &buf[(x, y)];
        assert_eq!(n.symbol(), "n");
        assert!(
            n.modifier.contains(Modifier::REVERSED),
            "her caret is on the n"
        );
        // Her name (at 80 columns; the 40-column pane is too narrow for it) flags the wrapped
        // row from the one beside it, never over her own row.
        if let Some((lx, ly)) = find(buf, "‸0xa11c") {
            assert_eq!(ly.abs_diff(y), 1, "the flag beside her row");
            assert_eq!(buf[(lx, ly)].fg, n.fg);
        }
        // The local caret is untouched at the start of the text.
        assert_eq!(caret_cells(buf).len(), 1);
    }
}

#[test]
fn up_and_down_move_by_screen_row_keeping_the_column() {
    let s = Sample::new();
    let mut app = setup(&s);
    app.update(key(KeyCode::Down));
    for _ in 0..10 {
        app.update(key(KeyCode::Right));
    }
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    let (x0, y0, _) = text_rows(&buf, "Soft wrapping");
    assert_eq!(caret_cells(&buf), [(x0 + 10, y0)]);
    // Down: the next screen row of the same line, same column.
    app.update(key(KeyCode::Down));
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    assert_eq!(caret_cells(&buf), [(x0 + 10, y0 + 1)]);
    let caret = app.editor().expect("editor").caret();
    assert_eq!(caret.0, 1, "still on the paragraph's line");
    // Down to the paragraph's last row, then on to the CJK line and back up: the column is kept
    // across rows of different lengths.
    let rows = find_text(&buf, "世界").expect("CJK line").1 - y0;
    for _ in 1..rows {
        app.update(key(KeyCode::Down));
    }
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    let (cx, cy) = caret_cells(&buf)[0];
    assert_eq!(cy, y0 + rows, "on the CJK line");
    assert!(
        cx.abs_diff(x0 + 10) <= 1,
        "under the same column (or a wide char's first half)"
    );
    for _ in 0..rows {
        app.update(key(KeyCode::Up));
    }
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    assert_eq!(caret_cells(&buf), [(x0 + 10, y0)], "back where it started");
    // Up once more: the short first line, whose column 10 exists.
    app.update(key(KeyCode::Up));
    assert_eq!(app.editor().expect("editor").caret(), (0, 10));
}

#[test]
fn typing_a_300_character_line_keeps_it_all_in_view_and_nothing_scrolls_sideways() {
    let s = Sample::new();
    let mut app = setup(&s);
    app.update(key(KeyCode::End));
    app.update(key(KeyCode::Enter));
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let mut line = String::new();
    let mut i = 0;
    while line.chars().count() < 300 {
        line.push_str(words[i % words.len()]);
        line.push(' ');
        i += 1;
    }
    let line = line.trim_end().to_string();
    for c in line.chars() {
        app.update(ch(c));
        if c == ' ' {
            // After every word: the caret is drawn inside the pane, after what was typed.
            let buf = draw(&mut app, 80, 24).backend().buffer().clone();
            let cells = caret_cells(&buf);
            assert_eq!(cells.len(), 1, "the caret is in view");
            assert!(
                find(&buf, "Short first line.").is_some(),
                "no sideways scroll"
            );
        }
    }
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    let (x0, y0, right) = text_rows(&buf, &line[..20]);
    let (_, y1) = caret_cells(&buf)[0];
    assert_eq!(
        joined(&buf, x0, right, y0, y1 + 1).trim_end(),
        line,
        "the whole line, wrapped"
    );
    assert!(y1 - y0 >= 5, "300 characters wrap over several rows");
    assert!(app
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .contains(&format!("Short first line.\n{line}\n")));
}

#[test]
fn a_teammates_caret_on_another_line_stays_visible_while_typing_a_long_line() {
    let s = Sample::new();
    let mut app = setup(&s);
    let ana = teammate(&app, ANA, s.ids.roadmap, 6); // the "f" of "first"
    app.set_presence(vec![ana]);
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::End));
    type_text(&mut app, &" and more".repeat(20));
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    let (x, y) = find(&buf, "first line").expect("the first line in view");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    let (_, ly) = find(&buf, "‸0xa11c…a11c").expect("her name flag in view");
    assert_eq!(ly.abs_diff(y), 1, "the flag beside her row");
    assert_eq!(caret_cells(&buf).len(), 1);
}

#[test]
fn comment_markers_stay_on_the_first_row_of_their_line_while_editing() {
    let s = Sample::new();
    let mut other = s.other_process("script");
    other
        .workspace()
        .set_body(s.ids.roadmap, &body())
        .expect("body");
    // A comment on the CJK line, after the long paragraph.
    let at = body().find(WIDE).expect("line");
    other
        .workspace()
        .add_comment(
            s.ids.roadmap,
            "Check the widths",
            Some(body()[..at].chars().count() + 3),
            None,
        )
        .expect("comment");
    other.flush().expect("flush");
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    let view = draw(&mut app, 80, 24).backend().buffer().clone();
    app.update(ch('i'));
    let buf = snap("edit_wrapped_comment_marker", &mut app)
        .into_iter()
        .next()
        .expect("80x24");
    let (x, y) = find_text(&buf, "世界の言葉").expect("the CJK line");
    assert_eq!(
        buf[(x - 1, y)].symbol(),
        "●",
        "marker on the line's first row"
    );
    let marks = (0..buf.area.height)
        .filter(|&r| (0..buf.area.width).any(|c| buf[(c, r)].symbol() == "●"))
        .count();
    assert_eq!(marks, 1, "only there");
    // Where view mode draws it: the text did not move when editing started.
    assert_eq!(find_text(&view, "世界の言葉"), Some((x, y)));
}

#[test]
fn a_card_description_wraps_while_it_is_edited() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    app.update(ch('e'));
    assert!(app.is_editing());
    app.update(Msg::Key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL)));
    app.update(key(KeyCode::Enter));
    let line: String = (1..=30)
        .map(|i| format!("c{i:02}"))
        .collect::<Vec<_>>()
        .join(" ");
    type_text(&mut app, &line);
    let buf = draw(&mut app, 80, 24).backend().buffer().clone();
    // The first description line is still in view, and the typed line is there whole, wrapped.
    assert!(
        find(&buf, "Send the join code").is_some(),
        "{}",
        screen(&buf)
    );
    let (x0, y0) = find(&buf, "c01 c02").expect("the typed line");
    let right = (x0..buf.area.width)
        .find(|&bx| buf[(bx, y0)].symbol() == "┃")
        .expect("right border");
    let (_, y1) = caret_cells(&buf)[0];
    assert!(y1 > y0, "the line wraps");
    assert_eq!(joined(&buf, x0, right, y0, y1 + 1).trim_end(), line);
    let body = app.workspace().body(s.ids.invite).expect("body");
    assert!(body.ends_with(&format!("\n{line}")), "{body}");
}
