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

use crate::diag::{Problem, Problems, Source};
use spans::{Seg, Span, SpanIndex};
use std::sync::LazyLock;

/// A parsed manifest with its source and the position of every path.
#[derive(Debug)]
pub struct Loaded {
    pub source: Source,
    pub spans: SpanIndex,
    pub raw: RawManifest,
}

/// The manifest's JSON Schema (draft-07, which editors' YAML plugins read).
pub fn json_schema() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings.into_generator().into_root_schema_for::<RawManifest>();
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
        problems.push(Problem::new("yaml_syntax", format!("YAML merge key: {e}"), Span::default()));
        return Err(problems);
    }
    if value.is_null() {
        problems.push(
            Problem::new("empty_manifest", "the manifest is empty", Span::default())
                .help("start from `mastflow init`, which writes a commented example"),
        );
        return Err(problems);
    }
    let mut checker = check::Checker::new(&SCHEMA, &spans);
    checker.check(&value);
    problems.items.extend(checker.problems);
    if problems.has_errors() {
        problems.sort();
        return Err(problems);
    }
    match serde_yaml::from_value::<RawManifest>(value) {
        Ok(raw) => Ok(Loaded { source, spans, raw }),
        Err(e) => {
            // The schema check should have caught this; report it anyway.
            problems.push(Problem::new("invalid_manifest", e.to_string(), Span::default()));
            Err(problems)
        }
    }
}

/// Read and parse a manifest file.
pub fn load(path: &std::path::Path) -> Result<Loaded, Problems> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&name, &text),
        Err(e) => {
            let mut p = Problems::new(Source::new(name.clone(), ""));
            p.push(Problem::new("unreadable", format!("cannot read {name}: {e}"), Span::default()).help("check the path"));
            Err(p)
        }
    }
}

fn yaml_error(e: &serde_yaml::Error, text: &str) -> Problem {
    let span = e
        .location()
        .map(|l| Span { offset: l.index().min(text.len()), len: 1 })
        .unwrap_or_default();
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let hint = if msg.contains("tab") {
        "YAML indents with spaces, not tabs"
    } else if msg.contains("mapping values are not allowed") {
        "a value containing `: ` must be quoted"
    } else {
        "check indentation, quotes and brackets around here"
    };
    Problem::new("yaml_syntax", format!("invalid YAML: {msg}"), span)
        .label("syntax error")
        .help(hint)
}

const DUP: &str = "__mastflow_duplicate_";

/// The text with every second occurrence of a duplicate key renamed, so the
/// rest of the document can still be checked.
fn rename_duplicates(text: &str, spans: &SpanIndex) -> String {
    let mut dups: Vec<Span> = spans.duplicates.iter().map(|d| d.second).collect();
    dups.sort_by_key(|s| std::cmp::Reverse(s.offset));
    let mut out = text.to_string();
    for (i, s) in dups.iter().enumerate() {
        let end = out[s.offset..].find(':').map_or(s.offset + s.len, |e| s.offset + e);
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
