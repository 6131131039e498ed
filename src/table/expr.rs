//! Row expressions and the shared minijinja environment.
//!
//! Expressions are minijinja expressions (`t_exptime > 1000 and calib_level in
//! [2, 3]`, `'_'.join(filename.split('_')[:-1])`) evaluated once per row with the
//! row's columns as variables. The environment is strict: an unknown name is an
//! error, never an empty string. Python-style string methods come from
//! minijinja-contrib's pycompat.
//!
//! Null semantics: a null cell is *undefined* inside the expression. Using it in
//! a comparison, arithmetic or a truth test makes the whole expression null
//! (SQL's three-valued logic: in a filter the row is dropped, in a derived
//! column the cell is null). Test for it with `x is null` (or `x is none`), or
//! replace it with `x | default(0)`.

use super::value::{Value, ValueRef};
use super::{Column, DataType, Table, TableError};
use minijinja::value::{Object, Value as JValue};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// The configured environment (filters, tests, functions). Also used by the
/// manifest templating layer, so both speak the same language.
pub fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_test("null", |v: JValue| v.is_undefined() || v.is_none());
    env.add_test("none", |v: JValue| v.is_undefined() || v.is_none());
    env.add_filter("adql_string", adql_string);
    env.add_filter("adql_number", adql_number);
    env.add_filter("adql_list", adql_list);
    env.add_filter("adql_ident", adql_ident);
    env.add_filter("id_list", id_list);
    env.add_filter("csv_list", id_list);
    env.add_function("debug", refuse_debug);
    env.add_function("hms_to_deg", |s: String| sexagesimal(&s, true));
    env.add_function("dms_to_deg", |s: String| sexagesimal(&s, false));
    env.add_function("angle_deg", |s: JValue| angle_deg_value(&s));
    env.add_function("mjd", |s: String| {
        super::normalize::iso_to_mjd(&s).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`{s}` is not an ISO date"),
            )
        })
    });
    env
}

static ENGINE: LazyLock<Environment<'static>> = LazyLock::new(environment);

/// The filters that make a value safe to splice into ADQL (`tap` queries
/// accept no other splice).
pub const ADQL_QUOTING_FILTERS: &[&str] =
    &["adql_string", "adql_number", "adql_list", "adql_ident"];

