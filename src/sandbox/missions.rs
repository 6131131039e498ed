//! The MAST missions search API (protocol doc §4.6), as astroquery's
//! `MastMissions` and our `services::missions` use it:
//!
//! - `POST /search/<mission>/api/v0.1/search`: one JSON body (limit,
//!   offset, select_cols, target, radius + radius_units, conditions,
//!   sort_by, sort_desc, count_only) → `{messages, info, search_params,
//!   totalResults, results}`;
//! - `POST …/post_list_products` (`{"dataset_ids": […]}`) → `{products}`;
//! - `GET …/retrieve_product?product_name=…` (served by `http`, bytes of
//!   `files`);
//! - `GET /search/util/api/v0.1/column_list?mission=…`.
//!
//! `jwst` is one row per file, from the SI-keyword tables of every science
//! instrument (the calibrated levels 2a, 2b, 3) plus a level-1b row per
//! exposure file (its `_uncal.fits`), keyed by `fileSetName`; `/Date(ms)/`
//! keywords become ISO datetimes (their `_mjd` twins are dropped), `t`/`f`
//! keywords booleans, and `access`, `opticalElements`, `proposal_type` are
//! added. `hst` is one row per HST CAOM observation (`sci_*` columns).
//!
//! Condition values follow the server-side syntax: `a,b` any of, `!v` none
//! of, `<`, `>`, `<=`, `>=`, `a..b` (inclusive), `*` wildcards; exact text
//! matches ignore case and trailing blanks; nulls never match (SQL). An
//! unknown column is an HTTP 400 with a message.

use super::data::products::{Exposure, Lister, ProductRow, fileset_of, synthetic_size};
use super::data::sikw::SiTable;
use super::data::{Archive, caom, exposure_of};
use super::sky::ang_dist_deg;
use crate::table::column::ColumnBuilder;
use crate::table::normalize;
use crate::table::{DataType, Table, ValueRef};
use crate::wire::{
    MISSIONS_DEFAULT_LIMIT, MissionColumn, MissionInfo, MissionProduct, MissionProducts,
    MissionSearchRequest,
};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Largest accepted search radius (protocol doc §4.6).
pub const MAX_RADIUS_ARCMIN: f64 = 30.0;
/// Radius when a position search gives none.
pub const DEFAULT_RADIUS_ARCMIN: f64 = 3.0;
/// Most targets in one search.
pub const MAX_TARGETS: usize = 100;
/// Missions the sandbox answers.
pub const MISSIONS: &[&str] = &["jwst", "hst"];

/// An error answered as HTTP `status` with a JSON message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    /// `{"detail": msg, "messages": [msg]}`.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"detail": self.message, "messages": [self.message]}))
            .unwrap_or_default()
    }
}

/// How a column is typed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// ISO strings in the table; comparisons use the MJD kept beside them.
    Datetime,
}

impl Kind {
    fn info_type(self) -> &'static str {
        match self {
            Kind::Str => "VARCHAR",
            Kind::Int => "INTEGER",
            Kind::Float => "FLOAT",
            Kind::Bool => "BOOLEAN",
            Kind::Datetime => "DATETIME",
        }
    }
}

/// One mission's searchable table.
pub struct MissionTable {
    pub mission: &'static str,
    pub table: Table,
    pub kinds: Vec<Kind>,
    mjd: HashMap<usize, Vec<f64>>,
    /// The dataset keyword (`fileSetName`, `sci_data_set_name`).
    pub dataset_col: usize,
    forced: Vec<usize>,
    defaults: Vec<usize>,
    default_sort: Vec<usize>,
    ra_col: usize,
    dec_col: usize,
}

/// Where a JWST file set's products come from.
#[derive(Debug, Clone, Copy)]
enum Src {
    Row(u32),
    Virtual(u32),
}

/// Every emulated mission, built once per archive.
pub struct Missions {
    pub jwst: MissionTable,
    pub hst: MissionTable,
    filesets: HashMap<String, Vec<Src>>,
    hst_datasets: HashMap<String, u32>,
}

impl Missions {
    /// Build the tables and the dataset indexes from the archive.
    pub fn build(a: &Archive) -> Missions {
        let mut filesets: HashMap<String, Vec<Src>> = HashMap::new();
        let mut hst_datasets = HashMap::new();
        let (coll, obs_id, level) = (1, 9, 14);
        for r in 0..a.obs.num_rows() {
            let c = a.obs.get(r, coll).as_str().unwrap_or("");
            let id = a.obs.get(r, obs_id).as_str().unwrap_or("");
            if c == "HST" {
                hst_datasets.insert(id.to_ascii_uppercase(), r as u32);
            } else if c == "JWST" && matches!(a.obs.get(r, level), ValueRef::Int(2 | 3)) {
                filesets
                    .entry(fileset_of(&id.to_ascii_lowercase()))
                    .or_default()
                    .push(Src::Row(r as u32));
            }
        }
        for (i, e) in a.virtual_exposures().iter().enumerate() {
            filesets
                .entry(fileset_of(&e.obs_id.to_ascii_lowercase()))
                .or_default()
                .push(Src::Virtual(i as u32));
        }
        Missions {
            jwst: build_jwst(a),
            hst: build_hst(a),
            filesets,
            hst_datasets,
        }
    }

    /// The table of `mission` (lower-case name).
    pub fn table(&self, mission: &str) -> Result<&MissionTable, ApiError> {
        match mission.to_ascii_lowercase().as_str() {
            "jwst" => Ok(&self.jwst),
            "hst" => Ok(&self.hst),
            other => Err(ApiError {
                status: 404,
                message: format!(
                    "Mission '{other}' is not available in the sandbox (available: {}).",
                    MISSIONS.join(", ")
                ),
            }),
        }
    }

