//! Text from the workspace may come from any peer, so nothing it holds reaches the terminal unfiltered:
//! control characters (an escape sequence could move the cursor, retitle the window or write to the
//! clipboard) and bidirectional overrides (which make text read differently from what it is) are
//! removed or shown as visible symbols before drawing.

use std::borrow::Cow;

/// Bidirectional formatting characters that reorder how text is displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `c` must not be written to the terminal as it is. Newline and tab are layout, not
/// control, and are judged by each caller.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// A single line for labels and lists: unsafe characters dropped, newlines and tabs made spaces.
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || c == '\n' || c == '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter(|c| !is_unsafe(*c))
            .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
            .collect(),
    )
}

/// Multi-line text: unsafe characters dropped, newlines kept, tabs made spaces.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || c == '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter(|c| !is_unsafe(*c))
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect(),
    )
}

/// The visible stand-in for one character, so the editor can show a document character for character
/// (positions must line up with the CRDT text): C0 controls become their Unicode control pictures
/// (ESC → ␛), DEL becomes ␡, and other controls and bidi overrides become �.
pub fn visible_char(c: char) -> char {
    if !is_unsafe(c) {
        return c;
    }
    match c as u32 {
        n @ 0..=0x1f => char::from_u32(0x2400 + n).unwrap_or('\u{fffd}'),
        0x7f => '\u{2421}',
        _ => '\u{fffd}',
    }
}

/// [`visible_char`] over a string: same number of characters out as in.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(visible_char).collect())
}

/// What a person pasted or typed, made fit for a document: CRLF and lone CR become LF, other control
/// characters and bidi overrides are dropped; tabs are kept.
pub fn input(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\r' || is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let normalised = s.replace("\r\n", "\n").replace('\r', "\n");
    Cow::Owned(normalised.chars().filter(|c| !is_unsafe(*c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_never_survive() {
        let hostile = "ok\u{1b}]52;c;aGk=\u{7}\u{1b}[2Jdone\u{0}\u{9b}";
        for out in [line(hostile), text(hostile), input(hostile)] {
            assert!(!out
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'));
            assert!(out.starts_with("ok") && out.contains("done"));
        }
        assert!(!visible(hostile).chars().any(|c| c.is_control()));
    }

    #[test]
    fn bidi_overrides_are_removed() {
        assert_eq!(line("abc\u{202e}def\u{2066}"), "abcdef");
        assert_eq!(visible("a\u{202e}b"), "a\u{fffd}b");
    }

    #[test]
    fn visible_keeps_one_char_per_char() {
        let s = "a\u{1b}b\u{7f}c😀é";
        assert_eq!(visible(s).chars().count(), s.chars().count());
        assert_eq!(visible(s), "a\u{241b}b\u{2421}c😀é");
    }

    #[test]
    fn input_normalises_line_endings() {
        assert_eq!(input("a\r\nb\rc\td"), "a\nb\nc\td");
    }

    #[test]
    fn line_flattens_newlines() {
        assert_eq!(line("a\nb\tc"), "a b c");
        assert!(matches!(line("plain"), Cow::Borrowed(_)));
    }
}
