//! `birds`: the command line over the birds libraries. It parses arguments, sets up logging and calls library
//! functions; no logic lives here. It does not link libtorch: the torch commands (`info`, `imagenet`, `train`,
//! `diagnose`, `evaluate`, `explain`, `predict`, `export`) and the torch stages of `birds run` run in
//! `birds-torch`, the executable beside it (`src/torch/`), with the same flags, messages and exit codes.
#![allow(clippy::print_stdout)]

#[macro_use]
mod out;
mod about;
mod commands;
mod logging;
mod stages;
mod worker;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train bird-species classifiers from pretrained CNNs, find the species that need more data, and see with
/// Grad-CAM what the model looked at.
#[derive(Debug, Parser)]
#[command(name = "birds", version, about, long_about = None)]
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
    #[command(about = about::INFO, disable_help_flag = true)]
    Info(Forward),
    #[command(about = about::IMAGENET, disable_help_flag = true)]
    Imagenet(Forward),
    /// Run a pipeline's stale stages (pipelines/NAME.yaml): cached, parallel with -j, logged.
    Run(commands::run::Args),
    /// Which stages of a pipeline are stale, and which dep, param or out made them so.
    Status(commands::status::Args),
    /// Show a pipeline's stage graph (text, mermaid or dot).
    Dag(commands::dag::Args),
    /// List the built-in stages a pipeline can `uses:`.
    Stages(commands::stages::Args),
    /// Draw the demo dataset: procedurally drawn bird species with ground-truth masks, Kaggle layout.
    Synth(commands::synth::Args),
    /// Index a dataset into images.parquet/classes.parquet and audit it (bad files, label spellings, CSV
    /// mismatches, duplicates and leakage across splits).
    Ingest(commands::ingest::Args),
    /// Decode and resize images once into a training cache (`preprocess preview`: augmentation grid PNG).
    Preprocess(commands::preprocess::Args),
    #[command(about = about::TRAIN, disable_help_flag = true)]
    Train(Forward),
    /// One table across training runs (mode, model, epochs, wall time, best val and test accuracy).
    Compare(commands::compare::Args),
    #[command(about = about::DIAGNOSE, disable_help_flag = true)]
    Diagnose(Forward),
    #[command(about = about::EVALUATE, disable_help_flag = true)]
    Evaluate(Forward),
    #[command(about = about::EXPLAIN, disable_help_flag = true)]
    Explain(Forward),
    #[command(about = about::PREDICT, disable_help_flag = true)]
    Predict(Forward),
    /// Write the self-contained HTML report from stage output folders (what the pipeline's `report` stage does).
    Report(commands::report::Args),
    #[command(about = about::EXPORT, disable_help_flag = true)]
    Export(Forward),
}

/// The arguments of a torch command, passed on to `birds-torch` as they are (`--help` included).
#[derive(Debug, clap::Args)]
struct Forward {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., hide = true)]
    args: Vec<OsString>,
}

/// The commands that run in `birds-torch`.
const TORCH_COMMANDS: [&str; 8] = [
    "info", "imagenet", "train", "diagnose", "evaluate", "explain", "predict", "export",
];

/// `birds help <torch command> …`: the arguments after `help`, to hand to `birds-torch help` (its help is the
/// whole one; the front's `Forward` knows no flags).
fn help_of_torch_command(argv: &[OsString]) -> Option<&[OsString]> {
    let first = argv.iter().skip(1).position(|a| a == "help")? + 1;
    let rest = &argv[first + 1..];
    let flags_before = argv[1..first]
        .iter()
        .all(|a| a.to_str().is_some_and(|s| s.starts_with('-')));
    let torch = rest
        .first()
        .and_then(|c| c.to_str())
        .is_some_and(|c| TORCH_COMMANDS.contains(&c));
    (flags_before && torch).then_some(rest)
}

fn main() -> ExitCode {
    let malloc_tuned = birds_core::runtime::tune_malloc();
    let argv: Vec<OsString> = std::env::args_os().collect();
    if let Some(rest) = help_of_torch_command(&argv) {
        return worker::exec("help", rest);
    }
    let cli = Cli::parse();
    logging::init(cli.verbose);
    tracing::debug!(malloc_tuned, "start-up");
    worker::set_global_args(cli.verbose, cli.threads);
    let result = match cli.command {
        Command::Info(f) => return worker::exec("info", &f.args),
        Command::Imagenet(f) => return worker::exec("imagenet", &f.args),
        Command::Train(f) => return worker::exec("train", &f.args),
        Command::Diagnose(f) => return worker::exec("diagnose", &f.args),
        Command::Evaluate(f) => return worker::exec("evaluate", &f.args),
        Command::Explain(f) => return worker::exec("explain", &f.args),
        Command::Predict(f) => return worker::exec("predict", &f.args),
        Command::Export(f) => return worker::exec("export", &f.args),
        Command::Run(args) => commands::run::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Dag(args) => commands::dag::run(args),
        Command::Stages(args) => commands::stages::run(args),
        Command::Preprocess(args) => commands::preprocess::run(args),
        Command::Ingest(args) => commands::ingest::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Report(args) => commands::report::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
