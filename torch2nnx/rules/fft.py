"""torch.fft: the same transforms in jnp.fft (``dim`` is ``axis``/``axes``, ``norm`` the same)."""

from .base import Example, Rule, dims

X2 = ("float32[3,8]",)
X3 = ("float32[2,4,6]",)


def _one(name):
    def build(a, ctx):
        parts = [a.src("input")]
        if a.given("n") and a.src("n") != "None":
            parts.append(f"n={a.src('n')}")
        parts.append(f"axis={a.src('dim')}")
        if a.given("norm") and a.src("norm") != "None":
            parts.append(f"norm={a.src('norm')}")
        return f"jnp.fft.{name}({', '.join(parts)})"
    return build


def _many(name):
    def build(a, ctx):
        parts = [a.src("input")]
        if a.given("s") and a.src("s") != "None":
            parts.append(f"s={a.src('s')}")
        if a.src("dim") != "None":
            parts.append(f"axes={a.src('dim')}")
        if a.given("norm") and a.src("norm") != "None":
            parts.append(f"norm={a.src('norm')}")
        return f"jnp.fft.{name}({', '.join(parts)})"
    return build


def _shift(name):
    def build(a, ctx):
        axes = [f"axes={a.src('dim')}"] if a.given("dim") and a.src("dim") != "None" else []
        return f"jnp.fft.{name}({', '.join([a.src('input')] + axes)})"
    return build


def _freq(name):
    def build(a, ctx):
        parts = [a.src("n"), a.src("d")]
        if a.given("dtype") and a.src("dtype") != "None":
            parts.append(f"dtype={a.src('dtype')}")
        return f"jnp.fft.{name}({', '.join(parts)})"
    return build


_ONE = "input, n=None, dim=-1, norm=None, *, out=None"
_TWO = "input, s=None, dim=None, norm=None, *, out=None"  # torch and jnp: the last two dims
_N = "input, s=None, dim=None, norm=None, *, out=None"
_LAYOUT = dims("dim", nodim="canonical")

RULES = [
    Rule("torch.fft.fft", _ONE, _one("fft"), layout=_LAYOUT,
         examples=(Example("torch.fft.fft(x).abs()", X2), Example("torch.fft.fft(x, dim=0, norm='ortho').abs()", X2))),
    Rule("torch.fft.ifft", _ONE, _one("ifft"), layout=_LAYOUT,
         examples=(Example("torch.fft.ifft(torch.fft.fft(x, n=10), n=10).abs()", X2),)),
    Rule("torch.fft.rfft", _ONE, _one("rfft"), layout=_LAYOUT,
         examples=(Example("torch.fft.rfft(x, norm='forward').abs()", X2),)),
    Rule("torch.fft.irfft", _ONE, _one("irfft"), layout=_LAYOUT,
         examples=(Example("torch.fft.irfft(torch.fft.rfft(x), n=8)", X2),)),
    Rule("torch.fft.fft2", _TWO, _many("fft2"), layout=_LAYOUT,
         examples=(Example("torch.fft.fft2(x).abs()", X3),)),
    Rule("torch.fft.ifft2", _TWO, _many("ifft2"), layout=_LAYOUT,
         examples=(Example("torch.fft.ifft2(torch.fft.fft2(x, norm='ortho'), norm='ortho').abs()", X3),)),
    Rule("torch.fft.rfft2", _TWO, _many("rfft2"), layout=_LAYOUT,
         examples=(Example("torch.fft.rfft2(x, dim=(0, 2)).abs()", X3),)),
    Rule("torch.fft.irfft2", _TWO, _many("irfft2"), layout=_LAYOUT,
         examples=(Example("torch.fft.irfft2(torch.fft.rfft2(x), s=(4, 6))", X3),)),
    Rule("torch.fft.fftn", _N, _many("fftn"), layout=_LAYOUT,
         examples=(Example("torch.fft.fftn(x).abs()", X3), Example("torch.fft.fftn(x, dim=(1, 2)).abs()", X3))),
    Rule("torch.fft.ifftn", _N, _many("ifftn"), layout=_LAYOUT,
         examples=(Example("torch.fft.ifftn(x, s=(2, 4, 8)).abs()", X3),)),
    Rule("torch.fft.rfftn", _N, _many("rfftn"), layout=_LAYOUT,
         examples=(Example("torch.fft.rfftn(x).abs()", X3),)),
    Rule("torch.fft.irfftn", _N, _many("irfftn"), layout=_LAYOUT,
         examples=(Example("torch.fft.irfftn(torch.fft.rfftn(x), s=(2, 4, 6))", X3),)),
    Rule("torch.fft.fftshift", "input, dim=None", _shift("fftshift"), layout=_LAYOUT,
         examples=(Example("torch.fft.fftshift(x)", X2), Example("torch.fft.fftshift(x, dim=1)", X2))),
    Rule("torch.fft.ifftshift", "input, dim=None", _shift("ifftshift"), layout=_LAYOUT,
         examples=(Example("torch.fft.ifftshift(x, dim=(0, 1))", X2),)),
    Rule("torch.fft.fftfreq", "n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False",
         _freq("fftfreq"), layout=dims(tensors=()),
         examples=(Example("x + torch.fft.fftfreq(8)", X2), Example("x + torch.fft.fftfreq(8, d=0.5)", X2))),
    Rule("torch.fft.rfftfreq", "n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False",
         _freq("rfftfreq"), layout=dims(tensors=()),
         examples=(Example("x[:, :5] + torch.fft.rfftfreq(8)", X2),)),
]
