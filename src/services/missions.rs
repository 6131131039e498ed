//! The MAST missions search API (`/search/<mission>/api/v0.1/search`), the
//! newer JWST keyword search (astroquery's `MastMissions`).
//!
//! JSON in, JSON out; paged by `offset` until `totalResults` rows arrived
//! (astroquery does not page: it warns at its `limit`). Column types come
//! from the response's `info` list.

use super::http::{Http, HttpError, Request};
use crate::table::column::ColumnBuilder;
use crate::table::normalize::json_cell;
use crate::table::{DataType, Table};
use serde_json::{Value, json};
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MissionsError {
    #[error("MAST missions search ({mission}): {source}")]
    Http {
        mission: String,
        #[source]
        source: HttpError,
    },
    #[error("MAST missions search ({mission}) answered something unexpected: {detail}")]
    Malformed { mission: String, detail: String },
    #[error(
        "MAST missions search ({mission}) reported {expected} results but {got} arrived; refusing an incomplete result"
    )]
    Incomplete {
        mission: String,
        expected: u64,
        got: u64,
    },
    #[error("MAST missions search ({mission}): {messages}")]
    Messages { mission: String, messages: String },
    #[error(
        "MAST missions search ({mission}) reported {total} results, {pages} pages of {page}, more than --max-pages {max}; narrow the search, or raise --max-pages if the result really is that large"
    )]
    TooManyPages {
        mission: String,
        total: u64,
        page: u64,
        pages: u64,
        max: u64,
    },
    #[error(
        "MAST missions search ({mission}) reported {first} results on its first page and {now} at offset {offset}; refusing a result that could mix two answers: run again"
    )]
    TotalChanged {
        mission: String,
        first: u64,
        now: u64,
        offset: u64,
    },
}

/// A search request.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub conditions: Vec<(String, Value)>,
    /// `(ra_deg, dec_deg, radius_arcsec)`.
    pub position: Option<(f64, f64, f64)>,
    pub select_cols: Option<Vec<String>>,
    pub sort_by: Vec<String>,
    pub page_size: u64,
}

/// The result, with the requests it took.
#[derive(Debug)]
pub struct Found {
    pub table: Table,
    pub requests: u64,
}

/// A missions-API client sharing the polite HTTP layer.
#[derive(Debug, Clone)]
pub struct Missions {
    http: Arc<Http>,
    base_url: String,
}

