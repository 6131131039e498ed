//! Archive steps: requests to MAST, fanned out over the rows of an upstream
//! table in batches, concurrently (the HTTP layer bounds requests per host).

use super::local::LocalResult;
use super::{Observer, StepError};
use crate::services::mashup::Mashup;
use crate::table::{Column, Table, ops};
use crate::template::{Context, row_value};
use crate::validate::{
    CaomCriterion, CaomQuery, MashupOp, MissionsOp, Op, PositionText, SiQuery, Target,
};
use crate::wire::types::{self, WireType};
use serde_json::Value as J;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinSet;

/// The archive clients a run may use.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// The MAST base URL (download URLs are built on it).
    pub base_url: String,
    pub http: Option<Arc<crate::services::http::Http>>,
    pub mashup: Option<Mashup>,
    pub missions: Option<crate::services::missions::Missions>,
    pub tap: Option<crate::services::tap::Tap>,
    /// Where async TAP jobs are journalled (`<out>/run.jobs.json`).
    pub journal: Option<Arc<crate::services::tap::journal::Journal>>,
}

/// What a remote step produced, with its request count.
pub struct RemoteResult {
    pub local: LocalResult,
    pub requests: u64,
    pub cache_hits: u64,
    /// SHA-256 over the canonical keys of the Mashup requests, in batch
    /// order: what was asked of MAST, independent of what it answered.
    pub requests_sha256: Option<String>,
    /// Async TAP jobs that answered.
    pub jobs: Vec<String>,
}

/// Run a remote step.
pub async fn run(
    name: &str,
    op: &Op,
    inputs: &[Arc<Table>],
    ctx: &Context,
    services: &Services,
    obs: &Arc<dyn Observer>,
) -> Result<RemoteResult, StepError> {
    match op {
        Op::Mashup(m) => mashup(name, m, inputs, ctx, services, obs).await,
        Op::DownloadPlan { layout, cloud, .. } => {
            download_plan(name, *layout, *cloud, inputs, services, obs).await
        }
        Op::Missions(m) => missions(name, m, ctx, services, obs).await,
        Op::Tap(t) => super::tap::run(name, t, ctx, services, obs).await,
        Op::Resolve {
            column,
            fail_unresolved,
            ..
        } => resolve(name, column, *fail_unresolved, inputs, services, obs).await,
        _ => Err(StepError::Internal("not a remote step".into())),
    }
}

/// Build a download plan from products; with `cloud`, public files get
/// their S3 URIs from MAST's path_lookup.
async fn download_plan(
    name: &str,
    layout: crate::services::download::Layout,
    cloud: bool,
    inputs: &[Arc<Table>],
    services: &Services,
    obs: &Arc<dyn Observer>,
) -> Result<RemoteResult, StepError> {
    use crate::services::download;
    let products = inputs
        .first()
        .ok_or_else(|| StepError::Internal("download_plan input missing".into()))?;
    if products.num_rows() == 0 && products.num_columns() == 0 {
        return Ok(RemoteResult {
            local: LocalResult::from_table(Table::empty()),
            requests: 0,
            cache_hits: 0,
            requests_sha256: None,
            jobs: Vec::new(),
        });
    }
    let base = mast_base(services);
    let mut plan =
        download::plan(products, base, layout).map_err(|e| StepError::Invalid(e.to_string()))?;
    download::add_observations(&mut plan, products)
        .map_err(|e| StepError::Invalid(e.to_string()))?;
    let mut requests = 0;
    if cloud {
        let http = services.http.as_ref().ok_or_else(|| {
            StepError::Invalid("no MAST service is configured for this run".into())
        })?;
        requests = download::add_cloud_uris(&mut plan, http, base)
            .await
            .map_err(|e| StepError::Service(e.to_string()))?;
    }
    obs.step_progress(name, plan.num_rows(), requests);
    let dropped = products.num_rows() - plan.num_rows();
    let mut local = LocalResult::from_table(plan);
    local.notes.push(format!(
        "{} files; {dropped} duplicate product rows dropped",
        products.num_rows() - dropped
    ));
    Ok(RemoteResult {
        local,
        requests,
        cache_hits: 0,
        requests_sha256: None,
        jobs: Vec::new(),
    })
}

