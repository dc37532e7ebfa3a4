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
    /// What is wrong with the row.
    pub problem: CsvProblem,
    /// Why the row was refused, in words.
    pub reason: String,
}

/// What is wrong with a refused CSV row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsvProblem {
    /// The path is empty, absolute or climbs out of the data root.
    Path,
    /// The row cannot be parsed (bytes that are not UTF-8).
    Unreadable,
    /// A quoted field runs over several lines: an unterminated or stray `"` swallowed the lines after it.
    Quote,
    /// The row has more or fewer fields than the header (or the first row).
    Columns,
    /// The row repeats the path of an earlier row.
    Repeat,
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
    let bytes = std::fs::read(file).map_err(|e| csv_err(format!("cannot read: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
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
                let reason = match e.kind() {
                    csv::ErrorKind::Utf8 { err, .. } => format!(
                        "not valid UTF-8 (field {}): row not used (save the CSV as UTF-8)",
                        err.field() + 1
                    ),
                    _ => format!("unreadable row: {e}"),
                };
                refused.push(CsvRefused {
                    line,
                    path: String::new(),
                    problem: CsvProblem::Unreadable,
                    reason,
                });
            }
        }
    }
    let Some((_, first)) = records.first() else {
        return Err(csv_err(match refused.first() {
            Some(r) => format!(
                "no readable rows: {} row(s) refused, the first on line {}: {}",
                refused.len(),
                r.line,
                r.reason
            ),
            None => "the file has no rows".into(),
        }));
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
    let fields = first.len();
    let against = if header {
        "the header"
    } else {
        "the first row"
    };
    let mut rows = Vec::new();
    let last = records.len().saturating_sub(1);
    for (k, (line, record)) in records.iter().enumerate().skip(usize::from(header)) {
        // The last row runs to the end of the file; an odd number of `"` in it is a quote never closed.
        let open_at_end = k == last
            && record.position().is_some_and(|p| {
                let tail = bytes.get(p.byte() as usize..).unwrap_or_default();
                tail.iter().filter(|&&b| b == b'"').count() % 2 == 1
            });
        if let Some(reason) = swallowed_lines(*line, record, k == last, open_at_end) {
            refused.push(CsvRefused {
                line: *line,
                path: String::new(),
                problem: CsvProblem::Quote,
                reason,
            });
            continue;
        }
        if record.len() != fields {
            refused.push(CsvRefused {
                line: *line,
                path: record.get(columns.path).unwrap_or("").to_string(),
                problem: CsvProblem::Columns,
                reason: format!(
                    "{} fields where {against} has {fields} (an unquoted `,` in a value?): row not used",
                    record.len()
                ),
            });
            continue;
        }
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
                problem: CsvProblem::Path,
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

/// When a field of the row starting on `line` holds a line break: the lines it swallowed, in words. No value of the Kaggle
/// CSV (paths, labels, splits, names) has one, so it means a `"` that is never closed (the rest of the file is
/// one field) or closed only lines later: the rows in between were read as part of this one and are lost.
/// In the file's last row, a quote left open swallows the final line break too; that one ends the last line.
/// `open_at_end`: the last row holds a quote never closed (it may swallow no line at all).
fn swallowed_lines(
    line: u64,
    record: &csv::StringRecord,
    last_row: bool,
    open_at_end: bool,
) -> Option<String> {
    let n = record.len();
    let breaks_in =
        |f: &str| f.matches('\n').count() + f.matches('\r').count() - f.matches("\r\n").count();
    let mut breaks = 0;
    for (i, f) in record.iter().enumerate() {
        if last_row && i + 1 == n {
            breaks += breaks_in(f.trim_end_matches(['\r', '\n']));
        } else {
            breaks += breaks_in(f);
        }
    }
    if breaks == 0 {
        return open_at_end.then(|| {
            format!(
                "unterminated quote: a `\"` on line {line} is never closed (the row runs to the end of the file): \
                 row not read"
            )
        });
    }
    let end = line + breaks as u64;
    let lines = if breaks == 1 {
        format!("line {end} was")
    } else {
        format!("lines {}–{end} were", line + 1)
    };
    Some(format!(
        "unterminated quote: a quoted field runs from line {line} to line {end} (a `\"` not closed on its line); \
         {lines} swallowed into this row and not read"
    ))
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

    fn parse(text: &str) -> Result<CsvData> {
        let dir = tempfile::tempdir().map_err(|e| IngestError::Unreadable {
            path: "/tmp".into(),
            source: e,
        })?;
        let file = dir.path().join("birds.csv");
        std::fs::write(&file, text).map_err(|e| IngestError::Unreadable {
            path: file.clone(),
            source: e,
        })?;
        read(&file)
    }

    fn problems(data: &CsvData) -> Vec<(u64, CsvProblem, &str)> {
        data.refused
            .iter()
            .map(|r| (r.line, r.problem, r.reason.as_str()))
            .collect()
    }

    #[test]
    fn broken_quotes_name_their_line_and_what_they_swallowed() -> Result<()> {
        let head = "filepaths,labels,data set\n";
        // Closed three lines later: lines 3-4 swallowed, line 5 read again.
        let d = parse(&format!(
            "{head}a/1.jpg,A,train\n\"a/2.jpg,A,train\na/3.jpg,A,train\na/4.jpg\",A,train\na/5.jpg,A,train\n"
        ))?;
        let p = problems(&d);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].0, p[0].1), (3, CsvProblem::Quote));
        assert!(p[0].2.contains("lines 4–5 were swallowed"), "{}", p[0].2);
        assert_eq!(
            d.rows.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            vec!["a/1.jpg", "a/5.jpg"]
        );
        // Never closed, in the last row, with and without a final newline.
        for tail in ["\n", ""] {
            let d = parse(&format!("{head}a/1.jpg,A,train\n\"a/2.jpg,A,train{tail}"))?;
            let p = problems(&d);
            assert_eq!((p[0].0, p[0].1), (3, CsvProblem::Quote), "{p:?}");
        }
        let d = parse(&format!(
            "{head}\"a/1.jpg,A,train\na/2.jpg,A,train\r\na/3.jpg,A,train\n"
        ))?;
        let p = problems(&d);
        assert!(
            p.len() == 1 && p[0].2.contains("lines 3–4 were swallowed"),
            "{p:?}"
        );
        assert!(d.rows.is_empty());
        Ok(())
    }

    #[test]
    fn rows_with_another_field_count_are_refused() -> Result<()> {
        let d =
            parse("filepaths,labels,data set\na/1.jpg,A,train\na/2.jpg,A, B,train\na/3.jpg,A\n")?;
        let p = problems(&d);
        assert_eq!(
            p.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
            vec![(3, CsvProblem::Columns), (4, CsvProblem::Columns)]
        );
        assert!(
            p[0].2.contains("4 fields where the header has 3"),
            "{}",
            p[0].2
        );
        assert_eq!(d.rows.len(), 1);
        Ok(())
    }

    #[test]
    fn a_file_of_unreadable_rows_says_so() {
        let err = parse("\u{0}")
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("no `filepaths` column") || err.contains("no readable rows"),
            "{err}"
        );
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
        assert_eq!(a.refused[0].problem, CsvProblem::Path);
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
