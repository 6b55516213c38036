//! The local store: one SQLite file (WAL) per workspace holding the change log, snapshots, outbox,
//! quarantine, attachments and the search index. [`Replica`] pairs a workspace document with its store:
//! every local commit is written in one transaction before it is acknowledged, and changes that other
//! processes on the same home committed are picked up by [`Replica::refresh`].

mod home;
pub mod identity;
mod live;
pub mod migrate;
mod search;
pub mod secret;
pub mod shared;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use loro::{ExportMode, LoroDoc, Subscription};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::model::{Clock, ModelError, Workspace};

pub use home::{check_workspace_name, Home};
pub use search::SearchHit;
pub use secret::{DbKey, HomeSecret, Protection};
pub use shared::{
    for_a_newer_weft, DeviceInfo, MemberInfo, RefusedSample, ShareError, SharedTable,
    MAX_NEWER_KEPT, REFUSED_SAMPLES_PER_HOUR,
};

/// Version of the SQLite layout (PRAGMA user_version).
pub const STORE_VERSION: i64 = 4;
/// Compact (write a snapshot, drop covered rows) once this many changes follow the last snapshot.
pub const COMPACT_AFTER: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Home(String),
    #[error("invalid workspace name {0:?}: use letters, digits, '-' and '_' (at most 64)")]
    BadName(String),
    #[error("no workspace {name:?} at {path}; create it with `weft init {name}`")]
    NoWorkspace { name: String, path: PathBuf },
    #[error("workspace {name:?} already exists at {path}")]
    Exists { name: String, path: PathBuf },
    #[error("{path}: not a weft database ({why}); nothing was changed")]
    NotADatabase { path: PathBuf, why: String },
    #[error("{path}: cannot be read: damaged, or encrypted with another key (a file from another home); nothing was changed")]
    WrongKey { path: PathBuf },
    #[error("{path}: damaged: {why}; nothing was changed")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: written by a newer weft (store version {found}, this weft knows {known}); upgrade weft")]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("not allowed: {0}; the change was undone")]
    NotAllowed(String),
}

/// Where a change came from, as recorded in the change log.
pub const ORIGIN_LOCAL: &str = "local";

/// A workspace as held on this device: its document and its durable store.
pub struct Replica {
    conn: Connection,
    path: PathBuf,
    ws: Workspace,
    /// Highest change-log row this process has applied (its own or another process's).
    last_seq: i64,
    /// `PRAGMA data_version` when we last looked: it changes when another connection commits.
    data_version: i64,
    /// Loro updates of local commits not yet written to the store.
    unsaved: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Change rows written since the last compaction (counted once on open, then in memory, so a
    /// flush does not query for it and rows a compaction could not fold don't re-trigger it).
    since_compaction: i64,
    /// Items and comments whose text changed since the index was last updated.
    dirty: Arc<Mutex<search::Dirty>>,
    /// The access-control engine of a shared workspace.
    gate: Option<shared::Gate>,
    _local_updates: Subscription,
    _events: Subscription,
}

/// The workspace a database path belongs to: `…/<name>/weft.db` names `<name>`.
pub(crate) fn workspace_name_of(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("path", &self.path)
            .field("last_seq", &self.last_seq)
            .finish()
    }
}

impl Replica {
    /// Create a new workspace database at `path` (which must not exist yet).
    pub fn create(path: &Path, name: &str, actor: &str, clock: Clock) -> Result<Self, StoreError> {
        Self::create_with(path, None, name, actor, clock)
    }

