//! The harness shared by every test binary that drives the real `birds` binary (modelled on ripgrep's
//! `tests/util.rs`): a project folder (a fresh temporary one, or an existing folder) and `birds` run inside it.
//!
//! Each test binary includes it with `mod util;` (`#[path = "../util/mod.rs"] mod util;` from a folder suite).
//! `birds` is spawned only from here: [`Project::command`] and [`Project::command_in`] build every invocation.
//!
//! On failure every checking helper ([`Project::ok`], [`Project::fails`], [`Project::fails_any`], …) returns an error
//! that shows what was expected, the command line (with the environment it changed), the working folder, the exit
//! status, stdout, stderr and a bounded listing of the project folder, so that a failing case can be read without
//! rerunning it. A temporary project whose case failed (an error from a helper, [`Project::explain`], or a panic) is
//! kept on disk rather than removed, so that the folder the message names can be inspected.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// The error type of the cases.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The `birds` binary under test.
pub const BIRDS: &str = env!("CARGO_BIN_EXE_birds");

/// At most this many lines of the folder listing go into a failure message.
pub const LISTING_LINES: usize = 200;

enum Folder {
    /// Removed on drop, unless a case failed in it.
    Temp(tempfile::TempDir),
    /// Someone else's folder: never removed.
    Existing(PathBuf),
}

/// A project: `pipelines/`, data and artifacts live below [`Project::root`], and `birds` runs there.
pub struct Project {
    folder: Folder,
    /// Set for every command: `(name, Some(value))` sets, `(name, None)` removes.
    envs: Vec<(String, Option<String>)>,
    failed: AtomicBool,
}

impl Project {
    /// An empty temporary project with a `pipelines/` folder.
    pub fn new() -> TestResult<Self> {
        let p = Self::bare()?;
        std::fs::create_dir_all(p.path("pipelines"))?;
        Ok(p)
    }

    /// An empty temporary folder (no `pipelines/`).
    pub fn bare() -> TestResult<Self> {
        Ok(Self::with_folder(Folder::Temp(tempfile::tempdir()?)))
    }

    /// A project in an existing folder, which is used as it is and never removed.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self::with_folder(Folder::Existing(dir.into()))
    }

    fn with_folder(folder: Folder) -> Self {
        Self {
            folder,
            envs: vec![("RUST_LOG".into(), None)],
            failed: AtomicBool::new(false),
        }
    }

    /// Sets `key=value` in the environment of every command (`RUST_LOG` is removed unless set here).
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.envs.retain(|(k, _)| k != key);
        self.envs.push((key.into(), Some(value.into())));
        self
    }

    /// Removes `key` from the environment of every command.
    pub fn without_env(mut self, key: &str) -> Self {
        self.envs.retain(|(k, _)| k != key);
        self.envs.push((key.into(), None));
        self
    }

    /// The project folder.
    pub fn root(&self) -> &Path {
        match &self.folder {
            Folder::Temp(d) => d.path(),
            Folder::Existing(p) => p,
        }
    }

    /// `rel` below the project folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
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

    /// `birds ARGS` with the project as working folder and the project's environment (no `RUST_LOG`).
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_at(self.root(), args)
    }

    /// `birds ARGS` with `rel` below the project as working folder (`""` is the project itself).
    pub fn command_in(&self, rel: &str, args: &[&str]) -> Command {
        self.command_at(&self.path(rel), args)
    }

    fn command_at(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(BIRDS);
        c.args(args).current_dir(cwd);
        for (k, v) in &self.envs {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// Runs `birds ARGS` to completion, whatever its exit status.
    pub fn birds(&self, args: &[&str]) -> std::io::Result<Output> {
        self.command(args).output()
    }

    /// Runs `birds ARGS` and returns its output if it succeeded, else an error with everything a reader needs.
    pub fn ok(&self, args: &[&str]) -> TestResult<Output> {
        self.ok_with(&mut self.command(args))
    }

    /// [`Project::ok`] for a prepared command (another working folder, environment, stdio).
    pub fn ok_with(&self, cmd: &mut Command) -> TestResult<Output> {
        let out = cmd.output()?;
        self.expect_success(cmd, out)
    }

    /// [`Project::ok`] with `input` written to the command's stdin.
    pub fn ok_stdin(&self, args: &[&str], input: &[u8]) -> TestResult<Output> {
        let mut cmd = self.command(args);
        let out = output_with_stdin(&mut cmd, input)?;
        self.expect_success(&cmd, out)
    }

    fn expect_success(&self, cmd: &Command, out: Output) -> TestResult<Output> {
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.explain_command(cmd, &out, "expected success").into())
        }
    }

    /// Runs `birds ARGS`, which must fail cleanly (non-zero exit, no panic), and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> TestResult<String> {
        self.fails_with(&mut self.command(args))
    }

    /// [`Project::fails`] for a prepared command.
    pub fn fails_with(&self, cmd: &mut Command) -> TestResult<String> {
        let out = cmd.output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            return Err(self.explain_command(cmd, &out, "expected failure").into());
        }
        if out.status.code() == Some(101) || stderr.contains("panicked") {
            return Err(self
                .explain_command(cmd, &out, "expected a clean failure, got a panic")
                .into());
        }
        Ok(stderr)
    }

    /// Runs `birds ARGS`, which must exit unsuccessfully (a panic counts too), and returns its whole output.
    pub fn fails_any(&self, args: &[&str]) -> TestResult<Output> {
        self.fails_any_with(&mut self.command(args))
    }

    /// [`Project::fails_any`] for a prepared command.
    pub fn fails_any_with(&self, cmd: &mut Command) -> TestResult<Output> {
        let out = cmd.output()?;
        if out.status.success() {
            return Err(self.explain_command(cmd, &out, "expected failure").into());
        }
        Ok(out)
    }

    /// A failure message for `birds ARGS` run in the project: see [`Project::explain_command`].
    pub fn explain(&self, args: &[&str], out: &Output, what: &str) -> String {
        self.explain_command(&self.command(args), out, what)
    }

    /// A failure message: what was expected, the command line and the environment it changed, the working folder,
    /// the exit status, stdout, stderr and a listing of the project folder (at most [`LISTING_LINES`] lines). Marks
    /// the project as failed, so that a temporary one is kept.
    pub fn explain_command(&self, cmd: &Command, out: &Output, what: &str) -> String {
        self.failed.store(true, Ordering::Relaxed);
        let cwd = cmd.get_current_dir().map_or_else(
            || "(the test's own)".to_string(),
            |d| d.display().to_string(),
        );
        let kept = match self.folder {
            Folder::Temp(_) => " (kept after this failure)",
            Folder::Existing(_) => "",
        };
        format!(
            "{what}: {}\nenv: {}\nworking folder: {cwd}\nproject: {}{kept}\nstatus: {}\n\
             --- stdout\n{}\n--- stderr\n{}\n--- files\n{}",
            command_line(cmd),
            environment(cmd),
            self.root().display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            listing_bounded(self.root(), LISTING_LINES)
        )
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let failed = self.failed.load(Ordering::Relaxed) || std::thread::panicking();
        if let Folder::Temp(d) = &mut self.folder
            && failed
        {
            d.disable_cleanup(true);
            eprintln!("test project kept at {}", d.path().display());
        }
    }
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so that a chatty child cannot deadlock it).
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    // A child that exits without reading all of its input is not the harness's error.
    let _ = writer.join();
    Ok(out)
}

