//! Teammates on one network sync directly: separate `weft sync --watch --lan` processes with no
//! relay and a bucket folder each (so only the LAN can carry changes quickly), inside a network
//! namespace this test makes (loopback up, multicast on), so mDNS really runs and nothing leaves
//! the machine. A doc edit and a board card reach the other homes live.
//!
//! Needs root (for `ip netns`); skipped with a message otherwise, unless WEFT_REQUIRE_LAN=1 says
//! it must run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A network namespace of our own with loopback up and multicast on; deleted on drop.
struct Netns(String);

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    fn create() -> Result<Netns, String> {
        let name = format!(
            "weft-lan-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let run = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("ip {args:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(&["netns", "add", &name])?;
        let ns = Netns(name);
        run(&["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"])?;
        run(&[
            "netns",
            "exec",
            &ns.0,
            "ip",
            "link",
            "set",
            "lo",
            "multicast",
            "on",
        ])?;
        Ok(ns)
    }

    /// `weft` on `home`, inside the namespace.
    fn weft(&self, home: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, BIN]);
        common::isolated(&mut cmd, home);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The namespace, or `None` (skip) when it cannot be made here and WEFT_REQUIRE_LAN is not set.
fn netns_or_skip() -> Option<Netns> {
    match Netns::create() {
        Ok(ns) => Some(ns),
        Err(e) if std::env::var("WEFT_REQUIRE_LAN").as_deref() == Ok("1") => {
            panic!("the LAN test must run (WEFT_REQUIRE_LAN=1) but cannot make a network namespace (it needs root and iproute2): {e}")
        }
        Err(e) => {
            println!("skipping: cannot make a network namespace ({e}); set WEFT_REQUIRE_LAN=1 to make this fail");
            None
        }
    }
}

fn address_of(home: &Path) -> String {
    ok(home, &["wallet", "new"])
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 42)
        .expect("an address")
        .to_string()
}

