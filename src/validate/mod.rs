//! What was checked: turning a raw manifest into the typed [`Manifest`].
//!
//! Validation resolves parameters (defaults and `--set`), resolves step
//! names to ids, checks references (unknown steps, cycles), parses filters,
//! expressions and templates, follows the columns each step produces where
//! they can be known, and checks every column reference against them. All
//! problems of a file are collected and reported together, each at its
//! source position. Nothing downstream ever sees an unchecked value.

pub mod model;

pub use model::*;

use crate::diag::{Problem, Problems};
use crate::manifest::spans::{Seg, Span};
use crate::manifest::{self as raw, Loaded, RawParam, RawStep};
use crate::table::filter::{Condition, Filter, Spec};
use crate::table::ops::{Agg, JoinHow, Keep, NullOrder, SortKey};
use crate::table::{ColumnMeta, Table, Value};
use crate::template::{self, Reference};
use indexmap::IndexMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Inputs to validation besides the manifest.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--set name=value` overrides, in order.
    pub sets: Vec<(String, String)>,
    /// Directory relative input files are resolved against (the manifest's).
    pub base_dir: PathBuf,
}

/// Validate a loaded manifest.
pub fn validate(loaded: &Loaded, opts: &Options) -> Result<Manifest, Problems> {
    let mut v = Validator {
        loaded,
        problems: loaded.problems.clone(),
        names: loaded.raw.steps.keys().cloned().collect(),
        index: loaded
            .raw
            .steps
            .keys()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect(),
        base_dir: opts.base_dir.clone(),
    };
    if loaded.raw.version != 1 {
        let span = v.span_value(&[k("version")]);
        v.err(
            Problem::new(
                "bad_version",
                format!("manifest version {} is not supported", loaded.raw.version),
                span,
            )
            .label("unknown version")
            .help("this mastflow reads `version: 1`"),
        );
    }
    let params = v.params(&opts.sets);
    let env = v.env();
    let mut steps: Vec<Step> = Vec::with_capacity(loaded.raw.steps.len());
    for (i, (name, rs)) in loaded.raw.steps.iter().enumerate() {
        let step = v.step(i, name, rs, &steps, &params, &env);
        steps.push(step);
    }
    v.cycles(&steps);
    let outputs = v.outputs(&steps, &params);
    v.problems.sort();
    if v.problems.has_errors() {
        return Err(v.problems);
    }
    Ok(Manifest {
        name: loaded.raw.name.clone(),
        description: loaded.raw.description.clone(),
        source: loaded.source.clone(),
        sha256: crate::util::sha256_hex(loaded.source.text.as_bytes()),
        base_dir: opts.base_dir.clone(),
        params,
        env,
        steps,
        outputs,
    })
}

/// Warnings only (validation succeeded); kept for `validate` to print.
pub fn warnings(p: &Problems) -> Vec<&Problem> {
    p.items.iter().filter(|x| x.warning).collect()
}

fn k(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

struct Validator<'a> {
    loaded: &'a Loaded,
    problems: Problems,
    names: Vec<String>,
    /// Step name → position (references are resolved in O(1)).
    index: std::collections::HashMap<String, usize>,
    base_dir: PathBuf,
}

/// A column reference to check, with the path of where it was written.
struct ColRef {
    name: String,
    path: Vec<Seg>,
    /// Point at the key (true) or the value (false).
    at_key: bool,
}

impl<'a> Validator<'a> {
    fn span_key(&self, path: &[Seg]) -> Span {
        self.loaded.spans.key(path)
    }

    fn span_value(&self, path: &[Seg]) -> Span {
        self.loaded.spans.value(path)
    }

    fn err(&mut self, p: Problem) {
        self.problems.push(p);
    }

    // ---------------------------------------------------------------- params

    fn params(&mut self, sets: &[(String, String)]) -> IndexMap<String, ParamValue> {
        let raw = &self.loaded.raw.params;
        let mut out = IndexMap::new();
        for (name, p) in raw {
            let path = vec![k("params"), k(name)];
            let (ty, default, choices) = match p {
                RawParam::Default(s) => (None, Some(raw::ScalarOrList::One(s.clone())), None),
                RawParam::Full(d) => (d.ty, d.default.clone(), d.choices.clone()),
            };
            let ty = ty.unwrap_or(match &default {
                Some(raw::ScalarOrList::Many(_)) => raw::ParamType::List,
                Some(raw::ScalarOrList::One(raw::Scalar::Bool(_))) => raw::ParamType::Boolean,
                Some(raw::ScalarOrList::One(raw::Scalar::Int(_))) => raw::ParamType::Integer,
                Some(raw::ScalarOrList::One(raw::Scalar::Float(_))) => raw::ParamType::Number,
                _ => raw::ParamType::String,
            });
            let set = sets
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone());
            let value = match (set, &default) {
                (Some(text), _) => match parse_param_text(&text, ty) {
                    Ok(v) => Some(v),
                    Err(why) => {
                        self.err(
                            Problem::new(
                                "bad_param",
                                format!("--set {name}={text}: {why}"),
                                self.span_key(&path),
                            )
                            .label(format!("`{name}` is declared here"))
                            .help(format!("give {}", type_name(ty))),
                        );
                        None
                    }
                },
                (None, Some(d)) => match param_from_default(d, ty) {
                    Ok(v) => Some(v),
                    Err(why) => {
                        let mut dp = path.clone();
                        if matches!(p, RawParam::Full(_)) {
                            dp.push(k("default"));
                        }
                        self.err(
                            Problem::new(
                                "bad_param",
                                format!("default of param `{name}` {why}"),
                                self.span_value(&dp),
                            )
                            .label("wrong type")
                            .help(format!("give {} or change `type`", type_name(ty))),
                        );
                        None
                    }
                },
                (None, None) => {
                    self.err(
                        Problem::new(
                            "missing_param",
                            format!("param `{name}` has no default and no --set value"),
                            self.span_key(&path),
                        )
                        .label("required")
                        .help(format!("run with --set {name}=VALUE, or add a `default:`")),
                    );
                    None
                }
            };
            if !is_identifier(name) {
                self.err(
                    Problem::new("bad_param_name", format!("param name `{name}` is not an identifier"), self.span_key(&path))
                        .label("templates could not read it")
                        .help(format!("use ASCII letters, digits and `_` (e.g. `{}`), so it reads as `params.NAME`", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))),
                );
            }
            if let (Some(v), Some(ch)) = (&value, &choices) {
                let ok = ch.iter().any(|c| {
                    param_from_default(&raw::ScalarOrList::One(c.clone()), ty)
                        .ok()
                        .as_ref()
                        == Some(v)
                });
                if !ok {
                    let allowed: Vec<String> = ch.iter().map(scalar_text).collect();
                    let text = param_text(v);
                    let span =
                        if matches!(p, RawParam::Full(_)) && !sets.iter().any(|(n, _)| n == name) {
                            self.span_value(&vec_with(&path, k("default")))
                        } else {
                            self.span_key(&path)
                        };
                    let hint = crate::util::did_you_mean(&text, allowed.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`? (values are case-sensitive)"))
                        .unwrap_or_else(|| format!("allowed: {}", allowed.join(", ")));
                    self.err(
                        Problem::new(
                            "bad_param",
                            format!("param `{name}` = {text} is not one of the allowed values"),
                            span,
                        )
                        .label("not in `enum`")
                        .help(hint),
                    );
                }
            }
            if let Some(v) = value {
                out.insert(name.clone(), v);
            }
        }
        for (name, _) in sets {
            if !raw.contains_key(name) {
                let hint = crate::util::did_you_mean(name, raw.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        if raw.is_empty() {
                            "this manifest declares no params".into()
                        } else {
                            format!(
                                "declared params: {}",
                                raw.keys().cloned().collect::<Vec<_>>().join(", ")
                            )
                        }
                    });
                self.err(
                    Problem::new(
                        "unknown_param",
                        format!("--set {name}: the manifest has no param `{name}`"),
                        Span::default(),
                    )
                    .unlocated()
                    .help(hint),
                );
            }
        }
        out
    }

    fn env(&mut self) -> IndexMap<String, Option<String>> {
        let mut out = IndexMap::new();
        for (i, name) in self.loaded.raw.env.iter().enumerate() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                let span = self.span_value(&[k("env"), Seg::Index(i)]);
                self.err(
                    Problem::new(
                        "bad_env",
                        format!("`{name}` is not an environment variable name"),
                        span,
                    )
                    .help("use letters, digits and `_`"),
                );
            }
            if name == "MAST_API_TOKEN" {
                let span = self.span_value(&[k("env"), Seg::Index(i)]);
                self.err(
                    Problem::new("token_in_env", "the MAST token may not be exposed to templates", span)
                        .label("secret")
                        .help("mastflow reads MAST_API_TOKEN itself and sends it only to MAST; remove it from `env`"),
                );
                continue;
            }
            out.insert(name.clone(), std::env::var(name).ok());
        }
        out
    }

    // ----------------------------------------------------------------- steps

    /// Resolve a step reference written at `path`.
    fn step_ref(&mut self, name: &str, path: &[Seg], me: usize) -> Option<StepId> {
        match self.index.get(name).copied() {
            Some(i) if i == me => {
                self.err(
                    Problem::new(
                        "cycle",
                        format!("step `{name}` reads itself"),
                        self.span_value(path),
                    )
                    .label("self-reference"),
                );
                None
            }
            Some(i) => Some(i),
            None => {
                let hint = crate::util::did_you_mean(name, self.names.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("steps: {}", self.names.join(", ")));
                self.err(
                    Problem::new(
                        "unknown_step",
                        format!("no step named `{name}`"),
                        self.span_value(path),
                    )
                    .label("unknown step")
                    .help(hint),
                );
                None
            }
        }
    }

    fn step(
        &mut self,
        me: usize,
        name: &str,
        rs: &RawStep,
        done: &[Step],
        params: &IndexMap<String, ParamValue>,
        env: &IndexMap<String, Option<String>>,
    ) -> Step {
        let base = vec![k("steps"), k(name)];
        let at = |f: &str| {
            let mut p = base.clone();
            p.push(k(f));
            p
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.err(
                Problem::new(
                    "bad_step_name",
                    format!(
                        "step name `{name}` may only contain ASCII letters, digits, `_` and `-`"
                    ),
                    self.span_key(&base),
                )
                .help("templates read steps as `steps.NAME`; use `_` instead of other characters"),
            );
        }
        let (description, needs) = rs.common();
        if description.as_deref() == Some(crate::manifest::BROKEN_STEP) {
            // Structural errors were reported; references to it still resolve.
            return Step {
                name: name.to_string(),
                kind: "table",
                description: None,
                op: Op::Table(TableOp::Invalid),
                inputs: Vec::new(),
                deps: Vec::new(),
                template_deps: Vec::new(),
                span: self.span_key(&base),
                columns: None,
            };
        }
        let mut inputs: Vec<StepId> = Vec::new();
        let mut refs: Vec<(Reference, Vec<Seg>)> = Vec::new();
        let mut colrefs: Vec<ColRef> = Vec::new();
        let from = |v: &mut Self, field: &str, n: &str, inputs: &mut Vec<StepId>| -> StepId {
            let id = v.step_ref(n, &at(field), me).unwrap_or(usize::MAX);
            inputs.push(id);
            id
        };
        let op = match rs {
            RawStep::Table(t) => self.table_op(t, &base, &mut refs),
            RawStep::Filter(f) => {
                let from_id = from(self, "from", &f.from, &mut inputs);
                let filter = f
                    .where_
                    .as_ref()
                    .map(|w| self.structured_filter(w, &at("where"), &mut colrefs, &mut refs));
                if let Some(e) = &f.expr {
                    self.expression(e, &at("expr"), &mut colrefs, &mut refs);
                }
                if f.where_.is_none() && f.expr.is_none() {
                    self.err(
                        Problem::new(
                            "empty_filter",
                            format!("filter step `{name}` has neither `where` nor `expr`"),
                            self.span_key(&base),
                        )
                        .help("add `where: {column: value}` or `expr: \"...\"`"),
                    );
                }
                Op::Filter {
                    from: from_id,
                    filter,
                    expr: f.expr.clone(),
                }
            }
            RawStep::Select(s) | RawStep::Drop(s) => {
                let from_id = from(self, "from", &s.from, &mut inputs);
                for (i, c) in s.columns.iter().enumerate() {
                    colrefs.push(ColRef {
                        name: c.clone(),
                        path: vec_with(&at("columns"), Seg::Index(i)),
                        at_key: false,
                    });
                }
                if matches!(rs, RawStep::Select(_)) {
                    Op::Select {
                        from: from_id,
                        columns: s.columns.clone(),
                    }
                } else {
                    Op::Drop {
                        from: from_id,
                        columns: s.columns.clone(),
                    }
                }
            }
            RawStep::Rename(r) => {
                let from_id = from(self, "from", &r.from, &mut inputs);
                for old in r.columns.keys() {
                    colrefs.push(ColRef {
                        name: old.clone(),
                        path: vec_with(&at("columns"), k(old)),
                        at_key: true,
                    });
                }
                Op::Rename {
                    from: from_id,
                    columns: r
                        .columns
                        .iter()
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect(),
                }
            }
            RawStep::Derive(d) => {
                let from_id = from(self, "from", &d.from, &mut inputs);
                let mut cols = Vec::new();
                let mut made: Vec<String> = Vec::new();
                for (cname, spec) in &d.columns {
                    let (expr, ty, meta, epath) = match spec {
                        raw::DeriveSpec::Expr(e) => (
                            e.clone(),
                            None,
                            ColumnMeta::default(),
                            vec_with(&at("columns"), k(cname)),
                        ),
                        raw::DeriveSpec::Full(f) => (
                            f.expr.clone(),
                            f.ty,
                            ColumnMeta {
                                unit: f.unit.clone(),
                                description: f.description.clone(),
                                ucd: f.ucd.clone(),
                                xtype: None,
                            },
                            vec_with(&vec_with(&at("columns"), k(cname)), k("expr")),
                        ),
                    };
                    let mut local = Vec::new();
                    self.expression(&expr, &epath, &mut local, &mut refs);
                    // Columns made earlier in the same step are available; one
                    // made later is not.
                    for c in local.into_iter().filter(|c| !made.contains(&c.name)) {
                        let later = d.columns.keys().any(|n| *n == c.name) && c.name != *cname;
                        if later {
                            self.err(
                                Problem::new(
                                    "unknown_column",
                                    format!("column `{}` is derived later in this step", c.name),
                                    self.span_value(&c.path),
                                )
                                .label("not yet defined")
                                .help(format!("move `{}` above `{cname}`", c.name)),
                            );
                        } else {
                            colrefs.push(c);
                        }
                    }
                    made.push(cname.clone());
                    cols.push(Derived {
                        name: cname.clone(),
                        expr,
                        ty,
                        meta,
                    });
                }
                Op::Derive {
                    from: from_id,
                    columns: cols,
                }
            }
            RawStep::Sort(s) => {
                let from_id = from(self, "from", &s.from, &mut inputs);
                let mut keys = Vec::new();
                for (i, key) in s.by.iter().enumerate() {
                    let p = vec_with(&at("by"), Seg::Index(i));
                    let sk = match key {
                        raw::SortKeySpec::Name(n) => match n.strip_prefix('-') {
                            Some(c) => SortKey {
                                column: c.to_string(),
                                descending: true,
                                nulls: NullOrder::Last,
                            },
                            None => SortKey {
                                column: n.trim_start_matches('+').to_string(),
                                descending: false,
                                nulls: NullOrder::Last,
                            },
                        },
                        raw::SortKeySpec::Full(d) => SortKey {
                            column: d.column.clone(),
                            descending: d.descending,
                            nulls: match d.nulls {
                                Some(raw::NullsOrder::First) => NullOrder::First,
                                _ => NullOrder::Last,
                            },
                        },
                    };
                    colrefs.push(ColRef {
                        name: sk.column.clone(),
                        path: p,
                        at_key: false,
                    });
                    keys.push(sk);
                }
                if keys.is_empty() {
                    self.err(
                        Problem::new(
                            "empty_list",
                            format!("sort step `{name}` has no keys"),
                            self.span_value(&at("by")),
                        )
                        .help("list at least one column in `by`"),
                    );
                }
                Op::Sort {
                    from: from_id,
                    keys,
                }
            }
            RawStep::Unique(u) => {
                let from_id = from(self, "from", &u.from, &mut inputs);
                for (i, c) in u.keys.iter().enumerate() {
                    colrefs.push(ColRef {
                        name: c.clone(),
                        path: vec_with(&at("keys"), Seg::Index(i)),
                        at_key: false,
                    });
                }
                let keep = if u.keep == Some(raw::KeepSpec::Last) {
                    Keep::Last
                } else {
                    Keep::First
                };
                Op::Unique {
                    from: from_id,
                    keys: u.keys.clone(),
                    keep,
                }
            }
            RawStep::Head(h) => {
                let from_id = from(self, "from", &h.from, &mut inputs);
                Op::Head {
                    from: from_id,
                    n: h.n as usize,
                }
            }
            RawStep::Union(u) => {
                let mut ids = Vec::new();
                for (i, f) in u.from.iter().enumerate() {
                    let id = self
                        .step_ref(f, &vec_with(&at("from"), Seg::Index(i)), me)
                        .unwrap_or(usize::MAX);
                    inputs.push(id);
                    ids.push(id);
                }
                if ids.is_empty() {
                    self.err(
                        Problem::new(
                            "empty_list",
                            format!("union step `{name}` has no inputs"),
                            self.span_value(&at("from")),
                        )
                        .help("list the steps to stack in `from`"),
                    );
                }
                Op::Union {
                    from: ids,
                    tag: u.tag.clone(),
                }
            }
            RawStep::Join(j) => {
                let l = from(self, "left", &j.left, &mut inputs);
                let r = from(self, "right", &j.right, &mut inputs);
                let on: Vec<(String, String)> = match &j.on {
                    raw::JoinOn::Same(v) => v.iter().map(|c| (c.clone(), c.clone())).collect(),
                    raw::JoinOn::Pairs(m) => {
                        m.iter().map(|(a, b)| (a.clone(), b.clone())).collect()
                    }
                };
                if on.is_empty() {
                    self.err(
                        Problem::new(
                            "empty_list",
                            format!("join step `{name}` has no keys"),
                            self.span_value(&at("on")),
                        )
                        .help("list the key columns in `on`"),
                    );
                }
                let how = if j.how == Some(raw::JoinHowSpec::Left) {
                    JoinHow::Left
                } else {
                    JoinHow::Inner
                };
                let suffixes = j.suffixes.clone().unwrap_or(("_1".into(), "_2".into()));
                Op::Join {
                    left: l,
                    right: r,
                    on,
                    how,
                    suffixes,
                }
            }
            RawStep::Group(g) => {
                let from_id = from(self, "from", &g.from, &mut inputs);
                for (i, c) in g.by.iter().enumerate() {
                    colrefs.push(ColRef {
                        name: c.clone(),
                        path: vec_with(&at("by"), Seg::Index(i)),
                        at_key: false,
                    });
                }
                let mut aggs = Vec::new();
                for (out, f) in &g.aggregates {
                    let p = vec_with(&at("aggregates"), k(out));
                    match parse_agg(f) {
                        Ok(a) => {
                            if let Some(c) = agg_column(&a) {
                                colrefs.push(ColRef { name: c.to_string(), path: p.clone(), at_key: false });
                            }
                            aggs.push((out.clone(), a));
                        }
                        Err(why) => self.err(
                            Problem::new("bad_aggregate", format!("aggregate `{f}`: {why}"), self.span_value(&p))
                                .label("not an aggregate")
                                .help("use count, count_distinct(col), sum(col), min(col), max(col), mean(col), first(col) or concat(col)"),
                        ),
                    }
                }
                Op::Group {
                    from: from_id,
                    by: g.by.clone(),
                    aggregates: aggs,
                }
            }
            RawStep::Assert(a) => {
                let from_id = from(self, "from", &a.from, &mut inputs);
                Op::Assert(self.assert_op(a, from_id, &at, &mut colrefs, &mut refs))
            }
            RawStep::Mashup(ms) => {
                let for_each = ms
                    .for_each
                    .as_ref()
                    .map(|f| from(self, "for_each", f, &mut inputs));
                Op::Mashup(Box::new(self.mashup_op(
                    ms,
                    for_each,
                    &at,
                    &mut colrefs,
                    &mut refs,
                )))
            }
            RawStep::Caom(cs) | RawStep::Count(cs) => {
                let for_each = cs
                    .for_each
                    .as_ref()
                    .map(|f| from(self, "for_each", f, &mut inputs));
                let count = matches!(rs, RawStep::Count(_));
                Op::Mashup(Box::new(self.caom_op(
                    cs,
                    count,
                    for_each,
                    &at,
                    &mut colrefs,
                    &mut refs,
                )))
            }
            RawStep::Products(ps) => {
                let from_id = from(self, "from", &ps.from, &mut inputs);
                let col = ps.obsid_column.clone().unwrap_or_else(|| "obsid".into());
                colrefs.push(ColRef {
                    name: col.clone(),
                    path: if ps.obsid_column.is_some() {
                        at("obsid_column")
                    } else {
                        at("from")
                    },
                    at_key: false,
                });
                let batch = ps.batch.unwrap_or(5);
                if batch == 0 {
                    self.err(Problem::new(
                        "bad_value",
                        "`batch` must be at least 1",
                        self.span_value(&at("batch")),
                    ));
                }
                let deadline = self.deadline(ps.deadline.as_deref(), &at("deadline"));
                Op::Mashup(Box::new(MashupOp {
                    service: "Mast.Caom.Products".into(),
                    params: serde_json::json!({ "obsid": format!("{{{{ batch.columns['{col}'] | id_list }}}}") }),
                    for_each: Some(from_id),
                    batch: batch.max(1) as usize,
                    carry: Vec::new(),
                    deadline,
                    caom: None,
                    si: None,
                    dedupe: ps.unique.unwrap_or(true).then(|| "dataURI".to_string()),
                }))
            }
            RawStep::FilterProducts(fp) => {
                let from_id = from(self, "from", &fp.from, &mut inputs);
                let filter =
                    self.structured_filter(&fp.where_, &at("where"), &mut colrefs, &mut refs);
                let extensions: Vec<String> = match &fp.extension {
                    None => Vec::new(),
                    Some(raw::ScalarOrList::One(s)) => vec![scalar_text(s)],
                    Some(raw::ScalarOrList::Many(v)) => v.iter().map(scalar_text).collect(),
                };
                if !extensions.is_empty() {
                    colrefs.push(ColRef {
                        name: "productFilename".into(),
                        path: at("extension"),
                        at_key: true,
                    });
                }
                if fp.mrp_only {
                    colrefs.push(ColRef {
                        name: "productGroupDescription".into(),
                        path: at("mrp_only"),
                        at_key: true,
                    });
                }
                Op::FilterProducts {
                    from: from_id,
                    filter,
                    extensions,
                    mrp_only: fp.mrp_only,
                }
            }
            RawStep::SiKeywords(sk) => {
                Op::Mashup(Box::new(self.si_op(sk, &at, &mut colrefs, &mut refs)))
            }
            RawStep::Resolve(r) => {
                let from_id = from(self, "from", &r.from, &mut inputs);
                let column = r.column.clone().unwrap_or_else(|| "target_name".into());
                colrefs.push(ColRef {
                    name: column.clone(),
                    path: if r.column.is_some() {
                        at("column")
                    } else {
                        at("from")
                    },
                    at_key: false,
                });
                Op::Resolve {
                    from: from_id,
                    column,
                    fail_unresolved: r.unresolved != Some(raw::UnresolvedPolicy::Keep),
                }
            }
        };
        let mut deps: Vec<StepId> = inputs
            .iter()
            .copied()
            .filter(|&i| i != usize::MAX)
            .collect();
        for (i, n) in needs.iter().enumerate() {
            if let Some(id) = self.step_ref(n, &vec_with(&at("needs"), Seg::Index(i)), me) {
                deps.push(id);
            }
        }
        let template_deps = self.check_refs(&refs, params, env, me, done);
        deps.extend(&template_deps);
        let mut seen = HashSet::new();
        deps.retain(|d| seen.insert(*d));
        let upstream_cols: Vec<Option<&Vec<String>>> = inputs
            .iter()
            .map(|&i| done.get(i).and_then(|s| s.columns.as_ref()))
            .collect();
        // Columns of the first input are what single-input steps read.
        if let (Some(Some(cols)), false) = (
            upstream_cols.first(),
            matches!(rs, RawStep::Join(_) | RawStep::Union(_)),
        ) {
            let up_name = done[inputs[0]].name.clone();
            self.check_columns(&colrefs, cols, &up_name, params);
        }
        if let RawStep::Join(j) = rs {
            self.check_join_keys(j, &inputs, done, &at);
        }
        let columns = infer_columns(rs, &op, &inputs, done);
        if let Some(cols) = &columns {
            let mut seen = HashSet::new();
            for c in cols {
                if !seen.insert(c) {
                    self.err(
                        Problem::new("duplicate_column", format!("step `{name}` would produce two columns named `{c}`"), self.span_key(&base))
                            .label("here")
                            .help("rename one of them (a `rename` step, a different union `tag`, or distinct join `suffixes`)"),
                    );
                }
            }
        }
        Step {
            name: name.to_string(),
            kind: rs.kind(),
            description: description.clone(),
            op,
            inputs,
            deps,
            template_deps,
            span: self.span_key(&base),
            columns,
        }
    }

    fn table_op(
        &mut self,
        t: &raw::TableStep,
        base: &[Seg],
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> Op {
        let at = |f: &str| vec_with(base, k(f));
        let sources = [t.rows.is_some(), t.csv.is_some(), t.file.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if sources != 1 {
            self.err(
                Problem::new(
                    "table_source",
                    format!(
                        "table step needs exactly one of `rows`, `csv` or `file` (found {sources})"
                    ),
                    self.span_key(base),
                )
                .help("give inline `rows:`, inline `csv: |` text, or a `file:` path"),
            );
            return Op::Table(TableOp::Invalid);
        }
        let decls: Vec<(String, ColumnDecl)> = t
            .columns
            .iter()
            .map(|(n, d)| {
                (
                    n.clone(),
                    ColumnDecl {
                        ty: d.ty,
                        meta: ColumnMeta {
                            unit: d.unit.clone(),
                            description: d.description.clone(),
                            ucd: d.ucd.clone(),
                            xtype: None,
                        },
                    },
                )
            })
            .collect();
        let built: Result<(Table, String), (String, Vec<Seg>)> = if let Some(rows) = &t.rows {
            Ok((inline_rows(rows, &decls), "inline rows".into()))
        } else if let Some(csv) = &t.csv {
            crate::table::io::read_bytes(
                csv.as_bytes(),
                crate::table::io::Format::Csv,
                "inline csv",
            )
            .map(|t| (t, "inline csv".into()))
            .map_err(|e| (e.to_string(), at("csv")))
        } else {
            let file = t.file.as_deref().unwrap_or_default();
            if template::is_template(file) {
                match template::references(file) {
                    Ok(r) => refs.extend(r.into_iter().map(|r| (r, at("file")))),
                    Err(e) => self.err(
                        Problem::new(
                            "bad_template",
                            format!("template error: {e}"),
                            self.span_value(&at("file")),
                        )
                        .label("in this template"),
                    ),
                }
                return Op::Table(TableOp::File {
                    path: file.to_string(),
                    format: t.format,
                    decls,
                });
            }
            let path = resolve_path(&self.base_dir, file);
            crate::table::io::read_path(&path, t.format)
                .map(|tb| (tb, file.to_string()))
                .map_err(|e| (e.to_string(), at("file")))
        };
        match built {
            Ok((table, origin)) => {
                match apply_decls(table, &decls) {
                    Ok(table) => {
                        for (n, _) in &decls {
                            if table.index_of(n).is_none() {
                                let p = vec_with(&at("columns"), k(n));
                                let hint = crate::util::did_you_mean(n, table.column_names())
                                    .map(|s| format!("did you mean `{s}`?"));
                                self.err(Problem::new("unknown_column", format!("`columns` declares `{n}`, which the table does not have"), self.span_key(&p)).maybe_help(hint));
                            }
                        }
                        Op::Table(TableOp::Static {
                            table: Arc::new(table),
                            origin,
                        })
                    }
                    Err(e) => {
                        let _ = origin;
                        self.err(
                            Problem::new("bad_table", e, self.span_key(base))
                                .label("in this table")
                                .help("fix the declared `type` in `columns:` or the data"),
                        );
                        Op::Table(TableOp::Invalid)
                    }
                }
            }
            Err((msg, path)) => {
                let help = if t.csv.is_some() {
                    "inline CSV needs a header line and the same number of fields on every line"
                } else {
                    "paths are relative to the manifest's directory"
                };
                self.err(
                    Problem::new(
                        "bad_table",
                        format!("cannot read table: {msg}"),
                        self.span_value(&path),
                    )
                    .label("from here")
                    .help(help),
                );
                Op::Table(TableOp::Invalid)
            }
        }
    }

    fn structured_filter(
        &mut self,
        w: &IndexMap<String, raw::FilterValues>,
        path: &[Seg],
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> Filter {
        let mut conditions = Vec::new();
        for (col, vals) in w {
            let p = vec_with(path, k(col));
            colrefs.push(ColRef {
                name: col.clone(),
                path: p.clone(),
                at_key: true,
            });
            let list: Vec<&raw::FilterValue> = match vals {
                raw::FilterValues::Many(v) => v.iter().collect(),
                raw::FilterValues::One(v) => vec![v],
            };
            if list.is_empty() {
                self.err(
                    Problem::new(
                        "empty_list",
                        format!("`{col}: []` matches nothing"),
                        self.span_value(&p),
                    )
                    .help("give at least one value, or remove the condition"),
                );
            }
            let mut specs = Vec::new();
            for (i, fv) in list.into_iter().enumerate() {
                let vp = match vals {
                    raw::FilterValues::Many(_) => vec_with(&p, Seg::Index(i)),
                    raw::FilterValues::One(_) => p.clone(),
                };
                let spec = match fv {
                    raw::FilterValue::One(None) => Spec::Value(Value::Null),
                    raw::FilterValue::One(Some(s)) => Spec::Value(scalar_value(s)),
                    raw::FilterValue::Range(r) => {
                        if r.min.is_none() && r.max.is_none() {
                            self.err(
                                Problem::new(
                                    "bad_range",
                                    "a range needs `min`, `max` or both",
                                    self.span_value(&vp),
                                )
                                .help("write `{min: 2, max: 3}`"),
                            );
                        }
                        if let (Some(a), Some(b)) = (
                            r.min.as_ref().and_then(scalar_f64),
                            r.max.as_ref().and_then(scalar_f64),
                        ) {
                            if a > b {
                                self.err(Problem::new("bad_range", format!("range min {a} is greater than max {b}; it matches nothing"), self.span_value(&vp)).help("swap `min` and `max`"));
                            }
                        }
                        Spec::Range {
                            min: r.min.as_ref().map(scalar_value),
                            max: r.max.as_ref().map(scalar_value),
                        }
                    }
                };
                if let Spec::Value(Value::Str(s)) = &spec {
                    if template::is_template(s) {
                        match template::references(s) {
                            Ok(r) => refs.extend(r.into_iter().map(|r| (r, vp.clone()))),
                            Err(e) => self.err(Problem::new(
                                "bad_template",
                                format!("template error: {e}"),
                                self.span_value(&vp),
                            )),
                        }
                    }
                }
                specs.push(spec);
            }
            conditions.push(Condition {
                column: col.clone(),
                specs,
            });
        }
        Filter { conditions }
    }

    /// Check a row expression's syntax and collect what it reads.
    fn expression(
        &mut self,
        e: &str,
        path: &[Seg],
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) {
        if template::is_template(e) {
            self.err(
                Problem::new(
                    "template_in_expr",
                    "expressions are not templates: write `params.x`, not `{{ params.x }}`",
                    self.span_value(path),
                )
                .help("remove the `{{ }}`; expressions read params, env and steps directly"),
            );
            return;
        }
        if let Err(msg) = crate::table::expr::check(e) {
            self.err(
                Problem::new(
                    "bad_expression",
                    format!("invalid expression: {msg}"),
                    self.span_value(path),
                )
                .label("in this expression")
                .help("expressions use Jinja syntax: `t_exptime > 1000 and calib_level in [2, 3]`"),
            );
            return;
        }
        for r in template::expression_refs(e) {
            if template::ROOTS.contains(&r.root.as_str()) {
                if r.name.is_some() {
                    refs.push((r, path.to_vec()));
                }
            } else if r.name.is_none() && !is_global_function(&r.root) {
                colrefs.push(ColRef {
                    name: r.root,
                    path: path.to_vec(),
                    at_key: false,
                });
            }
        }
    }

    fn assert_op(
        &mut self,
        a: &raw::AssertStep,
        from: StepId,
        at: &dyn Fn(&str) -> Vec<Seg>,
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> AssertOp {
        let (rows_min, rows_max) = match &a.rows {
            None => (None, None),
            Some(raw::RowsCheck::Exactly(n)) => (Some(*n), Some(*n)),
            Some(raw::RowsCheck::Range(r)) => (r.min, r.max),
        };
        if let (Some(lo), Some(hi)) = (rows_min, rows_max) {
            if lo > hi {
                self.err(
                    Problem::new(
                        "bad_range",
                        format!("rows min {lo} is greater than max {hi}; the check can never pass"),
                        self.span_value(&at("rows")),
                    )
                    .label("empty range")
                    .help("swap `min` and `max`"),
                );
            }
        }
        for (i, c) in a.not_null.iter().enumerate() {
            colrefs.push(ColRef {
                name: c.clone(),
                path: vec_with(&at("not_null"), Seg::Index(i)),
                at_key: false,
            });
        }
        let mut unique = Vec::new();
        for (i, u) in a.unique.iter().enumerate() {
            let cols: Vec<String> = match u {
                raw::ScalarOrList::One(s) => vec![scalar_text(s)],
                raw::ScalarOrList::Many(v) => v.iter().map(scalar_text).collect(),
            };
            for c in &cols {
                colrefs.push(ColRef {
                    name: c.clone(),
                    path: vec_with(&at("unique"), Seg::Index(i)),
                    at_key: false,
                });
            }
            unique.push(cols);
        }
        let mut accepted = Vec::new();
        for (c, vals) in &a.accepted_values {
            colrefs.push(ColRef {
                name: c.clone(),
                path: vec_with(&at("accepted_values"), k(c)),
                at_key: true,
            });
            accepted.push((c.clone(), vals.iter().map(scalar_value).collect()));
        }
        if let Some(e) = &a.expr {
            self.expression(e, &at("expr"), colrefs, refs);
        }
        if a.rows.is_none()
            && a.not_null.is_empty()
            && a.unique.is_empty()
            && a.accepted_values.is_empty()
            && a.expr.is_none()
        {
            self.err(
                Problem::new(
                    "empty_assert",
                    "assert step checks nothing",
                    self.span_key(&at("from")[..2]),
                )
                .label("this assert")
                .help("add `rows`, `not_null`, `unique`, `accepted_values` or `expr`"),
            );
        }
        AssertOp {
            from,
            rows_min,
            rows_max,
            not_null: a.not_null.clone(),
            unique,
            accepted_values: accepted,
            expr: a.expr.clone(),
            message: a.message.clone(),
            warn_only: a.severity == Some(raw::Severity::Warn),
        }
    }

    fn mashup_op(
        &mut self,
        ms: &raw::MashupStep,
        for_each: Option<StepId>,
        at: &dyn Fn(&str) -> Vec<Seg>,
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> MashupOp {
        if ms.service.trim().is_empty() {
            self.err(
                Problem::new(
                    "bad_value",
                    "`service` is empty",
                    self.span_value(&at("service")),
                )
                .help("name a Mashup service, e.g. `Mast.Caom.Filtered`"),
            );
        }
        let batch = ms.batch.unwrap_or(1);
        if ms.batch.is_some() && for_each.is_none() {
            self.err(
                Problem::new(
                    "batch_without_for_each",
                    "`batch` needs `for_each`",
                    self.span_key(&at("batch")),
                )
                .help("add `for_each: STEP` to send one request per batch of its rows"),
            );
        }
        if batch == 0 {
            self.err(
                Problem::new(
                    "bad_value",
                    "`batch` must be at least 1",
                    self.span_value(&at("batch")),
                )
                .label("zero"),
            );
        }
        if !ms.carry.is_empty() && batch != 1 {
            self.err(
                Problem::new(
                    "carry_with_batch",
                    "`carry` copies one row's columns and needs `batch: 1`",
                    self.span_key(&at("carry")),
                )
                .help("remove `batch`, or `carry`"),
            );
        }
        if !ms.carry.is_empty() && for_each.is_none() {
            self.err(Problem::new(
                "carry_without_for_each",
                "`carry` needs `for_each`",
                self.span_key(&at("carry")),
            ));
        }
        for (i, c) in ms.carry.iter().enumerate() {
            colrefs.push(ColRef {
                name: c.clone(),
                path: vec_with(&at("carry"), Seg::Index(i)),
                at_key: false,
            });
        }
        let deadline = match ms.deadline.as_deref() {
            None => std::time::Duration::from_secs(600),
            Some(d) => match parse_duration(d) {
                Some(x) => x,
                None => {
                    self.err(
                        Problem::new(
                            "bad_value",
                            format!("`{d}` is not a duration"),
                            self.span_value(&at("deadline")),
                        )
                        .help("write e.g. `90s`, `10m` or `1h`"),
                    );
                    std::time::Duration::from_secs(600)
                }
            },
        };
        let mut strings = Vec::new();
        json_strings(&ms.params, &mut at("params"), &mut strings);
        for (text, path) in strings {
            self.template_refs(&text, &path, for_each.is_some(), colrefs, refs);
        }
        MashupOp {
            service: ms.service.clone(),
            params: ms.params.clone(),
            for_each,
            batch: batch.max(1) as usize,
            carry: ms.carry.clone(),
            deadline,
            caom: None,
            si: None,
            dedupe: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn caom_op(
        &mut self,
        cs: &raw::CaomStep,
        count: bool,
        for_each: Option<StepId>,
        at: &dyn Fn(&str) -> Vec<Seg>,
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> MashupOp {
        use crate::services::caom;
        let mut texts: Vec<(String, Vec<Seg>)> = Vec::new();
        let mut criteria = Vec::new();
        for (col, spec) in &cs.criteria {
            let p = vec_with(&at("criteria"), k(col));
            let Some(field) = caom::field(col) else {
                self.err(
                    Problem::new(
                        "unknown_column",
                        caom::unknown_column(col),
                        self.span_key(&p),
                    )
                    .label("not a CAOM column")
                    .help(format!(
                        "CAOM columns: {}",
                        caom::names().collect::<Vec<_>>().join(", ")
                    )),
                );
                continue;
            };
            let crit = match spec {
                raw::CriterionSpec::Range(r) => {
                    if !field.continuous {
                        self.err(
                            Problem::new(
                                "bad_criterion",
                                format!(
                                    "`{col}` is not continuous; give a value or a list of values"
                                ),
                                self.span_value(&p),
                            )
                            .label("range on a discrete column")
                            .help(format!("e.g. `{col}: [2, 3]`")),
                        );
                    }
                    CaomCriterion::Range {
                        min: r.min.as_ref().map(scalar_json),
                        max: r.max.as_ref().map(scalar_json),
                    }
                }
                raw::CriterionSpec::Many(v) => {
                    CaomCriterion::Values(v.iter().map(scalar_json).collect())
                }
                raw::CriterionSpec::One(v) => CaomCriterion::Values(vec![scalar_json(v)]),
            };
            if let CaomCriterion::Values(v) = &crit {
                if field.continuous && v.len() != 2 {
                    self.err(
                        Problem::new(
                            "bad_criterion",
                            format!("`{col}` is continuous: give a range"),
                            self.span_value(&p),
                        )
                        .label("needs a range")
                        .help(format!(
                            "write `{col}: {{min: a, max: b}}` (either end optional) or `[a, b]`"
                        )),
                    );
                }
                let wild = v
                    .iter()
                    .filter(|x| x.as_str().is_some_and(|s| s.contains(['*', '%'])))
                    .count();
                if wild > 1 {
                    self.err(Problem::new("bad_criterion", format!("`{col}` has {wild} wildcard values; MAST takes one pattern per column"), self.span_value(&p)).help("split the search into two steps and `union` them"));
                }
                for (i, x) in v.iter().enumerate() {
                    if let Some(t) = x.as_str() {
                        let vp = if matches!(spec, raw::CriterionSpec::Many(_)) {
                            vec_with(&p, Seg::Index(i))
                        } else {
                            p.clone()
                        };
                        texts.push((t.to_string(), vp));
                    }
                }
            }
            criteria.push((field.name.to_string(), crit));
        }
        let position = cs.position.as_ref().map(|pos| {
            let p = at("position");
            let ra = scalar_text(&pos.ra);
            let dec = scalar_text(&pos.dec);
            let radius = pos.radius.as_ref().map(scalar_text).unwrap_or_else(|| "0.2deg".into());
            for (name, text, check) in [("ra", &ra, 0u8), ("dec", &dec, 1), ("radius", &radius, 2)] {
                let vp = vec_with(&p, k(name));
                if template::is_template(text) {
                    texts.push((text.clone(), vp));
                    continue;
                }
                let ok = match check {
                    0 => crate::services::caom::parse_ra(text).is_some(),
                    1 => crate::services::caom::parse_dec(text).is_some(),
                    _ => crate::table::expr::parse_angle(text).is_some(),
                };
                if !ok {
                    let help = match check {
                        0 => "give degrees (346.62) or hours:minutes:seconds (\"23:06:29.37\")",
                        1 => "give degrees (-5.04) or degrees:arcmin:arcsec (\"-05:02:29.0\") within ±90",
                        _ => "give an angle like 30s, 2m, 0.5deg, or degrees",
                    };
                    self.err(Problem::new("bad_position", format!("position {name} `{text}` is not valid"), self.span_value(&vp)).help(help));
                }
            }
            (ra, dec, radius)
        });
        if criteria.is_empty() && position.is_none() {
            self.err(
                Problem::new(
                    "empty_search",
                    "a CAOM search needs `criteria` or a `position`",
                    self.span_key(&at("criteria")[..2]),
                )
                .help("add e.g. `criteria: {obs_collection: JWST, proposal_id: \"1073\"}`"),
            );
        }
        let columns = match (&cs.columns, count) {
            (_, true) => "COUNT_BIG(*)".to_string(),
            (Some(cols), false) => {
                for (i, c) in cols.iter().enumerate() {
                    if caom::field(c).is_none() && c != "distance" {
                        self.err(
                            Problem::new(
                                "unknown_column",
                                caom::unknown_column(c),
                                self.span_value(&vec_with(&at("columns"), Seg::Index(i))),
                            )
                            .label("not a CAOM column"),
                        );
                    }
                }
                cols.join(",")
            }
            (None, false) => "*".to_string(),
        };
        if cs.columns.is_some() && count {
            self.err(
                Problem::new(
                    "bad_key",
                    "`columns` has no meaning for a count",
                    self.span_key(&at("columns")),
                )
                .help("remove `columns`"),
            );
        }
        if cs.max.is_some() && !count {
            self.err(
                Problem::new(
                    "bad_key",
                    "`max` is a guard of `count` steps",
                    self.span_key(&at("max")),
                )
                .help("use a `count` step with `max`, and make this step `needs:` it"),
            );
        }
        if !cs.carry.is_empty() && for_each.is_none() {
            self.err(Problem::new(
                "carry_without_for_each",
                "`carry` needs `for_each`",
                self.span_key(&at("carry")),
            ));
        }
        for (i, c) in cs.carry.iter().enumerate() {
            colrefs.push(ColRef {
                name: c.clone(),
                path: vec_with(&at("carry"), Seg::Index(i)),
                at_key: false,
            });
        }
        for (text, path) in texts {
            self.template_refs(&text, &path, for_each.is_some(), colrefs, refs);
        }
        let deadline = self.deadline(cs.deadline.as_deref(), &at("deadline"));
        MashupOp {
            service: if position.is_some() {
                "Mast.Caom.Filtered.Position".into()
            } else {
                "Mast.Caom.Filtered".into()
            },
            params: serde_json::Value::Null,
            for_each,
            batch: 1,
            carry: cs.carry.clone(),
            deadline,
            caom: Some(CaomQuery {
                criteria,
                position,
                columns,
                count,
                max: cs.max,
            }),
            si: None,
            dedupe: None,
        }
    }

    fn si_op(
        &mut self,
        sk: &raw::SiKeywordsStep,
        at: &dyn Fn(&str) -> Vec<Seg>,
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> MashupOp {
        let mut criteria = Vec::new();
        for (col, spec) in &sk.criteria {
            let p = vec_with(&at("criteria"), k(col));
            let crit = match spec {
                raw::CriterionSpec::Range(r) => {
                    for (end, v) in [("min", &r.min), ("max", &r.max)] {
                        if let Some(raw::Scalar::Str(t)) = v {
                            if !template::is_template(t)
                                && t.trim().parse::<f64>().is_err()
                                && crate::table::normalize::iso_to_mjd(t).is_none()
                            {
                                self.err(Problem::new("bad_criterion", format!("`{col}` range {end} `{t}` is neither a number nor an ISO date"), self.span_value(&vec_with(&p, k(end)))).help("write a number, or a date like 2022-06-01 (it becomes an MJD range)"));
                            }
                        }
                    }
                    CaomCriterion::Range {
                        min: r.min.as_ref().map(scalar_json),
                        max: r.max.as_ref().map(scalar_json),
                    }
                }
                raw::CriterionSpec::Many(v) => {
                    CaomCriterion::Values(v.iter().map(scalar_json).collect())
                }
                raw::CriterionSpec::One(v) => CaomCriterion::Values(vec![scalar_json(v)]),
            };
            let mut strings = Vec::new();
            match &crit {
                CaomCriterion::Values(v) => v.iter().for_each(|x| {
                    if let Some(t) = x.as_str() {
                        strings.push(t.to_string())
                    }
                }),
                CaomCriterion::Range { min, max } => {
                    [min, max].into_iter().flatten().for_each(|x| {
                        if let Some(t) = x.as_str() {
                            strings.push(t.to_string())
                        }
                    })
                }
            }
            for t in strings {
                self.template_refs(&t, &p, false, colrefs, refs);
            }
            criteria.push((col.clone(), crit));
        }
        let columns = sk
            .columns
            .as_ref()
            .map_or_else(|| "*".to_string(), |c| c.join(","));
        let deadline = self.deadline(sk.deadline.as_deref(), &at("deadline"));
        MashupOp {
            service: sk.instrument.service().to_string(),
            params: serde_json::Value::Null,
            for_each: None,
            batch: 1,
            carry: Vec::new(),
            deadline,
            caom: None,
            si: Some(SiQuery { criteria, columns }),
            dedupe: None,
        }
    }

    fn deadline(&mut self, d: Option<&str>, path: &[Seg]) -> std::time::Duration {
        match d {
            None => std::time::Duration::from_secs(600),
            Some(d) => parse_duration(d).unwrap_or_else(|| {
                self.err(
                    Problem::new(
                        "bad_value",
                        format!("`{d}` is not a duration"),
                        self.span_value(path),
                    )
                    .help("write e.g. `90s`, `10m` or `1h`"),
                );
                std::time::Duration::from_secs(600)
            }),
        }
    }

    /// Check a template inside an archive step's params: `row`/`batch` need
    /// `for_each`; `row.COL` must be a column of the driving table.
    fn template_refs(
        &mut self,
        text: &str,
        path: &[Seg],
        has_for_each: bool,
        colrefs: &mut Vec<ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) {
        if !template::is_template(text) {
            return;
        }
        match template::references(text) {
            Ok(found) => {
                for r in found {
                    match (r.root.as_str(), &r.name) {
                        ("row" | "batch", _) if !has_for_each => self.err(
                            Problem::new(
                                "undefined_variable",
                                format!("`{}` is defined only in a step with `for_each`", r.root),
                                self.span_value(path),
                            )
                            .label("undefined")
                            .help("add `for_each: STEP`"),
                        ),
                        ("row", Some(col)) => colrefs.push(ColRef {
                            name: col.clone(),
                            path: path.to_vec(),
                            at_key: false,
                        }),
                        ("row" | "batch", _) => {}
                        _ => refs.push((r, path.to_vec())),
                    }
                }
            }
            Err(e) => self.err(
                Problem::new(
                    "bad_template",
                    format!("template error: {e}"),
                    self.span_value(path),
                )
                .label("in this template"),
            ),
        }
    }

    /// Check template/expression references; return the steps they read.
    fn check_refs(
        &mut self,
        refs: &[(Reference, Vec<Seg>)],
        params: &IndexMap<String, ParamValue>,
        env: &IndexMap<String, Option<String>>,
        me: usize,
        _done: &[Step],
    ) -> Vec<StepId> {
        let mut deps = Vec::new();
        let declared_params: Vec<&str> =
            self.loaded.raw.params.keys().map(String::as_str).collect();
        for (r, path) in refs {
            let span = self.span_value(path);
            match (r.root.as_str(), &r.name) {
                ("params", Some(n)) => {
                    if !declared_params.contains(&n.as_str()) {
                        let hint = crate::util::did_you_mean(n, declared_params.iter().copied())
                            .map(|s| format!("did you mean `params.{s}`?"))
                            .unwrap_or_else(|| "declare it under `params:`".into());
                        self.err(
                            Problem::new(
                                "undefined_variable",
                                format!("template reads `params.{n}`, which is not declared"),
                                span,
                            )
                            .label("undefined")
                            .help(hint),
                        );
                    }
                    let _ = params;
                }
                ("env", Some(n)) => {
                    if !env.contains_key(n) {
                        self.err(
                            Problem::new(
                                "undefined_variable",
                                format!(
                                    "template reads `env.{n}`, which the manifest does not allow"
                                ),
                                span,
                            )
                            .label("not in `env:`")
                            .help(format!("add `{n}` to the manifest's `env:` list")),
                        );
                    }
                }
                ("steps", Some(n)) => match self.index.get(n).copied() {
                    Some(i) if i == me => self.err(
                        Problem::new(
                            "cycle",
                            format!("step reads its own result `steps.{n}`"),
                            span,
                        )
                        .label("self-reference"),
                    ),
                    Some(i) => deps.push(i),
                    None => {
                        let hint =
                            crate::util::did_you_mean(n, self.names.iter().map(String::as_str))
                                .map(|s| format!("did you mean `steps.{s}`?"))
                                .unwrap_or_else(|| format!("steps: {}", self.names.join(", ")));
                        self.err(
                            Problem::new(
                                "undefined_variable",
                                format!("template reads `steps.{n}`, but there is no step `{n}`"),
                                span,
                            )
                            .label("unknown step")
                            .help(hint),
                        );
                    }
                },
                (root, None) if template::ROOTS.contains(&root) => {}
                (root, _) if is_global_function(root) => {}
                (root, _) => {
                    let hint = crate::util::did_you_mean(root, template::ROOTS.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| {
                            "templates read `params.NAME`, `env.NAME` and `steps.NAME`".into()
                        });
                    self.err(
                        Problem::new(
                            "undefined_variable",
                            format!("template reads undefined variable `{root}`"),
                            span,
                        )
                        .label("undefined")
                        .help(hint),
                    );
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    fn check_columns(
        &mut self,
        colrefs: &[ColRef],
        cols: &[String],
        upstream: &str,
        params: &IndexMap<String, ParamValue>,
    ) {
        let _ = params;
        for c in colrefs {
            if cols.contains(&c.name) {
                continue;
            }
            let span = if c.at_key {
                self.span_key(&c.path)
            } else {
                self.span_value(&c.path)
            };
            let hint = crate::util::did_you_mean(&c.name, cols.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("`{upstream}` has: {}", preview(cols)));
            self.err(
                Problem::new(
                    "unknown_column",
                    format!(
                        "column `{}` does not exist in the output of `{upstream}`",
                        c.name
                    ),
                    span,
                )
                .label("unknown column")
                .help(hint),
            );
        }
    }

    fn check_join_keys(
        &mut self,
        j: &raw::JoinStep,
        inputs: &[StepId],
        done: &[Step],
        at: &dyn Fn(&str) -> Vec<Seg>,
    ) {
        let pairs: Vec<(String, String, Vec<Seg>)> = match &j.on {
            raw::JoinOn::Same(v) => v
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), c.clone(), vec_with(&at("on"), Seg::Index(i))))
                .collect(),
            raw::JoinOn::Pairs(m) => m
                .iter()
                .map(|(a, b)| (a.clone(), b.clone(), vec_with(&at("on"), k(a))))
                .collect(),
        };
        for (side, idx) in [(0usize, inputs.first()), (1, inputs.get(1))] {
            let Some(s) = idx.and_then(|&i| done.get(i)) else {
                continue;
            };
            let Some(cols) = &s.columns else { continue };
            let refs: Vec<ColRef> = pairs
                .iter()
                .map(|(a, b, p)| ColRef {
                    name: if side == 0 { a.clone() } else { b.clone() },
                    path: p.clone(),
                    at_key: matches!(j.on, raw::JoinOn::Pairs(_)) && side == 0,
                })
                .collect();
            let name = s.name.clone();
            self.check_columns(&refs, &cols.clone(), &name, &IndexMap::new());
        }
    }

    /// Report every cycle (strongly connected component) with its steps.
    fn cycles(&mut self, steps: &[Step]) {
        let mut g = petgraph::graph::DiGraph::<usize, ()>::new();
        let nodes: Vec<_> = (0..steps.len()).map(|i| g.add_node(i)).collect();
        for (i, s) in steps.iter().enumerate() {
            for &d in &s.deps {
                if d < steps.len() {
                    g.add_edge(nodes[d], nodes[i], ());
                }
            }
        }
        for scc in petgraph::algo::tarjan_scc(&g) {
            if scc.len() < 2 {
                continue;
            }
            let mut ids: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
            ids.sort_unstable();
            let names: Vec<&str> = ids.iter().map(|&i| steps[i].name.as_str()).collect();
            let mut p = Problem::new("cycle", format!("steps form a cycle: {} → {}", names.join(" → "), names[0]), steps[ids[0]].span)
                .label("part of the cycle")
                .help("a step cannot depend, directly or through others, on itself; remove one of these references");
            for &i in &ids[1..] {
                p = p.also(steps[i].span, "also in the cycle");
            }
            self.err(p);
        }
    }

    fn outputs(&mut self, steps: &[Step], params: &IndexMap<String, ParamValue>) -> Vec<Output> {
        let mut out = Vec::new();
        let mut paths: Vec<(String, Span)> = Vec::new();
        for (i, o) in self.loaded.raw.outputs.iter().enumerate() {
            let base = vec![k("outputs"), Seg::Index(i)];
            let from = self.index.get(&o.from).copied();
            if from.is_none() {
                let hint =
                    crate::util::did_you_mean(&o.from, self.names.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`?"));
                self.err(
                    Problem::new(
                        "unknown_step",
                        format!("output reads unknown step `{}`", o.from),
                        self.span_value(&vec_with(&base, k("from"))),
                    )
                    .label("unknown step")
                    .maybe_help(hint),
                );
            }
            let pspan = self.span_value(&vec_with(&base, k("path")));
            if template::is_template(&o.path) {
                let literal = strip_template_segments(&o.path);
                if o.path.starts_with('/') || literal.split('/').any(|c| c == "..") {
                    self.err(
                        Problem::new(
                            "bad_path",
                            format!(
                                "output path `{}` must stay inside the output directory",
                                o.path
                            ),
                            pspan,
                        )
                        .label("absolute or `..`")
                        .help("write a relative path without `..`"),
                    );
                }
                match template::references(&o.path) {
                    Ok(refs) => {
                        let refs: Vec<(Reference, Vec<Seg>)> = refs
                            .into_iter()
                            .map(|r| (r, vec_with(&base, k("path"))))
                            .collect();
                        let env = IndexMap::new();
                        for (r, _) in &refs {
                            if r.root == "steps" || r.root == "env" {
                                let var = format!(
                                    "{}{}",
                                    r.root,
                                    r.name.as_ref().map(|n| format!(".{n}")).unwrap_or_default()
                                );
                                self.err(
                                    Problem::new("bad_template", format!("output path reads `{var}`; output paths may read only `params`"), pspan)
                                        .label("in this path")
                                        .help("use a param for the varying part of the path"),
                                );
                            }
                        }
                        let refs: Vec<_> = refs
                            .into_iter()
                            .filter(|(r, _)| r.root != "steps" && r.root != "env")
                            .collect();
                        self.check_refs(&refs, params, &env, usize::MAX, steps);
                    }
                    Err(e) => self.err(Problem::new(
                        "bad_template",
                        format!("template error: {e}"),
                        pspan,
                    )),
                }
            } else if let Err(why) = check_relative_path(&o.path) {
                self.err(
                    Problem::new("bad_path", format!("output path `{}` {why}", o.path), pspan)
                        .help("write a relative path inside the output directory"),
                );
            }
            if let Some((_, first)) = paths.iter().find(|(p, _)| *p == o.path) {
                self.err(
                    Problem::new(
                        "duplicate_output",
                        format!("two outputs write `{}`", o.path),
                        pspan,
                    )
                    .also(*first, "first written here")
                    .help("give each output its own path"),
                );
            }
            paths.push((o.path.clone(), pspan));
            let format = match o
                .format
                .or_else(|| crate::table::io::Format::from_path(Path::new(&o.path)))
            {
                Some(f) => f,
                None => {
                    self.err(
                        Problem::new("unknown_format", format!("cannot tell the format of `{}` from its extension", o.path), pspan)
                            .help("use .csv, .ecsv, .vot or .json, or set `format:` (csv, ecsv, votable, votable-binary2, json)"),
                    );
                    crate::table::io::Format::Csv
                }
            };
            if let (Some(cols), Some(f)) = (&o.columns, from) {
                if let Some(known) = &steps[f].columns {
                    let refs: Vec<ColRef> = cols
                        .iter()
                        .enumerate()
                        .map(|(j, c)| ColRef {
                            name: c.clone(),
                            path: vec_with(&vec_with(&base, k("columns")), Seg::Index(j)),
                            at_key: false,
                        })
                        .collect();
                    let name = steps[f].name.clone();
                    self.check_columns(&refs, &known.clone(), &name, params);
                }
            }
            if let Some(f) = from {
                out.push(Output {
                    from: f,
                    path: o.path.clone(),
                    format,
                    columns: o.columns.clone(),
                    span: self.span_key(&base),
                });
            }
        }
        out
    }
}

/// Every string leaf of a JSON value with its path.
/// Columns a `resolve` step adds.
pub const RESOLVED_COLUMNS: &[&str] = &["ra", "dec", "resolver", "canonical_name", "resolved"];

/// Columns an archive step returns, when known: CAOM's (or those asked
/// for) plus carried ones; products' fields; asked-for SI keywords.
fn mashup_columns(x: &MashupOp) -> Option<Vec<String>> {
    if let Some(q) = &x.caom {
        if q.count {
            let mut cols = vec!["count".to_string()];
            cols.extend(x.carry.iter().cloned());
            return Some(cols);
        }
        let mut cols: Vec<String> = if q.columns == "*" {
            crate::services::caom::names().map(str::to_string).collect()
        } else {
            q.columns.split(',').map(str::to_string).collect()
        };
        cols.extend(x.carry.iter().cloned());
        return Some(cols);
    }
    if x.dedupe.is_some() {
        return Some(
            crate::services::caom::PRODUCT_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
    }
    match &x.si {
        Some(q) if q.columns != "*" => Some(q.columns.split(',').map(str::to_string).collect()),
        _ => None,
    }
}

fn scalar_json(s: &raw::Scalar) -> serde_json::Value {
    match s {
        raw::Scalar::Bool(b) => serde_json::Value::Bool(*b),
        raw::Scalar::Int(i) => serde_json::Value::from(*i),
        raw::Scalar::Float(f) => serde_json::Value::from(*f),
        raw::Scalar::Str(t) => serde_json::Value::String(t.clone()),
    }
}

fn json_strings(v: &serde_json::Value, path: &mut Vec<Seg>, out: &mut Vec<(String, Vec<Seg>)>) {
    match v {
        serde_json::Value::String(s) => out.push((s.clone(), path.clone())),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                json_strings(x, path, out);
                path.pop();
            }
        }
        serde_json::Value::Object(m) => {
            for (k2, x) in m {
                path.push(Seg::Key(k2.clone()));
                json_strings(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `90s`, `10m`, `1h`, `500ms`, or bare seconds.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let x: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => x,
        "ms" => x / 1000.0,
        "m" | "min" => x * 60.0,
        "h" => x * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| std::time::Duration::from_secs_f64(secs))
}

/// A template with its `{{ }}` and `{% %}` segments removed.
fn strip_template_segments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['{']) {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            out.push('{');
            rest = &after[1..];
            continue;
        };
        match after.find(close) {
            Some(j) => rest = &after[j + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn vec_with(p: &[Seg], s: Seg) -> Vec<Seg> {
    let mut v = p.to_vec();
    v.push(s);
    v
}

fn preview(cols: &[String]) -> String {
    if cols.len() <= 8 {
        cols.join(", ")
    } else {
        format!("{}, ... ({} columns)", cols[..8].join(", "), cols.len())
    }
}

fn is_global_function(name: &str) -> bool {
    matches!(
        name,
        "hms_to_deg"
            | "dms_to_deg"
            | "angle_deg"
            | "mjd"
            | "range"
            | "dict"
            | "namespace"
            | "lipsum"
            | "cycler"
            | "joiner"
            | "debug"
    )
}

/// Reject absolute paths and `..` components.
pub fn check_relative_path(p: &str) -> Result<(), &'static str> {
    let path = Path::new(p);
    if p.is_empty() {
        return Err("is empty");
    }
    if path.is_absolute() {
        return Err("is absolute");
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err("leaves the output directory (`..`)");
    }
    if p.chars().any(|c| c == '\0' || c.is_control()) {
        return Err("contains control characters");
    }
    Ok(())
}

pub fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// The type with its article: "an integer", "a number"...
fn type_name(t: raw::ParamType) -> &'static str {
    match t {
        raw::ParamType::String => "a string",
        raw::ParamType::Integer => "an integer",
        raw::ParamType::Number => "a number",
        raw::ParamType::Boolean => "a boolean (true/false)",
        raw::ParamType::List => "a comma-separated list",
    }
}

fn parse_param_text(s: &str, t: raw::ParamType) -> Result<ParamValue, String> {
    Ok(match t {
        raw::ParamType::String => ParamValue::Str(s.to_string()),
        raw::ParamType::Integer => ParamValue::Int(
            s.trim()
                .parse()
                .map_err(|_| format!("`{s}` is not an integer"))?,
        ),
        raw::ParamType::Number => ParamValue::Float(
            s.trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number"))?,
        ),
        raw::ParamType::Boolean => ParamValue::Bool(
            crate::table::normalize::parse_bool(s)
                .ok_or_else(|| format!("`{s}` is not true or false"))?,
        ),
        raw::ParamType::List => ParamValue::List(
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        ),
    })
}

fn param_from_default(d: &raw::ScalarOrList, t: raw::ParamType) -> Result<ParamValue, String> {
    use raw::Scalar as S;
    Ok(match (d, t) {
        (raw::ScalarOrList::Many(v), raw::ParamType::List) => {
            ParamValue::List(v.iter().map(scalar_text).collect())
        }
        (raw::ScalarOrList::One(s), raw::ParamType::List) => ParamValue::List(vec![scalar_text(s)]),
        (raw::ScalarOrList::Many(_), _) => {
            return Err("is a list, but the type is not `list`".into());
        }
        (raw::ScalarOrList::One(S::Str(s)), raw::ParamType::String) => ParamValue::Str(s.clone()),
        (raw::ScalarOrList::One(s), raw::ParamType::String) => ParamValue::Str(scalar_text(s)),
        (raw::ScalarOrList::One(S::Int(i)), raw::ParamType::Integer) => ParamValue::Int(*i),
        (raw::ScalarOrList::One(S::Int(i)), raw::ParamType::Number) => ParamValue::Float(*i as f64),
        (raw::ScalarOrList::One(S::Float(f)), raw::ParamType::Number) => ParamValue::Float(*f),
        (raw::ScalarOrList::One(S::Bool(b)), raw::ParamType::Boolean) => ParamValue::Bool(*b),
        (raw::ScalarOrList::One(s), t) => {
            return Err(format!("`{}` is not {}", scalar_text(s), type_name(t)));
        }
    })
}

fn param_text(v: &ParamValue) -> String {
    match v {
        ParamValue::Str(s) => s.clone(),
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => f.to_string(),
        ParamValue::Bool(b) => b.to_string(),
        ParamValue::List(l) => l.join(","),
    }
}

pub fn scalar_text(s: &raw::Scalar) -> String {
    scalar_value(s).as_ref().display()
}

fn scalar_f64(s: &raw::Scalar) -> Option<f64> {
    match s {
        raw::Scalar::Int(i) => Some(*i as f64),
        raw::Scalar::Float(f) => Some(*f),
        _ => None,
    }
}

pub fn scalar_value(s: &raw::Scalar) -> Value {
    match s {
        raw::Scalar::Bool(b) => Value::Bool(*b),
        raw::Scalar::Int(i) => Value::Int(*i),
        raw::Scalar::Float(f) => Value::Float(*f),
        raw::Scalar::Str(s) => Value::Str(s.clone()),
    }
}

fn inline_rows(
    rows: &[IndexMap<String, Option<raw::Scalar>>],
    decls: &[(String, ColumnDecl)],
) -> Table {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        for n in r.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let cols = names
        .iter()
        .map(|n| {
            let vals: Vec<Value> = rows
                .iter()
                .map(|r| {
                    r.get(n)
                        .and_then(|v| v.as_ref())
                        .map_or(Value::Null, scalar_value)
                })
                .collect();
            let ty = decls.iter().find(|(d, _)| d == n).and_then(|(_, d)| d.ty);
            crate::table::Column::from_values(n.clone(), &vals, ty)
        })
        .collect();
    Table::new(cols).unwrap_or_default()
}

/// Apply declared types and metadata to a table's columns.
pub fn apply_decls(mut t: Table, decls: &[(String, ColumnDecl)]) -> Result<Table, String> {
    for (n, d) in decls {
        let Some(i) = t.index_of(n) else { continue };
        let mut col = t.columns()[i].clone();
        if let Some(ty) = d.ty {
            col = col.cast(ty).map_err(|e| e.to_string())?;
        }
        let mut meta = d.meta.clone();
        meta.merge_missing(&col.meta);
        col.meta = meta;
        t.set_column(col).map_err(|e| e.to_string())?;
    }
    Ok(t)
}

/// Parse `count`, `sum(col)`, ...
pub fn parse_agg(s: &str) -> Result<Agg, String> {
    let s = s.trim();
    if s == "count" || s == "count()" || s == "count(*)" {
        return Ok(Agg::Count);
    }
    let (f, rest) = s
        .split_once('(')
        .ok_or_else(|| format!("expected `function(column)`, got `{s}`"))?;
    let arg = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("missing `)` in `{s}`"))?
        .trim();
    if arg.is_empty() {
        return Err(format!("`{f}` needs a column"));
    }
    let col = arg.to_string();
    Ok(match f.trim() {
        "count_distinct" => Agg::CountDistinct(col),
        "sum" => Agg::Sum(col),
        "min" => Agg::Min(col),
        "max" => Agg::Max(col),
        "mean" | "avg" => Agg::Mean(col),
        "first" => Agg::First(col),
        "concat" => Agg::Concat(col, ";".into()),
        other => return Err(format!("unknown function `{other}`")),
    })
}

fn agg_column(a: &Agg) -> Option<&str> {
    match a {
        Agg::Count => None,
        Agg::CountDistinct(c)
        | Agg::Sum(c)
        | Agg::Min(c)
        | Agg::Max(c)
        | Agg::Mean(c)
        | Agg::First(c)
        | Agg::Concat(c, _) => Some(c),
    }
}

/// Columns a step produces, when known.
fn infer_columns(rs: &RawStep, op: &Op, inputs: &[StepId], done: &[Step]) -> Option<Vec<String>> {
    let up = |i: usize| {
        inputs
            .get(i)
            .and_then(|&id| done.get(id))
            .and_then(|s| s.columns.clone())
    };
    match op {
        Op::Table(TableOp::Static { table, .. }) => {
            Some(table.column_names().map(str::to_string).collect())
        }
        Op::Table(TableOp::File { .. } | TableOp::Invalid) => None,
        Op::Filter { .. }
        | Op::Sort { .. }
        | Op::Unique { .. }
        | Op::Head { .. }
        | Op::Assert(_) => up(0),
        Op::Select { columns, .. } => Some(columns.clone()),
        Op::Drop { columns, .. } => {
            up(0).map(|c| c.into_iter().filter(|x| !columns.contains(x)).collect())
        }
        Op::Rename { columns, .. } => up(0).map(|c| {
            c.into_iter()
                .map(|x| {
                    columns
                        .iter()
                        .find(|(o, _)| *o == x)
                        .map_or(x, |(_, n)| n.clone())
                })
                .collect()
        }),
        Op::Derive { columns, .. } => up(0).map(|mut c| {
            for d in columns {
                if !c.contains(&d.name) {
                    c.push(d.name.clone());
                }
            }
            c
        }),
        Op::Union { tag, .. } => {
            let mut out: Vec<String> = Vec::new();
            for i in 0..inputs.len() {
                for c in up(i)? {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
            if let Some(t) = tag {
                out.push(t.clone());
            }
            Some(out)
        }
        Op::Join { on, suffixes, .. } => {
            let (l, r) = (up(0)?, up(1)?);
            let shared = |n: &str| on.iter().any(|(a, b)| a == b && a == n);
            let mut out: Vec<String> = l
                .iter()
                .map(|c| {
                    if !shared(c) && r.contains(c) {
                        format!("{c}{}", suffixes.0)
                    } else {
                        c.clone()
                    }
                })
                .collect();
            out.extend(r.iter().filter(|c| !shared(c)).map(|c| {
                if l.contains(c) {
                    format!("{c}{}", suffixes.1)
                } else {
                    c.clone()
                }
            }));
            Some(out)
        }
        Op::Mashup(x) => mashup_columns(x),
        Op::FilterProducts { .. } => up(0),
        Op::Resolve { .. } => up(0).map(|mut c| {
            c.extend(RESOLVED_COLUMNS.iter().map(|s| s.to_string()));
            c
        }),
        Op::Group { by, aggregates, .. } => {
            let _ = rs;
            Some(
                by.iter()
                    .cloned()
                    .chain(aggregates.iter().map(|(n, _)| n.clone()))
                    .collect(),
            )
        }
    }
}
