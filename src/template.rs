//! Templating: `{{ ... }}` in manifest strings, rendered with minijinja in
//! strict mode.
//!
//! A template sees three roots: `params` (resolved parameters), `env` (only
//! the environment variables the manifest lists under `env:`) and `steps`
//! (results of upstream steps: `steps.NAME.count`, `steps.NAME.first.COL`,
//! `steps.NAME.columns.COL` — a list — and `steps.NAME.rows`). Validation
//! asks [`references`] which roots and names a template reads, so a template
//! that reads `steps.obs` makes the step depend on `obs` by itself.

use crate::table::expr::{describe, environment, names_read};
use crate::table::{Table, ValueRef};
use minijinja::value::{Enumerator, Object, Value as JValue};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

/// The roots a template may read.
pub const ROOTS: &[&str] = &["params", "env", "steps"];

/// Whether `s` contains template syntax.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A name a template or expression reads: `params.x` is `("params", Some("x"))`,
/// a bare `x` is `("x", None)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub root: String,
    pub name: Option<String>,
}

/// Check a template's syntax and list what it reads.
pub fn references(src: &str) -> Result<Vec<Reference>, String> {
    crate::table::expr::check_depth(src)?;
    let env = environment();
    let tpl = env.template_from_str(src).map_err(|e| describe(&e))?;
    let mut refs: Vec<Reference> = tpl
        .undeclared_variables(true)
        .into_iter()
        .map(|v| split_ref(&v))
        .collect();
    for seg in expression_segments(src) {
        refs.extend(expression_refs(seg));
    }
    refs.sort();
    refs.dedup();
    // `params` alone is implied by `params.x`.
    let named: Vec<String> = refs
        .iter()
        .filter(|r| r.name.is_some())
        .map(|r| r.root.clone())
        .collect();
    refs.retain(|r| r.name.is_some() || !named.contains(&r.root));
    Ok(refs)
}

/// What an expression (not a template) reads, by the same rules.
pub fn expression_refs(src: &str) -> Vec<Reference> {
    let mut refs: Vec<Reference> = names_read(src)
        .into_iter()
        .map(|n| Reference {
            root: n,
            name: None,
        })
        .collect();
    // `root.name` pairs for the three roots (a lexer scan: minijinja's
    // analysis misses receivers of method calls).
    for root in ROOTS {
        let pat = format!("{root}.");
        let mut start = 0;
        while let Some(i) = src[start..].find(&pat) {
            let at = start + i;
            let before_ok = at == 0
                || !src[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
            let rest = &src[at + pat.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if before_ok && !name.is_empty() {
                refs.push(Reference {
                    root: root.to_string(),
                    name: Some(name),
                });
            }
            start = at + pat.len();
        }
        // `steps['name']` and `params["x"]`
        for q in ['\'', '"'] {
            let pat = format!("{root}[{q}");
            let mut start = 0;
            while let Some(i) = src[start..].find(&pat) {
                let at = start + i + pat.len();
                if let Some(end) = src[at..].find(q) {
                    refs.push(Reference {
                        root: root.to_string(),
                        name: Some(src[at..at + end].to_string()),
                    });
                }
                start = at;
            }
        }
    }
    refs.sort();
    refs.dedup();
    refs
}

fn split_ref(v: &str) -> Reference {
    let mut parts = v.splitn(3, '.');
    let root = parts.next().unwrap_or("").to_string();
    let name = parts.next().map(str::to_string);
    Reference { root, name }
}

fn expression_segments(src: &str) -> Vec<&str> {
    let mut out = expression_segments_of(src, "{{", "}}");
    out.extend(expression_segments_of(src, "{%", "%}"));
    out
}

/// The texts between `open` and `close` (e.g. `{{` and `}}`).
fn expression_segments_of<'a>(src: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        match after.find(close) {
            Some(j) => {
                out.push(&after[..j]);
                rest = &after[j + close.len()..];
            }
            None => break,
        }
    }
    out
}

static ENGINE: LazyLock<minijinja::Environment<'static>> = LazyLock::new(environment);

/// The engine of ADQL templates: a spliced value must come out of a quoting
/// filter (`adql_string`, `adql_number`, `adql_list`, `adql_ident`), whose
/// results are marked safe; anything else fails the render, so no value can
/// change a query's structure. `safe` is refused here.
static ADQL_ENGINE: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = environment();
    env.add_filter("safe", |_: JValue| -> Result<JValue, minijinja::Error> {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "`safe` is not allowed in ADQL; use a quoting filter",
        ))
    });
    env.set_formatter(|out, _state, value| {
        if value.is_safe() {
            write!(out, "{value}").map_err(|_| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed")
            })
        } else {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "the value `{value}` is spliced into ADQL without a quoting filter (adql_string, adql_number, adql_list, adql_ident)"
                ),
            ))
        }
    });
    env
});

