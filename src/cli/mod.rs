//! The command line: clap definitions and the commands.
//!
//! Exit codes (see `docs/cli.md`): 0 success; 1 a step or an assertion
//! failed; 2 invalid manifest or usage; 3 results changed (reserved for
//! `--locked` and `diff`); 130 interrupted.

pub mod inspect;
pub mod progress;

use crate::diag::Problems;
use crate::exec::{self, Observer, RunOptions, Status};
use crate::manifest;
use crate::output::{self, ManifestInfo, RunRecord};
use crate::plan::Plan;
use crate::validate::{self, Manifest};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_INVALID: i32 = 2;
pub const EXIT_CHANGED: i32 = 3;
/// The run timeout passed (`--run-timeout`, `timeouts.run`); the number
/// GNU `timeout` uses.
pub const EXIT_TIMED_OUT: i32 = 124;
pub const EXIT_INTERRUPTED: i32 = 130;

/// The journal of async TAP jobs in the output directory.
pub const JOURNAL_FILE: &str = "run.jobs.json";

/// MAST, unless the flag, the environment or the manifest say otherwise.
pub const DEFAULT_MAST_URL: &str = "https://mast.stsci.edu";

/// Declarative, reproducible query manifests for JWST data in MAST.
#[derive(Debug, Parser)]
#[command(name = "mastflow", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Colour in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Dot,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Entries with their size and age.
    Ls,
    /// Remove entries older than an age (`0s` removes everything).
    Prune {
        #[arg(long, default_value = "12h")]
        older_than: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    /// For a pull-request comment.
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Source snippets with labels and hints.
    Human,
    /// One line per problem: file:line:col: error[code]: message.
    Short,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests and report every problem with its position.
    Validate {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        #[command(flatten)]
        params: ParamArgs,
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
    },
    /// Show the DAG a manifest compiles to.
    Plan {
        manifest: PathBuf,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        #[command(flatten)]
        params: ParamArgs,
        /// Only these steps (and what they need); `NAME+` adds what follows NAME.
        #[arg(long, num_args = 1..)]
        select: Vec<String>,
    },
    /// Run a manifest and write its outputs and run record.
    Run(RunArgs),
    /// Print the manifest JSON Schema (or, with --download-plan, plan.json's).
    Schema {
        /// The schema of download plans (`plan.json`) instead.
        #[arg(long)]
        download_plan: bool,
    },
    /// Write a commented starter manifest.
    Init {
        /// Where to write it.
        #[arg(default_value = "mastflow.yaml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Serve the MAST emulator (Mashup services, downloads, name resolver)
    /// with realistic JWST data on 127.0.0.1; prints its base URL.
    Sandbox {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Load observations, products and SI keywords from this directory
        /// (see docs/sandbox.md) instead of the bundled data.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Synthetic observations beside the real ones (up to 10^6 for benchmarks).
        #[arg(long, default_value_t = crate::sandbox::DEFAULT_SCALE)]
        scale: u64,
        /// Generator seed: the same seed gives the same archive.
        #[arg(long, default_value_t = crate::sandbox::DEFAULT_SEED)]
        seed: u64,
        /// Delay before every response.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Faults to inject, e.g. `status=503,retry-after=1` (docs/sandbox.md).
        #[arg(long)]
        faults: Option<String>,
        /// Accept what MAST documents as wrong (numeric `obsid`, open
        /// ranges, unknown parameters...) instead of refusing it.
        #[arg(long)]
        lenient: bool,
    },
    /// Download the files of a plan (plan.json): concurrent, resumable,
    /// verified, shardable; a report beside the plan; exit 1 if any failed.
    Fetch {
        /// The plan.json a `download_plan` output wrote.
        plan: PathBuf,
        /// Downloads at once (each host is further bounded by --per-host).
        #[arg(long, short, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: u16,
        /// Only every N-th file starting at the I-th: `--shard 2/4` (for job arrays).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Skip exclusive-access files.
        #[arg(long)]
        only_public: bool,
        /// Verify checksums where the plan has them (sizes are always checked).
        #[arg(long)]
        verify: bool,
        /// Byte ceiling of a file whose size the plan does not give (default 50 GiB).
        #[arg(long, value_name = "BYTES", default_value_t = crate::services::fetch::DEFAULT_MAX_FILE_BYTES)]
        max_file_bytes: u64,
        #[command(flatten)]
        archive: ArchiveArgs,
    },
    /// Compare two output folders (or two versions of a table): rows added,
    /// removed and changed by key; exit 3 when they differ.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// Key columns (default: dataURI, obs_id, obsid, filename, fileSetName
        /// or target, whichever both tables have).
        #[arg(long = "key", value_name = "COLUMN")]
        keys: Vec<String>,
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
    },
    /// What is in a table file (CSV, ECSV, JSON, VOTable): rows, and each
    /// column's type, unit, UCD and null count; for a VOTable also its
    /// serialisation, QUERY_STATUS, VOTable datatypes and PARAMs.
    Inspect {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = inspect::InspectFormat::Text)]
        format: inspect::InspectFormat,
    },
    /// List or prune the response cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
        /// Response cache directory [default: ~/.cache/mastflow/responses].
        #[arg(long, env = "MASTFLOW_CACHE_DIR", global = true, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Check the MAST token: who MAST says you are.
    Whoami {
        #[command(flatten)]
        archive: ArchiveArgs,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct ParamArgs {
    /// Override a param: `--set name=value` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Also let `table` steps read files under DIR (repeatable; default: only
    /// the manifest's directory; /proc, /sys, /dev are never readable).
    #[arg(
        long = "allow-read",
        value_name = "DIR",
        env = "MASTFLOW_ALLOW_READ",
        value_delimiter = ':'
    )]
    pub allow_read: Vec<PathBuf>,
    /// Treat warnings as errors: a criterion value outside CAOM's known
    /// vocabularies (`instrument_name: NIRSPEC`) fails validation.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub manifest: PathBuf,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Output directory.
    #[arg(long, default_value = "mastflow-out")]
    pub out: PathBuf,
    /// Only these steps (and what they need); `NAME+` adds what follows NAME.
    #[arg(long, num_args = 1..)]
    pub select: Vec<String>,
    /// Validate and plan, run nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Steps run at once.
    #[arg(long, short, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// After a failure, finish the steps that do not depend on it.
    #[arg(long)]
    pub keep_going: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Exit 3 when a step's result or an output differs from `mastflow.lock`
    /// beside the manifest ("has MAST changed?").
    #[arg(long, conflicts_with = "update_lock")]
    pub locked: bool,
    /// Write the results into `mastflow.lock` beside the manifest.
    #[arg(long)]
    pub update_lock: bool,
    /// Run against `mastflow sandbox` (our MAST emulator with realistic JWST
    /// data), started in-process on a free port; uses its test token.
    #[arg(long)]
    pub sandbox: bool,
    /// Bound of an archive step without its own `deadline`, its requests and
    /// retries included (`90s`, `30min`, `2h`) [default: the manifest's
    /// `timeouts.step`, else none].
    #[arg(long, value_name = "DUR", value_parser = crate::validate::parse_timeout)]
    pub step_timeout: Option<std::time::Duration>,
    /// Bound of the whole run: steps still running are cut off, the outputs
    /// of finished steps are written, exit 124 [default: the manifest's
    /// `timeouts.run`, else none].
    #[arg(long, value_name = "DUR", value_parser = crate::validate::parse_timeout)]
    pub run_timeout: Option<std::time::Duration>,
}

