//! `<pipeline>.lock`: what each stage last ran with, human-readable YAML beside the pipeline file.
//!
//! A stage appears here only after it succeeded and its outs were in place; a failed or killed stage never does.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::hash::Digest;

/// The lock file's format version.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# Written by `birds run` after each stage succeeds; read by `birds run` and `birds status`.\n# A stage reruns when its key (definition, params, dep contents, birds version) or its outs differ from this.\n";

/// The whole lock file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Format version ([`LOCK_VERSION`]).
    pub version: u32,
    /// Per stage name, its last successful run.
    #[serde(default)]
    pub stages: BTreeMap<String, StageLock>,
}

impl Default for LockFile {
    fn default() -> Self {
        Self {
            version: LOCK_VERSION,
            stages: BTreeMap::new(),
        }
    }
}

/// One stage's last successful run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageLock {
    /// The cache key: blake3 of the birds version, the definition, the params and the dep digests.
    pub key: String,
    /// blake3 of the definition alone (action, deps and outs as written).
    pub definition: String,
    /// The built-in stage, for a `uses:` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<String>,
    /// The command (after substitution), for a `cmd:` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Params it ran with (after `--set`).
    #[serde(default)]
    pub params: serde_json::Value,
    /// Dep path → digest at run time.
    #[serde(default)]
    pub deps: BTreeMap<String, Digest>,
    /// Out path → digest after the run.
    #[serde(default)]
    pub outs: BTreeMap<String, Digest>,
    /// Files a built-in stage reads beyond its deps ([`Stage::implicit_deps`](birds_core::stage::Stage::implicit_deps),
    /// e.g. `weights`): label → the file and its digest. Part of the key by content only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub implicit: BTreeMap<String, ImplicitDep>,
    /// birds version that ran it.
    pub birds: String,
    /// When it started (UTC).
    pub started: String,
    /// How long it took, seconds.
    pub duration_s: f64,
}

/// A file a stage reads that its `deps:` do not list (see [`StageLock::implicit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplicitDep {
    /// The file, as resolved when the stage ran (for messages; the key uses only the content).
    pub path: String,
    /// Its digest.
    #[serde(flatten)]
    pub digest: Digest,
}

impl LockFile {
    /// Reads the lock file; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(PipelineError::io("reading", path, e)),
        };
        let text = String::from_utf8(bytes).map_err(|e| PipelineError::BadLockFile {
            path: path.to_path_buf(),
            reason: format!(
                "not valid UTF-8: bad byte at offset {}",
                e.utf8_error().valid_up_to()
            ),
        })?;
        let lock: LockFile =
            serde_yaml::from_str(&text).map_err(|e| PipelineError::BadLockFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if lock.version != LOCK_VERSION {
            return Err(PipelineError::BadLockFile {
                path: path.to_path_buf(),
                reason: format!("version {} (this birds reads {LOCK_VERSION})", lock.version),
            });
        }
        Ok(lock)
    }

    /// Writes the lock file atomically (temp file + rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let body = serde_yaml::to_string(self).map_err(|e| PipelineError::BadLockFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let text = format!("{HEADER}{body}");
        birds_core::atomic::write_bytes(path, text.as_bytes())
            .map_err(|e| PipelineError::io("writing", path, std::io::Error::other(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.lock");
        assert_eq!(LockFile::read(&path)?, LockFile::default());
        let mut lock = LockFile::default();
        lock.stages.insert(
            String::from("train"),
            StageLock {
                key: String::from("k"),
                definition: String::from("d"),
                uses: None,
                cmd: Some(String::from("echo ${x}")),
                params: serde_json::json!({"lr": 0.1, "tags": ["a", "b"], "n": 3}),
                deps: BTreeMap::from([(
                    String::from("data"),
                    Digest {
                        hash: String::from("h"),
                        bytes: 10,
                        files: Some(2),
                    },
                )]),
                outs: BTreeMap::new(),
                implicit: BTreeMap::from([(
                    String::from("weights"),
                    ImplicitDep {
                        path: String::from("/w.safetensors"),
                        digest: Digest {
                            hash: String::from("h"),
                            bytes: 3,
                            files: None,
                        },
                    },
                )]),
                birds: String::from("0.1.0"),
                started: String::from("2026-01-01T00:00:00Z"),
                duration_s: 1.5,
            },
        );
        lock.write(&path)?;
        let text = std::fs::read_to_string(&path)?;
        assert!(text.starts_with("# Written by `birds run`"));
        assert!(text.contains("cmd: echo ${x}"), "{text}");
        assert_eq!(LockFile::read(&path)?, lock);
        std::fs::write(&path, "version: 1\nstages: [1, 2]\n")?;
        assert!(matches!(
            LockFile::read(&path),
            Err(PipelineError::BadLockFile { .. })
        ));
        std::fs::write(&path, b"\xff\xfe garbage")?;
        let err = LockFile::read(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("not valid UTF-8") && err.contains("help: delete it"),
            "{err}"
        );
        std::fs::write(&path, "version: 1\nstages: [1, 2]\n")?;
        assert!(matches!(
            LockFile::read(&path),
            Err(PipelineError::BadLockFile { .. })
        ));
        Ok(())
    }
}
