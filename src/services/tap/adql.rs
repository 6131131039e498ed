//! What the client needs to know of an ADQL query, and the page queries it
//! derives from one. Parsed with `sqlparser` (its generic dialect reads ADQL:
//! `TOP`, `OFFSET`, geometry functions as calls); the query is otherwise sent
//! as the user wrote it.

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, LimitClause, Offset, OffsetRows, OrderBy, OrderByExpr,
    OrderByKind, OrderByOptions, OrderBySort, Query, Select, SelectItem, SetExpr, Statement, Top,
    TopQuantity, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// Facts about a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Result column names when the select list names every column (no `*`,
    /// every expression aliased or a plain column).
    pub columns: Option<Vec<String>>,
    /// The query's `ORDER BY` keys as written (empty when it has none).
    pub order_by: Vec<String>,
    /// `TOP n`, if any.
    pub top: Option<u64>,
    /// The query uses `LIMIT`, which is not ADQL.
    pub uses_limit: bool,
    /// The query already has an `OFFSET`.
    pub has_offset: bool,
    /// One plain `SELECT` (not a set operation or a `WITH`): pageable.
    pub single_select: bool,
}

/// Parse one ADQL statement.
pub fn parse(adql: &str) -> Result<Box<Query>, String> {
    let mut stmts = Parser::parse_sql(&GenericDialect {}, adql).map_err(|e| e.to_string())?;
    match (stmts.pop(), stmts.is_empty()) {
        (Some(Statement::Query(q)), true) => Ok(q),
        (Some(_), true) => Err("not a SELECT query".into()),
        (None, _) => Err("the query is empty".into()),
        (Some(_), false) => Err("more than one statement".into()),
    }
}

/// Analyse a query.
pub fn analyse(adql: &str) -> Result<Analysis, String> {
    let q = parse(adql)?;
    let select = single_select(&q);
    let (columns, top) = match select {
        Some(s) => (select_columns(s), top_of(s)),
        None => (None, None),
    };
    let (uses_limit, has_offset) = match &q.limit_clause {
        Some(LimitClause::LimitOffset { limit, offset, .. }) => (limit.is_some(), offset.is_some()),
        Some(LimitClause::OffsetCommaLimit { .. }) => (true, true),
        None => (false, false),
    };
    Ok(Analysis {
        columns,
        order_by: order_keys(&q),
        top,
        uses_limit,
        has_offset,
        single_select: select.is_some() && q.with.is_none(),
    })
}

fn single_select(q: &Query) -> Option<&Select> {
    match q.body.as_ref() {
        SetExpr::Select(s) => Some(s),
        _ => None,
    }
}

fn top_of(s: &Select) -> Option<u64> {
    match s.top.as_ref()?.quantity.as_ref()? {
        TopQuantity::Constant(n) => Some(*n),
        TopQuantity::Expr(Expr::Value(v)) => v.value.to_string().parse().ok(),
        TopQuantity::Expr(_) => None,
    }
}

fn order_keys(q: &Query) -> Vec<String> {
    match q.order_by.as_ref().map(|o| &o.kind) {
        Some(OrderByKind::Expressions(keys)) => keys.iter().map(|k| k.expr.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn select_columns(s: &Select) -> Option<Vec<String>> {
    s.projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(|i| i.value.clone())
            }
            _ => None,
        })
        .collect()
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum PageStart {
    /// The first page.
    First,
    /// Keyset: rows whose key is greater than this value.
    After(Literal),
    /// Rows after skipping this many (OFFSET paging).
    Skip(u64),
}

/// A key value carried from one page to the next.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(String),
    Text(String),
}

/// The query for one page of at most `rows` rows.
///
/// Keyset (`key` given): `TOP rows`, `ORDER BY key`, and `AND key > last`
/// added to the `WHERE`. OFFSET: `TOP rows` and `OFFSET skipped`, keeping the
/// query's own `ORDER BY`.
pub fn page_query(
    adql: &str,
    key: Option<&str>,
    rows: u64,
    start: &PageStart,
) -> Result<String, String> {
    let mut q = parse(adql)?;
    if q.with.is_some() {
        return Err("a query with WITH cannot be paged".into());
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return Err("only a single SELECT can be paged (not UNION, INTERSECT or EXCEPT)".into());
    };
    select.top = Some(Top {
        with_ties: false,
        percent: false,
        quantity: Some(TopQuantity::Constant(rows)),
    });
    match key {
        Some(col) => {
            let column = key_expr(col)?;
            if let PageStart::After(last) = start {
                let after = Expr::BinaryOp {
                    left: Box::new(column.clone()),
                    op: BinaryOperator::Gt,
                    right: Box::new(literal_expr(last)),
                };
                select.selection = Some(match select.selection.take() {
                    Some(w) => Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(w))),
                        op: BinaryOperator::And,
                        right: Box::new(after),
                    },
                    None => after,
                });
            }
            q.order_by = Some(OrderBy {
                kind: OrderByKind::Expressions(vec![OrderByExpr {
                    expr: column,
                    options: OrderByOptions {
                        sort: Some(OrderBySort::Asc),
                        nulls_first: None,
                    },
                    with_fill: None,
                }]),
                interpolate: None,
            });
        }
        None => {
            if q.order_by.is_none() {
                return Err("OFFSET paging needs an ORDER BY on unique columns".into());
            }
            if let PageStart::Skip(n) = start {
                q.limit_clause = Some(LimitClause::LimitOffset {
                    limit: None,
                    offset: Some(Offset {
                        value: Expr::value(Value::Number(n.to_string(), false)),
                        rows: OffsetRows::None,
                    }),
                    limit_by: Vec::new(),
                });
            }
        }
    }
    Ok(q.to_string())
}

