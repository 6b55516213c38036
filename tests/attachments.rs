//! Attachments end to end: two replicas attaching at once; a file attached on one device and saved
//! on another through a real S3 protocol server in-process and through a folder; a 100 MB file
//! with bounded memory; damaged, swapped, missing and truncated chunks, a wrong key and a wrong
//! hash, each refused with an error naming the attachment and no file left behind; no plaintext in
//! the bucket or in the cache; the `weft` binary with two homes; the terminal UI's attachment line
//! and its save key.

mod acl_common;
mod bucket_common;
mod common;

use bucket_common::rig::{all_files, folder, s3, Rig};
mod shared_common;
mod tui_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bucket_common::faults::{FaultPlan, FaultyStore, Tamper};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use shared_common::*;
use weft::acl::Role;
use weft::identity::LocalWallet;
use weft::model::{AttachmentMeta, AttachmentView, Clock};
use weft::sync::blobs::{BlobCache, BlobError, Blobs, CHUNK_SIZE};
use weft::sync::bucket::{keys, Bucket};

/// Text that must never be found in the bucket or the cache.
const MARKER: &[u8] = b"WEFT-PLAINTEXT-MARKER:the quarterly numbers are confidential;";

use bucket_common::memory::{reset_peak, PEAK};

/// Tests in this file run one at a time, so that the big one's memory peak is its own.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Rigs and helpers.

const WS: &str = "00ff00ff00ff00ff";

/// A file of `len` bytes: the marker, then random bytes from `seed`, written piece by piece.
fn write_file(path: &Path, seed: u64, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut left = len;
    let head = MARKER.len().min(len as usize);
    f.write_all(&MARKER[..head]).unwrap();
    left -= head as u64;
    let mut block = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        rng.fill_bytes(&mut block[..n]);
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

fn sha_of(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&block[..n]);
    }
    hex::encode(hash.finalize())
}

/// Every file at or under `path` whose bytes contain `needle`.
fn files_containing(path: &Path, needle: &[u8]) -> Vec<PathBuf> {
    assert!(!needle.is_empty());
    all_files(path)
        .into_iter()
        .filter(|p| {
            std::fs::read(p).is_ok_and(|bytes| {
                bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == needle[0])
                    .any(|(i, _)| bytes[i..].starts_with(needle))
            })
        })
        .collect()
}

/// Everything in a folder (names), to check nothing was left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn cache_in(dir: &Path, seed: u8) -> BlobCache {
    BlobCache::new(dir.join("cache"), [seed; 32])
}

fn ws_hex(dev: &mut Dev) -> String {
    hex::encode(dev.r().engine().unwrap().workspace_id().as_bytes())
}

// ---------------------------------------------------------------------------------------------
// The model on replicas.

fn fake_meta(name: &str) -> AttachmentMeta {
    AttachmentMeta {
        name: name.into(),
        size: 10,
        mime: None,
        sha256: "12".repeat(32),
        blob: hex::encode(rand::random::<[u8; 16]>()),
        key: "34".repeat(32),
        chunk_size: 4,
        chunks: 3,
    }
}

