//! Server text made safe to show: the one sanitiser for text a server (or a
//! table's data) wrote that reaches a terminal, a log or `run.json`.
//!
//! [`sanitise`] replaces every character that could move the cursor, retitle
//! the terminal, clear the screen or start a new line by a visible escape,
//! and caps the result at [`CAP`] characters:
//!
//! | input | shown as |
//! |---|---|
//! | `\n` `\r` `\t` | `\n` `\r` `\t` (two characters) |
//! | ESC (U+001B) | `\e` |
//! | other C0 controls and DEL (U+0000–U+001F, U+007F) | `\x07` (two hex digits) |
//! | C1 controls (U+0080–U+009F) | `\u{9b}` |
//! | bidi controls (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069) and line/paragraph separators (U+2028–U+2029) | `\u{202e}` |
//!
//! So a server message is always one line and can never begin a line of
//! mastflow's own (`[ok] ...`). Text longer than the cap ends with
//! `… (N more bytes)`, N counting the input's bytes left out. Backslashes
//! are kept as they are: the result is for reading, not for decoding.

use std::fmt::Write;

/// The most characters [`sanitise`] keeps (before the `… (N more bytes)`
/// marker): a step error or note in the terminal and in `run.json`.
pub const CAP: usize = 2000;

/// The visible escape of `c`, or `None` if `c` is shown as it is.
fn escape(c: char) -> Option<String> {
    let s = match c {
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        '\t' => "\\t".to_string(),
        '\u{1b}' => "\\e".to_string(),
        '\0'..='\u{1f}' | '\u{7f}' => format!("\\x{:02x}", c as u32),
        '\u{80}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => format!("\\u{{{:x}}}", c as u32),
        _ => return None,
    };
    Some(s)
}

/// `text` with control characters escaped and at most [`CAP`] characters
/// kept.
pub fn sanitise(text: &str) -> String {
    sanitise_to(text, CAP)
}

/// [`sanitise`] with a cap of `cap` characters.
pub fn sanitise_to(text: &str, cap: usize) -> String {
    let mut out = String::with_capacity(text.len().min(cap + 32));
    let mut kept = 0usize;
    for (i, c) in text.char_indices() {
        let esc = escape(c);
        let width = esc.as_ref().map_or(1, |e| e.chars().count());
        if kept + width > cap {
            let _ = write!(out, "… ({} more bytes)", text.len() - i);
            return out;
        }
        kept += width;
        match esc {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out
}

/// Whether `text` holds nothing [`sanitise`] would escape.
pub fn is_clean(text: &str) -> bool {
    text.chars().all(|c| escape(c).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_control_visibly() {
        assert_eq!(
            sanitise("a\x1b]0;pwned\x07b\x1b[2J\r[ok] forged\nx\ty"),
            "a\\e]0;pwned\\x07b\\e[2J\\r[ok] forged\\nx\\ty"
        );
        assert_eq!(sanitise("\0\x7f\u{9b}"), "\\x00\\x7f\\u{9b}");
        assert_eq!(
            sanitise("\u{202e}evil\u{2066}\u{2028}\u{200f}\u{61c}"),
            "\\u{202e}evil\\u{2066}\\u{2028}\\u{200f}\\u{61c}"
        );
        let s = sanitise(&(0u8..=0x7f).map(char::from).collect::<String>());
        assert!(is_clean(&s), "{s}");
    }

    #[test]
    fn keeps_ordinary_text() {
        let t = "Login failed for user 'webaccess'. Café ±3″ λ=2.0µm C:\\x";
        assert_eq!(sanitise(t), t);
        assert!(is_clean(t));
        assert!(!is_clean("a\rb"));
    }

    #[test]
    fn caps_with_a_marker() {
        assert_eq!(sanitise_to("abcdef", 6), "abcdef");
        assert_eq!(sanitise_to("abcdefgh", 6), "abcdef… (2 more bytes)");
        // An escape is never cut in half, and N counts input bytes.
        assert_eq!(sanitise_to("abcde\x1bz", 6), "abcde… (2 more bytes)");
        assert_eq!(sanitise_to("ééé", 2), "éé… (2 more bytes)");
        let big = "x".repeat(10_000_000);
        let s = sanitise(&big);
        assert_eq!(s.chars().filter(|&c| c == 'x').count(), CAP);
        assert!(s.ends_with(&format!("… ({} more bytes)", 10_000_000 - CAP)));
    }
}
