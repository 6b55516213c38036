//! End to end: the real `weft` binary in a real terminal (tmux). Create a doc, type in it, move a card,
//! suspend with Ctrl-Z and resume with `fg`, quit, reopen — and the content is there, as the CLI sees
//! it. Skipped (with a message) when tmux is not installed, unless WEFT_REQUIRE_TMUX=1.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_weft");

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether tmux is here; without it the test is skipped, unless WEFT_REQUIRE_TMUX=1 says it must run.
fn tmux_or_skip() -> bool {
    if tmux_available() {
        return true;
    }
    if std::env::var("WEFT_REQUIRE_TMUX").as_deref() == Ok("1") {
        panic!("tmux is required (WEFT_REQUIRE_TMUX=1) but not installed");
    }
    println!("skipping: tmux is not installed (set WEFT_REQUIRE_TMUX=1 to make this fail)");
    false
}

/// A tmux server of our own (its own socket), with one shell in a 100×30 window.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(home: &Path) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("weft-e2e-{}-{n}", std::process::id());
        let t = Tmux { socket };
        let ok = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30"])
            .arg(format!(
                "env -i PATH=/usr/bin:/bin HOME={home} WEFT_HOME={home} WEFT_KEYRING=off WEFT_LOG=debug TERM=xterm-256color PS1='$ ' bash --norc --noprofile -i",
                home = home.display()
            ))
            .status()
            .expect("start tmux");
        assert!(ok.success(), "tmux new-session failed");
        t
    }

    fn tmux(&self, args: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux {args:?} failed");
    }

    /// Press keys one at a time (tmux key names), pausing so Esc is never read as Alt.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "e2e", k]);
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "e2e", "-l", text]);
        std::thread::sleep(Duration::from_millis(300));
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "e2e"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("waited for {what}; the screen shows:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// Wait until the app has left the screen (it restores the shell's screen on exit).
    fn wait_gone(&self) -> String {
        self.wait_until("the app to exit", |s| !s.contains("DOCS"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn weft(home: &Path, args: &[&str]) -> String {
    common::weft_ok(home, args)
}

fn column_of(board_json: &str, card: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(board_json).expect("json");
    for col in v["columns"].as_array()? {
        for c in col["cards"].as_array()? {
            if c["title"] == card {
                return col["name"].as_str().map(str::to_string);
            }
        }
    }
    None
}

#[test]
fn edit_move_suspend_quit_reopen() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path();
    let t = Tmux::start(home);
    t.wait_for("$");
    t.type_text(BIN);
    t.keys(&["Enter"]);
    t.wait_for("DOCS");
    t.wait_for("Getting started");

    // Create a doc and type into it.
    t.keys(&["n"]);
    t.wait_for("New doc title");
    t.type_text("E2E notes");
    t.keys(&["Enter"]);
    t.wait_for("Empty doc");
    t.keys(&["i"]);
    t.wait_for(" EDIT ");
    t.type_text("hello from tmux é😀 世界");
    t.keys(&["Escape"]);
    t.wait_for(" VIEW ");

    // Suspend to the shell and come back.
    t.keys(&["C-z"]);
    let shell = t.wait_for("Stopped");
    assert!(
        !shell.contains("DOCS"),
        "the shell gets a normal screen:\n{shell}"
    );
    t.type_text("fg");
    t.keys(&["Enter"]);
    t.wait_for("hello from tmux");

    // Move a card to the next column.
    t.keys(&["Escape", "j", "Enter"]);
    t.wait_for(" BOARD ");
    t.keys(&["L"]);
    t.keys(&["q"]);
    // `fg` returns the resumed program's exit status.
    t.wait_gone();
    t.type_text("echo WEFT-EXITED $?");
    t.keys(&["Enter"]);
    t.wait_for("WEFT-EXITED 0");

    let body = weft(home, &["doc", "cat", "E2E notes"]);
    assert_eq!(body.trim_end(), "hello from tmux é😀 世界");
    let board = weft(home, &["board", "ls", "Getting started", "--json"]);
    assert_eq!(
        column_of(&board, "Invite a teammate").as_deref(),
        Some("Doing")
    );

    // Reopen: the doc is listed and its text is there.
    t.tmux(&["send-keys", "-t", "e2e", "clear", "Enter"]);
    t.type_text(&format!("{BIN}; echo WEFT-REOPENED $?"));
    t.keys(&["Enter"]);
    t.wait_for("E2E notes");
    t.keys(&["/"]);
    t.type_text("tmux");
    t.wait_for("1 match");
    t.keys(&["Enter"]);
    t.wait_for("hello from tmux é😀 世界");
    t.keys(&["C-q"]);
    t.wait_gone();
    t.wait_for("WEFT-REOPENED 0");
    assert_eq!(
        weft(home, &["doc", "cat", "E2E notes"]).trim_end(),
        "hello from tmux é😀 世界"
    );
    // Logs went to the state dir, never to the screen.
    let log = std::fs::read_to_string(home.join("state").join("weft.log")).expect("log file");
    assert!(log.contains("starting the terminal UI"));
    assert!(!t.screen().contains("INFO"));
}

/// Alice's workspace "team" (with the sample) in a bucket folder under `dir`, and Bob, who joined
/// it as an editor. Returns their homes and Bob's address.
fn alice_and_bob(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let (alice, bob) = (dir.join("alice"), dir.join("bob"));
    let bucket = format!("file://{}", dir.join("bucket").display());
    weft(&alice, &["init", "team", "--sample", "--bucket", &bucket]);
    let bob_address = weft(&bob, &["wallet", "new"])
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 42)
        .expect("an address")
        .to_string();
    let invite = weft(
        &alice,
        &["-w", "team", "invite", &bob_address, "--role", "editor"],
    );
    let code = invite
        .split_whitespace()
        .find(|w| w.starts_with("weft1-"))
        .expect("a join code");
    weft(&bob, &["join", code]);
    (alice, bob, bob_address)
}

/// A process killed when dropped.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `weft relay` on a free port of 127.0.0.1; returns it and its ws:// URL.
fn relay(home: &Path) -> (Kill, String) {
    let mut relay = common::weft_command(home)
        .args(["relay", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the relay");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(relay.stdout.take().expect("relay stdout")),
        &mut first,
    )
    .expect("the relay says where it listens");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .expect("a ws:// address")
        .to_string();
    (Kill(relay), url)
}

#[test]
fn a_teammate_s_changes_arrive_in_the_open_app_and_ours_reach_them() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (alice, bob, _) = alice_and_bob(dir.path());
    // A relay, set for the workspace: Alice's app syncs live (its search index is updated after
    // each change is sent, not before).
    let (_relay, url) = relay(&alice);
    // Two relays, the first of them down: the app fails over and says which it is on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let relays = format!("ws://{dead},{url}");
    weft(&alice, &["-w", "team", "settings", "relay", &relays]);

    let t = Tmux::start(&alice);
    t.wait_for("$");
    t.type_text(&format!("{BIN} -w team"));
    t.keys(&["Enter"]);
    t.wait_for("DOCS");
    t.wait_for(&format!("live on {}", url.trim_start_matches("ws://")));

    // Bob names himself, writes and syncs; both show up in Alice's open app.
    weft(&bob, &["profile", "name", "Bob B."]);
    weft(
        &bob,
        &["doc", "new", "Notes from Bob", "--body", "bob was here"],
    );
    weft(&bob, &["sync"]);
    t.wait_for("Notes from Bob");
    t.wait_for("Bob B. editor");

    // Alice writes in the app; Bob gets it from the bucket.
    t.keys(&["n"]);
    t.wait_for("New doc title");
    t.type_text("Notes from Alice");
    t.keys(&["Enter"]);
    t.wait_for("Empty doc");
    // Typed live, then found by search at once.
    t.keys(&["i"]);
    t.wait_for(" EDIT ");
    t.type_text("a kestrel hovered");
    t.keys(&["Escape"]);
    t.wait_for(" VIEW ");
    t.keys(&["/"]);
    t.type_text("kestrel");
    t.wait_for("1 match");
    t.keys(&["Escape"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        weft(&bob, &["sync"]);
        if weft(&bob, &["ls"]).contains("Notes from Alice") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Alice's doc never reached Bob; her screen:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    t.keys(&["C-q"]);
    t.wait_gone();
}

/// An assignee picked from the members in the app is an address underneath: `weft card show`
/// names the teammate.
#[test]
fn an_assignee_picked_in_the_app_round_trips_through_card_show() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (alice, bob, bob_address) = alice_and_bob(dir.path());
    weft(&bob, &["profile", "name", "Bob B."]);
    weft(&bob, &["sync"]);
    weft(&alice, &["-w", "team", "sync"]);
    let t = Tmux::start(&alice);
    t.wait_for("$");
    t.type_text(&format!("{BIN} -w team; echo WEFT-EXITED $?"));
    t.keys(&["Enter"]);
    t.wait_for("DOCS");
    // The sidebar starts on the first doc: two down is the board; its first card.
    t.keys(&["j", "j", "Enter"]);
    t.wait_for("Invite a teammate");
    t.keys(&["Enter"]);
    t.wait_for("Assignees: —");
    t.keys(&["a"]);
    t.wait_for("space: assign/unassign");
    t.keys(&["j", "Space", "Escape"]);
    t.wait_for("Assignees: @Bob B.");
    t.keys(&["C-q"]);
    t.wait_for("WEFT-EXITED 0");
    let card: serde_json::Value = serde_json::from_str(&weft(
        &alice,
        &["-w", "team", "card", "show", "Invite a teammate", "--json"],
    ))
    .expect("json");
    assert_eq!(card["assignees"], serde_json::json!([bob_address]));
    let shown = weft(&alice, &["-w", "team", "card", "show", "Invite a teammate"]);
    assert!(shown.contains("@Bob B."), "{shown}");
}

/// A teammate's display name travels with their caret, on its own row, never over the text.
#[test]
fn a_teammate_s_name_shows_next_to_their_caret_in_the_other_app() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (alice, bob, _) = alice_and_bob(dir.path());
    let (_relay, url) = relay(&alice);
    weft(&alice, &["-w", "team", "settings", "relay", &url]);
    weft(&bob, &["profile", "name", "Bob B."]);
    weft(&bob, &["sync"]);
    weft(&alice, &["-w", "team", "sync"]);
    weft(&bob, &["sync"]);
    let (a, b) = (Tmux::start(&alice), Tmux::start(&bob));
    for t in [&a, &b] {
        t.wait_for("$");
        t.type_text(&format!("{BIN} -w team"));
        t.keys(&["Enter"]);
        t.wait_for("DOCS");
        t.wait_for("live");
    }
    // Bob opens Team notes and edits, his caret on the second line.
    b.keys(&["j", "Enter"]);
    b.wait_for("Write down what the team decided");
    b.keys(&["i"]);
    b.wait_for(" EDIT ");
    b.keys(&["j", "End"]);
    a.keys(&["j", "Enter"]);
    let screen = a.wait_for("‸Bob B.");
    let label = screen
        .lines()
        .find(|l| l.contains("‸Bob B."))
        .expect("the label's row");
    assert!(
        !label.contains("Write down") && !label.contains("Team notes"),
        "the label covers text:\n{screen}"
    );
    a.keys(&["C-q"]);
    b.keys(&["Escape", "C-q"]);
}

#[test]
fn the_theme_comes_from_the_flag_or_the_variable() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path();
    weft(home, &["init", "team", "--sample"]);
    let themes = home.join("config").join("themes");
    std::fs::create_dir_all(&themes).expect("themes dir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/themes/paper.toml"),
        themes.join("paper.toml"),
    )
    .expect("copy the sample theme");
    let t = Tmux::start(home);
    t.wait_for("$");
    // A theme that does not exist is named in the status bar; the app still opens.
    for (line, name) in [
        (format!("{BIN} --theme nope"), "nope"),
        (format!("WEFT_THEME=nada {BIN}"), "nada"),
    ] {
        t.type_text(&line);
        t.keys(&["Enter"]);
        t.wait_for(&format!("no theme called \"{name}\""));
        t.keys(&["q"]);
        t.wait_gone();
    }
    t.type_text(&format!("{BIN} --theme paper"));
    t.keys(&["Enter"]);
    let screen = t.wait_for("DOCS");
    assert!(!screen.contains("default theme"), "{screen}");
    t.keys(&["q"]);
    t.wait_gone();
}