/// minijinja's `debug()` would print its whole internal state (128 lines)
/// into a message or an output; it is refused with a hint instead.
fn refuse_debug(_args: minijinja::value::Rest<JValue>) -> Result<JValue, Error> {
    Err(invalid(
        "`debug()` is not available in mastflow templates; print a value with `{{ x }}` or check a step with `mastflow plan`",
    ))
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `O'Brien` → `'O''Brien'`: a value safe to splice into ADQL as a string literal.
pub fn adql_string(v: JValue) -> Result<JValue, Error> {
    Ok(JValue::from_safe_string(string_literal(&v)?))
}

fn string_literal(v: &JValue) -> Result<String, Error> {
    let s = scalar_text(v)?;
    if s.contains('\0') {
        return Err(invalid("NUL character in ADQL string"));
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

/// A finite number as an ADQL numeric literal (`42`, `-1.5e-3`); numeric
/// text (`"12.5"`) is accepted, anything else refused.
pub fn adql_number(v: JValue) -> Result<JValue, Error> {
    Ok(JValue::from_safe_string(number_literal(&v)?))
}

fn number_literal(v: &JValue) -> Result<String, Error> {
    let text = scalar_text(v)?;
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(i.to_string());
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Value::Float(x).as_ref().display()),
        _ => Err(invalid(format!(
            "adql_number: `{text}` is not a finite number"
        ))),
    }
}

/// A list as an ADQL `IN` list: numbers bare, strings quoted: `(1, 'a''b')`.
pub fn adql_list(v: JValue) -> Result<JValue, Error> {
    let items = list_items(&v)?;
    if items.is_empty() {
        return Err(invalid(
            "adql_list of an empty list (ADQL `IN ()` is invalid)",
        ));
    }
    let parts: Result<Vec<String>, Error> = items
        .iter()
        .map(|x| {
            if x.is_number() {
                number_literal(x)
            } else if x.as_str().is_some() {
                string_literal(x)
            } else {
                Err(invalid(format!(
                    "adql_list: item of type {} is neither a string nor a number",
                    x.kind()
                )))
            }
        })
        .collect();
    Ok(JValue::from_safe_string(format!("({})", parts?.join(", "))))
}

/// A column or table name: regular identifiers (`s_ra`, `ivoa.obscore`) as
/// they are; anything else is refused, except a name written as a
/// delimited identifier (`"Mixed Case"`, quotes inside doubled).
pub fn adql_ident(v: JValue) -> Result<JValue, Error> {
    let s = scalar_text(&v)?;
    let regular = |p: &str| {
        let mut c = p.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    if !s.is_empty() && s.split('.').all(regular) {
        return Ok(JValue::from_safe_string(s));
    }
    let delimited = s.len() >= 2
        && s.starts_with('"')
        && s.ends_with('"')
        && !s[1..s.len() - 1].replace("\"\"", "").contains('"')
        && !s.contains('\0');
    if delimited {
        return Ok(JValue::from_safe_string(s));
    }
    Err(invalid(format!(
        "adql_ident: `{s}` is not an ADQL identifier (letters, digits and `_`, dotted; or a \"delimited\" name)"
    )))
}

/// A list as `a,b,c` (MAST obsid lists); refuses items containing commas.
pub fn id_list(v: JValue) -> Result<String, Error> {
    let items = list_items(&v)?;
    let mut out = Vec::with_capacity(items.len());
    for x in &items {
        let s = scalar_text(x)?;
        if s.contains(',') || s.trim().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("id_list item `{s}` is empty or contains a comma"),
            ));
        }
        out.push(s.trim().to_string());
    }
    Ok(out.join(","))
}

fn list_items(v: &JValue) -> Result<Vec<JValue>, Error> {
    if v.is_undefined() || v.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "expected a list, got null",
        ));
    }
    if v.as_str().is_some() || v.is_number() {
        return Ok(vec![v.clone()]);
    }
    Ok(v.try_iter()?.collect())
}

fn scalar_text(v: &JValue) -> Result<String, Error> {
    match Value::from_jinja(v) {
        Some(Value::Null) | None => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("expected a string or number, got {}", v.kind()),
        )),
        Some(x) => Ok(x.as_ref().display()),
    }
}

