//! The relay forwarding frames, measured through the real `weft relay` binary on loopback.
//!
//! - Latency: one sender, one receiver in a room; one 256-byte frame at a time, timed from the
//!   sender's write to the receiver's read (one hop through the relay). Criterion gives the
//!   median; a separate run of 20,000 frames prints p50, p99 and max.
//! - Fan-out: 100 rooms × 3 clients, every client sending 256-byte frames to its two peers, each
//!   client keeping at most 16 of its frames not yet received by both peers (so the relay is kept
//!   busy but never has to drop anyone). Prints frames delivered per second over 5 s, and the CPU
//!   the relay process used meanwhile (Linux `/proc`).
//!
//! The relay runs as its own process with the rate limits lifted (the defaults allow 200 frames/s
//! per connection, which would measure the policy, not the relay). Clients run in this process,
//! so they share the machine's cores with the relay.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use weft::sync::room::room_url;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const FRAME: usize = 256;

/// `weft relay` on a free port; killed on drop.
struct RelayProcess {
    child: Child,
    url: String,
}

impl RelayProcess {
    fn start() -> RelayProcess {
        let home = std::env::temp_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .args([
                "relay",
                "--listen",
                "127.0.0.1:0",
                "--frames-per-sec",
                "10000000",
                "--frame-burst",
                "10000000",
                "--bytes-per-sec",
                "1GiB",
                "--byte-burst",
                "1GiB",
            ])
            .env("WEFT_HOME", home)
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
        // Keep the pipe drained.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        RelayProcess { child, url }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn join(relay: &str, room: &[u8; 32]) -> Ws {
    let url = room_url(relay, room).expect("room url");
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("connect");
    ws
}

async fn next_frame(ws: &mut Ws) -> usize {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return b.len(),
            Some(Ok(_)) => {}
            other => panic!("connection lost: {other:?}"),
        }
    }
}

/// One sender, one receiver, one frame at a time.
struct Pair {
    a: Ws,
    b: Ws,
    frame: Vec<u8>,
}

impl Pair {
    async fn new(relay: &str) -> Pair {
        let room: [u8; 32] = rand::random();
        Pair {
            a: join(relay, &room).await,
            b: join(relay, &room).await,
            frame: vec![0x42; FRAME],
        }
    }

    async fn hop(&mut self) -> Duration {
        let start = Instant::now();
        self.a
            .send(Message::Binary(self.frame.clone().into()))
            .await
            .expect("send");
        let n = next_frame(&mut self.b).await;
        let took = start.elapsed();
        assert_eq!(n, FRAME);
        took
    }
}

fn percentiles(rt: &tokio::runtime::Runtime, pair: &mut Pair, n: usize) {
    let mut samples: Vec<Duration> = rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(pair.hop().await);
        }
        v
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "relay_forward_256B_1_to_1: {n} frames, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6,
    );
}

/// Per room: how many of sender s's frames receiver r has read.
struct RoomCounters {
    delivered: [[AtomicU64; 3]; 3],
    /// Woken when one of a sender's frames has been read.
    progress: [Notify; 3],
}

const ROOMS: usize = 100;
const WINDOW: u64 = 16;

/// CPU time (user + system) the process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn fan_out(rt: &tokio::runtime::Runtime, relay: &str, relay_pid: u32) {
    let total = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let lost: Arc<Mutex<Vec<String>>> = Arc::default();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..ROOMS {
            let room: [u8; 32] = rand::random();
            let counters = Arc::new(RoomCounters {
                delivered: Default::default(),
                progress: Default::default(),
            });
            let mut clients = Vec::new();
            for _ in 0..3 {
                clients.push(join(relay, &room).await);
            }
            for (me, ws) in clients.into_iter().enumerate() {
                let (mut sink, mut stream) = ws.split();
                let (counters_tx, counters_rx) = (counters.clone(), counters.clone());
                let (running_tx, running_rx) = (running.clone(), running.clone());
                let (total, lost_tx, lost_rx) = (total.clone(), lost.clone(), lost.clone());
                tasks.push(tokio::spawn(async move {
                    let mut frame = vec![0u8; FRAME];
                    frame[0] = me as u8;
                    let mut sent = 0u64;
                    while running_tx.load(Ordering::Relaxed) {
                        let slowest = (0..3)
                            .filter(|&r| r != me)
                            .map(|r| counters_tx.delivered[me][r].load(Ordering::Acquire))
                            .min()
                            .unwrap_or(0);
                        if sent - slowest >= WINDOW {
                            let woken = counters_tx.progress[me].notified();
                            let _ = tokio::time::timeout(Duration::from_millis(100), woken).await;
                            continue;
                        }
                        if let Err(e) = sink.send(Message::Binary(frame.clone().into())).await {
                            lost_tx.lock().unwrap().push(format!("send failed: {e}"));
                            return;
                        }
                        sent += 1;
                    }
                }));
                tasks.push(tokio::spawn(async move {
                    while running_rx.load(Ordering::Relaxed) {
                        let msg = tokio::time::timeout(Duration::from_millis(200), stream.next());
                        match msg.await {
                            Ok(Some(Ok(Message::Binary(f)))) => {
                                let from = usize::from(f[0]);
                                counters_rx.delivered[from][me].fetch_add(1, Ordering::Release);
                                counters_rx.progress[from].notify_one();
                                total.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Some(Ok(Message::Close(close)))) => {
                                lost_rx.lock().unwrap().push(format!("closed: {close:?}"));
                                return;
                            }
                            Ok(Some(Ok(_))) | Err(_) => {}
                            Ok(Some(Err(e))) => {
                                lost_rx.lock().unwrap().push(format!("lost: {e}"));
                                return;
                            }
                            Ok(None) => {
                                lost_rx.lock().unwrap().push("ended".into());
                                return;
                            }
                        }
                    }
                }));
            }
        }
        // Warm up, then measure.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (start, before, cpu_before) = (
            Instant::now(),
            total.load(Ordering::Relaxed),
            cpu_seconds(relay_pid),
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (took, delivered) = (start.elapsed(), total.load(Ordering::Relaxed) - before);
        let relay_cpu = cpu_seconds(relay_pid) - cpu_before;
        running.store(false, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let lost = lost.lock().unwrap();
        let mut reasons: Vec<&String> = lost.iter().collect();
        reasons.sort();
        reasons.dedup();
        println!(
            "relay_fan_out_{ROOMS}_rooms_x_3_clients_256B: {:.0} frames delivered/s ({:.0} sent/s); \
             the relay used {:.2} cores, {:.0} deliveries per relay CPU-second; {} connections lost {reasons:?}",
            delivered as f64 / took.as_secs_f64(),
            delivered as f64 / took.as_secs_f64() / 2.0,
            relay_cpu / took.as_secs_f64(),
            delivered as f64 / relay_cpu,
            lost.len(),
        );
    });
}

fn relay(c: &mut Criterion) {
    let relay = RelayProcess::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut pair = rt.block_on(Pair::new(&relay.url));
    c.bench_function("relay_forward_256B_1_to_1", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += pair.hop().await;
                }
                total
            })
        })
    });
    percentiles(&rt, &mut pair, 20_000);
    drop(pair);
    fan_out(&rt, &relay.url, relay.child.id());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = relay
}
criterion_main!(benches);
