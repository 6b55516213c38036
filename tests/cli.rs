//! The real `weft` binary, scripted from the shell as a person would.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = common::weft_command(self.dir.path());
        c.args(args).stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run weft")
    }
    /// Run and expect success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "weft {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    /// Run and expect failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "weft {args:?} should have failed");
        String::from_utf8(out.stderr).unwrap()
    }
    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("valid JSON")
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn db(&self, name: &str) -> PathBuf {
        self.path()
            .join("data/workspaces")
            .join(name)
            .join("weft.db")
    }
}

#[test]
fn first_run_creates_the_default_workspace_with_sample_content() {
    let h = Home::new();
    let out = h.ok(&[]);
    assert!(out.contains("Created workspace \"default\""), "{out}");
    let ls = h.json(&["ls"]);
    let titles: Vec<&str> = ls["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Welcome"), "{titles:?}");
    assert_eq!(ls["boards"][0]["name"], "Getting started");
    // Second run reuses it.
    assert!(h.ok(&[]).contains("Using workspace"));
    assert!(h
        .ok(&["doc", "cat", "Welcome"])
        .contains("# Welcome to weft"));
}

#[test]
fn docs_cards_comments_and_trash_from_the_shell() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    let parent = h.json(&["doc", "new", "Handbook", "--body", "# Handbook\n"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(&["doc", "new", "Onboarding", "--parent", "Handbook"]);
    h.ok(&["doc", "edit", "Onboarding", "--append", "Day one: coffee."]);
    assert_eq!(h.ok(&["doc", "cat", "Onboarding"]), "Day one: coffee.\n");
    let docs = h.json(&["doc", "ls"]);
    assert_eq!(docs[1]["parent"], parent.as_str());
    assert_eq!(docs[1]["depth"], 1);

    h.ok(&["board", "new", "Sprint", "--columns", "Todo, Doing ,Done"]);
    h.ok(&[
        "card",
        "add",
        "Sprint",
        "Write tests",
        "--label",
        "qa",
        "--due",
        "2026-12-01",
    ]);
    h.ok(&["card", "mv", "Write tests", "Doing"]);
    let board = h.json(&["board", "ls", "Sprint"]);
    assert_eq!(board["columns"][1]["name"], "Doing");
    assert_eq!(board["columns"][1]["cards"][0]["title"], "Write tests");
    assert_eq!(board["columns"][1]["cards"][0]["labels"][0], "qa");

    let c = h.json(&[
        "comment",
        "add",
        "Onboarding",
        "Which coffee?",
        "--quote",
        "coffee",
    ]);
    let cid = c["id"].as_str().unwrap().to_string();
    h.ok(&[
        "comment",
        "add",
        "Onboarding",
        "Espresso.",
        "--reply-to",
        &cid,
    ]);
    let comments = h.json(&["comment", "ls", "Onboarding"]);
    assert_eq!(comments.as_array().unwrap().len(), 2);
    assert_eq!(comments[0]["anchor"], 9, "after \"Day one: \"");
    assert_eq!(comments[1]["parent"], cid.as_str());
    h.ok(&["comment", "resolve", &cid]);
    assert_eq!(
        h.json(&["comment", "ls", "Onboarding"])[0]["resolved"],
        true
    );

    assert_eq!(h.json(&["search", "espresso"])[0]["kind"], "comment");

    h.ok(&["doc", "rm", "Handbook"]);
    assert!(
        h.ok(&["doc", "ls"]).trim().is_empty(),
        "trashed parent hides its children"
    );
    assert_eq!(h.json(&["trash", "ls"])[0]["title"], "Handbook");
    h.ok(&["trash", "restore", "Handbook"]);
    assert_eq!(h.json(&["doc", "ls"]).as_array().unwrap().len(), 2);
    h.ok(&["doc", "rm", "Onboarding"]);
    h.ok(&["trash", "purge", "Onboarding"]);
    assert!(h.json(&["trash", "ls"]).as_array().unwrap().is_empty());
    let detached: Vec<Value> = h.json(&["comment", "ls"]).as_array().unwrap().clone();
    assert!(
        detached.iter().all(|c| c["detached"] == true),
        "comments on a purged doc are kept, detached"
    );
    assert_eq!(detached.len(), 2);
}

#[test]
fn a_doc_is_edited_in_the_editor_and_a_card_is_shown_with_its_fields() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["doc", "new", "Meeting notes", "--body", "# Notes\n"]);
    // `weft doc edit DOC` hands $EDITOR the body in a file; what the editor leaves there is saved.
    let out = h
        .cmd(&["doc", "edit", "Meeting notes"])
        .env("EDITOR", "printf '%s\\n' '- decided X' >>")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        h.ok(&["doc", "cat", "Meeting notes"]),
        "# Notes\n- decided X\n"
    );
    let out = h
        .cmd(&["doc", "edit", "Meeting notes"])
        .env("EDITOR", "echo scribble >> \"$1\"; false")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the doc was not changed"));
    assert!(!h.ok(&["doc", "cat", "Meeting notes"]).contains("scribble"));

    h.ok(&["board", "new", "Sprint", "--columns", "To do,Doing,Done"]);
    h.ok(&["profile", "name", "Ada"]);
    h.ok(&[
        "card",
        "add",
        "Sprint",
        "Fix login",
        "--label",
        "bug",
        "--assign",
        "ada",
        "--due",
        "2026-12-24",
        "--description",
        "Users are logged out after a minute.",
    ]);
    let shown = h.ok(&["card", "show", "Fix login"]);
    assert!(
        shown.starts_with("Fix login #bug @Ada due 2026-12-24\n"),
        "{shown}"
    );
    assert!(shown.contains("] in To do\n"), "{shown}");
    assert!(
        shown.contains("Users are logged out after a minute."),
        "{shown}"
    );
}

