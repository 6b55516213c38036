//! Where colour carries meaning, check the cells' styles: focus, selection, errors, an over-limit
//! column, the caret, Markdown emphasis. Also that meaning survives without colour (NO_COLOR) and that
//! every built-in theme and colour depth draws every screen.

mod tui_support;

use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use tui_support::*;
use weft::tui::theme::Slot;
use weft::tui::{ColorMode, Command, Keymap, Msg, Target, Theme};

fn cell_at(buf: &Buffer, needle: &str) -> ratatui::buffer::Cell {
    let (x, y) =
        find(buf, needle).unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", screen(buf)));
    buf[(x, y)].clone()
}

#[test]
fn the_focused_pane_is_thick_and_in_the_focus_colour() {
    let s = Sample::new();
    let mut app = s.app();
    let theme = dark();
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    // The sidebar has focus at start.
    assert_eq!(buf[(0, 0)].symbol(), "┏");
    assert_eq!(buf[(0, 0)].fg, theme.color(Slot::BorderFocus));
    assert!(buf[(0, 0)].modifier.contains(Modifier::BOLD));
    let main_x = find(buf, "┌ weft").map(|(x, _)| x).expect("main pane");
    assert_eq!(buf[(main_x, 0)].fg, theme.color(Slot::Border));
    // Tab moves focus to the main pane.
    app.update(Msg::Run(Command::FocusNext));
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    assert_eq!(buf[(0, 0)].symbol(), "┌");
    assert_eq!(buf[(main_x, 0)].symbol(), "┏");
    assert_eq!(buf[(main_x, 0)].fg, theme.color(Slot::BorderFocus));
}

#[test]
fn the_selected_row_uses_the_selection_style() {
    let s = Sample::new();
    let mut app = s.app();
    let theme = dark();
    let t = draw(&mut app, 80, 24);
    let selected = cell_at(t.backend().buffer(), "Welcome");
    assert_eq!(selected.bg, theme.color(Slot::SelectionBg));
    assert!(selected.modifier.contains(Modifier::BOLD));
    let other = cell_at(t.backend().buffer(), "Roadmap");
    assert_ne!(other.bg, theme.color(Slot::SelectionBg));
    app.update(ch('j'));
    let t = draw(&mut app, 80, 24);
    assert_eq!(
        cell_at(t.backend().buffer(), "Team notes").bg,
        theme.color(Slot::SelectionBg)
    );
}

#[test]
fn errors_in_the_status_bar_are_red_and_bold() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    app.update(ch('D'));
    app.update(ctrl('u'));
    type_text(&mut app, "soon");
    app.update(key(KeyCode::Enter));
    let theme = dark();
    let t = draw(&mut app, 80, 24);
    let err = cell_at(t.backend().buffer(), "invalid due date");
    assert_eq!(err.fg, theme.color(Slot::Error));
    assert!(err.modifier.contains(Modifier::BOLD));
    // Esc gives up; an error from an action shows in the status bar the same way.
    app.update(key(KeyCode::Esc));
    app.open(Target::Board(s.ids.board));
    app.update(ch('w'));
    type_text(&mut app, "x");
    app.update(key(KeyCode::Enter));
    let t = draw(&mut app, 80, 24);
    let err = cell_at(t.backend().buffer(), "is not a number");
    assert_eq!(err.fg, theme.color(Slot::Error));
}

#[test]
fn a_column_over_its_wip_limit_is_marked_without_relying_on_colour() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    let theme = dark();
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let over = cell_at(buf, "3/2 !");
    assert_eq!(over.fg, theme.color(Slot::Error));
    assert!(over.modifier.contains(Modifier::BOLD));
    let fine = cell_at(buf, "3/5");
    assert_ne!(fine.fg, theme.color(Slot::Error));
    assert!(find(buf, "3/5 !").is_none());
}

#[test]
fn the_caret_is_reversed_in_the_editor() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    app.update(key(KeyCode::End));
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "relay.").expect("text");
    let caret = &buf[(x + 6, y)];
    assert!(caret.modifier.contains(Modifier::REVERSED), "{caret:?}");
    assert!(!buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn markdown_headings_and_code_are_styled_in_view_mode() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    let theme = dark();
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let heading = cell_at(buf, "Getting around");
    assert_eq!(heading.fg, theme.color(Slot::Heading));
    assert!(heading.modifier.contains(Modifier::BOLD));
    assert_eq!(cell_at(buf, "fn main").fg, theme.color(Slot::Code));
    assert!(cell_at(buf, "documents").modifier.contains(Modifier::BOLD));
    let link = cell_at(buf, "guide]");
    assert!(link.modifier.contains(Modifier::UNDERLINED));
    assert_eq!(link.fg, theme.color(Slot::Link));
}

#[test]
fn no_color_draws_no_colour_but_keeps_focus_and_selection_visible() {
    let s = Sample::new();
    let theme = Theme::builtin("dark", ColorMode::NoColor).expect("theme");
    let mut app = s.app_with(theme, Keymap::defaults(), Vec::new());
    for target in [
        Target::Board(s.ids.board),
        Target::Doc(s.ids.welcome),
        Target::Trash,
    ] {
        app.open(target);
        let t = draw(&mut app, 120, 40);
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "{cell:?}"
            );
        }
    }
    app.update(Msg::Run(Command::FocusNext));
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    let sel = cell_at(buf, "Trash (");
    assert!(
        sel.modifier.contains(Modifier::REVERSED),
        "selection shows as reverse video"
    );
    assert_eq!(buf[(0, 0)].symbol(), "┏", "focus shows as a thick border");
}

#[test]
fn every_theme_and_colour_depth_draws_every_screen() {
    let s = Sample::new();
    for (name, _) in weft::tui::theme::BUILTIN {
        for mode in [
            ColorMode::TrueColor,
            ColorMode::Ansi256,
            ColorMode::Ansi16,
            ColorMode::NoColor,
        ] {
            let theme = Theme::builtin(name, mode).expect("theme");
            let mut app = s.app_with(theme.clone(), Keymap::defaults(), Vec::new());
            for target in [
                Target::Doc(s.ids.welcome),
                Target::Board(s.ids.board),
                Target::Card(s.ids.invite),
                Target::Trash,
                Target::History(s.ids.welcome),
            ] {
                app.open(target);
                let t = draw(&mut app, 80, 24);
                let buf = t.backend().buffer();
                for cell in buf.content() {
                    match mode {
                        ColorMode::Ansi16 | ColorMode::NoColor => assert!(
                            !matches!(cell.fg, Color::Rgb(..) | Color::Indexed(_)),
                            "{name} {mode:?}: {:?}",
                            cell.fg
                        ),
                        ColorMode::Ansi256 => assert!(!matches!(cell.fg, Color::Rgb(..))),
                        ColorMode::TrueColor => {}
                    }
                }
            }
        }
    }
}
