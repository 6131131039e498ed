//! The sandbox's TAP service over HTTP (reqwest against an in-process
//! sandbox): sync in every format, MAXREC and overflow, error documents with
//! HTTP 200, the UWS life cycle (WAIT, PHASE, DELETE → 404, job list),
//! VOSI documents, and the faults `status=504,only=tap-sync` and `tap-exec`.

mod common;

use mastflow::table::io::votable;
use mastflow::table::{Table, Value};
use std::time::{Duration, Instant};

/// The TAP service of the test binary's shared sandbox.
async fn tap() -> String {
    format!("{}/vo-tap/api/v0.1/caom", common::shared_sandbox().await)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client().post(url).form(form).send().await.unwrap()
}

async fn sync(form: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let r = post(&format!("{}/sync", tap().await), form).await;
    let status = r.status().as_u16();
    let ct = r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn parse(body: &[u8]) -> (Table, Option<String>) {
    let r = votable::read_full(body, "tap")
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    (r.table, r.query_status.map(|s| s.value))
}

/// `QUERY_STATUS` INFO values in document order.
fn statuses(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    text.match_indices("<INFO name=\"QUERY_STATUS\" value=\"")
        .map(|(i, m)| text[i + m.len()..].split('"').next().unwrap().to_string())
        .collect()
}

const CONE: &str = "SELECT obs_id, s_ra, s_dec, calib_level, t_exptime, s_region, obs_release_date FROM ivoa.obscore WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 346.62, -5.04, 0.1)) ORDER BY obs_id";

#[tokio::test]
async fn sync_in_every_format() {
    let mut tables = Vec::new();
    for (fmt, ct, tag) in [
        (
            None,
            "application/x-votable+xml;serialization=TABLEDATA",
            "<TABLEDATA>",
        ),
        (
            Some("votable"),
            "application/x-votable+xml;serialization=TABLEDATA",
            "<TABLEDATA>",
        ),
        (
            Some("votable/td"),
            "application/x-votable+xml;serialization=TABLEDATA",
            "<TABLEDATA>",
        ),
        (
            Some("votable/b2"),
            "application/x-votable+xml;serialization=BINARY2",
            "<BINARY2>",
        ),
        (
            Some("application/x-votable+xml;serialization=BINARY"),
            "application/x-votable+xml;serialization=BINARY",
            "<BINARY>",
        ),
        (
            Some("application/x-votable+xml;serialization=BINARY2"),
            "application/x-votable+xml;serialization=BINARY2",
            "<BINARY2>",
        ),
        (Some("text/xml"), "text/xml", "<TABLEDATA>"),
    ] {
        let mut form = vec![("REQUEST", "doQuery"), ("LANG", "ADQL"), ("QUERY", CONE)];
        if let Some(f) = fmt {
            form.push(("RESPONSEFORMAT", f));
        }
        let (status, got_ct, body) = sync(&form).await;
        assert_eq!((status, got_ct.as_str()), (200, ct), "{fmt:?}");
        assert!(String::from_utf8_lossy(&body).contains(tag), "{fmt:?}");
        assert_eq!(statuses(&body), ["OK"]);
        let (t, _) = parse(&body);
        tables.push(t);
    }
    let first = &tables[0];
    assert!(first.num_rows() >= 3, "the WASP-39 cone has rows");
    for t in &tables[1..] {
        assert_eq!(t.num_rows(), first.num_rows());
        for c in 0..t.num_columns() {
            for i in 0..t.num_rows() {
                assert_eq!(
                    t.get(i, c).to_owned(),
                    first.get(i, c).to_owned(),
                    "cell {i},{c}"
                );
            }
        }
    }
    let text = String::from_utf8(sync(&[("LANG", "ADQL"), ("QUERY", CONE)]).await.2).unwrap();
    assert!(text.contains("<FIELD name=\"calib_level\" datatype=\"int\" ucd=\"meta.code;obs.calib\" utype=\"obscore:obsdataset.caliblevel\">"), "{text}");
    assert!(text.contains("name=\"s_region\" datatype=\"char\" arraysize=\"*\" ucd=\"pos.outline;obs.field\" utype=\"obscore:char.spatialaxis.coverage.support.area\" xtype=\"adql:REGION\""), "{text}");
    assert!(text.contains("xtype=\"timestamp\""), "{text}");
    // CSV and TSV: the same rows, header first.
    let (_, ct, csv) = sync(&[("LANG", "ADQL"), ("QUERY", CONE), ("FORMAT", "csv")]).await;
    assert_eq!(ct, "text/csv;header=present");
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("obs_id,s_ra,s_dec,calib_level,t_exptime,s_region,obs_release_date\n"));
    assert_eq!(csv.lines().count(), first.num_rows() + 1);
    let (_, ct, tsv) = sync(&[
        ("lang", "ADQL-2.1"),
        ("query", CONE),
        ("responseformat", "tsv"),
    ])
    .await;
    assert_eq!(ct, "text/tab-separated-values");
    assert!(
        String::from_utf8(tsv)
            .unwrap()
            .starts_with("obs_id\ts_ra\ts_dec\t")
    );
}

