//! The `mastflow` binary.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = mastflow::cli::Cli::parse();
    let code = mastflow::cli::main(cli);
    std::process::exit(code);
}
