//! Shared-workspace test helpers: devices with their own database, a carrier between them, and
//! a modified client that signs what its weft would refuse.
#![allow(dead_code)]

use super::acl_common::{certificate, config, device, Device};
use loro::ExportMode;
use weft::acl::DeviceIdentity;
use weft::acl::Outcome;
use weft::acl::Role;
use weft::crypto::envelope::HEADER_VERSION;
use weft::crypto::{Envelope, EnvelopeHeader};
use weft::identity::LocalWallet;
use weft::identity::{DeviceKey, VerifyPolicy};
use weft::model::{Clock, Workspace};
use weft::store::{Replica, SharedTable};
use weft::sync::bucket::Bucket;
use weft::sync::share::BucketSync;

pub struct Dev {
    pub dir: tempfile::TempDir,
    pub device: Device,
    pub replica: Option<Replica>,
}

impl Dev {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("weft.db")
    }
    pub fn r(&mut self) -> &mut Replica {
        self.replica.as_mut().expect("open")
    }
    /// Close and open again: everything is replayed from the file.
    pub fn restart(&mut self) {
        self.replica = None;
        self.replica = Some(
            Replica::open_shared(&self.path(), None, self.device.identity.clone(), config())
                .expect("reopen"),
        );
    }
}

pub fn found(owner: &LocalWallet) -> Dev {
    found_as(device(owner))
}

/// A device whose keys come from `seed` (stable ids for screen snapshots).
pub fn fixed_device(wallet: &LocalWallet, seed: u8) -> Device {
    let key = DeviceKey::from_secret_bytes(&[seed; 32]).expect("device key");
    let cert = certificate(wallet, &key);
    let identity = DeviceIdentity::new(key.clone(), cert, &VerifyPolicy::default()).expect("id");
    Device { key, identity }
}

/// A wallet whose key comes from `seed`.
pub fn fixed_wallet(seed: u8) -> LocalWallet {
    LocalWallet::from_secret_bytes(&[seed; 32]).expect("wallet key")
}

pub fn found_as(device: Device) -> Dev {
    let dir = tempfile::tempdir().unwrap();
    let replica = Replica::create_shared(
        &dir.path().join("weft.db"),
        None,
        "team",
        device.identity.clone(),
        config(),
    )
    .expect("create");
    Dev {
        dir,
        device,
        replica: Some(replica),
    }
}

pub fn join(from: &Dev, wallet: &LocalWallet) -> Dev {
    join_as(from, device(wallet))
}

pub fn join_as(from: &Dev, device: Device) -> Dev {
    let from = from.replica.as_ref().unwrap();
    let genesis = from.genesis().unwrap().expect("genesis");
    // The join code hands over the carrier key.
    let carrier = from
        .sync_value("carrier.key")
        .unwrap()
        .expect("carrier key");
    joined(&genesis, &carrier, device)
}

/// `device`'s own database of the workspace that starts with `genesis`, holding nothing else yet
/// but the carrier key.
pub fn joined(genesis: &[u8], carrier: &str, device: Device) -> Dev {
    let dir = tempfile::tempdir().unwrap();
    let replica = Replica::join_shared(
        &dir.path().join("weft.db"),
        None,
        genesis,
        device.identity.clone(),
        config(),
    )
    .expect("join");
    replica.set_sync_value("carrier.key", carrier).unwrap();
    Dev {
        dir,
        device,
        replica: Some(replica),
    }
}

/// Deliver everything `from` holds to `to`, as a live peer answering a Hello would.
pub fn carry(from: &mut Dev, to: &mut Dev) -> Vec<Outcome> {
    let src = from.r();
    let ops = src.inputs(SharedTable::AclOps, 0).unwrap();
    let envs = src.inputs(SharedTable::Envelopes, 0).unwrap();
    let dst = to.r();
    for (_, op) in ops {
        dst.receive_acl_op("test", &op).unwrap();
    }
    envs.into_iter()
        .map(|(_, e)| dst.receive_envelope("test", &e).unwrap().outcome)
        .collect()
}

pub fn titles(r: &Replica) -> Vec<String> {
    let mut t: Vec<String> = r
        .workspace()
        .docs(false)
        .iter()
        .map(|d| d.title.clone())
        .collect();
    t.sort();
    t
}

pub fn body_of(r: &Replica, title: &str) -> String {
    r.workspace().body(doc_id(r, title)).unwrap()
}

/// The id of the doc called `title`.
pub fn doc_id(r: &Replica, title: &str) -> weft::model::ItemId {
    r.workspace()
        .docs(false)
        .into_iter()
        .find(|d| d.title == title)
        .unwrap_or_else(|| panic!("no doc called {title:?}"))
        .id
}

/// The body of `title` after reading what other processes wrote.
pub fn body_now(dev: &mut Dev, title: &str) -> String {
    dev.r().refresh().unwrap();
    body_of(dev.r(), title)
}

/// An edit signed with `dev`'s key that skips every local check (a modified client).
pub fn rogue(dev: &mut Dev, seq: u64, edit: impl FnOnce(&Workspace)) -> Vec<u8> {
    let doc = dev.r().engine().expect("shared").workspace().loro().fork();
    let before = doc.oplog_vv();
    let ws = Workspace::open_replica(doc, "rogue", Clock::System);
    edit(&ws);
    ws.commit();
    let payload = ws.loro().export(ExportMode::updates(&before)).unwrap();
    signed_as(dev, seq, &payload, vec![ws.loro().peer_id()])
}

