//! Hostile-input cases: models (train, evaluate, predict, imagenet).
//!
//! A tiny synthetic project (2 species, 32 px, a few images) is built with the real binary in a couple of seconds:
//! `birds synth` → `birds ingest` → `birds preprocess` → `birds train --mode scratch` (1 epoch, width 4).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{Project, TestResult};

/// The flags of a tiny scratch run (1 epoch unless more are set after them).
const TINY_TRAIN: &[&str] = &[
    "--mode",
    "scratch",
    "--set",
    "batch_size=4",
    "--set",
    "width=4",
    "--set",
    "epochs=1",
];

/// One tiny project shared by the cases (built once, read only): `data/` (synth), `idx/` (ingest), `cache/`
/// (preprocess at 32 px) and `run/` (a scratch checkpoint).
fn fixture() -> Result<&'static Path, Box<dyn std::error::Error>> {
    static FIXTURE: OnceLock<Result<Project, String>> = OnceLock::new();
    let built = FIXTURE.get_or_init(|| {
        let build = || -> Result<Project, Box<dyn std::error::Error>> {
            let p = Project::new()?;
            p.ok(&[
                "synth",
                "--out",
                "data",
                "--classes",
                "2",
                "--train",
                "4",
                "--valid",
                "2",
                "--test",
                "2",
                "--size",
                "32",
            ])?;
            p.ok(&["ingest", "--data", "data", "--out", "idx"])?;
            p.ok(&[
                "preprocess",
                "--index",
                "idx",
                "--out",
                "cache",
                "--size",
                "32",
            ])?;
            let mut args = vec!["train", "--cache", "cache", "--out", "run"];
            args.extend_from_slice(TINY_TRAIN);
            p.ok(&args)?;
            Ok(p)
        };
        build().map_err(|e| e.to_string())
    });
    match built {
        Ok(p) => Ok(p.root()),
        Err(e) => Err(format!("building the shared tiny project failed: {e}").into()),
    }
}

/// A fresh project for one case, with `cache` (a link to the shared one: only read) and `run` (a copy of the
/// shared checkpoint).
fn tiny_cache() -> Result<Project, Box<dyn std::error::Error>> {
    let shared = fixture()?;
    let p = Project::new()?;
    std::os::unix::fs::symlink(shared.join("cache"), p.path("cache"))?;
    std::fs::create_dir_all(p.path("run"))?;
    for f in std::fs::read_dir(shared.join("run"))? {
        let f = f?;
        std::fs::copy(f.path(), p.path("run").join(f.file_name()))?;
    }
    Ok(p)
}

/// `birds train --cache cache --out OUT` with the tiny flags and `extra` after them.
fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--cache", "cache", "--out", out];
    args.extend_from_slice(TINY_TRAIN);
    args.extend_from_slice(extra);
    args
}

/// A test image of the shared synthetic data set.
fn some_jpeg() -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let dir = fixture()?.join("data/test");
    for class in std::fs::read_dir(&dir)? {
        for f in std::fs::read_dir(class?.path())? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e == "jpg") {
                return Ok(f);
            }
        }
    }
    Err(format!("no JPEG under {}", dir.display()).into())
}

/// A real photo truncated in its entropy-coded data (the `image` crate decodes it to grey without an error).
fn truncated_jpeg(
    p: &Project,
    rel: &str,
) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    // Synthetic JPEGs are tiny; a 64 px re-encode of one gives enough scan data to cut in the middle.
    let src =
        image::open(some_jpeg()?)?.resize_exact(64, 64, image::imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    src.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )?;
    bytes.truncate(bytes.len() * 2 / 3);
    Ok(p.write(rel, bytes)?)
}

