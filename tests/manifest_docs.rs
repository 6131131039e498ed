//! docs/manifest.md documents every step kind the manifest accepts: each
//! kind of the JSON Schema (`schemas/manifest.schema.json`, kept equal to
//! the manifest types by tests/cli.rs) has a `###` section naming it, and
//! each of its keys appears there (or in the introduction of the `##`
//! part that holds the section, for keys shared by its steps).

use serde_json::Value;

/// A `###` section: its heading, its text, and the introduction of the `##`
/// part it is in (the text between that heading and its first `###`).
struct Section {
    heading: String,
    body: String,
    intro: String,
}

fn sections(doc: &str) -> Vec<Section> {
    let (mut out, mut intro, mut in_intro) = (Vec::<Section>::new(), String::new(), false);
    let mut in_code = false;
    for line in doc.lines() {
        in_code ^= line.starts_with("```");
        if !in_code && line.starts_with("## ") {
            (intro, in_intro) = (String::new(), true);
        } else if !in_code && line.starts_with("### ") {
            in_intro = false;
            out.push(Section {
                heading: line.to_string(),
                body: String::new(),
                intro: intro.clone(),
            });
        } else if in_intro {
            intro.push_str(line);
            intro.push('\n');
        } else if let Some(s) = out.last_mut() {
            s.body.push_str(line);
            s.body.push('\n');
        }
    }
    out
}

/// `(kind, keys)` of every step kind in the schema.
fn step_kinds(schema: &Value) -> Vec<(String, Vec<String>)> {
    schema["definitions"]["RawStep"]["oneOf"]
        .as_array()
        .expect("RawStep is a oneOf in the schema")
        .iter()
        .map(|v| {
            let props = v["properties"].as_object().unwrap();
            let kind = props["kind"]["const"].as_str().unwrap().to_string();
            let keys = props
                .keys()
                .filter(|k| !matches!(k.as_str(), "kind" | "description" | "needs"))
                .cloned()
                .collect();
            (kind, keys)
        })
        .collect()
}

/// Whether `text` names `key`: `` `key` `` in prose, or `key:` in an example.
fn mentions(text: &str, key: &str) -> bool {
    let yaml = format!("{key}:");
    text.contains(&format!("`{key}`"))
        || text.match_indices(&yaml).any(|(i, _)| {
            text[..i]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || "{,`".contains(c))
        })
}

/// What the doc fails to cover, one line per gap.
fn gaps(doc: &str, schema: &Value) -> Vec<String> {
    let secs = sections(doc);
    let mut out = Vec::new();
    for (kind, keys) in step_kinds(schema) {
        let mine: Vec<&Section> = secs
            .iter()
            .filter(|s| s.heading.contains(&format!("`{kind}`")))
            .collect();
        if mine.is_empty() {
            out.push(format!("step kind `{kind}` has no `###` section"));
            continue;
        }
        for key in keys {
            if !mine
                .iter()
                .any(|s| mentions(&s.body, &key) || mentions(&s.intro, &key))
            {
                out.push(format!("key `{key}` of `{kind}` is not in its section"));
            }
        }
    }
    out
}

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn every_step_kind_and_key_is_documented() {
    let schema: Value = serde_json::from_str(&read("schemas/manifest.schema.json")).unwrap();
    assert!(
        step_kinds(&schema).len() >= 25,
        "the schema lists the step kinds"
    );
    let gaps = gaps(&read("docs/manifest.md"), &schema);
    assert!(
        gaps.is_empty(),
        "docs/manifest.md is missing:\n  {}",
        gaps.join("\n  ")
    );
}

#[test]
fn a_missing_section_or_key_is_found() {
    let schema: Value = serde_json::from_str(&read("schemas/manifest.schema.json")).unwrap();
    let doc = read("docs/manifest.md");
    let without = doc.replace("### `missions`", "### `not-a-kind`");
    assert!(gaps(&without, &schema).contains(&"step kind `missions` has no `###` section".into()));
    let without = doc
        .replace("page_size: 1000", "")
        .replace("`page_size`", "");
    let g = gaps(&without, &schema);
    assert!(
        g.contains(&"key `page_size` of `missions` is not in its section".into()),
        "{g:?}"
    );
}
