"""Translating a project: which files, where their translations go, and what
would change on disk. Nothing here writes a file (cli.py does); a run returns
one :class:`Outcome` per source file, with the new contents and the old.

A run is one set of files that may import each other: files are translated
in dependency order, each seeing the classes and layer builders of the files
it imports, and imports among them point to the translations. A file that
fails never stops the others; files importing it keep importing the original.
"""

from __future__ import annotations

import difflib
import fnmatch
import glob
import io
import os
import tokenize
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import incremental, shared_helpers
from .api import package_of, translate
from .diagnostics import Diagnostic
from .translator import any_rank
from .translator import layout as L
from .translator import sequential_returns
from .translator.layout import MIXED, merge_callers
from .translator.module import ParseError

TRANSLATED = "translated"  # an output is new or differs from the file on disk
UNCHANGED = "unchanged"  # every output on disk is already what the translator makes
SKIPPED = "skipped"  # the file does not use torch (nor import a translated file)
FAILED = "failed"

GLOB_CHARS = set("*?[")
# directories a tree walk never enters
SKIP_DIRS = {"__pycache__", "node_modules", "build", "dist"}


class InputError(Exception):
    """The source bytes cannot be decoded; carries a ready T2N900 line."""


def decode_source(data: bytes, display: str) -> str:
    """Bytes -> str honouring a PEP 263 coding cookie or a BOM (like black).

    Newlines are normalised to ``\\n``.
    """
    buf = io.BytesIO(data)
    try:
        encoding, _ = tokenize.detect_encoding(buf.readline)
    except SyntaxError as e:
        raise InputError(f"{display}:1:1: T2N900 cannot parse: {e.msg}") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as e:
        if isinstance(e, UnicodeDecodeError):
            line = data.count(b"\n", 0, e.start) + 1
            column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
            reason = f"cannot decode as {encoding}: {e.reason}"
        else:
            line, column, reason = 1, 1, f"unknown encoding {encoding}"
        raise InputError(f"{display}:{line}:{column}: T2N900 cannot parse: {reason}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass
class Unit:
    """One source file and where its translation goes."""

    src: Path
    out: Path
    weights: Path | None  # the weights module, None for none
    module: str  # the source's dotted module name (how other files import it)
    target: str  # the translation's dotted module name
    package: str | None  # the source's package: its relative imports resolve against it
    explicit: bool = True  # named by the user (a walked directory's files are not): never skipped
    absolutize: bool = True  # relative imports become absolute: the translation is written elsewhere

    @property
    def outputs(self) -> list[Path]:
        return [self.out] + ([self.weights] if self.weights is not None else [])


@dataclass
class Change:
    path: Path
    old: str | None  # None: the file does not exist yet
    new: str

    def diff(self, display: str | None = None) -> str:
        name = display or str(self.path)
        return "".join(difflib.unified_diff(
            (self.old or "").splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"a/{name}" if self.old is not None else "/dev/null", tofile=f"b/{name}"))


@dataclass
class Outcome:
    unit: Unit
    status: str
    changes: list[Change] = field(default_factory=list)  # outputs whose contents would change
    diagnostics: list[Diagnostic] = field(default_factory=list)
    todo_count: int = 0
    error: str | None = None  # FAILED: why (a ready ``path:line:col: T2N900 ...`` line or a message)


class PlanError(Exception):
    """The command cannot be planned (paths that do not exist, an output over an input)."""


# --- planning: sources -> units ---------------------------------------------


def module_name(path: Path) -> str:
    package = package_of(path)
    if path.stem == "__init__":
        return package or path.parent.name
    return f"{package}.{path.stem}" if package else path.stem


def walk(directory: Path, skip: Iterable[Path] = (), exclude: Iterable[str] = ()) -> list[Path]:
    """The .py files under ``directory``, sorted; hidden and build directories,
    ``skip`` (output trees) and ``exclude`` globs are left out."""
    skip = {p.resolve() for p in skip}
    out = []
    for root, dirs, files in os.walk(directory):
        r = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS
                         and (r / d).resolve() not in skip)
        for name in sorted(files):
            p = r / name
            if name.endswith(".py") and not excluded(p, directory, exclude):
                out.append(p)
    return out


