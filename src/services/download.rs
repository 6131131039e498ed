//! Download plans: which files to fetch, from where, to which local path.
//!
//! A plan is built from a products table: de-duplicated on `dataURI`, one
//! row per file with its sanitised local path (astroquery's
//! `mastDownload/<obs_collection>/<obs_id>/<file>` layout, or flat), HTTPS
//! URL, cloud URI (from MAST's `path_lookup`, 40 URIs per request), size,
//! checksum where known, access, and the observations that reference it.
//! Rows are sorted by path, so the same products give the same plan.

use super::http::{Http, HttpError, Request};
use crate::table::{Column, DataType, Table, Value, ValueRef};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// Plan format version (`plan.json`'s `version`).
pub const PLAN_VERSION: u32 = 1;

/// URIs per `path_lookup` request (astroquery uses 40 to avoid HTTP 414).
pub const PATH_LOOKUP_CHUNK: usize = 40;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error(
        "the products table has no `{0}` column (a download plan needs dataURI and productFilename)"
    )]
    Missing(String),
    #[error("product `{uri}`: {why}")]
    BadPath { uri: String, why: String },
    #[error(
        "products `{first}` and `{second}` would both be saved as `{path}`{how}, \
         so one would overwrite the other; {fix}"
    )]
    Collision {
        first: String,
        second: String,
        path: String,
        /// Why the names meet (after sanitising, or letter case only).
        how: &'static str,
        /// What to do (depends on the layout).
        fix: &'static str,
    },
    #[error("path_lookup: {0}")]
    Http(#[from] HttpError),
    #[error("path_lookup answered something unexpected: {0}")]
    Malformed(String),
}

/// Local layout of the downloaded files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `mastDownload/<obs_collection>/<obs_id>/<productFilename>`, as astroquery.
    Nested,
    /// `<productFilename>`.
    Flat,
}

/// One path component from server data, made safe: characters outside
/// `[A-Za-z0-9._+-]` become `_`; empty, `.`, `..`, NUL and control
/// characters are refused.
pub fn sanitize_component(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c == '\0' || c.is_control()) {
        return Err(format!(
            "`{}` contains control characters",
            s.escape_debug()
        ));
    }
    let t = s.trim();
    if t.is_empty() || t == "." || t == ".." {
        return Err(format!("`{s}` is not a usable file or directory name"));
    }
    Ok(t.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect())
}

fn text(t: &Table, col: &str, row: usize) -> Option<String> {
    t.index_of(col)
        .map(|i| t.get(row, i))
        .filter(|v| !v.is_null())
        .map(ValueRef::display)
}

/// Build the plan table from products (without cloud URIs).
pub fn plan(products: &Table, base_url: &str, layout: Layout) -> Result<Table, PlanError> {
    for c in ["dataURI", "productFilename"] {
        if products.index_of(c).is_none() {
            return Err(PlanError::Missing(c.into()));
        }
    }
    // dataURI → its first row.
    let mut files: BTreeMap<String, usize> = BTreeMap::new();
    for r in 0..products.num_rows() {
        if let Some(uri) = text(products, "dataURI", r) {
            files.entry(uri).or_insert(r);
        }
    }
    let base = base_url.trim_end_matches('/');
    let mut rows: Vec<[Value; 9]> = Vec::with_capacity(files.len());
    for (uri, r) in files {
        let bad = |why: String| PlanError::BadPath {
            uri: uri.clone(),
            why,
        };
        let filename =
            sanitize_component(&text(products, "productFilename", r).unwrap_or_default())
                .map_err(bad)?;
        let path = match layout {
            Layout::Flat => filename.clone(),
            Layout::Nested => {
                let coll = sanitize_component(
                    &text(products, "obs_collection", r).unwrap_or_else(|| "JWST".into()),
                )
                .map_err(bad)?;
                let obs = sanitize_component(
                    &text(products, "obs_id", r).unwrap_or_else(|| "unknown".into()),
                )
                .map_err(bad)?;
                format!("mastDownload/{coll}/{obs}/{filename}")
            }
        };
        let url = format!("{base}/api/v0.1/Download/file?uri={}", percent_encode(&uri));
        let size = products
            .index_of("size")
            .map(|i| products.get(r, i).to_owned())
            .unwrap_or(Value::Null);
        let size = match size {
            Value::Str(s) => s.trim().parse::<i64>().map_or(Value::Null, Value::Int),
            v => v,
        };
        let access = text(products, "dataRights", r)
            .unwrap_or_else(|| "PUBLIC".into())
            .to_ascii_uppercase();
        let opt = |v: Option<String>| v.map_or(Value::Null, Value::Str);
        rows.push([
            Value::Str(uri.clone()),
            Value::Str(filename),
            Value::Str(path),
            Value::Str(url),
            Value::Null,
            size,
            opt(text(products, "checksum", r)),
            Value::Str(access),
            opt(text(products, "productType", r)),
        ]);
    }
    check_collisions(rows.iter().map(|r| (&r[0], &r[2])), layout)?;
    // Sort by path (deterministic, and the order a person reads a tree).
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[a][2].as_ref().total_cmp(rows[b][2].as_ref()));
    let names = [
        "dataURI",
        "productFilename",
        "path",
        "url",
        "cloud_uri",
        "size",
        "checksum",
        "access",
        "productType",
    ];
    let types = [
        DataType::String,
        DataType::String,
        DataType::String,
        DataType::String,
        DataType::String,
        DataType::Int,
        DataType::String,
        DataType::String,
        DataType::String,
    ];
    let mut cols = Vec::new();
    for (k, (name, ty)) in names.iter().zip(types).enumerate() {
        let vals: Vec<Value> = order.iter().map(|&i| rows[i][k].clone()).collect();
        let mut c = Column::from_values(*name, &vals, Some(ty));
        if *name == "size" {
            c.meta.unit = Some("byte".into());
        }
        cols.push(c);
    }
    Ok(Table::new(cols).expect("plan columns have equal length"))
}

