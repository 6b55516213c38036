//! The HTTP side of a connection: read the request head, answer `/health` and wrong paths
//! ourselves, and hand room requests (head included) to the WebSocket handshake.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::RoomId;

/// Longest request head we read before giving up on a client.
const MAX_HEAD: usize = 8 * 1024;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /health`.
    Health,
    /// A WebSocket upgrade to a room.
    Room(RoomId),
    /// Anything else, answered with this status and text.
    Refuse(u16, &'static str),
}

/// What came in before the request head's blank line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// The whole head, and whatever was read past it.
    Complete(Vec<u8>),
    /// The client closed first.
    Closed,
    /// No blank line within [`MAX_HEAD`] bytes.
    TooLong,
    /// The first byte cannot start an HTTP request (a TLS handshake, say): no use waiting.
    NotHttp,
}

/// Read the request head, up to the blank line.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        // Every HTTP method starts with an uppercase letter; a TLS ClientHello starts with 0x16.
        if !buf[0].is_ascii_uppercase() {
            return Ok(Head::NotHttp);
        }
        if find_blank_line(&buf).is_some() {
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Head::TooLong);
        }
    }
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Decide what a request head asks for. Never fails: a head we cannot read is refused with 400.
pub(crate) fn route(head: &[u8]) -> Route {
    let end = find_blank_line(head).unwrap_or(head.len());
    let Ok(text) = std::str::from_utf8(&head[..end]) else {
        return Route::Refuse(400, "bad request");
    };
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Refuse(400, "bad request");
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Refuse(400, "bad request");
    }
    if method != "GET" {
        return Route::Refuse(405, "method not allowed");
    }
    if target == "/health" {
        return Route::Health;
    }
    let Some(room) = target.strip_prefix("/r/").and_then(RoomId::from_hex) else {
        return Route::Refuse(
            404,
            "not found: rooms are at /r/<room id, 64 lowercase hex characters>",
        );
    };
    let upgrade = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("upgrade")
                && value.trim().eq_ignore_ascii_case("websocket")
        })
    });
    if !upgrade {
        return Route::Refuse(426, "this is a weft relay room: connect with a WebSocket");
    }
    Route::Room(room)
}

/// Write a plain-text response and close our side.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    body: &str,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let upgrade = if status == 426 {
        "Upgrade: websocket\r\n"
    } else {
        ""
    };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\n{upgrade}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    stream.write_all(text.as_bytes()).await?;
    stream.shutdown().await
}

/// A stream that first replays bytes already read from it (the request head), so the WebSocket
/// handshake sees the request whole.
#[derive(Debug)]
pub(crate) struct Replay<S> {
    head: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub(crate) fn new(head: Vec<u8>, inner: S) -> Self {
        Replay {
            head,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.head.len() {
            let n = buf.remaining().min(this.head.len() - this.pos);
            buf.put_slice(&this.head[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.head.len() {
                this.head = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn upgrade(path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn rooms_are_64_lowercase_hex_characters_under_r() {
        let Route::Room(id) = route(&upgrade(&format!("/r/{ROOM}"))) else {
            panic!("a room path is a room");
        };
        assert_eq!(id.short(), "001122");
        for bad in [
            "/".to_string(),
            "/r/".to_string(),
            format!("/r/{}", &ROOM[..62]),
            format!("/r/{ROOM}00"),
            format!("/r/{}", ROOM.to_uppercase()),
            format!("/r/{ROOM}/"),
            format!("/r/{ROOM}?x=1"),
            format!("/x/{ROOM}"),
            format!("/r/{}", "zz".repeat(32)),
        ] {
            assert!(
                matches!(route(&upgrade(&bad)), Route::Refuse(404, _)),
                "{bad} is not a room"
            );
        }
    }

    #[test]
    fn health_and_bad_requests() {
        assert_eq!(
            route(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Health
        );
        assert!(matches!(
            route(b"POST /health HTTP/1.1\r\n\r\n"),
            Route::Refuse(405, _)
        ));
        assert!(matches!(route(b"\xff\xfe\r\n\r\n"), Route::Refuse(400, _)));
        assert!(matches!(route(b"GET\r\n\r\n"), Route::Refuse(400, _)));
        assert!(matches!(route(b""), Route::Refuse(400, _)));
        let plain_get = format!("GET /r/{ROOM} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(route(plain_get.as_bytes()), Route::Refuse(426, _)));
    }

    #[tokio::test]
    async fn replay_yields_the_head_then_the_rest() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut r = Replay::new(b"hello".to_vec(), server);
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }

    #[tokio::test]
    async fn read_head_stops_at_the_blank_line_and_gives_up_early_on_non_http() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client
            .write_all(b"GET /health HTTP/1.1\r\n\r\nextra")
            .await
            .unwrap();
        let Head::Complete(head) = read_head(&mut server).await.unwrap() else {
            panic!("a complete head");
        };
        assert!(head.starts_with(b"GET /health"));
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client.write_all(&[b'A'; MAX_HEAD + 10]).await.unwrap();
        assert_eq!(read_head(&mut server).await.unwrap(), Head::TooLong);
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        assert_eq!(read_head(&mut server).await.unwrap(), Head::NotHttp);
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert_eq!(read_head(&mut server).await.unwrap(), Head::Closed);
    }
}
