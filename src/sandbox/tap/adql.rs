//! ADQL → [`Plan`]: the query is parsed by `sqlparser` (generic dialect,
//! which reads `TOP`, `OFFSET`, `ILIKE` and `"delimited"` identifiers), then
//! checked against the ADQL subset the sandbox serves and compiled to
//! expressions over column positions. Anything outside the subset is an
//! [`AdqlError`] naming the construct and where it starts; `LIMIT` is
//! refused with a hint to use `TOP`.
//!
//! Subset: `SELECT [DISTINCT] [TOP n] items FROM table [AS a] [WHERE]
//! [GROUP BY] [HAVING] [ORDER BY] [OFFSET n]` over one table; comparisons,
//! arithmetic, `||`, `[NOT] LIKE`/`ILIKE`, `[NOT] IN (list)`, `[NOT]
//! BETWEEN`, `IS [NOT] NULL`, `AND`/`OR`/`NOT`; `CONTAINS(POINT, CIRCLE |
//! BOX | POLYGON | region column)`, `DISTANCE` (2 and 4 arguments); `COUNT`,
//! `MIN`, `MAX`, `SUM`, `AVG`; ADQL's math functions, `LOWER`, `UPPER`.

use super::catalog::{Catalog, ColDef, TableDef, bare_name};
use sqlparser::ast::{
    self as sql, BinaryOperator as B, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, LimitClause, ObjectName, OrderByKind, SelectItem, SetExpr, Spanned,
    Statement, TableFactor, UnaryOperator as U,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::fmt;

/// Why a query was refused, with the position of the construct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdqlError {
    pub message: String,
    /// Line and column (from 1) where the offending construct starts.
    pub at: Option<(u64, u64)>,
}

impl fmt::Display for AdqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((l, c)) => write!(f, "{} (at line {l}, column {c})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn err<T>(message: impl Into<String>, node: &impl Spanned) -> Result<T, AdqlError> {
    let s = node.span().start;
    Err(AdqlError {
        message: message.into(),
        at: (s.line > 0).then_some((s.line, s.column)),
    })
}

fn plain_err<T>(message: impl Into<String>) -> Result<T, AdqlError> {
    Err(AdqlError {
        message: message.into(),
        at: None,
    })
}

/// Static type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Null,
}

impl Ty {
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Null)
    }
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Int => "an INTEGER",
            Ty::Float => "a DOUBLE",
            Ty::Str => "a VARCHAR",
            Ty::Null => "NULL",
        }
    }
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Scalar functions (ADQL 2.1 §2.3 math and string functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Abs,
    Ceiling,
    Floor,
    Round,
    Truncate,
    Sqrt,
    Exp,
    Log,
    Log10,
    Power,
    Mod,
    Degrees,
    Radians,
    Pi,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Lower,
    Upper,
}

const FUNCS: &[(&str, Func, usize, usize)] = &[
    ("ABS", Func::Abs, 1, 1),
    ("CEILING", Func::Ceiling, 1, 1),
    ("CEIL", Func::Ceiling, 1, 1),
    ("FLOOR", Func::Floor, 1, 1),
    ("ROUND", Func::Round, 1, 2),
    ("TRUNCATE", Func::Truncate, 1, 2),
    ("SQRT", Func::Sqrt, 1, 1),
    ("EXP", Func::Exp, 1, 1),
    ("LOG", Func::Log, 1, 1),
    ("LOG10", Func::Log10, 1, 1),
    ("POWER", Func::Power, 2, 2),
    ("MOD", Func::Mod, 2, 2),
    ("DEGREES", Func::Degrees, 1, 1),
    ("RADIANS", Func::Radians, 1, 1),
    ("PI", Func::Pi, 0, 0),
    ("SIN", Func::Sin, 1, 1),
    ("COS", Func::Cos, 1, 1),
    ("TAN", Func::Tan, 1, 1),
    ("ASIN", Func::Asin, 1, 1),
    ("ACOS", Func::Acos, 1, 1),
    ("ATAN", Func::Atan, 1, 1),
    ("ATAN2", Func::Atan2, 2, 2),
    ("LOWER", Func::Lower, 1, 1),
    ("UPPER", Func::Upper, 1, 1),
];

/// The geometry functions the sandbox implements (declared in `/capabilities`).
pub const GEOMETRY_FUNCTIONS: &[&str] =
    &["POINT", "CIRCLE", "BOX", "POLYGON", "CONTAINS", "DISTANCE"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    CountStar,
    Count,
    Min,
    Max,
    Sum,
    Avg,
}

/// One aggregate call; `E::Agg(i)` reads its value for the current group.
#[derive(Debug, Clone, PartialEq)]
pub struct Agg {
    pub func: AggFn,
    pub arg: Option<E>,
    pub distinct: bool,
}

/// A compiled expression over the columns of the queried table.
#[derive(Debug, Clone, PartialEq)]
pub enum E {
    Col(usize),
    Lit(Lit),
    Neg(Box<E>),
    Arith(Arith, Box<E>, Box<E>),
    Concat(Box<E>, Box<E>),
    Cmp(Cmp, Box<E>, Box<E>),
    And(Box<E>, Box<E>),
    Or(Box<E>, Box<E>),
    Not(Box<E>),
    IsNull(Box<E>, bool),
    /// `LIKE` (`fold`: ILIKE) against a pattern (lower-cased when folding).
    Like {
        e: Box<E>,
        pattern: Box<E>,
        fold: bool,
        negated: bool,
    },
    In(Box<E>, Vec<E>, bool),
    Between(Box<E>, Box<E>, Box<E>, bool),
    /// `CONTAINS(POINT, shape)`: 1 or 0.
    Contains(Box<G>, Box<G>),
    /// Great-circle distance in degrees.
    Distance(Box<G>, Box<G>),
    Func(Func, Vec<E>),
    Agg(usize),
}

