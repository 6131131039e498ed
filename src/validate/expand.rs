//! High-level steps expanded into ordinary ones before validation, so the
//! DAG (and `mastflow plan`) shows every request they make.
//!
//! A `duplication_check` named `dup` becomes:
//!
//! | step | does |
//! |---|---|
//! | `dup.targets` | the targets with `target`, `ra`, `dec`, `radius` columns |
//! | `dup.resolve` | (names only) coordinates from Mast.Name.Lookup |
//! | `dup.count` | COUNT_BIG per target (refuses above `max`) |
//! | `dup.hits` | the targets with at least one match |
//! | `dup.search` | a cone search per such target with its radius, tagged with it |
//! | `dup.moving` | (moving targets) `target_name: NAME*` searches |
//! | `dup.found` | all matches stacked |
//! | `dup.flagged` | planned / executed flags, short titles, program URLs |
//! | `dup` | one row per target and program: the report |
//!
//! Generated names contain a `.`, which user step names cannot, so they
//! never clash.

use crate::manifest::types::*;
use indexmap::IndexMap;

/// Steps after expansion, and the names of the generated ones (mapped to the
/// user's step they came from).
pub struct Expanded {
    pub steps: IndexMap<String, RawStep>,
    pub generated: IndexMap<String, String>,
}

pub fn expand(steps: &IndexMap<String, RawStep>) -> Expanded {
    let mut out = IndexMap::new();
    let mut generated = IndexMap::new();
    for (name, step) in steps {
        match step {
            RawStep::DuplicationCheck(d) => {
                for (n, s) in duplication(name, d) {
                    if n != *name {
                        generated.insert(n.clone(), name.clone());
                    }
                    out.insert(n, s);
                }
            }
            other => {
                out.insert(name.clone(), other.clone());
            }
        }
    }
    Expanded {
        steps: out,
        generated,
    }
}

fn s(x: &str) -> Scalar {
    Scalar::Str(x.to_string())
}

fn derive(from: &str, needs: Vec<String>, cols: &[(&str, String)]) -> RawStep {
    RawStep::Derive(DeriveStep {
        description: None,
        needs,
        from: from.to_string(),
        columns: cols
            .iter()
            .map(|(n, e)| (n.to_string(), DeriveSpec::Expr(e.clone())))
            .collect(),
    })
}