/// stdout then stderr of `out`, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `cmd` as a shell would read it: the program's file name, then each argument (quoted where needed).
pub fn command_line(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The environment changes `cmd` makes (`KEY=value`, `-KEY` for a removal), or "(inherited)".
fn environment(cmd: &Command) -> String {
    let mut changes: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", k.to_string_lossy(), quote(v)),
            None => format!("-{}", k.to_string_lossy()),
        })
        .collect();
    changes.sort();
    if changes.is_empty() {
        "(inherited)".into()
    } else {
        changes.join(" ")
    }
}

/// Every path below `dir` (symlinks shown, not followed), one a line, sorted; folders end in `/`.
pub fn listing(dir: &Path) -> String {
    entries(dir).join("\n")
}

/// [`listing`] cut to its first `max_lines` lines, with a last line saying how many were left out.
pub fn listing_bounded(dir: &Path, max_lines: usize) -> String {
    let all = entries(dir);
    if all.is_empty() {
        return "(empty or unreadable)".into();
    }
    if all.len() <= max_lines {
        return all.join("\n");
    }
    let mut shown = all[..max_lines].join("\n");
    shown.push_str(&format!("\n… and {} more", all.len() - max_lines));
    shown
}

fn entries(dir: &Path) -> Vec<String> {
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
    out
}

/// A tiny Kaggle-layout dataset: 2 species × 3 splits × 2 small PNGs with distinct patterns.
/// A tiny labelled dataset in the Kaggle layout: two species, `per_class` generated 24×24 PNGs each in every split.
pub fn tiny_dataset(root: &Path, per_class: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut seed = 0u32;
    for split in ["train", "valid", "test"] {
        for species in ["MALLARD DUCK", "CEDAR WAXWING"] {
            for k in 0..per_class {
                seed += 1;
                let img = image::RgbImage::from_fn(24, 24, |x, y| {
                    let v = (x * (seed + 3) + y * (seed * 7 + 1) + (x * y) % (seed + 2)) % 256;
                    image::Rgb([v as u8, (255 - v) as u8, ((v * 3) % 256) as u8])
                });
                let path = root.join(split).join(species).join(format!("{k}.png"));
                std::fs::create_dir_all(path.parent().unwrap_or(root))?;
                img.save(&path)?;
            }
        }
    }
    Ok(())
}
