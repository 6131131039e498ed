//! Result documents: the output formats the service offers (`RESPONSEFORMAT`
//! / `FORMAT` values and the MIME type each answers with), results as
//! VOTable (TABLEDATA, BINARY, BINARY2), CSV or TSV, and DALI error
//! documents.

use super::eval::Output;
use crate::table::io::votable::{self, Info, Serialization, WriteOptions};

/// How a result is serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Votable(Serialization),
    Csv,
    Tsv,
}

/// One output format of `/capabilities`: its MIME type, aliases, TAPRegExt id.
pub struct Offered {
    pub mime: &'static str,
    pub aliases: &'static [&'static str],
    pub ivo_id: Option<&'static str>,
    pub kind: Kind,
}

/// Every output format, the default (TABLEDATA, as MAST) first.
pub const FORMATS: &[Offered] = &[
    Offered {
        mime: "application/x-votable+xml;serialization=TABLEDATA",
        aliases: &["votable", "votable/td", "votabletd"],
        ivo_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
        kind: Kind::Votable(Serialization::TableData),
    },
    Offered {
        mime: "application/x-votable+xml;serialization=BINARY",
        aliases: &["votable/b", "votableb"],
        ivo_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary"),
        kind: Kind::Votable(Serialization::Binary),
    },
    Offered {
        mime: "application/x-votable+xml;serialization=BINARY2",
        aliases: &["votable/b2", "votableb2"],
        ivo_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
        kind: Kind::Votable(Serialization::Binary2),
    },
    Offered {
        mime: "text/xml",
        aliases: &[],
        ivo_id: None,
        kind: Kind::Votable(Serialization::TableData),
    },
    Offered {
        mime: "text/csv;header=present",
        aliases: &["csv"],
        ivo_id: None,
        kind: Kind::Csv,
    },
    Offered {
        mime: "text/tab-separated-values",
        aliases: &["tsv"],
        ivo_id: None,
        kind: Kind::Tsv,
    },
];

/// The format a request asked for and the `Content-Type` to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub kind: Kind,
    pub content_type: String,
}

/// `RESPONSEFORMAT`/`FORMAT`: an alias (case-insensitive) answers with its
/// format's MIME type; a MIME type (parameters in any case and order) is
/// echoed as sent.
pub fn choose(value: Option<&str>) -> Result<Chosen, String> {
    let v = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("votable");
    let lower = v.to_ascii_lowercase();
    if let Some(f) = FORMATS.iter().find(|f| f.aliases.contains(&lower.as_str())) {
        return Ok(Chosen {
            kind: f.kind,
            content_type: f.mime.to_string(),
        });
    }
    let kind = mime_kind(&lower).ok_or_else(|| {
        let names: Vec<&str> = FORMATS
            .iter()
            .flat_map(|f| f.aliases.iter().copied().chain([f.mime]))
            .collect();
        format!(
            "Unsupported RESPONSEFORMAT '{v}'; this service offers {}",
            names.join(", ")
        )
    })?;
    Ok(Chosen {
        kind,
        content_type: v.to_string(),
    })
}

fn mime_kind(lower: &str) -> Option<Kind> {
    let mut parts = lower.split(';').map(str::trim);
    let base = parts.next()?;
    let params: Vec<(&str, &str)> = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    match base {
        "application/x-votable+xml" | "text/xml" | "application/xml" => {
            let ser = params
                .iter()
                .find(|(k, _)| *k == "serialization")
                .map(|p| p.1);
            match ser {
                None | Some("tabledata") => Some(Kind::Votable(Serialization::TableData)),
                Some("binary") => Some(Kind::Votable(Serialization::Binary)),
                Some("binary2") => Some(Kind::Votable(Serialization::Binary2)),
                Some(_) => None,
            }
        }
        "text/csv" => Some(Kind::Csv),
        "text/tab-separated-values" => Some(Kind::Tsv),
        _ => None,
    }
}

/// A result document: leading `QUERY_STATUS` OK, the table, and a trailing
/// `OVERFLOW` when MAXREC cut it (CSV and TSV have no status channel).
pub fn render(out: &Output, kind: Kind, table_name: &str, query: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    let written = match kind {
        Kind::Csv => crate::table::io::csv::write(&out.table, &mut buf),
        Kind::Tsv => crate::table::io::csv::write_tsv(&out.table, &mut buf),
        Kind::Votable(ser) => {
            let mut opts = WriteOptions::new(table_name, ser);
            opts.fields = out.decls.clone();
            opts.infos_before = vec![
                Info::new("QUERY_STATUS", "OK", Some("Query successful")),
                Info::new("QUERY", query, None),
            ];
            if out.overflow {
                opts.infos_after = vec![Info::new(
                    "QUERY_STATUS",
                    "OVERFLOW",
                    Some("Truncated at MAXREC"),
                )];
            }
            votable::write_with(&out.table, &opts, &mut buf)
        }
    };
    match written {
        Ok(()) => buf,
        Err(e) => error_doc(&format!("cannot write the result: {e}")),
    }
}

/// A DALI error document (`QUERY_STATUS` ERROR with `message`).
pub fn error_doc(message: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = votable::write_error(message, &[], &mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_content_types() {
        let td = choose(None).unwrap();
        assert_eq!(td.kind, Kind::Votable(Serialization::TableData));
        assert_eq!(
            td.content_type,
            "application/x-votable+xml;serialization=TABLEDATA"
        );
        let b2 = choose(Some("VOTable/B2")).unwrap();
        assert_eq!(b2.kind, Kind::Votable(Serialization::Binary2));
        let echo = choose(Some("application/x-votable+xml; serialization=BINARY")).unwrap();
        assert_eq!(echo.kind, Kind::Votable(Serialization::Binary));
        assert_eq!(
            echo.content_type,
            "application/x-votable+xml; serialization=BINARY"
        );
        assert_eq!(choose(Some("text/xml")).unwrap().content_type, "text/xml");
        assert_eq!(choose(Some("csv")).unwrap().kind, Kind::Csv);
        assert_eq!(
            choose(Some("tsv")).unwrap().content_type,
            "text/tab-separated-values"
        );
        let e = choose(Some("fits")).unwrap_err();
        assert!(
            e.contains("Unsupported RESPONSEFORMAT 'fits'") && e.contains("votable/b2"),
            "{e}"
        );
        assert!(choose(Some("application/x-votable+xml;serialization=FITS")).is_err());
    }
}