/// A missions-API search: conditions rendered, lists comma-joined and
/// ranges written `a..b` as the server reads them.
async fn missions(
    name: &str,
    op: &MissionsOp,
    ctx: &Context,
    services: &Services,
    obs: &Arc<dyn Observer>,
) -> Result<RemoteResult, StepError> {
    use crate::services::missions::Search;
    let client = services.missions.clone().ok_or_else(|| {
        StepError::Invalid("no MAST missions service is configured for this run".into())
    })?;
    let mut conditions = Vec::new();
    for (col, c) in &op.conditions {
        let text = |v: J| match v {
            J::String(s) => s,
            other => other.to_string(),
        };
        let value = match c {
            // Literals go as written (astroquery passes Python values
            // through); template text stays a string.
            CaomCriterion::Values(v) => {
                let vals = render_values(v, ctx, WireType::Any)?;
                match vals.as_slice() {
                    [one] => one.clone(),
                    many => J::String(many.iter().cloned().map(text).collect::<Vec<_>>().join(",")),
                }
            }
            CaomCriterion::Range { min, max } => {
                let end = |v: &Option<J>| -> Result<Option<String>, StepError> {
                    Ok(v.as_ref()
                        .map(|x| render_leaf(x, ctx, WireType::String))
                        .transpose()?
                        .map(text)
                        .filter(|s| !s.trim().is_empty()))
                };
                let (lo, hi) = (end(min)?, end(max)?);
                let range =
                    types::mission_range(lo.as_deref(), hi.as_deref()).ok_or_else(|| {
                        StepError::Invalid(format!(
                            "condition `{col}`: a range needs `min` or `max`"
                        ))
                    })?;
                J::String(range)
            }
        };
        conditions.push((col.clone(), value));
    }
    let position = match &op.position {
        None => None,
        Some(p) => {
            let (ra, dec, deg) = position_deg(p, ctx, services).await?;
            Some((ra, dec, deg * 3600.0))
        }
    };
    let search = Search {
        conditions,
        position,
        select_cols: op.columns.clone(),
        sort_by: op.sort_by.clone(),
        page_size: op.page_size,
    };
    let found = client
        .search(&op.mission, &search)
        .await
        .map_err(|e| StepError::Service(e.to_string()))?;
    obs.step_progress(name, found.table.num_rows(), found.requests);
    Ok(RemoteResult {
        local: LocalResult::from_table(found.table),
        requests: found.requests,
        cache_hits: 0,
        requests_sha256: None,
        jobs: Vec::new(),
    })
}

/// A name, what MAST resolved it to, and the requests it took.
type Lookup = (String, Option<crate::wire::ResolvedCoordinate>, u64);

