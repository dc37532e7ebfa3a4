//! The report from a complete fixture of stage outputs: every section with its numbers, escaping, "Not run" notes,
//! errors that name the file, determinism, and the pipeline stage.

mod report_fixture;

use std::collections::BTreeMap;

use birds_core::stage::{Stage, StageContext, StageSpec};
use birds_report::{INDEX_FILE, Inputs, ReportError, ReportParams, ReportStage, SECTIONS, report};
use report_fixture::{SCRIPT_LABEL, TestResult, write_all};

fn page(inputs: &Inputs, out: &std::path::Path) -> TestResult<(String, birds_report::Written)> {
    let written = report(inputs, &ReportParams::default(), out)?;
    Ok((std::fs::read_to_string(&written.path)?, written))
}

#[test]
fn every_section_has_its_numbers_and_data_is_escaped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inputs = write_all(dir.path())?;
    let (html, written) = page(&inputs, &dir.path().join("report"))?;
    for (id, title) in SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
        assert!(html.contains(title), "heading {title}");
    }
    assert!(!html.contains("class=\"not-run\""), "nothing is missing");
    // Ingest: 3 classes × (6 + 4 + 4) files.
    assert!(html.contains("<b>42</b><span>files indexed</span>"));
    assert!(html.contains("<b>3</b><span>classes</span>"));
    // Comparison: the fine-tune run is best on test (87.5 %), scratch has 41.7 %: 45.8 points.
    assert!(html.contains(r#"<tr class="best"><td>train-fine-tune</td>"#));
    assert!(html.contains("87.5 %") && html.contains("41.7 %"));
    assert!(html.contains("45.8 points ahead"), "verdict");
    // Training curves: one solid and one dashed line per run, 3 runs, 2 charts.
    assert_eq!(html.matches("<polyline").count(), 12);
    assert!(html.contains("Head warm-up"));
    // Summary: 24 images, 4 wrong → 83.3 % top-1.
    assert!(
        html.contains("<b>83.3 %</b><span>top-1 accuracy</span>"),
        "accuracy tile"
    );
    // Per-class: 3 rows; the script class has 5 of 8 right.
    assert_eq!(html.matches("<tr><td class=\"n\" data-v=\"").count(), 3);
    // Heatmap: the pair count and row totals.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; → CEDAR WAXWING: 3 of 8"));
    assert!(html.contains(">5/8<") && html.contains(">8/8<") && html.contains(">7/8<"));
    // Most confused: the 3-image pair first, with thumbnails.
    let first_pair = html
        .find("→ predicted as</span> CEDAR WAXWING: 3 images")
        .unwrap_or(usize::MAX);
    let second_pair = html
        .find("→ predicted as</span> &lt;script&gt;alert(1)&lt;/script&gt;: 1 image")
        .unwrap_or(0);
    assert!(first_pair < second_pair, "pairs in count order");
    // Thumbnails: pair 1: 3 wrong + 2 references; pair 2: 1 + 2; Grad-CAM: 2 (why-not) + 2 (gallery).
    assert_eq!(written.stats.images, 12);
    assert_eq!(written.stats.missing_images, 0);
    assert_eq!(
        html.matches("<img src=\"data:image/jpeg;base64,").count(),
        12
    );
    // Needs more training: the script class ranks first.
    let needs = &html[html.find("id=\"needs-more-training\"").unwrap_or(0)..];
    assert!(needs.contains("<td class=\"n\">1</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td class=\"n\">5/8</td>"));
    // Grad-CAM: one why-not pair, two gallery images, the checks table.
    assert!(html.contains("Why X, not Y (1 misclassified image)"));
    assert!(html.contains("Gallery (2 images)"));
    // The checks come from metrics.json: energy 55 % vs 20 % mask area, pointing 92.5 %, drops 0.300 vs 0.040.
    let gradcam = &html[html.find("id=\"gradcam\"").unwrap_or(0)..];
    assert!(gradcam.contains("share of CAM energy inside the bird mask"));
    assert!(gradcam.contains(r#"<td class="n">55.0 %</td><td class="n">20.0 % (mask area)</td>"#));
    assert!(gradcam.contains(r#"<td class="n">92.5 %</td>"#));
    assert!(gradcam.contains(
        r#"<td class="n">0.300</td><td class="n">0.040 (random pixels), 0.100 (random blobs)</td>"#
    ));
    // Escaping: no raw hostile markup anywhere; the only <script> is the page's own.
    assert!(!html.contains(SCRIPT_LABEL));
    assert!(!html.contains("<img src=x"));
    assert!(
        html.contains("&lt;IMG SRC=X ONERROR=ALERT(2)&gt;")
            || html.contains("&lt;img src=x onerror=alert(2)&gt;")
    );
    assert_eq!(html.matches("<script").count(), 1);
    // Self-contained: no external references.
    for bad in ["http://", "https://", "src=\"/", "href=\"http"] {
        let n = html.matches(bad).count();
        // The SVG namespace URI is the one allowed http:// string.
        let allowed = if bad == "http://" {
            html.matches("http://www.w3.org/2000/svg").count()
        } else {
            0
        };
        assert_eq!(n, allowed, "{bad}");
    }
    Ok(())
}

#[test]
fn gradcam_checks_fall_back_to_cams_parquet() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inputs = write_all(dir.path())?;
    let explain = inputs.explain.clone().unwrap_or_default();
    std::fs::remove_file(explain.join("metrics.json"))?;
    let (html, _) = page(&inputs, &dir.path().join("report"))?;
    let gradcam = &html[html.find("id=\"gradcam\"").unwrap_or(0)..];
    // Over the 3 correct check rows: energy 61 % vs 12 %, every peak inside, every CAM drop beats random.
    assert!(
        gradcam.contains(
            r#"<td class="n">3</td><td class="n">61.0 %</td><td class="n">12.0 % (mask area)</td>"#
        ),
        "{gradcam}"
    );
    assert!(gradcam.contains(r#"<td class="n">3</td><td class="n">100.0 %</td>"#));
    assert!(
        gradcam.contains(r#"<td class="n">0.420</td><td class="n">0.050 (random pixels)</td>"#)
    );
    Ok(())
}

#[test]
fn missing_inputs_say_not_run() -> TestResult {
    let dir = tempfile::tempdir()?;
    let all = write_all(dir.path())?;
    let only_ingest = Inputs {
        ingest: all.ingest.clone(),
        ..Inputs::default()
    };
    let (html, written) = page(&only_ingest, &dir.path().join("r1"))?;
    assert_eq!(written.stats.sections_not_run, 8);
    assert_eq!(html.matches("class=\"not-run\"").count(), 8);
    assert!(html.contains("Not run: the report has no <code>evaluate</code> input."));
    assert!(html.contains("Not run: the report has no <code>explain</code> input"));
    assert!(html.contains("<b>42</b><span>files indexed</span>"));

    let no_ingest = Inputs {
        ingest: None,
        ..all
    };
    let (html, written) = page(&no_ingest, &dir.path().join("r2"))?;
    assert_eq!(written.stats.sections_not_run, 1);
    assert!(html.contains("Not run: the report has no <code>ingest</code> input"));
    Ok(())
}

#[test]
fn errors_name_the_input_and_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let e = report(&Inputs::default(), &ReportParams::default(), dir.path()).err();
    assert!(matches!(e, Some(ReportError::NoInputs)));

    let inputs = write_all(dir.path())?;
    let eval = inputs.evaluate.clone().unwrap_or_default();
    std::fs::remove_file(eval.join("per_class.parquet"))?;
    let e = report(&inputs, &ReportParams::default(), &dir.path().join("r"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("per_class.parquet") && e.contains("evaluate"),
        "{e}"
    );

    std::fs::write(eval.join("per_class.parquet"), b"not parquet")?;
    let e = report(&inputs, &ReportParams::default(), &dir.path().join("r"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("per_class.parquet"), "{e}");
    assert!(
        !dir.path().join("r").join(INDEX_FILE).exists(),
        "no page on error"
    );
    Ok(())
}

#[test]
fn same_inputs_give_the_same_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inputs = write_all(dir.path())?;
    let (a, _) = page(&inputs, &dir.path().join("a"))?;
    let (b, _) = page(&inputs, &dir.path().join("b"))?;
    assert!(a == b, "report is deterministic");
    Ok(())
}

#[test]
fn pipeline_stage_reads_inputs_by_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let all = write_all(dir.path())?;
    let mut inputs = BTreeMap::new();
    inputs.insert("ingest".to_string(), all.ingest.clone().unwrap_or_default());
    for (name, path) in &all.runs {
        inputs.insert(name.clone(), path.clone());
    }
    inputs.insert(
        "evaluate".to_string(),
        all.evaluate.clone().unwrap_or_default(),
    );
    let out = dir.path().join("stage-out");
    std::fs::create_dir_all(&out)?;
    let params = serde_json::json!({"title": "Birds & <friends>", "gallery": 2});
    assert!(ReportStage.check_params(&params).is_ok());
    let bad = ReportStage
        .check_params(&serde_json::json!({"galery": 2}))
        .err()
        .unwrap_or_default();
    assert!(bad.contains("galery"), "{bad}");
    ReportStage
        .run(&StageContext {
            name: "report",
            params: &params,
            inputs: &inputs,
            out_dir: &out,
            root: dir.path(),
        })
        .map_err(|e| e.to_string())?;
    let html = std::fs::read_to_string(out.join(INDEX_FILE))?;
    assert!(html.contains("<title>Birds &amp; &lt;friends&gt;</title>"));
    assert_eq!(
        html.matches("class=\"not-run\"").count(),
        1,
        "only explain is missing"
    );
    assert!(html.contains("train-scratch"));
    Ok(())
}

/// A fine-tune whose kept checkpoint is a head warm-up epoch is called what it is: no improvement on the head.
#[test]
fn a_fine_tune_kept_at_its_warm_up_says_it_did_not_improve_on_the_head() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inputs = write_all(dir.path())?;
    let (html, _) = page(&inputs, &dir.path().join("r1"))?;
    assert!(!html.contains("Fine-tuning did not improve on the head alone"));
    let ft = dir.path().join("train-fine-tune");
    let mut s = birds_train::summary::Summary::read(&ft)?;
    s.best_epoch = 1;
    s.best_phase = Some("head-warmup".into());
    s.write(&ft)?;
    let (html, _) = page(&inputs, &dir.path().join("r2"))?;
    assert!(
        html.contains("Fine-tuning did not improve on the head alone: the checkpoint <b>train-fine-tune</b> kept is its head warm-up epoch 1"),
        "the warm-up verdict"
    );
    Ok(())
}

/// Fine-tune vs feature-extract image by image: the counts of a hand-made case, McNemar's p, and the words.
#[test]
fn the_paired_comparison_counts_what_each_run_alone_gets_right() -> TestResult {
    use birds_train::history::write_test_predictions;
    let dir = tempfile::tempdir()?;
    let inputs = write_all(dir.path())?;
    let truth = [0, 1, 2, 0, 1, 2];
    // Fine-tune wrong on image 5 only; feature-extract right on images 0, 1 and 4 only.
    write_test_predictions(
        &dir.path().join("train-fine-tune/test_predictions.parquet"),
        &truth,
        &[0, 1, 2, 0, 1, 0],
    )?;
    write_test_predictions(
        &dir.path()
            .join("train-feature-extract/test_predictions.parquet"),
        &truth,
        &[0, 1, 0, 1, 1, 0],
    )?;
    let (html, _) = page(&inputs, &dir.path().join("r1"))?;
    assert!(
        html.contains("Same 6 test images, image by image: <b>train-fine-tune</b> (fine-tune) gets <b>2</b> right that <b>train-feature-extract</b> (feature-extract) misses, and misses <b>0</b> that it gets right; both right on 3. McNemar's exact test: p = 0.500; a difference of 2 images that chance explains as well"),
        "{}",
        html.split("id=\"paired\"").nth(1).unwrap_or("no paired paragraph")
    );
    // Other images (a different count): said, not compared.
    write_test_predictions(
        &dir.path()
            .join("train-feature-extract/test_predictions.parquet"),
        &truth[..5],
        &[0, 1, 0, 1, 1],
    )?;
    let (html, _) = page(&inputs, &dir.path().join("r2"))?;
    assert!(html.contains(
        "No paired comparison of <b>train-fine-tune</b> and <b>train-feature-extract</b>"
    ));
    Ok(())
}

/// The Versions table shows the libtorch and tch a model was trained with, as its `checkpoint.json` records them
/// (the report links no libtorch of its own), and says "not recorded" for runs whose checkpoint lacks them.
#[test]
fn the_versions_table_reads_libtorch_from_the_checkpoint() -> TestResult {
    use birds_models::checkpoint::{BestMetrics, CheckpointMeta};
    let dir = tempfile::tempdir()?;
    let inputs = write_all(dir.path())?;
    let row = |k: &str, v: &str| format!("<tr><td>{k}</td><td>{v}</td></tr>");
    let (html, _) = page(&inputs, &dir.path().join("r1"))?;
    assert!(
        html.contains(&row("libtorch", "not recorded")),
        "no checkpoint.json"
    );
    assert!(html.contains(&row("tch", "not recorded")));
    let mut meta = CheckpointMeta {
        format: birds_models::checkpoint::FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: birds_models::Architecture::EfficientNetLite0,
        classes: vec!["A".into(), "B".into(), "C".into()],
        input_size: 32,
        normalization: birds_core::Normalization::Centered127,
        mode: "fine-tune".into(),
        params: serde_json::json!({"epochs": 4}),
        best: BestMetrics {
            metric: "val_accuracy".into(),
            epoch: 4,
            val_accuracy: 0.917,
            val_loss: 0.083,
            test_accuracy: None,
            test_loss: None,
        },
        eval_view: None,
        runtime: None,
    };
    let ft = dir.path().join("train-fine-tune");
    meta.write(&ft)?;
    let (html, _) = page(&inputs, &dir.path().join("r2"))?;
    assert!(
        html.contains(&row("libtorch", "not recorded")),
        "an older checkpoint"
    );
    meta.runtime = Some(birds_models::runtime::torch_versions());
    meta.write(&ft)?;
    let (html, _) = page(&inputs, &dir.path().join("r3"))?;
    let libtorch = birds_models::runtime::LIBTORCH_VERSION;
    assert!(
        html.contains(&row("libtorch", libtorch)),
        "libtorch {libtorch}"
    );
    assert!(html.contains(&row("tch", birds_models::runtime::TCH_VERSION)));
    // A runtime record that is not one is an error naming the file.
    let text = std::fs::read_to_string(ft.join("checkpoint.json"))?
        .replace("\"libtorch\":", "\"lib_torch\":");
    std::fs::write(ft.join("checkpoint.json"), text)?;
    let e = birds_report::report(&inputs, &ReportParams::default(), &dir.path().join("r4"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("train-fine-tune/checkpoint.json") && e.contains("runtime"),
        "{e}"
    );
    Ok(())
}
