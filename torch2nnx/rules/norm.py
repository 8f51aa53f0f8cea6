"""Normalisation layers (nnx_facts §5): torch eps and momentum, exact variance."""

from .base import NOT_CONSTANT, CHANNEL, PLAIN_SAME_RANK, Example, Rule, Unsupported, spatial, wmap
from .util import call

BN_WEIGHTS = wmap("TorchBatchNorm", ("weight", "scale", None, True), ("bias", "bias", None, True),
                  ("running_mean", "mean"), ("running_var", "var"), ignore=("num_batches_tracked",))
BN_NOSTATS_WEIGHTS = wmap("BatchStatsNorm", ("weight", "scale", None, True), ("bias", "bias", None, True))


def _eps(parts, a, name="eps", default=1e-5):
    parts.append(f"epsilon={a.src(name) if a.given(name) else default}")


def _affine(parts, a, name):
    if a.given(name):
        v = a.value(name)
        if v is True:
            return
        flag = "False" if v is False else a.src(name)
        parts += [f"use_scale={flag}", f"use_bias={flag}"]


def _batchnorm(a, ctx):
    parts = [a.src("num_features")]
    m = a.value("momentum")  # not a literal: 1 - momentum at run time
    if m is None:
        raise Unsupported("T2N005", "momentum=None (cumulative moving average) has no nnx equivalent")
    parts.append(f"momentum={round(1 - m, 10)!r}" if isinstance(m, (int, float)) else f"momentum=1 - {a.src('momentum')}")
    _eps(parts, a)
    _affine(parts, a, "affine")
    parts.append("use_fast_variance=False")
    parts.append(f"rngs={ctx.rngs}")
    # picks the NNX class (and so the weights' layout): a constant only
    track = a.const("track_running_stats")
    if track is False:
        return call(ctx.helper("BatchStatsNorm"), parts)
    if track is not True:
        raise Unsupported("T2N002", "track_running_stats must be a literal")
    # nnx.BatchNorm's running variance is the biased one (nnx_facts trap 3)
    return call(ctx.helper("TorchBatchNorm"), parts)


def _bn_weights(a):
    return BN_WEIGHTS


def _layernorm(a, ctx):
    shape = a.value("normalized_shape")  # not a literal: passed on
    parts = []
    if isinstance(shape, (tuple, list)) and len(shape) > 1:
        n = 1
        for s in shape:
            n *= s
        axes = tuple(range(-len(shape), 0))
        parts += [str(n), f"reduction_axes={axes}", f"feature_axes={axes}"]
    elif isinstance(shape, (tuple, list)):
        parts.append(str(shape[0]))
    else:
        parts.append(a.src("normalized_shape"))
    _eps(parts, a)
    affine, bias = a.value("elementwise_affine") is not True, a.value("bias") is not True
    if affine:  # False, or passed on to be read at run time
        parts.append(f"use_scale={a.src('elementwise_affine')}")
    if affine and bias:  # a bias only where both ask for one
        parts.append(f"use_bias={a.src('elementwise_affine')} and {a.src('bias')}")
    elif affine or bias:
        parts.append(f"use_bias={a.src('elementwise_affine' if affine else 'bias')}")
    parts.append("use_fast_variance=False")
    parts.append(f"rngs={ctx.rngs}")
    return call("nnx.LayerNorm", parts)


def _groupnorm(a, ctx):
    parts = [a.src("num_channels"), f"num_groups={a.src('num_groups')}"]
    _eps(parts, a)
    _affine(parts, a, "affine")
    parts.append("use_fast_variance=False")
    parts.append(f"rngs={ctx.rngs}")
    return call("nnx.GroupNorm", parts)


def _instancenorm(a, ctx):
    if a.const("track_running_stats") is not False:
        raise Unsupported("T2N005", "InstanceNorm with track_running_stats=True")
    parts = [a.src("num_features")]
    _eps(parts, a)
    affine = a.value("affine")
    if affine is NOT_CONSTANT:
        parts += [f"use_scale={a.src('affine')}", f"use_bias={a.src('affine')}"]  # read at run time
    elif affine is not True:
        parts += ["use_scale=False", "use_bias=False"]
    parts.append("use_fast_variance=False")
    parts.append(f"rngs={ctx.rngs}")
    return call("nnx.InstanceNorm", parts)


def _rmsnorm(a, ctx):
    shape = a.value("normalized_shape")  # not a literal: passed on
    if isinstance(shape, (tuple, list)) and len(shape) > 1:
        raise Unsupported("T2N002", "multi-dim normalized_shape for RMSNorm")
    parts = [str(shape[0]) if isinstance(shape, (tuple, list)) else a.src("normalized_shape")]
    eps = a.value("eps")
    # torch eps=None means finfo(float32).eps (a variable is passed on: a None at run time breaks loudly)
    parts.append(f"epsilon={a.src('eps') if eps is not None else 1.1920928955078125e-07}")
    if a.value("elementwise_affine") is not True:
        parts.append(f"use_scale={a.src('elementwise_affine')}")
    parts.append(f"rngs={ctx.rngs}")
    return call("nnx.RMSNorm", parts)


