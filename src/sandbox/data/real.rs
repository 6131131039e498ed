//! The real MAST rows bundled in `data/real/` (see the README there), turned
//! into complete archive rows: missing columns are filled deterministically
//! so that each chain works end to end (SI keywords → observations →
//! products; program 1073 → 450 UNCAL files; duplication targets).

use super::caom::ObsRow;
use super::catalog::Kind;
use super::products::{Exposure, ProductRow, hash64, member_key, program_obsnum};
use super::synth::rectangle;
use std::collections::{HashMap, HashSet};

const SIKW: &str = include_str!("real/sikw_niriss_soss_snapshot-2024-02-20.csv");
const SI_OBS: &str = include_str!("real/observations_si_keyword_nb_snapshot-2024-02-20.csv");
const SI_PRODUCTS: &str =
    include_str!("real/products_si_keyword_nb_snapshot-2024-02-20_first10_last10.csv");
const OBS_1073: &str =
    include_str!("real/observations_large_downloads_1073_nircam_image_snapshot-2024-02-20.csv");
const UNCAL_1073: &str =
    include_str!("real/products_bundle_manifest_1073_nircam_uncal_2023-01-25.csv");
const FILL_1073: &str = include_str!("real/fill_1073_nircam.csv");
const DUP_IO: &str = include_str!("real/observations_duplication_io_snapshot-2024-02-20.csv");
const DUP_M57: &str =
    include_str!("real/observations_duplication_m57_unique_snapshot-2024-02-20.csv");
const DUP_TRAPPIST: &str =
    include_str!("real/observations_duplication_trappist1_unique_snapshot-2024-02-20.csv");
const DUP_XXCHA: &str =
    include_str!("real/observations_duplication_xxcha_unique_snapshot-2024-02-20.csv");
const DUP_TARGETS: &str = include_str!("real/duplication_targets_input_snapshot-2024-02-20.csv");

/// Obsids given to filled-in rows and virtual exposures (between the real
/// ids, below 2.2e8, and the synthetic ones, from 3e8).
const FILL_OBSID_BASE: i64 = 250_000_000;

/// A CSV as a header and text records.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn parse(text: &str) -> Csv {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = rdr
            .headers()
            .map(|h| h.iter().map(str::to_string).collect())
            .unwrap_or_default();
        let rows = rdr
            .records()
            .filter_map(Result::ok)
            .map(|r| r.iter().map(str::to_string).collect())
            .collect();
        Csv { header, rows }
    }

    /// Row `i` as a name → text map.
    pub fn map(&self, i: usize) -> HashMap<&str, &str> {
        self.header
            .iter()
            .map(String::as_str)
            .zip(self.rows[i].iter().map(String::as_str))
            .collect()
    }
}

/// The SI-keyword rows of the bundled chain, as text (`--` is null).
pub fn sikw_niriss() -> Csv {
    Csv::parse(SIKW)
}

/// Everything the real files contribute to the archive.
#[derive(Default)]
pub struct RealData {
    pub observations: Vec<ObsRow>,
    pub products: Vec<ProductRow>,
    /// Exposures that are no CAOM row but are members of a level-3 row.
    pub virtual_members: Vec<(String, Exposure)>,
    /// File name → size, from SI `fileSize` and real product rows.
    pub known_sizes: HashMap<String, i64>,
    pub programs: HashSet<u32>,
}

fn txt(m: &HashMap<&str, &str>, k: &str) -> Option<String> {
    m.get(k)
        .filter(|v| !v.is_empty() && **v != "--")
        .map(|v| v.to_string())
}

fn num(m: &HashMap<&str, &str>, k: &str) -> Option<f64> {
    m.get(k)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|x| x.is_finite())
}

/// Load every bundled chain.
pub fn load() -> RealData {
    let mut d = RealData::default();
    si_chain(&mut d);
    program_1073(&mut d);
    duplication_targets(&mut d);
    d.programs = d
        .observations
        .iter()
        .filter_map(|o| o.proposal_id.parse().ok())
        .collect();
    d
}

