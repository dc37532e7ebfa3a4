//! Schemas of the diagnose stage's outputs (`uses: diagnose`, docs/diagnose.md): the label-issue finder and the
//! per-class learning curves, both from linear heads trained on the cached pretrained embeddings.

use super::ColumnType::*;
use super::{Schema, col, col_null};

/// `label_issues.parquet`: the training images whose given label confident learning finds suspect.
pub static LABEL_ISSUES: Schema = Schema {
    file: "label_issues.parquet",
    row: "suspect training image, most suspect first (lowest out-of-fold probability of its given label)",
    columns: &[
        col("rank", U32, "1 = most suspect"),
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
        col("given_id", U32, "class id of the label the image was given"),
        col("given_label", Str, "the label it was given"),
        col(
            "likely_id",
            U32,
            "the class the out-of-fold head finds most probable",
        ),
        col("likely_label", Str, "its label: the likely true class"),
        col(
            "p_given",
            F64,
            "out-of-fold probability of the given label (self-confidence)",
        ),
        col(
            "p_likely",
            F64,
            "out-of-fold probability of the likely class",
        ),
    ],
};

/// `class_diagnosis.parquet`: per class, its suspected label errors and its learning curve.
pub static CLASS_DIAGNOSIS: Schema = Schema {
    file: "class_diagnosis.parquet",
    row: "class of the data, in class-id order",
    columns: &[
        col("class_id", U32, "class id"),
        col("label", Str, "class label"),
        col("train_images", U32, "training images of the class"),
        col(
            "label_issues",
            U32,
            "of which suspected label errors (`label_issues.parquet`)",
        ),
        col_null(
            "issues_likely",
            Str,
            "the likely class most of its suspects go to (null without suspects)",
        ),
        col(
            "recall_25",
            F64,
            "out-of-fold recall of a head trained on 25 % of each class's training images (mean of the repeats)",
        ),
        col("recall_50", F64, "…on 50 %"),
        col(
            "recall_100",
            F64,
            "…on all of them (the label finder's head)",
        ),
        col(
            "gain",
            F64,
            "`recall_100 − recall_50`: what the second half of the images added",
        ),
        col(
            "curve",
            Str,
            "`rising` (gain ≥ `min_gain`: more images will likely help), `flat` (more of the same will not), or \
             `saturated` (recall_50 ≥ 0.98: nothing left to gain)",
        ),
    ],
};
