#!/usr/bin/env python3
"""`just export-check`: a birds-trained model, exported with `birds export`, loaded by PyTorch both ways.

    .venv-bench/bin/python scripts/check_export.py                     # train, export, check
    .venv-bench/bin/python scripts/check_export.py --checkpoint RUN    # export and check an existing run

Needs the full PyTorch of `.venv-bench` (scripts/bench/peers.sh) and a built birds (target/release/birds).
Without --checkpoint it trains EfficientNet-Lite0 on the birds sample at 224 px first (ingest → preprocess with
margin 16 → feature-extract, 10 epochs of the head on cached features: ~1 min on an idle 2-core machine, 96.7 % test
top-1; `--mode fine-tune` trains one epoch of the whole network with BatchNorm statistics updated instead, so every
weight and buffer differs from the ImageNet file, ~9 min). Then:

1. `birds export --checkpoint RUN --out EXPORT --reference SAMPLE/test`: model.safetensors, model.torchscript.pt,
   model.json, and birds' own inputs and logits for every test image (reference.safetensors, framed and normalised
   by birds exactly as `birds predict` frames files).
2. (a) `EfficientNet.from_name('efficientnet-lite0', num_classes=N, image_size=S)` of efficientnet-lite-pytorch,
   `load_state_dict(safetensors.torch.load_file(model.safetensors), strict=True)`, eval mode;
   (b) `torch.jit.load(model.torchscript.pt)`; both run on birds' reference inputs.
3. Asserts max |logit − birds' logit| ≤ 1e-4 over all test images for both, and prints the figures.
4. For information (not asserted): the test images preprocessed in Python with Pillow by model.json's recipe; how
   far those inputs are from birds' (Pillow's resize is not bit-identical to birds'), and whether the top-1 class
   under the TorchScript module agrees with birds'.

Exit status 0 when both formats are within tolerance, 1 otherwise. `--json OUT` writes the figures.
"""

from __future__ import annotations

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
from PIL import Image
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


def log(msg: str) -> None:
    print(f"export-check: {msg}", file=sys.stderr, flush=True)