fn key_expr(col: &str) -> Result<Expr, String> {
    let parts: Vec<Ident> = col.split('.').map(Ident::new).collect();
    let ok = parts.iter().all(|p| {
        let mut c = p.value.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    });
    if !ok {
        return Err(format!("`{col}` is not a column name"));
    }
    Ok(match parts.len() {
        1 => Expr::Identifier(parts.into_iter().next().expect("one part")),
        _ => Expr::CompoundIdentifier(parts),
    })
}

fn literal_expr(l: &Literal) -> Expr {
    Expr::value(match l {
        Literal::Number(n) => Value::Number(n.clone(), false),
        Literal::Text(t) => Value::SingleQuotedString(t.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "SELECT obsid, obs_id AS id, o.s_ra FROM dbo.obspointing AS o \
                     WHERE obs_collection = 'JWST' OR calib_level = 3";

    #[test]
    fn analyses_columns_order_top_and_limit() {
        let a = analyse(Q).unwrap();
        assert_eq!(
            a.columns,
            Some(vec!["obsid".into(), "id".into(), "s_ra".into()])
        );
        assert!(a.single_select && a.order_by.is_empty() && a.top.is_none());
        let a = analyse("SELECT TOP 10 * FROM t ORDER BY a DESC, b").unwrap();
        assert_eq!((a.columns, a.top), (None, Some(10)));
        assert_eq!(a.order_by, vec!["a", "b"]);
        assert!(analyse("SELECT a FROM t LIMIT 5").unwrap().uses_limit);
        assert!(analyse("SELECT COUNT(*) FROM t").unwrap().columns.is_none());
        let set = analyse("SELECT a FROM t UNION SELECT a FROM u").unwrap();
        assert!(!set.single_select);
        assert!(parse("DELETE FROM t").is_err());
        assert!(parse("SELECT FROM WHERE").is_err());
    }

    #[test]
    fn keyset_pages_keep_the_users_conditions_together() {
        let first = page_query(Q, Some("obsid"), 500, &PageStart::First).unwrap();
        assert_eq!(
            first,
            "SELECT TOP 500 obsid, obs_id AS id, o.s_ra FROM dbo.obspointing AS o \
             WHERE obs_collection = 'JWST' OR calib_level = 3 ORDER BY obsid ASC"
        );
        let next = page_query(
            Q,
            Some("obsid"),
            500,
            &PageStart::After(Literal::Number("87742159".into())),
        )
        .unwrap();
        assert!(
            next.contains(
                "WHERE (obs_collection = 'JWST' OR calib_level = 3) AND obsid > 87742159 ORDER BY obsid ASC"
            ),
            "{next}"
        );
        let text = page_query(
            "SELECT obs_id FROM t",
            Some("obs_id"),
            2,
            &PageStart::After(Literal::Text("jw01'x".into())),
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT TOP 2 obs_id FROM t WHERE obs_id > 'jw01''x' ORDER BY obs_id ASC"
        );
        assert!(page_query(Q, Some("obsid; DROP"), 5, &PageStart::First).is_err());
    }

    #[test]
    fn offset_pages_need_an_order() {
        let q = "SELECT obs_id FROM ivoa.obscore ORDER BY obs_id";
        assert_eq!(
            page_query(q, None, 100, &PageStart::Skip(300)).unwrap(),
            "SELECT TOP 100 obs_id FROM ivoa.obscore ORDER BY obs_id OFFSET 300"
        );
        assert!(page_query("SELECT a FROM t", None, 100, &PageStart::Skip(1)).is_err());
        assert!(
            page_query(
                "SELECT a FROM t UNION SELECT a FROM u",
                None,
                1,
                &PageStart::First
            )
            .is_err()
        );
    }
}
