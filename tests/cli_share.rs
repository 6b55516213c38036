//! Sharing from the shell, with the real binary and two homes: a bucket folder, `weft invite`,
//! `weft join`, `weft sync`, members and roles, what a viewer is told, and bad codes.

mod common;

use std::path::Path;

use serde_json::Value;

fn run(home: &Path, args: &[&str]) -> std::process::Output {
    common::weft_command(home)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run weft")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "weft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(!out.status.success(), "weft {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(home, &a)).expect("json")
}

fn address_of(home: &Path) -> String {
    ok(home, &["wallet", "new"])
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 42)
        .expect("an address")
        .to_string()
}

struct Team {
    _dir: tempfile::TempDir,
    owner: std::path::PathBuf,
    bob: std::path::PathBuf,
    bob_address: String,
}

/// An owner with a workspace in a bucket folder, and Bob who joined it with `role`.
/// How many files a bucket folder holds.
fn files_under(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                n += 1;
            }
        }
    }
    n
}

fn team(role: &str) -> Team {
    let dir = tempfile::tempdir().unwrap();
    let owner = dir.path().join("owner");
    let bob = dir.path().join("bob");
    let bucket = format!("file://{}", dir.path().join("bucket").display());
    ok(&owner, &["init", "team", "--sample", "--bucket", &bucket]);
    let bob_address = address_of(&bob);
    let invite = json(&owner, &["invite", &bob_address, "--role", role]);
    let code = invite["code"].as_str().unwrap().to_string();
    let joined = json(&bob, &["join", &code]);
    assert_eq!(joined["role"], role);
    Team {
        _dir: dir,
        owner,
        bob,
        bob_address,
    }
}

#[test]
fn invite_join_edit_and_sync_both_ways() {
    let t = team("editor");
    let bob_ls = ok(&t.bob, &["ls"]);
    assert!(
        bob_ls.contains("Welcome"),
        "joined with the content:\n{bob_ls}"
    );
    ok(&t.bob, &["card", "add", "Getting started", "Bob's card"]);
    ok(&t.bob, &["sync"]);
    ok(
        &t.owner,
        &["doc", "new", "Owner notes", "--body", "for bob"],
    );
    let up = json(&t.owner, &["sync"]);
    assert!(up["received"].as_u64().unwrap() >= 1, "{up}");
    ok(&t.bob, &["sync"]);
    assert_eq!(ok(&t.bob, &["doc", "cat", "Owner notes"]).trim(), "for bob");
    let board = ok(&t.owner, &["board", "ls", "Getting started"]);
    assert!(board.contains("Bob's card"), "{board}");
    let members = json(&t.owner, &["member", "ls"]);
    let bob = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["address"] == t.bob_address.as_str())
        .expect("bob listed");
    assert_eq!(bob["role"], "editor");
    assert_eq!(
        bob["devices"].as_array().unwrap().len(),
        1,
        "his device is listed"
    );
    assert_eq!(json(&t.owner, &["quarantine", "ls"]), serde_json::json!([]));
}

#[test]
fn an_owner_s_snapshot_is_where_the_next_member_starts() {
    let t = team("editor");
    let refused = fails(&t.bob, &["snapshot"]);
    assert!(
        refused.contains("only an admin or the owner"),
        "an editor is told why: {refused}"
    );
    ok(
        &t.bob,
        &["doc", "new", "Bob's page", "--body", "before the snapshot"],
    );
    ok(&t.bob, &["sync"]);
    let wrote = ok(&t.owner, &["snapshot"]);
    assert!(wrote.contains("wrote a snapshot"), "{wrote}");
    let carol = t.owner.parent().unwrap().join("carol");
    let carol_address = address_of(&carol);
    let invite = json(&t.owner, &["invite", &carol_address, "--role", "viewer"]);
    let joined = json(&carol, &["join", invite["code"].as_str().unwrap()]);
    assert_eq!(joined["from_snapshot"], true, "{joined}");
    assert_eq!(
        ok(&carol, &["doc", "cat", "Bob's page"]).trim(),
        "before the snapshot"
    );
    // Bob keeps writing after it; Carol reads that too.
    ok(&t.bob, &["doc", "new", "After", "--body", "the tail"]);
    ok(&t.bob, &["sync"]);
    ok(&carol, &["sync"]);
    assert_eq!(ok(&carol, &["doc", "cat", "After"]).trim(), "the tail");
}

