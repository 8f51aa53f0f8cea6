"""A row's examples as runnable torch modules, and their translations.

The test-suite builds its parity tests from these modules; the README's API
table shows each row's first example next to its translation.
"""

from __future__ import annotations

import re

import libcst as cst

from .base import Example, Rule

HEADER = """import collections
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

"""

NAMES = ["x", "y", "z", "w"]

HELPER = "def helper(x):\n    return x * 2.0\n"
PAIR = "class Pair:\n    def __init__(self, a: int):\n        self.a = a\n"
EXTRA = ("class Extra(nn.Module):\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
         "        pass\n")


def _pre(inputs, channels_last):
    """Layers that put inputs channels-last (a 1x1 conv), so dims get remapped."""
    init, fwd = [], []
    if not channels_last:
        return init, fwd
    for i, spec in enumerate(inputs):
        shape = [int(s) for s in re.search(r"\[(.*)\]", spec).group(1).split(",")]
        if len(shape) < 3 or not spec.startswith("float"):
            continue
        nd = len(shape) - 2
        init.append(f"self.pre{i} = nn.Conv{nd}d({shape[1]}, {shape[1]}, 1)")
        fwd.append(f"{NAMES[i]} = self.pre{i}({NAMES[i]})")
    return init, fwd


def _module(init, fwd, names, decorator=None) -> str:
    init_body = "\n        ".join(["super().__init__()"] + init)
    fwd_body = "\n        ".join(fwd)
    deco = f"    @{decorator}\n" if decorator else ""
    return (HEADER + "class M(nn.Module):\n    def __init__(self):\n        " + init_body
            + f"\n\n{deco}    def forward(self{''.join(', ' + n for n in names)}):\n        " + fwd_body + "\n")


def is_constant(rule: Rule, ex: Example) -> bool:
    return rule.layout.kind == "other" and not ex.inputs and not rule.name.startswith("Tensor.") \
        and ex.compare != "stats" and ex.where not in TRAINING


# training examples (torch.optim): a model, and ``build`` returning the example's value
TRAINING = ("optimizer", "scheduler")
TRAIN_MODEL = """class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

"""


def _training_source(ex: Example) -> str:
    """``optimizer``: ``build(model)`` returns the optimizer; ``scheduler``:
    ``build(optimizer)`` returns the scheduler (the optimizer from ``make_optimizer``)."""
    arg = "model" if ex.where == "optimizer" else "optimizer"
    return HEADER + TRAIN_MODEL + f"\ndef build({arg}):\n    return {ex.torch}\n"


def example_source(rule: Rule, ex: Example) -> str:
    """A torch module using the example: ``M`` with ``forward`` over the inputs."""
    src = _example_source(rule, ex)
    if rule.name.startswith("einops."):
        src = src.replace("import torch\n", "import torch\nfrom einops import einsum, pack, rearrange, reduce, repeat, unpack\n"
                          "from einops.layers.torch import Rearrange, Reduce\n", 1)
    if "torchvision" in ex.torch:
        src = src.replace("import torch\n", "import torch\nimport torchvision\nimport torchvision.models._api\n", 1)
    if not rule.name.startswith("Tensor."):
        from .registry import is_user_row

        if is_user_row(rule):  # a user row's example names its API qualified: mylib.layers.ScaledLinear(...)
            src = src.replace("import torch\n", f"import torch\nimport {rule.name.rpartition('.')[0]}\n", 1)
    if "transformers." in ex.torch:
        mods = sorted(set(re.findall(r"\b(transformers(?:\.[a-z_]+)*)\.[A-Za-z_]+", ex.torch)))
        src = src.replace("import torch\n", "import torch\n" + "".join(f"import {m}\n" for m in mods), 1)
    if ex.torch.startswith("timm."):
        src = src.replace("import torch\n", "import torch\nimport timm.layers._fx\nimport timm.models._registry\n", 1)
    return src


