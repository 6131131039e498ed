//! `mastflow inspect FILE`: what is in a table file.
//!
//! Prints the row count and, per column, the type, unit, UCD and null count of
//! a CSV, ECSV, JSON or VOTable file; for a VOTable also the serialisation,
//! the `QUERY_STATUS`, each FIELD's VOTable datatype and arraysize, and the
//! PARAMs. `--format json` gives the same as one JSON object. The format comes
//! from the extension, or from the first bytes when the extension says nothing
//! (TAP responses saved as `.out`, `.txt`, …).

use crate::table::io::{self, Format, VotableRead};
use crate::table::{Column, Table};
use clap::ValueEnum;
use serde_json::{Value as J, json};
use std::io::Read;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    Text,
    Json,
}

/// Run `inspect`; returns the exit code (1 when the file cannot be read).
pub fn run(path: &Path, format: InspectFormat) -> i32 {
    match report(path) {
        Ok(r) => {
            match format {
                InspectFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("JSON values serialise")
                ),
                InspectFormat::Text => print!("{}", render(&r)),
            }
            super::EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_FAILED
        }
    }
}

/// The format of `path`: its extension, else a look at its first bytes.
fn detect(path: &Path) -> Result<Format, String> {
    if let Some(f) = Format::from_path(path) {
        return Ok(f);
    }
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    Ok(if t.starts_with("# %ECSV") {
        Format::Ecsv
    } else if t.starts_with('<') {
        Format::Votable
    } else if t.starts_with('{') || t.starts_with('[') {
        Format::Json
    } else {
        Format::Csv
    })
}

/// Everything `inspect` prints, as JSON.
fn report(path: &Path) -> Result<J, String> {
    let format = detect(path)?;
    let origin = path.display().to_string();
    let (table, vot) = match format {
        Format::Votable | Format::VotableBinary2 => {
            let file = std::fs::File::open(path).map_err(|e| format!("{origin}: {e}"))?;
            let mut r =
                io::votable::read_full(std::io::BufReader::with_capacity(1 << 16, file), &origin)
                    .map_err(|e| e.to_string())?;
            (std::mem::replace(&mut r.table, Table::empty()), Some(r))
        }
        _ => (
            io::read_path(path, Some(format)).map_err(|e| e.to_string())?,
            None,
        ),
    };
    let format_name = match format {
        Format::VotableBinary2 => "votable",
        f => f.name(),
    };
    let mut out = json!({
        "path": origin,
        "format": format_name,
        "rows": table.num_rows(),
        "columns": columns(&table, vot.as_ref()),
    });
    if let Some(r) = &vot {
        out["votable"] = votable_part(r);
    }
    Ok(out)
}

fn columns(table: &Table, vot: Option<&VotableRead>) -> Vec<J> {
    table
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut j = column(c);
            if let Some(f) = vot.and_then(|r| r.fields.get(i)) {
                j["votable"] = json!({
                    "datatype": f.datatype,
                    "arraysize": f.arraysize,
                    "null": f.null,
                    "utype": f.utype,
                });
            }
            j
        })
        .collect()
}

fn column(c: &Column) -> J {
    json!({
        "name": c.name,
        "type": c.data_type().name(),
        "unit": c.meta.unit,
        "ucd": c.meta.ucd,
        "xtype": c.meta.xtype,
        "description": c.meta.description,
        "nulls": c.null_count(),
    })
}

fn votable_part(r: &VotableRead) -> J {
    json!({
        "table": r.name,
        "description": r.description,
        "serialization": r.serialization,
        "query_status": r.query_status.as_ref().map(|s| json!({"value": s.value, "message": s.message})),
        "params": r.params.iter().map(|p| json!({
            "name": p.name, "datatype": p.datatype, "value": p.value, "unit": p.unit, "ucd": p.ucd,
        })).collect::<Vec<_>>(),
    })
}

fn s(v: &J) -> &str {
    v.as_str().unwrap_or("")
}

/// The report as text: a summary line, then one line per column.
fn render(r: &J) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let vot = r.get("votable");
    let ser = vot.map(|v| s(&v["serialization"])).unwrap_or("");
    let ncols = r["columns"].as_array().map_or(0, Vec::len);
    let kind = if ser.is_empty() {
        s(&r["format"]).to_string()
    } else {
        format!("{} {ser}", s(&r["format"]))
    };
    let _ = writeln!(
        out,
        "{}: {kind}, {} rows, {ncols} columns",
        s(&r["path"]),
        r["rows"]
    );
    if let Some(v) = vot {
        if let Some(name) = v["table"].as_str() {
            let desc = v["description"]
                .as_str()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let _ = writeln!(out, "table: {name}{desc}");
        }
        if let Some(q) = v["query_status"].as_object() {
            let msg = q["message"]
                .as_str()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            let _ = writeln!(out, "QUERY_STATUS: {}{msg}", s(&q["value"]));
        }
    }
    out.push('\n');
    out.push_str(&column_lines(r));
    if let Some(params) = vot
        .and_then(|v| v["params"].as_array())
        .filter(|p| !p.is_empty())
    {
        out.push_str("\nPARAMs:\n");
        for p in params {
            let unit = p["unit"]
                .as_str()
                .map(|u| format!(" [{u}]"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {} = {}{unit}", s(&p["name"]), s(&p["value"]));
        }
    }
    out
}

/// The columns as an aligned table.
fn column_lines(r: &J) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "column".into(),
        "type".into(),
        "votable".into(),
        "unit".into(),
        "ucd".into(),
        "nulls".into(),
    ]];
    for c in r["columns"].as_array().into_iter().flatten() {
        let vot = c
            .get("votable")
            .map_or(String::new(), |v| match v["arraysize"].as_str() {
                Some(a) => format!("{}[{a}]", s(&v["datatype"])),
                None => s(&v["datatype"]).to_string(),
            });
        rows.push([
            s(&c["name"]).into(),
            s(&c["type"]).into(),
            vot,
            s(&c["unit"]).into(),
            s(&c["ucd"]).into(),
            c["nulls"].to_string(),
        ]);
    }
    let show_vot = r.get("votable").is_some();
    let widths: Vec<usize> = (0..6)
        .map(|k| {
            rows.iter()
                .map(|row| row[k].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = (0..6)
            .filter(|&k| k != 2 || show_vot)
            .map(|k| format!("{:<w$}", row[k], w = widths[k]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