/// A geometry argument.
#[derive(Debug, Clone, PartialEq)]
pub enum G {
    Point(E, E),
    Circle(E, E, E),
    Box(E, E, E, E),
    Polygon(Vec<(E, E)>),
    /// A column holding STC-S regions (`s_region`).
    Region(usize),
}

impl E {
    /// Whether the expression reads no column (a constant).
    pub fn is_const(&self) -> bool {
        let mut c = true;
        self.walk(&mut |e| c &= !matches!(e, E::Col(_) | E::Agg(_)));
        c
    }

    fn walk(&self, f: &mut dyn FnMut(&E)) {
        f(self);
        let geo = |g: &G, f: &mut dyn FnMut(&E)| match g {
            G::Point(a, b) => [a, b].iter().for_each(|e| e.walk(f)),
            G::Circle(a, b, c) => [a, b, c].iter().for_each(|e| e.walk(f)),
            G::Box(a, b, c, d) => [a, b, c, d].iter().for_each(|e| e.walk(f)),
            G::Polygon(v) => v.iter().for_each(|(a, b)| {
                a.walk(f);
                b.walk(f);
            }),
            G::Region(_) => f(&E::Col(usize::MAX)),
        };
        match self {
            E::Col(_) | E::Lit(_) | E::Agg(_) => {}
            E::Neg(a) | E::Not(a) | E::IsNull(a, _) => a.walk(f),
            E::Arith(_, a, b) | E::Concat(a, b) | E::Cmp(_, a, b) | E::And(a, b) | E::Or(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            E::Like { e, pattern, .. } => {
                e.walk(f);
                pattern.walk(f);
            }
            E::In(a, list, _) => {
                a.walk(f);
                list.iter().for_each(|e| e.walk(f));
            }
            E::Between(a, b, c, _) => [a, b, c].iter().for_each(|e| e.walk(f)),
            E::Contains(a, b) | E::Distance(a, b) => {
                geo(a, f);
                geo(b, f);
            }
            E::Func(_, args) => args.iter().for_each(|e| e.walk(f)),
        }
    }
}

/// Metadata of an output column: the table column it is, or what it computes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutCol {
    pub name: String,
    pub expr: E,
    pub ty: Ty,
    /// Set when the item is a plain column (its TAP_SCHEMA metadata).
    pub column: Option<ColDef>,
    /// UCD and unit of computed items (`COUNT`, `DISTANCE`).
    pub ucd: Option<&'static str>,
    pub unit: Option<&'static str>,
}

/// An index-assisted cone: the rows whose position or footprint may meet
/// `shape` (constant expressions) come from the HEALPix index.
#[derive(Debug, Clone, PartialEq)]
pub enum ConeHint {
    /// `(s_ra, s_dec)` within the constant shape.
    Position(G),
    /// `DISTANCE((s_ra, s_dec), (ra, dec)) <= r`.
    Distance(E, E, E),
    /// The footprint contains the constant point.
    Footprint(E, E),
}

/// A checked, compiled query over one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub table: usize,
    pub distinct: bool,
    pub top: Option<u64>,
    pub offset: u64,
    pub items: Vec<OutCol>,
    pub filter: Option<E>,
    pub group_by: Vec<E>,
    pub having: Option<E>,
    pub aggs: Vec<Agg>,
    pub order: Vec<(E, bool, bool)>,
    /// Aggregated output (GROUP BY or aggregate functions).
    pub aggregate: bool,
    pub cone: Option<ConeHint>,
}

/// Parse and compile `query` against the catalog.
pub fn compile(query: &str, cat: &Catalog) -> Result<Plan, AdqlError> {
    let q = parse_query(query)?;
    let select = match q.body.as_ref() {
        SetExpr::Select(s) => s.as_ref(),
        SetExpr::SetOperation { op, .. } => {
            return err(format!("{op} is not supported by the sandbox"), &*q.body);
        }
        other => return err("only SELECT queries are supported", other),
    };
    check_query_clauses(&q)?;
    check_select_clauses(select)?;
    let (table, alias) = from_table(select, cat)?;
    let mut cx = Cx {
        def: &cat.tables[table],
        alias,
        aggs: Vec::new(),
        allow_aggs: true,
    };
    let items = select_items(&mut cx, &select.projection)?;
    let filter = where_clause(&mut cx, select.selection.as_ref())?;
    let group_by = group_by(&mut cx, &select.group_by, &items)?;
    cx.allow_aggs = true;
    let having = match &select.having {
        Some(h) => Some(boolean(&mut cx, h, "HAVING")?),
        None => None,
    };
    let order = order_by(&mut cx, q.order_by.as_ref(), &items)?;
    let aggregate = !group_by.is_empty() || !cx.aggs.is_empty();
    let cone = filter.as_ref().and_then(|f| cone_hint(f, cx.def));
    Ok(Plan {
        table,
        distinct: distinct(select)?,
        top: top(select)?,
        offset: offset(&q)?,
        items,
        filter,
        group_by,
        having,
        aggs: cx.aggs,
        order,
        aggregate,
        cone,
    })
}

fn parse_query(query: &str) -> Result<Box<sql::Query>, AdqlError> {
    if query.trim().is_empty() {
        return plain_err("the query is empty");
    }
    let mut stmts = Parser::parse_sql(&GenericDialect {}, query).map_err(|e| AdqlError {
        message: format!("ADQL syntax error: {}", parser_message(&e)),
        at: None,
    })?;
    if stmts.len() != 1 {
        return plain_err("exactly one SELECT statement is allowed");
    }
    match stmts.pop() {
        Some(Statement::Query(q)) => Ok(q),
        Some(other) => err("only SELECT queries are supported", &other),
        None => plain_err("the query is empty"),
    }
}

fn parser_message(e: &sqlparser::parser::ParserError) -> String {
    use sqlparser::parser::ParserError as P;
    match e {
        P::TokenizerError(m) | P::ParserError(m) => m.replace("sql parser error: ", ""),
        P::RecursionLimitExceeded => "the query nests too deeply".to_string(),
    }
}

