//! `weft relay`: run the WebSocket relay, or check one that is running.

use std::fmt;
use std::future::Future;
use std::io::IsTerminal;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::relay::RelayLimits;
use crate::sync::room::room_url;

/// `weft relay [--listen HOST:PORT] [limits]` or `weft relay --check URL`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Address to listen on. Port 0 picks a free port; the first line printed says which.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Check the relay at URL (ws://HOST:PORT) instead of running one: send a frame between two
    /// connections in a random room and print the round-trip time. With several comma-separated
    /// URLs (relays joined by NATS), check each, then that a frame sent through one reaches a
    /// client of the next.
    #[arg(long, value_name = "URL[,URL…]", conflicts_with = "listen")]
    pub check: Option<String>,
    /// Join other relays through NATS (nats://HOST:PORT, comma-separated for a cluster): rooms
    /// then span every relay on the same NATS. Without it the relay stands alone.
    #[arg(long, value_name = "URLS", conflicts_with = "check")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The relay's limits (see [`RelayLimits`]); the defaults are [`RelayLimits::DEFAULT`].
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits (per connection, unless noted)")]
pub struct LimitArgs {
    /// Largest frame; bigger closes the connection with 1009 (sizes: 1048576, 512KiB, 1MiB).
    #[arg(long, value_name = "SIZE", default_value_t = Size(RelayLimits::DEFAULT.max_frame_bytes as u64))]
    pub max_frame: Size,
    /// Frames per second, on average; more closes the connection with 1008.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::DEFAULT.frames_per_second)]
    pub frames_per_sec: u32,
    /// Frames in a burst.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::DEFAULT.frame_burst)]
    pub frame_burst: u32,
    /// Bytes per second, on average; more closes the connection with 1008.
    #[arg(long, value_name = "SIZE", default_value_t = Size(RelayLimits::DEFAULT.bytes_per_second))]
    pub bytes_per_sec: Size,
    /// Bytes in a burst (at least --max-frame).
    #[arg(long, value_name = "SIZE", default_value_t = Size(RelayLimits::DEFAULT.byte_burst))]
    pub byte_burst: Size,
    /// Connections to the whole relay; one more is closed with 1013.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::DEFAULT.max_connections)]
    pub max_connections: usize,
    /// Connections to one room; one more is closed with 1013.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::DEFAULT.max_connections_per_room)]
    pub max_per_room: usize,
    /// Close a connection that sends nothing, not even a pong, for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = RelayLimits::DEFAULT.idle_timeout.as_secs())]
    pub idle_timeout: u64,
    /// Ping every connection this often (seconds).
    #[arg(long, value_name = "SECS", default_value_t = RelayLimits::DEFAULT.ping_interval.as_secs())]
    pub ping_interval: u64,
    /// Frames waiting for a slow receiver before it is closed with 1008 ("too slow").
    #[arg(long, value_name = "N", default_value_t = RelayLimits::DEFAULT.queue_frames)]
    pub queue_frames: usize,
    /// Bytes waiting for a slow receiver before it is closed with 1008 ("too slow").
    #[arg(long, value_name = "SIZE", default_value_t = Size(RelayLimits::DEFAULT.queue_bytes as u64))]
    pub queue_bytes: Size,
}

impl LimitArgs {
    fn limits(&self) -> anyhow::Result<RelayLimits> {
        let usize_of = |s: Size, flag: &str| {
            usize::try_from(s.0).map_err(|_| anyhow!("--{flag} {s} is too large for this machine"))
        };
        Ok(RelayLimits {
            max_frame_bytes: usize_of(self.max_frame, "max-frame")?,
            frames_per_second: self.frames_per_sec,
            frame_burst: self.frame_burst,
            bytes_per_second: self.bytes_per_sec.0,
            byte_burst: self.byte_burst.0,
            max_connections: self.max_connections,
            max_connections_per_room: self.max_per_room,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            ping_interval: Duration::from_secs(self.ping_interval),
            queue_frames: self.queue_frames,
            queue_bytes: usize_of(self.queue_bytes, "queue-bytes")?,
        })
    }
}

