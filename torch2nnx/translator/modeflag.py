"""torch's mode flag, ``self.training``, in a translated class.

A translated class holds ``deterministic`` instead, the attribute
``model.eval()`` / ``model.train()`` set on every NNX module that has one
(as ``nnx.Dropout`` does). A read of ``self.training`` is
``(not self.deterministic)``; an assignment ``self.training = mode`` (a
``train(mode)`` override, a module switching itself) sets
``self.deterministic = not mode``, so both stay in step with Flax's own
switch. Either way the class gets ``self.deterministic = False`` first thing
in ``__init__`` (built in training mode, like torch).

``training`` of anything else is an ordinary attribute (a plain object's
flag), except on another module: setting its flag is not translated, and
marked.
"""

from __future__ import annotations

import libcst as cst

from . import layout as L
from .places import target_places

READ = "(not self.deterministic)"


def is_mode_flag(rw, node) -> bool:
    """``self.training`` in a method of a translated module class."""
    return (isinstance(node, cst.Attribute) and node.attr.value == "training"
            and isinstance(node.value, cst.Name) and node.value.value == "self" and rw.cls is not None)


def _bare(value: cst.BaseExpression) -> cst.BaseExpression:
    return value.with_changes(lpar=[], rpar=[]) if getattr(value, "lpar", None) else value


def _is_not(value) -> bool:
    return isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Not)


def negated(value: cst.BaseExpression) -> cst.BaseExpression:
    """``not value``, folded where that reads better (True, ``not x``)."""
    value = _bare(value)
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return cst.Name("False" if value.value == "True" else "True")
    if _is_not(value):
        inner = _bare(value.expression)
        return inner if _is_not(inner) else cst.Call(cst.Name("bool"), [cst.Arg(inner)])
    if not isinstance(value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) and not value.lpar:
        value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.UnaryOperation(cst.Not(), value)


def _flag_target(rw) -> cst.Attribute:
    rw.cls.uses_training = True
    return cst.Attribute(cst.Name("self"), cst.Name("deterministic"))


def _other_module_flag(rw, target) -> bool:
    return isinstance(target, cst.Attribute) and target.attr.value == "training" \
        and rw.tag(target.value).kind == L.MODULE


def assign_mode_flag(rw, original: cst.Assign, updated: cst.Assign):
    """The Assign that sets the mode flag, or None when ``original`` does not."""
    places = [p for t in updated.targets for p in target_places(t.target)]
    if not any(is_mode_flag(rw, p) or _other_module_flag(rw, p) for p in places):
        return None
    if len(updated.targets) == 1 and is_mode_flag(rw, updated.targets[0].target):
        return updated.with_changes(targets=[updated.targets[0].with_changes(target=_flag_target(rw))],
                                    value=negated(updated.value))
    rw.todo(original, "T2N004", "setting the training flag here: NNX modules switch with "
                                ".train()/.eval() (the flag is `deterministic`)")
    return updated


def annassign_mode_flag(rw, original: cst.AnnAssign, updated: cst.AnnAssign):
    if not is_mode_flag(rw, updated.target) or updated.value is None:
        return None
    return updated.with_changes(target=_flag_target(rw), value=negated(updated.value))


def augassign_mode_flag(rw, original: cst.AugAssign, updated: cst.AugAssign) -> bool:
    """An augmented assignment to the flag: marked (it has no faithful spelling)."""
    if is_mode_flag(rw, updated.target) or _other_module_flag(rw, updated.target):
        rw.todo(original, "T2N004", "updating the training flag in place: NNX modules switch with "
                                    ".train()/.eval() (the flag is `deterministic`)")
        return True
    return False
