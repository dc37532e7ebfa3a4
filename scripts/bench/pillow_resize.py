#!/usr/bin/env python3
"""Pillow peer of birds' decode+resize benchmark (crates/birds-preprocess/examples/bench_resize.rs).

Same work per file as birds' preprocess: open, decode, convert to RGB, resize the centred square (shorter side)
to SIZE x SIZE with BILINEAR (antialiased convolution; `box=` crops in the same pass, like fast_image_resize's
crop option), and hand the bytes back to the parent (which a cache writer must have). Runs on a
multiprocessing.Pool with one worker per core. Prints one JSON line.

    python scripts/bench/pillow_resize.py --size 224 --workers 2 FILELIST.txt
"""
import argparse
import json
import os
import sys
import time
from multiprocessing import Pool

from PIL import Image

SIZE = 224


def init(size):
    global SIZE
    SIZE = size


def work(path):
    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        s = min(w, h)
        left, top = (w - s) / 2, (h - s) / 2
        out = img.resize((SIZE, SIZE), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s))
        return out.tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("filelist", help="text file with one image path per line")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3, help="timed passes; the best is reported")
    ap.add_argument("--chunksize", type=int, default=16)
    args = ap.parse_args()
    with open(args.filelist) as f:
        files = [line.rstrip("\n") for line in f if line.strip()]
    best = None
    with Pool(args.workers, initializer=init, initargs=(args.size,)) as pool:
        # Warm-up pass: workers started, files in the page cache.
        for _ in pool.imap(work, files[: 4 * args.workers], chunksize=1):
            pass
        for _ in range(args.repeat):
            start = time.perf_counter()
            total = 0
            for data in pool.imap(work, files, chunksize=args.chunksize):
                total += len(data)
            seconds = time.perf_counter() - start
            if best is None or seconds < best:
                best = seconds
            expected = len(files) * args.size * args.size * 3
            if total != expected:
                sys.exit(f"got {total} bytes, expected {expected}")
    import PIL
    print(json.dumps({
        "tool": f"Pillow {PIL.__version__}",
        "images": len(files),
        "workers": args.workers,
        "seconds": best,
        "images_per_s": len(files) / best,
    }))


if __name__ == "__main__":
    main()