#[test]
fn an_admin_moves_the_workspace_to_another_bucket_and_members_follow() {
    let t = team("editor");
    let shown = json(&t.bob, &["settings"]);
    assert_eq!(shown["bucket"]["from"], "workspace setting", "{shown}");
    assert!(shown["relay"]["url"].is_null(), "{shown}");
    // A relay set by the owner reaches Bob with his next sync; `none` takes it away again.
    ok(&t.owner, &["settings", "relay", "ws://127.0.0.1:9"]);
    ok(&t.bob, &["sync"]);
    let shown = json(&t.bob, &["settings"]);
    assert_eq!(shown["relay"]["url"], "ws://127.0.0.1:9", "{shown}");
    assert_eq!(shown["relay"]["from"], "workspace setting", "{shown}");
    ok(&t.owner, &["settings", "relay", "none"]);
    ok(&t.bob, &["sync"]);
    assert!(json(&t.bob, &["settings"])["relay"]["url"].is_null());
    let second = t.owner.parent().unwrap().join("second-bucket");
    let url = format!("file://{}", second.display());
    let refused = fails(&t.bob, &["settings", "bucket", &url]);
    assert!(refused.contains("only an admin or the owner"), "{refused}");
    assert!(!second.exists(), "nothing was written for the editor");
    // A bucket that cannot be reached is refused before anyone is sent there.
    let s3 = "s3://no-such-bucket/weft?endpoint=http://127.0.0.1:9&region=x";
    let unreachable = common::weft_command(&t.owner)
        .args(["settings", "bucket", s3])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        !unreachable.status.success() && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        json(&t.owner, &["settings"])["bucket"]["from"],
        "workspace setting"
    );
    assert!(!json(&t.owner, &["settings"])["bucket"]["url"]
        .as_str()
        .unwrap()
        .starts_with("s3://"));
    let moved = ok(&t.owner, &["settings", "bucket", &url]);
    assert!(moved.contains("now lives in"), "{moved}");
    ok(
        &t.owner,
        &["doc", "new", "Moved", "--body", "in the new bucket"],
    );
    ok(&t.owner, &["sync"]);
    // Bob's next sync reads the move from the old bucket. The new one is another folder of his
    // disk (another endpoint): his device stays where it was, says so, and writes nothing there
    // until he agrees.
    ok(
        &t.bob,
        &[
            "doc",
            "new",
            "Held back",
            "--body",
            "written before agreeing",
        ],
    );
    let files_before = files_under(&second);
    let held = run(&t.bob, &["sync"]);
    assert!(held.status.success());
    let told = String::from_utf8_lossy(&held.stderr);
    assert!(
        told.contains("moved the workspace to") && told.contains("--accept-move"),
        "stderr: {told}\nstdout: {}",
        String::from_utf8_lossy(&held.stdout)
    );
    assert_eq!(
        files_under(&second),
        files_before,
        "nothing of Bob's went to the bucket he did not agree to"
    );
    assert!(
        !ok(&t.bob, &["ls"]).contains("Moved"),
        "he did not read there either"
    );
    let from = json(&t.bob, &["settings"])["bucket"]["from"].clone();
    assert!(
        from.as_str()
            .unwrap()
            .starts_with("approved on this device"),
        "{from}"
    );
    // He agrees: his device follows and carries on in the new one.
    let synced = ok(&t.bob, &["sync", "--accept-move"]);
    assert!(synced.contains("following the workspace to"), "{synced}");
    assert!(
        files_under(&second) > files_before,
        "now his log went there"
    );
    assert_eq!(
        ok(&t.bob, &["doc", "cat", "Moved"]).trim(),
        "in the new bucket"
    );
    assert_eq!(json(&t.bob, &["settings"])["bucket"]["url"], url.as_str());
    ok(&t.bob, &["doc", "new", "Reply", "--body", "from bob"]);
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);
    assert_eq!(ok(&t.owner, &["doc", "cat", "Reply"]).trim(), "from bob");
    // A newcomer's code names the new bucket, and it holds everything.
    let carol = t.owner.parent().unwrap().join("carol");
    let carol_address = address_of(&carol);
    let invite = json(&t.owner, &["invite", &carol_address, "--role", "viewer"]);
    json(&carol, &["join", invite["code"].as_str().unwrap()]);
    assert_eq!(ok(&carol, &["doc", "cat", "Reply"]).trim(), "from bob");
    assert!(ok(&carol, &["ls"]).contains("Welcome"));
}

