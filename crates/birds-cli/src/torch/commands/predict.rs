//! `birds predict IMG…`: the top-5 species of each image under a trained checkpoint, optionally with a Grad-CAM
//! overlay of what the model looked at.
//!
//! Without `--checkpoint` the default pipeline's fine-tuned model is used: `artifacts/default/train-fine-tune`,
//! looked up from the current folder upwards (like `birds run` finds `pipelines/`). Images are framed as the
//! evaluation saw them (the checkpoint's `eval_view`: resized to the cache's stored side, the centred input-size
//! square cropped; without one, the shorter side resized to the input size), and the checkpoint's normalisation
//! applied.

use birds_models::DeviceExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use birds_explain::calibration::Calibration;
use birds_explain::cam::CamMethod;
use birds_explain::predict::{self, Guess, ImagePrediction, Predictor};
use birds_models::runtime::DeviceSpec;
use serde::Serialize;

use super::Runtime;

/// The checkpoint folder used without `--checkpoint`, relative to the project root.
pub const DEFAULT_CHECKPOINT: &str = "artifacts/default/train-fine-tune";

/// Arguments of `birds predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image files (JPEG, PNG, WebP, …).
    #[arg(required = true, value_name = "IMG")]
    images: Vec<PathBuf>,
    /// A `birds train` output folder (model.safetensors + checkpoint.json). Default: artifacts/default/train-fine-tune
    /// of the project the current folder is in (`just pipeline` makes it).
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Write a Grad-CAM overlay for the top-1 class to this PNG. With several images, `-1`, `-2`, … are added
    /// before the extension (cam.png → cam-1.png, cam-2.png).
    #[arg(long, value_name = "OUT.png")]
    cam: Option<PathBuf>,
    /// CAM method of the overlay: grad-cam, grad-cam++ or hirescam.
    #[arg(long, value_name = "METHOD", default_value = "grad-cam")]
    method: CamMethod,
    /// How many classes to list (at most the model's class count).
    #[arg(long, value_name = "K", default_value_t = 5)]
    top: usize,
    /// A `birds evaluate` output folder of this checkpoint: its temperature calibrates the probabilities and its
    /// out-of-distribution detector scores each image. Default: `../evaluate` beside the checkpoint (the pipelines'
    /// layout) when it was fitted on this checkpoint; without one the probabilities are marked uncalibrated.
    #[arg(long, value_name = "DIR")]
    calibration: Option<PathBuf>,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Print one JSON object per image instead of text.
    #[arg(long)]
    json: bool,
}

/// One line of `--json` output (docs/explain.md, "birds predict").
#[derive(Debug, Serialize)]
struct Prediction {
    image: String,
    top: Vec<Guess>,
    /// Whether `top`'s probabilities are temperature-scaled.
    calibrated: bool,
    /// The temperature (null: uncalibrated).
    temperature: Option<f64>,
    /// The out-of-distribution score (null without a detector).
    ood_score: Option<f64>,
    /// The detector's threshold.
    ood_threshold: Option<f64>,
    /// Whether the image is unlike the training images of every class (null without a detector).
    ood: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cam: Option<String>,
}

/// The warning printed under a flagged image.
pub const OOD_WARNING: &str = "this photo is unlike the training images of every class: the prediction above is \
                               probably meaningless";

/// Finds `artifacts/default/train-fine-tune` in `cwd` or one of its ancestors.
fn default_checkpoint(cwd: &Path) -> anyhow::Result<PathBuf> {
    for dir in cwd.ancestors() {
        let candidate = dir.join(DEFAULT_CHECKPOINT);
        if candidate
            .join(birds_models::checkpoint::META_FILE)
            .is_file()
        {
            return Ok(candidate);
        }
    }
    bail!(
        "no checkpoint given and no {DEFAULT_CHECKPOINT}/checkpoint.json in {} or above it: run `just pipeline` \
         first, or pass --checkpoint <a birds train output folder>",
        cwd.display()
    )
}

