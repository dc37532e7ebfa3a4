//! Typed rows of the explain stage's `cams.parquet` (columns in [`birds_core::schema::explain`]) and their reader.

use std::path::Path;

use crate::{Frame, Result};

/// A row of `cams.parquet` (the columns downstream readers use; the file has a few more).
#[derive(Debug, Clone)]
pub struct CamRow {
    /// Image path as recorded.
    pub image: String,
    /// Why the image was selected.
    pub selection: String,
    /// Whether the image is in the check sample (localisation and deletion figures).
    pub in_check: bool,
    /// True label.
    pub label: Option<String>,
    /// Top-1 label.
    pub predicted: String,
    /// Its probability.
    pub predicted_prob: f64,
    /// Whether top-1 is right.
    pub correct: Option<bool>,
    /// CAM method.
    pub method: String,
    /// `predicted`, `true` or `class`.
    pub target_kind: String,
    /// Explained class.
    pub target: String,
    /// Its probability.
    pub target_prob: f64,
    /// Energy inside the ground-truth mask.
    pub energy_in_mask: Option<f64>,
    /// Mask area fraction.
    pub mask_area: Option<f64>,
    /// Pointing game hit.
    pub pointing_hit: Option<bool>,
    /// Deletion test: drop with CAM pixels.
    pub drop_cam: Option<f64>,
    /// Deletion test: drop with random pixels.
    pub drop_random: Option<f64>,
    /// Overlay PNG relative to the explain folder.
    pub overlay: Option<String>,
}

/// Reads `cams.parquet` (extra columns are ignored; a missing or mistyped one is an error naming it).
pub fn read_cams(path: &Path) -> Result<Vec<CamRow>> {
    let f = Frame::read(path)?;
    let (image, selection, in_check, label) = (
        f.str_req("image")?,
        f.str_req("selection")?,
        f.bool("in_check")?,
        f.str("label")?,
    );
    let (predicted, predicted_prob, correct) = (
        f.str_req("predicted")?,
        f.f64_or_nan("predicted_prob")?,
        f.bool("correct")?,
    );
    let (method, kind, target, target_prob) = (
        f.str_req("method")?,
        f.str_req("target_kind")?,
        f.str_req("target")?,
        f.f64_or_nan("target_prob")?,
    );
    let (energy, area, hit) = (
        f.f64("energy_in_mask")?,
        f.f64("mask_area")?,
        f.bool("pointing_hit")?,
    );
    let (drop_cam, drop_random, overlay) =
        (f.f64("drop_cam")?, f.f64("drop_random")?, f.str("overlay")?);
    Ok((0..f.height())
        .map(|i| CamRow {
            image: image[i].clone(),
            selection: selection[i].clone(),
            in_check: in_check[i].unwrap_or(false),
            label: label[i].clone(),
            predicted: predicted[i].clone(),
            predicted_prob: predicted_prob[i],
            correct: correct[i],
            method: method[i].clone(),
            target_kind: kind[i].clone(),
            target: target[i].clone(),
            target_prob: target_prob[i],
            energy_in_mask: energy[i],
            mask_area: area[i],
            pointing_hit: hit[i],
            drop_cam: drop_cam[i],
            drop_random: drop_random[i],
            overlay: overlay[i].clone(),
        })
        .collect())
}