    /// `post_list_products`: the products of each dataset, in request order
    /// (unknown datasets list nothing, duplicates once).
    pub fn products(
        &self,
        a: &Archive,
        mission: &str,
        ids: &[String],
    ) -> Result<MissionProducts, ApiError> {
        self.table(mission)?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if !seen.insert(id.to_ascii_lowercase()) {
                continue;
            }
            if mission.eq_ignore_ascii_case("hst") {
                out.extend(self.hst_products(a, id));
            } else {
                out.extend(self.jwst_products(a, id));
            }
        }
        Ok(MissionProducts { products: out })
    }

    fn jwst_products(&self, a: &Archive, fileset: &str) -> Vec<MissionProduct> {
        let key = fileset.to_ascii_lowercase();
        let Some(srcs) = self.filesets.get(&key) else {
            return Vec::new();
        };
        let sizes = |name: &str| a.known_size(name);
        let mut rows: Vec<(ProductRow, String, Option<String>)> = Vec::new();
        let mut names = HashSet::new();
        for s in srcs {
            let (e, level, instrument, filters) = match *s {
                Src::Row(r) => {
                    let o = caom::row_of(&a.obs, r as usize);
                    let instr = o
                        .instrument_name
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    (exposure_of(&o), o.calib_level, instr, o.filters.clone())
                }
                Src::Virtual(v) => {
                    let e: Exposure = a.virtual_exposures()[v as usize].clone();
                    let instr = instrument_of_stem(&e.obs_id);
                    (e, 2, instr, None)
                }
            };
            let mut l = Lister {
                parent_obsid: e.obsid,
                known_size: &sizes,
                out: Vec::new(),
            };
            if level >= 3 {
                l.level3(&e);
            } else {
                l.exposure(&e, 0);
            }
            for p in l.out {
                let lower = p.productFilename.to_ascii_lowercase();
                if lower.starts_with(&key) && names.insert(lower) {
                    rows.push((p, instrument.clone(), filters.clone()));
                }
            }
        }
        rows.into_iter()
            .map(|(p, instrument, filters)| jwst_product(fileset, p, instrument, filters))
            .collect()
    }

    fn hst_products(&self, a: &Archive, dataset: &str) -> Vec<MissionProduct> {
        let ds = dataset.to_ascii_uppercase();
        let Some(&r) = self.hst_datasets.get(&ds) else {
            return Vec::new();
        };
        let o = caom::row_of(&a.obs, r as usize);
        let instrument = pad6(o.instrument_name.split('/').next().unwrap_or(""));
        a.products(o.obsid)
            .into_iter()
            .map(|p| {
                let suffix = suffix_of(&p.productFilename).to_ascii_uppercase();
                let category = match (p.productType.as_str(), p.calib_level) {
                    ("PREVIEW" | "THUMBNAIL", _) => "PREVIEW",
                    ("AUXILIARY", _) => "AUX",
                    (_, 1) => "UNCALIBRATED",
                    _ => "CALIBRATED",
                };
                MissionProduct {
                    product_key: format!("{ds}_{}", p.productFilename),
                    access: hst_access(&p.dataRights).to_string(),
                    dataset: Some(ds.clone()),
                    fileset: None,
                    instrument_name: instrument.clone(),
                    filters: o.filters.clone().unwrap_or_default(),
                    uri: format!("{ds}/{}", p.productFilename),
                    authz_primary_identifier: ds.clone(),
                    authz_secondary_identifier: suffix.clone(),
                    file_suffix: suffix,
                    category: category.to_string(),
                    size: p.size,
                    type_name: "science".to_string(),
                    filename: p.productFilename,
                }
            })
            .collect()
    }
}

/// The file's suffix without the extension: `x_uncal.fits` → `uncal`,
/// `x_cal_thumb.jpg` → `thumb`.
fn suffix_of(name: &str) -> &str {
    let stem = name.split('.').next().unwrap_or(name);
    stem.rsplit_once('_').map_or(stem, |x| x.1)
}

fn pad6(s: &str) -> String {
    format!("{s:<6}")
}

fn hst_access(rights: &str) -> &'static str {
    if rights == "PUBLIC" {
        "PUBLIC"
    } else {
        "PROPRIETARY"
    }
}

/// The instrument of a JWST stem from its detector field.
fn instrument_of_stem(stem: &str) -> String {
    let det = stem.rsplit('_').next().unwrap_or("");
    match det {
        d if d.starts_with("nrs") => "NIRSPEC",
        d if d.starts_with("nrc") => "NIRCAM",
        d if d.starts_with("mir") => "MIRI",
        d if d.starts_with("guider") => "FGS",
        _ => "NIRISS",
    }
    .to_string()
}

fn jwst_product(
    fileset: &str,
    p: ProductRow,
    instrument: String,
    filters: Option<String>,
) -> MissionProduct {
    let suffix = suffix_of(&p.productFilename).to_string();
    let category = match (p.productType.as_str(), p.calib_level) {
        ("PREVIEW" | "THUMBNAIL", _) => "PREVIEW".to_string(),
        ("INFO", _) => "ASSOCIATION".to_string(),
        (_, 1) => "1b".to_string(),
        (_, 3) => "3".to_string(),
        _ if matches!(suffix.as_str(), "rate" | "rateints" | "ramp") => "2a".to_string(),
        _ => "2b".to_string(),
    };
    let type_name = match p.productType.as_str() {
        "PREVIEW" | "THUMBNAIL" => "preview",
        "INFO" => "association",
        "AUXILIARY" => "auxiliary",
        _ => "science",
    };
    MissionProduct {
        product_key: format!("{fileset}_{}", p.productFilename),
        access: p.dataRights.clone(),
        dataset: None,
        fileset: Some(fileset.to_string()),
        instrument_name: instrument,
        filters: filters.unwrap_or_default(),
        uri: format!("{fileset}/{}", p.productFilename),
        authz_primary_identifier: fileset.to_string(),
        authz_secondary_identifier: suffix.to_ascii_uppercase(),
        file_suffix: format!("_{suffix}"),
        category,
        size: p.size,
        type_name: type_name.to_string(),
        filename: p.productFilename,
    }
}

/// The `mast:` URI a `retrieve_product?product_name=` names: a full URI, a
/// `dataset/filename` path or a bare file name.
pub fn product_uri(mission: &str, product_name: &str) -> Option<String> {
    let name = product_name.trim();
    if name.starts_with("mast:") {
        return Some(name.to_string());
    }
    let file = name.rsplit('/').next().filter(|f| !f.is_empty())?;
    Some(format!(
        "mast:{}/product/{file}",
        mission.to_ascii_uppercase()
    ))
}

// ---------------------------------------------------------------- tables

/// The SI services that feed the JWST table (the guide-star table does not).
const JWST_SOURCES: &[&str] = &["nircam", "niriss", "nirspec", "miri", "fgs"];

/// Default output columns of a JWST search (the order of a real result).
const JWST_DEFAULTS: &[&str] = &[
    "ArchiveFileID",
    "fileSetName",
    "productLevel",
    "targprop",
    "targ_ra",
    "targ_dec",
    "instrume",
    "exp_type",
    "opticalElements",
    "date_obs",
    "duration",
    "program",
    "observtn",
    "visit",
    "publicReleaseDate",
    "pi_name",
    "proposal_type",
    "access",
];

/// A JWST table row: an SI row, or the level-1b row of its exposure file.
struct JRow {
    t: usize,
    r: usize,
    uncal: Option<(String, i64)>,
}

/// Python's isoformat, as the fixture shows: microseconds
/// (`…16.633000`), none for a whole second (`…23:03:09`).
fn iso6(s: &str) -> String {
    match s.len() {
        23 if s.ends_with(".000") => s[..19].to_string(),
        23 => format!("{s}000"),
        _ => s.to_string(),
    }
}

/// MJD as Python's `isoformat` writes the instant (also ObsCore's
/// `obs_release_date`).
pub(crate) fn mjd_to_iso(mjd: f64) -> Option<String> {
    if !mjd.is_finite() {
        return None;
    }
    let ms = ((mjd - 40587.0) * 86_400_000.0).round() as i64;
    normalize::epoch_ms_to_iso(ms).map(|s| iso6(&s))
}