/// Two different dataURIs must not share a local path: one file would
/// overwrite the other and a rerun would call both complete (issue 12
/// item 5). Paths that differ only in letter case are refused too: they are
/// one file on a case-insensitive filesystem (macOS, Windows), and a plan
/// may be fetched on any machine (docs/downloads.md).
fn check_collisions<'a>(
    rows: impl Iterator<Item = (&'a Value, &'a Value)>,
    layout: Layout,
) -> Result<(), PlanError> {
    let fix = match layout {
        Layout::Flat => {
            "use `layout: nested` (a directory per obs_id), or drop one of them with a filter before `download_plan`"
        }
        Layout::Nested => "drop one of them with a filter before `download_plan`",
    };
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (uri, path) in rows {
        let (Value::Str(uri), Value::Str(path)) = (uri, path) else {
            continue;
        };
        let key = path.to_lowercase();
        if let Some((first, first_path)) = seen.get(&key) {
            return Err(PlanError::Collision {
                first: first.clone(),
                second: uri.clone(),
                path: path.clone(),
                how: if first_path == path {
                    " (their names sanitise to the same path)"
                } else {
                    " (on a case-insensitive filesystem: the paths differ only in letter case)"
                },
                fix,
            });
        }
        seen.insert(key, (uri.clone(), path.clone()));
    }
    Ok(())
}

/// Add `observations`: the observations referencing each file, `;`-joined.
pub fn add_observations(plan: &mut Table, products: &Table) -> Result<(), PlanError> {
    let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in 0..products.num_rows() {
        let Some(uri) = text(products, "dataURI", r) else {
            continue;
        };
        let e = refs.entry(uri).or_default();
        for col in ["parent_obsid", "obs_id"] {
            if let Some(o) = text(products, col, r) {
                if !e.contains(&o) {
                    e.push(o);
                }
            }
        }
    }
    let uris = plan
        .column("dataURI")
        .map_err(|_| PlanError::Missing("dataURI".into()))?;
    let vals: Vec<Value> = uris
        .iter()
        .map(|u| {
            u.as_str()
                .and_then(|u| refs.get(u))
                .map_or(Value::Null, |v| Value::Str(v.join(";")))
        })
        .collect();
    plan.set_column(Column::from_values(
        "observations",
        &vals,
        Some(DataType::String),
    ))
    .map_err(|e| PlanError::Malformed(e.to_string()))?;
    Ok(())
}

