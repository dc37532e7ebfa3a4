//! `birds` without libtorch: the front binary links none, the stages it runs itself never map it, torch commands go
//! to `birds-torch` with the same flags and exit codes, and a torch stage killed mid-run fails alone.

mod util;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use birds_pipeline::lockfile::LockFile;
use util::{BIRDS, Project, TestResult, text, tiny_dataset};

const BIRDS_TORCH: &str = env!("CARGO_BIN_EXE_birds-torch");

/// The shared libraries an executable needs (`ldd`).
fn ldd(exe: &str) -> TestResult<String> {
    let out = Command::new("ldd").arg(exe).output()?;
    assert!(out.status.success(), "ldd {exe}: {}", text(&out));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_front_links_no_libtorch_and_birds_torch_does() -> TestResult {
    let front = ldd(BIRDS)?;
    assert!(!front.contains("torch"), "birds links libtorch:\n{front}");
    assert!(!front.contains("c10"), "birds links libc10:\n{front}");
    let worker = ldd(BIRDS_TORCH)?;
    assert!(
        worker.contains("libtorch_cpu"),
        "birds-torch should link libtorch:\n{worker}"
    );
    Ok(())
}

/// The first stages of this suite's pipelines, which the runner runs in its own process.
const INGEST_AND_PREPROCESS: &str = r#"stages:
  - name: ingest
    uses: ingest
    deps: { data: data }
  - name: preprocess
    uses: preprocess
    deps: { index: ingest }
    params: { size: 16, margin: 0 }
"#;

/// The runner's own process after it ran ingest and preprocess in-process: `$PPID` of a `cmd:` stage is `birds`.
#[test]
fn ingest_and_preprocess_run_in_a_runner_that_never_maps_libtorch() -> TestResult {
    let p = Project::new()?;
    tiny_dataset(&p.path("data"), 3)?;
    p.write(
        "pipelines/p.yaml",
        INGEST_AND_PREPROCESS.to_string()
            + r#"  - name: maps
    cmd: cat /proc/$PPID/maps > out/maps.txt; cat /proc/$PPID/cmdline | tr '\0' ' ' > out/cmdline.txt
    deps: [preprocess]
    outs: [out/maps.txt, out/cmdline.txt]
"#,
    )?;
    std::fs::create_dir_all(p.path("out"))?;
    p.ok(&["run", "p"])?;
    assert!(p.path("artifacts/p/preprocess/cache.json").is_file());
    let cmdline = p.read("out/cmdline.txt");
    assert!(
        cmdline.starts_with(BIRDS) && cmdline.contains(" run p"),
        "the stage's parent is the runner: {cmdline}"
    );
    let maps = p.read("out/maps.txt");
    assert!(maps.contains(BIRDS), "the maps are the runner's:\n{maps}");
    assert!(
        !maps.contains("torch") && !maps.contains("libc10"),
        "the runner mapped libtorch:\n{maps}"
    );
    Ok(())
}

#[test]
fn torch_commands_go_to_birds_torch_with_their_help_flags_and_exit_codes() -> TestResult {
    let p = Project::bare()?;
    let help = p.ok(&["--help"])?;
    let listed = String::from_utf8_lossy(&help.stdout).into_owned();
    for command in [
        "info",
        "imagenet",
        "run",
        "status",
        "dag",
        "stages",
        "synth",
        "ingest",
        "preprocess",
        "train",
        "compare",
        "diagnose",
        "evaluate",
        "explain",
        "predict",
        "report",
        "export",
    ] {
        assert!(
            listed.contains(&format!("\n  {command} ")),
            "`birds --help` lists `{command}`:\n{listed}"
        );
    }
    // The torch command's own help, under the name the user typed.
    let train_help = p.ok(&["train", "--help"])?;
    let train_help = String::from_utf8_lossy(&train_help.stdout).into_owned();
    assert!(
        train_help.contains("Usage: birds train") && train_help.contains("--mode"),
        "{train_help}"
    );
    let help_train = p.ok(&["help", "train"])?;
    assert_eq!(
        String::from_utf8_lossy(&help_train.stdout),
        train_help,
        "`birds help train` is `birds train --help`"
    );
    // clap's usage error keeps its exit code (2), and a failing torch command its 1 and message.
    let bad_flag = p.birds(&["train", "--no-such-flag"])?;
    assert_eq!(bad_flag.status.code(), Some(2), "{}", text(&bad_flag));
    assert!(
        text(&bad_flag).contains("--no-such-flag"),
        "{}",
        text(&bad_flag)
    );
    let missing = p.birds(&[
        "evaluate",
        "--checkpoint",
        "no-such-checkpoint",
        "--cache",
        "no-such-cache",
        "--out",
        "out",
    ])?;
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing).contains("no-such-checkpoint"),
        "{}",
        text(&missing)
    );
    // Global flags before the command reach birds-torch (3: not this machine's default, its core count, here).
    let p = p.without_env("BIRDS_THREADS");
    let info = p.ok(&["--threads", "3", "info", "--json"])?;
    let info: serde_json::Value = serde_json::from_slice(&info.stdout)?;
    assert_eq!(info["threads"], serde_json::json!(3), "{info}");
    Ok(())
}

