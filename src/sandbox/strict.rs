//! Strict mode: the requests MAST documents as wrong, refused before any
//! work with an error shaped like MAST's (a Mashup `ERROR` envelope, a
//! missions HTTP 400 with a JSON body). `--lenient` (or
//! [`super::Config::strict`] `false`) skips these checks and keeps the
//! emulator's tolerant reading.
//!
//! Every rule was checked against what astroquery 0.4.11 actually sends
//! (`astroquery/mast/discovery_portal.py`, `observations.py`, `missions.py`)
//! and the protocol doc's field tables (§1.2, §2, §4.6), never against
//! mastflow alone:
//!
//! - Mashup request fields: only those of MAST's `MashupRequest` (§1.2);
//! - service `params`: only the names the service documents (§2);
//! - filter objects: `paramName`, `values`, `separator`, `freeText`, and a
//!   `{min, max}` range with both bounds present and not null (astroquery's
//!   `build_filter_set` needs `[min, max]`);
//! - `Mast.Caom.Products`: `obsid` is a comma-separated string (§2.3);
//! - missions search: only astroquery's body keys, and `select_cols` must
//!   hold the mission's dataset keyword (astroquery's `dataset_kwds`).

use super::missions::ApiError;
use serde_json::{Map, Value};

/// Top-level fields of MAST's `MashupRequest` (protocol doc §1.2).
pub const MASHUP_FIELDS: &[&str] = &[
    "service",
    "params",
    "format",
    "pagesize",
    "page",
    "timeout",
    "clearcache",
    "removecache",
    "removenullcolumns",
    "data",
    "filename",
    "filetype",
    "attachment",
    "columnsconfigid",
    "columnsconfig",
    "sleep",
    "cacheBreaker",
    "cachebreaker",
];

/// Keys of a filter object (§2.1).
const FILTER_KEYS: &[&str] = &["paramName", "values", "separator", "freeText"];

/// Keys of a missions search body: astroquery's `_search_option_fields`,
/// the positional keys of `query_region`/`query_criteria`, `conditions`,
/// and `count_only` (a real MAST answer, fixture `mission_count_only.json`).
pub const MISSIONS_KEYS: &[&str] = &[
    "limit",
    "offset",
    "sort_by",
    "search_key",
    "sort_desc",
    "select_cols",
    "skip_count",
    "user_fields",
    "target",
    "radius",
    "radius_units",
    "conditions",
    "count_only",
];

/// The column naming a mission's datasets (astroquery's `dataset_kwds`).
pub fn dataset_keyword(mission: &str) -> Option<&'static str> {
    match mission.to_ascii_lowercase().as_str() {
        "hst" => Some("sci_data_set_name"),
        "jwst" | "roman" => Some("fileSetName"),
        "classy" => Some("Target"),
        "ullyses" => Some("observation_id"),
        _ => None,
    }
}

/// The `params` names a service documents; `None` for a service the
/// sandbox does not check (it answers unknown services with an error anyway).
fn service_params(service: &str) -> Option<&'static [&'static str]> {
    let s = service.trim().to_ascii_lowercase();
    Some(match s.as_str() {
        "mast.caom.cone" => &["ra", "dec", "radius", "exclude_hla", "cachebreaker"],
        "mast.caom.filtered" => &["columns", "filters", "cachebreaker"],
        "mast.caom.filtered.position" => &["columns", "filters", "position", "cachebreaker"],
        "mast.caom.products" => &["obsid", "cachebreaker"],
        "mast.name.lookup" => &["input", "format", "cachebreaker"],
        "mast.caom.crossmatch" => &["raColumn", "decColumn", "radius", "cachebreaker"],
        "mast.caom.all" | "mast.missions.list" => &["cachebreaker"],
        s if s.starts_with("mast.jwst.filtered.") => &["columns", "filters", "cachebreaker"],
        _ => return None,
    })
}