def excluded(path: Path, base: Path, patterns: Iterable[str]) -> bool:
    rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.as_posix(), pat) for pat in patterns)


def weights_path(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix + ".py")


def dotted_package(directory: Path) -> str | None:
    """The dotted name ``directory`` is imported as, from the __init__.py above it."""
    return package_of(directory / "x.py")


def mirror_units(src_dir: Path, out_dir: Path, *, weights_suffix: str | None, exclude=(),
                 skip: Iterable[Path] = ()) -> list[Unit]:
    """``translate DIR -o OUTDIR``: the tree mirrored, same file names."""
    src_pkg = dotted_package(src_dir) if (src_dir / "__init__.py").exists() else None
    if src_pkg is not None:
        # the mirror is a package beside (or below) the source's: parent.<OUTDIR name>
        parent = dotted_package(out_dir.parent) if out_dir.parent.exists() else None
        mirror_pkg = f"{parent}.{out_dir.name}" if parent else out_dir.name
    units = []
    for src in walk(src_dir, skip=[out_dir, *skip], exclude=exclude):
        if looks_translated(src):
            continue  # a translation written next to its source earlier
        rel = src.relative_to(src_dir)
        out = out_dir / rel
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if src_pkg is not None:
            target = ".".join([mirror_pkg] + parts)
        else:
            target = ".".join(parts) or out_dir.name
        weights = None if weights_suffix is None or src.name == "__init__.py" else weights_path(out, weights_suffix)
        units.append(Unit(src, out, weights, module_name(src), target, package_of(src), explicit=False))
    return units


def file_unit(src: Path, out: Path, *, weights: Path | None, absolute: bool | None = None) -> Unit:
    """One file to one file. ``absolute``: make relative imports absolute (default:
    when the translation is written away from its source's directory)."""
    if absolute is None:
        absolute = out.resolve().parent != src.resolve().parent
    out_pkg = package_of(out) if out.parent.exists() else None
    target = f"{out_pkg}.{out.stem}" if out_pkg else out.stem
    return Unit(src, out, weights, module_name(src), target, package_of(src), absolutize=absolute)


def suffix_units(srcs: Iterable[Path], suffix: str, *, weights_suffix: str | None) -> list[Unit]:
    """Each file next to its source as <stem><suffix>.py."""
    units = []
    for src in srcs:
        if looks_translated(src):
            continue  # a translation from an earlier run (a glob over the directory names it too)
        out = src.with_name(src.stem + suffix + ".py")
        w = weights_path(out, weights_suffix) if weights_suffix is not None else None
        units.append(file_unit(src, out, weights=w, absolute=True))
    return units


def expand_glob(pattern: str, template: str, base: Path) -> list[tuple[Path, Path]]:
    """``zoo/*/model.py`` -> ``{dir}/{stem}_nnx.py``: (source, target) per match."""
    pairs = []
    for match in sorted(glob.glob(str(base / pattern), recursive=True)):
        p = Path(match)
        if not p.is_file() or not p.name.endswith(".py"):
            continue
        rel_dir = os.path.relpath(p.parent, base)
        try:
            target = template.format(dir=rel_dir, stem=p.stem, name=p.name)
        except (KeyError, IndexError, ValueError) as e:
            raise PlanError(f"target {template!r} of {pattern!r}: use {{dir}}, {{stem}}, {{name}} ({e})") from None
        pairs.append((p, base / target))
    return pairs


