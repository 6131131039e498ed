//! The wire type of every parameter slot mastflow fills: what MAST documents
//! (and astroquery sends) for each Mashup and missions parameter, and how a
//! value the user wrote, or a template rendered, becomes that type.
//!
//! A template renders to text. The text is converted to its slot's type,
//! never guessed from how it looks: `"{{ params.program }}"` rendering
//! `1366` stays the string `"1366"` in a string slot. Only a template whose
//! last filter is `tojson` is spliced as JSON (that is the user saying
//! "this is JSON"). The table is documented in `docs/wire-types.md`.

use serde_json::{Number, Value};

/// The JSON type MAST expects in one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// A JSON string; numbers and booleans the user wrote are stringified.
    String,
    /// A JSON number.
    Number,
    /// A JSON boolean.
    Bool,
    /// Unknown to mastflow (a service it has no table for): literals pass
    /// as written, template text stays a string.
    Any,
}

/// Stand-in for an open lower bound of a Mashup `{min, max}` range.
///
/// MAST documents ranges as `{"min": a, "max": b}` and astroquery never
/// sends a null or missing bound; what MAST does with one is not
/// documented. `±1e300` is finite, parses in every JSON and .NET number
/// reader (unlike `1.7976931348623157e308`, which overflows .NET
/// Framework's `double.Parse`), and is beyond every CAOM and SI-keyword
/// value.
pub const OPEN_MIN: f64 = -1e300;
/// Stand-in for an open upper bound; see [`OPEN_MIN`].
pub const OPEN_MAX: f64 = 1e300;

/// Mashup services whose parameters mastflow knows, case-insensitively,
/// with each parameter's wire type (protocol doc §2).
const MASHUP_PARAMS: &[(&str, &[(&str, WireType)])] = {
    use WireType::{Bool, Number, String};
    const CONE: &[(&str, WireType)] = &[("ra", Number), ("dec", Number), ("radius", Number)];
    &[
        (
            "Mast.Caom.Cone",
            &[
                ("ra", Number),
                ("dec", Number),
                ("radius", Number),
                ("exclude_hla", Bool),
            ],
        ),
        // "If supplying more than one obsid the format is a comma separated
        // string" (§2.3); astroquery: `','.join(map(str, obsids))`.
        ("Mast.Caom.Products", &[("obsid", String)]),
        ("Mast.Name.Lookup", &[("input", String), ("format", String)]),
        (
            "Mast.Caom.Crossmatch",
            &[
                ("raColumn", String),
                ("decColumn", String),
                ("radius", Number),
            ],
        ),
        ("Mast.Catalogs.Tic.Cone", CONE),
        ("Mast.Catalogs.Ctl.Cone", CONE),
        ("Mast.Catalogs.GaiaDR3.Cone", CONE),
        (
            "Mast.Hsc.Db.v3",
            &[
                ("ra", Number),
                ("dec", Number),
                ("radius", Number),
                ("nr", Number),
                ("ni", Number),
                ("magtype", Number),
            ],
        ),
        ("Mast.HscMatches.Db.v3", &[("input", String)]),
    ]
};

/// The wire type of a top-level parameter of a Mashup service.
pub fn mashup_param(service: &str, param: &str) -> WireType {
    if is_filtered(service) {
        return match param {
            "columns" | "position" => WireType::String,
            _ => WireType::Any,
        };
    }
    MASHUP_PARAMS
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(service))
        .and_then(|(_, ps)| ps.iter().find(|(p, _)| *p == param))
        .map_or(WireType::Any, |(_, t)| *t)
}

/// `*.Filtered*` services take `columns` and `filters` (§2.1).
pub fn is_filtered(service: &str) -> bool {
    service.to_ascii_lowercase().contains(".filtered")
}

/// The wire type of a key inside a Mashup filter object (§2.1): `values`
/// items are strings (astroquery stringifies discrete values) except the
/// numbers of a `{min, max}` range.
pub fn filter_key(key: &str) -> WireType {
    match key {
        "min" | "max" => WireType::Number,
        "paramName" | "separator" | "freeText" | "values" => WireType::String,
        _ => WireType::Any,
    }
}

/// Why a value cannot take its slot's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub text: String,
    pub wanted: WireType,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.wanted {
            WireType::Number => "a number",
            WireType::Bool => "true or false",
            WireType::String | WireType::Any => "a string",
        };
        write!(f, "`{}` is not {what}", self.text)
    }
}

/// Convert rendered template text to its slot's type.
pub fn from_text(text: &str, wanted: WireType) -> Result<Value, Mismatch> {
    let bad = || Mismatch {
        text: text.to_string(),
        wanted,
    };
    match wanted {
        WireType::String | WireType::Any => Ok(Value::String(text.to_string())),
        WireType::Number => number(text.trim()).ok_or_else(bad),
        WireType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
    }
}

