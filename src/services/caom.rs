//! CAOM searches on the Mashup API: the observation columns and astroquery's
//! rules for turning criteria into Mashup filters (`build_filter_set`).
//!
//! - a column is **continuous** when its type is double/float (then a value
//!   is a `{min, max}` range, sent as numbers);
//! - **discrete** values are sent as strings (`calib_level=3` → `["3"]`);
//! - a value containing `*` or `%` becomes `freeText` with `*` → `%` (one
//!   wildcard value per column);
//! - multi-valued columns carry `separator: ";"`.

use serde_json::{Value, json};

/// One CAOM observation column as MAST describes it.
#[derive(Debug, Clone, Copy)]
pub struct CaomField {
    pub name: &'static str,
    /// MAST `fields[].type`.
    pub mast_type: &'static str,
    pub continuous: bool,
    pub separator: Option<&'static str>,
    pub unit: Option<&'static str>,
    pub description: &'static str,
}

const fn f(
    name: &'static str,
    mast_type: &'static str,
    continuous: bool,
    separator: Option<&'static str>,
    unit: Option<&'static str>,
    description: &'static str,
) -> CaomField {
    CaomField {
        name,
        mast_type,
        continuous,
        separator,
        unit,
        description,
    }
}

/// CAOM observation fields, in MAST's order (protocol doc §3.1).
pub const FIELDS: &[CaomField] = &[
    f(
        "intentType",
        "string",
        false,
        None,
        None,
        "Observation type: science or calibration",
    ),
    f(
        "obs_collection",
        "string",
        false,
        Some(";"),
        None,
        "Mission",
    ),
    f(
        "provenance_name",
        "string",
        false,
        None,
        None,
        "Provenance name",
    ),
    f(
        "instrument_name",
        "string",
        false,
        None,
        None,
        "Instrument, as INSTR/MODE for JWST",
    ),
    f("project", "string", false, Some(";"), None, "Project"),
    f("filters", "string", false, Some(";"), None, "Filters"),
    f(
        "wavelength_region",
        "string",
        false,
        Some(";"),
        None,
        "Waveband",
    ),
    f("target_name", "string", false, None, None, "Target name"),
    f(
        "target_classification",
        "string",
        false,
        Some(";"),
        None,
        "Target classification",
    ),
    f(
        "obs_id",
        "string",
        false,
        None,
        None,
        "Observation ID (mission ID)",
    ),
    f("s_ra", "float", true, None, Some("deg"), "RA"),
    f("s_dec", "float", true, None, Some("deg"), "Dec"),
    f(
        "dataproduct_type",
        "string",
        false,
        None,
        None,
        "Product type",
    ),
    f(
        "proposal_pi",
        "string",
        false,
        None,
        None,
        "Principal investigator",
    ),
    f(
        "calib_level",
        "int",
        false,
        None,
        None,
        "Calibration level (-1 planned)",
    ),
    f("t_min", "float", true, None, Some("d"), "Start time (MJD)"),
    f("t_max", "float", true, None, Some("d"), "End time (MJD)"),
    f(
        "t_exptime",
        "float",
        true,
        None,
        Some("s"),
        "Exposure length",
    ),
    f(
        "em_min",
        "float",
        true,
        None,
        Some("nm"),
        "Minimum wavelength",
    ),
    f(
        "em_max",
        "float",
        true,
        None,
        Some("nm"),
        "Maximum wavelength",
    ),
    f(
        "obs_title",
        "string",
        false,
        None,
        None,
        "Observation title",
    ),
    f(
        "t_obs_release",
        "float",
        true,
        None,
        Some("d"),
        "Release date (MJD)",
    ),
    f("proposal_id", "string", false, None, None, "Proposal ID"),
    f(
        "proposal_type",
        "string",
        false,
        None,
        None,
        "Proposal type",
    ),
    f(
        "sequence_number",
        "int",
        false,
        None,
        None,
        "Sequence number",
    ),
    f("s_region", "string", false, None, None, "Footprint (STC-S)"),
    f("jpegURL", "string", false, None, None, "Preview URL"),
    f("dataURL", "string", false, None, None, "Data URL"),
    f(
        "dataRights",
        "string",
        false,
        None,
        None,
        "PUBLIC or EXCLUSIVE_ACCESS",
    ),
    f("mtFlag", "boolean", false, None, None, "Moving target"),
    f("srcDen", "float", true, None, None, "Associated catalogs"),
    f(
        "obsid",
        "string",
        false,
        None,
        None,
        "Product group ID (key for products)",
    ),
    f("objID", "string", false, None, None, "Object ID"),
];

