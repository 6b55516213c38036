//! The LAN lane against outsiders: real hubs on 127.0.0.1 with OS-picked ports and real device
//! keys and signatures (discovery off: the outsiders dial the port directly, which is all mDNS
//! would give them). A device of another workspace, a removed member, and raw clients sending
//! random bytes are each refused with a reason, learn nothing readable, inject nothing (no frame
//! reaches the member's worker, so nothing reaches its store), and cost bounded work; the
//! teammates' own link keeps carrying their frames.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use weft::crypto::WorkspaceId;
use weft::identity::{DeviceId, DeviceKey};
use weft::sync::lan::handshake::{self, HELLO_LEN};
use weft::sync::lan::{LanEvent, LanHub, LanOptions, LanSecret, Trust, MAX_PENDING};

const WS: WorkspaceId = WorkspaceId([0x11; 32]);
const CURRENT: [u8; 32] = [0x22; 32];

fn trust(key: &DeviceKey, ws: WorkspaceId, secret: [u8; 32], devices: &[DeviceId]) -> Trust {
    Trust {
        workspace: ws,
        key: key.clone(),
        secret: Some(LanSecret::new(2, secret)),
        devices: devices.iter().copied().collect(),
    }
}

fn local() -> LanOptions {
    LanOptions {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        discover: false,
        dial: Vec::new(),
    }
}

fn addr(hub: &LanHub) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], hub.port()))
}

/// The next event within `secs`, if any.
async fn event(hub: &mut LanHub, secs: u64) -> Option<LanEvent> {
    tokio::time::timeout(Duration::from_secs(secs), hub.rx.recv())
        .await
        .ok()
        .flatten()
}

/// Wait until `hub`'s refusals contain `needle`.
async fn refusal_contains(hub: &LanHub, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(r) = hub.status().refusals.iter().find(|r| r.contains(needle)) {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no refusal containing {needle:?}; refusals: {:?}",
        hub.status().refusals
    );
}

struct Team {
    a: LanHub,
    b: LanHub,
    keys: (DeviceKey, DeviceKey),
}

/// Two members, linked; both have said Linked.
async fn team() -> Team {
    let (ka, kb) = (DeviceKey::generate(), DeviceKey::generate());
    let devices = [ka.id(), kb.id()];
    let mut a = LanHub::start(trust(&ka, WS, CURRENT, &devices), local())
        .await
        .unwrap();
    let mut b = LanHub::start(trust(&kb, WS, CURRENT, &devices), local())
        .await
        .unwrap();
    b.dial(addr(&a));
    assert_eq!(event(&mut a, 5).await, Some(LanEvent::Linked(kb.id())));
    assert_eq!(event(&mut b, 5).await, Some(LanEvent::Linked(ka.id())));
    Team {
        a,
        b,
        keys: (ka, kb),
    }
}

/// The members' link still carries frames both ways.
async fn still_carries(t: &mut Team) {
    t.a.tx.send(b"from a".to_vec()).await.unwrap();
    assert_eq!(
        event(&mut t.b, 5).await,
        Some(LanEvent::Frame(b"from a".to_vec()))
    );
    t.b.tx.send(b"from b".to_vec()).await.unwrap();
    assert_eq!(
        event(&mut t.a, 5).await,
        Some(LanEvent::Frame(b"from b".to_vec()))
    );
}

/// Nothing reached `hub`'s worker.
async fn nothing_arrived(hub: &mut LanHub) {
    if let Some(ev) = event(hub, 1).await {
        panic!("an outsider got through: {ev:?}");
    }
}

#[tokio::test]
async fn members_link_once_and_carry_frames_both_ways() {
    let mut t = team().await;
    still_carries(&mut t).await;
    assert_eq!(t.a.status().linked, vec![t.keys.1.id()]);
    // A second link between the same pair is refused; the first stays.
    t.a.dial(addr(&t.b));
    refusal_contains(&t.a, "already linked").await;
    still_carries(&mut t).await;
}

