-- weft local store, one file per workspace. Version in PRAGMA user_version.
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Every accepted Loro update, local or received. Replayed on open after the latest snapshot.
CREATE TABLE IF NOT EXISTS changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    origin     TEXT NOT NULL,          -- 'local' | 'import' | a transport name
    peer       INTEGER NOT NULL,       -- Loro peer of the process that wrote the row
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
-- Compacted state: a Loro snapshot and the version vector it covers.
CREATE TABLE IF NOT EXISTS snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    covers_seq  INTEGER NOT NULL,
    vv          BLOB NOT NULL,
    bytes       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
-- Local changes the carriers (bucket, relay) have not acknowledged yet.
CREATE TABLE IF NOT EXISTS outbox (
    seq     INTEGER NOT NULL,
    carrier TEXT NOT NULL,
    PRIMARY KEY (seq, carrier)
);
-- Input that was refused, with the reason; never applied, shown to the user.
CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    bytes       BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
-- Attachment content, by content hash.
CREATE TABLE IF NOT EXISTS attachments (
    sha256 TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    bytes  BLOB NOT NULL
);
-- Full-text index over titles, bodies and comments.
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(
    item_id UNINDEXED,
    kind UNINDEXED,
    title,
    body,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Shared workspaces (store version 2): every membership op (the genesis first) and every
-- envelope, local or received, in arrival order. The access-control engine replays them on open.
CREATE TABLE IF NOT EXISTS acl_ops (
    row         INTEGER PRIMARY KEY AUTOINCREMENT,
    hash        BLOB NOT NULL UNIQUE,   -- SHA-256 of the bytes
    bytes       BLOB NOT NULL,
    origin      TEXT NOT NULL,          -- 'genesis' | 'local' | a carrier
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS envelopes (
    row         INTEGER PRIMARY KEY AUTOINCREMENT,
    hash        BLOB NOT NULL UNIQUE,
    bytes       BLOB NOT NULL,
    origin      TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
-- Envelope rows whose signature this device has checked (they are replayed on open without
-- checking it again; everything else about them is judged again).
CREATE TABLE IF NOT EXISTS checked (
    row INTEGER PRIMARY KEY
);
-- What carriers remember between runs: settings and how far each has read or written.
CREATE TABLE IF NOT EXISTS sync_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Epoch keys this device holds for a shared workspace (the file is encrypted as a whole).
CREATE TABLE IF NOT EXISTS epoch_keys (
    epoch INTEGER PRIMARY KEY,
    key   BLOB NOT NULL
);