fn check_query_clauses(q: &sql::Query) -> Result<(), AdqlError> {
    if let Some(w) = &q.with {
        return err(
            "WITH (common table expressions) is not supported by the sandbox",
            w,
        );
    }
    if let Some(l) = &q.limit_clause {
        let limit = match l {
            LimitClause::LimitOffset { limit, .. } => limit.as_ref(),
            LimitClause::OffsetCommaLimit { limit, .. } => Some(limit),
        };
        if let Some(e) = limit {
            return err("LIMIT is not ADQL: use SELECT TOP n … instead", e);
        }
    }
    if q.fetch.is_some() {
        return plain_err("FETCH is not ADQL: use SELECT TOP n … instead");
    }
    if !q.locks.is_empty() || q.for_clause.is_some() || q.settings.is_some() {
        return plain_err("FOR/SETTINGS clauses are not ADQL");
    }
    Ok(())
}

fn check_select_clauses(s: &sql::Select) -> Result<(), AdqlError> {
    if s.into.is_some() {
        return plain_err("SELECT INTO is not ADQL");
    }
    if !s.lateral_views.is_empty() || s.qualify.is_some() || !s.named_window.is_empty() {
        return plain_err("LATERAL VIEW, QUALIFY and WINDOW are not ADQL");
    }
    if !s.sort_by.is_empty() || !s.cluster_by.is_empty() || !s.distribute_by.is_empty() {
        return plain_err("SORT/CLUSTER/DISTRIBUTE BY are not ADQL: use ORDER BY");
    }
    Ok(())
}

fn distinct(s: &sql::Select) -> Result<bool, AdqlError> {
    match &s.distinct {
        None | Some(sql::Distinct::All) => Ok(false),
        Some(sql::Distinct::Distinct) => Ok(true),
        Some(_) => plain_err("DISTINCT ON is not ADQL"),
    }
}

fn top(s: &sql::Select) -> Result<Option<u64>, AdqlError> {
    let Some(t) = &s.top else { return Ok(None) };
    if t.percent || t.with_ties {
        return plain_err("TOP … PERCENT / WITH TIES is not ADQL: write TOP n");
    }
    match &t.quantity {
        Some(sql::TopQuantity::Constant(n)) => Ok(Some(*n)),
        Some(sql::TopQuantity::Expr(e)) => non_negative(e, "TOP").map(Some),
        None => Ok(None),
    }
}

fn non_negative(e: &Expr, what: &str) -> Result<u64, AdqlError> {
    if let Expr::Value(v) = e {
        if let sql::Value::Number(n, _) = &v.value {
            if let Ok(x) = n.parse::<u64>() {
                return Ok(x);
            }
        }
    }
    err(
        format!("{what} needs a non-negative integer literal, found `{e}`"),
        e,
    )
}

fn offset(q: &sql::Query) -> Result<u64, AdqlError> {
    match &q.limit_clause {
        Some(LimitClause::LimitOffset {
            offset: Some(o), ..
        }) => non_negative(&o.value, "OFFSET"),
        _ => Ok(0),
    }
}

/// The one table of the FROM clause and its alias.
fn from_table(s: &sql::Select, cat: &Catalog) -> Result<(usize, Option<String>), AdqlError> {
    let Some(first) = s.from.first() else {
        return plain_err("a FROM clause naming one table is required");
    };
    if s.from.len() > 1 {
        return err(
            "the sandbox queries one table: comma joins are not supported",
            &s.from[1],
        );
    }
    if let Some(j) = first.joins.first() {
        return err(
            "JOIN is not supported by the sandbox: query one table",
            &j.relation,
        );
    }
    let TableFactor::Table {
        name, alias, args, ..
    } = &first.relation
    else {
        return err(
            "only a table name is allowed in FROM (no subqueries or table functions)",
            &first.relation,
        );
    };
    if args.is_some() {
        return err("table functions are not ADQL", name);
    }
    let text = object_name(name);
    let Some(i) = cat.find(&text) else {
        let known: Vec<&str> = cat.tables.iter().map(|t| t.name.as_str()).collect();
        return err(
            format!("unknown table '{text}'; tables: {}", known.join(", ")),
            name,
        );
    };
    Ok((i, alias.as_ref().map(|a| a.name.value.clone())))
}

