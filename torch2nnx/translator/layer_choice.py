"""Layer slots whose layer is chosen at run time between a channels-last layer
and a plain one: timm's ``linear_layer = partial(nn.Conv2d, kernel_size=1) if
use_conv else nn.Linear`` (Mlp, GluMlp, ...), one class serving image models
(NCHW through a 1x1 conv) and token models ((B, N, C) through a Linear).

Neither layout is right for every caller, and each caller hands the tensor the
layer it built takes, so such a slot passes its input as it is
(``FunctionRewriter._through_either``): no transpose into it, an undecided
parameter stays undecided.
"""

from __future__ import annotations

from .context import ModuleRef


def stance(ref: ModuleRef):
    """``spatial`` (takes channels-last), ``plain`` (takes torch order) or None."""
    if ref.kind != "layer" or ref.rule is None:
        return None
    lay = ref.layout or ref.rule.layout
    kind = getattr(lay, "kind", None)
    if kind in ("spatial", "spatial_any"):
        return "spatial"
    if kind in ("plain", "reshape"):
        return "plain"
    return None


def either_layout(ref: ModuleRef) -> bool:
    """A union of layers holding both a channels-last layer and a plain one."""
    stances = {stance(e) for e in ref.elements}
    return "spatial" in stances and "plain" in stances


def _made(factory: ModuleRef) -> list:
    """The layers a factory builds."""
    if factory.rule is not None:
        return [ModuleRef("layer", rule=factory.rule, layout=factory.layout)]
    return list(factory.elements)


def factory_choice(a: ModuleRef, b: ModuleRef):
    """``partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear``: a factory
    building either layer, when one takes channels-last and the other torch
    order (otherwise None: the choice is not a layout question)."""
    if a is None or b is None or a.kind != "factory" or b.kind != "factory" or a == b:
        return None
    made = _made(a) + _made(b)
    if not either_layout(ModuleRef("union", elements=tuple(made))):
        return None
    return ModuleRef("factory", elements=tuple(made))


# NNX layer classes serving every rank of torch's rank-specific classes
_ONE_CLASS_PER_RANK = ("nnx.Conv", "nnx.ConvTranspose")


def ranked_type(rule, cls: str, build_ctx) -> str:
    """The class ``isinstance`` checks for a torch layer: NNX's, or for a rank-specific
    torch class (``nn.Conv2d``) whose NNX class serves every rank, one that also
    checks the kernel's rank (a Conv1d is no ``nn.Conv2d``)."""
    lay = getattr(rule, "layout", None)
    if cls not in _ONE_CLASS_PER_RANK or getattr(lay, "kind", None) != "spatial" or not lay.rank:
        return cls
    return f"{build_ctx.helper('ranked_layer')}({cls}, {lay.rank - 2})"


def spatial_union(ref: ModuleRef):
    """A union of one spatial layer (or several of one rank) and translated
    classes, no plain layer: what a conv builder returns (timm's
    ``create_conv2d``: ``nn.Conv2d``, ``Conv2dSame``, ``MixedConv2d`` or
    ``CondConv2d``). Under the output contract each takes channels-last, so the
    slot is that layer's layout (its classes are handed channels-last, and told
    so, see ``FunctionRewriter._through_spatial_union``); None otherwise."""
    if ref.kind != "union":
        return None
    layouts = []
    for e in ref.elements:
        if e.kind == "class":
            continue
        if stance(e) != "spatial":
            return None
        layouts.append(e.layout or e.rule.layout)
    ranks = {getattr(lay, "rank", None) for lay in layouts}
    if not layouts or len(ranks) != 1 or None in ranks or len(layouts) == len(ref.elements):
        return None
    return layouts[0]
