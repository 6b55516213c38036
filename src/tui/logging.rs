//! Logs go to `weft.log` in the state dir, never to the screen the app is drawing on. The level comes
//! from `WEFT_LOG` (e.g. `WEFT_LOG=debug`, or a filter like `weft=trace`); the default is `warn,weft=info` (weft at info, its libraries at warn).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;

/// File name of the log in the state dir.
pub const LOG_FILE: &str = "weft.log";

/// Start logging to the state dir. Keep the guard alive while logging; dropping it flushes the file.
/// Returns `None` (and logs nothing) if the log cannot be opened or logging is already set up: a
/// missing log never stops the app.
pub fn init(state_dir: &Path) -> Option<WorkerGuard> {
    std::fs::create_dir_all(state_dir).ok()?;
    let file = RollingFileAppender::builder()
        .rotation(Rotation::NEVER)
        .filename_prefix(LOG_FILE)
        .build(state_dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter =
        EnvFilter::try_from_env("WEFT_LOG").unwrap_or_else(|_| EnvFilter::new("warn,weft=info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
