"""torch math whose arguments differ from jnp's counterpart, hand-written
(the mechanical ones are generated in jnp_table.py). Argument values a row
cannot honour exactly are refused (Unsupported), never approximated."""

from __future__ import annotations

from . import methods
from .base import ELEMENTWISE, NOT_CONSTANT, OTHER, SOURCE, Example, Layout, Rule, Unsupported, dims

F = "float32[3,4]"
X2 = (F,)
X4 = ("float32[2,3,4,5]",)


def _logit(a, ctx):
    x = a.src("input")
    if a.given("eps") and a.src("eps") != "None":
        x = f"jnp.clip({x}, {a.src('eps')}, 1 - {a.src('eps')})"  # torch clamps to [eps, 1 - eps] first
    return f"jax.scipy.special.logit({x})"


def _median(a, ctx):
    x = a.src("input")
    if not a.given("dim") or a.src("dim") == "None":
        return f"jnp.sort({x}.reshape(-1))[({x}.size - 1) // 2]"  # the lower middle value
    return f"{ctx.helper('median_with_indices')}({x}, {a.src('dim')}{''.join(', ' + k for k in methods._keep(a))})"


def _stat_mean(fn):
    def build(a, ctx):
        return f"({methods.stat(fn)(a, ctx)}, {methods.reduction('jnp.mean')(a, ctx)})"
    return build


def _aminmax(a, ctx):
    return f"({methods.reduction('jnp.min')(a, ctx)}, {methods.reduction('jnp.max')(a, ctx)})"


def _quantile(a, ctx):
    method = a.const("interpolation")
    if method not in ("linear", "lower", "higher", "midpoint"):
        # jnp's 'nearest' rounds a rank's half down, torch's (numpy's) to even
        raise Unsupported("T2N002", f"quantile(interpolation={method!r})")
    parts = [a.src("input"), a.src("q")] + methods._axis_kw(a) + methods._keep(a)
    if method != "linear":
        parts.append(f"method={method!r}")
    return f"jnp.quantile({', '.join(parts)})"


def _narrow(a, ctx):
    x, d, start, n = a.src("input"), a.src("dim"), a.src("start"), a.src("length")
    s = a.value("start")
    if isinstance(s, int) and s >= 0:
        return f"jax.lax.slice_in_dim({x}, {s}, {s} + {n}, axis={d})"
    # a negative start counts from the end, in lax (allow_negative_indices) as in torch
    return f"jax.lax.dynamic_slice_in_dim({x}, {start}, {n}, axis={d})"


def _cross(a, ctx):
    x, y = a.src("input"), a.src("other")
    if a.given("dim") and a.src("dim") != "None":
        return f"jnp.cross({x}, {y}, axis={a.src('dim')})"
    # torch's default: the first dim of size 3
    return f"jnp.cross({x}, {y}, axis=[i for i, s in enumerate(jnp.shape({x})) if s == 3][0])"


def _addmm(first, second, summed=False):
    def build(a, ctx):
        prod = f"{a.src(first)} @ {a.src(second)}"
        prod = f"jnp.sum({prod}, axis=0)" if summed else f"({prod})"
        alpha, beta = a.value("alpha"), a.value("beta")
        if alpha is NOT_CONSTANT or alpha != 1:
            prod = f"{a.src('alpha')} * {prod}"
        if beta is not NOT_CONSTANT and beta == 0:
            return prod  # torch ignores input then (its nans and infinities too)
        scaled = a.src("input") if beta is not NOT_CONSTANT and beta == 1 else f"{a.src('beta')} * {a.src('input')}"
        return f"({scaled} + {prod})"
    return build


def _side(a):
    right = a.const("right")
    side = a.const("side", absent=None)
    if side is not None and right and side != "right":
        raise Unsupported("T2N002", "searchsorted: side='left' with right=True")
    return "right" if right or side == "right" else "left"


def _bucketize(a, ctx):
    return f"jnp.searchsorted({a.src('boundaries')}, {a.src('input')}, side={_side(a)!r})"


def _searchsorted(a, ctx):
    if a.given("sorter") and a.src("sorter") != "None":
        raise Unsupported("T2N002", "searchsorted(sorter=)")
    # a 1-D sorted_sequence (jnp.searchsorted refuses the batched N-D form loudly)
    return f"jnp.searchsorted({a.src('sorted_sequence')}, {a.src('values')}, side={_side(a)!r})"


def _cdist(a, ctx):
    p = a.src("p")
    diff = f"{a.src('x1')}[..., :, None, :] - {a.src('x2')}[..., None, :, :]"
    return f"jnp.linalg.vector_norm({diff}, ord={p}, axis=-1)"


