//! `ivoa.obscore`: ObsCore 1.1 over the archive's CAOM rows, computed per
//! cell on demand (nothing is materialised, so the sandbox starts as fast
//! as before and a cone over 10^6 rows touches only its candidates).
//!
//! Mapping (CAOM column → ObsCore column), one row per CAOM row except
//! planned observations (`calib_level` -1, outside ObsCore's 0–4), which
//! `ivoa.obscore` leaves out:
//!
//! | ObsCore | from | note |
//! |---|---|---|
//! | `dataproduct_type`, `calib_level`, `obs_collection`, `obs_id`, `target_name`, `s_ra`, `s_dec`, `s_region`, `t_min`, `t_max`, `t_exptime`, `instrument_name`, `obs_title`, `proposal_id` | same name | `s_region` is MAST's STC-S text (`POLYGON ra dec …`, no frame), `xtype="adql:REGION"`; times are MJD |
//! | `obs_publisher_did` | `obs_id` | `ivo://mast.stsci.edu/caom?<obs_id>` |
//! | `access_url` | `dataURL` | `<sandbox>/api/v0.1/Download/file?uri=<dataURL>` (the sandbox serves it) |
//! | `access_format` | `dataURL` | by extension: `.fits` → `application/fits`, `.json` → `application/json`, `.csv` → `text/csv`, else `application/octet-stream` |
//! | `s_fov` | `s_region` | twice the largest distance from (`s_ra`, `s_dec`) to a vertex (deg) |
//! | `em_min`, `em_max` | same name | CAOM has nm; ObsCore metres (× 1e-9) |
//! | `facility_name` | `obs_collection` | `JWST`, `HST` |
//! | `target_class` | `target_classification` | |
//! | `obs_release_date` | `t_obs_release` | MJD → ISO 8601 (`xtype="timestamp"`) |
//! | `data_rights` | `dataRights` | `PUBLIC` → `public`, otherwise `proprietary` |
//! | `access_estsize`, `s_resolution`, `s_xel1/2`, `t_resolution`, `t_xel`, `em_res_power`, `em_xel`, `o_ucd`, `pol_states`, `pol_xel` | — | NULL: CAOM rows do not carry them |
//!
//! Types, units, UCDs and utypes are ObsCore 1.1's (as DaCHS publishes them).

use super::catalog::{Backing, ColDef, TableDef};
use super::eval::V;
use crate::sandbox::missions::mjd_to_iso;
use crate::sandbox::sky::Region;
use crate::table::{Table, ValueRef};
use std::borrow::Cow;

/// Where an ObsCore column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// The CAOM column at this position, unchanged.
    Caom(usize),
    PublisherDid,
    AccessUrl,
    AccessFormat,
    Fov,
    /// A CAOM wavelength in nm, as metres.
    Metres(usize),
    ReleaseDate,
    DataRights,
    Null,
}

struct Spec {
    name: &'static str,
    datatype: &'static str,
    unit: &'static str,
    ucd: &'static str,
    utype: &'static str,
    description: &'static str,
    from: Src,
}

const fn s(
    name: &'static str,
    datatype: &'static str,
    unit: &'static str,
    ucd: &'static str,
    utype: &'static str,
    description: &'static str,
    from: Src,
) -> Spec {
    Spec {
        name,
        datatype,
        unit,
        ucd,
        utype,
        description,
        from,
    }
}

use Src::*;

