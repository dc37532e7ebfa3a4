"""PyTorch side of the full-size feature-extraction benchmark (scripts/bench/full.py): the embedding pass of birds'
feature-extract stage, written in plain PyTorch over the same preprocessed cache.

For each image of the first shards of the preprocess cache (`artifacts/full/preprocess/shard-*.safetensors`, uint8
[n, side, side, 3] HWC): the centre `size` crop, (x − 127) / 128 (birds' `centered127`), NCHW float32, then
EfficientNet-Lite0's eval-mode forward to the pooled 1280-d embedding (`extract_features` + average pooling) under
torch.no_grad(), in batches of `--batch-size`, with `--threads` intra-op threads. Weights: efficientnet-lite-pytorch's
architecture with random initialisation (the arithmetic and its cost do not depend on the values). Reading the
shards (memory-mapped by safetensors) and the crop are timed with the forward passes, as in birds' stage.

Prints one JSON line: images, seconds, images_per_s. Run with the peer venv (bash scripts/bench/peers.sh).
"""
import argparse
import json
import time
from pathlib import Path

import torch
from efficientnet_lite_pytorch import EfficientNet
from safetensors import safe_open


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, help="preprocess output folder (cache.json + shards)")
    ap.add_argument("--images", type=int, default=4096, help="embed this many images (the first shards')")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cache = Path(a.cache)
    manifest = json.loads((cache / "cache.json").read_text())
    size = int(manifest["params"]["size"])
    side = int(manifest["stored_side"])
    off = (side - size) // 2
    shards = sorted(cache.glob("shard-*.safetensors"))
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000).eval()

    def embed(x):
        with torch.no_grad():
            return torch.flatten(model._avg_pooling(model.extract_features(x)), 1)

    # One warm-up batch (allocator, oneDNN kernel selection), as birds' own runs pay it too but only once per run.
    embed(torch.zeros(a.batch_size, 3, size, size))
    done, dims = 0, None
    start = time.perf_counter()
    for shard in shards:
        if done >= a.images:
            break
        with safe_open(str(shard), framework="pt") as f:
            images = f.get_tensor("images")
        for i in range(0, images.shape[0], a.batch_size):
            if done >= a.images:
                break
            b = images[i: i + min(a.batch_size, a.images - done)]
            x = b[:, off: off + size, off: off + size, :].permute(0, 3, 1, 2).float().sub_(127.0).div_(128.0)
            dims = embed(x.contiguous()).shape[1]
            done += b.shape[0]
    seconds = time.perf_counter() - start
    print(json.dumps({
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": a.batch_size,
        "size": size,
        "images": done,
        "embedding": dims,
        "seconds": seconds,
        "images_per_s": done / seconds,
    }))


if __name__ == "__main__":
    main()
