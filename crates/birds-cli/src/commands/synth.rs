//! `birds synth --out DIR`: draws the demo dataset (procedurally drawn bird species with ground-truth masks) in the
//! Kaggle layout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use birds_synth::SynthSpec;

/// A named set of params (`--preset`); flags given beside it override its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Preset {
    /// The defaults: 10 species × (40 + 10 + 10) images at 224 px.
    Demo,
    /// BIRDS 525's shape: 525 species, 130–263 train (mean ≈ 161, ≈ 84.6k), 5 valid and 5 test each, 224 px with
    /// a few odd sizes, one label spelt two ways and misspelt in birds.csv, 8 cross-split near-duplicates.
    Full,
}

/// Arguments of `birds synth`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Draws a labelled demo dataset: N species of procedurally drawn birds (fixed combinations of \
body, head, beak, wing, tail, crest, eye ring, breast pattern, eye stripe, collar and cap; some pairs differ in one \
part only) in random poses on cluttered backgrounds. Writes train|valid|test/<LABEL>/<n>.jpg, a Kaggle-format \
birds.csv, binary masks under masks/, boxes.csv, species.json, synth.json and contact_sheet.png. Same params and \
seed give byte-identical files. `--preset full` draws BIRDS 525's shape and quirks (≈ 90k images); \
`--label-errors FRAC` files a fraction of the training images under a look-alike species, listed in synth.json \
(ground truth for a label-issue finder)."
)]
pub struct Args {
    /// Output folder (must be absent or empty; --force replaces a previous synth dataset).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Start from these params (the flags below override them).
    #[arg(long, value_enum, default_value_t = Preset::Demo)]
    preset: Preset,
    /// Number of species (1..=1000; the first 24 are hand-designed) [demo: 10].
    #[arg(long)]
    classes: Option<usize>,
    /// Training images per species (the least, with --train-max) [demo: 40].
    #[arg(long)]
    train: Option<usize>,
    /// Most training images per species: counts vary between --train and this (0: all equal) [demo: 0].
    #[arg(long)]
    train_max: Option<usize>,
    /// Target mean of the varying training counts (0: halfway) [demo: 0].
    #[arg(long)]
    train_mean: Option<usize>,
    /// Validation images per species [demo: 10].
    #[arg(long)]
    valid: Option<usize>,
    /// Test images per species [demo: 10].
    #[arg(long)]
    test: Option<usize>,
    /// Image side in pixels (32..=1024) [demo: 224].
    #[arg(long, value_name = "PX")]
    size: Option<u32>,
    /// Training images drawn at other sizes (84×140, 489×283, …) [demo: 0].
    #[arg(long)]
    odd_sizes: Option<usize>,
    /// Cross-split near-duplicates to plant [demo: 0].
    #[arg(long)]
    near_duplicates: Option<usize>,
    /// BIRDS 525's label quirk: one species' train/test folders spelt with two spaces, valid with one, and
    /// birds.csv misspelling it (true/false) [demo: false].
    #[arg(long)]
    label_quirk: Option<bool>,
    /// Planted label errors, for testing a label-issue finder: this fraction of the training images (0 <= FRAC <
    /// 0.5, e.g. 0.02; rounded to the nearest count, spread over the species, chosen from the seed) is filed under
    /// a look-alike species' folder and birds.csv label instead of its own (its twin, else the species fewest
    /// parts apart); pixels and masks unchanged, valid and test untouched, each listed in synth.json's
    /// label_errors [demo: 0].
    #[arg(long, value_name = "FRAC")]
    label_errors: Option<f64>,
    /// Seed (same seed and params → byte-identical files) [demo: 0].
    #[arg(long)]
    seed: Option<u64>,
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
    let mut spec = match args.preset {
        Preset::Demo => SynthSpec::default(),
        Preset::Full => SynthSpec::full(),
    };
    macro_rules! set {
        ($($field:ident),*) => {$(if let Some(v) = args.$field { spec.$field = v; })*};
    }
    set!(
        classes,
        train,
        train_max,
        train_mean,
        valid,
        test,
        size,
        odd_sizes,
        near_duplicates,
        label_quirk,
        label_errors,
        seed
    );
    spec.defects |= args.defects;
    let (params, shape) = spec.parts();
    let start = Instant::now();
    let summary = birds_synth::write_dataset_shaped(&params, &shape, &args.out, args.force)
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
        if d.paths.is_empty() {
            outln!("planted {}: {}", d.kind, d.note);
        } else {
            outln!("planted {}: {}", d.kind, d.paths.join(" | "));
        }
    }
    if !summary.label_errors.is_empty() {
        outln!(
            "planted {} label errors (of {train} training images): listed in {}",
            summary.label_errors.len(),
            args.out.join(birds_synth::dataset::SUMMARY_FILE).display()
        );
    }
    Ok(())
}
