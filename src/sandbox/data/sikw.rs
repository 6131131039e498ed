//! JWST SI-keyword tables (`Mast.Jwst.Filtered.<Instrument>`): one row per
//! FITS file, ~200 keyword columns. The NIRISS table holds the 74 real rows
//! of the bundled chain; every instrument gets synthetic rows for the
//! calibrated files (levels 2a, 2b, 3) of synthetic observations, and
//! `GuideStar` a row per calibrated guide-star file of their visits (the
//! same files their product lists name).
//!
//! Values follow the real encoding: dates `/Date(ms)/` with `_mjd` twins,
//! booleans `t`/`f` in keyword columns and `True`/`False` in
//! `isRestricted`, `isItar`, `isStale`. A file name maps to its CAOM
//! `obs_id` by dropping the last `_suffix`, as the notebook does.

use super::caom::ObsRow;
use super::catalog::{self, Kind, Mode};
use super::products::{
    fileset_of, guide_star_files, hash64, program_obsnum, synthetic_size, visit_of,
};
use super::real::Csv;
use crate::table::{Column, Table, normalize};
use std::collections::{BTreeMap, HashMap};

/// Services and the instrument each one serves.
pub const SERVICES: &[(&str, &str)] = &[
    ("nircam", "NIRCAM"),
    ("niriss", "NIRISS"),
    ("nirspec", "NIRSPEC"),
    ("miri", "MIRI"),
    ("fgs", "FGS"),
    ("guidestar", "GUIDESTAR"),
];

/// At most this many synthetic SI rows per instrument (the SI tables are not
/// part of the 10⁶-observation scale).
pub const MAX_SYNTH_ROWS: usize = 5_000;

/// An SI table with the wire type of each column.
#[derive(Debug, Clone)]
pub struct SiTable {
    pub table: Table,
    pub wire: Vec<&'static str>,
}

/// Build one table per service from the real NIRISS rows and `obs`.
pub fn build(real: &Csv, obs: &[ObsRow]) -> BTreeMap<String, SiTable> {
    let header: Vec<String> = real.header.clone();
    let mut rows: HashMap<&str, Vec<Vec<String>>> = HashMap::new();
    rows.entry("niriss")
        .or_default()
        .extend(real.rows.iter().cloned());
    let mut next_id = 900_000_000i64;
    let mut gs_seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for o in obs
        .iter()
        .filter(|o| o.obs_collection == "JWST" && o.calib_level >= 2)
    {
        let Some(mode) = mode_of(&o.instrument_name, o.filters.as_deref()) else {
            continue;
        };
        let svc = service_of(mode.instr);
        let bucket = rows.entry(svc).or_default();
        if bucket.len() >= MAX_SYNTH_ROWS {
            continue;
        }
        for (file, level) in si_files(o, mode) {
            next_id += 1;
            let cells = synth_cells(o, mode, &file, level, next_id);
            bucket.push(row_of_cells(&header, &cells));
        }
        if o.calib_level == 2 {
            let gs = rows.entry("guidestar").or_default();
            for g in guide_star_files(&o.obs_id, o.t_min.unwrap_or(59900.0)) {
                if g.level != 2 || gs.len() >= MAX_SYNTH_ROWS || !gs_seen.insert(g.filename.clone())
                {
                    continue;
                }
                next_id += 1;
                let mut cells = synth_cells(o, mode, &g.filename, "2b", next_id);
                guide_star_cells(&mut cells, o, g.kind, &g.filename);
                gs.push(row_of_cells(&header, &cells));
            }
        }
    }
    SERVICES
        .iter()
        .map(|(svc, _)| {
            (
                svc.to_string(),
                to_table(&header, rows.remove(svc).unwrap_or_default()),
            )
        })
        .collect()
}

fn row_of_cells(header: &[String], cells: &HashMap<&'static str, String>) -> Vec<String> {
    header
        .iter()
        .map(|h| {
            cells
                .get(h.as_str())
                .cloned()
                .unwrap_or_else(|| "--".into())
        })
        .collect()
}