impl Missions {
    pub fn new(http: Arc<Http>, base_url: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// Run a search, fetching every page.
    ///
    /// The first request is astroquery's (no `sort_by` unless asked). When
    /// the result needs more pages and the order is not already on a unique
    /// key, the search starts again sorted on the mission's unique key
    /// (`wire::types::mission_unique_key`), so pages can neither overlap nor
    /// skip rows: nothing documents that MAST's default order is stable.
    pub async fn search(&self, mission: &str, s: &Search) -> Result<Found, MissionsError> {
        let s = with_dataset_keyword(mission, s);
        let first = self.pages(mission, &s, true).await?;
        if first.complete {
            return Ok(first.found);
        }
        let sorted = stably_sorted(mission, &s);
        let mut rest = self.pages(mission, &sorted, false).await?;
        rest.found.requests += first.found.requests;
        Ok(rest.found)
    }

    /// Every page of one search; with `first_only`, stop after the first
    /// page when more would be needed (`complete` is then false).
    async fn pages(
        &self,
        mission: &str,
        s: &Search,
        first_only: bool,
    ) -> Result<Paged, MissionsError> {
        let url = format!("{}/search/{mission}/api/v0.1/search", self.base_url);
        let page = s.page_size.max(1);
        let mut offset = 0u64;
        let mut rows: Vec<serde_json::Map<String, Value>> = Vec::new();
        let mut info: Vec<(String, String)> = Vec::new();
        let mut requests = 0u64;
        let mut first_total: Option<u64> = None;
        let mut pages_read = 0u64;
        loop {
            let body = self.body(s, page, offset);
            let req = Request {
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Accept".into(), "application/json".into()),
                ],
                auth: true,
                ..Request::post_json(url.clone(), body)
            };
            let resp = self
                .http
                .send(&req)
                .await
                .map_err(|e| MissionsError::Http {
                    mission: mission.into(),
                    source: e,
                })?;
            requests += u64::from(resp.attempts);
            let v: Value =
                serde_json::from_slice(&resp.body).map_err(|e| MissionsError::Malformed {
                    mission: mission.into(),
                    detail: e.to_string(),
                })?;
            if let Some(msgs) = v
                .get("messages")
                .and_then(Value::as_array)
                .filter(|m| !m.is_empty())
            {
                let text: Vec<String> = msgs
                    .iter()
                    .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
                    .collect();
                if v.get("results").is_none() {
                    return Err(MissionsError::Messages {
                        mission: mission.into(),
                        messages: text.join("; "),
                    });
                }
            }
            if info.is_empty() {
                info = info_of(&v);
            }
            let total = v
                .get("totalResults")
                .and_then(Value::as_u64)
                .ok_or_else(|| MissionsError::Malformed {
                    mission: mission.into(),
                    detail: "no totalResults".into(),
                })?;
            self.check_total(mission, page, offset, total, &mut first_total)?;
            let batch = v
                .get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = batch.len() as u64;
            rows.extend(batch.into_iter().filter_map(|r| r.as_object().cloned()));
            offset += n;
            pages_read += 1;
            let max = self.http.config().max_pages;
            if pages_read >= max && offset < total && n > 0 {
                // Pages shorter than asked: the bound is on pages sent.
                return Err(MissionsError::TooManyPages {
                    mission: mission.into(),
                    total,
                    page: n,
                    pages: pages_read + (total - offset).div_ceil(n),
                    max,
                });
            }
            if offset >= total || n == 0 {
                if (rows.len() as u64) < total {
                    return Err(MissionsError::Incomplete {
                        mission: mission.into(),
                        expected: total,
                        got: rows.len() as u64,
                    });
                }
                break;
            }
            if first_only && needs_stable_sort(mission, s) {
                return Ok(Paged {
                    found: Found {
                        table: Table::default(),
                        requests,
                    },
                    complete: false,
                });
            }
        }
        Ok(Paged {
            found: Found {
                table: to_table(&info, &rows).map_err(|e| MissionsError::Malformed {
                    mission: mission.into(),
                    detail: format!("{e}; refusing the answer rather than lose a column"),
                })?,
                requests,
            },
            complete: true,
        })
    }

    /// `totalResults` stays what the first page said, and needs no more than
    /// `--max-pages` pages: a server whose total keeps growing stops here.
    fn check_total(
        &self,
        mission: &str,
        page: u64,
        offset: u64,
        total: u64,
        first: &mut Option<u64>,
    ) -> Result<(), MissionsError> {
        let first = *first.get_or_insert(total);
        if first != total {
            return Err(MissionsError::TotalChanged {
                mission: mission.into(),
                first,
                now: total,
                offset,
            });
        }
        let (pages, max) = (total.div_ceil(page), self.http.config().max_pages);
        if pages > max {
            return Err(MissionsError::TooManyPages {
                mission: mission.into(),
                total,
                page,
                pages,
                max,
            });
        }
        Ok(())
    }

    fn body(&self, s: &Search, limit: u64, offset: u64) -> Value {
        let mut b = serde_json::Map::new();
        b.insert("limit".into(), json!(limit));
        b.insert("offset".into(), json!(offset));
        b.insert(
            "select_cols".into(),
            s.select_cols.as_ref().map_or(Value::Null, |c| json!(c)),
        );
        if let Some((ra, dec, r)) = s.position {
            b.insert("target".into(), json!([format!("{ra} {dec}")]));
            b.insert("radius".into(), json!(r));
            b.insert("radius_units".into(), json!("arcseconds"));
        }
        b.insert(
            "conditions".into(),
            Value::Array(s.conditions.iter().map(|(k, v)| json!({ k: v })).collect()),
        );
        if !s.sort_by.is_empty() {
            b.insert("sort_by".into(), json!(s.sort_by));
            b.insert("sort_desc".into(), json!(vec![false; s.sort_by.len()]));
        }
        Value::Object(b)
    }
}