def config_units(paths: dict[str, str], base: Path, *, weights_suffix: str | None, exclude=()) -> list[Unit]:
    """The units of pyproject's ``[tool.torch2nnx.paths]``."""
    units: list[Unit] = []
    dir_targets = [base / t for s, t in paths.items() if not (GLOB_CHARS & set(s)) and (base / s).is_dir()]
    for source, target in paths.items():
        if GLOB_CHARS & set(source):
            for src, out in expand_glob(source, target, base):
                if not excluded(src, base, exclude):
                    w = weights_path(out, weights_suffix) if weights_suffix is not None else None
                    unit = file_unit(src, out, weights=w)
                    unit.explicit = False  # a glob may match files without torch: skip those
                    units.append(unit)
            continue
        src = base / source
        if src.is_dir():
            units += mirror_units(src, base / target, weights_suffix=weights_suffix, exclude=exclude, skip=dir_targets)
        elif src.is_file():
            out = base / target
            w = weights_path(out, weights_suffix) if weights_suffix is not None else None
            units.append(file_unit(src, out, weights=w))
        else:
            raise PlanError(f"{source!r} in [tool.torch2nnx.paths] does not exist")
    # a glob or a tree also matches the translations written next to their sources
    outputs = {o.resolve() for u in units for o in u.outputs}
    return [u for u in units if u.src.resolve() not in outputs]


def looks_translated(path: Path) -> bool:
    """A translation torch2nnx wrote (``model_nnx.py`` next to ``model.py``, its
    weights module): never a source to translate again."""
    stem = path.stem
    if stem == shared_helpers.STEM:
        return True  # the helpers a run's translations share
    for suffix in ("_weights", ""):
        base = stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem
        if base.endswith("_nnx") and path.with_name(base[: -len("_nnx")] + ".py").is_file():
            return True
    return False


def followed_units(units: list[Unit], weights_suffix: str | None) -> list[Unit]:
    """The model files of their own packages that ``units`` import, transitively
    (those using torch), each to be translated next to its source, relative
    imports kept: so a translation's imports of them resolve."""
    from .follow import followed

    have = {u.src.resolve() for u in units}
    srcs = [u.src for u in units if u.package and u.explicit]
    if not srcs:
        return []
    extra = []
    files, _ = followed(srcs)
    for f in files:
        if f in have or looks_translated(f):
            continue
        out = f.with_name(f.stem + "_nnx.py")
        w = weights_path(out, weights_suffix) if weights_suffix is not None and f.name != "__init__.py" else None
        u = file_unit(f, out, weights=w, absolute=False)
        u.explicit = False
        extra.append(u)
        have.add(f)
    return extra


def check_units(units: list[Unit]) -> list[Unit]:
    """Drop duplicates; refuse an output over a source or two sources onto one output."""
    seen_src: dict[Path, Unit] = {}
    for u in units:
        seen_src.setdefault(u.src.resolve(), u)
    units = list(seen_src.values())
    sources = set(seen_src)
    owners: dict[Path, Unit] = {}
    for u in units:
        for o in u.outputs:
            r = o.resolve()
            if r in sources:
                raise PlanError(f"{o} is an input file; refusing to overwrite it (translation of {u.src})")
            if r in owners:
                raise PlanError(f"{owners[r].src} and {u.src} would both be translated to {o}")
            owners[r] = u
    return units


# --- running: units -> outcomes ---------------------------------------------


def _deps_of(tree_imports: dict, modules: set[str]) -> set[str]:
    """The run's modules that imported names come from: ``a.b.c`` is module
    ``a.b.c`` when the run has it (``from a.b import c``), else a name in ``a.b``."""
    out = set()
    for q in tree_imports:
        for cand in (q, q.rpartition(".")[0]):
            if cand in modules:
                out.add(cand)
                break
    return out


