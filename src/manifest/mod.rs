//! What the user wrote: reading a manifest file into raw types.
//!
//! Loading runs three passes and reports every problem found, not just the
//! first: YAML syntax (serde_yaml), duplicate keys and positions
//! ([`spans`]), and the structural check against the JSON Schema generated
//! from [`types`] ([`check`]). Only a document that passes all three is
//! deserialised into a [`RawManifest`]; semantic checks are `validate`'s job.

pub mod check;
pub mod spans;
pub mod types;

pub use types::*;

use crate::diag::Span;
use crate::diag::{Problem, Problems, Source};
use spans::{Seg, SpanIndex};
use std::sync::LazyLock;

/// A parsed manifest with its source and the position of every path.
#[derive(Debug)]
pub struct Loaded {
    pub source: Source,
    pub spans: SpanIndex,
    pub raw: RawManifest,
    /// Problems already found (structural errors that could be repaired
    /// around, warnings); validation adds its own and fails if any is an error.
    pub problems: Problems,
}

/// The manifest's JSON Schema (draft-07, which editors' YAML plugins read).
pub fn json_schema() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings
        .into_generator()
        .into_root_schema_for::<RawManifest>();
    serde_json::to_value(schema).expect("schema serialises")
}

/// The schema as `mastflow schema` prints it and `schemas/manifest.schema.json` stores it.
pub fn json_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&json_schema()).expect("schema serialises");
    s.push('\n');
    s
}

static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(json_schema);

/// Parse manifest text. `name` is the file name shown in diagnostics.
pub fn parse(name: &str, text: &str) -> Result<Loaded, Problems> {
    let source = Source::new(name, text);
    let mut problems = Problems::new(source.clone());
    let spans = SpanIndex::build(text);
    for d in &spans.duplicates {
        let what = match d.path.as_slice() {
            [Seg::Key(s), Seg::Key(n)] if s == "steps" => format!("two steps are named `{n}`"),
            [Seg::Key(s), Seg::Key(n)] if s == "params" => format!("two params are named `{n}`"),
            _ => format!("duplicate key `{}`", spans::path_str(&d.path)),
        };
        problems.push(
            Problem::new("duplicate_name", what, d.second)
                .label("defined again here")
                .also(d.first, "first defined here")
                .help("names must be unique; rename or remove one"),
        );
    }
    let value: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        // serde_yaml refuses duplicate keys; they are reported above, so load
        // the document another way to find the remaining problems too.
        Err(e) if !problems.items.is_empty() && e.to_string().contains("duplicate") => {
            match serde_yaml::from_str::<serde_yaml::Value>(&rename_duplicates(text, &spans)) {
                Ok(mut v) => {
                    drop_renamed(&mut v);
                    v
                }
                Err(_) => return Err(problems),
            }
        }
        Err(e) => {
            problems.push(yaml_error(&e, text));
            return Err(problems);
        }
    };
    let mut value = value;
    if let Err(e) = value.apply_merge() {
        problems.push(Problem::new(
            "yaml_syntax",
            format!("YAML merge key: {e}"),
            Span::default(),
        ));
        return Err(problems);
    }
    if value.is_null() {
        problems.push(
            Problem::new("empty_manifest", "the manifest is empty", Span::default())
                .help("start from `mastflow init`, which writes a commented example"),
        );
        return Err(problems);
    }
    let mut checker = check::Checker::new(&SCHEMA, &spans, text);
    checker.check(&value);
    let bad: Vec<Vec<Seg>> = checker.problems.iter().map(|(_, p)| p.clone()).collect();
    problems
        .items
        .extend(checker.problems.into_iter().map(|(p, _)| p));
    // With structural errors, repair what can be repaired (drop unknown keys,
    // stand in for broken steps) so the semantic checks can still report
    // their problems in the same run.
    if problems.has_errors() {
        value = match repair(value, &bad) {
            Some(v) => v,
            None => {
                problems.sort();
                return Err(problems);
            }
        };
    }
    match serde_yaml::from_value::<RawManifest>(value) {
        Ok(raw) => Ok(Loaded {
            source,
            spans,
            raw,
            problems,
        }),
        Err(e) => {
            if !problems.has_errors() {
                // The schema check should have caught this; report it anyway.
                problems.push(Problem::new(
                    "invalid_manifest",
                    e.to_string(),
                    Span::default(),
                ));
            }
            problems.sort();
            Err(problems)
        }
    }
}

