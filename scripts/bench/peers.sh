#!/usr/bin/env bash
# The peers of `just bench` in a venv of their own, .venv-bench/ (gitignored): full PyTorch 2.11.0 from PyPI (the
# CUDA wheel; it runs on CPU), torchvision 0.26.0 (the release that matches it), efficientnet-lite-pytorch (the
# reference Lite0), pytorch-grad-cam, Pillow, safetensors, numpy, DVC and cleanlab (with pandas and pyarrow).
#
#   bash scripts/bench/peers.sh          # ~2.7 GB download, ~5 GB installed, a few minutes the first time
#
# grad-cam is installed without its dependencies so that it takes opencv-python-headless (no libGL needed)
# instead of opencv-python; its other dependencies are listed here. Idempotent: when the stamp matches, it
# returns in well under a second. Delete .venv-bench/ to start over.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.venv-bench"
# What goes in. Changing either list changes the stamp, so the next run installs again.
reqs=(torch==2.11.0 torchvision==0.26.0 efficientnet-lite-pytorch==0.1.0 safetensors numpy pillow
  opencv-python-headless ttach==0.0.3 tqdm matplotlib scikit-learn dvc cleanlab pandas pyarrow)
nodeps=(grad-cam==1.5.7)
stamp_text="${reqs[*]} | --no-deps ${nodeps[*]}"
stamp="$venv/.birds-bench-peers"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" && -x "$venv/bin/python" && -x "$venv/bin/dvc" ]]; then
  echo "peers: up to date (.venv-bench)"
  exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "peers: python3 not found; install Python 3.10+ (the peers are Python packages)" >&2
  exit 1
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet)

echo "peers: installing ${reqs[*]} and ${nodeps[*]} into .venv-bench (first time: a few minutes)"
"${pip[@]}" "${reqs[@]}"
"${pip[@]}" --no-deps "${nodeps[@]}"

# Everything the benchmark scripts import must import (a broken wheel is better found here than mid-run).
"$venv/bin/python" - <<'EOF'
import cv2, numpy, PIL, safetensors, torch, torchvision, cleanlab, pandas, pyarrow  # noqa: F401
from efficientnet_lite_pytorch import EfficientNet  # noqa: F401
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # noqa: F401
assert torch.__version__.split("+")[0] == "2.11.0", torch.__version__
print(f"peers: torch {torch.__version__}, torchvision {torchvision.__version__}, Pillow {PIL.__version__}, "
      f"OpenCV {cv2.__version__}")
EOF
"$venv/bin/dvc" --version >/dev/null || { echo "peers: dvc does not start in .venv-bench" >&2; exit 1; }

echo "$stamp_text" > "$stamp"
echo "peers: done (.venv-bench, dvc $("$venv/bin/dvc" --version))"
