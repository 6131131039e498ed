//! The Mashup services the emulator answers, dispatched by (case-insensitive)
//! service name: `Mast.Caom.Cone`, `Mast.Caom.Filtered[.Position]`,
//! `Mast.Caom.Products`, `Mast.Jwst.Filtered.<Instrument>`,
//! `Mast.Name.Lookup`, `Mast.Caom.All`, `Mast.Missions.List`,
//! `Mast.Caom.Crossmatch`. Every bad
//! request becomes a MAST-style `ERROR` envelope, never a panic.

use super::data::{Archive, caom, products::ProductRow, schema};
use super::query::{self, Columns};
use super::render;
use super::sky::ang_dist_deg;
use crate::table::column::ColumnBuilder;
use crate::table::{Column, DataType, Table, ValueRef};
use crate::wire::{FilteredParams, MashupRequest, Paging};
use serde_json::Value;

/// The server's default page size when a request gives none (§1.2).
pub const DEFAULT_PAGESIZE: u64 = 1000;

/// A rendered answer and the number of data rows it carries.
pub struct Answer {
    pub body: Vec<u8>,
    pub rows: u64,
}

impl Answer {
    fn error(msg: impl AsRef<str>) -> Answer {
        Answer {
            body: render::error(msg.as_ref()),
            rows: 0,
        }
    }
}

/// Answer one request. `brute` disables the spatial index (the debug
/// endpoint uses it as an independent check).
pub fn invoke(a: &Archive, req: &MashupRequest, brute: bool) -> Answer {
    let service = req.service.trim().to_ascii_lowercase();
    let result = match service.as_str() {
        "mast.caom.cone" => cone(a, req, brute),
        "mast.caom.filtered" => filtered(a, req, false, brute),
        "mast.caom.filtered.position" => filtered(a, req, true, brute),
        "mast.caom.products" => products(a, req),
        "mast.name.lookup" => Ok(name_lookup(req)),
        "mast.caom.all" => Ok(caom_all(a)),
        "mast.caom.crossmatch" => crossmatch(a, req, brute),
        "mast.missions.list" => Ok(missions_list(a)),
        s if s.starts_with("mast.jwst.filtered.") => {
            si_keywords(a, req, &s["mast.jwst.filtered.".len()..])
        }
        "" => Err("Request is missing the 'service' property.".to_string()),
        _ => Err(format!("Unknown service: {}", req.service)),
    };
    result.unwrap_or_else(Answer::error)
}

fn page_of(req: &MashupRequest) -> (u64, u64) {
    (
        req.page.unwrap_or(1).max(1),
        req.pagesize.unwrap_or(DEFAULT_PAGESIZE).max(1),
    )
}

fn num_param(params: &Value, key: &str) -> Result<Option<f64>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                format!("Error converting value '{s}' of parameter '{key}' to a number.")
            })
        }
        Some(other) => Err(format!(
            "Error converting value '{other}' of parameter '{key}' to a number."
        )),
    }
}

/// Rows whose footprint meets the cone, with the centre distance (arcsec).
fn cone_rows(a: &Archive, ra: f64, dec: f64, radius: f64, brute: bool) -> Vec<(u32, f64)> {
    let candidates = if brute {
        None
    } else {
        a.sky.candidates(ra, dec, radius)
    };
    let all: Box<dyn Iterator<Item = u32>> = match candidates {
        Some(c) => Box::new(c.into_iter()),
        None => Box::new(0..a.num_observations() as u32),
    };
    all.filter_map(|r| {
        let (ora, odec) = a.position(r as usize);
        if !ora.is_finite() || !odec.is_finite() {
            return None;
        }
        let dist = ang_dist_deg(ra, dec, ora, odec);
        let hit = match a.region(r as usize) {
            Some(region) => region.intersects_cone(ra, dec, radius),
            None => dist <= radius,
        };
        hit.then_some((r, dist * 3600.0))
    })
    .collect()
}

