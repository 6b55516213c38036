//! Display names: one profile per wallet address, in the root `profiles` map.
//!
//! Each entry is keyed `<address>/<field>` with the address in lowercase hex (`0xab…/name`) and
//! holds a plain string. Only a device of that address may write its entries (the access-control
//! judge checks the key against the signer, see `acl::inspect`), so the key alone says whose
//! profile it is. Fields other than `name` are kept and ignored (a newer weft may add some).
//!
//! A name is checked when it is set (one line, no control or formatting characters, at most
//! [`MAX_NAME_CHARS`], not an address) and cleaned again when read, because a modified client may
//! write anything into its own profile: a bad stored name spoils only its owner's label.

use std::collections::BTreeMap;

use loro::{LoroMap, LoroValue};

use super::{values, ModelError, Result, Workspace};

pub(crate) const PROFILES: &str = "profiles";
/// Name of the root map of profiles (for code that reads change paths).
pub const PROFILES_ROOT: &str = PROFILES;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 40;
/// The field of a profile that holds the display name.
pub const NAME_FIELD: &str = "name";

/// The canonical form of an address as a profile key prefix: trimmed, lowercase.
pub fn profile_owner_key(actor: &str) -> String {
    actor.trim().to_ascii_lowercase()
}

/// Whether `c` may appear in a display name: no control characters (newlines included), no
/// invisible formatting characters (bidi overrides, zero-width joiners) that could disguise one
/// name as another, and no `…`, which weft uses to show an address suffix (`Ada (…2cB0)`), so a
/// name cannot pose as another member's disambiguated label.
fn allowed_char(c: char) -> bool {
    !c.is_control()
        && !matches!(c,
            '…'
            | '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether `s` looks like a wallet address, whole (`0x` + 40 hex) or shortened (`0x1234…abcd`):
/// a name must never pass for someone else's address.
fn looks_like_address(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else {
        return false;
    };
    let hexish = rest
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == '…' || c == '.');
    // (`…` is refused anyway; `0x1234...abcd` is caught here.)
    hexish && rest.chars().filter(|c| c.is_ascii_hexdigit()).count() >= 4
}

/// Checks a name a user typed: trimmed, one line, at most [`MAX_NAME_CHARS`] characters, no
/// control or formatting characters, not an address. Inner runs of spaces become one.
pub fn check_display_name(raw: &str) -> Result<String> {
    let invalid = |why: String| ModelError::Invalid {
        what: "display name",
        why,
    };
    if raw.contains(['\n', '\r']) {
        return Err(invalid(
            "a name is one line (it contains a line break)".into(),
        ));
    }
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if looks_like_address(&name) {
        return Err(invalid(
            "it looks like a wallet address; choose a name people know you by".into(),
        ));
    }
    if raw.contains('…') {
        return Err(invalid(
            "“…” is kept for shortened addresses (Ada (…2cB0)); use other characters".into(),
        ));
    }
    if let Some(c) = raw.chars().find(|c| !allowed_char(*c)) {
        return Err(invalid(format!(
            "it contains the control or invisible character U+{:04X}",
            c as u32
        )));
    }
    if name.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    let count = name.chars().count();
    if count > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "at most {MAX_NAME_CHARS} characters (this has {count})"
        )));
    }
    Ok(name)
}

/// A stored name made safe to show: what [`check_display_name`] would accept, or `None`.
/// Characters that are not allowed are dropped and the result is cut to [`MAX_NAME_CHARS`].
fn clean_stored_name(stored: &str) -> Option<String> {
    let kept: String = stored
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| allowed_char(*c))
        .collect();
    let name: String = kept
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string();
    (!name.is_empty() && !looks_like_address(&name)).then_some(name)
}

impl Workspace {
    pub(crate) fn profiles_map(&self) -> LoroMap {
        self.doc.get_map(PROFILES)
    }

    /// Sets the display name of this workspace's writer (its actor). `None` clears it.
    pub fn set_display_name(&self, name: Option<&str>) -> Result<Option<String>> {
        self.writable()?;
        let key = format!("{}/{NAME_FIELD}", profile_owner_key(self.actor()));
        let map = self.profiles_map();
        let name = match name {
            Some(raw) => {
                let name = check_display_name(raw)?;
                map.insert(&key, LoroValue::String(name.as_str().into()))?;
                Some(name)
            }
            None => {
                if map.get(&key).is_some() {
                    map.delete(&key)?;
                }
                None
            }
        };
        self.commit();
        Ok(name)
    }

