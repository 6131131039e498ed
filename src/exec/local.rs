//! Local steps: table sources and transforms, run on the blocking pool.

use super::StepError;
use crate::table::expr::RowExpr;
use crate::table::filter::{Filter, Spec};
use crate::table::{Table, Value, ops};
use crate::template::Context;
use crate::validate::{AssertOp, Manifest, Op, TableOp, apply_decls, resolve_path};
use std::sync::Arc;

/// What a local step produced.
pub struct LocalResult {
    pub table: Arc<Table>,
    /// Facts worth reporting (e.g. "dropped 3 duplicate rows").
    pub notes: Vec<String>,
    /// A failed `assert` (the table still passes through).
    pub assertion: Option<String>,
}

impl LocalResult {
    fn table(table: Table) -> Self {
        Self::shared(Arc::new(table))
    }

    pub fn from_table(table: Table) -> Self {
        Self::table(table)
    }

    fn shared(table: Arc<Table>) -> Self {
        Self {
            table,
            notes: Vec::new(),
            assertion: None,
        }
    }
}

/// Run one local step on its input tables.
pub fn run(
    m: &Manifest,
    op: &Op,
    inputs: &[Arc<Table>],
    ctx: &Context,
) -> Result<LocalResult, StepError> {
    // An archive step with no rows to ask about returns a table with no
    // columns; transforms of it are empty too instead of failing on columns
    // that could not be known.
    let nothing = |t: &Arc<Table>| t.num_rows() == 0 && t.num_columns() == 0;
    let passes_nothing = !matches!(
        op,
        Op::Table(_) | Op::Union { .. } | Op::Join { .. } | Op::Assert(_)
    );
    if passes_nothing && !inputs.is_empty() && inputs.iter().all(nothing) {
        let mut r = LocalResult::table(Table::empty());
        r.notes.push("empty input".into());
        return Ok(r);
    }
    let input = || {
        inputs
            .first()
            .cloned()
            .ok_or_else(|| StepError::Internal("missing input".into()))
    };
    Ok(match op {
        Op::Table(TableOp::Static { table, .. }) => LocalResult::shared(table.clone()),
        Op::Mashup(_)
        | Op::Resolve { .. }
        | Op::Missions(_)
        | Op::Tap(_)
        | Op::DownloadPlan { .. } => {
            return Err(StepError::Internal("a remote step was run locally".into()));
        }
        Op::Table(TableOp::Invalid) => {
            return Err(StepError::Internal("an invalid table step was run".into()));
        }
        Op::Table(TableOp::File {
            path,
            format,
            decls,
        }) => {
            let rendered = ctx.render(path).map_err(StepError::Template)?;
            let p = resolve_path(&m.base_dir, &rendered);
            let p = crate::validate::read_trust::check(&m.base_dir, &m.allow_read, &p)
                .map_err(StepError::Invalid)?;
            let t = crate::table::io::read_path(&p, *format)?;
            LocalResult::table(apply_decls(t, decls).map_err(StepError::Invalid)?)
        }
        Op::Filter { filter, expr, .. } => {
            let t = input()?;
            let mut mask = match filter {
                Some(f) => render_filter(f, ctx)?.mask(&t)?,
                None => vec![true; t.num_rows()],
            };
            if let Some(e) = expr {
                let e = RowExpr::compile(e).map_err(StepError::Invalid)?;
                let m2 = e.mask(&t, ctx.vars())?;
                mask.iter_mut().zip(m2).for_each(|(a, b)| *a &= b);
            }
            let out = t.filter_mask(&mask);
            let dropped = t.num_rows() - out.num_rows();
            let mut r = LocalResult::table(out);
            r.notes.push(format!(
                "kept {} of {} rows",
                r.table.num_rows(),
                dropped + r.table.num_rows()
            ));
            r
        }
        Op::FilterProducts {
            filter,
            extensions,
            mrp_only,
            ..
        } => {
            let t = input()?;
            let mut mask = render_filter(filter, ctx)?.mask(&t)?;
            if *mrp_only {
                let c = t.column("productGroupDescription")?;
                mask.iter_mut().enumerate().for_each(|(i, m)| {
                    *m &= c.get(i).as_str() == Some("Minimum Recommended Products")
                });
            }
            if !extensions.is_empty() {
                let c = t.column("productFilename")?;
                let exts: Vec<String> = extensions.iter().map(|e| e.to_ascii_lowercase()).collect();
                mask.iter_mut().enumerate().for_each(|(i, m)| {
                    *m &= c.get(i).as_str().is_some_and(|f| {
                        let f = f.to_ascii_lowercase();
                        exts.iter().any(|e| f.ends_with(e.as_str()))
                    })
                });
            }
            let out = t.filter_mask(&mask);
            let mut r = LocalResult::table(out);
            r.notes.push(format!(
                "kept {} of {} products",
                r.table.num_rows(),
                t.num_rows()
            ));
            r
        }
        Op::Crossmatch(x) => {
            let (Some(l), Some(r)) = (inputs.first(), inputs.get(1)) else {
                return Err(StepError::Internal("crossmatch needs two inputs".into()));
            };
            let t = crate::table::xmatch::sky_match(
                (l, &x.left_position),
                (r, &x.right_position),
                x.radius_deg,
                x.find,
                x.join,
                (&x.suffixes.0, &x.suffixes.1),
            )?;
            LocalResult::table(t)
        }
        Op::Select { columns, .. } => LocalResult::table(ops::select(&*input()?, columns)?),
        Op::Drop { columns, .. } => LocalResult::table(ops::drop(&*input()?, columns)?),
        Op::Rename { columns, .. } => LocalResult::table(ops::rename(&*input()?, columns)?),
        Op::Derive { columns, .. } => {
            let mut t = (*input()?).clone();
            for d in columns {
                let e = RowExpr::compile(&d.expr).map_err(StepError::Invalid)?;
                let shared = Arc::new(t);
                let mut col = e.column(&d.name, &shared, ctx.vars(), d.ty)?;
                col.meta = d.meta.clone();
                t = Arc::try_unwrap(shared).unwrap_or_else(|a| (*a).clone());
                t.set_column(col)?;
            }
            LocalResult::table(t)
        }
        Op::Sort { keys, .. } => LocalResult::table(ops::sort(&*input()?, keys)?),
        Op::Unique { keys, keep, .. } => {
            let (t, dropped) = ops::unique(&*input()?, keys, *keep)?;
            let mut r = LocalResult::table(t);
            r.notes.push(format!("dropped {dropped} duplicate rows"));
            r
        }
        Op::Head { n, .. } => LocalResult::table(input()?.head(*n)),
        Op::Union { from, tag } => {
            let mut tagged: Vec<Table> = Vec::with_capacity(inputs.len());
            for (t, id) in inputs.iter().zip(from) {
                let mut t = (**t).clone();
                if let Some(tag) = tag {
                    let name = m.steps[*id].name.clone();
                    let col = crate::table::Column::from_values(
                        tag.clone(),
                        &vec![Value::Str(name); t.num_rows()],
                        Some(crate::table::DataType::String),
                    );
                    t.set_column(col)?;
                }
                tagged.push(t);
            }
            let refs: Vec<&Table> = tagged.iter().collect();
            LocalResult::table(ops::union(&refs)?)
        }
        Op::Join {
            on, how, suffixes, ..
        } => {
            let (l, r) = (inputs.first(), inputs.get(1));
            let (Some(l), Some(r)) = (l, r) else {
                return Err(StepError::Internal("join needs two inputs".into()));
            };
            LocalResult::table(ops::join(l, r, on, *how, (&suffixes.0, &suffixes.1))?)
        }
        Op::Group { by, aggregates, .. } => {
            LocalResult::table(ops::group(&*input()?, by, aggregates)?)
        }
        Op::Assert(a) => {
            let t = input()?;
            let failures = check_assert(a, &t, ctx)?;
            let mut r = LocalResult::shared(t);
            if !failures.is_empty() {
                let msg = match &a.message {
                    Some(m) => format!("{m}: {}", failures.join("; ")),
                    None => failures.join("; "),
                };
                if a.warn_only {
                    r.notes.push(format!("warning: {msg}"));
                } else {
                    r.assertion = Some(msg);
                }
            }
            r
        }
    })
}

