//! Initial sync: a new member joins a workspace of 100,000 changes (one keystroke
//! each in one of 100 docs, each sealed into its own envelope, as the app does while typing slowly) from the in-process S3 server, and reads,
//! verifies, decrypts and applies all of it. Then the owner writes a snapshot, types 1,000 more
//! changes, and a second new member joins from the snapshot and those tails. Reports objects
//! fetched and seconds for both, and how long reopening each device takes.
//!
//! `WEFT_BENCH_CHANGES` sets the number of changes (default 100,000).

#[path = "../tests/bucket_common/s3.rs"]
#[allow(dead_code)]
mod s3;

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use weft::acl::{DeviceIdentity, ReplicaConfig};
use weft::identity::{DeviceKey, LocalWallet, PairingCertificate, PairingRequest, VerifyPolicy};
use weft::store::Replica;
use weft::sync::share::BucketSync;

fn identity(wallet: &LocalWallet) -> DeviceIdentity {
    let key = DeviceKey::generate();
    let now = OffsetDateTime::now_utc();
    let request = PairingRequest::new(wallet.address(), key.id(), now - time::Duration::days(1));
    let cert = PairingCertificate::sign_with(&request, wallet).unwrap();
    DeviceIdentity::new(key, cert, &VerifyPolicy::default()).unwrap()
}

fn main() {
    let changes: usize = std::env::var("WEFT_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = s3::S3Server::start();
    let bucket = server.bucket("bench/weft");
    let dir = tempfile::tempdir().unwrap();
    let wallet = LocalWallet::generate();
    let mut laptop = Replica::create_shared(
        &dir.path().join("laptop.db"),
        None,
        "bench",
        identity(&wallet),
        ReplicaConfig::default(),
    )
    .unwrap();
    let doc = laptop.workspace().create_doc("Long", None).unwrap();
    let started = Instant::now();
    for i in 0..changes {
        let mut text = laptop.workspace().text(doc).unwrap();
        text.insert(i % 97, if i % 2 == 0 { "a" } else { "b" })
            .unwrap();
        laptop.workspace().commit();
        laptop.flush().unwrap();
    }
    let written = started.elapsed();
    // No snapshot by itself: the first join measures reading every change.
    let sync = BucketSync::for_replica(bucket.clone(), &laptop)
        .unwrap()
        .snapshot_every(None);
    let t = Instant::now();
    let up = sync.round(&mut laptop).unwrap();
    let upload = t.elapsed();
    let genesis = sync.fetch_genesis().unwrap();
    let carrier = laptop.sync_value("carrier.key").unwrap().unwrap();

    // A new member joins from the bucket alone with the join code: membership first, then the
    // invite's keys, then every log.
    let member = LocalWallet::generate();
    let secret = laptop
        .invite(member.address(), weft::acl::Role::Editor)
        .unwrap();
    sync.round(&mut laptop).unwrap();
    let t = Instant::now();
    let mut desktop = Replica::join_shared(
        &dir.path().join("desktop.db"),
        None,
        &genesis,
        identity(&member),
        ReplicaConfig::default(),
    )
    .unwrap();
    desktop.set_sync_value("carrier.key", &carrier).unwrap();
    let first = sync.fetch_membership(&mut desktop).unwrap();
    assert!(desktop.redeem_invite(&secret).unwrap(), "the invite opens");
    let last = sync.round(&mut desktop).unwrap();
    let join = t.elapsed();
    let got = desktop
        .workspace()
        .body(doc)
        .map(|b| b.chars().count())
        .unwrap_or(0);
    assert_eq!(got, changes, "the new device reads everything");
    let t = Instant::now();
    drop(desktop);
    let reopened = Replica::open_shared(
        &dir.path().join("desktop.db"),
        None,
        identity(&member),
        ReplicaConfig::default(),
    );
    let reopen: Duration = t.elapsed();
    drop(reopened);
    println!(
        "{changes} changes: written locally in {:.1} s; uploaded in {:.2} s as {} objects; \
         a new member joined with the join code, fetched {} objects and applied everything in \
         {:.2} s ({} waited on something); reopening that device's database (replaying every \
         envelope) took {:.2} s",
        written.as_secs_f64(),
        upload.as_secs_f64(),
        up.uploaded,
        first.downloaded + last.downloaded,
        join.as_secs_f64(),
        first.pending + last.pending,
        reopen.as_secs_f64(),
    );

    // With a snapshot: the owner writes one, types a tail, and another member joins.
    let t = Instant::now();
    let mut report = weft::sync::share::Report::default();
    sync.publish_snapshot(&mut laptop, &mut report).unwrap();
    let snap_written = t.elapsed();
    let tail = 1_000;
    for i in 0..tail {
        let mut text = laptop.workspace().text(doc).unwrap();
        text.insert(i % 89, "c").unwrap();
        laptop.workspace().commit();
        laptop.flush().unwrap();
    }
    let third = LocalWallet::generate();
    let secret = laptop
        .invite(third.address(), weft::acl::Role::Editor)
        .unwrap();
    sync.round(&mut laptop).unwrap();
    let t = Instant::now();
    let mut tablet = Replica::join_shared(
        &dir.path().join("tablet.db"),
        None,
        &genesis,
        identity(&third),
        ReplicaConfig::default(),
    )
    .unwrap();
    tablet.set_sync_value("carrier.key", &carrier).unwrap();
    let first = sync.fetch_membership(&mut tablet).unwrap();
    assert!(tablet.redeem_invite(&secret).unwrap(), "the invite opens");
    let last = sync.round(&mut tablet).unwrap();
    let join = t.elapsed();
    assert!(
        last.from_snapshot,
        "the second member starts from the snapshot"
    );
    let got = tablet
        .workspace()
        .body(doc)
        .map(|b| b.chars().count())
        .unwrap_or(0);
    assert_eq!(got, changes + tail, "it reads everything");
    let held = tablet
        .count_inputs(weft::store::SharedTable::Envelopes, 0)
        .unwrap();
    drop(tablet);
    let t = Instant::now();
    let reopened = Replica::open_shared(
        &dir.path().join("tablet.db"),
        None,
        identity(&third),
        ReplicaConfig::default(),
    );
    let reopen: Duration = t.elapsed();
    drop(reopened);
    println!(
        "with a snapshot: the owner wrote it in {:.2} s ({} objects up); after {tail} more \
         changes a new member joined, fetched {} objects, holds {held} envelopes and applied \
         everything in {:.2} s; reopening that device took {:.2} s",
        snap_written.as_secs_f64(),
        report.uploaded,
        first.downloaded + last.downloaded,
        join.as_secs_f64(),
        reopen.as_secs_f64(),
    );
}