/// Marks a step that stands in for one with structural errors.
pub const BROKEN_STEP: &str = "\u{0}mastflow: invalid step";

/// Remove what the structural check rejected: unknown keys are dropped, a
/// step with any other problem is replaced by an empty stand-in (marked with
/// [`BROKEN_STEP`]) so references to it still resolve, a broken output is
/// dropped, a broken param becomes a string param. Problems at the top level
/// cannot be repaired.
fn repair(mut value: serde_yaml::Value, bad: &[Vec<Seg>]) -> Option<serde_yaml::Value> {
    use serde_yaml::Value as V;
    let mut broken_steps: Vec<String> = Vec::new();
    let mut broken_params: Vec<String> = Vec::new();
    let mut broken_outputs: Vec<usize> = Vec::new();
    let mut unknown_keys: Vec<&Vec<Seg>> = Vec::new();
    for p in bad {
        match p.as_slice() {
            [Seg::Key(root), Seg::Key(name), rest @ ..] if root == "steps" => {
                if !rest.is_empty() || !broken_steps.contains(name) {
                    broken_steps.push(name.clone());
                }
            }
            [Seg::Key(root), Seg::Key(name), ..] if root == "params" => {
                broken_params.push(name.clone())
            }
            [Seg::Key(root), Seg::Index(i), ..] if root == "outputs" => broken_outputs.push(*i),
            [Seg::Key(_)] => unknown_keys.push(p),
            _ => return None,
        }
    }
    let root = value.as_mapping_mut()?;
    for p in unknown_keys {
        if let [Seg::Key(k)] = p.as_slice() {
            if ["version", "name", "steps"].contains(&k.as_str()) {
                return None;
            }
            root.remove(k.as_str());
        }
    }
    if let Some(V::Mapping(steps)) = root.get_mut("steps") {
        for name in &broken_steps {
            if let Some(step) = steps.get_mut(name.as_str()) {
                let mut stand_in = serde_yaml::Mapping::new();
                stand_in.insert("kind".into(), "table".into());
                stand_in.insert("rows".into(), V::Sequence(Vec::new()));
                stand_in.insert("description".into(), BROKEN_STEP.into());
                *step = V::Mapping(stand_in);
            }
        }
    } else {
        return None;
    }
    if let Some(V::Mapping(params)) = root.get_mut("params") {
        for name in &broken_params {
            if let Some(p) = params.get_mut(name.as_str()) {
                *p = V::String(String::new());
            }
        }
    }
    if let Some(V::Sequence(outputs)) = root.get_mut("outputs") {
        let mut i = 0;
        outputs.retain(|_| {
            let keep = !broken_outputs.contains(&i);
            i += 1;
            keep
        });
    }
    Some(value)
}

/// Read and parse a manifest file.
pub fn load(path: &std::path::Path) -> Result<Loaded, Problems> {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => parse(&name, &text),
            Err(e) => Err(not_utf8(name, e)),
        },
        Err(e) => {
            let mut p = Problems::new(Source::new(name.clone(), ""));
            p.push(
                Problem::new(
                    "unreadable",
                    format!("cannot read {name}: {e}"),
                    Span::default(),
                )
                .help("check the path"),
            );
            Err(p)
        }
    }
}

/// A file that is not UTF-8, pointed at its first bad byte (the text is
/// shown with that byte replaced, so the line and column are right).
fn not_utf8(name: String, e: std::string::FromUtf8Error) -> Problems {
    let at = e.utf8_error().valid_up_to();
    let byte = e.as_bytes()[at];
    let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
    let mut p = Problems::new(Source::new(name, text.clone()));
    p.push(
        Problem::new(
            "not_utf8",
            format!("the file is not UTF-8: byte 0x{byte:02X} is not valid UTF-8 here"),
            char_span(&text, at),
        )
        .label("not UTF-8")
        .help("save the manifest as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE`)"),
    );
    p
}

