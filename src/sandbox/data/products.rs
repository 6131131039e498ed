//! Product lists (`Mast.Caom.Products`): generated on demand from an
//! observation, never stored, so 10⁶ observations cost no product memory.
//!
//! A level-2 observation lists its own exposure files (uncal, rate,
//! rateints, cal/calints/x1dints/s3d… by mode), previews, its level-2
//! association and the guide-star files of its visit (typed AUXILIARY). A
//! level-3 observation lists its own combined products (some flagged
//! "Minimum Recommended Products"), its level-3 association and pool, **and
//! every member exposure's products**: the same dataURI then appears under
//! several `parent_obsid`s, as in real MAST lists. Planned observations
//! (`calib_level = -1`) have no products.
//!
//! Sizes come from the real rows when a file is known (SI-keyword
//! `fileSize`, real product rows), otherwise from `sha256(dataURI)` within a
//! per-suffix range, so the download endpoint serves exactly `size` bytes.

use super::catalog::Kind;
use sha2::{Digest, Sha256};

/// One product row, field names as on the wire.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(non_snake_case)]
pub struct ProductRow {
    pub obsID: String,
    pub obs_collection: String,
    pub dataproduct_type: String,
    pub obs_id: String,
    pub description: String,
    pub r#type: String,
    pub dataURI: String,
    pub productType: String,
    pub productGroupDescription: Option<String>,
    pub productSubGroupDescription: Option<String>,
    pub productDocumentationURL: Option<String>,
    pub project: String,
    pub prvversion: Option<String>,
    pub proposal_id: String,
    pub productFilename: String,
    pub size: i64,
    pub parent_obsid: String,
    pub dataRights: String,
    pub calib_level: i64,
}

/// What the generator needs to know about one exposure or observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub obs_id: String,
    pub obsid: i64,
    pub kind: Kind,
    pub dataproduct_type: String,
    pub proposal_id: String,
    pub rights: String,
    pub t_min: f64,
    pub collection: String,
}

/// A file family: suffix, productType, subgroup, description, calib level.
struct Spec(&'static str, &'static str, &'static str, &'static str, i64);

const PROV: &str = "1.12.5";
pub const MRP: &str = "Minimum Recommended Products";

fn exposure_specs(kind: Kind) -> Vec<Spec> {
    let mut v = vec![
        Spec(
            "uncal.fits",
            "SCIENCE",
            "UNCAL",
            "exposure (L1b): Uncalibrated 4D exposure data",
            1,
        ),
        Spec(
            "rate.fits",
            "SCIENCE",
            "RATE",
            "exposure (L2a): 2D count rate averaged over integrations",
            2,
        ),
        Spec(
            "rateints.fits",
            "SCIENCE",
            "RATEINTS",
            "exposure (L2a): 3D countrate per integration",
            2,
        ),
    ];
    let more: &[Spec] = match kind {
        Kind::Imaging | Kind::Guider => &[
            Spec(
                "cal.fits",
                "SCIENCE",
                "CAL",
                "exposure (L2b): 2D calibrated exposure average over integrations",
                2,
            ),
            Spec(
                "i2d.fits",
                "SCIENCE",
                "I2D",
                "exposure (L2b): 2D resampled image",
                2,
            ),
        ],
        Kind::Tso => &[
            Spec(
                "ramp.fits",
                "AUXILIARY",
                "RAMP",
                "exposure (L2a): corrected 4D data (up the ramp detection)",
                2,
            ),
            Spec(
                "calints.fits",
                "SCIENCE",
                "CALINTS",
                "exposure (L2b): 3D calibrated exposure",
                2,
            ),
            Spec(
                "x1dints.fits",
                "SCIENCE",
                "X1DINTS",
                "exposure/target (L2b/L3): 1D extracted spectrum per integration",
                2,
            ),
        ],
        Kind::Ifu => &[
            Spec(
                "cal.fits",
                "SCIENCE",
                "CAL",
                "exposure (L2b): 2D calibrated exposure average over integrations",
                2,
            ),
            Spec(
                "s3d.fits",
                "SCIENCE",
                "S3D",
                "exposure (L2b): 3D IFU cube",
                2,
            ),
            Spec(
                "x1d.fits",
                "SCIENCE",
                "X1D",
                "exposure/target (L2b/L3): 1D extracted spectrum",
                2,
            ),
        ],
        Kind::Slit | Kind::Msa => &[
            Spec(
                "cal.fits",
                "SCIENCE",
                "CAL",
                "exposure (L2b): 2D calibrated exposure average over integrations",
                2,
            ),
            Spec(
                "s2d.fits",
                "SCIENCE",
                "S2D",
                "exposure (L2b): 2D resampled spectrum",
                2,
            ),
            Spec(
                "x1d.fits",
                "SCIENCE",
                "X1D",
                "exposure/target (L2b/L3): 1D extracted spectrum",
                2,
            ),
        ],
        Kind::Ami => &[
            Spec(
                "calints.fits",
                "SCIENCE",
                "CALINTS",
                "exposure (L2b): 3D calibrated exposure",
                2,
            ),
            Spec(
                "ami-oi.fits",
                "SCIENCE",
                "AMI-OI",
                "exposure (L2b): interferometric observables",
                2,
            ),
        ],
    };
    v.extend(more.iter().map(|s| Spec(s.0, s.1, s.2, s.3, s.4)));
    v
}

