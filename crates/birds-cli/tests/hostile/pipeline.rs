//! Hostile-input cases of the pipeline runner: outs over the user's own files, symlink loops in a dep, orphans of a
//! killed stage, a garbage lock file, huge pipelines, and `birds run PIPELINE TARGET`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Project, TestResult};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> TestResult {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn outs_over_the_pipelines_folder_or_vcs_are_refused_before_anything_runs() -> TestResult {
    for out in [
        "pipelines",
        "pipelines/p.yaml",
        "pipelines/p.lock",
        ".git",
        ".git/x",
    ] {
        let p = Project::new()?;
        p.write(".git/HEAD", "ref: refs/heads/main\n")?;
        let yaml = format!(
            "stages:\n  - name: a\n    cmd: rm -rf {out}; mkdir -p {out}\n    outs: [{out}]\n"
        );
        p.write("pipelines/p.yaml", &yaml)?;
        for args in [["run", "p"], ["status", "p"]] {
            let err = p.fails(&args)?;
            assert!(err.contains(&format!("out `{out}`")), "{out}: {err}");
            assert!(err.contains("help:"), "{out}: {err}");
        }
        assert_eq!(
            p.read("pipelines/p.yaml"),
            yaml,
            "{out}: the pipeline survives"
        );
        assert!(p.path(".git/HEAD").is_file(), "{out}: .git survives");
    }
    Ok(())
}

#[test]
fn an_existing_out_birds_did_not_write_is_refused_not_deleted() -> TestResult {
    let p = Project::new()?;
    p.write("mine/keep.txt", "the user's own file\n")?;
    p.write(
        "pipelines/p.yaml",
        "stages:\n  - name: a\n    cmd: mkdir -p mine && echo new > mine/new.txt\n    outs: [mine]\n",
    )?;
    let out = p.ok(&["run", "p", "--dry-run"])?;
    assert!(
        text(&out).contains("out `mine` exists and birds did not write it"),
        "dry run shows it: {}",
        text(&out)
    );
    let out = p.ok(&["status", "p"])?;
    assert!(
        text(&out).contains("out `mine` exists and birds did not write it"),
        "status shows it: {}",
        text(&out)
    );
    let out = p.birds(&["run", "p"])?;
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("--overwrite-outs"), "says how to proceed: {t}");
    assert_eq!(
        p.read("mine/keep.txt"),
        "the user's own file\n",
        "nothing deleted"
    );
    assert!(!p.path("mine/new.txt").exists(), "the stage did not run");

    // The documented flag lets birds take it over; from then on it is birds's out.
    p.ok(&["run", "p", "--overwrite-outs"])?;
    assert_eq!(p.read("mine/new.txt"), "new\n");
    assert!(!p.path("mine/keep.txt").exists());
    let out = p.ok(&["run", "p", "--force"])?;
    assert!(text(&out).contains("1 ran"), "{}", text(&out));
    // Deleting the lock file keeps birds's record of what it wrote.
    std::fs::remove_file(p.path("pipelines/p.lock"))?;
    let out = p.ok(&["run", "p"])?;
    assert!(text(&out).contains("1 ran"), "{}", text(&out));
    Ok(())
}