/// Fill `cloud_uri` from MAST's `path_lookup` (public files; 40 per request).
/// Returns the requests sent.
pub async fn add_cloud_uris(
    plan: &mut Table,
    http: &Arc<Http>,
    base_url: &str,
) -> Result<u64, PlanError> {
    let uris: Vec<(usize, String)> = {
        let u = plan
            .column("dataURI")
            .map_err(|_| PlanError::Missing("dataURI".into()))?;
        let a = plan
            .column("access")
            .map_err(|_| PlanError::Missing("access".into()))?;
        (0..plan.num_rows())
            .filter(|&i| a.get(i).as_str() == Some("PUBLIC"))
            .filter_map(|i| u.get(i).as_str().map(|s| (i, s.to_string())))
            .collect()
    };
    let mut found: BTreeMap<usize, String> = BTreeMap::new();
    let mut requests = 0u64;
    for chunk in uris.chunks(PATH_LOOKUP_CHUNK) {
        let q: String = chunk
            .iter()
            .map(|(_, u)| format!("uri={}", percent_encode(u)))
            .collect::<Vec<_>>()
            .join("&");
        let url = format!(
            "{}/api/v0.1/path_lookup/?{q}&use_cloud_path=True",
            base_url.trim_end_matches('/')
        );
        let resp = http.send(&Request::get(url)).await?;
        requests += u64::from(resp.attempts);
        let v: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|e| PlanError::Malformed(e.to_string()))?;
        for (i, u) in chunk {
            if let Some(p) = v
                .get(u)
                .and_then(|e| e.get("path"))
                .and_then(|p| p.as_str())
            {
                found.insert(*i, format!("s3://stpubdata/{}", p.trim_start_matches('/')));
            }
        }
    }
    let vals: Vec<Value> = (0..plan.num_rows())
        .map(|i| found.get(&i).map_or(Value::Null, |s| Value::Str(s.clone())))
        .collect();
    plan.set_column(Column::from_values(
        "cloud_uri",
        &vals,
        Some(DataType::String),
    ))
    .map_err(|e| PlanError::Malformed(e.to_string()))?;
    Ok(requests)
}

/// Percent-encode a query value (RFC 3986 unreserved characters kept; `:`
/// and `/` too, as in MAST's own URLs).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_sanitised() {
        assert_eq!(
            sanitize_component("jw01_cal.fits").unwrap(),
            "jw01_cal.fits"
        );
        assert_eq!(sanitize_component("a/b c").unwrap(), "a_b_c");
        assert!(sanitize_component("..").is_err());
        assert!(sanitize_component("").is_err());
        assert!(sanitize_component("x\0y").is_err());
        assert!(sanitize_component("x\ny").is_err());
        assert_eq!(sanitize_component("/etc/passwd").unwrap(), "_etc_passwd");
    }

    #[test]
    fn plan_is_deduplicated_sorted_and_nested() {
        let s = |x: &str| Value::Str(x.into());
        let products = Table::new(vec![
            Column::from_values(
                "dataURI",
                &[
                    s("mast:JWST/product/b_cal.fits"),
                    s("mast:JWST/product/a_asn.json"),
                    s("mast:JWST/product/a_asn.json"),
                ],
                None,
            ),
            Column::from_values(
                "productFilename",
                &[s("b_cal.fits"), s("a_asn.json"), s("a_asn.json")],
                None,
            ),
            Column::from_values("obs_collection", &[s("JWST"), s("JWST"), s("JWST")], None),
            Column::from_values("obs_id", &[s("jw01"), s("jw02"), s("jw02")], None),
            Column::from_values("parent_obsid", &[s("1"), s("2"), s("3")], None),
            Column::from_values(
                "size",
                &[Value::Int(10), Value::Int(5), Value::Int(5)],
                None,
            ),
            Column::from_values(
                "dataRights",
                &[s("EXCLUSIVE_ACCESS"), s("PUBLIC"), s("PUBLIC")],
                None,
            ),
        ])
        .unwrap();
        let mut p = plan(&products, "https://mast.stsci.edu/", Layout::Nested).unwrap();
        add_observations(&mut p, &products).unwrap();
        assert_eq!(p.num_rows(), 2);
        assert_eq!(p.row(0)[2], s("mastDownload/JWST/jw01/b_cal.fits"));
        assert_eq!(p.row(0)[7], s("EXCLUSIVE_ACCESS"));
        assert_eq!(p.row(1)[2], s("mastDownload/JWST/jw02/a_asn.json"));
        assert_eq!(
            p.row(1)[3],
            s("https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:JWST/product/a_asn.json")
        );
        assert_eq!(p.row(1)[9], s("2;jw02;3"));
        let flat = plan(&products, "https://mast.stsci.edu", Layout::Flat).unwrap();
        assert_eq!(flat.row(0)[2], s("a_asn.json"));
    }
}
