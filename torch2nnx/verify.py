"""``torch2nnx verify``: does a translation compute what the torch model does?

Builds the torch model and its translation, moves the torch parameters and
BatchNorm statistics away from their defaults (default init -- unit scales,
zero biases, 0/1 statistics -- hides dropped statistics and swapped affine
parameters), ports them through the generated weights module, runs both on
the same random input and compares every output. With ``per_layer``, every
submodule's output is compared too (forward hooks in torch, the NNX module at
the same attribute path), in the order torch finishes them, so the first
layer that diverges is the one to look at (like nobuco's per-node check).

Needs torch, JAX and Flax at run time; writes only to a temporary directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ATOL = RTOL = 1e-4


class VerifyError(Exception):
    """verify cannot run (bad arguments, a model that does not build or import)."""


@dataclass
class Compared:
    name: str  # "output", "output[1]", or a submodule path like "layer1.0.conv1"
    max_diff: float | None  # None: not comparable (see note)
    ok: bool
    torch_shape: tuple = ()
    nnx_shape: tuple = ()
    note: str = ""


@dataclass
class Report:
    outputs: list[Compared] = field(default_factory=list)
    layers: list[Compared] | None = None
    first_divergent: Compared | None = None
    translation: str = ""  # where the translation came from

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.outputs)


# --- inputs and weights ---------------------------------------------------------

_SPEC = re.compile(r"^(\w+)\[([\d,\s]*)\](?::(-?[\d.]+):(-?[\d.]+))?$")


def make_input(spec: str, rng: np.random.Generator) -> np.ndarray:
    """``float32[2,3,32,32]`` (standard normal), ``float32[2,8]:0:1`` (uniform),
    ``int64[2,7]:0:100`` (integers in [0, 100)), ``bool[4]``."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise VerifyError(f"bad input spec {spec!r}: expected like float32[2,3,32,32] or int64[2,7]:0:100")
    dtype, shape, lo, hi = m.groups()
    shape = tuple(int(s) for s in shape.split(",") if s.strip())
    if dtype.startswith("int"):
        return rng.integers(int(float(lo or 0)), int(float(hi or 10)), size=shape).astype(np.int64)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype not in ("float32", "float64", "float16"):
        raise VerifyError(f"bad input dtype {dtype!r} in {spec!r}")
    if lo is not None:
        return rng.uniform(float(lo), float(hi), size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def perturb(model, seed: int = 0) -> None:
    """Move parameters and BatchNorm statistics away from their defaults."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            # keep each tensor's scale (activations stay O(1) through deep nets) but move every entry
            scale = float(p.abs().mean()) if p.numel() else 0.0
            noise = torch.randn(p.shape, generator=g)
            if scale == 0.0:
                p.copy_(noise * 0.1)
            else:
                p.copy_(p * (1 + 0.2 * noise) + 0.1 * scale * torch.randn(p.shape, generator=g))
        persistent = set(model.state_dict())
        for name, b in model.named_buffers():
            if name not in persistent:
                continue
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.5)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif b.is_floating_point():
                b.copy_(torch.randn(b.shape, generator=g))


# --- layouts ---------------------------------------------------------------------


def _perm(tag):
    if tag is None or getattr(tag, "kind", None) != "tensor" or tag.perm is None:
        return None
    perm = tuple(tag.perm)
    return None if perm == tuple(range(len(perm))) else perm


def _to_torch_order(arr: np.ndarray, perm) -> np.ndarray:
    if perm is None or arr.ndim != len(perm):
        return arr
    return np.transpose(arr, np.argsort(perm))


def _channels_last_candidates(t: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    """The NNX value read in torch's order: as it is, or channels-last moved back
    (a layer's output layout is not recorded; both readings are tried)."""
    out = []
    if j.shape == t.shape:
        out.append(j)
    if 3 <= j.ndim <= 5:
        back = np.moveaxis(j, -1, 1)
        if back.shape == t.shape:
            out.append(back)
    return out


def _flat(value) -> list:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flat(v)]
    return [value]


def _np(v):
    try:
        import torch

        if isinstance(v, torch.Tensor):
            return v.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(v)


def _compare(name: str, t, j, perm=None, atol=ATOL, rtol=RTOL, guess_layout=False) -> Compared:
    t, j = _np(t), _np(j)
    if t.dtype == object or j.dtype == object:
        return Compared(name, None, True, note="not an array")
    cands = _channels_last_candidates(t, j) if guess_layout else [_to_torch_order(j, perm)]
    cands = [c for c in cands if c.shape == t.shape]
    if not cands:
        return Compared(name, None, False, tuple(t.shape), tuple(j.shape), "shape differs")
    if t.size == 0:
        return Compared(name, 0.0, True, tuple(t.shape), tuple(j.shape))
    best = None
    for c in cands:
        diff = np.abs(c.astype(np.float64) - t.astype(np.float64))
        d = float(np.max(diff))
        ok = bool(np.all(diff <= atol + rtol * np.abs(t.astype(np.float64))))
        if best is None or (ok, -d) > (best[1], -best[0]):
            best = (d, ok)
    return Compared(name, best[0], best[1], tuple(t.shape), tuple(j.shape))


# --- importing the two models ----------------------------------------------------


def import_source(path: Path):
    """Import the torch source as its package would (relative imports work)."""
    from .api import package_of

    path = path.resolve()
    package = package_of(path)
    if package:
        root = path.parent
        for _ in package.split("."):
            root = root.parent
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return importlib.import_module(f"{package}.{path.stem}")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    return _load_file(path)


def _load_file(path: Path, name: str | None = None):
    name = name or f"t2n_verify_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _load_translation(code_path: Path, weights_path: Path):
    """The translation and its weights module, importable as a pair (the
    translation finds its weights module by name, <module>_weights)."""
    shared = _shared_top(code_path)
    if shared is not None:
        # a translation of a multi-file run imports its tree's shared helpers
        # relatively: imported as a module of the package it sits in
        root = str(shared.parent)
        if root not in sys.path:
            sys.path.insert(0, root)
        names = [".".join([shared.name, *p.parent.resolve().relative_to(shared).parts, p.stem])
                 for p in (code_path, weights_path)]
        for name in names:
            sys.modules.pop(name, None)
        return importlib.import_module(names[0]), importlib.import_module(names[1])
    d = str(code_path.parent.resolve())
    if d not in sys.path:
        sys.path.insert(0, d)
    for name in (code_path.stem, weights_path.stem):
        sys.modules.pop(name, None)
    return importlib.import_module(code_path.stem), _load_file(weights_path)


def _shared_top(code_path: Path) -> Path | None:
    """The directory of the shared helpers module the translation imports, if any."""
    from .shared_helpers import STEM

    if STEM not in code_path.read_text(encoding="utf-8"):
        return None
    for d in code_path.resolve().parents:
        if (d / f"{STEM}.py").is_file():
            return d
    return None


# --- per-layer capture -------------------------------------------------------------


@contextmanager
def _torch_hooks(model, records: list):
    handles = []
    for name, m in model.named_modules():
        if name:
            handles.append(m.register_forward_hook(lambda mod, args, out, name=name: records.append((name, out))))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _nnx_paths(model) -> dict[int, str]:
    """id(submodule) -> its torch-style dotted path (nnx.Sequential keeps its
    layers in a ``layers`` list: ``features.layers.3`` is torch's ``features.3``)."""
    from flax import nnx

    nodes = {}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Module):
            nodes[tuple(path)] = node
    out = {}
    for path, node in nodes.items():
        if not path:
            continue
        parts = []
        for i, p in enumerate(path):
            if p == "layers" and isinstance(nodes.get(tuple(path[:i])), nnx.Sequential):
                continue
            parts.append(str(p))
        out.setdefault(id(node), ".".join(parts))
    return out


