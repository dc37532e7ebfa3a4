//! The written outputs of hand-built evaluations (no model): consistency between the files, every class present,
//! schemas, and the pictures at 30 and at 525 classes.

use std::fs::File;
use std::path::Path;

use birds_artifacts::diagnose::{ClassDiagnosisRow, Curve};
use birds_core::Split;
use birds_core::schema::Schema;
use birds_core::schema::evaluate::{
    CONFUSION, MOST_CONFUSED, NEEDS_MORE_TRAINING, PER_CLASS, PREDICTIONS,
};
use birds_evaluate::metrics::Scores;
use birds_evaluate::report::{Calibrated, ImageInfo, OodInfo, OodScores, SplitCounts};
use birds_evaluate::run::{RunInfo, write_outputs};
use birds_evaluate::write::check_schema;
use birds_evaluate::{EvaluateParams, Evaluation, SummaryFile};
use polars::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A small deterministic generator (the tests need no rand crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `k` classes with `per_class` valid and `per_class` test images each, except that the last class has no test
/// image; the model is right about 70 % of the time and otherwise prefers the "next" class (so pairs repeat).
fn synthetic(
    k: usize,
    per_class: usize,
    seed: u64,
) -> Result<Evaluation, Box<dyn std::error::Error>> {
    let mut rng = Lcg(seed);
    let classes: Vec<String> = (0..k)
        .map(|c| format!("SPECIES {c:03} OF A LONGISH NAME"))
        .collect();
    let (mut images, mut targets, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    for split in [Split::Valid, Split::Test] {
        for (c, class) in classes.iter().enumerate() {
            if split == Split::Test && c == k - 1 {
                continue;
            }
            for j in 0..per_class {
                let sample = images.len() as u32;
                images.push(ImageInfo {
                    sample,
                    path: format!("{split}/{class}/{j}.jpg"),
                    root: "/data".into(),
                    split,
                });
                targets.push(c as u32);
                let mut row: Vec<f64> = (0..k).map(|_| rng.next() * 0.1).collect();
                let winner = if rng.next() < 0.7 {
                    c
                } else {
                    (c + 1 + (rng.next() * 2.0) as usize) % k
                };
                row[winner] += 2.0 + rng.next();
                let sum: f64 = row.iter().sum();
                probs.extend(row.iter().map(|p| p / sum));
            }
        }
    }
    let per = |n: u64| vec![n; k];
    let mut test = per(per_class as u64);
    test[k - 1] = 0;
    Ok(Evaluation {
        scores: Scores::new(k, targets, probs)?,
        classes,
        images,
        counts: SplitCounts {
            train: (0..k as u64).map(|c| 20 + c % 7).collect(),
            valid: per(per_class as u64),
            test,
        },
        calibration: None,
        ood: None,
        diagnosis: None,
    })
}

fn thumb(sample: u32) -> Option<image::RgbImage> {
    Some(image::RgbImage::from_fn(48, 48, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 5) as u8, (sample * 40 % 256) as u8])
    }))
}

fn read(dir: &Path, schema: &Schema) -> Result<DataFrame, Box<dyn std::error::Error>> {
    let df = ParquetReader::new(File::open(dir.join(schema.file))?).finish()?;
    check_schema(&df, schema)?;
    Ok(df)
}

fn read_summary(dir: &Path) -> Result<SummaryFile, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        dir.join("summary.json"),
    )?)?)
}