/// Where MAST is and how to talk to it.
#[derive(Debug, Args, Clone)]
pub struct ArchiveArgs {
    /// MAST base URL [default: the manifest's `mast_url`, else https://mast.stsci.edu].
    #[arg(long, env = "MASTFLOW_BASE_URL")]
    pub base_url: Option<String>,
    /// Requests in flight per host.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub per_host: u16,
    /// Answer only from the response cache (no network); a missing response
    /// fails its step.
    #[arg(long, conflicts_with = "refresh")]
    pub offline: bool,
    /// Ignore cached responses (and refill the cache).
    #[arg(long)]
    pub refresh: bool,
    /// Do not use the response cache at all.
    #[arg(long, conflicts_with_all = ["offline", "refresh"])]
    pub no_cache: bool,
    /// Response cache directory [default: ~/.cache/mastflow/responses].
    #[arg(long, env = "MASTFLOW_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// How long cached responses stay fresh: `90s`, `30m`, `12h`.
    #[arg(long, default_value = "12h")]
    pub cache_ttl: String,
    /// File holding the MAST token (must not be readable by others). The
    /// MAST_API_TOKEN environment variable takes precedence; the default file
    /// is ~/.config/mastflow/token.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// The sandbox's test token, when running against it.
    #[arg(skip)]
    pub sandbox_token: Option<String>,
    /// Requests of one Mashup service in flight at once, `SERVICE=N` (1 to
    /// 16), repeatable; overrides the manifest's `per_service`. Default:
    /// `Mast.Caom.Products=1`, as astroquery sends it.
    #[arg(long, value_name = "SERVICE=N", value_parser = parse_per_service)]
    pub per_service: Vec<(String, usize)>,
    /// The manifest's `per_service`, under the flags.
    #[arg(skip)]
    pub manifest_per_service: Vec<(String, usize)>,
    /// Pages one search may take (Mashup, missions, paged TAP); a server
    /// whose paging never ends is stopped here with a step error.
    #[arg(long, value_name = "N", default_value_t = crate::services::http::DEFAULT_MAX_PAGES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: u64,
    /// Bytes of one API answer, counted after decompression (`262144`,
    /// `256MiB`, `1GiB`); a larger page, or a gzip bomb, is a step error.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_response_bytes: u64,
    /// Timeout of one HTTP request, connection to last byte (`60s`, `10min`);
    /// a request that outlives it is retried [default: the manifest's
    /// `timeouts.request`, else 600s].
    #[arg(long, value_name = "DUR", value_parser = crate::validate::parse_timeout)]
    pub request_timeout: Option<std::time::Duration>,
    /// The manifest's `timeouts.request`, under the flag.
    #[arg(skip)]
    pub manifest_request_timeout: Option<std::time::Duration>,
    /// Attempts after the first for a request that fails on a reset, a
    /// timeout, a cut-short answer, 429 or 5xx (0 to 20).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
}

impl ArchiveArgs {
    /// The response cache these flags ask for.
    fn cache(&self) -> Result<Option<crate::services::cache::Cache>, String> {
        use crate::services::cache::{Cache, Mode};
        if self.no_cache {
            return Ok(None);
        }
        let ttl = crate::validate::parse_duration(&self.cache_ttl)
            .map_err(|e| format!("--cache-ttl: {e}"))?;
        let mode = if self.offline {
            Mode::Offline
        } else if self.refresh {
            Mode::Refresh
        } else {
            Mode::Normal
        };
        Ok(Some(Cache {
            dir: self.cache_dir.clone().unwrap_or_else(Cache::default_dir),
            ttl,
            mode,
        }))
    }