/// Render templated values of a structured filter.
fn render_filter(f: &Filter, ctx: &Context) -> Result<Filter, StepError> {
    let mut out = f.clone();
    for c in &mut out.conditions {
        for s in &mut c.specs {
            if let Spec::Value(Value::Str(text)) = s {
                if crate::template::is_template(text) {
                    *text = ctx.render(text).map_err(StepError::Template)?;
                }
            }
        }
    }
    Ok(out)
}

fn check_assert(a: &AssertOp, t: &Arc<Table>, ctx: &Context) -> Result<Vec<String>, StepError> {
    let mut fails = Vec::new();
    let n = t.num_rows() as u64;
    match (a.rows_min, a.rows_max) {
        (Some(x), Some(y)) if x == y && n != x => {
            fails.push(format!("expected {x} rows, found {n}"))
        }
        (Some(x), _) if n < x => fails.push(format!("expected at least {x} rows, found {n}")),
        (_, Some(y)) if n > y => fails.push(format!("expected at most {y} rows, found {n}")),
        _ => {}
    }
    if n == 0 && t.num_columns() == 0 {
        // An archive step had nothing to ask about: no columns to check.
        return Ok(fails);
    }
    for c in &a.not_null {
        let nulls = t.column(c)?.null_count();
        if nulls > 0 {
            fails.push(format!("`{c}` has {nulls} null value(s)"));
        }
    }
    for keys in &a.unique {
        let (u, dropped) = ops::unique(t, keys, ops::Keep::First)?;
        drop(u);
        if dropped > 0 {
            fails.push(format!(
                "{} not unique: {dropped} duplicate row(s)",
                keys.join(", ")
            ));
        }
    }
    for (c, allowed) in &a.accepted_values {
        let col = t.column(c)?;
        let mut bad: Vec<String> = Vec::new();
        for v in col.iter().filter(|v| !v.is_null()) {
            let ok = allowed.iter().any(|a| match (a, v) {
                (Value::Str(s), crate::table::ValueRef::Str(x)) => s.eq_ignore_ascii_case(x),
                (a, v) => a.as_ref().key_eq(v),
            });
            let text = v.display();
            if !ok && !bad.contains(&text) {
                bad.push(text);
            }
        }
        if !bad.is_empty() {
            bad.sort();
            fails.push(format!(
                "`{c}` has values outside the accepted list: {}",
                bad.into_iter().take(10).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if let Some(e) = &a.expr {
        let e = RowExpr::compile(e).map_err(StepError::Invalid)?;
        let mask = e.mask(t, ctx.vars())?;
        let failing: Vec<usize> = mask
            .iter()
            .enumerate()
            .filter(|(_, ok)| !**ok)
            .map(|(i, _)| i)
            .collect();
        if !failing.is_empty() {
            fails.push(format!(
                "{} row(s) fail `{}` (first: row {})",
                failing.len(),
                e.source(),
                failing[0]
            ));
        }
    }
    Ok(fails)
}
