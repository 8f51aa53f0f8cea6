"""Classes to subclass for torch layers that NNX keeps as functions.

``class AvgPool2dSame(nn.AvgPool2d)`` calls ``super().__init__`` with torch's
arguments and reads torch's attributes (``self.kernel_size``, ``self.stride``),
but NNX has no AvgPool2d class: the row builds a function. For such a row the
output gets a class generated from the row itself: torch's constructor
signature (``row.params``), the attributes torch stores (``row.init_attrs``
where torch normalises them, e.g. a pool's stride defaulting to its kernel
size), and a ``__call__`` running the row's build with ``self.<param>`` as the
argument sources. It creates no parameters, so ``rngs`` is optional.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from ..rules.base import _REQUIRED, Args, Rule, Unsupported, parse_params

PREFIX = "Torch"


def base_name(rule: Rule) -> str:
    return PREFIX + rule.short


CONTAINERS = ("torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict")


def is_function_row(rule: Rule) -> bool:
    """A layer row that NNX keeps as a function (no state, no weights)."""
    return rule.layer and not rule.stateful and rule.weights is None and rule.name not in CONTAINERS


@lru_cache(maxsize=1)
def _bases() -> dict[str, Rule]:
    from ..rules import registry

    rows = [r for r in registry.all_rules() if is_function_row(r)]
    return {base_name(r): r for r in rows}


def row_for(name: str) -> Rule | None:
    return _bases().get(name)


class _Ctx:
    """What a build may ask of its context, outside any file."""

    def __init__(self):
        self.helpers: set[str] = set()
        self.rngs = "rngs"
        self.perm = None
        self.one = False
        self.in_forward = True
        self.rngs_available = False
        self.cls = None
        self.in_init = False
        self.function = None
        self.result_plain = False
        self.result_cl_rank = None

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        return name

    def module_rngs(self) -> str:
        raise Unsupported("T2N005", "draws random numbers")

    def buffer_class(self, persistent: bool) -> str:
        raise Unsupported("T2N004", "a buffer outside a translated file")


def _build(rule: Rule, given: dict[str, str], extra: dict[str, str] | None = None) -> str:
    return rule.build(Args(rule.params, dict(given), [], dict(extra or {})), _Ctx())


def _probe(default: str):
    """A literal other than the default, to tell an irrelevant argument
    (``inplace``) from one the build cannot take at run time."""
    try:
        d = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return None
    if isinstance(d, bool):
        return repr(not d)
    if d is None:
        return "True"
    return None


@lru_cache(maxsize=None)
def source(name: str) -> str:
    """The generated class for the row behind ``name``; raises Unsupported."""
    rule = row_for(name)
    spec = parse_params(rule.params)
    names = [n for n, _, k in spec if k in ("pos", "kwonly")]
    required = {n: f"self.{n}" for n, d, k in spec if k in ("pos", "kwonly") and d is _REQUIRED}
    full = {n: f"self.{n}" for n in names}
    checks = []
    kept = full
    try:
        src = _build(rule, full)
    except Unsupported:
        src = None
    if src is None or any(f"self.{n}" not in src for n in names if n not in required):
        # find the arguments the build cannot take as run-time values: the class
        # takes only their defaults, and says so when constructed otherwise
        base = _build(rule, required)
        kept = dict(required)
        for n, d, k in spec:
            if k not in ("pos", "kwonly") or d is _REQUIRED:
                continue
            try:
                out = _build(rule, {**kept, n: f"self.{n}"})
            except Unsupported as e:
                checks.append((n, d, e.message))
                continue
            if f"self.{n}" in out:
                kept[n] = f"self.{n}"
                continue
            alt = _probe(d)
            try:
                same = alt is not None and _build(rule, {**required, n: alt}) == base
            except Unsupported:
                same = False
            if not same:
                checks.append((n, d, "known only at run time"))
        src = _build(rule, kept)
    if any(k == "varkw" for _, _, k in spec) and _build(rule, kept if src is None else full, {"t2n_probe": "1"}) \
            != src:
        # the row reads **kwargs (einops' axis lengths): not stored by this class
        raise Unsupported("T2N004", f"subclassing {rule.name}: keyword arguments it takes through **kwargs")
    sig = []
    for n, d, k in spec:
        if k == "varargs":
            sig.append(f"*{n}")
        elif k == "varkw":
            continue
        else:
            if k == "kwonly" and not any(s.startswith("*") for s in sig):
                sig.append("*")
            sig.append(n if d is _REQUIRED else f"{n}={d}")
    if not any(s.startswith("*") for s in sig):
        sig.append("*")
    sig.append("rngs=None")
    if any(k == "varkw" for _, _, k in spec):
        sig.append("**" + next(n for n, _, k in spec if k == "varkw"))
    norm = dict(rule.init_attrs)
    lines = []
    for n, d, msg in checks:
        test = f"{n} is not None" if d == "None" else f"{n} != {d}"
        text = f"torch2nnx: {rule.name} with {n} other than {d}: {msg}"
        lines += [f"if {test}:", f"    raise NotImplementedError({text!r})"]
    lines += [f"self.{n} = {norm.get(n, n)}" for n in names]
    lam = isinstance(ast.parse(src, mode="eval").body, ast.Lambda) and not src.startswith("(")
    callee = f"({src})" if lam else src
    body = "".join(f"        {l}\n" for l in lines) or "        pass\n"
    return (f"class {name}(nnx.Module):\n"
            f'    """{rule.name} as a class to subclass: torch\'s constructor and attributes."""\n\n'
            f"    _torch_layer = {rule.short!r}  # issubclass(C, nn.{rule.short}) holds, as in torch\n\n"
            f"    def __init__(self, {', '.join(sig)}):\n{body}\n"
            f"    def __call__(self, *args, **kwargs):\n"
            f"        return {callee}(*args, **kwargs)\n")


def uses(name: str) -> set[str]:
    """Names the generated class reads (the runtime helpers it needs)."""
    tree = ast.parse(source(name))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
