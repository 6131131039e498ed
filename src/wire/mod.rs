//! The MAST Mashup wire types, shared by the `sandbox` emulator and our
//! client, and UWS phases (`uws`). Serde types only: no I/O and no table
//! logic here.
//!
//! Every type cites the section of `shared/reference/mashup-protocol.md`
//! ("the protocol doc") that defines it. Names are spelled as MAST spells
//! them on the wire (`paramName`, `freeText`, `pageSize`, `cacheBreaker`,
//! `resolvedCoordinate`, `decl`…), with Rust-side names in snake case.

pub mod types;
pub mod uws;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The form field that carries the request object: the body of a POST to
/// `/api/v0/invoke` is `request=` + percent-encoded JSON (protocol doc §1.1).
pub const REQUEST_FIELD: &str = "request";

/// A Mashup request object (protocol doc §1.2, "MashupRequest").
///
/// `pagesize` and `page` are accepted as numbers or numeric strings (the
/// server parses any string, §1.2). Unknown request-level keys are kept in
/// `extra` so a round trip loses nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MashupRequest {
    /// Service name, e.g. `Mast.Caom.Cone`.
    pub service: String,
    /// Service-specific parameters (§2); `{}` when absent.
    #[serde(default)]
    pub params: Value,
    /// `json` (what we use), `extjs`, `csv`, `votable`…; server default `extjs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Rows per page; server default 1000, astroquery sends 50000.
    #[serde(
        default,
        deserialize_with = "de_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub pagesize: Option<u64>,
    /// 1-based page number.
    #[serde(
        default,
        deserialize_with = "de_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub page: Option<u64>,
    /// Seconds the server works before answering `EXECUTING` (default 20).
    #[serde(
        default,
        deserialize_with = "de_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearcache: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removecache: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removenullcolumns: Option<Value>,
    /// Upload payload (crossmatch only, §2.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Client nonce; astroquery sends `cacheBreaker`, MAST's docs `cachebreaker`.
    #[serde(
        default,
        rename = "cacheBreaker",
        alias = "cachebreaker",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_breaker: Option<String>,
    /// Any other request-level key (`filetype`, `columnsconfigid`, `sleep`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Parameters of the `*.Filtered*` services (§2.1), plus the `position`
/// string of `Mast.Caom.Filtered.Position`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FilteredParams {
    /// `*`, `COUNT_BIG(*)`, or a comma-separated column list; all when absent.
    /// A JSON list of names is accepted too (astroquery's `mast_query`
    /// sends `columns=[...]` unjoined) and read as the comma-joined list.
    #[serde(
        default,
        deserialize_with = "de_columns",
        skip_serializing_if = "Option::is_none"
    )]
    pub columns: Option<String>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// `"ra, dec, radius"` in decimal degrees (§2.1 "Positional form").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// One filter object (§2.1): AND across filters, OR within `values`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Filter {
    #[serde(rename = "paramName")]
    pub param_name: String,
    /// Separator of a multi-valued column, e.g. `;` for `filters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Exact values or `{min,max}` ranges. A bare scalar or a bare range
    /// object is accepted as a one-element list (astroquery's `mast_query`
    /// sends `{min,max}` unwrapped).
    #[serde(default, deserialize_with = "de_filter_values")]
    pub values: Vec<FilterValue>,
    /// SQL `LIKE` pattern with explicit `%` wildcards.
    #[serde(rename = "freeText", default, skip_serializing_if = "Option::is_none")]
    pub free_text: Option<String>,
}

/// One entry of a filter's `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterValue {
    /// An inclusive range `{"min": a, "max": b}` (continuous columns).
    Range {
        #[serde(default)]
        min: Option<Value>,
        #[serde(default)]
        max: Option<Value>,
    },
    /// An exact value: astroquery stringifies discrete values (`"3"`), but
    /// numbers and booleans are accepted too.
    Exact(Value),
}

/// `status` of a response envelope (§1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Executing,
    Complete,
    Error,
    /// `Mast.Name.Lookup` answers `"status": ""`.
    #[serde(rename = "")]
    Empty,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Executing => "EXECUTING",
            Status::Complete => "COMPLETE",
            Status::Error => "ERROR",
            Status::Empty => "",
        }
    }
}