    /// The MAST base URL in effect.
    fn base(&self) -> &str {
        self.base_url.as_deref().unwrap_or(DEFAULT_MAST_URL)
    }

    /// The polite HTTP client, with the token for MAST hosts only.
    fn http(&self) -> Result<Arc<crate::services::http::Http>, String> {
        use crate::services::{auth, http};
        let base = self.base();
        let url = http::check_base_url(base).map_err(|e| format!("--base-url {e}"))?;
        let host = url.host_str().unwrap_or_default();
        // Exact origins only: scheme, host and port of the base URL.
        let port = url.port_or_known_default().unwrap_or(443);
        let mast_hosts = vec![
            "https://mast.stsci.edu".to_string(),
            format!("{}://{host}:{port}", url.scheme()),
        ];
        let token = match &self.sandbox_token {
            Some(t) if std::env::var_os("MAST_API_TOKEN").is_none() => {
                Some(http::Token::new(t.clone()))
            }
            _ => auth::load_token(self.token_file.as_deref()).map_err(|e| e.to_string())?,
        };
        let defaults = http::HttpConfig::default();
        let config = http::HttpConfig {
            per_host: self.per_host as usize,
            mast_hosts,
            max_pages: self.max_pages,
            max_response_bytes: self.max_response_bytes,
            retries: self.retries,
            timeout: self
                .request_timeout
                .or(self.manifest_request_timeout)
                .unwrap_or(defaults.timeout),
            ..defaults
        };
        Ok(Arc::new(
            http::Http::new(config, token).map_err(|e| e.to_string())?,
        ))
    }

    /// The archive clients for a run writing into `out` (where async TAP
    /// jobs are journalled).
    fn services(&self, out: &Path) -> Result<exec::Services, String> {
        use crate::services::{mashup, tap};
        let http = self.http()?;
        let mut config = mashup::MashupConfig::for_base(self.base());
        config.set_per_service(&self.manifest_per_service);
        config.set_per_service(&self.per_service);
        let mut client = mashup::Mashup::new(http.clone(), config);
        let mut tap_client = tap::Tap::new(http.clone());
        if let Some(cache) = self.cache()? {
            client = client.with_cache(cache.clone());
            tap_client = tap_client.with_cache(cache);
        }
        Ok(exec::Services {
            base_url: self.base().to_string(),
            http: Some(http.clone()),
            mashup: Some(client),
            missions: Some(crate::services::missions::Missions::new(http, self.base())),
            tap: Some(tap_client),
            journal: Some(Arc::new(tap::journal::Journal::open(
                &out.join(JOURNAL_FILE),
            ))),
        })
    }
}

/// A byte count: digits, optionally followed by `KiB`, `MiB`, `GiB`, `TiB`
/// (powers of 1024) or `kB`, `MB`, `GB`, `TB` (powers of 1000).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. 262144, 256MiB or 1GiB"))?;
    let k: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        u => {
            return Err(format!(
                "`{u}` is not a size unit; use KiB, MiB, GiB, TiB (or kB, MB, GB, TB)"
            ));
        }
    };
    match n.checked_mul(k) {
        Some(0) | None => Err(format!("`{s}` must be between 1 byte and 16 EiB")),
        Some(b) => Ok(b),
    }
}

fn parse_per_service(s: &str) -> Result<(String, usize), String> {
    let (service, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SERVICE=N, e.g. Mast.Caom.Products=2"))?;
    let service = service.trim();
    if !service.starts_with("Mast.") {
        return Err(format!(
            "`{service}` is not a Mashup service name; write e.g. Mast.Caom.Products=2"
        ));
    }
    match n.trim().parse::<usize>() {
        Ok(n) if (1..=16).contains(&n) => Ok((service.to_string(), n)),
        _ => Err(format!("`{n}` is not a number from 1 to 16")),
    }
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("`{s}` has no name before `=`"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

/// Run the CLI; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let ui = Ui {
        quiet: cli.quiet,
        color,
        json: cli.log_format == LogFormat::Json,
    };
    match cli.command {
        Command::Validate {
            manifests,
            params,
            message_format,
        } => cmd_validate(&ui, &manifests, &params, message_format),
        Command::Plan {
            manifest,
            format,
            params,
            select,
        } => cmd_plan(&ui, &manifest, format, &params, &select),
        Command::Run(args) => cmd_run(&ui, args),
        Command::Schema { download_plan } => {
            if download_plan {
                print!("{}", output::plan_schema_text());
            } else {
                print!("{}", manifest::json_schema_text());
            }
            EXIT_OK
        }
        Command::Init { path, force } => cmd_init(&ui, &path, force),
        Command::Whoami { archive } => cmd_whoami(&archive),
        Command::Cache { action, cache_dir } => {
            use crate::services::cache;
            let dir = cache_dir.unwrap_or_else(cache::Cache::default_dir);
            match action {
                CacheAction::Ls => {
                    let entries = cache::list_described(&dir);
                    for e in &entries {
                        println!(
                            "{}  {:>10} bytes  {:>8}s old  {}",
                            &e.key[..12.min(e.key.len())],
                            e.bytes,
                            e.age.as_secs().min(999_999_999),
                            e.what
                                .as_deref()
                                .unwrap_or("(written by an older mastflow)")
                        );
                    }
                    ui.info(&format!(
                        "{} cached responses in {}",
                        entries.len(),
                        dir.display()
                    ));
                    EXIT_OK
                }
                CacheAction::Prune { older_than } => {
                    match crate::validate::parse_duration(&older_than) {
                        Ok(age) => {
                            ui.info(&format!(
                                "removed {} cached responses from {}",
                                cache::prune(&dir, age),
                                dir.display()
                            ));
                            EXIT_OK
                        }
                        Err(e) => {
                            eprintln!("error: --older-than: {e}");
                            EXIT_INVALID
                        }
                    }
                }
            }
        }
        Command::Diff {
            old,
            new,
            keys,
            format,
        } => cmd_diff(&old, &new, &keys, format),
        Command::Inspect { file, format } => inspect::run(&file, format),
        Command::Fetch {
            plan,
            jobs,
            shard,
            only_public,
            verify,
            max_file_bytes,
            archive,
        } => cmd_fetch(
            &ui,
            &plan,
            (jobs, max_file_bytes),
            shard.as_deref(),
            only_public,
            verify,
            &archive,
        ),
        Command::Sandbox {
            port,
            data,
            scale,
            seed,
            latency_ms,
            faults,
            lenient,
        } => {
            let config = crate::sandbox::Config {
                port,
                data_dir: data,
                scale,
                seed,
                latency_ms,
                faults,
                strict: !lenient,
            };
            match crate::sandbox::run_blocking(config) {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_FAILED
                }
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mastflow",
                &mut std::io::stdout(),
            );
            EXIT_OK
        }
    }
}