/// The `{{ ... }}` splices of an ADQL template that do not end in a quoting
/// filter, as written (without the braces).
pub fn unquoted_adql_splices(src: &str) -> Vec<String> {
    expression_segments_of(src, "{{", "}}")
        .into_iter()
        .filter(|seg| quoting_filter(seg).is_none())
        .map(|seg| seg.trim().trim_matches('-').trim().to_string())
        .collect()
}

/// The `{{ ... }}` splices of an ADQL template written inside quotes
/// (`'{{ x | adql_string }}'`): quoting filters make the whole literal.
pub fn enclosed_adql_splices(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let before_quote = rest[..i].ends_with(['\'', '"']);
        let after_quote = after[j + 2..].starts_with(['\'', '"']);
        if before_quote && after_quote {
            out.push(after[..j].trim().trim_matches('-').trim().to_string());
        }
        rest = &after[j + 2..];
    }
    out
}

/// The ADQL template with each splice replaced by a literal of the kind its
/// quoting filter yields (`0`, `(0)`, an identifier), for analysis before
/// any value is known. `None` when it has `{% ... %}` blocks.
pub fn adql_placeholders(src: &str) -> Option<String> {
    if src.contains("{%") {
        return None;
    }
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}")?;
        out.push_str(match quoting_filter(&after[..j]) {
            Some("adql_list") => "(0)",
            Some("adql_ident") => "mastflow_placeholder",
            Some("adql_string") => "'x'",
            _ => "0",
        });
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// The quoting filter an expression ends in, if it does.
fn quoting_filter(expr: &str) -> Option<&'static str> {
    let e = expr.trim().trim_matches('-').trim();
    let (mut depth, mut quote, mut last_pipe) = (0i32, None::<char>, None);
    for (i, c) in e.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, '|') if depth == 0 => last_pipe = Some(i),
            _ => {}
        }
    }
    let at = last_pipe?;
    let filter: String = e[at + 1..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let rest = e[at + 1..].trim_start()[filter.len()..].trim();
    if !(rest.is_empty() || rest.starts_with('(')) {
        return None;
    }
    crate::table::expr::ADQL_QUOTING_FILTERS
        .iter()
        .copied()
        .find(|f| *f == filter)
}

/// Variables visible to templates and expressions.
#[derive(Debug, Clone, Default)]
pub struct Context {
    vars: HashMap<String, JValue>,
}

impl Context {
    pub fn new(params: JValue, env: JValue) -> Self {
        let mut vars = HashMap::new();
        vars.insert("params".to_string(), params);
        vars.insert("env".to_string(), env);
        vars.insert(
            "steps".to_string(),
            JValue::from(BTreeMap::<String, JValue>::new()),
        );
        Self { vars }
    }

    /// This context with `steps` holding the given results.
    pub fn with_steps(&self, steps: &[(String, Arc<Table>)]) -> Self {
        let mut c = self.clone();
        let map: BTreeMap<String, JValue> = steps
            .iter()
            .map(|(n, t)| (n.clone(), JValue::from_object(StepResult(t.clone()))))
            .collect();
        c.vars.insert("steps".to_string(), JValue::from(map));
        c
    }

    /// Add a variable (e.g. `row` for a fan-out).
    pub fn set(&mut self, name: &str, v: JValue) {
        self.vars.insert(name.to_string(), v);
    }

    pub fn vars(&self) -> &HashMap<String, JValue> {
        &self.vars
    }

    /// Render a template string. Strings without template syntax are returned as they are.
    pub fn render(&self, src: &str) -> Result<String, String> {
        if !is_template(src) {
            return Ok(src.to_string());
        }
        crate::table::expr::check_depth(src)?;
        ENGINE
            .render_str(src, self.jinja_vars())
            .map_err(|e| describe(&e))
    }

    /// Render an ADQL template: every splice must go through a quoting filter.
    pub fn render_adql(&self, src: &str) -> Result<String, String> {
        if !is_template(src) {
            return Ok(src.to_string());
        }
        crate::table::expr::check_depth(src)?;
        ADQL_ENGINE
            .render_str(src, self.jinja_vars())
            .map_err(|e| describe(&e))
    }

    fn jinja_vars(&self) -> JValue {
        JValue::from(
            self.vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }
}

/// A step's table as templates see it.
#[derive(Debug)]
struct StepResult(Arc<Table>);

impl Object for StepResult {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let t = &self.0;
        match key.as_str()? {
            "count" => Some(JValue::from(t.num_rows())),
            "first" => (t.num_rows() > 0).then(|| row_value(t, 0)),
            "columns" => Some(JValue::from_object(Columns(t.clone()))),
            "rows" => Some(JValue::from(
                (0..t.num_rows())
                    .map(|r| row_value(t, r))
                    .collect::<Vec<_>>(),
            )),
            "names" => Some(JValue::from(
                t.column_names().map(JValue::from).collect::<Vec<_>>(),
            )),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["count", "first", "columns", "rows", "names"])
    }
}

