//! Schemas of the ingest stage's outputs.

use super::ColumnType::*;
use super::{Schema, col, col_null};

/// `images.parquet`: the dataset index every later stage reads.
pub static IMAGES: Schema = Schema {
    file: "images.parquet",
    row: "image file found under the data root (decodable or not)",
    columns: &[
        col(
            "path",
            Str,
            "path relative to the data root, `/`-separated (e.g. `train/MALLARD DUCK/001.jpg`)",
        ),
        col(
            "root",
            Str,
            "the data root as an absolute path; `root/path` opens the file",
        ),
        col("split", Str, "`train`, `valid` or `test`"),
        col(
            "label",
            Str,
            "class label: the label folder's name in Unicode NFC with whitespace collapsed, trimmed and upper-cased (as spelled on disk when `normalize_labels` is off)",
        ),
        col(
            "class_id",
            U32,
            "index of `label` in the sorted list of normalised labels",
        ),
        col_null("width", U32, "pixel width (null when undecodable)"),
        col_null("height", U32, "pixel height (null when undecodable)"),
        col_null(
            "color_type",
            Str,
            "colour type as stored, e.g. `Rgb8`, `L8`, `Rgba8`, `Rgb16`, `Cmyk8` (4-component JPEG); later stages convert to RGB",
        ),
        col_null(
            "format",
            Str,
            "detected format from content: `jpeg`, `png`, …",
        ),
        col("file_bytes", U64, "file size in bytes"),
        col_null("blake3", Str, "BLAKE3 hash of the file bytes, hex"),
        col_null(
            "phash",
            U64,
            "64-bit perceptual hash (DCT pHash) of the decoded image",
        ),
        col(
            "status",
            Str,
            "`ok` when the image decodes fully (a JPEG must also reach its end-of-image marker), else `error`",
        ),
        col_null(
            "error",
            Str,
            "why the file is unusable (null when `status` is `ok`)",
        ),
        col_null(
            "duplicate_group",
            U32,
            "the file's duplicate group (`duplicate_groups[].group` in `report.json`): byte-identical files and files within `near_duplicate_distance` pHash bits, joined transitively; null when the file has no duplicate",
        ),
    ],
};

/// `classes.parquet`: one row per class.
pub static CLASSES: Schema = Schema {
    file: "classes.parquet",
    row: "class",
    columns: &[
        col(
            "class_id",
            U32,
            "stable id: index in the sorted normalised labels",
        ),
        col("label", Str, "normalised label"),
        col_null("scientific_name", Str, "from `birds.csv` when present"),
        col("train", U32, "decodable images in train"),
        col("valid", U32, "decodable images in valid"),
        col("test", U32, "decodable images in test"),
    ],
};
