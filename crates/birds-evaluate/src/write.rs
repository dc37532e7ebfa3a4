//! Writing the stage's files: Parquet (columns from `birds_core::schema::evaluate`), CSV, Markdown, JSON, PNG.

use std::path::Path;

use birds_artifacts::FrameBuilder;
use birds_core::schema::Schema;
use birds_core::schema::evaluate::{
    CONFUSION, MOST_CONFUSED, NEEDS_MORE_TRAINING, PER_CLASS, PREDICTIONS,
};
use polars::prelude::*;

use crate::metrics::{ClassMetrics, Summary, TOP_K};
use crate::plots::{self, LossTile};
use crate::report::{Evaluation, Report, SummaryFile};
use crate::{EvaluateError, Result};

/// File names of the non-Parquet outputs.
pub mod files {
    /// Headline figures.
    pub const SUMMARY: &str = "summary.json";
    /// `per_class.parquet` as CSV.
    pub const PER_CLASS_CSV: &str = "per_class.csv";
    /// `per_class.parquet` as a Markdown table.
    pub const PER_CLASS_MD: &str = "per_class.md";
    /// The most-confused pairs as Markdown.
    pub const MOST_CONFUSED_MD: &str = "most_confused.md";
    /// The ranking as Markdown.
    pub const NEEDS_MORE_TRAINING_MD: &str = "needs_more_training.md";
    /// The heatmap.
    pub const CONFUSION_PNG: &str = "confusion.png";
    /// The top-losses grid.
    pub const TOP_LOSSES_PNG: &str = "top_losses.png";
}

pub use birds_artifacts::{check_schema, dtype_of};

/// Writes `columns` as `<out_dir>/<schema.file>`, each placed by its name where `schema` puts it, after checking
/// them against it.
fn write_parquet(
    out_dir: &Path,
    schema: &Schema,
    height: usize,
    columns: Vec<Column>,
) -> Result<()> {
    columns
        .into_iter()
        .fold(FrameBuilder::new(schema, height), FrameBuilder::column)
        .write(&out_dir.join(schema.file))?;
    Ok(())
}

fn u32s(values: impl Iterator<Item = u64>) -> Vec<u32> {
    values
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        .collect()
}

fn col<T, V>(name: &str, values: V) -> Column
where
    Series: NamedFrom<V, T>,
    T: ?Sized,
{
    Column::new(name.into(), values)
}

/// Label of class `c`.
fn label(eval: &Evaluation, c: u32) -> &str {
    eval.classes.get(c as usize).map_or("?", String::as_str)
}

/// `reliability.png`: the reliability diagram of the test split (else the last evaluated split) before and after
/// temperature scaling; nothing without a fitted temperature.
pub fn reliability(out_dir: &Path, eval: &Evaluation) -> Result<()> {
    let Some(cal) = &eval.calibration else {
        return Ok(());
    };
    let split = [
        birds_core::Split::Test,
        birds_core::Split::Valid,
        birds_core::Split::Train,
    ]
    .into_iter()
    .find(|&sp| eval.images.iter().any(|m| m.split == sp))
    .unwrap_or(birds_core::Split::Test);
    let rows: Vec<usize> = (0..eval.images.len())
        .filter(|&i| eval.images[i].split == split)
        .collect();
    let panel = |title: String, s: &crate::metrics::Scores| plots::ReliabilityPanel {
        title,
        confidence: rows.iter().map(|&i| s.confidence(i)).collect(),
        correct: rows.iter().map(|&i| s.correct(i)).collect(),
    };
    let panels = [
        panel("T = 1 (uncalibrated)".into(), &cal.uncalibrated),
        panel(
            format!("T = {:.3} (fitted on valid)", cal.temperature),
            &eval.scores,
        ),
    ];
    plots::reliability_png(
        &out_dir.join("reliability.png"),
        &panels,
        &format!(
            "reliability on the {} split: accuracy per confidence bin",
            split.as_str()
        ),
    )
}

