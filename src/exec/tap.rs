//! Running a `tap` step: render the ADQL (quoting filters only), send it
//! (sync, async or sync-then-async), apply the overflow policy, and with
//! `overflow: page` fetch page after page until the result is complete.

use super::local::LocalResult;
use super::remote::{RemoteResult, Services, mast_base};
use super::{Observer, StepError};
use crate::services::tap::adql::{self, Literal, PageStart};
use crate::services::tap::{self, Answer, JobSlot, Query};
use crate::table::{Table, ValueRef, ops};
use crate::template::Context;
use crate::validate::{Overflow, TapOp, TapService};
use std::sync::Arc;

/// What the pages of a step added up to.
#[derive(Default)]
struct Tally {
    requests: u64,
    cache_hits: u64,
    asks: Vec<String>,
    jobs: Vec<String>,
    notes: Vec<String>,
}

impl Tally {
    fn add(&mut self, a: &Answer) {
        self.requests += a.requests;
        self.cache_hits += u64::from(a.cache_hit);
        self.asks.push(a.ask.clone());
        self.jobs.extend(a.job.clone());
        for n in &a.notes {
            if !self.notes.contains(n) {
                self.notes.push(n.clone());
            }
        }
    }
}

/// Run a `tap` step.
pub async fn run(
    name: &str,
    op: &TapOp,
    ctx: &Context,
    services: &Services,
    obs: &Arc<dyn Observer>,
) -> Result<RemoteResult, StepError> {
    let client = services
        .tap
        .clone()
        .ok_or_else(|| StepError::Invalid("no TAP client is configured for this run".into()))?;
    let adql_text = ctx.render_adql(&op.query).map_err(StepError::Template)?;
    let service = match &op.service {
        TapService::Mast(c) => tap::mast_service_url(mast_base(services), c),
        TapService::Url(u) => u.clone(),
    };
    let target = Target {
        op,
        service,
        journal: services.journal.clone(),
    };
    let mut tally = Tally::default();
    let table = match op.overflow {
        Overflow::Page => pages(name, &target, &adql_text, &client, &mut tally, obs).await?,
        Overflow::Error | Overflow::Warn => {
            let q = target.query(adql_text, op.maxrec);
            let a = client
                .query(&q, target.slot(name.to_string()).as_ref())
                .await
                .map_err(|e| service_error(name, e))?;
            tally.add(&a);
            obs.step_progress(name, a.table.num_rows(), tally.requests);
            if a.overflow {
                let what = truncation(a.table.num_rows(), op.maxrec);
                if op.overflow == Overflow::Error {
                    return Err(StepError::Service(format!(
                        "{what}; use `overflow: page` to fetch every row, raise `maxrec`, or `overflow: warn` to keep the partial result"
                    )));
                }
                tally
                    .notes
                    .push(format!("warning: {what}; kept the partial result"));
            }
            a.table
        }
    };
    let table = declared_names(table, op.columns.as_deref());
    let mut local = LocalResult::from_table(table);
    local.notes.append(&mut tally.notes);
    Ok(RemoteResult {
        local,
        requests: tally.requests,
        cache_hits: tally.cache_hits,
        requests_sha256: Some(crate::util::sha256_hex(tally.asks.join("\n").as_bytes())),
        jobs: tally.jobs,
    })
}

/// The service and settings every query of a step shares.
struct Target<'a> {
    op: &'a TapOp,
    service: String,
    journal: Option<Arc<crate::services::tap::journal::Journal>>,
}

impl Target<'_> {
    fn query(&self, adql: String, maxrec: Option<u64>) -> Query {
        Query {
            service: self.service.clone(),
            service_name: self.op.service.name(),
            adql,
            maxrec,
            format: self.op.format,
            mode: self.op.mode,
            sync_timeout: self.op.sync_timeout,
            deadline: self.op.deadline,
        }
    }

    fn slot(&self, slot: String) -> Option<JobSlot> {
        self.journal.as_ref().map(|j| JobSlot {
            journal: j.clone(),
            slot,
        })
    }
}

fn service_error(step: &str, e: tap::TapError) -> StepError {
    match e {
        tap::TapError::Offline(Some(why)) => {
            StepError::Service(format!("step `{step}`: --offline: {why}"))
        }
        tap::TapError::Offline(None) => StepError::Service(format!(
            "step `{step}`: --offline, and this TAP query's response is not in the cache (run once without --offline)"
        )),
        other => StepError::Service(other.to_string()),
    }
}

fn truncation(rows: usize, maxrec: Option<u64>) -> String {
    match maxrec {
        Some(m) => format!(
            "the TAP service truncated the result at {rows} rows (QUERY_STATUS=OVERFLOW at MAXREC={m})"
        ),
        None => format!(
            "the TAP service truncated the result at {rows} rows (QUERY_STATUS=OVERFLOW: its own row limit)"
        ),
    }
}