/// A byte count, written as a number with an optional unit: `1048576`, `512KiB`, `1MiB`, `1GiB`
/// (and KB/MB/GB, k/M/G as the same binary units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{s:?} is not a size (try 1048576, 512KiB or 1MiB)"))?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return Err(format!("{s:?}: unknown unit (use KiB, MiB or GiB)")),
        };
        number
            .checked_mul(1u64 << shift)
            .map(Size)
            .ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0 != 0 && self.0 % (1 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// Run `weft relay`. The rest of the CLI is synchronous; the relay brings its own runtime.
pub fn run(args: &RelayArgs, json: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the relay's runtime")?;
    match &args.check {
        Some(url) => runtime.block_on(check_all(url, json)),
        None => runtime.block_on(serve(args)),
    }
}

async fn serve(args: &RelayArgs) -> anyhow::Result<()> {
    let limits = args.limits.limits()?;
    limits
        .check()
        .context("these limits cannot work together")?;
    let stop = stop_signal()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    // The first line of output, for people and for scripts that started us on port 0.
    println!("weft relay listening on ws://{addr}");
    log_to_stdout();
    tracing::info!(
        max_frame = %Size(limits.max_frame_bytes as u64),
        frames_per_sec = limits.frames_per_second,
        frame_burst = limits.frame_burst,
        bytes_per_sec = %Size(limits.bytes_per_second),
        byte_burst = %Size(limits.byte_burst),
        max_connections = limits.max_connections,
        max_per_room = limits.max_connections_per_room,
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        ping_interval_secs = limits.ping_interval.as_secs(),
        "limits"
    );
    let bus = match &args.nats {
        Some(urls) => {
            let bus = crate::relay::Bus::connect(urls).await?;
            tracing::info!(nats = %urls, "joining other relays through NATS");
            if limits.max_frame_bytes > bus.max_payload() {
                tracing::warn!(
                    max_frame = %Size(limits.max_frame_bytes as u64),
                    nats_max_payload = %Size(bus.max_payload() as u64),
                    "frames larger than NATS's max_payload are refused with 1009: lower --max-frame or raise max_payload"
                );
            }
            Some(bus)
        }
        None => None,
    };
    crate::relay::serve_with(listener, limits, bus, stop)
        .await
        .context("running the relay")?;
    println!("weft relay stopped");
    Ok(())
}

/// Connection events go to stdout (a relay is a service; its supervisor keeps the log). The level
/// comes from `WEFT_LOG`, default `info` for the relay and `warn` for libraries.
fn log_to_stdout() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,weft=info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, before the
/// relay announces itself, so that a signal sent right after the first line is not missed.
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No Ctrl-C handler: run until killed.
            std::future::pending::<()>().await;
        }
    })
}

/// How long `--check` waits for each step.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct CheckReport<'a> {
    relay: &'a str,
    ok: bool,
    round_trip_ms: f64,
    /// `None` for a relay without NATS.
    nats_up: Option<bool>,
}

/// What `--check` found for one relay of a list, or between two.
#[derive(Serialize)]
struct ListReport {
    relay: String,
    /// For a cross check: the relay the frame was received through.
    to: Option<String>,
    ok: bool,
    error: Option<String>,
}