/// Classifies each image; prints its top classes (and writes a CAM overlay with `--cam`). Unreadable images are
/// reported by name and make the command fail after the others are done.
pub fn run(_rt: &Runtime, args: Args) -> anyhow::Result<()> {
    let method = args.method;
    let device = args
        .device
        .resolve()
        .with_context(|| format!("--device {}", args.device))?;
    let dir = match &args.checkpoint {
        Some(d) => d.clone(),
        None => default_checkpoint(&std::env::current_dir()?)?,
    };
    let calibration = match &args.calibration {
        Some(c) => Some(
            Calibration::load(c, &dir).with_context(|| format!("--calibration {}", c.display()))?,
        ),
        None => Calibration::beside(&dir),
    };
    let predictor = Predictor::load(&dir, device, args.top)
        .with_context(|| format!("loading the checkpoint {}", dir.display()))?
        .with_calibration(calibration);
    let meta = predictor.meta();
    tracing::info!(checkpoint = %dir.display(), model = %meta.architecture, classes = meta.classes.len(), "predict");
    let temperature = predictor.temperature();
    if !args.json {
        match (predictor.calibration(), temperature) {
            (Some(c), Some(t)) => outln!(
                "probabilities calibrated (temperature {t:.3}, from {})",
                c.dir.display()
            ),
            _ => outln!(
                "probabilities uncalibrated: no `birds evaluate` output of this checkpoint (give --calibration DIR)"
            ),
        }
    }

    let mut failures = Vec::new();
    let n = args.images.len();
    for (i, path) in args.images.iter().enumerate() {
        let view = match predictor.frame(path) {
            Ok(view) => view,
            Err(e) => {
                eprintln!("error: {e:#}");
                failures.push(path.display().to_string());
                continue;
            }
        };
        let ImagePrediction {
            view,
            top,
            cam,
            ood,
        } = predictor.predict_view(view, args.cam.as_ref().map(|_| method))?;
        let cam = match (&args.cam, cam) {
            (Some(out), Some(raw)) => {
                let out = predict::cam_path(out, i, n);
                predict::write_overlay(
                    &out,
                    &view,
                    &raw,
                    method,
                    &top,
                    temperature.is_some(),
                    ood,
                )?;
                Some(out.display().to_string())
            }
            _ => None,
        };
        let pred = Prediction {
            image: path.display().to_string(),
            top,
            calibrated: temperature.is_some(),
            temperature,
            ood_score: ood.map(|v| v.score),
            ood_threshold: ood.map(|v| v.threshold),
            ood: ood.map(|v| v.flagged),
            cam,
        };
        if args.json {
            outln!("{}", serde_json::to_string(&pred)?);
        } else {
            outln!("{}", pred.image);
            let mark = if pred.calibrated {
                ""
            } else {
                " (uncalibrated)"
            };
            for (rank, g) in pred.top.iter().enumerate() {
                outln!(
                    "  {}. {:<40} {:>6.2} %{mark}",
                    rank + 1,
                    g.label,
                    g.probability * 100.0
                );
            }
            if let Some(v) = ood {
                if v.flagged {
                    outln!(
                        "  warning: out-of-distribution score {:.2} > threshold {:.2}: {OOD_WARNING}",
                        v.score,
                        v.threshold
                    );
                } else {
                    outln!(
                        "  out-of-distribution score {:.2} (threshold {:.2}): like the training images",
                        v.score,
                        v.threshold
                    );
                }
            }
            if let Some(c) = &pred.cam {
                outln!("  {} overlay: {c}", method.as_str());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {n} image(s) could not be read: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_checkpoint_is_found_upwards_or_explained() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let ckpt = dir.path().join(DEFAULT_CHECKPOINT);
        std::fs::create_dir_all(&ckpt)?;
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep)?;
        let e = default_checkpoint(&deep)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("just pipeline") && e.contains("--checkpoint"),
            "{e}"
        );
        std::fs::write(ckpt.join("checkpoint.json"), "{}")?;
        assert_eq!(default_checkpoint(&deep)?, ckpt);
        Ok(())
    }
}
