//! UWS 1.1 job documents as a client reads them: the phase, the error
//! summary and the result links. Namespace prefixes are ignored (UWS 1.1
//! keeps the 1.0 namespace; servers use `uws:` or a default namespace).

use quick_xml::Reader;
use quick_xml::events::Event;

pub use crate::wire::uws::Phase;

/// What a client reads from `GET <job>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDoc {
    pub job_id: Option<String>,
    pub phase: Phase,
    /// `errorSummary/message`.
    pub error: Option<String>,
    /// `results/result`: (id, xlink:href).
    pub results: Vec<(String, String)>,
}

impl JobDoc {
    /// The href of the result called `result` (TAP's name), else the first.
    pub fn result_href(&self) -> Option<&str> {
        self.results
            .iter()
            .find(|(id, _)| id == "result")
            .or_else(|| self.results.first())
            .map(|(_, h)| h.as_str())
    }
}

/// Parse a job document.
pub fn parse_job(body: &[u8]) -> Result<JobDoc, String> {
    let mut xml = Reader::from_reader(body);
    xml.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let (mut job_id, mut phase, mut error) = (None, None, None);
    let mut results = Vec::new();
    let mut root = None;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Err(e) => return Err(format!("not XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_vec();
                root.get_or_insert_with(|| name.clone());
                path.push(name);
            }
            Ok(Event::Empty(e)) => {
                let name = e.local_name();
                root.get_or_insert_with(|| name.as_ref().to_vec());
                if name.as_ref() == b"result" {
                    let (mut id, mut href) = (String::new(), String::new());
                    for a in e.attributes().flatten() {
                        let v = a
                            .unescape_value()
                            .map(|v| v.into_owned())
                            .unwrap_or_default();
                        match a.key.local_name().as_ref() {
                            b"id" => id = v,
                            b"href" => href = v,
                            _ => {}
                        }
                    }
                    results.push((id, href));
                }
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map(|c| c.trim().to_string()).unwrap_or_default();
                match path.last().map(Vec::as_slice) {
                    Some(b"phase") => phase = Phase::parse(&text),
                    Some(b"jobId") => job_id = Some(text),
                    Some(b"message") if path.iter().any(|p| p == b"errorSummary") => {
                        error = Some(text)
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
        }
    }
    if root.as_deref() != Some(b"job") {
        return Err("not a UWS job document (no <job> root)".into());
    }
    let phase = phase.ok_or("the job document has no <phase>")?;
    Ok(JobDoc {
        job_id,
        phase,
        error,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dachs_job_documents() {
        let pending = include_bytes!("../../../tests/fixtures/tap/async_job_pending.xml");
        let doc = parse_job(pending).unwrap();
        assert_eq!(doc.phase, Phase::Pending);
        assert!(doc.job_id.is_some());
        let ok = parse_job(include_bytes!(
            "../../../tests/fixtures/tap/async_job_final_ok.xml"
        ))
        .unwrap();
        assert_eq!(ok.phase, Phase::Completed);
        assert!(ok.result_href().unwrap().ends_with("/results/result"));
        let err = parse_job(include_bytes!(
            "../../../tests/fixtures/tap/async_job_final_error.xml"
        ))
        .unwrap();
        assert_eq!(err.phase, Phase::Error);
        assert!(err.error.as_deref().unwrap_or("").len() > 5, "{err:?}");
    }

    #[test]
    fn refuses_what_is_not_a_job() {
        assert!(parse_job(b"<VOTABLE/>").is_err());
        assert!(parse_job(b"<uws:job xmlns:uws='x'></uws:job>").is_err());
        assert!(parse_job(b"garbage <<").is_err());
        let d = parse_job(b"<job><phase>executing</phase></job>").unwrap();
        assert_eq!(d.phase, Phase::Executing);
    }
}