struct Ui {
    quiet: bool,
    color: bool,
    json: bool,
}

impl Ui {
    fn problems(&self, p: &Problems, format: MessageFormat) {
        match format {
            MessageFormat::Human => eprint!("{}", p.render(self.color, 100)),
            MessageFormat::Short => eprint!("{}", p.render_short()),
        }
    }

    fn info(&self, msg: &str) {
        if !self.quiet {
            if self.json {
                eprintln!("{}", serde_json::json!({"event": "info", "message": msg}));
            } else {
                eprintln!("{msg}");
            }
        }
    }
}

/// Load and validate one manifest; its warnings are shown.
fn load(
    ui: &Ui,
    path: &Path,
    params: &ParamArgs,
    format: MessageFormat,
) -> Result<Manifest, Problems> {
    let m = load_quietly(path, params)?;
    if !m.warnings.items.is_empty() {
        ui.problems(&m.warnings, format);
    }
    Ok(m)
}

fn load_quietly(path: &Path, params: &ParamArgs) -> Result<Manifest, Problems> {
    let loaded = manifest::load(path)?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    validate::validate(
        &loaded,
        &validate::Options {
            sets: params.sets.clone(),
            base_dir,
            allow_read: params.allow_read.clone(),
            strict: params.strict,
        },
    )
}

fn cmd_validate(ui: &Ui, paths: &[PathBuf], params: &ParamArgs, format: MessageFormat) -> i32 {
    let mut code = EXIT_OK;
    for p in paths {
        match load(ui, p, params, format).and_then(|m| {
            Plan::build(&m, &[])
                .map(|plan| (m, plan))
                .map_err(|e| plan_problem(p, e))
        }) {
            Ok((m, plan)) => ui.info(&format!(
                "ok: {} ({} steps in {} levels, {} outputs)",
                p.display(),
                m.steps.len(),
                plan.num_levels(),
                m.outputs.len()
            )),
            Err(problems) => {
                ui.problems(&problems, format);
                code = EXIT_INVALID;
            }
        }
    }
    code
}

fn plan_problem(path: &Path, e: crate::plan::PlanError) -> Problems {
    let mut p = Problems::new(crate::diag::Source::new(path.display().to_string(), ""));
    p.push(crate::diag::Problem::new(
        "plan",
        e.to_string(),
        Default::default(),
    ));
    p
}

fn cmd_plan(
    ui: &Ui,
    path: &Path,
    format: PlanFormat,
    params: &ParamArgs,
    select: &[String],
) -> i32 {
    let m = match load(ui, path, params, MessageFormat::Human) {
        Ok(m) => m,
        Err(p) => {
            ui.problems(&p, MessageFormat::Human);
            return EXIT_INVALID;
        }
    };
    let plan = match Plan::build(&m, select) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    match format {
        PlanFormat::Text => print!("{}", plan.text(&m)),
        PlanFormat::Dot => print!("{}", plan.dot(&m)),
        PlanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan.json(&m)).unwrap_or_default()
        ),
    }
    EXIT_OK
}

fn cmd_init(ui: &Ui, path: &Path, force: bool) -> i32 {
    if path.exists() && !force {
        eprintln!(
            "error: {} exists; pass --force to overwrite it",
            path.display()
        );
        return EXIT_INVALID;
    }
    let text = include_str!("../../manifests/starter.yaml");
    if let Err(e) = crate::util::write_atomic(path, |w| w.write_all(text.as_bytes())) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return EXIT_FAILED;
    }
    ui.info(&format!(
        "wrote {}; try `mastflow run {}`",
        path.display(),
        path.display()
    ));
    EXIT_OK
}

struct FetchBar(indicatif::ProgressBar);

impl crate::services::fetch::FetchProgress for FetchBar {
    fn bytes(&self, n: u64) {
        self.0.inc(n);
    }
    fn file_done(&self, r: &crate::services::fetch::FileReport) {
        if r.status == "failed" {
            self.0.println(format!(
                "[FAILED] {}: {}",
                r.path,
                r.error.clone().unwrap_or_default()
            ));
        }
    }
}

struct FetchLines;

