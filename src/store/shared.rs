//! Shared workspaces: the store side of access control.
//!
//! A shared workspace has a membership log (its genesis first) and is changed only through signed
//! envelopes. The store keeps the raw inputs — every membership op and every envelope, local or
//! received, in arrival order — and the [`acl::Replica`] engine judges them. On open the engine
//! replays those inputs, so what is applied, pending or quarantined after a restart is exactly
//! what it was before, on every device. The document the UI edits is the engine's document (a
//! second handle on the same Loro doc); each flush seals the local edits into an envelope and
//! writes it in the same transaction as the search index.
//!
//! Several processes on one home share the rows: each reads what the others wrote before it
//! seals, inside the write lock, so one device never signs two envelopes with one sequence number.

use std::collections::BTreeMap;

use loro::LoroDoc;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{search, Replica, StoreError};
use crate::acl::{
    self, AclOp, DeviceIdentity, LocalError, MemberState, Outgoing, QuarantineEntry, Receipt,
    ReplicaConfig, Role,
};
use crate::identity::{Address, DeviceId};
use crate::model::{Clock, Workspace};

/// Origin of rows this device wrote.
pub const ORIGIN_LOCAL: &str = "local";
const ORIGIN_GENESIS: &str = "genesis";
/// Largest input kept (larger envelopes are refused by the engine anyway).
const MAX_INPUT: usize = 16 << 20;

/// The access-control engine of a shared workspace, with the rows it has read.
pub(super) struct Gate {
    pub(super) acl: acl::Replica,
    last_op_row: i64,
    last_env_row: i64,
    /// How many epoch keys the database holds (to write only when the engine learned more).
    saved_keys: usize,
    /// Leave the search index to [`Replica::index_now`] instead of updating it in every write
    /// (live paths: the change reaches the other side first).
    index_later: bool,
    /// Envelopes this process sealed since [`Replica::take_sealed`] was last called.
    sealed: Vec<Vec<u8>>,
    /// Whether the index is behind (marked in the database too).
    index_owed: bool,
    /// When the WAL was last checkpointed by `index_now` (while checkpoints are deferred).
    checkpointed: std::time::Instant,
    /// When `index_now` last ran.
    indexed: std::time::Instant,
    /// Envelope rows whose signature was checked on a read path, to record with the next write.
    to_check: Vec<i64>,
    /// Rows kept for a newer weft (counted once, when the first such input arrives).
    newer_kept: Option<i64>,
}

impl Gate {
    /// The engine of a database that holds `saved_keys` epoch keys, before any row is replayed.
    fn new(acl: acl::Replica, saved_keys: usize) -> Self {
        let now = std::time::Instant::now();
        Self {
            acl,
            last_op_row: 0,
            last_env_row: 0,
            saved_keys,
            index_later: false,
            sealed: Vec::new(),
            index_owed: false,
            checkpointed: now,
            indexed: now,
            to_check: Vec::new(),
            newer_kept: None,
        }
    }
}

/// Why a local change or membership action was not made.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(#[from] LocalError),
    #[error("the workspace could not be opened: {0}")]
    Engine(#[from] acl::ReplicaError),
    #[error("this workspace is not shared (it has no membership log)")]
    NotShared,
}

/// One row of the inputs a shared workspace keeps.
struct Input {
    row: i64,
    bytes: Vec<u8>,
    /// Whether this device has checked its signature before (envelopes only).
    checked: bool,
}