@contextmanager
def _nnx_capture(model, records: list):
    paths = _nnx_paths(model)
    from flax import nnx

    classes = {type(n) for _, n in nnx.iter_graph(model) if isinstance(n, nnx.Module)}
    saved = {}
    for cls in classes:
        saved[cls] = cls.__dict__.get("__call__")
        inner = cls.__call__

        def wrapper(self, *args, __inner=inner, __cls=cls, **kwargs):
            out = __inner(self, *args, **kwargs)
            # only the class's own wrapper records (not a base class's, reached through super())
            if type(self) is __cls and id(self) in paths:
                records.append((paths[id(self)], out))
            return out

        cls.__call__ = wrapper
    try:
        yield
    finally:
        for cls, f in saved.items():
            if f is None:
                del cls.__call__
            else:
                cls.__call__ = f


def _compare_layers(t_records, j_records, atol, rtol) -> tuple[list[Compared], Compared | None]:
    by_name: dict[str, list] = {}
    for name, out in j_records:
        by_name.setdefault(name, []).append(out)
    seen: dict[str, int] = {}
    rows, first = [], None
    for name, t_out in t_records:
        k = seen.get(name, 0)
        seen[name] = k + 1
        label = name if k == 0 else f"{name} (call {k + 1})"
        calls = by_name.get(name, [])
        if k >= len(calls):
            continue  # a stateless torch layer: a plain function in NNX, nothing to hook
        t_items, j_items = _flat(t_out), _flat(calls[k])
        if len(t_items) != len(j_items):
            row = Compared(label, None, False, note=f"{len(t_items)} outputs in torch, {len(j_items)} in NNX")
        else:
            parts = [_compare(label, a, b, atol=atol, rtol=rtol, guess_layout=True) for a, b in zip(t_items, j_items)]
            parts = [p for p in parts if p.note != "not an array"] or parts
            bad = [p for p in parts if not p.ok]
            row = bad[0] if bad else max(parts, key=lambda p: p.max_diff or 0.0)
        rows.append(row)
        if first is None and not row.ok:
            first = row
    return rows, first


