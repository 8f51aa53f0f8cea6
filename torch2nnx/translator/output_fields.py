"""Values packed into a container a row builds (transformers' ``ModelOutput``
classes: ``BaseModelOutput(last_hidden_state=h, hidden_states=all_h)``) are held
in torch's order.

Such a row's result is no tensor (``Layout("other")``), so whoever reads a
field back (``outputs[0]``, ``outputs.last_hidden_state``) gets a value of no
known layout, read as torch's order. A field packed channels-last (ResNet's
encoder hands its NHWC feature map on) was then read transposed: the pooler
after it pooled the wrong axes. A row lists its ``*args`` / ``**kwargs`` in
``layout.tensors`` to have them brought to torch's order as they are packed; a
sequence of feature maps (the hidden states of every stage) element by element,
``None`` (a field not asked for) passed through.
"""

from __future__ import annotations

from ..rules.base import parse_params
from . import layout as L
from .body_support import code
from .mixed_sequences import torch_order_elements


def packed_in_torch_order(rw, rule, args, pos, kw, nodes):
    """Rewrite ``args`` (star and keyword-extra sources) of an ``other`` row so that
    the values its ``*args`` / ``**kwargs`` pack are in torch's order."""
    spec = parse_params(rule.params)
    varargs = next((n for n, _, k in spec if k == "varargs"), None)
    varkw = next((n for n, _, k in spec if k == "varkw"), None)
    if varargs is not None and varargs in rule.layout.tensors:
        first = len([n for n, _, k in spec if k == "pos"])
        for i, node in enumerate(nodes[first:len(pos)]):
            if i < len(args.star) and args.star[i] == pos[first + i]:
                args.star[i] = code(_torch_order(rw, node))
    if varkw is not None and varkw in rule.layout.tensors:
        for k, node in zip(kw, nodes[len(pos):]):
            if k in args.kwextra and args.kwextra[k] == kw[k]:
                args.kwextra[k] = code(_torch_order(rw, node))


def _torch_order(rw, node):
    t = rw.tag(node)
    fixed = torch_order_elements(rw, node, t)  # a literal tuple of mixed layouts
    if fixed is not None:
        return fixed
    if t.kind == L.SEQ and t.channels_last and t.perm is not None:
        # a tuple grown in a loop (``all_hidden_states + (h,)``), or None when not asked for
        axes = L.transpose_axes(t.perm, None, len(t.perm))
        rw.transposes += 1
        return rw.set(rw.built(f"{rw.build_ctx.helper('transpose_each')}({code(node)}, {axes})"),
                      L.plain().with_(kind=L.SEQ))
    if t.kind == L.TENSOR or t.kind == L.FREE:
        return rw.canonical(node)
    return node