fn lock(p: &Project) -> TestResult<LockFile> {
    Ok(LockFile::read(&p.path("pipelines/p.lock"))?)
}

/// The pid of the `birds-torch stage` process whose request lies under `root`, if one runs.
fn stage_process_under(root: &Path) -> Option<u32> {
    let root = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (cmdline.starts_with(BIRDS_TORCH) && cmdline.contains(" stage ") && cmdline.contains(&root))
            .then_some(pid)
    })
}

/// `kill -9` of a torch stage mid-run: that stage is reported failed with its log and recorded nowhere, while an
/// independent stage under `-j 2` completes and is recorded; the next run reruns only the killed stage.
#[test]
fn a_torch_stage_killed_with_kill_9_fails_alone() -> TestResult {
    let p = Project::new()?;
    tiny_dataset(&p.path("data"), 3)?;
    std::fs::create_dir_all(p.path("out"))?;
    p.write(
        "pipelines/p.yaml",
        INGEST_AND_PREPROCESS.to_string()
            + r#"  - name: train
    uses: train
    deps: { cache: preprocess }
    params: { mode: scratch, epochs: 100000, width: 4, batch_size: 4, eval_batch_size: 4, seed: 1 }
  - name: other
    cmd: while [ ! -f go ]; do sleep 0.05; done; echo other > out/other.txt
    outs: [out/other.txt]
"#,
    )?;
    let err = std::fs::File::create(p.path("err.txt"))?;
    let run = p
        .command(&["run", "p", "-j", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()?;
    let started = Instant::now();
    let pid = loop {
        if let Some(pid) = stage_process_under(p.root()) {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no birds-torch stage process appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let it get going (libtorch loaded, training), then kill it.
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    p.write("go", "")?;
    let out = run.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{stdout}");
    let line = |stage: &str, what: &str| {
        stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(stage) && l.contains(what))
    };
    assert!(
        line(
            "train",
            "FAILED: stage process killed by signal 9 (SIGKILL: killed, or out of memory)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  log: artifacts/p/logs/train.log"),
        "the failure names its log: {stdout}"
    );
    assert!(line("other", "done in"), "{stdout}");
    let l = lock(&p)?;
    assert!(
        !l.stages.contains_key("train"),
        "the killed stage is not recorded"
    );
    assert!(l.stages.contains_key("other") && l.stages.contains_key("preprocess"));
    assert!(!p.path("artifacts/p/train").exists(), "no partial outs");
    assert_eq!(p.read("out/other.txt"), "other\n");
    let log = p.read("artifacts/p/logs/train.log");
    assert!(log.contains("stage started in birds-torch"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colours in a log file: {log}"
    );
    // The next run reruns the killed stage only (here: killed again at once by its epochs; its start is enough).
    let status = p.ok(&["status", "p"])?;
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("train") && l.contains("never run")),
        "{status}"
    );
    assert!(
        !status
            .lines()
            .any(|l| l.starts_with("other") && !l.contains("up to date")),
        "{status}"
    );
    Ok(())
}