fn object_name(n: &ObjectName) -> String {
    n.0.iter()
        .map(|p| match p.as_ident() {
            Some(i) => i.value.clone(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

// ---------------------------------------------------------------- expressions

/// Compilation context: the table, its alias, aggregates seen so far.
struct Cx<'a> {
    def: &'a TableDef,
    alias: Option<String>,
    aggs: Vec<Agg>,
    allow_aggs: bool,
}

impl Cx<'_> {
    /// Column position of an identifier: case-insensitive unless delimited.
    fn column(&self, id: &Ident) -> Option<usize> {
        self.def.columns.iter().position(|c| {
            let n = bare_name(&c.name);
            if id.quote_style.is_some() {
                n == id.value
            } else {
                n.eq_ignore_ascii_case(&id.value)
            }
        })
    }

    fn qualifier_ok(&self, parts: &[Ident]) -> bool {
        let q: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
        let q = q.join(".");
        let table = &self.def.name;
        let bare = &table[self.def.schema.len() + 1..];
        match &self.alias {
            Some(a) => q.eq_ignore_ascii_case(a),
            None => q.eq_ignore_ascii_case(table) || q.eq_ignore_ascii_case(bare),
        }
    }

    fn resolve(&self, parts: &[Ident], node: &Expr) -> Result<usize, AdqlError> {
        let (col, qual) = parts.split_last().expect("identifiers have a part");
        if !qual.is_empty() && !self.qualifier_ok(qual) {
            let q: Vec<&str> = qual.iter().map(|p| p.value.as_str()).collect();
            return err(
                format!(
                    "unknown table or alias '{}' (the query reads {}{})",
                    q.join("."),
                    self.def.name,
                    self.alias
                        .as_ref()
                        .map(|a| format!(" AS {a}"))
                        .unwrap_or_default()
                ),
                node,
            );
        }
        self.column(col).ok_or_else(|| {
            let names = self.def.columns.iter().map(|c| bare_name(&c.name));
            let hint = crate::util::did_you_mean(&col.value, names)
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            AdqlError {
                message: format!("unknown column '{}' in {}{hint}", col.value, self.def.name),
                at: Some((col.span.start.line, col.span.start.column)).filter(|p| p.0 > 0),
            }
        })
    }
}

type Typed = (E, Ty);

fn expr(cx: &mut Cx<'_>, e: &Expr) -> Result<Typed, AdqlError> {
    match e {
        Expr::Identifier(id) => {
            let i = cx.resolve(std::slice::from_ref(id), e)?;
            Ok((E::Col(i), col_ty(&cx.def.columns[i])))
        }
        Expr::CompoundIdentifier(parts) => {
            let i = cx.resolve(parts, e)?;
            Ok((E::Col(i), col_ty(&cx.def.columns[i])))
        }
        Expr::Value(v) => literal(&v.value, e),
        Expr::Nested(inner) => expr(cx, inner),
        Expr::UnaryOp { op, expr: inner } => unary(cx, *op, inner, e),
        Expr::BinaryOp { left, op, right } => binary(cx, left, op, right, e),
        Expr::IsNull(a) => Ok((E::IsNull(Box::new(expr(cx, a)?.0), false), Ty::Bool)),
        Expr::IsNotNull(a) => Ok((E::IsNull(Box::new(expr(cx, a)?.0), true), Ty::Bool)),
        Expr::Like {
            negated,
            any,
            expr: a,
            pattern,
            escape_char,
        }
        | Expr::ILike {
            negated,
            any,
            expr: a,
            pattern,
            escape_char,
        } => {
            let flags = (*negated, *any, escape_char.is_some());
            like(cx, flags, a, pattern, matches!(e, Expr::ILike { .. }), e)
        }
        Expr::In {
            expr: a,
            target: sql::InTarget::List(list),
            negated,
            global: false,
        } => in_list(cx, a, list, *negated),
        Expr::Between {
            expr: a,
            negated,
            low,
            high,
        } => between(cx, a, low, high, *negated),
        Expr::Function(f) => function(cx, f, e),
        Expr::Floor { expr: a, field } | Expr::Ceil { expr: a, field } => {
            if !matches!(
                field,
                sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime)
            ) {
                return err(format!("unsupported form `{e}`"), e);
            }
            let func = if matches!(e, Expr::Floor { .. }) {
                Func::Floor
            } else {
                Func::Ceiling
            };
            let x = number(cx, a)?;
            Ok((E::Func(func, vec![x]), Ty::Float))
        }
        Expr::In { .. } | Expr::Subquery(_) | Expr::Exists { .. } => {
            err("subqueries are not supported by the sandbox", e)
        }
        Expr::Cast { .. } => err("CAST is not supported by the sandbox", e),
        Expr::Case { .. } => err("CASE is not supported by the sandbox", e),
        _ => err(format!("unsupported ADQL construct `{e}`"), e),
    }
}

fn col_ty(c: &ColDef) -> Ty {
    match c.dtype() {
        crate::table::DataType::Bool => Ty::Bool,
        crate::table::DataType::Int => Ty::Int,
        crate::table::DataType::Float => Ty::Float,
        crate::table::DataType::String => Ty::Str,
    }
}

fn literal(v: &sql::Value, node: &Expr) -> Result<Typed, AdqlError> {
    match v {
        sql::Value::Number(n, _) => {
            if let Ok(i) = n.parse::<i64>() {
                return Ok((E::Lit(Lit::Int(i)), Ty::Int));
            }
            match n.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok((E::Lit(Lit::Float(f)), Ty::Float)),
                _ => err(format!("invalid number `{n}`"), node),
            }
        }
        sql::Value::SingleQuotedString(s) => Ok((E::Lit(Lit::Str(s.clone())), Ty::Str)),
        sql::Value::Boolean(b) => Ok((E::Lit(Lit::Bool(*b)), Ty::Bool)),
        sql::Value::Null => Ok((E::Lit(Lit::Null), Ty::Null)),
        other => err(format!("unsupported literal `{other}`"), node),
    }
}

fn unary(cx: &mut Cx<'_>, op: U, inner: &Expr, node: &Expr) -> Result<Typed, AdqlError> {
    let (a, t) = expr(cx, inner)?;
    match op {
        U::Minus if t.numeric() => Ok((E::Neg(Box::new(a)), t)),
        U::Plus if t.numeric() => Ok((a, t)),
        U::Not if matches!(t, Ty::Bool | Ty::Null) => Ok((E::Not(Box::new(a)), Ty::Bool)),
        U::Minus | U::Plus => err(format!("cannot negate {}", t.name()), node),
        U::Not => err(format!("NOT needs a condition, not {}", t.name()), node),
        other => err(format!("unsupported operator `{other}`"), node),
    }
}