/// Pages of one search, and whether they are the whole result.
struct Paged {
    found: Found,
    complete: bool,
}

/// `select_cols` with the mission's dataset keyword appended, as astroquery
/// does (products are looked up by it).
fn with_dataset_keyword(mission: &str, s: &Search) -> Search {
    let mut s = s.clone();
    if let (Some(cols), Some(kw)) = (
        s.select_cols.as_mut(),
        crate::wire::types::mission_dataset_keyword(mission),
    ) {
        if !cols.iter().any(|c| c == kw) {
            cols.push(kw.to_string());
        }
    }
    s
}

/// Whether the order is already total: the unique key is among `sort_by`.
fn sorted_on_unique_key(mission: &str, s: &Search) -> bool {
    crate::wire::types::mission_unique_key(mission)
        .is_some_and(|k| s.sort_by.iter().any(|c| c == k))
}

/// Whether paging this search needs a sort on the unique key first.
fn needs_stable_sort(mission: &str, s: &Search) -> bool {
    crate::wire::types::mission_unique_key(mission).is_some() && !sorted_on_unique_key(mission, s)
}

/// The search sorted on its own `sort_by`, then on the unique key.
fn stably_sorted(mission: &str, s: &Search) -> Search {
    let mut s = s.clone();
    if let Some(k) = crate::wire::types::mission_unique_key(mission) {
        if !sorted_on_unique_key(mission, &s) {
            s.sort_by.push(k.to_string());
        }
    }
    s
}

/// The response's `info`: column names and database types.
fn info_of(v: &Value) -> Vec<(String, String)> {
    v.get("info")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c.get("name")?.as_str()?.to_string(),
                        c.get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("VARCHAR")
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `info` types: VARCHAR, FLOAT, INTEGER, DATETIME, BOOLEAN...
fn info_type(t: &str) -> DataType {
    match t.to_ascii_uppercase().as_str() {
        "FLOAT" | "DOUBLE" | "REAL" | "DECIMAL" | "NUMERIC" => DataType::Float,
        "INTEGER" | "INT" | "BIGINT" | "SMALLINT" | "LONG" => DataType::Int,
        "BOOLEAN" | "BOOL" | "BIT" => DataType::Bool,
        _ => DataType::String,
    }
}

fn to_table(
    info: &[(String, String)],
    rows: &[serde_json::Map<String, Value>],
) -> Result<Table, crate::table::TableError> {
    let mut cols = Vec::new();
    for (name, ty) in info {
        let t = info_type(ty);
        let mut b = ColumnBuilder::new(t, rows.len());
        for r in rows {
            b.push(json_cell(r.get(name).unwrap_or(&Value::Null), t).as_ref());
        }
        let mut c = b.finish(name.clone());
        if ty.eq_ignore_ascii_case("DATETIME") {
            c.meta.xtype = Some("timestamp".into());
        }
        cols.push(c);
    }
    Table::new(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_cols_end_with_the_dataset_keyword() {
        let s = Search {
            select_cols: Some(vec!["filename".into()]),
            ..Search::default()
        };
        let jwst = with_dataset_keyword("jwst", &s);
        assert_eq!(
            jwst.select_cols.as_deref(),
            Some(&["filename".to_string(), "fileSetName".to_string()][..])
        );
        let again = with_dataset_keyword("jwst", &jwst);
        assert_eq!(again.select_cols, jwst.select_cols);
        let hst = with_dataset_keyword("hst", &s);
        assert_eq!(hst.select_cols.unwrap()[1], "sci_data_set_name");
        assert!(
            with_dataset_keyword("jwst", &Search::default())
                .select_cols
                .is_none()
        );
    }

    #[test]
    fn paging_sorts_on_the_unique_key() {
        let s = Search {
            sort_by: vec!["targprop".into()],
            ..Search::default()
        };
        assert!(needs_stable_sort("jwst", &s));
        let sorted = stably_sorted("jwst", &s);
        assert_eq!(sorted.sort_by, ["targprop", "ArchiveFileID"]);
        assert!(!needs_stable_sort("jwst", &sorted));
        assert!(!needs_stable_sort("nosuchmission", &s));
    }
}
