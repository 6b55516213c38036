//! Several relays acting as one through a real `nats-server` (two nodes clustered on 127.0.0.1
//! with OS-picked ports): members on different relays edit live and converge, a relay dies and
//! its clients carry on through another, NATS dies and comes back, a flood on one relay leaves
//! the others alone, nothing is delivered twice, and NATS sees only ciphertext under a hashed
//! subject.
//!
//! Needs `nats-server` (Debian's package installs /usr/sbin/nats-server). Without it the tests
//! print a note and pass, unless `WEFT_REQUIRE_NATS=1`, when they fail saying so.

mod acl_common;
mod common;
mod relay_common;
mod shared_common;

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use relay_common::*;
use shared_common::{body_now, doc_id, live, members, wait_online, Dev};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use weft::relay::{subject_for, Bus, RelayLimits, RoomId};

// ---- nats-server ---------------------------------------------------------------------------

/// Where `nats-server` is, or `None` (with a note) when the tests should skip.
fn nats_server() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("WEFT_REQUIRE_NATS").as_deref() == Ok("1") {
            panic!("nats-server is required (WEFT_REQUIRE_NATS=1) but is not installed: apt-get install nats-server");
        }
        println!("skipping: nats-server is not installed");
    }
    found
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `nats-server` node; killed when dropped.
struct Nats {
    bin: PathBuf,
    port: u16,
    cluster: u16,
    routes: Vec<u16>,
    child: Option<Child>,
}

impl Nats {
    fn start(bin: &Path, cluster: u16, routes: &[u16]) -> Nats {
        let mut n = Nats {
            bin: bin.to_path_buf(),
            port: free_port(),
            cluster,
            routes: routes.to_vec(),
            child: None,
        };
        n.restart();
        n
    }

