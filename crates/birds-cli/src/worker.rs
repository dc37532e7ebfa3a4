//! `birds-torch`, the second executable: the commands and stages that need libtorch run there, so that `birds`
//! itself never loads it (start-up in milliseconds, not the ~300 ms of libtorch's static initialisers) and a
//! libtorch abort or an out-of-memory kill takes down one stage, not the runner.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

/// The global flags (`-v`, `--threads`) this `birds` was given, to pass on.
static GLOBAL_ARGS: OnceLock<Vec<String>> = OnceLock::new();

/// Records the global flags for [`global_args`].
pub fn set_global_args(verbose: u8, threads: Option<usize>) {
    let mut args = Vec::new();
    if verbose > 0 {
        args.push(format!("-{}", "v".repeat(usize::from(verbose))));
    }
    if let Some(n) = threads {
        args.push(String::from("--threads"));
        args.push(n.to_string());
    }
    let _ = GLOBAL_ARGS.set(args);
}

/// The global flags to give `birds-torch`.
pub fn global_args() -> Vec<String> {
    GLOBAL_ARGS.get().cloned().unwrap_or_default()
}

/// The `birds-torch` executable: `BIRDS_TORCH` when set, else the file beside this `birds` (where `cargo build`
/// and `cargo install` put both).
pub fn program() -> PathBuf {
    if let Some(p) = std::env::var_os("BIRDS_TORCH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let name = format!("birds-torch{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs `birds-torch <global flags> <command> <args>` in place of this process (exec): same stdin, stdout, stderr,
/// signals and exit status. Returns only when it could not be started.
pub fn exec(command: &str, args: &[OsString]) -> ExitCode {
    let program = program();
    let mut cmd = std::process::Command::new(&program);
    cmd.args(global_args()).arg(command).args(args);
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    eprintln!(
        "error: `birds {command}` runs in {}, which could not be started: {err}; build or install both executables (`cargo build --release` or `cargo install --path crates/birds-cli`), or point BIRDS_TORCH at it",
        program.display()
    );
    ExitCode::FAILURE
}