/// Resolve every distinct name once (concurrently; the HTTP layer bounds
/// requests per host) and add coordinates to every row. Unresolved names are
/// never dropped: the step fails naming them, or keeps them flagged.
async fn resolve(
    name: &str,
    column: &str,
    fail_unresolved: bool,
    inputs: &[Arc<Table>],
    services: &Services,
    obs: &Arc<dyn Observer>,
) -> Result<RemoteResult, StepError> {
    use crate::table::{DataType, Value};
    let client = services
        .mashup
        .clone()
        .ok_or_else(|| StepError::Invalid("no MAST service is configured for this run".into()))?;
    let input = inputs
        .first()
        .ok_or_else(|| StepError::Internal("resolve input missing".into()))?;
    let names_col = input.column(column)?;
    let mut distinct: Vec<String> = Vec::new();
    for v in names_col.iter() {
        if let Some(s) = v.as_str() {
            if !distinct.iter().any(|d| d == s) {
                distinct.push(s.to_string());
            }
        }
    }
    let mut set: JoinSet<Result<Lookup, StepError>> = JoinSet::new();
    for n in distinct {
        let client = client.clone();
        let scope = crate::services::http::current_scope();
        set.spawn(crate::services::http::in_scope(scope, async move {
            let (hit, requests) = client
                .lookup_name(&n)
                .await
                .map_err(|e| StepError::Service(e.to_string()))?;
            Ok((n, hit, requests))
        }));
    }
    let mut found: std::collections::HashMap<String, Option<crate::wire::ResolvedCoordinate>> =
        std::collections::HashMap::new();
    let mut requests = 0u64;
    while let Some(j) = set.join_next().await {
        let (n, hit, r) = j.map_err(|e| StepError::Internal(e.to_string()))??;
        requests += r;
        found.insert(n, hit);
        obs.step_progress(name, found.len(), requests);
    }
    let mut missing: Vec<String> = found
        .iter()
        .filter(|(_, h)| h.is_none())
        .map(|(n, _)| n.clone())
        .collect();
    missing.sort();
    if names_col.null_count() > 0 {
        missing.push(format!("({} empty name(s))", names_col.null_count()));
    }
    if fail_unresolved && !missing.is_empty() {
        return Err(StepError::Service(format!(
            "MAST could not resolve: {} (use `unresolved: keep` to keep them flagged)",
            missing.join(", ")
        )));
    }
    let n = input.num_rows();
    let (mut ra, mut dec, mut resolver, mut canonical, mut ok) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for v in names_col.iter() {
        match v
            .as_str()
            .and_then(|s| found.get(s))
            .and_then(|h| h.as_ref())
        {
            Some(h) => {
                ra.push(Value::Float(h.ra));
                dec.push(Value::Float(h.decl));
                resolver.push(Value::Str(h.resolver.clone()));
                canonical.push(Value::Str(h.canonical_name.clone()));
                ok.push(Value::Bool(true));
            }
            None => {
                for c in [&mut ra, &mut dec, &mut resolver, &mut canonical] {
                    c.push(Value::Null);
                }
                ok.push(Value::Bool(false));
            }
        }
    }
    let mut t = (**input).clone();
    let unit = |c: Column, u: &str, ucd: &str| {
        let mut c = c;
        c.meta.unit = Some(u.into());
        c.meta.ucd = Some(ucd.into());
        c
    };
    t.set_column(unit(
        Column::from_values("ra", &ra, Some(DataType::Float)),
        "deg",
        "pos.eq.ra",
    ))?;
    t.set_column(unit(
        Column::from_values("dec", &dec, Some(DataType::Float)),
        "deg",
        "pos.eq.dec",
    ))?;
    t.set_column(Column::from_values(
        "resolver",
        &resolver,
        Some(DataType::String),
    ))?;
    t.set_column(Column::from_values(
        "canonical_name",
        &canonical,
        Some(DataType::String),
    ))?;
    t.set_column(Column::from_values("resolved", &ok, Some(DataType::Bool)))?;
    let mut local = LocalResult::from_table(t);
    if !missing.is_empty() {
        local
            .notes
            .push(format!("warning: unresolved: {}", missing.join(", ")));
    }
    Ok(RemoteResult {
        local,
        requests,
        cache_hits: 0,
        requests_sha256: None,
        jobs: Vec::new(),
    })
}

/// What one request of a fan-out gave: its index, table, request key and
/// warning, if any.
type PartResult = (usize, Table, String, Option<String>);

/// One request of a fan-out: its batch of driving rows, if any.
struct Part {
    index: usize,
    rows: Option<Table>,
}