/// `predictions.parquet`.
pub fn predictions(out_dir: &Path, eval: &Evaluation) -> Result<()> {
    let s = &eval.scores;
    let n = s.len();
    let k = TOP_K.min(s.num_classes());
    let top: Vec<Vec<u32>> = (0..n).map(|i| s.top_k(i, k)).collect();
    let preds = s.predictions();
    let list = |name: &str, f: &dyn Fn(usize) -> Series| {
        let items: Vec<Series> = (0..n).map(f).collect();
        Column::new(name.into(), items)
    };
    let columns = vec![
        col(
            "sample",
            eval.images.iter().map(|m| m.sample).collect::<Vec<u32>>(),
        ),
        col(
            "path",
            eval.images
                .iter()
                .map(|m| m.path.as_str())
                .collect::<Vec<_>>(),
        ),
        col(
            "root",
            eval.images
                .iter()
                .map(|m| m.root.as_str())
                .collect::<Vec<_>>(),
        ),
        col(
            "split",
            eval.images
                .iter()
                .map(|m| m.split.as_str())
                .collect::<Vec<_>>(),
        ),
        col("true_id", s.targets().to_vec()),
        col(
            "true_label",
            s.targets()
                .iter()
                .map(|&t| label(eval, t))
                .collect::<Vec<_>>(),
        ),
        col("pred_id", preds.clone()),
        col(
            "pred_label",
            preds.iter().map(|&p| label(eval, p)).collect::<Vec<_>>(),
        ),
        col(
            "confidence",
            (0..n).map(|i| s.confidence(i)).collect::<Vec<f64>>(),
        ),
        col(
            "prob_true",
            (0..n).map(|i| s.prob_true(i)).collect::<Vec<f64>>(),
        ),
        list("top5_ids", &|i| Series::new("".into(), top[i].clone())),
        list("top5_labels", &|i| {
            Series::new(
                "".into(),
                top[i].iter().map(|&c| label(eval, c)).collect::<Vec<_>>(),
            )
        }),
        list("top5_probs", &|i| {
            Series::new(
                "".into(),
                top[i]
                    .iter()
                    .map(|&c| s.row(i)[c as usize] as f32)
                    .collect::<Vec<f32>>(),
            )
        }),
        col("loss", (0..n).map(|i| s.loss(i)).collect::<Vec<f64>>()),
        col(
            "correct",
            (0..n).map(|i| s.correct(i)).collect::<Vec<bool>>(),
        ),
        col(
            "ood_score",
            (0..n)
                .map(|i| eval.ood.as_ref().map(|o| o.scores[i]))
                .collect::<Vec<Option<f64>>>(),
        ),
        col(
            "ood",
            (0..n)
                .map(|i| eval.ood.as_ref().map(|o| o.scores[i] > o.info.threshold))
                .collect::<Vec<Option<bool>>>(),
        ),
    ];
    write_parquet(out_dir, &PREDICTIONS, n, columns)
}

/// `per_class.parquet`, `per_class.csv` and `per_class.md`.
pub fn per_class(out_dir: &Path, eval: &Evaluation, report: &Report) -> Result<()> {
    let pc = &report.per_class;
    let mut columns = per_class_count_columns(eval, pc);
    columns.extend(per_class_metric_columns(eval, pc));
    write_parquet(out_dir, &PER_CLASS, pc.len(), columns)?;
    per_class_csv(out_dir, eval, pc)?;
    let md = per_class_markdown(eval, report);
    birds_core::atomic::write_bytes(&out_dir.join(files::PER_CLASS_MD), md.as_bytes())?;
    Ok(())
}

/// Images of class `c` in a split's per-class counts `v` (0 for a class the counts do not cover).
fn class_images(v: &[u64], c: u32) -> u64 {
    v.get(c as usize).copied().unwrap_or(0)
}

