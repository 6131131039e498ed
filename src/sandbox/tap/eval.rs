//! Running a [`Plan`] over the archive: candidate rows (the HEALPix index
//! for a cone in a top-level `AND`, else every row), `WHERE`, `GROUP BY`
//! with aggregates, `HAVING`, `DISTINCT`, `ORDER BY`, `OFFSET`, `TOP`, then
//! `MAXREC` (truncation flags an overflow). Values are read cell by cell
//! from the table behind the query (`dbo.obspointing` and TAP_SCHEMA are
//! [`Table`]s; `ivoa.obscore` maps CAOM cells on the fly).

use super::adql::{Agg, AggFn, Arith, Cmp, ConeHint, E, Func, G, Lit, OutCol, Plan, Ty};
use super::catalog::{Backing, Catalog};
use super::obscore;
use crate::sandbox::data::Archive;
use crate::sandbox::sky::{Region, Shape, ang_dist_deg};
use crate::table::column::ColumnBuilder;
use crate::table::io::votable::FieldDecl;
use crate::table::{ColumnMeta, DataType, Table, ValueRef};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

/// A value during evaluation (strings borrowed from the table when possible).
#[derive(Debug, Clone, PartialEq)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl<'a> From<ValueRef<'a>> for V<'a> {
    fn from(v: ValueRef<'a>) -> V<'a> {
        match v {
            ValueRef::Null => V::Null,
            ValueRef::Bool(b) => V::Bool(b),
            ValueRef::Int(i) => V::Int(i),
            ValueRef::Float(f) if f.is_nan() => V::Null,
            ValueRef::Float(f) => V::Float(f),
            ValueRef::Str(s) => V::Str(Cow::Borrowed(s)),
        }
    }
}