#[tokio::test]
async fn get_and_post_with_any_parameter_case() {
    let base = tap().await;
    let q = "SELECT TOP 3 obsid FROM dbo.obspointing ORDER BY obsid";
    let get = client()
        .get(format!("{base}/sync"))
        .query(&[("lAnG", "ADQL-2.0"), ("Query", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let (t, _) = parse(&get.bytes().await.unwrap());
    assert_eq!(t.num_rows(), 3);
    // Values are case-sensitive: a lower-case table name in a string literal matches nothing.
    let (_, _, body) = sync(&[
        ("LANG", "ADQL"),
        (
            "QUERY",
            "SELECT table_name FROM TAP_SCHEMA.tables WHERE table_name = 'ivoa.ObsCore'",
        ),
    ])
    .await;
    assert_eq!(parse(&body).0.num_rows(), 0);
}

#[tokio::test]
async fn maxrec_and_overflow() {
    let q = "SELECT obs_id FROM ivoa.obscore ORDER BY obs_id";
    let (_, _, body) = sync(&[("LANG", "ADQL"), ("QUERY", q), ("MAXREC", "5")]).await;
    assert_eq!(
        statuses(&body),
        ["OK", "OVERFLOW"],
        "leading OK, trailing OVERFLOW"
    );
    let text = String::from_utf8_lossy(&body).to_string();
    assert!(text.find("</TABLE>").unwrap() < text.rfind("OVERFLOW").unwrap());
    let (t, last) = parse(&body);
    assert_eq!((t.num_rows(), last.as_deref()), (5, Some("OVERFLOW")));
    let (_, _, body) = sync(&[("LANG", "ADQL"), ("QUERY", q), ("MAXREC", "0")]).await;
    let (t, last) = parse(&body);
    assert_eq!(
        (t.num_rows(), t.num_columns(), last.as_deref()),
        (0, 1, Some("OVERFLOW"))
    );
    let status = |q: &'static str, maxrec: &'static str| async move {
        statuses(
            &sync(&[("LANG", "ADQL"), ("QUERY", q), ("MAXREC", maxrec)])
                .await
                .2,
        )
    };
    assert_eq!(
        status("SELECT TOP 5 obs_id FROM ivoa.obscore", "5").await,
        ["OK"]
    );
    // MAXREC above the hard limit is clamped to it (100 000 > archive): complete.
    let all = "SELECT obsid FROM dbo.obspointing";
    assert_eq!(status(all, "5000000").await, ["OK"]);
    assert_eq!(status(all, "lots").await, ["ERROR"]);
}

#[tokio::test]
async fn errors_are_documents_with_http_200() {
    for (form, needle) in [
        (
            vec![
                ("LANG", "ADQL"),
                ("QUERY", "SELECT TOP 1 obs_id FROM ivoa.obscore LIMIT 5"),
            ],
            "LIMIT is not ADQL",
        ),
        (
            vec![("LANG", "ADQL"), ("QUERY", "SELECT nope FROM ivoa.obscore")],
            "unknown column 'nope'",
        ),
        (
            vec![("LANG", "SQL"), ("QUERY", "SELECT 1")],
            "does not support the query language SQL",
        ),
        (vec![("LANG", "ADQL")], "QUERY parameter is missing"),
        (
            vec![
                ("LANG", "ADQL"),
                ("QUERY", "SELECT obs_id FROM ivoa.obscore"),
                ("RESPONSEFORMAT", "fits"),
            ],
            "Unsupported RESPONSEFORMAT",
        ),
    ] {
        let (status, ct, body) = sync(&form).await;
        assert_eq!((status, ct.as_str()), (200, "text/xml"));
        assert_eq!(statuses(&body), ["ERROR"]);
        assert!(String::from_utf8_lossy(&body).contains(needle), "{needle}");
        let err = votable::read_full(body.as_slice(), "e")
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "the client reader reports it: {err}");
    }
}

/// The job document's `<uws:tag>` text.
fn tag(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<uws:{tag}>");
    let i = doc.find(&open)? + open.len();
    Some(doc[i..].split('<').next()?.to_string())
}

async fn job_doc(url: &str, query: &str) -> (u16, String) {
    let r = client().get(format!("{url}{query}")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Poll with blocking `WAIT`s until the job reaches `phase` (or gives up
/// after a few waits); the last job document.
async fn wait_for(job: &str, phase: &str) -> String {
    let mut doc = job_doc(job, "").await.1;
    for _ in 0..4 {
        let now = tag(&doc, "phase").unwrap_or_default();
        if now == phase {
            break;
        }
        doc = job_doc(job, &format!("?WAIT=10&PHASE={now}")).await.1;
    }
    doc
}

async fn create_job(form: &[(&str, &str)], fault: Option<&str>) -> String {
    let mut b = client().post(format!("{}/async", tap().await)).form(form);
    if let Some(f) = fault {
        b = b.header("X-Mastflow-Fault", f);
    }
    let r = b.send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        loc.starts_with("http://127.0.0.1:") && loc.contains("/vo-tap/api/v0.1/caom/async/"),
        "{loc}"
    );
    loc
}

#[tokio::test]
async fn uws_life_cycle() {
    let q = "SELECT obs_id FROM ivoa.obscore ORDER BY obs_id";
    let job = create_job(
        &[
            ("REQUEST", "doQuery"),
            ("LANG", "ADQL"),
            ("QUERY", q),
            ("MAXREC", "4"),
            ("RUNID", "life"),
        ],
        None,
    )
    .await;
    let (status, doc) = job_doc(&job, "").await;
    assert_eq!(status, 200);
    assert!(
        doc.contains("<uws:job version=\"1.1\" xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\""),
        "{doc}"
    );
    assert_eq!(tag(&doc, "phase").as_deref(), Some("PENDING"));
    assert_eq!(tag(&doc, "runId").as_deref(), Some("life"));
    assert!(
        doc.contains("<uws:ownerId xsi:nil=\"true\"/>")
            && doc.contains("<uws:startTime xsi:nil=\"true\"/>")
    );
    assert!(
        doc.contains("<uws:parameter id=\"maxrec\">4</uws:parameter>"),
        "{doc}"
    );
    // WAIT on a PENDING job blocks (up to WAIT seconds); with PHASE≠current it returns at once.
    let t0 = Instant::now();
    let (_, doc) = job_doc(&job, "?WAIT=1").await;
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "blocked {:?}",
        t0.elapsed()
    );
    assert_eq!(tag(&doc, "phase").as_deref(), Some("PENDING"));
    let t0 = Instant::now();
    job_doc(&job, "?WAIT=5&PHASE=EXECUTING").await;
    assert!(t0.elapsed() < Duration::from_secs(2));
    // Parameters may change while PENDING.
    let r = post(&format!("{job}/parameters"), &[("MAXREC", "3")]).await;
    assert_eq!(r.status(), 303);
    let r = post(&format!("{job}/phase"), &[("PHASE", "RUN")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()[reqwest::header::LOCATION].to_str().unwrap(),
        job
    );
    let doc = wait_for(&job, "COMPLETED").await;
    assert_eq!(tag(&doc, "phase").as_deref(), Some("COMPLETED"), "{doc}");
    assert!(tag(&doc, "startTime").is_some() && tag(&doc, "endTime").is_some());
    assert!(
        doc.contains(&format!(
            "<uws:result id=\"result\" xlink:href=\"{job}/results/result\"/>"
        )),
        "{doc}"
    );
    let phase = client()
        .get(format!("{job}/phase"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(phase, "COMPLETED");
    let r = client()
        .get(format!("{job}/results/result"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_TYPE],
        "application/x-votable+xml;serialization=TABLEDATA"
    );
    let body = r.bytes().await.unwrap();
    assert_eq!(statuses(&body), ["OK", "OVERFLOW"]);
    assert_eq!(parse(&body).0.num_rows(), 3);
    for leaf in [
        "executionduration",
        "destruction",
        "quote",
        "owner",
        "parameters",
        "results",
    ] {
        let r = client().get(format!("{job}/{leaf}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{leaf}");
    }
    let r = post(
        &format!("{job}/destruction"),
        &[("DESTRUCTION", "2000-01-01T00:00:00Z")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        job_doc(&job, "").await.0,
        404,
        "destroyed in the past: gone"
    );
    // DELETE, then 404; POST ACTION=DELETE too.
    let other = create_job(&[("LANG", "ADQL"), ("QUERY", q), ("PHASE", "RUN")], None).await;
    let r = client().delete(&other).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap()
            .ends_with("/async")
    );
    let (status, body) = job_doc(&other, "").await;
    assert_eq!(status, 404);
    assert!(body.contains("QUERY_STATUS") && body.contains("No such job"));
    let third = create_job(&[("LANG", "ADQL"), ("QUERY", q)], None).await;
    assert_eq!(post(&third, &[("ACTION", "DELETE")]).await.status(), 303);
    assert_eq!(job_doc(&third, "").await.0, 404);
    assert_eq!(
        client()
            .get(format!("{third}/phase"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn phase_run_at_creation_errors_and_job_lists() {
    let ok = create_job(
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT TOP 2 obsid FROM dbo.obspointing"),
            ("PHASE", "RUN"),
        ],
        None,
    )
    .await;
    let doc = wait_for(&ok, "COMPLETED").await;
    assert_eq!(
        tag(&doc, "phase").as_deref(),
        Some("COMPLETED"),
        "PHASE=RUN in the creating POST runs the job"
    );
    let bad = create_job(
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT nope FROM ivoa.obscore"),
            ("PHASE", "RUN"),
        ],
        None,
    )
    .await;
    let doc = wait_for(&bad, "ERROR").await;
    assert_eq!(tag(&doc, "phase").as_deref(), Some("ERROR"));
    assert!(doc.contains("<uws:errorSummary type=\"fatal\" hasDetail=\"true\"><uws:message>ADQL error: unknown column 'nope'"), "{doc}");
    let r = client().get(format!("{bad}/error")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(statuses(&r.bytes().await.unwrap()), ["ERROR"]);
    assert_eq!(
        client()
            .get(format!("{bad}/results/result"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let base = tap().await;
    let list = client()
        .get(format!("{base}/async"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("<uws:jobs")
            && list.contains(&ok[ok.rfind('/').unwrap() + 1..])
            && list.contains(&bad[bad.rfind('/').unwrap() + 1..])
    );
    let errors = client()
        .get(format!("{base}/async?PHASE=ERROR"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        errors.contains(&bad[bad.rfind('/').unwrap() + 1..])
            && !errors.contains(&ok[ok.rfind('/').unwrap() + 1..]),
        "{errors}"
    );
    let r = post(&format!("{bad}/phase"), &[("PHASE", "SUSPEND")]).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn slow_jobs_can_be_watched_and_aborted() {
    let q = "SELECT TOP 1 obsid FROM dbo.obspointing";
    let job = create_job(&[("LANG", "ADQL"), ("QUERY", q)], Some("tap-exec=1500")).await;
    assert_eq!(
        post(&format!("{job}/phase"), &[("PHASE", "RUN")])
            .await
            .status(),
        303
    );
    let (_, doc) = job_doc(&job, "?WAIT=1&PHASE=QUEUED").await;
    assert_eq!(tag(&doc, "phase").as_deref(), Some("EXECUTING"), "{doc}");
    let t0 = Instant::now();
    let (_, doc) = job_doc(&job, "?WAIT=10&PHASE=EXECUTING").await;
    assert_eq!(tag(&doc, "phase").as_deref(), Some("COMPLETED"));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "WAIT returns at the phase change"
    );
    let slow = create_job(
        &[("LANG", "ADQL"), ("QUERY", q), ("PHASE", "RUN")],
        Some("tap-exec=60000"),
    )
    .await;
    job_doc(&slow, "?WAIT=2&PHASE=QUEUED").await;
    assert_eq!(
        post(&format!("{slow}/phase"), &[("PHASE", "ABORT")])
            .await
            .status(),
        303
    );
    let (_, doc) = job_doc(&slow, "").await;
    assert_eq!(tag(&doc, "phase").as_deref(), Some("ABORTED"));
}

#[tokio::test]
async fn gateway_timeout_on_sync_only() {
    let base = tap().await;
    let form = [
        ("LANG", "ADQL"),
        ("QUERY", "SELECT TOP 1 obsid FROM dbo.obspointing"),
    ];
    let fault = "status=504,only=tap-sync";
    let r = client()
        .post(format!("{base}/sync"))
        .header("X-Mastflow-Fault", fault)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    // The same header on async requests does nothing: the client's fallback works.
    let job = create_job(&[form[0], form[1], ("PHASE", "RUN")], Some(fault)).await;
    let doc = wait_for(&job, "COMPLETED").await;
    assert_eq!(tag(&doc, "phase").as_deref(), Some("COMPLETED"));
    let r = client()
        .post(format!("{base}/sync"))
        .header("X-Mastflow-Fault", "status=503,retry-after=7,only=tap")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (503, "7")
    );
    let r = client()
        .post(format!("{base}/sync"))
        .header("X-Mastflow-Fault", "truncate")
        .form(&form)
        .send()
        .await
        .unwrap();
    let body = r.bytes().await.unwrap();
    assert!(
        votable::read_full(&body[..], "t").is_err(),
        "a truncated VOTable does not parse"
    );
    let r = client()
        .post(format!("{base}/sync"))
        .header("X-Mastflow-Fault", "error=Server is tired")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<INFO name=\"QUERY_STATUS\" value=\"ERROR\">Server is tired</INFO>")
    );
}

#[tokio::test]
async fn vosi_documents_and_request_counts() {
    let base = tap().await;
    let root = base.trim_end_matches("/vo-tap/api/v0.1/caom").to_string();
    client()
        .delete(format!("{root}/_sandbox/stats"))
        .send()
        .await
        .unwrap();
    let caps = client()
        .get(format!("{base}/capabilities"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for part in [
        "standardID=\"ivo://ivoa.net/std/TAP\"",
        "<version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.1\">2.1</version>",
        "<languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#features-adqlgeo\"><feature><form>POINT</form></feature>",
        "<form>DISTANCE</form>",
        "ivo://ivoa.net/std/TAPRegExt#features-adql-offset",
        "<mime>application/x-votable+xml;serialization=BINARY2</mime><alias>votable/b2</alias>",
        "<outputLimit><default unit=\"row\">100000</default><hard unit=\"row\">100000</hard></outputLimit>",
        &format!("<accessURL use=\"full\">{base}/tables</accessURL>"),
    ] {
        assert!(caps.contains(part), "{part}");
    }
    assert!(!caps.contains("uploadMethod") && !caps.contains("INTERSECTS"));
    let tables = client()
        .get(format!("{base}/tables"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        tables.contains("<name>ivoa.obscore</name>")
            && tables.contains("<name>dbo.obspointing</name>")
    );
    assert!(tables.contains("<column std=\"true\"><name>em_min</name><description>Minimal wavelength represented within the data set</description><unit>m</unit><ucd>em.wl;stat.min</ucd>"), "{tables}");
    let avail = client()
        .get(format!("{base}/availability"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(avail.contains("<vosi:available>true</vosi:available>"));
    let stats: serde_json::Value = client()
        .get(format!("{root}/_sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_path"]["/vo-tap/api/v0.1/caom/capabilities"], 1);
    assert_eq!(stats["by_path"]["/vo-tap/api/v0.1/caom/tables"], 1);
}

#[tokio::test]
async fn obscore_rows_match_obspointing() {
    let q = |t: &str| {
        format!(
            "SELECT obs_id, s_ra, calib_level FROM {t} WHERE calib_level >= 0 ORDER BY obs_id, s_ra"
        )
    };
    let (_, _, a) = sync(&[
        ("LANG", "ADQL"),
        ("QUERY", &q("ivoa.obscore")),
        ("RESPONSEFORMAT", "votable/b2"),
    ])
    .await;
    let (_, _, b) = sync(&[
        ("LANG", "ADQL"),
        ("QUERY", &q("dbo.obspointing")),
        ("RESPONSEFORMAT", "votable/b2"),
    ])
    .await;
    let (a, b) = (parse(&a).0, parse(&b).0);
    assert!(a.num_rows() > 2000);
    assert_eq!(a.num_rows(), b.num_rows());
    for i in (0..a.num_rows()).step_by(97) {
        assert_eq!(a.get(i, 0).to_owned(), b.get(i, 0).to_owned());
        assert_eq!(a.get(i, 1).to_owned(), b.get(i, 1).to_owned());
    }
    assert!(matches!(a.get(0, 2).to_owned(), Value::Int(_)));
}
