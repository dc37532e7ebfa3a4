//! `birds-torch stage REQUEST`: one torch stage of `birds run`, in a process of its own.
//!
//! The runner writes a [`StageRequest`] (the stage's context as JSON), starts this with its output going to the
//! stage's log, and moves the output folder into place only when this exits with 0. On failure the message the
//! stage gives in-process is written to the request's `error_file` for the runner to report.

use std::path::PathBuf;
use std::process::ExitCode;

use birds_core::stage::{StageContext, StageError, StageRequest, error_chain};

/// Arguments of `birds-torch stage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runner's request file (JSON).
    request: PathBuf,
}

/// The work of a stage, in its engine crate.
type Work = fn(&StageContext<'_>) -> Result<(), StageError>;

/// The work of each torch stage, by `uses:` name.
fn engine(uses: &str) -> Option<Work> {
    Some(match uses {
        "train" => birds_train::stage::run_train,
        "diagnose" => birds_train::stage::run_diagnose,
        "evaluate" => birds_evaluate::stage::run,
        "explain" => birds_explain::stage::run,
        _ => return None,
    })
}

/// Reads the request, runs the stage, reports a failure in the error file and on stderr.
pub fn run(args: &Args) -> ExitCode {
    let request: StageRequest = match std::fs::read(&args.request)
        .map_err(|e| format!("reading the stage request {}: {e}", args.request.display()))
        .and_then(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("stage request {}: {e}", args.request.display()))
        }) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let result = match engine(&request.uses) {
        None => Err(format!(
            "stage `{}`: `uses: {}` is not a torch stage",
            request.name, request.uses
        )),
        Some(work) => {
            let ctx = request.context();
            tracing::info!(stage = ctx.name, uses = %request.uses, "stage started in birds-torch");
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&ctx))) {
                Ok(done) => done.map_err(|e| error_chain(e.as_ref())),
                Err(panic) => Err(format!(
                    "stage panicked: {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                )),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            if let Err(e) = std::fs::write(&request.error_file, &msg) {
                eprintln!("error: writing {}: {e}", request.error_file.display());
            }
            ExitCode::FAILURE
        }
    }
}