#[test]
fn two_devices_attaching_to_the_same_doc_at_once_both_keep_theirs() {
    let _one = serial();
    let r = common::replicas(3);
    let doc = r[0].create_doc("Spec", None).unwrap();
    common::sync_all(&r);
    // Nobody has attached anything yet: each creates the attachments map on its own.
    r[0].attach(doc, fake_meta("alice.pdf")).unwrap();
    r[1].attach(doc, fake_meta("bob.png")).unwrap();
    r[2].attach(doc, fake_meta("carol.txt")).unwrap();
    common::sync_all(&r);
    for ws in &r {
        let mut names: Vec<String> = ws.attachments(doc).into_iter().map(|a| a.name).collect();
        names.sort();
        assert_eq!(names, ["alice.pdf", "bob.png", "carol.txt"]);
    }
    // Removed on one, attached on another at the same time: both intents survive.
    let bobs = r[0]
        .attachments(doc)
        .into_iter()
        .find(|a| a.name == "bob.png")
        .unwrap();
    r[0].remove_attachment(doc, &bobs.id).unwrap();
    r[1].attach(doc, fake_meta("bob-v2.png")).unwrap();
    common::sync_all(&r);
    for ws in &r {
        let mut names: Vec<String> = ws.attachments(doc).into_iter().map(|a| a.name).collect();
        names.sort();
        assert_eq!(names, ["alice.pdf", "bob-v2.png", "carol.txt"]);
        assert_eq!(ws.all_attachments(doc).len(), 4, "the removed one is kept");
    }
    assert_eq!(common::state(&r[0]), common::state(&r[2]));
    let export = r[0].export_all();
    let spec = export.items.iter().find(|i| i.title == "Spec").unwrap();
    assert_eq!(spec.attachments.len(), 4);
    let json = serde_json::to_string(&export).unwrap();
    assert!(
        !json.contains(&"34".repeat(32)),
        "an export never holds keys"
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips between devices.

fn attach_on_one_device_save_on_another(rig: Rig) {
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    let doc = owner.r().workspace().create_doc("Spec", None).unwrap();
    owner.r().flush().unwrap();
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    let mut editor = join_from_bucket(&rig.bucket, &mut owner, &ew);

    // The owner attaches a file of several chunks (small chunks, so there are a few).
    let files = tempfile::tempdir().unwrap();
    let source = files.path().join("quarterly report.pdf");
    write_file(&source, 11, 300_000);
    let ws = ws_hex(&mut owner);
    let up = Blobs::new(rig.bucket.clone(), &ws)
        .with_cache(cache_in(owner.dir.path(), 1))
        .with_chunk_size(64 * 1024);
    let meta = up.upload_blocking(&source).expect("upload");
    assert_eq!((meta.size, meta.chunks), (300_000, 5));
    assert_eq!(meta.sha256, sha_of(&source));
    owner.r().workspace().attach(doc, meta).unwrap();
    owner.r().flush().unwrap();
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();

    // The editor syncs, sees it, and saves it: the same bytes.
    sync_of(&rig.bucket, &mut editor).round(editor.r()).unwrap();
    let atts = editor.r().workspace().attachments(doc);
    assert_eq!(atts.len(), 1, "the attachment arrived with the sync");
    let att = &atts[0];
    assert_eq!(
        (att.name.as_str(), att.mime.as_str()),
        ("quarterly report.pdf", "application/pdf")
    );
    let down = Blobs::new(rig.bucket.clone(), &ws).with_cache(cache_in(editor.dir.path(), 2));
    let dest = files.path().join("saved.pdf");
    let saved = down.save_blocking(att, &dest, false).expect("save");
    assert_eq!(sha_of(&dest), sha_of(&source), "the same bytes");
    assert_eq!((saved.from_bucket, saved.from_cache), (5, 0));
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 300_000);

    // Opening it again uses the cache, not the bucket.
    let again = files.path().join("again.pdf");
    let saved = down.save_blocking(att, &again, false).expect("save again");
    assert_eq!((saved.from_bucket, saved.from_cache), (0, 5));
    assert_eq!(sha_of(&again), sha_of(&source));

    // The editor attaches a file of their own: the owner's device accepts it (an editor may).
    let reply = files.path().join("comments.txt");
    write_file(&reply, 12, 1_000);
    let meta = down.upload_blocking(&reply).expect("upload");
    editor.r().workspace().attach(doc, meta).unwrap();
    editor.r().flush().unwrap();
    sync_of(&rig.bucket, &mut editor).round(editor.r()).unwrap();
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    assert!(
        owner.r().quarantine().is_empty(),
        "{:?}",
        owner.r().quarantine()
    );
    let mut names: Vec<String> = owner
        .r()
        .workspace()
        .attachments(doc)
        .into_iter()
        .map(|a| a.name)
        .collect();
    names.sort();
    assert_eq!(names, ["comments.txt", "quarterly report.pdf"]);

    // Neither the bucket nor either cache holds the plaintext.
    assert!(
        files_containing(&files.path().join("saved.pdf"), MARKER).len() == 1,
        "the marker is findable when it is there"
    );
    assert_eq!(files_containing(&rig.root, MARKER), Vec::<PathBuf>::new());
    for dev in [&owner, &editor] {
        let cache = dev.dir.path().join("cache");
        assert!(all_files(&cache).len() >= 5, "the cache holds chunks");
        assert_eq!(files_containing(&cache, MARKER), Vec::<PathBuf>::new());
        assert_eq!(
            files_containing(&cache, &std::fs::read(&source).unwrap()[100_000..100_064]),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn attached_on_one_device_saved_on_another_through_s3() {
    let _one = serial();
    attach_on_one_device_save_on_another(s3());
}

#[test]
fn attached_on_one_device_saved_on_another_through_a_folder() {
    let _one = serial();
    attach_on_one_device_save_on_another(folder());
}

#[test]
fn a_100_mb_file_round_trips_through_s3_with_bounded_memory() {
    const LEN: u64 = 100 * 1024 * 1024;
    let _one = serial();
    let rig = s3();
    let files = tempfile::tempdir().unwrap();
    let source = files.path().join("big.bin");
    write_file(&source, 42, LEN);
    let up = Blobs::new(rig.bucket.clone(), WS);
    // The other device has its own (empty) cache: everything comes from the bucket.
    let down = Blobs::new(rig.bucket.clone(), WS).with_cache(cache_in(files.path(), 9));

    let before = reset_peak();
    let started = Instant::now();
    let meta = up.upload_blocking(&source).expect("upload");
    let up_time = started.elapsed();
    let up_peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);

    let att = view_of(meta);
    let dest = files.path().join("big.out");
    let before = reset_peak();
    let started = Instant::now();
    let saved = down.save_blocking(&att, &dest, false).expect("save");
    let down_time = started.elapsed();
    let down_peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);

    assert_eq!(saved.from_bucket, 25);
    assert_eq!(sha_of(&dest), att.sha256, "the same 100 MiB came back");
    eprintln!(
        "100 MiB through s3: up {up_time:.1?} (at most {:.1} MiB more held), down {down_time:.1?} \
         (at most {:.1} MiB more held); chunks of {} MiB",
        up_peak as f64 / 1048576.0,
        down_peak as f64 / 1048576.0,
        CHUNK_SIZE >> 20
    );
    // The whole file would be 100 MiB; a chunk is 4 MiB. Allow a few chunks (the in-process S3
    // server's buffers count too).
    for (what, peak) in [("upload", up_peak), ("download", down_peak)] {
        assert!(
            peak < 8 * CHUNK_SIZE as usize,
            "{what} held {} MiB at once",
            peak >> 20
        );
    }
}

/// What a device reads back after attaching `meta` (as the model would describe it).
fn view_of(meta: AttachmentMeta) -> AttachmentView {
    let ws = weft::model::Workspace::create("t", "alice", Clock::Fixed(1)).unwrap();
    let doc = ws.create_doc("D", None).unwrap();
    let id = ws.attach(doc, meta).unwrap();
    ws.attachment(doc, &id).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Damage and mistakes.

struct Tampering {
    _dir: tempfile::TempDir,
    faulty: Arc<FaultyStore>,
    clean: Blobs,
    damaged: Blobs,
    files: tempfile::TempDir,
}

fn tampering() -> Tampering {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let faulty = FaultyStore::new(inner.clone(), 3, FaultPlan::none());
    let clean = Blobs::new(Bucket::from_store(inner, "", "folder"), WS).with_chunk_size(1000);
    let damaged = Blobs::new(Bucket::from_store(faulty.clone(), "", "damaged"), WS);
    Tampering {
        _dir: dir,
        faulty,
        clean,
        damaged,
        files: tempfile::tempdir().unwrap(),
    }
}

impl Tampering {
    fn attach(&self, name: &str, len: u64, seed: u64) -> AttachmentView {
        let path = self.files.path().join(name);
        write_file(&path, seed, len);
        let meta = self.clean.upload_blocking(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        view_of(meta)
    }

    /// Saves `att` through the damaged bucket; asserts that nothing was written.
    fn save_fails(&self, att: &AttachmentView) -> BlobError {
        let out = self.files.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let err = self
            .damaged
            .save_blocking(att, &out.join("result.bin"), false)
            .expect_err("saving must fail");
        assert_eq!(
            listing(&out),
            Vec::<String>::new(),
            "no file, not even a partial one"
        );
        let text = err.to_string();
        assert!(
            text.contains(&att.name),
            "the error names the attachment: {text}"
        );
        err
    }
}

fn chunk(att: &AttachmentView, i: u32) -> String {
    keys::blob_chunk_key(WS, &att.blob, i)
}

#[test]
fn damaged_swapped_truncated_and_missing_chunks_are_refused_and_leave_no_file() {
    let _one = serial();
    let t = tampering();
    let att = t.attach("plan.txt", 3_500, 1);
    let other = t.attach("other.txt", 3_500, 2);
    assert_eq!(att.chunks, 4);

    let cases = [
        (chunk(&att, 1), Tamper::FlipBit(8 * 30)),
        (chunk(&att, 2), Tamper::Truncate(100)),
        (chunk(&att, 3), Tamper::Truncate(0)),
        (chunk(&att, 0), Tamper::SwapWith(chunk(&att, 1))),
        (chunk(&att, 1), Tamper::SwapWith(chunk(&other, 1))),
        (
            chunk(&att, 2),
            Tamper::Replace(bytes::Bytes::from(vec![7u8; 200_000])),
        ),
    ];
    for (key, how) in cases {
        t.faulty.tamper(&key, how.clone());
        let err = t.save_fails(&att);
        assert!(
            matches!(err, BlobError::Tampered { .. }),
            "{how:?} on {key}: {err}"
        );
        t.faulty.untamper(&key);
    }
    // Untouched, it saves.
    let out = t.files.path().join("fine.txt");
    t.damaged.save_blocking(&att, &out, false).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 3_500);

    // The last chunk gone (truncating the file by whole chunks): missing, named.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(t.clean.bucket().delete(&chunk(&att, 3)))
        .unwrap();
    let err = t.save_fails(&att);
    assert!(matches!(err, BlobError::Missing { index: 3, .. }), "{err}");
    assert!(err.to_string().contains("chunk 3 of 4"), "{err}");
}

#[test]
fn a_wrong_key_a_wrong_hash_or_a_shorter_description_is_refused() {
    let _one = serial();
    let t = tampering();
    let att = t.attach("budget.csv", 2_500, 5);

    let wrong_key = AttachmentView {
        key: "00".repeat(32),
        ..att.clone()
    };
    assert!(matches!(
        t.save_fails(&wrong_key),
        BlobError::Tampered { index: 0, .. }
    ));

    let wrong_hash = AttachmentView {
        sha256: "00".repeat(32),
        ..att.clone()
    };
    assert!(matches!(
        t.save_fails(&wrong_hash),
        BlobError::HashMismatch { .. }
    ));

    // A description claiming fewer chunks: the count is bound into every chunk.
    let shorter = AttachmentView {
        size: 2_000,
        chunks: 2,
        ..att.clone()
    };
    assert!(matches!(
        t.save_fails(&shorter),
        BlobError::Tampered { index: 0, .. }
    ));

    // Nonsense from a peer: refused before anything is fetched.
    let nonsense = AttachmentView {
        chunk_size: 0,
        ..att.clone()
    };
    assert!(matches!(t.save_fails(&nonsense), BlobError::Invalid { .. }));
}

#[test]
fn a_damaged_cache_falls_back_to_the_bucket_and_bad_paths_are_refused() {
    let _one = serial();
    let t = tampering();
    let cache_dir = tempfile::tempdir().unwrap();
    let blobs = t.clean.clone().with_cache(cache_in(cache_dir.path(), 4));
    let src = t.files.path().join("notes.md");
    write_file(&src, 8, 2_200);
    let att = view_of(blobs.upload_blocking(&src).unwrap());
    // Every cached chunk damaged: the bucket has them.
    for f in all_files(cache_dir.path()) {
        let mut bytes = std::fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&f, bytes).unwrap();
    }
    let out = t.files.path().join("notes-copy.md");
    let saved = blobs.save_blocking(&att, &out, false).unwrap();
    assert_eq!((saved.from_cache, saved.from_bucket), (0, 3));
    assert_eq!(sha_of(&out), sha_of(&src));

    // An existing file is kept unless asked to replace it.
    std::fs::write(&out, b"mine").unwrap();
    let err = blobs.save_blocking(&att, &out, false).unwrap_err();
    assert!(matches!(err, BlobError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    blobs.save_blocking(&att, &out, true).unwrap();
    assert_eq!(sha_of(&out), sha_of(&src));

    // Uploading what is not a file.
    let missing = blobs.upload_blocking(&t.files.path().join("nope.txt"));
    assert!(
        matches!(missing, Err(BlobError::NoFile { .. })),
        "{missing:?}"
    );
    let folder = blobs.upload_blocking(t.files.path());
    assert!(
        matches!(folder, Err(BlobError::Folder { .. })),
        "{folder:?}"
    );
    assert!(folder.unwrap_err().to_string().contains("is a folder"));
}

// ---------------------------------------------------------------------------------------------
// The binary, two homes.

fn weft_in(home: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    common::weft_command(home)
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run weft")
}

fn weft_ok(home: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = weft_in(home, cwd, args);
    assert!(
        out.status.success(),
        "weft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn weft_err(home: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = weft_in(home, cwd, args);
    assert!(!out.status.success(), "weft {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn two_homes_attach_sync_and_save_with_the_cli() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    let work = dir.path().join("work");
    let bob_cwd = dir.path().join("bob-cwd");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&bob_cwd).unwrap();
    let bucket_dir = dir.path().join("bucket");
    let bucket = format!("file://{}", bucket_dir.display());
    weft_ok(
        &alice,
        &work,
        &["init", "team", "--sample", "--bucket", &bucket],
    );
    let bob_address = weft_ok(&bob, &work, &["wallet", "new"])
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 42)
        .expect("an address")
        .to_string();
    let invite = weft_ok(&alice, &work, &["invite", &bob_address, "--role", "editor"]);
    let code = invite
        .split_whitespace()
        .find(|w| w.starts_with("weft1-"))
        .expect("a join code")
        .to_string();
    weft_ok(&bob, &work, &["join", &code]);

    // Alice attaches a file to a doc and to a card, and syncs.
    let file = work.join("minutes.txt");
    write_file(&file, 3, 9_000_000);
    let out = weft_ok(&alice, &work, &["attach", "minutes.txt", "--to", "Welcome"]);
    assert!(out.contains("attached minutes.txt (9.0 MB"), "{out}");
    weft_ok(
        &alice,
        &work,
        &["attach", "minutes.txt", "--to", "Invite a teammate"],
    );
    weft_ok(&alice, &work, &["sync"]);

    // Bob syncs, lists, saves into his current folder: the same bytes.
    weft_ok(&bob, &work, &["sync"]);
    let listed = weft_ok(&bob, &work, &["--json", "attachments", "Welcome"]);
    let list: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(list[0]["name"], "minutes.txt");
    assert_eq!(list[0]["size"], 9_000_000);
    assert!(
        list[0].get("key").is_none(),
        "keys are never printed: {listed}"
    );
    let text = weft_ok(&bob, &work, &["attachments", "Invite a teammate"]);
    assert!(
        text.contains("minutes.txt") && text.contains("9.0 MB"),
        "{text}"
    );
    weft_ok(
        &bob,
        &bob_cwd,
        &["attachment", "save", "Welcome", "minutes.txt"],
    );
    assert_eq!(sha_of(&bob_cwd.join("minutes.txt")), sha_of(&file));

    // Saving again refuses to replace the file, and leaves it as it was.
    let err = weft_err(
        &bob,
        &bob_cwd,
        &["attachment", "save", "Welcome", "minutes.txt"],
    );
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    weft_ok(
        &bob,
        &bob_cwd,
        &["attachment", "save", "Welcome", "minutes.txt", "--force"],
    );
    assert_eq!(listing(&bob_cwd), ["minutes.txt"]);

    // Neither the bucket nor Bob's home (cache, databases) holds the plaintext.
    assert_eq!(files_containing(&bucket_dir, MARKER), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&bob, MARKER), Vec::<PathBuf>::new());
    assert!(
        bob.join("data/cache/blobs").is_dir(),
        "Bob's copy is cached"
    );

    // Mistakes: clear errors, nothing written.
    for (args, says) in [
        (
            vec!["attach", "nope.txt", "--to", "Welcome"],
            "no such file",
        ),
        (vec!["attach", ".", "--to", "Welcome"], "is a folder"),
        (vec!["attach", "minutes.txt", "--to", "Nope"], "Nope"),
        (
            vec!["attach", "minutes.txt", "--to", "Getting started"],
            "docs and cards",
        ),
        (
            vec!["attachment", "save", "Welcome", "other.txt"],
            "no attachment called",
        ),
    ] {
        let cwd = if args[0] == "attach" { &work } else { &bob_cwd };
        let err = weft_err(&bob, cwd, &args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Two attachments of the same name: ambiguous until an id is given.
    let second = work.join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("minutes.txt"), b"another file, same name").unwrap();
    weft_ok(&bob, &second, &["attach", "minutes.txt", "--to", "Welcome"]);
    std::fs::remove_file(bob_cwd.join("minutes.txt")).unwrap();
    let err = weft_err(
        &bob,
        &bob_cwd,
        &["attachment", "save", "Welcome", "minutes.txt"],
    );
    assert!(err.contains("2 attachments are called"), "{err}");
    assert_eq!(listing(&bob_cwd), Vec::<String>::new(), "nothing written");

    // Removing is soft: listed with --removed, restorable.
    let ids: serde_json::Value =
        serde_json::from_str(&weft_ok(&bob, &work, &["--json", "attachments", "Welcome"])).unwrap();
    let newest = ids[1]["id"].as_str().unwrap().to_string();
    weft_ok(&bob, &work, &["attachment", "rm", "Welcome", &newest]);
    let now = weft_ok(&bob, &work, &["attachments", "Welcome"]);
    assert_eq!(now.matches("minutes.txt").count(), 1, "{now}");
    let all = weft_ok(&bob, &work, &["attachments", "Welcome", "--removed"]);
    assert!(all.contains("removed by"), "{all}");
    weft_ok(&bob, &work, &["attachment", "restore", "Welcome", &newest]);
    let back = weft_ok(&bob, &work, &["attachments", "Welcome"]);
    assert_eq!(back.matches("minutes.txt").count(), 2, "{back}");
}

// ---------------------------------------------------------------------------------------------
// The terminal UI.

#[test]
fn the_app_shows_attachments_and_saves_one_in_the_background() {
    use crossterm::event::KeyCode;
    use tui_support::*;
    use weft::tui::{Msg, Target};

    let _one = serial();
    let s = Sample::new();
    let rig = folder();
    let files = tempfile::tempdir().unwrap();
    let blobs = Blobs::new(rig.bucket.clone(), WS);
    let src = files.path().join("diagram.png");
    write_file(&src, 4, 1_234_567);
    let meta = blobs.upload_blocking(&src).unwrap();
    let mut other = s.other_process("local");
    other
        .workspace()
        .attach(s.ids.welcome, meta.clone())
        .unwrap();
    other.workspace().attach(s.ids.invite, meta).unwrap();
    other.flush().unwrap();
    drop(other);

    let mut app = s.app();
    let out = files.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    app.set_blobs(blobs);
    app.set_save_folder(out.clone());

    // In the doc, under the title; and in the card's detail.
    app.open(Target::Doc(s.ids.welcome));
    let t = draw(&mut app, 80, 24);
    assert!(
        find(t.backend().buffer(), "diagram.png (1.2 MB)").is_some(),
        "{}",
        screen(t.backend().buffer())
    );
    app.open(Target::Card(s.ids.invite));
    let t = draw(&mut app, 120, 40);
    assert!(
        find(t.backend().buffer(), "diagram.png (1.2 MB)").is_some(),
        "{}",
        screen(t.backend().buffer())
    );

    // A asks which one (the first is offered), enter saves it without waiting for it.
    app.update(ch('A'));
    assert_eq!(app.screen_name(), "INPUT");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "CARD", "{:?}", app.status_text());
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.downloads_running() > 0 {
        assert!(Instant::now() < deadline, "the save never finished");
        std::thread::sleep(Duration::from_millis(20));
        app.update(Msg::Refresh);
    }
    let status = app.status_text().unwrap_or_default().to_string();
    assert!(status.contains("saved diagram.png"), "{status}");
    assert_eq!(sha_of(&out.join("diagram.png")), sha_of(&src));

    // Again: the file is there, so the prompt stays open and says why.
    app.update(ch('A'));
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "INPUT");
    let t = draw(&mut app, 120, 40);
    assert!(
        find(t.backend().buffer(), "already exists").is_some(),
        "{}",
        screen(t.backend().buffer())
    );
    app.update(key(KeyCode::Esc));
}
