//! Structural check of a YAML document against the manifest's JSON Schema.
//!
//! serde stops at the first error; users need all of them. This walker follows
//! the schema that schemars generates from the raw types (so the two can never
//! disagree) and reports every unknown key (with a did-you-mean), missing key,
//! wrong type and invalid enum value, each at its source position.

use super::spans::{Seg, SpanIndex, path_str};
use crate::diag::Problem;
use serde_json::Value as J;
use serde_yaml::Value as Y;

/// A problem and the path it concerns.
pub type Located = (Problem, Vec<Seg>);

pub struct Checker<'a> {
    root: &'a J,
    text: &'a str,
    spans: &'a SpanIndex,
    /// Problems with the path they concern.
    pub problems: Vec<Located>,
}

impl<'a> Checker<'a> {
    pub fn new(root: &'a J, spans: &'a SpanIndex, text: &'a str) -> Self {
        Self {
            root,
            text,
            spans,
            problems: Vec::new(),
        }
    }

    pub fn check(&mut self, v: &Y) {
        let root = self.root;
        self.walk(v, root, &mut Vec::new());
    }

    fn resolve(&self, s: &'a J) -> &'a J {
        let mut s = s;
        for _ in 0..16 {
            match s.get("$ref").and_then(J::as_str) {
                Some(r) => {
                    let name = r.rsplit('/').next().unwrap_or("");
                    match self
                        .root
                        .get("definitions")
                        .or_else(|| self.root.get("$defs"))
                        .and_then(|d| d.get(name))
                    {
                        Some(t) => s = t,
                        None => return s,
                    }
                }
                None => return s,
            }
        }
        s
    }

    fn walk(&mut self, v: &Y, schema: &'a J, path: &mut Vec<Seg>) {
        let s = self.resolve(schema);
        if let Some(alts) = s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(J::as_array)
        {
            self.alternatives(v, s, alts, path);
            return;
        }
        if let Some(all) = s.get("allOf").and_then(J::as_array) {
            for a in all {
                self.walk(v, a, path);
            }
        }
        if !self.type_ok(v, s, path) {
            return;
        }
        if let Some(c) = s.get("const") {
            self.check_enum(v, std::slice::from_ref(c), path);
        }
        if let Some(e) = s.get("enum").and_then(J::as_array) {
            self.check_enum(v, e, path);
        }
        match v {
            Y::Mapping(m) => self.mapping(m, s, path),
            Y::Sequence(items) => self.sequence(items, s, path),
            Y::Number(n) => {
                if let Some(min) = s.get("minimum").and_then(J::as_f64) {
                    if n.as_f64().is_some_and(|x| x < min) {
                        self.problem_at(
                            path,
                            Problem::new(
                                "bad_value",
                                format!("`{}` must be at least {min}", path_str(path)),
                                self.spans.value(path),
                            )
                            .label(format!("{} is too small", n))
                            .help(format!("use {min} or more")),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn problem_at(&mut self, path: &[Seg], p: Problem) {
        self.problems.push((p, path.to_vec()));
    }

    fn mapping(&mut self, m: &serde_yaml::Mapping, s: &'a J, path: &mut Vec<Seg>) {
        let props = s.get("properties").and_then(J::as_object);
        let additional = s.get("additionalProperties");
        for (k, val) in m {
            let Some(key) = key_text(k) else {
                self.problem_at(
                    path,
                    Problem::new(
                        "bad_key",
                        format!("keys of `{}` must be strings", path_str(path)),
                        self.spans.value(path),
                    ),
                );
                continue;
            };
            path.push(Seg::Key(key.clone()));
            if let Some(ps) = props.and_then(|p| p.get(&key)) {
                self.walk(val, ps, path);
            } else {
                match additional {
                    Some(J::Bool(false)) => {
                        let known: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        self.unknown_key(&key, &known, path);
                    }
                    Some(extra @ J::Object(_)) => self.walk(val, extra, path),
                    _ => {}
                }
            }
            path.pop();
        }
        if let Some(req) = s.get("required").and_then(J::as_array) {
            let present: Vec<String> = m.keys().filter_map(key_text).collect();
            for r in req.iter().filter_map(J::as_str) {
                // `stepz:` is reported as unknown with "did you mean `steps`?";
                // saying `steps` is missing too would be noise.
                let misspelt = present.iter().any(|k| {
                    props.is_some_and(|p| !p.contains_key(k))
                        && crate::util::did_you_mean(k, [r]).is_some()
                });
                if !m.contains_key(r) && !misspelt {
                    let what =
                        describe_schema(props.and_then(|p| p.get(r)).map(|x| self.resolve(x)));
                    let within = if path.is_empty() {
                        "the manifest".to_string()
                    } else {
                        format!("`{}`", path_str(path))
                    };
                    let span = if path.is_empty() {
                        first_line(self.text)
                    } else {
                        self.spans.key(path)
                    };
                    self.problem_at(
                        path,
                        Problem::new(
                            "missing_key",
                            format!("{within} is missing the required key `{r}`"),
                            span,
                        )
                        .label(format!("needs `{r}`"))
                        .maybe_help(what.map(|w| format!("add `{r}:` ({w})"))),
                    );
                }
            }
        }
    }

    fn unknown_key(&mut self, key: &str, known: &[&str], path: &[Seg]) {
        let parent = &path[..path.len() - 1];
        let within = if parent.is_empty() {
            "the manifest".to_string()
        } else {
            format!("`{}`", path_str(parent))
        };
        let hint = crate::util::suggest(key, known.iter().copied(), "valid keys here");
        self.problem_at(
            path,
            Problem::new(
                "unknown_key",
                format!("unknown key `{key}` in {within}"),
                self.spans.key(path),
            )
            .label("not a valid key here")
            .help(hint),
        );
    }

    fn sequence(&mut self, items: &[Y], s: &'a J, path: &mut Vec<Seg>) {
        match s.get("items") {
            Some(J::Array(tuple)) => {
                if items.len() != tuple.len() {
                    self.problem_at(
                        path,
                        Problem::new(
                            "wrong_type",
                            format!(
                                "`{}` must have exactly {} items, found {}",
                                path_str(path),
                                tuple.len(),
                                items.len()
                            ),
                            self.spans.value(path),
                        ),
                    );
                }
                for (i, (it, ts)) in items.iter().zip(tuple).enumerate() {
                    path.push(Seg::Index(i));
                    self.walk(it, ts, path);
                    path.pop();
                }
            }
            Some(item_schema) => {
                for (i, it) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    self.walk(it, item_schema, path);
                    path.pop();
                }
            }
            None => {}
        }
        if let Some(min) = s.get("minItems").and_then(J::as_u64) {
            if (items.len() as u64) < min && s.get("items").is_some_and(|i| !i.is_array()) {
                self.problem_at(
                    path,
                    Problem::new(
                        "wrong_type",
                        format!("`{}` needs at least {min} item(s)", path_str(path)),
                        self.spans.value(path),
                    ),
                );
            }
        }
    }

    fn type_ok(&mut self, v: &Y, s: &J, path: &[Seg]) -> bool {
        let Some(t) = s.get("type") else { return true };
        let allowed: Vec<&str> = match t {
            J::String(x) => vec![x.as_str()],
            J::Array(xs) => xs.iter().filter_map(J::as_str).collect(),
            _ => return true,
        };
        if allowed.iter().any(|a| type_matches(v, a)) {
            return true;
        }
        let expected = allowed
            .iter()
            .filter(|a| **a != "null")
            .map(|a| article(a))
            .collect::<Vec<_>>()
            .join(" or ");
        let found = yaml_kind(v);
        let what = if path.is_empty() {
            "the manifest".to_string()
        } else {
            format!("`{}`", path_str(path))
        };
        let mut p = Problem::new(
            "wrong_type",
            format!("{what} must be {expected}, found {found}"),
            self.spans.value(path),
        )
        .label(format!("this is {found}"));
        if let (Some(unit), Y::Number(n)) = (s.get("x-unit").and_then(J::as_str), v) {
            let text = n.to_string();
            let refusal = match unit {
                "angle" => crate::table::units::radius_deg(&text, f64::INFINITY).err(),
                _ => crate::table::units::duration(&text).err(),
            };
            if let Some(r) = refusal {
                p = p.help(format!("{}: {}", r.message, r.help));
            }
        } else if allowed.contains(&"string") && matches!(v, Y::Number(_) | Y::Bool(_)) {
            p = p.help("quote the value to make it a string");
        } else if allowed.contains(&"array") && !matches!(v, Y::Sequence(_)) {
            p = p.help("write a list: `[a, b]` or one `- item` per line");
        } else if allowed.contains(&"object") && !matches!(v, Y::Mapping(_)) {
            p = p.help(if path.is_empty() {
                "a manifest is a mapping with `version`, `name` and `steps`"
            } else {
                "write a mapping: `{key: value}` or one `key: value` per line"
            });
        }
        self.problem_at(path, p);
        false
    }

    fn check_enum(&mut self, v: &Y, allowed: &[J], path: &[Seg]) {
        let jv = serde_json::to_value(v).unwrap_or(J::Null);
        if allowed.contains(&jv) {
            return;
        }
        let names: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        let text = jv.as_str().map_or_else(|| jv.to_string(), str::to_string);
        let hint = crate::util::suggest(&text, names.iter().map(String::as_str), "one of");
        self.problem_at(
            path,
            Problem::new(
                "bad_value",
                format!("`{text}` is not a valid value for `{}`", path_str(path)),
                self.spans.value(path),
            )
            .label("not allowed here")
            .help(hint),
        );
    }

    /// `oneOf`/`anyOf`: a tagged union (by `kind`) is dispatched on its tag;
    /// otherwise the value must fit one alternative, and when none fits, the
    /// problems of the closest alternative are reported.
    fn alternatives(&mut self, v: &Y, s: &'a J, alts: &'a [J], path: &mut Vec<Seg>) {
        let tags: Vec<(&str, &J)> = alts
            .iter()
            .filter_map(|a| {
                let a = self.resolve(a);
                a.pointer("/properties/kind/const")
                    .and_then(J::as_str)
                    .map(|t| (t, a))
            })
            .collect();
        if !tags.is_empty() && tags.len() == alts.len() {
            return self.tagged(v, &tags, path);
        }
        // Alternatives that are all fixed values: one list of allowed values.
        let fixed: Option<Vec<J>> = alts.iter().try_fold(Vec::new(), |mut acc, a| {
            let a = self.resolve(a);
            if let Some(c) = a.get("const") {
                acc.push(c.clone());
            } else {
                acc.extend(a.get("enum")?.as_array()?.iter().cloned());
            }
            Some(acc)
        });
        if let Some(values) = fixed {
            self.check_enum(v, &values, path);
            return;
        }
        let mut best: Option<(usize, Vec<Located>)> = None;
        for a in alts {
            let mut sub = Checker {
                root: self.root,
                text: self.text,
                spans: self.spans,
                problems: Vec::new(),
            };
            sub.walk(v, a, path);
            if sub.problems.is_empty() {
                return;
            }
            let a = self.resolve(a);
            // Prefer an alternative whose type matches, then the fewest problems.
            let type_match = a.get("type").is_none_or(|t| match t {
                J::String(x) => type_matches(v, x),
                J::Array(xs) => xs.iter().filter_map(J::as_str).any(|x| type_matches(v, x)),
                _ => true,
            }) && !sub
                .problems
                .iter()
                .any(|(p, _)| p.code == "wrong_type" && p.span == self.spans.value(path));
            let score = if type_match {
                sub.problems.len()
            } else {
                1000 + sub.problems.len()
            };
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, sub.problems));
            }
        }
        match best {
            Some((score, problems)) if score < 1000 => self.problems.extend(problems),
            _ => {
                let expected: Vec<String> = alts
                    .iter()
                    .filter_map(|a| describe_schema(Some(self.resolve(a))))
                    .collect();
                let found = yaml_kind(v);
                self.problem_at(
                    path,
                    Problem::new(
                        "wrong_type",
                        format!(
                            "`{}` must be {}, found {found}",
                            path_str(path),
                            dedup_join(expected)
                        ),
                        self.spans.value(path),
                    )
                    .label(format!("this is {found}"))
                    .maybe_help(s.get("description").and_then(J::as_str).map(first_sentence)),
                );
            }
        }
    }

    fn tagged(&mut self, v: &Y, tags: &[(&str, &'a J)], path: &mut Vec<Seg>) {
        let kinds: Vec<&str> = tags.iter().map(|(t, _)| *t).collect();
        let Y::Mapping(m) = v else {
            let found = yaml_kind(v);
            self.problem_at(
                path,
                Problem::new(
                    "wrong_type",
                    format!(
                        "step `{}` must be a mapping with a `kind`, found {found}",
                        path_str(path)
                    ),
                    self.spans.value(path),
                )
                .label(format!("this is {found}"))
                .help(format!(
                    "write `kind: <one of {}>` and the step's keys",
                    kinds.join(", ")
                )),
            );
            return;
        };
        let kind = m.get("kind");
        let Some(kind) = kind else {
            self.problem_at(
                path,
                Problem::new(
                    "missing_kind",
                    format!("step `{}` has no `kind`", path_str(path)),
                    self.spans.key(path),
                )
                .label("which kind of step is this?")
                .help(format!("add `kind:` with one of: {}", kinds.join(", "))),
            );
            return;
        };
        let kind_text = kind
            .as_str()
            .map_or_else(|| yaml_kind(kind).to_string(), str::to_string);
        match tags.iter().find(|(t, _)| *t == kind_text) {
            Some((_, s)) => {
                let s = *s;
                self.walk(v, s, path);
            }
            None => {
                path.push(Seg::Key("kind".into()));
                let hint = crate::util::did_you_mean(&kind_text, kinds.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("step kinds: {}", kinds.join(", ")));
                self.problem_at(
                    path,
                    Problem::new(
                        "unknown_kind",
                        format!("unknown step kind `{kind_text}`"),
                        self.spans.value(path),
                    )
                    .label("not a step kind")
                    .help(hint),
                );
                path.pop();
            }
        }
    }
}

/// The first line that is neither blank nor a comment.
fn first_line(text: &str) -> crate::manifest::spans::Span {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            return crate::manifest::spans::Span {
                offset,
                len: line.trim_end().len().max(1),
            };
        }
        offset += line.len();
    }
    crate::manifest::spans::Span::default()
}

fn key_text(k: &Y) -> Option<String> {
    match k {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn type_matches(v: &Y, t: &str) -> bool {
    match (t, v) {
        ("null", Y::Null) => true,
        ("boolean", Y::Bool(_)) => true,
        ("integer", Y::Number(n)) => n.is_i64() || n.is_u64(),
        ("number", Y::Number(_)) => true,
        ("string", Y::String(_)) => true,
        ("array", Y::Sequence(_)) => true,
        ("object", Y::Mapping(_)) => true,
        (_, Y::Tagged(t)) => type_matches(&t.value, t_str(t)),
        _ => false,
    }
}

fn t_str(_t: &serde_yaml::value::TaggedValue) -> &'static str {
    "string"
}

pub fn yaml_kind(v: &Y) -> &'static str {
    match v {
        Y::Null => "null",
        Y::Bool(_) => "a boolean",
        Y::Number(n) if n.is_f64() => "a number",
        Y::Number(_) => "an integer",
        Y::String(_) => "a string",
        Y::Sequence(_) => "a list",
        Y::Mapping(_) => "a mapping",
        Y::Tagged(_) => "a tagged value",
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" => "an integer".into(),
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "boolean" => "a boolean".into(),
        "number" => "a number".into(),
        "string" => "a string".into(),
        other => other.into(),
    }
}

fn describe_schema(s: Option<&J>) -> Option<String> {
    let s = s?;
    if let Some(c) = s.get("const") {
        return Some(format!(
            "`{}`",
            c.as_str().map_or_else(|| c.to_string(), str::to_string)
        ));
    }
    if let Some(e) = s.get("enum").and_then(J::as_array) {
        return Some(format!(
            "one of {}",
            e.iter()
                .map(|x| format!("`{}`", x.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match s.get("type") {
        Some(J::String(t)) => Some(article(t)),
        Some(J::Array(ts)) => Some(dedup_join(
            ts.iter()
                .filter_map(J::as_str)
                .filter(|t| *t != "null")
                .map(article)
                .collect(),
        )),
        _ => None,
    }
}

fn dedup_join(mut v: Vec<String>) -> String {
    let mut seen = Vec::new();
    v.retain(|x| {
        let fresh = !seen.contains(x);
        seen.push(x.clone());
        fresh
    });
    v.join(" or ")
}

fn first_sentence(s: &str) -> String {
    s.split_once(". ")
        .map_or(s, |(a, _)| a)
        .trim_end_matches('.')
        .to_string()
}
