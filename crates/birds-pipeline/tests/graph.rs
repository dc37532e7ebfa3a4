//! Characterization of the DAG built by `load`: stage order (file order kept where the deps allow), the edges and
//! the dep that makes each, and the messages for overlapping outs, self-deps, missing deps and cycles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use birds_core::stage::{Stage, StageContext, StageError, StageSpec};
use birds_pipeline::{Pipeline, PipelineError, load};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A project with `pipelines/p.yaml` = `yaml` and an existing `data/in.txt`; returns it and its canonical root.
fn project(yaml: &str) -> Result<(tempfile::TempDir, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("pipelines"))?;
    std::fs::create_dir_all(dir.path().join("data"))?;
    std::fs::write(dir.path().join("data/in.txt"), "hi")?;
    std::fs::write(dir.path().join("pipelines/p.yaml"), yaml)?;
    let root = dir.path().canonicalize()?;
    Ok((dir, root))
}

/// A built-in stage with inputs `src` and (optional) `extra`, writing nothing.
struct Pass;

impl StageSpec for Pass {
    fn name(&self) -> &'static str {
        "pass"
    }
    fn about(&self) -> &'static str {
        "does nothing"
    }
    fn inputs(&self) -> &'static [&'static str] {
        &["src"]
    }
    fn optional_inputs(&self) -> &'static [&'static str] {
        &["extra"]
    }
    fn check_params(&self, _: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

impl Stage for Pass {
    fn run(&self, _: &StageContext<'_>) -> Result<(), StageError> {
        Ok(())
    }
}

static PASS: Pass = Pass;

fn load_ok(dir: &Path) -> Result<Pipeline<'static>, PipelineError> {
    let registry: [&'static dyn Stage; 1] = [&PASS];
    load(&dir.join("pipelines/p.yaml"), &registry, &[])
}

/// The diagnostics of a rejected pipeline as `line:column: message` (plus `| help: …`), the project root written
/// `<root>`.
fn rejected(yaml: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let (dir, root) = project(yaml)?;
    let root = root.display().to_string();
    match load_ok(dir.path()) {
        Err(PipelineError::Invalid(diags)) => Ok(diags
            .0
            .iter()
            .map(|d| {
                let at = |n: Option<usize>| n.map_or_else(|| String::from("?"), |n| n.to_string());
                let mut s = format!("{}:{}: {}", at(d.line), at(d.column), d.message);
                if let Some(h) = &d.help {
                    s.push_str(&format!(" | help: {h}"));
                }
                s.replace(&root, "<root>")
            })
            .collect()),
        Err(e) => Err(format!("expected an invalid pipeline, got {e}").into()),
        Ok(p) => Err(format!("expected an invalid pipeline, got order {:?}", p.order).into()),
    }
}

fn names(p: &Pipeline<'_>, idx: &[usize]) -> Vec<String> {
    idx.iter().map(|&i| p.stages[i].name.clone()).collect()
}

fn edges(p: &Pipeline<'_>) -> BTreeMap<(String, String), String> {
    p.edges
        .iter()
        .map(|(&(a, b), spec)| {
            (
                (p.stages[a].name.clone(), p.stages[b].name.clone()),
                spec.clone(),
            )
        })
        .collect()
}

fn e(a: &str, b: &str, spec: &str) -> ((String, String), String) {
    ((a.to_string(), b.to_string()), spec.to_string())
}

#[test]
fn independent_stages_keep_file_order() -> TestResult {
    let (dir, _root) = project(
        "stages:
  - name: zeta
    cmd: 'true'
    outs: [out/z.txt]
  - name: alpha
    cmd: 'true'
    deps: [data/in.txt]
    outs: [out/a.txt]
  - name: mid
    cmd: 'true'
",
    )?;
    let p = load_ok(dir.path())?;
    assert_eq!(p.order, vec![0, 1, 2]);
    assert!(p.edges.is_empty());
    assert_eq!(p.upstream, vec![Vec::<usize>::new(); 3]);
    assert_eq!(p.downstream, vec![Vec::<usize>::new(); 3]);
    Ok(())
}

#[test]
fn stages_are_reordered_only_where_a_dep_needs_it() -> TestResult {
    // `report` needs `train`, which needs `prepare`; `lint` is free but stays after `report`: of the stages that
    // are ready, the one earliest in the file runs first.
    let (dir, _root) = project(
        "stages:
  - name: report
    cmd: 'true'
    deps: [train]
    outs: [out/report.txt]
  - name: prepare
    cmd: 'true'
    deps: [data/in.txt]
    outs: [out/prep]
  - name: train
    cmd: 'true'
    deps: [out/prep/x.csv]
    outs: [out/model]
  - name: lint
    cmd: 'true'
    outs: [out/lint.txt]
",
    )?;
    let p = load_ok(dir.path())?;
    assert_eq!(p.order, vec![1, 2, 0, 3]);
    assert_eq!(names(&p, &p.order), ["prepare", "train", "report", "lint"]);
    assert_eq!(p.upstream, vec![vec![2], vec![], vec![1], vec![]]);
    assert_eq!(p.downstream, vec![vec![], vec![2], vec![0], vec![]]);
    assert_eq!(
        edges(&p),
        BTreeMap::from([
            e("train", "report", "train"),
            e("prepare", "train", "out/prep/x.csv")
        ])
    );
    Ok(())
}

#[test]
fn later_ready_stage_does_not_overtake_an_earlier_one() -> TestResult {
    // c is ready from the start, a only after b; a still runs before c because it comes first in the file.
    let (dir, _root) = project(
        "stages:
  - name: a
    cmd: 'true'
    deps: [b]
    outs: [out/a]
  - name: b
    cmd: 'true'
    outs: [out/b]
  - name: c
    cmd: 'true'
    outs: [out/c]
  - name: d
    cmd: 'true'
    deps: [a, c]
    outs: [out/d]
",
    )?;
    let p = load_ok(dir.path())?;
    assert_eq!(names(&p, &p.order), ["b", "a", "c", "d"]);
    assert_eq!(p.upstream, vec![vec![1], vec![], vec![], vec![0, 2]]);
    assert_eq!(p.downstream, vec![vec![3], vec![0], vec![3], vec![]]);
    Ok(())
}

#[test]
fn deps_on_folders_and_files_inside_outs_make_edges() -> TestResult {
    let (dir, _root) = project(
        "stages:
  - name: a
    cmd: 'true'
    outs: [out/a/one.txt, out/a/two.txt]
  - name: b
    cmd: 'true'
    outs: [out/b]
  - name: c
    cmd: 'true'
    deps: [out/a, out/b/file.txt, b]
    outs: [out/c]
  - name: d
    cmd: 'true'
    deps: [out]
    outs: [res/d]
",
    )?;
    let p = load_ok(dir.path())?;
    assert_eq!(names(&p, &p.order), ["a", "b", "c", "d"]);
    // The first dep that makes an edge names it.
    assert_eq!(
        edges(&p),
        BTreeMap::from([
            e("a", "c", "out/a"),
            e("b", "c", "out/b/file.txt"),
            e("a", "d", "out"),
            e("b", "d", "out"),
            e("c", "d", "out"),
        ])
    );
    assert_eq!(p.upstream, vec![vec![], vec![], vec![0, 1], vec![0, 1, 2]]);
    assert_eq!(p.downstream, vec![vec![2, 3], vec![2, 3], vec![3], vec![]]);
    Ok(())
}

#[test]
fn cycle_message_names_every_hop() -> TestResult {
    let got = rejected(
        "stages:
  - name: src
    cmd: 'true'
    outs: [out/src.txt]
  - name: a
    cmd: 'true'
    deps: [out/src.txt, out/c.txt]
    outs: [out/a.txt]
  - name: b
    cmd: 'true'
    deps: [a]
    outs: [out/b.txt]
  - name: c
    cmd: 'true'
    deps: [out/b.txt]
    outs: [out/c.txt]
  - name: after
    cmd: 'true'
    deps: [c]
    outs: [out/after.txt]
",
    )?;
    assert_eq!(
        got,
        [
            "9:5: cycle: b → c → a → b | help: `c` (line 13) reads `out/b.txt` from `b`, `a` (line 5) reads `out/c.txt` from `c`, `b` (line 9) reads `a` from `a`; remove one of these deps",
        ]
    );
    Ok(())
}

#[test]
fn cycle_found_from_a_stage_downstream_of_it() -> TestResult {
    // `first` cannot run (it needs `y`) but is no part of the cycle; only one cycle is reported.
    let got = rejected(
        "stages:
  - name: first
    cmd: 'true'
    deps: [y]
    outs: [o/first]
  - name: x
    cmd: 'true'
    deps: [y]
    outs: [o/x]
  - name: y
    cmd: 'true'
    deps: [o/x/part]
    outs: [o/y]
  - name: p
    cmd: 'true'
    deps: [q]
    outs: [o/p]
  - name: q
    cmd: 'true'
    deps: [p]
    outs: [o/q]
",
    )?;
    assert_eq!(
        got,
        [
            "6:5: cycle: x → y → x | help: `y` (line 10) reads `o/x/part` from `x`, `x` (line 6) reads `y` from `y`; remove one of these deps",
        ]
    );
    Ok(())
}

#[test]
fn overlapping_outs_between_stages() -> TestResult {
    // Nested outs of one stage are fine; a missing dep is not reported while outs overlap. The line named for the
    // second stage is that of its first out.
    let got = rejected(
        "stages:
  - name: a
    cmd: 'true'
    outs: [out/shared.txt, out/dir]
  - name: b
    cmd: 'true'
    deps: [data/nope.txt]
    outs:
      - out/b-first.txt
      - out/shared.txt
  - name: c
    cmd: 'true'
    outs: [out/dir/inner.txt]
  - name: d
    cmd: 'true'
    outs: [out/d, out/d/nested]
  - name: e
    cmd: 'true'
    outs: [out/shared.txt]
",
    )?;
    assert_eq!(
        got,
        [
            "4:12: duplicate outs: stages `a` and `b` (line 9) have the same out: `out/shared.txt` and `out/shared.txt` | help: each file or folder must be written by one stage; rename one of the outs",
            "4:28: duplicate outs: stages `a` and `c` (line 13) have overlapping outs: `out/dir` and `out/dir/inner.txt` | help: each file or folder must be written by one stage; rename one of the outs",
            "4:12: duplicate outs: stages `a` and `e` (line 19) have the same out: `out/shared.txt` and `out/shared.txt` | help: each file or folder must be written by one stage; rename one of the outs",
            "10:9: duplicate outs: stages `b` and `e` (line 19) have the same out: `out/shared.txt` and `out/shared.txt` | help: each file or folder must be written by one stage; rename one of the outs",
        ]
    );
    Ok(())
}

#[test]
fn stage_depending_on_itself() -> TestResult {
    // By name, by a file inside its out folder and by a folder holding its out; other dep errors still show.
    let got = rejected(
        "stages:
  - name: a
    cmd: 'true'
    deps: [a]
    outs: [out/a.txt]
  - name: b
    cmd: 'true'
    deps: [out/b/x.txt]
    outs: [out/b]
  - name: c
    cmd: 'true'
    deps: [data/in.txt, out]
    outs: [out/c.txt]
  - name: d
    cmd: 'true'
    deps: [data/missing.txt]
",
    )?;
    assert_eq!(
        got,
        [
            "4:12: cycle: stage `a` depends on its own out (dep `a`) | help: a stage cannot read what it writes; write to a new path",
            "8:12: cycle: stage `b` depends on its own out (dep `out/b/x.txt`) | help: a stage cannot read what it writes; write to a new path",
            "12:25: cycle: stage `c` depends on its own out (dep `out`) | help: a stage cannot read what it writes; write to a new path",
            "16:12: stage `d`: dep `data/missing.txt` does not exist and no stage produces it | help: create <root>/data/missing.txt (paths are relative to <root>), fix the path, or add a stage with it in `outs:`",
        ]
    );
    Ok(())
}

#[test]
fn dep_on_a_missing_stage_or_path() -> TestResult {
    // A name that is no stage is a path; `out/a-extra` is not inside the out `out/a`.
    let got = rejected(
        "stages:
  - name: train
    cmd: 'true'
    outs: [out/a]
  - name: report
    cmd: 'true'
    deps: [trian, data/in.txt, out/a-extra, train]
    outs: [out/report.txt]
",
    )?;
    assert_eq!(
        got,
        [
            "7:12: stage `report`: dep `trian` does not exist and no stage produces it | help: create <root>/trian (paths are relative to <root>), fix the path, or add a stage with it in `outs:`",
            "7:32: stage `report`: dep `out/a-extra` does not exist and no stage produces it | help: create <root>/out/a-extra (paths are relative to <root>), fix the path, or add a stage with it in `outs:`",
        ]
    );
    Ok(())
}

#[test]
fn builtin_stage_deps_are_named_by_input() -> TestResult {
    // A built-in stage's deps are reported at their input key; a built-in out is `artifacts/<pipeline>/<stage>`.
    let got = rejected(
        "stages:
  - name: one
    uses: pass
    deps: { src: data/nope.txt, extra: one }
  - name: two
    uses: pass
    deps:
      src: artifacts/p/two/x
",
    )?;
    assert_eq!(
        got,
        [
            "4:13: stage `one`: dep `data/nope.txt` does not exist and no stage produces it | help: create <root>/data/nope.txt (paths are relative to <root>), fix the path, or add a stage with it in `outs:`",
            "4:33: cycle: stage `one` depends on its own out (dep `one`) | help: a stage cannot read what it writes; write to a new path",
            "8:7: cycle: stage `two` depends on its own out (dep `artifacts/p/two/x`) | help: a stage cannot read what it writes; write to a new path",
        ]
    );
    let (dir, _root) = project(
        "stages:
  - name: one
    uses: pass
    deps: { src: data/in.txt }
  - name: two
    uses: pass
    deps: { src: one, extra: artifacts/p/one/sub/f.txt }
",
    )?;
    let p = load_ok(dir.path())?;
    assert_eq!(names(&p, &p.order), ["one", "two"]);
    assert_eq!(edges(&p), BTreeMap::from([e("one", "two", "one")]));
    Ok(())
}
