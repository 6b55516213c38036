//! End-to-end live latency: a keystroke on device A → sealed into a signed (and, with epochs,
//! encrypted) envelope and written to A's database → sent by A's live worker through the relay on
//! 127.0.0.1 → verified, inspected, applied and written on device B, whose worker then says so.
//! The clock runs from the keystroke to B's notification. Like the measurements this is compared
//! against, 1,000 keystrokes 10 ms apart; p50, p99 and the maximum are printed. (Keystrokes back to
//! back, with no pause, would exceed the relay's default 200 frames/s per connection — a rate no
//! typist reaches, since the app batches what is typed within a frame.)
//!
//! With `WEFT_BENCH_LANE=lan` the same keystrokes go over the LAN lane instead: no relay, B's
//! worker listens on 127.0.0.1 and A's links to it directly (after the membership handshake).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use weft::acl::{DeviceIdentity, ReplicaConfig, Role};
use weft::identity::{DeviceKey, LocalWallet, PairingCertificate, PairingRequest, VerifyPolicy};
use weft::store::{Replica, SharedTable};
use weft::sync::live::LiveWorker;

fn identity(wallet: &LocalWallet) -> DeviceIdentity {
    let key = DeviceKey::generate();
    let now = OffsetDateTime::now_utc();
    let request = PairingRequest::new(wallet.address(), key.id(), now - time::Duration::days(1));
    let cert = PairingCertificate::sign_with(&request, wallet).unwrap();
    DeviceIdentity::new(key, cert, &VerifyPolicy::default()).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    a: Replica,
    live_a: LiveWorker,
    _live_b: LiveWorker,
    arrived: mpsc::Receiver<()>,
    doc: weft::model::ItemId,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Which way the keystrokes travel.
fn lan_lane() -> bool {
    std::env::var("WEFT_BENCH_LANE").as_deref() == Ok("lan")
}

/// A free port on 127.0.0.1 for B's LAN listener (A dials it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn setup() -> Setup {
    // The relay.
    let (tx, rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let _ = weft::relay::serve(listener, Default::default(), async {
                let _ = stopped.await;
            })
            .await;
        });
    });
    let url = format!("ws://{}", rx.recv().unwrap());
    // Two members, each with a database.
    let dir = tempfile::tempdir().unwrap();
    let (aw, bw) = (LocalWallet::generate(), LocalWallet::generate());
    let (ida, idb) = (identity(&aw), identity(&bw));
    let pa = dir.path().join("a.db");
    let pb = dir.path().join("b.db");
    let mut a =
        Replica::create_shared(&pa, None, "bench", ida.clone(), ReplicaConfig::default()).unwrap();
    a.defer_index(true);
    let doc = a.workspace().create_doc("Live", None).unwrap();
    a.workspace().set_body(doc, "start\n").unwrap();
    a.flush().unwrap();
    let secret = a.invite(bw.address(), Role::Editor).unwrap();
    let genesis = a.genesis().unwrap().unwrap();
    let mut b =
        Replica::join_shared(&pb, None, &genesis, idb.clone(), ReplicaConfig::default()).unwrap();
    let carrier = a.sync_value("carrier.key").unwrap().unwrap();
    b.set_sync_value("carrier.key", &carrier).unwrap();
    for (_, op) in a.inputs(SharedTable::AclOps, 0).unwrap() {
        b.receive_acl_op("bench", &op).unwrap();
    }
    assert!(b.redeem_invite(&secret).unwrap(), "the invite opens");
    for (_, e) in a.inputs(SharedTable::Envelopes, 0).unwrap() {
        b.receive_envelope("bench", &e).unwrap();
    }
    b.publish_device().unwrap();
    for (_, op) in b.inputs(SharedTable::AclOps, 0).unwrap() {
        a.receive_acl_op("bench", &op).unwrap();
    }
    assert!(b.engine().unwrap().has_current_key(), "B holds the key");
    drop(b);
    let (note, arrived) = mpsc::channel();
    let b_port = free_port();
    let lane = |dial: Vec<std::net::SocketAddr>, port: u16| {
        lan_lane().then(|| weft::sync::lan::LanOptions {
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            discover: false,
            dial,
        })
    };
    let relay = (!lan_lane()).then(|| url.clone());
    let live_b = LiveWorker::spawn_lanes(
        move || {
            Ok(Replica::open_shared(
                &pb,
                None,
                idb,
                ReplicaConfig::default(),
            )?)
        },
        relay.clone(),
        lane(Vec::new(), b_port),
        Box::new(move || {
            let _ = note.send(());
        }),
    );
    let live_a = LiveWorker::spawn_lanes(
        move || {
            Ok(Replica::open_shared(
                &pa,
                None,
                ida,
                ReplicaConfig::default(),
            )?)
        },
        relay,
        lane(
            vec![std::net::SocketAddr::from(([127, 0, 0, 1], b_port))],
            0,
        ),
        Box::new(|| {}),
    );
    let up =
        |s: weft::sync::live::LiveStatus| s.online || s.lan.is_some_and(|l| !l.linked.is_empty());
    while !(up(live_a.status()) && up(live_b.status())) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    while arrived.try_recv().is_ok() {}
    Setup {
        _dir: dir,
        a,
        live_a,
        _live_b: live_b,
        arrived,
        doc,
        _stop: stop,
    }
}

impl Setup {
    /// One keystroke on A, until B says it arrived.
    fn keystroke(&mut self, i: usize) -> Duration {
        let start = Instant::now();
        let mut text = self.a.workspace().text(self.doc).unwrap();
        text.insert(0, if i % 2 == 0 { "x" } else { "y" }).unwrap();
        self.a.workspace().commit();
        self.a.flush().unwrap();
        // As the app does: the sealed envelope goes to the worker at once; the search index is
        // updated on a later tick with nothing to write (here: once the keystroke arrived).
        self.live_a.send_now(self.a.take_sealed());
        self.arrived
            .recv_timeout(Duration::from_secs(10))
            .expect("B received the keystroke");
        let took = start.elapsed();
        self.a.index_now().unwrap();
        took
    }
}

fn main() {
    let mut s = setup();
    let mut times: Vec<Duration> = (0..1000)
        .map(|i| {
            let t = s.keystroke(i);
            std::thread::sleep(Duration::from_millis(10));
            t
        })
        .collect();
    times.sort();
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "live keystroke A→B {}, 1,000 keystrokes 10 ms apart: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        if lan_lane() { "over the LAN lane" } else { "through the relay" },
        p(0.50).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