/// The `format=json` response envelope (§1.3). `percent complete` really
/// has a space in its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MashupResponse {
    pub status: Status,
    #[serde(default)]
    pub msg: String,
    #[serde(
        rename = "percent complete",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub percent_complete: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
    #[serde(default)]
    pub fields: Vec<Field>,
    /// One JSON object per row, keyed by field name. Values may disagree with
    /// the declared type (numbers under `"string"`, §1.3 "Types can lie").
    #[serde(default)]
    pub data: Vec<Map<String, Value>>,
}

/// `paging` (§1.3): `rows = len(data)`, `pagesFiltered = ceil(rowsFiltered / pageSize)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Paging {
    pub page: u64,
    #[serde(rename = "pageSize")]
    pub page_size: u64,
    #[serde(rename = "pagesFiltered")]
    pub pages_filtered: u64,
    pub rows: u64,
    #[serde(rename = "rowsFiltered")]
    pub rows_filtered: u64,
    #[serde(rename = "rowsTotal")]
    pub rows_total: u64,
}

impl Paging {
    /// Paging for page `page` (1-based) of `total` rows in pages of `size`.
    pub fn for_page(page: u64, size: u64, total: u64) -> Paging {
        let size_nz = size.max(1);
        let pages = total.div_ceil(size_nz);
        let start = (page.saturating_sub(1)).saturating_mul(size_nz);
        let rows = total.saturating_sub(start).min(size_nz);
        Paging {
            page,
            page_size: size,
            pages_filtered: pages,
            rows,
            rows_filtered: total,
            rows_total: total,
        }
    }
}

/// One entry of `fields` (§1.3): MAST type names `string`, `int`, `float`,
/// `boolean`, `datetime`, `long`, `double`…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// `Mast.Name.Lookup` and SANTA resolver answer (§2.4). Not tabular.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NameLookupResponse {
    #[serde(rename = "resolvedCoordinate", default)]
    pub resolved_coordinate: Vec<ResolvedCoordinate>,
    #[serde(default)]
    pub status: String,
}

/// One resolver hit (§2.4; fixture `resolver.json`). Note `decl`, not `dec`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResolvedCoordinate {
    #[serde(rename = "searchString")]
    pub search_string: String,
    pub resolver: String,
    pub cached: bool,
    #[serde(rename = "resolverTime")]
    pub resolver_time: u64,
    #[serde(rename = "cacheDate", default, skip_serializing_if = "Option::is_none")]
    pub cache_date: Option<String>,
    #[serde(rename = "searchRadius")]
    pub search_radius: f64,
    #[serde(rename = "canonicalName")]
    pub canonical_name: String,
    pub ra: f64,
    pub decl: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    #[serde(rename = "majorAxis", default, skip_serializing_if = "Option::is_none")]
    pub major_axis: Option<f64>,
    #[serde(rename = "minorAxis", default, skip_serializing_if = "Option::is_none")]
    pub minor_axis: Option<f64>,
    #[serde(
        rename = "positionAngle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub position_angle: Option<f64>,
    #[serde(
        rename = "objectType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub object_type: Option<String>,
}

/// `GET /whoami` (§4.4): `anon == true` means the token is not valid.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WhoAmI {
    pub anon: bool,
    pub eppn: String,
    pub ezid: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub session: Option<Value>,
    pub token: Option<String>,
    #[serde(default)]
    pub attrib: Map<String, Value>,
}

/// One entry of `GET /api/v0.1/path_lookup/` (§4.5; fixture
/// `mast_relative_path.json`), keyed by dataURI in the response object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathLookup {
    pub status_code: u16,
    pub path: Option<String>,
}

// ---------------------------------------------------------------- missions API

/// The default `limit` of a missions search (protocol doc §4.6; astroquery's too).
pub const MISSIONS_DEFAULT_LIMIT: u64 = 5000;