/// Mandatory columns (ObsCore 1.1 order), then the optional ones served.
const COLUMNS: &[Spec] = &[
    s(
        "dataproduct_type",
        "char",
        "",
        "meta.code.class",
        "obscore:obsdataset.dataproducttype",
        "High level scientific classification of the data product (image, cube, spectrum, timeseries…)",
        Caom(12),
    ),
    s(
        "calib_level",
        "int",
        "",
        "meta.code;obs.calib",
        "obscore:obsdataset.caliblevel",
        "Amount of data processing that has been applied to the data (1 raw … 3 combined)",
        Caom(14),
    ),
    s(
        "obs_collection",
        "char",
        "",
        "meta.id",
        "obscore:dataid.collection",
        "Name of the data collection (mission)",
        Caom(1),
    ),
    s(
        "obs_id",
        "char",
        "",
        "meta.id",
        "obscore:DataID.observationID",
        "Observation identifier, given by the mission",
        Caom(9),
    ),
    s(
        "obs_publisher_did",
        "char",
        "",
        "meta.ref.ivoid",
        "obscore:curation.publisherdid",
        "Dataset identifier assigned by the publisher",
        PublisherDid,
    ),
    s(
        "access_url",
        "char",
        "",
        "meta.ref.url",
        "obscore:access.reference",
        "The URL at which to obtain the data set",
        AccessUrl,
    ),
    s(
        "access_format",
        "char",
        "",
        "meta.code.mime",
        "obscore:access.format",
        "MIME type of the resource at access_url",
        AccessFormat,
    ),
    s(
        "access_estsize",
        "long",
        "kbyte",
        "phys.size;meta.file",
        "obscore:access.size",
        "Estimated size of the data product (not known to the sandbox: NULL)",
        Null,
    ),
    s(
        "target_name",
        "char",
        "",
        "meta.id;src",
        "obscore:Target.Name",
        "Name of the target of the observation",
        Caom(7),
    ),
    s(
        "s_ra",
        "double",
        "deg",
        "pos.eq.ra",
        "obscore:char.spatialaxis.coverage.location.coord.position2d.value2.c1",
        "RA of (center of) observation, ICRS",
        Caom(10),
    ),
    s(
        "s_dec",
        "double",
        "deg",
        "pos.eq.dec",
        "obscore:char.spatialaxis.coverage.location.coord.position2d.value2.c2",
        "Dec of (center of) observation, ICRS",
        Caom(11),
    ),
    s(
        "s_fov",
        "double",
        "deg",
        "phys.angSize;instr.fov",
        "obscore:char.spatialaxis.coverage.bounds.extent.diameter",
        "Approximate diameter of the region covered by the observation",
        Fov,
    ),
    s(
        "s_region",
        "char",
        "",
        "pos.outline;obs.field",
        "obscore:char.spatialaxis.coverage.support.area",
        "Region covered by the observation (STC-S)",
        Caom(25),
    ),
    s(
        "s_resolution",
        "double",
        "arcsec",
        "pos.angResolution",
        "obscore:Char.SpatialAxis.Resolution.refval.value",
        "Best spatial resolution within the data set",
        Null,
    ),
    s(
        "s_xel1",
        "long",
        "",
        "meta.number",
        "obscore:Char.SpatialAxis.numBins1",
        "Number of elements along the first spatial axis",
        Null,
    ),
    s(
        "s_xel2",
        "long",
        "",
        "meta.number",
        "obscore:Char.SpatialAxis.numBins2",
        "Number of elements along the second spatial axis",
        Null,
    ),
    s(
        "t_min",
        "double",
        "d",
        "time.start;obs.exposure",
        "obscore:char.timeaxis.coverage.bounds.limits.starttime",
        "Start time of the observation, as MJD",
        Caom(15),
    ),
    s(
        "t_max",
        "double",
        "d",
        "time.end;obs.exposure",
        "obscore:char.timeaxis.coverage.bounds.limits.stoptime",
        "End time of the observation, as MJD",
        Caom(16),
    ),
    s(
        "t_exptime",
        "double",
        "s",
        "time.duration;obs.exposure",
        "obscore:char.timeaxis.coverage.support.extent",
        "Total exposure time",
        Caom(17),
    ),
    s(
        "t_resolution",
        "double",
        "s",
        "time.resolution",
        "obscore:char.timeaxis.resolution.refval.value",
        "Minimal significant time interval along the time axis",
        Null,
    ),
    s(
        "t_xel",
        "long",
        "",
        "meta.number",
        "obscore:Char.TimeAxis.numBins",
        "Number of elements along the time axis",
        Null,
    ),
    s(
        "em_min",
        "double",
        "m",
        "em.wl;stat.min",
        "obscore:char.spectralaxis.coverage.bounds.limits.lolimit",
        "Minimal wavelength represented within the data set",
        Metres(18),
    ),
    s(
        "em_max",
        "double",
        "m",
        "em.wl;stat.max",
        "obscore:char.spectralaxis.coverage.bounds.limits.hilimit",
        "Maximal wavelength represented within the data set",
        Metres(19),
    ),
    s(
        "em_res_power",
        "double",
        "",
        "spect.resolution",
        "obscore:char.spectralaxis.resolution.resolpower.refval",
        "Spectral resolving power lambda/delta lambda",
        Null,
    ),
    s(
        "em_xel",
        "long",
        "",
        "meta.number",
        "obscore:Char.SpectralAxis.numBins",
        "Number of elements along the spectral axis",
        Null,
    ),
    s(
        "o_ucd",
        "char",
        "",
        "meta.ucd",
        "obscore:char.observableaxis.ucd",
        "UCD of the product's observable",
        Null,
    ),
    s(
        "pol_states",
        "char",
        "",
        "meta.code;phys.polarization",
        "obscore:Char.PolarizationAxis.stateList",
        "List of polarization states in the data set",
        Null,
    ),
    s(
        "pol_xel",
        "long",
        "",
        "meta.number",
        "obscore:Char.PolarizationAxis.numBins",
        "Number of elements along the polarization axis",
        Null,
    ),
    s(
        "facility_name",
        "char",
        "",
        "meta.id;instr.tel",
        "obscore:Provenance.ObsConfig.facility.name",
        "Name of the facility at which the data was taken",
        Caom(1),
    ),
    s(
        "instrument_name",
        "char",
        "",
        "meta.id;instr",
        "obscore:Provenance.ObsConfig.instrument.name",
        "Name of the instrument (and mode) that produced the data",
        Caom(3),
    ),
    s(
        "obs_title",
        "char",
        "",
        "meta.title;obs",
        "obscore:dataid.title",
        "Title of the proposal the observation belongs to",
        Caom(20),
    ),
    s(
        "target_class",
        "char",
        "",
        "src.class",
        "obscore:target.class",
        "Class of the target object",
        Caom(8),
    ),
    s(
        "proposal_id",
        "char",
        "",
        "meta.id;obs.proposal",
        "obscore:Provenance.Proposal.identifier",
        "Identifier of the proposal",
        Caom(22),
    ),
    s(
        "obs_release_date",
        "char",
        "",
        "time.release",
        "obscore:Curation.releaseDate",
        "Date the data is (or was) made public",
        ReleaseDate,
    ),
    s(
        "data_rights",
        "char",
        "",
        "meta.code",
        "obscore:Curation.Rights",
        "public or proprietary",
        DataRights,
    ),
];