fn binary(cx: &mut Cx<'_>, l: &Expr, op: &B, r: &Expr, node: &Expr) -> Result<Typed, AdqlError> {
    let (a, ta) = expr(cx, l)?;
    let (b, tb) = expr(cx, r)?;
    let (a, b) = (Box::new(a), Box::new(b));
    let arith = |op: Arith| -> Result<Typed, AdqlError> {
        if !(ta.numeric() && tb.numeric()) {
            return err(
                format!(
                    "arithmetic needs numbers, found {} and {}",
                    ta.name(),
                    tb.name()
                ),
                node,
            );
        }
        let t = if ta == Ty::Float || tb == Ty::Float {
            Ty::Float
        } else {
            Ty::Int
        };
        Ok((E::Arith(op, a.clone(), b.clone()), t))
    };
    let cmp = |op: Cmp| -> Result<Typed, AdqlError> {
        let ok = (ta.numeric() && tb.numeric()) || ta == tb || ta == Ty::Null || tb == Ty::Null;
        if !ok {
            return err(
                format!("cannot compare {} with {}", ta.name(), tb.name()),
                node,
            );
        }
        Ok((E::Cmp(op, a.clone(), b.clone()), Ty::Bool))
    };
    let logic = |and: bool| -> Result<Typed, AdqlError> {
        for (t, side) in [(ta, l), (tb, r)] {
            if !matches!(t, Ty::Bool | Ty::Null) {
                return err(condition_hint(side, t), side);
            }
        }
        let e = if and {
            E::And(a.clone(), b.clone())
        } else {
            E::Or(a.clone(), b.clone())
        };
        Ok((e, Ty::Bool))
    };
    match op {
        B::Plus => arith(Arith::Add),
        B::Minus => arith(Arith::Sub),
        B::Multiply => arith(Arith::Mul),
        B::Divide => arith(Arith::Div),
        B::Modulo => arith(Arith::Mod),
        B::StringConcat => Ok((E::Concat(a, b), Ty::Str)),
        B::Eq => cmp(Cmp::Eq),
        B::NotEq => cmp(Cmp::Ne),
        B::Lt => cmp(Cmp::Lt),
        B::LtEq => cmp(Cmp::Le),
        B::Gt => cmp(Cmp::Gt),
        B::GtEq => cmp(Cmp::Ge),
        B::And => logic(true),
        B::Or => logic(false),
        other => err(format!("unsupported operator `{other}`"), node),
    }
}

fn condition_hint(e: &Expr, t: Ty) -> String {
    let text = e.to_string();
    if text.to_ascii_uppercase().starts_with("CONTAINS") {
        format!("CONTAINS returns 1 or 0: write 1 = {text}")
    } else {
        format!("expected a condition, found {} (`{text}`)", t.name())
    }
}

fn boolean(cx: &mut Cx<'_>, e: &Expr, clause: &str) -> Result<E, AdqlError> {
    let (c, t) = expr(cx, e)?;
    match t {
        Ty::Bool | Ty::Null => Ok(c),
        _ => err(format!("{clause}: {}", condition_hint(e, t)), e),
    }
}

fn like(
    cx: &mut Cx<'_>,
    (negated, any, escape): (bool, bool, bool),
    a: &Expr,
    pattern: &Expr,
    fold: bool,
    node: &Expr,
) -> Result<Typed, AdqlError> {
    if any || escape {
        return err(
            "LIKE ANY and LIKE … ESCAPE are not supported by the sandbox",
            node,
        );
    }
    let (x, tx) = expr(cx, a)?;
    let (p, tp) = expr(cx, pattern)?;
    if !matches!(tx, Ty::Str | Ty::Null) || !matches!(tp, Ty::Str | Ty::Null) {
        return err("LIKE compares strings", node);
    }
    let p = match (p, fold) {
        (E::Lit(Lit::Str(s)), true) => E::Lit(Lit::Str(s.to_ascii_lowercase())),
        (p, _) => p,
    };
    let e = E::Like {
        e: Box::new(x),
        pattern: Box::new(p),
        fold,
        negated,
    };
    Ok((e, Ty::Bool))
}

fn in_list(cx: &mut Cx<'_>, a: &Expr, list: &[Expr], negated: bool) -> Result<Typed, AdqlError> {
    let (x, tx) = expr(cx, a)?;
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let (e, t) = expr(cx, item)?;
        if !(tx == t || (tx.numeric() && t.numeric()) || t == Ty::Null || tx == Ty::Null) {
            return err(
                format!("IN list mixes {} with {}", tx.name(), t.name()),
                item,
            );
        }
        items.push(e);
    }
    Ok((E::In(Box::new(x), items, negated), Ty::Bool))
}

fn between(
    cx: &mut Cx<'_>,
    a: &Expr,
    lo: &Expr,
    hi: &Expr,
    negated: bool,
) -> Result<Typed, AdqlError> {
    let (x, tx) = expr(cx, a)?;
    let (l, tl) = expr(cx, lo)?;
    let (h, th) = expr(cx, hi)?;
    for (t, side) in [(tl, lo), (th, hi)] {
        if !(tx == t || (tx.numeric() && t.numeric()) || t == Ty::Null) {
            return err(
                format!("BETWEEN compares {} with {}", tx.name(), t.name()),
                side,
            );
        }
    }
    let e = E::Between(Box::new(x), Box::new(l), Box::new(h), negated);
    Ok((e, Ty::Bool))
}

// ---------------------------------------------------------------- functions

/// The plain arguments of a call (a `*` is `None`).
fn call_args(f: &sql::Function) -> Result<(Vec<Option<&Expr>>, bool), AdqlError> {
    let list = match &f.args {
        FunctionArguments::None => return Ok((Vec::new(), false)),
        FunctionArguments::List(l) => l,
        FunctionArguments::Subquery(q) => {
            return err("subqueries are not supported by the sandbox", &**q);
        }
    };
    if !list.clauses.is_empty() {
        return err(format!("unsupported clause in `{f}`"), f);
    }
    let distinct = matches!(
        list.duplicate_treatment,
        Some(sql::DuplicateTreatment::Distinct)
    );
    let mut out = Vec::with_capacity(list.args.len());
    for a in &list.args {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(Some(e)),
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => out.push(None),
            _ => return err(format!("unsupported argument `{a}`"), f),
        }
    }
    Ok((out, distinct))
}