/// Fetch page after page: keyset on `page_by`, else OFFSET on the query's
/// own ORDER BY. A page shorter than asked ends it, unless the service
/// flagged it truncated (a server cap below `page_size`: go on from there).
async fn pages(
    name: &str,
    target: &Target<'_>,
    adql_text: &str,
    client: &tap::Tap,
    tally: &mut Tally,
    obs: &Arc<dyn Observer>,
) -> Result<Table, StepError> {
    let op = target.op;
    let invalid = |e: String| StepError::Invalid(format!("cannot page this query: {e}"));
    let top = adql::analyse(adql_text).map_err(invalid)?.top;
    let mut tables: Vec<Table> = Vec::new();
    let (mut fetched, mut start, mut capped) = (0u64, PageStart::First, false);
    for page in 0.. {
        let rows = top.map_or(op.page_size, |n| op.page_size.min(n - fetched));
        if rows == 0 {
            break;
        }
        if page >= client.max_pages() {
            return Err(StepError::Service(format!(
                "{page} pages of {} rows fetched ({fetched} rows) and the service still has more: stopped at --max-pages {}; narrow the query, raise `page_size`, or raise --max-pages",
                op.page_size,
                client.max_pages()
            )));
        }
        let text =
            adql::page_query(adql_text, op.page_by.as_deref(), rows, &start).map_err(invalid)?;
        let maxrec = Some(op.maxrec.unwrap_or(rows).max(rows));
        let a = client
            .query(
                &target.query(text, maxrec),
                target.slot(format!("{name}#{page}")).as_ref(),
            )
            .await
            .map_err(|e| service_error(name, e))?;
        tally.add(&a);
        let n = a.table.num_rows() as u64;
        fetched += n;
        obs.step_progress(name, fetched as usize, tally.requests);
        let last_page = n == 0 || (n < rows && !a.overflow);
        if a.overflow && n < rows && n > 0 && !capped {
            capped = true;
            tally.notes.push(format!(
                "the service caps results at {n} rows (below page_size {}); paged on from there",
                op.page_size
            ));
        }
        if !last_page {
            start = match &op.page_by {
                Some(key) => PageStart::After(last_key(&a.table, key, n == rows)?),
                None => PageStart::Skip(fetched),
            };
        }
        tables.push(a.table);
        if last_page {
            break;
        }
    }
    tally
        .notes
        .push(format!("{} page(s), {fetched} rows", tables.len()));
    let refs: Vec<&Table> = tables.iter().filter(|t| t.num_columns() > 0).collect();
    match refs.as_slice() {
        [] => Ok(tables.pop().unwrap_or_else(Table::empty)),
        [one] => Ok((*one).clone()),
        many => Ok(ops::union(many)?),
    }
}

/// The keyset value to continue after: the page's last key. A null key, or
/// a key repeated at the end of a full page (rows with the same key would be
/// split across pages and lost), is refused.
fn last_key(t: &Table, key: &str, full: bool) -> Result<Literal, StepError> {
    let col = t
        .columns()
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(key))
        .ok_or_else(|| {
            StepError::Service(format!(
                "the TAP result has no `{key}` column to page by (columns: {})",
                t.column_names().collect::<Vec<_>>().join(", ")
            ))
        })?;
    let n = t.num_rows();
    let last = col.get(n - 1);
    if full && n > 1 && col.get(n - 2) == last {
        return Err(StepError::Service(format!(
            "`page_by: {key}` is not unique: the value {} repeats at the end of a page, so rows would be lost between pages; page by a unique column (e.g. obsid)",
            last.display()
        )));
    }
    match last {
        ValueRef::Int(i) => Ok(Literal::Number(i.to_string())),
        ValueRef::Float(x) if x.is_finite() => Ok(Literal::Number(ValueRef::Float(x).display())),
        ValueRef::Str(s) => Ok(Literal::Text(s.to_string())),
        ValueRef::Null => Err(StepError::Service(format!(
            "`page_by: {key}` is null in the last row of a page; page by a column that is never null"
        ))),
        other => Err(StepError::Service(format!(
            "`page_by: {key}` holds {}, which cannot be compared; page by a number or text column",
            other.display()
        ))),
    }
}

/// Rename result columns to the select list's spelling when they differ
/// only in case (ADQL names are case-insensitive; servers return their own).
fn declared_names(mut t: Table, declared: Option<&[String]>) -> Table {
    let Some(declared) = declared else { return t };
    if declared.len() != t.num_columns() {
        return t;
    }
    let same = t
        .column_names()
        .zip(declared)
        .all(|(got, want)| got.eq_ignore_ascii_case(want));
    if same {
        for (c, want) in t.columns_mut().iter_mut().zip(declared) {
            c.name.clone_from(want);
        }
    }
    t
}