    /// [`create`](Self::create), encrypting the file with `key` (SQLCipher) when given.
    pub fn create_with(
        path: &Path,
        key: Option<&DbKey>,
        name: &str,
        actor: &str,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists {
                name: name.to_string(),
                path: path.to_path_buf(),
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let ws = Workspace::create(name, actor, clock)?;
        let conn = open_conn(path, true, key)?;
        let mut replica = Self::assemble(conn, path, ws, 0)?;
        // The creating commit happened before we subscribed: store the whole history once.
        let all = replica
            .ws
            .loro()
            .export(ExportMode::all_updates())
            .map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                why: format!("exporting the new workspace: {e}"),
            })?;
        replica.lock_unsaved().push(all);
        replica.flush()?;
        Ok(replica)
    }

    /// Open an existing workspace database: latest snapshot, then the change log after it.
    pub fn open(path: &Path, actor: &str, clock: Clock) -> Result<Self, StoreError> {
        Self::open_with(path, None, actor, clock)
    }

    /// [`open`](Self::open) a database encrypted with `key`.
    pub fn open_with(
        path: &Path,
        key: Option<&DbKey>,
        actor: &str,
        clock: Clock,
    ) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NoWorkspace {
                name: workspace_name_of(path),
                path: path.to_path_buf(),
            });
        }
        let conn = open_conn(path, false, key)?;
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |why: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            why,
        };
        let snapshot: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT id, bytes FROM snapshots ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql)?;
        let doc = match &snapshot {
            Some((id, bytes)) => LoroDoc::from_snapshot(bytes)
                .map_err(|e| corrupt(format!("snapshot {id} cannot be read: {e}")))?,
            None => LoroDoc::new(),
        };
        let (rows, last_seq) = read_changes(&conn, 0).map_err(sql)?;
        if snapshot.is_none() && rows.is_empty() {
            return Err(corrupt("it holds no workspace history".into()));
        }
        for (seq, bytes) in &rows {
            doc.import(bytes)
                .map_err(|e| corrupt(format!("change {seq} cannot be applied: {e}")))?;
        }
        let loaded = doc.oplog_vv();
        let ws = Workspace::open(doc, actor, clock)?;
        let mut replica = Self::assemble(conn, path, ws, last_seq)?;
        if replica.ws.loro().oplog_vv() != loaded {
            // Migrations ran on open (before we subscribed): store what they wrote.
            let migrated = replica
                .ws
                .loro()
                .export(ExportMode::updates(&loaded))
                .map_err(|e| corrupt(format!("exporting migrations: {e}")))?;
            replica.lock_unsaved().push(migrated);
        }
        replica.flush()?;
        Ok(replica)
    }

    fn assemble(
        conn: Connection,
        path: &Path,
        ws: Workspace,
        last_seq: i64,
    ) -> Result<Self, StoreError> {
        let unsaved: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let dirty: Arc<Mutex<search::Dirty>> = Arc::default();
        let (local_updates, events) = Self::subscribe(&ws, &unsaved, &dirty);
        let data_version = data_version(&conn).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let since_compaction = conn
            .query_row(
                "SELECT COUNT(*) FROM changes WHERE seq > (SELECT COALESCE(MAX(covers_seq), 0) FROM snapshots)",
                [],
                |r| r.get(0),
            )
            .map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Replica {
            since_compaction,
            conn,
            path: path.to_path_buf(),
            ws,
            last_seq,
            data_version,
            unsaved,
            dirty,
            gate: None,
            _local_updates: local_updates,
            _events: events,
        })
    }

    /// Queue local updates for the next flush and mark what changed for the search index.
    fn subscribe(
        ws: &Workspace,
        unsaved: &Arc<Mutex<Vec<Vec<u8>>>>,
        dirty: &Arc<Mutex<search::Dirty>>,
    ) -> (Subscription, Subscription) {
        let sink = unsaved.clone();
        let local_updates = ws.loro().subscribe_local_update(Box::new(move |bytes| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(bytes.clone());
            true
        }));
        let events = search::track_dirty(ws.loro(), dirty.clone());
        (local_updates, events)
    }

    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    pub fn workspace_mut(&mut self) -> &mut Workspace {
        &mut self.ws
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_unsaved(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.unsaved.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Write every local commit not yet stored, and the search index for what changed, in one
    /// transaction. Returns how many changes were written. On error nothing is lost: the changes stay
    /// queued and the next flush writes them.
    pub fn flush(&mut self) -> Result<usize, StoreError> {
        if self.gate.is_some() {
            return self.flush_shared();
        }
        self.ws.commit();
        let updates: Vec<Vec<u8>> = std::mem::take(&mut *self.lock_unsaved());
        let dirty = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        if updates.is_empty() && dirty.is_empty() {
            return Ok(0);
        }
        let result = self.write_local(&updates, &dirty);
        match result {
            Ok(_) => {
                // last_seq and data_version stay: rows other processes wrote before ours are still
                // unread, and the next refresh reads them (skipping our own).
                if !updates.is_empty() {
                    self.since_compaction += updates.len() as i64;
                    self.maybe_compact()?;
                }
                Ok(updates.len())
            }
            Err(e) => {
                // Put them back in front of anything committed meanwhile.
                let mut q = self.lock_unsaved();
                let newer = std::mem::take(&mut *q);
                *q = updates;
                q.extend(newer);
                self.dirty
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .merge(dirty);
                Err(e)
            }
        }
    }

    fn write_local(
        &mut self,
        updates: &[Vec<u8>],
        dirty: &search::Dirty,
    ) -> Result<Option<i64>, StoreError> {
        let peer = self.ws.loro().peer_id() as i64;
        let now = Clock::System.now_ms();
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&sql)?;
        let mut last = None;
        for u in updates {
            tx.execute(
                "INSERT INTO changes (origin, peer, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![ORIGIN_LOCAL, peer, u, now],
            )
            .map_err(&sql)?;
            last = Some(tx.last_insert_rowid());
        }
        search::reindex(&tx, &self.ws, dirty).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(last)
    }

    /// Apply what other processes on this home committed since we last looked. Cheap when nothing
    /// changed (one pragma). Returns whether the document changed.
    pub fn refresh(&mut self) -> Result<bool, StoreError> {
        let dv = data_version(&self.conn).map_err(self.sql())?;
        if dv == self.data_version {
            return Ok(false);
        }
        self.data_version = dv;
        // Local edits not yet flushed keep their index marks; what the import marks is dropped below
        // (the writing process indexed it).
        let local = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        // One transaction: the snapshot and the rows after it are from the same moment, even if
        // another process compacts meanwhile. A shared workspace's catch-up may write (what the
        // engine answers, keys it learned, rows whose signature it checked), so it holds the write
        // lock from the start: a read transaction could not write once another process committed.
        let begin = if self.gate.is_some() {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        self.conn.execute_batch(begin).map_err(self.sql())?;
        let result = self.refresh_in_tx();
        let ended = self.conn.execute_batch("COMMIT").map_err(self.sql());
        *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = local;
        let changed = result?;
        ended?;
        Ok(changed)
    }

    fn refresh_in_tx(&mut self) -> Result<bool, StoreError> {
        if self.gate.is_some() {
            let changed = self.catch_up()?;
            self.record_checked()?;
            return Ok(changed);
        }
        let before = self.ws.loro().oplog_vv();
        let compacted: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(covers_seq), 0) FROM snapshots",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql())?;
        if compacted > self.last_seq {
            // Rows we never read were folded into a snapshot: catch up from it.
            let bytes: Vec<u8> = self
                .conn
                .query_row(
                    "SELECT bytes FROM snapshots ORDER BY id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(self.sql())?;
            self.ws
                .loro()
                .import(&bytes)
                .map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    why: format!("latest snapshot cannot be applied: {e}"),
                })?;
        }
        self.read_new_rows()?;
        Ok(self.ws.loro().oplog_vv() != before)
    }

    /// Import every change-log row after `last_seq` written by other processes, and move `last_seq`
    /// past everything read (our own rows included) in one consistent read.
    fn read_new_rows(&mut self) -> Result<(), StoreError> {
        let me = self.ws.loro().peer_id() as i64;
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let rows: Vec<(i64, Option<Vec<u8>>)> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT seq, CASE WHEN peer = ?2 THEN NULL ELSE bytes END
                     FROM changes WHERE seq > ?1 ORDER BY seq",
                )
                .map_err(&sql)?;
            let rows = stmt
                .query_map(params![self.last_seq, me], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|it| it.collect())
                .map_err(&sql)?;
            rows
        };
        for (seq, bytes) in &rows {
            if let Some(bytes) = bytes {
                if let Err(e) = self.ws.loro().import(bytes) {
                    tracing::warn!(seq, error = %e, "skipping unreadable change written by another process");
                }
            }
            self.last_seq = self.last_seq.max(*seq);
        }
        Ok(())
    }

    /// Apply an update that arrived from outside this home (a file, later a carrier) and record it.
    /// Updates whose causal predecessors have not arrived are kept and applied once they do.
    pub fn receive(&mut self, origin: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if self.gate.is_some() {
            return Err(StoreError::Home(
                "a shared workspace takes changes only as signed envelopes".into(),
            ));
        }
        self.ws.loro().import(bytes).map_err(|e| {
            StoreError::Model(ModelError::Corrupt(format!("update from {origin}: {e}")))
        })?;
        let peer = self.ws.loro().peer_id() as i64;
        self.conn
            .execute(
                "INSERT INTO changes (origin, peer, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![origin, peer, bytes, Clock::System.now_ms()],
            )
            .map_err(self.sql())?;
        self.flush()?;
        Ok(())
    }

    /// Fold the change log into a snapshot once it has grown long. Rows whose ops the snapshot does
    /// not cover (causally pending ones) are kept.
    fn maybe_compact(&mut self) -> Result<(), StoreError> {
        if self.since_compaction < COMPACT_AFTER {
            return Ok(());
        }
        self.compact()
    }

    /// Write a snapshot of everything applied and drop the change rows it covers.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        if self.gate.is_some() {
            // A shared workspace keeps its inputs (the engine replays them); snapshots of it are
            // written by admins into the bucket.
            return Ok(());
        }
        self.flush_if_pending()?;
        // Hold the write lock from here on, so no row can land between reading and snapshotting.
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.sql())?;
        let result = self.compact_locked();
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(self.sql());
        result.and(ended)?;
        self.since_compaction = 0;
        self.data_version = data_version(&self.conn).map_err(self.sql())?;
        Ok(())
    }

    fn compact_locked(&mut self) -> Result<(), StoreError> {
        self.read_new_rows()?;
        let doc = self.ws.loro();
        let vv = doc.oplog_vv();
        let snapshot = doc
            .export(ExportMode::Snapshot)
            .map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                why: format!("exporting a snapshot: {e}"),
            })?;
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = &self.conn;
        let covers: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .map_err(&sql)?;
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx
                .prepare("SELECT seq, bytes FROM changes WHERE seq <= ?1 AND seq NOT IN (SELECT seq FROM outbox)")
                .map_err(&sql)?;
            let rows = stmt
                .query_map([covers], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|it| it.collect())
                .map_err(&sql)?;
            rows
        };
        tx.execute(
            "INSERT INTO snapshots (covers_seq, vv, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![covers, vv.encode(), snapshot, Clock::System.now_ms()],
        )
        .map_err(&sql)?;
        for (seq, bytes) in rows {
            let covered = LoroDoc::decode_import_blob_meta(&bytes, false)
                .map(|m| vv.includes_vv(&m.partial_end_vv))
                .unwrap_or(false);
            if covered {
                tx.execute("DELETE FROM changes WHERE seq = ?1", [seq])
                    .map_err(&sql)?;
            }
        }
        tx.execute(
            "DELETE FROM snapshots WHERE id < (SELECT MAX(id) FROM snapshots)",
            [],
        )
        .map_err(&sql)?;
        Ok(())
    }

    fn flush_if_pending(&mut self) -> Result<(), StoreError> {
        if !self.lock_unsaved().is_empty() {
            self.flush()?;
        }
        Ok(())
    }

    /// Full-text search over titles, bodies and comments; hits on trashed items are left out.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        search::query(&self.conn, &self.ws, query, limit).map_err(self.sql())
    }

    /// Rebuild the search index from the document.
    pub fn reindex_all(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&sql)?;
        tx.execute("DELETE FROM search_index", []).map_err(&sql)?;
        search::reindex(&tx, &self.ws, &search::Dirty::everything(&self.ws)).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(())
    }

    /// Facts for `weft doctor`.
    pub fn health(&self) -> Result<StoreHealth, StoreError> {
        let q = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(self.sql())
        };
        let integrity: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.sql())?;
        Ok(StoreHealth {
            path: self.path.clone(),
            bytes: std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
            changes: q("SELECT COUNT(*) FROM changes")?,
            snapshots: q("SELECT COUNT(*) FROM snapshots")?,
            outbox: q("SELECT COUNT(*) FROM outbox")?,
            quarantine: q("SELECT COUNT(*) FROM quarantine")?,
            integrity,
            schema: self.ws.schema(),
            read_only: self.ws.read_only().is_some(),
            shared: self.engine().map(|e| SharedHealth {
                workspace_id: e.workspace_id().to_string(),
                address: e.identity().address().to_checksum(),
                role: e.my_role().map(|r| r.to_string()),
                members: e.members().members.len(),
                envelopes: q("SELECT COUNT(*) FROM envelopes").unwrap_or(0),
                membership_ops: q("SELECT COUNT(*) FROM acl_ops").unwrap_or(0),
                quarantined: e.quarantine().len(),
                pending: e.pending().len(),
            }),
        })
    }
}

