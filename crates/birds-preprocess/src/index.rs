//! Reading the ingest stage's `images.parquet` (columns from `birds_core::schema::ingest::IMAGES`).

use std::fs::File;
use std::path::{Path, PathBuf};

use birds_core::Split;
use birds_core::schema::ingest::IMAGES;
use polars::prelude::*;

use crate::{PreprocessError, Result};

/// One row of `images.parquet`, the columns preprocess needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// Path relative to `root`.
    pub path: String,
    /// The data root.
    pub root: String,
    /// Dataset split.
    pub split: Split,
    /// Normalised label.
    pub label: String,
    /// Class index.
    pub class_id: u32,
    /// `ok` when ingest decoded the image.
    pub ok: bool,
    /// Ingest's reason when not ok.
    pub error: Option<String>,
}

impl IndexRow {
    /// The file to open: `root/path`.
    pub fn file(&self) -> PathBuf {
        Path::new(&self.root).join(&self.path)
    }
}

/// `images.parquet` inside `index` when `index` is a folder, else `index` itself.
pub fn images_parquet(index: &Path) -> PathBuf {
    if index.is_dir() {
        index.join(IMAGES.file)
    } else {
        index.to_path_buf()
    }
}

fn str_col(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<Option<String>>> {
    let c = df
        .column(name)
        .map_err(|_| PreprocessError::parquet(path, format!("missing column `{name}`")))?;
    let s = c
        .str()
        .map_err(|e| PreprocessError::parquet(path, format!("column `{name}`: {e}")))?;
    Ok(s.iter().map(|v| v.map(str::to_string)).collect())
}

fn required(v: Option<String>, name: &str, row: usize, path: &Path) -> Result<String> {
    v.ok_or_else(|| PreprocessError::parquet(path, format!("row {row}: column `{name}` is null")))
}

/// Reads every row of `images.parquet` (decodable or not), in file order.
pub fn read_index(path: &Path) -> Result<Vec<IndexRow>> {
    let file = File::open(path).map_err(|e| PreprocessError::io("opening", path, e))?;
    let columns = [
        "path", "root", "split", "label", "class_id", "status", "error",
    ];
    let df = ParquetReader::new(file)
        .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .finish()
        .map_err(|e| PreprocessError::parquet(path, e))?;
    let paths = str_col(&df, "path", path)?;
    let roots = str_col(&df, "root", path)?;
    let splits = str_col(&df, "split", path)?;
    let labels = str_col(&df, "label", path)?;
    let statuses = str_col(&df, "status", path)?;
    let errors = str_col(&df, "error", path)?;
    let class_ids = df
        .column("class_id")
        .map_err(|_| PreprocessError::parquet(path, "missing column `class_id`"))?
        .cast(&DataType::UInt32)
        .map_err(|e| PreprocessError::parquet(path, format!("column `class_id`: {e}")))?;
    let class_ids: Vec<Option<u32>> = class_ids
        .u32()
        .map_err(|e| PreprocessError::parquet(path, format!("column `class_id`: {e}")))?
        .iter()
        .collect();
    let mut rows = Vec::with_capacity(df.height());
    for (i, (((((p, r), s), l), st), e)) in paths
        .into_iter()
        .zip(roots)
        .zip(splits)
        .zip(labels)
        .zip(statuses)
        .zip(errors)
        .enumerate()
    {
        let split_text = required(s, "split", i, path)?;
        let split: Split = split_text
            .parse()
            .map_err(|e| PreprocessError::parquet(path, format!("row {i}: {e}")))?;
        let class_id = class_ids.get(i).copied().flatten().ok_or_else(|| {
            PreprocessError::parquet(path, format!("row {i}: `class_id` is null"))
        })?;
        rows.push(IndexRow {
            path: required(p, "path", i, path)?,
            root: required(r, "root", i, path)?,
            split,
            label: required(l, "label", i, path)?,
            class_id,
            ok: required(st, "status", i, path)? == "ok",
            error: e,
        });
    }
    Ok(rows)
}

/// The class labels indexed by `class_id`, checked for consistency (one label per id, ids dense from 0).
pub fn class_labels(rows: &[IndexRow], path: &Path) -> Result<Vec<String>> {
    let n = rows
        .iter()
        .map(|r| r.class_id as usize + 1)
        .max()
        .unwrap_or(0);
    let mut labels: Vec<Option<&str>> = vec![None; n];
    for r in rows {
        let slot = &mut labels[r.class_id as usize];
        match slot {
            None => *slot = Some(&r.label),
            Some(l) if *l == r.label => {}
            Some(l) => {
                return Err(PreprocessError::parquet(
                    path,
                    format!(
                        "class_id {} has two labels: {l:?} and {:?}",
                        r.class_id, r.label
                    ),
                ));
            }
        }
    }
    labels
        .into_iter()
        .enumerate()
        .map(|(id, l)| {
            l.map(str::to_string).ok_or_else(|| {
                PreprocessError::parquet(
                    path,
                    format!("class_id {id} has no row (ids must be 0..n)"),
                )
            })
        })
        .collect()
}
