//! Built-in stages through the `Stage` trait: inputs by name, temp out folder renamed into place, failures and
//! panics leave the previous out and the lock untouched, params checked before anything runs.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use birds_core::stage::{Stage, StageContext, StageError, StageSpec, parse_params};
use birds_pipeline::lockfile::LockFile;
use birds_pipeline::{Event, PipelineError, RunOptions, load, run};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct CopyParams {
    suffix: String,
    fail: bool,
    panic: bool,
}

/// Copies input `src` (a file) to `<out>/copy.txt` with a suffix; can fail or panic after writing half.
struct CopyStage;

impl StageSpec for CopyStage {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn about(&self) -> &'static str {
        "copies a file"
    }
    fn inputs(&self) -> &'static [&'static str] {
        &["src"]
    }
    fn optional_inputs(&self) -> &'static [&'static str] {
        &["extra"]
    }
    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        parse_params::<CopyParams>(params).map(|_| ())
    }
}

impl Stage for CopyStage {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let params: CopyParams = parse_params(ctx.params)?;
        let body = std::fs::read_to_string(ctx.input("src")?)?;
        std::fs::write(
            ctx.out_dir.join("copy.txt"),
            format!("{body}{}", params.suffix),
        )?;
        assert!(
            ctx.out_dir.starts_with(ctx.root),
            "out_dir under the project"
        );
        if params.panic {
            panic!("copy stage panicked on purpose");
        }
        if params.fail {
            return Err("copy failed on purpose".into());
        }
        Ok(())
    }
}

const PIPELINE: &str = "stages:
  - name: copy
    uses: copy
    params: { suffix: '!' }
    deps: { src: data/in.txt }
  - name: shout
    cmd: tr a-z A-Z < artifacts/p/copy/copy.txt > out/shout.txt
    deps: [copy]
    outs: [out/shout.txt]
";

fn project(yaml: &str) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("pipelines"))?;
    std::fs::create_dir_all(dir.path().join("data"))?;
    std::fs::write(dir.path().join("data/in.txt"), "hi")?;
    std::fs::write(dir.path().join("pipelines/p.yaml"), yaml)?;
    Ok(dir)
}

fn run_collect(
    dir: &Path,
    sets: &[&str],
    opts: RunOptions,
) -> (Result<Vec<String>, PipelineError>, Vec<String>) {
    let registry: Vec<&dyn Stage> = vec![&CopyStage];
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let pipeline = match load(&dir.join("pipelines/p.yaml"), &registry, &sets) {
        Ok(p) => p,
        Err(e) => return (Err(e), Vec::new()),
    };
    let events = Mutex::new(Vec::new());
    let on_event = |e: Event| {
        let line = match e {
            Event::Started { stage, .. } => format!("started {stage}"),
            Event::UpToDate { stage } => format!("fresh {stage}"),
            Event::Failed { stage, error, .. } => format!("failed {stage}: {error}"),
            other => format!("{other:?}"),
        };
        events.lock().map(|mut v| v.push(line)).ok();
    };
    let result = run(&pipeline, &opts, &on_event).map(|s| s.ran);
    (result, events.into_inner().unwrap_or_default())
}

fn opts() -> RunOptions {
    RunOptions {
        jobs: 2,
        wait: true,
        ..RunOptions::default()
    }
}

