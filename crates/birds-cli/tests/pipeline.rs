//! `birds run` / `status` / `dag` end to end: the real binary on small `cmd:` pipelines in temp folders.
//!
//! Each stage appends its name to `ran.txt` when it runs, so a test reads exactly which stages ran.

mod util;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use birds_pipeline::lockfile::LockFile;
use util::{Project, TestResult, text, tiny_dataset};

/// What this suite adds to the shared harness: the pipeline file `pipelines/p.yaml` and the stages' `ran.txt`.
impl Project {
    fn pipeline(&self, yaml: &str) -> std::io::Result<()> {
        self.write("pipelines/p.yaml", yaml).map(|_| ())
    }

    /// Runs birds, asserts success, returns the stages that ran (from ran.txt), then clears ran.txt.
    fn run_ok(&self, args: &[&str]) -> TestResult<Vec<String>> {
        self.ok(args)?;
        Ok(self.take_ran())
    }

    fn take_ran(&self) -> Vec<String> {
        let ran: Vec<String> = self.read("ran.txt").lines().map(str::to_string).collect();
        let _ = std::fs::remove_file(self.path("ran.txt"));
        ran
    }

    fn lock(&self) -> TestResult<LockFile> {
        Ok(LockFile::read(&self.path("pipelines/p.lock"))?)
    }

    fn spawn(&self, args: &[&str], stderr_to: &str) -> std::io::Result<Child> {
        let err = std::fs::File::create(self.path(stderr_to))?;
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn set_mtime(path: &Path, ago_secs: u64) -> std::io::Result<()> {
    let f = std::fs::File::options().write(true).open(path)?;
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(ago_secs))
}

/// a → b → c, and d beside them; all read data/in.txt through a or directly.
const CHAIN: &str = r#"stages:
  - name: a
    cmd: echo "a ${params.x}" > out/a.txt && echo a >> ran.txt
    params: { x: 1 }
    deps: [data/in.txt]
    outs: [out/a.txt]
  - name: b
    cmd: cat out/a.txt > out/b.txt && echo "b ${params.y}" >> out/b.txt && echo b >> ran.txt
    params:
      y: 1
    deps: [a]
    outs: [out/b.txt]
  - name: c
    cmd: cat out/b.txt > out/c.txt && echo c >> ran.txt
    deps: [out/b.txt]
    outs: [out/c.txt]
  - name: d
    cmd: cp data/in.txt out/d.txt && echo d >> ran.txt
    deps: [data/in.txt]
    outs: [out/d.txt]
"#;

fn chain_project() -> Result<Project, Box<dyn std::error::Error>> {
    let p = Project::new()?;
    p.pipeline(CHAIN)?;
    p.write("data/in.txt", "hello\n")?;
    Ok(p)
}

#[test]
fn param_change_reruns_only_that_stage_and_downstream() -> TestResult {
    let p = chain_project()?;
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["a", "b", "c", "d"]);
    assert_eq!(p.read("out/c.txt"), "a 1\nb 1\n");
    assert!(
        p.run_ok(&["run", "p"])?.is_empty(),
        "a second run does nothing"
    );

    // Edit b's param in the file: b and c rerun, a and d do not.
    p.pipeline(&CHAIN.replace("      y: 1", "      y: 2"))?;
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["b", "c"]);
    assert_eq!(p.read("out/c.txt"), "a 1\nb 2\n");
    let lock = p.lock()?;
    assert_eq!(lock.stages["b"].params, serde_json::json!({"y": 2}));
    assert!(p.run_ok(&["run", "p"])?.is_empty());

    // --set is typed YAML and behaves the same; the lock records what ran.
    assert_eq!(
        p.run_ok(&["run", "p", "--set", "a.x=0.5"])?,
        vec!["a", "b", "c"]
    );
    assert_eq!(p.read("out/a.txt"), "a 0.5\n");
    assert_eq!(p.lock()?.stages["a"].params, serde_json::json!({"x": 0.5}));
    // Without the override the file's value applies again.
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["a", "b", "c"]);
    Ok(())
}

