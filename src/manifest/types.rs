//! Raw manifest types: exactly what the user wrote, deserialised with
//! `deny_unknown_fields`, and the source of the JSON Schema.
//!
//! Nothing here is checked beyond its shape; `validate` turns these into the
//! checked model. Doc comments become schema descriptions, which editors show
//! as hover help.

use crate::table::DataType;
use crate::table::io::Format;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// A mastflow manifest: named steps compiled into a DAG of MAST calls and
/// table transforms, and the outputs written from them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mastflow manifest")]
pub struct RawManifest {
    /// Manifest format version. Only `1` exists.
    pub version: u32,
    /// Short name of this recipe (used in the run record and in plan output).
    pub name: String,
    /// What this recipe does and why.
    #[serde(default)]
    pub description: Option<String>,
    /// Typed parameters with defaults, overridable with `--set name=value`.
    /// Read them in templates as `{{ params.name }}`.
    #[serde(default)]
    pub params: IndexMap<String, RawParam>,
    /// The MAST server (default `https://mast.stsci.edu`); `--base-url` and
    /// `MASTFLOW_BASE_URL` take precedence.
    #[serde(default)]
    pub mast_url: Option<String>,
    /// Environment variables templates may read as `{{ env.NAME }}`. Any other
    /// variable is invisible, so a run depends only on what is declared here.
    #[serde(default)]
    pub env: Vec<String>,
    /// Requests of one Mashup service in flight at once, by service name,
    /// e.g. `Mast.Caom.Products: 2` (1 to 16). Without it,
    /// `Mast.Caom.Products` runs one at a time, as astroquery sends it, and
    /// other services are bounded only by `--per-host`. `--per-service`
    /// takes precedence.
    #[serde(default)]
    pub per_service: IndexMap<String, u32>,
    /// How long one request, one archive step and the whole run may take,
    /// e.g. `{request: 60s, step: 30min, run: 2h}`. The `--request-timeout`,
    /// `--step-timeout` and `--run-timeout` flags take precedence.
    #[serde(default)]
    pub timeouts: Option<RawTimeouts>,
    /// Named steps. Each has a `kind`; steps name their inputs with `from`.
    pub steps: IndexMap<String, RawStep>,
    /// Files written from step results.
    #[serde(default)]
    pub outputs: Vec<RawOutput>,
}

/// The manifest's `timeouts`; each a duration with its unit (`90s`, `10min`,
/// `2h`, `500ms`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// One HTTP request, connection to last byte (default `600s`). A request
    /// that outlives it is retried like a reset.
    #[serde(default)]
    pub request: Option<String>,
    /// An archive step without its own `deadline`, its requests and retries
    /// included (default: none).
    #[serde(default)]
    pub step: Option<String>,
    /// The whole run (default: none): steps still running are cut off
    /// (`timed_out` in run.json), the outputs of finished steps are written,
    /// and the run exits 124.
    #[serde(default)]
    pub run: Option<String>,
}

/// A parameter: a bare default value, or a full declaration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawParam {
    Full(ParamDecl),
    Default(Scalar),
}

/// A parameter declaration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    /// The parameter's type; inferred from `default` when omitted.
    #[serde(rename = "type", default)]
    pub ty: Option<ParamType>,
    /// Value used when `--set` does not give one. Without a default the
    /// parameter is required.
    #[serde(default)]
    pub default: Option<ScalarOrList>,
    /// What the parameter means.
    #[serde(default)]
    pub description: Option<String>,
    /// The only values accepted.
    #[serde(default, rename = "enum")]
    pub choices: Option<Vec<Scalar>>,
}

/// Parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    /// A list of strings (`--set ids=a,b,c`).
    List,
}

/// A YAML scalar.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A scalar or a list of scalars.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ScalarOrList {
    One(Scalar),
    Many(Vec<Scalar>),
}

