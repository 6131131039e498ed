//! The one type-normalisation layer shared by every reader.
//!
//! MAST and local files disagree about types: numbers declared as strings,
//! booleans as `t`/`f`, `True`/`False`, `1`/`0`, dates as `/Date(ms)/` beside an
//! MJD twin, nulls as JSON `null`, empty strings, `--` or `NaN`. Every reader
//! (CSV, ECSV, VOTable, Mashup JSON, TAP) goes through the functions here so a
//! value means the same thing whatever its source.

use super::column::{Column, ColumnBuilder, DataType};
use super::value::{Value, ValueRef};

/// Narrowest type holding every non-null value: bool, int, float, string.
pub fn infer_type<'a, I: Iterator<Item = &'a Value>>(values: I) -> DataType {
    let mut t: Option<DataType> = None;
    for v in values {
        let vt = match v {
            Value::Null => continue,
            Value::Bool(_) => DataType::Bool,
            Value::Int(_) => DataType::Int,
            Value::Float(_) => DataType::Float,
            Value::Str(_) => DataType::String,
        };
        t = Some(match t {
            None => vt,
            Some(cur) => cur.unify(vt).unwrap_or(DataType::String),
        });
        if t == Some(DataType::String) {
            break;
        }
    }
    t.unwrap_or(DataType::String)
}

/// Convert a value to type `t`, or `None` when it cannot be represented.
/// Nulls stay null.
pub fn cast_value(v: ValueRef<'_>, t: DataType) -> Option<Value> {
    Some(match (v, t) {
        (ValueRef::Null, _) => Value::Null,
        (v, DataType::String) => Value::Str(v.display()),
        (ValueRef::Bool(b), DataType::Bool) => Value::Bool(b),
        (ValueRef::Int(i), DataType::Bool) if i == 0 || i == 1 => Value::Bool(i == 1),
        (ValueRef::Str(s), DataType::Bool) => Value::Bool(parse_bool(s)?),
        (ValueRef::Int(i), DataType::Int) => Value::Int(i),
        (ValueRef::Float(f), DataType::Int) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Value::Int(f as i64)
        }
        (ValueRef::Str(s), DataType::Int) => Value::Int(s.trim().parse().ok()?),
        (ValueRef::Int(i), DataType::Float) => Value::Float(i as f64),
        (ValueRef::Float(f), DataType::Float) => Value::Float(f),
        (ValueRef::Str(s), DataType::Float) => Value::Float(parse_float(s)?),
        _ => return None,
    })
}

/// `true/false`, `t/f`, `yes/no`, `1/0`, in any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// A float, accepting `nan`, `inf`, `-inf`, `+inf`, `Infinity` in any case.
pub fn parse_float(s: &str) -> Option<f64> {
    // Rust's parser accepts `NaN`, `inf`, `+Infinity` in any case already.
    s.trim().parse().ok()
}

/// Strings that mean "no value" in text inputs.
pub fn is_null_text(s: &str) -> bool {
    matches!(s, "" | "--" | "null" | "NULL" | "None")
}

/// `/Date(1654430410430)/` (epoch milliseconds, optionally with an offset)
/// to an ISO-8601 UTC string with millisecond precision.
pub fn mast_date_to_iso(s: &str) -> Option<String> {
    let inner = s.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits_end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(inner.len(), |(i, _)| i);
    let ms: i64 = inner[..digits_end].parse().ok()?;
    epoch_ms_to_iso(ms)
}

pub fn epoch_ms_to_iso(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()?;
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
    );
    t.format(&fmt).ok()
}

/// MJD (days since 1858-11-17T00:00 UTC) of an ISO date or date-time.
pub fn iso_to_mjd(s: &str) -> Option<f64> {
    let s = s.trim();
    let (date, time_part) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let d = time::Date::parse(
        date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let mjd_day = (d.to_julian_day() - 2_400_001) as f64;
    let frac = match time_part {
        None => 0.0,
        Some(t) => {
            let t = t.trim_end_matches('Z');
            let mut parts = t.split(':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next().unwrap_or("0").parse().ok()?;
            let sec: f64 = parts.next().unwrap_or("0").parse().ok()?;
            (h * 3600.0 + m * 60.0 + sec) / 86400.0
        }
    };
    Some(mjd_day + frac)
}

/// The type a MAST `fields[].type` (or a VOTable/ECSV datatype name) declares.
pub fn declared_type(name: &str) -> Option<DataType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "boolean" | "bool" => DataType::Bool,
        "int" | "integer" | "long" | "short" | "int16" | "int32" | "int64" | "uint8"
        | "unsignedbyte" => DataType::Int,
        "float" | "double" | "decimal" | "real" | "float32" | "float64" | "number" => {
            DataType::Float
        }
        "string" | "char" | "unicodechar" | "date" | "datetime" | "str" => DataType::String,
        _ => return None,
    })
}

