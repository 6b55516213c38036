//! Encrypting a home written by an older weft, in place, without ever being without a good copy.
//!
//! For each plaintext workspace database: export it into a new SQLCipher file beside it, verify the
//! new file opens with the key and holds the same rows, then swap: the plaintext file becomes
//! `weft.db.plaintext-backup`, the new file becomes `weft.db`, and only then is the backup deleted.
//! A crash at any point leaves a database that opens; [`recover`] finishes or undoes a swap that a
//! crash interrupted.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{DbKey, Home, StoreError};

const BACKUP: &str = "weft.db.plaintext-backup";
const STAGING: &str = "weft.db.encrypting";

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `path` is a plaintext SQLite database (readable without a key).
fn is_plaintext(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.starts_with(b"SQLite format 3\0"))
        .unwrap_or(false)
}

fn counts(conn: &Connection, path: &Path) -> Result<(i64, i64, i64), StoreError> {
    let q = |t: &str| -> Result<i64, StoreError> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
            .map_err(sql(path))
    };
    Ok((q("changes")?, q("snapshots")?, q("quarantine")?))
}

/// Finish or undo a swap a crash interrupted, for every workspace of the home.
pub fn recover(home: &Home) -> Result<(), StoreError> {
    for name in std::fs::read_dir(home.workspaces_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = name.path();
        let db = dir.join("weft.db");
        let backup = dir.join(BACKUP);
        let staging = dir.join(STAGING);
        if backup.exists() {
            if db.exists() {
                // The encrypted copy was verified before it took the name: the backup is done with.
                std::fs::remove_file(&backup).map_err(io(&backup))?;
            } else {
                std::fs::rename(&backup, &db).map_err(io(&db))?;
            }
        }
        if staging.exists() {
            // An unfinished export: start again from the original.
            std::fs::remove_file(&staging).map_err(io(&staging))?;
        }
    }
    Ok(())
}

/// Encrypt every plaintext workspace database of `home` with `key`. Returns the databases encrypted.
pub fn encrypt_plaintext_databases(home: &Home, key: &DbKey) -> Result<Vec<PathBuf>, StoreError> {
    recover(home)?;
    let mut done = Vec::new();
    for name in home.workspaces() {
        let db = home.workspace_db(&name);
        if !is_plaintext(&db) {
            continue;
        }
        encrypt_one(&db, key)?;
        done.push(db);
    }
    Ok(done)
}

fn encrypt_one(db: &Path, key: &DbKey) -> Result<(), StoreError> {
    let dir = db.parent().unwrap_or(Path::new("."));
    let staging = dir.join(STAGING);
    let backup = dir.join(BACKUP);
    let _ = std::fs::remove_file(&staging);
    let (before, version) = {
        let plain = Connection::open(db).map_err(sql(db))?;
        // Fold the WAL in, so the main file is the whole database.
        plain
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(sql(db))?;
        let before = counts(&plain, db)?;
        let version: i64 = plain
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql(db))?;
        plain
            .execute(
                &format!(
                    "ATTACH DATABASE ?1 AS encrypted KEY \"{}\"",
                    key.pragma_literal()
                ),
                [staging.to_string_lossy()],
            )
            .map_err(sql(db))?;
        plain
            .query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
            .map_err(sql(db))?;
        plain
            .execute_batch(&format!(
                "PRAGMA encrypted.user_version = {version}; DETACH DATABASE encrypted"
            ))
            .map_err(sql(db))?;
        (before, version)
    };
    // Verify the new file with the key before it replaces anything.
    {
        let enc = Connection::open(&staging).map_err(sql(&staging))?;
        let _ = enc.execute_batch("PRAGMA cipher_log_level = NONE");
        enc.execute_batch(&format!("PRAGMA key = \"{}\"", key.pragma_literal()))
            .map_err(sql(&staging))?;
        let check: String = enc
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(sql(&staging))?;
        let after = counts(&enc, &staging)?;
        let v: i64 = enc
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql(&staging))?;
        if check != "ok" || after != before || v != version {
            let _ = std::fs::remove_file(&staging);
            return Err(StoreError::Corrupt {
                path: db.to_path_buf(),
                why: format!("the encrypted copy did not verify ({check}, {after:?} vs {before:?}); the plaintext file is untouched"),
            });
        }
        // Make the encrypted copy durable before the swap.
        enc.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql(&staging))?;
    }
    if let Ok(f) = std::fs::File::open(&staging) {
        let _ = f.sync_all();
    }
    std::fs::rename(db, &backup).map_err(io(db))?;
    for side in ["weft.db-wal", "weft.db-shm"] {
        let _ = std::fs::remove_file(dir.join(side));
    }
    std::fs::rename(&staging, db).map_err(io(db))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    std::fs::remove_file(&backup).map_err(io(&backup))?;
    Ok(())
}