def dependency_levels(deps: dict[str, set[str]]) -> list[list[str]]:
    """Modules in an order where each comes after what it imports: groups of
    mutually importing modules (strongly connected components, Tarjan's
    algorithm), dependencies first, each group in name order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        work = [(v, iter(sorted(deps.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in deps:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(deps.get(w, ())))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        group.append(w)
                        if w == node:
                            break
                    groups.append(sorted(group))

    for v in sorted(deps):
        if v not in index:
            strongconnect(v)
    return groups


def _reexports(imports: dict, by_mod: dict, modules: set[str]) -> dict[str, dict[str, str]]:
    """Per file: {imported name: the run's module defining it} for names that a
    package's ``__init__.py`` re-exports (``from timm.layers import DropPath``
    -> ``timm.layers.drop``), so the import can name that file's translation."""
    from .follow import Reexports, package_root
    from .rules import registry

    resolvers: dict[Path, Reexports] = {}
    out: dict[str, dict[str, str]] = {}
    for mod, names in imports.items():
        u = by_mod[mod]
        package = u.package or package_of(u.src)
        out[mod] = {}
        if not package:
            continue
        root = package_root(u.src, package)
        res = resolvers.setdefault(root, Reexports(root))
        for q in names:
            if registry.lookup(q) is not None:
                continue  # a row knows the public name
            real = res.resolve(q)
            origin = real.rpartition(".")[0]
            if real != q and origin in modules and real.rpartition(".")[2] == q.rpartition(".")[2]:
                out[mod][q] = origin
    return out


def _scan(source: str, package: str | None, path=None):
    """(imported qualified names, uses torch, the other files read) from the
    module-level imports (star imports of the package's own modules included)."""
    import libcst as cst

    from .follow import reads, star_resolver
    from .translator.imports import ImportTable, torch_like

    star = star_resolver(path, package) if path is not None else None
    with reads() as read:
        table = ImportTable.from_module(cst.parse_module(source), package, star=star)
    names = set(table.names.values())
    # a star import's names are traced to the module defining them; the file also
    # depends on the module it star-imports (translated first, it is the import's target)
    return names | table.star_modules, any(torch_like(q) for q in names), read


def _translate_job(job):
    """Worker: translate one file. Returns (module, result or None, error or None)."""
    mod, path, source, kwargs = job
    try:
        return mod, translate(source, path, **kwargs), None
    except ParseError as e:
        return mod, None, e.diagnostic.format(path)
    except Exception as e:  # a translator bug: this file fails, the others go on
        return mod, None, f"{path}: error: cannot translate: {type(e).__name__}: {e}"


def read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None


