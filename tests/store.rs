//! The local store on real SQLite files: durability, several processes on one home, compaction,
//! migrations and bad files.

mod common;

use std::path::{Path, PathBuf};

use loro::{ExportMode, LoroDoc};
use weft::model::{CardFields, Clock, Workspace, CURRENT_SCHEMA};
use weft::store::{Replica, StoreError, COMPACT_AFTER};

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ws").join("weft.db")
}

fn new_replica(path: &Path) -> Replica {
    Replica::create(path, "team", "alice", Clock::Fixed(common::T0)).expect("create")
}

fn open(path: &Path) -> Replica {
    Replica::open(path, "alice", Clock::Fixed(common::T0)).expect("open")
}

#[test]
fn commits_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut r = new_replica(&path);
    let doc = r.workspace().create_doc("Notes", None).unwrap();
    r.workspace().set_body(doc, "written before close").unwrap();
    r.flush().unwrap();
    drop(r);
    let r = open(&path);
    assert_eq!(r.workspace().body(doc).unwrap(), "written before close");
    assert_eq!(r.workspace().name(), "team");
}

#[test]
fn two_replicas_on_one_file_see_each_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut a = new_replica(&path);
    let mut b = open(&path);
    let doc = a.workspace().create_doc("Shared", None).unwrap();
    a.flush().unwrap();
    assert!(b.refresh().unwrap(), "b must notice a's commit");
    b.workspace().append_body(doc, "from b. ").unwrap();
    a.workspace().append_body(doc, "from a. ").unwrap();
    b.flush().unwrap();
    a.flush().unwrap();
    a.refresh().unwrap();
    b.refresh().unwrap();
    let (ta, tb) = (
        a.workspace().body(doc).unwrap(),
        b.workspace().body(doc).unwrap(),
    );
    assert_eq!(ta, tb);
    assert!(ta.contains("from a.") && ta.contains("from b."));
    // Nothing new: refresh is a no-op.
    assert!(!a.refresh().unwrap());
    // And a third opener sees everything.
    let c = open(&path);
    assert_eq!(c.workspace().body(doc).unwrap(), ta);
}

#[test]
fn compaction_folds_the_log_and_other_replicas_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut a = new_replica(&path);
    let mut b = open(&path);
    let doc = a.workspace().create_doc("Log", None).unwrap();
    a.flush().unwrap();
    b.refresh().unwrap();
    for i in 0..(COMPACT_AFTER + 10) {
        a.workspace().append_body(doc, &format!("{i} ")).unwrap();
        a.flush().unwrap();
    }
    let health = a.health().unwrap();
    assert_eq!(health.snapshots, 1, "a snapshot was written");
    assert!(
        health.changes < COMPACT_AFTER,
        "covered rows were dropped: {}",
        health.changes
    );
    // b never read the rows that were folded away: it catches up from the snapshot.
    b.refresh().unwrap();
    assert_eq!(
        b.workspace().body(doc).unwrap(),
        a.workspace().body(doc).unwrap()
    );
    drop((a, b));
    let c = open(&path);
    assert!(c
        .workspace()
        .body(doc)
        .unwrap()
        .ends_with(&format!("{} ", COMPACT_AFTER + 9)));
}

#[test]
fn causally_pending_updates_are_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut r = new_replica(&path);
    // A peer makes two changes; we receive the second before the first.
    let base = r.workspace().loro().export(ExportMode::Snapshot).unwrap();
    let peer = Workspace::open(
        LoroDoc::from_snapshot(&base).unwrap(),
        "bob",
        Clock::Fixed(1),
    )
    .unwrap();
    let v0 = peer.version();
    let doc = peer.create_doc("From bob", None).unwrap();
    let v1 = peer.version();
    peer.set_body(doc, "second change").unwrap();
    let first = peer.loro().export(ExportMode::updates(&v0)).unwrap();
    let second = peer.loro().export(ExportMode::updates(&v1)).unwrap();
    r.receive("test", &second).unwrap();
    assert!(r.workspace().kind_of(doc).is_none(), "not applicable yet");
    drop(r);
    // After a restart the pending update is still there, and applies once its predecessor arrives.
    let mut r = open(&path);
    r.receive("test", &first).unwrap();
    assert_eq!(r.workspace().body(doc).unwrap(), "second change");
}

