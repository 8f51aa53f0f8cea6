"""Reading torch checkpoints one tensor at a time, never running pickled code.

Three kinds of file, one interface (``keys``, ``shape``, ``dtype``, ``read``,
``release``):

- ``.pt`` / ``.pth`` / ``.bin``: ``torch.load(weights_only=True, mmap=True)``;
  a dict holding the state_dict under ``state_dict``/``model``/``module`` is
  unwrapped. A pickle that needs anything beyond tensors and containers is
  refused (:class:`UnsafeCheckpointError`).
- ``.safetensors``: the header is read, the data memory-mapped.
- ``*.safetensors.index.json``: transformers' sharded checkpoints, each shard
  opened when its first tensor is read.

``read`` returns a numpy view of the mapped file; ``release`` tells the kernel
the pages of that tensor (or of a byte range of it) are no longer needed. Touched pages of a mapping
count in the process's resident memory until released, so without it a
conversion would hold the whole checkpoint twice (source pages + result).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import re
import struct
from pathlib import Path

import numpy as np


class CheckpointError(Exception):
    """The checkpoint cannot be read (not a checkpoint, a kind we do not know)."""


class UnsafeCheckpointError(CheckpointError):
    """A pickled checkpoint that only loads by running code from the file."""


def _ml_dtypes():
    import ml_dtypes  # comes with jax

    return ml_dtypes


# safetensors dtype names (https://github.com/huggingface/safetensors, format spec)
_ST_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16,
    "U8": np.uint8, "BOOL": np.bool_,
}
_ST_ML = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def st_dtype(name: str) -> np.dtype:
    if name in _ST_DTYPES:
        return np.dtype(_ST_DTYPES[name])
    if name in _ST_ML:
        return np.dtype(getattr(_ml_dtypes(), _ST_ML[name]))
    raise CheckpointError(f"safetensors dtype {name} is not supported")


def st_name(dtype: np.dtype) -> str:
    dtype = np.dtype(dtype)
    for name in list(_ST_DTYPES) + list(_ST_ML):
        if st_dtype(name) == dtype:
            return name
    raise CheckpointError(f"dtype {dtype} cannot be stored in safetensors")


_PAGE = mmap.PAGESIZE
_MADV_DONTNEED = 4  # linux; mmap.MADV_DONTNEED where Python exposes it


def _madvise_dontneed(address: int, nbytes: int) -> None:
    """Drop the resident pages of [address, address + nbytes) of a private,
    never written file mapping; the next access reads them from the file again."""
    start = address - address % _PAGE
    length = address + nbytes - start
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(length), _MADV_DONTNEED)
    except (OSError, AttributeError):  # not linux: pages go when the file is closed
        pass


class SafetensorsFile:
    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise CheckpointError(f"{path}: not a safetensors file (too short)")
            (n,) = struct.unpack("<Q", head)
            if n > os.path.getsize(path) - 8:
                raise CheckpointError(f"{path}: not a safetensors file (bad header length)")
            try:
                header = json.loads(fh.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise CheckpointError(f"{path}: not a safetensors file ({e})") from None
        self.metadata = header.pop("__metadata__", None) or {}
        self.base = 8 + n
        self.entries = header
        self._mm = None

    def keys(self) -> list[str]:
        return list(self.entries)

    def shape(self, key: str) -> tuple:
        return tuple(self.entries[key]["shape"])

    def dtype(self, key: str) -> np.dtype:
        return st_dtype(self.entries[key]["dtype"])

    def read(self, key: str) -> np.ndarray:
        if self._mm is None:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        e = self.entries[key]
        start, end = e["data_offsets"]
        dtype = self.dtype(key)
        count = int(np.prod(e["shape"], dtype=np.int64))
        if end - start != count * dtype.itemsize:
            raise CheckpointError(f"{self.path}: {key} holds {end - start} bytes, not {count} x {dtype}")
        return np.frombuffer(self._mm, dtype=dtype, count=count, offset=self.base + start).reshape(e["shape"])

    def release(self, key: str, lo: int = 0, hi: int | None = None) -> None:
        """Give back the pages of bytes [lo, hi) of ``key``'s data (all of it by default)."""
        if isinstance(self._mm, mmap.mmap):
            start, end = self.entries[key]["data_offsets"]
            a = self.base + start + lo
            b = self.base + (end if hi is None else min(end, start + hi))
            a -= a % _PAGE
            try:
                self._mm.madvise(getattr(mmap, "MADV_DONTNEED", _MADV_DONTNEED), a, b - a)
            except (OSError, ValueError, AttributeError):
                pass

    def close(self) -> None:
        if isinstance(self._mm, mmap.mmap):
            try:
                self._mm.close()
            except BufferError:  # a caller still holds a view; the mapping goes with it
                pass
        self._mm = None