fn cone(a: &Archive, req: &MashupRequest, brute: bool) -> Result<Answer, String> {
    let p = &req.params;
    let ra = num_param(p, "ra")?.ok_or("Parameter 'ra' is required.")?;
    let dec = num_param(p, "dec")?.ok_or("Parameter 'dec' is required.")?;
    let radius = num_param(p, "radius")?.unwrap_or(0.2);
    check_position(ra, dec, radius)?;
    let hits = cone_rows(a, ra, dec, radius, brute);
    let rows: Vec<u32> = hits.iter().map(|h| h.0).collect();
    let dist: Vec<f64> = hits.iter().map(|h| h.1).collect();
    Ok(caom_page(
        a,
        req,
        &rows,
        Some(&dist),
        Extra::Cone,
        &Columns::All,
    ))
}

/// `Mast.Caom.Crossmatch`: the uploaded table (`data`, in the fields/data
/// shape of a response) matched against CAOM within `radius` degrees
/// (default 0.002). MAST does not document the output columns of
/// Mast.Caom.Crossmatch; its other crossmatch services (Mast.Tic.Crossmatch)
/// answer each match with the uploaded row's columns beside the catalogue's,
/// and so does the emulator: for each input row in order, its cone's
/// observations, each led by the input row's columns (a CAOM column of the
/// same name is left out), with `distance` (arcsec) last.
fn crossmatch(a: &Archive, req: &MashupRequest, brute: bool) -> Result<Answer, String> {
    let p = &req.params;
    let ra_col = p.get("raColumn").and_then(Value::as_str).unwrap_or("ra");
    let dec_col = p.get("decColumn").and_then(Value::as_str).unwrap_or("dec");
    let radius = num_param(p, "radius")?.unwrap_or(0.002);
    let input = upload(req)?;
    let (mut hits, mut dist, mut from) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..input.num_rows() {
        let coord = |c: &str| input.column(c).ok().and_then(|col| col.get(i).as_f64());
        let (Some(ra), Some(dec)) = (coord(ra_col), coord(dec_col)) else {
            return Err(format!(
                "Input row {i} has no numeric '{ra_col}'/'{dec_col}'."
            ));
        };
        check_position(ra, dec, radius)?;
        for (r, d) in cone_rows(a, ra, dec, radius, brute) {
            hits.push(r);
            dist.push(d);
            from.push(i);
        }
    }
    let (t, cwire, paging, range) =
        caom_table(a, req, &hits, Some(&dist), Extra::Cone, &Columns::All);
    let mut cols = input.take(&from[range]).into_columns();
    let mut types: Vec<&str> = cols.iter().map(|c| wire_type(c.data_type())).collect();
    for (c, w) in t.into_columns().into_iter().zip(cwire) {
        if !cols.iter().any(|x| x.name == c.name) {
            cols.push(c);
            types.push(w);
        }
    }
    let t = Table::new(cols).map_err(|e| e.to_string())?;
    Ok(Answer {
        body: render::complete(&t, &types, 0..t.num_rows(), paging),
        rows: t.num_rows() as u64,
    })
}

/// The uploaded table of a crossmatch (`fields` give the types; without
/// them the first row's keys name the columns and types are inferred).
fn upload(req: &MashupRequest) -> Result<Table, String> {
    const NEED: &str =
        "Crossmatch needs an input table in 'data' ({\"fields\": [...], \"data\": [...]}).";
    let d = req.data.as_ref().ok_or(NEED)?;
    let rows: Vec<serde_json::Map<String, Value>> = d
        .get("data")
        .filter(|v| v.is_array())
        .map(|v| serde_json::from_value(v.clone()))
        .ok_or(NEED)?
        .map_err(|_| "Input table rows must be objects.".to_string())?;
    let fields: Vec<crate::wire::Field> = match d.get("fields") {
        Some(f) => serde_json::from_value(f.clone()).map_err(|_| {
            "Input table 'fields' must be [{\"name\": ..., \"type\": ...}, ...].".to_string()
        })?,
        None => rows.first().map_or_else(Vec::new, |r| {
            r.keys()
                .map(|k| crate::wire::Field {
                    name: k.clone(),
                    type_name: String::new(),
                })
                .collect()
        }),
    };
    crate::services::mashup::to_table(&fields, &rows).map_err(|e| e.to_string())
}

