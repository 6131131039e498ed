//! The VOTable reader: real DaCHS responses (`tests/fixtures/tap/`), every
//! datatype × arraysize form × serialisation, the document shapes TAP
//! services produce, and malformed input (truncated and mutated fixtures give
//! an error naming the file, never a panic).

use mastflow::table::io::votable::{self, FieldInfo, Param, VotableRead};
use mastflow::table::io::{self, Format};
use mastflow::table::{DataType, Table, ValueRef};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/tap/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read(doc: &[u8]) -> Result<VotableRead, String> {
    votable::read_full(doc, "doc.vot").map_err(|e| e.to_string())
}

fn ok(doc: &str) -> VotableRead {
    read(doc.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{doc}"))
}

fn err(doc: &str) -> String {
    match read(doc.as_bytes()) {
        Ok(_) => panic!("expected an error for {doc}"),
        Err(e) => {
            assert!(
                e.starts_with("doc.vot: "),
                "error does not name the origin: {e}"
            );
            e
        }
    }
}

fn row(t: &Table, i: usize) -> Vec<ValueRef<'_>> {
    (0..t.num_columns()).map(|j| t.get(i, j)).collect()
}

/// The numbers in a text cell, whatever separates them (`a b`, `[a, b]`).
fn numbers(v: ValueRef<'_>) -> Vec<f64> {
    match v {
        ValueRef::Str(s) => s
            .split(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c)))
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect(),
        other => panic!("not text: {other:?}"),
    }
}

// ------------------------------------------------------------ DaCHS fixtures

#[test]
fn every_nulls_votable_is_the_table_dachs_gives_as_csv_and_json() {
    let csv = io::read_bytes(&fixture("nulls.csv.out"), Format::Csv, "csv").unwrap();
    let json = io::read_bytes(&fixture("nulls.json.out"), Format::Json, "json").unwrap();
    for peer in [&csv, &json] {
        for name in [
            "nulls.votable.out",
            "nulls.votable_b2.out",
            "nulls.votable_td.out",
        ] {
            let r = votable::read_full(fixture(name).as_slice(), name).unwrap();
            let t = &r.table;
            assert_eq!(t.schema(), peer.schema(), "{name}: names and types");
            assert_eq!(t.num_rows(), peer.num_rows(), "{name}");
            for (c, p) in t.columns().iter().zip(peer.columns()) {
                for i in 0..t.num_rows() {
                    let (a, b) = (c.get(i), p.get(i));
                    if c.name == "s_region" {
                        // VOTable: `a b …`; CSV and JSON: `[a, b, …]`.
                        assert_eq!(numbers(a), numbers(b), "{name}: s_region row {i}");
                    } else {
                        assert_eq!(a, b, "{name}: column `{}` row {i}", c.name);
                    }
                }
            }
            // The nulls are there: a NULL string, a NULL double (NaN in
            // TABLEDATA and BINARY, the bitmap in BINARY2), NULL shorts
            // (VALUES null="-32768").
            assert_eq!(t.column("target_name").unwrap().null_count(), 1, "{name}");
            assert_eq!(t.column("t_max").unwrap().null_count(), 1, "{name}");
            assert_eq!(t.column("cl_or_null").unwrap().null_count(), 2, "{name}");
            assert_eq!(r.query_status.as_ref().unwrap().value, "OK", "{name}");
            let f = &r.fields[6];
            assert_eq!(
                (f.datatype.as_str(), f.null.as_deref()),
                ("short", Some("-32768"))
            );
        }
    }
}

#[test]
fn dachs_metadata_and_serialisations() {
    for (name, ser) in [
        ("nulls.votable.out", "BINARY"),
        ("nulls.votable_b2.out", "BINARY2"),
        ("nulls.votable_td.out", "TABLEDATA"),
    ] {
        let r = votable::read_full(fixture(name).as_slice(), name).unwrap();
        assert_eq!(r.serialization, Some(ser));
        assert_eq!(r.name.as_deref(), Some("obs"));
        let region = r.table.column("s_region").unwrap();
        assert_eq!(region.meta.xtype.as_deref(), Some("polygon"));
        assert_eq!(region.meta.unit.as_deref(), Some("deg"));
        assert_eq!(region.meta.ucd.as_deref(), Some("pos.outline;obs.field"));
        assert_eq!(
            region.meta.description.as_deref(),
            Some("Footprint (a 0.04 deg square around the centre)")
        );
        let info = &r.fields[7];
        assert_eq!(info.id.as_deref(), Some("s_region"));
        assert_eq!(
            (info.datatype.as_str(), info.arraysize.as_deref()),
            ("double", Some("*"))
        );
    }
}

