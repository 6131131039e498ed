//! MAST filter semantics over a [`Table`] (protocol doc §2.1):
//!
//! - filters AND together; the `values` of one filter OR together, and a
//!   `freeText` pattern ORs with them;
//! - `{min, max}` ranges are inclusive, either bound may be absent;
//! - exact values match case-insensitively (SQL Server's default collation),
//!   numbers numerically (`"3"` matches `calib_level` 3), booleans by
//!   meaning (`T` matches `t`, `true`, `True`);
//! - on multi-valued columns (a `separator` in the filter, or one of the
//!   CAOM `;` columns) a value matches the whole cell or any one token;
//! - `freeText` is SQL `LIKE` (`%` any run, `_` one character),
//!   case-insensitive, on the whole cell;
//! - nulls never match;
//! - column names resolve case-insensitively; an unknown one is an error
//!   worded like SQL Server's (`Invalid column name 'x'.`).

use crate::table::{ColumnData, DataType, Table, ValueRef, normalize};
use crate::wire::{Filter, FilterValue};
use serde_json::Value;

/// Which columns a request asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Columns {
    All,
    Count,
    Some(Vec<usize>),
}

/// Resolve a column name the way SQL Server does (case-insensitive).
pub fn resolve_column(t: &Table, name: &str) -> Result<usize, String> {
    let name = name.trim();
    t.index_of(name)
        .or_else(|| t.column_names().position(|c| c.eq_ignore_ascii_case(name)))
        .ok_or_else(|| format!("Invalid column name '{name}'."))
}

/// Parse the `columns` parameter: `*`, `c.*`, `COUNT_BIG(*)` or a list.
pub fn parse_columns(t: &Table, spec: Option<&str>) -> Result<Columns, String> {
    let s = spec.unwrap_or("*").trim();
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() || compact == "*" || compact.eq_ignore_ascii_case("c.*") {
        return Ok(Columns::All);
    }
    if compact.eq_ignore_ascii_case("COUNT_BIG(*)") || compact.eq_ignore_ascii_case("COUNT(*)") {
        return Ok(Columns::Count);
    }
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = name.strip_prefix("c.").unwrap_or(name);
        out.push(resolve_column(t, name)?);
    }
    Ok(Columns::Some(out))
}

/// One compiled filter.
struct Matcher {
    col: usize,
    exact: Vec<String>,
    exact_num: Vec<f64>,
    ranges: Vec<Range>,
    like: Option<Vec<u8>>,
    separator: Option<String>,
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compile(t: &Table, f: &Filter, multi_valued: &[&str]) -> Result<Matcher, String> {
    let col = resolve_column(t, &f.param_name)?;
    let name = t.columns()[col].name.as_str();
    let separator = f
        .separator
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| multi_valued.contains(&name).then(|| ";".to_string()));
    let mut m = Matcher {
        col,
        exact: vec![],
        exact_num: vec![],
        ranges: vec![],
        like: None,
        separator,
    };
    for v in &f.values {
        match v {
            FilterValue::Range { min, max } => m.ranges.push((
                min.as_ref().and_then(scalar_num),
                max.as_ref().and_then(scalar_num),
                min.as_ref().and_then(scalar_text),
                max.as_ref().and_then(scalar_text),
            )),
            FilterValue::Exact(x) => {
                if let Some(s) = scalar_text(x) {
                    m.exact_num.extend(scalar_num(x));
                    m.exact.push(s.to_ascii_lowercase());
                }
            }
        }
    }
    m.like = f
        .free_text
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| p.to_ascii_lowercase().into_bytes());
    Ok(m)
}

impl Matcher {
    fn matches(&self, v: ValueRef<'_>) -> bool {
        match v {
            ValueRef::Null => false,
            ValueRef::Str(s) => self.match_str(s),
            ValueRef::Int(i) => self.match_num(i as f64, v),
            ValueRef::Float(x) => !x.is_nan() && self.match_num(x, v),
            ValueRef::Bool(b) => self.match_bool(b),
        }
    }