/// Turn an exposure's keyword cells into those of one of its visit's
/// calibrated guide-star files: FGS keywords, the guide star's identity,
/// position (within 5′ of the target) and magnitude.
fn guide_star_cells(m: &mut HashMap<&'static str, String>, o: &ObsRow, kind: &str, file: &str) {
    let h = hash64(file);
    let vh = hash64(visit_of(&o.obs_id).unwrap_or(""));
    let (exp_type, subarray, datamode) = match kind {
        "gs-id" => ("FGS_ID-IMAGE", "FULL", "ID"),
        "gs-acq1" => ("FGS_ACQ1", "128X128", "ACQ1"),
        "gs-acq2" => ("FGS_ACQ2", "32X32", "ACQ2"),
        "gs-track" => ("FGS_TRACK", "32X32", "TRACK"),
        _ => ("FGS_FINEGUIDE", "8X8", "FINEGUIDE"),
    };
    let letters: String = (0..4)
        .map(|i| (b'A' + ((vh >> (8 * i)) % 26) as u8) as char)
        .collect();
    let ra = o.s_ra.unwrap_or(0.0);
    let dec = o.s_dec.unwrap_or(0.0);
    let off = |k: u32| ((vh >> k) % 10_000) as f64 / 10_000.0 * (10.0 / 60.0) - 5.0 / 60.0;
    let gs_dec = (dec + off(8)).clamp(-90.0, 90.0);
    let gs_ra = (ra + off(24) / dec.to_radians().cos().max(0.05)).rem_euclid(360.0);
    let mut put = |k: &'static str, v: String| {
        m.insert(k, v);
    };
    put("instrume", "FGS".into());
    put(
        "detector",
        if vh % 2 == 0 { "GUIDER1" } else { "GUIDER2" }.into(),
    );
    put("exp_type", exp_type.into());
    put("subarray", subarray.into());
    put("datamode", datamode.into());
    put("apername", "FGS1_FULL".into());
    put("filter", "N/A".into());
    put("pupil", "N/A".into());
    put("template", "FGS Guide Star".into());
    put(
        "gdstarid",
        format!("{letters}{:06}", (vh >> 32) % 1_000_000),
    );
    put("gs_ra", gs_ra.to_string());
    put("gs_dec", gs_dec.to_string());
    put("gs_ura", "0.0001".into());
    put("gs_udec", "0.0001".into());
    put(
        "gs_mag",
        format!("{:.3}", 11.0 + ((vh >> 40) % 6000) as f64 / 1000.0),
    );
    put("gs_umag", "0.05".into());
    put("gs_order", "1".into());
    put(
        "gs_v3_pa",
        format!("{:.4}", ((vh >> 16) % 36_000) as f64 / 100.0),
    );
    put("pcs_mode", "FINEGUIDE".into());
    put("nints", (1 + h % 3).to_string());
    put("ngroups", "1".into());
    put("tsovisit", "f".into());
    put("datamodl", "GuiderCalModel".into());
}

fn service_of(instr: &str) -> &'static str {
    SERVICES
        .iter()
        .find(|s| s.1 == instr)
        .map_or("niriss", |s| s.0)
}

/// The catalogue mode of a CAOM `instrument_name` (and filter string).
pub fn mode_of(instrument_name: &str, filters: Option<&str>) -> Option<&'static Mode> {
    let (instr, mode) = instrument_name.split_once('/')?;
    let cands: Vec<&Mode> = catalog::MODES
        .iter()
        .filter(|m| m.instr == instr && m.mode == mode)
        .collect();
    let by_filter = cands
        .iter()
        .find(|m| filters.is_some_and(|f| m.filters.iter().any(|x| x.0 == f)))
        .copied();
    by_filter.or_else(|| cands.first().copied())
}

