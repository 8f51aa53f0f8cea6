"""parse -> analyze -> rewrite -> emit -> report, for one file."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePath

import libcst as cst

from ..diagnostics import Diagnostic
from ..rules import registry
from ..rules.registry import user_modules
from .optional_values import optional_returns
from .rngs_methods import inherited as inherited_rngs_methods
from .analyze import find_builders, find_factory_fields, find_module_classes, find_plain_globals, unit_order
from .function_rewriter import FunctionRewriter
from .builder_layouts import (exported_builder_returns, exported_function_summary, import_builder_return,
                              import_function_summary, qualified_owner)
from .classes import rewrite_class, rewrite_function
from .context import HELPER_ALIAS, FileContext, Options, Summary
from .toplevel_names import module_level_names
from . import autograd_functions, kept_data, layer_attr_names, state_io
from .train_steps import rewrite_train_steps, source_offsets
from .emit import (BUFFER_CLASSES, existing_imports, format_code, helper_source, import_lines, insert_point,
                   referenced_helpers, row_import_lines, used_modules)
from .fastvisit import FastTransformer, FastVisitor
from .imports import ImportTable, absolute_module, dotted, dropped_module, provided, user_module
from .layer_globals import export_kinds, find_layer_globals
from .layout_docs import add_layout_lines
from .leftovers import mark_leftovers
from .positions import LazyPositions
from .module_dicts import desugar_module_dicts
from .rounds import RoundMemo
from .settle import EXTRA_ROUNDS, Settle
from .chosen_forward import add_chosen_forwards
from .splats import expand_splats
from .weights import formatted_weights_module


class ParseError(Exception):
    def __init__(self, path: str, line: int, column: int, message: str):
        super().__init__(f"{path}:{line}:{column}: T2N900 cannot parse: {message}")
        self.path, self.line, self.column, self.message = path, line, column, message

    @property
    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.line, self.column, "T2N900", f"cannot parse: {self.message}", self.path)


@dataclass
class TranslateResult:
    code: str
    weights_code: str | None
    diagnostics: list[Diagnostic]
    todo_count: int
    summaries: dict[str, Summary] = field(default_factory=dict)
    transposes: dict[str, int] = field(default_factory=dict)
    exports: dict = field(default_factory=dict)  # names other files of a run may use
    weight_maps: dict = field(default_factory=dict)  # NNX layer types this file builds
    # layouts this file hands classes of other files: (their module, class, function, param) -> Tag
    external_hints: dict = field(default_factory=dict)
    # layout summaries of the file's module-level functions (rms_norm2d(x, ...)), for importers
    function_summaries: dict[str, Summary] = field(default_factory=dict)
    # names of methods taking `*, rngs` here or in the run's files this one imports (rngs_methods.py)
    rngs_methods: frozenset = frozenset()
    # what the file's layer builders return (create_conv2d: a conv or one of the file's
    # conv classes), for importers: name -> Tag of a module (builder_layouts.py)
    builder_returns: dict = field(default_factory=dict)
    # the analysis rounds reached a fixed point (settle.py), and how many it took
    settled: bool = True
    rounds: int = 0

    def layout_of(self, cls: str) -> Summary | None:
        return self.summaries.get(cls)


def parse(source: str, path: str) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as e:
        raise ParseError(path, e.raw_line, e.raw_column + 1, e.message.splitlines()[0] if e.message else "syntax error")


def is_torch_import(stmt, imports: ImportTable) -> bool:
    small = stmt
    if isinstance(small, cst.Import):
        return all(dropped_module(dotted(a.name)) for a in small.names)
    if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
        mod = dotted(small.module) or ""
        return dropped_module(mod) or _user_rows_import(small, mod)
    if isinstance(small, cst.ImportFrom) and small.relative and user_modules():
        # `from .mylib.layers import ScaledLinear` in the package of a user rows' module
        mod = absolute_module(imports.package, len(small.relative), dotted(small.module) if small.module else "")
        return bool(mod) and (user_module(mod) or _user_rows_import(small, mod))
    return False


def _user_rows_import(small: cst.ImportFrom, mod: str) -> bool:
    """``from mylib import layers`` with mylib.layers a user rows' module (rules/user.py)."""
    return not isinstance(small.names, cst.ImportStar) and bool(user_modules()) \
        and all(user_module(f"{mod}.{dotted(a.name)}") for a in small.names)


