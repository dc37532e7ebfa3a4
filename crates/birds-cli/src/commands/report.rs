//! `birds report`: the self-contained HTML page from stage output folders (the pipeline's `report` stage, by hand).

use std::path::PathBuf;

use anyhow::Context;
use birds_report::{Inputs, ReportParams};

/// Arguments of `birds report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder; the page is OUT/index.html.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A `birds synth` output folder (the demo dataset).
    #[arg(long, value_name = "DIR")]
    synth: Option<PathBuf>,
    /// A `birds ingest` output folder.
    #[arg(long, value_name = "DIR")]
    ingest: Option<PathBuf>,
    /// A `birds preprocess` output folder.
    #[arg(long, value_name = "DIR")]
    preprocess: Option<PathBuf>,
    /// A `birds train` output folder (repeat for up to 8 runs; table order).
    #[arg(long = "run", value_name = "DIR")]
    runs: Vec<PathBuf>,
    /// A `birds evaluate` output folder.
    #[arg(long, value_name = "DIR")]
    evaluate: Option<PathBuf>,
    /// A `birds explain` output folder.
    #[arg(long, value_name = "DIR")]
    explain: Option<PathBuf>,
    /// A `birds diagnose` output folder (suspected label errors with thumbnails, learning curves).
    #[arg(long, value_name = "DIR")]
    diagnose: Option<PathBuf>,
    /// Page title.
    #[arg(long, default_value = "birds report")]
    title: String,
}

/// Writes OUT/index.html and prints its path.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.runs.len() > birds_report::stage::RUN_INPUTS.len() {
        anyhow::bail!(
            "{} --run folders given; the report takes at most {}",
            args.runs.len(),
            birds_report::stage::RUN_INPUTS.len()
        );
    }
    let inputs = Inputs {
        synth: args.synth,
        ingest: args.ingest,
        preprocess: args.preprocess,
        runs: args
            .runs
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("run{}", i + 1), p))
            .collect(),
        evaluate: args.evaluate,
        explain: args.explain,
        diagnose: args.diagnose,
    };
    let params = ReportParams {
        title: args.title,
        ..ReportParams::default()
    };
    let written = birds_report::report(&inputs, &params, &args.out)
        .with_context(|| format!("writing the report into {}", args.out.display()))?;
    outln!(
        "{} ({} KB, {} images{})",
        written.path.display(),
        written.bytes / 1024,
        written.stats.images,
        if written.stats.sections_not_run > 0 {
            format!(", {} sections not run", written.stats.sections_not_run)
        } else {
            String::new()
        }
    );
    Ok(())
}
