//! The metrics against scikit-learn and torchmetrics on a random 9-class fixture (one class only predicted, one
//! class neither true nor predicted), produced by `scripts/make_metrics_fixture.py`.

use birds_evaluate::metrics::{
    ConfusionMatrix, Scores, TOP_K, macro_average, per_class, summarize, weighted_average,
};

#[derive(serde::Deserialize)]
struct Reference {
    num_classes: usize,
    targets: Vec<u32>,
    probs: Vec<f64>,
    accuracy: f64,
    top5_accuracy: f64,
    precision: Vec<f64>,
    recall: Vec<f64>,
    f1: Vec<f64>,
    support: Vec<u64>,
    #[serde(rename = "macro")]
    macro_avg: Vec<f64>,
    weighted: Vec<f64>,
    nll: f64,
    ece: f64,
    confusion: Vec<u64>,
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn metrics_match_sklearn_and_torchmetrics() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics_reference.json");
    let r: Reference = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let scores = Scores::new(r.num_classes, r.targets.clone(), r.probs.clone())?;
    let cm = ConfusionMatrix::from_scores(&scores);
    let k = r.num_classes as u32;
    for t in 0..k {
        for p in 0..k {
            assert_eq!(
                cm.count(t, p),
                r.confusion[(t * k + p) as usize],
                "cell ({t}, {p})"
            );
        }
    }
    let pc = per_class(&scores, &cm, TOP_K);
    for (c, m) in pc.iter().enumerate() {
        assert_eq!(m.support, r.support[c], "support of {c}");
        assert!(
            close(m.precision, r.precision[c], 1e-12),
            "precision of {c}: {} vs {}",
            m.precision,
            r.precision[c]
        );
        assert!(close(m.recall, r.recall[c], 1e-12), "recall of {c}");
        assert!(
            close(m.f1, r.f1[c], 1e-12),
            "f1 of {c}: {} vs {}",
            m.f1,
            r.f1[c]
        );
    }
    // The fixture has a class that is only predicted (7) and one that is absent entirely (8).
    assert!(
        pc[7].support == 0 && pc[7].predicted > 0 && pc[8].predicted == 0 && pc[8].support == 0
    );
    let (m, w) = (macro_average(&pc), weighted_average(&pc));
    for (ours, theirs, what) in [
        (m.precision, r.macro_avg[0], "macro precision"),
        (m.recall, r.macro_avg[1], "macro recall"),
        (m.f1, r.macro_avg[2], "macro f1"),
        (w.precision, r.weighted[0], "weighted precision"),
        (w.recall, r.weighted[1], "weighted recall"),
        (w.f1, r.weighted[2], "weighted f1"),
    ] {
        assert!(close(ours, theirs, 1e-12), "{what}: {ours} vs {theirs}");
    }
    let s = summarize(&scores);
    assert!(close(s.accuracy, r.accuracy, 1e-12));
    assert!(close(s.top5_accuracy, r.top5_accuracy, 1e-12));
    assert!(close(s.nll, r.nll, 1e-9), "nll {} vs {}", s.nll, r.nll);
    // torchmetrics bins and sums in float32.
    assert!(close(s.ece, r.ece, 1e-6), "ece {} vs {}", s.ece, r.ece);
    Ok(())
}
