//! `birds imagenet IMG…`: top-5 ImageNet-1k classes from pretrained EfficientNet-Lite0.

use std::path::PathBuf;

use anyhow::Context;
use birds_core::Normalization;
use birds_models::{ImageClassifier, imagenet, input};
use serde::Serialize;
use tch::{Device, Kind};

use super::Runtime;

/// Arguments of `birds imagenet`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image files (JPEG, PNG, …).
    #[arg(required = true, value_name = "IMG")]
    images: Vec<PathBuf>,
    /// State dict with the ImageNet head (default: the weights `just setup` converted).
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,
    /// Input normalisation.
    #[arg(long, default_value_t = Normalization::default())]
    norm: Normalization,
    /// Input size (images are resized to SIZE×SIZE).
    #[arg(long, default_value_t = 224)]
    size: u32,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Prediction {
    image: String,
    top5: Vec<(i64, f32)>,
    bird: bool,
}

/// Classifies each image and prints its top-5 ImageNet ids with probabilities.
pub fn run(_rt: &Runtime, args: Args) -> anyhow::Result<()> {
    let weights = args
        .weights
        .unwrap_or_else(birds_core::paths::default_weights);
    let (_vs, model, _) = imagenet::load_lite0(&weights, Device::Cpu)
        .with_context(|| format!("loading weights {}", weights.display()))?;
    for path in &args.images {
        let img = input::load_rgb(path)?;
        let x = input::images_to_tensor(&[input::stretch_to_square(&img, args.size)], args.norm);
        let probs = tch::no_grad(|| model.logits(&x, false).softmax(-1, Kind::Float));
        let (p, idx) = probs.topk(5, -1, true, true);
        let p: Vec<f32> = p.flatten(0, -1).try_into()?;
        let idx: Vec<i64> = idx.flatten(0, -1).try_into()?;
        let pred = Prediction {
            image: path.display().to_string(),
            bird: imagenet::is_bird(idx[0]),
            top5: idx.into_iter().zip(p).collect(),
        };
        if args.json {
            outln!("{}", serde_json::to_string(&pred)?);
        } else {
            outln!("{}", pred.image);
            for (id, prob) in &pred.top5 {
                let tag = if imagenet::is_bird(*id) { "  bird" } else { "" };
                outln!("  imagenet:{id:<4} {prob:>7.4}{tag}");
            }
        }
    }
    Ok(())
}
