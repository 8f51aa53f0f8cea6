"""Padding layers (``nn.ZeroPad2d``, ``ConstantPad*``, ``ReflectionPad*``,
``ReplicationPad*``, ``CircularPad*``): stateless, so a ``functools.partial`` of
the emitted ``pad_channels_last`` helper, which takes the channels-last map as
NNX code holds it. torch lists (low, high) pairs from the last spatial dim
backwards; an int pads every side; negative widths crop (constant padding)."""

from .base import Example, Rule, spatial


def _build(nd: int, mode: str):
    def build(a, ctx):
        kws = [f"padding={a.src('padding')}", f"nd={nd}"]
        if mode != "constant":
            kws.append(f"mode={mode!r}")
        elif a.given("value"):
            kws.append(f"value={a.src('value')}")
        return f"functools.partial({ctx.helper('pad_channels_last')}, {', '.join(kws)})"
    return build


_SHAPES = {1: "float32[2,3,7]", 2: "float32[2,3,6,7]", 3: "float32[1,2,4,5,6]"}
_PADS = {1: "(2, 1)", 2: "(1, 2, 0, 3)", 3: "(1, 0, 2, 1, 0, 2)"}


def _rows():
    rows = []
    for nd in (1, 2, 3):
        shape = (_SHAPES[nd],)
        for kind, mode, params in (("Zero", "constant", "padding"), ("Constant", "constant", "padding, value"),
                                   ("Reflection", "reflect", "padding"), ("Replication", "replicate", "padding"),
                                   ("Circular", "circular", "padding")):
            name = f"{kind}Pad{nd}d"
            value = ", 1.5" if kind == "Constant" else ""
            examples = [Example(f"nn.{name}(2{value})", shape), Example(f"nn.{name}({_PADS[nd]}{value})", shape)]
            if kind in ("Zero", "Constant"):
                # torch crops where a width is negative (timm's nasnet: ZeroPad2d((-1, 1, -1, 1)))
                crop = {1: "(-1, 1)", 2: "(-1, 1, -1, 1)", 3: "(-1, 1, 0, 0, 1, -1)"}[nd]
                examples.append(Example(f"nn.{name}({crop}{value})", shape))
            rows.append(Rule(f"torch.nn.{name}", params, _build(nd, mode), layout=spatial(nd + 2), layer=True,
                             examples=tuple(examples)))
    return rows


RULES = _rows()