fn function(cx: &mut Cx<'_>, f: &sql::Function, node: &Expr) -> Result<Typed, AdqlError> {
    if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
        return err("FILTER, OVER and WITHIN GROUP are not ADQL", node);
    }
    let name = object_name(&f.name).to_ascii_uppercase();
    let (args, distinct) = call_args(f)?;
    match name.as_str() {
        "COUNT" | "MIN" | "MAX" | "SUM" | "AVG" => aggregate(cx, &name, &args, distinct, node),
        "CONTAINS" => {
            let [a, b] = two(&args, &name, node)?;
            let p = geometry(cx, a)?;
            if !matches!(p, G::Point(..)) {
                return err(
                    "the sandbox's CONTAINS takes a POINT as its first argument",
                    a,
                );
            }
            let s = geometry(cx, b)?;
            if matches!(s, G::Point(..)) {
                return err(
                    "CONTAINS needs a CIRCLE, BOX, POLYGON or region as its second argument",
                    b,
                );
            }
            Ok((E::Contains(Box::new(p), Box::new(s)), Ty::Int))
        }
        "DISTANCE" => distance(cx, &args, node),
        "POINT" | "CIRCLE" | "BOX" | "POLYGON" | "REGION" => err(
            format!("{name} can only be an argument of CONTAINS or DISTANCE in the sandbox"),
            node,
        ),
        "INTERSECTS" | "AREA" | "CENTROID" | "COORD1" | "COORD2" | "COORDSYS" => err(
            format!(
                "{name} is not supported by the sandbox (its geometry functions: {})",
                GEOMETRY_FUNCTIONS.join(", ")
            ),
            node,
        ),
        _ => scalar(cx, &name, &args, node),
    }
}

fn two<'a>(args: &[Option<&'a Expr>], name: &str, node: &Expr) -> Result<[&'a Expr; 2], AdqlError> {
    match args {
        [Some(a), Some(b)] => Ok([a, b]),
        _ => err(format!("{name} takes two arguments"), node),
    }
}

fn distance(cx: &mut Cx<'_>, args: &[Option<&Expr>], node: &Expr) -> Result<Typed, AdqlError> {
    let (p, q) = match args {
        [Some(a), Some(b)] => (geometry(cx, a)?, geometry(cx, b)?),
        [Some(a), Some(b), Some(c), Some(d)] => (
            G::Point(number(cx, a)?, number(cx, b)?),
            G::Point(number(cx, c)?, number(cx, d)?),
        ),
        _ => {
            return err(
                "DISTANCE takes two POINTs or four numbers (lon1, lat1, lon2, lat2)",
                node,
            );
        }
    };
    if !matches!((&p, &q), (G::Point(..), G::Point(..))) {
        return err("DISTANCE takes two POINTs", node);
    }
    Ok((E::Distance(Box::new(p), Box::new(q)), Ty::Float))
}

fn number(cx: &mut Cx<'_>, e: &Expr) -> Result<E, AdqlError> {
    let (x, t) = expr(cx, e)?;
    if !t.numeric() {
        return err(format!("expected a number, found {}", t.name()), e);
    }
    Ok(x)
}

/// A geometry: `POINT`, `CIRCLE`, `BOX`, `POLYGON` (optional leading frame
/// literal, which only labels the coordinates) or a region column.
fn geometry(cx: &mut Cx<'_>, e: &Expr) -> Result<G, AdqlError> {
    if let Expr::Identifier(_) | Expr::CompoundIdentifier(_) = e {
        let (E::Col(i), _) = expr(cx, e)? else {
            unreachable!("identifiers compile to columns")
        };
        if cx.def.columns[i].is_region() {
            return Ok(G::Region(i));
        }
        return err(
            format!(
                "'{}' is not a region column: expected POINT, CIRCLE, BOX or POLYGON",
                cx.def.columns[i].name
            ),
            e,
        );
    }
    let Expr::Function(f) = e else {
        return err(
            format!("expected a geometry (POINT, CIRCLE, BOX, POLYGON), found `{e}`"),
            e,
        );
    };
    let name = object_name(&f.name).to_ascii_uppercase();
    let (args, _) = call_args(f)?;
    let mut nums: Vec<&Expr> = args
        .iter()
        .map(|a| a.ok_or(()))
        .collect::<Result<_, _>>()
        .or_else(|_| err("`*` is not a coordinate", e))?;
    if let Some(Expr::Value(v)) = nums.first() {
        if matches!(v.value, sql::Value::SingleQuotedString(_)) {
            nums.remove(0);
        }
    }
    let mut n = Vec::with_capacity(nums.len());
    for a in &nums {
        n.push(number(cx, a)?);
    }
    let arity = |k: usize| -> Result<(), AdqlError> {
        if n.len() == k {
            Ok(())
        } else {
            err(
                format!(
                    "{name} takes {k} numbers (after an optional frame), found {}",
                    n.len()
                ),
                e,
            )
        }
    };
    match name.as_str() {
        "POINT" => {
            arity(2)?;
            let mut it = n.into_iter();
            Ok(G::Point(next(&mut it), next(&mut it)))
        }
        "CIRCLE" => {
            arity(3)?;
            let mut it = n.into_iter();
            Ok(G::Circle(next(&mut it), next(&mut it), next(&mut it)))
        }
        "BOX" => {
            arity(4)?;
            let mut it = n.into_iter();
            Ok(G::Box(
                next(&mut it),
                next(&mut it),
                next(&mut it),
                next(&mut it),
            ))
        }
        "POLYGON" => {
            if n.len() < 6 || n.len() % 2 != 0 {
                return err("POLYGON takes at least three vertices (lon, lat pairs)", e);
            }
            let mut it = n.into_iter();
            let mut v = Vec::new();
            while let (Some(a), Some(b)) = (it.next(), it.next()) {
                v.push((a, b));
            }
            Ok(G::Polygon(v))
        }
        _ => err(
            format!("expected a geometry (POINT, CIRCLE, BOX, POLYGON), found {name}"),
            e,
        ),
    }
}

fn next(it: &mut impl Iterator<Item = E>) -> E {
    it.next().unwrap_or(E::Lit(Lit::Null))
}

