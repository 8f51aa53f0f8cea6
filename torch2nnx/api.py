"""The library API. It never writes files; cli.py does."""

from __future__ import annotations

from .translator.context import Options
from .translator.module import ParseError, TranslateResult, translate_source


def translate(source: str, path: str = "<stdin>", *, line_length: int = 88, weights: bool = True,
              module_name: str | None = None, package: str | None = None,
              absolutize: bool = True, siblings: dict | None = None, extra_weight_maps: dict | None = None,
              reexports: dict | None = None, external_hints: dict | None = None,
              registrants: list | None = None, shared: str | None = None,
              weights_shared: str | None = None) -> TranslateResult:
    """Translate one file's source. Raises ParseError for unparseable input.

    ``package``: the source's package (``torchvision.models``): relative
    imports resolve against it; with ``absolutize`` (the translation is
    written outside that package) they become absolute imports of it.
    ``shared`` / ``weights_shared``: the module of the run's shared helpers
    (shared_helpers.py), as the translation / its weights module import it.
    """
    return translate_source(source, path, Options(line_length=line_length, weights=weights, package=package,
                                                  absolutize=absolutize,
                                                  siblings=siblings, extra_weight_maps=extra_weight_maps,
                                                  reexports=reexports, external_hints=external_hints,
                                                  registrants=registrants, shared=shared,
                                                  weights_shared=weights_shared),
                            module_name=module_name)


def translate_many(files: dict, targets: dict, *, line_length: int = 88) -> dict:
    """Translate several files that import each other.

    files: {module name (``torchvision.ops.misc``): (path, source)};
    targets: {module name: the translation's module name (``misc_nnx``)}.
    Imports among the files are rewritten to the translations; each file
    sees the classes and layer builders of the files it imports. Returns
    {module name: TranslateResult}, dependencies translated first.
    """
    import libcst as cst

    from .translator.imports import ImportTable

    parsed = {mod: cst.parse_module(source) for mod, (path, source) in files.items()}
    # `from torchvision.ops import StochasticDepth` names a run file's class
    # through the package's __init__: such names resolve to that file
    reexports = {}
    for mod, module in parsed.items():
        package = mod.rpartition(".")[0]
        if package and package not in files:
            for stmt in module.body:
                if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
                    reexports.setdefault(f"{package}.{stmt.name.value}", mod)
    deps = {}
    for mod, module in parsed.items():
        package = mod.rpartition(".")[0] or None
        table = ImportTable.from_module(module, package)
        used = {reexports.get(q, q.rpartition(".")[0]) for q in table.names.values()}
        deps[mod] = used & set(files) - {mod}
    order, done = [], set()

    def visit(m, stack=()):
        if m in done or m in stack:
            return
        for d in sorted(deps[m]):
            visit(d, stack + (m,))
        done.add(m)
        order.append(m)

    for m in sorted(files):
        visit(m)
    def run(hints):
        results, siblings, maps = {}, {}, {}
        for mod in order:
            path, source = files[mod]
            extra = {}
            for d in sorted(deps[mod]):
                extra.update(maps[d])
            result = translate(source, path, line_length=line_length, module_name=targets[mod].rpartition(".")[2],
                               package=mod.rpartition(".")[0] or None, siblings=dict(siblings),
                               extra_weight_maps=extra, reexports=reexports, external_hints=hints.get(mod))
            maps[mod] = {**extra, **result.weight_maps}
            siblings[mod] = (targets[mod], result.exports, result.summaries, result.function_summaries,
                             result.rngs_methods, result.builder_returns)
            results[mod] = result
        return results

    results = run({})
    # dependencies were translated before their callers: what the callers hand
    # their classes (channels-last images) makes a second pass translate them for it
    hints: dict = {}
    for result in results.values():
        for (mod, *key), tag in result.external_hints.items():
            if mod in files:
                hints.setdefault(mod, {})[tuple(key)] = tag
    return run(hints) if hints else results


def package_of(path) -> str | None:
    """The dotted package of a source file, from the __init__.py files above it."""
    from pathlib import Path

    parts = []
    d = Path(path).resolve().parent
    while (d / "__init__.py").exists():
        parts.append(d.name)
        d = d.parent
    return ".".join(reversed(parts)) or None


__all__ = ["translate", "TranslateResult", "ParseError", "Options"]