fn obs_from_full_row(m: &HashMap<&str, &str>) -> ObsRow {
    let st = |k: &str| txt(m, k).unwrap_or_default();
    ObsRow {
        intentType: st("intentType"),
        obs_collection: st("obs_collection"),
        provenance_name: txt(m, "provenance_name"),
        instrument_name: st("instrument_name"),
        project: st("project"),
        filters: txt(m, "filters"),
        wavelength_region: st("wavelength_region"),
        target_name: st("target_name"),
        target_classification: txt(m, "target_classification"),
        obs_id: st("obs_id"),
        s_ra: num(m, "s_ra"),
        s_dec: num(m, "s_dec"),
        dataproduct_type: st("dataproduct_type"),
        proposal_pi: st("proposal_pi"),
        calib_level: num(m, "calib_level").unwrap_or(0.0) as i64,
        t_min: num(m, "t_min"),
        t_max: num(m, "t_max"),
        t_exptime: num(m, "t_exptime").unwrap_or(0.0),
        em_min: num(m, "em_min"),
        em_max: num(m, "em_max"),
        obs_title: st("obs_title"),
        t_obs_release: num(m, "t_obs_release"),
        proposal_id: st("proposal_id"),
        proposal_type: st("proposal_type"),
        sequence_number: num(m, "sequence_number").map(|x| x as i64),
        s_region: txt(m, "s_region"),
        jpegURL: txt(m, "jpegURL"),
        dataURL: txt(m, "dataURL"),
        dataRights: st("dataRights"),
        mtFlag: m
            .get("mtFlag")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        srcDen: num(m, "srcDen"),
        obsid: num(m, "obsid").unwrap_or(0.0) as i64,
        objID: num(m, "objID").unwrap_or(0.0) as i64,
    }
}

/// Deterministic position angle (radians) from a row identity.
fn pa_of(key: &str) -> f64 {
    (hash64(key) % 3600) as f64 / 3600.0 * std::f64::consts::TAU
}

fn si_chain(d: &mut RealData) {
    let obs = Csv::parse(SI_OBS);
    for i in 0..obs.rows.len() {
        let mut o = obs_from_full_row(&obs.map(i));
        if o.s_region.is_none() {
            if let (Some(ra), Some(dec)) = (o.s_ra, o.s_dec) {
                o.s_region = Some(rectangle(ra, dec, (0.0487, 0.0087), pa_of(&o.obs_id)));
            }
        }
        d.observations.push(o);
    }
    let products = Csv::parse(SI_PRODUCTS);
    for i in 0..products.rows.len() {
        let p = product_from_row(&products.map(i));
        d.known_sizes.insert(p.productFilename.clone(), p.size);
        d.products.push(p);
    }
    si_members(d);
}

fn product_from_row(m: &HashMap<&str, &str>) -> ProductRow {
    let st = |k: &str| txt(m, k).unwrap_or_default();
    ProductRow {
        obsID: st("obsID"),
        obs_collection: st("obs_collection"),
        dataproduct_type: st("dataproduct_type"),
        obs_id: st("obs_id"),
        description: st("description"),
        r#type: st("type"),
        dataURI: st("dataURI"),
        productType: st("productType"),
        productGroupDescription: txt(m, "productGroupDescription"),
        productSubGroupDescription: txt(m, "productSubGroupDescription"),
        productDocumentationURL: txt(m, "productDocumentationURL"),
        project: st("project"),
        prvversion: txt(m, "prvversion"),
        proposal_id: st("proposal_id"),
        productFilename: st("productFilename"),
        size: num(m, "size").unwrap_or(0.0) as i64,
        parent_obsid: st("parent_obsid"),
        dataRights: st("dataRights"),
        calib_level: num(m, "calib_level").unwrap_or(0.0) as i64,
    }
}

/// Exposures named by SI files (and real product rows) that are not CAOM
/// rows become members of their level-3 observation.
fn si_members(d: &mut RealData) {
    let caom: HashSet<String> = d.observations.iter().map(|o| o.obs_id.clone()).collect();
    let known_obsid: HashMap<String, i64> = d
        .products
        .iter()
        .filter_map(|p| Some((p.obs_id.clone(), p.obsID.parse().ok()?)))
        .collect();
    let si = sikw_niriss();
    let mut seen = HashSet::new();
    for i in 0..si.rows.len() {
        let m = si.map(i);
        let file = m.get("filename").copied().unwrap_or("");
        if let Some(size) = num(&m, "fileSize") {
            d.known_sizes.insert(file.to_string(), size as i64);
        }
        let Some((stem, _)) = file.rsplit_once('_') else {
            continue;
        };
        if m.get("productLevel") == Some(&"3")
            || caom.contains(stem)
            || !seen.insert(stem.to_string())
        {
            continue;
        }
        let filters = format!(
            "{};{}",
            m.get("filter").unwrap_or(&""),
            m.get("pupil").unwrap_or(&"")
        );
        let obsid = known_obsid
            .get(stem)
            .copied()
            .unwrap_or(FILL_OBSID_BASE + 1000 + seen.len() as i64);
        let e = Exposure {
            obs_id: stem.to_string(),
            obsid,
            kind: Kind::Tso,
            dataproduct_type: "spectrum".into(),
            proposal_id: m.get("program").unwrap_or(&"").to_string(),
            rights: "PUBLIC".into(),
            t_min: num(&m, "expstart").unwrap_or(59738.0),
            collection: "JWST".into(),
        };
        if let Some(key) = member_key(stem, Some(&filters)) {
            d.virtual_members.push((key, e));
        }
    }
}

