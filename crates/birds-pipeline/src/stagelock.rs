//! No writer of a killed run left behind.
//!
//! Each command stage runs in a process group of its own, and holds an exclusive `flock` on
//! `artifacts/<pipeline>/.cache/stages/<stage>.lock` through a file descriptor its processes inherit. When the
//! command exits, birds kills what is left of its group; on SIGINT, SIGTERM or SIGHUP to birds, the groups of the
//! running stages are killed before birds exits. A `kill -9` of birds gives it no chance, so a background child of
//! the stage may live on, still holding the lock: the next `birds run` finds the lock taken, kills the holders and
//! the process group recorded in the file, and only then restores the outs and decides what is up to date. If the
//! lock cannot be taken within [`STOP_WAIT`], the run stops with a message naming the process group.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{PipelineError, Result};

/// How long the next run waits for the processes it killed to let go of the lock.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// The writer lock of one command stage, held while the stage runs (and by its processes).
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock at `path`, first stopping the processes of a killed run that still hold it.
    pub fn acquire(path: &Path, stage: &str) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| PipelineError::io("creating folder", dir, e))?;
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| PipelineError::io("opening", path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pgid = text
                    .trim()
                    .strip_prefix("pgid ")
                    .and_then(|n| n.parse::<i32>().ok())
                    .filter(|&n| n > 1);
                tracing::warn!(
                    stage,
                    pgid,
                    "processes of an earlier, killed `birds run` of this stage are still running; stopping them before its outs are trusted"
                );
                stop_holders(path, pgid);
                let start = Instant::now();
                loop {
                    match file.try_lock() {
                        Ok(()) => break,
                        Err(TryLockError::WouldBlock) if start.elapsed() < STOP_WAIT => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(TryLockError::WouldBlock) => {
                            return Err(PipelineError::StageBusy {
                                stage: stage.to_string(),
                                pgid: pgid.unwrap_or(0),
                                path: path.to_path_buf(),
                            });
                        }
                        Err(TryLockError::Error(e)) => {
                            return Err(PipelineError::io("locking", path, e));
                        }
                    }
                }
            }
            Err(TryLockError::Error(e)) => return Err(PipelineError::io("locking", path, e)),
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Notes the process group of the running stage in the lock file (for the next run, should birds be killed).
    pub fn record(&mut self, pgid: u32) {
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = writeln!(self.file, "pgid {pgid}");
        let _ = self.file.flush();
    }

    /// The descriptor the stage's processes inherit.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

// Dropping closes birds's descriptor only: the lock stays held while a process of the stage still has it open
// (an explicit unlock would release it for them too), which is what the next run looks for.

/// Kills the processes that have `path` open (Linux: found in `/proc/*/fd`) and the process group `pgid`, when a
/// process of that group holds it (so a recycled group id is never hit).
fn stop_holders(path: &Path, pgid: Option<i32>) {
    let holders = holders(path);
    for &(pid, pgrp) in &holders {
        if Some(pgrp) == pgid {
            kill_group(pgrp);
        }
        kill_pid(pid);
    }
    if holders.is_empty()
        && let Some(g) = pgid
    {
        // No /proc to look in: the recorded group is the best there is.
        if !Path::new("/proc/self/fd").exists() {
            kill_group(g);
        }
    }
}

/// (pid, process group) of every process with an open descriptor on `path`.
fn holders(path: &Path) -> Vec<(i32, i32)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::metadata(fd.path())
                .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
        });
        if !holds {
            continue;
        }
        // /proc/PID/stat: `pid (comm) state ppid pgrp …`; comm may contain spaces and parentheses.
        let pgrp = std::fs::read_to_string(p.path().join("stat"))
            .ok()
            .and_then(|s| {
                let rest = &s[s.rfind(')')? + 1..];
                rest.split_whitespace().nth(2)?.parse::<i32>().ok()
            })
            .unwrap_or(0);
        out.push((pid, pgrp));
    }
    out
}

/// SIGKILL to process group `pgid` (ignored when it is gone).
#[allow(unsafe_code)]
pub fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

#[allow(unsafe_code)]
fn kill_pid(pid: i32) {
    if pid > 1 {
        // SAFETY: kill(2) on a pid; no memory of ours is involved.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Process groups of the stages running now, for the signal handler (0 = free slot).
static RUNNING: [AtomicI32; 1024] = [const { AtomicI32::new(0) }; 1024];

/// The process group of a running stage, registered for [`install_signal_handlers`] until dropped (which kills
/// what is left of the group).
#[derive(Debug)]
pub struct RunningGroup {
    pgid: i32,
    slot: Option<usize>,
}

impl RunningGroup {
    /// Registers `pgid`.
    pub fn new(pgid: u32) -> Self {
        let pgid = i32::try_from(pgid).unwrap_or(0);
        let slot = RUNNING.iter().position(|s| {
            s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        Self { pgid, slot }
    }
}

impl Drop for RunningGroup {
    fn drop(&mut self) {
        kill_group(self.pgid);
        if let Some(s) = self.slot {
            RUNNING[s].store(0, Ordering::SeqCst);
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    for s in &RUNNING {
        let g = s.load(Ordering::SeqCst);
        if g > 1 {
            kill_group(g);
        }
    }
    reraise(sig);
}

#[allow(unsafe_code)]
fn reraise(sig: libc::c_int) {
    // SAFETY: signal(2) and raise(3) are async-signal-safe; with the default action restored the signal ends the
    // process as it would have without the handler.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// On SIGINT, SIGTERM and SIGHUP: kill the process groups of the running stages, then die of the signal as
/// before. (The stages' groups are not the terminal's, so Ctrl-C reaches only birds.) Installed once.
#[allow(unsafe_code)]
pub fn install_signal_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction is valid; the handler only reads atomics and calls async-signal-safe
            // functions (kill, signal, raise).
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
                {
                    continue; // `nohup birds run`: keep ignoring it
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    });
}
