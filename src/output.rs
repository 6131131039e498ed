//! Outputs: result tables and the run record, written atomically.
//!
//! Every file is written to a temporary file beside it and renamed, so an
//! interrupted run leaves either the previous file or the complete new one.
//! Table files are deterministic; the run record (`run.json`) says what ran,
//! with which parameters, and how each step went.

use crate::exec::{Outcome, StepReport};
use crate::table::io::{self, Format};
use crate::table::{Table, ops};
use crate::template::Context;
use crate::util::{sha256_hex, write_atomic};
use crate::validate::{Manifest, ParamValue, check_relative_path};
use indexmap::IndexMap;
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors writing outputs.
#[derive(Debug, Error)]
pub enum OutputError {
    #[error("output `{path}`: {message}")]
    Bad { path: String, message: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One written file.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub path: String,
    pub from: String,
    pub format: &'static str,
    pub rows: usize,
    pub sha256: String,
}

/// Render a table in a format into memory.
pub fn encode(table: &Table, format: Format, name: &str) -> Result<Vec<u8>, io::IoError> {
    let mut buf = Vec::new();
    io::write(table, format, name, &mut buf)?;
    Ok(buf)
}

/// Write the outputs whose step produced a table. Returns what was written,
/// and errors for outputs that could not be.
pub fn write_outputs(
    m: &Manifest,
    outcome: &Outcome,
    ctx: &Context,
    out_dir: &Path,
) -> (Vec<Written>, Vec<OutputError>) {
    let mut written = Vec::new();
    let mut errors = Vec::new();
    for o in &m.outputs {
        let Some(table) = &outcome.tables[o.from] else {
            continue;
        };
        let rel = match ctx.render(&o.path) {
            Ok(p) => p,
            Err(e) => {
                errors.push(OutputError::Bad {
                    path: o.path.clone(),
                    message: e,
                });
                continue;
            }
        };
        if let Err(why) = check_relative_path(&rel) {
            errors.push(OutputError::Bad {
                path: rel.clone(),
                message: format!("path {why}"),
            });
            continue;
        }
        let projected;
        let t: &Table = match &o.columns {
            Some(cols) => match ops::select(table, cols) {
                Ok(p) => {
                    projected = p;
                    &projected
                }
                Err(e) => {
                    errors.push(OutputError::Bad {
                        path: rel.clone(),
                        message: e.to_string(),
                    });
                    continue;
                }
            },
            None => table,
        };
        let name = &m.steps[o.from].name;
        let bytes = match encode(t, o.format, name) {
            Ok(b) => b,
            Err(e) => {
                errors.push(OutputError::Bad {
                    path: rel.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let full = out_dir.join(&rel);
        if let Err(e) = write_atomic(&full, |w| w.write_all(&bytes)) {
            errors.push(OutputError::Write {
                path: full.display().to_string(),
                source: e,
            });
            continue;
        }
        written.push(Written {
            path: rel,
            from: name.clone(),
            format: o.format.name(),
            rows: t.num_rows(),
            sha256: sha256_hex(&bytes),
        });
    }
    (written, errors)
}

/// The run record written as `run.json` beside the outputs.
#[derive(Debug, Serialize)]
pub struct RunRecord<'a> {
    pub mastflow_version: &'static str,
    pub manifest: ManifestInfo<'a>,
    pub params: &'a IndexMap<String, ParamValue>,
    /// Names of the environment variables the manifest allowed (never their values).
    pub env: Vec<&'a str>,
    pub started_at: String,
    pub duration_ms: u64,
    pub status: &'static str,
    pub exit_code: i32,
    pub steps: &'a [StepReport],
    pub outputs: &'a [Written],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ManifestInfo<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub sha256: &'a str,
}

/// Write `run.json` into `out_dir`.
pub fn write_run_record(out_dir: &Path, record: &RunRecord<'_>) -> Result<PathBuf, OutputError> {
    let path = out_dir.join("run.json");
    let mut text = serde_json::to_vec_pretty(record).expect("run record serialises");
    text.push(b'\n');
    write_atomic(&path, |w| w.write_all(&text)).map_err(|e| OutputError::Write {
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(path)
}

/// Current UTC time as ISO-8601 (for the run record only; never in tables).
pub fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
