"""einops (issue 6): its torch layers and its functions on tensors map to
einops on JAX arrays (einops supports JAX natively).

A channels-last input of ``rearrange``/``repeat``/``reduce`` gets the left side
of its pattern reordered to the physical axis order, so no transpose is
needed; the result is in the order the pattern's right side names (torch's).
"""

import ast
import re

from .base import Canonical, Example, Layout, Rule, Unsupported
from .util import call

PLAIN_ALL = Layout("plain", tensors=("tensor", "tensors"))


def _axes(side: str):
    """Top-level axes of one side of a pattern: names, ``()`` or ``(a b)`` groups."""
    return re.findall(r"\([^)]*\)|\S+", side)


def _pattern(a, ctx):
    """The pattern source, its left side reordered for a channels-last input."""
    src = a.src("pattern")
    if ctx.perm is None:
        return src
    pattern = a.value("pattern")  # not a literal: not a str, torch's order
    if not isinstance(pattern, str) or "->" not in pattern:
        raise Canonical()
    left, right = pattern.split("->", 1)
    axes = _axes(left)
    if len(axes) != len(ctx.perm) or any(x == "..." for x in axes):
        raise Canonical()
    physical = [axes[p] for p in ctx.perm]
    return repr(f"{' '.join(physical)} ->{right}")


def _image_in(a):
    """The rank of the image batch a pattern patchifies: ``b c (h p1) (w p2) -> ...``,
    a channel name on axis 1 and every spatial axis split into a group (patches). A
    rank-4 tensor read so is an image whatever its names; one whose axes are kept
    whole (``b h n d``) may be anything."""
    pattern = a.value("pattern")
    if not isinstance(pattern, str) or "->" not in pattern:
        return None
    left, right = pattern.split("->", 1)
    axes = _axes(left)
    if len(axes) >= 3 and not axes[1].startswith("(") and axes[1] != "..." \
            and all(x.startswith("(") and len(x[1:-1].split()) >= 2 for x in axes[2:]):
        if len(axes) >= 4 or _joins_patch(axes[1], axes[2:], right):
            return len(axes)
    return None


def _joins_patch(channel: str, groups: list[str], right: str) -> bool:
    """A sequence (``b c (n p) -> b n (p c)``) is patchified when its channel joins
    a patch's pieces in one group on the right; a token split into heads
    (``b n (h d) -> b h n d``) keeps its axis 1 whole."""
    pieces = {p for g in groups for p in g[1:-1].split()}
    return any(x.startswith("(") and channel in x[1:-1].split() and pieces & set(x[1:-1].split())
               for x in _axes(right))


AWARE = Layout("aware", tensors=("tensor",), image_in=_image_in)


def _pooled_image(a):
    """The rank of the image batch a pattern pools whole (``b c h w -> b c``: the
    channel name kept, every axis after it reduced away, as a global pooling
    does), else None. Tokens reduced over their sequence (``b n d -> b d``) keep
    their last axis, not axis 1."""
    pattern = a.value("pattern")
    if not isinstance(pattern, str) or "->" not in pattern:
        return None
    left, right = pattern.split("->", 1)
    axes, out = _axes(left), _axes(right)
    names = set(" ".join(out).replace("(", " ").replace(")", " ").split())
    if len(axes) >= 3 and all(re.fullmatch(r"\w+", x) for x in axes) and axes[1] in names \
            and not names & set(axes[2:]):
        return len(axes)
    return None


def _image_layer(a):
    """A Rearrange layer patchifying an image (``b c (h p1) (w p2) -> ...``, the
    ViT patch embedding of vit-pytorch and the like), or a Reduce layer pooling
    one whole (``Reduce('b c h w -> b c', 'mean')``, a squeeze-excitation's
    gate): it takes the image channels-last, as a convolution would, and
    returns tokens or pooled features in torch's order."""
    rank = _image_in(a) or (_pooled_image(a) if a.given("reduction") else None)
    if rank:
        return Layout("spatial", rank=rank, out_plain=True)
    made = _made_image(a) if not a.given("reduction") else None
    return Layout("plain", out_cl=made) if made else None


def _made_image(a):
    """A Rearrange layer assembling an image (windows into a map, tokens laid out
    as one: ``_image_out``) from torch-order input: it returns the map
    channels-last, its right side in the physical order."""
    pattern = a.value("pattern")
    if not isinstance(pattern, str) or "->" not in pattern:
        return None
    return _image_out(*pattern.split("->", 1), False)