# torch's hyperparameters as NNX keeps them (NNX's momentum weighs the old statistics)
_BN_ATTRS = (("eps", "epsilon"), ("momentum", "1 - {layer}.momentum"), ("affine", "{layer}.use_scale"))
# torch's step counter, for a subclass's forward that reads it (not required when loading)
_BN_INIT = (("num_batches_tracked", "NonPersistentBuffer(jnp.zeros((), jnp.int32))"),)
_BN_SIG = "num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None"
_IN_SIG = "num_features, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False, device=None, dtype=None"
_NORM_W = wmap("nnx.LayerNorm", ("weight", "scale", "flat", True), ("bias", "bias", "flat", True))

RULES = [
    Rule("torch.nn.BatchNorm1d", _BN_SIG, _batchnorm, attrs=_BN_ATTRS, init_attrs=_BN_INIT, layout=CHANNEL, layer=True, stateful=True, weights=(BN_WEIGHTS, BN_NOSTATS_WEIGHTS),
         examples=(Example("nn.BatchNorm1d(6)", ("float32[8,6]",), train=True),
                   Example("nn.BatchNorm1d(3, momentum=0.3, affine=False)", ("float32[4,3]",), train=True))),
    Rule("torch.nn.BatchNorm2d", _BN_SIG, _batchnorm, attrs=_BN_ATTRS, init_attrs=_BN_INIT, layout=spatial(4), layer=True, stateful=True, weights=(BN_WEIGHTS, BN_NOSTATS_WEIGHTS),
         examples=(Example("nn.BatchNorm2d(num_features=3, momentum=0.1)", ("float32[2,3,6,6]",), train=True,
                           expect="momentum=0.9"),
                   Example("nn.BatchNorm2d(4, eps=1e-3, momentum=0.01)", ("float32[2,4,5,5]",), train=True),
                   Example("nn.BatchNorm2d(3, track_running_stats=False)", ("float32[2,3,4,4]",), train=True))),
    Rule("torch.nn.BatchNorm3d", _BN_SIG, _batchnorm, attrs=_BN_ATTRS, init_attrs=_BN_INIT, layout=spatial(5), layer=True, stateful=True, weights=(BN_WEIGHTS, BN_NOSTATS_WEIGHTS),
         examples=(Example("nn.BatchNorm3d(2)", ("float32[2,2,3,4,4]",), train=True),)),
    Rule("torch.nn.LayerNorm", "normalized_shape, eps=1e-05, elementwise_affine=True, bias=True, device=None, dtype=None",
         _layernorm, layout=PLAIN_SAME_RANK, layer=True, stateful=True, weights=_NORM_W,
         examples=(Example("nn.LayerNorm(16)", ("float32[2,5,16]",), expect="epsilon=1e-05"),
                   Example("nn.LayerNorm((4, 5, 6))", ("float32[2,4,5,6]",)),
                   Example("nn.LayerNorm(8, elementwise_affine=False)", ("float32[3,8]",)),
                   Example("nn.LayerNorm(8, bias=False)", ("float32[3,8]",)))),
    Rule("torch.nn.GroupNorm", "num_groups, num_channels, eps=1e-05, affine=True, device=None, dtype=None",
         _groupnorm, layout=CHANNEL, layer=True, stateful=True, image_rank=4,
         weights=wmap("nnx.GroupNorm", ("weight", "scale", None, True), ("bias", "bias", None, True)),
         examples=(Example("nn.GroupNorm(4, 12)", ("float32[2,12,5,5]",), channels_last=True),
                   Example("nn.GroupNorm(1, 6, eps=1e-3, affine=False)", ("float32[2,6,4,4]",), channels_last=True))),
    Rule("torch.nn.InstanceNorm1d", _IN_SIG, _instancenorm, layout=spatial(3), layer=True, stateful=True,
         weights=wmap("nnx.InstanceNorm", ("weight", "scale", None, True), ("bias", "bias", None, True)),
         examples=(Example("nn.InstanceNorm1d(4, affine=True)", ("float32[2,4,9]",)),)),
    Rule("torch.nn.InstanceNorm2d", _IN_SIG, _instancenorm, layout=spatial(4), layer=True, stateful=True,
         weights=wmap("nnx.InstanceNorm", ("weight", "scale", None, True), ("bias", "bias", None, True)),
         examples=(Example("nn.InstanceNorm2d(6)", ("float32[2,6,5,5]",)),
                   Example("nn.InstanceNorm2d(6, affine=True)", ("float32[2,6,5,5]",)))),
    Rule("torch.nn.RMSNorm", "normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None",
         _rmsnorm, layout=PLAIN_SAME_RANK, layer=True, stateful=True,
         weights=wmap("nnx.RMSNorm", ("weight", "scale", None, True)),
         examples=(Example("nn.RMSNorm(16)", ("float32[2,16]",)),
                   Example("nn.RMSNorm([8], eps=1e-6)", ("float32[2,3,8]",)))),
]