/// Waits up to `limit` for `child`; kills it and errors when it is still running.
fn wait_or_kill(
    mut child: Child,
    limit: Duration,
    what: &str,
) -> Result<std::process::Output, Box<dyn std::error::Error>> {
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            return Err(format!(
                "{what}: still running after {limit:?} (killed)\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mkfifo(path: &Path) -> TestResult {
    let st = std::process::Command::new("mkfifo").arg(path).status()?;
    if !st.success() {
        return Err(format!("mkfifo {} failed", path.display()).into());
    }
    Ok(())
}

/// `--set lr=.inf` used to become JSON null, i.e. the default LR, and the run exited 0.
#[test]
fn non_finite_and_ignored_train_params_are_refused_naming_the_key() -> TestResult {
    let p = tiny_cache()?;
    for (set, key) in [
        ("lr=.inf", "`lr`"),
        ("lr=.nan", "`lr`"),
        ("grad_clip=-.inf", "`grad_clip`"),
        ("time_budget_s=.inf", "`time_budget_s`"),
        ("momentum=.nan", "`momentum`"),
        ("augment={rotation: .inf}", "augment.rotation"),
        ("weights=some.safetensors", "`weights`"),
    ] {
        let err = p.fails(&train_args("r", &["--set", set]))?;
        assert!(err.contains(key), "--set {set}: {err}");
        assert!(
            !p.path("r/summary.json").exists(),
            "--set {set}: trained anyway"
        );
    }
    // The same through a params file.
    p.write("p.yaml", "lr: .nan\n")?;
    let err = p.fails(&train_args("r", &["--params", "p.yaml"]))?;
    assert!(err.contains("`lr`") && err.contains("p.yaml"), "{err}");
    // `width` means nothing to EfficientNet-Lite0.
    let err = p.fails(&[
        "train",
        "--cache",
        "cache",
        "--out",
        "r",
        "--mode",
        "fine-tune",
        "--set",
        "width=16",
    ])?;
    assert!(
        err.contains("`width`") && err.contains("small-cnn"),
        "{err}"
    );
    Ok(())
}

/// The issue's torn folder: a new checkpoint beside an older run's `summary.json` ("completed"), which evaluate
/// used to accept.
#[test]
fn evaluate_refuses_a_checkpoint_beside_another_runs_summary() -> TestResult {
    let p = tiny_cache()?;
    p.ok(&train_args("b", &["--set", "seed=2"]))?;
    p.ok(&[
        "evaluate",
        "--checkpoint",
        "b",
        "--cache",
        "cache",
        "--out",
        "eval-b",
        "--device",
        "cpu",
    ])?;
    std::fs::copy(p.path("run/summary.json"), p.path("b/summary.json"))?;
    let err = p.fails(&[
        "evaluate",
        "--checkpoint",
        "b",
        "--cache",
        "cache",
        "--out",
        "eval-torn",
        "--device",
        "cpu",
    ])?;
    assert!(
        err.contains("summary.json") && err.contains("checkpoint.json"),
        "{err}"
    );
    assert!(!p.path("eval-torn/summary.json").exists());
    Ok(())
}

/// `birds train --out DIR` over a finished run, killed with SIGKILL after its first epochs: DIR must still be the
/// old run, whole; the next run removes what the killed one left.
#[test]
fn train_killed_over_an_old_run_leaves_it_intact() -> TestResult {
    let p = tiny_cache()?;
    let files = [
        "summary.json",
        "checkpoint.json",
        "model.safetensors",
        "history.parquet",
    ];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(p.path(&format!("run/{f}"))))
        .collect::<Result<_, _>>()?;

    let mut args = train_args("run", &["--set", "epochs=100000", "--set", "seed=5"]);
    args.push("-v");
    let mut child = p
        .command(&args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    // Two epochs logged: the first one's checkpoint, history and state are written.
    let mut done = 0;
    let mut log = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        log.push_str(&line);
        log.push('\n');
        if line.contains("epoch done") {
            done += 1;
            if done == 2 {
                break;
            }
        }
    }
    child.kill()?;
    child.wait()?;
    assert_eq!(done, 2, "the run never got going:\n{log}");
    for (f, old) in files.iter().zip(&before) {
        let now = std::fs::read(p.path(&format!("run/{f}")))?;
        assert!(
            &now == old,
            "run/{f} changed by the killed run\n{}",
            crate::util::listing(p.root())
        );
    }
    p.ok(&[
        "evaluate",
        "--checkpoint",
        "run",
        "--cache",
        "cache",
        "--out",
        "eval",
        "--device",
        "cpu",
    ])?;

    // The next run into the same folder finishes and leaves no temporary folder behind.
    p.ok(&train_args("run", &["--set", "seed=6"]))?;
    let left: Vec<String> = crate::util::listing(p.root())
        .lines()
        .filter(|l| l.contains(".tmp-") || l.contains("state"))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    p.ok(&[
        "evaluate",
        "--checkpoint",
        "run",
        "--cache",
        "cache",
        "--out",
        "eval2",
        "--device",
        "cpu",
    ])?;
    Ok(())
}

/// A truncated JPEG is an error in ingest; predict and imagenet used to classify its grey-filled decode and exit 0.
#[test]
fn predict_and_imagenet_refuse_a_truncated_jpeg() -> TestResult {
    let p = tiny_cache()?;
    truncated_jpeg(&p, "cut.jpg")?;
    let good = some_jpeg()?;
    let good = good.to_string_lossy();
    let err = p.fails(&[
        "predict",
        "--checkpoint",
        "run",
        "--device",
        "cpu",
        "cut.jpg",
        &good,
    ])?;
    assert!(
        err.contains("cut.jpg") && err.contains("truncated"),
        "{err}"
    );
    let err = p.fails(&["imagenet", "cut.jpg"])?;
    assert!(
        err.contains("cut.jpg") && err.contains("truncated"),
        "{err}"
    );
    Ok(())
}

/// A FIFO has no writer: opening it to decode blocked forever.
#[test]
fn predict_and_imagenet_refuse_a_fifo_at_once() -> TestResult {
    let p = tiny_cache()?;
    mkfifo(&p.path("pipe.jpg"))?;
    for args in [
        vec![
            "predict",
            "--checkpoint",
            "run",
            "--device",
            "cpu",
            "pipe.jpg",
        ],
        vec!["imagenet", "pipe.jpg"],
    ] {
        let child = p
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = wait_or_kill(child, Duration::from_secs(10), &format!("birds {args:?}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("pipe.jpg") && err.contains("not a regular file"),
            "{args:?}: {err}"
        );
    }
    Ok(())
}