def _tensor(a, name="tensor"):
    # an nnx.Param or buffer attribute is not an array for einops' backend detection
    src = a.src(name)
    return f"jnp.asarray({src})" if src.startswith("self.") else src


def _image_out(left: str, right: str, image_in: bool):
    """The rank of the image batch a pattern's right side makes, else None: one
    assembled from patches (``-> b d (h s1) (w s2)``: a channel name on axis 1,
    every spatial axis a group; the mirror of ``_image_in``), or an image (a
    channels-last input, or one the left side patchifies) cut into windows, its
    channel name kept on axis 1 (``b d (h s1) (w s2) -> (b h w) d s1 s2``)."""
    axes, before = _axes(right), _axes(left)
    if len(axes) < 4 or axes[1].startswith("(") or "..." in axes or "..." in before:
        return None
    if all(x.startswith("(") and len(x[1:-1].split()) >= 2 for x in axes[2:]):
        return len(axes)
    if image_in and len(before) >= 4 and before[1] == axes[1]:
        return len(axes)
    # tokens laid out as a map (``b (h w) c -> b c h w``): the spatial names split
    # from one group of the left side, the channel name a whole axis of it
    groups = [set(x[1:-1].split()) for x in before if x.startswith("(")]
    if axes[1] in before and all(re.fullmatch(r"\w+", x) for x in axes[2:]) \
            and any(set(axes[2:]) <= g for g in groups):
        return len(axes)
    return None


def _image_result(pattern_src: str, a, ctx) -> str:
    """A rearrange assembling an image from patches (vit-pytorch's CrossFormer
    windows back into a map) returns it channels-last, as the layers after it
    take it: the right side in the physical order (N, *spatial, C)."""
    pattern = a.value("pattern")
    if not isinstance(pattern, str) or "->" not in pattern:
        return pattern_src
    rank = _image_out(*pattern.split("->", 1), ctx.perm is not None or bool(_image_in(a)))
    if not rank:
        return pattern_src
    left, right = ast.literal_eval(pattern_src).split("->", 1)  # the literal, its left side maybe reordered
    axes = _axes(right)
    ctx.result_cl_rank = rank
    return repr(f"{left}-> {' '.join([axes[0]] + axes[2:] + [axes[1]])}")


def _fn(name, extra=()):
    def build(a, ctx):
        pattern = _pattern(a, ctx)
        parts = [_tensor(a), _image_result(pattern, a, ctx) if name == "rearrange" else pattern]
        ctx.result_plain = True
        parts += [a.src(n) for n in extra]
        parts += [f"{k}={v}" for k, v in a.kwextra.items()]
        return call(f"einops.{name}", parts)
    return build


def _einsum(a, ctx):
    return call("einops.einsum", [f"jnp.asarray({s})" if s.startswith("self.") else s for s in a.star])


def _pack(a, ctx):
    return call("einops.pack", [a.src("tensors"), a.src("pattern")])


def _unpack(a, ctx):
    return call("einops.unpack", [_tensor(a), a.src("packed_shapes"), a.src("pattern")])


def _layer(name, extra=()):
    def build(a, ctx):
        pattern = a.src("pattern")
        rank = _image_in(a) or (_pooled_image(a) if name == "reduce" else None)
        if rank:
            # a layer patchifying an image takes it channels-last (_image_layer): its
            # pattern reads the physical axes (N, *spatial, C)
            left, right = a.value("pattern").split("->", 1)
            axes = _axes(left)
            pattern = repr(f"{' '.join([axes[0]] + axes[2:] + [axes[1]])} ->{right}")
        elif name == "rearrange" and _made_image(a):
            # the map it assembles returned channels-last (_made_image)
            left, right = a.value("pattern").split("->", 1)
            axes = _axes(right)
            pattern = repr(f"{left}-> {' '.join([axes[0]] + axes[2:] + [axes[1]])}")
        parts = [f"pattern={pattern}"] + [f"{n}={a.src(n)}" for n in extra]
        parts += [f"{k}={v}" for k, v in a.kwextra.items()]
        return f"functools.partial(einops.{name}, {', '.join(parts)})"
    return build


_REDUCTIONS = ("min", "max", "sum", "mean", "prod", "any", "all")


