#!/usr/bin/env python3
"""`just bench`: every birds benchmark beside its peer in one run, then docs/benchmarks.md rewritten from the figures.

    python3 scripts/bench/run_all.py          # after `just setup`
    BENCH_ROUNDS=5 python3 scripts/bench/run_all.py

Builds what it runs (`cargo build --release` of the birds binary and the four benchmark examples of
birds-preprocess, birds-explain and birds-ingest) while scripts/bench/peers.sh installs the peers' venv beside it,
then runs each benchmark ROUNDS times (default 3), birds and its peer alternating within a round and the side that
goes first swapping from round to round, so that machine load hits both alike. Every figure in the
doc is the median over the rounds of what this run measured; nothing is carried over from an earlier run. Peak RSS
is each process's getrusage maximum resident set size (the largest single process of the command's tree).

Benchmarks (what each program does is in its own header):
  1. decode + resize to 224²: crates/birds-preprocess/examples/bench_resize.rs vs scripts/bench/pillow_resize.py
  2. EfficientNet-Lite0 forward (batch 32, no grad) and train step (batch 16): `birds train smoke` vs
     scripts/bench/train_step.py (PyTorch)
  3. Grad-CAM ms/image and heatmap agreement: crates/birds-explain/examples/bench_gradcam.rs inside
     scripts/bench/gradcam_vs_pytorch_grad_cam.py (pytorch-grad-cam)
  4. pipeline no-op rerun and status: scripts/bench_pipeline.sh (birds vs DVC)
  5. ingest images/s and near-duplicate search on 90,000 hashes: crates/birds-ingest/examples/bench.rs (no peer)
  6. loader batches/s with augmentation vs the train-step rate: crates/birds-loader/examples/bench_loader.rs
  7. `birds export` in PyTorch: scripts/check_export.py (a 10-epoch feature-extract run on the sample, exported; its
     logits from efficientnet-lite-pytorch and torch.jit.load against birds' on every test image; once, not timed)

Only the standard library is used, so any Python 3.9+ runs it; the peers run with .venv-bench/bin/python.
A benchmark that fails is reported as failed in the doc (with the end of its error output), the others still run,
and the exit status is 1.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
THREADS = int(os.environ.get("BENCH_THREADS", str(os.cpu_count() or 2)))
PY = ROOT / ".venv-bench" / "bin" / "python"
BIRDS = ROOT / "target" / "release" / "birds"
EXAMPLES = ROOT / "target" / "release" / "examples"
SAMPLE = Path(os.environ.get("BIRDS_SAMPLE", ROOT.parent / "shared" / "data" / "birds-sample")).resolve()
DOC = ROOT / "docs" / "benchmarks.md"

# Repetitions inside one round (kept small: the whole run must fit in 20 minutes on 2 cores).
TRAIN_STEPS, TRAIN_WARMUP, TRAIN_BATCH = 8, 2, 16
FORWARD_STEPS, FORWARD_WARMUP, FORWARD_BATCH = 8, 2, 32
GRADCAM_IMAGES, GRADCAM_BATCH, GRADCAM_REPEATS = 64, 16, 2
PIPELINE_RUNS = 3
LOADER_STEPS, LOADER_EPOCHS = 12, 2  # 12 steps: with 6, one slow step moved the fed-vs-fixed ratio by 0.1
NEARDUP_SECONDS = 10.0  # "90k hashes in seconds": the slowest default distance (≤ 8) must finish within this

# libtorch on CPU needs glibc's mmap threshold off (birds sets it itself at start-up, see
# birds_core::runtime::tune_malloc); the PyTorch peers get the same through the environment.
TORCH_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_ARENA_MAX": "1"}


class BenchError(Exception):
    pass


TMP = {"dir": None}  # this run's temp folder, shown as $TMP in the doc


def rel(p) -> str:
    """A path as the doc shows it: relative to the checkout where it is inside or beside it."""
    s = str(p)
    if TMP["dir"] and s.startswith(TMP["dir"] + "/"):
        return "$TMP/" + s[len(TMP["dir"]) + 1:]
    try:
        r = os.path.relpath(s, ROOT)
    except ValueError:
        return s
    return s if r.startswith("../../") else r


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# Every command run, by key: {"cmd", "env", "side", "rss_kb": [...], "wall_s": [...]} (the doc lists them).
COMMANDS: dict[str, dict] = {}


def run(key: str, side: str, cmd: list, env: dict | None = None, check=True) -> tuple[str, str]:
    """Runs cmd in the checkout; returns (stdout, stderr); records its exact form, wall time and peak RSS."""
    cmd = [str(c) for c in cmd]
    env = dict(env or {})
    full_env = dict(os.environ, **env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as e:
            raise BenchError(f"cannot start {cmd[0]}: {e}") from e
        # wait4 gives this child's own rusage: ru_maxrss is the largest process of its tree, in KiB on Linux.
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    shown_env = {k: (rel(v) if v.startswith("/") else v) for k, v in env.items()}
    entry = COMMANDS.setdefault(key, {"cmd": " ".join(shlex.quote(rel(c) if c.startswith("/") else c) for c in cmd),
                                      "env": shown_env, "side": side, "rss_kb": [], "wall_s": []})
    entry["rss_kb"].append(usage.ru_maxrss)
    entry["wall_s"].append(wall)
    log(f"  {key}: {wall:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MB")
    if check and p.returncode != 0:
        tail = "\n".join((stderr.strip() or stdout.strip()).splitlines()[-15:])
        raise BenchError(f"`{entry['cmd']}` exited with {p.returncode}:\n{tail}")
    return stdout, stderr


def grab(pattern: str, text: str, what: str, cast=float):
    m = re.search(pattern, text, re.M)
    if not m:
        raise BenchError(f"could not find {what} in the output (pattern {pattern!r}); output was:\n{text[-1500:]}")
    return cast(m.group(1)) if m.lastindex == 1 else tuple(cast(g) for g in m.groups())


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise BenchError(f"no JSON line in the output:\n{text[-1500:]}")


def med(xs):
    return statistics.median(xs)


def alternate(r: int, birds, peer):
    """Round r runs birds first when r is even, the peer first when odd."""
    for f in ((birds, peer) if r % 2 == 0 else (peer, birds)):
        f()


# ---------------------------------------------------------------------------------------------------------------
# Results: one row per figure.


class Row:
    def __init__(self, bench, what, unit, birds=None, peer=None, peer_name="", higher_is_better=True,
                 goal="", goal_check=None, note=""):
        self.bench, self.what, self.unit = bench, what, unit
        self.birds, self.peer, self.peer_name = birds, peer, peer_name
        self.higher_is_better = higher_is_better
        self.goal, self.goal_check, self.note = goal, goal_check, note
        self.failed = None

    @property
    def ratio(self):
        if self.birds is None or self.peer is None or not self.birds or not self.peer:
            return None
        return self.birds / self.peer if self.higher_is_better else self.peer / self.birds

    @property
    def met(self):
        if self.failed:
            return False
        if self.goal_check is None:
            return None
        return bool(self.goal_check(self))


ROWS: list[Row] = []
ROUND_LOG: dict[str, list[str]] = {}
FAILURES: dict[str, str] = {}
WALL: dict[str, float] = {}


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "ms" or unit == "ms/image":
        s = f"{v:.1f}" if v < 100 else f"{v:.0f}"
    elif unit == "s":
        s = f"{v:.3f}" if v < 10 else f"{v:.1f}"
    elif unit == "":
        s = f"{v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.1e}"
    else:
        s = f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
    return f"{s} {unit}".strip()


def ratio_at_least(x):
    return lambda row: row.ratio is not None and row.ratio >= x


# ---------------------------------------------------------------------------------------------------------------
# 1. decode + resize vs Pillow


def sample_files() -> list[Path]:
    """The files bench_resize lists: every file under SAMPLE/{train,valid,test}/<class>/, sorted."""
    files = []
    for split in ("train", "valid", "test"):
        d = SAMPLE / split
        if d.is_dir():
            files += [f for c in d.iterdir() if c.is_dir() for f in c.iterdir()]
    return sorted(files, key=lambda p: str(p))


def bench_resize(tmp: Path):
    files = sample_files()
    listing = tmp / "resize-files.txt"
    listing.write_text("".join(f"{f}\n" for f in files))
    birds_fir, birds_stage, pillow = [], [], []
    pillow_tool = "Pillow"
    log_ = ROUND_LOG.setdefault("resize", [])

    def birds():
        out, _ = run("resize: birds (fast_image_resize)", "birds",
                     [EXAMPLES / "bench_resize", "--sample", SAMPLE, "--size", 224, "--repeat", 1])
        birds_fir.append(grab(r"^\| decode \+ resize, fast_image_resize \(birds\) \| (\d+) \|$", out,
                              "the birds decode+resize rate"))
        birds_stage.append(grab(r"^\| preprocess stage \(decode \+ resize \+ shards \+ parquet\) \| (\d+) \|$", out,
                                "the preprocess stage rate"))

    def peer():
        nonlocal pillow_tool
        out, _ = run("resize: Pillow (multiprocessing)", "peer",
                     [PY, "scripts/bench/pillow_resize.py", listing, "--size", 224, "--workers", THREADS,
                      "--repeat", 1])
        v = last_json(out)
        pillow.append(v["images_per_s"])
        pillow_tool = v["tool"]

    for r in range(ROUNDS):
        log(f"[1 resize] round {r + 1}/{ROUNDS}")
        alternate(r, birds, peer)
        log_.append(f"round {r + 1}: birds decode+resize {birds_fir[-1]:.0f} images/s, preprocess stage "
                    f"{birds_stage[-1]:.0f} images/s; {pillow_tool} {pillow[-1]:.0f} images/s")
    out, _ = run("resize: birds preprocess stage alone (peak RSS)", "birds",
                 [EXAMPLES / "bench_resize", "--sample", SAMPLE, "--stage-only"])
    stage_rss = grab(r"peak RSS (\d+) MB", out, "the preprocess stage's peak RSS")
    log_.append(f"preprocess stage alone (--stage-only): peak RSS {stage_rss:.0f} MB (VmHWM)")
    n = len(files)
    ROWS.append(Row("1. decode + resize", f"decode + resize to 224² ({n} JPEGs, {THREADS} threads/workers)",
                    "images/s", med(birds_fir), med(pillow), f"{pillow_tool}, multiprocessing.Pool({THREADS})",
                    goal="≥ 2× Pillow", goal_check=ratio_at_least(2.0)))
    ROWS.append(Row("1. decode + resize", "whole preprocess stage (decode + resize + shards + Parquet)",
                    "images/s", med(birds_stage), med(pillow), f"{pillow_tool} (resize only, writes nothing)",
                    goal="– (context)", note=f"peak RSS of the stage: {stage_rss:.0f} MB"))


# ---------------------------------------------------------------------------------------------------------------
# 2. Lite0 forward and train step vs PyTorch


def bench_train(_tmp: Path):
    env = dict(TORCH_ENV, OMP_NUM_THREADS=str(THREADS))
    res = {k: {"birds": [], "peer": []} for k in ("forward", "train")}
    torch_version = "PyTorch"
    log_ = ROUND_LOG.setdefault("train", [])
    spec = {
        "forward": (FORWARD_BATCH, FORWARD_STEPS, FORWARD_WARMUP, ["--forward"]),
        "train": (TRAIN_BATCH, TRAIN_STEPS, TRAIN_WARMUP, []),
    }

    def birds(kind):
        batch, steps, warmup, extra = spec[kind]
        out, _ = run(f"{kind}: birds train smoke", "birds",
                     [BIRDS, "--threads", THREADS, "train", "smoke", "--device", "cpu", *extra, "--batch-size", batch,
                      "--steps", steps, "--warmup", warmup, "--json"], env)
        v = last_json(out)
        if kind == "forward" and v.get("mode") != "forward":
            raise BenchError("`birds train smoke --forward` did not report mode \"forward\"")
        res[kind]["birds"].append(v["images_per_s"])

    def peer(kind):
        nonlocal torch_version
        batch, steps, warmup, extra = spec[kind]
        out, _ = run(f"{kind}: PyTorch train_step.py", "peer",
                     [PY, "scripts/bench/train_step.py", "--threads", THREADS, *extra, "--batch-size", batch,
                      "--steps", steps, "--warmup", warmup], env)
        v = last_json(out)
        res[kind]["peer"].append(v["images_per_s"])
        torch_version = f"PyTorch {v['torch']}"

    for r in range(ROUNDS):
        for kind in ("forward", "train"):
            log(f"[2 {kind}] round {r + 1}/{ROUNDS}")
            alternate(r, lambda: birds(kind), lambda: peer(kind))
            log_.append(f"round {r + 1}, {kind}: birds {res[kind]['birds'][-1]:.1f} images/s, "
                        f"{torch_version} {res[kind]['peer'][-1]:.1f} images/s")
    ROWS.append(Row("2. Lite0 forward", f"EfficientNet-Lite0 forward, batch {FORWARD_BATCH}, 224², no grad, "
                    f"{THREADS} threads", "images/s", med(res["forward"]["birds"]), med(res["forward"]["peer"]),
                    f"{torch_version} (Python)", goal="≥ 1.0× PyTorch", goal_check=ratio_at_least(1.0)))
    ROWS.append(Row("2. Lite0 train step", f"EfficientNet-Lite0 train step (AdamW), batch {TRAIN_BATCH}, 224², "
                    f"{THREADS} threads", "images/s", med(res["train"]["birds"]), med(res["train"]["peer"]),
                    f"{torch_version} (Python)", goal="≥ 1.0× PyTorch", goal_check=ratio_at_least(1.0)))


# ---------------------------------------------------------------------------------------------------------------
# 3. Grad-CAM vs pytorch-grad-cam


def bench_gradcam(tmp: Path):
    # The Python script starts the birds example itself; a wrapper records the example's own peak RSS.
    rss_file = tmp / "gradcam-birds-rss"
    wrapper = tmp / "bench_gradcam_wrapper.py"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, subprocess, sys\n"
        f"p = subprocess.Popen([{str(EXAMPLES / 'bench_gradcam')!r}] + sys.argv[1:])\n"
        "_, status, usage = os.wait4(p.pid, 0)\n"
        f"open({str(rss_file)!r}, 'a').write(f'{{usage.ru_maxrss}}\\n')\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n")
    wrapper.chmod(0o755)
    if not (EXAMPLES / "bench_gradcam").is_file():
        raise BenchError(f"no {rel(EXAMPLES / 'bench_gradcam')}: the build step did not produce it")
    env = dict(TORCH_ENV, OMP_NUM_THREADS=str(THREADS))
    results = []
    version = subprocess.run([PY, "-c", "import importlib.metadata as m; print(m.version('grad-cam'))"],
                             capture_output=True, text=True).stdout.strip() or "?"
    log_ = ROUND_LOG.setdefault("gradcam", [])
    for r in range(ROUNDS):
        log(f"[3 grad-cam] round {r + 1}/{ROUNDS}")
        out_json = tmp / f"gradcam-{r}.json"
        run("grad-cam: birds bench_gradcam inside the pytorch-grad-cam script", "both",
            [PY, "scripts/bench/gradcam_vs_pytorch_grad_cam.py", "--birds", wrapper, "--images", SAMPLE / "test",
             "--n", GRADCAM_IMAGES, "--batch", GRADCAM_BATCH, "--repeats", GRADCAM_REPEATS, "--threads", THREADS,
             "--out", out_json], env)
        v = json.loads(out_json.read_text())
        results.append(v)
        log_.append(f"round {r + 1}: birds {v['birds_ms_per_image']:.1f} ms/image, pytorch-grad-cam "
                    f"{v['pytorch_grad_cam_ms_per_image']:.1f} ms/image, PyTorch head-only "
                    f"{v['torch_head_only_ms_per_image']:.1f} ms/image; correlation mean {v['correlation_mean']:.6f}, "
                    f"min {v['correlation_min']:.6f}; same targets {v['same_targets']}")
    rss = [int(x) for x in rss_file.read_text().split()] if rss_file.exists() else []
    COMMANDS["grad-cam: birds bench_gradcam (its own process)"] = {
        "cmd": f"{rel(EXAMPLES / 'bench_gradcam')} IN.safetensors OUT.safetensors {GRADCAM_BATCH} "
               f"{GRADCAM_REPEATS} grad-cam  (started by the script above, BIRDS_THREADS={THREADS})",
        "env": {}, "side": "birds", "rss_kb": rss, "wall_s": []}
    n = results[0]["images"]
    ROWS.append(Row("3. Grad-CAM", f"Grad-CAM of the predicted class, {n} images, batch {GRADCAM_BATCH}, 224², "
                    f"{THREADS} threads", "ms/image", med([v["birds_ms_per_image"] for v in results]),
                    med([v["pytorch_grad_cam_ms_per_image"] for v in results]), f"pytorch-grad-cam {version}",
                    higher_is_better=False, goal="≤ pytorch-grad-cam's time (ratio ≥ 1.0)",
                    goal_check=ratio_at_least(1.0)))
    ROWS.append(Row("3. Grad-CAM", "same maps written directly in PyTorch (head-only autograd, birds' method)",
                    "ms/image", med([v["birds_ms_per_image"] for v in results]),
                    med([v["torch_head_only_ms_per_image"] for v in results]), "PyTorch, head-only autograd",
                    higher_is_better=False, goal="– (context)"))
    corr_min = min(v["correlation_min"] for v in results)
    same = all(v["same_targets"] for v in results)
    ROWS.append(Row("3. Grad-CAM", "heatmap correlation with pytorch-grad-cam (Pearson, worst image)", "",
                    corr_min, None, "", goal="≥ 0.99 on every image, same target classes",
                    goal_check=lambda row: row.birds is not None and row.birds >= 0.99 and same,
                    note=f"mean {med([v['correlation_mean'] for v in results]):.6f}; same targets: {same}; "
                         f"max |difference| {max(v['max_abs_diff_max'] for v in results):.4f}"))


# ---------------------------------------------------------------------------------------------------------------
# 4. pipeline vs DVC


def bench_pipeline(_tmp: Path):
    env = {"RUNS": str(PIPELINE_RUNS), "DATA": str(SAMPLE), "BIRDS": str(BIRDS),
           "DVC_VENV": str(ROOT / ".venv-bench")}
    figs = {k: {"birds": [], "dvc": []} for k in ("noop", "status", "startup", "cold")}
    rss = {"noop": {"birds": [], "dvc": []}, "status": {"birds": [], "dvc": []}}
    inproc = []
    dvc_version = "DVC"
    log_ = ROUND_LOG.setdefault("pipeline", [])
    for r in range(ROUNDS):
        log(f"[4 pipeline] round {r + 1}/{ROUNDS}")
        out, _ = run("pipeline: scripts/bench_pipeline.sh (birds and DVC alternate inside)", "both",
                     ["bash", "scripts/bench_pipeline.sh"], env)
        for key, label in (("cold", r"first run \(cold, runs all 6\)"), ("noop", r"no-op rerun \(run / repro\)"),
                           ("status", r"status"), ("startup", r"process start-up \(--version\)")):
            b, d = grab(rf"^{label}\s+(\d+) ms\s+(\d+) ms$", out, f"the {key} figures")
            figs[key]["birds"].append(b)
            figs[key]["dvc"].append(d)
        inproc.append(grab(r"^no-op rerun, birds' own work\s+(\d+) ms$", out, "birds' in-process figure"))
        for key, label in (("noop", "no-op rerun"), ("status", "status")):
            m = re.search(rf"^peak RSS, {label}\s+(\d+) MB\s+(\d+) MB$", out, re.M)
            if m:
                rss[key]["birds"].append(int(m.group(1)))
                rss[key]["dvc"].append(int(m.group(2)))
        m = re.search(r"dvc: (\S+)", out)
        dvc_version = f"DVC {m.group(1)}" if m else "DVC"
        log_.append(f"round {r + 1} (each a median of {PIPELINE_RUNS}): no-op birds {figs['noop']['birds'][-1]:.0f} "
                    f"ms / DVC {figs['noop']['dvc'][-1]:.0f} ms; status {figs['status']['birds'][-1]:.0f} / "
                    f"{figs['status']['dvc'][-1]:.0f} ms; start-up {figs['startup']['birds'][-1]:.0f} / "
                    f"{figs['startup']['dvc'][-1]:.0f} ms; first run {figs['cold']['birds'][-1]:.0f} / "
                    f"{figs['cold']['dvc'][-1]:.0f} ms; birds' own work {inproc[-1]:.0f} ms")
    for key in ("noop", "status"):
        if rss[key]["birds"]:
            COMMANDS[f"pipeline: birds {'run' if key == 'noop' else 'status'} bench (inside bench_pipeline.sh)"] = {
                "cmd": f"{rel(BIRDS)} {'run' if key == 'noop' else 'status'} bench  (in the script's temp project; "
                       f"DVC: {max(rss[key]['dvc'])} MB)",
                "env": {}, "side": "birds", "rss_kb": [x * 1024 for x in rss[key]["birds"]], "wall_s": []}
    what = "6 cmd stages, 3 depending on the sample folder"
    ROWS.append(Row("4. pipeline", f"no-op rerun (`birds run` / `dvc repro`), {what}", "ms",
                    med(figs["noop"]["birds"]), med(figs["noop"]["dvc"]), dvc_version, higher_is_better=False,
                    goal="≤ 50 ms and faster than DVC",
                    goal_check=lambda row: row.birds is not None and row.birds <= 50 and ratio_at_least(1.0)(row),
                    note=f"birds' own work after start-up: {med(inproc):.0f} ms"))
    ROWS.append(Row("4. pipeline", "status (`birds status` / `dvc status`)", "ms", med(figs["status"]["birds"]),
                    med(figs["status"]["dvc"]), dvc_version, higher_is_better=False,
                    goal="≤ 50 ms and faster than DVC",
                    goal_check=lambda row: row.birds is not None and row.birds <= 50 and ratio_at_least(1.0)(row)))
    ROWS.append(Row("4. pipeline", "process start-up (`--version`)", "ms", med(figs["startup"]["birds"]),
                    med(figs["startup"]["dvc"]), dvc_version, higher_is_better=False,
                    goal="≤ 20 ms (`birds` links no libtorch)",
                    goal_check=lambda row: row.birds is not None and row.birds <= 20))
    ROWS.append(Row("4. pipeline", "first run (cold, runs all 6 stages)", "ms", med(figs["cold"]["birds"]),
                    med(figs["cold"]["dvc"]), dvc_version, higher_is_better=False, goal="– (context)"))


# ---------------------------------------------------------------------------------------------------------------
# 5. ingest (no peer)


def bench_ingest(_tmp: Path):
    rates, search = [], {}
    n_images = n_hashes = 0
    log_ = ROUND_LOG.setdefault("ingest", [])
    for r in range(ROUNDS):
        log(f"[5 ingest] round {r + 1}/{ROUNDS}")
        out, _ = run("ingest: birds-ingest bench example", "birds", [EXAMPLES / "bench", SAMPLE])
        n_images, _secs, rate = grab(r"^ingest .*: (\d+) images in ([\d.]+) s = (\d+) images/s", out,
                                     "the ingest rate")
        rates.append(rate)
        parts = []
        for m in re.finditer(r"^near-duplicate search: (\d+) hashes, distance <= (\d+): (\d+) pairs in ([\d.]+) s$",
                             out, re.M):
            n_hashes, d = int(m.group(1)), int(m.group(2))
            search.setdefault(d, []).append(float(m.group(4)))
            parts.append(f"d≤{d} {m.group(3)} pairs in {m.group(4)} s")
        if not parts:
            raise BenchError(f"no near-duplicate search figures in the output:\n{out[-1500:]}")
        log_.append(f"round {r + 1}: ingest {rate:.0f} images/s; search " + ", ".join(parts))
    ROWS.append(Row("5. ingest", f"ingest ({n_images:.0f} images: decode, hash, audit, Parquet, report; warm cache)",
                    "images/s", med(rates), None, "no peer", goal="– (reported)"))
    for d in sorted(search):
        last = d == max(search)
        ROWS.append(Row("5. ingest", f"near-duplicate search, {n_hashes:,} hashes, Hamming distance ≤ {d}", "s",
                        med(search[d]), None, "no peer",
                        goal=f"90k hashes in seconds (≤ {NEARDUP_SECONDS:.0f} s)" if last else "–",
                        goal_check=(lambda row: row.birds <= NEARDUP_SECONDS) if last else None))


# ---------------------------------------------------------------------------------------------------------------
# 6. loader vs train step


def bench_loader(_tmp: Path):
    loader, step, fed, fed_od, eval_ = [], [], [], [], []
    log_ = ROUND_LOG.setdefault("loader", [])
    for r in range(ROUNDS):
        log(f"[6 loader] round {r + 1}/{ROUNDS}")
        out, _ = run("loader: birds-loader bench_loader example", "birds",
                     [EXAMPLES / "bench_loader", "--steps", LOADER_STEPS, "--epochs", LOADER_EPOCHS])
        loader.append(grab(r"^\| loader, train mode \+ augmentation, batch 16, 224 px \| ([\d.]+) batches/s", out,
                           "the loader rate"))
        eval_.append(grab(r"^\| loader, eval mode, batch 16 \| ([\d.]+) batches/s", out, "the eval loader rate"))
        step.append(grab(r"^\| Lite0 train step, batch 16, fixed batch \| ([\d.]+) steps/s", out, "the step rate"))
        fed.append(grab(r"^\| Lite0 train step fed by the loader \| ([\d.]+) steps/s", out, "the fed step rate"))
        fed_od.append(grab(r"^\| Lite0 train step fed by the loader on demand \| ([\d.]+) steps/s", out,
                           "the on-demand fed step rate"))
        log_.append(f"round {r + 1}: loader (augmented) {loader[-1]:.1f} batches/s, eval loader {eval_[-1]:.1f} "
                    f"batches/s; train step {step[-1]:.2f} steps/s fixed batch, {fed[-1]:.2f} fed by the loader "
                    f"ahead, {fed_od[-1]:.2f} on demand")
    ROWS.append(Row("6. loader", "loader, train mode + augmentation, batch 16, 224² (vs Lite0 train steps/s, SGD, "
                    "same process)", "batches/s", med(loader), med(step), "Lite0 train step (steps/s)",
                    goal="≥ 5× the train-step rate", goal_check=ratio_at_least(5.0)))
    ROWS.append(Row("6. loader", "train steps fed by the loader, batches built ahead on a background thread, vs on "
                    "one fixed batch", "steps/s", med(fed), med(step), "fixed batch (steps/s)",
                    goal="– (context: 1.0 = the loader costs nothing)"))
    ROWS.append(Row("6. loader", "train steps fed by the loader on demand (on the training thread: what a CPU run "
                    "uses) vs on one fixed batch", "steps/s", med(fed_od), med(step), "fixed batch (steps/s)",
                    goal="– (context: 1.0 = the loader costs nothing)"))


# ---------------------------------------------------------------------------------------------------------------
# 7. birds export, loaded by PyTorch (a check, not a timing: it runs once)


def bench_export(tmp: Path):
    out_json = tmp / "export-check.json"
    env = dict(TORCH_ENV, OMP_NUM_THREADS=str(THREADS))
    log("[7 export] once")
    _, err = run("export: scripts/check_export.py (feature-extract run, birds export, PyTorch loads both)", "both",
                 [PY, "scripts/check_export.py", "--birds", BIRDS, "--sample", SAMPLE, "--mode", "feature-extract",
                  "--work", tmp / "export-check", "--threads", THREADS, "--json", out_json], env, check=False)
    if not out_json.is_file():
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise BenchError(f"scripts/check_export.py wrote no figures:\n{tail}")
    v = json.loads(out_json.read_text())
    n = v["images"]
    ROUND_LOG.setdefault("export", []).append(
        f"{v['architecture']} ({v['mode']}, {v['classes']} classes), {n} test images: safetensors in "
        f"efficientnet-lite-pytorch max |logit diff| {v.get('safetensors_max_abs_diff', float('nan')):.2e}, "
        f"torch.jit.load {v['torchscript_max_abs_diff']:.2e}; Pillow preprocessing by model.json: top-1 agrees on "
        f"{v['pillow_top1_agree']}/{n}")
    within = lambda row: row.birds is not None and row.birds <= 1e-4  # noqa: E731
    ROWS.append(Row("7. export", f"max |logit − birds'|, {n} test images: model.safetensors in "
                    "efficientnet-lite-pytorch (strict load)", "", v.get("safetensors_max_abs_diff"), None,
                    f"PyTorch {v['torch']}", goal="≤ 1e-4", goal_check=within))
    ROWS.append(Row("7. export", f"max |logit − birds'|, {n} test images: model.torchscript.pt via "
                    "torch.jit.load", "", v["torchscript_max_abs_diff"], None, f"PyTorch {v['torch']}",
                    goal="≤ 1e-4", goal_check=within,
                    note=f"Pillow preprocessing by model.json instead of birds' inputs: top-1 agrees on "
                         f"{v['pillow_top1_agree']}/{n}"))


def bench_label_issues(_tmp: Path):
    """birds' label-issue finder vs cleanlab on the same out-of-fold probabilities, and against planted errors."""
    log("[8 label issues] once")
    env = dict(TORCH_ENV, PYTHON=str(PY), BIRDS=str(BIRDS))
    out, err = run("label issues: scripts/bench/label_issues.sh (synth --label-errors 0.02, diagnose, cleanlab)",
                   "both", ["bash", "scripts/bench/label_issues.sh"], env, check=False)
    line = next((l for l in out.splitlines() if l.startswith("[")), None)
    if line is None:
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise BenchError(f"scripts/bench/label_issues.sh printed no figures:\n{tail}")
    v = json.loads(line)[0]
    ROUND_LOG.setdefault("label issues", []).append(
        f"{v['images']} training images, {v['planted']} planted: birds flags {v['birds_flagged']}, cleanlab "
        f"{v['cleanlab_flagged']}, both {v['both']}; planted in birds' top {2 * v['planted']}: "
        f"{v['birds_planted_in_top_2n']}; diagnose {v.get('diagnose_seconds', float('nan')):.1f} s")
    ROWS.append(Row("8. label issues", f"flag sets agree (|both| / |either|), {v['images']} training images",
                    "", v["agreement"], None, "cleanlab find_label_issues", goal="≥ 0.9",
                    goal_check=lambda row: row.birds is not None and row.birds >= 0.9))
    ROWS.append(Row("8. label issues", f"planted errors among the top 2N suspects (N = {v['planted']})", "",
                    v["birds_planted_in_top_2n"] / max(v["planted"], 1), None, "", goal="≥ 0.8",
                    goal_check=lambda row: row.birds is not None and row.birds >= 0.8,
                    note=f"cleanlab's ranking: {v['cleanlab_planted_in_top_2n']} of {v['planted']}"))


