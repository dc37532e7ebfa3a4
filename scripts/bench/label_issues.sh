#!/usr/bin/env bash
# The label-issue finder (issue 20) against planted errors and against cleanlab, on the default pipeline's synthetic
# birds (12 species, 40/10/10 images, 160 px) with 2 % of the training images filed under their look-alike species
# (`birds synth --label-errors 0.02`): synth → ingest → preprocess → diagnose, then scripts/bench/label_issues.py
# gives the same out-of-fold probabilities to cleanlab's find_label_issues and compares. Prints one JSON line.
#
#   [SYNTH_SEED=0] bash scripts/bench/label_issues.sh [DIAGNOSE_DIR…]   # SYNTH_SEED: another planting; extra diagnose folders (e.g. artifacts/sample/diagnose)
#                                                        # are compared with cleanlab too
# Needs the release binary and a Python with cleanlab (PYTHON, default .venv-bench/bin/python: scripts/bench/peers.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
birds=${BIRDS:-$root/target/release/birds}
py=${PYTHON:-$root/.venv-bench/bin/python}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/birds-labels-XXXX")
trap 'rm -rf "$tmp"' EXIT
q() { "$@" > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }; }
q "$birds" synth --out "$tmp/synth" --classes 12 --train 40 --valid 10 --test 10 --size 160 --seed "${SYNTH_SEED:-0}" --label-errors 0.02
q "$birds" ingest --data "$tmp/synth" --out "$tmp/ingest"
q "$birds" preprocess --index "$tmp/ingest" --out "$tmp/prep" --size 128 --margin 16 --quiet
start=$(date +%s.%N)
q "$birds" diagnose --cache "$tmp/prep" --out "$tmp/diag" --feature-cache "$tmp/features" \
  --weights "${BIRDS_WEIGHTS:-$root/.venv/weights/efficientnet-lite0.safetensors}"
end=$(date +%s.%N)
"$py" "$root/scripts/bench/label_issues.py" --planted "$tmp/synth/synth.json" --seconds "$(echo "$end - $start" | bc)" \
  "$tmp/diag" "$@"