fn level3_specs(kind: Kind) -> &'static [Spec] {
    match kind {
        Kind::Imaging | Kind::Guider => &[
            Spec(
                "i2d.fits",
                "SCIENCE",
                "I2D",
                "target (L3) : 2D resampled image",
                3,
            ),
            Spec(
                "segm.fits",
                "SCIENCE",
                "SEGM",
                "target (L3) : segmentation map",
                3,
            ),
            Spec(
                "cat.ecsv",
                "SCIENCE",
                "CAT",
                "target (L3) : source catalog",
                3,
            ),
        ],
        Kind::Tso => &[
            Spec(
                "x1dints.fits",
                "SCIENCE",
                "X1DINTS",
                "exposure/target (L2b/L3): 1D extracted spectrum per integration",
                3,
            ),
            Spec(
                "whtlt.ecsv",
                "SCIENCE",
                "WHTLT",
                "target   (L3) : spectroscopic white-light curve",
                3,
            ),
        ],
        Kind::Ifu => &[
            Spec("s3d.fits", "SCIENCE", "S3D", "target (L3) : 3D IFU cube", 3),
            Spec(
                "x1d.fits",
                "SCIENCE",
                "X1D",
                "exposure/target (L2b/L3): 1D extracted spectrum",
                3,
            ),
        ],
        Kind::Slit | Kind::Msa => &[
            Spec(
                "s2d.fits",
                "SCIENCE",
                "S2D",
                "target (L3) : 2D resampled spectrum",
                3,
            ),
            Spec(
                "x1d.fits",
                "SCIENCE",
                "X1D",
                "exposure/target (L2b/L3): 1D extracted spectrum",
                3,
            ),
        ],
        Kind::Ami => &[
            Spec(
                "ami-oi.fits",
                "SCIENCE",
                "AMI-OI",
                "target (L3) : interferometric observables",
                3,
            ),
            Spec(
                "aminorm-oi.fits",
                "SCIENCE",
                "AMINORM-OI",
                "target (L3) : normalized interferometric observables",
                3,
            ),
        ],
    }
}