#[test]
fn overflow_and_async_result_keep_the_last_query_status() {
    let r = votable::read_full(fixture("overflow.xml").as_slice(), "overflow.xml").unwrap();
    assert_eq!(r.table.num_rows(), 5);
    assert_eq!(r.query_status.unwrap().value, "OVERFLOW");
    let r = votable::read_full(fixture("async_result.xml").as_slice(), "async").unwrap();
    assert_eq!(r.table.column_names().collect::<Vec<_>>(), ["obs_id"]);
    assert_eq!(
        r.table.column("obs_id").unwrap().iter().collect::<Vec<_>>(),
        [
            ValueRef::Str("galex_ais_00001_nd"),
            ValueRef::Str("hst_90002_01_wfc3_uvis_f606w"),
            ValueRef::Str("idxz03010")
        ]
    );
    assert_eq!(
        r.table
            .column("obs_id")
            .unwrap()
            .meta
            .description
            .as_deref(),
        Some("Observation identifier")
    );
    let status = r.query_status.unwrap();
    assert_eq!((status.value.as_str(), status.message), ("OVERFLOW", None));
}

#[test]
fn error_document_gives_the_service_message() {
    let e = votable::read_full(fixture("error.xml").as_slice(), "error.xml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "error.xml: the service reported an error (QUERY_STATUS=ERROR): Field query: No such field known: column 'nope' could not be located in table metadata"
    );
}

#[test]
fn cone_search() {
    let r = votable::read_full(fixture("cone.td.xml").as_slice(), "cone").unwrap();
    let t = &r.table;
    assert_eq!(
        t.schema(),
        vec![
            ("obs_id".to_string(), DataType::String),
            ("s_ra".to_string(), DataType::Float),
            ("s_dec".to_string(), DataType::Float),
            ("dist".to_string(), DataType::Float),
        ]
    );
    assert_eq!(t.num_rows(), 4);
    assert_eq!(
        row(t, 1),
        [
            ValueRef::Str("idxz03010"),
            ValueRef::Float(210.803),
            ValueRef::Float(54.349),
            ValueRef::Float(0.00044123369618935743)
        ]
    );
    assert_eq!(t.column("s_ra").unwrap().meta.unit.as_deref(), Some("deg"));
}

// ------------------------------------------- datatypes × arraysize × serialisation

/// One column of the matrix: its FIELD, its cell in TABLEDATA and in BINARY,
/// and what it must read as.
struct Case {
    datatype: &'static str,
    arraysize: Option<&'static str>,
    null: Option<&'static str>,
    td: &'static str,
    bin: Vec<u8>,
    want: Want,
}

#[derive(Debug, Clone, PartialEq)]
enum Want {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'static str),
}

impl Want {
    fn matches(&self, v: ValueRef<'_>) -> bool {
        match (self, v) {
            (Want::Null, ValueRef::Null) => true,
            (Want::Bool(a), ValueRef::Bool(b)) => *a == b,
            (Want::Int(a), ValueRef::Int(b)) => *a == b,
            (Want::Float(a), ValueRef::Float(b)) => a.to_bits() == b.to_bits(),
            (Want::Str(a), ValueRef::Str(b)) => *a == b,
            _ => false,
        }
    }
}

fn case(
    datatype: &'static str,
    arraysize: Option<&'static str>,
    td: &'static str,
    bin: Vec<u8>,
    want: Want,
) -> Case {
    Case {
        datatype,
        arraysize,
        null: None,
        td,
        bin,
        want,
    }
}

fn with_null(mut c: Case, null: &'static str) -> Case {
    c.null = Some(null);
    c
}