fn hash(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// How often a live process checkpoints the WAL itself (see `defer_index`).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The sync_state key saying the search index is behind the changes (see `defer_index`).
const INDEX_PENDING: &str = "index.pending";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Replica {
    /// Create a shared workspace owned by `me`'s wallet: its genesis, and the first change.
    pub fn create_shared(
        path: &std::path::Path,
        key: Option<&super::DbKey>,
        name: &str,
        me: DeviceIdentity,
        config: ReplicaConfig,
    ) -> Result<Self, ShareError> {
        if path.exists() {
            return Err(StoreError::Exists {
                name: name.to_string(),
                path: path.to_path_buf(),
            }
            .into());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let actor = me.address().to_checksum();
        let clock = config.clock;
        let (engine, founding) = acl::Replica::create(name, me, config, now())?;
        let conn = super::open_conn(path, true, key)?;
        let ws = Workspace::open_replica(engine.workspace().loro().clone(), &actor, clock);
        let mut replica = Self::assemble(conn, path, ws, 0)?;
        // The founding commit was made before the store subscribed: nothing to queue.
        replica.lock_unsaved().clear();
        let genesis = founding.genesis.encode();
        let rotation = founding.rotation.encode();
        let first = founding.first.encode();
        let sql = replica.sql_owned();
        let tx = replica.conn.transaction().map_err(&sql)?;
        insert_op(&tx, &genesis, ORIGIN_GENESIS).map_err(&sql)?;
        insert_op(&tx, &rotation, ORIGIN_LOCAL).map_err(&sql)?;
        insert_envelope(&tx, &first, ORIGIN_LOCAL).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        let address = engine.identity().address().to_checksum();
        replica.gate = Some(Gate::new(engine, 0));
        replica.set_sync_value("member.address", &address)?;
        // The key that seals what the carriers see (see `sync::seal`); members get it in join codes.
        let mut carrier = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut carrier);
        replica.set_sync_value("carrier.key", &hex::encode(carrier))?;
        replica.catch_up()?;
        replica.after_engine()?;
        replica.reindex_all()?;
        Ok(replica)
    }

    /// Start this device's copy of a shared workspace from its genesis (what a join code points
    /// to); the rest arrives from the carriers. `name` is the local name of the workspace.
    pub fn join_shared(
        path: &std::path::Path,
        key: Option<&super::DbKey>,
        genesis: &[u8],
        me: DeviceIdentity,
        config: ReplicaConfig,
    ) -> Result<Self, ShareError> {
        if path.exists() {
            return Err(StoreError::Exists {
                name: super::workspace_name_of(path),
                path: path.to_path_buf(),
            }
            .into());
        }
        let actor = me.address().to_checksum();
        let clock = config.clock;
        // Check the genesis before anything is written.
        let engine = acl::Replica::join(genesis, me, config)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = super::open_conn(path, true, key)?;
        let ws = Workspace::open_replica(engine.workspace().loro().clone(), &actor, clock);
        let mut replica = Self::assemble(conn, path, ws, 0)?;
        let sql = replica.sql_owned();
        insert_op(&replica.conn, genesis, ORIGIN_GENESIS).map_err(&sql)?;
        replica.gate = Some(Gate::new(engine, 0));
        replica.set_sync_value("member.address", &actor)?;
        Ok(replica)
    }

    /// The genesis op of a shared workspace (to publish it).
    pub fn genesis(&self) -> Result<Option<Vec<u8>>, StoreError> {
        read_genesis(&self.conn).map_err(self.sql())
    }

    /// Open a shared workspace: replay its membership ops and envelopes through the engine.
    pub fn open_shared(
        path: &std::path::Path,
        key: Option<&super::DbKey>,
        me: DeviceIdentity,
        config: ReplicaConfig,
    ) -> Result<Self, ShareError> {
        if !path.is_file() {
            return Err(StoreError::NoWorkspace {
                name: super::workspace_name_of(path),
                path: path.to_path_buf(),
            }
            .into());
        }
        let conn = super::open_conn(path, false, key)?;
        let genesis = read_genesis(&conn).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let Some(genesis) = genesis else {
            return Err(ShareError::NotShared);
        };
        let actor = me.address().to_checksum();
        let clock = config.clock;
        let mut engine = acl::Replica::join(&genesis, me, config)?;
        let keys = read_keys(&conn).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        engine.install_keys(&keys, now());
        let ws = Workspace::open_replica(engine.workspace().loro().clone(), &actor, clock);
        let mut replica = Self::assemble(conn, path, ws, 0)?;
        replica.gate = Some(Gate::new(engine, keys.len()));
        replica.catch_up()?;
        replica.replay_refused()?;
        replica.after_engine()?;
        // Rows checked for the first time (a database from before checks were recorded, or rows
        // another process wrote): recorded now, so the next open skips their signatures.
        if replica
            .gate
            .as_ref()
            .is_some_and(|g| !g.to_check.is_empty())
        {
            replica.write_locked(|_| Ok::<_, StoreError>(()))?;
        }
        // The replay marked everything dirty; the index is already current on disk, unless a
        // process wrote changes and stopped before indexing them.
        if replica.sync_value(INDEX_PENDING)?.is_some() {
            if let Some(gate) = replica.gate.as_mut() {
                gate.index_owed = true;
            }
            replica.index_now()?;
        } else {
            *replica.dirty.lock().unwrap_or_else(|p| p.into_inner()) = search::Dirty::default();
        }
        Ok(replica)
    }

    /// Whether a database holds a shared workspace (has a membership log).
    pub fn is_shared_db(
        path: &std::path::Path,
        key: Option<&super::DbKey>,
    ) -> Result<bool, StoreError> {
        let conn = super::open_conn(path, false, key)?;
        read_genesis(&conn)
            .map(|g| g.is_some())
            .map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })
    }

    /// The wallet this device acts as in the shared workspace at `path`, as recorded when it
    /// created or joined it.
    pub fn member_address(
        path: &std::path::Path,
        key: Option<&super::DbKey>,
    ) -> Result<Option<Address>, StoreError> {
        let conn = super::open_conn(path, false, key)?;
        let value: Option<String> = conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'member.address'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// Members, strongest role first, with the devices that sign for each.
    pub fn member_list(&self) -> Vec<MemberInfo> {
        let Some(engine) = self.engine() else {
            return Vec::new();
        };
        let me = engine.identity().address();
        let state = engine.members();
        let mut out: Vec<MemberInfo> = state
            .members
            .iter()
            .map(|(addr, m)| MemberInfo {
                address: *addr,
                role: m.role,
                you: *addr == me,
                devices: state
                    .devices
                    .iter()
                    .filter(|(_, d)| d.address == *addr)
                    .map(|(id, d)| DeviceInfo {
                        device: id.to_string(),
                        paired_at: d
                            .certificates
                            .values()
                            .map(|c| c.pairing.issued_at.unix_timestamp())
                            .min(),
                        revoked: d.revoked_by.is_some(),
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| b.role.cmp(&a.role).then(a.address.cmp(&b.address)));
        out
    }

    /// The access-control engine, when the workspace is shared.
    pub fn engine(&self) -> Option<&acl::Replica> {
        self.gate.as_ref().map(|g| &g.acl)
    }

    /// The membership, when the workspace is shared.
    pub fn members(&self) -> Option<&MemberState> {
        self.engine().map(|e| e.members())
    }

    /// The local user's role: `Owner` for a workspace that is not shared (it is theirs alone).
    pub fn my_role(&self) -> Option<Role> {
        match self.engine() {
            Some(e) => e.my_role(),
            None => Some(Role::Owner),
        }
    }

    /// Whether the local user may do `action` (always, in a workspace that is not shared).
    pub fn can(&self, action: &acl::Action) -> Result<(), acl::Refusal> {
        match self.engine() {
            Some(e) => e.can(&e.identity().address(), action),
            None => Ok(()),
        }
    }

    /// What was refused, with reasons (empty for a workspace that is not shared): what the
    /// engine refused, the samples kept of input that was not kept whole, and one line per
    /// source saying how much more was refused and only counted.
    pub fn quarantine(&self) -> Vec<QuarantineEntry> {
        let Some(engine) = self.engine() else {
            return Vec::new();
        };
        let mut out = engine.quarantine();
        // Samples of envelopes and ops are judged again on open, and the engine that refused
        // them lists them with their signer: listed here only when it does not.
        let listed: std::collections::HashSet<Vec<u8>> =
            out.iter().map(|e| hash(&e.bytes)).collect();
        for RefusedSample {
            source,
            reason,
            bytes,
            ..
        } in self.refused_samples().unwrap_or_default()
        {
            if listed.contains(&hash(&bytes)) {
                continue;
            }
            out.push(QuarantineEntry {
                item: acl::QuarantinedItem::Unreadable,
                device: None,
                address: None,
                reason: acl::Refusal::Unreadable(format!("from {source}: {reason}")),
                may_be_released: false,
                bytes,
            });
        }
        for (source, count) in self.refused_counts().unwrap_or_default() {
            if count > 0 {
                out.push(QuarantineEntry {
                    item: acl::QuarantinedItem::Unreadable,
                    device: None,
                    address: None,
                    reason: acl::Refusal::Unreadable(format!(
                        "{count} more refused inputs from {source}, counted but not kept \
                         (at most {REFUSED_SAMPLES_PER_HOUR} an hour from each source are kept as samples)"
                    )),
                    may_be_released: false,
                    bytes: Vec::new(),
                });
            }
        }
        out
    }

    /// How many refused inputs each source sent that were counted but not kept.
    pub fn refused_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(key, length(?1) + 1), value FROM sync_state
                 WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([REFUSED_PREFIX], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(self.sql())?;
        Ok(rows
            .into_iter()
            .map(|(source, n)| (source, n.parse().unwrap_or(0)))
            .collect())
    }

    /// The samples kept of refused input: (source, kind, reason, bytes), oldest first. The kind
    /// is `frame` (a room frame, its first bytes), `envelope` or `op` (whole, judged again on
    /// open) or `truncated` (the first bytes of a larger envelope or op).
    pub fn refused_samples(&self) -> Result<Vec<RefusedSample>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT source, reason, bytes FROM quarantine ORDER BY id")
            .map_err(self.sql())?;
        let rows: Vec<(String, String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|it| it.collect())
            .map_err(self.sql())?;
        Ok(rows
            .into_iter()
            .map(|(source, reason, bytes)| {
                let (kind, reason) = reason
                    .split_once(": ")
                    .map(|(k, r)| (k.to_string(), r.to_string()))
                    .unwrap_or_else(|| (SAMPLE_FRAME.to_string(), reason.clone()));
                RefusedSample {
                    source,
                    kind,
                    reason,
                    bytes,
                }
            })
            .collect())
    }

    /// Judge the kept samples of refused envelopes and ops again (on open), so the engine lists
    /// them with their item, signer and reason as before a restart.
    fn replay_refused(&mut self) -> Result<(), StoreError> {
        let samples = self.refused_samples()?;
        let Some(gate) = self.gate.as_mut() else {
            return Ok(());
        };
        let t = now();
        for sample in samples {
            if sample.kind == SAMPLE_ENVELOPE {
                gate.acl.receive_envelope(&sample.bytes, t);
            } else if sample.kind == SAMPLE_OP {
                gate.acl.receive_acl_op(&sample.bytes, t);
            }
        }
        Ok(())
    }

    /// Note input from `source` that is refused without being kept whole (frames that do not
    /// open with the workspace's key, envelopes that fail their structural checks): a few
    /// samples an hour per source are kept (their first bytes), the rest only counted.
    /// `refused` holds (reason, bytes) of some of them; `more` counts others not passed.
    pub fn record_refused(
        &mut self,
        source: &str,
        refused: &[(String, Vec<u8>)],
        more: u64,
    ) -> Result<(), StoreError> {
        if refused.is_empty() && more == 0 {
            return Ok(());
        }
        let sql = self.sql_owned();
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(&sql)?;
        let result = note_refused(&self.conn, source, SAMPLE_FRAME, refused, more).map_err(&sql);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(&sql);
        result?;
        ended?;
        self.data_version = super::data_version(&self.conn).map_err(&sql)?;
        Ok(())
    }

    /// Read the rows other processes wrote and feed them to the engine.
    pub(super) fn catch_up(&mut self) -> Result<bool, StoreError> {
        let sql = self.sql_owned();
        let Some(gate) = self.gate.as_mut() else {
            return Ok(false);
        };
        let ops = read_inputs(&self.conn, "acl_ops", gate.last_op_row).map_err(&sql)?;
        let envs = read_inputs(&self.conn, "envelopes", gate.last_env_row).map_err(&sql)?;
        if ops.is_empty() && envs.is_empty() {
            return Ok(false);
        }
        let t = now();
        gate.acl.defer_duties();
        for op in &ops {
            gate.last_op_row = op.row;
            gate.acl.receive_acl_op(&op.bytes, t);
        }
        for env in &envs {
            gate.last_env_row = env.row;
            if env.checked {
                gate.acl.receive_checked_envelope(&env.bytes, t);
            } else {
                gate.acl.receive_envelope(&env.bytes, t);
                if held(&gate.acl, &env.bytes) {
                    // Written down with the next write (this may be a read transaction).
                    gate.to_check.push(env.row);
                }
            }
        }
        gate.acl.resume_duties(t);
        self.after_engine()?;
        Ok(true)
    }

    /// After any call into the engine: keep the ops and envelopes it produced on its own
    /// (automatic key rotations and shares, edits sealed before a rebuild) and the keys it
    /// learned, then follow its document if it rebuilt it.
    pub(super) fn after_engine(&mut self) -> Result<(), StoreError> {
        self.store_outbox()?;
        self.save_keys()?;
        self.reattach_if_rebuilt();
        Ok(())
    }

    fn save_keys(&mut self) -> Result<(), StoreError> {
        let sql = self.sql_owned();
        let Some(gate) = self.gate.as_mut() else {
            return Ok(());
        };
        // Only keys that match a rotation's commitment, each under its epoch and commitment:
        // a key that arrived in a share or a lockbox but opens nothing is never written, and
        // nothing replaces a key already kept (two rotations may share an epoch number).
        let keys = gate.acl.committed_epoch_keys();
        if keys.len() == gate.saved_keys {
            return Ok(());
        }
        self.conn.execute_batch(KEY_TABLE).map_err(&sql)?;
        for (epoch, check, key) in &keys {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO epoch_keys_checked (epoch, key_check, key) \
                     VALUES (?1, ?2, ?3)",
                    params![epoch, check.0.as_slice(), key.as_bytes().as_slice()],
                )
                .map_err(&sql)?;
            // The table older versions read: the first key of an epoch stays there.
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO epoch_keys (epoch, key) VALUES (?1, ?2)",
                    params![epoch, key.as_bytes().as_slice()],
                )
                .map_err(&sql)?;
        }
        gate.saved_keys = keys.len();
        Ok(())
    }

    /// After the engine rebuilt its document (a change it had applied became void), edit the
    /// new one.
    fn reattach_if_rebuilt(&mut self) {
        let Some(gate) = self.gate.as_ref() else {
            return;
        };
        let doc: &LoroDoc = gate.acl.workspace().loro();
        if doc.peer_id() == self.ws.loro().peer_id() {
            return;
        }
        let ws = Workspace::open_replica(doc.clone(), self.ws.actor(), self.ws.clock());
        let (local, events) = Self::subscribe(&ws, &self.unsaved, &self.dirty);
        self.ws = ws;
        self._local_updates = local;
        self._events = events;
        self.lock_unsaved().clear();
        *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = search::Dirty::everything(&self.ws);
    }

    /// Flush for a shared workspace: seal the local edits into an envelope and store it, with
    /// the search index, in one transaction taken after reading what other processes wrote.
    pub(super) fn flush_shared(&mut self) -> Result<usize, StoreError> {
        self.ws.commit();
        let has_updates = !self.lock_unsaved().is_empty();
        self.write_locked(|r| r.flush_shared_locked(has_updates))
    }

    /// Run `f` holding the database's write lock, after reading what other processes wrote;
    /// commit if it succeeds, roll back if not.
    fn write_locked<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let sql = self.sql_owned();
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(&sql)?;
        let result = match self.catch_up() {
            Ok(_) => f(self).and_then(|v| {
                self.record_checked()?;
                Ok(v)
            }),
            Err(e) => Err(e.into()),
        };
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(&sql);
        let value = result?;
        ended?;
        self.data_version = super::data_version(&self.conn).map_err(&sql)?;
        Ok(value)
    }

    /// Leave the search index to [`index_now`](Self::index_now) instead of updating it in every
    /// write: a live worker applies a change, tells the app, then indexes. A mark kept in the same
    /// transaction as the change makes the next open index everything if the process stops first.
    ///
    /// The same goes for WAL checkpoints: SQLite would otherwise copy the log into the database
    /// (and sync it) inside whichever write crosses the threshold, a few milliseconds on the way
    /// of a keystroke now and then. Deferred, they run in `index_now`, at most every
    /// `CHECKPOINT_EVERY`.
    pub fn defer_index(&mut self, later: bool) {
        if let Some(gate) = self.gate.as_mut() {
            gate.index_later = later;
        }
        let pages = if later { 0 } else { 1000 };
        if let Err(e) = self.conn.pragma_update(None, "wal_autocheckpoint", pages) {
            tracing::warn!(error = %e, "could not change when the log is checkpointed");
        }
    }

    /// Checkpoint the WAL if the last checkpoint is older than `CHECKPOINT_EVERY` (only while
    /// checkpoints are deferred).
    fn checkpoint_if_due(&mut self) {
        let Some(gate) = self.gate.as_mut() else {
            return;
        };
        if !gate.index_later || gate.checkpointed.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        gate.checkpointed = std::time::Instant::now();
        // PASSIVE: never waits for readers or writers; what it cannot copy now waits for the next.
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "the log could not be checkpointed");
        }
    }

    /// [`index_now`](Self::index_now), if it has not run for `age`: while someone types without
    /// a pause, the index and the log's checkpoints still keep up every so often.
    pub fn index_if_older(&mut self, age: std::time::Duration) -> Result<(), StoreError> {
        match self.gate.as_ref() {
            Some(gate) if gate.indexed.elapsed() >= age => self.index_now(),
            _ => Ok(()),
        }
    }

    /// Update the search index for everything written since it was last updated.
    pub fn index_now(&mut self) -> Result<(), StoreError> {
        if let Some(gate) = self.gate.as_mut() {
            gate.indexed = std::time::Instant::now();
        }
        self.checkpoint_if_due();
        let Some(gate) = self.gate.as_mut() else {
            return Ok(());
        };
        if !gate.index_owed {
            return Ok(());
        }
        gate.index_owed = false;
        let later = std::mem::replace(&mut gate.index_later, false);
        let result = self.write_locked(|this| {
            this.reindex_dirty()?;
            this.remove_sync_value(INDEX_PENDING)?;
            Ok::<_, StoreError>(())
        });
        if let Some(gate) = self.gate.as_mut() {
            gate.index_later = later;
            gate.index_owed |= result.is_err();
        }
        result
    }

    /// The envelopes this process sealed since the last call, to hand to a live worker at once.
    pub fn take_sealed(&mut self) -> Vec<Vec<u8>> {
        self.gate
            .as_mut()
            .map(|g| std::mem::take(&mut g.sealed))
            .unwrap_or_default()
    }

    /// Write down which envelope rows had their signature checked (inside a write).
    pub(super) fn record_checked(&mut self) -> Result<(), StoreError> {
        let Some(gate) = self.gate.as_mut() else {
            return Ok(());
        };
        if gate.to_check.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut gate.to_check);
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO checked (row) VALUES (?1)")
            .map_err(self.sql())?;
        for row in rows.into_iter().filter(|r| *r > 0) {
            stmt.execute([row]).map_err(self.sql())?;
        }
        Ok(())
    }

    /// Update the search index for what changed since the last time (or, when the index is left
    /// for later, mark that it is owed).
    fn reindex_dirty(&mut self) -> Result<(), StoreError> {
        if self.gate.as_ref().is_some_and(|g| g.index_later) {
            let owed = !self
                .dirty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
            let marked = self.gate.as_ref().is_some_and(|g| g.index_owed);
            if owed && !marked {
                self.set_sync_value(INDEX_PENDING, "1")?;
                if let Some(gate) = self.gate.as_mut() {
                    gate.index_owed = true;
                }
            }
            return Ok(());
        }
        let dirty = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        if !dirty.is_empty() {
            search::reindex(&self.conn, &self.ws, &dirty).map_err(self.sql())?;
        }
        Ok(())
    }

    fn flush_shared_locked(&mut self, has_updates: bool) -> Result<usize, StoreError> {
        let sql = self.sql_owned();
        let mut written = 0;
        if has_updates {
            let gate = self
                .gate
                .as_mut()
                .ok_or_else(|| StoreError::Home("not shared".into()))?;
            match gate.acl.local_commit(now()) {
                Ok(Some(env)) => {
                    let bytes = env.encode();
                    let row = insert_envelope(&self.conn, &bytes, ORIGIN_LOCAL).map_err(&sql)?;
                    gate.last_env_row = gate.last_env_row.max(row);
                    gate.to_check.push(row);
                    // Bounded: a process that never hands them to a live worker keeps few.
                    if gate.sealed.len() >= 256 {
                        gate.sealed.remove(0);
                    }
                    gate.sealed.push(bytes);
                    written = 1;
                }
                Ok(None) => {}
                Err(e) => {
                    // The engine undid the edits; show the document without them.
                    self.reattach_if_rebuilt();
                    self.lock_unsaved().clear();
                    let why = match e {
                        LocalError::NotAllowed(r) => r.to_string(),
                        other => other.to_string(),
                    };
                    return Err(StoreError::NotAllowed(why));
                }
            }
            self.lock_unsaved().clear();
            self.after_engine()?;
        }
        self.reindex_dirty()?;
        Ok(written)
    }

    /// Store what the engine sealed as a side effect (edits sealed before a rebuild).
    fn store_outbox(&mut self) -> Result<(), StoreError> {
        let sql = self.sql_owned();
        let Some(gate) = self.gate.as_mut() else {
            return Ok(());
        };
        for out in gate.acl.take_outbox() {
            match out {
                Outgoing::Envelope(env) => {
                    let row =
                        insert_envelope(&self.conn, &env.encode(), ORIGIN_LOCAL).map_err(&sql)?;
                    gate.last_env_row = gate.last_env_row.max(row);
                    gate.to_check.push(row);
                }
                Outgoing::AclOp(op) => {
                    let row = insert_op(&self.conn, &op.encode(), ORIGIN_LOCAL).map_err(&sql)?;
                    gate.last_op_row = gate.last_op_row.max(row);
                }
            }
        }
        Ok(())
    }

    /// Take an envelope that arrived from `origin` (a carrier): judge it, keep it, and apply it
    /// if it is valid. Anything, even garbage, is kept so the verdict is the same after a restart.
    pub fn receive_envelope(&mut self, origin: &str, bytes: &[u8]) -> Result<Receipt, ShareError> {
        self.receive_input(origin, bytes, true).map(|r| {
            r.unwrap_or(Receipt {
                outcome: acl::Outcome::Duplicate,
                effects: Default::default(),
            })
        })
    }

    /// Take a membership op that arrived from `origin`.
    pub fn receive_acl_op(&mut self, origin: &str, bytes: &[u8]) -> Result<(), ShareError> {
        self.receive_input(origin, bytes, false).map(|_| ())
    }

    /// Take several membership ops that arrived together (a bucket pass) in one transaction;
    /// the key duties they cause are carried out once, after all of them.
    pub fn receive_acl_ops(&mut self, origin: &str, items: &[&[u8]]) -> Result<(), ShareError> {
        if items.is_empty() {
            return Ok(());
        }
        self.receive_inputs(origin, items, false).map(|_| ())
    }

    fn receive_input(
        &mut self,
        origin: &str,
        bytes: &[u8],
        envelope: bool,
    ) -> Result<Option<Receipt>, ShareError> {
        Ok(self
            .receive_inputs(origin, &[bytes], envelope)?
            .into_iter()
            .next()
            .flatten())
    }

    /// Take several envelopes that arrived together (a log segment) in one transaction.
    pub fn receive_envelopes(
        &mut self,
        origin: &str,
        items: &[&[u8]],
    ) -> Result<Vec<Receipt>, ShareError> {
        Ok(self
            .receive_inputs(origin, items, true)?
            .into_iter()
            .map(|r| {
                r.unwrap_or(Receipt {
                    outcome: acl::Outcome::Duplicate,
                    effects: Default::default(),
                })
            })
            .collect())
    }

    fn receive_inputs(
        &mut self,
        origin: &str,
        items: &[&[u8]],
        envelope: bool,
    ) -> Result<Vec<Option<Receipt>>, ShareError> {
        if self.gate.is_none() {
            return Err(ShareError::NotShared);
        }
        if let Some(big) = items.iter().find(|b| b.len() > MAX_INPUT) {
            return Err(StoreError::Home(format!(
                "input from {origin} is {} bytes, over the {MAX_INPUT}-byte limit; not kept",
                big.len()
            ))
            .into());
        }
        self.flush()?;
        self.write_locked(|this| -> Result<Vec<Option<Receipt>>, ShareError> {
            let table = if envelope { "envelopes" } else { "acl_ops" };
            let mut receipts = Vec::with_capacity(items.len());
            // One batch: key duties wait for all of it (see `acl::Replica::defer_duties`).
            if let Some(gate) = this.gate.as_mut() {
                gate.acl.defer_duties();
            }
            let read = this.receive_each(table, origin, items, envelope, &mut receipts);
            if let Some(gate) = this.gate.as_mut() {
                gate.acl.resume_duties(now());
            }
            read?;
            this.after_engine()?;
            this.reindex_dirty()?;
            Ok(receipts)
        })
    }

    fn receive_each(
        &mut self,
        table: &str,
        origin: &str,
        items: &[&[u8]],
        envelope: bool,
        receipts: &mut Vec<Option<Receipt>>,
    ) -> Result<(), ShareError> {
        let sql = self.sql_owned();
        let mut refused: Vec<(String, Vec<u8>)> = Vec::new();
        for bytes in items {
            let gate = self
                .gate
                .as_mut()
                .ok_or(StoreError::Home("not shared".into()))?;
            // The engine judges first; only what it holds (applied, pending, or refused by
            // the membership rules, which a later change may revisit) and what a newer weft
            // may read are kept. Junk that fails the checks no later input can change
            // (unreadable, another workspace, a bad signature) is sampled and counted.
            let (receipt, verdict) = if envelope {
                let receipt = gate.acl.receive_envelope(bytes, now());
                let kept = held(&gate.acl, bytes);
                let why = match &receipt.outcome {
                    acl::Outcome::Quarantined(r) => r.to_string(),
                    _ => String::new(),
                };
                (Some(receipt), (kept, why))
            } else {
                let receipt = gate.acl.receive_acl_op(bytes, now());
                let kept = op_kept(&gate.acl, bytes);
                let why = match &receipt.outcome {
                    acl::AclOutcome::Refused(r) => r.to_string(),
                    _ => String::new(),
                };
                (None, (kept, why))
            };
            let (kept, why) = verdict;
            let newer = !kept && for_a_newer_weft(&why);
            let keep = kept || (newer && self.newer_room(table).map_err(&sql)?);
            if !keep {
                refused.push((why, bytes.to_vec()));
                receipts.push(receipt);
                continue;
            }
            let origin = if newer {
                format!("{origin}{NEWER_SUFFIX}")
            } else {
                origin.to_string()
            };
            let fresh = insert_input(&self.conn, table, bytes, &origin).map_err(&sql)?;
            let gate = self
                .gate
                .as_mut()
                .ok_or(StoreError::Home("not shared".into()))?;
            if let Some(row) = fresh {
                if envelope {
                    gate.last_env_row = gate.last_env_row.max(row);
                    if kept {
                        gate.to_check.push(row);
                    }
                } else {
                    gate.last_op_row = gate.last_op_row.max(row);
                }
                if newer {
                    gate.newer_kept = gate.newer_kept.map(|n| n + 1);
                }
            }
            receipts.push(receipt);
        }
        let kind = if envelope { SAMPLE_ENVELOPE } else { SAMPLE_OP };
        note_refused(&self.conn, origin, kind, &refused, 0).map_err(&sql)?;
        Ok(())
    }

    /// Make a membership change with the engine (which checks the local user may) and keep it.
    pub fn member_action(
        &mut self,
        act: impl FnOnce(&mut acl::Replica, OffsetDateTime) -> Result<AclOp, LocalError>,
    ) -> Result<AclOp, ShareError> {
        if self.gate.is_none() {
            return Err(ShareError::NotShared);
        }
        self.flush()?;
        let sql = self.sql_owned();
        self.write_locked(|this| -> Result<AclOp, ShareError> {
            let gate = this.gate.as_mut().ok_or(ShareError::NotShared)?;
            let op = act(&mut gate.acl, now())?;
            let row = insert_op(&this.conn, &op.encode(), ORIGIN_LOCAL).map_err(&sql)?;
            gate.last_op_row = gate.last_op_row.max(row);
            this.after_engine()?;
            Ok(op)
        })
    }

    /// Seal the whole document into a snapshot envelope (admins and the owner only) and keep it
    /// like any local change. Returns its bytes and, for each device, the sequence number up to
    /// which everything it signed is in the snapshot.
    pub fn seal_snapshot(&mut self) -> Result<(Vec<u8>, BTreeMap<DeviceId, u64>), ShareError> {
        if self.gate.is_none() {
            return Err(ShareError::NotShared);
        }
        self.flush()?;
        let sql = self.sql_owned();
        self.write_locked(|this| {
            let gate = this.gate.as_mut().ok_or(ShareError::NotShared)?;
            let env = gate.acl.seal_snapshot(now())?;
            let covers = gate.acl.applied_through();
            let bytes = env.encode();
            let row = insert_envelope(&this.conn, &bytes, ORIGIN_LOCAL).map_err(&sql)?;
            gate.last_env_row = gate.last_env_row.max(row);
            this.after_engine()?;
            Ok((bytes, covers))
        })
    }

    /// Invite `member` with `role`: the op grants it, and the secret opens the keys for whoever
    /// holds the join code.
    pub fn invite(
        &mut self,
        member: Address,
        role: Role,
    ) -> Result<crate::crypto::InviteSecret, ShareError> {
        let mut secret = None;
        self.member_action(|e, t| {
            let (op, s) = e.invite(member, role, t)?;
            secret = Some(s);
            Ok(op)
        })?;
        secret
            .ok_or_else(|| ShareError::Store(StoreError::Home("the invite made no secret".into())))
    }

    /// Open an invite's keys with the secret from a join code. Returns whether it opened (the
    /// invite may not have arrived yet).
    pub fn redeem_invite(
        &mut self,
        secret: &crate::crypto::InviteSecret,
    ) -> Result<bool, ShareError> {
        let gate = self.gate.as_mut().ok_or(ShareError::NotShared)?;
        let opened = matches!(
            gate.acl.redeem_invite(secret, now())?,
            acl::keys::Redemption::Opened { .. }
        );
        self.after_engine()?;
        Ok(opened)
    }

    /// Add `member` with `role`.
    pub fn add_member(&mut self, member: Address, role: Role) -> Result<AclOp, ShareError> {
        self.member_action(|e, t| e.add_member(member, role, t))
    }

    /// Change `member`'s role.
    pub fn change_role(&mut self, member: Address, role: Role) -> Result<AclOp, ShareError> {
        self.member_action(|e, t| e.change_role(member, role, t))
    }

    /// Remove `member`.
    pub fn remove_member(&mut self, member: Address) -> Result<AclOp, ShareError> {
        self.member_action(|e, t| e.remove_member(member, t))
    }

    /// Revoke `device`.
    pub fn revoke_device(&mut self, device: DeviceId) -> Result<AclOp, ShareError> {
        self.member_action(|e, t| e.revoke_device(device, t))
    }

    /// Publish this device's certificate (a new device of a member).
    pub fn publish_device(&mut self) -> Result<AclOp, ShareError> {
        self.member_action(|e, t| e.publish_device_certificate(t))
    }

    /// Every row after `after` in `table`, whoever wrote it (for answering peers).
    pub fn inputs(
        &self,
        table: SharedTable,
        after: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.rows_after(table, after, "")
    }

    fn rows_after(
        &self,
        table: SharedTable,
        after: i64,
        filter: &str,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let sql = format!(
            "SELECT row, bytes FROM {} WHERE row > ?1 {filter} ORDER BY row",
            table.name()
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.sql())?;
        let rows = stmt
            .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|it| it.collect())
            .map_err(self.sql())?;
        Ok(rows)
    }

    /// How many rows `table` holds after `after`.
    pub fn count_inputs(&self, table: SharedTable, after: i64) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE row > ?1", table.name());
        self.conn
            .query_row(&sql, [after], |r| r.get(0))
            .map_err(self.sql())
    }

    /// The last row of `table` (0 if empty).
    pub fn last_input(&self, table: SharedTable) -> Result<i64, StoreError> {
        let sql = format!("SELECT COALESCE(MAX(row), 0) FROM {}", table.name());
        self.conn
            .query_row(&sql, [], |r| r.get(0))
            .map_err(self.sql())
    }

    /// The bytes of one row of `table`.
    pub fn input_at(&self, table: SharedTable, row: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = format!("SELECT bytes FROM {} WHERE row = ?1", table.name());
        self.conn
            .query_row(&sql, [row], |r| r.get(0))
            .optional()
            .map_err(self.sql())
    }

    /// Rows this device wrote after `after` in `table` ("envelopes" or "acl_ops"), for carriers.
    pub fn local_inputs(
        &self,
        table: SharedTable,
        after: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.rows_after(table, after, "AND origin IN ('local', 'genesis')")
    }

    /// A value a carrier keeps between runs (last listed positions, settings).
    pub fn sync_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.sql())
    }

    /// Forget one carrier value.
    pub fn remove_sync_value(&self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sync_state WHERE key = ?1", [key])
            .map_err(self.sql())?;
        Ok(())
    }

    /// Forget every carrier value whose key starts with `prefix` (but not those in `keep`).
    pub fn clear_sync_values(&self, prefix: &str, keep: &[&str]) -> Result<(), StoreError> {
        let keys: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT key FROM sync_state WHERE substr(key, 1, length(?1)) = ?1")
                .map_err(self.sql())?;
            let rows = stmt
                .query_map([prefix], |r| r.get(0))
                .and_then(|it| it.collect::<Result<Vec<String>, _>>())
                .map_err(self.sql())?;
            rows
        };
        for key in keys.iter().filter(|k| !keep.contains(&k.as_str())) {
            self.remove_sync_value(key)?;
        }
        Ok(())
    }

    /// Keep a carrier's value.
    pub fn set_sync_value(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// Whether another input for a newer weft may be kept in `table` (a separate, generous cap:
    /// such input is kept whole so that an upgraded weft reads it, but not without bound).
    fn newer_room(&mut self, table: &str) -> rusqlite::Result<bool> {
        let Some(gate) = self.gate.as_mut() else {
            return Ok(false);
        };
        let n = match gate.newer_kept {
            Some(n) => n,
            None => {
                let count = |t: &str| -> rusqlite::Result<i64> {
                    self.conn.query_row(
                        &format!("SELECT COUNT(*) FROM {t} WHERE substr(origin, -length(?1)) = ?1"),
                        [NEWER_SUFFIX],
                        |r| r.get(0),
                    )
                };
                let n = count("envelopes")? + count("acl_ops")?;
                gate.newer_kept = Some(n);
                n
            }
        };
        let _ = table;
        Ok(n < MAX_NEWER_KEPT)
    }

    fn sql_owned(&self) -> impl Fn(rusqlite::Error) -> StoreError {
        let path = self.path.clone();
        move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        }
    }
}

