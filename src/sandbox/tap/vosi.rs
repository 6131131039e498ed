//! VOSI documents: `capabilities` (TAPRegExt: ADQL 2.0/2.1 with exactly the
//! optional features the sandbox implements, output formats with aliases,
//! MAXREC limits, no upload), `tables` (a VODataService tableset generated
//! from the catalog, like TAP_SCHEMA) and `availability`.

use super::adql::GEOMETRY_FUNCTIONS;
use super::catalog::{Catalog, KEYS, SCHEMAS, TableDef};
use super::output::FORMATS;
use super::uws::{EXECUTION_DURATION, RETENTION};
use super::{MAX_REC, xml};

const XSI: &str = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

fn features(kind: &str, forms: &[&str]) -> String {
    let mut s = format!("<languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#{kind}\">");
    for f in forms {
        s.push_str(&format!("<feature><form>{f}</form></feature>"));
    }
    s.push_str("</languageFeatures>");
    s
}

fn language() -> String {
    let mut s = String::from(
        "<language><name>ADQL</name>\
<version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.0\">2.0</version>\
<version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.1\">2.1</version>\
<description>The subset of ADQL the mastflow sandbox evaluates: one table, TOP, OFFSET, \
WHERE, GROUP BY, HAVING, ORDER BY, DISTINCT, aggregates, math functions, LIKE/ILIKE, IN, \
BETWEEN, and the geometry below (LIMIT is refused).</description>",
    );
    s.push_str(&features("features-adqlgeo", GEOMETRY_FUNCTIONS));
    s.push_str(&features("features-adql-string", &["LOWER", "ILIKE"]));
    s.push_str(&features("features-adql-offset", &["OFFSET"]));
    s.push_str("</language>");
    s
}

fn output_formats() -> String {
    let mut s = String::new();
    for f in FORMATS {
        s.push_str("<outputFormat");
        if let Some(id) = f.ivo_id {
            s.push_str(&format!(" ivo-id=\"{id}\""));
        }
        s.push_str(&format!("><mime>{}</mime>", xml(f.mime)));
        for a in f.aliases {
            s.push_str(&format!("<alias>{a}</alias>"));
        }
        s.push_str("</outputFormat>");
    }
    s
}

fn vosi_capability(id: &str, url: &str) -> String {
    format!(
        "<capability standardID=\"ivo://ivoa.net/std/VOSI#{id}\"><interface xsi:type=\"vs:ParamHTTP\" role=\"std\"><accessURL use=\"full\">{}</accessURL></interface></capability>",
        xml(url)
    )
}

/// `GET <base>/capabilities`; `base` is the service URL (parent of `/sync`).
pub fn capabilities(base: &str) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\" xmlns:tr=\"http://www.ivoa.net/xml/TAPRegExt/v1.0\" xmlns:vr=\"http://www.ivoa.net/xml/VOResource/v1.0\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" {XSI}>"
    );
    s.push_str(&format!(
        "<capability standardID=\"ivo://ivoa.net/std/TAP\" xsi:type=\"tr:TableAccess\"><interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.1\"><accessURL use=\"base\">{}</accessURL></interface>",
        xml(base)
    ));
    s.push_str("<dataModel ivo-id=\"ivo://ivoa.net/std/ObsCore#core-1.1\">ObsCore-1.1</dataModel>");
    s.push_str(&language());
    s.push_str(&output_formats());
    s.push_str(&format!(
        "<retentionPeriod><default>{0}</default><hard>{0}</hard></retentionPeriod>\
<executionDuration><default>{1}</default><hard>{1}</hard></executionDuration>\
<outputLimit><default unit=\"row\">{2}</default><hard unit=\"row\">{2}</hard></outputLimit>",
        RETENTION.as_secs(),
        EXECUTION_DURATION,
        MAX_REC
    ));
    s.push_str("</capability>");
    s.push_str(&vosi_capability(
        "capabilities",
        &format!("{base}/capabilities"),
    ));
    s.push_str(&vosi_capability(
        "availability",
        &format!("{base}/availability"),
    ));
    s.push_str(&vosi_capability("tables", &format!("{base}/tables")));
    s.push_str("</vosi:capabilities>\n");
    s
}

/// `GET <base>/availability`.
pub fn availability(up_since: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:availability xmlns:vosi=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\"><vosi:available>true</vosi:available><vosi:upSince>{up_since}</vosi:upSince><vosi:note>mastflow sandbox: local emulator</vosi:note></vosi:availability>\n"
    )
}

fn opt(tag: &str, v: &Option<String>) -> String {
    v.as_ref()
        .map(|v| format!("<{tag}>{}</{tag}>", xml(v)))
        .unwrap_or_default()
}

fn table_xml(t: &TableDef) -> String {
    let kind = if t.name == "dbo.obspointing" {
        " type=\"view\""
    } else {
        ""
    };
    let mut s = format!(
        "<table{kind}><name>{}</name><description>{}</description>{}",
        xml(&t.name),
        xml(&t.description),
        opt("utype", &t.utype)
    );
    for c in &t.columns {
        let std = if c.std { " std=\"true\"" } else { "" };
        s.push_str(&format!(
            "<column{std}><name>{}</name><description>{}</description>{}{}{}",
            xml(&c.name),
            xml(&c.description),
            opt("unit", &c.unit),
            opt("ucd", &c.ucd),
            opt("utype", &c.utype)
        ));
        s.push_str("<dataType xsi:type=\"vs:VOTableType\"");
        if let Some(a) = c.arraysize {
            s.push_str(&format!(" arraysize=\"{a}\""));
        }
        if let Some(x) = &c.xtype {
            s.push_str(&format!(" extendedType=\"{}\"", xml(x)));
        }
        s.push_str(&format!(">{}</dataType>", c.datatype));
        if c.indexed {
            s.push_str("<flag>indexed</flag>");
        }
        s.push_str("</column>");
    }
    for (_, _, target, fc, tc) in KEYS.iter().filter(|k| k.1 == t.name) {
        s.push_str(&format!(
            "<foreignKey><targetTable>{target}</targetTable><fkColumn><fromColumn>{fc}</fromColumn><targetColumn>{tc}</targetColumn></fkColumn></foreignKey>"
        ));
    }
    s.push_str("</table>");
    s
}

/// `GET <base>/tables`: every schema, table and column.
pub fn tables(cat: &Catalog) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:tableset xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\" xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" {XSI}>"
    );
    for (name, desc) in SCHEMAS {
        s.push_str(&format!(
            "<schema><name>{name}</name><description>{}</description>",
            xml(desc)
        ));
        for t in cat.tables.iter().filter(|t| t.schema == *name) {
            s.push_str(&table_xml(t));
        }
        s.push_str("</schema>");
    }
    s.push_str("</vosi:tableset>\n");
    s
}
