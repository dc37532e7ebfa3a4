//! The one interface between the pipeline runner and the built-in stages.
//!
//! Each stage crate implements [`Stage`] for a unit struct (e.g. `birds_ingest::IngestStage`); the `birds` binary
//! lists them in one table (`crates/birds-cli/src/stages.rs`), and the runner (`birds-pipeline`) looks them up by
//! the `uses:` name of a pipeline stage. Registering a stage is one line in that table.
//!
//! In a pipeline file a built-in stage names its inputs as a mapping from input name to a path or to another
//! stage's name (meaning that stage's output folder):
//!
//! ```yaml
//! - name: preprocess
//!   uses: preprocess
//!   deps: { index: ingest }      # input `index` = the out folder of stage `ingest`
//!   params: { size: 224 }
//! ```
//! The runner hashes the inputs for its cache, creates an empty temporary output folder, calls [`Stage::run`], and
//! renames the folder into place only when `run` returns `Ok`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything a built-in stage may read; it writes only under `out_dir`.
#[derive(Debug, Clone, Copy)]
pub struct StageContext<'a> {
    /// The stage's name in the pipeline (for logs and messages).
    pub name: &'a str,
    /// The stage's params (a JSON object after `--set` overrides; `{}` when none were given).
    pub params: &'a serde_json::Value,
    /// Resolved inputs: input name → existing path (a file or folder).
    pub inputs: &'a BTreeMap<String, PathBuf>,
    /// An empty folder to write the stage's outputs into; renamed into place on success.
    pub out_dir: &'a Path,
    /// The folder relative paths in the pipeline are resolved against (the project root).
    pub root: &'a Path,
}

impl StageContext<'_> {
    /// The path of input `name`, or an error naming the stage and the missing input.
    pub fn input(&self, name: &str) -> Result<&Path, StageError> {
        self.inputs.get(name).map(PathBuf::as_path).ok_or_else(|| {
            StageError::from(format!(
                "stage `{}`: input `{name}` missing from deps",
                self.name
            ))
        })
    }
}

/// The error a stage returns: its own typed error, boxed.
pub type StageError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A built-in pipeline stage.
pub trait Stage: Send + Sync {
    /// The `uses:` name (`ingest`, `preprocess`, …).
    fn name(&self) -> &'static str;

    /// One line saying what the stage does (shown by `birds stages` and in errors).
    fn about(&self) -> &'static str;

    /// The input names the stage requires in `deps:`.
    fn inputs(&self) -> &'static [&'static str];

    /// Optional inputs (may be absent from `deps:`).
    fn optional_inputs(&self) -> &'static [&'static str] {
        &[]
    }

    /// Validates params before anything runs (unknown keys, out-of-range values). The message names the key.
    fn check_params(&self, params: &serde_json::Value) -> Result<(), String>;

    /// Files the stage reads that its `deps:` do not name, resolved from its params and the environment (for
    /// example the pretrained weights that `BIRDS_WEIGHTS` or the default install location points at), each with
    /// a label for messages (`weights`). The runner hashes their contents into the stage's cache key like deps, so
    /// pointing at other weights reruns the stage, and `birds status` names the label when one changed. Called
    /// after [`Stage::check_params`] succeeded, with the same params; `inputs` are the stage's resolved `deps:`
    /// (an implicit file that a dep already provides should not be listed again). A file that cannot be resolved
    /// is an error naming what is missing.
    fn implicit_deps(
        &self,
        _params: &serde_json::Value,
        _inputs: &BTreeMap<String, PathBuf>,
        _root: &Path,
    ) -> Result<Vec<(String, PathBuf)>, String> {
        Ok(Vec::new())
    }

    /// Runs the stage.
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError>;
}

/// Deserialises stage params into a typed struct (use `#[serde(deny_unknown_fields, default)]` on it), turning
/// serde's message into one that names the offending key.
pub fn parse_params<P: serde::de::DeserializeOwned>(
    params: &serde_json::Value,
) -> Result<P, String> {
    let value = if params.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value(value).map_err(|e| e.to_string())
}