impl crate::services::fetch::FetchProgress for FetchLines {
    fn file_done(&self, r: &crate::services::fetch::FileReport) {
        eprintln!(
            "[{}] {} ({} bytes){}",
            r.status,
            r.path,
            r.bytes,
            r.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
}

fn cmd_fetch(
    ui: &Ui,
    plan: &Path,
    (jobs, max_file_bytes): (u16, u64),
    shard: Option<&str>,
    only_public: bool,
    verify: bool,
    archive: &ArchiveArgs,
) -> i32 {
    use crate::services::fetch;
    let entries = match fetch::read_plan(plan) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let shard = match shard.map(fetch::parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let _lock = match fetch::lock_plan(plan, shard) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let mut archive = archive.clone();
    archive.per_host = archive.per_host.min(jobs);
    let http = match archive.http() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let total: u64 = entries.iter().filter_map(|e| e.size).sum();
    let progress: Arc<dyn fetch::FetchProgress> = if ui.quiet {
        Arc::new(fetch::NoProgress)
    } else if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Arc::new(FetchBar(bar))
    } else {
        Arc::new(FetchLines)
    };
    let root = plan
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let opts = fetch::FetchOptions {
        jobs: jobs as usize,
        shard,
        only_public,
        verify,
        retries: archive.retries,
        max_file_bytes,
    };
    let report = rt.block_on(fetch::fetch(http, entries, root.clone(), opts, progress));
    let stem = plan.file_stem().and_then(|s| s.to_str()).unwrap_or("plan");
    let report_path = root.join(fetch::report_name(stem, shard));
    let mut json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    json.push(b'\n');
    if let Err(e) = crate::util::write_atomic(&report_path, |w| w.write_all(&json)) {
        eprintln!("error: cannot write {}: {e}", report_path.display());
    }
    ui.info(&format!(
        "fetch: {} downloaded, {} resumed, {} already complete, {} skipped, {} failed; {} bytes; report {}",
        report.downloaded,
        report.resumed,
        report.complete,
        report.skipped,
        report.failed,
        report.bytes,
        report_path.display()
    ));
    if report.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// The message of a run cut off by its timeout: which steps, and what to do.
fn run_timed_out(outcome: &exec::Outcome, after: Option<std::time::Duration>) -> String {
    let cut: Vec<&str> = outcome
        .reports
        .iter()
        .filter(|r| r.status == Status::TimedOut)
        .map(|r| r.name.as_str())
        .collect();
    format!(
        "error: the run timeout ({}) passed; steps cut off: {}; the outputs of finished steps are written and run.json lists every step's status; raise --run-timeout (or `timeouts.run` in the manifest), or run the rest with --select",
        crate::services::http::human_duration(after.unwrap_or_default()),
        if cut.is_empty() {
            "none".to_string()
        } else {
            cut.join(", ")
        }
    )
}

/// Outputs the previous run recorded in `out/run.json` that still exist
/// and that this run does not write: stale files a reader could take for
/// current results.
fn stale_outputs(out: &Path, written: &[output::Written]) -> Vec<String> {
    let Ok(bytes) = std::fs::read(out.join("run.json")) else {
        return Vec::new();
    };
    let Ok(old) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    let now: std::collections::HashSet<&str> = written.iter().map(|w| w.path.as_str()).collect();
    let earlier = old["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["path"].as_str());
    let still_stale = old["stale_outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str());
    let mut stale: Vec<String> = earlier
        .chain(still_stale)
        .filter(|p| crate::util::check_relative_path(p).is_ok())
        .filter(|p| !now.contains(p) && out.join(p).is_file())
        .map(|p| crate::textsafe::sanitise_to(p, 200))
        .collect();
    stale.sort();
    stale.dedup();
    stale
}

/// A table file to compare: (relative name, old path, new path).
type DiffPair = (String, Option<PathBuf>, Option<PathBuf>);

/// The table files to compare.
fn diff_pairs(old: &Path, new: &Path) -> Result<Vec<DiffPair>, String> {
    use crate::table::io::Format;
    if old.is_file() && new.is_file() {
        return Ok(vec![(
            new.file_name()
                .and_then(|f| f.to_str())
                .unwrap_or("table")
                .to_string(),
            Some(old.to_path_buf()),
            Some(new.to_path_buf()),
        )]);
    }
    if !(old.is_dir() && new.is_dir()) {
        return Err(format!(
            "{} and {} must both be table files or both be output folders",
            old.display(),
            new.display()
        ));
    }
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if Format::from_path(&p).is_some()
                && !p.ends_with("run.json")
                && !p.to_string_lossy().ends_with(".json")
            {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.insert(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    walk(old, old, &mut names);
    walk(new, new, &mut names);
    Ok(names
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                Some(old.join(&n)).filter(|p| p.exists()),
                Some(new.join(&n)).filter(|p| p.exists()),
            )
        })
        .collect())
}

fn cmd_diff(old: &Path, new: &Path, keys: &[String], format: DiffFormat) -> i32 {
    use crate::table::diff::{TableDiff, default_key, diff};
    let pairs = match diff_pairs(old, new) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let mut results: Vec<(String, Result<TableDiff, String>)> = Vec::new();
    for (name, o, n) in pairs {
        let r = match (o, n) {
            (Some(o), Some(n)) => crate::table::io::read_path(&o, None)
                .and_then(|ot| crate::table::io::read_path(&n, None).map(|nt| (ot, nt)))
                .map_err(|e| e.to_string())
                .and_then(|(ot, nt)| {
                    let key = if keys.is_empty() {
                        default_key(&ot, &nt)
                    } else {
                        keys.to_vec()
                    };
                    diff(&ot, &nt, &key).map_err(|e| e.to_string())
                }),
            (None, Some(_)) => Err("only in NEW".into()),
            (Some(_), None) => Err("only in OLD".into()),
            (None, None) => continue,
        };
        results.push((name, r));
    }
    let differ = results
        .iter()
        .any(|(_, r)| r.as_ref().map_or(true, |d| !d.is_empty()));
    print!("{}", render_diff(&results, format));
    if differ { EXIT_CHANGED } else { EXIT_OK }
}

fn render_diff(
    results: &[(String, Result<crate::table::diff::TableDiff, String>)],
    format: DiffFormat,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    match format {
        DiffFormat::Json => {
            let v: Vec<serde_json::Value> = results
                .iter()
                .map(|(n, r)| match r {
                    Ok(d) => serde_json::json!({"table": n, "diff": d}),
                    Err(e) => serde_json::json!({"table": n, "error": e}),
                })
                .collect();
            let _ = writeln!(
                s,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
        DiffFormat::Text => {
            for (n, r) in results {
                match r {
                    Err(e) => {
                        let _ = writeln!(s, "{n}: {e}");
                    }
                    Ok(d) if d.is_empty() => {
                        let _ = writeln!(s, "{n}: no change");
                    }
                    Ok(d) => {
                        let _ = writeln!(
                            s,
                            "{n}: {} added, {} removed, {} changed (key: {})",
                            d.added.len(),
                            d.removed.len(),
                            d.changed.len(),
                            d.key.join(", ")
                        );
                        for c in &d.columns_added {
                            let _ = writeln!(s, "  + column {c}");
                        }
                        for c in &d.columns_removed {
                            let _ = writeln!(s, "  - column {c}");
                        }
                        for k in &d.added {
                            let _ = writeln!(s, "  + {k}");
                        }
                        for k in &d.removed {
                            let _ = writeln!(s, "  - {k}");
                        }
                        for c in &d.changed {
                            let cells: Vec<String> = c
                                .cells
                                .iter()
                                .map(|x| format!("{}: {} -> {}", x.column, x.old, x.new))
                                .collect();
                            let _ = writeln!(s, "  ~ {}: {}", c.key, cells.join("; "));
                        }
                    }
                }
            }
        }
        DiffFormat::Markdown => {
            let _ = writeln!(s, "### mastflow diff\n");
            let _ = writeln!(
                s,
                "| table | added | removed | changed |\n|---|---:|---:|---:|"
            );
            for (n, r) in results {
                match r {
                    Ok(d) => {
                        let _ = writeln!(
                            s,
                            "| `{n}` | {} | {} | {} |",
                            d.added.len(),
                            d.removed.len(),
                            d.changed.len()
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(s, "| `{n}` | {e} | | |");
                    }
                }
            }
            for (n, r) in results {
                let Ok(d) = r else { continue };
                if d.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "\n<details><summary><code>{n}</code> (key: {})</summary>\n",
                    d.key.join(", ")
                );
                let _ = writeln!(s, "| | key | change |\n|---|---|---|");
                for k in &d.added {
                    let _ = writeln!(s, "| + | `{k}` | added |");
                }
                for k in &d.removed {
                    let _ = writeln!(s, "| − | `{k}` | removed |");
                }
                for c in &d.changed {
                    let cells: Vec<String> = c
                        .cells
                        .iter()
                        .map(|x| format!("`{}`: {} → {}", x.column, x.old, x.new))
                        .collect();
                    let _ = writeln!(s, "| ~ | `{}` | {} |", c.key, cells.join("; "));
                }
                let _ = writeln!(s, "\n</details>");
            }
        }
    }
    s
}

fn cmd_whoami(archive: &ArchiveArgs) -> i32 {
    use crate::services::auth::{Identity, whoami};
    let http = match archive.http() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    match rt.block_on(whoami(&http, archive.base())) {
        Ok(Identity::User { name }) => {
            println!("{}", crate::textsafe::sanitise(&name));
            EXIT_OK
        }
        Ok(Identity::Anonymous) => {
            eprintln!(
                "anonymous: MAST does not recognise the token (none set, expired, or revoked); create one at https://auth.mast.stsci.edu/token"
            );
            EXIT_FAILED
        }
        Err(e) => {
            eprintln!("error: {}", crate::textsafe::sanitise(&e.to_string()));
            EXIT_FAILED
        }
    }
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM; the handlers are
/// installed when this is called, not when the future is first polled.
fn interrupt_listener() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn observer(ui: &Ui) -> Arc<dyn Observer> {
    if ui.quiet {
        Arc::new(exec::Silent)
    } else if ui.json {
        Arc::new(progress::JsonLines)
    } else if std::io::stderr().is_terminal() {
        Arc::new(progress::Bars::new())
    } else {
        Arc::new(progress::Lines)
    }
}

/// Output paths checked once params are rendered and `--out` is known: a
/// templated path that leaves `--out`, names a mastflow file or another
/// output's file, or any output over a `table` step's input file. Located at
/// the output's path.
fn check_outputs(m: &Manifest, out: &Path) -> Option<crate::diag::Problem> {
    let ctx = exec::base_context(m);
    let problem = |o: &crate::validate::Output, code: &'static str, msg: String, help: &str| {
        Some(
            crate::diag::Problem::new(code, msg, o.span)
                .label("this output")
                .help(help.to_string()),
        )
    };
    let mut seen: Vec<(&crate::validate::Output, String)> = Vec::new();
    for o in &m.outputs {
        let Ok(rendered) = ctx.render(&o.path) else {
            continue; // reported by the run, with the template error
        };
        let templated = crate::template::is_template(&o.path);
        if let Err(why) = crate::validate::check_relative_path(&rendered) {
            return problem(
                o,
                "bad_path",
                format!(
                    "output path `{}` renders to `{rendered}`, which {why}",
                    o.path
                ),
                "write a relative path inside the output directory",
            );
        }
        let norm = crate::validate::normal_output_path(&rendered);
        if let Some(why) = crate::validate::reserved_output(&norm).filter(|_| templated) {
            return problem(
                o,
                "reserved_output",
                format!(
                    "output path `{}` renders to `{rendered}`, which is {why}",
                    o.path
                ),
                "choose another name for this output",
            );
        }
        if seen.iter().any(|(_, p)| *p == norm) {
            return problem(
                o,
                "duplicate_output",
                format!("two outputs write `{norm}` (output path `{}`)", o.path),
                "give each output its own path",
            );
        }
        seen.push((o, norm));
    }
    output_over_input(m, out, &seen)
}

/// An output that would overwrite a `table` step's input file.
fn output_over_input(
    m: &Manifest,
    out: &Path,
    outputs: &[(&crate::validate::Output, String)],
) -> Option<crate::diag::Problem> {
    use crate::validate::{Op, TableOp};
    let out = std::fs::canonicalize(out).ok()?;
    for s in &m.steps {
        let Op::Table(TableOp::Static { origin, .. }) = &s.op else {
            continue;
        };
        let input = crate::validate::resolve_path(&m.base_dir, origin);
        let Ok(input) = std::fs::canonicalize(&input) else {
            continue;
        };
        for (o, p) in outputs {
            if out.join(p) == input {
                return Some(
                    crate::diag::Problem::new(
                        "output_over_input",
                        format!(
                            "output `{}` would overwrite `{origin}`, the input file of step `{}`",
                            o.path, s.name
                        ),
                        o.span,
                    )
                    .label("written over the input")
                    .help("choose another --out, or another path for this output"),
                );
            }
        }
    }
    None
}

/// `mastflow.lock` beside the manifest.
fn lock_path(args: &RunArgs) -> PathBuf {
    args.manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("mastflow.lock")
}

/// Read and check `mastflow.lock` before a `--locked` / `--update-lock` run:
/// a lock that cannot be used is reported before anything runs.
fn lock_before_run(args: &RunArgs) -> Result<Option<crate::lock::LockFile>, i32> {
    if !(args.locked || args.update_lock) {
        return Ok(None);
    }
    match crate::lock::read_lock(&lock_path(args)) {
        Err(e) => {
            eprintln!("error: {e}");
            Err(EXIT_INVALID)
        }
        Ok(l) => match l.corrupt {
            Some(e) if args.locked => {
                eprintln!("error: {e}");
                Err(EXIT_INVALID)
            }
            Some(e) => {
                eprintln!("note: {e}; a successful run replaces it");
                Ok(Some(l.file))
            }
            None => Ok(Some(l.file)),
        },
    }
}

/// `--locked`: compare with `mastflow.lock` (exit 3 on a difference);
/// `--update-lock`: rewrite this manifest's entry, after a successful run only.
fn lock_step(
    ui: &Ui,
    args: &RunArgs,
    file: &crate::lock::LockFile,
    now: crate::lock::Lock,
    name: &str,
    code: i32,
) -> i32 {
    let path = lock_path(args);
    if args.update_lock {
        if code != EXIT_OK {
            eprintln!(
                "{} not updated: the run did not succeed (its last good entry is kept)",
                path.display()
            );
            return code;
        }
        if let Err(e) = crate::lock::update(&path, name, now) {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
        ui.info(&format!("wrote {}", path.display()));
        return code;
    }
    let Some(old) = file.manifests.get(name) else {
        eprintln!(
            "error: {} has no lock for `{name}`; run with --update-lock first",
            path.display(),
        );
        return EXIT_INVALID;
    };
    let diffs = crate::lock::lock_differences(old, &now);
    if diffs.is_empty() {
        ui.info(&format!("results match {}", path.display()));
        return code;
    }
    eprintln!("results differ from {}:", path.display());
    for d in &diffs {
        eprintln!("  {d}");
    }
    if code == EXIT_OK { EXIT_CHANGED } else { code }
}

fn cmd_run(ui: &Ui, args: RunArgs) -> i32 {
    let m = match load(ui, &args.manifest, &args.params, MessageFormat::Human) {
        Ok(m) => Arc::new(m),
        Err(p) => {
            ui.problems(&p, MessageFormat::Human);
            return EXIT_INVALID;
        }
    };
    let plan = match Plan::build(&m, &args.select) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    if let Some(p) = check_outputs(&m, &args.out) {
        eprint!("{}", crate::diag::render_at(&m.source, &p, ui.color));
        return EXIT_INVALID;
    }
    let lock_file = match lock_before_run(&args) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if args.dry_run {
        print!("{}", plan.text(&m));
        ui.info("dry run: nothing was run or written");
        return EXIT_OK;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let started_at = output::now_iso();
    let t0 = std::time::Instant::now();
    let opts = RunOptions {
        jobs: args.jobs as usize,
        keep_going: args.keep_going,
        dry_run: false,
        step_timeout: args.step_timeout.or(m.timeouts.step),
        run_timeout: args.run_timeout.or(m.timeouts.run),
    };
    let run_timeout = opts.run_timeout;
    let obs = observer(ui);
    // `--sandbox`: our MAST emulator, in-process, on a free port.
    let mut archive = args.archive.clone();
    if archive.base_url.is_none() {
        archive.base_url = m.mast_url.clone();
    }
    archive.manifest_per_service = m.per_service.clone();
    archive.manifest_request_timeout = m.timeouts.request;
    let _sandbox = if args.sandbox {
        match rt.block_on(crate::sandbox::start(crate::sandbox::Config::default())) {
            Ok(running) => {
                ui.info(&format!(
                    "sandbox: {} observations at {}",
                    running.archive.num_observations(),
                    running.base_url
                ));
                archive.base_url = Some(running.base_url.clone());
                archive.sandbox_token = Some(crate::sandbox::token());
                // The sandbox's answers never go into the user's response
                // cache: a cache of its own, removed when the run ends (its
                // port, part of every key, changes from run to run anyway).
                let cache = match tempfile::Builder::new()
                    .prefix(".mastflow-sandbox-cache")
                    .tempdir()
                {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: cannot create the sandbox's cache: {e}");
                        return EXIT_FAILED;
                    }
                };
                archive.cache_dir = Some(cache.path().to_path_buf());
                Some((running, cache))
            }
            Err(e) => {
                eprintln!("error: cannot start the sandbox: {e}");
                return EXIT_FAILED;
            }
        }
    } else {
        None
    };
    let out_dir = match crate::publish::OutDir::open(&args.out) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let services = match archive.services(&args.out) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    if let Some(http) = &services.http {
        let o = obs.clone();
        http.on_retry(Arc::new(move |r| o.retrying(r)));
    }
    // Listen for Ctrl-C before any step starts, so an early one is caught too.
    let interrupt = {
        let _in_runtime = rt.enter();
        interrupt_listener()
    };
    let outcome = rt.block_on(exec::run(
        m.clone(),
        plan.clone(),
        opts,
        services,
        obs,
        interrupt,
    ));
    // A step cancelled mid-read may still hold a blocking thread; do not wait for it.
    rt.shutdown_background();
    let ctx = exec::base_context(&m);
    let staged = if outcome.interrupted {
        Ok(PathBuf::new())
    } else {
        out_dir.stage()
    };
    let staging = match staged {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let (written, out_errors) = if outcome.interrupted {
        (Vec::new(), Vec::new())
    } else {
        output::write_outputs(&m, &outcome, &ctx, &staging)
    };
    let code = if outcome.interrupted {
        EXIT_INTERRUPTED
    } else if outcome.timed_out {
        EXIT_TIMED_OUT
    } else if outcome.failed() || !out_errors.is_empty() {
        EXIT_FAILED
    } else {
        EXIT_OK
    };
    for r in outcome
        .reports
        .iter()
        .filter(|r| matches!(r.status, Status::Failed | Status::AssertionFailed))
    {
        let step = &m.steps[m.step_id(&r.name).unwrap_or(0)];
        let what = if r.status == Status::AssertionFailed {
            "assertion failed"
        } else {
            "failed"
        };
        let problem = crate::diag::Problem::new(
            "step_failed",
            format!(
                "step `{}` {what}: {}",
                r.name,
                r.error.clone().unwrap_or_default()
            ),
            step.span,
        )
        .label(format!("{} step", step.kind));
        eprint!("{}", crate::diag::render_at(&m.source, &problem, ui.color));
    }
    for e in &out_errors {
        eprintln!("error: {e}");
    }
    if outcome.timed_out {
        eprintln!("{}", run_timed_out(&outcome, run_timeout));
    }
    let status = match code {
        EXIT_OK => "succeeded",
        EXIT_INTERRUPTED => "interrupted",
        EXIT_TIMED_OUT => "timed_out",
        _ => "failed",
    };
    let manifest_path = args.manifest.display().to_string();
    let record = RunRecord {
        mastflow_version: env!("CARGO_PKG_VERSION"),
        manifest: ManifestInfo {
            name: &m.name,
            path: &manifest_path,
            sha256: &m.sha256,
        },
        params: &m.params,
        env: m.env.keys().map(String::as_str).collect(),
        started_at,
        duration_ms: t0.elapsed().as_millis() as u64,
        status,
        exit_code: code,
        steps: &outcome.reports,
        outputs: &written,
        output_errors: out_errors.iter().map(|e| e.to_string()).collect(),
        stale_outputs: match outcome.interrupted {
            true => Vec::new(),
            false => stale_outputs(&args.out, &written),
        },
    };
    let mut code = code;
    if let Some(file) = lock_file.as_ref().filter(|_| !outcome.interrupted) {
        let now = crate::lock::lock_of(&m, &outcome, &written);
        code = lock_step(ui, &args, file, now, &m.name, code);
    }
    if !outcome.interrupted {
        let stale = &record.stale_outputs;
        let published = output::write_run_record(&staging, &record).and_then(|p| {
            let mut files: Vec<String> = written.iter().map(|w| w.path.clone()).collect();
            files.push("run.json".into());
            out_dir
                .publish(&files)
                .map_err(|e| output::OutputError::Bad {
                    path: args.out.display().to_string(),
                    message: e.to_string(),
                })?;
            Ok(p)
        });
        match published {
            Ok(p) => {
                ui.info(&format!(
                    "run `{}` {status}: {} outputs and {} written to {}",
                    m.name,
                    written.len(),
                    p.file_name().and_then(|f| f.to_str()).unwrap_or("run.json"),
                    args.out.display()
                ));
                if !stale.is_empty() {
                    ui.info(&format!(
                        "note: {} output(s) of the previous run in {} were not written by this one (removed from the manifest?) and are left as they were: {}; delete them if they are no longer wanted",
                        stale.len(),
                        args.out.display(),
                        stale.join(", ")
                    ));
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILED;
            }
        }
    } else {
        eprintln!("interrupted: no outputs were written");
    }
    code
}