#[test]
fn touching_a_dep_without_changing_it_reruns_nothing() -> TestResult {
    let p = chain_project()?;
    p.run_ok(&["run", "p"])?;
    set_mtime(&p.path("data/in.txt"), 1)?;
    assert!(p.run_ok(&["run", "p"])?.is_empty());
    let status = p.birds(&["status", "p"])?;
    assert!(
        text(&status).contains("everything up to date"),
        "{}",
        text(&status)
    );

    // Same size, new content: caught.
    p.write("data/in.txt", "HELLO\n")?;
    assert_eq!(
        p.run_ok(&["run", "p"])?,
        vec!["a", "d"],
        "b sees the same out/a.txt, so it stops there"
    );
    Ok(())
}

#[test]
fn deleted_or_edited_out_reruns_that_stage() -> TestResult {
    let p = chain_project()?;
    p.run_ok(&["run", "p"])?;
    std::fs::remove_file(p.path("out/b.txt"))?;
    let status = p.birds(&["status", "p", "--json"])?;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout)?;
    let b = &doc["stages"][1];
    assert_eq!(b["name"], "b");
    assert_eq!(b["stale"], true);
    assert_eq!(
        b["reasons"][0],
        serde_json::json!({"kind": "out", "path": "out/b.txt", "change": "missing"})
    );
    let c_reasons: Vec<&str> = doc["stages"][2]["reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(c_reasons, vec!["dep", "upstream"], "{doc}");
    // b rewrites the same bytes, so c stays up to date.
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["b"]);
    p.write("out/d.txt", "tampered\n")?;
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["d"]);
    assert_eq!(p.read("out/d.txt"), "hello\n");
    Ok(())
}

#[test]
fn dry_run_runs_nothing() -> TestResult {
    let p = chain_project()?;
    let out = p.ok(&["run", "p", "--dry-run"])?;
    let t = text(&out);
    assert!(t.contains("a  would run: never run"), "{t}");
    assert!(t.contains("4 would run"), "{t}");
    assert!(!p.path("out").exists() && !p.path("ran.txt").exists());
    assert!(!p.path("pipelines/p.lock").exists());

    p.run_ok(&["run", "p"])?;
    let lock_before = p.read("pipelines/p.lock");
    let out = p.birds(&["run", "p", "-n", "--set", "b.y=7"])?;
    let t = text(&out);
    assert!(t.contains("b  would run: param `y` changed: 1 → 7"), "{t}");
    assert!(t.contains("c  would run: upstream `b` will run"), "{t}");
    assert!(t.contains("a  up to date"), "{t}");
    assert!(p.take_ran().is_empty());
    assert_eq!(p.read("pipelines/p.lock"), lock_before);
    assert_eq!(p.read("out/b.txt"), "a 1\nb 1\n");
    Ok(())
}

#[test]
fn stage_from_downstream_and_force() -> TestResult {
    let p = chain_project()?;
    p.run_ok(&["run", "p"])?;
    p.pipeline(
        &CHAIN
            .replace("x: 1", "x: 2")
            .replace("      y: 1", "      y: 2"),
    )?;
    let out = p.ok(&["run", "p", "--stage", "b"])?;
    assert!(
        text(&out).contains("its upstream `a` is stale (param `x` changed: 1 → 2)"),
        "{}",
        text(&out)
    );
    assert_eq!(p.take_ran(), vec!["b"], "--stage runs b alone");
    assert_eq!(
        p.run_ok(&["run", "p", "--stage", "a", "--downstream"])?,
        vec!["a", "b", "c"]
    );
    assert_eq!(
        p.run_ok(&["run", "p", "--from", "b"])?,
        vec!["b"],
        "b forced; its out is unchanged so c stays"
    );
    assert_eq!(
        sorted(p.run_ok(&["run", "p", "--force"])?),
        vec!["a", "b", "c", "d"]
    );
    let out = p.fails_any(&["run", "p", "--stage", "nope"])?;
    assert!(text(&out).contains("no stage `nope`"), "{}", text(&out));
    Ok(())
}

