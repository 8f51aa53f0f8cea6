"""Saving and loading training state: ``torch.save`` / ``torch.load`` and the
state dicts they carry (issue 16).

The idiom ::

    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
    state = torch.load(path)
    model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"])

becomes the runtime helpers of runtime/data_io.py: ``torch_save(obj, path)``
writes the pytree with Orbax (a checkpoint directory at the absolute path),
``torch_load(path)`` restores it (a torch file, pretrained weights, is read
with torch); ``model.state_dict()`` handed to ``torch.save`` is
``model_state_dict(model)`` (the model's state as a nested dict of arrays);
a translated optimizer's own state_dict / load_state_dict already are its
state's (TorchOptimizerState). In a file that saves or loads,
``model.load_state_dict(sd)`` is ``load_model_state(model, sd)``: the state a
translated model saved goes back with ``nnx.update``, a torch state dict is
ported by the weights module, as elsewhere. A model's state_dict used for
anything else keeps its T2N005 (it means torch's keys and layouts there).
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .body_support import code, expr
from .fastvisit import FastVisitor

SAVE, LOAD = "torch.save", "torch.load"


def uses_save_load(module: cst.Module, f) -> bool:
    """The file calls torch.save or torch.load."""
    found = []

    class Calls(FastVisitor):
        def visit_Call(self, node):
            if f.imports.qualify(node.func) in (SAVE, LOAD):
                found.append(node)

    Calls().walk(module)
    return bool(found)


def enter_call(rw, node: cst.Call) -> None:
    if rw.f.imports.qualify(node.func) == SAVE:
        rw.saving += 1  # a model's state_dict() in here is saved (model_state_dict)


def _arg(call: cst.Call, index: int, name: str):
    pos = [a for a in call.args if a.keyword is None and not a.star]
    if len(pos) > index:
        return pos[index].value
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def rewrite(rw, original: cst.Call, updated: cst.Call):
    """The translation of a save/load call, or None."""
    q = rw.f.imports.qualify(original.func)
    if q == SAVE:
        rw.saving -= 1
        obj, path = _arg(updated, 0, "obj"), _arg(updated, 1, "f")
        if obj is None or path is None or any(a.star for a in updated.args):
            return None
        # pickle_module / pickle_protocol: how torch pickles, nothing Orbax needs
        return rw.set(expr(f"{rw.build_ctx.helper('torch_save')}({code(obj)}, {code(path)})"), L.OTHER_TAG)
    if q == LOAD:
        path = _arg(updated, 0, "f")
        if path is None or any(a.star for a in updated.args):
            return None
        # map_location / weights_only / mmap: jax arrays on the default device
        return rw.set(expr(f"{rw.build_ctx.helper('torch_load')}({code(path)})"), L.OTHER_TAG)
    func = updated.func
    if not isinstance(func, cst.Attribute) or rw.tag(func.value).kind != L.MODULE:
        return None
    if func.attr.value == "state_dict" and rw.saving > 0 and not updated.args:
        return rw.set(expr(f"{rw.build_ctx.helper('model_state_dict')}({code(func.value)})"), L.OTHER_TAG)
    if func.attr.value == "load_state_dict" and rw.f.saves_state and updated.args \
            and not any(a.star for a in updated.args):
        args = [code(func.value)] + [code(a.value) if a.keyword is None else f"{a.keyword.value}={code(a.value)}"
                                     for a in updated.args]
        return rw.set(expr(f"{rw.build_ctx.helper('load_model_state')}({', '.join(args)})"), L.OTHER_TAG)
    return None