#[test]
fn builtin_stage_runs_into_its_own_folder_and_is_cached() -> TestResult {
    let dir = project(PIPELINE)?;
    let (ran, _) = run_collect(dir.path(), &[], opts());
    assert_eq!(ran?, vec!["copy", "shout"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("artifacts/p/copy/copy.txt"))?,
        "hi!"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/shout.txt"))?,
        "HI!"
    );
    let lock = LockFile::read(&dir.path().join("pipelines/p.lock"))?;
    assert_eq!(lock.stages["copy"].uses.as_deref(), Some("copy"));
    assert_eq!(
        lock.stages["copy"].outs.keys().collect::<Vec<_>>(),
        vec!["artifacts/p/copy"]
    );
    assert_eq!(lock.stages["copy"].outs["artifacts/p/copy"].files, Some(1));
    assert!(
        std::fs::read_to_string(dir.path().join("artifacts/p/logs/copy.log"))?
            .contains("# input src: ")
    );

    let (ran, events) = run_collect(dir.path(), &[], opts());
    assert!(ran?.is_empty());
    assert_eq!(events, vec!["fresh copy", "fresh shout"]);

    let (ran, _) = run_collect(dir.path(), &["copy.suffix=-x"], opts());
    assert_eq!(ran?, vec!["copy", "shout"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/shout.txt"))?,
        "HI-X"
    );
    Ok(())
}

#[test]
fn failing_or_panicking_builtin_keeps_the_previous_out() -> TestResult {
    let dir = project(PIPELINE)?;
    run_collect(dir.path(), &[], opts()).0?;
    let lock_before = LockFile::read(&dir.path().join("pipelines/p.lock"))?;
    for (set, why) in [
        ("copy.fail=true", "copy failed on purpose"),
        (
            "copy.panic=true",
            "stage panicked: copy stage panicked on purpose",
        ),
    ] {
        let (ran, events) = run_collect(dir.path(), &[set], opts());
        match ran {
            Err(PipelineError::StagesFailed { failures, .. }) => {
                assert_eq!(failures, vec![(String::from("copy"), String::from(why))]);
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(
            events.contains(&format!("failed copy: {why}")),
            "{events:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("artifacts/p/copy/copy.txt"))?,
            "hi!"
        );
        let leftovers: BTreeSet<String> = std::fs::read_dir(dir.path().join("artifacts/p"))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            leftovers,
            BTreeSet::from(["copy", "logs", ".cache"].map(String::from)),
            "no temp folders left"
        );
        assert_eq!(
            LockFile::read(&dir.path().join("pipelines/p.lock"))?,
            lock_before
        );
    }
    Ok(())
}

#[test]
fn builtin_params_and_inputs_are_checked_before_anything_runs() -> TestResult {
    let cases = [
        (
            PIPELINE.replace("suffix: '!'", "sufix: '!'"),
            "p.yaml:4:15: stage `copy` (uses copy): bad params: unknown field `sufix`",
        ),
        (
            PIPELINE.replace("deps: { src: data/in.txt }", "deps: { srcc: data/in.txt }"),
            "p.yaml:5:13: stage `copy`: `copy` has no input `srcc`",
        ),
        (
            PIPELINE.replace("deps: { src: data/in.txt }", "deps: { extra: data/in.txt }"),
            "p.yaml:5:5: stage `copy` (uses copy): input `src` missing from `deps:`",
        ),
        (
            PIPELINE.replace("deps: { src: data/in.txt }", "deps: [data/in.txt]"),
            "p.yaml:5:5: stage `copy` (uses copy): `deps:` of a built-in stage must map input names",
        ),
        (
            PIPELINE.replace(
                "    deps: { src: data/in.txt }\n",
                "    deps: { src: data/in.txt }\n    outs: [a, b]\n",
            ),
            "p.yaml:6:5: stage `copy`: a built-in stage writes one output folder, not 2",
        ),
        (
            PIPELINE.replace("uses: copy", "uses: cpy"),
            "p.yaml:3:5: stage `copy`: unknown stage type `cpy`",
        ),
    ];
    for (yaml, want) in cases {
        let dir = project(&yaml)?;
        match run_collect(dir.path(), &[], opts()).0 {
            Err(e @ PipelineError::Invalid(_)) => {
                assert!(e.to_string().contains(want), "want {want}\ngot {e}")
            }
            other => panic!("expected invalid for {want}, got {other:?}"),
        }
        assert!(!dir.path().join("artifacts").exists(), "nothing ran");
    }
    let dir = project(&PIPELINE.replace("uses: copy", "uses: cpy"))?;
    let err = run_collect(dir.path(), &[], opts())
        .0
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("did you mean `copy`?"), "{err}");
    let dir = project(PIPELINE)?;
    let err = run_collect(dir.path(), &["copy.sufix=1"], opts())
        .0
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("bad params: unknown field `sufix`"), "{err}");
    Ok(())
}

/// Like `copy`, but also reads "weights": the file named in `<root>/weights.path` (as an env var would name it).
struct WeightsStage;

