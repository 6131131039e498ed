//! The DAG: a checked manifest compiled into a petgraph graph of steps.
//!
//! The plan owns the graph, a deterministic topological order, the level of
//! each step (its longest distance from a source; steps of one level can run
//! at once), the selection made with `--select`, and the renderings `mastflow
//! plan` prints: text, Graphviz DOT and JSON.

use crate::validate::{Manifest, Op, StepId, TableOp};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;
use thiserror::Error;

/// Errors building a plan.
#[derive(Debug, Error)]
pub enum PlanError {
    #[error("--select {name}: no step named `{name}`{hint}")]
    UnknownSelection { name: String, hint: String },
    #[error("the steps form a cycle through `{0}`")]
    Cycle(String),
}

/// A compiled plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub graph: DiGraph<StepId, ()>,
    nodes: Vec<NodeIndex>,
    /// Steps in a deterministic topological order (manifest order among ready steps).
    pub order: Vec<StepId>,
    /// Level of each step.
    pub levels: Vec<usize>,
    /// Whether each step runs in this invocation.
    pub selected: Vec<bool>,
}

impl Plan {
    /// Build the graph for `m`, selecting steps by name (`NAME` = the step and
    /// everything it needs; `NAME+` = also everything downstream of it).
    pub fn build(m: &Manifest, select: &[String]) -> Result<Plan, PlanError> {
        let n = m.steps.len();
        let mut graph = DiGraph::with_capacity(n, n * 2);
        let nodes: Vec<NodeIndex> = (0..n).map(|i| graph.add_node(i)).collect();
        for (i, s) in m.steps.iter().enumerate() {
            for &d in &s.deps {
                graph.add_edge(nodes[d], nodes[i], ());
            }
        }
        let order = kahn(m, &graph, &nodes)?;
        let mut levels = vec![0usize; n];
        for &i in &order {
            levels[i] = m.steps[i]
                .deps
                .iter()
                .map(|&d| levels[d] + 1)
                .max()
                .unwrap_or(0);
        }
        let selected = select_steps(m, &graph, &nodes, select)?;
        Ok(Plan {
            graph,
            nodes,
            order,
            levels,
            selected,
        })
    }

    /// Steps downstream of `id` (not including it).
    pub fn dependants(&self, id: StepId) -> Vec<StepId> {
        let mut out = BTreeSet::new();
        let mut stack = vec![self.nodes[id]];
        while let Some(nx) = stack.pop() {
            for nb in self
                .graph
                .neighbors_directed(nx, petgraph::Direction::Outgoing)
            {
                if out.insert(self.graph[nb]) {
                    stack.push(nb);
                }
            }
        }
        out.into_iter().collect()
    }

    pub fn num_levels(&self) -> usize {
        self.levels.iter().max().map_or(0, |m| m + 1)
    }

