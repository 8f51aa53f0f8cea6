"""torch's logical ops, as ``torch.logical_*`` functions and ``Tensor.logical_*``
methods: elementwise, a boolean result whatever the inputs' dtype (nonzero is
true), as jnp's ``logical_*`` compute."""

from .base import Example, Layout, Rule

_ONE = Layout("elementwise")
_TWO = Layout("elementwise", tensors=("input", "other"))
F2 = ("float32[3,4]:-2:2",)
F22 = ("float32[3,4]:-2:2", "float32[3,4]:-2:2")


def _build(name, binary):
    if binary:
        return lambda a, ctx: f"jnp.{name}({a.src('input')}, {a.src('other')})"
    return lambda a, ctx: f"jnp.{name}({a.src('input')})"


def _rows(prefix, recv):
    """Rows named ``prefix + op``; ``recv`` writes an example's call (function or method)."""
    out = [Rule(f"{prefix}logical_not", "input", _build("logical_not", False), layout=_ONE,
                examples=(Example(f"{recv('logical_not', 'x > 0')}.float()", F2),
                          Example(f"{recv('logical_not', 'x')}.float()", ("float32[2,3,4,5]:-2:2",),
                                  channels_last=True)))]
    for op in ("and", "or", "xor"):
        name = f"logical_{op}"
        out.append(Rule(f"{prefix}{name}", "input, other", _build(name, True), layout=_TWO,
                        examples=(Example(f"{recv(name, 'x > 0', 'y < 0.5')}.float()", F22),
                                  Example(f"{recv(name, 'x', 'y.round()')}.float()", F22))))
    return out


def _function(name, *args):
    return f"torch.{name}({', '.join(args)})"


def _method(name, recv, *args):
    return f"({recv}).{name}({', '.join(args)})"


RULES = _rows("torch.", _function)
METHODS = _rows("Tensor.", _method)
