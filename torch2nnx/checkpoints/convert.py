"""Mapping a torch checkpoint onto a translated model, tensor by tensor.

The model is only ever abstract (``nnx.eval_shape``): its variables give the
NNX paths, shapes and dtypes; the generated weights module's walk
(``_walk``, the code behind ``torch_key_map``) says which torch key goes to
which variable through which transform. Everything is checked from the
checkpoint's header before a byte of data is read, so a checkpoint that does
not fit is refused before anything is written. Values the checkpoint does not
hold (non-persistent buffers, and missing keys with ``strict=False``) are the
constructor's, computed under ``jax.jit`` for those variables only, so the
parameters are never initialised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# prefixes that wrappers put in front of every key: DataParallel /
# DistributedDataParallel, Lightning and friends, torch.compile
WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")


class MismatchError(ValueError):
    """The checkpoint does not fit the model (missing, unexpected or mismatched keys)."""


@dataclass
class Item:
    path: str  # NNX path, "layer1.0.conv1.kernel"
    shape: tuple
    dtype: np.dtype
    source_key: str | None = None  # None: the constructor's value
    transform: object = None


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)  # every variable written, in the model's order
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    stripped: str = ""  # the wrapper prefix taken off every key

    def problems(self) -> str:
        """The report of ``load_torch_state_dict``, worded the same way."""
        parts = []
        if self.foreign:
            parts.append("torch layers left untranslated (see the TODO markers): " + ", ".join(self.foreign))
        if self.missing:
            parts.append("missing keys: " + ", ".join(self.missing))
        if self.unexpected:
            parts.append("unexpected keys: " + ", ".join(self.unexpected))
        if self.mismatched:
            parts.append("shape mismatches: " + "; ".join(self.mismatched))
        return " | ".join(parts)


def path_key(path) -> str:
    return ".".join(str(p) for p in path)


def variables(model) -> list[tuple[str, object]]:
    """(NNX path, Variable) of every variable of ``model``, each once (tied ones too)."""
    from flax import nnx

    return [(path_key(p), n) for p, n in nnx.iter_graph(model) if isinstance(n, nnx.Variable)]


def is_rng(var) -> bool:
    from flax import nnx

    return isinstance(var, nnx.RngState)


def transformed_shape(transform, shape: tuple, dtype) -> tuple:
    """The shape ``transform`` gives an array of ``shape`` (transposes and
    reshapes), found on a zero-strided stand-in: no data is read or allocated."""
    if transform is None:
        return tuple(shape)
    dummy = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))
    return tuple(transform(dummy).shape)


def strip_prefixes(keys: list[str], expected: list[str], strip_prefix: str | None) -> tuple[dict, str]:
    """{model-side key: checkpoint key}, and the prefix taken off. A wrapper
    prefix is recognised when every key carries it, the model's own keys do not
    (a model whose attribute is called ``model`` keeps its keys) and no key is
    already the model's (a tied head's key left out of a save_pretrained file)."""
    if strip_prefix:
        return {k.removeprefix(strip_prefix): k for k in keys}, strip_prefix
    names = {k: k for k in keys}
    stripped = ""
    own = set(expected)
    while names:
        p = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in names)
                  and not (expected and all(e.startswith(p) for e in expected))
                  and not own.intersection(names)), None)
        if p is None:
            break
        names = {k[len(p):]: v for k, v in names.items()}
        stripped += p
    return names, stripped


def plan(model, walk, ignored, source, *, strict: bool = True, strip_prefix: str | None = None,
         dtype=None, extra_keys=()) -> Plan:
    """Match ``source``'s keys (a reader of :mod:`.read`) to the abstract
    ``model``'s variables through the weights module's ``walk``."""
    entries, foreign = walk(model)
    out = Plan(foreign=list(foreign))
    names, out.stripped = strip_prefixes(source.keys(), [e[0] for e in entries], strip_prefix)
    paths = {id(v): p for p, v in variables(model)}
    chosen: dict[int, Item] = {}
    used = set()
    filled = {id(e[1]) for e in entries if e[0] in names}  # a tied parameter saved under one key
    for key, var, transform, required in entries:
        if key not in names:
            if required and id(var) not in filled:
                out.missing.append(key)
            continue
        src = names[key]
        used.add(key)
        if id(var) in chosen:  # tied: the first key fills it (torch saves both, equal)
            continue
        want = tuple(var.get_value().shape)
        try:
            got = transformed_shape(transform, source.shape(src), source.dtype(src))
        except ValueError:  # a reshape that cannot apply
            got = None
        if got != want:
            out.mismatched.append(f"{key}: torch {source.shape(src)} -> nnx {want}")
            continue
        chosen[id(var)] = Item(paths[id(var)], want, _target_dtype(var, dtype), src, transform)
    out.unexpected = [k for k in names if k not in used and k.rsplit(".", 1)[-1] not in ignored]
    out.unexpected += [k for k in extra_keys]
    for path, var in variables(model):
        if is_rng(var):
            continue  # RNG streams are the model's own, not weights
        item = chosen.get(id(var)) or Item(path, tuple(var.get_value().shape), _target_dtype(var, dtype))
        out.items.append(item)
    if strict and (out.missing or out.unexpected or out.mismatched):
        raise MismatchError("cannot load state_dict: " + out.problems())
    return out


def _target_dtype(var, dtype) -> np.dtype:
    own = np.dtype(var.get_value().dtype)
    if dtype is not None and np.issubdtype(own, np.floating):
        return np.dtype(dtype)
    return own


def constructed(build, paths: set[str]) -> dict:
    """The constructor's values of the variables at ``paths``: ``build`` runs
    under ``jax.jit`` returning only those, so XLA computes nothing else
    (a 300 MB model costs the few buffers asked for, not its parameters)."""
    if not paths:
        return {}
    import jax

    def values():
        return {p: v.get_value() for p, v in variables(build()) if p in paths}

    return {k: np.asarray(v) for k, v in jax.jit(values)().items()}


# jax's CPU backend takes a numpy array without copying it only when its
# data is aligned to this (numpy's own large arrays are 16-byte aligned)
JAX_ALIGNMENT = 64


def aligned_empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts JAX_ALIGNMENT-aligned,
    so ``jax.device_put`` aliases it instead of holding a second copy."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(n + JAX_ALIGNMENT, np.uint8)
    start = -buf.ctypes.data % JAX_ALIGNMENT
    return buf[start:start + n].view(dtype).reshape(shape)


SLAB = 16 * 2**20  # bytes of source copied between two releases


def copy_releasing(out: np.ndarray, value: np.ndarray, raw: np.ndarray, release) -> None:
    """``out[...] = value`` (cast as np.array(value, dtype=...) casts). When
    ``value`` is a view of the C-contiguous ``raw`` (no transform, a reshape, a
    transpose), it is copied a slab of ``raw``'s rows at a time and each slab's
    source pages are given back (``release(lo, hi)``, bytes of ``raw``) once
    done: the largest tensor then costs its converted copy, not that plus all
    its mapped pages."""
    if (value.ndim and value.size and value.flags.c_contiguous and raw.flags.c_contiguous
            and value.ctypes.data == raw.ctypes.data):
        out, value, raw = out.reshape(-1), value.reshape(-1), raw.reshape(-1)  # the same order: rows of one
    row = raw.strides[0] if raw.ndim else 0
    axis = next((a for a in range(value.ndim) if value.strides[a] == row and value.shape[a] == raw.shape[0]),
                None) if row else None
    if (axis is None or not raw.flags.c_contiguous or value.ctypes.data != raw.ctypes.data
            or value.nbytes != raw.nbytes or row >= SLAB):
        np.copyto(out, value, casting="unsafe")  # not a view of raw we can walk in order
        return
    step = max(1, SLAB // row)
    for i in range(0, raw.shape[0], step):
        part = (slice(None),) * axis + (slice(i, i + step),)
        np.copyto(out[part], value[part], casting="unsafe")
        release(i * row, min(raw.shape[0], i + step) * row)


def converted(item: Item, source) -> np.ndarray:
    """One tensor read, transformed and cast: a new C-contiguous, aligned array
    (the mapped source pages are released right after)."""
    raw = source.read(item.source_key)
    value = item.transform(raw) if item.transform is not None else raw
    out = aligned_empty(np.shape(value), item.dtype)
    copy_releasing(out, value, raw, lambda lo, hi: source.release(item.source_key, lo, hi))
    del raw, value
    source.release(item.source_key)
    if out.shape != item.shape:  # checked in plan(); a transform that changed its mind
        raise MismatchError(f"{item.source_key}: converted to {out.shape}, expected {item.shape}")
    return out


def stream(plan_: Plan, source, build=None, progress=None):
    """(NNX path, array) for every variable of the plan, one tensor at a time."""
    fill = {it.path for it in plan_.items if it.source_key is None}
    defaults = constructed(build, fill) if build is not None else {}
    if fill and build is None:
        raise MismatchError("no value for " + ", ".join(sorted(fill)) + " (not in the checkpoint)")
    for it in plan_.items:
        if it.source_key is None:
            yield it.path, np.asarray(defaults[it.path], dtype=it.dtype)
        else:
            yield it.path, converted(it, source)
        if progress is not None:
            progress(1)


@dataclass
class Converted:
    """What ``convert_checkpoint`` did, for the command's report."""

    tensors: int  # read from the checkpoint
    constructed: int  # values the checkpoint does not hold, from the constructor
    nbytes: int  # written
    plan: Plan


