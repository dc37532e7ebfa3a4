//! Schemas of the evaluate stage's outputs.
//!
//! Besides these Parquet files the stage writes `summary.json`, `per_class.csv` and `per_class.md`,
//! `most_confused.md`, `needs_more_training.md`, `confusion.png` and `top_losses.png`; see `docs/evaluate.md`.
//! Every figure is computed over the images of the evaluated splits together (default `valid` and `test`).

use super::ColumnType::*;
use super::{Schema, col, col_null};

/// `predictions.parquet`: what the model said about each evaluated image.
pub static PREDICTIONS: Schema = Schema {
    file: "predictions.parquet",
    row: "evaluated image, in cache order",
    columns: &[
        col(
            "sample",
            U32,
            "the image's sample id in the preprocess cache",
        ),
        col(
            "path",
            Str,
            "path relative to the data root, as in `images.parquet`",
        ),
        col("root", Str, "the data root; `root/path` opens the original"),
        col("split", Str, "`train`, `valid` or `test`"),
        col("true_id", U32, "class id of the true label"),
        col("true_label", Str, "true class label"),
        col(
            "pred_id",
            U32,
            "predicted class id (highest probability; ties to the lowest id)",
        ),
        col("pred_label", Str, "predicted class label"),
        col(
            "confidence",
            F64,
            "probability of the predicted class (temperature-scaled when `calibration.json` has a temperature)",
        ),
        col(
            "prob_true",
            F64,
            "probability the model gives the true class",
        ),
        col(
            "top5_ids",
            ListU32,
            "the 5 most probable class ids, most probable first (ties: lowest id first)",
        ),
        col("top5_labels", ListStr, "labels of `top5_ids`"),
        col("top5_probs", ListF32, "probabilities of `top5_ids`"),
        col(
            "loss",
            F64,
            "cross-entropy `−ln prob_true` (probability floored at 1e-12)",
        ),
        col("correct", Bool, "whether `pred_id == true_id`"),
        col_null(
            "ood_score",
            F64,
            "out-of-distribution score: squared Mahalanobis distance of the embedding to the nearest class mean \
             of the training images, per channel (≈ 1 for a training image; null without the detector)",
        ),
        col_null(
            "ood",
            Bool,
            "whether `ood_score` is above the detector's threshold (`calibration.json`): the image is unlike \
             the training images of every class",
        ),
    ],
};

/// `per_class.parquet` (also written as `per_class.csv` and `per_class.md`): one row per class of the model.
pub static PER_CLASS: Schema = Schema {
    file: "per_class.parquet",
    row: "class of the model, in class-id order (classes without evaluated images included)",
    columns: &[
        col("class_id", U32, "class id (the model's output index)"),
        col("label", Str, "class label"),
        col(
            "train_images",
            U32,
            "training images of the class (`classes.parquet` when the index is given, else the cache)",
        ),
        col("valid_images", U32, "validation images in the cache"),
        col("test_images", U32, "test images in the cache"),
        col(
            "support",
            U32,
            "evaluated images of the class (the evaluated splits together)",
        ),
        col("predicted", U32, "evaluated images predicted as the class"),
        col(
            "correct",
            U32,
            "evaluated images of the class predicted correctly",
        ),
        col(
            "precision",
            F64,
            "`correct / predicted`, 0 when nothing was predicted as the class",
        ),
        col("recall", F64, "`correct / support`, 0 without support"),
        col(
            "f1",
            F64,
            "harmonic mean of precision and recall, 0 when both are 0",
        ),
        col(
            "top5_recall",
            F64,
            "share of the class's images with the true class in the top 5, 0 without support",
        ),
        col_null(
            "mean_confidence",
            F64,
            "mean top-1 probability over the class's images (null without support)",
        ),
        col_null(
            "calibration_gap",
            F64,
            "`mean_confidence − recall`; positive = over-confident (null without support)",
        ),
        col_null(
            "recall_lower",
            F64,
            "Wilson 95 % lower bound of the recall (null without support)",
        ),
        col_null(
            "most_confused_with",
            Str,
            "the class most of its misclassified images went to (null when none was misclassified)",
        ),
        col(
            "most_confused_count",
            U32,
            "how many went to `most_confused_with` (0 when none)",
        ),
    ],
};

/// `confusion.parquet`: the confusion matrix in long form.
pub static CONFUSION: Schema = Schema {
    file: "confusion.parquet",
    row: "non-zero cell of the confusion matrix (true class, predicted class), row-major order",
    columns: &[
        col("true_id", U32, "true class id"),
        col("true_label", Str, "true class label"),
        col("pred_id", U32, "predicted class id"),
        col("pred_label", Str, "predicted class label"),
        col(
            "count",
            U32,
            "evaluated images with this true and predicted class (the counts sum to the number of predictions)",
        ),
    ],
};

/// `most_confused.parquet` (also `most_confused.md`): the off-diagonal cells, largest first.
pub static MOST_CONFUSED: Schema = Schema {
    file: "most_confused.parquet",
    row: "pair (true class → predicted class) with at least `min_confused` errors, count descending",
    columns: &[
        col("true_id", U32, "true class id"),
        col("true_label", Str, "true class label"),
        col("pred_id", U32, "predicted class id"),
        col("pred_label", Str, "predicted class label"),
        col(
            "count",
            U32,
            "images of the true class predicted as the other",
        ),
        col("share", F64, "`count` / evaluated images of the true class"),
    ],
};

/// `needs_more_training.parquet` (also `needs_more_training.md`): the classes ranked by how likely they are weak.
pub static NEEDS_MORE_TRAINING: Schema = Schema {
    file: "needs_more_training.parquet",
    row: "class, ordered by the Wilson lower bound of its recall, lowest first (unevaluated classes last)",
    columns: &[
        col("rank", U32, "1 = most in need of training"),
        col("class_id", U32, "class id"),
        col("label", Str, "class label"),
        col("evaluated", U32, "evaluated images of the class"),
        col("correct", U32, "of which predicted correctly"),
        col("recall", F64, "`correct / evaluated` (0 when none)"),
        col_null(
            "recall_lower",
            F64,
            "Wilson 95 % lower bound of the recall (null when no image was evaluated)",
        ),
        col("train_images", U32, "training images of the class"),
        col_null("main_confuser", Str, "the class most of its errors went to"),
        col(
            "main_confuser_count",
            U32,
            "errors that went to `main_confuser` (0 when none)",
        ),
        col("next_step", Str, "what to do, in plain words"),
        col_null(
            "label_issues",
            U32,
            "suspected label errors among its training images (`diagnose` stage; null without its input)",
        ),
        col_null(
            "curve",
            Str,
            "its learning curve (`diagnose`): `rising`, `flat` or `saturated` (null without the input)",
        ),
    ],
};
