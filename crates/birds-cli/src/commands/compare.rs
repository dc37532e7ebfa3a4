//! `birds compare`: one table across training runs (mode, model, epochs, wall time, best validation and test
//! accuracy), from their `summary.json` files.

use std::path::PathBuf;

use anyhow::Context;
use birds_artifacts::train::summary::{compare, markdown, read_runs};

/// Arguments of `birds compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `birds train` output folders, one per run (rows keep this order).
    #[arg(value_name = "RUN_DIR", required = true)]
    runs: Vec<PathBuf>,
    /// Also write comparison.parquet and comparison.md into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the comparison as a Markdown table (and writes it with `--out`).
pub fn run(args: Args) -> anyhow::Result<()> {
    let rows = match &args.out {
        Some(out) => compare(&args.runs, out)
            .with_context(|| format!("writing the comparison into {}", out.display()))?,
        None => read_runs(&args.runs).context("reading the runs' summary.json")?,
    };
    out!("{}", markdown(&rows));
    if let Some(out) = &args.out {
        outln!("written to {}", out.display());
    }
    Ok(())
}
