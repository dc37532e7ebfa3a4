//! `birds run`: picks the stages, runs the stale ones (independent ones in parallel), records them in the lock.
//!
//! Safety rules:
//! - a built-in stage writes into an empty temporary sibling of its out folder (`.<out>.tmp-<pid>`), renamed into
//!   place only when [`Stage::run`](birds_core::stage::Stage::run) returns `Ok`;
//! - a `cmd:` stage's previous outs are moved aside (`.<out>.birds-prev`) before the command starts; on success
//!   they are deleted, on failure the partial outs are deleted and the previous ones moved back. If birds itself is
//!   killed, the next run finds the `.birds-prev` copies and restores them before doing anything else;
//! - the lock file gets a stage's entry only after its outs are in place, and is rewritten atomically;
//! - an out that exists but that birds did not write is not replaced without `--overwrite-outs` ([`crate::owned`]);
//! - each command runs in a process group of its own, killed when the command exits and when birds gets SIGINT,
//!   SIGTERM or SIGHUP; the shell gets `SIGKILL` when birds dies (`PR_SET_PDEATHSIG`), and what survives a
//!   `kill -9` of birds is found and stopped by the next run through the stage's writer lock ([`crate::stagelock`]).

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Instant, SystemTime};

use birds_core::stage::{StageContext, StageProcess, StageRequest, error_chain};

use crate::error::{PipelineError, Result};
use crate::hash::HashCache;
use crate::lockfile::{LockFile, StageLock};
use crate::model::{Action, Pipeline, ProjectPath, StageDef};
use crate::owned::Ownership;
use crate::runlock::RunLock;
use crate::stagelock::{RunningGroup, WriterLock};
use crate::status::{Assessment, Reason, assess, plan};
use crate::util::rfc3339;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `birds run PIPELINE TARGET…`: these stages and everything upstream of them (the stale ones run).
    pub targets: Vec<String>,
    /// `--stage`: only these stages (plus their downstream with `downstream`).
    pub stages: Vec<String>,
    /// `--from`: these stages, forced, and everything downstream of them.
    pub from: Vec<String>,
    /// `--downstream`: add the stages downstream of `stages`.
    pub downstream: bool,
    /// `--force`: run the selected stages even when up to date.
    pub force: bool,
    /// `--dry-run`: say what would run, run nothing.
    pub dry_run: bool,
    /// `-j`: stages run at once (at least 1).
    pub jobs: usize,
    /// Wait for another `birds run` of the same pipeline (else fail at once).
    pub wait: bool,
    /// `--overwrite-outs`: replace outs that exist although birds did not write them.
    pub overwrite_outs: bool,
}