#[test]
fn failed_stage_keeps_previous_outs_and_is_not_recorded() -> TestResult {
    let p = Project::new()?;
    let yaml = r#"stages:
  - name: make
    cmd: if [ "${params.fail}" = "true" ]; then echo partial > out/m.txt; echo boom >&2; exit 3; fi; echo good > out/m.txt; echo make >> ran.txt
    params: { fail: false }
    outs: [out/m.txt]
  - name: after
    cmd: cp out/m.txt out/after.txt; echo after >> ran.txt
    deps: [make]
    outs: [out/after.txt]
"#;
    p.pipeline(yaml)?;
    p.run_ok(&["run", "p"])?;
    let lock_before = p.lock()?;
    let out = p.fails_any(&["run", "p", "--set", "make.fail=true"])?;
    let t = text(&out);
    assert!(
        t.contains("make   FAILED: command exited with status 3"),
        "{t}"
    );
    assert!(t.contains("stage `make` failed (logs in "), "{t}");
    assert!(t.contains("boom"), "the log's tail is shown: {t}");
    assert!(t.contains("artifacts/p/logs/make.log"), "{t}");
    assert!(
        t.contains("after  not started (an earlier stage failed)"),
        "{t}"
    );
    assert_eq!(p.read("out/m.txt"), "good\n", "previous out restored");
    assert!(!p.path("out/.m.txt.birds-prev").exists());
    assert_eq!(p.lock()?, lock_before);
    assert!(p.read("artifacts/p/logs/make.log").contains("boom"));

    // A command that exits 0 without writing its out fails too.
    p.pipeline(&yaml.replace("echo good > out/m.txt;", "true;"))?;
    let out = p.fails_any(&["run", "p"])?;
    assert!(
        text(&out).contains("did not write out `out/m.txt`"),
        "{}",
        text(&out)
    );
    assert_eq!(p.read("out/m.txt"), "good\n");
    Ok(())
}

const SLOW: &str = r#"stages:
  - name: slow
    cmd: echo $$ > pid.txt; echo started > started.txt; while [ -f hold ]; do sleep 0.05; done; echo "v=${params.v}" > out/slow.txt; echo slow >> ran.txt
    params: { v: 1 }
    outs: [out/slow.txt]
  - name: next
    cmd: cp out/slow.txt out/next.txt; echo next >> ran.txt
    deps: [slow]
    outs: [out/next.txt]
"#;

fn pid_alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

#[test]
fn kill_9_of_birds_then_rerun() -> TestResult {
    let p = Project::new()?;
    p.pipeline(SLOW)?;
    // Never run before: killed mid-stage, then the rerun runs it.
    p.write("hold", "")?;
    let mut run = p.spawn(&["run", "p"], "err1.txt")?;
    wait_for("the stage to start", || p.path("started.txt").exists())?;
    let lock_seen = p.read("pipelines/p.lock");
    run.kill()?; // SIGKILL
    run.wait()?;
    let pid = p.read("pid.txt");
    wait_for("the command to die with birds", || !pid_alive(&pid))?;
    assert!(!lock_seen.contains("slow"), "{lock_seen}");
    assert!(!p.lock()?.stages.contains_key("slow"));
    std::fs::remove_file(p.path("hold"))?;
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["slow", "next"]);

    // Ran before with v=1; killed while running v=2: the lock keeps v=1, the rerun runs v=2.
    std::fs::remove_file(p.path("started.txt"))?;
    p.write("hold", "")?;
    let mut run = p.spawn(&["run", "p", "--set", "slow.v=2"], "err2.txt")?;
    wait_for("the stage to start", || p.path("started.txt").exists())?;
    assert_eq!(p.lock()?.stages["slow"].params, serde_json::json!({"v": 1}));
    run.kill()?;
    run.wait()?;
    let pid = p.read("pid.txt");
    wait_for("the command to die with birds", || !pid_alive(&pid))?;
    assert_eq!(
        p.lock()?.stages["slow"].params,
        serde_json::json!({"v": 1}),
        "never recorded as done"
    );
    std::fs::remove_file(p.path("hold"))?;
    // A plain run first: the interrupted run's outs are restored, so v=1 is up to date.
    assert!(p.run_ok(&["run", "p"])?.is_empty());
    assert_eq!(p.read("out/slow.txt"), "v=1\n");
    assert_eq!(
        p.run_ok(&["run", "p", "--set", "slow.v=2"])?,
        vec!["slow", "next"]
    );
    assert_eq!(p.read("out/next.txt"), "v=2\n");
    assert_eq!(p.lock()?.stages["slow"].params, serde_json::json!({"v": 2}));
    Ok(())
}