    /// Two nodes clustered with each other.
    fn pair(bin: &Path) -> (Nats, Nats) {
        let (c1, c2) = (free_port(), free_port());
        let a = Nats::start(bin, c1, &[c2]);
        let b = Nats::start(bin, c2, &[c1]);
        (a, b)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start (again) on the same ports, and wait until it accepts connections.
    fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new(&self.bin);
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--cluster_name", "weft-test"])
            .args(["--cluster", &format!("nats://127.0.0.1:{}", self.cluster)]);
        if !self.routes.is_empty() {
            let routes: Vec<String> = self
                .routes
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            cmd.args(["--routes", &routes.join(",")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while StdStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- relays --------------------------------------------------------------------------------

/// A relay on NATS, served on its own thread and runtime; stopped when dropped.
struct Relay {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(nats: &str) -> Relay {
        Relay::start_on("127.0.0.1:0".parse().unwrap(), nats, RelayLimits::default())
    }

    fn start_on(addr: SocketAddr, nats: &str, limits: RelayLimits) -> Relay {
        let nats = nats.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                let bus = Bus::connect(&nats).await.unwrap();
                let deadline = Instant::now() + WAIT;
                while !bus.is_up() {
                    assert!(Instant::now() < deadline, "the relay never reached NATS");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                tx.send(listener.local_addr().unwrap()).unwrap();
                weft::relay::serve_with(listener, limits, Some(bus), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = rx.recv().expect("the relay started");
        Relay {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- raw clients ---------------------------------------------------------------------------

/// Send probes from `from` until each of `to` hears one (NATS interest takes a moment to
/// spread across the cluster), then a marker, and skip to it on every receiver.
async fn linked(from: &mut Ws, to: &mut [&mut Ws]) {
    for r in to.iter_mut() {
        let mut n = 0u32;
        loop {
            n += 1;
            send(from, format!("probe {n}").as_bytes()).await;
            let heard = tokio::time::timeout(Duration::from_millis(200), async {
                loop {
                    match r.next().await {
                        Some(Ok(Message::Binary(_))) => return,
                        Some(Ok(_)) => {}
                        other => panic!("lost the connection while probing: {other:?}"),
                    }
                }
            })
            .await;
            if heard.is_ok() {
                break;
            }
            assert!(n < 100, "frames never crossed the relays");
        }
    }
    send(from, b"marker").await;
    for r in to.iter_mut() {
        frame_until(r, b"marker").await;
    }
}

async fn health(addr: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    within("/health", tcp.read_to_string(&mut out))
        .await
        .unwrap();
    out
}

// ---- frames across relays ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_cross_relays_exactly_once_and_nats_sees_them_under_a_hashed_subject() {
    let Some(bin) = nats_server() else { return };
    let (n1, n2) = Nats::pair(&bin);
    let r1 = Relay::start(&n1.url());
    let r2 = Relay::start(&n2.url());
    let r3 = Relay::start(&format!("{},{}", n2.url(), n1.url()));
    // A raw NATS client on the other node records everything.
    let spy = async_nats::connect(n2.url()).await.unwrap();
    let mut seen = spy.subscribe(">").await.unwrap();
    spy.flush().await.unwrap();

    let room: [u8; 32] = rand::random();
    let other_room: [u8; 32] = rand::random();
    let mut a = join(&r1.url(), &room).await;
    let mut a2 = join(&r1.url(), &room).await;
    let mut b = join(&r2.url(), &room).await;
    let mut c = join(&r3.url(), &room).await;
    let mut elsewhere = join(&r2.url(), &other_room).await;
    linked(&mut a, &mut [&mut a2, &mut b, &mut c]).await;

    let sent: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("frame {i}").into_bytes())
        .collect();
    for f in &sent {
        send(&mut a, f).await;
    }
    send(&mut a, b"end").await;
    for (who, ws) in [
        ("same relay", &mut a2),
        ("relay 2", &mut b),
        ("relay 3", &mut c),
    ] {
        let mut got = Vec::new();
        loop {
            let f = next_frame(ws).await;
            if f == b"end" {
                break;
            }
            got.push(f);
        }
        assert_eq!(got, sent, "{who}: every frame once, in order");
    }
    // And back the other way, from relay 3 to the others: once each.
    send(&mut c, b"from three").await;
    send(&mut c, b"end 2").await;
    for ws in [&mut a, &mut a2, &mut b] {
        assert_eq!(next_frame(ws).await, b"from three");
        assert_eq!(next_frame(ws).await, b"end 2");
    }
    // The sender never hears itself, and another room hears nothing: the next thing relay 3's
    // client gets is what relay 2's client sends after, not its own frames.
    send(&mut elsewhere, b"other room").await;
    send(&mut b, b"from two").await;
    assert_eq!(next_frame(&mut c).await, b"from two");
    assert_eq!(next_frame(&mut a).await, b"from two");

    // What NATS carried: the frames, unchanged (clients seal them; the relay adds nothing),
    // under a subject that is a hash of the room id and never the id itself.
    let subject = subject_for(&RoomId(room));
    let room_hex = hex::encode(room);
    let mut captured = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), seen.next()).await {
        assert!(!msg.subject.contains(&room_hex), "{}", msg.subject);
        assert!(
            !msg.payload.windows(32).any(|w| w == room),
            "a payload carries the room id"
        );
        if msg.subject.as_str() == subject {
            captured.push(msg.payload.to_vec());
        }
    }
    assert!(
        captured.contains(&b"frame 199".to_vec()) && captured.contains(&b"from three".to_vec()),
        "the room's frames crossed NATS under its hashed subject: {} seen",
        captured.len()
    );
    assert_eq!(
        captured
            .iter()
            .filter(|f| f.as_slice() == b"frame 7")
            .count(),
        1,
        "each frame went to NATS once"
    );
    drop((r1, r2, r3, n1, n2));
}

// ---- NATS goes away and comes back -----------------------------------------------------------

/// `weft relay` as its own process, with its log kept.
struct RelayProcess {
    _child: tokio::process::Child,
    addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _home: tempfile::TempDir,
}

impl RelayProcess {
    async fn start(extra: &[&str]) -> RelayProcess {
        use tokio::io::AsyncBufReadExt;
        let home = tempfile::tempdir().unwrap();
        let mut cmd = common::weft_command(home.path());
        cmd.args(["relay", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .expect("start weft relay");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = within("the listening line", lines.next_line())
            .await
            .unwrap()
            .expect("weft relay printed nothing");
        let addr = first
            .strip_prefix("weft relay listening on ws://")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep.lock().unwrap().push(line);
            }
        });
        RelayProcess {
            _child: child,
            addr,
            log,
            _home: home,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn logged(&self, what: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(what))
    }
}

async fn until_health(addr: SocketAddr, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let h = health(addr).await;
        if h.contains(want) {
            assert!(h.starts_with("HTTP/1.1 200"), "{h}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/health never said {want:?}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_nats_keeps_same_relay_rooms_working_and_the_link_comes_back_by_itself() {
    let Some(bin) = nats_server() else { return };
    let mut nats = Nats::start(&bin, free_port(), &[]);
    let r1 = RelayProcess::start(&["--nats", &nats.url()]).await;
    let r2 = Relay::start(&nats.url());
    until_health(r1.addr, "nats: up").await;
    let out = weft(&["relay", "--check", &r1.url()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("NATS link is up"), "{stdout}");
    // A list: each relay, then a frame from one to a client of the other.
    let list = format!("{},{}", r1.url(), r2.url());
    let out = weft(&["relay", "--check", &list]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "a frame sent through {} reached a client of {}",
            r1.url(),
            r2.url()
        )),
        "{stdout}"
    );
    // A relay that stands alone is named: frames do not cross to it.
    let alone = RelayProcess::start(&[]).await;
    let list = format!("{},{}", r1.url(), alone.url());
    let out = weft(&["relay", "--check", &list]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("did not reach a client of {}", alone.url())),
        "{stdout}"
    );
    drop(alone);

    let room: [u8; 32] = rand::random();
    let mut a = join(&r1.url(), &room).await;
    let mut a2 = join(&r1.url(), &room).await;
    let mut b = join(&r2.url(), &room).await;
    linked(&mut a, &mut [&mut b, &mut a2]).await;

    nats.kill();
    until_health(r1.addr, "nats: down").await;
    until_health(r2.addr, "nats: down").await;
    let out = weft(&["relay", "--check", &r1.url()]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--check passed with NATS down");
    assert!(stderr.contains("lost its NATS link"), "{stderr}");
    // Members on the same relay carry on.
    still_talking(&mut a, &mut a2).await;
    let deadline = Instant::now() + WAIT;
    while !r1.logged("NATS link lost") {
        assert!(
            Instant::now() < deadline,
            "the log never said the link was lost"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // NATS comes back on the same port: the relays reconnect and resubscribe on their own.
    nats.restart();
    until_health(r1.addr, "nats: up").await;
    until_health(r2.addr, "nats: up").await;
    linked(&mut a, &mut [&mut b]).await;
    linked(&mut b, &mut [&mut a, &mut a2]).await;
    let out = weft(&["relay", "--check", &r1.url()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(r2);
}

// ---- a flood on one relay ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_one_relay_closes_the_flooder_and_leaves_the_other_relays_alone() {
    let Some(bin) = nats_server() else { return };
    let (n1, n2) = Nats::pair(&bin);
    let r1 = Relay::start(&n1.url());
    let r2 = Relay::start(&n2.url());
    let r3 = Relay::start(&n1.url());
    let (flooded, quiet) = (rand::random::<[u8; 32]>(), rand::random::<[u8; 32]>());
    let mut flooder = join(&r1.url(), &flooded).await;
    let mut listener = join(&r2.url(), &flooded).await;
    let mut neighbour = join(&r3.url(), &flooded).await;
    let mut b = join(&r2.url(), &quiet).await;
    let mut c = join(&r3.url(), &quiet).await;
    linked(&mut b, &mut [&mut c]).await;
    linked(&mut neighbour, &mut [&mut listener]).await;

    let flood = tokio::spawn(async move {
        let junk = vec![0u8; 1024];
        for _ in 0..100_000 {
            if flooder
                .send(Message::Binary(junk.clone().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        loop {
            match within("the flooder's close", flooder.next()).await {
                Some(Ok(Message::Close(Some(close)))) => {
                    return (close.code, close.reason.to_string())
                }
                Some(Ok(_)) => {}
                other => panic!("the flooder was not told why: {other:?}"),
            }
        }
    });
    // Meanwhile, the other relays' rooms carry on.
    for _ in 0..5 {
        still_talking(&mut b, &mut c).await;
    }
    let (code, reason) = flood.await.unwrap();
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("too many"), "{reason}");
    // The flooded room's members on other relays are still connected and talking.
    still_talking(&mut neighbour, &mut listener).await;
    still_talking(&mut b, &mut c).await;
    drop((r1, r2, r3, n1, n2));
}

// ---- live editing across relays ------------------------------------------------------------

fn text(dev: &mut Dev) -> String {
    body_now(dev, "Trace")
}

fn wait_for(dev: &mut Dev, what: &str, mut done: impl FnMut(&mut Dev) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        dev.r().refresh().unwrap();
        if done(dev) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}: the doc holds {:?}",
            text(dev)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn card_titles(dev: &mut Dev) -> Vec<String> {
    dev.r()
        .workspace()
        .boards(false)
        .into_iter()
        .flat_map(|b| b.columns)
        .flat_map(|c| c.cards)
        .map(|c| c.title)
        .collect()
}

/// Records every message on NATS (`>`) from its own thread until dropped.
struct Spy {
    frames: std::sync::mpsc::Receiver<(String, Vec<u8>)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spy {
    fn start(nats: &str) -> Spy {
        let nats = nats.to_string();
        let (tx, frames) = std::sync::mpsc::channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = async_nats::connect(nats).await.unwrap();
                let mut sub = client.subscribe(">").await.unwrap();
                client.flush().await.unwrap();
                ready_tx.send(()).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        m = sub.next() => match m {
                            Some(m) => { let _ = tx.send((m.subject.to_string(), m.payload.to_vec())); }
                            None => return,
                        },
                    }
                }
            });
        });
        ready.recv().unwrap();
        Spy {
            frames,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<(String, Vec<u8>)> {
        std::thread::sleep(Duration::from_millis(300));
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.frames.try_iter().collect()
    }
}

#[test]
fn members_on_different_relays_converge_live_and_nats_carries_only_ciphertext() {
    let Some(bin) = nats_server() else { return };
    let (n1, n2) = Nats::pair(&bin);
    let r1 = Relay::start(&n1.url());
    let r2 = Relay::start(&n2.url());
    let spy = Spy::start(&n2.url());
    let (mut owner, mut editor) = members("Trace");
    let room = {
        let id = owner.r().engine().unwrap().workspace_id();
        weft::sync::share::carrier_key(owner.r()).unwrap().room(&id)
    };
    let (a, b) = (live(&owner, &r1.url()), live(&editor, &r2.url()));
    wait_online(&a);
    wait_online(&b);

    let doc = doc_id(owner.r(), "Trace");
    owner
        .r()
        .workspace()
        .set_body(doc, "the secret is swordfish")
        .unwrap();
    let board = owner
        .r()
        .workspace()
        .create_board("Quarterly plan", &["Todo", "Done"])
        .unwrap();
    owner.r().flush().unwrap();
    wait_for(&mut editor, "the owner's text and board", |d| {
        text(d) == "the secret is swordfish"
            && d.r()
                .workspace()
                .boards(false)
                .iter()
                .any(|b| b.id == board)
    });
    let todo = editor
        .r()
        .workspace()
        .boards(false)
        .into_iter()
        .find(|b| b.id == board)
        .unwrap()
        .columns[0]
        .id;
    let fields = weft::model::CardFields {
        title: "Door code 4711".into(),
        ..Default::default()
    };
    editor.r().workspace().add_card(todo, &fields, "").unwrap();
    let editor_doc = doc_id(editor.r(), "Trace");
    editor
        .r()
        .workspace()
        .append_body(editor_doc, " and the door code")
        .unwrap();
    editor.r().flush().unwrap();
    wait_for(&mut owner, "the editor's card and text", |d| {
        text(d) == "the secret is swordfish and the door code"
            && card_titles(d) == ["Door code 4711"]
    });
    assert_eq!(text(&mut editor), text(&mut owner));
    assert_eq!(card_titles(&mut editor), card_titles(&mut owner));
    drop((a, b));

    let captured = spy.finish();
    let subject = subject_for(&RoomId(room));
    let ours: Vec<Vec<u8>> = captured
        .iter()
        .filter(|(s, _)| *s == subject)
        .map(|(_, p)| p.clone())
        .collect();
    assert!(
        ours.len() >= 2,
        "the room's traffic crossed NATS: {} frames",
        ours.len()
    );
    let room_hex = hex::encode(room);
    let mut needles: Vec<Vec<u8>> = vec![
        b"swordfish".to_vec(),
        b"door code".to_vec(),
        b"Door code 4711".to_vec(),
        b"Quarterly plan".to_vec(),
        b"Trace".to_vec(),
        room.to_vec(),
        room_hex.clone().into_bytes(),
    ];
    for dev in [&owner, &editor] {
        let a = dev.device.identity.address();
        needles.push(a.to_checksum().into_bytes());
        needles.push(a.to_checksum()[2..].to_lowercase().into_bytes());
        needles.push(a.as_bytes().to_vec());
    }
    for (s, payload) in &captured {
        assert!(!s.contains(&room_hex), "a subject names the room: {s}");
        for n in &needles {
            assert!(
                !payload.windows(n.len()).any(|w| w == n.as_slice()),
                "a frame on NATS holds {:?}",
                String::from_utf8_lossy(n)
            );
        }
    }
    drop((r1, r2, n1, n2));
}

#[test]
fn a_relay_killed_mid_typing_its_client_carries_on_through_another_with_nothing_lost() {
    let Some(bin) = nats_server() else { return };
    let (n1, n2) = Nats::pair(&bin);
    // The editor's setting names relays 1 and 2. Relay 1 is not up yet, so the editor lands on
    // relay 2 whichever it tries first; then relay 1 comes up and relay 2 dies mid-typing.
    let r1_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut r2 = Some(Relay::start(&n2.url()));
    let r2_url = r2.as_ref().unwrap().url();
    let r3 = Relay::start(&n1.url());
    let (mut owner, mut editor) = members("Trace");
    let a = live(&owner, &r3.url());
    let b = live(&editor, &format!("ws://{r1_addr},{r2_url}"));
    wait_online(&a);
    wait_online(&b);
    // It says which relay it is on (the status bar and `weft sync --watch` show it).
    assert_eq!(b.status().relay.as_deref(), Some(r2_url.as_str()));
    assert_eq!(b.status().relays, 2);
    let _r1 = Relay::start_on(r1_addr, &n1.url(), RelayLimits::default());

    let doc = doc_id(editor.r(), "Trace");
    let mut expected = String::new();
    let mut killer = None;
    for i in 0..60 {
        let word = format!("word{i} ");
        editor.r().workspace().append_body(doc, &word).unwrap();
        editor.r().flush().unwrap();
        expected.push_str(&word);
        if i == 20 {
            // Relay 2 goes away while the editor keeps typing.
            let r2 = r2.take();
            killer = Some(std::thread::spawn(move || drop(r2)));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    killer.unwrap().join().unwrap();
    wait_for(&mut owner, "every word the editor typed", |d| {
        text(d) == expected
    });
    wait_online(&b);
    assert_eq!(
        b.status().relay,
        Some(format!("ws://{r1_addr}")),
        "now on relay 1: {:?}",
        b.status()
    );
    // And the link stays live after the failover: a new edit arrives.
    editor.r().workspace().append_body(doc, "after").unwrap();
    editor.r().flush().unwrap();
    expected.push_str("after");
    wait_for(&mut owner, "an edit after the failover", |d| {
        text(d) == expected
    });
    drop((a, b, r3, n1, n2));
}