fn yaml_error(e: &serde_yaml::Error, text: &str) -> Problem {
    let full = e.to_string();
    // "PROBLEM at line L column C, while CONTEXT at line L2 column C2"
    let (head, context) = match full.split_once(", while ") {
        Some((h, c)) => (h.to_string(), Some(c.to_string())),
        None => (full.clone(), None),
    };
    let problem = head.split(" at line ").next().unwrap_or(&head).to_string();
    // From line and column (characters), not the index: robust to non-ASCII.
    let offset = e
        .location()
        .and_then(|l| {
            line_col_offset(
                text,
                &format!(" at line {} column {}", l.line(), l.column()),
            )
        })
        .unwrap_or(0);
    let mut p = Problem::new(
        "yaml_syntax",
        format!("invalid YAML: {problem}"),
        char_span(text, offset),
    )
    .label("syntax error");
    if let Some(ctx) = &context {
        let what = ctx.split(" at line ").next().unwrap_or(ctx).to_string();
        p.message = format!("invalid YAML: {problem}, while {what}");
        if let Some(off) = line_col_offset(text, ctx) {
            p = p.also(
                char_span(text, off),
                format!(
                    "{} starts here",
                    what.trim_start_matches("scanning ")
                        .trim_start_matches("parsing ")
                ),
            );
        }
    }
    let hint = if full.contains("tab") {
        "YAML indents with spaces, not tabs"
    } else if full.contains("quoted scalar") {
        "close the quote that starts here"
    } else if full.contains("flow sequence") {
        "close the `[` list with `]`"
    } else if full.contains("flow mapping") {
        "close the `{` mapping with `}`"
    } else if full.contains("mapping values are not allowed") {
        "check that this line is indented like its siblings (the mistake is often on the line above); a value containing `: ` must be quoted"
    } else if full.contains(" as u128") || full.contains(" as i128") {
        "this number is too large for a manifest; quote it if it is a name or an identifier, or use a smaller value"
    } else if full.contains("recursion limit") {
        "the document nests too deeply"
    } else {
        "check indentation, quotes and brackets around here"
    };
    p.help(hint)
}

/// A one-character span at byte `offset`, moved back into the text and onto
/// a character boundary (a problem at the end of the file points at its last character).
fn char_span(text: &str, offset: usize) -> Span {
    if text.is_empty() {
        return Span::default();
    }
    let mut o = offset.min(text.len().saturating_sub(1));
    // Prefer a visible character: step back over trailing newlines.
    while o > 0 && text.as_bytes()[o] == b'\n' && offset >= text.len() {
        o -= 1;
    }
    while o > 0 && !text.is_char_boundary(o) {
        o -= 1;
    }
    let len = text[o..].chars().next().map_or(1, char::len_utf8);
    Span { offset: o, len }
}

/// Byte offset of "... at line L column C" (1-based line, 1-based column).
fn line_col_offset(text: &str, msg: &str) -> Option<usize> {
    let rest = msg.rsplit_once(" at line ")?.1;
    let (l, c) = rest.split_once(" column ")?;
    let (line, col): (usize, usize) = (l.trim().parse().ok()?, c.trim().parse().ok()?);
    let start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let line_text = text[start..].lines().next().unwrap_or("");
    let byte_col = line_text
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(line_text.len(), |(i, _)| i);
    Some(start + byte_col)
}

const DUP: &str = "__mastflow_duplicate_";

/// The text with every second occurrence of a duplicate key renamed, so the
/// rest of the document can still be checked.
fn rename_duplicates(text: &str, spans: &SpanIndex) -> String {
    let mut dups: Vec<Span> = spans.duplicates.iter().map(|d| d.second).collect();
    dups.sort_by_key(|s| std::cmp::Reverse(s.offset));
    let mut out = text.to_string();
    for (i, s) in dups.iter().enumerate() {
        let end = out[s.offset..]
            .find(':')
            .map_or(s.offset + s.len, |e| s.offset + e);
        out.replace_range(s.offset..end, &format!("{DUP}{i}"));
    }
    out
}

fn drop_renamed(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            m.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with(DUP)));
            m.values_mut().for_each(drop_renamed);
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(drop_renamed),
        _ => {}
    }
}
