//! Schemas of the preprocess stage's outputs.
//!
//! Besides `preprocessed.parquet` the stage writes the pixel shards (`shard-NNNNN.safetensors`, one `U8` tensor
//! `images` of shape `[n, height, width, 3]` each), `cache.json` (the manifest: params, sizes, classes, shard list)
//! and `failures.json`; see `docs/preprocess.md`.

use super::ColumnType::*;
use super::{Schema, col};

/// `preprocessed.parquet`: where each cached image lives.
pub static PREPROCESSED: Schema = Schema {
    file: "preprocessed.parquet",
    row: "image decoded and resized into the cache (ingest rows with status `ok` that decoded again)",
    columns: &[
        col(
            "sample",
            U32,
            "position in the cache, 0..n in `images.parquet` order; the loader's sample id",
        ),
        col(
            "path",
            Str,
            "path relative to the data root, as in `images.parquet`",
        ),
        col("root", Str, "the data root, as in `images.parquet`"),
        col("split", Str, "`train`, `valid` or `test`"),
        col("label", Str, "normalised class label"),
        col("class_id", U32, "class index, as in `images.parquet`"),
        col(
            "shard",
            Str,
            "file name of the shard holding the pixels (`shard-00000.safetensors`)",
        ),
        col(
            "shard_index",
            U32,
            "position of the image in the shard's `images` tensor",
        ),
        col(
            "offset",
            U64,
            "byte offset of the image's first pixel from the start of the shard file",
        ),
        col("height", U32, "stored height in pixels (`size + margin`)"),
        col("width", U32, "stored width in pixels (`size + margin`)"),
        col("source_width", U32, "width of the decoded original"),
        col("source_height", U32, "height of the decoded original"),
    ],
};
