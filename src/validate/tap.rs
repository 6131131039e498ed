//! Checking a `tap` step: the service (a MAST alias or a URL), the ADQL
//! template (every splice quoted; `LIMIT` refused; parsed where it can be,
//! to know the result's columns and whether it can be paged), and the
//! paging, timeout and format settings.

use super::Validator;
use crate::diag::Problem;
use crate::diag::Span;
use crate::manifest::spans::Seg;
use crate::manifest::{self as raw};
use crate::services::tap::{self as tapsvc, adql};
use crate::template::{self, Reference};

use super::model::{Overflow, TapOp, TapService};

impl Validator<'_> {
    pub(super) fn tap_op(
        &mut self,
        t: &raw::TapStep,
        at: &dyn Fn(&str) -> Vec<Seg>,
        colrefs: &mut Vec<super::ColRef>,
        refs: &mut Vec<(Reference, Vec<Seg>)>,
    ) -> TapOp {
        let service = self.tap_service(&t.service, &at("service"));
        self.template_refs(&t.query, &at("query"), false, colrefs, refs);
        self.quoted_splices(&t.query, &at("query"));
        let overflow = match t.overflow {
            None | Some(raw::OverflowPolicy::Error) => Overflow::Error,
            Some(raw::OverflowPolicy::Warn) => Overflow::Warn,
            Some(raw::OverflowPolicy::Page) => Overflow::Page,
        };
        let analysis = self.analyse_adql(&t.query, &at("query"), overflow == Overflow::Page);
        let page_size = t.page_size.unwrap_or(50_000);
        self.paging(t, overflow, page_size, analysis.as_ref(), at);
        if t.maxrec == Some(0) {
            self.err(
                Problem::new(
                    "bad_value",
                    "`maxrec: 0` asks for no rows",
                    self.span_value(&at("maxrec")),
                )
                .help("leave `maxrec` out for the service's own limit"),
            );
        }
        TapOp {
            service,
            query: t.query.clone(),
            mode: match t.mode {
                Some(raw::TapMode::Sync) => tapsvc::Mode::Sync,
                Some(raw::TapMode::Async) => tapsvc::Mode::Async,
                None | Some(raw::TapMode::Auto) => tapsvc::Mode::Auto,
            },
            maxrec: t.maxrec,
            overflow,
            page_by: t.page_by.clone(),
            page_size: page_size.max(1),
            sync_timeout: self.duration_or(t.sync_timeout.as_deref(), &at("sync_timeout"), 60),
            deadline: self.duration_or(t.deadline.as_deref(), &at("deadline"), 3600),
            format: match t.format {
                None => tapsvc::Format::ServiceDefault,
                Some(raw::TapFormat::Binary2) => tapsvc::Format::Binary2,
                Some(raw::TapFormat::Tabledata) => tapsvc::Format::TableData,
                Some(raw::TapFormat::Binary) => tapsvc::Format::Binary,
                Some(raw::TapFormat::Csv) => tapsvc::Format::Csv,
            },
            columns: analysis.and_then(|a| a.columns),
        }
    }

    fn tap_service(&mut self, s: &str, path: &[Seg]) -> TapService {
        let s = s.trim();
        if let Some(collection) = s.strip_prefix("mast-") {
            if tapsvc::MAST_COLLECTIONS.contains(&collection) {
                return TapService::Mast(collection.to_string());
            }
            let hint =
                crate::util::did_you_mean(collection, tapsvc::MAST_COLLECTIONS.iter().copied())
                    .map(|c| format!("did you mean `mast-{c}`?"))
                    .unwrap_or_else(|| {
                        format!(
                            "MAST's collections: mast-{}",
                            tapsvc::MAST_COLLECTIONS.join(", mast-")
                        )
                    });
            self.err(
                Problem::new(
                    "unknown_service",
                    format!("`{s}` is not a MAST TAP collection"),
                    self.span_value(path),
                )
                .label("unknown collection")
                .help(hint),
            );
            return TapService::Mast("caom".into());
        }
        match reqwest::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                let base = s.trim_end_matches('/');
                for leaf in ["/sync", "/async"] {
                    if base.ends_with(leaf) {
                        self.err(
                            Problem::new(
                                "bad_service",
                                format!("`{s}` is a TAP endpoint, not the service's base URL"),
                                self.span_value(path),
                            )
                            .help(format!("write `{}`", base.trim_end_matches(leaf))),
                        );
                    }
                }
                TapService::Url(base.to_string())
            }
            _ => {
                self.err(
                    Problem::new(
                        "bad_service",
                        format!("`{s}` is neither a MAST TAP alias nor an http(s) URL"),
                        self.span_value(path),
                    )
                    .help("write `mast-caom` (MAST's CAOM), another `mast-<collection>`, or a TAP service's base URL"),
                );
                TapService::Mast("caom".into())
            }
        }
    }

    /// Every `{{ ... }}` must end in a quoting filter, outside quotes.
    fn quoted_splices(&mut self, query: &str, path: &[Seg]) {
        let enclosed = template::enclosed_adql_splices(query);
        for splice in &enclosed {
            let span = self.span_within(path, splice);
            let bare = splice.split('|').next().unwrap_or(splice).trim();
            self.err(
                Problem::new(
                    "quoted_splice",
                    format!("`{{{{ {splice} }}}}` is written inside quotes"),
                    span,
                )
                .label("inside quotes")
                .help(format!(
                    "`adql_string` makes the whole literal, quotes included: write `{{{{ {bare} | adql_string }}}}` without the surrounding quotes"
                )),
            );
        }
        for splice in template::unquoted_adql_splices(query) {
            if enclosed.contains(&splice) {
                continue;
            }
            let span = self.span_within(path, &splice);
            let base = splice
                .strip_suffix("safe")
                .map(|s| s.trim_end().trim_end_matches('|').trim_end())
                .unwrap_or(&splice);
            self.err(
                Problem::new(
                    "unquoted_splice",
                    format!("`{{{{ {splice} }}}}` splices a value into ADQL without a quoting filter"),
                    span,
                )
                .label("not quoted")
                .help(format!(
                    "end it in a quoting filter: `{{{{ {base} | adql_string }}}}` (text), `| adql_number`, `| adql_list` (IN lists) or `| adql_ident` (names); a raw value could change the query"
                )),
            );
        }
    }

    /// The span of `needle` in the value at `path` (else the whole value).
    /// A block scalar's span covers its first line only, so the search runs
    /// to the next step (the value cannot be longer than the rest of it).
    fn span_within(&self, path: &[Seg], needle: &str) -> Span {
        let v = self.span_value(path);
        let text = &self.loaded.source.text;
        let rest = text.get(v.offset..).unwrap_or("");
        let end = rest
            .match_indices("\n")
            .map(|(i, _)| i + 1)
            .find(|&i| {
                let line = &rest[i..];
                let indent = line.len() - line.trim_start_matches(' ').len();
                !line.trim().is_empty() && indent <= 4
            })
            .unwrap_or(rest.len());
        rest[..end]
            .find(needle)
            .map(|i| Span {
                offset: v.offset + i,
                len: needle.len(),
            })
            .unwrap_or(v)
    }

    /// Parse the query with placeholders for its splices. A query mastflow
    /// cannot parse is sent as written (a warning), unless it must be paged.
    fn analyse_adql(&mut self, query: &str, path: &[Seg], paging: bool) -> Option<adql::Analysis> {
        let text = template::adql_placeholders(query)?;
        match adql::analyse(&text) {
            Ok(a) => {
                if a.uses_limit {
                    self.err(
                        Problem::new(
                            "adql_limit",
                            "`LIMIT` is not ADQL: services reject it or silently ignore it",
                            self.span_within(path, "LIMIT"),
                        )
                        .label("not ADQL")
                        .help("write `SELECT TOP n ...` instead"),
                    );
                }
                Some(a)
            }
            Err(e) => {
                let p = Problem::new(
                    "adql_syntax",
                    format!("mastflow cannot parse this ADQL: {e}"),
                    self.span_value(path),
                );
                self.err(if paging {
                    p.help("`overflow: page` rewrites the query page by page, so it must parse")
                } else {
                    p.help("the query is sent as written; the service will judge it")
                        .warning()
                });
                None
            }
        }
    }

    fn paging(
        &mut self,
        t: &raw::TapStep,
        overflow: Overflow,
        page_size: u64,
        analysis: Option<&adql::Analysis>,
        at: &dyn Fn(&str) -> Vec<Seg>,
    ) {
        if overflow != Overflow::Page {
            for (field, set) in [
                ("page_by", t.page_by.is_some()),
                ("page_size", t.page_size.is_some()),
            ] {
                if set {
                    self.err(
                        Problem::new(
                            "unused_setting",
                            format!("`{field}` only applies with `overflow: page`"),
                            self.span_key(&at(field)),
                        )
                        .help("add `overflow: page`, or remove it"),
                    );
                }
            }
            return;
        }
        if page_size == 0 {
            self.err(Problem::new(
                "bad_value",
                "`page_size` must be at least 1",
                self.span_value(&at("page_size")),
            ));
        }
        if let Some(m) = t.maxrec.filter(|&m| m < page_size) {
            self.err(
                Problem::new(
                    "bad_value",
                    format!("`page_size` ({page_size}) is larger than `maxrec` ({m}): every page would be truncated"),
                    self.span_value(&at("maxrec")),
                )
                .help("with `overflow: page`, `maxrec` bounds each page: make it at least `page_size`, or leave it out"),
            );
        }
        let Some(a) = analysis else { return };
        let query_path = at("query");
        if !a.single_select || a.has_offset {
            self.err(
                Problem::new(
                    "unpageable",
                    "only a single SELECT without OFFSET can be paged",
                    self.span_value(&query_path),
                )
                .help(
                    "remove the UNION/WITH/OFFSET, or use `overflow: error` and a larger `maxrec`",
                ),
            );
        }
        match &t.page_by {
            Some(key) => {
                if let Some(cols) = &a.columns {
                    if !cols.iter().any(|c| c.eq_ignore_ascii_case(key)) {
                        self.err(
                            Problem::new(
                                "unknown_column",
                                format!("`page_by: {key}` is not in the query's select list"),
                                self.span_value(&at("page_by")),
                            )
                            .help(format!("select it too: `SELECT {key}, ...`")),
                        );
                    }
                }
                let own = a.order_by.iter().any(|o| !o.eq_ignore_ascii_case(key));
                if own {
                    self.err(
                        Problem::new(
                            "unpageable",
                            format!("keyset paging orders the rows by `{key}`, but the query has its own ORDER BY"),
                            self.span_key(&at("page_by")),
                        )
                        .help("remove the query's ORDER BY (sort afterwards with a `sort` step), or drop `page_by` to page with OFFSET"),
                    );
                }
            }
            None if a.order_by.is_empty() => self.err(
                Problem::new(
                    "unpageable",
                    "paging without `page_by` uses OFFSET, which needs an ORDER BY on unique columns",
                    self.span_key(&at("overflow")),
                )
                .help("add `page_by: obsid` (a unique, non-null column; fastest), or an `ORDER BY` to the query"),
            ),
            None => {}
        }
    }
}