async fn mashup(
    name: &str,
    op: &MashupOp,
    inputs: &[Arc<Table>],
    ctx: &Context,
    services: &Services,
    obs: &Arc<dyn Observer>,
) -> Result<RemoteResult, StepError> {
    let client = services
        .mashup
        .clone()
        .ok_or_else(|| StepError::Invalid("no MAST service is configured for this run".into()))?;
    let parts: Vec<Part> = match op.for_each {
        None => vec![Part {
            index: 0,
            rows: None,
        }],
        Some(_) => {
            let driving = inputs
                .first()
                .ok_or_else(|| StepError::Internal("for_each input missing".into()))?;
            (0..driving.num_rows())
                .step_by(op.batch)
                .enumerate()
                .map(|(index, start)| {
                    let idx: Vec<usize> =
                        (start..(start.saturating_add(op.batch)).min(driving.num_rows())).collect();
                    Part {
                        index,
                        rows: Some(driving.take(&idx)),
                    }
                })
                .collect()
        }
    };
    let total_parts = parts.len();
    let driving_rows: usize = parts
        .iter()
        .filter_map(|p| p.rows.as_ref())
        .map(Table::num_rows)
        .sum();
    let mut skipped = 0;
    let requests = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(AtomicU64::new(0));
    let rows_done = Arc::new(AtomicU64::new(0));
    let mut set: JoinSet<Result<PartResult, StepError>> = JoinSet::new();
    for part in parts {
        let part_ctx = part_context(ctx, part.rows.as_ref());
        let params = match (&op.caom, &op.si) {
            (Some(q), _) => caom_params(q, &part_ctx, services).await?,
            (None, Some(q)) => si_params(q, &part_ctx)?,
            (None, None) => render_params(&op.service, &op.params, &part_ctx)?,
        };
        let (client, service, deadline, carry) = (
            client.clone(),
            op.service.clone(),
            op.deadline,
            op.carry.clone(),
        );
        let (requests, rows_done, obs, name) = (
            requests.clone(),
            rows_done.clone(),
            obs.clone(),
            name.to_string(),
        );
        let hits = hits.clone();
        // Server-side cross-match: the batch itself is the request's `data`.
        let sent = match &part.rows {
            Some(b) if op.upload => Some(super::upload::prepare(b, &op.params)?),
            _ => None,
        };
        skipped += sent.as_ref().map_or(0, |u| u.skipped);
        let data = sent.as_ref().map(|u| upload_json(&u.table));
        let scope = crate::services::http::current_scope();
        set.spawn(crate::services::http::in_scope(scope, async move {
            let fetched = client
                .invoke(&service, params, data, deadline)
                .await
                .map_err(|e| StepError::Service(e.to_string()))?;
            hits.fetch_add(fetched.cache_hits, Ordering::Relaxed);
            let key = fetched.ask.clone();
            let n = requests.fetch_add(fetched.requests, Ordering::Relaxed) + fetched.requests;
            let rows = rows_done.fetch_add(fetched.table.num_rows() as u64, Ordering::Relaxed)
                + fetched.table.num_rows() as u64;
            obs.step_progress(&name, rows as usize, n);
            let mut t = fetched.table;
            if let Some(batch) = &part.rows {
                add_carried(&mut t, batch, &carry)?;
            }
            let warning = match &sent {
                Some(u) => super::upload::attribute(&mut t, &u.table)?,
                None => None,
            };
            Ok((part.index, t, key, warning))
        }));
    }
    let mut results: Vec<PartResult> = Vec::with_capacity(total_parts);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => return Err(StepError::Internal(format!("request task failed: {e}"))),
        }
    }
    results.sort_by_key(|(i, ..)| *i);
    let keys: Vec<&str> = results.iter().map(|(_, _, k, _)| k.as_str()).collect();
    let requests_sha256 = Some(crate::util::sha256_hex(keys.join("\n").as_bytes()));
    let tables: Vec<&Table> = results.iter().map(|(_, t, ..)| t).collect();
    let table = if tables.is_empty() {
        Table::empty()
    } else {
        ops::union(&tables)?
    };
    let table = match &op.caom {
        Some(q) if q.count => count_table(table, q.max)?,
        _ => table,
    };
    let (table, dropped) = match &op.dedupe {
        Some(key) if table.index_of(key).is_some() => {
            ops::unique(&table, std::slice::from_ref(key), ops::Keep::First)?
        }
        _ => (table, 0),
    };
    let mut local = LocalResult::from_table(table);
    if op.dedupe.is_some() {
        local.notes.push(format!(
            "dropped {dropped} duplicate rows (same {})",
            op.dedupe.as_deref().unwrap_or_default()
        ));
    }
    if op.for_each.is_some() {
        local.notes.push(if op.batch >= driving_rows {
            format!("{total_parts} request(s) for all {driving_rows} rows")
        } else {
            format!("{total_parts} request(s) for batches of {}", op.batch)
        });
    }
    if skipped > 0 {
        local
            .notes
            .push(format!("{skipped} row(s) without a position were not sent"));
    }
    if let Some(w) = results.iter().find_map(|(.., w)| w.clone()) {
        local.notes.push(w);
    }
    Ok(RemoteResult {
        local,
        requests: requests.load(Ordering::Relaxed),
        cache_hits: hits.load(Ordering::Relaxed),
        requests_sha256,
        jobs: Vec::new(),
    })
}