#[test]
fn kill_9_of_the_stage_command() -> TestResult {
    let p = Project::new()?;
    p.pipeline(SLOW)?;
    p.run_ok(&["run", "p"])?;
    std::fs::remove_file(p.path("started.txt"))?;
    p.write("hold", "")?;
    let run = p.spawn(&["run", "p", "--set", "slow.v=2"], "err.txt")?;
    wait_for("the stage to start", || p.path("started.txt").exists())?;
    let pid = p.read("pid.txt");
    let killed = Command::new("kill").args(["-9", pid.trim()]).status()?;
    assert!(killed.success());
    let out = run.wait_with_output()?;
    assert!(!out.status.success());
    assert_eq!(p.lock()?.stages["slow"].params, serde_json::json!({"v": 1}));
    assert_eq!(p.read("out/slow.txt"), "v=1\n", "previous out restored");
    std::fs::remove_file(p.path("hold"))?;
    assert_eq!(
        p.run_ok(&["run", "p", "--set", "slow.v=2"])?,
        vec!["slow", "next"]
    );
    Ok(())
}

#[test]
fn concurrent_runs_wait_and_do_not_clobber() -> TestResult {
    let p = Project::new()?;
    p.pipeline(
        r#"stages:
  - name: slow
    cmd: echo started > started.txt; while [ -f hold ]; do sleep 0.05; done; echo x >> count.txt; cp count.txt out/slow.txt
    outs: [out/slow.txt]
"#,
    )?;
    p.write("hold", "")?;
    let first = p.spawn(&["run", "p"], "err1.txt")?;
    wait_for("the first run's stage to start", || {
        p.path("started.txt").exists()
    })?;

    let busy = p.fails_any(&["run", "p", "--no-wait"])?;
    assert!(
        text(&busy).contains("pipeline `p` is being run by another `birds run` (pid "),
        "{}",
        text(&busy)
    );

    let second = p.spawn(&["run", "p"], "err2.txt")?;
    wait_for("the second run to say it waits", || {
        p.read("err2.txt").contains("waiting for it to finish")
    })?;
    std::fs::remove_file(p.path("hold"))?;
    let (a, b) = (first.wait_with_output()?, second.wait_with_output()?);
    assert!(
        a.status.success() && b.status.success(),
        "{}",
        p.read("err2.txt")
    );
    assert_eq!(
        p.read("count.txt"),
        "x\n",
        "the stage ran once: the second run found it up to date"
    );
    assert_eq!(p.read("out/slow.txt"), "x\n");
    Ok(())
}

fn parallel_yaml(tries: u32) -> String {
    let stage = |me: &str, other: &str| {
        format!(
            "  - name: {me}\n    cmd: date +%s%N > t/{me}.start; touch t/{me}.ready; i=0; while [ ! -f t/{other}.ready ] && [ $i -lt {tries} ]; do sleep 0.05; i=$((i+1)); done; date +%s%N > t/{me}.end; echo ok > out/{me}.txt\n    outs: [out/{me}.txt]\n"
        )
    };
    format!(
        "stages:\n{}{}",
        stage("left", "right"),
        stage("right", "left")
    )
}