    fn match_num(&self, x: f64, v: ValueRef<'_>) -> bool {
        self.exact_num.contains(&x)
            || self
                .ranges
                .iter()
                .any(|(lo, hi, _, _)| lo.is_none_or(|l| x >= l) && hi.is_none_or(|h| x <= h))
            || self
                .like
                .as_ref()
                .is_some_and(|p| like(p, v.display().as_bytes()))
    }

    fn match_bool(&self, b: bool) -> bool {
        self.exact
            .iter()
            .any(|e| normalize::parse_bool(e) == Some(b))
            || self
                .like
                .as_ref()
                .is_some_and(|p| like(p, if b { b"true" } else { b"false" }))
    }

    fn match_str(&self, s: &str) -> bool {
        if self
            .exact
            .iter()
            .any(|e| e.eq_ignore_ascii_case(s) || self.token_match(s, e))
        {
            return true;
        }
        if self.ranges.iter().any(|r| str_in_range(s, r)) {
            return true;
        }
        self.like.as_ref().is_some_and(|p| like(p, s.as_bytes()))
    }

    fn token_match(&self, s: &str, e: &str) -> bool {
        match &self.separator {
            Some(sep) => s
                .split(sep.as_str())
                .any(|tok| tok.trim().eq_ignore_ascii_case(e)),
            None => false,
        }
    }
}

type Range = (Option<f64>, Option<f64>, Option<String>, Option<String>);

/// A text cell against a range: numerically when it parses, else by text.
fn str_in_range(s: &str, (lo, hi, los, his): &Range) -> bool {
    if let Ok(x) = s.trim().parse::<f64>() {
        return lo.is_none_or(|l| x >= l) && hi.is_none_or(|h| x <= h);
    }
    los.as_deref().is_none_or(|l| s >= l) && his.as_deref().is_none_or(|h| s <= h)
}

/// SQL `LIKE`, ASCII case-insensitive; `pattern` is already lower-case.
pub fn like(pattern: &[u8], text: &[u8]) -> bool {
    like_with(pattern, text, true)
}

/// SQL `LIKE` (`%`, `_`); `fold`: ASCII case-insensitive, with `pattern`
/// already lower-case (ADQL's `ILIKE`), else exact (ADQL's `LIKE`).
pub fn like_with(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let (mut star_p, mut star_t) = (usize::MAX, 0usize);
    let at = |t: usize| {
        if fold {
            text[t].to_ascii_lowercase()
        } else {
            text[t]
        }
    };
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'_' || pattern[p] == at(t)) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'%' {
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
    pattern[p..].iter().all(|&c| c == b'%')
}

/// Rows of `t` (restricted to `candidates` when given) that pass every filter.
pub fn filter_rows(
    t: &Table,
    filters: &[Filter],
    candidates: Option<Vec<u32>>,
    multi_valued: &[&str],
) -> Result<Vec<u32>, String> {
    let matchers = filters
        .iter()
        .map(|f| compile(t, f, multi_valued))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows: Vec<u32> = candidates.unwrap_or_else(|| (0..t.num_rows() as u32).collect());
    for m in &matchers {
        let col = &t.columns()[m.col];
        match (col.data(), col.data_type()) {
            (ColumnData::Float(v), DataType::Float) if m.exact.is_empty() && m.like.is_none() => {
                rows.retain(|&r| {
                    let x = v[r as usize];
                    !col.is_null(r as usize) && !x.is_nan() && m.match_num(x, ValueRef::Float(x))
                });
            }
            _ => rows.retain(|&r| m.matches(col.get(r as usize))),
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like(b"nircam%", b"NIRCAM/IMAGE"));
        assert!(like(b"%niriss%", b"NIRISS/SOSS"));
        assert!(like(b"io%", b"IO"));
        assert!(!like(b"io%", b"CALLISTO"));
        assert!(like(b"f1_0w", b"F150W"));
        assert!(like(b"%", b""));
        assert!(!like(b"a", b""));
    }
}