/// A table as a Mashup upload: `{"fields": [{name, type}], "data": [{...}]}`.
fn upload_json(t: &Table) -> J {
    let fields: Vec<J> = t
        .columns()
        .iter()
        .map(|c| {
            let ty = match c.data_type() {
                crate::table::DataType::Bool => "boolean",
                crate::table::DataType::Int => "int",
                crate::table::DataType::Float => "float",
                crate::table::DataType::String => "string",
            };
            serde_json::json!({"name": c.name, "type": ty})
        })
        .collect();
    let data: Vec<J> = (0..t.num_rows())
        .map(|r| {
            J::Object(
                t.columns()
                    .iter()
                    .map(|c| (c.name.clone(), c.get(r).to_json()))
                    .collect(),
            )
        })
        .collect();
    serde_json::json!({"fields": fields, "data": data})
}

/// Copy the carried columns of the batch's (single) row into every result row.
fn add_carried(t: &mut Table, batch: &Table, carry: &[String]) -> Result<(), StepError> {
    for c in carry {
        let v = batch.column(c)?.get(0).to_owned();
        let col = Column::from_values(
            c.clone(),
            &vec![v; t.num_rows()],
            Some(batch.column(c)?.data_type()),
        );
        if t.index_of(c).is_some() {
            return Err(StepError::Invalid(format!(
                "carried column `{c}` already exists in the service's result; rename it first"
            )));
        }
        t.push_column(col)?;
    }
    Ok(())
}

/// The template context of one request: `row` and `batch` describe the
/// driving rows.
fn part_context(ctx: &Context, rows: Option<&Table>) -> Context {
    let mut ctx = ctx.clone();
    if let Some(b) = rows {
        if b.num_rows() > 0 {
            ctx.set("row", row_value(b, 0));
        }
        ctx.set("batch", crate::template::table_value(Arc::new(b.clone())));
    }
    ctx
}

/// Mashup params of a CAOM search, after rendering templates (astroquery's
/// filter rules; position converted to degrees).
async fn caom_params(q: &CaomQuery, ctx: &Context, services: &Services) -> Result<J, StepError> {
    use crate::services::caom::{self, Criterion};
    let mut filters = Vec::new();
    for (col, c) in &q.criteria {
        let crit = match c {
            CaomCriterion::Values(v) => {
                let flat = render_values(v, ctx, WireType::Any)?;
                if flat.is_empty() {
                    return Err(StepError::Invalid(format!(
                        "criterion `{col}` has no values (an empty upstream list?)"
                    )));
                }
                Criterion::Values(flat)
            }
            CaomCriterion::Range { min, max } => {
                let num = |v: &Option<J>| -> Result<Option<f64>, StepError> {
                    match v
                        .as_ref()
                        .map(|x| render_leaf(x, ctx, WireType::Any))
                        .transpose()?
                    {
                        None | Some(J::Null) => Ok(None),
                        Some(J::Number(n)) => Ok(n.as_f64()),
                        Some(J::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                            StepError::Invalid(format!("criterion `{col}`: `{s}` is not a number"))
                        }),
                        Some(other) => Err(StepError::Invalid(format!(
                            "criterion `{col}`: `{other}` is not a number"
                        ))),
                    }
                };
                Criterion::Range {
                    min: num(min)?,
                    max: num(max)?,
                }
            }
        };
        filters.push(caom::filter(col, &crit).map_err(StepError::Invalid)?);
    }
    let mut params = serde_json::Map::new();
    params.insert("columns".into(), J::String(q.columns.clone()));
    params.insert("filters".into(), J::Array(filters));
    if let Some(p) = &q.position {
        let (ra, dec, radius) = position_deg(p, ctx, services).await?;
        params.insert(
            "position".into(),
            J::String(caom::position(ra, dec, radius)),
        );
    }
    Ok(J::Object(params))
}