#[test]
fn small_panes_keep_keys_from_hidden_screens_and_ctrl_end_goes_to_the_end() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path();
    weft(home, &["init", "team", "--sample"]);
    weft(
        home,
        &[
            "doc",
            "new",
            "Narrow",
            "--body",
            "first line\nsecond line\nthe last line",
        ],
    );
    let t = Tmux::start(home);
    t.wait_for("$");
    t.type_text(&format!("{BIN}; echo WEFT-EXITED $?"));
    t.keys(&["Enter"]);
    t.wait_for("DOCS");

    // 60×15: the sidebar has the whole width while it has the focus.
    t.tmux(&["resize-window", "-t", "e2e", "-x", "60", "-y", "15"]);
    t.wait_until("the sidebar alone at 60 columns", |s| {
        s.contains("DOCS") && s.contains("tab main")
    });
    t.keys(&["/"]);
    t.type_text("Narrow");
    t.wait_for("1 match");
    t.keys(&["Enter"]);
    t.wait_until("the doc alone", |s| {
        s.contains("first line") && !s.contains("DOCS")
    });
    t.keys(&["i"]);
    t.wait_for(" EDIT ");
    // ctrl-End lands at the end of the doc, not at the start of its last line.
    t.keys(&["C-End"]);
    t.type_text("!");
    t.wait_for("the last line!");
    t.keys(&["C-Home"]);
    t.type_text(">");
    t.wait_for(">first line");

    // Too small to draw: what is typed goes nowhere (not into the hidden editor), and a plain
    // q does not quit.
    t.tmux(&["resize-window", "-t", "e2e", "-x", "30", "-y", "10"]);
    t.wait_for("too small");
    t.type_text("zzz q");
    t.keys(&["Escape", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));

    // 40×12: drawn again, still editing, nothing of the above arrived.
    t.tmux(&["resize-window", "-t", "e2e", "-x", "40", "-y", "12"]);
    let screen = t.wait_for(" EDIT ");
    assert!(!screen.contains("zzz"), "{screen}");
    t.type_text("+");
    t.wait_for(">+first line");
    t.keys(&["Escape"]);
    t.wait_for(" VIEW ");
    // Tab brings the sidebar; typing there does not reach the doc it hides.
    t.keys(&["Tab"]);
    t.wait_for("DOCS");
    t.type_text("iixyz");
    std::thread::sleep(Duration::from_millis(500));
    let screen = t.screen();
    assert!(screen.contains("DOCS"), "{screen}");
    assert!(!screen.contains(" EDIT "), "{screen}");
    t.keys(&["C-q"]);
    t.wait_for("WEFT-EXITED 0");
    assert_eq!(
        weft(home, &["doc", "cat", "Narrow"]).trim_end(),
        ">+first line\nsecond line\nthe last line!"
    );
}

