#!/usr/bin/env bash
# Benchmark (not a test): a no-op rerun and `status` of a 6-stage pipeline whose deps include the 1,795-image sample
# folder, `birds` beside DVC, in one run. Both tools get the same six `cmd` stages in a fresh temp folder (a git repo
# for DVC). Each figure is the median of RUNS timed runs after one warm-up; the first (cold) run is reported too.
#
#   scripts/bench_pipeline.sh            # uses target/release/birds (run `just build` first)
#   RUNS=10 DATA=/path/to/images BIRDS=target/debug/birds scripts/bench_pipeline.sh
#
# DVC comes from the venv $DVC_VENV (default: .venv-bench, the peers' venv of `just bench`, made by
# scripts/bench/peers.sh); where that has no dvc, it is installed there with pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIRDS=$(realpath "${BIRDS:-target/release/birds}")
DATA=$(realpath "${DATA:-../shared/data/birds-sample}")
RUNS=${RUNS:-5}
DVC_VENV=${DVC_VENV:-$ROOT/.venv-bench}
[[ -x $BIRDS ]] || { echo "no birds binary at $BIRDS: run \`just build\` (or set BIRDS=)" >&2; exit 1; }
[[ -d $DATA ]] || { echo "no data folder at $DATA" >&2; exit 1; }

if [[ ! -x $DVC_VENV/bin/dvc ]]; then
  echo "installing dvc into $DVC_VENV (pip) ..." >&2
  [[ -x $DVC_VENV/bin/python ]] || python3 -m venv "$DVC_VENV"
  "$DVC_VENV/bin/pip" install --quiet --disable-pip-version-check dvc >&2
fi
DVC=$DVC_VENV/bin/dvc