/// One raw cell from a JSON source (Mashup, missions API), normalised to the
/// declared type. Strings that do not parse as the declared type become null.
pub fn json_cell(raw: &serde_json::Value, t: DataType) -> Value {
    use serde_json::Value as J;
    match raw {
        J::Null => Value::Null,
        J::String(s) if t != DataType::String && is_null_text(s) => Value::Null,
        J::String(s) if t == DataType::String => match mast_date_to_iso(s) {
            Some(iso) => Value::Str(iso),
            None => Value::Str(s.clone()),
        },
        other => cast_value(Value::from_json(other).as_ref(), t).unwrap_or(Value::Null),
    }
}

/// Infer a column's type from text cells (CSV without a declared schema):
/// int, then float, then bool (`true/false/True/False` only), else string.
/// Null texts are ignored for the inference and become nulls.
pub fn infer_text_type<'a, I: Iterator<Item = &'a str> + Clone>(cells: I) -> DataType {
    let non_null = cells.filter(|s| !is_null_text(s));
    let mut any = false;
    let (mut int, mut float, mut boolean) = (true, true, true);
    for s in non_null {
        any = true;
        let t = s.trim();
        if int && t.parse::<i64>().is_err() {
            int = false;
        }
        if !int && float && parse_float(t).is_none() {
            float = false;
        }
        if boolean && !matches!(t, "true" | "false" | "True" | "False" | "TRUE" | "FALSE") {
            boolean = false;
        }
        if !int && !float && !boolean {
            return DataType::String;
        }
    }
    match (any, int, float, boolean) {
        (false, ..) => DataType::String,
        (_, true, _, _) => DataType::Int,
        (_, _, true, _) => DataType::Float,
        (_, _, _, true) => DataType::Bool,
        _ => DataType::String,
    }
}

/// Build a column from text cells with a declared or inferred type. Empty
/// cells and astropy's masked marker `--` are null in every column; `null`,
/// `NULL` and `None` are null in non-string columns.
pub fn text_column(name: &str, cells: &[&str], declared: Option<DataType>) -> Column {
    let t = declared.unwrap_or_else(|| infer_text_type(cells.iter().copied()));
    let mut b = ColumnBuilder::new(t, cells.len());
    for s in cells {
        if t != DataType::String && is_null_text(s)
            || (t == DataType::String && (s.is_empty() || *s == "--"))
        {
            b.push(ValueRef::Null);
        } else if t == DataType::String {
            b.push(ValueRef::Str(s));
        } else {
            b.push(
                cast_value(ValueRef::Str(s), t)
                    .unwrap_or(Value::Null)
                    .as_ref(),
            );
        }
    }
    b.finish(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mast_dates_become_iso() {
        assert_eq!(
            mast_date_to_iso("/Date(1654430410430)/").as_deref(),
            Some("2022-06-05T12:00:10.430")
        );
        assert_eq!(
            mast_date_to_iso("/Date(0-0500)/").as_deref(),
            Some("1970-01-01T00:00:00.000")
        );
        assert_eq!(mast_date_to_iso("2022-06-05"), None);
    }

    #[test]
    fn mjd_matches_notebook_values() {
        // The SI-keyword notebook: 2022-06-01 -> 59731.0, 2022-08-04 -> 59795.0
        assert_eq!(iso_to_mjd("2022-06-01"), Some(59731.0));
        assert_eq!(iso_to_mjd("2022-08-04"), Some(59795.0));
        assert_eq!(iso_to_mjd("2022-08-04T12:00:00"), Some(59795.5));
        assert_eq!(iso_to_mjd("yesterday"), None);
    }

    #[test]
    fn mast_booleans_and_numbers_as_strings() {
        assert_eq!(json_cell(&"t".into(), DataType::Bool), Value::Bool(true));
        assert_eq!(
            json_cell(&"False".into(), DataType::Bool),
            Value::Bool(false)
        );
        assert_eq!(json_cell(&"1366".into(), DataType::Int), Value::Int(1366));
        assert_eq!(
            json_cell(&"494.46".into(), DataType::Float),
            Value::Float(494.46)
        );
        assert_eq!(json_cell(&"".into(), DataType::Float), Value::Null);
        assert_eq!(json_cell(&"--".into(), DataType::Int), Value::Null);
        assert_eq!(
            json_cell(&serde_json::json!(3.0), DataType::Int),
            Value::Int(3)
        );
        assert_eq!(json_cell(&"abc".into(), DataType::Int), Value::Null);
    }

    #[test]
    fn text_inference() {
        assert_eq!(infer_text_type(["1", "2", ""].into_iter()), DataType::Int);
        assert_eq!(infer_text_type(["1", "2.5"].into_iter()), DataType::Float);
        assert_eq!(
            infer_text_type(["True", "false"].into_iter()),
            DataType::Bool
        );
        assert_eq!(infer_text_type(["t", "f"].into_iter()), DataType::String);
        assert_eq!(infer_text_type(["", "--"].into_iter()), DataType::String);
        assert_eq!(infer_text_type(["1", "x"].into_iter()), DataType::String);
    }
}
