//! Archive steps: requests to MAST, fanned out over the rows of an upstream
//! table in batches, concurrently (the HTTP layer bounds requests per host).

use super::local::LocalResult;
use super::{Observer, StepError};
use crate::services::mashup::Mashup;
use crate::table::{Column, Table, ops};
use crate::template::{Context, row_value};
use crate::validate::{MashupOp, Op};
use serde_json::Value as J;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinSet;

/// The archive clients a run may use.
#[derive(Debug, Clone, Default)]
pub struct Services {
    pub mashup: Option<Mashup>,
}

/// What a remote step produced, with its request count.
pub struct RemoteResult {
    pub local: LocalResult,
    pub requests: u64,
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
        _ => Err(StepError::Internal("not a remote step".into())),
    }
}

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
                        (start..(start + op.batch).min(driving.num_rows())).collect();
                    Part {
                        index,
                        rows: Some(driving.take(&idx)),
                    }
                })
                .collect()
        }
    };
    let total_parts = parts.len();
    let requests = Arc::new(AtomicU64::new(0));
    let rows_done = Arc::new(AtomicU64::new(0));
    let mut set: JoinSet<Result<(usize, Table), StepError>> = JoinSet::new();
    for part in parts {
        let params = render_params(&op.params, ctx, part.rows.as_ref())?;
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
        set.spawn(async move {
            let fetched = client
                .invoke(&service, params, None, deadline)
                .await
                .map_err(|e| StepError::Service(e.to_string()))?;
            let n = requests.fetch_add(fetched.requests, Ordering::Relaxed) + fetched.requests;
            let rows = rows_done.fetch_add(fetched.table.num_rows() as u64, Ordering::Relaxed)
                + fetched.table.num_rows() as u64;
            obs.step_progress(&name, rows as usize, n);
            let mut t = fetched.table;
            if let Some(batch) = &part.rows {
                add_carried(&mut t, batch, &carry)?;
            }
            Ok((part.index, t))
        });
    }
    let mut results: Vec<(usize, Table)> = Vec::with_capacity(total_parts);
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
    results.sort_by_key(|(i, _)| *i);
    let tables: Vec<&Table> = results.iter().map(|(_, t)| t).collect();
    let table = if tables.is_empty() {
        Table::empty()
    } else {
        ops::union(&tables)?
    };
    let mut local = LocalResult::from_table(table);
    if op.for_each.is_some() {
        local.notes.push(format!(
            "{total_parts} request(s) for batches of {}",
            op.batch
        ));
    }
    Ok(RemoteResult {
        local,
        requests: requests.load(Ordering::Relaxed),
    })
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

/// Render every string leaf of the params; `row` and `batch` describe the
/// driving rows. A leaf that is exactly one template yielding a number stays a
/// number.
fn render_params(params: &J, ctx: &Context, rows: Option<&Table>) -> Result<J, StepError> {
    let mut ctx = ctx.clone();
    if let Some(b) = rows {
        if b.num_rows() > 0 {
            ctx.set("row", row_value(b, 0));
        }
        ctx.set("batch", crate::template::table_value(Arc::new(b.clone())));
    }
    render_json(params, &ctx)
}

fn render_json(v: &J, ctx: &Context) -> Result<J, StepError> {
    Ok(match v {
        J::String(s) if crate::template::is_template(s) => {
            let text = ctx.render(s).map_err(StepError::Template)?;
            let whole = s.trim().starts_with("{{")
                && s.trim().ends_with("}}")
                && s.matches("{{").count() == 1;
            match text.parse::<f64>() {
                Ok(x) if whole && x.is_finite() => {
                    if let Ok(i) = text.parse::<i64>() {
                        J::from(i)
                    } else {
                        J::from(x)
                    }
                }
                _ => J::String(text),
            }
        }
        J::Array(a) => J::Array(
            a.iter()
                .map(|x| render_json(x, ctx))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_json(x, ctx)?)))
                .collect::<Result<_, StepError>>()?,
        ),
        other => other.clone(),
    })
}
