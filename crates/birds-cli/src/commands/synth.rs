//! `birds synth --out DIR`: draws the demo dataset (procedurally drawn bird species with ground-truth masks) in the
//! Kaggle layout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use birds_synth::SynthParams;

/// Arguments of `birds synth`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Draws a labelled demo dataset: N species of procedurally drawn birds (fixed combinations of \
body, head, beak, wing, tail, crest, eye ring and breast pattern; some pairs differ in one part only) in random \
poses on cluttered backgrounds. Writes train|valid|test/<LABEL>/<n>.jpg, a Kaggle-format birds.csv, binary masks \
under masks/, boxes.csv, species.json, synth.json and contact_sheet.png. Same params and seed give byte-identical \
files."
)]
pub struct Args {
    /// Output folder (must be absent or empty; --force replaces a previous synth dataset).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of species (1..=200; the first 24 are hand-designed).
    #[arg(long, default_value_t = SynthParams::default().classes)]
    classes: usize,
    /// Training images per species.
    #[arg(long, default_value_t = SynthParams::default().train)]
    train: usize,
    /// Validation images per species.
    #[arg(long, default_value_t = SynthParams::default().valid)]
    valid: usize,
    /// Test images per species.
    #[arg(long, default_value_t = SynthParams::default().test)]
    test: usize,
    /// Image side in pixels (32..=1024).
    #[arg(long, value_name = "PX", default_value_t = SynthParams::default().size)]
    size: u32,
    /// Seed (same seed and params → byte-identical files).
    #[arg(long, default_value_t = SynthParams::default().seed)]
    seed: u64,
    /// Plant dirty-data cases for ingest to catch: a two-space label variant, a cross-split near-duplicate and a
    /// truncated JPEG (listed in synth.json).
    #[arg(long)]
    defects: bool,
    /// Replace DIR if it holds a previous synth dataset (other folders are never removed).
    #[arg(long)]
    force: bool,
}

/// Generates the dataset and prints where it went.
pub fn run(args: Args) -> anyhow::Result<()> {
    let params = SynthParams {
        classes: args.classes,
        train: args.train,
        valid: args.valid,
        test: args.test,
        size: args.size,
        seed: args.seed,
        defects: args.defects,
    };
    let start = Instant::now();
    let summary = birds_synth::write_dataset(&params, &args.out, args.force)
        .with_context(|| format!("writing the synthetic dataset to {}", args.out.display()))?;
    let [train, valid, test] = summary.images;
    outln!(
        "{} species, {train} / {valid} / {test} images (train / valid / test) at {} px in {:.2} s → {}",
        summary.labels.len(),
        params.size,
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    outln!(
        "contact sheet: {}",
        args.out.join(birds_synth::dataset::SHEET_FILE).display()
    );
    for d in &summary.defects {
        outln!("planted {}: {}", d.kind, d.paths.join(" | "));
    }
    Ok(())
}
