//! Finding the image files under a data root: layout detection, split and label folders, and everything skipped
//! on the way (hidden files, other extensions, broken links, symlink loops, file links that lead out of the data
//! root, names that are not UTF-8).

use std::path::{Path, PathBuf};

use birds_core::Split;
use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::params::Layout;

/// File extensions (lower case) indexed as images. Other files in label folders are skipped and reported.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "webp", "tif", "tiff",
];

/// Folders nested deeper than this inside a label folder are not entered.
const MAX_DEPTH: usize = 32;

/// A file or folder left out of the index, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the data root (non-UTF-8 bytes shown as U+FFFD).
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// A candidate image file.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// Absolute path (under the canonical root).
    pub abs: PathBuf,
    /// The split folder it is in (Kaggle layout); `None` in the flat layout until assigned.
    pub split: Option<Split>,
    /// The label folder's name as spelled on disk.
    pub folder_label: String,
}

/// Everything found under the root.
#[derive(Debug, Default)]
pub(crate) struct Discovery {
    pub files: Vec<Found>,
    pub skipped: Vec<Skipped>,
    /// Kaggle layout: splits with no folder.
    pub missing_splits: Vec<Split>,
    /// Top-level entries that are neither split nor label folders (informational).
    pub ignored: Vec<String>,
}

/// The layout `auto` resolves to for `root`: Kaggle when a top-level folder is named like a split.
pub(crate) fn resolve_layout(root: &Path, layout: Layout) -> Result<Layout> {
    if layout != Layout::Auto {
        return Ok(layout);
    }
    let has_split_folder = list_dir(root)?.iter().any(|(name, _)| {
        name.to_str().is_some_and(|n| n.parse::<Split>().is_ok()) && root.join(name).is_dir()
    });
    Ok(if has_split_folder {
        Layout::Kaggle
    } else {
        Layout::Flat
    })
}

/// Walks `root` (canonical) in the given resolved layout. Entries are visited in name order.
pub(crate) fn discover(root: &Path, layout: Layout) -> Result<Discovery> {
    let mut d = Discovery::default();
    let mut ancestors = vec![root.to_path_buf()];
    match layout {
        Layout::Kaggle => {
            let mut seen = Vec::new();
            for (name, path) in list_dir(root)? {
                let Some(text) = name.to_str().filter(|n| !n.starts_with('.')) else {
                    continue;
                };
                let split = text.parse::<Split>().ok().filter(|_| path.is_dir());
                let Some(split) = split else {
                    d.ignored.push(text.to_string());
                    continue;
                };
                seen.push(split);
                let entries = list_dir(&path)?;
                // A link back to the split folder is a loop too.
                let split_dir = path
                    .canonicalize()
                    .map_err(|source| IngestError::Unreadable {
                        path: path.clone(),
                        source,
                    })?;
                ancestors.push(split_dir);
                for (label_name, label_path) in entries {
                    visit_label_entry(
                        &mut d,
                        &mut ancestors,
                        text,
                        &label_name,
                        &label_path,
                        Some(split),
                    );
                }
                ancestors.pop();
            }
            d.missing_splits = Split::ALL
                .into_iter()
                .filter(|s| !seen.contains(s))
                .collect();
        }
        Layout::Flat | Layout::Auto => {
            for (name, path) in list_dir(root)? {
                let Some(text) = name.to_str() else {
                    d.skipped.push(Skipped {
                        path: name.to_string_lossy().into_owned(),
                        reason: "name is not valid UTF-8".into(),
                    });
                    continue;
                };
                if text.starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    visit_label_entry(&mut d, &mut ancestors, "", &name, &path, None);
                } else {
                    d.ignored.push(text.to_string());
                }
            }
        }
    }
    Ok(d)
}

/// One entry of a split folder (or of the root in the flat layout): a label folder, or something to skip.
fn visit_label_entry(
    d: &mut Discovery,
    ancestors: &mut Vec<PathBuf>,
    prefix: &str,
    name: &std::ffi::OsStr,
    path: &Path,
    split: Option<Split>,
) {
    let rel = join_rel(prefix, &name.to_string_lossy());
    let Some(label) = name.to_str() else {
        d.skipped.push(Skipped {
            path: rel,
            reason: "label folder name is not valid UTF-8".into(),
        });
        return;
    };
    if label.starts_with('.') {
        d.skipped.push(Skipped {
            path: rel,
            reason: "hidden".into(),
        });
        return;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            if label.trim().is_empty() {
                d.skipped.push(Skipped {
                    path: rel,
                    reason: "label folder name is blank".into(),
                });
                return;
            }
            walk(d, ancestors, path, &rel, label, split, 0);
        }
        Ok(_) => d.skipped.push(Skipped {
            path: rel,
            reason: if split.is_some() {
                "not inside a label folder".into()
            } else {
                "file at the top level".into()
            },
        }),
        Err(e) => d.skipped.push(Skipped {
            path: rel,
            reason: link_problem(path, &e),
        }),
    }
}