#[derive(Debug)]
struct Columns(Arc<Table>);

impl Object for Columns {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let c = self.0.column(key.as_str()?).ok()?;
        Some(JValue::from(
            c.iter().map(ValueRef::to_jinja).collect::<Vec<_>>(),
        ))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.column_names().map(JValue::from).collect())
    }
}

/// A table as templates see a step result (`count`, `first`, `columns`, `rows`).
pub fn table_value(t: Arc<Table>) -> JValue {
    JValue::from_object(StepResult(t))
}

/// Row `r` as a mapping from column name to value.
pub fn row_value(t: &Table, r: usize) -> JValue {
    JValue::from(
        t.columns()
            .iter()
            .map(|c| (c.name.clone(), c.get(r).to_jinja()))
            .collect::<BTreeMap<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Value};

    fn r(root: &str, name: Option<&str>) -> Reference {
        Reference {
            root: root.into(),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn finds_roots_and_names() {
        let refs = references("SELECT * WHERE id IN {{ steps.obs.columns.obs_id | adql_list }} AND x > {{ params.min }}").unwrap();
        assert!(refs.contains(&r("steps", Some("obs"))));
        assert!(refs.contains(&r("params", Some("min"))));
        let refs = references("{{ steps.keywords.columns.filename.split('_') }}").unwrap();
        assert!(refs.contains(&r("steps", Some("keywords"))), "{refs:?}");
        assert!(references("{{ unclosed").is_err());
    }

    #[test]
    fn adql_splices_must_be_quoted() {
        assert_eq!(
            unquoted_adql_splices(
                "WHERE a = {{ params.a | adql_string }} AND b IN {{ steps.x.columns.b|adql_list }} \
                 AND c > {{ params.c }} AND d = {{ params.d | adql_string | lower }} \
                 AND e = {{- params.e | adql_number -}} AND f = {{ params.f | safe }} \
                 AND g = {{ params.g | replace('|', 'x') | adql_string }}"
            ),
            vec![
                "params.c",
                "params.d | adql_string | lower",
                "params.f | safe"
            ]
        );
        assert!(unquoted_adql_splices("SELECT '{{' FROM t").is_empty());
        assert_eq!(
            enclosed_adql_splices(
                "a = '{{ x | adql_string }}' AND b = {{ y | adql_string }} AND c = \"{{z}}\""
            ),
            vec!["x | adql_string", "z"]
        );
        assert_eq!(
            adql_placeholders(
                "SELECT {{ params.c | adql_ident }} FROM t WHERE a IN {{ params.l | adql_list }} AND b = {{ params.b | adql_string }} AND n > {{ params.n | adql_number }}"
            )
            .unwrap(),
            "SELECT mastflow_placeholder FROM t WHERE a IN (0) AND b = 'x' AND n > 0"
        );
        assert_eq!(adql_placeholders("{% if x %}a{% endif %}"), None);
    }

    #[test]
    fn an_injection_attempt_stays_a_literal() {
        let attack = "x' OR 1=1 --";
        let ctx = Context::new(
            minijinja::context! { t => attack, n => 3 },
            JValue::from(()),
        );
        let q = ctx
            .render_adql(
                "SELECT * FROM ivoa.obscore WHERE target_name = {{ params.t | adql_string }}",
            )
            .unwrap();
        assert_eq!(
            q,
            "SELECT * FROM ivoa.obscore WHERE target_name = 'x'' OR 1=1 --'"
        );
        // The quoted literal parses back as one string comparison.
        let parsed =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, &q)
                .unwrap();
        assert_eq!(parsed[0].to_string(), q);
        // A value without a quoting filter, or marked `safe`, never reaches the query.
        for bad in [
            "{{ params.t }}",
            "{{ params.t | safe }}",
            "{{ params.t | lower }}",
        ] {
            let e = ctx
                .render_adql(&format!("SELECT * FROM t WHERE a = {bad}"))
                .unwrap_err();
            assert!(
                e.contains("quoting filter") || e.contains("not allowed"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            ctx.render_adql("TOP {{ params.n | adql_number }}").unwrap(),
            "TOP 3"
        );
    }

    #[test]
    fn renders_step_results_strictly() {
        let t = Arc::new(
            Table::new(vec![Column::from_values(
                "obsid",
                &[Value::Int(87742159), Value::Int(87742481)],
                None,
            )])
            .unwrap(),
        );
        let ctx = Context::new(minijinja::context! { n => 5 }, JValue::from(()))
            .with_steps(&[("obs".into(), t)]);
        assert_eq!(
            ctx.render("{{ steps.obs.count }} {{ steps.obs.columns.obsid | id_list }}")
                .unwrap(),
            "2 87742159,87742481"
        );
        assert_eq!(
            ctx.render("{{ steps.obs.first.obsid }}/{{ params.n }}")
                .unwrap(),
            "87742159/5"
        );
        let err = ctx.render("{{ params.nope }}").unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }
}
