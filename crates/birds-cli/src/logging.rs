//! Logging set-up shared by `birds` and `birds-torch`: tracing to stderr (colour only on a terminal), `-v` levels,
//! `RUST_LOG` overriding.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber: warn by default, `-v` info, `-vv` debug, `-vvv` trace.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: a stage's stderr is its log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}
