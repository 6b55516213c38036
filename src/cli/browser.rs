//! `weft pair --browser`: a one-page server on 127.0.0.1 that asks an injected EIP-1193 wallet
//! (MetaMask, Rabby, a hardware wallet behind one) to `personal_sign` the pairing message and posts
//! the signature back. A one-time token in the URL keeps other local processes out; the page is
//! usable from a laptop through `ssh -L` when weft runs on a server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::Context;
use crate::identity::{Address, Signature65};

/// How long the page waits for a signature.
const WAIT: Duration = Duration::from_secs(15 * 60);
/// Largest request we read (the signature is 132 characters).
const MAX_REQUEST: usize = 8 * 1024;

/// Serve the page until a signature by `address` of `message` arrives; return it as hex.
pub fn collect_signature(
    ctx: &Context,
    address: &Address,
    message: &str,
    port: Option<u16>,
) -> anyhow::Result<String> {
    let port = port.unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).context("opening a port on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    let token = hex::encode(rand::random::<[u8; 16]>());
    let url = format!("http://127.0.0.1:{port}/pair?token={token}");
    // stderr, so --json output stays clean; stdout when a person is reading.
    let say = |s: String| {
        if ctx.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    };
    say(format!(
        "Open this page in the browser that has your wallet:\n  {url}"
    ));
    say(format!(
        "On a remote machine? From your laptop run\n  ssh -L {port}:127.0.0.1:{port} <this host>\nand open the same URL there."
    ));
    say("Waiting for the signature (Ctrl-C to cancel)…".into());
    let _ = std::io::stdout().flush();
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    while started.elapsed() < WAIT {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                match handle(stream, &token, address, message) {
                    Ok(Some(sig)) => return Ok(sig),
                    Ok(None) => {}
                    Err(e) => tracing::debug!(error = %e, "pairing page request"),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e).context("waiting for the browser"),
        }
    }
    bail!(
        "no signature within {} minutes; run `weft pair --browser` again",
        WAIT.as_secs() / 60
    )
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> anyhow::Result<Request> {
    let mut reader = BufReader::new(stream.take(MAX_REQUEST as u64));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    if length > MAX_REQUEST {
        bail!("request too large");
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request { method, path, body })
}

fn respond(
    mut stream: &TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Frame-Options: DENY\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One request. `Some(signature)` once a valid one arrived.
fn handle(
    stream: TcpStream,
    token: &str,
    address: &Address,
    message: &str,
) -> anyhow::Result<Option<String>> {
    let req = read_request(&stream)?;
    let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
    let token_ok = query.split('&').any(|kv| kv == format!("token={token}"));
    if !token_ok {
        respond(
            &stream,
            "403 Forbidden",
            "text/plain",
            "This pairing link is not valid.",
        )?;
        return Ok(None);
    }
    match (req.method.as_str(), path) {
        ("GET", "/pair") => {
            respond(
                &stream,
                "200 OK",
                "text/html",
                &page(address, message, token),
            )?;
            Ok(None)
        }
        ("POST", "/signature") => {
            let text = String::from_utf8_lossy(&req.body).trim().to_string();
            let checked = text
                .parse::<Signature65>()
                .map_err(|e| e.to_string())
                .and_then(|sig| sig.recover(message.as_bytes()).map_err(|e| e.to_string()))
                .and_then(|who| {
                    if who == *address {
                        Ok(())
                    } else {
                        Err(format!("that signature is from {who}, not {address}; switch accounts and try again"))
                    }
                });
            match checked {
                Ok(()) => {
                    respond(
                        &stream,
                        "200 OK",
                        "text/plain",
                        "Paired. You can close this page.",
                    )?;
                    Ok(Some(text))
                }
                Err(why) => {
                    respond(&stream, "400 Bad Request", "text/plain", &why)?;
                    Ok(None)
                }
            }
        }
        _ => {
            respond(&stream, "404 Not Found", "text/plain", "not found")?;
            Ok(None)
        }
    }
}

/// The page: shows the message and asks the injected wallet to sign it.
fn page(address: &Address, message: &str, token: &str) -> String {
    // JSON inside <script>: escape '<' so no text can close the element.
    let json = |s: &str| {
        serde_json::to_string(s)
            .unwrap_or_else(|_| "\"\"".into())
            .replace('<', "\\u003c")
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Pair weft</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44em;margin:2em auto;padding:0 1em}}
pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap}}#status{{font-weight:bold}}</style></head>
<body><h1>Pair this weft device</h1>
<p>Your wallet <code>{addr}</code> will sign this message. It lets this device sign weft changes
for you; it moves no funds and costs no gas.</p>
<pre id="message">{msg}</pre>
<button id="sign">Sign with wallet</button>
<p id="status"></p>
<script>
const MESSAGE = {message_json};
const ADDRESS = {address_json};
const TOKEN = {token_json};
const status = (t) => document.getElementById('status').textContent = t;
function toHex(s) {{
  return '0x' + Array.from(new TextEncoder().encode(s)).map(b => b.toString(16).padStart(2, '0')).join('');
}}
async function sign() {{
  if (!window.ethereum) {{ status('No browser wallet found (window.ethereum). Install or unlock one.'); return; }}
  try {{
    status('Asking your wallet…');
    const accounts = await window.ethereum.request({{ method: 'eth_requestAccounts' }});
    if (!accounts.map(a => a.toLowerCase()).includes(ADDRESS.toLowerCase())) {{
      status('Switch your wallet to ' + ADDRESS + ' and try again.'); return;
    }}
    const signature = await window.ethereum.request({{ method: 'personal_sign', params: [toHex(MESSAGE), ADDRESS] }});
    const r = await fetch('/signature?token=' + TOKEN, {{ method: 'POST', body: signature }});
    status(await r.text());
  }} catch (e) {{ status('Not signed: ' + (e && e.message ? e.message : e)); }}
}}
document.getElementById('sign').addEventListener('click', sign);
</script></body></html>"#,
        addr = esc(&address.to_checksum()),
        msg = esc(message),
        message_json = json(message),
        address_json = json(&address.to_checksum()),
        token_json = json(token),
    )
}
