//! Keys → commands. Built from the registry's default keys, then `keys.toml` in the config dir, e.g.
//!
//! ```toml
//! [keys]
//! "board.move-card-right" = ["L", "ctrl-right"]
//! "app.quit" = "ctrl-q"
//! "doc.copy" = []            # unbind
//! ```
//!
//! A command named in the file loses its default keys. A file that cannot be used is reported in the
//! status bar and the defaults apply: a bad keymap never stops the app from starting.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::commands::{by_name, Command, Scope, COMMANDS};

/// File name of the keymap in the config dir.
pub const KEYMAP_FILE: &str = "keys.toml";

/// A key with its modifiers, normalised so that `H` and `shift-h` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyCombo {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt and (for non-character keys) Shift.
    pub mods: KeyModifiers,
}

impl KeyCombo {
    /// Normalise a terminal key event.
    pub fn from_event(ev: &KeyEvent) -> Self {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) => {
                // The character already says whether shift was held.
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        KeyCombo { code, mods }
    }

    /// Parse the notation of `keys.toml`: `q`, `?`, `ctrl-p`, `alt-backspace`, `shift-left`, `f1`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("{s:?} is not a key (examples: q, ?, ctrl-p, alt-u, shift-left, pagedown, f1)")
        };
        let mut rest = s.trim();
        let mut mods = KeyModifiers::NONE;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") && rest.len() > 5 {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") && rest.len() > 6 {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            mods |= m;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            (None, _) => return Err(bad()),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" => KeyCode::Insert,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" => KeyCode::PageUp,
                "pagedown" => KeyCode::PageDown,
                "space" => KeyCode::Char(' '),
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(bad()),
                },
                _ => return Err(bad()),
            },
        };
        let code = match code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c.to_uppercase().next().unwrap_or(c))
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Ok(KeyCombo { code, mods })
    }

    /// A key that would type a character into a text field (no ctrl or alt).
    pub fn is_text(&self) -> bool {
        matches!(self.code, KeyCode::Char(_))
            && !self
                .mods
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    }
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Which command each key runs, per scope, and the keys of each command (for help and palette).
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: HashMap<(Scope, KeyCombo), Command>,
    keys: HashMap<Command, Vec<KeyCombo>>,
}

impl Keymap {
    /// The registry's default keys.
    pub fn defaults() -> Self {
        let mut map = Keymap {
            bindings: HashMap::new(),
            keys: HashMap::new(),
        };
        for spec in COMMANDS {
            let combos: Vec<KeyCombo> = spec
                .keys
                .iter()
                .filter_map(|k| KeyCombo::parse(k).ok())
                .collect();
            map.bind(spec.command, spec.scope, combos);
        }
        map
    }

    fn bind(&mut self, command: Command, scope: Scope, combos: Vec<KeyCombo>) {
        for old in self.keys.remove(&command).unwrap_or_default() {
            self.bindings.remove(&(scope, old));
        }
        for c in &combos {
            if let Some(prev) = self.bindings.insert((scope, *c), command) {
                if prev != command {
                    if let Some(list) = self.keys.get_mut(&prev) {
                        list.retain(|k| k != c);
                    }
                }
            }
        }
        self.keys.insert(command, combos);
    }

