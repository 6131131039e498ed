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
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find(['{']) {
        let after = &rest[i..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            rest = &after[1..];
            continue;
        };
        match after[2..].find(close) {
            Some(j) => {
                out.push(&after[2..2 + j]);
                rest = &after[2 + j + 2..];
            }
            None => break,
        }
    }
    out
}

static ENGINE: LazyLock<minijinja::Environment<'static>> = LazyLock::new(environment);

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
        let ctx = JValue::from(
            self.vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        );
        ENGINE.render_str(src, ctx).map_err(|e| describe(&e))
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