/// Body of `POST /search/<mission>/api/v0.1/search` (protocol doc §4.6),
/// as astroquery's `MastMissions` and our `services::missions` send it.
///
/// Lenient on input, as the server is: `select_cols`, `target` and
/// `sort_by` may be a list or one comma-separated string, `radius` a number
/// or a numeric string, `conditions` a list of one-key objects or a single
/// object of several keys. Unknown keys are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MissionSearchRequest {
    #[serde(
        default,
        deserialize_with = "de_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<u64>,
    #[serde(
        default,
        deserialize_with = "de_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub offset: Option<u64>,
    /// Output columns; null means the mission's default columns.
    #[serde(default, deserialize_with = "de_opt_str_list")]
    pub select_cols: Option<Vec<String>>,
    /// `"<ra_deg> <dec_deg>"` strings, at most 100.
    #[serde(
        default,
        deserialize_with = "de_opt_str_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub target: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "de_opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub radius: Option<f64>,
    /// `arcseconds`, `arcminutes` (the default) or `degrees`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_units: Option<String>,
    /// `[{"<col>": <value>}, ...]`; values use the server-side syntax
    /// (`a,b` any of, `!v` not, `<`/`>`/`<=`/`>=`, `a..b`, `*` wildcard).
    #[serde(default, deserialize_with = "de_conditions")]
    pub conditions: Vec<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "de_opt_str_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_by: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "de_bool_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sort_desc: Vec<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_count: Option<bool>,
    /// Answer only `totalResults` (fixture `mission_count_only.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_key: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_fields: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of a missions search response's `info`: the column name and
/// its upper-case database type (`VARCHAR`, `FLOAT`, `INTEGER`, `BOOLEAN`,
/// `DATETIME`; fixture `mission_results.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A missions search response (fixture `mission_results.json`): rows are
/// objects keyed by column name; datetimes are ISO strings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MissionSearchResponse {
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub info: Vec<MissionInfo>,
    #[serde(default)]
    pub search_params: Value,
    #[serde(rename = "totalResults", default)]
    pub total_results: u64,
    #[serde(default)]
    pub results: Vec<Map<String, Value>>,
}

/// One product of `POST …/post_list_products` (fixture
/// `mission_products.json`): HST rows name their dataset `dataset`, JWST
/// rows `fileset`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MissionProduct {
    pub product_key: String,
    pub access: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fileset: Option<String>,
    pub instrument_name: String,
    pub filters: String,
    pub filename: String,
    pub uri: String,
    pub authz_primary_identifier: String,
    pub authz_secondary_identifier: String,
    pub file_suffix: String,
    pub category: String,
    pub size: i64,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// `{"products": [...]}`, the answer of `post_list_products`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MissionProducts {
    pub products: Vec<MissionProduct>,
}

/// One entry of `GET /search/util/api/v0.1/column_list?mission=…` (fixture
/// `mission_columns.json`). `queryable`, `default_output` and `indexed`
/// are the strings `"yes"`/`"no"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissionColumn {
    pub field_name: String,
    pub description: String,
    pub column_name: String,
    pub queryable: String,
    /// `string`, `float`, `integer`, `datetime`, `boolean`, `ra`, `dec`, `substring`.
    pub qual_type: String,
    pub default_output: String,
    pub indexed: String,
    /// `char`, `float`, `long`, `double`.
    pub datatype: String,
}

fn de_opt_str_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        ),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter(|x| !x.is_null())
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect(),
        ),
        Some(other) => Some(vec![other.to_string()]),
    })
}

fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid number `{s}`"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "invalid number `{other}`"
        ))),
    }
}

fn de_bool_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<bool>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    let one = |x: &Value| match x {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "t" | "1"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    };
    Ok(match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(x) => vec![one(&x)],
    })
}

fn de_conditions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Map<String, Value>>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m
            .into_iter()
            .map(|(k, v)| {
                let mut one = Map::new();
                one.insert(k, v);
                one
            })
            .collect()),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|x| match x {
                Value::Object(m) => Ok(m),
                other => Err(serde::de::Error::custom(format!(
                    "a condition must be an object {{\"column\": value}}, not `{other}`"
                ))),
            })
            .collect(),
        Some(other) => Err(serde::de::Error::custom(format!(
            "`conditions` must be a list of objects, not `{other}`"
        ))),
    }
}

fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    })
}

fn de_columns<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Some(other) => Some(other.to_string()),
    })
}

fn de_filter_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FilterValue>, D::Error> {
    let v = Value::deserialize(d)?;
    let items = match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a,
        other => vec![other],
    };
    Ok(items.into_iter().map(filter_value).collect())
}

fn filter_value(v: Value) -> FilterValue {
    match v {
        Value::Object(m) if m.contains_key("min") || m.contains_key("max") => FilterValue::Range {
            min: m.get("min").cloned().filter(|x| !x.is_null()),
            max: m.get("max").cloned().filter(|x| !x.is_null()),
        },
        other => FilterValue::Exact(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_doc_example_request_parses() {
        let json = r#"{"service": "Mast.Caom.Filtered",
 "params": {"columns": "*", "filters": [
    {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
    {"paramName": "instrument_name", "values": [], "freeText": "NIRCAM%"},
    {"paramName": "t_exptime", "values": [{"min": 100, "max": 1000}]}]},
 "format": "json", "pagesize": 50000, "page": 1,
 "cacheBreaker": "3f1c2a5e-8d7b-4e8a-9c61-0a2b3c4d5e6f"}"#;
        let r: MashupRequest = serde_json::from_str(json).unwrap();
        assert_eq!(r.pagesize, Some(50000));
        assert_eq!(
            r.cache_breaker.as_deref(),
            Some("3f1c2a5e-8d7b-4e8a-9c61-0a2b3c4d5e6f")
        );
        let p: FilteredParams = serde_json::from_value(r.params).unwrap();
        assert_eq!(p.filters.len(), 3);
        assert_eq!(p.filters[1].free_text.as_deref(), Some("NIRCAM%"));
        assert!(matches!(p.filters[2].values[0], FilterValue::Range { .. }));
    }

    #[test]
    fn unwrapped_range_and_string_pagesize() {
        let r: MashupRequest =
            serde_json::from_str(r#"{"service":"x","pagesize":"10","params":{}}"#).unwrap();
        assert_eq!(r.pagesize, Some(10));
        let f: Filter =
            serde_json::from_str(r#"{"paramName":"duration","values":{"min":810,"max":820}}"#)
                .unwrap();
        assert_eq!(f.values.len(), 1);
        assert!(matches!(f.values[0], FilterValue::Range { .. }));
    }

    #[test]
    fn missions_request_shapes() {
        // astroquery's body (query_region) and ours (services::missions).
        let aq: MissionSearchRequest = serde_json::from_str(
            r#"{"target": ["217.3266 -3.4445"], "radius": 180.0, "radius_units": "arcseconds",
                "limit": 5000, "offset": 0, "select_cols": null,
                "conditions": [{"exp_type": "NIS_SOSS"}, {"program": "1366,1541"}],
                "sort_by": "date_obs", "sort_desc": true}"#,
        )
        .unwrap();
        assert_eq!(aq.limit, Some(5000));
        assert_eq!(aq.select_cols, None);
        assert_eq!(aq.radius, Some(180.0));
        assert_eq!(aq.conditions.len(), 2);
        assert_eq!(aq.sort_by.as_deref(), Some(&["date_obs".to_string()][..]));
        assert_eq!(aq.sort_desc, vec![true]);
        let one: MissionSearchRequest =
            serde_json::from_str(r#"{"conditions": {"a": 1, "b": "x"}, "select_cols": "a, b"}"#)
                .unwrap();
        assert_eq!(one.conditions.len(), 2);
        assert_eq!(one.select_cols.unwrap(), vec!["a", "b"]);
        assert!(serde_json::from_str::<MissionSearchRequest>(r#"{"conditions": [3]}"#).is_err());
    }

    #[test]
    fn paging_matches_fixture_semantics() {
        let p = Paging::for_page(7, 100, 630);
        assert_eq!((p.pages_filtered, p.rows, p.rows_total), (7, 30, 630));
        let p = Paging::for_page(8, 100, 630);
        assert_eq!(p.rows, 0);
    }
}