#[test]
fn text_that_starts_with_a_dash_is_text_not_an_option() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["doc", "new", "Meeting notes", "--body", "- first"]);
    h.ok(&["doc", "edit", "Meeting notes", "--append", "\n- decided X"]);
    h.ok(&["doc", "edit", "Meeting notes", "--append", "- and Y"]);
    assert_eq!(
        h.ok(&["doc", "cat", "Meeting notes"]),
        "- first\n- decided X- and Y\n"
    );
    h.ok(&["comment", "add", "Meeting notes", "-1, too early"]);
    assert!(h
        .ok(&["comment", "ls", "Meeting notes"])
        .contains(": -1, too early"));
    h.ok(&["board", "new", "Sprint"]);
    h.ok(&["card", "add", "Sprint", "Fix", "--description", "- steps"]);
    h.ok(&["card", "edit", "Fix", "--description", "- more steps"]);
    assert!(h.ok(&["card", "show", "Fix"]).contains("- more steps"));
}

#[test]
fn a_doc_moves_under_another_and_weft_workspace_picks_the_workspace() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["init", "work"]);
    h.ok(&["doc", "new", "Team notes"]);
    h.ok(&["doc", "new", "Meeting notes"]);
    h.ok(&["doc", "mv", "Meeting notes", "--parent", "Team notes"]);
    let docs = h.json(&["doc", "ls"]);
    let meeting = |docs: &Value| {
        docs.as_array()
            .unwrap()
            .iter()
            .find(|d| d["title"] == "Meeting notes")
            .cloned()
            .unwrap()
    };
    assert_eq!(meeting(&docs)["parent"], docs[0]["id"], "{docs}");
    assert_eq!(meeting(&docs)["depth"], 1);
    h.ok(&["doc", "mv", "Meeting notes", "--root"]);
    assert_eq!(meeting(&h.json(&["doc", "ls"]))["parent"], Value::Null);
    // $WEFT_WORKSPACE picks a workspace as -w does; the first one stays the default.
    let out = h
        .cmd(&["doc", "new", "Plan"])
        .env("WEFT_WORKSPACE", "work")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h.ok(&["-w", "work", "ls"]).contains("Plan"));
    assert!(!h.ok(&["ls"]).contains("Plan"));
}