/// A sample kept of refused input (see [`Replica::record_refused`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedSample {
    /// Where it came from (`relay`, a bucket…).
    pub source: String,
    /// `frame` (a room frame: its first bytes), `envelope` or `op` (whole, judged again on
    /// open), or `truncated` (the first bytes of a larger envelope or op).
    pub kind: String,
    /// Why it was refused.
    pub reason: String,
    /// Its bytes, or the first of them.
    pub bytes: Vec<u8>,
}

/// One member as the TUI and CLI show it.
#[derive(Clone, Debug)]
pub struct MemberInfo {
    pub address: Address,
    pub role: Role,
    pub you: bool,
    pub devices: Vec<DeviceInfo>,
}

/// One device of a member.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub device: String,
    /// When its wallet signed its first pairing certificate (Unix seconds).
    pub paired_at: Option<i64>,
    pub revoked: bool,
}

/// The two kinds of input a shared workspace keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedTable {
    Envelopes,
    AclOps,
}

impl SharedTable {
    fn name(self) -> &'static str {
        match self {
            SharedTable::Envelopes => "envelopes",
            SharedTable::AclOps => "acl_ops",
        }
    }
}

fn read_genesis(conn: &rusqlite::Connection) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT bytes FROM acl_ops WHERE origin = 'genesis' ORDER BY row LIMIT 1",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// Whether the engine kept these envelope bytes past its structural checks (signature included).
fn held(engine: &acl::Replica, bytes: &[u8]) -> bool {
    crate::crypto::Envelope::decode(bytes).is_ok_and(|e| engine.holds(&e.id()))
}