#[test]
fn a_viewer_is_told_why_and_nothing_changes() {
    let t = team("viewer");
    let before = ok(&t.bob, &["ls"]);
    let err = fails(&t.bob, &["doc", "new", "Sneaky"]);
    assert!(err.contains("not allowed"), "{err}");
    assert_eq!(
        ok(&t.bob, &["ls"]),
        before,
        "the refused edit left nothing behind"
    );
    // An import is refused the same way, before anything is read into the workspace.
    let export = t.bob.join("export");
    ok(&t.owner, &["export", "--json", export.to_str().unwrap()]);
    let err = fails(&t.bob, &["import", export.to_str().unwrap()]);
    assert!(
        err.contains("not allowed") && err.contains("nothing was imported"),
        "{err}"
    );
    assert_eq!(ok(&t.bob, &["ls"]), before);
    // Promoted, Bob can write.
    ok(&t.owner, &["member", "role", &t.bob_address, "editor"]);
    ok(&t.owner, &["sync"]);
    ok(&t.bob, &["sync"]);
    ok(&t.bob, &["doc", "new", "Allowed now"]);
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);
    assert!(ok(&t.owner, &["ls"]).contains("Allowed now"));
}

#[test]
fn a_commenter_is_refused_before_anything_is_claimed_and_may_still_comment() {
    let t = team("commenter");
    for args in [
        &["doc", "edit", "Team notes", "--append", "sneaky"][..],
        &["card", "mv", "Invite a teammate", "Done"],
        &["doc", "rm", "Welcome"],
    ] {
        let out = run(&t.bob, args);
        assert!(!out.status.success(), "weft {args:?} should be refused");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "nothing says {args:?} was done"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not allowed") && err.contains("is a commenter"),
            "{err}"
        );
    }
    let err = fails(&t.bob, &["doc", "edit", "Team notes", "--append", "x"]);
    assert!(
        err.contains("editing documents needs an editor or higher"),
        "{err}"
    );
    assert!(!ok(&t.bob, &["doc", "cat", "Team notes"]).contains("sneaky"));
    ok(
        &t.bob,
        &["comment", "add", "Team notes", "Shall we add a date?"],
    );
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);
    assert!(ok(&t.owner, &["comment", "ls", "Team notes"]).contains("Shall we add a date?"));
    assert_eq!(json(&t.owner, &["quarantine", "ls"]), serde_json::json!([]));
}

#[test]
fn a_removed_member_s_later_edits_are_refused_by_the_owner() {
    let t = team("editor");
    ok(&t.owner, &["member", "rm", &t.bob_address]);
    ok(&t.owner, &["sync"]);
    // Bob has not synced since; his weft still lets him write, and he uploads it.
    ok(&t.bob, &["doc", "new", "Written after removal"]);
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);
    assert!(!ok(&t.owner, &["ls"]).contains("Written after removal"));
    let q = json(&t.owner, &["quarantine", "ls"]);
    let entries = q.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{q}");
    assert_eq!(entries[0]["address"], t.bob_address.as_str());
    assert!(!entries[0]["reason"].as_str().unwrap().is_empty());
}

#[test]
fn bad_codes_and_uninvited_wallets_get_clear_errors() {
    let t = team("editor");
    let stranger = t.owner.parent().unwrap().join("stranger");
    let err = fails(&stranger, &["join", "hello"]);
    assert!(err.contains("join code starts with"), "{err}");
    let err = fails(&stranger, &["join", "weft1-0OIl"]);
    assert!(err.contains("damaged"), "{err}");
    // A real code, but for someone else's address.
    let invite = json(&t.owner, &["invite", &t.bob_address, "--role", "editor"]);
    let code = invite["code"].as_str().unwrap();
    let err = fails(&stranger, &["join", code]);
    assert!(err.contains("not a member"), "{err}");
    // The bad address and role are refused before anything is written.
    let err = fails(&t.owner, &["invite", "0x123", "--role", "editor"]);
    assert!(err.contains("not a wallet address"), "{err}");
    let err = fails(&t.owner, &["invite", &t.bob_address, "--role", "boss"]);
    assert!(err.contains("not a role"), "{err}");
}