@contextmanager
def gc_paused():
    """Translating a file allocates millions of short-lived objects (CST
    nodes) that hold no reference cycles: the cyclic collector's passes over
    them find nothing and cost about a quarter of the time. Paused for the
    file, restored after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def translate_source(source: str, path: str = "<stdin>", options: Options | None = None,
                     module_name: str | None = None) -> TranslateResult:
    with gc_paused():
        return _translate_source(source, path, options or Options(), module_name)


def _translate_source(source: str, path: str, options: Options, module_name: str | None) -> TranslateResult:
    module = add_chosen_forwards(desugar_module_dicts(expand_splats(parse(source, path), source), source), source)
    before_steps = module
    module, step_helpers = rewrite_train_steps(module, options.package)
    positions = LazyPositions(module, source_offsets(before_steps, module))
    from ..follow import star_resolver

    imports = ImportTable.from_module(module, options.package, star=star_resolver(path, options.package))
    for local, q in list(imports.names.items()):
        if options.reexports and q in options.reexports:
            imports.names[local] = f"{options.reexports[q]}.{q.rpartition('.')[2]}"
    if options.package and options.absolutize:
        module = absolutize(module, options.package)
    f = FileContext(path, imports, positions, options)
    f.step_helpers = step_helpers
    f.helpers |= step_helpers
    # names the rules provide are not the file's: their imports go, the helpers take the names
    f.module_names = module_level_names(module) - {n for n, q in imports.names.items() if provided(q)}
    for local, q in imports.names.items():
        mod, _, name = q.rpartition(".")
        if registry.module_base(q) is not None:
            # a library's module base (transformers' PreTrainedModel): the runtime class
            # of its row stands in, taking the library's constructor arguments and rngs
            f.external[local] = "class"
        if options.siblings and q in options.siblings:
            # a module of the run (`from . import layers`): `layers.ConvBN` is its class
            sums = options.siblings[q][2] if len(options.siblings[q]) > 2 else {}
            f.run_modules.add(local)
            for attr, kind in options.siblings[q][1].items():
                f.external[f"{local}.{attr}"] = kind
                if sums.get(attr) is not None:
                    f.external_summaries[f"{local}.{attr}"] = sums[attr]
        if options.siblings and mod in options.siblings:
            kind = options.siblings[mod][1].get(name)
            if kind and registry.lookup(q) is None:  # a row (torchvision's Permute) tells the layout engine more
                f.external[local] = kind
                sums = options.siblings[mod][2] if len(options.siblings[mod]) > 2 else {}
                if sums.get(name) is not None:
                    f.external_summaries[local] = sums[name]
            if kind == "builder":
                # what it returns (a conv, or a class of its file), when that file could say
                import_builder_return(f, local, mod, name, options.siblings)
            elif not kind and len(options.siblings[mod]) > 3 and name in options.siblings[mod][3] \
                    and registry.lookup(q) is None:
                # a plain function of another file of the run: the layouts it takes and returns
                import_function_summary(f, local, options.siblings[mod][3][name], options.siblings)

    f.rngs_methods = inherited_rngs_methods(options, imports)
    for q in imports.names.values():
        if registry.module_base(q) is not None:
            # methods a library base calls with rngs (PreTrainedModel._init_weights): overrides take them
            f.rngs_methods |= set(registry.module_base(q).rngs_methods)
    find_module_classes(module, f)
    f.autograd_functions = autograd_functions.find(module, f)
    find_layer_globals(module, f)
    find_factory_fields(module, f)
    find_plain_globals(module, f)
    builder_methods = find_builders(module, f)

    f.local_functions = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef)}
    f.optional_returns = optional_returns(module, f)  # what may be None (optional_values.py)
    f.plain_classes = {s.name.value for s in module.body if isinstance(s, cst.ClassDef)} - set(f.classes)
    f.kept_classes = kept_data.kept_classes(module, f)  # Dataset subclasses: kept as torch code
    f.kept_globals = kept_data.kept_globals(module, f)  # module-level loaders
    f.saves_state = state_io.uses_save_load(module, f)
    # Rounds: what layouts callers pass is only known after the callers are
    # rewritten, so a second round rewrites callees with those layouts. Stop
    # when the call sites agree with the previous round.
    rounds = 5
    seen = None
    order = unit_order(module, f)
    memo = RoundMemo(f, module)
    settle = Settle()  # hints that oscillate between rounds are widened (settle.py)
    n_round = 0
    while True:
        learned = (set(f.random_functions), dict(f.return_layouts))
        body = rewrite_round(module, f, builder_methods, imports, order, memo)
        if settle.widen(f.callsites, f.hints):
            rounds = min(max(rounds, n_round + 1 + EXTRA_ROUNDS), 5 + 2 * EXTRA_ROUNDS)
        sig = summaries_signature(f)
        settled = f.callsites == f.hints and f.builder_returns == f.builder_returns_seen \
            and sig == seen and learned == (f.random_functions, f.return_layouts)
        if settled or n_round == rounds - 1:
            break
        seen = sig
        f.reset_round()
        n_round += 1
    body = [b for b in body if b is not None]
    renames = layer_attr_names.find(f)  # a layer subclass's attributes its NNX base uses itself
    body = [layer_attr_names.rename(b, renames[b.name.value])
            if isinstance(b, cst.ClassDef) and b.name.value in renames else b for b in body]
    body = add_layout_lines(body, {n: i.methods.get("__call__") for n, i in f.classes.items()},
                            options.line_length)
    saved = (list(f.diagnostics), f.todo_count, set(f.leftover_names), set(f.helpers), set(f.kept_names))
    try:
        final = _emit(module, body, f, options, imports)
    except SyntaxError:
        # a translator bug made a statement that does not compile: those
        # statements go back to their source form, marked, and the file is emitted again
        f.diagnostics, f.todo_count, f.leftover_names, f.helpers, f.kept_names = (
            list(saved[0]), saved[1], set(saved[2]), set(saved[3]), set(saved[4]))
        body = [_compiles_or_source(f, module, st) for st in body]
        final = _emit(module, body, f, options, imports)
    summaries = {n: i.methods.get("__call__") for n, i in f.classes.items() if i.methods.get("__call__")}
    for n, (kind, targets) in f.layer_globals.items():
        # an alias or partial of one class (SqueezeExcite = SEModule): importers see its layouts
        if kind == "class" and len(targets) == 1 and n not in summaries:
            s = summaries.get(targets[0]) or f.external_summaries.get(targets[0])
            if s is not None:
                summaries[n] = s
    transposes = {n: i.transposes for n, i in f.classes.items()}
    transposes.update({n: t for n, t in f.function_transposes.items() if t})
    weights = None
    if options.weights:
        stem = module_name or (PurePath(path).stem if path not in ("-", "<stdin>") else "model_nnx")
        # layers built by the other files this one imports end up in its models too
        maps = dict(options.extra_weight_maps or {})
        maps.update(f.weight_maps)
        weights = formatted_weights_module(maps, stem, PurePath(path).name, options.line_length,
                                           options.weights_shared)
        compile(weights, stem + ".py", "exec", dont_inherit=True)  # a bug here fails the file: nothing written
    diags = sorted(set(f.diagnostics))
    result = TranslateResult(final, weights, diags, f.todo_count, summaries, transposes)
    result.settled, result.rounds = settled, n_round + 1
    result.exports = exports(f.classes, f.builders, f.random_functions)
    result.exports.update({n: k for n, k in export_kinds(f, _class_kind).items() if n not in result.exports})
    reexport_starred(result, f, imports)
    result.weight_maps = dict(f.weight_maps)
    result.rngs_methods = frozenset(f.rngs_methods)
    # results cross process boundaries (parallel runs): a summary holding a row's
    # closures (a function returning a layer) is not offered to other files
    result.function_summaries = {n: exported_function_summary(f, s) for n, s in f.functions.items()
                                 if n not in f.builders and n not in f.random_functions and _picklable(s)}
    result.builder_returns = exported_builder_returns(f, _picklable)
    for (owner, func, param), tag in f.callsites.items():
        if owner in f.external and owner in imports.names:
            mod, _, name = imports.names[owner].rpartition(".")
            result.external_hints[(mod, name, func, param)] = tag
        elif qualified_owner(owner, options.siblings):
            # a class of another file reached through a builder it exports: by its module
            mod, _, name = owner.rpartition(".")
            result.external_hints[(mod, name, func, param)] = tag
    return result


def reexport_starred(result: TranslateResult, f: FileContext, imports: ImportTable) -> None:
    """A file re-exporting the classes of other files of the run by star imports
    (torchvision's ``mobilenet.py``: ``from .mobilenetv2 import *``) offers them as
    its own: ``mobilenet.MobileNetV2`` in an importer is that class, with its layouts.
    Names the file binds again itself are its own."""
    for local in sorted(imports.starred):
        if local in result.exports or local not in f.external or imports.names.get(local) is None:
            continue
        if local in f.module_names:
            continue
        result.exports[local] = f.external[local]
        if local not in result.summaries and f.external_summaries.get(local) is not None:
            result.summaries[local] = f.external_summaries[local]


def _picklable(value) -> bool:
    import pickle

    try:
        pickle.dumps(value)
        return True
    except Exception:  # noqa: BLE001 - closures, locks: whatever pickle refuses
        return False


def _compiles_or_source(f: FileContext, module: cst.Module, stmt):
    try:
        compile(module.code_for_node(stmt), f.path, "exec", dont_inherit=True)
        return stmt
    except SyntaxError as e:
        origin = f.origins.get(id(stmt), stmt)
        new = untranslated(f, origin, f"the translation does not compile ({e.msg})")
        f.origins[id(new)] = origin
        return new


def _emit(module: cst.Module, body: list, f: FileContext, options: Options, imports) -> str:
    """The formatted NNX module; raises SyntaxError when it does not compile."""
    out = module.with_changes(body=body)

    # helpers and Variable classes emitted once, after the imports
    if options.siblings:
        out = out.with_changes(body=[_map_import(st, options.siblings, options.reexports or {}, options.package)
                                     for st in out.body])
    out = mark_leftovers(out, f)
    out = out.with_changes(body=drop_torch_imports(out.body, f, imports, source_names(module)))
    out = out.with_changes(body=_starred_torch_imports(out.body, f, imports))
    # the code of each statement once: the module's code is their concatenation
    codes = {id(st): out.code_for_node(st) for st in out.body}
    head = []
    for b in sorted(f.buffers):
        head.append(BUFFER_CLASSES[b])
    imported = []
    if f.helpers:
        own, aliases, shared = referenced_helpers(f.helpers, "".join(codes.values()), options.shared)
        if own:
            head.append(helper_source(own))
        if options.shared is not None:
            names = sorted(shared) + [f"{a[len(HELPER_ALIAS):]} as {a}" for a in aliases
                                      if a[len(HELPER_ALIAS):] not in own]
            if names:
                imported.append(f"from {options.shared} import {', '.join(names)}")
        bound = [a for a in aliases if options.shared is None or a[len(HELPER_ALIAS):] in own]
        if bound:
            head.append("\n".join(f"{a} = {a[len(HELPER_ALIAS):]}" for a in bound) + "\n")
    if f.row_imports:
        imported += row_import_lines(f.row_imports, "".join(codes.values()))
    extra = "\n\n".join(head)
    needed = used_modules("".join(codes.values()) + extra)
    have = existing_imports(out)
    lines = import_lines(needed, have) + imported
    idx = insert_point(out)
    # place new imports after existing top-of-file imports
    j = idx
    while j < len(out.body) and isinstance(out.body[j], cst.SimpleStatementLine) \
            and isinstance(out.body[j].body[0], (cst.Import, cst.ImportFrom)):
        j += 1
    pieces = [s for s in out.body]
    new_stmts = [cst.parse_statement(l + "\n") for l in lines]
    pieces[j:j] = new_stmts
    # the files filling this file's registries, imported last, as torch's package
    # __init__ imports them whenever this file is imported (registrants.py); the
    # comments say which are not (project._registering)
    lines = list(options.registrants or ())
    imports_ = [l for l in lines if not l.startswith("#")]
    if imports_:
        note = ("# torch imports these files with this one (its package's __init__.py does), and they\n"
                "# fill this file's registries: their translations fill this translation's\n"
                + "".join(l + "\n" for l in lines if l.startswith("#")))
        for k, line in enumerate(imports_):
            pieces.append(cst.parse_statement(f"{note if k == 0 else ''}{line}  # noqa: E402,F401\n"))
    if extra:
        # after the last top-level import statement (on the tree: no second parse)
        k = 0
        for i, s in enumerate(pieces):
            if isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], (cst.Import, cst.ImportFrom)):
                k = i + 1
            elif i > k:
                break
        pieces[k:k] = list(cst.parse_module(extra).body)
    code_text = "".join(out.code_for_node(h) for h in out.header) \
        + "".join(codes[id(st)] if id(st) in codes else out.code_for_node(st) for st in pieces) \
        + "".join(out.code_for_node(h) for h in out.footer)
    final = format_code(code_text, options.line_length)
    compile(final, f.path, "exec", dont_inherit=True)
    return final


class _Absolutize(FastTransformer):
    def __init__(self, package: str):
        self.package = package

    def leave_ImportFrom(self, original, updated):
        if not updated.relative:
            return updated
        base = absolute_module(self.package, len(updated.relative),
                               dotted(updated.module) if updated.module is not None else "")
        if base is None:
            return updated
        return updated.with_changes(relative=[], module=cst.parse_expression(base))


def absolutize(module: cst.Module, package: str) -> cst.Module:
    """Relative imports as absolute imports of the source's package: the
    translation imports the original's siblings from wherever it is written."""
    new_body = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(s, cst.ImportFrom) and s.relative for s in stmt.body):
            stmt = _Absolutize(package).walk(stmt)
        new_body.append(stmt)
    # keep node identity for everything else (positions)
    return module.with_changes(body=new_body)