#[test]
fn a_home_moves_between_a_passphrase_and_a_key_file() {
    let h = Home::new();
    let with = |args: &[&str], vars: &[(&str, &str)]| {
        let mut c = h.cmd(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let first = [("WEFT_PASSPHRASE", "first secret")];
    assert!(with(&["init", "work", "--passphrase"], &first)
        .status
        .success());
    assert!(
        h.fails(&["ls"]).contains("passphrase"),
        "asked for, not guessed"
    );
    assert!(with(&["ls"], &first).status.success());
    let removed = with(&["passphrase", "remove"], &first);
    assert!(removed.status.success());
    let doctor = h.ok(&["doctor"]);
    assert!(doctor.contains("master key in a 0600 file"), "{doctor}");
    let set = with(
        &["passphrase", "set"],
        &[("WEFT_NEW_PASSPHRASE", "second secret")],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(h.fails(&["ls"]).contains("passphrase"));
    assert!(
        !with(&["ls"], &first).status.success(),
        "the old one no longer opens it"
    );
    assert!(with(&["ls"], &[("WEFT_PASSPHRASE", "second secret")])
        .status
        .success());
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["board", "new", "Sprint"]);
    let state = |h: &Home| {
        let doctor = h.json(&["doctor"]);
        (
            h.json(&["ls"]),
            h.json(&["workspaces"]),
            doctor["workspaces"][0]["health"]["changes"].clone(),
        )
    };
    let before = state(&h);
    assert!(h
        .fails(&["doc", "cat", "Nope"])
        .contains("no doc called \"Nope\""));
    assert!(h
        .fails(&["card", "add", "Sprint", "X", "--due", "tomorrow"])
        .contains("not a date"));
    assert!(h.fails(&["card", "add", "Sprint", "  "]).contains("title"));
    assert!(h
        .fails(&["card", "mv", "X", "Nowhere"])
        .contains("no card called"));
    assert!(h
        .fails(&["init", "bad name!"])
        .contains("invalid workspace name"));
    assert!(h.fails(&["init", "team"]).contains("already exists"));
    assert!(h.fails(&["-w", "ghost", "ls"]).contains("weft init ghost"));
    assert!(h
        .fails(&["comment", "resolve", "nonsense"])
        .contains("comment id"));
    assert!(h.json(&["board", "ls", "Sprint"])["columns"][0]["cards"]
        .as_array()
        .unwrap()
        .is_empty());
    // Nothing was written: same content, no new workspace, not one more change in the log.
    assert_eq!(state(&h), before);
}

#[test]
fn a_damaged_database_names_the_file_and_is_left_alone() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    let db = h.db("team");
    std::fs::write(&db, b"garbage".repeat(1000)).unwrap();
    let err = h.fails(&["ls"]);
    assert!(err.contains("weft.db") && err.contains("damaged"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), b"garbage".repeat(1000));
    assert!(
        !h.run(&["doctor"]).status.success(),
        "doctor reports the problem"
    );
}

fn build_rich_workspace(h: &Home) {
    h.ok(&["init", "src"]);
    let me = h.json(&["profile", "show"])["address"]
        .as_str()
        .expect("an address")
        .to_string();
    h.ok(&[
        "doc",
        "new",
        "Guide",
        "--body",
        "# Guide\n\nRead *this* first.\n",
    ]);
    h.ok(&[
        "doc",
        "new",
        "Chapter 1",
        "--parent",
        "Guide",
        "--body",
        "Once upon a time.",
    ]);
    h.ok(&["doc", "new", "Old notes", "--body", "obsolete"]);
    h.ok(&["doc", "rm", "Old notes"]);
    h.ok(&["board", "new", "Roadmap", "--columns", "Now,Next,Later"]);
    h.ok(&["board", "column", "Roadmap", "Blocked", "--wip", "2"]);
    h.ok(&[
        "card",
        "add",
        "Roadmap",
        "Launch",
        "--column",
        "Now",
        "--description",
        "Go live",
        "--label",
        "big",
        "--assignee",
        &me,
        "--due",
        "2027-01-15",
    ]);
    h.ok(&[
        "card",
        "add",
        "Roadmap",
        "Dropped idea",
        "--column",
        "Later",
    ]);
    h.ok(&["card", "rm", "Dropped idea"]);
    let c = h.json(&[
        "comment",
        "add",
        "Chapter 1",
        "Nice opening",
        "--quote",
        "upon",
    ]);
    h.ok(&[
        "comment",
        "add",
        "",
        "Thanks!",
        "--reply-to",
        c["id"].as_str().unwrap(),
    ]);
    h.ok(&["comment", "add", "Launch", "When exactly?"]);
    h.ok(&["doc", "new", "Scratch", "--body", "tmp"]);
    h.ok(&["comment", "add", "Scratch", "this will be detached"]);
    h.ok(&["doc", "rm", "Scratch"]);
    h.ok(&["trash", "purge", "Scratch"]);
}

/// An export with ids replaced by titles, so two workspaces can be compared.
fn normalised(export_dir: &Path) -> Value {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(export_dir.join("workspace.json")).unwrap())
            .unwrap();
    let mut titles = std::collections::HashMap::new();
    for item in manifest["items"].as_array().unwrap() {
        titles.insert(
            item["id"].as_str().unwrap().to_string(),
            item["title"].as_str().unwrap().to_string(),
        );
    }
    let mut items = Vec::new();
    for entry in manifest["items"].as_array().unwrap() {
        let mut item = match entry["file"].as_str() {
            Some(f) => {
                serde_json::from_str(&std::fs::read_to_string(export_dir.join(f)).unwrap()).unwrap()
            }
            None => entry.clone(),
        };
        let obj = item.as_object_mut().unwrap();
        obj.remove("id");
        obj.remove("file");
        obj.remove("created_at");
        if let Some(p) = obj.get("parent").and_then(|p| p.as_str()) {
            let t = titles[p].clone();
            obj.insert("parent".into(), Value::String(t));
        }
        if let Some(cs) = obj.get_mut("comments").and_then(|c| c.as_array_mut()) {
            for c in cs {
                let c = c.as_object_mut().unwrap();
                c.remove("id");
                c.insert("parent".into(), Value::Bool(!c["parent"].is_null()));
            }
        }
        items.push(item);
    }
    let detached: Vec<Value> = manifest["detached_comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::json!({"body": c["body"], "context": c["context"], "author": c["author"]}))
        .collect();
    serde_json::json!({"items": items, "detached": detached})
}

#[test]
fn export_then_import_round_trips_a_workspace() {
    let h = Home::new();
    build_rich_workspace(&h);
    let out1 = h.path().join("export1");
    h.ok(&["-w", "src", "export", "--json", out1.to_str().unwrap()]);
    h.ok(&["init", "copy"]);
    let report = h.json(&["-w", "copy", "import", out1.to_str().unwrap()]);
    assert_eq!(report["cards"], 2);
    let out2 = h.path().join("export2");
    h.ok(&["-w", "copy", "export", "--json", out2.to_str().unwrap()]);
    let (a, b) = (normalised(&out1), normalised(&out2));
    assert_eq!(a, b);
    // Spot checks a person would make.
    let items = a["items"].as_array().unwrap();
    let old = items.iter().find(|i| i["title"] == "Old notes").unwrap();
    assert!(
        old["trashed"]["by"].as_str().unwrap().starts_with("0x"),
        "trash (by the local wallet) survives the round trip"
    );
    let launch = items.iter().find(|i| i["title"] == "Launch").unwrap();
    assert_eq!(launch["due"], "2027-01-15");
    assert_eq!(launch["body"], "Go live");
    let chapter = items.iter().find(|i| i["title"] == "Chapter 1").unwrap();
    assert_eq!(chapter["parent"], "Guide");
    assert_eq!(chapter["comments"][0]["anchor"], 5);
    assert_eq!(a["detached"][0]["body"], "this will be detached");
    assert_eq!(
        h.json(&["-w", "copy", "trash", "ls"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn markdown_export_is_readable_as_plain_files() {
    let h = Home::new();
    build_rich_workspace(&h);
    let out = h.path().join("md");
    h.ok(&["-w", "src", "export", "--markdown", out.to_str().unwrap()]);
    let mut files = Vec::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    let read = |name: &str| -> String {
        let p = files
            .iter()
            .find(|p| {
                p.file_name().unwrap().to_string_lossy().starts_with(name)
                    && p.to_string_lossy().ends_with(".md")
                    && !p.to_string_lossy().ends_with(".comments.md")
            })
            .unwrap_or_else(|| panic!("no file for {name}: {files:?}"));
        std::fs::read_to_string(p).unwrap()
    };
    assert!(read("guide-").contains("Read *this* first."));
    let chapter = files
        .iter()
        .find(|p| {
            let s = p.to_string_lossy();
            s.contains("guide-") && s.contains("chapter-1") && !s.ends_with(".comments.md")
        })
        .expect("chapter nested under guide");
    assert!(std::fs::read_to_string(chapter)
        .unwrap()
        .starts_with("# Chapter 1\n"));
    assert!(read("launch-").contains("Labels: big") && read("launch-").contains("Go live"));
    let comments = files
        .iter()
        .find(|p| {
            p.to_string_lossy().ends_with(".comments.md")
                && p.to_string_lossy().contains("chapter-1")
        })
        .unwrap();
    let text = std::fs::read_to_string(comments).unwrap();
    assert!(text.contains("Nice opening") && text.contains("Thanks!"));
    assert!(
        files.iter().any(|p| p.starts_with(out.join("trash"))),
        "trashed items under trash/"
    );
    assert!(std::fs::read_to_string(out.join("detached-comments.md"))
        .unwrap()
        .contains("this will be detached"));
    // A folder of Markdown imports as pages.
    h.ok(&["init", "notes"]);
    h.ok(&["-w", "notes", "import", out.join("docs").to_str().unwrap()]);
    let titles: Vec<String> = h
        .json(&["-w", "notes", "doc", "ls"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles.contains(&"Guide".to_string()) && titles.contains(&"Chapter 1".to_string()),
        "{titles:?}"
    );
}

#[test]
fn broken_export_is_refused_before_anything_is_written() {
    let h = Home::new();
    build_rich_workspace(&h);
    let out = h.path().join("export");
    h.ok(&["-w", "src", "export", "--json", out.to_str().unwrap()]);
    // Damage one item file.
    let item = std::fs::read_dir(out.join("cards"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&item, "{ \"id\": ").unwrap();
    h.ok(&["init", "dst"]);
    let before = h.json(&["-w", "dst", "ls"]);
    let err = h.fails(&["-w", "dst", "import", out.to_str().unwrap()]);
    assert!(
        err.contains(item.file_name().unwrap().to_str().unwrap()) && err.contains("invalid"),
        "{err}"
    );
    assert_eq!(h.json(&["-w", "dst", "ls"]), before, "nothing imported");
    // An export never overwrites a folder with files in it.
    let err = h.fails(&["-w", "src", "export", "--json", out.to_str().unwrap()]);
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn several_processes_on_one_home_lose_nothing() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["board", "new", "Busy", "--columns", "In"]);
    let children: Vec<_> = (0..4)
        .map(|p| {
            let script = format!(
                "for i in 1 2 3 4 5 6; do \"$0\" card add Busy \"p{p} card $i\" >/dev/null || exit 1; done"
            );
            common::isolated(&mut Command::new("sh"), h.path())
                .arg("-c")
                .arg(script)
                .arg(env!("CARGO_BIN_EXE_weft"))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let cards = h.json(&["board", "ls", "Busy"])["columns"][0]["cards"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(cards, 24);
}

#[test]
fn killing_weft_mid_edit_loses_no_committed_edit() {
    use std::os::unix::process::CommandExt;
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["doc", "new", "Log"]);
    for round in 0..3u64 {
        let log = h.path().join(format!("committed-{round}.txt"));
        let script = format!(
            "i=0; while true; do i=$((i+1)); \"$0\" doc edit Log --append \"r{round}-line-$i;\" >/dev/null 2>&1 && echo $i >> '{}'; done",
            log.display()
        );
        let mut child = common::isolated(&mut Command::new("sh"), h.path())
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_weft"))
            .process_group(0)
            .spawn()
            .unwrap();
        // A different moment each round and each run.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        std::thread::sleep(std::time::Duration::from_millis(
            300 + (nanos + round * 7919) % 900,
        ));
        let killed = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", child.id())])
            .status()
            .unwrap();
        assert!(killed.success(), "could not kill the edit loop");
        let _ = child.wait();
        let committed: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| format!("r{round}-line-{l};"))
            .collect();
        assert!(
            !committed.is_empty(),
            "the loop made progress before the kill"
        );
        let body = h.ok(&["doc", "cat", "Log"]);
        for line in &committed {
            assert!(body.contains(line.as_str()), "committed edit {line} lost");
        }
        // The database is encrypted: weft doctor runs PRAGMA integrity_check with the key.
        let doctor = h.json(&["doctor"]);
        assert_eq!(doctor["workspaces"][0]["health"]["integrity"], "ok");
    }
}

#[test]
fn piped_output_is_not_filtered() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    let body = "tabs\tand\u{1b}[31m escapes\u{202e} stay when piped\n";
    h.ok(&["doc", "new", "Raw", "--body", body]);
    assert_eq!(h.ok(&["doc", "cat", "Raw"]), body);
}

#[test]
fn the_editor_gets_a_private_file_and_never_the_passphrase() {
    let h = Home::new();
    h.ok(&["init", "team"]);
    h.ok(&["doc", "new", "Secret plans", "--body", "launch at dawn\n"]);
    let report = h.path().join("editor-saw.txt");
    // The "editor" writes down what another user could see, then edits the file.
    let editor = format!(
        "f() {{ stat -c '%a' \"$1\" > {r}; stat -c '%a' \"$(dirname \"$1\")\" >> {r}; \
         echo \"pass=${{WEFT_PASSPHRASE:-unset}}\" >> {r}; echo '- and at dusk' >> \"$1\"; }}; f",
        r = report.display()
    );
    let out = h
        .cmd(&["doc", "edit", "Secret plans"])
        .env("EDITOR", editor)
        .env("WEFT_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saw = std::fs::read_to_string(&report).unwrap();
    assert_eq!(
        saw, "600\n700\npass=unset\n",
        "file 0600, folder 0700, no passphrase"
    );
    assert_eq!(
        h.ok(&["doc", "cat", "Secret plans"]),
        "launch at dawn\n- and at dusk\n"
    );
}

#[cfg(unix)]
#[test]
fn an_import_never_follows_a_link_out_of_its_folder_or_into_a_loop() {
    use std::os::unix::fs::symlink;
    let h = Home::new();
    h.ok(&["init", "notes"]);
    let before = h.json(&["-w", "notes", "ls"]);
    let outside = h.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("private.md"), "# Private\nnot for the team\n").unwrap();

    // A link to a file outside the folder: refused, nothing imported.
    let dir = h.path().join("import1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.md"), "# A\nfine\n").unwrap();
    symlink(outside.join("private.md"), dir.join("leak.md")).unwrap();
    let err = h.fails(&["-w", "notes", "import", dir.to_str().unwrap()]);
    assert!(err.contains("outside the folder being imported"), "{err}");
    // A link to a folder outside: refused too.
    let dir2 = h.path().join("import2");
    std::fs::create_dir_all(&dir2).unwrap();
    symlink(&outside, dir2.join("elsewhere")).unwrap();
    let err = h.fails(&["-w", "notes", "import", dir2.to_str().unwrap()]);
    assert!(err.contains("outside the folder being imported"), "{err}");
    // A link back to a folder being read: a loop, refused.
    let dir3 = h.path().join("import3");
    std::fs::create_dir_all(dir3.join("sub")).unwrap();
    std::fs::write(dir3.join("sub/b.md"), "# B\n").unwrap();
    symlink(&dir3, dir3.join("sub/again")).unwrap();
    let err = h.fails(&["-w", "notes", "import", dir3.to_str().unwrap()]);
    assert!(err.contains("a loop"), "{err}");
    assert_eq!(h.json(&["-w", "notes", "ls"]), before, "nothing imported");
    assert!(!h.ok(&["-w", "notes", "search", "team"]).contains("Private"));

    // A link that stays inside the folder is followed.
    let dir4 = h.path().join("import4");
    std::fs::create_dir_all(dir4.join("real")).unwrap();
    std::fs::write(dir4.join("real/c.md"), "# C\nkept\n").unwrap();
    symlink(dir4.join("real/c.md"), dir4.join("alias.md")).unwrap();
    h.ok(&["-w", "notes", "import", dir4.to_str().unwrap()]);
    let found = h.json(&["-w", "notes", "search", "kept"]);
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(2),
        "the file and its alias: {found}"
    );
}
