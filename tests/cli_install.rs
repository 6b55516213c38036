//! What a person who installs weft gets besides the app: `--version` with the commit it was built
//! from, shell completions and a man page that name the real commands, and the sample config,
//! keymap and theme in `examples/`, read by weft's own loaders so they cannot drift from them.

mod common;

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use weft::model::Clock;
use weft::store::{Home, Replica};
use weft::tui::keymap::KeyCombo;
use weft::tui::{ColorMode, Keymap, Theme};

fn weft(home: &Path, args: &[&str]) -> String {
    common::weft_ok(home, args)
}

/// Every subcommand of `weft`, and of each of them (`trash restore`, `member rm`, …).
fn subcommand_names() -> Vec<String> {
    let cli = weft::cli::Cli::command();
    let mut names = Vec::new();
    for sub in cli.get_subcommands() {
        names.push(sub.get_name().to_string());
        for inner in sub.get_subcommands() {
            names.push(inner.get_name().to_string());
        }
    }
    names.retain(|n| n != "help");
    names
}

#[test]
fn version_names_the_release_and_the_commit_it_was_built_from() {
    let home = tempfile::tempdir().unwrap();
    let version = weft(home.path(), &["--version"]);
    let expected = format!("weft {}", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected), "{version}");
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(commit) = commit {
        assert_eq!(version.trim(), format!("{expected} ({commit})"));
    }
    let doctor: serde_json::Value =
        serde_json::from_str(&weft(home.path(), &["doctor", "--json"])).expect("JSON");
    assert_eq!(
        Some(version.trim()),
        doctor["version"]
            .as_str()
            .map(|v| format!("weft {v}"))
            .as_deref(),
        "doctor reports the same version"
    );
}

#[test]
fn completions_for_each_shell_name_every_command() {
    let home = tempfile::tempdir().unwrap();
    let names = subcommand_names();
    for must in ["quarantine", "invite", "restore", "completions"] {
        assert!(names.iter().any(|n| n == must), "{must} in {names:?}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = weft(home.path(), &["completions", shell]);
        for name in &names {
            assert!(
                script.contains(name.as_str()),
                "{shell} completions lack {name}"
            );
        }
    }
    let out = common::weft_command(home.path())
        .args(["completions", "tcsh"])
        .output()
        .expect("run weft");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("fish"), "{err}");
}

#[test]
fn the_man_page_is_roff_and_lists_every_command() {
    let home = tempfile::tempdir().unwrap();
    let page = weft(home.path(), &["man"]);
    assert!(page.contains(".TH weft 1"), "a section 1 page:\n{page}");
    assert!(page.contains(".SH SYNOPSIS"));
    let cli = weft::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let name = sub.get_name().replace('-', "\\-");
        assert!(page.contains(&name), "the man page lacks {name}");
    }
}

/// A home whose config dir holds the samples as a user would copy them.
fn home_with_samples(root: &Path) -> Home {
    let home = Home::at(root);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::create_dir_all(home.config.join("themes")).unwrap();
    for file in ["config.toml", "keys.toml", "themes/paper.toml"] {
        std::fs::copy(examples.join(file), home.config.join(file)).unwrap();
    }
    home
}

fn sample(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_sample_config_is_used_as_written_by_the_app_and_the_commands() {
    let root = tempfile::tempdir().unwrap();
    let home = home_with_samples(root.path());
    let text = sample("config.toml");
    let settings: toml::Table = toml::from_str(&text).expect("the sample is TOML");
    // Every key, set or shown commented out, is one weft reads (the loaders ignore unknown keys,
    // so a misspelt one would otherwise go unnoticed).
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.contains(" = "))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let all: toml::Table = toml::from_str(&uncommented).expect("commented settings are TOML");
    for key in all.keys() {
        assert!(
            ["default_workspace", "theme", "mouse", "lan"].contains(&key.as_str()),
            "examples/config.toml sets {key}, which weft does not read"
        );
    }
    assert!(all.contains_key("default_workspace"));

    let db = root.path().join("ws").join("weft.db");
    let replica = Replica::create(&db, "team", "local", Clock::Fixed(0)).expect("create");
    let app = weft::tui::build_app(replica, &home, "team", None);
    assert_eq!(app.status_text(), None, "no complaint about the samples");
    assert_eq!(Some(app.theme().name()), settings["theme"].as_str());
    assert_eq!(Some(app.mouse_enabled()), settings["mouse"].as_bool());

    // The commands read the same file, with the default workspace uncommented.
    std::fs::write(home.config_file(), &uncommented).unwrap();
    let doctor: serde_json::Value =
        serde_json::from_str(&weft(root.path(), &["doctor", "--json"])).expect("JSON");
    assert_eq!(
        doctor["default_workspace"],
        all["default_workspace"].as_str().unwrap()
    );
}

#[test]
fn the_sample_keymap_binds_what_it_says() {
    let root = tempfile::tempdir().unwrap();
    let home = home_with_samples(root.path());
    let (keymap, notice) = Keymap::load(&home.config);
    assert_eq!(notice, None);
    let file: toml::Table = toml::from_str(&sample("keys.toml")).expect("TOML");
    let keys = file["keys"].as_table().expect("[keys]");
    assert!(!keys.is_empty());
    for (name, wanted) in keys {
        let spec = weft::tui::commands::by_name(name).expect("a real command");
        let wanted: Vec<KeyCombo> = wanted
            .as_array()
            .expect("a list of keys")
            .iter()
            .map(|k| KeyCombo::parse(k.as_str().expect("a key")).expect("a valid key"))
            .collect();
        assert_eq!(keymap.keys_for(spec.command), wanted.as_slice(), "{name}");
    }
}

#[test]
fn the_sample_theme_loads_in_every_colour_mode() {
    let root = tempfile::tempdir().unwrap();
    let home = home_with_samples(root.path());
    for mode in [
        ColorMode::TrueColor,
        ColorMode::Ansi256,
        ColorMode::Ansi16,
        ColorMode::NoColor,
    ] {
        let (theme, notice) = Theme::load(Some("paper"), &home.config, mode);
        assert_eq!(notice, None, "{mode:?}");
        assert_eq!(theme.name(), "paper");
    }
}

#[test]
fn setting_the_default_workspace_keeps_the_rest_of_the_config() {
    let root = tempfile::tempdir().unwrap();
    let home = home_with_samples(root.path());
    weft(root.path(), &["init", "work"]);
    let after = std::fs::read_to_string(home.config_file()).unwrap();
    let settings: toml::Table = toml::from_str(&after).expect("still TOML");
    assert_eq!(settings["default_workspace"].as_str(), Some("work"));
    assert_eq!(settings["theme"].as_str(), Some("dark"), "{after}");
    assert!(
        after.contains("# The app's theme"),
        "comments are kept:\n{after}"
    );
    assert!(weft(root.path(), &["workspaces"]).contains("work"));
}