/// One step. `kind` says what it does.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RawStep {
    /// A table from inline rows, inline CSV, or a CSV / ECSV / VOTable / JSON file.
    Table(TableStep),
    /// Keep the rows that match a structured filter (`where`) and/or a row expression (`expr`).
    Filter(FilterStep),
    /// Keep only some columns, in the given order.
    Select(ColumnsStep),
    /// Remove columns.
    Drop(ColumnsStep),
    /// Rename columns.
    Rename(RenameStep),
    /// Add or replace columns computed by a row expression.
    Derive(DeriveStep),
    /// Sort rows (stable).
    Sort(SortStep),
    /// Keep one row per distinct key (the first, or the last).
    Unique(UniqueStep),
    /// Keep the first `n` rows.
    Head(HeadStep),
    /// Stack tables; a column missing from one input is null there.
    Union(UnionStep),
    /// Join two tables on key columns.
    Join(JoinStep),
    /// Group rows by key columns with counts and aggregates.
    Group(GroupStep),
    /// Check a table (row count, not-null, unique, accepted values); a failed
    /// check fails the run with exit code 1. Passes its input through.
    Assert(AssertStep),
    /// Call any MAST Mashup service with raw params, optionally once per row
    /// (or batch of rows) of an upstream table.
    Mashup(MashupStep),
    /// Search CAOM observations by criteria and/or position (Mast.Caom.Filtered,
    /// Mast.Caom.Filtered.Position), every page fetched.
    Caom(CaomStep),
    /// Count matching CAOM observations (COUNT_BIG), optionally refusing more than `max`.
    Count(CaomStep),
    /// Products of an upstream table's observations (Mast.Caom.Products on
    /// `obsid` in batches), de-duplicated on dataURI.
    Products(ProductsStep),
    /// Filter a products table as astroquery's `filter_products` does.
    FilterProducts(FilterProductsStep),
    /// JWST science-instrument keyword search (Mast.Jwst.Filtered.<Instrument>): one row per file.
    SiKeywords(SiKeywordsStep),
    /// Resolve target names to coordinates (Mast.Name.Lookup); every input
    /// row is kept, unresolved ones flagged.
    Resolve(ResolveStep),
    /// Check a proposal's targets for potential JWST duplicates: expands (see
    /// `mastflow plan`) into resolve → count → cone search per target with
    /// its radius → union tagged with the target → a report per target and
    /// program (executed vs planned observations, instruments, filters,
    /// exposure, titles, program URLs).
    DuplicationCheck(DuplicationStep),
    /// The MAST missions search API (`/search/<mission>/api/v0.1/search`),
    /// paged by offset until every result arrived.
    Missions(MissionsStep),
    /// Match two tables by sky position within a radius (locally, HEALPix
    /// indexed), with STILTS's `find` and `join` vocabulary.
    Crossmatch(CrossmatchStep),
    /// A download plan from a products table: one row per file (de-duplicated
    /// on dataURI) with its local path, URL, cloud URI, size, access. Write
    /// it with an output of `kind: download_plan` (plan.json and scripts).
    DownloadPlan(DownloadPlanStep),
    /// An ADQL query to a TAP service (MAST's `mast-caom`, or any TAP URL):
    /// sync or async (UWS), overflow detected, optionally paged to completion.
    Tap(TapStep),
}