fn interval(p: &Project, name: &str) -> Result<(u128, u128), Box<dyn std::error::Error>> {
    Ok((
        p.read(&format!("t/{name}.start")).trim().parse()?,
        p.read(&format!("t/{name}.end")).trim().parse()?,
    ))
}

#[test]
fn independent_stages_run_in_parallel_under_j() -> TestResult {
    // Each stage waits (bounded) for the other to have started, so under -j 2 their intervals overlap.
    let p = Project::new()?;
    std::fs::create_dir_all(p.path("t"))?;
    p.pipeline(&parallel_yaml(600))?;
    p.run_ok(&["run", "p", "-j", "2"])?;
    let (l, r) = (interval(&p, "left")?, interval(&p, "right")?);
    assert!(l.0 < r.1 && r.0 < l.1, "intervals overlap: {l:?} {r:?}");

    // Under -j 1 they cannot overlap (each gives up waiting after a few tries).
    let p = Project::new()?;
    std::fs::create_dir_all(p.path("t"))?;
    p.pipeline(&parallel_yaml(4))?;
    p.run_ok(&["run", "p", "-j", "1"])?;
    let (l, r) = (interval(&p, "left")?, interval(&p, "right")?);
    assert!(l.1 <= r.0 || r.1 <= l.0, "intervals disjoint: {l:?} {r:?}");
    Ok(())
}

