//! The MAST Mashup client (`/api/v0/invoke`).
//!
//! Encodes requests as real clients do (form field `request=` with
//! percent-encoded JSON), polls `EXECUTING` replies with backoff up to a
//! deadline, fetches every page and checks the total against `rowsFiltered`
//! (never the silent 50,000-row cap), turns `ERROR` into an error quoting the
//! server, and normalises the rows into a [`Table`] through
//! [`crate::table::normalize`].

use super::http::{Http, HttpError, Request};
use super::key::{ask_key, request_key};
use crate::table::column::ColumnBuilder;
use crate::table::normalize::{declared_type, json_cell};
use crate::table::{Column, DataType, Table};
use crate::wire::{MashupRequest, MashupResponse, Status};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Errors of a Mashup call.
#[derive(Debug, Error)]
pub enum MashupError {
    #[error(
        "MAST {service} returned ERROR: {msg}; check the step's criteria and params against MAST's message (a column or value MAST does not know), or try again later if it names a server problem"
    )]
    Service { service: String, msg: String },
    #[error(
        "MAST {service} was still EXECUTING after {} (deadline); raise the step's `deadline` or narrow the query", crate::services::http::human_duration(*.waited)
    )]
    Deadline { service: String, waited: Duration },
    #[error("MAST {service}: {source}")]
    Http {
        service: String,
        #[source]
        source: HttpError,
    },
    #[error("--offline: {detail}")]
    NotCached { service: String, detail: String },
    #[error(
        "MAST {service} sent two columns named `{column}`; refusing the answer rather than lose one of them (ask for the columns you need with `columns:`)"
    )]
    DuplicateColumn { service: String, column: String },
    #[error(
        "MAST {service} sent a response that is not a Mashup JSON envelope: {detail}; check `mast_url` or --base-url (a proxy or login page answers instead of MAST?), or try again later"
    )]
    Malformed { service: String, detail: String },
    #[error(
        "MAST {service} reported {expected} matching rows but {got} arrived over {pages} page(s); refusing an incomplete result: run again (with --refresh if it persists), or narrow the query"
    )]
    Incomplete {
        service: String,
        expected: u64,
        got: u64,
        pages: u64,
    },
    #[error(
        "MAST {service} announced {pages} pages, more than --max-pages {max}; narrow the query, or raise --max-pages if the result really is that large"
    )]
    TooManyPages {
        service: String,
        pages: u64,
        max: u64,
    },
    #[error(
        "MAST {service} changed its paging on page {page} ({detail}); refusing a result that could mix two answers: run again (with --refresh if it persists)"
    )]
    PagingChanged {
        service: String,
        page: u64,
        detail: String,
    },
}

/// Polling and paging settings.
#[derive(Debug, Clone)]
pub struct MashupConfig {
    /// `.../api/v0/invoke`.
    pub invoke_url: String,
    pub pagesize: u64,
    /// First wait after an EXECUTING reply; doubles up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Requests of one service in flight at once (all its pages and polls
    /// count as one), by service name, case-insensitively. Services not
    /// listed are bounded only by the per-host limit.
    pub per_service: Vec<(String, usize)>,
}

/// astroquery sends `Mast.Caom.Products` requests one after another, and
/// MAST's notebooks batch by 5 "to avoid server timeouts": mastflow does
/// the same unless told otherwise (`per_service`, `--per-service`).
pub const DEFAULT_PER_SERVICE: &[(&str, usize)] = &[("Mast.Caom.Products", 1)];

/// One semaphore per limited service.
#[derive(Debug, Default)]
struct ServiceLimits {
    limits: Vec<(String, Arc<tokio::sync::Semaphore>)>,
}

impl ServiceLimits {
    fn new(per_service: &[(String, usize)]) -> Self {
        Self {
            limits: per_service
                .iter()
                .map(|(s, n)| {
                    (
                        s.to_ascii_lowercase(),
                        Arc::new(tokio::sync::Semaphore::new((*n).max(1))),
                    )
                })
                .collect(),
        }
    }

    async fn acquire(&self, service: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let lower = service.to_ascii_lowercase();
        let sem = self.limits.iter().find(|(s, _)| *s == lower)?.1.clone();
        sem.acquire_owned().await.ok()
    }
}