fn read_inputs(
    conn: &rusqlite::Connection,
    table: &str,
    after: i64,
) -> rusqlite::Result<Vec<Input>> {
    let checked = if table == "envelopes" {
        "EXISTS (SELECT 1 FROM checked c WHERE c.row = t.row)"
    } else {
        "0"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT t.row, t.bytes, {checked} FROM {table} t WHERE t.row > ?1 AND t.origin != 'genesis' ORDER BY t.row"
    ))?;
    let rows = stmt
        .query_map([after], |r| {
            Ok(Input {
                row: r.get(0)?,
                bytes: r.get(1)?,
                checked: r.get(2)?,
            })
        })?
        .collect();
    rows
}

/// Insert unless the same bytes are already kept; the new row, or `None` for a repeat.
fn insert_input(
    conn: &rusqlite::Connection,
    table: &str,
    bytes: &[u8],
    origin: &str,
) -> rusqlite::Result<Option<i64>> {
    let n = conn.execute(
        &format!(
            "INSERT OR IGNORE INTO {table} (hash, bytes, origin, received_at) VALUES (?1, ?2, ?3, ?4)"
        ),
        params![hash(bytes), bytes, origin, Clock::System.now_ms()],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

fn insert_envelope(
    conn: &rusqlite::Connection,
    bytes: &[u8],
    origin: &str,
) -> rusqlite::Result<i64> {
    insert_input(conn, "envelopes", bytes, origin).map(|r| r.unwrap_or(0))
}

fn insert_op(conn: &rusqlite::Connection, bytes: &[u8], origin: &str) -> rusqlite::Result<i64> {
    insert_input(conn, "acl_ops", bytes, origin).map(|r| r.unwrap_or(0))
}

/// Epoch keys by epoch and commitment (two rotations may start one epoch number); only keys
/// that match a rotation's published commitment are written, and none is ever replaced. Created
/// when first needed, so a database of any version gains it; older versions keep reading
/// `epoch_keys`.
const KEY_TABLE: &str = "CREATE TABLE IF NOT EXISTS epoch_keys_checked (
    epoch     INTEGER NOT NULL,
    key_check BLOB NOT NULL,
    key       BLOB NOT NULL,
    PRIMARY KEY (epoch, key_check)
);";

/// Every key kept, from both tables (older versions wrote `epoch_keys` only). The engine uses a
/// key only where it matches a rotation's commitment, so a stale or wrong one does no harm.
fn read_keys(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(u32, crate::crypto::EpochKey)>> {
    conn.execute_batch(KEY_TABLE)?;
    let mut stmt = conn.prepare(
        "SELECT epoch, key FROM epoch_keys_checked \
         UNION SELECT epoch, key FROM epoch_keys ORDER BY epoch",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(e, k)| {
            let bytes: [u8; 32] = k.try_into().ok()?;
            Some((e, crate::crypto::EpochKey::from_bytes(bytes)))
        })
        .collect())
}

/// Refused inputs kept as samples, per source and hour.
pub const REFUSED_SAMPLES_PER_HOUR: i64 = 8;
/// Samples kept in all (the oldest go first).
const MAX_REFUSED_SAMPLES: i64 = 128;
/// How much of a refused room frame a sample keeps.
const SAMPLE_BYTES: usize = 512;
/// Largest refused envelope or op a sample keeps whole (to judge again on open).
const SAMPLE_WHOLE: usize = 64 << 10;
const SAMPLE_FRAME: &str = "frame";
const SAMPLE_ENVELOPE: &str = "envelope";
const SAMPLE_OP: &str = "op";
const SAMPLE_TRUNCATED: &str = "truncated";
/// Inputs kept whole for a newer weft, in all.
pub const MAX_NEWER_KEPT: i64 = 4096;
/// The sync_state keys counting refused input per source.
const REFUSED_PREFIX: &str = "refused.count.";
/// Appended to the origin of rows kept for a newer weft.
const NEWER_SUFFIX: &str = "+newer";

/// Whether a refusal says the input was written by a newer weft (kept, so that an upgraded
/// weft can read it).
pub fn for_a_newer_weft(reason: &str) -> bool {
    reason.contains("upgrade weft") || reason.contains("newer weft")
}

/// Whether the engine took a membership op into its log or holds it waiting.
fn op_kept(engine: &acl::Replica, bytes: &[u8]) -> bool {
    AclOp::decode(bytes).is_ok_and(|op| {
        let id = op.id();
        engine.log().contains(&id) || engine.waiting_ops.contains_key(&id)
    })
}

/// Keep a few samples of refused input of `kind` from `source` (at most
/// [`REFUSED_SAMPLES_PER_HOUR`] in the last hour) and count the rest. A repeat of a kept sample is
/// neither kept nor counted again.
fn note_refused(
    conn: &rusqlite::Connection,
    source: &str,
    kind: &str,
    refused: &[(String, Vec<u8>)],
    more: u64,
) -> rusqlite::Result<()> {
    if refused.is_empty() && more == 0 {
        return Ok(());
    }
    let now_ms = Clock::System.now_ms();
    let hour_ago = now_ms - 3_600_000;
    let recent: i64 = conn.query_row(
        "SELECT COUNT(*) FROM quarantine WHERE source = ?1 AND received_at > ?2",
        params![source, hour_ago],
        |r| r.get(0),
    )?;
    let mut room = (REFUSED_SAMPLES_PER_HOUR - recent).max(0) as usize;
    let mut counted = more;
    for (reason, bytes) in refused {
        let (kind, sample) = if kind == SAMPLE_FRAME {
            (kind, &bytes[..bytes.len().min(SAMPLE_BYTES)])
        } else if bytes.len() <= SAMPLE_WHOLE {
            (kind, &bytes[..])
        } else {
            (SAMPLE_TRUNCATED, &bytes[..SAMPLE_BYTES])
        };
        let repeat: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM quarantine WHERE bytes = ?1)",
            [sample],
            |r| r.get(0),
        )?;
        if repeat {
            continue;
        }
        if room == 0 {
            counted += 1;
            continue;
        }
        room -= 1;
        let mut reason = reason.clone();
        reason.truncate(
            reason
                .char_indices()
                .nth(300)
                .map_or(reason.len(), |(i, _)| i),
        );
        conn.execute(
            "INSERT INTO quarantine (source, reason, bytes, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![source, format!("{kind}: {reason}"), sample, now_ms],
        )?;
    }
    conn.execute(
        "DELETE FROM quarantine WHERE id NOT IN (SELECT id FROM quarantine ORDER BY id DESC LIMIT ?1)",
        [MAX_REFUSED_SAMPLES],
    )?;
    if counted > 0 {
        let key = format!("{REFUSED_PREFIX}{source}");
        let before: u64 = conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [&key], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        conn.execute(
            "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, before.saturating_add(counted).to_string()],
        )?;
    }
    Ok(())
}