/// What the runner reports while it works.
#[derive(Debug, Clone)]
pub enum Event {
    /// Another run holds the pipeline; this one waits.
    Waiting {
        /// Who holds it.
        holder: String,
    },
    /// A stage upstream of a `--stage` selection is stale and will not run now.
    UpstreamStale {
        /// The selected stage.
        stage: String,
        /// The stale upstream stage.
        upstream: String,
        /// Why it is stale.
        reasons: Vec<Reason>,
    },
    /// Up to date: skipped.
    UpToDate {
        /// Stage.
        stage: String,
    },
    /// `--dry-run`: would run.
    WouldRun {
        /// Stage.
        stage: String,
        /// Why.
        reasons: Vec<Reason>,
    },
    /// Started.
    Started {
        /// Stage.
        stage: String,
        /// Why it runs.
        reasons: Vec<Reason>,
    },
    /// Succeeded.
    Finished {
        /// Stage.
        stage: String,
        /// Wall time.
        seconds: f64,
    },
    /// Failed (outs not recorded; previous outs restored).
    Failed {
        /// Stage.
        stage: String,
        /// What went wrong (with the log's last lines for commands).
        error: String,
        /// The stage's log.
        log: PathBuf,
    },
    /// Not started because an earlier stage failed.
    NotStarted {
        /// Stage.
        stage: String,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Stages that ran and succeeded.
    pub ran: Vec<String>,
    /// Stages found up to date.
    pub up_to_date: Vec<String>,
    /// Stages that would run (`--dry-run`).
    pub would_run: Vec<String>,
    /// Files read to hash them (0 on a no-op rerun with a warm memo).
    pub files_hashed: u64,
}

/// The selected stages and those forced to run.
pub fn select(p: &Pipeline<'_>, opts: &RunOptions) -> Result<(BTreeSet<usize>, BTreeSet<usize>)> {
    let idx = |name: &String| {
        p.index_of(name).ok_or_else(|| PipelineError::UnknownStage {
            name: name.clone(),
            file: p.file.clone(),
            known: p.stages.iter().map(|s| s.name.clone()).collect(),
        })
    };
    let stages: BTreeSet<usize> = opts.stages.iter().map(idx).collect::<Result<_>>()?;
    let from: BTreeSet<usize> = opts.from.iter().map(idx).collect::<Result<_>>()?;
    if !opts.targets.is_empty() {
        let targets: BTreeSet<usize> = opts.targets.iter().map(idx).collect::<Result<_>>()?;
        let mut selected = p.all_upstream(&targets);
        selected.extend(&targets);
        let forced = if opts.force {
            selected.clone()
        } else {
            BTreeSet::new()
        };
        return Ok((selected, forced));
    }
    let mut selected = if opts.downstream {
        p.with_downstream(&stages)
    } else {
        stages
    };
    selected.extend(p.with_downstream(&from));
    if opts.stages.is_empty() && opts.from.is_empty() {
        selected = (0..p.stages.len()).collect();
    }
    let forced = if opts.force { selected.clone() } else { from };
    Ok((selected, forced))
}

/// Runs the pipeline. `on_event` is called from worker threads.
pub fn run(
    p: &Pipeline<'_>,
    opts: &RunOptions,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<RunSummary> {
    let (selected, forced) = select(p, opts)?;
    let cache = HashCache::for_pipeline(p);
    let mut summary = RunSummary::default();

    if opts.dry_run {
        let lock = LockFile::read(&p.lock_path())?;
        let owned = Ownership::load(p, &lock, opts.overwrite_outs);
        warn_upstream(p, &lock, &cache, &owned, &selected, on_event)?;
        for (i, a) in plan(p, &lock, &cache, &owned, &selected, &forced)? {
            let stage = p.stages[i].name.clone();
            if a.reasons.is_empty() {
                summary.up_to_date.push(stage.clone());
                on_event(Event::UpToDate { stage });
            } else {
                summary.would_run.push(stage.clone());
                on_event(Event::WouldRun {
                    stage,
                    reasons: a.reasons,
                });
            }
        }
        summary.files_hashed = cache.files_hashed();
        let _ = cache.save();
        return Ok(summary);
    }

    let _guard = RunLock::acquire(
        &p.cache_dir().join("run.lock"),
        &p.name,
        opts.wait,
        |holder| {
            on_event(Event::Waiting {
                holder: holder.to_string(),
            })
        },
    )?;
    // Read the lock only now: a run we waited for may have just written it.
    let mut lock = LockFile::read(&p.lock_path())?;
    // Before the lock forgets removed stages: outs they recorded were written by birds.
    let owned = Ownership::load(p, &lock, opts.overwrite_outs);
    let names: HashSet<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
    lock.stages.retain(|name, _| names.contains(name.as_str()));
    crate::stagelock::install_signal_handlers();
    // Writers left by a killed run (command stages, and built-in stages run in a process of their own) die before
    // any out is restored or trusted.
    for s in &p.stages {
        let path = writer_lock_path(p, &s.name);
        if path.exists() {
            drop(WriterLock::acquire(&path, &s.name)?);
        }
    }
    for i in &selected {
        recover(&p.stages[*i])?;
    }
    warn_upstream(p, &lock, &cache, &owned, &selected, on_event)?;

    let shared = Shared {
        p,
        cache: &cache,
        owned: &owned,
        forced: &forced,
        lock: Mutex::new(lock),
        on_event,
    };
    let outcome = schedule(&shared, &selected, opts.jobs.max(1));
    if selected.len() == p.stages.len() {
        let mut keep: Vec<PathBuf> = Vec::new();
        for s in &p.stages {
            keep.extend(s.dep_paths().into_iter().map(|d| d.abs.clone()));
            keep.extend(s.outs.iter().map(|o| o.abs.clone()));
            keep.extend(
                p.implicit_deps(s)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.1),
            );
        }
        cache.retain_under(&keep);
    }
    cache.save()?;
    summary.files_hashed = cache.files_hashed();
    for (i, o) in outcome.iter().enumerate() {
        match o {
            Outcome::Ran => summary.ran.push(p.stages[i].name.clone()),
            Outcome::UpToDate => summary.up_to_date.push(p.stages[i].name.clone()),
            _ => {}
        }
    }
    let failures: Vec<(String, String)> = outcome
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Failed(msg) => Some((p.stages[i].name.clone(), msg.clone())),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        for (i, o) in outcome.iter().enumerate() {
            if matches!(o, Outcome::Pending) && selected.contains(&i) {
                on_event(Event::NotStarted {
                    stage: p.stages[i].name.clone(),
                });
            }
        }
        return Err(PipelineError::StagesFailed {
            failures,
            logs: p.logs_dir(),
        });
    }
    Ok(summary)
}