def _map_import(stmt, siblings: dict, reexports: dict, package: str | None = None):
    """Imports of files translated in the same run import their translations."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return stmt
    body, changed = [], False
    for small in stmt.body:
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            small, extra = _map_module_aliases(small, siblings, package, reexports)
            body.extend(extra)
            if small is None:
                continue
        if isinstance(small, cst.ImportFrom) and small.relative and small.module is not None:
            # kept relative (written next to its source): `from .layers import X`
            # -> `from .layers_nnx import X` when layers.py is in the run
            mod = absolute_module(package, len(small.relative), dotted(small.module) or "")
            target = siblings.get(mod, (None,))[0] if mod else None
            if target and target.rpartition(".")[0] == mod.rpartition(".")[0]:
                parts = (dotted(small.module) or "").split(".")
                parts[-1] = target.rpartition(".")[2]
                small = small.with_changes(module=cst.parse_expression(".".join(parts)))
        if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
            mod = dotted(small.module)
            if mod in siblings:
                small = small.with_changes(module=cst.parse_expression(siblings[mod][0]))
            elif not isinstance(small.names, cst.ImportStar):
                # package re-exports of run files: each name from its translation
                moved: dict[str, list] = {}
                kept = []
                for alias in small.names:
                    origin = reexports.get(f"{mod}.{dotted(alias.name)}")
                    if origin in siblings:
                        moved.setdefault(siblings[origin][0], []).append(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT))
                    else:
                        kept.append(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT))
                for target, names in moved.items():
                    body.append(cst.ImportFrom(module=cst.parse_expression(target), names=names))
                if not kept:
                    continue
                small = small.with_changes(names=kept) if moved else small
        body.append(small)
    return stmt.with_changes(body=body)


def _class_kind(info) -> str:
    return "container-class" if info.container else "class" if info.needs_rngs or info.uses_rngs else "stateless-class"


def _map_module_aliases(small: cst.ImportFrom, siblings: dict, package: str | None, reexports: dict):
    """``from .. import mobilenet`` where ``mobilenet.py`` is in the run: the
    module object is its translation's (``from .. import mobilenet_nnx as
    mobilenet``), so ``mobilenet.MobileNetV2`` / ``mobilenet.__dict__[name]``
    build NNX layers. A name the package's ``__init__`` re-exports is that
    object, not the submodule of the same name (timm's ``from timm.layers import
    create_conv2d`` is the function). Returns (the statement or None, statements it became)."""
    base = (absolute_module(package, len(small.relative), (dotted(small.module) if small.module else "") or "") if small.relative
            else dotted(small.module))
    if not base:
        return small, []
    kept, extra = [], []
    for alias in small.names:
        name = dotted(alias.name)
        target = siblings.get(f"{base}.{name}", (None,))[0]
        origin = reexports.get(f"{base}.{name}")
        if origin is not None:
            # the package binds the name itself (timm.layers' `from .create_conv2d import
            # create_conv2d`): the function, not the submodule of the same name
            if origin in siblings:
                extra.append(cst.ImportFrom(module=cst.parse_expression(siblings[origin][0]),
                                            names=[alias.with_changes(comma=cst.MaybeSentinel.DEFAULT)]))
            else:
                kept.append(alias)
            continue
        if not target:
            kept.append(alias)
            continue
        parent, _, leaf = target.rpartition(".")
        local = cst.Name(alias.asname.name.value if alias.asname else name)
        if parent == base:  # next to its source: the same statement, the translation's name
            kept.append(alias.with_changes(name=cst.Name(leaf), asname=cst.AsName(name=local)))
        else:
            extra.append(cst.ImportFrom(module=cst.parse_expression(parent), names=[
                cst.ImportAlias(name=cst.Name(leaf), asname=cst.AsName(name=local))]) if parent
                else cst.Import(names=[cst.ImportAlias(name=cst.Name(leaf), asname=cst.AsName(name=local))]))
    if not kept:
        return None, extra
    kept = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in kept]
    return small.with_changes(names=kept), extra


def exports(result_classes: dict, builders: set, random_functions: set = frozenset()) -> dict:
    """What a translated file offers the other files of its run."""
    # functions drawing random numbers (timm's trunc_normal_) take `*, rngs` from their callers
    out = {name: "random" for name in random_functions}
    out.update({name: _class_kind(info) for name, info in result_classes.items()})
    out.update({name: "builder" for name in builders})
    return out


def bound_names(small) -> set[str]:
    if isinstance(small, cst.Import):
        return {a.asname.name.value if a.asname else dotted(a.name).split(".")[0] for a in small.names}
    if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        return {a.asname.name.value if a.asname else dotted(a.name) for a in small.names}
    return set()


def source_names(module: cst.Module) -> set[str]:
    """Names the source reads outside its imports."""
    names: set[str] = set()

    class Names(FastVisitor):
        def visit_Import(self, node):
            return False

        def visit_ImportFrom(self, node):
            return False

        def visit_Name(self, node):
            names.add(node.value)

    Names().walk(module)
    return names


def drop_torch_imports(body, f: FileContext, imports: ImportTable, used: set[str] | None = None,
                       in_block: bool = False) -> list:
    """Remove torch imports, except those that code left under a TODO still
    uses: the file then still imports and runs up to the marked lines."""
    out = []
    for stmt in body:
        stmt = _drop_provided(stmt, f, imports)
        if stmt is None:
            continue
        if isinstance(stmt, (cst.Try, cst.If)):
            # `try: from torch.nn.functional import rms_norm / except ImportError: ...`: the
            # rows rewrote its uses, so the import goes like a top-level one
            out.append(_drop_in_block(stmt, f, imports, used))
            continue
        if in_block and used is not None and isinstance(stmt, cst.SimpleStatementLine) \
                and any(is_torch_import(s, imports) and not (bound_names(s) & used) for s in stmt.body):
            # `try: from torch.hub import load_state_dict_from_url`, never used in the file:
            # a name it offers other files (torchvision's _internally_replaced_utils), kept
            message = "torch import kept: a name this file offers other files"
            f.diag(stmt, "T2N003", message)
            f.todo_count += 1
            note = cst.EmptyLine(comment=cst.Comment(f"# TODO(torch2nnx): T2N003 {message}"))
            out.append(stmt.with_changes(leading_lines=list(stmt.leading_lines) + [note]))
            continue
        if not (isinstance(stmt, cst.SimpleStatementLine) and any(is_torch_import(s, imports) for s in stmt.body)):
            out.append(stmt)
            continue
        kept = [s for s in stmt.body if not is_torch_import(s, imports)
                or bound_names(s) & (f.leftover_names | f.kept_names)]
        if not kept:
            continue
        # an import only kept torch data code uses (kept_data.py) is meant to stay: unmarked
        if any(is_torch_import(s, imports) and bound_names(s) & f.leftover_names for s in kept):
            note = cst.EmptyLine(comment=cst.Comment(
                "# TODO(torch2nnx): T2N003 still imported for the code marked below"))
            stmt = stmt.with_changes(leading_lines=list(stmt.leading_lines) + [note])
        out.append(stmt.with_changes(body=kept))
    return out


def _starred_torch_imports(body: list, f: FileContext, imports: ImportTable) -> list:
    """Code left under a TODO using a torch name the source had from a star import
    (timm's create_act.py: ``dir(torch.nn.functional)``, ``torch`` bound by
    ``from .activations_me import *``): the translation of that module may no
    longer import it, so this file imports it itself."""
    lines = []
    for local in sorted(f.leftover_names & imports.starred):
        q = imports.names.get(local)
        if not q or not imports.is_torch(q):
            continue
        mod, _, attr = q.rpartition(".")
        if mod:
            lines.append(f"from {mod} import {attr}" + (f" as {local}" if attr != local else ""))
        else:
            lines.append(f"import {q}" + (f" as {local}" if q != local else ""))
    if not lines:
        return body
    note = cst.EmptyLine(comment=cst.Comment("# TODO(torch2nnx): T2N003 still imported for the code marked below"))
    stmts = [cst.parse_statement(line + "\n") for line in lines]
    stmts[0] = stmts[0].with_changes(leading_lines=[note])
    at = next((i for i, st in enumerate(body) if isinstance(st, cst.SimpleStatementLine)
               and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in st.body)), 0)
    return body[:at] + stmts + body[at:]


def _drop_provided(stmt, f: FileContext, imports: ImportTable):
    """``from ...utils import auto_docstring, logging``: the names the rules provide
    (transformers_rules.py) go from the import, the others stay; None when none is left."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return stmt
    body, changed = [], False
    for small in stmt.body:
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            keep = [a for a in small.names
                    if not provided(imports.names.get(a.asname.name.value if a.asname else dotted(a.name)) or "")
                    or (a.asname.name.value if a.asname else dotted(a.name)) in f.leftover_names]
            if not keep:
                changed = True
                continue
            if len(keep) != len(small.names):
                changed = True
                keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=keep, lpar=None, rpar=None) if len(keep) == 1 else \
                    small.with_changes(names=keep)
        body.append(small)
    if not changed:
        return stmt  # the same node: diagnostics find its position
    return stmt.with_changes(body=body) if body else None


