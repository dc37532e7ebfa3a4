//! `birds predict IMG…`: the top-5 species of each image under a trained checkpoint, optionally with a Grad-CAM
//! overlay of what the model looked at.
//!
//! Without `--checkpoint` the default pipeline's fine-tuned model is used: `artifacts/default/train-fine-tune`,
//! looked up from the current folder upwards (like `birds run` finds `pipelines/`). Images are framed as the
//! evaluation saw them (the checkpoint's `eval_view`: resized to the cache's stored side, the centred input-size
//! square cropped; without one, the shorter side resized to the input size), and the checkpoint's normalisation
//! applied.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use birds_explain::cam::{self, CamMethod, LastFeatureMap, Request};
use birds_explain::render::{self, GREY, Heatmap, WHITE};
use birds_explain::source::{self, ImageSource};
use birds_models::runtime::DeviceSpec;
use birds_models::{Checkpoint, CheckpointMeta};
use image::RgbImage;
use serde::Serialize;
use tch::{Kind, Tensor};

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
    method: String,
    /// How many classes to list (at most the model's class count).
    #[arg(long, value_name = "K", default_value_t = 5)]
    top: usize,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Print one JSON object per image instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Guess {
    class_id: i64,
    label: String,
    probability: f64,
}

#[derive(Debug, Serialize)]
struct Prediction {
    image: String,
    top: Vec<Guess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cam: Option<String>,
}

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

/// The CAM overlay path of image `i` of `n`.
fn cam_path(out: &Path, i: usize, n: usize) -> PathBuf {
    if n == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cam".into());
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "png".into());
    out.with_file_name(format!("{stem}-{}.{ext}", i + 1))
}

/// Decodes and frames one image as the model saw images in evaluation: the checkpoint's recorded eval view (resize
/// to the cache's stored side, centred crop), else the shorter side resized to the input size and centre-cropped.
fn prepare(path: &Path, meta: &CheckpointMeta) -> anyhow::Result<RgbImage> {
    let source = ImageSource::new(None, source::file_geometry(meta)?, None);
    Ok(source.load_file(path)?)
}

/// Classifies each image; prints its top classes (and writes a CAM overlay with `--cam`). Unreadable images are
/// reported by name and make the command fail after the others are done.
pub fn run(_rt: &Runtime, args: Args) -> anyhow::Result<()> {
    let method: CamMethod = args.method.parse()?;
    let device = args
        .device
        .parse::<DeviceSpec>()
        .and_then(DeviceSpec::resolve)
        .with_context(|| format!("--device {}", args.device))?;
    let dir = match &args.checkpoint {
        Some(d) => d.clone(),
        None => default_checkpoint(&std::env::current_dir()?)?,
    };
    let ckpt = Checkpoint::load(&dir, device)
        .with_context(|| format!("loading the checkpoint {}", dir.display()))?;
    let meta = &ckpt.meta;
    let k = args.top.clamp(1, meta.classes.len());
    tracing::info!(checkpoint = %dir.display(), model = %meta.architecture, classes = meta.classes.len(), "predict");

    let mut failures = Vec::new();
    let n = args.images.len();
    for (i, path) in args.images.iter().enumerate() {
        let img = match prepare(path, meta) {
            Ok(img) => img,
            Err(e) => {
                eprintln!("error: {e:#}");
                failures.push(path.display().to_string());
                continue;
            }
        };
        let x =
            birds_models::input::images_to_tensor(std::slice::from_ref(&img), meta.normalization)
                .to_device(device);
        let (probs, cam_raw) = if args.cam.is_some() {
            let g = cam::gradients(&LastFeatureMap(&*ckpt.model), &x, &Request::predicted(1))?;
            (g.probabilities(), Some(g.cam(method).get(0)))
        } else {
            let p = tch::no_grad(|| ckpt.model.logits(&x, false).softmax(-1, Kind::Float));
            (p, None)
        };
        let (p, idx) = probs
            .to_device(tch::Device::Cpu)
            .topk(k as i64, -1, true, true);
        let p: Vec<f32> = p.flatten(0, -1).try_into()?;
        let idx: Vec<i64> = idx.flatten(0, -1).try_into()?;
        let top: Vec<Guess> = idx
            .iter()
            .zip(&p)
            .map(|(&c, &prob)| Guess {
                class_id: c,
                label: meta.classes.get(c as usize).cloned().unwrap_or_default(),
                probability: f64::from(prob),
            })
            .collect();
        let cam = match (&args.cam, cam_raw) {
            (Some(out), Some(raw)) => {
                let out = cam_path(out, i, n);
                write_overlay(&out, &img, &raw, method, &top)?;
                Some(out.display().to_string())
            }
            _ => None,
        };
        let pred = Prediction {
            image: path.display().to_string(),
            top,
            cam,
        };
        if args.json {
            outln!("{}", serde_json::to_string(&pred)?);
        } else {
            outln!("{}", pred.image);
            for (rank, g) in pred.top.iter().enumerate() {
                outln!(
                    "  {}. {:<40} {:>6.2} %",
                    rank + 1,
                    g.label,
                    g.probability * 100.0
                );
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

/// Draws the CAM over the model's view of the image (upsampled to 320 px) with a caption, and writes a PNG.
fn write_overlay(
    out: &Path,
    img: &RgbImage,
    raw: &Tensor,
    method: CamMethod,
    top: &[Guess],
) -> anyhow::Result<()> {
    let side = 320;
    let base = image::imageops::resize(img, side, side, image::imageops::FilterType::Triangle);
    let map = Heatmap::from_cam(&raw.to_device(tch::Device::Cpu), side, side)?;
    let mut heat = render::overlay(&base, &map, 0.5)?;
    let (px, py) = map.peak();
    render::mark_peak(&mut heat, px, py);
    let mut lines = Vec::new();
    if let Some(best) = top.first() {
        lines.push((
            format!("PRED: {} {:.2}", best.label, best.probability),
            WHITE,
        ));
    }
    if let Some(second) = top.get(1) {
        lines.push((
            format!("2ND: {} {:.2}", second.label, second.probability),
            GREY,
        ));
    }
    lines.push((
        format!("{} FOR PREDICTED CLASS", method.as_str().to_uppercase()),
        GREY,
    ));
    let drawn = render::with_caption(&heat, &lines);
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    birds_core::atomic::write_with(out, |tmp| -> anyhow::Result<()> {
        drawn
            .save_with_format(tmp, image::ImageFormat::Png)
            .with_context(|| format!("writing {}", out.display()))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cam_paths_number_several_images() {
        let out = Path::new("out/cam.png");
        assert_eq!(cam_path(out, 0, 1), PathBuf::from("out/cam.png"));
        assert_eq!(cam_path(out, 1, 3), PathBuf::from("out/cam-2.png"));
    }

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