/// With `--stage`, says which upstream stages (not selected) are stale.
fn warn_upstream(
    p: &Pipeline<'_>,
    lock: &LockFile,
    cache: &HashCache,
    owned: &Ownership,
    selected: &BTreeSet<usize>,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<()> {
    let upstream: BTreeSet<usize> = p
        .all_upstream(selected)
        .difference(selected)
        .copied()
        .collect();
    if upstream.is_empty() {
        return Ok(());
    }
    let stale: Vec<(usize, Assessment)> = plan(p, lock, cache, owned, &upstream, &BTreeSet::new())?
        .into_iter()
        .filter(|(_, a)| !a.reasons.is_empty())
        .collect();
    for (u, a) in stale {
        let dependants = p.with_downstream(&BTreeSet::from([u]));
        if let Some(&s) = selected.iter().find(|s| dependants.contains(s)) {
            on_event(Event::UpstreamStale {
                stage: p.stages[s].name.clone(),
                upstream: p.stages[u].name.clone(),
                reasons: a.reasons,
            });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pending,
    Ran,
    UpToDate,
    Failed(String),
}

struct Shared<'a, 'r> {
    p: &'a Pipeline<'r>,
    cache: &'a HashCache,
    owned: &'a Ownership,
    forced: &'a BTreeSet<usize>,
    lock: Mutex<LockFile>,
    on_event: &'a (dyn Fn(Event) + Sync),
}

fn lock(m: &Mutex<Sched>) -> std::sync::MutexGuard<'_, Sched> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Sched {
    pending_upstream: Vec<usize>,
    ready: BTreeSet<usize>,
    running: usize,
    finished: usize,
    abort: bool,
    outcome: Vec<Outcome>,
}

fn schedule(shared: &Shared<'_, '_>, selected: &BTreeSet<usize>, jobs: usize) -> Vec<Outcome> {
    let p = shared.p;
    let n = p.stages.len();
    let pending_upstream: Vec<usize> = (0..n)
        .map(|i| {
            p.upstream[i]
                .iter()
                .filter(|u| selected.contains(u))
                .count()
        })
        .collect();
    let ready = selected
        .iter()
        .copied()
        .filter(|&i| pending_upstream[i] == 0)
        .collect();
    let state = Mutex::new(Sched {
        pending_upstream,
        ready,
        running: 0,
        finished: 0,
        abort: false,
        outcome: vec![Outcome::Pending; n],
    });
    let cv = Condvar::new();
    let total = selected.len();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(total.max(1)) {
            scope.spawn(|| {
                loop {
                    let next = {
                        let mut st = lock(&state);
                        loop {
                            if st.finished == total || (st.abort && st.running == 0) {
                                break None;
                            }
                            if !st.abort
                                && let Some(i) = st.ready.pop_first()
                            {
                                st.running += 1;
                                break Some(i);
                            }
                            st = cv
                                .wait(st)
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                    };
                    let Some(i) = next else {
                        cv.notify_all();
                        return;
                    };
                    let result = process(shared, i);
                    let mut st = lock(&state);
                    st.running -= 1;
                    st.finished += 1;
                    match &result {
                        Outcome::Failed(_) => st.abort = true,
                        _ => {
                            for &d in &p.downstream[i] {
                                if selected.contains(&d) {
                                    st.pending_upstream[d] -= 1;
                                    if st.pending_upstream[d] == 0 {
                                        st.ready.insert(d);
                                    }
                                }
                            }
                        }
                    }
                    st.outcome[i] = result;
                    drop(st);
                    cv.notify_all();
                }
            });
        }
    });
    lock(&state).outcome.clone()
}

/// Decides whether stage `i` must run, runs it, records it.
fn process(shared: &Shared<'_, '_>, i: usize) -> Outcome {
    let p = shared.p;
    let stage = &p.stages[i];
    let log = p.log_path(&stage.name);
    let fail = |error: String| {
        (shared.on_event)(Event::Failed {
            stage: stage.name.clone(),
            error: error.clone(),
            log: log.clone(),
        });
        Outcome::Failed(error)
    };
    let entry = {
        let lock = shared
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lock.stages.get(&stage.name).cloned()
    };
    let mut a = match assess(p, stage, entry.as_ref(), shared.cache, shared.owned) {
        Ok(a) => a,
        Err(e) => return fail(e.to_string()),
    };
    if shared.forced.contains(&i) {
        a.reasons.insert(0, Reason::Forced);
    }
    if a.reasons.is_empty() {
        (shared.on_event)(Event::UpToDate {
            stage: stage.name.clone(),
        });
        return Outcome::UpToDate;
    }
    if let Some(missing) = stage.dep_paths().into_iter().find(|d| !d.abs.exists()) {
        let producer = p.upstream[i].iter().find(|&&u| {
            p.stages[u]
                .outs
                .iter()
                .any(|o| o.abs.starts_with(&missing.abs) || missing.abs.starts_with(&o.abs))
        });
        let hint = producer.map_or_else(String::new, |&u| {
            format!(
                "; it is made by stage `{}`: run it first (or drop --stage)",
                p.stages[u].name
            )
        });
        return fail(format!("dep `{}` does not exist{hint}", missing.rel));
    }
    if let Some(Reason::ForeignOut { path }) = a
        .reasons
        .iter()
        .find(|r| matches!(r, Reason::ForeignOut { .. }))
    {
        return fail(format!(
            "out `{path}` exists and birds did not write it (no run of this pipeline recorded it), so the stage did not run and it is left as it is; move or delete it, or rerun with --overwrite-outs to let the stage replace it"
        ));
    }
    // From here on the outs are birds's: a killed run's partial outs are replaced, not refused, next time.
    if let Err(e) = shared.owned.claim(&stage.outs) {
        return fail(e.to_string());
    }
    (shared.on_event)(Event::Started {
        stage: stage.name.clone(),
        reasons: a.reasons.clone(),
    });
    let started = SystemTime::now();
    let clock = Instant::now();
    let result = match &stage.action {
        Action::Cmd { cmd, .. } => run_cmd(p, stage, cmd, &log),
        Action::Builtin { .. } => run_builtin(p, stage, &log),
    };
    let seconds = clock.elapsed().as_secs_f64();
    shared.cache.forget_folders();
    if let Err(e) = result {
        return fail(e);
    }
    // Record: out digests, then the lock entry.
    let mut outs = std::collections::BTreeMap::new();
    for o in &stage.outs {
        match shared.cache.digest(&o.abs) {
            Ok(d) => {
                outs.insert(o.rel.clone(), d);
            }
            Err(e) => return fail(e.to_string()),
        }
    }
    let entry = StageLock {
        key: a.key,
        definition: a.definition,
        uses: match &stage.action {
            Action::Builtin { uses, .. } => Some(uses.clone()),
            Action::Cmd { .. } => None,
        },
        cmd: match &stage.action {
            Action::Cmd { cmd, .. } => Some(cmd.clone()),
            Action::Builtin { .. } => None,
        },
        params: stage.params.clone(),
        deps: a.deps,
        outs,
        implicit: a.implicit,
        birds: birds_core::VERSION.to_string(),
        started: rfc3339(started),
        duration_s: (seconds * 1000.0).round() / 1000.0,
    };
    {
        let mut lock = shared
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lock.stages.insert(stage.name.clone(), entry);
        if let Err(e) = lock.write(&p.lock_path()) {
            drop(lock);
            return fail(e.to_string());
        }
    }
    (shared.on_event)(Event::Finished {
        stage: stage.name.clone(),
        seconds,
    });
    Outcome::Ran
}

/// `.<name><suffix>` beside `path`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Undoes what a killed run left: restores `.birds-prev` copies over partial outs, removes temp folders.
fn recover(stage: &StageDef<'_>) -> Result<()> {
    for out in &stage.outs {
        let prev = sibling(&out.abs, ".birds-prev");
        if std::fs::symlink_metadata(&prev).is_ok() {
            tracing::warn!(stage = %stage.name, out = %out.rel, "restoring the outs of an interrupted run");
            remove_any(&out.abs).map_err(|e| PipelineError::io("removing", &out.abs, e))?;
            std::fs::rename(&prev, &out.abs)
                .map_err(|e| PipelineError::io("restoring", &prev, e))?;
        }
        let Some(dir) = out.abs.parent() else {
            continue;
        };
        let Some(name) = out
            .abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if fname.starts_with(&format!(".{name}.tmp-"))
                || fname.starts_with(&format!(".{name}.old-"))
            {
                let _ = remove_any(&e.path());
            }
        }
    }
    Ok(())
}