#[tokio::test]
async fn a_device_of_another_workspace_is_refused_and_injects_nothing() {
    let mut t = team().await;
    let kc = DeviceKey::generate();
    let other = WorkspaceId([0x33; 32]);
    let mut c = LanHub::start(
        trust(&kc, other, [0x44; 32], &[kc.id(), t.keys.0.id()]),
        local(),
    )
    .await
    .unwrap();
    c.dial(addr(&t.a));
    let why = refusal_contains(&t.a, "not sealed with this workspace's current key").await;
    assert!(why.contains("refused"), "{why}");
    // The outsider is told why, and links to nobody.
    refusal_contains(&c, "not sealed").await;
    assert!(c.status().linked.is_empty());
    assert_eq!(event(&mut c, 1).await, None);
    nothing_arrived(&mut t.a).await;
    still_carries(&mut t).await;
}

#[tokio::test]
async fn a_removed_member_is_refused_with_an_old_key_or_the_current_one() {
    let mut t = team().await;
    // Removed: the key rotated away from them, so they hold only the old one.
    let kr = DeviceKey::generate();
    let all = [t.keys.0.id(), t.keys.1.id(), kr.id()];
    let old = LanHub::start(trust(&kr, WS, [0x55; 32], &all), local())
        .await
        .unwrap();
    old.dial(addr(&t.a));
    refusal_contains(&t.a, "not sealed with this workspace's current key").await;
    // Removed before the rotation reached this device: the key opens, the membership does not.
    let mut current = LanHub::start(trust(&kr, WS, CURRENT, &all), local())
        .await
        .unwrap();
    current.dial(addr(&t.a));
    let why = refusal_contains(&t.a, "not a current member's device").await;
    assert!(why.contains(&kr.id().to_string()[..16]), "{why}");
    // It was refused before the member proved anything: it learnt no device of the team.
    refusal_contains(&current, "not a current member's device").await;
    nothing_arrived(&mut t.a).await;
    assert_eq!(event(&mut current, 1).await, None);
    still_carries(&mut t).await;

    // A member removed while linked is cut off at once, and the others carry on.
    let kc = DeviceKey::generate();
    let team3 = [t.keys.0.id(), t.keys.1.id(), kc.id()];
    t.a.set_trust(trust(&t.keys.0, WS, CURRENT, &team3));
    let mut c = LanHub::start(trust(&kc, WS, CURRENT, &team3), local())
        .await
        .unwrap();
    c.dial(addr(&t.a));
    assert_eq!(event(&mut t.a, 5).await, Some(LanEvent::Linked(kc.id())));
    assert_eq!(
        event(&mut c, 5).await,
        Some(LanEvent::Linked(t.keys.0.id()))
    );
    t.a.set_trust(trust(
        &t.keys.0,
        WS,
        CURRENT,
        &[t.keys.0.id(), t.keys.1.id()],
    ));
    match event(&mut t.a, 5).await {
        Some(LanEvent::Unlinked { device, .. }) => assert_eq!(device, kc.id()),
        other => panic!("expected the removed member's link to end, got {other:?}"),
    }
    match event(&mut c, 5).await {
        Some(LanEvent::Unlinked { reason, .. }) => {
            assert!(reason.contains("not a current member"), "{reason}")
        }
        other => panic!("the removed member should be told, got {other:?}"),
    }
    t.a.tx.send(b"after removal".to_vec()).await.unwrap();
    assert_eq!(
        event(&mut t.b, 5).await,
        Some(LanEvent::Frame(b"after removal".to_vec()))
    );
    assert_eq!(
        event(&mut c, 1).await,
        None,
        "the removed member still hears"
    );
}

