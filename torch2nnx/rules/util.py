"""Small helpers shared by build functions: turning torch argument sources
into NNX argument sources."""

from __future__ import annotations

from .base import NOT_CONSTANT, Args, Unsupported


def ntuple(a: Args, name: str, n: int, ctx) -> str:
    """An int-or-tuple torch argument as an n-tuple source (``3`` -> ``(3, 3)``)."""
    v = a.value(name)
    if isinstance(v, int):
        return repr((v,) * n)
    if isinstance(v, (tuple, list)) and len(v) == n and all(isinstance(i, int) for i in v):
        return repr(tuple(v))
    if isinstance(v, (tuple, list)):
        raise Unsupported("T2N002", f"{name}={a.src(name)} has the wrong length")
    return f"{ctx.helper('ntuple')}({a.src(name)}, {n})"


def maybe_ntuple(a: Args, name: str, n: int, ctx) -> tuple[str, object]:
    """Like ntuple, plus the literal value (or None)."""
    v = a.value(name)
    if isinstance(v, int):
        v = (v,) * n
    return ntuple(a, name, n, ctx), (tuple(v) if isinstance(v, (tuple, list)) else None)


def kw(parts: list[str], name: str, value: str) -> None:
    parts.append(f"{name}={value}")


def call(fn: str, parts: list[str]) -> str:
    return f"{fn}({', '.join(parts)})"


def bool_arg(a: Args, name: str) -> object:
    """True/False for literals, the source otherwise."""
    v = a.value(name)
    if isinstance(v, bool):
        return v
    return a.src(name)


def use_flag(parts: list[str], nnx_name: str, a: Args, name: str) -> None:
    """torch ``bias=False`` -> nnx ``use_bias=False`` (non-literal passed through)."""
    if not a.given(name):
        return
    v = bool_arg(a, name)
    if v is True:
        return
    parts.append(f"{nnx_name}={v if isinstance(v, str) else 'False'}")


def partial(fn: str, kwargs: list[str]) -> str:
    """A stateless op with bound arguments, Bonsai style."""
    if not kwargs:
        return fn
    return f"functools.partial({fn}, {', '.join(kwargs)})"


def no_inplace(a: Args) -> None:
    """``inplace=True`` has no meaning on immutable arrays: dropped."""
    return None


def reject(a: Args, name: str, allowed, why: str = "") -> None:
    if not a.given(name):
        return
    v = a.value(name)
    if v is NOT_CONSTANT or v not in allowed:
        raise Unsupported("T2N002", f"{name}={a.src(name)} is not supported{': ' + why if why else ''}")