def _example_source(rule: Rule, ex: Example) -> str:
    if ex.where in TRAINING:
        return _training_source(ex)
    if is_constant(rule, ex):
        return HEADER + f"VALUE = {ex.torch}\n"
    if rule.layer:
        init, fwd = _pre(ex.inputs, ex.channels_last)
        init.append(f"self.layer = {ex.torch}")
        if ex.call:
            fwd.append(f"return {ex.call}")
            return _module(init, fwd, NAMES[: len(ex.inputs)])
        if rule.name == "torch.nn.ModuleList":
            fwd.append("for m in self.layer:\n            x = m(x)\n        return x")
        elif rule.name == "torch.nn.ModuleDict":
            fwd.append("return self.layer['a'](x) + 2 * self.layer['b'](x)")
        else:
            fwd.append(f"return {ex.call or 'self.layer(x)'}")
        return _module(init, fwd, NAMES[: len(ex.inputs)] if ex.call else ["x"])
    if ex.compare == "stats" and ex.where not in ("forward", "init"):
        # re-initialisation: a layer, the init call in __init__, forward returns the tensor
        if ex.torch.startswith("self."):  # an in-place method: self.layer.weight.normal_(...)
            target = ex.torch.split("(", 1)[0].rsplit(".", 1)[0]
        else:
            target = ex.torch.split("(", 1)[1].split(",")[0].split(")")[0].strip()
        return _module([f"self.layer = {ex.where}", ex.torch], [f"return {target} * 1.0"], [])
    names = NAMES[: len(ex.inputs)]
    init, fwd = _pre(ex.inputs, ex.channels_last)
    init += list(ex.init)
    if ex.where == "decorator":
        return _module(init, fwd + ["return x * 2.0"], names, decorator=ex.torch)
    if ex.where == "overload":
        # an overload stub next to the real forward (as torchvision's DenseNet has)
        src = _module(init, fwd + ["return x * 2.0"], names)
        stub = f"    @{ex.torch}\n    def forward(self, x: int) -> int:\n        pass\n\n"
        return src.replace("    def forward", stub + "    def forward", 1)
    if ex.where == "with":
        return _module(init, fwd + [f"with {ex.torch}:\n            y = x * 2.0", "return y"], names)
    if ex.where == "module":
        # a top-level statement (torch.fx.wrap must be called there)
        src = _module(init, fwd + ["return x * 2.0"], names)
        return src.replace("class M(", ex.torch + "\n\n\nclass M(", 1)
    if ex.where == "stmt":
        return _module(init, fwd + [ex.torch, "return x * 2.0"], names)
    # decorations and wrappers of module-level code (TorchScript, compile, tracing)
    if ex.where == "function-decorator":
        src = _module(init, fwd + ["return helper(x)"], names)
        return src.replace("class M(", f"@{ex.torch}\n{HELPER}\n\nclass M(", 1)
    if ex.where == "module-call":
        src = _module(init, fwd + ["return fast(x)"], names)
        return src.replace("class M(", f"{HELPER}\n\nfast = {ex.torch}\n\n\nclass M(", 1)
    if ex.where == "plain-class-decorator":
        src = _module(init, fwd + ["return x * Pair(2).a"], names)
        return src.replace("class M(", f"@{ex.torch}\n{PAIR}\n\nclass M(", 1)
    if ex.where == "class-decorator":
        # a second module class, decorated (a TorchScript interface: never built)
        src = _module(init, fwd + ["return x * 2.0"], names)
        return src.replace("class M(", f"@{ex.torch}\n{EXTRA}\n\nclass M(", 1)
    if ex.where == "method-decorator":
        # a decorated method forward does not call (a ScriptModule's method outside one)
        src = _module(init, fwd + ["return x * 2.0"], names)
        return src.replace("    def forward", f"    @{ex.torch}\n    def extra(self, x):\n        return x\n\n"
                                              "    def forward", 1)
    if ex.where == "init":
        init.append(f"self.value = {ex.torch}")
        fwd.append("return self.value * 1.0")
    else:
        fwd.append(f"return {ex.torch}")
    return _module(init, fwd, names)


class _Find(cst.CSTVisitor):
    def __init__(self, target: str):
        self.target = target
        self.found = None

    def visit_Assign(self, node):
        t = node.targets[0].target
        code = cst.Module([]).code_for_node(t)
        if self.found is None and code in (self.target, "self.layer", "self.value") and code == self.target:
            self.found = node.value

    def visit_Return(self, node):
        if self.target == "return" and node.value is not None:
            self.found = node.value


def example_translation(rule: Rule, ex: Example) -> str:
    """The translated expression of an example (one line)."""
    from ..api import translate

    result = translate(example_source(rule, ex), "example.py", weights=False, line_length=1000)
    target = "VALUE" if is_constant(rule, ex) else "self.layer" if rule.layer else (
        "self.value" if ex.where == "init" else "return")
    finder = _Find(target)
    cst.parse_module(result.code).visit(finder)
    if finder.found is None:
        return ""
    return " ".join(cst.Module([]).code_for_node(finder.found).split())


def example_statement(rule: Rule, ex: Example) -> str:
    """What a ``stmt`` example becomes (one line), or "" when its statement is removed:
    the statement the translated ``__call__`` holds before its return."""
    from ..api import translate

    result = translate(example_source(rule, ex), "example.py", weights=False, line_length=1000)
    for node in cst.parse_module(result.code).body:
        if not isinstance(node, cst.ClassDef):
            continue
        for item in node.body.body:
            if isinstance(item, cst.FunctionDef) and item.name.value == "__call__":
                body = [st for st in item.body.body if not _is_return(st)]
                return " ".join(cst.Module([]).code_for_node(body[-1]).split()) if body else ""
    return ""


def _is_return(st) -> bool:
    return isinstance(st, cst.SimpleStatementLine) and isinstance(st.body[0], cst.Return)