/// `weft sync --watch --lan` on `home` in `ns`, with its own bucket folder and the bucket round
/// an hour apart; its log goes to `home/watch.log`.
fn watch(ns: &Netns, home: &Path, bucket: &str) -> Killed {
    let log = std::fs::File::create(home.join("watch.log")).expect("log file");
    let child = ns
        .weft(home)
        .args([
            "sync",
            "--watch",
            "--lan",
            "--bucket",
            bucket,
            "--interval",
            "3600",
        ])
        .env("WEFT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(home.join("watch.out")).expect("output file"))
        .stderr(log)
        .spawn()
        .expect("start sync --watch --lan");
    Killed(child)
}

fn logs(homes: &[PathBuf]) -> String {
    homes
        .iter()
        .map(|h| {
            format!(
                "== {}\n{}",
                h.display(),
                std::fs::read_to_string(h.join("watch.log")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wait until `done` holds for every home; on timeout, fail showing what they hold and their logs.
fn wait_all(homes: &[PathBuf], what: &str, done: impl Fn(&Path) -> bool) -> Duration {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    loop {
        if homes.iter().all(|h| done(h)) {
            return start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not on every home after 30 s\n{}",
            logs(homes)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_card(home: &Path, title: &str) -> bool {
    common::weft_command(home)
        .args(["board", "ls", "Sprint"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(title))
}

#[test]
fn three_teammates_on_one_network_sync_a_doc_and_a_board_live_with_no_relay() {
    let Some(ns) = netns_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shared_bucket = format!("file://{}", dir.path().join("bucket").display());
    let homes: Vec<PathBuf> = ["ana", "ben", "cai"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    // Set up through one bucket (joining needs it this round), no relay.
    ok(&homes[0], &["init", "team", "--bucket", &shared_bucket]);
    ok(&homes[0], &["doc", "new", "Plan", "--body", "Plan\n"]);
    ok(&homes[0], &["board", "new", "Sprint"]);
    for h in &homes[1..] {
        let who = address_of(h);
        let invite = ok(&homes[0], &["invite", &who, "--role", "editor"]);
        let code = invite
            .split_whitespace()
            .find(|w| w.starts_with("weft1-"))
            .expect("code");
        ok(h, &["join", code]);
    }
    // Everyone learns everyone's device (teammates who synced before meet on the LAN).
    for h in homes.iter().chain(&homes[..1]) {
        ok(h, &["sync"]);
    }
    // Each in its own bucket folder from now on: only the LAN connects them.
    let watchers: Vec<Killed> = homes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let own = format!(
                "file://{}",
                dir.path().join(format!("bucket-{i}")).display()
            );
            watch(&ns, h, &own)
        })
        .collect();
    // Let them find each other and link.
    std::thread::sleep(Duration::from_secs(2));

    // A doc edit on one home reaches the others.
    ok(
        &homes[0],
        &["doc", "edit", "Plan", "--append", "from ana\n"],
    );
    let took = wait_all(&homes, "ana's doc edit", |h| {
        ok(h, &["doc", "cat", "Plan"]).contains("from ana")
    });
    println!("doc edit reached every home in {took:?}");

    // A card added on another reaches the others, and concurrent edits converge.
    ok(&homes[1], &["card", "add", "Sprint", "Ship the LAN lane"]);
    ok(
        &homes[2],
        &["doc", "edit", "Plan", "--append", "from cai\n"],
    );
    wait_all(&homes, "ben's card", |h| has_card(h, "Ship the LAN lane"));
    wait_all(&homes, "cai's doc edit", |h| {
        ok(h, &["doc", "cat", "Plan"]).contains("from cai")
    });
    let bodies: Vec<String> = homes
        .iter()
        .map(|h| ok(h, &["doc", "cat", "Plan"]))
        .collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the homes differ:\n{}",
        bodies.join("\n----\n")
    );
    // Nothing was refused between teammates.
    for h in &homes {
        let q = ok(h, &["quarantine", "ls"]);
        assert!(!q.contains("refused"), "{}: {q}", h.display());
    }
    // `sync --watch` said who it linked with directly.
    for h in &homes {
        let out = std::fs::read_to_string(h.join("watch.out")).unwrap_or_default();
        assert!(
            out.contains("lan: linked directly with 2 device(s)"),
            "{}: {out}",
            h.display()
        );
    }
    drop(watchers);
}

#[test]
fn with_no_lan_nothing_travels_without_a_relay_or_a_shared_bucket() {
    let Some(ns) = netns_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let shared_bucket = format!("file://{}", dir.path().join("bucket").display());
    let homes: Vec<PathBuf> = ["ana", "ben"].iter().map(|n| dir.path().join(n)).collect();
    ok(&homes[0], &["init", "team", "--bucket", &shared_bucket]);
    ok(&homes[0], &["doc", "new", "Plan", "--body", "Plan\n"]);
    let who = address_of(&homes[1]);
    let invite = ok(&homes[0], &["invite", &who, "--role", "editor"]);
    let code = invite
        .split_whitespace()
        .find(|w| w.starts_with("weft1-"))
        .expect("code");
    ok(&homes[1], &["join", code]);
    ok(&homes[0], &["sync"]);
    let mut watchers = Vec::new();
    for (i, h) in homes.iter().enumerate() {
        let own = format!(
            "file://{}",
            dir.path().join(format!("bucket-{i}")).display()
        );
        let child = ns
            .weft(h)
            .args([
                "sync",
                "--watch",
                "--no-lan",
                "--bucket",
                &own,
                "--interval",
                "3600",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start");
        watchers.push(Killed(child));
    }
    std::thread::sleep(Duration::from_secs(2));
    ok(
        &homes[0],
        &["doc", "edit", "Plan", "--append", "from ana\n"],
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !ok(&homes[1], &["doc", "cat", "Plan"]).contains("from ana"),
        "with --no-lan the edit travelled anyway"
    );
}
