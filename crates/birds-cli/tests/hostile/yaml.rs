//! Hostile-input cases: pipeline files that are broken, huge, deeply nested, self-referencing (alias bombs) or not
//! regular files. Each must fail within seconds with a message that names the file, and run nothing.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Project, TestResult};

/// `birds status p` must fail cleanly, within `limit`, naming `pipelines/p.yaml` and `what` in stderr.
fn refused(p: &Project, what: &str) -> TestResult {
    let args = ["status", "p"];
    let mut child = p
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill()?;
            let out = child.wait_with_output()?;
            return Err(p
                .explain(&args, &out, "birds hung on the pipeline file")
                .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || out.status.code() == Some(101) || stderr.contains("panicked") {
        return Err(p.explain(&args, &out, "expected a clean refusal").into());
    }
    if !stderr.contains("p.yaml") || !stderr.to_lowercase().contains(&what.to_lowercase()) {
        return Err(p
            .explain(
                &args,
                &out,
                &format!("the message must name p.yaml and say `{what}`"),
            )
            .into());
    }
    Ok(())
}

#[test]
fn syntax_errors_name_the_line() -> TestResult {
    let p = Project::new()?;
    p.write("pipelines/p.yaml", "stages:\n  - name: a\n\tcmd: echo\n")?;
    refused(&p, "p.yaml:3")
}

#[test]
fn non_utf8_and_empty_files_are_refused() -> TestResult {
    let p = Project::new()?;
    p.write(
        "pipelines/p.yaml",
        b"stages:\n  - name: \xff\xfe\n    cmd: echo\n",
    )?;
    refused(&p, "UTF-8")?;
    p.write("pipelines/p.yaml", "")?;
    refused(&p, "stage")
}

#[test]
fn an_alias_bomb_is_refused_quickly() -> TestResult {
    // "Billion laughs": nine levels of ten aliases each would expand to 10^9 strings.
    let mut yaml = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        let refs = [prev.as_str(); 10].join(", ");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    yaml.push_str("stages:\n  - name: a\n    cmd: echo\n    params: { bomb: *a9 }\n");
    let p = Project::new()?;
    p.write("pipelines/p.yaml", yaml)?;
    refused(&p, "p.yaml")
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() -> TestResult {
    let depth = 100_000;
    let yaml = format!(
        "stages:\n  - name: a\n    cmd: echo\n    params: {{ deep: {}{} }}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let p = Project::new()?;
    p.write("pipelines/p.yaml", yaml)?;
    refused(&p, "p.yaml")
}

#[test]
fn a_pipeline_that_is_a_fifo_or_a_folder_is_refused() -> TestResult {
    let p = Project::new()?;
    let fifo = p.path("pipelines/p.yaml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status()?;
    assert!(status.success(), "mkfifo failed");
    refused(&p, "not a regular file")?;
    std::fs::remove_file(&fifo)?;
    std::fs::create_dir_all(&fifo)?;
    refused(&p, "p.yaml")
}
