//! Reading typed values out of Loro maps without trusting their shape: a peer may have written anything.

use loro::{LoroMap, LoroValue, ValueOrContainer};

use super::{ModelError, Result};

/// Longest title we accept, in characters. Titles are one line; bodies hold the rest.
pub const MAX_TITLE_CHARS: usize = 500;

pub fn get_value(map: &LoroMap, key: &str) -> Option<LoroValue> {
    match map.get(key)? {
        ValueOrContainer::Value(v) => Some(v),
        ValueOrContainer::Container(_) => None,
    }
}

pub fn get_str(map: &LoroMap, key: &str) -> Option<String> {
    match get_value(map, key)? {
        LoroValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

pub fn get_i64(map: &LoroMap, key: &str) -> Option<i64> {
    match get_value(map, key)? {
        LoroValue::I64(n) => Some(n),
        LoroValue::Double(f) if f.is_finite() => Some(f as i64),
        _ => None,
    }
}

pub fn get_bool(map: &LoroMap, key: &str) -> bool {
    matches!(get_value(map, key), Some(LoroValue::Bool(true)))
}

pub fn get_bytes(map: &LoroMap, key: &str) -> Option<Vec<u8>> {
    match get_value(map, key)? {
        LoroValue::Binary(b) => Some(b.to_vec()),
        _ => None,
    }
}

pub fn get_str_list(map: &LoroMap, key: &str) -> Vec<String> {
    match get_value(map, key) {
        Some(LoroValue::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                LoroValue::String(s) => Some(s.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn str_list(items: &[String]) -> LoroValue {
    LoroValue::List(
        items
            .iter()
            .map(|s| LoroValue::String(s.as_str().into()))
            .collect::<Vec<_>>()
            .into(),
    )
}

/// Field of a plain map value (not a container), e.g. a trash mark.
pub fn field<'a>(value: &'a LoroValue, key: &str) -> Option<&'a LoroValue> {
    match value {
        LoroValue::Map(m) => m.get(key),
        _ => None,
    }
}

pub fn field_str(value: &LoroValue, key: &str) -> Option<String> {
    match field(value, key)? {
        LoroValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

pub fn field_i64(value: &LoroValue, key: &str) -> Option<i64> {
    match field(value, key)? {
        LoroValue::I64(n) => Some(*n),
        _ => None,
    }
}

/// A title is one trimmed line, not empty, not absurdly long.
pub fn clean_title(title: &str) -> Result<String> {
    let t = title.trim();
    if t.is_empty() {
        return Err(ModelError::Invalid {
            what: "title",
            why: "it is empty".into(),
        });
    }
    if t.contains(['\n', '\r']) {
        return Err(ModelError::Invalid {
            what: "title",
            why: "it must be a single line".into(),
        });
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ModelError::Invalid {
            what: "title",
            why: format!("it is longer than {MAX_TITLE_CHARS} characters"),
        });
    }
    Ok(t.to_string())
}
