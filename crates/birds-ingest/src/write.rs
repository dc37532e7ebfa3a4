//! Writing `images.parquet` and `classes.parquet` with the columns of `birds_core::schema::ingest`, through
//! [`birds_artifacts`]' schema-checked writer.

use std::path::Path;

use birds_artifacts::FrameBuilder;
use birds_core::schema::ingest::{CLASSES, IMAGES};

use crate::error::Result;
use crate::ingest::Row;
use crate::report::ClassCount;

/// Writes the index, one row per file, rows in path order.
pub(crate) fn write_images(path: &Path, root: &str, rows: &[Row]) -> Result<()> {
    let n = rows.len();
    let strs = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    FrameBuilder::new(&IMAGES, n)
        .set("path", strs(|r| &r.rel))
        .set("root", vec![root; n])
        .set("split", strs(|r| r.split.as_str()))
        .set("label", strs(|r| &r.label))
        .set(
            "class_id",
            rows.iter().map(|r| r.class_id).collect::<Vec<u32>>(),
        )
        .set(
            "width",
            rows.iter().map(|r| r.facts.width).collect::<Vec<_>>(),
        )
        .set(
            "height",
            rows.iter().map(|r| r.facts.height).collect::<Vec<_>>(),
        )
        .set(
            "color_type",
            rows.iter()
                .map(|r| r.facts.color_type.as_deref())
                .collect::<Vec<_>>(),
        )
        .set(
            "format",
            rows.iter()
                .map(|r| r.facts.format.as_deref())
                .collect::<Vec<_>>(),
        )
        .set(
            "file_bytes",
            rows.iter()
                .map(|r| r.facts.file_bytes)
                .collect::<Vec<u64>>(),
        )
        .set(
            "blake3",
            rows.iter()
                .map(|r| r.facts.blake3.as_deref())
                .collect::<Vec<_>>(),
        )
        .set(
            "phash",
            rows.iter().map(|r| r.facts.phash).collect::<Vec<_>>(),
        )
        .set(
            "status",
            strs(|r| {
                if r.facts.error.is_none() {
                    "ok"
                } else {
                    "error"
                }
            }),
        )
        .set(
            "error",
            rows.iter()
                .map(|r| r.facts.error.as_deref())
                .collect::<Vec<_>>(),
        )
        .set(
            "duplicate_group",
            rows.iter().map(|r| r.duplicate_group).collect::<Vec<_>>(),
        )
        .write(path)?;
    Ok(())
}

/// Writes one row per class, in class-id order.
pub(crate) fn write_classes(path: &Path, classes: &[ClassCount]) -> Result<()> {
    let n = classes.len();
    let u32s = |f: fn(&ClassCount) -> u32| classes.iter().map(f).collect::<Vec<u32>>();
    FrameBuilder::new(&CLASSES, n)
        .set("class_id", u32s(|c| c.class_id))
        .set(
            "label",
            classes.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
        )
        .set(
            "scientific_name",
            classes
                .iter()
                .map(|c| c.scientific_name.as_deref())
                .collect::<Vec<_>>(),
        )
        .set("train", u32s(|c| c.train))
        .set("valid", u32s(|c| c.valid))
        .set("test", u32s(|c| c.test))
        .write(path)?;
    Ok(())
}