/// `sha256(s)` as a u64 (first 8 bytes, big-endian).
pub fn hash64(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Deterministic size of a generated file from its name.
pub fn synthetic_size(filename: &str) -> i64 {
    let (lo, hi): (i64, i64) = match suffix_of(filename) {
        s if s.ends_with(".jpg") && s.contains("thumb") => (2_000, 12_000),
        s if s.ends_with(".jpg") => (20_000, 250_000),
        s if s.ends_with("asn.json") => (1_200, 6_000),
        s if s.ends_with(".csv") => (5_000, 12_000),
        s if s.ends_with(".ecsv") => (40_000, 900_000),
        "stream.fits" => (700_000, 900_000),
        _ if filename.contains("_gs-") => (800_000, 2_600_000),
        "uncal.fits" => (40_000_000, 180_000_000),
        "calints.fits" | "ramp.fits" => (200_000_000, 2_400_000_000),
        "rateints.fits" | "x1dints.fits" => (10_000_000, 780_000_000),
        "i2d.fits" | "s3d.fits" => (60_000_000, 400_000_000),
        "x1d.fits" | "ami-oi.fits" | "aminorm-oi.fits" => (60_000, 600_000),
        _ => (10_000_000, 120_000_000),
    };
    lo + (hash64(filename) % (hi - lo) as u64) as i64
}

fn suffix_of(filename: &str) -> &str {
    filename.rsplit_once('_').map_or(filename, |(_, s)| s)
}

/// The `jw{PPPPP}{OOO}{VVV}` visit of an exposure-level obs_id.
pub fn visit_of(obs_id: &str) -> Option<&str> {
    let v = obs_id.get(..13)?;
    (v.starts_with("jw") && v[2..].bytes().all(|b| b.is_ascii_digit())).then_some(v)
}

/// `(program, observation number)` digits of a JWST obs_id (either level).
pub fn program_obsnum(obs_id: &str) -> Option<(&str, &str)> {
    if !obs_id.starts_with("jw") {
        return None;
    }
    if obs_id.get(7..9) == Some("-o") {
        return Some((obs_id.get(2..7)?, obs_id.get(9..12)?));
    }
    visit_of(obs_id).map(|v| (&v[2..7], &v[7..10]))
}

/// Key under which level-2 members of a level-3 observation are grouped.
pub fn member_key(obs_id: &str, filters: Option<&str>) -> Option<String> {
    let (p, o) = program_obsnum(obs_id)?;
    Some(format!(
        "{p}{o}|{}",
        filters.unwrap_or("").to_ascii_lowercase()
    ))
}

/// Yyyydddhhmmss of an MJD, the guide-star file time stamp.
fn gs_stamp(mjd: f64) -> String {
    let unix = ((mjd - 40587.0) * 86400.0) as i64;
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}{:03}{:02}{:02}{:02}",
        t.year(),
        t.ordinal(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `20240112t191830`, the association time stamp of a program.
fn asn_stamp(program: &str) -> String {
    let h = hash64(program);
    format!(
        "2024{:02}{:02}t{:02}{:02}{:02}",
        1 + h % 2,
        1 + (h >> 8) % 28,
        (h >> 16) % 24,
        (h >> 24) % 60,
        (h >> 32) % 60
    )
}

/// One guide-star file of a visit (products typed AUXILIARY; the
/// `GuideStar` SI-keyword table has a row per calibrated one).
#[derive(Debug, Clone, PartialEq)]
pub struct GuideStarFile {
    pub filename: String,
    /// `gs-id`, `gs-acq1`, `gs-acq2`, `gs-track`, `gs-fg`.
    pub kind: &'static str,
    pub subgroup: &'static str,
    pub description: &'static str,
    /// 1 (`uncal`, `stream`) or 2 (`cal`).
    pub level: i64,
}

/// The guide-star files listed with an exposure of `obs_id` starting at
/// `t_min` (MJD): one identification image and acquisition 1/2, tracking
/// and fine-guide files time-stamped from the exposure start.
pub fn guide_star_files(obs_id: &str, t_min: f64) -> Vec<GuideStarFile> {
    let Some(v) = visit_of(obs_id) else {
        return Vec::new();
    };
    let t0 = t_min - 0.01;
    let stamp = |dt: f64| gs_stamp(t0 + dt);
    let mut out = Vec::new();
    let mut add = |filename: String, kind, subgroup, description, level| {
        out.push(GuideStarFile {
            filename,
            kind,
            subgroup,
            description,
            level,
        })
    };
    let id = ("gs-id", "GS-ID", "FGS guide star identification");
    add(format!("{v}_gs-id_1_image-uncal.fits"), id.0, id.1, id.2, 1);
    add(format!("{v}_gs-id_1_image-cal.fits"), id.0, id.1, id.2, 2);
    for (kind, sub, desc, dt) in [
        ("gs-acq1", "GS-ACQ1", "FGS1 guide star acquisition", 0.001),
        ("gs-acq2", "GS-ACQ2", "FGS2 guide star acquisition", 0.002),
    ] {
        for (suffix, level) in [("uncal", 1), ("cal", 2)] {
            add(
                format!("{v}_{kind}_{}_{suffix}.fits", stamp(dt)),
                kind,
                sub,
                desc,
                level,
            );
        }
    }
    for (kind, sub, desc, dt) in [
        ("gs-track", "GS-TRACK", "FGS guide star tracking", 0.003),
        ("gs-fg", "GS-FG", "FGS guide star fine guide", 0.004),
    ] {
        for (suffix, level) in [("uncal", 1), ("cal", 2), ("stream", 1)] {
            add(
                format!("{v}_{kind}_{}_{suffix}.fits", stamp(dt)),
                kind,
                sub,
                desc,
                level,
            );
        }
    }
    out
}

/// The missions-API dataset (`fileSetName`) of a JWST file stem or
/// obs_id: its first three `_` fields without a TSO `-segNNN` suffix
/// (`jw01541001001_04101_00001-seg002_nis` → `jw01541001001_04101_00001`,
/// `jw02734-o002_t002_niriss_clear-gr700xd` → `jw02734-o002_t002_niriss`),
/// as the real SI-keyword rows show.
pub fn fileset_of(stem: &str) -> String {
    let head: Vec<&str> = stem.splitn(4, '_').take(3).collect();
    let mut f = head.join("_");
    if let Some(i) = f.rfind("-seg") {
        if f.len() > i + 4 && f[i + 4..].bytes().all(|b| b.is_ascii_digit()) {
            f.truncate(i);
        }
    }
    f
}

/// Builds product rows for one requested observation.
pub struct Lister<'a> {
    pub parent_obsid: i64,
    pub known_size: &'a dyn Fn(&str) -> Option<i64>,
    pub out: Vec<ProductRow>,
}

impl Lister<'_> {
    fn push(
        &mut self,
        e: &Exposure,
        name: String,
        spec: (&str, &str, &str, i64),
        mrp: bool,
        t: &str,
    ) {
        let (ptype, sub, desc, level) = spec;
        let size = (self.known_size)(&name).unwrap_or_else(|| synthetic_size(&name));
        self.out.push(ProductRow {
            obsID: e.obsid.to_string(),
            obs_collection: e.collection.clone(),
            dataproduct_type: e.dataproduct_type.clone(),
            obs_id: e.obs_id.clone(),
            description: desc.to_string(),
            r#type: t.to_string(),
            dataURI: format!("mast:{}/product/{name}", e.collection),
            productType: ptype.to_string(),
            productGroupDescription: mrp.then(|| MRP.to_string()),
            productSubGroupDescription: (!sub.is_empty()).then(|| sub.to_string()),
            productDocumentationURL: None,
            project: "CALJWST".to_string(),
            prvversion: (level >= 2).then(|| PROV.to_string()),
            proposal_id: e.proposal_id.clone(),
            productFilename: name,
            size,
            parent_obsid: self.parent_obsid.to_string(),
            dataRights: e.rights.clone(),
            calib_level: level,
        });
    }

    /// The files of one exposure: science, previews, level-2 association,
    /// guide-star files of its visit, and the MSA metadata file.
    pub fn exposure(&mut self, e: &Exposure, index: usize) {
        for s in exposure_specs(e.kind) {
            self.push(
                e,
                format!("{}_{}", e.obs_id, s.0),
                (s.1, s.2, s.3, s.4),
                false,
                "S",
            );
        }
        let preview = if e.kind == Kind::Tso { "ramp" } else { "cal" };
        self.push(
            e,
            format!("{}_{preview}.jpg", e.obs_id),
            ("PREVIEW", "", "Preview-Full", 2),
            false,
            "S",
        );
        self.push(
            e,
            format!("{}_{preview}_thumb.jpg", e.obs_id),
            ("THUMBNAIL", "", "Preview-Thumb", 2),
            false,
            "S",
        );
        if let Some((p, o)) = program_obsnum(&e.obs_id) {
            let step = match e.kind {
                Kind::Tso => "tso-spec2",
                Kind::Imaging | Kind::Guider | Kind::Ami => "image2",
                _ => "spec2",
            };
            let name = format!(
                "jw{p}-o{o}_{}_{step}_{:05}_asn.json",
                asn_stamp(p),
                index + 1
            );
            self.push(
                e,
                name,
                (
                    "INFO",
                    "ASN",
                    "source/target (L3) : association generator",
                    2,
                ),
                false,
                "S",
            );
        }
        if e.kind == Kind::Msa {
            if let Some(v) = visit_of(&e.obs_id) {
                self.push(
                    e,
                    format!("{v}_01_msa.fits"),
                    ("AUXILIARY", "MSA", "MSA metadata", 2),
                    false,
                    "S",
                );
            }
        }
        self.guide_stars(e);
    }

    fn guide_stars(&mut self, e: &Exposure) {
        for g in guide_star_files(&e.obs_id, e.t_min) {
            self.push(
                e,
                g.filename,
                ("AUXILIARY", g.subgroup, g.description, g.level),
                false,
                "S",
            );
        }
    }

    /// Own files of a level-3 observation: combined science products (MRP),
    /// previews, level-3 association and the program's pool.
    pub fn level3(&mut self, e: &Exposure) {
        for s in level3_specs(e.kind) {
            self.push(
                e,
                format!("{}_{}", e.obs_id, s.0),
                (s.1, s.2, s.3, s.4),
                true,
                "D",
            );
        }
        let preview = match e.kind {
            Kind::Imaging | Kind::Guider => "i2d",
            Kind::Ifu => "s3d",
            _ => "x1d",
        };
        self.push(
            e,
            format!("{}_{preview}.jpg", e.obs_id),
            ("PREVIEW", "", "Preview-Full", 3),
            false,
            "D",
        );
        self.push(
            e,
            format!("{}_{preview}_thumb.jpg", e.obs_id),
            ("THUMBNAIL", "", "Preview-Thumb", 3),
            false,
            "D",
        );
        if let Some((p, o)) = program_obsnum(&e.obs_id) {
            let step = match e.kind {
                Kind::Tso => "tso3",
                Kind::Ami => "ami3",
                Kind::Imaging | Kind::Guider => "image3",
                _ => "spec3",
            };
            let stamp = asn_stamp(p);
            let asn = format!("jw{p}-o{o}_{stamp}_{step}_00001_asn.json");
            self.push(
                e,
                asn,
                (
                    "INFO",
                    "ASN",
                    "source/target (L3) : association generator",
                    3,
                ),
                false,
                "D",
            );
            let pool = format!("jw{p}_{stamp}_pool.csv");
            self.push(
                e,
                pool,
                ("INFO", "POOL", "source/target (L3) : association pool", 3),
                false,
                "D",
            );
        }
    }

    /// HST products: raw, flt, drz (MRP at level 3), spt and a preview.
    pub fn hst(&mut self, e: &Exposure, level: i64) {
        let id = e.obs_id.to_ascii_lowercase();
        let specs: [(&str, &str, &str, &str, i64, bool); 5] = [
            (
                "raw.fits",
                "SCIENCE",
                "RAW",
                "DADS RAW file - Raw exposure",
                1,
                false,
            ),
            (
                "flt.fits",
                "SCIENCE",
                "FLT",
                "DADS FLT file - Calibrated exposure",
                2,
                level == 2,
            ),
            (
                "drz.fits",
                "SCIENCE",
                "DRZ",
                "DADS DRZ file - Calibrated combined image",
                3,
                level == 3,
            ),
            (
                "spt.fits",
                "AUXILIARY",
                "SPT",
                "DADS SPT file - Support file",
                1,
                false,
            ),
            ("drz.jpg", "PREVIEW", "", "Preview-Full", 3, false),
        ];
        for (sfx, pt, sub, desc, lvl, mrp) in specs {
            self.push(e, format!("{id}_{sfx}"), (pt, sub, desc, lvl), mrp, "S");
        }
        for r in self.out.iter_mut().filter(|r| r.obs_collection == "HST") {
            r.project = "HST".to_string();
            if r.calib_level >= 2 {
                r.prvversion = Some("CALACS 10.3.5".to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_stamps() {
        assert_eq!(
            program_obsnum("jw01366-o001_t001_niriss_clear-gr700xd-substrip256"),
            Some(("01366", "001"))
        );
        assert_eq!(
            program_obsnum("jw01366001001_04102_00001-seg001_nis"),
            Some(("01366", "001"))
        );
        assert_eq!(
            visit_of("jw02734002001_gs-track_2022172034940_cal.fits"),
            Some("jw02734002001")
        );
        assert_eq!(gs_stamp(59751.0), "2022172000000");
        assert_eq!(
            fileset_of("jw01541001001_04101_00001-seg002_nis"),
            "jw01541001001_04101_00001"
        );
        assert_eq!(
            fileset_of("jw02734-o002_t002_niriss_clear-gr700xd-substrip256"),
            "jw02734-o002_t002_niriss"
        );
        assert_eq!(
            fileset_of("jw01234001001_02101_00001_nrca1"),
            "jw01234001001_02101_00001"
        );
        let gs = guide_star_files("jw02734002001_04101_00001_nis", 59751.5);
        assert_eq!(gs.len(), 12);
        assert!(
            gs.iter()
                .all(|g| g.filename.starts_with("jw02734002001_gs-"))
        );
        assert_eq!(
            synthetic_size("a_uncal.fits"),
            synthetic_size("a_uncal.fits")
        );
    }
}
