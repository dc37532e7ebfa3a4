"""PyTorch side of the train-step benchmark (see train_step.sh): EfficientNet-Lite0 fine-tune steps on a synthetic
batch, the same step `birds train smoke` times: training mode (BatchNorm batch statistics, drop-connect, dropout),
label-smoothed cross-entropy (0.1), backward through every layer, AdamW (lr 1e-3, weight decay 0.01).
With --forward it times what `birds train smoke --forward` times instead: eval-mode forward passes (running BatchNorm
statistics, no drop-connect or dropout) under torch.no_grad(), plus the same loss.

Prints one JSON line. Run with the peer venv (`bash scripts/bench/peers.sh`): .venv-bench/bin/python train_step.py --threads 2
"""
import argparse
import json
import time

import torch
from efficientnet_lite_pytorch import EfficientNet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--classes", type=int, default=30)
    ap.add_argument("--forward", action="store_true", help="time eval-mode forward passes without gradients")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=a.classes)
    model.train(not a.forward)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    labels = torch.arange(a.batch_size) % a.classes
    images = torch.randn(a.batch_size, 3, a.size, a.size) * 0.5 + (labels.float() / a.classes).view(-1, 1, 1, 1)
    first = last = None
    start = time.perf_counter()
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            start = time.perf_counter()
        if a.forward:
            with torch.no_grad():
                loss = loss_fn(model(images), labels)
        else:
            opt.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            opt.step()
        value = loss.item()
        first = value if first is None else first
        last = value
    seconds = time.perf_counter() - start
    print(json.dumps({
        "impl": "pytorch",
        "mode": "forward" if a.forward else "train-step",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": a.batch_size,
        "size": a.size,
        "steps": a.steps,
        "images_per_s": a.steps * a.batch_size / seconds,
        "step_ms": 1000 * seconds / a.steps,
        "loss_first": first,
        "loss_last": last,
    }))


if __name__ == "__main__":
    main()