fn count(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn utf16(s: &str, pad_to: usize) -> Vec<u8> {
    let mut units: Vec<u16> = s.encode_utf16().collect();
    units.resize(pad_to.max(units.len()), 0);
    units.iter().flat_map(|u| u.to_be_bytes()).collect()
}

fn cases() -> Vec<Case> {
    use Want::*;
    let f32b = |x: f32| x.to_be_bytes().to_vec();
    let f64b = |x: f64| x.to_be_bytes().to_vec();
    let i16b = |x: i16| x.to_be_bytes().to_vec();
    let i32b = |x: i32| x.to_be_bytes().to_vec();
    let i64b = |x: i64| x.to_be_bytes().to_vec();
    vec![
        case("boolean", None, "T", vec![b'T'], Bool(true)),
        case("boolean", Some("1"), "false", vec![b'F'], Bool(false)),
        case("boolean", None, "?", vec![b'?'], Null),
        case("bit", None, "1", vec![0x80], Bool(true)),
        case("bit", None, "0", vec![0x00], Bool(false)),
        case(
            "bit",
            Some("12"),
            "1011 0000 1111",
            vec![0b1011_0000, 0b1111_0000],
            Str("1 0 1 1 0 0 0 0 1 1 1 1"),
        ),
        case(
            "bit",
            Some("*"),
            "101",
            cat(&[&count(3), &[0b1010_0000]]),
            Str("1 0 1"),
        ),
        case("unsignedByte", None, "200", vec![200], Int(200)),
        with_null(case("unsignedByte", None, "0xFF", vec![255], Null), "255"),
        with_null(
            case("unsignedByte", None, "254", vec![254], Int(254)),
            "0xff",
        ),
        case(
            "unsignedByte",
            Some("3"),
            "1 0xff 3",
            vec![1, 255, 3],
            Str("1 255 3"),
        ),
        with_null(case("short", None, "-32768", i16b(-32768), Null), "-32768"),
        with_null(case("short", None, "-32768", i16b(-32768), Null), "0x8000"),
        case("short", None, "0x7FFF", i16b(32767), Int(32767)),
        case("short", None, "0xFFFF", i16b(-1), Int(-1)),
        case(
            "short",
            Some("2x*"),
            "1 2 3 4",
            cat(&[&count(2), &i16b(1), &i16b(2), &i16b(3), &i16b(4)]),
            Str("1 2 3 4"),
        ),
        case("int", None, "-70000", i32b(-70000), Int(-70000)),
        case("int", Some("1"), "0xFFFFFFFF", i32b(-1), Int(-1)),
        with_null(
            case("int", None, "-2147483648", i32b(i32::MIN), Null),
            "0x80000000",
        ),
        case(
            "int",
            Some("2x3"),
            "1 2 3 4 5 6",
            [1, 2, 3, 4, 5, 6].iter().flat_map(|&i| i32b(i)).collect(),
            Str("1 2 3 4 5 6"),
        ),
        case(
            "long",
            None,
            "9007199254740993",
            i64b(9_007_199_254_740_993),
            Int(9_007_199_254_740_993),
        ),
        with_null(
            case("long", None, "-9223372036854775808", i64b(i64::MIN), Null),
            "-9223372036854775808",
        ),
        case(
            "long",
            Some("*"),
            "0x10 -1",
            cat(&[&count(2), &i64b(16), &i64b(-1)]),
            Str("16 -1"),
        ),
        case("float", None, "0.1", f32b(0.1), Float(0.1)),
        case("float", None, "NaN", f32b(f32::NAN), Null),
        with_null(case("float", None, "-999", f32b(-999.0), Null), "-999.0"),
        case(
            "float",
            Some("2"),
            " 0.1   0.25 ",
            cat(&[&f32b(0.1), &f32b(0.25)]),
            Str("0.1 0.25"),
        ),
        case(
            "double",
            None,
            "+Inf",
            f64b(f64::INFINITY),
            Float(f64::INFINITY),
        ),
        case("double", None, "NaN", f64b(f64::NAN), Null),
        case("double", None, "-1e-300", f64b(-1e-300), Float(-1e-300)),
        case(
            "double",
            Some("3"),
            "1 NaN -Inf",
            cat(&[&f64b(1.0), &f64b(f64::NAN), &f64b(f64::NEG_INFINITY)]),
            Str("1.0 NaN -Inf"),
        ),
        case(
            "double",
            Some("2x2x*"),
            "1 2 3 4",
            cat(&[&count(1), &f64b(1.0), &f64b(2.0), &f64b(3.0), &f64b(4.0)]),
            Str("1.0 2.0 3.0 4.0"),
        ),
        case("double", Some("*"), "", count(0), Null),
        case(
            "floatComplex",
            None,
            "1.5 -2",
            cat(&[&f32b(1.5), &f32b(-2.0)]),
            Str("1.5 -2.0"),
        ),
        case(
            "floatComplex",
            None,
            "NaN 0",
            cat(&[&f32b(f32::NAN), &f32b(0.0)]),
            Null,
        ),
        case(
            "doubleComplex",
            None,
            "0.1 1e300",
            cat(&[&f64b(0.1), &f64b(1e300)]),
            Str("0.1 1e300"),
        ),
        case(
            "doubleComplex",
            Some("2"),
            "1 2 3 4",
            [1.0, 2.0, 3.0, 4.0].iter().flat_map(|&x| f64b(x)).collect(),
            Str("1.0 2.0 3.0 4.0"),
        ),
        case(
            "boolean",
            Some("*"),
            "T F ?",
            cat(&[&count(3), b"TF?"]),
            Str("T F ?"),
        ),
        case("char", None, "x", b"x".to_vec(), Str("x")),
        case(
            "char",
            Some("8"),
            "abc",
            b"abc\0\0\0\0\0".to_vec(),
            Str("abc"),
        ),
        case(
            "char",
            Some("8"),
            "abc     ",
            b"abc     ".to_vec(),
            Str("abc     "),
        ),
        case(
            "char",
            Some("10*"),
            "a &amp; &lt;b&gt;",
            cat(&[&count(7), b"a & <b>"]),
            Str("a & <b>"),
        ),
        case("char", Some("*"), "", count(0), Null),
        with_null(
            case("char", Some("*"), "N/A", cat(&[&count(3), b"N/A"]), Null),
            "N/A",
        ),
        case("unicodeChar", Some("4"), "Ωé", utf16("Ωé", 4), Str("Ωé")),
        case(
            "unicodeChar",
            Some("*"),
            "日本",
            cat(&[&count(2), &utf16("日本", 0)]),
            Str("日本"),
        ),
    ]
}

fn fields_xml(cases: &[Case]) -> String {
    let mut s = String::new();
    for (k, c) in cases.iter().enumerate() {
        s.push_str(&format!("<FIELD name=\"c{k}\" datatype=\"{}\"", c.datatype));
        if let Some(a) = c.arraysize {
            s.push_str(&format!(" arraysize=\"{a}\""));
        }
        match c.null {
            Some(n) => s.push_str(&format!("><VALUES null=\"{n}\"/></FIELD>\n")),
            None => s.push_str("/>\n"),
        }
    }
    s
}

fn document(fields: &str, data: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\
<RESOURCE type=\"results\"><TABLE>{fields}<DATA>{data}</DATA></TABLE></RESOURCE></VOTABLE>"
    )
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    // Lines of 76 characters, as writers wrap them.
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join("\n")
}

