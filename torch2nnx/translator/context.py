"""What the passes share about one file: imports, classes, diagnostics, helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from ..diagnostics import Diagnostic
from ..rules.base import Rule
from . import any_rank, caller_params
from .imports import ImportTable
from .layout import Tag


@dataclass
class ModuleRef:
    """What an attribute or variable holding a module is known to be."""

    kind: str  # layer | class | sequential | list | dict | odict (a local OrderedDict of layers) | union | unknown
    rule: Optional[Rule] = None
    cls: Optional[str] = None
    elements: tuple = ()
    # unknown: built by a layer factory, so maybe a stateless layer NNX holds as a function
    function: bool = False
    layout: object = None  # the constructed layer's layout, when its arguments decide it
    takes: object = None  # sequential: what the first layer needs (Tag) ...
    returns: object = None  # ... and what the last one gives
    named: bool = False  # sequential: a NamedSequential (torch's names kept; a sequence itself)
    # sequential built from an OrderedDict: each element's name (None where computed),
    # so ``self.head.norm`` is that layer (named_members.py)
    names: tuple = ()


UNKNOWN_MODULE = ModuleRef("unknown")


@dataclass
class Summary:
    """Layout summary of a translated function: what it takes and returns."""

    params: list[str] = field(default_factory=list)
    takes: dict[str, Tag] = field(default_factory=dict)
    returns: Optional[Tag] = None
    transposes: int = 0
    # the parameter whose provisional torch order the return carries (its origin,
    # returned_origins.py): a caller's own undecided argument inherits it
    returns_origin: Optional[str] = None
    # a subclass of a torch layer running the layer's own forward (row_forward.py):
    # that Rule; callers treat a call as a call of the layer
    row: Optional[Rule] = None
    # parameters taken in torch order only provisionally (their shape read before any
    # layer decided them, shape_reads.py): a caller's undecided argument stays undecided
    provisional: frozenset = frozenset()
    # the one tensor argument the function writes in place and now returns
    # (param_writes.py): a call written as a statement rebinds the name handed
    writes_param: Optional[str] = None
    # every argument it writes in place (a Variable handed to it must stay one)
    writes_params: frozenset = frozenset()
    # also runs on tensors of another rank than it takes (any_rank.py): a caller in
    # another file hands a tensor of unknown rank as it is
    any_rank: bool = False


@dataclass
class ClassInfo:
    name: str
    node: cst.ClassDef
    bases: list[str]  # names of translated base classes in this file, or torch qualified names
    attrs: dict[str, object] = field(default_factory=dict)  # attr -> ModuleRef | Tag
    methods: dict[str, Summary] = field(default_factory=dict)
    transposes: int = 0
    sequential_base: bool = False  # subclasses nn.Sequential / ModuleList
    uses_training: bool = False  # reads self.training (gets a `deterministic` flag)
    container: Optional[str] = None  # a container subclass: sequential | attrs | dict | list | inherit
    uses_rngs: bool = False  # draws random numbers when called: keeps its rngs as self.rngs
    needs_rngs: bool = True  # builds layers (analyze._stateless_classes); False: rngs optional
    elements: tuple = ()  # a Sequential subclass: its layers, in order (for layouts)
    row: object = None  # a subclass of a torch layer with a row (LayerNorm2d(nn.LayerNorm)): that Rule
    row_base: Optional[str] = None  # ... with its own __init__: the NNX class it subclasses (nnx.Dropout)
    # attributes that may hold a stateless torch layer NNX keeps as a function
    # (self.relu = nn.ReLU()): listed in the class's _stateless_layers, per rewrite
    stateless: list = field(default_factory=list)
    # members of named Sequentials rebound in a method (self.head.norm = ...):
    # (attribute, member) -> what is written there (named_members.py)
    member_writes: dict = field(default_factory=dict)


@dataclass
class Options:
    line_length: int = 88
    # emit the weights module
    weights: bool = True
    # the source's package: relative imports resolve against it (so rules see
    # `from ._api import register_model` as torchvision.models._api.register_model)
    package: str | None = None
    # and become absolute imports of it: the translation is written away from its source
    absolutize: bool = True
    # other files of the same run: original module -> (translated module, exports)
    # where exports is {name: "class" | "container-class" | "builder"}; optionally a
    # third item, the classes' layout summaries {name: Summary of __call__}
    siblings: dict | None = None
    extra_weight_maps: dict | None = None  # weight maps of the sibling files this one imports
    # names a package re-exports from one of the run's files (its __init__.py's
    # `from .stochastic_depth import StochasticDepth`): qualified name -> that file's module
    reexports: dict | None = None
    # layouts other files of the run hand this file's classes: (class, function, param) -> Tag
    external_hints: dict | None = None
    # import statements of the run's files that fill this file's registries when torch
    # imports it (registrants.py): the translation imports them at its end
    registrants: list | None = None
    # the module the run's output tree shares (shared_helpers.py), as this file imports
    # it: helpers and the weights loader come from there; None: emitted into the file
    shared: str | None = None
    weights_shared: str | None = None  # the same, as the weights module imports it


class FileContext:
    def __init__(self, path: str, imports: ImportTable, positions, options: Options):
        self.path = path
        self.imports = imports
        self.positions = positions
        self.options = options
        self.diagnostics: list[Diagnostic] = []
        self.helpers: set[str] = set()  # runtime helper functions/classes to emit
        # names rows import into the output (BuildCtx.import_name): local -> (module, name);
        # kept across rounds, emitted where the final code names them
        self.row_imports: dict[str, tuple[str, str]] = {}
        self.step_helpers: set[str] = set()  # those the training-step pre-pass calls (train_steps.py)
        # names the source binds at module level: a helper of the same name is reached by its alias
        self.module_names: set[str] = set()
        self.classes: dict[str, ClassInfo] = {}
        self.builders: set[str] = set()  # module-level functions that build layers
        self.factory_makers: set[str] = set()  # ... only in the factories they return (factory_makers.py)
        self.stateful_makers: set[str] = set()  # of them, those whose factories create parameters
        self.seeded_builders: set[str] = set()  # of them, those seeding their own rngs (kept_data.py)
        self.class_factories: set[str] = set()  # module-level functions returning layer classes
        # module-level aliases, partials and registries of layer classes (layer_globals.py):
        # name -> ("class" | "registry", the classes it stands for)
        self.layer_globals: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.method_names: set[str] = set()  # methods the file's classes define (obj.feat_channels())
        # names of methods taking `*, rngs` in this file's classes or the run's files it
        # imports: `m.init_weights()` on a receiver of unknown class hands ours (rngs_methods.py)
        self.rngs_methods: set[str] = set()
        # module-level names bound to a layer class or a partial of one (_SE_LAYER = partial(SqueezeExcite, ...))
        # config-object fields holding layer factories: field -> translated classes
        self.factory_fields: dict[str, tuple[str, ...]] = {}
        # module-level functions that draw random numbers when called: they take
        # `*, rngs` and their callers pass theirs (found while rewriting, so
        # kept across rounds)
        self.random_functions: set[str] = set()
        # functions whose returns disagree in layout: (owner or None, name) -> the
        # layout every return is brought to (decided in one round, used in the next)
        self.return_layouts: dict[tuple, Tag] = {}
        self.weight_maps: dict[str, object] = {}  # nnx class -> WeightMap (used ones)
        self.buffers: set[str] = set()  # "Buffer" / "NonPersistentBuffer" when used
        self.functions: dict[str, Summary] = {}
        self.local_functions: set[str] = set()
        # (class or None, function) -> positions of its result that may be None (optional_values.py)
        self.optional_returns: dict[tuple, frozenset] = {}
        self.plain_globals: set[str] = set()  # module-level names bound to plain Python values only
        self.function_registries: dict = {}  # module-level dicts/lists of the file's functions (layer_globals.py)
        self.autograd_functions: dict = {}  # torch.autograd.Function subclasses (autograd_functions.py)
        self.plain_classes: set[str] = set()  # classes of the file that are not modules (their instances are no tensors)
        self.function_transposes: dict[str, int] = {}
        self.leftover_names: set[str] = set()  # torch imports still used by marked code
        self.kept_names: set[str] = set()  # torch imports used by kept torch data code (kept_data.py)
        self.kept_classes: set[str] = set()  # the file's torch Dataset subclasses, kept as written
        self.kept_globals: set[str] = set()  # module-level names bound to kept data objects
        self.saves_state = False  # the file calls torch.save / torch.load (state_io.py)
        self.origins: dict[int, cst.CSTNode] = {}  # id(translated top-level statement) -> its source statement
        self.calls: dict[int, object] = {}  # id(original node) -> what it calls (analyze.calls_of)
        self.layer_calls: dict[int, tuple] = {}  # id(function) -> (function, calls building layers by use)
        self.external: dict[str, str] = {}  # names imported from sibling translations -> kind
        self.external_summaries: dict[str, Summary] = {}  # their classes' __call__ layouts
        self.external_functions: dict[str, Summary] = {}  # their plain module-level functions' layouts
        # what their layer builders return (builder_layouts.py): local name -> Tag of a module
        self.external_builder_returns: dict[str, Tag] = {}
        self.run_modules: set[str] = set()  # local names of modules translated in the run (`from . import resnet`)
        # what layer-building functions returned, by (class or None, name): read by callers next round
        self.builder_returns: dict[tuple, object] = {}
        self.builder_returns_seen: dict[tuple, object] = {}  # module-level defs (summaries may come later)
        self.todo_count = 0
        # layouts callers hand to translated functions: (owner class or None, function, param) -> Tag;
        # `hints` is the previous round's, used as the callee's parameter layouts
        self.callsites: dict[tuple, object] = dict(options.external_hints or {})
        self.hints: dict[tuple, object] = dict(options.external_hints or {})
        self.call_log: list | None = None  # record_call's arguments, while a RoundMemo watches
        # module_named_children(c) calls (rewritten nodes) of a container whose layers are
        # known -> those layers, for the loop binding their pairs (module_api.bind_pairs)
        self.pair_children: dict = {}
        # per function being rewritten: calls handing on a value of its undecided parameters,
        # recorded when it finishes (caller_params.py)
        self.deferred_calls: list[list] = []
        # parameters a function, translated without hints for them, left undecided (it takes them in
        # any layout): (owner class or None, function, param); callers disagreeing on one give no hint
        self.generic_params: set[tuple] = set()

    def record_call(self, owner, func: str, param: str, tag) -> None:
        from .layout import merge_callers
        if getattr(tag, "weight", False):
            # an NNX kernel handed on is the Variable itself (init helpers write into it),
            # in NNX's order: no layout the callee should ask of its other callers
            return
        if getattr(tag, "origin", None) is not None:
            tag = tag.with_(origin=None)  # the caller's parameter name means nothing to the callee
        if self.deferred_calls and caller_params.defers(tag):
            self.deferred_calls[-1].append((owner, func, param, tag))
            return
        if self.call_log is not None:
            self.call_log.append((owner, func, param, tag))
        key = (owner, func, param)
        old = self.callsites.get(key)
        self.callsites[key] = merge_callers(old, tag, key in self.generic_params)
        if any_rank.joins_unknown_rank(old, tag, self.callsites[key]):
            self.callsites[(owner, func, any_rank.KEY)] = any_rank.MARK

    def reset_round(self) -> None:
        """Forget what one translation round produced (a new round redoes it)."""
        self.diagnostics = []
        self.helpers = set(self.step_helpers)
        self.weight_maps = {}
        self.buffers = set()
        self.todo_count = 0
        self.leftover_names = set()
        self.kept_names = set()
        self.origins = {}
        self.hints = self.callsites
        self.callsites = dict(self.options.external_hints or {})
        self.deferred_calls = []
        self.builder_returns_seen = dict(self.builder_returns)
        for c in self.classes.values():
            c.transposes = 0
            c.attrs = {}  # __init__ runs again and records them afresh

    def position(self, node) -> tuple[int, int]:
        try:
            return self.positions[node]
        except (KeyError, TypeError):
            return 0, 0

    def diag(self, node, code: str, message: str) -> Diagnostic:
        line, col = self.position(node)
        d = Diagnostic(line, col, code, message, self.path)
        self.diagnostics.append(d)
        return d


# prefix of a helper's second name, for code where a local shadows the helper's own
HELPER_ALIAS = "_t2n_"


class BuildCtx:
    """Handed to a row's build function."""

    def __init__(self, fctx: FileContext, rngs: str = "rngs"):
        self.fctx = fctx
        self.rngs = rngs
        self.perm = None  # layout of the input, for "aware" rows
        self.result_plain = False  # set by an "aware" build whose result is in torch order (einops)
        self.result_cl_rank = None  # set by an "aware" build whose result is channels-last of this rank
        # an "aware" build's input is channels-last of a rank not known here: the input of a
        # subclass of a channel layer (timm's GroupNorm(nn.GroupNorm) calling F.group_norm)
        self.channels_last_any = False
        self.one = False  # "aware" rows: the input's spatial dims are known to be 1
        self.in_forward = False
        self.rngs_available = False
        self.cls = None
        self.in_init = False
        self.function = None  # the module-level function being rewritten
        # names the function being rewritten binds: a helper of the same name
        # (a `flatten` flag next to the flatten helper) is used through an alias
        self.local_names: set[str] = set()

    def module_rngs(self) -> str:
        """The module's own Rngs (kept from its constructor), for ops that draw
        random numbers when called (functional dropout)."""
        from ..rules.base import Unsupported

        if self.cls is None and self.function is not None:
            # a plain function (torchvision's stochastic_depth): it takes rngs
            self.fctx.random_functions.add(self.function)
            return "rngs"
        if self.cls is None or self.in_init:
            raise Unsupported("T2N005", "random numbers outside a module method need an explicit nnx.Rngs")
        self.cls.uses_rngs = True
        return "self.rngs"

    def fill_rngs(self) -> str:
        """The Rngs that values filled in place (x.uniform_(), an init function's
        draws) come from: the constructor's ``rngs`` where there is one, else the
        module's own (an init method it calls) or a ``rngs`` the function gains."""
        if self.rngs_available:
            return self.rngs
        return self.module_rngs()

    def buffer_class(self, persistent: bool) -> str:
        """The Variable class a buffer is held in (emitted into the output file)."""
        name = "Buffer" if persistent else "NonPersistentBuffer"
        self.fctx.buffers.add(name)
        return name

    def import_name(self, module: str, name: str) -> str:
        """Ask for ``from module import name`` in the output (a user row's NNX
        class or jnp function, rules/user.py); returns the name to write. Where
        the source binds that name itself (the torch class the row replaces,
        imported under the same name), the import gets an alias of its own. A
        dropped import of the name (the torch class the row replaces, ``from
        mylib.layers import ScaledLinear``) leaves it free, as for helpers."""
        f = self.fctx
        local = name
        if local in f.module_names or local in self.local_names \
                or f.row_imports.get(local, (module, name)) != (module, name):
            local = HELPER_ALIAS + name
        f.row_imports[local] = (module, name)
        return local

    def helper(self, name: str) -> str:
        """Ask for a runtime helper to be emitted into the output file. Where the
        source binds that name itself (timm's ``flatten: bool`` parameter next to
        ``nn.Flatten(1)``), code reaches the helper under a name of its own."""
        return request_helper(self.fctx, name, self.local_names)


def request_helper(f, name: str, local_names=()) -> str:
    """Have runtime helper ``name`` emitted into the output file; the name code
    reaches it by: an alias where the source binds ``name`` itself."""
    f.helpers.add(name)
    if name in local_names or name in f.module_names:
        alias = HELPER_ALIAS + name
        f.helpers.add(alias)  # emitted as `_t2n_flatten = flatten`
        return alias
    return name


def module_dict_item(func, f) -> bool:
    """``resnet.__dict__[name]`` with ``resnet`` a module of the run: one of its
    builders or classes, chosen at run time (torchvision's detection backbones)."""
    return (isinstance(func, cst.Subscript) and isinstance(func.value, cst.Attribute)
            and func.value.attr.value == "__dict__" and isinstance(func.value.value, cst.Name)
            and func.value.value.value in f.run_modules)