/// The Mashup `fields.type` of a column.
fn wire_type(t: DataType) -> &'static str {
    match t {
        DataType::Bool => "boolean",
        DataType::Int => "int",
        DataType::Float => "float",
        DataType::String => "string",
    }
}

fn check_position(ra: f64, dec: f64, radius: f64) -> Result<(), String> {
    let finite = ra.is_finite() && dec.is_finite() && radius.is_finite();
    if !finite || !(-90.0..=90.0).contains(&dec) || radius < 0.0 {
        return Err(format!(
            "Invalid position: ra={ra}, dec={dec}, radius={radius}."
        ));
    }
    Ok(())
}

/// `"ra, dec, radius"` (degrees) of `Mast.Caom.Filtered.Position`.
fn parse_position(s: &str) -> Result<(f64, f64, f64), String> {
    let parts: Vec<f64> = s
        .split([',', ' '])
        .filter(|x| !x.trim().is_empty())
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("Invalid position '{s}': expected 'ra, dec, radius' in degrees."))?;
    match parts.as_slice() {
        [ra, dec, r] => Ok((*ra, *dec, *r)),
        [ra, dec] => Ok((*ra, *dec, 0.2)),
        _ => Err(format!(
            "Invalid position '{s}': expected 'ra, dec, radius' in degrees."
        )),
    }
}

fn filtered_params(req: &MashupRequest) -> Result<FilteredParams, String> {
    serde_json::from_value(req.params.clone()).map_err(|e| format!("Invalid params: {e}"))
}

fn filtered(
    a: &Archive,
    req: &MashupRequest,
    positional: bool,
    brute: bool,
) -> Result<Answer, String> {
    let p = filtered_params(req)?;
    let columns = query::parse_columns(&a.obs, p.columns.as_deref())?;
    let mut dist = None;
    let candidates = if positional {
        let pos = p
            .position
            .as_deref()
            .ok_or("Parameter 'position' is required.")?;
        let (ra, dec, r) = parse_position(pos)?;
        check_position(ra, dec, r)?;
        let hits = cone_rows(a, ra, dec, r, brute);
        dist = Some(
            hits.iter()
                .map(|h| (h.0, h.1))
                .collect::<std::collections::HashMap<u32, f64>>(),
        );
        Some(hits.into_iter().map(|h| h.0).collect())
    } else {
        None
    };
    let rows = query::filter_rows(&a.obs, &p.filters, candidates, schema::CAOM_MULTI_VALUED)?;
    if columns == Columns::Count {
        return Ok(Answer {
            body: render::count(rows.len() as u64, page_of(req).1),
            rows: 1,
        });
    }
    let d: Option<Vec<f64>> = dist.map(|m| rows.iter().map(|r| m[r]).collect());
    let extra = if positional {
        Extra::Position
    } else {
        Extra::None
    };
    Ok(caom_page(a, req, &rows, d.as_deref(), extra, &columns))
}

#[derive(Clone, Copy, PartialEq)]
enum Extra {
    None,
    Cone,
    Position,
}

/// Render one page of CAOM rows, adding the columns a service adds.
fn caom_page(
    a: &Archive,
    req: &MashupRequest,
    rows: &[u32],
    dist: Option<&[f64]>,
    extra: Extra,
    cols: &Columns,
) -> Answer {
    let (t, wire, paging, _) = caom_table(a, req, rows, dist, extra, cols);
    Answer {
        body: render::complete(&t, &wire, 0..t.num_rows(), paging),
        rows: t.num_rows() as u64,
    }
}

/// One page of CAOM rows with the columns a service adds, their wire types,
/// the paging block and which of `rows` the page holds.
fn caom_table(
    a: &Archive,
    req: &MashupRequest,
    rows: &[u32],
    dist: Option<&[f64]>,
    extra: Extra,
    cols: &Columns,
) -> (Table, Vec<&'static str>, Paging, std::ops::Range<usize>) {
    let (page, size) = page_of(req);
    let paging = Paging::for_page(page, size, rows.len() as u64);
    let start = ((page - 1).saturating_mul(size) as usize).min(rows.len());
    let end = start + paging.rows as usize;
    let idx: Vec<usize> = rows[start..end].iter().map(|&r| r as usize).collect();
    let mut t = a.obs.take(&idx);
    let mut wire: Vec<&'static str> = schema::CAOM.iter().map(|c| c.wire).collect();
    let d: Vec<f64> = dist
        .map(|d| d[start..end].to_vec())
        .unwrap_or_else(|| vec![0.0; idx.len()]);
    add_extra(&mut t, &mut wire, extra, d);
    let (t, wire) = project(t, wire, cols);
    (t, wire, paging, start..end)
}