    /// Every display name set, by lowercase address (cleaned for display; unusable ones left out).
    pub fn display_names(&self) -> BTreeMap<String, String> {
        let map = self.profiles_map();
        let mut out = BTreeMap::new();
        for key in map.keys() {
            let Some((owner, field)) = key.split_once('/') else {
                continue;
            };
            if field != NAME_FIELD {
                continue;
            }
            if let Some(name) = values::get_str(&map, &key).and_then(|s| clean_stored_name(&s)) {
                out.insert(owner.to_string(), name);
            }
        }
        out
    }

    /// The display name of `actor`, if they set one.
    pub fn display_name(&self, actor: &str) -> Option<String> {
        let key = format!("{}/{NAME_FIELD}", profile_owner_key(actor));
        values::get_str(&self.profiles_map(), &key).and_then(|s| clean_stored_name(&s))
    }

    /// Everyone's labels, read once (for a screen that shows many).
    pub fn people(&self) -> People {
        People::new(self.display_names())
    }
}

/// How people are shown: their display name, with a short address suffix when two addresses
/// share a name, or the short address when they set none.
#[derive(Clone, Debug, Default)]
pub struct People {
    names: BTreeMap<String, String>,
    /// Names (folded to lowercase) held by more than one address.
    clashes: std::collections::BTreeSet<String>,
}

impl People {
    /// From names by lowercase address.
    pub fn new(names: BTreeMap<String, String>) -> Self {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for name in names.values() {
            *seen.entry(name.to_lowercase()).or_default() += 1;
        }
        let clashes = seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k)
            .collect();
        Self { names, clashes }
    }

    /// The display name `actor` set, as stored (cleaned), if any.
    pub fn name(&self, actor: &str) -> Option<&str> {
        self.names
            .get(&profile_owner_key(actor))
            .map(String::as_str)
    }

    /// Every name, by lowercase address.
    pub fn names(&self) -> &BTreeMap<String, String> {
        &self.names
    }

    /// How `actor` is shown: `Ada`, `Ada (…2cB0)` when another address is also called Ada, or
    /// the short address (`0x906f…2cB0`) when they set no name.
    pub fn label(&self, actor: &str) -> String {
        match self.name(actor) {
            Some(name) if self.clashes.contains(&name.to_lowercase()) => {
                format!("{name} (…{})", short_suffix(actor))
            }
            Some(name) => name.to_string(),
            None => short_address(actor),
        }
    }
}

/// The last four characters of an address (`2cB0`), or the whole text when it is short.
fn short_suffix(actor: &str) -> String {
    let chars: Vec<char> = actor.trim().chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// A wallet address shortened to `0x1234…abcd`; anything else (`local`) cleaned to one line.
pub fn short_address(actor: &str) -> String {
    let is_address = actor.len() == 42
        && actor.starts_with("0x")
        && actor[2..].chars().all(|c| c.is_ascii_hexdigit());
    if is_address {
        format!("{}…{}", &actor[..6], &actor[38..])
    } else {
        actor
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Clock;

    #[test]
    fn names_are_checked_when_set() {
        assert_eq!(
            check_display_name("  Ada   Lovelace ").unwrap(),
            "Ada Lovelace"
        );
        assert!(check_display_name("Ada\nLovelace").is_err());
        assert!(check_display_name("Ada\u{202E}").is_err());
        assert!(check_display_name("   ").is_err());
        assert!(check_display_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_display_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(check_display_name("0x906f…2cB0").is_err());
        assert!(check_display_name("0xAda").is_ok());
        // Not a disambiguated label of someone else.
        assert!(check_display_name("Olga (…14F1)").is_err());
    }

    #[test]
    fn stored_names_are_cleaned_and_clashes_get_a_suffix() {
        let a = "0x906f00000000000000000000000000000000AbC0";
        let b = "0x1111000000000000000000000000000000002cB0";
        let ws = Workspace::create("w", a, Clock::Fixed(1)).unwrap();
        ws.set_display_name(Some("Ada")).unwrap();
        assert_eq!(ws.people().label(a), "Ada");
        assert_eq!(ws.people().label(b), "0x1111…2cB0");
        // Someone else's entry written raw (as a modified client would), with a bad name.
        let raw = format!("{}/name", profile_owner_key(b));
        ws.profiles_map()
            .insert(&raw, "ada\u{202E}\n".to_string())
            .unwrap();
        let people = ws.people();
        assert_eq!(people.label(a), "Ada (…AbC0)");
        assert_eq!(people.label(b), "ada (…2cB0)");
        ws.set_display_name(None).unwrap();
        assert_eq!(ws.display_name(a), None);
        assert_eq!(ws.people().label(b), "ada");
    }
}