def convert_checkpoint(build, weights_module, checkpoint, out, *, fmt: str = "orbax", dtype=None,
                       strip_prefix: str | None = None, strict: bool = True, force: bool = False,
                       progress=None, on_plan=None) -> Converted:
    """Convert the torch ``checkpoint`` for the model ``build()`` makes into
    ``out`` (``fmt`` "orbax" or "safetensors"). ``weights_module`` is the
    translation's generated weights module. Raises :class:`MismatchError`
    (strict) or a :class:`~.read.CheckpointError` before anything is written."""
    from pathlib import Path

    from flax import nnx

    from .read import open_checkpoint
    from .write import check_output, write_orbax, write_safetensors

    if fmt not in ("orbax", "safetensors"):
        raise ValueError(f"unknown format {fmt!r}")
    out = Path(out)
    check_output(out, force)
    model = nnx.eval_shape(build)
    source = open_checkpoint(checkpoint)
    try:
        p = plan(model, weights_module._walk, weights_module.IGNORED, source, strict=strict,
                 strip_prefix=strip_prefix, dtype=dtype, extra_keys=getattr(source, "others", ()))
        if on_plan is not None:
            on_plan(p)
        values = stream(p, source, build, progress)
        if fmt == "safetensors":
            write_safetensors(out, p.items, values, force=force)
        else:
            write_orbax(out, values, force=force)
    finally:
        source.close()
    n = sum(1 for it in p.items if it.source_key is not None)
    size = sum(int(np.prod(it.shape, dtype=np.int64)) * it.dtype.itemsize for it in p.items)
    return Converted(n, len(p.items) - n, size, p)
