//! The `mastflow` binary.

use clap::Parser;

/// Exit status for a closed stdout (`mastflow plan | head`): what a shell
/// reports for a process ended by SIGPIPE (128 + 13).
const EXIT_BROKEN_PIPE: i32 = 141;

fn main() -> anyhow::Result<()> {
    quiet_broken_pipe();
    let cli = mastflow::cli::Cli::parse();
    let code = mastflow::cli::main(cli);
    std::process::exit(code);
}

/// `print!` panics when the reader of stdout has gone away; end quietly
/// instead, like `cat | head`, and keep every other panic as it was.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") || msg.contains("BrokenPipe") {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        default(info);
    }));
}
