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

/// Serde helpers for params that are closed sets spelt as strings in YAML (`device: cuda:1`, `split: test`,
/// `methods: [grad-cam]`): parsed once, at the edge, into the type (its `FromStr`, aliases included) and written back
/// with its `Display`. A bad value's error starts with the key, as a validation error does (`device: …`). A params
/// struct names one small function per key:
///
/// ```
/// use birds_core::stage::closed_set;
/// use birds_core::Split;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Params {
///     #[serde(serialize_with = "closed_set::display", deserialize_with = "de_split")]
///     split: Split,
/// }
/// fn de_split<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Split, D::Error> {
///     closed_set::parse(d, "split")
/// }
///
/// let p: Params = serde_json::from_value(serde_json::json!({"split": "Validation"})).unwrap_or(Params { split: Split::Test });
/// assert_eq!(p.split, Split::Valid);
/// let e = serde_json::from_value::<Params>(serde_json::json!({"split": "dev"})).err().map(|e| e.to_string());
/// assert_eq!(e.as_deref(), Some("split: invalid split \"dev\": expected one of train, valid, test"));
/// ```
pub mod closed_set {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the value with `Display`.
    pub fn display<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Writes `null` or the value with `Display`.
    pub fn display_opt<T: Display, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// Writes a list of values with `Display`.
    pub fn display_seq<T: Display, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(ToString::to_string))
    }

    /// Reads a string and parses it; the error is `<key>: <the type's parse error>`.
    pub fn parse<'de, T, D>(d: D, key: &str) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e| D::Error::custom(format!("{key}: {e}")))
    }

    /// [`parse`] for an optional key (`null` or absent is `None`).
    pub fn parse_opt<'de, T, D>(d: D, key: &str) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        match Option::<String>::deserialize(d)? {
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e| D::Error::custom(format!("{key}: {e}"))),
            None => Ok(None),
        }
    }

    /// [`parse`] for a list.
    pub fn parse_seq<'de, T, D>(d: D, key: &str) -> Result<Vec<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| D::Error::custom(format!("{key}: {e}")))
            })
            .collect()
    }
}