fn check_row(t: &Table, i: usize, cases: &[Case], what: &str) {
    for (j, c) in cases.iter().enumerate() {
        let got = t.get(i, j);
        assert!(
            c.want.matches(got),
            "{what}: {} arraysize={:?} null={:?}: got {got:?}, want {:?}",
            c.datatype,
            c.arraysize,
            c.null,
            c.want
        );
    }
}

#[test]
fn every_datatype_and_arraysize_in_every_serialisation() {
    let cases = cases();
    let fields = fields_xml(&cases);
    let td_row: String = cases.iter().map(|c| format!("<TD>{}</TD>", c.td)).collect();
    let null_row: String = "<TD/>".repeat(cases.len());
    let td = document(
        &fields,
        &format!("<TABLEDATA><TR>{td_row}</TR>\n<TR>{null_row}</TR></TABLEDATA>"),
    );
    let row0: Vec<u8> = cases.iter().flat_map(|c| c.bin.clone()).collect();
    let binary = document(
        &fields,
        &format!(
            "<BINARY><STREAM encoding=\"base64\">\n{}\n</STREAM></BINARY>",
            base64_lines(&row0)
        ),
    );
    // BINARY2: the same row with an empty bitmap, then with every bit set.
    let nbitmap = cases.len().div_ceil(8);
    let mut rows2 = vec![0u8; nbitmap];
    rows2.extend(&row0);
    rows2.extend(vec![0xFF; nbitmap]);
    rows2.extend(&row0);
    let binary2 = document(
        &fields,
        &format!(
            "<BINARY2><STREAM encoding='base64'>{}</STREAM></BINARY2>",
            base64_lines(&rows2)
        ),
    );
    assert!(cases.len() > 40, "the bitmap spans several bytes");
    for (doc, what, rows) in [
        (&td, "TABLEDATA", 2),
        (&binary, "BINARY", 1),
        (&binary2, "BINARY2", 2),
    ] {
        let r = ok(doc);
        assert_eq!(r.serialization, Some(what));
        assert_eq!(r.table.num_rows(), rows, "{what}");
        check_row(&r.table, 0, &cases, what);
        if rows == 2 {
            // An empty TD, and a flagged BINARY2 cell, is null whatever the type.
            assert!(
                row(&r.table, 1).iter().all(|v| *v == ValueRef::Null),
                "{what}: {:?}",
                row(&r.table, 1)
            );
        }
        // The same through a reader that hands out 5 bytes at a time.
        let slow = std::io::BufReader::with_capacity(5, doc.as_bytes());
        let t = votable::read(slow, "slow").unwrap();
        check_row(&t, 0, &cases, &format!("{what}, 5-byte reads"));
    }
}

