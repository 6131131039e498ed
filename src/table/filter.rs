//! Structured filters: the form users know from MAST and astroquery's
//! `filter_products`, evaluated column by column over typed vectors.
//!
//! A filter is a list of per-column conditions, ANDed. Each condition is a list
//! of matchers: the row passes when (any positive matcher matches, or there is
//! none) and no negated (`!`) matcher matches — astroquery's rule.
//!
//! Matchers: an exact value (strings compared case-insensitively), a wildcard
//! pattern (`*` any run, `?` one character, case-insensitive), an inclusive
//! range `{min, max}` (either end optional), and for numeric columns the
//! astroquery text forms `"100..1000"`, `">=1000"`, `">5"`, `"<5"`, `"<=5"`.
//!
//! Null semantics: a null cell matches no positive matcher except `null`
//! itself; a negated matcher never matches a null cell unless it is `!null`.
//! So `dataRights: "!EXCLUSIVE_ACCESS"` keeps rows whose dataRights is null,
//! and `filters: F200W` drops them.

use super::column::{Column, ColumnData, DataType};
use super::value::Value;
use super::{Table, TableError};

/// What a user wrote for one value of a condition, before the column type is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Value(Value),
    Range {
        min: Option<Value>,
        max: Option<Value>,
    },
}

/// A condition on one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub specs: Vec<Spec>,
}

/// A structured filter: conditions ANDed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Null,
    Exact(Value),
    Wild(Glob),
    Range {
        min: Option<Bound>,
        max: Option<Bound>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    v: f64,
    inclusive: bool,
}

#[derive(Debug, Clone)]
struct Compiled {
    positives: Vec<Matcher>,
    negatives: Vec<Matcher>,
}

impl Filter {
    /// The mask of rows that pass.
    pub fn mask(&self, t: &Table) -> Result<Vec<bool>, TableError> {
        let mut mask = vec![true; t.num_rows()];
        for cond in &self.conditions {
            let col = t.column(&cond.column)?;
            let compiled = compile(cond, col.data_type())?;
            apply(col, &compiled, &mut mask);
        }
        Ok(mask)
    }

    pub fn apply(&self, t: &Table) -> Result<Table, TableError> {
        Ok(t.filter_mask(&self.mask(t)?))
    }
}

fn compile(cond: &Condition, t: DataType) -> Result<Compiled, TableError> {
    let mut c = Compiled {
        positives: vec![],
        negatives: vec![],
    };
    for spec in &cond.specs {
        let (negated, m) = match spec {
            Spec::Range { min, max } => (
                false,
                Matcher::Range {
                    min: min
                        .as_ref()
                        .map(|v| bound(v, true, &cond.column))
                        .transpose()?,
                    max: max
                        .as_ref()
                        .map(|v| bound(v, true, &cond.column))
                        .transpose()?,
                },
            ),
            Spec::Value(Value::Str(s)) => {
                let (neg, body) = match s.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, s.as_str()),
                };
                (neg, text_matcher(body, t, &cond.column)?)
            }
            Spec::Value(Value::Null) => (false, Matcher::Null),
            Spec::Value(v) => (false, Matcher::Exact(v.clone())),
        };
        if negated {
            c.negatives.push(m)
        } else {
            c.positives.push(m)
        }
    }
    Ok(c)
}

fn bound(v: &Value, inclusive: bool, col: &str) -> Result<Bound, TableError> {
    let x = match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => super::normalize::parse_float(s).ok_or_else(|| {
            TableError::Invalid(format!(
                "range bound `{s}` for column `{col}` is not a number"
            ))
        })?,
        other => {
            return Err(TableError::Invalid(format!(
                "range bound `{}` for column `{col}` is not a number",
                other.as_ref().display()
            )));
        }
    };
    Ok(Bound { v: x, inclusive })
}

