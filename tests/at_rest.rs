//! Encryption at rest: whoever copies the files of a home gets nothing readable, and every way the
//! secret can be wrong or missing gives a clear message and changes no file.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn weft(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = common::weft_command(home);
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run weft")
}

fn ok(home: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = weft(home, args, env);
    assert!(
        out.status.success(),
        "weft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(home: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = weft(home, args, env);
    assert!(!out.status.success(), "weft {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(root)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under the home, byte for byte: none holds any of `secrets`.
fn assert_nothing_readable(root: &Path, secrets: &[String]) {
    let files = all_files(root);
    assert!(
        files.iter().any(|p| p.ends_with("weft.db")),
        "the scan sees the database"
    );
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        for s in secrets {
            assert!(
                !find(&bytes, s.as_bytes()),
                "{} contains {s:?}",
                p.display()
            );
            assert!(
                !find(&bytes, s.to_lowercase().as_bytes()),
                "{} contains {s:?} (lowercase)",
                p.display()
            );
        }
    }
}

fn write_known_plaintext(home: &Path, env: &[(&str, &str)]) -> Vec<String> {
    ok(home, &["init", "team"], env);
    ok(
        home,
        &[
            "doc",
            "new",
            "Operation Swordfish",
            "--body",
            "the secret is swordfish",
        ],
        env,
    );
    ok(
        home,
        &[
            "comment",
            "add",
            "Operation Swordfish",
            "marlin spotted at dawn",
        ],
        env,
    );
    ok(home, &["board", "new", "Heist"], env);
    ok(
        home,
        &[
            "card",
            "add",
            "Heist",
            "Crack the vault",
            "--description",
            "combination 7-3-9",
        ],
        env,
    );
    // An attachment: its content goes to the bucket (a folder in the data dir by default) and the
    // local cache, its name into the workspace.
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("dive-plan.txt");
    std::fs::write(&file, "barracuda manifest: 40 m at the reef\n".repeat(100)).unwrap();
    ok(
        home,
        &[
            "attach",
            file.to_str().unwrap(),
            "--to",
            "Operation Swordfish",
        ],
        env,
    );
    let saved = outside.path().join("copy.txt");
    ok(
        home,
        &[
            "attachment",
            "save",
            "Operation Swordfish",
            "dive-plan.txt",
            "--out",
            saved.to_str().unwrap(),
        ],
        env,
    );
    assert!(std::fs::read_to_string(&saved)
        .unwrap()
        .starts_with("barracuda manifest"));
    let address =
        serde_json::from_str::<serde_json::Value>(&ok(home, &["wallet", "show", "--json"], env))
            .unwrap()["address"]
            .as_str()
            .unwrap()
            .to_string();
    vec![
        "Operation Swordfish".into(),
        "the secret is swordfish".into(),
        "marlin spotted".into(),
        "Crack the vault".into(),
        "combination 7-3-9".into(),
        "barracuda manifest".into(),
        "dive-plan".into(),
        address.clone(),
        address.trim_start_matches("0x").to_string(),
    ]
}

#[test]
fn a_copied_home_reveals_nothing_with_a_key_file() {
    let home = tempfile::tempdir().unwrap();
    let secrets = write_known_plaintext(home.path(), &[]);
    assert!(ok(home.path(), &["doctor"], &[]).contains("Keyfile"));
    assert_nothing_readable(home.path(), &secrets);
    // And the data is all there for the owner.
    assert!(ok(home.path(), &["doc", "cat", "Operation Swordfish"], &[]).contains("swordfish"));
    assert!(ok(home.path(), &["search", "marlin"], &[]).contains("marlin"));
}

#[test]
fn a_copied_home_reveals_nothing_with_a_passphrase_and_a_wrong_one_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let right = [("WEFT_PASSPHRASE", "correct horse battery staple")];
    let mut secrets = write_known_plaintext(home.path(), &right);
    secrets.push("correct horse".into());
    assert!(ok(home.path(), &["doctor"], &right).contains("Passphrase"));
    assert!(
        !home.path().join("state/master.key").exists(),
        "no key file beside a passphrase"
    );
    assert_nothing_readable(home.path(), &secrets);

    let before = snapshot(home.path());
    let out = weft(home.path(), &["ls"], &[("WEFT_PASSPHRASE", "Tr0ub4dor&3")]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one clear line, no SQLCipher noise: {err}"
    );
    assert!(
        fails(home.path(), &["ls"], &[]).contains("passphrase"),
        "no passphrase and no terminal"
    );
    assert_eq!(snapshot(home.path()), before, "no file modified");
    assert!(ok(home.path(), &["doc", "cat", "Operation Swordfish"], &right).contains("swordfish"));
}

#[test]
fn key_file_problems_are_explained_and_nothing_is_modified() {
    let home = tempfile::tempdir().unwrap();
    write_known_plaintext(home.path(), &[]);
    let key = home.path().join("state/master.key");
    let good = std::fs::read(&key).unwrap();

    // Loose permissions: warned, still works.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = weft(home.path(), &["doc", "ls"], &[]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // Truncated.
    std::fs::write(&key, &good[..10]).unwrap();
    let before = snapshot(home.path());
    let err = fails(home.path(), &["ls"], &[]);
    assert!(
        err.contains("master.key") && err.contains("truncated"),
        "{err}"
    );
    assert_eq!(snapshot(home.path()), before);

    // Missing.
    std::fs::remove_file(&key).unwrap();
    let err = fails(home.path(), &["ls"], &[]);
    assert!(
        err.contains("master.key") && err.contains("missing"),
        "{err}"
    );

    // A key from another home: the databases don't open, and say so.
    std::fs::write(&key, [7u8; 32]).unwrap();
    let err = fails(home.path(), &["ls"], &[]);
    assert!(err.contains("cannot be"), "{err}");

    std::fs::write(&key, &good).unwrap();
    assert!(ok(home.path(), &["doc", "ls"], &[]).contains("Swordfish"));
}

#[test]
fn a_missing_keyring_is_explained() {
    let home = tempfile::tempdir().unwrap();
    write_known_plaintext(home.path(), &[]);
    // The home says its key is in the OS keyring, which has none.
    let p = home.path().join("data/protection.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"keyfile\"", "\"keyring\"");
    std::fs::write(&p, text).unwrap();
    let before = snapshot(home.path());
    let err = fails(home.path(), &["ls"], &[]);
    assert!(err.contains("keyring"), "{err}");
    assert_eq!(snapshot(home.path()), before);
}

#[test]
fn a_plaintext_home_from_an_older_weft_is_encrypted_in_place() {
    let home = tempfile::tempdir().unwrap();
    // What an older weft left: a plaintext database and plaintext key files.
    let h = weft::store::Home::at(home.path());
    {
        let mut r = weft::store::Replica::create(
            &h.workspace_db("old"),
            "old",
            "0xabc",
            weft::model::Clock::System,
        )
        .unwrap();
        let d = r.workspace().create_doc("Legacy plans", None).unwrap();
        r.workspace().set_body(d, "launch codes 0000").unwrap();
        r.flush().unwrap();
        let mut ids = weft::store::identity::IdentityStore::open(&h, None).unwrap();
        ids.pair_local(time::OffsetDateTime::now_utc()).unwrap();
    }
    assert!(std::fs::read(h.workspace_db("old"))
        .unwrap()
        .starts_with(b"SQLite format 3"));
    let out = weft(
        home.path(),
        &["-w", "old", "doc", "cat", "Legacy plans"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "launch codes 0000\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted 1 workspace database"));
    assert_nothing_readable(home.path(), &["Legacy plans".into(), "launch codes".into()]);
    assert!(
        !all_files(home.path())
            .iter()
            .any(|p| p.to_string_lossy().contains("backup")),
        "no plaintext backup left"
    );
    // The key files are sealed now too: the device keeps its identity.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ok(home.path(), &["devices", "--json"], &[]))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn killing_passphrase_change_leaves_a_home_that_opens_with_old_or_new() {
    use std::os::unix::process::CommandExt;
    let home = tempfile::tempdir().unwrap();
    let a = [("WEFT_PASSPHRASE", "alpha alpha")];
    write_known_plaintext(home.path(), &a);
    let mut current = "alpha alpha".to_string();
    for round in 0..3u64 {
        let next = format!("pass {round}");
        let mut child = common::weft_command(home.path())
            .args(["passphrase", "change"])
            .env("WEFT_PASSPHRASE", &current)
            .env("WEFT_NEW_PASSPHRASE", &next)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        std::thread::sleep(std::time::Duration::from_millis(
            (nanos + round * 7919) % 400,
        ));
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        let opens = |p: &str| {
            weft(
                home.path(),
                &["doc", "cat", "Operation Swordfish"],
                &[("WEFT_PASSPHRASE", p)],
            )
        };
        let (old, new) = (opens(&current), opens(&next));
        assert!(
            old.status.success() != new.status.success(),
            "exactly one of the passphrases opens the home"
        );
        let winner = if old.status.success() { old } else { new };
        assert!(String::from_utf8_lossy(&winner.stdout).contains("the secret is swordfish"));
        if opens(&next).status.success() {
            current = next;
        }
    }
}