/// Mashup params of an SI-keyword search: values passed as given (as the
/// notebook's `set_params` does); ranges of ISO dates become MJD ranges on
/// the `_mjd` twin column.
fn si_params(q: &SiQuery, ctx: &Context) -> Result<J, StepError> {
    let mut filters = Vec::new();
    for (col, c) in &q.criteria {
        let (name, values) = match c {
            // Discrete values are strings, as astroquery's filters send them.
            CaomCriterion::Values(v) => (
                col.clone(),
                J::Array(render_values(v, ctx, WireType::String)?),
            ),
            CaomCriterion::Range { min, max } => {
                let r = |v: &Option<J>| {
                    v.as_ref()
                        .map(|x| render_leaf(x, ctx, WireType::Any))
                        .transpose()
                };
                let (min, max) = (r(min)?, r(max)?);
                let is_date = |v: &Option<J>| {
                    v.as_ref()
                        .and_then(J::as_str)
                        .is_some_and(|s| s.trim().parse::<f64>().is_err())
                };
                let dates = is_date(&min) || is_date(&max);
                let conv = |v: Option<J>| -> Result<J, StepError> {
                    match v {
                        None => Ok(J::Null),
                        Some(J::String(s)) if dates => crate::table::normalize::iso_to_mjd(&s)
                            .map(J::from)
                            .ok_or_else(|| {
                                StepError::Invalid(format!("`{col}`: `{s}` is not an ISO date"))
                            }),
                        Some(J::String(s)) => s.trim().parse::<f64>().map(J::from).map_err(|_| {
                            StepError::Invalid(format!("`{col}`: `{s}` is not a number"))
                        }),
                        Some(other) => Ok(other),
                    }
                };
                let name = if dates && !col.ends_with("_mjd") {
                    format!("{col}_mjd")
                } else {
                    col.clone()
                };
                (
                    name,
                    J::Array(vec![types::closed_range(
                        Some(conv(min)?),
                        Some(conv(max)?),
                    )]),
                )
            }
        };
        filters.push(serde_json::json!({"paramName": name, "values": values}));
    }
    Ok(serde_json::json!({"columns": q.columns, "filters": filters}))
}

/// A cone's centre and radius in degrees, after rendering templates; an
/// object name is resolved by MAST.
async fn position_deg(
    p: &PositionText,
    ctx: &Context,
    services: &Services,
) -> Result<(f64, f64, f64), StepError> {
    let r = |t: &str| ctx.render(t).map_err(StepError::Template);
    let rad_t = r(&p.radius)?;
    let radius = crate::table::units::radius_deg(&rad_t, crate::validate::CONE_MAX_DEG)
        .map_err(|r| StepError::Invalid(format!("position radius: {r}")))?;
    let (ra, dec) = match &p.target {
        Target::Coords { ra, dec } => {
            let (ra_t, dec_t) = (r(ra)?, r(dec)?);
            let ra = crate::table::expr::parse_ra(&ra_t).ok_or_else(|| {
                StepError::Invalid(format!(
                    "position ra `{ra_t}` is not valid (degrees or hh:mm:ss)"
                ))
            })?;
            let dec = crate::table::expr::parse_dec(&dec_t).ok_or_else(|| {
                StepError::Invalid(format!(
                    "position dec `{dec_t}` is not valid (degrees or dd:mm:ss)"
                ))
            })?;
            (ra, dec)
        }
        Target::Object(o) => {
            let name = r(o)?;
            let client = services.mashup.as_ref().ok_or_else(|| {
                StepError::Invalid("no MAST service is configured for this run".into())
            })?;
            let (hit, _) = client
                .lookup_name(&name)
                .await
                .map_err(|e| StepError::Service(e.to_string()))?;
            let hit = hit.ok_or_else(|| {
                StepError::Service(format!(
                    "MAST could not resolve the object name `{name}`; give `ra` and `dec` instead"
                ))
            })?;
            (hit.ra, hit.decl)
        }
    };
    Ok((ra, dec, radius))
}

