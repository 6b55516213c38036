//! The event loop: one `tokio::select!` over signals, terminal input and timers. Every message goes
//! through `update`; the effects it returns are carried out here. Input that is already waiting is
//! drained before drawing, and a frame is drawn only when something changed, at most once per
//! [`FRAME`], inside a synchronized update.
//!
//! Store writes. A write after one keystroke was measured (SQLCipher, as weft opens workspaces) at
//! about 0.14 ms on a small doc, and about 13 ms on a 10,000-line doc after a burst of typing,
//! because the search index re-reads and re-tokenises the whole changed body (see BENCHMARKS.md).
//! That is not "well under a millisecond", so local changes are batched: the first edit after a
//! write schedules the next one [`FLUSH_AFTER`] later (at most one write per 50 ms while typing),
//! or ten times the last write's duration when that is longer, so writing never takes more than
//! about a tenth of the UI task's time (on the 10,000-line doc: one 13 ms write per ~130 ms).
//! Everything is written before quitting, suspending or exiting on a signal. A crash loses at most
//! that interval of typing (never more than a second); a failed write leaves the changes queued for
//! the next. Writes and the refresh tick go through `Replica::sync_local`, which imports other
//! processes' commits and then writes ours without losing our edits' search-index marks.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::time::{sleep_until, Instant};

use super::app::App;
use super::msg::{Effect, Msg};
use super::terminal::TerminalGuard;
use super::view::view;

/// Shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(8);
/// How often to look for changes other processes committed to the workspace.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// How long local changes may wait before they are written to the store.
pub const FLUSH_AFTER: Duration = Duration::from_millis(50);
/// The longest local changes wait, however slow writing is.
pub const MAX_FLUSH_AFTER: Duration = Duration::from_secs(1);

fn to_msg(event: crossterm::event::Event) -> Option<Msg> {
    use crossterm::event::Event;
    match event {
        Event::Key(k) => Some(Msg::Key(k)),
        Event::Paste(s) => Some(Msg::Paste(s)),
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        Event::FocusGained | Event::FocusLost => None,
    }
}

/// Run the app in the terminal until it quits. The store is flushed before returning, also on error.
pub async fn run(app: &mut App, term: &mut TerminalGuard) -> anyhow::Result<()> {
    let result = event_loop(app, term).await;
    app.update(Msg::Flush);
    if app.has_unsaved() {
        // One more try; if it fails the error says what was not written.
        app.replica_mut().flush()?;
    }
    result
}

async fn event_loop(app: &mut App, term: &mut TerminalGuard) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigcont = signal(SignalKind::from_raw(libc::SIGCONT))?;
    let mut events = crossterm::event::EventStream::new();
    let mut refresh = tokio::time::interval(REFRESH_EVERY);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut flush_at: Option<Instant> = None;
    let mut last_write = Duration::ZERO;
    let mut last_draw: Option<Instant> = None;
    let (w, h) = term.size()?;
    app.update(Msg::Resize(w, h));
    let mut dirty = true;
    let wakeup = app.wakeup();
    loop {
        let now = Instant::now();
        let frame_due = last_draw.map(|t| t + FRAME).unwrap_or(now);
        if dirty && now >= frame_due {
            term.draw(|f| view(app, f))?;
            last_draw = Some(now);
            dirty = false;
        }
        let far = now + Duration::from_secs(3600);
        let msg = tokio::select! {
            biased;
            _ = sigterm.recv() => Some(Msg::Terminate),
            _ = sighup.recv() => Some(Msg::Terminate),
            _ = sigcont.recv() => {
                term.resume()?;
                Some(Msg::Resumed)
            }
            ev = events.next() => match ev {
                Some(Ok(e)) => to_msg(e),
                Some(Err(e)) => return Err(e.into()),
                None => Some(Msg::Terminate),
            },
            _ = sleep_until(flush_at.unwrap_or(far)), if flush_at.is_some() => {
                flush_at = None;
                Some(Msg::Flush)
            }
            _ = sleep_until(frame_due), if dirty => None,
            _ = refresh.tick() => Some(Msg::Refresh),
            _ = wakeup.notified() => Some(Msg::Refresh),
        };
        let Some(msg) = msg else { continue };
        let writing = matches!(msg, Msg::Flush);
        let started = Instant::now();
        let mut effects = app.update(msg);
        if writing {
            last_write = started.elapsed();
        }
        // Coalesce: handle input that is already waiting before drawing again.
        while let Some(Some(Ok(e))) = events.next().now_or_never() {
            if let Some(m) = to_msg(e) {
                effects.extend(app.update(m));
            }
        }
        for effect in effects {
            match effect {
                Effect::Quit => {}
                Effect::ScheduleFlush => {
                    flush_at.get_or_insert(
                        Instant::now() + FLUSH_AFTER.max(last_write * 10).min(MAX_FLUSH_AFTER),
                    );
                }
                Effect::Suspend => {
                    app.update(Msg::Flush);
                    term.suspend()?;
                    app.update(Msg::Resumed);
                }
                Effect::ClearScreen => term.clear()?,
                Effect::Copy(text) => match term.copy(&text) {
                    Ok(true) => {}
                    Ok(false) => {
                        app.notice("too long to copy through the terminal (OSC 52 limit)", true)
                    }
                    Err(e) => app.notice(&format!("could not copy: {e}"), true),
                },
            }
        }
        dirty |= app.take_dirty();
        if app.should_quit() {
            return Ok(());
        }
    }
}