# --- verify ------------------------------------------------------------------------


def parse_target(target: str) -> tuple[Path, str]:
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise VerifyError(f"expected path/to/model.py:NAME, got {target!r}")
    return Path(path), name


def prepare_translation(source_path: Path, translation: Path | None = None, weights: Path | None = None,
                        *, need_result: bool = True):
    """(translate result, translation path, weights module path, where it came
    from, temporary directory or None): ``translation`` (and its weights module)
    when given, else ``source_path`` and the files of its package it imports
    translated now into a temporary directory (cleaned up by the caller).
    The result's summaries say what layout the translation takes and returns."""
    from .api import translate_many

    if translation is not None:
        weights = weights or translation.with_name(translation.stem + "_weights.py")
        if not weights.is_file():
            raise VerifyError(f"no weights module {weights} next to {translation} (give --weights)")
        if not need_result:
            return None, translation, weights, str(translation), None
    files, main = _run_files(source_path)
    targets = {m: ("_".join(m.split(".")) if m != main else source_path.stem) + "_nnx" for m in files}
    if translation is not None:
        targets[main] = translation.stem
    results = translate_many(files, targets)
    if translation is not None:
        return results[main], translation, weights, str(translation), None
    tmp = tempfile.TemporaryDirectory(prefix="t2n-verify-")
    for m, r in results.items():
        (Path(tmp.name) / f"{targets[m]}.py").write_text(r.code, encoding="utf-8")
        (Path(tmp.name) / f"{targets[m]}_weights.py").write_text(r.weights_code, encoding="utf-8")
    what = "translated now" + (f" with {len(files) - 1} more file(s) it imports" if len(files) > 1 else "")
    return (results[main], Path(tmp.name) / f"{targets[main]}.py", Path(tmp.name) / f"{targets[main]}_weights.py",
            what, tmp)