/// Runs `birds run p` on `yaml` (plus `extra` args), expects failure, returns the message.
fn rejected(yaml: &str, extra: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let p = Project::new()?;
    p.write("data/in.txt", "x")?;
    p.pipeline(yaml)?;
    let mut args = vec!["run", "p"];
    args.extend_from_slice(extra);
    let out = p
        .fails_any(&args)
        .map_err(|e| format!("accepted: {yaml}\n{e}"))?;
    assert!(
        !p.path("ran.txt").exists() && !p.path("pipelines/p.lock").exists(),
        "nothing ran"
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn invalid_pipelines_are_rejected_with_file_line_and_fix() -> TestResult {
    let cycle = rejected(
        "stages:\n  - name: a\n    cmd: cp y x\n    deps: [y]\n    outs: [x]\n  - name: b\n    cmd: cp x y\n    deps: [x]\n    outs: [y]\n",
        &[],
    )?;
    assert!(
        cycle.contains("pipelines/p.yaml:6:5: cycle: b → a → b"),
        "{cycle}"
    );
    assert!(cycle.contains("`a` (line 2) reads `y` from `b`"), "{cycle}");

    let self_cycle = rejected(
        "stages:\n  - name: a\n    cmd: touch x\n    deps: [x]\n    outs: [x]\n",
        &[],
    )?;
    assert!(
        self_cycle.contains("p.yaml:4:12: cycle: stage `a` depends on its own out"),
        "{self_cycle}"
    );

    let dup_outs = rejected(
        "stages:\n  - name: a\n    cmd: touch out/x\n    outs: [out/x]\n  - name: b\n    cmd: touch out/x\n    outs:\n      - out/./x\n",
        &[],
    )?;
    assert!(
        dup_outs.contains("p.yaml:4:12: duplicate outs: stages `a` and `b` (line 8)"),
        "{dup_outs}"
    );
    assert!(
        dup_outs.contains("help: each file or folder must be written by one stage"),
        "{dup_outs}"
    );

    let dup_names = rejected(
        "stages:\n  - name: a\n    cmd: 'true'\n  - name: a\n    cmd: 'true'\n",
        &[],
    )?;
    assert!(
        dup_names.contains("p.yaml:4:5: duplicate stage name `a` (first defined on line 2)"),
        "{dup_names}"
    );

    let unknown_stage = rejected("stages:\n  - name: a\n    uses: no-such-stage\n", &[])?;
    assert!(
        unknown_stage.contains("p.yaml:3:5: stage `a`: unknown stage type `no-such-stage`"),
        "{unknown_stage}"
    );
    assert!(
        unknown_stage.contains("for an external command write `cmd:`"),
        "{unknown_stage}"
    );

    let malformed = rejected("stages:\n  - name: a\n    cmd: echo\n   deps: [y]\n", &[])?;
    assert!(
        malformed.contains("pipelines/p.yaml:4:4: did not find expected '-' indicator"),
        "{malformed}"
    );
    assert!(
        malformed.contains("help: the file is not valid YAML here; check indentation"),
        "{malformed}"
    );

    let unknown_key = rejected(
        "stages:\n  - name: a\n    cmd: 'true'\n    parms: { x: 1 }\n",
        &[],
    )?;
    assert!(
        unknown_key.contains("p.yaml:4:5: stages[0]: unknown field `parms`"),
        "{unknown_key}"
    );
    assert!(
        unknown_key.contains("did you mean `params`?"),
        "{unknown_key}"
    );

    let missing_dep = rejected(
        "stages:\n  - name: a\n    cmd: 'true'\n    deps: [data/in.txt, data/nope.txt]\n",
        &[],
    )?;
    assert!(
        missing_dep.contains(
            "p.yaml:4:25: stage `a`: dep `data/nope.txt` does not exist and no stage produces it"
        ),
        "{missing_dep}"
    );

    let neither = rejected("stages:\n  - name: a\n    params: {}\n", &[])?;
    assert!(
        neither.contains("p.yaml:2:5: stage `a` has neither `uses:` nor `cmd:`"),
        "{neither}"
    );

    let bad_interp = rejected("stages:\n  - name: a\n    cmd: echo ${params.lr}\n", &[])?;
    assert!(
        bad_interp.contains("p.yaml:3:5: stage `a`: `${params.lr}` in `cmd:` names no param"),
        "{bad_interp}"
    );

    let empty = rejected("# nothing\n", &[])?;
    assert!(
        empty.contains("p.yaml: the pipeline file is empty"),
        "{empty}"
    );
    Ok(())
}

#[test]
fn bad_set_keys_are_rejected() -> TestResult {
    let bad_key = rejected(CHAIN, &["--set", "b.yy=2"])?;
    assert!(
        bad_key.contains("p.yaml:9:5: --set `b.yy=2`: stage `b` has no param `yy`"),
        "{bad_key}"
    );
    assert!(bad_key.contains("did you mean `b.y`?"), "{bad_key}");
    let bad_stage = rejected(CHAIN, &["--set", "bb.y=2"])?;
    assert!(
        bad_stage.contains("--set `bb.y=2`: no stage `bb`"),
        "{bad_stage}"
    );
    assert!(bad_stage.contains("did you mean `b`?"), "{bad_stage}");
    let no_eq = rejected(CHAIN, &["--set", "b.y"])?;
    assert!(no_eq.contains("--set `b.y`: no `=`"), "{no_eq}");
    let bad_value = rejected(CHAIN, &["--set", "b.y=[1,"])?;
    assert!(bad_value.contains("is not valid YAML"), "{bad_value}");
    Ok(())
}

#[test]
fn pipeline_found_by_name_from_a_subfolder_and_by_path() -> TestResult {
    let p = chain_project()?;
    std::fs::create_dir_all(p.path("data/sub"))?;
    p.ok_with(&mut p.command_in("data/sub", &["run", "p"]))?;
    assert_eq!(p.take_ran().len(), 4, "commands run from the project root");
    let out = p.birds(&["status", "pipelines/p.yaml"])?;
    assert!(
        text(&out).contains("everything up to date"),
        "{}",
        text(&out)
    );
    let out = p.birds(&["status", "nope"])?;
    assert!(text(&out).contains("no pipeline `nope`"), "{}", text(&out));
    Ok(())
}

#[test]
fn dag_formats() -> TestResult {
    let p = chain_project()?;
    let t = text(&p.birds(&["dag", "p"])?);
    let lines: Vec<String> = t
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        vec!["a cmd", "b cmd <- a", "c cmd <- b (out/b.txt)", "d cmd"],
        "{t}"
    );
    let m = text(&p.birds(&["dag", "p", "--format", "mermaid"])?);
    assert!(m.starts_with("flowchart TD\n"), "{m}");
    for edge in ["s0 --> s1", "s1 --> s2"] {
        assert!(m.contains(edge), "{m}");
    }
    assert!(!m.contains("s0 --> s3"), "d reads data/in.txt, not a: {m}");
    let d = text(&p.birds(&["dag", "p", "--format", "dot"])?);
    assert!(
        d.contains("digraph \"p\"") && d.contains("\"a\" -> \"b\" [label=\"a\"];"),
        "{d}"
    );
    p.fails_any(&["dag", "p", "--format", "png"])?;
    Ok(())
}

#[test]
fn logs_and_lock_file_contents() -> TestResult {
    let p = chain_project()?;
    p.run_ok(&["run", "p"])?;
    let lock = p.lock()?;
    let a = &lock.stages["a"];
    assert_eq!(
        a.cmd.as_deref(),
        Some("echo \"a 1\" > out/a.txt && echo a >> ran.txt")
    );
    assert_eq!(
        a.deps["data/in.txt"].hash,
        blake3::hash(b"hello\n").to_hex().to_string()
    );
    assert_eq!(
        a.outs["out/a.txt"].hash,
        blake3::hash(b"a 1\n").to_hex().to_string()
    );
    assert_eq!(
        lock.stages["b"].deps.keys().collect::<Vec<_>>(),
        vec!["out/a.txt"]
    );
    assert!(p.read("artifacts/p/logs/a.log").contains("stage `a`"));
    assert!(p.path("artifacts/p/.cache/hashes.tsv").exists());
    Ok(())
}

#[test]
fn runner_files_inside_a_dep_folder_do_not_make_it_stale() -> TestResult {
    // The lock file, logs and hash memo change on every run; a stage reading their folders must not rerun for that.
    let p = Project::new()?;
    std::fs::create_dir_all(p.path("artifacts"))?;
    p.pipeline(
        "stages:\n  - name: snap\n    cmd: ls pipelines > out/ls.txt; echo snap >> ran.txt\n    deps: [pipelines, artifacts]\n    outs: [out/ls.txt]\n",
    )?;
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["snap"]);
    assert!(p.path("pipelines/p.lock").exists() && p.path("artifacts/p/logs/snap.log").exists());
    assert!(p.run_ok(&["run", "p"])?.is_empty());
    p.write("pipelines/notes.txt", "a real change")?;
    assert_eq!(p.run_ok(&["run", "p"])?, vec!["snap"]);
    Ok(())
}