fn program_1073(d: &mut RealData) {
    let obs = Csv::parse(OBS_1073);
    let fill = Csv::parse(FILL_1073);
    let fills: HashMap<String, HashMap<&str, &str>> = (0..fill.rows.len())
        .map(|i| (fill.rows[i][0].clone(), fill.map(i)))
        .collect();
    let (ra0, dec0) = (80.4875, -69.4981);
    for i in 0..obs.rows.len() {
        let m = obs.map(i);
        let Some(f) = fills.get(m["obsid"]) else {
            continue;
        };
        let o = row_1073(&m, f, ra0, dec0);
        d.observations.push(o);
    }
    members_1073(d, &fills);
}

fn row_1073(m: &HashMap<&str, &str>, f: &HashMap<&str, &str>, ra0: f64, dec0: f64) -> ObsRow {
    let filt = f["filters"].to_string();
    let obsnum = f["obsnum"];
    let t = if f["detectors"] == "lw" {
        1
    } else {
        2 + u32::from(f["activity"] == "02103")
    };
    let obs_id = format!(
        "jw01073-o{obsnum}_t{t:03}_nircam_clear-{}",
        filt.to_ascii_lowercase()
    );
    let n: f64 = obsnum.parse().unwrap_or(1.0);
    let (ra, dec) = (ra0 + 0.03 * (n - 4.0), dec0 + 0.01 * (n - 4.0));
    let t_min = 59690.0 + n * 1.7;
    let exptime = num(m, "t_exptime").unwrap_or(0.0);
    let (em_min, em_max) = match filt.as_str() {
        "F070W" => (600.0, 780.0),
        "F115W" => (1013.0, 1282.0),
        "F150W" => (1331.0, 1668.0),
        _ => (2416.0, 3127.0),
    };
    ObsRow {
        intentType: txt(m, "intentType").unwrap_or_default(),
        obs_collection: "JWST".into(),
        provenance_name: Some("CALJWST".into()),
        instrument_name: txt(m, "instrument_name").unwrap_or_default(),
        project: "JWST".into(),
        filters: Some(filt.clone()),
        wavelength_region: "Infrared".into(),
        target_name: "LMC-ASTROMETRIC-FIELD".into(),
        target_classification: Some("Star; Star clusters; Calibration".into()),
        s_ra: Some(ra),
        s_dec: Some(dec),
        s_region: Some(rectangle(ra, dec, (0.085, 0.045), pa_of(&obs_id))),
        dataproduct_type: txt(m, "dataproduct_type").unwrap_or_default(),
        proposal_pi: txt(m, "proposal_pi").unwrap_or_default(),
        calib_level: num(m, "calib_level").unwrap_or(3.0) as i64,
        t_min: Some(t_min),
        t_max: Some(t_min + exptime / 86400.0 * 3.0),
        t_exptime: exptime,
        em_min: Some(em_min),
        em_max: Some(em_max),
        obs_title: "NIRCam Geometric Distortion Calibration".into(),
        t_obs_release: Some(t_min + 10.0),
        proposal_id: "1073".into(),
        proposal_type: "COM".into(),
        jpegURL: Some(format!("mast:JWST/product/{obs_id}_i2d.jpg")),
        dataURL: Some(format!("mast:JWST/product/{obs_id}_i2d.fits")),
        dataRights: "PUBLIC".into(),
        obsid: m["obsid"].parse().unwrap_or(0),
        objID: FILL_OBSID_BASE + 500 + m["obsid"].parse::<i64>().unwrap_or(0) % 1000,
        obs_id,
        ..ObsRow::default()
    }
}