def verify(source_path: Path, name: str, *, kwargs: dict | None = None, inputs: list[str],
           translation: Path | None = None, weights: Path | None = None, per_layer: bool = False,
           atol: float = ATOL, rtol: float = RTOL, seed: int = 0, train: bool = False) -> Report:
    import jax.numpy as jnp
    import torch
    from flax import nnx

    kwargs = kwargs or {}
    report = Report()
    result, code_path, weights, report.translation, tmp = prepare_translation(source_path, translation, weights)
    try:
        tmod = import_source(source_path)
        jmod, wmod = _load_translation(code_path, weights)
        for mod, what in ((tmod, source_path), (jmod, code_path)):
            if not callable(getattr(mod, name, None)):
                raise VerifyError(f"{what} has no class or function {name!r}")
        torch.manual_seed(seed)
        t_model = getattr(tmod, name)(**kwargs)
        if not isinstance(t_model, torch.nn.Module):
            raise VerifyError(f"{name}(**kwargs) did not build a torch.nn.Module")
        perturb(t_model, seed)
        j_model = getattr(jmod, name)(**kwargs, rngs=nnx.Rngs(seed))
        wmod.load_torch_state_dict(j_model, t_model.state_dict(), strict=True)

        summary = result.layout_of(name) or result.layout_of(type(t_model).__name__)
        params = [p for p in summary.params if p != "self"] if summary else []
        rng = np.random.default_rng(seed)
        arrays = [make_input(s, rng) for s in inputs]
        j_inputs = []
        for i, arr in enumerate(arrays):
            perm = _perm(summary.takes.get(params[i])) if summary and i < len(params) else None
            j_inputs.append(np.transpose(arr, perm) if perm is not None and arr.ndim == len(perm) else arr)
        if train:
            t_model.train()
            j_model.train()
        else:
            t_model.eval()
            j_model.eval()
        t_records: list = []
        j_records: list = []
        with torch.no_grad(), (_torch_hooks(t_model, t_records) if per_layer else _null()):
            t_out = t_model(*[torch.from_numpy(a.copy()) for a in arrays])
        with _nnx_capture(j_model, j_records) if per_layer else _null():
            j_out = j_model(*[jnp.asarray(a) for a in j_inputs])

        ret = summary.returns if summary else None
        t_items, j_items = _flat(t_out), _flat(j_out)
        if len(t_items) != len(j_items):
            report.outputs.append(Compared("output", None, False,
                                           note=f"{len(t_items)} outputs in torch, {len(j_items)} in NNX"))
        else:
            perms = [_perm(ret)] * len(t_items)
            if ret is not None and ret.kind == "seq" and isinstance(ret.module, tuple) and \
                    len(ret.module) == len(t_items):
                perms = [_perm(t) for t in ret.module]
            for i, (a, b) in enumerate(zip(t_items, j_items)):
                label = "output" if len(t_items) == 1 else f"output[{i}]"
                known = ret is not None and ret.kind in ("tensor", "seq")
                report.outputs.append(_compare(label, a, b, perms[i], atol, rtol, guess_layout=not known))
        if per_layer:
            report.layers, report.first_divergent = _compare_layers(t_records, j_records, atol, rtol)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return report


def _run_files(path: Path) -> tuple[dict, str]:
    """{module: (path, source)} of ``path`` and the torch files of its package it
    imports (transitively); and ``path``'s module name."""
    from .api import package_of
    from .project import _scan, decode_source, module_name

    path = path.resolve()
    main = module_name(path)
    package = package_of(path)
    root = path.parent
    for _ in (package.split(".") if package else []):
        root = root.parent
    files, todo = {}, [(main, path)]
    while todo:
        mod, p = todo.pop()
        if mod in files:
            continue
        source = decode_source(p.read_bytes(), str(p))
        names, uses_torch, _ = _scan(source, package_of(p))
        if mod != main and not uses_torch:
            continue  # imported from the original package, as it is
        files[mod] = (str(p), source)
        if not package:
            continue
        for q in names:
            # `from a.b import c`: module a.b.c when there is one, else a name of a.b
            for cand in (q, q.rpartition(".")[0]):
                base = root.joinpath(*cand.split("."))
                found = [f for f in (base.with_suffix(".py"), base / "__init__.py")
                         if cand.split(".")[0] == package.split(".")[0] and f.is_file()]
                if found:
                    todo.append((cand, found[0]))
                    break
    return files, main


@contextmanager
def _null():
    yield


def format_report(report: Report, atol: float = ATOL) -> str:
    lines = []
    if report.layers is not None:
        width = max([5] + [len(c.name) for c in report.layers])
        lines.append(f"{'layer':{width}}  {'torch shape':20}  max abs diff")
        for c in report.layers:
            lines.append(f"{c.name:{width}}  {str(c.torch_shape):20}  {_diff_text(c)}")
        if report.first_divergent is not None:
            c = report.first_divergent
            what = f"max abs diff {c.max_diff:.2e}" if c.max_diff is not None else _diff_text(c)
            lines.append(f"first diverging layer: {c.name} ({what})")
        else:
            lines.append("no layer diverges")
    for c in report.outputs:
        lines.append(f"{c.name}: max abs diff {_diff_text(c)}")
    return "\n".join(lines) + "\n"


def _diff_text(c: Compared) -> str:
    if c.max_diff is None:
        return f"- ({c.note}{': torch ' + str(c.torch_shape) + ', nnx ' + str(c.nnx_shape) if c.torch_shape else ''})"
    return f"{c.max_diff:.2e} ({'OK' if c.ok else 'DIFFERS'})"