impl RawStep {
    /// The kind name as written in manifests.
    pub fn kind(&self) -> &'static str {
        match self {
            RawStep::Table(_) => "table",
            RawStep::Filter(_) => "filter",
            RawStep::Select(_) => "select",
            RawStep::Drop(_) => "drop",
            RawStep::Rename(_) => "rename",
            RawStep::Derive(_) => "derive",
            RawStep::Sort(_) => "sort",
            RawStep::Unique(_) => "unique",
            RawStep::Head(_) => "head",
            RawStep::Union(_) => "union",
            RawStep::Join(_) => "join",
            RawStep::Group(_) => "group",
            RawStep::Assert(_) => "assert",
            RawStep::Mashup(_) => "mashup",
            RawStep::Caom(_) => "caom",
            RawStep::Count(_) => "count",
            RawStep::Products(_) => "products",
            RawStep::FilterProducts(_) => "filter_products",
            RawStep::SiKeywords(_) => "si_keywords",
            RawStep::Resolve(_) => "resolve",
            RawStep::DuplicationCheck(_) => "duplication_check",
            RawStep::Missions(_) => "missions",
            RawStep::Crossmatch(_) => "crossmatch",
            RawStep::DownloadPlan(_) => "download_plan",
            RawStep::Tap(_) => "tap",
        }
    }

    /// The step's `deadline`, for the kinds that have one.
    pub fn deadline(&self) -> Option<&str> {
        match self {
            RawStep::Mashup(s) => s.deadline.as_deref(),
            RawStep::Caom(s) | RawStep::Count(s) => s.deadline.as_deref(),
            RawStep::Products(s) => s.deadline.as_deref(),
            RawStep::SiKeywords(s) => s.deadline.as_deref(),
            RawStep::Tap(s) => s.deadline.as_deref(),
            _ => None,
        }
    }

    /// Fields every step has.
    pub fn common(&self) -> (&Option<String>, &Vec<String>) {
        macro_rules! c {
            ($s:expr) => {
                (&$s.description, &$s.needs)
            };
        }
        match self {
            RawStep::Table(s) => c!(s),
            RawStep::Filter(s) => c!(s),
            RawStep::Select(s) | RawStep::Drop(s) => c!(s),
            RawStep::Rename(s) => c!(s),
            RawStep::Derive(s) => c!(s),
            RawStep::Sort(s) => c!(s),
            RawStep::Unique(s) => c!(s),
            RawStep::Head(s) => c!(s),
            RawStep::Union(s) => c!(s),
            RawStep::Join(s) => c!(s),
            RawStep::Group(s) => c!(s),
            RawStep::Assert(s) => c!(s),
            RawStep::Mashup(s) => c!(s),
            RawStep::Caom(s) | RawStep::Count(s) => c!(s),
            RawStep::Products(s) => c!(s),
            RawStep::FilterProducts(s) => c!(s),
            RawStep::SiKeywords(s) => c!(s),
            RawStep::Resolve(s) => c!(s),
            RawStep::DuplicationCheck(s) => c!(s),
            RawStep::Missions(s) => c!(s),
            RawStep::Crossmatch(s) => c!(s),
            RawStep::DownloadPlan(s) => c!(s),
            RawStep::Tap(s) => c!(s),
        }
    }
}

/// Metadata and type of a column.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnDecl {
    /// Force the column's type (inferred otherwise).
    #[serde(rename = "type", default)]
    pub ty: Option<DataType>,
    /// Physical unit, e.g. `deg`, `s`, `arcsec` (VOUnit).
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// IVOA UCD, e.g. `pos.eq.ra;meta.main`.
    #[serde(default)]
    pub ucd: Option<String>,
}

/// `table` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableStep {
    #[serde(default)]
    pub description: Option<String>,
    /// Steps that must finish first although no data flows from them.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Inline rows: a list of mappings from column name to value.
    #[serde(default)]
    pub rows: Option<Vec<IndexMap<String, Option<Scalar>>>>,
    /// Inline CSV text with a header line (e.g. a proposal's target list).
    #[serde(default)]
    pub csv: Option<String>,
    /// A CSV, ECSV, VOTable or JSON file, relative to the manifest. May use templates.
    #[serde(default)]
    pub file: Option<String>,
    /// File format when the extension does not say.
    #[serde(default)]
    pub format: Option<Format>,
    /// Types and metadata of columns (unit, description, UCD).
    #[serde(default)]
    pub columns: IndexMap<String, ColumnDecl>,
}

/// One value in a structured filter.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FilterValue {
    /// An inclusive range; either end may be omitted.
    Range(RangeSpec),
    /// An exact value, a `wild*card`, `!negated`, or for numeric columns
    /// `"2..3"`, `">=1000"`, `"<5"`; `null` matches nulls.
    One(Option<Scalar>),
}