/// Label of the class most of `m`'s misclassified images went to; `None` when none was misclassified.
fn confuser_label(eval: &Evaluation, m: &ClassMetrics) -> Option<String> {
    m.main_confuser.map(|(c, _)| label(eval, c).to_string())
}

/// The first `per_class.parquet` columns: the class, its images per split, and its support, predicted and correct
/// counts.
fn per_class_count_columns(eval: &Evaluation, pc: &[ClassMetrics]) -> Vec<Column> {
    vec![
        col(
            "class_id",
            pc.iter().map(|m| m.class_id).collect::<Vec<u32>>(),
        ),
        col(
            "label",
            pc.iter()
                .map(|m| label(eval, m.class_id))
                .collect::<Vec<_>>(),
        ),
        col(
            "train_images",
            u32s(
                pc.iter()
                    .map(|m| class_images(&eval.counts.train, m.class_id)),
            ),
        ),
        col(
            "valid_images",
            u32s(
                pc.iter()
                    .map(|m| class_images(&eval.counts.valid, m.class_id)),
            ),
        ),
        col(
            "test_images",
            u32s(
                pc.iter()
                    .map(|m| class_images(&eval.counts.test, m.class_id)),
            ),
        ),
        col("support", u32s(pc.iter().map(|m| m.support))),
        col("predicted", u32s(pc.iter().map(|m| m.predicted))),
        col("correct", u32s(pc.iter().map(|m| m.correct))),
    ]
}

/// The remaining `per_class.parquet` columns: precision, recall, F1, top-5 recall, confidence, calibration gap,
/// recall's lower bound and the main confuser.
fn per_class_metric_columns(eval: &Evaluation, pc: &[ClassMetrics]) -> Vec<Column> {
    vec![
        col(
            "precision",
            pc.iter().map(|m| m.precision).collect::<Vec<f64>>(),
        ),
        col("recall", pc.iter().map(|m| m.recall).collect::<Vec<f64>>()),
        col("f1", pc.iter().map(|m| m.f1).collect::<Vec<f64>>()),
        col(
            "top5_recall",
            pc.iter().map(|m| m.top_k_recall).collect::<Vec<f64>>(),
        ),
        col(
            "mean_confidence",
            pc.iter()
                .map(|m| m.mean_confidence)
                .collect::<Vec<Option<f64>>>(),
        ),
        col(
            "calibration_gap",
            pc.iter()
                .map(|m| m.calibration_gap)
                .collect::<Vec<Option<f64>>>(),
        ),
        col(
            "recall_lower",
            pc.iter()
                .map(|m| m.recall_lower)
                .collect::<Vec<Option<f64>>>(),
        ),
        col(
            "most_confused_with",
            pc.iter()
                .map(|m| confuser_label(eval, m))
                .collect::<Vec<Option<String>>>(),
        ),
        col(
            "most_confused_count",
            u32s(pc.iter().map(|m| m.main_confuser.map_or(0, |(_, c)| c))),
        ),
    ]
}

/// `per_class.csv`: the same columns as `per_class.parquet`; nulls are empty fields.
fn per_class_csv(out_dir: &Path, eval: &Evaluation, pc: &[ClassMetrics]) -> Result<()> {
    let csv_path = out_dir.join(files::PER_CLASS_CSV);
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| EvaluateError::file(&csv_path, e);
    w.write_record(PER_CLASS.names()).map_err(csv_err)?;
    for m in pc {
        w.write_record(per_class_csv_record(eval, m))
            .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| EvaluateError::file(&csv_path, e.to_string()))?;
    birds_core::atomic::write_bytes(&csv_path, &bytes)?;
    Ok(())
}

