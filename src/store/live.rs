//! For a process that stays open (the terminal UI) while others write to the same home: pick up
//! everyone else's changes, then write this process's own.

use super::{Replica, StoreError};

impl Replica {
    /// Import what other processes committed, then write this process's local changes and update
    /// the search index for them. Returns whether other processes' changes arrived. On error the
    /// local changes stay queued, as with `flush` (a refresh keeps the index marks of unflushed
    /// local edits, so the order cannot lose them).
    pub fn sync_local(&mut self) -> Result<bool, StoreError> {
        let arrived = self.refresh()?;
        self.flush()?;
        Ok(arrived)
    }
}
