#!/usr/bin/env python3
"""`just bench-full`: pipelines/full.yaml run stage by stage, measured, and the "Full size" section of
docs/benchmarks.md rewritten from what this run measured.

    python3 scripts/bench/full.py                       # the full size: 525 species, ≈ 90k images (hours on 2 cores)
    BIRDS_FULL_SCALE=0.02 BIRDS_FULL_CLASSES=60 python3 scripts/bench/full.py   # a small check that it all works

Each stage runs alone and forced (`birds run full --stage S --force`, in DAG order) under `/usr/bin/time -v`; per
stage it records wall time, the peak RSS of the largest process (`Maximum resident set size`), disk written (`du`
of the stage's out folder; the dataset stage: the data root it drew) and images/s (images the stage handled over its
wall time, or the stage's own rate where it reports one: train-* `train_images_per_s` from summary.json).

The dataset stage draws the synthetic set (`birds synth --preset full`) when the data root holds none; a root that
holds an earlier synth dataset (`synth.json`) is removed first so that drawing is measured too; a real download (no
`synth.json`) is never removed. BIRDS_FULL_ROOT names another root (e.g. a real BIRDS 525 download).

Right after the feature-extract stage, birds' embedding pass (the `bench_embed` example: the stage's own
`features::embed_split`) and the PyTorch peer (scripts/bench/feature_extract.py, .venv-bench) embed the same first
BIRDS_FULL_PEER_IMAGES (default 4096) images of the preprocess cache with the same threads and batch size, in 3
alternating rounds (BIRDS_FULL_STAGES=peer reruns just that);
after the last stage the report is opened in headless Chromium (plain, and filtered by `#filter=warbler`), timed,
and screenshotted to artifacts/full/report/screenshot.png.

Each run saves what it measured to artifacts/full/bench.json; BIRDS_FULL_STAGES=preprocess[,evaluate…] reruns just
those stages of the last run (same data and artifacts) and rewrites the section with their new rows, saying which rows
were rerun, at which commit and when.

Env: BIRDS_BIN (default $CARGO_TARGET_DIR/release/birds or target/release/birds), BIRDS_FULL_SCALE (default 1: images per species × this, at least 1 train, valid and test as BIRDS 525's 5 down
to 1), BIRDS_FULL_CLASSES (default 525), BIRDS_FULL_ROOT, BIRDS_FULL_THREADS (default: all cores), BIRDS_FULL_DOC
(default docs/benchmarks.md; `-` writes nothing). Only the standard library is used.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIRDS = Path(os.environ.get("BIRDS_BIN", TARGET / "release" / "birds")).resolve()
SCALE = float(os.environ.get("BIRDS_FULL_SCALE", "1"))
CLASSES = int(os.environ.get("BIRDS_FULL_CLASSES", "525"))
THREADS = int(os.environ.get("BIRDS_FULL_THREADS", str(os.cpu_count() or 2)))
DOC = os.environ.get("BIRDS_FULL_DOC", str(ROOT / "docs" / "benchmarks.md"))
FULL = SCALE == 1 and CLASSES == 525
DEFAULT_ROOT = "data/birds525-synth" if FULL else f"data/full-bench-{CLASSES}-{SCALE:g}"
DATA_ROOT = os.environ.get("BIRDS_FULL_ROOT", DEFAULT_ROOT)
ART = ROOT / "artifacts" / "full"
# What the last run measured (rows, peer, browser): BIRDS_FULL_STAGES=preprocess,… reruns those stages only and
# replaces their rows, each row keeping the commit and time it was measured at.
RESULTS = ART / "bench.json"
# The bench's own feature cache, emptied before the feature-extract stage so that the embedding pass is measured.
FEATURES = ART / ".cache-features"
BEGIN, END = "<!-- full-size:begin -->", "<!-- full-size:end -->"
STAGES = ["dataset", "ingest", "preprocess", "train-feature-extract", "train-fine-tune", "train-scratch",
          "compare", "evaluate", "explain", "report"]


def log(msg: str) -> None:
    print(f"[bench-full {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def synth_args() -> str:
    """`birds synth` flags for the scaled preset (BIRDS 525: 130–263 train, mean 161, 5 valid, 5 test)."""
    args = ["--preset", "full"]
    if not FULL:
        lo = max(1, round(130 * SCALE))
        hi = max(lo, round(263 * SCALE))
        mean = round(161 * SCALE)
        mean = mean if lo < mean < hi else 0
        vt = max(1, min(5, round(5 * SCALE * 20)))
        args += ["--classes", str(CLASSES), "--train", str(lo), "--train-max", str(hi), "--train-mean", str(mean),
                 "--valid", str(vt), "--test", str(vt), "--odd-sizes", str(min(6, CLASSES)),
                 "--near-duplicates", str(min(8, CLASSES))]
    return " ".join(args)


def sets() -> list[str]:
    s = [f"dataset.root={DATA_ROOT}", f"dataset.synth='{synth_args()}'", f"dataset.birds={BIRDS}",
         f"train-feature-extract.feature_cache={FEATURES.relative_to(ROOT)}"]
    if not FULL:
        # Small scale: a few epochs, no budget needed, so the check finishes in minutes.
        s += ["train-feature-extract.epochs=5", "train-feature-extract.batch_size=32", "train-fine-tune.batch_size=16",
              "train-scratch.epochs=1", "train-scratch.batch_size=32", "explain.check_images=40", "explain.classes=3"]
    return [a for x in s for a in ("--set", x)]


def du(path: Path) -> int:
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-sbL", str(path)], capture_output=True, text=True)
    try:
        return int(out.stdout.split()[0])
    except (IndexError, ValueError):
        return 0


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def images_of(stage: str, wall: float) -> tuple[int | None, float | None, str]:
    """(images handled, images/s, how) for one stage, from what it wrote."""
    d = ART / stage
    if stage == "dataset":
        s = read_json(Path(ROOT / DATA_ROOT) / "synth.json")
        n = sum(s["images"]) if s else None
        return n, (n / wall if n else None), "images drawn / wall" if s else "no synth.json (real data: nothing drawn)"
    if stage == "ingest":
        r = read_json(d / "report.json")
        n = r["totals"]["files"] if r and "files" in r.get("totals", {}) else None
        return n, (n / wall if n else None), "files indexed / wall"
    if stage == "preprocess":
        m = read_json(d / "cache.json")
        n = m["images"] if m else None
        return n, (n / wall if n else None), "images cached / wall"
    if stage.startswith("train-"):
        s = read_json(d / "summary.json")
        if s:
            n = sum(s.get("images") or [0])
            return n, s.get("train_images_per_s"), "summary.json train_images_per_s"
        return None, None, "no summary.json"
    if stage in ("evaluate",):
        s = read_json(ART / "train-feature-extract" / "summary.json")
        n = sum((s or {}).get("images", [0, 0, 0])[1:]) or None
        return n, (n / wall if n else None), "valid + test images / wall"
    return None, None, ""


def peak_rss_mb(time_v_stderr: str) -> float | None:
    """The `Maximum resident set size` that `/usr/bin/time -v` printed, in MB."""
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_v_stderr)
    return int(rss.group(1)) / 1024 if rss else None


def run_stage(stage: str) -> dict:
    cmd = ["/usr/bin/time", "-v", str(BIRDS), "--threads", str(THREADS), "run", "full", "--stage", stage, "--force",
           *sets()]
    if stage == "dataset":
        root = ROOT / DATA_ROOT
        if (root / "synth.json").is_file():
            log(f"removing the earlier synth dataset {DATA_ROOT} (drawing is measured)")
            shutil.rmtree(root)
    if stage == "train-feature-extract" and FEATURES.exists():
        shutil.rmtree(FEATURES)
    log(f"{stage}: {' '.join(cmd[2:])}")
    t = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t
    out = ROOT / DATA_ROOT if stage == "dataset" else ART / stage
    n, rate, how = images_of(stage, wall)
    row = {"stage": stage, "ok": p.returncode == 0, "wall_s": wall, "rss_mb": peak_rss_mb(p.stderr),
           "disk_bytes": du(out), "images": n, "images_per_s": rate, "how": how,
           "tail": (p.stdout + p.stderr)[-1500:] if p.returncode else ""}
    log(f"{stage}: {'ok' if row['ok'] else 'FAILED'} in {wall:.1f} s, peak RSS {row['rss_mb'] or 0:.0f} MB, "
        f"disk {row['disk_bytes'] / 1e6:.1f} MB, images/s {rate or 0:.1f}")
    if not row["ok"]:
        print(row["tail"], file=sys.stderr)
    return row


PEER_PY = ROOT / ".venv-bench" / "bin" / "python"
PEER_IMAGES = int(os.environ.get("BIRDS_FULL_PEER_IMAGES", "4096"))
EVAL_BATCH = 16  # pipelines/full.yaml: train-feature-extract's eval_batch_size, the batch its embedding pass uses


def feature_rate() -> dict | None:
    """birds' embedding rate in the feature-extract stage: images embedded (train twice with flip_features, valid,
    test) over summary.json's feature_seconds (reading the cache, the forward passes and writing the features)."""
    d = ART / "train-feature-extract"
    s, c = read_json(d / "summary.json"), read_json(d / "checkpoint.json")
    if not s or not s.get("feature_seconds") or s.get("feature_cache_hit"):
        return None
    flip = ((c or {}).get("params") or {}).get("flip_features", True)
    train, valid, test = s["images"]
    n = train * (2 if flip else 1) + valid + test
    return {"images": n, "seconds": s["feature_seconds"], "images_per_s": n / s["feature_seconds"], "flip": flip,
            "threads": s.get("threads")}