#[test]
fn search_index_follows_edits_and_trash() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut r = new_replica(&path);
    let ws = r.workspace();
    let doc = ws.create_doc("Roadmap", None).unwrap();
    ws.set_body(doc, "We ship the zeppelin in spring").unwrap();
    let board = ws.create_board("Work", &["Todo"]).unwrap();
    let col = ws.board(board, false).unwrap().columns[0].id;
    let card = ws
        .add_card(
            col,
            &CardFields {
                title: "Paint the zeppelin".into(),
                ..Default::default()
            },
            "",
        )
        .unwrap();
    ws.add_comment(doc, "is the zeppelin ready?", None, None)
        .unwrap();
    r.flush().unwrap();
    let kinds = |r: &Replica, q: &str| -> Vec<String> {
        let mut k: Vec<String> = r
            .search(q, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.kind)
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&r, "zeppelin"), vec!["card", "comment", "doc"]);
    assert_eq!(
        kinds(&r, "zepp"),
        vec!["card", "comment", "doc"],
        "prefix search"
    );
    r.workspace()
        .set_body(doc, "We ship the airship in spring")
        .unwrap();
    r.workspace().trash(card).unwrap();
    r.flush().unwrap();
    assert_eq!(kinds(&r, "zeppelin"), vec!["comment"]);
    assert_eq!(kinds(&r, "airship"), vec!["doc"]);
    // Input that would be FTS syntax is searched as words, never an error.
    assert!(r.search("\"unbalanced AND (", 10).unwrap().is_empty());
    // Another process's edit is indexed by the writer; the index is shared.
    let mut other = open(&path);
    other.workspace().set_title(doc, "Roadmap 2027").unwrap();
    other.flush().unwrap();
    r.refresh().unwrap();
    assert_eq!(r.search("2027", 10).unwrap().len(), 1);
}

#[test]
fn garbage_file_is_a_clear_error_and_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage = b"this is not a database at all, just some bytes".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = Replica::open(&path, "alice", Clock::System).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    assert!(err.to_string().contains("weft.db"), "names the file: {err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "file unchanged");
}

#[test]
fn truncated_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut r = new_replica(&path);
    for i in 0..50 {
        r.workspace().create_doc(&format!("doc {i}"), None).unwrap();
    }
    r.flush().unwrap();
    drop(r);
    // Fold the WAL into the main file, then cut it in half.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "wal_checkpoint", "TRUNCATE").unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let cut = std::fs::read(&path).unwrap();
    let err = Replica::open(&path, "alice", Clock::System).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("weft.db"), "names the file: {msg}");
    assert_eq!(std::fs::read(&path).unwrap(), cut, "file unchanged");
}

#[test]
fn garbage_change_row_is_reported_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let r = new_replica(&path);
    drop(r);
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO changes (origin, peer, bytes, created_at) VALUES ('local', 1, X'DEADBEEF', 0)",
            [],
        )
        .unwrap();
    }
    let err = Replica::open(&path, "alice", Clock::System).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("cannot be applied"), "{err}");
}

#[test]
fn store_from_a_newer_weft_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(new_replica(&path));
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Replica::open(&path, "alice", Clock::System).unwrap_err();
    assert!(matches!(err, StoreError::Newer { found: 99, .. }), "{err}");
}

