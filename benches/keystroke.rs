//! Keystroke → Loro commit → frame rendered, on a 10,000-line document in a 120×40 terminal
//! (ratatui's TestBackend, so the terminal itself is not measured).
//!
//! The workspace is an encrypted (SQLCipher) database, as `weft` opens it. One iteration is one key
//! through `App::update` (the editor turns it into a Loro insert or delete and commits it) plus one
//! full `view` into the 120×40 buffer. Keys alternate between typing a
//! character and deleting it, so the document stays the same size. The store is flushed every 25
//! keys outside the timed part, as the event loop's 50 ms batching would.
//!
//! Besides criterion's statistics, a separate run of 20,000 keystrokes prints the median and p99
//! (criterion reports means and medians, not tail latency).
//!
//! The `paragraphs` case is the same 10,000 lines, but every other line is a paragraph of ~330
//! characters (three or more rows in the 120-column pane once wrapped), and the keys are typed at
//! the end of one of them in the middle of the document.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use weft::model::Clock;
use weft::store::Replica;
use weft::tui::{App, AppOptions, ColorMode, Keymap, Msg, Target, Theme};

const LINES: usize = 10_000;

struct Bench {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    app: App,
    term: Terminal<TestBackend>,
    n: u64,
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// A database key the way `weft` makes one (home secret in a key file; no OS keyring).
fn db_key() -> (tempfile::TempDir, weft::store::DbKey) {
    let home = tempfile::tempdir().expect("temp dir");
    std::env::set_var("WEFT_KEYRING", "off");
    let secret = weft::store::secret::set_up(
        &weft::store::Home::at(home.path()),
        weft::store::secret::Requested::Auto,
    )
    .expect("home secret");
    (home, secret.db_key())
}

/// Short lines, one per row.
fn short_lines(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("Line {i:05}: the quick brown fox jumps over the lazy dog, **again**.\n"))
        .collect()
}

/// Every other line a long paragraph that wraps over several rows, with blank lines between.
fn paragraphs(lines: usize) -> String {
    (0..lines)
        .map(|i| {
            if i % 2 == 1 {
                "\n".to_string()
            } else {
                format!(
                    "Line {i:05}: {}\n",
                    "the quick brown fox jumps over the lazy dog, again and again; ".repeat(5)
                )
            }
        })
        .collect()
}

fn setup(lines: usize, body: fn(usize) -> String) -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let (home, db) = db_key();
    let path = dir.path().join("bench").join("weft.db");
    let mut replica = Replica::create_with(
        &path,
        Some(&db),
        "bench",
        "local",
        Clock::Fixed(1_790_000_000_000),
    )
    .expect("create");
    let ws = replica.workspace();
    let doc = ws.create_doc("Big document", None).expect("doc");
    ws.set_body(doc, &body(lines)).expect("body");
    replica.flush().expect("flush");
    let mut app = App::new(
        replica,
        AppOptions {
            workspace: "bench".into(),
            identity: "local".into(),
            theme: Theme::builtin("dark", ColorMode::TrueColor).expect("theme"),
            keymap: Keymap::defaults(),
            notices: Vec::new(),
        },
    );
    app.update(Msg::Resize(120, 40));
    app.open(Target::Doc(doc));
    // Jump to the middle of the document with search, then start editing there.
    app.update(key(KeyCode::Char('/')));
    for c in format!("{:05}", lines / 2).chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Char('i')));
    app.update(key(KeyCode::End));
    assert!(app.is_editing(), "editing the big document");
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    term.draw(|f| weft::tui::view(&app, f)).expect("draw");
    Bench {
        _dirs: (dir, home),
        app,
        term,
        n: 0,
    }
}

impl Bench {
    /// One keystroke and one frame; returns how long it took.
    fn keystroke(&mut self) -> Duration {
        let msg = if self.n % 2 == 0 {
            key(KeyCode::Char('x'))
        } else {
            key(KeyCode::Backspace)
        };
        self.n += 1;
        let start = Instant::now();
        self.app.update(msg);
        let app = &self.app;
        self.term.draw(|f| weft::tui::view(app, f)).expect("draw");
        let took = start.elapsed();
        if self.n % 25 == 0 {
            self.app.update(Msg::Flush);
        }
        took
    }
}

impl Bench {
    /// Type `keys` keystrokes, then time the write of what they changed.
    fn flush_after(&mut self, keys: usize) -> Duration {
        for _ in 0..keys {
            let msg = if self.n % 2 == 0 {
                key(KeyCode::Char('x'))
            } else {
                key(KeyCode::Backspace)
            };
            self.n += 1;
            self.app.update(msg);
        }
        let start = Instant::now();
        self.app.update(Msg::Flush);
        start.elapsed()
    }
}

fn percentiles(name: &str, b: &mut Bench, n: usize) {
    let mut samples: Vec<Duration> = (0..n).map(|_| b.keystroke()).collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name}: {n} keystrokes, median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6,
    );
}

fn keystroke(c: &mut Criterion) {
    let mut big = setup(LINES, short_lines);
    c.bench_function("keystroke_commit_render_10k_lines_120x40", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| big.keystroke()).sum())
    });
    percentiles("keystroke_commit_render_10k_lines_120x40", &mut big, 20_000);

    let mut wrapped = setup(LINES, paragraphs);
    c.bench_function(
        "keystroke_commit_render_10k_lines_paragraphs_120x40",
        |bench| bench.iter_custom(|iters| (0..iters).map(|_| wrapped.keystroke()).sum()),
    );
    percentiles(
        "keystroke_commit_render_10k_lines_paragraphs_120x40",
        &mut wrapped,
        20_000,
    );
    drop(wrapped);

    let mut small = setup(20, short_lines);
    c.bench_function("keystroke_commit_render_20_lines_120x40", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| small.keystroke()).sum())
    });
    percentiles(
        "keystroke_commit_render_20_lines_120x40",
        &mut small,
        20_000,
    );

    // What the event loop's batched write costs (not part of a keystroke): after one key on the
    // small doc, and after 25 keys on the big one.
    c.bench_function("flush_after_1_key_20_lines", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| small.flush_after(1)).sum())
    });
    c.bench_function("flush_after_25_keys_10k_lines", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| big.flush_after(25)).sum())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = keystroke
}
criterion_main!(benches);
