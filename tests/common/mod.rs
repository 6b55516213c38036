//! Helpers shared by the integration tests: replicas of one workspace in one process.
#![allow(dead_code)]

use loro::{ExportMode, LoroDoc};
use weft::model::{Clock, Workspace};

pub const T0: i64 = 1_790_000_000_000;

/// A fresh workspace and `n - 1` more replicas of it, each with its own actor name.
pub fn replicas(n: usize) -> Vec<Workspace> {
    let first = Workspace::create("team", "alice", Clock::Fixed(T0)).expect("create");
    let snapshot = first.loro().export(ExportMode::Snapshot).expect("snapshot");
    let mut out = vec![first];
    for i in 1..n {
        let doc = LoroDoc::from_snapshot(&snapshot).expect("from snapshot");
        let actor = ["alice", "bob", "carol", "dave", "erin"][i % 5];
        out.push(Workspace::open(doc, actor, Clock::Fixed(T0 + i as i64)).expect("open"));
    }
    out
}

/// Send everything `from` has that `to` lacks.
pub fn send(from: &Workspace, to: &Workspace) {
    from.commit();
    let updates = from
        .loro()
        .export(ExportMode::updates(&to.loro().oplog_vv()))
        .expect("export");
    to.loro().import(&updates).expect("import");
}

/// Full mesh exchange until everyone has everything.
pub fn sync_all(ws: &[Workspace]) {
    for a in ws {
        for b in ws {
            if !std::ptr::eq(a, b) {
                send(a, b);
            }
        }
    }
}

/// The user-visible state of a workspace, for convergence checks.
pub fn state(ws: &Workspace) -> serde_json::Value {
    serde_json::to_value(ws.export_all()).expect("serialise")
}

/// Point `cmd` (the `weft` binary, or a shell that runs it) at `home`, away from the developer's own
/// environment: no OS keyring, no passphrase, workspace or editor from the shell.
pub fn isolated<'a>(
    cmd: &'a mut std::process::Command,
    home: &std::path::Path,
) -> &'a mut std::process::Command {
    cmd.env("WEFT_HOME", home)
        .env("WEFT_KEYRING", "off")
        // No mDNS on the machine's own network from tests; the LAN tests turn it on in a
        // network namespace of their own.
        .env("WEFT_LAN", "off")
        .env_remove("WEFT_PASSPHRASE")
        .env_remove("WEFT_NEW_PASSPHRASE")
        .env_remove("WEFT_WORKSPACE")
        .env_remove("WEFT_THEME")
        .env_remove("EDITOR")
        .env_remove("VISUAL")
}

/// The real `weft` binary on `home`, isolated (see [`isolated`]).
pub fn weft_command(home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_weft"));
    isolated(&mut cmd, home);
    cmd
}

/// Run `weft args` on `home` with no input; panics with its stderr if it fails, else its stdout.
pub fn weft_ok(home: &std::path::Path, args: &[&str]) -> String {
    let out = weft_command(home)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run weft");
    assert!(
        out.status.success(),
        "weft {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