#[test]
fn column_types_follow_datatype_and_arraysize() {
    let cases = cases();
    let r = ok(&document(&fields_xml(&cases), ""));
    for (c, (_, t)) in cases.iter().zip(r.table.schema()) {
        let scalar = matches!(c.arraysize, None | Some("1"));
        let want = match c.datatype {
            "boolean" | "bit" if scalar => DataType::Bool,
            "unsignedByte" | "short" | "int" | "long" if scalar => DataType::Int,
            "float" | "double" if scalar => DataType::Float,
            _ => DataType::String,
        };
        assert_eq!(t, want, "{} arraysize={:?}", c.datatype, c.arraysize);
    }
}

// ---------------------------------------------------------- document shapes

const ONE_INT_ROW: &str =
    "<FIELD name='a' datatype='int'/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA>";

#[test]
fn query_status_last_wins_wherever_the_info_is() {
    // Leading OK, an INFO inside the TABLE, one inside DATA, a trailing OVERFLOW.
    let doc = "<VOTABLE><RESOURCE type='results'><INFO name='QUERY_STATUS' value='OK'>fine</INFO>\
<TABLE><INFO name='other' value='x'>ignored</INFO><FIELD name='a' datatype='int'/>\
<DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA><INFO name='QUERY_STATUS' value='OK'/></DATA>\
<INFO name='QUERY_STATUS' value='OK'/></TABLE>\
<INFO name='QUERY_STATUS' value='OVERFLOW'>truncated at 1 row</INFO></RESOURCE></VOTABLE>";
    let s = ok(doc).query_status.unwrap();
    assert_eq!(
        (s.value.as_str(), s.message.as_deref()),
        ("OVERFLOW", Some("truncated at 1 row"))
    );
    // An ERROR inside DATA, after the rows, is an error.
    let doc = "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='int'/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA>\
<INFO name='QUERY_STATUS' value='ERROR'>disk full</INFO></DATA></TABLE></RESOURCE></VOTABLE>";
    assert!(err(doc).ends_with("error after part of the result (QUERY_STATUS=ERROR): disk full"));
}

