//! `birds ingest`: index a dataset into Parquet and audit it.

use std::path::PathBuf;

use anyhow::Context;
use birds_ingest::{IngestParams, Layout, RunOptions};

/// Arguments of `birds ingest`. Each flag overrides the same key of `--params`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset root: `train|valid|test/<LABEL>/*` (Kaggle BIRDS 525, optional birds.csv) or `<LABEL>/*`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Output folder for images.parquet, classes.parquet, report.json and report.md (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// YAML file of ingest params (the keys of a pipeline stage's `params:`); flags override it.
    #[arg(long, value_name = "FILE")]
    params: Option<PathBuf>,
    /// Folder layout: auto, kaggle or flat [default: auto].
    #[arg(long, value_name = "LAYOUT", value_parser = parse_layout)]
    layout: Option<Layout>,
    /// CSV to compare with the folders, relative to the data root [default: birds.csv when present].
    #[arg(long, value_name = "FILE", conflicts_with = "ignore_csv")]
    csv: Option<String>,
    /// Do not read any CSV.
    #[arg(long)]
    ignore_csv: bool,
    /// Flat layout: fraction of each label's files for train [default: 0.8].
    #[arg(long, value_name = "F")]
    train: Option<f64>,
    /// Flat layout: fraction for valid [default: 0.1].
    #[arg(long, value_name = "F")]
    valid: Option<f64>,
    /// Flat layout: fraction for test [default: 0.1].
    #[arg(long, value_name = "F")]
    test: Option<f64>,
    /// Flat layout: seed of the split [default: 0].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Near-duplicate threshold: perceptual-hash bits (of 64) two images may differ in, 0-16 [default: 5].
    #[arg(long, value_name = "BITS")]
    near_duplicate_distance: Option<u32>,
    /// Keep labels that differ only in whitespace or case apart (they are merged by default).
    #[arg(long)]
    no_normalize_labels: bool,
    /// Refuse images declaring a width or height above this, before decoding [default: 16384].
    #[arg(long, value_name = "PX")]
    max_dimension: Option<u32>,
    /// Do not show a progress bar.
    #[arg(long)]
    quiet: bool,
}

fn parse_layout(s: &str) -> Result<Layout, String> {
    match s {
        "auto" => Ok(Layout::Auto),
        "kaggle" => Ok(Layout::Kaggle),
        "flat" => Ok(Layout::Flat),
        other => Err(format!(
            "unknown layout {other:?}: expected auto, kaggle or flat"
        )),
    }
}

impl Args {
    fn params(&self) -> anyhow::Result<IngestParams> {
        let mut p = match &self.params {
            Some(path) => IngestParams::from_yaml_file(path)?,
            None => IngestParams::default(),
        };
        if let Some(v) = self.layout {
            p.layout = v;
        }
        if let Some(v) = &self.csv {
            p.csv = Some(v.clone());
            p.ignore_csv = false;
        }
        if self.ignore_csv {
            p.ignore_csv = true;
            p.csv = None;
        }
        if let Some(v) = self.train {
            p.split.train = v;
        }
        if let Some(v) = self.valid {
            p.split.valid = v;
        }
        if let Some(v) = self.test {
            p.split.test = v;
        }
        if let Some(v) = self.seed {
            p.seed = v;
        }
        if let Some(v) = self.near_duplicate_distance {
            p.near_duplicate_distance = v;
        }
        if self.no_normalize_labels {
            p.normalize_labels = false;
        }
        if let Some(v) = self.max_dimension {
            p.max_dimension = v;
        }
        p.validate().map_err(birds_ingest::IngestError::Params)?;
        Ok(p)
    }
}

/// Runs `birds ingest`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let params = args.params()?;
    let out = birds_ingest::ingest_with(
        &args.data,
        &args.out,
        &params,
        RunOptions {
            progress: !args.quiet,
        },
    )
    .with_context(|| {
        format!(
            "ingesting {} into {}",
            args.data.display(),
            args.out.display()
        )
    })?;
    let r = &out.report;
    outln!(
        "{} image files under {} ({} layout): {} decodable, {} not; {} classes",
        r.totals.files,
        r.root,
        r.layout.as_str(),
        r.totals.ok,
        r.totals.errors,
        r.totals.classes
    );
    let splits: Vec<String> = r
        .splits
        .iter()
        .map(|s| format!("{} {}", s.split, s.ok))
        .collect();
    outln!("decodable per split: {}", splits.join(", "));
    if r.anomalies.is_empty() {
        outln!("anomalies: none");
    } else {
        outln!("anomalies ({}):", r.anomalies.len());
        for a in &r.anomalies {
            outln!("  - {a}");
        }
    }
    outln!("report: {}", out.report_md.display());
    outln!("index:  {}", out.images.display());
    Ok(())
}
