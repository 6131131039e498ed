//! `--data DIR`: an archive read from table files instead of the bundled
//! generator. Layout (CSV or ECSV, chosen by extension):
//!
//! - `observations.csv|ecsv` (required): CAOM columns named as on the wire
//!   (`obsid`, `obs_id`, `s_ra`, `s_dec`, `s_region`, `calib_level`, …);
//!   missing columns are null, `obsid` must be an integer.
//! - `products.csv|ecsv` (optional): product rows with `parent_obsid`; an
//!   observation without listed products gets generated ones.
//! - `sikw_<service>.csv|ecsv` (optional): SI-keyword rows of
//!   `Mast.Jwst.Filtered.<Service>` (`nircam`, `niriss`, `nirspec`, `miri`,
//!   `fgs`, `guidestar`); text columns keep MAST's encodings.

use super::caom::ObsRow;
use super::products::ProductRow;
use super::sikw::{self, SiTable};
use super::{Parts, schema};
use crate::table::{Table, ValueRef, io};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    ["csv", "ecsv"]
        .iter()
        .map(|e| dir.join(format!("{stem}.{e}")))
        .find(|p| p.is_file())
}

fn read(path: &Path) -> Result<Table, String> {
    io::read_path(path, None).map_err(|e| e.to_string())
}

/// Load the archive parts from `dir`.
pub fn load(dir: &Path) -> Result<Parts, String> {
    let obs_path = find(dir, "observations").ok_or_else(|| {
        format!(
            "{}: no observations.csv or observations.ecsv",
            dir.display()
        )
    })?;
    let obs = read(&obs_path)?;
    let rows = (0..obs.num_rows())
        .map(|i| obs_row(&obs, i))
        .collect::<Result<Vec<_>, _>>()?;
    let products = match find(dir, "products") {
        Some(p) => {
            let t = read(&p)?;
            (0..t.num_rows()).map(|i| product_row(&t, i)).collect()
        }
        None => Vec::new(),
    };
    let mut si = BTreeMap::new();
    for (svc, _) in sikw::SERVICES {
        if let Some(p) = find(dir, &format!("sikw_{svc}")) {
            si.insert(svc.to_string(), si_table(read(&p)?));
        }
    }
    Ok(Parts {
        rows,
        products,
        virtual_members: Vec::new(),
        known_sizes: HashMap::new(),
        sikw: si,
    })
}

struct Cells<'a> {
    t: &'a Table,
    i: usize,
}

impl Cells<'_> {
    fn get(&self, name: &str) -> ValueRef<'_> {
        self.t
            .index_of(name)
            .map_or(ValueRef::Null, |c| self.t.get(self.i, c))
    }
    fn s(&self, name: &str) -> String {
        self.os(name).unwrap_or_default()
    }
    fn os(&self, name: &str) -> Option<String> {
        match self.get(name) {
            ValueRef::Null => None,
            v => Some(v.display()),
        }
    }
    fn f(&self, name: &str) -> Option<f64> {
        match self.get(name) {
            ValueRef::Str(s) => s.trim().parse().ok(),
            v => v.as_f64(),
        }
        .filter(|x: &f64| x.is_finite())
    }
    fn i(&self, name: &str) -> Option<i64> {
        self.f(name).map(|x| x as i64)
    }
}

fn obs_row(t: &Table, i: usize) -> Result<ObsRow, String> {
    let c = Cells { t, i };
    let obsid = c.i("obsid").ok_or_else(|| {
        format!(
            "observations row {}: `obsid` is missing or not an integer",
            i + 1
        )
    })?;
    Ok(ObsRow {
        intentType: c.os("intentType").unwrap_or_else(|| "science".into()),
        obs_collection: c.s("obs_collection"),
        provenance_name: c.os("provenance_name"),
        instrument_name: c.s("instrument_name"),
        project: c.s("project"),
        filters: c.os("filters"),
        wavelength_region: c.s("wavelength_region"),
        target_name: c.s("target_name"),
        target_classification: c.os("target_classification"),
        obs_id: c.s("obs_id"),
        s_ra: c.f("s_ra"),
        s_dec: c.f("s_dec"),
        dataproduct_type: c.s("dataproduct_type"),
        proposal_pi: c.s("proposal_pi"),
        calib_level: c.i("calib_level").unwrap_or(0),
        t_min: c.f("t_min"),
        t_max: c.f("t_max"),
        t_exptime: c.f("t_exptime").unwrap_or(0.0),
        em_min: c.f("em_min"),
        em_max: c.f("em_max"),
        obs_title: c.s("obs_title"),
        t_obs_release: c.f("t_obs_release"),
        proposal_id: c.s("proposal_id"),
        proposal_type: c.s("proposal_type"),
        sequence_number: c.i("sequence_number"),
        s_region: c.os("s_region"),
        jpegURL: c.os("jpegURL"),
        dataURL: c.os("dataURL"),
        dataRights: c.os("dataRights").unwrap_or_else(|| "PUBLIC".into()),
        mtFlag: matches!(c.get("mtFlag"), ValueRef::Bool(true))
            || c.os("mtFlag")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        srcDen: c.f("srcDen"),
        obsid,
        objID: c.i("objID").unwrap_or(obsid),
    })
}

fn product_row(t: &Table, i: usize) -> ProductRow {
    let c = Cells { t, i };
    ProductRow {
        obsID: c.s("obsID"),
        obs_collection: c.s("obs_collection"),
        dataproduct_type: c.s("dataproduct_type"),
        obs_id: c.s("obs_id"),
        description: c.s("description"),
        r#type: c.os("type").unwrap_or_else(|| "S".into()),
        dataURI: c.s("dataURI"),
        productType: c.s("productType"),
        productGroupDescription: c.os("productGroupDescription"),
        productSubGroupDescription: c.os("productSubGroupDescription"),
        productDocumentationURL: c.os("productDocumentationURL"),
        project: c.s("project"),
        prvversion: c.os("prvversion"),
        proposal_id: c.s("proposal_id"),
        productFilename: c.s("productFilename"),
        size: c.i("size").unwrap_or(0),
        parent_obsid: c.s("parent_obsid"),
        dataRights: c.os("dataRights").unwrap_or_else(|| "PUBLIC".into()),
        calib_level: c.i("calib_level").unwrap_or(0),
    }
}

fn si_table(table: Table) -> SiTable {
    let names: std::collections::HashSet<String> =
        table.column_names().map(str::to_string).collect();
    let wire = table
        .columns()
        .iter()
        .map(|c| {
            schema::si_wire_type(
                &c.name,
                c.data_type(),
                names.contains(&format!("{}_mjd", c.name)),
            )
        })
        .collect();
    SiTable { table, wire }
}