/// The calibrated FITS files of an observation with their `productLevel`.
fn si_files(o: &ObsRow, mode: &Mode) -> Vec<(String, &'static str)> {
    if o.calib_level >= 3 {
        let main = super::synth::main_suffix(mode.kind, 3);
        return vec![(format!("{}_{main}", o.obs_id), "3")];
    }
    let mut v = vec![
        (format!("{}_rate.fits", o.obs_id), "2a"),
        (format!("{}_rateints.fits", o.obs_id), "2a"),
    ];
    let b: &[&str] = match mode.kind {
        Kind::Tso => &["calints.fits", "x1dints.fits"],
        Kind::Ifu => &["cal.fits", "s3d.fits"],
        Kind::Slit | Kind::Msa => &["cal.fits", "x1d.fits"],
        Kind::Ami => &["calints.fits"],
        Kind::Imaging | Kind::Guider => &["cal.fits"],
    };
    v.extend(b.iter().map(|s| (format!("{}_{s}", o.obs_id), "2b")));
    v
}

fn date(mjd: f64) -> String {
    format!(
        "/Date({})/",
        ((mjd - 40587.0) * 86_400_000.0).round() as i64
    )
}

fn tf(b: bool) -> String {
    if b { "t" } else { "f" }.to_string()
}

fn synth_cells(
    o: &ObsRow,
    mode: &Mode,
    file: &str,
    level: &str,
    id: i64,
) -> HashMap<&'static str, String> {
    let t0 = o.t_min.unwrap_or(59900.0);
    let t1 = o.t_max.unwrap_or(t0);
    let rel = o.t_obs_release.unwrap_or(t1 + 365.0);
    let stem = file.rsplit_once('_').map_or(file, |x| x.0);
    let visit = visit_of(&o.obs_id).unwrap_or("jw00000000000");
    let (filter, pupil) = o
        .filters
        .as_deref()
        .unwrap_or("CLEAR")
        .split_once(';')
        .unwrap_or((o.filters.as_deref().unwrap_or("CLEAR"), "CLEAR"));
    let det = stem.rsplit('_').next().unwrap_or("").to_ascii_uppercase();
    let tso = mode.kind == Kind::Tso;
    let h = hash64(file);
    let mut m: HashMap<&'static str, String> = HashMap::new();
    let mut put = |k: &'static str, v: String| {
        m.insert(k, v);
    };
    put("ArchiveFileID", id.to_string());
    put("filename", file.to_string());
    put("fileSetName", fileset_of(stem));
    put("productLevel", level.to_string());
    put("act_id", "01".into());
    put(
        "apername",
        format!("{}_FULL", mode.instr.get(..3).unwrap_or("")),
    );
    put("category", o.proposal_type.clone());
    put("date", date(rel - 300.0));
    put("date_mjd", (rel - 300.0).to_string());
    put("date_obs", date(t0));
    put("date_obs_mjd", t0.to_string());
    put("date_end", date(t1));
    put("date_end_mjd", t1.to_string());
    put("date_beg", date(t0));
    put("date_beg_mjd", t0.to_string());
    put("expstart", t0.to_string());
    put("expend", t1.to_string());
    put("expmid", ((t0 + t1) / 2.0).to_string());
    put("detector", if det.is_empty() { "NIS".into() } else { det });
    put("duration", (o.t_exptime * 1.08).round().to_string());
    put("effexptm", o.t_exptime.to_string());
    put("exp_type", mode.exp_type.to_string());
    put("filter", filter.to_string());
    put("pupil", pupil.to_string());
    put("instrume", mode.instr.to_string());
    put("nints", (1 + h % 20).to_string());
    put("ngroups", (2 + (h >> 8) % 30).to_string());
    put("nframes", "1".into());
    put(
        "obs_id",
        format!("V{}P0000000002101", visit.get(2..).unwrap_or("")),
    );
    put(
        "observtn",
        program_obsnum(&o.obs_id)
            .map_or("1", |x| x.1)
            .trim_start_matches('0')
            .to_string(),
    );
    put("visit", "1".into());
    put("visit_id", visit.get(2..).unwrap_or("").to_string());
    put("program", o.proposal_id.clone());
    put("pi_name", o.proposal_pi.clone());
    put("title", o.obs_title.clone());
    put("targname", o.target_name.clone());
    put("targprop", o.target_name.clone());
    put("targ_ra", o.s_ra.unwrap_or(0.0).to_string());
    put("targ_dec", o.s_dec.unwrap_or(0.0).to_string());
    put("targtype", if o.mtFlag { "MOVING" } else { "FIXED" }.into());
    put("targoopp", tf(false));
    put("tsovisit", tf(tso));
    put("bkgdtarg", tf(false));
    put("dataprob", tf(false));
    put("hga_move", tf(false));
    put("intarget", tf(false));
    put("zerofram", tf(false));
    put("exp_only", tf(false));
    put("crowdfld", tf(false));
    put("compress", tf(false));
    put("telescop", "JWST".into());
    put("template", format!("{} {}", mode.instr, mode.mode));
    put("subarray", if tso { "SUBSTRIP256" } else { "FULL" }.into());
    put(
        "readpatt",
        if mode.instr == "MIRI" {
            "FASTR1"
        } else {
            "NISRAPID"
        }
        .into(),
    );
    put(
        "datamodl",
        if tso { "CubeModel" } else { "ImageModel" }.into(),
    );
    put("cal_ver", "1.12.5".into());
    put("cal_vcs", "RELEASE".into());
    put("crds_ctx", "jwst_1185.pmap".into());
    put("fileSize", synthetic_size(file).to_string());
    put("checksum", format!("{:016x}{:016x}", h, hash64(stem)));
    put("ingestStartDate", date(t1 + 1.0));
    put("ingestStartDate_mjd", (t1 + 1.0).to_string());
    put("ingestCompletionDate", date(t1 + 1.01));
    put("ingestCompletionDate_mjd", (t1 + 1.01).to_string());
    put("FileTypeID", (10 + h % 90).to_string());
    put("publicReleaseDate", date(rel));
    put("publicReleaseDate_mjd", rel.to_string());
    put(
        "isRestricted",
        if o.dataRights == "PUBLIC" {
            "False"
        } else {
            "True"
        }
        .into(),
    );
    put("isItar", "False".into());
    put("isStale", "False".into());
    put("FileSetId", (1_000_000 + (h >> 20) % 1_000_000).to_string());
    put("dataURI", format!("mast:JWST/product/{file}"));
    put("s_region", o.s_region.clone().unwrap_or_default());
    m
}

fn to_table(header: &[String], rows: Vec<Vec<String>>) -> SiTable {
    let mut columns = Vec::with_capacity(header.len());
    let mut wire = Vec::with_capacity(header.len());
    let names: std::collections::HashSet<&str> = header.iter().map(String::as_str).collect();
    for (j, name) in header.iter().enumerate() {
        let cells: Vec<&str> = rows
            .iter()
            .map(|r| r.get(j).map_or("--", String::as_str))
            .collect();
        let col = si_column(name, &cells);
        let twin = names.contains(format!("{name}_mjd").as_str());
        wire.push(super::schema::si_wire_type(name, col.data_type(), twin));
        columns.push(col);
    }
    let table = Table::new(columns).unwrap_or_default();
    SiTable { table, wire }
}

/// Type inference that keeps zero-padded ids (`01`, `01541001001`) as text.
fn si_column(name: &str, cells: &[&str]) -> Column {
    let padded = cells
        .iter()
        .any(|c| c.len() > 1 && c.starts_with('0') && c.bytes().all(|b| b.is_ascii_digit()));
    let declared = padded.then_some(crate::table::DataType::String);
    normalize::text_column(name, cells, declared)
}
