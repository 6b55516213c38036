//! Relays joined by NATS, measured through the real `weft relay --nats` binary and a real
//! `nats-server` on loopback, in one run:
//!
//! - Latency: one 256-byte frame at a time from a sender to a receiver, timed from the sender's
//!   write to the receiver's read: through one relay, and across two relays via NATS. p50 and p99
//!   of 20,000 frames each.
//! - Fan-out: 1,000 clients in 100 rooms (10 per room), spread round-robin over three relays, each
//!   sending a 256-byte frame every 100 ms (a fast typist) for 10 s, then stopping by itself.
//!   Deliveries per second, p50/p99 delivery latency (each frame carries its send time), and the
//!   CPU each relay and nats-server used (`/proc/PID/stat`).
//!
//! Rate limits are lifted on the relays. Clients run in this process and share the machine's
//! cores with the relays and nats-server. Needs `nats-server` (skips with a note without it).

use std::io::{BufRead, BufReader};
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use weft::sync::room::room_url;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const FRAME: usize = 256;
const HOPS: usize = 20_000;
const CLIENTS: usize = 1_000;
const ROOMS: usize = 100;
const EVERY: Duration = Duration::from_millis(100);
const RUN: Duration = Duration::from_secs(10);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

fn start_nats(bin: &std::path::Path) -> (Killed, String) {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), format!("nats://127.0.0.1:{port}"))
}

fn start_relay(nats: &str) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["relay", "--listen", "127.0.0.1:0", "--nats", nats])
        .args(["--frames-per-sec", "10000000", "--frame-burst", "10000000"])
        .args(["--bytes-per-sec", "1GiB", "--byte-burst", "1GiB"])
        .env("WEFT_HOME", std::env::temp_dir())
        .env("WEFT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start weft relay");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("read");
    let url = first
        .strip_prefix("weft relay listening on ")
        .expect("the listening line")
        .to_string();
    std::thread::spawn(move || for _ in lines.by_ref() {});
    // Wait for its NATS link.
    let addr = url.trim_start_matches("ws://").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).expect("relay");
        s.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if out.contains("nats: up") {
            break;
        }
        assert!(Instant::now() < deadline, "the relay never reached NATS");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), url)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

async fn join(relay: &str, room: &[u8; 32]) -> Ws {
    let url = room_url(relay, room).expect("room url");
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("connect")
        .0
}

async fn next_frame(ws: &mut Ws) -> Vec<u8> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return b.to_vec(),
            Some(Ok(_)) => {}
            other => panic!("connection lost: {other:?}"),
        }
    }
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// p50 and p99 (ms) of one frame at a time from `from` to `to` (same room).
async fn hops(from: &str, to: &str) -> (f64, f64) {
    let room: [u8; 32] = rand::random();
    let mut a = join(from, &room).await;
    let mut b = join(to, &room).await;
    // Wait until frames cross (NATS interest spreads in a moment).
    loop {
        a.send(Message::Binary(vec![0; FRAME].into()))
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(200), next_frame(&mut b))
            .await
            .is_ok()
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    while tokio::time::timeout(Duration::from_millis(50), next_frame(&mut b))
        .await
        .is_ok()
    {}
    let mut v = Vec::with_capacity(HOPS);
    for _ in 0..HOPS {
        let start = Instant::now();
        a.send(Message::Binary(vec![0x42; FRAME].into()))
            .await
            .unwrap();
        next_frame(&mut b).await;
        v.push(start.elapsed());
    }
    v.sort();
    (pct(&v, 0.5), pct(&v, 0.99))
}

fn main() {
    let Some(bin) = nats_server() else {
        println!("skipping: nats-server is not installed");
        return;
    };
    let (nats, nats_url) = start_nats(&bin);
    let relays: Vec<(Killed, String)> = (0..3).map(|_| start_relay(&nats_url)).collect();
    let urls: Vec<String> = relays.iter().map(|r| r.1.clone()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let (one50, one99) = rt.block_on(hops(&urls[0], &urls[0]));
    let (two50, two99) = rt.block_on(hops(&urls[0], &urls[1]));
    println!("one hop, one relay:           p50 {one50:.3} ms, p99 {one99:.3} ms ({HOPS} frames)");
    println!("one hop, two relays via NATS: p50 {two50:.3} ms, p99 {two99:.3} ms ({HOPS} frames)");
    println!("cross-relay adds:             p50 {:.3} ms", two50 - one50);

    // Fan-out.
    let base = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let rooms: Vec<[u8; 32]> = (0..ROOMS).map(|_| rand::random()).collect();
    let clients: Vec<Ws> = rt.block_on(async {
        let mut v = Vec::with_capacity(CLIENTS);
        for i in 0..CLIENTS {
            v.push(join(&urls[i % urls.len()], &rooms[i % ROOMS]).await);
        }
        v
    });
    // Let subscriptions spread before the clock starts.
    std::thread::sleep(Duration::from_millis(500));
    let cpu_before: Vec<f64> = relays
        .iter()
        .map(|r| cpu_seconds(r.0 .0.id()))
        .chain([cpu_seconds(nats.0.id())])
        .collect();
    let started = Instant::now();
    let stop_at = started + RUN;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for ws in clients {
            let (mut tx, mut rx) = ws.split();
            let delivered = delivered.clone();
            let latencies = latencies.clone();
            tasks.push(tokio::spawn(async move {
                // Stagger the senders over one period.
                tokio::time::sleep(EVERY.mul_f64(rand::random::<f64>())).await;
                let mut tick = tokio::time::interval(EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while Instant::now() < stop_at {
                    tick.tick().await;
                    let mut frame = vec![0u8; FRAME];
                    let now = base.elapsed().as_micros() as u64;
                    frame[..8].copy_from_slice(&now.to_le_bytes());
                    if tx.send(Message::Binary(frame.into())).await.is_err() {
                        break;
                    }
                }
                // Keep the connection open until the receivers have drained.
                tokio::time::sleep_until((stop_at + Duration::from_secs(2)).into()).await;
                drop(tx);
            }));
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let drain_until = stop_at + Duration::from_secs(2);
                while let Ok(Some(Ok(m))) =
                    tokio::time::timeout_at(drain_until.into(), rx.next()).await
                {
                    if let Message::Binary(b) = m {
                        let sent = u64::from_le_bytes(b[..8].try_into().unwrap());
                        let now = base.elapsed().as_micros() as u64;
                        mine.push(Duration::from_micros(now.saturating_sub(sent)));
                    }
                }
                delivered.fetch_add(mine.len() as u64, Ordering::Relaxed);
                latencies.lock().unwrap().extend(mine);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let secs = RUN.as_secs_f64();
    let cpu_after: Vec<f64> = relays
        .iter()
        .map(|r| cpu_seconds(r.0 .0.id()))
        .chain([cpu_seconds(nats.0.id())])
        .collect();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let n = delivered.load(Ordering::Relaxed);
    println!(
        "fan-out, {CLIENTS} clients in {ROOMS} rooms over 3 relays, a frame per client every {} ms for {secs} s:",
        EVERY.as_millis()
    );
    println!(
        "  delivered {n} frames: {:.0}/s (expected {:.0}/s); latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        n as f64 / secs,
        (CLIENTS as f64 / EVERY.as_secs_f64()) * (CLIENTS / ROOMS - 1) as f64,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    for (i, (b, a)) in cpu_before.iter().zip(&cpu_after).enumerate() {
        let who = if i < 3 {
            format!("relay {}", i + 1)
        } else {
            "nats-server".to_string()
        };
        println!("  CPU {who}: {:.2} cores", (a - b) / secs);
    }
}