def _tri_indices(fn):
    def build(a, ctx):
        out = f"jnp.stack(jnp.{fn}({a.src('row')}, {a.src('offset')}, {a.src('col')}))"
        if a.given("dtype") and a.src("dtype") != "None":
            out = f"{out}.astype({a.src('dtype')})"
        return out
    return build


def _cartesian_prod(a, ctx):
    if len(a.star) == 1 and not a.star[0].startswith("*"):
        return a.star[0]  # one tensor: itself
    return f"jnp.stack([g.reshape(-1) for g in jnp.meshgrid({', '.join(a.star)}, indexing='ij')], axis=-1)"


def _cumulative(largest):
    def build(a, ctx):
        return f"{ctx.helper('cumulative_extreme')}({a.src('input')}, {a.src('dim')}, largest={largest})"
    return build


def _is_float(a, ctx):
    return f"jnp.issubdtype({a.src('input')}.dtype, jnp.floating)"


def _scalar_tensor(a, ctx):
    dtype = a.src("dtype") if a.given("dtype") and a.src("dtype") != "None" else "jnp.float32"
    return f"jnp.asarray({a.src('s')}, dtype={dtype})"


_ADD = "*, beta=1, alpha=1"
_TRI = "row, col, offset=0, *, dtype=None, device=None, layout=None"
PAIR = (F, F)