def _check_reduction(build):
    def wrapped(a, ctx):
        r = a.value("reduction")
        if not isinstance(r, str) or r not in _REDUCTIONS:
            raise Unsupported("T2N002", f"reduction={a.src('reduction')}: only a named reduction")
        return build(a, ctx)
    return wrapped


RULES = [
    Rule("einops.rearrange", "tensor, pattern, **axes_lengths", _fn("rearrange"), layout=AWARE,
         examples=(Example("rearrange(x, 'b n (h d) -> b h n d', h=2)", ("float32[2,5,8]",)),
                   Example("rearrange(x, 'b c h w -> b (h w) c')", ("float32[2,3,4,5]",), channels_last=True,
                           expect="'b h w c -> b (h w) c'"),
                   # windows assembled back into an image: returned channels-last
                   Example("rearrange(x, '(b h w) d s1 s2 -> b d (h s1) (w s2)', h=2, w=3)", ("float32[12,3,2,2]",),
                           expect="-> b (h s1) (w s2) d"),
                   # tokens laid out as a map (vit-pytorch's T2T, RvT): returned channels-last
                   Example("rearrange(x, 'b (h w) c -> b c h w', h=2)", ("float32[2,6,4]",),
                           expect="-> b h w c"))),
    Rule("einops.repeat", "tensor, pattern, **axes_lengths", _fn("repeat"), layout=AWARE,
         examples=(Example("repeat(x, 'n d -> b n d', b=3)", ("float32[5,8]",)),)),
    Rule("einops.reduce", "tensor, pattern, reduction, **axes_lengths", _check_reduction(_fn("reduce", ("reduction",))),
         layout=AWARE,
         examples=(Example("reduce(x, 'b c h w -> b c', 'mean')", ("float32[2,3,4,5]",), channels_last=True),
                   Example("reduce(x, 'b (n p) d -> b n d', 'max', p=2)", ("float32[2,6,4]",)))),
    Rule("einops.einsum", "*tensors_and_pattern", _einsum, layout=Layout("plain", tensors=()),
         examples=(Example("einsum(x, y, 'b i d, b j d -> b i j')", ("float32[2,3,4]", "float32[2,5,4]")),)),
    Rule("einops.pack", "tensors, pattern", _pack, layout=PLAIN_ALL, returns_tuple=True,
         examples=(Example("pack([x, y], 'b * d')[0]", ("float32[2,3,4]", "float32[2,4]")),)),
    Rule("einops.unpack", "tensor, packed_shapes, pattern", _unpack, layout=PLAIN_ALL, returns_tuple=True,
         examples=(Example("unpack(x, [[3], [2]], 'b * d')[1]", ("float32[2,5,4]",)),)),
    Rule("einops.layers.torch.Rearrange", "pattern, **axes_lengths", _layer("rearrange"), layout=Layout("plain"),
         layer=True, layout_of=_image_layer,
         examples=(Example("Rearrange('b c h w -> b (h w) c')", ("float32[2,3,4,5]",)),
                   Example("Rearrange('b n (h d) -> b h n d', h=2)", ("float32[2,5,8]",)),
                   Example("Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=2, p2=3)", ("float32[2,3,4,6]",),
                           expect="pattern='b (h p1) (w p2) c -> b (h w) (p1 p2 c)'"),
                   # a sequence patchified (vit-pytorch's 1-D ViT): it takes (N, L, C) too
                   Example("Rearrange('b c (n p) -> b n (p c)', p=2)", ("float32[2,3,8]",),
                           expect="pattern='b (n p) c -> b n (p c)'"),
                   # windows assembled into a map (vit-pytorch's MaxViT blocks): returned channels-last
                   Example("Rearrange('b x y w1 w2 d -> b d (w1 x) (w2 y)')", ("float32[2,2,3,2,2,4]",),
                           expect="-> b (w1 x) (w2 y) d"))),
    Rule("einops.layers.torch.Reduce", "pattern, reduction, **axes_lengths",
         _check_reduction(_layer("reduce", ("reduction",))), layout=Layout("plain"), layer=True,
         layout_of=_image_layer,
         examples=(Example("Reduce('b n d -> b d', 'mean')", ("float32[2,5,8]",)),
                   # an image pooled whole (vit-pytorch's MaxViT squeeze-excitation): taken channels-last
                   Example("Reduce('b c h w -> b c', 'max')", ("float32[2,3,4,5]",),
                           expect="pattern='b h w c -> b c'"))),
]