/// An inclusive range.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    #[serde(default)]
    pub min: Option<Scalar>,
    #[serde(default)]
    pub max: Option<Scalar>,
}

/// One value or a list of values (any of them matches).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FilterValues {
    Many(Vec<FilterValue>),
    One(FilterValue),
}

/// `filter` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// Column conditions, all of which must hold: `column: value | [values] |
    /// {min, max} | "wild*card" | "!negated"`. Strings match case-insensitively.
    #[serde(default, rename = "where")]
    pub where_: Option<IndexMap<String, FilterValues>>,
    /// A row expression that must be true, e.g. `t_exptime > 1000 and calib_level in [2, 3]`.
    #[serde(default)]
    pub expr: Option<String>,
}

/// `select` and `drop` steps.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnsStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// Column names.
    pub columns: Vec<String>,
}

/// `rename` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// `old_name: new_name`.
    pub columns: IndexMap<String, String>,
}

/// A derived column: an expression, or an expression with a type and metadata.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DeriveSpec {
    Full(DeriveDecl),
    Expr(String),
}

/// A derived column with a declared type and metadata.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeriveDecl {
    /// Row expression, e.g. `obs_title[:80]`.
    pub expr: String,
    #[serde(rename = "type", default)]
    pub ty: Option<DataType>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub ucd: Option<String>,
}

/// `derive` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeriveStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// `new_column: expression`, evaluated in order (a later column may use an earlier one).
    pub columns: IndexMap<String, DeriveSpec>,
}

/// Where nulls sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NullsOrder {
    First,
    Last,
}

/// A sort key: `column`, `-column` (descending), or a full declaration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SortKeySpec {
    Full(SortKeyDecl),
    Name(String),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortKeyDecl {
    pub column: String,
    #[serde(default)]
    pub descending: bool,
    /// Where nulls go (default: last).
    #[serde(default)]
    pub nulls: Option<NullsOrder>,
}

/// `sort` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// Sort keys, most significant first.
    pub by: Vec<SortKeySpec>,
}

/// Which duplicate to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeepSpec {
    First,
    Last,
}

/// `unique` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UniqueStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// Key columns (all columns when omitted), e.g. `[dataURI]`.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Keep the first (default) or last row of each key.
    #[serde(default)]
    pub keep: Option<KeepSpec>,
}

/// `head` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// Number of rows to keep.
    pub n: u64,
}

/// `union` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnionStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input steps, stacked in this order.
    pub from: Vec<String>,
    /// Add a column of this name holding the name of the step each row came from.
    #[serde(default)]
    pub tag: Option<String>,
}

/// Join kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JoinHowSpec {
    Inner,
    Left,
}

/// Join keys: names shared by both sides, or `left_column: right_column`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum JoinOn {
    Same(Vec<String>),
    Pairs(IndexMap<String, String>),
}

/// `join` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The left input step.
    pub left: String,
    /// The right input step.
    pub right: String,
    /// Key columns.
    pub on: JoinOn,
    /// `inner` (default) or `left`.
    #[serde(default)]
    pub how: Option<JoinHowSpec>,
    /// Suffixes for non-key columns present on both sides (default `["_1", "_2"]`).
    #[serde(default)]
    pub suffixes: Option<(String, String)>,
}

/// `group` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The input step.
    pub from: String,
    /// Key columns.
    pub by: Vec<String>,
    /// `output_column: function`, where function is `count`, `count_distinct(col)`,
    /// `sum(col)`, `min(col)`, `max(col)`, `mean(col)`, `first(col)` or
    /// `concat(col)` (distinct values joined with `;`).
    #[serde(default)]
    pub aggregates: IndexMap<String, String>,
}

/// Bounds on a row count.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RowsCheck {
    Exactly(u64),
    Range(RowsRange),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowsRange {
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
}

