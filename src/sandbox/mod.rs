//! `mastflow sandbox`: a local emulator of the MAST HTTP endpoints mastflow
//! uses, faithful enough that unmodified clients (astroquery) cannot tell it
//! from MAST for those features. See `docs/sandbox.md`.
//!
//! This module owns the server lifecycle ([`Config`], [`start`],
//! [`run_blocking`]). Submodules: `data` (the archive: real rows, seeded
//! generator, tables and indexes), `sky` (geometry, HEALPix index), `query`
//! (MAST filter semantics), `services` (Mashup services), `render` (JSON
//! envelopes), `colconf` (columns configs), `missions` (the missions
//! search API, `/search/<mission>/api/v0.1/…`), `names` (name resolution),
//! `tap` (the TAP service: ADQL, UWS, VOSI), `files` (deterministic file
//! bytes), `faults` (fault injection), `strict` (what MAST refuses),
//! `record` (the request log) and `http` (routes). It depends only on `crate::table`, `crate::wire` and
//! `crate::util`.

pub mod colconf;
pub mod data;
pub mod faults;
pub mod files;
mod hostile;
pub mod http;
pub mod missions;
pub mod names;
pub mod query;
pub mod record;
pub mod render;
pub mod services;
pub mod sky;
pub mod strict;
pub mod tap;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

/// The token the sandbox accepts unless `MASTFLOW_SANDBOX_TOKEN` is set.
pub const DEFAULT_TOKEN: &str = "sandbox-token-0123456789abcdef";

/// Environment variable overriding [`DEFAULT_TOKEN`].
pub const TOKEN_ENV: &str = "MASTFLOW_SANDBOX_TOKEN";

/// Synthetic observations in the default archive (starts in well under a second).
pub const DEFAULT_SCALE: u64 = 2000;

/// Default generator seed.
pub const DEFAULT_SEED: u64 = 20240220;

/// How to run the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Load the archive from this directory instead of the bundled data.
    pub data_dir: Option<PathBuf>,
    /// Number of synthetic observations added to the bundled real rows.
    pub scale: u64,
    /// Generator seed: the same seed gives the same archive.
    pub seed: u64,
    /// Fixed delay before every response.
    pub latency_ms: u64,
    /// Global fault spec (grammar in `faults` and `docs/sandbox.md`).
    pub faults: Option<String>,
    /// Refuse what MAST documents as wrong (module `strict`); `false` is
    /// `mastflow sandbox --lenient`, today's tolerant reading.
    pub strict: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            data_dir: None,
            scale: DEFAULT_SCALE,
            seed: DEFAULT_SEED,
            latency_ms: 0,
            faults: None,
            strict: true,
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("invalid fault spec: {0}")]
    Faults(String),
    #[error("cannot load sandbox data: {0}")]
    Data(String),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("sandbox runtime error: {0}")]
    Runtime(String),
}

/// A running sandbox. Dropping it leaves the server running until the
/// runtime stops; call [`Running::shutdown`] to stop it cleanly.
pub struct Running {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`: use as the MAST server base URL.
    pub base_url: String,
    pub archive: Arc<data::Archive>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting connections and wait for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.handle).await;
    }
}

/// Build the archive a config describes (blocking; the bundled default
/// takes well under a second).
pub fn build_archive(config: &Config) -> Result<data::Archive, SandboxError> {
    match &config.data_dir {
        Some(dir) => data::Archive::from_dir(dir, config.seed).map_err(SandboxError::Data),
        None => Ok(data::Archive::bundled(config.scale as usize, config.seed)),
    }
}

/// The accepted token: `MASTFLOW_SANDBOX_TOKEN` or [`DEFAULT_TOKEN`].
pub fn token() -> String {
    std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_TOKEN.to_string())
}

/// Start the sandbox in-process on 127.0.0.1 (must run inside a tokio runtime).
pub async fn start(config: Config) -> Result<Running, SandboxError> {
    let global = match &config.faults {
        Some(s) => faults::FaultSpec::parse(s).map_err(SandboxError::Faults)?,
        None => faults::FaultSpec::default(),
    };
    let cfg = config.clone();
    let archive = tokio::task::spawn_blocking(move || build_archive(&cfg))
        .await
        .map_err(|e| SandboxError::Runtime(e.to_string()))??;
    let archive = Arc::new(archive);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| SandboxError::Bind {
            port: config.port,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| SandboxError::Runtime(e.to_string()))?;
    let mut state = http::AppState::new(archive.clone(), token(), global, config.latency_ms);
    state.strict = config.strict;
    let state = Arc::new(state);
    let app = http::router(state);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        base_url: format!("http://{addr}"),
        archive,
        shutdown: Some(tx),
        handle,
    })
}

/// Start the sandbox, print its base URL on stdout, serve until Ctrl-C.
pub fn run_blocking(config: Config) -> Result<(), SandboxError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SandboxError::Runtime(e.to_string()))?;
    let strict = config.strict;
    rt.block_on(async move {
        let t0 = std::time::Instant::now();
        let running = start(config).await?;
        println!("{}", running.base_url);
        eprintln!(
            "mastflow sandbox: {} observations ready in {:.2?}; {}; token `{}`; Ctrl-C to stop",
            running.archive.num_observations(),
            t0.elapsed(),
            if strict { "strict" } else { "lenient" },
            token()
        );
        let _ = tokio::signal::ctrl_c().await;
        running.shutdown().await;
        Ok(())
    })
}