/// `payload` sealed under the current epoch key and signed with `dev`'s key as its envelope
/// number `seq`, declaring `peers`, with no local check at all (a modified client).
pub fn signed_as(dev: &mut Dev, seq: u64, payload: &[u8], peers: Vec<u64>) -> Vec<u8> {
    let key = dev.device.key.clone();
    let engine = dev.r().engine().expect("shared");
    let epoch = engine.current_epoch();
    let epoch_key = engine
        .epoch_keys()
        .into_iter()
        .find(|(e, _)| *e == epoch)
        .map(|(_, k)| k)
        .expect("the current key");
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: engine.workspace_id(),
        epoch,
        device: key.id(),
        cert_hash: engine.identity().cert_hash(),
        seq,
        time: time::OffsetDateTime::now_utc().unix_timestamp(),
        peers,
        acl_heads: engine.log().heads(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    Envelope::seal_encrypted(header, payload, &key, &epoch_key)
        .unwrap()
        .encode()
}

/// Carry both ways until neither has anything new for the other (key shares and rotations are
/// answers to what the other wrote).
pub fn settle(a: &mut Dev, b: &mut Dev) {
    for _ in 0..3 {
        carry(a, b);
        carry(b, a);
    }
}

/// The bucket side of `dev`'s workspace.
pub fn sync_of(bucket: &Bucket, dev: &mut Dev) -> BucketSync {
    BucketSync::for_replica(bucket.clone(), dev.r()).unwrap()
}

/// A new device of `wallet` with nothing but the workspace's genesis from the bucket and the
/// carrier key `from` holds (what a join code hands over); it has read nothing else yet.
pub fn device_from_bucket(sync: &BucketSync, from: &mut Dev, wallet: &LocalWallet) -> Dev {
    let genesis = sync.fetch_genesis().expect("genesis from the bucket");
    let carrier = from.r().sync_value("carrier.key").unwrap().unwrap();
    joined(&genesis, &carrier, device(wallet))
}

/// A new device of `wallet` made from the bucket alone: the genesis, then whatever the bucket
/// holds. A new member is invited (the code's secret opens the keys); a second device of a member
/// gets the keys from the member's other device once that one syncs.
pub fn join_from_bucket(bucket: &Bucket, owner: &mut Dev, wallet: &LocalWallet) -> Dev {
    let is_member = owner
        .r()
        .members()
        .unwrap()
        .role(&wallet.address())
        .is_some();
    let secret = (!is_member).then(|| owner.r().invite(wallet.address(), Role::Editor).unwrap());
    let sync = sync_of(bucket, owner);
    sync.round(owner.r()).unwrap();
    let Dev {
        dir,
        device,
        replica,
    } = device_from_bucket(&sync, owner, wallet);
    let mut replica = replica.unwrap();
    sync.round(&mut replica).unwrap();
    assert!(
        replica.my_role().is_some(),
        "a member once the ops are read"
    );
    if let Some(secret) = &secret {
        assert!(replica.redeem_invite(secret).unwrap(), "the invite opens");
    }
    replica.publish_device().unwrap();
    sync.round(&mut replica).unwrap();
    // The other side answers (a key share for a second device), then the newcomer reads it.
    sync.round(owner.r()).unwrap();
    sync.round(&mut replica).unwrap();
    Dev {
        dir,
        device,
        replica: Some(replica),
    }
}

/// A relay on a free port of 127.0.0.1, on its own thread: its URL, the thread, and what stops it.
pub fn relay() -> (
    String,
    std::thread::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            weft::relay::serve(listener, Default::default(), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("ws://{addr}"), handle, stop)
}

/// A live worker on `dev`'s database, in the room of `relay` (one URL or a comma-separated list).
pub fn live(dev: &Dev, relay: &str) -> weft::sync::live::LiveWorker {
    let path = dev.path();
    let me = dev.device.identity.clone();
    weft::sync::live::LiveWorker::spawn(
        move || Ok(Replica::open_shared(&path, None, me, config())?),
        relay.to_string(),
        Box::new(|| {}),
    )
}

/// Wait (at most 20 s) until `w` is connected to its room.
pub fn wait_online(w: &weft::sync::live::LiveWorker) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !w.status().online {
        assert!(
            std::time::Instant::now() < deadline,
            "never connected: {:?}",
            w.status()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An owner with a doc called `title` and an editor who joined, each holding all the other has.
pub fn members(title: &str) -> (Dev, Dev) {
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner.r().workspace().create_doc(title, None).unwrap();
    owner.r().flush().unwrap();
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    let mut editor = join(&owner, &ew);
    carry(&mut owner, &mut editor);
    editor.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    (owner, editor)
}

/// [`members`], each with a live worker in the room of `relay`, both connected.
pub fn pair(
    relay: &str,
    title: &str,
) -> (
    Dev,
    Dev,
    weft::sync::live::LiveWorker,
    weft::sync::live::LiveWorker,
) {
    let (owner, editor) = members(title);
    let (a, b) = (live(&owner, relay), live(&editor, relay));
    wait_online(&a);
    wait_online(&b);
    (owner, editor, a, b)
}