/// The newest file under `dir` whose path has `/log/` in it (the segment a sync just wrote).
fn newest_log_object(dir: &Path) -> std::path::PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    let mut best: Option<(std::time::SystemTime, std::path::PathBuf)> = None;
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if p.to_string_lossy().contains("/log/") {
            let t = p.metadata().unwrap().modified().unwrap();
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                best = Some((t, p));
            }
        }
    }
    best.expect("a log object").1
}

#[test]
fn sync_says_what_is_damaged_in_the_bucket_and_the_writer_s_next_sync_repairs_it() {
    let t = team("editor");
    ok(&t.bob, &["sync"]);
    ok(
        &t.owner,
        &["doc", "new", "Owner notes", "--body", "for bob"],
    );
    ok(&t.owner, &["sync"]);
    // A bad copy between providers: the segment holding the new page is now garbage.
    let bucket = t.owner.parent().unwrap().join("bucket");
    let damaged = newest_log_object(&bucket);
    let len = std::fs::metadata(&damaged).unwrap().len() as usize;
    std::fs::write(&damaged, vec![0x5a; len]).unwrap();
    let key = damaged
        .strip_prefix(&bucket)
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let said = ok(&t.bob, &["sync"]);
    eprintln!("bob: weft sync\n{said}");
    assert!(said.contains(&key), "the object is named: {said}");
    assert!(said.contains("garbage"), "{said}");
    assert!(said.contains("waiting for a member"), "{said}");
    assert!(
        !run(&t.bob, &["doc", "cat", "Owner notes"]).status.success(),
        "the damaged change cannot have arrived"
    );
    let doctor = ok(&t.bob, &["doctor"]);
    eprintln!("bob: weft doctor\n{doctor}");
    assert!(doctor.contains(&key), "weft doctor names it: {doctor}");

    // The writer's next sync puts it up again; Bob's next sync reads it.
    let repaired = ok(&t.owner, &["sync"]);
    eprintln!("owner: weft sync\n{repaired}");
    assert!(repaired.contains("1 repaired"), "{repaired}");
    assert!(
        repaired.contains("republished by this device"),
        "{repaired}"
    );
    let healed = ok(&t.bob, &["sync"]);
    eprintln!("bob: weft sync\n{healed}");
    assert!(healed.contains("repaired from another copy"), "{healed}");
    assert_eq!(ok(&t.bob, &["doc", "cat", "Owner notes"]).trim(), "for bob");
    // Said once: the next sync is quiet about it.
    let again = ok(&t.bob, &["sync"]);
    assert!(!again.contains(&key), "{again}");
}

fn membership_ops(home: &Path) -> u64 {
    find_key(&json(home, &["doctor"]), "membership_ops")
        .and_then(Value::as_u64)
        .expect("doctor reports membership ops")
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// Opening a workspace replays its log; the key duties that replay finds done (a share to a
/// teammate, a rotation after a removal) must not be done again on every open. They once were:
/// each command an owner ran after a teammate joined added two membership ops.
#[test]
fn opening_a_shared_workspace_again_and_again_writes_no_membership_ops() {
    let t = team("editor");
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);
    ok(&t.bob, &["sync"]);
    let owner_before = membership_ops(&t.owner);
    let bob_before = membership_ops(&t.bob);
    for i in 0..4 {
        ok(&t.owner, &["ls"]);
        ok(&t.owner, &["doc", "new", &format!("owner {i}")]);
        ok(&t.bob, &["doc", "new", &format!("bob {i}")]);
        ok(&t.owner, &["sync"]);
        ok(&t.bob, &["sync"]);
    }
    assert_eq!(
        membership_ops(&t.owner),
        owner_before,
        "the owner's log grew"
    );
    assert_eq!(membership_ops(&t.bob), bob_before, "bob's log grew");
    // Both still see each other's docs.
    ok(&t.owner, &["sync"]);
    let listing = ok(&t.owner, &["ls"]);
    assert!(listing.contains("bob 3"), "{listing}");

    // A removal makes the owner rotate the key once; later opens do not rotate again.
    ok(&t.owner, &["member", "rm", &t.bob_address]);
    let after_removal = membership_ops(&t.owner);
    assert!(
        after_removal >= owner_before + 2,
        "a removal and a rotation"
    );
    for _ in 0..3 {
        ok(&t.owner, &["ls"]);
        ok(&t.owner, &["sync"]);
    }
    assert_eq!(membership_ops(&t.owner), after_removal);
}

