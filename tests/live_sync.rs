//! Live collaboration through the relay, with separate processes on 127.0.0.1: a `weft relay` and
//! three homes each running `weft sync --watch` (with the bucket round an hour apart, so only the
//! relay can carry changes quickly), edited concurrently by `weft` commands. They converge; after
//! the relay is killed and restarted they reconnect and converge; a client that was offline for
//! a while catches up.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_weft");

fn ok(home: &Path, args: &[&str]) -> String {
    common::weft_ok(home, args)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `weft relay` on `addr` (port 0 for any); returns the process and its ws:// URL.
fn relay(addr: &str) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .args(["relay", "--listen", addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the relay");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("the relay said {line:?}"))
        .to_string();
    (Killed(child), url)
}

fn watch(home: &Path) -> Killed {
    let child = common::weft_command(home)
        .args(["sync", "--watch", "--interval", "3600"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sync --watch");
    Killed(child)
}

fn body(home: &Path) -> String {
    ok(home, &["doc", "cat", "Plan"])
}

/// Wait until every home shows the same Plan, containing every line in `lines`.
fn converge(homes: &[PathBuf], lines: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let bodies: Vec<String> = homes.iter().map(|h| body(h)).collect();
        let all_there = lines.iter().all(|l| bodies[0].contains(l.as_str()));
        if all_there && bodies.iter().all(|b| *b == bodies[0]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence; the homes show:\n{}",
            bodies.join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn address_of(home: &Path) -> String {
    ok(home, &["wallet", "new"])
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 42)
        .expect("an address")
        .to_string()
}

#[test]
fn three_clients_edit_live_survive_a_relay_restart_and_an_offline_spell() {
    let dir = tempfile::tempdir().unwrap();
    let (relay_proc, url) = relay("127.0.0.1:0");
    let addr = url.trim_start_matches("ws://").to_string();
    let bucket = format!("file://{}", dir.path().join("bucket").display());
    let homes: Vec<PathBuf> = ["ana", "ben", "cai"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    ok(
        &homes[0],
        &["init", "team", "--bucket", &bucket, "--relay", &url],
    );
    ok(&homes[0], &["doc", "new", "Plan", "--body", "Plan\n"]);
    for h in &homes[1..] {
        let who = address_of(h);
        let invite = ok(&homes[0], &["invite", &who, "--role", "editor"]);
        let code = invite
            .split_whitespace()
            .find(|w| w.starts_with("weft1-"))
            .expect("code");
        ok(h, &["join", code]);
    }
    let mut watchers: Vec<Killed> = homes.iter().map(|h| watch(h)).collect();
    std::thread::sleep(Duration::from_millis(500));

    // Everyone types at once.
    let mut lines = Vec::new();
    std::thread::scope(|s| {
        for (i, h) in homes.iter().enumerate() {
            s.spawn(move || {
                for n in 0..3 {
                    ok(
                        h,
                        &[
                            "doc",
                            "edit",
                            "Plan",
                            "--append",
                            &format!("line {i}.{n}\n"),
                        ],
                    );
                }
            });
        }
    });
    for i in 0..3 {
        for n in 0..3 {
            lines.push(format!("line {i}.{n}"));
        }
    }
    converge(&homes, &lines);

    // The relay dies mid-session; edits made meanwhile arrive once it is back.
    drop(relay_proc);
    ok(
        &homes[1],
        &[
            "doc",
            "edit",
            "Plan",
            "--append",
            "while the relay was down\n",
        ],
    );
    lines.push("while the relay was down".into());
    std::thread::sleep(Duration::from_millis(300));
    let (_relay_again, _) = relay(&addr);
    converge(&homes, &lines);

    // One client goes offline, both sides write, it comes back.
    drop(watchers.remove(2));
    ok(
        &homes[2],
        &["doc", "edit", "Plan", "--append", "written offline\n"],
    );
    ok(
        &homes[0],
        &[
            "doc",
            "edit",
            "Plan",
            "--append",
            "written while cai was away\n",
        ],
    );
    lines.push("written offline".into());
    lines.push("written while cai was away".into());
    std::thread::sleep(Duration::from_millis(500));
    watchers.push(watch(&homes[2]));
    converge(&homes, &lines);
}

/// `weft sync --watch` says which relay of the list it is on, and says so again when it moves.
#[test]
fn sync_watch_names_the_relay_it_is_on_and_the_next_after_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let (first, first_url) = relay("127.0.0.1:0");
    let (second, second_url) = relay("127.0.0.1:0");
    let home = dir.path().join("ana");
    let bucket = format!("file://{}", dir.path().join("bucket").display());
    let list = format!("{first_url},{second_url}");
    ok(
        &home,
        &["init", "team", "--bucket", &bucket, "--relay", &list],
    );
    let mut child = common::weft_command(&home)
        .args(["sync", "--watch", "--interval", "3600"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sync --watch");
    let stdout = child.stdout.take().expect("stdout");
    let _watching = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_live = |rx: &std::sync::mpsc::Receiver<String>| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("sync --watch said nothing about the live link");
            if line.starts_with("live: on ") {
                return line;
            }
        }
    };
    // On one of the two; when that one dies, on the other.
    let on = next_live(&rx);
    let mut relays = vec![(Some(first), first_url), (Some(second), second_url)];
    let at = relays
        .iter()
        .position(|(_, url)| on == format!("live: on {url}"))
        .unwrap_or_else(|| panic!("{on:?} names neither relay"));
    drop(relays[at].0.take());
    let other = &relays[1 - at].1;
    assert_eq!(next_live(&rx), format!("live: on {other}"));
}