/// What `weft doctor` reports about one workspace database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreHealth {
    pub path: PathBuf,
    pub bytes: u64,
    pub changes: i64,
    pub snapshots: i64,
    pub outbox: i64,
    pub quarantine: i64,
    pub integrity: String,
    pub schema: i64,
    pub read_only: bool,
    /// Access control, for a shared workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedHealth>,
}

/// What `weft doctor` reports about a shared workspace's membership and inputs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharedHealth {
    pub workspace_id: String,
    pub address: String,
    pub role: Option<String>,
    pub members: usize,
    pub envelopes: i64,
    pub membership_ops: i64,
    pub quarantined: usize,
    pub pending: usize,
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Rows of the change log: (seq, Loro update).
type ChangeRows = Vec<(i64, Vec<u8>)>;

fn read_changes(conn: &Connection, after: i64) -> rusqlite::Result<(ChangeRows, i64)> {
    let mut stmt = conn.prepare("SELECT seq, bytes FROM changes WHERE seq > ?1 ORDER BY seq")?;
    let rows: Vec<(i64, Vec<u8>)> = stmt
        .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let last = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
        r.get(0)
    })?;
    Ok((rows, last))
}

/// Open (and, when `create`, initialise) a workspace database, checking it is one of ours.
fn open_conn(path: &Path, create: bool, key: Option<&DbKey>) -> Result<Connection, StoreError> {
    let flags = if create {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let not_db = |why: String| StoreError::NotADatabase {
        path: path.to_path_buf(),
        why,
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| not_db(e.to_string()))?;
    // SQLCipher would log a wrong key to stderr, drawing over the TUI; the error reaches us anyway.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE");
    if let Some(key) = key {
        conn.execute_batch(&format!("PRAGMA key = \"{}\"", key.pragma_literal()))
            .map_err(|e| not_db(e.to_string()))?;
    }
    // Several weft processes share one home: wait for each other's short transactions.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| not_db(e.to_string()))?;
    // The first real read tells a garbage or truncated file apart from a database.
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| match (key, e.sqlite_error_code()) {
            (Some(_), Some(rusqlite::ErrorCode::NotADatabase)) => StoreError::WrongKey {
                path: path.to_path_buf(),
            },
            _ => not_db(e.to_string()),
        })?;
    if version > STORE_VERSION {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            found: version,
            known: STORE_VERSION,
        });
    }
    if !create && version == 0 {
        return Err(not_db("it has no weft tables".into()));
    }
    let sql = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    // WAL + NORMAL: a commit survives the process being killed at any moment; only a power cut can
    // lose the last transactions, and the file stays consistent either way.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    if version < STORE_VERSION {
        conn.execute_batch(include_str!("schema.sql"))
            .map_err(sql)?;
        conn.pragma_update(None, "user_version", STORE_VERSION)
            .map_err(sql)?;
    }
    Ok(conn)
}