impl MashupConfig {
    /// Override the limits of the services named (case-insensitively).
    pub fn set_per_service(&mut self, limits: &[(String, usize)]) {
        for (service, n) in limits {
            self.per_service
                .retain(|(s, _)| !s.eq_ignore_ascii_case(service));
            self.per_service.push((service.clone(), *n));
        }
    }

    pub fn for_base(base_url: &str) -> Self {
        Self {
            invoke_url: format!("{}/api/v0/invoke", base_url.trim_end_matches('/')),
            pagesize: 50_000,
            poll_initial: Duration::from_millis(250),
            poll_max: Duration::from_secs(10),
            per_service: DEFAULT_PER_SERVICE
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
        }
    }
}

/// A complete result.
#[derive(Debug)]
pub struct Fetched {
    pub table: Table,
    /// HTTP requests sent (pages, polls and retries).
    pub requests: u64,
    pub pages: u64,
    /// Canonical key of the request (URL included), for caches.
    pub key: String,
    /// The request's identity without the host, for lock files.
    pub ask: String,
    /// Pages answered from the response cache.
    pub cache_hits: u64,
}

/// A Mashup client sharing the polite HTTP layer.
#[derive(Debug, Clone)]
pub struct Mashup {
    http: Arc<Http>,
    config: MashupConfig,
    cache: Option<super::cache::Cache>,
    limits: Arc<ServiceLimits>,
}

impl Mashup {
    pub fn new(http: Arc<Http>, config: MashupConfig) -> Self {
        Self {
            http,
            limits: Arc::new(ServiceLimits::new(&config.per_service)),
            config,
            cache: None,
        }
    }