#[test]
fn files_agree_with_each_other_and_list_every_class() -> TestResult {
    let eval = synthetic(30, 5, 1)?;
    let dir = tempfile::tempdir()?;
    let params = EvaluateParams::default();
    let summary = write_outputs(dir.path(), &eval, &params, &RunInfo::default(), &thumb)?;

    let preds = read(dir.path(), &PREDICTIONS)?;
    assert_eq!(preds.height(), eval.scores.len());
    let correct = preds.column("correct")?.bool()?;
    let mean_correct = correct.sum().unwrap_or(0) as f64 / preds.height() as f64;
    let on_disk = read_summary(dir.path())?;
    assert_eq!(on_disk, summary);
    assert!(
        (on_disk.overall.accuracy - mean_correct).abs() < 1e-12,
        "{} vs {mean_correct}",
        on_disk.overall.accuracy
    );
    assert!(on_disk.overall.accuracy > 0.4 && on_disk.overall.accuracy < 0.95);

    // Every prediction row: the top-5 starts with the prediction, probabilities descend, loss = −ln prob_true.
    let pred_ids = preds.column("pred_id")?.u32()?;
    let top_ids = preds.column("top5_ids")?.list()?;
    let top_probs = preds.column("top5_probs")?.list()?;
    let conf = preds.column("confidence")?.f64()?;
    let loss = preds.column("loss")?.f64()?;
    let prob_true = preds.column("prob_true")?.f64()?;
    for i in 0..preds.height() {
        let ids: Vec<u32> = top_ids
            .get_as_series(i)
            .ok_or("null top5")?
            .u32()?
            .into_no_null_iter()
            .collect();
        let ps: Vec<f32> = top_probs
            .get_as_series(i)
            .ok_or("null top5")?
            .f32()?
            .into_no_null_iter()
            .collect();
        assert_eq!((ids.len(), ps.len()), (5, 5));
        assert_eq!(Some(ids[0]), pred_ids.get(i));
        assert!(ps.windows(2).all(|w| w[0] >= w[1]), "row {i}: {ps:?}");
        assert!((f64::from(ps[0]) - conf.get(i).unwrap_or(-1.0)).abs() < 1e-6);
        let (l, p) = (
            loss.get(i).unwrap_or(-1.0),
            prob_true.get(i).unwrap_or(-1.0),
        );
        assert!((l + p.ln()).abs() < 1e-9);
    }

    // Confusion counts sum to the number of predictions; its diagonal to the correct ones.
    let confusion = read(dir.path(), &CONFUSION)?;
    let counts = confusion.column("count")?.u32()?;
    let total: u64 = counts.into_no_null_iter().map(u64::from).sum();
    assert_eq!(total, preds.height() as u64);
    let t = confusion.column("true_id")?.u32()?;
    let p = confusion.column("pred_id")?.u32()?;
    let diagonal: u64 = (0..confusion.height())
        .filter(|&i| t.get(i) == p.get(i))
        .map(|i| u64::from(counts.get(i).unwrap_or(0)))
        .sum();
    assert_eq!(diagonal, correct.sum().unwrap_or(0) as u64);

    // Every class in per_class, the last one with zero test images; supports add up.
    let pc = read(dir.path(), &PER_CLASS)?;
    assert_eq!(pc.height(), 30);
    let test_images = pc.column("test_images")?.u32()?;
    assert_eq!(test_images.get(29), Some(0));
    assert_eq!(test_images.get(0), Some(5));
    let support: u64 = pc
        .column("support")?
        .u32()?
        .into_no_null_iter()
        .map(u64::from)
        .sum();
    assert_eq!(support, preds.height() as u64);
    let csv = std::fs::read_to_string(dir.path().join("per_class.csv"))?;
    assert_eq!(csv.lines().count(), 31);
    assert!(csv.starts_with(&PER_CLASS.names().join(",")));
    let md = std::fs::read_to_string(dir.path().join("per_class.md"))?;
    assert!(
        md.contains("| SPECIES 029 OF A LONGISH NAME | 21 | 5 | 0 | 5 |"),
        "{md}"
    );

    // The ranking holds every class once, ordered by the bound; the summary lists its first five.
    let rank = read(dir.path(), &NEEDS_MORE_TRAINING)?;
    assert_eq!(rank.height(), 30);
    let bounds: Vec<f64> = rank
        .column("recall_lower")?
        .f64()?
        .into_no_null_iter()
        .collect();
    assert!(bounds.windows(2).all(|w| w[0] <= w[1]), "{bounds:?}");
    let labels: Vec<&str> = rank
        .column("label")?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default())
        .collect();
    let weakest: Vec<&str> = on_disk.weakest.iter().map(|w| w.label.as_str()).collect();
    assert_eq!(weakest, labels[..5].to_vec());
    let steps: Vec<&str> = rank
        .column("next_step")?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default())
        .collect();
    assert!(
        steps[0].starts_with("collect more images of"),
        "{}",
        steps[0]
    );

    // most_confused: off-diagonal only, sorted, shares consistent.
    let mc = read(dir.path(), &MOST_CONFUSED)?;
    let c: Vec<u32> = mc.column("count")?.u32()?.into_no_null_iter().collect();
    assert!(!c.is_empty() && c.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(
        c.iter().map(|&x| u64::from(x)).sum::<u64>() + diagonal,
        preds.height() as u64
    );

    // Per split figures: valid and test, image counts adding up.
    let by: u64 = on_disk.by_split.values().map(|s| s.images).sum();
    assert_eq!(by, preds.height() as u64);
    assert_eq!(
        on_disk.by_split.keys().cloned().collect::<Vec<_>>(),
        vec!["test", "valid"]
    );

    // Pictures: the full 30×30 heatmap and a 4×4 grid of 16 tiles.
    let heat = image::open(dir.path().join("confusion.png"))?.to_rgb8();
    assert!(
        heat.width() >= 640 && heat.height() > 30 * 14,
        "{:?}",
        heat.dimensions()
    );
    let grid = image::open(dir.path().join("top_losses.png"))?.to_rgb8();
    assert!(
        grid.width() >= 4 * 200 && grid.height() >= 4 * 200,
        "{:?}",
        grid.dimensions()
    );
    Ok(())
}