/// The rows of the focused pane (between its `┃` borders), trimmed and joined with spaces.
fn pane_text(screen: &str) -> String {
    screen
        .lines()
        .filter_map(|l| {
            let a = l.find('┃')?;
            let b = l.rfind('┃')?;
            (b > a).then(|| l[a + '┃'.len_utf8()..b].trim().to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_300_character_line_typed_at_80x24_is_visible_whole_while_editing() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path();
    weft(home, &["init", "team", "--sample"]);
    weft(
        home,
        &["doc", "new", "Wrapped", "--body", "Short first line."],
    );
    let t = Tmux::start(home);
    t.tmux(&["resize-window", "-t", "e2e", "-x", "80", "-y", "24"]);
    t.wait_for("$");
    t.type_text(&format!("{BIN}; echo WEFT-EXITED $?"));
    t.keys(&["Enter"]);
    t.wait_for("DOCS");
    t.keys(&["/"]);
    t.type_text("Wrapped");
    t.wait_for("1 match");
    t.keys(&["Enter"]);
    t.wait_for("Short first line.");
    t.keys(&["i"]);
    t.wait_for(" EDIT ");
    t.keys(&["C-End", "Enter"]);
    // 60 distinct words, 300 characters with their spaces.
    let line: String = (1..=60)
        .map(|i| format!("w{i:03}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(line.chars().count(), 299);
    t.type_text(&line);
    let screen = t.wait_until("the whole line on screen", |s| pane_text(s).contains(&line));
    // Nothing scrolled sideways: the short line is still there, whole, above it.
    assert!(
        pane_text(&screen).contains(&format!("Short first line. {line}")),
        "{screen}"
    );
    t.keys(&["Escape"]);
    t.wait_for(" VIEW ");
    t.keys(&["C-q"]);
    t.wait_for("WEFT-EXITED 0");
    assert_eq!(
        weft(home, &["doc", "cat", "Wrapped"]).trim_end(),
        format!("Short first line.\n{line}")
    );
}