/// The 450 real UNCAL files name 45 exposures × 10 detectors: each file's
/// exposure is a member of the level-3 row with the same observation
/// number, detector group and (observation 7) activity.
fn members_1073(d: &mut RealData, fills: &HashMap<String, HashMap<&str, &str>>) {
    let uncal = Csv::parse(UNCAL_1073);
    for (i, r) in uncal.rows.iter().enumerate() {
        let file = r.last().cloned().unwrap_or_default();
        let Some((stem, _)) = file.rsplit_once('_') else {
            continue;
        };
        let Some((_, obsnum)) = program_obsnum(stem) else {
            continue;
        };
        let long = stem.ends_with("long");
        let activity = stem.get(14..19).unwrap_or("");
        for f in fills.values() {
            let group_ok = (f["detectors"] == "lw") == long;
            let act_ok = f["activity"].is_empty() || f["activity"] == activity;
            if f["obsnum"] != obsnum || !group_ok || !act_ok {
                continue;
            }
            let e = Exposure {
                obs_id: stem.to_string(),
                obsid: FILL_OBSID_BASE + 2000 + i as i64,
                kind: Kind::Imaging,
                dataproduct_type: "image".into(),
                proposal_id: "1073".into(),
                rights: "PUBLIC".into(),
                t_min: 59690.0 + obsnum.parse::<f64>().unwrap_or(1.0) * 1.7,
                collection: "JWST".into(),
            };
            let l3 = format!("01073{obsnum}|{}", f["filters"].to_ascii_lowercase());
            d.virtual_members.push((l3, e));
        }
    }
}

/// One duplication target: its unique rows, the matched count the notebook
/// printed, where it is and how far rows may sit from the centre (deg).
struct DupTarget {
    csv: &'static str,
    total: usize,
    name: &'static str,
    spread: f64,
}

fn duplication_targets(d: &mut RealData) {
    let targets = Csv::parse(DUP_TARGETS);
    let pos: HashMap<String, (f64, f64)> = (0..targets.rows.len())
        .map(|i| {
            let m = targets.map(i);
            (
                m["target_name"].to_string(),
                (
                    num(&m, "ra_deg").unwrap_or(0.0),
                    num(&m, "dec_deg").unwrap_or(0.0),
                ),
            )
        })
        .collect();
    let list = [
        DupTarget {
            csv: DUP_M57,
            total: 143,
            name: "M 57",
            spread: 0.01,
        },
        DupTarget {
            csv: DUP_TRAPPIST,
            total: 295,
            name: "Trappist-1",
            spread: 0.002,
        },
        DupTarget {
            csv: DUP_XXCHA,
            total: 14,
            name: "V* XX Cha",
            spread: 0.002,
        },
    ];
    let mut next_id = FILL_OBSID_BASE + 10_000;
    for t in &list {
        let centre = pos.get(t.name).copied().unwrap_or((0.0, 0.0));
        dup_rows(d, t, centre, &mut next_id);
    }
    io_rows(d, &mut next_id);
}

fn dup_rows(d: &mut RealData, t: &DupTarget, (ra0, dec0): (f64, f64), next_id: &mut i64) {
    let csv = Csv::parse(t.csv);
    let n = csv.rows.len().max(1);
    for k in 0..t.total {
        let m = csv.map(k % n);
        let copy = k / n;
        let calib = num(&m, "calib_level")
            .map(|c| c as i64)
            .unwrap_or(if copy == 0 { 3 } else { 2 });
        let key = format!("{}-{k}", t.name);
        let h = hash64(&key);
        let dx = ((h % 2001) as f64 / 1000.0 - 1.0) * t.spread;
        let dy = (((h >> 16) % 2001) as f64 / 1000.0 - 1.0) * t.spread;
        let ra = ra0 + dx / dec0.to_radians().cos();
        let dec = dec0 + dy;
        let mut o = filled_row(&m, calib, k, copy, next_id);
        o.s_ra = Some(ra);
        o.s_dec = Some(dec);
        o.s_region = Some(rectangle(ra, dec, fov_of(&o.instrument_name), pa_of(&key)));
        d.observations.push(o);
    }
}

fn fov_of(instrument: &str) -> (f64, f64) {
    super::catalog::MODES
        .iter()
        .find(|m| format!("{}/{}", m.instr, m.mode) == instrument)
        .map_or((0.01, 0.01), |m| m.fov)
}