def run(units: list[Unit], *, line_length: int = 88, workers: int = 1, cache=None,
        progress: Callable[[int], None] | None = None, display: Callable[[Path], str] = str) -> list[Outcome]:
    """Translate ``units`` (one run: they may import each other). Returns
    their outcomes, in the order of ``units``. Never writes."""
    outcomes: dict[str, Outcome] = {}
    sources: dict[str, str] = {}
    by_mod: dict[str, Unit] = {}
    keys = []
    places = {}  # module -> where its translation's shared helpers live (None: in the file)
    for u, place in zip(units, shared_helpers.plan(units)):
        # files of one name outside packages (zoo/a/model.py, zoo/b/model.py): only the
        # first is importable by that name; the others keep a key no import matches
        key = u.module if u.module not in by_mod else f"{u.module}@{u.src}"
        keys.append(key)
        by_mod[key] = u
        places[key] = place
        try:
            sources[key] = decode_source(u.src.read_bytes(), display(u.src))
        except InputError as e:
            outcomes[key] = Outcome(u, FAILED, error=str(e))
        except OSError as e:
            outcomes[key] = Outcome(u, FAILED, error=f"{display(u.src)}: error: cannot read: {e.strerror or e}")

    # up-to-date files need no parsing at all
    if cache is not None:
        for mod, src in sources.items():
            u = by_mod[mod]
            hit = cache.lookup(u, src, sources)
            if hit is not None:
                outcomes[mod] = hit
        if all(m in outcomes for m in by_mod):
            if progress:
                progress(len(units))
            _shared_changes(keys, outcomes, places, line_length, cache)
            return [outcomes[k] for k in keys]

    imports, uses_torch = {}, {}
    for mod, src in sources.items():
        package = by_mod[mod].package or package_of(by_mod[mod].src)
        known = cache.scan(src, package, by_mod[mod].src) if cache is not None else None
        if known is not None:
            imports[mod], uses_torch[mod] = known
            continue
        try:
            imports[mod], uses_torch[mod], read = _scan(src, package, by_mod[mod].src)
        except Exception:  # a parse error: the translation reports it
            imports[mod], uses_torch[mod] = set(), True
            continue
        if cache is not None:
            cache.record_scan(src, package, by_mod[mod].src, imports[mod], uses_torch[mod], read)
    modules = set(sources)
    # names a package's __init__.py re-exports, traced to the run's file that defines them
    reexports = _reexports(imports, by_mod, modules)
    # a re-exported name comes from the module defining it; the package the import names
    # is a dependency too (translated first, it is what the rewritten import names)
    deps = {m: _deps_of({f"{reexports[m][q]}.{q.rpartition('.')[2]}" if q in reexports[m] else q
                         for q in imports[m]} | imports[m], modules) - {m} for m in sources}
    # a file's cache entry depends on every file it imports, transitively: their layouts reach it
    closure = incremental.closures(deps)
    # a file is translated when it uses torch, was named explicitly, or imports a translated file
    chosen = {m for m in sources if uses_torch[m] or by_mod[m].explicit}
    grew = True
    while grew:
        grew = False
        for m in sources:
            if m not in chosen and deps[m] & chosen:
                chosen.add(m)
                grew = True
    for m in sources:
        if m not in chosen and m not in outcomes:
            outcomes[m] = Outcome(by_mod[m], SKIPPED)
            if cache is not None:
                cache.record(outcomes[m], sources[m], sources, {}, closure[m])
    todo = {m for m in chosen if m not in outcomes}
    registering, registering_modules = _registering(chosen, by_mod, deps)
    if progress and len(units) > len(todo):
        progress(len(units) - len(todo))  # known without translating: cached, skipped, unreadable
    # the files the stale ones import are translated too: their classes and builders are
    # needed (read from the cache for the up-to-date ones that have them)
    need, reused = incremental.needed(todo, chosen, outcomes, by_mod, sources, cache)

    results: dict = {m: rec.first for m, rec in reused.items()}
    redo: set = set()  # up-to-date files whose output the second pass changes
    kept: set = set()  # up-to-date files whose cached second pass is this run's
    pool = _pool(workers) if workers > 1 and len(need) >= 3 else None
    try:
        _translate_levels(need, need, deps, by_mod, sources, reexports, results, outcomes, pool, line_length,
                          display, lambda m: progress(1) if progress and m in todo else None, {}, registering,
                          places)
        # dependencies were translated before their importers: what the importers hand their
        # classes (channels-last images) makes a second pass translate those files for it,
        # and the files importing them again (their layout summaries changed)
        # what all importers hand one parameter, merged (tokens here, images there: MIXED)
        if reused:  # what importers hand is merged in the order a full run makes
            results = incremental.full_order(results, deps)
        handed: dict = {}
        for result in results.values():
            for (mod, *key), tag in result.external_hints.items():
                if mod in results:
                    old = handed.get((mod, tuple(key)))
                    handed[(mod, tuple(key))] = merge_callers(old, tag, _generic(results[mod], key))
                    if any_rank.joins_unknown_rank(old, tag, handed[(mod, tuple(key))]):
                        # an image from one file, a tensor of unknown rank from another: the
                        # class runs on both, as when both callers share its file (any_rank.py)
                        handed[(mod, (key[0], key[1], any_rank.KEY))] = any_rank.MARK
        hints: dict = {}
        for (mod, key), tag in handed.items():
            if not _already_takes(results[mod], key, tag):
                hints.setdefault(mod, {})[key] = tag
        if hints:
            for (mod, key), tag in handed.items():  # the whole picture: hints the first pass already honoured too
                if mod in hints:
                    hints[mod].setdefault(key, tag)
            again = set(hints)
            grew = True
            while grew:
                grew = False
                for m in results:
                    if m not in again and deps[m] & again:
                        again.add(m)
                        grew = True
            firsts = dict(results)
            kept = incremental.kept_second_passes(again, deps, reused, hints)
            results.update({m: reused[m].final for m in kept})
            # an importer none of whose imports reads differently now would be translated to
            # what it was: it is not translated again
            same = incremental.Unchanged(firsts, results, deps, registering_modules)
            second = _translate_levels(again - kept, need | again, deps, by_mod, sources, reexports, results,
                                       outcomes, pool, line_length, display, lambda m: None, hints, registering,
                                       places, skip=lambda m: m not in hints and same(m))
            redo = {m for m in second if m not in todo and m in results}
        else:
            firsts, second = results, set()
        _record_results(cache, firsts, results, second, hints, by_mod, sources, closure, reused)
        # an up-to-date file whose last translation had a second pass this run does not
        # make: its output is its first pass's
        redo |= {m for m, rec in reused.items() if rec.final is not None and m not in second and m not in kept}
    finally:
        if pool is not None:
            pool.shutdown()
    _registrants_weights(results, registering_modules, deps, by_mod, line_length, display, places, todo | redo)

    for m in sorted(todo | redo):
        if m in outcomes and m not in redo:
            continue
        u, result = by_mod[m], results[m]
        new = {u.out: result.code}
        if u.weights is not None and result.weights_code is not None:
            new[u.weights] = result.weights_code
        changes = []
        for path, text in new.items():
            old = read_text(path)
            if old != text:
                changes.append(Change(path, old, text))
        status = TRANSLATED if changes else UNCHANGED
        outcomes[m] = Outcome(u, status, changes, list(result.diagnostics), result.todo_count)
        if cache is not None:
            # a file filling its registries joining or changing changes its last lines
            cache.record(outcomes[m], sources[m], sources, new, closure[m] | registering_modules.get(m, set()))
    _shared_changes(keys, outcomes, places, line_length, cache)
    return [outcomes[k] for k in keys]