#[test]
fn workspace_from_a_newer_schema_opens_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut r = new_replica(&path);
    let doc = r.workspace().create_doc("Future", None).unwrap();
    // A newer weft bumped the schema and wrote a field this weft does not know.
    r.workspace()
        .loro()
        .get_map("meta")
        .insert("schema", CURRENT_SCHEMA + 1)
        .unwrap();
    r.workspace()
        .loro()
        .get_map("meta")
        .insert("future_field", "keep me")
        .unwrap();
    r.workspace().commit();
    r.flush().unwrap();
    drop(r);
    let r = open(&path);
    assert_eq!(r.workspace().read_only(), Some(CURRENT_SCHEMA + 1));
    assert!(
        r.workspace().set_title(doc, "changed").is_err(),
        "edits refused"
    );
    assert_eq!(
        r.workspace().title(doc).unwrap(),
        "Future",
        "still readable"
    );
    assert!(r
        .workspace()
        .loro()
        .get_map("meta")
        .get("future_field")
        .is_some());
}

/// A schema-1 workspace, written the way the first release wrote it: trash marks in node meta.
fn schema_v1_snapshot() -> Vec<u8> {
    let doc = LoroDoc::new();
    let meta = doc.get_map("meta");
    meta.insert("name", "old team").unwrap();
    meta.insert("schema", 1).unwrap();
    let docs = doc.get_tree("docs");
    docs.enable_fractional_index(0);
    let kept = docs.create(None).unwrap();
    docs.get_meta(kept)
        .unwrap()
        .insert("title", "Kept")
        .unwrap();
    let gone = docs.create(None).unwrap();
    let m = docs.get_meta(gone).unwrap();
    m.insert("title", "Old trash").unwrap();
    let mut mark = loro::LoroMapValue::default();
    mark.make_mut().insert("by".into(), "0xabc".into());
    mark.make_mut().insert("at".into(), 5i64.into());
    m.insert("trashed", loro::LoroValue::Map(mark)).unwrap();
    m.insert("unknown_future_field", "preserved").unwrap();
    doc.commit();
    doc.export(ExportMode::Snapshot).unwrap()
}

#[test]
fn older_schema_is_migrated_once_and_keeps_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    drop(new_replica(&path));
    // Replace the history with the old workspace.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("DELETE FROM changes", []).unwrap();
        c.execute(
            "INSERT INTO changes (origin, peer, bytes, created_at) VALUES ('import', 1, ?1, 0)",
            [schema_v1_snapshot()],
        )
        .unwrap();
    }
    let r = open(&path);
    let ws = r.workspace();
    assert_eq!(ws.schema(), CURRENT_SCHEMA);
    assert_eq!(ws.name(), "old team");
    let trashed = ws.trashed_items();
    assert_eq!(trashed.len(), 1);
    assert_eq!(
        (
            trashed[0].title.as_str(),
            trashed[0].by.as_str(),
            trashed[0].at
        ),
        ("Old trash", "0xabc", 5)
    );
    assert_eq!(
        ws.docs(false)
            .iter()
            .map(|d| d.title.as_str())
            .collect::<Vec<_>>(),
        vec!["Kept"]
    );
    let gone = trashed[0].id;
    let version = ws.version();
    drop(r);
    // Idempotent: opening again writes nothing.
    let r = open(&path);
    assert_eq!(r.workspace().version(), version);
    let meta = r
        .workspace()
        .loro()
        .get_tree("docs")
        .get_meta(gone.0)
        .unwrap();
    assert!(
        meta.get("unknown_future_field").is_some(),
        "unknown fields are preserved"
    );
}

#[test]
fn a_refresh_between_an_edit_and_its_flush_keeps_the_edit_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut a = new_replica(&path);
    let mut b = open(&path);
    let doc = a.workspace().create_doc("Notes", None).unwrap();
    a.flush().unwrap();
    b.refresh().unwrap();
    // b edits; before b flushes, a commits and b picks that up.
    b.workspace().set_body(doc, "quokka sighting").unwrap();
    a.workspace().create_doc("Other", None).unwrap();
    a.flush().unwrap();
    assert!(b.refresh().unwrap());
    b.flush().unwrap();
    assert_eq!(
        b.search("quokka", 5).unwrap().len(),
        1,
        "b's edit is indexed"
    );
    a.refresh().unwrap();
    assert_eq!(a.workspace().body(doc).unwrap(), "quokka sighting");
    assert_eq!(a.search("quokka", 5).unwrap().len(), 1);
}