/// `23:06:29.37` (hours when `hours`, else degrees) or `-05 02 29.0` → degrees.
pub fn sexagesimal(s: &str, hours: bool) -> Result<f64, Error> {
    parse_sexagesimal(s, hours).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{s}` is not a sexagesimal angle"),
        )
    })
}

pub fn parse_sexagesimal(s: &str, hours: bool) -> Option<f64> {
    let t = s.trim();
    let neg = t.starts_with('-');
    let body = t.trim_start_matches(['-', '+']);
    let parts: Vec<&str> = body
        .split(|c: char| c == ':' || c.is_whitespace() || "hmsd°'\"".contains(c))
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut v = 0.0;
    for (i, p) in parts.iter().enumerate() {
        let x: f64 = p.parse().ok()?;
        if x < 0.0 || (i > 0 && x >= 60.0) {
            return None;
        }
        v += x / 60f64.powi(i as i32);
    }
    // astropy converts hourangle to degrees through radians, with the factor
    // (15π/180)/(π/180) = 14.999999999999998; using the same factor makes our
    // degrees bit-identical to the notebooks' `Angle(RA + ' hours').degree`.
    let v = if hours {
        v * ((15.0 * std::f64::consts::PI / 180.0) / (std::f64::consts::PI / 180.0))
    } else {
        v
    };
    Some(if neg { -v } else { v })
}

/// Right ascension: degrees (`346.62`) or sexagesimal hours (`23:06:29.37`,
/// `23h06m29.37s`). In [0, 360).
pub fn parse_ra(s: &str) -> Option<f64> {
    let t = s.trim();
    let deg = if t.contains([':', 'h', ' ']) {
        parse_sexagesimal(t, true)?
    } else {
        t.parse::<f64>().ok()?
    };
    (deg.is_finite() && (0.0..360.0).contains(&deg)).then_some(deg)
}

/// Declination: degrees (`-5.04`) or sexagesimal degrees (`-05:02:29.0`). In [-90, 90].
pub fn parse_dec(s: &str) -> Option<f64> {
    let t = s.trim();
    let deg = if t.contains([':', 'd', ' ']) {
        parse_sexagesimal(t, false)?
    } else {
        t.parse::<f64>().ok()?
    };
    (deg.is_finite() && (-90.0..=90.0).contains(&deg)).then_some(deg)
}

/// `30s`, `30"`, `2m`, `2'`, `0.5deg`, `0.5d`, `1.2arcmin`, `10arcsec`, or a bare
/// number (degrees) → degrees.
pub fn parse_angle(s: &str) -> Option<f64> {
    let t = s.trim();
    let split = t
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')
        })
        .unwrap_or(t.len());
    // `e` may start a unit (none here do), so re-split if the number fails.
    let (num, unit) = t.split_at(split);
    let x: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "" | "d" | "deg" | "degree" | "degrees" | "°" => 1.0,
        "m" | "arcmin" | "'" | "amin" => 1.0 / 60.0,
        "s" | "arcsec" | "\"" | "asec" => 1.0 / 3600.0,
        "mas" => 1.0 / 3_600_000.0,
        _ => return None,
    };
    x.is_finite().then_some(x * scale)
}

fn angle_deg_value(v: &JValue) -> Result<f64, Error> {
    if let Some(s) = v.as_str() {
        return parse_angle(s).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`{s}` is not an angle like 30s, 2m or 0.5deg"),
            )
        });
    }
    f64::try_from(v.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "angle_deg expects a string or a number",
        )
    })
}

/// A compiled row expression.
pub struct RowExpr {
    source: String,
    expr: minijinja::Expression<'static, 'static>,
    /// Top-level names the expression reads.
    pub variables: Vec<String>,
}

impl std::fmt::Debug for RowExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowExpr")
            .field("source", &self.source)
            .finish()
    }
}

/// Check an expression's syntax and list the variables it reads.
pub fn check(source: &str) -> Result<Vec<String>, String> {
    RowExpr::compile(source).map(|e| e.variables)
}

/// How deeply an expression or template may nest (brackets plus chained
/// unary `not`/`-`): the parser recurses once per level, so user input must
/// not choose the depth of the stack.
pub const MAX_DEPTH: usize = 200;

/// Refuse `source` when it nests deeper than [`MAX_DEPTH`]. Counts, outside
/// string literals, the deepest bracket nesting plus the longest chain of
/// prefix operators (`not`, `-`, `+`).
pub fn check_depth(source: &str) -> Result<(), String> {
    let depth = nesting_depth(source);
    if depth > MAX_DEPTH {
        return Err(format!(
            "expression is nested too deeply ({depth} levels of brackets and `not`/`-`; at most {MAX_DEPTH}): split it into simpler steps or derived columns"
        ));
    }
    Ok(())
}

fn nesting_depth(source: &str) -> usize {
    let (mut brackets, mut chain, mut max) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut word = String::new();
    let mut prefix_ok = true;
    for c in source.chars().chain(std::iter::once(' ')) {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            let is_not = word == "not";
            chain = if is_not { chain + 1 } else { 0 };
            prefix_ok = is_not || matches!(word.as_str(), "and" | "or" | "in" | "if" | "else");
            word.clear();
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                brackets += 1;
                prefix_ok = true;
            }
            ')' | ']' | '}' => {
                brackets = brackets.saturating_sub(1);
                prefix_ok = false;
            }
            '-' | '+' if prefix_ok => chain += 1,
            c if c.is_whitespace() => {}
            _ => {
                chain = 0;
                prefix_ok = true;
            }
        }
        max = max.max(brackets + chain);
    }
    max
}