fn open_log(log: &Path, header: &str) -> std::result::Result<File, String> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut f = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    f.write_all(header.as_bytes())
        .map_err(|e| format!("writing {}: {e}", log.display()))?;
    Ok(f)
}

fn log_header(p: &Pipeline<'_>, stage: &StageDef<'_>) -> String {
    format!(
        "# birds {}: pipeline `{}`, stage `{}` ({}), started {}\n# params: {}\n",
        birds_core::VERSION,
        p.name,
        stage.name,
        stage.action.describe(),
        rfc3339(SystemTime::now()),
        stage.params
    )
}

fn run_cmd(
    p: &Pipeline<'_>,
    stage: &StageDef<'_>,
    cmd: &str,
    log: &Path,
) -> std::result::Result<(), String> {
    let mut log_file = open_log(log, &log_header(p, stage))?;
    let _ = log_file.flush();
    let mut writer = WriterLock::acquire(&writer_lock_path(p, &stage.name), &stage.name)
        .map_err(|e| e.to_string())?;
    // Move previous outs aside; make the outs' folders.
    let mut moved: Vec<(&ProjectPath, PathBuf)> = Vec::new();
    for out in &stage.outs {
        let prev = sibling(&out.abs, ".birds-prev");
        if std::fs::symlink_metadata(&out.abs).is_ok() {
            std::fs::rename(&out.abs, &prev)
                .map_err(|e| format!("moving aside {}: {e}", out.rel))?;
            moved.push((out, prev));
        }
        if let Some(dir) = out.abs.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
    }
    let mut command = Command::new("sh");
    command.arg("-c").arg(cmd);
    let result =
        spawn_and_wait(p, stage, command, "command", &log_file, &mut writer).and_then(|()| {
            match stage
                .outs
                .iter()
                .find(|o| std::fs::symlink_metadata(&o.abs).is_err())
            {
                Some(o) => Err(format!(
                    "the command succeeded but did not write out `{}`",
                    o.rel
                )),
                None => Ok(()),
            }
        });
    let _ = writeln!(
        log_file,
        "# {}",
        match &result {
            Ok(()) => String::from("done"),
            Err(e) => format!("failed: {e}"),
        }
    );
    match result {
        Ok(()) => {
            for (_, prev) in moved {
                let _ = remove_any(&prev);
            }
            Ok(())
        }
        Err(e) => {
            // Partial outs go; previous good outs come back.
            for out in &stage.outs {
                let _ = remove_any(&out.abs);
            }
            for (out, prev) in moved {
                let _ = std::fs::rename(&prev, &out.abs);
            }
            Err(format!("{e}{}", log_tail(log)))
        }
    }
}