/// Recursively collects the files under a label folder.
fn walk(
    d: &mut Discovery,
    ancestors: &mut Vec<PathBuf>,
    dir: &Path,
    rel_dir: &str,
    label: &str,
    split: Option<Split>,
    depth: usize,
) {
    let canonical = match dir.canonicalize() {
        Ok(c) => c,
        Err(e) => {
            d.skipped.push(Skipped {
                path: rel_dir.to_string(),
                reason: link_problem(dir, &e),
            });
            return;
        }
    };
    if let Some(pos) = ancestors.iter().position(|a| *a == canonical) {
        let target = if pos == 0 {
            "the data root".to_string()
        } else {
            format!("its ancestor {}", canonical.display())
        };
        d.skipped.push(Skipped {
            path: rel_dir.to_string(),
            reason: format!("symlink loop: folder leads back to {target}"),
        });
        return;
    }
    if depth > MAX_DEPTH {
        d.skipped.push(Skipped {
            path: rel_dir.to_string(),
            reason: format!("nested more than {MAX_DEPTH} folders deep"),
        });
        return;
    }
    let entries = match list_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            d.skipped.push(Skipped {
                path: rel_dir.to_string(),
                reason: format!("cannot list folder: {e}"),
            });
            return;
        }
    };
    ancestors.push(canonical);
    for (name, path) in entries {
        let lossy = name.to_string_lossy();
        let rel = join_rel(rel_dir, &lossy);
        let Some(text) = name.to_str() else {
            d.skipped.push(Skipped {
                path: rel,
                reason: "name is not valid UTF-8".into(),
            });
            continue;
        };
        if text.starts_with('.') {
            d.skipped.push(Skipped {
                path: rel,
                reason: "hidden".into(),
            });
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(d, ancestors, &path, &rel, label, split, depth + 1),
            Ok(m) if m.is_file() => {
                if let Some(reason) = ancestors.first().and_then(|root| link_outside(&path, root)) {
                    d.skipped.push(Skipped { path: rel, reason });
                } else if has_image_extension(text) {
                    d.files.push(Found {
                        rel,
                        abs: path,
                        split,
                        folder_label: label.to_string(),
                    });
                } else {
                    d.skipped.push(Skipped {
                        path: rel,
                        reason: "not an image file extension".into(),
                    });
                }
            }
            Ok(_) => d.skipped.push(Skipped {
                path: rel,
                reason: "not a regular file".into(),
            }),
            Err(e) => d.skipped.push(Skipped {
                path: rel,
                reason: link_problem(&path, &e),
            }),
        }
    }
    ancestors.pop();
}

/// Whether the file name ends in one of [`IMAGE_EXTENSIONS`] (any case).
pub fn has_image_extension(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// For a file symlink whose target lies outside `root` (canonical): why it is skipped. Such a link is never
/// opened, so nothing outside the data root (`/etc/passwd`, a key file) is read into the index or the reports.
/// Links within the root are followed; so are folder links (the files they lead to are not links themselves).
fn link_outside(path: &Path, root: &Path) -> Option<String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return None;
    }
    match path.canonicalize() {
        Ok(target) if target.starts_with(root) => None,
        Ok(_) => Some("symlink outside the data root: not followed".into()),
        Err(e) => Some(link_problem(path, &e)),
    }
}

/// Describes why `path` could not be followed.
fn link_problem(path: &Path, e: &std::io::Error) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match (is_link, e.kind()) {
        (true, std::io::ErrorKind::NotFound) => "broken symlink: its target does not exist".into(),
        (true, _) => format!("symlink cannot be followed (symlink loop?): {e}"),
        (false, _) => format!("cannot read: {e}"),
    }
}

fn join_rel(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The entries of `dir` sorted by name.
fn list_dir(dir: &Path) -> Result<Vec<(std::ffi::OsString, PathBuf)>> {
    let unreadable = |source| IngestError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        out.push((entry.file_name(), entry.path()));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_extensions_any_case() {
        assert!(has_image_extension("a.JPG"));
        assert!(has_image_extension("x y.jpeg"));
        assert!(has_image_extension("é.png"));
        assert!(!has_image_extension("notes.txt"));
        assert!(!has_image_extension("jpg"));
    }
}
