//! The checked model: what `validate` produces and every later stage reads.
//!
//! Names are resolved to step ids, params are typed and resolved, columns are
//! known where they can be, expressions and templates have been parsed. Each
//! step keeps its source span so run-time errors can point at it too.

use crate::diag::Source;
use crate::diag::Span;
use crate::table::filter::Filter;
use crate::table::io::Format;
use crate::table::ops::{Agg, JoinHow, Keep, SortKey};
use crate::table::{ColumnMeta, DataType, Table};
use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Index of a step in [`Manifest::steps`].
pub type StepId = usize;

/// A resolved parameter value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<String>),
}

impl ParamValue {
    pub fn to_jinja(&self) -> minijinja::Value {
        match self {
            ParamValue::Str(s) => s.as_str().into(),
            ParamValue::Int(i) => (*i).into(),
            ParamValue::Float(f) => (*f).into(),
            ParamValue::Bool(b) => (*b).into(),
            ParamValue::List(l) => minijinja::Value::from(l.clone()),
        }
    }
}

/// A checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// What validation warned of (the manifest is valid); shown by the CLI.
    pub warnings: crate::diag::Problems,
    pub name: String,
    pub description: Option<String>,
    pub source: Source,
    /// SHA-256 of the manifest text.
    pub sha256: String,
    /// Directory that relative input paths are resolved against.
    pub base_dir: PathBuf,
    /// More directories files may be read from (`--allow-read`).
    pub allow_read: Vec<PathBuf>,
    pub params: IndexMap<String, ParamValue>,
    /// The manifest's MAST server, if it names one.
    pub mast_url: Option<String>,
    /// Per-service concurrency the manifest asks for (`per_service`).
    pub per_service: Vec<(String, usize)>,
    /// Environment variables templates may read, with their values now.
    pub env: IndexMap<String, Option<String>>,
    /// The manifest's `timeouts` (under the flags).
    pub timeouts: Timeouts,
    pub steps: Vec<Step>,
    pub outputs: Vec<Output>,
}

/// How long one request, one archive step without a `deadline`, and the
/// whole run may take; `None`: the default (600 s a request; no bound).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timeouts {
    pub request: Option<std::time::Duration>,
    pub step: Option<std::time::Duration>,
    pub run: Option<std::time::Duration>,
}

impl Manifest {
    pub fn step_id(&self, name: &str) -> Option<StepId> {
        self.steps.iter().position(|s| s.name == name)
    }
}

/// A checked step.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub kind: &'static str,
    pub description: Option<String>,
    pub op: Op,
    /// Steps whose tables this step reads (in order).
    pub inputs: Vec<StepId>,
    /// Every step that must finish first: inputs, `needs`, and steps read by templates.
    pub deps: Vec<StepId>,
    /// Steps whose results templates or expressions of this step read.
    pub template_deps: Vec<StepId>,
    /// Position of the step's name in the manifest.
    pub span: Span,
    /// Output columns, when they can be known before running.
    pub columns: Option<Vec<String>>,
    /// The step's own `deadline`, when it gives one: the bound of the whole
    /// step, retries included (`exec`; otherwise `--step-timeout`).
    pub deadline: Option<std::time::Duration>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Op {
    Table(TableOp),
    Filter {
        from: StepId,
        filter: Option<Filter>,
        expr: Option<String>,
    },
    Select {
        from: StepId,
        columns: Vec<String>,
    },
    Drop {
        from: StepId,
        columns: Vec<String>,
    },
    Rename {
        from: StepId,
        columns: Vec<(String, String)>,
    },
    Derive {
        from: StepId,
        columns: Vec<Derived>,
    },
    Sort {
        from: StepId,
        keys: Vec<SortKey>,
    },
    Unique {
        from: StepId,
        keys: Vec<String>,
        keep: Keep,
    },
    Head {
        from: StepId,
        n: usize,
    },
    Union {
        from: Vec<StepId>,
        tag: Option<String>,
    },
    Join {
        left: StepId,
        right: StepId,
        on: Vec<(String, String)>,
        how: JoinHow,
        suffixes: (String, String),
    },
    Group {
        from: StepId,
        by: Vec<String>,
        aggregates: Vec<(String, Agg)>,
    },
    Assert(AssertOp),
    Mashup(Box<MashupOp>),
    FilterProducts {
        from: StepId,
        filter: Filter,
        extensions: Vec<String>,
        mrp_only: bool,
    },
    /// Resolve names in `column` of `from`; add `ra`, `dec`, `resolver`,
    /// `canonical_name`, `resolved`.
    Resolve {
        from: StepId,
        column: String,
        fail_unresolved: bool,
    },
    Missions(Box<MissionsOp>),
    Tap(Box<TapOp>),
    Crossmatch(Box<CrossmatchOp>),
    DownloadPlan {
        from: StepId,
        layout: crate::services::download::Layout,
        cloud: bool,
    },
}