#[test]
fn meta_resources_are_skipped() {
    let doc = format!(
        "<VOTABLE><RESOURCE type='meta' utype='adhoc:service'><INFO name='QUERY_STATUS' value='ERROR'/>\
<PARAM name='accessURL' datatype='char' arraysize='*' value='http://x/dl'/>\
<TABLE><FIELD name='z' datatype='int'/><DATA><TABLEDATA><TR><TD>9</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE>\
<RESOURCE type='results'><TABLE>{ONE_INT_ROW}</TABLE></RESOURCE>\
<RESOURCE type='meta'><TABLE><FIELD name='late' datatype='int'/></TABLE></RESOURCE></VOTABLE>"
    );
    let r = ok(&doc);
    assert_eq!(r.table.column_names().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        r.query_status, None,
        "a meta resource's INFO is not the result's"
    );
    assert!(r.params.is_empty(), "{:?}", r.params);
}

#[test]
fn params_ids_refs_and_field_attributes() {
    let doc = "<VOTABLE><PARAM name='doc' datatype='int' value='1'/><RESOURCE type='results'>\
<COOSYS ID='icrs' system='ICRS'/><PARAM name='res' datatype='double' value='2.5' unit='deg' ucd='pos.angDistance'>\
<DESCRIPTION>radius</DESCRIPTION></PARAM><TABLE>\
<PARAM name='a' datatype='char' arraysize='*' value='a PARAM named like a FIELD'/>\
<FIELD ID='a' name='a' datatype='double' ref='icrs' utype='obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1' width='10' precision='6'/>\
<FIELD ID='only_id' datatype='int'/><FIELD datatype='int'/>\
<GROUP name='g'><FIELDref ref='a'/><PARAM name='in_group' datatype='int' value='3'/></GROUP>\
<DATA><TABLEDATA><TR><TD>1.5</TD><TD>2</TD><TD>3</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
    let r = ok(doc);
    assert_eq!(
        r.table.column_names().collect::<Vec<_>>(),
        ["a", "only_id", "col3"]
    );
    assert_eq!(
        row(&r.table, 0),
        [ValueRef::Float(1.5), ValueRef::Int(2), ValueRef::Int(3)]
    );
    assert_eq!(
        r.fields[0],
        FieldInfo {
            name: "a".into(),
            id: Some("a".into()),
            datatype: "double".into(),
            arraysize: None,
            utype: Some(
                "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1".into()
            ),
            width: Some("10".into()),
            precision: Some("6".into()),
            reference: Some("icrs".into()),
            null: None,
        }
    );
    let names: Vec<&str> = r.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["doc", "res", "a"]);
    assert_eq!(
        r.params[1],
        Param {
            name: "res".into(),
            datatype: "double".into(),
            value: "2.5".into(),
            unit: Some("deg".into()),
            ucd: Some("pos.angDistance".into()),
            description: Some("radius".into()),
            ..Param::default()
        }
    );
}

#[test]
fn namespaces_versions_prefixes_and_prologues() {
    let body = |p: &str| {
        format!(
            "<{p}RESOURCE><{p}TABLE><{p}FIELD name='a' datatype='int'/><{p}DATA><{p}TABLEDATA><{p}TR><{p}TD>7</{p}TD></{p}TR>\
</{p}TABLEDATA></{p}DATA></{p}TABLE></{p}RESOURCE>"
        )
    };
    let mut docs = vec![format!("<VOTABLE>{}</VOTABLE>", body(""))];
    for (version, ns) in [
        ("1.1", "v1.1"),
        ("1.2", "v1.2"),
        ("1.3", "v1.3"),
        ("1.4", "v1.3"),
        ("1.5", "v1.3"),
    ] {
        let uri = format!("http://www.ivoa.net/xml/VOTable/{ns}");
        docs.push(format!(
            "<VOTABLE version='{version}' xmlns='{uri}'>{}</VOTABLE>",
            body("")
        ));
        docs.push(format!(
            "<vot:VOTABLE version='{version}' xmlns:vot='{uri}'>{}</vot:VOTABLE>",
            body("vot:")
        ));
    }
    // A BOM, an XML declaration, a stylesheet PI (DaCHS's error documents),
    // a DOCTYPE and comments.
    docs.push(format!(
        "\u{feff}<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet href='/x.xsl' type='text/xsl'?>\
<!DOCTYPE VOTABLE><!-- c --><VOTABLE><!-- c -->{}</VOTABLE>",
        body("")
    ));
    for doc in &docs {
        assert_eq!(row(&ok(doc).table, 0), [ValueRef::Int(7)], "{doc}");
    }
}