def birds(exe: Path, *args, threads: int) -> str:
    cmd = [str(exe), "--threads", str(threads), *map(str, args)]
    log("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"export-check: `{' '.join(cmd)}` exited with {p.returncode}:\n{p.stderr.strip()[-3000:]}")
    log(f"  {time.perf_counter() - t0:.1f} s")
    return p.stdout


def train(exe: Path, sample: Path, work: Path, mode: str, threads: int) -> Path:
    birds(exe, "ingest", "--data", sample, "--out", work / "ingest", "--quiet", threads=threads)
    birds(exe, "preprocess", "--index", work / "ingest", "--out", work / "preprocess", "--size", 224, "--margin", 16,
          "--quiet", threads=threads)
    run = work / f"train-{mode}"
    sets = {"feature-extract": ["epochs=10", f"feature_cache={work / 'features'}"],
            "fine-tune": ["epochs=1", "head_warmup_epochs=0", "freeze_bn=false"]}[mode]
    args = ["train", "--cache", work / "preprocess", "--out", run, "--mode", mode, "--set", "device=cpu"]
    for s in sets:
        args += ["--set", s]
    birds(exe, *args, threads=threads)
    return run


def pillow_inputs(card: dict, images: list[str]) -> torch.Tensor:
    """model.json's recipe in Pillow: frame, normalise, NCHW float32."""
    spec = card["input"]
    f = spec["framing"]
    size, side = spec["size"], f["resized_side"]
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos3": Image.LANCZOS}[f["filter"]]
    mean = np.array(spec["normalization"]["mean"], dtype=np.float32)
    std = np.array(spec["normalization"]["std"], dtype=np.float32)
    out = []
    for path in images:
        img = Image.open(path).convert("RGB")
        w, h = img.size
        if f["resize"] == "stretch":
            box = None
        else:
            m = min(w, h)
            box = ((w - m) / 2, (h - m) / 2, (w + m) / 2, (h + m) / 2)
        img = img.resize((side, side), resample, box=box)
        o = (side - size) // 2
        img = img.crop((o, o, o + size, o + size))
        x = (np.asarray(img, dtype=np.float32) - mean) / std  # HWC
        out.append(torch.from_numpy(x.transpose(2, 0, 1).copy()))
    return torch.stack(out)


def forward(model, x: torch.Tensor, batch: int = 25) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--birds", type=Path, default=ROOT / "target" / "release" / "birds")
    ap.add_argument("--sample", type=Path,
                    default=Path(os.environ.get("BIRDS_SAMPLE", ROOT.parent / "shared" / "data" / "birds-sample")))
    ap.add_argument("--checkpoint", type=Path, help="an existing `birds train` output folder (skips training)")
    ap.add_argument("--mode", choices=["feature-extract", "fine-tune"], default="feature-extract")
    ap.add_argument("--work", type=Path, help="keep the intermediate folders here (default: a temp folder)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.birds.is_file():
        sys.exit(f"export-check: {args.birds} missing: `cargo build --release -p birds-cli` (or `just build`)")
    test_dir = args.sample.resolve() / "test"
    if not test_dir.is_dir():
        sys.exit(f"export-check: no test split at {test_dir}: set BIRDS_SAMPLE or --sample")

    with tempfile.TemporaryDirectory(prefix="birds-export-check-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        run = args.checkpoint or train(args.birds, args.sample.resolve(), work, args.mode, args.threads)
        train_s = time.perf_counter() - t0
        export = work / "export"
        birds(args.birds, "export", "--checkpoint", run, "--out", export, "--reference", test_dir,
              threads=args.threads)

        card = json.loads((export / "model.json").read_text())
        ref = load_file(str(export / "reference.safetensors"))
        images = json.loads((export / "reference.json").read_text())["images"]
        x, want = ref["inputs"], ref["logits"]
        n_img, n_cls = want.shape
        size = card["input"]["size"]
        assert x.shape == (n_img, 3, size, size), x.shape
        assert n_cls == len(card["classes"]) and n_img == len(images)
        result = {"images": n_img, "classes": n_cls, "architecture": card["architecture"]["name"],
                  "mode": card["source"]["mode"], "torch": torch.__version__, "train_s": round(train_s, 1),
                  "checkpoint_test_accuracy": card["source"].get("test_accuracy")}
        failed = []

        # (a) the state dict in the PyTorch class.
        if card["architecture"]["name"] == "efficientnet-lite0":
            from efficientnet_lite_pytorch import EfficientNet

            model = EfficientNet.from_name("efficientnet-lite0", num_classes=n_cls, image_size=size)
            missing = model.load_state_dict(load_file(str(export / "model.safetensors")), strict=True)
            model.eval()
            got = forward(model, x)
            d = (got - want).abs().max().item()
            result["safetensors_max_abs_diff"] = d
            result["safetensors_top1_agree"] = int((got.argmax(1) == want.argmax(1)).sum())
            log(f"(a) safetensors in efficientnet-lite-pytorch (strict load: {missing}): max |logit diff| {d:.2e} "
                f"over {n_img} images × {n_cls} classes; top-1 agrees on {result['safetensors_top1_agree']}/{n_img}")
            if not d <= TOLERANCE:
                failed.append(f"safetensors: max |logit diff| {d:.3e} > {TOLERANCE:g}")
        else:
            log(f"(a) skipped: {card['architecture']['name']} has no PyTorch class (its keys are birds' own)")

        # (b) the TorchScript module.
        ts = torch.jit.load(str(export / "model.torchscript.pt"))
        ts.eval()
        got = forward(ts, x)
        d = (got - want).abs().max().item()
        result["torchscript_max_abs_diff"] = d
        result["torchscript_top1_agree"] = int((got.argmax(1) == want.argmax(1)).sum())
        log(f"(b) torch.jit.load: max |logit diff| {d:.2e} over {n_img} images × {n_cls} classes; top-1 agrees on "
            f"{result['torchscript_top1_agree']}/{n_img}")
        if not d <= TOLERANCE:
            failed.append(f"torchscript: max |logit diff| {d:.3e} > {TOLERANCE:g}")

        # For information: a user's own Pillow preprocessing by model.json's recipe.
        px = pillow_inputs(card, images)
        dx = (px - x).abs()
        pl = forward(ts, px)
        result["pillow_input_max_abs_diff"] = dx.max().item()
        result["pillow_input_mean_abs_diff"] = dx.mean().item()
        result["pillow_logit_max_abs_diff"] = (pl - want).abs().max().item()
        result["pillow_top1_agree"] = int((pl.argmax(1) == want.argmax(1)).sum())
        log(f"(info) Pillow preprocessing by model.json: inputs differ from birds' by max {dx.max().item():.4f} "
            f"(mean {dx.mean().item():.5f}; 1/128 = {1 / 128:.4f} is one 8-bit step), logits by max "
            f"{result['pillow_logit_max_abs_diff']:.3f}; top-1 agrees on {result['pillow_top1_agree']}/{n_img}")

        result["passed"] = not failed
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
        if failed:
            for f in failed:
                log("FAILED " + f)
            return 1
        log(f"passed: both formats within {TOLERANCE:g} of birds' logits on all {n_img} test images")
        return 0


if __name__ == "__main__":
    sys.exit(main())