    /// Answer from (and fill) a response cache.
    pub fn with_cache(mut self, cache: super::cache::Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn config(&self) -> &MashupConfig {
        &self.config
    }

    /// Invoke `service` with `params`, fetching every page, within `deadline`.
    /// `data` is the upload payload (crossmatch).
    pub async fn invoke(
        &self,
        service: &str,
        params: Value,
        data: Option<Value>,
        deadline: Duration,
    ) -> Result<Fetched, MashupError> {
        let _turn = self.limits.acquire(service).await;
        let start = Instant::now();
        let request = serde_json::json!({"service": service, "params": params, "data": data});
        let key = request_key(&self.config.invoke_url, &request);
        let ask = ask_key(&request);
        let mut requests = 0u64;
        let mut cache_hits = 0u64;
        let mut page = 1u64;
        let mut fields: Vec<crate::wire::Field> = Vec::new();
        let mut rows: Vec<serde_json::Map<String, Value>> = Vec::new();
        let mut expected: Option<u64> = None;
        let mut first_paging: Option<crate::wire::Paging> = None;
        loop {
            let req = MashupRequest {
                service: service.to_string(),
                params: params.clone(),
                format: Some("json".into()),
                pagesize: Some(self.config.pagesize),
                page: Some(page),
                data: data.clone(),
                // Stable across polls and pages, as astroquery does (the
                // server's cache answers later pages from the same result).
                cache_breaker: Some(key[..32].to_string()),
                ..MashupRequest::default()
            };
            // Cached per page under the canonical key (no token, no nonce).
            let page_key = request_key(
                &self.config.invoke_url,
                &serde_json::json!({"service": service, "params": params, "data": data, "page": page, "pagesize": self.config.pagesize}),
            );
            let cached = self
                .cache
                .as_ref()
                .and_then(|c| c.get(&page_key))
                .and_then(|b| serde_json::from_slice::<MashupResponse>(&b).ok())
                // Only COMPLETE answers are stored; anything else is not data.
                .filter(|r| {
                    !matches!(
                        r.status,
                        crate::wire::Status::Error | crate::wire::Status::Executing
                    )
                });
            let resp = match cached {
                Some(r) => {
                    cache_hits += 1;
                    r
                }
                None => {
                    if let Some(e) = self.not_cached(service, &page_key, || format!("no cached response for this {service} request; run once online (or without --offline) first")) {
                        return Err(e);
                    }
                    let (resp, n) = self.complete(&req, start, deadline).await?;
                    requests += n;
                    if let Some(c) = &self.cache {
                        if let Ok(bytes) = serde_json::to_vec(&resp) {
                            c.put(
                                &page_key,
                                &format!("{service} {params} page {page}"),
                                &bytes,
                            );
                        }
                    }
                    resp
                }
            };
            if fields.is_empty() {
                fields = resp.fields.clone();
            }
            rows.extend(resp.data);
            match resp.paging {
                Some(p) => {
                    first_paging.get_or_insert(p);
                    self.check_paging(service, page, &p, first_paging.as_ref())?;
                    expected = Some(p.rows_filtered);
                    if p.page >= p.pages_filtered || p.pages_filtered == 0 {
                        break;
                    }
                    page = p.page + 1;
                }
                None => break,
            }
        }
        if let Some(exp) = expected {
            if exp != rows.len() as u64 {
                return Err(MashupError::Incomplete {
                    service: service.into(),
                    expected: exp,
                    got: rows.len() as u64,
                    pages: page,
                });
            }
        }
        Ok(Fetched {
            table: to_table(&fields, &rows).map_err(|e| duplicate(service, e))?,
            requests,
            pages: page,
            key,
            ask,
            cache_hits,
        })
    }

    /// The bounds of a paged answer: the page asked for is the page sent;
    /// the number of pages and of rows stay as page 1 announced them (one
    /// result, read page by page, under one cacheBreaker); and no more than
    /// `--max-pages` pages. A server whose paging never ends stops here.
    fn check_paging(
        &self,
        service: &str,
        asked: u64,
        p: &crate::wire::Paging,
        first: Option<&crate::wire::Paging>,
    ) -> Result<(), MashupError> {
        let max = self.http.config().max_pages;
        if p.pages_filtered > max {
            return Err(MashupError::TooManyPages {
                service: service.into(),
                pages: p.pages_filtered,
                max,
            });
        }
        let changed = |detail: String| {
            Err(MashupError::PagingChanged {
                service: service.into(),
                page: asked,
                detail,
            })
        };
        if p.pages_filtered > 0 && p.page != asked {
            return changed(format!("page {} sent for page {asked}", p.page));
        }
        match first {
            Some(f) if f.pages_filtered != p.pages_filtered => changed(format!(
                "pagesFiltered {} on page 1, {} now",
                f.pages_filtered, p.pages_filtered
            )),
            Some(f) if f.rows_filtered != p.rows_filtered => changed(format!(
                "rowsFiltered {} on page 1, {} now",
                f.rows_filtered, p.rows_filtered
            )),
            _ => Ok(()),
        }
    }

    /// Under `--offline`, the error for a response the cache cannot give:
    /// the damaged entry if there is one, else `missing`. `None` online.
    fn not_cached(
        &self,
        service: &str,
        key: &str,
        missing: impl FnOnce() -> String,
    ) -> Option<MashupError> {
        let c = self
            .cache
            .as_ref()
            .filter(|c| c.mode == super::cache::Mode::Offline)?;
        Some(MashupError::NotCached {
            service: service.into(),
            detail: c.damaged(key).unwrap_or_else(missing),
        })
    }

    /// Resolve a target name with `Mast.Name.Lookup`: the first hit, or
    /// `None` when MAST does not know the name. Returns the requests sent.
    pub async fn lookup_name(
        &self,
        name: &str,
    ) -> Result<(Option<crate::wire::ResolvedCoordinate>, u64), MashupError> {
        let service = "Mast.Name.Lookup";
        let req = MashupRequest {
            service: service.into(),
            params: serde_json::json!({"input": name, "format": "json"}),
            format: Some("json".into()),
            // As astroquery's `Mast.service_request_async` sends it.
            pagesize: Some(self.config.pagesize),
            page: Some(1),
            cache_breaker: Some(
                request_key(
                    &self.config.invoke_url,
                    &serde_json::json!({"service": service, "input": name}),
                )[..32]
                    .to_string(),
            ),
            ..MashupRequest::default()
        };
        // Cached like every answer, so a manifest that names its target
        // replays `--offline`.
        let key = request_key(
            &self.config.invoke_url,
            &serde_json::json!({"service": service, "params": req.params}),
        );
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&key))
            .and_then(|b| serde_json::from_slice::<crate::wire::NameLookupResponse>(&b).ok());
        let (parsed, attempts) = match cached {
            Some(p) => (p, 0),
            None => {
                if let Some(e) = self.not_cached(service, &key, || format!("the name `{name}` was never resolved online; run once without --offline first, or give `ra`/`dec`")) {
                    return Err(e);
                }
                let (p, bytes, n) = self.lookup_online(&req).await?;
                if let Some(c) = &self.cache {
                    c.put(&key, &format!("{service} {name}"), &bytes);
                }
                (p, n)
            }
        };
        let wanted = name.trim().to_lowercase();
        let hit = parsed
            .resolved_coordinate
            .iter()
            .find(|c| c.search_string.to_lowercase() == wanted)
            .or_else(|| parsed.resolved_coordinate.first())
            .cloned();
        Ok((hit, attempts))
    }

    /// One `Mast.Name.Lookup` request: the parsed answer, its bytes (for the
    /// cache) and the attempts it took.
    async fn lookup_online(
        &self,
        req: &MashupRequest,
    ) -> Result<(crate::wire::NameLookupResponse, Vec<u8>, u64), MashupError> {
        let service = "Mast.Name.Lookup";
        let body = serde_json::to_string(req).expect("request serialises");
        let http_req = Request {
            auth: true,
            ..Request::post_form(
                self.config.invoke_url.clone(),
                vec![("request".into(), body)],
            )
        };
        let resp = self
            .http
            .send(&http_req)
            .await
            .map_err(|e| MashupError::Http {
                service: service.into(),
                source: e,
            })?;
        let parsed = serde_json::from_slice(&resp.body).map_err(|e| MashupError::Malformed {
            service: service.into(),
            detail: format!(
                "{e} (body starts: {:?})",
                String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        })?;
        Ok((parsed, resp.body, u64::from(resp.attempts)))
    }

    /// Post one request until it is COMPLETE (polling EXECUTING replies).
    async fn complete(
        &self,
        req: &MashupRequest,
        start: Instant,
        deadline: Duration,
    ) -> Result<(MashupResponse, u64), MashupError> {
        let body = serde_json::to_string(req).expect("request serialises");
        let mut wait = self.config.poll_initial;
        let mut requests = 0u64;
        loop {
            let http_req = Request {
                auth: true,
                ..Request::post_form(
                    self.config.invoke_url.clone(),
                    vec![("request".into(), body.clone())],
                )
            };
            let resp = self
                .http
                .send(&http_req)
                .await
                .map_err(|e| MashupError::Http {
                    service: req.service.clone(),
                    source: e,
                })?;
            requests += u64::from(resp.attempts);
            let env: MashupResponse = match serde_json::from_slice(&resp.body) {
                Ok(e) => e,
                Err(e) => {
                    let excerpt: String = String::from_utf8_lossy(&resp.body)
                        .chars()
                        .take(200)
                        .collect();
                    return Err(MashupError::Malformed {
                        service: req.service.clone(),
                        detail: format!("{e} (body starts: {excerpt:?})"),
                    });
                }
            };
            match env.status {
                Status::Complete | Status::Empty => return Ok((env, requests)),
                Status::Error => {
                    return Err(MashupError::Service {
                        service: req.service.clone(),
                        msg: env.msg,
                    });
                }
                Status::Executing => {
                    if start.elapsed() + wait > deadline {
                        return Err(MashupError::Deadline {
                            service: req.service.clone(),
                            waited: start.elapsed(),
                        });
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.config.poll_max);
                }
            }
        }
    }
}

