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

/// AND the condition into `mask`, one pass per column. The matchers are
/// first bound to the column's type ([`Test`]), so the row loop neither
/// dispatches on the column type nor redoes per-value work.
fn apply(col: &Column, c: &Compiled, mask: &mut [bool]) {
    let ty = col.data_type();
    let pos: Vec<Test<'_>> = c.positives.iter().map(|m| Test::bind(m, ty)).collect();
    let neg: Vec<Test<'_>> = c.negatives.iter().map(|m| Test::bind(m, ty)).collect();
    let valid = col.validity();
    match col.data() {
        ColumnData::Str(s) => and_rows(mask, valid, &pos, &neg, |t, i| t.on_str(s.get(i))),
        ColumnData::Int(x) => and_rows(mask, valid, &pos, &neg, |t, i| t.on_int(x[i])),
        ColumnData::Float(x) => and_rows(mask, valid, &pos, &neg, |t, i| t.on_float(x[i])),
        ColumnData::Bool(x) => and_rows(mask, valid, &pos, &neg, |t, i| t.on_bool(x[i])),
    }
}

/// The row loop: a row passes when (a positive test matches, or there is
/// none) and no negative test matches. Null cells match only `null`.
#[inline(always)]
fn and_rows(
    mask: &mut [bool],
    valid: Option<&[bool]>,
    pos: &[Test<'_>],
    neg: &[Test<'_>],
    test: impl Fn(&Test<'_>, usize) -> bool,
) {
    let null_pos = pos.is_empty() || pos.iter().any(|t| matches!(t, Test::Null));
    let null_neg = neg.iter().any(|t| matches!(t, Test::Null));
    let null_passes = null_pos && !null_neg;
    for (i, m) in mask.iter_mut().enumerate() {
        if !*m {
            continue;
        }
        if valid.is_some_and(|v| !v[i]) {
            *m = null_passes;
            continue;
        }
        let p = pos.is_empty() || pos.iter().any(|t| test(t, i));
        *m = p && !neg.iter().any(|t| test(t, i));
    }
}

/// A matcher bound to a column type: what is left to do per (non-null) row.
#[derive(Debug)]
enum Test<'a> {
    /// Matches no non-null cell (a matcher that cannot apply to this type).
    Never,
    /// Matches null cells only.
    Null,
    StrEqIgnoreCase(&'a str),
    /// A non-string value against a string column: its text, exactly.
    StrEq(String),
    StrWild(&'a Glob),
    StrRange(Option<Bound>, Option<Bound>),
    IntEq(i64),
    /// An int cell converted to float, equal to this.
    IntEqFloat(f64),
    FloatEq(f64),
    /// Int and float cells (not NaN) inside the bounds.
    NumRange(Option<Bound>, Option<Bound>),
    BoolEq(bool),
}

impl<'a> Test<'a> {
    fn bind(m: &'a Matcher, t: DataType) -> Self {
        match (m, t) {
            (Matcher::Null, _) => Test::Null,
            (Matcher::Exact(Value::Str(w)), DataType::String) => Test::StrEqIgnoreCase(w),
            (Matcher::Exact(v), DataType::String) => Test::StrEq(v.as_ref().display()),
            (Matcher::Exact(Value::Int(w)), DataType::Int) => Test::IntEq(*w),
            (Matcher::Exact(Value::Float(w)), DataType::Int) => Test::IntEqFloat(*w),
            (Matcher::Exact(_), DataType::Int) => Test::Never,
            (Matcher::Exact(v), DataType::Float) => {
                v.as_ref().as_f64().map_or(Test::Never, Test::FloatEq)
            }
            (Matcher::Exact(Value::Bool(w)), DataType::Bool) => Test::BoolEq(*w),
            (Matcher::Exact(Value::Str(s)), DataType::Bool) => {
                super::normalize::parse_bool(s).map_or(Test::Never, Test::BoolEq)
            }
            (Matcher::Exact(Value::Int(1)), DataType::Bool) => Test::BoolEq(true),
            (Matcher::Exact(Value::Int(0)), DataType::Bool) => Test::BoolEq(false),
            (Matcher::Exact(_), DataType::Bool) => Test::Never,
            (Matcher::Wild(g), DataType::String) => Test::StrWild(g),
            (Matcher::Wild(_), _) => Test::Never,
            (Matcher::Range { min, max }, DataType::Int | DataType::Float) => {
                Test::NumRange(*min, *max)
            }
            (Matcher::Range { min, max }, DataType::String) => Test::StrRange(*min, *max),
            (Matcher::Range { .. }, DataType::Bool) => Test::Never,
        }
    }

    #[inline]
    fn on_str(&self, s: &str) -> bool {
        match self {
            Test::StrEqIgnoreCase(w) => s.eq_ignore_ascii_case(w),
            Test::StrEq(w) => s == w,
            Test::StrWild(g) => g.matches(s),
            Test::StrRange(min, max) => str_in_range(s, min, max),
            _ => false,
        }
    }

    #[inline]
    fn on_int(&self, x: i64) -> bool {
        match self {
            Test::IntEq(w) => x == *w,
            Test::IntEqFloat(w) => x as f64 == *w,
            Test::NumRange(min, max) => in_range(x as f64, min, max),
            _ => false,
        }
    }

    #[inline]
    fn on_float(&self, x: f64) -> bool {
        match self {
            Test::FloatEq(w) => x == *w,
            Test::NumRange(min, max) => in_range(x, min, max),
            _ => false,
        }
    }

    #[inline]
    fn on_bool(&self, x: bool) -> bool {
        match self {
            Test::BoolEq(w) => x == *w,
            _ => false,
        }
    }
}

#[inline]
fn in_range(x: f64, min: &Option<Bound>, max: &Option<Bound>) -> bool {
    !x.is_nan()
        && min.is_none_or(|b| if b.inclusive { x >= b.v } else { x > b.v })
        && max.is_none_or(|b| if b.inclusive { x <= b.v } else { x < b.v })
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
        // ASCII text (nearly all archive values): one byte is one character,
        // so no per-call buffer is needed.
        if s.is_ascii() {
            let b = s.as_bytes();
            return self.match_chars(b.len(), |i| char::from(b[i].to_ascii_lowercase()));
        }
        let text: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
        self.match_chars(text.len(), |i| text[i])
    }

    /// The glob algorithm over a text of `len` characters read with `at`.
    fn match_chars(&self, len: usize, at: impl Fn(usize) -> char) -> bool {
        let p = &self.pattern;
        let (mut pi, mut ti) = (0usize, 0usize);
        let (mut star, mut mark) = (None::<usize>, 0usize);
        while ti < len {
            if pi < p.len() && (p[pi] == '?' || p[pi] == at(ti)) {
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

    // ---- The previous row-by-row evaluation, kept as the reference the
    // type-bound one must agree with exactly.

    fn reference_matches(data: &ColumnData, i: usize, null: bool, m: &Matcher) -> bool {
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
                Value::Str(s) => crate::table::normalize::parse_bool(s) == Some(x[i]),
                Value::Int(w) => (*w == 1) == x[i] && (*w == 0 || *w == 1),
                _ => false,
            },
            (Matcher::Wild(g), ColumnData::Str(s)) => reference_glob(g, s.get(i)),
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

    fn reference_glob(g: &Glob, s: &str) -> bool {
        let text: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
        let (p, t) = (&g.pattern, &text);
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

    fn reference_mask(f: &Filter, t: &Table) -> Result<Vec<bool>, TableError> {
        let mut mask = vec![true; t.num_rows()];
        for cond in &f.conditions {
            let col = t.column(&cond.column)?;
            let c = compile(cond, col.data_type())?;
            let valid = col.validity();
            for (i, m) in mask.iter_mut().enumerate() {
                if !*m {
                    continue;
                }
                let null = !valid.is_none_or(|v| v[i]);
                let pos = c.positives.is_empty()
                    || c.positives
                        .iter()
                        .any(|p| reference_matches(col.data(), i, null, p));
                *m = pos
                    && !c
                        .negatives
                        .iter()
                        .any(|n| reference_matches(col.data(), i, null, n));
            }
        }
        Ok(mask)
    }

    use proptest::prelude::*;

    fn arb_cell(kind: u8) -> BoxedStrategy<Value> {
        let v = match kind {
            0 => (-2i64..4).prop_map(Value::Int).boxed(),
            1 => prop::sample::select(vec![
                0.0,
                -0.0,
                1.0,
                2.5,
                3.0,
                f64::NAN,
                f64::INFINITY,
                -1.0,
            ])
            .prop_map(Value::Float)
            .boxed(),
            2 => prop::sample::select(vec![
                "",
                "SCIENCE",
                "science",
                "INFO",
                "jw01_cal.fits",
                "jw01_gs-track_cal.fits",
                "2",
                "2.5",
                "true",
                "É_cal.fits",
                "a*b",
                "a?b",
            ])
            .prop_map(|s: &str| Value::Str(s.to_string()))
            .boxed(),
            _ => any::<bool>().prop_map(Value::Bool).boxed(),
        };
        prop_oneof![1 => Just(Value::Null).boxed(), 4 => v].boxed()
    }

    fn arb_table() -> impl Strategy<Value = Table> {
        (0usize..30).prop_flat_map(|n| {
            (
                prop::collection::vec(arb_cell(0), n),
                prop::collection::vec(arb_cell(1), n),
                prop::collection::vec(arb_cell(2), n),
                prop::collection::vec(arb_cell(3), n),
            )
                .prop_map(|(i, f, s, b)| {
                    Table::new(vec![
                        Column::from_values("i", &i, Some(DataType::Int)),
                        Column::from_values("f", &f, Some(DataType::Float)),
                        Column::from_values("s", &s, Some(DataType::String)),
                        Column::from_values("b", &b, Some(DataType::Bool)),
                    ])
                    .unwrap()
                })
        })
    }

    fn arb_spec() -> impl Strategy<Value = Spec> {
        let text = prop::sample::select(vec![
            "SCIENCE",
            "!science",
            "info",
            "*_cal.fits",
            "!*gs-*",
            "*CAL*",
            "?nfo",
            "%cal%",
            "é*",
            "É*",
            "a*b",
            "a\\*b",
            "null",
            "!null",
            "2",
            "!2",
            ">=2",
            ">2",
            "<3",
            "<=0",
            "1..3",
            "..2",
            "2.5..",
            "true",
            "false",
            "!true",
            "0",
            "1",
            "-0",
            "nan",
            "inf",
        ])
        .prop_map(|s: &str| Spec::Value(Value::Str(s.to_string())));
        let value = prop::sample::select(vec![
            Value::Null,
            Value::Int(2),
            Value::Int(0),
            Value::Int(1),
            Value::Int(5),
            Value::Float(2.5),
            Value::Float(0.0),
            Value::Float(f64::NAN),
            Value::Bool(true),
            Value::Bool(false),
        ])
        .prop_map(Spec::Value);
        let range = (prop::option::of(-1i64..4), prop::option::of(-1i64..4)).prop_map(|(a, b)| {
            Spec::Range {
                min: a.map(Value::Int),
                max: b.map(|x| Value::Float(x as f64 + 0.5)),
            }
        });
        prop_oneof![3 => text, 2 => value, 1 => range]
    }

    proptest! {
        #[test]
        fn mask_matches_reference(t in arb_table(), conds in prop::collection::vec(
            (prop::sample::select(vec!["i", "f", "s", "b"]), prop::collection::vec(arb_spec(), 0..4)), 0..4)) {
            let f = Filter { conditions: conds.into_iter().map(|(c, specs)| Condition { column: c.to_string(), specs }).collect() };
            match (f.mask(&t), reference_mask(&f, &t)) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }

        #[test]
        fn glob_matches_reference(p in "[a-cA-C*?%é]{0,6}", s in "[a-cA-CéÉ*?]{0,8}") {
            let g = Glob::new(&p);
            prop_assert_eq!(g.matches(&s), reference_glob(&g, &s));
        }
    }
}