/// `assert` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The table to check.
    pub from: String,
    /// Row count: exactly `n`, or `{min, max}`.
    #[serde(default)]
    pub rows: Option<RowsCheck>,
    /// Columns that must have no nulls.
    #[serde(default)]
    pub not_null: Vec<String>,
    /// Column sets whose values must be unique: `[dataURI]` or `[[obs_id, filters]]`.
    #[serde(default)]
    pub unique: Vec<ScalarOrList>,
    /// `column: [allowed values]`.
    #[serde(default)]
    pub accepted_values: IndexMap<String, Vec<Scalar>>,
    /// A row expression every row must satisfy.
    #[serde(default)]
    pub expr: Option<String>,
    /// Message printed when a check fails, e.g. "potential duplicates found".
    #[serde(default)]
    pub message: Option<String>,
    /// `error` (default: fail the run) or `warn` (report and go on).
    #[serde(default)]
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warn,
}

/// A file written from a step's result.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// The step whose table is written.
    pub from: String,
    /// Path relative to the output directory (`--out`); the extension picks the
    /// format unless `format` is given. May use templates.
    pub path: String,
    #[serde(default)]
    pub format: Option<Format>,
    /// Write only these columns, in this order.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// `table` (default) or `download_plan`: `path` names `plan.json`, and
    /// beside it go the curl and wget scripts, an aria2c input file, s5cmd
    /// commands (public files in the cloud) and a CSV listing.
    #[serde(default)]
    pub kind: Option<OutputKind>,
}

/// What an output writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Table,
    DownloadPlan,
}

/// `mashup` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MashupStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// Service name, e.g. `Mast.Jwst.Filtered.Niriss` or `Mast.Caom.Filtered`.
    pub service: String,
    /// The service's params exactly as MAST takes them (`columns`, `filters`,
    /// `position`, `obsid`...). Strings may use templates; with `for_each`,
    /// `{{ row.COL }}` is the current row and `{{ batch.columns.COL | id_list }}`
    /// the current batch.
    #[serde(default)]
    pub params: serde_json::Value,
    /// Send one request per row (or per `batch` rows) of this step's table.
    #[serde(default)]
    pub for_each: Option<String>,
    /// Rows per request with `for_each` (default 1). The notebooks advise 5
    /// observations per product request.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub batch: Option<u64>,
    /// Columns of the driving row copied into each result row (tags results
    /// with their target; `batch: 1` only).
    #[serde(default)]
    pub carry: Vec<String>,
    /// Give up waiting for an EXECUTING query after this long: `90s`, `10m`, `1h` (default 10m).
    #[schemars(extend("x-unit" = "duration"))]
    #[serde(default)]
    pub deadline: Option<String>,
}

/// A CAOM criterion: a value, a list of values (any matches), or a range.
/// `*` wildcards become MAST's freeText; strings may use templates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CriterionSpec {
    // Order matters: serde reads `[2, 3]` as a struct too, so lists first.
    Many(Vec<Scalar>),
    Range(RangeSpec),
    One(Scalar),
}

/// A cone: footprints intersecting it match.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionSpec {
    /// Degrees (`346.62`) or sexagesimal hours (`"23:06:29.37"`); may use templates.
    #[serde(default)]
    pub ra: Option<Scalar>,
    /// Degrees (`-5.04`) or sexagesimal degrees (`"-05:02:29.0"`); may use templates.
    #[serde(default)]
    pub dec: Option<Scalar>,
    /// Instead of `ra`/`dec`: an object name MAST resolves (`"M 57"`,
    /// `"HD 104237"`); may use templates. Check the coordinates it resolves
    /// to: names are unreliable for crowded fields.
    #[serde(default)]
    pub object: Option<Scalar>,
    /// `30s`, `2m`, `0.5deg`: a unit is required (default `0.2deg`, as MAST's).
    #[serde(default)]
    pub radius: Option<Scalar>,
}