/// Product fields of `Mast.Caom.Products`, in MAST's order (protocol doc §3.2).
pub const PRODUCT_FIELDS: &[&str] = &[
    "obsID",
    "obs_collection",
    "dataproduct_type",
    "obs_id",
    "description",
    "type",
    "dataURI",
    "productType",
    "productGroupDescription",
    "productSubGroupDescription",
    "productDocumentationURL",
    "project",
    "prvversion",
    "proposal_id",
    "productFilename",
    "size",
    "parent_obsid",
    "dataRights",
    "calib_level",
];

/// The field called `name` (case-insensitive, as MAST's column lookup is).
pub fn field(name: &str) -> Option<&'static CaomField> {
    FIELDS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// Column names, for did-you-mean hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|f| f.name)
}

/// One criterion as the user wrote it, after templates are rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// Values (any of them).
    Values(Vec<Value>),
    /// An inclusive range.
    Range { min: Option<f64>, max: Option<f64> },
}

/// Build one Mashup filter object, as astroquery's `build_filter_set` does.
pub fn filter(column: &str, c: &Criterion) -> Result<Value, String> {
    let fd = field(column).ok_or_else(|| unknown_column(column))?;
    let mut obj = serde_json::Map::new();
    obj.insert("paramName".into(), Value::String(column.to_string()));
    if let Some(sep) = fd.separator {
        obj.insert("separator".into(), Value::String(sep.into()));
    }
    match c {
        Criterion::Range { min, max } => {
            if !fd.continuous {
                return Err(format!(
                    "`{column}` is not a continuous column; give values, not a range"
                ));
            }
            // Never a null bound: astroquery always sends both.
            let bound = |b: &Option<f64>| b.map(Value::from);
            obj.insert(
                "values".into(),
                json!([crate::wire::types::closed_range(bound(min), bound(max))]),
            );
        }
        Criterion::Values(vals) if fd.continuous => {
            // astroquery's form for continuous columns: [min, max].
            match vals.as_slice() {
                [a, b] => {
                    let (a, b) = (num(a, column)?, num(b, column)?);
                    obj.insert("values".into(), json!([{"min": a, "max": b}]));
                }
                _ => {
                    return Err(format!(
                        "`{column}` is continuous: give a range `{{min: a, max: b}}` or `[a, b]`"
                    ));
                }
            }
        }
        Criterion::Values(vals) => {
            let mut values = Vec::new();
            let mut free: Option<String> = None;
            for v in vals {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    other => other.to_string(),
                };
                if text.contains(['*', '%']) {
                    if free.is_some() {
                        return Err(format!(
                            "`{column}`: only one wildcard value per column (MAST takes one freeText pattern)"
                        ));
                    }
                    free = Some(text.replace('*', "%"));
                } else {
                    values.push(Value::String(text));
                }
            }
            obj.insert("values".into(), Value::Array(values));
            if let Some(ft) = free {
                obj.insert("freeText".into(), Value::String(ft));
            }
        }
    }
    Ok(Value::Object(obj))
}

/// A number kept as the user wrote it (astroquery keeps `100` an integer).
fn num(v: &Value, column: &str) -> Result<Value, String> {
    match v {
        Value::Number(_) => Ok(v.clone()),
        Value::String(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(json!(i));
            }
            t.parse::<f64>()
                .map(|x| json!(x))
                .map_err(|_| format!("`{column}`: `{s}` is not a number"))
        }
        other => Err(format!("`{column}`: `{other}` is not a number")),
    }
}

