//! What can happen to the app ([`Msg`]) and what the app asks the outside world to do ([`Effect`]).

use crossterm::event::{KeyEvent, MouseEvent};

use super::commands::Command;

/// Everything `update` reacts to.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    /// A mouse event (only when mouse support is turned on).
    Mouse(MouseEvent),
    /// The terminal is now this many columns and rows.
    Resize(u16, u16),
    /// Time to pick up what other processes committed to the workspace.
    Refresh,
    /// Time to write pending local changes to the store.
    Flush,
    /// The terminal was handed back after a suspend.
    Resumed,
    /// Asked to stop from outside (SIGTERM, SIGHUP).
    Terminate,
    /// Run a registered command, as the palette does.
    Run(Command),
}

/// Work `update` asks the event loop to do: everything that touches the terminal or a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Flush and leave.
    Quit,
    /// Give the terminal back to the shell (Ctrl-Z) until resumed.
    Suspend,
    /// Put text on the system clipboard with OSC 52.
    Copy(String),
    /// Local changes are waiting: send [`Msg::Flush`] soon.
    ScheduleFlush,
    /// Clear and redraw the whole screen.
    ClearScreen,
}
