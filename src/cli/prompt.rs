//! Asking for a secret on the terminal without echoing it: works over SSH, where no GUI prompt can.

use std::io::{IsTerminal, Write};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal;

/// Read one line from the terminal without showing it. Fails when stdin is not a terminal.
pub fn hidden(label: &str) -> std::io::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(std::io::Error::other("not a terminal"));
    }
    let mut err = std::io::stderr();
    write!(err, "{label}")?;
    err.flush()?;
    terminal::enable_raw_mode()?;
    let result = read_line();
    let _ = terminal::disable_raw_mode();
    writeln!(err)?;
    result
}

fn read_line() -> std::io::Result<String> {
    let mut line = String::new();
    loop {
        if let Event::Key(KeyEvent {
            code,
            modifiers,
            kind,
            ..
        }) = event::read()?
        {
            if kind == KeyEventKind::Release {
                continue;
            }
            match code {
                KeyCode::Enter => return Ok(line),
                KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => {
                    return Err(std::io::Error::other("cancelled"));
                }
                KeyCode::Char(c) => line.push(c),
                KeyCode::Backspace => {
                    line.pop();
                }
                KeyCode::Esc => return Err(std::io::Error::other("cancelled")),
                _ => {}
            }
        }
    }
}

/// Ask twice for a new passphrase; they must match.
pub fn new_passphrase() -> std::io::Result<String> {
    if let Ok(p) = std::env::var("WEFT_NEW_PASSPHRASE") {
        return Ok(p);
    }
    let a = hidden("new passphrase: ")?;
    let b = hidden("again: ")?;
    if a != b {
        return Err(std::io::Error::other("the two passphrases differ"));
    }
    Ok(a)
}