/// `--check` with one URL, or each of several and then each to the next across NATS.
async fn check_all(list: &str, json: bool) -> anyhow::Result<()> {
    let relays = crate::sync::room::split_relays(list);
    if relays.len() < 2 {
        return check(list, json).await;
    }
    let mut reports = Vec::new();
    for relay in &relays {
        let outcome = match probe(relay).await {
            Ok((ms, nats_up)) if json => {
                if nats_up == Some(false) {
                    Err(anyhow::anyhow!(
                        "the relay at {relay} has lost its NATS link"
                    ))
                } else {
                    Ok(ms)
                }
            }
            Ok((ms, nats_up)) => report(relay, ms, nats_up, false).map(|()| ms),
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            if !json {
                println!("✗ {e:#}");
            }
        }
        reports.push(ListReport {
            relay: relay.to_string(),
            to: None,
            ok: outcome.is_ok(),
            error: outcome.err().map(|e| format!("{e:#}")),
        });
    }
    let up: Vec<bool> = reports.iter().map(|r| r.ok).collect();
    for i in 0..relays.len() {
        let (from, to) = (relays[i], relays[(i + 1) % relays.len()]);
        if !(up[i] && up[(i + 1) % relays.len()]) || (relays.len() == 2 && i == 1) {
            continue;
        }
        let outcome = cross(from, to).await;
        match (&outcome, json) {
            (Ok(ms), false) => {
                println!("a frame sent through {from} reached a client of {to} in {ms:.2} ms")
            }
            (Err(e), false) => println!("✗ {e:#}"),
            _ => {}
        }
        reports.push(ListReport {
            relay: from.to_string(),
            to: Some(to.to_string()),
            ok: outcome.is_ok(),
            error: outcome.err().map(|e| format!("{e:#}")),
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        bail!(
            "{failed} of {} checks failed: members reach each other only through the relays that passed",
            reports.len()
        );
    }
    if !json {
        println!(
            "all {} relays work and carry rooms between them",
            relays.len()
        );
    }
    Ok(())
}

/// A client of `to` receives a frame sent through `from` in the same random room (the relays
/// share it through NATS). A subscription takes a moment to reach NATS, so the frame is sent
/// again until it arrives. Returns the milliseconds from the last send to the receipt.
async fn cross(from: &str, to: &str) -> anyhow::Result<f64> {
    let room: [u8; 32] = rand::random();
    let mut a = open(from, &room_url(from, &room)?).await?;
    let mut b = open(to, &room_url(to, &room)?).await?;
    let probe: [u8; 32] = rand::random();
    let deadline = Instant::now() + CHECK_TIMEOUT;
    loop {
        let sent = Instant::now();
        a.send(Message::Binary(probe.to_vec().into()))
            .await
            .with_context(|| format!("sending to the relay at {from}"))?;
        match tokio::time::timeout(Duration::from_millis(300), next_frame(&mut b, to)).await {
            Ok(Ok(got)) if got == probe => {
                let _ = tokio::time::timeout(Duration::from_secs(1), a.close(None)).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), b.close(None)).await;
                return Ok(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(Ok(_)) => bail!("the relay at {to} delivered a different frame than was sent"),
            Ok(Err(e)) => return Err(e),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => bail!(
                "a frame sent through {from} did not reach a client of {to} within {} s: are both on the same NATS?",
                CHECK_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Two connections to a fresh random room: A sends a frame, B receives it and sends it back, A
/// receives it. The time from A's send to A's receive is the round trip through the relay, twice.
async fn check(relay: &str, json: bool) -> anyhow::Result<()> {
    let (round_trip_ms, nats_up) = probe(relay).await?;
    report(relay, round_trip_ms, nats_up, json)
}

/// Print what [`probe`] found; fails when the relay's NATS link is down.
fn report(
    relay: &str,
    round_trip_ms: f64,
    nats_up: Option<bool>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let report = CheckReport {
            relay,
            ok: nats_up != Some(false),
            round_trip_ms,
            nats_up,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("relay at {relay} is working: round trip {round_trip_ms:.2} ms (A → relay → B → relay → A)");
        match nats_up {
            None => println!("it stands alone (no NATS link)"),
            Some(true) => println!("its NATS link is up: rooms span relays"),
            Some(false) => {}
        }
    }
    if nats_up == Some(false) {
        bail!(
            "the relay at {relay} has lost its NATS link: only members on the same relay reach each other until it comes back"
        );
    }
    Ok(())
}

/// The round trip through `relay` in milliseconds, and whether its NATS link is up.
async fn probe(relay: &str) -> anyhow::Result<(f64, Option<bool>)> {
    let room: [u8; 32] = rand::random();
    let url = room_url(relay, &room)?;
    let mut a = open(relay, &url).await?;
    let mut b = open(relay, &url).await?;
    let probe: [u8; 32] = rand::random();
    let started = Instant::now();
    a.send(Message::Binary(probe.to_vec().into()))
        .await
        .with_context(|| format!("sending to the relay at {relay}"))?;
    let got = next_frame(&mut b, relay).await?;
    if got != probe {
        bail!("the relay at {relay} delivered a different frame than was sent");
    }
    b.send(Message::Binary(got.into()))
        .await
        .with_context(|| format!("sending to the relay at {relay}"))?;
    let back = next_frame(&mut a, relay).await?;
    let round_trip = started.elapsed();
    if back != probe {
        bail!("the relay at {relay} delivered a different frame than was sent");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), a.close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), b.close(None)).await;
    let round_trip_ms = round_trip.as_secs_f64() * 1000.0;
    Ok((round_trip_ms, nats_link(relay).await?))
}

/// Ask the relay's `/health` whether its NATS link is up: `None` if it has none (or the answer
/// does not say).
async fn nats_link(relay: &str) -> anyhow::Result<Option<bool>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(relay).with_context(|| format!("{relay:?} is not a relay URL"))?;
    if url.scheme() != "ws" {
        // Behind a TLS proxy: the proxy's own health check is the place to look.
        return Ok(None);
    }
    let host = url.host_str().context("the relay URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let ask = async {
        let mut tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tcp.write_all(
            format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut body = Vec::new();
        tcp.take(64 * 1024).read_to_end(&mut body).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&body).into_owned())
    };
    let answer = match tokio::time::timeout(CHECK_TIMEOUT, ask).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => bail!("asking the relay at {relay} for its health failed: {e}"),
        Err(_) => bail!(
            "the relay at {relay} did not answer /health within {} s",
            CHECK_TIMEOUT.as_secs()
        ),
    };
    Ok(if answer.contains("nats: up") {
        Some(true)
    } else if answer.contains("nats: down") {
        Some(false)
    } else {
        None
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(relay: &str, url: &str) -> anyhow::Result<Ws> {
    let connect = tokio_tungstenite::connect_async_with_config(url, None, true);
    match tokio::time::timeout(CHECK_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(WsError::Io(e))) => bail!("cannot reach the relay at {relay}: {e}"),
        Ok(Err(WsError::Http(response))) => bail!(
            "the relay at {relay} refused the connection: HTTP {}",
            response.status()
        ),
        Ok(Err(e)) => bail!("connecting to the relay at {relay} failed: {e}"),
        Err(_) => bail!(
            "no answer from the relay at {relay} within {} s",
            CHECK_TIMEOUT.as_secs()
        ),
    }
}

async fn next_frame(ws: &mut Ws, relay: &str) -> anyhow::Result<Vec<u8>> {
    let wait = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(frame))) => return Ok(Vec::from(frame)),
                Some(Ok(Message::Close(close))) => {
                    let why = close
                        .map(|c| format!("{}: {}", u16::from(c.code), c.reason))
                        .unwrap_or_else(|| "no reason given".into());
                    bail!("the relay at {relay} closed the connection ({why})")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("lost the connection to the relay at {relay}: {e}"),
                None => bail!("the relay at {relay} closed the connection"),
            }
        }
    };
    match tokio::time::timeout(CHECK_TIMEOUT, wait).await {
        Ok(result) => result,
        Err(_) => bail!(
            "the relay at {relay} did not forward a frame within {} s",
            CHECK_TIMEOUT.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print_in_binary_units() {
        assert_eq!("1048576".parse(), Ok(Size(1 << 20)));
        assert_eq!("1MiB".parse(), Ok(Size(1 << 20)));
        assert_eq!("512 KiB".parse(), Ok(Size(512 << 10)));
        assert_eq!("4mb".parse(), Ok(Size(4 << 20)));
        assert_eq!("2G".parse(), Ok(Size(2 << 30)));
        assert!("".parse::<Size>().is_err());
        assert!("MiB".parse::<Size>().is_err());
        assert!("1.5MiB".parse::<Size>().is_err());
        assert!("1PiB".parse::<Size>().is_err());
        assert!("99999999999999GiB".parse::<Size>().is_err());
        assert_eq!(Size(1 << 20).to_string(), "1MiB");
        assert_eq!(Size(8 << 20).to_string(), "8MiB");
        assert_eq!(Size(1536).to_string(), "1536");
        assert_eq!(Size(0).to_string(), "0");
    }

    #[test]
    fn default_flags_are_the_default_limits() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            relay: RelayArgs,
        }
        let t = T::try_parse_from(["weft"]).unwrap();
        assert_eq!(t.relay.limits.limits().unwrap(), RelayLimits::DEFAULT);
        assert_eq!(t.relay.listen, "127.0.0.1:7878");
    }
}