fn duplication(name: &str, d: &DuplicationStep) -> Vec<(String, RawStep)> {
    let sub = |x: &str| format!("{name}.{x}");
    let name_col = d
        .name_column
        .clone()
        .unwrap_or_else(|| "target_name".into());
    let default_radius = d.radius.clone().unwrap_or_else(|| "30s".into());
    let radius_expr = match &d.radius_column {
        Some(c) => format!("({c} | string) if {c} is not null else '{default_radius}'"),
        None => format!("'{default_radius}'"),
    };
    let criteria = d.criteria.clone().unwrap_or_else(|| {
        let mut m = IndexMap::new();
        m.insert("obs_collection".to_string(), CriterionSpec::One(s("JWST")));
        m
    });
    let mut out: Vec<(String, RawStep)> = Vec::new();
    // 1. Targets with uniform column names.
    let positioned = match (&d.ra_column, &d.dec_column) {
        (Some(ra), Some(dec)) => {
            out.push((
                sub("targets"),
                derive(
                    &d.targets,
                    d.needs.clone(),
                    &[
                        ("target", name_col.clone()),
                        ("search_ra", format!("{ra} | string")),
                        ("search_dec", format!("{dec} | string")),
                        ("search_radius", radius_expr),
                    ],
                ),
            ));
            sub("targets")
        }
        _ => {
            out.push((
                sub("targets"),
                derive(
                    &d.targets,
                    d.needs.clone(),
                    &[("target", name_col.clone()), ("search_radius", radius_expr)],
                ),
            ));
            out.push((
                sub("resolve"),
                RawStep::Resolve(ResolveStep {
                    description: None,
                    needs: Vec::new(),
                    from: sub("targets"),
                    column: Some("target".into()),
                    unresolved: Some(UnresolvedPolicy::Fail),
                }),
            ));
            out.push((
                sub("resolved"),
                derive(
                    &sub("resolve"),
                    Vec::new(),
                    &[
                        ("search_ra", "ra | string".into()),
                        ("search_dec", "dec | string".into()),
                    ],
                ),
            ));
            sub("resolved")
        }
    };
    let position = || {
        Some(PositionSpec {
            ra: Some(s("{{ row.search_ra }}")),
            dec: Some(s("{{ row.search_dec }}")),
            object: None,
            radius: Some(s("{{ row.search_radius }}")),
        })
    };
    // 2. Count first, refusing huge results; the count carries the search
    //    position so only targets with matches are searched.
    out.push((
        sub("count"),
        RawStep::Count(CaomStep {
            description: None,
            needs: Vec::new(),
            criteria: criteria.clone(),
            position: position(),
            columns: None,
            for_each: Some(positioned),
            carry: ["target", "search_ra", "search_dec", "search_radius"]
                .map(String::from)
                .to_vec(),
            max: Some(d.max.unwrap_or(5000)),
            deadline: None,
        }),
    ));
    out.push((
        sub("hits"),
        RawStep::Filter(FilterStep {
            description: None,
            needs: Vec::new(),
            from: sub("count"),
            where_: Some(IndexMap::from([(
                "count".to_string(),
                FilterValues::One(FilterValue::Range(RangeSpec {
                    min: Some(Scalar::Int(1)),
                    max: None,
                })),
            )])),
            expr: None,
        }),
    ));
    // 3. The cone searches of targets with matches, tagged with their target.
    out.push((
        sub("search"),
        RawStep::Caom(CaomStep {
            description: None,
            needs: Vec::new(),
            criteria: criteria.clone(),
            position: position(),
            columns: None,
            for_each: Some(sub("hits")),
            carry: vec!["target".into()],
            max: None,
            deadline: None,
        }),
    ));
    let mut found = vec![sub("search")];
    // 4. Moving targets by name.
    if !d.moving_targets.is_empty() {
        out.push((
            sub("moving_targets"),
            RawStep::Table(TableStep {
                description: None,
                needs: Vec::new(),
                rows: Some(
                    d.moving_targets
                        .iter()
                        .map(|m| IndexMap::from([("target".to_string(), Some(s(m)))]))
                        .collect(),
                ),
                csv: None,
                file: None,
                format: None,
                columns: IndexMap::new(),
            }),
        ));
        let mut moving_criteria = criteria.clone();
        moving_criteria.insert(
            "target_name".into(),
            CriterionSpec::One(s("{{ row.target }}*")),
        );
        out.push((
            sub("moving"),
            RawStep::Caom(CaomStep {
                description: None,
                needs: Vec::new(),
                criteria: moving_criteria,
                position: None,
                columns: None,
                for_each: Some(sub("moving_targets")),
                carry: vec!["target".into()],
                max: None,
                deadline: None,
            }),
        ));
        found.push(sub("moving"));
    }
    // 5. All matches, flagged.
    out.push((
        sub("found"),
        RawStep::Union(UnionStep {
            description: None,
            needs: Vec::new(),
            from: found,
            tag: None,
        }),
    ));
    out.push((
        sub("flagged"),
        derive(
            &sub("found"),
            Vec::new(),
            &[
                ("planned", "calib_level == -1".into()),
                ("executed", "calib_level >= 1".into()),
                ("title", "obs_title[:80] if obs_title is not null else none".into()),
                ("proposal_URL", "'https://www.stsci.edu/cgi-bin/get-proposal-info?id=' ~ proposal_id ~ '&observatory=JWST'".into()),
            ],
        ),
    ));
    // 6. One row per target and program.
    let aggs: IndexMap<String, String> = [
        ("observations", "count"),
        ("executed", "sum(executed)"),
        ("planned", "sum(planned)"),
        ("instruments", "concat(instrument_name)"),
        ("filters", "concat(filters)"),
        ("total_exptime", "sum(t_exptime)"),
        ("title", "first(title)"),
        ("proposal_URL", "first(proposal_URL)"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    out.push((
        sub("report"),
        RawStep::Group(GroupStep {
            description: None,
            needs: Vec::new(),
            from: sub("flagged"),
            by: vec!["target".into(), "proposal_id".into()],
            aggregates: aggs,
        }),
    ));
    out.push((
        name.to_string(),
        RawStep::Sort(SortStep {
            description: d.description.clone(),
            needs: Vec::new(),
            from: sub("report"),
            by: vec![
                SortKeySpec::Name("target".into()),
                SortKeySpec::Name("proposal_id".into()),
            ],
        }),
    ));
    out
}