fn text_matcher(s: &str, t: DataType, col: &str) -> Result<Matcher, TableError> {
    if s == "null" {
        return Ok(Matcher::Null);
    }
    let numeric = matches!(t, DataType::Int | DataType::Float);
    if numeric {
        let num = |x: &str| bound(&Value::Str(x.trim().to_string()), true, col);
        if let Some((a, b)) = s.split_once("..") {
            return Ok(Matcher::Range {
                min: (!a.trim().is_empty()).then(|| num(a)).transpose()?,
                max: (!b.trim().is_empty()).then(|| num(b)).transpose()?,
            });
        }
        for (op, is_min, inclusive) in [
            (">=", true, true),
            ("<=", false, true),
            (">", true, false),
            ("<", false, false),
        ] {
            if let Some(rest) = s.strip_prefix(op) {
                let mut b = num(rest)?;
                b.inclusive = inclusive;
                return Ok(if is_min {
                    Matcher::Range {
                        min: Some(b),
                        max: None,
                    }
                } else {
                    Matcher::Range {
                        min: None,
                        max: Some(b),
                    }
                });
            }
        }
        let v = super::normalize::cast_value(super::ValueRef::Str(s), t).ok_or_else(|| {
            TableError::Invalid(format!("`{s}` is not a number, but column `{col}` is {t}"))
        })?;
        return Ok(Matcher::Exact(v));
    }
    if s.contains(['*', '?']) && t == DataType::String {
        return Ok(Matcher::Wild(Glob::new(s)));
    }
    Ok(Matcher::Exact(Value::Str(s.to_string())))
}

/// AND the condition into `mask`, one pass per column.
fn apply(col: &Column, c: &Compiled, mask: &mut [bool]) {
    let valid = col.validity();
    let is_valid = |i: usize| valid.is_none_or(|v| v[i]);
    for (i, m) in mask.iter_mut().enumerate() {
        if !*m {
            continue;
        }
        let null = !is_valid(i);
        let pos =
            c.positives.is_empty() || c.positives.iter().any(|p| matches(col.data(), i, null, p));
        *m = pos && !c.negatives.iter().any(|n| matches(col.data(), i, null, n));
    }
}

fn matches(data: &ColumnData, i: usize, null: bool, m: &Matcher) -> bool {
    if null {
        return matches!(m, Matcher::Null);
    }
    match (m, data) {
        (Matcher::Null, _) => false,
        (Matcher::Exact(v), ColumnData::Str(s)) => match v {
            Value::Str(w) => s.get(i).eq_ignore_ascii_case(w),
            other => s.get(i) == other.as_ref().display(),
        },
        (Matcher::Exact(v), ColumnData::Int(x)) => match v {
            Value::Int(w) => x[i] == *w,
            Value::Float(w) => x[i] as f64 == *w,
            _ => false,
        },
        (Matcher::Exact(v), ColumnData::Float(x)) => v.as_ref().as_f64() == Some(x[i]),
        (Matcher::Exact(v), ColumnData::Bool(x)) => match v {
            Value::Bool(w) => x[i] == *w,
            Value::Str(s) => super::normalize::parse_bool(s) == Some(x[i]),
            Value::Int(w) => (*w == 1) == x[i] && (*w == 0 || *w == 1),
            _ => false,
        },
        (Matcher::Wild(g), ColumnData::Str(s)) => g.matches(s.get(i)),
        (Matcher::Wild(_), _) => false,
        (Matcher::Range { min, max }, data) => {
            let x = match data {
                ColumnData::Int(x) => x[i] as f64,
                ColumnData::Float(x) => x[i],
                ColumnData::Str(s) => return str_in_range(s.get(i), min, max),
                ColumnData::Bool(_) => return false,
            };
            !x.is_nan()
                && min.is_none_or(|b| if b.inclusive { x >= b.v } else { x > b.v })
                && max.is_none_or(|b| if b.inclusive { x <= b.v } else { x < b.v })
        }
    }
}

fn str_in_range(s: &str, min: &Option<Bound>, max: &Option<Bound>) -> bool {
    match super::normalize::parse_float(s) {
        Some(x) => {
            min.is_none_or(|b| if b.inclusive { x >= b.v } else { x > b.v })
                && max.is_none_or(|b| if b.inclusive { x <= b.v } else { x < b.v })
        }
        None => false,
    }
}