fn build_jwst(a: &Archive) -> MissionTable {
    let tables: Vec<&SiTable> = JWST_SOURCES.iter().filter_map(|s| a.sikw.get(*s)).collect();
    let mut header: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for t in &tables {
        for n in t.table.column_names() {
            if seen.insert(n.to_string()) {
                header.push(n.to_string());
            }
        }
    }
    let twins: HashSet<String> = header
        .iter()
        .filter_map(|n| n.strip_suffix("_mjd"))
        .filter(|b| seen.contains(*b))
        .map(str::to_string)
        .collect();
    header.retain(|n| !n.strip_suffix("_mjd").is_some_and(|b| twins.contains(b)));
    // Rows: every SI row, then a level-1b row per exposure file.
    let mut rows: Vec<JRow> = Vec::new();
    let mut stems = HashSet::new();
    let mut uncal: Vec<JRow> = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        let (fi, li) = (
            t.table.index_of("filename"),
            t.table.index_of("productLevel"),
        );
        for r in 0..t.table.num_rows() {
            rows.push(JRow {
                t: ti,
                r,
                uncal: None,
            });
            let (Some(fi), Some(li)) = (fi, li) else {
                continue;
            };
            let level = t.table.get(r, li).as_str().unwrap_or("");
            let file = t.table.get(r, fi).as_str().unwrap_or("");
            if !matches!(level, "2a" | "2b") {
                continue;
            }
            if let Some((stem, _)) = file.rsplit_once('_') {
                if stems.insert(stem.to_string()) {
                    let name = format!("{stem}_uncal.fits");
                    let size = a.known_size(&name).unwrap_or_else(|| synthetic_size(&name));
                    uncal.push(JRow {
                        t: ti,
                        r,
                        uncal: Some((name, size)),
                    });
                }
            }
        }
    }
    rows.extend(uncal);
    let n = rows.len();
    let idx: Vec<Vec<Option<usize>>> = header
        .iter()
        .map(|h| tables.iter().map(|t| t.table.index_of(h)).collect())
        .collect();
    let cell = |j: usize, row: &JRow| -> ValueRef<'_> {
        idx[j][row.t].map_or(ValueRef::Null, |c| tables[row.t].table.get(row.r, c))
    };
    let mut columns = Vec::new();
    let mut kinds = Vec::new();
    let mut mjd = HashMap::new();
    let mut uncal_ids = 700_000_000i64;
    for (j, name) in header.iter().enumerate() {
        // Types of the tables holding a value (an all-null column is typeless).
        let dtypes: Vec<DataType> = idx[j]
            .iter()
            .zip(&tables)
            .filter_map(|(c, t)| c.map(|c| &t.table.columns()[c]))
            .filter(|c| c.null_count() < c.len())
            .map(|c| c.data_type())
            .collect();
        let dtype = dtypes
            .iter()
            .copied()
            .reduce(|x, y| match (x, y) {
                (x, y) if x == y => x,
                (DataType::Int, DataType::Float) | (DataType::Float, DataType::Int) => {
                    DataType::Float
                }
                _ => DataType::String,
            })
            .unwrap_or(DataType::String);
        let kind = if twins.contains(name) {
            Kind::Datetime
        } else if dtype == DataType::String
            && rows.iter().all(|r| match cell(j, r) {
                ValueRef::Str(s) => s == "t" || s == "f",
                ValueRef::Null => true,
                _ => false,
            })
            && rows.iter().any(|r| !cell(j, r).is_null())
        {
            Kind::Bool
        } else {
            match dtype {
                DataType::Int => Kind::Int,
                DataType::Float => Kind::Float,
                DataType::Bool => Kind::Bool,
                DataType::String => Kind::Str,
            }
        };
        let store = match kind {
            Kind::Datetime | Kind::Str => DataType::String,
            Kind::Bool => DataType::Bool,
            Kind::Int => DataType::Int,
            Kind::Float => DataType::Float,
        };
        let mut b = ColumnBuilder::new(store, n);
        let mut mj = Vec::new();
        let twin: Vec<Option<usize>> = if kind == Kind::Datetime {
            tables
                .iter()
                .map(|t| t.table.index_of(&format!("{name}_mjd")))
                .collect()
        } else {
            Vec::new()
        };
        for row in &rows {
            let v = match (&row.uncal, name.as_str()) {
                (Some((f, _)), "filename") => Some(ValueRef::Str(f)),
                (Some(_), "productLevel") => Some(ValueRef::Str("1b")),
                (Some((_, s)), "fileSize") => Some(ValueRef::Int(*s)),
                (Some(_), "ArchiveFileID") => {
                    uncal_ids += 1;
                    Some(ValueRef::Int(uncal_ids))
                }
                (Some(_), "datamodl") => Some(ValueRef::Str("RampModel")),
                _ => None,
            };
            if let (Some((f, _)), "dataURI") = (&row.uncal, name.as_str()) {
                b.push(ValueRef::Str(&format!("mast:JWST/product/{f}")));
                continue;
            }
            if let (Some((f, _)), "checksum") = (&row.uncal, name.as_str()) {
                let h = super::data::products::hash64(f);
                b.push(ValueRef::Str(&format!(
                    "{h:016x}{:016x}",
                    h.rotate_left(17)
                )));
                continue;
            }
            let v = v.unwrap_or_else(|| cell(j, row));
            match kind {
                Kind::Datetime => {
                    let iso = v.as_str().and_then(|s| {
                        normalize::mast_date_to_iso(s)
                            .map(|x| iso6(&x))
                            .or_else(|| normalize::iso_to_mjd(s).map(|_| s.to_string()))
                    });
                    let m = twin[row.t]
                        .and_then(|c| tables[row.t].table.get(row.r, c).as_f64())
                        .or_else(|| iso.as_deref().and_then(normalize::iso_to_mjd))
                        .unwrap_or(f64::NAN);
                    mj.push(if iso.is_some() { m } else { f64::NAN });
                    b.push(iso.as_deref().map_or(ValueRef::Null, ValueRef::Str));
                }
                Kind::Bool => match v {
                    ValueRef::Str(s) => b.push(ValueRef::Bool(s == "t")),
                    other => b.push(other),
                },
                _ => b.push(v),
            }
        }
        if kind == Kind::Datetime {
            mjd.insert(j, mj);
        }
        columns.push(b.finish(name.clone()));
        kinds.push(kind);
    }
    let mut t = Table::new(columns).unwrap_or_default();
    // Columns of the search form that are not FITS keywords.
    let get = |t: &Table, row: usize, name: &str| -> Option<String> {
        let c = t.index_of(name)?;
        let v = t.get(row, c);
        (!v.is_null()).then(|| v.display())
    };
    let mut access = ColumnBuilder::new(DataType::String, n);
    let mut optical = ColumnBuilder::new(DataType::String, n);
    let mut ptype = ColumnBuilder::new(DataType::String, n);
    for r in 0..n {
        let restricted = get(&t, r, "isRestricted").is_some_and(|v| v == "True");
        access.push(ValueRef::Str(if restricted {
            "EXCLUSIVE_ACCESS"
        } else {
            "PUBLIC"
        }));
        let elems: Vec<String> = ["filter", "pupil"]
            .iter()
            .filter_map(|c| get(&t, r, c))
            .filter(|v| v != "N/A" && !v.is_empty())
            .collect();
        let joined = elems.join(";");
        optical.push(if elems.is_empty() {
            ValueRef::Null
        } else {
            ValueRef::Str(&joined)
        });
        let cat = get(&t, r, "category");
        ptype.push(cat.as_deref().map_or(ValueRef::Null, ValueRef::Str));
    }
    for (b, name) in [
        (access, "access"),
        (optical, "opticalElements"),
        (ptype, "proposal_type"),
    ] {
        let _ = t.push_column(b.finish(name));
        kinds.push(Kind::Str);
    }
    // Key columns exist even when the SI tables lack them (`--data DIR`).
    for (name, dtype, kind) in [
        ("ArchiveFileID", DataType::Int, Kind::Int),
        ("fileSetName", DataType::String, Kind::Str),
        ("filename", DataType::String, Kind::Str),
        ("targ_ra", DataType::Float, Kind::Float),
        ("targ_dec", DataType::Float, Kind::Float),
    ] {
        if t.index_of(name).is_none() {
            let _ = t.push_column(crate::table::Column::nulls(name, dtype, n));
            kinds.push(kind);
        }
    }
    let col = |n: &str| t.index_of(n).unwrap_or(0);
    MissionTable {
        mission: "jwst",
        dataset_col: col("fileSetName"),
        forced: vec![col("ArchiveFileID"), col("fileSetName")],
        defaults: JWST_DEFAULTS.iter().filter_map(|c| t.index_of(c)).collect(),
        default_sort: ["targprop", "fileSetName", "ArchiveFileID"]
            .iter()
            .filter_map(|c| t.index_of(c))
            .collect(),
        ra_col: col("targ_ra"),
        dec_col: col("targ_dec"),
        kinds,
        mjd,
        table: t,
    }
}