    /// Text rendering: one block per level.
    pub fn text(&self, m: &Manifest) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "plan `{}`: {} steps in {} levels, {} outputs",
            m.name,
            m.steps.len(),
            self.num_levels(),
            m.outputs.len()
        );
        for level in 0..self.num_levels() {
            let _ = writeln!(s, "level {level}:");
            for &i in self.order.iter().filter(|&&i| self.levels[i] == level) {
                let st = &m.steps[i];
                let mark = if self.selected[i] { " " } else { "-" };
                let _ = writeln!(
                    s,
                    " {mark} {:<20} {:<8} {}",
                    st.name,
                    st.kind,
                    describe(m, i)
                );
            }
        }
        if !m.outputs.is_empty() {
            let _ = writeln!(s, "outputs:");
            for o in &m.outputs {
                let _ = writeln!(
                    s,
                    "   {} <- {} ({})",
                    o.path,
                    m.steps[o.from].name,
                    o.format.name()
                );
            }
        }
        if self.selected.iter().any(|x| !x) {
            let _ = writeln!(s, "(steps marked - are not selected)");
        }
        s
    }

    /// Graphviz DOT rendering.
    pub fn dot(&self, m: &Manifest) -> String {
        let mut s = String::from(
            "digraph mastflow {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for &i in &self.order {
            let st = &m.steps[i];
            let style = if self.selected[i] {
                ""
            } else {
                ", style=dashed"
            };
            let _ = writeln!(
                s,
                "  {} [label=\"{}\\n{}\"{style}];",
                quote(&st.name),
                escape(&st.name),
                escape(st.kind)
            );
        }
        for &i in &self.order {
            for &d in &m.steps[i].deps {
                let dashed = if m.steps[i].inputs.contains(&d) {
                    ""
                } else {
                    " [style=dotted]"
                };
                let _ = writeln!(
                    s,
                    "  {} -> {}{dashed};",
                    quote(&m.steps[d].name),
                    quote(&m.steps[i].name)
                );
            }
        }
        for (j, o) in m.outputs.iter().enumerate() {
            let _ = writeln!(s, "  out{j} [label=\"{}\", shape=note];", escape(&o.path));
            let _ = writeln!(s, "  {} -> out{j};", quote(&m.steps[o.from].name));
        }
        s.push_str("}\n");
        s
    }

    /// JSON rendering.
    pub fn json(&self, m: &Manifest) -> serde_json::Value {
        #[derive(Serialize)]
        struct StepJ<'a> {
            name: &'a str,
            kind: &'a str,
            level: usize,
            selected: bool,
            inputs: Vec<&'a str>,
            deps: Vec<&'a str>,
            description: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            columns: Option<&'a Vec<String>>,
        }
        let steps: Vec<StepJ<'_>> = self
            .order
            .iter()
            .map(|&i| {
                let st = &m.steps[i];
                StepJ {
                    name: &st.name,
                    kind: st.kind,
                    level: self.levels[i],
                    selected: self.selected[i],
                    inputs: st
                        .inputs
                        .iter()
                        .map(|&d| m.steps[d].name.as_str())
                        .collect(),
                    deps: st.deps.iter().map(|&d| m.steps[d].name.as_str()).collect(),
                    description: describe(m, i),
                    columns: st.columns.as_ref(),
                }
            })
            .collect();
        serde_json::json!({
            "name": m.name,
            "manifest_sha256": m.sha256,
            "levels": self.num_levels(),
            "steps": steps,
            "outputs": m.outputs.iter().map(|o| serde_json::json!({"path": o.path, "from": m.steps[o.from].name, "format": o.format.name()})).collect::<Vec<_>>(),
        })
    }
}

