//! `birds train --out DIR` that never tears DIR: the run is trained into a temporary sibling `.DIR.tmp-<pid>/` and
//! swapped into place only when it has completed, the same rule the pipeline applies to a stage's out folder.
//!
//! - Until the swap, DIR is the previous run, whole (its checkpoint, history and `summary.json` together), or
//!   absent. A run killed at any moment leaves DIR as it was, and its temporary folder beside it.
//! - The swap: DIR renamed to `.DIR.old-<pid>`, the temporary folder renamed to DIR, the old one removed. A run
//!   killed between the two renames is repaired at the next start (the old folder put back).
//! - `--resume` adopts the temporary folder a killed run left (its `state/`: the last completed epoch) and goes on
//!   in it; a DIR with `state/` of its own (a run of an older birds, which trained in place) is copied into the new
//!   temporary folder first, so DIR stays untouched until the resumed run completes.
//! - Without `--resume`, what killed runs left (`.DIR.tmp-<pid>`, `.DIR.old-<pid>` of pids no longer running) is
//!   removed at the start.
//! - DIR is only ever replaced when it is a train output folder: a folder holding anything else is refused.

use std::path::{Path, PathBuf};

use birds_models::checkpoint::{META_FILE, MODEL_FILE};

use crate::data::DataSource;
use crate::summary::{SUMMARY_FILE, Summary};
use crate::trainer::{CURVES_FILE, RunOptions, STATE_DIR, STATE_FILE, train};
use crate::{Result, TrainError, TrainParams};

/// What a train output folder may hold; train refuses to replace a folder with anything else in it.
const RUN_ENTRIES: &[&str] = &[
    MODEL_FILE,
    META_FILE,
    "history.parquet",
    birds_core::schema::train::TEST_PREDICTIONS.file,
    CURVES_FILE,
    SUMMARY_FILE,
    STATE_DIR,
    "state.old",
];

/// Whether process `pid` exists (it may belong to another user).
#[allow(unsafe_code)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The pid of a temporary name `<prefix><pid>`, when `name` is one.
fn pid_of(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The pid of any birds temporary name in a folder: `.state.tmp-<pid>` (the trainer's state), or
/// `.<file>.tmp-<pid>` (an atomic write).
fn temp_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, pid) = name.rsplit_once(".tmp-")?;
    pid.parse().ok()
}

/// Whether what process `pid` left may be removed or taken over: it is not running (or it is this process, whose
/// earlier call has ended).
fn abandoned(pid: u32) -> bool {
    pid == std::process::id() || !pid_alive(pid)
}

fn remove_any(path: &Path) -> Result<()> {
    let r = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| TrainError::file("removing", path, e))
}

/// Removes what killed runs left inside a run folder: `.state.tmp-<pid>/` and `.<file>.tmp-<pid>` whose process
/// is no longer running.
pub fn remove_stale_temps(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = temp_pid(&name)
            && pid != std::process::id()
            && !pid_alive(pid)
        {
            tracing::info!(path = %e.path().display(), pid, "removing what a killed run left");
            remove_any(&e.path())?;
        }
    }
    Ok(())
}

/// Errors unless `out` is absent, an empty folder, or a train output folder (nothing but [`RUN_ENTRIES`] and
/// temporary files).
fn check_replaceable(out: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::file("reading", out, e)),
    };
    if !meta.is_dir() {
        return Err(TrainError::file(
            "training into",
            out,
            "it is not a folder (a file or a symbolic link is there); give a new or empty folder, or an earlier run's",
        ));
    }
    let entries = std::fs::read_dir(out).map_err(|e| TrainError::file("reading", out, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !RUN_ENTRIES.contains(&name.as_str()) && temp_pid(&name).is_none() {
            return Err(TrainError::file(
                "training into",
                out,
                format!(
                    "it holds {name:?}, which a `birds train` run does not write; the folder is replaced as a whole \
                     when the run completes, so give a new or empty folder (or move {name:?} out)"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `dir` holds resumable state.
fn has_state(dir: &Path) -> bool {
    dir.join(STATE_DIR).join(STATE_FILE).is_file()
        || dir.join("state.old").join(STATE_FILE).is_file()
}

/// Copies `src` into `dst` (created), hard-linking files where the file system allows (every file of a run is
/// replaced by rename, never rewritten in place, so the links never change `src`).
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| TrainError::file("creating folder", dst, e))?;
    let entries = std::fs::read_dir(src).map_err(|e| TrainError::file("reading", src, e))?;
    for e in entries {
        let e = e.map_err(|e| TrainError::file("reading", src, e))?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let kind = e
            .file_type()
            .map_err(|err| TrainError::file("reading", &from, err))?;
        if kind.is_dir() {
            copy_tree(&from, &to)?;
        } else if kind.is_file() && std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|err| TrainError::file("copying", &from, err))?;
        }
    }
    Ok(())
}

/// The out folder's temporary siblings: `(path, pid, is_old)` for `.NAME.tmp-<pid>` and `.NAME.old-<pid>`.
fn siblings(parent: &Path, name: &str) -> Vec<(PathBuf, u32, bool)> {
    let (tmp, old) = (format!(".{name}.tmp-"), format!(".{name}.old-"));
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = pid_of(&n, &tmp) {
                Some((e.path(), pid, false))
            } else {
                pid_of(&n, &old).map(|pid| (e.path(), pid, true))
            }
        })
        .collect()
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| TrainError::file("renaming", from, format!("to {}: {e}", to.display())))
}