#[test]
fn unknown_elements_are_ignored() {
    let doc = "<VOTABLE><DESCRIPTION>d</DESCRIPTION><FOO><BAR x='1'/></FOO><COOSYS ID='c' system='ICRS'/>\
<TIMESYS ID='t' timeorigin='MJD-origin' timescale='TT' refposition='BARYCENTER'/>\
<RESOURCE><LINK href='http://x'/><FOO><TABLE-ISH/></FOO><TABLE><LINK href='y'/>\
<FIELD name='a' datatype='int'><LINK href='z'/><FOO/><VALUES null='-1'><MIN value='0'/><OPTION value='1'/></VALUES></FIELD>\
<NEWTHING><FIELD name='not a column' datatype='int'/></NEWTHING>\
<DATA><TABLEDATA><TR><TD>-1</TD><FOO/></TR><TR><TD>5</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
    let t = ok(doc).table;
    assert_eq!(t.column_names().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        t.column("a").unwrap().iter().collect::<Vec<_>>(),
        [ValueRef::Null, ValueRef::Int(5)]
    );
}

#[test]
fn streams_we_cannot_read_are_clear_errors() {
    let stream = |kind: &str, attrs: &str, empty: bool| {
        let s = if empty {
            format!("<STREAM {attrs}/>")
        } else {
            format!("<STREAM {attrs}>AAAAAQ==</STREAM>")
        };
        document(
            "<FIELD name='a' datatype='int'/>",
            &format!("<{kind}>{s}</{kind}>"),
        )
    };
    for kind in ["BINARY", "BINARY2"] {
        for empty in [false, true] {
            let e = err(&stream(kind, "encoding='gzip'", empty));
            assert!(
                e.contains(&format!(
                    "{kind} STREAM encoding `gzip` is not supported; only base64 is"
                )),
                "{e}"
            );
            let e = err(&stream(kind, "encoding='dynamic'", empty));
            assert!(e.contains("encoding `dynamic` is not supported"), "{e}");
            let e = err(&stream(kind, "", empty));
            assert!(e.contains(&format!("{kind} STREAM has no encoding")), "{e}");
            let e = err(&stream(
                kind,
                "href='http://x/rows.bin' encoding='gzip'",
                empty,
            ));
            assert!(e.contains(&format!("{kind} STREAM with href=\"http://x/rows.bin\" (rows in another file) is not supported")), "{e}");
        }
    }
    let e = err(&document(
        "<FIELD name='a' datatype='int'/>",
        "<FITS extnum='1'><STREAM href='x.fits'/></FITS>",
    ));
    assert!(
        e.contains("FITS serialisation inside VOTable is not supported"),
        "{e}"
    );
}