fn add_extra(t: &mut Table, wire: &mut Vec<&str>, extra: Extra, dist: Vec<f64>) {
    let n = t.num_rows();
    let dcol = Column::new("distance", crate::table::ColumnData::Float(dist), None);
    let push = |t: &mut Table, c: Column| {
        let _ = t.push_column(c);
    };
    match extra {
        Extra::None => {}
        Extra::Cone => {
            push(t, dcol);
            push(t, Column::nulls("_selected_", DataType::Bool, n));
            wire.extend(["float", "boolean"]);
        }
        Extra::Position => {
            let objid = t.column("objID").map(|c| c.clone().renamed("objID1")).ok();
            push(
                t,
                objid.unwrap_or_else(|| Column::nulls("objID1", DataType::Int, n)),
            );
            push(t, dcol);
            wire.extend(["string", "float"]);
        }
    }
}

fn project<'a>(t: Table, wire: Vec<&'a str>, cols: &Columns) -> (Table, Vec<&'a str>) {
    match cols {
        Columns::Some(idx) => {
            let columns = idx.iter().map(|&i| t.columns()[i].clone()).collect();
            let w = idx.iter().map(|&i| wire[i]).collect();
            (Table::new(columns).unwrap_or_default(), w)
        }
        _ => (t, wire),
    }
}

fn products(a: &Archive, req: &MashupRequest) -> Result<Answer, String> {
    let raw = match req.params.get("obsid") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(v)) => v
            .iter()
            .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(","),
        _ => return Err("Parameter 'obsid' is required.".to_string()),
    };
    let mut out: Vec<ProductRow> = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let obsid: i64 = id.parse().map_err(|_| {
            format!(
                "Conversion failed when converting the nvarchar value '{id}' to data type bigint."
            )
        })?;
        out.extend(a.products(obsid));
    }
    let (page, size) = page_of(req);
    let paging = Paging::for_page(page, size, out.len() as u64);
    let start = ((page - 1).saturating_mul(size) as usize).min(out.len());
    let end = start + paging.rows as usize;
    let t = product_table(&out[start..end]);
    let wire: Vec<&str> = schema::PRODUCTS.iter().map(|c| c.wire).collect();
    Ok(Answer {
        body: render::complete(&t, &wire, 0..t.num_rows(), paging),
        rows: t.num_rows() as u64,
    })
}

fn os(v: &Option<String>) -> ValueRef<'_> {
    v.as_deref().map_or(ValueRef::Null, ValueRef::Str)
}