#[test]
fn calibrated_and_scored_evaluations_write_before_and_after_flags_and_the_diagram() -> TestResult {
    let mut eval = synthetic(12, 6, 3)?;
    let k = eval.classes.len();
    // The "uncalibrated" probabilities: the same rows flattened towards uniform (an under-confident network).
    let flat: Vec<f64> = (0..eval.scores.len())
        .flat_map(|i| {
            eval.scores
                .row(i)
                .iter()
                .map(|p| 0.5 * p + 0.5 / k as f64)
                .collect::<Vec<_>>()
        })
        .collect();
    let uncalibrated = Scores::new(k, eval.scores.targets().to_vec(), flat)?;
    eval.calibration = Some(Calibrated {
        temperature: 0.62,
        fit_images: 72,
        uncalibrated: uncalibrated.clone(),
    });
    let n = eval.scores.len();
    let scores: Vec<f64> = (0..n).map(|i| 0.5 + (i % 10) as f64 * 0.2).collect();
    eval.ood = Some(OodScores {
        info: OodInfo {
            method: birds_artifacts::evaluate::OodMethod::Mahalanobis,
            threshold: 2.15,
            quantile: 0.99,
            threshold_images: 72,
            fit_images: 240,
            shrinkage: 0.3,
        },
        scores: scores.clone(),
    });
    // The diagnose stage's findings: class 2 has 3 suspected label errors and a flat curve, class 5 a rising one.
    let curve_of = |c: usize| match c {
        2 => Curve::Flat,
        5 => Curve::Rising,
        _ => Curve::Saturated,
    };
    eval.diagnosis = Some(
        (0..k)
            .map(|c| ClassDiagnosisRow {
                class_id: c as u32,
                label: eval.classes[c].clone(),
                train_images: 20,
                label_issues: if c == 2 { 3 } else { 0 },
                issues_likely: (c == 2).then(|| eval.classes[3].clone()),
                recall: [0.5, 0.6, if c == 5 { 0.8 } else { 0.61 }],
                curve: curve_of(c),
            })
            .collect(),
    );
    let dir = tempfile::tempdir()?;
    let summary = write_outputs(
        dir.path(),
        &eval,
        &EvaluateParams::default(),
        &RunInfo::default(),
        &thumb,
    )?;
    let on_disk = read_summary(dir.path())?;
    assert!(on_disk.calibration.is_some() && on_disk.ood.is_some());
    let needs = read(dir.path(), &NEEDS_MORE_TRAINING)?;
    let ids: Vec<u32> = needs
        .column("class_id")?
        .u32()?
        .into_no_null_iter()
        .collect();
    let issues: Vec<u32> = needs
        .column("label_issues")?
        .u32()?
        .into_no_null_iter()
        .collect();
    let text = |name: &str| -> Result<Vec<String>, Box<dyn std::error::Error>> {
        Ok(needs
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (steps, curves) = (text("next_step")?, text("curve")?);
    for (row, &c) in ids.iter().enumerate() {
        assert_eq!(issues[row], if c == 2 { 3 } else { 0 });
        assert_eq!(curves[row], curve_of(c as usize).as_str());
        let step = &steps[row];
        assert_eq!(step.contains("3 suspected label errors"), c == 2, "{step}");
        assert_eq!(
            step.contains("more images will likely help"),
            c == 5,
            "{step}"
        );
        assert_eq!(step.contains("will not help much"), c == 2, "{step}");
        // A flat curve does not also say "collect more images".
        assert!(!(c == 2 && step.contains("collect more images")), "{step}");
    }

    let cal = summary.calibration.ok_or("no calibration section")?;
    assert_eq!(
        (cal.temperature, cal.fitted_on, cal.fit_images),
        (Some(0.62), Split::Valid, 72)
    );
    for (split, figures) in &cal.by_split {
        let rows: Vec<usize> = (0..n)
            .filter(|&i| eval.images[i].split.as_str() == split)
            .collect();
        let before = birds_evaluate::metrics::summarize(&uncalibrated.select(&rows));
        let after = &summary.by_split[split];
        assert_eq!(figures.images, rows.len() as u64);
        assert_eq!(
            (figures.nll_before, figures.ece_before),
            (before.nll, before.ece)
        );
        assert_eq!(
            (figures.nll_after, figures.ece_after),
            (after.nll, after.ece)
        );
        assert!(figures.mean_confidence_before < figures.mean_confidence_after);
    }

    let preds = read(dir.path(), &PREDICTIONS)?;
    let written: Vec<f64> = preds
        .column("ood_score")?
        .f64()?
        .into_no_null_iter()
        .collect();
    assert_eq!(written, scores);
    let flags: Vec<bool> = preds
        .column("ood")?
        .bool()?
        .iter()
        .map(|f| f.unwrap_or(false))
        .collect();
    assert_eq!(flags, scores.iter().map(|&s| s > 2.15).collect::<Vec<_>>());
    let ood = summary.ood.ok_or("no ood section")?;
    let flagged: u64 = ood.by_split.values().map(|s| s.flagged).sum();
    assert_eq!(flagged, flags.iter().filter(|&&f| f).count() as u64);
    assert_eq!(ood.info.threshold, 2.15);

    let diagram = image::open(dir.path().join("reliability.png"))?.to_rgb8();
    assert!(diagram.width() >= 2 * 400, "{:?}", diagram.dimensions());

    // Without a detector the two columns are there, all null.
    let plain = synthetic(12, 2, 3)?;
    let dir = tempfile::tempdir()?;
    write_outputs(
        dir.path(),
        &plain,
        &EvaluateParams::default(),
        &RunInfo::default(),
        &thumb,
    )?;
    let preds = read(dir.path(), &PREDICTIONS)?;
    assert_eq!(preds.column("ood_score")?.null_count(), preds.height());
    assert!(!dir.path().join("reliability.png").exists());
    Ok(())
}

#[test]
fn same_inputs_give_identical_files() -> TestResult {
    let eval = synthetic(12, 3, 7)?;
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let params = EvaluateParams::default();
    write_outputs(a.path(), &eval, &params, &RunInfo::default(), &thumb)?;
    write_outputs(b.path(), &eval, &params, &RunInfo::default(), &thumb)?;
    let mut names: Vec<String> = std::fs::read_dir(a.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(names.len(), 12, "{names:?}");
    for name in names {
        assert_eq!(
            std::fs::read(a.path().join(&name))?,
            std::fs::read(b.path().join(&name))?,
            "{name} differs between runs"
        );
    }
    Ok(())
}

#[test]
fn renders_525_classes_as_the_most_confused_submatrix() -> TestResult {
    let eval = synthetic(525, 2, 3)?;
    let dir = tempfile::tempdir()?;
    let params = EvaluateParams {
        top_losses: 4,
        ..EvaluateParams::default()
    };
    let summary = write_outputs(dir.path(), &eval, &params, &RunInfo::default(), &thumb)?;
    assert_eq!(summary.classes, 525);
    let heat = image::open(dir.path().join("confusion.png"))?.to_rgb8();
    // 40 classes at 19 px per cell plus labels: readable, not a 525-wide smear.
    assert!(
        heat.width() < 1600 && heat.height() < 1600,
        "{:?}",
        heat.dimensions()
    );
    // Some red (errors) and some green (correct) cells are drawn.
    let (mut red, mut green) = (0, 0);
    for p in heat.pixels() {
        let [r, g, b] = p.0;
        if r > 150 && g < 120 && b < 120 {
            red += 1;
        }
        if g > 100 && r < 90 && b < 130 {
            green += 1;
        }
    }
    assert!(red > 500 && green > 100, "red {red} green {green}");
    let pc = read(dir.path(), &PER_CLASS)?;
    assert_eq!(pc.height(), 525);
    Ok(())
}