/// A CAOM row from a display-only row (5–6 columns): ids, times and titles
/// are filled.
fn filled_row(
    m: &HashMap<&str, &str>,
    calib: i64,
    k: usize,
    copy: usize,
    next_id: &mut i64,
) -> ObsRow {
    let prog: u32 = txt(m, "proposal_id")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let instrument = txt(m, "instrument_name").unwrap_or_default();
    let instr = instrument
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let filters = txt(m, "filters");
    let obs_num = 1 + (k % 9) as u32;
    let obs_id = match calib {
        -1 => format!(
            "jw{prog:05}{obs_num:03}001_xx{:03}_{:05}_{instr}",
            101 + copy,
            k + 1
        ),
        3 => format!(
            "jw{prog:05}-o{obs_num:03}_t{:03}_{instr}_{}",
            1 + k,
            filters
                .clone()
                .unwrap_or_else(|| "clear".into())
                .to_ascii_lowercase()
                .replace(';', "-")
        ),
        _ => format!("jw{prog:05}{obs_num:03}001_02101_{:05}_{instr}", k + 1),
    };
    let t_min = if calib == -1 {
        None
    } else {
        Some(59900.0 + (hash64(&obs_id) % 400) as f64)
    };
    let exptime = num(m, "t_exptime").unwrap_or(0.0);
    let planned = calib == -1;
    *next_id += 1;
    ObsRow {
        intentType: "science".into(),
        obs_collection: "JWST".into(),
        provenance_name: Some(if planned { "APT" } else { "CALJWST" }.into()),
        instrument_name: instrument.clone(),
        project: "JWST".into(),
        filters,
        wavelength_region: "Infrared".into(),
        target_name: txt(m, "target_name").unwrap_or_default(),
        target_classification: None,
        dataproduct_type: dp_of(&instrument).into(),
        proposal_pi: pi_of(prog).into(),
        calib_level: calib,
        t_min,
        t_max: t_min.map(|t| t + exptime / 86400.0),
        t_exptime: exptime,
        obs_title: title_of(prog).into(),
        t_obs_release: Some(t_min.map_or(60800.0, |t| t + 365.0)),
        proposal_id: prog.to_string(),
        proposal_type: ptype_of(prog).into(),
        dataRights: if planned || t_min.is_some_and(|t| t + 365.0 > super::synth::NOW_MJD) {
            "EXCLUSIVE_ACCESS".into()
        } else {
            "PUBLIC".into()
        },
        jpegURL: (!planned).then(|| format!("mast:JWST/product/{obs_id}_cal.jpg")),
        obsid: if planned {
            10_000_100_000 + *next_id
        } else {
            *next_id
        },
        objID: *next_id + 1_000_000,
        obs_id,
        ..ObsRow::default()
    }
}

fn dp_of(instrument: &str) -> &'static str {
    match instrument.split('/').nth(1) {
        Some("IFU") => "cube",
        Some("IMAGE") | Some("AMI") => "image",
        _ => "spectrum",
    }
}

fn io_rows(d: &mut RealData, next_id: &mut i64) {
    let csv = Csv::parse(DUP_IO);
    for k in 0..csv.rows.len() {
        let m = csv.map(k);
        let calib = num(&m, "calib_level").unwrap_or(3.0) as i64;
        let mut o = filled_row(&m, calib, k, 0, next_id);
        let prog: u32 = o.proposal_id.parse().unwrap_or(0);
        // Jupiter on the ecliptic: near RA 0h45m in late 2022 (1373), 4h later.
        let (ra, dec) = if prog == 1373 {
            (11.2, 3.9)
        } else {
            (55.0, 19.4)
        };
        let key = format!("io-{k}");
        o.s_ra = Some(ra + (hash64(&key) % 100) as f64 * 1e-4);
        o.s_dec = Some(dec);
        o.s_region = Some(rectangle(ra, dec, fov_of(&o.instrument_name), pa_of(&key)));
        o.mtFlag = true;
        o.target_classification = Some("Solar System; Planetary satellite; Io".into());
        d.observations.push(o);
    }
}

fn pi_of(prog: u32) -> &'static str {
    match prog {
        1373 => "de Pater, Imke",
        1558 => "Cox, Nick",
        1282 => "Henning, Thomas",
        3077 => "Gillon, Michael",
        1177 => "Greene, Thomas P.",
        1279 => "Ih, Jegug",
        _ => "Sandbox, Filled",
    }
}

fn ptype_of(prog: u32) -> &'static str {
    match prog {
        1373 => "ERS",
        1177 | 1201 | 1279 | 1282 => "GTO",
        4565 => "DD",
        _ => "GO",
    }
}

fn title_of(prog: u32) -> &'static str {
    match prog {
        1373 => {
            "ERS observations of the Jovian System as a demonstration of JWST's capabilities for Solar System science"
        }
        4078 => "Mass-loss from Ios volcanic atmosphere",
        4565 => "HST-Juno Io Campaign",
        3077 => "TRAPPIST-1 Planets: Atmospheres Or Not?",
        1558 => "The JWST Ring Nebula Project",
        1282 => "MINDS: MIRI mid-INfrared Disk Survey",
        _ => "Filled by the sandbox (real title not recorded)",
    }
}