impl V<'_> {
    fn num(&self) -> Option<f64> {
        match self {
            V::Int(i) => Some(*i as f64),
            V::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn truth(&self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Order of two values of comparable types (`None` for NULL or mixed).
    fn compare(&self, o: &V<'_>) -> Option<Ordering> {
        match (self, o) {
            (V::Int(a), V::Int(b)) => Some(a.cmp(b)),
            (V::Str(a), V::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
            (V::Bool(a), V::Bool(b)) => Some(a.cmp(b)),
            _ => self.num()?.partial_cmp(&o.num()?),
        }
    }

    /// A hashable key (GROUP BY, DISTINCT, COUNT(DISTINCT)).
    fn key(&self, out: &mut String) {
        match self {
            V::Null => out.push('n'),
            V::Bool(b) => out.push(if *b { 'T' } else { 'F' }),
            V::Int(i) => out.push_str(&format!("i{i}")),
            V::Float(f) => out.push_str(&format!("f{f}")),
            V::Str(s) => {
                out.push('s');
                out.push_str(s);
            }
        }
        out.push('\u{1f}');
    }
}

/// The rows behind a query.
#[derive(Clone, Copy)]
pub enum Src<'a> {
    Table(&'a Table),
    ObsCore { obs: &'a Table, base: &'a str },
}

impl<'a> Src<'a> {
    pub fn of(cat: &'a Catalog, table: usize, archive: &'a Archive, base: &'a str) -> Src<'a> {
        match cat.tables[table].backing {
            Backing::ObsPointing => Src::Table(&archive.obs),
            Backing::ObsCore => Src::ObsCore {
                obs: &archive.obs,
                base,
            },
            Backing::TapSchema(i) => Src::Table(&cat.tap_schema[i]),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Src::Table(t) => t.num_rows(),
            Src::ObsCore { obs, .. } => obs.num_rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether row `row` is part of the table: `ivoa.obscore` leaves out
    /// planned observations (CAOM `calib_level` -1; ObsCore allows 0–4).
    fn visible(&self, row: usize) -> bool {
        match self {
            Src::Table(_) => true,
            Src::ObsCore { obs, .. } => {
                !matches!(obs.get(row, obscore::CAOM_CALIB_LEVEL), ValueRef::Int(l) if l < 0)
            }
        }
    }

    /// The cell; NULL outside the table (the empty group of `COUNT(*)`).
    fn get(&self, row: usize, col: usize) -> V<'a> {
        if row >= self.len() {
            return V::Null;
        }
        match *self {
            Src::Table(t) => V::from(t.get(row, col)),
            Src::ObsCore { obs, base } => obscore::value(obs, base, row, col),
        }
    }
}

/// What a query produced.
pub struct Output {
    pub table: Table,
    /// Declared datatypes and utypes of the columns, for the VOTable writer.
    pub decls: Vec<FieldDecl>,
    /// Rows were cut at MAXREC.
    pub overflow: bool,
}

/// A row being evaluated: its table row and the aggregates of its group.
struct Ctx<'s, 'a> {
    src: Src<'a>,
    row: usize,
    aggs: &'s [V<'a>],
}

/// Run `plan`, returning at most `maxrec` rows (`maxrec = 0`: metadata only).
pub fn run(plan: &Plan, src: Src<'_>, archive: &Archive, maxrec: u64) -> Output {
    if maxrec == 0 {
        return finish(plan, src, &[], &[], true);
    }
    let rows = matching_rows(plan, src, archive, maxrec);
    let units: Vec<Unit> = if plan.aggregate {
        groups(plan, src, rows)
    } else {
        rows.into_iter()
            .map(|r| Unit {
                row: r,
                aggs: Vec::new(),
            })
            .collect()
    };
    let mut units = if plan.distinct {
        distinct(plan, src, units)
    } else {
        units
    };
    sort(plan, src, &mut units);
    let skip = (plan.offset as usize).min(units.len());
    let mut units: Vec<Unit> = units.into_iter().skip(skip).collect();
    if let Some(t) = plan.top {
        units.truncate(t as usize);
    }
    let overflow = units.len() as u64 > maxrec;
    units.truncate(maxrec as usize);
    let rows: Vec<usize> = units.iter().map(|u| u.row).collect();
    let aggs: Vec<Vec<V>> = units.into_iter().map(|u| u.aggs).collect();
    finish(plan, src, &rows, &aggs, overflow)
}

/// One output row before projection: a table row, or a group's first row
/// with the group's aggregate values.
struct Unit<'a> {
    row: usize,
    aggs: Vec<V<'a>>,
}

/// Rows passing the WHERE, in table order; without ORDER BY, DISTINCT or
/// aggregates the scan stops once OFFSET + TOP (or MAXREC + 1) rows passed.
fn matching_rows(plan: &Plan, src: Src<'_>, archive: &Archive, maxrec: u64) -> Vec<usize> {
    let streaming = !plan.aggregate && !plan.distinct && plan.order.is_empty();
    let want = plan.top.map_or(maxrec + 1, |t| t.min(maxrec + 1));
    let stop = streaming.then(|| plan.offset.saturating_add(want) as usize);
    let candidates = plan
        .cone
        .as_ref()
        .and_then(|c| cone_candidates(c, src, archive));
    let pass = |r: usize| {
        src.visible(r)
            && plan.filter.as_ref().is_none_or(|f| {
                eval(
                    f,
                    &Ctx {
                        src,
                        row: r,
                        aggs: &[],
                    },
                ) == V::Bool(true)
            })
    };
    let mut out = Vec::new();
    let mut push = |r: usize| {
        if pass(r) {
            out.push(r);
        }
        stop.is_some_and(|s| out.len() >= s)
    };
    match candidates {
        Some(list) => {
            for r in list {
                if push(r as usize) {
                    break;
                }
            }
        }
        None => {
            for r in 0..src.len() {
                if push(r) {
                    break;
                }
            }
        }
    }
    out
}

/// Rows the HEALPix index gives for a cone hint (`None`: scan everything).
fn cone_candidates(hint: &ConeHint, src: Src<'_>, archive: &Archive) -> Option<Vec<u32>> {
    let none = Ctx {
        src,
        row: usize::MAX,
        aggs: &[],
    };
    let num = |e: &E| eval(e, &none).num();
    let (ra, dec, r) = match hint {
        ConeHint::Distance(a, d, r) => (num(a)?, num(d)?, num(r)?),
        ConeHint::Footprint(a, d) => (num(a)?, num(d)?, 0.0),
        ConeHint::Position(g) => bounding_cone(&shape(g, &none)?)?,
    };
    if !(ra.is_finite() && dec.is_finite() && r.is_finite()) {
        return None;
    }
    archive.sky.candidates(ra, dec, r.max(0.0))
}

/// A cone holding the whole shape.
fn bounding_cone(s: &Geo) -> Option<(f64, f64, f64)> {
    match s {
        Geo::Point(a, d) => Some((*a, *d, 0.0)),
        Geo::Region(reg) => {
            let (a, d) = match reg.shapes.first()? {
                Shape::Polygon(v) => *v.first()?,
                Shape::Circle { ra, dec, .. } => (*ra, *dec),
            };
            Some((a, d, reg.bounding_radius(a, d)))
        }
    }
}

fn groups<'a>(plan: &Plan, src: Src<'a>, rows: Vec<usize>) -> Vec<Unit<'a>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for r in rows {
        let mut key = String::new();
        for g in &plan.group_by {
            eval(
                g,
                &Ctx {
                    src,
                    row: r,
                    aggs: &[],
                },
            )
            .key(&mut key);
        }
        let n = members.len();
        let i = *index.entry(key).or_insert(n);
        if i == n {
            members.push(Vec::new());
        }
        members[i].push(r);
    }
    if members.is_empty() && plan.group_by.is_empty() {
        members.push(Vec::new());
    }
    members
        .into_iter()
        .map(|m| Unit {
            row: m.first().copied().unwrap_or(usize::MAX),
            aggs: plan.aggs.iter().map(|a| aggregate(a, src, &m)).collect(),
        })
        .filter(|u| {
            plan.having.as_ref().is_none_or(|h| {
                eval(
                    h,
                    &Ctx {
                        src,
                        row: u.row,
                        aggs: &u.aggs,
                    },
                ) == V::Bool(true)
            })
        })
        .collect()
}