/// Product rows as a table in [`schema::PRODUCTS`] order.
pub fn product_table(rows: &[ProductRow]) -> Table {
    let mut cols: Vec<ColumnBuilder> = schema::PRODUCTS
        .iter()
        .map(|c| ColumnBuilder::new(c.dtype, rows.len()))
        .collect();
    for p in rows {
        let vals = [
            ValueRef::Str(&p.obsID),
            ValueRef::Str(&p.obs_collection),
            ValueRef::Str(&p.dataproduct_type),
            ValueRef::Str(&p.obs_id),
            ValueRef::Str(&p.description),
            ValueRef::Str(&p.r#type),
            ValueRef::Str(&p.dataURI),
            ValueRef::Str(&p.productType),
            os(&p.productGroupDescription),
            os(&p.productSubGroupDescription),
            os(&p.productDocumentationURL),
            ValueRef::Str(&p.project),
            os(&p.prvversion),
            ValueRef::Str(&p.proposal_id),
            ValueRef::Str(&p.productFilename),
            ValueRef::Int(p.size),
            ValueRef::Str(&p.parent_obsid),
            ValueRef::Str(&p.dataRights),
            ValueRef::Int(p.calib_level),
            ValueRef::Null,
        ];
        for (b, v) in cols.iter_mut().zip(vals) {
            b.push(v);
        }
    }
    caom::finish_columns(cols, schema::PRODUCTS)
}

fn si_keywords(a: &Archive, req: &MashupRequest, instrument: &str) -> Result<Answer, String> {
    let si = a
        .sikw
        .get(instrument)
        .ok_or_else(|| format!("Unknown service: {}", req.service))?;
    let p = filtered_params(req)?;
    let columns = query::parse_columns(&si.table, p.columns.as_deref())?;
    let rows = query::filter_rows(&si.table, &p.filters, None, &[])?;
    let (page, size) = page_of(req);
    if columns == Columns::Count {
        return Ok(Answer {
            body: render::count(rows.len() as u64, size),
            rows: 1,
        });
    }
    let paging = Paging::for_page(page, size, rows.len() as u64);
    let start = ((page - 1).saturating_mul(size) as usize).min(rows.len());
    let idx: Vec<usize> = rows[start..start + paging.rows as usize]
        .iter()
        .map(|&r| r as usize)
        .collect();
    let t = si.table.take(&idx);
    let (t, wire) = project(t, si.wire.clone(), &columns);
    Ok(Answer {
        body: render::complete(&t, &wire, 0..t.num_rows(), paging),
        rows: t.num_rows() as u64,
    })
}

fn name_lookup(req: &MashupRequest) -> Answer {
    let input = req
        .params
        .get("input")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let resp = super::names::lookup(&[input], false);
    Answer {
        body: serde_json::to_vec(&resp).unwrap_or_default(),
        rows: 0,
    }
}

/// Facet histograms of a few CAOM columns in the extjs envelope
/// (`Observations.list_missions()` reads `obs_collection`).
fn caom_all(a: &Archive) -> Answer {
    let facet = |name: &str| {
        let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        if let Ok(c) = a.obs.column(name) {
            for v in c.iter() {
                *counts.entry(v.display()).or_default() += 1;
            }
        }
        let hist: Vec<Value> = counts
            .iter()
            .map(|(k, n)| serde_json::json!({"count": n, "key": k}))
            .collect();
        let mut obj = serde_json::Map::new();
        obj.insert("hist".into(), Value::Array(hist));
        for (k, n) in &counts {
            obj.insert(k.clone(), serde_json::json!({"count": n, "key": k}));
        }
        serde_json::json!({"text": name, "dataIndex": name, "ExtendedProperties": {"histObj": obj}})
    };
    let columns: Vec<Value> = [
        "obs_collection",
        "dataproduct_type",
        "instrument_name",
        "calib_level",
    ]
    .iter()
    .map(|c| facet(c))
    .collect();
    let zero = serde_json::json!({"page":0,"pageSize":0,"pagesFiltered":0,"rows":0,"rowsFiltered":0,"rowsTotal":0});
    let body = serde_json::json!({
        "status": "COMPLETE", "msg": "",
        "data": {"name": "NewDataSet", "Tables": [{"name": "Table",
            "ExtendedProperties": {"Paging": zero},
            "Columns": columns, "Fields": [], "Rows": []}]}
    });
    Answer {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        rows: 0,
    }
}

fn missions_list(a: &Archive) -> Answer {
    let mut seen: Vec<String> = a
        .obs
        .column("obs_collection")
        .map(|c| c.iter().map(|v| v.display()).collect())
        .unwrap_or_default();
    seen.sort();
    seen.dedup();
    let data: Vec<Value> = seen
        .iter()
        .map(|m| serde_json::json!({"distinctValue": m}))
        .collect();
    let n = data.len() as u64;
    let body = serde_json::json!({"status":"COMPLETE","msg":"","data":data,
        "fields":[{"name":"distinctValue","type":"string"}],"paging":Paging::for_page(1, n.max(1), n)});
    Answer {
        body: serde_json::to_vec(&body).unwrap_or_default(),
        rows: n,
    }
}