/// Trains like [`train`] into a temporary sibling of `out` and swaps it into place when the run completes (see the
/// module doc); `opts.resume` continues a killed run. Returns the summary.
pub fn train_into(
    params: &TrainParams,
    data: &dyn DataSource,
    out: &Path,
    opts: &RunOptions,
) -> Result<Summary> {
    // Params first: a bad param must not touch anything.
    params.resolved()?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "..")
        .ok_or_else(|| {
            TrainError::file("training into", out, "give a folder name, e.g. runs/ft")
        })?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| TrainError::file("creating folder", &parent, e))?;
    check_replaceable(out)?;

    // A run killed between the two renames of its swap: put the previous folder back.
    let found = siblings(&parent, &name);
    if std::fs::symlink_metadata(out).is_err()
        && let Some((old, pid, _)) = found
            .iter()
            .filter(|(_, pid, is_old)| *is_old && abandoned(*pid))
            .max_by_key(|(p, _, _)| modified(p))
    {
        tracing::warn!(folder = %out.display(), pid, "restoring the previous run a killed swap had moved aside");
        rename(old, out)?;
    }
    let found: Vec<_> = siblings(&parent, &name)
        .into_iter()
        .filter(|(_, pid, _)| abandoned(*pid))
        .collect();

    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut adopted: Option<PathBuf> = None;
    if opts.resume {
        adopted = found
            .iter()
            .filter(|(p, _, is_old)| !is_old && has_state(p))
            .max_by_key(|(p, _, _)| modified(p))
            .map(|(p, _, _)| p.clone());
        if adopted.is_none() && !has_state(out) {
            let reason = if out.join(SUMMARY_FILE).is_file() {
                "the run already completed (summary.json is there); run without --resume to train again"
            } else {
                "no saved state: nothing to resume (a run saves its state after each completed epoch); run without --resume"
            };
            return Err(TrainError::Resume {
                dir: out.to_path_buf(),
                reason: reason.into(),
            });
        }
    }
    for (path, _, _) in &found {
        if Some(path) != adopted.as_ref() {
            tracing::info!(path = %path.display(), "removing what a killed run left");
            remove_any(path)?;
        }
    }
    match &adopted {
        Some(from) if from != &tmp => rename(from, &tmp)?,
        Some(_) => {}
        None => {
            remove_any(&tmp)?;
            if opts.resume {
                copy_tree(out, &tmp)?;
            } else {
                std::fs::create_dir_all(&tmp)
                    .map_err(|e| TrainError::file("creating folder", &tmp, e))?;
            }
        }
    }
    if let Some(from) = &adopted {
        tracing::info!(from = %from.display(), "resuming the run a killed process left");
    }

    let summary = match train(params, data, &tmp, opts) {
        Ok(s) => s,
        Err(e) => {
            // Keep a resumable run for `--resume`; anything else is of no use.
            if !has_state(&tmp) {
                let _ = remove_any(&tmp);
            }
            return Err(e);
        }
    };
    swap_in(&tmp, out)?;
    Ok(summary)
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// Old aside, new in, old gone.
fn swap_in(tmp: &Path, out: &Path) -> Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let old = out.with_file_name(format!(".{name}.old-{}", std::process::id()));
    remove_any(&old)?;
    let had_old = std::fs::symlink_metadata(out).is_ok();
    if had_old {
        rename(out, &old)?;
    }
    if let Err(e) = rename(tmp, out) {
        if had_old {
            let _ = std::fs::rename(&old, out);
        }
        return Err(e);
    }
    if had_old {
        remove_any(&old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_and_pids() {
        assert_eq!(temp_pid(".state.tmp-123"), Some(123));
        assert_eq!(temp_pid(".model.safetensors.tmp-9"), Some(9));
        assert_eq!(temp_pid("state"), None);
        assert_eq!(temp_pid(".state.tmp-x"), None);
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
    }
}