/// The CAOM `calib_level` column: rows below 0 (planned) are not in ObsCore.
pub const CAOM_CALIB_LEVEL: usize = 14;

/// Number of mandatory ObsCore 1.1 columns (the first ones).
pub const MANDATORY: usize = 30;

/// The table definition of `ivoa.obscore`.
pub fn table_def() -> TableDef {
    let columns = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut d = ColDef::new(c.name, c.datatype, c.description)
                .ucd(c.ucd)
                .utype(c.utype)
                .flags(
                    i < 12 || i == 29,
                    matches!(c.name, "s_ra" | "s_dec" | "s_region" | "obs_id"),
                    true,
                );
            if !c.unit.is_empty() {
                d = d.unit(c.unit);
            }
            match c.name {
                "s_region" => d.xtype("adql:REGION"),
                "obs_release_date" => d.xtype("timestamp"),
                _ => d,
            }
        })
        .collect();
    TableDef {
        schema: "ivoa",
        name: "ivoa.obscore".into(),
        description: "ObsCore 1.1 view of the CAOM observations (the same rows as dbo.obspointing)"
            .into(),
        utype: Some("ivo://ivoa.net/std/obscore#core-1.1".into()),
        columns,
        backing: Backing::ObsCore,
    }
}

fn text(obs: &Table, row: usize, col: usize) -> Option<&str> {
    obs.get(row, col).as_str()
}

fn float(obs: &Table, row: usize, col: usize) -> Option<f64> {
    obs.get(row, col).as_f64().filter(|x| x.is_finite())
}