fn duplicate(service: &str, e: crate::table::TableError) -> MashupError {
    MashupError::DuplicateColumn {
        service: service.into(),
        column: match e {
            crate::table::TableError::DuplicateColumn(c) => c,
            other => other.to_string(),
        },
    }
}

/// Rows of a Mashup response as a typed table. Declared types are applied
/// through the shared normalisation layer (numbers sent as strings, `t`/`f`,
/// `/Date(ms)/`); MAST's `_selected_` artefact column is dropped.
pub fn to_table(
    fields: &[crate::wire::Field],
    rows: &[serde_json::Map<String, Value>],
) -> Result<Table, crate::table::TableError> {
    let mut cols = Vec::with_capacity(fields.len());
    for f in fields.iter().filter(|f| f.name != "_selected_") {
        let declared = declared_type(&f.type_name);
        let ty = declared.unwrap_or_else(|| infer_json_type(rows, &f.name));
        // A "string" column whose values are all numbers (MAST's ids) stays a string.
        let mut b = ColumnBuilder::new(ty, rows.len());
        let mut is_date = false;
        for r in rows {
            let raw = r.get(&f.name).unwrap_or(&Value::Null);
            if let Value::String(s) = raw {
                is_date |= s.starts_with("/Date(");
            }
            let v = match (ty, raw) {
                (DataType::String, Value::Number(n)) => crate::table::Value::Str(n.to_string()),
                _ => json_cell(raw, ty),
            };
            b.push(v.as_ref());
        }
        let mut col: Column = b.finish(f.name.clone());
        if is_date || matches!(f.type_name.as_str(), "date" | "datetime") {
            col.meta.xtype = Some("timestamp".into());
        }
        cols.push(col);
    }
    Table::new(cols)
}