fn kahn(
    m: &Manifest,
    graph: &DiGraph<StepId, ()>,
    nodes: &[NodeIndex],
) -> Result<Vec<StepId>, PlanError> {
    let n = m.steps.len();
    let mut indeg: Vec<usize> = (0..n)
        .map(|i| {
            graph
                .neighbors_directed(nodes[i], petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    // Min-heap on manifest position: deterministic order, manifest order among ready steps.
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for nb in graph.neighbors_directed(nodes[i], petgraph::Direction::Outgoing) {
            let j = graph[nb];
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() != n {
        let stuck = (0..n)
            .find(|i| indeg[*i] > 0)
            .map(|i| m.steps[i].name.clone())
            .unwrap_or_default();
        return Err(PlanError::Cycle(stuck));
    }
    Ok(order)
}

fn select_steps(
    m: &Manifest,
    graph: &DiGraph<StepId, ()>,
    nodes: &[NodeIndex],
    select: &[String],
) -> Result<Vec<bool>, PlanError> {
    let n = m.steps.len();
    if select.is_empty() {
        return Ok(vec![true; n]);
    }
    let mut chosen = vec![false; n];
    for sel in select {
        let (name, downstream) = match sel.strip_suffix('+') {
            Some(x) => (x, true),
            None => (sel.as_str(), false),
        };
        let name = name.strip_prefix('+').unwrap_or(name);
        let id = m.step_id(name).ok_or_else(|| PlanError::UnknownSelection {
            name: name.to_string(),
            hint: crate::util::did_you_mean(name, m.steps.iter().map(|s| s.name.as_str()))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default(),
        })?;
        let mut seeds = vec![id];
        if downstream {
            let mut stack = vec![nodes[id]];
            while let Some(nx) = stack.pop() {
                for nb in graph.neighbors_directed(nx, petgraph::Direction::Outgoing) {
                    if !seeds.contains(&graph[nb]) {
                        seeds.push(graph[nb]);
                        stack.push(nb);
                    }
                }
            }
        }
        // Everything the seeds need runs too.
        let mut stack: Vec<StepId> = seeds;
        while let Some(i) = stack.pop() {
            if !chosen[i] {
                chosen[i] = true;
                stack.extend(&m.steps[i].deps);
            }
        }
    }
    Ok(chosen)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn describe_specs(specs: &[crate::table::filter::Spec]) -> String {
    use crate::table::filter::Spec;
    let one = |s: &Spec| match s {
        Spec::Value(v) if v.is_null() => "null".to_string(),
        Spec::Value(v) => v.as_ref().display(),
        Spec::Range { min, max } => format!(
            "{}..{}",
            min.as_ref()
                .map(|v| v.as_ref().display())
                .unwrap_or_default(),
            max.as_ref()
                .map(|v| v.as_ref().display())
                .unwrap_or_default()
        ),
    };
    match specs {
        [s] => format!("= {}", one(s)),
        _ => format!(
            "in [{}]",
            specs.iter().map(one).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A search's criteria and cone as `plan` shows them: ` where a = 1,
/// t_exptime 100..; cone (ra, dec) radius 30s = 0.00833°`, so a wrong value
/// or radius is seen before anything is sent. Templates are shown as written.
fn describe_search(
    m: &Manifest,
    criteria: &[(String, crate::validate::CaomCriterion)],
    position: Option<&crate::validate::PositionText>,
) -> String {
    use crate::validate::{CaomCriterion, Target};
    let ctx = m.template_context();
    let shown = |s: &str| params_rendered(&ctx, s);
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => shown(s),
        other => other.to_string(),
    };
    let mut out = String::new();
    if !criteria.is_empty() {
        let parts: Vec<String> = criteria
            .iter()
            .map(|(col, c)| match c {
                CaomCriterion::Values(v) if v.len() == 1 => format!("{col} = {}", text(&v[0])),
                CaomCriterion::Values(v) => format!(
                    "{col} in [{}]",
                    v.iter().map(text).collect::<Vec<_>>().join(", ")
                ),
                CaomCriterion::Range { min, max } => format!(
                    "{col} {}..{}",
                    min.as_ref().map(text).unwrap_or_default(),
                    max.as_ref().map(text).unwrap_or_default()
                ),
            })
            .collect();
        out.push_str(&format!(" where {}", parts.join(", ")));
    }
    if let Some(p) = position {
        let centre = match &p.target {
            Target::Coords { ra, dec } => format!("({}, {})", shown(ra), shown(dec)),
            Target::Object(o) => format!("around `{}`", shown(o)),
        };
        let radius = shown(&p.radius);
        let deg = crate::table::units::radius_deg(&radius, crate::validate::CONE_MAX_DEG)
            .map(|d| format!(" = {}°", fmt_deg(d)))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}cone {centre} radius {radius}{deg}",
            if out.is_empty() { " in a " } else { "; " },
        ));
    }
    out
}

/// A template that reads only `params` rendered with their values (what
/// will be sent); any other text as written.
fn params_rendered(ctx: &crate::template::Context, s: &str) -> String {
    let only_params = crate::template::is_template(s)
        && crate::template::references(s).is_ok_and(|refs| refs.iter().all(|r| r.root == "params"));
    match only_params {
        true => ctx.render(s).unwrap_or_else(|_| s.to_string()),
        false => s.to_string(),
    }
}

/// Degrees with 3 significant digits past the leading zeros (0.00833, 2.5).
fn fmt_deg(d: f64) -> String {
    let digits = (2 - d.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{d:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// One line saying what a step will do.
pub fn describe(m: &Manifest, i: StepId) -> String {
    let st = &m.steps[i];
    let name = |id: &StepId| m.steps.get(*id).map_or("?", |s| s.name.as_str());
    match &st.op {
        Op::Table(TableOp::Static { table, origin }) => format!(
            "{} rows × {} columns from {origin}",
            table.num_rows(),
            table.num_columns()
        ),
        Op::Table(TableOp::File { path, .. }) => format!("read {path} at run time"),
        Op::Table(TableOp::Invalid) => "invalid table".into(),
        Op::Filter { from, filter, expr } => {
            let mut parts = Vec::new();
            if let Some(f) = filter {
                parts.extend(
                    f.conditions
                        .iter()
                        .map(|c| format!("{} {}", c.column, describe_specs(&c.specs))),
                );
            }
            if let Some(e) = expr {
                parts.push(e.clone());
            }
            format!("rows of {} where {}", name(from), parts.join(" and "))
        }
        Op::Select { from, columns } => format!("columns {} of {}", columns.join(", "), name(from)),
        Op::Drop { from, columns } => format!("{} without {}", name(from), columns.join(", ")),
        Op::Rename { from, columns } => format!(
            "{} renaming {}",
            name(from),
            columns
                .iter()
                .map(|(a, b)| format!("{a}→{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Op::Derive { from, columns } => format!(
            "{} plus {}",
            name(from),
            columns
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Op::Sort { from, keys } => format!(
            "{} sorted by {}",
            name(from),
            keys.iter()
                .map(|k| if k.descending {
                    format!("-{}", k.column)
                } else {
                    k.column.clone()
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Op::Unique { from, keys, .. } => {
            if keys.is_empty() {
                format!("distinct rows of {}", name(from))
            } else {
                format!("{} unique on {}", name(from), keys.join(", "))
            }
        }
        Op::Head { from, n } => format!("first {n} rows of {}", name(from)),
        Op::Union { from, tag } => format!(
            "stack {}{}",
            from.iter().map(name).collect::<Vec<_>>().join(" + "),
            tag.as_ref()
                .map(|t| format!(" tagged in `{t}`"))
                .unwrap_or_default()
        ),
        Op::Join {
            left,
            right,
            on,
            how,
            ..
        } => format!(
            "{how:?} join {} ⋈ {} on {}",
            name(left),
            name(right),
            on.iter()
                .map(|(a, b)| if a == b {
                    a.clone()
                } else {
                    format!("{a}={b}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
        .to_lowercase(),
        Op::Group {
            from,
            by,
            aggregates,
        } => format!(
            "{} grouped by {} with {}",
            name(from),
            by.join(", "),
            aggregates
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Op::FilterProducts {
            from,
            filter,
            extensions,
            mrp_only,
        } => {
            let mut parts: Vec<String> = filter
                .conditions
                .iter()
                .map(|c| format!("{} {}", c.column, describe_specs(&c.specs)))
                .collect();
            if !extensions.is_empty() {
                parts.push(format!("extension in [{}]", extensions.join(", ")));
            }
            if *mrp_only {
                parts.push("minimum recommended products".into());
            }
            format!("products of {} where {}", name(from), parts.join(" and "))
        }
        Op::Crossmatch(x) => format!(
            "sky match {} × {} within {:.3}\" ({:?}, {:?})",
            name(&x.left),
            name(&x.right),
            x.radius_deg * 3600.0,
            x.find,
            x.join
        ),
        Op::DownloadPlan {
            from,
            layout,
            cloud,
        } => format!(
            "download plan of {} ({layout:?} layout{})",
            name(from),
            if *cloud { ", cloud URIs" } else { "" }
        ),
        Op::Missions(mm) => format!(
            "{} missions search{}",
            mm.mission,
            describe_search(m, &mm.conditions, mm.position.as_ref())
        ),
        Op::Tap(t) => {
            let mode = match t.mode {
                crate::services::tap::Mode::Sync => "sync",
                crate::services::tap::Mode::Async => "async",
                crate::services::tap::Mode::Auto => "sync, async on timeout",
            };
            let paging = match (t.overflow, &t.page_by) {
                (crate::validate::Overflow::Page, Some(k)) => {
                    format!(", paged by {k} in pages of {}", t.page_size)
                }
                (crate::validate::Overflow::Page, None) => {
                    format!(", paged with OFFSET in pages of {}", t.page_size)
                }
                _ => String::new(),
            };
            format!("ADQL query to TAP {} ({mode}{paging})", t.service.name())
        }
        Op::Resolve { from, column, .. } => format!(
            "resolve names in {}.{column} (Mast.Name.Lookup)",
            name(from)
        ),
        Op::Mashup(x) => {
            let search = match (&x.caom, &x.si) {
                (Some(q), _) => describe_search(m, &q.criteria, q.position.as_ref()),
                (None, Some(q)) => describe_search(m, &q.criteria, None),
                (None, None) => String::new(),
            };
            match x.for_each {
                Some(f) => format!(
                    "{} once per {} row(s) of {}{search}",
                    x.service,
                    x.batch,
                    name(&f)
                ),
                None => format!("{}{search}", x.service),
            }
        }
        Op::Assert(a) => {
            let mut checks = Vec::new();
            match (a.rows_min, a.rows_max) {
                (Some(x), Some(y)) if x == y => checks.push(format!("rows == {x}")),
                (Some(x), Some(y)) => checks.push(format!("{x} <= rows <= {y}")),
                (Some(x), None) => checks.push(format!("rows >= {x}")),
                (None, Some(y)) => checks.push(format!("rows <= {y}")),
                _ => {}
            }
            if !a.not_null.is_empty() {
                checks.push(format!("not_null {}", a.not_null.join(",")));
            }
            for u in &a.unique {
                checks.push(format!("unique {}", u.join(",")));
            }
            for (c, _) in &a.accepted_values {
                checks.push(format!("accepted_values {c}"));
            }
            if let Some(e) = &a.expr {
                checks.push(e.clone());
            }
            format!(
                "check {}: {}{}",
                name(&a.from),
                checks.join("; "),
                if a.warn_only { " (warn)" } else { "" }
            )
        }
    }
}
