"""Writing an NNX checkpoint so that it appears whole or not at all.

Everything is written beside ``out`` under a hidden temporary name and moved
into place at the end; an interrupted or failed conversion leaves no file or
directory at ``out`` (nor one under a name ``load_checkpoint`` is given).
An existing ``out`` is only replaced with ``force``.

Formats: an Orbax checkpoint (a directory) of the model's state as a nested
dict keyed by NNX path parts, or one safetensors file keyed by dotted NNX
paths (``layer1.0.conv1.kernel``), written tensor by tensor: the header comes
from the plan (every shape and dtype is known up front), then each tensor's
bytes as it is converted, so the file costs one tensor of memory.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from .read import st_name

FORMAT_TAG = "torch2nnx"  # __metadata__ "format" of safetensors files we write


class OutputExistsError(FileExistsError):
    pass


def check_output(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; give --force to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent} is not a directory")


def _place(tmp: Path, out: Path, force: bool) -> None:
    """Move ``tmp`` to ``out``; an existing ``out`` (with force) is moved away first
    and deleted after, so at no moment is a half-written checkpoint at ``out``."""
    if out.exists() or out.is_symlink():
        if not force:
            raise OutputExistsError(f"{out} exists; give --force to replace it")
        if out.is_dir() and not out.is_symlink():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
            return
        if tmp.is_dir():
            os.unlink(out)
    os.replace(tmp, out)


def write_safetensors(out: Path, items, values, *, force: bool = False, metadata: dict | None = None) -> None:
    """``items``: the plan's (path, shape, dtype) in order; ``values``: an
    iterator of (path, array) in the same order."""
    header, offset = {}, 0
    for it in items:
        n = int(np.prod(it.shape, dtype=np.int64)) * np.dtype(it.dtype).itemsize
        header[it.path] = {"dtype": st_name(it.dtype), "shape": list(it.shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": FORMAT_TAG, **(metadata or {})}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(struct.pack("<Q", len(blob)))
            fh.write(blob)
            for it, (path, arr) in zip(items, values, strict=True):
                assert path == it.path and arr.shape == tuple(it.shape) and arr.dtype == it.dtype, path
                fh.write(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)  # bfloat16 has no buffer format
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        _place(Path(tmp), out, force)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def nested(flat: dict) -> dict:
    """{"a.0.kernel": x} -> {"a": {"0": {"kernel": x}}}"""
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return tree


def write_orbax(out: Path, values, *, force: bool = False) -> None:
    import orbax.checkpoint as ocp

    import jax

    # Orbax saves the whole tree at once, so the converted arrays are all held,
    # as jax arrays aliasing the aligned numpy ones (convert.aligned_empty): no
    # second copy. Compression is off because compressing makes Orbax hold a
    # compressed copy of every array until the write ends (about 0.9x the
    # checkpoint, benchmarks/convert_memory.py), for little gain on float
    # weights; without it TensorStore writes straight from the arrays.
    # The layout is StandardCheckpointer's: it restores the result as usual.
    flat = {k: jax.device_put(v) for k, v in values}
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        ckpt = work / "checkpoint"
        checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_compression=False))
        try:
            checkpointer.save(ckpt.absolute(), args=ocp.args.PyTreeSave(nested(flat)))
        finally:
            checkpointer.close()
        del flat
        _place(ckpt, out, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