/// "no column X" with a did-you-mean over the CAOM columns.
pub fn unknown_column(name: &str) -> String {
    match crate::util::did_you_mean(name, names()) {
        Some(s) => format!("`{name}` is not a CAOM observation column; did you mean `{s}`?"),
        None => format!("`{name}` is not a CAOM observation column"),
    }
}

pub use crate::table::expr::{parse_dec, parse_ra};

/// `Mast.Caom.Filtered.Position`'s `position`: `"ra, dec, radius"` in degrees.
pub fn position(ra: f64, dec: f64, radius: f64) -> String {
    format!("{ra}, {dec}, {radius}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ranges_get_both_bounds() {
        let f = filter(
            "t_exptime",
            &Criterion::Range {
                min: Some(1000.0),
                max: None,
            },
        )
        .unwrap();
        assert_eq!(f["values"], json!([{"min": 1000.0, "max": 1e300}]));
        assert!(!f.to_string().contains("null"));
    }

    #[test]
    fn astroquery_filter_rules() {
        // The protocol doc's exact example.
        assert_eq!(
            filter("obs_collection", &Criterion::Values(vec![json!("JWST")])).unwrap(),
            json!({"paramName": "obs_collection", "separator": ";", "values": ["JWST"]})
        );
        assert_eq!(
            filter(
                "instrument_name",
                &Criterion::Values(vec![json!("NIRCAM*")])
            )
            .unwrap(),
            json!({"paramName": "instrument_name", "values": [], "freeText": "NIRCAM%"})
        );
        assert_eq!(
            filter(
                "t_exptime",
                &Criterion::Values(vec![json!(100), json!(1000)])
            )
            .unwrap(),
            json!({"paramName": "t_exptime", "values": [{"min": 100, "max": 1000}]})
        );
        // Discrete values are stringified.
        assert_eq!(
            filter("calib_level", &Criterion::Values(vec![json!(3)])).unwrap(),
            json!({"paramName": "calib_level", "values": ["3"]})
        );
        assert_eq!(
            filter(
                "proposal_id",
                &Criterion::Values(vec![json!(11897), json!("12715")])
            )
            .unwrap(),
            json!({"paramName": "proposal_id", "values": ["11897", "12715"]})
        );
        // Key order as astroquery writes it.
        let s = serde_json::to_string(
            &filter("filters", &Criterion::Values(vec![json!("F200W")])).unwrap(),
        )
        .unwrap();
        assert_eq!(
            s,
            r#"{"paramName":"filters","separator":";","values":["F200W"]}"#
        );
    }

    #[test]
    fn positions() {
        assert!((parse_ra("23:06:29.3684948589").unwrap() - 346.62236872857875).abs() < 1e-9);
        assert_eq!(parse_ra("346.5"), Some(346.5));
        assert_eq!(parse_ra("400"), None);
        assert!((parse_dec("-05:02:29.037301866").unwrap() + 5.041399250518333).abs() < 1e-12);
        assert_eq!(parse_dec("+33.0"), Some(33.0));
        assert_eq!(parse_dec("95"), None);
        assert_eq!(position(10.5, -3.25, 0.0083), "10.5, -3.25, 0.0083");
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(
            filter("t_exptim", &Criterion::Values(vec![json!(1)]))
                .unwrap_err()
                .contains("did you mean `t_exptime`?")
        );
        assert!(
            filter(
                "calib_level",
                &Criterion::Range {
                    min: Some(1.0),
                    max: None
                }
            )
            .unwrap_err()
            .contains("not a continuous column")
        );
        assert!(
            filter(
                "target_name",
                &Criterion::Values(vec![json!("Io*"), json!("Eu*")])
            )
            .unwrap_err()
            .contains("one wildcard")
        );
        assert!(filter("t_exptime", &Criterion::Values(vec![json!(5)])).is_err());
    }
}