fn aggregate<'a>(a: &Agg, src: Src<'a>, rows: &[usize]) -> V<'a> {
    if a.func == AggFn::CountStar {
        return V::Int(rows.len() as i64);
    }
    let arg = a
        .arg
        .as_ref()
        .expect("aggregates other than COUNT(*) have an argument");
    let mut seen = std::collections::HashSet::new();
    let vals = rows
        .iter()
        .map(|&r| {
            eval(
                arg,
                &Ctx {
                    src,
                    row: r,
                    aggs: &[],
                },
            )
        })
        .filter(|v| *v != V::Null)
        .filter(|v| {
            let mut k = String::new();
            v.key(&mut k);
            !a.distinct || seen.insert(k)
        });
    match a.func {
        AggFn::Count => V::Int(vals.count() as i64),
        AggFn::Min => vals
            .reduce(|m, v| {
                if v.compare(&m) == Some(Ordering::Less) {
                    v
                } else {
                    m
                }
            })
            .unwrap_or(V::Null),
        AggFn::Max => vals
            .reduce(|m, v| {
                if v.compare(&m) == Some(Ordering::Greater) {
                    v
                } else {
                    m
                }
            })
            .unwrap_or(V::Null),
        AggFn::Sum => vals
            .reduce(|s, v| arith(Arith::Add, &s, &v))
            .unwrap_or(V::Null),
        AggFn::Avg => {
            let (n, sum) = vals.fold((0usize, 0.0), |(n, s), v| {
                (n + 1, s + v.num().unwrap_or(0.0))
            });
            if n == 0 {
                V::Null
            } else {
                V::Float(sum / n as f64)
            }
        }
        AggFn::CountStar => unreachable!("handled above"),
    }
}