/// HST columns: name, kind, default output.
const HST_COLUMNS: &[(&str, Kind, bool)] = &[
    ("sci_data_set_name", Kind::Str, true),
    ("sci_targname", Kind::Str, true),
    ("sci_instrume", Kind::Str, true),
    ("sci_aper_1234", Kind::Str, true),
    ("sci_spec_1234", Kind::Str, true),
    ("sci_actual_duration", Kind::Float, true),
    ("sci_start_time", Kind::Datetime, true),
    ("sci_pep_id", Kind::Int, true),
    ("sci_pi_last_name", Kind::Str, true),
    ("sci_ra", Kind::Float, true),
    ("sci_dec", Kind::Float, true),
    ("sci_refnum", Kind::Int, true),
    ("sci_central_wavelength", Kind::Float, true),
    ("sci_release_date", Kind::Datetime, true),
    ("sci_stop_time", Kind::Datetime, true),
    ("sci_preview_name", Kind::Str, true),
    ("scp_scan_type", Kind::Str, true),
    ("sci_hlsp", Kind::Int, true),
    ("sci_obs_type", Kind::Str, false),
    ("sci_aec", Kind::Str, false),
    ("sci_status", Kind::Str, false),
];

fn build_hst(a: &Archive) -> MissionTable {
    let rows: Vec<caom::ObsRow> = (0..a.obs.num_rows())
        .filter(|&r| a.obs.get(r, 1).as_str() == Some("HST"))
        .map(|r| caom::row_of(&a.obs, r))
        .collect();
    let n = rows.len();
    let mut columns = Vec::new();
    let mut mjd = HashMap::new();
    for (j, (name, kind, _)) in HST_COLUMNS.iter().enumerate() {
        let store = match kind {
            Kind::Str | Kind::Datetime => DataType::String,
            Kind::Int => DataType::Int,
            Kind::Float => DataType::Float,
            Kind::Bool => DataType::Bool,
        };
        let mut b = ColumnBuilder::new(store, n);
        let mut mj = Vec::new();
        for o in &rows {
            let ds = o.obs_id.to_ascii_uppercase();
            let text = |s: String| b_str(s);
            let v: Option<CellValue> = match *name {
                "sci_data_set_name" | "sci_preview_name" => text(ds.clone()),
                "sci_targname" => text(o.target_name.to_ascii_uppercase().replace(' ', "-")),
                "sci_instrume" => text(pad6(o.instrument_name.split('/').next().unwrap_or(""))),
                "sci_aper_1234" => text(
                    o.instrument_name
                        .split_once('/')
                        .map_or("", |x| x.1)
                        .to_string(),
                ),
                "sci_spec_1234" => o.filters.clone().and_then(b_str),
                "sci_actual_duration" => Some(CellValue::F(o.t_exptime)),
                "sci_start_time" => o.t_min.map(CellValue::T),
                "sci_stop_time" => o.t_max.map(CellValue::T),
                "sci_release_date" => o.t_obs_release.map(CellValue::T),
                "sci_pep_id" => o.proposal_id.trim().parse().ok().map(CellValue::I),
                "sci_pi_last_name" => text(
                    o.proposal_pi
                        .split(',')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_uppercase(),
                ),
                "sci_ra" => o.s_ra.map(CellValue::F),
                "sci_dec" => o.s_dec.map(CellValue::F),
                "sci_refnum" => Some(CellValue::I((super::data::fnv(&o.obs_id) % 90 + 1) as i64)),
                "sci_central_wavelength" => match (o.em_min, o.em_max) {
                    // CAOM em_min/em_max are in nm; HST wavelengths in Å.
                    (Some(lo), Some(hi)) => Some(CellValue::F((lo + hi) / 2.0 * 10.0)),
                    _ => None,
                },
                "sci_obs_type" => text(o.dataproduct_type.to_ascii_uppercase()),
                "sci_aec" => text("S".to_string()),
                "sci_status" => text(hst_access(&o.dataRights).to_string()),
                _ => None,
            };
            match v {
                None => {
                    b.push(ValueRef::Null);
                    mj.push(f64::NAN);
                }
                Some(CellValue::S(s)) => b.push(ValueRef::Str(&s)),
                Some(CellValue::I(i)) => b.push(ValueRef::Int(i)),
                Some(CellValue::F(f)) => b.push(ValueRef::Float(f)),
                Some(CellValue::T(m)) => {
                    let iso = mjd_to_iso(m);
                    mj.push(if iso.is_some() { m } else { f64::NAN });
                    b.push(iso.as_deref().map_or(ValueRef::Null, ValueRef::Str));
                }
            }
        }
        if *kind == Kind::Datetime {
            mjd.insert(j, mj);
        }
        columns.push(b.finish(*name));
    }
    let t = Table::new(columns).unwrap_or_default();
    let col = |n: &str| t.index_of(n).unwrap_or(0);
    MissionTable {
        mission: "hst",
        dataset_col: 0,
        forced: vec![0],
        defaults: (0..HST_COLUMNS.len())
            .filter(|&i| HST_COLUMNS[i].2)
            .collect(),
        default_sort: vec![col("sci_targname"), col("sci_data_set_name")],
        ra_col: col("sci_ra"),
        dec_col: col("sci_dec"),
        kinds: HST_COLUMNS.iter().map(|c| c.1).collect(),
        mjd,
        table: t,
    }
}

