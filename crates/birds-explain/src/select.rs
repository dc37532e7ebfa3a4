//! Which images get maps: the weakest classes (from the evaluate ranking, or ranked here from predictions), with
//! misclassified and correctly classified examples of each; and an even sample of the split for the checks.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use birds_artifacts::Frame;
use birds_core::Split;
use birds_core::schema::evaluate::{NEEDS_MORE_TRAINING, PREDICTIONS};

use crate::source::Candidate;
use crate::{ExplainError, Result};

/// What the model said about one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Top-1 class index.
    pub predicted: i64,
    /// Its probability.
    pub confidence: f64,
    /// Probability of the true class, when known.
    pub prob_true: Option<f64>,
}

/// A class in need of attention.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WeakClass {
    /// 1 = weakest.
    pub rank: usize,
    /// Class label.
    pub label: String,
    /// Its index in the model's classes.
    pub class_id: i64,
    /// Recall (share of its images predicted correctly) where it was measured.
    pub recall: Option<f64>,
    /// Images it was measured on.
    pub images: usize,
}

/// Why an image is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selection {
    /// A misclassified image of a weak class.
    WeakMisclassified,
    /// A correctly classified image of a weak class.
    WeakCorrect,
    /// Given by path.
    Explicit,
    /// Part of the localisation/deletion sample only (not drawn).
    Check,
}

impl Selection {
    /// Spelling in `cams.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::WeakMisclassified => "weak-misclassified",
            Selection::WeakCorrect => "weak-correct",
            Selection::Explicit => "explicit",
            Selection::Check => "check",
        }
    }
}

/// Ranks the model's classes from predictions on `candidates`: recall ascending, then mean probability of the
/// true class ascending, then label. Classes without candidates are left out.
pub fn rank_from_predictions(
    candidates: &[Candidate],
    predictions: &[Prediction],
    classes: &[String],
) -> Vec<WeakClass> {
    // class → (images, correct, sum of prob_true)
    let mut stats: BTreeMap<i64, (usize, usize, f64)> = BTreeMap::new();
    for (c, p) in candidates.iter().zip(predictions) {
        let Some(t) = c.true_class else { continue };
        let e = stats.entry(t).or_insert((0, 0, 0.0));
        e.0 += 1;
        e.1 += usize::from(p.predicted == t);
        e.2 += p.prob_true.unwrap_or(0.0);
    }
    let mut rows: Vec<(f64, f64, String, i64, usize)> = stats
        .into_iter()
        .map(|(t, (n, ok, sum_p))| {
            let label = classes.get(t as usize).cloned().unwrap_or_default();
            (ok as f64 / n as f64, sum_p / n as f64, label, t, n)
        })
        .collect();
    rows.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    rows.into_iter()
        .enumerate()
        .map(|(i, (recall, _, label, class_id, images))| WeakClass {
            rank: i + 1,
            label,
            class_id,
            recall: Some(recall),
            images,
        })
        .collect()
}

/// Reads `columns` of the evaluate stage's Parquet file `file` in `dir`; a missing file asks whether `dir` is an
/// evaluate output folder.
fn read_evaluate_output(dir: &Path, file: &str, columns: &[&str]) -> Result<Frame> {
    let path = dir.join(file);
    if let Err(e) = File::open(&path) {
        return Err(ExplainError::Input {
            path,
            reason: format!(
                "{e} (is {} a `birds evaluate` output folder?)",
                dir.display()
            ),
        });
    }
    Ok(Frame::read_columns(&path, Some(columns))?)
}

/// Reads the evaluate stage's ranking (`needs_more_training.parquet` in `dir`), keeping classes of the model.
pub fn read_ranking(dir: &Path, classes: &[String]) -> Result<Vec<WeakClass>> {
    let f = read_evaluate_output(
        dir,
        NEEDS_MORE_TRAINING.file,
        &["rank", "label", "evaluated", "recall"],
    )?;
    let (ranks, labels) = (f.u64("rank")?, f.str("label")?);
    let (evaluated, recall) = (f.u64("evaluated")?, f.f64("recall")?);
    let mut out = Vec::new();
    for i in 0..f.height() {
        let (Some(rank), Some(label)) = (ranks[i], labels[i].as_deref()) else {
            continue;
        };
        let Some(class_id) = classes.iter().position(|c| c == label) else {
            continue;
        };
        let n = evaluated[i].unwrap_or(0) as usize;
        out.push(WeakClass {
            rank: rank as usize,
            label: label.to_string(),
            class_id: class_id as i64,
            recall: (n > 0).then_some(recall[i]).flatten(),
            images: n,
        });
    }
    out.sort_by_key(|w| w.rank);
    if out.is_empty() {
        return Err(f.error("no ranked class is a class of the model").into());
    }
    Ok(out)
}