/// The MIME type of a product file by its name.
fn mime_of(uri: &str) -> &'static str {
    let lower = uri.to_ascii_lowercase();
    match lower.rsplit('.').next().unwrap_or("") {
        "fits" | "fit" => "application/fits",
        "json" => "application/json",
        "csv" => "text/csv",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// The value of ObsCore column `col` for CAOM row `row`; `base` is the
/// sandbox's base URL (for `access_url`).
pub fn value<'a>(obs: &'a Table, base: &str, row: usize, col: usize) -> V<'a> {
    let Some(spec) = COLUMNS.get(col) else {
        return V::Null;
    };
    let owned = |s: Option<String>| s.map_or(V::Null, |s| V::Str(Cow::Owned(s)));
    match spec.from {
        Caom(i) => V::from(obs.get(row, i)),
        PublisherDid => {
            owned(text(obs, row, 9).map(|id| format!("ivo://mast.stsci.edu/caom?{id}")))
        }
        AccessUrl => {
            owned(text(obs, row, 27).map(|u| format!("{base}/api/v0.1/Download/file?uri={u}")))
        }
        AccessFormat => text(obs, row, 27).map_or(V::Null, |u| V::Str(Cow::Borrowed(mime_of(u)))),
        Fov => fov(obs, row).map_or(V::Null, V::Float),
        Metres(i) => float(obs, row, i).map_or(V::Null, |nm| V::Float(nm * 1e-9)),
        ReleaseDate => owned(float(obs, row, 21).and_then(mjd_to_iso)),
        DataRights => match obs.get(row, 28) {
            ValueRef::Str(r) if r.eq_ignore_ascii_case("PUBLIC") => V::Str(Cow::Borrowed("public")),
            ValueRef::Str(_) => V::Str(Cow::Borrowed("proprietary")),
            _ => V::Null,
        },
        Null => V::Null,
    }
}

fn fov(obs: &Table, row: usize) -> Option<f64> {
    let (ra, dec) = (float(obs, row, 10)?, float(obs, row, 11)?);
    let region = Region::parse(text(obs, row, 25)?)?;
    Some(2.0 * region.bounding_radius(ra, dec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::data::Archive;

    #[test]
    fn every_mandatory_column_and_a_mapped_row() {
        let def = table_def();
        let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
        for m in [
            "dataproduct_type",
            "calib_level",
            "obs_collection",
            "obs_id",
            "obs_publisher_did",
            "access_url",
            "access_format",
            "access_estsize",
            "target_name",
            "s_ra",
            "s_dec",
            "s_fov",
            "s_region",
            "s_resolution",
            "s_xel1",
            "s_xel2",
            "t_min",
            "t_max",
            "t_exptime",
            "t_resolution",
            "t_xel",
            "em_min",
            "em_max",
            "em_res_power",
            "em_xel",
            "o_ucd",
            "pol_states",
            "pol_xel",
            "facility_name",
            "instrument_name",
        ] {
            let i = names
                .iter()
                .position(|n| *n == m)
                .unwrap_or_else(|| panic!("{m} missing"));
            assert!(i < MANDATORY, "{m} is mandatory");
        }
        let a = Archive::bundled(50, 1);
        let obs = &a.obs;
        let row = (0..obs.num_rows())
            .find(|&i| obs.get(i, 27).as_str().is_some() && obs.get(i, 18).as_f64().is_some())
            .unwrap();
        let col = |n: &str| names.iter().position(|x| *x == n).unwrap();
        let v = |n: &str| value(obs, "http://h", row, col(n));
        let obs_id = obs.get(row, 9).as_str().unwrap().to_string();
        assert_eq!(v("obs_id"), V::Str(Cow::Owned(obs_id.clone())));
        assert_eq!(
            v("obs_publisher_did"),
            V::Str(Cow::Owned(format!("ivo://mast.stsci.edu/caom?{obs_id}")))
        );
        let url = format!(
            "http://h/api/v0.1/Download/file?uri={}",
            obs.get(row, 27).as_str().unwrap()
        );
        assert_eq!(v("access_url"), V::Str(Cow::Owned(url)));
        let nm = obs.get(row, 18).as_f64().unwrap();
        assert_eq!(v("em_min"), V::Float(nm * 1e-9));
        assert!(matches!(v("s_fov"), V::Float(x) if x > 0.0 && x < 1.0));
        assert_eq!(v("access_estsize"), V::Null);
        assert_eq!(mjd_to_iso(59731.5).as_deref(), Some("2022-06-01T12:00:00"));
        assert_eq!(
            mjd_to_iso(59731.25001).as_deref(),
            Some("2022-06-01T06:00:00.864000")
        );
    }
}