def shared_module(path: Path) -> bool:
    """``path`` is a shared helpers module (shared_helpers.py)."""
    return path.name == shared_helpers.STEM + ".py"


def _imports(place, unit) -> tuple[str | None, str | None]:
    """(how the translation imports its shared helpers, how its weights module does):
    None where they are emitted into the file (a weights module written elsewhere)."""
    if place is None:
        return None, None
    beside = unit.weights is not None and unit.weights.resolve().parent == unit.out.resolve().parent
    return place.module, place.module if beside else None


def _shared_changes(keys: list, outcomes: dict, places: dict, line_length: int, cache=None) -> None:
    """Each shared helpers module offering what its tree's translations import
    (the written ones as they are on disk, the new ones as they will be), added
    to the changes of one of them when the file on disk differs."""
    trees: dict = {}
    for k in keys:
        if places.get(k) is not None:
            trees.setdefault(places[k].path, []).append(k)
    for path, members in trees.items():
        names: set = set()
        carrier = None
        for k in members:
            o = outcomes.get(k)
            if o is None or o.status not in (TRANSLATED, UNCHANGED):
                continue
            new = {c.path: c.new for c in o.changes}
            for out in o.unit.outputs:
                text = new[out] if out in new else read_text(out)
                if text:
                    names |= shared_helpers.imported_names(text)
            if carrier is None or (carrier.status != TRANSLATED and o.status == TRANSLATED):
                carrier = o
        old = read_text(path)
        names |= shared_helpers.held_names(old)
        if not names or carrier is None:
            continue
        # formatting the module is most of an incremental run's time: the cache knows the
        # digest of the text these names give, and the file on disk may be it
        key = ("shared", sorted(names), line_length)
        text = cache.formatted(key, old) if cache is not None else None
        if text is None:
            text = shared_helpers.source(names, line_length)
            if cache is not None:
                cache.record_formatted(key, text)
        if text != old:
            carrier.changes.append(Change(path, old, text))
            carrier.status = TRANSLATED


