//! Reading a Kaggle-style `birds.csv` (`class id,filepaths,labels,data set,scientific name`, with or without the
//! header row). Rows are only compared with what is on disk; a path in the CSV is never opened, and one that is
//! absolute or climbs out of the root with `..` is refused outright.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};

/// One usable CSV row.
#[derive(Debug, Clone)]
pub(crate) struct CsvRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// The path, `/`-separated, relative to the root.
    pub path: String,
    /// The `labels` value as written.
    pub label: Option<String>,
    /// The `data set` value as written.
    pub split: Option<String>,
    /// The `scientific name` value.
    pub scientific_name: Option<String>,
}

/// A CSV row that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvRefused {
    /// 1-based line number.
    pub line: u64,
    /// The path as written in the CSV.
    pub path: String,
    /// Why the row was refused.
    pub reason: String,
}

/// The parsed CSV.
#[derive(Debug)]
pub(crate) struct CsvData {
    /// The CSV file.
    pub file: PathBuf,
    /// Whether the first row was a header.
    pub header: bool,
    pub rows: Vec<CsvRow>,
    pub refused: Vec<CsvRefused>,
}

#[derive(Debug, Clone, Copy)]
struct Columns {
    path: usize,
    label: Option<usize>,
    split: Option<usize>,
    scientific_name: Option<usize>,
}

/// Reads and checks the CSV at `file`.
pub(crate) fn read(file: &Path) -> Result<CsvData> {
    let csv_err = |message: String| IngestError::Csv {
        path: file.to_path_buf(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(file)
        .map_err(|e| csv_err(e.to_string()))?;
    let mut records = Vec::new();
    let mut refused = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(i as u64 + 1, |p| p.line());
                records.push((line, r));
            }
            Err(e) => {
                let line = e.position().map_or(i as u64 + 1, |p| p.line());
                if e.is_io_error() {
                    return Err(csv_err(e.to_string()));
                }
                refused.push(CsvRefused {
                    line,
                    path: String::new(),
                    reason: format!("unreadable row: {e}"),
                });
            }
        }
    }
    let Some((_, first)) = records.first() else {
        return Err(csv_err("the file has no rows".into()));
    };
    let (columns, header) = match header_columns(first) {
        Some(c) => (c, true),
        None => (positional_columns(first).ok_or_else(|| {
            csv_err(
                "no `filepaths` column: expected the Kaggle header `class id,filepaths,labels,data set,scientific name` \
                 or rows in that order"
                    .into(),
            )
        })?, false),
    };
    let mut rows = Vec::new();
    for (line, record) in records.iter().skip(usize::from(header)) {
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let raw_path = record.get(columns.path).unwrap_or("").to_string();
        match clean_path(&raw_path) {
            Ok(path) => rows.push(CsvRow {
                line: *line,
                path,
                label: field(columns.label),
                split: field(columns.split),
                scientific_name: field(columns.scientific_name),
            }),
            Err(reason) => refused.push(CsvRefused {
                line: *line,
                path: raw_path,
                reason,
            }),
        }
    }
    refused.sort_by_key(|r| r.line);
    Ok(CsvData {
        file: file.to_path_buf(),
        header,
        rows,
        refused,
    })
}

/// Columns by name when `first` is a header row.
fn header_columns(first: &csv::StringRecord) -> Option<Columns> {
    let find = |names: &[&str]| {
        first.iter().position(|f| {
            let f = f.trim().to_ascii_lowercase();
            names.contains(&f.as_str())
        })
    };
    Some(Columns {
        path: find(&["filepaths", "filepath", "path", "file"])?,
        label: find(&["labels", "label", "class", "species"]),
        split: find(&["data set", "dataset", "split"]),
        scientific_name: find(&["scientific name", "scientific_name"]),
    })
}

/// Kaggle's column order, found from a data row: the first field that looks like an image path is `filepaths`,
/// followed by `labels`, `data set` and `scientific name` (older versions lack the first or last columns).
fn positional_columns(first: &csv::StringRecord) -> Option<Columns> {
    let path = first
        .iter()
        .position(|f| crate::discover::has_image_extension(f.trim()))?;
    let at = |k: usize| (path + k < first.len()).then_some(path + k);
    Some(Columns {
        path,
        label: at(1),
        split: at(2),
        scientific_name: at(3),
    })
}

/// Normalises a CSV path to `/`-separated and relative, or says why it is refused.
pub(crate) fn clean_path(raw: &str) -> std::result::Result<String, String> {
    let p = raw.trim().replace('\\', "/");
    if p.is_empty() {
        return Err("empty path".into());
    }
    let has_drive =
        p.len() >= 2 && p.as_bytes()[1] == b':' && p.as_bytes()[0].is_ascii_alphabetic();
    if p.starts_with('/') || has_drive {
        return Err(
            "absolute path: refused (paths must be relative to the data root); not read".into(),
        );
    }
    let mut parts = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path escapes the data root (`..`): refused, not read".into()),
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err("empty path".into());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_refuses_paths() {
        assert_eq!(
            clean_path("train/A B/001.jpg"),
            Ok("train/A B/001.jpg".into())
        );
        assert_eq!(clean_path("./train//A\\1.jpg "), Ok("train/A/1.jpg".into()));
        assert!(clean_path("../../etc/passwd").is_err_and(|e| e.contains("escapes")));
        assert!(clean_path("train/../../x.jpg").is_err_and(|e| e.contains("escapes")));
        assert!(clean_path("/etc/passwd").is_err_and(|e| e.contains("absolute")));
        assert!(clean_path("C:\\data\\x.jpg").is_err_and(|e| e.contains("absolute")));
        assert!(clean_path(" ").is_err());
    }

    #[test]
    fn header_and_headerless_files() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| IngestError::Unreadable {
            path: "/tmp".into(),
            source: e,
        })?;
        let with = dir.path().join("with.csv");
        let without = dir.path().join("without.csv");
        let written = std::fs::write(
            &with,
            "class id,filepaths,labels,data set,scientific name\n0.0,train/A/1.jpg,A,train,AUS A\n1.0,\"train/B, C/2.jpg\",\"B, C\",train,\n2.0,../../etc/passwd,X,train,\n",
        )
        .and_then(|()| std::fs::write(&without, "0.0,train/A/1.jpg,A,train,AUS A\n0.0,/etc/passwd,A,test,AUS A\n"));
        assert!(written.is_ok());
        let a = read(&with)?;
        assert!(a.header);
        assert_eq!(a.rows.len(), 2);
        assert_eq!(a.rows[1].path, "train/B, C/2.jpg");
        assert_eq!(a.rows[1].label.as_deref(), Some("B, C"));
        assert_eq!(a.rows[1].scientific_name, None);
        assert_eq!(a.rows[0].scientific_name.as_deref(), Some("AUS A"));
        assert_eq!(a.refused.len(), 1);
        assert_eq!(a.refused[0].line, 4);
        let b = read(&without)?;
        assert!(!b.header);
        assert_eq!(b.rows.len(), 1);
        assert_eq!(b.rows[0].split.as_deref(), Some("train"));
        assert_eq!(b.refused[0].path, "/etc/passwd");
        assert!(matches!(
            read(&dir.path().join("missing.csv")),
            Err(IngestError::Csv { .. })
        ));
        Ok(())
    }
}