/// A local sky cross-match.
#[derive(Debug, Clone)]
pub struct CrossmatchOp {
    pub left: StepId,
    pub right: StepId,
    pub left_position: crate::table::xmatch::Position,
    pub right_position: crate::table::xmatch::Position,
    pub radius_deg: f64,
    pub find: crate::table::xmatch::Find,
    pub join: crate::table::xmatch::JoinMode,
    pub suffixes: (String, String),
}

/// An ADQL query to a TAP service.
#[derive(Debug, Clone)]
pub struct TapOp {
    pub service: TapService,
    /// The ADQL template (every splice goes through a quoting filter).
    pub query: String,
    pub mode: crate::services::tap::Mode,
    pub maxrec: Option<u64>,
    pub overflow: Overflow,
    /// Keyset column with `overflow: page` (else OFFSET paging).
    pub page_by: Option<String>,
    pub page_size: u64,
    pub sync_timeout: std::time::Duration,
    pub deadline: std::time::Duration,
    pub format: crate::services::tap::Format,
    /// Result column names as the select list writes them, when it names
    /// them all: a result whose names differ only in case is renamed to them.
    pub columns: Option<Vec<String>>,
}

/// Which TAP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapService {
    /// A MAST collection (`mast-caom`), resolved against the MAST base URL.
    Mast(String),
    /// Any TAP service's base URL.
    Url(String),
}

impl TapService {
    /// The name as the manifest writes it.
    pub fn name(&self) -> String {
        match self {
            TapService::Mast(c) => format!("mast-{c}"),
            TapService::Url(u) => u.clone(),
        }
    }
}

/// What a truncated TAP result does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Error,
    Warn,
    Page,
}

/// A missions-API search.
#[derive(Debug, Clone)]
pub struct MissionsOp {
    pub mission: String,
    /// Conditions; string leaves may be templates.
    pub conditions: Vec<(String, CaomCriterion)>,
    /// A cone; texts may be templates; converted to degrees at run time.
    pub position: Option<PositionText>,
    pub columns: Option<Vec<String>>,
    pub sort_by: Vec<String>,
    pub page_size: u64,
}

/// A Mashup call, possibly fanned out over an upstream table.
#[derive(Debug, Clone)]
pub struct MashupOp {
    pub service: String,
    /// Params as MAST takes them; string leaves may be templates.
    pub params: serde_json::Value,
    /// The table whose rows drive one request each (per `batch` rows).
    pub for_each: Option<StepId>,
    pub batch: usize,
    pub carry: Vec<String>,
    pub deadline: std::time::Duration,
    /// A typed CAOM query whose params are built at run time (after
    /// templates are rendered); `params` is unused then.
    pub caom: Option<CaomQuery>,
    /// A typed SI-keyword query, built at run time likewise.
    pub si: Option<SiQuery>,
    /// De-duplicate the merged result on this column (products: `dataURI`).
    pub dedupe: Option<String>,
    /// Send the `for_each` table as the request's `data` (server-side
    /// cross-match) instead of fanning out over it.
    pub upload: bool,
}