def _registering(chosen: set, by_mod: dict, deps: dict) -> tuple[dict, dict]:
    """({module: import statements of the run's files that fill its registries when
    torch imports it (registrants.py)}, {module: those files' modules})."""
    from .registrants import registrants

    by_src = {by_mod[m].src.resolve(): m for m in chosen}
    out: dict = {}
    modules: dict = {}

    def closure(m):
        seen, stack = set(), [m]
        while stack:
            for d in deps.get(stack.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    stack.append(d)
        return seen

    for m in sorted(chosen):
        u = by_mod[m]
        regs = [by_src[p] for p in registrants(u.src, u.package or package_of(u.src)) if p in by_src]
        if not regs:
            continue
        lines = []
        for r in regs:
            # imported at the end of m, r may find a file importing m half-initialized (m's
            # import started there: timm's cond_conv2d -> conv2d_same -> _fx), an import
            # cycle torch's package __init__ never meets: such a file is not imported here
            if any(m in closure(x) for x in closure(r) - {m, r}):
                lines.append(f"# {by_mod[r].target} fills this file's registries too; not imported here, "
                             "as it imports files that import this one")
                continue
            parent, _, leaf = by_mod[r].target.rpartition(".")
            if not u.absolutize and parent and parent == u.target.rpartition(".")[0]:
                lines.append(f"from . import {leaf}")  # written next to its source: relative, as its imports
            elif parent:
                lines.append(f"from {parent} import {leaf}")
            else:
                lines.append(f"import {leaf}")
        out[m] = lines
        modules[m] = set(regs)
    return out, modules


def _record_results(cache, firsts: dict, results: dict, second: set, hints: dict, by_mod: dict, sources: dict,
                    closure: dict, reused: dict) -> None:
    """Keep this run's translations for later runs (incremental.py)."""
    if cache is None:
        return
    for m, first in firsts.items():
        if first is not None and (m not in reused or m in second):
            cache.record_result(by_mod[m], sources[m], sources, closure[m], first,
                                results.get(m) if m in second else None, hints.get(m) if m in second else None)


def _registrants_weights(results: dict, registering: dict, deps: dict, by_mod: dict, line_length: int,
                         display, places: dict, which: set) -> None:
    """Models built through a registry build the layers of the files filling it
    (translated after it, as they import it): the weights module of a file reaching
    such a registry knows their layers too."""
    from .translator.weights import formatted_weights_module

    if not registering:
        return
    for m in sorted(results):
        result = results[m]
        if m not in which or result.weights_code is None:  # only the outputs this run makes
            continue
        maps = {**_weight_maps(m, deps, results), **result.weight_maps}
        more = _weight_maps(m, deps, results, registering)
        if set(more) - set(maps):
            maps.update({k: v for k, v in more.items() if k not in maps})
            code = formatted_weights_module(maps, by_mod[m].out.stem, Path(display(by_mod[m].src)).name,
                                            line_length, _imports(places[m], by_mod[m])[1])
            compile(code, by_mod[m].out.stem + "_weights.py", "exec", dont_inherit=True)
            result.weights_code = code


def _translate_levels(which: set, need: set, deps: dict, by_mod: dict, sources: dict, reexports: dict,
                      results: dict, outcomes: dict, pool, line_length: int, display, done_one, hints: dict,
                      registering: dict, places: dict, skip=None) -> set:
    """Translate the modules ``which`` in dependency order (each sees the
    classes, builders, summaries and weight maps of the run's files it
    imports, from ``results``); files of one import cycle one at a time.
    ``skip(m)``, asked when ``m``'s imports are done: leave it as it is.
    Returns the modules translated."""
    groups = dependency_levels({m: deps[m] & need for m in need})
    cyclic = {m for g in groups if len(g) > 1 for m in g}
    order = {m: i for i, g in enumerate(groups) for m in g}
    remaining = set(which)

    def sibling(m):
        r = results[m]
        return (by_mod[m].target, r.exports, r.summaries, r.function_summaries, r.rngs_methods,
                r.builder_returns)

    done = set()
    while remaining:
        level = incremental.next_level(remaining, deps, cyclic, order)
        if skip is not None:
            skipped = [m for m in level if skip(m)]
            remaining.difference_update(skipped)
            level = [m for m in level if m not in skipped]
            if not level:
                continue
        jobs = []
        siblings = {m: sibling(m) for m in results if m not in remaining}
        for m in level:
            u = by_mod[m]
            kwargs = dict(line_length=line_length, weights=u.weights is not None, module_name=u.out.stem,
                          package=u.package, absolutize=u.absolutize, siblings=siblings,
                          extra_weight_maps=_weight_maps(m, deps, results), reexports=reexports[m] or None,
                          external_hints=hints.get(m), registrants=registering.get(m))
            kwargs["shared"], kwargs["weights_shared"] = _imports(places[m], u)
            jobs.append((m, display(u.src), sources[m], kwargs))
        finished = pool.map(_translate_job, jobs) if pool is not None else map(_translate_job, jobs)
        for m, result, error in finished:
            remaining.discard(m)
            done_one(m)
            if result is None:
                outcomes[m] = Outcome(by_mod[m], FAILED, error=error)
                results.pop(m, None)
                continue  # importers keep importing the original
            results[m] = result
            done.add(m)
    return done


def _generic(result, key) -> bool:
    """The class's ``__call__``, translated without hints, left the parameter
    undecided: it takes it in any layout."""
    cls, func, param = key
    summary = result.summaries.get(cls) if func == "__call__" else None
    t = summary.takes.get(param) if summary is not None and param in summary.params else L.UNKNOWN_TAG
    return summary is not None and (t is None or t.kind not in (L.TENSOR, L.SEQ))


def _already_takes(result, key, tag) -> bool:
    """The class's translation already takes what its importer hands it."""
    cls, func, param = key
    if param == any_rank.KEY:  # the mark: taken once the translation runs on any rank
        summary = result.summaries.get(cls) if func == "__call__" else None
        return summary is not None and summary.any_rank
    if tag.kind == MIXED:
        return True  # callers disagree: the first pass, without hints, is what they get
    summary = result.summaries.get(cls) if func == "__call__" else None
    if param == sequential_returns.KEY:
        return sequential_returns.already(summary, tag)
    return summary is not None and summary.takes.get(param) == tag


def _weight_maps(m: str, deps: dict, results: dict, registering: dict | None = None) -> dict:
    """The NNX layer types built by the run's files ``m`` imports, transitively
    (with ``registering``, also by the files filling their registries)."""
    out: dict = {}
    seen = set()
    stack = sorted(deps[m] | (registering or {}).get(m, set()), reverse=True)
    while stack:
        d = stack.pop()
        if d in seen or d not in results:
            continue
        seen.add(d)
        stack.extend(sorted(deps[d] | (registering or {}).get(d, set()), reverse=True))
        out.update(results[d].weight_maps)
    return out


def _pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes forked from a fork server that imported the translator
    once (not fork: a caller that imported JAX or torch has threads a fork
    would copy mid-flight). The server runs with a fixed hash seed, so that
    nothing in a translation can depend on the run: --check must agree with
    the run that wrote the files."""
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["torch2nnx.project"])
        from multiprocessing import forkserver

        saved = os.environ.get("PYTHONHASHSEED")
        os.environ["PYTHONHASHSEED"] = "0"
        try:
            forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["PYTHONHASHSEED"]
            else:
                os.environ["PYTHONHASHSEED"] = saved
    except (ValueError, ImportError):  # no fork server on this platform
        ctx = multiprocessing.get_context("spawn")
    # one file per process: nothing a translation leaves behind reaches the next;
    # each loads the user rules in use here (a forked server knows none of them)
    from .rules import registry

    return ProcessPoolExecutor(workers, mp_context=ctx, max_tasks_per_child=1,
                               initializer=_load_user_rules, initargs=(registry.user_spec(),))


def _load_user_rules(spec: tuple) -> None:
    from .rules import registry

    registry.use_user_rules(*spec)