/// A case-insensitive glob with `*` and `?` (also accepting SQL's `%`).
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    pub fn new(p: &str) -> Self {
        Self {
            pattern: p
                .chars()
                .map(|c| {
                    if c == '%' {
                        '*'
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        let text: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
        let (p, t) = (&self.pattern, &text);
        let (mut pi, mut ti) = (0usize, 0usize);
        let (mut star, mut mark) = (None::<usize>, 0usize);
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some(pi);
                mark = ti;
                pi += 1;
            } else if let Some(s) = star {
                pi = s + 1;
                mark += 1;
                ti = mark;
            } else {
                return false;
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Column;

    fn products() -> Table {
        let s = |x: &str| Value::Str(x.to_string());
        Table::new(vec![
            Column::from_values(
                "productType",
                &[
                    s("SCIENCE"),
                    s("AUXILIARY"),
                    s("INFO"),
                    s("science"),
                    Value::Null,
                ],
                None,
            ),
            Column::from_values(
                "calib_level",
                &[
                    Value::Int(2),
                    Value::Int(2),
                    Value::Int(3),
                    Value::Int(1),
                    Value::Int(3),
                ],
                None,
            ),
            Column::from_values(
                "productFilename",
                &[
                    s("jw01_cal.fits"),
                    s("jw01_gs-track_cal.fits"),
                    s("jw01_asn.json"),
                    s("jw01_uncal.fits"),
                    s("x_i2d.fits"),
                ],
                None,
            ),
            Column::from_values(
                "size",
                &[
                    Value::Float(10.0),
                    Value::Float(f64::NAN),
                    Value::Null,
                    Value::Float(5.0),
                    Value::Float(1e9),
                ],
                None,
            ),
        ])
        .unwrap()
    }

    fn run(conds: Vec<(&str, Vec<Spec>)>) -> Vec<bool> {
        Filter {
            conditions: conds
                .into_iter()
                .map(|(c, specs)| Condition {
                    column: c.into(),
                    specs,
                })
                .collect(),
        }
        .mask(&products())
        .unwrap()
    }

    fn v(s: &str) -> Spec {
        Spec::Value(Value::Str(s.into()))
    }

    #[test]
    fn values_or_case_insensitive() {
        assert_eq!(
            run(vec![("productType", vec![v("science"), v("INFO")])]),
            [true, false, true, true, false]
        );
    }

    #[test]
    fn negation_and_nulls() {
        // null productType is kept by a negation, dropped by a positive match
        assert_eq!(
            run(vec![("productType", vec![v("!AUXILIARY")])]),
            [true, false, true, true, true]
        );
        assert_eq!(
            run(vec![("productType", vec![v("!AUXILIARY"), v("!null")])]),
            [true, false, true, true, false]
        );
        assert_eq!(
            run(vec![("productType", vec![Spec::Value(Value::Null)])]),
            [false, false, false, false, true]
        );
    }

    #[test]
    fn wildcards_and_ranges() {
        assert_eq!(
            run(vec![("productFilename", vec![v("*_CAL.fits")])]),
            [true, true, false, false, false]
        );
        assert_eq!(
            run(vec![("productFilename", vec![v("*cal*"), v("!*gs-*")])]),
            [true, false, false, true, false]
        );
        assert_eq!(
            run(vec![(
                "calib_level",
                vec![Spec::Range {
                    min: Some(Value::Int(2)),
                    max: Some(Value::Int(3))
                }]
            )]),
            [true, true, true, false, true]
        );
        assert_eq!(
            run(vec![("calib_level", vec![v("2..3")])]),
            [true, true, true, false, true]
        );
        assert_eq!(
            run(vec![("calib_level", vec![v(">2")])]),
            [false, false, true, false, true]
        );
        assert_eq!(
            run(vec![(
                "calib_level",
                vec![v("3"), Spec::Value(Value::Int(1))]
            )]),
            [false, false, true, true, true]
        );
        // NaN and null never fall in a range
        assert_eq!(
            run(vec![("size", vec![v(">=5")])]),
            [true, false, false, true, true]
        );
    }

    #[test]
    fn and_across_columns() {
        assert_eq!(
            run(vec![
                ("productType", vec![v("SCIENCE")]),
                ("calib_level", vec![v(">=2")])
            ]),
            [true, false, false, false, false]
        );
    }

    #[test]
    fn bad_number_is_an_error() {
        let f = Filter {
            conditions: vec![Condition {
                column: "calib_level".into(),
                specs: vec![v("two")],
            }],
        };
        assert!(f.mask(&products()).is_err());
    }

    #[test]
    fn glob() {
        assert!(Glob::new("NIRISS*").matches("niriss/soss"));
        assert!(Glob::new("io*").matches("IO"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("%planet%").matches("exoplanets"));
    }
}
