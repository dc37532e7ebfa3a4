//! Typed errors of the pipeline runner.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a pipeline file (or in a `--set` override), with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The pipeline file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `pos` (line, column; 1-based) in `file`.
    pub fn new(file: &Path, pos: Option<(usize, usize)>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message: message.into(),
            help: None,
        }
    }

    /// Adds the fix.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found while validating a pipeline, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        if n > 1 {
            writeln!(f, "{n} problems in the pipeline:")?;
        }
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Errors of the pipeline runner.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The pipeline file (or a `--set`) is invalid; nothing ran.
    #[error("{0}")]
    Invalid(Diagnostics),

    /// No pipeline file found for a name.
    #[error("no pipeline `{name}`: looked for {}", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// The name asked for.
        name: String,
        /// The paths tried.
        looked: Vec<PathBuf>,
    },

    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `renaming`, …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The lock file exists but cannot be read.
    #[error("{}: not a birds lock file ({reason})\n  help: delete it to rerun every stage (the lock only records what ran)", path.display())]
    BadLockFile {
        /// The lock file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// Another `birds run` holds the pipeline's run lock and `--no-wait` was given.
    #[error(
        "pipeline `{pipeline}` is being run by another `birds run` ({holder}); try again when it finishes, or drop --no-wait to wait for it"
    )]
    Busy {
        /// The pipeline name.
        pipeline: String,
        /// Who holds the lock (pid, start time), as recorded in the lock file.
        holder: String,
    },

    /// A built-in stage could not name the files it reads beyond its deps.
    #[error("stage `{stage}`: {message}")]
    ImplicitDeps {
        /// The stage.
        stage: String,
        /// What could not be resolved.
        message: String,
    },

    /// Processes of a stage of an earlier, killed run still hold the stage's lock and could not be stopped.
    #[error(
        "stage `{stage}`: processes of an earlier `birds run` that was killed are still running (process group {pgid}, holding {}) and could not be stopped; kill them (`kill -9 -- -{pgid}`) and run again",
        path.display()
    )]
    StageBusy {
        /// The stage.
        stage: String,
        /// The process group recorded for it.
        pgid: i32,
        /// The stage lock file.
        path: PathBuf,
    },

    /// A selected stage name does not exist.
    #[error("no stage `{name}` in {}; stages: {}", file.display(), known.join(", "))]
    UnknownStage {
        /// The name given on the command line.
        name: String,
        /// The pipeline file.
        file: PathBuf,
        /// The stage names that exist.
        known: Vec<String>,
    },

    /// One or more stages failed; the lock file records only the stages that succeeded.
    #[error("{} {} failed (logs in {})", if failures.len() == 1 { "stage" } else { "stages" }, failures.iter().map(|(s, _)| format!("`{s}`")).collect::<Vec<_>>().join(", "), logs.display())]
    StagesFailed {
        /// Per failed stage: its name and what went wrong.
        failures: Vec<(String, String)>,
        /// The folder of the stage logs.
        logs: PathBuf,
    },
}

impl PipelineError {
    /// Shorthand for [`PipelineError::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with [`PipelineError`].
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