def _drop_in_block(stmt, f: FileContext, imports: ImportTable, used: set[str] | None = None):
    """drop_torch_imports in the blocks of a top-level try/if; a block left empty is `pass`."""
    def block(b):
        if b is None or not isinstance(b, cst.IndentedBlock):
            return b
        kept = drop_torch_imports(list(b.body), f, imports, used, in_block=True)
        if not kept:
            kept = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return b.with_changes(body=kept)

    if isinstance(stmt, cst.Try):
        return stmt.with_changes(
            body=block(stmt.body),
            handlers=[h.with_changes(body=block(h.body)) for h in stmt.handlers],
            orelse=stmt.orelse.with_changes(body=block(stmt.orelse.body)) if stmt.orelse is not None else None,
            finalbody=(stmt.finalbody.with_changes(body=block(stmt.finalbody.body))
                       if stmt.finalbody is not None else None))
    orelse = stmt.orelse
    if isinstance(orelse, cst.If):
        orelse = _drop_in_block(orelse, f, imports, used)
    elif orelse is not None:
        orelse = orelse.with_changes(body=block(orelse.body))
    return stmt.with_changes(body=block(stmt.body), orelse=orelse)


def summaries_signature(f: FileContext):
    """What callers read of callees; a round that changes it needs another."""
    out = {}
    for name, sm in f.functions.items():
        out[(None, name)] = (tuple(sorted(sm.takes.items())), sm.returns)
    for cname, info in f.classes.items():
        for name, sm in info.methods.items():
            if sm is not None:
                out[(cname, name)] = (tuple(sorted(sm.takes.items())), sm.returns)
    return out


