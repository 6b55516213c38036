//! Sharing a workspace through a bucket, against a real S3 protocol server in-process (s3s +
//! s3s-fs through object_store's S3 client) and a plain folder: devices of two wallets edit
//! offline, sync in random orders and converge; new devices join from the bucket alone; damaged,
//! swapped and foreign objects are kept in quarantine and sync goes on; a store failing a share
//! of its calls delays sync but loses nothing.

mod acl_common;
mod bucket_common;
mod shared_common;

use std::sync::Arc;

use bucket_common::faults::{FaultPlan, FaultyStore, Tamper};
use bucket_common::rig::{folder, s3, Rig};
use object_store::local::LocalFileSystem;
use rand::{seq::SliceRandom, Rng, SeedableRng};
use shared_common::*;
use weft::acl::Role;
use weft::identity::LocalWallet;
use weft::store::Replica;
use weft::sync::bucket::{Bucket, RetryPolicy};
use weft::sync::share::{BucketSync, Report};

/// Everything a user sees of the documents: titles and bodies, sorted.
fn docs(r: &Replica) -> Vec<(String, String)> {
    let ws = r.workspace();
    let mut out: Vec<(String, String)> = ws
        .docs(false)
        .into_iter()
        .map(|d| (d.title.clone(), ws.body(d.id).unwrap()))
        .collect();
    out.sort();
    out
}

/// Rounds in a random order until a full pass changes nothing.
fn sync_until_quiet(rng: &mut rand::rngs::StdRng, bucket: &Bucket, devs: &mut [&mut Dev]) {
    for _ in 0..10 {
        let mut order: Vec<usize> = (0..devs.len()).collect();
        order.shuffle(rng);
        let mut quiet = true;
        for i in order {
            let sync = sync_of(bucket, devs[i]);
            let report = sync.round(devs[i].r()).expect("round");
            quiet &= report == Report::default();
        }
        if quiet {
            return;
        }
    }
    panic!("sync did not settle in 10 passes");
}