#[tokio::test]
async fn random_bytes_are_refused_with_a_reason_and_teach_nothing() {
    let mut t = team().await;
    let a = addr(&t.a);
    // Raw bytes that are not even HTTP: the connection is closed, the member notes why.
    let mut raw = tokio::net::TcpStream::connect(a).await.unwrap();
    let junk: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    raw.write_all(&junk).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(8), raw.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the member kept a junk connection open");
    assert!(
        !String::from_utf8_lossy(&buf).contains("weft"),
        "told a stranger something: {:?}",
        String::from_utf8_lossy(&buf)
    );
    refusal_contains(&t.a, "127.0.0.1").await;

    // A WebSocket client sending random binary: refused with the reason in the close frame,
    // before the member sends a byte of its own.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{a}/"))
        .await
        .unwrap();
    ws.send(Message::Binary(junk[..64].to_vec().into()))
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        got.push(m);
    }
    match got.as_slice() {
        [Message::Close(Some(c))] => assert!(c.reason.contains("not a weft LAN link"), "{c:?}"),
        other => panic!("expected only a close with a reason, got {other:?}"),
    }

    // A client that speaks the hello but cannot prove anything gets a random nonce, then a
    // refusal: nothing names the workspace or a device.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{a}/"))
        .await
        .unwrap();
    ws.send(Message::Binary(
        handshake::hello(&handshake::nonce()).into(),
    ))
    .await
    .unwrap();
    let hello = match ws.next().await {
        Some(Ok(Message::Binary(b))) => b.to_vec(),
        other => panic!("expected the member's hello, got {other:?}"),
    };
    assert_eq!(hello.len(), HELLO_LEN);
    for secret in [
        &WS.0[..8],
        &t.keys.0.id().as_bytes()[1..9],
        &t.keys.1.id().as_bytes()[1..9],
    ] {
        assert!(!hello.windows(8).any(|w| w == secret), "the hello leaks");
    }
    ws.send(Message::Binary(
        junk[..handshake::PROOF_LEN].to_vec().into(),
    ))
    .await
    .unwrap();
    match ws.next().await {
        Some(Ok(Message::Close(Some(c)))) => assert!(c.reason.contains("not sealed"), "{c:?}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Too big a hello is refused.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{a}/"))
        .await
        .unwrap();
    let _ = ws.send(Message::Binary(vec![0u8; 100_000].into())).await;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Close(Some(c))))) => {
            assert!(c.reason.contains("not a weft LAN link"), "{c:?}")
        }
        Ok(other) => assert!(!matches!(other, Some(Ok(Message::Binary(_)))), "{other:?}"),
        Err(_) => panic!("an oversized hello was not refused"),
    }
    nothing_arrived(&mut t.a).await;
    still_carries(&mut t).await;
}

#[tokio::test]
async fn idle_connections_are_capped_and_timed_out_and_members_still_link() {
    let mut t = team().await;
    let a = addr(&t.a);
    // Far more silent connections than the member checks at once.
    let mut idle = Vec::new();
    for _ in 0..(MAX_PENDING * 3) {
        idle.push(tokio::net::TcpStream::connect(a).await.unwrap());
    }
    refusal_contains(&t.a, "too many connections").await;
    // Those over the cap are closed at once; the rest when the handshake time is up.
    let started = std::time::Instant::now();
    let mut closed = 0;
    for mut s in idle {
        let mut b = [0u8; 64];
        let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await;
        if r.is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, MAX_PENDING * 3, "some idle connections were kept");
    assert!(started.elapsed() < Duration::from_secs(10));
    refusal_contains(&t.a, "took too long").await;
    nothing_arrived(&mut t.a).await;
    // The link between members was never at risk, and a new one forms after the flood.
    still_carries(&mut t).await;
    let kc = DeviceKey::generate();
    let devices = [t.keys.0.id(), t.keys.1.id(), kc.id()];
    t.a.set_trust(trust(&t.keys.0, WS, CURRENT, &devices));
    let mut c = LanHub::start(trust(&kc, WS, CURRENT, &devices), local())
        .await
        .unwrap();
    c.dial(a);
    assert_eq!(
        event(&mut c, 5).await,
        Some(LanEvent::Linked(t.keys.0.id()))
    );
}