fn aggregate(
    cx: &mut Cx<'_>,
    name: &str,
    args: &[Option<&Expr>],
    distinct: bool,
    node: &Expr,
) -> Result<Typed, AdqlError> {
    if !cx.allow_aggs {
        return err(
            format!("{name} is an aggregate: not allowed in WHERE or GROUP BY"),
            node,
        );
    }
    let (func, arg, ty) = match (name, args) {
        ("COUNT", [None]) => (AggFn::CountStar, None, Ty::Int),
        (_, [Some(a)]) => {
            cx.allow_aggs = false;
            let compiled = expr(cx, a);
            cx.allow_aggs = true;
            let (e, t) = compiled?;
            let (f, ty) = match name {
                "COUNT" => (AggFn::Count, Ty::Int),
                "MIN" => (AggFn::Min, t),
                "MAX" => (AggFn::Max, t),
                "SUM" if t.numeric() => {
                    (AggFn::Sum, if t == Ty::Float { Ty::Float } else { Ty::Int })
                }
                "AVG" if t.numeric() => (AggFn::Avg, Ty::Float),
                _ => return err(format!("{name} needs a number, found {}", t.name()), *a),
            };
            (f, Some(e), ty)
        }
        _ => {
            return err(
                format!("{name} takes one argument (COUNT also takes *)"),
                node,
            );
        }
    };
    cx.aggs.push(Agg {
        func,
        arg,
        distinct,
    });
    Ok((E::Agg(cx.aggs.len() - 1), ty))
}

fn scalar(
    cx: &mut Cx<'_>,
    name: &str,
    args: &[Option<&Expr>],
    node: &Expr,
) -> Result<Typed, AdqlError> {
    let Some(&(_, func, lo, hi)) = FUNCS.iter().find(|f| f.0 == name) else {
        let known: Vec<&str> = FUNCS.iter().map(|f| f.0).collect();
        return err(
            format!(
                "function {name} is not supported by the sandbox; supported: COUNT, MIN, MAX, SUM, AVG, {}, {}",
                GEOMETRY_FUNCTIONS.join(", "),
                known.join(", ")
            ),
            node,
        );
    };
    if args.len() < lo || args.len() > hi {
        return err(
            format!(
                "{name} takes {lo}{} argument(s)",
                if hi > lo {
                    format!("–{hi}")
                } else {
                    String::new()
                }
            ),
            node,
        );
    }
    let mut out = Vec::with_capacity(args.len());
    let mut tys = Vec::with_capacity(args.len());
    for a in args {
        let Some(a) = a else {
            return err(format!("`*` is not an argument of {name}"), node);
        };
        let (e, t) = expr(cx, a)?;
        out.push(e);
        tys.push(t);
    }
    let strings = matches!(func, Func::Lower | Func::Upper);
    for (t, a) in tys.iter().zip(args.iter().flatten()) {
        let ok = if strings {
            matches!(t, Ty::Str | Ty::Null)
        } else {
            t.numeric()
        };
        if !ok {
            return err(format!("{name} does not take {}", t.name()), *a);
        }
    }
    let ty = match func {
        Func::Lower | Func::Upper => Ty::Str,
        Func::Abs if tys[0] == Ty::Int => Ty::Int,
        Func::Mod if tys.iter().all(|t| *t == Ty::Int) => Ty::Int,
        _ => Ty::Float,
    };
    Ok((E::Func(func, out), ty))
}

// ---------------------------------------------------------------- clauses

fn default_name(e: &Expr, col: Option<&ColDef>, i: usize) -> String {
    if let Some(c) = col {
        return bare_name(&c.name).to_string();
    }
    match e {
        Expr::Function(f) => object_name(&f.name).to_ascii_lowercase(),
        _ => format!("col{}", i + 1),
    }
}

fn out_col(
    cx: &mut Cx<'_>,
    e: &Expr,
    alias: Option<&Ident>,
    i: usize,
) -> Result<OutCol, AdqlError> {
    let (x, ty) = expr(cx, e)?;
    let column = match x {
        E::Col(c) => Some(cx.def.columns[c].clone()),
        _ => None,
    };
    let (ucd, unit) = match &x {
        E::Agg(a) if matches!(cx.aggs[*a].func, AggFn::Count | AggFn::CountStar) => {
            (Some("meta.number"), None)
        }
        E::Distance(..) => (Some("pos.angDistance"), Some("deg")),
        _ => (None, None),
    };
    let name = alias.map_or_else(|| default_name(e, column.as_ref(), i), |a| a.value.clone());
    Ok(OutCol {
        name,
        expr: x,
        ty,
        column,
        ucd,
        unit,
    })
}

fn select_items(cx: &mut Cx<'_>, items: &[SelectItem]) -> Result<Vec<OutCol>, AdqlError> {
    let mut out = Vec::new();
    for item in items {
        match item {
            SelectItem::UnnamedExpr(e) => out.push(out_col(cx, e, None, out.len())?),
            SelectItem::ExprWithAlias { expr: e, alias } => {
                out.push(out_col(cx, e, Some(alias), out.len())?)
            }
            SelectItem::Wildcard(_) => star(cx, &mut out),
            SelectItem::QualifiedWildcard(
                sql::SelectItemQualifiedWildcardKind::ObjectName(n),
                _,
            ) => {
                let parts: Vec<Ident> = n.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
                if !cx.qualifier_ok(&parts) {
                    return err(format!("unknown table or alias '{n}'"), n);
                }
                star(cx, &mut out);
            }
            other => return err(format!("unsupported select item `{other}`"), other),
        }
    }
    if out.is_empty() {
        return plain_err("the select list is empty");
    }
    Ok(out)
}

fn star(cx: &Cx<'_>, out: &mut Vec<OutCol>) {
    for (i, c) in cx.def.columns.iter().enumerate() {
        out.push(OutCol {
            name: bare_name(&c.name).to_string(),
            expr: E::Col(i),
            ty: col_ty(c),
            column: Some(c.clone()),
            ucd: None,
            unit: None,
        });
    }
}

