//! JSON artifacts: written pretty with a trailing newline, atomically; read with errors that name the file.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ArtifactError, Result};

/// Writes `value` as pretty JSON plus a newline to `path` (temporary file, then rename).
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| ArtifactError::file("serialising", path, e))?;
    birds_core::atomic::write_bytes(path, format!("{text}\n").as_bytes())?;
    Ok(())
}

/// Reads `path` as JSON into `T`; the error names the file and what is wrong (missing, not JSON, a field).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| ArtifactError::reading(path, e))?;
    serde_json::from_str(&text).map_err(|e| ArtifactError::file("parsing", path, e))
}