fn member_named<'a>(members: &'a Value, address: &str) -> &'a Value {
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["address"] == address)
        .expect("listed")
}

#[test]
fn a_display_name_travels_and_cards_are_assigned_by_name() {
    let t = team("editor");
    // Bad names are refused and change nothing.
    for (bad, why) in [
        ("two\nlines", "one line"),
        (&"x".repeat(41) as &str, "at most 40 characters"),
        ("0x906f…2cB0", "looks like a wallet address"),
        ("   ", "empty"),
    ] {
        let err = fails(&t.bob, &["profile", "name", bad]);
        assert!(err.contains(why), "{bad:?}: {err}");
    }
    assert_eq!(json(&t.bob, &["profile", "show"])["name"], Value::Null);
    ok(&t.bob, &["profile", "name", "Bob  Builder "]);
    assert_eq!(json(&t.bob, &["profile", "show"])["name"], "Bob Builder");
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);

    // The owner sees the name next to the address; JSON keeps the address.
    let listed = ok(&t.owner, &["member", "ls"]);
    assert!(
        listed.contains(&format!("{}  editor  Bob Builder", t.bob_address)),
        "{listed}"
    );
    let members = json(&t.owner, &["member", "ls"]);
    assert_eq!(
        member_named(&members, &t.bob_address)["name"],
        "Bob Builder"
    );

    // Assign by display name (any case) or address; stored as the address.
    ok(
        &t.owner,
        &[
            "card",
            "add",
            "Getting started",
            "Ship it",
            "--assign",
            "bob builder",
        ],
    );
    let card = json(&t.owner, &["card", "show", "Ship it"]);
    assert_eq!(card["assignees"], serde_json::json!([t.bob_address]));
    let shown = ok(&t.owner, &["card", "show", "Ship it"]);
    assert!(shown.starts_with("Ship it @Bob Builder\n"), "{shown}");

    // Unknown text and non-members are refused, naming the members; nothing is written.
    let err = fails(
        &t.owner,
        &[
            "card",
            "add",
            "Getting started",
            "Typo",
            "--assign",
            "carol",
        ],
    );
    assert!(err.contains("no member is called \"carol\""), "{err}");
    assert!(
        err.contains(&format!("Bob Builder {}", t.bob_address)),
        "lists the members: {err}"
    );
    let stranger = "0x00000000000000000000000000000000000000aa";
    let err = fails(&t.owner, &["card", "edit", "Ship it", "--assign", stranger]);
    assert!(err.contains("is not a member of this workspace"), "{err}");
    assert!(!ok(&t.owner, &["board", "ls", "Getting started"]).contains("Typo"));
    assert_eq!(
        json(&t.owner, &["card", "show", "Ship it"])["assignees"],
        serde_json::json!([t.bob_address])
    );

    // Two members with one name stay apart: a suffix of the address, and assigning by that
    // name asks for the address.
    ok(&t.owner, &["profile", "name", "bob builder"]);
    let listed = ok(&t.owner, &["member", "ls"]);
    let suffix = &t.bob_address[38..];
    assert!(
        listed.contains(&format!("Bob Builder (…{suffix})")),
        "{listed}"
    );
    let err = fails(
        &t.owner,
        &["card", "edit", "Ship it", "--assign", "Bob Builder"],
    );
    assert!(err.contains("2 members are called"), "{err}");
}

#[test]
fn a_viewer_sets_their_name_and_the_owner_sees_it() {
    let t = team("viewer");
    ok(&t.bob, &["profile", "name", "Vi"]);
    // Still read-only for everything else.
    let err = fails(&t.bob, &["doc", "new", "Nope"]);
    assert!(err.contains("viewer"), "{err}");
    ok(&t.bob, &["sync"]);
    ok(&t.owner, &["sync"]);
    let members = json(&t.owner, &["member", "ls"]);
    assert_eq!(member_named(&members, &t.bob_address)["name"], "Vi");
    assert_eq!(json(&t.owner, &["quarantine", "ls"]), serde_json::json!([]));
}