/// `artifacts/<pipeline>/.cache/stages/<stage>.lock`: the writer lock of a command stage.
fn writer_lock_path(p: &Pipeline<'_>, stage: &str) -> PathBuf {
    p.cache_dir().join("stages").join(format!("{stage}.lock"))
}

/// Runs `command` (a `cmd:` stage's shell, or the process of a built-in stage) in a process group of its own, its
/// output into the stage's log, killed with birds; `what` names it in messages.
fn spawn_and_wait(
    p: &Pipeline<'_>,
    stage: &StageDef<'_>,
    mut command: Command,
    what: &str,
    log: &File,
    writer: &mut WriterLock,
) -> std::result::Result<(), String> {
    let out = log.try_clone().map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .current_dir(&p.root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .env("BIRDS_STAGE", &stage.name)
        .env("BIRDS_PIPELINE", &p.name)
        .env("BIRDS_ROOT", &p.root)
        .env("BIRDS_ARTIFACTS", &p.artifacts)
        .env("BIRDS_PARAMS", stage.params.to_string());
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    die_with_parent(&mut command, writer.fd());
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {what} `{program}`: {e}"))?;
    writer.record(child.id());
    // Dropped when the command is done: kills what it left running in its group.
    let group = RunningGroup::new(child.id());
    let status = child.wait();
    drop(group);
    let status = status.map_err(|e| format!("waiting for {what} `{program}`: {e}"))?;
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    Err(match (status.code(), status.signal()) {
        (Some(code), _) => format!("{what} exited with status {code}"),
        (None, Some(9)) => format!("{what} killed by signal 9 (SIGKILL: killed, or out of memory)"),
        (None, Some(6)) => format!("{what} aborted (signal 6, SIGABRT)"),
        (None, Some(sig)) => format!("{what} killed by signal {sig}"),
        _ => format!("{what} failed"),
    })
}

/// Asks the kernel to SIGKILL the child when this thread's process dies (Linux), and lets the child inherit
/// `keep_fd` (the stage's writer lock), which birds opened close-on-exec.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command, keep_fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: fcntl is async-signal-safe; the closure touches no Rust state.
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(keep_fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: fcntl, prctl and getppid are async-signal-safe; the closure touches no Rust state.
        let parent = std::process::id();
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(keep_fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl: then exit now.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
}

fn log_tail(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return String::new();
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.starts_with("# birds ") && !l.starts_with("# params:") && !l.starts_with("# failed:")
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(15)..];
    format!("\n  last lines of its log:\n    {}", tail.join("\n    "))
}

/// [`Stage::run`](birds_core::stage::Stage::run) in this process, a panic caught as an error.
fn run_in_process(
    imp: &dyn birds_core::stage::Stage,
    ctx: &StageContext<'_>,
) -> std::result::Result<(), String> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| imp.run(ctx)));
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(error_chain(e.as_ref())),
        Err(panic) => Err(format!(
            "stage panicked: {}",
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

/// A built-in stage in a process of its own ([`Stage::process`](birds_core::stage::Stage::process)): the context
/// goes to it as a [`StageRequest`] file, its output into the stage's log, and it runs under the stage's writer lock
/// like a command, so a run killed with birds is found and stopped next time. It fails with the message it wrote
/// (the same one the stage gives in-process), else with its exit status and the end of its log.
fn run_process(
    p: &Pipeline<'_>,
    stage: &StageDef<'_>,
    process: &StageProcess,
    ctx: &StageContext<'_>,
    log_file: &File,
    log: &Path,
) -> std::result::Result<(), String> {
    let Action::Builtin { uses, .. } = &stage.action else {
        return Err(String::from("not a built-in stage"));
    };
    let dir = p.cache_dir().join("stages");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let request_path = dir.join(format!("{}.request.json", stage.name));
    let error_file = dir.join(format!("{}.error.txt", stage.name));
    remove_any(&error_file).map_err(|e| format!("removing {}: {e}", error_file.display()))?;
    let request = StageRequest::new(uses, ctx, &error_file);
    let json = serde_json::to_vec_pretty(&request).map_err(|e| e.to_string())?;
    birds_core::atomic::write_bytes(&request_path, &json).map_err(|e| e.to_string())?;
    let mut writer = WriterLock::acquire(&writer_lock_path(p, &stage.name), &stage.name)
        .map_err(|e| e.to_string())?;
    let mut command = Command::new(&process.program);
    command.args(&process.args).arg(&request_path);
    let result = spawn_and_wait(p, stage, command, "stage process", log_file, &mut writer);
    let written = std::fs::read_to_string(&error_file).unwrap_or_default();
    let _ = remove_any(&error_file);
    let _ = remove_any(&request_path);
    result.map_err(|status| {
        let written = written.trim();
        if written.is_empty() {
            format!("{status}{}", log_tail(log))
        } else {
            written.to_string()
        }
    })
}

fn run_builtin(
    p: &Pipeline<'_>,
    stage: &StageDef<'_>,
    log: &Path,
) -> std::result::Result<(), String> {
    let Action::Builtin { stage: imp, .. } = &stage.action else {
        return Err(String::from("not a built-in stage"));
    };
    let mut log_file = open_log(log, &log_header(p, stage))?;
    let Some(out) = stage.outs.first() else {
        return Err(String::from("a built-in stage needs one out folder"));
    };
    let tmp = sibling(&out.abs, &format!(".tmp-{}", std::process::id()));
    remove_any(&tmp).map_err(|e| format!("removing {}: {e}", tmp.display()))?;
    std::fs::create_dir_all(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let inputs = stage.inputs();
    for (k, v) in &inputs {
        let _ = writeln!(log_file, "# input {k}: {}", v.display());
    }
    let ctx = StageContext {
        name: &stage.name,
        params: &stage.params,
        inputs: &inputs,
        out_dir: &tmp,
        root: &p.root,
    };
    let result = match imp.process() {
        Some(process) => {
            let _ = log_file.flush();
            run_process(p, stage, &process, &ctx, &log_file, log)
        }
        None => run_in_process(*imp, &ctx),
    };
    let result = result.and_then(|()| {
        // Swap into place: old aside, new in, old gone.
        let old = sibling(&out.abs, &format!(".old-{}", std::process::id()));
        let had_old = std::fs::symlink_metadata(&out.abs).is_ok();
        if had_old {
            std::fs::rename(&out.abs, &old)
                .map_err(|e| format!("moving aside {}: {e}", out.rel))?;
        } else if let Some(dir) = out.abs.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        std::fs::rename(&tmp, &out.abs).map_err(|e| {
            if had_old {
                let _ = std::fs::rename(&old, &out.abs);
            }
            format!("renaming into {}: {e}", out.rel)
        })?;
        if had_old {
            let _ = remove_any(&old);
        }
        Ok(())
    });
    let _ = writeln!(
        log_file,
        "# {}",
        match &result {
            Ok(()) => String::from("done"),
            Err(e) => format!("failed: {e}"),
        }
    );
    if result.is_err() {
        let _ = remove_any(&tmp);
    }
    result
}
