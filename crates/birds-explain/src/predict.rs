//! Prediction on image files under a trained checkpoint (`birds predict`): the image framed as evaluation saw it,
//! the top classes, and optionally the Grad-CAM overlay of the top-1 class with its caption.
//!
//! The CLI only parses flags and prints; everything here is a library call, so other front ends get the same
//! framing, figures and overlay.

use std::path::{Path, PathBuf};

use birds_models::{Checkpoint, CheckpointMeta};
use image::RgbImage;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::calibration::{Calibration, OodVerdict};
use crate::cam::{self, CamMethod, LastFeatureMap, Request};
use crate::render::{self, GREY, Heatmap, WHITE};
use crate::source::{self, ImageSource};
use crate::{ExplainError, Result};

/// Side in pixels of a prediction overlay (the model's view upsampled).
pub const OVERLAY_SIDE: u32 = 320;

/// One of an image's top classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guess {
    /// Class id (logit index).
    pub class_id: i64,
    /// Its label.
    pub label: String,
    /// Softmax probability (of the logits divided by the calibration's temperature, when there is one).
    pub probability: f64,
}

/// The top classes of one image and, when asked for, its raw CAM of the top-1 class.
#[derive(Debug)]
pub struct ImagePrediction {
    /// The image as the model saw it (framed at the input size).
    pub view: RgbImage,
    /// The top classes, most probable first.
    pub top: Vec<Guess>,
    /// The CAM of the top-1 class (`[h, w]` on the model's device), when a method was given.
    pub cam: Option<Tensor>,
    /// The out-of-distribution detector's verdict, when the calibration has one.
    pub ood: Option<OodVerdict>,
}

/// A loaded checkpoint ready to classify image files.
pub struct Predictor {
    ckpt: Checkpoint,
    device: Device,
    top: usize,
    calibration: Option<Calibration>,
}

impl Predictor {
    /// Loads the checkpoint folder `dir` on `device`; `top` (clamped to 1…classes) is how many classes to list.
    pub fn load(dir: &Path, device: Device, top: usize) -> Result<Predictor> {
        let ckpt = Checkpoint::load(dir, device)?;
        let top = top.clamp(1, ckpt.meta.classes.len().max(1));
        Ok(Predictor {
            ckpt,
            device,
            top,
            calibration: None,
        })
    }

    /// Applies `calibration` (its temperature to every probability, its detector to every image).
    pub fn with_calibration(mut self, calibration: Option<Calibration>) -> Self {
        self.calibration = calibration;
        self
    }

    /// The calibration in use, if any.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// The temperature the probabilities are scaled by (`None`: uncalibrated).
    pub fn temperature(&self) -> Option<f64> {
        self.calibration.as_ref().and_then(Calibration::temperature)
    }

    /// The checkpoint's metadata.
    pub fn meta(&self) -> &CheckpointMeta {
        &self.ckpt.meta
    }

    /// Decodes and frames one image as the model saw images in evaluation: the checkpoint's recorded eval view
    /// (resize to the cache's stored side, centred crop), else the shorter side resized to the input size and
    /// centre-cropped.
    pub fn frame(&self, path: &Path) -> Result<RgbImage> {
        let source = ImageSource::new(None, source::file_geometry(&self.ckpt.meta)?, None);
        source.load_file(path)
    }

    /// Classifies the image file at `path`; with `method`, also computes its CAM for the top-1 class.
    pub fn predict(&self, path: &Path, method: Option<CamMethod>) -> Result<ImagePrediction> {
        self.predict_view(self.frame(path)?, method)
    }