    /// The defaults with the bindings of a `keys.toml` applied. Errors name the command or key at fault.
    pub fn from_toml(src: &str) -> Result<Self, String> {
        let value: toml::Table =
            toml::from_str(src).map_err(|e| e.to_string().trim().to_string())?;
        let mut map = Self::defaults();
        for (k, v) in &value {
            if k != "keys" {
                return Err(format!("unknown section {k:?} (only [keys] is read)"));
            }
            let toml::Value::Table(table) = v else {
                return Err("[keys] must be a table of command = key(s)".into());
            };
            for (name, keys) in table {
                let spec = by_name(name).ok_or_else(|| {
                    format!("unknown command {name:?} (the help overlay lists command names)")
                })?;
                let list: Vec<&str> = match keys {
                    toml::Value::String(s) => vec![s.as_str()],
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .ok_or_else(|| format!("{name}: keys must be strings"))
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(format!("{name}: give a key or a list of keys")),
                };
                let combos = list
                    .into_iter()
                    .map(|s| KeyCombo::parse(s).map_err(|e| format!("{name}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                map.bind(spec.command, spec.scope, combos);
            }
        }
        Ok(map)
    }

    /// The keymap from `<config>/keys.toml` if there is one. Never fails: a file that cannot be used
    /// gives the defaults and a message saying why.
    pub fn load(config_dir: &Path) -> (Self, Option<String>) {
        let path = config_dir.join(KEYMAP_FILE);
        match std::fs::read_to_string(&path) {
            Ok(src) => match Self::from_toml(&src) {
                Ok(map) => (map, None),
                Err(e) => (
                    Self::defaults(),
                    Some(format!("using default keys: {}: {e}", path.display())),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Self::defaults(), None),
            Err(e) => (
                Self::defaults(),
                Some(format!("using default keys: {}: {e}", path.display())),
            ),
        }
    }

    /// The command bound to `key` in `scope` (not falling back to other scopes).
    pub fn lookup(&self, scope: Scope, key: KeyCombo) -> Option<Command> {
        self.bindings.get(&(scope, key)).copied()
    }

    /// The keys that run `command`.
    pub fn keys_for(&self, command: Command) -> &[KeyCombo] {
        self.keys.get(&command).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The keys of `command` as shown to a person: `j, down`.
    pub fn describe(&self, command: Command) -> String {
        self.keys_for(command)
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyCombo {
        KeyCombo::from_event(&KeyEvent::new(code, mods))
    }

    #[test]
    fn every_default_key_parses() {
        for spec in COMMANDS {
            for k in spec.keys {
                let combo = KeyCombo::parse(k).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
                assert_eq!(KeyCombo::parse(&combo.to_string()), Ok(combo), "{k}");
            }
        }
    }

    #[test]
    fn no_two_defaults_share_a_key_in_one_scope() {
        let map = Keymap::defaults();
        for spec in COMMANDS {
            assert_eq!(
                map.keys_for(spec.command).len(),
                spec.keys.len(),
                "{} lost a key to another command",
                spec.name
            );
        }
    }

    #[test]
    fn shifted_letters_match_their_uppercase() {
        assert_eq!(KeyCombo::parse("shift-h"), KeyCombo::parse("H"));
        let typed = key(KeyCode::Char('H'), KeyModifiers::SHIFT);
        assert_eq!(Ok(typed), KeyCombo::parse("H"));
        let map = Keymap::defaults();
        assert_eq!(
            map.lookup(Scope::Board, typed),
            Some(Command::BoardMoveLeft)
        );
    }

    #[test]
    fn user_file_rebinds_and_unbinds() {
        let map = Keymap::from_toml(
            "[keys]\n\"board.move-card-right\" = [\"ctrl-right\"]\n\"doc.copy\" = []\n\"app.quit\" = \"ctrl-x\"\n",
        )
        .expect("valid");
        let ctrl_right = key(KeyCode::Right, KeyModifiers::CONTROL);
        assert_eq!(
            map.lookup(Scope::Board, ctrl_right),
            Some(Command::BoardMoveRight)
        );
        let big_l = key(KeyCode::Char('L'), KeyModifiers::SHIFT);
        assert_eq!(map.lookup(Scope::Board, big_l), None);
        assert!(map.keys_for(Command::DocCopy).is_empty());
        assert_eq!(map.describe(Command::Quit), "ctrl-x");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = Keymap::from_toml("[keys]\n\"board.fly\" = \"f\"\n").expect_err("unknown");
        assert!(e.contains("unknown command \"board.fly\""), "{e}");
        let e = Keymap::from_toml("[keys]\n\"app.quit\" = \"ctl-q\"\n").expect_err("bad key");
        assert!(e.contains("\"ctl-q\" is not a key"), "{e}");
        let e = Keymap::from_toml("[keys\n").expect_err("syntax");
        assert!(!e.is_empty());
    }

    #[test]
    fn text_keys_are_recognised() {
        assert!(KeyCombo::parse("q").map(|k| k.is_text()).unwrap_or(false));
        assert!(!KeyCombo::parse("ctrl-q")
            .map(|k| k.is_text())
            .unwrap_or(true));
        assert!(!KeyCombo::parse("f1").map(|k| k.is_text()).unwrap_or(true));
    }
}