/// COUNT_BIG's `Column1` as an int column `count`, one row per request;
/// fails above `max`.
fn count_table(t: Table, max: Option<u64>) -> Result<Table, StepError> {
    let counts = match t.index_of("Column1") {
        Some(i) => t.columns()[i]
            .cast(crate::table::DataType::Int)?
            .renamed("count"),
        None if t.num_rows() == 0 => Column::empty("count", crate::table::DataType::Int),
        None => {
            return Err(StepError::Service(
                "COUNT_BIG(*) answer has no `Column1`".into(),
            ));
        }
    };
    let mut out = Table::new(vec![counts])?;
    for c in t.columns().iter().filter(|c| c.name != "Column1") {
        out.push_column(c.clone())?;
    }
    if let Some(max) = max {
        let over: Vec<i64> = out
            .column("count")?
            .iter()
            .filter_map(|v| {
                if let crate::table::ValueRef::Int(n) = v {
                    Some(n)
                } else {
                    None
                }
            })
            .filter(|n| *n as u64 > max)
            .collect();
        if !over.is_empty() {
            return Err(StepError::Invalid(format!(
                "{} observations match, more than `max: {max}`; refusing to fetch them (narrow the search or raise `max`)",
                over.iter().max().unwrap_or(&0)
            )));
        }
    }
    Ok(out)
}

/// The MAST base URL of a run (MAST itself when none is configured).
pub(super) fn mast_base(services: &Services) -> &str {
    if services.base_url.is_empty() {
        "https://mast.stsci.edu"
    } else {
        services.base_url.as_str()
    }
}

/// Render criterion values for slots of type `t`; a value that renders to
/// a list is spliced in.
fn render_values(v: &[J], ctx: &Context, t: WireType) -> Result<Vec<J>, StepError> {
    let mut flat = Vec::new();
    for x in v {
        match render_leaf(x, ctx, t)? {
            J::Array(items) => flat.extend(items),
            one => flat.push(one),
        }
    }
    Ok(flat)
}

/// Render a value for a slot of wire type `t` (see `wire::types`): template
/// text is converted to the slot's type, never guessed from how it looks;
/// a whole template that renders a JSON list (`| tojson`) is spliced item
/// by item; inside objects, `min`/`max` are numbers and the filter keys
/// strings.
fn render_leaf(v: &J, ctx: &Context, t: WireType) -> Result<J, StepError> {
    let mismatch = |m: crate::wire::types::Mismatch| StepError::Invalid(m.to_string());
    Ok(match v {
        J::String(s) if crate::template::is_template(s) => {
            let text = ctx.render(s).map_err(StepError::Template)?;
            match spliced_list(s, &text) {
                Some(items) => J::Array(
                    items
                        .iter()
                        .map(|x| types::from_literal(x, t).map_err(mismatch))
                        .collect::<Result<_, _>>()?,
                ),
                None => types::from_text(&text, t).map_err(mismatch)?,
            }
        }
        J::Array(a) => J::Array(
            a.iter()
                .map(|x| render_leaf(x, ctx, t))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_leaf(x, ctx, key_type(k, t))?)))
                .collect::<Result<_, StepError>>()?,
        ),
        literal => types::from_literal(literal, t).map_err(mismatch)?,
    })
}

/// The wire type of a key inside an object whose slot is `t`.
fn key_type(key: &str, t: WireType) -> WireType {
    match types::filter_key(key) {
        WireType::Any => t,
        known => known,
    }
}

/// A whole template (`"{{ x | tojson }}"`) whose text is a JSON list.
fn spliced_list(template: &str, text: &str) -> Option<Vec<J>> {
    let s = template.trim();
    let whole = s.starts_with("{{") && s.ends_with("}}") && s.matches("{{").count() == 1;
    if !whole || !text.trim_start().starts_with('[') {
        return None;
    }
    match serde_json::from_str::<J>(text) {
        Ok(J::Array(a)) => Some(a),
        _ => None,
    }
}

/// The params of a Mashup request, each top-level parameter rendered for
/// its slot in `wire::types`' table of the service.
fn render_params(service: &str, params: &J, ctx: &Context) -> Result<J, StepError> {
    let J::Object(m) = params else {
        return render_leaf(params, ctx, WireType::Any);
    };
    let mut out = serde_json::Map::new();
    for (k, x) in m {
        let t = match k.as_str() {
            "filters" => WireType::String,
            _ => types::mashup_param(service, k),
        };
        let v = render_leaf(x, ctx, t).map_err(|e| match e {
            StepError::Invalid(msg) => {
                StepError::Invalid(format!("{service} parameter `{k}`: {msg}"))
            }
            other => other,
        })?;
        out.insert(k.clone(), v);
    }
    Ok(J::Object(out))
}