WORK=$(mktemp -d /tmp/birds-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# The same data for both tools, inside each project (DVC tracks deps inside the repo); hard links when possible.
for tool in birds dvc; do
  mkdir -p "$WORK/$tool"
  cp -al "$DATA" "$WORK/$tool/data" 2>/dev/null || cp -a "$DATA" "$WORK/$tool/data"
done
nfiles=$(find "$WORK/birds/data" -type f | wc -l)

# Six stages; three read the image folder. Commands are identical for both tools.
CMD1='find data -type f | LC_ALL=C sort > out/inventory.txt'
CMD2='cut -d/ -f2 out/inventory.txt | sort | uniq -c > out/splits.txt'
CMD3='du -sk data > out/size.txt'
CMD4='cut -d/ -f3 out/inventory.txt | sort | uniq -c > out/species.txt'
CMD5='cat out/splits.txt out/species.txt out/size.txt > out/summary.txt'
CMD6='ls data/train | wc -l > out/classes.txt && cat out/summary.txt >> out/classes.txt'

mkdir -p "$WORK/birds/pipelines" "$WORK/birds/out" "$WORK/dvc/out"
cat > "$WORK/birds/pipelines/bench.yaml" <<EOF
stages:
  - { name: inventory, cmd: "$CMD1", deps: [data], outs: [out/inventory.txt] }
  - { name: splits, cmd: "$CMD2", deps: [out/inventory.txt], outs: [out/splits.txt] }
  - { name: size, cmd: "$CMD3", deps: [data], outs: [out/size.txt] }
  - { name: species, cmd: "$CMD4", deps: [out/inventory.txt], outs: [out/species.txt] }
  - { name: summary, cmd: "$CMD5", deps: [out/splits.txt, out/species.txt, out/size.txt], outs: [out/summary.txt] }
  - { name: classes, cmd: "$CMD6", deps: [data, out/summary.txt], outs: [out/classes.txt] }
EOF
cat > "$WORK/dvc/dvc.yaml" <<EOF
stages:
  inventory: { cmd: "$CMD1", deps: [data], outs: [out/inventory.txt] }
  splits: { cmd: "$CMD2", deps: [out/inventory.txt], outs: [out/splits.txt] }
  size: { cmd: "$CMD3", deps: [data], outs: [out/size.txt] }
  species: { cmd: "$CMD4", deps: [out/inventory.txt], outs: [out/species.txt] }
  summary: { cmd: "$CMD5", deps: [out/splits.txt, out/species.txt, out/size.txt], outs: [out/summary.txt] }
  classes: { cmd: "$CMD6", deps: [data, out/summary.txt], outs: [out/classes.txt] }
EOF
(cd "$WORK/dvc" && git init -q && git config user.email bench@example.invalid && git config user.name bench \
  && "$DVC" init -q && "$DVC" config core.analytics false && git add -A >/dev/null && git commit -qm init)

# ms TOOL_DIR CMD...: wall time of one command in milliseconds (output discarded; failure aborts).
ms() {
  local dir=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  (cd "$dir" && "$@" >/dev/null 2>&1) || { echo "failed: $* (in $dir)" >&2; (cd "$dir" && "$@") >&2 || true; exit 1; }
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
# median DIR CMD...: median of $RUNS runs.
median() {
  local xs=() i
  for ((i = 0; i < RUNS; i++)); do xs+=("$(ms "$@")"); done
  printf '%s\n' "${xs[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

birds_cold=$(ms "$WORK/birds" "$BIRDS" run bench)
dvc_cold=$(ms "$WORK/dvc" "$DVC" repro -q)
# Hashes memoised on (path, size, mtime, inode) skip files modified in the last 2 s (racy timestamps): let the
# freshly written outs age once, as they would in real use, before timing.
sleep 2
ms "$WORK/birds" "$BIRDS" run bench >/dev/null
ms "$WORK/dvc" "$DVC" repro -q >/dev/null

birds_noop=$(median "$WORK/birds" "$BIRDS" run bench)
birds_status=$(median "$WORK/birds" "$BIRDS" status bench)
birds_floor=$(median "$WORK/birds" "$BIRDS" --version)
birds_inproc=$(cd "$WORK/birds" && "$BIRDS" run bench | sed -n 's/.*up to date (\([0-9]*\) ms)$/\1/p')
dvc_noop=$(median "$WORK/dvc" "$DVC" repro -q)
dvc_status=$(median "$WORK/dvc" "$DVC" status -q)
dvc_floor=$(median "$WORK/dvc" "$DVC" --version)

# Sanity: a no-op really ran nothing (birds says so; DVC's status is clean).
(cd "$WORK/birds" && "$BIRDS" run bench | grep -q '^0 ran, 6 up to date') || { echo "birds rerun was not a no-op" >&2; exit 1; }

echo "pipeline: 6 cmd stages, 3 of them depend on a folder of $nfiles files ($(du -sh "$WORK/birds/data" | cut -f1)); median of $RUNS runs"
echo "birds: $("$BIRDS" --version)   dvc: $("$DVC" --version)   machine: $(nproc) cores"
printf '%-34s %10s %10s\n' "" "birds" "dvc"
printf '%-34s %7s ms %7s ms\n' "first run (cold, runs all 6)" "$birds_cold" "$dvc_cold"
printf '%-34s %7s ms %7s ms\n' "no-op rerun (run / repro)" "$birds_noop" "$dvc_noop"
printf '%-34s %7s ms %7s ms\n' "status" "$birds_status" "$dvc_status"
printf '%-34s %7s ms %7s ms\n' "process start-up (--version)" "$birds_floor" "$dvc_floor"
printf '%-34s %7s ms\n' "no-op rerun, birds' own work" "$birds_inproc"
# Peak RSS (getrusage max RSS, via GNU time) of one more no-op rerun and status of each tool; untimed.
if [[ -x /usr/bin/time ]]; then
  rss() {
    (cd "$1" && shift && /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null 2>&1) && echo $(($(cat "$WORK/rss") / 1024))
  }
  printf '%-34s %7s MB %7s MB\n' "peak RSS, no-op rerun" \
    "$(rss "$WORK/birds" "$BIRDS" run bench)" "$(rss "$WORK/dvc" "$DVC" repro -q)"
  printf '%-34s %7s MB %7s MB\n' "peak RSS, status" \
    "$(rss "$WORK/birds" "$BIRDS" status bench)" "$(rss "$WORK/dvc" "$DVC" status -q)"
else
  echo "peak RSS: not measured (/usr/bin/time missing: apt-get install time)"
fi
echo "(birds' own work = what \`birds run\` reports after it has started: load, hash check, decide; the rest of the"
echo " no-op figure is process start-up; \`birds\` links no libtorch, which only \`birds-torch\` loads, for the torch stages)"