#[test]
fn malformed_documents_say_where_and_what() {
    let fields = "<FIELD name='a' datatype='int'/><FIELD name='b' datatype='double'/>";
    let td = |rows: &str| document(fields, &format!("<TABLEDATA>{rows}</TABLEDATA>"));
    let cases: &[(String, &str)] = &[
        (
            td("<TR><TD>1</TD><TD>x</TD></TR>"),
            "TABLEDATA row 1, column `b` (2 of 2): `x` is not a valid double",
        ),
        (
            td("<TR><TD>1</TD></TR><TR><TD>1.5</TD></TR>"),
            "TABLEDATA row 2, column `a` (1 of 2): `1.5` is not a valid int",
        ),
        (
            td("<TR><TD>1</TD><TD>2</TD><TD>3</TD></TR>"),
            "TABLEDATA row 1: more cells than the 2 FIELDs",
        ),
        (
            td("<TD>1</TD>"),
            "TABLEDATA row 1, column `a` (1 of 2): <TD> outside a <TR>",
        ),
        (td("<TR><TD><TD>1</TD></TD></TR>"), "<TD> inside a <TD>"),
        (
            td("<TR><TR></TR></TR>"),
            "TABLEDATA row 1, column `a` (1 of 2): <TR> inside a <TR>",
        ),
        (td("<TR><TD><B>1</B></TD></TR>"), "unexpected <B>"),
        (td("<TR><TD>&foo;</TD></TR>"), "unknown XML entity `&foo;`"),
        (
            document("<FIELD name='a' datatype='int' arraysize='2x*x3'/>", ""),
            "FIELD `a`: invalid arraysize `2x*x3`",
        ),
        (
            document("<FIELD name='a' datatype='int' arraysize='-1'/>", ""),
            "invalid arraysize `-1`",
        ),
        (
            document("<FIELD name='a'/>", ""),
            "FIELD `a` has no datatype",
        ),
        (
            document(
                "<FIELD name='a' datatype='int' arraysize='*'/>",
                "<BINARY><STREAM encoding='base64'>//////////8=</STREAM></BINARY>",
            ),
            "BINARY STREAM is truncated: 8 bytes left after row 0 do not make a whole row",
        ),
        (
            "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='int'/><DATA><TABLEDATA><TR>"
                .to_string(),
            "the document ends inside <TABLEDATA> (after 79 bytes)",
        ),
        (
            "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='int'>".to_string(),
            "the document ends inside <FIELD>",
        ),
        (
            "<VOTABLE><RESOURCE><TABLE></RESOURCE>".to_string(),
            "invalid XML near byte",
        ),
    ];
    for (doc, want) in cases {
        let e = err(doc);
        assert!(e.contains(want), "for {doc}\n got: {e}\nwant: {want}");
    }
}

// ------------------------------------------------------------------ fuzzing

/// Every fixture cut at every byte: an error naming the origin or a table,
/// never a panic.
#[test]
fn truncated_fixtures_never_panic() {
    for name in [
        "nulls.votable.out",
        "nulls.votable_b2.out",
        "nulls.votable_td.out",
        "cone.td.xml",
        "overflow.xml",
    ] {
        let bytes = fixture(name);
        let mut errors = 0;
        for cut in 0..bytes.len() {
            match votable::read_full(&bytes[..cut], name) {
                Ok(_) => {}
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.starts_with(&format!("{name}: ")), "cut at {cut}: {e}");
                    errors += 1;
                }
            }
        }
        // Cuts before the end of the table's RESOURCE are all errors.
        assert!(
            errors > bytes.len() * 9 / 10,
            "{name}: only {errors} of {} cuts failed",
            bytes.len()
        );
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    [
        "nulls.votable.out",
        "nulls.votable_b2.out",
        "nulls.votable_td.out",
        "cone.td.xml",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Fixtures with bytes replaced, removed or repeated: an error naming
    /// the origin or a table, never a panic.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>(), 1usize..40), 1..6),
    ) {
        let mut bytes = fixtures()[which].clone();
        for (at, kind, byte, len) in edits {
            let i = at.index(bytes.len());
            let end = (i + len).min(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => { bytes.drain(i..end); }
                _ => { let piece = bytes[i..end].to_vec(); bytes.splice(i..i, piece); }
            }
            if bytes.is_empty() { break; }
        }
        if let Err(e) = votable::read_full(bytes.as_slice(), "mutated.vot") {
            prop_assert!(e.to_string().starts_with("mutated.vot: "), "{}", e);
        }
    }

    /// Random base64 in a BINARY2 STREAM of variable-length columns.
    #[test]
    fn random_binary2_streams_never_panic(payload in prop::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine;
        let doc = document(
            "<FIELD name='s' datatype='char' arraysize='*'/><FIELD name='a' datatype='double' arraysize='2x*'/>\
<FIELD name='b' datatype='bit' arraysize='*'/><FIELD name='u' datatype='unicodeChar' arraysize='3'/>",
            &format!("<BINARY2><STREAM encoding='base64'>{}</STREAM></BINARY2>",
                     base64::engine::general_purpose::STANDARD.encode(&payload)),
        );
        if let Err(e) = votable::read_full(doc.as_bytes(), "random.vot") {
            prop_assert!(e.to_string().starts_with("random.vot: "), "{}", e);
        }
    }
}