fn distinct<'a>(plan: &Plan, src: Src<'a>, units: Vec<Unit<'a>>) -> Vec<Unit<'a>> {
    let mut seen = std::collections::HashSet::new();
    units
        .into_iter()
        .filter(|u| {
            let mut key = String::new();
            for o in &plan.items {
                eval(
                    &o.expr,
                    &Ctx {
                        src,
                        row: u.row,
                        aggs: &u.aggs,
                    },
                )
                .key(&mut key);
            }
            seen.insert(key)
        })
        .collect()
}

fn sort(plan: &Plan, src: Src<'_>, units: &mut Vec<Unit<'_>>) {
    if plan.order.is_empty() {
        return;
    }
    let keys: Vec<Vec<V>> = units
        .iter()
        .map(|u| {
            let cx = Ctx {
                src,
                row: u.row,
                aggs: &u.aggs,
            };
            plan.order.iter().map(|(e, _, _)| eval(e, &cx)).collect()
        })
        .collect();
    let mut idx: Vec<usize> = (0..units.len()).collect();
    idx.sort_by(|&a, &b| {
        for (k, (_, desc, nulls_first)) in plan.order.iter().enumerate() {
            let (x, y) = (&keys[a][k], &keys[b][k]);
            let o = match (x == &V::Null, y == &V::Null) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if *nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if *nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => {
                    let o = x.compare(y).unwrap_or(Ordering::Equal);
                    if *desc { o.reverse() } else { o }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let mut taken: Vec<Option<Unit>> = std::mem::take(units).into_iter().map(Some).collect();
    *units = idx.into_iter().filter_map(|i| taken[i].take()).collect();
}

// ---------------------------------------------------------------- output

fn dtype(ty: Ty) -> DataType {
    match ty {
        Ty::Bool => DataType::Bool,
        Ty::Int => DataType::Int,
        Ty::Float => DataType::Float,
        Ty::Str | Ty::Null => DataType::String,
    }
}

fn cell<'v>(v: &'v V<'_>, t: DataType) -> ValueRef<'v> {
    match (v, t) {
        (V::Null, _) => ValueRef::Null,
        (V::Bool(b), DataType::Bool) => ValueRef::Bool(*b),
        (V::Int(i), DataType::Int) => ValueRef::Int(*i),
        (V::Int(i), DataType::Float) => ValueRef::Float(*i as f64),
        (V::Float(f), DataType::Float) => ValueRef::Float(*f),
        (V::Float(f), DataType::Int) => ValueRef::Int(*f as i64),
        (V::Str(s), DataType::String) => ValueRef::Str(s),
        _ => ValueRef::Null,
    }
}

fn meta_of(o: &OutCol) -> (ColumnMeta, FieldDecl) {
    match &o.column {
        Some(c) => (
            ColumnMeta {
                unit: c.unit.clone(),
                description: Some(c.description.clone()),
                ucd: c.ucd.clone(),
                xtype: c.xtype.clone(),
            },
            FieldDecl {
                datatype: Some(c.datatype.to_string()),
                arraysize: c.arraysize.map(str::to_string),
                utype: c.utype.clone(),
            },
        ),
        None => (
            ColumnMeta {
                unit: o.unit.map(str::to_string),
                ucd: o.ucd.map(str::to_string),
                ..ColumnMeta::default()
            },
            FieldDecl::default(),
        ),
    }
}

/// Unique output names (`a`, `a_2`, …), as VOTable FIELDs need.
fn unique(names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|n| {
            let mut name = n.clone();
            let mut k = 2;
            while !seen.insert(name.to_ascii_lowercase()) {
                name = format!("{n}_{k}");
                k += 1;
            }
            name
        })
        .collect()
}

fn finish(plan: &Plan, src: Src<'_>, rows: &[usize], aggs: &[Vec<V>], overflow: bool) -> Output {
    let names = unique(plan.items.iter().map(|o| o.name.clone()).collect());
    let mut columns = Vec::with_capacity(plan.items.len());
    let mut decls = Vec::with_capacity(plan.items.len());
    let empty: Vec<V> = Vec::new();
    for (o, name) in plan.items.iter().zip(names) {
        let t = o.column.as_ref().map_or(dtype(o.ty), |c| c.dtype());
        let mut b = ColumnBuilder::new(t, rows.len());
        for (i, &r) in rows.iter().enumerate() {
            let g = aggs.get(i).unwrap_or(&empty);
            let v = eval(
                &o.expr,
                &Ctx {
                    src,
                    row: r,
                    aggs: g,
                },
            );
            b.push(cell(&v, t));
        }
        let (meta, decl) = meta_of(o);
        columns.push(b.finish(name).with_meta(meta));
        decls.push(decl);
    }
    Output {
        table: Table::new(columns).unwrap_or_default(),
        decls,
        overflow,
    }
}

// ---------------------------------------------------------------- expressions

fn lit(l: &Lit) -> V<'static> {
    match l {
        Lit::Null => V::Null,
        Lit::Bool(b) => V::Bool(*b),
        Lit::Int(i) => V::Int(*i),
        Lit::Float(f) => V::Float(*f),
        Lit::Str(s) => V::Str(Cow::Owned(s.clone())),
    }
}

fn eval<'a>(e: &E, cx: &Ctx<'_, 'a>) -> V<'a> {
    match e {
        E::Col(c) => cx.src.get(cx.row, *c),
        E::Lit(l) => lit(l),
        E::Agg(i) => cx.aggs.get(*i).cloned().unwrap_or(V::Null),
        E::Neg(a) => match eval(a, cx) {
            V::Int(i) => V::Int(i.wrapping_neg()),
            V::Float(f) => V::Float(-f),
            _ => V::Null,
        },
        E::Arith(op, a, b) => arith(*op, &eval(a, cx), &eval(b, cx)),
        E::Concat(a, b) => match (eval(a, cx), eval(b, cx)) {
            (V::Null, _) | (_, V::Null) => V::Null,
            (x, y) => V::Str(Cow::Owned(format!("{}{}", text(&x), text(&y)))),
        },
        E::Cmp(op, a, b) => compare(*op, &eval(a, cx), &eval(b, cx)),
        E::And(a, b) => match eval(a, cx).truth() {
            Some(false) => V::Bool(false),
            x => match (x, eval(b, cx).truth()) {
                (_, Some(false)) => V::Bool(false),
                (Some(true), Some(true)) => V::Bool(true),
                _ => V::Null,
            },
        },
        E::Or(a, b) => match eval(a, cx).truth() {
            Some(true) => V::Bool(true),
            x => match (x, eval(b, cx).truth()) {
                (_, Some(true)) => V::Bool(true),
                (Some(false), Some(false)) => V::Bool(false),
                _ => V::Null,
            },
        },
        E::Not(a) => eval(a, cx).truth().map_or(V::Null, |b| V::Bool(!b)),
        E::IsNull(a, negated) => V::Bool((eval(a, cx) == V::Null) != *negated),
        E::Like {
            e,
            pattern,
            fold,
            negated,
        } => like(&eval(e, cx), &eval(pattern, cx), *fold, *negated),
        E::In(a, list, negated) => in_list(&eval(a, cx), list, cx, *negated),
        E::Between(a, lo, hi, negated) => {
            let x = eval(a, cx);
            let ge = compare(Cmp::Ge, &x, &eval(lo, cx)).truth();
            let le = compare(Cmp::Le, &x, &eval(hi, cx)).truth();
            match (ge, le) {
                (Some(a), Some(b)) => V::Bool((a && b) != *negated),
                _ => V::Null,
            }
        }
        E::Contains(p, s) => contains(p, s, cx),
        E::Distance(p, q) => match (shape(p, cx), shape(q, cx)) {
            (Some(Geo::Point(a, b)), Some(Geo::Point(c, d))) => V::Float(ang_dist_deg(a, b, c, d)),
            _ => V::Null,
        },
        E::Func(f, args) => func(*f, args, cx),
    }
}

fn text(v: &V<'_>) -> String {
    match v {
        V::Null => String::new(),
        V::Bool(b) => b.to_string(),
        V::Int(i) => i.to_string(),
        V::Float(f) => f.to_string(),
        V::Str(s) => s.to_string(),
    }
}

fn arith<'a>(op: Arith, a: &V<'_>, b: &V<'_>) -> V<'a> {
    if let (V::Int(x), V::Int(y)) = (a, b) {
        let r = match op {
            Arith::Add => x.checked_add(*y),
            Arith::Sub => x.checked_sub(*y),
            Arith::Mul => x.checked_mul(*y),
            Arith::Div => x.checked_div(*y),
            Arith::Mod => x.checked_rem(*y),
        };
        return r.map_or(V::Null, V::Int);
    }
    let (Some(x), Some(y)) = (a.num(), b.num()) else {
        return V::Null;
    };
    let r = match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div => x / y,
        Arith::Mod => x % y,
    };
    if r.is_finite() { V::Float(r) } else { V::Null }
}

fn compare<'a>(op: Cmp, a: &V<'_>, b: &V<'_>) -> V<'a> {
    let Some(o) = a.compare(b) else {
        return V::Null;
    };
    V::Bool(match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    })
}