# ---------------------------------------------------------------------------------------------------------------


def sh(*cmd) -> str:
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass

    commit = sh("git", "rev-parse", "--short=12", "HEAD")
    dirty = sh("git", "status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "rustc": sh("rustc", "--version"),
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def write_doc(info: dict, started: datetime.datetime, total_s: float, prep: dict) -> None:
    L = []
    L.append("# Benchmarks")
    L.append("")
    L.append("Written by `just bench` (`scripts/bench/run_all.py`); do not edit by hand, rerun it. Every figure below "
             f"was measured in the run of {started:%Y-%m-%d %H:%M} UTC, birds and its peer side by side: each benchmark "
             f"ran {ROUNDS} rounds, birds and the peer alternating within a round (the side that goes first swaps "
             "every round), and each figure is the median over the rounds.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append(f"- {info['cores']} cores, CPU `{info['cpu']}` (from /proc/cpuinfo), {info['memory']} memory, "
             f"{info['os']}; no GPU used")
    L.append(f"- date {started:%Y-%m-%d %H:%M:%S} UTC; load average at the start {info['load_start']}, at the end "
             f"{info['load_end']} (1/5/15 min)")
    L.append(f"- birds at commit {info['commit']}, {info['rustc']}, release build; peers in `.venv-bench` "
             f"({info['python']})")
    L.append(f"- threads: {THREADS} for every contender (libtorch intra-op threads, rayon threads, Pillow workers)")
    L.append(f"- data: {len(sample_files())} JPEGs of the birds sample (`{rel(SAMPLE)}`)")
    build = ("a cold release build (no target/release/birds before)" if prep["cold_build"]
             else "an incremental release build")
    peers = (f"the peer venv installed alongside it ({prep['peers_s']:.0f} s)" if prep["peers_installed"]
             else "the peer venv up to date")
    bench_s = total_s - prep["prepare_s"]
    L.append(f"- wall time of this run: {total_s / 60:.1f} min (goal: ≤ 20 min from a clean clone after `just setup`): "
             f"{prep['prepare_s'] / 60:.1f} min for {build} ({prep['build_s']:.0f} s) with {peers}, then "
             f"{bench_s / 60:.1f} min of benchmarks; per benchmark: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in WALL.items()))
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("Ratio: birds ÷ peer for rates, peer ÷ birds for times, so above 1.0 means birds is faster.")
    L.append("")
    L.append("| benchmark | what | birds | peer | peer figure | ratio | goal | met? |")
    L.append("|---|---|---:|---|---:|---:|---|---|")
    for row in ROWS:
        if row.failed:
            L.append(f"| {row.bench} | {md_escape(row.what)} | **failed** | | | | {row.goal} | **no (failed)** |")
            continue
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[row.met]
        what = row.what + (f" ({row.note})" if row.note else "")
        L.append(f"| {row.bench} | {md_escape(what)} | {fmt(row.birds, row.unit)} | {md_escape(row.peer_name)} | "
                 f"{fmt(row.peer, row.unit)} | {ratio} | {row.goal} | {met} |")
    L.append("")
    missed = [r for r in ROWS if r.met is False]
    L.append("## Goals missed")
    L.append("")
    if not missed:
        L.append("None: birds met every goal in this run.")
    for row in missed:
        if row.failed:
            L.append(f"- **{row.bench}: the benchmark failed**, so its goals are not shown to be met. Error:")
            L.append("")
            L.append("  ```text")
            L += [f"  {line}" for line in row.failed.splitlines()]
            L.append("  ```")
        elif row.ratio is not None:
            L.append(f"- **{row.bench}, {row.what}: birds misses the goal.** birds {fmt(row.birds, row.unit)}, "
                     f"{row.peer_name} {fmt(row.peer, row.unit)}: ratio {row.ratio:.2f}×, goal {row.goal}.")
        else:
            L.append(f"- **{row.bench}, {row.what}: birds misses the goal.** birds {fmt(row.birds, row.unit)}, "
                     f"goal {row.goal}" + (f" ({row.note})" if row.note else "") + ".")
    L.append("")
    L.append("## Every round")
    L.append("")
    for key, lines in ROUND_LOG.items():
        for line in lines:
            L.append(f"- {key}, {line}")
    L.append("")
    L.append("## Commands and peak RSS")
    L.append("")
    L.append("Run from the checkout's root. Peak RSS: the process's maximum resident set size (getrusage), the "
             "largest over the rounds; for a Python peer with worker processes, the largest single process. The "
             "PyTorch peers and `birds train smoke` run with "
             + " ".join(f"`{k}={v}`" for k, v in TORCH_ENV.items())
             + f" and `OMP_NUM_THREADS={THREADS}` (birds sets the same malloc options itself at start-up).")
    L.append("")
    L.append("| side | command | peak RSS | wall per run |")
    L.append("|---|---|---:|---:|")
    for key, c in COMMANDS.items():
        env = " ".join(f"{k}={v}" for k, v in c["env"].items() if k not in TORCH_ENV and k != "OMP_NUM_THREADS")
        cmd = (env + " " if env else "") + c["cmd"]
        rss = f"{max(c['rss_kb']) / 1024:.0f} MB" if c["rss_kb"] else "–"
        wall = f"{med(c['wall_s']):.1f} s" if c["wall_s"] else "–"
        L.append(f"| {c['side']} | {key}: `{md_escape(cmd)}` | {rss} | {wall} |")
    L.append("")
    L.append("## What is measured")
    L.append("")
    L.append("1. **Decode + resize**: every JPEG decoded, converted to RGB, the centred square resized to 224×224 "
             "with an antialiased bilinear filter, pixels handed back (`bench_resize`'s fast_image_resize row vs "
             "`pillow_resize.py`, Pillow `Image.resize(BILINEAR, box=…)` on a `multiprocessing.Pool`); files in the "
             "page cache; one timed pass per round. The preprocess-stage row also writes the shards and Parquet.")
    L.append("2. **Lite0 forward / train step**: a synthetic batch; forward = eval mode under no-grad "
             "(`birds train smoke --forward`, `train_step.py --forward`); train step = training mode, "
             "label-smoothed cross-entropy, backward through every layer, AdamW (`birds train smoke`, "
             "`train_step.py`). Images/s over the timed steps after warm-up steps.")
    L.append("3. **Grad-CAM**: ImageNet Lite0 with the converted weights both sides use, the first test images, "
             "maps of the predicted class at the last 1280-channel feature map, upsampled to 224² and min-max "
             "normalised. pytorch-grad-cam's time includes the no-grad forward it needs to name the targets. "
             "Correlation: Pearson, per image, between birds' and pytorch-grad-cam's maps.")
    L.append("4. **Pipeline**: `scripts/bench_pipeline.sh`: six `cmd` stages, three depending on the sample folder, "
             "the same stages as a `dvc.yaml` in a temp git repo; each round's figure is the median of "
             f"{PIPELINE_RUNS} runs after a warm-up.")
    L.append("5. **Ingest**: `birds-ingest`'s `bench` example: one full ingest of the sample (warm cache) and the "
             "near-duplicate search on 90,000 random 64-bit hashes with 1 % planted near copies. No peer.")
    L.append("6. **Loader**: `bench_loader`: the augmented loader alone (batches consumed, nothing else), against "
             "Lite0 SGD train steps on one fixed batch in the same process, and steps fed by the loader (built ahead on a "
             "background thread, and on demand).")
    L.append("7. **Export**: `scripts/check_export.py`: a 10-epoch feature-extract Lite0 run on the sample, "
             "`birds export --reference test/`, then in PyTorch the state dict in efficientnet-lite-pytorch and the "
             "TorchScript module via `torch.jit.load`, each on birds' own inputs of every test image; the figure is "
             "the largest |logit difference| from birds' logits. Run once (a check, not a timing).")
    L.append("")
    text = "\n".join(L)
    # Keep the "Full size" section that `just bench-full` (scripts/bench/full.py) writes between its markers.
    old = DOC.read_text() if DOC.exists() else ""
    begin, end = "<!-- full-size:begin -->", "<!-- full-size:end -->"
    if begin in old and end in old:
        text = text.rstrip("\n") + "\n\n" + old[old.index(begin): old.index(end) + len(end)] + "\n"
    tmp = DOC.with_name(DOC.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, DOC)


BENCH_EXAMPLES = ("bench_resize", "bench_loader", "bench_gradcam", "bench")


def prepare() -> dict:
    """The release build and the peer venv, side by side; returns their wall times in seconds.

    Installing the peers is mostly download and unpacking while the build is CPU-bound, so the two overlap: from a
    clean clone this saves most of the venv's minutes. Both finish before any benchmark starts, so nothing measured
    shares the machine with them.
    """
    t0 = time.perf_counter()
    peers_cmd = ["bash", str(ROOT / "scripts" / "bench" / "peers.sh")]
    log("$ " + shlex.join(peers_cmd) + "  (in the background, while cargo builds)")
    peers_log = tempfile.TemporaryFile()
    peers = subprocess.Popen(peers_cmd, cwd=ROOT, stdout=peers_log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    # One invocation with birds-cli in the selection: its dependency features then equal `just build`'s, so the
    # examples reuse the release build of polars and libtorch's bindings instead of building a second variant.
    # Only the benchmark examples are linked (each link of libtorch and polars costs seconds).
    cmd = ["cargo", "build", "--release", "-p", "birds-cli", "-p", "birds-preprocess", "-p", "birds-loader", "-p", "birds-explain",
           "-p", "birds-ingest", "--bin", "birds", "--bin", "birds-torch"]
    for name in BENCH_EXAMPLES:
        cmd += ["--example", name]
    log("$ " + shlex.join(cmd))
    built = subprocess.run(cmd, cwd=ROOT).returncode == 0
    build_s = time.perf_counter() - t0
    peers_rc = peers.wait()
    peers_s = time.perf_counter() - t0
    peers_log.seek(0)
    peers_out = peers_log.read().decode(errors="replace").strip()
    peers_log.close()
    for line in peers_out.splitlines():
        log("  " + line)
    if not built:
        sys.exit(f"bench: `{shlex.join(cmd)}` failed; fix the build first (`just setup` provides libtorch)")
    if peers_rc != 0:
        sys.exit(f"bench: `{shlex.join(peers_cmd)}` exited with {peers_rc} (its output is above)")
    up_to_date = "up to date" in peers_out
    log(f"build {build_s:.0f} s; peers {'up to date' if up_to_date else f'installed, {peers_s:.0f} s'}")
    return {"build_s": build_s, "peers_s": peers_s, "peers_installed": not up_to_date,
            "prepare_s": time.perf_counter() - t0}


def main() -> int:
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    missing = []
    if not (SAMPLE / "train").is_dir():
        missing.append(f"the birds sample ({SAMPLE} has no train/ folder): set BIRDS_SAMPLE")
    if not (ROOT / ".venv" / "libtorch").exists():
        missing.append("libtorch (.venv/libtorch missing): run `just setup`")
    if missing:
        for m in missing:
            print(f"bench: missing {m}", file=sys.stderr)
        return 2
    info = machine()
    cold_build = not BIRDS.is_file()
    prep = prepare()
    prep["cold_build"] = cold_build
    info["python"] = sh(str(PY), "--version")  # the peer venv may only exist now
    for p in [BIRDS, PY] + [EXAMPLES / n for n in BENCH_EXAMPLES]:
        if not p.is_file():
            print(f"bench: {rel(p)} missing after the build and peer install", file=sys.stderr)
            return 2
    benches = [("1 resize", bench_resize, ["1. decode + resize"]),
               ("2 forward/train", bench_train, ["2. Lite0 forward", "2. Lite0 train step"]),
               ("3 grad-cam", bench_gradcam, ["3. Grad-CAM"]),
               ("4 pipeline", bench_pipeline, ["4. pipeline"]),
               ("5 ingest", bench_ingest, ["5. ingest"]),
               ("6 loader", bench_loader, ["6. loader"]),
               ("7 export", bench_export, ["7. export"]),
               ("8 label-issues", bench_label_issues, ["8. label issues"])]
    only = os.environ.get("BENCH_ONLY")  # e.g. BENCH_ONLY=1,3 to run a subset while fixing one
    with tempfile.TemporaryDirectory(prefix="birds-bench-") as tmp:
        TMP["dir"] = tmp
        for name, fn, groups in benches:
            if only and name.split()[0] not in only.split(","):
                continue
            t = time.perf_counter()
            try:
                fn(Path(tmp))
            except Exception as e:  # noqa: BLE001 - recorded in the doc, the other benchmarks still run
                msg = str(e) if isinstance(e, BenchError) else traceback.format_exc()
                FAILURES[name] = msg
                log(f"[{name}] FAILED: {msg}")
                row = Row(groups[0], "(whole benchmark)", "", goal="")
                row.failed = msg
                ROWS.append(row)
            WALL[name] = time.perf_counter() - t
    info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    total = time.perf_counter() - t0
    write_doc(info, started, total, prep)
    log(f"wrote {rel(DOC)} in {total / 60:.1f} min ({len(ROWS)} rows, {len(FAILURES)} failed)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