fn three_devices_two_wallets_edit_offline_and_converge(rig: Rig, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut laptop = found(&ow);
    let plan = laptop.r().workspace().create_doc("Plan", None).unwrap();
    laptop
        .r()
        .workspace()
        .set_body(plan, "Goals\nRisks\n")
        .unwrap();
    laptop
        .r()
        .workspace()
        .create_doc("Vault", None)
        .and_then(|v| {
            laptop
                .r()
                .workspace()
                .set_body(v, "the secret is swordfish")
        })
        .unwrap();
    laptop.r().flush().unwrap();
    sync_of(&rig.bucket, &mut laptop).round(laptop.r()).unwrap();

    // A second device of the owner, and the editor's device: from the bucket alone.
    let mut desktop = join_from_bucket(&rig.bucket, &mut laptop, &ow);
    let mut editor = join_from_bucket(&rig.bucket, &mut laptop, &ew);
    assert_eq!(desktop.r().my_role(), Some(Role::Owner));
    assert_eq!(editor.r().my_role(), Some(Role::Editor));
    assert_eq!(docs(editor.r()), docs(laptop.r()), "joined with everything");

    // Offline edits on all three, some in the same text.
    for (dev, who) in [
        (&mut laptop, "laptop"),
        (&mut desktop, "desktop"),
        (&mut editor, "editor"),
    ] {
        let ws = dev.r().workspace();
        let plan = ws
            .docs(false)
            .into_iter()
            .find(|d| d.title == "Plan")
            .unwrap()
            .id;
        ws.create_doc(&format!("Notes from {who}"), None).unwrap();
        let at = rng.gen_range(0..6);
        ws.text(plan)
            .unwrap()
            .insert(at, &format!("[{who}]"))
            .unwrap();
        ws.commit();
        dev.r().flush().unwrap();
    }
    sync_until_quiet(
        &mut rng,
        &rig.bucket,
        &mut [&mut laptop, &mut desktop, &mut editor],
    );
    let seen = docs(laptop.r());
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(docs(desktop.r()), seen);
    assert_eq!(docs(editor.r()), seen);
    let body = &seen.iter().find(|(t, _)| t == "Plan").unwrap().1;
    for who in ["laptop", "desktop", "editor"] {
        assert!(body.contains(&format!("[{who}]")), "{body}");
    }
    // The bucket holds ciphertext only: no text, no title, no wallet address in any form.
    let objects = rig.raw_objects();
    assert!(objects.len() >= 6, "{} objects", objects.len());
    let mut needles: Vec<Vec<u8>> = [
        "swordfish",
        "Goals",
        "Notes from laptop",
        "Vault",
        "[editor]",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for w in [&ow, &ew] {
        let c = w.address().to_checksum();
        needles.push(c.clone().into_bytes());
        needles.push(c[2..].to_lowercase().into_bytes());
        needles.push(w.address().as_bytes().to_vec());
    }
    for o in &objects {
        for n in &needles {
            assert!(
                !o.windows(n.len()).any(|w| w == n.as_slice()),
                "an object in the bucket holds {:?}",
                String::from_utf8_lossy(n)
            );
        }
    }
    for d in [&mut laptop, &mut desktop, &mut editor] {
        assert!(d.r().quarantine().is_empty());
        // And after a restart, from the file alone.
        d.restart();
        assert_eq!(docs(d.r()), seen);
    }
}

#[test]
fn three_devices_two_wallets_converge_through_a_folder() {
    three_devices_two_wallets_edit_offline_and_converge(folder(), 1);
}

#[test]
fn three_devices_two_wallets_converge_through_s3() {
    three_devices_two_wallets_edit_offline_and_converge(s3(), 2);
}

#[test]
fn damaged_swapped_and_foreign_objects_are_quarantined_and_sync_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn object_store::ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let faulty = FaultyStore::new(inner.clone(), 7, FaultPlan::none());
    let fast = RetryPolicy {
        attempts: 6,
        first_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let clean = Bucket::from_store(inner, "", "folder").with_retry(fast.clone());
    let flaky = Bucket::from_store(faulty.clone(), "", "flaky").with_retry(fast);

    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    sync_of(&clean, &mut owner).round(owner.r()).unwrap();
    let mut editor = join_from_bucket(&clean, &mut owner, &ew);

    // The owner writes three times; each lands in its own log segment.
    let ws_hex = owner.r().engine().unwrap().workspace_id().to_string();
    let device_hex = hex::encode(owner.device.key.id().as_bytes());
    for title in ["one", "two", "three"] {
        owner.r().workspace().create_doc(title, None).unwrap();
        owner.r().flush().unwrap();
        sync_of(&clean, &mut owner).round(owner.r()).unwrap();
    }
    let seg = |seq: u64| weft::sync::bucket::keys::log_key(&ws_hex, &device_hex, seq);
    // Someone with write access to the bucket drops junk into the owner's log folder.
    let junk_key = format!(
        "{}/zzzz-junk",
        weft::sync::bucket::keys::device_log_prefix(&ws_hex, &device_hex)
    );
    std::fs::write(dir.path().join(&junk_key), b"not a segment").unwrap();

    // Reads of two segments are damaged, one is swapped, and 30% of calls fail.
    faulty.tamper(&seg(3), Tamper::FlipBit(900));
    faulty.tamper(&seg(4), Tamper::Truncate(20));
    faulty.tamper(&seg(5), Tamper::SwapWith(seg(1)));
    faulty.set_plan(FaultPlan::flaky(0.3));
    let sync = sync_of(&flaky, &mut editor);
    let mut rounds_ok = 0;
    for _ in 0..20 {
        if sync.round(editor.r()).is_ok() {
            rounds_ok += 1;
        }
    }
    assert!(rounds_ok > 0, "sync keeps going under faults");
    let refused = editor.r().quarantine();
    assert!(
        refused.len() >= 2,
        "damaged and foreign objects are kept with reasons: {refused:?}"
    );
    for q in &refused {
        assert!(!q.reason.to_string().is_empty());
    }
    let titles_now = titles(editor.r());
    assert!(!titles_now.contains(&"two".to_string()) || !titles_now.contains(&"three".to_string()));

    // The faults stop. What looked damaged was damaged on the way, not in the bucket: nothing
    // changed there, so it is read again only now and then (after 2, 4, 8… rounds), and then
    // everything arrives.
    faulty.set_plan(FaultPlan::none());
    for k in [seg(3), seg(4), seg(5)] {
        faulty.untamper(&k);
    }
    let mut rounds = 0;
    while docs(editor.r()) != docs(owner.r()) {
        rounds += 1;
        assert!(rounds <= 64, "the damaged segments were never read again");
        sync.round(editor.r()).expect("a clean round");
    }
    editor.restart();
    assert_eq!(docs(editor.r()), docs(owner.r()));
}

#[test]
fn a_join_code_for_another_bucket_or_a_tampered_genesis_is_refused() {
    let rig = folder();
    let ow = LocalWallet::generate();
    let mut owner = found(&ow);
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    // Another workspace's id: nothing there.
    let mut other = found(&LocalWallet::generate());
    let err = sync_of(&rig.bucket, &mut other)
        .fetch_genesis()
        .unwrap_err();
    assert!(err.to_string().contains("holds no workspace"), "{err}");
    // The right workspace with the wrong key: the genesis does not open.
    let id = owner.r().engine().unwrap().workspace_id();
    let wrong = weft::sync::seal::CarrierKey::generate();
    let err = BucketSync::new(rig.bucket.clone(), id, wrong)
        .unwrap()
        .fetch_genesis()
        .unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

#[test]
fn a_removed_member_s_new_device_cannot_read_what_was_written_after() {
    let rig = folder();
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner.r().workspace().create_doc("Before", None).unwrap();
    owner.r().flush().unwrap();
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    let mut editor = join_from_bucket(&rig.bucket, &mut owner, &ew);
    assert!(titles(editor.r()).contains(&"Before".to_string()));
    let old_epoch = owner.r().engine().unwrap().current_epoch();
    owner.r().remove_member(ew.address()).unwrap();
    let after = owner.r().workspace().create_doc("After", None).unwrap();
    owner
        .r()
        .workspace()
        .set_body(after, "the secret is swordfish")
        .unwrap();
    owner.r().flush().unwrap();
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    assert!(
        owner.r().engine().unwrap().current_epoch() > old_epoch,
        "the key rotated"
    );

    // The removed member pairs a new device and reads the bucket with the carrier key they kept.
    let sync = sync_of(&rig.bucket, &mut editor);
    let mut fresh = device_from_bucket(&sync, &mut editor, &ew);
    let fresh = fresh.r();
    sync.round(fresh).unwrap();
    sync.round(fresh).unwrap();
    assert_eq!(fresh.my_role(), None);
    assert!(
        fresh.publish_device().is_err(),
        "a removed member cannot add a device"
    );
    assert!(!titles(fresh).contains(&"After".to_string()));
    // Their old device, syncing again, cannot read it either.
    sync.round(editor.r()).unwrap();
    assert!(!titles(editor.r()).contains(&"After".to_string()));
    let waiting = editor.r().engine().unwrap().pending();
    assert!(
        waiting.iter().any(|p| p.missing.epoch.is_some()),
        "what was written after waits for a key they will never get: {waiting:?}"
    );
}

/// A new member's device made the way `weft join` makes it: membership first, then the invite
/// is opened, then the logs (so a snapshot can be used). Returns the device and its first round.
fn join_like_the_cli(bucket: &Bucket, owner: &mut Dev, wallet: &LocalWallet) -> (Dev, Report) {
    let secret = owner.r().invite(wallet.address(), Role::Editor).unwrap();
    join_with(bucket, owner, wallet, &secret)
}

/// The newcomer's side of [`join_like_the_cli`], for an invite made earlier; `from` syncs first
/// and hands over the genesis and the carrier key (as a join code does).
fn join_with(
    bucket: &Bucket,
    from: &mut Dev,
    wallet: &LocalWallet,
    secret: &weft::crypto::InviteSecret,
) -> (Dev, Report) {
    let sync = sync_of(bucket, from);
    sync.round(from.r()).unwrap();
    let mut dev = device_from_bucket(&sync, from, wallet);
    let replica = dev.r();
    sync.fetch_membership(replica).unwrap();
    assert!(replica.redeem_invite(secret).unwrap(), "the invite opens");
    let first = sync.round(replica).unwrap();
    replica.publish_device().unwrap();
    sync.round(replica).unwrap();
    (dev, first)
}

/// Fresh wallets.
fn wallets<const N: usize>() -> [LocalWallet; N] {
    std::array::from_fn(|_| LocalWallet::generate())
}

/// `n` edits of `title`'s body, each its own envelope, uploaded in one round.
fn typed(bucket: &Bucket, dev: &mut Dev, title: &str, n: usize) {
    let ws = dev.r().workspace();
    let doc = ws
        .docs(false)
        .into_iter()
        .find(|d| d.title == title)
        .map(|d| d.id)
        .unwrap_or_else(|| ws.create_doc(title, None).unwrap());
    for i in 0..n {
        let ws = dev.r().workspace();
        let body = ws.body(doc).unwrap();
        ws.set_body(doc, &format!("{body}{}", i % 10)).unwrap();
        dev.r().flush().unwrap();
    }
    sync_of(bucket, dev).round(dev.r()).unwrap();
}

fn a_new_member_starts_from_the_admin_s_snapshot(rig: Rig) {
    let [ow, ew, nw] = wallets();
    let mut owner = found(&ow);
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    let (mut editor, _) = join_like_the_cli(&rig.bucket, &mut owner, &ew);
    // History in several segments of each device's log, written in several rounds.
    for _ in 0..3 {
        typed(&rig.bucket, &mut owner, "Plan", 40);
        typed(&rig.bucket, &mut editor, "Notes", 40);
    }
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    assert!(
        editor.r().publish_device().is_ok() && editor.r().seal_snapshot().is_err(),
        "an editor may not write snapshots"
    );
    let mut report = Report::default();
    sync_of(&rig.bucket, &mut owner)
        .publish_snapshot(owner.r(), &mut report)
        .expect("the owner writes a snapshot");
    // Both keep typing in the same sessions after it: the tail.
    typed(&rig.bucket, &mut owner, "Plan", 5);
    typed(&rig.bucket, &mut editor, "Notes", 5);
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();

    let (mut newcomer, first) = join_like_the_cli(&rig.bucket, &mut owner, &nw);
    assert!(
        first.from_snapshot,
        "it started from the snapshot: {first:?}"
    );
    // Each log has more than one segment before the snapshot; those are not read.
    let held = newcomer
        .r()
        .count_inputs(weft::store::SharedTable::Envelopes, 0)
        .unwrap();
    let all = owner
        .r()
        .count_inputs(weft::store::SharedTable::Envelopes, 0)
        .unwrap();
    assert!(
        held < 30 && all > 240,
        "the newcomer holds {held} envelopes of {all}: the snapshot and the tails"
    );
    assert!(
        first.downloaded < 8,
        "objects read to join: {}",
        first.downloaded
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    sync_until_quiet(
        &mut rng,
        &rig.bucket,
        &mut [&mut owner, &mut editor, &mut newcomer],
    );
    assert_eq!(
        docs(newcomer.r()),
        docs(owner.r()),
        "waiting: {:?}",
        newcomer.r().engine().unwrap().pending()
    );
    assert!(
        newcomer.r().quarantine().is_empty(),
        "{:?}",
        newcomer.r().quarantine()
    );
    // The tails of peers bound before the snapshot are accepted: the editor's and the owner's
    // sessions go on, and so does the newcomer's own edit.
    typed(&rig.bucket, &mut editor, "Notes", 3);
    typed(&rig.bucket, &mut newcomer, "Plan", 3);
    sync_until_quiet(
        &mut rng,
        &rig.bucket,
        &mut [&mut owner, &mut editor, &mut newcomer],
    );
    assert_eq!(docs(newcomer.r()), docs(owner.r()));
    assert_eq!(docs(editor.r()), docs(owner.r()));
    assert!(body_of(owner.r(), "Plan").ends_with("012"));
    // Opened again, it is the same workspace.
    let before = docs(newcomer.r());
    newcomer.restart();
    assert_eq!(docs(newcomer.r()), before);
}

#[test]
fn a_new_member_starts_from_the_admin_s_snapshot_in_a_folder() {
    a_new_member_starts_from_the_admin_s_snapshot(folder());
}

#[test]
fn a_new_member_starts_from_the_admin_s_snapshot_in_s3() {
    a_new_member_starts_from_the_admin_s_snapshot(s3());
}

#[test]
fn a_snapshot_from_a_non_admin_is_refused_and_the_joiner_uses_a_valid_one() {
    let rig = folder();
    let [ow, ew, nw] = wallets();
    let mut owner = found(&ow);
    sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
    let (mut editor, _) = join_like_the_cli(&rig.bucket, &mut owner, &ew);
    typed(&rig.bucket, &mut owner, "Plan", 20);
    typed(&rig.bucket, &mut editor, "Notes", 20);
    let sync = sync_of(&rig.bucket, &mut owner);
    sync.round(owner.r()).unwrap();
    sync.publish_snapshot(owner.r(), &mut Report::default())
        .unwrap();
    typed(&rig.bucket, &mut owner, "Plan", 2);

    // A modified client of the editor signs a snapshot of its own version of the workspace,
    // claiming it covers everything, and puts it where the newest snapshot goes.
    sync_of(&rig.bucket, &mut editor).round(editor.r()).unwrap();
    let forged = {
        let doc = editor.r().engine().unwrap().workspace().loro().fork();
        let ws = weft::model::Workspace::open_replica(doc, "rogue", weft::model::Clock::System);
        let id = ws.create_doc("Planted", None).unwrap();
        ws.set_body(id, "the editor's own history").unwrap();
        ws.commit();
        let payload = ws.loro().export(loro::ExportMode::Snapshot).unwrap();
        signed_as(&mut editor, 10_000, &payload, vec![])
    };
    let everything = owner
        .r()
        .engine()
        .unwrap()
        .members()
        .devices
        .keys()
        .map(|d| (*d, u64::MAX / 2))
        .collect();
    let carrier = weft::sync::seal::CarrierKey::from_hex(
        &owner.r().sync_value("carrier.key").unwrap().unwrap(),
    )
    .unwrap();
    let ws_id = owner.r().engine().unwrap().workspace_id();
    let object = carrier.seal(
        &ws_id,
        b"snap",
        &weft::sync::share::encode_snapshot(&everything, &forged, &editor.device.key, &ws_id)
            .unwrap(),
    );
    let key = format!(
        "ws/{}/snap/99999999999999999999-forged",
        hex::encode(ws_id.as_bytes())
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(rig.bucket.put(&key, object.into()))
        .unwrap();

    let (mut newcomer, first) = join_like_the_cli(&rig.bucket, &mut owner, &nw);
    assert!(
        first.from_snapshot,
        "the owner's snapshot was used: {first:?}"
    );
    assert!(first.refused >= 1, "the forged one was refused: {first:?}");
    let refused = newcomer.r().quarantine();
    assert!(
        refused
            .iter()
            .any(|q| q.reason.to_string().contains("snapshot")),
        "the reason names the snapshot: {refused:?}"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    sync_until_quiet(
        &mut rng,
        &rig.bucket,
        &mut [&mut owner, &mut editor, &mut newcomer],
    );
    assert_eq!(docs(newcomer.r()), docs(owner.r()));
    assert!(!titles(newcomer.r()).contains(&"Planted".to_string()));
}

#[test]
fn a_joiner_whose_snapshot_is_voided_by_a_concurrent_removal_reads_every_log_and_converges() {
    let rig = folder();
    let [ow, aw, nw] = wallets();
    let mut owner = found(&ow);
    typed(&rig.bucket, &mut owner, "Plan", 10);
    let secret = owner.r().invite(aw.address(), Role::Admin).unwrap();
    let (mut admin, _) = join_with(&rig.bucket, &mut owner, &aw, &secret);
    typed(&rig.bucket, &mut admin, "Notes", 10);
    let newcomer_secret = owner.r().invite(nw.address(), Role::Editor).unwrap();
    let sync = sync_of(&rig.bucket, &mut owner);
    sync.round(owner.r()).unwrap();

    // The owner, offline, removes the admin; meanwhile the admin types and writes a snapshot.
    owner.r().remove_member(aw.address()).unwrap();
    typed_offline(&mut admin, "Notes", 5);
    let admin_sync = sync_of(&rig.bucket, &mut admin);
    admin_sync
        .publish_snapshot(admin.r(), &mut Report::default())
        .unwrap();

    // The newcomer joins from the admin's snapshot before the removal reaches the bucket.
    let (mut newcomer, first) = join_with(&rig.bucket, &mut admin, &nw, &newcomer_secret);
    assert!(first.from_snapshot, "{first:?}");
    assert!(titles(newcomer.r()).contains(&"Notes".to_string()));

    // The removal arrives: the admin had not been seen by it, so the snapshot and the admin's
    // late changes are void on every replica; the newcomer goes back to the logs.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    sync_until_quiet(&mut rng, &rig.bucket, &mut [&mut owner, &mut newcomer]);
    assert_eq!(
        newcomer.r().sync_value("bucket.snap.used").unwrap(),
        None,
        "the newcomer noticed its snapshot was withdrawn"
    );
    assert_eq!(docs(newcomer.r()), docs(owner.r()));
    assert!(
        body_of(owner.r(), "Notes").len() == 10,
        "the admin's late typing is void: {:?}",
        body_of(owner.r(), "Notes")
    );
    newcomer.restart();
    assert_eq!(docs(newcomer.r()), docs(owner.r()));
}

/// `n` edits of `title`'s body, kept locally (no sync).
fn typed_offline(dev: &mut Dev, title: &str, n: usize) {
    let ws = dev.r().workspace();
    let doc = ws
        .docs(false)
        .into_iter()
        .find(|d| d.title == title)
        .map(|d| d.id)
        .unwrap();
    for i in 0..n {
        let ws = dev.r().workspace();
        let body = ws.body(doc).unwrap();
        ws.set_body(doc, &format!("{body}{}", i % 10)).unwrap();
        dev.r().flush().unwrap();
    }
}

#[test]
fn an_admin_s_rounds_write_a_snapshot_once_enough_changes_arrived() {
    let rig = folder();
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    let (mut editor, _) = join_like_the_cli(&rig.bucket, &mut owner, &ew);
    typed(&rig.bucket, &mut editor, "Notes", 30);
    let sync = sync_of(&rig.bucket, &mut owner).snapshot_every(Some(25));
    let first = sync.round(owner.r()).unwrap();
    assert!(first.snapshot_written, "{first:?}");
    let again = sync.round(owner.r()).unwrap();
    assert!(!again.snapshot_written, "not again until 25 more arrive");
    // An editor's rounds never write one, however much arrives.
    typed(&rig.bucket, &mut owner, "Plan", 30);
    let editor_sync = sync_of(&rig.bucket, &mut editor).snapshot_every(Some(25));
    assert!(!editor_sync.round(editor.r()).unwrap().snapshot_written);
}

#[test]
fn a_round_tells_how_far_its_uploads_and_reads_are() {
    use std::sync::{Arc, Mutex};
    use weft::sync::share::{Phase, Progress};
    let rig = folder();
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    let (mut editor, _) = join_like_the_cli(&rig.bucket, &mut owner, &ew);
    // Three rounds of typing: three segments in the editor's log.
    for _ in 0..3 {
        typed(&rig.bucket, &mut editor, "Notes", 5);
    }
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let tell = seen.clone();
    let sync = sync_of(&rig.bucket, &mut owner)
        .with_progress(Box::new(move |p| tell.lock().unwrap().push(p)));
    // And something of the owner's own to upload.
    owner.r().workspace().create_doc("Owner's", None).unwrap();
    owner.r().flush().unwrap();
    sync.round(owner.r()).unwrap();
    let seen = seen.lock().unwrap();
    let ups: Vec<&Progress> = seen.iter().filter(|p| p.phase == Phase::Upload).collect();
    let up = ups.last().expect("the upload was told");
    assert!(up.total >= 1 && up.total_bytes > 0, "{ups:?}");
    assert_eq!((up.done, up.bytes), (up.total, up.total_bytes));
    assert_eq!(ups[0].done, 0);
    let reads: Vec<&Progress> = seen.iter().filter(|p| p.phase == Phase::Logs).collect();
    let last = reads.last().expect("the log reads were told");
    assert!(last.total >= 3, "{reads:?}");
    assert_eq!((last.done, last.bytes), (last.total, last.total_bytes));
    assert!(
        reads
            .windows(2)
            .all(|w| w[0].done <= w[1].done && w[0].bytes <= w[1].bytes),
        "it only goes forward: {reads:?}"
    );
    assert_eq!(reads[0].done, 0);
}

#[test]
fn a_running_sync_worker_follows_the_workspace_to_its_new_bucket() {
    use weft::model::Carrier;
    let (first, second) = (folder(), folder());
    let url_of = |rig: &Rig| rig.bucket.label().to_string();
    let (old_url, new_url) = (url_of(&first), url_of(&second));
    let [ow, ew] = wallets();
    let mut owner = found(&ow);
    owner
        .r()
        .workspace()
        .set_carrier(Carrier::Bucket, Some(&old_url))
        .unwrap();
    owner.r().flush().unwrap();
    let (mut editor, _) = join_like_the_cli(&first.bucket, &mut owner, &ew);
    // The editor's app: a background worker on its own connection, following the setting.
    let path = editor.path();
    let identity = editor.device.identity.clone();
    let fallback = old_url.clone();
    let worker = weft::sync::worker::SyncWorker::following(
        move || {
            Ok(Replica::open_shared(
                &path,
                None,
                identity,
                acl_common::config(),
            )?)
        },
        old_url.clone(),
        Box::new(move |r| {
            Some(
                r.workspace()
                    .carrier(Carrier::Bucket)
                    .unwrap_or(fallback.clone()),
            )
        }),
    );
    // The owner moves the workspace: the news goes through the old bucket, the content to the
    // new one, and a doc written after the move exists only there.
    owner
        .r()
        .workspace()
        .set_carrier(Carrier::Bucket, Some(&new_url))
        .unwrap();
    owner.r().flush().unwrap();
    sync_of(&first.bucket, &mut owner).round(owner.r()).unwrap();
    let moved = sync_of(&second.bucket, &mut owner);
    moved.round(owner.r()).unwrap();
    moved
        .publish_snapshot(owner.r(), &mut Report::default())
        .unwrap();
    let doc = owner
        .r()
        .workspace()
        .create_doc("After the move", None)
        .unwrap();
    owner
        .r()
        .workspace()
        .set_body(doc, "only in the new bucket")
        .unwrap();
    owner.r().flush().unwrap();
    moved.round(owner.r()).unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        worker.poke();
        std::thread::sleep(std::time::Duration::from_millis(200));
        editor.r().refresh().unwrap();
        if titles(editor.r()).contains(&"After the move".to_string()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never followed: {:?}",
            worker.status()
        );
    }
    assert_eq!(
        body_of(editor.r(), "After the move"),
        "only in the new bucket"
    );
    // And what the editor writes now goes to the new bucket.
    editor.r().workspace().create_doc("Reply", None).unwrap();
    editor.r().flush().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        worker.poke();
        std::thread::sleep(std::time::Duration::from_millis(200));
        moved.round(owner.r()).unwrap();
        if titles(owner.r()).contains(&"Reply".to_string()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            worker.status()
        );
    }
}

/// What a snapshot covers tells a newcomer which log segments to skip. Anyone with the carrier
/// key (any member, a former one) can rewrite an admin's snapshot object; the covers now count
/// only when the snapshot's author signed them, so a rewritten object (keeping the author's old
/// signature, or written in the unsigned first format) makes the newcomer read every log in
/// full, and the editor's changes after the snapshot reach it.
#[test]
fn rewritten_snapshot_covers_do_not_make_a_newcomer_skip_real_changes() {
    for unsigned in [false, true] {
        let rig = folder();
        let [ow, ew, nw] = wallets();
        let mut owner = found(&ow);
        sync_of(&rig.bucket, &mut owner).round(owner.r()).unwrap();
        let (mut editor, _) = join_like_the_cli(&rig.bucket, &mut owner, &ew);
        typed(&rig.bucket, &mut owner, "Plan", 5);
        typed(&rig.bucket, &mut editor, "Notes", 5);
        let sync = sync_of(&rig.bucket, &mut owner);
        sync.round(owner.r()).unwrap();
        let snap = sync
            .publish_snapshot(owner.r(), &mut Report::default())
            .unwrap();
        // Written after the snapshot: only the editor's log holds these.
        typed(&rig.bucket, &mut editor, "Notes", 5);
        typed(&rig.bucket, &mut editor, "Later", 3);

        // The editor rewrites the owner's snapshot to say it covers all of the editor's log,
        // and puts it where the newest snapshot goes.
        let ws_id = owner.r().engine().unwrap().workspace_id();
        let carrier = weft::sync::seal::CarrierKey::from_hex(
            &owner.r().sync_value("carrier.key").unwrap().unwrap(),
        )
        .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sealed = rt.block_on(rig.bucket.get(&snap)).unwrap().unwrap();
        let opened = carrier.open(&ws_id, b"snap", &sealed).unwrap();
        let object = weft::sync::share::decode_snapshot(&opened).unwrap();
        let signature = object.signature.expect("an owner's snapshot is signed");
        // Up to the editor's newest change, so a trusting newcomer would skip every segment.
        let me = editor.device.key.id();
        let newest = editor
            .r()
            .inputs(weft::store::SharedTable::Envelopes, 0)
            .unwrap()
            .iter()
            .filter_map(|(_, b)| weft::crypto::Envelope::decode(b).ok())
            .filter(|e| e.header().device == me)
            .map(|e| e.header().seq)
            .max()
            .unwrap();
        let mut covers = object.covers.clone();
        covers.insert(me, newest);
        let mut forged = b"WFSN".to_vec();
        forged.push(if unsigned { 1 } else { 2 });
        forged.extend_from_slice(&(covers.len() as u32).to_be_bytes());
        for (device, seq) in &covers {
            forged.extend_from_slice(device.as_bytes());
            forged.extend_from_slice(&seq.to_be_bytes());
        }
        if !unsigned {
            forged.extend_from_slice(&signature.0);
        }
        forged.extend_from_slice(object.envelope);
        let key = format!(
            "ws/{}/snap/99999999999999999999-rewritten",
            hex::encode(ws_id.as_bytes())
        );
        rt.block_on(
            rig.bucket
                .put(&key, carrier.seal(&ws_id, b"snap", &forged).into()),
        )
        .unwrap();
        drop(rt);

        // The rewritten object is passed over (the owner's own, older one may still be used).
        let (mut newcomer, _) = join_like_the_cli(&rig.bucket, &mut owner, &nw);
        sync_of(&rig.bucket, &mut editor).round(editor.r()).unwrap();
        sync_of(&rig.bucket, &mut newcomer)
            .round(newcomer.r())
            .unwrap();
        // The floor the newcomer reads the editor's log from is not the forged one (a full
        // check of every log would find skipped segments later; covers must not need it).
        let floor: std::collections::BTreeMap<String, u64> = newcomer
            .r()
            .sync_value("snapshot.covers")
            .unwrap()
            .map(|v| serde_json::from_str(&v).unwrap())
            .unwrap_or_default();
        let editor_floor = floor.get(&hex::encode(me.as_bytes())).copied();
        assert!(
            editor_floor.is_none_or(|f| f < newest),
            "the rewritten covers were trusted: {floor:?}"
        );
        assert_eq!(docs(newcomer.r()), docs(editor.r()), "unsigned: {unsigned}");
        assert!(titles(newcomer.r()).contains(&"Later".to_string()));
    }
}