RULES = [
    Rule("torch.logit", "input, eps=None", _logit, layout=ELEMENTWISE,
         examples=(Example("torch.logit(x)", ("float32[3,4]:0.05:0.95",)),
                   Example("torch.logit(x, eps=0.2)", ("float32[3,4]:0:1",)))),
    Rule("torch.is_floating_point", "input", _is_float, layout=Layout("other", result="other"),
         examples=(Example("x * torch.is_floating_point(x)", X2),)),
    Rule("torch.median", "input, dim=None, keepdim=False", _median,
         layout=dims("dim", keepdim="keepdim", reduces=True), returns_tuple=True,
         note="the lower of the two middle values, as torch's (jnp.median takes their mean)",
         examples=(Example("torch.median(x)", ("float32[4,6]",)), Example("torch.median(x, 1)[0]", ("float32[4,6]",)),
                   Example("torch.median(x, dim=1, keepdim=True)[1]", X4, channels_last=True))),
    Rule("torch.std_mean", "input, dim=None, unbiased=None, keepdim=False, *, correction=None", _stat_mean("jnp.std"),
         layout=dims("dim", keepdim="keepdim", reduces=True), returns_tuple=True,
         examples=(Example("torch.std_mean(x)[0]", X2), Example("torch.std_mean(x, (2, 3), correction=0)[0]", X4,
                                                                channels_last=True),
                   Example("torch.std_mean(x, 1, keepdim=True)[1]", X4, channels_last=True))),
    Rule("torch.var_mean", "input, dim=None, unbiased=None, keepdim=False, *, correction=None", _stat_mean("jnp.var"),
         layout=dims("dim", keepdim="keepdim", reduces=True), returns_tuple=True,
         examples=(Example("torch.var_mean(x, 1, unbiased=False)[0]", X2),
                   Example("torch.var_mean(x, 1)[1]", X4, channels_last=True))),
    Rule("torch.aminmax", "input, *, dim=None, keepdim=False", _aminmax,
         layout=dims("dim", keepdim="keepdim", reduces=True), returns_tuple=True,
         examples=(Example("torch.aminmax(x)[1]", X2), Example("torch.aminmax(x, dim=1)[0]", X4, channels_last=True))),
    Rule("torch.quantile", "input, q, dim=None, keepdim=False, *, interpolation='linear'", _quantile,
         layout=Layout("plain"),  # a tensor q adds a leading dim: torch's order
         note="interpolation='nearest' is refused: jnp rounds a half rank down",
         examples=(Example("torch.quantile(x, 0.3, dim=1)", ("float32[3,5]",)),
                   Example("torch.quantile(x, torch.tensor([0.25, 0.5]), dim=0, keepdim=True)", ("float32[4,3]",)),
                   Example("torch.quantile(x, 0.5, interpolation='midpoint')", ("float32[4]",)),
                   Example("torch.quantile(x, 0.4, interpolation='lower')", ("float32[4,3]",)))),
    Rule("torch.narrow", "input, dim, start, length", _narrow, layout=dims("dim"),
         examples=(Example("torch.narrow(x, 1, 1, 2)", X2), Example("torch.narrow(x, 1, -3, 2)", X2),
                   Example("torch.narrow(x, 1, 1, 2)", X4, channels_last=True))),
    Rule("torch.cross", "input, other, dim=None", _cross, layout=Layout("plain", tensors=("input", "other")),
         examples=(Example("torch.cross(x, y, dim=1)", ("float32[4,3]", "float32[4,3]")),
                   Example("torch.cross(x, y)", ("float32[3,4]", "float32[3,4]")))),
    Rule("torch.tensordot", "a, b, dims=2",
         lambda a, ctx: f"jnp.tensordot({a.src('a')}, {a.src('b')}, {a.src('dims')})",
         layout=Layout("plain", tensors=("a", "b")),
         examples=(Example("torch.tensordot(x, y, dims=([1, 2], [0, 1]))", ("float32[2,3,4]", "float32[3,4,5]")),
                   Example("torch.tensordot(x, y, 1)", ("float32[2,3]", "float32[3,4]")))),
    Rule("torch.bucketize", "input, boundaries, *, out_int32=False, right=False", _bucketize, layout=ELEMENTWISE,
         examples=(Example("torch.bucketize(x, torch.tensor([-1.0, 0.0, 0.5]))", X2),
                   Example("torch.bucketize(x.round(), torch.tensor([-1.0, 0.0, 1.0]), right=True)", X2))),
    Rule("torch.searchsorted", "sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None",
         _searchsorted, layout=Layout("plain", tensors=("sorted_sequence", "values")),
         note="a 1-D sorted_sequence; sorter= is refused",
         examples=(Example("torch.searchsorted(torch.tensor([-1.0, 0.0, 1.0]), x)", X2),
                   Example("torch.searchsorted(x.sort()[0], y.round(), side='right')",
                           ("float32[6]", "float32[3,4]")))),
    Rule("torch.cdist", "x1, x2, p=2.0, compute_mode='use_mm_for_euclid_dist_if_necessary'", _cdist,
         layout=Layout("plain", tensors=("x1", "x2")),
         examples=(Example("torch.cdist(x, y)", ("float32[2,5,3]", "float32[2,4,3]")),
                   Example("torch.cdist(x, y, p=1)", ("float32[5,3]", "float32[4,3]")))),
    Rule("torch.tril_indices", _TRI, _tri_indices("tril_indices"), layout=SOURCE,
         examples=(Example("torch.tril_indices(3, 4)", ()), Example("torch.tril_indices(4, 3, -1)", ()))),
    Rule("torch.triu_indices", _TRI, _tri_indices("triu_indices"), layout=SOURCE,
         examples=(Example("torch.triu_indices(3, 4, 1)", ()),)),
    Rule("torch.block_diag", "*tensors", lambda a, ctx: f"jax.scipy.linalg.block_diag({', '.join(a.star)})",
         layout=Layout("plain", tensors=("tensors",)),
         examples=(Example("torch.block_diag(x, y)", (F, "float32[2,2]")),)),
    Rule("torch.cartesian_prod", "*tensors", _cartesian_prod, layout=Layout("plain", tensors=("tensors",)),
         examples=(Example("torch.cartesian_prod(x, y)", ("float32[3]", "float32[2]")),
                   Example("torch.cartesian_prod(x)", ("float32[3]",)))),
    Rule("torch.polar", "abs, angle", lambda a, ctx: (f"jax.lax.complex({a.src('abs')} * jnp.cos({a.src('angle')}), "
                                                       f"{a.src('abs')} * jnp.sin({a.src('angle')}))"),
         layout=Layout("elementwise", tensors=("abs", "angle")),
         examples=(Example("torch.polar(x.abs(), y).imag", PAIR),)),
    Rule("torch.complex", "real, imag", lambda a, ctx: f"jax.lax.complex({a.src('real')}, {a.src('imag')})",
         layout=Layout("elementwise", tensors=("real", "imag")),
         examples=(Example("torch.angle(torch.complex(x, y))", PAIR),)),
    Rule("torch.result_type", "tensor1, tensor2",
         lambda a, ctx: f"jnp.result_type({a.src('tensor1')}, {a.src('tensor2')})",
         layout=Layout("other", tensors=("tensor1", "tensor2"), result="other"),
         examples=(Example("x.to(torch.result_type(x, y))", ("int32[3,4]:0:9", F)),
                   Example("x.to(torch.result_type(x, 2.5))", ("int32[3,4]:0:9",)))),
    Rule("torch.promote_types", "type1, type2", lambda a, ctx: f"jnp.promote_types({a.src('type1')}, {a.src('type2')})",
         layout=OTHER, examples=(Example("x.to(torch.promote_types(torch.int32, torch.float16))", ("int32[3,4]:0:9",),
                                         atol=1e-2),)),
    Rule("torch.scalar_tensor", "s, *, dtype=None, device=None, requires_grad=False, layout=None", _scalar_tensor,
         layout=SOURCE, examples=(Example("torch.scalar_tensor(3) + x", X2),
                                  Example("torch.scalar_tensor(2, dtype=torch.int32)", ()))),
    Rule("torch.subtract", "input, other, *, alpha=1", methods.binop("-"),
         layout=Layout("elementwise", tensors=("input", "other")),
         examples=(Example("torch.subtract(x, y, alpha=2)", PAIR),)),
]

