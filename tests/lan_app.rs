//! The LAN lane in the app, in-process: two members' live workers with no relay, linked directly
//! on 127.0.0.1 (discovery off; A dials B's port as discovery would). A keystroke on A reaches B's
//! store, the status bar says "LAN: 1", and the members screen marks the teammate reached directly.

mod tui_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tui_support::*;
use weft::acl::{DeviceIdentity, ReplicaConfig, Role};
use weft::identity::{DeviceKey, LocalWallet, PairingCertificate, PairingRequest, VerifyPolicy};
use weft::store::{Replica, SharedTable};
use weft::sync::lan::LanOptions;
use weft::sync::live::LiveWorker;
use weft::tui::Target;

fn identity(wallet: &LocalWallet) -> DeviceIdentity {
    let key = DeviceKey::generate();
    let now = OffsetDateTime::now_utc();
    let request = PairingRequest::new(wallet.address(), key.id(), now - time::Duration::days(1));
    let cert = PairingCertificate::sign_with(&request, wallet).unwrap();
    DeviceIdentity::new(key, cert, &VerifyPolicy::default()).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn lan(port: u16, dial: Option<u16>) -> Option<LanOptions> {
    Some(LanOptions {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        discover: false,
        dial: dial
            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
            .into_iter()
            .collect(),
    })
}

fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 15 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_keystroke_travels_over_the_lan_and_the_app_says_who_is_reached_directly() {
    let dir = tempfile::tempdir().unwrap();
    let (aw, bw) = (LocalWallet::generate(), LocalWallet::generate());
    let (ida, idb) = (identity(&aw), identity(&bw));
    let b_device = idb.device().to_string();
    let (pa, pb) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let mut a =
        Replica::create_shared(&pa, None, "team", ida.clone(), ReplicaConfig::default()).unwrap();
    let doc = a.workspace().create_doc("Plan", None).unwrap();
    a.workspace().set_body(doc, "start\n").unwrap();
    a.flush().unwrap();
    let secret = a.invite(bw.address(), Role::Editor).unwrap();
    let genesis = a.genesis().unwrap().unwrap();
    let mut b =
        Replica::join_shared(&pb, None, &genesis, idb.clone(), ReplicaConfig::default()).unwrap();
    let carrier = a.sync_value("carrier.key").unwrap().unwrap();
    b.set_sync_value("carrier.key", &carrier).unwrap();
    for (_, op) in a.inputs(SharedTable::AclOps, 0).unwrap() {
        b.receive_acl_op("test", &op).unwrap();
    }
    assert!(b.redeem_invite(&secret).unwrap(), "the invite opens");
    for (_, e) in a.inputs(SharedTable::Envelopes, 0).unwrap() {
        b.receive_envelope("test", &e).unwrap();
    }
    b.publish_device().unwrap();
    for (_, op) in b.inputs(SharedTable::AclOps, 0).unwrap() {
        a.receive_acl_op("test", &op).unwrap();
    }
    drop(b);

    let b_port = free_port();
    let (note, arrived) = mpsc::channel();
    let pb2 = pb.clone();
    let idb2 = idb.clone();
    let live_b = LiveWorker::spawn_lanes(
        move || {
            Ok(Replica::open_shared(
                &pb2,
                None,
                idb2,
                ReplicaConfig::default(),
            )?)
        },
        None,
        lan(b_port, None),
        Box::new(move || {
            let _ = note.send(());
        }),
    );
    let pa2 = pa.clone();
    let live_a = LiveWorker::spawn_lanes(
        move || {
            Ok(Replica::open_shared(
                &pa2,
                None,
                ida,
                ReplicaConfig::default(),
            )?)
        },
        None,
        lan(0, Some(b_port)),
        Box::new(|| {}),
    );
    let linked = |w: &LiveWorker| w.status().lan.is_some_and(|l| l.linked.len() == 1);
    wait("the link", || linked(&live_a) && linked(&live_b));
    assert!(
        !live_a.status().online,
        "there is no relay to be online with"
    );

    // A keystroke on A reaches B's store, with no relay and no bucket.
    while arrived.try_recv().is_ok() {}
    a.workspace()
        .text(doc)
        .unwrap()
        .insert(0, "over the LAN ")
        .unwrap();
    a.workspace().commit();
    a.flush().unwrap();
    live_a.send_now(a.take_sealed());
    arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("B received the keystroke");
    let b = Replica::open_shared(&pb, None, idb, ReplicaConfig::default()).unwrap();
    wait("the keystroke in B's store", || {
        b.workspace()
            .body(doc)
            .is_ok_and(|t| t.starts_with("over the LAN start"))
    });

    // The app on A: "LAN: 1" in the status bar, B's device marked on the members screen.
    let home = weft::store::Home::at(&dir.path().join("home"));
    let mut app = weft::tui::build_app(a, &home, "team", None);
    app.set_live(live_a);
    assert!(app.sync_text().contains("LAN: 1"), "{}", app.sync_text());
    assert!(
        !app.sync_text().contains("reconnecting"),
        "{}",
        app.sync_text()
    );
    app.open(Target::Members);
    let buf = draw(&mut app, 120, 30).backend().buffer().clone();
    assert!(find(&buf, "⇄ LAN").is_some(), "members screen:\n{buf:?}");
    assert!(
        find(&buf, "on the LAN").is_some(),
        "members screen:\n{buf:?}"
    );
    assert!(app.lan_linked().contains(&b_device));
    assert!(find(&buf, "LAN: 1").is_some(), "status bar:\n{buf:?}");
    drop(live_b);
}
