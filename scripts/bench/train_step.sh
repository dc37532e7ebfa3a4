#!/usr/bin/env bash
# Train-step throughput of EfficientNet-Lite0 on CPU: birds (tch) vs PyTorch (Python), same batch, size, threads and
# malloc settings, alternating ROUNDS times in one run so that machine load hits both alike; prints the medians and
# the ratio birds / PyTorch (goal ≥ 1.0).
#
#   scripts/bench/train_step.sh [THREADS=2] [ROUNDS=3] [BATCH=16] [STEPS=10]
#
# Needs: a release build of birds (`cargo build --release -p birds-cli`) and a full PyTorch with
# efficientnet-lite-pytorch ($BIRDS_BENCH_PYTHON, default .venv-bench/bin/python from `bash scripts/bench/peers.sh`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
threads=${1:-2}
rounds=${2:-3}
batch=${3:-16}
steps=${4:-10}
python=${BIRDS_BENCH_PYTHON:-$root/.venv-bench/bin/python}
birds="$root/target/release/birds"
[[ -x "$birds" ]] || { echo "build first: cargo build --release -p birds-cli" >&2; exit 1; }
[[ -x "$python" ]] || { echo "no PyTorch peer at $python: run bash scripts/bench/peers.sh (or set BIRDS_BENCH_PYTHON)" >&2; exit 1; }
# The birds binary sets these itself at start-up (mallopt); Python needs them from the environment.
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 MALLOC_ARENA_MAX=1
export OMP_NUM_THREADS=$threads
tch=() py=()
for r in $(seq "$rounds"); do
  t=$("$birds" --threads "$threads" train smoke --device cpu --batch-size "$batch" --steps "$steps" --warmup 3 --json)
  p=$("$python" "$root/scripts/bench/train_step.py" --threads "$threads" --batch-size "$batch" --steps "$steps")
  echo "round $r: birds $t" >&2
  echo "round $r: torch $p" >&2
  tch+=("$(jq -r .images_per_s <<<"$t")")
  py+=("$(jq -r .images_per_s <<<"$p")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mt=$(median "${tch[@]}")
mp=$(median "${py[@]}")
ratio=$(awk -v a="$mt" -v b="$mp" 'BEGIN {printf "%.2f", a/b}')
echo "| impl | threads | batch | images/s (median of $rounds) |"
echo "|---|---:|---:|---:|"
printf '| birds (tch) | %s | %s | %.1f |\n' "$threads" "$batch" "$mt"
printf '| PyTorch (Python) | %s | %s | %.1f |\n' "$threads" "$batch" "$mp"
echo "ratio birds / PyTorch: $ratio"
