"""Compares birds' label-issue finder with cleanlab on the same out-of-fold probabilities (issue 20).

For each `birds diagnose` output folder: `oof.safetensors` (probs [N, K], labels [N], samples [N]) goes to
`cleanlab.filter.find_label_issues(labels, probs)` (its defaults: prune_by_noise_rate), and the flagged sample ids are
compared with `label_issues.parquet`'s: agreement = |both| / |either| (Jaccard). With `--planted synth.json` (a
`birds synth --label-errors` dataset, the first folder's), also the share of planted errors among birds' top 2N
suspects (N planted) and among cleanlab's, ranked by self-confidence. Prints one JSON object.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues
from safetensors.numpy import load_file


def compare(folder: Path) -> dict:
    oof = load_file(str(folder / "oof.safetensors"))
    probs, labels, samples = oof["probs"].astype(np.float64), oof["labels"], oof["samples"]
    ranked = find_label_issues(labels=labels, pred_probs=probs, return_indices_ranked_by="self_confidence")
    theirs = [int(samples[i]) for i in ranked]
    ours_df = pd.read_parquet(folder / "label_issues.parquet").sort_values("rank")
    ours = [int(s) for s in ours_df["sample"]]
    a, b = set(ours), set(theirs)
    union = a | b
    return {
        "folder": str(folder),
        "images": int(len(labels)),
        "birds_flagged": len(a),
        "cleanlab_flagged": len(b),
        "both": len(a & b),
        "agreement": (len(a & b) / len(union)) if union else 1.0,
        "_ours": ours_df,
        "_theirs": theirs,
    }


def planted_recall(result: dict, synth_json: Path) -> dict:
    planted = {e["path"] for e in json.loads(synth_json.read_text()).get("label_errors", [])}
    n = len(planted)
    ours = result["_ours"]
    top = set(ours["path"].head(2 * n))
    by_sample = dict(zip(ours["sample"], ours["path"]))
    return {
        "planted": n,
        "birds_planted_in_top_2n": len(planted & top),
        "birds_planted_flagged": len(planted & set(ours["path"])),
        # cleanlab's suspects are sample ids; the ones birds also lists have a path here.
        "cleanlab_planted_in_top_2n": len(planted & {by_sample.get(s) for s in result["_theirs"][: 2 * n]}),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--planted", type=Path)
    ap.add_argument("--seconds", type=float)
    args = ap.parse_args()
    out = []
    for i, folder in enumerate(args.folders):
        r = compare(folder)
        if i == 0 and args.planted:
            r.update(planted_recall(r, args.planted))
            if args.seconds is not None:
                r["diagnose_seconds"] = args.seconds
        out.append({k: v for k, v in r.items() if not k.startswith("_")})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