enum CellValue {
    S(String),
    I(i64),
    F(f64),
    T(f64),
}

fn b_str(s: String) -> Option<CellValue> {
    (!s.is_empty()).then_some(CellValue::S(s))
}

// ---------------------------------------------------------------- conditions

#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Num(f64),
    Text(String),
    Bool(bool),
    /// MJD, and whether only a date was given (then `=` means that day).
    Time(f64, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Pred {
    Eq(Scalar),
    Cmp(&'static str, Scalar),
    Range(Option<Scalar>, Option<Scalar>),
    Glob(Vec<u8>),
}

#[derive(Debug)]
struct Cond {
    col: usize,
    pos: Vec<Pred>,
    neg: Vec<Pred>,
}

/// A wildcard pattern (`*` any run) against text, ASCII case-insensitive;
/// `pattern` is lower-case.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let (mut star_p, mut star_t) = (usize::MAX, 0usize);
    while t < text.len() {
        if p < pattern.len() && pattern[p] != b'*' && pattern[p] == text[t].to_ascii_lowercase() {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star_p = p;
            star_t = t;
            p += 1;
        } else if star_p != usize::MAX {
            p = star_p + 1;
            star_t += 1;
            t = star_t;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

impl MissionTable {
    fn name(&self, c: usize) -> &str {
        &self.table.columns()[c].name
    }

    /// A column by name: exact, then ignoring case.
    fn resolve(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.table.index_of(name).or_else(|| {
            self.table
                .column_names()
                .position(|c| c.eq_ignore_ascii_case(name))
        })
    }

    fn unknown(&self, what: &str, name: &str) -> ApiError {
        ApiError::bad(format!(
            "Invalid {what} '{name}': no such column for mission '{}'. See /search/util/api/v0.1/column_list?mission={}.",
            self.mission, self.mission
        ))
    }

    fn scalar(&self, col: usize, s: &str) -> Result<Scalar, ApiError> {
        let s = s.trim();
        let bad = |what: &str| {
            ApiError::bad(format!(
                "Invalid value '{s}' for {what} column '{}'.",
                self.name(col)
            ))
        };
        Ok(match self.kinds[col] {
            Kind::Int | Kind::Float => Scalar::Num(s.parse().map_err(|_| bad("numeric"))?),
            Kind::Bool => Scalar::Bool(
                normalize::parse_bool(s)
                    .or(match s {
                        "t" | "T" | "1" => Some(true),
                        "f" | "F" | "0" => Some(false),
                        _ => None,
                    })
                    .ok_or_else(|| bad("boolean"))?,
            ),
            Kind::Datetime => match normalize::iso_to_mjd(s) {
                Some(m) => Scalar::Time(m, !s.contains([':', 'T'])),
                None => Scalar::Time(s.parse().map_err(|_| bad("datetime"))?, false),
            },
            Kind::Str => Scalar::Text(s.to_ascii_lowercase()),
        })
    }

    fn pred(&self, col: usize, tok: &str) -> Result<Pred, ApiError> {
        if tok.contains('*') {
            return Ok(Pred::Glob(tok.to_ascii_lowercase().into_bytes()));
        }
        for op in [">=", "<=", ">", "<"] {
            if let Some(rest) = tok.strip_prefix(op) {
                return Ok(Pred::Cmp(op, self.scalar(col, rest)?));
            }
        }
        if let Some((lo, hi)) = tok.split_once("..") {
            let side = |x: &str| -> Result<Option<Scalar>, ApiError> {
                if x.trim().is_empty() {
                    Ok(None)
                } else {
                    self.scalar(col, x).map(Some)
                }
            };
            return Ok(Pred::Range(side(lo)?, side(hi)?));
        }
        Ok(Pred::Eq(self.scalar(col, tok)?))
    }

    fn compile(&self, key: &str, value: &Value) -> Result<Option<Cond>, ApiError> {
        let col = self
            .resolve(key)
            .ok_or_else(|| self.unknown("column name", key))?;
        let mut tokens: Vec<String> = Vec::new();
        let push = |v: &Value, tokens: &mut Vec<String>| -> Result<(), ApiError> {
            match v {
                Value::Null => {}
                Value::String(s) => tokens.extend(s.split(',').map(|t| t.trim().to_string())),
                Value::Number(n) => tokens.push(n.to_string()),
                Value::Bool(b) => tokens.push(b.to_string()),
                Value::Object(m) if m.contains_key("min") || m.contains_key("max") => {
                    let side = |k: &str| {
                        m.get(k)
                            .filter(|x| !x.is_null())
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                            .unwrap_or_default()
                    };
                    tokens.push(format!("{}..{}", side("min"), side("max")));
                }
                other => {
                    return Err(ApiError::bad(format!(
                        "Invalid value {other} for column '{key}'."
                    )));
                }
            }
            Ok(())
        };
        match value {
            Value::Array(a) => {
                for v in a {
                    push(v, &mut tokens)?;
                }
            }
            v => push(v, &mut tokens)?,
        }
        let mut c = Cond {
            col,
            pos: Vec::new(),
            neg: Vec::new(),
        };
        for t in tokens.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            match t.strip_prefix('!') {
                Some(rest) if !rest.trim().is_empty() => c.neg.push(self.pred(col, rest.trim())?),
                Some(_) => {}
                None => c.pos.push(self.pred(col, t)?),
            }
        }
        Ok((!c.pos.is_empty() || !c.neg.is_empty()).then_some(c))
    }

    fn cmp_scalar(&self, col: usize, row: usize, s: &Scalar) -> Option<Ordering> {
        let v = self.table.get(row, col);
        match s {
            Scalar::Num(x) => v.as_f64().and_then(|y| y.partial_cmp(x)),
            Scalar::Text(x) => v
                .as_str()
                .map(|y| y.to_ascii_lowercase().as_str().cmp(x.as_str())),
            Scalar::Bool(x) => match v {
                ValueRef::Bool(y) => Some(y.cmp(x)),
                _ => None,
            },
            Scalar::Time(x, _) => {
                let m = self.mjd.get(&col)?[row];
                m.is_finite().then(|| m.total_cmp(x))
            }
        }
    }

    fn matches(&self, col: usize, row: usize, p: &Pred) -> bool {
        match p {
            Pred::Eq(Scalar::Time(x, true)) => self
                .mjd
                .get(&col)
                .is_some_and(|m| m[row] >= *x && m[row] < x + 1.0),
            Pred::Eq(Scalar::Time(x, false)) => self
                .mjd
                .get(&col)
                .is_some_and(|m| (m[row] - x).abs() < 1e-8),
            // SQL `=` ignores trailing blanks (HST pads `sci_instrume`: "ACS   ").
            Pred::Eq(Scalar::Text(x)) => self
                .table
                .get(row, col)
                .as_str()
                .is_some_and(|y| y.trim_end().eq_ignore_ascii_case(x.trim_end())),
            Pred::Eq(s) => self.cmp_scalar(col, row, s) == Some(Ordering::Equal),
            Pred::Cmp(op, s) => self.cmp_scalar(col, row, s).is_some_and(|o| match *op {
                ">=" => o != Ordering::Less,
                "<=" => o != Ordering::Greater,
                ">" => o == Ordering::Greater,
                _ => o == Ordering::Less,
            }),
            Pred::Range(lo, hi) => {
                lo.as_ref().is_none_or(|s| {
                    self.cmp_scalar(col, row, s)
                        .is_some_and(|o| o != Ordering::Less)
                }) && hi.as_ref().is_none_or(|s| {
                    self.cmp_scalar(col, row, s)
                        .is_some_and(|o| o != Ordering::Greater)
                }) && !self.table.get(row, col).is_null()
            }
            Pred::Glob(g) => {
                let v = self.table.get(row, col);
                !v.is_null() && glob(g, self.text(row, col).as_bytes())
            }
        }
    }

    fn text(&self, row: usize, col: usize) -> String {
        match self.table.get(row, col) {
            ValueRef::Bool(b) => if b { "true" } else { "false" }.to_string(),
            v => v.display(),
        }
    }

    fn passes(&self, c: &Cond, row: usize) -> bool {
        if self.table.get(row, c.col).is_null() {
            return false;
        }
        (c.pos.is_empty() || c.pos.iter().any(|p| self.matches(c.col, row, p)))
            && !c.neg.iter().any(|p| self.matches(c.col, row, p))
    }

    fn json(&self, row: usize, col: usize) -> Value {
        self.table.get(row, col).to_json()
    }

    /// One column of the column list.
    fn column_entry(&self, c: usize) -> MissionColumn {
        let name = self.name(c).to_string();
        let kind = self.kinds[c];
        let (qual, datatype) = if c == self.ra_col {
            ("ra", "double")
        } else if c == self.dec_col {
            ("dec", "double")
        } else {
            match kind {
                Kind::Str => ("string", "char"),
                Kind::Int => ("integer", "long"),
                Kind::Float => ("float", "float"),
                Kind::Bool => ("boolean", "char"),
                Kind::Datetime => ("datetime", "char"),
            }
        };
        let (label, description) = describe(self.mission, &name);
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        MissionColumn {
            field_name: label,
            description,
            column_name: name,
            queryable: "yes".into(),
            qual_type: qual.into(),
            default_output: yes(self.defaults.contains(&c)),
            indexed: yes(c == self.dataset_col || c == self.ra_col || self.forced.contains(&c)),
            datatype: datatype.into(),
        }
    }

    /// `GET /search/util/api/v0.1/column_list?mission=…`.
    pub fn column_list(&self) -> Vec<MissionColumn> {
        let extra =
            |name: &str, label: &str, desc: &str, qual: &str, dt: &str, out: &str| MissionColumn {
                field_name: label.into(),
                description: desc.into(),
                column_name: name.into(),
                queryable: "no".into(),
                qual_type: qual.into(),
                default_output: out.into(),
                indexed: "no".into(),
                datatype: dt.into(),
            };
        let mut v = vec![extra(
            "search_pos",
            "Search Position",
            "Search Position (RA and Dec)",
            "string",
            "char",
            "no",
        )];
        v.extend((0..self.table.num_columns()).map(|c| self.column_entry(c)));
        v.push(extra(
            "ang_sep",
            "Ang Sep (')",
            "Angular separation between the search position and the target (arcmin)",
            "float",
            "float",
            "yes",
        ));
        v
    }
}

/// Label and description of a column.
fn describe(mission: &str, name: &str) -> (String, String) {
    let known: &[(&str, &str, &str)] = &[
        (
            "ArchiveFileID",
            "Archive File ID",
            "Unique identifier of the file in the archive",
        ),
        ("filename", "File Name", "Name of the file"),
        (
            "fileSetName",
            "Dataset",
            "Name of the file set (exposure or association) the file belongs to",
        ),
        (
            "productLevel",
            "Product Level",
            "Calibration level of the file (1b, 2a, 2b, 3)",
        ),
        ("targprop", "Target Name", "Proposer's name for the target"),
        ("targ_ra", "RA", "Target RA at mid time of exposure (deg)"),
        (
            "targ_dec",
            "Dec",
            "Target Dec at mid time of exposure (deg)",
        ),
        (
            "instrume",
            "Instrument",
            "Instrument used to acquire the data",
        ),
        ("exp_type", "Exposure Type", "Type of data in the exposure"),
        (
            "opticalElements",
            "Optical Elements",
            "Filter and pupil elements in the beam",
        ),
        (
            "date_obs",
            "Obs Start Date",
            "UTC date at start of exposure",
        ),
        ("duration", "Duration", "Total duration of exposure (s)"),
        ("program", "Program", "Program number"),
        ("observtn", "Observation", "Observation number"),
        ("visit", "Visit", "Visit number"),
        (
            "publicReleaseDate",
            "Release Date",
            "Date the data become public",
        ),
        ("pi_name", "PI Name", "Principal investigator name"),
        (
            "proposal_type",
            "Proposal Type",
            "Proposal category (GO, GTO, ERS, DD, COM, CAL)",
        ),
        (
            "access",
            "Access",
            "PUBLIC, or EXCLUSIVE_ACCESS during the exclusive access period",
        ),
        (
            "sci_data_set_name",
            "Dataset",
            "Data set name (e.g. J8BA7JCAQ)",
        ),
        (
            "sci_targname",
            "Target Name",
            "Target name designated by the observer",
        ),
        ("sci_instrume", "Instrument", "Instrument used"),
        ("sci_aper_1234", "Apertures", "Aperture configuration"),
        (
            "sci_spec_1234",
            "Filters/Gratings",
            "The filter(s) or grating(s) used",
        ),
        (
            "sci_actual_duration",
            "Exp Time",
            "Actual exposure duration (s)",
        ),
        ("sci_start_time", "Start Time", "Observation start time"),
        ("sci_stop_time", "Stop Time", "Observation stop time"),
        ("sci_pep_id", "Proposal ID", "Proposal ID"),
        (
            "sci_pi_last_name",
            "PI Last Name",
            "Principal investigator's last name",
        ),
        ("sci_ra", "RA (J2000)", "Right ascension (deg)"),
        ("sci_dec", "Dec (J2000)", "Declination (deg)"),
        (
            "sci_release_date",
            "Release Date",
            "Date the data become public",
        ),
        ("sci_status", "Status", "PUBLIC or PROPRIETARY"),
    ];
    match known.iter().find(|k| k.0 == name) {
        Some((_, l, d)) => (l.to_string(), d.to_string()),
        None if mission == "jwst" => (
            name.to_string(),
            format!("FITS keyword {}", name.to_ascii_uppercase()),
        ),
        None => (name.to_string(), name.to_string()),
    }
}

// ---------------------------------------------------------------- search

/// An output column of a search.
#[derive(Clone, Copy, PartialEq)]
enum Out {
    Col(usize),
    SearchPos,
    AngSep,
}

/// A matched row, with its target and separation (arcmin) for position searches.
struct Hit {
    row: usize,
    target: usize,
    sep: f64,
}

fn parse_target(s: &str) -> Result<(f64, f64), ApiError> {
    let parts: Vec<&str> = s
        .split([' ', ',', '\t'])
        .filter(|x| !x.is_empty())
        .collect();
    let bad = || {
        ApiError::bad(format!(
            "Invalid target '{s}': expected \"<ra_deg> <dec_deg>\"."
        ))
    };
    match parts.as_slice() {
        [ra, dec] => {
            let ra: f64 = ra.parse().map_err(|_| bad())?;
            let dec: f64 = dec.parse().map_err(|_| bad())?;
            if !ra.is_finite() || !(-90.0..=90.0).contains(&dec) {
                return Err(bad());
            }
            Ok((ra.rem_euclid(360.0), dec))
        }
        _ => Err(bad()),
    }
}

/// The radius in degrees, with the unit name to echo.
fn radius_deg(r: Option<f64>, units: Option<&str>) -> Result<(f64, f64, String), ApiError> {
    let units = units.unwrap_or("arcminutes").trim().to_ascii_lowercase();
    let value = r.unwrap_or(DEFAULT_RADIUS_ARCMIN);
    let per_deg = match units.as_str() {
        "arcseconds" | "arcsecond" | "arcsec" | "arcsecs" => 3600.0,
        "arcminutes" | "arcminute" | "arcmin" | "arcmins" => 60.0,
        "degrees" | "degree" | "deg" | "degs" => 1.0,
        other => {
            return Err(ApiError::bad(format!(
                "Invalid radius_units '{other}': use arcseconds, arcminutes or degrees."
            )));
        }
    };
    let deg = value / per_deg;
    if !deg.is_finite() || deg < 0.0 {
        return Err(ApiError::bad(format!("Invalid radius {value}.")));
    }
    if deg * 60.0 > MAX_RADIUS_ARCMIN * (1.0 + 1e-9) {
        return Err(ApiError::bad(format!(
            "Radius {value} {units} exceeds the maximum of {MAX_RADIUS_ARCMIN} arcminutes."
        )));
    }
    Ok((deg, value, units))
}

/// Run a search; the JSON body of the answer.
pub fn search(m: &MissionTable, req: &MissionSearchRequest) -> Result<Value, ApiError> {
    let limit = req.limit.unwrap_or(MISSIONS_DEFAULT_LIMIT);
    let offset = req.offset.unwrap_or(0);
    let targets: Vec<String> = req
        .target
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if targets.len() > MAX_TARGETS {
        return Err(ApiError::bad(format!(
            "Too many targets: {} (at most {MAX_TARGETS}).",
            targets.len()
        )));
    }
    let positions: Vec<(f64, f64)> = targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<_, _>>()?;
    let positional = !positions.is_empty();
    let (r_deg, r_value, r_units) = radius_deg(req.radius, req.radius_units.as_deref())?;
    let mut conds = Vec::new();
    for c in &req.conditions {
        for (k, v) in c {
            if matches!(k.as_str(), "ang_sep" | "search_pos" | "search_key") {
                return Err(ApiError::bad(format!("Column '{k}' is not queryable.")));
            }
            conds.extend(m.compile(k, v)?);
        }
    }
    // Columns first, so a bad name fails before any work.
    let select: Vec<Out> = match &req.select_cols {
        Some(cols) if !cols.is_empty() => {
            let mut v = Vec::new();
            for c in cols.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
                let o = match c {
                    "ang_sep" => Out::AngSep,
                    "search_pos" => Out::SearchPos,
                    _ => Out::Col(
                        m.resolve(c)
                            .ok_or_else(|| m.unknown("select_cols entry", c))?,
                    ),
                };
                if (positional || matches!(o, Out::Col(_))) && !v.contains(&o) {
                    v.push(o);
                }
            }
            v
        }
        _ => m.defaults.iter().map(|&c| Out::Col(c)).collect(),
    };
    let mut out: Vec<Out> = Vec::new();
    if positional && !select.contains(&Out::SearchPos) {
        out.push(Out::SearchPos);
    }
    for &f in &m.forced {
        if !select.contains(&Out::Col(f)) && !out.contains(&Out::Col(f)) {
            out.push(Out::Col(f));
        }
    }
    out.extend(select.iter().copied());
    if positional && !out.contains(&Out::AngSep) {
        out.push(Out::AngSep);
    }
    let (sort_cols, sort_desc) = sort_keys(m, req, positional)?;
    // Select.
    let n = m.table.num_rows();
    let rows: Vec<usize> = (0..n)
        .filter(|&r| conds.iter().all(|c| m.passes(c, r)))
        .collect();
    let mut hits: Vec<Hit> = Vec::new();
    if positional {
        for (ti, &(ra, dec)) in positions.iter().enumerate() {
            for &r in &rows {
                let (Some(rra), Some(rdec)) = (
                    m.table.get(r, m.ra_col).as_f64(),
                    m.table.get(r, m.dec_col).as_f64(),
                ) else {
                    continue;
                };
                if !rra.is_finite() || !rdec.is_finite() {
                    continue;
                }
                let d = ang_dist_deg(ra, dec, rra, rdec);
                if d <= r_deg {
                    hits.push(Hit {
                        row: r,
                        target: ti,
                        sep: d * 60.0,
                    });
                }
            }
        }
    } else {
        hits = rows
            .into_iter()
            .map(|row| Hit {
                row,
                target: 0,
                sep: f64::NAN,
            })
            .collect();
    }
    hits.sort_by(|a, b| {
        for (k, desc) in sort_cols.iter().zip(&sort_desc) {
            let o = match k {
                Out::AngSep => a.sep.total_cmp(&b.sep),
                Out::SearchPos => a.target.cmp(&b.target),
                Out::Col(c) => m.table.get(a.row, *c).total_cmp(m.table.get(b.row, *c)),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let total = hits.len() as u64;
    let name_of = |o: &Out| match o {
        Out::Col(c) => m.name(*c).to_string(),
        Out::SearchPos => "search_pos".to_string(),
        Out::AngSep => "ang_sep".to_string(),
    };
    let mut params = Map::new();
    params.insert("target".into(), json!(targets));
    params.insert("radius".into(), json!(r_value));
    params.insert("radius_units".into(), json!(r_units));
    params.insert("offset".into(), json!(offset));
    params.insert("limit".into(), json!(limit));
    params.insert(
        "sort_by".into(),
        json!(sort_cols.iter().map(name_of).collect::<Vec<_>>()),
    );
    params.insert("sort_desc".into(), json!(sort_desc));
    params.insert("skip_count".into(), json!(req.skip_count.unwrap_or(false)));
    if req.count_only == Some(true) {
        params.insert("count_only".into(), json!(true));
    }
    params.insert(
        "select_cols".into(),
        json!(
            select
                .iter()
                .filter(|o| matches!(o, Out::Col(_)))
                .map(name_of)
                .collect::<Vec<_>>()
        ),
    );
    params.insert(
        "search_key".into(),
        req.search_key.clone().unwrap_or(json!([])),
    );
    params.insert(
        "user_fields".into(),
        req.user_fields.clone().unwrap_or(json!([])),
    );
    params.insert(
        "conditions".into(),
        Value::Array(req.conditions.iter().cloned().map(Value::Object).collect()),
    );
    let mut body = Map::new();
    body.insert("messages".into(), json!([]));
    if req.count_only == Some(true) {
        body.insert("search_params".into(), Value::Object(params));
        body.insert("totalResults".into(), json!(total));
        body.insert("info".into(), json!([]));
        body.insert("results".into(), json!([]));
        return Ok(Value::Object(body));
    }
    let info: Vec<MissionInfo> = out
        .iter()
        .map(|o| MissionInfo {
            name: name_of(o),
            type_name: match o {
                Out::Col(c) => m.kinds[*c].info_type(),
                Out::SearchPos => "VARCHAR",
                Out::AngSep => "FLOAT",
            }
            .to_string(),
        })
        .collect();
    let start = (offset as usize).min(hits.len());
    let end = start.saturating_add(limit as usize).min(hits.len());
    let names: Vec<String> = out.iter().map(name_of).collect();
    let results: Vec<Value> = hits[start..end]
        .iter()
        .map(|h| {
            let mut row = Map::new();
            for (o, name) in out.iter().zip(&names) {
                let v = match o {
                    Out::Col(c) => m.json(h.row, *c),
                    Out::SearchPos => json!(targets[h.target]),
                    Out::AngSep => json!(h.sep),
                };
                row.insert(name.clone(), v);
            }
            Value::Object(row)
        })
        .collect();
    body.insert(
        "info".into(),
        serde_json::to_value(info).unwrap_or_default(),
    );
    body.insert("search_params".into(), Value::Object(params));
    body.insert("totalResults".into(), json!(total));
    body.insert("results".into(), Value::Array(results));
    Ok(Value::Object(body))
}

fn sort_keys(
    m: &MissionTable,
    req: &MissionSearchRequest,
    positional: bool,
) -> Result<(Vec<Out>, Vec<bool>), ApiError> {
    match &req.sort_by {
        Some(cols) if !cols.is_empty() => {
            let mut keys = Vec::new();
            for c in cols {
                keys.push(match c.trim() {
                    "ang_sep" if positional => Out::AngSep,
                    "search_pos" if positional => Out::SearchPos,
                    name => Out::Col(
                        m.resolve(name)
                            .ok_or_else(|| m.unknown("sort_by column", name))?,
                    ),
                });
            }
            let desc = (0..keys.len())
                .map(|i| req.sort_desc.get(i).copied().unwrap_or(false))
                .collect();
            Ok((keys, desc))
        }
        _ => {
            let mut keys = Vec::new();
            if positional {
                keys.push(Out::AngSep);
            }
            keys.extend(m.default_sort.iter().map(|&c| Out::Col(c)));
            let desc = vec![false; keys.len()];
            Ok((keys, desc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_suffixes() {
        assert!(glob(b"nrs_*", b"NRS_MSASPEC"));
        assert!(glob(b"*soss", b"NIS_SOSS"));
        assert!(glob(b"1*", b"1b"));
        assert!(!glob(b"2*", b"1b"));
        assert!(!glob(b"nrs_msa", b"NRSXMSA"));
        assert_eq!(suffix_of("jw01_x_uncal.fits"), "uncal");
        assert_eq!(suffix_of("jw01_x_cal_thumb.jpg"), "thumb");
        assert_eq!(
            product_uri("jwst", "jw01_x/jw01_x_nis_cal.fits").as_deref(),
            Some("mast:JWST/product/jw01_x_nis_cal.fits")
        );
        assert_eq!(
            product_uri("hst", "Z14Z0104T/z14z0104t_shf.fits").as_deref(),
            Some("mast:HST/product/z14z0104t_shf.fits")
        );
    }

    #[test]
    fn radius_units_and_limits() {
        assert_eq!(radius_deg(Some(180.0), Some("arcseconds")).unwrap().0, 0.05);
        assert_eq!(radius_deg(None, None).unwrap().0, 0.05);
        assert!(radius_deg(Some(0.6), Some("degrees")).is_err());
        assert!(radius_deg(Some(1.0), Some("furlongs")).is_err());
        assert_eq!(parse_target("10.5 -20.25").unwrap(), (10.5, -20.25));
        assert!(parse_target("10.5").is_err());
    }

    #[test]
    fn jwst_table_from_the_bundled_archive() {
        let a = Archive::bundled(300, 1);
        let m = a.missions();
        let t = &m.jwst;
        let si: usize = JWST_SOURCES
            .iter()
            .filter_map(|s| a.sikw.get(*s))
            .map(|s| s.table.num_rows())
            .sum();
        assert!(t.table.num_rows() > si, "level-1b rows are added");
        let date = t.resolve("date_obs").unwrap();
        assert_eq!(t.kinds[date], Kind::Datetime);
        assert!(t.resolve("date_obs_mjd").is_none());
        let tso = t.resolve("tsovisit").unwrap();
        assert_eq!(t.kinds[tso], Kind::Bool);
        // The real SOSS rows: 74 calibrated files of the bundled chain.
        let req: MissionSearchRequest = serde_json::from_value(json!({
            "conditions": [{"exp_type": "NIS_SOSS"}, {"category": "COM,ERS"},
                {"tsovisit": "T"}, {"date_obs": "2022-06-01..2022-08-04"},
                {"productLevel": "!1b"}],
            "limit": 1000}))
        .unwrap();
        let body = search(t, &req).unwrap();
        assert_eq!(body["totalResults"], json!(74));
        let p = m
            .products(&a, "jwst", &["jw01541001001_04101_00001".to_string()])
            .unwrap();
        assert!(!p.products.is_empty());
        assert!(
            p.products
                .iter()
                .any(|x| x.filename == "jw01541001001_04101_00001-seg002_nis_calints.fits")
        );
        assert!(p.products.iter().any(|x| x.category == "1b"));
    }
}
