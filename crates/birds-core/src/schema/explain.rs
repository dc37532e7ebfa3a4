//! Schemas of the explain stage's outputs.
//!
//! Besides `cams.parquet` the stage writes the overlays (`overlays/…png`, `why_not/…png`), `gallery.md` and
//! `metrics.json` (localisation and deletion figures); see `docs/explain.md`.

use super::ColumnType::*;
use super::{Schema, col, col_null};

/// `cams.parquet`: one map per row.
pub static CAMS: Schema = Schema {
    file: "cams.parquet",
    row: "map: an image, a method and a target class (the predicted class; for a misclassified image also the \
          true class; optionally a named class)",
    columns: &[
        col(
            "image",
            Str,
            "the image: path relative to its data root (`test/MALLARD DUCK/1.jpg`), or the path given",
        ),
        col_null(
            "split",
            Str,
            "`train`, `valid` or `test` (null for images given by path)",
        ),
        col(
            "selection",
            Str,
            "why the image is here: `weak-misclassified`, `weak-correct`, `explicit` or `check` (the localisation/deletion sample)",
        ),
        col(
            "in_check",
            Bool,
            "whether the image is in the check sample that metrics.json's localisation and deletion figures average over",
        ),
        col_null("label", Str, "true class label (null when unknown)"),
        col("predicted", Str, "the model's top-1 label"),
        col(
            "predicted_prob",
            F64,
            "softmax probability of the top-1 label (temperature-scaled when the evaluation has one: `metrics.json` `temperature`)",
        ),
        col_null(
            "correct",
            Bool,
            "whether top-1 equals the true label (null when unknown)",
        ),
        col("method", Str, "`grad-cam`, `grad-cam++` or `hirescam`"),
        col(
            "layer",
            Str,
            "the explained layer: `features` (last feature map) or e.g. `blocks.11`",
        ),
        col(
            "target_kind",
            Str,
            "`predicted`, `true` or `class` (a class named by the user)",
        ),
        col("target", Str, "label of the explained class"),
        col(
            "target_id",
            U32,
            "index of the explained class in the model's classes",
        ),
        col(
            "target_prob",
            F64,
            "softmax probability of the explained class (temperature-scaled likewise)",
        ),
        col("target_logit", F64, "raw score that was differentiated"),
        col(
            "map_width",
            U32,
            "width of the raw map (the layer's resolution)",
        ),
        col("map_height", U32, "height of the raw map"),
        col(
            "raw_max",
            F64,
            "largest value of the raw map (before normalisation)",
        ),
        col(
            "peak_x",
            U32,
            "column of the map's peak in model-input pixels (map upsampled to the input)",
        ),
        col("peak_y", U32, "row of the map's peak in model-input pixels"),
        col(
            "mean",
            F64,
            "mean of the normalised map (0–1): how much of the image it covers",
        ),
        col(
            "top20_share",
            F64,
            "share of the map's energy in its top 20 % pixels (0.2 = flat, 1 = a point)",
        ),
        col(
            "entropy",
            F64,
            "entropy of the map as a distribution over pixels / ln(pixels) (1 = flat)",
        ),
        col_null(
            "energy_in_mask",
            F64,
            "fraction of the map's energy inside the ground-truth mask (null without a mask)",
        ),
        col_null(
            "mask_area",
            F64,
            "fraction of the image the mask covers: the chance level of energy_in_mask and pointing_hit",
        ),
        col_null(
            "pointing_hit",
            Bool,
            "whether the map's peak lies inside the mask",
        ),
        col_null(
            "drop_cam",
            F64,
            "deletion test: probability drop of the target after blurring the map's top 20 % pixels (predicted target only)",
        ),
        col_null(
            "drop_random",
            F64,
            "probability drop after blurring 20 % random pixels",
        ),
        col_null(
            "drop_blobs",
            F64,
            "probability drop after blurring the top 20 % of a random smooth map (same granularity as the map)",
        ),
        col_null(
            "overlay",
            Str,
            "the overlay PNG, relative to the stage folder (null for `check` rows, which are not drawn)",
        ),
    ],
};