fn where_clause(cx: &mut Cx<'_>, w: Option<&Expr>) -> Result<Option<E>, AdqlError> {
    let Some(w) = w else { return Ok(None) };
    cx.allow_aggs = false;
    let c = boolean(cx, w, "WHERE");
    cx.allow_aggs = true;
    c.map(Some)
}

/// An output alias (`ORDER BY n`, `GROUP BY alias`) or a position.
fn output_ref(e: &Expr, items: &[OutCol]) -> Option<E> {
    match e {
        Expr::Identifier(id) if id.quote_style.is_none() => items
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&id.value) && !matches!(o.expr, E::Col(_)))
            .map(|o| o.expr.clone()),
        Expr::Identifier(id) => items
            .iter()
            .find(|o| o.name == id.value && !matches!(o.expr, E::Col(_)))
            .map(|o| o.expr.clone()),
        _ => None,
    }
}

fn group_by(cx: &mut Cx<'_>, g: &GroupByExpr, items: &[OutCol]) -> Result<Vec<E>, AdqlError> {
    let GroupByExpr::Expressions(list, mods) = g else {
        return plain_err("GROUP BY ALL is not ADQL");
    };
    if !mods.is_empty() {
        return plain_err("GROUP BY modifiers (ROLLUP, CUBE…) are not ADQL");
    }
    let mut out = Vec::with_capacity(list.len());
    cx.allow_aggs = false;
    for e in list {
        let x = match output_ref(e, items) {
            Some(x) => x,
            None => expr(cx, e)?.0,
        };
        out.push(x);
    }
    Ok(out)
}

fn order_by(
    cx: &mut Cx<'_>,
    o: Option<&sql::OrderBy>,
    items: &[OutCol],
) -> Result<Vec<(E, bool, bool)>, AdqlError> {
    let Some(o) = o else { return Ok(Vec::new()) };
    let OrderByKind::Expressions(list) = &o.kind else {
        return plain_err("ORDER BY ALL is not ADQL");
    };
    let mut out = Vec::with_capacity(list.len());
    for k in list {
        let desc = match &k.options.sort {
            None | Some(sql::OrderBySort::Asc) => false,
            Some(sql::OrderBySort::Desc) => true,
            Some(_) => return err("ORDER BY … USING is not ADQL", &k.expr),
        };
        let nulls_first = k.options.nulls_first.unwrap_or(desc);
        let x = if let Expr::Value(v) = &k.expr {
            match &v.value {
                sql::Value::Number(n, _) => {
                    let i: usize = n.parse().unwrap_or(0);
                    match items.get(i.wrapping_sub(1)) {
                        Some(o) => o.expr.clone(),
                        None => {
                            return err(
                                format!("ORDER BY {n}: the select list has {} items", items.len()),
                                &k.expr,
                            );
                        }
                    }
                }
                _ => return err("ORDER BY needs a column, an alias or a position", &k.expr),
            }
        } else {
            match output_ref(&k.expr, items) {
                Some(x) => x,
                None => expr(cx, &k.expr)?.0,
            }
        };
        out.push((x, desc, nulls_first));
    }
    Ok(out)
}

// ---------------------------------------------------------------- index hints

fn conjuncts<'e>(e: &'e E, out: &mut Vec<&'e E>) {
    if let E::And(a, b) = e {
        conjuncts(a, out);
        conjuncts(b, out);
    } else {
        out.push(e);
    }
}

fn is_one(e: &E) -> bool {
    matches!(e, E::Lit(Lit::Int(1)))
}

/// The first top-level conjunct of the WHERE that the HEALPix index can
/// answer (tables of observations only).
fn cone_hint(filter: &E, def: &TableDef) -> Option<ConeHint> {
    let (ra, dec, region) = def.sky_columns()?;
    let own_point = |g: &G| matches!(g, G::Point(E::Col(a), E::Col(d)) if *a == ra && *d == dec);
    let const_point = |g: &G| matches!(g, G::Point(a, d) if a.is_const() && d.is_const());
    let mut list = Vec::new();
    conjuncts(filter, &mut list);
    list.into_iter().find_map(|c| {
        let contains = match c {
            E::Cmp(Cmp::Eq, a, b) if is_one(a) => Some(&**b),
            E::Cmp(Cmp::Eq, a, b) if is_one(b) => Some(&**a),
            _ => None,
        };
        if let Some(E::Contains(p, s)) = contains {
            if own_point(p) && const_shape(s) {
                return Some(ConeHint::Position((**s).clone()));
            }
            if const_point(p) && matches!(**s, G::Region(r) if r == region) {
                let G::Point(a, d) = &**p else { return None };
                return Some(ConeHint::Footprint(a.clone(), d.clone()));
            }
            return None;
        }
        let (dist, r) = match c {
            E::Cmp(Cmp::Lt | Cmp::Le, d, r) | E::Cmp(Cmp::Gt | Cmp::Ge, r, d) => (&**d, &**r),
            _ => return None,
        };
        let E::Distance(p, q) = dist else { return None };
        if !r.is_const() {
            return None;
        }
        let centre = match (own_point(p), own_point(q)) {
            (true, false) if const_point(q) => q,
            (false, true) if const_point(p) => p,
            _ => return None,
        };
        let G::Point(a, d) = &**centre else {
            return None;
        };
        Some(ConeHint::Distance(a.clone(), d.clone(), r.clone()))
    })
}

fn const_shape(g: &G) -> bool {
    match g {
        G::Circle(a, b, c) => [a, b, c].iter().all(|e| e.is_const()),
        G::Box(a, b, c, d) => [a, b, c, d].iter().all(|e| e.is_const()),
        G::Polygon(v) => v.iter().all(|(a, b)| a.is_const() && b.is_const()),
        G::Point(..) | G::Region(_) => false,
    }
}
