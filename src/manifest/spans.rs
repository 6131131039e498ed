//! Source positions of every key and value in a YAML document.
//!
//! serde_yaml gives values without positions, so a second, event-level pass
//! (yaml-rust2) records where each path starts. Diagnostics look paths up here
//! to point at file:line:col. The same pass finds duplicate keys, which it
//! reports with both positions.

use crate::diag::Span;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Nesting deeper than this is not indexed (serde_yaml refuses it anyway).
const MAX_DEPTH: usize = 256;

/// One segment of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, e.g. `steps.obs.where.calib_level`.
pub type Path = Vec<Seg>;

/// Display a path the way users write it: `steps.obs.by[1]`.
pub fn path_str(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Positions of one path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entry {
    /// The key (for mapping entries), else the value.
    pub key: Span,
    /// The value.
    pub value: Span,
}

/// A duplicate mapping key.
#[derive(Debug, Clone)]
pub struct Duplicate {
    pub path: Path,
    pub first: Span,
    pub second: Span,
}

/// Positions of every path of a document.
#[derive(Debug, Default)]
pub struct SpanIndex {
    entries: HashMap<Path, Entry>,
    pub duplicates: Vec<Duplicate>,
}

impl SpanIndex {
    /// Index `src`. Syntax errors are left to serde_yaml, which reports them;
    /// whatever was indexed before the error is kept.
    pub fn build(src: &str) -> Self {
        let mut b = Builder {
            src,
            char_to_byte: CharToByte::new(src),
            stack: Vec::new(),
            index: SpanIndex::default(),
        };
        // Pull events in a loop (the parser's own `load` recurses once per
        // nesting level and overflows the stack on hostile input).
        let mut parser = Parser::new_from_str(src);
        while let Ok((ev, mark)) = parser.next_token() {
            let end = matches!(ev, Event::StreamEnd);
            b.on_event(ev, mark);
            if end || b.stack.len() > MAX_DEPTH {
                break;
            }
        }
        b.index
    }

    /// The entry for `path`, or for its nearest ancestor that has one.
    pub fn find(&self, path: &[Seg]) -> Entry {
        let mut p = path.to_vec();
        loop {
            if let Some(e) = self.entries.get(&p) {
                return *e;
            }
            if p.pop().is_none() {
                return Entry::default();
            }
        }
    }

    /// Whether `path` itself was indexed.
    pub fn has(&self, path: &[Seg]) -> bool {
        self.entries.contains_key(path)
    }

    /// Span of the key at `path` (falls back to the nearest ancestor).
    pub fn key(&self, path: &[Seg]) -> Span {
        self.find(path).key
    }

    /// Span of the value at `path` (falls back to the nearest ancestor).
    pub fn value(&self, path: &[Seg]) -> Span {
        self.find(path).value
    }
}

struct CharToByte {
    /// Byte offsets of every char, only built for non-ASCII sources.
    offsets: Option<Vec<usize>>,
    len: usize,
}

impl CharToByte {
    fn new(src: &str) -> Self {
        let offsets = (!src.is_ascii()).then(|| src.char_indices().map(|(i, _)| i).collect());
        Self {
            offsets,
            len: src.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.offsets {
            None => char_index.min(self.len),
            Some(o) => o.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

enum Frame {
    Map {
        path: Path,
        keys: HashMap<String, Span>,
        pending_key: Option<(String, Span)>,
    },
    Seq {
        path: Path,
        next: usize,
    },
}

struct Builder<'a> {
    src: &'a str,
    char_to_byte: CharToByte,
    stack: Vec<Frame>,
    index: SpanIndex,
}

impl Builder<'_> {
    /// Span of a scalar starting at `offset`: the rest of its line, without
    /// a trailing comment or whitespace (and at least one byte).
    fn scalar_span(&self, offset: usize, value: &str) -> Span {
        let rest = &self.src[offset.min(self.src.len())..];
        // Look no further than the value could reach (quotes and escapes
        // included), so a 2 MB line of 100k scalars stays linear.
        let reach = crate::diag::floor_char_boundary(
            rest,
            value.len().saturating_mul(4).saturating_add(256),
        );
        let line = rest[..reach].split('\n').next().unwrap_or("");
        let quoted = line.starts_with(['"', '\'']);
        let len = if quoted || value.is_empty() {
            line.trim_end().len()
        } else {
            line.find(value.split('\n').next().unwrap_or(value))
                .map(|i| i + value.split('\n').next().unwrap_or(value).len())
                .unwrap_or_else(|| line.trim_end().len())
        };
        Span {
            offset,
            len: len.max(1),
        }
    }

    /// Record a value (scalar or collection start) at the current position.
    fn on_value(&mut self, span: Span) -> Option<Path> {
        match self.stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*next));
                *next += 1;
                self.index.entries.insert(
                    p.clone(),
                    Entry {
                        key: span,
                        value: span,
                    },
                );
                Some(p)
            }
            Some(Frame::Map {
                path, pending_key, ..
            }) => {
                let (k, kspan) = pending_key.take()?;
                let mut p = path.clone();
                p.push(Seg::Key(k));
                self.index.entries.insert(
                    p.clone(),
                    Entry {
                        key: kspan,
                        value: span,
                    },
                );
                Some(p)
            }
        }
    }

    /// A scalar in key position of the innermost map, if that is where it is.
    fn try_key(&mut self, value: &str, span: Span) -> bool {
        if let Some(Frame::Map {
            path,
            keys,
            pending_key,
        }) = self.stack.last_mut()
        {
            if pending_key.is_none() {
                if let Some(first) = keys.get(value) {
                    let mut p = path.clone();
                    p.push(Seg::Key(value.to_string()));
                    self.index.duplicates.push(Duplicate {
                        path: p,
                        first: *first,
                        second: span,
                    });
                } else {
                    keys.insert(value.to_string(), span);
                }
                *pending_key = Some((value.to_string(), span));
                return true;
            }
        }
        false
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let offset = self.char_to_byte.byte(mark.index());
        match ev {
            Event::Scalar(value, ..) => {
                let span = self.scalar_span(offset, &value);
                if !self.try_key(&value, span) {
                    self.on_value(span);
                }
            }
            Event::MappingStart(..) => {
                let span = Span { offset, len: 1 };
                // A mapping used as a key is unusual; index it as a value.
                let path = self.on_value(span).unwrap_or_default();
                if path.is_empty() {
                    self.index.entries.insert(
                        Vec::new(),
                        Entry {
                            key: span,
                            value: span,
                        },
                    );
                }
                self.stack.push(Frame::Map {
                    path,
                    keys: HashMap::new(),
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let span = Span { offset, len: 1 };
                let path = self.on_value(span).unwrap_or_default();
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                let span = Span { offset, len: 1 };
                self.on_value(span);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn indexes_nested_keys_and_items() {
        let src = "name: x\nsteps:\n  a:\n    kind: table\n    rows:\n      - {ra: 1.5}\n";
        let idx = SpanIndex::build(src);
        let e = idx.find(&[k("steps"), k("a"), k("kind")]);
        assert_eq!(&src[e.key.offset..e.key.offset + e.key.len], "kind");
        assert_eq!(&src[e.value.offset..e.value.offset + e.value.len], "table");
        let e = idx.find(&[k("steps"), k("a"), k("rows"), Seg::Index(0), k("ra")]);
        assert_eq!(&src[e.value.offset..e.value.offset + 3], "1.5");
        // unknown path falls back to the nearest ancestor
        let e = idx.find(&[k("steps"), k("a"), k("nope")]);
        assert_eq!(&src[e.key.offset..e.key.offset + 1], "a");
    }

    #[test]
    fn finds_duplicate_keys() {
        let src = "steps:\n  a: 1\n  b: 2\n  a: 3\n";
        let idx = SpanIndex::build(src);
        assert_eq!(idx.duplicates.len(), 1);
        assert_eq!(idx.duplicates[0].first.offset, 9);
        assert_eq!(idx.duplicates[0].second.offset, 23);
    }

    #[test]
    fn non_ascii_offsets_are_bytes() {
        let src = "name: \"Ío\"\nx: 1\n";
        let idx = SpanIndex::build(src);
        let e = idx.find(&[k("x")]);
        assert_eq!(&src[e.key.offset..e.key.offset + 1], "x");
    }
}