/// The first key of `obj` not in `known`.
fn unknown_key<'a>(obj: &'a Map<String, Value>, known: &[&str]) -> Option<&'a str> {
    obj.keys().map(String::as_str).find(|k| !known.contains(k))
}

/// Check a decoded Mashup request object; `Err` is the ERROR `msg`.
pub fn mashup(req: &Value) -> Result<(), String> {
    let Some(obj) = req.as_object() else {
        return Err("The request object must be a JSON object.".to_string());
    };
    if let Some(k) = unknown_key(obj, MASHUP_FIELDS) {
        return Err(format!(
            "Unknown MashupRequest property '{k}'. Known properties: {}.",
            MASHUP_FIELDS.join(", ")
        ));
    }
    let service = obj.get("service").and_then(Value::as_str).unwrap_or("");
    let params = match obj.get("params") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(p)) => p,
        Some(_) => return Err("The 'params' property must be a JSON object.".to_string()),
    };
    if let Some(known) = service_params(service) {
        if let Some(k) = unknown_key(params, known) {
            return Err(format!(
                "Unknown parameter '{k}' for service {service}. Known parameters: {}.",
                known.join(", ")
            ));
        }
    }
    if service.trim().eq_ignore_ascii_case("Mast.Caom.Products") {
        products_obsid(params.get("obsid"))?;
    }
    match params.get("filters") {
        Some(Value::Array(filters)) => filters.iter().try_for_each(filter),
        _ => Ok(()),
    }
}

/// `obsid` must be a string of comma-separated ids (§2.3).
fn products_obsid(v: Option<&Value>) -> Result<(), String> {
    match v {
        Some(Value::String(_)) | None => Ok(()),
        Some(other) => Err(format!(
            "Parameter 'obsid' must be a string of comma-separated obsid values \
             (e.g. \"87742159\" or \"87742159,87742160\"), not the JSON value {other}."
        )),
    }
}

/// One filter object: known keys, and closed `{min, max}` ranges.
fn filter(f: &Value) -> Result<(), String> {
    let Some(obj) = f.as_object() else {
        return Err(format!("A filter must be a JSON object, not {f}."));
    };
    let name = obj.get("paramName").and_then(Value::as_str).unwrap_or("?");
    if let Some(k) = unknown_key(obj, FILTER_KEYS) {
        return Err(format!(
            "Unknown filter property '{k}' in the filter on '{name}'. Known properties: {}.",
            FILTER_KEYS.join(", ")
        ));
    }
    let values = obj.get("values").and_then(Value::as_array);
    for range in values.into_iter().flatten().filter_map(Value::as_object) {
        for bound in ["min", "max"] {
            if range.get(bound).is_none_or(Value::is_null) {
                return Err(format!(
                    "The range of the filter on '{name}' has no '{bound}' value: a range \
                     needs both 'min' and 'max' (not null)."
                ));
            }
        }
    }
    Ok(())
}