/// One row of `per_class.csv`, in the column order of `per_class.parquet`.
fn per_class_csv_record(eval: &Evaluation, m: &ClassMetrics) -> [String; 17] {
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let c = m.class_id;
    [
        c.to_string(),
        label(eval, c).to_string(),
        class_images(&eval.counts.train, c).to_string(),
        class_images(&eval.counts.valid, c).to_string(),
        class_images(&eval.counts.test, c).to_string(),
        m.support.to_string(),
        m.predicted.to_string(),
        m.correct.to_string(),
        m.precision.to_string(),
        m.recall.to_string(),
        m.f1.to_string(),
        m.top_k_recall.to_string(),
        opt(m.mean_confidence),
        opt(m.calibration_gap),
        opt(m.recall_lower),
        confuser_label(eval, m).unwrap_or_default(),
        m.main_confuser.map_or(0, |(_, n)| n).to_string(),
    ]
}

/// `per_class.md`: an explanation of the columns, one table row per class, then the averages and overall figures.
fn per_class_markdown(eval: &Evaluation, report: &Report) -> String {
    let mut md = String::from("# Per-class report\n\n");
    md.push_str(&format!(
        "Evaluated on {} ({} images). Precision, recall and F1 as sklearn's `classification_report` with \
         `zero_division=0`; top-5 recall: the true class among the five most probable; confidence: mean top-1 \
         probability over the class's images; gap: confidence − recall (positive = over-confident); \
         recall ≥: Wilson 95 % lower bound.\n\n",
        report.splits,
        report.overall.images
    ));
    md.push_str(
        "| class | train | valid | test | support | precision | recall | F1 | top-5 recall | confidence | gap | recall ≥ | most confused with |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for m in &report.per_class {
        md.push_str(&per_class_md_row(eval, m));
    }
    md.push_str(&overall_md(&report.overall));
    md
}

/// One class's row of the `per_class.md` table.
fn per_class_md_row(eval: &Evaluation, m: &ClassMetrics) -> String {
    let c = m.class_id;
    format!(
        "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |\n",
        md_escape(label(eval, c)),
        class_images(&eval.counts.train, c),
        class_images(&eval.counts.valid, c),
        class_images(&eval.counts.test, c),
        m.support,
        m.precision,
        m.recall,
        m.f1,
        m.top_k_recall,
        fmt_opt(m.mean_confidence, 2),
        fmt_opt(m.calibration_gap, 2),
        fmt_opt(m.recall_lower, 2),
        m.main_confuser
            .map(|(o, k)| format!("{} ({k})", md_escape(label(eval, o))))
            .unwrap_or_else(|| "–".into()),
    )
}

