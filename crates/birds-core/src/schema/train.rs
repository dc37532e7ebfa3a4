//! Schemas of the train stage's outputs (and of the comparison of several training runs).
//!
//! Besides these Parquet files a training run writes `model.safetensors` + `checkpoint.json` (the checkpoint),
//! `summary.json`, `curves.png` and, while running, `state/` (for `--resume`); see `docs/train.md`.

use super::ColumnType::*;
use super::{Schema, col};

/// File name of a checkpoint's metadata (architecture, classes, normalisation, params, best metrics, libtorch
/// versions); `birds_models::checkpoint::CheckpointMeta` is its type.
pub const CHECKPOINT_META_FILE: &str = "checkpoint.json";

/// `history.parquet`: the learning curves.
pub static HISTORY: Schema = Schema {
    file: "history.parquet",
    row: "pass over one split in one epoch (a `train` row and a `valid` row per epoch)",
    columns: &[
        col(
            "epoch",
            U32,
            "epoch number, 1-based, counted over the whole run",
        ),
        col("split", Str, "`train` (the optimised pass) or `valid`"),
        col(
            "phase",
            Str,
            "`head-warmup` (fine-tune, backbone frozen), `fine-tune`, `feature-extract` or `scratch`",
        ),
        col(
            "loss",
            F64,
            "mean cross-entropy (train: with label smoothing, dropout on; valid: plain)",
        ),
        col("accuracy", F64, "top-1 accuracy, 0–1"),
        col(
            "lr",
            F64,
            "learning rate of the head at the epoch's last step",
        ),
        col(
            "images_per_s",
            F64,
            "images (feature-extract: embeddings) processed per second in this pass",
        ),
        col("seconds", F64, "wall time of this pass"),
    ],
};

/// `test_predictions.parquet`: the selected checkpoint's top-1 prediction for every test image, so that two runs on
/// the same test images can be compared image by image (the report's McNemar test of fine-tune vs feature-extract).
pub static TEST_PREDICTIONS: Schema = Schema {
    file: "test_predictions.parquet",
    row: "test image, in the data's test order (the preprocess cache's)",
    columns: &[
        col("index", U32, "position in the test split, 0-based"),
        col("class_id", U32, "true class"),
        col(
            "predicted",
            U32,
            "top-1 class of the selected checkpoint (evaluation mode, no test-time augmentation)",
        ),
    ],
};

/// `comparison.parquet`: one row per training run, for objective 1 (pretrained vs from scratch).
pub static COMPARISON: Schema = Schema {
    file: "comparison.parquet",
    row: "training run (the `summary.json` of one train output folder)",
    columns: &[
        col("run", Str, "the run's folder name"),
        col("mode", Str, "`feature-extract`, `fine-tune` or `scratch`"),
        col(
            "model",
            Str,
            "architecture, e.g. `efficientnet-lite0`, `small-cnn(batch-norm, width 32)`",
        ),
        col("epochs", U32, "epochs run"),
        col(
            "wall_time_s",
            F64,
            "wall time of the whole run (feature extraction included)",
        ),
        col("best_epoch", U32, "epoch of the selected checkpoint"),
        col(
            "best_val_accuracy",
            F64,
            "validation top-1 of the selected checkpoint, 0–1",
        ),
        col(
            "best_val_loss",
            F64,
            "validation cross-entropy of the selected checkpoint",
        ),
        super::col_null(
            "test_accuracy",
            F64,
            "test top-1 of the selected checkpoint, 0–1 (null without a test split)",
        ),
    ],
};