const WITH_INGEST: &str = r#"stages:
  - name: ingest
    uses: ingest
    deps: { data: data }
    params: { near_duplicate_distance: 5 }
  - name: files
    cmd: ls artifacts/p/ingest > out/files.txt; echo files >> ran.txt
    deps: [ingest]
    outs: [out/files.txt]
  - name: other
    cmd: echo other > out/other.txt; echo other >> ran.txt
    outs: [out/other.txt]
"#;

#[test]
fn ingest_stage_in_a_pipeline() -> TestResult {
    let p = Project::new()?;
    tiny_dataset(&p.path("data"), 2)?;
    p.pipeline(WITH_INGEST)?;
    let ran = |out: &Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("  running: "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    let out = p.ok(&["run", "p", "-j", "2"])?;
    assert_eq!(sorted(ran(&out)), vec!["files", "ingest", "other"]);
    assert!(p.path("artifacts/p/ingest/images.parquet").is_file());
    assert!(p.read("out/files.txt").contains("images.parquet"));
    let lock = p.lock()?;
    assert_eq!(lock.stages["ingest"].uses.as_deref(), Some("ingest"));
    assert_eq!(lock.stages["ingest"].deps["data"].files, Some(12));
    p.take_ran();

    // No-op; then touching an image changes nothing.
    let out = p.birds(&["run", "p"])?;
    assert!(ran(&out).is_empty(), "{}", text(&out));
    set_mtime(&p.path("data/train/MALLARD DUCK/0.png"), 1)?;
    let out = p.birds(&["run", "p"])?;
    assert!(ran(&out).is_empty(), "{}", text(&out));

    // An ingest param: ingest reruns (and whatever reads it if its outputs changed), never `other`.
    let out = p.ok(&["run", "p", "--set", "ingest.near_duplicate_distance=3"])?;
    let r = ran(&out);
    assert_eq!(
        r.first().map(String::as_str),
        Some("ingest"),
        "{}",
        text(&out)
    );
    assert!(!r.contains(&String::from("other")));
    assert_eq!(
        p.lock()?.stages["ingest"].params,
        serde_json::json!({"near_duplicate_distance": 3})
    );

    // A new image: ingest reruns; its changed outputs rerun `files`.
    tiny_dataset(&p.path("data2"), 2)?;
    std::fs::copy(
        p.path("data2/test/CEDAR WAXWING/1.png"),
        p.path("data/test/CEDAR WAXWING/9.png"),
    )?;
    let out = p.birds(&["run", "p", "--set", "ingest.near_duplicate_distance=3"])?;
    assert_eq!(ran(&out), vec!["ingest", "files"], "{}", text(&out));

    // The stage's own param check, with the line.
    let out = p.fails_any(&["run", "p", "--set", "ingest.near_dup=3"])?;
    assert!(
        text(&out).contains(
            "p.yaml:5:5: stage `ingest` (uses ingest): bad params: unknown field `near_dup`"
        ),
        "{}",
        text(&out)
    );
    Ok(())
}

/// The harness itself: a failing `birds` run through `ok` is an error that shows the command line, the working
/// folder, stderr and a listing of the folder, the listing cut at `util::LISTING_LINES` lines.
#[test]
fn harness_failure_output_shows_folder_stderr_and_listing() -> TestResult {
    // An existing folder, so that the failure provoked here does not keep a temporary project behind.
    let dir = tempfile::tempdir()?;
    let p = Project::at(dir.path());
    p.write("pipelines/other.yaml", "stages: []\n")?;
    p.write("data/listed.txt", "x")?;
    let stderr = String::from_utf8_lossy(&p.birds(&["status", "nope"])?.stderr).into_owned();
    assert!(stderr.contains("no pipeline `nope`"), "{stderr}");

    let err = p
        .ok(&["status", "nope"])
        .err()
        .ok_or("`birds status nope` succeeded")?
        .to_string();
    assert!(err.contains("expected success: birds status nope"), "{err}");
    assert!(
        err.contains(&format!("working folder: {}", dir.path().display())),
        "{err}"
    );
    assert!(err.contains(stderr.trim()), "{err}");
    assert!(err.contains("--- files\n"), "{err}");
    for entry in ["data/", "data/listed.txt", "pipelines/other.yaml"] {
        assert!(
            err.lines().any(|l| l == entry),
            "{entry} not listed:\n{err}"
        );
    }

    // A big folder: the listing stops at the bound and says how much it left out.
    for i in 0..util::LISTING_LINES + 10 {
        p.write(&format!("many/{i:04}.txt"), "")?;
    }
    let err = p
        .ok(&["status", "nope"])
        .err()
        .ok_or("`birds status nope` succeeded")?
        .to_string();
    let files = &err[err.find("--- files\n").ok_or("no listing")? + "--- files\n".len()..];
    let total = util::listing(p.root()).lines().count();
    assert!(total > util::LISTING_LINES + 10, "{total}");
    assert_eq!(files.lines().count(), util::LISTING_LINES + 1, "{files}");
    assert!(
        files.ends_with(&format!("… and {} more", total - util::LISTING_LINES)),
        "{files}"
    );
    Ok(())
}
