//! Raw WebSocket clients of a relay, for the relay tests: join a room, send and read frames,
//! check two clients still hear each other, run the `weft` binary with a deadline.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use weft::sync::room::room_url;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A raw client in `room` of the relay at `relay`.
pub async fn join(relay: &str, room: &[u8; 32]) -> Ws {
    let url = room_url(relay, room).unwrap();
    within("the handshake", tokio_tungstenite::connect_async(url))
        .await
        .expect("connect to the relay")
        .0
}

pub async fn send(ws: &mut Ws, frame: &[u8]) {
    ws.send(Message::Binary(frame.to_vec().into()))
        .await
        .expect("send a frame");
}

/// The next binary frame (pings and pongs skipped).
pub async fn next_frame(ws: &mut Ws) -> Vec<u8> {
    within("a frame", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => return Vec::from(b),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    })
    .await
}

/// Skip frames until `want` arrives (frames from a flood, say).
pub async fn frame_until(ws: &mut Ws, want: &[u8]) {
    while next_frame(ws).await != want {}
}

/// Both directions still work between `a` and `b` (other frames in the room are skipped).
pub async fn still_talking(a: &mut Ws, b: &mut Ws) {
    send(a, b"still here?").await;
    frame_until(b, b"still here?").await;
    send(b, b"yes").await;
    frame_until(a, b"yes").await;
}

/// The `weft` binary with `args` on a fresh home, within [`WAIT`].
pub async fn weft(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = super::common::weft_command(home.path());
    cmd.args(args).stdin(Stdio::null());
    within(
        "weft to finish",
        tokio::process::Command::from(cmd).output(),
    )
    .await
    .expect("run weft")
}
