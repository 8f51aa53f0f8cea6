"""torch.linalg: jnp.linalg where the semantics agree, runtime helpers
(runtime/linalg_ops.py) where batching or tolerances differ.

Factorisations are unique only up to signs (eigenvectors, singular vectors, QR's
columns): their examples compare invariant quantities (reconstructions, values)."""

from .base import Example, Layout, Rule, Unsupported, dims
from .util import call, reject


def _plain(*tensors):
    return Layout("plain", tensors=tensors)


def _cast(a, name):
    """``dtype=``: torch computes in that dtype."""
    x = a.src(name)
    return f"{x}.astype({a.src('dtype')})" if a.given("dtype") and a.src("dtype") != "None" else x


def _keepdims(a, parts):
    if a.given("keepdim"):
        parts.append(f"keepdims={a.src('keepdim')}")


def _norm(a, ctx):
    parts = [_cast(a, "A")]
    if a.given("ord") and a.src("ord") != "None":
        parts.append(f"ord={a.src('ord')}")
    if a.given("dim") and a.src("dim") != "None":
        parts.append(f"axis={a.src('dim')}")
    _keepdims(a, parts)
    return call("jnp.linalg.norm", parts)


def _vector_norm(a, ctx):
    parts = [_cast(a, "x"), f"ord={a.src('ord')}"]
    if a.given("dim") and a.src("dim") != "None":
        parts.append(f"axis={a.src('dim')}")
    _keepdims(a, parts)
    return call("jnp.linalg.vector_norm", parts)


def _matrix_norm(a, ctx):
    # the signature's dim=None stands for torch's (-2, -1) (the parser splits on commas)
    # jnp.linalg.norm over a pair of axes is the matrix norm of those axes
    dim = a.src("dim") if a.given("dim") and a.src("dim") != "None" else "(-2, -1)"
    parts = [_cast(a, "A"), f"ord={a.src('ord')}", f"axis={dim}"]
    _keepdims(a, parts)
    return call("jnp.linalg.norm", parts)


def _fn(name, *params, **kws):
    """jnp.linalg.<name> over the given parameters; ``kws``: torch keyword -> jnp keyword."""
    def build(a, ctx):
        parts = [a.src(p) for p in params]
        parts += [f"{j}={a.src(t)}" for t, j in kws.items() if a.given(t)]
        return call(f"jnp.linalg.{name}", parts)
    return build


def _no_driver(build):
    def run(a, ctx):
        reject(a, "driver", (None,), "jnp.linalg picks its own LAPACK routine")
        return build(a, ctx)
    return run


def _qr(a, ctx):
    mode = a.const("mode")
    if mode == "r":  # torch: (an empty Q, R); jnp: R alone
        return f"(jnp.zeros((0,), {a.src('A')}.dtype), jnp.linalg.qr({a.src('A')}, mode='r'))"
    if mode not in ("reduced", "complete"):
        raise Unsupported("T2N002", f"torch.linalg.qr mode={mode!r}")
    return call("jnp.linalg.qr", [a.src("A")] + ([f"mode={a.src('mode')}"] if a.given("mode") else []))


def _solve(a, ctx):
    parts = [a.src("A"), a.src("B")]
    if a.given("left"):
        parts.append(f"left={a.src('left')}")
    return call(ctx.helper("linalg_solve"), parts)


def _pinv(a, ctx):
    parts = [a.src("A")] + [f"{k}={a.src(k)}" for k in ("atol", "rtol", "hermitian") if a.given(k)]
    return call(ctx.helper("linalg_pinv"), parts)


def _lstsq(a, ctx):
    reject(a, "driver", (None, "gelsy"), "CPU's default driver only (gelsy: no residuals, no singular values)")
    parts = [a.src("A"), a.src("B")] + ([f"rcond={a.src('rcond')}"] if a.given("rcond") else [])
    return call(ctx.helper("linalg_lstsq"), parts)