/// The splits the evaluate stage evaluated (the distinct `split` values of its `predictions.parquet` in `dir`),
/// in train, valid, test order.
pub fn evaluated_splits(dir: &Path) -> Result<Vec<Split>> {
    let f = read_evaluate_output(dir, PREDICTIONS.file, &["split"])?;
    let values = f.str("split")?;
    let mut out = Vec::new();
    for s in [Split::Train, Split::Valid, Split::Test] {
        if values.iter().any(|v| v.as_deref() == Some(s.as_str())) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(f.error("no evaluated images").into());
    }
    Ok(out)
}

/// The drawn images of the weak classes: for each of the first `n_classes` of `ranking`, up to `n_wrong`
/// misclassified candidates (most confidently wrong first) and `n_right` correct ones (most confident first);
/// ties by image path. Returns `(candidate index, selection, weak-class rank)`.
pub fn pick_gallery(
    candidates: &[Candidate],
    predictions: &[Prediction],
    ranking: &[WeakClass],
    n_classes: usize,
    n_wrong: usize,
    n_right: usize,
) -> Vec<(usize, Selection, usize)> {
    let mut out = Vec::new();
    for weak in ranking.iter().take(n_classes) {
        let mut wrong: Vec<usize> = Vec::new();
        let mut right: Vec<usize> = Vec::new();
        for (i, (c, p)) in candidates.iter().zip(predictions).enumerate() {
            if c.true_class != Some(weak.class_id) {
                continue;
            }
            if p.predicted == weak.class_id {
                right.push(i);
            } else {
                wrong.push(i);
            }
        }
        let by_confidence = |a: &usize, b: &usize| {
            predictions[*b]
                .confidence
                .total_cmp(&predictions[*a].confidence)
                .then_with(|| candidates[*a].image.cmp(&candidates[*b].image))
        };
        wrong.sort_by(by_confidence);
        right.sort_by(by_confidence);
        out.extend(
            wrong
                .into_iter()
                .take(n_wrong)
                .map(|i| (i, Selection::WeakMisclassified, weak.rank)),
        );
        out.extend(
            right
                .into_iter()
                .take(n_right)
                .map(|i| (i, Selection::WeakCorrect, weak.rank)),
        );
    }
    out
}

/// Up to `n` candidates spread evenly over the true classes (round robin over classes in class order, each
/// class's candidates in the given order); candidates without a known class come last.
pub fn check_sample(candidates: &[Candidate], n: usize) -> Vec<usize> {
    let mut by_class: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        match c.true_class {
            Some(t) => by_class.entry(t).or_default().push(i),
            None => unknown.push(i),
        }
    }
    let mut queues: Vec<std::vec::IntoIter<usize>> =
        by_class.into_values().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(n.min(candidates.len()));
    while out.len() < n {
        let mut any = false;
        for q in &mut queues {
            if out.len() >= n {
                break;
            }
            if let Some(i) = q.next() {
                out.push(i);
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    out.extend(unknown.into_iter().take(n.saturating_sub(out.len())));
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Pixels;

    fn cand(image: &str, class: i64) -> Candidate {
        Candidate {
            image: image.into(),
            split: None,
            label: None,
            true_class: Some(class),
            pixels: Pixels::Cache(0),
        }
    }

    fn pred(predicted: i64, confidence: f64, prob_true: f64) -> Prediction {
        Prediction {
            predicted,
            confidence,
            prob_true: Some(prob_true),
        }
    }

    #[test]
    fn ranking_and_gallery_pick_the_weak_class_examples() {
        let classes: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
        let cands = vec![
            cand("a1", 0),
            cand("a2", 0),
            cand("b1", 1),
            cand("b2", 1),
            cand("b3", 1),
            cand("c1", 2),
        ];
        let preds = vec![
            pred(0, 0.9, 0.9),
            pred(0, 0.8, 0.8),
            pred(2, 0.7, 0.1),  // b1 wrong, confident
            pred(0, 0.9, 0.05), // b2 wrong, more confident
            pred(1, 0.6, 0.6),
            pred(2, 0.5, 0.5),
        ];
        let rank = rank_from_predictions(&cands, &preds, &classes);
        assert_eq!(
            rank.iter().map(|w| w.label.as_str()).collect::<Vec<_>>(),
            vec!["B", "C", "A"]
        );
        assert_eq!(rank[0].recall, Some(1.0 / 3.0));
        let g = pick_gallery(&cands, &preds, &rank, 1, 5, 5);
        assert_eq!(
            g,
            vec![
                (3, Selection::WeakMisclassified, 1),
                (2, Selection::WeakMisclassified, 1),
                (4, Selection::WeakCorrect, 1)
            ]
        );
        assert_eq!(pick_gallery(&cands, &preds, &rank, 1, 1, 0).len(), 1);
    }

    #[test]
    fn check_sample_spreads_over_classes() {
        let cands = vec![
            cand("a1", 0),
            cand("a2", 0),
            cand("a3", 0),
            cand("b1", 1),
            cand("c1", 2),
        ];
        assert_eq!(check_sample(&cands, 3), vec![0, 3, 4]);
        assert_eq!(check_sample(&cands, 4), vec![0, 1, 3, 4]);
        assert_eq!(check_sample(&cands, 10).len(), 5);
        assert!(check_sample(&cands, 0).is_empty());
    }
}
