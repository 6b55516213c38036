//! Syncing in the background while the terminal UI runs: a thread with its own connection to the
//! workspace's database runs bucket rounds, so the UI never waits on the network. What it brings
//! down the UI picks up like another process's commits; what the UI writes it uploads when poked
//! (after each local write) or on its timer.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::share::BucketSync;
use crate::store::{Replica, SharedTable};

/// How often the worker looks at the bucket when nothing pokes it.
pub const ROUND_EVERY: Duration = Duration::from_secs(3);
/// The longest wait between rounds after failures (it backs off while the bucket is unreachable).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where bucket sync stands, for the status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// When the last round finished without error.
    pub last_ok: Option<SystemTime>,
    /// Why the last round failed, if it did.
    pub error: Option<String>,
    /// Local changes not in the bucket yet.
    pub pending: usize,
    /// A round is running.
    pub busy: bool,
    /// The worker has stopped (it could not open the workspace or the bucket).
    pub stopped: bool,
    /// Lost or damaged objects in the bucket waiting for a member who holds their changes
    /// (`weft doctor` names them).
    pub damaged: usize,
}

/// The running worker. Dropping it stops the thread after its current round.
pub struct SyncWorker {
    status: Arc<Mutex<SyncStatus>>,
    poke: mpsc::Sender<()>,
    label: String,
}

impl SyncWorker {
    /// Start syncing: `open` opens the worker's own replica of the workspace (on its thread),
    /// `url` is the bucket.
    pub fn spawn<F>(open: F, url: String) -> SyncWorker
    where
        F: FnOnce() -> anyhow::Result<Replica> + Send + 'static,
    {
        let fixed = url.clone();
        Self::following(open, url, Box::new(move |_| Some(fixed.clone())))
    }

    /// Like [`spawn`](Self::spawn), but before each round `bucket_of` says where the workspace
    /// lives now (an admin may move it), and the worker follows; `None` (it could not tell)
    /// keeps the bucket it has.
    pub fn following<F>(open: F, url: String, bucket_of: BucketOf) -> SyncWorker
    where
        F: FnOnce() -> anyhow::Result<Replica> + Send + 'static,
    {
        let status = Arc::new(Mutex::new(SyncStatus::default()));
        let (poke, wake) = mpsc::channel();
        let shared = status.clone();
        let label = url.clone();
        let spawned = std::thread::Builder::new()
            .name("weft-sync".into())
            .spawn(move || run(open, bucket_of, wake, shared));
        if let Err(e) = spawned {
            let mut s = lock(&status);
            s.stopped = true;
            s.error = Some(format!("cannot start syncing: {e}"));
        }
        SyncWorker {
            status,
            poke,
            label,
        }
    }

    /// Ask for a round now (after a local write).
    pub fn poke(&self) {
        let _ = self.poke.send(());
    }

    /// Where sync stands.
    pub fn status(&self) -> SyncStatus {
        lock(&self.status).clone()
    }

    /// The bucket being synced with.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn lock(s: &Mutex<SyncStatus>) -> std::sync::MutexGuard<'_, SyncStatus> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a replica's workspace lives now, if that can be read.
pub type BucketOf = Box<dyn Fn(&Replica) -> Option<String> + Send>;

fn run<F>(open: F, bucket_of: BucketOf, wake: mpsc::Receiver<()>, status: Arc<Mutex<SyncStatus>>)
where
    F: FnOnce() -> anyhow::Result<Replica>,
{
    let fail = |why: String| {
        tracing::warn!(%why, "bucket sync stopped");
        let mut s = lock(&status);
        s.stopped = true;
        s.error = Some(why);
    };
    let mut replica = match open() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot open the workspace for syncing: {e:#}")),
    };
    let open_bucket = |url: &str, replica: &Replica| {
        super::bucket::Bucket::open(url)
            .map_err(super::share::SyncError::from)
            .and_then(|b| BucketSync::for_replica(b, replica))
    };
    let Some(mut url) = bucket_of(&replica) else {
        return fail("cannot tell where the workspace's bucket is".into());
    };
    let mut sync = match open_bucket(&url, &replica) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot open the bucket: {e}")),
    };
    let mut wait = Duration::ZERO;
    loop {
        match wake.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // An admin may have moved the workspace (the setting arrived with the last round).
        let now = bucket_of(&replica).unwrap_or_else(|| url.clone());
        if now != url {
            match open_bucket(&now, &replica) {
                Ok(s) => {
                    tracing::info!(bucket = %s.bucket().label(), "the workspace moved; following it");
                    sync = s;
                    url = now;
                }
                Err(e) => lock(&status).error = Some(format!("cannot open the new bucket: {e}")),
            }
        }
        // Several pokes while a round ran need only one more round.
        while wake.try_recv().is_ok() {}
        lock(&status).busy = true;
        let result = sync.round(&mut replica);
        let pending = pending_uploads(&replica);
        let damaged = super::share::open_problems(&replica)
            .map(|p| {
                p.iter()
                    .filter(|p| p.repair == super::share::Repair::Waiting)
                    .count()
            })
            .unwrap_or(0);
        let mut s = lock(&status);
        s.busy = false;
        s.pending = pending;
        s.damaged = damaged;
        match result {
            Ok(_) => {
                s.last_ok = Some(SystemTime::now());
                s.error = None;
                wait = ROUND_EVERY;
            }
            Err(e) => {
                tracing::info!(error = %e, "bucket sync round failed; will retry");
                s.error = Some(e.to_string());
                wait = (wait * 2).clamp(ROUND_EVERY, MAX_BACKOFF);
            }
        }
    }
}

/// Local envelopes the bucket does not have yet.
pub fn pending_uploads(replica: &Replica) -> usize {
    let mark = replica
        .sync_value("bucket.up.envelopes")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    replica
        .local_inputs(SharedTable::Envelopes, mark)
        .map(|rows| rows.len())
        .unwrap_or(0)
}
