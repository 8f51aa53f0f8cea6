"""``SRC:NAME`` -> the translated model's constructor and its weights module,
as ``torch2nnx verify`` finds them: the translation next to the source
(``<stem>_nnx.py`` and ``<stem>_nnx_weights.py``) when there is one -- the
checkpoint is converted for the code that will load it -- else one made now
in a temporary directory."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def translated_model(source_path: Path, name: str, kwargs: dict | None = None, seed: int = 0):
    """Yields (build, weights module, where the translation came from);
    ``build()`` makes ``NAME(**kwargs, rngs=nnx.Rngs(seed))``."""
    from flax import nnx

    from ..verify import VerifyError, _load_translation, prepare_translation

    beside = source_path.with_name(source_path.stem + "_nnx.py")
    translation = beside if beside.is_file() and beside.with_name(beside.stem + "_weights.py").is_file() else None
    _, code, weights, where, tmp = prepare_translation(source_path, translation, need_result=False)
    try:
        module, weights_module = _load_translation(code, weights)
        factory = getattr(module, name, None)
        if not callable(factory):
            raise VerifyError(f"{code if translation else source_path} has no class or function {name!r}")
        for attr in ("_walk", "IGNORED"):
            if not hasattr(weights_module, attr):
                raise VerifyError(f"{weights} is a weights module of an older torch2nnx: translate again")
        kwargs = dict(kwargs or {})

        def build():
            return factory(**kwargs, rngs=nnx.Rngs(seed))

        yield build, weights_module, where
    finally:
        if tmp is not None:
            tmp.cleanup()
