//! `birds`: the command line over the birds libraries. It parses arguments, sets up logging and the runtime,
//! and calls library functions; no logic lives here.
#![allow(clippy::print_stdout)]

#[macro_use]
mod out;
mod commands;
mod stages;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    /// Versions, devices, threads and where the pretrained weights are.
    Info(commands::info::Args),
    /// Classify images with the 1000-class ImageNet head of pretrained EfficientNet-Lite0 (top-5 ids).
    Imagenet(commands::imagenet::Args),
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
    /// Train a classifier on a preprocess cache: feature-extract, fine-tune or scratch (`train smoke`: a few
    /// CUDA/CPU steps on a synthetic batch).
    Train(commands::train::Args),
    /// One table across training runs (mode, model, epochs, wall time, best val and test accuracy).
    Compare(commands::compare::Args),
    /// Suspected label errors (confident learning) and per-class learning curves, from heads on cached
    /// pretrained features.
    Diagnose(commands::diagnose::Args),
    /// Per-class report of a trained model: confusion, calibration, top losses, and the species that need more
    /// training.
    Evaluate(commands::evaluate::Args),
    /// Grad-CAM / Grad-CAM++ overlays for the weakest classes (or given images), with checks: energy inside the
    /// bird mask, pointing game, deletion test.
    Explain(commands::explain::Args),
    /// Top-5 species of images under a trained checkpoint (default: the default pipeline's fine-tuned model), with
    /// an optional Grad-CAM overlay.
    Predict(commands::predict::Args),
    /// Write the self-contained HTML report from stage output folders (what the pipeline's `report` stage does).
    Report(commands::report::Args),
    /// A trained checkpoint for use outside birds: PyTorch state dict (safetensors), TorchScript module, model.json.
    Export(commands::export::Args),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let malloc_tuned = birds_core::runtime::tune_malloc();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    tracing::debug!(malloc_tuned, "start-up");
    let runtime = commands::Runtime::start(cli.threads);
    let result = match cli.command {
        Command::Info(args) => commands::info::run(&runtime, args),
        Command::Imagenet(args) => commands::imagenet::run(&runtime, args),
        Command::Run(args) => commands::run::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Dag(args) => commands::dag::run(args),
        Command::Stages(args) => commands::stages::run(args),
        Command::Preprocess(args) => commands::preprocess::run(&runtime, args),
        Command::Ingest(args) => commands::ingest::run(&runtime, args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Diagnose(args) => commands::diagnose::run(&runtime, args),
        Command::Evaluate(args) => commands::evaluate::run(&runtime, args),
        Command::Explain(args) => commands::explain::run(&runtime, args),
        Command::Compare(args) => commands::compare::run(&runtime, args),
        Command::Train(args) => commands::train::run(&runtime, args),
        Command::Predict(args) => commands::predict::run(&runtime, args),
        Command::Report(args) => commands::report::run(args),
        Command::Export(args) => commands::export::run(&runtime, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
