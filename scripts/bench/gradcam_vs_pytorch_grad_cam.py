#!/usr/bin/env python3
"""Grad-CAM in birds vs pytorch-grad-cam (jacobgil/pytorch-grad-cam): ms/image and agreement of the heatmaps,
on the same model (ImageNet EfficientNet-Lite0, the converted weights birds uses) and the same input tensors.

Needs a Python with torch 2.11.0, efficientnet-lite-pytorch, safetensors, Pillow and `grad-cam` (pip), e.g. a
venv that sees /work/fullvenv's packages plus `pip install --no-deps grad-cam ttach torchvision==0.26.0
opencv-python-headless tqdm pillow matplotlib scikit-learn`. Usage:

  cargo build --release -p birds-explain --example bench_gradcam
  python scripts/bench/gradcam_vs_pytorch_grad_cam.py --birds target/release/examples/bench_gradcam \
      --images ../shared/data/birds-sample/test --n 64 --threads 2 --out bench-gradcam.json

Inputs: the first N images (sorted paths) under --images, shorter side resized to 224 and centre-cropped
(Pillow, bilinear), normalised (x - 127) / 128; one batch tensor given to both sides. Targets: the predicted
class of each image. Both outputs are the min-max-normalised 224x224 map (pytorch-grad-cam resizes with OpenCV,
birds with libtorch's bilinear). Timing: median over --repeats full passes after one warm-up, same thread count.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from safetensors.torch import load_file, save_file

SIZE = 224


class Lite0(torch.nn.Module):
    """The reference model with its head activation as a separate module, so that a hook on it sees only the last
    feature map (the package's `_swish` module is shared by the stem and the head)."""

    def __init__(self, model):
        super().__init__()
        self.m = model
        self.head_act = torch.nn.ReLU6()

    def forward(self, x):
        m = self.m
        x = m._swish(m._bn0(m._conv_stem(x)))
        for block in m._blocks:
            x = block(x, drop_connect_rate=0.0)
        x = self.head_act(m._bn1(m._conv_head(x)))
        return m._fc(m._dropout(m._avg_pooling(x).flatten(1)))


def load_images(folder, n):
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    batch = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        w, h = img.size
        s = SIZE / min(w, h)
        img = img.resize((max(SIZE, round(w * s)), max(SIZE, round(h * s))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - SIZE) // 2, (h - SIZE) // 2
        img = img.crop((left, top, left + SIZE, top + SIZE))
        a = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
        batch.append(torch.from_numpy(a).permute(2, 0, 1))
    return torch.stack(batch).contiguous(), [str(p) for p in paths]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--birds", required=True, help="the bench_gradcam example binary")
    ap.add_argument("--images", required=True)
    ap.add_argument("--weights", default=".venv/weights/efficientnet-lite0.safetensors")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--method", default="grad-cam", choices=["grad-cam", "grad-cam++"])
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    x, paths = load_images(args.images, args.n)
    weights = load_file(args.weights)
    weights = {k: (v.reshape(()) if k.endswith("num_batches_tracked") else v) for k, v in weights.items()}
    base = EfficientNet.from_name("efficientnet-lite0", image_size=SIZE)
    base.load_state_dict(weights, strict=True)
    model = Lite0(base).eval()

    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        save_file({"input": x}, inp)
        env = dict(os.environ, BIRDS_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        res = subprocess.run([args.birds, inp, outp, str(args.batch), str(args.repeats), args.method],
                             capture_output=True, text=True, env=env)
        if res.returncode != 0:
            sys.exit(res.stderr)
        ours = json.loads(res.stdout.strip().splitlines()[-1])
        out = load_file(outp)
        birds_cams, birds_targets = out["cams"].numpy(), out["targets"].tolist()

    cls = GradCAM if args.method == "grad-cam" else GradCAMPlusPlus
    cam = cls(model=model, target_layers=[model.head_act])

    def run():
        maps, targets = [], []
        for s in range(0, len(x), args.batch):
            xb = x[s:s + args.batch]
            with torch.no_grad():
                pred = model(xb).argmax(-1).tolist()
            maps.append(cam(input_tensor=xb, targets=[ClassifierOutputTarget(c) for c in pred]))
            targets += pred
        return np.concatenate(maps), targets

    def timed(fn):
        out = fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000 / len(x))
        return out, sorted(times)

    (theirs, their_targets), times = timed(run)

    # The same computation as birds, written directly in PyTorch: the feature map without a graph, then only the
    # head (pool, fc) differentiated with respect to it (torch.autograd.grad, one backward per batch).
    def head_only():
        maps = []
        for s in range(0, len(x), args.batch):
            xb = x[s:s + args.batch]
            with torch.no_grad():
                m = model.m
                f = m._swish(m._bn0(m._conv_stem(xb)))
                for block in m._blocks:
                    f = block(f, drop_connect_rate=0.0)
                f = model.head_act(m._bn1(m._conv_head(f)))
            f = f.detach().requires_grad_(True)
            logits = m._fc(m._avg_pooling(f).flatten(1))
            pred = logits.argmax(-1)
            (g,) = torch.autograd.grad(logits.gather(1, pred.view(-1, 1)).sum(), f)
            if args.method == "grad-cam":
                w = g.mean(dim=(2, 3))
            else:
                g2 = g * g
                alpha = g2 / (2 * g2 + f.sum(dim=(2, 3), keepdim=True) * g2 * g + 1e-6)
                w = (g.clamp(min=0) * torch.where(g != 0, alpha, torch.zeros_like(alpha))).sum(dim=(2, 3))
            c = (w[:, :, None, None] * f).sum(1).clamp(min=0).detach()
            c = torch.nn.functional.interpolate(c[:, None], size=(SIZE, SIZE), mode="bilinear",
                                                align_corners=False)[:, 0]
            c = c - c.amin(dim=(1, 2), keepdim=True)
            maps.append((c / (c.amax(dim=(1, 2), keepdim=True) + 1e-7)).numpy())
        return np.concatenate(maps)

    direct, direct_times = timed(head_only)
    # pytorch-grad-cam needs the predictions first (a forward without gradients) to name per-image targets;
    # `targets=None` would do it inside, at the same cost. Its time includes that forward; birds' gradients()
    # resolves predicted targets from the same forward pass it differentiates.

    corr = [float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) for a, b in zip(birds_cams, theirs)]
    diff = [float(np.abs(a - b).max()) for a, b in zip(birds_cams, theirs)]
    result = {
        "images": len(x),
        "batch": args.batch,
        "threads": args.threads,
        "method": args.method,
        "torch": torch.__version__,
        "birds_ms_per_image": ours["ms_per_image"],
        "birds_runs": ours["runs_ms_per_image"],
        "pytorch_grad_cam_ms_per_image": times[len(times) // 2],
        "pytorch_grad_cam_runs": times,
        "torch_head_only_ms_per_image": direct_times[len(direct_times) // 2],
        "torch_head_only_runs": direct_times,
        "same_targets": birds_targets == their_targets,
        "correlation_vs_torch_head_only_min": float(min(
            np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(birds_cams, direct))),
        "correlation_mean": float(np.mean(corr)),
        "correlation_min": float(np.min(corr)),
        "max_abs_diff_mean": float(np.mean(diff)),
        "max_abs_diff_max": float(np.max(diff)),
    }
    print(json.dumps(result, indent=2))
    print(f"\n| | ms/image ({args.method}, batch {args.batch}, {args.threads} threads, {len(x)} images) |\n|---|---|")
    print(f"| birds (tch) | {result['birds_ms_per_image']:.1f} |")
    print(f"| pytorch-grad-cam {getattr(sys.modules['pytorch_grad_cam'], '__version__', '1.5.7')} | "
          f"{result['pytorch_grad_cam_ms_per_image']:.1f} |")
    print(f"| PyTorch, head-only autograd (birds' method) | {result['torch_head_only_ms_per_image']:.1f} |")
    print(f"\nheatmap correlation: mean {result['correlation_mean']:.6f}, min {result['correlation_min']:.6f}; "
          f"max |diff| mean {result['max_abs_diff_mean']:.4f}, worst {result['max_abs_diff_max']:.4f}; "
          f"same targets: {result['same_targets']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
