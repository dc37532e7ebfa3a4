//! Hostile-input cases: stdout a closed pipe (`birds run | head`, `birds status | true`).
//!
//! `println!` used to panic there ("failed printing to stdout: Broken pipe", exit 101) and the stage never ran. The
//! commands must finish their work and exit 0 without printing.

use std::process::{Output, Stdio};

use crate::util::{Project, TestResult};

/// Runs `birds ARGS` with stdout a pipe whose reading end is already closed, so every write fails with EPIPE.
fn closed_stdout(p: &Project, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let child = p
        .command(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()?;
    Ok(child.wait_with_output()?)
}

fn assert_clean(p: &Project, args: &[&str], out: &Output) -> TestResult {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("panicked") || stderr.contains("Broken pipe") {
        return Err(p
            .explain(args, out, "expected a quiet success with stdout closed")
            .into());
    }
    Ok(())
}

#[test]
fn run_and_status_finish_their_work_when_stdout_is_closed() -> TestResult {
    let p = Project::new()?;
    p.write(
        "pipelines/p.yaml",
        "stages:\n  - name: a\n    cmd: echo hi > out.txt\n    outs: [out.txt]\n",
    )?;
    let args = ["run", "p"];
    let out = closed_stdout(&p, &args)?;
    assert_clean(&p, &args, &out)?;
    assert_eq!(p.read("out.txt"), "hi\n", "the stage must have run");
    assert!(
        p.read("pipelines/p.lock").contains("a"),
        "the run must be recorded"
    );

    for args in [["status", "p"], ["dag", "p"]] {
        let out = closed_stdout(&p, &args)?;
        assert_clean(&p, &args, &out)?;
    }
    // Recorded as done: the next run has nothing to do.
    let out = p.ok(&["status", "p"])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    Ok(())
}

#[test]
fn ingest_writes_its_index_when_stdout_is_closed() -> TestResult {
    let p = Project::new()?;
    for split in ["train", "valid", "test"] {
        for (label, shade) in [("ALPHA", 40u8), ("BETA", 200u8)] {
            let img = image::RgbImage::from_pixel(16, 16, image::Rgb([shade, 255 - shade, 90]));
            let path = p.path(&format!("data/{split}/{label}/1.png"));
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            img.save(&path)?;
        }
    }
    let args = ["ingest", "--data", "data", "--out", "idx"];
    let out = closed_stdout(&p, &args)?;
    assert_clean(&p, &args, &out)?;
    assert!(
        p.path("idx/images.parquet").is_file(),
        "{}",
        p.explain(&args, &out, "no index")
    );
    Ok(())
}