fn like<'a>(v: &V<'_>, p: &V<'_>, fold: bool, negated: bool) -> V<'a> {
    let (V::Str(s), V::Str(p)) = (v, p) else {
        return V::Null;
    };
    let pat: Cow<str> = if fold {
        Cow::Owned(p.to_ascii_lowercase())
    } else {
        Cow::Borrowed(p)
    };
    V::Bool(crate::sandbox::query::like_with(pat.as_bytes(), s.as_bytes(), fold) != negated)
}

fn in_list<'a>(v: &V<'_>, list: &[E], cx: &Ctx<'_, '_>, negated: bool) -> V<'a> {
    if *v == V::Null {
        return V::Null;
    }
    let mut unknown = false;
    for e in list {
        match compare(Cmp::Eq, v, &eval(e, cx)) {
            V::Bool(true) => return V::Bool(!negated),
            V::Null => unknown = true,
            _ => {}
        }
    }
    if unknown { V::Null } else { V::Bool(negated) }
}

fn func<'a>(f: Func, args: &[E], cx: &Ctx<'_, 'a>) -> V<'a> {
    let vals: Vec<V<'a>> = args.iter().map(|a| eval(a, cx)).collect();
    match f {
        Func::Lower | Func::Upper => {
            return match &vals[0] {
                V::Str(s) if f == Func::Lower => V::Str(Cow::Owned(s.to_lowercase())),
                V::Str(s) => V::Str(Cow::Owned(s.to_uppercase())),
                _ => V::Null,
            };
        }
        Func::Abs => {
            if let V::Int(i) = vals[0] {
                return i.checked_abs().map_or(V::Null, V::Int);
            }
        }
        Func::Mod => return arith(Arith::Mod, &vals[0], &vals[1]),
        _ => {}
    }
    let nums: Option<Vec<f64>> = vals.iter().map(V::num).collect();
    let Some(n) = nums else { return V::Null };
    let x = n.first().copied().unwrap_or(0.0);
    let y = n.get(1).copied();
    let r = match f {
        Func::Abs => x.abs(),
        Func::Ceiling => x.ceil(),
        Func::Floor => x.floor(),
        Func::Round => round_to(x, y.unwrap_or(0.0), f64::round),
        Func::Truncate => round_to(x, y.unwrap_or(0.0), f64::trunc),
        Func::Sqrt => x.sqrt(),
        Func::Exp => x.exp(),
        Func::Log => x.ln(),
        Func::Log10 => x.log10(),
        Func::Power => x.powf(y.unwrap_or(1.0)),
        Func::Degrees => x.to_degrees(),
        Func::Radians => x.to_radians(),
        Func::Pi => std::f64::consts::PI,
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Atan2 => x.atan2(y.unwrap_or(1.0)),
        Func::Mod | Func::Lower | Func::Upper => unreachable!("handled above"),
    };
    if r.is_finite() { V::Float(r) } else { V::Null }
}