/// `caom` and `count` steps.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaomStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// `column: value | [values] | {min, max}` on CAOM observation columns,
    /// e.g. `obs_collection: JWST`, `instrument_name: "NIRCAM*"`,
    /// `t_exptime: {min: 100}`. Criteria are ANDed; values ORed.
    #[serde(default)]
    pub criteria: IndexMap<String, CriterionSpec>,
    /// Search a cone around a position.
    #[serde(default)]
    pub position: Option<PositionSpec>,
    /// Columns to return (all when omitted). `caom` only.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Run once per row of this step (templates read `{{ row.COL }}`).
    #[serde(default)]
    pub for_each: Option<String>,
    /// Columns of the driving row copied into each result row.
    #[serde(default)]
    pub carry: Vec<String>,
    /// `count` only: fail when more observations match than this (a guard
    /// before fetching them).
    #[serde(default)]
    pub max: Option<u64>,
    /// Give up waiting for an EXECUTING query after this long (default 10m).
    #[schemars(extend("x-unit" = "duration"))]
    #[serde(default)]
    pub deadline: Option<String>,
}

/// `products` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The observations (a table with an `obsid` column, e.g. a `caom` step).
    pub from: String,
    /// Observations per request (default 5, as MAST's notebooks advise "to avoid server timeouts").
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub batch: Option<u64>,
    /// The column holding CAOM's product group ids (default `obsid`; not `obs_id`).
    #[serde(default)]
    pub obsid_column: Option<String>,
    /// De-duplicate on `dataURI` (default true): a level-3 observation lists its
    /// members' products, so the same file comes back under several parents.
    #[serde(default)]
    pub unique: Option<bool>,
    /// Give up waiting for an EXECUTING query after this long (default 10m).
    #[schemars(extend("x-unit" = "duration"))]
    #[serde(default)]
    pub deadline: Option<String>,
}

/// `filter_products` step: astroquery's `Observations.filter_products`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterProductsStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The products table.
    pub from: String,
    /// Keep only "Minimum Recommended Products".
    #[serde(default)]
    pub mrp_only: bool,
    /// File name suffixes to keep, e.g. `fits` or `[_cal.fits, _x1d.fits]` (case-insensitive).
    #[serde(default)]
    pub extension: Option<ScalarOrList>,
    /// Column filters: `productType: [SCIENCE, INFO]`, `calib_level: [2, 3]`,
    /// `productSubGroupDescription: "!GS-TRACK"`; numeric columns also take
    /// `"100..1000"`, `">=2"`. Values of one column are ORed, `!` values exclude.
    #[serde(default, rename = "where")]
    pub where_: IndexMap<String, FilterValues>,
}

/// `si_keywords` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiKeywordsStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// nircam, niriss, nirspec, miri, fgs or guidestar.
    pub instrument: SiInstrument,
    /// Keyword criteria: `exp_type: NIS_SOSS`, `category: [COM, ERS]`,
    /// `date_obs: {min: "2022-06-01", max: "2022-08-04"}` (ISO dates become
    /// an MJD range on `date_obs_mjd`), `duration: {min: 810, max: 820}`.
    #[serde(default)]
    pub criteria: IndexMap<String, CriterionSpec>,
    /// Keyword columns to return (all when omitted).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Give up waiting for an EXECUTING query after this long (default 10m).
    #[schemars(extend("x-unit" = "duration"))]
    #[serde(default)]
    pub deadline: Option<String>,
}

/// JWST science instruments with keyword services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SiInstrument {
    Nircam,
    Niriss,
    Nirspec,
    Miri,
    Fgs,
    Guidestar,
}

impl SiInstrument {
    /// The Mashup service name.
    pub fn service(self) -> &'static str {
        match self {
            SiInstrument::Nircam => "Mast.Jwst.Filtered.Nircam",
            SiInstrument::Niriss => "Mast.Jwst.Filtered.Niriss",
            SiInstrument::Nirspec => "Mast.Jwst.Filtered.Nirspec",
            SiInstrument::Miri => "Mast.Jwst.Filtered.Miri",
            SiInstrument::Fgs => "Mast.Jwst.Filtered.Fgs",
            SiInstrument::Guidestar => "Mast.Jwst.Filtered.GuideStar",
        }
    }
}

