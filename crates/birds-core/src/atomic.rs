//! Write-to-temp-then-rename: a reader sees the old file or the new one, never half of one.

use std::path::{Path, PathBuf};

use crate::{CoreError, Result};

/// The temporary sibling used while `path` is being written: `.<name>.tmp-<pid>` in the same folder (same file
/// system, so the final rename is atomic).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Lets `write` fill a temporary sibling of `path`, then renames it over `path`. On error the temporary file is
/// removed and `path` is untouched.
pub fn write_with<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E>
where
    E: From<CoreError>,
{
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CoreError::io("creating folder", parent, e))?;
    }
    let tmp = temp_sibling(path);
    match write(&tmp) {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            E::from(CoreError::io("renaming into place", path, e))
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| CoreError::io("writing", tmp, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_content() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tempdir", "/tmp", e))?;
        let path = dir.path().join("sub/out.txt");
        write_bytes(&path, b"old")?;
        let r: Result<()> = write_with(&path, |tmp| {
            std::fs::write(tmp, b"half").map_err(|e| CoreError::io("writing", tmp, e))?;
            Err(CoreError::Parse {
                what: "x",
                value: "y".into(),
                expected: "z",
            })
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"old"[..]));
        let leftovers = std::fs::read_dir(path.parent().unwrap_or(dir.path()))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 1, "temporary file removed");
        write_bytes(&path, b"new")?;
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"new"[..]));
        Ok(())
    }
}
