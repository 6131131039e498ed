//! Not a test: an ignored helper that serves a sandbox until killed, for
//! manual runs and `benches/sandbox_bench.py` until `mastflow sandbox` is
//! wired into the CLI:
//!
//! ```sh
//! MASTFLOW_SANDBOX_SCALE=1000000 MASTFLOW_SANDBOX_PORT=8765 \
//!   cargo test --release --test sandbox_serve -- --ignored --nocapture
//! ```

use mastflow::sandbox::{self, Config};

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "serves until killed; run explicitly"]
fn serve() {
    let defaults = Config::default();
    let config = Config {
        port: env_u64("MASTFLOW_SANDBOX_PORT", 0) as u16,
        scale: env_u64("MASTFLOW_SANDBOX_SCALE", defaults.scale),
        seed: env_u64("MASTFLOW_SANDBOX_SEED", defaults.seed),
        latency_ms: env_u64("MASTFLOW_SANDBOX_LATENCY_MS", 0),
        faults: std::env::var("MASTFLOW_SANDBOX_FAULTS").ok(),
        data_dir: std::env::var("MASTFLOW_SANDBOX_DATA").ok().map(Into::into),
        strict: std::env::var("MASTFLOW_SANDBOX_LENIENT").as_deref() != Ok("1"),
    };
    sandbox::run_blocking(config).unwrap();
}

/// Phase timings of building a large archive (prints; not an assertion).
#[test]
#[ignore = "timing probe; run explicitly in release"]
fn build_timing() {
    use mastflow::sandbox::data::{Archive, real, sikw, synth};
    let n = env_u64("MASTFLOW_SANDBOX_SCALE", 1_000_000) as usize;
    let t = std::time::Instant::now();
    let r = real::load();
    eprintln!("real rows: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let rows = synth::generate(n, 1, &r.programs);
    eprintln!("synthetic rows ({n}): {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let si = sikw::build(&real::sikw_niriss(), &rows);
    eprintln!(
        "SI tables ({} rows): {:?}",
        si.values().map(|s| s.table.num_rows()).sum::<usize>(),
        t.elapsed()
    );
    drop((rows, si));
    let t = std::time::Instant::now();
    let a = Archive::bundled(n, 1);
    eprintln!(
        "whole archive: {:?} ({} rows)",
        t.elapsed(),
        a.num_observations()
    );
}
