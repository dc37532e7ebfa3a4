//! The harness of the hostile-input suite: a temporary project folder and the `birds` binary run inside it.
//!
//! On failure every helper returns an error that shows the command, its exit status, stdout, stderr and a listing
//! of the project folder, so that a failing case can be read without rerunning it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The error type of the suite's cases.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A temporary project: `pipelines/`, data and artifacts live below [`Project::root`].
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// An empty project with a `pipelines/` folder.
    pub fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("pipelines"))?;
        Ok(Self { dir })
    }

    /// The project folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` below the project folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `body` to `rel`, creating folders.
    pub fn write(&self, rel: &str, body: impl AsRef<[u8]>) -> std::io::Result<PathBuf> {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, body)?;
        Ok(p)
    }

    /// The text of `rel`, or "" when it cannot be read.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// `birds ARGS` with the project as working folder and no `RUST_LOG`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_birds"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG");
        c
    }

    /// Runs `birds ARGS` to completion.
    pub fn birds(&self, args: &[&str]) -> std::io::Result<Output> {
        self.command(args).output()
    }

    /// Runs `birds ARGS` and returns its output if it succeeded, else an error with everything a reader needs.
    pub fn ok(&self, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        let out = self.birds(args)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.explain(args, &out, "expected success").into())
        }
    }

    /// Runs `birds ARGS`, which must fail (non-zero exit, no panic), and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        let out = self.birds(args)?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            return Err(self.explain(args, &out, "expected failure").into());
        }
        if out.status.code() == Some(101) || stderr.contains("panicked") {
            return Err(self
                .explain(args, &out, "expected a clean failure, got a panic")
                .into());
        }
        Ok(stderr)
    }

    /// A failure message: what was expected, the command, its status and output, and the project listing.
    pub fn explain(&self, args: &[&str], out: &Output, what: &str) -> String {
        format!(
            "{what}: birds {args:?} in {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}\n--- files\n{}",
            self.root().display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            listing(self.root())
        )
    }
}

/// Every path below `dir` (symlinks shown, not followed), one a line, sorted.
pub fn listing(dir: &Path) -> String {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
            match e.file_type() {
                Ok(t) if t.is_symlink() => out.push(format!("{rel} -> (link)")),
                Ok(t) if t.is_dir() => {
                    out.push(format!("{rel}/"));
                    walk(&p, base, out);
                }
                _ => out.push(rel),
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out.join("\n")
}