METHODS = [
    Rule("Tensor.logit", "input, eps=None", _logit, layout=ELEMENTWISE,
         examples=(Example("x.logit(0.2)", ("float32[3,4]:0:1",)),
                   Example("x.sigmoid().logit()", X4, channels_last=True))),
    Rule("Tensor.median", "input, dim=None, keepdim=False", _median,
         layout=dims("dim", keepdim="keepdim", reduces=True), returns_tuple=True,
         examples=(Example("x.median()", ("float32[4,6]",)), Example("x.median(1)[1]", ("float32[4,6]",)))),
    Rule("Tensor.aminmax", "input, *, dim=None, keepdim=False", _aminmax,
         layout=dims("dim", keepdim="keepdim", reduces=True), returns_tuple=True,
         examples=(Example("x.aminmax(dim=-1, keepdim=True)[0]", X2),)),
    Rule("Tensor.quantile", "input, q, dim=None, keepdim=False, *, interpolation='linear'", _quantile,
         layout=Layout("plain"), examples=(Example("x.quantile(0.75, 1)", ("float32[3,5]",)),)),
    Rule("Tensor.narrow", "input, dim, start, length", _narrow, layout=dims("dim"),
         examples=(Example("x.narrow(0, 1, 2)", X2), Example("x.narrow(-1, y.shape[0], 2)", (F, "float32[1]")))),
    Rule("Tensor.cross", "input, other, dim=None", _cross, layout=Layout("plain", tensors=("input", "other")),
         examples=(Example("x.cross(y, -1)", ("float32[4,3]", "float32[4,3]")),)),
    Rule("Tensor.is_floating_point", "input", _is_float,
         layout=Layout("other", result="other"),
         examples=(Example("x * x.is_floating_point()", X2), Example("x * x.is_floating_point()", ("int32[3]:0:9",)))),
    Rule("Tensor.subtract", "input, other, *, alpha=1", methods.binop("-"),
         layout=Layout("elementwise", tensors=("input", "other")), examples=(Example("x.subtract(y)", PAIR),)),
]

# the running extreme and its index; the rounded input has ties (the later index wins)
for _name, _largest in (("cummax", True), ("cummin", False)):
    _ties = ("float32[3,8]:-2:2",)
    RULES.append(Rule(f"torch.{_name}", "input, dim", _cumulative(_largest), layout=dims("dim"), returns_tuple=True,
                      examples=(Example(f"torch.{_name}(x, 1)[0]", X2),
                                Example(f"torch.{_name}(x.round(), 1)[1]", _ties),
                                Example(f"torch.{_name}(x, 1)[1]", X4, channels_last=True))))
    METHODS.append(Rule(f"Tensor.{_name}", "input, dim", _cumulative(_largest), layout=dims("dim"), returns_tuple=True,
                        examples=(Example(f"x.round().{_name}(-1)[1]", _ties),)))

# input + mat1 @ mat2, batched, and summed over the batch (beta scales input, alpha the product)
_ADDMM = (("addmm", "mat1", "mat2", False, ("float32[3,5]", "float32[3,4]", "float32[4,5]")),
          ("baddbmm", "batch1", "batch2", False, ("float32[2,3,5]", "float32[2,3,4]", "float32[2,4,5]")),
          ("addbmm", "batch1", "batch2", True, ("float32[3,5]", "float32[2,3,4]", "float32[2,4,5]")))
for _name, _first, _second, _summed, _ins in _ADDMM:
    _layout = Layout("plain", tensors=("input", _first, _second))
    _params = f"input, {_first}, {_second}, {_ADD}"
    RULES.append(Rule(f"torch.{_name}", _params, _addmm(_first, _second, _summed), layout=_layout,
                      examples=(Example(f"torch.{_name}(x, y, z)", _ins),
                                Example(f"torch.{_name}(x, y, z, beta=0.5, alpha=2.0)", _ins),
                                Example(f"torch.{_name}(x, y, z, beta=0)", _ins))))
    METHODS.append(Rule(f"Tensor.{_name}", _params, _addmm(_first, _second, _summed), layout=_layout,
                        examples=(Example(f"x.{_name}(y, z, alpha=0.5)", _ins),)))
