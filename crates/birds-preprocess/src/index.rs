//! Reading the ingest stage's `images.parquet` (columns from `birds_core::schema::ingest::IMAGES`) through
//! [`birds_artifacts::Frame`].

use std::path::{Path, PathBuf};

use birds_artifacts::Frame;
use birds_core::Split;
use birds_core::schema::ingest::IMAGES;

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

/// Reads every row of `images.parquet` (decodable or not), in file order.
pub fn read_index(path: &Path) -> Result<Vec<IndexRow>> {
    let columns = [
        "path", "root", "split", "label", "class_id", "status", "error",
    ];
    let frame = Frame::read_columns(path, Some(&columns))?;
    let paths = frame.str_req("path")?;
    let roots = frame.str_req("root")?;
    let splits = frame.str_req("split")?;
    let labels = frame.str_req("label")?;
    let class_ids = frame.u32_req("class_id")?;
    let statuses = frame.str_req("status")?;
    let errors = frame.str("error")?;
    let mut rows = Vec::with_capacity(frame.height());
    for (i, (((((p, r), s), l), st), e)) in paths
        .into_iter()
        .zip(roots)
        .zip(splits)
        .zip(labels)
        .zip(statuses)
        .zip(errors)
        .enumerate()
    {
        let split: Split = s
            .parse()
            .map_err(|e| frame.error(format!("row {i}: {e}")))?;
        rows.push(IndexRow {
            path: p,
            root: r,
            split,
            label: l,
            class_id: class_ids[i],
            ok: st == "ok",
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
