"""Filling a translated model from a checkpoint: a real model, or an abstract
one from ``nnx.eval_shape`` (whose variables hold only shapes and dtypes).

``load_checkpoint`` reads what ``torch2nnx convert`` wrote (an Orbax
directory, or a safetensors file keyed by NNX paths); ``load_torch_checkpoint``
reads a torch checkpoint directly, tensor by tensor, through the weights
module's table. Values keep the dtype they were stored in (a ``--dtype
bfloat16`` checkpoint gives a bfloat16 model).
"""

from __future__ import annotations

from pathlib import Path

from .convert import MismatchError, is_rng, plan, stream, variables
from .read import CheckpointError, SafetensorsFile, open_checkpoint


def _abstract(var) -> bool:
    import jax

    return isinstance(var.get_value(), jax.ShapeDtypeStruct)


def _seed_rngs(model, seed: int = 0) -> None:
    """An abstract model's RNG streams (Dropout's) have no value; a checkpoint
    holds weights, not RNG state, so they start from ``seed`` like
    ``nnx.Rngs(seed)`` would."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    for i, (_, var) in enumerate(variables(model)):
        if is_rng(var) and _abstract(var):
            s = var.get_value()
            if isinstance(var, nnx.RngKey):
                key = jax.random.fold_in(jax.random.key(seed), i)
                var.set_value(jax.random.split(key, s.shape) if s.shape else key)
            else:
                var.set_value(jnp.zeros(s.shape, s.dtype))


def _fill(model, values: dict, where) -> None:
    import jax.numpy as jnp

    targets = [(p, v) for p, v in variables(model) if not is_rng(v)]
    missing = [p for p, _ in targets if p not in values]
    unexpected = sorted(set(values) - {p for p, _ in targets})
    mismatched = [f"{p}: stored {tuple(values[p].shape)} -> model {tuple(v.get_value().shape)}"
                  for p, v in targets if p in values and tuple(values[p].shape) != tuple(v.get_value().shape)]
    if missing or unexpected or mismatched:
        parts = [f"{what}: {', '.join(xs) if what != 'shape mismatches' else '; '.join(xs)}"
                 for what, xs in (("missing keys", missing), ("unexpected keys", unexpected),
                                  ("shape mismatches", mismatched)) if xs]
        raise MismatchError(f"cannot load {where}: " + " | ".join(parts))
    for p, var in targets:
        var.set_value(jnp.array(values[p]))  # a copy: never an alias of a mapped file


def _read_orbax(path: Path) -> dict:
    import jax
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    try:
        meta = checkpointer.metadata(path.absolute()).item_metadata
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        # restore straight into jax arrays of the stored dtypes (no numpy copy in between)
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), dict(meta))
        tree = checkpointer.restore(path.absolute(), target)
    finally:
        checkpointer.close()
    flat = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            flat[prefix[:-1]] = node

    walk(tree, "")
    return flat


def load_checkpoint(model, path):
    """Fill ``model`` from ``path`` (what ``torch2nnx convert`` wrote) and return it."""
    path = Path(path)
    if path.is_dir():
        if not (path / "_CHECKPOINT_METADATA").exists() and not (path / "_METADATA").exists():
            raise CheckpointError(f"{path}: not an Orbax checkpoint")
        values = _read_orbax(path)
        _fill(model, values, path)
    elif path.is_file():
        st = SafetensorsFile(path)
        try:
            _fill(model, {k: st.read(k) for k in st.keys()}, path)
        finally:
            st.close()
    else:
        raise FileNotFoundError(f"no checkpoint at {path}")
    _seed_rngs(model)
    return model


def load_torch_checkpoint(model, path, walk, ignored, *, strict: bool = True, strip_prefix: str | None = None):
    """Fill ``model`` from a torch checkpoint file, one tensor at a time, through
    the weights module's ``walk``; return it. An abstract model needs every
    value from the checkpoint (its non-persistent buffers have none: convert
    with ``torch2nnx convert``, which computes them)."""
    import jax.numpy as jnp

    source = open_checkpoint(path)
    try:
        p = plan(model, walk, ignored, source, strict=strict, strip_prefix=strip_prefix,
                 extra_keys=getattr(source, "others", ()))
        own = dict(variables(model))
        empty = [it.path for it in p.items if it.source_key is None and _abstract(own[it.path])]
        if empty:
            raise MismatchError(f"cannot load {path} into an abstract model: no value for " + ", ".join(empty))
        p.items = [it for it in p.items if it.source_key is not None]
        for (name, value) in stream(p, source):
            own[name].set_value(jnp.asarray(value))
    finally:
        source.close()
    _seed_rngs(model)
    return model