#[test]
fn a_killed_first_run_leaves_outs_birds_may_replace() -> TestResult {
    let p = Project::new()?;
    p.write(
        "pipelines/p.yaml",
        "stages:\n  - name: a\n    cmd: mkdir -p out && echo partial > out/x && touch started && while [ -f hold ]; do sleep 0.05; done; echo done > out/x\n    outs: [out]\n",
    )?;
    p.write("hold", "")?;
    let mut run = p
        .command(&["run", "p"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for("the stage to start", || p.path("started").exists())?;
    run.kill()?;
    run.wait()?;
    std::fs::remove_file(p.path("hold"))?;
    p.ok(&["run", "p"])?;
    assert_eq!(p.read("out/x"), "done\n");
    Ok(())
}

#[test]
fn symlink_loops_in_a_dep_are_walked_once() -> TestResult {
    let p = Project::new()?;
    p.write("data/train/X/1.txt", "one")?;
    p.write("data/train/Y/2.txt", "two")?;
    std::os::unix::fs::symlink("..", p.path("data/train/X/a"))?;
    std::os::unix::fs::symlink("..", p.path("data/train/X/b"))?;
    std::os::unix::fs::symlink("../../data", p.path("data/train/Y/up"))?;
    p.write(
        "pipelines/p.yaml",
        "stages:\n  - name: a\n    cmd: ls -R data > out.txt\n    deps: [data]\n    outs: [out.txt]\n",
    )?;
    let start = Instant::now();
    let mut child = p
        .command(&["run", "p"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    while child.try_wait()?.is_none() {
        if start.elapsed() > Duration::from_secs(15) {
            child.kill()?;
            child.wait()?;
            return Err("birds run did not finish within 15 s on a dep with symlink loops".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("data/train/X/a"),
        "the skipped link is named: {}",
        text(&out)
    );
    let lock = p.read("pipelines/p.lock");
    assert!(lock.contains("files: 2"), "each real file once: {lock}");
    let out = p.ok(&["status", "p"])?;
    assert!(
        text(&out).contains("everything up to date"),
        "{}",
        text(&out)
    );
    Ok(())
}

#[test]
fn background_children_of_a_killed_stage_do_not_outlive_it() -> TestResult {
    let p = Project::new()?;
    let yaml = "stages:\n  - name: a\n    cmd: mkdir out; echo v${params.v} > out/y; (sleep 2; echo late > out/x) & touch started; while [ -f hold ]; do sleep 0.05; done\n    params: { v: 1 }\n    outs: [out]\n";
    p.write("pipelines/p.yaml", yaml)?;
    p.ok(&["run", "p"])?;
    std::thread::sleep(Duration::from_millis(2500));
    // A background child of a successful stage is killed when the stage ends.
    assert!(
        !p.path("out/x").exists(),
        "the stage's leftover child wrote after it ended"
    );
    let _ = std::fs::remove_file(p.path("started"));

    // Killed run: kill -9 of birds while the stage and its background child run.
    p.write("hold", "")?;
    let mut run = p
        .command(&["run", "p", "--set", "a.v=2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for("the stage to start", || p.path("started").exists())?;
    run.kill()?;
    run.wait()?;
    std::fs::remove_file(p.path("hold"))?;
    let out = p.ok(&["run", "p"])?;
    assert!(text(&out).contains("a  up to date"), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !p.path("out/x").exists(),
        "an orphan of the killed run wrote into the restored out"
    );
    assert_eq!(p.read("out/y"), "v1\n");
    let out = p.ok(&["status", "p"])?;
    assert!(
        text(&out).contains("everything up to date"),
        "{}",
        text(&out)
    );

    // SIGTERM to birds: the stage's whole process group goes with it.
    let _ = std::fs::remove_file(p.path("started"));
    p.write("hold", "")?;
    let run = p
        .command(&["run", "p", "--set", "a.v=3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for("the stage to start", || p.path("started").exists())?;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()?;
    assert!(killed.success());
    let _ = run.wait_with_output()?;
    std::fs::remove_file(p.path("hold"))?;
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !p.path("out/x").exists(),
        "a child of the stage outlived SIGTERM to birds"
    );
    Ok(())
}

#[test]
fn a_garbage_lock_file_is_named_once_with_what_to_do() -> TestResult {
    let p = Project::new()?;
    p.write(
        "pipelines/p.yaml",
        "stages:\n  - name: a\n    cmd: echo a > a.txt\n    outs: [a.txt]\n",
    )?;
    p.write("pipelines/p.lock", b"\xff\xfe\x00garbage\x80")?;
    for args in [["status", "p"], ["run", "p"]] {
        let err = p.fails(&args)?;
        assert!(err.contains("p.lock"), "{err}");
        assert_eq!(err.matches("UTF-8").count(), 1, "said once: {err}");
        assert!(err.contains("help: delete it"), "{err}");
    }
    Ok(())
}

#[test]
fn a_pipeline_of_20000_stages_validates() -> TestResult {
    let p = Project::new()?;
    let n = 20_000;
    let mut yaml = String::from("stages:\n");
    for i in 0..n {
        let dep = if i == 0 {
            String::new()
        } else {
            format!("\n    deps: [out/s{}.txt]", i - 1)
        };
        yaml.push_str(&format!(
            "  - name: s{i}\n    cmd: echo {i} > out/s{i}.txt{dep}\n    outs: [out/s{i}.txt]\n"
        ));
    }
    // One overlap at the far end, to show the checks still run.
    p.write("pipelines/p.yaml", &yaml)?;
    let out = p.ok(&["dag", "p"])?;
    let t = String::from_utf8_lossy(&out.stdout);
    assert_eq!(t.lines().count(), n, "one line per stage");
    let last = format!("s{} (out/s{}.txt)", n - 2, n - 2);
    assert!(
        t.lines()
            .last()
            .is_some_and(|l| l.starts_with(&format!("s{} ", n - 1)) && l.ends_with(&last)),
        "edges found: {:?}",
        t.lines().last()
    );
    yaml.push_str("  - name: extra\n    cmd: mkdir -p out\n    outs: [out]\n");
    p.write("pipelines/p.yaml", &yaml)?;
    let err = p.fails(&["dag", "p"])?;
    assert!(
        err.contains("overlapping outs"),
        "{}",
        &err[..err.len().min(500)]
    );
    Ok(())
}

const ABC: &str = "stages:
  - name: a
    cmd: echo a > a.txt && echo a >> ran.txt
    outs: [a.txt]
  - name: b
    cmd: cat a.txt > b.txt && echo b >> ran.txt
    deps: [a]
    outs: [b.txt]
  - name: c
    cmd: cat b.txt > c.txt && echo c >> ran.txt
    deps: [b]
    outs: [c.txt]
";

fn ran(p: &Project) -> Vec<String> {
    let r = p.read("ran.txt").lines().map(str::to_string).collect();
    let _ = std::fs::remove_file(p.path("ran.txt"));
    r
}

#[test]
fn run_target_runs_it_and_its_stale_upstream_only() -> TestResult {
    let p = Project::new()?;
    p.write("pipelines/p.yaml", ABC)?;
    let out = p.ok(&["status", "p", "b"])?;
    let t = text(&out);
    assert!(
        t.contains("a  stale") && t.contains("b  stale") && !t.contains("c "),
        "{t}"
    );
    p.ok(&["run", "p", "b"])?;
    assert_eq!(ran(&p), ["a", "b"]);
    assert!(!p.path("c.txt").exists());
    p.ok(&["run", "p", "b"])?;
    assert!(ran(&p).is_empty(), "second time nothing");
    p.ok(&["run", "p", "b", "--force"])?;
    assert_eq!(
        ran(&p),
        ["a", "b"],
        "--force forces the target and its upstream"
    );
    p.ok(&["run", "p", "c"])?;
    assert_eq!(ran(&p), ["c"]);
    let err = p.fails(&["run", "p", "nope"])?;
    assert!(err.contains("no stage `nope`"), "{err}");
    Ok(())
}