/// A JWST SI-keyword search.
#[derive(Debug, Clone)]
pub struct SiQuery {
    pub criteria: Vec<(String, CaomCriterion)>,
    pub columns: String,
}

/// A CAOM search compiled from a `caom` or `count` step.
#[derive(Debug, Clone)]
pub struct CaomQuery {
    /// Column criteria; string leaves may be templates.
    pub criteria: Vec<(String, CaomCriterion)>,
    /// A cone; texts may be templates; converted to degrees at run time.
    pub position: Option<PositionText>,
    /// `*`, a column list, or `COUNT_BIG(*)`.
    pub columns: String,
    /// `count`: the result is one `count` column; fail above `max`.
    pub count: bool,
    pub max: Option<u64>,
}

/// A cone as written: coordinates or an object name, and a radius.
#[derive(Debug, Clone)]
pub struct PositionText {
    pub target: Target,
    pub radius: String,
}

/// Where a cone is centred.
#[derive(Debug, Clone)]
pub enum Target {
    Coords {
        ra: String,
        dec: String,
    },
    /// A name MAST resolves at run time.
    Object(String),
}

/// One criterion.
#[derive(Debug, Clone)]
pub enum CaomCriterion {
    Values(Vec<serde_json::Value>),
    Range {
        min: Option<serde_json::Value>,
        max: Option<serde_json::Value>,
    },
}

impl Manifest {
    /// The template context of a manifest (params and allowed env).
    pub fn template_context(&self) -> crate::template::Context {
        template_context(&self.params, &self.env)
    }
}

/// The template context of checked params and the allowed env variables.
pub fn template_context(
    params: &IndexMap<String, ParamValue>,
    env: &IndexMap<String, Option<String>>,
) -> crate::template::Context {
    let params = minijinja::Value::from(
        params
            .iter()
            .map(|(k, v)| (k.clone(), v.to_jinja()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    let env = minijinja::Value::from(
        env.iter()
            .filter_map(|(k, v)| {
                v.as_ref()
                    .map(|v| (k.clone(), minijinja::Value::from(v.as_str())))
            })
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    crate::template::Context::new(params, env)
}

impl Op {
    /// Whether the step talks to an archive (runs async, counts requests).
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            Op::Mashup(_)
                | Op::Resolve { .. }
                | Op::Missions(_)
                | Op::Tap(_)
                | Op::DownloadPlan { .. }
        )
    }
}

/// Where a `table` step's rows come from.
#[derive(Debug, Clone)]
pub enum TableOp {
    /// Rows known at validation (inline, or a file with a fixed path).
    Static { table: Arc<Table>, origin: String },
    /// A file whose path is a template, read at run time.
    File {
        path: String,
        format: Option<Format>,
        decls: Vec<(String, ColumnDecl)>,
    },
    /// A table that failed validation (never run).
    Invalid,
}

/// Declared type and metadata of a column.
#[derive(Debug, Clone, Default)]
pub struct ColumnDecl {
    pub ty: Option<DataType>,
    pub meta: ColumnMeta,
}

/// A derived column.
#[derive(Debug, Clone)]
pub struct Derived {
    pub name: String,
    pub expr: String,
    pub ty: Option<DataType>,
    pub meta: ColumnMeta,
}

/// Checks of an `assert` step.
#[derive(Debug, Clone, Default)]
pub struct AssertOp {
    pub from: StepId,
    pub rows_min: Option<u64>,
    pub rows_max: Option<u64>,
    pub not_null: Vec<String>,
    pub unique: Vec<Vec<String>>,
    pub accepted_values: Vec<(String, Vec<crate::table::Value>)>,
    pub expr: Option<String>,
    pub message: Option<String>,
    pub warn_only: bool,
}

/// A file to write.
#[derive(Debug, Clone)]
pub struct Output {
    pub from: StepId,
    /// Relative path; may be a template.
    pub path: String,
    pub format: Format,
    pub columns: Option<Vec<String>>,
    /// A download plan (plan.json and scripts) rather than a table file.
    pub download_plan: bool,
    pub span: Span,
}
