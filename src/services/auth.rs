//! The MAST token: where it comes from and who it belongs to.
//!
//! Sources, in order: the `MAST_API_TOKEN` environment variable, then a
//! token file (`--token-file`, or `$XDG_CONFIG_HOME/mastflow/token`,
//! `~/.config/mastflow/token`). A token file that others can read is
//! refused. The token is wrapped in [`Token`], whose `Debug`/`Display`
//! print `***`; only the HTTP layer exposes it, and only to MAST hosts.

use super::http::{Http, Request, Token};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors finding or checking the token.
#[derive(Debug, Error)]
pub enum AuthError {
    #[error("token file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: String, mode: u32 },
    #[error("cannot read token file {path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {0} is empty")]
    Empty(String),
    #[error(
        "token file {0} holds more than a token (spaces or several lines); it must hold the token alone, on one line"
    )]
    NotOneLine(String),
    #[error("{0}")]
    Http(#[from] super::http::HttpError),
    #[error("MAST's /whoami answered something unexpected: {0}")]
    Malformed(String),
}

/// The default token file.
pub fn default_token_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("mastflow").join("token"))
}

/// The token from the environment or a file; `None` when there is none
/// (public data needs no token).
pub fn load_token(file: Option<&Path>) -> Result<Option<Token>, AuthError> {
    if let Ok(t) = std::env::var("MAST_API_TOKEN") {
        if !t.trim().is_empty() {
            return Ok(Some(Token::new(t.trim())));
        }
    }
    let path = match file {
        Some(p) => p.to_path_buf(),
        None => match default_token_file() {
            Some(p) if p.exists() => p,
            _ => return Ok(None),
        },
    };
    read_token_file(&path).map(Some)
}

/// Read a token file, refusing one that group or others can read.
pub fn read_token_file(path: &Path) -> Result<Token, AuthError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| AuthError::Unreadable {
        path: shown.clone(),
        source: e,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AuthError::Exposed { path: shown, mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| AuthError::Unreadable {
        path: shown.clone(),
        source: e,
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err(AuthError::Empty(shown));
    }
    // An HTTP header cannot carry a newline: say so here, not as a
    // "builder error" at the first request.
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AuthError::NotOneLine(shown));
    }
    Ok(Token::new(t))
}

/// Who the token belongs to, from MAST's `/whoami`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    User { name: String },
}

/// Ask `/whoami` (with the token, if the client has one).
pub async fn whoami(http: &Http, base_url: &str) -> Result<Identity, AuthError> {
    let url = format!("{}/whoami", base_url.trim_end_matches('/'));
    let resp = http
        .send(&Request {
            auth: true,
            ..Request::get(url)
        })
        .await?;
    let v: serde_json::Value =
        serde_json::from_slice(&resp.body).map_err(|e| AuthError::Malformed(e.to_string()))?;
    if v.get("anon").and_then(|a| a.as_bool()).unwrap_or(true) {
        return Ok(Identity::Anonymous);
    }
    let attrib = v.get("attrib");
    let name = attrib
        .and_then(|a| a.get("display_name"))
        .or_else(|| v.get("ezid"))
        .and_then(|n| n.as_str())
        .unwrap_or("(unnamed)")
        .to_string();
    Ok(Identity::User { name })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn token_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "abc123\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_token_file(&p).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(!e.to_string().contains("abc123"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token_file(&p).unwrap().expose(), "abc123");
        std::fs::write(&p, "  \n").unwrap();
        assert!(matches!(read_token_file(&p), Err(AuthError::Empty(_))));
    }

    /// Issue 13: a two-line token file gave "builder error" at request time.
    #[test]
    fn token_files_hold_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "abc123\nsecond line\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_token_file(&p).unwrap_err().to_string();
        assert!(e.contains("one line"), "{e}");
        assert!(!e.contains("abc123") && !e.contains("second"), "{e}");
    }
}
