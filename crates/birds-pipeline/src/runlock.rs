//! One `birds run` per pipeline at a time: an exclusive `flock` on `artifacts/<pipeline>/.cache/run.lock`.
//!
//! The OS drops the lock when the holder exits, however it exits (`kill -9` included), so a stale lock cannot
//! block anyone. The file holds the holder's pid and start time, for the message the waiting run prints.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{PipelineError, Result};

/// The held lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock at `path`. When another process holds it: with `wait`, calls `on_wait(holder)` once and
    /// blocks until it is free; without, returns [`PipelineError::Busy`].
    pub fn acquire(
        path: &Path,
        pipeline: &str,
        wait: bool,
        on_wait: impl FnOnce(&str),
    ) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| PipelineError::io("creating folder", dir, e))?;
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| PipelineError::io("opening", path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() {
                    String::from("another process")
                } else {
                    holder.trim().to_string()
                };
                if !wait {
                    return Err(PipelineError::Busy {
                        pipeline: pipeline.to_string(),
                        holder,
                    });
                }
                on_wait(&holder);
                file.lock()
                    .map_err(|e| PipelineError::io("locking", path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(PipelineError::io("locking", path, e)),
        }
        let me = format!(
            "pid {} since {}\n",
            std::process::id(),
            crate::util::rfc3339(std::time::SystemTime::now())
        );
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(me.as_bytes());
        let _ = file.flush();
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_told_who_holds_it() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".cache/run.lock");
        let held = RunLock::acquire(&path, "p", true, |_| {})?;
        match RunLock::acquire(&path, "p", false, |_| {}) {
            Err(PipelineError::Busy { holder, .. }) => {
                assert!(
                    holder.starts_with(&format!("pid {}", std::process::id())),
                    "{holder}"
                )
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        let again = RunLock::acquire(&path, "p", false, |_| {})?;
        assert_eq!(again.path(), path);
        Ok(())
    }
}
