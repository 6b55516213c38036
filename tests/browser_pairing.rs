//! `weft pair --browser` end to end: the real binary serves its page, headless Chromium loads it with a
//! stand-in wallet, signs, and the device is paired. Needs node, playwright-core and Chromium
//! (`.ci/run` installs them); skipped with a message when absent unless WEFT_REQUIRE_BROWSER=1.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn node_modules() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("WEFT_NODE_MODULES").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/weft-node/node_modules")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("playwright-core").is_dir())
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    let have_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match (have_node, node_modules(), chromium()) {
        (true, Some(m), Some(c)) => Some((m, c)),
        _ => {
            assert!(
                std::env::var("WEFT_REQUIRE_BROWSER").is_err(),
                "WEFT_REQUIRE_BROWSER is set but node, playwright-core or chromium is missing"
            );
            eprintln!("skipping: needs node, playwright-core (npm) and chromium; see .ci/run");
            None
        }
    }
}

fn weft(home: &Path) -> Command {
    let mut c = common::weft_command(home);
    c.stdin(Stdio::null());
    c
}

#[test]
fn a_browser_wallet_pairs_this_device() {
    let Some((modules, chromium)) = tools() else {
        return;
    };
    let device_home = tempfile::tempdir().unwrap();
    let signer_home = tempfile::tempdir().unwrap();
    let out = weft(signer_home.path())
        .args(["wallet", "new", "--json"])
        .output()
        .unwrap();
    let address = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();

    let mut pairing = weft(device_home.path())
        .args(["pair", "--browser", "--address", &address])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(pairing.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("weft printed the URL").unwrap();
        if let Some(start) = line.find("http://127.0.0.1:") {
            break line[start..].trim().to_string();
        }
    };
    assert!(url.contains("token="));
    let ssh_hint = lines.next().unwrap().unwrap() + &lines.next().unwrap().unwrap();
    assert!(ssh_hint.contains("ssh -L"), "{ssh_hint}");

    // A request without the token is turned away.
    let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.write_all(b"GET /pair HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");

    let browser = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/pair.cjs"))
        .args([&url, &address])
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", &chromium)
        .env("WEFT_BIN", env!("CARGO_BIN_EXE_weft"))
        .env("SIGNER_HOME", signer_home.path())
        .output()
        .unwrap();
    assert!(
        browser.status.success(),
        "browser run failed: {}{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(String::from_utf8_lossy(&browser.stdout).contains("Paired"));
    assert!(pairing.wait().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("paired: wallet")),
        "{rest:?}"
    );

    let devices = weft(device_home.path())
        .args(["devices", "--json"])
        .output()
        .unwrap();
    let devices: serde_json::Value = serde_json::from_slice(&devices.stdout).unwrap();
    assert_eq!(devices[0]["address"], address.as_str());
    assert_eq!(devices[0]["local_wallet"], false);
}