impl StageSpec for WeightsStage {
    fn name(&self) -> &'static str {
        "weighted"
    }
    fn about(&self) -> &'static str {
        "reads weights the pipeline does not list"
    }
    fn inputs(&self) -> &'static [&'static str] {
        &["src"]
    }
    fn check_params(&self, _: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    fn implicit_deps(
        &self,
        _: &serde_json::Value,
        _: &std::collections::BTreeMap<String, std::path::PathBuf>,
        root: &Path,
    ) -> Result<Vec<(String, std::path::PathBuf)>, String> {
        let named =
            std::fs::read_to_string(root.join("weights.path")).map_err(|e| e.to_string())?;
        Ok(vec![(String::from("weights"), root.join(named.trim()))])
    }
}

impl Stage for WeightsStage {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        std::fs::write(ctx.out_dir.join("w.txt"), "ok")?;
        Ok(())
    }
}

fn run_weighted(dir: &Path) -> Result<(Vec<String>, Vec<String>), Box<dyn std::error::Error>> {
    let registry: Vec<&dyn Stage> = vec![&WeightsStage];
    let pipeline = load(&dir.join("pipelines/p.yaml"), &registry, &[])?;
    let events = Mutex::new(Vec::new());
    let on_event = |e: Event| {
        if let Event::Started { stage, reasons } = e {
            let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            events
                .lock()
                .map(|mut v| v.push(format!("{stage}: {}", why.join("; "))))
                .ok();
        }
    };
    let ran = run(&pipeline, &opts(), &on_event)?.ran;
    Ok((ran, events.into_inner().unwrap_or_default()))
}

#[test]
fn implicit_deps_of_a_builtin_stage_are_part_of_its_key() -> TestResult {
    let dir =
        project("stages:\n  - name: w\n    uses: weighted\n    deps: { src: data/in.txt }\n")?;
    std::fs::write(dir.path().join("data/w1.bin"), "weights one")?;
    std::fs::write(dir.path().join("data/w2.bin"), "weights two")?;
    std::fs::write(dir.path().join("weights.path"), "data/w1.bin")?;
    assert_eq!(run_weighted(dir.path())?.0, vec!["w"]);
    assert!(run_weighted(dir.path())?.0.is_empty());
    let lock = LockFile::read(&dir.path().join("pipelines/p.lock"))?;
    assert!(
        std::fs::read_to_string(dir.path().join("pipelines/p.lock"))?.contains("weights"),
        "{lock:?}"
    );
    // The same file by its absolute path: same content, nothing to do.
    let abs = dir.path().join("data/w1.bin");
    std::fs::write(
        dir.path().join("weights.path"),
        abs.to_string_lossy().as_bytes(),
    )?;
    assert!(
        run_weighted(dir.path())?.0.is_empty(),
        "content, not path, is hashed"
    );
    // Other weights: the stage reruns and says why.
    std::fs::write(dir.path().join("weights.path"), "data/w2.bin")?;
    let (ran, why) = run_weighted(dir.path())?;
    assert_eq!(ran, vec!["w"]);
    assert!(
        why[0].contains("weights `") && why[0].contains("changed"),
        "{why:?}"
    );
    Ok(())
}

#[test]
fn a_builtin_stage_does_not_replace_a_folder_birds_did_not_write() -> TestResult {
    let dir = project(
        &PIPELINE
            .replace(
                "    deps: { src: data/in.txt }\n",
                "    deps: { src: data/in.txt }\n    outs: [mine]\n",
            )
            .replace("artifacts/p/copy/copy.txt", "mine/copy.txt"),
    )?;
    std::fs::create_dir_all(dir.path().join("mine"))?;
    std::fs::write(dir.path().join("mine/keep.txt"), "mine")?;
    let (ran, events) = run_collect(dir.path(), &[], opts());
    assert!(ran.is_err(), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e.contains("out `mine` exists and birds did not write it")),
        "{events:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine/keep.txt"))?,
        "mine"
    );
    let (ran, _) = run_collect(
        dir.path(),
        &[],
        RunOptions {
            overwrite_outs: true,
            ..opts()
        },
    );
    assert_eq!(ran?, vec!["copy", "shout"]);
    assert!(!dir.path().join("mine/keep.txt").exists());
    Ok(())
}