/// Check a missions search body for `mission` (HTTP 400 when wrong).
pub fn missions_search(mission: &str, body: &Value) -> Result<(), ApiError> {
    let bad = |message: String| ApiError {
        status: 400,
        message,
    };
    let Some(obj) = body.as_object() else {
        return Err(bad("The search request must be a JSON object.".to_string()));
    };
    if let Some(k) = unknown_key(obj, MISSIONS_KEYS) {
        return Err(bad(format!(
            "Unknown search parameter '{k}'. Known parameters: {}.",
            MISSIONS_KEYS.join(", ")
        )));
    }
    let cols: Vec<&str> = match obj.get("select_cols") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s.split(',').map(str::trim).collect(),
        _ => return Ok(()),
    };
    match dataset_keyword(mission) {
        Some(kw) if !cols.is_empty() && !cols.iter().any(|c| c.eq_ignore_ascii_case(kw)) => {
            Err(bad(format!(
                "select_cols must include the dataset column '{kw}' of mission '{mission}' \
                 (astroquery appends it); got {cols:?}."
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn astroquery_request(service: &str, params: Value) -> Value {
        json!({"service": service, "params": params, "format": "json",
               "pagesize": 50000, "page": 1, "cacheBreaker": "89bdb805"})
    }

    #[test]
    fn what_astroquery_sends_passes() {
        for (service, params) in [
            ("Mast.Caom.Products", json!({"obsid": "87742159"})),
            (
                "Mast.Caom.Filtered",
                json!({"columns": "*", "filters": [
                    {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
                    {"paramName": "instrument_name", "values": [], "freeText": "NIRISS%"}]}),
            ),
            (
                "Mast.Jwst.Filtered.Niriss",
                json!({"columns": "*", "filters": [
                    {"paramName": "date_obs_mjd", "values": [{"min": 59731.0, "max": 59795.0}]}]}),
            ),
            (
                "Mast.Caom.Filtered.Position",
                json!({"columns": "COUNT_BIG(*)", "filters": [],
                       "position": "10.68, 41.27, 0.2"}),
            ),
            (
                "Mast.Name.Lookup",
                json!({"input": "M 57", "format": "json"}),
            ),
            (
                "Mast.Caom.Cone",
                json!({"ra": 1.0, "dec": 2.0, "radius": 0.2}),
            ),
        ] {
            assert_eq!(
                mashup(&astroquery_request(service, params)),
                Ok(()),
                "{service}"
            );
        }
    }

    #[test]
    fn numeric_obsid_is_refused() {
        let e = mashup(&astroquery_request(
            "Mast.Caom.Products",
            json!({"obsid": 87742159}),
        ))
        .unwrap_err();
        assert!(e.contains("'obsid' must be a string"), "{e}");
    }

    #[test]
    fn open_ranges_are_refused() {
        for range in [json!({"min": 1000.0, "max": null}), json!({"min": 1000.0})] {
            let req = astroquery_request(
                "Mast.Caom.Filtered",
                json!({"columns": "*", "filters": [{"paramName": "t_exptime", "values": [range]}]}),
            );
            let e = mashup(&req).unwrap_err();
            assert!(e.contains("no 'max' value"), "{e}");
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        let mut req = astroquery_request("Mast.Caom.Products", json!({"obsid": "1"}));
        req["pagsize"] = json!(10);
        assert!(mashup(&req).unwrap_err().contains("'pagsize'"));
        let req = astroquery_request("Mast.Caom.Products", json!({"obsids": "1"}));
        assert!(mashup(&req).unwrap_err().contains("'obsids'"));
        let req = astroquery_request(
            "Mast.Caom.Filtered",
            json!({"filters": [{"paramName": "a", "value": ["x"]}]}),
        );
        assert!(mashup(&req).unwrap_err().contains("'value'"));
    }

    #[test]
    fn missions_bodies() {
        let aq = json!({"limit": 5000, "offset": 0,
            "select_cols": ["filename", "fileSetName"], "conditions": [{"exp_type": "NIS_SOSS"}]});
        assert_eq!(missions_search("jwst", &aq), Ok(()));
        let region = json!({"target": ["217.32661 -3.4445"], "radius": 30.0,
            "radius_units": "arcseconds", "limit": 5000, "offset": 0,
            "select_cols": ["filename", "sci_data_set_name"], "conditions": []});
        assert_eq!(missions_search("hst", &region), Ok(()));
        let no_kw = json!({"select_cols": ["filename", "targ_ra"]});
        let e = missions_search("jwst", &no_kw).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("'fileSetName'"), "{}", e.message);
        let e = missions_search("jwst", &json!({"limits": 5})).unwrap_err();
        assert!(e.message.contains("'limits'"), "{}", e.message);
        assert_eq!(
            missions_search("jwst", &json!({"select_cols": null})),
            Ok(())
        );
    }
}