fn infer_json_type(rows: &[serde_json::Map<String, Value>], name: &str) -> DataType {
    let vals: Vec<crate::table::Value> = rows
        .iter()
        .filter_map(|r| r.get(name))
        .map(crate::table::Value::from_json)
        .collect();
    crate::table::normalize::infer_type(vals.iter())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_repeated_field_name_is_refused_not_emptied() {
        let fields: Vec<crate::wire::Field> = serde_json::from_value(json!([
            {"name": "obs_id", "type": "string"},
            {"name": "obs_id", "type": "string"}
        ]))
        .unwrap();
        let rows: Vec<serde_json::Map<String, Value>> =
            serde_json::from_value(json!([{"obs_id": "a"}])).unwrap();
        let e = to_table(&fields, &rows).map_err(|e| duplicate("Mast.Caom.Filtered", e));
        let msg = e.expect_err("the table was silently emptied").to_string();
        assert!(msg.contains("two columns named `obs_id`"), "{msg}");
        assert!(msg.contains("Mast.Caom.Filtered"), "{msg}");
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_normalised_by_declared_type() {
        let fields: Vec<crate::wire::Field> = serde_json::from_value(json!([
            {"name": "obsid", "type": "string"},
            {"name": "calib_level", "type": "int"},
            {"name": "t_exptime", "type": "float"},
            {"name": "tsovisit", "type": "boolean"},
            {"name": "date_obs", "type": "string"},
            {"name": "_selected_", "type": "boolean"}
        ]))
        .unwrap();
        let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_value(json!([
            {"obsid": 87742159, "calib_level": "2", "t_exptime": 494.46, "tsovisit": "t", "date_obs": "/Date(1654430410430)/", "_selected_": null},
            {"obsid": "87742481", "calib_level": 3, "t_exptime": null, "tsovisit": "False", "date_obs": null}
        ]))
        .unwrap();
        let t = to_table(&fields, &rows).unwrap();
        assert_eq!(
            t.column_names().collect::<Vec<_>>(),
            ["obsid", "calib_level", "t_exptime", "tsovisit", "date_obs"]
        );
        assert_eq!(t.row(0)[0], crate::table::Value::Str("87742159".into()));
        assert_eq!(t.row(1)[1], crate::table::Value::Int(3));
        assert_eq!(t.row(0)[3], crate::table::Value::Bool(true));
        assert_eq!(t.row(1)[3], crate::table::Value::Bool(false));
        assert_eq!(t.row(1)[2], crate::table::Value::Null);
        assert_eq!(
            t.row(0)[4],
            crate::table::Value::Str("2022-06-05T12:00:10.430".into())
        );
        assert_eq!(
            t.column("date_obs").unwrap().meta.xtype.as_deref(),
            Some("timestamp")
        );
    }
}