def _eigh(values_only):
    # jnp symmetrises its input by default; torch reads one triangle (UPLO) only
    def build(a, ctx):
        uplo = f", UPLO={a.src('UPLO')}" if a.given("UPLO") else ""
        out = f"jnp.linalg.eigh({a.src('A')}{uplo}, symmetrize_input=False)"
        return f"{out}.eigenvalues" if values_only else out
    return build


def _cross(a, ctx):
    return f"jnp.cross({a.src('input')}, {a.src('other')}, axis={a.src('dim')})"


M = ("float32[3,4,4]",)
S = ("float32[4,5]",)
# a well-conditioned square matrix (and a batch): x + 4 I
WELL = "(x + 4 * torch.eye(4))"
SYM = "(x @ x.mT + torch.eye(4))"
_NORM_LAYOUT = dims("dim", keepdim="keepdim", reduces=True, tensors=("x",))

RULES = [
    Rule("torch.linalg.norm", "A, ord=None, dim=None, keepdim=False, *, out=None, dtype=None", _norm,
         layout=_plain("A"),
         examples=(Example("torch.linalg.norm(x)", M), Example("torch.linalg.norm(x, dim=-1, keepdim=True)", M),
                   Example("torch.linalg.norm(x, ord='nuc', dim=(1, 2))", M),
                   Example("torch.linalg.norm(x, 1)", S), Example("torch.linalg.norm(x, float('inf'), dim=1)", S))),
    Rule("torch.linalg.vector_norm", "x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None", _vector_norm,
         layout=_NORM_LAYOUT,
         examples=(Example("torch.linalg.vector_norm(x)", M), Example("torch.linalg.vector_norm(x, ord=1, dim=(0, 2))", M),
                   Example("torch.linalg.vector_norm(x, float('inf'), -1, True)", M),
                   Example("torch.linalg.vector_norm(x, dim=1)", ("float32[2,3,4,4]",), channels_last=True,
                           expect="axis=-1"))),
    Rule("torch.linalg.matrix_norm", "A, ord='fro', dim=None, keepdim=False, *, dtype=None, out=None",
         _matrix_norm, layout=_plain("A"),
         examples=(Example("torch.linalg.matrix_norm(x)", M), Example("torch.linalg.matrix_norm(x, ord=2)", M),
                   Example("torch.linalg.matrix_norm(x, 'nuc', dim=(0, 1), keepdim=True)", M))),
    Rule("torch.linalg.inv", "A, *, out=None", _fn("inv", "A"), layout=_plain("A"),
         examples=(Example(f"torch.linalg.inv({WELL})", M),)),
    Rule("torch.linalg.solve", "A, B, *, left=True, out=None", _solve, layout=_plain("A", "B"),
         examples=(Example(f"torch.linalg.solve({WELL}, y)", ("float32[3,4,4]", "float32[3,4,2]")),
                   Example(f"torch.linalg.solve({WELL}, y)", ("float32[3,4,4]", "float32[3,4]")),
                   Example(f"torch.linalg.solve({WELL}, y)", ("float32[3,4,4]", "float32[4]")),
                   Example(f"torch.linalg.solve({WELL}, y, left=False)", ("float32[3,4,4]", "float32[3,2,4]")))),
    Rule("torch.linalg.det", "A, *, out=None", _fn("det", "A"), layout=_plain("A"),
         examples=(Example(f"torch.linalg.det({WELL})", M),)),
    Rule("torch.linalg.slogdet", "A, *, out=None", _fn("slogdet", "A"), layout=_plain("A"), returns_tuple=True,
         examples=(Example("torch.linalg.slogdet(x)[1]", M), Example("torch.linalg.slogdet(x).sign", M))),
    Rule("torch.linalg.qr", "A, mode='reduced', *, out=None", _qr, layout=_plain("A"), returns_tuple=True,
         examples=(Example("torch.linalg.qr(x)[0] @ torch.linalg.qr(x)[1]", ("float32[3,5,4]",)),
                   Example("torch.linalg.qr(x, mode='complete').Q.abs().sum(-1)", ("float32[5,4]",)),
                   Example("torch.linalg.qr(x, mode='r')[1].abs()", ("float32[5,4]",)))),
    Rule("torch.linalg.svd", "A, full_matrices=True, *, driver=None, out=None",
         _no_driver(_fn("svd", "A", full_matrices="full_matrices")), layout=_plain("A"), returns_tuple=True,
         examples=(Example("torch.linalg.svd(x)[1]", M),
                   Example("(lambda u, s, vh: (u * s[..., None, :]) @ vh)(*torch.linalg.svd(x, full_matrices=False))",
                           ("float32[2,5,3]",)),
                   Example("torch.linalg.svd(x).U.shape[-1] + torch.linalg.svd(x).S", ("float32[5,3]",)))),
    Rule("torch.linalg.svdvals", "A, *, driver=None, out=None", _no_driver(_fn("svdvals", "A")), layout=_plain("A"),
         examples=(Example("torch.linalg.svdvals(x)", M),)),
    Rule("torch.linalg.eigh", "A, UPLO='L', *, out=None", _eigh(False), layout=_plain("A"),
         returns_tuple=True,
         examples=(Example(f"torch.linalg.eigh({SYM})[0]", M),
                   Example(f"(lambda w, v: (v * w[..., None, :]) @ v.mT)(*torch.linalg.eigh({SYM}, UPLO='U'))", M),
                   Example("torch.linalg.eigh(x, UPLO='U').eigenvalues", M))),
    Rule("torch.linalg.eigvalsh", "A, UPLO='L', *, out=None", _eigh(True), layout=_plain("A"),
         examples=(Example(f"torch.linalg.eigvalsh({SYM})", M), Example("torch.linalg.eigvalsh(x, 'U')", M))),
    Rule("torch.linalg.cholesky", "A, *, upper=False, out=None", _fn("cholesky", "A", upper="upper"),
         layout=_plain("A"),
         examples=(Example(f"torch.linalg.cholesky({SYM})", M), Example(f"torch.linalg.cholesky({SYM}, upper=True)", M))),
    Rule("torch.linalg.pinv", "A, *, atol=None, rtol=None, hermitian=False, out=None", _pinv, layout=_plain("A"),
         examples=(Example("torch.linalg.pinv(x)", ("float32[3,5,4]",)),
                   Example("torch.linalg.pinv(x, atol=1.0)", ("float32[5,4]",)),
                   Example(f"torch.linalg.pinv({SYM}, hermitian=True, rtol=0.01)", M))),
    Rule("torch.linalg.lstsq", "A, B, rcond=None, *, driver=None", _lstsq, layout=_plain("A", "B"), returns_tuple=True,
         examples=(Example("torch.linalg.lstsq(x, y).solution", ("float32[3,6,4]", "float32[3,6,2]")),
                   Example("torch.linalg.lstsq(x, y)[1]", ("float32[6,4]", "float32[6,2]")),
                   Example("torch.linalg.lstsq(x, y).rank * 1.0", ("float32[2,6,4]", "float32[2,6,2]")))),
    Rule("torch.linalg.matrix_power", "A, n, *, out=None", _fn("matrix_power", "A", "n"), layout=_plain("A"),
         examples=(Example("torch.linalg.matrix_power(x, 3)", M), Example(f"torch.linalg.matrix_power({WELL}, -2)", M),
                   Example("torch.linalg.matrix_power(x, 0)", M))),
    Rule("torch.linalg.cross", "input, other, *, dim=-1, out=None", _cross, layout=_plain("input", "other"),
         examples=(Example("torch.linalg.cross(x, y)", ("float32[4,3]", "float32[4,3]")),
                   Example("torch.linalg.cross(x, y, dim=0)", ("float32[3,5]", "float32[3,1]")))),
    Rule("torch.linalg.multi_dot", "tensors, *, out=None", lambda a, ctx: f"jnp.linalg.multi_dot({a.src('tensors')})",
         layout=_plain("tensors"),
         examples=(Example("torch.linalg.multi_dot([x, y, x.mT])", ("float32[3,4]", "float32[4,4]")),
                   Example("torch.linalg.multi_dot((x[0], y, x.mT))", ("float32[3,4]", "float32[4,4]")))),
]