class ShardedSafetensors:
    """transformers' ``model.safetensors.index.json``: {"weight_map": {key: shard file}}."""

    def __init__(self, path: Path):
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            weight_map = index["weight_map"]
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: not a safetensors index ({e})") from None
        self.shards = {name: None for name in dict.fromkeys(weight_map.values())}
        self.where = dict(weight_map)
        self.dir = path.parent
        for name in self.shards:
            if not (self.dir / name).is_file():
                raise CheckpointError(f"{path}: shard {name} is missing")

    def _shard(self, key: str) -> SafetensorsFile:
        name = self.where[key]
        if self.shards[name] is None:
            self.shards[name] = SafetensorsFile(self.dir / name)
            missing = [k for k, n in self.where.items() if n == name and k not in self.shards[name].entries]
            if missing:
                raise CheckpointError(f"shard {name} lacks {', '.join(missing[:5])} that the index puts there")
        return self.shards[name]

    def keys(self) -> list[str]:
        return list(self.where)

    def shape(self, key):
        return self._shard(key).shape(key)

    def dtype(self, key):
        return self._shard(key).dtype(key)

    def read(self, key):
        return self._shard(key).read(key)

    def release(self, key, lo=0, hi=None):
        self._shard(key).release(key, lo, hi)

    def close(self):
        for s in self.shards.values():
            if s is not None:
                s.close()


WRAPPER_KEYS = ("state_dict", "model", "module")


class TorchFile:
    def __init__(self, path: Path):
        import pickle

        import torch

        def load(mmap_ok: bool):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap_ok)

        try:
            try:
                obj = load(True)
                self.mapped = True
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                obj = load(False)  # the legacy (pre-zip) format cannot be mapped
                self.mapped = False
        except pickle.UnpicklingError as e:
            msg = str(e)
            why = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n|$)", msg)
            why = why.group(1).strip() if why else msg.splitlines()[0]
            if "global" in why.lower():  # GLOBAL io.open, a class of the training code, ...
                what = re.search(r"GLOBAL (\S+)", why)
                raise UnsafeCheckpointError(
                    f"{path}: refusing to load: unpickling it would call {what.group(1) if what else 'code'} "
                    f"from outside torch's tensor types (checkpoints are read with weights_only=True only; "
                    f"{why.split(' was ')[0]})") from None
            raise UnsafeCheckpointError(
                f"{path}: refusing to load: not a pickle torch.load(weights_only=True) can read ({why}); "
                f"it is not unpickled any other way") from None
        except (RuntimeError, EOFError, OSError, ValueError) as e:
            raise CheckpointError(f"{path}: not a torch checkpoint ({type(e).__name__}: {e})") from None
        self.path = path
        self.wrapper = None
        state = obj
        # {"state_dict": {...}, "epoch": 3, "optimizer": {...}} and the like
        while isinstance(state, dict) and not _tensors(state):
            inner = next((k for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
            if inner is None:
                break
            self.wrapper = inner if self.wrapper is None else f"{self.wrapper}.{inner}"
            state = state[inner]
        if not isinstance(state, dict) or not _tensors(state):
            raise CheckpointError(f"{path}: holds no state_dict (a dict of tensors, or one under "
                                  f"{'/'.join(WRAPPER_KEYS)})")
        self.tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        self.others = [k for k in state if k not in self.tensors]  # reported as unexpected

    def keys(self):
        return list(self.tensors)

    def shape(self, key):
        return tuple(self.tensors[key].shape)

    def dtype(self, key):
        t = self.tensors[key]
        if str(t.dtype) == "torch.bfloat16":
            return np.dtype(_ml_dtypes().bfloat16)
        return np.dtype(str(t.dtype).removeprefix("torch."))

    def read(self, key):
        import torch

        t = self.tensors[key]
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16; same bits through int16
            return t.view(torch.int16).numpy().view(_ml_dtypes().bfloat16)
        return t.numpy()

    def release(self, key, lo=0, hi=None):
        if self.mapped:
            t = self.tensors[key]
            if lo == 0 and hi is None:
                storage = t.untyped_storage()
                _madvise_dontneed(storage.data_ptr(), storage.nbytes())
            else:
                hi = t.numel() * t.element_size() if hi is None else hi
                _madvise_dontneed(t.data_ptr() + lo, hi - lo)

    def close(self):
        self.tensors = {}


def _tensors(d: dict) -> bool:
    import torch

    return any(isinstance(v, torch.Tensor) for v in d.values())


def open_checkpoint(path) -> SafetensorsFile | ShardedSafetensors | TorchFile:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; give a .pt/.pth/.bin, .safetensors or "
                              f"*.safetensors.index.json file")
    name = path.name
    if name.endswith(".safetensors"):
        return SafetensorsFile(path)
    if name.endswith(".index.json"):
        return ShardedSafetensors(path)
    if name.endswith((".pt", ".pth", ".bin", ".ckpt")):
        return TorchFile(path)
    raise CheckpointError(f"{path}: unknown checkpoint kind (expected .pt, .pth, .bin, .safetensors "
                          f"or *.safetensors.index.json)")
