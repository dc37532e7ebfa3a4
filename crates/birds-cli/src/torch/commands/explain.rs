//! `birds explain`: Grad-CAM / Grad-CAM++ overlays for the classes that need work (or given images), with the
//! checks that say whether the maps can be trusted.

use std::path::PathBuf;

use anyhow::Context;
use birds_core::Split;
use birds_explain::cam::CamMethod;
use birds_explain::{ExplainParams, Inputs, RunOptions};
use birds_models::runtime::DeviceSpec;

use super::Runtime;

/// Arguments of `birds explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A `birds train` output folder (model.safetensors + checkpoint.json).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// The `birds preprocess` output folder the model was trained from (images as evaluation saw them).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// A `birds ingest` output folder, when there is no cache (images are decoded and resized here).
    #[arg(long, value_name = "DIR", conflicts_with = "cache")]
    index: Option<PathBuf>,
    /// A `birds evaluate` output folder: its needs_more_training ranking picks the classes (default: ranked here
    /// from the model's predictions on the split).
    #[arg(long, value_name = "DIR")]
    evaluation: Option<PathBuf>,
    /// Root of a `birds synth` dataset: its masks are the ground truth for the localisation check.
    #[arg(long, value_name = "DIR")]
    masks: Option<PathBuf>,
    /// Output folder (created; existing files are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Explain these image files instead of the weakest classes (repeatable). A parent folder named like a class
    /// gives the true label.
    #[arg(long = "image", value_name = "FILE")]
    images: Vec<PathBuf>,
    /// Methods, comma-separated: grad-cam, grad-cam++, hirescam.
    #[arg(
        long,
        value_name = "METHODS",
        value_delimiter = ',',
        default_value = "grad-cam,grad-cam++"
    )]
    methods: Vec<CamMethod>,
    /// The explained layer: `features` (the last feature map) or a named layer (Lite0: `blocks.0` … `blocks.15`).
    #[arg(long, value_name = "LAYER", default_value = "features")]
    layer: String,
    /// Also explain this class for every drawn image (a label of the model).
    #[arg(long, value_name = "LABEL")]
    class: Option<String>,
    /// Split of the cache/index to draw from (default: test, else valid, else train).
    #[arg(long, value_name = "SPLIT")]
    split: Option<Split>,
    /// How many of the weakest classes to draw.
    #[arg(long, value_name = "N", default_value_t = 5)]
    classes: usize,
    /// Misclassified images drawn per weak class (most confidently wrong first).
    #[arg(long, value_name = "N", default_value_t = 3)]
    misclassified: usize,
    /// Correctly classified images drawn per weak class (most confident first).
    #[arg(long, value_name = "N", default_value_t = 2)]
    correct: usize,
    /// Predicted-class maps only: no true-class maps and no "why X, not Y" panels for misclassified images.
    #[arg(long)]
    no_why_not: bool,
    /// Images of the split in the localisation/deletion checks (spread over the classes; 0: no checks).
    #[arg(long, value_name = "N", default_value_t = 200)]
    check_images: usize,
    /// Fraction of pixels the deletion test blurs.
    #[arg(long, value_name = "F", default_value_t = 0.2)]
    deletion_fraction: f64,
    /// Seed of the random baselines of the deletion test.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Heatmap opacity in overlays (0–1).
    #[arg(long, value_name = "A", default_value_t = 0.5)]
    alpha: f32,
    /// Side of the drawn overlays in pixels.
    #[arg(long, value_name = "PX", default_value_t = 320)]
    overlay_size: u32,
    /// Images per batch.
    #[arg(long, value_name = "N", default_value_t = 16)]
    batch_size: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    device: DeviceSpec,
}

/// Runs explain and prints where the outputs are and the check figures.
pub fn run(_runtime: &Runtime, args: Args) -> anyhow::Result<()> {
    let defaults = ExplainParams::default();
    let params = ExplainParams {
        methods: args.methods,
        layer: args.layer,
        split: args.split,
        classes: args.classes,
        misclassified: args.misclassified,
        correct: args.correct,
        images: args
            .images
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        class: args.class,
        why_not: !args.no_why_not,
        check_images: args.check_images,
        deletion_fraction: args.deletion_fraction,
        seed: args.seed,
        alpha: args.alpha,
        overlay_size: args.overlay_size,
        batch_size: args.batch_size,
        device: args.device,
        ..defaults
    };
    if args.cache.is_none() && args.index.is_none() && params.images.is_empty() {
        anyhow::bail!("give --cache DIR (or --index DIR), or --image FILE");
    }
    let inputs = Inputs {
        checkpoint: args.checkpoint,
        cache: args.cache,
        index: args.index,
        evaluation: args.evaluation,
        masks: args.masks,
        root: std::env::current_dir().context("reading the current folder")?,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let s = birds_explain::explain(&inputs, &params, &args.out, RunOptions { progress: true })
        .with_context(|| format!("explaining {}", inputs.checkpoint.display()))?;
    outln!(
        "{} images drawn ({} overlays, {} why-not panels), layer `{}`, selection: {}",
        s.selection.drawn_images,
        s.selection.overlays,
        s.selection.why_not_panels,
        s.layer,
        s.selection.source
    );
    for w in &s.selection.weak_classes {
        let recall = w
            .recall
            .map(|r| format!("{:.0}%", r * 100.0))
            .unwrap_or_else(|| "-".into());
        outln!(
            "  {:>2}. {:<32} recall {recall} of {}",
            w.rank,
            w.label,
            w.images
        );
    }
    for (m, l) in &s.localisation {
        outln!(
            "localisation {m:<10} {} correct images with masks: energy in mask {:.1}% (mask area {:.1}%, {:.2}x), pointing game {:.1}% (chance {:.1}%)",
            l.images,
            l.energy_in_mask * 100.0,
            l.mask_area * 100.0,
            l.energy_ratio,
            l.pointing_game * 100.0,
            l.mask_area * 100.0
        );
    }
    for (m, d) in &s.deletion {
        if d.images > 0 {
            outln!(
                "deletion     {m:<10} {} images: confidence drop {:.3} (map's top {:.0}%) vs {:.3} (random pixels), {:.3} (random blobs); map beats random on {:.0}%",
                d.images,
                d.drop_cam,
                params.deletion_fraction * 100.0,
                d.drop_random,
                d.drop_blobs,
                d.cam_beats_random * 100.0
            );
        }
    }
    outln!(
        "{}",
        args.out.join(birds_explain::write::GALLERY_FILE).display()
    );
    Ok(())
}
