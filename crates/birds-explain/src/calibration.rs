//! A checkpoint's calibration as `birds predict` and explain apply it: the temperature of an evaluate output folder
//! (`calibration.json`, [`CalibrationFile`]) and its out-of-distribution detector (`ood.safetensors`,
//! [`OodDetector`]), used only with the checkpoint they were fitted on.

use std::path::{Path, PathBuf};

use birds_artifacts::evaluate::{CALIBRATION_FILE, CalibrationFile};
use birds_models::ood::{OOD_FILE, OodDetector};

use crate::{ExplainError, Result};

/// A checkpoint's calibration.
#[derive(Debug)]
pub struct Calibration {
    /// What `calibration.json` says.
    pub file: CalibrationFile,
    /// The detector, when evaluate fitted one.
    pub detector: Option<OodDetector>,
    /// The evaluate output folder it was read from.
    pub dir: PathBuf,
}

/// What the detector says of one image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct OodVerdict {
    /// The score (≈ 1 for a training image).
    pub score: f64,
    /// The threshold it is compared with.
    pub threshold: f64,
    /// `score > threshold`: the image is unlike the training images of every class.
    pub flagged: bool,
}

impl Calibration {
    /// Reads the calibration in `dir` (a `birds evaluate` output folder) and checks that it was fitted on the
    /// checkpoint in `checkpoint_dir`.
    pub fn load(dir: &Path, checkpoint_dir: &Path) -> Result<Self> {
        let bad = |reason: String| ExplainError::Input {
            path: dir.join(CALIBRATION_FILE),
            reason,
        };
        if !dir.join(CALIBRATION_FILE).is_file() {
            return Err(bad(
                "missing: not a `birds evaluate` output folder, or written by a birds without calibration; \
                 evaluate the checkpoint again"
                    .into(),
            ));
        }
        let file = CalibrationFile::read(dir).map_err(|e| bad(e.to_string()))?;
        let actual = birds_models::checkpoint::content_hash(checkpoint_dir)?;
        if file.checkpoint_blake3 != actual {
            return Err(bad(format!(
                "fitted on another checkpoint ({}), not on {}; evaluate this checkpoint to calibrate it",
                file.checkpoint,
                checkpoint_dir.display()
            )));
        }
        let detector = match &file.ood {
            Some(info) => Some(OodDetector::load(&dir.join(OOD_FILE), info.threshold)?),
            None => None,
        };
        Ok(Self {
            file,
            detector,
            dir: dir.to_path_buf(),
        })
    }

    /// The pipelines' evaluate folder beside a checkpoint (`<checkpoint>/../evaluate`: `artifacts/<pipeline>/
    /// train-fine-tune` and `…/evaluate`), when it holds a calibration of this checkpoint; one that does not fit is
    /// logged and skipped.
    pub fn beside(checkpoint_dir: &Path) -> Option<Self> {
        let dir = checkpoint_dir.parent()?.join("evaluate");
        if !dir.join(CALIBRATION_FILE).is_file() {
            return None;
        }
        match Self::load(&dir, checkpoint_dir) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::info!("not using the calibration beside the checkpoint: {e}");
                None
            }
        }
    }

    /// The fitted temperature (`None`: evaluate had no valid images to fit one).
    pub fn temperature(&self) -> Option<f64> {
        self.file.temperature
    }

    /// The detector's verdicts on embeddings `[N, C]`, or `None` without a detector.
    pub fn ood(&self, embeddings: &tch::Tensor) -> Result<Option<Vec<OodVerdict>>> {
        let Some(det) = &self.detector else {
            return Ok(None);
        };
        let verdicts = det
            .scores(embeddings)?
            .into_iter()
            .map(|score| OodVerdict {
                score,
                threshold: det.threshold,
                flagged: det.flags(score),
            })
            .collect();
        Ok(Some(verdicts))
    }
}
