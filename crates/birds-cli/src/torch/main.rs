//! `birds-torch`: the half of `birds` that links libtorch. `birds` starts it for the torch commands (the user still
//! types `birds train …`; the usage lines say `birds`) and for the torch stages of `birds run`
//! (`birds-torch stage REQUEST`, one process per stage). Not meant to be typed, though it works when it is.
#![allow(clippy::print_stdout)]

#[macro_use]
#[path = "../out.rs"]
mod out;
#[path = "../about.rs"]
mod about;
mod commands;
#[path = "../logging.rs"]
mod logging;
mod stage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The libtorch commands of birds (started by `birds`).
#[derive(Debug, Parser)]
#[command(name = "birds", bin_name = "birds", version, about, long_about = None)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// CPU threads for libtorch and image work (default: all cores).
    #[arg(long, global = true, value_name = "N", env = "BIRDS_THREADS")]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(about = about::INFO)]
    Info(commands::info::Args),
    #[command(about = about::IMAGENET)]
    Imagenet(commands::imagenet::Args),
    #[command(about = about::TRAIN)]
    Train(commands::train::Args),
    #[command(about = about::DIAGNOSE)]
    Diagnose(commands::diagnose::Args),
    #[command(about = about::EVALUATE)]
    Evaluate(commands::evaluate::Args),
    #[command(about = about::EXPLAIN)]
    Explain(commands::explain::Args),
    #[command(about = about::PREDICT)]
    Predict(commands::predict::Args),
    #[command(about = about::EXPORT)]
    Export(commands::export::Args),
    /// Run one torch stage of a pipeline from the runner's request file (what `birds run` starts).
    #[command(hide = true)]
    Stage(stage::Args),
}

fn main() -> ExitCode {
    let malloc_tuned = birds_core::runtime::tune_malloc();
    let cli = Cli::parse();
    logging::init(cli.verbose);
    tracing::debug!(malloc_tuned, "start-up");
    let runtime = commands::Runtime::start(cli.threads);
    let result = match cli.command {
        Command::Info(args) => commands::info::run(&runtime, args),
        Command::Imagenet(args) => commands::imagenet::run(&runtime, args),
        Command::Train(args) => commands::train::run(&runtime, args),
        Command::Diagnose(args) => commands::diagnose::run(&runtime, args),
        Command::Evaluate(args) => commands::evaluate::run(&runtime, args),
        Command::Explain(args) => commands::explain::run(&runtime, args),
        Command::Predict(args) => commands::predict::run(&runtime, args),
        Command::Export(args) => commands::export::run(&runtime, args),
        Command::Stage(args) => return stage::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
