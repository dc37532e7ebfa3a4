"""Reference figures for birds-evaluate's metrics, from scikit-learn and torchmetrics.

Writes crates/birds-evaluate/tests/fixtures/metrics_reference.json, read by tests/metrics_reference.rs.
Needs numpy, torch, scikit-learn and torchmetrics (e.g. `pip install scikit-learn torchmetrics` into a venv with
torch). Run from the repository root:

    python scripts/make_metrics_fixture.py
"""

import json
import pathlib

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)
from torchmetrics.functional.classification import multiclass_calibration_error

rng = np.random.default_rng(8)
num_classes, n = 9, 60
# Class 7 never occurs as a true label; class 8 neither as a true label nor (its logit is very low) as a prediction.
targets = rng.integers(0, 7, size=n)
logits = rng.normal(size=(n, num_classes)) * 1.5
logits[np.arange(n), targets] += 1.2  # better than chance
logits[:, 8] -= 20.0
probs = np.exp(logits - logits.max(1, keepdims=True))
probs /= probs.sum(1, keepdims=True)
pred = probs.argmax(1)
labels = list(range(num_classes))

p, r, f, s = precision_recall_fscore_support(targets, pred, labels=labels, zero_division=0)
out = {
    "num_classes": num_classes,
    "targets": targets.tolist(),
    "probs": probs.ravel().tolist(),
    "accuracy": accuracy_score(targets, pred),
    # No ties among random floats, so sklearn's tie rule does not matter here.
    "top5_accuracy": top_k_accuracy_score(targets, probs, k=5, labels=labels),
    "precision": p.tolist(),
    "recall": r.tolist(),
    "f1": f.tolist(),
    "support": s.tolist(),
    "macro": list(precision_recall_fscore_support(targets, pred, average="macro", zero_division=0)[:3]),
    "weighted": list(precision_recall_fscore_support(targets, pred, average="weighted", zero_division=0)[:3]),
    "nll": torch.nn.functional.nll_loss(torch.tensor(probs).log(), torch.tensor(targets)).item(),
    "ece": multiclass_calibration_error(
        torch.tensor(probs), torch.tensor(targets), num_classes=num_classes, n_bins=15, norm="l1"
    ).item(),
    "confusion": confusion_matrix(targets, pred, labels=labels).ravel().tolist(),
}
path = pathlib.Path("crates/birds-evaluate/tests/fixtures/metrics_reference.json")
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {path}: accuracy {out['accuracy']:.3f}, ece {out['ece']:.4f}, predicted classes {sorted(set(pred.tolist()))}")