def guarded(f: FileContext, stmt, rewrite):
    """Rewrite one top-level statement; a translator bug keeps it as it was,
    under a TODO marker with a T2N901 diagnostic, instead of failing the file."""
    try:
        new = rewrite()
    except RecursionError:
        new = None
        error = "RecursionError: nesting too deep"
    except Exception as e:  # noqa: BLE001 - contained, reported, the rest of the file goes on
        new = None
        error = f"{type(e).__name__}: {e}".splitlines()[0][:200]
    if new is not None:
        return new
    return untranslated(f, stmt, f"internal error while translating this statement ({error})")


def untranslated(f: FileContext, stmt, why: str):
    """``stmt`` as in the source, marked, with a T2N901 diagnostic."""
    f.diag(stmt, "T2N901", why)
    f.todo_count += 1
    text = f"# TODO(torch2nnx): T2N901 left untranslated: {why}"[:300].replace("\n", " ").replace("\r", " ")
    mark = cst.EmptyLine(comment=cst.Comment(text))
    return stmt.with_changes(leading_lines=list(stmt.leading_lines) + [mark])


def rewrite_round(module: cst.Module, f: FileContext, builder_methods, imports, order, memo: RoundMemo) -> list:
    new_nodes: dict[int, cst.CSTNode] = {}
    for stmt in order:  # classes and functions, callees first
        f.positions.current = stmt
        name = stmt.name.value
        if isinstance(stmt, cst.ClassDef) and name in f.autograd_functions:
            new_nodes[id(stmt)] = guarded(f, stmt, lambda: memo.run(
                stmt, lambda: autograd_functions.rewrite(f, stmt), fname=autograd_functions.summary_key(name)))
        elif isinstance(stmt, cst.ClassDef):
            info = f.classes[name]
            new_nodes[id(stmt)] = guarded(f, stmt, lambda: memo.run(
                stmt, lambda: rewrite_class(f, info, builder_methods.get(name, set())), owner=name))
        else:
            new_nodes[id(stmt)] = guarded(f, stmt, lambda: memo.run(
                stmt, lambda: _rewrite_module_function(f, stmt), fname=name))
    body = []
    for stmt in module.body:
        f.positions.current = stmt
        n = len(body)
        if id(stmt) in new_nodes:
            body.append(new_nodes[id(stmt)])
        elif isinstance(stmt, cst.FunctionDef):  # a second def of one name
            body.append(guarded(f, stmt, lambda: memo.run(
                stmt, lambda: _rewrite_module_function(f, stmt), fname=stmt.name.value)))
        elif isinstance(stmt, cst.SimpleStatementLine) and any(is_torch_import(s, imports) for s in stmt.body):
            body.append(stmt)  # settled by drop_torch_imports once leftovers are known
        elif isinstance(stmt, cst.ClassDef) and stmt.name.value in f.kept_classes:
            body.append(stmt)  # a torch Dataset subclass: data pipeline code, kept as written
        else:
            new = guarded(f, stmt, lambda: memo.run(stmt, lambda: FunctionRewriter(f, None, "<module>", [], {}).walk(stmt)))
            if not isinstance(new, cst.RemovalSentinel):  # a dropped top-level call (torch.fx.wrap)
                body.append(new)
        for new in body[n:]:
            f.origins[id(new)] = stmt  # where leftovers found in it are reported
    f.positions.current = None
    return body


def _rewrite_module_function(f: FileContext, stmt: cst.FunctionDef):
    name = stmt.name.value
    fn, summary = rewrite_function(f, stmt, None, kind="function",
                                   needs_rngs=name in f.builders or name in f.random_functions)
    f.functions[name] = summary
    if name in f.builders:
        f.builder_returns[(None, name)] = summary.returns
    f.function_transposes[name] = summary.transposes
    return fn