EMBED = TARGET / "release" / "examples" / "bench_embed"
PEER_ROUNDS = 3


def run_json(cmd: list[str], env: dict | None = None) -> dict:
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=ROOT, capture_output=True, text=True, env=env)
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": (p.stdout + p.stderr)[-800:]}
    out["rss_mb"] = peak_rss_mb(p.stderr)
    return out


def run_peer() -> dict:
    """birds' embedding pass (`bench_embed`: `features::embed_split`, the stage's own code) and the PyTorch one
    (scripts/bench/feature_extract.py) on the same first PEER_IMAGES cached train images, the same threads and batch
    size, alternating in PEER_ROUNDS rounds (the side that goes first swaps every round); medians. Run right after the
    feature-extract stage, nothing else on the machine."""
    if not PEER_PY.is_file():
        return {"error": "no .venv-bench (bash scripts/bench/peers.sh installs the peers)"}
    if not EMBED.is_file():
        return {"error": f"{EMBED} missing (cargo build --release -p birds-train --example bench_embed)"}
    common = ["--cache", str(ART / "preprocess"), "--images", str(PEER_IMAGES), "--batch-size", str(EVAL_BATCH),
              "--threads", str(THREADS)]
    birds_cmd = [str(EMBED), *common]
    peer_cmd = [str(PEER_PY), str(ROOT / "scripts" / "bench" / "feature_extract.py"), *common]
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MALLOC_MMAP_MAX_="0",
               MALLOC_TRIM_THRESHOLD_="100000000000", MALLOC_ARENA_MAX="1")
    rounds = []
    for r in range(PEER_ROUNDS):
        order = ["birds", "peer"] if r % 2 == 0 else ["peer", "birds"]
        got = {}
        for side in order:
            got[side] = run_json(birds_cmd if side == "birds" else peer_cmd, env)
            if "error" in got[side]:
                return {"error": f"{side}: {got[side]['error']}"}
        log(f"embedding round {r + 1}: birds {got['birds']['images_per_s']:.1f}, "
            f"PyTorch {got['peer']['images_per_s']:.1f} images/s")
        rounds.append(got)
    med = lambda side: sorted(x[side]["images_per_s"] for x in rounds)[len(rounds) // 2]
    last = rounds[-1]["peer"]
    return {"images": PEER_IMAGES, "threads": THREADS, "batch_size": EVAL_BATCH, "torch": last.get("torch"),
            "birds_images_per_s": med("birds"), "images_per_s": med("peer"),
            "birds_rss_mb": max(x["birds"].get("rss_mb") or 0 for x in rounds),
            "rss_mb": max(x["peer"].get("rss_mb") or 0 for x in rounds),
            "rounds": [{"birds": x["birds"]["images_per_s"], "peer": x["peer"]["images_per_s"]} for x in rounds]}


def chromium() -> str | None:
    for name in (os.environ.get("BIRDS_CHROMIUM") or "", "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def open_report() -> dict:
    """Opens the report in headless Chromium twice (`--dump-dom`: the DOM after the page's script ran): plain, and
    filtered by a class name from the link's fragment; wall time of each, rows shown, and a screenshot."""
    page = ART / "report" / "index.html"
    bin_ = chromium()
    if not bin_ or not page.is_file():
        return {"error": "no Chromium (scripts/ensure_chromium.sh installs it)" if not bin_ else "no report"}
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
             f"--user-data-dir={ART / '.chromium-profile'}"]
    out: dict = {}
    for what, url in (("plain", f"file://{page}"), ("filtered", f"file://{page}#filter=warbler")):
        t = time.monotonic()
        p = subprocess.run([bin_, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=300)
        wall = time.monotonic() - t
        dom = p.stdout
        count = re.search(r'<span id="per-class-count"[^>]*>([^<]*)</span>', dom)
        out[what] = {"wall_s": wall, "ready": 'data-report-ready="1"' in dom, "count": count.group(1) if count else None,
                     "hidden_rows": dom.count('<tr hidden=""')}
        log(f"chromium {what}: {wall:.1f} s, ready {out[what]['ready']}, {out[what]['count']}")
    shot = ART / "report" / "screenshot.png"
    subprocess.run([bin_, *flags, f"--screenshot={shot}", "--window-size=1280,6000", f"file://{page}"],
                   capture_output=True, timeout=300)
    out["screenshot"] = str(shot.relative_to(ROOT)) if shot.is_file() else None
    return out


def fmt_bytes(b: int) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.1f} MB"


def section(rows: list[dict], started: datetime.datetime, total: float, peer: dict, browser: dict,
            commit: str) -> str:
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")), "?")
    synth = read_json(ROOT / DATA_ROOT / "synth.json") or {}
    imgs = synth.get("images")
    report = ART / "report" / "index.html"
    fe = [r for r in rows if r["stage"] in ("ingest", "preprocess", "train-feature-extract", "evaluate", "explain",
                                            "report")]
    L = [BEGIN, "## Full size", ""]
    L.append(f"Written by `just bench-full` (`scripts/bench/full.py`); do not edit by hand, rerun it. Measured "
             f"{started:%Y-%m-%d %H:%M} UTC at commit {commit}{' (with uncommitted changes)' if dirty else ''}, "
             f"{os.cpu_count()} cores ({THREADS} threads), {int(mem) / 1048576:.1f} GiB memory, "
             f"{platform.system()} {platform.release()}; load average at the end {load}; whole run "
             f"{total / 60:.1f} min.")
    L.append("")
    scale = "full size" if FULL else f"**small scale** (BIRDS_FULL_SCALE={SCALE:g}, BIRDS_FULL_CLASSES={CLASSES})"
    L.append(f"Data: `{DATA_ROOT}` ({scale}); "
             + (f"{imgs[0]:,} / {imgs[1]:,} / {imgs[2]:,} images (train / valid / test) of "
                f"{len(synth.get('labels', []))} species, drawn by `birds synth {synth_args()}`."
                if imgs else "not a synth dataset."))
    L.append("")
    L.append("What the figures mean, the goals missed and why (profiles), and what a full run costs: "
             "[docs/full-size.md](full-size.md) (written by hand from these figures).")
    L.append("")
    L.append("Each stage ran alone and forced (`birds run full --stage S --force`) under `/usr/bin/time -v`: wall "
             "time, the peak RSS of the largest process, disk = `du` of its out folder (dataset: the data root).")
    L.append("")
    rerun = [r for r in rows if r.get("commit", commit) != commit]
    if rerun:
        L.append("Rerun later, alone (`BIRDS_FULL_STAGES`), on the same data and artifacts: "
                 + "; ".join(f"`{r['stage']}` at commit {r['commit']}, {r.get('measured', '?')} UTC" for r in rerun)
                 + ". Every other row is from the whole run.")
        L.append("")
    L.append("| stage | ok | wall | images | images/s | peak RSS | disk written |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        rate = f"{r['images_per_s']:,.1f}" if r["images_per_s"] else "–"
        n = f"{r['images']:,}" if r["images"] else "–"
        rss = f"{r['rss_mb']:,.0f} MB" if r["rss_mb"] else "–"
        L.append(f"| {r['stage']} | {'yes' if r['ok'] else '**FAILED**'} | {r['wall_s']:,.1f} s | {n} | {rate} | "
                 f"{rss} | {fmt_bytes(r['disk_bytes'])} |")
    L.append("")
    fe_wall = sum(r["wall_s"] for r in fe)
    by = {r["stage"]: r for r in rows}
    checks = [
        ("ingest ≥ 3,000 images/s", by.get("ingest", {}).get("images_per_s"), lambda v: v >= 3000),
        ("preprocess ≥ 2,000 images/s", by.get("preprocess", {}).get("images_per_s"), lambda v: v >= 2000),
        ("preprocess peak RSS ≤ 1 GB", by.get("preprocess", {}).get("rss_mb"), lambda v: v <= 1024),
        ("evaluate ≤ 2 min", by.get("evaluate", {}).get("wall_s"), lambda v: v <= 120),
        ("explain ≤ 2 min", by.get("explain", {}).get("wall_s"), lambda v: v <= 120),
        ("report ≤ 2 min", by.get("report", {}).get("wall_s"), lambda v: v <= 120),
        ("report ≤ 5 MB", report.stat().st_size / 1e6 if report.exists() else None, lambda v: v <= 5),
        ("every stage's peak RSS ≤ 4 GB", max((r["rss_mb"] or 0) for r in rows) if rows else None,
         lambda v: v <= 4096),
        ("feature-extract path (ingest … report, synth excluded) ≤ 75 min", fe_wall / 60, lambda v: v <= 75),
    ]
    fr = feature_rate()
    if peer.get("images_per_s") and peer.get("birds_images_per_s"):
        checks.append(("feature extraction ≥ PyTorch (birds ÷ PyTorch images/s, same images, alternating rounds)",
                       peer["birds_images_per_s"] / peer["images_per_s"], lambda v: v >= 1.0))
    for what in ("plain", "filtered"):
        b = browser.get(what)
        if b:
            checks.append((f"report opens in headless Chromium ≤ 5 s ({what}{', #filter=warbler' if what == 'filtered' else ''}; s)",
                           b["wall_s"] if b["ready"] else None, lambda v: v <= 5))
    L.append("| goal | measured | met |")
    L.append("|---|---:|---|")
    for name, v, ok in checks:
        L.append(f"| {name} | {('%.1f' % v) if v is not None else '–'} | "
                 f"{('yes' if ok(v) else '**no**') if v is not None else '–'} |")
    L.append("")
    L.append(f"Feature extraction beside PyTorch, same threads, batch {EVAL_BATCH}:")
    L.append("")
    if fr:
        L.append(f"- the whole stage `train-feature-extract`: {fr['images']:,} embeddings "
                 f"({'train twice, flipped too, ' if fr['flip'] else ''}valid, test) in {fr['seconds']:,.1f} s = "
                 f"**{fr['images_per_s']:.1f} images/s** (reading the cache, Lite0 forward, writing the features).")
    else:
        L.append("- the whole stage: no figure (the stage's feature cache was hit, or the stage failed).")
    if peer.get("images_per_s") and peer.get("birds_images_per_s"):
        per_round = ", ".join(f"{x['birds']:.1f} / {x['peer']:.1f}" for x in peer.get("rounds", []))
        L.append(f"- head to head on the same first {peer['images']:,} cached train images, {peer['threads']} threads, "
                 f"{len(peer.get('rounds', []))} alternating rounds, medians: birds (`bench_embed`, the stage's "
                 f"`features::embed_split`) **{peer['birds_images_per_s']:.1f} images/s**, peak RSS "
                 f"{peer.get('birds_rss_mb') or 0:,.0f} MB; PyTorch {peer.get('torch')} "
                 f"(`scripts/bench/feature_extract.py`: the same pixels, centre crop, normalisation and Lite0 "
                 f"embedding) **{peer['images_per_s']:.1f} images/s**, peak RSS {peer.get('rss_mb') or 0:,.0f} MB; "
                 f"ratio **{peer['birds_images_per_s'] / peer['images_per_s']:.2f}×** (rounds, birds / PyTorch: "
                 f"{per_round})"
                 + (f"; measured later, alone (`BIRDS_FULL_STAGES=peer`), at commit {peer['commit']}, "
                    f"{peer.get('measured')} UTC." if peer.get("commit", commit) != commit else "."))
    else:
        L.append(f"- head to head with PyTorch: not run ({peer.get('error', '?')}).")
    L.append("")
    ft = read_json(ART / "train-fine-tune" / "summary.json")
    if ft and ft.get("train_images_per_s"):
        r = ft["train_images_per_s"]
        n = ft["images"][0]
        epoch_h = n / r / 3600
        batch = ((read_json(ART / "train-fine-tune" / "checkpoint.json") or {}).get("params") or {}).get("batch_size", "?")
        budget = ((read_json(ART / "train-fine-tune" / "checkpoint.json") or {}).get("params") or {}).get("time_budget_s")
        L.append(f"Fine-tune estimate: the `train-fine-tune` stage (batch {batch}, time budget {budget} s, "
                 f"stopped: {ft['stopped']}) trained on {ft.get('train_images', 0):,} images at "
                 f"**{r:.1f} images/s** on {ft.get('threads')} threads; one epoch of {n:,} images would take "
                 f"**{epoch_h:.1f} h** on this machine, a 10-epoch fine-tune **{10 * epoch_h:.0f} h** (plus "
                 f"{sum(ft['images'][1:]):,} valid + test images per evaluation). Test accuracy after the budget: "
                 f"{100 * (ft.get('test_accuracy') or 0):.1f} % of {ft['images'][2]:,} images.")
        L.append("")
    if browser.get("plain"):
        b, f = browser["plain"], browser.get("filtered") or {}
        L.append(f"The report in headless Chromium (`--dump-dom`, browser start-up included): {b['wall_s']:.1f} s to the "
                 f"page's script end ({b['count']}); `#filter=warbler`: {f.get('wall_s', 0):.1f} s, {f.get('count')}, "
                 f"{f.get('hidden_rows', 0)} rows hidden. Screenshot: `{browser.get('screenshot')}`.")
        L.append("")
    elif browser:
        L.append(f"The report in Chromium: not opened ({browser.get('error')}).")
        L.append("")
    cache = read_json(ART / "preprocess" / "cache.json")
    if cache:
        side, n = cache["stored_side"], cache["images"]
        L.append(f"Cache: {n:,} images at {side} px = {fmt_bytes(by.get('preprocess', {}).get('disk_bytes', 0))} "
                 f"on disk; `store: train-size` would store {cache['params']['size']} px: "
                 f"{fmt_bytes(n * cache['params']['size'] ** 2 * 3)} of pixels.")
        L.append("")
    for r in rows:
        if r["tail"]:
            L.append(f"`{r['stage']}` failed; the end of its output:")
            L.append("")
            L.append("```")
            L.append(r["tail"].strip())
            L.append("```")
            L.append("")
    L.append(END)
    return "\n".join(L) + "\n"


def write_doc(text: str) -> None:
    if DOC == "-":
        print(text)
        return
    doc = Path(DOC)
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    tmp = doc.with_name(doc.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, doc)
    log(f"wrote the Full size section of {doc}")


def commit() -> str:
    c = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return c.stdout.strip() or "?"


def main() -> int:
    if not BIRDS.is_file():
        print(f"{BIRDS} missing: run `cargo build --release -p birds-cli` (or `just build`)", file=sys.stderr)
        return 1
    only = [x for x in os.environ.get("BIRDS_FULL_STAGES", "").split(",") if x]
    unknown = [x for x in only if x not in STAGES and x != "peer"]
    if unknown:
        print(f"BIRDS_FULL_STAGES: unknown stage(s) {unknown}; stages: {', '.join(STAGES)}", file=sys.stderr)
        return 1
    earlier = read_json(RESULTS) if only else None
    if only and not earlier:
        print(f"BIRDS_FULL_STAGES reruns stages of an earlier run, but {RESULTS} is missing: run it whole first",
              file=sys.stderr)
        return 1
    started = datetime.datetime.now(datetime.timezone.utc)
    t = time.monotonic()
    rows = list(earlier["rows"]) if earlier else []
    peer = earlier.get("peer", {}) if earlier else {}
    def stamp(d: dict) -> dict:
        d["commit"], d["measured"] = commit(), f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
        return d

    if "peer" in only and "train-feature-extract" not in only:
        peer = stamp(run_peer())
    for stage in STAGES:
        if only and stage not in only:
            continue
        row = run_stage(stage)
        row["commit"], row["measured"] = commit(), f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
        rows = [r for r in rows if r["stage"] != stage] + [row]
        rows.sort(key=lambda r: STAGES.index(r["stage"]))
        if not row["ok"] and stage in ("dataset", "ingest", "preprocess") and not only:
            log("an early stage failed: the rest cannot run")
            break
        if stage == "train-feature-extract":
            peer = stamp(run_peer())
    total = earlier["total_s"] if earlier else time.monotonic() - t
    run_started = datetime.datetime.fromisoformat(earlier["started"]) if earlier else started
    browser = open_report()
    results = {"started": run_started.isoformat(), "total_s": total, "commit": earlier["commit"] if earlier else commit(),
               "rows": rows, "peer": peer, "browser": browser}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    write_doc(section(rows, run_started, total, peer, browser, results["commit"]))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
