//! For a process that stays open (the terminal UI) while others write to the same home: write local
//! changes and pick up everyone else's without losing track of either.
//!
//! [`Replica::refresh`] clears the set of items the search index still has to re-read once it has
//! imported other processes' changes (they indexed those themselves), and that set also holds this
//! process's own edits that have not been flushed yet: a refresh between a local edit and its flush
//! left the edit out of the index. [`Replica::sync_local`] keeps those marks across the refresh.

use super::{Replica, StoreError};

impl Replica {
    /// Import what other processes committed, then write this process's local changes and update
    /// the search index for them. Returns whether other processes' changes arrived. On error the
    /// local changes stay queued, as with `flush`.
    pub fn sync_local(&mut self) -> Result<bool, StoreError> {
        let local = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        let arrived = self.refresh();
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .merge(local);
        let arrived = arrived?;
        self.flush()?;
        Ok(arrived)
    }
}