    /// Classifies an image already framed by [`Predictor::frame`]; with `method`, also its top-1 CAM.
    pub fn predict_view(
        &self,
        view: RgbImage,
        method: Option<CamMethod>,
    ) -> Result<ImagePrediction> {
        let meta = &self.ckpt.meta;
        let x =
            birds_models::input::images_to_tensor(std::slice::from_ref(&view), meta.normalization)
                .to_device(self.device);
        let t = self.temperature().unwrap_or(1.0);
        let model = &*self.ckpt.model;
        // One forward pass: with a CAM method its gradients' pass gives the logits and the last feature map too.
        let (embedding, logits, cam) = match method {
            Some(method) => {
                let g = cam::gradients(&LastFeatureMap(model), &x, &Request::predicted(1))?;
                let embedding = tch::no_grad(|| model.pool(&g.activations.detach()));
                (embedding, g.logits.detach(), Some(g.cam(method).get(0)))
            }
            None => tch::no_grad(|| {
                let embedding = model.embed(&x, false);
                let logits = model.classify_embedding(&embedding, false);
                (embedding, logits, None)
            }),
        };
        let probs = logits.f_div_scalar(t)?.f_softmax(-1, Kind::Float)?;
        let ood = match &self.calibration {
            Some(c) => c.ood(&embedding)?.and_then(|v| v.first().copied()),
            None => None,
        };
        let (p, idx) = probs
            .to_device(Device::Cpu)
            .topk(self.top as i64, -1, true, true);
        let p: Vec<f32> = p.flatten(0, -1).try_into()?;
        let idx: Vec<i64> = idx.flatten(0, -1).try_into()?;
        let top = idx
            .iter()
            .zip(&p)
            .map(|(&c, &prob)| Guess {
                class_id: c,
                label: meta.classes.get(c as usize).cloned().unwrap_or_default(),
                probability: f64::from(prob),
            })
            .collect();
        Ok(ImagePrediction {
            view,
            top,
            cam,
            ood,
        })
    }
}

/// The CAM overlay path of image `i` of `n` given `--cam out`: `out` itself for one image, else `-1`, `-2`, …
/// before the extension (cam.png → cam-1.png, cam-2.png).
pub fn cam_path(out: &Path, i: usize, n: usize) -> PathBuf {
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

/// How a probability is shown: two decimals, then ` (UNCALIBRATED)` when no temperature was fitted.
pub fn fmt_probability(p: f64, calibrated: bool) -> String {
    if calibrated {
        format!("{p:.2}")
    } else {
        format!("{p:.2} (UNCALIBRATED)")
    }
}

/// The overlay of a prediction: the CAM over the model's view (upsampled to [`OVERLAY_SIDE`]), its peak marked,
/// and a caption with the top two classes (their probabilities marked uncalibrated unless `calibrated`), the
/// method, and the out-of-distribution warning when the image is flagged.
pub fn overlay(
    view: &RgbImage,
    raw: &Tensor,
    method: CamMethod,
    top: &[Guess],
    calibrated: bool,
    ood: Option<OodVerdict>,
) -> Result<RgbImage> {
    let side = OVERLAY_SIDE;
    let base = image::imageops::resize(view, side, side, image::imageops::FilterType::Triangle);
    let map = Heatmap::from_cam(&raw.to_device(Device::Cpu), side, side)?;
    let mut heat = render::overlay(&base, &map, 0.5)?;
    let (px, py) = map.peak();
    render::mark_peak(&mut heat, px, py);
    let mut lines = Vec::new();
    if let Some(best) = top.first() {
        lines.push((
            format!(
                "PRED: {} {}",
                best.label,
                fmt_probability(best.probability, calibrated)
            ),
            WHITE,
        ));
    }
    if let Some(second) = top.get(1) {
        lines.push((
            format!(
                "2ND: {} {}",
                second.label,
                fmt_probability(second.probability, calibrated)
            ),
            GREY,
        ));
    }
    if let Some(v) = ood.filter(|v| v.flagged) {
        lines.push((
            format!(
                "UNLIKE EVERY TRAINING CLASS (OOD {:.1} > {:.1})",
                v.score, v.threshold
            ),
            render::RED,
        ));
    }
    lines.push((
        format!("{} FOR PREDICTED CLASS", method.as_str().to_uppercase()),
        GREY,
    ));
    Ok(render::with_caption(&heat, &lines))
}

/// Writes [`overlay`] as a PNG at `out` (parent folders created, temp file + rename).
pub fn write_overlay(
    out: &Path,
    view: &RgbImage,
    raw: &Tensor,
    method: CamMethod,
    top: &[Guess],
    calibrated: bool,
    ood: Option<OodVerdict>,
) -> Result<()> {
    let drawn = overlay(view, raw, method, top, calibrated, ood)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ExplainError::Input {
            path: parent.to_path_buf(),
            reason: format!("cannot create the folder: {e}"),
        })?;
    }
    birds_core::atomic::write_with(out, |tmp| -> Result<()> {
        drawn
            .save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| ExplainError::Input {
                path: out.to_path_buf(),
                reason: format!("cannot write the PNG: {e}"),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cam_paths_number_several_images() {
        let out = Path::new("out/cam.png");
        assert_eq!(cam_path(out, 0, 1), PathBuf::from("out/cam.png"));
        assert_eq!(cam_path(out, 1, 3), PathBuf::from("out/cam-2.png"));
        assert_eq!(cam_path(Path::new("x"), 0, 2), PathBuf::from("x-1.png"));
    }
}