/// `resolve` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The table of names.
    pub from: String,
    /// The column holding the names (default `target_name`).
    #[serde(default)]
    pub column: Option<String>,
    /// `fail` the step when a name does not resolve, or `keep` the row with
    /// null coordinates and `resolved: false` (default `fail`).
    #[serde(default)]
    pub unresolved: Option<UnresolvedPolicy>,
}

/// What to do with names MAST cannot resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnresolvedPolicy {
    Fail,
    Keep,
}

/// `duplication_check` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicationStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The proposal's targets (a `table` step: inline CSV, rows or a file).
    pub targets: String,
    /// Column with the target names (default `target_name`).
    #[serde(default)]
    pub name_column: Option<String>,
    /// Columns with RA and Dec (degrees or sexagesimal). Without them the
    /// names are resolved (Mast.Name.Lookup).
    #[serde(default)]
    pub ra_column: Option<String>,
    #[serde(default)]
    pub dec_column: Option<String>,
    /// Column with each target's search radius (`30s`, `2m`, `12.0m`...).
    /// The radius must exceed the aperture's field of view.
    #[serde(default)]
    pub radius_column: Option<String>,
    /// Radius for targets without their own (default `30s`).
    #[schemars(extend("x-unit" = "angle"))]
    #[serde(default)]
    pub radius: Option<String>,
    /// Extra CAOM criteria for every search (default `obs_collection: JWST`).
    #[serde(default)]
    pub criteria: Option<IndexMap<String, CriterionSpec>>,
    /// Moving targets (solar-system bodies), matched by `target_name` with a
    /// wildcard (`Io` → `Io*`) instead of a position.
    #[serde(default)]
    pub moving_targets: Vec<String>,
    /// Refuse to fetch when a target matches more observations than this (default 5000).
    #[serde(default)]
    pub max: Option<u64>,
}

/// `missions` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissionsStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// Mission (default `jwst`; also `hst`, `classy`, `ullyses`, `iue`).
    #[serde(default)]
    pub mission: Option<String>,
    /// `column: value | [values] | {min, max}`; the server also reads
    /// `"!v"`, `">=v"`, `"a..b"` and `*` wildcards in values.
    #[serde(default)]
    pub conditions: IndexMap<String, CriterionSpec>,
    /// Search around a position (radius up to 30 arcmin; default 3 arcmin).
    #[serde(default)]
    pub position: Option<PositionSpec>,
    /// Columns to return (the server's defaults when omitted).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default)]
    pub sort_by: Vec<String>,
    /// Results per request (default 5000); every page is fetched.
    #[serde(default)]
    pub page_size: Option<u64>,
}

/// `crossmatch` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrossmatchStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The first table (STILTS's "1").
    pub left: String,
    /// The second table ("2"), for a local match.
    #[serde(default)]
    pub right: Option<String>,
    /// Match against MAST instead of a second table: `caom` sends the left
    /// table to Mast.Caom.Crossmatch (server side).
    #[serde(default)]
    pub against: Option<CrossmatchService>,
    /// RA and Dec columns of the left table (default `[ra, dec]`); degrees or sexagesimal.
    #[serde(default)]
    pub left_position: Option<(String, String)>,
    /// RA and Dec columns of the right table (default `[ra, dec]`; CAOM's are `[s_ra, s_dec]`).
    #[serde(default)]
    pub right_position: Option<(String, String)>,
    /// Match radius: `1s`, `30s`, `2m`, `0.01deg` (a unit is required).
    #[schemars(extend("x-unit" = "angle"))]
    pub radius: String,
    /// `best` (the nearest partner of each left row) or `all` (every pair).
    #[serde(default)]
    pub find: Option<FindSpec>,
    /// `1and2` (pairs; default), `1not2`, `2not1`, `all1`, `all2`, `1or2`.
    #[serde(default)]
    pub join: Option<XJoinSpec>,
    /// Suffixes for columns present on both sides (default `["_1", "_2"]`).
    #[serde(default)]
    pub suffixes: Option<(String, String)>,
}

