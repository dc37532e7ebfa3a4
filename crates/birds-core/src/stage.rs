//! The one interface between the pipeline runner and the built-in stages.
//!
//! Each stage crate implements [`StageSpec`] (the declaration) and [`Stage`] (the work) for a unit struct (e.g.
//! `birds_ingest::IngestStage`); the `birds` binary lists them in one table (`crates/birds-cli/src/stages.rs`), and
//! the runner (`birds-pipeline`) looks them up by the `uses:` name of a pipeline stage. Registering a stage is one
//! line in that table. A stage that needs libtorch is declared in `birds-params`, and the table wraps it in a
//! [`Stage`] whose [`Stage::process`] is `birds-torch stage`, so the runner never loads libtorch itself.
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

/// What the runner knows of a built-in stage before it runs: its name, inputs and params. A declaration needs no
/// libtorch, so that the `birds` front can check a pipeline and hash its stages without loading it; the torch
/// stages' declarations live in `birds-params`, their work in the engine crates.
pub trait StageSpec: Send + Sync {
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
    /// after [`StageSpec::check_params`] succeeded, with the same params; `inputs` are the stage's resolved `deps:`
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
}

/// A built-in pipeline stage: a declaration and the work.
pub trait Stage: StageSpec {
    /// Runs the stage in the runner's process (not called when [`Stage::process`] gives a program).
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError>;

    /// The program that runs this stage in a process of its own, or `None` (the default) to run it in the runner's
    /// process with [`Stage::run`]. The runner appends the path of a [`StageRequest`] file to the arguments,
    /// sends the child's output to the stage's log, kills it with the runner, and treats any exit but 0 (a
    /// signal, an abort, an out-of-memory kill) as a failed stage whose outputs are discarded.
    fn process(&self) -> Option<StageProcess> {
        None
    }
}

/// A program and its leading arguments (see [`Stage::process`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageProcess {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the request file's path.
    pub args: Vec<String>,
}

/// Everything a stage run in its own process gets: a [`StageContext`] as JSON, plus the `uses:` name that picks the
/// stage and a file for the error message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageRequest {
    /// The `uses:` name.
    pub uses: String,
    /// The stage's name in the pipeline.
    pub name: String,
    /// The params after overrides.
    pub params: serde_json::Value,
    /// Resolved inputs.
    pub inputs: BTreeMap<String, PathBuf>,
    /// The empty folder to write into.
    pub out_dir: PathBuf,
    /// The project root.
    pub root: PathBuf,
    /// Where the child writes its error message (the error and its causes, one line) when it fails.
    pub error_file: PathBuf,
}

impl StageRequest {
    /// The request for running `uses` with `ctx`.
    pub fn new(uses: &str, ctx: &StageContext<'_>, error_file: &Path) -> Self {
        Self {
            uses: uses.to_string(),
            name: ctx.name.to_string(),
            params: ctx.params.clone(),
            inputs: ctx.inputs.clone(),
            out_dir: ctx.out_dir.to_path_buf(),
            root: ctx.root.to_path_buf(),
            error_file: error_file.to_path_buf(),
        }
    }

    /// The context the stage runs with.
    pub fn context(&self) -> StageContext<'_> {
        StageContext {
            name: &self.name,
            params: &self.params,
            inputs: &self.inputs,
            out_dir: &self.out_dir,
            root: &self.root,
        }
    }
}

/// A stage error and its causes on one line (`outer: inner: …`), as the runner reports it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
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
