//! Typed rows of the explain stage's `cams.parquet` (columns in [`birds_core::schema::explain`]) and their reader;
//! the figures of its `metrics.json` ([`LocalisationFigures`], [`DeletionSummary`]), which explain writes and the
//! report reads ([`ExplainMetrics`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

/// Localisation figures of one CAM method (`metrics.json` → `localisation`, `localisation_all`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalisationFigures {
    /// Maps counted.
    pub images: usize,
    /// Mean share of map energy inside the mask.
    pub energy_in_mask: f64,
    /// Mean mask area fraction: the energy share and pointing rate a map spread at random would get.
    pub mask_area: f64,
    /// `energy_in_mask / mask_area`.
    pub energy_ratio: f64,
    /// Share of maps whose peak lies inside the mask.
    pub pointing_game: f64,
    /// Share of maps with more energy in the mask than its area.
    pub above_chance: f64,
}

/// Deletion-test figures of one CAM method, mean drops over many images (`metrics.json` → `deletion`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeletionSummary {
    /// Images counted.
    pub images: usize,
    /// Mean probability before deletion.
    pub p_original: f64,
    /// Mean drop after deleting the map's top pixels.
    pub drop_cam: f64,
    /// Mean drop after deleting random pixels.
    pub drop_random: f64,
    /// Mean drop after deleting a random smooth map's top pixels.
    pub drop_blobs: f64,
    /// Fraction of images where the map's drop exceeds the random-pixel drop.
    pub cam_beats_random: f64,
    /// Fraction of images where the map's drop exceeds the random-blob drop.
    pub cam_beats_blobs: f64,
}

/// The parts of the explain stage's `metrics.json` other stages read (the file has more: selection, check counts,
/// definitions).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExplainMetrics {
    /// Localisation per method over correctly classified check images with a mask.
    #[serde(default)]
    pub localisation: BTreeMap<String, LocalisationFigures>,
    /// Deletion test per method over the check images.
    #[serde(default)]
    pub deletion: BTreeMap<String, DeletionSummary>,
    /// The explain params of the run.
    #[serde(default)]
    pub params: serde_json::Value,
}