/// Server-side cross-match services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrossmatchService {
    /// Mast.Caom.Crossmatch: CAOM observations near each row.
    Caom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindSpec {
    Best,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum XJoinSpec {
    #[serde(rename = "1and2")]
    And12,
    #[serde(rename = "1not2")]
    Not12,
    #[serde(rename = "2not1")]
    Not21,
    #[serde(rename = "all1")]
    All1,
    #[serde(rename = "all2")]
    All2,
    #[serde(rename = "1or2")]
    Or12,
}

/// `download_plan` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadPlanStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// The products (dataURI, productFilename, obs_collection, obs_id, size, dataRights...).
    pub from: String,
    /// `nested` (default: `mastDownload/<obs_collection>/<obs_id>/<file>`, as astroquery) or `flat`.
    #[serde(default)]
    pub layout: Option<LayoutSpec>,
    /// Look up S3 URIs of public files in the `stpubdata` bucket (MAST's path_lookup).
    #[serde(default)]
    pub cloud: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayoutSpec {
    Nested,
    Flat,
}

/// `tap` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TapStep {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    /// `mast-caom` (MAST's CAOM TAP service; also `mast-gaiadr3`, `mast-tic`,
    /// `mast-ps1dr2`, `mast-hsc`, ... for the other MAST collections), or the
    /// `https://` base URL of any TAP service (the parent of `/sync`).
    pub service: String,
    /// The ADQL query. Values are spliced in with templates that must end
    /// in a quoting filter: `{{ params.name | adql_string }}`,
    /// `{{ params.ra | adql_number }}`, `IN {{ steps.x.columns.obs_id | adql_list }}`,
    /// `{{ params.column | adql_ident }}`.
    pub query: String,
    /// `sync`, `async` (UWS job; resumed after an interruption) or `auto`
    /// (default: sync, switching to async when the sync request times out).
    #[serde(default)]
    pub mode: Option<TapMode>,
    /// MAXREC: the most rows the service may return (default: the service's
    /// own limit).
    #[serde(default)]
    pub maxrec: Option<u64>,
    /// What a truncated result (QUERY_STATUS OVERFLOW) does: `error`
    /// (default: fail the step), `warn` (keep the rows, warn) or `page`
    /// (re-query page by page until complete).
    #[serde(default)]
    pub overflow: Option<OverflowPolicy>,
    /// With `overflow: page`: page by this column (keyset: `ORDER BY col`,
    /// `col > last`). It must be selected, unique and never null. Without it,
    /// pages use the query's `ORDER BY` with `OFFSET`.
    #[serde(default)]
    pub page_by: Option<String>,
    /// Rows per page with `overflow: page` (default 50000: MAST's TAP caps
    /// a result near 100000 rows).
    #[serde(default)]
    pub page_size: Option<u64>,
    /// A sync query slower than this is resubmitted as an async job (mode
    /// `auto`) or fails (mode `sync`) (default `60s`, MAST's gateway timeout).
    #[schemars(extend("x-unit" = "duration"))]
    #[serde(default)]
    pub sync_timeout: Option<String>,
    /// Give up on an async job that has not finished after this long (default `1h`).
    #[schemars(extend("x-unit" = "duration"))]
    #[serde(default)]
    pub deadline: Option<String>,
    /// Result serialisation asked for: `binary2` (default; keeps null
    /// strings), `tabledata`, `binary`, or `csv` (no overflow flag: mastflow
    /// asks for one row more than MAXREC to detect truncation).
    #[serde(default)]
    pub format: Option<TapFormat>,
}

/// How a `tap` query is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TapMode {
    Sync,
    Async,
    Auto,
}

/// What to do when a TAP result is truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverflowPolicy {
    Error,
    Warn,
    Page,
}

/// TAP `RESPONSEFORMAT`s mastflow reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TapFormat {
    Binary2,
    Tabledata,
    Binary,
    Csv,
}