/// The end of `per_class.md`: the macro and weighted averages table, then accuracy, top-5 accuracy, NLL and ECE.
fn overall_md(o: &Summary) -> String {
    format!(
        "\n| average | precision | recall | F1 |\n|---|---:|---:|---:|\n| macro | {:.3} | {:.3} | {:.3} |\n| weighted | {:.3} | {:.3} | {:.3} |\n\nAccuracy {:.3}, top-5 accuracy {:.3}, NLL {:.3}, ECE {:.3}.\n",
        o.macro_avg.precision,
        o.macro_avg.recall,
        o.macro_avg.f1,
        o.weighted_avg.precision,
        o.weighted_avg.recall,
        o.weighted_avg.f1,
        o.accuracy,
        o.top5_accuracy,
        o.nll,
        o.ece
    )
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// A label or sentence from the data, as Markdown text (no raw HTML, no stray table columns).
fn md_escape(s: &str) -> String {
    birds_core::markdown::escape(s)
}

/// `confusion.parquet` and `confusion.png`.
pub fn confusion(
    out_dir: &Path,
    eval: &Evaluation,
    report: &Report,
    max_classes: usize,
    subtitle: &str,
) -> Result<()> {
    let cells = report.confusion.cells();
    let columns = vec![
        col(
            "true_id",
            cells.iter().map(|c| c.true_id).collect::<Vec<u32>>(),
        ),
        col(
            "true_label",
            cells
                .iter()
                .map(|c| label(eval, c.true_id))
                .collect::<Vec<_>>(),
        ),
        col(
            "pred_id",
            cells.iter().map(|c| c.pred_id).collect::<Vec<u32>>(),
        ),
        col(
            "pred_label",
            cells
                .iter()
                .map(|c| label(eval, c.pred_id))
                .collect::<Vec<_>>(),
        ),
        col("count", u32s(cells.iter().map(|c| c.count))),
    ];
    write_parquet(out_dir, &CONFUSION, cells.len(), columns)?;
    plots::confusion_png(
        &out_dir.join(files::CONFUSION_PNG),
        &report.confusion,
        &eval.classes,
        max_classes,
        subtitle,
    )
}

/// `most_confused.parquet` and `most_confused.md`.
pub fn most_confused(
    out_dir: &Path,
    eval: &Evaluation,
    report: &Report,
    min_confused: u64,
) -> Result<()> {
    let pairs = &report.most_confused;
    let share = |c: &crate::metrics::Cell| {
        crate::metrics::ratio(c.count, report.confusion.support(c.true_id))
    };
    let columns = vec![
        col(
            "true_id",
            pairs.iter().map(|c| c.true_id).collect::<Vec<u32>>(),
        ),
        col(
            "true_label",
            pairs
                .iter()
                .map(|c| label(eval, c.true_id))
                .collect::<Vec<_>>(),
        ),
        col(
            "pred_id",
            pairs.iter().map(|c| c.pred_id).collect::<Vec<u32>>(),
        ),
        col(
            "pred_label",
            pairs
                .iter()
                .map(|c| label(eval, c.pred_id))
                .collect::<Vec<_>>(),
        ),
        col("count", u32s(pairs.iter().map(|c| c.count))),
        col("share", pairs.iter().map(share).collect::<Vec<f64>>()),
    ];
    write_parquet(out_dir, &MOST_CONFUSED, pairs.len(), columns)?;
    let mut md = format!(
        "# Most confused pairs\n\nTrue class → predicted class, pairs with at least {min_confused} error(s), most \
         errors first (fastai's `most_confused`). Share: the errors as a part of the true class's evaluated \
         images.\n\n"
    );
    if pairs.is_empty() {
        md.push_str("No pair reaches that count: no misclassification to report.\n");
    } else {
        md.push_str("| true class | predicted as | images | share |\n|---|---|---:|---:|\n");
        for c in pairs {
            md.push_str(&format!(
                "| {} | {} | {} | {:.0}% |\n",
                md_escape(label(eval, c.true_id)),
                md_escape(label(eval, c.pred_id)),
                c.count,
                100.0 * share(c)
            ));
        }
    }
    birds_core::atomic::write_bytes(&out_dir.join(files::MOST_CONFUSED_MD), md.as_bytes())?;
    Ok(())
}

/// `needs_more_training.parquet` and `needs_more_training.md`.
pub fn needs_more_training(out_dir: &Path, eval: &Evaluation, report: &Report) -> Result<()> {
    let r = &report.ranking;
    let columns = vec![
        col("rank", r.iter().map(|x| x.rank).collect::<Vec<u32>>()),
        col(
            "class_id",
            r.iter().map(|x| x.class_id).collect::<Vec<u32>>(),
        ),
        col(
            "label",
            r.iter()
                .map(|x| label(eval, x.class_id))
                .collect::<Vec<_>>(),
        ),
        col("evaluated", u32s(r.iter().map(|x| x.evaluated))),
        col("correct", u32s(r.iter().map(|x| x.correct))),
        col("recall", r.iter().map(|x| x.recall).collect::<Vec<f64>>()),
        col(
            "recall_lower",
            r.iter()
                .map(|x| x.recall_lower)
                .collect::<Vec<Option<f64>>>(),
        ),
        col("train_images", u32s(r.iter().map(|x| x.train_images))),
        col(
            "main_confuser",
            r.iter()
                .map(|x| x.main_confuser.map(|(c, _)| label(eval, c).to_string()))
                .collect::<Vec<Option<String>>>(),
        ),
        col(
            "main_confuser_count",
            u32s(r.iter().map(|x| x.main_confuser.map_or(0, |(_, n)| n))),
        ),
        col(
            "next_step",
            r.iter().map(|x| x.next_step.as_str()).collect::<Vec<_>>(),
        ),
        col(
            "label_issues",
            r.iter()
                .map(|x| x.label_issues)
                .collect::<Vec<Option<u32>>>(),
        ),
        col(
            "curve",
            r.iter()
                .map(|x| x.curve.map(|c| c.as_str()))
                .collect::<Vec<Option<&str>>>(),
        ),
    ];
    write_parquet(out_dir, &NEEDS_MORE_TRAINING, r.len(), columns)?;
    let per_class_images = if eval.classes.is_empty() {
        0.0
    } else {
        report.overall.images as f64 / eval.classes.len() as f64
    };
    let mut md = format!(
        "# Classes that need more training\n\nRanked by the Wilson 95 % lower bound of recall over the evaluated \
         images ({}; {:.1} per class on average). With so few images per class a recall of 3/5 and one of 5/5 \
         are not far apart, so the ranking uses how low the recall could plausibly be, not the raw recall (among \
         classes with no correct image, 0 of 5 ranks before 0 of 1). \"recall ≥\": that Wilson bound.\n\n\
         | rank | class | correct | recall | recall ≥ | train images | most errors went to | next step |\n\
         |---:|---|---:|---:|---:|---:|---|---|\n",
        report.splits, per_class_images
    );
    for x in r {
        md.push_str(&format!(
            "| {} | {} | {}/{} | {:.2} | {} | {} | {} | {} |\n",
            x.rank,
            md_escape(label(eval, x.class_id)),
            x.correct,
            x.evaluated,
            x.recall,
            fmt_opt(x.recall_lower, 2),
            x.train_images,
            x.main_confuser
                .map(|(c, n)| format!("{} ({n})", md_escape(label(eval, c))))
                .unwrap_or_else(|| "–".into()),
            md_escape(&x.next_step),
        ));
    }
    birds_core::atomic::write_bytes(&out_dir.join(files::NEEDS_MORE_TRAINING_MD), md.as_bytes())?;
    Ok(())
}

/// `top_losses.png` from the report's top losses; `thumb(sample)` gives an image's pixels. When the report keeps no
/// top loss nothing is drawn (and a grid left by an earlier run in `out_dir` is removed).
pub fn top_losses(
    out_dir: &Path,
    eval: &Evaluation,
    report: &Report,
    splits: &str,
    thumb: &dyn Fn(u32) -> Option<image::RgbImage>,
) -> Result<()> {
    if report.top_losses.is_empty() {
        let stale = out_dir.join(files::TOP_LOSSES_PNG);
        if stale.exists() {
            std::fs::remove_file(&stale)
                .map_err(|e| birds_core::CoreError::io("removing", &stale, e))?;
        }
        return Ok(());
    }
    let s = &eval.scores;
    let tiles: Vec<LossTile> = report
        .top_losses
        .iter()
        .map(|&i| LossTile {
            thumb: thumb(eval.images[i].sample),
            true_label: label(eval, s.target(i)).to_string(),
            pred_label: label(eval, s.predicted(i)).to_string(),
            confidence: s.confidence(i),
            prob_true: s.prob_true(i),
            loss: s.loss(i),
            split: eval.images[i].split.to_string(),
        })
        .collect();
    let title = format!(
        "The {} highest-loss images of {} ({} evaluated): true class, prediction (probability), loss",
        tiles.len(),
        splits,
        s.len()
    );
    plots::top_losses_png(&out_dir.join(files::TOP_LOSSES_PNG), &tiles, &title)
}

/// `summary.json`.
pub fn summary(out_dir: &Path, summary: &SummaryFile) -> Result<()> {
    Ok(birds_artifacts::json::write_json(
        &out_dir.join(files::SUMMARY),
        summary,
    )?)
}