impl RowExpr {
    pub fn compile(source: &str) -> Result<Self, String> {
        check_depth(source)?;
        let expr = ENGINE
            .compile_expression_owned(source.to_string())
            .map_err(|e| describe(&e))?;
        let mut variables: Vec<String> = expr.undeclared_variables(false).into_iter().collect();
        variables.extend(names_read(source));
        variables.sort();
        variables.dedup();
        Ok(Self {
            source: source.to_string(),
            expr,
            variables,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate on every row. `globals` supplies names that are not columns
    /// (`params`, `steps`, ...). Names that are neither are reported with a
    /// did-you-mean before any row is evaluated.
    pub fn eval_rows(
        &self,
        table: &Arc<Table>,
        globals: &HashMap<String, JValue>,
    ) -> Result<Vec<Value>, TableError> {
        let index: Arc<HashMap<String, usize>> = Arc::new(
            table
                .column_names()
                .enumerate()
                .filter(|(_, n)| self.variables.iter().any(|v| v == n))
                .map(|(i, n)| (n.to_string(), i))
                .collect(),
        );
        for v in &self.variables {
            if !index.contains_key(v)
                && !globals.contains_key(v)
                && ENGINE.globals().all(|(k, _)| k != v)
            {
                return Err(table.no_such_column(v));
            }
        }
        let globals = Arc::new(globals.clone());
        let mut out = Vec::with_capacity(table.num_rows());
        for row in 0..table.num_rows() {
            let ctx = JValue::from_object(RowCtx {
                table: table.clone(),
                index: index.clone(),
                globals: globals.clone(),
                row,
            });
            match self.expr.eval(ctx) {
                Ok(v) => out.push(Value::from_jinja(&v).ok_or_else(|| {
                    TableError::Expression(format!(
                        "`{}` gave a {} at row {row}; expressions must give a string, number, boolean or none",
                        self.source,
                        v.kind()
                    ))
                })?),
                // A failure on a row with a null input is a null result.
                Err(_) if index.values().any(|&i| table.get(row, i).is_null()) => out.push(Value::Null),
                Err(e) => {
                    return Err(TableError::Expression(format!(
                        "`{}` failed at row {row}: {}",
                        self.source,
                        describe(&e)
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Evaluate as a filter: the mask of rows where the expression is true.
    /// A null result (see the module docs) drops the row.
    pub fn mask(
        &self,
        table: &Arc<Table>,
        globals: &HashMap<String, JValue>,
    ) -> Result<Vec<bool>, TableError> {
        let values = self.eval_rows(table, globals)?;
        values
            .into_iter()
            .enumerate()
            .map(|(row, v)| match v {
                Value::Bool(b) => Ok(b),
                Value::Null => Ok(false),
                other => Err(TableError::Expression(format!(
                    "filter `{}` gave `{}` at row {row}, not true or false",
                    self.source,
                    other.as_ref().display()
                ))),
            })
            .collect()
    }

    /// Evaluate as a derived column named `name`.
    pub fn column(
        &self,
        name: &str,
        table: &Arc<Table>,
        globals: &HashMap<String, JValue>,
        hint: Option<DataType>,
    ) -> Result<Column, TableError> {
        let values = self.eval_rows(table, globals)?;
        Ok(Column::from_values(name, &values, hint))
    }
}

/// Evaluate an expression once with the given variables (no row).
pub fn eval_scalar(source: &str, vars: &HashMap<String, JValue>) -> Result<JValue, String> {
    let e = ENGINE
        .compile_expression(source)
        .map_err(|e| describe(&e))?;
    e.eval(JValue::from(
        vars.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    ))
    .map_err(|e| describe(&e))
}

/// Top-level names an expression reads, found by a small lexer. minijinja's
/// own `undeclared_variables` misses receivers of method calls
/// (`filename.split('_')`), so both are used.
pub fn names_read(src: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False",
        "None", "loop", "self",
    ];
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut prev = ' ';
    let mut prev_word = String::new();
    let mut prev2_word = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            prev = c;
            prev_word.clear();
            prev2_word.clear();
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
            let next2 = chars[i..]
                .iter()
                .filter(|c| !c.is_whitespace())
                .nth(1)
                .copied();
            let is_call = next == Some('(');
            let is_kwarg = next == Some('=') && next2 != Some('=');
            let after_attr = prev == '.' || prev == '|';
            let after_is = prev_word == "is" || (prev_word == "not" && prev2_word == "is");
            if !after_attr
                && !after_is
                && !is_call
                && !is_kwarg
                && !KEYWORDS.contains(&word.as_str())
            {
                out.push(word.clone());
            }
            prev = 'a';
            prev2_word = std::mem::replace(&mut prev_word, word);
            continue;
        }
        if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            prev = '0';
            prev_word.clear();
            continue;
        }
        if !c.is_whitespace() {
            prev = c;
            prev_word.clear();
        }
        i += 1;
    }
    out.sort();
    out.dedup();
    out
}

/// A one-line description of a minijinja error.
pub fn describe(e: &Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[derive(Debug)]
struct RowCtx {
    table: Arc<Table>,
    index: Arc<HashMap<String, usize>>,
    globals: Arc<HashMap<String, JValue>>,
    row: usize,
}

impl Object for RowCtx {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let k = key.as_str()?;
        if let Some(&i) = self.index.get(k) {
            return match self.table.get(self.row, i) {
                ValueRef::Null => None,
                v => Some(v.to_jinja()),
            };
        }
        self.globals.get(k).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<Table> {
        Arc::new(
            Table::new(vec![
                Column::from_values(
                    "t_exptime",
                    &[Value::Float(494.46), Value::Float(26552.5), Value::Null],
                    None,
                ),
                Column::from_values(
                    "calib_level",
                    &[Value::Int(2), Value::Int(3), Value::Int(3)],
                    None,
                ),
                Column::from_values(
                    "filename",
                    &[
                        Value::Str("jw01366001001_04101_00001-seg001_nis_rate.fits".into()),
                        Value::Str(
                            "jw02734-o001_t001_niriss_clear-gr700xd-substrip256_x1dints.fits"
                                .into(),
                        ),
                        Value::Null,
                    ],
                    None,
                ),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn filter_expression_with_null_semantics() {
        let e = RowExpr::compile("t_exptime > 1000 and calib_level in [2, 3]").unwrap();
        assert_eq!(
            e.mask(&table(), &HashMap::new()).unwrap(),
            vec![false, true, false]
        );
        let e = RowExpr::compile("t_exptime is null").unwrap();
        assert_eq!(
            e.mask(&table(), &HashMap::new()).unwrap(),
            vec![false, false, true]
        );
        let e = RowExpr::compile("(t_exptime | default(0)) < 1000").unwrap();
        assert_eq!(
            e.mask(&table(), &HashMap::new()).unwrap(),
            vec![true, false, true]
        );
    }

    #[test]
    fn derive_obs_id_from_filename_like_the_notebook() {
        let e = RowExpr::compile("'_'.join(filename.split('_')[:-1])").unwrap();
        let v = e.eval_rows(&table(), &HashMap::new()).unwrap();
        assert_eq!(
            v[0],
            Value::Str("jw01366001001_04101_00001-seg001_nis".into())
        );
        assert_eq!(
            v[1],
            Value::Str("jw02734-o001_t001_niriss_clear-gr700xd-substrip256".into())
        );
        assert_eq!(v[2], Value::Null);
    }

    #[test]
    fn unknown_column_has_did_you_mean() {
        let e = RowExpr::compile("t_exptim > 3").unwrap();
        let err = e.mask(&table(), &HashMap::new()).unwrap_err().to_string();
        assert!(err.contains("did you mean `t_exptime`"), "{err}");
    }

    #[test]
    fn params_as_globals() {
        let e = RowExpr::compile("t_exptime > params.min").unwrap();
        let mut g = HashMap::new();
        g.insert("params".to_string(), minijinja::context! { min => 1000 });
        assert_eq!(e.mask(&table(), &g).unwrap(), vec![false, true, false]);
    }

    #[test]
    fn quoting_filters_resist_injection() {
        let text = |r: Result<JValue, Error>| r.unwrap().as_str().unwrap().to_string();
        assert_eq!(
            text(adql_string("x' OR '1'='1".into())),
            "'x'' OR ''1''=''1'"
        );
        assert!(adql_string("a\0b".into()).is_err());
        assert_eq!(
            text(adql_list(JValue::from(vec![
                JValue::from(1),
                JValue::from("a'b")
            ]))),
            "(1, 'a''b')"
        );
        assert!(adql_list(JValue::from(Vec::<JValue>::new())).is_err());
        assert!(adql_list(JValue::from(vec![JValue::from(vec![1])])).is_err());
        assert_eq!(text(adql_number(JValue::from(42))), "42");
        assert_eq!(text(adql_number(JValue::from(-1.5e-3))), "-0.0015");
        assert_eq!(text(adql_number("12.5".into())), "12.5");
        for bad in ["1; DROP TABLE x", "1 OR 1=1", "NaN", "inf", ""] {
            assert!(adql_number(bad.into()).is_err(), "{bad}");
        }
        assert_eq!(text(adql_ident("ivoa.obscore".into())), "ivoa.obscore");
        assert_eq!(
            text(adql_ident("\"Mixed \"\"q\"\" Case\"".into())),
            "\"Mixed \"\"q\"\" Case\""
        );
        for bad in ["s_ra; --", "a b", "1col", "\"x\" OR \"y\"", "a..b", ""] {
            assert!(adql_ident(bad.into()).is_err(), "{bad}");
        }
        // Every quoting filter marks its result safe for the ADQL formatter.
        assert!(adql_string("x".into()).unwrap().is_safe());
        assert!(id_list(JValue::from(vec!["1,2"])).is_err());
        assert_eq!(
            id_list(JValue::from(vec![
                JValue::from(87742159),
                JValue::from(87742481)
            ]))
            .unwrap(),
            "87742159,87742481"
        );
    }

    #[test]
    fn names_read_finds_columns_not_methods_filters_or_tests() {
        assert_eq!(
            names_read("'_'.join(filename.split('_')[:-1])"),
            vec!["filename"]
        );
        assert_eq!(
            names_read("x is not none and y | default(0) > hms_to_deg(ra) and 'a b' in z"),
            vec!["ra", "x", "y", "z"]
        );
        assert_eq!(
            names_read("params.min < t_exptime * 2.5e3"),
            vec!["params", "t_exptime"]
        );
    }

    #[test]
    fn angles() {
        assert!((parse_angle("30s").unwrap() - 30.0 / 3600.0).abs() < 1e-15);
        assert!((parse_angle("12.0m").unwrap() - 0.2).abs() < 1e-15);
        assert_eq!(parse_angle("0.5deg"), Some(0.5));
        assert_eq!(parse_angle("2 furlongs"), None);
        let ra = parse_sexagesimal("23:06:29.3684948589", true).unwrap();
        assert!((ra - 346.622368728579).abs() < 1e-9, "{ra}");
        let dec = parse_sexagesimal("-05:02:29.037301866", false).unwrap();
        assert!((dec + 5.041399250518).abs() < 1e-9, "{dec}");
        assert_eq!(parse_sexagesimal("12:61:00", false), None);
    }
}
