//! A validated pipeline: stages, their resolved deps and outs, and the DAG between them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use birds_core::stage::Stage;

/// A path of the pipeline: as the lock file and messages show it, and absolute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProjectPath {
    /// As written (lexically normalised), relative to the project root unless written absolute.
    pub rel: String,
    /// Absolute, lexically normalised.
    pub abs: PathBuf,
}

/// What a stage does.
#[derive(Clone)]
pub enum Action<'r> {
    /// A built-in stage, run in-process through [`Stage::run`].
    Builtin {
        /// The `uses:` name.
        uses: String,
        /// The registered stage.
        stage: &'r dyn Stage,
    },
    /// An external command, run with `sh -c` from the project root.
    Cmd {
        /// The command as written (part of the definition: a param change alone is reported as a param change).
        template: String,
        /// The command after `${params.…}` / `${birds.…}` substitution: what runs.
        cmd: String,
    },
}

impl std::fmt::Debug for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Builtin { uses, .. } => write!(f, "uses {uses}"),
            Action::Cmd { cmd, .. } => write!(f, "cmd {cmd:?}"),
        }
    }
}

impl Action<'_> {
    /// `uses: NAME` or `cmd: …`, one line, for listings.
    pub fn describe(&self) -> String {
        match self {
            Action::Builtin { uses, .. } => format!("uses {uses}"),
            Action::Cmd { cmd, .. } => format!("cmd {cmd}"),
        }
    }
}

/// One entry of a stage's `deps:`.
#[derive(Debug, Clone)]
pub struct Dep {
    /// The input name (built-in stages only).
    pub input: Option<String>,
    /// As written: a path or a stage name.
    pub spec: String,
    /// The paths it stands for (a stage name stands for that stage's outs).
    pub paths: Vec<ProjectPath>,
    /// The stage named by `spec`, when it names one.
    pub stage: Option<usize>,
}

/// One stage of a validated pipeline.
#[derive(Debug, Clone)]
pub struct StageDef<'r> {
    /// Unique name.
    pub name: String,
    /// Built-in or command.
    pub action: Action<'r>,
    /// Params after `--set` overrides (a JSON object).
    pub params: serde_json::Value,
    /// Inputs.
    pub deps: Vec<Dep>,
    /// Outputs (for a built-in stage exactly one folder).
    pub outs: Vec<ProjectPath>,
    /// Line of the stage in the pipeline file.
    pub line: Option<usize>,
}

impl StageDef<'_> {
    /// Every dep path, in declaration order, without repeats.
    pub fn dep_paths(&self) -> Vec<&ProjectPath> {
        let mut seen = BTreeSet::new();
        self.deps
            .iter()
            .flat_map(|d| d.paths.iter())
            .filter(|p| seen.insert(&p.abs))
            .collect()
    }

    /// A built-in stage's inputs: input name → its (first) path, as [`Stage::run`] sees them.
    pub fn inputs(&self) -> BTreeMap<String, PathBuf> {
        self.deps
            .iter()
            .filter_map(|d| Some((d.input.clone()?, d.paths.first()?.abs.clone())))
            .collect()
    }

    /// What the cache key hashes besides params and dep contents: the action, the deps as written and the outs.
    pub fn definition(&self) -> serde_json::Value {
        let deps: Vec<serde_json::Value> = self
            .deps
            .iter()
            .map(|d| {
                serde_json::json!({
                    "input": d.input,
                    "spec": d.spec,
                    "paths": d.paths.iter().map(|p| p.rel.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let outs: Vec<&str> = self.outs.iter().map(|p| p.rel.as_str()).collect();
        match &self.action {
            Action::Builtin { uses, .. } => {
                serde_json::json!({ "uses": uses, "deps": deps, "outs": outs })
            }
            Action::Cmd { template, .. } => {
                serde_json::json!({ "cmd": template, "deps": deps, "outs": outs })
            }
        }
    }
}

/// A validated pipeline.
#[derive(Debug)]
pub struct Pipeline<'r> {
    /// The file's stem (`default` for `pipelines/default.yaml`); names the artifacts folder and the lock file.
    pub name: String,
    /// The pipeline file, as given.
    pub file: PathBuf,
    /// The project root (absolute): relative paths are resolved against it and commands run in it.
    pub root: PathBuf,
    /// `<root>/artifacts/<name>`.
    pub artifacts: PathBuf,
    /// Stages in file order.
    pub stages: Vec<StageDef<'r>>,
    /// Direct upstream stages of each stage (sorted).
    pub upstream: Vec<Vec<usize>>,
    /// Direct downstream stages of each stage (sorted).
    pub downstream: Vec<Vec<usize>>,
    /// A topological order that keeps file order where the DAG allows.
    pub order: Vec<usize>,
    /// For each edge (upstream, downstream), the dep of the downstream stage that makes it.
    pub edges: BTreeMap<(usize, usize), String>,
}

impl Pipeline<'_> {
    /// Index of the stage called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// The files a built-in stage reads beyond its deps ([`Stage::implicit_deps`]), relative ones resolved against
    /// the project root; none for a command stage.
    pub fn implicit_deps(&self, stage: &StageDef<'_>) -> crate::Result<Vec<(String, PathBuf)>> {
        let Action::Builtin { stage: imp, .. } = &stage.action else {
            return Ok(Vec::new());
        };
        let files = imp
            .implicit_deps(&stage.params, &stage.inputs(), &self.root)
            .map_err(|message| crate::PipelineError::ImplicitDeps {
                stage: stage.name.clone(),
                message,
            })?;
        Ok(files
            .into_iter()
            .map(|(label, p)| (label, crate::util::normalize(&self.root.join(p))))
            .collect())
    }

    /// `<name>.lock` beside the pipeline file.
    pub fn lock_path(&self) -> PathBuf {
        self.file.with_file_name(format!("{}.lock", self.name))
    }

    /// `artifacts/<name>/.cache`: hash memo and the run lock.
    pub fn cache_dir(&self) -> PathBuf {
        self.artifacts.join(".cache")
    }

    /// `artifacts/<name>/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.artifacts.join("logs")
    }

    /// The log file of stage `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.logs_dir().join(format!("{name}.log"))
    }

    /// `set` and every stage downstream of it.
    pub fn with_downstream(&self, set: &BTreeSet<usize>) -> BTreeSet<usize> {
        closure(set, &self.downstream)
    }

    /// Every stage upstream of `set` (excluding `set` itself unless reachable).
    pub fn all_upstream(&self, set: &BTreeSet<usize>) -> BTreeSet<usize> {
        let starts: BTreeSet<usize> = set.iter().flat_map(|&i| self.upstream[i].clone()).collect();
        closure(&starts, &self.upstream)
    }

    /// A path relative to the current directory when it lies below it (for messages).
    pub fn shown(&self, path: &Path) -> String {
        let cwd = std::env::current_dir().ok();
        let rel = cwd.as_deref().and_then(|c| path.strip_prefix(c).ok());
        rel.unwrap_or(path).display().to_string()
    }
}

fn closure(start: &BTreeSet<usize>, next: &[Vec<usize>]) -> BTreeSet<usize> {
    let mut out = start.clone();
    let mut todo: Vec<usize> = start.iter().copied().collect();
    while let Some(i) = todo.pop() {
        for &j in &next[i] {
            if out.insert(j) {
                todo.push(j);
            }
        }
    }
    out
}