fn round_to(x: f64, digits: f64, f: fn(f64) -> f64) -> f64 {
    let p = 10f64.powi(digits.clamp(-15.0, 15.0) as i32);
    f(x * p) / p
}

// ---------------------------------------------------------------- geometry

/// An evaluated geometry: a point, or a region (CIRCLE, POLYGON, BOX, STC-S).
#[derive(Debug, Clone, PartialEq)]
pub enum Geo {
    Point(f64, f64),
    Region(Region),
}

fn shape(g: &G, cx: &Ctx<'_, '_>) -> Option<Geo> {
    let n = |e: &E| eval(e, cx).num().filter(|x| x.is_finite());
    let one = |s: Shape| Some(Geo::Region(Region { shapes: vec![s] }));
    match g {
        G::Point(a, d) => Some(Geo::Point(n(a)?, n(d)?)),
        G::Circle(a, d, r) => one(Shape::Circle {
            ra: n(a)?,
            dec: n(d)?,
            radius: n(r)?,
        }),
        G::Polygon(v) => {
            let pts: Option<Vec<(f64, f64)>> =
                v.iter().map(|(a, d)| Some((n(a)?, n(d)?))).collect();
            one(Shape::Polygon(pts?))
        }
        G::Box(a, d, w, h) => one(Shape::Polygon(box_corners(n(a)?, n(d)?, n(w)?, n(h)?))),
        G::Region(c) => match cx.src.get(cx.row, *c) {
            V::Str(s) => Region::parse(&s).map(Geo::Region),
            _ => None,
        },
    }
}

