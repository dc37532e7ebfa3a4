//! Which existing outs birds may replace: those it wrote itself.
//!
//! Before a stage runs, its outs are deleted (a command stage's are moved aside, a built-in stage's folder is
//! swapped for a fresh one). That is only right for files birds made, so an out that exists is replaced only when
//! - it lies in `artifacts/<pipeline>/`, birds's own folder;
//! - a stage of the lock file records it (its last successful run wrote it); or
//! - it is listed in `artifacts/<pipeline>/.cache/outs.txt`, where birds notes every out just before a stage
//!   starts writing it: so the partial outs of a killed first run, or outs whose lock entry was deleted, are still
//!   known as birds's.
//!
//! Anything else is the user's: the stage is refused (`out … exists and birds did not write it`) unless the run
//! was given `--overwrite-outs`, and `birds status` / `--dry-run` say so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{PipelineError, Result};
use crate::lockfile::LockFile;
use crate::model::{Pipeline, ProjectPath};
use crate::util::normalize;

const HEADER: &str = "# outs birds has written (or started writing); birds replaces only these and artifacts/<pipeline>/";

/// The outs birds may replace.
#[derive(Debug)]
pub struct Ownership {
    root: PathBuf,
    artifacts: PathBuf,
    file: PathBuf,
    /// Outs known as birds's, as written in the pipeline (relative to the root unless absolute).
    listed: Mutex<BTreeSet<String>>,
    /// Absolute paths of the lock file's outs and of `listed`.
    owned: Mutex<BTreeSet<PathBuf>>,
    /// `--overwrite-outs`: every out is birds's.
    overwrite: bool,
}

impl Ownership {
    /// What `pipeline`'s lock file and `.cache/outs.txt` say birds wrote.
    pub fn load(pipeline: &Pipeline<'_>, lock: &LockFile, overwrite: bool) -> Self {
        let file = pipeline.cache_dir().join("outs.txt");
        let listed: BTreeSet<String> = std::fs::read_to_string(&file)
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let root = pipeline.root.clone();
        let owned = lock
            .stages
            .values()
            .flat_map(|s| s.outs.keys())
            .chain(&listed)
            .map(|rel| normalize(&root.join(rel)))
            .collect();
        Self {
            root,
            artifacts: normalize(&pipeline.artifacts),
            file,
            listed: Mutex::new(listed),
            owned: Mutex::new(owned),
            overwrite,
        }
    }

    /// Whether `out` exists and is not birds's to replace.
    pub fn is_foreign(&self, out: &ProjectPath) -> bool {
        if self.overwrite || out.abs.starts_with(&self.artifacts) {
            return false;
        }
        if std::fs::symlink_metadata(&out.abs).is_err() {
            return false;
        }
        !self
            .owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&out.abs)
    }

    /// Notes `outs` as birds's, before a stage writes them (rewrites `.cache/outs.txt` atomically).
    pub fn claim(&self, outs: &[ProjectPath]) -> Result<()> {
        let fresh: Vec<&ProjectPath> = outs
            .iter()
            .filter(|o| !o.abs.starts_with(&self.artifacts) && !o.rel.contains('\n'))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut listed = self
            .listed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = false;
        for o in &fresh {
            changed |= listed.insert(o.rel.clone());
        }
        {
            let mut owned = self
                .owned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            owned.extend(fresh.iter().map(|o| normalize(&self.root.join(&o.rel))));
        }
        if !changed {
            return Ok(());
        }
        let mut text = format!("{HEADER}\n");
        for l in listed.iter() {
            text.push_str(l);
            text.push('\n');
        }
        birds_core::atomic::write_bytes(&self.file, text.as_bytes()).map_err(|e| {
            PipelineError::io("writing", &self.file, std::io::Error::other(e.to_string()))
        })
    }

    /// The file listing the outs birds claimed.
    pub fn path(&self) -> &Path {
        &self.file
    }
}
