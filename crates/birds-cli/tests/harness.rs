//! The shared harness (`tests/util/mod.rs`) checked on itself: a failing command's message carries what a reader
//! needs (expectation, command line, environment, working folder, status, stdout, stderr, the project's files), a
//! temporary project whose case failed is kept on disk, and one that passed is removed.

mod util;

use util::{Project, TestResult, listing_bounded};

#[test]
fn a_failed_expectation_shows_folder_files_and_both_streams() -> TestResult {
    let p = Project::new()?.with_env("BIRDS_THREADS", "1");
    p.write("pipelines/broken.yaml", "stages: [\n")?;
    p.write("data/notes.txt", "x")?;
    let Err(err) = p.ok(&["run", "broken"]) else {
        return Err("`birds run` of a malformed pipeline succeeded".into());
    };
    let msg = err.to_string();
    let root = p.root().display().to_string();
    for want in [
        "expected success: birds run broken",
        "env: -RUST_LOG BIRDS_THREADS=1",
        &format!("working folder: {root}"),
        &format!("project: {root} (kept after this failure)"),
        "status: exit status: ",
        "--- stdout\n",
        "--- files\n",
        "data/\ndata/notes.txt\npipelines/\npipelines/broken.yaml",
    ] {
        assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
    }
    // stderr is birds' own error message, naming the pipeline file.
    let stderr = msg
        .split("--- stderr\n")
        .nth(1)
        .and_then(|s| s.split("\n--- files").next())
        .ok_or("no stderr section")?;
    assert!(stderr.contains("broken.yaml"), "stderr section: {stderr:?}");

    let kept = p.root().to_path_buf();
    drop(p);
    assert!(kept.is_dir(), "a failed case's project was removed");
    std::fs::remove_dir_all(&kept)?;
    Ok(())
}

#[test]
fn an_unexpected_success_is_reported_with_its_stdout() -> TestResult {
    let p = Project::new()?;
    let Err(err) = p.fails(&["--help"]) else {
        return Err("`birds --help` was taken for a failure".into());
    };
    let msg = err.to_string();
    assert!(msg.starts_with("expected failure: birds --help\n"), "{msg}");
    assert!(msg.contains("status: exit status: 0"), "{msg}");
    let stdout = msg
        .split("--- stdout\n")
        .nth(1)
        .ok_or("no stdout section")?;
    assert!(stdout.contains("Usage: birds"), "{stdout}");
    let kept = p.root().to_path_buf();
    drop(p);
    assert!(kept.is_dir());
    std::fs::remove_dir_all(&kept)?;
    Ok(())
}

#[test]
fn a_passing_case_leaves_nothing_behind_and_quotes_odd_arguments() -> TestResult {
    let p = Project::new()?;
    let out = p.ok(&["--version"])?;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("birds "));
    let stderr = p.fails(&["run", "no such pipeline"])?;
    assert!(stderr.contains("no such pipeline"), "{stderr}");
    let out = p.birds(&["run", "it's"])?;
    let msg = p.explain(&["run", "it's"], &out, "shown");
    assert!(msg.starts_with(r"shown: birds run 'it'\''s'"), "{msg}");
    let root = p.root().to_path_buf();
    // explain marks the project failed; a fresh one that only passed is removed on drop.
    drop(p);
    std::fs::remove_dir_all(&root)?;
    let q = Project::new()?;
    q.ok(&["--version"])?;
    let gone = q.root().to_path_buf();
    drop(q);
    assert!(!gone.exists(), "a passing case's project was kept");
    Ok(())
}

#[test]
fn the_listing_is_bounded_and_says_how_much_it_left_out() -> TestResult {
    let p = Project::bare()?;
    for i in 0..5 {
        p.write(&format!("f{i}"), "")?;
    }
    assert_eq!(listing_bounded(p.root(), 10), "f0\nf1\nf2\nf3\nf4");
    assert_eq!(listing_bounded(p.root(), 2), "f0\nf1\n… and 3 more");
    let empty = Project::bare()?;
    assert_eq!(listing_bounded(empty.root(), 2), "(empty or unreadable)");
    Ok(())
}
