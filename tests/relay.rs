//! The relay for real: `weft::relay::serve` on 127.0.0.1:0 (and the `weft relay` binary), with
//! real WebSocket clients. Timeouts only bound how long a failing test hangs; every assertion
//! waits for an event.

mod common;
mod relay_common;

use std::io;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use relay_common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::MaybeTlsStream;
use weft::relay::{serve, RelayLimits};
use weft::sync::room::{self, room_url, RoomEvent, RoomHandle};

/// A relay served in this process.
struct Relay {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl Relay {
    async fn start(limits: RelayLimits) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, limits, async {
            let _ = stopped.await;
        }));
        Relay {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    async fn join(&self, room: &[u8; 32]) -> Ws {
        let url = room_url(&self.url(), room).unwrap();
        let (ws, _) = within("the handshake", tokio_tungstenite::connect_async(url))
            .await
            .expect("connect to the relay");
        ws
    }

    async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("the relay to stop", &mut self.task).await.unwrap()
    }
}

fn new_room() -> [u8; 32] {
    rand::random()
}

/// Read until the relay's close frame; returns its code and reason. Frames before it are skipped.
async fn closed_with(ws: &mut Ws) -> (CloseCode, String) {
    within("a close frame", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(close)))) => {
                    return (close.code, close.reason.to_string())
                }
                Some(Ok(Message::Close(None))) => panic!("closed without a code"),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_reach_everyone_else_in_the_room_unchanged_and_no_one_else() {
    let relay = Relay::start(RelayLimits::default()).await;
    let (one, two) = (new_room(), new_room());
    let mut a = relay.join(&one).await;
    let mut b = relay.join(&one).await;
    let mut c = relay.join(&one).await;
    let mut d = relay.join(&two).await;
    let mut e = relay.join(&two).await;

    let every_byte: Vec<u8> = (0..=255).collect();
    send(&mut a, &every_byte).await;
    assert_eq!(next_frame(&mut b).await, every_byte);
    assert_eq!(next_frame(&mut c).await, every_byte);

    // Had the relay echoed a's frame back to a, it would be queued before b's reply.
    send(&mut b, b"reply").await;
    assert_eq!(
        next_frame(&mut a).await,
        b"reply",
        "a got its own frame back"
    );
    assert_eq!(next_frame(&mut c).await, b"reply");

    // Had room one's frames leaked into room two, d would see them before e's frame.
    send(&mut e, b"room two").await;
    assert_eq!(
        next_frame(&mut d).await,
        b"room two",
        "a frame crossed rooms"
    );

    // An empty frame is a frame.
    send(&mut c, b"").await;
    assert_eq!(next_frame(&mut a).await, b"");
    assert_eq!(next_frame(&mut b).await, b"");
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_closes_that_connection_with_1008_and_the_room_carries_on() {
    let relay = Relay::start(RelayLimits::default()).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&room).await;
    let mut c = relay.join(&room).await;
    c.send(Message::Text("hello".into())).await.unwrap();
    let (code, reason) = closed_with(&mut c).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("text"), "{reason}");
    still_talking(&mut a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_closes_that_connection_with_1002_and_the_room_carries_on() {
    let relay = Relay::start(RelayLimits::default()).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&room).await;
    let mut c = relay.join(&room).await;
    // Bytes that are no WebSocket frame: reserved opcode, unmasked, then noise.
    let MaybeTlsStream::Plain(raw) = c.get_mut() else {
        panic!("plain TCP expected");
    };
    raw.write_all(&[0x8f, 0x05, 1, 2, 3, 4, 5, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    let (code, reason) = closed_with(&mut c).await;
    assert_eq!(code, CloseCode::Protocol, "{reason}");
    still_talking(&mut a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_that_connection_with_1009_and_the_room_carries_on() {
    let limits = RelayLimits {
        max_frame_bytes: 64 * 1024,
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&room).await;
    let mut c = relay.join(&room).await;
    let at_limit = vec![7u8; 64 * 1024];
    send(&mut c, &at_limit).await;
    assert!(
        next_frame(&mut b).await == at_limit,
        "a frame at the limit passes"
    );
    send(&mut c, &vec![8u8; 64 * 1024 + 1]).await;
    let (code, reason) = closed_with(&mut c).await;
    assert_eq!(code, CloseCode::Size);
    assert!(
        reason.contains("65536"),
        "the reason gives the limit: {reason}"
    );
    assert!(next_frame(&mut a).await == at_limit);
    still_talking(&mut a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_frames_closes_the_flooder_with_1008_and_the_room_carries_on() {
    let limits = RelayLimits {
        frames_per_second: 20,
        frame_burst: 40,
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&room).await;
    let mut flooder = relay.join(&room).await;
    for i in 0..500u32 {
        flooder
            .feed(Message::Binary(i.to_be_bytes().to_vec().into()))
            .await
            .unwrap();
    }
    flooder.flush().await.unwrap();
    let (code, reason) = closed_with(&mut flooder).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("frames per second"), "{reason}");
    // b got the burst the flooder was allowed, then a's frame: the room never stalled.
    send(&mut a, b"after the flood").await;
    let mut from_flooder = 0;
    loop {
        let f = next_frame(&mut b).await;
        if f == b"after the flood" {
            break;
        }
        from_flooder += 1;
    }
    assert!(
        (40..500).contains(&from_flooder),
        "{from_flooder} flood frames forwarded"
    );
    still_talking(&mut a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_bytes_per_second_closes_that_connection_with_1008() {
    let limits = RelayLimits {
        max_frame_bytes: 64 * 1024,
        bytes_per_second: 64 * 1024,
        byte_burst: 128 * 1024,
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&room).await;
    let mut c = relay.join(&room).await;
    for _ in 0..8 {
        c.feed(Message::Binary(vec![1u8; 64 * 1024].into()))
            .await
            .unwrap();
    }
    c.flush().await.unwrap();
    let (code, reason) = closed_with(&mut c).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("bytes per second"), "{reason}");
    still_talking(&mut a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_stops_reading_is_dropped_and_the_others_get_everything() {
    let limits = RelayLimits {
        frames_per_second: 100_000,
        frame_burst: 100_000,
        bytes_per_second: 1 << 30,
        byte_burst: 1 << 30,
        queue_frames: 64,
        queue_bytes: 1 << 20,
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let room = new_room();
    let mut sender = relay.join(&room).await;
    let mut reader = relay.join(&room).await;
    // A small receive buffer, so that the kernel does not soak up what the relay sends it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(8 * 1024).unwrap();
    let tcp = socket.connect(relay.addr).await.unwrap();
    let url = room_url(&relay.url(), &room).unwrap();
    let (mut stalled, _) = within(
        "the handshake",
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)),
    )
    .await
    .unwrap();

    // 25 MiB, sent in windows the reader acknowledges: the reader keeps up, the stalled one
    // never reads.
    const FRAMES: usize = 400;
    const WINDOW: usize = 8;
    let frame = |i: usize| {
        let mut f = vec![0u8; 64 * 1024];
        f[..8].copy_from_slice(&(i as u64).to_be_bytes());
        f
    };
    for window in 0..FRAMES / WINDOW {
        for i in window * WINDOW..(window + 1) * WINDOW {
            send(&mut sender, &frame(i)).await;
        }
        for i in window * WINDOW..(window + 1) * WINDOW {
            assert!(next_frame(&mut reader).await == frame(i), "frame {i} lost");
        }
        send(&mut reader, b"ack").await;
        assert_eq!(next_frame(&mut sender).await, b"ack");
    }
    // Now the stalled receiver reads: some frames, then the relay has closed it.
    let got = within("the stalled receiver to be dropped", async {
        let mut got = 0;
        loop {
            match stalled.next().await {
                Some(Ok(Message::Binary(f))) if f.len() > 3 => got += 1,
                Some(Ok(Message::Close(Some(close)))) => {
                    assert_eq!(close.code, CloseCode::Policy);
                    assert!(close.reason.contains("too slow"), "{}", close.reason);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return got,
            }
        }
    })
    .await;
    assert!(got < FRAMES, "the stalled receiver got all {got} frames");
    still_talking(&mut sender, &mut reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_a_client_is_told_1013_and_let_in_when_one_leaves() {
    let limits = RelayLimits {
        max_connections: 3,
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&room).await;
    let c = relay.join(&new_room()).await;
    let mut d = relay.join(&room).await;
    let (code, reason) = closed_with(&mut d).await;
    assert_eq!(code, CloseCode::Again);
    assert!(reason.contains("relay is full"), "{reason}");
    still_talking(&mut a, &mut b).await;

    // Once c's close handshake is over, its place is free.
    let mut c = c;
    c.close(None).await.unwrap();
    while c.next().await.is_some() {}
    let mut e = relay.join(&room).await;
    still_talking(&mut a, &mut e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_per_room_a_client_is_told_1013_and_other_rooms_still_open() {
    let limits = RelayLimits {
        max_connections_per_room: 2,
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let (one, two) = (new_room(), new_room());
    let mut a = relay.join(&one).await;
    let mut b = relay.join(&one).await;
    let mut c = relay.join(&one).await;
    let (code, reason) = closed_with(&mut c).await;
    assert_eq!(code, CloseCode::Again);
    assert!(reason.contains("room is full"), "{reason}");
    let mut d = relay.join(&two).await;
    let mut e = relay.join(&two).await;
    still_talking(&mut d, &mut e).await;
    still_talking(&mut a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_pings_is_closed_and_one_that_does_stays() {
    let limits = RelayLimits {
        idle_timeout: Duration::from_millis(1500),
        ping_interval: Duration::from_millis(300),
        ..RelayLimits::default()
    };
    let relay = Relay::start(limits).await;
    let room = new_room();
    let mut listening = relay.join(&room).await;
    // `listening` answers every ping (tungstenite does, whenever it reads) …
    let (done_tx, mut done_rx) = oneshot::channel::<()>();
    let answering = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut done_rx => return listening,
                msg = listening.next() => match msg {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("the listening client got {other:?}"),
                },
            }
        }
    });
    // … the quiet client reads the raw socket and so never answers one.
    let mut quiet = relay.join(&room).await;
    let MaybeTlsStream::Plain(raw) = quiet.get_mut() else {
        panic!("plain TCP expected");
    };
    let (pings, code, reason) = within("the quiet client to be closed", raw_close(raw)).await;
    assert!(
        pings >= 2,
        "the relay pinged before giving up ({pings} pings)"
    );
    assert_eq!(code, 1001);
    assert!(reason.contains("idle"), "{reason}");
    let mut late = relay.join(&room).await;
    done_tx.send(()).unwrap();
    let mut listening = within("the listener", answering).await.unwrap();
    still_talking(&mut listening, &mut late).await;
}

/// Read server frames off a raw socket, answering nothing, until a close frame. Returns the
/// number of pings seen and the close code and reason.
async fn raw_close(raw: &mut TcpStream) -> (usize, u16, String) {
    let mut buf = Vec::new();
    let mut pings = 0;
    loop {
        // Parse whole frames at the front of `buf` (server frames are unmasked).
        while buf.len() >= 2 {
            let opcode = buf[0] & 0x0f;
            let len = usize::from(buf[1] & 0x7f);
            assert!(len < 126, "only small control frames expected");
            if buf.len() < 2 + len {
                break;
            }
            let payload: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
            match opcode {
                0x9 => pings += 1,
                0x8 => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                    return (pings, code, reason);
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
        let mut chunk = [0u8; 256];
        let n = raw.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the relay closed the socket without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_paths_are_refused_before_the_handshake() {
    let relay = Relay::start(RelayLimits::default()).await;
    let room = "ab".repeat(32);
    for path in [
        "/".to_string(),
        "/r/".to_string(),
        "/r/abc".to_string(),
        format!("/r/{}", room.to_uppercase()),
        format!("/rooms/{room}"),
    ] {
        let url = format!("ws://{}{path}", relay.addr);
        match within("a refusal", tokio_tungstenite::connect_async(url)).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 404, "{path}"),
            other => panic!("{path}: expected HTTP 404, got {:?}", other.map(|_| ())),
        }
    }
    // A plain HTTP request gets a short explanation.
    let (status, body) = http_get(relay.addr, "/nope").await;
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    assert!(body.contains("/r/"), "{body}");
}

/// A plain HTTP GET; returns the status line and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: relay\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    within("the response", tcp.read_to_string(&mut response))
        .await
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_200_ok() {
    let relay = Relay::start(RelayLimits::default()).await;
    let (status, body) = http_get(relay.addr, "/health").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body.trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_closes_every_connection_with_1001() {
    let relay = Relay::start(RelayLimits::default()).await;
    let room = new_room();
    let mut a = relay.join(&room).await;
    let mut b = relay.join(&new_room()).await;
    relay.stop().await.unwrap();
    for ws in [&mut a, &mut b] {
        let (code, reason) = closed_with(ws).await;
        assert_eq!(code, CloseCode::Away);
        assert!(reason.contains("shutting down"), "{reason}");
    }
}

#[tokio::test]
async fn limits_that_cannot_work_are_refused_at_start() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limits = RelayLimits {
        max_frame_bytes: 1 << 20,
        byte_burst: 1 << 10,
        ..RelayLimits::default()
    };
    let err = serve(listener, limits, std::future::pending())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("burst"), "{err}");
}

// ---- the `weft relay` binary -------------------------------------------------------------------

/// `weft relay` running as its own process.
struct RelayProcess {
    child: tokio::process::Child,
    addr: SocketAddr,
    /// Everything it printed after the first line.
    log: JoinHandle<Vec<String>>,
    _home: tempfile::TempDir,
}

impl RelayProcess {
    async fn start(listen: &str, extra: &[&str]) -> RelayProcess {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = common::weft_command(home.path());
        cmd.args(["relay", "--listen", listen])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .expect("start weft relay");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = within("the listening line", lines.next_line())
            .await
            .unwrap()
            .expect("weft relay printed nothing");
        let addr = first
            .strip_prefix("weft relay listening on ws://")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .unwrap();
        // Keep reading, so that logging never blocks on a full pipe.
        let log = tokio::spawn(async move {
            let mut rest = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push(line);
            }
            rest
        });
        RelayProcess {
            child,
            addr,
            log,
            _home: home,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_round_trip_through_a_running_relay() {
    let relay = RelayProcess::start("127.0.0.1:0", &[]).await;
    let out = weft(&["relay", "--check", &relay.url()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("is working"), "{stdout}");
    assert!(stdout.contains("round trip"), "{stdout}");

    let out = weft(&["relay", "--check", &relay.url(), "--json"]).await;
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert!(report["round_trip_ms"].as_f64().unwrap() > 0.0);

    // The binary answers health checks too.
    let (_, body) = http_get(relay.addr, "/health").await;
    assert_eq!(body.trim(), "ok");
    stop_with_sigterm(relay).await;
}

/// Stop the relay as a service manager would; it must exit cleanly. Returns its log.
async fn stop_with_sigterm(mut relay: RelayProcess) -> Vec<String> {
    let pid = relay.child.id().expect("still running") as i32;
    // SAFETY: sending a signal to a child process we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = within("the relay to exit", relay.child.wait())
        .await
        .unwrap();
    assert!(status.success(), "weft relay exited with {status}");
    let log = within("the log", relay.log).await.unwrap();
    assert_eq!(
        log.last().map(String::as_str),
        Some("weft relay stopped"),
        "{log:#?}"
    );
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_connections_but_not_rooms_or_frames() {
    let relay = RelayProcess::start("127.0.0.1:0", &[]).await;
    let room = [0x5au8; 32];
    let url = room_url(&relay.url(), &room).unwrap();
    let (mut a, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut b, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    send(&mut a, b"secret-frame-contents").await;
    assert_eq!(next_frame(&mut b).await, b"secret-frame-contents");
    a.close(None).await.unwrap();
    b.close(None).await.unwrap();
    // Wait for both close replies, so the relay has logged both departures.
    while a.next().await.is_some() {}
    while b.next().await.is_some() {}
    let log = stop_with_sigterm(relay).await.join("\n");
    assert!(log.contains("joined"), "{log}");
    assert!(
        log.contains("5a5a5a"),
        "a short room prefix is logged: {log}"
    );
    assert!(
        !log.contains(&hex::encode(room)),
        "the whole room id leaked: {log}"
    );
    assert!(
        !log.contains(&"5a".repeat(8)),
        "too much of the room id: {log}"
    );
    assert!(!log.contains("secret-frame-contents"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_clearly_when_no_relay_is_there() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let out = weft(&["relay", "--check", &format!("ws://127.0.0.1:{port}")]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the relay"), "{stderr}");

    // TLS spoken to a plain relay is turned away at its first byte, not left waiting.
    let relay = Relay::start(RelayLimits::default()).await;
    let out = weft(&["relay", "--check", &format!("wss://{}", relay.addr)]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the relay at wss://"),
        "{stderr}"
    );

    let out = weft(&["relay", "--check", "http://127.0.0.1:1"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ws:// or wss://"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_limits_that_cannot_work() {
    let out = weft(&[
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--max-frame",
        "2MiB",
        "--byte-burst",
        "1MiB",
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("byte burst"), "{stderr}");
    let out = weft(&["relay", "--max-frame", "lots"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
}

/// The next event from a room handle.
async fn next_event(h: &mut RoomHandle) -> RoomEvent {
    within("a room event", h.rx.recv())
        .await
        .expect("the room task stopped")
}

async fn until_connected(h: &mut RoomHandle) {
    within("reconnection", async {
        loop {
            match h.rx.recv().await.expect("the room task stopped") {
                RoomEvent::Connected => return,
                RoomEvent::Disconnected { retry_in, .. } => {
                    assert!(retry_in <= Duration::from_secs(15), "{retry_in:?}")
                }
                RoomEvent::Frame(f) => panic!("a frame while disconnected: {f:?}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_handle_reconnects_when_the_relay_comes_back() {
    let relay = RelayProcess::start("127.0.0.1:0", &[]).await;
    let addr = relay.addr;
    let url = room_url(&relay.url(), &new_room()).unwrap();
    let mut alice = room::connect(url.clone()).unwrap();
    let mut bob = room::connect(url).unwrap();
    assert_eq!(next_event(&mut alice).await, RoomEvent::Connected);
    assert_eq!(next_event(&mut bob).await, RoomEvent::Connected);
    bob.tx.send(b"before".to_vec()).await.unwrap();
    assert_eq!(
        next_event(&mut alice).await,
        RoomEvent::Frame(b"before".to_vec())
    );

    // The relay dies.
    let mut relay = relay;
    relay.child.kill().await.unwrap();
    for h in [&mut alice, &mut bob] {
        match next_event(h).await {
            RoomEvent::Disconnected { reason, retry_in } => {
                assert!(!reason.is_empty());
                assert!(retry_in <= Duration::from_millis(500), "{retry_in:?}");
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    // Sent while there is no relay: dropped, not delivered later.
    bob.tx.send(b"lost".to_vec()).await.unwrap();

    // It comes back on the same port.
    let _relay = RelayProcess::start(&addr.to_string(), &[]).await;
    until_connected(&mut alice).await;
    until_connected(&mut bob).await;
    bob.tx.send(b"after".to_vec()).await.unwrap();
    assert_eq!(
        next_event(&mut alice).await,
        RoomEvent::Frame(b"after".to_vec()),
        "frames flow again, and the one sent while disconnected was dropped"
    );
    alice.tx.send(b"and back".to_vec()).await.unwrap();
    assert_eq!(
        next_event(&mut bob).await,
        RoomEvent::Frame(b"and back".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_handle_reports_why_it_cannot_connect_and_stops_when_dropped() {
    // A listener that is not a relay: answers every request with 404.
    let relay = Relay::start(RelayLimits::default()).await;
    let mut h = room::connect(format!("ws://{}/not-a-room", relay.addr)).unwrap();
    match next_event(&mut h).await {
        RoomEvent::Disconnected { reason, retry_in } => {
            assert!(reason.contains("404"), "{reason}");
            assert!(retry_in >= Duration::from_millis(250), "{retry_in:?}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(room::connect("http://example.com".into()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_room_handle_closes_its_connection() {
    // Two per room: the third client gets in only once the handle's connection is gone.
    let relay = Relay::start(RelayLimits {
        max_connections_per_room: 2,
        ..RelayLimits::default()
    })
    .await;
    let room = new_room();
    let mut h = room::connect(room_url(&relay.url(), &room).unwrap()).unwrap();
    assert_eq!(next_event(&mut h).await, RoomEvent::Connected);
    let mut other = relay.join(&room).await;
    drop(h);
    let mut third = within("the handle's place in the room", async {
        loop {
            let mut third = relay.join(&room).await;
            send(&mut other, b"in?").await;
            match third.next().await {
                Some(Ok(Message::Binary(f))) => {
                    assert_eq!(&f[..], b"in?");
                    return third;
                }
                Some(Ok(Message::Close(Some(close)))) => {
                    assert_eq!(close.code, CloseCode::Again);
                    // Not yet: the relay has not read the handle's close frame. Ask again soon.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                unexpected => panic!("{unexpected:?}"),
            }
        }
    })
    .await;
    still_talking(&mut other, &mut third).await;
}