/// Convert a literal the user wrote (YAML scalar) to its slot's type.
pub fn from_literal(v: &Value, wanted: WireType) -> Result<Value, Mismatch> {
    match (wanted, v) {
        (WireType::Any, _) | (_, Value::Null) => Ok(v.clone()),
        (WireType::String, Value::String(_)) => Ok(v.clone()),
        (WireType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (WireType::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (WireType::Number, Value::Number(_)) | (WireType::Bool, Value::Bool(_)) => Ok(v.clone()),
        (_, Value::String(s)) => from_text(s, wanted),
        _ => Err(Mismatch {
            text: v.to_string(),
            wanted,
        }),
    }
}

/// A finite number, kept an integer when it is written as one (astroquery
/// keeps `100` an integer).
pub fn number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    text.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// A `{min, max}` range as MAST takes it: both bounds always present,
/// open ends as [`OPEN_MIN`] / [`OPEN_MAX`].
pub fn closed_range(min: Option<Value>, max: Option<Value>) -> Value {
    let or = |v: Option<Value>, open: f64| match v {
        Some(Value::Null) | None => Value::from(open),
        Some(x) => x,
    };
    serde_json::json!({"min": or(min, OPEN_MIN), "max": or(max, OPEN_MAX)})
}

/// The dataset keyword of a missions search: astroquery appends it to every
/// `select_cols` (`MastMissions.dataset_kwds`), and products are looked up
/// by it.
pub fn mission_dataset_keyword(mission: &str) -> Option<&'static str> {
    match mission.to_ascii_lowercase().as_str() {
        "hst" => Some("sci_data_set_name"),
        "jwst" | "roman" => Some("fileSetName"),
        "classy" => Some("Target"),
        "ullyses" => Some("observation_id"),
        _ => None,
    }
}

/// A column unique per result row of a missions search, to sort on when a
/// result takes more than one page (so pages neither overlap nor skip):
/// JWST rows are files (`ArchiveFileID`), HST rows datasets.
pub fn mission_unique_key(mission: &str) -> Option<&'static str> {
    match mission.to_ascii_lowercase().as_str() {
        "jwst" | "roman" => Some("ArchiveFileID"),
        other => mission_dataset_keyword(other),
    }
}

/// A missions condition's open range in the server's syntax: `a..b`,
/// `>=a` or `<=b` (protocol doc §4.6).
pub fn mission_range(min: Option<&str>, max: Option<&str>) -> Option<String> {
    match (min, max) {
        (Some(a), Some(b)) => Some(format!("{a}..{b}")),
        (Some(a), None) => Some(format!(">={a}")),
        (None, Some(b)) => Some(format!("<={b}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_text_takes_the_slot_type() {
        assert_eq!(
            from_text("87742159", WireType::String).unwrap(),
            json!("87742159")
        );
        assert_eq!(from_text("1366", WireType::Any).unwrap(), json!("1366"));
        assert_eq!(from_text("0.2", WireType::Number).unwrap(), json!(0.2));
        assert_eq!(from_text(" 12 ", WireType::Number).unwrap(), json!(12));
        assert!(from_text("NaN", WireType::Number).is_err());
        assert!(from_text("abc", WireType::Number).is_err());
        assert_eq!(from_text("True", WireType::Bool).unwrap(), json!(true));
    }

    #[test]
    fn literals_are_converted_to_their_slot() {
        assert_eq!(
            from_literal(&json!(87742159), WireType::String).unwrap(),
            json!("87742159")
        );
        assert_eq!(
            from_literal(&json!(1366), WireType::Any).unwrap(),
            json!(1366)
        );
        assert_eq!(
            from_literal(&json!("0.5"), WireType::Number).unwrap(),
            json!(0.5)
        );
        assert!(from_literal(&json!([1]), WireType::Number).is_err());
    }

    #[test]
    fn slot_table() {
        assert_eq!(
            mashup_param("Mast.Caom.Products", "obsid"),
            WireType::String
        );
        assert_eq!(mashup_param("mast.caom.cone", "radius"), WireType::Number);
        assert_eq!(
            mashup_param("Mast.Jwst.Filtered.Niriss", "columns"),
            WireType::String
        );
        assert_eq!(mashup_param("Mast.Unknown", "x"), WireType::Any);
        assert_eq!(filter_key("max"), WireType::Number);
    }

    #[test]
    fn ranges_are_never_open_on_the_wire() {
        assert_eq!(
            closed_range(Some(json!(1000.0)), None),
            json!({"min": 1000.0, "max": 1e300})
        );
        assert_eq!(
            closed_range(Some(Value::Null), Some(json!(5))),
            json!({"min": -1e300, "max": 5})
        );
        assert_eq!(mission_range(Some("1"), None).as_deref(), Some(">=1"));
        assert_eq!(mission_range(None, Some("2")).as_deref(), Some("<=2"));
        assert_eq!(mission_range(Some("1"), Some("2")).as_deref(), Some("1..2"));
    }

    #[test]
    fn mission_keywords() {
        assert_eq!(mission_dataset_keyword("JWST"), Some("fileSetName"));
        assert_eq!(mission_dataset_keyword("hst"), Some("sci_data_set_name"));
        assert_eq!(mission_unique_key("jwst"), Some("ArchiveFileID"));
        assert_eq!(mission_unique_key("hst"), Some("sci_data_set_name"));
    }
}