/// The corners of `BOX(ra, dec, width, height)`: `height` along the
/// meridian, `width` along the parallel through the centre (so the RA
/// extent is `width / cos(dec)`).
fn box_corners(ra: f64, dec: f64, w: f64, h: f64) -> Vec<(f64, f64)> {
    let half_ra = w / 2.0 / dec.to_radians().cos().max(1e-9);
    let (lo, hi) = ((dec - h / 2.0).max(-90.0), (dec + h / 2.0).min(90.0));
    vec![
        (ra - half_ra, lo),
        (ra + half_ra, lo),
        (ra + half_ra, hi),
        (ra - half_ra, hi),
    ]
}

fn contains<'a>(p: &G, s: &G, cx: &Ctx<'_, '_>) -> V<'a> {
    match (shape(p, cx), shape(s, cx)) {
        (Some(Geo::Point(ra, dec)), Some(Geo::Region(r))) => {
            V::Int(r.intersects_cone(ra, dec, 0.0) as i64)
        }
        _ => V::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_valued_logic_and_comparisons() {
        assert_eq!(compare(Cmp::Lt, &V::Int(1), &V::Float(1.5)), V::Bool(true));
        assert_eq!(compare(Cmp::Eq, &V::Null, &V::Int(1)), V::Null);
        assert_eq!(arith(Arith::Div, &V::Int(7), &V::Int(2)), V::Int(3));
        assert_eq!(arith(Arith::Div, &V::Int(7), &V::Int(0)), V::Null);
        assert_eq!(arith(Arith::Div, &V::Float(7.0), &V::Int(2)), V::Float(3.5));
        let s = |x: &'static str| V::Str(Cow::Borrowed(x));
        assert_eq!(
            like(&s("NIRCAM/IMAGE"), &s("NIRCAM%"), false, false),
            V::Bool(true)
        );
        assert_eq!(
            like(&s("NIRCAM/IMAGE"), &s("nircam%"), false, false),
            V::Bool(false)
        );
        assert_eq!(
            like(&s("NIRCAM/IMAGE"), &s("nircam%"), true, false),
            V::Bool(true)
        );
        assert_eq!(like(&s("ab"), &s("a_"), false, true), V::Bool(false));
    }

    #[test]
    fn boxes_are_wider_in_ra_away_from_the_equator() {
        let c = box_corners(10.0, 60.0, 1.0, 2.0);
        assert!((c[1].0 - c[0].0 - 2.0).abs() < 1e-9);
        assert_eq!((c[0].1, c[2].1), (59.0, 61.0));
    }
}
