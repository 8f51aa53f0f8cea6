"""The shape of a rule row.

One row per torch API. A row says how to rewrite a constructor or call
(``build``), how the layer's weights map onto the NNX layer (``weights``), how
it treats layout (``layout``) and carries its own examples, from which the
tests are generated. The translator's passes read rows; they never special-case
an API by name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

# ---------------------------------------------------------------------------
# Layout behaviour of a row (see translator/layout.py for the tags).


@dataclass(frozen=True)
class Layout:
    """How a layer or op treats the channels-last layout.

    kind:
      ``elementwise`` - any layout in, the same layout out (activations, dropout);
      ``spatial``     - takes and returns channels-last of ``rank`` (conv, pooling);
      ``channel``     - normalises over the channel axis: channels-last of any rank
                        in and out, or a plain (N, C) tensor (BatchNorm1d);
      ``plain``       - needs the torch (logical) order, returns a plain tensor
                        (Linear, matmul, anything order-dependent);
      ``reshape``     - like ``plain`` but a channels-last tensor whose spatial
                        dims are known to be 1 needs no transpose (flatten/view);
      ``dims``        - takes dims named in ``dims``; they are remapped onto the
                        channels-last axes, the result layout follows the dims;
      ``source``      - creates a new plain tensor (torch.zeros, arange, ...);
      ``other``       - returns something that is not a tensor (x.dim());
      ``permute``     - reorders dims (``dims`` names the order, or two dims to
                        swap when ``swap``); only the tag changes where it can;
      ``stack``       - adds a dim (``dims`` names it) to same-layout tensors;
      ``aware``       - the build function reads ``ctx.perm`` (the input's layout)
                        and rewrites itself for it, or raises ``Canonical``.
      ``wraps``       - returns the layer its ``tensors[0]`` argument holds, wrapped
                        (weight_norm(conv)): called, it takes what that layer takes.
    """

    kind: str
    rank: Optional[int] = None  # for spatial: 3 (N,C,L), 4 (N,C,H,W), 5 (N,C,D,H,W)
    dims: tuple[str, ...] = ()  # for dims: parameter names holding dims
    keepdim: Optional[str] = None  # for dims: the keepdim parameter, if any
    reduces: bool = False  # for dims: the op removes the dims (unless keepdim)
    tensors: tuple[str, ...] = ("input",)  # parameters that take tensors
    result: str = "tensor"  # "other" when the op returns sizes or flags, not a tensor
    swap: bool = False  # permute: the dims are a pair to swap (transpose)
    nodim: str = "all"  # dims: a missing dim means all dims ("all") or needs torch order ("canonical")
    out_one: bool = False  # spatial: the output's spatial dims are all 1 (global pooling)
    # spatial: the output is a plain tensor in torch's order (a patchifying
    # Rearrange layer reads an image channels-last and returns tokens)
    out_plain: bool = False
    # plain: the output is an image batch of this rank, channels-last (a Rearrange
    # layer assembling windows into a map takes torch order and returns the map so)
    out_cl: Optional[int] = None
    keeps_rank: bool = False  # plain: the output has the input's rank (Linear, LayerNorm)
    # parameters holding sizes in torch's order (affine_grid's ``size``): a channels-last
    # tensor's shape handed whole there is read in torch's order
    sizes: tuple[str, ...] = ()
    # aware: the rank of the (N, C, *spatial) image batch the call's arguments say its
    # input is (an einops patchify pattern), or None: an undecided input is then
    # taken channels-last, as the model's image, instead of torch's order
    image_in: Optional[Callable] = None


ELEMENTWISE = Layout("elementwise")
PLAIN = Layout("plain")
PLAIN_SAME_RANK = Layout("plain", keeps_rank=True)
RESHAPE = Layout("reshape")
SOURCE = Layout("source")
OTHER = Layout("other")
CHANNEL = Layout("channel")


def spatial(rank: int) -> Layout:
    return Layout("spatial", rank=rank)


def dims(*names: str, keepdim: Optional[str] = None, reduces: bool = False, tensors=("input",),
         result: str = "tensor", nodim: str = "all") -> Layout:
    return Layout("dims", dims=names, keepdim=keepdim, reduces=reduces, tensors=tuple(tensors), result=result,
                  nodim=nodim)


# ---------------------------------------------------------------------------
# Examples: each row carries its own, the test-suite is generated from them.


@dataclass(frozen=True)
class Example:
    """A use of the row that the tests translate and check for parity.

    ``torch``: for a layer row, the constructor expression; for an op row, an
    expression over the inputs ``x``, ``y``, ... . ``inputs``: one spec per
    input, ``float32[2,3,8,8]`` or ``int32[4]:0:10`` (low:high for ints) or
    ``bool[2,5]``. ``channels_last``: the inputs reach the op channels-last
    (the test harness routes them through a 1x1 convolution first), which is
    how the dim remapping gets exercised. ``expect``: a fragment the translated
    source must contain. ``train``: also compare in training mode.
    """

    torch: str
    inputs: Sequence[str] = ("float32[2,3,8,8]",)
    expect: Optional[str] = None
    channels_last: bool = False
    train: bool = False
    atol: float = 1e-4
    # ops whose outputs are random or order-free compare a property instead
    compare: str = "allclose"
    # "forward": the expression is returned from forward; "init": built in
    # __init__ (where rngs exist) as self.value and returned from forward;
    # decorations: "decorator" (on forward), "method-decorator" (on a method
    # forward does not call), "function-decorator" (on a module-level helper
    # forward calls), "class-decorator" (on a second module class),
    # "plain-class-decorator" (on a plain class forward uses), "module-call"
    # (``fast = <torch>`` over the helper, forward calls ``fast``); statements:
    # "with", "stmt", "module", "overload" (see examples.py)
    where: str = "forward"
    # layer rows: the forward's return expression over ``self.layer`` and the
    # inputs (``self.layer(x, y, y)[0]``); default ``self.layer(x)``
    call: Optional[str] = None
    # call rows: statements added to ``__init__`` (layers the expression uses, ``self.conv = ...``)
    init: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Weight maps: how a torch layer's state_dict entries land on the NNX layer.


@dataclass(frozen=True)
class WeightEntry:
    torch_name: str  # suffix in the torch state_dict ("weight")
    nnx_name: str  # attribute on the NNX layer ("kernel")
    transform: Optional[str] = None  # name of a function in runtime/transforms.py
    optional: bool = False  # absent in some configurations (bias=False)


@dataclass(frozen=True)
class WeightMap:
    nnx_class: str  # "nnx.Linear" or the name of an emitted helper class
    entries: tuple[WeightEntry, ...]
    ignore: tuple[str, ...] = ()  # torch keys with no NNX counterpart (num_batches_tracked)
    # the maps of layers this one holds inside (a composite layer); a map with no
    # entries of its own is walked through like a translated class
    requires: tuple["WeightMap", ...] = ()


def wmap(nnx_class: str, *entries: tuple, ignore: tuple[str, ...] = (), requires: tuple = ()) -> WeightMap:
    return WeightMap(nnx_class, tuple(WeightEntry(*e) for e in entries), ignore, tuple(requires))


# ---------------------------------------------------------------------------
# Rows.


class Canonical(Exception):
    """Raised by an ``aware`` build that cannot handle the given layout."""


class Unsupported(Exception):
    """Raised by a build function for an argument combination it cannot honour."""

    def __init__(self, code: str, message: str, param: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        # the parameter the build needs as a constant (Args.const), if that is the reason
        self.param = param


@dataclass(frozen=True)
class Rule:
    """One torch API.

    name: the qualified torch name (``torch.nn.Conv2d``, ``torch.cat``,
      ``torch.nn.functional.relu``) or ``Tensor.<method>`` for tensor methods.
    params: the torch signature, e.g. ``"in_features, out_features, bias=True"``
      (``*name`` for varargs, ``self`` first for methods).
    build: ``(args, ctx) -> str``, the replacement expression's source.
    layout: see :class:`Layout`.
    weights: for layers with state, how torch keys map to NNX attributes.
    stateful: the NNX counterpart takes ``rngs``.
    layer: True for ``torch.nn`` layer classes (constructed in ``__init__``).
    """

    name: str
    params: str
    build: Callable
    layout: Layout = ELEMENTWISE
    # how the NNX layer's state maps to torch keys; a tuple when the build can
    # produce different NNX classes (the one whose class the build called is used)
    weights: Optional[object] = None
    stateful: bool = False
    layer: bool = False
    examples: tuple[Example, ...] = ()
    note: str = ""
    # a tensor method whose name is also common on non-tensors (str.split)
    ambiguous: bool = False
    # calls that hand on **kwargs: (NNX constructor, helper translating the torch
    # kwargs at run time, spatial rank, parameters passed positionally)
    kwargs_adapter: Optional[tuple] = None
    # layer rows whose layout depends on their arguments (Upsample's rank):
    # (args) -> Layout, evaluated where the layer is constructed
    layout_of: Optional[Callable] = None
    # returns a tuple of tensors (torch.max with dim, torch.split ...)
    returns_tuple: bool = False
    helpers: tuple[str, ...] = field(default=())
    # hyperparameters that code reads off the layer (init loops' fan-out):
    # (torch attribute, NNX attribute), where the names differ; or an expression
    # over the layer, written ``{layer}``, where NNX keeps another form
    attrs: tuple[tuple[str, str], ...] = ()
    # attributes torch's constructor stores normalised, (attribute, expression over
    # the parameters): what a subclass reads as self.<attribute> (a pool's stride)
    init_attrs: tuple[tuple[str, str], ...] = ()
    # a channel layer whose input is an image batch unless callers say otherwise
    # (GroupNorm: torch's (N, C, *) is in practice (N, C, H, W)): the rank a
    # subclass's forward takes its input at, channels-last, when no caller tells
    image_rank: Optional[int] = None
    # a library's nn.Module subclass that modeling code derives from (transformers'
    # PreTrainedModel): a deriving class is an NNX module over the runtime class the
    # row names (its helper), which takes the library's constructor arguments
    module_base: bool = False
    # module_base: the methods the base calls with ``rngs`` (PreTrainedModel's
    # _init_weights); a deriving class's overrides take ``*, rngs``
    rngs_methods: tuple[str, ...] = ()
    # handed around as a value (``fuse = fuse_modules_qat if qat else fuse_modules``): ``(ctx) -> str``,
    # a function taking torch's arguments; None: a lambda over the required parameters
    as_value: Optional[Callable] = None

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def __reduce__(self):
        # a row crosses process boundaries (a builder's layout summary handed to
        # the other files of a parallel run) by its name: its build functions are
        # closures pickle refuses. A row made on the fly (no table holds it) stays
        # unpicklable, as before.
        from .registry import row

        if row(self.name) is self:
            return row, (self.name,)
        raise TypeError(f"row {self.name} is not in the rule tables")


# ---------------------------------------------------------------------------
# Argument binding, used by every build function.

_REQUIRED = object()


class _NotConstant:
    """What :meth:`Args.value` returns for an argument given as an expression
    that is not a literal (``mode=mode``, ``affine=self.affine``). It refuses
    comparisons and truth tests, so a row that forgets to test
    ``v is NOT_CONSTANT`` fails loudly instead of taking the default."""

    def __repr__(self):
        return "NOT_CONSTANT"

    def __bool__(self):
        raise TypeError("NOT_CONSTANT has no truth value: test `is NOT_CONSTANT`")

    def __eq__(self, other):
        raise TypeError("NOT_CONSTANT compares with nothing: test `is NOT_CONSTANT`")

    __ne__ = __eq__
    __hash__ = object.__hash__


NOT_CONSTANT = _NotConstant()


def parse_params(params: str) -> list[tuple[str, object, str]]:
    """``"a, b=1, *rest"`` -> [(name, default_source | _REQUIRED, kind)]."""
    out = []
    kwonly = False
    for part in [p.strip() for p in params.split(",") if p.strip()]:
        if part == "*":
            kwonly = True
            continue
        if part.startswith("**"):
            out.append((part[2:], None, "varkw"))
        elif part.startswith("*"):
            out.append((part[1:], None, "varargs"))
            kwonly = True
        elif "=" in part:
            name, default = part.split("=", 1)
            out.append((name.strip(), default.strip(), "kwonly" if kwonly else "pos"))
        else:
            out.append((part, _REQUIRED, "kwonly" if kwonly else "pos"))
    return out


class Args:
    """Arguments of one call bound to a rule's torch signature, as source text."""

    def __init__(self, rule_params: str, given: dict[str, str], star: list[str], kwextra: dict[str, str]):
        self.spec = parse_params(rule_params)
        self.given_src = given
        self.star = star  # sources of the varargs values
        self.kwextra = kwextra  # keywords the signature does not name (for **kwargs rows)
        self.defaults = {n: d for n, d, k in self.spec if k in ("pos", "kwonly")}

    def given(self, name: str) -> bool:
        return name in self.given_src

    def src(self, name: str) -> str:
        if name in self.given_src:
            return self.given_src[name]
        d = self.defaults.get(name, _REQUIRED)
        if d is _REQUIRED:
            raise Unsupported("T2N002", f"missing required argument '{name}'")
        return d

    def value(self, name: str, absent=_REQUIRED):
        """The argument's value, for rows that branch on it: the literal when
        it is given as one, the signature's default when it is absent, and
        ``NOT_CONSTANT`` when it is given as any other expression. A row then
        decides at run time (passes the source on) or raises Unsupported; it
        never assumes the default for an argument it cannot read.

        ``absent``: the value when the argument is not given, for builds shared
        by rows whose signatures lack the parameter (AvgPool1d has no
        divisor_override)."""
        if name not in self.given_src:
            if absent is not _REQUIRED:
                return absent
            if name not in self.defaults:
                raise KeyError(f"the row's signature has no parameter '{name}' (pass absent=)")
            d = self.defaults[name]
            if d is _REQUIRED:
                raise Unsupported("T2N002", f"missing required argument '{name}'")
            try:
                return ast.literal_eval(d)
            except (ValueError, SyntaxError):
                return NOT_CONSTANT
        try:
            return ast.literal_eval(self.given_src[name])
        except (ValueError, SyntaxError):
            return NOT_CONSTANT

    def const(self, name: str, absent=_REQUIRED):
        """Like :meth:`value`, for arguments a row can only honour as constants:
        one given as another expression raises Unsupported, so the call is
        marked with a TODO instead of being translated for the default."""
        v = self.value(name, absent)
        if v is NOT_CONSTANT:
            raise Unsupported("T2N002", f"{name}={self.src(name)}: only a constant is supported", param=name)
        return v

    def lit(self, name: str, default=None):
        """The argument's value if it is a Python literal, else ``default``.

        For the layout passes only (a missing literal there means "work in
        torch's order"); rows use :meth:`value` / :meth:`const`, which tell an
        absent argument from one that is not a literal."""
        try:
            return ast.literal_eval(self.src(name))
        except (ValueError, SyntaxError, Unsupported):
            return default

    def lit_star(self, i: int):
        try:
            return ast.literal_eval(self.star[i])
        except (ValueError, SyntaxError, IndexError):
            return None

    def lit_src(self, src: str):
        try:
            return ast.literal_eval(src)
        except (ValueError, SyntaxError):
            return None

    def shape(self) -> str:
        """Varargs sizes (``zeros(2, 3)`` or ``zeros((2, 3))``) as one shape source."""
        if len(self.star) == 1 and not self.star[0].startswith("*"):
            return self.star[0]
        # `zeros(*size)`: the splatted sizes, packed back into one shape tuple
        return "(" + ", ".join(self.star) + ("," if len(self.star) == 1 else "") + ")"

    def is_lit(self, name: str) -> bool:
        try:
            ast.literal_eval(self.src(name))
            return True
        except (ValueError, SyntaxError, Unsupported):
            return False


def bind(rule_params: str, positional: list[str], keywords: dict[str, str]) -> Args:
    """Bind call arguments (sources) to a torch signature. Raises Unsupported."""
    spec = parse_params(rule_params)
    given: dict[str, str] = {}
    star: list[str] = []
    pos_names = [n for n, _, k in spec if k == "pos"]
    has_var = any(k == "varargs" for _, _, k in spec)
    has_kw = any(k == "varkw" for _, _, k in spec)
    for i, value in enumerate(positional):
        if i < len(pos_names) and value.startswith("*"):
            # `f(*args)`: how many parameters the splat fills is known only at run time
            raise Unsupported("T2N002", f"a starred argument ({value}) where the row binds '{pos_names[i]}'")
        if i < len(pos_names):
            given[pos_names[i]] = value
        elif has_var:
            star.append(value)
        else:
            raise Unsupported("T2N002", f"too many positional arguments ({len(positional)})")
    names = {n for n, _, k in spec if k in ("pos", "kwonly")}
    varargs = next((n for n, _, k in spec if k == "varargs"), None)
    extra: dict[str, str] = {}
    for name, value in keywords.items():
        if name == varargs and not star:
            star.append(value)  # torch.zeros(size=(2, 3)): the sizes as one keyword
        elif name in names:
            if name in given:
                raise Unsupported("T2N002", f"argument '{name}' given twice")
            given[name] = value
        elif has_kw:
            extra[name] = value
        else:
            raise Unsupported("T2N002", f"unexpected keyword argument '{name}'")
    return Args(rule_params, given, star, extra)
